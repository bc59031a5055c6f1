/*
 * rules_eval.c: evaluate a compiled rule set against one event and the
 * store's history as of that event.
 *
 * The hot path allocates nothing: values live on the stack, history
 * results are cached per evaluation in fixed slots, and the explain text
 * is only built when asked. A comparison with an absent value is false;
 * and/or short-circuit, their operands ordered cheapest first at compile
 * time (they have no side effects, so the order cannot change a result).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <xxhash.h>

#include "rules_int.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"

struct rules_slot {
	bool		have;
	bool		present;
	int64_t		n;		/* count, distinct; bool as 0/1 */
	uint64_t	limit;		/* what n was computed with */
	uint32_t	kinds;		/* linked: kinds found (explain) */
	int		hops;		/* referred: at which hop */
};

struct rules_ectx {
	const struct ruleset	*rs;
	const struct event	*ev;
	struct rules_at		 at;		/* as of: window end, max seq */
	struct store_txn	*txn;
	struct sbuf		*ex;		/* NULL: no explain */
	bool			 exfirst;
	int			 err;
	bool			 links_done;	/* links_found is known */
	uint32_t		 links_want;
	uint32_t		 links_found;	/* kinds the parties share */
	struct rules_slot	 slots[RULES_SLOTS];
};

static bool rules_eval_bool(struct rules_ectx *, const struct rules_node *);

int
rules_fact_get(const struct event *ev, int party, int fact,
    struct rules_rval *v)
{
	const struct party	*p;
	const struct geo_facts	*g;
	int			 kind;

	v->type = rules_facts[fact].type;
	v->present = false;
	if (party == PARTY_EVENT) {
		switch (fact) {
		case F_CAMPAIGN:
			v->s = ev->campaign;
			v->present = ev->campaign[0] != '\0';
			break;
		case F_REWARD_AMOUNT:
			v->n = ev->reward_amount;
			v->present = ev->has_reward;
			break;
		case F_REWARD_CURRENCY:
			v->s = ev->reward_currency;
			v->present = ev->reward_currency[0] != '\0';
			break;
		case F_TS:
			v->ms = ev->ts;
			v->present = true;
			break;
		}
		return (v->present);
	}
	if (party >= ev->nparties)
		return (0);
	p = &ev->party[party];
	g = &p->geo;
	if ((kind = rules_facts[fact].kind) != 0) {
		v->kind = (uint8_t)kind;
		if ((v->present = PARTY_HAS(p, kind)))
			v->h = p->h[kind];
		return (v->present);
	}
	switch (fact) {
	case F_EMAIL_DOMAIN:
		v->s = p->email_domain;
		v->present = (p->facts & PF_EMAIL_DOMAIN) != 0;
		break;
	case F_EMAIL_DISPOSABLE:
		v->b = p->email_disposable;
		v->present = (p->facts & PF_EMAIL_DISPOSABLE) != 0;
		break;
	case F_IP_VERSION:
		v->n = p->ip_version;
		v->present = (p->facts & PF_IP_INFO) != 0;
		break;
	case F_IP_PRIVATE:
		v->b = p->ip_private;
		v->present = (p->facts & PF_IP_INFO) != 0;
		break;
	case F_GEO_COUNTRY:
		v->s = g->country;
		v->present = (g->have & GEO_COUNTRY) != 0;
		break;
	case F_GEO_CONTINENT:
		v->s = g->continent;
		v->present = (g->have & GEO_CONTINENT) != 0;
		break;
	case F_GEO_ASN:
		v->n = g->asn;
		v->present = (g->have & GEO_ASN) != 0;
		break;
	case F_GEO_AS_ORG:
		v->s = g->as_org;
		v->present = (g->have & GEO_AS_ORG) != 0;
		break;
	case F_GEO_ANONYMOUS:
		v->b = g->anonymous;
		v->present = (g->have & GEO_ANONYMOUS) != 0;
		break;
	case F_GEO_VPN:
		v->b = g->vpn;
		v->present = (g->have & GEO_VPN) != 0;
		break;
	case F_GEO_TOR:
		v->b = g->tor;
		v->present = (g->have & GEO_TOR) != 0;
		break;
	case F_GEO_HOSTING:
		v->b = g->hosting;
		v->present = (g->have & GEO_HOSTING) != 0;
		break;
	case F_GEO_RESIDENTIAL_PROXY:
		v->b = g->residential_proxy;
		v->present = (g->have & GEO_RESIDENTIAL_PROXY) != 0;
		break;
	}
	return (v->present);
}

