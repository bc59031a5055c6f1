/* stats.c: one snapshot for the stats op and /metrics; see stats.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "accept.h"
#include "cluster.h"
#include "conf.h"
#include "daemon.h"
#include "dataset.h"
#include "ident.h"
#include "metrics.h"
#include "reload.h"
#include "rules.h"
#include "stats.h"
#include "util.h"

void
stats_snap_take(struct daemon *d, struct stats_snap *s)
{
	memset(s, 0, sizeof(*s));
	writer_stats(d->writer, &s->ws);
	s->inflight = writer_inflight(d->writer);
	if (store_stat(d->store, &s->ss, &s->store_error) != 0)
		memset(&s->ss, 0, sizeof(s->ss));
	s->paused = d->replies.paused;
	s->reloading = reload_running(d->reloader);
	if (d->cluster != NULL) {
		s->clustered = true;
		cluster_stats(d->cluster, &s->cs);
	}
	s->data = stats_data_json(d, NULL);
}

void
stats_snap_clear(struct stats_snap *s)
{
	free(s->store_error);
	json_decref(s->data);
	memset(s, 0, sizeof(*s));
}

void *
stats_data_json(struct daemon *d, char **stale)
{
	json_t	*o = ident_info(d->ident);

	json_object_set_new(o, "lists", rules_lists_info(d->rules));
	dataset_dates(o, now_ms() / 1000);
	dataset_freshness(o, d->conf->data_stamp_file,
	    d->conf->data_max_age / 1000, now_ms() / 1000, stale);
	return (o);
}


/* Cluster mode: where this node is in the log (cluster.h). */
static json_t *
stats_cluster_json(const struct cluster_stats *c)
{
	struct cluster_stats	cs = *c;

	return (json_pack("{s:s,s:s,s:b,s:b,s:b,s:o,s:I,s:I,s:I,s:I,s:I,s:I,"
	    "s:I,s:I,s:I}", "node", cs.node, "stream", cs.stream,
	    "connected", cs.connected, "ready", cs.ready,
	    "stalled", cs.stalled,
	    "error", cs.error != NULL ? json_string(cs.error) : json_null(),
	    "applied_seq", (json_int_t)cs.applied_seq,
	    "stream_seq", (json_int_t)cs.stream_seq,
	    "lag", (json_int_t)(cs.stream_seq > cs.applied_seq ?
	    cs.stream_seq - cs.applied_seq : 0),
	    "applied", (json_int_t)cs.applied,
	    "published", (json_int_t)cs.published,
	    "publish_errors", (json_int_t)cs.publish_errors,
	    "ruleset_mismatches", (json_int_t)cs.ruleset_mismatches,
	    "bad_messages", (json_int_t)cs.bad_messages,
	    "waiting", (json_int_t)cs.waiting));
}

