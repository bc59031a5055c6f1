/*
 * listen.h: the listening Unix sockets of refguardd (the NDJSON one, and
 * the HTTP one when http_listen is a path).
 */
#ifndef REFGUARD_LISTEN_H
#define REFGUARD_LISTEN_H

struct conf;

/*
 * Bind a Unix stream socket at path with the socket_mode and socket_group
 * of cf (its directory made if missing; a stale socket replaced, a live
 * one or another file refused). The listening fd (non-blocking,
 * close-on-exec), or -1 and *cause (caller frees). Until
 * listen_startup_done(), an exit of this process removes the sockets it
 * bound, so that a refused start leaves none behind.
 */
int	listen_unix(const struct conf *cf, const char *path, char **cause);

/* Start-up succeeded: from now on shutdown removes the sockets. */
void	listen_startup_done(void);

/*
 * The socket systemd passed (socket activation; made non-blocking and
 * close-on-exec), or -1 when none was or it is not a Unix stream socket.
 */
int	listen_passed(void);

#endif
