/*
 * rules_eval.c: evaluate a compiled rule set against one event and the
 * store's history as of that event.
 *
 * The hot path allocates nothing: values live on the stack, history
 * results are cached per evaluation in fixed slots, what history
 * functions read in the caller's memo when it gives one (rules.h), and
 * the explain text is only built when asked. A comparison with an absent value is false;
 * and/or short-circuit, their operands ordered cheapest first at compile
 * time (they have no side effects, so the order cannot change a result).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules_int.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"

static bool rules_eval_bool(struct rules_ectx *, const struct rules_node *);

/*
 * The time a window covers. At check the evaluation's time is the event's
 * and a window ends there. At a recheck it reaches the window's length on
 * both sides of the referral, up to the recheck's time: the evidence
 * around the referral stays what it was at check, plus what arrived since,
 * whenever the recheck runs. "since referral" runs from the referral to
 * the evaluation's time; no window, from the beginning to it.
 */
int64_t
rules_eval_from(const struct rules_ectx *cx, int64_t window)
{
	if (window == RULES_SINCE_REFERRAL)
		return (cx->ev->ts);
	if (window <= 0)
		return (INT64_MIN);
	return (cx->ev->ts < INT64_MIN + window ? INT64_MIN :
	    cx->ev->ts - window);
}

int64_t
rules_eval_to(const struct rules_ectx *cx, int64_t window)
{
	if (window == RULES_SINCE_REFERRAL || window <= 0 ||
	    cx->at.ts <= cx->ev->ts || cx->at.ts - cx->ev->ts <= window)
		return (cx->at.ts);
	return (cx->ev->ts + window);
}

bool
rules_eval_key(const struct rules_ectx *cx, int party, int kind,
    struct rg_hash *h)
{
	return (rgev_key(cx->ev, party, kind, h));
}

int
rules_eval_scan(struct rules_ectx *cx, const struct rules_node *n,
    const struct rg_hash *h, store_entry_cb cb, void *arg)
{
	if (rules_eval_scank(cx, n->kind, h, n->type_mask, n->role_mask,
	    rules_eval_from(cx, n->window), rules_eval_to(cx, n->window),
	    true, cb, arg) != 0 || cx->err) {
		cx->err = 1;
		return (-1);
	}
	return (0);
}

/*
 * A memo's tables: a reader's (a backtest's, tens of megabytes filled
 * as it replays) mapped in huge pages, a writer's (small, kept for the
 * daemon's life) on the heap.
 */
static void *
memo_table(const struct rules_memo *m, size_t n, size_t sz)
{
	return (m->nokeys ? xcalloc(n, sz) : xcalloc_large(n, sz));
}

static void
memo_table_free(const struct rules_memo *m, void *p, size_t n, size_t sz)
{
	if (m->nokeys)
		free(p);
	else
		xfree_large(p, n, sz);
}

/* Powers of two: n events, 8 x n event keys at least (nekeys). */
static struct rules_memo *
memo_alloc(size_t nents, size_t nekeys, bool keys)
{
	struct rules_memo	*m = xcalloc(1, sizeof(*m));
	size_t			 n = 1, k;

	while (n < nents && n < ((size_t)1 << 24))
		n <<= 1;
	for (k = 8 * n; k < nekeys && k < ((size_t)1 << 27); k <<= 1)
		;
	m->nokeys = !keys;
	m->mask = n - 1;
	m->ent = memo_table(m, n, sizeof(*m->ent));
	m->ekmask = k - 1;
	m->ekeys = memo_table(m, k, sizeof(*m->ekeys));
	m->gen = 1;
	m->egen = 1;
	m->kgen = 1;
	m->since = memo_table(m, n, sizeof(*m->since));
	if (!keys)
		return (m);
	/* Keys: twice as many places; room for 32 entries an event. */
	m->kmask = 2 * n - 1;
	m->keys = memo_table(m, 2 * n, sizeof(*m->keys));
	m->entcap = 32 * n < RULES_MEMO_KEY_MAX ? RULES_MEMO_KEY_MAX : 32 * n;
	m->ents = memo_table(m, m->entcap, sizeof(*m->ents));
	return (m);
}

