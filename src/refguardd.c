/*
 * refguardd: the referral-fraud detection daemon.
 *
 * Start-up order: read the configuration; detach unless -f (before
 * anything is opened: LMDB must not be used across fork(), and the locks
 * belong to the process that takes them); open the store (which locks the
 * state directory), the identity data (the secret, checked against the
 * store's record of it; lists, GeoIP) and the rules; bind the socket (or
 * take the one systemd passes); start the writer thread and the event
 * loop. Every step that can fail does so before the daemon says it is
 * ready: to systemd, and to the parent that waits for the detached child.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <jansson.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "accept.h"
#include "cluster.h"
#include "conf.h"
#include "conn.h"
#include "daemon.h"
#include "dataset.h"
#include "http.h"
#include "ident.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "reload.h"
#include "rules.h"
#include "secret.h"
#include "stats.h"
#include "store.h"
#include "util.h"
#include "writer.h"

#define RETENTION_PERIOD_MS	1000
#define RETENTION_BATCH		5000
#define DRAIN_TIMEOUT_S		30

static struct event	*ev_retention;
static struct event	*ev_drain;
static struct event	*ev_watchdog;
static uint64_t		 drain_started;
static bool		 retention_busy;
static int		 startup_fd = -1;	/* detached: to the parent */

/*
 * Reloads (reload.h). The jobs of reload requests wait for the reload
 * that started after they came: those of the running one in
 * reload_waiting, those that came while it ran in reload_next, for one
 * more reload that starts when it ends (reload_again; a SIGHUP meanwhile
 * asks for it too). So an answer never comes from a reload that read the
 * files before it was asked for.
 */
static struct job_list	 reload_waiting =
			    TAILQ_HEAD_INITIALIZER(reload_waiting);
static struct job_list	 reload_next = TAILQ_HEAD_INITIALIZER(reload_next);
static bool		 reload_again;
static bool		 reload_left;	/* a reload thread outlives the loop */

/*
 * Tell the service manager a state (READY=1 and the like, or NULL) and a
 * STATUS= line, what "systemctl status" shows. No-op without libsystemd
 * or outside systemd.
 */
static void __attribute__((format(printf, 2, 3)))
notify_status(const char *state, const char *fmt, ...)
{
#ifdef HAVE_SYSTEMD
	va_list	 ap;
	char	 status[512];

	va_start(ap, fmt);
	vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "%s%sSTATUS=%s", state != NULL ? state : "",
	    state != NULL ? "\n" : "", status);
#endif
}

#ifdef HAVE_SYSTEMD
/*
 * WatchdogSec=: ping from the event loop itself, so that a loop that stops
 * turning stops the pings and systemd restarts the daemon.
 */
static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}
#endif

/* Start the watchdog pings if the service manager asks for them. */
static void
watchdog_start(struct event_base *base)
{
#ifdef HAVE_SYSTEMD
	struct timeval	 tv;
	uint64_t	 usec, half;
	int		 r;

	if ((r = sd_watchdog_enabled(0, &usec)) <= 0) {
		if (r < 0)
			log_warn("watchdog unavailable error=\"%s\"",
			    strerror(-r));
		return;
	}
	half = usec / 2 > 0 ? usec / 2 : 1;
	tv.tv_sec = (time_t)(half / 1000000);
	tv.tv_usec = (suseconds_t)(half % 1000000);
	ev_watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, NULL);
	if (ev_watchdog == NULL || event_add(ev_watchdog, &tv) != 0)
		fatalx("cannot start the watchdog timer");
	log_debug("watchdog started interval_us=%llu",
	    (unsigned long long)half);
#endif
}

static void	record_data(struct daemon *);
static void	retention_done(struct job *, void *);
static void	daemon_reload(struct daemon *, struct job *);
static void	data_stale_check(struct daemon *, bool);

/*
 * The parent of a detached daemon: wait for the child's word on the
 * start-up pipe, "ready" or its error (log.c writes fatal errors there),
 * and exit with it. EOF without a word: the child died.
 */
