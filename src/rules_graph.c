/*
 * rules_graph.c: the built-ins that walk from account to account: linked
 * (the identities two accounts share), own (those one has and the other
 * not), referred (who referred whom).
 * Their entries are in rules_fn.c's table; like every evaluator they read
 * the store as of the evaluation, stop as soon as the answer is known,
 * keep their state on the stack and bound their work (rules_int.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "rules_int.h"
#include "store.h"
#include "util.h"

/*
 * The kinds linked() looks at; linked(..., any) at all of them but
 * email.shape, email.name and phone.block (numbered mailboxes and a block
 * of numbers are a farm's sign, and a name in two addresses a likeness,
 * not a link between two people).
 */
static const uint8_t rules_link_kinds[] = {
	ENT_DEVICE, ENT_DEVICE_FUZZY, ENT_DEVICE_STABLE, ENT_DEVICE_ID, ENT_IP,
	ENT_IP_PREFIX, ENT_EMAIL, ENT_PAYMENT, ENT_PHONE, ENT_EMAIL_SHAPE,
	ENT_PHONE_BLOCK, ENT_EMAIL_NAME,
};

/* ---- linked(a, b, kind[, window]) ----------------------------------- */

int
rules_graph_linked_check(struct rules_cctx *cc, struct rules_node *n)
{
	static const char *const kinds[] = { "device", "device.fuzzy",
	    "device.stable", "device.id", "ip", "ip.prefix", "email",
	    "email.shape", "email.name", "payment", "phone", "phone.block",
	    "any" };
	struct ruleset		*rs = cc->rs;
	struct rules_node	*a;
	int			 pa, pb, k;

	if ((pa = rules_check_party(cc, n->kids[0], "linked")) < 0 ||
	    (pb = rules_check_party(cc, n->kids[1], "linked")) < 0)
		return (T_ERR);
	if (pa == pb) {
		rules_error(rs, &n->kids[1]->pos, "linked compares two "
		    "different parties (referrer, referee)");
		return (T_ERR);
	}
	a = n->kids[2];
	k = a->op == N_WORD ? ent_kind_from_name(a->name) : -1;
	if (a->op == N_WORD && strcmp(a->name, "any") == 0)
		k = 0;
	if (k < 0 || k == ENT_CAMPAIGN) {
		rules_check_choice(cc, a, "linked's kind", kinds,
		    nitems(kinds));
		return (T_ERR);
	}
	if (k == ENT_ACCOUNT)
		rules_warn(rs, &a->pos, "linked(..., account) is never "
		    "true: an account is not an identity another account "
		    "carries; compare referrer.account == referee.account");
	else if (k == ENT_EDGE)
		rules_warn(rs, &a->pos, "linked(..., edge) is never "
		    "true: no party carries a referral edge; use referred()");
	n->party = (uint8_t)pa;
	n->kind = (uint8_t)k;
	n->window = 0;
	/* Links keep their last use to the hour: not since an instant. */
	if (n->nkids == 4 && rules_check_window(cc, n->kids[3], "linked",
	    false, &n->window) != 0)
		return (T_ERR);
	return (T_BOOL);
}

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
rules_graph_recent_cb(void *arg, const struct store_link *l)
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
rules_graph_linked_cb(void *arg, const struct store_link *l)
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
 * The kinds of want the referrer and the referee share: the identities
 * in this event first, then the referee's recorded links probed against
 * the referrer's (the referee is usually the newer account, with fewer
 * links). With a window both accounts must have carried the identity
 * within it.
 */
static int
rules_graph_links(struct rules_ectx *cx, uint32_t want, int kind,
    int64_t window, uint32_t *found)
{
	const struct rg_event	*ev = cx->ev;
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
	lk.from = rules_eval_from(cx, window);
	if (window > 0) {
		if (store_link_scan(cx->txn, &ra->h[ENT_ACCOUNT], kind,
		    cx->at.max_seq, rules_graph_recent_cb, &lk) != 0 || cx->err)
			return (-1);
		lk.scanned = 0;
	}
	if (store_link_scan(cx->txn, &rb->h[ENT_ACCOUNT], kind,
	    cx->at.max_seq, rules_graph_linked_cb, &lk) != 0 || cx->err)
		return (-1);
	*found = lk.found;
	return (0);
}

/*
 * Without a window one pass finds every linked kind at once and serves
 * every linked() of the evaluation.
 */
void
rules_graph_linked_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	uint32_t	want = 0, found;
	size_t		i;

	s->v.type = T_BOOL;
	s->v.present = true;
	if (cx->ev->nparties < 2)
		return;
	for (i = 0; i < nitems(rules_link_kinds); i++)
		if (n->kind == rules_link_kinds[i] || (n->kind == 0 &&
		    rules_link_kinds[i] != ENT_EMAIL_SHAPE &&
		    rules_link_kinds[i] != ENT_EMAIL_NAME &&
		    rules_link_kinds[i] != ENT_PHONE_BLOCK))
			want |= 1u << rules_link_kinds[i];
	if (n->window == 0) {
		if (!cx->links_done) {
			for (i = 0; i < nitems(rules_link_kinds); i++)
				cx->links_want |= 1u << rules_link_kinds[i];
			if (rules_graph_links(cx, cx->links_want, 0, 0,
			    &cx->links_found) != 0)
				goto fail;
			cx->links_done = true;
		}
		found = cx->links_found & want;
	} else if (rules_graph_links(cx, want, n->kind, n->window, &found) != 0)
		goto fail;
	s->kinds = found;
	s->v.b = found != 0;
	return;
fail:
	cx->err = 1;
}

void
rules_graph_exkinds(struct jshape_w *w, uint32_t kinds)
{
	const char	*name;
	size_t		 i;
	bool		 first = true;

	jsw_raw(w, "[", 1);
	for (i = 1; i < ENT__MAX; i++) {
		if (kinds & (1u << i)) {
			if (!first)
				jsw_raw(w, ",", 1);
			name = ent_kind_name((unsigned)i);
			jsw_str(w, name, strlen(name));
			first = false;
		}
	}
	jsw_raw(w, "]", 1);
}

void
rules_graph_linked_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	jsw_raws(cx->ex, ",\"found\":{\"fn\":\"linked\",\"kinds\":");
	rules_graph_exkinds(cx->ex, s->kinds);
	jsw_raws(cx->ex, ",\"window_ms\":");
	jsw_int(cx->ex, n->window);
	jsw_raw(cx->ex, "}", 1);
}

/* ---- own(party, kind) ------------------------------------------------ */

int
rules_graph_own_check(struct rules_cctx *cc, struct rules_node *n)
{
	static const char *const kinds[] = { "device", "device.fuzzy",
	    "device.stable", "device.id", "ip", "ip.prefix", "email",
	    "payment", "phone" };
	int	pa, c;

	if ((pa = rules_check_party(cc, n->kids[0], "own")) < 0)
		return (T_ERR);
	if ((c = rules_check_choice(cc, n->kids[1], "own's kind", kinds,
	    nitems(kinds))) < 0)
		return (T_ERR);
	n->party = (uint8_t)pa;
	n->kind = (uint8_t)ent_kind_from_name(kinds[c]);
	n->window = 0;
	n->limit = RULES_LINK_MAX;
	return (T_NUM);
}

