/*
 * store_int.h: what the store's files share (the store package: store.c,
 * store_txn.c, store_event.c, store_index.c, store_link.c,
 * store_verdict.c, store_expire.c, store_tier.c, and the analyst
 * databases' store_aux.c, store_list.c, store_queue.c, store_daily.c).
 * Nothing else includes it: the rest of refguard goes through store.h
 * and store_aux.h.
 *
 * The store and its transaction, whose LMDB half is the wrapper's
 * (store_db.h: every LMDB call, the first error); the layout of the keys
 * more than one file reads; and the few functions one file calls in
 * another. Each is defined in the file its prefix names.
 */
#ifndef REFGUARD_STORE_INT_H
#define REFGUARD_STORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "memtier.h"
#include "rec.h"
#include "rgev.h"
#include "store.h"
#include "store_db.h"

struct store_vrec_buf;

/*
 * Keys and values (rec.h fields; times as store_ts_key(), so that they
 * sort):
 *   events: seq(8) -> the event record (rgev.h)
 *   identities (schema 5; MDB_DUPSORT | MDB_DUPFIXED): kind(1) hash(16)
 *     -> one sorted duplicate per entry: ts(6) seq(6) type(4 bits)
 *     roles(4 bits); an identity's key is stored once, its entries
 *     packed 13 bytes each (store_index_val()). Schema 4's "ident_index"
 *     (ts(8) seq(8) type(1) roles(1) a duplicate) and schema 3's "index"
 *     (kind hash ts seq -> type roles, one node per entry) are converted
 *     at the first writable open (store_convert.h).
 *   account_links (schema 5; MDB_DUPSORT | MDB_DUPFIXED): account(16) ->
 *     one sorted duplicate per link: kind(1) hash(16) first_ts(6)
 *     first_seq(6) last_ts(6); schema 4's "acct_links" (the times and
 *     seq 8 bytes each) and schema 3's "links" (account kind hash ->
 *     first_ts first_seq last_ts) are converted like the index.
 *   verdict_ids: referral id -> seq(8); verdict_recs: seq(8) -> the
 *     verdict record (verdict_rec.h)
 * Times and seqs in the index and links take 48 bits: an event's time
 * is 0 .. TIME_MAX_MS (< 2^48 ms, req.c) and a seq below 2^48;
 * store_put_event() refuses an event outside (store_ent_fits()).
 */
#define INDEX_KEY_LEN	(1 + RG_HASH_LEN)
#define INDEX_VAL_LEN	(6 + 6 + 1)
#define LINK_KEY_LEN	(RG_HASH_LEN + 1 + RG_HASH_LEN)	/* a link's place */
#define LINK_VAL_LEN	(6 + 6 + 6)
#define LINK_ID_LEN	(1 + RG_HASH_LEN)	/* kind, hash: a dup's head */
#define LINK_DUP_LEN	(LINK_ID_LEN + LINK_VAL_LEN)
/* The same of schema 4, which store_convert.c reads. */
#define INDEX4_VAL_LEN	(8 + 8 + 1 + 1)
#define LINK4_DUP_LEN	(LINK_ID_LEN + 8 + 8 + 8)
/* Type and roles share a byte in an index entry. */
#define STORE_TYPE_MAX	0x0f
#define STORE_ROLES_MAX	0x0f

/* Can an event of that time, seq and type be indexed? */
static inline bool
store_ent_fits(int64_t ts, uint64_t seq, unsigned type)
{
	return (ts >= 0 && (uint64_t)ts <= REC_U48_MAX &&
	    seq <= REC_U48_MAX && type <= STORE_TYPE_MAX);
}
/*
 * An index-only kind: the referee account of each referral, so that "who
 * referred this account" (store_scan_referred) reads that account's few
 * referee entries, not every referral a busy referrer made.
 */
#define IDX_REFEREE		0x80

/* A pair indexed (store_pair.c): its entries are the events from from. */
struct store_pair_ix {
	struct store_pair	 p;
	uint64_t		 from;
};

/*
 * The sweep (store_expire.c): removes what the events below the floor
 * left, in key order, a pass at a time: the identities first, then the
 * verdict ids. Kept in meta "sweep" by every pass that moves it.
 */
