/*
 * accept.h: listeners that survive running out of file descriptors.
 *
 * At the descriptor limit accept(2) fails with EMFILE while the pending
 * connection stays in the listen queue, so a level-triggered listener
 * is woken again at once: a spinning loop and a log line per turn, and
 * the clients past the limit hang unanswered. A guarded listener instead
 * stops accepting for ACCEPT_BACKOFF_MS (nginx waits 500 ms as well) and
 * uses a reserve descriptor, opened at start, to accept each connection
 * waiting in the queue, answer it with the listener's refusal and close
 * it. An episode logs one line when it starts and one when accepting
 * works again.
 */
#ifndef REFGUARD_ACCEPT_H
#define REFGUARD_ACCEPT_H

#include <stdint.h>

struct event_base;
struct evconnlistener;
struct accept_guard;

#define ACCEPT_BACKOFF_MS	500
/* Descriptors the daemon keeps for itself beyond its connections. */
#define ACCEPT_FD_RESERVE	64

/*
 * Refuse a connection accepted with the reserve descriptor: say why and
 * close fd.
 */
typedef void	(*accept_refuse_fn)(int fd, void *arg);

/* Open the reserve descriptor (/dev/null). 0, or -1 with errno. */
int		 accept_reserve_open(void);
void		 accept_reserve_close(void);

/*
 * Guard l (its error callback is taken over): name is for the logs and
 * must outlive the guard. Free the guard before the listener.
 */
struct accept_guard *accept_guard_new(struct event_base *base,
		    struct evconnlistener *l, const char *name,
		    accept_refuse_fn refuse, void *arg);
void		 accept_guard_free(struct accept_guard *g);
/* Episodes of running out (or another accept error) since start. */
uint64_t	 accept_guard_backoffs(const struct accept_guard *g);
/* Connections accepted with the reserve and refused since start. */
uint64_t	 accept_guard_refused(const struct accept_guard *g);

#endif
