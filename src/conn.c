/*
 * conn.c: client connections on the NDJSON socket.
 *
 * Each line is decoded into a job; pings, stats and reloads are answered
 * on the spot, store work goes to the writer thread. Replies leave in
 * request order: a connection keeps its jobs in arrival order and sends
 * from the head while the head is done.
 *
 * Limits keep one client from hurting the others: a line longer than
 * max_line gets an error and the connection closes (framing is lost);
 * reading pauses while max_pipeline requests are in flight, or while the
 * connection's reply bytes reach max_outbuf: those in its output buffer,
 * those finished but waiting for an earlier one, and an estimate of those
 * in flight (the largest reply seen for the op). A request that would go
 * past that waits, decoded, until the client reads (it is "held"). The
 * ops whose replies grow with stored history (explain, list.log, the
 * listings) run one at a time per connection, since a small estimate
 * could be far off, and HEAVY_MAX at a time over all connections: each
 * runs in the writer's batch, so many at once would delay every check
 * of that batch. A connection waiting for a slot is woken, first come
 * first served, when one frees.
 * Over all connections, max_outbuf_total bounds the same bytes: past it
 * a connection that already holds replies takes no new request, and if
 * finished replies alone go past it, the connection holding the most is
 * closed (as Redis's maxmemory-clients does). A connection that holds
 * nothing may always have one request in flight.
 * With idle_timeout, a request line must also be complete within that
 * time of its first byte: a client trickling a byte at a time (slowloris)
 * resets the read timeout forever, the line timer it cannot.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <jansson.h>

#include "analyst.h"
#include "cluster.h"
#include "conf.h"
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "rules.h"
#include "sbuf.h"
#include "util.h"
#include "writer.h"

#define FUTURE_SLACK_MS	(24 * 3600 * 1000LL)
#define REPLY_EST_MIN	256	/* bytes: the estimate of an op not seen yet */
#define HEAVY_MAX	4	/* history-sized reads in the writer at once */

/* To a connection refguardd will not read from: it is shutting down. */
static const char stopping_reply[] = "{\"error\":{\"code\":\"stopping\","
    "\"msg\":\"refguardd is shutting down; requests from here on were not "
    "read; try again later\"}}\n";

struct conn {
	struct daemon		*d;
	struct bufferevent	*bev;
	struct event		*linetimer;	/* partial line pending too long */
	TAILQ_HEAD(, job)	 jobs;		/* reply order */
	unsigned		 npending;
	bool			 paused;	/* reading stopped by a limit */
	bool			 full;		/* counted in replies.paused */
	bool			 eof;		/* peer sent all it will send */
	bool			 closing;	/* close once the output is sent */
	bool			 dead;		/* socket gone; free when jobs end */
	bool			 queued;	/* on the flush queue */
	bool			 hwait;		/* on the heavy wait queue */
	size_t			 replies;	/* finished replies not in out */
	size_t			 reserved;	/* estimates of those in flight */
	unsigned		 heavy;		/* explain, list.log in flight */
	struct job		*held;		/* decoded, waiting for room */
	struct evbuffer_cb_entry *outcb;	/* counts the output buffer */
	LIST_ENTRY(conn)	 entry;
	TAILQ_ENTRY(conn)	 fentry;	/* flush queue */
	TAILQ_ENTRY(conn)	 hentry;	/* heavy wait queue */
};

static LIST_HEAD(, conn) conns = LIST_HEAD_INITIALIZER(conns);
/* Connections to flush once a batch is back (conn_jobs_done). */
static TAILQ_HEAD(, conn) flushq = TAILQ_HEAD_INITIALIZER(flushq);
/* Connections whose held request waits for a heavy slot, oldest first. */
static TAILQ_HEAD(, conn) heavyq = TAILQ_HEAD_INITIALIZER(heavyq);

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static int	conn_flush(struct conn *);
static void	conn_line_timer(struct conn *);
static void	conn_job_back(struct job *, void *);

static void
count_error(struct daemon *d, const char *code)
{
	size_t	i;

	d->stats.errors++;
	for (i = 0; i < nitems(req_error_codes) - 1; i++)
		if (strcmp(code, req_error_codes[i]) == 0)
			break;
	d->stats.errors_by_code[i]++;
}

/* ---- reply bytes (max_outbuf, max_outbuf_total) -------------------- */

