/*
 * rules_test.c: run the tests embedded in rule files.
 *
 * A test replays its given lines through the same code the daemon runs
 * (req_decode, verdict_observe, verdict_check on the real store) against
 * a scratch LMDB environment, then compares the verdict of the last check
 * line with what the test expects. History is never reimplemented here.
 */
#include "config.h"

#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "analyst.h"
#include "req.h"
#include "rules_int.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

#define RULES_TEST_EPOCH	1767225600000LL	/* 2026-01-01T00:00:00Z */
#define RULES_TEST_MAP		(64u << 20)

struct rules_trun {
	const struct ruleset	*rs;
	const struct ident	*id;
	struct store		*st;
	struct sbuf		 why;		/* what failed */
};

/* Names of the hits in a reply array ("reasons" or "shadow"). */
static int
rules_test_hits(json_t *reply, const char *key, const char **names,
    size_t cap, size_t *n)
{
	json_t	*arr = json_object_get(reply, key), *e;
	size_t	 i;

	*n = 0;
	if (!json_is_array(arr))
		return (-1);
	json_array_foreach(arr, i, e) {
		const char	*s = json_string_value(json_object_get(e, "rule"));

		if (s == NULL)
			return (-1);
		if (*n < cap)
			names[(*n)++] = s;
	}
	return (0);
}

static int
rules_test_has(const char *const *names, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (1);
	return (0);
}

static void
rules_test_list(struct sbuf *sb, const char *const *names, size_t n)
{
	size_t	i;

	sbuf_addc(sb, '[');
	for (i = 0; i < n; i++)
		sbuf_addf(sb, "%s%s", i ? ", " : "", names[i]);
	sbuf_addc(sb, ']');
}

/* Exactly the names of nm, in any order. */
static void
rules_test_exact(struct sbuf *why, const char *what,
    const struct rules_names *nm, const char *const *got, size_t ngot)
{
	size_t	i;
	int	same = nm->n == ngot;

	for (i = 0; same && i < nm->n; i++)
		same = rules_test_has(got, ngot, nm->v[i]);
	if (same)
		return;
	sbuf_addf(why, "%s%s ", why->len ? "; " : "", what);
	rules_test_list(why, (const char *const *)nm->v, nm->n);
	sbuf_adds(why, " expected, got ");
	rules_test_list(why, got, ngot);
}

static void
rules_test_compare(struct rules_trun *tr, const struct rules_test *t,
    const char *reply)
{
	const char	*reasons[RULES_MAX_HITS], *shadow[RULES_MAX_HITS];
	const char	*action;
	size_t		 nr, ns, i;
	json_error_t	 jerr;
	json_t		*j;

	if ((j = json_loads(reply, 0, &jerr)) == NULL ||
	    (action = json_string_value(json_object_get(j, "action"))) ==
	    NULL || rules_test_hits(j, "reasons", reasons, nitems(reasons),
	    &nr) != 0 || rules_test_hits(j, "shadow", shadow, nitems(shadow),
	    &ns) != 0) {
		sbuf_addf(&tr->why, "unexpected verdict reply: %s", reply);
		json_decref(j);
		return;
	}
	if (t->action >= 0 && strcmp(action, rules_action_name(t->action)) != 0)
		sbuf_addf(&tr->why, "expected %s, got %s",
		    rules_action_name(t->action), action);
	if (t->has_score && json_integer_value(json_object_get(j, "score")) !=
	    t->score)
		sbuf_addf(&tr->why, "%sscore %d expected, got %lld",
		    tr->why.len ? "; " : "", (int)t->score,
		    (long long)json_integer_value(json_object_get(j, "score")));
	if (t->reasons.set)
		rules_test_exact(&tr->why, "reasons", &t->reasons, reasons, nr);
	if (t->shadow.set)
		rules_test_exact(&tr->why, "shadow", &t->shadow, shadow, ns);
	for (i = 0; i < t->includes.n; i++)
		if (!rules_test_has(reasons, nr, t->includes.v[i]) &&
		    !rules_test_has(shadow, ns, t->includes.v[i]))
			sbuf_addf(&tr->why, "%s%s did not match",
			    tr->why.len ? "; " : "", t->includes.v[i]);
	for (i = 0; i < t->excludes.n; i++)
		if (rules_test_has(reasons, nr, t->excludes.v[i]) ||
		    rules_test_has(shadow, ns, t->excludes.v[i]))
			sbuf_addf(&tr->why, "%s%s matched",
			    tr->why.len ? "; " : "", t->excludes.v[i]);
	if (tr->why.len != 0 && !t->reasons.set) {
		sbuf_adds(&tr->why, " (reasons ");
		rules_test_list(&tr->why, reasons, nr);
		sbuf_addc(&tr->why, ')');
	}
	json_decref(j);
}

