/*
 * store_txn.c: the store's transactions (store.h: store_begin,
 * store_commit, store_abort, their errors) over the wrapper's
 * (store_db.h), with what the store does at their ends: a write commit
 * flushes what is due of the recent tier and publishes the counts and
 * the last seq; a read-only store brings its tier in step at the begin.
 * And the meta records.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "memtier.h"
#include "store.h"
#include "store_int.h"
#include "store_vrec.h"
#include "util.h"

struct store_txn *
store_begin(struct store *st, bool write, char **cause)
{
	struct store_txn	*t = xcalloc(1, sizeof(*t));

	if (store_db_begin(st->db, &t->db, write) != 0) {
		xasprintf(cause, "%s", t->db.errstr);
		free(t);
		return (NULL);
	}
	if (st->readonly && st->ro_busy) {
		store_db_abort(&t->db);
		free(t);
		xasprintf(cause, "begin transaction: a read-only store has "
		    "one transaction at a time");
		return (NULL);
	}
	t->st = st;
	t->next_seq = st->last_seq;
	if (write)
		t->memtier_begin = store_tier_size(st);
	if (st->readonly) {
		st->ro_busy = true;
		if (store_tier_sync(t, cause) != 0) {
			store_abort(t);
			return (NULL);
		}
		t->next_seq = st->last_seq;
	}
	t->begin_seq = t->next_seq;
	return (t);
}

/* The cursors the transaction keeps, closed before it ends. */
static void
txn_cursors_close(struct store_txn *t)
{
	if (t->vrec_cur != NULL)
		mdb_cursor_close(t->vrec_cur);
	t->vrec_cur = NULL;
}

/* Free what the transaction handed out (store_get_verdict()), and t. */
static void
txn_free(struct store_txn *t)
{
	size_t	i;

	for (i = 0; i < t->nrecs; i++)
		free(t->recs[i]);
	free(t->recs);
	if (t->vsplit != NULL) {
		store_vrec_buf_free(t->vsplit);
		free(t->vsplit);
	}
	free(t);
}

int
store_commit(struct store_txn *t, enum store_err *err, char **cause)
{
	struct store	*st = t->st;
	uint64_t	 nindex = 0, nlinks = 0;
	unsigned	 r;
	int		 rc;

	if (t->db.write && t->db.ret == 0) {
		store_tier_flush(t);
		/* This transaction's counts, its flushes included. */
		nindex = store_db_entries(&t->db, st->index);
		nlinks = store_db_entries(&t->db, st->links);
	}
	txn_cursors_close(t);
	rc = store_db_commit(&t->db);
	if (st->readonly)
		st->ro_busy = false;
	if (t->db.write && rc == 0) {
		__atomic_store_n(&st->last_seq, t->next_seq, __ATOMIC_RELEASE);
		for (r = 0; r < MT_RANGES && t->nfl > 0; r++)
			if (t->fl[r])
				st->flushed[r] = t->fl_mark[r];
		memtier_commit(st->mt);
		store_pairs_settle(st, true);
		if (t->swept) {
			st->sweep = t->sweep;
			__atomic_store_n(&st->pub_swept, st->sweep.removed,
			    __ATOMIC_RELAXED);
			__atomic_store_n(&st->pub_sweeping, st->sweep.on,
			    __ATOMIC_RELAXED);
		}
		__atomic_store_n(&st->pub_index, nindex +
		    memtier_index_count(st->mt), __ATOMIC_RELAXED);
		__atomic_store_n(&st->pub_links, nlinks +
		    memtier_link_count(st->mt), __ATOMIC_RELAXED);
		__atomic_store_n(&st->pub_valid, true, __ATOMIC_RELEASE);
	} else if (t->db.write) {
		memtier_abort(st->mt);
		store_pairs_settle(st, false);
		__atomic_fetch_add(&st->epoch, 1, __ATOMIC_RELEASE);
	}
	if (err != NULL)
		*err = store_txn_err(t);
	if (rc != 0)
		xasprintf(cause, "%s", t->db.errstr);
	txn_free(t);
	return (rc);
}

uint64_t
store_writes(struct store *st)
{
	return (store_db_writes(st->db));
}

uint64_t
store_txn_epoch(const struct store_txn *t)
{
	return (__atomic_load_n(&t->st->epoch, __ATOMIC_ACQUIRE));
}

void
store_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	if (t->db.write) {
		memtier_abort(t->st->mt);
		store_pairs_settle(t->st, false);
		__atomic_fetch_add(&t->st->epoch, 1, __ATOMIC_RELEASE);
	}
	txn_cursors_close(t);
	store_db_abort(&t->db);
	if (t->st->readonly)
		t->st->ro_busy = false;
	txn_free(t);
}

enum store_err
store_txn_err(const struct store_txn *t)
{
	if (t->db.ret == 0)
		return (STORE_OK);
	if (t->db.ret == MDB_MAP_FULL)
		return (t->db.grow ? STORE_MAP_GROW : STORE_FULL);
	return (STORE_IO);
}

const char *
store_txn_errstr(const struct store_txn *t)
{
	return (t->db.ret == 0 ? "no error" : t->db.errstr);
}

int
store_meta_get(struct store_txn *t, const char *name, const void **out,
    size_t *len)
{
	MDB_val	k = store_db_val(name, strlen(name)), v;
	int	rc;

	if ((rc = store_db_get(&t->db, t->st->meta, &k, &v,
	    "meta get")) != 0)
		return (rc);
	*out = v.mv_data;
	*len = v.mv_size;
	return (0);
}

int
store_meta_put(struct store_txn *t, const char *name, const void *p,
    size_t len)
{
	MDB_val	k = store_db_val(name, strlen(name));
	MDB_val	v = store_db_val(p, len);

	return (store_db_put(&t->db, t->st->meta, &k, &v, 0, "meta put"));
}
