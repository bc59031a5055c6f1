/*
 * rules_fn.c: the built-in functions of the rule language, in one table.
 *
 * Each entry holds everything about one function: its name and usage,
 * how many arguments it takes, its cost class (and/or try the cheapest
 * operand first), how it compares with constants, its checker (resolve
 * the arguments, annotate the node) and its evaluator and explainer.
 * rules_check.c and rules_eval.c know nothing of any one function.
 *
 * Evaluators read the store as of the evaluation (cx->at: the window end
 * and the max seq) and stop as soon as n->limit decides a comparison;
 * they allocate nothing (tests/unit/test_rules.c checks it). The graph
 * walks are in rules_graph.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <xxhash.h>

#include "rules_int.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"

/* ---- in: "x in list NAME", "x in [...]" --------------------------- */

static int
rules_fn_in_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct ruleset		*rs = cc->rs;
	struct rules_node	*l = n->kids[0], *lit;
	struct rules_list	*list = NULL;
	const char		*names[256], *sug;
	char			**vals, buf[64];
	struct rules_pos	*pos;
	size_t			 i, idx;
	int			 lt;

	n->type = T_BOOL;
	lt = rules_check_expr(cc, l);
	if (n->nkids == 1) {
		if ((list = rules_list_find(rs, n->name)) == NULL) {
			for (i = 0; i < rs->nlists && i < nitems(names); i++)
				names[i] = rs->lists[i].name;
			sug = rules_suggest(rs, n->name, names, i);
			rules_error(rs, &n->name_pos, "unknown list %s%s%s%s",
			    n->name, sug ? "; did you mean " : "",
			    sug ? sug : "", sug ? "?" : "");
			return (T_BOOL);
		}
	}
	if (lt == T_ERR)
		return (T_BOOL);
	if (lt != T_STR && lt != T_NUM && lt != T_IDENT) {
		rules_error(rs, &l->pos, "in needs a string, a number or an "
		    "identity on its left, not %s",
		    rules_check_tname(l, buf, sizeof(buf)));
		return (T_BOOL);
	}
	if (lt == T_IDENT && (l->kind == ENT_DEVICE ||
	    l->kind == ENT_DEVICE_FUZZY || l->kind == ENT_DEVICE_STABLE)) {
		rules_error(rs, &l->pos, "device fingerprints cannot be listed; "
		    "list device.id values instead");
		return (T_BOOL);
	}
	/* A named list is also looked up among runtime entries. */
	n->cost = l->cost + (n->nkids == 1 ? COST_LIST : COST_SET);
	if (list != NULL) {
		idx = lt == T_IDENT ? l->kind : (lt == T_STR ? ENT__MAX :
		    ENT__MAX + 1);
		if (list->sets[idx] == NULL)
			list->sets[idx] = rules_check_vset(rs, lt, l->kind,
			    list->vals, list->vpos, list->nvals);
		n->set = list->sets[idx];
		return (T_BOOL);
	}
	/* A literal list: every element a constant of the left's type. */
	lit = n->kids[1];
	vals = rules_alloc(&rs->arena, (lit->nkids + 1) * sizeof(*vals));
	pos = rules_alloc(&rs->arena, (lit->nkids + 1) * sizeof(*pos));
	for (i = 0; i < lit->nkids; i++) {
		struct rules_node	*e = lit->kids[i];

		if (e->op != N_CONST || (e->type != T_STR && e->type != T_NUM)) {
			rules_error(rs, &e->pos, "list elements are strings or "
			    "numbers");
			return (T_BOOL);
		}
		if ((e->type == T_NUM) != (lt == T_NUM)) {
			rules_error(rs, &e->pos, "%s in a list compared with %s",
			    rules_type_name(e->type, 0),
			    rules_check_tname(l, buf, sizeof(buf)));
			return (T_BOOL);
		}
		if (e->type == T_NUM) {
			char	num[64];

			snprintf(num, sizeof(num), "%.17g", e->v.n);
			vals[i] = rules_strndup(&rs->arena, num, strlen(num));
		} else
			vals[i] = (char *)e->v.s;
		pos[i] = e->pos;
	}
	n->set = rules_check_vset(rs, lt, l->kind, vals, pos, lit->nkids);
	return (T_BOOL);
}

/*
 * A named list's runtime entries (list.add): value v of the left side
 * left. An address also matches a listed network by its ip.prefix.
 */
static bool
rules_fn_in_runtime(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_node *left, const struct rules_rval *v,
    struct rg_hash *entry)
{
	const struct ruleset	*rs = cx->rs;
	struct rules_rval	 pv;
	struct rg_hash		 h;
	char			 num[64];
	uint8_t			 kind;
	int			 r;

	switch (v->type) {
	case T_IDENT:
		kind = v->kind;
		h = v->h;
		break;
	case T_STR:
		if (!rs->have_list_seed)
			return (false);
		kind = LIST_KIND_STRING;
		store_list_strhash(rs->list_seed, kind, v->s, strlen(v->s), &h);
		break;
	case T_NUM:
		if (!rs->have_list_seed)
			return (false);
		kind = LIST_KIND_NUMBER;
		snprintf(num, sizeof(num), "%.17g", v->n);
		store_list_strhash(rs->list_seed, kind, num, strlen(num), &h);
		break;
	default:
		return (false);
	}
	r = store_list_match(cx->txn, n->name, kind, &h, cx->at.ts,
	    cx->at.max_seq, entry);
	if (r == 1 && kind == ENT_IP && left->op == N_FACT &&
	    rules_fact_get(cx->ev, left->party, F_IP_PREFIX, &pv))
		r = store_list_match(cx->txn, n->name, ENT_IP_PREFIX, &pv.h,
		    cx->at.ts, cx->at.max_seq, entry);
	if (r < 0)
		cx->err = 1;
	return (r == 0);
}

