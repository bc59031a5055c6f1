/*
 * store_aux.c: feedback, labels, runtime lists and their log, the review
 * queue, the daily counters; the layout and contract are in store_aux.h.
 * LMDB is reached through the store's transaction (store_db.h), so that
 * an error lands in its first-error slot like the store's own.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#define XXH_STATIC_LINKING_ONLY	/* XXH3_state_t on the stack */
#include <xxhash.h>

#include "store.h"
#include "store_aux.h"
#include "store_int.h"
#include "rec.h"
#include "util.h"

/*
 * Keys and values (rec.h fields):
 *   labels: kind(1) hash(16) label(1) -> seq(8) ts(8) feedback(8)
 *   feedback, listlog: id(8) -> the record (JSON text)
 */
#define LABEL_KEY_LEN	(1 + RG_HASH_LEN + 1)
#define LABEL_VAL_LEN	24

/*
 * Keys and values (rec.h fields; list is the list's name, NUL-ended):
 *   'E' list hash(16) -> the entry (entry_encode())
 *   'M' list kind(1) member(16) entry(16) -> expires(8) seq(8)
 *   'R' list entry(16) kind(1) member(16) -> ""
 *   'X' expires(8) list entry(16) -> ""
 */
#define MEMBER_VAL_LEN	16
#define LKEY_MAX	(1 + 8 + LIST_NAME_MAX + 1 + 1 + 2 * RG_HASH_LEN)
#define ENTRY_FIXED	(RG_HASH_LEN + 1 + 1 + 8 + 8 + 8 + 4 + 1 + 2)

static const char *const label_names[LABEL__MAX] = {
	[LABEL_FRAUD] = "fraud", [LABEL_LEGIT] = "legit",
	[LABEL_CHARGEBACK] = "chargeback", [LABEL_ABUSE] = "abuse",
};

const char *
store_label_name(int label)
{
	return (label > 0 && label < LABEL__MAX ? label_names[label] : NULL);
}

int
store_label_from_name(const char *s)
{
	int	i;

	for (i = 1; i < LABEL__MAX; i++)
		if (strcmp(s, label_names[i]) == 0)
			return (i);
	return (-1);
}

int
store_aux_open(struct store_db_txn *x, struct store_aux **auxp)
{
	/*
	 * The queue's two came later, and daily after them: a store may
	 * have the first four or six.
	 */
	static const char *const names[STORE_AUX_NDBI] = {
		"feedback", "labels", "lists", "listlog", "queue", "queuelog",
		"daily",
	};
	struct store_aux	*aux = xcalloc(1, sizeof(*aux));
	MDB_dbi			*dbi[STORE_AUX_NDBI] = {
		&aux->feedback, &aux->labels, &aux->lists, &aux->listlog,
		&aux->queue, &aux->queuelog, &aux->daily,
	};
	size_t			 i;
	int			 rc;

	*auxp = aux;
	for (i = 0; i < STORE_AUX_NDBI; i++) {
		rc = store_db_dbi(x, names[i], x->write ? MDB_CREATE : 0,
		    dbi[i]);
		if (rc == 1)
			return (0);	/* an older store: nothing to find */
		if (rc != 0)
			return (-1);
		if (i == 3)
			aux->have = true;
		if (i == 5)
			aux->have_queue = true;
	}
	aux->have_daily = true;
	return (0);
}

void
store_aux_free(struct store_aux *aux)
{
	free(aux);
}

/* A read-only old store cannot be written. */
struct store_aux *
store_aux_for_write(struct store_txn *t)
{
	struct store_aux	*aux = t->st->aux;

	if (!aux->have) {
		store_db_fail(&t->db, EACCES, "analyst databases");
		return (NULL);
	}
	return (aux);
}

/* Labels. */

static void
label_key(uint8_t *key, enum ent_kind kind, const struct rg_hash *h,
    int label)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, LABEL_KEY_LEN);
	rec_put_u8(&w, (uint8_t)kind);
	rec_put_bytes(&w, h->b, RG_HASH_LEN);
	rec_put_u8(&w, (uint8_t)label);
}

