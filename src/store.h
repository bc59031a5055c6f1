/*
 * store.h: the LMDB store: events, the identity index, links, verdicts.
 *
 * One environment, named databases, all keys big-endian so they sort:
 *   events       seq(8)              -> event record (rgev.h)
 *   identities   kind(1) hash(16)    -> one duplicate per entry:
 *                                       ts(6) seq(6) type and roles(1)
 *   account_links account(16)        -> one duplicate per link: kind(1)
 *                                       hash(16) first_ts(6) first_seq(6)
 *                                       last_ts(6)
 *   verdict_ids  referral id         -> seq(8)
 *   verdict_recs seq(8)              -> verdict record (opaque here)
 *   meta         name                -> value ("schema", ...)
 * ts is milliseconds since the epoch (0 .. 2^48 in the index and links,
 * where store_put_event() refuses others; offset by 2^63 elsewhere, so
 * that it sorts as unsigned: store_int.h has the details, and schema 1's
 * "verdicts").
 *
 * New index entries and links first go to an in-memory recent tier
 * (memtier.h) and reach LMDB in bulk, a hash range at a time; every query
 * reads both tiers, so callers never see the difference. The events are
 * the durable log the tier is rebuilt from at open. A store opened
 * read-only (backtest, export) while another process writes it cannot see
 * that process's tier: it keeps one of its own, brought in step with
 * each transaction's snapshot by store_begin() (see there).
 *
 * Velocity and linkage are range scans over index and links, never
 * hand-kept counters: the answers are exact, survive restarts and can be
 * asked "as of" any past event (max_seq), which is what backtests and rule
 * tests need.
 *
 * Threads. Transactions, read and write, and everything done in them run
 * on one thread: the writer's (writer.c; before it starts and after it
 * stops, the thread that opened the store). Not only the write: every
 * history query (store_count, store_first, store_scan,
 * store_scan_referred, store_link_get, store_link_scan) reads the recent
 * tier, which store_put_event() and every write commit change without a
 * lock, so a read transaction on another thread could see it half
 * changed. That is why the daemon's reads are writer jobs too. One
 * exception: read transactions on a view (store_begin_view(), below),
 * which other threads may hold while the writer, holding its write
 * transaction open, changes nothing. The
 * calls any thread may make, any time: store_stat(), store_writes(),
 * store_set_map_max(), store_readonly(). store_grow() waits for every
 * other transaction of the process to end: never call it holding one.
 * A transaction is used by the thread that began it. A read-only store
 * (store_begin()) has one transaction at a time.
 *
 * Errors: a transaction keeps its first error (store_txn_err()); every
 * later call on it fails fast (the wrapper's contract, store_db.h).
 * STORE_FULL means the map could not grow (map_max); the caller aborts,
 * and may call store_grow() and retry.
 */
#ifndef REFGUARD_STORE_H
#define REFGUARD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgev.h"

#define STORE_SCHEMA	15	/* 2: verdict records by seq; 3: events may
				   carry email.shape, which older ones
				   cannot decode, and verdict records end
				   with a checksum (verdict_rec.h); 4: the
				   identity index and the links keep each
				   key once (store_convert.h), verdict
				   records are kept packed (store_vrec.h);
				   5: index entries and links take 13 and
				   35 bytes, times and seqs 48 bits
				   ("identities", "account_links"); 6:
				   referrals carry entries of the pairs of
				   keys in meta "pairs", which an older
				   refguard would store them without; 7:
				   events may carry device.tz_country
				   (rgev.h), which older ones cannot
				   decode; 8: explain shapes may be
				   stored against another
				   (store_xshape.h), which older ones
				   cannot read; 9: retention leaves the
				   entries of deleted events to a sweep,
				   which older ones would count
				   (store_expire.c); 10: events may
				   carry device.emulator (rgev.h),
				   which older ones cannot decode; 11:
				   events may carry phone.block, which
				   older ones cannot decode; 12: events
				   may carry device.browser (rgev.h),
				   which older ones cannot decode; 13:
				   events may carry phone.country and
				   device.model (rgev.h), which older
				   ones cannot decode; 14: events may
				   carry email.name, which older ones
				   cannot decode; 15: events may carry
				   device.lang_country (rgev.h), which
				   older ones cannot decode */

