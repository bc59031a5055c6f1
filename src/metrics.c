/* metrics.c: latency, rule hits, the audit log and /metrics; see metrics.h. */
#include "config.h"

#include <sys/resource.h>
#include <sys/time.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "accept.h"
#include "conf.h"
#include "daemon.h"
#include "dataset.h"
#include "ident.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "util.h"
#include "writer.h"

/* Request latency buckets, microseconds (shown in seconds). */
#define LAT_NBUCKETS	12
static const uint64_t lat_bounds_us[LAT_NBUCKETS] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 500000,
	2500000,
};

/* Cumulative buckets, as exposed: le[i] counts values <= bound[i]. */
struct hist {
	uint64_t	le[LAT_NBUCKETS];
	uint64_t	count;
	uint64_t	sum_us;
};

struct rule_hits {
	char		*name;
	uint64_t	 n[2];		/* [0] enforce, [1] shadow */
};

/* 413 and the other refusals of the HTTP parser are sent by libevent. */
static const int http_statuses[] = { 200, 400, 401, 403, 404, 405, 408, 409,
    415, 431, 500, 501, 503 };

struct metrics {
	struct hist		 lat[OP__MAX + 1];	/* OP__MAX: did not decode */
	struct rule_hits	*rules;			/* sorted by name */
	size_t			 nrules;
	uint64_t		 http[nitems(http_statuses) + 1];	/* + other */
	double			 start_time;	/* Unix seconds, for process_* */
};

struct metrics *
metrics_new(void)
{
	struct metrics	*m = xcalloc(1, sizeof(struct metrics));
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	m->start_time = (double)tv.tv_sec + tv.tv_usec / 1e6;
	return (m);
}

void
metrics_free(struct metrics *m)
{
	size_t	i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nrules; i++)
		free(m->rules[i].name);
	free(m->rules);
	free(m);
}

/*
 * The store_stat figures: stats.store in this order, and the /metrics
 * gauges of those with a metric name.
 */
const struct metrics_store_field metrics_store_fields[] = {
	{ "events", offsetof(struct store_stat, events),
	    "store_events", "Events stored." },
	{ "index_entries", offsetof(struct store_stat, index_entries), NULL, NULL },
	{ "links", offsetof(struct store_stat, links), NULL, NULL },
	{ "verdicts", offsetof(struct store_stat, verdicts),
	    "store_verdicts", "Verdicts stored." },
	{ "feedback", offsetof(struct store_stat, feedback),
	    "store_feedback", "Feedback records stored." },
	{ "labels", offsetof(struct store_stat, labels),
	    "store_labels", "Identities and accounts carrying a feedback "
	    "label." },
	{ "list_entries", offsetof(struct store_stat, list_entries),
	    "store_list_entries", "Runtime list keys (a CIDR counts its "
	    "expanded keys)." },
	{ "list_log", offsetof(struct store_stat, list_log),
	    "store_list_log", "List audit records stored." },
	{ "queue_open", offsetof(struct store_stat, queue_open),
	    "queue_open", "Review queue items open (no one has claimed them)." },
	{ "queue_claimed", offsetof(struct store_stat, queue_claimed),
	    "queue_claimed", "Review queue items claimed, not yet decided." },
	{ "queue_decided", offsetof(struct store_stat, queue_decided),
	    "queue_decided", "Review queue items decided." },
	{ "map_size", offsetof(struct store_stat, map_size),
	    "store_map_size_bytes", "Bytes mapped by the store (the map "
	    "size, not what is used)." },
	{ "map_used", offsetof(struct store_stat, map_used),
	    "store_size_bytes", "Bytes of the store in use (its pages up "
	    "to the last one written)." },
	{ "map_max", offsetof(struct store_stat, map_max),
	    "store_map_max_bytes", "The size the map may grow to (map_max)." },
	{ "last_seq", offsetof(struct store_stat, last_seq), NULL, NULL },
	{ "recent_entries", offsetof(struct store_stat, recent_entries),
	    NULL, NULL },
	{ "recent_links", offsetof(struct store_stat, recent_links), NULL, NULL },
	{ "recent_bytes", offsetof(struct store_stat, recent_bytes),
	    "store_recent_bytes", "Memory the recent tier holds, in bytes "
	    "(its tables, index entries and links)." },
	{ "recent_flushes", offsetof(struct store_stat, recent_flushes),
	    NULL, NULL },
	{ "recent_flush_waits", offsetof(struct store_stat,
	    recent_flush_waits), "store_recent_flush_waits",
	    "Ranges of the recent tier whose flush was put off because "
	    "it and the batch would dirty too many pages for one "
	    "transaction." },
	{ "pairs_indexed", offsetof(struct store_stat, pairs_indexed),
	    "store_pairs_indexed", "Pairs of keys the store indexes for the "
	    "rules' count() of two keys." },
	{ "index_swept", offsetof(struct store_stat, index_swept),
	    "store_index_swept", "Index entries and referral ids of events "
	    "retention deleted that its sweep has removed since start." },
	{ "index_sweeping", offsetof(struct store_stat, index_sweeping),
	    "store_index_sweeping", "1 while a cycle of retention's sweep is "
	    "under way." },
};
const size_t metrics_store_nfields = nitems(metrics_store_fields);

