/*
 * refguardctl: talk to refguardd over its socket.
 *
 * Exit status: 0 ok, 1 the daemon answered with an error (or a local
 * command failed: rules check, backtest), 2 usage, 3 cannot connect (or
 * the connection broke).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "backtest.h"
#include "conf.h"
#include "ctl_out.h"
#include "export.h"
#include "ident.h"
#include "log.h"
#include "rules.h"
#include "sbuf.h"
#include "secret.h"
#include "store.h"
#include "util.h"

#define EXIT_REPLY_ERROR	1
#define EXIT_USAGE		2
#define EXIT_CONNECT		3

#define DEFAULT_SOCKET	RUNSTATEDIR "/refguard/refguard.sock"

static const char	*sock_path;
static const char	*conf_path;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: refguardctl [-s socket] [-c conf] [--json] command [args]\n"
	    "commands:\n"
	    "  ping                 check that the daemon answers\n"
	    "  check [-] [--id ID] [--ts T] [--campaign C] [--reward-amount N]\n"
	    "        [--reward-currency CUR] [--referrer-FIELD V] [--referee-FIELD V]\n"
	    "                       check a referral; FIELD: account, email, ip,\n"
	    "                       phone, payment, device-id, ua, device K=V;\n"
	    "                       -: the JSON request from stdin (flags override)\n"
	    "  observe [-] --kind K --account A [--ts T] [--email E] [--ip IP]\n"
	    "        [--phone P] [--payment P] [--device-id D] [--ua UA] [--device K=V]\n"
	    "                       record account activity (signup, login, purchase,\n"
	    "                       payout, update)\n"
	    "  send [FILE]          send NDJSON requests (stdin or FILE), print the\n"
	    "                       raw replies\n"
	    "  verdict ID           the stored verdict of a referral\n"
	    "  explain ID           the verdict with the facts it rested on\n"
	    "  stats                counters and store figures\n"
	    "  reload               reload rules and data (like SIGHUP)\n"
	    "  export [--state DIR] [--since 30d|RFC3339] [-o FILE]\n"
	    "                       stored events and verdicts as NDJSON (read-only,\n"
	    "                       safe while the daemon runs)\n"
	    "  import [--state DIR] FILE\n"
	    "                       load an export into an empty state directory\n"
	    "                       (the daemon stopped)\n"
	    "  rules check [-v] PATH...\n"
	    "                       compile rule files (or directories) as one set,\n"
	    "                       lint them and run their tests; no daemon needed\n"
	    "  backtest --rules PATH [--since 30d|RFC3339] [--until RFC3339]\n"
	    "           [--state DIR] [--json] [--samples N]\n"
	    "                       replay stored referrals through a rule set, as of\n"
	    "                       each event, and compare with the stored verdicts;\n"
	    "                       reads the store read-only, safe while the daemon runs\n"
	    "  recheck ID [--ts T]  re-evaluate a referral now, or as of T (before a\n"
	    "                       payout); stored as the verdict's next version\n"
	    "  feedback (--id ID | --account A) --label fraud|legit|chargeback|abuse\n"
	    "           [--note TEXT] [--by WHO]\n"
	    "                       label a referral's referee or an account\n"
	    "  lists add LIST VALUE [--kind K] [--expires 30d|RFC3339] [--reason R] [--by W]\n"
	    "  lists del LIST VALUE [--kind K] [--reason R] [--by W]\n"
	    "  lists get LIST VALUE [--kind K]\n"
	    "  lists log [LIST] [--limit N]\n"
	    "  lists import LIST FILE [--kind K] [--expires E] [--reason R] [--by W]\n"
	    "                       runtime list entries (values are hashed);\n"
	    "                       import: a value a line, or NDJSON objects\n"
	    "--json: print the daemon's reply lines as they are, for scripts\n"
	    "socket: -s, else $REFGUARD_SOCKET, else %s\n"
	    "-c FILE: the daemon's configuration, for rules check, backtest, export\n"
	    "         and import\n"
	    "         (email and IP settings change how list values are normalized;\n"
	    "         backtest takes state_dir and hash_secret_file from it)\n"
	    "exit: 0 ok, 1 an error reply or a failed command, 2 usage, 3 cannot\n"
	    "      connect\n",
	    DEFAULT_SOCKET);
	exit(EXIT_USAGE);
}

static int
ctl_connect(void)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "refguardctl: socket path too long: %s\n",
		    sock_path);
		exit(EXIT_CONNECT);
	}
	strcpy(sun.sun_path, sock_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		fprintf(stderr, "refguardctl: cannot connect to %s: %s\n",
		    sock_path, strerror(errno));
		exit(EXIT_CONNECT);
	}
	return (fd);
}

/*
 * Send everything from in (a file descriptor) and print each reply line.
 * Writes and reads interleave so that a large input never deadlocks
 * against replies the daemon cannot send. Each reply line goes to fmt
 * (ctl_out.h). Returns the exit status.
 */
