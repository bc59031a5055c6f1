/*
 * daemon.h: the state of refguardd shared by its files (refguardd.c owns
 * it; conn.c, http.c and the ops serve clients with it, stats.c and
 * metrics.c report it). Everything here belongs to the
 * event-loop thread; the writer thread sees only the jobs handed to it.
 */
#ifndef REFGUARD_DAEMON_H
#define REFGUARD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "req.h"
#include "store.h"
#include "writer.h"

struct accept_guard;
struct cluster;
struct conf;
struct event_base;
struct evconnlistener;
struct http;
struct ident;
struct job;
struct job_list;
struct metrics;
struct reload;
struct ruleset;
struct store;
struct writer;

struct daemon_stats {
	uint64_t	requests[OP__MAX];
	uint64_t	actions[3];		/* checks by action (new verdicts) */
	uint64_t	replays;		/* checks answered from a stored verdict */
	uint64_t	observes;
	uint64_t	errors;			/* error replies */
	uint64_t	errors_by_code[REQ_NERRCODES];
	uint64_t	conns_total;
	uint64_t	conns_refused;
	uint64_t	lines_too_long;
	uint64_t	expired;		/* events removed by retention */
};

/*
 * Reply bytes held for clients (conn.c counts them; http.c's output
 * buffers too): what max_outbuf and max_outbuf_total bound.
 */
struct daemon_replies {
	size_t		buffered;	/* finished, not yet written to a socket */
	size_t		peak;		/* the highest buffered since start */
	size_t		reserved;	/* estimates of the replies in flight */
	size_t		est[OP__MAX];	/* largest reply seen per op; 0: none */
	uint64_t	closed;		/* connections closed by the total cap */
	size_t		paused;		/* NDJSON connections not read for their
					   reply bytes or a held request */
	unsigned	heavy;		/* history-sized reads in the writer */
	unsigned	heavy_waiting;	/* connections held for a heavy slot */
};

/* The HTTP listener's counters (http.c keeps them; d->http_stats). */
struct http_stats {
	uint64_t	conns;		/* open now */
	uint64_t	conns_total;	/* accepted */
	uint64_t	conns_refused;	/* past http_max_connections: 503 */
	uint64_t	timeouts;	/* not whole within http_timeout: 408 */
	uint64_t	bad;		/* refused by http_scan.h: 400, 431, 501 */
	uint64_t	forbidden;	/* foreign Host or Origin: 403 */
};

/*
 * What the stats op and /metrics read from the modules that own it, taken
 * once per report (stats.h stats_snap_take).
 */
struct stats_snap {
	struct writer_stats	 ws;
	size_t			 inflight;	/* writer_inflight() */
	struct store_stat	 ss;
	char			*store_error;	/* store_stat failed: why
						   (ss is zero); else NULL */
	size_t			 paused;	/* replies.paused */
	bool			 reloading;	/* a reload is running */
	bool			 clustered;	/* cluster mode: cs is set */
	struct cluster_stats	 cs;
	void			*data;		/* stats_data_json() */
};

struct daemon {
	struct conf		*conf;
	char			*conf_path;
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct accept_guard	*guard;		/* of listener (accept.h) */
	int			 listen_fd;
	bool			 listen_owned;	/* we bound it: unlink at exit */
	struct ident		*ident;
	struct store		*store;
	struct writer		*writer;
	struct cluster		*cluster;	/* NULL: single node (cluster.h) */
	struct ruleset		*rules;		/* current set; NULL: allow all */
	int64_t			 rules_loaded_at;
	char			*reload_error;	/* last failed reload, or NULL */
	char			*store_warning;	/* said at start-up, or NULL */
	uint64_t		 reloads;
	uint64_t		 reload_failures;
	size_t			 nconns;
	bool			 stopping;
	bool			 debug;		/* -d: reloads keep debug logging */
	int64_t			 started_at;
	uint64_t		 started_mono;
	struct daemon_stats	 stats;
	struct daemon_replies	 replies;
	struct metrics		*metrics;	/* histograms, rule hits (metrics.c) */
	bool			 data_stale;	/* data older than data_max_age */
	struct http		*http;		/* NULL: no HTTP listener */
	/* The HTTP listener's counters and accept guard (http.c keeps
	 * them; NULL without one, the guard also once it is closed). */
	const struct http_stats	*http_stats;
	const struct accept_guard *http_guard;
	struct reload		*reloader;	/* reload.h */
	/*
	 * Reload (reload.h), set by refguardd.c so that the serving code
	 * links without it: start one, or when one is running, ask for one
	 * more after it. job (a reload request, or NULL for SIGHUP) is
	 * answered when that reload ends, as the writer's jobs are
	 * (conn_jobs_done): its reply is {"ok":true,"rules":N,"ruleset":H}
	 * or the reload_failed error, with "ruleset" the set serving after
	 * it (and "warning" for identity data that kept its old state).
	 */
	void			(*reload)(struct daemon *d, struct job *job);
};


#endif
