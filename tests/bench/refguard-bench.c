/*
 * refguard-bench.c: load generator and bulk loader for refguardd.
 *
 *	refguard-bench run [options]		drive a running daemon
 *	refguard-bench preload [options]	fill a state dir offline
 *	refguard-bench fsync -D DIR		time one durable page write
 *	refguard-bench expire -D DIR -k K	time retention of the K oldest
 *
 * "run" opens N non-blocking connections (epoll) to the daemon's socket
 * and keeps D requests in flight on each (closed loop), or sends at a
 * fixed rate whatever the replies (open loop, -r). Each request's latency
 * runs from its send time (open loop: its scheduled time, so a slow
 * daemon cannot hide behind a slow client) to its reply, matched by order
 * on its connection. It prints throughput, latency percentiles, the
 * daemon's RSS and store size, the daemon's CPU (user + system) per
 * request of the measured phase (the steadiest figure on a shared
 * machine: cpu_us_per_req), its writes per commit (handed to the kernel,
 * dirtied in the page cache, and what the store's disk received:
 * disk_written()), and one "RESULT k=v ..." line for
 * scripts. With -C it first measures the ceiling: the same connections
 * sending ping, and reports check throughput as a ratio of it.
 *
 * With -P it speaks the Postfix policy protocol (name=value lines, a
 * blank line ends a request and a reply) over TCP instead, to compare
 * with postfwd on the same generated traffic.
 *
 * "preload" writes events through the real store code (librefguard:
 * req_decode, verdict_check, verdict_observe in store transactions), with
 * the hash secret in STATE/secret so that a daemon started on that state
 * dir later hashes identities the same way.
 *
 * The traffic is generated from a seed: referrers drawn with a Zipf-like
 * law, a share of referees on recycled devices and IP addresses, some
 * self-referrals and bursts from one referrer, and observes. Prints
 * figures; it is not a test.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ident.h"
#include "req.h"
#include "rules.h"
#include "store.h"
#include "verdict.h"

/* ---- small helpers ---------------------------------------------------- */