static int __attribute__((noreturn))
detach_wait(int fd, pid_t pid)
{
	char	 buf[8192];
	size_t	 len = 0;
	ssize_t	 n;

	while (len < sizeof(buf) - 1 &&
	    (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	waitpid(pid, NULL, 0);	/* daemon(3)'s own fork: it exits at once */
	if (strcmp(buf, "ready\n") == 0)
		exit(0);
	if (len > 0)
		fprintf(stderr, "refguardd: %s%s", buf,
		    buf[len - 1] == '\n' ? "" : "\n");
	else
		fprintf(stderr, "refguardd: the daemon died during start-up "
		    "without a word (a crash?); see the system log\n");
	exit(1);
}

/*
 * Detach, as tmux's proc_fork_and_daemon() does: fork, and the child
 * becomes the daemon (daemon(3)) while the parent waits on a pipe for
 * detach_ready() or an error, so that a failed start-up is the exit
 * status and the message of the command that started it.
 */
static void
detach(void)
{
	pid_t	pid;
	int	p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0) {
		close(p[1]);
		detach_wait(p[0], pid);
	}
	close(p[0]);
	startup_fd = p[1];
	log_set_fatal_fd(startup_fd);
	log_init("refguardd", LOG_TARGET_SYSLOG, log_get_level());
	if (daemon(0, 0) != 0)
		fatal("daemon");
}

/* Serving: let the parent exit 0. */
static void
detach_ready(void)
{
	if (startup_fd < 0)
		return;
	if (write_all(startup_fd, "ready\n", 6) != 0)
		log_warn("cannot tell the starting process we are ready "
		    "error=\"%s\"", strerror(errno));
	log_set_fatal_fd(-1);
	close(startup_fd);
	startup_fd = -1;
}

/* -h, --help: on stdout, exit 0; a usage error: on stderr, exit 2. */
static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: refguardd [-dfhtV] [-c config]\n"
	    "  -c FILE        configuration (default %s)\n"
	    "  -d             debug logging\n"
	    "  -f             stay in the foreground, log to stderr\n"
	    "  -t             check the configuration and rules, then exit\n"
	    "  -h, --help     this text\n"
	    "  -V, --version  print the version\n", CONF_DEFAULT_PATH);
	exit(status);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int socklen, void *arg)
{
	conn_accept(arg, fd);
}

/* Close the NDJSON listener (its guard first). */
static void
listener_close(struct daemon *d)
{
	accept_guard_free(d->guard);
	d->guard = NULL;
	if (d->listener != NULL)
		evconnlistener_free(d->listener);
	d->listener = NULL;
}

/*
 * Raise the soft descriptor limit to the hard one, and say so when the
 * connection limits do not fit in it: connections past it are then
 * refused (accept.h) rather than max_connections. NULL, or a message
 * (caller frees).
 */
static char *
fd_limit(const struct conf *cf)
{
	struct rlimit	 rl;
	rlim_t		 want;
	char		*msg = NULL;
	uint64_t	 need;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		xasprintf(&msg, "cannot read the descriptor limit: %s",
		    strerror(errno));
		return (msg);
	}
	if (rl.rlim_cur < rl.rlim_max) {
		/* Unlimited is not a soft limit the kernel takes. */
		want = rl.rlim_max == RLIM_INFINITY ? 1 << 20 : rl.rlim_max;
		rl.rlim_cur = want > rl.rlim_cur ? want : rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	need = (uint64_t)cf->max_conns + ACCEPT_FD_RESERVE +
	    (cf->http_listen != NULL ? cf->http_max_conns : 0);
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
		xasprintf(&msg, "max_connections (%u)%s and %d descriptors "
		    "for the daemon itself need %llu file descriptors, but the "
		    "limit (RLIMIT_NOFILE) is %llu: connections past it are "
		    "refused with too_many_connections; raise LimitNOFILE= (or "
		    "ulimit -n) or lower the connection limits", cf->max_conns,
		    cf->http_listen != NULL ? " + http_max_connections" : "",
		    ACCEPT_FD_RESERVE, (unsigned long long)need,
		    (unsigned long long)rl.rlim_cur);
	return (msg);
}

/* At a reload that succeeds: the data freshness settings of cf. */
static void
data_conf_swap(struct daemon *d, struct conf *cf)
{
	free(d->conf->data_stamp_file);
	d->conf->data_stamp_file = cf->data_stamp_file;
	cf->data_stamp_file = NULL;
	d->conf->data_max_age = cf->data_max_age;
	data_stale_check(d, true);
}

