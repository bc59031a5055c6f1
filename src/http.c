/*
 * http.c: the HTTP listener; see http.h.
 *
 * libevent's evhttp parses requests and enforces the body and header
 * limits. What evhttp 2.1 lacks is done around it, per connection
 * (struct http_conn):
 *
 * - The bufferevent is ours (evhttp_set_bevcb), made when evhttp accepts
 *   the connection: that is where connections are counted, so partial
 *   requests count towards http_max_connections; one past it is answered
 *   503 and closed at once. At the next turn of the loop the connection
 *   is "attached": its evhttp_connection (the bufferevent's callback
 *   argument) gets a close callback, which uncounts it.
 * - Every byte received goes through http_scan.h (an evbuffer callback on
 *   the input, which runs before evhttp reads it): a request breaking
 *   RFC 9112 is answered 400 (431, 501) and the connection closed.
 * - A request must arrive whole within http_timeout of its first byte
 *   (evhttp's timeout restarts with every byte, so a client trickling a
 *   byte at a time held its connection forever); else 408 and close.
 *   Time spent waiting for the daemon does not count.
 * - Host, Origin and Content-Type are checked before anything is served
 *   (docs/http.md, "Browsers").
 *
 * An answer evhttp cannot give (no request to answer: the connection is
 * refused, too slow, or its request was never handed over) is written
 * straight to the socket, whose write side is then shut; evhttp keeps
 * the connection (reading what the client still sends) until the client
 * closes, or HTTP_LINGER_MS more, so that closing it with unread input
 * does not reset it before the client has read the answer.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>

#include "accept.h"
#include "conf.h"
#include "cluster.h"
#include "conn.h"
#include "daemon.h"
#include "http.h"
#include "http_scan.h"
#include "http_ui.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"
#include "ops.h"
#include "util.h"
#include "writer.h"

#define HTTP_MAX_HEADERS	HTTP_SCAN_HEAD_MAX
#define HTTP_LINGER_MS		1000
#define HTTP_MAX_SEGS		6
#define HTTP_TOKEN_MIN		16
#define HTTP_TOKEN_MAX		4096

#define M_GET		EVHTTP_REQ_GET
#define M_POST		EVHTTP_REQ_POST
#define M_PUT		EVHTTP_REQ_PUT
#define M_DELETE	EVHTTP_REQ_DELETE

struct http_conn {
	struct http			*h;
	struct bufferevent		*bev;
	struct evhttp_connection	*evcon;	/* NULL until attached */
	struct event			*timer;	/* attach, deadline, linger */
	struct evbuffer_cb_entry	*incb;	/* scans the input */
	struct evbuffer_cb_entry	*outcb;	/* counts reply bytes */
	struct http_scan		 scan;
	size_t				 scanned; /* input bytes scanned */
	unsigned			 served;  /* requests handed to us */
	uint64_t			 deadline; /* mono_us; 0: none */
	unsigned			 deadline_req; /* whose deadline */
	bool				 counted; /* in h->stats.conns */
	bool				 bad_seen; /* scan.bad counted */
	bool				 answered; /* the bad request */
	bool				 aborted; /* answered on the socket */
	LIST_ENTRY(http_conn)		 entry;
};

struct http {
	struct daemon		*d;
	int			 fd;
	char			*path;		/* Unix socket: unlink at stop */
	char			*where;
	char			*token;		/* NULL: none asked */
	size_t			 tokenlen;
	struct evhttp		*http;
	struct evhttp_bound_socket *bound;
	struct accept_guard	*guard;		/* of bound's listener */
	LIST_HEAD(, http_conn)	 conns;
	size_t			 nconns;
	size_t			 pending;
	struct http_stats	 stats;
	in_port_t		 port;		/* TCP: network order; 0: Unix */
	char			*self;		/* TCP: the address as in Host */
	const struct conf	*conf;
	struct http_ui		*ui;		/* the console; NULL: none */
	char			*ui_error;	/* why not */
};

/* A request waiting for the writer: the owner of its job. */
struct http_req {
	struct http		*h;
	struct evhttp_request	*req;
};

/*
 * The routes: each op's (ops.h: a "*" segment is a parameter, given to
 * the request object under the name in params, in order; body: the JSON
 * body's fields are part of the request object), then these two.
 */
#define R_HEALTHZ	OP__MAX
#define R_METRICS	(OP__MAX + 1)
#define R_NROUTES	(OP__MAX + 2)

static const struct op_route own_routes[] = {
	[R_HEALTHZ - OP__MAX] = { "/healthz", M_GET, { NULL }, false },
	[R_METRICS - OP__MAX] = { "/metrics", M_GET, { NULL }, false },
};

/* Route i (< R_NROUTES); its path is NULL when op i has none. */
static const struct op_route *
http_route(int i)
{
	return (i < OP__MAX ? &ops[i].route : &own_routes[i - OP__MAX]);
}

static const struct {
	int		 method;
	const char	*name;
} methods[] = {
	{ EVHTTP_REQ_GET, "GET" }, { EVHTTP_REQ_HEAD, "HEAD" },
	{ EVHTTP_REQ_POST, "POST" }, { EVHTTP_REQ_PUT, "PUT" },
	{ EVHTTP_REQ_DELETE, "DELETE" },
};

static void	http_job_done(struct job *, void *);

