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
 * reading pauses while max_pipeline requests are in flight or more than
 * max_outbuf reply bytes wait for a client that does not read.
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

#include "analyst.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"
#include "util.h"
#include "writer.h"

/*
 * Error codes counted in stats, the connection-level refusals included;
 * the last slot takes the rest.
 */
const char *const conn_error_codes[CONN_NERRCODES] = {
	"bad_json", "bad_request", "unknown_op", "line_too_long",
	"not_found", "store_full", "store_error", "idle_timeout",
	"too_many_connections", "stopping", "other",
};

#define FUTURE_SLACK_MS	(24 * 3600 * 1000LL)

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
	bool			 eof;		/* peer sent all it will send */
	bool			 closing;	/* close once the output is sent */
	bool			 dead;		/* socket gone; free when jobs end */
	bool			 queued;	/* on a flush queue */
	LIST_ENTRY(conn)	 entry;
	TAILQ_ENTRY(conn)	 fentry;	/* flush queue */
};

static LIST_HEAD(, conn) conns = LIST_HEAD_INITIALIZER(conns);

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static int	conn_flush(struct conn *);
static void	conn_line_timer(struct conn *);

static void
count_error(struct daemon *d, const char *code)
{
	size_t	i;

	d->stats.errors++;
	for (i = 0; i < nitems(conn_error_codes) - 1; i++)
		if (strcmp(code, conn_error_codes[i]) == 0)
			break;
	d->stats.errors_by_code[i]++;
}

static void
conn_free(struct conn *c)
{
	struct job	*job;

	while ((job = TAILQ_FIRST(&c->jobs)) != NULL) {
		TAILQ_REMOVE(&c->jobs, job, centry);
		job_free(job);
	}
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->linetimer != NULL)
		event_free(c->linetimer);
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
		if (!job->done)
			continue;	/* the writer still holds it */
		TAILQ_REMOVE(&c->jobs, job, centry);
		c->npending--;
		job_free(job);
	}
	if (c->npending == 0)
		conn_free(c);
}

/* The socket is gone (or must go): free now, or once the writer is done. */
static void
conn_kill(struct conn *c)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
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
	size_t		 out;
	bool		 stop;

	if (c->bev == NULL)
		return;
	out = evbuffer_get_length(bufferevent_get_output(c->bev));
	stop = c->eof || c->closing || c->d->stopping ||
	    c->npending >= cf->max_pipeline || out > cf->max_outbuf;
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
	struct job	*job = job_new(OP__MAX);	/* not decoded yet */

	job->conn = c;
	job->t_start = mono_us();
	TAILQ_INSERT_TAIL(&c->jobs, job, centry);
	c->npending++;
	return (job);
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
	enum req_op		 op;

	if (len == 0) {
		err = (struct req_error){ .code = "bad_request" };
		snprintf(err.msg, sizeof(err.msg), "empty line: send one JSON "
		    "object a line");
		conn_reply_error(d, job, &err);
		return;
	}
	opts.now = now_ms();
	opts.retention = d->conf->retention;
	opts.max_future = FUTURE_SLACK_MS;
	if (req_decode_full(line, len, d->ident, &opts, &op, &job->ev, &ar,
	    &err) != 0) {
		conn_reply_error(d, job, &err);
		return;
	}
	if (analyst_op(op)) {
		/* Hash the list value here: the ident belongs to this thread. */
		if (analyst_prepare(&ar, op, d->ident, d->rules, opts.now,
		    &err) != 0) {
			analyst_req_clear(&ar);
			conn_reply_error(d, job, &err);
			return;
		}
		job->ar = analyst_req_dup(&ar);
	}
	d->stats.requests[op]++;
	job->op = op;
	switch (op) {
	case OP_PING:
		job->reply = xstrdup("{\"ok\":true}");
		job->replylen = strlen(job->reply);
		job->done = true;
		break;
	case OP_STATS:
		job->reply = daemon_stats_json(d, &job->replylen);
		job->done = true;
		break;
	case OP_RELOAD:
		job->reply = daemon_reload(d, &job->replylen);
		if (d->reload_error != NULL)
			job->errcode = "reload_failed";
		job->done = true;
		break;
	case OP_CHECK:
	case OP_RECHECK:
		if (d->rules != NULL)
			job->rs = rules_ref(d->rules);
		/* FALLTHROUGH */
	default:
		writer_submit(d->writer, job);
		break;
	}
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
	c->d->stats.lines_too_long++;
	c->closing = true;
	evbuffer_drain(in, evbuffer_get_length(in));
}