#define SWEEP_KEY_MAX	RG_ID_MAX	/* >= INDEX_KEY_LEN */
struct store_sweep {
	uint64_t	 swept;		/* a cycle ended at this seq floor */
	bool		 on;		/* a cycle under way */
	bool		 ids;		/* at the verdict ids */
	uint64_t	 cycle;		/* it removes what is below this seq */
	uint8_t		 key[SWEEP_KEY_MAX];	/* resume at or after it */
	size_t		 keylen;	/* 0: from the first key */
	uint64_t	 removed;	/* entries, since open (stats) */
};

struct store {
	struct store_db		*db;		/* the environment */
	MDB_dbi			 events;
	MDB_dbi			 index;		/* "identities" */
	MDB_dbi			 links;		/* "account_links" */
	MDB_dbi			 vids;		/* id -> seq */
	MDB_dbi			 vrecs;		/* seq -> verdict record */
	MDB_dbi			 verdicts;	/* schema 1: id -> record */
	MDB_dbi			 meta;
	bool			 readonly;
	bool			 have_vids;	/* false: read-only schema 1 */
	uint64_t		 referee_from;	/* first seq with IDX_REFEREE */
	/*
	 * The pairs indexed (meta "pairs"): the writer adds to them, and
	 * retention moves their first seq, in a write transaction; the
	 * committed list is what an abort goes back to. A read-only
	 * store keeps the list it opened with, which its tier is derived
	 * with.
	 */
	struct store_pair_ix	 pairs[STORE_PAIRS_MAX];
	unsigned		 npairs;
	struct store_pair_ix	 pairs_committed[STORE_PAIRS_MAX];
	unsigned		 npairs_committed;
	bool			 pairs_full_said;	/* logged once */
	bool			 legacy;	/* "verdicts" holds records */
	uint64_t		 last_seq;	/* committed; writer only */
	uint64_t		 epoch;		/* store_txn_epoch(); atomic */
	uint8_t			 link_cursor[LINK_KEY_LEN];	/* retention resume */
	bool			 link_cursor_set;
	struct store_sweep	 sweep;		/* committed; writer only */
	uint64_t		 pub_swept;	/* sweep.removed, sweep.on: */
	bool			 pub_sweeping;	/* atomic, for store_stat */

	/* The recent tier (memtier.h); writer only, counts from any thread. */
	struct memtier		*mt;
	uint64_t		 recent_max;	/* entries + links */
	uint64_t		 flushed[MT_RANGES];	/* meta "flush:<r>" */
	uint64_t		 flush_due[MT_RANGES];	/* mono_us() */
	unsigned		 rot;		/* next range to flush */
	uint64_t		 flushes;	/* ranges flushed (stats) */
	uint64_t		 flushed_entries;
	uint64_t		 flush_txn_full;	/* ranges put off: MDB_TXN_FULL */
	/*
	 * Index entries and links, LMDB's and the tier's together, as of
	 * the last write commit: published by the writer, because a flush
	 * moves entries from the tier to LMDB inside a transaction, and a
	 * reader adding the two counts while one is open would miss them.
	 */
	uint64_t		 pub_index, pub_links;
	bool			 pub_valid;
	/*
	 * Replaying events into the tier (store_tier.c): range r's
	 * entries of the events up to derived[r] are in LMDB or the tier.
	 * A read-only store keeps a tier of its own in step with the
	 * writer's (store_tier_sync()), one transaction at a time.
	 */
	uint64_t		 derived[MT_RANGES];
	bool			 ro_synced;	/* its tier was built once */
	bool			 ro_busy;	/* a transaction is open */
	struct store_aux	*aux;		/* the analyst databases */
	int			 lockfd;	/* STORE_LOCK_FILE, or -1 */
};