/*
 * A warning when data sets grow older than data_max_age: at start-up, at
 * each reload (force) and when the set of stale data changes, checked
 * once a minute.
 */
static void
data_stale_check(struct daemon *d, bool force)
{
	static int64_t	 last_check;
	static char	*last;
	char		*names = NULL, esc[512];
	int64_t		 now = now_ms();

	if (d->conf->data_max_age <= 0) {
		d->data_stale = false;
		free(last);
		last = NULL;
		return;
	}
	if (!force && now - last_check < 60000)
		return;
	last_check = now;
	json_decref(stats_data_json(d, &names));
	d->data_stale = names != NULL;
	if (names != NULL && (force || last == NULL || strcmp(names, last) != 0))
		log_warn("data older than data_max_age=%llds stale=%s",
		    (long long)(d->conf->data_max_age / 1000),
		    log_value(names, strlen(names), esc, sizeof(esc)));
	else if (names == NULL && last != NULL)
		log_notice("data fresh again data_max_age=%llds",
		    (long long)(d->conf->data_max_age / 1000));
	free(last);
	last = names;
}

/* The data summary, escaped for a log line (*buf: malloc'd, caller frees). */
static const char *
data_log(struct daemon *d, char **buf)
{
	json_t	*data = stats_data_json(d, NULL);
	char	*s = dataset_summary(data);
	size_t	 cap = 4 * strlen(s) + 8;

	json_decref(data);
	*buf = xmalloc(cap);
	log_value(s, strlen(s), *buf, cap);
	free(s);
	return (*buf);
}

/* Start a reload in its thread; its end comes to reload_done(). */
static void
reload_begin(struct daemon *d, const char *by)
{
	char	esc[512];

	d->reloads++;
	notify_status("RELOADING=1", "reloading %s", d->conf_path);
	log_info("reload started by=%s conf=%s", by, log_value(d->conf_path,
	    strlen(d->conf_path), esc, sizeof(esc)));
	if (reload_start(d->reloader, d->conf_path, d->ident) != 0 &&
	    errno == EBUSY)
		fatalx("reload_begin: a reload is running");
	/* (any other failure comes back through reload_done) */
}

static void	reload_refuse(struct daemon *, struct job_list *, const char *);

#define RELOAD_STOPPING	"refguardd is stopping; no reload starts"

/* d->reload (daemon.h). From TERM on no reload starts (reload_abandon). */
static void
daemon_reload(struct daemon *d, struct job *job)
{
	bool	running = reload_running(d->reloader);

	if (d->stopping) {
		if (job == NULL) {
			log_notice("SIGHUP ignored: refguardd is stopping");
			return;
		}
		/* Answered at once, as any op on the loop (ops.h). */
		job_set_error(job, "stopping", NULL, RELOAD_STOPPING);
		job->done = true;
		return;
	}
	if (job != NULL)
		TAILQ_INSERT_TAIL(running ? &reload_next : &reload_waiting,
		    job, entry);
	if (!running) {
		reload_begin(d, job != NULL ? "request" : "SIGHUP");
		return;
	}
	if (!reload_again)
		log_info("reload queued: one is running, another follows it");
	reload_again = true;
}

/* Swap in what a successful reload built; cf's reloadable keys apply. */
static void
reload_swap(struct daemon *d, struct reload_bundle *b)
{
	struct conf	*cf = b->conf;

	ident_free(d->ident);
	d->ident = b->ident;
	b->ident = NULL;
	if (d->rules != NULL)
		rules_unref(d->rules);
	d->rules = b->rules;
	b->rules = NULL;
	d->rules_loaded_at = now_ms();
	if (b->ui != NULL) {
		http_set_ui(d->http, b->ui);
		b->ui = NULL;
	}
	free(d->conf->rules_path);
	d->conf->rules_path = xstrdup(cf->rules_path);
	d->conf->log_level = cf->log_level;
	if (cf->map_max != d->conf->map_max) {
		/* The writer sees it at its next grow: map_max is only ever
		 * read atomically (store_db.c). */
		store_set_map_max(d->store, cf->map_max);
		log_notice("reload map_max=%llu was=%llu",
		    (unsigned long long)cf->map_max,
		    (unsigned long long)d->conf->map_max);
		d->conf->map_max = cf->map_max;
	}
	if (!d->debug)
		log_set_level(cf->log_level);
	record_data(d);
	data_conf_swap(d, cf);
}

