/* accept.c: listeners that survive running out of descriptors; accept.h. */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "accept.h"
#include "log.h"
#include "util.h"

/* Connections refused per accept error at most: a listen queue's worth. */
#define ACCEPT_REFUSE_MAX	4096

enum guard_state {
	GUARD_ACCEPTING,
	GUARD_BACKOFF,		/* listener off until the timer */
	GUARD_PROBING,		/* on again; one more period without error */
};

struct accept_guard {
	struct evconnlistener	*l;
	struct event		*timer;
	const char		*name;
	accept_refuse_fn	 refuse;
	void			*arg;
	enum guard_state	 state;
	uint64_t		 episode;	/* refused in this episode */
	uint64_t		 backoffs;
	uint64_t		 refused;
	LIST_ENTRY(accept_guard) entry;
};

/* The error callback gets the listener's own argument: find the guard. */
static LIST_HEAD(, accept_guard) guards = LIST_HEAD_INITIALIZER(guards);
static int	reserve = -1;

int
accept_reserve_open(void)
{
	if (reserve < 0)
		reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return (reserve < 0 ? -1 : 0);
}

void
accept_reserve_close(void)
{
	if (reserve >= 0)
		close(reserve);
	reserve = -1;
}

/*
 * Accept what waits in the listen queue with the reserve descriptor and
 * refuse it, one at a time. The reserve is gone for the moment of each
 * accept; if someone else takes the descriptor meanwhile, it stays gone
 * until a later episode can open it again.
 */
static void
accept_refuse_queue(struct accept_guard *g)
{
	int	lfd = (int)evconnlistener_get_fd(g->l), fd, i;

	for (i = 0; i < ACCEPT_REFUSE_MAX; i++) {
		if (reserve < 0 && accept_reserve_open() != 0)
			return;
		close(reserve);
		reserve = -1;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			g->refuse(fd, g->arg);	/* closes fd */
			g->refused++;
			g->episode++;
		}
		(void)accept_reserve_open();
		if (fd < 0)
			return;
	}
}

static void
accept_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct accept_guard	*g = arg;
	struct timeval		 tv = { 0, ACCEPT_BACKOFF_MS * 1000 };

	if (g->state == GUARD_BACKOFF) {
		evconnlistener_enable(g->l);
		g->state = GUARD_PROBING;
		evtimer_add(g->timer, &tv);
	} else if (g->state == GUARD_PROBING) {
		g->state = GUARD_ACCEPTING;
		log_notice("accepting again listener=%s refused=%llu", g->name,
		    (unsigned long long)g->episode);
	}
}

static void
accept_error_cb(struct evconnlistener *l, void *unused)
{
	struct accept_guard	*g;
	struct timeval		 tv = { 0, ACCEPT_BACKOFF_MS * 1000 };
	int			 err = EVUTIL_SOCKET_ERROR();

	LIST_FOREACH(g, &guards, entry)
		if (g->l == l)
			break;
	if (g == NULL)
		return;
	if (g->state == GUARD_ACCEPTING) {
		g->backoffs++;
		g->episode = 0;
		log_warn("accept failed, refusing new connections until it "
		    "works again listener=%s error=\"%s\" retry_ms=%d%s",
		    g->name, strerror(err), ACCEPT_BACKOFF_MS,
		    reserve < 0 ? " reserve=none" : "");
	}
	g->state = GUARD_BACKOFF;
	evconnlistener_disable(l);
	accept_refuse_queue(g);
	evtimer_add(g->timer, &tv);
}

struct accept_guard *
accept_guard_new(struct event_base *base, struct evconnlistener *l,
    const char *name, accept_refuse_fn refuse, void *arg)
{
	struct accept_guard	*g = xcalloc(1, sizeof(*g));

	g->l = l;
	g->name = name;
	g->refuse = refuse;
	g->arg = arg;
	if ((g->timer = evtimer_new(base, accept_timer_cb, g)) == NULL)
		fatalx("evtimer_new failed");
	LIST_INSERT_HEAD(&guards, g, entry);
	evconnlistener_set_error_cb(l, accept_error_cb);
	return (g);
}

void
accept_guard_free(struct accept_guard *g)
{
	if (g == NULL)
		return;
	evconnlistener_set_error_cb(g->l, NULL);
	event_free(g->timer);
	LIST_REMOVE(g, entry);
	free(g);
}

uint64_t
accept_guard_backoffs(const struct accept_guard *g)
{
	return (g != NULL ? g->backoffs : 0);
}

uint64_t
accept_guard_refused(const struct accept_guard *g)
{
	return (g != NULL ? g->refused : 0);
}
