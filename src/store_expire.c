/*
 * store_expire.c: retention (store.h: store_expire): the oldest events
 * with their index entries and verdicts, and links not seen since. An
 * event's entries are deleted from LMDB only: one still in the recent
 * tier has its ranges flushed first.
 */
#include "config.h"

#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* Delete one event's index entries and its verdict, then the event. */
static int
expire_event(struct store_txn *t, MDB_val *seqkey, const struct rg_event *ev)
{
	struct store_ent	ents[STORE_EVENT_ENTS_MAX];
	struct store_ent_keys	keys;
	uint8_t			ikey[INDEX_KEY_LEN], ival[INDEX_VAL_LEN];
	size_t			n, i;
	MDB_val			k, v;

	n = store_event_ents(t->st, ev, ents, &keys);
	for (i = 0; i < n; i++) {
		store_index_key(ikey, ents[i].kind, ents[i].h);
		store_index_val(ival, ev->ts, ev->seq, ev->type, ents[i].roles);
		k = store_db_val(ikey, sizeof(ikey));
		v = store_db_val(ival, sizeof(ival));
		if (store_db_del(&t->db, t->st->index, &k, &v,
		    "index del") != 0)
			return (-1);
	}
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
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				break;
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
			 * Its index entries may still be in the recent tier:
			 * rare (events past the retention horizon are
			 * refused), so flush every range, then go on.
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
		n++;
		if ((c = store_db_cursor(&t->db, t->st->events)) == NULL)
			return (-1);
	}
	if (c != NULL)
		mdb_cursor_close(c);
	if ((size_t)n < max && rc == MDB_NOTFOUND)
		left = 0;		/* none */
	if (n > 0 && left != UINT64_MAX && store_pairs_kept(t, left) != 0)
		return (-1);
	if (expire_links(t, before_ts, max) < 0)
		return (-1);
	return (n);
}