int
store_label_put(struct store_txn *t, enum ent_kind kind,
    const struct rg_hash *h, int label, const struct store_label *l)
{
	struct store_aux	*aux;
	uint8_t			 key[LABEL_KEY_LEN], v[LABEL_VAL_LEN];
	struct rec_w		 w;
	MDB_val			 k, d;
	int			 rc;

	if ((aux = store_aux_for_write(t)) == NULL)
		return (-1);
	label_key(key, kind, h, label);
	k = store_db_val(key, sizeof(key));
	if ((rc = store_db_get(&t->db, aux->labels, &k, &d, "labels get")) <= 0)
		return (rc < 0 ? -1 : 1);
	rec_w_fixed(&w, v, sizeof(v));
	rec_put_u64(&w, l->seq);
	rec_put_u64(&w, (uint64_t)l->ts);
	rec_put_u64(&w, l->feedback);
	d = store_db_val(v, w.len);
	return (store_db_put(&t->db, aux->labels, &k, &d, 0, "labels put"));
}

int
store_label_get(struct store_txn *t, enum ent_kind kind,
    const struct rg_hash *h, int label, uint64_t max_seq,
    struct store_label *out)
{
	struct store_aux	*aux;
	uint8_t			 key[LABEL_KEY_LEN];
	struct rec_r		 r;
	MDB_val			 k, d;
	int			 rc;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 1);
	label_key(key, kind, h, label);
	k = store_db_val(key, sizeof(key));
	if ((rc = store_db_get(&t->db, aux->labels, &k, &d, "labels get")) != 0)
		return (rc);
	rec_r_init(&r, d.mv_data, d.mv_size);
	out->seq = rec_get_u64(&r);
	out->ts = (int64_t)rec_get_u64(&r);
	out->feedback = rec_get_u64(&r);
	if (rec_r_end(&r) != 0)
		return (1);
	if (max_seq != 0 && out->seq > max_seq)
		return (1);
	return (0);
}

const uint8_t store_label_kinds[] = {
	ENT_ACCOUNT, ENT_DEVICE, ENT_DEVICE_FUZZY, ENT_DEVICE_ID, ENT_PAYMENT,
	ENT_EMAIL, ENT_PHONE, ENT_IP,
};
const size_t store_label_nkinds = nitems(store_label_kinds);

int
store_label_party(struct store_txn *t, const struct party *p, unsigned labels,
    uint64_t max_seq, uint8_t *kind, int *label, struct store_label *l)
{
	size_t	i;
	uint8_t	k;
	int	lb, r;

	for (i = 0; i < nitems(store_label_kinds); i++) {
		k = store_label_kinds[i];
		if (!PARTY_HAS(p, k))
			continue;
		for (lb = 1; lb < LABEL__MAX; lb++) {
			if (!(labels & (1u << lb)))
				continue;
			r = store_label_get(t, k, &p->h[k], lb, max_seq, l);
			if (r != 1) {
				*kind = k;
				*label = lb;
				return (r);
			}
		}
	}
	return (1);
}

/* Records under increasing 8-byte ids: feedback, listlog. */
static int
seqlog_append(struct store_txn *t, MDB_dbi dbi, const char *rec, size_t len,
    uint64_t *idp, const char *what)
{
	MDB_cursor	*c;
	MDB_val		 k, d;
	uint8_t		 key[8];
	uint64_t	 id = 1;
	int		 rc;

	if ((c = store_db_cursor(&t->db, dbi)) == NULL)
		return (-1);
	rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == 0 && k.mv_size == 8)
		id = be_get(k.mv_data, 8) + 1;
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, what));
	be_put(key, id, 8);
	k = store_db_val(key, 8);
	d = store_db_val(rec, len);
	if (store_db_put(&t->db, dbi, &k, &d, MDB_APPEND, what) != 0)
		return (-1);
	if (idp != NULL)
		*idp = id;
	return (0);
}

int
store_feedback_put(struct store_txn *t, const char *rec, size_t len,
    uint64_t *id)
{
	struct store_aux	*aux;

	if ((aux = store_aux_for_write(t)) == NULL)
		return (-1);
	return (seqlog_append(t, aux->feedback, rec, len, id, "feedback put"));
}

