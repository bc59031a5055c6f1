/* test_store.c: the LMDB store, and verdict records on top of it. */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>

#include "analyst.h"
#include "backtest.h"
#include "ident.h"
#include "memtier.h"
#include "req.h"
#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "store_aux.h"
#include "store_db.h"
#include "store_xshape.h"
#include "util.h"
#include "verdict.h"
#include "verdict_list.h"
#include "daily.h"
#include "export.h"

#include "unit.h"

#define T0	1795428000000LL		/* 2026-11-23T10:00:00Z */
#define MIB	(1024 * 1024)

static char		 tmpdir[] = "/tmp/rg-store.XXXXXX";
static char		 dir[300];
static int		 ntest;
static struct store	*st;

/* A fresh directory dir under tmpdir. */
static void
freshdir(void)
{
	snprintf(dir, sizeof(dir), "%s/s%d-%d", tmpdir, (int)getpid(), ntest++);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
}

/* A fresh directory (and store) for each test. */
static void
setup(void)
{
	freshdir();
	st = unit_store(dir, 4 * MIB, 64 * MIB);
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
}

/*
 * The store's environment opened with LMDB alone (as an older refguard
 * or a damaged disk would leave it), and a transaction on it.
 */
static void
raw_begin(bool rdonly, MDB_env **env, MDB_txn **txn)
{
	unsigned	flags = rdonly ? MDB_RDONLY : 0;

	ck_assert_int_eq(mdb_env_create(env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(*env, 32), 0);
	ck_assert_int_eq(mdb_env_open(*env, dir, flags, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(*env, NULL, flags, txn), 0);
}

static struct store_txn *
begin(bool write)
{
	struct store_txn	*t;
	char			*cause = NULL;

	t = store_begin(st, write, &cause);
	ck_assert_msg(t != NULL, "store_begin: %s", cause);
	return (t);
}

static void
commit(struct store_txn *t)
{
	char	*cause = NULL;

	ck_assert_msg(store_commit(t, NULL, &cause) == 0, "commit: %s", cause);
}

/*
 * fn(t, arg) in a read transaction on a thread of its own, whose caches
 * (explain shapes, the rules memo) start empty: what another reader
 * finds in the store alone.
 */
struct fresh_arg {
	void	(*fn)(struct store_txn *, void *);
	void	*arg;
};

static void *
fresh_main(void *p)
{
	struct fresh_arg	*f = p;
	struct store_txn	*t = begin(false);

	f->fn(t, f->arg);
	store_abort(t);
	return (NULL);
}

static void
on_fresh_thread(void (*fn)(struct store_txn *, void *), void *arg)
{
	struct fresh_arg	 f = { fn, arg };
	pthread_t		 th;

	ck_assert_int_eq(pthread_create(&th, NULL, fresh_main, &f), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
}

static struct rg_hash
H(uint8_t x)
{
	struct rg_hash	h;

	memset(h.b, x, sizeof(h.b));
	return (h);
}

static void
setent(struct party *p, enum ent_kind k, uint8_t x)
{
	p->h[k] = H(x);
	p->have |= 1u << k;
}

/* An observe event of account acct with IP ip. */
static void
mkobs(struct rg_event *ev, uint8_t type, int64_t ts, uint8_t acct, uint8_t ip)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->ts = ts;
	ev->nparties = 1;
	setent(&ev->party[0], ENT_ACCOUNT, acct);
	if (ip != 0)
		setent(&ev->party[0], ENT_IP, ip);
}

/* A referral from account a to account b, both on IP ip. */
static void
mkref(struct rg_event *ev, const char *rid, int64_t ts, uint8_t a, uint8_t b,
    uint8_t ip)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = EV_REFERRAL;
	ev->ts = ts;
	ev->idlen = strlen(rid);
	memcpy(ev->id, rid, ev->idlen);
	ev->nparties = 2;
	setent(&ev->party[0], ENT_ACCOUNT, a);
	setent(&ev->party[1], ENT_ACCOUNT, b);
	setent(&ev->party[0], ENT_IP, ip);
	setent(&ev->party[1], ENT_IP, ip);
	ev->has_edge = true;
	ev->edge = H((uint8_t)(a ^ b));
}

static uint64_t
put(struct store_txn *t, struct rg_event *ev)
{
	ck_assert_msg(store_put_event(t, ev) == 0, "put: %s",
	    store_txn_errstr(t));
	return (ev->seq);
}

/* n logins of account acct on address ip at ts0, ts0 + step, ...: the
 * last seq. */
static uint64_t
put_run(struct store_txn *t, int n, int64_t ts0, int64_t step, uint8_t acct,
    uint8_t ip)
{
	struct rg_event	ev;
	uint64_t	seq = 0;
	int		i;

	for (i = 0; i < n; i++) {
		mkobs(&ev, EV_LOGIN, ts0 + i * step, acct, ip);
		seq = put(t, &ev);
	}
	return (seq);
}

static int64_t
count(struct store_txn *t, enum ent_kind k, uint8_t h, uint32_t types,
    uint32_t roles, int64_t from, int64_t to, uint64_t max_seq,
    uint64_t limit)
{
	struct rg_hash	hh = H(h);
	int64_t		n;

	n = store_count(t, k, &hh, types, roles, from, to, max_seq, limit);
	ck_assert_int_ge(n, 0);
	return (n);
}

/* store_first of IP h: the seq of the oldest entry, 0 when none. */
static uint64_t
first(struct store_txn *t, uint8_t h, int64_t to, uint64_t max_seq,
    int64_t *ts)
{
	struct store_entry	e;
	struct rg_hash		hh = H(h);
	int			r;

	r = store_first(t, ENT_IP, &hh, to, max_seq, &e);
	ck_assert_msg(r == 0 || r == 1, "store_first: %s",
	    store_txn_errstr(t));
	if (r == 1)
		return (0);
	if (ts != NULL)
		*ts = e.ts;
	return (e.seq);
}

/* store_expire, or fail the test with the transaction's error. */
static int64_t
expire(struct store_txn *t, int64_t before, size_t max)
{
	int64_t	n = store_expire(t, before, max);

	ck_assert_msg(n >= 0, "store_expire: %s", store_txn_errstr(t));
	return (n);
}

static struct store_stat
stat_of(void)
{
	struct store_stat	 s;
	char			*cause = NULL;

	ck_assert_msg(store_stat(st, &s, &cause) == 0, "stat: %s", cause);
	return (s);
}

/*
 * store_sweep() passes of max keys, each committed, to the end of the
 * cycle the first begins (fewer than passes of them).
 */
static void
sweep_all(size_t max, int passes)
{
	struct store_txn	*t;
	int			 pass;

	for (pass = 0; pass == 0 || stat_of().index_sweeping; pass++) {
		ck_assert_int_lt(pass, passes);
		t = begin(true);
		ck_assert_int_ge(store_sweep(t, max), 0);
		commit(t);
	}
}

/* ---- the recent tier (memtier.h) --------------------------------------- */

static struct store *
open_recent(uint64_t recent_max)
{
	return (unit_store_recent(dir, 4 * MIB, 64 * MIB, recent_max));
}

struct order_arg {
	int64_t		last_ts;
	uint64_t	last_seq;
	int		n;
	bool		newest_first;
	bool		sorted;
};

static int
order_cb(void *arg, const struct store_entry *e)
{
	struct order_arg	*a = arg;

	if (a->n > 0) {
		bool after = e->ts > a->last_ts ||
		    (e->ts == a->last_ts && e->seq > a->last_seq);

		if (after == a->newest_first)
			a->sorted = false;
	}
	a->last_ts = e->ts;
	a->last_seq = e->seq;
	a->n++;
	return (0);
}

static int
nlinks_cb(void *arg, const struct store_link *l)
{
	(*(int *)arg)++;
	return (0);
}

/*
 * The same history, whichever tier holds it: counts, time order of scans
 * and links after every commit, as of a past seq, after a reopen (the
 * tier rebuilt from the events) and after an abort.
 */
static void
check_history(int nev, uint64_t mid_seq, int mid_n)
{
	struct store_txn	*t = begin(false);
	struct order_arg	 oa;
	struct rg_hash		 hh = H(3), acct = H(1);
	int			 ip, want, nl = 0;
	int64_t			 n;

	for (ip = 1; ip <= 5; ip++) {
		want = nev / 5 + (ip <= nev % 5);
		n = count(t, ENT_IP, (uint8_t)ip, EV_MASK_ANY, ROLE_ANY,
		    0, INT64_MAX, 0, 0);
		ck_assert_int_eq(n, want);
		ck_assert_int_eq(count(t, ENT_IP, (uint8_t)ip, EV_MASK_ANY,
		    ROLE_ANY, 0, INT64_MAX, 0, 2), want < 2 ? want : 2);
	}
	if (mid_seq != 0)
		ck_assert_int_eq(count(t, ENT_IP, 3, EV_MASK_ANY, ROLE_ANY, 0,
		    INT64_MAX, mid_seq, 0), mid_n);
	/* The oldest entry of IP 3 (put_logins: i % 5 == 2), whole and as
	 * of mid_seq, whichever tier holds it. */
	for (int m = 0; m < 2; m++) {
		int	lim = m == 0 ? nev : (int)mid_seq, i, best = -1;
		int64_t	fts = 0, bts = 0;

		if (m == 1 && mid_seq == 0)
			break;
		for (i = 2; i < lim && i < nev; i += 5)
			if (best < 0 || T0 + (i % 13) * 1000 + i < bts) {
				best = i;
				bts = T0 + (i % 13) * 1000 + i;
			}
		ck_assert_uint_eq(first(t, 3, INT64_MAX, m == 0 ? 0 : mid_seq,
		    &fts), (uint64_t)best + 1);
		ck_assert_int_eq(fts, bts);
	}
	for (int nf = 0; nf < 2; nf++) {
		memset(&oa, 0, sizeof(oa));
		oa.sorted = true;
		oa.newest_first = nf;
		ck_assert_int_eq(store_scan(t, ENT_IP, &hh, EV_MASK_ANY,
		    ROLE_ANY, 0, INT64_MAX, 0, nf, order_cb, &oa), 0);
		ck_assert_int_eq(oa.n, nev / 5 + (3 <= nev % 5));
		ck_assert_msg(oa.sorted, "scan out of order (newest_first %d)",
		    nf);
	}
	/* Account 1 (i % 7 == 0) carried every IP it was seen on. */
	ck_assert_int_eq(store_link_scan(t, &acct, ENT_IP, 0, nlinks_cb, &nl),
	    0);
	ck_assert_int_eq(nl, nev > 28 ? 5 : (nev + 6) / 7 < 5 ?
	    (nev + 6) / 7 : 5);
	store_abort(t);
}

static void
put_logins(int from, int to)
{
	struct store_txn	*t = begin(true);
	struct rg_event		 ev;
	int			 i;

	for (i = from; i < to; i++) {
		/* Out of time order now and then: the index sorts by ts. */
		mkobs(&ev, EV_LOGIN, T0 + (i % 13) * 1000 + i,
		    (uint8_t)(i % 7 + 1), (uint8_t)(i % 5 + 1));
		put(t, &ev);
		if (i % 10 == 9) {
			commit(t);
			t = begin(true);
		}
	}
	commit(t);
}

START_TEST(test_recent_tier)
{
	struct store_txn	*t;
	struct store_stat	 ss;
	int			 i, mid_n = 0, status;
	uint64_t		 mid_seq = 95;
	pid_t			 pid;

	store_close(st);
	for (i = 0; i < 95; i++)
		mid_n += i % 5 + 1 == 3;
	/* A tiny budget: every commit flushes ranges. */
	st = open_recent(4);
	for (i = 0; i < 200; i += 20) {
		put_logins(i, i + 20);
		check_history(i + 20, i + 20 >= 95 ? mid_seq : 0, mid_n);
	}
	ss = stat_of();
	ck_assert_uint_gt(ss.recent_flushes, 0);
	ck_assert_uint_eq(ss.index_entries, 400);	/* account + ip */

	/*
	 * A large budget: nothing flushed. A process that dies without
	 * closing (a child that _exits) leaves the tier to be rebuilt from
	 * the events at the next open.
	 */
	store_close(st);
	st = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		st = open_recent(1u << 20);
		put_logins(200, 300);
		ss = stat_of();
		if (ss.recent_entries == 0)
			_exit(2);
		check_history(300, mid_seq, mid_n);
		_exit(0);		/* a crash: no store_close() */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %d", status);
	st = open_recent(1u << 20);
	ss = stat_of();
	ck_assert_uint_gt(ss.recent_entries, 0);
	ck_assert_uint_eq(ss.index_entries, 600);
	check_history(300, mid_seq, mid_n);
	/* A clean close writes the tier out: nothing to rebuild. */
	store_close(st);
	st = open_recent(1u << 20);
	ss = stat_of();
	ck_assert_uint_eq(ss.recent_entries, 0);
	ck_assert_uint_eq(ss.index_entries, 600);
	check_history(300, mid_seq, mid_n);

	/* An aborted transaction leaves both tiers as they were, even
	 * after retention flushed every range inside it. */
	t = begin(true);
	{
		struct rg_event	ev;

		mkobs(&ev, EV_LOGIN, T0, 1, 3);
		put(t, &ev);
	}
	ck_assert_int_gt(expire(t, T0 + 5000, 1000), 0);
	store_abort(t);
	check_history(300, mid_seq, mid_n);
	ck_assert_uint_eq(stat_of().index_entries, 600);

	/* Retention takes events still in the recent tier too. */
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 1000000, 1000), 300);
	commit(t);
	ss = stat_of();
	ck_assert_uint_eq(ss.events, 0);
	ck_assert_uint_eq(ss.index_entries, 0);
}
END_TEST

/*
 * A step of the writer in test_readonly_tier: say it is done (ready),
 * then wait for the reader to say go; the reader gone, exit.
 */
static void
writer_step(int ready, int go)
{
	char	c = 1;

	if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1)
		_exit(3);
}

/* The writer's tier holds entries: what the test is about. */
static void
writer_has_recent(void)
{
	struct store_stat	 ss;
	char			*cause = NULL;

	if (store_stat(st, &ss, &cause) != 0 || ss.recent_entries == 0)
		_exit(2);
}

/* The reader's side of a step: go on, then wait until the writer is done. */
static void
reader_step(int go, int ready)
{
	char	c = 1;

	ck_assert_int_eq(write(go, &c, 1), 1);
	ck_assert_int_eq(read(ready, &c, 1), 1);
}

/* The link (account acct, ip) as a transaction sees it as of max_seq. */
struct view_seen {
	uint8_t		ip;
	bool		found;
	int64_t		last_ts;
};

static int
view_link_cb(void *arg, const struct store_link *l)
{
	struct view_seen	*vs = arg;

	if (l->kind == ENT_IP && l->h.b[0] == vs->ip) {
		vs->found = true;
		vs->last_ts = l->last_ts;
	}
	return (0);
}

static struct view_seen
view_link(struct store_txn *t, uint8_t acct, uint8_t ip, uint64_t max_seq)
{
	struct view_seen	vs = { ip, false, 0 };
	struct rg_hash		a = H(acct);

	ck_assert_int_eq(store_link_scan(t, &a, ENT_IP, max_seq, view_link_cb,
	    &vs), 0);
	return (vs);
}

/*
 * A view (store_begin_view()) sees what the write transaction sees as of
 * each event: the run's events, which a read transaction cannot, and
 * each link as it was before a later event of the run added or moved it.
 */
/*
 * The tier remembers whether LMDB holds an identity's entries (most
 * identities it holds have none there): the answer must hold through
 * windows that miss LMDB's entries, both scan orders, and aborts
 * (test_recent_tier asks between flushes).
 */
START_TEST(test_tier_disk_answer)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	int			 nf;

	store_close(st);
	st = open_recent(1u << 20);
	/* Account 1 on IP 9: in the tier only. */
	t = begin(true);
	put_run(t, 3, T0, 1000, 1, 9);
	commit(t);
	t = begin(false);
	ck_assert_int_eq(count(t, ENT_IP, 9, EV_MASK_ANY, ROLE_ANY, 0,
	    INT64_MAX, 0, 0), 3);
	ck_assert_uint_eq(first(t, 9, INT64_MAX, 0, NULL), 1);
	store_abort(t);
	/* Into LMDB (a clean close writes the tier out); two more in it. */
	store_close(st);
	st = open_recent(1u << 20);
	ck_assert_uint_eq(stat_of().recent_entries, 0);
	t = begin(true);
	put_run(t, 2, T0 + 10000, 1000, 1, 9);
	/* A window past LMDB's entries first: it finds none of them. */
	ck_assert_int_eq(count(t, ENT_IP, 9, EV_MASK_ANY, ROLE_ANY,
	    T0 + 10000, INT64_MAX, 0, 0), 2);
	ck_assert_int_eq(count(t, ENT_IP, 9, EV_MASK_ANY, ROLE_ANY, 0,
	    INT64_MAX, 0, 0), 5);
	commit(t);
	t = begin(false);
	ck_assert_uint_eq(first(t, 9, INT64_MAX, 0, NULL), 1);
	for (nf = 0; nf < 2; nf++) {
		struct order_arg	oa;
		struct rg_hash		hh = H(9);

		memset(&oa, 0, sizeof(oa));
		oa.sorted = true;
		oa.newest_first = nf;
		ck_assert_int_eq(store_scan(t, ENT_IP, &hh, EV_MASK_ANY,
		    ROLE_ANY, 0, INT64_MAX, 0, nf, order_cb, &oa), 0);
		ck_assert_int_eq(oa.n, 5);
		ck_assert(oa.sorted);
	}
	store_abort(t);
	/* A new identity asked about in a transaction that is undone. */
	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0 + 20000, 2, 10);
	put(t, &ev);
	ck_assert_int_eq(count(t, ENT_IP, 10, EV_MASK_ANY, ROLE_ANY, 0,
	    INT64_MAX, 0, 0), 1);
	store_abort(t);
	t = begin(false);
	ck_assert_int_eq(count(t, ENT_IP, 10, EV_MASK_ANY, ROLE_ANY, 0,
	    INT64_MAX, 0, 0), 0);
	ck_assert_int_eq(count(t, ENT_IP, 9, EV_MASK_ANY, ROLE_ANY, 0,
	    INT64_MAX, 0, 0), 5);
	store_abort(t);
	/* Reopened: the tier rebuilt, every answer asked again. */
	store_close(st);
	st = open_recent(1u << 20);
	t = begin(false);
	ck_assert_int_eq(count(t, ENT_IP, 9, EV_MASK_ANY, ROLE_ANY, 0,
	    INT64_MAX, 0, 0), 5);
	store_abort(t);
}
END_TEST

START_TEST(test_view)
{
	const int64_t		 HR = 3600 * 1000LL;
	struct store_txn	*t, *vt;
	struct store_view	*v;
	struct rg_event		 ev, got;
	struct view_seen	 vs;
	uint64_t		 s1, s2, s3, s4;
	char			*cause = NULL;

	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0, 1, 9);		/* the link (1, ip 9) */
	put(t, &ev);
	commit(t);
	/* Written out at close: the link in LMDB, not in the tier. */
	store_close(st);
	st = unit_store(dir, 4 * MIB, 64 * MIB);

	t = begin(true);
	ck_assert_ptr_nonnull(v = store_view_new(t));
	mkobs(&ev, EV_LOGIN, T0 + 10 * HR, 3, 7);
	s1 = put(t, &ev);
	ck_assert_int_eq(store_view_add(v, &ev), 0);
	mkobs(&ev, EV_LOGIN, T0 + 11 * HR, 1, 9);	/* into the tier */
	s2 = put(t, &ev);
	ck_assert_int_eq(store_view_add(v, &ev), 0);
	mkobs(&ev, EV_LOGIN, T0 + 12 * HR, 1, 8);	/* a new link */
	s3 = put(t, &ev);
	ck_assert_int_eq(store_view_add(v, &ev), 0);
	mkobs(&ev, EV_LOGIN, T0 + 14 * HR, 1, 9);	/* moved again */
	s4 = put(t, &ev);
	ck_assert_int_eq(store_view_add(v, &ev), 0);
	store_view_seal(v);

	vt = store_begin_view(st, v, &cause);
	ck_assert_msg(vt != NULL, "store_begin_view: %s", cause);
	/* The run's events, from the view; LMDB's read snapshot has none. */
	ck_assert_int_eq(store_get_event(vt, s3, &got), 0);
	ck_assert_int_eq(got.ts, T0 + 12 * HR);
	ck_assert_int_eq(store_get_event(vt, s4 + 1, &got), 1);
	/* (1, ip 9): LMDB's state, then the tier's first and second. */
	vs = view_link(vt, 1, 9, s1);
	ck_assert(vs.found);
	ck_assert_int_eq(vs.last_ts, T0);
	vs = view_link(vt, 1, 9, s2);
	ck_assert_int_eq(vs.last_ts, T0 + 11 * HR);
	vs = view_link(vt, 1, 9, s3);
	ck_assert_int_eq(vs.last_ts, T0 + 11 * HR);
	vs = view_link(vt, 1, 9, s4);
	ck_assert_int_eq(vs.last_ts, T0 + 14 * HR);
	vs = view_link(vt, 1, 9, 0);
	ck_assert_int_eq(vs.last_ts, T0 + 14 * HR);
	/* (1, ip 8) from s3 on. */
	ck_assert(!view_link(vt, 1, 8, s2).found);
	ck_assert(view_link(vt, 1, 8, s3).found);
	{
		struct rg_hash	a = H(1), ip9 = H(9);
		uint64_t	fs = 0;

		ck_assert_int_eq(store_link_get(vt, &a, ENT_IP, &ip9, s1, &fs,
		    NULL), 0);
		ck_assert_uint_eq(fs, 1);
	}
	store_abort(vt);
	/* The write transaction itself sees the links as they are now. */
	vs = view_link(t, 1, 9, s1);
	ck_assert_int_eq(vs.last_ts, T0 + 14 * HR);
	store_abort(t);
	store_view_free(v);
}
END_TEST

/*
 * A read-only store (a backtest, an export) next to a writer in another
 * process (the daemon), whose recent tier it cannot see: every
 * transaction sees exactly the history the writer has committed, while
 * the writer appends events that stay in its tier, flushes some ranges
 * or writes the whole tier out.
 */
START_TEST(test_readonly_tier)
{
	struct store_opts	 o;
	struct store_txn	*t;
	struct store		*ro;
	char			*cause = NULL, c;
	int			 go[2], ready[2], i, mid_n = 0, status;
	uint64_t		 mid_seq = 95;
	pid_t			 pid;

	for (i = 0; i < 95; i++)
		mid_n += i % 5 + 1 == 3;
	store_close(st);
	st = NULL;
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(go[1]);
		close(ready[0]);
		st = open_recent(1u << 20);
		put_logins(0, 100);			/* all in its tier */
		writer_has_recent();
		writer_step(ready[1], go[0]);
		store_close(st);			/* every range flushed */
		st = open_recent(1u << 20);
		writer_step(ready[1], go[0]);
		put_logins(100, 200);			/* in its tier again */
		writer_has_recent();
		writer_step(ready[1], go[0]);
		/* A tiny budget: each commit flushes some ranges. */
		store_close(st);
		st = open_recent(4);
		put_logins(200, 300);
		writer_has_recent();
		if (write(ready[1], "", 1) != 1)
			_exit(3);
		_exit(0);				/* no close: a crash */
	}
	close(go[0]);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);

	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.readonly = true;
	ro = store_open(&o, &cause);
	ck_assert_msg(ro != NULL, "read-only open: %s", cause);
	st = ro;
	check_history(100, mid_seq, mid_n);
	ck_assert_uint_gt(stat_of().recent_entries, 0);
	/* One transaction at a time: its tier follows that one's snapshot. */
	t = begin(false);
	ck_assert_ptr_null(store_begin(st, false, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "one transaction at a time"));
	free(cause);
	cause = NULL;
	store_abort(t);

	reader_step(go[1], ready[0]);		/* the writer flushed it all */
	check_history(100, mid_seq, mid_n);
	ck_assert_uint_eq(stat_of().recent_entries, 0);
	reader_step(go[1], ready[0]);		/* 100 more in its tier */
	check_history(200, mid_seq, mid_n);
	ck_assert_uint_gt(stat_of().recent_entries, 0);
	reader_step(go[1], ready[0]);		/* 100 more, ranges flushed */
	check_history(300, mid_seq, mid_n);
	ck_assert_uint_eq(stat_of().last_seq, 300);

	close(go[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "writer status %d", status);
	/* And after the writer died with entries in its tier. */
	check_history(300, mid_seq, mid_n);
	close(ready[0]);
}
END_TEST

/* ---- schema ---------------------------------------------------------- */

