/*
 * store_convert.h: converting an older store's derived databases to the
 * current layout, in place, at the first writable open (store_open()).
 * It knows LMDB (through store_db.h) and the layouts, nothing else of
 * the store.
 */
#ifndef REFGUARD_STORE_CONVERT_H
#define REFGUARD_STORE_CONVERT_H

#include <lmdb.h>

struct store_db;

/*
 * Move every entry of schema 3's identity index, the database "index"
 * (key kind(1) hash(16) ts(8) seq(8), value type(1) roles(1)), into dst,
 * opened MDB_DUPSORT | MDB_DUPFIXED (key kind(1) hash(16), one duplicate
 * ts(8) seq(8) type(1) roles(1) per entry), then drop "index". Entries
 * move in key order, a batch per transaction (put in dst, deleted from
 * "index" in the same commit), so a crash or a full map part-way leaves
 * a store the next open resumes; every put is an append, so dst's pages
 * come out full. No other transaction may run meanwhile. Returns the
 * number of entries moved (0: no "index", nothing to do), or -1 with
 * *cause (caller frees).
 */
long long	store_convert_index(struct store_db *db, MDB_dbi dst,
		    char **cause);
/*
 * The same for schema 3's account links, the database "links" (key
 * account(16) kind(1) hash(16), value first_ts(8) first_seq(8) last_ts(8)),
 * into dst (key account(16), one duplicate kind(1) hash(16) first_ts(8)
 * first_seq(8) last_ts(8) per link).
 */
long long	store_convert_links(struct store_db *db, MDB_dbi dst,
		    char **cause);

#endif