static void
replies_add(struct daemon *d, size_t n)
{
	d->replies.buffered += n;
	if (d->replies.buffered > d->replies.peak)
		d->replies.peak = d->replies.buffered;
}

static void
replies_sub(struct daemon *d, size_t n)
{
	d->replies.buffered -= n < d->replies.buffered ? n :
	    d->replies.buffered;
}

static void
conn_outbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	replies_add(arg, info->n_added);
	replies_sub(arg, info->n_deleted);
}

struct evbuffer_cb_entry *
conn_outbuf_track(struct daemon *d, struct evbuffer *out)
{
	replies_add(d, evbuffer_get_length(out));
	return (evbuffer_add_cb(out, conn_outbuf_cb, d));
}

void
conn_outbuf_untrack(struct daemon *d, struct evbuffer *out,
    struct evbuffer_cb_entry *cb)
{
	if (cb == NULL)
		return;
	evbuffer_remove_cb_entry(out, cb);
	replies_sub(d, evbuffer_get_length(out));
}

/* A finished reply as it will be sent: the line and its newline. */
static size_t
job_bytes(const struct job *job)
{
	return (job->replylen + 1);
}

/* Ops whose reply grows with stored history, not with the request. */
static bool
job_heavy(const struct job *job)
{
	return (job->def != NULL && job->def->heavy);
}

/* What a reply to op may take: the largest one seen so far. */
static size_t
reply_est(const struct daemon *d, int op)
{
	size_t	est = op >= 0 && op < OP__MAX ? d->replies.est[op] : 0;

	return (est > REPLY_EST_MIN ? est : REPLY_EST_MIN);
}

/* Unsent reply bytes of c: finished ones and its output buffer. */
static size_t
conn_unsent(const struct conn *c)
{
	return (c->replies + (c->bev != NULL ?
	    evbuffer_get_length(bufferevent_get_output(c->bev)) : 0));
}

/* The same and the estimates of its replies in flight. */
static size_t
conn_reply_bytes(const struct conn *c)
{
	return (conn_unsent(c) + c->reserved);
}

/* A job of c is done: its reply now waits to be sent. */
static void
conn_finished(struct conn *c, struct job *job)
{
	c->replies += job_bytes(job);
	replies_add(c->d, job_bytes(job));
}

/* May c start job now? See the comment at the top. */
static bool
conn_may_submit(const struct conn *c, const struct job *job)
{
	const struct daemon	*d = c->d;
	size_t			 own = conn_reply_bytes(c);
	size_t			 est = reply_est(d, job->op);

	if (job_heavy(job) && d->replies.heavy >= HEAVY_MAX)
		return (false);
	if (own == 0)
		return (true);
	if (job_heavy(job) && c->heavy > 0)
		return (false);
	if (own + est > d->conf->max_outbuf)
		return (false);
	return (d->replies.buffered + d->replies.reserved + est <=
	    d->conf->max_outbuf_total);
}

static void	conn_kill(struct conn *);

/*
 * Finished replies past max_outbuf_total: close the connection holding
 * the most of them (not spare). False when no other connection holds any.
 */
static bool
conn_evict(struct daemon *d, struct conn *spare)
{
	struct conn	*c, *big = NULL;
	size_t		 n, most = 0;

	LIST_FOREACH(c, &conns, entry) {
		if (c == spare || c->bev == NULL)
			continue;
		if ((n = conn_unsent(c)) > most) {
			big = c;
			most = n;
		}
	}
	if (big == NULL)
		return (false);
	log_warn("connection closed reason=max_outbuf_total unsent=%zu "
	    "buffered=%zu max_outbuf_total=%zu", most, d->replies.buffered,
	    d->conf->max_outbuf_total);
	d->replies.closed++;
	conn_kill(big);
	return (true);
}

/* The NDJSON connection job belongs to, or NULL (HTTP, the daemon's own). */
static struct conn *
conn_of(const struct job *job)
{
	return (job->owner.done == conn_job_back ? job->owner.arg : NULL);
}

/* c's held request waits for a heavy slot: queue c to be woken. */
static void
conn_heavy_wait(struct conn *c)
{
	if (c->hwait || c->held == NULL || !job_heavy(c->held) ||
	    c->d->replies.heavy < HEAVY_MAX)
		return;
	c->hwait = true;
	c->d->replies.heavy_waiting++;
	TAILQ_INSERT_TAIL(&heavyq, c, hentry);
}