START_TEST(test_schema)
{
	struct store_txn	*t;
	struct store_opts	 o;
	const void		*v;
	size_t			 len;
	char			*cause = NULL;
	static const uint8_t	 newer[4] = { 0, 0, 0, 99 };

	t = begin(false);
	ck_assert_int_eq(store_meta_get(t, "schema", &v, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert(memcmp(v, "\0\0\0\17", 4) == 0);
	ck_assert_int_eq(store_meta_get(t, "nope", &v, &len), 1);
	store_abort(t);

	/* An older refguard refuses a newer store, and says what to do. */
	t = begin(true);
	ck_assert_int_eq(store_meta_put(t, "schema", newer, sizeof(newer)), 0);
	commit(t);
	store_close(st);
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.map_size = 4 * MIB;
	o.nosync = true;
	st = store_open(&o, &cause);
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, dir) != NULL, "%s", cause);
	ck_assert_msg(strstr(cause, "schema 99 is newer") != NULL, "%s", cause);
	ck_assert_msg(strstr(cause, "upgrade") != NULL, "%s", cause);
	free(cause);
	/* Read-only opens refuse it too. */
	o.readonly = true;
	cause = NULL;
	ck_assert_ptr_null(store_open(&o, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "newer"));
	free(cause);
	/* A corrupt schema record. */
	o.readonly = false;
	/* (open without the check is impossible; reuse a fresh dir) */
	freshdir();
	st = unit_store(dir, 4 * MIB, 4 * MIB);
	t = begin(true);
	ck_assert_int_eq(store_meta_put(t, "schema", "\1", 1), 0);
	commit(t);
	store_close(st);
	st = store_open(&o, &cause);
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(strstr(cause, "corrupt"));
	free(cause);
	/* Back to a sane store for teardown. */
	freshdir();
	st = unit_store(dir, 4 * MIB, 4 * MIB);
}
END_TEST

START_TEST(test_open_errors)
{
	struct store_opts	 o;
	char			*cause = NULL;

	memset(&o, 0, sizeof(o));
	o.dir = "/nonexistent/refguard-state";
	o.map_size = 4 * MIB;
	ck_assert_ptr_null(store_open(&o, &cause));
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "/nonexistent/refguard-state"));
	free(cause);
}
END_TEST

/* ---- events and counts ---------------------------------------------- */

START_TEST(test_put_get)
{
	struct store_txn	*t;
	struct rg_event		 ev, back;
	uint64_t		 s1, s2;

	t = begin(true);
	mkref(&ev, "ref-1", T0, 0xa1, 0xb1, 0x11);
	ev.has_reward = true;
	ev.reward_amount = 12.5;
	memcpy(ev.reward_currency, "EUR", 4);
	strcpy(ev.campaign, "spring");
	s1 = put(t, &ev);
	mkobs(&ev, EV_LOGIN, T0 + 1, 0xa1, 0x12);
	s2 = put(t, &ev);
	ck_assert_uint_eq(s1, 1);
	ck_assert_uint_eq(s2, 2);
	commit(t);

	t = begin(false);
	ck_assert_int_eq(store_get_event(t, s1, &back), 0);
	ck_assert_uint_eq(back.seq, s1);
	ck_assert_int_eq(back.type, EV_REFERRAL);
	ck_assert_int_eq(back.ts, T0);
	ck_assert_str_eq(back.id, "ref-1");
	ck_assert_str_eq(back.campaign, "spring");
	ck_assert(back.has_reward && back.reward_amount == 12.5);
	ck_assert_str_eq(back.reward_currency, "EUR");
	ck_assert_int_eq(back.nparties, 2);
	ck_assert(back.has_edge);
	ck_assert(memcmp(back.party[1].h[ENT_ACCOUNT].b, H(0xb1).b, 16) == 0);
	ck_assert_int_eq(store_get_event(t, 3, &back), 1);
	ck_assert_int_eq(store_get_event(t, 0, &back), 1);
	/* A put in a read transaction fails, and the error sticks. */
	ck_assert_int_eq(store_put_event(t, &ev), -1);
	ck_assert_int_eq(store_txn_err(t), STORE_IO);
	ck_assert_ptr_nonnull(strstr(store_txn_errstr(t), "read-only"));
	ck_assert_int_eq(store_get_event(t, s1, &back), -1);
	store_abort(t);

	/* Sequence numbers go on from the last committed one. */
	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0 + 2, 0xa1, 0);
	ck_assert_uint_eq(put(t, &ev), 3);
	store_abort(t);
	t = begin(true);
	ck_assert_uint_eq(put(t, &ev), 3);	/* the aborted 3 is reused */
	commit(t);
	ck_assert_uint_eq(stat_of().last_seq, 3);
	ck_assert_uint_eq(stat_of().events, 3);
}
END_TEST

START_TEST(test_count_windows)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	int			 i;

	/* 10 events of account 0xa1 on IP 0x11, one a second. */
	t = begin(true);
	for (i = 0; i < 10; i++) {
		mkobs(&ev, i % 2 ? EV_SIGNUP : EV_LOGIN, T0 + i * 1000, 0xa1,
		    0x11);
		ck_assert_uint_eq(put(t, &ev), (uint64_t)i + 1);
	}
	/* Another IP, to be sure it is not counted. */
	mkobs(&ev, EV_LOGIN, T0 + 3000, 0xa2, 0x12);
	put(t, &ev);
	commit(t);

	t = begin(false);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 10);
	ck_assert_int_eq(count(t, ENT_IP, 0x12, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 1);
	ck_assert_int_eq(count(t, ENT_IP, 0x13, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 0);
	/* Same hash, other kind: nothing. */
	ck_assert_int_eq(count(t, ENT_EMAIL, 0x11, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 0);
	/* Window edges are inclusive. */
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    T0 + 2000, T0 + 5000, 0, 0), 4);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    T0 + 2001, T0 + 4999, 0, 0), 2);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    T0 + 5000, T0 + 5000, 0, 0), 1);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    T0 + 5000, T0 + 4000, 0, 0), 0);	/* empty window */
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    T0 + 9001, INT64_MAX, 0, 0), 0);
	/* Types. */
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK(EV_LOGIN), ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 5);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK(EV_SIGNUP), ROLE_ANY,
	    T0, T0 + 2999, 0, 0), 1);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK(EV_LOGIN) |
	    EV_MASK(EV_SIGNUP), ROLE_ANY, INT64_MIN, INT64_MAX, 0, 0), 10);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK(EV_REFERRAL),
	    ROLE_ANY, INT64_MIN, INT64_MAX, 0, 0), 0);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, 0, ROLE_ANY, INT64_MIN,
	    INT64_MAX, 0, 0), 0);
	/* Roles: observe events are the subject's. */
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_SUBJECT,
	    INT64_MIN, INT64_MAX, 0, 0), 10);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_REFERRER |
	    ROLE_REFEREE, INT64_MIN, INT64_MAX, 0, 0), 0);
	/* As of a seq. */
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 4, 0), 4);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 1, 0), 1);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK(EV_SIGNUP), ROLE_ANY,
	    T0 + 1000, T0 + 9000, 6, 0), 3);
	/* Early stop at limit. */
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 3), 3);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 1), 1);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 100), 10);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK(EV_SIGNUP), ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 2), 2);
	/* The account index too. */
	ck_assert_int_eq(count(t, ENT_ACCOUNT, 0xa1, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 10);
	store_abort(t);
}
END_TEST

START_TEST(test_referral_roles)
{
	struct store_txn	*t;
	struct rg_event		 ev;

	t = begin(true);
	mkref(&ev, "r-1", T0, 0xa1, 0xb1, 0x11);	/* both on IP 0x11 */
	put(t, &ev);
	commit(t);
	t = begin(false);
	/* One index entry for the shared IP, with both roles. */
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 1);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_REFERRER,
	    INT64_MIN, INT64_MAX, 0, 0), 1);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_REFEREE,
	    INT64_MIN, INT64_MAX, 0, 0), 1);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_SUBJECT,
	    INT64_MIN, INT64_MAX, 0, 0), 0);
	ck_assert_int_eq(count(t, ENT_ACCOUNT, 0xa1, EV_MASK_ANY,
	    ROLE_REFERRER, INT64_MIN, INT64_MAX, 0, 0), 1);
	ck_assert_int_eq(count(t, ENT_ACCOUNT, 0xa1, EV_MASK_ANY,
	    ROLE_REFEREE, INT64_MIN, INT64_MAX, 0, 0), 0);
	ck_assert_int_eq(count(t, ENT_ACCOUNT, 0xb1, EV_MASK_ANY,
	    ROLE_REFEREE, INT64_MIN, INT64_MAX, 0, 0), 1);
	ck_assert_int_eq(count(t, ENT_EDGE, 0xa1 ^ 0xb1, EV_MASK(EV_REFERRAL),
	    ROLE_EVENT, INT64_MIN, INT64_MAX, 0, 0), 1);
	store_abort(t);
	/* account a, account b, ip (merged), edge, b as the referee. */
	ck_assert_uint_eq(stat_of().index_entries, 5);

	/*
	 * A referral's campaign is an event-level key of its own, derived
	 * from the name the record keeps: indexed, and expired with it.
	 */
	{
		struct rg_hash	ck, ck2;

		t = begin(true);
		mkref(&ev, "r-2", T0 + 1000, 0xa2, 0xb2, 0x12);
		snprintf(ev.campaign, sizeof(ev.campaign), "spring");
		ck_assert(rgev_campaign_key(&ev, &ck));
		put(t, &ev);
		mkref(&ev, "r-3", T0 + 2000, 0xa3, 0xb3, 0x13);
		snprintf(ev.campaign, sizeof(ev.campaign), "Spring");
		ck_assert(rgev_campaign_key(&ev, &ck2));
		ck_assert(memcmp(&ck, &ck2, sizeof(ck)) != 0);
		put(t, &ev);
		mkref(&ev, "r-4", T0 + 3000, 0xa4, 0xb4, 0x14);
		snprintf(ev.campaign, sizeof(ev.campaign), "spring");
		put(t, &ev);
		mkobs(&ev, EV_LOGIN, T0 + 4000, 0xa5, 0x15);
		snprintf(ev.campaign, sizeof(ev.campaign), "spring");
		ck_assert(!rgev_campaign_key(&ev, &ck2));
		put(t, &ev);
		commit(t);
		t = begin(false);
		ck_assert_int_eq(store_count(t, ENT_CAMPAIGN, &ck,
		    EV_MASK(EV_REFERRAL), ROLE_EVENT, INT64_MIN, INT64_MAX, 0,
		    0), 2);
		ck_assert_int_eq(store_count(t, ENT_CAMPAIGN, &ck, EV_MASK_ANY,
		    ROLE_ANY, INT64_MIN, INT64_MAX, 0, 0), 2);
		ck_assert_int_eq(store_count(t, ENT_CAMPAIGN, &ck,
		    EV_MASK(EV_REFERRAL), ROLE_REFERRER, INT64_MIN, INT64_MAX,
		    0, 0), 0);
		ck_assert_int_eq(store_count(t, ENT_CAMPAIGN, &ck, EV_MASK_ANY,
		    ROLE_ANY, INT64_MIN, T0 + 2999, 0, 0), 1);
		store_abort(t);
		/* 5 + 3 x (5 + campaign) + the login's account and ip */
		ck_assert_uint_eq(stat_of().index_entries, 5 + 3 * 6 + 2);
		t = begin(true);
		ck_assert_int_eq(expire(t, T0 + 10000, 100), 5);
		commit(t);
		ck_assert_uint_eq(stat_of().index_entries, 0);
	}
}
END_TEST

/* ---- scans ------------------------------------------------------------ */

struct collect {
	uint64_t	seq[64];
	int64_t		ts[64];
	size_t		n;
	size_t		stop_at;	/* 0: never stop */
};

static int
collect_cb(void *arg, const struct store_entry *e)
{
	struct collect	*c = arg;

	ck_assert_uint_lt(c->n, nitems(c->seq));
	c->seq[c->n] = e->seq;
	c->ts[c->n] = e->ts;
	c->n++;
	return (c->stop_at != 0 && c->n >= c->stop_at);
}

static struct collect
scan(struct store_txn *t, uint8_t h, int64_t from, int64_t to,
    uint64_t max_seq, bool newest, size_t stop_at)
{
	struct collect	c;
	struct rg_hash	hh = H(h);

	memset(&c, 0, sizeof(c));
	c.stop_at = stop_at;
	ck_assert_int_eq(store_scan(t, ENT_IP, &hh, EV_MASK_ANY, ROLE_ANY,
	    from, to, max_seq, newest, collect_cb, &c), 0);
	return (c);
}

/*
 * The index holds times 0 .. 2^48 - 1 ms (requests allow 0 ..
 * TIME_MAX_MS): an event outside is refused with a message, not stored
 * with a wrong time.
 */
START_TEST(test_put_range)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct collect		 c;

	t = begin(true);
	mkobs(&ev, EV_LOGIN, -1, 0xa1, 0x11);
	ck_assert_int_eq(store_put_event(t, &ev), -1);
	ck_assert_msg(strstr(store_txn_errstr(t), "past what the index "
	    "holds") != NULL, "%s", store_txn_errstr(t));
	store_abort(t);
	t = begin(true);
	mkobs(&ev, EV_LOGIN, (int64_t)1 << 48, 0xa1, 0x11);
	ck_assert_int_eq(store_put_event(t, &ev), -1);
	store_abort(t);
	t = begin(true);
	mkobs(&ev, EV_LOGIN, ((int64_t)1 << 48) - 1, 0xa1, 0x11);
	put(t, &ev);
	mkobs(&ev, EV_LOGIN, TIME_MAX_MS, 0xa1, 0x11);
	put(t, &ev);
	commit(t);
	store_close(st);		/* the entries to LMDB */
	st = unit_store(dir, 4 * MIB, 64 * MIB);
	t = begin(false);
	c = scan(t, 0x11, TIME_MAX_MS, INT64_MAX, 0, false, 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_int_eq(c.ts[0], TIME_MAX_MS);
	ck_assert_int_eq(c.ts[1], ((int64_t)1 << 48) - 1);
	store_abort(t);
}
END_TEST

START_TEST(test_scan_order)
{
	/* ts of seq 1..7: out of order, two equal, one at the epoch. */
	static const int64_t	 ts[] = { T0 + 5000, T0, T0 + 9000, 0,
	    T0 + 5000, T0 + 1000, 5000 };
	struct store_txn	*t;
	struct rg_event		 ev;
	struct collect		 c;
	size_t			 i;

	t = begin(true);
	for (i = 0; i < nitems(ts); i++) {
		mkobs(&ev, EV_LOGIN, ts[i], 0xa1, 0x11);
		put(t, &ev);
	}
	mkobs(&ev, EV_LOGIN, T0 + 2000, 0xa1, 0x10);	/* neighbour keys */
	put(t, &ev);
	mkobs(&ev, EV_LOGIN, T0 + 2000, 0xa1, 0x12);
	put(t, &ev);
	commit(t);

	t = begin(false);
	c = scan(t, 0x11, INT64_MIN, INT64_MAX, 0, false, 0);
	ck_assert_uint_eq(c.n, 7);
	{
		static const uint64_t want[] = { 4, 7, 2, 6, 1, 5, 3 };

		for (i = 0; i < 7; i++)
			ck_assert_uint_eq(c.seq[i], want[i]);
		ck_assert_int_eq(c.ts[0], 0);
		ck_assert_int_eq(c.ts[6], T0 + 9000);
	}
	c = scan(t, 0x11, INT64_MIN, INT64_MAX, 0, true, 0);
	ck_assert_uint_eq(c.n, 7);
	{
		static const uint64_t want[] = { 3, 5, 1, 6, 2, 7, 4 };

		for (i = 0; i < 7; i++)
			ck_assert_uint_eq(c.seq[i], want[i]);
	}
	/* Edges inclusive, both directions. */
	c = scan(t, 0x11, T0 + 1000, T0 + 5000, 0, false, 0);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_uint_eq(c.seq[0], 6);
	ck_assert_uint_eq(c.seq[1], 1);
	ck_assert_uint_eq(c.seq[2], 5);
	c = scan(t, 0x11, T0 + 1000, T0 + 5000, 0, true, 0);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_uint_eq(c.seq[0], 5);
	ck_assert_uint_eq(c.seq[1], 1);
	ck_assert_uint_eq(c.seq[2], 6);
	c = scan(t, 0x11, T0 + 9000, T0 + 9000, 0, true, 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.seq[0], 3);
	c = scan(t, 0x11, T0 + 9001, INT64_MAX, 0, true, 0);
	ck_assert_uint_eq(c.n, 0);
	c = scan(t, 0x11, INT64_MIN, -1, 0, false, 0);
	ck_assert_uint_eq(c.n, 0);
	c = scan(t, 0x11, INT64_MIN, -1, 0, true, 0);
	ck_assert_uint_eq(c.n, 0);
	c = scan(t, 0x11, (int64_t)1 << 48, INT64_MAX, 0, true, 0);
	ck_assert_uint_eq(c.n, 0);
	c = scan(t, 0x11, INT64_MIN, 5000, 0, true, 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(c.seq[0], 7);
	ck_assert_uint_eq(c.seq[1], 4);
	/* max_seq, and the callback stopping. */
	c = scan(t, 0x11, INT64_MIN, INT64_MAX, 3, true, 0);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_uint_eq(c.seq[0], 3);
	ck_assert_uint_eq(c.seq[1], 1);
	ck_assert_uint_eq(c.seq[2], 2);
	c = scan(t, 0x11, INT64_MIN, INT64_MAX, 0, true, 2);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(c.seq[1], 5);
	c = scan(t, 0x11, INT64_MIN, INT64_MAX, 0, false, 1);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.seq[0], 4);
	/* The last key of the database (0x12) and the first (0x10). */
	c = scan(t, 0x12, INT64_MIN, INT64_MAX, 0, true, 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.seq[0], 9);
	c = scan(t, 0x10, INT64_MIN, INT64_MAX, 0, false, 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.seq[0], 8);
	c = scan(t, 0x13, INT64_MIN, INT64_MAX, 0, true, 0);
	ck_assert_uint_eq(c.n, 0);
	c = scan(t, 0x01, INT64_MIN, INT64_MAX, 0, true, 0);
	ck_assert_uint_eq(c.n, 0);
	/* The oldest entry by time, as of a seq and a time. */
	{
		int64_t	fts = 0;

		ck_assert_uint_eq(first(t, 0x11, INT64_MAX, 0, &fts), 4);
		ck_assert_int_eq(fts, 0);
		ck_assert_uint_eq(first(t, 0x11, INT64_MAX, 3, &fts), 2);
		ck_assert_int_eq(fts, T0);
		ck_assert_uint_eq(first(t, 0x11, 0, 0, NULL), 4);
		ck_assert_uint_eq(first(t, 0x11, -1, 0, NULL), 0);
		ck_assert_uint_eq(first(t, 0x11, T0 - 1, 3, NULL), 0);
		ck_assert_uint_eq(first(t, 0x11, T0 + 4999, 1, NULL), 0);
		ck_assert_uint_eq(first(t, 0x12, INT64_MAX, 0, NULL), 9);
		ck_assert_uint_eq(first(t, 0x13, INT64_MAX, 0, NULL), 0);
	}
	store_abort(t);
}
END_TEST

/* ---- links ------------------------------------------------------------ */

struct lcollect {
	struct store_link	l[16];
	size_t			n;
};

static int
link_cb(void *arg, const struct store_link *l)
{
	struct lcollect	*c = arg;

	ck_assert_uint_lt(c->n, nitems(c->l));
	c->l[c->n++] = *l;
	return (0);
}

START_TEST(test_links)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct rg_hash		 acct = H(0xa1), h;
	struct lcollect		 c;
	uint64_t		 fseq;
	int64_t			 fts;

	t = begin(true);
	mkobs(&ev, EV_SIGNUP, T0, 0xa1, 0x11);		/* seq 1 */
	setent(&ev.party[0], ENT_EMAIL, 0xe1);
	put(t, &ev);
	mkobs(&ev, EV_LOGIN, T0 + 1000, 0xa2, 0x11);	/* seq 2: other account */
	put(t, &ev);
	mkobs(&ev, EV_UPDATE, T0 + 2000, 0xa1, 0x11);	/* seq 3: new email */
	setent(&ev.party[0], ENT_EMAIL, 0xe2);
	put(t, &ev);
	mkobs(&ev, EV_LOGIN, T0 + 3000, 0xa1, 0x12);	/* seq 4: new IP */
	put(t, &ev);
	commit(t);

	t = begin(false);
	h = H(0xe1);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_EMAIL, &h, 0, &fseq,
	    &fts), 0);
	ck_assert_uint_eq(fseq, 1);
	ck_assert_int_eq(fts, T0);
	h = H(0xe2);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_EMAIL, &h, 0, &fseq,
	    &fts), 0);
	ck_assert_uint_eq(fseq, 3);
	ck_assert_int_eq(fts, T0 + 2000);
	/* "As of" seq 2 the second email was not linked yet. */
	ck_assert_int_eq(store_link_get(t, &acct, ENT_EMAIL, &h, 2, NULL,
	    NULL), 1);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_EMAIL, &h, 3, NULL,
	    NULL), 0);
	/* The IP was first seen at seq 1 and keeps that. */
	h = H(0x11);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_IP, &h, 0, &fseq,
	    NULL), 0);
	ck_assert_uint_eq(fseq, 1);
	/* Not linked: other kind, other account. */
	ck_assert_int_eq(store_link_get(t, &acct, ENT_PHONE, &h, 0, NULL,
	    NULL), 1);
	acct = H(0xa2);
	h = H(0xe1);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_EMAIL, &h, 0, NULL,
	    NULL), 1);

	/* Scans: all kinds, one kind, as of a seq. */
	acct = H(0xa1);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_link_scan(t, &acct, 0, 0, link_cb, &c), 0);
	ck_assert_uint_eq(c.n, 4);	/* e1, e2, ip 11, ip 12 */
	ck_assert_int_eq(c.l[0].kind, ENT_EMAIL);
	ck_assert_int_eq(c.l[3].kind, ENT_IP);
	ck_assert(memcmp(c.l[3].h.b, H(0x12).b, 16) == 0);
	ck_assert_uint_eq(c.l[3].first_seq, 4);
	ck_assert_int_eq(c.l[3].first_ts, T0 + 3000);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_link_scan(t, &acct, ENT_IP, 0, link_cb, &c), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_int_eq(c.l[0].kind, ENT_IP);
	ck_assert_int_eq(c.l[1].kind, ENT_IP);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_link_scan(t, &acct, 0, 2, link_cb, &c), 0);
	ck_assert_uint_eq(c.n, 2);	/* e1 and ip 11 */
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_link_scan(t, &acct, ENT_PHONE, 0, link_cb, &c),
	    0);
	ck_assert_uint_eq(c.n, 0);
	acct = H(0xa2);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_link_scan(t, &acct, 0, 0, link_cb, &c), 0);
	ck_assert_uint_eq(c.n, 1);
	store_abort(t);
}
END_TEST

/*
 * The tier's tables straight: thousands of identities and accounts in
 * one range, crowded on few slots (long runs, which the tables' growth
 * reorders), a commit, more of each, an
 * abort that takes the second lot out one by one: each of the first lot
 * is still found with its entry, none of the second, and a range listed
 * holds exactly the first lot.
 */
static struct rg_hash
crowd(uint32_t i, uint8_t salt)
{
	struct rg_hash	h;
	uint64_t	v = i / 8;	/* eight a slot: long runs */

	memset(h.b, salt, sizeof(h.b));
	h.b[0] = 7;			/* one range */
	memcpy(h.b + 1, &v, sizeof(v));
	memcpy(h.b + 9, &i, sizeof(i));
	return (h);
}

