/*
 * store.c: the LMDB store; the layout and contract are in store.h.
 *
 * All LMDB calls go through this file. A transaction keeps its first
 * error; MDB_MAP_FULL becomes STORE_MAP_GROW (the caller aborts, grows,
 * retries) or STORE_FULL at map_max; MDB_READERS_FULL runs
 * mdb_reader_check() and retries once; MDB_MAP_RESIZED (another process
 * grew the map) adopts the new size.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define INDEX_KEY_LEN	(1 + RG_HASH_LEN + 8 + 8)
#define LINK_KEY_LEN	(RG_HASH_LEN + 1 + RG_HASH_LEN)
#define LINK_VAL_LEN	24
/* A link's last_ts is rewritten only when it moves by this much. */
#define LINK_TOUCH_MS	(3600 * 1000LL)

struct store {
	MDB_env			*env;
	MDB_dbi			 events;
	MDB_dbi			 index;
	MDB_dbi			 links;
	MDB_dbi			 verdicts;
	MDB_dbi			 meta;
	bool			 readonly;
	uint64_t		 map_max;
	/*
	 * Held shared by every transaction, exclusively by a map resize:
	 * LMDB allows mdb_env_set_mapsize() only with no transaction open
	 * in this process.
	 */
	pthread_rwlock_t	 maplock;
	uint64_t		 last_seq;	/* committed; writer only */
	uint8_t			 link_cursor[LINK_KEY_LEN];	/* retention resume */
	bool			 link_cursor_set;
	struct store_aux	*aux;		/* store_aux.c's databases */
};

struct store_txn {
	struct store	*st;
	MDB_txn		*txn;
	bool		 write;
	enum store_err	 err;
	char		 errstr[160];
	uint64_t	 next_seq;
};

