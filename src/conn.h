/*
 * conn.h: client connections on the NDJSON socket, and the one request
 * path every request takes, NDJSON or HTTP (conn_request). Everything
 * here runs on the event-loop thread.
 */
#ifndef REFGUARD_CONN_H
#define REFGUARD_CONN_H

#include <stddef.h>

struct daemon;
struct evbuffer;
struct evbuffer_cb_entry;
struct job;
struct job_list;
struct req_error;

/* Serve a connection accepted on the NDJSON socket (or refuse it). */
void	conn_accept(struct daemon *d, int fd);
/* Answer fd too_many_connections (stopping, at TERM) and close it. */
void	conn_refuse(int fd, void *d);
/*
 * Every request, NDJSON or HTTP, goes through here: decode line into job
 * (made with job_new(JOB_OP), t_start set), then run it as its op says
 * (ops.h): answered at once (job->done on return), or handed to the
 * writer (or a reload), after which its owner gets it back done
 * (writer.h job_owner; an HTTP caller sets it after this returns).
 * Errors are counted.
 */
void	conn_request(struct daemon *d, struct job *job, const char *line,
	    size_t len);
/* Make err job's reply (echoing its id once decoded), done; counted. */
void	conn_reply_error(struct daemon *d, struct job *job,
	    const struct req_error *err);
/* Pause or resume reading on every connection as the limits say (TERM). */
void	conn_stop_reading_all(struct daemon *d);
/*
 * Count an output buffer's bytes in d->replies.buffered while it lives
 * (its bytes now, then every change); untrack before freeing it.
 */
struct evbuffer_cb_entry *conn_outbuf_track(struct daemon *d,
	    struct evbuffer *out);
void	conn_outbuf_untrack(struct daemon *d, struct evbuffer *out,
	    struct evbuffer_cb_entry *cb);
/* Replies owed or unsent, over all NDJSON connections (the drain at TERM). */
size_t	conn_pending_all(struct daemon *d);
/* At exit: close every connection; one with unread requests is told
 * "stopping". */
void	conn_close_all(struct daemon *d);
/*
 * The writer's finished batches (writer_done_cb; arg is the daemon), and
 * finished reloads: each job to its owner (writer.h job_owner).
 */
void	conn_jobs_done(struct job_list *done, void *arg);

#endif
