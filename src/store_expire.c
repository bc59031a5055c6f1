/*
 * store_expire.c: retention (store.h: store_expire): the oldest events
 * with their verdict records, links not seen since, and the sweep.
 * Deleting the oldest events moves the floor past them
 * (store_index_floor()): their index entries and verdict ids no longer
 * count from that commit on, and the sweep removes them later in key
 * order, page after page, instead of one random page per entry while
 * the events go.
 */
#include "config.h"

#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* Delete one event's verdict record, then the event. */
static int
expire_event(struct store_txn *t, MDB_val *seqkey, const struct rg_event *ev)
{
	/* The verdict goes with its event. */
	if (ev->idlen > 0 &&
	    store_verdict_del(t, ev->id, ev->idlen, ev->seq) != 0)
		return (-1);
	/*
	 * The newest event going leaves no event to tell the last seq at the
	 * next open (seqs must never be reused; flush marks point at them):
	 * keep it in meta.
	 */
	if (ev->seq == t->next_seq) {
		uint8_t	buf[8];

		be_put(buf, ev->seq, 8);
		if (store_meta_put(t, "seq_floor", buf, sizeof(buf)) != 0)
			return (-1);
	}
	return (store_db_del(&t->db, t->st->events, seqkey, NULL,
	    "events del"));
}

/*
 * Is v, an index entry or a verdict id's seq, of an event below the
 * floor the sweep's cycle removes?
 */
static bool
sweep_stale(const struct store_sweep *sw, const MDB_val *v)
{
	struct store_entry	e;

	if (v->mv_size == 8)
		return (be_get(v->mv_data, 8) < sw->cycle);
	if (v->mv_size != INDEX_VAL_LEN)
		return (false);
	store_index_val_decode(v, &e);
	return (e.seq < sw->cycle);
}

/*
 * A sweep cycle begins once the events deleted since the last one are
 * at least 1/SWEEP_SHARE of those kept (or none is kept): often enough
 * that what they left takes little room, seldom enough that the store
 * is walked about once a day of deleted events when a month is kept.
 */
#define SWEEP_SHARE	32

/* Begin a cycle below floor if one is due (or forced, if any waits). */
static bool
sweep_begin(struct store_txn *t, uint64_t floor, bool force)
{
	struct store_sweep	*sw = &t->sweep;
	uint64_t		 kept;

	kept = t->next_seq >= floor ? t->next_seq - floor + 1 : 0;
	if (floor <= sw->swept ||
	    (!force && (floor - sw->swept) * SWEEP_SHARE < kept))
		return (false);
	sw->on = true;
	sw->cycle = floor;
	sw->keylen = 0;
	sw->ids = false;
	return (true);
}

/*
 * Meta "sweep": swept(8) on(1) ids(1) cycle seq(8) keylen(1) key, kept
 * by every pass that moves it.
 */
#define SWEEP_REC_HEAD	19

int
store_sweep_save(struct store_db_txn *x, MDB_dbi meta,
    const struct store_sweep *sw)
{
	uint8_t	buf[SWEEP_REC_HEAD + SWEEP_KEY_MAX];
	MDB_val	k = store_db_val("sweep", 5), v;

	be_put(buf, sw->swept, 8);
	buf[8] = sw->on;
	buf[9] = sw->ids;
	be_put(buf + 10, sw->cycle, 8);
	buf[18] = (uint8_t)sw->keylen;
	memcpy(buf + SWEEP_REC_HEAD, sw->key, sw->keylen);
	v = store_db_val(buf, SWEEP_REC_HEAD + sw->keylen);
	return (store_db_put(x, meta, &k, &v, 0, "write sweep"));
}

int
store_sweep_load(struct store_db_txn *x, MDB_dbi meta, struct store_sweep *sw)
{
	MDB_val		 k = store_db_val("sweep", 5), v;
	const uint8_t	*p;
	int		 rc;

	if ((rc = store_db_get(x, meta, &k, &v, "read sweep")) != 0)
		return (rc);
	p = v.mv_data;
	if (v.mv_size < SWEEP_REC_HEAD || p[18] > SWEEP_KEY_MAX ||
	    v.mv_size != SWEEP_REC_HEAD + (size_t)p[18])
		return (2);
	memset(sw, 0, sizeof(*sw));
	sw->swept = be_get(p, 8);
	sw->on = p[8] != 0;
	sw->ids = p[9] != 0;
	sw->cycle = be_get(p + 10, 8);
	sw->keylen = p[18];
	memcpy(sw->key, p + SWEEP_REC_HEAD, sw->keylen);
	return (0);
}