static const char *
http_reason(int status)
{
	switch (status) {
	case 400:
		return ("Bad Request");
	case 403:
		return ("Forbidden");
	case 408:
		return ("Request Timeout");
	case 415:
		return ("Unsupported Media Type");
	case 501:
		return ("Not Implemented");
	case 503:
		return ("Service Unavailable");
	}
	return ("Error");
}

/*
 * An error answered straight on a socket that evhttp does not serve (yet,
 * or any more): the status line and the NDJSON error body, as one
 * string (caller frees).
 */
static char *
http_error_text(int status, const char *code, const char *msg, size_t *len)
{
	struct req_error	 err = { .code = code };
	char			*body, *text;
	size_t			 blen;
	int			 n;

	snprintf(err.msg, sizeof(err.msg), "%s", msg);
	body = req_error_reply(&err, NULL, 0, &blen);
	n = xasprintf(&text, "HTTP/1.1 %d %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nCache-Control: "
	    "no-store\r\nConnection: close\r\n\r\n%s\n", status,
	    http_reason(status), blen + 1, body);
	free(body);
	*len = (size_t)n;
	return (text);
}

/* accept.h: a connection accepted with the reserve descriptor. */
static void
http_refuse(int fd, void *arg)
{
	struct http	*h = arg;
	char		*text;
	size_t		 len;

	metrics_http_status(h->d, 503);
	if (h->d->stopping)
		text = http_error_text(503, "stopping", "refguardd is shutting "
		    "down", &len);
	else
		text = http_error_text(503, "too_many_connections",
		    "connection limit reached; try again later", &len);
	if (fd_answer_close(fd, text, len) != 0)
		log_debug("http refusal not sent error=\"%s\"",
		    strerror(errno));
	free(text);
	close(fd);
}

int
http_token_read(const char *path, char **token, char **cause)
{
	struct stat	 sb;
	char		 buf[HTTP_TOKEN_MAX + 2], *msg;
	ssize_t		 n;
	size_t		 len = 0, i;
	int		 fd;

	*token = NULL;
	if ((fd = file_open_regular(path, FILE_NOFOLLOW, &sb, &msg)) < 0) {
		xasprintf(cause, "http_token_file %s", msg);
		free(msg);
		return (-1);
	}
	if ((sb.st_mode & 077) != 0) {
		xasprintf(cause, "http_token_file %s: accessible by group or "
		    "others (mode %03o); chmod 600 it", path,
		    (unsigned)(sb.st_mode & 0777));
		goto fail;
	}
	while (len < sizeof(buf) - 1 &&
	    (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			xasprintf(cause, "http_token_file %s: read: %s", path,
			    strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	for (i = 0; i < len; i++)
		if (buf[i] <= ' ' || buf[i] >= 0x7f)
			break;
	if (len < HTTP_TOKEN_MIN || len > HTTP_TOKEN_MAX || i < len) {
		xasprintf(cause, "http_token_file %s: must hold one line of %d "
		    "to %d printable characters, no spaces", path,
		    HTTP_TOKEN_MIN, HTTP_TOKEN_MAX);
		explicit_bzero(buf, sizeof(buf));
		return (-1);
	}
	*token = xstrndup(buf, len);
	explicit_bzero(buf, sizeof(buf));
	return (0);
fail:
	close(fd);
	return (-1);
}

static int
http_listen_tcp(const struct conf *cf, char **cause)
{
	int	fd, on = 1;

	fd = socket(cf->http_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0) {
		xasprintf(cause, "http_listen %s: socket: %s", cf->http_listen,
		    strerror(errno));
		return (-1);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (cf->http_addr.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&cf->http_addr,
	    cf->http_addrlen) != 0 || listen(fd, 128) != 0) {
		xasprintf(cause, "http_listen %s: %s", cf->http_listen,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

struct http *
http_open(const struct conf *cf, char **cause)
{
	struct http		*h = xcalloc(1, sizeof(*h));
	const struct sockaddr_in *sin = (const void *)&cf->http_addr;
	const struct sockaddr_in6 *sin6 = (const void *)&cf->http_addr;
	char			 a[INET6_ADDRSTRLEN];

	h->fd = -1;
	h->conf = cf;
	LIST_INIT(&h->conns);
	if (cf->http_token_file != NULL && http_token_read(cf->http_token_file,
	    &h->token, cause) != 0)
		goto fail;
	h->tokenlen = h->token != NULL ? strlen(h->token) : 0;
	/* The checks do not need the console: without it, say why. */
	if ((h->ui = http_ui_load(cf->http_ui_dir, &h->ui_error)) == NULL)
		log_warn("web console not served: %s", h->ui_error);
	if (cf->http_path != NULL) {
		if ((h->fd = listen_unix(cf, cf->http_path, cause)) < 0)
			goto fail;
		h->path = xstrdup(cf->http_path);
		xasprintf(&h->where, "unix:%s", cf->http_path);
	} else {
		if ((h->fd = http_listen_tcp(cf, cause)) < 0)
			goto fail;
		xasprintf(&h->where, "tcp:%s", cf->http_listen);
		if (h->token == NULL)
			log_warn("http listener without a token: any local "
			    "user can use it (web pages cannot; see "
			    "docs/http.md) http_listen=%s", cf->http_listen);
		/* The address as a Host header names it; not a wildcard. */
		if (cf->http_addr.ss_family == AF_INET) {
			h->port = sin->sin_port;
			if (sin->sin_addr.s_addr != htonl(INADDR_ANY) &&
			    inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a)))
				h->self = xstrdup(a);
		} else {
			h->port = sin6->sin6_port;
			if (!IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) &&
			    inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a)))
				xasprintf(&h->self, "[%s]", a);
		}
	}
	return (h);
fail:
	http_free(h);
	return (NULL);
}

const char *
http_where(const struct http *h)
{
	return (h->where);
}

size_t
http_pending(const struct http *h)
{
	struct http_conn	*hc;
	size_t			 n;

	if (h == NULL)
		return (0);
	/* Replies still to come, and reply bytes not yet written; while
	 * stopping, every connection left (see http_stop). */
	n = h->pending;
	LIST_FOREACH(hc, &h->conns, entry) {
		n += evbuffer_get_length(bufferevent_get_output(hc->bev));
		if (h->d->stopping)
			n++;
	}
	return (n);
}

/* ---- connections ------------------------------------------------------ */

static void
http_conn_arm(struct http_conn *hc, uint64_t us)
{
	struct timeval	tv = { (time_t)(us / 1000000),
			    (suseconds_t)(us % 1000000) };

	evtimer_add(hc->timer, &tv);
}

/* Forget hc: uncount it, stop watching its buffers. The caller frees. */
static void
http_conn_forget(struct http_conn *hc)
{
	struct http	*h = hc->h;

	evbuffer_remove_cb_entry(bufferevent_get_input(hc->bev), hc->incb);
	conn_outbuf_untrack(h->d, bufferevent_get_output(hc->bev), hc->outcb);
	event_free(hc->timer);
	if (hc->counted)
		h->stats.conns--;
	LIST_REMOVE(hc, entry);
}

/* evhttp frees the connection (and then the bufferevent). */
static void
http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn	*hc = arg;

	http_conn_forget(hc);
	free(hc);
}

