/*
 * verdict.h: process a check or an observe inside a store write
 * transaction, and keep and format the verdict record.
 *
 * This is the one place that turns an event into a verdict: the daemon's
 * writer thread, rule tests and backtests all go through it, so they
 * cannot disagree.
 *
 * The verdict record it keeps, and its codec, are in verdict_rec.h.
 */
#ifndef REFGUARD_VERDICT_H
#define REFGUARD_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgev.h"
#include "verdict_rec.h"

struct ruleset;
struct store_txn;

/*
 * What verdict_check(), verdict_lookup() and verdict_recheck() return
 * when the stored record fails its checksum or is malformed: an error
 * for that request (store_error), never its bytes, and not a failure of
 * the transaction.
 */
#define VERDICT_CORRUPT	3

/* verdict_recheck(): the time asked for is before the referral. */
#define VERDICT_TOO_EARLY	4

/* As many as the rules report (RULES_MAX_HITS): the hit counters are exact. */
#define VERDICT_MAX_HITS	64

struct verdict {
	uint8_t		 action;	/* enum rg_action */
	int32_t		 score;
	bool		 replay;	/* the id was known: stored verdict returned */
	uint64_t	 seq;
	char		*reply;		/* the reply line, no newline; caller frees */
	size_t		 replylen;
	uint32_t	 hits[VERDICT_MAX_HITS];	/* matched rules (for counters) */
	uint8_t		 hits_shadow[VERDICT_MAX_HITS];	/* 1: a shadow rule */
	size_t		 nhits;
};

/*
 * A check: if ev->id already has a verdict, return it (replay, nothing
 * written); else store the event, evaluate rs (NULL: allow, no reasons),
 * store and return the verdict. Returns 0, VERDICT_CORRUPT (the stored
 * verdict of ev->id is corrupt; nothing written), or -1 on a store error
 * (see store_txn_err(); out is then empty).
 */
int	verdict_check(struct store_txn *txn, const struct ruleset *rs,
	    struct rg_event *ev, struct verdict *out);
/*
 * verdict_check() in three steps, for a writer that evaluates several
 * checks at once (writer.c): begin, in the write transaction, answers a
 * replay (1, out filled) or VERDICT_CORRUPT, or stores the event (0),
 * the pairs of keys rs counts indexed from it on (store_pairs_want());
 * eval evaluates rs in any transaction that sees that event's history
 * (the write transaction, or a read transaction on its view, store.h)
 * and packs the explain for storing (all of it but putting a shape new
 * to the store); end, in the write transaction, puts that shape and
 * stores the verdict of *ve (and frees what ve holds). -1 on a store
 * error, as verdict_check().
 * A verdict_eval carries one check from eval to end; it may be reused.
 */
struct rules_result;
struct verdict_eval;
struct verdict_eval *verdict_eval_new(void);
void	verdict_eval_free(struct verdict_eval *ve);
/*
 * The rules' result of the last eval (its explain kept until end, in
 * the form it is stored in: verdict_eval_explain() gives its text).
 */
const struct rules_result *verdict_eval_result(const struct verdict_eval *ve);
/* Append the text of the last eval's explain to sb: 0, or -1. */
struct sbuf;
int	verdict_eval_explain(const struct verdict_eval *ve,
	    struct store_txn *txn, struct sbuf *sb);
int	verdict_check_begin(struct store_txn *txn, const struct ruleset *rs,
	    struct rg_event *ev, struct verdict *out);
int	verdict_check_eval(const struct ruleset *rs, const struct rg_event *ev,
	    struct store_txn *txn, struct verdict_eval *ve);
int	verdict_check_end(struct store_txn *txn, const struct ruleset *rs,
	    const struct rg_event *ev, struct verdict_eval *ve,
	    struct verdict *out);

/* An observe: store the event; out->reply is the acknowledgement. 0/-1. */
int	verdict_observe(struct store_txn *txn, struct rg_event *ev,
	    struct verdict *out);

/*
 * Look up the verdict of a referral id. explain: also the facts. Returns
 * 0 with out->reply set, 1 when unknown, VERDICT_CORRUPT, -1 on store
 * error.
 */
int	verdict_lookup(struct store_txn *txn, const char *id, size_t idlen,
	    bool explain, struct verdict *out);

/*
 * Re-check at payout: evaluate the stored event of referral id with rs as
 * of time at (rules_eval_at(): a window reaches its length on both
 * sides of the referral up to at, all history stored so far, the event
 * itself counted once) and store the result as the verdict's next
 * version, rechecked at at. at_given: the request named that time; one
 * before the referral's is refused. Otherwise at is now, and a referral
 * whose time is still ahead is evaluated as of its own. out->reply: the
 * new verdict with "version", "previous", "changed" and the rules that
 * newly match or no longer match. Returns 0, 1 when the id has no verdict
 * or its event is gone (retention), 2 when it has VERDICT_MAX_VERSIONS
 * already, VERDICT_TOO_EARLY when at_given and at is before the referral
 * (out->reply then holds the referral's time, RFC 3339), VERDICT_CORRUPT,
 * -1 on store error.
 */
#define VERDICT_MAX_VERSIONS	64
int	verdict_recheck(struct store_txn *txn, const struct ruleset *rs,
	    const char *id, size_t idlen, int64_t at, bool at_given,
	    struct verdict *out);

/*
 * Append a record's stored explain (zstd-compressed with a dictionary
 * that txn's meta holds, on its own, or plain JSON in older records) to
 * sb as JSON text; "[]" when empty, null when it cannot be read.
 */
struct sbuf;
/*
 * Append explain text s[len] (as verdict_explain_text() gives it) to sb in
 * its stored form, putting what that form needs (its shape) in txn's
 * store: what import writes. 0, or -1 when txn failed.
 */
int	 verdict_explain_pack(struct store_txn *txn, struct sbuf *sb,
	    const char *s, size_t len);
void	 verdict_explain_text(struct sbuf *sb, struct store_txn *txn,
	     const char *p, size_t len);

void	verdict_clear(struct verdict *v);

#endif