static int
ctl_pipe(int in, ctl_fmt_fn fmt)
{
	struct pollfd	 pfd[2];
	struct sbuf	 out, rbuf;
	char		 buf[65536];
	size_t		 sent = 0, nreq = 0, nrep = 0, i, start;
	ssize_t		 n;
	bool		 in_eof = false, err = false, last_nl = true;
	int		 fd = ctl_connect();

	sbuf_init(&out, 65536);
	sbuf_init(&rbuf, 65536);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		pfd[0].fd = in_eof || out.len - sent > (1 << 20) ? -1 : in;
		pfd[0].events = POLLIN;
		pfd[1].fd = fd;
		pfd[1].events = POLLIN | (sent < out.len ? POLLOUT : 0);
		if (in_eof && sent == out.len && nrep >= nreq)
			break;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("poll");
			return (EXIT_CONNECT);
		}
		if (pfd[0].revents & (POLLIN | POLLHUP)) {
			n = read(in, buf, sizeof(buf));
			if (n <= 0) {
				in_eof = true;
				if (!last_nl) {	/* the last line had no newline */
					sbuf_addc(&out, '\n');
					nreq++;
				}
			} else {
				for (i = 0; i < (size_t)n; i++)
					if (buf[i] == '\n')
						nreq++;
				last_nl = buf[n - 1] == '\n';
				sbuf_add(&out, buf, (size_t)n);
			}
		}
		if (pfd[1].revents & POLLOUT) {
			n = write(fd, out.buf + sent, out.len - sent);
			if (n < 0 && errno != EAGAIN) {
				fprintf(stderr, "refguardctl: write: %s\n",
				    strerror(errno));
				return (EXIT_CONNECT);
			}
			if (n > 0)
				sent += (size_t)n;
			if (sent == out.len) {
				sbuf_reset(&out);
				sent = 0;
			}
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n <= 0) {
				if (nrep < nreq || rbuf.len > 0) {
					fprintf(stderr, "refguardctl: the daemon "
					    "closed the connection after %zu of "
					    "%zu replies\n", nrep, nreq);
					if (rbuf.len > 0)
						printf("%s\n", rbuf.buf);
					return (EXIT_CONNECT);
				}
				break;
			}
			sbuf_add(&rbuf, buf, (size_t)n);
			for (start = 0, i = 0; i < rbuf.len; i++) {
				if (rbuf.buf[i] != '\n')
					continue;
				rbuf.buf[i] = '\0';
				if (fmt(rbuf.buf + start, i - start))
					err = true;
				nrep++;
				start = i + 1;
			}
			if (start > 0) {
				memmove(rbuf.buf, rbuf.buf + start, rbuf.len - start);
				rbuf.len -= start;
			}
		}
	}
	fflush(stdout);
	close(fd);
	sbuf_free(&out);
	sbuf_free(&rbuf);
	return (err ? EXIT_REPLY_ERROR : 0);
}

/* One request line, one reply. */
static int
ctl_one(const char *line, ctl_fmt_fn fmt)
{
	int	p[2], rc;

	if (pipe(p) != 0) {
		perror("pipe");
		return (EXIT_CONNECT);
	}
	/* The whole line must fit before ctl_pipe() reads it (check -). */
	if (strlen(line) + 1 > 65536 &&
	    fcntl(p[1], F_SETPIPE_SZ, (int)strlen(line) + 1) < 0) {
		fprintf(stderr, "refguardctl: request too large (%zu bytes)\n",
		    strlen(line));
		return (EXIT_USAGE);
	}
	if (write_all(p[1], line, strlen(line)) != 0 ||
	    write_all(p[1], "\n", 1) != 0) {
		perror("write");
		return (EXIT_CONNECT);
	}
	close(p[1]);
	rc = ctl_pipe(p[0], fmt);
	close(p[0]);
	return (rc);
}

static int
ctl_with_id(const char *op, const char *id, ctl_fmt_fn fmt)
{
	struct sbuf	sb;
	int		rc;

	sbuf_init(&sb, 128);
	sbuf_addf(&sb, "{\"op\":\"%s\",\"id\":", op);
	sbuf_add_jstr(&sb, id, strlen(id));
	sbuf_addc(&sb, '}');
	rc = ctl_one(sb.buf, fmt);
	sbuf_free(&sb);
	return (rc);
}

/*
 * rules check: the paths form one rule set, compiled and linted as the
 * daemon would, then its embedded tests run against a scratch store.
 */