struct rules_memo *
rules_memo_new(size_t nents)
{
	return (memo_alloc(nents, 0, true));
}

struct rules_memo *
rules_memo_new_events(size_t nents, size_t nekeys)
{
	return (memo_alloc(nents, nekeys, false));
}

void
rules_memo_free(struct rules_memo *m)
{
	if (m == NULL)
		return;
	memo_table_free(m, m->ent, m->mask + 1, sizeof(*m->ent));
	memo_table_free(m, m->ekeys, m->ekmask + 1, sizeof(*m->ekeys));
	memo_table_free(m, m->since, m->mask + 1, sizeof(*m->since));
	if (m->keys != NULL) {
		memo_table_free(m, m->keys, m->kmask + 1, sizeof(*m->keys));
		memo_table_free(m, m->ents, m->entcap, sizeof(*m->ents));
	}
	free(m);
}

void
rules_memo_reset(struct rules_memo *m)
{
	m->gen++;
	m->egen++;
	m->kgen++;
	m->nents = 0;
}

void
rules_memo_next(struct rules_memo *m)
{
	m->gen++;
	m->kgen++;
	m->nents = 0;
}

/* Entries a scan collects, at most cap; more: it stopped at cap. */
struct rules_collect {
	struct store_entry	*v;
	uint32_t		 n, cap;
	bool			 more;
};

static int
rules_collect_cb(void *arg, const struct store_entry *e)
{
	struct rules_collect	*c = arg;

	if (c->n == c->cap) {
		c->more = true;
		return (1);
	}
	c->v[c->n++] = *e;
	return (0);
}

/*
 * The memo's copy of the entries of (kind, h), read whole from the
 * store the second time the key is asked for; NULL when there is no
 * memo, the first time, when the key has too many entries, the copy
 * cannot be made while a scan of ents is under way, or on a store error
 * (*err set).
 */
static const struct rules_memo_key *
rules_memo_key(struct rules_ectx *cx, int kind, const struct rg_hash *h,
    int *err)
{
	struct rules_memo	*m = cx->memo;
	struct rules_memo_key	*k;
	struct rules_collect	 f;
	uint64_t		 x;

	*err = 0;
	/* A transaction that failed fails every query, as the store's. */
	if (m == NULL || m->nokeys || store_txn_err(cx->txn) != STORE_OK)
		return (NULL);
	memcpy(&x, h->b, sizeof(x));
	k = &m->keys[(x ^ (uint64_t)kind * 0x9e3779b97f4a7c15ULL) & m->kmask];
	if (k->gen != m->kgen || k->kind != kind ||
	    memcmp(&k->h, h, sizeof(*h)) != 0) {
		k->gen = m->kgen;
		k->kind = (uint8_t)kind;
		k->h = *h;
		k->filled = false;
		k->big = false;
		return (NULL);
	}
	if (k->filled)
		return (k->big ? NULL : k);
	if (m->entcap - m->nents < RULES_MEMO_KEY_MAX) {
		/* Full: drop every key's copy, unless one is being read. */
		if (m->walking != 0)
			return (NULL);
		m->kgen++;
		m->nents = 0;
	}
	f.v = m->ents + m->nents;
	f.n = 0;
	f.cap = RULES_MEMO_KEY_MAX;
	f.more = false;
	if (store_scan(cx->txn, (enum ent_kind)kind, h, EV_MASK_ANY, ROLE_ANY,
	    INT64_MIN, INT64_MAX, 0, false, rules_collect_cb, &f) != 0) {
		*err = 1;
		return (NULL);
	}
	k->gen = m->kgen;	/* which a flush above moved on */
	k->filled = true;
	k->big = f.more;
	k->off = (uint32_t)m->nents;
	k->n = f.more ? 0 : f.n;
	m->nents += k->n;
	return (k->big ? NULL : k);
}

/* The first of the key's entries with ts >= from_ts (n: none). */
static uint32_t
rules_memo_lower(const struct rules_memo *m, const struct rules_memo_key *k,
    int64_t ts)
{
	uint32_t	lo = 0, hi = k->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m->ents[k->off + mid].ts < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo);
}