static void
die(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fprintf(stderr, "refguard-bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

static int64_t
wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void *
xrealloc_or_die(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		die("out of memory");
	return (p);
}

/* ---- the seeded generator --------------------------------------------- */

static uint64_t
splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

static double
urand(uint64_t *s)
{
	return ((double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0));
}

#define NREF		1000000	/* referrers; Zipf s = 0.9 over them */
#define NFARMDEV	2000	/* recycled devices (farms, shared phones) */
#define NFARMIP		500	/* recycled addresses (NAT, proxies, farms) */

static double	*zipf_cdf;

static void
zipf_init(void)
{
	double	sum = 0;
	int	i;

	zipf_cdf = xrealloc_or_die(NULL, NREF * sizeof(*zipf_cdf));
	for (i = 0; i < NREF; i++)
		zipf_cdf[i] = (sum += 1.0 / pow(i + 1, 0.9));
	for (i = 0; i < NREF; i++)
		zipf_cdf[i] /= sum;
}

static int
zipf(uint64_t *s)
{
	double	u = urand(s);
	int	lo = 0, hi = NREF - 1, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo);
}

static const char *uas[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"RefApp/4.2.1 (Android 13; SM-A536B)",
};
static const char *tzs[] = { "Europe/London", "Europe/Berlin",
	"America/New_York", "America/Sao_Paulo", "Asia/Kolkata",
	"Asia/Jakarta", "Europe/Paris", "America/Los_Angeles" };
static const char *langs[] = { "en-GB", "de-DE", "en-US", "pt-BR", "hi-IN",
	"id-ID", "fr-FR", "es-MX" };
static const char *screens[] = { "1920x1080", "390x844", "412x915",
	"1440x900", "2560x1440", "360x800" };
static const char *domains[] = { "gmail.com", "outlook.com", "yahoo.com",
	"example.org", "proton.me", "gmx.de", "icloud.com", "mailinator.com" };
static const char *campaigns[] = { "spring", "summer", "friends", "app" };

#define NEL(a)	(sizeof(a) / sizeof((a)[0]))

/* One generated party: what both wire formats are built from. */
struct bparty {
	char	account[48];
	char	email[96];
	char	ip[48];
	char	devid[32];	/* "" when absent */
	int	ua, tz, lang, screen;
	char	canvas[24];	/* a per-device render hash */
	char	payment[32];	/* "" when absent */
	char	phone[32];	/* "" when absent */
};

struct referral {
	char		id[64];
	const char	*campaign;
	struct bparty	rr, re;
	int		amount;
	bool		observe;	/* an observe of rr instead */
	const char	*kind;
};

struct gen {
	uint64_t	s;
	char		tag[24];	/* makes ids and referees unique per run */
	uint64_t	n;
	int		burst_left, burst_ref;
	double		p_observe;
};

static void
gen_init(struct gen *g, uint64_t seed, unsigned stream, const char *tag,
    double p_observe)
{
	memset(g, 0, sizeof(*g));
	g->s = seed * 0x100000001b3ULL + stream * 7919 + 1;
	splitmix(&g->s);
	snprintf(g->tag, sizeof(g->tag), "%s%u", tag, stream);
	g->p_observe = p_observe;
}

/* A referrer's stable identity, derived from its number alone. */
static void
referrer_party(struct bparty *p, int r)
{
	uint64_t	h = (uint64_t)r * 0x9e3779b97f4a7c15ULL;

	snprintf(p->account, sizeof(p->account), "u-%d", r);
	/* Gmail dots and +tags vary; the normalized address does not. */
	snprintf(p->email, sizeof(p->email), "%s.user%d%s@%s",
	    (h >> 8) % 2 ? "Jane" : "john", r, (h >> 9) % 3 ? "" : "+ref",
	    domains[(h >> 12) % (NEL(domains) - 1)]);
	snprintf(p->ip, sizeof(p->ip), "%u.%u.%u.%u",
	    (unsigned)(81 + (h >> 16) % 100), (unsigned)((h >> 24) % 256),
	    (unsigned)((h >> 32) % 256), (unsigned)(1 + (h >> 40) % 254));
	snprintf(p->devid, sizeof(p->devid), "sdk-%08x", (unsigned)(h >> 20));
	p->ua = (int)((h >> 44) % NEL(uas));
	p->tz = (int)((h >> 48) % NEL(tzs));
	p->lang = p->tz;
	p->screen = (int)((h >> 52) % NEL(screens));
	snprintf(p->canvas, sizeof(p->canvas), "c%08x", (unsigned)(h >> 28));
	p->payment[0] = p->phone[0] = '\0';
	if ((h >> 56) % 2)
		snprintf(p->payment, sizeof(p->payment), "pm_fpr_%x",
		    (unsigned)(h >> 24));
}

static void
gen_next(struct gen *g, struct referral *q)
{
	uint64_t	*s = &g->s, n = g->n++;
	int		 r, d, i;
	double		 u;

	memset(q, 0, sizeof(*q));
	snprintf(q->id, sizeof(q->id), "b-%s-%llu", g->tag,
	    (unsigned long long)n);
	q->campaign = campaigns[splitmix(s) % NEL(campaigns)];
	q->amount = 5 + (int)(splitmix(s) % 4) * 5;

	if (g->burst_left > 0) {	/* one referrer fires many at once */
		g->burst_left--;
		r = g->burst_ref;
	} else if (urand(s) < 0.005) {
		g->burst_ref = r = zipf(s);
		g->burst_left = 10 + (int)(splitmix(s) % 30);
	} else
		r = zipf(s);
	referrer_party(&q->rr, r);
	if (urand(s) < 0.3)		/* referrers move around */
		snprintf(q->rr.ip, sizeof(q->rr.ip), "100.%u.%u.%u",
		    (unsigned)(splitmix(s) % 64), (unsigned)(splitmix(s) % 256),
		    (unsigned)(1 + splitmix(s) % 254));

	if (urand(s) < g->p_observe) {
		q->observe = true;
		u = urand(s);
		q->kind = u < 0.7 ? "login" : u < 0.85 ? "purchase" :
		    u < 0.95 ? "update" : "payout";
		return;
	}

	/* A fresh referee, then the share that reuses something. */
	snprintf(q->re.account, sizeof(q->re.account), "e-%s-%llu", g->tag,
	    (unsigned long long)n);
	snprintf(q->re.email, sizeof(q->re.email), "new%llu.%s@%s",
	    (unsigned long long)n, g->tag,
	    domains[splitmix(s) % NEL(domains)]);
	snprintf(q->re.ip, sizeof(q->re.ip), "%u.%u.%u.%u",
	    (unsigned)(2 + splitmix(s) % 200), (unsigned)(splitmix(s) % 256),
	    (unsigned)(splitmix(s) % 256), (unsigned)(1 + splitmix(s) % 254));
	q->re.ua = (int)(splitmix(s) % NEL(uas));
	q->re.tz = (int)(splitmix(s) % NEL(tzs));
	q->re.lang = q->re.tz;
	q->re.screen = (int)(splitmix(s) % NEL(screens));
	snprintf(q->re.canvas, sizeof(q->re.canvas), "c%llx",
	    (unsigned long long)(splitmix(s) & 0xffffffffffULL));
	if (urand(s) < 0.6)
		snprintf(q->re.devid, sizeof(q->re.devid), "sdk-n%llx%s",
		    (unsigned long long)splitmix(s), g->tag);
	if (urand(s) < 0.5)
		snprintf(q->re.payment, sizeof(q->re.payment), "pm_fpr_%llx",
		    (unsigned long long)(splitmix(s) & 0xffffffffffULL));
	if (urand(s) < 0.3)
		snprintf(q->re.phone, sizeof(q->re.phone), "+44 7700 %06u",
		    (unsigned)(splitmix(s) % 1000000));

	if (urand(s) < 0.10) {		/* a recycled (farm) device */
		d = (int)(splitmix(s) % NFARMDEV);
		snprintf(q->re.devid, sizeof(q->re.devid), "sdk-farm%d", d);
		q->re.ua = d % (int)NEL(uas);
		q->re.tz = q->re.lang = d % (int)NEL(tzs);
		q->re.screen = d % (int)NEL(screens);
		snprintf(q->re.canvas, sizeof(q->re.canvas), "farm%d", d);
	}
	if (urand(s) < 0.15) {		/* a recycled address */
		i = (int)(splitmix(s) % NFARMIP);
		snprintf(q->re.ip, sizeof(q->re.ip), "198.51.%d.%d",
		    i / 250, 1 + i % 250);
	}
	if (urand(s) < 0.02)		/* a shared card */
		snprintf(q->re.payment, sizeof(q->re.payment), "pm_fpr_shared%d",
		    (int)(splitmix(s) % 50));
	u = urand(s);			/* self-referrals, ~4% */
	if (u < 0.015) {
		/* The referrer's own address, spelled differently. */
		snprintf(q->re.email, sizeof(q->re.email), "%s", q->rr.email);
		q->re.email[0] ^= 0x20;	/* case folds in normalization */
	} else if (u < 0.03) {
		memcpy(q->re.devid, q->rr.devid, sizeof(q->re.devid));
		q->re.ua = q->rr.ua;
		q->re.tz = q->rr.tz;
		q->re.lang = q->rr.lang;
		q->re.screen = q->rr.screen;
		memcpy(q->re.canvas, q->rr.canvas, sizeof(q->re.canvas));
	} else if (u < 0.04)
		memcpy(q->re.ip, q->rr.ip, sizeof(q->re.ip));
}

static size_t
fmt_device(char *b, size_t cap, const struct bparty *p)
{
	int	n;

	n = snprintf(b, cap, "\"device\":{%s%s%s\"ua\":\"%s\",\"tz\":\"%s\","
	    "\"lang\":\"%s\",\"screen\":\"%s\",\"canvas\":\"%s\"}",
	    p->devid[0] ? "\"id\":\"" : "", p->devid, p->devid[0] ? "\"," : "",
	    uas[p->ua], tzs[p->tz], langs[p->lang], screens[p->screen],
	    p->canvas);
	return ((size_t)n);
}

static size_t
fmt_party(char *b, size_t cap, const struct bparty *p)
{
	size_t	n;

	n = (size_t)snprintf(b, cap, "\"account\":\"%s\",\"email\":\"%s\","
	    "\"ip\":\"%s\",", p->account, p->email, p->ip);
	if (p->payment[0])
		n += (size_t)snprintf(b + n, cap - n, "\"payment\":\"%s\",",
		    p->payment);
	if (p->phone[0])
		n += (size_t)snprintf(b + n, cap - n, "\"phone\":\"%s\",",
		    p->phone);
	n += fmt_device(b + n, cap - n, p);
	return (n);
}

/* An NDJSON request line with its newline; returns its length. */
static size_t
fmt_ndjson(char *b, size_t cap, const struct referral *q)
{
	size_t	n;

	if (q->observe) {
		n = (size_t)snprintf(b, cap, "{\"op\":\"observe\",\"kind\":"
		    "\"%s\",", q->kind);
		n += fmt_party(b + n, cap - n, &q->rr);
		n += (size_t)snprintf(b + n, cap - n, "}\n");
		return (n);
	}
	n = (size_t)snprintf(b, cap, "{\"op\":\"check\",\"id\":\"%s\","
	    "\"campaign\":\"%s\",\"referrer\":{", q->id, q->campaign);
	n += fmt_party(b + n, cap - n, &q->rr);
	n += (size_t)snprintf(b + n, cap - n, "},\"referee\":{");
	n += fmt_party(b + n, cap - n, &q->re);
	n += (size_t)snprintf(b + n, cap - n, "},\"reward\":{\"amount\":%d,"
	    "\"currency\":\"EUR\"}}\n", q->amount);
	return (n);
}

/*
 * The same referral as a Postfix policy request: referrer email as the
 * sender, referee email as the recipient, referee address as the client.
 */
static size_t
fmt_policy(char *b, size_t cap, const struct referral *q)
{
	const struct bparty	*re = q->observe ? &q->rr : &q->re;

	return ((size_t)snprintf(b, cap, "request=smtpd_access_policy\n"
	    "protocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=%s\n"
	    "client_name=unknown\nreverse_client_name=unknown\n"
	    "helo_name=%s\nsender=%s\nrecipient=%s\nrecipient_count=0\n"
	    "queue_id=\ninstance=%s\nsize=0\nccert_subject=\n"
	    "ccert_issuer=\nccert_fingerprint=\nsasl_username=%s\n\n",
	    re->ip, re->devid[0] ? re->devid : "none", q->rr.email,
	    re->email, q->id, q->rr.account));
}

/* ---- the load loop ---------------------------------------------------- */

enum mode { M_CHECK, M_PING };

struct conn {
	int		 fd;
	struct gen	 g;
	char		*out;		/* unsent bytes */
	size_t		 outlen, outoff, outcap;
	char		 in[65536];	/* partial reply */
	size_t		 inlen;
	uint64_t	*stamps;	/* send times of unanswered requests */
	size_t		 shead, scount, scap;
	bool		 wantout;
};

struct opts {
	const char	*sock;		/* Unix socket, or host:port with -P */
	bool		 policy;
	int		 nconn, depth;
	double		 duration;	/* s */
	uint64_t	 total;		/* requests (0: by duration) */
	double		 rate;		/* req/s, open loop (0: closed) */
	uint64_t	 seed;
	double		 p_observe;
	bool		 ceiling;
	double		 ping_duration;
	double		 warmup;
	long		 pid;
	const char	*state;
	const char	*tag;
};

struct phase {
	uint64_t	 sent, done, errors, allow, review, deny, other;
	double		*lat;		/* us */
	size_t		 nlat, caplat;
	double		 secs;
	bool		 record;
};

static struct opts	 O;
static struct conn	*conns;
static int		 ep;

static void
stamp_push(struct conn *c, uint64_t t)
{
	uint64_t	*ns;
	size_t		 i, n;

	if (c->scount == c->scap) {	/* grow, unwrapping the ring */
		n = c->scap ? c->scap * 2 : 64;
		ns = xrealloc_or_die(NULL, n * sizeof(*ns));
		for (i = 0; i < c->scount; i++)
			ns[i] = c->stamps[(c->shead + i) % c->scap];
		free(c->stamps);
		c->stamps = ns;
		c->shead = 0;
		c->scap = n;
	}
	c->stamps[(c->shead + c->scount) % c->scap] = t;
	c->scount++;
}

static uint64_t
stamp_pop(struct conn *c)
{
	uint64_t	t = c->stamps[c->shead];

	c->shead = (c->shead + 1) % c->scap;
	c->scount--;
	return (t);
}

static void
out_append(struct conn *c, const char *b, size_t n)
{
	if (c->outoff > 0 && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen + n > c->outcap) {
		if (c->outoff > 0) {
			memmove(c->out, c->out + c->outoff,
			    c->outlen - c->outoff);
			c->outlen -= c->outoff;
			c->outoff = 0;
		}
		while (c->outlen + n > c->outcap)
			c->outcap = c->outcap ? c->outcap * 2 : 65536;
		c->out = xrealloc_or_die(c->out, c->outcap);
	}
	memcpy(c->out + c->outlen, b, n);
	c->outlen += n;
}

static void
enqueue(struct conn *c, enum mode m, uint64_t stamp, struct phase *ph)
{
	struct referral	q;
	char		buf[4096];
	size_t		n;

	if (m == M_PING) {
		if (O.policy)
			die("ping has no policy-protocol form");
		out_append(c, "{\"op\":\"ping\"}\n", 14);
	} else {
		gen_next(&c->g, &q);
		n = O.policy ? fmt_policy(buf, sizeof(buf), &q) :
		    fmt_ndjson(buf, sizeof(buf), &q);
		out_append(c, buf, n);
	}
	stamp_push(c, stamp);
	ph->sent++;
}

static void
flush_out(struct conn *c)
{
	ssize_t			 w;
	struct epoll_event	 ee;
	bool			 want;

	while (c->outoff < c->outlen) {
		w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			die("write: %s", strerror(errno));
		}
		c->outoff += (size_t)w;
	}
	want = c->outoff < c->outlen;
	if (want != c->wantout) {
		c->wantout = want;
		ee.events = EPOLLIN | (want ? EPOLLOUT : 0);
		ee.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ee) != 0)
			die("epoll_ctl: %s", strerror(errno));
	}
}