struct rules_own {
	struct rules_ectx	*cx;
	const struct rg_hash	*other;		/* the other party's account */
	uint64_t		 limit;
	uint64_t		 count;
	size_t			 scanned;
	bool			 capped;
};

static int
rules_graph_own_cb(void *arg, const struct store_link *l)
{
	struct rules_own	*o = arg;
	int			 r;

	if (++o->scanned > RULES_LINK_MAX) {
		o->capped = true;
		return (1);
	}
	r = store_link_get(o->cx->txn, o->other, l->kind, &l->h,
	    o->cx->at.max_seq, NULL, NULL);
	if (r < 0) {
		o->cx->err = 1;
		return (1);
	}
	if (r == 1 && ++o->count >= o->limit)
		return (1);
	return (0);
}

/*
 * own(party, kind): how many identities of kind the party's account has
 * carried, as of the evaluation, that the other party's account never
 * carried: the party's links, each probed against the other account's.
 * At most RULES_LINK_MAX links are read.
 */
void
rules_graph_own_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	const struct rg_event	*ev = cx->ev;
	const struct party	*p, *q;
	struct rules_own	 o;

	s->v.type = T_NUM;
	if (ev->nparties < 2)
		return;
	p = &ev->party[n->party];
	q = &ev->party[n->party == PARTY_REFERRER ? PARTY_REFEREE :
	    PARTY_REFERRER];
	if (!PARTY_HAS(p, ENT_ACCOUNT) || !PARTY_HAS(q, ENT_ACCOUNT))
		return;
	memset(&o, 0, sizeof(o));
	o.cx = cx;
	o.other = &q->h[ENT_ACCOUNT];
	o.limit = n->limit != 0 ? n->limit : RULES_LINK_MAX;
	if (store_link_scan(cx->txn, &p->h[ENT_ACCOUNT], n->kind,
	    cx->at.max_seq, rules_graph_own_cb, &o) != 0 || cx->err) {
		cx->err = 1;
		return;
	}
	s->v.present = true;
	s->v.n = (double)o.count;
	s->capped = o.capped;
}

void
rules_graph_own_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	const char	*kind = ent_kind_name(n->kind);

	jsw_raws(cx->ex, ",\"kind\":");
	jsw_str(cx->ex, kind, strlen(kind));
	rules_eval_excount(cx, n, s);
}

/* ---- cluster(party, [kinds][, window]) ------------------------------ */

/* The kinds cluster() may follow: those accounts carry and share. */
static const char *const rules_cluster_kinds[] = { "device", "device.fuzzy",
    "device.stable", "device.id", "payment", "phone", "phone.block", "email",
    "email.shape", "email.name", "ip", "ip.prefix" };

int
rules_graph_kinds(struct rules_cctx *cc, struct rules_node *a, const char *fn,
    uint32_t *kinds)
{
	struct rules_node	*k;
	char			 what[64];
	size_t			 i, nk;
	int			 c;

	nk = a->op == N_LIST ? a->nkids : 1;
	if (nk == 0) {
		rules_error(cc->rs, &a->pos, "%s follows at least one "
		    "kind of identity, as in [device.fuzzy, payment]", fn);
		return (-1);
	}
	snprintf(what, sizeof(what), "%s%s kind", fn, RULES_POSS(fn));
	*kinds = 0;
	for (i = 0; i < nk; i++) {
		k = a->op == N_LIST ? a->kids[i] : a;
		if ((c = rules_check_choice(cc, k, what, rules_cluster_kinds,
		    nitems(rules_cluster_kinds))) < 0)
			return (-1);
		*kinds |= 1u << ent_kind_from_name(rules_cluster_kinds[c]);
	}
	return (0);
}

int
rules_graph_cluster_check(struct rules_cctx *cc, struct rules_node *n)
{
	int	pa;

	if ((pa = rules_check_party(cc, n->kids[0], "cluster")) < 0 ||
	    rules_graph_kinds(cc, n->kids[1], "cluster", &n->kinds) != 0)
		return (T_ERR);
	n->party = (uint8_t)pa;
	n->kind = ENT_ACCOUNT;
	n->window = 0;
	if (n->nkids == 3 && rules_check_window(cc, n->kids[2], "cluster",
	    true, &n->window) != 0)
		return (T_ERR);
	n->limit = RULES_CLUSTER_MAX;
	return (T_NUM);
}

/*
 * strangers(party, [kinds], [kinds apart], window): cluster()'s first hop,
 * counting only the accounts that never carried one of the party's
 * identities of the kinds apart. No kind apart is one followed, nor one
 * a followed kind implies (ip.prefix for ip): every account found
 * through an identity shares it and what it implies.
 */
int
rules_graph_strangers_check(struct rules_cctx *cc, struct rules_node *n)
{
	/* A kind, and the kinds every account found through it shares. */
	static const struct {
		uint8_t	kind;
		uint8_t	implied[2];
	} implies[] = {
		{ ENT_IP, { ENT_IP_PREFIX, 0 } },
		{ ENT_PHONE, { ENT_PHONE_BLOCK, 0 } },
		{ ENT_EMAIL, { ENT_EMAIL_SHAPE, ENT_EMAIL_NAME } },
		{ ENT_DEVICE, { ENT_DEVICE_FUZZY, ENT_DEVICE_STABLE } },
	};
	struct rules_node	*a = n->kids[2], *k;
	size_t			 i, j, nk;
	int			 pa, kind, by;

	if ((pa = rules_check_party(cc, n->kids[0], "strangers")) < 0 ||
	    rules_graph_kinds(cc, n->kids[1], "strangers", &n->kinds) != 0 ||
	    rules_graph_kinds(cc, a, "strangers", &n->apart) != 0)
		return (T_ERR);
	nk = a->op == N_LIST ? a->nkids : 1;
	for (i = 0; i < nk; i++) {
		k = a->op == N_LIST ? a->kids[i] : a;
		kind = ent_kind_from_name(k->name);
		by = (n->kinds & (1u << kind)) ? kind : -1;
		for (j = 0; by < 0 && j < nitems(implies); j++)
			if ((n->kinds & (1u << implies[j].kind)) &&
			    (implies[j].implied[0] == kind ||
			    implies[j].implied[1] == kind))
				by = implies[j].kind;
		if (by < 0)
			continue;
		rules_error(cc->rs, &k->pos, "strangers follows %s and "
		    "keeps %s apart, which every account found through it "
		    "shares: its second list names what an account must "
		    "never have shared with the %s, as in [ip.prefix, "
		    "device]", ent_kind_name((unsigned)by), k->name,
		    pa == 0 ? "referrer" : "referee");
		return (T_ERR);
	}
	n->party = (uint8_t)pa;
	n->kind = ENT_ACCOUNT;
	n->window = 0;
	if (rules_check_window(cc, n->kids[3], "strangers", true,
	    &n->window) != 0)
		return (T_ERR);
	n->limit = RULES_CLUSTER_MAX;
	return (T_NUM);
}

