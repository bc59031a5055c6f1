/*
 * store_link.c: the account links (store.h: store_link_get,
 * store_link_scan): which identities each account has carried, LMDB's
 * merged with the recent tier's newer state (memtier.h); and a link's
 * key and duplicate, which the tier's flush writes (store_int.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "memtier.h"
#include "rec.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* A link from its duplicate (the caller checked the length). */
void
store_link_decode(const MDB_val *v, struct store_link *l)
{
	struct rec_r	r;

	rec_r_init(&r, v->mv_data, v->mv_size);
	l->kind = rec_get_u8(&r);
	rec_get_bytes(&r, l->h.b, RG_HASH_LEN);
	l->first_ts = (int64_t)rec_get_u48(&r);
	l->first_seq = rec_get_u48(&r);
	l->last_ts = (int64_t)rec_get_u48(&r);
}

/* A link's place: account, kind, hash (its key, then its dup's head). */
void
store_link_key(uint8_t *key, const struct rg_hash *account, unsigned kind,
    const struct rg_hash *h)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, LINK_KEY_LEN);
	rec_put_bytes(&w, account->b, RG_HASH_LEN);
	rec_put_u8(&w, (uint8_t)kind);
	rec_put_bytes(&w, h->b, RG_HASH_LEN);
}

void
store_link_encode(uint8_t *dup, const struct store_link *l)
{
	struct rec_w	w;

	rec_w_fixed(&w, dup, LINK_DUP_LEN);
	rec_put_u8(&w, l->kind);
	rec_put_bytes(&w, l->h.b, RG_HASH_LEN);
	rec_put_u48(&w, (uint64_t)l->first_ts);	/* store_ent_fits() */
	rec_put_u48(&w, l->first_seq);
	rec_put_u48(&w, (uint64_t)l->last_ts);
}

int
store_link_seek(MDB_cursor *c, const uint8_t *key, MDB_val *k, MDB_val *v)
{
	uint8_t	dup[LINK_DUP_LEN];
	int	rc;

	memset(dup, 0, sizeof(dup));
	memcpy(dup, key + RG_HASH_LEN, LINK_ID_LEN);
	*k = store_db_val(key, RG_HASH_LEN);
	*v = store_db_val(dup, sizeof(dup));
	rc = mdb_cursor_get(c, k, v, MDB_GET_BOTH_RANGE);
	if (rc != MDB_NOTFOUND)
		return (rc);
	/* None at or after it in that account: the next account's first. */
	*k = store_db_val(key, RG_HASH_LEN);
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == 0 && k->mv_size == RG_HASH_LEN &&
	    memcmp(k->mv_data, key, RG_HASH_LEN) == 0)
		rc = mdb_cursor_get(c, k, v, MDB_NEXT_NODUP);
	return (rc);
}

/*
 * LMDB's link at place key through c: 0 (*l), 1 none, -1 error. One
 * seek: the duplicates of key's account at or after the link's kind and
 * hash.
 */
static int
link_lookup(struct store_txn *t, MDB_cursor *c, const uint8_t *key,
    struct store_link *l)
{
	uint8_t	dup[LINK_DUP_LEN];
	MDB_val	k, v;
	int	rc;

	memset(dup, 0, sizeof(dup));
	memcpy(dup, key + RG_HASH_LEN, LINK_ID_LEN);
	k = store_db_val(key, RG_HASH_LEN);
	v = store_db_val(dup, sizeof(dup));
	rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
	if (rc == MDB_NOTFOUND)
		return (1);
	if (rc != 0)
		return (store_db_fail(&t->db, rc, "links get"));
	if (v.mv_size != LINK_DUP_LEN ||
	    memcmp(v.mv_data, key + RG_HASH_LEN, LINK_ID_LEN) != 0)
		return (1);
	store_link_decode(&v, l);
	return (0);
}

int
store_link_acct_get(struct store_link_acct *la, struct store_txn *t,
    const uint8_t *key, struct store_link *l)
{
	MDB_val	k, v;
	int	rc;

	if (la->none)
		return (1);
	if (la->c == NULL) {
		if ((la->c = store_db_cursor(&t->db, t->st->links)) == NULL)
			return (-1);
		/* A new account has none: one seek says so for all. */
		k = store_db_val(key, RG_HASH_LEN);
		rc = mdb_cursor_get(la->c, &k, &v, MDB_SET);
		if (rc == MDB_NOTFOUND) {
			la->none = true;
			return (1);
		}
		if (rc != 0)
			return (store_db_fail(&t->db, rc, "links get"));
	}
	return (link_lookup(t, la->c, key, l));
}

