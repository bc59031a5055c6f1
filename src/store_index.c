/*
 * store_index.c: the identity index and its queries (store.h: store_scan,
 * store_count, store_first, store_scan_referred). An identity's entries
 * are LMDB's and the recent tier's (memtier.h), merged in (ts, seq) order
 * without duplicates: the two never hold the same entry. Entries of
 * events retention deleted wait for its sweep: every query skips them
 * (store_index_floor()).
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

void
store_index_key(uint8_t *key, unsigned kind, const struct rg_hash *h)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, INDEX_KEY_LEN);
	rec_put_u8(&w, (uint8_t)kind);
	rec_put_bytes(&w, h->b, RG_HASH_LEN);
}

/*
 * An entry's duplicate; a query's bounds too, so values past the fields'
 * ranges are clamped (index_walk() drops a range outside 0 .. 2^48).
 */
void
store_index_val(uint8_t *val, int64_t ts, uint64_t seq, uint8_t type,
    uint8_t roles)
{
	struct rec_w	w;
	uint64_t	t = ts < 0 ? 0 : (uint64_t)ts;

	rec_w_fixed(&w, val, INDEX_VAL_LEN);
	rec_put_u48(&w, t > REC_U48_MAX ? REC_U48_MAX : t);
	rec_put_u48(&w, seq > REC_U48_MAX ? REC_U48_MAX : seq);
	rec_put_u8(&w, (uint8_t)((type > STORE_TYPE_MAX ? STORE_TYPE_MAX :
	    type) << 4 | (roles > STORE_ROLES_MAX ? STORE_ROLES_MAX : roles)));
}

/* An entry from its duplicate (the caller checked the length). */
void
store_index_val_decode(const MDB_val *v, struct store_entry *e)
{
	struct rec_r	r;
	uint8_t		tr;

	rec_r_init(&r, v->mv_data, v->mv_size);
	e->ts = (int64_t)rec_get_u48(&r);
	e->seq = rec_get_u48(&r);
	tr = rec_get_u8(&r);
	e->type = tr >> 4;
	e->roles = tr & STORE_ROLES_MAX;
}

int
store_index_floor(struct store_txn *t, uint64_t *floor)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	const void	*p;
	size_t		 len;
	uint64_t	 fl = 0;
	int		 rc;

	if (t->floor != 0) {
		*floor = t->floor;
		return (0);
	}
	if ((c = store_db_cursor(&t->db, t->st->events)) == NULL)
		return (-1);
	if ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0)
		fl = k.mv_size == 8 ? be_get(k.mv_data, 8) : 1;
	if (store_db_cursor_end(&t->db, c, rc, "index floor") != 0)
		return (-1);
	if (rc == MDB_NOTFOUND) {
		/* None: the next event's (retention kept the last in meta). */
		fl = t->begin_seq;
		if ((rc = store_meta_get(t, "seq_floor", &p, &len)) < 0)
			return (-1);
		if (rc == 0 && len == 8 && be_get(p, 8) > fl)
			fl = be_get(p, 8);
		fl++;
	}
	t->floor = *floor = fl;
	return (0);
}

/*
 * Walk the index entries of (kind, h) in [from_ts, to_ts], of seqs in
 * [min_seq, max_seq] (max_seq 0: no bound).
 */
struct iwalk {
	uint32_t	type_mask;
	uint32_t	role_mask;
	uint64_t	max_seq;
	uint64_t	min_seq;	/* the floor's */
};

/* w for t's queries, from the floor on: 0, or -1 (t failed). */
static int
iwalk_init(struct store_txn *t, struct iwalk *w, uint32_t type_mask,
    uint32_t role_mask, uint64_t max_seq)
{
	if (store_index_floor(t, &w->min_seq) != 0)
		return (-1);
	w->type_mask = type_mask;
	w->role_mask = role_mask;
	w->max_seq = max_seq;
	return (0);
}