/*
 * Sets of 64-bit fingerprints of random hashes (accounts, identities), in
 * open addressing on the stack: a cluster walk allocates nothing.
 */
#define RULES_FP_ACCTS	2048	/* > 2 x RULES_CLUSTER_MAX */
#define RULES_FP_IDS	4096	/* > 2 x RULES_CLUSTER_READ */

static uint64_t
rules_graph_fp(const struct rg_hash *h, uint8_t kind)
{
	uint64_t	v;

	memcpy(&v, h->b, sizeof(v));
	v ^= (uint64_t)kind << 56;
	return (v == 0 ? 1 : v);
}

/* The slot of fp in set (of cap slots), or the empty one it would take. */
static size_t
rules_graph_fp_slot(const uint64_t *set, size_t cap, uint64_t fp)
{
	size_t	i = (size_t)(fp >> 17) & (cap - 1);

	while (set[i] != 0 && set[i] != fp)
		i = (i + 1) & (cap - 1);
	return (i);
}

/* Whether fp is in set (of cap slots). */
static bool
rules_graph_fp_has(const uint64_t *set, size_t cap, uint64_t fp)
{
	return (set[rules_graph_fp_slot(set, cap, fp)] == fp);
}

/* Add fp to set (of cap slots); false when it was there already. */
static bool
rules_graph_fp_add(uint64_t *set, size_t cap, uint64_t fp)
{
	size_t	i = rules_graph_fp_slot(set, cap, fp);

	if (set[i] == fp)
		return (false);
	set[i] = fp;
	return (true);
}

/*
 * strangers(): an account found has its links of the kinds apart read,
 * at most RULES_STRANGER_LINKS, each compared with the party's
 * identities of those kinds when the party has at most
 * RULES_STRANGER_PROBE of them, else asked of the party (a point
 * lookup). An account with more links is asked for each of the party's
 * few identities instead, or, when the party has many, not shown apart
 * (the count is then a floor). RULES_STRANGER_WORK lookups and links in
 * all for the accounts found.
 */
#define RULES_STRANGER_PROBE	16
#define RULES_STRANGER_LINKS	64
#define RULES_STRANGER_WORK	(4 * RULES_LINK_MAX)

struct rules_cluster {
	struct rules_ectx	*cx;
	const struct rules_node	*n;
	int64_t			 from;		/* window start (INT64_MIN) */
	int64_t			 to;		/* and end */
	size_t			 read;		/* links and entries read */
	bool			 capped;
	size_t			 count;		/* accounts found (not its own) */
	/* The account the identity being followed was found from. */
	const struct rg_hash	*via;
	bool			 first_hop;	/* via is the party's account */
	bool			 via_seen;
	size_t			 ncand;
	size_t			 nnew;		/* of them, not counted yet */
	size_t			 nhop;
	/* strangers(): the party's identities of the kinds apart, */
	size_t			 nmine;		/* up to RULES_STRANGER_PROBE + 1 */
	size_t			 work;		/* lookups and links for others */
	size_t			 acct_read;	/* of one account's links */
	size_t			 njudged;
	bool			 shared;	/* one account carries one */
	bool			 known;		/* it carries any of the kinds */
	bool			 over;		/* it has more links than read */
	bool			 partial;	/* an account not read whole: the
						   count is a floor */
	/* Zeroed up to here. The accounts that carried the identity: */
	struct rg_hash		 cand[RULES_CLUSTER_MAX];
	bool			 apart[RULES_CLUSTER_MAX];	/* strangers */
	/* the accounts of the first hop, followed in turn. */
	struct rg_hash		 hop[RULES_CLUSTER_MAX];
	uint64_t		 accts[RULES_FP_ACCTS];
	uint64_t		 ids[RULES_FP_IDS];
	/* strangers(): the party's account, the first of its identities */
	const struct rg_hash	*party;
	struct store_link	 probe[RULES_STRANGER_PROBE];
	/* and the accounts judged, fingerprint | 1 for a stranger's. */
	uint64_t		*judged;	/* of RULES_FP_ACCTS */
};

/* strangers(): a link of the party's of a kind apart. */
static int
rules_graph_apart_own(void *arg, const struct store_link *l)
{
	struct rules_cluster	*c = arg;

	if (c->nmine < RULES_STRANGER_PROBE)
		c->probe[c->nmine] = *l;
	return (++c->nmine > RULES_STRANGER_PROBE);	/* enough: many */
}

/*
 * strangers(): a link of an account found, of a kind apart: one of the
 * party's few (compared), or asked of the party when it has many.
 */
static int
rules_graph_apart_other(void *arg, const struct store_link *l)
{
	struct rules_cluster	*c = arg;
	size_t			 i;
	int			 r;

	if (++c->work > RULES_STRANGER_WORK) {
		c->capped = true;
		return (1);
	}
	c->known = true;
	if (++c->acct_read > RULES_STRANGER_LINKS) {
		c->over = true;
		return (1);
	}
	if (c->nmine <= RULES_STRANGER_PROBE) {
		for (i = 0; i < c->nmine && !c->shared; i++)
			c->shared = c->probe[i].kind == l->kind &&
			    memcmp(&c->probe[i].h, &l->h, sizeof(l->h)) == 0;
		return (c->shared);
	}
	r = store_link_get(c->cx->txn, c->party, l->kind, &l->h,
	    c->cx->at.max_seq, NULL, NULL);
	if (r < 0) {
		c->cx->err = 1;
		return (1);
	}
	c->shared = r == 0;
	return (c->shared);
}

/*
 * strangers(): whether account a carried identities of the kinds apart
 * and none of the party's: 1 if so, 0 if not or when the work ran out
 * (c->capped), -1 on a store error. Each account is judged once a walk.
 */