/*
 * Answer on the socket and shut its write side; free the connection once
 * the client closes or after HTTP_LINGER_MS (see the top).
 */
static void
http_conn_abort(struct http_conn *hc, int status, const char *code,
    const char *msg)
{
	int	 fd = (int)bufferevent_getfd(hc->bev);
	char	*text;
	size_t	 len;

	hc->aborted = hc->answered = true;
	hc->deadline = 0;
	metrics_http_status(hc->h->d, status);
	text = http_error_text(status, code, msg, &len);
	if (fd >= 0 && write_all(fd, text, len) != 0)
		log_debug("http error reply not sent status=%d error=\"%s\"",
		    status, strerror(errno));
	free(text);
	/* The client may still be sending its request: evhttp goes on
	 * reading it (and we ignore it) until the client closes. */
	if (fd >= 0)
		(void)shutdown(fd, SHUT_WR);
	http_conn_arm(hc, HTTP_LINGER_MS * 1000ULL);
}

/* Is evhttp reading a request (not busy with one, nor answering it)? */
static bool
http_conn_reading(const struct http_conn *hc)
{
	return ((bufferevent_get_enabled(hc->bev) & EV_READ) != 0);
}

/*
 * While the daemon stops, a connection evhttp is not busy with (idle, or
 * with a request not whole yet or not handed over) is answered 503
 * "stopping" at once and closed: nothing it sent from here on will run,
 * and the drain need not wait for a slow client to finish a request only
 * to refuse it. A busy one comes back here once its reply is sent. True
 * when hc was answered so.
 */
static bool
http_conn_stopping(struct http_conn *hc)
{
	if (!hc->h->d->stopping || hc->evcon == NULL || hc->aborted ||
	    !http_conn_reading(hc))
		return (false);
	log_debug("http connection closed reason=stopping");
	http_conn_abort(hc, 503, "stopping", "refguardd is shutting down");
	return (true);
}

/*
 * The connection's timer: attach it (once, right after accept), then
 * answer a bad request evhttp did not hand over, enforce the deadline of
 * a request, end a linger.
 */
static void
http_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn	*hc = arg;
	struct http		*h = hc->h;
	void			*cbarg;
	uint64_t		 now;

	if (hc->evcon == NULL) {
		/* evhttp's callbacks always have the connection as their
		 * argument, until it lets the bufferevent go */
		bufferevent_getcb(hc->bev, NULL, NULL, NULL, &cbarg);
		if (cbarg == NULL) {
			/* evhttp let it go already (or never took it) */
			http_conn_forget(hc);
			bufferevent_decref(hc->bev);
			free(hc);
			return;
		}
		hc->evcon = cbarg;
		evhttp_connection_set_closecb(hc->evcon, http_conn_closed, hc);
		bufferevent_decref(hc->bev);	/* evhttp's alone now */
		if (!hc->counted) {
			http_conn_abort(hc, 503, "too_many_connections",
			    "connection limit reached; try again later");
			return;
		}
	} else if (hc->aborted) {
		evhttp_connection_free(hc->evcon);	/* frees hc */
		return;
	}
	if (http_conn_stopping(hc))
		return;
	if (hc->scan.bad != 0 && !hc->answered) {
		/* If evhttp is busy with an earlier request, it is answered
		 * first; its completion brings us back (http_req_complete). */
		if (http_conn_reading(hc))
			http_conn_abort(hc, hc->scan.bad_status, "bad_request",
			    hc->scan.bad_msg);
		return;
	}
	if (hc->deadline == 0)
		return;
	now = mono_us();
	if (now >= hc->deadline) {
		if (http_conn_reading(hc)) {
			h->stats.timeouts++;
			log_debug("http connection closed "
			    "reason=slow_request");
			http_conn_abort(hc, 408, "idle_timeout", "request not "
			    "complete within http_timeout; closing");
			return;
		}
		/* waiting on us, not on the client */
		hc->deadline = now + (uint64_t)h->conf->http_timeout * 1000;
	}
	http_conn_arm(hc, hc->deadline - now);
}