/* Big-endian integers: keys sort as numbers. */
static void
be64_put(uint8_t *p, uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
be64_get(const uint8_t *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (v);
}

/* Time in keys: offset so that negative times still sort first. */
static uint64_t
ts_key(int64_t ts)
{
	return ((uint64_t)ts ^ (1ULL << 63));
}

static int64_t
ts_unkey(uint64_t v)
{
	return ((int64_t)(v ^ (1ULL << 63)));
}

/* Map full: can it still grow, and the message that names the limit. */
static enum store_err
store_full_err(struct store *st, char *buf, size_t len)
{
	MDB_envinfo	info;
	size_t		cur = 0;

	if (mdb_env_info(st->env, &info) == 0)
		cur = info.me_mapsize;
	snprintf(buf, len, "store full: map size %zu bytes reached "
	    "(map_max %llu)", cur, (unsigned long long)st->map_max);
	return (cur < st->map_max ? STORE_MAP_GROW : STORE_FULL);
}

/* Record the first error of a transaction; later ones are dropped. */
static int
txn_fail(struct store_txn *t, int rc, const char *what)
{
	if (t->err != STORE_OK)
		return (-1);
	if (rc == MDB_MAP_FULL)
		t->err = store_full_err(t->st, t->errstr, sizeof(t->errstr));
	else {
		t->err = STORE_IO;
		snprintf(t->errstr, sizeof(t->errstr), "%s: %s", what,
		    mdb_strerror(rc));
	}
	return (-1);
}

static MDB_val
val(const void *p, size_t n)
{
	MDB_val	v = { n, (void *)p };

	return (v);
}

static int
store_dbi(struct store *st, MDB_txn *txn, const char *name, MDB_dbi *dbi,
    char **cause)
{
	int	rc;

	rc = mdb_dbi_open(txn, name, st->readonly ? 0 : MDB_CREATE, dbi);
	if (rc != 0) {
		xasprintf(cause, "open database %s: %s", name, mdb_strerror(rc));
		return (-1);
	}
	return (0);
}

/* Open the named databases and check (or write) the schema version. */
static int
store_setup(struct store *st, char **cause)
{
	MDB_txn		*txn;
	MDB_val		 k = val("schema", 6), v;
	MDB_cursor	*c;
	uint8_t		 buf[4];
	uint32_t	 schema;
	int		 rc;

	rc = mdb_txn_begin(st->env, NULL, st->readonly ? MDB_RDONLY : 0, &txn);
	if (rc != 0) {
		xasprintf(cause, "begin: %s", mdb_strerror(rc));
		return (-1);
	}
	if (store_dbi(st, txn, "events", &st->events, cause) ||
	    store_dbi(st, txn, "index", &st->index, cause) ||
	    store_dbi(st, txn, "links", &st->links, cause) ||
	    store_dbi(st, txn, "verdicts", &st->verdicts, cause) ||
	    store_dbi(st, txn, "meta", &st->meta, cause) ||
	    store_aux_open(txn, st->readonly, &st->aux, cause))
		goto fail;

	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == MDB_NOTFOUND && !st->readonly) {
		buf[0] = 0; buf[1] = 0; buf[2] = 0; buf[3] = STORE_SCHEMA;
		v = val(buf, 4);
		if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0) {
			xasprintf(cause, "write schema: %s", mdb_strerror(rc));
			goto fail;
		}
	} else if (rc != 0) {
		xasprintf(cause, "read schema: %s", mdb_strerror(rc));
		goto fail;
	} else {
		const uint8_t *p = v.mv_data;

		if (v.mv_size != 4) {
			xasprintf(cause, "schema record is corrupt");
			goto fail;
		}
		schema = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (schema > STORE_SCHEMA) {
			xasprintf(cause, "store schema %u is newer than this "
			    "refguard understands (%u): upgrade refguard, or "
			    "use a fresh state directory", schema, STORE_SCHEMA);
			goto fail;
		}
	}

	if ((rc = mdb_cursor_open(txn, st->events, &c)) != 0) {
		xasprintf(cause, "cursor: %s", mdb_strerror(rc));
		goto fail;
	}
	if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
		st->last_seq = be64_get(k.mv_data);
	mdb_cursor_close(c);

	if ((rc = mdb_txn_commit(txn)) != 0) {
		xasprintf(cause, "commit: %s", mdb_strerror(rc));
		return (-1);
	}
	return (0);
fail:
	mdb_txn_abort(txn);
	return (-1);
}

struct store *
store_open(const struct store_opts *opts, char **cause)
{
	struct store	*st = xcalloc(1, sizeof(*st));
	unsigned	 flags = MDB_NOTLS | MDB_NORDAHEAD;
	int		 rc;

	st->readonly = opts->readonly;
	st->map_max = opts->map_max ? opts->map_max : opts->map_size;
	pthread_rwlock_init(&st->maplock, NULL);
	if (opts->nosync)
		flags |= MDB_NOSYNC;
	if (opts->readonly)
		flags |= MDB_RDONLY;

	if ((rc = mdb_env_create(&st->env)) != 0) {
		xasprintf(cause, "mdb_env_create: %s", mdb_strerror(rc));
		goto fail;
	}
	mdb_env_set_maxdbs(st->env, 8 + STORE_AUX_NDBI);
	mdb_env_set_maxreaders(st->env, 254);
	if (!opts->readonly &&
	    (rc = mdb_env_set_mapsize(st->env, opts->map_size)) != 0) {
		xasprintf(cause, "map size %zu: %s", opts->map_size,
		    mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_env_open(st->env, opts->dir, flags, 0600)) != 0) {
		xasprintf(cause, "open store in %s: %s", opts->dir,
		    mdb_strerror(rc));
		goto fail;
	}
	if (!opts->readonly) {
		int	dead = 0;

		/* Reader slots left behind by a killed process. */
		mdb_reader_check(st->env, &dead);
		if (dead > 0)
			log_info("store: cleared %d stale reader slots", dead);
	}
	if (store_setup(st, cause) != 0) {
		char *inner = *cause;

		xasprintf(cause, "store %s: %s", opts->dir, inner);
		free(inner);
		goto fail;
	}
	return (st);
fail:
	store_aux_free(st->aux);
	if (st->env != NULL)
		mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->maplock);
	free(st);
	return (NULL);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_aux_free(st->aux);
	mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->maplock);
	free(st);
}