static int
ctl_rules_check(int argc, char **argv)
{
	struct ident_conf	 ic;
	struct conf		*cf = NULL;
	struct ident		*id;
	struct ruleset		*rs;
	char			*cause = NULL, *diag = NULL;
	int			 ch, verbose = 0, failed = 0, ntests;

	optind = 0;	/* glibc: re-initialize (main scanned with "+") */
	while ((ch = getopt(argc, argv, "v")) != -1) {
		if (ch != 'v')
			usage();
		verbose = 1;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (conf_path != NULL && (cf = conf_load(conf_path, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		return (EXIT_USAGE);
	}
	if (cf == NULL)
		cf = conf_default();
	conf_ident(cf, &ic);
	ic.secret_file = NULL;
	ic.geoip = NULL;	/* tests state geo facts with assume */
	ic.ngeoip = 0;
	if ((id = ident_new(&ic, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		return (EXIT_USAGE);
	}
	rs = rules_load_paths((const char *const *)argv, (size_t)argc, id,
	    cf->rules_max_bytes, &diag);
	if (diag != NULL)
		fprintf(stderr, "%s%s", diag, diag[strlen(diag) - 1] == '\n' ?
		    "" : "\n");
	free(diag);
	if (rs == NULL) {
		ident_free(id);
		conf_free(cf);
		return (EXIT_REPLY_ERROR);
	}
	ntests = rules_run_tests(rs, id, stdout, verbose, &failed, &cause);
	if (ntests < 0)
		fprintf(stderr, "refguardctl: rule tests: %s\n", cause);
	else
		printf("ruleset %s: %zu rules, %d tests, %d failed\n",
		    rules_hash(rs), rules_count(rs), ntests, failed);
	rules_unref(rs);
	ident_free(id);
	conf_free(cf);
	return (ntests < 0 || failed > 0 ? EXIT_REPLY_ERROR : 0);
}

/* --since: a duration back from now (30d), or an RFC 3339 time. */
static int
ctl_since(const char *since, int64_t *out)
{
	int64_t	ms;

	if (parse_duration(since, &ms) == 0) {
		*out = now_ms() - ms;
		return (0);
	}
	if (parse_rfc3339(since, strlen(since), out) == 0)
		return (0);
	fprintf(stderr, "refguardctl: --since: neither a duration (30d) nor "
	    "an RFC 3339 time: %s\n", since);
	return (-1);
}

/*
 * The configuration for the commands that open the store: -c FILE, else
 * with --state DIR the defaults, else the default file. *state (NULL: not
 * given) becomes the state directory. NULL (and said) on error.
 */
static struct conf *
ctl_conf(const char **state)
{
	struct conf	*cf;
	char		*cause = NULL;

	if (conf_path != NULL || *state == NULL) {
		const char *p = conf_path ? conf_path : CONF_DEFAULT_PATH;

		if ((cf = conf_load(p, &cause)) == NULL) {
			fprintf(stderr, "refguardctl: %s\n", cause);
			free(cause);
			return (NULL);
		}
	} else
		cf = conf_default();
	if (*state == NULL)
		*state = cf->state_dir;
	return (cf);
}

/*
 * backtest: the store opened read-only (never blocks the daemon), the
 * candidate rules compiled with the installation's secret so that list
 * values hash as the stored events' do; the secret is never created, and
 * must be the one the store records (secret.h).
 */
static int
ctl_backtest(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rules",	required_argument,	NULL, 'r' },
		{ "since",	required_argument,	NULL, 'S' },
		{ "until",	required_argument,	NULL, 'U' },
		{ "state",	required_argument,	NULL, 'd' },
		{ "samples",	required_argument,	NULL, 'n' },
		{ "json",	no_argument,		NULL, 'j' },
		{ NULL,		0,			NULL, 0 }
	};
	struct backtest_opts	 bo;
	struct store_opts	 so;
	struct ident_conf	 ic;
	struct conf		*cf;
	struct ident		*id;
	struct ruleset		*rs;
	struct store		*st;
	struct backtest		*bt;
	struct secret_status	 ss;
	const char		*rules = NULL, *state = NULL, *since = NULL;
	const char		*until = NULL;
	char			*cause = NULL, *diag = NULL, *secret = NULL, *end;
	bool			 json = ctl_out_json();
	unsigned long		 n;
	int			 ch;

	memset(&bo, 0, sizeof(bo));
	bo.since = INT64_MIN;
	bo.until = INT64_MAX;
	bo.samples = 5;
	optind = 0;	/* glibc: re-initialize (main scanned with "+") */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': rules = optarg; break;
		case 'S': since = optarg; break;
		case 'U': until = optarg; break;
		case 'd': state = optarg; break;
		case 'j': json = true; break;
		case 'n':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || *optarg == '\0' ||
			    n > 100000) {
				fprintf(stderr, "refguardctl: --samples: "
				    "not a number up to 100000: %s\n", optarg);
				return (EXIT_USAGE);
			}
			bo.samples = n;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || rules == NULL)
		usage();
	if (since != NULL && ctl_since(since, &bo.since) != 0)
		return (EXIT_USAGE);
	if (until != NULL &&
	    parse_rfc3339(until, strlen(until), &bo.until) != 0) {
		fprintf(stderr, "refguardctl: --until: not an RFC 3339 time: "
		    "%s\n", until);
		return (EXIT_USAGE);
	}

	/* -c: the daemon's store and secret; --state DIR: DIR, DIR/secret. */
	if ((cf = ctl_conf(&state)) == NULL)
		return (EXIT_REPLY_ERROR);
	memset(&so, 0, sizeof(so));
	so.dir = state;
	so.readonly = true;
	if ((st = store_open(&so, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		free(cause);
		conf_free(cf);
		return (EXIT_REPLY_ERROR);
	}
	conf_ident(cf, &ic);
	if (conf_path == NULL) {
		xasprintf(&secret, "%s/secret", state);
		ic.secret_file = secret;
	}
	ic.secret_nocreate = true;
	ic.geoip = NULL;	/* events already hold their geo facts */
	ic.ngeoip = 0;
	if ((id = secret_ident_new(st, state, &ic, &ss, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s (backtest reads the "
		    "installation's secret and never creates one)\n", cause);
		free(cause);
		free(secret);
		store_close(st);
		conf_free(cf);
		return (EXIT_REPLY_ERROR);
	}
	if (ss.unverified)
		fprintf(stderr, "refguardctl: warning: the store in %s records "
		    "no fingerprint of its secret yet (refguardd records it at "
		    "its next start): %s could not be checked\n", state,
		    ic.secret_file);
	free(secret);
	rs = rules_load(rules, id, cf->rules_max_bytes, &diag);
	ident_free(id);
	if (diag != NULL)
		fprintf(stderr, "%s%s", diag, diag[strlen(diag) - 1] == '\n' ?
		    "" : "\n");
	free(diag);
	if (rs == NULL) {
		store_close(st);
		conf_free(cf);
		return (EXIT_REPLY_ERROR);
	}
	bt = backtest_run(st, rs, &bo, &cause);
	if (bt == NULL)
		fprintf(stderr, "refguardctl: %s\n", cause);
	else
		backtest_print(bt, stdout, json);
	fflush(stdout);
	free(cause);
	backtest_free(bt);
	store_close(st);
	rules_unref(rs);
	conf_free(cf);
	return (bt == NULL ? EXIT_REPLY_ERROR : 0);
}

/*
 * check and observe: a request built from flags, or read from stdin
 * ("-", one JSON object, flags override its fields). The daemon validates
 * it: a bad value is its bad_request reply (exit 1), not a usage error.
 */
enum req_flag { RF_STR, RF_TS, RF_NUM, RF_DEVICE };

struct req_opt {
	const char	*name;		/* the long option */
	const char	*party;		/* NULL: top level */
	const char	*field;		/* in the party or the request */
	const char	*sub;		/* device attribute, or NULL */
	enum req_flag	 type;
};

#define PARTY_OPTS(p)							\
	{ p "-account", p, "account", NULL, RF_STR },			\
	{ p "-email", p, "email", NULL, RF_STR },			\
	{ p "-ip", p, "ip", NULL, RF_STR },				\
	{ p "-phone", p, "phone", NULL, RF_STR },			\
	{ p "-payment", p, "payment", NULL, RF_STR },			\
	{ p "-device-id", p, "device", "id", RF_STR },			\
	{ p "-ua", p, "device", "ua", RF_STR },				\
	{ p "-device", p, "device", NULL, RF_DEVICE }

static const struct req_opt check_opts[] = {
	{ "id", NULL, "id", NULL, RF_STR },
	{ "ts", NULL, "ts", NULL, RF_TS },
	{ "campaign", NULL, "campaign", NULL, RF_STR },
	{ "reward-amount", "reward", "amount", NULL, RF_NUM },
	{ "reward-currency", "reward", "currency", NULL, RF_STR },
	PARTY_OPTS("referrer"),
	PARTY_OPTS("referee"),
};

static const struct req_opt observe_opts[] = {
	{ "kind", NULL, "kind", NULL, RF_STR },
	{ "ts", NULL, "ts", NULL, RF_TS },
	{ "account", NULL, "account", NULL, RF_STR },
	{ "email", NULL, "email", NULL, RF_STR },
	{ "ip", NULL, "ip", NULL, RF_STR },
	{ "phone", NULL, "phone", NULL, RF_STR },
	{ "payment", NULL, "payment", NULL, RF_STR },
	{ "device-id", NULL, "device", "id", RF_STR },
	{ "ua", NULL, "device", "ua", RF_STR },
	{ "device", NULL, "device", NULL, RF_DEVICE },
};

/* The object o[key], created when missing; NULL when it is not one. */
static json_t *
req_child(json_t *o, const char *key)
{
	json_t	*c = json_object_get(o, key);

	if (c == NULL) {
		c = json_object();
		json_object_set_new(o, key, c);
	}
	return (json_is_object(c) ? c : NULL);
}

static int
req_set(json_t *req, const struct req_opt *ro, const char *arg)
{
	json_t		*o = req, *v;
	const char	*eq, *key = ro->field;
	char		*end, *attr = NULL;
	double		 d;
	int		 rc = 0;

	switch (ro->type) {
	case RF_STR:
		v = json_string(arg);
		break;
	case RF_TS:	/* Unix milliseconds, or an RFC 3339 string */
		if (*arg != '\0' && strspn(arg, "0123456789") == strlen(arg))
			v = json_integer(strtoll(arg, NULL, 10));
		else
			v = json_string(arg);
		break;
	case RF_NUM:
		errno = 0;
		d = strtod(arg, &end);
		if (*arg == '\0' || *end != '\0' || errno != 0) {
			fprintf(stderr, "refguardctl: --%s: not a number: "
			    "%s\n", ro->name, arg);
			return (-1);
		}
		v = json_real(d);
		break;
	case RF_DEVICE:
		if ((eq = strchr(arg, '=')) == NULL || eq == arg) {
			fprintf(stderr, "refguardctl: --%s: not KEY=VALUE: "
			    "%s\n", ro->name, arg);
			return (-1);
		}
		attr = xstrndup(arg, (size_t)(eq - arg));
		v = json_string(eq + 1);
		break;
	default:
		abort();
	}
	if (v == NULL) {
		fprintf(stderr, "refguardctl: --%s: not valid UTF-8\n",
		    ro->name);
		free(attr);
		return (-1);
	}
	if (ro->party != NULL && (o = req_child(o, ro->party)) == NULL)
		goto notobj;
	if (ro->sub != NULL || attr != NULL) {
		if ((o = req_child(o, key)) == NULL)
			goto notobj;
		key = attr != NULL ? attr : ro->sub;
	}
	json_object_set_new(o, key, v);
	free(attr);
	return (rc);
notobj:
	fprintf(stderr, "refguardctl: --%s: the request's %s is not an "
	    "object\n", ro->name, ro->party != NULL ? ro->party : ro->field);
	json_decref(v);
	free(attr);
	return (-1);
}

static int
ctl_request(const char *op, const struct req_opt *ros, size_t nros,
    int argc, char **argv)
{
	struct option	*lo;
	json_error_t	 je;
	json_t		*req = NULL, *v;
	char		*line;
	size_t		 i;
	int		 ch, idx, rc, nflags = 0;
	bool		 from_stdin = false;

	lo = xcalloc(nros + 1, sizeof(*lo));
	for (i = 0; i < nros; i++) {
		lo[i].name = ros[i].name;
		lo[i].has_arg = required_argument;
		lo[i].val = 0;
	}
	/* "-" is an operand; scan the flags first, apply them after stdin. */
	optind = 0;	/* glibc: re-initialize (main scanned with "+") */
	while ((ch = getopt_long(argc, argv, "", lo, &idx)) != -1) {
		if (ch != 0) {
			free(lo);
			usage();
		}
		nflags++;
	}
	for (; optind < argc; optind++) {
		if (strcmp(argv[optind], "-") != 0 || from_stdin) {
			free(lo);
			usage();
		}
		from_stdin = true;
	}
	if (!from_stdin && nflags == 0) {
		free(lo);
		usage();
	}
	if (from_stdin) {
		req = json_loadf(stdin, JSON_REJECT_DUPLICATES, &je);
		if (req == NULL || !json_is_object(req)) {
			fprintf(stderr, "refguardctl: %s: stdin: %s\n", op,
			    req == NULL ? je.text : "not a JSON object");
			json_decref(req);
			free(lo);
			return (EXIT_USAGE);
		}
		v = json_object_get(req, "op");
		if (v != NULL && (!json_is_string(v) ||
		    strcmp(json_string_value(v), op) != 0)) {
			fprintf(stderr, "refguardctl: %s: stdin holds another "
			    "op\n", op);
			json_decref(req);
			free(lo);
			return (EXIT_USAGE);
		}
	} else
		req = json_object();
	json_object_set_new(req, "op", json_string(op));
	optind = 0;	/* glibc: re-initialize (main scanned with "+") */
	while ((ch = getopt_long(argc, argv, "", lo, &idx)) != -1)
		if (req_set(req, &ros[idx], optarg) != 0) {
			json_decref(req);
			free(lo);
			return (EXIT_USAGE);
		}
	free(lo);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	rc = ctl_one(line, strcmp(op, "check") == 0 ? ctl_out_verdict :
	    ctl_out_reply);
	free(line);
	return (rc);
}

/* Send one request built as a JSON object (taken over), print the reply. */
static int
ctl_json(json_t *o, ctl_fmt_fn fmt)
{
	char	*line = json_dumps(o, JSON_COMPACT);
	int	 rc;

	json_decref(o);
	if (line == NULL) {
		fprintf(stderr, "refguardctl: cannot encode the request\n");
		return (EXIT_USAGE);
	}
	rc = ctl_one(line, fmt);
	free(line);
	return (rc);
}

/*
 * recheck ID [--ts T]: as of T (RFC 3339 or Unix milliseconds; the daemon
 * checks it) instead of now.
 */
static int
ctl_recheck(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ts",		required_argument,	NULL, 't' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*ts = NULL;
	json_t		*o;
	int		 ch;

	optind = 0;	/* glibc: re-initialize (main scanned with "+") */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 't')
			usage();
		ts = optarg;
	}
	if (optind != argc - 1)
		usage();
	o = json_pack("{s:s,s:s}", "op", "recheck", "id", argv[optind]);
	if (ts != NULL && ts[0] != '\0' && strspn(ts, "0123456789") ==
	    strlen(ts) && strlen(ts) <= 15)
		json_object_set_new(o, "ts", json_integer(strtoll(ts, NULL,
		    10)));
	else if (ts != NULL)
		json_object_set_new(o, "ts", json_string(ts));
	return (ctl_json(o, ctl_out_verdict));
}

/* feedback (--id ID | --account A) --label L [--note N] [--by WHO] */
static int
ctl_feedback(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id",		required_argument,	NULL, 'i' },
		{ "account",	required_argument,	NULL, 'a' },
		{ "label",	required_argument,	NULL, 'l' },
		{ "note",	required_argument,	NULL, 'n' },
		{ "by",		required_argument,	NULL, 'b' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*id = NULL, *account = NULL, *label = NULL;
	const char	*note = NULL, *by = NULL;
	json_t		*o;
	int		 ch;

	optind = 0;	/* glibc: re-initialize (main scanned with "+") */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i': id = optarg; break;
		case 'a': account = optarg; break;
		case 'l': label = optarg; break;
		case 'n': note = optarg; break;
		case 'b': by = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || label == NULL || (id == NULL) == (account == NULL))
		usage();
	o = json_pack("{s:s,s:s}", "op", "feedback", "label", label);
	if (id != NULL)
		json_object_set_new(o, "id", json_string(id));
	if (account != NULL)
		json_object_set_new(o, "account", json_string(account));
	if (note != NULL)
		json_object_set_new(o, "note", json_string(note));
	if (by != NULL)
		json_object_set_new(o, "by", json_string(by));
	return (ctl_json(o, ctl_out_reply));
}

/* The options lists add/del/get/import share. */
struct ctl_listopts {
	const char	*kind, *expires, *reason, *by;
	long		 limit;
};

static int
ctl_list_opts(int argc, char **argv, struct ctl_listopts *lo)
{
	static const struct option longopts[] = {
		{ "kind",	required_argument,	NULL, 'k' },
		{ "expires",	required_argument,	NULL, 'e' },
		{ "reason",	required_argument,	NULL, 'r' },
		{ "by",		required_argument,	NULL, 'b' },
		{ "limit",	required_argument,	NULL, 'n' },
		{ NULL,		0,			NULL, 0 }
	};
	char	*end;
	int	 ch;

	memset(lo, 0, sizeof(*lo));
	optind = 0;	/* re-initialize: main's getopt stopped at the command */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k': lo->kind = optarg; break;
		case 'e': lo->expires = optarg; break;
		case 'r': lo->reason = optarg; break;
		case 'b': lo->by = optarg; break;
		case 'n':
			lo->limit = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || lo->limit < 1) {
				fprintf(stderr, "refguardctl: --limit: not a "
				    "positive number: %s\n", optarg);
				exit(EXIT_USAGE);
			}
			break;
		default: usage();
		}
	}
	return (optind);
}

/* A list request; fields from lo unless already set in o. */
static json_t *
ctl_list_req(const char *op, const char *list, const struct ctl_listopts *lo)
{
	json_t	*o = json_pack("{s:s}", "op", op);

	if (list != NULL)
		json_object_set_new(o, "list", json_string(list));
	if (lo->kind != NULL)
		json_object_set_new(o, "kind", json_string(lo->kind));
	if (lo->expires != NULL && strcmp(op, "list.add") == 0)
		json_object_set_new(o, "expires", json_string(lo->expires));
	if (lo->reason != NULL && strcmp(op, "list.get") != 0)
		json_object_set_new(o, "reason", json_string(lo->reason));
	if (lo->by != NULL && strcmp(op, "list.get") != 0)
		json_object_set_new(o, "by", json_string(lo->by));
	return (o);
}

/*
 * lists import LIST FILE: a value a line ('#' comments and blank lines
 * skipped), or NDJSON objects {"value", "kind", "expires", "reason",
 * "by"}; sent in batches of pipelined requests. Prints a summary and the
 * lines that failed.
 */
#define CTL_IMPORT_BATCH	256
static int
ctl_lists_import(const char *list, const char *path,
    const struct ctl_listopts *lo)
{
	FILE		*f;
	struct sbuf	 out;
	char		*line = NULL, *p, *e, buf[4096];
	size_t		 cap = 0, n = 0, added = 0, failed = 0, lineno = 0;
	size_t		 got, linenos[CTL_IMPORT_BATCH];
	ssize_t		 len;
	json_t		*o, *in, *v;
	const char	*key;
	FILE		*sock;
	int		 fd, eof = 0;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "refguardctl: %s: %s\n", path, strerror(errno));
		return (EXIT_USAGE);
	}
	fd = ctl_connect();
	if ((sock = fdopen(dup(fd), "r")) == NULL) {
		perror("fdopen");
		return (EXIT_CONNECT);
	}
	sbuf_init(&out, 65536);
	while (!eof) {
		n = 0;
		sbuf_reset(&out);
		while (n < CTL_IMPORT_BATCH) {
			if ((len = getline(&line, &cap, f)) < 0) {
				eof = 1;
				break;
			}
			lineno++;
			for (p = line; *p == ' ' || *p == '\t'; p++)
				;
			e = p + strlen(p);
			while (e > p && (e[-1] == '\n' || e[-1] == '\r' ||
			    e[-1] == ' ' || e[-1] == '\t'))
				*--e = '\0';
			if (*p == '\0' || *p == '#')
				continue;
			o = ctl_list_req("list.add", list, lo);
			if (*p == '{') {
				if ((in = json_loads(p, 0, NULL)) == NULL ||
				    !json_is_object(in)) {
					fprintf(stderr, "%s:%zu: not a JSON "
					    "object\n", path, lineno);
					json_decref(in);
					json_decref(o);
					failed++;
					continue;
				}
				json_object_foreach(in, key, v)
					json_object_set(o, key, v);
				json_decref(in);
			} else
				json_object_set_new(o, "value", json_string(p));
			json_object_set_new(o, "op", json_string("list.add"));
			if ((p = json_dumps(o, JSON_COMPACT)) != NULL) {
				sbuf_adds(&out, p);
				sbuf_addc(&out, '\n');
				free(p);
				linenos[n++] = lineno;
			}
			json_decref(o);
		}
		if (n == 0)
			continue;
		if (write_all(fd, out.buf, out.len) != 0) {
			perror("write");
			return (EXIT_CONNECT);
		}
		for (got = 0; got < n; got++) {
			if (fgets(buf, sizeof(buf), sock) == NULL) {
				fprintf(stderr, "refguardctl: the daemon closed "
				    "the connection\n");
				return (EXIT_CONNECT);
			}
			if (ctl_reply_is_error(buf, strlen(buf))) {
				buf[strcspn(buf, "\n")] = '\0';
				fprintf(stderr, "%s:%zu: %s\n", path,
				    linenos[got], buf);
				failed++;
			} else
				added++;
		}
	}
	printf("imported %zu values into list %s, %zu failed\n", added, list,
	    failed);
	free(line);
	sbuf_free(&out);
	fclose(sock);
	close(fd);
	fclose(f);
	return (failed > 0 ? EXIT_REPLY_ERROR : 0);
}