enum store_err {
	STORE_OK = 0,
	STORE_FULL,		/* map full and at map_max */
	STORE_MAP_GROW,		/* map full: abort, store_grow(), retry */
	STORE_IO,		/* anything else: see store_txn_errstr() */
};

/*
 * The largest recent tier budget: a range written out (a 256th of it)
 * must fit in one transaction beside a batch (LMDB's dirty page limit).
 */
#define STORE_RECENT_MAX	4000000

struct store_opts {
	const char	*dir;		/* state directory (created by caller) */
	size_t		 map_size;	/* initial map size, bytes */
	size_t		 map_max;	/* never grow beyond this */
	bool		 nosync;	/* sync = none */
	bool		 readonly;	/* backtest, export: never writes */
	uint64_t	 recent_max;	/* recent tier budget, entries (0: default;
					   at most STORE_RECENT_MAX) */
};

struct store_stat {
	uint64_t	events;
	uint64_t	index_entries;
	uint64_t	links;
	uint64_t	verdicts;
	uint64_t	map_size;	/* bytes mapped */
	uint64_t	map_used;	/* bytes in use (last page) */
	uint64_t	map_max;
	uint64_t	last_seq;
	uint64_t	readers;	/* reader slots in use */
	uint64_t	recent_entries;	/* index entries not yet in LMDB */
	uint64_t	recent_links;
	uint64_t	recent_bytes;	/* the memory they take */
	uint64_t	recent_flushes;	/* ranges written to LMDB */
	uint64_t	recent_flush_waits; /* ranges put off: too big a txn */
	uint64_t	feedback;	/* feedback records */
	uint64_t	labels;		/* (identity, label) pairs */
	uint64_t	list_entries;	/* runtime list keys (CIDRs expanded) */
	uint64_t	list_log;	/* list audit records */
	uint64_t	queue_open;	/* review queue items, by state */
	uint64_t	queue_claimed;
	uint64_t	queue_decided;
	uint64_t	pairs_indexed;	/* pairs of keys (store_pairs_want) */
	uint64_t	index_swept;	/* the sweep's removals (store_expire) */
	uint64_t	index_sweeping;	/* 1: a sweep's cycle is under way */
};

struct store;
struct store_txn;

/*
 * Open (creating if needed) the environment in opts->dir. Refuses, with
 * a message that says why and what to do:
 *  - a directory that group or others may write to;
 *  - a writable open while another process holds the directory: one
 *    writer at a time, through a write lock (fcntl) on
 *    dir/STORE_LOCK_FILE, which then holds the holder's pid (the
 *    message names it) and is emptied at store_close(). The lock is the
 *    process's: not inherited by fork(), and dropped if the process
 *    opens and closes that file itself. Read-only opens take no lock;
 *  - a data.mdb shorter than the pages LMDB's meta says are in use
 *    (truncated: reading the missing pages would SIGBUS), or, read-only,
 *    an empty one;
 *  - a store written by a newer refguard (its schema version).
 * Returns NULL and sets *cause (caller frees) on error.
 */
#define STORE_LOCK_FILE	"refguard.pid"
struct store	*store_open(const struct store_opts *opts, char **cause);
void		 store_close(struct store *st);
/* Opened with opts->readonly. */
bool		 store_readonly(const struct store *st);

/*
 * Grow the map (doubling, capped at map_max). Waits for this process's
 * other transactions to end, so the caller holds none (the writer, after
 * aborting its batch). Returns 0, or -1 when already at map_max.
 */
int		 store_grow(struct store *st);

/*
 * Change map_max (reload). Any thread; takes effect at the next growth.
 * Lowering it below the current map size stops growth, it never shrinks.
 */