int
store_feedback_get(struct store_txn *t, uint64_t id, const void **rec,
    size_t *len)
{
	struct store_aux	*aux;
	uint8_t			 key[8];
	MDB_val			 k, d;
	int			 rc;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 1);
	be_put(key, id, 8);
	k = store_db_val(key, 8);
	if ((rc = store_db_get(&t->db, aux->feedback, &k, &d, "feedback get")) != 0)
		return (rc);
	*rec = d.mv_data;
	*len = d.mv_size;
	return (0);
}

int
store_listlog_put(struct store_txn *t, const char *rec, size_t len)
{
	struct store_aux	*aux;

	if ((aux = store_aux_for_write(t)) == NULL)
		return (-1);
	return (seqlog_append(t, aux->listlog, rec, len, NULL, "listlog put"));
}

/*
 * Records by id, newest first (up: oldest first): feedback, the list log.
 * A cb that returns -1 fails the scan.
 */
static int
seqlog_scan(struct store_txn *t, MDB_dbi dbi, bool up, store_rec_cb cb,
    void *arg, const char *what)
{
	MDB_cursor		*c;
	MDB_val			 k, d;
	int			 rc, r = 0;

	if ((c = store_db_cursor(&t->db, dbi)) == NULL)
		return (-1);
	for (rc = mdb_cursor_get(c, &k, &d, up ? MDB_FIRST : MDB_LAST);
	    rc == 0; rc = mdb_cursor_get(c, &k, &d, up ? MDB_NEXT : MDB_PREV)) {
		if (k.mv_size != 8)
			continue;
		if ((r = cb(arg, be_get(k.mv_data, 8), d.mv_data,
		    d.mv_size)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (r < 0)
		return (-1);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, what));
	return (0);
}

int
store_feedback_scan(struct store_txn *t, store_rec_cb cb, void *arg)
{
	struct store_aux	*aux;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 0);
	return (seqlog_scan(t, aux->feedback, false, cb, arg,
	    "feedback scan"));
}

int
store_listlog_scan(struct store_txn *t, store_rec_cb cb, void *arg)
{
	struct store_aux	*aux;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 0);
	return (seqlog_scan(t, aux->listlog, false, cb, arg,
	    "listlog scan"));
}

void
store_aux_stat(struct store_db_txn *x, const struct store_aux *aux,
    struct store_stat *out)
{
	if (!aux->have)
		return;
	out->feedback = store_db_entries(x, aux->feedback);
	out->labels = store_db_entries(x, aux->labels);
	out->list_entries = store_db_entries(x, aux->lists);
	out->list_log = store_db_entries(x, aux->listlog);
	if (aux->have_queue)
		store_queue_stat(x, aux, out);
}


uint64_t
store_aux_next_seq(struct store_txn *t)
{
	return (t->next_seq + 1);
}

/*
 * Everything in key order, for export (export_aux.c): the logs oldest
 * first, every label, every list entry with its members.
 */

int
store_feedback_scan_up(struct store_txn *t, store_rec_cb cb, void *arg)
{
	struct store_aux	*aux;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 0);
	return (seqlog_scan(t, aux->feedback, true, cb, arg,
	    "feedback scan"));
}

int
store_listlog_scan_up(struct store_txn *t, store_rec_cb cb, void *arg)
{
	struct store_aux	*aux;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 0);
	return (seqlog_scan(t, aux->listlog, true, cb, arg,
	    "listlog scan"));
}

