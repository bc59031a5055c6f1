/*
 * store_verdict.c: verdict records (store.h: store_put_verdict,
 * store_get_verdict, store_get_verdict_seq), and deleting one with its
 * event (retention).
 *
 * A verdict record starts with its version byte and its event's seq
 * (verdict_rec.h), which keys it in verdict_recs: records are appended in
 * seq order and fill their pages, instead of landing on a random page of
 * a tree keyed by client ids. The id -> seq index (verdict_ids) is small;
 * an id whose seq retention deleted waits there for its sweep, as gone.
 * Schema 1 kept records by id in "verdicts": still read, never written.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "sbuf.h"
#include "store.h"
#include "store_aux.h"
#include "store_int.h"
#include "store_vrec.h"
#include "util.h"
#include "verdict_rec.h"

/* Put a record as the store keeps it (packed or not). */
static int
put_verdict(struct store_txn *t, const char *id, size_t idlen,
    const void *rec, size_t len)
{
	uint8_t		sk[8], old[8];
	uint64_t	seq;
	MDB_val		k = store_db_val(id, idlen), v, kk;
	int		rc;

	if (verdict_rec_seq(rec, len, &seq) != 0)
		return (store_db_fail(&t->db, EINVAL,
		    "verdicts put: short record"));
	be_put(sk, seq, 8);
	v = store_db_val(sk, sizeof(sk));
	if ((rc = store_db_try_put(&t->db, t->st->vids, &k, &v,
	    MDB_NOOVERWRITE, "verdict ids put")) < 0)
		return (-1);
	/* The id at another seq (its old record was unreadable): move it. */
	if (rc == 1 && (v.mv_size != 8 || memcmp(v.mv_data, sk, 8) != 0)) {
		if (v.mv_size == 8) {
			memcpy(old, v.mv_data, sizeof(old));
			kk = store_db_val(old, sizeof(old));
			if (store_db_del(&t->db, t->st->vrecs, &kk, NULL,
			    "verdict records del") != 0)
				return (-1);
		}
		v = store_db_val(sk, sizeof(sk));
		if (store_db_put(&t->db, t->st->vids, &k, &v, 0,
		    "verdict ids put") != 0)
			return (-1);
	}
	/* A new check's seq is the largest; a recheck rewrites in place. */
	kk = store_db_val(sk, sizeof(sk));
	v = store_db_val(rec, len);
	if ((rc = store_db_try_put(&t->db, t->st->vrecs, &kk, &v, MDB_APPEND,
	    "verdict records put")) < 0)
		return (-1);
	if (rc == 1 && store_db_put(&t->db, t->st->vrecs, &kk, &v, 0,
	    "verdict records put") != 0)
		return (-1);
	if (t->st->legacy)
		return (store_db_del(&t->db, t->st->verdicts, &k, NULL,
		    "verdicts del"));
	return (0);
}

int
store_put_verdict(struct store_txn *t, const char *id, size_t idlen,
    const void *rec, size_t len)
{
	struct sbuf	packed;
	int		rc;

	if (t->db.ret != 0)
		return (-1);
	sbuf_init(&packed, len);
	if ((rc = store_vrec_pack(t, rec, len, &packed)) == 1)
		rc = put_verdict(t, id, idlen, packed.buf, packed.len);
	else if (rc == 0)
		rc = put_verdict(t, id, idlen, rec, len);
	sbuf_free(&packed);
	return (rc);
}

/*
 * The record found in v, into *rec: unpacked when packed (kept until the
 * transaction ends), else as stored (a corrupt one's reader says so).
 */
static void
verdict_found(struct store_txn *t, const MDB_val *v, const void **rec,
    size_t *len)
{
	void	*plain;
	size_t	 plen;

	*rec = v->mv_data;
	*len = v->mv_size;
	if (!store_vrec_packed(v->mv_data, v->mv_size) ||
	    store_vrec_unpack(t, v->mv_data, v->mv_size, &plain, &plen) != 0)
		return;
	if (t->nrecs == t->recscap) {
		t->recscap = t->recscap != 0 ? t->recscap * 2 : 16;
		t->recs = xreallocarray(t->recs, t->recscap,
		    sizeof(*t->recs));
	}
	t->recs[t->nrecs++] = plain;
	*rec = plain;
	*len = plen;
}