void
store_link_acct_end(struct store_link_acct *la)
{
	if (la->c != NULL)
		mdb_cursor_close(la->c);
	la->c = NULL;
	la->none = false;
}

int
store_link_get(struct store_txn *t, const struct rg_hash *account,
    enum ent_kind kind, const struct rg_hash *h, uint64_t max_seq,
    uint64_t *first_seq, int64_t *first_ts)
{
	uint8_t			 key[LINK_KEY_LEN];
	const struct memtier_acct	*a;
	const struct store_link	*ml;
	struct store_link	 l;
	MDB_cursor		*c;
	int			 rc;

	if ((ml = memtier_link_get(t->st->mt, account, kind, h)) != NULL &&
	    t->view != NULL) {
		a = memtier_acct_get(t->st->mt, account);
		if (store_view_link(t->view, a, (uint32_t)(ml - a->l), max_seq,
		    &ml) != 0)
			ml = NULL;
	}
	if (ml != NULL)
		l = *ml;
	else {
		store_link_key(key, account, kind, h);
		if ((c = store_db_cursor(&t->db, t->st->links)) == NULL)
			return (-1);
		rc = link_lookup(t, c, key, &l);
		mdb_cursor_close(c);
		if (rc != 0)
			return (rc);
	}
	if (max_seq != 0 && l.first_seq > max_seq)
		return (1);
	if (first_seq != NULL)
		*first_seq = l.first_seq;
	if (first_ts != NULL)
		*first_ts = l.first_ts;
	return (0);
}

static int
link_cmp(const void *a, const void *b)
{
	const struct store_link	*x = a, *y = b;

	if (x->kind != y->kind)
		return (x->kind < y->kind ? -1 : 1);
	return (memcmp(x->h.b, y->h.b, RG_HASH_LEN));
}

/*
 * The account's links in (kind, hash) order: LMDB's, each replaced by the
 * recent tier's newer state of the same link, merged with the tier's new
 * ones.
 */
int
store_link_scan(struct store_txn *t, const struct rg_hash *account,
    enum ent_kind kind, uint64_t max_seq, store_link_cb cb, void *arg)
{
	uint8_t			 key[LINK_KEY_LEN];
	const struct memtier_acct	*a;
	const struct store_link	*ml;
	struct store_link	 l, mbuf[64], *m = mbuf, *cur;
	MDB_cursor		*c;
	MDB_val			 k, v;
	size_t			 nm = 0, mi = 0;
	uint32_t		 i;
	int			 rc, ret = 0, stop = 0, cmp;

	if ((a = memtier_acct_get(t->st->mt, account)) != NULL && a->n > 0) {
		if (a->n > nitems(mbuf))
			m = xreallocarray(NULL, a->n, sizeof(*m));
		for (i = 0; i < a->n; i++) {
			/* As of max_seq, on a view (store_view.c). */
			if (store_view_link(t->view, a, i, max_seq, &ml) != 0)
				continue;
			if (kind == 0 || ml->kind == kind)
				m[nm++] = *ml;
		}
		qsort(m, nm, sizeof(*m), link_cmp);
	}
	if ((c = store_db_cursor(&t->db, t->st->links)) == NULL) {
		if (m != mbuf)
			free(m);
		return (-1);
	}
	memset(key, 0, sizeof(key));
	memcpy(key, account->b, RG_HASH_LEN);
	key[RG_HASH_LEN] = (uint8_t)kind;
	for (rc = store_link_seek(c, key, &k, &v); rc == 0 && !stop;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		if (k.mv_size != RG_HASH_LEN ||
		    memcmp(k.mv_data, key, RG_HASH_LEN) != 0)
			break;
		if (v.mv_size != LINK_DUP_LEN)
			continue;
		if (kind != 0 && ((const uint8_t *)v.mv_data)[0] != kind)
			break;
		store_link_decode(&v, &l);
		cmp = 1;
		while (!stop && mi < nm && (cmp = link_cmp(&m[mi], &l)) < 0) {
			cur = &m[mi++];
			if (max_seq == 0 || cur->first_seq <= max_seq)
				stop = cb(arg, cur);
		}
		if (stop)
			break;
		cur = &l;
		if (cmp == 0)
			cur = &m[mi++];		/* the newer state */
		if (max_seq == 0 || cur->first_seq <= max_seq)
			stop = cb(arg, cur);
	}
	for (; !stop && mi < nm; mi++)
		if (max_seq == 0 || m[mi].first_seq <= max_seq)
			stop = cb(arg, &m[mi]);
	ret = store_db_cursor_end(&t->db, c, rc, "links scan");
	if (m != mbuf)
		free(m);
	return (ret);
}