int
store_label_scan(struct store_txn *t, store_label_cb cb, void *arg)
{
	struct store_aux	*aux;
	struct store_label	 l;
	struct rg_hash		 h;
	struct rec_r		 rr;
	MDB_cursor		*c;
	MDB_val			 k, d;
	const uint8_t		*key;
	int			 rc, r = 0;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 0);
	if ((c = store_db_cursor(&t->db, aux->labels)) == NULL)
		return (-1);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		key = k.mv_data;
		rec_r_init(&rr, d.mv_data, d.mv_size);
		l.seq = rec_get_u64(&rr);
		l.ts = (int64_t)rec_get_u64(&rr);
		l.feedback = rec_get_u64(&rr);
		if (k.mv_size != LABEL_KEY_LEN || rec_r_end(&rr) != 0) {
			mdb_cursor_close(c);
			return (store_db_fail(&t->db, EINVAL, "label malformed"));
		}
		memcpy(h.b, key + 1, RG_HASH_LEN);
		if ((r = cb(arg, key[0], &h, key[1 + RG_HASH_LEN], &l)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (r < 0)
		return (-1);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "labels scan"));
	return (0);
}

/* Lists. */

/* tag list 0: the common start of a list's keys; returns its length. */
static void
lkey_start(struct rec_w *w, char tag, const char *list)
{
	rec_put_u8(w, (uint8_t)tag);
	rec_put_bytes(w, list, strnlen(list, LIST_NAME_MAX));
	rec_put_u8(w, 0);
}

static size_t
entry_key(uint8_t *key, const char *list, const struct rg_hash *h)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, LKEY_MAX);
	lkey_start(&w, 'E', list);
	rec_put_bytes(&w, h->b, RG_HASH_LEN);
	return (w.len);
}

static size_t
member_key(uint8_t *key, const char *list, uint8_t kind,
    const struct rg_hash *m, const struct rg_hash *e)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, LKEY_MAX);
	lkey_start(&w, 'M', list);
	rec_put_u8(&w, kind);
	rec_put_bytes(&w, m->b, RG_HASH_LEN);
	if (e != NULL)
		rec_put_bytes(&w, e->b, RG_HASH_LEN);
	return (w.len);
}

static size_t
rev_key(uint8_t *key, const char *list, const struct rg_hash *e,
    uint8_t kind, const struct rg_hash *m)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, LKEY_MAX);
	lkey_start(&w, 'R', list);
	rec_put_bytes(&w, e->b, RG_HASH_LEN);
	if (m != NULL) {
		rec_put_u8(&w, kind);
		rec_put_bytes(&w, m->b, RG_HASH_LEN);
	}
	return (w.len);
}

static size_t
exp_key(uint8_t *key, int64_t expires, const char *list,
    const struct rg_hash *e)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, LKEY_MAX);
	rec_put_u8(&w, 'X');
	rec_put_u64(&w, (uint64_t)expires);
	rec_put_bytes(&w, list, strnlen(list, LIST_NAME_MAX));
	rec_put_u8(&w, 0);
	rec_put_bytes(&w, e->b, RG_HASH_LEN);
	return (w.len);
}

/* The parts of an expiry key (exp_key()): 0, or -1 when it is not one. */
static int
exp_key_decode(const void *key, size_t len, int64_t *expires,
    char list[LIST_NAME_MAX + 1], struct rg_hash *e)
{
	struct rec_r	r;
	size_t		n;

	rec_r_init(&r, key, len);
	if (rec_get_u8(&r) != 'X')
		return (-1);
	*expires = (int64_t)rec_get_u64(&r);
	if (rec_left(&r) < 1 + RG_HASH_LEN ||
	    (n = rec_left(&r) - 1 - RG_HASH_LEN) > LIST_NAME_MAX)
		return (-1);
	rec_get_bytes(&r, list, n);
	list[n] = '\0';
	if (rec_get_u8(&r) != 0)
		return (-1);
	rec_get_bytes(&r, e->b, RG_HASH_LEN);
	return (rec_r_end(&r));
}

/*
 * A list entry: hash(16) kind(1) cidr(1) added(8) seq(8) expires(8)
 * nmembers(4) bylen(1) reasonlen(2) by reason.
 */