/*
 * One database's part of a cycle, from the sweep's key on: up to max
 * keys looked at and max entries removed (*n counts them). What deleted
 * events left comes first among a key's entries (an identity's are in
 * time order): the sweep removes them until one that stays. 1 past the
 * last key, 0 short of it (the sweep's key: where the next pass goes
 * on), or -1.
 */
static int
sweep_db(struct store_txn *t, MDB_dbi dbi, size_t max, int64_t *n)
{
	struct store_sweep	*sw = &t->sweep;
	MDB_cursor		*c;
	MDB_val			 k, v;
	size_t			 seen = 0;
	bool			 moved;
	int			 rc;

	if ((c = store_db_cursor(&t->db, dbi)) == NULL)
		return (-1);
	k = store_db_val(sw->key, sw->keylen);
	rc = mdb_cursor_get(c, &k, &v, sw->keylen == 0 ? MDB_FIRST :
	    MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size == 0 || k.mv_size > sizeof(sw->key)) {
			/* Not one refguard wrote (damage): step over it. */
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP);
			continue;
		}
		/* Here is where the next pass goes on. */
		memcpy(sw->key, k.mv_data, k.mv_size);
		sw->keylen = k.mv_size;
		if (seen++ == max)
			break;
		moved = false;
		while (rc == 0 && (size_t)*n < max && sweep_stale(sw, &v)) {
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				break;
			(*n)++;
			/* The key's next entry, or the next key's. */
			k = store_db_val(sw->key, sw->keylen);
			rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			if (rc == 0 && (k.mv_size != sw->keylen ||
			    memcmp(k.mv_data, sw->key, sw->keylen) != 0)) {
				moved = true;
				break;
			}
		}
		if ((size_t)*n >= max && rc == 0 && !moved)
			break;		/* the next pass goes on at this key */
		if (rc == 0 && !moved)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP);
	}
	if (store_db_cursor_end(&t->db, c, rc, "sweep") != 0)
		return (-1);
	return (rc == MDB_NOTFOUND ? 1 : 0);
}

/*
 * A pass of the sweep: what events below the floor left in the index,
 * then in the verdict ids, from where the last pass stopped, up to max
 * keys in the transaction. A cycle begins (when due, or when force says
 * so) once the floor has passed what the last one removed below, and
 * ends past the last verdict id.
 */
static int64_t
sweep_pass(struct store_txn *t, size_t max, bool force)
{
	struct store		*st = t->st;
	struct store_sweep	*sw = &t->sweep;
	uint64_t		 floor;
	int64_t			 n = 0;
	int			 rc;

	if (store_index_floor(t, &floor) != 0)
		return (-1);
	if (!t->swept) {
		t->sweep = st->sweep;
		t->swept = true;
	}
	/* One pass's worth a transaction, however often it is called. */
	if (t->sweep_keys >= max)
		return (0);
	max -= t->sweep_keys;
	if (!sw->on && !sweep_begin(t, floor, force))
		return (0);
	t->sweep_keys += max;
	if ((rc = sweep_db(t, sw->ids ? st->vids : st->index, max, &n)) < 0)
		return (-1);
	sw->removed += (uint64_t)n;
	if (rc == 1 && !sw->ids && st->have_vids) {
		sw->ids = true;		/* on to the verdict ids */
		sw->keylen = 0;
	} else if (rc == 1) {
		/* Past the last key: none is left below the cycle's floor. */
		sw->on = false;
		sw->swept = sw->cycle;
		/* Retention may have moved the floor since: due again? */
		sweep_begin(t, floor, false);
	}
	return (store_sweep_save(&t->db, st->meta, sw) != 0 ? -1 : n);
}

