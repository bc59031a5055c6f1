/*
 * store_queue.c: the review queue and its audit log (store_aux.h:
 * store_queue_*, store_queuelog_*): items, their indexes by state and
 * time and by state and score, the count of each state.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "rec.h"
#include "store.h"
#include "store_aux.h"
#include "store_int.h"
#include "util.h"

/*
 *   'I' item(8) -> version(1)=1 item(8) id(str8) state(1) action(1)
 *       score(4) created(8) origin(1) prev_action(1) campaign(str8)
 *       has_reward(1) amount(8: IEEE double) currency(3) nreasons(1)
 *       reasons(str8 each) assignee(str8) claimed(8) decision(1)
 *       decided_by(str8) decided(8) feedback(8)
 *   'T' state(1) created(8) item(8) -> ""
 *   'S' state(1) score(4: + 2^31) item(8) -> ""
 * Times are ms + 2^63 so that they sort as unsigned (store.h).
 */
#define QKEY_LEN	(1 + 1 + 8 + 8)
#define QITEM_KEY_LEN	9
#define QREC_VERSION	1

static const char *const queue_state_names[QUEUE__NSTATES] = {
	"open", "claimed", "decided",
};
static const char *const queue_decision_names[] = {
	"none", "approve", "void",
};

const char *
store_queue_state_name(int state)
{
	return (state >= 0 && state < QUEUE__NSTATES ?
	    queue_state_names[state] : "?");
}

int
store_queue_state_from_name(const char *s)
{
	int	i;

	for (i = 0; i < QUEUE__NSTATES; i++)
		if (strcmp(s, queue_state_names[i]) == 0)
			return (i);
	return (-1);
}

const char *
store_queue_decision_name(int d)
{
	return (d >= 0 && d < (int)nitems(queue_decision_names) ?
	    queue_decision_names[d] : "?");
}

int
store_queue_decision_from_name(const char *s)
{
	if (strcmp(s, "approve") == 0)
		return (QUEUE_APPROVE);
	if (strcmp(s, "void") == 0)
		return (QUEUE_VOID);
	return (-1);
}

static uint64_t
qtime(int64_t ms)
{
	return ((uint64_t)ms ^ (1ULL << 63));
}

static void
qitem_key(uint8_t *key, uint64_t item)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, QITEM_KEY_LEN);
	rec_put_u8(&w, 'I');
	rec_put_u64(&w, item);
}

/* The index key of it: by created ('T') or by score ('S'). */
static size_t
qidx_key(uint8_t *key, bool by_score, uint8_t state, int64_t k,
    uint64_t item)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, QKEY_LEN);
	rec_put_u8(&w, by_score ? 'S' : 'T');
	rec_put_u8(&w, state);
	if (by_score)
		rec_put_u32(&w, (uint32_t)((int32_t)k) ^ 0x80000000u);
	else
		rec_put_u64(&w, qtime(k));
	rec_put_u64(&w, item);
	return (w.len);
}

static void
qidx_decode(const uint8_t *key, size_t len, int64_t *k, uint64_t *item)
{
	struct rec_r	r;

	rec_r_init(&r, key + 2, len - 2);
	if (key[0] == 'S')
		*k = (int32_t)(rec_get_u32(&r) ^ 0x80000000u);
	else
		*k = (int64_t)(rec_get_u64(&r) ^ (1ULL << 63));
	*item = rec_get_u64(&r);
}

static void
qitem_encode(struct rec_w *w, const struct store_queue_item *it)
{
	uint64_t	bits;
	uint8_t		i;

	rec_put_u8(w, QREC_VERSION);
	rec_put_u64(w, it->item);
	rec_put_str8(w, it->id, RG_ID_MAX);
	rec_put_u8(w, it->state);
	rec_put_u8(w, it->action);
	rec_put_u32(w, (uint32_t)it->score);
	rec_put_u64(w, (uint64_t)it->created);
	rec_put_u8(w, it->origin);
	rec_put_u8(w, it->prev_action);
	rec_put_str8(w, it->campaign, QUEUE_CAMPAIGN_MAX);
	rec_put_u8(w, it->has_reward);
	memcpy(&bits, &it->reward_amount, 8);
	rec_put_u64(w, bits);
	rec_put_bytes(w, it->reward_currency, 3);
	rec_put_u8(w, it->nreasons);
	for (i = 0; i < it->nreasons && i < QUEUE_REASONS; i++)
		rec_put_str8(w, it->reasons[i], QUEUE_REASON_MAX);
	rec_put_str8(w, it->assignee, QUEUE_BY_MAX);
	rec_put_u64(w, (uint64_t)it->claimed);
	rec_put_u8(w, it->decision);
	rec_put_str8(w, it->decided_by, QUEUE_BY_MAX);
	rec_put_u64(w, (uint64_t)it->decided);
	rec_put_u64(w, it->feedback);
}