static size_t
entry_encode(const struct store_list_entry *e, uint8_t *buf)
{
	size_t		bl = strnlen(e->by, LIST_BY_MAX);
	size_t		rl = strnlen(e->reason, LIST_REASON_MAX);
	struct rec_w	w;

	rec_w_fixed(&w, buf, ENTRY_FIXED + LIST_BY_MAX + LIST_REASON_MAX);
	rec_put_bytes(&w, e->h.b, RG_HASH_LEN);
	rec_put_u8(&w, e->kind);
	rec_put_u8(&w, e->cidr);
	rec_put_u64(&w, (uint64_t)e->added);
	rec_put_u64(&w, e->seq);
	rec_put_u64(&w, (uint64_t)e->expires);
	rec_put_u32(&w, e->nmembers);
	rec_put_u8(&w, (uint8_t)bl);
	rec_put_u16(&w, (uint16_t)rl);
	rec_put_bytes(&w, e->by, bl);
	rec_put_bytes(&w, e->reason, rl);
	return (w.len);
}

static int
entry_decode(const uint8_t *p, size_t len, struct store_list_entry *e)
{
	struct rec_r	r;
	size_t		bl, rl;

	memset(e, 0, sizeof(*e));
	rec_r_init(&r, p, len);
	rec_get_bytes(&r, e->h.b, RG_HASH_LEN);
	e->kind = rec_get_u8(&r);
	e->cidr = rec_get_u8(&r);
	e->added = (int64_t)rec_get_u64(&r);
	e->seq = rec_get_u64(&r);
	e->expires = (int64_t)rec_get_u64(&r);
	e->nmembers = rec_get_u32(&r);
	bl = rec_get_u8(&r);
	rl = rec_get_u16(&r);
	if (bl > LIST_BY_MAX || rl > LIST_REASON_MAX)
		rec_r_fail(&r);
	rec_get_bytes(&r, e->by, bl);
	rec_get_bytes(&r, e->reason, rl);
	return (rec_r_end(&r));
}

int
store_list_get(struct store_txn *t, const char *list, const struct rg_hash *h,
    struct store_list_entry *out)
{
	struct store_aux	*aux;
	uint8_t			 key[LKEY_MAX];
	MDB_val			 k, d;
	int			 rc;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 1);
	k = store_db_val(key, entry_key(key, list, h));
	if ((rc = store_db_get(&t->db, aux->lists, &k, &d, "lists get")) != 0)
		return (rc);
	if (entry_decode(d.mv_data, d.mv_size, out) != 0)
		return (1);
	return (0);
}

/* Delete an entry's members (through its reverse keys) and expiry key. */
static int
list_unlink(struct store_txn *t, struct store_aux *aux, const char *list,
    const struct store_list_entry *e)
{
	uint8_t			 key[LKEY_MAX], pfx[LKEY_MAX];
	struct rg_hash		 m;
	MDB_cursor		*c;
	MDB_val			 k, d;
	size_t			 plen;
	uint8_t			 kind;
	int			 rc;

	plen = rev_key(pfx, list, &e->h, 0, NULL);
	if ((c = store_db_cursor(&t->db, aux->lists)) == NULL)
		return (-1);
	for (;;) {
		k = store_db_val(pfx, plen);
		rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
		if (rc != 0 || k.mv_size != plen + 1 + RG_HASH_LEN ||
		    memcmp(k.mv_data, pfx, plen) != 0)
			break;
		kind = ((const uint8_t *)k.mv_data)[plen];
		memcpy(m.b, (const uint8_t *)k.mv_data + plen + 1, RG_HASH_LEN);
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		k = store_db_val(key, member_key(key, list, kind, &m, &e->h));
		if (store_db_del(&t->db, aux->lists, &k, NULL, "lists del") != 0) {
			mdb_cursor_close(c);
			return (-1);
		}
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "lists unlink"));
	if (e->expires != 0) {
		k = store_db_val(key, exp_key(key, e->expires, list, &e->h));
		if (store_db_del(&t->db, aux->lists, &k, NULL, "lists del") != 0)
			return (-1);
	}
	k = store_db_val(key, entry_key(key, list, &e->h));
	return (store_db_del(&t->db, aux->lists, &k, NULL, "lists del"));
}