START_TEST(test_memtier_tables)
{
	struct memtier		*mt = memtier_new();
	struct memtier_ident	**ids;
	struct memtier_acct	**accts;
	const struct memtier_ident *id;
	struct store_link	 l;
	struct rg_hash		 h;
	size_t			 nids, naccts;
	uint32_t		 i, n = 3000;

	memset(&l, 0, sizeof(l));
	l.kind = ENT_IP;
	for (i = 0; i < 2 * n; i++) {
		if (i == n)
			memtier_commit(mt);
		h = crowd(i, 1);
		memtier_index_add(mt, ENT_IP, &h, T0 + i, i + 1, EV_LOGIN,
		    ROLE_SUBJECT);
		memtier_index_add(mt, ENT_EMAIL, &h, T0 + i, i + 1, EV_LOGIN,
		    ROLE_SUBJECT);
		l.h = h;
		l.first_seq = i + 1;
		memtier_link_set(mt, &h, &l);
	}
	memtier_abort(mt);
	for (i = 0; i < 2 * n; i++) {
		h = crowd(i, 1);
		id = memtier_index_get(mt, ENT_IP, &h);
		if (i < n) {
			ck_assert_msg(id != NULL, "identity %u lost", i);
			ck_assert_uint_eq(id->n, 1);
			ck_assert_uint_eq(id->e[0].seq, i + 1);
			ck_assert_ptr_nonnull(memtier_index_get(mt, ENT_EMAIL,
			    &h));
			ck_assert_ptr_nonnull(memtier_link_get(mt, &h, ENT_IP,
			    &h));
		} else {
			ck_assert_msg(id == NULL, "identity %u kept", i);
			ck_assert_ptr_null(memtier_acct_get(mt, &h));
		}
		/* Another kind, another hash: none. */
		ck_assert_ptr_null(memtier_index_get(mt, ENT_PHONE, &h));
		h = crowd(i, 2);
		ck_assert_ptr_null(memtier_index_get(mt, ENT_IP, &h));
	}
	memtier_range(mt, 7, &ids, &nids, &accts, &naccts);
	ck_assert_uint_eq(nids, 2 * n);
	ck_assert_uint_eq(naccts, n);
	ck_assert_uint_eq(memtier_index_count(mt), 2 * n);
	memtier_free(mt);
}
END_TEST

/*
 * What aborted transactions added is memory the next ones reuse: while
 * every write fails (a full disk), the rejected checks' identities,
 * accounts and arrays do not pile up until a flush that cannot come. The
 * tier's bytes say so; a committed load of the same size holds far more,
 * and a flush of every range gives it all back.
 */
START_TEST(test_memtier_abort_memory)
{
	struct memtier		*mt = memtier_new();
	struct store_link	 l;
	struct rg_hash		 h;
	uint64_t		 held, r;
	uint32_t		 i, j;

	memset(&l, 0, sizeof(l));
	l.kind = ENT_IP;
	for (i = 0; i < 20000; i++) {
		for (j = 0; j < 3; j++) {
			h = crowd(i, j);
			h.b[0] = (uint8_t)(i + j);	/* every range */
			memtier_index_add(mt, ENT_IP, &h, T0 + i, i + 1,
			    EV_LOGIN, ROLE_SUBJECT);
			/* a busy one: its array grows past a small one */
			if (j == 0)
				for (r = 0; r < 40; r++)
					memtier_index_add(mt, ENT_EMAIL, &h,
					    T0 + i, i + 1, EV_LOGIN,
					    ROLE_SUBJECT);
		}
		l.h = h;
		memtier_link_set(mt, &h, &l);
		memtier_abort(mt);
		if (i == 999)	/* every range has its tables */
			held = memtier_bytes(mt);
	}
	ck_assert_uint_eq(memtier_index_count(mt), 0);
	ck_assert_uint_eq(memtier_link_count(mt), 0);
	ck_assert_msg(memtier_bytes(mt) <= held + 64 * 1024,
	    "%llu bytes held after 20,000 aborts, %llu after 1,000",
	    (unsigned long long)memtier_bytes(mt), (unsigned long long)held);
	/* The same kept: the tier holds it. */
	for (i = 0; i < 20000; i++) {
		h = crowd(i, 0);
		h.b[0] = (uint8_t)i;
		memtier_index_add(mt, ENT_IP, &h, T0 + i, i + 1, EV_LOGIN,
		    ROLE_SUBJECT);
		memtier_commit(mt);
	}
	ck_assert_uint_gt(memtier_bytes(mt), held + 512 * 1024);
	for (r = 0; r < MT_RANGES; r++)
		ck_assert(memtier_range_flushed(mt, (unsigned)r));
	memtier_commit(mt);
	ck_assert_uint_eq(memtier_bytes(mt), 0);
	memtier_free(mt);
}
END_TEST

/*
 * Links written out to LMDB (a clean close), then carried again: a link
 * LMDB has keeps its first sighting and moves its last, a new one of the
 * same account (sorting before, between and after the stored ones) and
 * one of an account LMDB has none of start at the new event.
 */
START_TEST(test_links_in_lmdb)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct rg_hash		 acct = H(0xa1), h;
	struct lcollect		 c;
	uint64_t		 fseq, s1, s2;
	int64_t			 later = T0 + 2 * 3600 * 1000LL;
	size_t			 i;

	t = begin(true);
	mkobs(&ev, EV_SIGNUP, T0, 0xa1, 0x11);		/* seq 1 */
	setent(&ev.party[0], ENT_EMAIL, 0xe1);
	put(t, &ev);
	mkobs(&ev, EV_LOGIN, T0 + 1000, 0xa1, 0x12);	/* seq 2 */
	put(t, &ev);
	commit(t);
	store_close(st);
	st = open_recent(1u << 20);
	ck_assert_uint_eq(stat_of().recent_links, 0);

	t = begin(true);
	mkobs(&ev, EV_LOGIN, later, 0xa1, 0x11);	/* a stored link */
	setent(&ev.party[0], ENT_EMAIL, 0xe0);		/* before e1 */
	s1 = put(t, &ev);
	mkobs(&ev, EV_LOGIN, later + 1000, 0xa1, 0x13);	/* after the last */
	setent(&ev.party[0], ENT_EMAIL, 0xe5);		/* between */
	s2 = put(t, &ev);
	mkobs(&ev, EV_LOGIN, later + 2000, 0xa3, 0x11);	/* a new account */
	put(t, &ev);
	commit(t);

	t = begin(false);
	h = H(0x11);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_IP, &h, 0, &fseq, NULL),
	    0);
	ck_assert_uint_eq(fseq, 1);
	h = H(0x12);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_IP, &h, 0, &fseq, NULL),
	    0);
	ck_assert_uint_eq(fseq, 2);
	h = H(0x13);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_IP, &h, 0, &fseq, NULL),
	    0);
	ck_assert_uint_eq(fseq, s2);
	h = H(0xe0);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_EMAIL, &h, 0, &fseq,
	    NULL), 0);
	ck_assert_uint_eq(fseq, s1);
	h = H(0xe5);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_EMAIL, &h, 0, &fseq,
	    NULL), 0);
	ck_assert_uint_eq(fseq, s2);
	acct = H(0xa3);
	h = H(0x11);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_IP, &h, 0, &fseq, NULL),
	    0);
	ck_assert_uint_eq(fseq, s2 + 1);
	/* The stored IP link's last sighting moved to the login. */
	acct = H(0xa1);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_link_scan(t, &acct, ENT_IP, 0, link_cb, &c), 0);
	ck_assert_uint_eq(c.n, 3);
	for (i = 0; i < c.n; i++)
		if (memcmp(c.l[i].h.b, H(0x11).b, 16) == 0) {
			ck_assert_uint_eq(c.l[i].first_seq, 1);
			ck_assert_int_eq(c.l[i].last_ts, later);
		}
	store_abort(t);
}
END_TEST

/*
 * store_scan_events: seq order, bounds, stop. (Read-only beside a writer
 * is test_backtest.py's: LMDB forbids one environment opened twice in a
 * process.)
 */
struct seqs {
	uint64_t	seq[16];
	uint8_t		type[16];
	size_t		n;
	size_t		stop_at;	/* 0: never */
};

static int
seqs_cb(void *arg, const struct rg_event *ev)
{
	struct seqs	*s = arg;

	s->seq[s->n] = ev->seq;
	s->type[s->n] = ev->type;
	s->n++;
	return (s->stop_at != 0 && s->n >= s->stop_at);
}

START_TEST(test_scan_events)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct seqs		 s;
	int			 i;

	t = begin(true);
	for (i = 0; i < 5; i++) {
		if (i % 2)
			mkobs(&ev, EV_LOGIN, T0 + i, 0xa1, 0x12);
		else
			mkref(&ev, "r", T0 + i, 0xa1, 0xb1, 0x11);
		put(t, &ev);
	}
	commit(t);

	t = begin(false);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_scan_events(t, 0, 0, seqs_cb, &s), 0);
	ck_assert_uint_eq(s.n, 5);
	for (i = 0; i < 5; i++) {
		ck_assert_uint_eq(s.seq[i], (uint64_t)i + 1);
		ck_assert_int_eq(s.type[i], i % 2 ? EV_LOGIN : EV_REFERRAL);
	}
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_scan_events(t, 2, 4, seqs_cb, &s), 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_uint_eq(s.seq[0], 2);
	ck_assert_uint_eq(s.seq[2], 4);
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	ck_assert_int_eq(store_scan_events(t, 3, 0, seqs_cb, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(s.seq[1], 4);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_scan_events(t, 6, 0, seqs_cb, &s), 0);
	ck_assert_uint_eq(s.n, 0);
	/* Newest first: from the last (0) or a seq, down to a seq. */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_scan_events_back(t, 0, 1, seqs_cb, &s), 0);
	ck_assert_uint_eq(s.n, 5);
	ck_assert_uint_eq(s.seq[0], 5);
	ck_assert_uint_eq(s.seq[4], 1);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_scan_events_back(t, 4, 2, seqs_cb, &s), 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_uint_eq(s.seq[0], 4);
	ck_assert_uint_eq(s.seq[2], 2);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_scan_events_back(t, 99, 5, seqs_cb, &s), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.seq[0], 5);
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	ck_assert_int_eq(store_scan_events_back(t, 0, 1, seqs_cb, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	store_abort(t);
}
END_TEST

/* stats.daily's reply as JSON. */
static json_t *
daily_json(struct store_txn *t, const struct daily_req *q)
{
	struct sbuf	sb;
	json_t		*o;

	sbuf_init(&sb, 256);
	ck_assert_int_eq(daily_run(t, q, &sb), 0);
	o = json_loadb(sb.buf, sb.len, 0, NULL);
	ck_assert_msg(o != NULL, "not JSON: %.*s", (int)sb.len, sb.buf);
	sbuf_free(&sb);
	return (o);
}

/*
 * The daily counters: a check counts its action on its event's day, a
 * replay nothing, an aborted transaction nothing; import's counting from
 * a reply line gives what the check gave; retention drops whole days.
 */
START_TEST(test_daily)
{
	struct daily_req	 q;
	struct store_txn	*t;
	struct rg_event		 ev;
	struct verdict		 v;
	json_t			*o, *d;
	char			*s;
	int			 k;

	t = begin(true);
	for (k = 0; k < 3; k++) {
		mkref(&ev, k == 2 ? "d2" : (k ? "d1" : "d0"),
		    T0 + k * DAILY_MS, 0x51, (uint8_t)(0x52 + k), 0x20);
		ck_assert_int_eq(verdict_check(t, NULL, &ev, &v), 0);
		verdict_clear(&v);
	}
	mkref(&ev, "d1", T0 + DAILY_MS, 0x51, 0x53, 0x20);
	ck_assert_int_eq(verdict_check(t, NULL, &ev, &v), 0);	/* replay */
	ck_assert(v.replay);
	verdict_clear(&v);
	ck_assert_int_eq(daily_reply(t, T0 + 2 * DAILY_MS, ACTION_DENY,
	    "{\"id\":\"x\",\"action\":\"deny\",\"reasons\":[{\"rule\":"
	    "\"a.b\"}],\"shadow\":[{\"rule\":\"s.t\"}]}", 79), 0);
	ck_assert_int_eq(daily_reply(t, T0, ACTION_DENY, "[1]", 3), 1);
	ck_assert_int_eq(daily_recheck(t, T0 + 2 * DAILY_MS, ACTION_ALLOW,
	    ACTION_DENY), 0);
	commit(t);
	/* An aborted transaction counts nothing. */
	t = begin(true);
	mkref(&ev, "d9", T0, 0x51, 0x59, 0x20);
	ck_assert_int_eq(verdict_check(t, NULL, &ev, &v), 0);
	verdict_clear(&v);
	store_abort(t);

	t = begin(false);
	daily_req_init(&q);
	o = daily_json(t, &q);
	s = json_dumps(json_object_get(o, "days"), JSON_COMPACT);
	ck_assert_str_eq(s, "[{\"day\":\"2026-11-23\",\"actions\":"
	    "{\"allow\":1}},{\"day\":\"2026-11-24\",\"actions\":"
	    "{\"allow\":1}},{\"day\":\"2026-11-25\",\"actions\":"
	    "{\"allow\":1,\"deny\":1},\"rechecks\":{\"allow>deny\":1},"
	    "\"rules\":{\"a.b\":1},\"shadow\":{\"s.t\":1}}]");
	free(s);
	json_decref(o);
	/* Filters: a day range, kinds, one rule. */
	q.since = T0 + DAILY_MS + 5;	/* its day */
	q.until = T0 + 2 * DAILY_MS;
	q.kinds = DAILY_K_RULES;
	q.has_rule = true;
	snprintf(q.rule, sizeof(q.rule), "s.t");
	o = daily_json(t, &q);
	ck_assert_str_eq(json_string_value(json_object_get(o, "since")),
	    "2026-11-24");
	ck_assert_uint_eq(json_array_size(json_object_get(o, "days")), 1);
	d = json_array_get(json_object_get(o, "days"), 0);
	s = json_dumps(d, JSON_COMPACT);
	ck_assert_str_eq(s, "{\"day\":\"2026-11-25\",\"shadow\":"
	    "{\"s.t\":1}}");
	free(s);
	json_decref(o);
	store_abort(t);
	/* Retention: the days that ended before the bound, at most max. */
	t = begin(true);
	ck_assert_int_eq(daily_expire(t, T0 + DAILY_MS + 5, 100), 1);
	ck_assert_int_eq(daily_expire(t, T0 + DAILY_MS + 5, 100), 0);
	ck_assert_int_eq(daily_expire(t, T0 + 3 * DAILY_MS, 2), 2);
	ck_assert_int_eq(daily_expire(t, T0 + 3 * DAILY_MS, 100), 4);
	commit(t);
	t = begin(false);
	daily_req_init(&q);
	o = daily_json(t, &q);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "days")), 0);
	json_decref(o);
	store_abort(t);
}
END_TEST

/* Pages of verdicts.list as JSON: the ids, the next cursor. */
static json_t *
vlist_page(struct store_txn *t, struct verdict_list_req *q)
{
	struct sbuf	sb;
	json_t		*o;

	sbuf_init(&sb, 256);
	ck_assert_int_eq(verdict_list(t, q, &sb), 0);
	o = json_loadb(sb.buf, sb.len, 0, NULL);
	ck_assert_ptr_nonnull(o);
	sbuf_free(&sb);
	return (o);
}

/*
 * verdicts.list walks at most q->scan events a page: a page may come back
 * short, or empty, with a next cursor; following the cursors lists every
 * verdict once, newest first.
 */
START_TEST(test_verdict_list)
{
	struct verdict_list_req	 q;
	struct store_txn	*t;
	struct rg_event		 ev;
	struct verdict		 v;
	json_t			*o, *it;
	char			 rid[16], seen[64] = "", cursor[32];
	size_t			 i, pages = 0;
	int			 k;

	t = begin(true);
	for (k = 0; k < 6; k++) {
		snprintf(rid, sizeof(rid), "v%d", k);
		mkref(&ev, rid, T0 + k, (uint8_t)(0x40 + k), (uint8_t)(0x60 + k),
		    (uint8_t)(0x20 + k));
		ck_assert_int_eq(verdict_check(t, NULL, &ev, &v), 0);
		verdict_clear(&v);
		mkobs(&ev, EV_LOGIN, T0 + k, 0xa1, 0x12);	/* not listed */
		put(t, &ev);
	}
	commit(t);

	t = begin(false);
	verdict_list_init(&q);
	q.scan = 3;
	q.limit = 2;
	for (;;) {
		o = vlist_page(t, &q);
		pages++;
		ck_assert_int_le(json_integer_value(json_object_get(o,
		    "scanned")), 3);
		json_array_foreach(json_object_get(o, "verdicts"), i, it)
			strcat(seen, json_string_value(json_object_get(it,
			    "id")));
		if (!json_is_string(json_object_get(o, "next"))) {
			json_decref(o);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(
		    json_object_get(o, "next")));
		json_decref(o);
		ck_assert_int_eq(verdict_list_cursor_parse(cursor, &q.before),
		    0);
		ck_assert_uint_lt(pages, 20);
	}
	ck_assert_str_eq(seen, "v5v4v3v2v1v0");
	ck_assert_uint_ge(pages, 4);		/* 12 events, 3 a page */
	/* Filters: by time (inclusive) and action. */
	verdict_list_init(&q);
	q.since = T0 + 2;
	q.until = T0 + 3;
	o = vlist_page(t, &q);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "verdicts")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(o, "verdicts"), 0), "id")), "v3");
	ck_assert(json_is_null(json_object_get(o, "next")));
	json_decref(o);
	verdict_list_init(&q);
	q.action = 2;		/* no rules: every verdict is allow */
	o = vlist_page(t, &q);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "verdicts")), 0);
	json_decref(o);
	store_abort(t);
}
END_TEST

/* A record as verdict.c writes one: version byte, seq, then the rest. */
static size_t
vrec(uint8_t *buf, uint64_t seq, const char *rest)
{
	buf[0] = 1;
	be_put(buf + 1, seq, 8);
	memcpy(buf + 9, rest, strlen(rest));
	return (9 + strlen(rest));
}

/*
 * A record with its checksum (caller frees), of seq, action, score and
 * that reply, its parts in *r.
 */
static uint8_t *
vrec_summed(struct verdict_rec *r, uint64_t seq, uint8_t action,
    int32_t score, const char *reply, size_t *len)
{
	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->action = action;
	r->score = score;
	r->reply = reply;
	r->replylen = strlen(reply);
	r->explain = "[]";
	r->explainlen = 2;
	return (verdict_rec_encode(r, len));
}

/* Event seq's record, found by seq: its reply is want. */
static void
seq_reply(struct store_txn *t, uint64_t seq, const char *want)
{
	struct verdict_rec	r;

	ck_assert_int_eq(store_get_verdict_seq(t, seq, &r), 0);
	ck_assert_uint_eq(r.seq, seq);
	ck_assert_uint_eq(r.score, 60);
	ck_assert(r.summed);
	ck_assert(r.replylen == strlen(want) &&
	    memcmp(r.reply, want, r.replylen) == 0);
}

#define VREPLY1	"{\"id\":\"r-1\",\"action\":\"review\"}"
#define VREPLY2	"{\"id\":\"r-2\",\"action\":\"review\"}"
#define VREPLY3	"{\"id\":\"r-1\",\"action\":\"review\",\"score\":60}"

START_TEST(test_verdict_records)
{
	struct store_txn	*t;
	struct verdict_rec	 vr;
	const void		*rec;
	uint8_t			*r1, *r2, *r3;
	size_t			 len, n1, n2, n3;

	r1 = vrec_summed(&vr, 5, 1, 60, VREPLY1, &n1);
	r2 = vrec_summed(&vr, 3, 1, 60, VREPLY2, &n2);	/* older seq */
	r3 = vrec_summed(&vr, 5, 1, 60, VREPLY3, &n3);	/* a recheck */
	t = begin(true);
	ck_assert_int_eq(store_put_verdict(t, "r-1", 3, r1, n1), 0);
	ck_assert_int_eq(store_put_verdict(t, "r-2", 3, r2, n2), 0);
	ck_assert_int_eq(store_put_verdict(t, "r-1", 3, r3, n3), 0);
	ck_assert_int_eq(store_put_verdict(t, "r-9", 3, "ab", 2), -1);
	store_abort(t);
	t = begin(true);
	ck_assert_int_eq(store_put_verdict(t, "r-1", 3, r1, n1), 0);
	ck_assert_int_eq(store_put_verdict(t, "r-2", 3, r2, n2), 0);
	ck_assert_int_eq(store_put_verdict(t, "r-1", 3, r3, n3), 0);
	commit(t);
	t = begin(false);
	ck_assert_int_eq(store_get_verdict(t, "r-1", 3, &rec, &len), 0);
	ck_assert_uint_eq(len, n3);
	ck_assert(memcmp(rec, r3, n3) == 0);
	ck_assert_int_eq(store_get_verdict(t, "r-2", 3, &rec, &len), 0);
	ck_assert_uint_eq(len, n2);
	ck_assert(memcmp(rec, r2, n2) == 0);
	ck_assert_int_eq(store_get_verdict(t, "r-3", 3, &rec, &len), 1);
	ck_assert_int_eq(store_get_verdict(t, "r-", 2, &rec, &len), 1);
	/*
	 * By seq, out of order, the transaction's cursor kept between; split,
	 * as verdict_rec_decode() splits what store_get_verdict() gives.
	 */
	seq_reply(t, 5, VREPLY3);
	seq_reply(t, 3, VREPLY2);
	ck_assert_int_eq(store_get_verdict_seq(t, 4, &vr), 1);
	ck_assert_int_eq(store_get_verdict_seq(t, 6, &vr), 1);
	seq_reply(t, 5, VREPLY3);
	store_abort(t);
	ck_assert_uint_eq(stat_of().verdicts, 2);
	/* In a write transaction, the cursor open while records are put. */
	t = begin(true);
	seq_reply(t, 3, VREPLY2);
	ck_assert_int_eq(store_put_verdict(t, "r-1", 3, r1, n1), 0);
	seq_reply(t, 5, VREPLY1);
	commit(t);
	free(r1);
	free(r2);
	free(r3);
}
END_TEST

/*
 * A schema 1 store (verdict records keyed by id in "verdicts") opens,
 * reads its old records, is marked the current schema, and moves a record to the
 * new layout when it is rewritten (a recheck); retention deletes both.
 */
START_TEST(test_verdict_schema1)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct verdict_rec	 vr;
	const void		*rec, *v;
	uint8_t			 r1[32], r2[32], *r3;
	size_t			 len, n1, n2, n3;
	MDB_env			*env;
	MDB_txn			*txn;
	MDB_dbi			 dbi, meta;
	MDB_stat		 ms;
	MDB_val			 k, d;

	/* Two old referrals (seq 1, 2) whose verdicts schema 1 wrote. */
	t = begin(true);
	mkref(&ev, "o-1", T0 - 100000, 0xa1, 0xb1, 0x11);
	put(t, &ev);
	mkref(&ev, "o-2", T0 - 100000, 0xa2, 0xb2, 0x12);
	put(t, &ev);
	commit(t);
	store_close(st);
	n1 = vrec(r1, 1, "old one");
	n2 = vrec(r2, 2, "old two");
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 32), 0);
	ck_assert_int_eq(mdb_env_set_mapsize(env, 64 * MIB), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "verdicts", 0, &dbi), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	k.mv_data = (char *)"o-1"; k.mv_size = 3; d.mv_data = r1; d.mv_size = n1;
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &d, 0), 0);
	k.mv_data = (char *)"o-2"; d.mv_data = r2; d.mv_size = n2;
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &d, 0), 0);
	k.mv_data = (char *)"schema"; k.mv_size = 6;
	d.mv_data = (char *)"\0\0\0\1"; d.mv_size = 4;
	ck_assert_int_eq(mdb_put(txn, meta, &k, &d, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	st = unit_store(dir, 4 * MIB, 64 * MIB);
	ck_assert_uint_eq(stat_of().verdicts, 2);
	t = begin(false);
	ck_assert_int_eq(store_meta_get(t, "schema", &v, &len), 0);
	ck_assert(len == 4 && memcmp(v, "\0\0\0\17", 4) == 0);
	ck_assert_int_eq(store_get_verdict(t, "o-1", 3, &rec, &len), 0);
	ck_assert(len == n1 && memcmp(rec, r1, n1) == 0);
	store_abort(t);
	/* A recheck of o-1 rewrites it: new layout, gone from the old. */
	r3 = vrec_summed(&vr, 1, 1, 60, VREPLY3, &n3);
	t = begin(true);
	ck_assert_int_eq(store_put_verdict(t, "o-1", 3, r3, n3), 0);
	commit(t);
	ck_assert_uint_eq(stat_of().verdicts, 2);
	t = begin(false);
	ck_assert_int_eq(store_get_verdict(t, "o-1", 3, &rec, &len), 0);
	ck_assert(len == n3 && memcmp(rec, r3, n3) == 0);
	ck_assert_int_eq(store_get_verdict(t, "o-2", 3, &rec, &len), 0);
	ck_assert(len == n2 && memcmp(rec, r2, n2) == 0);
	/* By seq: the new layout's record; the old one only by its id. */
	seq_reply(t, 1, VREPLY3);
	ck_assert_int_eq(store_get_verdict_seq(t, 2, &vr), 1);
	store_abort(t);
	/* Retention takes both events and both verdicts, old and new. */
	t = begin(true);
	ck_assert_int_eq(expire(t, T0, 100), 2);
	commit(t);
	ck_assert_uint_eq(stat_of().verdicts, 0);
	store_close(st);
	raw_begin(true, &env, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, "verdicts", 0, &dbi), 0);
	ck_assert_int_eq(mdb_stat(txn, dbi, &ms), 0);
	ck_assert_uint_eq(ms.ms_entries, 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "verdict_recs", 0, &dbi), 0);
	ck_assert_int_eq(mdb_stat(txn, dbi, &ms), 0);
	ck_assert_uint_eq(ms.ms_entries, 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	st = unit_store(dir, 4 * MIB, 64 * MIB);
	free(r3);
}
END_TEST