/* The record of event seq as stored, in *v: 0, 1 not found, -1 error. */
static int
vrec_get(struct store_txn *t, uint64_t seq, MDB_val *v)
{
	uint8_t	sk[8];
	MDB_val	k;
	int	rc;

	if (t->db.ret != 0)
		return (-1);
	if (!t->st->have_vids)
		return (1);		/* schema 1: records by id alone */
	if (t->vrec_cur == NULL &&
	    (t->vrec_cur = store_db_cursor(&t->db, t->st->vrecs)) == NULL)
		return (-1);
	be_put(sk, seq, sizeof(sk));
	k = store_db_val(sk, sizeof(sk));
	if ((rc = mdb_cursor_get(t->vrec_cur, &k, v, MDB_SET_KEY)) ==
	    MDB_NOTFOUND)
		return (1);
	if (rc != 0)
		return (store_db_fail(&t->db, rc, "verdict records get"));
	return (0);
}

int
store_get_verdict(struct store_txn *t, const char *id, size_t idlen,
    const void **rec, size_t *len)
{
	uint64_t floor, seq;
	MDB_val	k = store_db_val(id, idlen), v;
	int	 rc = 1;

	if (t->st->have_vids &&
	    (rc = store_db_get(&t->db, t->st->vids, &k, &v, "verdict ids get")) == 0) {
		/*
		 * The id index naming no record cannot happen with a sound
		 * store; one bad id must not fail a whole batch: not found.
		 */
		if (v.mv_size != 8) {
			log_warn("store: verdict id index entry of %zu bytes",
			    v.mv_size);
			return (1);
		}
		/* Retention deleted it; the sweep has not reached its id. */
		seq = be_get(v.mv_data, 8);
		if (store_index_floor(t, &floor) != 0)
			return (-1);
		if (seq < floor)
			return (1);
		if ((rc = vrec_get(t, seq, &v)) == 1)
			log_warn("store: the verdict id index names a missing "
			    "record seq=%llu", (unsigned long long)seq);
		if (rc != 0)
			return (rc);
		verdict_found(t, &v, rec, len);
		return (0);
	} else if (rc == 1 && t->st->legacy)
		rc = store_db_get(&t->db, t->st->verdicts, &k, &v, "verdicts get");
	if (rc != 0)
		return (rc);
	verdict_found(t, &v, rec, len);
	return (0);
}

int
store_get_verdict_seq(struct store_txn *t, uint64_t seq, struct verdict_rec *r)
{
	MDB_val	v;
	int	rc;

	if ((rc = vrec_get(t, seq, &v)) != 0)
		return (rc);
	if (!store_vrec_packed(v.mv_data, v.mv_size))
		return (verdict_rec_decode(v.mv_data, v.mv_size, r) == 0 ? 0 : 2);
	if (t->vsplit == NULL) {
		t->vsplit = xcalloc(1, sizeof(*t->vsplit));
		store_vrec_buf_init(t->vsplit);
	}
	if (store_vrec_split(t, v.mv_data, v.mv_size, t->vsplit, r) == 0)
		return (0);
	/* A shape that could not be read for an error is the error. */
	return (store_txn_err(t) != STORE_OK ? -1 : 2);
}

/*
 * Retention: event seq's verdict record and review queue item, and its
 * schema 1 record if it is this event's; not a later event's, which a
 * recheck moved the verdict to. The id stays in verdict_ids for the
 * sweep (store_expire.c): store_get_verdict() takes an id whose record's
 * seq is below the floor for gone.
 */
int
store_verdict_del(struct store_txn *t, const char *id, size_t idlen,
    uint64_t seq)
{
	uint8_t		 sk[8];
	uint64_t	 rseq;
	MDB_val		 k, v;
	int		 rc;

	be_put(sk, seq, 8);
	k = store_db_val(sk, sizeof(sk));
	if (t->st->have_vids && (rc = store_db_get(&t->db, t->st->vrecs, &k,
	    &v, "verdict records get")) != 1) {
		/* Its review queue item goes with it. */
		if (rc < 0 || store_db_del(&t->db, t->st->vrecs, &k, NULL,
		    "verdict records del") != 0 || store_queue_del(t, seq) != 0)
			return (-1);
	}
	if (!t->st->legacy)
		return (0);
	k = store_db_val(id, idlen);
	if ((rc = store_db_get(&t->db, t->st->verdicts, &k, &v,
	    "verdicts get")) != 0)
		return (rc < 0 ? -1 : 0);
	if (verdict_rec_seq(v.mv_data, v.mv_size, &rseq) != 0 || rseq != seq)
		return (0);
	if (store_queue_del(t, seq) != 0)
		return (-1);
	return (store_db_del(&t->db, t->st->verdicts, &k, NULL,
	    "verdicts del"));
}
