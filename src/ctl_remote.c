/*
 * ctl_remote.c: refguardctl's requests to the daemon: the socket, and the
 * commands that are one request and its reply (ping, stats, reload,
 * verdict, explain, check, observe, recheck, send). See ctl.h.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "sbuf.h"
#include "util.h"

int
ctl_try_connect(void)
{
	struct sockaddr_un	sun;
	int			fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(ctl_sock_path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(sun.sun_path, ctl_sock_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return (-1);
	}
	return (fd);
}

int
ctl_connect(void)
{
	int	fd;

	if ((fd = ctl_try_connect()) < 0) {
		fprintf(stderr, "refguardctl: cannot connect to %s: %s\n",
		    ctl_sock_path, strerror(errno));
		exit(CTL_EXIT_CONNECT);
	}
	return (fd);
}

/*
 * Send everything from in (a file descriptor) and print each reply line.
 * Writes and reads interleave so that a large input never deadlocks
 * against replies the daemon cannot send. Each reply line goes to fmt
 * (ctl_out.h). Returns the exit status.
 */
int
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
			return (CTL_EXIT_CONNECT);
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
				return (CTL_EXIT_CONNECT);
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
					return (CTL_EXIT_CONNECT);
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
	return (err ? CTL_EXIT_ERROR : 0);
}

/* One request line, one reply. */
int
ctl_one(const char *line, ctl_fmt_fn fmt)
{
	int	p[2], rc;

	if (pipe(p) != 0) {
		perror("pipe");
		return (CTL_EXIT_CONNECT);
	}
	/* The whole line must fit before ctl_pipe() reads it (check -). */
	if (strlen(line) + 1 > 65536 &&
	    fcntl(p[1], F_SETPIPE_SZ, (int)strlen(line) + 1) < 0) {
		fprintf(stderr, "refguardctl: request too large (%zu bytes)\n",
		    strlen(line));
		return (CTL_EXIT_USAGE);
	}
	if (write_all(p[1], line, strlen(line)) != 0 ||
	    write_all(p[1], "\n", 1) != 0) {
		perror("write");
		return (CTL_EXIT_CONNECT);
	}
	close(p[1]);
	rc = ctl_pipe(p[0], fmt);
	close(p[0]);
	return (rc);
}

json_t *
ctl_time_arg(const char *s)
{
	if (s[0] != '\0' && strspn(s, "0123456789") == strlen(s) &&
	    strlen(s) <= 15)
		return (json_integer(strtoll(s, NULL, 10)));
	return (json_string(s));
}

static int
ctl_with_id(const char *op, const char *id, ctl_fmt_fn fmt)
{
	struct sbuf	sb;
	int		rc;

	/* Built by hand: an id that is not UTF-8 still goes to the daemon,
	 * which names the problem. */
	sbuf_init(&sb, 128);
	sbuf_addf(&sb, "{\"op\":\"%s\",\"id\":", op);
	sbuf_add_jstr(&sb, id, strlen(id));
	sbuf_addc(&sb, '}');
	rc = ctl_one(sb.buf, fmt);
	sbuf_free(&sb);
	return (rc);
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
	while ((ch = getopt_long(argc, argv, "", lo, &idx)) != -1) {
		if (ch != 0) {
			free(lo);
			ctl_badusage();
		}
		nflags++;
	}
	for (; optind < argc; optind++) {
		if (strcmp(argv[optind], "-") != 0 || from_stdin) {
			free(lo);
			ctl_badusage();
		}
		from_stdin = true;
	}
	if (!from_stdin && nflags == 0) {
		free(lo);
		ctl_badusage();
	}
	if (from_stdin) {
		req = json_loadf(stdin, JSON_REJECT_DUPLICATES, &je);
		if (req == NULL || !json_is_object(req)) {
			fprintf(stderr, "refguardctl: %s: stdin: %s\n", op,
			    req == NULL ? je.text : "not a JSON object");
			json_decref(req);
			free(lo);
			return (CTL_EXIT_USAGE);
		}
		v = json_object_get(req, "op");
		if (v != NULL && (!json_is_string(v) ||
		    strcmp(json_string_value(v), op) != 0)) {
			fprintf(stderr, "refguardctl: %s: stdin holds another "
			    "op\n", op);
			json_decref(req);
			free(lo);
			return (CTL_EXIT_USAGE);
		}
	} else
		req = json_object();
	json_object_set_new(req, "op", json_string(op));
	optind = 0;	/* glibc: re-initialize for the second pass */
	while ((ch = getopt_long(argc, argv, "", lo, &idx)) != -1)
		if (req_set(req, &ros[idx], optarg) != 0) {
			json_decref(req);
			free(lo);
			return (CTL_EXIT_USAGE);
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
int
ctl_json(json_t *o, ctl_fmt_fn fmt)
{
	char	*line = json_dumps(o, JSON_COMPACT);
	int	 rc;

	json_decref(o);
	if (line == NULL) {
		fprintf(stderr, "refguardctl: cannot encode the request\n");
		return (CTL_EXIT_USAGE);
	}
	rc = ctl_one(line, fmt);
	free(line);
	return (rc);
}

/*
 * recheck ID [--ts T]: as of T (RFC 3339 or Unix milliseconds; the daemon
 * checks it) instead of now.
 */
int
ctl_recheck(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ts",		required_argument,	NULL, 't' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*ts = NULL;
	json_t		*o;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 't')
			ctl_badusage();
		ts = optarg;
	}
	if (optind != argc - 1)
		ctl_badusage();
	o = json_pack("{s:s,s:s}", "op", "recheck", "id", argv[optind]);
	if (ts != NULL)
		json_object_set_new(o, "ts", ctl_time_arg(ts));
	return (ctl_json(o, ctl_out_verdict));
}