static void
rules_fn_in_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	struct rules_rval	l;
	bool			b = false;

	rules_eval_val(cx, n->kids[0], &l);
	if (l.present) {
		b = rules_vset_has(n->set, &l);
		if (!b && n->nkids == 1 && rules_fn_in_runtime(cx, n,
		    n->kids[0], &l, &s->h))
			b = true, s->x[0] = 1;
		b = b != n->negate;
	}
	s->v.type = T_BOOL;
	s->v.present = true;
	s->v.b = b;
}

static void
rules_fn_in_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	struct rules_rval	l;
	char			hex[2 * RG_HASH_LEN + 1];

	rules_eval_val(cx, n->kids[0], &l);
	rules_eval_exside(cx, n->kids[0], &l, "left");
	/* Found among the runtime entries. */
	if (s->x[0]) {
		jsw_raws(cx->ex, ",\"list_entry\":");
		jsw_str(cx->ex, rg_hash_hex(&s->h, hex), 12);
	}
}

/* ---- exists(fact) --------------------------------------------------- */

static int
rules_fn_exists_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node	*a = n->kids[0];

	if (a->op != N_WORD) {
		rules_error(cc->rs, &a->pos, "exists takes a fact (e.g. "
		    "referee.phone)");
		return (T_ERR);
	}
	if (rules_check_word(cc, a) == T_ERR)
		return (T_ERR);
	return (T_BOOL);
}

static void
rules_fn_exists_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	struct rules_rval	v;

	s->v.type = T_BOOL;
	s->v.present = true;
	s->v.b = rules_fact_get(cx->ev, n->kids[0]->party, n->kids[0]->fact,
	    &v);
}

/* ---- labeled(party, label) ------------------------------------------ */

static int
rules_fn_labeled_check(struct rules_cctx *cc, struct rules_node *n)
{
	static const char *const labels[] = { "fraud", "legit", "chargeback",
	    "abuse" };
	int	pa, k;

	if ((pa = rules_check_party(cc, n->kids[0], "labeled")) < 0)
		return (T_ERR);
	if ((k = rules_check_choice(cc, n->kids[1], "labeled's label",
	    labels, nitems(labels))) < 0)
		return (T_ERR);
	n->party = (uint8_t)pa;
	n->label = store_label_from_name(labels[k]);
	return (T_BOOL);
}

/*
 * labeled(party, label): the party's account or an identity it carries
 * in this event carried the label as of the evaluation's max seq.
 */
static void
rules_fn_labeled_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	const struct rg_event	*ev = cx->ev;
	struct store_label	 l;
	int			 label, r;

	s->v.type = T_BOOL;
	s->v.present = true;
	if (n->party >= ev->nparties)
		return;
	r = store_label_party(cx->txn, &ev->party[n->party], 1u << n->label,
	    cx->at.max_seq, &s->kind, &label, &l);
	if (r < 0)
		cx->err = 1;
	s->v.b = r == 0;
	s->x[0] = (int64_t)l.feedback;
	s->x[1] = l.ts;
}

static void
rules_fn_labeled_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	const char	*kind;

	(void)n;
	if (!s->v.b)
		return;
	kind = ent_kind_name(s->kind);
	jsw_raws(cx->ex, ",\"found\":{\"fn\":\"labeled\",\"kind\":");
	jsw_str(cx->ex, kind, strlen(kind));
	jsw_raws(cx->ex, ",\"feedback\":");
	jsw_int(cx->ex, s->x[0]);
	jsw_raws(cx->ex, ",\"since\":");
	jsw_time(cx->ex, s->x[1]);
	jsw_raw(cx->ex, "}", 1);
}

/* ---- count(type, key, window) --------------------------------------- */

/*
 * The roles a key of party is read in for the event types of type_mask:
 * a referral entry carries the role the key's party played (the
 * campaign's is the event's), and an observe event carries its account's
 * identities as subject.
 */
static uint8_t
rules_fn_roles(int party, uint32_t type_mask)
{
	uint8_t	roles = 0;

	if (type_mask & EV_MASK(EV_REFERRAL))
		roles |= party == PARTY_EVENT ? ROLE_EVENT :
		    party == PARTY_REFERRER ? ROLE_REFERRER : ROLE_REFEREE;
	if (type_mask & ~EV_MASK(EV_REFERRAL))
		roles |= ROLE_SUBJECT;
	return (roles);
}

void
rules_fn_key(struct rules_node *n, const struct rules_node *k)
{
	n->party = k->party;
	n->kind = k->kind;
	n->role_mask = rules_fn_roles(n->party, n->type_mask);
}

/* An event type argument (or any) into n->type_mask; -1 if it is not. */
static int
rules_fn_type(struct rules_cctx *cc, struct rules_node *n, const char *what)
{
	struct rules_node	*a = n->kids[0];
	const char		*names[EV__MAX];
	size_t			 i;
	int			 t;

	for (i = 1; i < EV__MAX; i++)
		names[i - 1] = rgev_type_name((unsigned)i);
	names[EV__MAX - 1] = "any";
	if (a->op == N_WORD && strcmp(a->name, "any") == 0)
		n->type_mask = EV_MASK_ANY;
	else if (a->op == N_WORD && (t = rgev_type_from_name(a->name)) > 0)
		n->type_mask = EV_MASK(t);
	else {
		rules_check_choice(cc, a, what, names, EV__MAX);
		return (-1);
	}
	return (0);
}