/* Whether entry e passes what store_count and store_scan test. */
static bool
rules_memo_match(const struct store_entry *e, uint32_t type_mask,
    uint32_t role_mask, uint64_t max_seq)
{
	return ((max_seq == 0 || e->seq <= max_seq) && e->type < 32 &&
	    (type_mask & EV_MASK(e->type)) && (role_mask & e->roles));
}

int64_t
rules_eval_count(struct rules_ectx *cx, int kind, const struct rg_hash *h,
    uint32_t type_mask, uint32_t role_mask, int64_t from_ts, int64_t to_ts,
    uint64_t limit)
{
	const struct rules_memo_key	*k;
	const struct store_entry	*e;
	uint64_t			 n = 0;
	uint32_t			 i;
	int				 err;

	if (from_ts > to_ts)
		return (0);
	if ((k = rules_memo_key(cx, kind, h, &err)) == NULL) {
		if (err)
			return (-1);
		return (store_count(cx->txn, (enum ent_kind)kind, h,
		    type_mask, role_mask, from_ts, to_ts, cx->at.max_seq,
		    limit));
	}
	for (i = rules_memo_lower(cx->memo, k, from_ts); i < k->n; i++) {
		e = &cx->memo->ents[k->off + i];
		if (e->ts > to_ts)
			break;
		if (rules_memo_match(e, type_mask, role_mask,
		    cx->at.max_seq) && ++n == limit)
			break;
	}
	return ((int64_t)n);
}

int
rules_eval_scank(struct rules_ectx *cx, int kind, const struct rg_hash *h,
    uint32_t type_mask, uint32_t role_mask, int64_t from_ts, int64_t to_ts,
    bool newest_first, store_entry_cb cb, void *arg)
{
	const struct rules_memo_key	*k;
	const struct store_entry	*ents;
	struct store_entry		 e;
	uint32_t			 lo, hi, i;
	int				 err, stop = 0;

	if (from_ts > to_ts)
		return (0);
	if ((k = rules_memo_key(cx, kind, h, &err)) == NULL) {
		if (err)
			return (-1);
		return (store_scan(cx->txn, (enum ent_kind)kind, h, type_mask,
		    role_mask, from_ts, to_ts, cx->at.max_seq, newest_first,
		    cb, arg));
	}
	/* cb may read other keys: ents stays put while walking. */
	ents = cx->memo->ents + k->off;
	lo = rules_memo_lower(cx->memo, k, from_ts);
	hi = to_ts == INT64_MAX ? k->n : rules_memo_lower(cx->memo, k,
	    to_ts + 1);
	cx->memo->walking++;
	for (i = 0; i < hi - lo && !stop; i++) {
		e = ents[newest_first ? hi - 1 - i : lo + i];
		if (rules_memo_match(&e, type_mask, role_mask, cx->at.max_seq))
			stop = cb(arg, &e);
	}
	cx->memo->walking--;
	return (0);
}

int
rules_eval_first(struct rules_ectx *cx, int kind, const struct rg_hash *h,
    int64_t to_ts, struct store_entry *out)
{
	const struct rules_memo_key	*k;
	const struct store_entry	*e;
	uint32_t			 i;
	int				 err;

	if ((k = rules_memo_key(cx, kind, h, &err)) == NULL) {
		if (err)
			return (-1);
		return (store_first(cx->txn, (enum ent_kind)kind, h, to_ts,
		    cx->at.max_seq, out));
	}
	/* The copy is in store_first()'s order: the first that passes. */
	for (i = 0; i < k->n; i++) {
		e = &cx->memo->ents[k->off + i];
		if (e->ts > to_ts)
			break;
		if (rules_memo_match(e, EV_MASK_ANY, ROLE_ANY,
		    cx->at.max_seq)) {
			*out = *e;
			return (0);
		}
	}
	return (1);
}

