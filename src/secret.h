/*
 * secret.h: which hash secret a store belongs to.
 *
 * Every stored hash is keyed by the installation's secret
 * (hash_secret_file, ident.h). With another secret no stored identity
 * matches again: a referral that history would deny is allowed, and
 * nothing says so. So the store records the fingerprint of its secret
 * (meta SECRET_FP_META, 16 bytes: ident_secret_fp(), a keyed hash of a
 * constant, never the key), and every program that opens a store with a
 * secret goes through secret_ident_new(), which compares the two.
 */
#ifndef REFGUARD_SECRET_H
#define REFGUARD_SECRET_H

#include <stdbool.h>

#include "rgev.h"

#define SECRET_FP_META	"secret_fp"

struct ident;
struct ident_conf;
struct store;

struct secret_status {
	bool	created;	/* hash_secret_file was created now */
	bool	recorded;	/* the fingerprint was recorded now: the store
				   was written before refguard recorded it */
	bool	unverified;	/* read-only store that records none: the
				   secret could not be checked */
	bool	fresh;		/* the secret existed, the store is new or
				   empty: was data.mdb lost? */
};

/*
 * The identity data (ident_new(ic); ic->secret_file set) for store st in
 * state directory dir:
 *  - a missing secret is created only for a store that holds nothing (no
 *    events, verdicts, feedback, labels, list entries, and no recorded
 *    fingerprint), and never when ic->secret_nocreate;
 *  - the secret's fingerprint must be the one st records; a writable st
 *    that records none records it now.
 * *ss says what happened. NULL and *cause (caller frees; naming both
 * files and what to do) on error.
 */
struct ident	*secret_ident_new(struct store *st, const char *dir,
		    const struct ident_conf *ic, struct secret_status *ss,
		    char **cause);

/* The fingerprint st records: 0 found, 1 none, -1 and *cause. */
int		 secret_fp_get(struct store *st, struct rg_hash *fp,
		    char **cause);

#endif