int
store_list_put(struct store_txn *t, const char *list,
    const struct store_list_entry *e, const struct store_list_member *m,
    size_t nm)
{
	struct store_list_entry	 old;
	struct store_aux	*aux;
	uint8_t			 key[LKEY_MAX], rec[ENTRY_FIXED + LIST_BY_MAX +
				     LIST_REASON_MAX], mv[MEMBER_VAL_LEN];
	struct rec_w		 w;
	MDB_val			 k, d;
	size_t			 i;
	int			 rc;

	if ((aux = store_aux_for_write(t)) == NULL)
		return (-1);
	if ((rc = store_list_get(t, list, &e->h, &old)) < 0)
		return (-1);
	if (rc == 0 && list_unlink(t, aux, list, &old) != 0)
		return (-1);
	k = store_db_val(key, entry_key(key, list, &e->h));
	d = store_db_val(rec, entry_encode(e, rec));
	if (store_db_put(&t->db, aux->lists, &k, &d, 0, "lists put") != 0)
		return (-1);
	if (e->expires != 0) {
		k = store_db_val(key, exp_key(key, e->expires, list, &e->h));
		d = store_db_val("", 0);
		if (store_db_put(&t->db, aux->lists, &k, &d, 0, "lists put") != 0)
			return (-1);
	}
	rec_w_fixed(&w, mv, sizeof(mv));
	rec_put_u64(&w, (uint64_t)e->expires);
	rec_put_u64(&w, e->seq);
	for (i = 0; i < nm; i++) {
		k = store_db_val(key, member_key(key, list, m[i].kind, &m[i].h, &e->h));
		d = store_db_val(mv, sizeof(mv));
		if (store_db_put(&t->db, aux->lists, &k, &d, 0, "lists put") != 0)
			return (-1);
		k = store_db_val(key, rev_key(key, list, &e->h, m[i].kind, &m[i].h));
		d = store_db_val("", 0);
		if (store_db_put(&t->db, aux->lists, &k, &d, 0, "lists put") != 0)
			return (-1);
	}
	return (rc == 0 ? 1 : 0);
}

int
store_list_del(struct store_txn *t, const char *list, const struct rg_hash *h,
    struct store_list_entry *old)
{
	struct store_list_entry	 e;
	struct store_aux	*aux;
	int			 rc;

	if ((aux = store_aux_for_write(t)) == NULL)
		return (-1);
	if ((rc = store_list_get(t, list, h, &e)) != 0)
		return (rc);
	if (list_unlink(t, aux, list, &e) != 0)
		return (-1);
	if (old != NULL)
		*old = e;
	return (0);
}

int
store_list_match(struct store_txn *t, const char *list, uint8_t kind,
    const struct rg_hash *h, int64_t at, uint64_t max_seq,
    struct rg_hash *entry)
{
	struct store_aux	*aux;
	uint8_t			 pfx[LKEY_MAX];
	struct rec_r		 r;
	MDB_cursor		*c;
	MDB_val			 k, d;
	size_t			 plen;
	int64_t			 expires;
	uint64_t		 seq;
	int			 rc, found = 1;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 1);
	plen = member_key(pfx, list, kind, h, NULL);
	if ((c = store_db_cursor(&t->db, aux->lists)) == NULL)
		return (-1);
	k = store_db_val(pfx, plen);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size != plen + RG_HASH_LEN ||
		    memcmp(k.mv_data, pfx, plen) != 0)
			break;
		rec_r_init(&r, d.mv_data, d.mv_size);
		expires = (int64_t)rec_get_u64(&r);
		seq = rec_get_u64(&r);
		if (rec_r_end(&r) != 0)
			continue;
		if (expires != 0 && expires <= at)
			continue;
		if (max_seq != 0 && seq > max_seq)
			continue;
		if (entry != NULL)
			memcpy(entry->b, (const uint8_t *)k.mv_data + plen,
			    RG_HASH_LEN);
		found = 0;
		break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "lists match"));
	return (found);
}