/* lists add|del|get|log|import ... */
static int
ctl_lists(int argc, char **argv)
{
	struct ctl_listopts	 lo;
	const char		*sub;
	json_t			*o;
	int			 i;

	if (argc < 2)
		usage();
	sub = argv[1];
	i = ctl_list_opts(argc - 1, argv + 1, &lo) + 1;
	argc -= i;
	argv += i;
	if (strcmp(sub, "log") == 0 && argc <= 1) {
		o = ctl_list_req("list.log", argc == 1 ? argv[0] : NULL, &lo);
		if (lo.limit > 0)
			json_object_set_new(o, "limit", json_integer(lo.limit));
		return (ctl_json(o, ctl_out_reply));
	}
	if (argc != 2)
		usage();
	if (strcmp(sub, "import") == 0)
		return (ctl_lists_import(argv[0], argv[1], &lo));
	if (strcmp(sub, "add") == 0)
		o = ctl_list_req("list.add", argv[0], &lo);
	else if (strcmp(sub, "del") == 0)
		o = ctl_list_req("list.del", argv[0], &lo);
	else if (strcmp(sub, "get") == 0)
		o = ctl_list_req("list.get", argv[0], &lo);
	else
		usage();
	json_object_set_new(o, "value", json_string(argv[1]));
	return (ctl_json(o, ctl_out_reply));
}