/* Take c off the heavy wait queue. */
static void
conn_heavy_unwait(struct conn *c)
{
	if (!c->hwait)
		return;
	c->hwait = false;
	c->d->replies.heavy_waiting--;
	TAILQ_REMOVE(&heavyq, c, hentry);
}

/* Hand job to the writer, its reply estimate reserved. */
static void
conn_submit_now(struct daemon *d, struct conn *c, struct job *job)
{
	job->reply_est = reply_est(d, job->op);
	d->replies.reserved += job->reply_est;
	if (job_heavy(job))
		d->replies.heavy++;
	if (c != NULL) {
		/*
		 * Room first, if replies already made and those being made
		 * (several connections that held nothing may be woken for
		 * history-sized reads at once) fill the total.
		 */
		while (conn_reply_bytes(c) == 0 && d->replies.buffered +
		    d->replies.reserved > d->conf->max_outbuf_total &&
		    conn_evict(d, c))
			;
		c->reserved += job->reply_est;
		if (job_heavy(job))
			c->heavy++;
	}
	if (d->cluster != NULL && job->def->replicate)
		cluster_submit(d->cluster, job);
	else
		writer_submit(d->writer, job);
}

/*
 * A decoded job for the writer: run it, or hold it until its connection
 * has room. HTTP jobs (no conn yet; one at a time) always run.
 */
static void
conn_submit(struct daemon *d, struct job *job)
{
	struct conn	*c = conn_of(job);

	if (c != NULL && !conn_may_submit(c, job)) {
		c->held = job;
		conn_heavy_wait(c);
		return;
	}
	conn_submit_now(d, c, job);
}

/* c is flushed, once, when the writer's batch is in (conn_jobs_done). */
static void
conn_queue_flush(struct conn *c)
{
	if (!c->queued) {
		c->queued = true;
		TAILQ_INSERT_TAIL(&flushq, c, fentry);
	}
}

/* The writer is done with job: release what was reserved for it. */
static void
conn_unreserve(struct daemon *d, struct job *job)
{
	struct conn	*c = conn_of(job), *w;

	d->replies.reserved -= job->reply_est;
	if (c != NULL) {
		c->reserved -= job->reply_est;
		if (job_heavy(job))
			c->heavy--;
	}
	if (job_heavy(job)) {
		d->replies.heavy--;
		/* The slot goes to the oldest waiter, at the flush. */
		if ((w = TAILQ_FIRST(&heavyq)) != NULL) {
			conn_heavy_unwait(w);
			conn_queue_flush(w);
		}
	}
	if (job->op >= 0 && job->op < OP__MAX &&
	    job_bytes(job) > d->replies.est[job->op])
		d->replies.est[job->op] = job_bytes(job);
}

/*
 * Count c in d->replies.paused while its reply bytes (or a held request)
 * keep it from being read. Kept where those change: conn_pace() ends every
 * flush, conn_kill() and conn_free() take c out.
 */
static void
conn_set_full(struct conn *c, bool full)
{
	if (full == c->full)
		return;
	c->full = full;
	if (full)
		c->d->replies.paused++;
	else
		c->d->replies.paused--;
}

/* ---- connections ----------------------------------------------------- */

/* Free the socket side: the output buffer's bytes are no longer held. */
static void
conn_bev_free(struct conn *c)
{
	if (c->bev == NULL)
		return;
	conn_outbuf_untrack(c->d, bufferevent_get_output(c->bev), c->outcb);
	c->outcb = NULL;
	bufferevent_free(c->bev);
	c->bev = NULL;
}

/* Free a job of c that will not be sent. */
static void
conn_drop_job(struct conn *c, struct job *job)
{
	TAILQ_REMOVE(&c->jobs, job, centry);
	c->npending--;
	if (job == c->held) {
		c->held = NULL;
		conn_heavy_unwait(c);
	} else if (job->done) {
		c->replies -= job_bytes(job);
		replies_sub(c->d, job_bytes(job));
	}
	job_free(job);
}

static void
conn_free(struct conn *c)
{
	struct job	*job;

	while ((job = TAILQ_FIRST(&c->jobs)) != NULL)
		conn_drop_job(c, job);
	conn_set_full(c, false);
	conn_bev_free(c);
	if (c->linetimer != NULL)
		event_free(c->linetimer);
	if (c->queued)
		TAILQ_REMOVE(&flushq, c, fentry);
	LIST_REMOVE(c, entry);
	c->d->nconns--;
	free(c);
}