static void
record(struct phase *ph, const char *line, size_t len, uint64_t stamp,
    uint64_t t)
{
	const char	*a;

	ph->done++;
	if (!ph->record)
		return;
	if (ph->nlat == ph->caplat) {
		ph->caplat = ph->caplat ? ph->caplat * 2 : 1 << 16;
		ph->lat = xrealloc_or_die(ph->lat, ph->caplat * sizeof(double));
	}
	ph->lat[ph->nlat++] = (double)(t - stamp) / 1000.0;
	if (O.policy) {
		if (len >= 7 && strncmp(line, "action=", 7) == 0) {
			if (strncasecmp(line + 7, "REJECT", 6) == 0)
				ph->deny++;
			else if (strncasecmp(line + 7, "DUNNO", 5) == 0)
				ph->allow++;
			else
				ph->other++;
		} else
			ph->errors++;
		return;
	}
	if (memmem(line, len, "\"error\":{", 9) != NULL)
		ph->errors++;
	else if ((a = memmem(line, len, "\"action\":\"", 10)) != NULL) {
		a += 10;
		if (*a == 'a')
			ph->allow++;
		else if (*a == 'r')
			ph->review++;
		else if (*a == 'd')
			ph->deny++;
	} else
		ph->other++;
}

/* Read replies; returns the number completed. */
static size_t
read_replies(struct conn *c, struct phase *ph)
{
	ssize_t		 r;
	size_t		 got = 0, off, i;
	uint64_t	 t;
	char		*nl;

	for (;;) {
		r = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			die("read: %s", strerror(errno));
		}
		if (r == 0)
			die("the server closed a connection");
		c->inlen += (size_t)r;
		t = now_ns();
		off = 0;
		for (;;) {
			if (O.policy) {	/* a reply ends with a blank line */
				nl = memmem(c->in + off, c->inlen - off,
				    "\n\n", 2);
				if (nl == NULL)
					break;
				i = (size_t)(nl - c->in) + 2;
			} else {
				nl = memchr(c->in + off, '\n', c->inlen - off);
				if (nl == NULL)
					break;
				i = (size_t)(nl - c->in) + 1;
			}
			if (c->scount == 0)
				die("a reply to no request");
			record(ph, c->in + off, i - off, stamp_pop(c), t);
			off = i;
			got++;
		}
		if (off == 0 && c->inlen == sizeof(c->in))
			die("a reply line longer than %zu bytes",
			    sizeof(c->in));
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
		if ((size_t)r < sizeof(c->in) / 2)
			break;
	}
	return (got);
}