static int
rules_graph_stranger(struct rules_cluster *c, const struct rg_hash *a)
{
	struct rules_ectx	*cx = c->cx;
	uint64_t		 fp = rules_graph_fp(a, ENT_ACCOUNT) & ~1ULL;
	size_t			 i;
	unsigned		 k;
	int			 r;

	if (fp == 0)		/* 0 is the sets' empty slot */
		fp = 2;
	if (rules_graph_fp_has(c->judged, RULES_FP_ACCTS, fp | 1))
		return (1);
	if (rules_graph_fp_has(c->judged, RULES_FP_ACCTS, fp))
		return (0);
	if (++c->work > RULES_STRANGER_WORK) {	/* a judgment costs one */
		c->capped = true;
		return (0);
	}
	c->known = false;
	c->shared = false;
	c->over = false;
	c->acct_read = 0;
	for (k = 1; k < ENT__MAX && !c->shared && !c->over && !c->capped;
	    k++) {
		if (!(c->n->apart & (1u << k)))
			continue;
		if (++c->work > RULES_STRANGER_WORK) {	/* each scan one */
			c->capped = true;
			break;
		}
		if (store_link_scan(cx->txn, a, k, cx->at.max_seq,
		    rules_graph_apart_other, c) != 0 || cx->err)
			return (-1);
	}
	if (c->over && c->nmine > RULES_STRANGER_PROBE) {
		c->partial = true;	/* not shown apart */
		c->shared = true;
	}
	for (i = 0; c->over && !c->shared && i < c->nmine && !c->capped;
	    i++) {
		if (++c->work > RULES_STRANGER_WORK) {
			c->capped = true;
			break;
		}
		r = store_link_get(cx->txn, a, c->probe[i].kind,
		    &c->probe[i].h, cx->at.max_seq, NULL, NULL);
		if (r < 0)
			return (-1);
		c->shared = r == 0;
	}
	if (c->capped)
		return (0);		/* not judged */
	r = c->known && !c->shared;
	if (c->njudged < RULES_FP_ACCTS / 2 &&	/* kept half empty */
	    rules_graph_fp_add(c->judged, RULES_FP_ACCTS, fp | (uint64_t)r))
		c->njudged++;
	return (r);
}

/*
 * An entry of the identity: the accounts that carried it in its event.
 * The entry's roles say which parties did, so only their accounts are
 * read, through the memo's keys of events, which hold a busy device's
 * thousands of accounts from one check to the next where its events
 * would not fit. For strangers(), an account is asked whether it is one
 * as it is found, and only a stranger is still to count.
 */
static int
rules_graph_cluster_entry(void *arg, const struct store_entry *e)
{
	static const uint8_t	 roles[] = { ROLE_SUBJECT | ROLE_REFERRER,
				    ROLE_REFEREE };	/* by party */
	struct rules_cluster	*c = arg;
	struct rg_hash		 a;
	size_t			 j;
	int			 p, r;
	bool			 counted;

	if (++c->read > RULES_CLUSTER_READ) {
		c->capped = true;
		return (1);
	}
	for (p = 0; p < (int)nitems(roles); p++) {
		if (!(e->roles & roles[p]))
			continue;
		if ((r = rules_eval_event_key(c->cx, e, p, ENT_ACCOUNT,
		    &a)) < 0)
			return (1);
		if (r == 2)
			return (0);		/* gone */
		if (r != 0)
			continue;		/* no account */
		if (memcmp(&a, c->via, sizeof(*c->via)) == 0) {
			c->via_seen = true;
			continue;
		}
		for (j = 0; j < c->ncand; j++)
			if (memcmp(&c->cand[j], &a, sizeof(c->cand[j])) == 0)
				break;
		if (j < c->ncand)
			continue;
		if (c->ncand == nitems(c->cand)) {
			c->capped = true;
			return (1);
		}
		counted = rules_graph_fp_has(c->accts, RULES_FP_ACCTS,
		    rules_graph_fp(&a, ENT_ACCOUNT));
		c->apart[c->ncand] = false;
		if (c->n->apart != 0 && !counted) {
			if ((r = rules_graph_stranger(c, &a)) < 0) {
				c->cx->err = 1;
				return (1);
			}
			c->apart[c->ncand] = r == 1;
			if (c->capped)
				return (1);
		}
		c->cand[c->ncand++] = a;
		if (!counted && (c->n->apart == 0 || c->apart[c->ncand - 1]))
			c->nnew++;
	}
	/* Decided: the accounts still to count reach the comparison's. */
	return ((c->from == INT64_MIN || c->via_seen) &&
	    c->count + c->nnew >= c->n->limit);
}

/*
 * A link of account via: follow the identity (once per walk) to the
 * accounts that carried it, within the window; with a window, only when
 * via carried it within the window too.
 */
static int
rules_graph_cluster_link(void *arg, const struct store_link *l)
{
	struct rules_cluster	*c = arg;
	size_t			 i;

	if (++c->read > RULES_CLUSTER_READ) {
		c->capped = true;
		return (1);
	}
	if (!(c->n->kinds & (1u << l->kind)) || !rules_graph_fp_add(c->ids,
	    RULES_FP_IDS, rules_graph_fp(&l->h, (uint8_t)l->kind)))
		return (0);
	c->via_seen = false;
	c->ncand = 0;
	c->nnew = 0;
	if (rules_eval_scank(c->cx, l->kind, &l->h, EV_MASK_ANY, ROLE_ANY,
	    c->from, c->to, true, rules_graph_cluster_entry, c) != 0 ||
	    c->cx->err) {
		c->cx->err = 1;
		return (1);
	}
	if (c->from != INT64_MIN && !c->via_seen)
		return (c->capped);
	for (i = 0; i < c->ncand; i++) {
		/*
		 * Only the accounts counted go into accts, which the count's
		 * bound keeps half empty: the others are in judged.
		 */
		if (c->n->apart != 0 && !c->apart[i])
			continue;	/* not shown apart */
		if (!rules_graph_fp_add(c->accts, RULES_FP_ACCTS,
		    rules_graph_fp(&c->cand[i], ENT_ACCOUNT)))
			continue;
		c->count++;
		if (c->first_hop && c->nhop < nitems(c->hop))
			c->hop[c->nhop++] = c->cand[i];
		if (c->count >= c->n->limit || c->count >= RULES_CLUSTER_MAX)
			return (1);
	}
	return (c->capped);
}

/* Follow account acct's links of the kinds; -1 on a store error. */
static int
rules_graph_cluster_from(struct rules_cluster *c, const struct rg_hash *acct)
{
	unsigned	k;

	c->via = acct;
	for (k = 1; k < ENT__MAX; k++) {
		if (!(c->n->kinds & (1u << k)))
			continue;
		if (c->capped || c->count >= c->n->limit ||
		    c->count >= RULES_CLUSTER_MAX)
			break;
		if (store_link_scan(c->cx->txn, acct, k, c->cx->at.max_seq,
		    rules_graph_cluster_link, c) != 0 || c->cx->err)
			return (-1);
	}
	return (0);
}

/*
 * cluster(party, kinds[, window]): the accounts connected to the party's
 * account through identities of the kinds, within two hops (account ->
 * identity -> account -> identity -> account), as of the evaluation:
 * the party's links, then each identity's index entries and their
 * events for the accounts that carried it; then the same from each
 * account found. At most RULES_CLUSTER_READ links and entries are read.
 * strangers() takes the first hop only, after reading the first of the
 * party's links of the kinds apart, and counts an account found only
 * when it carried identities of those kinds and none of the party's
 * (rules_graph_stranger: at most RULES_STRANGER_WORK lookups and links
 * for the accounts found, each judged once): an account with none is not
 * shown apart, and a party with none has nobody apart from it (absent).
 */