/* Input arrived (or evhttp consumed some): scan what is new. */
/* A request broken at the HTTP level, at debug level, rate-limited. */
static void
http_log_bad(int status, const char *reason)
{
	static struct log_rate	rate;
	uint64_t		dropped;

	if (log_get_level() >= LOG_LEVEL_DEBUG &&
	    log_rate_ok(&rate, 20, &dropped))
		log_debug("http request refused status=%d reason=\"%s\" "
		    "not_logged=%llu", status, reason,
		    (unsigned long long)dropped);
}

static void
http_conn_input(struct evbuffer *in, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct http_conn	*hc = arg;
	struct evbuffer_ptr	 ptr;
	struct evbuffer_iovec	 v[8];
	size_t			 len;
	int			 i, n;

	hc->scanned -= info->n_deleted < hc->scanned ? info->n_deleted :
	    hc->scanned;
	if (hc->aborted)
		return;		/* answered; only the linger is left */
	len = evbuffer_get_length(in);
	while (hc->scanned < len) {
		if (evbuffer_ptr_set(in, &ptr, hc->scanned,
		    EVBUFFER_PTR_SET) != 0)
			break;
		n = evbuffer_peek(in, (ev_ssize_t)(len - hc->scanned), &ptr, v,
		    (int)nitems(v));
		if (n <= 0)
			break;
		for (i = 0; i < n && i < (int)nitems(v); i++) {
			http_scan(&hc->scan, v[i].iov_base, v[i].iov_len);
			hc->scanned += v[i].iov_len;
		}
	}
	if (hc->scan.bad != 0 && !hc->answered) {
		if (!hc->bad_seen) {
			hc->bad_seen = true;
			hc->h->stats.bad++;
			http_log_bad(hc->scan.bad_status, hc->scan.bad_msg);
		}
		hc->deadline = 0;
		http_conn_arm(hc, 0);
	} else if (!http_scan_partial(&hc->scan))
		hc->deadline = 0;
	else if (hc->deadline_req != hc->scan.started &&
	    hc->h->conf->http_timeout > 0) {
		/* a new request: its deadline starts with its first byte */
		hc->deadline_req = hc->scan.started;
		hc->deadline = mono_us() +
		    (uint64_t)hc->h->conf->http_timeout * 1000;
		if (hc->evcon != NULL)
			http_conn_arm(hc, (uint64_t)hc->h->conf->http_timeout *
			    1000);
	}
}

/*
 * evhttp accepted a connection (evhttp_set_bevcb): its bufferevent, and
 * our record of it. It is attached, or refused, at the next turn.
 */