/* Progress of export and import: a bar when stderr is a terminal. */
static void
ctl_progress_cb(void *arg, uint64_t done, uint64_t total)
{
	struct ctl_progress	*p = arg;

	ctl_progress_set(p, done, total);
}

static int
ctl_open_store(const char *state, const struct conf *cf, bool readonly,
    struct store **st)
{
	struct store_opts	 so;
	char			*cause = NULL;

	memset(&so, 0, sizeof(so));
	so.dir = state;
	so.readonly = readonly;
	so.map_size = cf->map_size;
	so.map_max = cf->map_max;
	if ((*st = store_open(&so, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/*
 * export: read-only, like backtest; the total for the progress bar is
 * the store's event count at the start.
 */
static int
ctl_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state",	required_argument,	NULL, 'd' },
		{ "since",	required_argument,	NULL, 'S' },
		{ "output",	required_argument,	NULL, 'o' },
		{ NULL,		0,			NULL, 0 }
	};
	struct export_opts	 eo;
	struct export_counts	 ec;
	struct store_stat	 ss;
	struct conf		*cf;
	struct store		*st;
	const char		*state = NULL, *path = NULL;
	char			*cause = NULL, *tmp = NULL;
	FILE			*out = stdout;
	int			 ch, rc = EXIT_REPLY_ERROR;

	memset(&eo, 0, sizeof(eo));
	eo.since = INT64_MIN;
	optind = 0;	/* glibc: re-initialize (main scanned with "+") */
	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': state = optarg; break;
		case 'o': path = optarg; break;
		case 'S':
			if (ctl_since(optarg, &eo.since) != 0)
				return (EXIT_USAGE);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if ((cf = ctl_conf(&state)) == NULL)
		return (EXIT_REPLY_ERROR);
	if (ctl_open_store(state, cf, true, &st) != 0) {
		conf_free(cf);
		return (EXIT_REPLY_ERROR);
	}
	/* -o FILE: written beside, renamed into place when complete. */
	if (path != NULL && strcmp(path, "-") != 0) {
		xasprintf(&tmp, "%s.tmp", path);
		if ((out = fopen(tmp, "we")) == NULL) {
			fprintf(stderr, "refguardctl: %s: %s\n", tmp,
			    strerror(errno));
			goto done;
		}
	}
	if (store_stat(st, &ss, &cause) == 0) {
		struct ctl_progress *p = ctl_progress_new("export", ss.events);

		eo.progress = ctl_progress_cb;
		eo.progress_arg = p;
		if (export_run(st, out, &eo, &ec, &cause) == 0)
			rc = 0;
		ctl_progress_done(p);
	}
	if (out != stdout && fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "refguardctl: %s: %s\n", tmp, strerror(errno));
		rc = EXIT_REPLY_ERROR;
	}
	if (rc == 0 && tmp != NULL && rename(tmp, path) != 0) {
		fprintf(stderr, "refguardctl: %s: %s\n", path, strerror(errno));
		rc = EXIT_REPLY_ERROR;
	}
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	if (rc != 0 && cause != NULL)
		fprintf(stderr, "refguardctl: export: %s\n", cause);
	if (rc == 0 && out != stdout)
		fprintf(stderr, "refguardctl: exported %" PRIu64 " events, %"
		    PRIu64 " verdicts to %s\n", ec.events, ec.verdicts, path);
done:
	free(cause);
	free(tmp);
	store_close(st);
	conf_free(cf);
	return (rc);
}

/*
 * Is the LMDB environment in dir open in another process? Every process
 * that has it open holds a shared fcntl lock on byte 0 of lock.mdb (LMDB's
 * mdb_env_excl_lock()), so a write lock there would conflict. Checked
 * before this process opens it: closing our fd drops only our own locks,
 * and there are none yet. Returns the pid, 0 when free, -1 on error.
 */
static pid_t
ctl_env_user(const char *dir)
{
	struct flock	 fl;
	char		*path;
	int		 fd;

	xasprintf(&path, "%s/lock.mdb", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return (errno == ENOENT ? 0 : -1);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	if (fcntl(fd, F_GETLK, &fl) != 0) {
		close(fd);
		return (-1);
	}
	close(fd);
	return (fl.l_type == F_UNLCK ? 0 : fl.l_pid);
}

/*
 * The export holds hashes keyed by the old installation's secret: the
 * target's secret file (caller frees), and its fingerprint when it exists
 * (export_import() refuses an export made with another). 0 with *have
 * set, or -1 (said).
 */
static int
ctl_import_secret(const struct conf *cf, const char *state, char **path,
    struct rg_hash *fp, bool *have)
{
	struct ident_conf	 ic;
	struct ident		*id;
	struct stat		 sb;
	char			*cause = NULL;

	/* --state DIR without -c: the daemon would be run with DIR/secret. */
	if (conf_path == NULL || cf->hash_secret_file == NULL)
		xasprintf(path, "%s/secret", state);
	else
		*path = xstrdup(cf->hash_secret_file);
	*have = stat(*path, &sb) == 0;
	if (!*have)
		return (0);
	memset(&ic, 0, sizeof(ic));
	ic.secret_file = *path;
	ic.secret_nocreate = true;
	if ((id = ident_new(&ic, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		free(cause);
		return (-1);
	}
	ident_secret_fp(id, fp);
	ident_free(id);
	return (0);
}

static int
ctl_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state",	required_argument,	NULL, 'd' },
		{ NULL,		0,			NULL, 0 }
	};
	struct export_opts	 eo;
	struct export_counts	 ec;
	struct ctl_progress	*p;
	struct conf		*cf = NULL;
	struct store		*st;
	struct rg_hash		 fp;
	const char		*state = NULL, *path;
	char			*cause = NULL, *secret = NULL;
	FILE			*in;
	pid_t			 pid;
	bool			 have_secret;
	int			 ch, rc = EXIT_REPLY_ERROR;

	optind = 0;	/* glibc: re-initialize (main scanned with "+") */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'd')
			usage();
		state = optarg;
	}
	if (optind != argc - 1)
		usage();
	path = argv[optind];
	if (strcmp(path, "-") == 0)
		in = stdin;
	else if ((in = fopen(path, "re")) == NULL) {
		fprintf(stderr, "refguardctl: %s: %s\n", path, strerror(errno));
		return (EXIT_USAGE);
	}
	if ((cf = ctl_conf(&state)) == NULL)
		goto close;
	if (mkdir(state, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "refguardctl: %s: %s\n", state,
		    strerror(errno));
		goto close;
	}
	if ((pid = ctl_env_user(state)) != 0) {
		if (pid < 0)
			fprintf(stderr, "refguardctl: %s/lock.mdb: %s\n", state,
			    strerror(errno));
		else
			fprintf(stderr, "refguardctl: the store in %s is in use "
			    "by process %ld (a running refguardd?): stop it "
			    "before importing\n", state, (long)pid);
		goto close;
	}
	if (ctl_import_secret(cf, state, &secret, &fp, &have_secret) != 0)
		goto close;
	if (ctl_open_store(state, cf, false, &st) != 0)
		goto close;
	memset(&eo, 0, sizeof(eo));
	eo.secret_fp = have_secret ? &fp : NULL;
	p = ctl_progress_new("import", 0);
	eo.progress = ctl_progress_cb;
	eo.progress_arg = p;
	if (export_import(st, in, strcmp(path, "-") == 0 ? "stdin" : path,
	    &eo, &ec, &cause) == 0) {
		rc = 0;
		ctl_progress_done(p);
		fprintf(stderr, "refguardctl: imported %" PRIu64 " events, %"
		    PRIu64 " verdicts into %s\n", ec.events, ec.verdicts, state);
		if (!have_secret)
			fprintf(stderr, "refguardctl: warning: %s does not "
			    "exist: copy the exporting installation's "
			    "hash_secret_file there (mode 0600) before starting "
			    "refguardd, which refuses to start on this store "
			    "without it\n", secret);
	} else {
		ctl_progress_done(p);
		fprintf(stderr, "refguardctl: import: %s\n", cause);
		free(cause);
	}
	store_close(st);
close:
	free(secret);
	if (cf != NULL)
		conf_free(cf);
	if (in != stdin)
		fclose(in);
	return (rc);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,	NULL, 'j' },
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL,		0,		NULL, 0 }
	};
	const char	*cmd;
	bool		 json = false;
	int		 ch, fd, rc, i, j;

	sock_path = getenv("REFGUARD_SOCKET");
	if (sock_path == NULL || *sock_path == '\0')
		sock_path = DEFAULT_SOCKET;
	log_init("refguardctl", LOG_TARGET_STDERR, LOG_LEVEL_WARN);
	while ((ch = getopt_long(argc, argv, "+c:s:hjV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 's':
			sock_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'V':
			printf("refguardctl %s\n", PACKAGE_VERSION);
			return (0);
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	/* --json may also follow the command (refguardctl stats --json). */
	for (i = j = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				argv[j++] = argv[i++];
			break;
		}
		if (i > 0 && strcmp(argv[i], "--json") == 0)
			json = true;
		else
			argv[j++] = argv[i];
	}
	argc = j;
	argv[argc] = NULL;
	if (argc < 1)
		usage();
	ctl_out_init(json);
	cmd = argv[0];
	if (strcmp(cmd, "ping") == 0 && argc == 1)
		return (ctl_one("{\"op\":\"ping\"}", ctl_out_reply));
	if (strcmp(cmd, "stats") == 0 && argc == 1)
		return (ctl_one("{\"op\":\"stats\"}", ctl_out_stats));
	if (strcmp(cmd, "reload") == 0 && argc == 1)
		return (ctl_one("{\"op\":\"reload\"}", ctl_out_reply));
	if (strcmp(cmd, "verdict") == 0 && argc == 2)
		return (ctl_with_id(cmd, argv[1], ctl_out_verdict));
	if (strcmp(cmd, "explain") == 0 && argc == 2)
		return (ctl_with_id(cmd, argv[1], ctl_out_explain));
	if (strcmp(cmd, "check") == 0)
		return (ctl_request(cmd, check_opts, nitems(check_opts), argc,
		    argv));
	if (strcmp(cmd, "observe") == 0)
		return (ctl_request(cmd, observe_opts, nitems(observe_opts),
		    argc, argv));
	if (strcmp(cmd, "export") == 0)
		return (ctl_export(argc, argv));
	if (strcmp(cmd, "import") == 0)
		return (ctl_import(argc, argv));
	if (strcmp(cmd, "recheck") == 0)
		return (ctl_recheck(argc, argv));
	if (strcmp(cmd, "rules") == 0 && argc >= 2 &&
	    strcmp(argv[1], "check") == 0)
		return (ctl_rules_check(argc - 1, argv + 1));
	if (strcmp(cmd, "backtest") == 0)
		return (ctl_backtest(argc, argv));
	if (strcmp(cmd, "feedback") == 0)
		return (ctl_feedback(argc, argv));
	if (strcmp(cmd, "lists") == 0)
		return (ctl_lists(argc, argv));
	/* send: the raw reply lines, whatever the mode (a script's tool). */
	if (strcmp(cmd, "send") == 0 && argc <= 2) {
		if (argc == 1 || strcmp(argv[1], "-") == 0)
			return (ctl_pipe(STDIN_FILENO, ctl_out_raw));
		if ((fd = open(argv[1], O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "refguardctl: %s: %s\n", argv[1],
			    strerror(errno));
			return (EXIT_USAGE);
		}
		rc = ctl_pipe(fd, ctl_out_raw);
		close(fd);
		return (rc);
	}
	usage();
}