int64_t
rules_eval_since(struct rules_ectx *cx, uint64_t tag, int kind,
    const struct rg_hash *h, uint32_t type_mask, uint32_t role_mask,
    int64_t from_ts, int64_t to_ts, uint64_t limit)
{
	struct rules_memo	*m = cx->memo;
	struct rules_memo_since	*ms, tmp;
	struct rules_collect	 c;
	uint64_t		 n = 0, max = cx->at.max_seq;
	unsigned		 i;

	if (from_ts > to_ts)
		return (0);
	if (m == NULL || store_txn_err(cx->txn) != STORE_OK)
		goto count;
	ms = &m->since[tag & m->mask];
	if (ms->gen != m->gen || ms->tag != tag || ms->from != from_ts ||
	    ms->kind != kind || ms->types != type_mask ||
	    ms->roles != role_mask || memcmp(&ms->h, h, sizeof(*h)) != 0) {
		/* The oldest entries from from_ts on, any seq. */
		memset(&tmp, 0, sizeof(tmp));
		memset(&c, 0, sizeof(c));
		c.v = tmp.e;
		c.cap = RULES_SINCE_KEEP;
		if (store_scan(cx->txn, (enum ent_kind)kind, h, type_mask,
		    role_mask, from_ts, INT64_MAX, 0, false, rules_collect_cb,
		    &c) != 0)
			return (-1);
		tmp.n = (uint8_t)c.n;
		tmp.all = !c.more;
		tmp.gen = m->gen;
		tmp.tag = tag;
		tmp.from = from_ts;
		tmp.kind = (uint8_t)kind;
		tmp.types = type_mask;
		tmp.roles = role_mask;
		tmp.h = *h;
		*ms = tmp;
	}
	/* In time order: past to_ts, none of the rest is in the window. */
	for (i = 0; i < ms->n; i++) {
		if (ms->e[i].ts > to_ts)
			return ((int64_t)n);
		if ((max == 0 || ms->e[i].seq <= max) && ++n == limit)
			return ((int64_t)n);
	}
	if (ms->all)
		return ((int64_t)n);
count:
	return (rules_eval_count(cx, kind, h, type_mask, role_mask, from_ts,
	    to_ts, limit));
}

/* The memo's place for seq when it holds that event; NULL if not. */
static struct rules_memo_ent *
rules_memo_find(const struct rules_memo *m, uint64_t seq)
{
	struct rules_memo_ent	*me;

	if (m == NULL)
		return (NULL);
	me = &m->ent[seq & m->mask];
	return (me->gen == m->egen && me->ev.seq == seq ? me : NULL);
}

int
rules_eval_event(struct rules_ectx *cx, const struct store_entry *e,
    struct rg_event *buf, const struct rg_event **ev)
{
	struct rules_memo_ent	*me = NULL;
	int			 r;

	if (e->seq == cx->ev->seq) {
		*ev = cx->ev;
		return (0);
	}
	if (cx->memo != NULL && store_txn_err(cx->txn) == STORE_OK) {
		if ((me = rules_memo_find(cx->memo, e->seq)) != NULL) {
			*ev = &me->ev;
			return (0);
		}
		/* Read into its place: kept only once read whole. */
		me = &cx->memo->ent[e->seq & cx->memo->mask];
		me->gen = 0;
		me->eval = 0;
		buf = &me->ev;
	}
	if ((r = store_get_event(cx->txn, e->seq, buf)) < 0) {
		cx->err = 1;
		return (-1);
	}
	if (me != NULL && r == 0)
		me->gen = cx->memo->egen;
	*ev = buf;
	return (r);
}