uint64_t
metrics_store_value(const struct store_stat *ss, size_t i)
{
	uint64_t	v;

	memcpy(&v, (const char *)ss + metrics_store_fields[i].off, sizeof(v));
	return (v);
}

/* The counters of a rule name, added (in order) when first seen. */
static struct rule_hits *
rule_hits(struct metrics *m, const char *name)
{
	size_t	lo = 0, hi = m->nrules, mid;
	int	cmp;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((cmp = strcmp(name, m->rules[mid].name)) == 0)
			return (&m->rules[mid]);
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	m->rules = xreallocarray(m->rules, m->nrules + 1, sizeof(*m->rules));
	memmove(&m->rules[lo + 1], &m->rules[lo],
	    (m->nrules - lo) * sizeof(*m->rules));
	m->nrules++;
	m->rules[lo].name = xstrdup(name);
	m->rules[lo].n[0] = m->rules[lo].n[1] = 0;
	return (&m->rules[lo]);
}

uint64_t
metrics_rule_hits(struct metrics *m, const char *name, bool shadow)
{
	return (rule_hits(m, name)->n[shadow ? 1 : 0]);
}

void
metrics_job_done(struct daemon *d, const struct job *job)
{
	size_t	i;

	if (job->op != OP_CHECK || job->errcode != NULL || job->replay ||
	    job->rs == NULL)
		return;
	for (i = 0; i < job->nhits; i++)
		rule_hits(d->metrics, rules_rule_name(job->rs,
		    job->hits[i]))->n[job->hits_shadow[i] ? 1 : 0]++;
}

/* The rule names of a reply's "reasons" or "shadow" array: "a,b" or "-". */
static void
audit_rules(struct sbuf *sb, const json_t *arr)
{
	const json_t	*h, *name;
	size_t		 i, n = 0;
	char		 esc[160];

	json_array_foreach(arr, i, h) {
		name = json_object_get(h, "rule");
		if (!json_is_string(name))
			continue;
		sbuf_adds(sb, n++ > 0 ? "," : "");
		sbuf_adds(sb, log_value(json_string_value(name),
		    json_string_length(name), esc, sizeof(esc)));
	}
	if (n == 0)
		sbuf_addc(sb, '-');
}

/*
 * "audit id=... action=deny score=90 rules=a,b shadow=c ruleset=...
 * replay=no version=1", and previous=ACTION for a recheck: taken from the
 * reply itself, so that the line says what the client got. Under
 * flagged, a recheck is audited when it or the version before it is
 * flagged (a deny lifted is news too). The id is the client's and is
 * escaped; nothing else a client sent is in it.
 */