static struct bufferevent *
http_conn_new(struct event_base *base, void *arg)
{
	struct http		*h = arg;
	struct http_conn	*hc = xcalloc(1, sizeof(*hc));

	hc->h = h;
	if ((hc->bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("bufferevent_socket_new failed");
	if ((hc->timer = evtimer_new(base, http_conn_timer, hc)) == NULL)
		fatalx("evtimer_new failed");
	bufferevent_incref(hc->bev);		/* until attached */
	http_scan_init(&hc->scan);
	hc->incb = evbuffer_add_cb(bufferevent_get_input(hc->bev),
	    http_conn_input, hc);
	hc->outcb = conn_outbuf_track(h->d, bufferevent_get_output(hc->bev));
	h->stats.conns_total++;
	if (h->stats.conns < h->conf->http_max_conns) {
		hc->counted = true;
		h->stats.conns++;
	} else
		h->stats.conns_refused++;
	LIST_INSERT_HEAD(&h->conns, hc, entry);
	http_conn_arm(hc, 0);
	return (hc->bev);
}

/* The record of the connection a request came on. */
static struct http_conn *
http_conn_of(struct http *h, struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct http_conn		*hc;

	evcon = evhttp_request_get_connection(req);
	LIST_FOREACH(hc, &h->conns, entry)
		if (hc->bev == evhttp_connection_get_bufferevent(evcon))
			return (hc);
	return (NULL);
}

/* A reply was sent: a bad request waiting behind it can be answered. */
static void
http_req_complete(struct evhttp_request *req, void *arg)
{
	struct http_conn	*hc = arg;

	if ((hc->scan.bad != 0 && !hc->answered) || hc->h->d->stopping)
		http_conn_arm(hc, 0);
}

static void
http_send(struct http *h, struct evhttp_request *req, int status,
    const char *ctype, const char *body, size_t len)
{
	struct evkeyvalq	*oh = evhttp_request_get_output_headers(req);
	struct evbuffer		*buf;
	char			 n[24];

	if ((buf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	evhttp_add_header(oh, "Content-Type", ctype);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
	/* HEAD: the length GET would have, and no body (evhttp 2.1 sends
	 * one anyway, which a keep-alive client reads as the next reply). */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(n, sizeof(n), "%zu", len);
		evhttp_add_header(oh, "Content-Length", n);
	} else
		evbuffer_add(buf, body, len);
	metrics_http_status(h->d, status);
	evhttp_send_reply(req, status, NULL, buf);
	evbuffer_free(buf);
}

/* A reply line as an HTTP body: the NDJSON line and its newline. */
static void
http_send_json(struct http *h, struct evhttp_request *req, int status,
    const char *reply, size_t len)
{
	char	*body = xmalloc(len + 1);

	memcpy(body, reply, len);
	body[len] = '\n';
	http_send(h, req, status, "application/json", body, len + 1);
	free(body);
}

/* An error of the HTTP layer (no request object): the NDJSON error shape. */
static void
http_error(struct http *h, struct evhttp_request *req, int status,
    const char *code, const char *fmt, ...)
{
	struct req_error	 err = { .code = code };
	va_list			 ap;
	char			*reply;
	size_t			 len;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	reply = req_error_reply(&err, NULL, 0, &len);
	http_send_json(h, req, status, reply, len);
	free(reply);
}

/* The HTTP status of a reply, from its error code (NULL: none). */
static int
http_status(const char *code)
{
	if (code == NULL)
		return (200);
	if (strcmp(code, "not_found") == 0)
		return (404);
	if (strcmp(code, "conflict") == 0)
		return (409);		/* the queue: claimed or decided already */
	if (strcmp(code, "store_full") == 0 ||
	    strcmp(code, "cluster_unavailable") == 0)
		return (503);
	if (strcmp(code, "store_error") == 0 || strcmp(code, "internal") == 0 ||
	    strcmp(code, "reload_failed") == 0)
		return (500);
	return (400);		/* the request's fault: bad_request and the like */
}

static void
http_reply_job(struct http *h, struct evhttp_request *req, struct job *job)
{
	http_send_json(h, req, http_status(job->errcode), job->reply,
	    job->replylen);
	metrics_replied(h->d, job);
}

static void
http_job_done(struct job *job, void *arg)
{
	struct http_req	*hr = arg;

	hr->h->pending--;
	http_reply_job(hr->h, hr->req, job);
	free(hr);
	job_free(job);
}

/* Equal in time that does not depend on where they differ. */
static bool
http_token_ok(const struct http *h, const char *got)
{
	size_t			len = strlen(got), i;
	volatile unsigned char	diff = len != h->tokenlen;

	for (i = 0; i < h->tokenlen; i++)
		diff |= (unsigned char)((i < len ? got[i] : 0) ^ h->token[i]);
	return (diff == 0);
}

static bool
http_authorized(const struct http *h, struct evhttp_request *req)
{
	const char	*a;

	if (h->token == NULL)
		return (true);
	a = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return (false);
	for (a += 7; *a == ' '; a++)
		;
	return (http_token_ok(h, a));
}

/*
 * Split and percent-decode the path into segs (malloc'd, with lengths).
 * Returns the count, or -1 when there are too many.
 */
static int
http_split(const char *path, char **segs, size_t *lens)
{
	const char	*p = path, *e;
	char		*raw;
	int		 n = 0;

	if (*p == '/')
		p++;
	while (*p != '\0') {
		if (n == HTTP_MAX_SEGS)
			goto fail;
		e = strchr(p, '/');
		if (e == NULL)
			e = p + strlen(p);
		raw = xstrndup(p, (size_t)(e - p));
		segs[n] = evhttp_uridecode(raw, 0, &lens[n]);
		free(raw);
		if (segs[n] == NULL)
			goto fail;
		n++;
		p = *e == '/' ? e + 1 : e;
	}
	return (n);
fail:
	while (n > 0)
		free(segs[--n]);
	return (-1);
}

/* Does the route's path match the segments? */
static bool
http_match(const struct op_route *r, char **segs, const size_t *lens, int n)
{
	const char	*p = r->path + 1, *e;
	size_t		 len;
	int		 i = 0;

	while (*p != '\0') {
		e = strchr(p, '/');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (i == n)
			return (false);
		if (!(len == 1 && *p == '*') &&
		    (lens[i] != len || memcmp(segs[i], p, len) != 0))
			return (false);
		i++;
		p += len;
		if (*p == '/')
			p++;
	}
	return (i == n);
}

/* Set key in obj from the path; false when the body says otherwise. */
static bool
http_set(json_t *obj, const char *key, json_t *v)
{
	json_t	*old = json_object_get(obj, key);

	if (old != NULL && !json_equal(old, v)) {
		json_decref(v);
		return (false);
	}
	json_object_set_new(obj, key, v);
	return (true);
}

/*
 * An NDJSON route: build the request object and run it through the one
 * request path. A body that is not a JSON object goes through as it is,
 * so that the error is the decoder's own, byte for byte.
 */
static void
http_op(struct http *h, struct evhttp_request *req, enum req_op op,
    char **segs, const size_t *lens, int nseg)
{
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	const struct op_route	*r = &ops[op].route;
	struct req_error	 err = { .code = "bad_request" };
	struct http_req		*hr;
	struct job		*job;
	json_t			*obj = NULL, *v;
	const char		*body = NULL, *seg;
	char			*line = NULL;
	size_t			 len = 0, i, pi = 0;
	int			 s;

	job = job_new(JOB_OP);
	job->t_start = mono_us();
	if (r->body && (len = evbuffer_get_length(in)) > 0) {
		body = (const char *)evbuffer_pullup(in, -1);
		obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
		if (obj != NULL && !json_is_object(obj)) {
			json_decref(obj);
			obj = NULL;
		}
	}
	if (body != NULL && obj == NULL) {
		conn_request(h->d, job, body, len);
		goto sent;
	}
	if (obj == NULL)
		obj = json_object();
	if (!http_set(obj, "op", json_string(req_op_name(op)))) {
		snprintf(err.field, sizeof(err.field), "op");
		snprintf(err.msg, sizeof(err.msg), "this route is op \"%s\"; "
		    "leave op out of the body", req_op_name(op));
		goto fail;
	}
	/* The parameters, in path order. */
	for (s = 0, seg = r->path + 1; pi < nitems(r->params) &&
	    r->params[pi] != NULL && s < nseg; s++) {
		if (seg[0] == '*' && (seg[1] == '/' || seg[1] == '\0')) {
			for (i = 0; i < lens[s]; i++)
				if ((unsigned char)segs[s][i] < 0x20 ||
				    segs[s][i] == 0x7f)
					break;
			snprintf(err.field, sizeof(err.field), "%s",
			    r->params[pi]);
			if (i < lens[s] || lens[s] == 0) {
				snprintf(err.msg, sizeof(err.msg), lens[s] ?
				    "control bytes are not allowed" :
				    "must not be empty");
				goto fail;
			}
			if ((v = json_stringn(segs[s], lens[s])) == NULL) {
				snprintf(err.msg, sizeof(err.msg),
				    "not valid UTF-8");
				goto fail;
			}
			if (!http_set(obj, r->params[pi], v)) {
				snprintf(err.msg, sizeof(err.msg), "the body "
				    "says otherwise than the path");
				goto fail;
			}
			pi++;
		}
		if ((seg = strchr(seg, '/')) == NULL)
			break;
		seg++;
	}
	if ((line = json_dumps(obj, JSON_COMPACT)) == NULL) {
		snprintf(err.msg, sizeof(err.msg), "cannot encode the request");
		goto fail;
	}
	conn_request(h->d, job, line, strlen(line));
	goto sent;
fail:
	conn_reply_error(h->d, job, &err);
sent:
	free(line);
	json_decref(obj);
	if (job->done) {
		http_reply_job(h, req, job);
		job_free(job);
		return;
	}
	hr = xcalloc(1, sizeof(*hr));
	hr->h = h;
	hr->req = req;
	job->owner = (struct job_owner){ http_job_done, hr };
	h->pending++;
}

static void
http_healthz(struct http *h, struct evhttp_request *req)
{
	struct writer_stats	ws;
	struct cluster_stats	cs = { 0 };
	char			body[600];

	writer_stats(h->d->writer, &ws);
	if (h->d->cluster != NULL)
		cluster_stats(h->d->cluster, &cs);
	if (h->d->stopping)
		http_send(h, req, 503, "text/plain", "stopping\n", 9);
	else if (h->d->cluster != NULL && (cs.stalled || !cs.ready)) {
		/* Every write is refused (cluster_unavailable) until then. */
		snprintf(body, sizeof(body), "cluster %s: %s\n", cs.stalled ?
		    "stalled" : "not ready", cs.error != NULL ? cs.error : "?");
		http_send(h, req, 503, "text/plain", body, strlen(body));
	} else if (ws.full)
		http_send(h, req, 503, "text/plain", "store full\n", 11);
	else if (ws.write_error != NULL) {
		/* No write reaches the disk: the checks cannot be stored. */
		snprintf(body, sizeof(body), "store error: %s\n",
		    ws.write_errmsg);
		http_send(h, req, 503, "text/plain", body, strlen(body));
	} else
		http_send(h, req, 200, "text/plain", "ok\n", 3);
}

static void
http_metrics(struct http *h, struct evhttp_request *req)
{
	char	*text;
	size_t	 len;

	text = stats_metrics(h->d, &len);
	http_send(h, req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    text, len);
	free(text);
}

/* "name" or "name:port" (name may be "[v6]"): the name, and the port. */
static bool
http_hostport(const char *s, size_t len, size_t *namelen, const char **port,
    size_t *portlen)
{
	const char	*e;
	size_t		 i;

	*port = NULL;
	*portlen = 0;
	if (len > 0 && s[0] == '[') {
		if ((e = memchr(s, ']', len)) == NULL)
			return (false);
		*namelen = (size_t)(e - s) + 1;
	} else {
		for (*namelen = 0; *namelen < len && s[*namelen] != ':';
		    (*namelen)++)
			;
	}
	if (*namelen < len) {
		if (s[*namelen] != ':')
			return (false);
		*port = s + *namelen + 1;
		*portlen = len - *namelen - 1;
		for (i = 0; i < *portlen; i++)
			if ((*port)[i] < '0' || (*port)[i] > '9')
				return (false);
		if (*portlen == 0 || *portlen > 5)
			return (false);
	}
	return (*namelen > 0);
}

/*
 * Does host (a Host header, or an Origin's host) name this listener? The
 * loopback names, the address it listens on (not a wildcard), the names
 * of http_host; with its port (any, on a Unix socket) or none. A page of
 * another site that points its own name at 127.0.0.1 (DNS rebinding)
 * sends its own name, and is refused.
 */
static bool
http_host_ok(const struct http *h, const char *host, size_t len)
{
	static const char *const loopback[] = { "localhost", "127.0.0.1",
	    "[::1]" };
	const char	*port;
	char		 want[8];
	size_t		 nlen, plen, i;

	if (!http_hostport(host, len, &nlen, &port, &plen))
		return (false);
	if (port != NULL && h->port != 0) {
		snprintf(want, sizeof(want), "%u", (unsigned)ntohs(h->port));
		if (plen != strlen(want) || memcmp(port, want, plen) != 0)
			return (false);
	}
	for (i = 0; i < nitems(loopback); i++)
		if (nlen == strlen(loopback[i]) &&
		    strncasecmp(host, loopback[i], nlen) == 0)
			return (true);
	if (h->self != NULL && nlen == strlen(h->self) &&
	    strncasecmp(host, h->self, nlen) == 0)
		return (true);
	for (i = 0; i < h->conf->nhttp_hosts; i++)
		if (nlen == strlen(h->conf->http_hosts[i].val) &&
		    strncasecmp(host, h->conf->http_hosts[i].val, nlen) == 0)
			return (true);
	return (false);
}

/*
 * Browsers: NULL when req may be served, or why not. Host must name the
 * listener (see http_host_ok); an Origin, sent by a browser with every
 * cross-site request and every POST, must be this listener's own
 * (http:// or https:// and a host http_host_ok takes).
 */
static const char *
http_foreign(const struct http *h, struct evhttp_request *req)
{
	const struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	const char		*host, *origin, *o;

	host = evhttp_find_header(in, "Host");
	if (host != NULL && !http_host_ok(h, host, strlen(host)))
		return ("Host names another site; add its name to http_host "
		    "if it is this listener's");
	if ((origin = evhttp_find_header(in, "Origin")) == NULL)
		return (NULL);
	if (strncasecmp(origin, "http://", 7) == 0)
		o = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		o = origin + 8;
	else
		return ("requests from web pages of other sites are refused");
	if (!http_host_ok(h, o, strlen(o)))
		return ("requests from web pages of other sites are refused");
	return (NULL);
}

/* Content-Type: application/json (parameters such as charset allowed). */
static bool
http_json(struct evhttp_request *req)
{
	const char	*ct = evhttp_find_header(
			    evhttp_request_get_input_headers(req),
			    "Content-Type");

	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
		return (false);
	ct += 16;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return (*ct == '\0' || *ct == ';');
}

/*
 * The console (http_ui.h): GET and HEAD only, a file of the table or
 * 404, every reply with the console's policy headers. path starts with
 * "/ui". No token: the files hold no data, and a browser cannot send
 * one before the page has asked for it; every call the page makes to
 * the API sends it.
 */
static void
http_console(struct http *h, struct evhttp_request *req, const char *path)
{
	struct evkeyvalq		*oh = evhttp_request_get_output_headers(req);
	const struct http_ui_file	*f;
	int				 m = evhttp_request_get_command(req);

	http_ui_headers(oh);
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(oh, "Allow", "GET, HEAD");
		http_error(h, req, 405, "method_not_allowed", "allowed: GET, "
		    "HEAD");
		return;
	}
	if (path[3] == '\0') {
		evhttp_add_header(oh, "Location", "/ui/");
		http_send(h, req, 301, "text/plain; charset=utf-8", "/ui/\n",
		    5);
		return;
	}
	if (h->ui == NULL) {
		http_error(h, req, 404, "not_found", "the web console is not "
		    "served: %s", h->ui_error != NULL ? h->ui_error :
		    "no files");
		return;
	}
	if ((f = http_ui_get(h->ui, path + 4)) == NULL) {
		http_error(h, req, 404, "not_found", "no such file");
		return;
	}
	http_send(h, req, 200, f->ctype, f->body, f->len);
}

static void
http_cb(struct evhttp_request *req, void *arg)
{
	struct http		*h = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const struct op_route	*r;
	struct http_conn	*hc;
	const char		*path, *why;
	char			*segs[HTTP_MAX_SEGS], allow[64];
	size_t			 lens[HTTP_MAX_SEGS], j, alen;
	int			 n, method, pathok = 0, found = -1, ri;
	unsigned		 allowed = 0;

	if ((hc = http_conn_of(h, req)) != NULL) {
		hc->served++;
		evhttp_request_set_on_complete_cb(req, http_req_complete, hc);
		if (hc->aborted)
			return;		/* answered on the socket; closing */
		if (hc->scan.bad != 0 && hc->served >= hc->scan.bad) {
			hc->answered = true;
			hc->deadline = 0;
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "Connection", "close");
			http_error(h, req, hc->scan.bad_status, "bad_request",
			    "%s", hc->scan.bad_msg);
			return;
		}
		if (hc->served == hc->scan.close_after) {
			/* chunked: where the next request starts is unknown */
			hc->deadline = 0;
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "Connection", "close");
		}
	}
	if (h->d->stopping) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		http_error(h, req, 503, "stopping", "refguardd is shutting "
		    "down");
		return;
	}
	if ((why = http_foreign(h, req)) != NULL) {
		h->stats.forbidden++;
		http_error(h, req, 403, "forbidden", "%s", why);
		return;
	}
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path != NULL && strncmp(path, "/ui", 3) == 0 &&
	    (path[3] == '\0' || path[3] == '/')) {
		http_console(h, req, path);
		return;
	}
	if (!http_authorized(h, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"refguard\"");
		http_error(h, req, 401, "unauthorized", "send Authorization: "
		    "Bearer and the token of http_token_file");
		return;
	}
	method = evhttp_request_get_command(req);
	if (path == NULL || (n = http_split(path, segs, lens)) < 0) {
		http_error(h, req, 404, "not_found", "no such route");
		return;
	}
	for (ri = 0; ri < R_NROUTES; ri++) {
		r = http_route(ri);
		if (r->path == NULL || !http_match(r, segs, lens, n))
			continue;
		pathok = 1;
		allowed |= (unsigned)r->method;
		if (r->method == method || (method == EVHTTP_REQ_HEAD &&
		    r->method == EVHTTP_REQ_GET)) {
			found = ri;
			break;
		}
	}
	if (found < 0 && pathok) {
		if (allowed & EVHTTP_REQ_GET)
			allowed |= EVHTTP_REQ_HEAD;
		allow[0] = '\0';
		for (j = 0, alen = 0; j < nitems(methods); j++) {
			if (allowed & (unsigned)methods[j].method)
				alen += (size_t)snprintf(allow + alen,
				    sizeof(allow) - alen, "%s%s",
				    alen > 0 ? ", " : "", methods[j].name);
		}
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", allow);
		http_error(h, req, 405, "method_not_allowed", "allowed: %s",
		    allow);
	} else if (found < 0)
		http_error(h, req, 404, "not_found", "no such route");
	else if ((method == M_POST || method == M_PUT) && !http_json(req))
		http_error(h, req, 415, "unsupported_media_type", "send "
		    "Content-Type: application/json");
	else if (found == R_HEALTHZ)
		http_healthz(h, req);
	else if (found == R_METRICS)
		http_metrics(h, req);
	else
		http_op(h, req, (enum req_op)found, segs, lens, n);
	while (n > 0)
		free(segs[--n]);
}

