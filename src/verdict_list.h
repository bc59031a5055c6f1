/*
 * verdict_list.h: the verdicts.list op: the stored verdicts, newest
 * first, filtered by time, action, rule and campaign, a page at a time
 * with a stable cursor (refguardctl verdicts, docs/protocol.md).
 *
 * A verdict is listed once its check is stored (what the daemon has
 * acknowledged): the walk goes over the events, newest seq first, and
 * takes each referral's verdict in its latest version (a re-check's, if
 * any). Times are the referrals' own (event time). The store keeps no
 * index of referrals by time, so a page examines at most
 * VERDICT_LIST_SCAN events: a page may then hold fewer items than its
 * limit, or none, and still have a "next". The cursor is the seq where
 * the walk stopped: events stored later never shift a page already read.
 *
 * The daemon runs it in the writer's transaction (ops.c); refguardctl
 * runs the same function on a store opened read-only when the daemon is
 * not there.
 */
#ifndef REFGUARD_VERDICT_LIST_H
#define REFGUARD_VERDICT_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgev.h"

struct sbuf;
struct store_txn;

#define VERDICT_LIST_LIMIT_DEFAULT	100
#define VERDICT_LIST_LIMIT_MAX		1000
#define VERDICT_LIST_SCAN		2000	/* events examined a page: it
						   runs in the writer's batch */
#define VERDICT_LIST_REASONS		3	/* the top reasons, by score */
#define VERDICT_LIST_RULE_MAX		127
#define VERDICT_LIST_CURSOR_MAX		24
#define VERDICT_LIST_HASH_HEX		12	/* a party's short hash */

struct verdict_list_req {
	int		 action;	/* enum rg_action; -1: any */
	bool		 has_rule;	/* one of its reasons (any, not only
					   the top ones) */
	char		 rule[VERDICT_LIST_RULE_MAX + 1];
	bool		 has_campaign;
	char		 campaign[RG_CAMPAIGN_MAX + 1];
	int64_t		 since, until;	/* event time, ms, inclusive */
	uint64_t	 before;	/* the cursor: seqs below it; 0: none */
	size_t		 limit;
	size_t		 scan;		/* events examined a page at most:
					   VERDICT_LIST_SCAN (tests: fewer) */
};

/* Everything, newest first, VERDICT_LIST_LIMIT_DEFAULT a page. */
void	verdict_list_init(struct verdict_list_req *q);

/* A cursor as it travels ("v<seq>") and back: 0, or -1 when it is not one. */
void	verdict_list_cursor_fmt(uint64_t before, char *buf, size_t len);
int	verdict_list_cursor_parse(const char *s, uint64_t *before);

/*
 * One page of q into sb as the reply object:
 *   {"ok":true,"verdicts":[ITEM...],"count":N,"scanned":N,"corrupt":N,
 *    "next":"v123"|null}
 *   ITEM: {"id","seq","ts","action","score","version","reasons":[rule...],
 *          "referrer","referee" (VERDICT_LIST_HASH_HEX hex digits of the
 *          account's keyed hash, or null),"campaign" (or null),
 *          "reward":{"amount","currency"}|null}
 * corrupt counts verdict records of the page that fail their checksum
 * (not listed). 0, or -1 on a store error (sb then holds a part).
 */
int	verdict_list(struct store_txn *txn, const struct verdict_list_req *q,
	    struct sbuf *sb);

#endif
