/*
 * analyst.h: the analyst's ops beside check and observe: feedback and
 * runtime lists (list.add, list.del, list.get, list.log); recheck is in
 * verdict.h.
 *
 * A request goes through three steps, like a check:
 *   req_decode_full()  strict JSON fields into struct analyst_req (req.c);
 *                      the raw list value is kept only until
 *   analyst_prepare()  on the loop thread (it uses the ident, which is not
 *                      locked, and the current rules): the list's kind is
 *                      resolved, the value normalized and hashed like an
 *                      identity (a CIDR expanded), and the raw value wiped;
 *   analyst_run()      in the writer's transaction: store and reply.
 * Rule tests (rules_test.c) take the same steps.
 */
#ifndef REFGUARD_ANALYST_H
#define REFGUARD_ANALYST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgev.h"
#include "queue.h"
#include "req.h"
#include "store_aux.h"
#include "verdict_list.h"
#include "daily.h"

struct ident;
struct ruleset;
struct store_txn;
struct verdict;

#define ANALYST_NOTE_MAX	1024
#define ANALYST_VALUE_MAX	256
#define ANALYST_LOG_DEFAULT	100
#define ANALYST_LOG_MAX		10000

struct analyst_req {
	/* feedback: the referral is ev->id; or an account */
	bool			 by_account;
	struct rg_hash		 account;
	int			 label;		/* enum rg_label */
	char			 note[ANALYST_NOTE_MAX + 1];
	/* feedback, list.add, list.del */
	char			 by[LIST_BY_MAX + 1];
	char			 reason[LIST_REASON_MAX + 1];
	/* lists */
	char			 list[LIST_NAME_MAX + 1];	/* "": all (list.log) */
	char			*value;		/* raw; freed by analyst_prepare() */
	int			 kind;		/* list kind; -1: from the rules */
	int64_t			 expires;	/* ms; 0: never */
	size_t			 limit;		/* list.log */
	/* prepared */
	struct store_list_entry	 entry;
	struct store_list_member *members;
	size_t			 nmembers;
	struct rg_hash		 prefix;	/* list.get of an address */
	bool			 has_prefix;
	char			 desc[48];	/* "email:1a2b3c4d5e6f": logs, replies */
	/* queue.* (queue.h; note and by above) */
	struct queue_req	 queue;
	/* verdicts.list (verdict_list.h) */
	struct verdict_list_req	 verdicts;
	/* stats.daily (daily.h) */
	struct daily_req	 daily;
};

/* Is op one of feedback, list.*, queue.*, verdicts.list, graph,
 * stats.daily: an analyst_req. */
bool	analyst_op(enum req_op op);

/*
 * Resolve the kind and hash the value of a list op (nothing to do for the
 * others); now is the request time (that of req_decode_full). rs may
 * be NULL (no rules: kind must be given). 0, or -1 with *err filled.
 */
int	analyst_prepare(struct analyst_req *ar, enum req_op op,
	    const struct ident *id, const struct ruleset *rs, int64_t now,
	    struct req_error *err);

/*
 * Run a prepared feedback, list or queue op (queue.* through
 * queue_run()), verdicts.list (verdict_list()) or graph (graph_run()) in
 * txn at time now; ev->id is the referral of a feedback by id.
 * out->reply gets the reply (caller frees with verdict_clear()). Returns 0
 * done, 1 answered with an error (the reply; *errcode says which:
 * "not_found", "conflict"), -1 store error.
 */
int	analyst_run(struct store_txn *txn, enum req_op op,
	    const struct rg_event *ev, struct analyst_req *ar, int64_t now,
	    struct verdict *out, const char **errcode);

/*
 * Retention: purge up to max list entries expired by now, logging each
 * ("expire", by "refguardd"). Returns how many, or -1.
 */
int64_t	analyst_expire(struct store_txn *txn, int64_t now, size_t max);

/*
 * Cluster mode (cluster.h): what every node needs to run a prepared
 * feedback, list.add, list.del, queue.claim, queue.unclaim or queue.decide
 * as its origin would (hashes, never a raw list value), appended to w;
 * and back into *ar (zeroed first; members and queue ids allocated: free
 * with analyst_req_clear). The format is beside the encoder (analyst.c).
 * decode: 0, or -1 when the bytes are short, left over or out of range.
 */
struct rec_w;
struct rec_r;
void	analyst_req_encode(const struct analyst_req *ar, struct rec_w *w);
int	analyst_req_decode(struct rec_r *r, struct analyst_req *ar);

/* A copy of ar on the heap for a job, and its release. */
struct analyst_req *analyst_req_dup(const struct analyst_req *ar);
void	analyst_req_free(struct analyst_req *ar);
/* Release what analyst_prepare() or decoding left in *ar (not ar itself). */
void	analyst_req_clear(struct analyst_req *ar);

/* List kind names: identity kinds, "string", "number"; -1 unknown. */
const char	*analyst_kind_name(int kind);
int		 analyst_kind_from_name(const char *s);

#endif