int
rules_eval_event_key(struct rules_ectx *cx, const struct store_entry *e,
    int party, int kind, struct rg_hash *h)
{
	struct rules_memo_ekey	*k = NULL;
	struct rg_event		 buf;
	const struct rg_event	*p;
	int			 r;

	if (e->seq == cx->ev->seq)
		return (rgev_key(cx->ev, party, kind, h) ? 0 : 1);
	if (cx->memo != NULL && store_txn_err(cx->txn) == STORE_OK) {
		k = &cx->memo->ekeys[(e->seq * 31 + (uint64_t)party * 17 +
		    (uint64_t)kind) & cx->memo->ekmask];
		if (k->gen == cx->memo->egen && k->seq == e->seq &&
		    k->party == party && k->kind == kind) {
			*h = k->h;
			return (k->r);
		}
	}
	if ((r = rules_eval_event(cx, e, &buf, &p)) < 0)
		return (-1);
	if (r == 0)
		r = rgev_key(p, party, kind, h) ? 0 : 1;
	else
		r = 2;
	if (k != NULL) {
		k->gen = cx->memo->egen;
		k->seq = e->seq;
		k->party = (uint8_t)party;
		k->kind = (uint8_t)kind;
		k->r = (uint8_t)r;
		if (r == 0)
			k->h = *h;
	}
	return (r);
}

bool
rules_eval_kept(const struct rules_ectx *cx, uint64_t seq, int64_t *val)
{
	const struct rules_memo_ent	*me = rules_memo_find(cx->memo, seq);

	if (me == NULL || me->eval != cx->memo->evals)
		return (false);
	*val = me->val;
	return (true);
}

void
rules_eval_keep(struct rules_ectx *cx, uint64_t seq, int64_t val)
{
	struct rules_memo_ent	*me = rules_memo_find(cx->memo, seq);

	if (me == NULL)
		return;
	me->eval = cx->memo->evals;
	me->val = val;
}

/*
 * The result of call n: its slot's when that answers n (a count that
 * stopped at its limit answers only calls whose limit is no larger),
 * else computed into its slot, or into tmp when it has none.
 */
static const struct rules_slot *
rules_eval_call(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *tmp)
{
	struct rules_slot	*s = tmp;

	if (n->slot >= 0) {
		s = &cx->slots[n->slot];
		if (s->have && (!(n->fn->flags & RF_BOUND) || s->capped ||
		    s->limit == 0 || s->v.n < (double)s->limit ||
		    s->limit >= n->limit))
			return (s);
	}
	memset(s, 0, sizeof(*s));
	s->have = true;
	s->limit = n->limit;
	n->fn->eval(cx, n, s);
	if (cx->err)
		s->have = false;
	return (s);
}

void
rules_eval_val(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_rval *v)
{
	struct rules_slot	tmp;

	switch (n->op) {
	case N_CONST:
		*v = n->v;
		return;
	case N_FACT:
		rules_fact_get(cx->ev, n->party, n->fact, v);
		return;
	case N_CALL:
		if (n->type != T_BOOL) {
			*v = rules_eval_call(cx, n, &tmp)->v;
			return;
		}
		/* FALLTHROUGH */
	default:
		v->type = T_BOOL;
		v->present = true;
		v->b = rules_eval_bool(cx, n);
		return;
	}
}

static bool
rules_eval_cmp(const struct rules_node *n, const struct rules_rval *l,
    const struct rules_rval *r)
{
	int	c;

	if (!l->present || !r->present)
		return (false);
	switch (l->type) {
	case T_NUM:
		c = l->n < r->n ? -1 : l->n > r->n;
		break;
	case T_DUR:
	case T_TIME:
		c = l->ms < r->ms ? -1 : l->ms > r->ms;
		break;
	case T_STR:
		c = strcasecmp(l->s, r->s);
		break;
	case T_BOOL:
		c = l->b != r->b;
		break;
	default:
		c = memcmp(&l->h, &r->h, sizeof(l->h));
		break;
	}
	switch (n->cmp) {
	case C_EQ:
		return (c == 0);
	case C_NE:
		return (c != 0);
	case C_LT:
		return (c < 0);
	case C_LE:
		return (c <= 0);
	case C_GT:
		return (c > 0);
	default:
		return (c >= 0);
	}
}