/* A dead connection: drop finished jobs; free it when the last is back. */
static void
conn_reap(struct conn *c)
{
	struct job	*job, *next;

	for (job = TAILQ_FIRST(&c->jobs); job != NULL; job = next) {
		next = TAILQ_NEXT(job, centry);
		if (job->done || job == c->held)
			conn_drop_job(c, job);
		/* else the writer still holds it */
	}
	if (c->npending == 0)
		conn_free(c);
}

/* The socket is gone (or must go): free now, or once the writer is done. */
static void
conn_kill(struct conn *c)
{
	conn_set_full(c, false);
	conn_bev_free(c);
	if (c->linetimer != NULL)
		event_del(c->linetimer);
	c->dead = true;
	conn_reap(c);
}

/* Pause or resume reading as the limits say. */
static void
conn_pace(struct conn *c)
{
	struct conf	*cf = c->d->conf;
	bool		 stop;

	if (c->bev == NULL)
		return;
	conn_set_full(c, c->held != NULL ||
	    conn_reply_bytes(c) >= cf->max_outbuf);
	stop = c->eof || c->closing || c->d->stopping || c->held != NULL ||
	    c->npending >= cf->max_pipeline ||
	    conn_reply_bytes(c) >= cf->max_outbuf;
	if (stop && !c->paused)
		bufferevent_disable(c->bev, EV_READ);
	else if (!stop && c->paused)
		bufferevent_enable(c->bev, EV_READ);
	c->paused = stop;
}

void
conn_reply_error(struct daemon *d, struct job *job, const struct req_error *err)
{
	job->reply = req_error_reply(err, job->ev.idlen ? job->ev.id : NULL,
	    job->ev.idlen, &job->replylen);
	job->errcode = err->code;
	job->done = true;
	count_error(d, err->code);
}

static struct job *
conn_job(struct conn *c)
{
	struct job	*job = job_new(JOB_OP);	/* not decoded yet */

	job->owner = (struct job_owner){ conn_job_back, c };
	job->t_start = mono_us();
	TAILQ_INSERT_TAIL(&c->jobs, job, centry);
	c->npending++;
	return (job);
}

/*
 * A request refused for what it holds, at debug level, so that an
 * operator can see what a client sends wrong: the error as the client got
 * it (less a JSON parser's quote of the bad token), the request's size and
 * its top-level keys, escaped. Never a value: requests carry personal
 * data. At most BAD_LOG_BURST lines a second; the next line after a quiet
 * spell says how many were left out.
 */
#define BAD_LOG_BURST	20
#define BAD_LOG_KEYS	16

static void
conn_log_bad(const struct req_error *err, const char *line, size_t len)
{
	static struct log_rate	 rate;
	struct sbuf		 keys;
	json_t			*o;
	const char		*k, *near;
	char			 field[400], msg[1100], esc[200], *ks;
	uint64_t		 dropped;
	size_t			 n = 0, mlen;
	void			*it;

	if (log_get_level() < LOG_LEVEL_DEBUG ||
	    !log_rate_ok(&rate, BAD_LOG_BURST, &dropped))
		return;
	sbuf_init(&keys, 64);
	if ((o = json_loadb(line, len, 0, NULL)) != NULL && json_is_object(o)) {
		for (it = json_object_iter(o); it != NULL && n < BAD_LOG_KEYS;
		    it = json_object_iter_next(o, it), n++) {
			k = json_object_iter_key(it);
			sbuf_adds(&keys, n > 0 ? "," : "");
			sbuf_adds(&keys, log_value(k, strlen(k), esc,
			    sizeof(esc)));
		}
	}
	json_decref(o);
	if (n == 0)
		sbuf_addc(&keys, '-');
	ks = sbuf_take(&keys, NULL);
	mlen = (near = strstr(err->msg, " near '")) != NULL ?
	    (size_t)(near - err->msg) : strlen(err->msg);
	log_debug("bad request code=%s field=%s msg=%s bytes=%zu keys=%s "
	    "not_logged=%llu", err->code, err->field[0] != '\0' ?
	    log_value(err->field, strlen(err->field), field, sizeof(field)) :
	    "-", log_value(err->msg, mlen, msg, sizeof(msg)), len, ks,
	    (unsigned long long)dropped);
	free(ks);
}