static int
qitem_decode(const void *p, size_t len, struct store_queue_item *it)
{
	struct rec_r	r;
	uint64_t	bits;
	uint8_t		i;

	memset(it, 0, sizeof(*it));
	rec_r_init(&r, p, len);
	if (rec_get_u8(&r) != QREC_VERSION)
		return (-1);
	it->item = rec_get_u64(&r);
	rec_get_str8(&r, it->id, sizeof(it->id));
	it->state = rec_get_u8(&r);
	it->action = rec_get_u8(&r);
	it->score = (int32_t)rec_get_u32(&r);
	it->created = (int64_t)rec_get_u64(&r);
	it->origin = rec_get_u8(&r);
	it->prev_action = rec_get_u8(&r);
	rec_get_str8(&r, it->campaign, sizeof(it->campaign));
	it->has_reward = rec_get_u8(&r) != 0;
	bits = rec_get_u64(&r);
	memcpy(&it->reward_amount, &bits, 8);
	rec_get_bytes(&r, it->reward_currency, 3);
	it->nreasons = rec_get_u8(&r);
	if (it->nreasons > QUEUE_REASONS || it->state >= QUEUE__NSTATES)
		rec_r_fail(&r);
	for (i = 0; i < it->nreasons && i < QUEUE_REASONS; i++)
		rec_get_str8(&r, it->reasons[i], sizeof(it->reasons[i]));
	rec_get_str8(&r, it->assignee, sizeof(it->assignee));
	it->claimed = (int64_t)rec_get_u64(&r);
	it->decision = rec_get_u8(&r);
	rec_get_str8(&r, it->decided_by, sizeof(it->decided_by));
	it->decided = (int64_t)rec_get_u64(&r);
	it->feedback = rec_get_u64(&r);
	return (rec_r_end(&r));
}

/* The queue databases for a write, or NULL (recorded in t). */
static struct store_aux *
queue_for_write(struct store_txn *t)
{
	struct store_aux	*aux = t->st->aux;

	if (!aux->have_queue) {
		store_db_fail(&t->db, EACCES, "queue databases");
		return (NULL);
	}
	return (aux);
}

int
store_queue_get(struct store_txn *t, uint64_t item,
    struct store_queue_item *out)
{
	struct store_aux	*aux;
	uint8_t			 key[QITEM_KEY_LEN];
	MDB_val			 k, d;
	int			 rc;

	if (!store_aux_txn(t, &aux) || !aux->have_queue)
		return (t->db.ret != 0 ? -1 : 1);
	qitem_key(key, item);
	k = store_db_val(key, sizeof(key));
	if ((rc = store_db_get(&t->db, aux->queue, &k, &d, "queue get")) != 0)
		return (rc);
	if (qitem_decode(d.mv_data, d.mv_size, out) != 0)
		return (store_db_fail(&t->db, EINVAL, "queue item malformed"));
	return (0);
}

/* Add (add true) or remove the two index entries of it. */
/*
 * The number of items in each state, 'N' state(1) -> count(8), kept in
 * the transaction that moves an item, so that stats reads three keys
 * instead of walking the queue.
 */
static void
qcount_key(uint8_t *key, uint8_t state)
{
	key[0] = 'N';
	key[1] = state;
}

static uint64_t
qcount_get(struct store_db_txn *x, MDB_dbi dbi, uint8_t state)
{
	uint8_t	key[2];
	MDB_val	k, d;

	qcount_key(key, state);
	k = store_db_val(key, sizeof(key));
	if (store_db_get(x, dbi, &k, &d, "queue count") != 0 ||
	    d.mv_size != 8)
		return (0);
	return (be_get(d.mv_data, 8));
}

void
store_queue_stat(struct store_db_txn *x, const struct store_aux *aux,
    struct store_stat *out)
{
	out->queue_open = qcount_get(x, aux->queue, QUEUE_OPEN);
	out->queue_claimed = qcount_get(x, aux->queue, QUEUE_CLAIMED);
	out->queue_decided = qcount_get(x, aux->queue, QUEUE_DECIDED);
}

