/*
 * memtier_int.h: what the recent tier's files share:
 *   memtier.c        the tier: identities and accounts, links, the undo
 *                    log, ranges, flush, commit and abort, the counts
 *                    (memtier.h's functions)
 *   memtier_table.c  its tables: the chunks their items and arrays take
 *                    memory from, and the open-addressing hash table
 * Nothing else includes it: the rest of refguard goes through memtier.h.
 *
 * Single-threaded like memtier.h. A function here that takes the tier
 * changes only the table it is given, and counts what that table's memory
 * grows or shrinks by in the tier's bytes (memtier_bytes()).
 */
#ifndef REFGUARD_MEMTIER_INT_H
#define REFGUARD_MEMTIER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memtier.h"

/*
 * One hash table per range for identities, one for accounts: open
 * addressing, linear probing, at most three quarters full (half full
 * takes ~15 MiB more at the bench's load, past the daemon's memory
 * target). A slot keeps the hash's mixed bits beside the item, so that
 * a lookup of an identity the tier does not hold (most lookups) reads
 * the slots, not the items.
 */
struct memtier_slot {
	uint64_t	 mix;		/* memtier.c's mix_of(hash, kind) */
	void		*p;		/* the ident or acct; NULL: empty */
};

/*
 * The memory of a table's items and their arrays, in chunks freed
 * together with the table: a range's flush frees a few chunks instead of
 * each of its thousands of items, and adding an item is a bump of a
 * pointer. Arrays hold a power of two of items (a table's arrays are of
 * one item size); a small one that grows leaves its old copy for the
 * next array of that size. An item an abort takes out, and its array,
 * are left the same way for the next item (a table's items are of one
 * size): while every write fails, the aborts reuse what they left
 * instead of taking more.
 */
struct memtier_chunk {
	struct memtier_chunk	*next;
	size_t			 size;	/* of data */
	size_t			 used;
	max_align_t		 data[];
};
#define MT_CHUNK_SIZE	(4096 - sizeof(struct memtier_chunk))

/* An array left behind, kept for the next one of its size. */
struct memtier_spare {
	struct memtier_spare	*next;
};
#define MT_SPARE_CLASSES	32	/* arrays of 2^k items */

/*
 * An array of more than MT_BIG_SIZE bytes (a busy identity's entries)
 * has an allocation of its own, freed as soon as it grows: a spare of
 * that size would seldom be taken again.
 */
struct memtier_big {
	struct memtier_big	*next;
	struct memtier_big	*prev;
	max_align_t		 data[];
};
#define MT_BIG_SIZE	1024

struct memtier_table {
	struct memtier_slot	*s;
	size_t		  ns;		/* slots: a power of two, >= 4/3 x n */
	size_t		  n;
	struct memtier_chunk	*mem;	/* the newest first */
	struct memtier_spare	*spare[MT_SPARE_CLASSES];
	struct memtier_spare	*items;	/* items an abort took out */
	struct memtier_big	*big;
	size_t		  bytes;	/* allocated: slots, chunks, bigs */
};

struct undo;		/* an entry of the undo log: memtier.c */

struct memtier {
	struct memtier_table	 idx[MT_RANGES];
	struct memtier_table	 acc[MT_RANGES];
	uint64_t	 range_entries[MT_RANGES];
	/*
	 * A range flushed in the open transaction is detached at once (so
	 * queries see it in LMDB only), freed at commit, put back at abort.
	 */
	struct memtier_table	 idx_det[MT_RANGES];
	struct memtier_table	 acc_det[MT_RANGES];
	uint64_t	 det_entries[MT_RANGES];
	uint64_t	 det_links[MT_RANGES];
	bool		 flushed[MT_RANGES];
	uint32_t	 aborts;	/* atomic: ages memtier_ident.disk */
	uint64_t	 nentries;	/* atomic: read by stats */
	uint64_t	 nlinks;	/* atomic */
	uint64_t	 bytes;		/* atomic: the tables' bytes, summed */

	struct undo	*undo;
	size_t		 nundo;
	size_t		 undocap;

	void		**sorted;	/* memtier_range() output */
	size_t		  sortedcap;
};

/* The slot an item of mix would take in an empty table. */
static inline size_t
memtier_home(const struct memtier_table *t, uint64_t mix)
{
	return ((size_t)mix & (t->ns - 1));
}

/*
 * A zeroed item of size (a table's items are all of one size), aligned
 * for any type: one an abort left, else new memory of the table.
 */
void	*memtier_table_item(struct memtier *, struct memtier_table *,
	    size_t size);
/*
 * An array of 2^k items of size holding the first n items of from, which
 * it replaces: from is NULL, an item's own first one when k is 1, else
 * the table's array of 2^(k-1) items, which is left (memtier_array_leave()).
 * Never fails; k from MT_SPARE_CLASSES, or size under a pointer's, is fatal.
 */
void	*memtier_table_array(struct memtier *, struct memtier_table *,
	    void *from, unsigned k, size_t n, size_t size);
/*
 * Give back the table's array of 2^k items of size at p: freed when it is
 * big, else kept for the next array of its size. p is not to be used.
 */
void	 memtier_array_leave(struct memtier *, struct memtier_table *,
	    void *p, unsigned k, size_t size);
/*
 * Keep p, of len bytes (at least a pointer's), on list for the next taken
 * from it: an item an abort took out goes on the table's items.
 */
void	 memtier_spare_put(struct memtier_spare **list, void *p, size_t len);

/* Add p, of mix, which the table does not hold; the slots grow as needed. */
void	 memtier_table_add(struct memtier *, struct memtier_table *,
	    uint64_t mix, void *p);
/* Take p, of mix, out of the table, which holds it. Its memory stays. */
void	 memtier_table_del(struct memtier_table *, uint64_t mix, void *p);
/* Free the table's slots, items and arrays; it is left empty, reusable. */
void	 memtier_table_free(struct memtier *, struct memtier_table *);

#endif