/* Set a readable fact (rule tests' "assume"); identities are not set. */
void
rules_fact_set(struct event *ev, int party, int fact,
    const struct rules_rval *v)
{
	struct party		*p;
	struct geo_facts	*g;

	if (party == PARTY_EVENT || party >= ev->nparties)
		return;
	p = &ev->party[party];
	g = &p->geo;
	switch (fact) {
	case F_EMAIL_DOMAIN:
		snprintf(p->email_domain, sizeof(p->email_domain), "%s", v->s);
		p->facts |= PF_EMAIL_DOMAIN;
		break;
	case F_EMAIL_DISPOSABLE:
		p->email_disposable = v->b;
		p->facts |= PF_EMAIL_DISPOSABLE;
		break;
	case F_IP_VERSION:
		p->ip_version = (uint8_t)v->n;
		p->facts |= PF_IP_INFO;
		break;
	case F_IP_PRIVATE:
		p->ip_private = v->b;
		p->facts |= PF_IP_INFO;
		break;
	case F_GEO_COUNTRY:
		snprintf(g->country, sizeof(g->country), "%s", v->s);
		g->have |= GEO_COUNTRY;
		break;
	case F_GEO_CONTINENT:
		snprintf(g->continent, sizeof(g->continent), "%s", v->s);
		g->have |= GEO_CONTINENT;
		break;
	case F_GEO_ASN:
		g->asn = (uint32_t)v->n;
		g->have |= GEO_ASN;
		break;
	case F_GEO_AS_ORG:
		snprintf(g->as_org, sizeof(g->as_org), "%s", v->s);
		g->have |= GEO_AS_ORG;
		break;
	case F_GEO_ANONYMOUS:
		g->anonymous = v->b;
		g->have |= GEO_ANONYMOUS;
		break;
	case F_GEO_VPN:
		g->vpn = v->b;
		g->have |= GEO_VPN;
		break;
	case F_GEO_TOR:
		g->tor = v->b;
		g->have |= GEO_TOR;
		break;
	case F_GEO_HOSTING:
		g->hosting = v->b;
		g->have |= GEO_HOSTING;
		break;
	case F_GEO_RESIDENTIAL_PROXY:
		g->residential_proxy = v->b;
		g->have |= GEO_RESIDENTIAL_PROXY;
		break;
	}
}

static int64_t
rules_eval_from(const struct rules_at *at, int64_t window)
{
	if (window <= 0)
		return (INT64_MIN);
	return (at->ts < INT64_MIN + window ? INT64_MIN : at->ts - window);
}

/* The cached result of a history node, if it answers this node too. */
static struct rules_slot *
rules_eval_cached(struct rules_ectx *cx, const struct rules_node *n)
{
	struct rules_slot	*s;

	if (n->slot < 0)
		return (NULL);
	s = &cx->slots[n->slot];
	if (!s->have)
		return (NULL);
	if (n->op != N_COUNT && n->op != N_DISTINCT)
		return (s);
	/* A count that stopped at its limit only answers smaller limits. */
	if ((uint64_t)s->n < s->limit || s->limit >= n->limit)
		return (s);
	return (NULL);
}

static struct rules_slot *
rules_eval_store(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *tmp)
{
	struct rules_slot	*s = n->slot >= 0 ? &cx->slots[n->slot] : tmp;

	memset(s, 0, sizeof(*s));
	s->have = true;
	return (s);
}