static int
qcount_add(struct store_txn *t, struct store_aux *aux, uint8_t state,
    int delta)
{
	uint8_t		key[2], num[8];
	uint64_t	n = qcount_get(&t->db, aux->queue, state);
	MDB_val		k, d;

	n = delta < 0 ? (n > 0 ? n - 1 : 0) : n + 1;
	qcount_key(key, state);
	be_put(num, n, 8);
	k = store_db_val(key, sizeof(key));
	d = store_db_val(num, sizeof(num));
	return (store_db_put(&t->db, aux->queue, &k, &d, 0, "queue count"));
}

/* An item's two index entries (by time, by score): add or delete them. */
static int
qidx_keys(struct store_txn *t, struct store_aux *aux,
    const struct store_queue_item *it, bool add)
{
	uint8_t	key[QKEY_LEN];
	MDB_val	k, d = store_db_val("", 0);
	int	i;

	for (i = 0; i < 2; i++) {
		k = store_db_val(key, qidx_key(key, i == 1, it->state, i == 1 ?
		    it->score : it->created, it->item));
		if (add ? store_db_put(&t->db, aux->queue, &k, &d, 0, "queue index") :
		    store_db_del(&t->db, aux->queue, &k, NULL, "queue index"))
			return (-1);
	}
	return (0);
}

/* The index entries and the count of its state. */
static int
qidx_update(struct store_txn *t, struct store_aux *aux,
    const struct store_queue_item *it, bool add)
{
	if (qidx_keys(t, aux, it, add) != 0)
		return (-1);
	return (qcount_add(t, aux, it->state, add ? 1 : -1));
}

int
store_queue_put(struct store_txn *t, const struct store_queue_item *it,
    const struct store_queue_item *old)
{
	struct store_aux	*aux;
	uint8_t			 key[QITEM_KEY_LEN];
	struct rec_w		 w;
	MDB_val			 k, d;
	bool			 moved, recount;
	int			 rc;

	if ((aux = queue_for_write(t)) == NULL)
		return (-1);
	/* The index keys hold the state, the time and the score. */
	moved = old == NULL || old->state != it->state ||
	    old->created != it->created || old->score != it->score;
	recount = old == NULL || old->state != it->state;
	if (old != NULL && moved && (qidx_keys(t, aux, old, false) != 0 ||
	    (recount && qcount_add(t, aux, old->state, -1) != 0)))
		return (-1);
	rec_w_init(&w, 256);
	qitem_encode(&w, it);
	qitem_key(key, it->item);
	k = store_db_val(key, sizeof(key));
	d = store_db_val(w.buf, w.len);
	rc = store_db_put(&t->db, aux->queue, &k, &d, old == NULL ? MDB_NOOVERWRITE : 0,
	    old == NULL ? "queue put (a new item that exists)" : "queue put");
	rec_w_free(&w);
	if (rc != 0)
		return (-1);
	if (moved && (qidx_keys(t, aux, it, true) != 0 ||
	    (recount && qcount_add(t, aux, it->state, 1) != 0)))
		return (-1);
	return (0);
}

/* LMDB's order: bytes, then the shorter first. */
static int
keycmp(const MDB_val *k, const uint8_t *b, size_t blen)
{
	size_t	n = k->mv_size < blen ? k->mv_size : blen;
	int	c = memcmp(k->mv_data, b, n);

	if (c != 0)
		return (c);
	return (k->mv_size < blen ? -1 : k->mv_size > blen);
}