int
store_grow(struct store *st)
{
	MDB_envinfo	info;
	uint64_t	size;
	int		rc;

	pthread_rwlock_wrlock(&st->maplock);
	mdb_env_info(st->env, &info);
	if (info.me_mapsize >= st->map_max) {
		pthread_rwlock_unlock(&st->maplock);
		return (-1);
	}
	size = (uint64_t)info.me_mapsize * 2;
	if (size > st->map_max)
		size = st->map_max;
	rc = mdb_env_set_mapsize(st->env, size);
	pthread_rwlock_unlock(&st->maplock);
	if (rc != 0) {
		log_err("store: grow map to %llu bytes: %s",
		    (unsigned long long)size, mdb_strerror(rc));
		return (-1);
	}
	log_notice("store: map grown to %llu bytes", (unsigned long long)size);
	return (0);
}

struct store_txn *
store_begin(struct store *st, bool write, char **cause)
{
	struct store_txn	*t;
	MDB_txn			*txn;
	int			 rc, tries;

	for (tries = 0;; tries++) {
		pthread_rwlock_rdlock(&st->maplock);
		rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &txn);
		if (rc == 0)
			break;
		pthread_rwlock_unlock(&st->maplock);
		if (tries > 2)
			break;
		if (rc == MDB_MAP_RESIZED) {
			pthread_rwlock_wrlock(&st->maplock);
			mdb_env_set_mapsize(st->env, 0);
			pthread_rwlock_unlock(&st->maplock);
		} else if (rc == MDB_READERS_FULL) {
			int	dead = 0;

			mdb_reader_check(st->env, &dead);
			log_warn("store: reader table full; cleared %d stale "
			    "slots", dead);
		} else
			break;
	}
	if (rc != 0) {
		xasprintf(cause, "begin transaction: %s", mdb_strerror(rc));
		return (NULL);
	}
	t = xcalloc(1, sizeof(*t));
	t->st = st;
	t->txn = txn;
	t->write = write;
	t->next_seq = st->last_seq;
	return (t);
}

int
store_commit(struct store_txn *t, enum store_err *err, char **cause)
{
	struct store	*st = t->st;
	char		 msg[160];
	int		 rc;

	if (err != NULL)
		*err = t->err;
	if (t->err != STORE_OK) {
		xasprintf(cause, "%s", t->errstr);
		store_abort(t);
		return (-1);
	}
	rc = mdb_txn_commit(t->txn);
	pthread_rwlock_unlock(&st->maplock);
	if (rc == 0 && t->write)
		__atomic_store_n(&st->last_seq, t->next_seq, __ATOMIC_RELEASE);
	free(t);
	if (rc == MDB_MAP_FULL) {
		enum store_err e = store_full_err(st, msg, sizeof(msg));

		if (err != NULL)
			*err = e;
		xasprintf(cause, "commit: %s", msg);
		return (-1);
	}
	if (rc != 0) {
		if (err != NULL)
			*err = STORE_IO;
		xasprintf(cause, "commit: %s", mdb_strerror(rc));
		return (-1);
	}
	return (0);
}

void
store_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	mdb_txn_abort(t->txn);
	pthread_rwlock_unlock(&t->st->maplock);
	free(t);
}

enum store_err
store_txn_err(const struct store_txn *t)
{
	return (t->err);
}

const char *
store_txn_errstr(const struct store_txn *t)
{
	return (t->err == STORE_OK ? "no error" : t->errstr);
}

