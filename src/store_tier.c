/*
 * store_tier.c: the recent tier (memtier.h), the store's write buffer.
 * New index entries and links go to memory first and reach LMDB a hash
 * range at a time, in bulk (docs/architecture.md, "The recent tier"):
 * deriving an event's entries, flushing ranges at commits and at close,
 * rebuilding the tier from the events at a writable open, and keeping a
 * read-only store's own tier in step with the writer's snapshots.
 *
 * Single-threaded like memtier.h: the writer's thread (store.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "memtier.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* A link's last_ts is rewritten only when it moves by this much. */
#define LINK_TOUCH_MS	(3600 * 1000LL)
/* How often each range is flushed. */
#define FLUSH_INTERVAL_US	(30 * 1000000ULL)
/*
 * Over budget, a commit writes out twice what it added, and at least
 * this share of the budget (two ranges' worth). Not more: each flushed
 * range dirties its own pages, which LMDB holds in malloc'd buffers until
 * the commit, so bounded flushes keep the daemon's memory small.
 */
#define FLUSH_MIN_SHARE		128
/*
 * LMDB refuses a transaction that dirties 128Ki pages (MDB_TXN_FULL). In
 * a large store each flushed entry or link dirties a page of its own,
 * and the batch its pages: at most this many a transaction (it may go
 * one range past it; recent_entries bounds a range, conf.c).
 */
#define FLUSH_MAX_ENTRIES	32768

void
store_tier_mark_name(char *buf, size_t len, unsigned r)
{
	snprintf(buf, len, "flush:%02x", r);
}

uint64_t
store_tier_size(const struct store *st)
{
	return (memtier_index_count(st->mt) + memtier_link_count(st->mt));
}

/*
 * Record that the party's account carries each of its other identities,
 * in the recent tier. The newest state of a link is the tier's when it
 * has one, else LMDB's. A link's last_ts moves only by LINK_TOUCH_MS or
 * more.
 */
static int
put_links(struct store_txn *t, const struct rg_event *ev,
    const struct party *p)
{
	const struct rg_hash	*acct = &p->h[ENT_ACCOUNT];
	const struct store_link	*ml;
	struct store_link	 l;
	struct store_link_acct	 la = { NULL, false };
	uint8_t			 key[LINK_KEY_LEN];
	unsigned		 kind;
	int			 rc;

	if (!PARTY_HAS(p, ENT_ACCOUNT))
		return (0);
	for (kind = 1; kind < ENT__MAX; kind++) {
		if (kind == ENT_ACCOUNT || !PARTY_HAS(p, kind))
			continue;
		if ((ml = memtier_link_get(t->st->mt, acct, kind, &p->h[kind]))
		    != NULL)
			l = *ml;
		else {
			store_link_key(key, acct, kind, &p->h[kind]);
			if ((rc = store_link_acct_get(&la, t, key, &l)) < 0) {
				store_link_acct_end(&la);
				return (-1);
			}
			if (rc == 1) {
				l.kind = kind;
				l.h = p->h[kind];
				l.first_ts = ev->ts;
				l.first_seq = ev->seq;
				l.last_ts = ev->ts;
				memtier_link_set(t->st->mt, acct, &l);
				continue;
			}
		}
		if (ev->ts < l.last_ts + LINK_TOUCH_MS)
			continue;
		l.last_ts = ev->ts;
		memtier_link_set(t->st->mt, acct, &l);
	}
	store_link_acct_end(&la);
	return (0);
}

/*
 * An event's index entries and links, into the recent tier. When
 * replaying events (have: st->derived), the ranges that have the event
 * already (in LMDB or the tier) are skipped.
 */
static int
derive(struct store_txn *t, const struct rg_event *ev, const uint64_t *have)
{
	struct store		*st = t->st;
	struct store_ent	 ents[STORE_EVENT_ENTS_MAX];
	struct store_ent_keys	 keys;
	const struct party	*p;
	size_t			 n, i;

	n = store_event_ents(t->st, ev, ents, &keys);
	for (i = 0; i < n; i++) {
		if (have != NULL && ev->seq <= have[MT_RANGE(ents[i].h)])
			continue;
		memtier_index_add(st->mt, ents[i].kind, ents[i].h, ev->ts,
		    ev->seq, ev->type, ents[i].roles);
	}
	for (i = 0; i < ev->nparties; i++) {
		p = &ev->party[i];
		if (have != NULL && PARTY_HAS(p, ENT_ACCOUNT) &&
		    ev->seq <= have[MT_RANGE(&p->h[ENT_ACCOUNT])])
			continue;
		if (put_links(t, ev, p) != 0)
			return (-1);
	}
	return (0);
}