static void
audit(struct daemon *d, const struct job *job)
{
	json_t		*r, *v, *prev;
	struct sbuf	 sb;
	char		 esc[RG_ID_MAX * 4 + 8], *line;
	const char	*pa = NULL;
	size_t		 len;

	if ((r = json_loadb(job->reply, job->replylen, 0, NULL)) == NULL)
		return;
	prev = json_object_get(json_object_get(r, "previous"), "action");
	if (job->op == OP_RECHECK && json_is_string(prev))
		pa = json_string_value(prev);
	if (job->action == ACTION_ALLOW && d->conf->audit_log != AUDIT_ALL &&
	    (pa == NULL || strcmp(pa, "allow") == 0)) {
		json_decref(r);
		return;
	}
	sbuf_init(&sb, 256);
	sbuf_adds(&sb, "audit id=");
	sbuf_adds(&sb, log_value(job->ev.id, job->ev.idlen, esc, sizeof(esc)));
	sbuf_addf(&sb, " action=%s score=", rules_action_name(job->action));
	v = json_object_get(r, "score");
	sbuf_add_int(&sb, json_is_integer(v) ? json_integer_value(v) : 0);
	sbuf_adds(&sb, " rules=");
	audit_rules(&sb, json_object_get(r, "reasons"));
	sbuf_adds(&sb, " shadow=");
	audit_rules(&sb, json_object_get(r, "shadow"));
	v = json_object_get(r, "ruleset");
	sbuf_adds(&sb, " ruleset=");
	sbuf_adds(&sb, json_is_string(v) ? log_value(json_string_value(v),
	    json_string_length(v), esc, sizeof(esc)) : "-");
	sbuf_adds(&sb, job->replay ? " replay=yes" : " replay=no");
	v = json_object_get(r, "version");
	sbuf_adds(&sb, " version=");
	sbuf_add_int(&sb, json_is_integer(v) ? json_integer_value(v) : 1);
	if (pa != NULL) {
		sbuf_adds(&sb, " previous=");
		sbuf_adds(&sb, log_value(pa, strlen(pa), esc, sizeof(esc)));
	}
	json_decref(r);
	line = sbuf_take(&sb, &len);
	log_audit("%s", line);
	free(line);
}

json_t *
metrics_json(const struct metrics *m)
{
	json_t	*o, *lat, *b, *le, *hits;
	size_t	 i, j;

	b = json_array();
	for (i = 0; i < LAT_NBUCKETS; i++)
		json_array_append_new(b, json_integer((json_int_t)
		    lat_bounds_us[i]));
	lat = json_pack("{s:o}", "bounds_us", b);
	for (i = 0; i < OP__MAX; i++) {
		if (m->lat[i].count == 0)
			continue;
		le = json_array();
		for (j = 0; j < LAT_NBUCKETS; j++)
			json_array_append_new(le, json_integer((json_int_t)
			    m->lat[i].le[j]));
		json_object_set_new(lat, req_op_name((int)i), json_pack(
		    "{s:I,s:I,s:o}", "count", (json_int_t)m->lat[i].count,
		    "sum_us", (json_int_t)m->lat[i].sum_us, "le", le));
	}
	hits = json_object();
	for (i = 0; i < m->nrules; i++)
		json_object_set_new(hits, m->rules[i].name, json_pack(
		    "{s:I,s:I}", "enforce", (json_int_t)m->rules[i].n[0],
		    "shadow", (json_int_t)m->rules[i].n[1]));
	o = json_pack("{s:o,s:o}", "latency", lat, "rule_hits", hits);
	return (o);
}

void
metrics_replied(struct daemon *d, const struct job *job)
{
	struct hist	*h;
	uint64_t	 us = mono_us() - job->t_start;
	size_t		 i;

	h = &d->metrics->lat[job->op >= 0 && job->op < OP__MAX ? job->op :
	    OP__MAX];
	h->count++;
	h->sum_us += us;
	for (i = 0; i < LAT_NBUCKETS; i++)
		if (us <= lat_bounds_us[i])
			h->le[i]++;
	if (d->conf->audit_log != AUDIT_NONE && (job->op == OP_CHECK ||
	    job->op == OP_RECHECK) && job->errcode == NULL && job->reply != NULL)
		audit(d, job);
}

void
metrics_http_status(struct daemon *d, int status)
{
	size_t	i;

	for (i = 0; i < nitems(http_statuses); i++)
		if (http_statuses[i] == status)
			break;
	d->metrics->http[i]++;
}

/* ---- the exposition format ------------------------------------------ */