/* Explain: a value as JSON. */
void
rules_eval_exval(struct jshape_w *w, const struct rules_rval *v)
{
	char	buf[RFC3339_LEN + 2 * RG_HASH_LEN + 1], id[64];
	int	n;

	if (!v->present) {
		jsw_null(w);
		return;
	}
	switch (v->type) {
	case T_NUM:
		if (v->n == (double)(int64_t)v->n)
			jsw_int(w, (int64_t)v->n);
		else
			jsw_double(w, v->n);
		break;
	case T_BOOL:
		jsw_bool(w, v->b);
		break;
	case T_STR:
		jsw_str(w, v->s, strlen(v->s));
		break;
	case T_DUR:
		jsw_ms(w, v->ms);
		break;
	case T_TIME:
		jsw_time(w, v->ms);
		break;
	case T_IDENT:
		/* A keyed hash prefix: tells values apart, reveals nothing. */
		rg_hash_hex(&v->h, buf);
		n = snprintf(id, sizeof(id), "%s:%.12s", ent_kind_name(v->kind),
		    buf);
		jsw_str(w, id, (size_t)n);
		break;
	default:
		jsw_null(w);
		break;
	}
}

static void
rules_eval_exstart(struct rules_ectx *cx, const struct rules_node *n,
    bool result)
{
	struct jshape_w	*w = cx->ex;

	if (!cx->exfirst)
		jsw_raw(w, ",", 1);
	cx->exfirst = false;
	jsw_raw(w, "{\"expr\":", 8);
	jsw_raw(w, n->jtext, n->jtextlen);	/* jsw_name() of n->text */
	jsw_raws(w, ",\"result\":");
	jsw_bool(w, result);
	if (cx->exneg) {
		jsw_raws(w, ",\"negated\":");
		jsw_bool(w, true);
	}
}

void
rules_eval_exwindow(struct rules_ectx *cx, const struct rules_node *n)
{
	jsw_raws(cx->ex, ",\"window_ms\":");
	if (n->window != RULES_SINCE_REFERRAL) {
		jsw_int(cx->ex, n->window);
		return;
	}
	jsw_int(cx->ex, cx->at.ts - cx->ev->ts);
	jsw_raws(cx->ex, ",\"since\":");
	jsw_str(cx->ex, "referral", 8);
}

void
rules_eval_excount(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	jsw_raws(cx->ex, ",\"value\":");
	rules_eval_exval(cx->ex, &s->v);
	if (!s->v.present)
		return;
	jsw_raws(cx->ex, ",\"at_least\":");
	jsw_bool(cx->ex, s->capped || (n->limit != 0 &&
	    s->v.n >= (double)n->limit));
}

/* ",key": the value of side n, and for a call what it found. */
void
rules_eval_exside(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_rval *v, const char *key)
{
	struct rules_slot	tmp;

	jsw_raw(cx->ex, ",", 1);
	jsw_name(cx->ex, key, strlen(key));	/* a key */
	jsw_raw(cx->ex, ":", 1);
	if (n->op != N_CALL || n->type == T_BOOL || n->fn->explain == NULL) {
		rules_eval_exval(cx->ex, v);
		return;
	}
	jsw_raws(cx->ex, "{\"fn\":");
	jsw_name(cx->ex, n->fn->name, strlen(n->fn->name));
	n->fn->explain(cx, n, rules_eval_call(cx, n, &tmp));
	jsw_raw(cx->ex, "}", 1);
}

