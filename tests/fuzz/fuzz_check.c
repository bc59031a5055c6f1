/*
 * fuzz_check.c: libFuzzer harness for the whole check path, as the
 * daemon's writer runs it: req_decode() -> identity hashing ->
 * verdict_check() (store_put_event, rules_eval with the shipped rules,
 * the reply) or verdict_observe(), against a scratch LMDB store. Linked
 * with replay.c it is a plain program that replays the saved corpus
 * (tests/fuzz/corpus/check) under make check.
 *
 * An input is NDJSON: up to 64 request lines, processed in order in one
 * write transaction that is aborted at the end, so that later lines see
 * the history of earlier ones (velocity, linkage, shared devices) while
 * every input starts from an empty store (a crash replays alone).
 *
 * Beyond "no crash": a verdict reply is a JSON object with the request's
 * id and a known action; the stored verdict reads back with the same
 * bytes, a repeated check replays them, and explain is valid JSON.
 *
 * The rules: $FUZZ_RULES, else $top_srcdir/rules, else the source tree's
 * rules/ (FUZZ_RULES_DIR, set by fuzz.am). FUZZ_CHECK_VERBOSE=1 prints
 * each reply (to see what a corpus file exercises).
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "rgev.h"
#include "ident.h"
#include "req.h"
#include "rules.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

#include "replay.h"

#define FUZZ_MAX_LINES	64

const char	fuzz_name[] = "check";

static struct ident	*fuzz_id;
static struct ruleset	*fuzz_rs;
static struct store	*fuzz_st;
static char		 fuzz_dir[] = "/tmp/rg-fuzz-check.XXXXXX";
static bool		 fuzz_verbose;

static void
fuzz_cleanup(void)
{
	char	*p;

	if (fuzz_st != NULL)
		store_close(fuzz_st);
	xasprintf(&p, "%s/data.mdb", fuzz_dir);
	unlink(p);
	free(p);
	xasprintf(&p, "%s/lock.mdb", fuzz_dir);
	unlink(p);
	free(p);
	xasprintf(&p, "%s/" STORE_LOCK_FILE, fuzz_dir);
	unlink(p);
	free(p);
	rmdir(fuzz_dir);
}

static void
fuzz_setup(void)
{
	struct store_opts	 so;
	const char		*rules = getenv("FUZZ_RULES");
	const char		*top = getenv("top_srcdir");
	char			*cause = NULL, *diag = NULL, *path = NULL;

	fuzz_id = fuzz_ident_new();
	fuzz_verbose = getenv("FUZZ_CHECK_VERBOSE") != NULL;
	if (rules == NULL && top != NULL) {
		xasprintf(&path, "%s/rules", top);
		rules = path;
	}
	if (rules == NULL)
		rules = FUZZ_RULES_DIR;
	if ((fuzz_rs = rules_load(rules, fuzz_id, 0, &diag)) == NULL) {
		fprintf(stderr, "fuzz_check: %s: %s\n", rules, diag);
		exit(2);
	}
	free(diag);
	free(path);
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(fuzz_cleanup);
	memset(&so, 0, sizeof(so));
	so.dir = fuzz_dir;
	so.map_size = 64 << 20;	/* never committed to: never grows */
	so.map_max = 64 << 20;
	so.nosync = true;
	if ((fuzz_st = store_open(&so, &cause)) == NULL) {
		fprintf(stderr, "fuzz_check: %s\n", cause);
		exit(2);
	}
}