/*
 * Decode the complete lines buffered, as far as the pipeline limit allows;
 * after EOF, a last line without a newline too. Returns how many.
 */
static unsigned
conn_process(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr	 p;
	size_t			 max = c->d->conf->max_line, eol, len;
	unsigned		 n = 0;
	char			*line;

	while (!c->closing && c->npending < c->d->conf->max_pipeline) {
		p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
		if (p.pos < 0) {
			/* A partial line may still get the CR of its CRLF. */
			len = evbuffer_get_length(in);
			if (len > max + (c->eof ? 0 : 1)) {
				conn_too_long(c);
				n++;
			} else if (c->eof && len > 0) {
				line = (char *)evbuffer_pullup(in, (ssize_t)len);
				conn_request(c->d, conn_job(c), line, len);
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
		conn_request(c->d, conn_job(c), line, len);
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
			evbuffer_add(out, job->reply, job->replylen);
			evbuffer_add(out, "\n", 1);
			metrics_replied(c->d, job);
			job_free(job);
		}
	} while (!c->d->stopping && evbuffer_get_length(in) > 0 &&
	    conn_process(c) > 0);
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

/*
 * Tell a connection refguardd will not serve why, once, and drop what it
 * sent (a socket closed with unread input resets its peer, which may then
 * lose this line). The caller closes it.
 */
static void
refuse(struct daemon *d, int fd, const char *code, const char *reply,
    size_t len)
{
	count_error(d, code);
	if (write(fd, reply, len) < 0)
		log_debug("refusal not sent code=%s error=\"%s\"", code,
		    strerror(errno));
	fd_discard(fd);
}

void
conn_accept(struct daemon *d, int fd)
{
	static const char	full[] = "{\"error\":{\"code\":"
	    "\"too_many_connections\",\"msg\":\"connection limit reached; "
	    "try again later\"}}\n";
	struct conn		*c;
	struct timeval		 tv;

	d->stats.conns_total++;
	if (d->stopping || d->nconns >= d->conf->max_conns) {
		d->stats.conns_refused++;
		if (d->stopping)
			refuse(d, fd, "stopping", stopping_reply,
			    sizeof(stopping_reply) - 1);
		else
			refuse(d, fd, "too_many_connections", full,
			    sizeof(full) - 1);
		close(fd);
		return;
	}
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

/*
 * The writer's finished client jobs (internal ones were taken off the list
 * by the daemon). Take every job off the list first, then flush each
 * connection once: a
 * flush frees the jobs it sends (others of the batch among them) and may
 * free the connection itself.
 */
void
conn_jobs_done(struct job_list *done, void *arg)
{
	TAILQ_HEAD(, conn)	 flushq = TAILQ_HEAD_INITIALIZER(flushq);
	struct daemon		*d = arg;
	struct job		*job;
	struct conn		*c;

	while ((job = TAILQ_FIRST(done)) != NULL) {
		TAILQ_REMOVE(done, job, entry);
		if (job->errcode != NULL)
			count_error(d, job->errcode);
		else if (job->op == OP_CHECK && job->replay)
			d->stats.replays++;
		else if (job->op == OP_CHECK && job->action < 3)
			d->stats.actions[job->action]++;
		else if (job->op == OP_OBSERVE)
			d->stats.observes++;
		metrics_job_done(d, job);
		if (job->owner_done != NULL) {
			job->owner_done(job);
			continue;
		}
		c = job->conn;
		if (!c->queued) {
			c->queued = true;
			TAILQ_INSERT_TAIL(&flushq, c, fentry);
		}
	}
	while ((c = TAILQ_FIRST(&flushq)) != NULL) {
		TAILQ_REMOVE(&flushq, c, fentry);
		c->queued = false;
		conn_flush(c);
	}
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
