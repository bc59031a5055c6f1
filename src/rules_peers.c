/*
 * rules_peers.c: peers(kinds, window), how many of the referrer's other
 * referees are tied to this referee by a card, a phone, an app install
 * or another identity of the kinds, one the referrer never carried.
 *
 * The accounts a farm or an organiser brings through one referrer are
 * funded from one card, verified on one phone, opened in one install;
 * the card often comes days after the check, so at a recheck this sees
 * it where the check's own facts could not. Friends invited by one
 * person share nothing with one another but the person who invited
 * them, whose identities (the family card, the parent's phone) are
 * linked()'s business and are left out here.
 *
 * Its entry is in rules_fn.c's table; like every evaluator it reads the
 * store as of the evaluation, stops as soon as the answer is known,
 * keeps its state on the stack and bounds its work (rules_int.h).
 */
#include "config.h"

#include <string.h>

#include "rules_int.h"
#include "store.h"
#include "util.h"

/* The referee's identities it probes the other referees for. */
#define RULES_PEER_IDS	16

int
rules_peers_check(struct rules_cctx *cc, struct rules_node *n)
{
	if (rules_graph_kinds(cc, n->kids[0], "peers", &n->kinds) != 0 ||
	    rules_check_window(cc, n->kids[1], "peers", false,
	    &n->window) != 0)
		return (T_ERR);
	/* The referrals of the referrer: the key the scan reads. */
	n->type_mask = EV_MASK(EV_REFERRAL);
	n->party = PARTY_REFERRER;
	n->kind = ENT_ACCOUNT;
	n->role_mask = ROLE_REFERRER;
	n->limit = RULES_REFEREES_MAX;
	return (T_NUM);
}

struct rules_peers {
	struct rules_ectx	*cx;
	const struct rules_node	*n;
	const struct rg_hash	*referrer;
	const struct rg_hash	*referee;
	size_t			 nids;
	size_t			 scanned;	/* the referee's links read */
	bool			 capped;
	uint64_t		 count;		/* referees tied to this one */
	uint64_t		 read;		/* referrals read */
	uint32_t		 kinds;		/* the kinds that tied them */
	struct store_link	 ids[RULES_PEER_IDS];
};

/*
 * A link of the referee: kept when the referrer never carried the
 * identity (a household's family card is the referrer's). At most
 * RULES_LINK_MAX are read, as linked() and own() read.
 */
static int
rules_peers_id(void *arg, const struct store_link *l)
{
	struct rules_peers	*p = arg;
	int			 r;

	if (++p->scanned > RULES_LINK_MAX) {
		p->capped = true;
		return (1);
	}
	if (!(p->n->kinds & (1u << l->kind)))
		return (0);
	r = store_link_get(p->cx->txn, p->referrer, l->kind, &l->h,
	    p->cx->at.max_seq, NULL, NULL);
	if (r < 0) {
		p->cx->err = 1;
		return (1);
	}
	if (r == 0)
		return (0);
	if (p->nids == RULES_PEER_IDS) {
		p->capped = true;
		return (1);
	}
	p->ids[p->nids++] = *l;
	return (0);
}

/*
 * A referral of the referrer: its referee, when another account than
 * this one, counts when it carried one of the kept identities.
 */
static int
rules_peers_cb(void *arg, const struct store_entry *e)
{
	struct rules_peers	*p = arg;
	struct rules_ectx	*cx = p->cx;
	struct rg_hash		 other;
	size_t			 i;
	int			 r;

	if (p->read == RULES_REFEREES_MAX) {
		p->capped = true;
		return (1);
	}
	if ((r = rules_eval_event_key(cx, e, PARTY_REFEREE, ENT_ACCOUNT,
	    &other)) != 0)
		return (r < 0);	/* gone, or no referee account */
	p->read++;
	if (memcmp(&other, p->referee, sizeof(other)) == 0 ||
	    memcmp(&other, p->referrer, sizeof(other)) == 0)
		return (0);
	for (i = 0; i < p->nids; i++) {
		r = store_link_get(cx->txn, &other, p->ids[i].kind,
		    &p->ids[i].h, cx->at.max_seq, NULL, NULL);
		if (r < 0) {
			cx->err = 1;
			return (1);
		}
		if (r == 0) {
			p->kinds |= 1u << p->ids[i].kind;
			p->count++;
			break;
		}
	}
	return (p->count >= p->n->limit);
}

/*
 * peers(kinds, window): of the referrer's referrals within the window
 * (at a recheck, those since too), how many referees other than this
 * one carried, as of the evaluation, an identity of the kinds that this
 * referee carried and the referrer never did. The referee's links
 * first (at most RULES_LINK_MAX read, RULES_PEER_IDS kept), then one
 * event record and a point lookup an identity for each referral, at most
 * RULES_REFEREES_MAX referrals, the newest. A referee referred twice
 * by the referrer counts twice.
 */
void
rules_peers_eval(struct rules_ectx *cx, const struct rules_node *n,
    struct rules_slot *s)
{
	const struct rg_event	*ev = cx->ev;
	struct rules_peers	 p;
	unsigned		 k;

	s->v.type = T_NUM;
	if (ev->nparties < 2 ||
	    !PARTY_HAS(&ev->party[PARTY_REFERRER], ENT_ACCOUNT) ||
	    !PARTY_HAS(&ev->party[PARTY_REFEREE], ENT_ACCOUNT))
		return;
	memset(&p, 0, offsetof(struct rules_peers, ids));
	p.cx = cx;
	p.n = n;
	p.referrer = &ev->party[PARTY_REFERRER].h[ENT_ACCOUNT];
	p.referee = &ev->party[PARTY_REFEREE].h[ENT_ACCOUNT];
	for (k = 1; k < ENT__MAX && !p.capped; k++) {
		if (!(n->kinds & (1u << k)))
			continue;
		if (store_link_scan(cx->txn, p.referee, k, cx->at.max_seq,
		    rules_peers_id, &p) != 0 || cx->err) {
			cx->err = 1;
			return;
		}
	}
	if (p.nids > 0 && rules_eval_scan(cx, n, p.referrer, rules_peers_cb,
	    &p) != 0)
		return;
	s->v.present = true;
	s->v.n = (double)p.count;
	s->capped = p.capped;
	s->kinds = p.kinds;
	s->x[0] = (int64_t)p.read;
	s->x[1] = (int64_t)p.nids;
}

void
rules_peers_explain(struct rules_ectx *cx, const struct rules_node *n,
    const struct rules_slot *s)
{
	jsw_raws(cx->ex, ",\"kinds\":");
	rules_graph_exkinds(cx->ex, n->kinds);
	rules_eval_exwindow(cx, n);
	rules_eval_excount(cx, n, s);
	if (!s->v.present)
		return;
	jsw_raws(cx->ex, ",\"tied_by\":");
	rules_graph_exkinds(cx->ex, s->kinds);
	jsw_raws(cx->ex, ",\"identities\":");
	jsw_int(cx->ex, s->x[1]);
	jsw_raws(cx->ex, ",\"referrals\":");
	jsw_int(cx->ex, s->x[0]);
}