/*
 * The pair of n's two keys, as the store indexes it: in one order
 * whichever order the rule names them ([a, b] and [b, a] count the same
 * referrals), *swapped when that is not n's.
 */
static struct store_pair
rules_fn_pair(const struct rules_node *n, bool *swapped)
{
	struct store_pair	p;

	*swapped = n->party > n->party2 || (n->party == n->party2 &&
	    n->kind > n->kind2);
	p.party1 = *swapped ? n->party2 : n->party;
	p.kind1 = *swapped ? n->kind2 : n->kind;
	p.party2 = *swapped ? n->party : n->party2;
	p.kind2 = *swapped ? n->kind : n->kind2;
	return (p);
}

/* Note n's pair in rs, for the store to index (rules_pairs()). */
static void
rules_fn_count2_pair(struct ruleset *rs, const struct rules_node *n)
{
	struct store_pair	p;
	size_t			i;
	bool			swapped;

	p = rules_fn_pair(n, &swapped);
	for (i = 0; i < rs->npairs; i++)
		if (memcmp(&rs->pairs[i], &p, sizeof(p)) == 0)
			return;
	if (rs->npairs < STORE_PAIRS_MAX)
		rs->pairs[rs->npairs++] = p;
	else
		rules_warn(rs, &n->kids[1]->pos, "the store indexes %d pairs "
		    "of keys; this one is counted the slow way, at most %d "
		    "records", STORE_PAIRS_MAX, RULES_SCAN_MAX);
}

/* The first call in condition n that reads history, or NULL. */
static const struct rules_node *
rules_fn_history(const struct rules_node *n)
{
	const struct rules_node	*h;
	size_t			 i;

	if (n->op == N_CALL && strcmp(n->fn->name, "exists") != 0)
		return (n);
	for (i = 0; i < n->nkids; i++)
		if ((h = rules_fn_history(n->kids[i])) != NULL)
			return (h);
	return (NULL);
}

/*
 * count's fourth argument: a condition each counted referral must meet,
 * on that referral's own facts (its referee's network, its email's
 * domain, its campaign), never on history.
 */
static int
rules_fn_count_where_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node		*w = n->kids[3];
	const struct rules_node		*h;
	const char			*fn = n->fn->name;
	char				 buf[64];
	int				 t;

	if (n->type_mask != EV_MASK(EV_REFERRAL) || n->kind2 != 0) {
		rules_error(cc->rs, &w->pos, "%s's condition is on each "
		    "counted referral: %s(referral, key, window, "
		    "condition), with one key", fn, fn);
		return (-1);
	}
	if ((t = rules_check_expr(cc, w)) == T_ERR)
		return (-1);
	if (t != T_BOOL) {
		rules_error(cc->rs, &w->pos, "%s's fourth argument is a "
		    "condition on each counted referral, not %s", fn,
		    rules_check_tname(w, buf, sizeof(buf)));
		return (-1);
	}
	if ((h = rules_fn_history(w)) != NULL) {
		rules_error(cc->rs, &h->pos, "%s's condition reads each "
		    "counted referral's own facts; %s() reads history", fn,
		    h->fn->name);
		return (-1);
	}
	/*
	 * Calls share a result only with the same condition: its source
	 * text's hash (a named condition's uses have its name's).
	 */
	n->arg = (int64_t)(XXH3_64bits(cc->rs->srcs[w->pos.src].text +
	    w->pos.off, w->end - w->pos.off) >> 1);
	n->cost = COST_RECORDS;
	return (0);
}

/*
 * count(type, key, window), or count(referral, [key, key], window): the
 * referrals that carried both keys, each in its role; count(referral,
 * key, window, condition): those of the key's referrals that meet the
 * condition.
 */
static int
rules_fn_count_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node	*k = n->kids[1];
	const char		*fn = n->fn->name;
	char			 what[32];

	snprintf(what, sizeof(what), "%s's type", fn);
	if (rules_fn_type(cc, n, what) != 0)
		return (T_ERR);
	if (k->op == N_LIST) {
		if (k->nkids != 2) {
			rules_error(cc->rs, &k->pos, "%s takes one key, or "
			    "two in brackets: [referrer.account, "
			    "referee.device.fuzzy]", fn);
			return (T_ERR);
		}
		if (n->type_mask != EV_MASK(EV_REFERRAL)) {
			rules_error(cc->rs, &n->kids[0]->pos, "%s with two "
			    "keys counts referrals: %s(referral, [...], "
			    "window)", fn, fn);
			return (T_ERR);
		}
		if (rules_check_key(cc, k->kids[0], fn, "key",
		    true) != 0 || rules_check_key(cc, k->kids[1], fn,
		    "key", true) != 0)
			return (T_ERR);
		n->party2 = k->kids[1]->party;
		n->kind2 = k->kids[1]->kind;
		if (n->party2 == k->kids[0]->party &&
		    n->kind2 == k->kids[0]->kind) {
			rules_error(cc->rs, &k->kids[1]->pos, "the two keys of "
			    "%s are the same", fn);
			return (T_ERR);
		}
		k = k->kids[0];
		n->cost = COST_RECORDS;
	} else if (rules_check_key(cc, k, fn, "key", true) != 0)
		return (T_ERR);
	if (rules_check_window(cc, n->kids[2], fn, true,
	    &n->window) != 0)
		return (T_ERR);
	rules_fn_key(n, k);
	n->limit = RULES_COUNT_MAX;
	if (n->nkids == 4 && rules_fn_count_where_check(cc, n) != 0)
		return (T_ERR);
	if (n->kind2 != 0)
		rules_fn_count2_pair(cc->rs, n);
	return (T_NUM);
}