static void
family(struct sbuf *sb, const char *name, const char *type, const char *help)
{
	sbuf_addf(sb, "# HELP refguard_%s %s\n# TYPE refguard_%s %s\n", name,
	    help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
label(struct sbuf *sb, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			sbuf_adds(sb, "\\\\");
		else if (*s == '"')
			sbuf_adds(sb, "\\\"");
		else if (*s == '\n')
			sbuf_adds(sb, "\\n");
		else
			sbuf_addc(sb, *s);
	}
}

/* name{key="value"} v, or name v when key is NULL. */
static void
sample(struct sbuf *sb, const char *name, const char *key, const char *value,
    uint64_t v)
{
	sbuf_addf(sb, "refguard_%s", name);
	if (key != NULL) {
		sbuf_addf(sb, "{%s=\"", key);
		label(sb, value);
		sbuf_adds(sb, "\"}");
	}
	sbuf_addf(sb, " %llu\n", (unsigned long long)v);
}

/*
 * One histogram series: le buckets (bounds scaled by 1/scale), +Inf,
 * _sum (sum / scale) and _count. labels: "" or `op="check",`.
 */
static void
histogram(struct sbuf *sb, const char *name, const char *labels,
    const uint64_t *bounds, const uint64_t *le, size_t n, uint64_t count,
    uint64_t sum, double scale)
{
	size_t	i;

	for (i = 0; i < n; i++)
		sbuf_addf(sb, "refguard_%s_bucket{%sle=\"%.9g\"} %llu\n", name,
		    labels, (double)bounds[i] / scale,
		    (unsigned long long)le[i]);
	sbuf_addf(sb, "refguard_%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
	    (unsigned long long)count);
	if (*labels != '\0') {
		/* `op="x",` -> `{op="x"}` */
		sbuf_addf(sb, "refguard_%s_sum{%.*s} %.9g\n", name,
		    (int)strlen(labels) - 1, labels, (double)sum / scale);
		sbuf_addf(sb, "refguard_%s_count{%.*s} %llu\n", name,
		    (int)strlen(labels) - 1, labels, (unsigned long long)count);
	} else {
		sbuf_addf(sb, "refguard_%s_sum %.9g\n", name,
		    (double)sum / scale);
		sbuf_addf(sb, "refguard_%s_count %llu\n", name,
		    (unsigned long long)count);
	}
}

/*
 * What evaluating each rule in service costs (rules_rule_cost): a
 * summary without quantiles, from the set's going into service (a
 * reload starts it again, as a counter reset).
 */
static void
metrics_rule_cost(struct sbuf *sb, const struct ruleset *rs)
{
	char		help[160];
	uint64_t	n, ns;
	size_t		i;

	snprintf(help, sizeof(help), "Time evaluating each rule in service, "
	    "from the evaluations timed (one in %d on each thread) since the "
	    "rule set went into service.", RULES_COST_EVERY);
	family(sb, "rule_eval_seconds", "summary", help);
	for (i = 0; rs != NULL && i < rules_count(rs); i++) {
		rules_rule_cost(rs, (uint32_t)i, &n, &ns);
		sbuf_adds(sb, "refguard_rule_eval_seconds_sum{rule=\"");
		label(sb, rules_rule_name(rs, (uint32_t)i));
		sbuf_addf(sb, "\"} %llu.%09llu\n", (unsigned long long)(ns /
		    1000000000), (unsigned long long)(ns % 1000000000));
		sbuf_adds(sb, "refguard_rule_eval_seconds_count{rule=\"");
		label(sb, rules_rule_name(rs, (uint32_t)i));
		sbuf_addf(sb, "\"} %llu\n", (unsigned long long)n);
	}
}

static void
metrics_requests(struct sbuf *sb, struct daemon *d)
{
	struct metrics	*m = d->metrics;
	char		 labels[64];
	size_t		 i;

	family(sb, "requests_total", "counter", "Requests decoded, by op.");
	for (i = 0; i < OP__MAX; i++)
		sample(sb, "requests_total", "op", req_op_name(i),
		    d->stats.requests[i]);
	family(sb, "request_errors_total", "counter",
	    "Error replies, by error code.");
	for (i = 0; i < nitems(req_error_codes); i++)
		sample(sb, "request_errors_total", "code", req_error_codes[i],
		    d->stats.errors_by_code[i]);
	family(sb, "request_duration_seconds", "histogram", "Time from "
	    "decoding a request to handing its reply to the connection, by "
	    "op (invalid: requests that did not decode).");
	for (i = 0; i <= OP__MAX; i++) {
		snprintf(labels, sizeof(labels), "op=\"%s\",", i < OP__MAX ?
		    req_op_name(i) : "invalid");
		histogram(sb, "request_duration_seconds", labels, lat_bounds_us,
		    m->lat[i].le, LAT_NBUCKETS, m->lat[i].count,
		    m->lat[i].sum_us, 1e6);
	}
	family(sb, "checks_total", "counter",
	    "New verdicts, by action (replays not included).");
	for (i = 0; i < 3; i++)
		sample(sb, "checks_total", "action", rules_action_name((int)i),
		    d->stats.actions[i]);
	family(sb, "check_replays_total", "counter",
	    "Checks answered with the stored verdict of a known id.");
	sample(sb, "check_replays_total", NULL, NULL, d->stats.replays);
	family(sb, "observes_total", "counter", "Events observed.");
	sample(sb, "observes_total", NULL, NULL, d->stats.observes);
	family(sb, "rule_hits_total", "counter",
	    "Rule matches in new verdicts, by rule and mode.");
	/* Every rule in service has its series from the start, at zero;
	 * a rule dropped by a reload keeps its counts. */
	for (i = 0; d->rules != NULL && i < rules_count(d->rules); i++)
		(void)rule_hits(m, rules_rule_name(d->rules, (uint32_t)i));
	for (i = 0; i < m->nrules; i++) {
		sbuf_adds(sb, "refguard_rule_hits_total{rule=\"");
		label(sb, m->rules[i].name);
		sbuf_addf(sb, "\",mode=\"enforce\"} %llu\n",
		    (unsigned long long)m->rules[i].n[0]);
		sbuf_adds(sb, "refguard_rule_hits_total{rule=\"");
		label(sb, m->rules[i].name);
		sbuf_addf(sb, "\",mode=\"shadow\"} %llu\n",
		    (unsigned long long)m->rules[i].n[1]);
	}
	metrics_rule_cost(sb, d->rules);
}

/* Cluster mode (cluster.h): where this node is in the log. */
static void
metrics_cluster(struct sbuf *sb, const struct cluster_stats *cs)
{
	const struct {
		const char	*name, *type, *help;
		uint64_t	 v;
	} m[] = {
		{ "cluster_connected", "gauge",
		    "1 while connected to a NATS server.", cs->connected },
		{ "cluster_ready", "gauge", "1 once the stream is set up and "
		    "consumed (0 while JetStream did not answer at start-up: "
		    "writes are refused).", cs->ready },
		{ "cluster_stalled", "gauge", "1 while this node cannot apply "
		    "the log (stats says why).", cs->stalled },
		{ "cluster_applied_seq", "gauge",
		    "The last stream sequence this store applied.",
		    cs->applied_seq },
		{ "cluster_stream_seq", "gauge",
		    "The stream's last sequence, as last heard.",
		    cs->stream_seq },
		{ "cluster_lag_messages", "gauge",
		    "Messages of the stream not applied here yet.",
		    cs->stream_seq > cs->applied_seq ?
		    cs->stream_seq - cs->applied_seq : 0 },
		{ "cluster_applied_total", "counter",
		    "Messages of the log applied since start-up.", cs->applied },
		{ "cluster_published_total", "counter",
		    "Client writes this node published to the log.",
		    cs->published },
		{ "cluster_publish_errors_total", "counter",
		    "Publishes the stream did not acknowledge.",
		    cs->publish_errors },
		{ "cluster_ruleset_mismatches_total", "counter",
		    "Checks applied with another rule set than the origin's.",
		    cs->ruleset_mismatches },
	};
	size_t	i;

	for (i = 0; i < nitems(m); i++) {
		family(sb, m[i].name, m[i].type, m[i].help);
		sample(sb, m[i].name, NULL, NULL, m[i].v);
	}
}

static void
metrics_store(struct sbuf *sb, struct daemon *d, const struct stats_snap *snap)
{
	const struct writer_stats	*ws = &snap->ws;
	const char			*cause = snap->store_error;
	char				 esc[512];
	size_t				 i;

	family(sb, "commit_batch_jobs", "histogram",
	    "Jobs written by each committed transaction.");
	histogram(sb, "commit_batch_jobs", "", writer_batch_bounds,
	    ws->batch_le, WRITER_NBUCKETS, ws->commits, ws->jobs, 1);
	family(sb, "commit_duration_seconds", "histogram",
	    "Time to run and commit (and sync) each write transaction.");
	histogram(sb, "commit_duration_seconds", "", writer_commit_bounds_us,
	    ws->commit_le, WRITER_NBUCKETS, ws->commits, ws->commit_us_total,
	    1e6);
	family(sb, "commit_failures_total", "counter",
	    "Write transactions that failed (their jobs got errors).");
	sample(sb, "commit_failures_total", NULL, NULL, ws->failed_batches);
	family(sb, "eval_threads", "gauge",
	    "Threads that evaluate checks' rules (eval_threads).");
	sample(sb, "eval_threads", NULL, NULL, ws->eval_threads);
	family(sb, "parallel_jobs_total", "counter",
	    "Checks and observes committed from runs evaluated on several "
	    "threads.");
	sample(sb, "parallel_jobs_total", NULL, NULL, ws->par_jobs);
	family(sb, "store_full", "gauge",
	    "1 while the store cannot write (map_max reached).");
	sample(sb, "store_full", NULL, NULL, ws->full ? 1 : 0);
	family(sb, "store_write_failing", "gauge",
	    "1 while the last write failed (store_full or store_error).");
	sample(sb, "store_write_failing", NULL, NULL,
	    ws->write_error != NULL ? 1 : 0);
	family(sb, "expired_events_total", "counter",
	    "Events removed by retention.");
	sample(sb, "expired_events_total", NULL, NULL, d->stats.expired);
	if (cause != NULL) {
		log_warn("metrics without store statistics error=%s",
		    log_value(cause, strlen(cause), esc, sizeof(esc)));
		return;
	}
	for (i = 0; i < metrics_store_nfields; i++) {
		if (metrics_store_fields[i].metric == NULL)
			continue;
		family(sb, metrics_store_fields[i].metric, "gauge",
		    metrics_store_fields[i].help);
		sample(sb, metrics_store_fields[i].metric, NULL, NULL,
		    metrics_store_value(&snap->ss, i));
	}
}

/* One gauge of each data set: name{kind=,name=,path=} v. */
struct data_gauge {
	struct sbuf	*sb;
	const char	*metric;
};

static void
data_sample(const struct dataset *s, void *arg)
{
	struct data_gauge	*g = arg;
	int64_t			 v;

	if (strcmp(g->metric, "data_built_timestamp_seconds") == 0)
		v = s->epoch;
	else if (strcmp(g->metric, "data_stale") == 0)
		v = s->stale;
	else if (strcmp(g->metric, "data_age_seconds") == 0)
		v = s->built != NULL ? s->age_s : -1;
	else if (strcmp(g->metric, "data_entries") == 0)
		v = s->entries;
	else
		v = s->bytes;
	if (v < 0)
		return;
	sbuf_addf(g->sb, "refguard_%s{set=\"%s", g->metric,
	    strcmp(s->kind, "list") == 0 ? "list:" : "");
	label(g->sb, s->name);
	sbuf_addf(g->sb, "\",kind=\"%s\",name=\"", s->kind);
	label(g->sb, s->name);
	sbuf_adds(g->sb, "\",path=\"");
	label(g->sb, s->path != NULL ? s->path : "");
	sbuf_addf(g->sb, "\"} %lld\n", (long long)v);
}

static void
metrics_data(struct sbuf *sb, const struct stats_snap *snap)
{
	static const struct {
		const char	*metric;
		const char	*help;
	} gauges[] = {
		{ "data_built_timestamp_seconds", "When each data set was "
		    "built (a database's metadata) or last modified (a list "
		    "file), Unix seconds." },
		{ "data_age_seconds", "Seconds since each data set was built "
		    "or modified." },
		{ "data_stale", "1 when a data set is older than "
		    "data_max_age (0 without data_max_age)." },
		{ "data_bytes", "Size of each data set's file." },
		{ "data_entries", "Entries of each list (not of databases)." },
	};
	struct data_gauge	 g = { sb, NULL };
	json_t			*data = snap->data, *updater, *epoch;
	size_t			 i;

	for (i = 0; i < nitems(gauges); i++) {
		family(sb, gauges[i].metric, "gauge", gauges[i].help);
		g.metric = gauges[i].metric;
		dataset_foreach(data, data_sample, &g);
	}
	updater = json_object_get(data, "updater");
	epoch = json_object_get(updater, "last_success_epoch");
	if (json_is_integer(epoch)) {
		family(sb, "data_updater_last_success_timestamp_seconds",
		    "gauge", "When refguard-update-data last succeeded "
		    "(data_stamp_file), Unix seconds.");
		sample(sb, "data_updater_last_success_timestamp_seconds", NULL,
		    NULL, (uint64_t)json_integer_value(epoch));
	}
}

/* Ruleset, reloads, GeoIP databases: from what the stats op shows. */
static void
metrics_config(struct sbuf *sb, struct daemon *d, const struct stats_snap *snap)
{
	json_t		*dbs, *db, *path, *epoch;
	size_t		 i;

	family(sb, "ruleset_info", "gauge",
	    "The rule set in service (its hash as a label); always 1.");
	sample(sb, "ruleset_info", "hash", d->rules != NULL ?
	    rules_hash(d->rules) : "none", 1);
	family(sb, "ruleset_rules", "gauge", "Rules in the rule set in service.");
	sample(sb, "ruleset_rules", NULL, NULL, d->rules != NULL ?
	    rules_count(d->rules) : 0);
	family(sb, "reloads_total", "counter", "Reloads run (requests made "
	    "while one runs share the next).");
	sample(sb, "reloads_total", NULL, NULL, d->reloads);
	family(sb, "reload_failures_total", "counter",
	    "Reloads that failed (the old rules and data kept serving).");
	sample(sb, "reload_failures_total", NULL, NULL, d->reload_failures);

	family(sb, "geoip_build_timestamp_seconds", "gauge",
	    "Build time of each GeoIP database (its metadata), Unix seconds.");
	dbs = json_object_get(snap->data, "geoip");
	json_array_foreach(dbs, i, db) {
		path = json_object_get(db, "path");
		epoch = json_object_get(db, "build_epoch");
		if (json_is_string(path) && json_is_integer(epoch))
			sample(sb, "geoip_build_timestamp_seconds", "db",
			    json_string_value(path),
			    (uint64_t)json_integer_value(epoch));
	}
	metrics_data(sb, snap);
}

/* The counters of each listener's guard (accept.h). */
static const struct {
	const char	*name;
	const char	*help;
	uint64_t	(*get)(const struct accept_guard *);
} accept_counters[] = {
	{ "accept_backoffs_total", "Times a listener stopped accepting for "
	    "a while: out of file descriptors.", accept_guard_backoffs },
	{ "accept_refused_total", "Connections accepted with the reserve "
	    "descriptor and refused, out of descriptors.",
	    accept_guard_refused },
};

/* The version the daemon was built as; always 1. */
static void
metrics_build_info(struct sbuf *sb)
{
	family(sb, "build_info", "gauge", "The version and build of the "
	    "running daemon, as labels; always 1.");
	sbuf_adds(sb, "refguard_build_info{version=\"");
	label(sb, PACKAGE_VERSION);
#ifdef HAVE_SYSTEMD
	sbuf_adds(sb, "\",systemd=\"yes\"} 1\n");
#else
	sbuf_adds(sb, "\",systemd=\"no\"} 1\n");
#endif
}

/* Descriptors open: the entries of /proc/self/fd less the one reading it. */
static int64_t
metrics_open_fds(void)
{
	DIR		*dir;
	struct dirent	*de;
	int64_t		 n = 0;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return (n - 1);
}

/* Resident set size from /proc/self/statm (pages), or -1. */
static int64_t
metrics_rss(void)
{
	FILE		*f;
	long long	 size, rss;
	int		 ok;

	if ((f = fopen("/proc/self/statm", "r")) == NULL)
		return (-1);
	ok = fscanf(f, "%lld %lld", &size, &rss) == 2;
	fclose(f);
	return (ok ? rss * sysconf(_SC_PAGESIZE) : -1);
}

/*
 * The standard process_* metrics of Prometheus client libraries (no
 * refguard_ prefix): what an exporter's dashboards expect. A figure the
 * sandbox hides (/proc) is left out rather than made up.
 */
static void
metrics_process(struct sbuf *sb, struct metrics *m)
{
	struct rusage	ru;
	struct rlimit	rl;
	int64_t		v;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		sbuf_adds(sb, "# HELP process_cpu_seconds_total Total user and "
		    "system CPU time spent in seconds.\n"
		    "# TYPE process_cpu_seconds_total counter\n");
		sbuf_addf(sb, "process_cpu_seconds_total %.6f\n",
		    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	}
	if ((v = metrics_rss()) >= 0) {
		sbuf_adds(sb, "# HELP process_resident_memory_bytes Resident "
		    "memory size in bytes.\n"
		    "# TYPE process_resident_memory_bytes gauge\n");
		sbuf_addf(sb, "process_resident_memory_bytes %lld\n",
		    (long long)v);
	}
	if ((v = metrics_open_fds()) >= 0) {
		sbuf_adds(sb, "# HELP process_open_fds Number of open file "
		    "descriptors.\n# TYPE process_open_fds gauge\n");
		sbuf_addf(sb, "process_open_fds %lld\n", (long long)v);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		sbuf_adds(sb, "# HELP process_max_fds Maximum number of open "
		    "file descriptors.\n# TYPE process_max_fds gauge\n");
		sbuf_addf(sb, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
	sbuf_adds(sb, "# HELP process_start_time_seconds Start time of the "
	    "process since unix epoch in seconds.\n"
	    "# TYPE process_start_time_seconds gauge\n");
	sbuf_addf(sb, "process_start_time_seconds %.3f\n", m->start_time);
}

char *
metrics_text(struct daemon *d, const struct stats_snap *snap, size_t *len)
{
	const struct http_stats	*hs = d->http_stats;
	struct sbuf		 sb;
	size_t			 i;
	char			 status[8];

	sbuf_init(&sb, 16384);
	metrics_build_info(&sb);
	metrics_process(&sb, d->metrics);
	family(&sb, "uptime_seconds", "gauge", "Seconds since start-up.");
	sample(&sb, "uptime_seconds", NULL, NULL,
	    (mono_us() - d->started_mono) / 1000000);
	family(&sb, "connections_open", "gauge",
	    "Client connections open, by listener.");
	sample(&sb, "connections_open", "listener", "ndjson", d->nconns);
	if (d->http != NULL)
		sample(&sb, "connections_open", "listener", "http",
		    hs != NULL ? hs->conns : 0);
	family(&sb, "connections_total", "counter",
	    "NDJSON connections accepted (refused ones included).");
	sample(&sb, "connections_total", NULL, NULL, d->stats.conns_total);
	family(&sb, "connections_refused_total", "counter",
	    "NDJSON connections refused at max_connections or while stopping.");
	sample(&sb, "connections_refused_total", NULL, NULL,
	    d->stats.conns_refused);
	for (i = 0; i < nitems(accept_counters); i++) {
		family(&sb, accept_counters[i].name, "counter",
		    accept_counters[i].help);
		sample(&sb, accept_counters[i].name, "listener", "ndjson",
		    accept_counters[i].get(d->guard));
		if (d->http != NULL)
			sample(&sb, accept_counters[i].name, "listener", "http",
			    accept_counters[i].get(d->http_guard));
	}
	family(&sb, "reply_buffered_bytes", "gauge", "Reply bytes made and not "
	    "yet written to a socket (max_outbuf_total bounds them).");
	sample(&sb, "reply_buffered_bytes", NULL, NULL, d->replies.buffered);
	family(&sb, "reply_buffered_peak_bytes", "gauge",
	    "The highest reply_buffered_bytes since start-up.");
	sample(&sb, "reply_buffered_peak_bytes", NULL, NULL, d->replies.peak);
	family(&sb, "reply_reserved_bytes", "gauge",
	    "Estimated bytes of the replies being made.");
	sample(&sb, "reply_reserved_bytes", NULL, NULL, d->replies.reserved);
	family(&sb, "connections_paused", "gauge", "NDJSON connections not "
	    "read until their client reads its replies (max_outbuf).");
	sample(&sb, "connections_paused", NULL, NULL, snap->paused);
	family(&sb, "reply_limit_closes_total", "counter", "Connections "
	    "closed because unsent replies exceeded max_outbuf_total.");
	sample(&sb, "reply_limit_closes_total", NULL, NULL, d->replies.closed);
	metrics_requests(&sb, d);
	metrics_store(&sb, d, snap);
	if (snap->clustered)
		metrics_cluster(&sb, &snap->cs);
	metrics_config(&sb, d, snap);
	if (d->http != NULL && hs != NULL) {
		family(&sb, "http_connections_total", "counter",
		    "HTTP connections accepted (refused ones included).");
		sample(&sb, "http_connections_total", NULL, NULL,
		    hs->conns_total);
		family(&sb, "http_connections_refused_total", "counter",
		    "HTTP connections refused past http_max_connections.");
		sample(&sb, "http_connections_refused_total", NULL, NULL,
		    hs->conns_refused);
		family(&sb, "http_request_timeouts_total", "counter", "HTTP "
		    "requests not whole within http_timeout of their first "
		    "byte.");
		sample(&sb, "http_request_timeouts_total", NULL, NULL,
		    hs->timeouts);
		family(&sb, "http_bad_requests_total", "counter",
		    "HTTP requests refused for breaking HTTP/1.1.");
		sample(&sb, "http_bad_requests_total", NULL, NULL, hs->bad);
		family(&sb, "http_forbidden_total", "counter",
		    "HTTP requests refused for a foreign Host or Origin.");
		sample(&sb, "http_forbidden_total", NULL, NULL, hs->forbidden);
		family(&sb, "http_responses_total", "counter",
		    "HTTP responses, by status (other: any status not listed).");
		for (i = 0; i <= nitems(http_statuses); i++) {
			if (i < nitems(http_statuses))
				snprintf(status, sizeof(status), "%d",
				    http_statuses[i]);
			else
				snprintf(status, sizeof(status), "other");
			sample(&sb, "http_responses_total", "status", status,
			    d->metrics->http[i]);
		}
	}
	return (sbuf_take(&sb, len));
}