/*
 * The one path of every request, NDJSON line or HTTP (http.c): decode
 * line into job, then answer it on the spot (job->done) or hand it to
 * the writer, whose finished jobs come back through conn_jobs_done().
 */
void
conn_request(struct daemon *d, struct job *job, const char *line, size_t len)
{
	struct req_opts		 opts;
	struct req_error	 err;
	struct analyst_req	 ar;
	const struct op_def	*def;
	enum req_op		 op;

	if (len == 0) {
		err = (struct req_error){ .code = "bad_request" };
		snprintf(err.msg, sizeof(err.msg), "empty line: send one JSON "
		    "object a line");
		conn_log_bad(&err, line, len);
		conn_reply_error(d, job, &err);
		return;
	}
	opts.now = now_ms();
	opts.retention = d->conf->retention;
	opts.max_future = FUTURE_SLACK_MS;
	if (req_decode_full(line, len, d->ident, &opts, &op, &job->ev, &ar,
	    &err) != 0) {
		conn_log_bad(&err, line, len);
		conn_reply_error(d, job, &err);
		return;
	}
	job->ev.data_stale = d->data_stale;
	if (analyst_op(op)) {
		/* Hash the list value here: the ident belongs to this thread. */
		if (analyst_prepare(&ar, op, d->ident, d->rules, opts.now,
		    &err) != 0) {
			analyst_req_clear(&ar);
			conn_log_bad(&err, line, len);
			conn_reply_error(d, job, &err);
			return;
		}
		job->ar = analyst_req_dup(&ar);
	}
	d->stats.requests[op]++;
	job->op = op;
	job->def = def = op_get(op);
	if (def->where == OP_LOOP) {
		def->loop(d, job);
		return;
	}
	if (def->rules && d->rules != NULL)
		job->rs = rules_ref(d->rules);
	conn_submit(d, job);
}

