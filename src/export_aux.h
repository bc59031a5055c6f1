/*
 * export_aux.h: what analysts and reviewers did, in an export (export.h
 * has the file and its contract): feedback records, the labels they put
 * on identities, runtime list entries with their members, the list log,
 * and the review queue's items with each one's log.
 *
 * Export writes them after the events, from one read transaction (so
 * they agree with one another: an item's decision, its feedback record,
 * the labels it gave, its log). A queue item whose event the export does
 * not hold (cut by --since, or checked after the export began) is left
 * out with its log and counted (export_counts.queue_dropped, the end
 * line's "queue_dropped"): never silently.
 *
 * Import reads them after the last event, and writes them through the
 * store's own put functions (store_aux.h): the derived keys (a list's
 * member and expiry keys, the queue's indexes and its per-state counts)
 * are rebuilt, never copied. Feedback and list log records keep their
 * ids (a store never deletes them, so they run from 1; the file must
 * too); queue log records keep their order.
 *
 * Seqs: import gives events new seqs when the exported store had gaps,
 * and every seq a record holds moves with them (export_aux_seq() is told
 * each event's old and new seq):
 *  - a queue item (and its log) is keyed by its referral's event seq:
 *    mapped exactly; an item whose event is not in the file is refused;
 *  - a label, a list entry and a feedback record's "seq" say "counts for
 *    events from this seq on": mapped to the new seq of the first event
 *    in the file at or after it (or the new store's next seq), so it
 *    counts for exactly the same imported events.
 */
#ifndef REFGUARD_EXPORT_AUX_H
#define REFGUARD_EXPORT_AUX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

struct export_counts;
struct export_opts;
struct sbuf;
struct store;
struct store_stat;
struct store_txn;

/* Bytes as lowercase hex digits, and back (-1: not hex, or over cap). */
void	export_hex_add(struct sbuf *sb, const uint8_t *p, size_t n);
ssize_t	export_hex_decode(const char *s, size_t len, uint8_t *out,
	    size_t cap);

/*
 * Write the records after the events of an export that holds the events
 * with seq <= last_seq and ts >= opts->since; counts them in *counts.
 * 0, or -1 and *cause (caller frees).
 */
int	export_aux_write(struct store *st, FILE *out,
	    const struct export_opts *opts, uint64_t last_seq,
	    struct export_counts *counts, char **cause);

/* Import. next_seq: the seq the target store gives its first event. */
struct export_aux *export_aux_new(struct store *st, uint64_t next_seq);
void	export_aux_free(struct export_aux *ax);
/* Each imported event, in order, once committed: its old and new seq. */
void	export_aux_seq(struct export_aux *ax, uint64_t old, uint64_t seq);
/* Is o one of these records' lines? */
bool	export_aux_is(const json_t *o);
/* Has a line of them been read (no event, verdict or meta may follow)? */
bool	export_aux_started(const struct export_aux *ax);
/*
 * Read one line (export_aux_is()) into the pending batch: every event
 * must have been imported and committed before. 0, or -1 and *why
 * (caller frees) saying what is wrong with the line.
 */
int	export_aux_line(struct export_aux *ax, const json_t *o, char **why);
/* The batch's weight (records, and members of list entries). */
size_t	export_aux_pending(const struct export_aux *ax);
/*
 * Write the batch in txn (the importer's, which retries it whole in a
 * new transaction after growing the map). 0, or -1 (store_txn_err()).
 */
int	export_aux_put(struct export_aux *ax, struct store_txn *txn);
/* The batch was committed: count it into *counts, and drop it. */
void	export_aux_done(struct export_aux *ax, struct export_counts *counts);

/*
 * The end line's counts against what was imported: every kind the
 * file's version writes must be there and agree. 0, or -1 and *why.
 */
int	export_aux_end(const json_t *end, int version,
	    const struct export_counts *c, char **why);

/* Does the store hold any of these records (import wants none)? */
bool	export_aux_stored(const struct store_stat *ss);

#endif