/*
 * The console's files a reload could not read (the old ones keep
 * serving): a warning for the reply when the console was served; when it
 * never was (not installed), only the log says so, at info. NULL: none.
 */
static char *
reload_ui_warning(struct daemon *d, const struct reload_bundle *b)
{
	char	esc[1024], *w;

	if (b->ui_error == NULL)
		return (NULL);
	log_value(b->ui_error, strlen(b->ui_error), esc, sizeof(esc));
	if (!http_ui_served(d->http)) {
		log_info("web console still not served error=%s", esc);
		return (NULL);
	}
	log_warn("reload kept the web console's files error=%s", esc);
	xasprintf(&w, "%s (the web console keeps the files it had)",
	    b->ui_error);
	return (w);
}

/*
 * A reload ended (reload.h): swap in everything it built, or keep
 * everything old and say why; answer the requests that waited for it,
 * and start the next one if more were asked for meanwhile.
 */
static void
reload_done(struct reload_bundle *b, void *arg)
{
	struct daemon	*d = arg;
	struct job_list	 done = TAILQ_HEAD_INITIALIZER(done);
	struct job	*job;
	json_t		*o;
	char		*s, *data, *uiwarn, esc[1536];
	size_t		 len;

	if (b->warn != NULL)
		log_warn("reload kept some identity data error=%s",
		    log_value(b->warn, strlen(b->warn), esc, sizeof(esc)));
	o = json_object();
	if (b->cause != NULL) {
		d->reload_failures++;
		free(d->reload_error);
		d->reload_error = xstrdup(b->cause);
		reload_log_diag(true, "reload failed", b->cause);
		log_err("reload failed, the old rules and data keep serving "
		    "ruleset=%s data=%s", d->rules != NULL ?
		    rules_hash(d->rules) : "none", data_log(d, &data));
		free(data);
		json_object_set_new(o, "error", json_pack("{s:s,s:s}",
		    "code", "reload_failed", "msg", b->cause));
	} else {
		reload_swap(d, b);
		free(d->reload_error);
		d->reload_error = NULL;
		log_info("reloaded ruleset=%s rules=%zu data=%s",
		    rules_hash(d->rules), rules_count(d->rules),
		    data_log(d, &data));
		free(data);
		json_object_set_new(o, "ok", json_true());
		json_object_set_new(o, "rules",
		    json_integer((json_int_t)rules_count(d->rules)));
	}
	log_debug("reload took us=%llu", (unsigned long long)b->us);
	json_object_set_new(o, "ruleset", json_string(d->rules != NULL ?
	    rules_hash(d->rules) : "none"));
	uiwarn = reload_ui_warning(d, b);
	if (b->warn != NULL && uiwarn != NULL) {
		xasprintf(&s, "%s; %s", b->warn, uiwarn);
		json_object_set_new(o, "warning", json_string(s));
		free(s);
	} else if (b->warn != NULL || uiwarn != NULL)
		json_object_set_new(o, "warning", json_string(b->warn != NULL ?
		    b->warn : uiwarn));
	free(uiwarn);
	if (d->reload_error != NULL)
		notify_status("READY=1", "serving, ruleset %s (%zu rules); "
		    "last reload failed, see the log", rules_hash(d->rules),
		    rules_count(d->rules));
	else
		notify_status("READY=1", "serving, ruleset %s (%zu rules)",
		    rules_hash(d->rules), rules_count(d->rules));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	len = strlen(s);
	while ((job = TAILQ_FIRST(&reload_waiting)) != NULL) {
		TAILQ_REMOVE(&reload_waiting, job, entry);
		job->reply = xstrdup(s);
		job->replylen = len;
		job->errcode = d->reload_error != NULL ? "reload_failed" : NULL;
		job->done = true;
		TAILQ_INSERT_TAIL(&done, job, entry);
	}
	free(s);
	reload_bundle_free(b);
	if (reload_again) {
		reload_again = false;
		TAILQ_CONCAT(&reload_waiting, &reload_next, entry);
		reload_begin(d, "queue");
	}
	conn_jobs_done(&done, d);
}