static bool
iwalk_match(const struct iwalk *w, const MDB_val *v, struct store_entry *e)
{
	if (v->mv_size != INDEX_VAL_LEN)
		return (false);
	store_index_val_decode(v, e);
	if (e->seq < w->min_seq ||
	    (w->max_seq != 0 && e->seq > w->max_seq))
		return (false);
	if (e->type >= 32 || !(w->type_mask & EV_MASK(e->type)))
		return (false);
	return ((w->role_mask & e->roles) != 0);
}

/* Does a recent tier entry pass w and [from_ts, to_ts]? Fills *out. */
static bool
recent_match(const struct memtier_ent *e, const struct iwalk *w, int64_t from_ts,
    int64_t to_ts, struct store_entry *out)
{
	if (e->ts < from_ts || e->ts > to_ts)
		return (false);
	if (e->seq < w->min_seq || (w->max_seq != 0 && e->seq > w->max_seq))
		return (false);
	if (e->type >= 32 || !(w->type_mask & EV_MASK(e->type)) ||
	    !(w->role_mask & e->roles))
		return (false);
	out->ts = e->ts;
	out->seq = e->seq;
	out->type = e->type;
	out->roles = e->roles;
	return (true);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct store_entry	*x = a, *y = b;

	if (x->ts != y->ts)
		return (x->ts < y->ts ? -1 : 1);
	if (x->seq != y->seq)
		return (x->seq < y->seq ? -1 : 1);
	return (0);
}


/*
 * A cursor on the index for the identity of key, in *c, unless LMDB holds
 * none of its entries, as id (the tier's entries of it, or NULL)
 * remembers once a query found out: an identity first seen since its
 * range was last flushed has none, and most identities are seen once.
 * 0 (a cursor), 1 (none: no cursor), -1 (t failed).
 */
static int
index_cursor(struct store_txn *t, const uint8_t *key,
    const struct memtier_ident *id, MDB_cursor **c)
{
	MDB_val	k = store_db_val(key, INDEX_KEY_LEN), v;
	int	rc;

	*c = NULL;
	if (t->db.ret != 0)
		return (-1);
	if (id != NULL && memtier_ident_disk(t->st->mt, id) == MT_DISK_NONE)
		return (1);
	if ((*c = store_db_cursor(&t->db, t->st->index)) == NULL)
		return (-1);
	if (id == NULL || memtier_ident_disk(t->st->mt, id) == MT_DISK_SOME)
		return (0);
	if ((rc = mdb_cursor_get(*c, &k, &v, MDB_SET)) != 0 &&
	    rc != MDB_NOTFOUND) {
		store_db_cursor_end(&t->db, *c, rc, "index scan");
		*c = NULL;
		return (-1);
	}
	memtier_ident_set_disk(t->st->mt, id, rc == 0 ? MT_DISK_SOME :
	    MT_DISK_NONE);
	return (rc == 0 ? 0 : 1);
}

/*
 * LMDB's entries of (kind, h) in [from_ts, to_ts] that pass w, merged in
 * (ts, seq) order with m[nm], the recent tier's, sorted; id is the tier's
 * entries of (kind, h), or NULL.
 */