/* Two keys: the entries of one, each event tested for the other. */
struct rules_count2 {
	struct rules_ectx	*cx;
	uint64_t		 limit;
	int			 second;	/* the second key's entries */
	int			 party;		/* the key tested */
	int			 kind;
	const struct rg_hash	*h;
	uint64_t		 n_both;
	size_t			 read;
	bool			 capped;
};

static int
rules_fn_count2_cb(void *arg, const struct store_entry *e)
{
	struct rules_count2	*a = arg;
	struct rg_hash		 h;
	int			 r;

	if (++a->read > RULES_SCAN_MAX) {
		a->capped = true;
		return (1);
	}
	if ((r = rules_eval_event_key(a->cx, e, a->party, a->kind, &h)) < 0)
		return (1);
	if (r == 2)
		return (0);	/* gone */
	if (r == 0 && memcmp(&h, a->h, sizeof(h)) == 0)
		a->n_both++;
	return (a->n_both >= a->limit);
}

/*
 * Which key's entries to walk: 1 the second's, when it has fewer in the
 * window than the first (each counted up to RULES_SCAN_MAX + 1), else 0;
 * -1 on error. Both are counted to growing bounds, so that deciding costs
 * about what the quieter key's entries do, not a busy key's thousands.
 */
static int
rules_fn_count2_second(struct rules_ectx *cx, const struct rules_node *n,
    const struct rg_hash *h1, const struct rg_hash *h2, uint8_t roles2,
    int64_t from, int64_t to)
{
	uint64_t	bound = 32;
	int64_t		c1, c2;

	for (;;) {
		if ((c1 = rules_eval_count(cx, n->kind, h1, n->type_mask,
		    n->role_mask, from, to, bound)) < 0 ||
		    (c2 = rules_eval_count(cx, n->kind2, h2, n->type_mask,
		    roles2, from, to, bound)) < 0)
			return (-1);
		if ((uint64_t)c1 < bound || (uint64_t)c2 < bound ||
		    bound == RULES_SCAN_MAX + 1)
			return (c2 < c1);
		bound = bound * 8 > RULES_SCAN_MAX + 1 ? RULES_SCAN_MAX + 1 :
		    bound * 8;
	}
}

/*
 * Both keys, the slow way: walk the one with fewer entries in the window
 * newest first, reading each event for the other key, until limit.
 */
static int
rules_fn_count2_walk(struct rules_ectx *cx, const struct rules_node *n,
    const struct rg_hash *h1, const struct rg_hash *h2, uint64_t limit,
    struct rules_count2 *a)
{
	int64_t		from = rules_eval_from(cx, n->window);
	int64_t		to = rules_eval_to(cx, n->window);
	uint8_t		roles2 = rules_fn_roles(n->party2, n->type_mask);
	int		second;

	if ((second = rules_fn_count2_second(cx, n, h1, h2, roles2, from,
	    to)) < 0)
		return (-1);
	memset(a, 0, sizeof(*a));
	a->cx = cx;
	a->limit = limit;
	a->second = second;
	if (second) {
		a->party = n->party;
		a->kind = n->kind;
		a->h = h1;
		return (rules_eval_scank(cx, n->kind2, h2, n->type_mask,
		    roles2, from, to, true, rules_fn_count2_cb, a));
	}
	a->party = n->party2;
	a->kind = n->kind2;
	a->h = h2;
	return (rules_eval_scank(cx, n->kind, h1, n->type_mask, n->role_mask,
	    from, to, true, rules_fn_count2_cb, a));
}

/*
 * Both keys: the pair's own entries when the store indexes it, and for
 * the referrals stored before it did, or when it does not, the walk.
 * s->x[0]: the entries read; s->x[1]: which key's entries were walked
 * (0, 1), 2 the pair's alone, 3 + the key walked besides the pair's.
 */
static int64_t
rules_fn_count2(struct rules_ectx *cx, const struct rules_node *n,
    const struct rg_hash *h1, const struct rg_hash *h2, struct rules_slot *s)
{
	struct store_pair	 p;
	struct rules_count2	 a;
	struct rg_hash		 hp;
	uint64_t		 from_seq, max_seq = cx->at.max_seq;
	int64_t			 c = 0;
	int			 rc;
	bool			 paired = false, swapped;

	p = rules_fn_pair(n, &swapped);
	if ((from_seq = store_pair_from(cx->txn, &p)) != 0 &&
	    (max_seq == 0 || max_seq >= from_seq)) {
		store_pair_key(&p, swapped ? h2 : h1, swapped ? h1 : h2, &hp);
		if ((c = rules_eval_count(cx, STORE_KIND_PAIR, &hp,
		    EV_MASK(EV_REFERRAL), ROLE_EVENT, rules_eval_from(cx,
		    n->window), rules_eval_to(cx, n->window), n->limit)) < 0)
			return (-1);
		s->x[0] = c;
		s->x[1] = 2;
		paired = true;
		if (from_seq == 1 || (uint64_t)c >= n->limit)
			return (cx->err ? -1 : c);
		/* The referrals stored before the pair was indexed. */
		cx->at.max_seq = from_seq - 1;
	}
	rc = rules_fn_count2_walk(cx, n, h1, h2, n->limit - (uint64_t)c, &a);
	cx->at.max_seq = max_seq;
	if (rc != 0)
		return (-1);
	if (a.capped && a.n_both + (uint64_t)c < n->limit)
		s->capped = true;
	s->x[0] = c + (int64_t)(a.read > RULES_SCAN_MAX ? RULES_SCAN_MAX :
	    a.read);
	s->x[1] = (paired ? 3 : 0) + a.second;
	return (cx->err ? -1 : c + (int64_t)a.n_both);
}