/* Set an assumed fact on a check's event. */
static void
rules_test_assume(struct rg_event *ev, const struct rules_assume *a)
{
	rules_fact_set(ev, a->fact->party, a->fact->fact, &a->val->v);
}

/*
 * The test's assumes, then its given block's assume lines so far, one a
 * fact (the last), in cur: at most one per party and settable fact,
 * however many lines, so each check sets each fact once.
 */
static void
rules_test_assume_line(const struct rules_assume ***cur, size_t *ncur,
    const struct rules_assume *a)
{
	size_t	i;

	for (i = 0; i < *ncur; i++) {
		if ((*cur)[i]->fact->party == a->fact->party &&
		    (*cur)[i]->fact->fact == a->fact->fact) {
			(*cur)[i] = a;
			return;
		}
	}
	*cur = xreallocarray(*cur, *ncur + 1, sizeof(**cur));
	(*cur)[(*ncur)++] = a;
}

/* Line text with "{n}" replaced by k. */
static void
rules_test_subst(struct sbuf *sb, const struct rules_tline *l, uint32_t k)
{
	const char	*p = l->text, *end = l->text + l->len, *q;

	sbuf_reset(sb);
	while ((q = strstr(p, "{n}")) != NULL && q < end) {
		sbuf_add(sb, p, (size_t)(q - p));
		sbuf_add_int(sb, k);
		p = q + 3;
	}
	sbuf_add(sb, p, (size_t)(end - p));
}

/* Run one test; 0 passed, 1 failed (tr->why says why). */
static int
rules_test_one(struct rules_trun *tr, const struct rules_test *t,
    const struct rules_pos **where)
{
	struct store_txn	*txn;
	struct req_opts		 ro;
	struct req_error	 rerr;
	struct analyst_req	 ar;
	struct verdict		 v;
	struct sbuf		 line;
	struct rg_event		*ev;
	enum req_op		 op;
	char			*cause, *last = NULL;
	const char		*code;
	const struct rules_assume	**cur = NULL;
	size_t			 i, a, ncur = 0;
	int64_t			 clock = RULES_TEST_EPOCH;
	uint32_t		 k;
	int			 rc;

	sbuf_reset(&tr->why);
	*where = &t->pos;
	if ((txn = store_begin(tr->st, true, &cause)) == NULL) {
		sbuf_addf(&tr->why, "scratch store: %s", cause);
		free(cause);
		return (1);
	}
	ev = xmalloc(sizeof(*ev));
	sbuf_init(&line, 256);
	for (a = 0; a < t->nassume; a++)
		rules_test_assume_line(&cur, &ncur, &t->assume[a]);
	for (i = 0; i < t->nlines; i++) {
		const struct rules_tline	*l = &t->lines[i];

		if (l->text == NULL) {
			if (l->assume != NULL)
				rules_test_assume_line(&cur, &ncur, l->assume);
			clock += l->wait;	/* an assume line waits 0 */
			continue;
		}
		for (k = 1; k <= l->repeat; k++, clock += l->every) {
			rules_test_subst(&line, l, k);
			memset(&ro, 0, sizeof(ro));
			ro.now = clock;
			ro.max_future = INT64_MAX / 4;
			memset(&rerr, 0, sizeof(rerr));
			if (req_decode_full(line.buf, line.len, tr->id, &ro,
			    &op, ev, &ar, &rerr) != 0 || (analyst_op(op) &&
			    analyst_prepare(&ar, op, tr->id, tr->rs, clock,
			    &rerr) != 0)) {
				if (analyst_op(op))
					analyst_req_clear(&ar);
				*where = &l->pos;
				sbuf_addf(&tr->why, "request rejected: %s%s%s: %s",
				    rerr.code != NULL ? rerr.code : "error",
				    rerr.field[0] ? " " : "", rerr.field,
				    rerr.msg);
				goto fail;
			}
			if (op == OP_CHECK) {
				for (a = 0; a < ncur; a++)
					rules_test_assume(ev, cur[a]);
				rc = verdict_check(txn, tr->rs, ev, &v);
			}
			else if (op == OP_OBSERVE)
				rc = verdict_observe(txn, ev, &v);
			else if (op == OP_RECHECK) {
				rc = verdict_recheck(txn, tr->rs, ev->id,
				    ev->idlen, ev->ts, ev->ts_given, &v);
				if (rc > 0) {
					*where = &l->pos;
					if (rc == VERDICT_TOO_EARLY)
						sbuf_addf(&tr->why, "recheck: ts "
						    "before the referral (%s)",
						    v.reply);
					else
						sbuf_addf(&tr->why, "recheck: no "
						    "verdict for %s", ev->id);
					verdict_clear(&v);
					goto fail;
				}
			} else if (analyst_op(op)) {
				rc = analyst_run(txn, op, ev, &ar, clock, &v,
				    &code);
				analyst_req_clear(&ar);
				if (rc > 0) {
					*where = &l->pos;
					sbuf_addf(&tr->why, "%s: %s",
					    req_op_name(op), code);
					goto fail;
				}
			} else {
				*where = &l->pos;
				sbuf_addf(&tr->why, "given lines are check, "
				    "observe, recheck, feedback or list.* "
				    "requests, not %s", req_op_name(op));
				goto fail;
			}
			if (rc != 0) {
				*where = &l->pos;
				sbuf_addf(&tr->why, "scratch store: %s",
				    store_txn_errstr(txn));
				goto fail;
			}
			if (op == OP_CHECK || op == OP_RECHECK) {
				free(last);
				last = v.reply;
				v.reply = NULL;
			}
			verdict_clear(&v);
		}
	}
	if (last == NULL)
		sbuf_adds(&tr->why, "given holds no check line");
	else
		rules_test_compare(tr, t, last);
fail:
	store_abort(txn);
	free(cur);
	free(last);
	free(ev);
	sbuf_free(&line);
	return (tr->why.len != 0);
}