static int
index_walk(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    const struct memtier_ident *id, const struct iwalk *wp, int64_t from_ts,
    int64_t to_ts, bool newest_first, const struct store_entry *m, size_t nm,
    store_entry_cb cb, void *arg)
{
	struct iwalk		 w = *wp;
	struct store_entry	 e;
	uint8_t			 key[INDEX_KEY_LEN];
	uint8_t			 lo[INDEX_VAL_LEN], hi[INDEX_VAL_LEN];
	MDB_cursor		*c;
	MDB_val			 k, v;
	size_t			 mi = 0;
	int			 rc, none, stop = 0;

	/*
	 * No entry has a time outside 0 .. 2^48 (store_ent_fits()), the
	 * tier's (m) neither: the bounds below are clamped to it.
	 */
	if (to_ts < 0 || from_ts > (int64_t)REC_U48_MAX)
		return (0);
	store_index_key(key, kind, h);
	if ((none = index_cursor(t, key, id, &c)) < 0)
		return (-1);
	store_index_val(lo, from_ts, 0, 0, 0);
	store_index_val(hi, to_ts, UINT64_MAX, 0xff, 0xff);
	k = store_db_val(key, sizeof(key));
	if (!newest_first) {
		v = store_db_val(lo, sizeof(lo));
		rc = none ? MDB_NOTFOUND : mdb_cursor_get(c, &k, &v,
		    MDB_GET_BOTH_RANGE);
		for (; rc == 0 && !stop;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
			if (v.mv_size != INDEX_VAL_LEN ||
			    memcmp(v.mv_data, hi, INDEX_VAL_LEN) > 0)
				break;
			if (!iwalk_match(&w, &v, &e))
				continue;
			while (!stop && mi < nm && entry_cmp(&m[mi], &e) < 0)
				stop = cb(arg, &m[mi++]);
			if (!stop)
				stop = cb(arg, &e);
		}
		while (!stop && mi < nm)
			stop = cb(arg, &m[mi++]);
	} else {
		/* First entry past the range, then walk back. */
		mi = nm;
		v = store_db_val(hi, sizeof(hi));
		rc = none ? MDB_NOTFOUND : mdb_cursor_get(c, &k, &v,
		    MDB_GET_BOTH_RANGE);
		if (rc == MDB_NOTFOUND && !none) {
			/* None past it: from the identity's last, if any. */
			k = store_db_val(key, sizeof(key));
			rc = mdb_cursor_get(c, &k, &v, MDB_SET);
			if (rc == 0)
				rc = mdb_cursor_get(c, &k, &v, MDB_LAST_DUP);
		} else if (rc == 0 && memcmp(v.mv_data, hi, INDEX_VAL_LEN) > 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_PREV_DUP);
		for (; rc == 0 && !stop;
		    rc = mdb_cursor_get(c, &k, &v, MDB_PREV_DUP)) {
			if (v.mv_size != INDEX_VAL_LEN ||
			    memcmp(v.mv_data, lo, INDEX_VAL_LEN) < 0)
				break;
			if (!iwalk_match(&w, &v, &e))
				continue;
			while (!stop && mi > 0 && entry_cmp(&m[mi - 1], &e) > 0)
				stop = cb(arg, &m[--mi]);
			if (!stop)
				stop = cb(arg, &e);
		}
		while (!stop && mi > 0)
			stop = cb(arg, &m[--mi]);
	}
	return (store_db_cursor_end(&t->db, c, rc, "index scan"));
}

/*
 * Walk the index entries of (kind, h) in [from_ts, to_ts], in (ts, seq)
 * order: LMDB's merged with the recent tier's (the two never hold the
 * same entry).
 */
int
store_scan(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    uint32_t type_mask, uint32_t role_mask, int64_t from_ts, int64_t to_ts,
    uint64_t max_seq, bool newest_first, store_entry_cb cb, void *arg)
{
	struct iwalk		 w;
	const struct memtier_ident	*id;
	struct store_entry	 mbuf[32], *m = mbuf;
	size_t			 nm = 0;
	uint32_t		 i;
	int			 ret;

	if (iwalk_init(t, &w, type_mask, role_mask, max_seq) != 0)
		return (-1);
	if (from_ts > to_ts)
		return (0);
	if ((id = memtier_index_get(t->st->mt, kind, h)) != NULL) {
		if (id->n > nitems(mbuf))
			m = xreallocarray(NULL, id->n, sizeof(*m));
		for (i = 0; i < id->n; i++)
			if (recent_match(&id->e[i], &w, from_ts, to_ts, &m[nm]))
				nm++;
		/* Events come mostly in time order: then they are sorted. */
		for (i = 1; i < nm; i++)
			if (entry_cmp(&m[i - 1], &m[i]) > 0)
				break;
		if (i < nm)
			qsort(m, nm, sizeof(*m), entry_cmp);
	}
	ret = index_walk(t, kind, h, id, &w, from_ts, to_ts, newest_first, m,
	    nm, cb, arg);
	if (m != mbuf)
		free(m);
	return (ret);
}