static json_t *
ctl_int_arg(const char *s)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0)
		ctl_badusage();
	return (json_integer(v));
}

/*
 * queue list|get|claim|unclaim|decide: the review queue. Options become
 * the request's fields ("--score-min" is "score_min"); operands are the
 * referral ids (one for get, claim and unclaim; any number for decide).
 */
int
ctl_queue(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state",	required_argument,	NULL, 's' },
		{ "action",	required_argument,	NULL, 'a' },
		{ "rule",	required_argument,	NULL, 'r' },
		{ "campaign",	required_argument,	NULL, 'c' },
		{ "assignee",	required_argument,	NULL, 'w' },
		{ "score-min",	required_argument,	NULL, 'm' },
		{ "score-max",	required_argument,	NULL, 'M' },
		{ "since",	required_argument,	NULL, 'f' },
		{ "until",	required_argument,	NULL, 'u' },
		{ "sort",	required_argument,	NULL, 'o' },
		{ "cursor",	required_argument,	NULL, 'C' },
		{ "limit",	required_argument,	NULL, 'n' },
		{ "decision",	required_argument,	NULL, 'd' },
		{ "note",	required_argument,	NULL, 'N' },
		{ "by",		required_argument,	NULL, 'b' },
		{ "count",	required_argument,	NULL, 'k' },
		{ NULL,		0,			NULL, 0 }
	};
	static const char *const subs[] = {
		"list", "get", "claim", "unclaim", "decide",
	};
	const char	*sub, *key;
	char		 op[32];
	json_t		*o, *ids, *v, *filter;
	size_t		 i;
	int		 ch, nids;
	bool		 list, decide, filtering;

	if (argc < 2)
		ctl_badusage();
	sub = argv[1];
	for (i = 0; i < nitems(subs); i++)
		if (strcmp(sub, subs[i]) == 0)
			break;
	if (i == nitems(subs))
		ctl_badusage();
	list = i == 0;
	decide = i == 4;
	snprintf(op, sizeof(op), "queue.%s", sub);
	o = json_pack("{s:s}", "op", op);
	filter = json_object();
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		key = NULL;
		v = NULL;
		switch (ch) {
		case 's': key = "state"; break;
		case 'a': key = "action"; break;
		case 'r': key = "rule"; break;
		case 'c': key = "campaign"; break;
		case 'w': key = "assignee"; break;
		case 'm': key = "score_min"; v = ctl_int_arg(optarg); break;
		case 'M': key = "score_max"; v = ctl_int_arg(optarg); break;
		case 'f': key = "since"; v = ctl_time_arg(optarg); break;
		case 'u': key = "until"; v = ctl_time_arg(optarg); break;
		case 'o': key = "sort"; break;
		case 'C': key = "cursor"; break;
		case 'n': key = "limit"; v = ctl_int_arg(optarg); break;
		case 'd': key = "decision"; break;
		case 'N': key = "note"; break;
		case 'b': key = "by"; break;
		case 'k': key = "count"; v = ctl_int_arg(optarg); break;
		default: ctl_badusage();
		}
		/*
		 * The list's filters go with list, and with decide as its
		 * filter (with --count); the rest with the others.
		 */
		filtering = ch != 'd' && ch != 'N' && ch != 'b' && ch != 'k';
		if (v == NULL)
			v = json_string(optarg);
		if (filtering && decide && ch != 'o' && ch != 'C' && ch != 'n')
			json_object_set_new(filter, key, v);
		else if (filtering != list || (ch == 'k' && !decide)) {
			json_decref(v);		/* (a leak checker's view) */
			ctl_badusage();
		} else
			json_object_set_new(o, key, v);
	}
	nids = argc - optind;
	if (decide && json_object_size(filter) > 0) {
		if (nids != 0 || json_object_get(o, "count") == NULL)
			ctl_badusage();
		json_object_set(o, "filter", filter);
	} else if (list ? nids != 0 : decide ? nids < 1 : nids != 1)
		ctl_badusage();
	json_decref(filter);
	if (nids == 1)
		json_object_set_new(o, "id", json_string(argv[optind]));
	else if (nids > 1) {
		ids = json_array();
		for (; optind < argc; optind++)
			json_array_append_new(ids, json_string(argv[optind]));
		json_object_set_new(o, "ids", ids);
	}
	return (ctl_json(o, ctl_out_reply));
}