void		 store_set_map_max(struct store *st, uint64_t map_max);

/*
 * Begin a transaction; NULL (and *cause set, caller frees) on error. On
 * the writer's thread only (see "Threads" above).
 *
 * On a read-only store, the transaction sees exactly the history the
 * writer had committed at its snapshot, the writer's unflushed tier
 * included: store_begin() replays into the store's own tier the events
 * the snapshot holds past each range's flush mark (all of them the first
 * time, as a daemon's start does; after that only what the writer added
 * or flushed since the last transaction). So a read-only store has one
 * transaction at a time (a second store_begin() meanwhile fails), used
 * by one thread.
 */
struct store_txn *store_begin(struct store *st, bool write, char **cause);
/*
 * Commit (write) or end (read); frees txn. -1 and *cause on failure, and
 * *err (when not NULL) says which kind: STORE_MAP_GROW or STORE_FULL when
 * the map filled at commit time, as for store_txn_err().
 */
int		 store_commit(struct store_txn *txn, enum store_err *err,
		     char **cause);
void		 store_abort(struct store_txn *txn);
/*
 * Write transactions committed that changed the store (any thread): a
 * commit of a transaction that dirtied nothing writes nothing, so it
 * proves nothing about the disk (writer.c's health).
 */
uint64_t	 store_writes(struct store *st);
/*
 * The store's epoch: while it stays the same, the event record at a seq
 * that txn reads is the one an earlier transaction of the store read
 * there. It moves when a write transaction aborts (its seqs are given
 * again) and when retention deletes events; two stores never share one.
 * A reader that keeps events by seq across transactions (the writer's
 * rules memo, verdict.c) drops them when it moves. Any thread; it counts
 * this process's writes only (another process's handle on the store,
 * read-only, never sees it move).
 */
uint64_t	 store_txn_epoch(const struct store_txn *txn);
enum store_err	 store_txn_err(const struct store_txn *txn);
const char	*store_txn_errstr(const struct store_txn *txn);

/*
 * Views: evaluation of a run of events in other threads (writer.c). In
 * its write transaction the writer stores a run of events one after the
 * other, each followed by store_view_add(), then seals the view; until
 * it changes anything again (it may go on adding events to the view,
 * and seal it again), any thread may open read transactions on
 * the view (store_begin_view(), ended by store_abort()) that answer
 * every history query as the write transaction does: the committed
 * store, the recent tier, the run's events, and each link as of the
 * query's max_seq. store_view_new() returns NULL when the transaction
 * cannot have one (it flushed part of the tier, or failed): evaluate in
 * it then. The view is freed by store_view_free() after its
 * transactions end.
 */
struct store_view;
struct store_view *store_view_new(struct store_txn *wtxn);
int		 store_view_add(struct store_view *v, const struct rg_event *ev);
void		 store_view_seal(struct store_view *v);
struct store_txn *store_begin_view(struct store *st,
		     const struct store_view *v, char **cause);
void		 store_view_free(struct store_view *v);

/*
 * Append an event: assigns ev->seq, writes the record, one index entry
 * per identity (merged roles when both parties carry the same one) and
 * the account links. Returns 0 or -1 (see store_txn_err()).
 */
int		 store_put_event(struct store_txn *txn, struct rg_event *ev);
/* Read the event with that seq: 0 found, 1 not found, -1 error. */
int		 store_get_event(struct store_txn *txn, uint64_t seq,
		     struct rg_event *ev);

/*
 * Call cb for each event with from_seq <= seq <= to_seq (to_seq 0: no
 * limit), in seq order, decoded into a buffer owned by the scan (valid
 * during the call only; ev->seq set). cb may use txn for other queries.
 * cb returns 0 to go on, 1 to stop. Returns 0, or -1 on a store error or
 * a corrupt record (see store_txn_err()).
 */
