/*
 * reload.h: build a reload off the event loop.
 *
 * A reload re-reads the configuration file, stages the identity data
 * beside the serving one (ident.h ident_stage: disposable list, GeoIP
 * databases, email_domain rules, ip prefix lengths), compiles the rule set
 * the file names against it (with its lists) and runs the set's own
 * tests. The result is a bundle of new state; nothing the daemon serves
 * with is touched while it is built. A big rule set takes seconds to
 * compile, which in the event loop would hold up every request and the
 * watchdog pings, so the work runs in a thread of its own. The finished
 * bundle comes back to the event loop (a pipe that a libevent event
 * reads), whose callback swaps it in whole when the reload succeeded, or
 * frees it and keeps everything old when it did not.
 *
 * One reload at a time: reload_start() refuses while one runs, and the
 * caller decides what to do with the request (refguardd.c runs one more
 * reload after the current one, for everyone who asked meanwhile).
 *
 * Threading: reload_new, reload_start, reload_running and reload_free
 * are for the event loop's thread; the callback runs there too.
 */
#ifndef REFGUARD_RELOAD_H
#define REFGUARD_RELOAD_H

#include <stdbool.h>
#include <stdint.h>

struct conf;
struct event_base;
struct http_ui;
struct ident;
struct ruleset;

/* What a reload built. */
struct reload_bundle {
	struct conf	*conf;	/* the configuration read; NULL if it failed */
	struct ident	*ident;	/* the staged identity data; NULL with conf */
	struct ruleset	*rules;	/* compiled, its tests passed; NULL: failed */
	char		*cause;	/* why the reload failed; NULL: it succeeded */
	char		*warn;	/* identity data that kept its old state (the
				   reload still succeeds), or NULL */
	struct http_ui	*ui;	/* the console's files read anew (with an
				   HTTP listener); NULL: keep the old ones */
	char		*ui_error; /* why they could not be read, or NULL */
	uint64_t	 us;	/* how long the work took */
};

/* Free a bundle and everything still in it (NULL is fine). */
void	reload_bundle_free(struct reload_bundle *);

/*
 * Called in the event loop with each finished bundle, which it then owns
 * (it takes what it swaps in and frees the rest with reload_bundle_free).
 */
typedef void (*reload_done_cb)(struct reload_bundle *, void *arg);

struct reload;

/* NULL and *cause (caller frees) when the pipe cannot be made. */
struct reload	*reload_new(struct event_base *base, reload_done_cb cb,
		     void *arg, char **cause);

/*
 * Start a reload of the configuration at conf_path against the serving
 * identity data cur (its secret; the parts that fail to load anew are
 * kept from it). cur is only read, from the reload's thread: the caller
 * must neither change nor free it until the callback has run. Returns 0,
 * or -1 and errno: EBUSY when a reload is running already (nothing
 * started), or why the thread could not start (a bundle with the reason
 * still comes back through the callback, from the loop, so that the
 * caller has one path).
 */
int	 reload_start(struct reload *r, const char *conf_path,
	    const struct ident *cur);

/* A reload is running: its callback has not run yet. */
bool	 reload_running(const struct reload *r);

/*
 * At exit: discard a running reload (the callback does not run). A thread
 * that has finished is joined and its bundle freed; one still at work
 * (it may be blocked for good in a read) is asked to stop after its
 * current step and left running, detached, never waited for. Returns
 * true in that case: the thread may still read the cur given to
 * reload_start, which the caller must then not free (the process is about
 * to end). NULL is fine (false).
 */
bool	 reload_free(struct reload *r);

/*
 * The rules of a reload, also for start-up and refguardd -t: compile the
 * rule set cf names against id (which hashes identity values in rules
 * and lists) and run its embedded tests; a set whose own tests fail is
 * never put in service. Warnings are logged. Returns the set, or NULL
 * and *cause (caller frees): the diagnostics, or the failed tests.
 */
struct ruleset	*reload_rules(const struct conf *cf, struct ident *id,
		     char **cause);

/*
 * Log rule diagnostics or failed tests (text of reload_rules' *cause or
 * of rules_load's warnings), one line each as "what diag=...", at error
 * level (err) or as warnings; the indented lines (the source line and
 * the caret under it) are left out.
 */
void	 reload_log_diag(bool err, const char *what, const char *diag);

#endif
