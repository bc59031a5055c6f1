/*
 * store_daily.c: the daily counters (store_aux.h: store_daily_*), for
 * daily.c.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <lmdb.h>

#include "rec.h"
#include "store.h"
#include "store_aux.h"
#include "store_int.h"
#include "util.h"

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