static const struct rules_slot *
rules_eval_count(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *tmp)
{
	const struct event	*ev = cx->ev;
	const struct party	*p = &ev->party[n->party];
	struct rules_slot	*s;
	int64_t			 c;

	if ((s = rules_eval_cached(cx, n)) != NULL)
		return (s);
	s = rules_eval_store(cx, n, tmp);
	s->limit = n->limit;
	if (n->party >= ev->nparties || !PARTY_HAS(p, n->kind))
		return (s);
	c = store_count(cx->txn, n->kind, &p->h[n->kind], n->type_mask,
	    n->role_mask, rules_eval_from(&cx->at, n->window), cx->at.ts,
	    cx->at.max_seq, n->limit);
	if (c < 0) {
		cx->err = 1;
		s->have = false;
		return (s);
	}
	s->present = true;
	s->n = c;
	return (s);
}

/* A value as 16 bytes, to tell distinct values apart. */
static void
rules_eval_key(const struct rules_rval *v, struct rg_hash *k)
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
	const struct rules_node		*what;
	uint64_t			 limit;
	size_t				 n;
	size_t				 scanned;
	struct rg_hash			 seen[RULES_DISTINCT_MAX];
};

static int
rules_eval_distinct_cb(void *arg, const struct store_entry *e)
{
	struct rules_distinct	*d = arg;
	struct event		 ev;
	struct rules_rval	 v;
	struct rg_hash		 k;
	size_t			 i;
	int			 r;

	if (++d->scanned > RULES_SCAN_MAX)
		return (1);
	if (e->seq == d->cx->ev->seq) {
		/* This event: no need to read it back. */
		rules_fact_get(d->cx->ev, d->what->party, d->what->fact, &v);
	} else {
		if ((r = store_get_event(d->cx->txn, e->seq, &ev)) < 0) {
			d->cx->err = 1;
			return (1);
		}
		if (r == 1)
			return (0);
		rules_fact_get(&ev, d->what->party, d->what->fact, &v);
	}
	if (!v.present)
		return (0);
	rules_eval_key(&v, &k);
	for (i = 0; i < d->n; i++)
		if (memcmp(&d->seen[i], &k, sizeof(k)) == 0)
			return (0);
	d->seen[d->n++] = k;
	return (d->n >= d->limit || d->n >= RULES_DISTINCT_MAX);
}

static const struct rules_slot *
rules_eval_distinct(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *tmp)
{
	const struct event	*ev = cx->ev;
	const struct party	*p = &ev->party[n->party];
	struct rules_distinct	 d;
	struct rules_slot	*s;

	if ((s = rules_eval_cached(cx, n)) != NULL)
		return (s);
	s = rules_eval_store(cx, n, tmp);
	s->limit = n->limit;
	if (n->party >= ev->nparties || !PARTY_HAS(p, n->kind))
		return (s);
	d.cx = cx;
	d.what = n->kids[0];
	d.limit = n->limit;
	d.n = 0;
	d.scanned = 0;
	if (store_scan(cx->txn, n->kind, &p->h[n->kind], n->type_mask,
	    n->role_mask, rules_eval_from(&cx->at, n->window), cx->at.ts,
	    cx->at.max_seq, true, rules_eval_distinct_cb, &d) != 0 ||
	    cx->err) {
		cx->err = 1;
		s->have = false;
		return (s);
	}
	s->present = true;
	s->n = (int64_t)d.n;
	return (s);
}

/* The kinds linked(..., any) looks at. */
static const uint8_t rules_link_kinds[] = {
	ENT_DEVICE, ENT_DEVICE_FUZZY, ENT_DEVICE_ID, ENT_IP, ENT_IP_PREFIX,
	ENT_EMAIL, ENT_PAYMENT, ENT_PHONE,
};

struct rules_linked {
	struct rules_ectx	*cx;
	const struct rg_hash	*other;		/* the other account */
	uint32_t		 want;		/* 1 << kind */
	uint32_t		 found;
	int64_t			 from;		/* window; INT64_MIN: none */
	bool			 all;		/* explain: find every kind */
	size_t			 scanned;
	/* Windowed: the other account's recent links. */
	size_t			 nrecent;
	bool			 overflow;
	struct store_link	 recent[RULES_LINK_WIN];
};