struct scan_stop {
	store_entry_cb	 cb;
	void		*arg;
	bool		 stopped;
};

static int
scan_stop_cb(void *arg, const struct store_entry *e)
{
	struct scan_stop	*s = arg;

	if (s->cb(s->arg, e) == 0)
		return (0);
	s->stopped = true;
	return (1);
}

int
store_scan_referred(struct store_txn *t, const struct rg_hash *acct,
    int64_t to_ts, uint64_t max_seq, store_entry_cb cb, void *arg)
{
	struct scan_stop	 s = { cb, arg, false };
	uint64_t		 from = t->st->referee_from;

	if (store_scan(t, IDX_REFEREE, acct, EV_MASK(EV_REFERRAL),
	    ROLE_REFEREE, INT64_MIN, to_ts, max_seq, true, scan_stop_cb,
	    &s) != 0)
		return (-1);
	if (s.stopped || from <= 1)
		return (0);
	/* Referrals stored before the kind existed: the slow way. */
	return (store_scan(t, ENT_ACCOUNT, acct, EV_MASK(EV_REFERRAL),
	    ROLE_REFEREE, INT64_MIN, to_ts, max_seq != 0 && max_seq < from ?
	    max_seq : from - 1, true, cb, arg));
}

struct count_arg {
	uint64_t	n;
	uint64_t	limit;
};

static int
count_cb(void *arg, const struct store_entry *e)
{
	struct count_arg	*a = arg;

	a->n++;
	return (a->limit != 0 && a->n >= a->limit);
}

/* Counting needs no order: the recent tier first, then LMDB's rest. */
int64_t
store_count(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    uint32_t type_mask, uint32_t role_mask, int64_t from_ts, int64_t to_ts,
    uint64_t max_seq, uint64_t limit)
{
	struct iwalk		 w;
	const struct memtier_ident	*id;
	struct count_arg	 a = { 0, limit };
	struct store_entry	 e;
	uint32_t		 i;

	if (iwalk_init(t, &w, type_mask, role_mask, max_seq) != 0)
		return (-1);
	if (from_ts > to_ts)
		return (0);
	if ((id = memtier_index_get(t->st->mt, kind, h)) != NULL)
		for (i = 0; i < id->n; i++)
			if (recent_match(&id->e[i], &w, from_ts, to_ts, &e) &&
			    ++a.n == limit)
				return ((int64_t)a.n);
	if (index_walk(t, kind, h, id, &w, from_ts, to_ts, false, NULL, 0,
	    count_cb, &a) != 0)
		return (-1);
	return ((int64_t)a.n);
}

static int
first_cb(void *arg, const struct store_entry *e)
{
	*(struct store_entry *)arg = *e;
	return (1);
}

/*
 * The recent tier's oldest entry (a pass, no sort: its entries are in
 * seq order), then LMDB's first entry before it, if any.
 */
int
store_first(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    int64_t to_ts, uint64_t max_seq, struct store_entry *out)
{
	struct iwalk		 w;
	const struct memtier_ident	*id;
	struct store_entry	 e, best;
	uint32_t		 i;

	if (iwalk_init(t, &w, EV_MASK_ANY, ROLE_ANY, max_seq) != 0)
		return (-1);
	best.seq = 0;
	if ((id = memtier_index_get(t->st->mt, kind, h)) != NULL)
		for (i = 0; i < id->n; i++)
			if (recent_match(&id->e[i], &w, INT64_MIN, to_ts, &e) &&
			    (best.seq == 0 || entry_cmp(&e, &best) < 0))
				best = e;
	e.seq = 0;
	if (index_walk(t, kind, h, id, &w, INT64_MIN, best.seq != 0 ? best.ts :
	    to_ts, false, NULL, 0, first_cb, &e) != 0)
		return (-1);
	if (e.seq != 0 && (best.seq == 0 || entry_cmp(&e, &best) < 0))
		best = e;
	if (best.seq == 0)
		return (1);
	*out = best;
	return (0);
}