static int
connect_one(void)
{
	struct sockaddr_un	 sun;
	struct sockaddr_in	 sin;
	char			 host[64], *colon;
	int			 fd, one = 1, tries;

	for (tries = 0;; tries++) {
		if (O.policy) {
			snprintf(host, sizeof(host), "%s", O.sock);
			if ((colon = strrchr(host, ':')) == NULL)
				die("-P wants host:port");
			*colon = '\0';
			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_port = htons((uint16_t)atoi(colon + 1));
			if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
				die("bad address %s", host);
			fd = socket(AF_INET, SOCK_STREAM, 0);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			if (connect(fd, (struct sockaddr *)&sin,
			    sizeof(sin)) == 0)
				break;
		} else {
			memset(&sun, 0, sizeof(sun));
			sun.sun_family = AF_UNIX;
			snprintf(sun.sun_path, sizeof(sun.sun_path), "%s",
			    O.sock);
			fd = socket(AF_UNIX, SOCK_STREAM, 0);
			if (connect(fd, (struct sockaddr *)&sun,
			    sizeof(sun)) == 0)
				break;
		}
		if (tries > 200)
			die("connect %s: %s", O.sock, strerror(errno));
		close(fd);
		usleep(10000);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return (fd);
}

/*
 * Run one phase on the open connections until duration (or total) is
 * reached, then drain what is in flight. Closed loop keeps depth
 * requests outstanding per connection; open loop (rate > 0) schedules
 * request i at t0 + i / rate, round robin over the connections.
 */
static void
run_phase(enum mode m, double duration, uint64_t total, double rate,
    struct phase *ph)
{
	struct epoll_event	 evs[64], ee;
	struct itimerspec	 its;
	uint64_t		 t0, end, next, inflight = 0, exp;
	double			 interval = rate > 0 ? 1e9 / rate : 0;
	uint64_t		 k = 0;
	bool			 stopping = false;
	int			 i, n, tfd = -1, rr = 0;
	struct conn		*c;

	t0 = now_ns();
	end = t0 + (uint64_t)(duration * 1e9);
	if (rate > 0) {
		if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) < 0)
			die("timerfd: %s", strerror(errno));
		ee.events = EPOLLIN;
		ee.data.ptr = NULL;
		epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ee);
		memset(&its, 0, sizeof(its));
		its.it_value.tv_nsec = 1;
		timerfd_settime(tfd, 0, &its, NULL);
	} else {
		for (i = 0; i < O.nconn; i++) {
			for (n = 0; n < O.depth; n++)
				enqueue(&conns[i], m, t0, ph);
			inflight += (uint64_t)O.depth;
			flush_out(&conns[i]);
		}
	}
	for (;;) {
		if (stopping && inflight == 0)
			break;
		n = epoll_wait(ep, evs, 64, 1000);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			c = evs[i].data.ptr;
			if (c == NULL) {	/* open loop: send what is due */
				(void)!read(tfd, &exp, sizeof(exp));
				if (stopping)
					continue;
				uint64_t t = now_ns();
				while (!stopping &&
				    (next = t0 + (uint64_t)(k * interval)) <= t) {
					enqueue(&conns[rr], m, next, ph);
					flush_out(&conns[rr]);
					rr = (rr + 1) % O.nconn;
					k++;
					inflight++;
					if (next >= end || (total && k >= total))
						stopping = true;
				}
				if (!stopping) {
					its.it_value.tv_sec = (time_t)(next /
					    1000000000ULL);
					its.it_value.tv_nsec = (long)(next %
					    1000000000ULL);
					timerfd_settime(tfd, TFD_TIMER_ABSTIME,
					    &its, NULL);
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				flush_out(c);
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				size_t got = read_replies(c, ph);
				inflight -= got;
				if (rate > 0)
					continue;
				if (!stopping && (now_ns() >= end ||
				    (total && ph->sent >= total)))
					stopping = true;
				if (stopping)
					continue;
				uint64_t t = now_ns();
				for (size_t j = 0; j < got; j++)
					enqueue(c, m, t, ph);
				inflight += got;
				flush_out(c);
			}
		}
		if (rate == 0 && !stopping && now_ns() >= end)
			stopping = true;
	}
	ph->secs = (double)(now_ns() - t0) / 1e9;
	if (tfd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, tfd, NULL);
		close(tfd);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

static double
pct(const struct phase *ph, double p)
{
	size_t	i;

	if (ph->nlat == 0)
		return (0);
	i = (size_t)(p / 100.0 * (double)(ph->nlat - 1) + 0.5);
	return (ph->lat[i]);
}

static void
report(const char *name, struct phase *ph)
{
	qsort(ph->lat, ph->nlat, sizeof(double), cmp_double);
	printf("%-6s %llu requests in %.2f s: %.0f req/s; latency us: "
	    "p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n", name,
	    (unsigned long long)ph->done, ph->secs,
	    (double)ph->done / ph->secs, pct(ph, 50), pct(ph, 90),
	    pct(ph, 99), pct(ph, 99.9), ph->nlat ? ph->lat[ph->nlat - 1] : 0);
	if (strcmp(name, "ping") != 0)
		printf("       replies: allow %llu  review %llu  deny %llu  "
		    "errors %llu  observe-acks %llu\n",
		    (unsigned long long)ph->allow,
		    (unsigned long long)ph->review,
		    (unsigned long long)ph->deny,
		    (unsigned long long)ph->errors,
		    (unsigned long long)ph->other);
}