int
store_tier_derive(struct store_txn *t, const struct rg_event *ev)
{
	return (derive(t, ev, NULL));
}

/*
 * Put identity key's entries e[n] (seq order) as duplicates through cur.
 * Those past its last stored entry (all of them, unless events came with
 * earlier times) are appended (MDB_APPENDDUP): full pages instead of the
 * half-full ones that in-order inserts leave after each split. 0, or an
 * LMDB error.
 */
static int
index_put_ident(MDB_cursor *cur, const uint8_t *key,
    const struct memtier_ent *e, uint32_t n)
{
	uint8_t		 last[INDEX_VAL_LEN], d[INDEX_VAL_LEN];
	MDB_val		 k = store_db_val(key, INDEX_KEY_LEN), v;
	uint32_t	 j;
	bool		 have = false;
	int		 rc;

	rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
	if (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST_DUP)) == 0 &&
	    v.mv_size == INDEX_VAL_LEN) {
		memcpy(last, v.mv_data, INDEX_VAL_LEN);
		have = true;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (rc);
	for (j = 0; j < n; j++) {
		store_index_val(d, e[j].ts, e[j].seq, e[j].type, e[j].roles);
		k = store_db_val(key, INDEX_KEY_LEN);
		v = store_db_val(d, INDEX_VAL_LEN);
		if (!have || memcmp(d, last, INDEX_VAL_LEN) > 0) {
			rc = mdb_cursor_put(cur, &k, &v, MDB_APPENDDUP);
			memcpy(last, d, INDEX_VAL_LEN);
			have = true;
		} else
			rc = mdb_cursor_put(cur, &k, &v, 0);
		if (rc != 0)
			return (rc);
	}
	return (0);
}

/*
 * Put link l of account through cur: a new duplicate, or in place of
 * the link's older state (the same kind and hash sort it to the same
 * place). 0, or an LMDB error.
 */