static int
rules_eval_recent_cb(void *arg, const struct store_link *l)
{
	struct rules_linked	*lk = arg;

	if (++lk->scanned > RULES_LINK_MAX) {
		lk->overflow = true;
		return (1);
	}
	if (!(lk->want & (1u << l->kind)) || l->last_ts < lk->from)
		return (0);
	if (lk->nrecent == RULES_LINK_WIN) {
		lk->overflow = true;
		return (1);
	}
	lk->recent[lk->nrecent++] = *l;
	return (0);
}

static int
rules_eval_linked_cb(void *arg, const struct store_link *l)
{
	struct rules_linked	*lk = arg;
	size_t			 i;
	int			 r;

	if (++lk->scanned > RULES_LINK_MAX)
		return (1);
	if (!(lk->want & (1u << l->kind)) || (lk->found & (1u << l->kind)) ||
	    l->last_ts < lk->from)
		return (0);
	if (lk->from != INT64_MIN) {
		for (i = 0; i < lk->nrecent; i++) {
			if (lk->recent[i].kind == l->kind &&
			    memcmp(&lk->recent[i].h, &l->h, sizeof(l->h)) == 0)
				break;
		}
		if (i < lk->nrecent)
			r = 0;
		else if (!lk->overflow)
			r = 1;
		else
			goto probe;
	} else {
probe:
		r = store_link_get(lk->cx->txn, lk->other, l->kind, &l->h,
		    lk->cx->at.max_seq, NULL, NULL);
		if (r < 0) {
			lk->cx->err = 1;
			return (1);
		}
	}
	if (r == 0) {
		lk->found |= 1u << l->kind;
		if (!lk->all || (lk->found & lk->want) == lk->want)
			return (1);
	}
	return (0);
}

/*
 * linked(a, b, kind[, window]): the identities in this event first, then
 * the referee's recorded links probed against the referrer's (the referee
 * is usually the newer account, with fewer links). With a window both
 * accounts must have carried the identity within it.
 */
static int
rules_eval_links(struct rules_ectx *cx, uint32_t want, int kind,
    int64_t window, uint32_t *found)
{
	const struct event	*ev = cx->ev;
	const struct party	*ra = &ev->party[PARTY_REFERRER];
	const struct party	*rb = &ev->party[PARTY_REFEREE];
	struct rules_linked	 lk;
	size_t			 i;
	uint8_t			 k;

	memset(&lk, 0, offsetof(struct rules_linked, recent));
	lk.want = want;
	lk.all = true;
	for (i = 0; i < nitems(rules_link_kinds); i++) {
		k = rules_link_kinds[i];
		if ((want & (1u << k)) && PARTY_HAS(ra, k) && PARTY_HAS(rb, k) &&
		    memcmp(&ra->h[k], &rb->h[k], sizeof(ra->h[k])) == 0)
			lk.found |= 1u << k;
	}
	*found = lk.found;
	if (!PARTY_HAS(ra, ENT_ACCOUNT) || !PARTY_HAS(rb, ENT_ACCOUNT) ||
	    (lk.found & want) == want)
		return (0);
	lk.cx = cx;
	lk.other = &ra->h[ENT_ACCOUNT];
	lk.from = rules_eval_from(&cx->at, window);
	if (window > 0) {
		if (store_link_scan(cx->txn, &ra->h[ENT_ACCOUNT], kind,
		    cx->at.max_seq, rules_eval_recent_cb, &lk) != 0 || cx->err)
			return (-1);
		lk.scanned = 0;
	}
	if (store_link_scan(cx->txn, &rb->h[ENT_ACCOUNT], kind,
	    cx->at.max_seq, rules_eval_linked_cb, &lk) != 0 || cx->err)
		return (-1);
	*found = lk.found;
	return (0);
}

/*
 * linked(a, b, kind[, window]): the identities in this event first, then
 * the referee's recorded links probed against the referrer's (the referee
 * is usually the newer account, with fewer links). Without a window one
 * pass finds every linked kind at once and serves every linked() of the
 * evaluation; with a window both accounts must have carried the identity
 * within it.
 */