struct store_txn {
	struct store_db_txn	 db;		/* LMDB's, and the first error */
	struct store		*st;
	uint64_t		 next_seq;	/* the last event put */
	/* Ranges flushed by this transaction, with their marks. */
	bool			 fl[MT_RANGES];
	uint64_t		 fl_mark[MT_RANGES];
	size_t			 nfl;
	uint64_t		 memtier_begin;	/* tier size at the begin */
	/* Verdict records unpacked by store_get_verdict(), until the end. */
	void			**recs;
	size_t			 nrecs;
	size_t			 recscap;
	/* store_get_verdict_seq()'s, kept: readers ask in seq order. */
	MDB_cursor		*vrec_cur;
	struct store_vrec_buf	*vsplit;	/* and what it splits into */
	/* A read transaction on a writer's view (store_begin_view()). */
	const struct store_view	*view;
	uint64_t		 begin_seq;	/* the last event at the begin */
	uint64_t		 floor;		/* store_index_floor(); 0: not
						   read yet */
	struct store_sweep	 sweep;		/* st's, as this one moves it */
	bool			 swept;		/* sweep is to be kept */
	size_t			 sweep_keys;	/* keys it looked at */
};

/* Time in keys, offset so that negative times still sort first. */
static inline uint64_t
store_ts_key(int64_t ts)
{
	return ((uint64_t)ts ^ (1ULL << 63));
}

static inline int64_t
store_ts_unkey(uint64_t v)
{
	return ((int64_t)(v ^ (1ULL << 63)));
}

/* store_event.c: one identity of an event, with its roles in it. */
struct store_ent {
	uint8_t			 kind;
	uint8_t			 roles;
	const struct rg_hash	*h;
};
#define STORE_EVENT_ENTS_MAX \
	(RG_NPARTIES * ENT__MAX + 3 + STORE_PAIRS_MAX)
/* The keys of an event's entries that no party holds: derived ones. */
struct store_ent_keys {
	struct rg_hash		 campaign;
	struct rg_hash		 pair[STORE_PAIRS_MAX];
};
/*
 * Every identity an event carries (the index entries it writes), the
 * same one in two roles merged, and its pairs' keys (as of st's pairs);
 * keys holds the derived ones.
 */
size_t	store_event_ents(const struct store *st,
	    const struct rg_event *ev, struct store_ent *out,
	    struct store_ent_keys *keys);

/* store_pair.c */
/* Read meta "pairs" at open: 0, or -1 (x failed, or a corrupt list). */
int	store_pairs_load(struct store *st, struct store_db_txn *x);
/* A write transaction ended: keep what it did to the pairs, or undo it. */
void	store_pairs_settle(struct store *st, bool committed);
/*
 * Retention kept the events from seq left on (0: none): a pair indexed
 * from a seq at or before it has every stored referral's entry. 0, -1.
 */
int	store_pairs_kept(struct store_txn *t, uint64_t left);
/* Append ev's pair entries to out (their keys in keys): how many. */
size_t	store_pair_ents(const struct store *st, const struct rg_event *ev,
	    struct store_ent *out, struct rg_hash *keys);

/* store_index.c: an identity's index key, and one of its entries. */
void	store_index_key(uint8_t *key, unsigned kind, const struct rg_hash *h);
void	store_index_val(uint8_t *val, int64_t ts, uint64_t seq, uint8_t type,
	    uint8_t roles);
/* Decode a duplicate of INDEX_VAL_LEN bytes. */
void	store_index_val_decode(const MDB_val *v, struct store_entry *e);
/*
 * The floor as t sees the store (*floor): the oldest event stored, or the
 * next event's seq when none is. Retention deletes events oldest seq
 * first and leaves what they left in the index and the verdict ids to
 * its sweep: an entry or an id counts if its seq is at or past the floor.
 * 0, or -1 (t failed).
 */
int	store_index_floor(struct store_txn *t, uint64_t *floor);
/*
 * store_expire.c: meta "sweep" into *sw: 0, 1 none, 2 not a record of
 * the sweep (damage), -1 (x failed).
 */
int	store_sweep_load(struct store_db_txn *x, MDB_dbi meta,
	    struct store_sweep *sw);
int	store_sweep_save(struct store_db_txn *x, MDB_dbi meta,
	    const struct store_sweep *sw);

/* store_link.c: a link's place (account, kind, hash) and duplicate. */
void	store_link_key(uint8_t *key, const struct rg_hash *account,
	    unsigned kind, const struct rg_hash *h);
void	store_link_encode(uint8_t *dup, const struct store_link *l);
void	store_link_decode(const MDB_val *v, struct store_link *l);
/*
 * Put c on the first link at or after place key, in any account from
 * key's on: 0 (*k, *v the link), or an LMDB error (MDB_NOTFOUND: none).
 */
