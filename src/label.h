/*
 * label.h: feedback as the store keeps it, for the feedback op
 * (analyst.c) and the review queue's decisions (queue.c): one feedback
 * record (ts, the referral id or the account, label, note, by) and the
 * label on identities, which labeled() reads from the label's seq on.
 *
 * On a referral, the label goes on the referee's identities in its
 * event; on an account, on the account and every identity linked to it.
 * Runs in the writer's transaction.
 */
#ifndef REFGUARD_LABEL_H
#define REFGUARD_LABEL_H

#include <stddef.h>
#include <stdint.h>

struct rg_hash;
struct store_txn;

struct label_result {
	uint64_t	feedback;	/* the feedback record's id */
	uint64_t	identities;	/* identities labelled */
	uint64_t	added;		/* of which newly */
	uint64_t	seq;		/* the label counts from this seq */
};

/*
 * Label account (not NULL), else referral id, whose event is seq when the
 * caller knows it (a queue item's number; 0: read from id's verdict).
 * label: LABEL_FRAUD or LABEL_LEGIT (store_aux.h). 0 with *out filled, 1 when id has no verdict or
 * its event is gone (retention), -1 store error.
 */
int	label_apply(struct store_txn *txn, const char *id, size_t idlen,
	    uint64_t seq, const struct rg_hash *account, int label,
	    const char *note, const char *by, int64_t now,
	    struct label_result *out);

#endif