/* A field of /proc/PID/status or /proc/PID/io in kB or bytes; -1. */
static long long
proc_field(long pid, const char *file, const char *key)
{
	char		 path[64], line[256];
	FILE		*f;
	long long	 v = -1;
	size_t		 kl = strlen(key);

	snprintf(path, sizeof(path), "/proc/%ld/%s", pid, file);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = atoll(line + kl + 1);
			break;
		}
	fclose(f);
	return (v);
}

/*
 * Bytes written to the block device holding dir so far, by every process
 * on the machine (/sys/dev/block/MAJ:MIN/stat, sectors of 512 bytes); -1.
 * A process's own write_bytes (/proc/PID/io) counts what it dirtied in
 * the page cache by whole folios: where the file system caches files in
 * large folios, a page written in one counts the folio, several times
 * what reaches the disk.
 */
static long long
disk_written(const char *dir)
{
	char			 path[64];
	struct stat		 sb;
	unsigned long long	 f[7];
	FILE			*fp;
	int			 n;

	if (dir == NULL || stat(dir, &sb) != 0)
		return (-1);
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat",
	    major(sb.st_dev), minor(sb.st_dev));
	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	n = fscanf(fp, "%llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1],
	    &f[2], &f[3], &f[4], &f[5], &f[6]);
	fclose(fp);
	return (n == 7 ? (long long)f[6] * 512 : -1);
}

/* User + system CPU of process pid so far, in microseconds; -1. */
static double
proc_cpu_us(long pid)
{
	char		 path[64], buf[1024], *p;
	unsigned long	 ut, st;
	long		 hz = sysconf(_SC_CLK_TCK);
	FILE		*f;
	size_t		 n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command's ")": state, then fields 4-13, then 14 and 15. */
	if ((p = strrchr(buf, ')')) == NULL || hz <= 0 ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%lu %lu", &ut, &st) != 2)
		return (-1);
	return ((double)(ut + st) * 1e6 / (double)hz);
}

/* Writer counters from a stats request on a separate connection. */
static int
daemon_stats(json_int_t *commits, json_int_t *jobs, json_int_t *entries)
{
	struct sockaddr_un	 sun;
	char			 buf[65536];
	size_t			 len = 0;
	ssize_t			 r;
	json_t			*j;
	int			 fd;

	if (O.policy)
		return (-1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", O.sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    write(fd, "{\"op\":\"stats\"}\n", 15) != 15) {
		close(fd);
		return (-1);
	}
	while (len < sizeof(buf) - 1 && (r = read(fd, buf + len,
	    sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)r;
		if (memchr(buf, '\n', len) != NULL)
			break;
	}
	close(fd);
	buf[len] = '\0';
	if ((j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL)) == NULL)
		return (-1);
	*commits = json_integer_value(json_object_get(json_object_get(j,
	    "writer"), "commits"));
	*jobs = json_integer_value(json_object_get(json_object_get(j,
	    "writer"), "jobs"));
	*entries = json_integer_value(json_object_get(json_object_get(j,
	    "store"), "index_entries"));
	json_decref(j);
	return (0);
}

static void
usage(void)
{
	fprintf(stderr,
"usage: refguard-bench run -s SOCKET [-c CONNS] [-d DEPTH] [-t SECONDS]\n"
"           [-n TOTAL] [-r RATE] [-S SEED] [-o OBSERVE_SHARE] [-C]\n"
"           [-T PING_SECONDS] [-w WARMUP_SECONDS] [-p PID] [-D STATE_DIR]\n"
"           [-g TAG] [-P]\n"
"       refguard-bench preload -D STATE_DIR -R RULES -n EVENTS [-S SEED]\n"
"           [-o OBSERVE_SHARE] [-m MAP_MAX_GIB] [-r RECENT_ENTRIES]\n"
"           [-b EVENTS_PER_COMMIT]\n"
"       refguard-bench wait -s SOCKET [-t SECONDS]\n"
"       refguard-bench fsync -D DIR [-n TIMES]\n"
"       refguard-bench expire -D STATE_DIR -k OLDEST_EVENTS\n");
	exit(2);
}

static int
cmd_run(int argc, char **argv)
{
	struct phase	 ping, chk, warm;
	struct conn	*c;
	struct epoll_event ee;
	struct stat	 sb;
	char		 path[4096];
	json_int_t	 c0 = 0, j0 = 0, e0 = 0, c1 = 0, j1 = 0, e1 = 0;
	long long	 io_w0 = -1, io_c0 = -1, io_w1, io_c1;
	long long	 disk0, disk1;
	double		 cpu0 = -1, cpu1;
	long long	 rss, anon, file;
	bool		 have_stats;
	double		 cps;
	int		 ch, i;

	O.nconn = 16;
	O.depth = 16;
	O.duration = 10;
	O.seed = 1;
	O.p_observe = 0.1;
	O.ping_duration = 3;
	O.warmup = 1;
	O.tag = "r";
	while ((ch = getopt(argc, argv, "s:c:d:t:n:r:S:o:CT:w:p:D:g:P")) != -1)
		switch (ch) {
		case 's': O.sock = optarg; break;
		case 'c': O.nconn = atoi(optarg); break;
		case 'd': O.depth = atoi(optarg); break;
		case 't': O.duration = atof(optarg); break;
		case 'n': O.total = strtoull(optarg, NULL, 10); break;
		case 'r': O.rate = atof(optarg); break;
		case 'S': O.seed = strtoull(optarg, NULL, 10); break;
		case 'o': O.p_observe = atof(optarg); break;
		case 'C': O.ceiling = true; break;
		case 'T': O.ping_duration = atof(optarg); break;
		case 'w': O.warmup = atof(optarg); break;
		case 'p': O.pid = atol(optarg); break;
		case 'D': O.state = optarg; break;
		case 'g': O.tag = optarg; break;
		case 'P': O.policy = true; break;
		default: usage();
		}
	if (O.sock == NULL || O.nconn < 1 || O.depth < 1)
		usage();
	if (O.total > 0)
		O.duration = 1e9;
	zipf_init();
	if ((ep = epoll_create1(0)) < 0)
		die("epoll: %s", strerror(errno));
	conns = calloc((size_t)O.nconn, sizeof(*conns));
	for (i = 0; i < O.nconn; i++) {
		c = &conns[i];
		c->fd = connect_one();
		gen_init(&c->g, O.seed, (unsigned)i, O.tag, O.p_observe);
		ee.events = EPOLLIN;
		ee.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ee);
	}
	printf("%s: %d connection%s%s, seed %llu, observe share %.2f\n",
	    O.policy ? "postfix policy" : "refguard", O.nconn,
	    O.nconn == 1 ? "" : "s", "", (unsigned long long)O.seed,
	    O.p_observe);
	if (O.rate > 0)
		printf("open loop at %.0f req/s\n", O.rate);
	else
		printf("closed loop, depth %d\n", O.depth);

	memset(&warm, 0, sizeof(warm));
	memset(&ping, 0, sizeof(ping));
	memset(&chk, 0, sizeof(chk));
	if (O.warmup > 0)
		run_phase(M_CHECK, O.warmup, 0, 0, &warm);
	if (O.ceiling) {
		ping.record = true;
		run_phase(M_PING, O.ping_duration, 0, 0, &ping);
		report("ping", &ping);
	}
	have_stats = daemon_stats(&c0, &j0, &e0) == 0;
	if (O.pid > 0) {
		io_w0 = proc_field(O.pid, "io", "write_bytes");
		io_c0 = proc_field(O.pid, "io", "wchar");
		cpu0 = proc_cpu_us(O.pid);
	}
	disk0 = disk_written(O.state);
	chk.record = true;
	run_phase(M_CHECK, O.duration, O.total, O.rate, &chk);
	report(O.policy ? "policy" : "check", &chk);
	cps = (double)chk.done / chk.secs;

	printf("RESULT rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
	    "p999_us=%.1f max_us=%.1f errors=%llu", cps, pct(&chk, 50),
	    pct(&chk, 90), pct(&chk, 99), pct(&chk, 99.9),
	    chk.nlat ? chk.lat[chk.nlat - 1] : 0,
	    (unsigned long long)chk.errors);
	if (O.ceiling)
		printf(" ping_rps=%.0f ratio=%.3f",
		    (double)ping.done / ping.secs,
		    cps / ((double)ping.done / ping.secs));
	if (have_stats && daemon_stats(&c1, &j1, &e1) == 0 && c1 > c0) {
		printf(" commits=%lld jobs_per_commit=%.1f "
		    "index_entries_per_job=%.1f", (long long)(c1 - c0),
		    (double)(j1 - j0) / (double)(c1 - c0),
		    (double)(e1 - e0) / (double)(j1 - j0));
		if (O.pid > 0 && io_c0 >= 0) {
			io_w1 = proc_field(O.pid, "io", "write_bytes");
			io_c1 = proc_field(O.pid, "io", "wchar");
			printf(" wchar_per_commit=%.0f write_bytes_per_commit=%.0f"
			    " wchar_per_job=%.0f",
			    (double)(io_c1 - io_c0) / (double)(c1 - c0),
			    (double)(io_w1 - io_w0) / (double)(c1 - c0),
			    (double)(io_c1 - io_c0) / (double)(j1 - j0));
		}
		if (disk0 >= 0 && (disk1 = disk_written(O.state)) >= 0)
			printf(" disk_bytes_per_commit=%.0f",
			    (double)(disk1 - disk0) / (double)(c1 - c0));
	}
	if (O.pid > 0 && cpu0 >= 0 && (cpu1 = proc_cpu_us(O.pid)) >= 0 &&
	    chk.done > 0)
		printf(" cpu_us_per_req=%.1f", (cpu1 - cpu0) /
		    (double)chk.done);
	if (O.pid > 0) {
		rss = proc_field(O.pid, "status", "VmRSS");
		anon = proc_field(O.pid, "status", "RssAnon");
		file = proc_field(O.pid, "status", "RssFile");
		printf(" rss_kb=%lld rss_anon_kb=%lld rss_file_kb=%lld", rss,
		    anon, file);
	}
	if (O.state != NULL) {
		snprintf(path, sizeof(path), "%s/data.mdb", O.state);
		if (stat(path, &sb) == 0)
			printf(" mdb_bytes=%lld mdb_alloc_bytes=%lld",
			    (long long)sb.st_size,
			    (long long)sb.st_blocks * 512);
	}
	printf("\n");
	return (chk.errors > 0);
}

