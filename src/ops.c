/* ops.c: the table of the ops refguardd serves, their handlers; see ops.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "analyst.h"
#include "daemon.h"
#include "graph.h"
#include "metrics.h"
#include "queue.h"
#include "ops.h"
#include "rules.h"
#include "stats.h"
#include "store.h"
#include "util.h"
#include "verdict.h"
#include "writer.h"

/* ---- on the loop ----------------------------------------------------- */

static void
op_ping(struct daemon *d, struct job *job)
{
	job->reply = xstrdup("{\"ok\":true}");
	job->replylen = strlen(job->reply);
	job->done = true;
}

static void
op_stats(struct daemon *d, struct job *job)
{
	job->reply = stats_json(d, &job->replylen);
	job->done = true;
}

static void
op_reload(struct daemon *d, struct job *job)
{
	d->reload(d, job);		/* answered when it ends */
}

/*
 * The rule set in service, rule by rule in file order: its action, whether
 * it enforces or only shadows, its score, its desc (msg, as reasons show
 * it), its score group and that group's cap, how often it matched in new
 * verdicts since start (the counters of /metrics rule_hits_total), and
 * what evaluating it costs: the evaluations timed since the set went into
 * service and their mean in nanoseconds (rules_rule_cost).
 */
static void
op_rules(struct daemon *d, struct job *job)
{
	json_t		*o, *arr, *r;
	const char	*name, *group;
	uint64_t	 timed, ns;
	int64_t		 cap;
	uint32_t	 i, n;
	bool		 shadow;

	arr = json_array();
	n = d->rules != NULL ? (uint32_t)rules_count(d->rules) : 0;
	for (i = 0; i < n; i++) {
		name = rules_rule_name(d->rules, i);
		shadow = rules_rule_shadow(d->rules, i);
		r = json_pack("{s:s,s:s,s:s,s:i,s:I}", "rule", name,
		    "action", rules_action_name(rules_rule_action(d->rules, i)),
		    "mode", shadow ? "shadow" : "enforce",
		    "score", (int)rules_rule_score(d->rules, i),
		    "hits", (json_int_t)metrics_rule_hits(d->metrics, name,
		    shadow));
		if (rules_rule_msg(d->rules, i) != NULL)
			json_object_set_new(r, "msg", json_string(
			    rules_rule_msg(d->rules, i)));
		if ((group = rules_rule_group(d->rules, i, &cap)) != NULL) {
			json_object_set_new(r, "group", json_string(group));
			if (cap >= 0)
				json_object_set_new(r, "group_cap",
				    json_integer((json_int_t)cap));
		}
		rules_rule_cost(d->rules, i, &timed, &ns);
		json_object_set_new(r, "timed", json_integer((json_int_t)timed));
		json_object_set_new(r, "cost_ns", json_integer(timed == 0 ? 0 :
		    (json_int_t)(ns / timed)));
		json_array_append_new(arr, r);
	}
	o = json_pack("{s:b,s:s,s:o}", "ok", 1, "ruleset", d->rules != NULL ?
	    rules_hash(d->rules) : "none", "rules", arr);
	job->reply = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (job->reply == NULL)
		job->reply = xstrdup("{\"error\":{\"code\":\"internal\","
		    "\"msg\":\"rules\"}}");
	job->replylen = strlen(job->reply);
	job->done = true;
}

/* ---- on the writer thread -------------------------------------------- */

/*
 * The answers every verdict handler shares: rc from verdict.h (< 0: store
 * error; VERDICT_CORRUPT: the record fails its checksum; 0: v is the
 * reply). Returns what writer_job returns, or 1 when rc is for the
 * caller to answer.
 */
static int
op_verdict_rc(struct job *job, int rc, struct verdict *v)
{
	if (rc < 0)
		return (-1);
	if (rc == VERDICT_CORRUPT) {
		job_set_corrupt(job);
		return (0);
	}
	if (rc > 0)
		return (1);
	job_set_reply(job, v);
	return (0);
}


static int
op_check(struct store_txn *txn, struct job *job)
{
	struct verdict	v = { 0 };

	return (op_verdict_rc(job, verdict_check(txn, job->rs, &job->ev, &v),
	    &v));
}

/* op_check in three steps (ops.h: begin, eval, end). */
static int
op_check_begin(struct store_txn *txn, struct job *job)
{
	struct verdict	v = { 0 };
	int		rc;

	job->ev.seq = 0;
	if ((rc = verdict_check_begin(txn, job->rs, &job->ev, &v)) == 0) {
		if (job->ve == NULL)
			job->ve = verdict_eval_new();
		return (0);
	}
	if (rc == 1)
		rc = 0;		/* a replay: v is its reply */
	rc = op_verdict_rc(job, rc, &v);
	return (rc < 0 ? -1 : 1);
}