int
store_queue_scan(struct store_txn *t, int state, bool by_score,
    const struct store_queue_pos *after, int64_t from, int64_t to,
    store_queue_cb cb, void *arg)
{
	struct store_aux	*aux;
	struct store_queue_item	 it;
	uint8_t			 start[QKEY_LEN];
	MDB_cursor		*c;
	MDB_val			 k, d;
	int64_t			 key;
	uint64_t		 item;
	size_t			 slen;
	int			 rc, r;

	if (!store_aux_txn(t, &aux) || !aux->have_queue)
		return (t->db.ret != 0 ? -1 : 0);
	if (from > to)
		return (0);
	/* Walk backwards from just after the highest key wanted. */
	if (after != NULL && after->key <= to)
		slen = qidx_key(start, by_score, (uint8_t)state, after->key,
		    after->item);
	else
		slen = qidx_key(start, by_score, (uint8_t)state, to,
		    UINT64_MAX);
	if ((c = store_db_cursor(&t->db, aux->queue)) == NULL)
		return (-1);
	k = store_db_val(start, slen);
	rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
	/* SET_RANGE lands on the first key >= start: step back past it. */
	while (rc == 0 && keycmp(&k, start, slen) >= 0)
		rc = mdb_cursor_get(c, &k, &d, MDB_PREV);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_PREV)) {
		if (k.mv_size != slen || memcmp(k.mv_data, start, 2) != 0)
			break;		/* another state or index */
		qidx_decode(k.mv_data, k.mv_size, &key, &item);
		if (key < from)
			break;
		if ((r = store_queue_get(t, item, &it)) < 0) {
			mdb_cursor_close(c);
			return (-1);
		}
		if (r == 1)
			continue;
		if (cb(arg, &it) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "queue scan"));
	return (0);
}

int
store_queue_del(struct store_txn *t, uint64_t item)
{
	struct store_aux	*aux = t->st->aux;
	struct store_queue_item	 it;
	uint8_t			 key[QITEM_KEY_LEN];
	MDB_cursor		*c;
	MDB_val			 k, d;
	int			 rc;

	if (!aux->have_queue)
		return (0);
	if ((rc = store_queue_get(t, item, &it)) != 0)
		return (rc < 0 ? -1 : 0);
	qitem_key(key, item);
	k = store_db_val(key, sizeof(key));
	if (qidx_update(t, aux, &it, false) != 0 ||
	    store_db_del(&t->db, aux->queue, &k, NULL, "queue del") != 0)
		return (-1);
	if ((c = store_db_cursor(&t->db, aux->queuelog)) == NULL)
		return (-1);
	be_put(key, item, 8);
	k = store_db_val(key, 8);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE)) {
		if (k.mv_size != 12 || be_get(k.mv_data, 8) != item)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		k = store_db_val(key, 8);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "queuelog del"));
	return (0);
}

/* queuelog: item(8) n(4); the next n is one past the item's last. */
int
store_queuelog_put(struct store_txn *t, uint64_t item, const char *rec,
    size_t len)
{
	struct store_aux	*aux;
	MDB_cursor		*c;
	MDB_val			 k, d;
	uint8_t			 key[12];
	struct rec_w		 w;
	uint32_t		 n = 1;
	int			 rc;

	if ((aux = queue_for_write(t)) == NULL)
		return (-1);
	if ((c = store_db_cursor(&t->db, aux->queuelog)) == NULL)
		return (-1);
	rec_w_fixed(&w, key, sizeof(key));
	rec_put_u64(&w, item);
	rec_put_u32(&w, UINT32_MAX);
	k = store_db_val(key, sizeof(key));
	rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
	rc = rc == 0 ? mdb_cursor_get(c, &k, &d, MDB_PREV) :
	    rc == MDB_NOTFOUND ? mdb_cursor_get(c, &k, &d, MDB_LAST) : rc;
	mdb_cursor_close(c);
	if (rc == 0 && k.mv_size == 12 && be_get(k.mv_data, 8) == item)
		n = (uint32_t)be_get((const uint8_t *)k.mv_data + 8, 4) + 1;
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "queuelog put"));
	rec_w_fixed(&w, key, sizeof(key));
	rec_put_u64(&w, item);
	rec_put_u32(&w, n);
	k = store_db_val(key, sizeof(key));
	d = store_db_val(rec, len);
	return (store_db_put(&t->db, aux->queuelog, &k, &d, 0, "queuelog put"));
}

int
store_queuelog_scan(struct store_txn *t, uint64_t item, store_rec_cb cb,
    void *arg)
{
	struct store_aux	*aux;
	MDB_cursor		*c;
	MDB_val			 k, d;
	uint8_t			 key[8];
	int			 rc;

	if (!store_aux_txn(t, &aux) || !aux->have_queue)
		return (t->db.ret != 0 ? -1 : 0);
	if ((c = store_db_cursor(&t->db, aux->queuelog)) == NULL)
		return (-1);
	be_put(key, item, 8);
	k = store_db_val(key, sizeof(key));
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size != 12 || be_get(k.mv_data, 8) != item)
			break;
		if (cb(arg, be_get((const uint8_t *)k.mv_data + 8, 4),
		    d.mv_data, d.mv_size) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "queuelog scan"));
	return (0);
}