typedef int (*store_event_cb)(void *arg, const struct rg_event *ev);
int		 store_scan_events(struct store_txn *txn, uint64_t from_seq,
		     uint64_t to_seq, store_event_cb cb, void *arg);
/*
 * The same newest first: each event with to_seq <= seq <= from_seq
 * (from_seq 0: from the last), in descending seq order.
 */
int		 store_scan_events_back(struct store_txn *txn,
		     uint64_t from_seq, uint64_t to_seq, store_event_cb cb,
		     void *arg);

/* Verdict records, keyed by referral id; the record is opaque here. */
int		 store_put_verdict(struct store_txn *txn, const char *id,
		     size_t idlen, const void *rec, size_t len);
/* 0 found (*rec valid until the transaction ends), 1 not found, -1 error. */
int		 store_get_verdict(struct store_txn *txn, const char *id,
		     size_t idlen, const void **rec, size_t *len);
/*
 * The record of event seq, found by that seq, split as
 * verdict_rec_decode() splits a record: what a reader walking the events
 * has, one seek instead of two, and nearly none when it asks in seq
 * order; a packed record is not built back (store_vrec_split()). r's
 * texts are valid until the next call on txn or its end. 0 found, 1 not
 * found (also in a schema 1 store, whose records only
 * store_get_verdict() finds), 2 found corrupt, -1 error.
 */
struct verdict_rec;
int		 store_get_verdict_seq(struct store_txn *txn, uint64_t seq,
		     struct verdict_rec *r);

/*
 * History queries. All see only entries with seq <= max_seq (0: no limit)
 * and from_ts <= ts <= to_ts. type_mask is EV_MASK() bits, role_mask
 * ROLE_* bits; an entry matches when both intersect.
 *
 * store_count stops at limit matches (0: no limit) and returns the count,
 * or -1 on error.
 */
int64_t		 store_count(struct store_txn *txn, enum ent_kind kind,
		     const struct rg_hash *h, uint32_t type_mask,
		     uint32_t role_mask, int64_t from_ts, int64_t to_ts,
		     uint64_t max_seq, uint64_t limit);

struct store_entry {
	int64_t		ts;
	uint64_t	seq;
	uint8_t		type;
	uint8_t		roles;
};
/*
 * The oldest index entry of (kind, h) with ts <= to_ts (and seq <=
 * max_seq when not 0), whatever its type and roles, into *out: since
 * when the store knows the identity, as of that moment. The oldest by
 * event time (then seq), not the first stored. Reads the identity's
 * entries in the recent tier and LMDB's from the oldest until one passes
 * max_seq (one, unless later events carried older times). 0 found, 1
 * none, -1 error.
 */
int		 store_first(struct store_txn *txn, enum ent_kind kind,
		     const struct rg_hash *h, int64_t to_ts, uint64_t max_seq,
		     struct store_entry *out);
/*
 * Call cb for each matching entry in time order, newest first when
 * newest_first. cb returns 0 to go on, 1 to stop. Returns 0, or -1 on
 * error.
 */
typedef int (*store_entry_cb)(void *arg, const struct store_entry *e);
int		 store_scan(struct store_txn *txn, enum ent_kind kind,
		     const struct rg_hash *h, uint32_t type_mask,
		     uint32_t role_mask, int64_t from_ts, int64_t to_ts,
		     uint64_t max_seq, bool newest_first, store_entry_cb cb,
		     void *arg);

/*
 * The referrals in which account acct was the referee, at or before to_ts
 * (and max_seq when not 0), newest first; like store_scan, cb returns
 * non-zero to stop.
 */
int		 store_scan_referred(struct store_txn *txn,
		     const struct rg_hash *acct, int64_t to_ts,
		     uint64_t max_seq, store_entry_cb cb, void *arg);

