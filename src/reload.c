/*
 * reload.c: build a reload in a thread of its own (see reload.h).
 *
 * The thread reads nothing the event loop changes: the configuration
 * file's path (a copy) and the serving ident, which nothing changes
 * while a reload runs (only the callback swaps it, after the thread is
 * gone). It hands its bundle over under the join: the loop reads the
 * result only after pthread_join().
 *
 * At exit a thread that has not finished is not waited for: it may be
 * blocked for good in a read (a hung network file system). It is
 * detached and left with its struct reload, its pipe and the ident it
 * reads; the process ends under it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "http_ui.h"
#include "ident.h"
#include "log.h"
#include "reload.h"
#include "rules.h"
#include "util.h"

struct reload {
	struct event		*ev;		/* the pipe's read end */
	int			 pipe[2];
	reload_done_cb		 cb;
	void			*arg;
	pthread_t		 thread;
	bool			 joinable;	/* thread started, not joined */
	bool			 running;	/* the callback is still due */
	bool			 cancel;	/* atomic: stop after this step */
	bool			 finished;	/* atomic: result written */
	/* the job, read by the thread */
	char			*conf_path;
	const struct ident	*cur;
	uint64_t		 t_start;
	/* the result, written by the thread before it signals */
	struct reload_bundle	*result;
};

void
reload_bundle_free(struct reload_bundle *b)
{
	if (b == NULL)
		return;
	if (b->rules != NULL)
		rules_unref(b->rules);
	ident_free(b->ident);
	http_ui_free(b->ui);
	free(b->ui_error);
	conf_free(b->conf);
	free(b->cause);
	free(b->warn);
	free(b);
}

void
reload_log_diag(bool err, const char *what, const char *diag)
{
	const char	*p, *e;
	char		 esc[512];

	for (p = diag; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		if ((e = strchr(p, '\n')) == NULL)
			e = p + strlen(p);
		if (e == p || *p == ' ' || *p == '\t')
			continue;
		log_value(p, (size_t)(e - p), esc, sizeof(esc));
		if (err)
			log_err("%s diag=%s", what, esc);
		else
			log_warn("%s diag=%s", what, esc);
	}
}

struct ruleset *
reload_rules(const struct conf *cf, struct ident *id, char **cause)
{
	struct ruleset	*rs;
	char		*diag = NULL, *report = NULL, *tcause = NULL;
	size_t		 reportlen = 0;
	FILE		*f;
	int		 failed = 0, ntests;

	*cause = NULL;
	if ((rs = (cf->rules_merge ? rules_load_dirs : rules_load_paths)(
	    (const char *const *)cf->rules_paths, cf->nrules_paths, id,
	    cf->rules_max_bytes, &diag)) == NULL) {
		*cause = diag != NULL ? diag : xstrdup("rules: not loaded");
		return (NULL);
	}
	if (diag != NULL) {
		reload_log_diag(false, "rules loaded with warnings", diag);
		free(diag);
	}
	if ((f = open_memstream(&report, &reportlen)) == NULL)
		fatal("open_memstream");
	ntests = rules_run_tests(rs, id, f, 0, &failed, &tcause);
	fclose(f);
	if (ntests < 0 || failed > 0) {
		if (ntests < 0)
			xasprintf(cause, "rule tests could not run: %s", tcause);
		else
			xasprintf(cause, "%d of %d rule tests failed:\n%s",
			    failed, ntests, report);
		free(tcause);
		free(report);
		rules_unref(rs);
		return (NULL);
	}
	log_debug("rule tests passed tests=%d", ntests);
	free(report);
	rules_cost_reset(rs);	/* what serving costs, not the tests */
	return (rs);
}

static bool
reload_cancelled(struct reload *r)
{
	return (__atomic_load_n(&r->cancel, __ATOMIC_ACQUIRE));
}

/*
 * The console's files anew. They are no reason to refuse a reload (the
 * checks do not need them): the old ones keep serving (reload_done says
 * why).
 */
static void
reload_ui(struct reload_bundle *b)
{
	b->ui = http_ui_load(b->conf->http_ui_dir, &b->ui_error);
}

