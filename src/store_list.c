/*
 * store_list.c: the runtime lists (store_aux.h: store_list_*): entries,
 * the members a lookup finds them by, their expiry; and the list log's
 * hash of a value.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#define XXH_STATIC_LINKING_ONLY	/* XXH3_state_t on the stack */
#include <xxhash.h>

#include "rec.h"
#include "store.h"
#include "store_aux.h"
#include "store_int.h"
#include "util.h"

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