/* ---- preload -------------------------------------------------------- */

static void
write_secret(const char *path)
{
	uint8_t	buf[32];
	int	fd, rfd;

	if (access(path, F_OK) == 0)
		return;		/* keep an existing one: its hashes are stored */
	if ((rfd = open("/dev/urandom", O_RDONLY)) < 0 ||
	    read(rfd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		die("/dev/urandom: %s", strerror(errno));
	close(rfd);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    fsync(fd) != 0 || close(fd) != 0)
		die("%s: %s", path, strerror(errno));
}

static int
cmd_preload(int argc, char **argv)
{
	const char		*state = NULL, *rules = NULL;
	uint64_t		 n = 0, seed = 1, done = 0, i, batch = 1000;
	uint64_t		 recent = 0;
	double			 p_observe = 0.1, map_max_gib = 64;
	struct ident_conf	 ic;
	struct store_opts	 so;
	struct req_opts		 ro;
	struct req_error	 rerr;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	enum store_err		 serr;
	struct ident		*id;
	struct rg_event		 ev;
	struct verdict		 v;
	struct referral		 q;
	struct gen		 g, saved;
	enum req_op		 op;
	char			 secret[4096], line[4096], *cause, *diag;
	int64_t			 t_first, t_step;
	uint64_t		 t0, tnext;
	int			 ch, fd, rc;

	while ((ch = getopt(argc, argv, "D:R:n:S:o:m:r:b:")) != -1)
		switch (ch) {
		case 'D': state = optarg; break;
		case 'R': rules = optarg; break;
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'S': seed = strtoull(optarg, NULL, 10); break;
		case 'o': p_observe = atof(optarg); break;
		case 'm': map_max_gib = atof(optarg); break;
		case 'r': recent = strtoull(optarg, NULL, 10); break;
		case 'b': batch = strtoull(optarg, NULL, 10); break;
		default: usage();
		}
	if (state == NULL || rules == NULL || n == 0 || batch == 0)
		usage();
	zipf_init();
	if (mkdir(state, 0700) != 0 && errno != EEXIST)
		die("%s: %s", state, strerror(errno));
	snprintf(secret, sizeof(secret), "%s/secret", state);
	write_secret(secret);
	memset(&ic, 0, sizeof(ic));
	ic.secret_file = secret;	/* the daemon's hash_secret_file */
	ic.prefix4 = 24;
	ic.prefix6 = 64;
	if ((id = ident_new(&ic, &cause)) == NULL)
		die("%s", cause);
	if ((rs = rules_load(rules, id, 0, &diag)) == NULL)
		die("%s", diag);
	memset(&so, 0, sizeof(so));
	so.dir = state;
	so.map_size = 1ULL << 30;
	so.map_max = (size_t)(map_max_gib * (double)(1ULL << 30));
	so.nosync = true;		/* one fsync at the end */
	/*
	 * A loader may hold more of the index in memory than the daemon's
	 * default budget: fewer, denser flushes, the same records in the
	 * end; not more than the store takes (a range must fit in one
	 * transaction beside a batch).
	 */
	if (recent > STORE_RECENT_MAX)
		die("-r %llu: at most %d entries", (unsigned long long)recent,
		    STORE_RECENT_MAX);
	so.recent_max = recent;
	if ((st = store_open(&so, &cause)) == NULL)
		die("%s", cause);

	/* Event times spread over the 30 days before the last hour. */
	t_first = wall_ms() - 30LL * 86400000 - 3600000;
	t_step = (int64_t)(30LL * 86400000 / (int64_t)n);
	if (t_step < 1)
		t_step = 1;
	memset(&ro, 0, sizeof(ro));
	ro.max_future = INT64_MAX / 4;
	gen_init(&g, seed, 999, "pre", p_observe);
	t0 = now_ns();
	tnext = t0 + 10000000000ULL;
	while (done < n) {
		saved = g;
retry:
		if ((txn = store_begin(st, true, &cause)) == NULL)
			die("%s", cause);
		for (i = done; i < n && i < done + batch; i++) {
			gen_next(&g, &q);
			fmt_ndjson(line, sizeof(line), &q);
			ro.now = t_first + (int64_t)i * t_step;
			memset(&ev, 0, sizeof(ev));
			if (req_decode(line, strlen(line) - 1, id, &ro, &op,
			    &ev, &rerr) != 0)
				die("generated request refused: %s: %s: %s",
				    rerr.field, rerr.msg, line);
			rc = op == OP_CHECK ? verdict_check(txn, rs, &ev, &v) :
			    verdict_observe(txn, &ev, &v);
			if (rc != 0)
				break;
			verdict_clear(&v);
		}
		if (rc != 0 || store_txn_err(txn) != STORE_OK) {
			if (store_txn_err(txn) == STORE_MAP_GROW) {
				store_abort(txn);
				if (store_grow(st) != 0)
					die("store at map_max");
				g = saved;
				goto retry;
			}
			die("store: %s", store_txn_errstr(txn));
		}
		if (store_commit(txn, &serr, &cause) != 0) {
			/* The recent tier's flush at commit can fill it too. */
			if (serr == STORE_MAP_GROW) {
				free(cause);
				if (store_grow(st) != 0)
					die("store at map_max");
				g = saved;
				goto retry;
			}
			die("commit: %s", cause);
		}
		done = i;
		if (now_ns() >= tnext) {
			tnext += 10000000000ULL;
			fprintf(stderr, "preload: %llu events, %.0f/s\n",
			    (unsigned long long)done, (double)done /
			    ((double)(now_ns() - t0) / 1e9));
		}
	}
	store_close(st);
	snprintf(line, sizeof(line), "%s/data.mdb", state);
	if ((fd = open(line, O_RDONLY)) < 0 || fsync(fd) != 0)
		die("%s: %s", line, strerror(errno));
	close(fd);
	printf("preload: %llu events in %.1f s (%.0f/s)\n",
	    (unsigned long long)n, (double)(now_ns() - t0) / 1e9,
	    (double)n / ((double)(now_ns() - t0) / 1e9));
	rules_unref(rs);
	ident_free(id);
	return (0);
}

/* ---- fsync: the disk's durable write ------------------------------- */

/*
 * The cost of one durable 4 KiB page write in DIR (the store's
 * directory): a pwrite and fdatasync of one page of a preallocated
 * file, n times over a 1 MiB file; prints the median and p90.
 */
static int
cmd_fsync(int argc, char **argv)
{
	const char	*dir = NULL;
	char		 path[4096], page[4096];
	double		*us;
	uint64_t	 t;
	int		 fd, ch, i, n = 200;

	while ((ch = getopt(argc, argv, "D:n:")) != -1)
		switch (ch) {
		case 'D': dir = optarg; break;
		case 'n': n = atoi(optarg); break;
		default: usage();
		}
	if (dir == NULL || n < 1)
		usage();
	snprintf(path, sizeof(path), "%s/fsync-probe", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0)
		die("%s: %s", path, strerror(errno));
	memset(page, 0, sizeof(page));
	for (i = 0; i < 256; i++)
		if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page))
			die("%s: %s", path, strerror(errno));
	if (fsync(fd) != 0)
		die("%s: %s", path, strerror(errno));
	us = calloc((size_t)n, sizeof(*us));
	for (i = 0; i < n; i++) {
		memset(page, i & 0xff, sizeof(page));
		t = now_ns();
		if (pwrite(fd, page, sizeof(page), (off_t)(i % 256) * 4096) !=
		    (ssize_t)sizeof(page) || fdatasync(fd) != 0)
			die("%s: %s", path, strerror(errno));
		us[i] = (double)(now_ns() - t) / 1e3;
	}
	close(fd);
	unlink(path);
	qsort(us, (size_t)n, sizeof(*us), cmp_double);
	printf("fdatasync of one 4 KiB page in %s, %d times: p50 %.0f us, "
	    "p90 %.0f us, min %.0f us\n", dir, n, us[n / 2], us[n * 9 / 10],
	    us[0]);
	printf("RESULT fdatasync_us=%.1f fdatasync_p90_us=%.1f\n", us[n / 2],
	    us[n * 9 / 10]);
	free(us);
	return (0);
}