/*
 * Answer every job of list (requests that waited for a reload, handed
 * back to their owners) with a "stopping" error saying msg.
 */
static void
reload_refuse(struct daemon *d, struct job_list *list, const char *msg)
{
	struct job	*job;

	TAILQ_FOREACH(job, list, entry) {
		job_set_error(job, "stopping", NULL, "%s", msg);
		job->done = true;
	}
	conn_jobs_done(list, d);
}

/*
 * At TERM (and at exit): the running reload is dropped, none queued
 * starts; every request waiting for one gets "stopping". A reload thread
 * still at work is left behind (reload_free), with d->ident, which it
 * reads: reload_left says not to free it.
 */
static void
reload_abandon(struct daemon *d)
{
	if (d->reloader != NULL && reload_running(d->reloader))
		log_notice("reload dropped: refguardd is stopping");
	if (reload_free(d->reloader))
		reload_left = true;
	d->reloader = NULL;
	reload_again = false;
	TAILQ_CONCAT(&reload_waiting, &reload_next, entry);
	reload_refuse(d, &reload_waiting, "refguardd stopped before the "
	    "reload ended; nothing changed");
}

/* Keep the description of the identity data the next events will use. */
static void
record_data(struct daemon *d)
{
	struct job	*job = job_new(JOB_META);
	json_t		*info = ident_info(d->ident);

	job->owner = (struct job_owner){ job_done_free, NULL };
	snprintf(job->meta_name, sizeof(job->meta_name), "data:%016llx",
	    (unsigned long long)ident_data_id(d->ident));
	job->reply = json_dumps(info, JSON_COMPACT | JSON_SORT_KEYS);
	job->replylen = job->reply != NULL ? strlen(job->reply) : 0;
	json_decref(info);
	writer_submit(d->writer, job);
}

static void
retention_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;
	struct job	*job;
	struct timeval	 tv = { RETENTION_PERIOD_MS / 1000,
			    (RETENTION_PERIOD_MS % 1000) * 1000 };

	data_stale_check(d, false);
	/*
	 * Also without retention: expired list entries are purged. In
	 * cluster mode retention runs by the log's time instead, as each
	 * message is applied (cluster.h): the node's clock is its own.
	 */
	if (!retention_busy && !d->stopping && d->cluster == NULL) {
		job = job_new(JOB_EXPIRE);
		job->owner = (struct job_owner){ retention_done, d };
		job->expire_before = d->conf->retention > 0 ?
		    now_ms() - d->conf->retention : INT64_MIN;
		job->expire_max = RETENTION_BATCH;
		retention_busy = true;
		writer_submit(d->writer, job);
	}
	evtimer_add(ev_retention, &tv);
}

/* A retention pass is back: count it, and go again at once if it was full. */
static void
retention_done(struct job *job, void *arg)
{
	struct daemon	*d = arg;
	struct timeval	 now = { 0, 0 };

	retention_busy = false;
	if (job->expired > 0) {
		d->stats.expired += (uint64_t)job->expired;
		log_info("retention removed events=%lld",
		    (long long)job->expired);
	}
	if (job->expired_entries > 0)
		log_info("retention: removed %lld expired list entries",
		    (long long)job->expired_entries);
	if (job->expired >= RETENTION_BATCH ||
	    job->expired_entries >= RETENTION_BATCH)
		evtimer_add(ev_retention, &now);
	job_free(job);
}

/*
 * Connections still in a listen queue at TERM are accepted and refused;
 * a listener whose queue is empty is closed, so that a TCP listener does
 * not take new connections for the whole drain. True while a queue is
 * left. The drain ends at the first tick with nothing queued, in flight
 * or owed: every connection is seen from its accept (an HTTP one too,
 * http_pending), so no grace period is needed for one not heard from.
 */
