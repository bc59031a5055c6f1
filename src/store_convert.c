/*
 * store_convert.c: schema 3's and 4's identity index and account links
 * into schema 5's layout (store_convert.h). All are the same move: an
 * old key cut in two, its head the new key, its tail and the old value
 * schema 4's duplicate, which is then re-encoded as schema 5's.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "store_convert.h"
#include "store_db.h"
#include "store_int.h"
#include "util.h"

struct layout {
	const char	*old;		/* the older database */
	const char	*what;		/* for the log */
	int		 schema;	/* the older one's */
	size_t		 klen;		/* its key */
	size_t		 vlen;		/* its value (or duplicate) */
	size_t		 nklen;		/* the new key: the old key's head */
	size_t		 ndlen;		/* the new duplicate */
	/* Schema 4's duplicate d4 as schema 5's: 0, or -1 out of range. */
	int		(*conv)(const uint8_t *d4, uint8_t *d5);
};

#define MAX_LEN		64
/* Entries a transaction moves: ~1,000 pages dirtied, held until commit. */
#define CONVERT_BATCH	100000

/*
 * One batch: the first CONVERT_BATCH entries of old, appended to dst and
 * deleted. *moved gets how many; *done is set when old is left empty.
 * 0, or an LMDB error with what set.
 */