/*
 * Pair keys: the referrals that carried two keys together (party1's
 * identity of kind1 and party2's of kind2, parties PARTY_*), under a key
 * of their own, kind STORE_KIND_PAIR (store_count, store_scan; type
 * EV_REFERRAL, role ROLE_EVENT), so that counting them reads their own
 * entries, not one key's every event. A pair is indexed from the first
 * write transaction that wants it on (store_pairs_want(): the writer,
 * before it stores a check's event; at most STORE_PAIRS_MAX pairs,
 * never dropped), for the referrals stored from then on.
 * store_pair_from: 0 the pair is not indexed; 1 every stored referral
 * has its entry; else the first seq that has (the events before it have
 * none, until retention deletes them). A read-only store knows the pairs
 * indexed when it opened. store_pair_valid: parties of a referral
 * (PARTY_EVENT with ENT_CAMPAIGN only), kinds known, two different keys;
 * store_pairs_want() fails the transaction on another.
 */
#define STORE_PAIRS_MAX		16
#define STORE_KIND_PAIR		0x81
struct store_pair {
	uint8_t		party1, kind1, party2, kind2;
};
int		 store_pairs_want(struct store_txn *txn,
		     const struct store_pair *p, size_t n);
bool		 store_pair_valid(const struct store_pair *p);
uint64_t	 store_pair_from(struct store_txn *txn,
		     const struct store_pair *p);
void		 store_pair_key(const struct store_pair *p,
		     const struct rg_hash *h1, const struct rg_hash *h2,
		     struct rg_hash *out);
/*
 * The pairs st indexes (as of its open, for a read-only store), each
 * with the first seq indexed, into out[] and from[] (STORE_PAIRS_MAX
 * each): how many. For export and import, which index the same.
 */
size_t		 store_pairs_list(struct store *st,
		     struct store_pair *out, uint64_t *from);

/*
 * Links: identities an account has carried. A link counts as of max_seq
 * when it was first seen at or before it.
 * store_link_get: 0 linked (first_seq/first_ts set if not NULL), 1 not,
 * -1 error.
 */
int		 store_link_get(struct store_txn *txn,
		     const struct rg_hash *account, enum ent_kind kind,
		     const struct rg_hash *h, uint64_t max_seq,
		     uint64_t *first_seq, int64_t *first_ts);
struct store_link {
	enum ent_kind	kind;
	struct rg_hash	h;
	int64_t		first_ts;
	uint64_t	first_seq;
	int64_t		last_ts;
};
/* kind 0: all kinds. cb returns 0 to go on, 1 to stop. 0 or -1. */
typedef int (*store_link_cb)(void *arg, const struct store_link *l);
int		 store_link_scan(struct store_txn *txn,
		     const struct rg_hash *account, enum ent_kind kind,
		     uint64_t max_seq, store_link_cb cb, void *arg);

/* Meta values. 0 found, 1 not found, -1 error. */
int		 store_meta_get(struct store_txn *txn, const char *name,
		     const void **val, size_t *len);
int		 store_meta_put(struct store_txn *txn, const char *name,
		     const void *val, size_t len);

/*
 * Retention: delete up to max events with ts < before_ts (oldest first)
 * with their verdicts; their index entries and verdict ids stop counting
 * at once, and leave in a sweep that looks at up to max keys in a
 * transaction, in key order, once enough of them wait (store_expire.c;
 * store_stat: index_swept, index_sweeping). Then up to max links last
 * seen before before_ts. Returns the number of events deleted, or -1.
 */
int64_t		 store_expire(struct store_txn *txn, int64_t before_ts,
		     size_t max);
/*
 * One pass of that sweep (up to max keys), beginning a cycle if any
 * entry of a deleted event is left however few: the entries it removed,
 * or -1.
 */
int64_t		 store_sweep(struct store_txn *txn, size_t max);

/*
 * Figures for stats, from any thread; 0 or -1 (*cause set). Index
 * entries and links are as of the last write commit (the writer
 * publishes them: they move from the recent tier to LMDB inside a
 * transaction), the other counts as of a read snapshot.
 */
int		 store_stat(struct store *st, struct store_stat *out,
		     char **cause);

#endif