int
http_start(struct http *h, struct daemon *d, char **cause)
{
	struct timeval	tv;

	h->d = d;
	if ((h->http = evhttp_new(d->base)) == NULL) {
		*cause = xstrdup("evhttp_new failed");
		return (-1);
	}
	/* Every method reaches the router, which answers 405 with Allow. */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(h->http, (ev_ssize_t)d->conf->http_max_body);
	evhttp_set_max_headers_size(h->http, HTTP_MAX_HEADERS);
	if (d->conf->http_timeout > 0) {
		tv.tv_sec = d->conf->http_timeout / 1000;
		tv.tv_usec = (d->conf->http_timeout % 1000) * 1000;
		evhttp_set_timeout_tv(h->http, &tv);
	}
	evhttp_set_gencb(h->http, http_cb, h);
	evhttp_set_bevcb(h->http, http_conn_new, h);
	if ((h->bound = evhttp_accept_socket_with_handle(h->http,
	    h->fd)) == NULL) {
		xasprintf(cause, "cannot serve HTTP on %s", h->where);
		return (-1);
	}
	h->fd = -1;		/* the bound socket owns it now */
	h->guard = accept_guard_new(d->base,
	    evhttp_bound_socket_get_listener(h->bound), "http", http_refuse, h);
	d->http_stats = &h->stats;
	d->http_guard = h->guard;
	return (0);
}

