/*
 * http.h: the optional HTTP listener (conf http_listen): REST routes over
 * the same request path as the NDJSON socket, /healthz and /metrics, and
 * the web console's files at /ui/ (http_ui.h).
 *
 * Each REST request becomes the NDJSON request object it stands for (the
 * op from the route, ids from the path, the JSON body's fields), which goes
 * through conn_request() like a line from the socket; the reply is the
 * NDJSON reply, with an HTTP status from its error code. See docs/http.md.
 */
#ifndef REFGUARD_HTTP_H
#define REFGUARD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

struct conf;
struct daemon;
struct http;


/*
 * Bind the listener conf names and read the bearer token (before
 * detaching, so that a failure stops the start-up). NULL and *cause.
 */
struct http	*http_open(const struct conf *cf, char **cause);
/*
 * Serve on d->base. 0, or -1 and *cause. From then on d->http_stats and
 * d->http_guard are the listener's counters and accept guard (stats.h).
 */
int		 http_start(struct http *h, struct daemon *d, char **cause);
/*
 * Serve these console files at /ui/ from now on (http_ui.h); h takes ui
 * and frees the ones it served before. h NULL: ui is freed.
 */
struct http_ui;
void		 http_set_ui(struct http *h, struct http_ui *ui);
/* Does h serve the console (files were read)? False for h NULL. */
bool		 http_ui_served(const struct http *h);
/* Where it listens, for the logs: "unix:/path" or "tcp:127.0.0.1:8470". */
const char	*http_where(const struct http *h);
/*
 * Shutdown (call with d->stopping set): remove the socket file; requests
 * in flight still get their replies; every other request, whole or not,
 * and every connection idle or accepted from now on gets 503 "stopping"
 * and is closed (a connection busy with a request, after its reply).
 */
void		 http_stop(struct http *h);
/* True while a connection waits in the listen queue. */
bool		 http_backlog(const struct http *h);
/* Close the listening socket (connections stay). */
void		 http_close_listener(struct http *h);
/*
 * What the drain waits for: requests waiting for a reply, plus reply bytes
 * not yet sent, plus (once stopping) every connection still open: each is
 * busy with its last request or closing after its "stopping" answer.
 */
size_t		 http_pending(const struct http *h);
/* Close everything; call after writer_free(), when no job is in flight. */
void		 http_free(struct http *h);

/*
 * Read a bearer token file: one line of at least 16 printable characters,
 * not readable by group or others. 0 and *token (caller frees), or -1 and
 * *cause.
 */
int		 http_token_read(const char *path, char **token, char **cause);

#endif