static int
op_check_eval(struct store_txn *txn, struct job *job)
{
	return (verdict_check_eval(job->rs, &job->ev, txn, job->ve));
}

static int
op_check_end(struct store_txn *txn, struct job *job)
{
	struct verdict	v = { 0 };

	return (op_verdict_rc(job, verdict_check_end(txn, job->rs, &job->ev,
	    job->ve, &v), &v));
}

static int
op_observe(struct store_txn *txn, struct job *job)
{
	struct verdict	v = { 0 };

	return (op_verdict_rc(job, verdict_observe(txn, &job->ev, &v) != 0 ?
	    -1 : 0, &v));
}

static int
op_observe_begin(struct store_txn *txn, struct job *job)
{
	job->ev.seq = 0;
	return (op_observe(txn, job) < 0 ? -1 : 1);
}

/* verdict and explain. */
static int
op_lookup(struct store_txn *txn, struct job *job)
{
	struct verdict	v = { 0 };
	int		rc;

	rc = op_verdict_rc(job, verdict_lookup(txn, job->ev.id, job->ev.idlen,
	    job->op == OP_EXPLAIN, &v), &v);
	if (rc == 1) {
		job_set_error(job, "not_found", NULL,
		    "no verdict for this id");
		return (0);
	}
	return (rc);
}

static int
op_recheck(struct store_txn *txn, struct job *job)
{
	struct verdict	v = { 0 };
	int		rc;

	rc = verdict_recheck(txn, job->rs, job->ev.id, job->ev.idlen,
	    job->ev.ts, job->ev.ts_given, &v);
	if (op_verdict_rc(job, rc, &v) != 1)
		return (rc < 0 ? -1 : 0);
	if (rc == 1)
		job_set_error(job, "not_found", NULL, "no verdict for this "
		    "id, or its event is gone (retention)");
	else if (rc == VERDICT_TOO_EARLY) {
		job_set_error(job, "bad_request", "ts",
		    "before the referral (%s)", v.reply);
		verdict_clear(&v);
	} else
		job_set_error(job, "limit", NULL, "this verdict has been "
		    "re-checked too often");
	return (0);
}

/*
 * feedback, list.* (analyst.h), verdicts.list (verdict_list.h) and
 * stats.daily (daily.h).
 */
static int
op_analyst(struct store_txn *txn, struct job *job)
{
	struct verdict	 v = { 0 };
	const char	*code;
	int		 rc;

	rc = analyst_run(txn, job->op, &job->ev, job->ar, job->ev.ts, &v,
	    &code);
	if (rc < 0)
		return (-1);
	if (rc > 0) {
		job_set_error(job, code, NULL, "%s", job->op == OP_FEEDBACK ?
		    "no verdict for this id, or its event is gone (retention)" :
		    "no such value in the list");
		return (0);
	}
	job_set_reply(job, &v);
	return (0);
}

/* queue.* (queue.h). */
static int
op_queue(struct store_txn *txn, struct job *job)
{
	struct verdict	 v = { 0 };
	const char	*code = "not_found";
	char		 msg[256];
	int		 rc;

	rc = queue_run(txn, job->op, &job->ev, job->ar, job->ev.ts, &v, &code,
	    msg, sizeof(msg));
	if (rc < 0)
		return (-1);
	if (rc > 0) {
		job_set_error(job, code, NULL, "%s", msg);
		return (0);
	}
	job_set_reply(job, &v);
	return (0);
}

/* The graph of a referral (graph.h): what the console draws. */
static int
op_graph(struct store_txn *txn, struct job *job)
{
	struct verdict	v = { 0 };
	int		rc;

	rc = op_verdict_rc(job, graph_run(txn, &job->ev, job->ar, &v),
	    &v);
	if (rc == 1) {
		job_set_error(job, "not_found", NULL, "no verdict for this "
		    "id, or its event is gone (retention)");
		return (0);
	}
	return (rc);
}

/* ---- the table --------------------------------------------------------- */

#define GET	EVHTTP_REQ_GET
#define POST	EVHTTP_REQ_POST
#define PUT	EVHTTP_REQ_PUT
#define DELETE	EVHTTP_REQ_DELETE