/* store_scan_referred: seqs seen, newest first. */
struct seen {
	uint64_t	seq[16];
	size_t		n;
};

static int
seen_cb(void *arg, const struct store_entry *e)
{
	struct seen	*s = arg;

	if (s->n < nitems(s->seq))
		s->seq[s->n++] = e->seq;
	return (0);
}

static struct seen
referred_of(uint8_t acct, uint64_t max_seq)
{
	struct store_txn	*t = begin(false);
	struct rg_hash		 h = H(acct);
	struct seen		 s = { .n = 0 };

	ck_assert_int_eq(store_scan_referred(t, &h, INT64_MAX, max_seq,
	    seen_cb, &s), 0);
	store_abort(t);
	return (s);
}

/*
 * "Who referred this account" reads its referee entries only; in a store
 * written before they existed (referee_index_from > 1) the older
 * referrals are found the slow way.
 */
START_TEST(test_scan_referred)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct seen		 s;
	MDB_env			*env;
	MDB_txn			*txn;
	MDB_dbi			 idx, meta;
	MDB_cursor		*c;
	MDB_val			 k, d;
	uint8_t			 from[8];
	int			 i;

	t = begin(true);
	mkref(&ev, "s1", T0, 0xa1, 0xb1, 0x11);		/* a1 refers b1 */
	put(t, &ev);
	mkref(&ev, "s2", T0 + 1, 0xc1, 0xb1, 0x12);	/* c1 refers b1 */
	put(t, &ev);
	for (i = 0; i < 5; i++) {			/* b1 refers others */
		mkref(&ev, "sx", T0 + 2 + i, 0xb1, (uint8_t)(0xd0 + i), 0x13);
		put(t, &ev);
	}
	commit(t);
	s = referred_of(0xb1, 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(s.seq[0], 2);
	ck_assert_uint_eq(s.seq[1], 1);
	ck_assert_uint_eq(referred_of(0xb1, 1).n, 1);
	ck_assert_uint_eq(referred_of(0xa1, 0).n, 0);

	/* As if seqs 1-2 were written before the referee entries. */
	store_close(st);
	raw_begin(false, &env, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, "identities",
	    MDB_DUPSORT | MDB_DUPFIXED, &idx), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, idx, &c), 0);
	i = 0;
	/* key kind(1) hash(16), a duplicate ts(6) seq(6) type-roles each */
	while (mdb_cursor_get(c, &k, &d, MDB_NEXT) == 0)
		if (((const uint8_t *)k.mv_data)[0] == 0x80 &&
		    be_get((const uint8_t *)d.mv_data + 6, 6) < 3) {
			ck_assert_int_eq(mdb_cursor_del(c, 0), 0);
			i++;
		}
	ck_assert_int_eq(i, 2);
	mdb_cursor_close(c);
	be_put(from, 3, 8);
	k.mv_data = (char *)"referee_index_from"; k.mv_size = 18;
	d.mv_data = from; d.mv_size = 8;
	ck_assert_int_eq(mdb_put(txn, meta, &k, &d, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	st = unit_store(dir, 4 * MIB, 64 * MIB);
	s = referred_of(0xb1, 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(s.seq[0], 2);
	/* A new referral of b1 takes the fast way; all three are found. */
	t = begin(true);
	mkref(&ev, "s9", T0 + 20, 0xe1, 0xb1, 0x14);
	ck_assert_uint_eq(put(t, &ev), 8);
	commit(t);
	s = referred_of(0xb1, 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_uint_eq(s.seq[0], 8);
}
END_TEST

static int
link_line_cb(void *arg, const struct store_link *l)
{
	char	*buf = arg;
	size_t	 off = strlen(buf);

	snprintf(buf + off, 2048 - off, " %u:%02x:%llu:%lld:%lld", l->kind,
	    l->h.b[0], (unsigned long long)l->first_seq,
	    (long long)(l->first_ts - T0), (long long)(l->last_ts - T0));
	return (0);
}

/* What history queries answer about a store (test_index_convert). */
static void
index_answers(char *buf, size_t len)
{
	struct store_txn	*t = begin(false);
	struct seen		 s;
	struct rg_hash		 a, ip;
	size_t			 off = 0;
	uint64_t		 fseq;
	int64_t			 ts;
	uint8_t			 h;
	int			 r;

	for (h = 0x11; h <= 0x14; h++)
		off += (size_t)snprintf(buf + off, len - off,
		    "ip %02x: %lld %lld %lld %lld first %llu %llu\n", h,
		    (long long)count(t, ENT_IP, h, EV_MASK_ANY, ROLE_ANY,
		    INT64_MIN, INT64_MAX, 0, 0),
		    (long long)count(t, ENT_IP, h, EV_MASK_ANY, ROLE_REFEREE,
		    T0 + 10000, T0 + 30000, 0, 0),
		    (long long)count(t, ENT_IP, h, EV_MASK_ANY, ROLE_ANY,
		    INT64_MIN, INT64_MAX, 20, 0),
		    (long long)count(t, ENT_IP, h, EV_MASK_ANY, ROLE_ANY,
		    INT64_MIN, INT64_MAX, 0, 3),
		    (unsigned long long)first(t, h, INT64_MAX, 0, &ts),
		    (unsigned long long)first(t, h, T0 + 20000, 30, &ts));
	for (h = 0x41; h <= 0x45; h++) {
		a = H(h);
		ip = H((uint8_t)(0x11 + (h - 0x41) % 4));
		fseq = 0;
		r = store_link_get(t, &a, ENT_IP, &ip, 0, &fseq, &ts);
		off += (size_t)snprintf(buf + off, len - off, "links %02x: %d "
		    "%llu", h, r, (unsigned long long)fseq);
		ck_assert_int_eq(store_link_scan(t, &a, 0, 0, link_line_cb,
		    buf), 0);
		ck_assert_int_eq(store_link_scan(t, &a, ENT_IP, 10,
		    link_line_cb, buf), 0);
		off = strlen(buf);
		off += (size_t)snprintf(buf + off, len - off, "\n");
	}
	store_abort(t);
	for (h = 1; h <= 5; h++) {
		s = referred_of((uint8_t)(0x40 + h), 0);
		off += (size_t)snprintf(buf + off, len - off,
		    "referred %u: %zu %llu\n", h, s.n, s.n ? (unsigned long
		    long)s.seq[0] : 0ULL);
	}
}

/*
 * Schema 4's layout from schema 5's: "identities" into "ident_index"
 * (a duplicate ts(8) seq(8) type(1) roles(1), the time offset by 2^63)
 * and "account_links" into "acct_links" (kind(1) hash(16) first_ts(8)
 * first_seq(8) last_ts(8)), as refguard before schema 5 wrote them.
 * Entries and links in *ne, *nl.
 */
static void
dup4_index(const uint8_t *p, uint8_t *o)
{
	be_put(o, be_get(p, 6) ^ (1ULL << 63), 8);
	be_put(o + 8, be_get(p + 6, 6), 8);
	o[16] = p[12] >> 4;
	o[17] = p[12] & 0x0f;
}

static void
dup4_link(const uint8_t *p, uint8_t *o)
{
	memcpy(o, p, 17);
	be_put(o + 17, be_get(p + 17, 6) ^ (1ULL << 63), 8);
	be_put(o + 25, be_get(p + 23, 6), 8);
	be_put(o + 33, be_get(p + 29, 6) ^ (1ULL << 63), 8);
}

/* Database name's duplicates (len5 bytes) as old's (len4), by conv. */
static size_t
dups_to_schema4(MDB_txn *txn, const char *name, const char *old,
    size_t len5, size_t len4, void (*conv)(const uint8_t *, uint8_t *))
{
	MDB_dbi		 from, to;
	MDB_cursor	*c;
	MDB_val		 k, d, od;
	uint8_t		 o[64];
	size_t		 n = 0;

	ck_assert_int_eq(mdb_dbi_open(txn, name, MDB_DUPSORT | MDB_DUPFIXED,
	    &from), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, old,
	    MDB_DUPSORT | MDB_DUPFIXED | MDB_CREATE, &to), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, from, &c), 0);
	while (mdb_cursor_get(c, &k, &d, MDB_NEXT) == 0) {
		ck_assert_uint_eq(d.mv_size, len5);
		conv(d.mv_data, o);
		od.mv_data = o; od.mv_size = len4;
		ck_assert_int_eq(mdb_put(txn, to, &k, &od, 0), 0);
		n++;
	}
	mdb_cursor_close(c);
	ck_assert_int_eq(mdb_drop(txn, from, 1), 0);
	return (n);
}

static void
to_schema4(MDB_txn *txn, size_t *ne, size_t *nl)
{
	*ne = dups_to_schema4(txn, "identities", "ident_index", 13, 18,
	    dup4_index);
	*nl = dups_to_schema4(txn, "account_links", "acct_links", 35, 41,
	    dup4_link);
}

/*
 * Schema 3's database old from schema 4's sorted duplicates in name:
 * each key (klen) and the head of its duplicate (head) make the old key,
 * the rest of the duplicate the old value. The first keep entries stay
 * in name (keep 0: name is dropped), as a conversion to schema 4 that
 * stopped part-way leaves them. How many entries moved.
 */
static size_t
to_schema3(MDB_txn *txn, const char *name, const char *old, size_t klen,
    size_t head, size_t keep)
{
	MDB_dbi		 from, to;
	MDB_cursor	*c;
	MDB_val		 k, d, ok, od;
	uint8_t		 okey[64];
	size_t		 n = 0, seen = 0;

	ck_assert_int_eq(mdb_dbi_open(txn, name, MDB_DUPSORT | MDB_DUPFIXED,
	    &from), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, old, MDB_CREATE, &to), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, from, &c), 0);
	while (mdb_cursor_get(c, &k, &d, MDB_NEXT) == 0) {
		if (seen++ < keep)
			continue;
		ck_assert_uint_eq(k.mv_size, klen);
		ck_assert_uint_gt(d.mv_size, head);
		memcpy(okey, k.mv_data, klen);
		memcpy(okey + klen, d.mv_data, head);
		ok.mv_data = okey; ok.mv_size = klen + head;
		od.mv_data = (uint8_t *)d.mv_data + head;
		od.mv_size = d.mv_size - head;
		ck_assert_int_eq(mdb_put(txn, to, &ok, &od, MDB_NOOVERWRITE),
		    0);
		if (keep > 0)
			ck_assert_int_eq(mdb_cursor_del(c, 0), 0);
		n++;
	}
	mdb_cursor_close(c);
	if (keep == 0)
		ck_assert_int_eq(mdb_drop(txn, from, 1), 0);
	return (n);
}

/*
 * A store of 60 referrals put back into schema 4's layout (and from
 * there, when schema is 3, into schema 3's: the identity index one node
 * per entry, in "index", the links one per link, in "links"), its schema
 * record saying so; halfway (schema 3): as schema 4's refguard leaves it
 * when its conversion stops half-way, the first half of the entries in
 * schema 4's databases, the rest in schema 3's, the schema record 4.
 * *n and *nl: its index entries and links. before: the index's answers
 * first.
 */
static void
older_store(int schema, bool halfway, char *before, size_t len, size_t *n,
    size_t *nl)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	MDB_env			*env;
	MDB_txn			*txn;
	MDB_dbi			 meta;
	MDB_val			 k, d;
	char			 rid[16], rec[4] = { 0, 0, 0, (char)schema };
	size_t			 m;
	int			 i;

	t = begin(true);
	for (i = 0; i < 60; i++) {
		/* times out of order; referees 0x41-0x45 referred again */
		snprintf(rid, sizeof(rid), "c%d", i);
		mkref(&ev, rid, T0 + (int64_t)((i * 37) % 50) * 1000,
		    (uint8_t)(0x80 + i % 7), (uint8_t)(0x41 + i % 5),
		    (uint8_t)(0x11 + i % 4));
		put(t, &ev);
	}
	commit(t);
	index_answers(before, len);
	store_close(st);		/* writes the recent tier out */
	st = NULL;

	raw_begin(false, &env, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	to_schema4(txn, n, nl);
	ck_assert_uint_eq(*n, 300);	/* 60 referrals x 5 */
	ck_assert_uint_gt(*nl, 30);
	if (schema == 3) {
		/* index: kind hash ts seq -> type roles */
		m = to_schema3(txn, "ident_index", "index", 17, 16,
		    halfway ? *n / 2 : 0);
		ck_assert_uint_eq(m, halfway ? *n - *n / 2 : *n);
		/* links: account kind hash -> first_ts first_seq last_ts */
		m = to_schema3(txn, "acct_links", "links", 16, 17,
		    halfway ? *nl / 2 : 0);
		ck_assert_uint_eq(m, halfway ? *nl - *nl / 2 : *nl);
		if (halfway)
			rec[3] = 4;
	}
	k.mv_data = (char *)"schema"; k.mv_size = 6;
	d.mv_data = rec; d.mv_size = 4;
	ck_assert_int_eq(mdb_put(txn, meta, &k, &d, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/*
 * An older store is converted at the first writable open: the same
 * entries, the same answers, the older databases gone; a read-only open
 * before that refuses it, saying why.
 */
static void
convert_older(int schema, bool halfway)
{
	struct store_opts	 o;
	MDB_env			*env;
	MDB_txn			*txn;
	MDB_dbi			 dbi;
	MDB_stat		 ms;
	char			 before[2048], after[2048];
	char			*cause = NULL;
	size_t			 n, nl;

	older_store(schema, halfway, before, sizeof(before), &n, &nl);
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.readonly = true;
	ck_assert_ptr_null(store_open(&o, &cause));
	ck_assert_msg(strstr(cause, "older layout") != NULL, "%s", cause);
	free(cause);

	st = unit_store(dir, 4 * MIB, 64 * MIB);
	index_answers(after, sizeof(after));
	ck_assert_str_eq(before, after);
	store_close(st);
	st = NULL;

	raw_begin(true, &env, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, "index", 0, &dbi), MDB_NOTFOUND);
	ck_assert_int_eq(mdb_dbi_open(txn, "links", 0, &dbi), MDB_NOTFOUND);
	ck_assert_int_eq(mdb_dbi_open(txn, "ident_index", 0, &dbi),
	    MDB_NOTFOUND);
	ck_assert_int_eq(mdb_dbi_open(txn, "acct_links", 0, &dbi),
	    MDB_NOTFOUND);
	ck_assert_int_eq(mdb_dbi_open(txn, "identities", 0, &dbi), 0);
	ck_assert_int_eq(mdb_stat(txn, dbi, &ms), 0);
	ck_assert_uint_eq(ms.ms_entries, n);
	ck_assert_int_eq(mdb_dbi_open(txn, "account_links", 0, &dbi), 0);
	ck_assert_int_eq(mdb_stat(txn, dbi, &ms), 0);
	ck_assert_uint_eq(ms.ms_entries, nl);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	st = unit_store(dir, 4 * MIB, 64 * MIB);	/* for teardown */
}

START_TEST(test_index_convert)
{
	convert_older(3, false);
}
END_TEST

START_TEST(test_index_convert4)
{
	convert_older(4, false);
}
END_TEST

/* Schema 4's refguard stopped half-way converting a schema 3 store. */
START_TEST(test_index_convert_halfway)
{
	convert_older(3, true);
}
END_TEST

/*
 * A schema 4 entry whose time schema 5 cannot hold (before 1970: only
 * the store's own tests wrote one) stops the open with a message, and
 * the store is left as it was.
 */
START_TEST(test_index_convert_range)
{
	struct store_opts	 o;
	MDB_env			*env;
	MDB_txn			*txn;
	MDB_dbi			 idx;
	MDB_val			 k, d;
	uint8_t			 key[17], dup[18];
	char			 before[2048];
	char			*cause = NULL;
	size_t			 n, nl;

	older_store(4, false, before, sizeof(before), &n, &nl);
	raw_begin(false, &env, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, "ident_index",
	    MDB_DUPSORT | MDB_DUPFIXED, &idx), 0);
	memset(key, 0xee, sizeof(key));
	key[0] = ENT_IP;
	be_put(dup, (uint64_t)-1 ^ (1ULL << 63), 8);	/* ts -1 */
	be_put(dup + 8, 1, 8);
	dup[16] = EV_LOGIN;
	dup[17] = ROLE_SUBJECT;
	k.mv_data = key; k.mv_size = sizeof(key);
	d.mv_data = dup; d.mv_size = sizeof(dup);
	ck_assert_int_eq(mdb_put(txn, idx, &k, &d, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.map_size = 4 * MIB;
	o.map_max = 64 * MIB;
	ck_assert_ptr_null(store_open(&o, &cause));
	ck_assert_msg(strstr(cause, "past 2^48") != NULL, "%s", cause);
	free(cause);
	st = NULL;
	/* Nothing was lost: the entries are still in the older database. */
	raw_begin(true, &env, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, "ident_index", 0, &idx), 0);
	{
		MDB_stat	ms;

		ck_assert_int_eq(mdb_stat(txn, idx, &ms), 0);
		ck_assert_uint_eq(ms.ms_entries, n + 1);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	freshdir();
	st = unit_store(dir, 4 * MIB, 64 * MIB);	/* for teardown */
}
END_TEST

/* ---- retention -------------------------------------------------------- */

START_TEST(test_expire)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct verdict		 v;
	struct store_stat	 s;
	struct rg_hash		 acct = H(0xa1), ip = H(0x11);
	const void		*rec;
	size_t			 len;
	int			 i;

	/* Old: 3 referrals with verdicts; young: 2 referrals, 1 login. */
	t = begin(true);
	for (i = 0; i < 5; i++) {
		char	rid[8];

		snprintf(rid, sizeof(rid), "r-%d", i);
		mkref(&ev, rid, (i < 3 ? T0 - 10 * 86400000LL : T0) + i, 0xa1,
		    0xb1, 0x11);
		ck_assert_int_eq(verdict_check(t, NULL, &ev, &v), 0);
		verdict_clear(&v);
	}
	mkobs(&ev, EV_LOGIN, T0 + 10, 0xa1, 0x12);
	put(t, &ev);
	commit(t);
	s = stat_of();
	ck_assert_uint_eq(s.events, 6);
	ck_assert_uint_eq(s.verdicts, 5);

	t = begin(true);
	ck_assert_int_eq(expire(t, T0 - 86400000LL, 1000), 3);
	commit(t);
	s = stat_of();
	ck_assert_uint_eq(s.events, 3);
	ck_assert_uint_eq(s.verdicts, 2);
	/* 2 young referrals x (a, b, ip, edge, referee) + login x (a, ip). */
	ck_assert_uint_eq(s.index_entries, 2 * 5 + 2);

	t = begin(false);
	ck_assert_int_eq(store_get_event(t, 1, &ev), 1);
	ck_assert_int_eq(store_get_event(t, 3, &ev), 1);
	ck_assert_int_eq(store_get_event(t, 4, &ev), 0);
	ck_assert_int_eq(store_get_verdict(t, "r-0", 3, &rec, &len), 1);
	ck_assert_int_eq(store_get_verdict(t, "r-2", 3, &rec, &len), 1);
	ck_assert_int_eq(store_get_verdict(t, "r-3", 3, &rec, &len), 0);
	ck_assert_int_eq(count(t, ENT_IP, 0x11, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 2);
	ck_assert_int_eq(count(t, ENT_ACCOUNT, 0xa1, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, T0 - 1, 0, 0), 0);
	/* The link is still young (last seen at T0). */
	ck_assert_int_eq(store_link_get(t, &acct, ENT_IP, &ip, 0, NULL, NULL),
	    0);
	store_abort(t);

	/* max bounds one pass; the login at T0 + 10 stays. */
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 5, 1), 1);
	ck_assert_int_eq(expire(t, T0 + 5, 0), 0);
	ck_assert_int_eq(expire(t, T0 + 5, 10), 1);
	ck_assert_int_eq(expire(t, T0 + 5, 10), 0);
	commit(t);
	/* Their index entries leave with the sweep's passes. */
	sweep_all(10, 100);
	s = stat_of();
	ck_assert_uint_eq(s.events, 1);
	ck_assert_uint_eq(s.verdicts, 0);
	ck_assert_uint_eq(s.index_entries, 2);
	/*
	 * Links last seen before the horizon went too: a1 and b1 on IP 0x11
	 * (last seen at T0 + 3), not a1 on IP 0x12 (T0 + 10).
	 */
	ck_assert_uint_eq(s.links, 1);
	t = begin(false);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_IP, &ip, 0, NULL, NULL),
	    1);
	ip = H(0x12);
	ck_assert_int_eq(store_link_get(t, &acct, ENT_IP, &ip, 0, NULL, NULL),
	    0);
	store_abort(t);
	/* last_seq does not go back when events go. */
	ck_assert_uint_eq(stat_of().last_seq, 6);
}
END_TEST

/*
 * Everything expires: the pass that deletes the last link of the store
 * must succeed like any other (an idle installation reaches this).
 */
START_TEST(test_expire_everything)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct store_stat	 s;

	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0, 0xa1, 0x11);
	put(t, &ev);
	commit(t);
	ck_assert_uint_eq(stat_of().links, 1);
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 1, 100), 1);
	commit(t);
	s = stat_of();
	ck_assert_uint_eq(s.events, 0);
	ck_assert_uint_eq(s.index_entries, 0);
	ck_assert_uint_eq(s.links, 0);
	ck_assert_uint_eq(s.last_seq, 1);
	/* Reopened empty, it goes on from seq 2 (seqs are never reused). */
	store_close(st);
	st = unit_store(dir, 4 * MIB, 64 * MIB);
	ck_assert_uint_eq(stat_of().last_seq, 1);
	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0 + 5, 0xa1, 0x11);
	ck_assert_uint_eq(put(t, &ev), 2);
	commit(t);
}
END_TEST

/*
 * The sweep's store: NSW logins, event i (seq i + 1) of account sw_acct(i)
 * on IP sw_ip(i) at sw_ts(i); one in seven is timed ten seconds before its
 * neighbours, as a backend whose clocks disagree sends them. One in five
 * has a verdict under id "s-<i>" (sw_id); s-100's was moved, as a recheck
 * does, to event SW_MOVED's seq, which carries that id.
 */
#define NSW		300
#define SW_MOVED	251
static bool	sw_id(int i) { return (i % 5 == 0); }
static uint8_t	sw_acct(int i) { return ((uint8_t)(1 + i % 13)); }
static uint8_t	sw_ip(int i) { return ((uint8_t)(0x40 + i % 29)); }
static int64_t
sw_ts(int i)
{
	return (T0 + (i % 7 == 0 && i >= 10 ? (i - 10) * 1000LL + 1 :
	    i * 1000LL));
}

static int
sw_scan_cb(void *arg, const struct store_entry *e)
{
	struct sbuf	*sb = arg;

	sbuf_addf(sb, "%llu ", (unsigned long long)e->seq);
	return (0);
}

/* Which events the index should count, those still stored: how many. */
static int
sw_visible(struct store_txn *t, bool *kept)
{
	struct rg_event	ev;
	int		i, n = 0;

	for (i = 0; i < NSW; i++)
		n += kept[i] = store_get_event(t, (uint64_t)i + 1, &ev) == 0;
	return (n);
}

/*
 * What the index should answer for identity (kind, h) of the events it
 * counts (vis), in [from, to] as of max_seq: their count, their seqs
 * newest first (in sb), and the oldest one's seq (0: none).
 */
static int64_t
sw_oracle(const bool *kept, enum ent_kind kind, uint8_t h, int64_t from,
    int64_t to, uint64_t max_seq, struct sbuf *sb, uint64_t *oldest)
{
	int64_t	n = 0, best_ts = 0;
	int	i, j, order[NSW], no = 0;

	*oldest = 0;
	for (i = 0; i < NSW; i++) {
		if (!kept[i] || (kind == ENT_IP ? sw_ip(i) : sw_acct(i)) != h ||
		    sw_ts(i) < from || sw_ts(i) > to ||
		    (max_seq != 0 && (uint64_t)i + 1 > max_seq))
			continue;
		n++;
		if (*oldest == 0 || sw_ts(i) < best_ts) {
			*oldest = (uint64_t)i + 1;
			best_ts = sw_ts(i);
		}
		/* Newest first: by time, then seq, descending. */
		for (j = no; j > 0 && (sw_ts(order[j - 1]) < sw_ts(i) ||
		    (sw_ts(order[j - 1]) == sw_ts(i) && order[j - 1] < i)); j--)
			order[j] = order[j - 1];
		order[j] = i;
		no++;
	}
	for (i = 0; i < no; i++)
		sbuf_addf(sb, "%d ", order[i] + 1);
	return (n);
}