static bool
drain_listeners(struct daemon *d)
{
	bool	queued = false;

	if (d->listener != NULL) {
		if (fd_readable(evconnlistener_get_fd(d->listener)))
			queued = true;
		else
			listener_close(d);
	}
	if (http_backlog(d->http))
		queued = true;
	else
		http_close_listener(d->http);
	return (queued);
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;
	struct timeval	 tv = { 0, 10000 };
	size_t		 pending;
	bool		 busy;

	busy = drain_listeners(d);
	pending = conn_pending_all(d) + http_pending(d->http);
	if (writer_inflight(d->writer) != 0 || pending != 0)
		busy = true;
	if (!busy ||
	    mono_us() - drain_started > DRAIN_TIMEOUT_S * 1000000ULL) {
		if (writer_inflight(d->writer) != 0 || pending != 0)
			log_warn("shutdown gave up waiting for slow clients "
			    "pending=%zu inflight=%zu", pending,
			    writer_inflight(d->writer));
		event_base_loopexit(d->base, NULL);
		return;
	}
	evtimer_add(ev_drain, &tv);
}

/*
 * TERM/INT: stop accepting and reading, answer what is in flight, exit.
 * A socket refguardd bound loses its file at once (nobody new connects)
 * but stays open while draining: what is already in its listen queue is
 * accepted and refused with "stopping" instead of reset by the kernel. A
 * socket systemd passed is closed at once: systemd keeps its queue for
 * the next instance.
 */
static void
shutdown_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;
	struct timeval	 tv = { 0, 0 };

	if (d->stopping)
		return;
	log_info("draining signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	notify_status("STOPPING=1", "draining %zu connections",
	    d->nconns);
	d->stopping = true;
	if (d->listener != NULL && d->listen_owned)
		unlink(d->conf->socket_path);
	else
		listener_close(d);
	http_stop(d->http);
	conn_stop_reading_all(d);
	reload_abandon(d);
	drain_started = mono_us();
	ev_drain = evtimer_new(d->base, drain_cb, d);
	evtimer_add(ev_drain, &tv);
}

static void
hup_cb(evutil_socket_t sig, short what, void *arg)
{
	log_info("reloading signal=SIGHUP");
	daemon_reload(arg, NULL);
}

/* Say what the secret check found; a lost store is worth a loud word. */
static void
secret_log(struct daemon *d, const struct secret_status *ss)
{
	const char	*dir = d->conf->state_dir;
	const char	*file = d->conf->hash_secret_file;

	if (ss->created)
		log_notice("created a new hash secret file=%s", file);
	if (ss->recorded)
		log_notice("recorded the hash secret's fingerprint in the "
		    "store (written before refguard kept it): a different "
		    "secret is refused from now on store=%s secret=%s", dir,
		    file);
	if (!ss->fresh)
		return;
	xasprintf(&d->store_warning, "the store in %s is new or empty, but "
	    "hash_secret_file %s existed already: if this installation held "
	    "data, its store (data.mdb) was lost or emptied; stop refguardd "
	    "and restore it", dir, file);
	log_err("%s", d->store_warning);
}