/* Framing is lost: say so, then close once the replies are out. */
static void
conn_too_long(struct conn *c)
{
	struct req_error	err = { .code = "line_too_long" };
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct job		*job = conn_job(c);

	snprintf(err.msg, sizeof(err.msg), "request line longer than %zu "
	    "bytes; closing the connection", c->d->conf->max_line);
	conn_reply_error(c->d, job, &err);
	conn_finished(c, job);
	c->d->stats.lines_too_long++;
	c->closing = true;
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* Decode line into a new job of c; an answer made at once is now waiting. */
static void
conn_line(struct conn *c, const char *line, size_t len)
{
	struct job	*job = conn_job(c);

	conn_request(c->d, job, line, len);
	if (job->done)
		conn_finished(c, job);
}

/*
 * Decode the complete lines buffered, as far as the pipeline and reply
 * limits allow; after EOF, a last line without a newline too. Returns how
 * many.
 */
static unsigned
conn_process(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr	 p;
	size_t			 max = c->d->conf->max_line, eol, len;
	unsigned		 n = 0;
	char			*line;

	while (!c->closing && c->held == NULL &&
	    c->npending < c->d->conf->max_pipeline &&
	    conn_reply_bytes(c) < c->d->conf->max_outbuf) {
		p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
		if (p.pos < 0) {
			/* A partial line may still get the CR of its CRLF. */
			len = evbuffer_get_length(in);
			if (len > max + (c->eof ? 0 : 1)) {
				conn_too_long(c);
				n++;
			} else if (c->eof && len > 0) {
				line = (char *)evbuffer_pullup(in, (ssize_t)len);
				conn_line(c, line, len);
				evbuffer_drain(in, len);
				n++;
			}
			break;
		}
		/* max_line counts the line without its LF or CRLF. */
		len = (size_t)p.pos;
		line = len <= max + 1 ? (char *)evbuffer_pullup(in,
		    p.pos + (ssize_t)eol) : NULL;
		if (line != NULL && len > 0 && line[len - 1] == '\r')
			len--;
		if (len > max) {
			conn_too_long(c);
			n++;
			break;
		}
		conn_line(c, line, len);
		evbuffer_drain(in, (size_t)p.pos + eol);
		n++;
	}
	return (n);
}

/*
 * Send the replies at the head that are done, take in more buffered lines
 * while the pipeline has room, and close when all is said. Returns -1 when
 * the connection is gone (freed): the caller must not touch it again.
 */
static int
conn_flush(struct conn *c)
{
	struct evbuffer	*out, *in;
	struct job	*job;

	if (c->dead) {
		conn_reap(c);
		return (-1);
	}
	out = bufferevent_get_output(c->bev);
	in = bufferevent_get_input(c->bev);
	do {
		while ((job = TAILQ_FIRST(&c->jobs)) != NULL && job->done) {
			TAILQ_REMOVE(&c->jobs, job, centry);
			c->npending--;
			c->replies -= job_bytes(job);
			replies_sub(c->d, job_bytes(job));
			evbuffer_add(out, job->reply, job->replylen);
			evbuffer_add(out, "\n", 1);
			metrics_replied(c->d, job);
			job_free(job);
		}
		/* A held request was read: it runs even while stopping. */
		if ((job = c->held) != NULL && conn_may_submit(c, job)) {
			c->held = NULL;
			conn_heavy_unwait(c);
			conn_submit_now(c->d, c, job);
		} else if (job != NULL)
			conn_heavy_wait(c);
	} while (!c->d->stopping && c->held == NULL &&
	    evbuffer_get_length(in) > 0 && conn_process(c) > 0);
	if ((c->closing || c->eof) && c->npending == 0 &&
	    (c->closing || evbuffer_get_length(in) == 0) &&
	    evbuffer_get_length(out) == 0) {
		conn_kill(c);
		return (-1);
	}
	conn_pace(c);
	conn_line_timer(c);
	return (0);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_flush(arg);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	conn_flush(arg);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	static const char	idle[] = "{\"error\":{\"code\":\"idle_timeout\","
	    "\"msg\":\"no request within idle_timeout; closing\"}}\n";
	struct conn		*c = arg;

	if (what & BEV_EVENT_EOF) {
		c->eof = true;
		conn_flush(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->npending > 0) {
			bufferevent_enable(bev, EV_READ);
			return;
		}
		log_debug("connection closed reason=idle_timeout");
		/* Say why, then close once it is sent. */
		count_error(c->d, "idle_timeout");
		c->closing = true;
		bufferevent_disable(bev, EV_READ);
		evbuffer_add(bufferevent_get_output(bev), idle, sizeof(idle) - 1);
		return;
	}
	/* An error: nobody to answer any more. */
	conn_kill(c);
}

/* Arm the line timer when a partial line waits on the client; else stop it. */
static void
conn_line_timer(struct conn *c)
{
	struct timeval	tv;
	bool		partial;

	if (c->linetimer == NULL)
		return;
	partial = c->bev != NULL && !c->paused && !c->closing &&
	    c->npending == 0 &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
	if (!partial)
		event_del(c->linetimer);
	else if (!event_pending(c->linetimer, EV_TIMEOUT, NULL)) {
		tv.tv_sec = c->d->conf->idle_timeout / 1000;
		tv.tv_usec = (c->d->conf->idle_timeout % 1000) * 1000;
		event_add(c->linetimer, &tv);
	}
}

static void
conn_line_expired(evutil_socket_t fd, short what, void *arg)
{
	static const char	slow[] = "{\"error\":{\"code\":\"idle_timeout\","
	    "\"msg\":\"request line not completed within idle_timeout; "
	    "closing\"}}\n";
	struct conn		*c = arg;

	if (c->bev == NULL || c->closing)
		return;
	if (c->paused || c->npending > 0) {	/* waiting on us, not on it */
		conn_line_timer(c);
		return;
	}
	log_debug("connection closed reason=slow_request_line");
	count_error(c->d, "idle_timeout");
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	evbuffer_add(bufferevent_get_output(c->bev), slow, sizeof(slow) - 1);
}

/* Tell a connection refguardd will not serve why, once. The caller closes it. */
static void
refuse(struct daemon *d, int fd, const char *code, const char *reply,
    size_t len)
{
	count_error(d, code);
	if (fd_answer_close(fd, reply, len) != 0)
		log_debug("refusal not sent code=%s error=\"%s\"", code,
		    strerror(errno));
}

void
conn_refuse(int fd, void *arg)
{
	static const char	full[] = "{\"error\":{\"code\":"
	    "\"too_many_connections\",\"msg\":\"connection limit reached; "
	    "try again later\"}}\n";
	struct daemon		*d = arg;

	d->stats.conns_total++;
	d->stats.conns_refused++;
	if (d->stopping)
		refuse(d, fd, "stopping", stopping_reply,
		    sizeof(stopping_reply) - 1);
	else
		refuse(d, fd, "too_many_connections", full, sizeof(full) - 1);
	close(fd);
}

void
conn_accept(struct daemon *d, int fd)
{
	struct conn		*c;
	struct timeval		 tv;

	if (d->stopping || d->nconns >= d->conf->max_conns) {
		conn_refuse(fd, d);
		return;
	}
	d->stats.conns_total++;
	c = xcalloc(1, sizeof(*c));
	c->d = d;
	TAILQ_INIT(&c->jobs);
	c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_err("connection dropped error=bufferevent_socket_new");
		close(fd);
		free(c);
		return;
	}
	LIST_INSERT_HEAD(&conns, c, entry);
	d->nconns++;
	c->outcb = conn_outbuf_track(d, bufferevent_get_output(c->bev));
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/* The write callback fires when the output drains below half. */
	bufferevent_setwatermark(c->bev, EV_WRITE, d->conf->max_outbuf / 2, 0);
	if (d->conf->idle_timeout > 0) {
		tv.tv_sec = d->conf->idle_timeout / 1000;
		tv.tv_usec = (d->conf->idle_timeout % 1000) * 1000;
		bufferevent_set_timeouts(c->bev, &tv, NULL);
		c->linetimer = evtimer_new(d->base, conn_line_expired, c);
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* A job of c is back: its reply waits; c is flushed once the batch is in. */
static void
conn_job_back(struct job *job, void *arg)
{
	struct conn	*c = arg;

	conn_finished(c, job);
	conn_queue_flush(c);
}

/*
 * The writer's finished jobs (and finished reloads), each handed to its
 * owner (job_owner); an NDJSON connection's replies wait in it. Take every
 * job off the list first, then flush each connection once: a flush frees
 * the jobs it sends (others of the batch among them) and may free the
 * connection itself, or close another one (conn_evict), which conn_free()
 * takes off the flush queue. Last, if the finished replies alone exceed
 * max_outbuf_total, close the biggest.
 */
void
conn_jobs_done(struct job_list *done, void *arg)
{
	struct daemon		*d = arg;
	struct job		*job;
	struct conn		*c;

	while ((job = TAILQ_FIRST(done)) != NULL) {
		TAILQ_REMOVE(done, job, entry);
		if (job->kind == JOB_OP) {
			conn_unreserve(d, job);
			if (job->errcode != NULL)
				count_error(d, job->errcode);
			else if (job->op == OP_CHECK && job->replay)
				d->stats.replays++;
			else if (job->op == OP_CHECK && job->action < 3)
				d->stats.actions[job->action]++;
			else if (job->op == OP_OBSERVE)
				d->stats.observes++;
			metrics_job_done(d, job);
		}
		job->owner.done(job, job->owner.arg);
	}
	while ((c = TAILQ_FIRST(&flushq)) != NULL) {
		TAILQ_REMOVE(&flushq, c, fentry);
		c->queued = false;
		conn_flush(c);
	}
	while (d->replies.buffered > d->conf->max_outbuf_total &&
	    conn_evict(d, NULL))
		;
}

void
conn_stop_reading_all(struct daemon *d)
{
	struct conn	*c;

	LIST_FOREACH(c, &conns, entry)
		conn_pace(c);
}

/* Replies not yet handed to the kernel, over all connections. */
size_t
conn_pending_all(struct daemon *d)
{
	struct conn	*c;
	size_t		 n = 0;

	LIST_FOREACH(c, &conns, entry) {
		n += c->npending;
		if (c->bev != NULL)
			n += evbuffer_get_length(bufferevent_get_output(c->bev));
	}
	return (n);
}

/*
 * At exit. A connection with requests it sent but refguardd never read
 * (reading stops at TERM) gets one "stopping" error after its replies:
 * nothing past that point was processed. Its unread input is dropped
 * first, because a socket closed with unread input resets its peer.
 */
void
conn_close_all(struct daemon *d)
{
	struct conn	*c;
	int		 fd;

	while ((c = LIST_FIRST(&conns)) != NULL) {
		if (c->bev != NULL && d->stopping && !c->eof && (fd =
		    (int)bufferevent_getfd(c->bev)) >= 0 && evbuffer_get_length(
		    bufferevent_get_output(c->bev)) == 0 &&
		    (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 ||
		    fd_unread(fd)))
			refuse(d, fd, "stopping", stopping_reply,
			    sizeof(stopping_reply) - 1);
		conn_free(c);
	}
}