static void
rules_graph_walk(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s, uint64_t *judged)
{
	struct rules_cluster	 c;		/* ~82 KB: on the stack */
	const struct rg_event	*ev = cx->ev;
	const struct rg_hash	*acct;
	size_t			 i;
	unsigned		 k;

	s->v.type = T_NUM;
	s->x[1] = 0;
	if (n->party >= ev->nparties ||
	    !PARTY_HAS(&ev->party[n->party], ENT_ACCOUNT))
		return;
	acct = &ev->party[n->party].h[ENT_ACCOUNT];
	memset(&c, 0, offsetof(struct rules_cluster, cand));
	memset(c.accts, 0, sizeof(c.accts));
	memset(c.ids, 0, sizeof(c.ids));
	c.cx = cx;
	c.n = n;
	c.from = rules_eval_from(cx, n->window);
	c.to = rules_eval_to(cx, n->window);
	rules_graph_fp_add(c.accts, RULES_FP_ACCTS, rules_graph_fp(acct,
	    ENT_ACCOUNT));
	c.first_hop = true;
	if (judged != NULL) {
		c.party = acct;
		c.judged = judged;
		memset(judged, 0, RULES_FP_ACCTS * sizeof(*judged));
		for (k = 1; k < ENT__MAX && c.nmine <= RULES_STRANGER_PROBE;
		    k++)
			if ((n->apart & (1u << k)) && store_link_scan(cx->txn,
			    acct, k, cx->at.max_seq, rules_graph_apart_own,
			    &c) != 0)
				goto fail;
		s->x[1] = (int64_t)c.nmine;
		if (c.nmine == 0)
			return;		/* nobody is apart from it */
		c.first_hop = false;
	}
	if (rules_graph_cluster_from(&c, acct) != 0)
		goto fail;
	c.first_hop = false;
	for (i = 0; i < c.nhop; i++)
		if (rules_graph_cluster_from(&c, &c.hop[i]) != 0)
			goto fail;
	s->v.present = true;
	s->v.n = (double)c.count;
	s->capped = c.capped || c.partial;
	s->x[0] = (int64_t)(c.read > RULES_CLUSTER_READ ? RULES_CLUSTER_READ :
	    c.read);
	return;
fail:
	cx->err = 1;
}

void
rules_graph_cluster_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	rules_graph_walk(cx, n, s, NULL);
}

void
rules_graph_strangers_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	uint64_t	judged[RULES_FP_ACCTS];	/* 16 KB */

	rules_graph_walk(cx, n, s, judged);
}

void
rules_graph_cluster_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	jsw_raws(cx->ex, ",\"kinds\":");
	rules_graph_exkinds(cx->ex, n->kinds);
	if (n->apart != 0) {
		jsw_raws(cx->ex, ",\"apart\":");
		rules_graph_exkinds(cx->ex, n->apart);
		/* How many of the party's: none, and nobody is apart. */
		jsw_raws(cx->ex, ",\"apart_own\":");
		jsw_int(cx->ex, s->x[1]);
	}
	rules_eval_exwindow(cx, n);
	rules_eval_excount(cx, n, s);
	if (s->v.present) {
		jsw_raws(cx->ex, ",\"read\":");
		jsw_int(cx->ex, s->x[0]);
	}
}

/* ---- referees(key, window[, which]) --------------------------------- */

/* The shares come last: a share needs every referral. */
enum { REF_ALL, REF_ACTIVE, REF_DORMANT, REF_ENGAGED, REF_BOUGHT,
    REF_RETURNED, REF_DAY_OLD, REF_LATELY, REF_ACTIVE_PCT, REF_DORMANT_PCT,
    REF_ENGAGED_PCT, REF_BOUGHT_PCT, REF_RETURNED_PCT, REF_REPEAT_PCT };
static const char *const rules_referees_which[] = { "all", "active",
    "dormant", "engaged", "bought", "returned", "day_old", "lately",
    "active_percent", "dormant_percent", "engaged_percent",
    "bought_percent", "returned_percent", "repeat_percent" };
#define REF_WANTS_BOUGHT(w)	((w) == REF_BOUGHT || (w) == REF_BOUGHT_PCT)
#define REF_WANTS_RETURNED(w)	((w) == REF_RETURNED || (w) == REF_RETURNED_PCT)
/* Returned: used the product a day or more after the referral. */
#define REF_RETURN_MS		(24 * 3600 * 1000LL)
/* Lately: used the product within the week before the evaluation. */
#define REF_LATELY_MS		(7 * REF_RETURN_MS)
/*
 * Settled: referred three days or more before, the time the payout
 * rules give a referee. A share counts a fresher referee only once it
 * did what the share counts: a friend referred an hour ago is not yet
 * one who never came back.
 */
#define REF_SETTLE_MS		(3 * REF_RETURN_MS)

/*
 * What the memo keeps of a referral's referee (rules_eval_keep): its
 * logins and purchases since the referral, up to 2, and whether it
 * bought, and whether it returned, once that was asked.
 */
#define REF_MEMO_USES(v)	((v) & 3)
#define REF_MEMO_BOUGHT_KNOWN	4
#define REF_MEMO_BOUGHT		8
#define REF_MEMO_RETURNED_KNOWN	16
#define REF_MEMO_RETURNED	32
#define REF_MEMO_LATELY_KNOWN	64
#define REF_MEMO_LATELY		128

int
rules_graph_referees_check(struct rules_cctx *cc, struct rules_node *n)
{
	int	w = REF_ALL;

	if (rules_check_key(cc, n->kids[0], "referees", "key", true) != 0 ||
	    rules_check_window(cc, n->kids[1], "referees", true,
	    &n->window) != 0)
		return (T_ERR);
	if (n->nkids == 3 && (w = rules_check_choice(cc, n->kids[2],
	    "referees' third argument", rules_referees_which,
	    nitems(rules_referees_which))) < 0)
		return (T_ERR);
	if (w >= REF_ACTIVE_PCT && n->window > 0 &&
	    n->window < REF_SETTLE_MS)
		rules_warn(cc->rs, &n->kids[1]->pos, "referees' %s counts "
		    "the referees that had three days since their referral: "
		    "at a check, none in a window this short has (at a "
		    "recheck later, some may)", rules_referees_which[w]);
	n->type_mask = EV_MASK(EV_REFERRAL);
	rules_fn_key(n, n->kids[0]);
	n->arg = w;
	/* A share needs every referral: it never stops early. */
	n->limit = w >= REF_ACTIVE_PCT ? 0 : RULES_REFEREES_MAX;
	return (T_NUM);
}

struct rules_referees {
	struct rules_ectx	*cx;
	const struct rules_node	*n;
	int64_t			 all;
	int64_t			 active;
	int64_t			 engaged;
	int64_t			 bought;
	int64_t			 returned;
	int64_t			 day_old;	/* referred a day or more ago */
	int64_t			 lately;	/* used it within the week */
	int64_t			 settled;	/* three days or more ago */
	/*
	 * Referred less than three days ago, and active, engaged, bought,
	 * returned.
	 */
	int64_t			 fresh_active;
	int64_t			 fresh_engaged;
	int64_t			 fresh_bought;
	int64_t			 fresh_returned;
	int64_t			 read;		/* by this scan */
	bool			 capped;
};