/* The entries of verdict_ids, read with LMDB alone (the store closed). */
static uint64_t
sw_ids(void)
{
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 dbi;
	MDB_stat	 ms;

	store_close(st);
	raw_begin(true, &env, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, "verdict_ids", 0, &dbi), 0);
	ck_assert_int_eq(mdb_stat(txn, dbi, &ms), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	st = unit_store(dir, 4 * MIB, 64 * MIB);
	return (ms.ms_entries);
}

/* Every query of the store against the oracle, for each identity. */
static void
sw_check(const char *when)
{
	struct store_txn	*t = begin(false);
	struct sbuf		 got, want;
	struct store_entry	 e;
	struct rg_hash		 hh;
	bool			 kept[NSW];
	static const int64_t	 win[][2] = { { INT64_MIN, INT64_MAX },
				     { T0 + 120000, T0 + 220000 },
				     { T0, T0 + 160000 } };
	static const uint64_t	 asof[] = { 0, 180, 260 };
	uint64_t		 oldest;
	int			 i, w, a, k, r;
	enum ent_kind		 kind;

	sw_visible(t, kept);
	/* A verdict is there while the event its record is of is. */
	for (i = 0; i < NSW; i++) {
		char		 rid[16];
		const void	*rec;
		size_t		 len;

		if (!sw_id(i))
			continue;
		snprintf(rid, sizeof(rid), "s-%d", i);
		ck_assert_msg(store_get_verdict(t, rid, strlen(rid), &rec,
		    &len) == (kept[i == 100 ? SW_MOVED : i] ? 0 : 1),
		    "%s: verdict %s", when, rid);
	}
	sbuf_init(&got, 256);
	sbuf_init(&want, 256);
	for (k = 0; k < 2; k++)
	for (i = 0; i < (k == 0 ? 13 : 29); i++)
	for (w = 0; w < (int)nitems(win); w++)
	for (a = 0; a < (int)nitems(asof); a++) {
		kind = k == 0 ? ENT_ACCOUNT : ENT_IP;
		hh = H((uint8_t)(k == 0 ? 1 + i : 0x40 + i));
		sbuf_reset(&got);
		sbuf_reset(&want);
		ck_assert_msg(count(t, kind, hh.b[0], EV_MASK_ANY, ROLE_ANY,
		    win[w][0], win[w][1], asof[a], 0) == sw_oracle(kept, kind,
		    hh.b[0], win[w][0], win[w][1], asof[a], &want, &oldest),
		    "%s: count of %s %02x, window %d, as of %llu", when,
		    k == 0 ? "account" : "ip", hh.b[0], w,
		    (unsigned long long)asof[a]);
		ck_assert_int_eq(store_scan(t, kind, &hh, EV_MASK_ANY,
		    ROLE_ANY, win[w][0], win[w][1], asof[a], true, sw_scan_cb,
		    &got), 0);
		ck_assert_msg(strcmp(got.buf, want.buf) == 0,
		    "%s: scan of %s %02x, window %d, as of %llu: %s, want %s",
		    when, k == 0 ? "account" : "ip", hh.b[0], w,
		    (unsigned long long)asof[a], got.buf, want.buf);
		if (w != 0)
			continue;
		r = store_first(t, kind, &hh, INT64_MAX, asof[a], &e);
		ck_assert_int_eq(r, oldest == 0 ? 1 : 0);
		if (r == 0)
			ck_assert_msg(e.seq == oldest, "%s: first of %s %02x "
			    "as of %llu: %llu, want %llu", when,
			    k == 0 ? "account" : "ip", hh.b[0],
			    (unsigned long long)asof[a],
			    (unsigned long long)e.seq,
			    (unsigned long long)oldest);
	}
	sbuf_free(&got);
	sbuf_free(&want);
	store_abort(t);
}

/* Retention passes of max 7 up to before, each checked, to the sweep's end. */
static void
sw_expire(int64_t before, bool reopen)
{
	struct store_txn	*t;
	struct store_stat	 s;
	char			 when[64];
	int64_t			 n;
	int			 pass = 0;

	do {
		t = begin(true);
		n = expire(t, before, 7);
		commit(t);
		snprintf(when, sizeof(when), "pass %d to +%llds", ++pass,
		    (long long)((before - T0) / 1000));
		sw_check(when);
		if (reopen && pass == 3) {
			/* Mid-sweep: a new open goes on where it stood. */
			store_close(st);
			st = unit_store(dir, 4 * MIB, 64 * MIB);
			sw_check("reopened");
		}
		s = stat_of();
		ck_assert_int_lt(pass, 100);
	} while (n == 7 || s.index_sweeping);
}

/*
 * Retention deletes the oldest events and hides their index entries at
 * once; its sweep removes them later, a few identities a pass, once
 * enough of them wait. After every pass, counts, scans (newest first)
 * and first entries, in windows and as of earlier seqs, are those of the
 * events still stored; when a sweep is done, the index holds only theirs.
 */
START_TEST(test_expire_sweep)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct store_stat	 s;
	int			 i;

	t = begin(true);
	for (i = 0; i < NSW; i++) {
		uint8_t	vr[20] = { 1 };

		mkobs(&ev, EV_LOGIN, sw_ts(i), sw_acct(i), sw_ip(i));
		if (sw_id(i) || i == SW_MOVED)		/* a recheck's id */
			ev.idlen = (size_t)snprintf(ev.id, sizeof(ev.id),
			    "s-%d", i == SW_MOVED ? 100 : i);
		ck_assert_uint_eq(put(t, &ev), (uint64_t)i + 1);
		if (!sw_id(i))
			continue;
		be_put(vr + 1, (uint64_t)(i == 100 ? SW_MOVED : i) + 1, 8);
		ck_assert_int_eq(store_put_verdict(t, ev.id, ev.idlen, vr,
		    sizeof(vr)), 0);
	}
	commit(t);
	sw_check("stored");
	ck_assert_uint_eq(stat_of().verdicts, NSW / 5);
	ck_assert_uint_eq(stat_of().index_entries, 2 * NSW);

	/* 7 of 300 deleted wait: too few to begin a sweep yet. */
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 150000, 7), 7);
	commit(t);
	s = stat_of();
	ck_assert_uint_eq(s.index_entries, 2 * NSW);
	ck_assert(!s.index_sweeping);
	sw_check("7 deleted");

	/*
	 * To 150 s: 150 events go; one of those kept (i = 154, timed at
	 * 144 s) sorts before some deleted ones, whose entries stay, not
	 * counted, until it goes too.
	 */
	sw_expire(T0 + 150000, true);
	s = stat_of();
	ck_assert_uint_eq(s.events, NSW - 150);
	ck_assert_uint_ge(s.index_entries, 2 * (NSW - 150));
	ck_assert_uint_gt(s.index_swept, 0);

	/*
	 * To 200 s, then sweep whatever waits: the index holds exactly the
	 * entries of the 100 events left.
	 */
	sw_expire(T0 + 200000, false);
	ck_assert_uint_eq(stat_of().events, NSW - 200);
	sweep_all(7, 100);
	sw_check("swept");
	{
		bool	kept[NSW];

		t = begin(false);
		i = sw_visible(t, kept);
		store_abort(t);
		ck_assert_int_eq(i, NSW - 200);
		ck_assert_uint_eq(stat_of().index_entries, 2 * (unsigned)i);
	}
	/* The ids of the verdicts left (s-100's is at SW_MOVED), no more. */
	ck_assert_uint_eq(stat_of().verdicts, (NSW - 200) / 5 + 1);
	ck_assert_uint_eq(sw_ids(), (NSW - 200) / 5 + 1);
	store_close(st);
	st = unit_store(dir, 4 * MIB, 64 * MIB);
	sw_check("reopened");

	/* Everything: with no event kept, the sweep leaves none. */
	sw_expire(T0 + 400000, false);
	s = stat_of();
	ck_assert_uint_eq(s.events, 0);
	ck_assert_uint_eq(s.index_entries, 0);
	ck_assert_uint_eq(s.verdicts, 0);
	ck_assert_uint_eq(sw_ids(), 0);
	ck_assert(!s.index_sweeping);
}
END_TEST

/* n logins of accounts 1.., each of its own email too, from ts on. */
static void
sw_logins(int n, int64_t ts, uint8_t tag)
{
	struct store_txn	*t = begin(true);
	struct rg_event		 ev;
	int			 i;

	for (i = 0; i < n; i++) {
		mkobs(&ev, EV_LOGIN, ts + i, (uint8_t)(1 + i % 200), 0);
		ev.party[0].h[ENT_ACCOUNT].b[1] = (uint8_t)(i / 200);
		setent(&ev.party[0], ENT_EMAIL, tag);
		ev.party[0].h[ENT_EMAIL].b[1] = (uint8_t)i;
		ev.party[0].h[ENT_EMAIL].b[2] = (uint8_t)(i >> 8);
		put(t, &ev);
	}
	commit(t);
}

/*
 * A sweep's pass looks at no more keys than it may, in a transaction
 * however often retention runs in it (cluster mode runs a pass per
 * message applied), and passes of one key each still end the cycle.
 */
START_TEST(test_sweep_bounds)
{
	struct store_txn	*t;
	struct store_stat	 s;
	int			 i;

	sw_logins(500, T0, 0x31);		/* old: 500 accounts, emails */
	sw_logins(500, T0 + 100000, 0x32);	/* young: the same accounts */
	ck_assert_uint_eq(stat_of().index_entries, 2000);
	t = begin(true);
	for (i = 0; i < 40; i++)
		expire(t, T0 + 50000, 100);
	commit(t);
	s = stat_of();
	ck_assert_uint_eq(s.events, 500);
	ck_assert(s.index_sweeping);
	/* 100 keys looked at: at most 100 entries gone of the 1000. */
	ck_assert_uint_le(s.index_swept, 100);
	ck_assert_uint_ge(s.index_entries, 2000 - 100);
	/*
	 * Then passes of 1 key (a key whose old entry goes takes two): the
	 * cycle ends: about two passes a key, for 1,500 keys.
	 */
	sweep_all(1, 4000);
	s = stat_of();
	ck_assert_uint_eq(s.index_swept, 1000);
	ck_assert_uint_eq(s.index_entries, 1000);
}
END_TEST

/*
 * A read-only store (a backtest, an export) open while the writer adds
 * events past what it has seen, then retention deletes every event: it
 * counts none of them (its floor is its snapshot's, not what it saw).
 */
START_TEST(test_sweep_readonly_floor)
{
	struct store_opts	 o;
	struct store_txn	*t;
	struct store		*ro;
	char			*cause = NULL, c;
	int			 go[2], done[2], status;
	int64_t			 n1, n2;
	pid_t			 pid;

	t = begin(true);
	put_run(t, 50, T0, 1, 1, 0);	/* seqs 1..50, account 1 */
	commit(t);
	store_close(st);
	st = NULL;
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	if ((pid = fork()) == 0) {
		close(go[1]);
		close(done[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		st = unit_store(dir, 4 * MIB, 64 * MIB);
		t = begin(true);
		put_run(t, 10, T0 + 1000, 1, 2, 0);	/* seqs 51..60, account 2 */
		commit(t);
		t = begin(true);
		if (store_expire(t, T0 + 1000000, 100) != 60)
			_exit(4);
		commit(t);
		store_close(st);
		_exit(write(done[1], "", 1) == 1 ? 0 : 5);
	}
	ck_assert_int_ge(pid, 0);
	close(go[0]);
	close(done[1]);
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.readonly = true;
	ro = store_open(&o, &cause);
	ck_assert_msg(ro != NULL, "read-only open: %s", cause);
	st = ro;
	t = begin(false);			/* it has seen seq 50 */
	ck_assert_int_eq(count(t, ENT_ACCOUNT, 1, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 50);
	store_abort(t);
	ck_assert_int_eq(write(go[1], "", 1), 1);
	ck_assert_int_eq(read(done[0], &c, 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "writer status %d", status);
	t = begin(false);
	n1 = count(t, ENT_ACCOUNT, 1, EV_MASK_ANY, ROLE_ANY, INT64_MIN,
	    INT64_MAX, 0, 0);
	n2 = count(t, ENT_ACCOUNT, 2, EV_MASK_ANY, ROLE_ANY, INT64_MIN,
	    INT64_MAX, 0, 0);
	store_abort(t);
	store_close(ro);
	st = unit_store(dir, 4 * MIB, 64 * MIB);	/* for teardown */
	ck_assert_msg(n1 == 0 && n2 == 0, "account 1 counts %lld, account "
	    "2 %lld (want 0, 0)", (long long)n1, (long long)n2);
}
END_TEST

/* ---- retention's floor, against what a store may hold ------------------ */

/*
 * Put key -> val in database db with LMDB alone, the store closed then
 * opened again: what damage, or another program, leaves in it.
 */
static void
raw_put(const char *db, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 dbi;
	MDB_val		 k, v;

	store_close(st);
	raw_begin(false, &env, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
	k.mv_data = (void *)(uintptr_t)key;
	k.mv_size = klen;
	v.mv_data = (void *)(uintptr_t)val;
	v.mv_size = vlen;
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	st = unit_store(dir, 4 * MIB, 64 * MIB);
}


/*
 * Retention ran (the newest time it deleted is T0 + 9 s); then an event
 * older than that is stored, as the daemon stores one after its
 * retention was raised or turned off (req.c checks ts against the
 * retention configured now), a cluster node with a longer retention
 * than the message that expired (docs/cluster.md allows it), or a
 * wall-clock step back: the event is stored and counts.
 */
START_TEST(test_expire_late_event_counts)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	uint64_t		 seq;

	t = begin(true);
	put_run(t, 10, T0, 1000, 1, 0x41);	/* seqs 1..10, account 1 */
	put_run(t, 10, T0 + 100000, 1, 2, 0x42);	/* seqs 11..20, account 2 */
	commit(t);
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 50000, 100), 10);
	commit(t);

	/* Retention raised: an event of T0 + 5 s is within it again. */
	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0 + 5000, 3, 0x43);
	seq = put(t, &ev);
	commit(t);
	ck_assert_uint_eq(seq, 21);
	t = begin(false);
	ck_assert_int_eq(store_get_event(t, seq, &ev), 0);	/* stored */
	ck_assert_msg(count(t, ENT_ACCOUNT, 3, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0) == 1, "event %llu is stored but "
	    "account 3 counts %lld", (unsigned long long)seq,
	    (long long)count(t, ENT_ACCOUNT, 3, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0));
	ck_assert_uint_eq(first(t, 0x43, INT64_MAX, 0, NULL), seq);
	store_abort(t);

	/* And the sweep must not remove the entries of a stored event. */
	sweep_all(1000, 100);
	ck_assert_uint_eq(stat_of().events, 11);
	ck_assert_uint_eq(stat_of().index_entries, 2 * 11);
}
END_TEST

/*
 * refguardctl import into a store whose retention deleted every event
 * (store_stat() says it holds none: import takes it for empty): the
 * imported events keep their times, older than what retention deleted,
 * and each counts.
 */
START_TEST(test_expire_then_import)
{
	struct export_opts	 eo;
	struct export_counts	 ec;
	struct store_txn	*t;
	struct store		*src;
	char			 sdir[320], *cause = NULL, *buf = NULL;
	size_t			 blen = 0;
	FILE			*f;

	/* The export: 5 logins of account 7 at T0 .. T0 + 4 s. */
	snprintf(sdir, sizeof(sdir), "%s-src", dir);
	ck_assert_int_eq(mkdir(sdir, 0700), 0);
	store_close(st);		/* one store open at a time */
	src = unit_store(sdir, 4 * MIB, 64 * MIB);
	st = src;
	t = begin(true);
	put_run(t, 5, T0, 1000, 7, 0x47);
	commit(t);
	memset(&eo, 0, sizeof(eo));
	eo.since = INT64_MIN;
	f = open_memstream(&buf, &blen);
	ck_assert_int_eq(export_run(src, f, &eo, &ec, &cause), 0);
	fclose(f);
	store_close(src);
	st = unit_store(dir, 4 * MIB, 64 * MIB);

	/* The target: it ran a day later, and retention deleted it all. */
	t = begin(true);
	put_run(t, 5, T0 + 86400000LL, 1, 8, 0x48);
	commit(t);
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 2 * 86400000LL, 100), 5);
	commit(t);
	ck_assert_uint_eq(stat_of().events, 0);

	f = fmemopen(buf, blen, "r");
	ck_assert_msg(export_import(st, f, "export", &eo, &ec, &cause) == 0,
	    "import: %s", cause);
	fclose(f);
	free(buf);
	ck_assert_uint_eq(ec.events, 5);
	ck_assert_uint_eq(stat_of().events, 5);
	t = begin(false);
	ck_assert_msg(count(t, ENT_ACCOUNT, 7, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0) == 5, "imported account 7 counts "
	    "%lld of its 5 events", (long long)count(t, ENT_ACCOUNT, 7,
	    EV_MASK_ANY, ROLE_ANY, INT64_MIN, INT64_MAX, 0, 0));
	store_abort(t);
}
END_TEST

/*
 * Retention drops a corrupt record as it goes; when that is the newest
 * event, meta seq_floor keeps its seq, so that the next open neither
 * reuses it nor takes the floor back below it (what the corrupt event
 * left in the index would count again).
 */
START_TEST(test_expire_corrupt_newest)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	uint8_t			 key[8], junk[3] = { 0xee, 0xee, 0xee };
	uint64_t		 seq;

	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0, 1, 0x41);
	put(t, &ev);
	mkobs(&ev, EV_LOGIN, T0 + 1000, 1, 0x41);
	put(t, &ev);
	mkobs(&ev, EV_LOGIN, T0 + 2000, 9, 0x49);	/* seq 3 */
	put(t, &ev);
	commit(t);
	/* Its index entries are in LMDB (a clean close flushes the tier). */
	be_put(key, 3, 8);
	raw_put("events", key, 8, junk, sizeof(junk));

	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 100000, 100), 2);
	commit(t);
	ck_assert_uint_eq(stat_of().events, 0);
	t = begin(false);
	ck_assert_int_eq(count(t, ENT_ACCOUNT, 9, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0), 0);
	store_abort(t);

	store_close(st);
	{
		struct store_opts	 o;
		char			*cause = NULL;

		memset(&o, 0, sizeof(o));
		o.dir = dir;
		o.map_size = 4 * MIB;
		o.map_max = 64 * MIB;
		o.nosync = true;
		st = store_open(&o, &cause);
		ck_assert_msg(st != NULL, "reopen after retention dropped "
		    "the corrupt newest event: %s", cause);
	}
	t = begin(false);
	ck_assert_msg(count(t, ENT_ACCOUNT, 9, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0) == 0, "reopened: the dropped "
	    "event's entry counts again");
	store_abort(t);
	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0 + 200000, 2, 0x42);
	seq = put(t, &ev);
	commit(t);
	ck_assert_msg(seq > 3, "seq %llu reused", (unsigned long long)seq);
}
END_TEST

/*
 * The same event older than what retention deleted, stored afterwards:
 * the sweep leaves the index entries of an event still stored, however
 * old its time.
 */
START_TEST(test_sweep_keeps_stored_event)
{
	struct store_txn	*t;
	struct rg_event		 ev;

	t = begin(true);
	put_run(t, 10, T0, 1000, 1, 0x41);
	put_run(t, 10, T0 + 100000, 1, 2, 0x42);
	commit(t);
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 50000, 100), 10);
	mkobs(&ev, EV_LOGIN, T0 + 5000, 3, 0x43);	/* seq 21 */
	put(t, &ev);
	commit(t);
	/* Its entries into LMDB (a clean close flushes the tier). */
	store_close(st);
	st = unit_store(dir, 4 * MIB, 64 * MIB);
	/* One more event goes (T0 + 100 s): a cycle sweeps below it. */
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 100001, 100), 1);
	commit(t);
	sweep_all(1000, 100);
	ck_assert_uint_eq(stat_of().events, 10);
	ck_assert_msg(stat_of().index_entries == 2 * 10, "%llu index "
	    "entries for 10 stored events of 2 each",
	    (unsigned long long)stat_of().index_entries);
}
END_TEST

/*
 * One verdict id longer than a sweep key (only damage or a foreign
 * write makes one): the sweep steps over it, where failing would fail
 * every retention pass from then on, and whatever the writer batched
 * with it.
 */
START_TEST(test_sweep_long_key)
{
	struct store_txn	*t;
	uint8_t			 key[200], seq8[8];
	int			 i;
	int64_t			 n;

	t = begin(true);
	put_run(t, 20, T0, 1000, 1, 0x41);
	commit(t);
	memset(key, 'z', sizeof(key));
	be_put(seq8, 20, 8);
	raw_put("verdict_ids", key, sizeof(key), seq8, 8);
	/* Half the events go: a cycle begins, ends its index part. */
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 10000, 100), 10);
	commit(t);
	for (i = 0; i < 3; i++) {
		t = begin(true);
		n = store_expire(t, T0 + 10000, 100);
		ck_assert_msg(n >= 0, "retention pass %d: %s", i,
		    store_txn_errstr(t));
		commit(t);
	}
}
END_TEST

/* Meta "sweep" written by hand: swept, on, ids, cycle seq, keylen 0. */
static void
sweep_record(uint64_t swept, bool on, uint64_t cseq)
{
	uint8_t		 rec[19];

	memset(rec, 0, sizeof(rec));
	be_put(rec, swept, 8);
	rec[8] = on;
	be_put(rec + 10, cseq, 8);
	raw_put("meta", "sweep", 5, rec, sizeof(rec));
}

/*
 * A sweep record whose cycle is past the store's floor (a damaged page,
 * a record of another store copied in) is set aside at the open: the
 * sweep never deletes the index entries or the verdict id of events
 * still stored.
 */
START_TEST(test_sweep_record_past_floor)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	const void		*rec;
	size_t			 len;
	uint8_t			 vr[20] = { 1 };
	int			 i;
	int64_t			 r;

	t = begin(true);
	for (i = 0; i < 10; i++) {
		mkref(&ev, i == 0 ? "x-0" : "x-n", T0 + i, 1, 2, 0x41);
		if (i == 0) {
			put(t, &ev);
			be_put(vr + 1, ev.seq, 8);
			ck_assert_int_eq(store_put_verdict(t, "x-0", 3, vr,
			    sizeof(vr)), 0);
		} else {
			mkobs(&ev, EV_LOGIN, T0 + i, 1, 0x41);
			put(t, &ev);
		}
	}
	commit(t);
	sweep_record(1, true, 1ULL << 40);
	t = begin(true);
	r = store_sweep(t, 1000);
	if (r >= 0)
		commit(t);
	else
		store_abort(t);
	t = begin(false);
	ck_assert_int_eq(store_get_event(t, 1, &ev), 0);
	ck_assert_msg(count(t, ENT_ACCOUNT, 1, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, 0) == 10, "account 1 counts %lld of "
	    "its 10 stored events", (long long)count(t, ENT_ACCOUNT, 1,
	    EV_MASK_ANY, ROLE_ANY, INT64_MIN, INT64_MAX, 0, 0));
	ck_assert_msg(store_get_verdict(t, "x-0", 3, &rec, &len) == 0,
	    "the verdict of stored event 1 is gone");
	store_abort(t);
}
END_TEST

/*
 * Backtest of an unchanged rule set: an event kept behind a younger one
 * (timed before its neighbour, within the horizon when it came) and older
 * than one retention deleted replays with its history, its own entry
 * included: no change the rules did not make.
 */