static void
rules_test_rmdir(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		*p;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			xasprintf(&p, "%s/%s", dir, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

int
rules_run_tests(const struct ruleset *rs, const struct ident *id,
    FILE *report, int verbose, int *failed, char **cause)
{
	struct rules_trun	 tr;
	struct store_opts	 so;
	const struct rules_pos	*where;
	const char		*tmp;
	char			*dir, pos[4200];
	size_t			 i;

	*failed = 0;
	*cause = NULL;
	if (rs->ntests == 0) {
		if (report != NULL)
			fprintf(report, "rules tests: 0 passed, 0 failed\n");
		return (0);
	}
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	xasprintf(&dir, "%s/refguard-rules.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		xasprintf(cause, "mkdtemp %s: %s", dir, strerror(errno));
		free(dir);
		return (-1);
	}
	memset(&so, 0, sizeof(so));
	so.dir = dir;
	so.map_size = RULES_TEST_MAP;
	so.map_max = 16 * (size_t)RULES_TEST_MAP;
	so.nosync = true;
	memset(&tr, 0, sizeof(tr));
	tr.rs = rs;
	tr.id = id;
	if ((tr.st = store_open(&so, cause)) == NULL) {
		rules_test_rmdir(dir);
		free(dir);
		return (-1);
	}
	sbuf_init(&tr.why, 256);
	for (i = 0; i < rs->ntests; i++) {
		if (rules_test_one(&tr, &rs->tests[i], &where) != 0) {
			(*failed)++;
			if (report != NULL) {
				rules_pos_str(rs, where, pos, sizeof(pos));
				fprintf(report, "%s: test %s failed: %s\n", pos,
				    rs->tests[i].name, tr.why.buf);
			}
		} else if (verbose && report != NULL)
			fprintf(report, "ok %s\n", rs->tests[i].name);
	}
	if (report != NULL)
		fprintf(report, "rules tests: %zu passed, %d failed\n",
		    rs->ntests - (size_t)*failed, *failed);
	sbuf_free(&tr.why);
	store_close(tr.st);
	rules_test_rmdir(dir);
	free(dir);
	return ((int)rs->ntests);
}
