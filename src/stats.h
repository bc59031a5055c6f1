/*
 * stats.h: what the daemon reports about itself, for the stats op and
 * GET /metrics alike: one snapshot of the figures that are read from
 * other modules (store, writer, connections, data sets), then two
 * renderings of it and of struct daemon's counters (stats_json() here,
 * metrics_text() in metrics.h). Loop thread only.
 */
#ifndef REFGUARD_STATS_H
#define REFGUARD_STATS_H

#include <stddef.h>

struct daemon;
struct stats_snap;		/* daemon.h */


/* Take the snapshot (daemon.h); stats_snap_clear() frees what it holds. */
void	 stats_snap_take(struct daemon *d, struct stats_snap *s);
void	 stats_snap_clear(struct stats_snap *s);

/* The stats op's reply (docs/protocol.md), malloc'd; *len its length. */
char	*stats_json(struct daemon *d, size_t *len);

/* The /metrics text (metrics_text() of a fresh snapshot), malloc'd. */
char	*stats_metrics(struct daemon *d, size_t *len);

/*
 * The data the daemon serves with, as dataset.h describes it:
 * ident_info() plus "lists" (rules_lists_info() of the current set), with
 * dates and ages as of now. A new reference (json_t *). *stale (when not
 * NULL): the names of the stale ones, or NULL (dataset_freshness()).
 */
void	*stats_data_json(struct daemon *d, char **stale);

#endif
