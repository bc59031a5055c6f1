/*
 * store_aux.c: the analyst databases' opening and figures, labels,
 * feedback and the list log; the layout and contract are in store_aux.h.
 * The runtime lists are in store_list.c, the review queue in
 * store_queue.c, the daily counters in store_daily.c. All reach LMDB
 * through the store's transaction (store_db.h), so that an error lands
 * in its first-error slot whichever file it came from.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

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