int64_t
store_list_expire(struct store_txn *t, int64_t now, size_t max,
    store_list_cb cb, void *arg)
{
	struct store_list_entry	 e;
	struct store_aux	*aux;
	struct rg_hash		 h;
	MDB_cursor		*c;
	MDB_val			 k, d;
	uint8_t			 start = 'X';
	char			 list[LIST_NAME_MAX + 1];
	int64_t			 expires, done = 0;
	int			 rc;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 0);
	while ((size_t)done < max) {
		if ((c = store_db_cursor(&t->db, aux->lists)) == NULL)
			return (-1);
		k = store_db_val(&start, 1);
		rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
		mdb_cursor_close(c);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0)
			return (store_db_fail(&t->db, rc, "lists expire"));
		if (exp_key_decode(k.mv_data, k.mv_size, &expires, list,
		    &h) != 0 || expires > now)
			break;
		rc = store_list_get(t, list, &h, &e);
		if (rc < 0)
			return (-1);
		if (rc == 1) {
			/* An expiry key without its entry: drop it. */
			if (store_db_del(&t->db, aux->lists, &k, NULL, "lists expire") != 0)
				return (-1);
			continue;
		}
		if (cb != NULL)
			cb(arg, list, &e);
		if (list_unlink(t, aux, list, &e) != 0)
			return (-1);
		done++;
	}
	return (done);
}

/* The members of list's entry e (its reverse keys), into *m (grown). */
static int
list_members(struct store_txn *t, struct store_aux *aux, const char *list,
    const struct store_list_entry *e, struct store_list_member **m,
    size_t *nm, size_t *cap)
{
	uint8_t		 pfx[LKEY_MAX];
	MDB_cursor	*c;
	MDB_val		 k, d;
	size_t		 plen;
	int		 rc;

	*nm = 0;
	plen = rev_key(pfx, list, &e->h, 0, NULL);
	if ((c = store_db_cursor(&t->db, aux->lists)) == NULL)
		return (-1);
	k = store_db_val(pfx, plen);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size != plen + 1 + RG_HASH_LEN ||
		    memcmp(k.mv_data, pfx, plen) != 0)
			break;
		if (*nm == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*m = xreallocarray(*m, *cap, sizeof(**m));
		}
		(*m)[*nm].kind = ((const uint8_t *)k.mv_data)[plen];
		memcpy((*m)[*nm].h.b, (const uint8_t *)k.mv_data + plen + 1,
		    RG_HASH_LEN);
		(*nm)++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "lists scan"));
	return (0);
}

int
store_list_scan(struct store_txn *t, store_list_scan_cb cb, void *arg)
{
	struct store_list_member *m = NULL;
	struct store_list_entry	 e;
	struct store_aux	*aux;
	MDB_cursor		*c;
	MDB_val			 k, d;
	const uint8_t		*key;
	uint8_t			 start = 'E';
	char			 list[LIST_NAME_MAX + 1];
	size_t			 n, nm = 0, cap = 0;
	int			 rc, r = 0;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 0);
	if ((c = store_db_cursor(&t->db, aux->lists)) == NULL)
		return (-1);
	k = store_db_val(&start, 1);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		key = k.mv_data;
		if (key[0] != 'E')
			break;
		/* 'E' list 0 hash(16) */
		if (k.mv_size < 2 + RG_HASH_LEN || (n = k.mv_size - 2 -
		    RG_HASH_LEN) > LIST_NAME_MAX || key[1 + n] != 0 ||
		    memchr(key + 1, 0, n) != NULL ||
		    entry_decode(d.mv_data, d.mv_size, &e) != 0) {
			r = store_db_fail(&t->db, EINVAL, "list entry malformed");
			break;
		}
		memcpy(list, key + 1, n);
		list[n] = '\0';
		if ((r = list_members(t, aux, list, &e, &m, &nm, &cap)) != 0 ||
		    (r = cb(arg, list, &e, m, nm)) != 0)
			break;
	}
	mdb_cursor_close(c);
	free(m);
	if (r < 0)
		return (-1);
	if (rc != 0 && rc != MDB_NOTFOUND && r == 0)
		return (store_db_fail(&t->db, rc, "lists scan"));
	return (0);
}


void
store_list_strhash(uint64_t seed, uint8_t kind, const char *s, size_t len,
    struct rg_hash *out)
{
	XXH3_state_t	st;
	XXH128_hash_t	h;
	char		buf[64];
	size_t		i, j, n;