static int
txn_put(struct store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    unsigned flags, const char *what)
{
	int	rc;

	if (t->err != STORE_OK)
		return (-1);
	if (!t->write) {
		t->err = STORE_IO;
		snprintf(t->errstr, sizeof(t->errstr), "%s: read-only", what);
		return (-1);
	}
	if ((rc = mdb_put(t->txn, dbi, k, v, flags)) != 0)
		return (txn_fail(t, rc, what));
	return (0);
}

/* 0 found, 1 not found, -1 error. */
static int
txn_get(struct store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    const char *what)
{
	int	rc;

	if (t->err != STORE_OK)
		return (-1);
	rc = mdb_get(t->txn, dbi, k, v);
	if (rc == MDB_NOTFOUND)
		return (1);
	if (rc != 0)
		return (txn_fail(t, rc, what));
	return (0);
}

static int
txn_del(struct store_txn *t, MDB_dbi dbi, MDB_val *k, const char *what)
{
	int	rc;

	if (t->err != STORE_OK)
		return (-1);
	rc = mdb_del(t->txn, dbi, k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (txn_fail(t, rc, what));
	return (0);
}

static MDB_cursor *
txn_cursor(struct store_txn *t, MDB_dbi dbi)
{
	MDB_cursor	*c;
	int		 rc;

	if (t->err != STORE_OK)
		return (NULL);
	if ((rc = mdb_cursor_open(t->txn, dbi, &c)) != 0) {
		txn_fail(t, rc, "cursor");
		return (NULL);
	}
	return (c);
}

static void
index_key(uint8_t *key, unsigned kind, const struct rg_hash *h, int64_t ts,
    uint64_t seq)
{
	key[0] = (uint8_t)kind;
	memcpy(key + 1, h->b, RG_HASH_LEN);
	be64_put(key + 1 + RG_HASH_LEN, ts_key(ts));
	be64_put(key + 1 + RG_HASH_LEN + 8, seq);
}

/* One identity of an event, with the roles it plays in it. */
struct ent {
	uint8_t			 kind;
	uint8_t			 roles;
	const struct rg_hash	*h;
};

/* Every identity an event carries, the same one in two roles merged. */
static size_t
event_ents(const struct event *ev, struct ent *out)
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
	return (n);
}
#define EVENT_ENTS_MAX	(RG_NPARTIES * ENT__MAX + 1)

/* Record that the party's account carries each of its other identities. */
static int
put_links(struct store_txn *t, const struct event *ev, const struct party *p)
{
	uint8_t		key[LINK_KEY_LEN], vbuf[LINK_VAL_LEN];
	MDB_val		k, v;
	unsigned	kind;
	int		rc;

	if (!PARTY_HAS(p, ENT_ACCOUNT))
		return (0);
	memcpy(key, p->h[ENT_ACCOUNT].b, RG_HASH_LEN);
	for (kind = 1; kind < ENT__MAX; kind++) {
		if (kind == ENT_ACCOUNT || !PARTY_HAS(p, kind))
			continue;
		key[RG_HASH_LEN] = (uint8_t)kind;
		memcpy(key + RG_HASH_LEN + 1, p->h[kind].b, RG_HASH_LEN);
		k = val(key, sizeof(key));
		rc = txn_get(t, t->st->links, &k, &v, "links get");
		if (rc < 0)
			return (-1);
		if (rc == 0 && v.mv_size == LINK_VAL_LEN) {
			int64_t last = ts_unkey(be64_get((uint8_t *)v.mv_data + 16));

			if (ev->ts < last + LINK_TOUCH_MS)
				continue;
			memcpy(vbuf, v.mv_data, 16);
		} else {
			be64_put(vbuf, ts_key(ev->ts));
			be64_put(vbuf + 8, ev->seq);
		}
		be64_put(vbuf + 16, ts_key(ev->ts));
		v = val(vbuf, sizeof(vbuf));
		if (txn_put(t, t->st->links, &k, &v, 0, "links put") != 0)
			return (-1);
	}
	return (0);
}