static bool
rules_eval_bool(struct rules_ectx *cx, const struct rules_node *n)
{
	const struct rules_slot	*s;
	struct rules_slot	 tmp;
	struct rules_rval	 l, r;
	size_t			 i;
	bool			 b;

	if (cx->err)
		return (false);
	switch (n->op) {
	case N_CONST:
		return (n->v.b);
	case N_FACT:
		rules_fact_get(cx->ev, n->party, n->fact, &l);
		b = l.present && l.b;
		if (cx->ex != NULL) {
			rules_eval_exstart(cx, n, b);
			rules_eval_exside(cx, n, &l, "value");
			jsw_raw(cx->ex, "}", 1);
		}
		return (b);
	case N_NOT:
		/* Its facts say so: each shows its own result. */
		cx->exneg = !cx->exneg;
		b = !rules_eval_bool(cx, n->kids[0]);
		cx->exneg = !cx->exneg;
		return (b);
	case N_AND:
		for (i = 0; i < n->nkids; i++)
			if (!rules_eval_bool(cx, n->kids[i]))
				return (false);
		return (true);
	case N_OR:
		for (i = 0; i < n->nkids; i++)
			if (rules_eval_bool(cx, n->kids[i]))
				return (true);
		return (false);
	case N_CMP:
		rules_eval_val(cx, n->kids[0], &l);
		rules_eval_val(cx, n->kids[1], &r);
		b = rules_eval_cmp(n, &l, &r);
		if (cx->ex != NULL) {
			rules_eval_exstart(cx, n, b);
			if (n->kids[0]->op != N_CONST)
				rules_eval_exside(cx, n->kids[0], &l, "left");
			if (n->kids[1]->op != N_CONST)
				rules_eval_exside(cx, n->kids[1], &r, "right");
			jsw_raw(cx->ex, "}", 1);
		}
		return (b);
	case N_IN:
	case N_CALL:
		s = rules_eval_call(cx, n, &tmp);
		b = s->v.present && s->v.b;
		/* A walk shared by several hops answers each its own. */
		if (n->fn->flags & RF_HOPS)
			b = b && s->hops <= n->hops;
		if (cx->ex != NULL) {
			rules_eval_exstart(cx, n, b);
			if (n->fn->explain != NULL)
				n->fn->explain(cx, n, s);
			jsw_raw(cx->ex, "}", 1);
		}
		return (b);
	}
	return (false);
}

bool
rules_eval_cond(struct rules_ectx *cx, const struct rules_node *n,
    const struct rg_event *ev)
{
	const struct rg_event	*own = cx->ev;
	struct jshape_w		*ex = cx->ex;
	bool			 b;

	cx->ev = ev;
	cx->ex = NULL;
	b = rules_eval_bool(cx, n);
	cx->ev = own;
	cx->ex = ex;
	return (b);
}

static int rules_eval_run(const struct ruleset *, const struct rg_event *,
    const struct rules_at *, struct store_txn *, struct rules_memo *,
    const uint8_t *, int, struct rules_result *);

int
rules_eval(const struct ruleset *rs, const struct rg_event *ev,
    struct store_txn *txn, int want_explain, struct rules_result *res)
{
	return (rules_eval_memo(rs, ev, NULL, txn, want_explain, res));
}

int
rules_eval_memo(const struct ruleset *rs, const struct rg_event *ev,
    struct rules_memo *memo, struct store_txn *txn, int want_explain,
    struct rules_result *res)
{
	struct rules_at	at = { ev->ts, ev->seq };

	return (rules_eval_run(rs, ev, &at, txn, memo, NULL, want_explain,
	    res));
}

int
rules_eval_known(const struct ruleset *rs, const struct rg_event *ev,
    const uint8_t *known, struct rules_memo *memo, struct store_txn *txn,
    struct rules_result *res)
{
	struct rules_at	at = { ev->ts, ev->seq };

	return (rules_eval_run(rs, ev, &at, txn, memo, known, 0, res));
}

int
rules_eval_at(const struct ruleset *rs, const struct rg_event *ev,
    const struct rules_at *at, struct store_txn *txn, int want_explain,
    struct rules_result *res)
{
	return (rules_eval_run(rs, ev, at, txn, NULL, NULL, want_explain,
	    res));
}

static int
rules_eval_run(const struct ruleset *rs, const struct rg_event *ev,
    const struct rules_at *at, struct store_txn *txn,
    struct rules_memo *memo, const uint8_t *known, int want_explain,
    struct rules_result *res)
{
	struct rules_ectx	 cx;
	struct jshape_w		 w;
	const struct rules_rule	*r;
	static __thread uint32_t tick;	/* this thread's evaluations */
	struct rules_hit	*h;
	size_t			 i;
	int			 action = ACTION_ALLOW;
	int64_t			 score = 0, gsum[RULES_GROUPS_MAX];
	uint64_t		 t0 = 0;
	bool			 m, timed;