/* -t: the configuration, the identity data and the rules with their tests. */
static int
check_config(struct daemon *d)
{
	struct ident_conf	 ic;
	struct ruleset		*rs;
	char			*cause = NULL, *token = NULL;

	/* Never create the real secret here (ExecStartPre runs as root). */
	conf_ident(d->conf, &ic);
	ic.secret_file = NULL;
	if ((d->ident = ident_new(&ic, &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return (1);
	}
	if ((rs = reload_rules(d->conf, d->ident, &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		ident_free(d->ident);
		return (1);
	}
	if (d->conf->http_token_file != NULL &&
	    http_token_read(d->conf->http_token_file, &token, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		rules_unref(rs);
		ident_free(d->ident);
		return (1);
	}
	free(token);
	if ((cause = fd_limit(d->conf)) != NULL) {
		fprintf(stderr, "warning: %s\n", cause);
		free(cause);
	}
	printf("configuration %s is valid; ruleset %s: %zu rules, %zu tests "
	    "passed\n", d->conf_path, rules_hash(rs), rules_count(rs),
	    rules_ntests(rs));
	rules_unref(rs);
	ident_free(d->ident);
	return (0);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL,		0,		NULL, 0 }
	};
	struct daemon		 dd, *d = &dd;
	struct ident_conf	 ic;
	struct store_opts	 so;
	struct secret_status	 ss;
	struct event		*ev_term, *ev_int, *ev_hup;
	struct timeval		 tv = { 1, 0 };
	char			*cause = NULL, *path, *data, *cwd, esc[256];
	char			 esc2[256];
	const char		*conf_path = CONF_DEFAULT_PATH, *where;
	bool			 foreground = false, debug = false, test = false;
	int			 ch;

	memset(d, 0, sizeof(*d));
	while ((ch = getopt_long(argc, argv, "c:dfthV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("refguardd %s\n", PACKAGE_VERSION);
			return (0);
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	d->metrics = metrics_new();

	log_init("refguardd", LOG_TARGET_STDERR, debug ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_INFO);
	/*
	 * Absolute, so that paths survive the chdir of daemon(3), but not
	 * resolved: a configuration reached through a symbolic link keeps
	 * its drop-ins (conf.d) and relative paths beside the link, where
	 * refguardctl -c finds them too.
	 */
	if (conf_path[0] == '/')
		path = xstrdup(conf_path);
	else {
		if ((cwd = getcwd(NULL, 0)) == NULL)
			fatal("getcwd");
		xasprintf(&path, "%s/%s", cwd, conf_path);
		free(cwd);
	}
	d->conf_path = path;
	if ((d->conf = conf_load(d->conf_path, &cause)) == NULL) {
		if (test) {	/* every error, a line each */
			fprintf(stderr, "%s\n", cause);
			free(cause);
			free(d->conf_path);
			metrics_free(d->metrics);
			return (1);
		}
		fatalx("%s", cause);
	}
	if (test) {
		ch = check_config(d);
		metrics_free(d->metrics);
		conf_free(d->conf);
		free(d->conf_path);
		return (ch);
	}
	d->debug = debug;
	if (!debug)
		log_set_level(d->conf->log_level);
	if (d->conf->log_syslog)
		log_init("refguardd", LOG_TARGET_SYSLOG, log_get_level());
	/* (before detaching: a parent gone early is EPIPE, not death) */
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (ulimit -f, LimitFSIZE=) fails writes (EFBIG:
	 * store_error, /healthz 503) instead of killing the daemon. */
	signal(SIGXFSZ, SIG_IGN);
	if (!foreground)
		detach();

	if ((cause = fd_limit(d->conf)) != NULL) {
		log_warn("%s", cause);
		free(cause);
		cause = NULL;
	}
	if (mkdir(d->conf->state_dir, 0700) != 0 && errno != EEXIST)
		fatal("state directory %s", d->conf->state_dir);
	notify_status(NULL, "opening the store and the identity data");
	memset(&so, 0, sizeof(so));
	so.dir = d->conf->state_dir;
	so.map_size = d->conf->map_size;
	so.map_max = d->conf->map_max;
	so.recent_max = d->conf->recent_entries;
	so.nosync = !d->conf->sync_full;
	if ((d->store = store_open(&so, &cause)) == NULL)
		fatalx("%s", cause);
	conf_ident(d->conf, &ic);
	if ((d->ident = secret_ident_new(d->store, d->conf->state_dir, &ic,
	    &ss, &cause)) == NULL)
		fatalx("%s", cause);
	secret_log(d, &ss);
	if (!d->conf->sync_full)
		log_warn("an OS crash may lose the last moments of "
		    "acknowledged verdicts sync=none");

	notify_status(NULL, "loading the rules and running their tests");
	if ((d->rules = reload_rules(d->conf, d->ident, &cause)) == NULL) {
		reload_log_diag(true, "rules not loaded", cause);
		/* The parent shows the diagnostics, then fatalx's line. */
		if (startup_fd >= 0 && (write_all(startup_fd, cause,
		    strlen(cause)) != 0 || write_all(startup_fd, "\n", 1) != 0))
			log_err("cannot report the error to the starting "
			    "process");
		fatalx("rules not loaded: %s", d->conf->rules_path);
	}
	d->rules_loaded_at = now_ms();

	if ((d->listen_fd = listen_passed()) < 0) {
		if ((d->listen_fd = listen_unix(d->conf,
		    d->conf->socket_path, &cause)) < 0)
			fatalx("%s", cause);
		d->listen_owned = true;
	}
	if (d->conf->http_listen != NULL &&
	    (d->http = http_open(d->conf, &cause)) == NULL)
		fatalx("%s", cause);

	/* Kept for refusing connections when out of descriptors. */
	if (accept_reserve_open() != 0)
		log_warn("no reserve descriptor error=\"%s\"", strerror(errno));

	if (evthread_use_pthreads() != 0)
		fatalx("libevent: no pthreads support");
	if ((d->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	/* A cluster node applies the log one write at a time. */
	if (d->conf->eval_threads == 0)
		d->conf->eval_threads = d->conf->cluster_nats_url != NULL ? 1 :
		    cpus_usable(EVAL_THREADS_AUTO_MAX);
	if ((d->writer = writer_new(d->store, d->base, conn_jobs_done, d,
	    d->conf->eval_threads, &cause)) == NULL)
		fatalx("%s", cause);
	if (d->conf->cluster_nats_url != NULL && (d->cluster = cluster_new(d,
	    conn_jobs_done, d, op_get, &cause)) == NULL)
		fatalx("%s", cause);
	d->listener = evconnlistener_new(d->base, accept_cb, d,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, d->listen_fd);
	/* (backlog 0: the socket already listens, with our backlog or systemd's) */
	if (d->listener == NULL)
		fatalx("cannot listen on %s", d->conf->socket_path);
	d->guard = accept_guard_new(d->base, d->listener, "ndjson",
	    conn_refuse, d);
	if (d->http != NULL && http_start(d->http, d, &cause) != 0)
		fatalx("%s", cause);
	d->reload = daemon_reload;
	if ((d->reloader = reload_new(d->base, reload_done, d, &cause)) == NULL)
		fatalx("%s", cause);
	record_data(d);

	ev_term = evsignal_new(d->base, SIGTERM, shutdown_cb, d);
	ev_int = evsignal_new(d->base, SIGINT, shutdown_cb, d);
	ev_hup = evsignal_new(d->base, SIGHUP, hup_cb, d);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_hup, NULL);
	ev_retention = evtimer_new(d->base, retention_cb, d);
	evtimer_add(ev_retention, &tv);

	d->started_at = now_ms();
	d->started_mono = mono_us();
	where = d->listen_owned ? d->conf->socket_path : "systemd";
	log_info("ready version=%s socket=%s http=%s store=%s sync=%s "
	    "eval_threads=%u ruleset=%s rules=%zu data=%s", PACKAGE_VERSION,
	    log_value(where, strlen(where), esc, sizeof(esc)),
	    d->http != NULL ? http_where(d->http) : "none",
	    log_value(d->conf->state_dir, strlen(d->conf->state_dir), esc2,
	    sizeof(esc2)), d->conf->sync_full ? "full" : "none",
	    d->conf->eval_threads,
	    d->rules != NULL ? rules_hash(d->rules) : "none",
	    d->rules != NULL ? rules_count(d->rules) : 0, data_log(d, &data));
	free(data);
	data_stale_check(d, true);
	listen_startup_done();
	watchdog_start(d->base);
	detach_ready();
	notify_status("READY=1", "serving on %s, ruleset %s (%zu rules)",
	    d->listen_owned ? d->conf->socket_path : "the socket systemd passed",
	    rules_hash(d->rules), rules_count(d->rules));

	event_base_dispatch(d->base);

	reload_abandon(d);
	cluster_stop(d->cluster);
	writer_free(d->writer);
	cluster_free(d->cluster);
	conn_close_all(d);
	http_free(d->http);	/* after the writer: no request in flight */
	if (d->listener != NULL) {
		listener_close(d);
		/* At TERM the file went already; it may be a new daemon's now. */
		if (d->listen_owned && !d->stopping)
			unlink(d->conf->socket_path);
	}
	accept_reserve_close();
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_free(ev_retention);
	if (ev_watchdog != NULL)
		event_free(ev_watchdog);
	if (ev_drain != NULL)
		event_free(ev_drain);
	event_base_free(d->base);
	if (d->rules != NULL)
		rules_unref(d->rules);
	store_close(d->store);
	if (!reload_left)
		ident_free(d->ident);
	free(d->reload_error);
	free(d->store_warning);
	metrics_free(d->metrics);
	conf_free(d->conf);
	free(d->conf_path);
	log_info("stopped");
	return (0);
}