/*
 * A walk over the records of the key's events in the window, newest
 * first, adding what add() makes of each (sum: its reward; count with a
 * condition: 1 when it meets it) until the total reaches the call's
 * limit (what is added is never negative), at most RULES_SCAN_MAX
 * records. The total, or -1 on a store error; s->capped and s->x[0]
 * (the records read) for explain.
 */
struct rules_recs {
	struct rules_ectx	*cx;
	const struct rules_node	*n;
	double			(*add)(struct rules_ectx *,
				    const struct rules_node *,
				    const struct rg_event *);
	double			 total;
	size_t			 scanned;
	bool			 capped;
};

static int
rules_fn_recs_cb(void *arg, const struct store_entry *e)
{
	struct rules_recs	*a = arg;
	struct rg_event		 ev;
	const struct rg_event	*p;
	int			 r;

	if (++a->scanned > RULES_SCAN_MAX) {
		a->capped = true;
		return (1);
	}
	if ((r = rules_eval_event(a->cx, e, &ev, &p)) != 0)
		return (r < 0);
	a->total += a->add(a->cx, a->n, p);
	return (a->total >= (double)a->n->limit);
}

static double
rules_fn_recs(struct rules_ectx *cx, const struct rules_node *n,
    const struct rg_hash *h, double (*add)(struct rules_ectx *,
    const struct rules_node *, const struct rg_event *),
    struct rules_slot *s)
{
	struct rules_recs	a;

	memset(&a, 0, sizeof(a));
	a.cx = cx;
	a.n = n;
	a.add = add;
	if (rules_eval_scan(cx, n, h, rules_fn_recs_cb, &a) != 0)
		return (-1);
	s->capped = a.capped;
	s->x[0] = (int64_t)(a.scanned > RULES_SCAN_MAX ? RULES_SCAN_MAX :
	    a.scanned);
	return (a.total);
}

/* A count's condition: 1 for a referral that meets it. */
static double
rules_fn_where(struct rules_ectx *cx, const struct rules_node *n,
    const struct rg_event *ev)
{
	return (rules_eval_cond(cx, n->kids[3], ev) ? 1 : 0);
}

/*
 * What count(...) counts, with the first key's hash in *h: -1 on a store
 * error (cx->err set), -2 when a key is absent.
 */
static int64_t
rules_fn_counted(struct rules_ectx *cx, const struct rules_node *n,
    struct rg_hash *h, struct rules_slot *s)
{
	struct rg_hash	h2;
	int64_t		c;

	if (!rules_eval_key(cx, n->party, n->kind, h))
		return (-2);
	if (n->nkids == 4)
		c = (int64_t)rules_fn_recs(cx, n, h, rules_fn_where, s);
	else if (n->kind2 != 0) {
		if (!rules_eval_key(cx, n->party2, n->kind2, &h2))
			return (-2);
		c = rules_fn_count2(cx, n, h, &h2, s);
	} else
		c = rules_eval_count(cx, n->kind, h, n->type_mask,
		    n->role_mask, rules_eval_from(cx, n->window),
		    rules_eval_to(cx, n->window), n->limit);
	if (c < 0)
		cx->err = 1;
	return (c);
}

static void
rules_fn_count_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	struct rg_hash	h;
	int64_t		c;

	s->v.type = T_NUM;
	if ((c = rules_fn_counted(cx, n, &h, s)) < 0)
		return;
	s->v.present = true;
	s->v.n = (double)c;
}

/* How a count with two keys or a condition read what it counted. */
static void
rules_fn_count_exread(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	const char	*by;
	char		 buf[160];

	/* A condition: how many referrals were read to count those. */
	if (n->nkids == 4 && s->v.present) {
		jsw_raws(cx->ex, ",\"read\":");
		jsw_int(cx->ex, (int64_t)s->x[0]);
	}
	/*
	 * Two keys: how many entries were read, and whose: "pair" (the
	 * pair's), a key's, or "pair, then " the key walked for the
	 * referrals stored before the pair was indexed.
	 */
	if (n->kind2 != 0 && s->v.present) {
		if (s->x[1] == 2)
			by = "pair";
		else {
			by = n->kids[1]->kids[s->x[1] % 3]->text;
			if (s->x[1] >= 3) {
				snprintf(buf, sizeof(buf), "pair, then %s", by);
				by = buf;
			}
		}
		jsw_raws(cx->ex, ",\"read\":");
		jsw_int(cx->ex, (int64_t)s->x[0]);
		jsw_raws(cx->ex, ",\"by\":");
		jsw_name(cx->ex, by, strlen(by));
	}
}

/* The window of a windowed history call, then its count. */
static void
rules_fn_count_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	rules_eval_exwindow(cx, n);
	rules_eval_excount(cx, n, s);
	rules_fn_count_exread(cx, n, s);
}

/* ---- share(referral, [key, key], window), share(..., condition) ----- */

