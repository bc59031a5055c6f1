/*
 * metrics.h: what the daemon counts beyond struct daemon_stats (request
 * latency, rule hits, HTTP statuses), the audit log, and the Prometheus
 * text exposition of all of it (GET /metrics).
 *
 * The counters of daemon_stats and the writer are the ones the "stats" op
 * shows; /metrics reads the same numbers, it never keeps its own copy.
 * Everything here runs on the event-loop thread.
 */
#ifndef REFGUARD_METRICS_H
#define REFGUARD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct daemon;
struct job;

struct metrics	*metrics_new(void);
void		 metrics_free(struct metrics *);

/*
 * Matches of the rule called name in new verdicts since start, as a
 * shadow rule or an enforcing one (rule_hits_total of /metrics).
 */
uint64_t	 metrics_rule_hits(struct metrics *m, const char *name,
		    bool shadow);

/* A job back from the writer (conn_jobs_done): rule hit counters. */
void		 metrics_job_done(struct daemon *d, const struct job *job);

/*
 * A reply has been handed to the client's connection (NDJSON or HTTP):
 * request latency, and the audit line of a verdict (conf audit_log).
 */
void		 metrics_replied(struct daemon *d, const struct job *job);

/*
 * For the "stats" op: {"latency": {"bounds_us": [...], OP: {"count",
 * "sum_us", "le": [cumulative counts, one per bound]}...}, "rule_hits":
 * {RULE: {"enforce", "shadow"}...}}; ops never answered and rules never
 * hit are left out. A new reference.
 */
json_t		*metrics_json(const struct metrics *m);

/* An HTTP response with this status went out (http.c). */
void		 metrics_http_status(struct daemon *d, int status);

/*
 * The Prometheus text exposition format (version 0.0.4) of every metric,
 * from d's counters and the snapshot (stats.h), malloc'd; *len gets its
 * length.
 */
struct stats_snap;
char		*metrics_text(struct daemon *d, const struct stats_snap *snap,
		    size_t *len);

/*
 * The store_stat figures: stats.store (in this order), and the /metrics
 * gauges of those with a metric name.
 */
struct store_stat;
struct metrics_store_field {
	const char	*name;		/* in stats.store */
	size_t		 off;		/* a uint64_t in struct store_stat */
	const char	*metric;	/* a /metrics gauge, or NULL */
	const char	*help;
};
extern const struct metrics_store_field metrics_store_fields[];
extern const size_t metrics_store_nfields;
uint64_t	 metrics_store_value(const struct store_stat *ss, size_t i);

#endif