const struct op_def ops[OP__MAX] = {
	[OP_PING] = { OP_PING, OP_LOOP, .loop = op_ping },
	[OP_CHECK] = { OP_CHECK, OP_WRITER_WRITE, .rules = true,
	    .replicate = true, .txn = op_check, .begin = op_check_begin,
	    .eval = op_check_eval, .end = op_check_end,
	    .route = { "/v1/check", POST, { NULL }, true } },
	[OP_OBSERVE] = { OP_OBSERVE, OP_WRITER_WRITE, .replicate = true,
	    .txn = op_observe, .begin = op_observe_begin,
	    .route = { "/v1/observe", POST, { NULL }, true } },
	[OP_VERDICT] = { OP_VERDICT, OP_WRITER_READ, .txn = op_lookup,
	    .route = { "/v1/verdicts/*", GET, { "id" }, false } },
	[OP_EXPLAIN] = { OP_EXPLAIN, OP_WRITER_READ, .heavy = true,
	    .txn = op_lookup,
	    .route = { "/v1/verdicts/*/explain", GET, { "id" }, false } },
	[OP_STATS] = { OP_STATS, OP_LOOP, .loop = op_stats,
	    .route = { "/v1/stats", GET, { NULL }, false } },
	[OP_RELOAD] = { OP_RELOAD, OP_LOOP, .loop = op_reload,
	    .route = { "/v1/reload", POST, { NULL }, false } },
	[OP_RECHECK] = { OP_RECHECK, OP_WRITER_WRITE, .rules = true,
	    .replicate = true,
	    .txn = op_recheck,
	    .route = { "/v1/verdicts/*/recheck", POST, { "id" }, true } },
	[OP_FEEDBACK] = { OP_FEEDBACK, OP_WRITER_WRITE, .replicate = true,
	    .txn = op_analyst,
	    .route = { "/v1/feedback", POST, { NULL }, true } },
	[OP_LIST_ADD] = { OP_LIST_ADD, OP_WRITER_WRITE, .replicate = true,
	    .txn = op_analyst,
	    .route = { "/v1/lists/*/*", PUT, { "list", "value" }, true } },
	[OP_LIST_DEL] = { OP_LIST_DEL, OP_WRITER_WRITE, .replicate = true,
	    .txn = op_analyst,
	    .route = { "/v1/lists/*/*", DELETE, { "list", "value" }, false } },
	[OP_LIST_GET] = { OP_LIST_GET, OP_WRITER_READ, .txn = op_analyst,
	    .route = { "/v1/lists/*/*", GET, { "list", "value" }, false } },
	[OP_LIST_LOG] = { OP_LIST_LOG, OP_WRITER_READ, .heavy = true,
	    .txn = op_analyst },
	[OP_RULES] = { OP_RULES, OP_LOOP, .loop = op_rules,
	    .route = { "/v1/rules", GET, { NULL }, false } },
	[OP_QUEUE_LIST] = { OP_QUEUE_LIST, OP_WRITER_READ, .heavy = true,
	    .txn = op_queue,
	    .route = { "/v1/queue/list", POST, { NULL }, true } },
	[OP_QUEUE_GET] = { OP_QUEUE_GET, OP_WRITER_READ, .heavy = true,
	    .txn = op_queue,
	    .route = { "/v1/queue/*", GET, { "id" }, false } },
	[OP_QUEUE_CLAIM] = { OP_QUEUE_CLAIM, OP_WRITER_WRITE,
	    .replicate = true, .txn = op_queue,
	    .route = { "/v1/queue/*/claim", POST, { "id" }, true } },
	[OP_QUEUE_UNCLAIM] = { OP_QUEUE_UNCLAIM, OP_WRITER_WRITE,
	    .replicate = true,
	    .txn = op_queue,
	    .route = { "/v1/queue/*/unclaim", POST, { "id" }, true } },
	[OP_QUEUE_DECIDE] = { OP_QUEUE_DECIDE, OP_WRITER_WRITE,
	    .replicate = true,
	    .txn = op_queue,
	    .route = { "/v1/queue/decide", POST, { NULL }, true } },
	[OP_VERDICTS_LIST] = { OP_VERDICTS_LIST, OP_WRITER_READ, .heavy = true,
	    .txn = op_analyst,
	    .route = { "/v1/verdicts/list", POST, { NULL }, true } },
	[OP_GRAPH] = { OP_GRAPH, OP_WRITER_READ, .heavy = true,
	    .txn = op_graph,
	    .route = { "/v1/graph", POST, { NULL }, true } },
	[OP_STATS_DAILY] = { OP_STATS_DAILY, OP_WRITER_READ, .heavy = true,
	    .txn = op_analyst,
	    .route = { "/v1/stats/daily", POST, { NULL }, true } },
};

const struct op_def *
op_get(int op)
{
	return (op >= 0 && op < OP__MAX ? &ops[op] : NULL);
}