/*
 * count's arguments, two keys or a condition: what count counts, as a
 * percentage of the first key's referrals in the window. Every one is
 * counted (no comparison bounds it); a condition reads the newest
 * RULES_SCAN_MAX referrals' records and is a share of those.
 */
static int
rules_fn_share_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node	*a = n->kids[0];

	if (a->op != N_WORD || strcmp(a->name, "referral") != 0) {
		rules_error(cc->rs, &a->pos, "share is a part of referrals: "
		    "share(referral, ...)");
		return (T_ERR);
	}
	if (rules_fn_count_check(cc, n) == T_ERR)
		return (T_ERR);
	if (n->kind2 == 0 && n->nkids != 4) {
		rules_error(cc->rs, &n->pos, "share is a part of a key's "
		    "referrals: share(referral, [referrer.account, "
		    "referee.email.shape], window) or share(referral, key, "
		    "window, condition)");
		return (T_ERR);
	}
	return (T_NUM);
}

static void
rules_fn_share_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	struct rg_hash	h;
	int64_t		c, d;

	s->v.type = T_NUM;
	if ((c = rules_fn_counted(cx, n, &h, s)) < 0)
		return;
	if ((d = rules_eval_count(cx, n->kind, &h, n->type_mask,
	    n->role_mask, rules_eval_from(cx, n->window),
	    rules_eval_to(cx, n->window), RULES_COUNT_MAX)) < 0) {
		cx->err = 1;
		return;
	}
	/* A condition read the newest RULES_SCAN_MAX: a share of those. */
	if (n->nkids == 4 && s->capped) {
		d = s->x[0];
		s->capped = false;
	}
	s->x[2] = c;
	s->x[3] = d;
	s->x[4] = 1;		/* counted: explain says what */
	/*
	 * No share of none; nor of two keys whose walk stopped at
	 * RULES_SCAN_MAX records (a pair the store does not index): its
	 * count is a lower bound, and a share below it would say "<" wrongly.
	 */
	if (d == 0 || s->capped)
		return;
	s->v.present = true;
	s->v.n = 100.0 * (double)(c < d ? c : d) / (double)d;
}

static void
rules_fn_share_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	rules_eval_exwindow(cx, n);
	rules_eval_excount(cx, n, s);
	if (s->x[4] == 0)
		return;		/* a key absent: nothing counted */
	jsw_raws(cx->ex, ",\"count\":");
	jsw_int(cx->ex, s->x[2]);
	jsw_raws(cx->ex, ",\"of\":");
	jsw_int(cx->ex, s->x[3]);
	rules_fn_count_exread(cx, n, s);
}

/* ---- distinct(what, key, window) ------------------------------------ */

static int
rules_fn_distinct_check(struct rules_cctx *cc, struct rules_node *n)
{
	if (rules_check_key(cc, n->kids[0], "distinct", "value", false) != 0 ||
	    rules_check_key(cc, n->kids[1], "distinct", "key", true) != 0 ||
	    rules_check_window(cc, n->kids[2], "distinct", true,
	    &n->window) != 0)
		return (T_ERR);
	n->wparty = n->kids[0]->party;
	n->wfact = n->kids[0]->fact;
	n->type_mask = EV_MASK(EV_REFERRAL);
	rules_fn_key(n, n->kids[1]);
	n->limit = RULES_DISTINCT_MAX;
	return (T_NUM);
}

/* A value as 16 bytes, to tell distinct values apart. */
static void
rules_fn_valkey(const struct rules_rval *v, struct rg_hash *k)
{
	XXH128_hash_t	h;

	switch (v->type) {
	case T_IDENT:
		*k = v->h;
		return;
	case T_STR:
		h = XXH3_128bits(v->s, strlen(v->s));
		break;
	default:
		h = XXH3_128bits(&v->n, sizeof(v->n));
		break;
	}
	memcpy(k->b, &h, sizeof(k->b));
}

struct rules_distinct {
	struct rules_ectx		*cx;
	const struct rules_node		*n;
	size_t				 nseen;
	size_t				 scanned;
	bool				 capped;
	struct rg_hash			 seen[RULES_DISTINCT_MAX];
};

static int
rules_fn_distinct_cb(void *arg, const struct store_entry *e)
{
	struct rules_distinct	*d = arg;
	struct rg_event		 ev;
	const struct rg_event	*p;
	struct rules_rval	 v;
	struct rg_hash		 k;
	size_t			 i;
	int			 r;

	if (++d->scanned > RULES_SCAN_MAX) {
		d->capped = true;
		return (1);
	}
	if ((r = rules_eval_event(d->cx, e, &ev, &p)) != 0)
		return (r < 0);
	if (!rules_fact_get(p, d->n->wparty, d->n->wfact, &v))
		return (0);
	rules_fn_valkey(&v, &k);
	for (i = 0; i < d->nseen; i++)
		if (memcmp(&d->seen[i], &k, sizeof(k)) == 0)
			return (0);
	d->seen[d->nseen++] = k;
	return (d->nseen >= d->n->limit || d->nseen >= RULES_DISTINCT_MAX);
}

static void
rules_fn_distinct_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	struct rules_distinct	 d;
	struct rg_hash		 h;

	s->v.type = T_NUM;
	if (!rules_eval_key(cx, n->party, n->kind, &h))
		return;
	d.cx = cx;
	d.n = n;
	d.nseen = 0;
	d.scanned = 0;
	d.capped = false;
	if (rules_eval_scan(cx, n, &h, rules_fn_distinct_cb, &d) != 0)
		return;
	s->v.present = true;
	s->v.n = (double)d.nseen;
	s->capped = d.capped;
}

