/*
 * memtier.h: the recent tier of the index and the links (store-internal).
 *
 * Index entries and links are keyed by random hashes, so writing them
 * straight into their B-trees dirties about one page per entry: ~15 pages
 * per check, written and synced at every commit. The events database is
 * the durable log; index and links are derived from it. So new index
 * entries and link changes are kept here, in memory, and written to LMDB
 * later in bulk, one hash range at a time, where many entries share a
 * page. store_index.c and store_link.c answer every query from both
 * tiers; store_tier.c derives, flushes and rebuilds.
 *
 * The key space is cut in MT_RANGES ranges by the first byte of the hash
 * (the identity's for index entries, the account's for links). A range is
 * flushed whole inside a write transaction; meta "flush:<r>" then says
 * that every entry of range r from events up to that seq is in LMDB, and
 * the tier holds exactly the later ones. After a crash, store_open()
 * rebuilds the tier by replaying the events past the oldest flush mark;
 * a read-only store replays them into a tier of its own, kept in step
 * with the writer's flushes at each transaction (store_begin()).
 *
 * Changes made during a write transaction are logged; memtier_abort() undoes
 * them, memtier_commit() keeps them and drops the ranges flushed by it.
 * Single-threaded: the thread that holds the write transaction changes
 * it; other threads may read it only while that thread changes nothing
 * (the writer's parallel evaluation, writer.c).
 */
#ifndef REFGUARD_MEMTIER_H
#define REFGUARD_MEMTIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgev.h"
#include "store.h"

#define MT_RANGES	256
#define MT_RANGE(h)	((h)->b[0])

struct memtier_ent {
	int64_t		ts;
	uint64_t	seq;
	uint8_t		type;
	uint8_t		roles;
};

/*
 * Whether LMDB holds index entries of an identity the tier holds, as the
 * first query that asked found out. Only a flush of the identity's range
 * adds LMDB entries, and the flush takes the identity out of the tier, so
 * the answer holds for as long as the identity is here.
 */
enum memtier_disk {
	MT_DISK_UNKNOWN,
	MT_DISK_NONE,
	MT_DISK_SOME,
};

/* The index entries of one identity, in seq order. */
struct memtier_ident {
	uint8_t		 kind;
	uint32_t	 disk;	/* memtier_ident_disk(): the answer, its age */
	struct rg_hash	 h;
	uint32_t	 n;
	uint32_t	 cap;
	struct memtier_ent	*e;
	/* e while it holds one: most identities are seen once. */
	struct memtier_ent	 first;
};

/* The links of one account changed since its range was last flushed. */
struct memtier_acct {
	struct rg_hash	 account;
	uint32_t	 n;
	uint32_t	 cap;
	struct store_link *l;
};

struct memtier;

struct memtier	*memtier_new(void);
void		 memtier_free(struct memtier *);

void		 memtier_index_add(struct memtier *, uint8_t kind, const struct rg_hash *,
		    int64_t ts, uint64_t seq, uint8_t type, uint8_t roles);
/* NULL when the identity has no entry in the tier. */
const struct memtier_ident *memtier_index_get(const struct memtier *, uint8_t kind,
		    const struct rg_hash *);

/*
 * What LMDB holds of id's identity (enum memtier_disk), and the answer a
 * query found. Any thread that may read the tier may call both: the
 * evaluation threads find the same answer, each in a transaction that
 * sees what the writer's does of the index (store_view_new()).
 * memtier_abort() forgets every answer at once (each is kept with the
 * tier's count of aborts), since the transaction it undoes may have
 * deleted entries (retention's sweep) that are back now.
 */
enum memtier_disk memtier_ident_disk(const struct memtier *, const struct memtier_ident *);
void		 memtier_ident_set_disk(const struct memtier *, const struct memtier_ident *,
		    enum memtier_disk);

const struct memtier_acct *memtier_acct_get(const struct memtier *, const struct rg_hash *);
/* The account's link of that identity, or NULL. */
const struct store_link *memtier_link_get(const struct memtier *, const struct rg_hash *acct,
		    uint8_t kind, const struct rg_hash *);
/* Insert or replace the account's link (l->kind, l->h). */
void		 memtier_link_set(struct memtier *, const struct rg_hash *acct,
		    const struct store_link *l);

/*
 * Everything in range r, for a flush: identities sorted by (kind, hash),
 * accounts by account hash (entries and links stay in the order they
 * came). The arrays are owned by the tier and valid until the next call.
 */
void		 memtier_range(struct memtier *, unsigned r, struct memtier_ident ***idents,
		    size_t *nidents, struct memtier_acct ***accts, size_t *naccts);
/*
 * Range r was written to LMDB in this transaction: it leaves the tier now
 * (queries find it in LMDB), for good at commit. false when it was
 * already flushed in this transaction (then nothing is done).
 */
bool		 memtier_range_flushed(struct memtier *, unsigned r);

void		 memtier_commit(struct memtier *);
void		 memtier_abort(struct memtier *);

/*
 * The change log of the open write transaction, read by the store's
 * views (store_view_*, store.h): memtier_undo_mark() is the number of
 * changes so far; memtier_undo_link() reads change idx when it is a
 * link's: 0 and the account, the link's index in it, whether the link
 * was added (else *old is its state before), or 1 for another change.
 */
size_t		 memtier_undo_mark(const struct memtier *);
int		 memtier_undo_link(const struct memtier *, size_t idx,
		    const struct memtier_acct **a, uint32_t *i, bool *added,
		    struct store_link *old);

/* Entries (index) and links held; readable from any thread. */
uint64_t	 memtier_index_count(const struct memtier *);
uint64_t	 memtier_link_count(const struct memtier *);
/* The memory the tier holds, in bytes: its tables, items and arrays. */
uint64_t	 memtier_bytes(const struct memtier *);
/* Index entries held in range r. */
uint64_t	 memtier_range_count(const struct memtier *, unsigned r);

#endif
