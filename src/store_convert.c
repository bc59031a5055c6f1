/*
 * store_convert.c: schema 3's identity index into schema 4's layout
 * (store_convert.h).
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "store_convert.h"
#include "util.h"

#define OLD_KEY_LEN	(1 + 16 + 8 + 8)
#define OLD_VAL_LEN	2
#define NEW_KEY_LEN	(1 + 16)
#define NEW_VAL_LEN	(8 + 8 + 1 + 1)
/* Entries a transaction moves: ~1,000 pages dirtied, held until commit. */
#define CONVERT_BATCH	100000

/*
 * One batch: the first CONVERT_BATCH entries of old, appended to dst and
 * deleted. *moved gets how many; *done is set when old is left empty.
 * 0, or an LMDB error with what set.
 */
static int
convert_batch(MDB_txn *txn, MDB_dbi old, MDB_dbi dst, long long *moved,
    bool *done, const char **what)
{
	MDB_cursor	*oc = NULL, *dc = NULL;
	MDB_val		 k, v, nk, nv;
	uint8_t		 prev[NEW_KEY_LEN], d[NEW_VAL_LEN];
	bool		 have = false;
	long long	 n = 0;
	int		 rc;

	*moved = 0;
	*done = false;
	*what = "cursor";
	if ((rc = mdb_cursor_open(txn, old, &oc)) != 0 ||
	    (rc = mdb_cursor_open(txn, dst, &dc)) != 0)
		goto out;
	/* dst's last key: a batch may resume in the middle of an identity. */
	*what = "read converted";
	rc = mdb_cursor_get(dc, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == NEW_KEY_LEN) {
		memcpy(prev, k.mv_data, NEW_KEY_LEN);
		have = true;
	} else if (rc != 0 && rc != MDB_NOTFOUND)
		goto out;
	*what = "read old index";
	for (rc = mdb_cursor_get(oc, &k, &v, MDB_FIRST);
	    rc == 0 && n < CONVERT_BATCH;
	    rc = mdb_cursor_get(oc, &k, &v, MDB_FIRST)) {
		if (k.mv_size != OLD_KEY_LEN || v.mv_size != OLD_VAL_LEN) {
			*what = "old index entry of a wrong size";
			rc = MDB_CORRUPTED;
			goto out;
		}
		memcpy(d, (const uint8_t *)k.mv_data + NEW_KEY_LEN, 16);
		memcpy(d + 16, v.mv_data, OLD_VAL_LEN);
		nk.mv_size = NEW_KEY_LEN;
		nk.mv_data = k.mv_data;
		nv.mv_size = NEW_VAL_LEN;
		nv.mv_data = d;
		/* In key order: a new identity or the next of the last one. */
		*what = "put converted";
		if (have && memcmp(prev, k.mv_data, NEW_KEY_LEN) == 0)
			rc = mdb_cursor_put(dc, &nk, &nv, MDB_APPENDDUP);
		else
			rc = mdb_cursor_put(dc, &nk, &nv, MDB_APPEND);
		if (rc != 0)
			goto out;
		memcpy(prev, k.mv_data, NEW_KEY_LEN);
		have = true;
		*what = "delete old entry";
		if ((rc = mdb_cursor_del(oc, 0)) != 0)
			goto out;
		n++;
		*what = "read old index";
	}
	if (rc == MDB_NOTFOUND) {
		*done = true;
		rc = 0;
	}
	*moved = n;
out:
	if (oc != NULL)
		mdb_cursor_close(oc);
	if (dc != NULL)
		mdb_cursor_close(dc);
	return (rc);
}

long long
store_convert_index(MDB_env *env, MDB_dbi dst, char **cause)
{
	MDB_txn		*txn;
	MDB_dbi		 old;
	const char	*what = "begin";
	long long	 total = 0, n;
	bool		 done = false;
	int		 rc;

	while (!done) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			goto fail;
		what = "open old index";
		rc = mdb_dbi_open(txn, "index", 0, &old);
		if (rc == MDB_NOTFOUND) {
			mdb_txn_abort(txn);
			break;
		}
		if (rc == 0)
			rc = convert_batch(txn, old, dst, &n, &done, &what);
		if (rc == 0 && done) {
			what = "drop old index";
			rc = mdb_drop(txn, old, 1);
		}
		if (rc != 0) {
			mdb_txn_abort(txn);
			goto fail;
		}
		what = "commit";
		if ((rc = mdb_txn_commit(txn)) != 0)
			goto fail;
		if (total == 0 && n > 0)
			log_info("store: converting the identity index to "
			    "schema 4 (entries are moved, not copied)");
		total += n;
		if (n > 0 && total % (100 * CONVERT_BATCH) == 0)
			log_info("store: %lld index entries converted", total);
	}
	if (total > 0)
		log_info("store: identity index converted: %lld entries",
		    total);
	return (total);
fail:
	xasprintf(cause, "convert the identity index: %s: %s", what,
	    mdb_strerror(rc));
	return (-1);
}
