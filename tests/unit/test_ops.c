/*
 * test_ops.c: the op table (ops.h) is whole and consistent, and its
 * handlers run against a daemon built by hand: the serving code is in the
 * internal library.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "daemon.h"
#include "metrics.h"
#include "ops.h"
#include "req.h"
#include "rules.h"
#include "unit.h"
#include "util.h"
#include "writer.h"

/* Every op has an entry saying where it runs, with the handler for it. */
START_TEST(test_table)
{
	const struct op_def	*def;
	int			 op;

	for (op = 0; op < OP__MAX; op++) {
		def = op_get(op);
		ck_assert_ptr_nonnull(def);
		ck_assert_int_eq(def->op, op);
		ck_assert_str_ne(req_op_name(def->op), "?");
		if (def->where == OP_LOOP)
			ck_assert_msg(def->loop != NULL && def->txn == NULL &&
			    !def->rules && !def->heavy, "%s", req_op_name(op));
		else
			ck_assert_msg(def->txn != NULL && def->loop == NULL,
			    "%s", req_op_name(op));
	}
	ck_assert_ptr_null(op_get(OP__MAX));
	ck_assert_ptr_null(op_get(-1));
	/* What the other modules used to hard-code. */
	ck_assert(op_get(OP_CHECK)->rules && op_get(OP_RECHECK)->rules);
	ck_assert(op_get(OP_EXPLAIN)->heavy && op_get(OP_LIST_LOG)->heavy);
	ck_assert_int_eq(op_get(OP_VERDICT)->where, OP_WRITER_READ);
	ck_assert_int_eq(op_get(OP_CHECK)->where, OP_WRITER_WRITE);
}
END_TEST

/* Routes: one op per path and method; a field name for each "*". */
START_TEST(test_routes)
{
	const struct op_route	*r, *q;
	const char		*p;
	size_t			 stars, params, i;
	int			 a, b;

	for (a = 0; a < OP__MAX; a++) {
		r = &ops[a].route;
		if (r->path == NULL)
			continue;
		ck_assert_msg(strncmp(r->path, "/v1/", 4) == 0, "%s", r->path);
		for (stars = 0, p = r->path; (p = strchr(p, '*')) != NULL; p++)
			stars++;
		for (params = 0, i = 0; i < nitems(r->params); i++)
			params += r->params[i] != NULL;
		ck_assert_uint_eq(stars, params);
		for (b = a + 1; b < OP__MAX; b++) {
			q = &ops[b].route;
			ck_assert_msg(q->path == NULL ||
			    strcmp(q->path, r->path) != 0 ||
			    q->method != r->method, "%s twice", r->path);
		}
	}
	ck_assert_str_eq(ops[OP_RULES].route.path, "/v1/rules");
	ck_assert_int_eq(ops[OP_RULES].route.method, EVHTTP_REQ_GET);
}
END_TEST

/* Rule i of a rules reply is name, action, mode, score, hits. */
static void
rule_is(const json_t *reply, size_t i, const char *name, const char *action,
    const char *mode, int score, int hits)
{
	const json_t	*r = json_array_get(json_object_get(reply, "rules"), i);

	ck_assert_str_eq(json_string_value(json_object_get(r, "rule")), name);
	ck_assert_str_eq(json_string_value(json_object_get(r, "action")),
	    action);
	ck_assert_str_eq(json_string_value(json_object_get(r, "mode")), mode);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "score")), score);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "hits")), hits);
}

/* The rules op, on a daemon of its rule set and counters alone. */
START_TEST(test_rules_op)
{
	static const char	 src[] =
	    "rule t.deny { when referee.geo.tor action deny score 90 }\n"
	    "rule t.look { when referee.geo.vpn action review score 5 "
	    "mode shadow }\n";
	struct daemon		 d;
	struct ident		*id = unit_ident(NULL);
	struct job		*job;
	json_t			*o;
	char			*diag = NULL;

	memset(&d, 0, sizeof(d));
	d.rules = rules_load_buf("t.rules", src, strlen(src), id,
	    RULES_NOFILES, &diag);
	ck_assert_msg(d.rules != NULL, "%s", diag);
	d.metrics = metrics_new();

	/* A new verdict that matched the shadow rule, back from the writer. */
	job = job_new(JOB_OP);
	job->op = OP_CHECK;
	job->rs = rules_ref(d.rules);
	job->nhits = 1;
	job->hits[0] = 1;
	job->hits_shadow[0] = 1;
	metrics_job_done(&d, job);
	job_free(job);

	job = job_new(JOB_OP);
	job->op = OP_RULES;
	ops[OP_RULES].loop(&d, job);
	ck_assert(job->done);
	o = json_loadb(job->reply, job->replylen, 0, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_is_true(json_object_get(o, "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "ruleset")),
	    rules_hash(d.rules));
	ck_assert_uint_eq(json_array_size(json_object_get(o, "rules")), 2);
	rule_is(o, 0, "t.deny", "deny", "enforce", 90, 0);
	rule_is(o, 1, "t.look", "review", "shadow", 5, 1);
	json_decref(o);
	job_free(job);

	/* No rule set: none, and no rules. */
	rules_unref(d.rules);
	d.rules = NULL;
	job = job_new(JOB_OP);
	ops[OP_RULES].loop(&d, job);
	ck_assert_str_eq(job->reply, "{\"ok\":true,\"ruleset\":\"none\","
	    "\"rules\":[]}");
	job_free(job);
	metrics_free(d.metrics);
	ident_free(id);
}
END_TEST

static Suite *
ops_suite(void)
{
	Suite	*s = suite_create("ops");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_rules_op);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(ops_suite()));
}