	res->action = ACTION_ALLOW;
	res->score = 0;
	res->nhits = 0;
	res->explain = NULL;
	memset(&res->xshape, 0, sizeof(res->xshape));
	memset(&res->xvals, 0, sizeof(res->xvals));
	cx.rs = rs;
	cx.ev = ev;
	cx.at = *at;
	cx.txn = txn;
	cx.memo = memo;
	if (memo != NULL)
		memo->evals++;	/* what the last one derived is not this one's */
	cx.err = 0;
	cx.ex = NULL;
	cx.exneg = false;
	cx.links_done = false;
	cx.links_want = 0;
	cx.links_found = 0;
	memset(cx.slots, 0, (size_t)rs->nslots * sizeof(cx.slots[0]));
	memset(gsum, 0, rs->ngroups * sizeof(gsum[0]));
	memset(&w, 0, sizeof(w));
	if (want_explain) {
		cx.ex = &w;
		sbuf_init(&w.shape, 4096);
		sbuf_init(&w.vals, 1024);
		jsw_raw(&w, "[", 1);
	}
	timed = rs->cost != NULL && tick++ % RULES_COST_EVERY == 0;
	for (i = 0; i < rs->nrules; i++) {
		r = &rs->rules[i];
		if (cx.ex != NULL) {
			if (i != 0)
				jsw_raw(&w, ",", 1);
			jsw_raw(&w, "{\"rule\":", 8);
			jsw_name(&w, r->name, strlen(r->name));
			jsw_raw(&w, ",\"facts\":[", 10);
			cx.exfirst = true;
		}
		if (known != NULL && known[i] != RULES_KNOWN_NONE)
			m = known[i] == RULES_KNOWN_MATCH;
		else {
			if (timed)
				t0 = mono_ns();
			m = rules_eval_bool(&cx, r->when);
			if (timed) {
				__atomic_fetch_add(&rs->cost[i].ns,
				    mono_ns() - t0, __ATOMIC_RELAXED);
				__atomic_fetch_add(&rs->cost[i].n, 1,
				    __ATOMIC_RELAXED);
			}
		}
		if (cx.err)
			break;
		if (cx.ex != NULL) {
			jsw_raws(&w, "],\"matched\":");
			jsw_bool(&w, m);
			jsw_raws(&w, r->shadow ? ",\"mode\":\"shadow\"" :
			    ",\"mode\":\"enforce\"");
			jsw_raws(&w, ",\"action\":\"");
			jsw_raws(&w, rules_action_name(r->action));
			jsw_raws(&w, "\",\"score\":");
			jsw_int(&w, r->score);
			jsw_raw(&w, "}", 1);
		}
		if (!m)
			continue;
		if (res->nhits < RULES_MAX_HITS) {
			h = &res->hits[res->nhits++];
			h->rule = (uint32_t)i;
			h->action = (uint8_t)r->action;
			h->shadow = r->shadow;
			h->score = r->score;
		}
		if (r->shadow)
			continue;
		if (r->gi >= 0)
			gsum[r->gi] += r->score;
		else
			score += r->score;
		if (r->action > action)
			action = r->action;
	}
	if (cx.err) {
		jshape_w_free(&w);
		res->nhits = 0;
		return (-1);
	}
	/* A group counts its rules' sum, or its cap when that is less. */
	for (i = 0; i < rs->ngroups; i++)
		score += rules_group_score(&rs->groups[i], gsum[i]);
	if (score >= rs->deny_at)
		action = ACTION_DENY;
	else if (score >= rs->review_at && action < ACTION_REVIEW)
		action = ACTION_REVIEW;
	if (score > INT32_MAX)
		score = INT32_MAX;
	if (score < INT32_MIN)
		score = INT32_MIN;
	res->action = (uint8_t)action;
	res->score = (int32_t)score;
	if (cx.ex != NULL) {
		jsw_raw(&w, "]", 1);
		if (want_explain == RULES_EXPLAIN_SHAPED) {
			res->xshape = w.shape;
			res->xvals = w.vals;
			memset(&w.shape, 0, sizeof(w.shape));
			memset(&w.vals, 0, sizeof(w.vals));
		} else
			res->explain = jshape_join_text(&w.shape, &w.vals);
		jshape_w_free(&w);
	}
	return (0);
}