/* A verdict reply: a JSON object with this id and a known action. */
static void
fuzz_verdict_reply(const struct verdict *v, const struct rg_event *ev)
{
	json_t		*j, *jid;
	const char	*a;

	if (v->reply == NULL || v->replylen != strlen(v->reply) ||
	    memchr(v->reply, '\n', v->replylen) != NULL)
		abort();
	if ((j = json_loadb(v->reply, v->replylen, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL || !json_is_object(j))
		abort();
	jid = json_object_get(j, "id");
	if (!json_is_string(jid) || json_string_length(jid) != ev->idlen ||
	    memcmp(json_string_value(jid), ev->id, ev->idlen) != 0)
		abort();
	a = json_string_value(json_object_get(j, "action"));
	if (a == NULL || v->action > ACTION_DENY ||
	    strcmp(a, rules_action_name(v->action)) != 0)
		abort();
	if (!json_is_array(json_object_get(j, "reasons")))
		abort();
	json_decref(j);
}

/* What is stored for ev->id reads back as out, and explain is JSON. */
static void
fuzz_lookup(struct store_txn *txn, const struct rg_event *ev,
    const struct verdict *out)
{
	struct verdict	 v;
	json_t		*j;

	if (verdict_lookup(txn, ev->id, ev->idlen, false, &v) != 0 ||
	    v.replylen != out->replylen ||
	    memcmp(v.reply, out->reply, v.replylen) != 0)
		abort();
	verdict_clear(&v);
	if (verdict_lookup(txn, ev->id, ev->idlen, true, &v) != 0)
		abort();
	if ((j = json_loadb(v.reply, v.replylen, 0, NULL)) == NULL)
		abort();
	json_decref(j);
	verdict_clear(&v);
}

static void
fuzz_line(struct store_txn *txn, const char *line, size_t len)
{
	static struct rg_event	 ev;
	struct req_opts		 o = { 1795428000000LL, 180 * 86400000LL,
				    3600000 };
	struct req_error	 err;
	struct verdict		 v, again;
	enum req_op		 op;
	int			 rc;

	if (req_decode(line, len, fuzz_id, &o, &op, &ev, &err) != 0) {
		if (fuzz_verbose)
			fprintf(stderr, "refused: %s: %s %s\n", err.code,
			    err.field, err.msg);
		return;
	}
	switch (op) {
	case OP_CHECK:
		if (verdict_check(txn, fuzz_rs, &ev, &v) != 0) {
			/* Only a full map may fail (a huge input). */
			if (store_txn_err(txn) == STORE_OK)
				abort();
			return;
		}
		fuzz_verdict_reply(&v, &ev);
		fuzz_lookup(txn, &ev, &v);
		if (fuzz_verbose)
			fprintf(stderr, "check: %s\n", v.reply);
		/* Idempotent: the same bytes, flagged as a replay. */
		if (verdict_check(txn, fuzz_rs, &ev, &again) != 0 ||
		    !again.replay || again.replylen != v.replylen ||
		    memcmp(again.reply, v.reply, v.replylen) != 0)
			abort();
		verdict_clear(&again);
		verdict_clear(&v);
		break;
	case OP_OBSERVE:
		if (verdict_observe(txn, &ev, &v) != 0) {
			if (store_txn_err(txn) == STORE_OK)
				abort();
			return;
		}
		if (v.seq == 0 || v.reply == NULL)
			abort();
		verdict_clear(&v);
		break;
	case OP_VERDICT:
	case OP_EXPLAIN:
		rc = verdict_lookup(txn, ev.id, ev.idlen, op == OP_EXPLAIN,
		    &v);
		if (rc < 0)
			abort();
		verdict_clear(&v);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_txn	*txn;
	const char		*p = (const char *)data, *end = p + size, *nl;
	char			*cause = NULL;
	int			 n;

	if (fuzz_st == NULL)
		fuzz_setup();
	if ((txn = store_begin(fuzz_st, true, &cause)) == NULL) {
		fprintf(stderr, "fuzz_check: %s\n", cause);
		abort();
	}
	for (n = 0; p < end && n < FUZZ_MAX_LINES; n++) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		fuzz_line(txn, p, (size_t)(nl - p));
		if (store_txn_err(txn) != STORE_OK)
			break;
		p = nl + 1;
	}
	store_abort(txn);
	return (0);
}