START_TEST(test_expire_backtest_kept_event)
{
	static const char rules[] =
	    "rule seen { when count(referral, referee.ip, 1h) > 0 "
	    "action review }\n";
	static const char rules2[] =
	    "rule seen_again { when count(referral, referee.ip, 1h) > 0 "
	    "action review }\n";
	struct backtest_opts	 bo = { INT64_MIN, INT64_MAX, 5, 0, 0, NULL,
	    NULL, false };
	struct store_txn	*t = begin(true);
	struct backtest		*bt;
	struct ruleset		*rs, *rs2;
	struct verdict		 v;
	struct rg_event		 ev;
	char			*diag = NULL, *cause = NULL;

	rs = rules_load_buf("t.rules", rules, sizeof(rules) - 1, NULL, 0,
	    &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	/*
	 * r1 at 100 s, r2 at 200 s, then r3 and r4 (late, on one IP) at
	 * 50 and 60 s: r4 is reviewed for r3.
	 */
	mkref(&ev, "r1", T0 + 100000, 1, 2, 9);
	ck_assert_int_eq(verdict_check(t, rs, &ev, &v), 0);
	verdict_clear(&v);
	mkref(&ev, "r2", T0 + 200000, 3, 4, 10);
	ck_assert_int_eq(verdict_check(t, rs, &ev, &v), 0);
	verdict_clear(&v);
	mkref(&ev, "r3", T0 + 50000, 5, 6, 11);
	ck_assert_int_eq(verdict_check(t, rs, &ev, &v), 0);
	verdict_clear(&v);
	mkref(&ev, "r4", T0 + 60000, 7, 8, 11);
	ck_assert_int_eq(verdict_check(t, rs, &ev, &v), 0);
	ck_assert_int_eq(v.action, ACTION_REVIEW);
	verdict_clear(&v);
	commit(t);
	/* At 150 s: r1 goes; r2 is young, r3 and r4 wait behind it. */
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 + 150000, 100), 1);
	commit(t);
	/* The same rule under another name: evaluated, not reused. */
	rs2 = rules_load_buf("t2.rules", rules2, sizeof(rules2) - 1, NULL, 0,
	    &diag);
	ck_assert_msg(rs2 != NULL, "%s", diag);
	bt = backtest_run(st, rs2, &bo, &cause);
	ck_assert_msg(bt != NULL, "backtest: %s", cause);
	ck_assert_uint_eq(backtest_replayed(bt), 3);
	ck_assert_msg(backtest_changed(bt) == 0, "the same rule: %llu "
	    "changed", (unsigned long long)backtest_changed(bt));
	backtest_free(bt);
	rules_unref(rs2);
	rules_unref(rs);
}
END_TEST

START_TEST(test_expire_keeps_rechecked_verdict)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	const void		*rec;
	size_t			 len;

	/* A verdict whose record points at a younger event stays. */
	t = begin(true);
	mkref(&ev, "r-1", T0 - 100000, 0xa1, 0xb1, 0x11);
	put(t, &ev);					/* seq 1, old */
	mkref(&ev, "r-1", T0, 0xa1, 0xb1, 0x11);
	put(t, &ev);					/* seq 2, young */
	mkobs(&ev, EV_LOGIN, T0, 0xa3, 0x13);		/* a young link */
	put(t, &ev);
	{
		uint8_t	vr[20] = { 1, 0, 0, 0, 0, 0, 0, 0, 2 };

		ck_assert_int_eq(store_put_verdict(t, "r-1", 3, vr,
		    sizeof(vr)), 0);
	}
	commit(t);
	t = begin(true);
	ck_assert_int_eq(expire(t, T0 - 1, 100), 1);
	ck_assert_int_eq(store_get_verdict(t, "r-1", 3, &rec, &len), 0);
	commit(t);
}
END_TEST

/* ---- map size --------------------------------------------------------- */

/*
 * Write batches of events until the store refuses. Returns the number of
 * events committed; *err gets the error of the failed transaction.
 */
static uint64_t
fill(enum store_err *err, uint64_t committed, bool *at_commit)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	char			*cause = NULL;
	int			 i, b;

	*at_commit = false;
	for (b = 0; b < 100000; b++) {
		t = begin(true);
		for (i = 0; i < 20; i++) {
			mkobs(&ev, EV_LOGIN, T0 + (int64_t)committed + i,
			    (uint8_t)(committed + i), (uint8_t)b);
			setent(&ev.party[0], ENT_EMAIL, (uint8_t)i);
			ev.party[0].h[ENT_EMAIL].b[0] = (uint8_t)b;
			ev.party[0].h[ENT_EMAIL].b[1] = (uint8_t)(b >> 8);
			if (store_put_event(t, &ev) != 0) {
				*err = store_txn_err(t);
				ck_assert_ptr_nonnull(strstr(
				    store_txn_errstr(t), "store full"));
				/* The first error sticks; later calls fail. */
				ck_assert_int_eq(store_put_event(t, &ev), -1);
				ck_assert_int_eq(store_txn_err(t), *err);
				ck_assert_int_eq(store_commit(t, NULL, &cause), -1);
				ck_assert_ptr_nonnull(strstr(cause, "full"));
				free(cause);
				return (committed);
			}
		}
		if (store_commit(t, NULL, &cause) != 0) {
			/* LMDB may only notice at commit. */
			ck_assert_ptr_nonnull(strstr(cause, "full"));
			free(cause);
			*at_commit = true;
			*err = STORE_FULL;
			return (committed);
		}
		committed += 20;
	}
	ck_abort_msg("the store never filled");
	return (0);
}

START_TEST(test_map_full)
{
	struct store_txn	*t;
	struct store_stat	 s;
	struct rg_event		 ev;
	enum store_err		 err = STORE_OK;
	uint64_t		 n, i;
	bool			 at_commit;

	store_close(st);
	st = unit_store(dir, MIB, MIB);
	n = fill(&err, 0, &at_commit);
	ck_assert_uint_gt(n, 0);
	ck_assert_msg(err == STORE_FULL, "err %d, want STORE_FULL", err);
	ck_assert_int_eq(store_grow(st), -1);	/* at map_max */
	s = stat_of();
	ck_assert_uint_eq(s.events, n);
	ck_assert_uint_eq(s.last_seq, n);
	ck_assert_uint_eq(s.map_size, MIB);
	ck_assert_uint_eq(s.map_max, MIB);

	/* Committed data is intact after reopening. */
	store_close(st);
	st = unit_store(dir, MIB, MIB);
	s = stat_of();
	ck_assert_uint_eq(s.events, n);
	ck_assert_uint_eq(s.last_seq, n);
	t = begin(false);
	for (i = 1; i <= n; i++)
		ck_assert_int_eq(store_get_event(t, i, &ev), 0);
	ck_assert_int_eq(store_get_event(t, n + 1, &ev), 1);
	store_abort(t);
	/* Meta reads still work on the full store. */
	t = begin(false);
	{
		const void	*v;
		size_t		 len;

		ck_assert_int_eq(store_meta_get(t, "schema", &v, &len), 0);
	}
	store_abort(t);
}
END_TEST

START_TEST(test_map_grow)
{
	enum store_err	err = STORE_OK;
	uint64_t	n;
	bool		at_commit;

	store_close(st);
	st = unit_store(dir, MIB, 3 * MIB);
	n = fill(&err, 0, &at_commit);
	if (!at_commit)
		ck_assert_msg(err == STORE_MAP_GROW, "err %d, want "
		    "STORE_MAP_GROW", err);
	ck_assert_int_eq(store_grow(st), 0);
	ck_assert_uint_eq(stat_of().map_size, 2 * MIB);
	/* The failed batch goes in now. */
	n = fill(&err, n, &at_commit);
	ck_assert_int_eq(store_grow(st), 0);
	ck_assert_uint_eq(stat_of().map_size, 3 * MIB);	/* capped */
	n = fill(&err, n, &at_commit);
	ck_assert_int_eq(err, STORE_FULL);
	ck_assert_int_eq(store_grow(st), -1);
	ck_assert_uint_eq(stat_of().map_size, 3 * MIB);
	ck_assert_uint_eq(stat_of().events, n);
}
END_TEST

/*
 * store_writes() counts the commits that wrote: a write transaction that
 * changed nothing commits without touching the disk, and proves nothing
 * about it (the writer's health).
 */
START_TEST(test_store_writes)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	const void		*v;
	size_t			 len;
	uint64_t		 n = store_writes(st);

	t = begin(true);
	ck_assert_int_eq(store_meta_get(t, "schema", &v, &len), 0);
	commit(t);
	ck_assert_uint_eq(store_writes(st), n);
	t = begin(false);
	commit(t);
	ck_assert_uint_eq(store_writes(st), n);
	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0, 0xa1, 0x11);
	put(t, &ev);
	commit(t);
	ck_assert_uint_eq(store_writes(st), n + 1);
	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0, 0xa1, 0x11);
	put(t, &ev);
	store_abort(t);
	ck_assert_uint_eq(store_writes(st), n + 1);
}
END_TEST

START_TEST(test_last_seq_reopen)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	int			 i;

	ck_assert_uint_eq(stat_of().last_seq, 0);
	t = begin(true);
	for (i = 0; i < 7; i++) {
		mkobs(&ev, EV_LOGIN, T0 + i, 0xa1, 0x11);
		put(t, &ev);
	}
	commit(t);
	ck_assert_uint_eq(stat_of().last_seq, 7);
	store_close(st);
	st = unit_store(dir, 4 * MIB, 64 * MIB);
	ck_assert_uint_eq(stat_of().last_seq, 7);
	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0, 0xa1, 0x11);
	ck_assert_uint_eq(put(t, &ev), 8);
	commit(t);
	ck_assert_uint_eq(stat_of().last_seq, 8);
}
END_TEST

/* ---- verdicts through verdict.c --------------------------------------- */

static struct ident *
mkident(void)
{
	char	path[400];

	snprintf(path, sizeof(path), "%s/secret", tmpdir);
	return (unit_ident(path));
}

#define RAW_LINE	"{\"op\":\"check\",\"id\":\"ref-77\"," \
	"\"ts\":\"2026-11-23T10:00:00Z\",\"campaign\":\"spring\"," \
	"\"reward\":{\"amount\":5,\"currency\":\"EUR\"}," \
	"\"referrer\":{\"account\":\"acct-alice-77\",\"email\":" \
	"\"alice.smith@example.com\",\"ip\":\"203.0.113.9\"," \
	"\"phone\":\"+33612345678\",\"payment\":\"tok_visa_4242\"," \
	"\"device\":{\"ua\":\"Mozilla/5.0 (X11; Linux) Firefox/120.0\"," \
	"\"tz\":\"Europe/Paris\",\"id\":\"dev-secret-1\"}}," \
	"\"referee\":{\"account\":\"acct-bob-88\",\"email\":" \
	"\"bob.jones@example.com\",\"ip\":\"203.0.113.10\"}}"

static void
decode_raw(struct ident *id, struct rg_event *ev)
{
	struct req_opts		o = { T0, 0, 0 };
	struct req_error	err;
	enum req_op		op;

	ck_assert_msg(req_decode(RAW_LINE, strlen(RAW_LINE), id, &o, &op, ev,
	    &err) == 0, "%s %s", err.field, err.msg);
	ck_assert_int_eq(op, OP_CHECK);
}

START_TEST(test_verdict_idempotent)
{
	struct ident		*id = mkident();
	struct store_txn	*t;
	struct rg_event		 ev;
	struct verdict		 v1, v2;
	struct store_stat	 s1, s2;
	json_error_t		 je;
	json_t			*j;

	decode_raw(id, &ev);
	t = begin(true);
	ck_assert_int_eq(verdict_check(t, NULL, &ev, &v1), 0);
	commit(t);
	ck_assert(!v1.replay);
	ck_assert_uint_eq(v1.seq, 1);
	ck_assert_uint_eq(v1.replylen, strlen(v1.reply));
	j = json_loadb(v1.reply, v1.replylen, JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(j != NULL, "'%s': %s", v1.reply, je.text);
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")),
	    "ref-77");
	ck_assert_str_eq(json_string_value(json_object_get(j, "action")),
	    "allow");
	ck_assert_str_eq(json_string_value(json_object_get(j, "ts")),
	    "2026-11-23T10:00:00.000Z");
	json_decref(j);
	s1 = stat_of();

	/* Same id again, even with another time: the stored bytes. */
	decode_raw(id, &ev);
	ev.ts = T0 + 5000;
	t = begin(true);
	ck_assert_int_eq(verdict_check(t, NULL, &ev, &v2), 0);
	commit(t);
	ck_assert(v2.replay);
	ck_assert_uint_eq(v2.seq, v1.seq);
	ck_assert_uint_eq(v2.replylen, v1.replylen);
	ck_assert(memcmp(v2.reply, v1.reply, v1.replylen) == 0);
	ck_assert_int_eq(v2.action, v1.action);
	ck_assert_int_eq(v2.score, v1.score);
	s2 = stat_of();
	ck_assert_uint_eq(s2.events, s1.events);
	ck_assert_uint_eq(s2.index_entries, s1.index_entries);
	ck_assert_uint_eq(s2.last_seq, s1.last_seq);
	ck_assert_uint_eq(s2.verdicts, 1);

	/* verdict_lookup without explain: the same bytes too. */
	verdict_clear(&v2);
	t = begin(false);
	ck_assert_int_eq(verdict_lookup(t, "ref-77", 6, false, &v2), 0);
	ck_assert_uint_eq(v2.replylen, v1.replylen);
	ck_assert(memcmp(v2.reply, v1.reply, v1.replylen) == 0);
	verdict_clear(&v2);
	ck_assert_int_eq(verdict_lookup(t, "ref-78", 6, false, &v2), 1);
	store_abort(t);
	verdict_clear(&v1);
	ident_free(id);
}
END_TEST

START_TEST(test_explain_no_raw)
{
	static const char *const raw[] = { "acct-alice", "acct-bob", "alice",
	    "smith", "bob.jones", "203.0.113", "+336", "612345678",
	    "tok_visa", "4242", "Firefox", "Mozilla", "Europe/Paris",
	    "dev-secret" };
	struct ident		*id = mkident();
	struct store_txn	*t;
	struct rg_event		 ev;
	struct verdict		 v;
	json_error_t		 je;
	json_t			*j, *e;
	size_t			 i;

	decode_raw(id, &ev);
	t = begin(true);
	ck_assert_int_eq(verdict_check(t, NULL, &ev, &v), 0);
	commit(t);
	verdict_clear(&v);
	t = begin(false);
	ck_assert_int_eq(verdict_lookup(t, "ref-77", 6, true, &v), 0);
	store_abort(t);
	for (i = 0; i < nitems(raw); i++)
		ck_assert_msg(memmem(v.reply, v.replylen, raw[i],
		    strlen(raw[i])) == NULL, "explain shows '%s': %s", raw[i],
		    v.reply);
	j = json_loadb(v.reply, v.replylen, JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(j != NULL, "'%s': %s", v.reply, je.text);
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")),
	    "ref-77");
	ck_assert(json_is_object(json_object_get(j, "verdict")));
	e = json_object_get(j, "event");
	ck_assert(json_is_object(e));
	ck_assert_int_eq(json_integer_value(json_object_get(e, "seq")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(e, "campaign")),
	    "spring");
	/* Facts yes: the email domain is not an identifier. */
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e,
	    "referrer"), "email.domain")), "example.com");
	ck_assert(json_is_array(json_object_get(e, "shared")));
	ck_assert(json_is_array(json_object_get(j, "rules")));
	json_decref(j);
	verdict_clear(&v);
	ident_free(id);
}
END_TEST

START_TEST(test_observe_ack)
{
	struct store_txn	*t;
	struct rg_event		 ev;
	struct verdict		 v;

	t = begin(true);
	mkobs(&ev, EV_LOGIN, T0, 0xa1, 0x11);
	ck_assert_int_eq(verdict_observe(t, &ev, &v), 0);
	commit(t);
	ck_assert_str_eq(v.reply, "{\"ok\":true,\"seq\":1}");
	ck_assert_uint_eq(v.replylen, strlen(v.reply));
	verdict_clear(&v);
	ck_assert_ptr_null(v.reply);
}
END_TEST


/* Labels: first one kept, seen from the seq they were given at. */
START_TEST(test_labels)
{
	struct store_txn	*t = begin(true);
	struct store_label	 l = { 5, T0, 7 }, got;
	struct rg_hash		 dev = H(0x31), acct = H(0x32);
	struct party		 p;
	uint8_t			 kind;
	int			 label;

	ck_assert_int_eq(store_label_put(t, ENT_DEVICE, &dev, LABEL_FRAUD, &l),
	    0);
	l.seq = 9;
	l.feedback = 8;
	ck_assert_int_eq(store_label_put(t, ENT_DEVICE, &dev, LABEL_FRAUD, &l),
	    1);
	ck_assert_int_eq(store_label_get(t, ENT_DEVICE, &dev, LABEL_FRAUD, 0,
	    &got), 0);
	ck_assert_uint_eq(got.seq, 5);
	ck_assert_uint_eq(got.feedback, 7);
	/* As of an older event: not yet. */
	ck_assert_int_eq(store_label_get(t, ENT_DEVICE, &dev, LABEL_FRAUD, 4,
	    &got), 1);
	ck_assert_int_eq(store_label_get(t, ENT_DEVICE, &dev, LABEL_FRAUD, 5,
	    &got), 0);
	ck_assert_int_eq(store_label_get(t, ENT_DEVICE, &dev, LABEL_LEGIT, 0,
	    &got), 1);
	ck_assert_int_eq(store_label_get(t, ENT_DEVICE_FUZZY, &dev,
	    LABEL_FRAUD, 0, &got), 1);
	/* A party: by any identity it carries. */
	memset(&p, 0, sizeof(p));
	setent(&p, ENT_ACCOUNT, 0x32);
	ck_assert_int_eq(store_label_party(t, &p, 1u << LABEL_FRAUD, 0, &kind,
	    &label, &got), 1);
	setent(&p, ENT_DEVICE, 0x31);
	ck_assert_int_eq(store_label_party(t, &p, (1u << LABEL_CHARGEBACK) |
	    (1u << LABEL_FRAUD), 0, &kind, &label, &got), 0);
	ck_assert_int_eq(kind, ENT_DEVICE);
	ck_assert_int_eq(label, LABEL_FRAUD);
	(void)acct;
	commit(t);
	ck_assert_str_eq(store_label_name(LABEL_CHARGEBACK), "chargeback");
	ck_assert_int_eq(store_label_from_name("abuse"), LABEL_ABUSE);
	ck_assert_int_eq(store_label_from_name("Fraud"), -1);
}
END_TEST

/* Runtime lists: members, expiry, seq, replace, delete, purge. */
START_TEST(test_lists)
{
	struct store_txn	*t = begin(true);
	struct store_list_entry	 e, got;
	struct store_list_member m[3];
	struct rg_hash		 eh;
	int64_t			 n;

	memset(&e, 0, sizeof(e));
	e.h = H(0x50);
	e.kind = ENT_IP;
	e.cidr = 30;
	e.added = T0;
	e.seq = 3;
	e.expires = T0 + 1000;
	e.nmembers = 3;
	snprintf(e.by, sizeof(e.by), "ann");
	snprintf(e.reason, sizeof(e.reason), "ticket 1");
	m[0].kind = m[1].kind = m[2].kind = ENT_IP;
	m[0].h = H(0x51);
	m[1].h = H(0x52);
	m[2].h = H(0x53);
	ck_assert_int_eq(store_list_put(t, "ips", &e, m, 3), 0);
	ck_assert_int_eq(store_list_match(t, "ips", ENT_IP, &m[1].h, T0, 0,
	    &eh), 0);
	ck_assert_mem_eq(eh.b, e.h.b, RG_HASH_LEN);
	/* Expired at T0 + 1000; not yet added as of seq 2; other lists. */
	ck_assert_int_eq(store_list_match(t, "ips", ENT_IP, &m[1].h,
	    T0 + 1000, 0, NULL), 1);
	ck_assert_int_eq(store_list_match(t, "ips", ENT_IP, &m[1].h, T0, 2,
	    NULL), 1);
	ck_assert_int_eq(store_list_match(t, "ipsx", ENT_IP, &m[1].h, T0, 0,
	    NULL), 1);
	ck_assert_int_eq(store_list_match(t, "ips", ENT_IP_PREFIX, &m[1].h,
	    T0, 0, NULL), 1);
	ck_assert_int_eq(store_list_get(t, "ips", &e.h, &got), 0);
	ck_assert_str_eq(got.by, "ann");
	ck_assert_str_eq(got.reason, "ticket 1");
	ck_assert_int_eq(got.cidr, 30);
	ck_assert_int_eq(got.expires, T0 + 1000);
	/* Replaced with one member and no expiry: the old members go. */
	e.expires = 0;
	e.nmembers = 1;
	ck_assert_int_eq(store_list_put(t, "ips", &e, m, 1), 1);
	ck_assert_int_eq(store_list_match(t, "ips", ENT_IP, &m[1].h, T0, 0,
	    NULL), 1);
	ck_assert_int_eq(store_list_match(t, "ips", ENT_IP, &m[0].h,
	    T0 + 1000000, 0, NULL), 0);
	ck_assert_int_eq(store_list_expire(t, T0 + 1000000, 100, NULL, NULL),
	    0);
	ck_assert_int_eq(store_list_del(t, "ips", &e.h, &got), 0);
	ck_assert_int_eq(store_list_del(t, "ips", &e.h, &got), 1);
	ck_assert_int_eq(store_list_match(t, "ips", ENT_IP, &m[0].h, T0, 0,
	    NULL), 1);
	/* Purge: only what expired. */
	e.expires = T0 + 10;
	ck_assert_int_eq(store_list_put(t, "a", &e, m, 1), 0);
	e.h = H(0x60);
	e.expires = T0 + 20;
	ck_assert_int_eq(store_list_put(t, "b", &e, m + 1, 1), 0);
	n = store_list_expire(t, T0 + 15, 100, NULL, NULL);
	ck_assert_int_eq(n, 1);
	eh = H(0x50);
	ck_assert_int_eq(store_list_get(t, "a", &eh, &got), 1);
	eh = H(0x60);
	ck_assert_int_eq(store_list_get(t, "b", &eh, &got), 0);
	ck_assert_int_eq(store_list_match(t, "a", ENT_IP, &m[0].h, T0, 0,
	    NULL), 1);
	commit(t);
}
END_TEST

static int
log_collect(void *arg, uint64_t id, const char *rec, size_t len)
{
	char	*out = arg;

	strncat(out, rec, len);
	return (0);
}

START_TEST(test_listlog_feedback)
{
	struct store_txn	*t = begin(true);
	const void		*rec;
	char			 out[64] = "";
	size_t			 len;
	uint64_t		 id1, id2;

	ck_assert_int_eq(store_listlog_put(t, "1", 1), 0);
	ck_assert_int_eq(store_listlog_put(t, "2", 1), 0);
	ck_assert_int_eq(store_listlog_put(t, "3", 1), 0);
	ck_assert_int_eq(store_listlog_scan(t, log_collect, out), 0);
	ck_assert_str_eq(out, "321");
	ck_assert_int_eq(store_feedback_put(t, "{}", 2, &id1), 0);
	ck_assert_int_eq(store_feedback_put(t, "{\"a\":1}", 7, &id2), 0);
	ck_assert_uint_eq(id1, 1);
	ck_assert_uint_eq(id2, 2);
	ck_assert_int_eq(store_feedback_get(t, 2, &rec, &len), 0);
	ck_assert_uint_eq(len, 7);
	ck_assert_int_eq(store_feedback_get(t, 3, &rec, &len), 1);
	out[0] = '\0';
	ck_assert_int_eq(store_feedback_scan(t, log_collect, out), 0);
	ck_assert_str_eq(out, "{\"a\":1}{}");
	commit(t);
}
END_TEST

/* The review queue: items, their two orders, stable cursors, state moves. */
struct qcollect {
	uint64_t		items[16];
	size_t			n, max;
	struct store_queue_pos	last;
};

static int
queue_collect(void *arg, const struct store_queue_item *it)
{
	struct qcollect	*q = arg;

	q->items[q->n++] = it->item;
	q->last.item = it->item;
	q->last.key = it->created;
	return (q->n >= q->max);
}

static void
qitem(struct store_queue_item *it, uint64_t item, int64_t created,
    int32_t score)
{
	memset(it, 0, sizeof(*it));
	it->item = item;
	snprintf(it->id, sizeof(it->id), "r%llu", (unsigned long long)item);
	it->created = created;
	it->score = score;
	it->action = 1;
	it->nreasons = 2;
	snprintf(it->reasons[0], sizeof(it->reasons[0]), "shared_device");
	snprintf(it->reasons[1], sizeof(it->reasons[1]), "fast");
	snprintf(it->campaign, sizeof(it->campaign), "spring");
	it->has_reward = true;
	it->reward_amount = 12.5;
	memcpy(it->reward_currency, "EUR", 3);
}