/* Remove the Unix socket's file, once. */
static void
http_unlink(struct http *h)
{
	if (h->path != NULL) {
		unlink(h->path);
		free(h->path);
		h->path = NULL;
	}
}

/*
 * At TERM: a Unix socket's file goes at once, so nobody new can connect,
 * but the listening socket stays open while draining. A connection still
 * in its listen queue would be reset by the kernel when the listener
 * closes; kept open, it is accepted and answered 503 "stopping". The
 * daemon closes it (http_close_listener) once http_backlog() is false.
 * Every connection not busy with a request is answered "stopping" now
 * (http_conn_stopping), a busy one after its reply.
 */
void
http_stop(struct http *h)
{
	struct http_conn	*hc;

	if (h == NULL)
		return;
	http_unlink(h);
	LIST_FOREACH(hc, &h->conns, entry)
		(void)http_conn_stopping(hc);
}

void
http_close_listener(struct http *h)
{
	if (h != NULL && h->bound != NULL) {
		accept_guard_free(h->guard);
		h->guard = NULL;
		h->d->http_guard = NULL;
		evhttp_del_accept_socket(h->http, h->bound);
		h->bound = NULL;
	}
}

/* True while a connection waits in the listen queue. */
bool
http_backlog(const struct http *h)
{
	return (h != NULL && h->bound != NULL &&
	    fd_readable(evhttp_bound_socket_get_fd(h->bound)));
}