/* The count a selector asks for; a share's is its count's. */
static int64_t
rules_referees_count(const struct rules_referees *a, int which)
{
	switch (which) {
	case REF_ALL:
		return (a->all);
	case REF_ACTIVE:
	case REF_ACTIVE_PCT:
		return (a->active);
	case REF_DORMANT:
	case REF_DORMANT_PCT:
		return (a->all - a->active);
	case REF_ENGAGED:
	case REF_ENGAGED_PCT:
	case REF_REPEAT_PCT:
		return (a->engaged);
	case REF_RETURNED:
	case REF_RETURNED_PCT:
		return (a->returned);
	case REF_DAY_OLD:
		return (a->day_old);
	case REF_LATELY:
		return (a->lately);
	default:
		return (a->bought);
	}
}

/*
 * What a share is of: the settled referees, and the fresher ones that
 * already did what it counts (a dormant share: what the active one
 * counts). A repeat share is of the active ones alone: the settled
 * referees that used the product, and the fresher ones that used it
 * twice already.
 */
static int64_t
rules_referees_of(const struct rules_referees *a, int which)
{
	switch (which) {
	case REF_ACTIVE_PCT:
	case REF_DORMANT_PCT:
		return (a->settled + a->fresh_active);
	case REF_ENGAGED_PCT:
		return (a->settled + a->fresh_engaged);
	case REF_BOUGHT_PCT:
		return (a->settled + a->fresh_bought);
	case REF_RETURNED_PCT:
		return (a->settled + a->fresh_returned);
	case REF_REPEAT_PCT:
		return (a->active - a->fresh_active + a->fresh_engaged);
	default:
		return (a->all);
	}
}

/* When a share's referee has had its time: referred at or before this. */
static int64_t
rules_referees_edge(const struct rules_ectx *cx)
{
	return (cx->at.ts - REF_SETTLE_MS);
}

/* Where lately starts: the week before the evaluation, after ts. */
static int64_t
rules_referees_lately(const struct rules_ectx *cx, int64_t ts)
{
	int64_t	from = cx->at.ts - REF_LATELY_MS + 1;

	return (from > ts ? from : ts + 1);
}

/*
 * One yes or no of a referral's referee, read once an evaluation and kept
 * in the memo's bits (known, yes) under the referral's seq: whether it had
 * an event of types from from_ts to the evaluation's time (a referee with
 * no use since its referral has none). 0, or -1 on a store error
 * (cx->err is set).
 */
static int
rules_referees_flag(struct rules_ectx *cx, uint64_t seq,
    const struct rg_hash *referee, int64_t *kept, int64_t known, int64_t yes,
    uint64_t tag, uint32_t types, int64_t from_ts)
{
	int64_t	b;

	if (*kept & known)
		return (0);
	b = REF_MEMO_USES(*kept) == 0 ? 0 : rules_eval_since(cx, tag,
	    ENT_ACCOUNT, referee, types, ROLE_SUBJECT, from_ts, cx->at.ts, 1);
	if (b < 0) {
		cx->err = 1;
		return (-1);
	}
	*kept |= known | (b > 0 ? yes : 0);
	rules_eval_keep(cx, seq, *kept);
	return (0);
}

static int
rules_graph_referees_cb(void *arg, const struct store_entry *e)
{
	struct rules_referees	*a = arg;
	struct rules_ectx	*cx = a->cx;
	struct rg_hash		 referee;
	int64_t			 c, kept;
	int			 r;

	if (a->read == RULES_REFEREES_MAX) {
		a->capped = true;
		return (1);
	}
	if ((r = rules_eval_event_key(cx, e, PARTY_REFEREE, ENT_ACCOUNT,
	    &referee)) != 0)
		return (r < 0);	/* gone, or no referee account */
	a->read++;
	a->all++;
	/*
	 * Used the product after being referred: a login or a purchase
	 * (active), two or more of them (engaged: more than the minimum a
	 * cash-out does), a purchase (bought), one a day or more later
	 * (returned), one within the week before the evaluation (lately).
	 * "all" and "day_old" read it only to explain; the memo keeps it
	 * for the evaluation's other referees() calls.
	 */
	if ((a->n->arg == REF_ALL || a->n->arg == REF_DAY_OLD) &&
	    cx->ex == NULL)
		kept = 0;
	else if (e->ts >= cx->at.ts)
		kept = REF_MEMO_BOUGHT_KNOWN;
	else {
		if (!rules_eval_kept(cx, e->seq, &kept)) {
			c = rules_eval_since(cx, e->seq, ENT_ACCOUNT, &referee,
			    EV_MASK(EV_LOGIN) | EV_MASK(EV_PURCHASE),
			    ROLE_SUBJECT, e->ts + 1, cx->at.ts, 2);
			if (c < 0) {
				cx->err = 1;
				return (1);
			}
			kept = c;
			rules_eval_keep(cx, e->seq, kept);
		}
		/*
		 * Bought, returned (a login or purchase a day or more after
		 * the referral) and lately (one within the week before the
		 * evaluation, after the referral), each under a tag of its
		 * own so that it does not take the first count's place:
		 * asked only by the selectors that need them.
		 */
		if ((REF_WANTS_BOUGHT(a->n->arg) && rules_referees_flag(cx,
		    e->seq, &referee, &kept, REF_MEMO_BOUGHT_KNOWN,
		    REF_MEMO_BOUGHT, e->seq, EV_MASK(EV_PURCHASE),
		    e->ts + 1) != 0) ||
		    (REF_WANTS_RETURNED(a->n->arg) && rules_referees_flag(cx,
		    e->seq, &referee, &kept, REF_MEMO_RETURNED_KNOWN,
		    REF_MEMO_RETURNED, ~e->seq,
		    EV_MASK(EV_LOGIN) | EV_MASK(EV_PURCHASE),
		    e->ts + REF_RETURN_MS) != 0) ||
		    (a->n->arg == REF_LATELY && rules_referees_flag(cx,
		    e->seq, &referee, &kept, REF_MEMO_LATELY_KNOWN,
		    REF_MEMO_LATELY, e->seq ^ REF_LATELY_MS,
		    EV_MASK(EV_LOGIN) | EV_MASK(EV_PURCHASE),
		    rules_referees_lately(cx, e->ts)) != 0))
			return (1);
	}
	c = REF_MEMO_USES(kept);
	a->active += c >= 1;
	a->engaged += c >= 2;
	a->bought += (kept & REF_MEMO_BOUGHT) != 0;
	a->returned += (kept & REF_MEMO_RETURNED) != 0;
	a->lately += (kept & REF_MEMO_LATELY) != 0;
	a->day_old += e->ts <= cx->at.ts - REF_RETURN_MS;
	if (e->ts <= rules_referees_edge(cx))
		a->settled++;
	else {
		a->fresh_active += c >= 1;
		a->fresh_engaged += c >= 2;
		a->fresh_bought += (kept & REF_MEMO_BOUGHT) != 0;
		a->fresh_returned += (kept & REF_MEMO_RETURNED) != 0;
	}
	if (a->n->arg >= REF_ACTIVE_PCT)
		return (0);	/* a share reads every referral */
	return ((uint64_t)rules_referees_count(a, a->n->arg) >= a->n->limit);
}

