/*
 * queue.h: the review queue's ops (queue.list, queue.get, queue.claim,
 * queue.unclaim, queue.decide) over the store's queue (store_aux.h).
 *
 * Referrals enter the queue in verdict.c (a review verdict; a recheck
 * that raises the action to review or deny). A request takes the analyst
 * ops' steps (analyst.h): req_decode_full() fills the struct queue_req
 * inside struct analyst_req, and queue_run() answers it in the writer's
 * transaction. A decision is feedback: void labels the referral fraud,
 * approve labels it legit (label_apply()), so labeled() rules
 * and backtests see it; every claim, unclaim and decision is audited in
 * the item's log (who, when, what, the state before).
 */
#ifndef REFGUARD_QUEUE_H
#define REFGUARD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgev.h"
#include "req.h"
#include "store_aux.h"

struct store_txn;
struct verdict;
struct analyst_req;

#define QUEUE_LIMIT_DEFAULT	50
#define QUEUE_LIMIT_MAX		1000
#define QUEUE_IDS_MAX		1000	/* referrals decided at once */
#define QUEUE_CURSOR_MAX	48

struct queue_req {
	/* queue.list */
	int		 state;		/* enum store_queue_state */
	int		 action;	/* enum rg_action; -1: any */
	bool		 by_score;	/* sort: score (else newest) */
	bool		 has_campaign;
	char		 campaign[RG_CAMPAIGN_MAX + 1];
	bool		 has_assignee;
	char		 assignee[QUEUE_BY_MAX + 1];
	bool		 has_rule;	/* one of the item's top reasons */
	char		 rule[QUEUE_REASON_MAX + 1];
	int64_t		 score_min, score_max;
	int64_t		 since, until;	/* ms, inclusive */
	bool		 has_cursor;
	struct store_queue_pos cursor;
	size_t		 limit;
	/* queue.decide: ids beyond ev->id ("ids"), malloc'd */
	char		(*ids)[RG_ID_MAX + 1];
	size_t		 nids;
	int		 decision;	/* enum store_queue_decision */
	/*
	 * queue.decide by filter: the list's filters above pick the items;
	 * count is how many the reviewer was shown (they must match).
	 */
	bool		 by_filter;
	uint64_t	 count;
};

/* Is op one of queue.*. */
bool	queue_op(enum req_op op);

/* The list's defaults (everything open, newest first). */
void	queue_req_init(struct queue_req *q);
/* Release what decoding left in *q (not q itself). */
void	queue_req_clear(struct queue_req *q);

/*
 * A cursor as it travels ("t<key>.<item>" newest first, "s<key>.<item>"
 * by score) and back: 0, or -1 when s is not one of this sort's.
 */
void	queue_cursor_fmt(bool by_score, const struct store_queue_pos *p,
	    char *buf, size_t len);
int	queue_cursor_parse(const char *s, bool by_score,
	    struct store_queue_pos *p);

/*
 * Run queue op in txn at time now; ev->id is the referral (get, claim,
 * unclaim, decide). out->reply gets the reply (verdict_clear()). Returns
 * 0 done, 1 answered with an error (*errcode: "not_found", "conflict";
 * msg holds the message), -1 store error.
 */
int	queue_run(struct store_txn *txn, enum req_op op,
	    const struct rg_event *ev, struct analyst_req *ar, int64_t now,
	    struct verdict *out, const char **errcode, char *msg,
	    size_t msglen);

#endif