static const struct rules_slot *
rules_eval_linked(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *tmp)
{
	struct rules_slot	*s;
	uint32_t		 want = 0, found;
	size_t			 i;

	if ((s = rules_eval_cached(cx, n)) != NULL)
		return (s);
	s = rules_eval_store(cx, n, tmp);
	s->present = true;
	if (cx->ev->nparties < 2)
		return (s);
	for (i = 0; i < nitems(rules_link_kinds); i++)
		if (n->kind == 0 || n->kind == rules_link_kinds[i])
			want |= 1u << rules_link_kinds[i];
	if (n->window == 0) {
		if (!cx->links_done) {
			for (i = 0; i < nitems(rules_link_kinds); i++)
				cx->links_want |= 1u << rules_link_kinds[i];
			if (rules_eval_links(cx, cx->links_want, 0, 0,
			    &cx->links_found) != 0)
				goto fail;
			cx->links_done = true;
		}
		found = cx->links_found & want;
	} else if (rules_eval_links(cx, want, n->kind, n->window, &found) != 0)
		goto fail;
	s->kinds = found;
	s->n = found != 0;
	return (s);
fail:
	cx->err = 1;
	s->have = false;
	return (s);
}

/*
 * referred(a, b[, hops]): walk back from a through "who referred this
 * account" (referral index entries where it was the referee, before this
 * event) looking for b, breadth first, at most hops steps.
 */
struct rules_walk {
	struct rules_ectx	*cx;
	const struct rg_hash	*target;
	bool			 found;
	bool			 collect;
	size_t			 scanned;
	size_t			 nnext;
	struct rg_hash		 next[RULES_WALK_MAX];
};

static int
rules_eval_walk_cb(void *arg, const struct store_entry *e)
{
	struct rules_walk	*w = arg;
	struct event		 ev;
	const struct party	*r;
	size_t			 i;
	int			 rc;

	if (++w->scanned > RULES_SCAN_MAX)
		return (1);
	if (e->seq == w->cx->ev->seq)
		return (0);	/* as of a later moment: not the event itself */
	if ((rc = store_get_event(w->cx->txn, e->seq, &ev)) < 0) {
		w->cx->err = 1;
		return (1);
	}
	if (rc == 1 || ev.nparties < 2)
		return (0);
	r = &ev.party[PARTY_REFERRER];
	if (!PARTY_HAS(r, ENT_ACCOUNT))
		return (0);
	if (memcmp(&r->h[ENT_ACCOUNT], w->target, sizeof(*w->target)) == 0) {
		w->found = true;
		return (1);
	}
	if (!w->collect)
		return (0);
	for (i = 0; i < w->nnext; i++)
		if (memcmp(&w->next[i], &r->h[ENT_ACCOUNT], sizeof(w->next[i]))
		    == 0)
			return (0);
	if (w->nnext < RULES_WALK_MAX)
		w->next[w->nnext++] = r->h[ENT_ACCOUNT];
	return (0);
}

static const struct rules_slot *
rules_eval_referred(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *tmp)
{
	const struct event	*ev = cx->ev;
	const struct party	*a, *b;
	struct rules_walk	 w;
	struct rg_hash		 frontier[RULES_WALK_MAX];
	struct rules_slot	*s;
	size_t			 nf, i;
	int			 hop;

	if ((s = rules_eval_cached(cx, n)) != NULL)
		return (s);
	s = rules_eval_store(cx, n, tmp);
	s->present = true;
	if (ev->nparties < 2 || (cx->at.max_seq != 0 && cx->at.max_seq <= 1))
		return (s);
	a = &ev->party[n->party];
	b = &ev->party[1 - n->party];
	if (!PARTY_HAS(a, ENT_ACCOUNT) || !PARTY_HAS(b, ENT_ACCOUNT))
		return (s);
	memset(&w, 0, offsetof(struct rules_walk, next));
	w.cx = cx;
	w.target = &b->h[ENT_ACCOUNT];
	frontier[0] = a->h[ENT_ACCOUNT];
	nf = 1;
	for (hop = 1; hop <= n->walk && nf != 0; hop++) {
		w.collect = hop < n->walk;
		w.nnext = 0;
		for (i = 0; i < nf; i++) {
			if (store_scan_referred(cx->txn, &frontier[i],
			    cx->at.ts, cx->at.max_seq == ev->seq ? ev->seq - 1 :
			    cx->at.max_seq, rules_eval_walk_cb, &w) != 0 ||
			    cx->err) {
				cx->err = 1;
				s->have = false;
				return (s);
			}
			if (w.found) {
				s->n = 1;
				s->hops = hop;
				return (s);
			}
		}
		memcpy(frontier, w.next, w.nnext * sizeof(*frontier));
		nf = w.nnext;
	}
	return (s);
}