/*
 * A share's referrals in two parts, each read up to RULES_REFEREES_MAX
 * of them, the newest first: those that had their time (each counts),
 * then the fresher ones (those that did what the share counts), so that
 * a burst of fresh referrals never hides the others behind the bound.
 */
static int
rules_referees_parts(struct rules_ectx *cx, const struct rules_node *n,
    const struct rg_hash *h, struct rules_referees *a)
{
	int64_t	from = rules_eval_from(cx, n->window);
	int64_t	to = rules_eval_to(cx, n->window);
	int64_t	edge = rules_referees_edge(cx);
	int64_t	part[2][2] = { { from, to < edge ? to : edge },
	    { from > edge ? from : edge + 1, to } };
	int	i;

	for (i = 0; i < 2; i++) {
		a->read = 0;
		if (rules_eval_scank(cx, n->kind, h, n->type_mask,
		    n->role_mask, part[i][0], part[i][1], true,
		    rules_graph_referees_cb, a) != 0 || cx->err) {
			cx->err = 1;
			return (-1);
		}
	}
	return (0);
}

/*
 * referees(key, window[, which]): of the referrals carrying the key in
 * its role within the window (this one included), how many referees
 * logged in or bought after their referral (once, twice, or bought), up
 * to the evaluation's time; "all" counts the referrals, the shares are
 * percentages of rules_referees_of()'s (absent when there are none). One
 * event record and one seek a referral, at most RULES_REFEREES_MAX of
 * them, the newest (a share: of each part, rules_referees_parts()).
 */
void
rules_graph_referees_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	struct rules_referees	a;
	struct rg_hash		h;
	int64_t			v, d;

	s->v.type = T_NUM;
	if (!rules_eval_key(cx, n->party, n->kind, &h))
		return;
	memset(&a, 0, sizeof(a));
	a.cx = cx;
	a.n = n;
	if (n->arg < REF_ACTIVE_PCT ? rules_eval_scan(cx, n, &h,
	    rules_graph_referees_cb, &a) != 0 :
	    rules_referees_parts(cx, n, &h, &a) != 0)
		return;
	s->capped = a.capped;
	s->x[0] = a.all;
	s->x[1] = a.active;
	s->x[2] = a.engaged;
	s->x[3] = a.bought;
	s->x[4] = a.returned;
	s->x[5] = a.day_old;
	s->x[6] = d = rules_referees_of(&a, n->arg);
	/* A dormant share's are the settled ones that were not active. */
	v = n->arg == REF_DORMANT_PCT ? d - a.active :
	    rules_referees_count(&a, n->arg);
	if (n->arg < REF_ACTIVE_PCT)
		s->v.n = (double)v;
	else if (d > 0)
		s->v.n = 100.0 * (double)v / (double)d;
	else
		return;		/* no share of none */
	s->v.present = true;
}

void
rules_graph_referees_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	const char	*which = rules_referees_which[n->arg];

	jsw_raws(cx->ex, ",\"which\":");
	jsw_name(cx->ex, which, strlen(which));
	rules_eval_exwindow(cx, n);
	rules_eval_excount(cx, n, s);
	jsw_raws(cx->ex, ",\"referrals\":");
	jsw_int(cx->ex, s->x[0]);
	jsw_raws(cx->ex, ",\"active\":");
	jsw_int(cx->ex, s->x[1]);
	jsw_raws(cx->ex, ",\"engaged\":");
	jsw_int(cx->ex, s->x[2]);
	if (REF_WANTS_BOUGHT(n->arg)) {
		jsw_raws(cx->ex, ",\"bought\":");
		jsw_int(cx->ex, s->x[3]);
	}
	if (REF_WANTS_RETURNED(n->arg)) {
		jsw_raws(cx->ex, ",\"returned\":");
		jsw_int(cx->ex, s->x[4]);
	}
	if (n->arg == REF_LATELY) {	/* its count, the value */
		jsw_raws(cx->ex, ",\"lately\":");
		jsw_int(cx->ex, (int64_t)s->v.n);
	}
	if (REF_WANTS_RETURNED(n->arg) || n->arg == REF_DAY_OLD) {
		jsw_raws(cx->ex, ",\"day_old\":");
		jsw_int(cx->ex, s->x[5]);
	}
	if (n->arg >= REF_ACTIVE_PCT) {
		jsw_raws(cx->ex, ",\"of\":");
		jsw_int(cx->ex, s->x[6]);
	}
}

/* ---- chain(referrer, window) ---------------------------------------- */

int
rules_graph_chain_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node	*a = n->kids[0];

	if (a->op != N_WORD || strcmp(a->name, "referrer") != 0) {
		rules_error(cc->rs, &a->pos, "chain starts at the referrer: "
		    "chain(referrer, window)");
		return (T_ERR);
	}
	if (rules_check_window(cc, n->kids[1], "chain", false,
	    &n->window) != 0)
		return (T_ERR);
	n->party = PARTY_REFERRER;
	n->kind = ENT_ACCOUNT;
	n->limit = 2 * RULES_CHAIN_MAX;
	return (T_NUM);
}

/* An entry and the event it names (the one evaluated is not read back). */
struct rules_chain_ref {
	struct rules_ectx	*cx;
	bool			 found;
	bool			 newest;	/* keep the first (else: last) */
	size_t			 scanned;
	int64_t			 ts;
	struct rg_hash		 other;		/* the other party's account */
	int			 other_party;
};

static int
rules_graph_chain_cb(void *arg, const struct store_entry *e)
{
	struct rules_chain_ref	*r = arg;
	struct rg_event		 ev;
	const struct rg_event	*p;
	const struct party	*q;
	int			 rc;

	if (++r->scanned > RULES_WALK_MAX || e->seq == r->cx->ev->seq)
		return (r->scanned > RULES_WALK_MAX);
	if ((rc = rules_eval_event(r->cx, e, &ev, &p)) != 0)
		return (rc < 0);
	if (p->nparties < 2)
		return (0);
	q = &p->party[r->other_party];
	if (!PARTY_HAS(q, ENT_ACCOUNT))
		return (0);
	r->found = true;
	r->ts = e->ts;
	r->other = q->h[ENT_ACCOUNT];
	return (r->newest);
}