void
http_free(struct http *h)
{
	struct http_conn	*hc;

	if (h == NULL)
		return;
	if (h->d != NULL) {
		h->d->http_stats = NULL;
		h->d->http_guard = NULL;
	}
	http_unlink(h);
	accept_guard_free(h->guard);
	if (h->http != NULL)
		evhttp_free(h->http);	/* listener, connections (close cbs) */
	/* Left: those accepted and not attached yet; the last ref is ours. */
	while ((hc = LIST_FIRST(&h->conns)) != NULL) {
		http_conn_forget(hc);
		bufferevent_decref(hc->bev);
		free(hc);
	}
	if (h->fd >= 0)
		close(h->fd);
	if (h->token != NULL)
		explicit_bzero(h->token, h->tokenlen);
	free(h->token);
	free(h->where);
	free(h->self);
	http_ui_free(h->ui);
	free(h->ui_error);
	free(h);
}

bool
http_ui_served(const struct http *h)
{
	return (h != NULL && h->ui != NULL);
}

void
http_set_ui(struct http *h, struct http_ui *ui)
{
	if (h == NULL) {
		http_ui_free(ui);
		return;
	}
	http_ui_free(h->ui);
	h->ui = ui;
	free(h->ui_error);
	h->ui_error = NULL;
}