/* Commands that take no operand: one request. */
static int
ctl_noarg(int argc, const char *line, ctl_fmt_fn fmt)
{
	if (argc != 1)
		ctl_badusage();
	return (ctl_one(line, fmt));
}

int
ctl_ping(int argc, char **argv)
{
	(void)argv;
	return (ctl_noarg(argc, "{\"op\":\"ping\"}", ctl_out_reply));
}

int
ctl_stats(int argc, char **argv)
{
	(void)argv;
	return (ctl_noarg(argc, "{\"op\":\"stats\"}", ctl_out_stats));
}

int
ctl_rules_list(int argc, char **argv)
{
	(void)argv;
	return (ctl_noarg(argc, "{\"op\":\"rules\"}", ctl_out_rules));
}

int
ctl_reload(int argc, char **argv)
{
	(void)argv;
	return (ctl_noarg(argc, "{\"op\":\"reload\"}", ctl_out_reply));
}

int
ctl_verdict(int argc, char **argv)
{
	if (argc != 2)
		ctl_badusage();
	return (ctl_with_id("verdict", argv[1], ctl_out_verdict));
}

int
ctl_explain(int argc, char **argv)
{
	if (argc != 2)
		ctl_badusage();
	return (ctl_with_id("explain", argv[1], ctl_out_explain));
}

/* What the web console draws (graph.h), as key/value lines or --json. */
int
ctl_graph(int argc, char **argv)
{
	if (argc != 2)
		ctl_badusage();
	return (ctl_with_id("graph", argv[1], ctl_out_reply));
}

int
ctl_check(int argc, char **argv)
{
	return (ctl_request("check", check_opts, nitems(check_opts), argc,
	    argv));
}

int
ctl_observe(int argc, char **argv)
{
	return (ctl_request("observe", observe_opts, nitems(observe_opts),
	    argc, argv));
}

/* send: the raw reply lines, whatever the mode (a script's tool). */
int
ctl_send(int argc, char **argv)
{
	int	fd, rc;

	if (argc > 2)
		ctl_badusage();
	if (argc == 1 || strcmp(argv[1], "-") == 0)
		return (ctl_pipe(STDIN_FILENO, ctl_out_raw));
	if ((fd = open(argv[1], O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "refguardctl: %s: %s\n", argv[1],
		    strerror(errno));
		return (CTL_EXIT_USAGE);
	}
	rc = ctl_pipe(fd, ctl_out_raw);
	close(fd);
	return (rc);
}

/* The reply ctl_call() keeps: the last line ctl_one() handed over. */
static json_t	*call_reply;

static bool
call_keep(const char *line, size_t len)
{
	json_decref(call_reply);
	call_reply = json_loadb(line, len, 0, NULL);
	if (call_reply == NULL || !json_is_object(call_reply)) {
		fprintf(stderr, "refguardctl: the reply is not a JSON "
		    "object\n");
		return (true);
	}
	return (ctl_out_error(call_reply));
}

json_t *
ctl_call(const char *line, int *rc)
{
	json_t	*o;

	call_reply = NULL;
	*rc = ctl_one(line, call_keep);
	o = call_reply;
	call_reply = NULL;
	if (*rc != 0 || o == NULL) {
		json_decref(o);
		if (*rc == 0)
			*rc = CTL_EXIT_CONNECT;
		return (NULL);
	}
	return (o);
}