/* ---- sum(reward.amount, key, window) -------------------------------- */

static int
rules_fn_sum_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node	*a = n->kids[0];

	if (a->op != N_WORD || strcmp(a->name, "reward.amount") != 0) {
		rules_error(cc->rs, &a->pos, "sum adds reward.amount (the only "
		    "amount a referral carries)");
		return (T_ERR);
	}
	if (rules_check_word(cc, a) == T_ERR ||
	    rules_check_key(cc, n->kids[1], "sum", "key", true) != 0 ||
	    rules_check_window(cc, n->kids[2], "sum", true, &n->window) != 0)
		return (T_ERR);
	n->wparty = a->party;
	n->wfact = a->fact;
	n->type_mask = EV_MASK(EV_REFERRAL);
	rules_fn_key(n, n->kids[1]);
	n->limit = RULES_SUM_MAX;
	return (T_NUM);
}

/* A referral's reward; amounts are never negative (req.c). */
static double
rules_fn_reward(struct rules_ectx *cx, const struct rules_node *n,
    const struct rg_event *ev)
{
	(void)cx;
	(void)n;
	return (ev->has_reward ? ev->reward_amount : 0);
}

/*
 * The reward amounts of the referrals carrying the key in its role in the
 * window, newest first; referrals without a reward add nothing.
 */
static void
rules_fn_sum_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	struct rg_hash	h;
	double		sum;

	s->v.type = T_NUM;
	if (!rules_eval_key(cx, n->party, n->kind, &h))
		return;
	if ((sum = rules_fn_recs(cx, n, &h, rules_fn_reward, s)) < 0)
		return;
	s->v.present = true;
	s->v.n = sum;
}

static void
rules_fn_sum_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	rules_eval_exwindow(cx, n);
	rules_eval_excount(cx, n, s);
	if (s->v.present) {
		jsw_raws(cx->ex, ",\"referrals\":");
		jsw_int(cx->ex, (int64_t)s->x[0]);
	}
}

/* ---- span(type, key, n) --------------------------------------------- */

static int
rules_fn_span_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node	*a = n->kids[2];

	if (rules_fn_type(cc, n, "span's type") != 0 ||
	    rules_check_key(cc, n->kids[1], "span", "key", true) != 0)
		return (T_ERR);
	if (a->op != N_CONST || a->type != T_NUM || a->v.n < 2 ||
	    a->v.n > RULES_SPAN_MAX || a->v.n != (double)(int)a->v.n) {
		rules_error(cc->rs, &a->pos, "span's count is a whole number "
		    "from 2 to %d", RULES_SPAN_MAX);
		return (T_ERR);
	}
	n->arg = (int64_t)a->v.n;
	rules_fn_key(n, n->kids[1]);
	return (T_DUR);
}

struct rules_span {
	int64_t		n;
	int64_t		got;
	int64_t		newest;
	int64_t		oldest;
};

static int
rules_fn_span_cb(void *arg, const struct store_entry *e)
{
	struct rules_span	*a = arg;

	if (a->got++ == 0)
		a->newest = e->ts;
	a->oldest = e->ts;
	return (a->got >= a->n);
}

/*
 * How long the last n events of the type carrying the key took, as of
 * the evaluation: from the n-th newest to the newest. Absent with fewer.
 */
static void
rules_fn_span_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	struct rules_span	a;
	struct rg_hash		h;

	s->v.type = T_DUR;
	if (!rules_eval_key(cx, n->party, n->kind, &h))
		return;
	memset(&a, 0, sizeof(a));
	a.n = n->arg;
	if (rules_eval_scank(cx, n->kind, &h, n->type_mask, n->role_mask,
	    INT64_MIN, cx->ev->ts, true, rules_fn_span_cb, &a) != 0) {
		cx->err = 1;
		return;
	}
	s->x[0] = a.got;
	if (a.got < a.n)
		return;
	s->v.present = true;
	s->v.ms = a.newest - a.oldest;
	s->x[1] = a.oldest;
	s->x[2] = a.newest;
}

static void
rules_fn_span_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	jsw_raws(cx->ex, ",\"value\":");
	rules_eval_exval(cx->ex, &s->v);
	jsw_raws(cx->ex, ",\"events\":");
	jsw_int(cx->ex, (int64_t)s->x[0]);
	if (s->v.present) {
		jsw_raws(cx->ex, ",\"from\":");
		jsw_time(cx->ex, (int64_t)s->x[1]);
		jsw_raws(cx->ex, ",\"to\":");
		jsw_time(cx->ex, (int64_t)s->x[2]);
	}
	(void)n;
}

/* ---- age(identity), age(referral) ----------------------------------- */

static int
rules_fn_age_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node	*a = n->kids[0];

	if (a->op == N_WORD && strcmp(a->name, "referral") == 0) {
		n->party = PARTY_EVENT;
		n->kind = 0;
		return (T_DUR);
	}
	if (rules_check_key(cc, a, "age", "argument", true) != 0)
		return (T_ERR);
	rules_fn_key(n, a);
	return (T_DUR);
}

/*
 * How long before the referral the identity was first seen: its oldest
 * index entry as of the evaluation. The event carries it, so it is known
 * at the latest from the event's time on: a new identity is 0 old, and a
 * recheck sees the age the identity had at the referral. The referral's
 * own age is 0 at check, the time since at a recheck.
 */