char *
stats_json(struct daemon *d, size_t *len)
{
	static const struct http_stats	 none;
	struct stats_snap		 snap;
	const struct http_stats		*hs = d->http_stats != NULL ?
					    d->http_stats : &none;
	json_t				*o, *req, *chk, *err, *st, *rs, *wr,
					*rp, *ac;
	char				*s, when[RFC3339_LEN];
	size_t				 i;

	stats_snap_take(d, &snap);

	o = json_object();
	json_object_set_new(o, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(o, "uptime_s", json_integer(
	    (json_int_t)((mono_us() - d->started_mono) / 1000000)));
	json_object_set_new(o, "connections",
	    json_integer((json_int_t)d->nconns));
	json_object_set_new(o, "connections_total",
	    json_integer((json_int_t)d->stats.conns_total));
	json_object_set_new(o, "connections_refused",
	    json_integer((json_int_t)d->stats.conns_refused));

	ac = json_object();
	json_object_set_new(ac, "ndjson", json_pack("{s:I,s:I}", "backoffs",
	    (json_int_t)accept_guard_backoffs(d->guard), "refused",
	    (json_int_t)accept_guard_refused(d->guard)));
	if (d->http != NULL)
		json_object_set_new(ac, "http", json_pack("{s:I,s:I}",
		    "backoffs", (json_int_t)accept_guard_backoffs(
		    d->http_guard), "refused", (json_int_t)
		    accept_guard_refused(d->http_guard)));
	json_object_set_new(o, "accept", ac);
	if (d->http != NULL) {
		json_object_set_new(o, "http", json_pack("{s:I,s:I,s:I,s:I,s:I,"
		    "s:I}", "connections", (json_int_t)hs->conns,
		    "connections_total", (json_int_t)hs->conns_total,
		    "connections_refused", (json_int_t)hs->conns_refused,
		    "request_timeouts", (json_int_t)hs->timeouts,
		    "bad_requests", (json_int_t)hs->bad,
		    "forbidden", (json_int_t)hs->forbidden));
	}

	rp = json_object();
	json_object_set_new(rp, "buffered",
	    json_integer((json_int_t)d->replies.buffered));
	json_object_set_new(rp, "buffered_peak",
	    json_integer((json_int_t)d->replies.peak));
	json_object_set_new(rp, "reserved",
	    json_integer((json_int_t)d->replies.reserved));
	json_object_set_new(rp, "paused",
	    json_integer((json_int_t)snap.paused));
	json_object_set_new(rp, "closed",
	    json_integer((json_int_t)d->replies.closed));
	json_object_set_new(rp, "heavy",
	    json_integer((json_int_t)d->replies.heavy));
	json_object_set_new(rp, "heavy_waiting",
	    json_integer((json_int_t)d->replies.heavy_waiting));
	json_object_set_new(o, "replies", rp);

	req = json_object();
	for (i = 0; i < OP__MAX; i++)
		json_object_set_new(req, req_op_name(i),
		    json_integer((json_int_t)d->stats.requests[i]));
	json_object_set_new(o, "requests", req);

	chk = json_object();
	for (i = 0; i < 3; i++)
		json_object_set_new(chk, rules_action_name((int)i),
		    json_integer((json_int_t)d->stats.actions[i]));
	json_object_set_new(chk, "replayed",
	    json_integer((json_int_t)d->stats.replays));
	json_object_set_new(o, "checks", chk);
	json_object_set_new(o, "observes",
	    json_integer((json_int_t)d->stats.observes));

	err = json_object();
	for (i = 0; i < nitems(req_error_codes); i++)
		json_object_set_new(err, req_error_codes[i],
		    json_integer((json_int_t)d->stats.errors_by_code[i]));
	json_object_set_new(o, "errors", err);

	st = json_object();
	if (snap.store_error == NULL) {
		for (i = 0; i < metrics_store_nfields; i++)
			json_object_set_new(st, metrics_store_fields[i].name,
			    json_integer((json_int_t)metrics_store_value(
			    &snap.ss, i)));
	} else
		json_object_set_new(st, "error",
		    json_string(snap.store_error));
	json_object_set_new(st, "full", json_boolean(snap.ws.full));
	json_object_set_new(st, "health", json_string(
	    snap.ws.write_error != NULL ? snap.ws.write_error : "ok"));
	json_object_set_new(st, "last_write_error",
	    snap.ws.write_error != NULL ? json_string(snap.ws.write_errmsg) :
	    json_null());
	json_object_set_new(st, "warning", d->store_warning != NULL ?
	    json_string(d->store_warning) : json_null());
	json_object_set_new(st, "sync", json_string(d->conf->sync_full ?
	    "full" : "none"));
	json_object_set_new(st, "expired",
	    json_integer((json_int_t)d->stats.expired));
	json_object_set_new(o, "store", st);

	if (snap.clustered)
		json_object_set_new(o, "cluster", stats_cluster_json(&snap.cs));

	wr = json_object();
	json_object_set_new(wr, "commits",
	    json_integer((json_int_t)snap.ws.commits));
	json_object_set_new(wr, "jobs",
	    json_integer((json_int_t)snap.ws.jobs));
	json_object_set_new(wr, "failed_batches",
	    json_integer((json_int_t)snap.ws.failed_batches));
	json_object_set_new(wr, "max_batch",
	    json_integer((json_int_t)snap.ws.max_batch));
	json_object_set_new(wr, "eval_threads",
	    json_integer((json_int_t)snap.ws.eval_threads));
	json_object_set_new(wr, "parallel_jobs",
	    json_integer((json_int_t)snap.ws.par_jobs));
	json_object_set_new(wr, "last_commit_us",
	    json_integer((json_int_t)snap.ws.last_commit_us));
	json_object_set_new(wr, "avg_commit_us", json_integer((json_int_t)
	    (snap.ws.commits ? snap.ws.commit_us_total / snap.ws.commits : 0)));
	json_object_set_new(wr, "inflight",
	    json_integer((json_int_t)snap.inflight));
	json_object_set_new(o, "writer", wr);

	rs = json_object();
	json_object_set_new(rs, "hash", json_string(d->rules != NULL ?
	    rules_hash(d->rules) : "none"));
	json_object_set_new(rs, "rules", json_integer(d->rules != NULL ?
	    (json_int_t)rules_count(d->rules) : 0));
	json_object_set_new(rs, "path", json_string(d->conf->rules_path));
	json_object_set_new(rs, "loaded_at",
	    json_string(fmt_rfc3339(d->rules_loaded_at, when)));
	json_object_set_new(rs, "reloads",
	    json_integer((json_int_t)d->reloads));
	json_object_set_new(rs, "reloading",
	    json_boolean(snap.reloading));
	json_object_set_new(rs, "reload_failures",
	    json_integer((json_int_t)d->reload_failures));
	json_object_set_new(rs, "last_reload_error", d->reload_error != NULL ?
	    json_string(d->reload_error) : json_null());
	json_object_set_new(o, "ruleset", rs);
	json_object_set_new(o, "data", snap.data);
	snap.data = NULL;
	json_object_update_new(o, metrics_json(d->metrics));

	stats_snap_clear(&snap);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		s = xstrdup("{\"error\":{\"code\":\"internal\","
		    "\"msg\":\"stats\"}}");
	*len = strlen(s);
	return (s);
}


char *
stats_metrics(struct daemon *d, size_t *len)
{
	struct stats_snap	 snap;
	char			*text;

	stats_snap_take(d, &snap);
	text = metrics_text(d, &snap, len);
	stats_snap_clear(&snap);
	return (text);
}
