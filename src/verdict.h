/*
 * verdict.h: process a check or an observe inside a store write
 * transaction, and keep and format the verdict record.
 *
 * This is the one place that turns an event into a verdict: the daemon's
 * writer thread, rule tests and backtests all go through it, so they
 * cannot disagree.
 *
 * A verdict record (store.h verdicts database) is: version(1) seq(8)
 * action(1) score(4) replylen(4) reply explain, where reply is the exact
 * JSON reply line sent to the client (so a repeated id is answered with
 * the same bytes) and explain the facts the rules saw (JSON).
 */
#ifndef REFGUARD_VERDICT_H
#define REFGUARD_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct ruleset;
struct store_txn;

struct verdict {
	uint8_t		 action;	/* enum rg_action */
	int32_t		 score;
	bool		 replay;	/* the id was known: stored verdict returned */
	uint64_t	 seq;
	char		*reply;		/* the reply line, no newline; caller frees */
	size_t		 replylen;
	uint32_t	 hits[8];	/* first matched rules (for counters) */
	size_t		 nhits;
};

/*
 * A check: if ev->id already has a verdict, return it (replay, nothing
 * written); else store the event, evaluate rs (NULL: allow, no reasons),
 * store and return the verdict. Returns 0, or -1 on a store error (see
 * store_txn_err(); out is then empty).
 */
int	verdict_check(struct store_txn *txn, const struct ruleset *rs,
	    struct event *ev, struct verdict *out);

/* An observe: store the event; out->reply is the acknowledgement. 0/-1. */
int	verdict_observe(struct store_txn *txn, struct event *ev,
	    struct verdict *out);

/*
 * Look up the verdict of a referral id. explain: also the facts. Returns
 * 0 with out->reply set, 1 when unknown, -1 on store error.
 */
int	verdict_lookup(struct store_txn *txn, const char *id, size_t idlen,
	    bool explain, struct verdict *out);

/* A stored verdict record, split; pointers into the record. */
struct verdict_rec {
	uint64_t	 seq;		/* the event it was given to */
	uint8_t		 action;	/* enum rg_action */
	int32_t		 score;
	const char	*reply;		/* the reply line (JSON), not NUL-terminated */
	size_t		 replylen;
	const char	*explain;	/* the facts (JSON), may be empty */
	size_t		 explainlen;
};
/* Split a record from store_get_verdict(): 0, or -1 when malformed. */
int	verdict_rec_decode(const void *rec, size_t len, struct verdict_rec *r);

/*
 * Build a record from its parts (import: a verdict moved to the seq its
 * event got in another store). Returns the record (caller frees) and
 * its length in *len.
 */
void	*verdict_rec_encode(const struct verdict_rec *r, size_t *len);

void	verdict_clear(struct verdict *v);

#endif