	/* A stack state must be zeroed before a seeded reset (xxhash.h). */
	memset(&st, 0, sizeof(st));
	XXH3_128bits_reset_withSeed(&st, seed);
	XXH3_128bits_update(&st, &kind, 1);
	for (i = 0; i < len; i += n) {
		n = len - i < sizeof(buf) ? len - i : sizeof(buf);
		memcpy(buf, s + i, n);
		for (j = 0; j < n; j++)
			buf[j] = (char)tolower((unsigned char)buf[j]);
		XXH3_128bits_update(&st, buf, n);
	}
	h = XXH3_128bits_digest(&st);
	XXH128_canonicalFromHash((XXH128_canonical_t *)out->b, h);
}

/* The review queue. */

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

/* The daily counters. */

/*
 * daily: day(4) kind(1) name -> count(8). The day leads so that a day
 * range is one cursor walk and retention deletes from the first key.
 */
#define DAILY_KEY_MAX	(4 + 1 + STORE_DAILY_NAME_MAX)

static size_t
daily_key(uint8_t *key, uint32_t day, uint8_t kind, const char *name,
    size_t len)
{
	struct rec_w	w;

	if (len > STORE_DAILY_NAME_MAX)
		len = STORE_DAILY_NAME_MAX;
	rec_w_fixed(&w, key, DAILY_KEY_MAX);
	rec_put_u32(&w, day);
	rec_put_u8(&w, kind);
	rec_put_bytes(&w, name, len);
	return (w.len);
}

int
store_daily_add(struct store_txn *t, uint32_t day, uint8_t kind,
    const char *name, size_t len, uint64_t n)
{
	struct store_aux	*aux;
	uint8_t			 key[DAILY_KEY_MAX], v[8];
	uint64_t		 count = 0;
	MDB_val			 k, d;
	int			 rc;

	if ((aux = store_aux_for_write(t)) == NULL)
		return (-1);
	k = store_db_val(key, daily_key(key, day, kind, name, len));
	if ((rc = store_db_get(&t->db, aux->daily, &k, &d, "daily get")) < 0)
		return (-1);
	if (rc == 0 && d.mv_size == 8)
		count = be_get(d.mv_data, 8);
	be_put(v, count + n, 8);
	d = store_db_val(v, sizeof(v));
	return (store_db_put(&t->db, aux->daily, &k, &d, 0, "daily put"));
}

int
store_daily_scan(struct store_txn *t, uint32_t from, uint32_t to,
    store_daily_cb cb, void *arg)
{
	struct store_aux	*aux;
	MDB_cursor		*c;
	MDB_val			 k, d;
	uint8_t			 key[4];
	uint32_t		 day;
	int			 rc;

	if (!store_aux_txn(t, &aux))
		return (aux->have ? -1 : 0);
	if (!aux->have_daily)
		return (0);
	if ((c = store_db_cursor(&t->db, aux->daily)) == NULL)
		return (-1);
	be_put(key, from, 4);
	k = store_db_val(key, sizeof(key));
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size < 5 || d.mv_size != 8)
			continue;	/* not ours: skipped, never fatal */
		if ((day = (uint32_t)be_get(k.mv_data, 4)) > to)
			break;
		if (cb(arg, day, ((uint8_t *)k.mv_data)[4],
		    (const char *)k.mv_data + 5, k.mv_size - 5,
		    be_get(d.mv_data, 8)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "daily scan"));
	return (0);
}

int64_t
store_daily_expire(struct store_txn *t, uint32_t before, size_t max)
{
	struct store_aux	*aux = t->st->aux;
	MDB_cursor		*c;
	MDB_val			 k, d;
	int64_t			 n = 0;
	int			 rc;

	if (!aux->have_daily)
		return (0);
	if ((c = store_db_cursor(&t->db, aux->daily)) == NULL)
		return (-1);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 &&
	    (size_t)n < max; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size >= 4 && be_get(k.mv_data, 4) >= before)
			break;
		if (!t->db.write) {
			rc = EACCES;
			break;
		}
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(&t->db, rc, "daily expire"));
	return (n);
}
