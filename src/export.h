/*
 * export.h: the store as NDJSON and back (refguardctl export / import),
 * for backups and migrations.
 *
 * The file, one JSON object a line:
 *   {"refguard_export":3,"schema":4,"created":T,"last_seq":N,"events":N,
 *    "secret_fp":"HEX","pairs":[[P,K,P,K,SEQ],...]}   secret_fp when the
 *    store records one (secret.h); pairs when it indexes pairs of keys
 *    (store.h): party, kind, party, kind, and the first seq indexed, so
 *    that the import indexes them from the same events
 *   {"meta":"data:0123456789abcdef","hex":"..."}     before the events using it
 *   {"event":SEQ,"ts":T,"type":"referral","id":"r1","rec":"HEX"}
 *   {"verdict":"r1","seq":SEQ,"action":"deny","score":100,"reply":"...","explain":"...",
 *    "rechecks":[{"ts":MS,"action":"allow","score":0,"reply":"...",
 *    "delta":"...","explain":"..."}]}  rechecks when re-checked, oldest first
 *   then the analyst records (export_aux.h), one a line:
 *   {"feedback":ID,"rec":"HEX"}  {"label":"fraud","kind":K,"hash":H,...}
 *   {"list":NAME,"hash":H,...,"members":"HEX"}  {"listlog":ID,"rec":"HEX"}
 *   {"queue":SEQ,"id":"r1","state":"open",...}  {"queuelog":SEQ,"n":N,...}
 *   {"end":true,"events":N,"verdicts":N,"meta":N,"feedback":N,"labels":N,
 *    "lists":N,"listlog":N,"queue":N,"queuelog":N,"queue_dropped":N}
 * Events in seq order; a referral's verdict right after its event. The
 * end line counts each kind; import refuses a file whose lines do not
 * add up to it (or that has none: truncated). rec is
 * the store's event record (rgev.h: hashes and derived facts only, never
 * raw personal data), so an export is only useful with the installation's
 * hash_secret_file: new events must hash like the old ones to meet them.
 * reply is the exact verdict line clients got; explain the facts.
 *
 * Export reads a store opened read-only, in chunks of read transactions
 * (like backtest.h: safe while the daemon runs). Events are fixed at the
 * start (seq <= last_seq then).
 *
 * Import writes through store_put_event() and store_put_verdict() (and
 * the analyst records through their own, export_aux.h) into an empty
 * store, in batches of write transactions: every event keeps its
 * order, timestamp and facts (the index and links are rebuilt from them);
 * its seq is the next one of the new store, and its verdict is moved to
 * that seq. A store with no gaps in its seqs imports with the same seqs.
 * A file without its end line is refused as truncated (what was imported
 * before stays: import into a fresh state directory).
 *
 * The hashes belong to the exporting installation's secret: import
 * records the header's secret_fp in the new store, so that refguardd
 * refuses to start there with another secret, and refuses a file whose
 * secret_fp differs from the target secret's (opts->secret_fp) or from
 * the one the store records already.
 */
#ifndef REFGUARD_EXPORT_H
#define REFGUARD_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "rgev.h"

struct store;

/*
 * 3: a verdict carries its re-checks; 2: the analyst records (export_aux.h)
 * after the events. Older versions still read.
 */
#define EXPORT_VERSION	3

/* Progress: done and total events (total 0: unknown). */
typedef void (*export_progress_fn)(void *arg, uint64_t done, uint64_t total);

struct export_opts {
	int64_t			 since;	/* events with ts >= since (INT64_MIN: all) */
	size_t			 chunk;	/* events per transaction; 0: 4096 */
	export_progress_fn	 progress;	/* NULL: none */
	void			*progress_arg;
	/* import: the fingerprint of the target's hash_secret_file, NULL
	 * when it has none yet (ident_secret_fp()) */
	const struct rg_hash	*secret_fp;
};

struct export_counts {
	uint64_t	events;
	uint64_t	verdicts;
	uint64_t	meta;
	uint64_t	feedback;	/* the analyst records: export_aux.h */
	uint64_t	labels;
	uint64_t	lists;		/* list entries */
	uint64_t	listlog;
	uint64_t	queue;		/* queue items */
	uint64_t	queuelog;
	uint64_t	queue_dropped;	/* export: items left out (no event) */
};

/* Write st to out. 0, or -1 and *cause (caller frees). */
int	export_run(struct store *st, FILE *out, const struct export_opts *opts,
	    struct export_counts *counts, char **cause);

/*
 * Load an export from in (named name in messages) into st, which must
 * hold no events. opts->since is ignored; chunk is events per write
 * transaction. 0, or -1 and *cause naming the line at fault.
 */
int	export_import(struct store *st, FILE *in, const char *name,
	    const struct export_opts *opts, struct export_counts *counts,
	    char **cause);

#endif