static void
rules_fn_age_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	struct store_entry	 e;
	struct rg_hash		 h;
	int64_t			 first = cx->ev->ts;
	int			 r;

	s->v.type = T_DUR;
	if (n->kind != 0) {
		if (!rules_eval_key(cx, n->party, n->kind, &h))
			return;
		r = rules_eval_first(cx, n->kind, &h, cx->at.ts, &e);
		if (r < 0) {
			cx->err = 1;
			return;
		}
		if (r == 0 && e.ts < first)
			first = e.ts;
	}
	s->v.present = true;
	if (n->kind == 0)	/* age(referral): until the evaluation */
		s->v.ms = cx->at.ts > first ? cx->at.ts - first : 0;
	else			/* an identity's: at the referral */
		s->v.ms = cx->ev->ts > first ? cx->ev->ts - first : 0;
	s->x[0] = first;
}

static void
rules_fn_age_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	(void)n;
	jsw_raws(cx->ex, ",\"value\":");
	rules_eval_exval(cx->ex, &s->v);
	if (s->v.present) {
		jsw_raws(cx->ex, ",\"first_seen\":");
		jsw_time(cx->ex, (int64_t)s->x[0]);
	}
}

/* ---- the table ------------------------------------------------------ */

const struct rules_fn rules_fns[] = {
	{ "in", "x in list NAME, x in [...]", 1, 2, RF_OPERATOR, COST_SET, 0,
	    rules_fn_in_check, rules_fn_in_eval, rules_fn_in_explain },
	{ "exists", "exists(fact)", 1, 1, 0, COST_FACT, 0,
	    rules_fn_exists_check, rules_fn_exists_eval, NULL },
	{ "labeled", "labeled(party, label)", 2, 2, RF_SLOT, COST_POINT, 0,
	    rules_fn_labeled_check, rules_fn_labeled_eval,
	    rules_fn_labeled_explain },
	{ "count", "count(type, key, window), count(referral, [key, key], "
	    "window) or count(referral, key, window, condition)", 3, 4,
	    RF_SLOT | RF_BOUND,
	    COST_RANGE, 0, rules_fn_count_check, rules_fn_count_eval,
	    rules_fn_count_explain },
	{ "share", "share(referral, [key, key], window) or share(referral, "
	    "key, window, condition)", 3, 4, RF_SLOT, COST_RECORDS, 101,
	    rules_fn_share_check, rules_fn_share_eval, rules_fn_share_explain },
	{ "distinct", "distinct(what, key, window)", 3, 3, RF_SLOT | RF_BOUND,
	    COST_RECORDS, RULES_DISTINCT_MAX, rules_fn_distinct_check,
	    rules_fn_distinct_eval, rules_fn_count_explain },
	{ "sum", "sum(reward.amount, key, window)", 3, 3, RF_SLOT | RF_BOUND,
	    COST_RECORDS, 0, rules_fn_sum_check, rules_fn_sum_eval,
	    rules_fn_sum_explain },
	{ "span", "span(type, key, n)", 3, 3, RF_SLOT, COST_RANGE, 0,
	    rules_fn_span_check, rules_fn_span_eval, rules_fn_span_explain },
	{ "age", "age(identity) or age(referral)", 1, 1, RF_SLOT, COST_SEEK, 0,
	    rules_fn_age_check, rules_fn_age_eval, rules_fn_age_explain },
	{ "linked", "linked(referrer, referee, kind[, window])", 3, 4,
	    RF_SLOT, COST_LINKS, 0, rules_graph_linked_check,
	    rules_graph_linked_eval, rules_graph_linked_explain },
	{ "own", "own(party, kind)", 2, 2, RF_SLOT | RF_BOUND, COST_LINKS, 0,
	    rules_graph_own_check, rules_graph_own_eval,
	    rules_graph_own_explain },
	{ "cluster", "cluster(party, [kinds][, window])", 2, 3,
	    RF_SLOT | RF_BOUND, COST_CLUSTER, RULES_CLUSTER_MAX,
	    rules_graph_cluster_check, rules_graph_cluster_eval,
	    rules_graph_cluster_explain },
	{ "strangers", "strangers(party, [kinds], [kinds apart], window)", 4, 4,
	    RF_SLOT | RF_BOUND, COST_CLUSTER, RULES_CLUSTER_MAX,
	    rules_graph_strangers_check, rules_graph_strangers_eval,
	    rules_graph_cluster_explain },
	{ "referees", "referees(key, window[, all|active|dormant|engaged|"
	    "bought|returned|day_old|lately|active_percent|dormant_percent|"
	    "engaged_percent|bought_percent|returned_percent|"
	    "repeat_percent])", 2, 3,
	    RF_SLOT | RF_BOUND, COST_REFEREES, 0, rules_graph_referees_check,
	    rules_graph_referees_eval, rules_graph_referees_explain },
	{ "peers", "peers([kinds], window)", 2, 2, RF_SLOT | RF_BOUND,
	    COST_REFEREES, 0, rules_peers_check, rules_peers_eval,
	    rules_peers_explain },
	{ "chain", "chain(referrer, window)", 2, 2, RF_SLOT | RF_BOUND,
	    COST_CHAIN, 0, rules_graph_chain_check, rules_graph_chain_eval,
	    rules_graph_chain_explain },
	{ "referred", "referred(referrer, referee[, hops])", 2, 3,
	    RF_SLOT | RF_HOPS, COST_HOP, 0, rules_graph_referred_check,
	    rules_graph_referred_eval, rules_graph_referred_explain },
};
const size_t			 rules_nfns = nitems(rules_fns);
const struct rules_fn *const	 rules_fn_in = &rules_fns[0];