int
store_put_event(struct store_txn *t, struct event *ev)
{
	uint8_t		rec[EVENT_REC_MAX], seqkey[8], ikey[INDEX_KEY_LEN];
	uint8_t		ival[2];
	struct ent	ents[EVENT_ENTS_MAX];
	MDB_val		k, v;
	size_t		n, i, len;

	if (t->err != STORE_OK)
		return (-1);
	ev->seq = t->next_seq + 1;
	len = event_encode(ev, rec);
	be64_put(seqkey, ev->seq);
	k = val(seqkey, 8);
	v = val(rec, len);
	if (txn_put(t, t->st->events, &k, &v, MDB_APPEND, "events put") != 0)
		return (-1);

	n = event_ents(ev, ents);
	ival[0] = ev->type;
	for (i = 0; i < n; i++) {
		index_key(ikey, ents[i].kind, ents[i].h, ev->ts, ev->seq);
		ival[1] = ents[i].roles;
		k = val(ikey, sizeof(ikey));
		v = val(ival, sizeof(ival));
		if (txn_put(t, t->st->index, &k, &v, 0, "index put") != 0)
			return (-1);
	}
	for (i = 0; i < ev->nparties; i++)
		if (put_links(t, ev, &ev->party[i]) != 0)
			return (-1);
	t->next_seq = ev->seq;
	return (0);
}

int
store_get_event(struct store_txn *t, uint64_t seq, struct event *ev)
{
	uint8_t	key[8];
	MDB_val	k, v;
	int	rc;

	be64_put(key, seq);
	k = val(key, 8);
	if ((rc = txn_get(t, t->st->events, &k, &v, "events get")) != 0)
		return (rc);
	if (event_decode(v.mv_data, v.mv_size, ev) != 0) {
		t->err = STORE_IO;
		snprintf(t->errstr, sizeof(t->errstr),
		    "event %llu: corrupt record", (unsigned long long)seq);
		return (-1);
	}
	ev->seq = seq;
	return (0);
}

int
store_scan_events(struct store_txn *t, uint64_t from_seq, uint64_t to_seq,
    store_event_cb cb, void *arg)
{
	struct event	 ev;
	uint8_t		 key[8];
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint64_t	 seq;
	int		 rc, ret = 0;

	if ((c = txn_cursor(t, t->st->events)) == NULL)
		return (-1);
	be64_put(key, from_seq);
	k = val(key, 8);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8)
			continue;
		seq = be64_get(k.mv_data);
		if (to_seq != 0 && seq > to_seq)
			break;
		if (event_decode(v.mv_data, v.mv_size, &ev) != 0) {
			t->err = STORE_IO;
			snprintf(t->errstr, sizeof(t->errstr),
			    "event %llu: corrupt record",
			    (unsigned long long)seq);
			ret = -1;
			break;
		}
		ev.seq = seq;
		if (cb(arg, &ev) != 0)
			break;
		if (t->err != STORE_OK) {	/* cb's queries failed */
			ret = -1;
			break;
		}
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = txn_fail(t, rc, "events scan");
	mdb_cursor_close(c);
	return (ret);
}

int
store_put_verdict(struct store_txn *t, const char *id, size_t idlen,
    const void *rec, size_t len)
{
	MDB_val	k = val(id, idlen), v = val(rec, len);

	return (txn_put(t, t->st->verdicts, &k, &v, 0, "verdicts put"));
}

int
store_get_verdict(struct store_txn *t, const char *id, size_t idlen,
    const void **rec, size_t *len)
{
	MDB_val	k = val(id, idlen), v;
	int	rc;

	if ((rc = txn_get(t, t->st->verdicts, &k, &v, "verdicts get")) != 0)
		return (rc);
	*rec = v.mv_data;
	*len = v.mv_size;
	return (0);
}

