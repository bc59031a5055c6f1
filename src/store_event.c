/*
 * store_event.c: the events, the store's durable log (store.h): append,
 * read, scan both ways; and the identities each one carries, which its
 * index entries are (store_int.h).
 */
#include "config.h"

#include <string.h>

#include <lmdb.h>

#include "store.h"
#include "store_int.h"
#include "util.h"

/* The campaign's key comes from rgev_campaign_key(), the pairs' from st. */
size_t
store_event_ents(const struct store *st, const struct rg_event *ev,
    struct store_ent *out, struct store_ent_keys *keys)
{
	size_t		n = 0, i, j;
	unsigned	k;
	uint8_t		role;

	for (i = 0; i < ev->nparties; i++) {
		const struct party *p = &ev->party[i];

		if (ev->type != EV_REFERRAL)
			role = ROLE_SUBJECT;
		else
			role = i == PARTY_REFERRER ? ROLE_REFERRER : ROLE_REFEREE;
		for (k = 1; k < ENT__MAX; k++) {
			if (!PARTY_HAS(p, k))
				continue;
			for (j = 0; j < n; j++)
				if (out[j].kind == k &&
				    memcmp(out[j].h->b, p->h[k].b,
				    RG_HASH_LEN) == 0)
					break;
			if (j < n) {
				out[j].roles |= role;
				continue;
			}
			out[n].kind = (uint8_t)k;
			out[n].roles = role;
			out[n].h = &p->h[k];
			n++;
		}
	}
	if (ev->has_edge) {
		out[n].kind = ENT_EDGE;
		out[n].roles = ROLE_EVENT;
		out[n].h = &ev->edge;
		n++;
	}
	if (rgev_campaign_key(ev, &keys->campaign)) {
		out[n].kind = ENT_CAMPAIGN;
		out[n].roles = ROLE_EVENT;
		out[n].h = &keys->campaign;
		n++;
	}
	/* The referee's account again, under a kind of its own. */
	if (ev->type == EV_REFERRAL && ev->nparties > PARTY_REFEREE &&
	    PARTY_HAS(&ev->party[PARTY_REFEREE], ENT_ACCOUNT)) {
		out[n].kind = IDX_REFEREE;
		out[n].roles = ROLE_REFEREE;
		out[n].h = &ev->party[PARTY_REFEREE].h[ENT_ACCOUNT];
		n++;
	}
	return (n + store_pair_ents(st, ev, out + n, keys->pair));
}

int
store_put_event(struct store_txn *t, struct rg_event *ev)
{
	uint8_t		rec[EVENT_REC_MAX], seqkey[8];
	MDB_val		k, v;
	size_t		len;

	if (t->db.ret != 0)
		return (-1);
	/* Unreachable from a request (req.c bounds times to TIME_MAX_MS). */
	if (!store_ent_fits(ev->ts, t->next_seq + 1, ev->type))
		return (store_db_failf(&t->db, "event time %lld, seq %llu or "
		    "type %u is past what the index holds (times 0 to 2^48 "
		    "ms, seqs below 2^48)", (long long)ev->ts,
		    (unsigned long long)(t->next_seq + 1), (unsigned)ev->type));
	ev->seq = t->next_seq + 1;
	len = rgev_encode(ev, rec);
	be_put(seqkey, ev->seq, 8);
	k = store_db_val(seqkey, 8);
	v = store_db_val(rec, len);
	if (store_db_put(&t->db, t->st->events, &k, &v, MDB_APPEND,
	    "events put") != 0)
		return (-1);
	if (store_tier_derive(t, ev) != 0)
		return (-1);
	t->next_seq = ev->seq;
	return (0);
}

int
store_get_event(struct store_txn *t, uint64_t seq, struct rg_event *ev)
{
	const uint8_t	*rec;
	size_t		 len;
	uint8_t		 key[8];
	MDB_val		 k, v;
	int		 rc;

	if (t->db.ret != 0)
		return (-1);
	if (store_view_event(t->view, seq, &rec, &len) == 0) {
		v.mv_data = (void *)(uintptr_t)rec;
		v.mv_size = len;
	} else {
		be_put(key, seq, 8);
		k = store_db_val(key, 8);
		if ((rc = store_db_get(&t->db, t->st->events, &k, &v,
		    "events get")) != 0)
			return (rc);
	}
	if (rgev_decode(v.mv_data, v.mv_size, ev) != 0)
		return (store_db_failf(&t->db, "event %llu: corrupt record",
		    (unsigned long long)seq));
	ev->seq = seq;
	return (0);
}

/*
 * The events from from_seq up to to_seq (0: the last), or back: from
 * from_seq (0: the last) down to to_seq.
 */
static int
scan_events(struct store_txn *t, uint64_t from_seq, uint64_t to_seq,
    bool back, store_event_cb cb, void *arg)
{
	struct rg_event	 ev;
	uint8_t		 key[8];
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint64_t	 seq;
	int		 rc, ret = 0;

	if ((c = store_db_cursor(&t->db, t->st->events)) == NULL)
		return (-1);
	be_put(key, from_seq, 8);
	k = store_db_val(key, 8);
	if (!back)
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	else if (from_seq == 0 ||
	    (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	else if (rc == 0 && k.mv_size == 8 && be_get(k.mv_data, 8) > from_seq)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, back ? MDB_PREV :
	    MDB_NEXT)) {
		if (k.mv_size != 8)
			continue;
		seq = be_get(k.mv_data, 8);
		if (back ? seq < to_seq : to_seq != 0 && seq > to_seq)
			break;
		if (rgev_decode(v.mv_data, v.mv_size, &ev) != 0) {
			ret = store_db_failf(&t->db, "event %llu: corrupt "
			    "record", (unsigned long long)seq);
			break;
		}
		ev.seq = seq;
		if (cb(arg, &ev) != 0)
			break;
		if (t->db.ret != 0) {	/* cb's queries failed */
			ret = -1;
			break;
		}
	}
	if (ret != 0)
		rc = 0;
	if (store_db_cursor_end(&t->db, c, rc, "events scan") != 0)
		return (-1);
	return (ret);
}

int
store_scan_events(struct store_txn *t, uint64_t from_seq, uint64_t to_seq,
    store_event_cb cb, void *arg)
{
	return (scan_events(t, from_seq, to_seq, false, cb, arg));
}

int
store_scan_events_back(struct store_txn *t, uint64_t from_seq,
    uint64_t to_seq, store_event_cb cb, void *arg)
{
	return (scan_events(t, from_seq, to_seq, true, cb, arg));
}
