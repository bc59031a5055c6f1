/* secret.c: which hash secret a store belongs to; see secret.h. */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"
#include "secret.h"
#include "store.h"
#include "util.h"

int
secret_fp_get(struct store *st, struct rg_hash *fp, char **cause)
{
	struct store_txn	*txn;
	const void		*v;
	size_t			 len;
	int			 rc;

	if ((txn = store_begin(st, false, cause)) == NULL)
		return (-1);
	rc = store_meta_get(txn, SECRET_FP_META, &v, &len);
	if (rc == 0 && len != RG_HASH_LEN) {
		xasprintf(cause, "meta %s is %zu bytes, not %d: the store is "
		    "corrupt", SECRET_FP_META, len, RG_HASH_LEN);
		rc = -1;
	} else if (rc == 0)
		memcpy(fp->b, v, RG_HASH_LEN);
	else if (rc < 0)
		xasprintf(cause, "read meta %s: %s", SECRET_FP_META,
		    store_txn_errstr(txn));
	store_abort(txn);
	return (rc);
}

static int
secret_fp_put(struct store *st, const struct rg_hash *fp, char **cause)
{
	struct store_txn	*txn;

	if ((txn = store_begin(st, true, cause)) == NULL)
		return (-1);
	if (store_meta_put(txn, SECRET_FP_META, fp->b, RG_HASH_LEN) != 0) {
		xasprintf(cause, "record the secret's fingerprint: %s",
		    store_txn_errstr(txn));
		store_abort(txn);
		return (-1);
	}
	return (store_commit(txn, NULL, cause));
}

/* Anything in st that a secret keyed: *what says what, for messages. */
static int
secret_store_data(struct store *st, char *what, size_t len, char **cause)
{
	struct store_stat	ss;

	if (store_stat(st, &ss, cause) != 0)
		return (-1);
	snprintf(what, len, "%" PRIu64 " events, %" PRIu64 " verdicts, %"
	    PRIu64 " list entries, %" PRIu64 " feedback records", ss.events,
	    ss.verdicts, ss.list_entries, ss.feedback);
	return (ss.events + ss.verdicts + ss.feedback + ss.labels +
	    ss.list_entries + ss.list_log > 0);
}

struct ident *
secret_ident_new(struct store *st, const char *dir,
    const struct ident_conf *ic, struct secret_status *ss, char **cause)
{
	struct ident_conf	 c = *ic;
	struct ident		*id;
	struct rg_hash		 have, want;
	struct stat		 sb;
	char			 what[160];
	bool			 existed;
	int			 rc, data;

	memset(ss, 0, sizeof(*ss));
	if (c.secret_file == NULL) {
		/* (ident_new() would make up a secret for this process) */
		*cause = xstrdup("hash_secret_file is not set");
		return (NULL);
	}
	if ((rc = secret_fp_get(st, &want, cause)) < 0)
		return (NULL);
	if ((data = secret_store_data(st, what, sizeof(what), cause)) < 0)
		return (NULL);
	existed = stat(c.secret_file, &sb) == 0 || errno != ENOENT;
	if (!existed && !c.secret_nocreate && (rc == 0 || data)) {
		xasprintf(cause, "hash_secret_file %s is missing, and the store "
		    "in %s holds data hashed with a secret (%s): refusing to "
		    "create a new secret, with which none of it would ever "
		    "match again. Restore the secret file from a backup; to "
		    "start over on purpose, move the state directory aside "
		    "(docs/operations.md)", c.secret_file, dir,
		    rc == 0 && !data ? "its fingerprint is recorded" : what);
		return (NULL);
	}
	if ((id = ident_new(&c, cause)) == NULL)
		return (NULL);
	ss->created = !existed;
	ident_secret_fp(id, &have);
	if (rc == 0 && memcmp(have.b, want.b, RG_HASH_LEN) != 0) {
		xasprintf(cause, "hash_secret_file %s is not the secret the "
		    "store in %s was written with (their fingerprints differ): "
		    "with it no stored identity would match. Put the right "
		    "secret back; to change the secret on purpose, start a new "
		    "store (docs/operations.md)", c.secret_file, dir);
		ident_free(id);
		return (NULL);
	}
	if (rc == 1) {
		ss->fresh = existed && !data;
		if (store_readonly(st))
			ss->unverified = true;
		else if (secret_fp_put(st, &have, cause) != 0) {
			ident_free(id);
			return (NULL);
		} else
			ss->recorded = !ss->created && !ss->fresh;
	}
	return (id);
}