/* ---- expire: retention of the oldest events, timed ------------------ */

struct expire_at {
	int64_t	ts;
	bool	found;
};

static int
expire_at_cb(void *arg, const struct rg_event *ev)
{
	struct expire_at	*a = arg;

	a->ts = ev->ts;
	a->found = true;
	return (1);
}

/*
 * One retention pass as refguardd runs it: store_expire() of up to batch
 * in a write transaction, committed (the map grown and the pass run again
 * when it is full). Its events removed.
 */
static int64_t
expire_pass(struct store *st, int64_t before, size_t batch)
{
	struct store_txn	*txn;
	enum store_err		 serr;
	char			*cause = NULL;
	int64_t			 n;

	for (;;) {
		if ((txn = store_begin(st, true, &cause)) == NULL)
			die("%s", cause);
		if ((n = store_expire(txn, before, batch)) < 0) {
			if (store_txn_err(txn) != STORE_MAP_GROW)
				die("expire: %s", store_txn_errstr(txn));
			store_abort(txn);
			if (store_grow(st) != 0)
				die("store at map_max");
			continue;
		}
		if (store_commit(txn, &serr, &cause) == 0)
			return (n);
		if (serr != STORE_MAP_GROW || store_grow(st) != 0)
			die("commit: %s", cause);
		free(cause);
		cause = NULL;
	}
}