static int
link_put(MDB_cursor *cur, const struct rg_hash *account,
    const struct store_link *l)
{
	uint8_t	key[LINK_KEY_LEN], dup[LINK_DUP_LEN];
	MDB_val	k, v;
	int	rc;

	store_link_key(key, account, l->kind, &l->h);
	rc = store_link_seek(cur, key, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (rc);
	store_link_encode(dup, l);
	if (rc == 0 && k.mv_size == RG_HASH_LEN && v.mv_size == LINK_DUP_LEN &&
	    memcmp(k.mv_data, key, RG_HASH_LEN) == 0 &&
	    memcmp(v.mv_data, key + RG_HASH_LEN, LINK_ID_LEN) == 0) {
		k = store_db_val(key, RG_HASH_LEN);
		v = store_db_val(dup, sizeof(dup));
		return (mdb_cursor_put(cur, &k, &v, MDB_CURRENT));
	}
	k = store_db_val(key, RG_HASH_LEN);
	v = store_db_val(dup, sizeof(dup));
	return (mdb_cursor_put(cur, &k, &v, 0));
}

/*
 * In a nested transaction: when the map is full at map_max the batch
 * itself is still committed and the range waits.
 */
int
store_tier_flush_range(struct store_txn *t, unsigned r)
{
	struct store		 *st = t->st;
	struct memtier_ident	**ids;
	struct memtier_acct	**accts;
	struct store_db_txn	  c;
	uint8_t			  key[INDEX_KEY_LEN];
	uint8_t			  mark[8];
	char			  name[16];
	size_t			  ni, na, i, n = 0;
	uint32_t		  j;
	MDB_cursor		 *cur;
	MDB_val			  k, v;
	int			  rc = 0;

	if (t->fl[r])
		return (-1);		/* once per transaction */
	if (store_db_child(&t->db, &c) != 0)
		return (-1);
	memtier_range(st->mt, r, &ids, &ni, &accts, &na);
	if ((cur = store_db_cursor(&c, st->index)) != NULL) {
		for (i = 0; i < ni && rc == 0; i++) {
			store_index_key(key, ids[i]->kind, &ids[i]->h);
			rc = index_put_ident(cur, key, ids[i]->e, ids[i]->n);
			n += ids[i]->n;
		}
		store_db_cursor_end(&c, cur, rc, "index flush");
	}
	if ((cur = store_db_cursor(&c, st->links)) != NULL) {
		for (i = 0; i < na && rc == 0; i++)
			for (j = 0; j < accts[i]->n && rc == 0; j++)
				rc = link_put(cur, &accts[i]->account,
				    &accts[i]->l[j]);
		store_db_cursor_end(&c, cur, rc, "index flush");
	}
	store_tier_mark_name(name, sizeof(name), r);
	be_put(mark, t->next_seq, 8);
	k = store_db_val(name, strlen(name));
	v = store_db_val(mark, 8);
	store_db_put(&c, st->meta, &k, &v, 0, "index flush");
	if ((rc = store_db_child_end(&c)) == MDB_MAP_FULL && !c.grow)
		return (-1);		/* at map_max: keep the batch */
	if (rc == MDB_TXN_FULL) {
		/*
		 * The batch and this range together dirty more pages than
		 * one transaction may: the range waits for a smaller batch,
		 * the batch is committed.
		 */
		if (__atomic_fetch_add(&st->flush_txn_full, 1,
		    __ATOMIC_RELAXED) % 1000 == 0)
			log_warn("store: a range of the recent tier waits: "
			    "flushing it with this batch would dirty too many "
			    "pages for one transaction (%" PRIu64 " times)",
			    st->flush_txn_full);
		return (-1);
	}
	if (rc != 0)
		return (store_db_fail(&t->db, rc, "index flush"));
	memtier_range_flushed(st->mt, r);
	t->fl[r] = true;
	t->fl_mark[r] = t->next_seq;
	t->nfl++;
	__atomic_fetch_add(&st->flushes, 1, __ATOMIC_RELAXED);
	st->flushed_entries += n;
	return (0);
}

/*
 * Ranges in turn while the tier is over its budget (at least twice what
 * this transaction added, so that it shrinks back), and any range not
 * flushed for FLUSH_INTERVAL_US (so the replay after a crash stays short).
 */
void
store_tier_flush(struct store_txn *t)
{
	struct store	*st = t->st;
	uint64_t	 now = mono_us(), size, added, goal, flushed = 0;
	unsigned	 r;
	size_t		 n;
	bool		 over;

	size = store_tier_size(st);
	added = size > t->memtier_begin ? size - t->memtier_begin : 0;
	goal = 2 * added;
	if (goal < st->recent_max / FLUSH_MIN_SHARE)
		goal = st->recent_max / FLUSH_MIN_SHARE;
	if (goal > FLUSH_MAX_ENTRIES)
		goal = FLUSH_MAX_ENTRIES;
	for (n = 0; n < MT_RANGES && t->db.ret == 0; n++) {
		r = st->rot;
		size = store_tier_size(st);
		over = size > st->recent_max && flushed < goal;
		if (!over && now < st->flush_due[r])
			break;
		if (!t->fl[r] && store_tier_flush_range(t, r) != 0)
			break;
		flushed += size - store_tier_size(st);
		st->flush_due[r] = now + FLUSH_INTERVAL_US;
		st->rot = (r + 1) % MT_RANGES;
	}
}

static int
replay_cb(void *arg, const struct rg_event *ev)
{
	struct store_txn	*t = arg;

	return (derive(t, ev, t->st->derived) != 0);
}

/*
 * Replay the events up to last into the tier, in t: each range r takes
 * the entries of the events after st->derived[r]. Then every range is
 * derived up to last. 0, or -1 (the cause in t).
 */
static int
replay(struct store_txn *t, uint64_t last)
{
	struct store	*st = t->st;
	uint64_t	 from = UINT64_MAX;
	unsigned	 r;
	int		 rc = 0;

	for (r = 0; r < MT_RANGES; r++)
		if (st->derived[r] < from)
			from = st->derived[r];
	if (from < last)
		rc = store_scan_events(t, from + 1, last, replay_cb, t);
	memtier_commit(st->mt);
	for (r = 0; rc == 0 && r < MT_RANGES; r++)
		if (st->derived[r] < last)
			st->derived[r] = last;
	return (rc);
}

/*
 * From the events past the oldest flush mark: what was in memory when the
 * last process ended.
 */
int
store_tier_rebuild(struct store *st, char **cause)
{
	struct store_txn	*t;
	uint64_t		 from = UINT64_MAX, now = mono_us();
	unsigned		 r;
	int			 rc;

	for (r = 0; r < MT_RANGES; r++) {
		st->derived[r] = st->flushed[r];
		if (st->flushed[r] < from)
			from = st->flushed[r];
		/* Staggered, so that ranges come due one at a time. */
		st->flush_due[r] = now + FLUSH_INTERVAL_US * (r + 1) /
		    MT_RANGES;
	}
	if (from >= st->last_seq)
		return (0);
	if ((t = store_begin(st, false, cause)) == NULL)
		return (-1);
	rc = replay(t, st->last_seq);
	if (rc != 0)
		xasprintf(cause, "%s", store_txn_errstr(t));
	store_abort(t);
	if (rc == 0)
		log_info("store: recent index rebuilt from %llu events",
		    (unsigned long long)(st->last_seq - from));
	return (rc);
}

/*
 * A read-only store, at the start of each transaction: bring its own tier
 * in step with what the writer (the daemon, in another process) has
 * committed as of t's snapshot. The writer appends events and flushes
 * ranges of its tier to LMDB all the time; its tier is not visible here,
 * but the events and the flush marks are. A range whose mark moved has
 * in LMDB now what this tier held of it: drop it, and take its entries
 * of the events after the new mark again; every range takes those of the
 * events appended since the last call. The first call builds the tier,
 * as store_tier_rebuild() does at the daemon's start.
 */
int
store_tier_sync(struct store_txn *t, char **cause)
{
	struct store	*st = t->st;
	MDB_cursor	*c;
	MDB_val		 k, v;
	char		 name[16];
	uint64_t	 last = 0, mark;
	unsigned	 r;
	int		 rc;

	if ((c = store_db_cursor(&t->db, st->events)) == NULL)
		goto fail;
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == 0 && k.mv_size == 8)
		last = be_get(k.mv_data, 8);
	else if (rc != 0 && rc != MDB_NOTFOUND) {
		store_db_fail(&t->db, rc, "events last");
		goto fail;
	}
	for (r = 0; r < MT_RANGES; r++) {
		store_tier_mark_name(name, sizeof(name), r);
		k = store_db_val(name, strlen(name));
		if ((rc = store_db_get(&t->db, st->meta, &k, &v,
		    "flush mark")) < 0)
			goto fail;
		/* None: a store from before the tier, all in LMDB. */
		mark = rc == 0 && v.mv_size == 8 ? be_get(v.mv_data, 8) : last;
		if (st->ro_synced && mark == st->flushed[r])
			continue;
		memtier_range_flushed(st->mt, r);
		st->flushed[r] = mark;
		st->derived[r] = mark;
	}
	st->ro_synced = true;
	if (replay(t, last) != 0)
		goto fail;
	if (last > st->last_seq)
		st->last_seq = last;
	return (0);
fail:
	/* Empty the tier: the next transaction builds it again. */
	memtier_commit(st->mt);
	for (r = 0; r < MT_RANGES; r++)
		memtier_range_flushed(st->mt, r);
	memtier_commit(st->mt);
	st->ro_synced = false;
	xasprintf(cause, "bring the recent index up to date: %s",
	    store_txn_errstr(t));
	return (-1);
}

/* So that the next open has nothing to rebuild; failing costs that. */
void
store_tier_flush_all(struct store *st)
{
	struct store_txn	*t;
	char			*cause = NULL;
	unsigned		 r, i;
	enum store_err		 err;

	if (st->readonly || store_tier_size(st) == 0)
		return;
	/* Sixteen ranges a transaction, so that none dirties too much. */
	for (r = 0; r < MT_RANGES;) {
		if ((t = store_begin(st, true, &cause)) == NULL)
			break;
		for (i = r; i < r + 16 && t->db.ret == 0; i++)
			store_tier_flush_range(t, i);
		if (store_commit(t, &err, &cause) == 0) {
			r += 16;
			continue;
		}
		if (err != STORE_MAP_GROW || store_grow(st) != 0)
			break;
		free(cause);
		cause = NULL;
	}
	if (r >= MT_RANGES)
		return;
	log_warn("store: the recent index stays to be rebuilt at the next "
	    "start error=%s", cause != NULL ? cause : "unknown");
	free(cause);
}