/* When the store first saw account a, as of time ts; -1 on error. */
static int
rules_graph_chain_first(struct rules_ectx *cx, const struct rg_hash *a,
    int64_t ts, int64_t *first)
{
	struct store_entry	e;
	int			r;

	if ((r = rules_eval_first(cx, ENT_ACCOUNT, a, ts, &e)) < 0)
		return (-1);
	*first = r == 0 && e.ts < ts ? e.ts : ts;
	return (0);
}

/*
 * chain(referrer, window): the referrals in a row, through this one, each
 * made by an account within the window of its first being seen. Back:
 * this referral counts when its referrer was that fresh; then the
 * referral that first brought the referrer in, when its own referrer was;
 * and so on. Forward: a referral this referee made after this one, within
 * the window of its first being seen; then one its referee made; and so
 * on (the oldest that qualifies at each step). As of the evaluation, at
 * most RULES_CHAIN_MAX hops each way.
 */
/*
 * The seq bound of "the referrals before this event" for
 * store_scan_referred(), whose 0 means no bound: false when there are
 * none (the store's first event, as of itself).
 */
static bool
rules_graph_before(const struct rules_ectx *cx, uint64_t *bound)
{
	*bound = cx->at.max_seq;
	if (*bound != 0 && *bound == cx->ev->seq)
		--*bound;
	return (cx->at.max_seq == 0 || *bound != 0);
}

void
rules_graph_chain_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	const struct rg_event	*ev = cx->ev;
	struct rules_chain_ref	 r;
	struct rg_hash		 acct;
	int64_t			 t, first, back = 0, fwd = 0;
	uint64_t		 max_seq = cx->at.max_seq, before;
	bool			 earlier;

	s->v.type = T_NUM;
	if (ev->nparties < 2 ||
	    !PARTY_HAS(&ev->party[PARTY_REFERRER], ENT_ACCOUNT) ||
	    !PARTY_HAS(&ev->party[PARTY_REFEREE], ENT_ACCOUNT))
		return;
	s->v.present = true;
	/* Back, from this referral's referrer at its time. */
	acct = ev->party[PARTY_REFERRER].h[ENT_ACCOUNT];
	t = ev->ts;
	earlier = rules_graph_before(cx, &before);
	while (back < RULES_CHAIN_MAX && (uint64_t)(back + fwd) < n->limit) {
		if (rules_graph_chain_first(cx, &acct, t, &first) != 0)
			goto fail;
		if (t - first > n->window)
			break;
		back++;
		if (!earlier)
			break;
		memset(&r, 0, sizeof(r));
		r.cx = cx;
		r.other_party = PARTY_REFERRER;
		if (store_scan_referred(cx->txn, &acct, t, before,
		    rules_graph_chain_cb, &r) != 0 || cx->err)
			goto fail;
		if (!r.found)
			break;
		acct = r.other;
		t = r.ts;
	}
	/* Forward, from this referral's referee, after this referral. */
	acct = ev->party[PARTY_REFEREE].h[ENT_ACCOUNT];
	t = ev->ts;
	while (fwd < RULES_CHAIN_MAX && (uint64_t)(back + fwd) < n->limit) {
		if (rules_graph_chain_first(cx, &acct, t, &first) != 0)
			goto fail;
		if (first > INT64_MAX - n->window || t > first + n->window)
			break;
		memset(&r, 0, sizeof(r));
		r.cx = cx;
		r.newest = true;	/* oldest first: the first one found */
		r.other_party = PARTY_REFEREE;
		if (store_scan(cx->txn, ENT_ACCOUNT, &acct,
		    EV_MASK(EV_REFERRAL), ROLE_REFERRER, t, first + n->window <
		    cx->at.ts ? first + n->window : cx->at.ts, max_seq, false,
		    rules_graph_chain_cb, &r) != 0 || cx->err)
			goto fail;
		if (!r.found)
			break;
		fwd++;
		acct = r.other;
		t = r.ts;
	}
	s->v.n = (double)(back + fwd);
	s->x[0] = back;
	s->x[1] = fwd;
	return;
fail:
	cx->err = 1;
}

void
rules_graph_chain_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	rules_eval_exwindow(cx, n);
	rules_eval_excount(cx, n, s);
	jsw_raws(cx->ex, ",\"back\":");
	jsw_int(cx->ex, s->x[0]);
	jsw_raws(cx->ex, ",\"forward\":");
	jsw_int(cx->ex, s->x[1]);
}

/* ---- referred(a, b[, hops]) ----------------------------------------- */

int
rules_graph_referred_check(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node	*a;
	int			 pa, pb;

	if ((pa = rules_check_party(cc, n->kids[0], "referred")) < 0 ||
	    (pb = rules_check_party(cc, n->kids[1], "referred")) < 0)
		return (T_ERR);
	if (pa == pb) {
		rules_error(cc->rs, &n->kids[1]->pos, "referred compares two "
		    "different parties (referrer, referee)");
		return (T_ERR);
	}
	n->hops = 1;
	if (n->nkids == 3) {
		a = n->kids[2];
		if (a->op != N_CONST || a->type != T_NUM || a->v.n < 1 ||
		    a->v.n > RULES_HOPS_MAX || a->v.n != (double)(int)a->v.n) {
			rules_error(cc->rs, &a->pos, "referred's hops is a "
			    "whole number from 1 to %d", RULES_HOPS_MAX);
			return (T_ERR);
		}
		n->hops = (int)a->v.n;
	}
	n->party = (uint8_t)pa;
	n->cost = COST_HOP * (uint32_t)n->hops;
	return (T_BOOL);
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
rules_graph_walk_cb(void *arg, const struct store_entry *e)
{
	struct rules_walk	*w = arg;
	struct rg_event		 ev;
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

/* One walk serves every hop count: it records the hop it found b at. */
void
rules_graph_referred_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	const struct rg_event	*ev = cx->ev;
	const struct party	*a, *b;
	struct rules_walk	 w;
	struct rg_hash		 frontier[RULES_WALK_MAX];
	size_t			 nf, i;
	uint64_t		 before;
	int			 hop;

	s->v.type = T_BOOL;
	s->v.present = true;
	if (ev->nparties < 2 || !rules_graph_before(cx, &before))
		return;
	a = &ev->party[n->party];
	b = &ev->party[1 - n->party];
	if (!PARTY_HAS(a, ENT_ACCOUNT) || !PARTY_HAS(b, ENT_ACCOUNT))
		return;
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
			    cx->at.ts, before, rules_graph_walk_cb, &w) != 0 ||
			    cx->err) {
				cx->err = 1;
				return;
			}
			if (w.found) {
				s->v.b = true;
				s->hops = hop;
				return;
			}
		}
		memcpy(frontier, w.next, w.nnext * sizeof(*frontier));
		nf = w.nnext;
	}
}

void
rules_graph_referred_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	(void)n;
	jsw_raws(cx->ex, ",\"found\":{\"fn\":\"referred\",\"hops\":");
	jsw_int(cx->ex, s->v.b ? s->hops : 0);
	jsw_raw(cx->ex, "}", 1);
}
