/*
 * graph.h: the graph op, what the web console draws for one referral
 * (docs/protocol.md, "graph"; docs/console.md).
 *
 * Read only, in the writer's transaction. From the referral's stored
 * event: each party's account and the identities it carried, each as its
 * kind and the first GRAPH_PREFIX hex digits of its keyed hash (never
 * more: refguard holds no raw data, and the console shows none), with the
 * readable facts the event kept (email domain, IP version, country, ASN
 * and AS organisation); the other accounts that carried those
 * identities (neighbours, from the index); and both accounts' events
 * (timelines, newest first). Every part is bounded: the reply says when
 * it stopped early.
 */
#ifndef REFGUARD_GRAPH_H
#define REFGUARD_GRAPH_H

#include <stddef.h>

struct analyst_req;
struct rg_event;
struct store_txn;
struct verdict;

#define GRAPH_PREFIX		12	/* hex digits of a hash shown */
#define GRAPH_SCAN_MAX		64	/* index entries read per identity */
#define GRAPH_NEIGHBOURS_MAX	8	/* other accounts per identity */
#define GRAPH_EVENTS_MAX	100	/* events per timeline */

/*
 * The graph of referral ev->id into out->reply (verdict_clear()). 0, 1
 * when the id has no verdict or its event is gone (retention),
 * VERDICT_CORRUPT (verdict.h) when its verdict record fails its
 * checksum, -1 on a store error.
 *
 * With ar->queue.ids instead (the console's queue rows): only each
 * referral's two accounts, {"ok":true,"parties":[{"id":ID,"referrer":
 * PREFIX,"referee":PREFIX},...]} in the order asked, an id without a
 * verdict (or whose record fails its checksum) as {"id":ID,"error":
 * "not_found"} ("corrupt"). 0, or -1 on a store error.
 */
int	graph_run(struct store_txn *txn, const struct rg_event *ev,
	    const struct analyst_req *ar, struct verdict *out);

#endif