/*
 * labeled(party, label): the party's account or an identity it carries
 * in this event carried the label as of the evaluation's max seq. *kind
 * and *l say which (explain).
 */
static bool
rules_eval_labeled(struct rules_ectx *cx, const struct rules_node *n,
    uint8_t *kind, struct store_label *l)
{
	const struct event	*ev = cx->ev;
	int			 label, r;

	if (n->party >= ev->nparties)
		return (false);
	r = store_label_party(cx->txn, &ev->party[n->party], 1u << n->label,
	    cx->at.max_seq, kind, &label, l);
	if (r < 0)
		cx->err = 1;
	return (r == 0);
}

/*
 * A named list's runtime entries (list.add): value v of the left side
 * left. An address also matches a listed network by its ip.prefix.
 */
static bool
rules_eval_runtime(struct rules_ectx *cx, const struct rules_node *n,
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

static const struct rules_slot *
rules_eval_history(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *tmp)
{
	switch (n->op) {
	case N_COUNT:
		return (rules_eval_count(cx, n, tmp));
	case N_DISTINCT:
		return (rules_eval_distinct(cx, n, tmp));
	case N_LINKED:
		return (rules_eval_linked(cx, n, tmp));
	default:
		return (rules_eval_referred(cx, n, tmp));
	}
}

static void
rules_eval_val(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_rval *v)
{
	const struct rules_slot	*s;
	struct rules_slot	 tmp;

	switch (n->op) {
	case N_CONST:
		*v = n->v;
		return;
	case N_FACT:
		rules_fact_get(cx->ev, n->party, n->fact, v);
		return;
	case N_COUNT:
	case N_DISTINCT:
		s = rules_eval_history(cx, n, &tmp);
		v->type = T_NUM;
		v->present = s->present;
		v->n = (double)s->n;
		return;
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
static void
rules_eval_exval(struct sbuf *sb, const struct rules_rval *v)
{
	char	buf[RFC3339_LEN + 2 * RG_HASH_LEN + 1];

	if (!v->present) {
		sbuf_add(sb, "null", 4);
		return;
	}
	switch (v->type) {
	case T_NUM:
		if (v->n == (double)(int64_t)v->n)
			sbuf_add_int(sb, (int64_t)v->n);
		else
			sbuf_addf(sb, "%.15g", v->n);
		break;
	case T_BOOL:
		sbuf_adds(sb, v->b ? "true" : "false");
		break;
	case T_STR:
		sbuf_add_jstr(sb, v->s, strlen(v->s));
		break;
	case T_DUR:
		sbuf_addf(sb, "\"%lldms\"", (long long)v->ms);
		break;
	case T_TIME:
		sbuf_addf(sb, "\"%s\"", fmt_rfc3339(v->ms, buf));
		break;
	case T_IDENT:
		/* A keyed hash prefix: tells values apart, reveals nothing. */
		rg_hash_hex(&v->h, buf);
		sbuf_addf(sb, "\"%s:%.12s\"", ent_kind_name(v->kind), buf);
		break;
	default:
		sbuf_add(sb, "null", 4);
		break;
	}
}

static void
rules_eval_exstart(struct rules_ectx *cx, const struct rules_node *n,
    bool result)
{
	struct sbuf	*sb = cx->ex;

	if (!cx->exfirst)
		sbuf_addc(sb, ',');
	cx->exfirst = false;
	sbuf_add(sb, "{\"expr\":", 8);
	sbuf_add_jstr(sb, n->text, strlen(n->text));
	sbuf_adds(sb, result ? ",\"result\":true" : ",\"result\":false");
}

/* Explain what a history node found. */
static void
rules_eval_exhist(struct rules_ectx *cx, const struct rules_node *n,
    const char *key)
{
	const struct rules_slot	*s;
	struct rules_slot	 tmp;
	struct sbuf		*sb = cx->ex;
	size_t			 i;
	bool			 first = true;

	s = rules_eval_history(cx, n, &tmp);
	sbuf_addc(sb, ',');
	sbuf_add_jstr(sb, key, strlen(key));
	sbuf_add(sb, ":{", 2);
	switch (n->op) {
	case N_COUNT:
	case N_DISTINCT:
		sbuf_adds(sb, n->op == N_COUNT ? "\"fn\":\"count\"" :
		    "\"fn\":\"distinct\"");
		sbuf_adds(sb, ",\"window_ms\":");
		sbuf_add_int(sb, n->window);
		if (!s->present)
			sbuf_adds(sb, ",\"value\":null");
		else {
			sbuf_adds(sb, ",\"value\":");
			sbuf_add_int(sb, s->n);
			sbuf_adds(sb, (uint64_t)s->n >= n->limit ?
			    ",\"at_least\":true" : ",\"at_least\":false");
		}
		break;
	case N_LINKED:
		sbuf_add(sb, "\"fn\":\"linked\",\"kinds\":[", 23);
		for (i = 1; i < ENT__MAX; i++) {
			if (s->kinds & (1u << i)) {
				if (!first)
					sbuf_addc(sb, ',');
				sbuf_addc(sb, '"');
				sbuf_adds(sb, ent_kind_name((unsigned)i));
				sbuf_addc(sb, '"');
				first = false;
			}
		}
		sbuf_adds(sb, "],\"window_ms\":");
		sbuf_add_int(sb, n->window);
		break;
	default:
		sbuf_addf(sb, "\"fn\":\"referred\",\"hops\":%d",
		    s->n ? s->hops : 0);
		break;
	}
	sbuf_addc(sb, '}');
}

static void
rules_eval_exside(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_rval *v, const char *key)
{
	if (n->op == N_COUNT || n->op == N_DISTINCT) {
		rules_eval_exhist(cx, n, key);
		return;
	}
	sbuf_addc(cx->ex, ',');
	sbuf_add_jstr(cx->ex, key, strlen(key));
	sbuf_addc(cx->ex, ':');
	rules_eval_exval(cx->ex, v);
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
			sbuf_addc(cx->ex, '}');
		}
		return (b);
	case N_NOT:
		return (!rules_eval_bool(cx, n->kids[0]));
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
			sbuf_addc(cx->ex, '}');
		}
		return (b);
	case N_IN: {
		struct rg_hash	entry;
		bool		rt = false;

		rules_eval_val(cx, n->kids[0], &l);
		b = false;
		if (l.present) {
			b = rules_vset_has(n->set, &l);
			if (!b && n->nkids == 1)
				b = rt = rules_eval_runtime(cx, n, n->kids[0],
				    &l, &entry);
			b = b != n->negate;
		}
		if (cx->ex != NULL) {
			rules_eval_exstart(cx, n, b);
			rules_eval_exside(cx, n->kids[0], &l, "left");
			if (rt) {
				char	hex[2 * RG_HASH_LEN + 1];

				sbuf_addf(cx->ex, ",\"list_entry\":\"%.12s\"",
				    rg_hash_hex(&entry, hex));
			}
			sbuf_addc(cx->ex, '}');
		}
		return (b);
	}
	case N_LABELED: {
		struct store_label	lab;
		char			when[RFC3339_LEN];
		uint8_t			kind = 0;

		b = rules_eval_labeled(cx, n, &kind, &lab);
		if (cx->ex != NULL) {
			rules_eval_exstart(cx, n, b);
			if (b)
				sbuf_addf(cx->ex, ",\"found\":{\"fn\":\"labeled\","
				    "\"kind\":\"%s\",\"feedback\":%llu,"
				    "\"since\":\"%s\"}", ent_kind_name(kind),
				    (unsigned long long)lab.feedback,
				    fmt_rfc3339(lab.ts, when));
			sbuf_addc(cx->ex, '}');
		}
		return (b);
	}
	case N_EXISTS:
		rules_fact_get(cx->ev, n->kids[0]->party, n->kids[0]->fact, &l);
		if (cx->ex != NULL) {
			rules_eval_exstart(cx, n, l.present);
			sbuf_addc(cx->ex, '}');
		}
		return (l.present);
	case N_LINKED:
	case N_REFERRED:
		s = rules_eval_history(cx, n, &tmp);
		/* A walk shared by several hops answers each its own. */
		b = s->n != 0 && (n->op == N_LINKED || s->hops <= n->hops);
		if (cx->ex != NULL) {
			rules_eval_exstart(cx, n, b);
			rules_eval_exhist(cx, n, "found");
			sbuf_addc(cx->ex, '}');
		}
		return (b);
	}
	return (false);
}