static int
convert_batch(const struct layout *lo, MDB_txn *txn, MDB_dbi old, MDB_dbi dst,
    long long *moved, bool *done, const char **what)
{
	MDB_cursor	*oc = NULL, *dc = NULL;
	MDB_val		 k, v, nk, nv;
	uint8_t		 prev[MAX_LEN], d[MAX_LEN], d5[MAX_LEN];
	size_t		 tail = lo->klen - lo->nklen;
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
	if (rc == 0 && k.mv_size == lo->nklen) {
		memcpy(prev, k.mv_data, lo->nklen);
		have = true;
	} else if (rc != 0 && rc != MDB_NOTFOUND)
		goto out;
	*what = "read old entries";
	for (rc = mdb_cursor_get(oc, &k, &v, MDB_FIRST);
	    rc == 0 && n < CONVERT_BATCH;
	    rc = mdb_cursor_get(oc, &k, &v, MDB_FIRST)) {
		if (k.mv_size != lo->klen || v.mv_size != lo->vlen) {
			*what = "an old entry of a wrong size";
			rc = MDB_CORRUPTED;
			goto out;
		}
		memcpy(d, (const uint8_t *)k.mv_data + lo->nklen, tail);
		memcpy(d + tail, v.mv_data, lo->vlen);
		if (lo->conv(d, d5) != 0) {
			*what = "an old entry whose time or seq is past 2^48";
			rc = MDB_CORRUPTED;
			goto out;
		}
		nk.mv_size = lo->nklen;
		nk.mv_data = k.mv_data;
		nv.mv_size = lo->ndlen;
		nv.mv_data = d5;
		/*
		 * In key order: a new key or the next duplicate of the last.
		 * Not past dst's last when a conversion of an older refguard
		 * stopped part-way, leaving entries in two older databases:
		 * then an ordinary put.
		 */
		*what = "put converted";
		if (have && memcmp(prev, k.mv_data, lo->nklen) == 0)
			rc = mdb_cursor_put(dc, &nk, &nv, MDB_APPENDDUP);
		else
			rc = mdb_cursor_put(dc, &nk, &nv, MDB_APPEND);
		if (rc == MDB_KEYEXIST)
			rc = mdb_cursor_put(dc, &nk, &nv, 0);
		if (rc != 0)
			goto out;
		memcpy(prev, k.mv_data, lo->nklen);
		have = true;
		*what = "delete old entry";
		if ((rc = mdb_cursor_del(oc, 0)) != 0)
			goto out;
		n++;
		*what = "read old entries";
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

static long long
convert(const struct layout *lo, struct store_db *db, MDB_dbi dst,
    char **cause)
{
	struct store_db_txn	 x;
	MDB_dbi			 old;
	const char		*what;
	long long		 total = 0, n;
	bool			 done = false;
	int			 rc;

	while (!done) {
		what = "begin";
		if (store_db_begin(db, &x, true) != 0) {
			rc = x.ret;
			goto fail;
		}
		what = "open the old database";
		rc = mdb_dbi_open(x.txn, lo->old, 0, &old);
		if (rc == MDB_NOTFOUND) {
			store_db_abort(&x);
			break;
		}
		if (rc == 0)
			rc = convert_batch(lo, x.txn, old, dst, &n, &done,
			    &what);
		if (rc == 0 && done) {
			what = "drop the old database";
			rc = mdb_drop(x.txn, old, 1);
		}
		if (rc != 0) {
			store_db_abort(&x);
			goto fail;
		}
		what = "commit";
		if (store_db_commit(&x) != 0) {
			rc = x.ret;
			goto fail;
		}
		if (total == 0 && n > 0)
			log_info("store: converting the %s from schema %d to "
			    "schema %d (entries are moved, not copied)",
			    lo->what, lo->schema, STORE_SCHEMA);
		total += n;
		if (n > 0 && total % (100 * CONVERT_BATCH) == 0)
			log_info("store: %lld entries of the %s converted",
			    total, lo->what);
	}
	if (total > 0)
		log_info("store: %s converted from schema %d: %lld entries",
		    lo->what, lo->schema, total);
	return (total);
fail:
	xasprintf(cause, "convert the %s from schema %d: %s: %s", lo->what,
	    lo->schema, what, mdb_strerror(rc));
	return (-1);
}

/* Schema 4's ts(8) seq(8) type(1) roles(1) as store_index_val()'s. */
static int
conv_index(const uint8_t *d4, uint8_t *d5)
{
	struct rec_r	r;
	int64_t		ts;
	uint64_t	seq;
	uint8_t		type, roles;

	rec_r_init(&r, d4, INDEX4_VAL_LEN);
	ts = store_ts_unkey(rec_get_u64(&r));
	seq = rec_get_u64(&r);
	type = rec_get_u8(&r);
	roles = rec_get_u8(&r);
	if (!store_ent_fits(ts, seq, type) || roles > STORE_ROLES_MAX)
		return (-1);
	store_index_val(d5, ts, seq, type, roles);
	return (0);
}

/* Schema 4's kind(1) hash(16) first_ts(8) first_seq(8) last_ts(8). */
static int
conv_link(const uint8_t *d4, uint8_t *d5)
{
	struct rec_r		r;
	struct store_link	l;

	rec_r_init(&r, d4, LINK4_DUP_LEN);
	l.kind = rec_get_u8(&r);
	rec_get_bytes(&r, l.h.b, RG_HASH_LEN);
	l.first_ts = store_ts_unkey(rec_get_u64(&r));
	l.first_seq = rec_get_u64(&r);
	l.last_ts = store_ts_unkey(rec_get_u64(&r));
	if (!store_ent_fits(l.first_ts, l.first_seq, 0) ||
	    !store_ent_fits(l.last_ts, 0, 0))
		return (-1);
	store_link_encode(d5, &l);
	return (0);
}

long long
store_convert_index(struct store_db *db, MDB_dbi dst, char **cause)
{
	static const struct layout lo3 = { "index", "identity index", 3,
	    1 + 16 + 8 + 8, 2, 1 + 16, INDEX_VAL_LEN, conv_index };
	static const struct layout lo4 = { "ident_index", "identity index", 4,
	    1 + 16, INDEX4_VAL_LEN, 1 + 16, INDEX_VAL_LEN, conv_index };
	long long	n3, n4;

	if ((n4 = convert(&lo4, db, dst, cause)) < 0 ||
	    (n3 = convert(&lo3, db, dst, cause)) < 0)
		return (-1);
	return (n3 + n4);
}

long long
store_convert_links(struct store_db *db, MDB_dbi dst, char **cause)
{
	static const struct layout lo3 = { "links", "account links", 3,
	    16 + 1 + 16, 8 + 8 + 8, 16, LINK_DUP_LEN, conv_link };
	static const struct layout lo4 = { "acct_links", "account links", 4,
	    16, LINK4_DUP_LEN, 16, LINK_DUP_LEN, conv_link };
	long long	n3, n4;

	if ((n4 = convert(&lo4, db, dst, cause)) < 0 ||
	    (n3 = convert(&lo3, db, dst, cause)) < 0)
		return (-1);
	return (n3 + n4);
}
