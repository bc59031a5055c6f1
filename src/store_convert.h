/*
 * store_convert.h: converting an older store's derived databases to the
 * current layout, in place, at the first writable open (store_open()).
 * It knows LMDB (through store_db.h) and the older layouts; entries are
 * written by the current layout's own encoders (store_index_val(),
 * store_link_encode(): store_int.h), nothing else of the store.
 */
#ifndef REFGUARD_STORE_CONVERT_H
#define REFGUARD_STORE_CONVERT_H

#include <lmdb.h>

struct store_db;

/*
 * Move every entry of schema 4's identity index, the database
 * "ident_index" (key kind(1) hash(16), one duplicate ts(8) seq(8)
 * type(1) roles(1) per entry), and then of schema 3's, "index" (key
 * kind(1) hash(16) ts(8) seq(8), value type(1) roles(1)), into dst,
 * opened MDB_DUPSORT | MDB_DUPFIXED (key kind(1) hash(16), one duplicate
 * per entry as store_index_val() writes it: store_int.h), then drop the
 * older database. An entry whose time or seq does not fit 48 bits stops
 * the conversion (an error: nothing the daemon writes has one). Entries
 * move in key order, a batch per transaction (put in dst, deleted from
 * "index" in the same commit), so a crash or a full map part-way leaves
 * a store the next open resumes; every put is an append, so dst's pages
 * come out full (a store where an older refguard's conversion stopped
 * part-way has entries in both older databases: the second's are put
 * without appending). No other transaction may run meanwhile. Returns
 * the number of entries moved (0: no older database, nothing to do), or
 * -1 with *cause (caller frees).
 */
long long	store_convert_index(struct store_db *db, MDB_dbi dst,
		    char **cause);
/*
 * The same for the account links: schema 4's "acct_links" (key
 * account(16), one duplicate kind(1) hash(16) first_ts(8) first_seq(8)
 * last_ts(8) per link), then schema 3's "links" (key account(16) kind(1)
 * hash(16), value first_ts(8) first_seq(8) last_ts(8)), into dst (key
 * account(16), one duplicate per link as store_link_encode() writes it).
 */
long long	store_convert_links(struct store_db *db, MDB_dbi dst,
		    char **cause);

#endif