START_TEST(test_queue)
{
	struct store_txn	*t = begin(true);
	struct store_queue_item	 it, got;
	struct qcollect		 q = { .max = 2 };
	char			 out[64] = "";
	uint64_t		 i;

	/* Items 1..5, created in that order; scores 20, 0, 30, 10, -10. */
	for (i = 1; i <= 5; i++) {
		qitem(&it, i, T0 + (int64_t)i * 1000,
		    (int32_t)((i * 3 % 5) * 10 + 10) - 20);
		ck_assert_int_eq(store_queue_put(t, &it, NULL), 0);
	}
	ck_assert_int_eq(store_queue_get(t, 3, &got), 0);
	ck_assert_str_eq(got.id, "r3");
	ck_assert_str_eq(got.reasons[1], "fast");
	ck_assert_str_eq(got.campaign, "spring");
	ck_assert(got.reward_amount == 12.5);
	ck_assert_int_eq(memcmp(got.reward_currency, "EUR", 3), 0);
	ck_assert_int_eq(store_queue_get(t, 9, &got), 1);

	/* Newest first, two at a time; an item added after the first page
	 * (newer) does not shift the second. */
	ck_assert_int_eq(store_queue_scan(t, QUEUE_OPEN, false, NULL,
	    INT64_MIN, INT64_MAX, queue_collect, &q), 0);
	ck_assert_uint_eq(q.n, 2);
	ck_assert_uint_eq(q.items[0], 5);
	ck_assert_uint_eq(q.items[1], 4);
	qitem(&it, 6, T0 + 9000, 0);
	ck_assert_int_eq(store_queue_put(t, &it, NULL), 0);
	q.n = 0;
	ck_assert_int_eq(store_queue_scan(t, QUEUE_OPEN, false, &q.last,
	    INT64_MIN, INT64_MAX, queue_collect, &q), 0);
	ck_assert_uint_eq(q.n, 2);
	ck_assert_uint_eq(q.items[0], 3);
	ck_assert_uint_eq(q.items[1], 2);

	/* A time range. */
	q.n = 0;
	q.max = 16;
	ck_assert_int_eq(store_queue_scan(t, QUEUE_OPEN, false, NULL,
	    T0 + 2000, T0 + 4000, queue_collect, &q), 0);
	ck_assert_uint_eq(q.n, 3);
	ck_assert_uint_eq(q.items[0], 4);
	ck_assert_uint_eq(q.items[2], 2);

	/* Highest score first (negative scores sort below zero). */
	q.n = 0;
	ck_assert_int_eq(store_queue_scan(t, QUEUE_OPEN, true, NULL,
	    INT32_MIN, INT32_MAX, queue_collect, &q), 0);
	ck_assert_uint_eq(q.n, 6);
	ck_assert_uint_eq(q.items[0], 3);	/* 30 */
	ck_assert_uint_eq(q.items[5], 5);	/* -10 */

	/* Claiming moves it out of the open listing into the claimed one. */
	ck_assert_int_eq(store_queue_get(t, 4, &it), 0);
	got = it;
	it.state = QUEUE_CLAIMED;
	snprintf(it.assignee, sizeof(it.assignee), "ann");
	ck_assert_int_eq(store_queue_put(t, &it, &got), 0);
	/* Another assignee, same state, time and score: the record alone. */
	got = it;
	snprintf(it.assignee, sizeof(it.assignee), "ana");
	ck_assert_int_eq(store_queue_put(t, &it, &got), 0);
	q.n = 0;
	ck_assert_int_eq(store_queue_scan(t, QUEUE_OPEN, false, NULL,
	    INT64_MIN, INT64_MAX, queue_collect, &q), 0);
	ck_assert_uint_eq(q.n, 5);
	q.n = 0;
	ck_assert_int_eq(store_queue_scan(t, QUEUE_CLAIMED, true, NULL,
	    INT32_MIN, INT32_MAX, queue_collect, &q), 0);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_uint_eq(q.items[0], 4);
	q.n = 0;
	ck_assert_int_eq(store_queue_scan(t, QUEUE_DECIDED, false, NULL,
	    INT64_MIN, INT64_MAX, queue_collect, &q), 0);
	ck_assert_uint_eq(q.n, 0);

	/* Each item's audit records, oldest first. */
	ck_assert_int_eq(store_queuelog_put(t, 4, "a", 1), 0);
	ck_assert_int_eq(store_queuelog_put(t, 3, "x", 1), 0);
	ck_assert_int_eq(store_queuelog_put(t, 5, "y", 1), 0);
	ck_assert_int_eq(store_queuelog_put(t, 4, "b", 1), 0);
	ck_assert_int_eq(store_queuelog_scan(t, 4, log_collect, out), 0);
	ck_assert_str_eq(out, "ab");
	out[0] = '\0';
	ck_assert_int_eq(store_queuelog_scan(t, 6, log_collect, out), 0);
	ck_assert_str_eq(out, "");
	commit(t);

	/* The counts moved once: a put that moved nothing counted nothing. */
	ck_assert_uint_eq(stat_of().queue_claimed, 1);
	ck_assert_uint_eq(stat_of().queue_open, 5);
	/* Durable: a new transaction reads the claim back. */
	t = begin(true);
	ck_assert_int_eq(store_queue_get(t, 4, &got), 0);
	ck_assert_int_eq(got.state, QUEUE_CLAIMED);
	ck_assert_str_eq(got.assignee, "ana");
	q.n = 0;
	ck_assert_int_eq(store_queue_scan(t, QUEUE_CLAIMED, false, NULL,
	    INT64_MIN, INT64_MAX, queue_collect, &q), 0);
	ck_assert_uint_eq(q.n, 1);
	/* Deleted (retention): the item, its index entries, its log. */
	ck_assert_int_eq(store_queue_del(t, 4), 0);
	ck_assert_int_eq(store_queue_del(t, 4), 0);
	ck_assert_int_eq(store_queue_get(t, 4, &got), 1);
	q.n = 0;
	ck_assert_int_eq(store_queue_scan(t, QUEUE_CLAIMED, false, NULL,
	    INT64_MIN, INT64_MAX, queue_collect, &q), 0);
	ck_assert_uint_eq(q.n, 0);
	out[0] = '\0';
	ck_assert_int_eq(store_queuelog_scan(t, 4, log_collect, out), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(store_queuelog_scan(t, 5, log_collect, out), 0);
	ck_assert_str_eq(out, "y");
	commit(t);
	ck_assert_uint_eq(stat_of().queue_claimed, 0);
	/* A new item under a number that is taken: an error, nothing kept. */
	t = begin(true);
	qitem(&it, 5, T0, 0);
	ck_assert_int_eq(store_queue_put(t, &it, NULL), -1);
	store_abort(t);
	ck_assert_str_eq(store_queue_state_name(QUEUE_DECIDED), "decided");
	ck_assert_int_eq(store_queue_decision_from_name("void"), QUEUE_VOID);
	ck_assert_int_eq(store_queue_decision_from_name("nope"), -1);
}
END_TEST

/* Feedback through the analyst's own path: on referral rid, or account. */
static void
feedback(struct store_txn *t, const char *rid, const struct rg_hash *acct,
    int label)
{
	struct analyst_req	 ar;
	struct verdict		 out;
	struct rg_event		 ev;
	const char		*code = NULL;

	memset(&ar, 0, sizeof(ar));
	memset(&ev, 0, sizeof(ev));
	ar.kind = -1;
	ar.label = label;
	if (acct != NULL) {
		ar.by_account = true;
		ar.account = *acct;
	} else {
		ev.idlen = strlen(rid);
		memcpy(ev.id, rid, ev.idlen);
	}
	ck_assert_int_eq(analyst_run(t, OP_FEEDBACK, &ev, &ar, T0 + 1000,
	    &out, &code), 0);
	verdict_clear(&out);
}

/*
 * Backtest figures against each referral's own label: the newest
 * feedback on its id, else on its referee's account (by the whole hash,
 * or by the prefix a record from before kept), never one shared through
 * an identity.
 */
START_TEST(test_backtest_labels)
{
	static const char rules[] =
	    "rule all { when count(referral, referee.ip, 1h) > 0 "
	    "action review }\n";
	struct backtest_opts	 bo = { INT64_MIN, INT64_MAX, 5, 0, 0, NULL,
	    NULL, false };
	struct store_txn	*t = begin(true);
	struct backtest		*bt;
	struct ruleset		*rs;
	struct verdict		 v;
	struct rg_event		 ev;
	struct rg_hash		 h;
	char			*diag = NULL, *cause = NULL, *buf = NULL;
	char			 hex[2 * RG_HASH_LEN + 1], rec[160];
	size_t			 blen = 0;
	json_t			*o, *lab;
	FILE			*f;
	int			 i;

	rs = rules_load_buf("t.rules", rules, sizeof(rules) - 1, NULL, 0,
	    &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	/* r1..r5 to referees 2, 4, 6, 8 and one like 6 but its last byte. */
	for (i = 1; i <= 5; i++) {
		char	rid[8];

		snprintf(rid, sizeof(rid), "r%d", i);
		mkref(&ev, rid, T0 + i, (uint8_t)(2 * i - 1), (uint8_t)(2 * i),
		    9);		/* every referee on IP 9 */
		if (i == 5) {
			ev.party[1].h[ENT_ACCOUNT] = H(6);
			ev.party[1].h[ENT_ACCOUNT].b[RG_HASH_LEN - 1] = 7;
		}
		ck_assert_int_eq(verdict_check(t, rs, &ev, &v), 0);
		verdict_clear(&v);
	}
	/* r1: legit on its id beats fraud on its account. */
	feedback(t, "r1", NULL, LABEL_LEGIT);
	h = H(2);
	feedback(t, NULL, &h, LABEL_FRAUD);
	/* r2: an account record from before the whole hash was kept. */
	h = H(4);
	snprintf(rec, sizeof(rec), "{\"ts\":1,\"account\":\"account:%.12s\","
	    "\"label\":\"fraud\",\"note\":\"\",\"by\":\"\",\"seq\":9}",
	    rg_hash_hex(&h, hex));
	ck_assert_int_eq(store_feedback_put(t, rec, strlen(rec), NULL), 0);
	/* r3: chargeback on its account; r5 shares only its prefix. */
	h = H(6);
	feedback(t, NULL, &h, LABEL_CHARGEBACK);
	/* r4: the newest feedback on its id wins. */
	feedback(t, "r4", NULL, LABEL_FRAUD);
	feedback(t, "r4", NULL, LABEL_LEGIT);
	commit(t);

	bt = backtest_run(st, rs, &bo, &cause);
	ck_assert_msg(bt != NULL, "backtest: %s", cause);
	ck_assert_uint_eq(backtest_replayed(bt), 5);
	ck_assert_uint_eq(backtest_changed(bt), 0);
	f = open_memstream(&buf, &blen);
	ck_assert_ptr_nonnull(f);
	backtest_print(bt, f, true);
	fclose(f);
	o = json_loads(buf, 0, NULL);
	ck_assert_msg(o != NULL, "%s", buf);
	lab = json_object_get(o, "labels");
	ck_assert_str_eq(json_string_value(json_object_get(lab, "basis")),
	    "referral");
	/* r2, r3 fraud-positive; r1, r4 legit; r5 unlabelled */
	ck_assert_int_eq(json_integer_value(json_object_get(lab, "positives")),
	    2);
	ck_assert_int_eq(json_integer_value(json_object_get(lab, "legit")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(lab,
	    "unlabelled")), 1);
	json_decref(o);
	free(buf);
	backtest_free(bt);
	rules_unref(rs);
}
END_TEST

/*
 * A record read by seq is split without being built back when it is
 * packed: the same seq, action, score, reply, explain and re-checks as
 * the record store_get_verdict() builds, decoded (a), in t.
 */
static void
split_same(struct store_txn *t, const struct verdict_rec *a)
{
	struct verdict_rec	b;

	ck_assert_int_eq(store_get_verdict_seq(t, a->seq, &b), 0);
	ck_assert_uint_eq(b.seq, a->seq);
	ck_assert_uint_eq(b.action, a->action);
	ck_assert_int_eq(b.score, a->score);
	ck_assert(b.summed && a->summed);
	ck_assert_uint_eq(b.replylen, a->replylen);
	ck_assert(memcmp(b.reply, a->reply, a->replylen) == 0);
	ck_assert_uint_eq(b.explainlen, a->explainlen);
	ck_assert(memcmp(b.explain, a->explain, a->explainlen) == 0);
	ck_assert_uint_eq(b.nrechecks, a->nrechecks);
	ck_assert_uint_eq(b.rechecks_len, a->rechecks_len);
	ck_assert(memcmp(b.rechecks, a->rechecks, a->rechecks_len) == 0);
}

/*
 * labeled(): true from the first event after the label, in a check and a
 * re-check; the re-check is a new version, the check replay unchanged.
 */
START_TEST(test_labeled_recheck)
{
	static const char rules[] =
	    "rule fb { when labeled(referee, fraud) action deny score 100 }\n";
	struct store_txn	*t = begin(true);
	struct store_label	 l;
	struct ruleset		*rs;
	struct verdict		 v, r;
	struct verdict_rec	 vr;
	struct verdict_ver	 vv;
	struct verdict_ver_iter	 vi;
	struct rg_event		 ev;
	struct rg_hash		 card;
	const void		*rec;
	char			*diag = NULL, *first;
	size_t			 len;

	rs = rules_load_buf("t.rules", rules, sizeof(rules) - 1, NULL, 0,
	    &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	mkref(&ev, "r1", T0, 1, 2, 9);
	setent(&ev.party[1], ENT_PAYMENT, 0x77);
	ck_assert_int_eq(verdict_check(t, rs, &ev, &v), 0);
	ck_assert_int_eq(v.action, 0);
	first = xstrdup(v.reply);
	verdict_clear(&v);
	/* The card gets a fraud label after r1. */
	l.seq = store_aux_next_seq(t);
	l.ts = T0 + 10;
	l.feedback = 1;
	ck_assert_uint_eq(l.seq, 2);
	card = H(0x77);
	ck_assert_int_eq(store_label_put(t, ENT_PAYMENT, &card, LABEL_FRAUD,
	    &l), 0);
	mkref(&ev, "r2", T0 + 20, 3, 4, 9);
	setent(&ev.party[1], ENT_PAYMENT, 0x77);
	ck_assert_int_eq(verdict_check(t, rs, &ev, &v), 0);
	ck_assert_int_eq(v.action, 2);
	verdict_clear(&v);
	/* r1 re-checked: deny, version 2; the check replay is unchanged. */
	ck_assert_int_eq(verdict_recheck(t, rs, "r1", 2, T0 + 30, false, &r), 0);
	ck_assert_int_eq(r.action, 2);
	ck_assert_ptr_nonnull(strstr(r.reply, "\"version\":2"));
	ck_assert_ptr_nonnull(strstr(r.reply, "\"newly_matched\":[\"fb\"]"));
	verdict_clear(&r);
	mkref(&ev, "r1", T0 + 40, 1, 2, 9);
	ck_assert_int_eq(verdict_check(t, rs, &ev, &v), 0);
	ck_assert(v.replay);
	ck_assert_str_eq(v.reply, first);
	verdict_clear(&v);
	ck_assert_int_eq(verdict_lookup(t, "r1", 2, false, &v), 0);
	ck_assert_int_eq(v.action, 2);
	verdict_clear(&v);
	ck_assert_int_eq(store_get_verdict(t, "r1", 2, &rec, &len), 0);
	ck_assert_int_eq(verdict_rec_decode(rec, len, &vr), 0);
	ck_assert_uint_eq(vr.nrechecks, 1);
	split_same(t, &vr);	/* a re-checked record split by seq */
	ck_assert_int_eq(vr.action, 0);
	verdict_ver_iter_init(&vi, &vr);
	ck_assert_int_eq(verdict_ver_next(&vi, &vv), 0);
	ck_assert_int_eq(vv.version, 2);
	ck_assert_int_eq(vv.ts, T0 + 30);
	ck_assert_int_eq(verdict_ver_next(&vi, &vv), 1);
	ck_assert_int_eq(verdict_recheck(t, rs, "nope", 4, T0, false, &r), 1);
	free(first);
	rules_unref(rs);
	commit(t);
}
END_TEST

/*
 * A check's record, packed as stored, split by seq; a byte changed in its
 * packed form (its action, to another valid one) is a corrupt record, as
 * it is for the record built back.
 */
START_TEST(test_verdict_split)
{
	struct store_txn	*t = begin(true);
	struct verdict		 v;
	struct verdict_rec	 a, b;
	struct rg_event		 ev;
	const void		*rec;
	uint8_t			 sk[8], *damaged;
	size_t			 len;
	MDB_env			*env;
	MDB_txn			*txn;
	MDB_dbi			 dbi;
	MDB_val			 k, d;

	mkref(&ev, "s1", T0, 1, 2, 9);
	ck_assert_int_eq(verdict_check(t, NULL, &ev, &v), 0);
	verdict_clear(&v);
	commit(t);
	t = begin(false);
	ck_assert_int_eq(store_get_verdict(t, "s1", 2, &rec, &len), 0);
	ck_assert_int_eq(verdict_rec_decode(rec, len, &a), 0);
	split_same(t, &a);
	store_abort(t);
	store_close(st);

	raw_begin(false, &env, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, "verdict_recs", 0, &dbi), 0);
	be_put(sk, a.seq, sizeof(sk));
	k.mv_data = sk;
	k.mv_size = sizeof(sk);
	ck_assert_int_eq(mdb_get(txn, dbi, &k, &d), 0);
	ck_assert_uint_eq(((const uint8_t *)d.mv_data)[0], 0xc5);
	damaged = xmalloc(d.mv_size);
	memcpy(damaged, d.mv_data, d.mv_size);
	ck_assert_uint_eq(damaged[9], 0);	/* allow, made deny */
	damaged[9] = 2;
	d.mv_data = damaged;
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &d, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(damaged);
	st = unit_store(dir, 4 * MIB, 64 * MIB);
	t = begin(false);
	ck_assert_int_eq(store_get_verdict_seq(t, a.seq, &b), 2);
	ck_assert_int_eq(store_txn_err(t), STORE_OK);
	ck_assert_int_eq(store_get_verdict(t, "s1", 2, &rec, &len), 0);
	ck_assert_int_eq(verdict_rec_decode(rec, len, &a), -1);
	store_abort(t);
}
END_TEST

/*
 * Verdict records carry a checksum: any byte changed is a corrupt record
 * (never its bytes); records from before (no checksum) are read when
 * their replies are one JSON object each, refused when not.
 */
static size_t
legacy(uint8_t *out, const uint8_t *rec, size_t len)
{
	/* The same record as refguard wrote it before: no flag, no sum. */
	memcpy(out, rec, len - 8);
	out[0] &= 0x7f;
	return (len - 8);
}

START_TEST(test_verdict_checksum)
{
	static const char	 reply[] = "{\"id\":\"c1\",\"action\":\"deny\"}";
	static const char	 vreply[] = "{\"id\":\"c1\",\"version\":2}";
	struct verdict_rec	 r, d;
	struct verdict_ver	 vv;
	struct verdict		 v;
	struct store_txn	*t;
	struct rg_event		 ev;
	uint8_t			 ver[25 + sizeof(vreply) - 1], old[512];
	uint8_t			*rec;
	size_t			 len, n, i;

	rec = vrec_summed(&r, 7, 2, 100, reply, &len);
	ck_assert_int_eq(verdict_rec_decode(rec, len, &d), 0);
	ck_assert(d.summed);
	ck_assert_uint_eq(d.seq, 7);
	ck_assert_uint_eq(d.replylen, strlen(reply));
	ck_assert(memcmp(d.reply, reply, d.replylen) == 0);
	/* One byte changed anywhere, to a newline or one bit off. */
	for (i = 0; i < len; i++) {
		uint8_t	keep = rec[i];

		rec[i] = keep == '\n' ? 'x' : '\n';
		ck_assert_msg(verdict_rec_decode(rec, len, &d) == -1,
		    "byte %zu to a newline", i);
		rec[i] = keep ^ 1;
		ck_assert_msg(verdict_rec_decode(rec, len, &d) == -1,
		    "byte %zu one bit off", i);
		rec[i] = keep;
	}
	ck_assert_int_eq(verdict_rec_decode(rec, len - 1, &d), -1);

	/* Without a checksum: read when the reply is sound. */
	n = legacy(old, rec, len);
	ck_assert_int_eq(verdict_rec_decode(old, n, &d), 0);
	ck_assert(!d.summed);
	ck_assert(memcmp(d.reply, reply, d.replylen) == 0);
	old[18 + 5] = '\n';		/* inside the reply */
	ck_assert_int_eq(verdict_rec_decode(old, n, &d), -1);
	old[18 + 5] = ' ';		/* no control byte, but not JSON */
	ck_assert_int_eq(verdict_rec_decode(old, n, &d), -1);
	free(rec);

	/* A re-checked record: the version's reply too. */
	memset(ver, 0, sizeof(ver));
	ver[8] = 2;
	ver[16] = sizeof(vreply) - 1;	/* replylen, big-endian */
	memcpy(ver + 25, vreply, sizeof(vreply) - 1);
	r.nrechecks = 1;
	r.rechecks = ver;
	r.rechecks_len = sizeof(ver);
	rec = verdict_rec_encode(&r, &len);
	ck_assert_int_eq(verdict_rec_decode(rec, len, &d), 0);
	ck_assert_int_eq(verdict_rec_latest(&d, &vv), 0);
	ck_assert(memcmp(vv.reply, vreply, vv.replylen) == 0);
	n = legacy(old, rec, len);
	ck_assert_int_eq(verdict_rec_decode(old, n, &d), 0);
	ck_assert_int_eq(verdict_rec_latest(&d, &vv), 0);
	old[n - 3] = '\n';		/* inside the version's reply */
	ck_assert_int_eq(verdict_rec_decode(old, n, &d), 0);
	ck_assert_int_eq(verdict_rec_latest(&d, &vv), -1);

	/* Stored and damaged: the verdict functions say so, write nothing. */
	rec[len - 1] ^= 1;
	t = begin(true);
	ck_assert_int_eq(store_put_verdict(t, "c1", 2, rec, len), 0);
	ck_assert_int_eq(verdict_lookup(t, "c1", 2, false, &v),
	    VERDICT_CORRUPT);
	ck_assert_int_eq(verdict_lookup(t, "c1", 2, true, &v),
	    VERDICT_CORRUPT);
	ck_assert_int_eq(verdict_recheck(t, NULL, "c1", 2, T0, false, &v),
	    VERDICT_CORRUPT);
	mkref(&ev, "c1", T0, 1, 2, 3);
	ck_assert_int_eq(verdict_check(t, NULL, &ev, &v), VERDICT_CORRUPT);
	ck_assert_ptr_null(v.reply);
	commit(t);
	ck_assert_uint_eq(stat_of().events, 0);
	free(rec);
}
END_TEST

/* verdict_lookup with explain on a fresh thread: no cached state. */
struct explain_arg {
	const char	*id;
	struct verdict	 v;
	int		 rc;
};

static void
explain_read(struct store_txn *t, void *p)
{
	struct explain_arg	*a = p;

	a->rc = verdict_lookup(t, a->id, strlen(a->id), true, &a->v);
}

/* verdict_check in a thread of its own, in a transaction of its own. */
struct check_arg {
	struct ruleset	*rs;
	const char	*id;
	int		 rc;
};

static void *
check_thread(void *p)
{
	struct check_arg	*a = p;
	struct store_txn	*t = begin(true);
	struct rg_event		 ev;
	struct verdict		 v;

	mkref(&ev, a->id, T0 + 100, 7, 8, 9);
	a->rc = verdict_check(t, a->rs, &ev, &v);
	verdict_clear(&v);
	commit(t);
	return (NULL);
}

static json_t *
explain_rules(const char *rid)
{
	struct explain_arg	 a = { .id = rid };
	json_error_t		 je;
	json_t			*j, *r;

	on_fresh_thread(explain_read, &a);
	ck_assert_int_eq(a.rc, 0);
	j = json_loadb(a.v.reply, a.v.replylen, 0, &je);
	ck_assert_msg(j != NULL, "%s", je.text);
	r = json_incref(json_object_get(j, "rules"));
	json_decref(j);
	verdict_clear(&a.v);
	return (r);
}

/* The id of the shape entry the explain of verdict rid is stored with. */
static uint64_t
explain_shape(struct store_txn *t, const char *rid)
{
	struct verdict_rec	 vr;
	const void		*rec;
	size_t			 len;

	ck_assert_int_eq(store_get_verdict(t, rid, strlen(rid), &rec, &len),
	    0);
	ck_assert_int_eq(verdict_rec_decode(rec, len, &vr), 0);
	ck_assert_uint_gt(vr.explainlen, 9);
	ck_assert_uint_eq((uint8_t)vr.explain[0], 0xd2);	/* STORE_XSHAPE_MARK */
	ck_assert_uint_lt(vr.explainlen, 100);
	return (be_get((const uint8_t *)vr.explain + 1, 8));
}

/* An explain-like text of one shape, its values drawn from n. */
static void
xshape_text(struct sbuf *sb, int n)
{
	int	i;

	sbuf_reset(sb);
	sbuf_adds(sb, "[");
	for (i = 0; i < 8; i++)
		sbuf_addf(sb, "%s{\"rule\":\"r%d\",\"matched\":%s,\"facts\":"
		    "[{\"expr\":\"count(referral, referee.ip, 24h)\","
		    "\"value\":%d,\"at\":\"2026-01-0%dT10:00:00.%03dZ\","
		    "\"ip\":\"10.0.%d.%d\"}]}", i ? "," : "", i,
		    (n + i) % 3 ? "true" : "false", n * 7 + i, 1 + i % 9,
		    n % 1000, n % 250, i);
	sbuf_adds(sb, "]");
}

struct prepack_arg {
	const char	*text;
	struct sbuf	 packed;
	int		 rc;
};

/* Split and prepack (on a fresh thread: its shape cache is empty). */
static void
prepack_read(struct store_txn *t, void *p)
{
	struct prepack_arg	*a = p;
	struct store_xsplit	 sp = { 0 };

	ck_assert_int_eq(store_xshape_split(a->text, strlen(a->text), &sp),
	    1);
	a->rc = store_xshape_prepack(t, &sp);
	sbuf_add(&a->packed, sp.packed.buf, sp.packed.len);
	store_xsplit_free(&sp);
}

/*
 * A split made ahead and packed in a read transaction (an evaluation
 * thread's) stores what the writer's own pack would: nothing while the
 * shape is new to the store (the pack puts it), the same bytes once it
 * is there, on the thread that stored it and on one that never saw it;
 * and the text comes back.
 */
START_TEST(test_xshape_prepack)
{
	struct store_xsplit	 sp = { 0 };
	struct prepack_arg	 a = { 0 };
	struct store_txn	*t;
	struct sbuf		 text, own, pre, back;

	sbuf_init(&text, 2048);
	sbuf_init(&own, 512);
	sbuf_init(&pre, 512);
	sbuf_init(&back, 2048);
	/* New to the store: no prepack; the pack puts the shape. */
	xshape_text(&text, 1);
	ck_assert_int_eq(store_xshape_split(text.buf, text.len, &sp), 1);
	t = begin(false);
	ck_assert_int_eq(store_xshape_prepack(t, &sp), 0);
	ck_assert_uint_eq(sp.packed.len, 0);
	store_abort(t);
	t = begin(true);
	ck_assert_int_eq(store_xshape_pack(t, &own, text.buf, text.len, &sp),
	    1);
	commit(t);
	/* Another text of that shape: the same bytes both ways. */
	xshape_text(&text, 2);
	ck_assert_int_eq(store_xshape_split(text.buf, text.len, &sp), 1);
	t = begin(false);
	ck_assert_int_eq(store_xshape_prepack(t, &sp), 1);
	store_abort(t);
	ck_assert_uint_gt(sp.packed.len, 9);
	t = begin(true);
	sbuf_reset(&own);
	ck_assert_int_eq(store_xshape_pack(t, &own, text.buf, text.len, NULL),
	    1);
	ck_assert_int_eq(store_xshape_pack(t, &pre, text.buf, text.len, &sp),
	    1);
	ck_assert_uint_eq(own.len, sp.packed.len);
	ck_assert(memcmp(own.buf, sp.packed.buf, own.len) == 0);
	ck_assert_uint_eq(pre.len, own.len);
	ck_assert(memcmp(pre.buf, own.buf, own.len) == 0);
	ck_assert_int_eq(store_xshape_text(&back, t, pre.buf, pre.len), 0);
	ck_assert_uint_eq(back.len, text.len);
	ck_assert(memcmp(back.buf, text.buf, text.len) == 0);
	store_abort(t);
	/* A thread that never saw the shape reads it from the store. */
	a.text = text.buf;
	sbuf_init(&a.packed, 512);
	on_fresh_thread(prepack_read, &a);
	ck_assert_int_eq(a.rc, 1);
	ck_assert_uint_eq(a.packed.len, own.len);
	ck_assert(memcmp(a.packed.buf, own.buf, own.len) == 0);
	sbuf_free(&a.packed);
	store_xsplit_free(&sp);
	sbuf_free(&text);
	sbuf_free(&own);
	sbuf_free(&pre);
	sbuf_free(&back);
}
END_TEST

/*
 * An explain-like text of 40 rules, its values drawn from n; rule k (when
 * k >= 0) stopped at another condition: a fact more. The rules' names
 * come from x (another x, other rules).
 */
static void
xshape_rules(struct sbuf *sb, int n, int k, uint32_t x)
{
	char		word[4][9];
	int		i, j;

	sbuf_reset(sb);
	sbuf_adds(sb, "[");
	for (i = 0; i < 40; i++) {
		/* Rules of their own words, as a policy's are. */
		for (j = 0; j < 4; j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			snprintf(word[j], sizeof(word[j]), "%08x", x);
		}
		sbuf_addf(sb, "%s{\"rule\":\"%s.%s\",\"facts\":[{\"expr\":"
		    "\"count(%s, referee.%s, %dh) > 5\",\"value\":%d,"
		    "\"at\":\"2026-01-01T10:00:00.%03dZ\"}", i ? "," : "",
		    word[0], word[1], word[2], word[3], i + 1, n + i, n % 1000);
		if (i == k)
			sbuf_addf(sb, ",{\"expr\":\"age(referee.account) < "
			    "10m\",\"value\":\"%dms\"}", n);
		sbuf_adds(sb, "]}");
	}
	sbuf_adds(sb, "]");
}

#define XRULES	2463534242U
#define XRULES2	88675123U

/* Pack the text of xshape_rules() in t: its stored form, into out. */
static void
xshape_put(struct store_txn *t, struct sbuf *out, int n, int k, uint32_t x)
{
	struct sbuf	text;

	sbuf_init(&text, 4096);
	xshape_rules(&text, n, k, x);
	sbuf_reset(out);
	ck_assert_int_eq(store_xshape_pack(t, out, text.buf, text.len, NULL),
	    1);
	sbuf_free(&text);
}

/* A shape's entry as txn's store holds it: its length, *first its byte. */
static size_t
xshape_entry(struct store_txn *t, const struct sbuf *packed, uint8_t *first,
    uint64_t *base)
{
	const void	*v;
	size_t		 len;
	char		 name[32];

	snprintf(name, sizeof(name), "xshape:%016llx", (unsigned long long)
	    be_get((const uint8_t *)packed->buf + 1, 8));
	ck_assert_int_eq(store_meta_get(t, name, &v, &len), 0);
	ck_assert_uint_gt(len, 9);
	*first = *(const uint8_t *)v;
	*base = be_get((const uint8_t *)v + 1, 8);
	return (len);
}

/* Rewrite the entry of packed's shape to name base's its base. */
static void
xshape_rebase(const struct sbuf *packed, const struct sbuf *base)
{
	struct store_txn	*t = begin(true);
	const void		*v;
	size_t			 len;
	uint8_t			*p;
	char			 name[32];

	snprintf(name, sizeof(name), "xshape:%016llx", (unsigned long long)
	    be_get((const uint8_t *)packed->buf + 1, 8));
	ck_assert_int_eq(store_meta_get(t, name, &v, &len), 0);
	ck_assert_uint_gt(len, 9);
	p = xmalloc(len);
	memcpy(p, v, len);
	be_put(p + 1, be_get((const uint8_t *)base->buf + 1, 8), 8);
	ck_assert_int_eq(store_meta_put(t, name, p, len), 0);
	free(p);
	commit(t);
}

struct xtext_arg {
	const struct sbuf	*packed;
	struct sbuf		 text;
	int			 rc;
};

/* Read a stored text back (on a fresh thread: its shape cache is empty). */
static void
xtext_read(struct store_txn *t, void *p)
{
	struct xtext_arg	*a = p;

	sbuf_init(&a->text, 4096);
	a->rc = store_xshape_text(&a->text, t, a->packed->buf,
	    a->packed->len);
}

static int
xtext_fresh(const struct sbuf *packed, struct sbuf *text)
{
	struct xtext_arg	 a = { .packed = packed };

	on_fresh_thread(xtext_read, &a);
	sbuf_reset(text);
	sbuf_add(text, a.text.buf, a.text.len);
	sbuf_free(&a.text);
	return (a.rc);
}

/*
 * A new shape is stored against one of the same rules the thread used
 * (a few hundred bytes, not the whole of it), and read back byte for
 * byte by a thread that never saw either; a base that is missing,
 * corrupt or itself stored against another makes the text unreadable,
 * never another text.
 */
static void *
xshape_delta_thread(void *unused)
{
	struct store_txn	*t;
	struct sbuf		 p0, p1, p2, p3, q0, q1, want, got;
	size_t			 len0, len1;
	uint64_t		 b0, b1, b2, bq;
	uint8_t			 f0, f1, f2, fq0, fq1;
	char			 name[32];

	(void)unused;
	sbuf_init(&p0, 512);
	sbuf_init(&p1, 512);
	sbuf_init(&p2, 512);
	sbuf_init(&p3, 512);
	sbuf_init(&q0, 512);
	sbuf_init(&q1, 512);
	sbuf_init(&want, 4096);
	sbuf_init(&got, 4096);
	t = begin(true);
	xshape_put(t, &p0, 1, -1, XRULES);
	xshape_put(t, &p1, 2, 5, XRULES);
	xshape_put(t, &p2, 3, 30, XRULES);
	xshape_put(t, &p3, 4, 12, XRULES);
	/* Other rules: whole, and the base of their next shape. */
	xshape_put(t, &q0, 5, -1, XRULES2);
	xshape_put(t, &q1, 6, 7, XRULES2);
	commit(t);
	t = begin(false);
	len0 = xshape_entry(t, &p0, &f0, &b0);
	len1 = xshape_entry(t, &p1, &f1, &b1);
	(void)xshape_entry(t, &p2, &f2, &b2);
	(void)xshape_entry(t, &q0, &fq0, &bq);
	(void)xshape_entry(t, &q1, &fq1, &bq);
	store_abort(t);
	ck_assert_uint_eq(fq0, 0x28);
	ck_assert_uint_eq(fq1, 0x01);
	ck_assert_uint_eq(bq, be_get((const uint8_t *)q0.buf + 1, 8));
	/* The first is whole (a zstd frame), the others against it. */
	ck_assert_uint_eq(f0, 0x28);
	ck_assert_uint_eq(f1, 0x01);
	ck_assert_uint_eq(f2, 0x01);
	ck_assert_uint_eq(b1, be_get((const uint8_t *)p0.buf + 1, 8));
	ck_assert_uint_eq(b2, b1);
	ck_assert_msg(len1 * 4 < len0, "against its base %zu, whole %zu",
	    len1, len0);
	/* Back, byte for byte, on a thread that never saw them. */
	xshape_rules(&want, 2, 5, XRULES);
	ck_assert_int_eq(xtext_fresh(&p1, &got), 0);
	ck_assert_uint_eq(got.len, want.len);
	ck_assert(memcmp(got.buf, want.buf, want.len) == 0);
	xshape_rules(&want, 1, -1, XRULES);
	ck_assert_int_eq(xtext_fresh(&p0, &got), 0);
	ck_assert_uint_eq(got.len, want.len);
	ck_assert(memcmp(got.buf, want.buf, want.len) == 0);
	/*
	 * p1's and p2's entries each say the other is their base: neither is
	 * whole, so both are refused (a loop would never end); p3, stored
	 * against p0, still reads.
	 */
	xshape_rebase(&p2, &p1);
	xshape_rebase(&p1, &p2);
	ck_assert_int_eq(xtext_fresh(&p2, &got), -1);
	ck_assert_int_eq(xtext_fresh(&p1, &got), -1);
	xshape_rules(&want, 4, 12, XRULES);
	ck_assert_int_eq(xtext_fresh(&p3, &got), 0);
	ck_assert_uint_eq(got.len, want.len);
	ck_assert(memcmp(got.buf, want.buf, want.len) == 0);
	/* The base corrupt: what is stored against it cannot be read. */
	t = begin(true);
	snprintf(name, sizeof(name), "xshape:%016llx", (unsigned long long)b1);
	ck_assert_int_eq(store_meta_put(t, name, "\x28\xb5\x2f\xfd", 4), 0);
	commit(t);
	ck_assert_int_eq(xtext_fresh(&p3, &got), -1);
	ck_assert_int_eq(xtext_fresh(&p0, &got), -1);
	sbuf_free(&p3);
	sbuf_free(&q0);
	sbuf_free(&q1);
	sbuf_free(&p0);
	sbuf_free(&p1);
	sbuf_free(&p2);
	sbuf_free(&want);
	sbuf_free(&got);
	return (NULL);
}

START_TEST(test_xshape_delta)
{
	pthread_t	th;

	/* On a thread of its own: its shape cache starts empty. */
	ck_assert_int_eq(pthread_create(&th, NULL, xshape_delta_thread, NULL),
	    0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
}
END_TEST

/*
 * Explain texts are stored as their values, their shape kept in meta: it
 * is written with the first record that needs it (and not left behind by
 * an aborted transaction), read back by a thread that never saw it, and
 * a new rule set (other rule names) brings its own.
 */
START_TEST(test_explain_shape)
{
	/* Explains of several rules. */
#define R(n, w)	"rule " n " { when count(referral, referee.ip, " w ") > 5 " \
	    "action review score 40 }\n"
	static const char rules1[] = R("ip", "24h") R("ip_a", "1h")
	    R("ip_b", "2h") R("ip_c", "3h") R("ip_d", "4h") R("ip_e", "5h");
	static const char rules2[] = R("ip2", "24h") R("ip2_a", "1h")
	    R("ip2_b", "2h") R("ip2_c", "3h") R("ip2_d", "4h") R("ip2_e", "5h");
#undef R
	struct store_txn	*t;
	struct ruleset		*rs1, *rs2;
	struct verdict		 v;
	struct rg_event		 ev;
	const void		*d;
	char			*diag = NULL, name[32];
	size_t			 dlen;
	uint64_t		 id0, id1;
	json_t			*r;
	int			 i;

	rs1 = rules_load_buf("t1.rules", rules1, sizeof(rules1) - 1, NULL, 0,
	    &diag);
	rs2 = rules_load_buf("t2.rules", rules2, sizeof(rules2) - 1, NULL, 0,
	    &diag);
	ck_assert(rs1 != NULL && rs2 != NULL);
	/* An aborted first check leaves no dictionary behind... */
	t = begin(true);
	mkref(&ev, "a0", T0, 1, 2, 9);
	ck_assert_int_eq(verdict_check(t, rs1, &ev, &v), 0);
	verdict_clear(&v);
	id0 = explain_shape(t, "a0");
	snprintf(name, sizeof(name), "xshape:%016llx", (unsigned long long)id0);
	ck_assert_int_eq(store_meta_get(t, name, &d, &dlen), 0);
	store_abort(t);
	t = begin(false);
	ck_assert_int_eq(store_meta_get(t, name, &d, &dlen), 1);
	store_abort(t);
	/* ...and the next transaction writes it with its record. */
	t = begin(true);
	for (i = 0; i < 3; i++) {
		char	rid[8];

		snprintf(rid, sizeof(rid), "d%d", i);
		mkref(&ev, rid, T0 + i, 1, (uint8_t)(2 + i), 9);
		ck_assert_int_eq(verdict_check(t, i < 2 ? rs1 : rs2, &ev, &v),
		    0);
		verdict_clear(&v);
	}
	commit(t);
	t = begin(false);
	id1 = explain_shape(t, "d1");
	ck_assert_uint_eq(explain_shape(t, "d0"), id1);
	snprintf(name, sizeof(name), "xshape:%016llx", (unsigned long long)id1);
	ck_assert_int_eq(store_meta_get(t, name, &d, &dlen), 0);
	/* d2 was checked under rs2: another shape. */
	ck_assert_uint_ne(explain_shape(t, "d2"), id1);
	store_abort(t);
	/* Another thread (a restart) under rs1 finds rs1's dictionary. */
	{
		struct check_arg	 a = { .rs = rs1, .id = "d9" };
		pthread_t		 th;

		ck_assert_int_eq(pthread_create(&th, NULL, check_thread, &a),
		    0);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		ck_assert_int_eq(a.rc, 0);
	}
	t = begin(false);
	ck_assert_uint_eq(explain_shape(t, "d9"), id1);
	store_abort(t);
	for (i = 0; i < 3; i++) {
		char	rid[8];

		snprintf(rid, sizeof(rid), "d%d", i);
		r = explain_rules(rid);
		ck_assert_uint_eq(json_array_size(r), 6);
		ck_assert_str_eq(json_string_value(json_object_get(
		    json_array_get(r, 0), "rule")), i < 2 ? "ip" : "ip2");
		ck_assert_str_eq(json_string_value(json_object_get(
		    json_array_get(r, 5), "rule")), i < 2 ? "ip_e" : "ip2_e");
		ck_assert(json_is_array(json_object_get(json_array_get(r, 0),
		    "facts")));
		json_decref(r);
	}
	rules_unref(rs1);
	rules_unref(rs2);
}
END_TEST

/*
 * The wrapper (store_db.h): a transaction keeps its first error, every
 * later call on it does nothing and fails, and its commit reports it and
 * writes nothing; MDB_KEYEXIST of a refusable put is an answer; a put in
 * a read transaction says read-only; a full map says whether it may grow.
 */
static int
db_fill(struct store_db *db, MDB_dbi dbi, struct store_db_txn *t)
{
	uint8_t	key[8], buf[3000];
	MDB_val	k, v;
	int	i;

	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(store_db_begin(db, t, true), 0);
	for (i = 0; i < 100000; i++) {
		be_put(key, (uint64_t)i, 8);
		k = store_db_val(key, 8);
		v = store_db_val(buf, sizeof(buf));
		if (store_db_put(t, dbi, &k, &v, MDB_APPEND, "fill") != 0)
			break;
	}
	store_db_abort(t);
	return (t->ret);
}

START_TEST(test_db_first_error)
{
	struct store_db_opts	 o;
	struct store_db		*db;
	struct store_db_txn	 t;
	MDB_dbi			 dbi;
	MDB_val			 k, v;
	char			*cause = NULL;

	freshdir();
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.map_size = 1 * MIB;
	o.map_max = 2 * MIB;
	o.maxdbs = 4;
	o.maxreaders = 8;
	ck_assert_ptr_nonnull(db = store_db_open(&o, &cause));
	ck_assert_int_eq(store_db_check_size(db, &cause), 0);

	ck_assert_int_eq(store_db_begin(db, &t, true), 0);
	ck_assert_int_eq(store_db_dbi(&t, "x", MDB_CREATE, &dbi), 0);
	k = store_db_val("a", 1);
	v = store_db_val("1", 1);
	ck_assert_int_eq(store_db_put(&t, dbi, &k, &v, 0, "put a"), 0);
	v = store_db_val("2", 1);
	ck_assert_int_eq(store_db_try_put(&t, dbi, &k, &v, MDB_NOOVERWRITE,
	    "put a again"), 1);
	ck_assert(v.mv_size == 1 && memcmp(v.mv_data, "1", 1) == 0);
	ck_assert_int_eq(t.ret, 0);
	ck_assert_int_eq(store_db_commit(&t), 0);

	/* The first error sticks; nothing after it happens. */
	ck_assert_int_eq(store_db_begin(db, &t, true), 0);
	k = store_db_val("b", 1);
	ck_assert_int_eq(store_db_put(&t, dbi, &k, &v, 0, "put b"), 0);
	ck_assert_int_eq(store_db_fail(&t, MDB_CORRUPTED, "first"), -1);
	ck_assert_int_eq(store_db_fail(&t, MDB_BAD_TXN, "second"), -1);
	ck_assert_int_eq(store_db_get(&t, dbi, &k, &v, "get b"), -1);
	k = store_db_val("c", 1);
	ck_assert_int_eq(store_db_put(&t, dbi, &k, &v, 0, "put c"), -1);
	ck_assert_int_eq(store_db_del(&t, dbi, &k, NULL, "del c"), -1);
	ck_assert_ptr_null(store_db_cursor(&t, dbi));
	ck_assert_int_eq(t.ret, MDB_CORRUPTED);
	ck_assert_ptr_nonnull(strstr(t.errstr, "first: "));
	ck_assert_int_eq(store_db_commit(&t), -1);
	ck_assert_int_eq(t.ret, MDB_CORRUPTED);
	ck_assert_ptr_nonnull(strstr(t.errstr, "first: "));

	/* It wrote nothing; a read transaction cannot write. */
	ck_assert_int_eq(store_db_begin(db, &t, false), 0);
	k = store_db_val("b", 1);
	ck_assert_int_eq(store_db_get(&t, dbi, &k, &v, "get b"), 1);
	ck_assert_int_eq(store_db_entries(&t, dbi), 1);
	ck_assert_int_eq(store_db_dbi(&t, "absent", 0, &dbi), 1);
	ck_assert_int_eq(store_db_put(&t, dbi, &k, &v, 0, "put b"), -1);
	ck_assert_str_eq(t.errstr, "put b: read-only");
	ck_assert_int_eq(store_db_commit(&t), -1);

	/* A full map: it may grow once (to map_max), then not. */
	ck_assert_int_eq(store_db_begin(db, &t, true), 0);
	ck_assert_int_eq(store_db_dbi(&t, "big", MDB_CREATE, &dbi), 0);
	ck_assert_int_eq(store_db_commit(&t), 0);
	ck_assert_int_eq(db_fill(db, dbi, &t), MDB_MAP_FULL);
	ck_assert(t.grow);
	ck_assert_int_eq(store_db_grow(db), 0);
	ck_assert_int_eq(db_fill(db, dbi, &t), MDB_MAP_FULL);
	ck_assert(!t.grow);
	ck_assert_ptr_nonnull(strstr(t.errstr, "(map_max 2097152)"));
	ck_assert_int_eq(store_db_grow(db), -1);
	store_db_close(db);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite	*s = suite_create("store");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_schema);
	tcase_add_test(tc, test_db_first_error);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_put_get);
	tcase_add_test(tc, test_count_windows);
	tcase_add_test(tc, test_referral_roles);
	tcase_add_test(tc, test_scan_order);
	tcase_add_test(tc, test_put_range);
	tcase_add_test(tc, test_links);
	tcase_add_test(tc, test_links_in_lmdb);
	tcase_add_test(tc, test_memtier_tables);
	tcase_add_test(tc, test_memtier_abort_memory);
	tcase_add_test(tc, test_scan_events);
	tcase_add_test(tc, test_scan_referred);
	tcase_add_test(tc, test_index_convert);
	tcase_add_test(tc, test_index_convert4);
	tcase_add_test(tc, test_index_convert_halfway);
	tcase_add_test(tc, test_index_convert_range);
	tcase_add_test(tc, test_verdict_records);
	tcase_add_test(tc, test_verdict_schema1);
	tcase_add_test(tc, test_verdict_split);
	tcase_add_test(tc, test_verdict_checksum);
	tcase_add_test(tc, test_expire);
	tcase_add_test(tc, test_expire_everything);
	tcase_add_test(tc, test_expire_sweep);
	tcase_add_test(tc, test_sweep_bounds);
	tcase_add_test(tc, test_sweep_readonly_floor);
	tcase_add_test(tc, test_expire_keeps_rechecked_verdict);
	tcase_add_test(tc, test_expire_late_event_counts);
	tcase_add_test(tc, test_sweep_keeps_stored_event);
	tcase_add_test(tc, test_sweep_long_key);
	tcase_add_test(tc, test_expire_then_import);
	tcase_add_test(tc, test_expire_corrupt_newest);
	tcase_add_test(tc, test_sweep_record_past_floor);
	tcase_add_test(tc, test_expire_backtest_kept_event);
	tcase_add_test(tc, test_map_full);
	tcase_add_test(tc, test_map_grow);
	tcase_add_test(tc, test_last_seq_reopen);
	tcase_add_test(tc, test_store_writes);
	tcase_add_test(tc, test_verdict_idempotent);
	tcase_add_test(tc, test_explain_no_raw);
	tcase_add_test(tc, test_observe_ack);
	tcase_add_test(tc, test_recent_tier);
	tcase_add_test(tc, test_tier_disk_answer);
	tcase_add_test(tc, test_readonly_tier);
	tcase_add_test(tc, test_view);
	tcase_add_test(tc, test_labels);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_listlog_feedback);
	tcase_add_test(tc, test_queue);
	tcase_add_test(tc, test_verdict_list);
	tcase_add_test(tc, test_daily);
	tcase_add_test(tc, test_backtest_labels);
	tcase_add_test(tc, test_labeled_recheck);
	tcase_add_test(tc, test_explain_shape);
	tcase_add_test(tc, test_xshape_prepack);
	tcase_add_test(tc, test_xshape_delta);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	if (unit_tmpdir(tmpdir) != 0)
		return (99);
	return (unit_run_in(store_suite(), tmpdir));
}