int
rules_eval(const struct ruleset *rs, const struct event *ev,
    struct store_txn *txn, int want_explain, struct rules_result *res)
{
	struct rules_at	at = { ev->ts, ev->seq };

	return (rules_eval_at(rs, ev, &at, txn, want_explain, res));
}

int
rules_eval_at(const struct ruleset *rs, const struct event *ev,
    const struct rules_at *at, struct store_txn *txn, int want_explain,
    struct rules_result *res)
{
	struct rules_ectx	 cx;
	struct sbuf		 sb;
	const struct rules_rule	*r;
	struct rules_hit	*h;
	size_t			 i;
	int			 action = ACTION_ALLOW;
	int64_t			 score = 0;
	bool			 m;

	res->action = ACTION_ALLOW;
	res->score = 0;
	res->nhits = 0;
	res->explain = NULL;
	cx.rs = rs;
	cx.ev = ev;
	cx.at = *at;
	cx.txn = txn;
	cx.err = 0;
	cx.ex = NULL;
	cx.links_done = false;
	cx.links_want = 0;
	cx.links_found = 0;
	memset(cx.slots, 0, (size_t)rs->nslots * sizeof(cx.slots[0]));
	memset(&sb, 0, sizeof(sb));
	if (want_explain) {
		cx.ex = &sb;
		sbuf_init(&sb, 1024);
		sbuf_addc(&sb, '[');
	}
	for (i = 0; i < rs->nrules; i++) {
		r = &rs->rules[i];
		if (cx.ex != NULL) {
			if (i != 0)
				sbuf_addc(&sb, ',');
			sbuf_add(&sb, "{\"rule\":", 8);
			sbuf_add_jstr(&sb, r->name, strlen(r->name));
			sbuf_add(&sb, ",\"facts\":[", 10);
			cx.exfirst = true;
		}
		m = rules_eval_bool(&cx, r->when);
		if (cx.err)
			break;
		if (cx.ex != NULL) {
			sbuf_adds(&sb, m ? "],\"matched\":true" :
			    "],\"matched\":false");
			sbuf_adds(&sb, r->shadow ? ",\"mode\":\"shadow\"" :
			    ",\"mode\":\"enforce\"");
			sbuf_adds(&sb, ",\"action\":\"");
			sbuf_adds(&sb, rules_action_name(r->action));
			sbuf_adds(&sb, "\",\"score\":");
			sbuf_add_int(&sb, r->score);
			sbuf_addc(&sb, '}');
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
		score += r->score;
		if (r->action > action)
			action = r->action;
	}
	if (cx.err) {
		free(sb.buf);
		res->nhits = 0;
		return (-1);
	}
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
		sbuf_addc(&sb, ']');
		res->explain = sbuf_take(&sb, NULL);
	}
	return (0);
}