/*
 * Retention as the daemon runs it (store_expire() in write transactions
 * of RETENTION_BATCH events, each committed and synced), offline on a
 * stopped daemon's state dir: removes the events older than the one of
 * seq k + 1, the k oldest of a preloaded store, and times it; then times
 * the passes that sweep their index entries out (the daemon's next ones).
 */
static int
cmd_expire(int argc, char **argv)
{
	const char		*state = NULL;
	struct store_opts	 so;
	struct store		*st;
	struct store_txn	*txn;
	struct store_stat	 ss;
	struct expire_at	 at = { 0, false };
	struct stat		 sb;
	char			 path[4096];
	uint64_t		 k = 0, t0, total = 0, passes = 0, swept;
	double			 ms, sms;
	int64_t			 n;
	char			*cause = NULL;
	int			 ch;
	const size_t		 batch = 5000;	/* refguardd's RETENTION_BATCH */

	while ((ch = getopt(argc, argv, "D:k:")) != -1)
		switch (ch) {
		case 'D': state = optarg; break;
		case 'k': k = strtoull(optarg, NULL, 10); break;
		default: usage();
		}
	if (state == NULL || k == 0)
		usage();
	/* Deleting copies pages too: room beyond the file, as refguardd. */
	snprintf(path, sizeof(path), "%s/data.mdb", state);
	memset(&so, 0, sizeof(so));
	so.dir = state;
	so.map_size = stat(path, &sb) == 0 ? (size_t)sb.st_size * 2 : 0;
	if (so.map_size < (1ULL << 30))
		so.map_size = 1ULL << 30;
	so.map_max = 64ULL << 30;
	if ((st = store_open(&so, &cause)) == NULL)
		die("%s", cause);
	if ((txn = store_begin(st, false, &cause)) == NULL)
		die("%s", cause);
	if (store_scan_events(txn, k + 1, 0, expire_at_cb, &at) != 0)
		die("store: %s", store_txn_errstr(txn));
	store_abort(txn);
	if (!at.found)
		die("%s: fewer than %llu events", state,
		    (unsigned long long)(k + 1));
	t0 = now_ns();
	do {
		n = expire_pass(st, at.ts, batch);
		total += (uint64_t)n;
		passes++;
	} while ((size_t)n >= batch);
	ms = (double)(now_ns() - t0) / 1e6;
	printf("retention: %llu events removed in %.1f ms (%llu passes)\n",
	    (unsigned long long)total, ms, (unsigned long long)passes);
	/*
	 * Their index entries and verdict ids stopped counting at once;
	 * the sweep removes them in the daemon's later passes (each looking
	 * at up to RETENTION_BATCH keys) once enough wait, walking the
	 * whole index and the verdict ids: one cycle, begun now, timed.
	 */
	if (store_stat(st, &ss, &cause) != 0)
		die("%s", cause);
	swept = ss.index_swept;
	t0 = now_ns();
	passes = 0;
	do {
		if ((txn = store_begin(st, true, &cause)) == NULL)
			die("%s", cause);
		if (store_sweep(txn, batch) < 0)
			die("sweep: %s", store_txn_errstr(txn));
		if (store_commit(txn, NULL, &cause) != 0)
			die("sweep: %s", cause);
		if (store_stat(st, &ss, &cause) != 0)
			die("%s", cause);
		passes++;
	} while (ss.index_sweeping);
	sms = (double)(now_ns() - t0) / 1e6;
	printf("sweep, one cycle: %llu entries removed in %.1f ms "
	    "(%llu passes of up to %zu keys)\n",
	    (unsigned long long)(ss.index_swept - swept), sms,
	    (unsigned long long)passes, batch);
	printf("RESULT expire_events=%llu expire_ms=%.1f sweep_entries=%llu "
	    "sweep_ms=%.1f sweep_passes=%llu\n", (unsigned long long)total,
	    ms, (unsigned long long)(ss.index_swept - swept), sms,
	    (unsigned long long)passes);
	store_close(st);
	return (0);
}

/* Wait until the daemon answers ping; prints the milliseconds waited. */
static int
cmd_wait(int argc, char **argv)
{
	struct sockaddr_un	 sun;
	char			 buf[256];
	double			 timeout = 10;
	uint64_t		 t0 = now_ns();
	ssize_t			 r;
	int			 fd, ch;

	while ((ch = getopt(argc, argv, "s:t:")) != -1)
		switch (ch) {
		case 's': O.sock = optarg; break;
		case 't': timeout = atof(optarg); break;
		default: usage();
		}
	if (O.sock == NULL)
		usage();
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", O.sock);
	while ((double)(now_ns() - t0) / 1e9 < timeout) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
		    write(fd, "{\"op\":\"ping\"}\n", 14) == 14 &&
		    (r = read(fd, buf, sizeof(buf) - 1)) > 0) {
			buf[r] = '\0';
			if (strstr(buf, "\"ok\":true") != NULL) {
				close(fd);
				printf("%.1f\n", (double)(now_ns() - t0) / 1e6);
				return (0);
			}
		}
		close(fd);
		usleep(2000);
	}
	fprintf(stderr, "refguard-bench: no answer on %s\n", O.sock);
	return (1);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "run") == 0)
		return (cmd_run(argc - 1, argv + 1));
	if (strcmp(argv[1], "preload") == 0)
		return (cmd_preload(argc - 1, argv + 1));
	if (strcmp(argv[1], "wait") == 0)
		return (cmd_wait(argc - 1, argv + 1));
	if (strcmp(argv[1], "fsync") == 0)
		return (cmd_fsync(argc - 1, argv + 1));
	if (strcmp(argv[1], "expire") == 0)
		return (cmd_expire(argc - 1, argv + 1));
	usage();
	return (2);
}