int	store_link_seek(MDB_cursor *c, const uint8_t *key, MDB_val *k,
	    MDB_val *v);
/*
 * LMDB's links of one account (not the tier's), looked up one after
 * another: store_link_acct_get() gives the link at place key (whose
 * account must be the same at every call), 0 (*l), 1 none, -1 error;
 * store_link_acct_end() then. Start from { NULL, false }.
 */
struct store_link_acct {
	MDB_cursor	*c;
	bool		 none;		/* the account has no link in LMDB */
};
int	store_link_acct_get(struct store_link_acct *la, struct store_txn *t,
	    const uint8_t *key, struct store_link *l);
void	store_link_acct_end(struct store_link_acct *la);

/*
 * What a view adds to its read transactions (store_view.c): the record
 * of one of the run's events (0, or 1 when seq is not one of them), and
 * a tier link as of max_seq: 0 and *l its state then, or 1 when the run
 * added it after max_seq (then LMDB's is the one).
 */
int	store_view_event(const struct store_view *v, uint64_t seq,
	    const uint8_t **rec, size_t *len);
int	store_view_link(const struct store_view *v,
	    const struct memtier_acct *a, uint32_t i, uint64_t max_seq,
	    const struct store_link **l);

/* store_verdict.c: delete event seq's verdict (not a later one's). */
int	store_verdict_del(struct store_txn *t, const char *id, size_t idlen,
	    uint64_t seq);

/* store_tier.c: the recent tier, the write buffer of index and links. */
#define STORE_RECENT_MAX_DEFAULT	(1u << 20)	/* entries + links */
/* The name of range r's flush mark in meta ("flush:<r>"). */
void	store_tier_mark_name(char *buf, size_t len, unsigned r);
/* Index entries and links it holds. */
uint64_t store_tier_size(const struct store *st);
/* An event's entries and links into the tier (store_put_event()). */
int	store_tier_derive(struct store_txn *t, const struct rg_event *ev);
/* Write range r to LMDB in t, once per transaction: 0, or -1. */
int	store_tier_flush_range(struct store_txn *t, unsigned r);
/* What is due at the end of a write transaction (store_commit()). */
void	store_tier_flush(struct store_txn *t);
/* All of it, at a clean close (store_close()). */
void	store_tier_flush_all(struct store *st);
/* Rebuild it at a writable open; 0, or -1 and *cause. */
int	store_tier_rebuild(struct store *st, char **cause);
/* A read-only store's, in step with t's snapshot; 0, or -1 and *cause. */
int	store_tier_sync(struct store_txn *t, char **cause);

/*
 * store_aux.c: the analyst databases (store_aux.h), opened in the
 * store's setup transaction. A read-only store written by an older
 * refguard has none: *aux then says so and every lookup finds nothing.
 * 0, or -1 (the cause in t).
 */
#define STORE_AUX_NDBI	7	/* named databases it opens */
struct store_aux {
	bool	have;		/* false: read-only store from before them */
	MDB_dbi	feedback;
	MDB_dbi	labels;
	MDB_dbi	lists;
	MDB_dbi	listlog;
	bool	have_queue;	/* false: read-only store from before it */
	MDB_dbi	queue;
	MDB_dbi	queuelog;
	bool	have_daily;	/* false: read-only store from before it */
	MDB_dbi	daily;
};
int	store_aux_open(struct store_db_txn *t, struct store_aux **aux);
void	store_aux_free(struct store_aux *aux);
/* store_stat()'s figures of the analyst databases (none: zeros). */
void	store_aux_stat(struct store_db_txn *t, const struct store_aux *aux,
	    struct store_stat *out);
/*
 * t's analyst databases into *aux: false when t failed already or the
 * store has none (!aux->have: a read-only store from before them, where
 * every lookup finds nothing).
 */
static inline bool
store_aux_txn(struct store_txn *t, struct store_aux **aux)
{
	*aux = t->st->aux;
	return ((*aux)->have && t->db.ret == 0);
}
/* For a write: NULL (recorded in t) when the store has none. */
struct store_aux *store_aux_for_write(struct store_txn *t);
/* store_queue.c: the queue's figures, for store_aux_stat(). */
void	store_queue_stat(struct store_db_txn *t, const struct store_aux *aux,
	    struct store_stat *out);

#endif