/* Walk the index entries of (kind, h) in [from_ts, to_ts]. */
struct iwalk {
	uint32_t	type_mask;
	uint32_t	role_mask;
	uint64_t	max_seq;
};

static bool
iwalk_match(const struct iwalk *w, const MDB_val *k, const MDB_val *v,
    struct store_entry *e)
{
	const uint8_t	*kp = k->mv_data, *vp = v->mv_data;

	if (k->mv_size != INDEX_KEY_LEN || v->mv_size < 2)
		return (false);
	e->ts = ts_unkey(be64_get(kp + 1 + RG_HASH_LEN));
	e->seq = be64_get(kp + 1 + RG_HASH_LEN + 8);
	e->type = vp[0];
	e->roles = vp[1];
	if (w->max_seq != 0 && e->seq > w->max_seq)
		return (false);
	if (e->type >= 32 || !(w->type_mask & EV_MASK(e->type)))
		return (false);
	return ((w->role_mask & e->roles) != 0);
}

int
store_scan(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    uint32_t type_mask, uint32_t role_mask, int64_t from_ts, int64_t to_ts,
    uint64_t max_seq, bool newest_first, store_entry_cb cb, void *arg)
{
	struct iwalk		w = { type_mask, role_mask, max_seq };
	struct store_entry	e;
	uint8_t			lo[INDEX_KEY_LEN], hi[INDEX_KEY_LEN];
	MDB_cursor		*c;
	MDB_val			k, v;
	int			rc, ret = 0;

	if (from_ts > to_ts)
		return (0);
	if ((c = txn_cursor(t, t->st->index)) == NULL)
		return (-1);
	index_key(lo, kind, h, from_ts, 0);
	index_key(hi, kind, h, to_ts, UINT64_MAX);
	if (!newest_first) {
		k = val(lo, sizeof(lo));
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (k.mv_size != INDEX_KEY_LEN ||
			    memcmp(k.mv_data, hi, INDEX_KEY_LEN) > 0)
				break;
			if (iwalk_match(&w, &k, &v, &e) && cb(arg, &e) != 0)
				break;
		}
	} else {
		/* First key past the range, then walk back. */
		k = val(hi, sizeof(hi));
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
		else if (rc == 0 && memcmp(k.mv_data, hi, INDEX_KEY_LEN) > 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
		for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
			if (k.mv_size != INDEX_KEY_LEN ||
			    memcmp(k.mv_data, lo, INDEX_KEY_LEN) < 0)
				break;
			if (iwalk_match(&w, &k, &v, &e) && cb(arg, &e) != 0)
				break;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		ret = txn_fail(t, rc, "index scan");
	mdb_cursor_close(c);
	return (ret);
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

int64_t
store_count(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    uint32_t type_mask, uint32_t role_mask, int64_t from_ts, int64_t to_ts,
    uint64_t max_seq, uint64_t limit)
{
	struct count_arg	a = { 0, limit };

	if (store_scan(t, kind, h, type_mask, role_mask, from_ts, to_ts,
	    max_seq, false, count_cb, &a) != 0)
		return (-1);
	return ((int64_t)a.n);
}

static void
link_decode(const MDB_val *k, const MDB_val *v, struct store_link *l)
{
	const uint8_t	*kp = k->mv_data, *vp = v->mv_data;

	l->kind = kp[RG_HASH_LEN];
	memcpy(l->h.b, kp + RG_HASH_LEN + 1, RG_HASH_LEN);
	l->first_ts = ts_unkey(be64_get(vp));
	l->first_seq = be64_get(vp + 8);
	l->last_ts = ts_unkey(be64_get(vp + 16));
}

int
store_link_get(struct store_txn *t, const struct rg_hash *account,
    enum ent_kind kind, const struct rg_hash *h, uint64_t max_seq,
    uint64_t *first_seq, int64_t *first_ts)
{
	uint8_t			key[LINK_KEY_LEN];
	struct store_link	l;
	MDB_val			k, v;
	int			rc;

	memcpy(key, account->b, RG_HASH_LEN);
	key[RG_HASH_LEN] = (uint8_t)kind;
	memcpy(key + RG_HASH_LEN + 1, h->b, RG_HASH_LEN);
	k = val(key, sizeof(key));
	if ((rc = txn_get(t, t->st->links, &k, &v, "links get")) != 0)
		return (rc);
	if (v.mv_size != LINK_VAL_LEN)
		return (1);
	link_decode(&k, &v, &l);
	if (max_seq != 0 && l.first_seq > max_seq)
		return (1);
	if (first_seq != NULL)
		*first_seq = l.first_seq;
	if (first_ts != NULL)
		*first_ts = l.first_ts;
	return (0);
}

int
store_link_scan(struct store_txn *t, const struct rg_hash *account,
    enum ent_kind kind, uint64_t max_seq, store_link_cb cb, void *arg)
{
	uint8_t			key[LINK_KEY_LEN];
	size_t			plen = kind ? RG_HASH_LEN + 1 : RG_HASH_LEN;
	struct store_link	l;
	MDB_cursor		*c;
	MDB_val			k, v;
	int			rc, ret = 0;

	if ((c = txn_cursor(t, t->st->links)) == NULL)
		return (-1);
	memset(key, 0, sizeof(key));
	memcpy(key, account->b, RG_HASH_LEN);
	key[RG_HASH_LEN] = (uint8_t)kind;
	k = val(key, sizeof(key));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != LINK_KEY_LEN || memcmp(k.mv_data, key, plen))
			break;
		if (v.mv_size != LINK_VAL_LEN)
			continue;
		link_decode(&k, &v, &l);
		if (max_seq != 0 && l.first_seq > max_seq)
			continue;
		if (cb(arg, &l) != 0)
			break;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		ret = txn_fail(t, rc, "links scan");
	mdb_cursor_close(c);
	return (ret);
}

int
store_meta_get(struct store_txn *t, const char *name, const void **out,
    size_t *len)
{
	MDB_val	k = val(name, strlen(name)), v;
	int	rc;

	if ((rc = txn_get(t, t->st->meta, &k, &v, "meta get")) != 0)
		return (rc);
	*out = v.mv_data;
	*len = v.mv_size;
	return (0);
}

int
store_meta_put(struct store_txn *t, const char *name, const void *p,
    size_t len)
{
	MDB_val	k = val(name, strlen(name)), v = val(p, len);

	return (txn_put(t, t->st->meta, &k, &v, 0, "meta put"));
}

/* Delete one event's index entries and its verdict, then the event. */
static int
expire_event(struct store_txn *t, MDB_val *seqkey, const struct event *ev)
{
	struct ent	ents[EVENT_ENTS_MAX];
	uint8_t		ikey[INDEX_KEY_LEN];
	const void	*rec;
	size_t		n, i, len;
	MDB_val		k;

	n = event_ents(ev, ents);
	for (i = 0; i < n; i++) {
		index_key(ikey, ents[i].kind, ents[i].h, ev->ts, ev->seq);
		k = val(ikey, sizeof(ikey));
		if (txn_del(t, t->st->index, &k, "index del") != 0)
			return (-1);
	}
	/* The verdict goes with its event (not with a later re-check's). */
	if (ev->idlen > 0 &&
	    store_get_verdict(t, ev->id, ev->idlen, &rec, &len) == 0 &&
	    len >= 9 && be64_get((const uint8_t *)rec + 1) == ev->seq) {
		k = val(ev->id, ev->idlen);
		if (txn_del(t, t->st->verdicts, &k, "verdicts del") != 0)
			return (-1);
	}
	return (txn_del(t, t->st->events, seqkey, "events del"));
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

	if ((c = txn_cursor(t, st->links)) == NULL)
		return (-1);
	if (st->link_cursor_set) {
		k = val(st->link_cursor, LINK_KEY_LEN);
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	} else
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (; rc == 0 && seen < max; seen++) {
		if (k.mv_size == LINK_KEY_LEN && v.mv_size == LINK_VAL_LEN) {
			link_decode(&k, &v, &l);
			memcpy(st->link_cursor, k.mv_data, LINK_KEY_LEN);
			st->link_cursor_set = true;
			if (l.last_ts < before_ts) {
				if ((rc = mdb_cursor_del(c, 0)) != 0)
					break;
				n++;
				/* The cursor now sits on the next link; EINVAL: none left. */
				rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
				if (rc == EINVAL)
					rc = MDB_NOTFOUND;
				if (rc == 0)
					continue;
				break;
			}
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND)
		st->link_cursor_set = false;	/* wrap around next time */
	else if (rc != 0) {
		mdb_cursor_close(c);
		return (txn_fail(t, rc, "links expire"));
	}
	mdb_cursor_close(c);
	return (n);
}

int64_t
store_expire(struct store_txn *t, int64_t before_ts, size_t max)
{
	struct event	ev;
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		 seqkey[8];
	int64_t		 n = 0;
	int		 rc;

	if ((c = txn_cursor(t, t->st->events)) == NULL)
		return (-1);
	/* Events in sequence order; stop at the first one still young. */
	while ((size_t)n < max &&
	    (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size != 8 || event_decode(v.mv_data, v.mv_size,
		    &ev) != 0) {
			log_warn("store: dropping corrupt event record");
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				break;
			continue;
		}
		if (ev.ts >= before_ts)
			break;
		ev.seq = be64_get(k.mv_data);
		memcpy(seqkey, k.mv_data, 8);
		k = val(seqkey, 8);
		mdb_cursor_close(c);
		if (expire_event(t, &k, &ev) != 0)
			return (-1);
		n++;
		if ((c = txn_cursor(t, t->st->events)) == NULL)
			return (-1);
	}
	mdb_cursor_close(c);
	if (expire_links(t, before_ts, max) < 0)
		return (-1);
	return (n);
}

int
store_stat(struct store *st, struct store_stat *out, char **cause)
{
	MDB_envinfo	info;
	MDB_stat	ms;
	MDB_txn		*txn;
	int		rc;

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&st->maplock);
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0) {
		pthread_rwlock_unlock(&st->maplock);
		xasprintf(cause, "stat: %s", mdb_strerror(rc));
		return (-1);
	}
	if (mdb_stat(txn, st->events, &ms) == 0)
		out->events = ms.ms_entries;
	if (mdb_stat(txn, st->index, &ms) == 0)
		out->index_entries = ms.ms_entries;
	if (mdb_stat(txn, st->links, &ms) == 0)
		out->links = ms.ms_entries;
	if (mdb_stat(txn, st->verdicts, &ms) == 0)
		out->verdicts = ms.ms_entries;
	mdb_env_info(st->env, &info);
	mdb_env_stat(st->env, &ms);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&st->maplock);
	out->map_size = info.me_mapsize;
	out->map_used = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	out->map_max = st->map_max;
	out->last_seq = __atomic_load_n(&st->last_seq, __ATOMIC_ACQUIRE);
	out->readers = info.me_numreaders;
	return (0);
}

/* store_int.h: the inside store_aux.c works with. */
MDB_txn *
store_int_txn(struct store_txn *t)
{
	return (t->err == STORE_OK ? t->txn : NULL);
}

bool
store_int_writable(const struct store_txn *t)
{
	return (t->write);
}

struct store_aux *
store_int_aux(struct store_txn *t)
{
	return (t->st->aux);
}

uint64_t
store_int_next_seq(const struct store_txn *t)
{
	return (t->next_seq + 1);
}

int
store_int_fail(struct store_txn *t, int rc, const char *what)
{
	return (txn_fail(t, rc, what));
}