/* The thread: everything new, or why not. */
static void *
reload_main(void *arg)
{
	struct reload		*r = arg;
	struct reload_bundle	*b = xcalloc(1, sizeof(*b));
	struct ident_conf	 ic;
	char			*cause = NULL;

	if ((b->conf = conf_load(r->conf_path, &cause)) == NULL) {
		b->cause = cause;
		goto done;
	}
	if (reload_cancelled(r))
		goto done;
	/* Identity data first: the new rules hash list values with it. */
	conf_ident(b->conf, &ic);
	b->ident = ident_stage(r->cur, &ic, &b->warn);
	if (reload_cancelled(r))
		goto done;
	b->rules = reload_rules(b->conf, b->ident, &b->cause);
	if (b->rules != NULL && b->conf->http_listen != NULL)
		reload_ui(b);
done:
	b->us = mono_us() - r->t_start;
	r->result = b;
	__atomic_store_n(&r->finished, true, __ATOMIC_RELEASE);
	if (write_all(r->pipe[1], "", 1) != 0)
		fatal("reload: cannot wake the event loop");
	return (NULL);
}

static void
reload_join(struct reload *r)
{
	if (!r->joinable)
		return;
	if ((errno = pthread_join(r->thread, NULL)) != 0)
		fatal("reload: pthread_join");
	r->joinable = false;
}

/* In the loop: the thread is done. */
static void
reload_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload		*r = arg;
	struct reload_bundle	*b;
	char			 c;

	if (read(fd, &c, 1) != 1)
		return;		/* EAGAIN: spurious */
	reload_join(r);
	b = r->result;
	r->result = NULL;
	r->running = false;
	free(r->conf_path);
	r->conf_path = NULL;
	r->cur = NULL;
	r->cb(b, r->arg);
}

struct reload *
reload_new(struct event_base *base, reload_done_cb cb, void *arg,
    char **cause)
{
	struct reload	*r = xcalloc(1, sizeof(*r));

	if (pipe2(r->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		xasprintf(cause, "reload: pipe: %s", strerror(errno));
		free(r);
		return (NULL);
	}
	r->cb = cb;
	r->arg = arg;
	r->ev = event_new(base, r->pipe[0], EV_READ | EV_PERSIST, reload_cb, r);
	if (r->ev == NULL || event_add(r->ev, NULL) != 0) {
		xasprintf(cause, "reload: cannot watch the pipe");
		if (r->ev != NULL)
			event_free(r->ev);
		close(r->pipe[0]);
		close(r->pipe[1]);
		free(r);
		return (NULL);
	}
	return (r);
}

int
reload_start(struct reload *r, const char *conf_path, const struct ident *cur)
{
	struct reload_bundle	*b;
	int			 rv;

	if (r->running) {
		errno = EBUSY;
		return (-1);
	}
	r->conf_path = xstrdup(conf_path);
	r->cur = cur;
	r->t_start = mono_us();
	r->cancel = false;
	r->finished = false;
	r->running = true;
	if ((rv = pthread_create(&r->thread, NULL, reload_main, r)) == 0) {
		r->joinable = true;
		return (0);
	}
	/* No thread: the same answer by the same path, from the loop. */
	b = xcalloc(1, sizeof(*b));
	xasprintf(&b->cause, "cannot start the reload thread: %s",
	    strerror(rv));
	r->result = b;
	if (write_all(r->pipe[1], "", 1) != 0)
		fatal("reload: cannot wake the event loop");
	errno = rv;
	return (-1);
}

bool
reload_running(const struct reload *r)
{
	return (r != NULL && r->running);
}

/*
 * Left running at exit: a root, so that leak checkers see what it holds.
 * Volatile: a static only ever written is a dead store to the compiler,
 * which then drops it (and the root with it).
 */
static struct reload *volatile	reload_left;

bool
reload_free(struct reload *r)
{
	if (r == NULL)
		return (false);
	if (r->running) {
		__atomic_store_n(&r->cancel, true, __ATOMIC_RELEASE);
		if (r->joinable &&
		    !__atomic_load_n(&r->finished, __ATOMIC_ACQUIRE)) {
			if ((errno = pthread_detach(r->thread)) != 0)
				fatal("reload: pthread_detach");
			event_free(r->ev);
			reload_left = r;
			return (true);
		}
		reload_join(r);
		reload_bundle_free(r->result);
		free(r->conf_path);
	}
	event_free(r->ev);
	close(r->pipe[0]);
	close(r->pipe[1]);
	free(r);
	return (false);
}