/* Links not seen since before_ts, resuming where the last pass stopped. */
static int64_t
expire_links(struct store_txn *t, int64_t before_ts, size_t max)
{
	struct store	*st = t->st;
	struct store_link l;
	MDB_cursor	*c;
	MDB_val		 k, v;
	size_t		 seen = 0;
	int64_t		 n = 0;
	int		 rc;

	if ((c = store_db_cursor(&t->db, st->links)) == NULL)
		return (-1);
	if (st->link_cursor_set)
		rc = store_link_seek(c, st->link_cursor, &k, &v);
	else
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (; rc == 0 && seen < max; seen++) {
		if (k.mv_size == RG_HASH_LEN && v.mv_size == LINK_DUP_LEN) {
			store_link_decode(&v, &l);
			memcpy(st->link_cursor, k.mv_data, RG_HASH_LEN);
			memcpy(st->link_cursor + RG_HASH_LEN, v.mv_data,
			    LINK_ID_LEN);
			st->link_cursor_set = true;
			if (l.last_ts < before_ts) {
				if ((rc = mdb_cursor_del(c, 0)) != 0)
					break;
				n++;
				/* On from the place of the link deleted. */
				rc = store_link_seek(c, st->link_cursor, &k,
				    &v);
				continue;
			}
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND)
		st->link_cursor_set = false;	/* wrap around next time */
	if (store_db_cursor_end(&t->db, c, rc, "links expire") != 0)
		return (-1);
	return (n);
}

/* The seq up to which every event's index entries are in LMDB. */
static uint64_t
in_lmdb_seq(const struct store_txn *t)
{
	uint64_t	m, low = UINT64_MAX;
	unsigned	r;

	for (r = 0; r < MT_RANGES; r++) {
		m = t->fl[r] ? t->fl_mark[r] : t->st->flushed[r];
		if (m < low)
			low = m;
	}
	return (low);
}

int64_t
store_expire(struct store_txn *t, int64_t before_ts, size_t max)
{
	struct rg_event	 ev;
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		 seqkey[8];
	uint64_t	 in_lmdb = in_lmdb_seq(t);
	uint64_t	 left = UINT64_MAX;	/* the first event kept */
	int64_t		 n = 0;
	unsigned	 r;
	int		 rc = 0;

	if ((c = store_db_cursor(&t->db, t->st->events)) == NULL)
		return (-1);
	/* Events in sequence order; stop at the first one still young. */
	while ((size_t)n < max &&
	    (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size != 8 || rgev_decode(v.mv_data, v.mv_size,
		    &ev) != 0) {
			log_warn("store: dropping corrupt event record");
			/* The newest going: seqs must never be reused. */
			if (k.mv_size == 8 && be_get(k.mv_data, 8) ==
			    t->next_seq) {
				memcpy(seqkey, k.mv_data, 8);
				if (store_meta_put(t, "seq_floor", seqkey,
				    8) != 0)
					return (-1);
			}
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				break;
			__atomic_fetch_add(&t->st->epoch, 1, __ATOMIC_RELEASE);
			t->floor = 0;
			continue;
		}
		ev.seq = be_get(k.mv_data, 8);
		if (ev.ts >= before_ts) {
			left = ev.seq;
			break;
		}
		memcpy(seqkey, k.mv_data, 8);
		mdb_cursor_close(c);
		c = NULL;
		if (ev.seq > in_lmdb) {
			/*
			 * Its index entries may still be in the recent tier,
			 * where the sweep would not find them: rare (events
			 * past the retention horizon are refused), so flush
			 * every range, then go on.
			 */
			for (r = 0; r < MT_RANGES && t->db.ret == 0; r++)
				if (!t->fl[r])
					store_tier_flush_range(t, r);
			if (t->db.ret != 0)
				return (-1);
			if (ev.seq > (in_lmdb = in_lmdb_seq(t)))
				break;		/* map_max: next pass */
		}
		k = store_db_val(seqkey, 8);
		/* Before the delete: a reader may keep the event by seq. */
		if (n == 0)
			__atomic_fetch_add(&t->st->epoch, 1, __ATOMIC_RELEASE);
		if (expire_event(t, &k, &ev) != 0)
			return (-1);
		/* What it left no longer counts (store_index_floor()). */
		t->floor = 0;
		n++;
		if ((c = store_db_cursor(&t->db, t->st->events)) == NULL)
			return (-1);
	}
	if (store_db_cursor_end(&t->db, c, rc, "expire") != 0)
		return (-1);
	if ((size_t)n < max && rc == MDB_NOTFOUND)
		left = 0;		/* none */
	if (n > 0 && left != UINT64_MAX && store_pairs_kept(t, left) != 0)
		return (-1);
	if (sweep_pass(t, max, false) < 0 ||
	    expire_links(t, before_ts, max) < 0)
		return (-1);
	return (n);
}

int64_t
store_sweep(struct store_txn *t, size_t max)
{
	return (sweep_pass(t, max, true));
}
