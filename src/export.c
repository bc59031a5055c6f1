/*
 * export.c: the store as NDJSON and back; the format and the contract
 * are in export.h.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daily.h"
#include "export.h"
#include "export_aux.h"
#include "rules.h"
#include "sbuf.h"
#include "secret.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

#define EXPORT_CHUNK	4096
#define META_DATA_FMT	"data:%016llx"

/* ---- export ----------------------------------------------------------- */

struct ex_scan {
	FILE			*out;
	struct store_txn	*txn;
	const struct export_opts *opts;
	struct export_counts	*counts;
	struct sbuf		 line;
	struct sbuf		 tmp;		/* an explain, uncompressed */
	uint64_t		 next;		/* first seq of the next chunk */
	uint64_t		 done;		/* events scanned */
	uint64_t		 total;
	size_t			 n;		/* events in this chunk */
	bool			 full;
	char			*cause;
	uint64_t		*data_ids;	/* meta already written */
	size_t			 ndata;
};

static void
ex_emit(struct ex_scan *sc)
{
	sbuf_addc(&sc->line, '\n');
	fwrite(sc->line.buf, 1, sc->line.len, sc->out);
	sbuf_reset(&sc->line);
}

/* The identity data description an event's facts came from, once. */
static int
ex_meta(struct ex_scan *sc, uint64_t data_id)
{
	char		 name[32];
	const void	*val;
	size_t		 i, len;
	int		 rc;

	for (i = 0; i < sc->ndata; i++)
		if (sc->data_ids[i] == data_id)
			return (0);
	sc->data_ids = xreallocarray(sc->data_ids, sc->ndata + 1,
	    sizeof(*sc->data_ids));
	sc->data_ids[sc->ndata++] = data_id;
	snprintf(name, sizeof(name), META_DATA_FMT,
	    (unsigned long long)data_id);
	if ((rc = store_meta_get(sc->txn, name, &val, &len)) < 0)
		return (-1);
	if (rc == 1)
		return (0);
	sbuf_adds(&sc->line, "{\"meta\":\"");
	sbuf_adds(&sc->line, name);
	sbuf_adds(&sc->line, "\",\"hex\":\"");
	export_hex_add(&sc->line, val, len);
	sbuf_adds(&sc->line, "\"}");
	ex_emit(sc);
	sc->counts->meta++;
	return (0);
}

/* A verdict's re-checks, oldest first: ,"rechecks":[...]. */
static int
ex_rechecks(struct ex_scan *sc, const struct rg_event *ev,
    const struct verdict_rec *vr)
{
	struct verdict_ver_iter	 it;
	struct verdict_ver	 v;
	char			 esc[512];
	unsigned		 version;
	int			 rc;

	sbuf_adds(&sc->line, ",\"rechecks\":[");
	verdict_ver_iter_init(&it, vr);
	for (version = 2; (rc = verdict_ver_next(&it, &v)) != 1; version++) {
		if (rc != 0) {
			xasprintf(&sc->cause, "event %" PRIu64 ": version %u "
			    "of the verdict of %s is corrupt", ev->seq,
			    version, str_escape(ev->id, ev->idlen, esc,
			    sizeof(esc)));
			return (-1);
		}
		if (version > 2)
			sbuf_addc(&sc->line, ',');
		sbuf_addf(&sc->line, "{\"ts\":%" PRId64 ",\"action\":\"%s\","
		    "\"score\":%" PRId32 ",\"reply\":", v.ts,
		    rules_action_name(v.action), v.score);
		sbuf_add_jstr(&sc->line, v.reply, v.replylen);
		sbuf_adds(&sc->line, ",\"delta\":");
		sbuf_add_jstr(&sc->line, v.delta, v.deltalen);
		sbuf_adds(&sc->line, ",\"explain\":");
		sbuf_reset(&sc->tmp);
		verdict_explain_text(&sc->tmp, sc->txn, v.explain,
		    v.explainlen);
		sbuf_add_jstr(&sc->line, sc->tmp.buf, sc->tmp.len);
		sbuf_addc(&sc->line, '}');
	}
	sbuf_addc(&sc->line, ']');
	return (0);
}

/* A referral's verdict, when it is this event's (not an older one's). */
static int
ex_verdict(struct ex_scan *sc, const struct rg_event *ev)
{
	struct verdict_rec	 vr;
	const void		*rec;
	size_t			 len;
	char			 esc[512];
	int			 rc;

	rc = store_get_verdict(sc->txn, ev->id, ev->idlen, &rec, &len);
	if (rc < 0)
		return (-1);
	if (rc == 0 && verdict_rec_decode(rec, len, &vr) != 0) {
		xasprintf(&sc->cause, "event %" PRIu64 ": the verdict record "
		    "of %s is corrupt (it fails its checksum)", ev->seq,
		    str_escape(ev->id, ev->idlen, esc, sizeof(esc)));
		return (-1);
	}
	if (rc == 1 || vr.seq != ev->seq)
		return (0);
	sbuf_adds(&sc->line, "{\"verdict\":");
	sbuf_add_jstr(&sc->line, ev->id, ev->idlen);
	sbuf_addf(&sc->line, ",\"seq\":%" PRIu64 ",\"action\":\"%s\","
	    "\"score\":%" PRId32 ",\"reply\":", vr.seq,
	    rules_action_name(vr.action), vr.score);
	sbuf_add_jstr(&sc->line, vr.reply, vr.replylen);
	sbuf_adds(&sc->line, ",\"explain\":");
	sbuf_reset(&sc->tmp);
	verdict_explain_text(&sc->tmp, sc->txn, vr.explain, vr.explainlen);
	sbuf_add_jstr(&sc->line, sc->tmp.buf, sc->tmp.len);
	if (vr.nrechecks > 0 && ex_rechecks(sc, ev, &vr) != 0)
		return (-1);
	sbuf_addc(&sc->line, '}');
	ex_emit(sc);
	sc->counts->verdicts++;
	return (0);
}

static int
ex_event(void *arg, const struct rg_event *ev)
{
	struct ex_scan	*sc = arg;
	uint8_t		 rec[EVENT_REC_MAX];
	char		 when[RFC3339_LEN];
	const char	*type = rgev_type_name(ev->type);
	size_t		 len;

	sc->next = ev->seq + 1;
	sc->done++;
	if (ev->ts >= sc->opts->since) {
		if (ex_meta(sc, ev->data_id) != 0)
			goto fail;
		len = rgev_encode(ev, rec);
		sbuf_addf(&sc->line, "{\"event\":%" PRIu64 ",\"ts\":\"%s\","
		    "\"type\":\"%s\"", ev->seq, fmt_rfc3339(ev->ts, when),
		    type != NULL ? type : "unknown");
		if (ev->type == EV_REFERRAL) {
			sbuf_adds(&sc->line, ",\"id\":");
			sbuf_add_jstr(&sc->line, ev->id, ev->idlen);
		}
		sbuf_adds(&sc->line, ",\"rec\":\"");
		export_hex_add(&sc->line, rec, len);
		sbuf_adds(&sc->line, "\"}");
		ex_emit(sc);
		sc->counts->events++;
		if (ev->type == EV_REFERRAL && ex_verdict(sc, ev) != 0)
			goto fail;
	}
	if (sc->opts->progress != NULL)
		sc->opts->progress(sc->opts->progress_arg, sc->done, sc->total);
	if (++sc->n >= sc->opts->chunk) {
		sc->full = true;
		return (1);
	}
	return (0);
fail:
	if (sc->cause == NULL)
		xasprintf(&sc->cause, "event %" PRIu64 ": %s", ev->seq,
		    store_txn_errstr(sc->txn));
	return (-1);
}

/* The header's "pairs": the pairs of keys the store indexes, if any. */
static void
ex_pairs(struct store *st, FILE *out)
{
	struct store_pair	 p[STORE_PAIRS_MAX];
	uint64_t		 from[STORE_PAIRS_MAX];
	size_t			 i, n;

	if ((n = store_pairs_list(st, p, from)) == 0)
		return;
	fprintf(out, ",\"pairs\":[");
	for (i = 0; i < n; i++)
		fprintf(out, "%s[%u,%u,%u,%u,%" PRIu64 "]", i ? "," : "",
		    p[i].party1, p[i].kind1, p[i].party2, p[i].kind2, from[i]);
	fprintf(out, "]");
}

int
export_run(struct store *st, FILE *out, const struct export_opts *opts,
    struct export_counts *counts, char **cause)
{
	struct export_opts	 o = *opts;
	struct store_stat	 ss;
	struct ex_scan		 sc;
	struct rg_hash		 fp;
	char			 when[RFC3339_LEN], fphex[2 * RG_HASH_LEN + 1];
	int			 rc = -1, havefp;

	memset(counts, 0, sizeof(*counts));
	if (o.chunk == 0)
		o.chunk = EXPORT_CHUNK;
	if (store_stat(st, &ss, cause) != 0)
		return (-1);
	if ((havefp = secret_fp_get(st, &fp, cause)) < 0)
		return (-1);
	memset(&sc, 0, sizeof(sc));
	sc.out = out;
	sc.opts = &o;
	sc.counts = counts;
	sc.next = 1;
	sc.total = ss.events;
	sbuf_init(&sc.line, 4096);
	sbuf_init(&sc.tmp, 4096);
	fprintf(out, "{\"refguard_export\":%d,\"schema\":%d,\"created\":\"%s\","
	    "\"last_seq\":%" PRIu64 ",\"events\":%" PRIu64 "%s%s%s",
	    EXPORT_VERSION, STORE_SCHEMA, fmt_rfc3339(now_ms(), when),
	    ss.last_seq, ss.events, havefp == 0 ? ",\"secret_fp\":\"" : "",
	    havefp == 0 ? rg_hash_hex(&fp, fphex) : "",
	    havefp == 0 ? "\"" : "");
	ex_pairs(st, out);
	fprintf(out, "}\n");
	/* Each chunk in its own read transaction (see backtest.h). */
	while (ss.last_seq > 0 && sc.next <= ss.last_seq) {
		if ((sc.txn = store_begin(st, false, cause)) == NULL)
			goto out;
		sc.n = 0;
		sc.full = false;
		/* ex_event() stops the scan with sc.cause on its errors. */
		if (store_scan_events(sc.txn, sc.next, ss.last_seq, ex_event,
		    &sc) != 0 || sc.cause != NULL) {
			if (sc.cause == NULL)
				xasprintf(&sc.cause, "reading events: %s",
				    store_txn_errstr(sc.txn));
			store_abort(sc.txn);
			*cause = sc.cause;
			sc.cause = NULL;
			goto out;
		}
		store_abort(sc.txn);
		if (!sc.full)
			break;
	}
	if (export_aux_write(st, out, &o, ss.last_seq, counts, cause) != 0)
		goto out;
	fprintf(out, "{\"end\":true,\"events\":%" PRIu64 ",\"verdicts\":%"
	    PRIu64 ",\"meta\":%" PRIu64 ",\"feedback\":%" PRIu64
	    ",\"labels\":%" PRIu64 ",\"lists\":%" PRIu64 ",\"listlog\":%"
	    PRIu64 ",\"queue\":%" PRIu64 ",\"queuelog\":%" PRIu64
	    ",\"queue_dropped\":%" PRIu64 "}\n", counts->events,
	    counts->verdicts, counts->meta, counts->feedback, counts->labels,
	    counts->lists, counts->listlog, counts->queue, counts->queuelog,
	    counts->queue_dropped);
	if (fflush(out) != 0 || ferror(out)) {
		xasprintf(cause, "writing the export failed");
		goto out;
	}
	rc = 0;
out:
	free(sc.cause);
	free(sc.data_ids);
	sbuf_free(&sc.line);
	sbuf_free(&sc.tmp);
	return (rc);
}

/* ---- import ----------------------------------------------------------- */

enum imp_kind { IMP_EVENT, IMP_VERDICT, IMP_META };

struct imp_item {
	enum imp_kind	 kind;
	struct rg_event	 ev;		/* IMP_EVENT */
	uint64_t	 old;		/* IMP_EVENT: its seq in the file */
	char		*name;		/* IMP_VERDICT: the id; IMP_META */
	size_t		 namelen;
	struct verdict_rec vr;		/* IMP_VERDICT: reply, explain owned */
	json_t		*rechecks;	/* IMP_VERDICT: checked, or NULL */
	uint8_t		*val;		/* IMP_META */
	size_t		 vlen;
	size_t		 event;		/* IMP_VERDICT: index of its event */
};

struct imp {
	struct store		*st;
	const char		*name;
	size_t			 lineno;
	struct imp_item		*items;
	size_t			 nitems, cap, nevents;
	uint64_t		 last_old;	/* the last event line's seq */
	size_t			 last_item;	/* its item in the batch */
	bool			 last_referral;
	char			 last_id[RG_ID_MAX + 1];
	size_t			 last_idlen;
	bool			 last_has_verdict;
	struct export_counts	*counts;
	struct export_aux	*aux;		/* the analyst records */
	int			 version;
	/* The header's pairs, indexed from the event of that old seq on. */
	struct store_pair	 pairs[STORE_PAIRS_MAX];
	uint64_t		 pair_from[STORE_PAIRS_MAX];
	size_t			 npairs;
};

static void
imp_clear(struct imp *im)
{
	size_t	i;

	for (i = 0; i < im->nitems; i++) {
		free(im->items[i].name);
		free((void *)im->items[i].vr.reply);
		free((void *)im->items[i].vr.explain);
		json_decref(im->items[i].rechecks);
		free(im->items[i].val);
	}
	im->nitems = 0;
	im->nevents = 0;
}

static struct imp_item *
imp_add(struct imp *im, enum imp_kind kind)
{
	struct imp_item	*it;

	if (im->nitems == im->cap) {
		im->cap = im->cap ? im->cap * 2 : 256;
		im->items = xreallocarray(im->items, im->cap,
		    sizeof(*im->items));
	}
	it = &im->items[im->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	return (it);
}

static const char *imp_str(const json_t *, const char *, size_t *);
static int	imp_action(const char *);

/*
 * The re-checks of a verdict line (imp_rechecks_check() passed them) as
 * r's encoded versions, each explain in its stored form: *buf (caller
 * frees). 0, or -1 when txn failed.
 */
static int
imp_rechecks(struct store_txn *txn, const json_t *a, struct verdict_rec *r,
    void **buf)
{
	struct rec_w		 w;
	struct verdict_ver	 v;
	struct sbuf		 ex;
	const json_t		*o;
	size_t			 i;
	int			 rc = 0;

	rec_w_init(&w, 1024);
	sbuf_init(&ex, 1024);
	json_array_foreach(a, i, o) {
		memset(&v, 0, sizeof(v));
		v.ts = json_integer_value(json_object_get(o, "ts"));
		v.action = (uint8_t)imp_action(json_string_value(
		    json_object_get(o, "action")));
		v.score = (int32_t)json_integer_value(json_object_get(o,
		    "score"));
		v.reply = imp_str(o, "reply", &v.replylen);
		v.delta = imp_str(o, "delta", &v.deltalen);
		v.explain = imp_str(o, "explain", &v.explainlen);
		sbuf_reset(&ex);
		if ((rc = verdict_explain_pack(txn, &ex, v.explain,
		    v.explainlen)) != 0)
			break;
		v.explain = ex.buf;
		v.explainlen = ex.len;
		verdict_ver_encode(&w, &v);
	}
	sbuf_free(&ex);
	r->nrechecks = (unsigned)json_array_size(a);
	r->rechecks = *buf = rec_w_take(&w, &r->rechecks_len);
	return (rc);
}

/* The pairs the source indexed at its event old, indexed here from it. */
static int
imp_pairs_want(struct imp *im, struct store_txn *txn, uint64_t old)
{
	size_t	i;

	for (i = 0; i < im->npairs; i++)
		if (im->pair_from[i] <= old &&
		    store_pairs_want(txn, &im->pairs[i], 1) != 0)
			return (-1);
	return (0);
}

/* Write the batch in one transaction, growing the map as needed. */
static int
imp_flush(struct imp *im, char **cause)
{
	struct store_txn	*txn;
	struct imp_item		*it;
	struct verdict_rec	 vr;
	struct sbuf		 ex;
	enum store_err		 err;
	void			*rec, *vers;
	size_t			 i, len;
	int			 rc;

	if (im->nitems == 0 && export_aux_pending(im->aux) == 0)
		return (0);
	sbuf_init(&ex, 4096);
	for (;;) {
		if ((txn = store_begin(im->st, true, cause)) == NULL)
			goto fail;
		for (i = 0, rc = 0; i < im->nitems && rc == 0; i++) {
			it = &im->items[i];
			switch (it->kind) {
			case IMP_EVENT:
				rc = imp_pairs_want(im, txn, it->old);
				if (rc == 0)
					rc = store_put_event(txn, &it->ev);
				break;
			case IMP_VERDICT:
				/* The explain in the form a check stores. */
				it->vr.seq = im->items[it->event].ev.seq;
				vr = it->vr;
				sbuf_reset(&ex);
				if ((rc = verdict_explain_pack(txn, &ex,
				    vr.explain, vr.explainlen)) != 0)
					break;
				vr.explain = ex.buf;
				vr.explainlen = ex.len;
				vers = NULL;
				if (it->rechecks != NULL && (rc = imp_rechecks(
				    txn, it->rechecks, &vr, &vers)) != 0) {
					free(vers);
					break;
				}
				rec = verdict_rec_encode(&vr, &len);
				rc = store_put_verdict(txn, it->name,
				    it->namelen, rec, len);
				free(rec);
				if (rc == 0 && daily_verdict(txn, im->items[
				    it->event].ev.ts, &vr) < 0)
					rc = -1;
				free(vers);
				break;
			case IMP_META:
				rc = store_meta_put(txn, it->name, it->val,
				    it->vlen);
				break;
			}
		}
		if (rc == 0)
			rc = export_aux_put(im->aux, txn);
		if (rc == 0) {
			if (store_commit(txn, &err, cause) == 0)
				break;
			if (err != STORE_MAP_GROW)
				goto fail;
			free(*cause);
			*cause = NULL;
		} else {
			err = store_txn_err(txn);
			if (err != STORE_MAP_GROW) {
				xasprintf(cause, "writing the store: %s",
				    store_txn_errstr(txn));
				store_abort(txn);
				goto fail;
			}
			store_abort(txn);
		}
		if (store_grow(im->st) != 0) {
			xasprintf(cause, "the store is full (map_max): raise "
			    "map_max for the import");
			goto fail;
		}
	}
	for (i = 0; i < im->nitems; i++) {
		it = &im->items[i];
		if (it->kind == IMP_EVENT) {
			im->counts->events++;
			export_aux_seq(im->aux, it->old, it->ev.seq);
		} else if (it->kind == IMP_VERDICT)
			im->counts->verdicts++;
		else if (strcmp(it->name, SECRET_FP_META) != 0)
			im->counts->meta++;	/* meta lines, not the header's */
	}
	export_aux_done(im->aux, im->counts);
	imp_clear(im);
	sbuf_free(&ex);
	return (0);
fail:
	sbuf_free(&ex);
	return (-1);
}

/* A string member, NULL when absent or not a string. */
static const char *
imp_str(const json_t *o, const char *key, size_t *len)
{
	const json_t	*v = json_object_get(o, key);

	if (!json_is_string(v))
		return (NULL);
	if (len != NULL)
		*len = json_string_length(v);
	return (json_string_value(v));
}

/* An action's name as its value (enum rg_action), -1 when unknown. */
static int
imp_action(const char *name)
{
	int	a;

	for (a = ACTION_ALLOW; name != NULL && a <= ACTION_DENY; a++)
		if (strcmp(rules_action_name(a), name) == 0)
			return (a);
	return (-1);
}

/*
 * A verdict line's "rechecks": an array of 1 to VERDICT_MAX_VERSIONS - 1
 * objects with an integer ts and score, a known action and the reply,
 * delta and explain strings. 0, or -1 with *cause.
 */
static int
imp_rechecks_check(const json_t *a, const char *id, char **cause)
{
	const json_t	*o;
	size_t		 i;

	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > (VERDICT_MAX_VERSIONS - 1)) {
		xasprintf(cause, "verdict %s: \"rechecks\" is not an array "
		    "of 1 to %d re-checks", id, VERDICT_MAX_VERSIONS - 1);
		return (-1);
	}
	json_array_foreach(a, i, o) {
		if (!json_is_object(o) ||
		    !json_is_integer(json_object_get(o, "ts")) ||
		    !json_is_integer(json_object_get(o, "score")) ||
		    imp_action(imp_str(o, "action", NULL)) < 0 ||
		    imp_str(o, "reply", NULL) == NULL ||
		    imp_str(o, "delta", NULL) == NULL ||
		    imp_str(o, "explain", NULL) == NULL) {
			xasprintf(cause, "verdict %s: re-check %zu needs "
			    "\"ts\", \"action\", \"score\", \"reply\", "
			    "\"delta\" and \"explain\"", id, i + 1);
			return (-1);
		}
	}
	return (0);
}

static int
imp_event(struct imp *im, const json_t *o, char **cause)
{
	struct imp_item	*it;
	uint8_t		 rec[EVENT_REC_MAX];
	const json_t	*jseq = json_object_get(o, "event");
	const char	*hex, *id;
	size_t		 hexlen = 0, idlen = 0;
	ssize_t		 n;
	uint64_t	 seq;

	if (!json_is_integer(jseq) || json_integer_value(jseq) <= 0) {
		*cause = xstrdup("\"event\" is not a positive seq");
		return (-1);
	}
	seq = (uint64_t)json_integer_value(jseq);
	if (seq <= im->last_old) {
		xasprintf(cause, "event %" PRIu64 " after event %" PRIu64
		    ": events must be in seq order", seq, im->last_old);
		return (-1);
	}
	if ((hex = imp_str(o, "rec", &hexlen)) == NULL ||
	    (n = export_hex_decode(hex, hexlen, rec, sizeof(rec))) < 0) {
		xasprintf(cause, "event %" PRIu64 ": \"rec\" is not a hex "
		    "event record", seq);
		return (-1);
	}
	it = imp_add(im, IMP_EVENT);
	if (rgev_decode(rec, (size_t)n, &it->ev) != 0) {
		im->nitems--;
		xasprintf(cause, "event %" PRIu64 ": \"rec\" is not a valid "
		    "event record", seq);
		return (-1);
	}
	if (it->ev.ts < 0 || it->ev.ts > TIME_MAX_MS) {
		im->nitems--;
		xasprintf(cause, "event %" PRIu64 ": its time is out of range "
		    "(times run from 1970-01-01T00:00:00Z to "
		    "9999-12-31T23:59:59.999Z)", seq);
		return (-1);
	}
	id = imp_str(o, "id", &idlen);
	if (it->ev.type == EV_REFERRAL && (id == NULL || idlen !=
	    it->ev.idlen || memcmp(id, it->ev.id, idlen) != 0)) {
		im->nitems--;
		xasprintf(cause, "event %" PRIu64 ": \"id\" does not match "
		    "the record's", seq);
		return (-1);
	}
	it->old = seq;
	im->nevents++;
	im->last_item = im->nitems - 1;
	im->last_old = seq;
	im->last_referral = it->ev.type == EV_REFERRAL;
	im->last_has_verdict = false;
	memcpy(im->last_id, it->ev.id, it->ev.idlen);
	im->last_idlen = it->ev.idlen;
	return (0);
}

static int
imp_verdict(struct imp *im, const json_t *o, char **cause)
{
	struct imp_item	*it;
	const json_t	*jseq = json_object_get(o, "seq");
	const json_t	*jscore = json_object_get(o, "score");
	json_t		*jr;
	const char	*id, *action, *reply, *explain;
	size_t		 idlen = 0, rlen = 0, elen = 0;
	int		 a;

	id = imp_str(o, "verdict", &idlen);
	action = imp_str(o, "action", NULL);
	reply = imp_str(o, "reply", &rlen);
	explain = imp_str(o, "explain", &elen);
	if (id == NULL || action == NULL || reply == NULL || explain == NULL ||
	    !json_is_integer(jseq) || !json_is_integer(jscore)) {
		*cause = xstrdup("a verdict needs \"verdict\", \"seq\", "
		    "\"action\", \"score\", \"reply\" and \"explain\"");
		return (-1);
	}
	/* Its event is the line before: the new seq is known only then. */
	if (im->nevents == 0 || !im->last_referral || im->last_has_verdict ||
	    (uint64_t)json_integer_value(jseq) != im->last_old ||
	    idlen != im->last_idlen || memcmp(id, im->last_id, idlen) != 0) {
		xasprintf(cause, "verdict %s (seq %" JSON_INTEGER_FORMAT ") "
		    "does not follow its referral event", id,
		    json_integer_value(jseq));
		return (-1);
	}
	if ((a = imp_action(action)) < 0) {
		xasprintf(cause, "verdict %s: unknown action \"%s\"", id,
		    action);
		return (-1);
	}
	jr = json_object_get(o, "rechecks");	/* kept with the item */
	if (jr != NULL && imp_rechecks_check(jr, id, cause) != 0)
		return (-1);
	it = imp_add(im, IMP_VERDICT);
	it->rechecks = jr != NULL ? json_incref(jr) : NULL;
	it->name = xstrndup(id, idlen);
	it->namelen = idlen;
	it->vr.action = (uint8_t)a;
	it->vr.score = (int32_t)json_integer_value(jscore);
	it->vr.reply = xstrndup(reply, rlen);
	it->vr.replylen = rlen;
	it->vr.explain = xstrndup(explain, elen);
	it->vr.explainlen = elen;
	it->event = im->last_item;
	im->last_has_verdict = true;
	return (0);
}

static int
imp_meta(struct imp *im, const json_t *o, char **cause)
{
	struct imp_item	*it;
	const char	*name, *hex;
	size_t		 nlen = 0, hexlen = 0;
	ssize_t		 n;

	name = imp_str(o, "meta", &nlen);
	hex = imp_str(o, "hex", &hexlen);
	/* Only identity data descriptions: never the schema or the like. */
	if (name == NULL || hex == NULL || nlen != 21 ||
	    strncmp(name, "data:", 5) != 0) {
		*cause = xstrdup("a meta line needs \"meta\": \"data:<16 hex "
		    "digits>\" and \"hex\"");
		return (-1);
	}
	it = imp_add(im, IMP_META);
	it->name = xstrndup(name, nlen);
	it->val = xmalloc(hexlen / 2 + 1);
	if ((n = export_hex_decode(hex, hexlen, it->val, hexlen / 2 + 1)) < 0) {
		free(it->name);
		free(it->val);
		im->nitems--;
		xasprintf(cause, "%s: \"hex\" is not hex", name);
		return (-1);
	}
	it->vlen = (size_t)n;
	return (0);
}

/*
 * The header's secret_fp against the target secret's and the store's;
 * the store records it (see export.h).
 */
static int
imp_secret(struct imp *im, const json_t *o, const struct export_opts *opts,
    char **cause)
{
	struct imp_item	*it;
	struct rg_hash	 h, s;
	const char	*hex;
	size_t		 len = 0;
	int		 rc;

	if ((hex = imp_str(o, "secret_fp", &len)) == NULL)
		return (0);	/* an export from before: nothing to check */
	if (export_hex_decode(hex, len, h.b, sizeof(h.b)) != RG_HASH_LEN) {
		xasprintf(cause, "\"secret_fp\" is not %d hex digits",
		    2 * RG_HASH_LEN);
		return (-1);
	}
	if (opts->secret_fp != NULL &&
	    memcmp(opts->secret_fp->b, h.b, RG_HASH_LEN) != 0) {
		*cause = xstrdup("the export was made with another hash "
		    "secret than the target's hash_secret_file (their "
		    "fingerprints differ): its hashes would never match new "
		    "events. Put the exporting installation's secret file "
		    "there, or import where there is none yet");
		return (-1);
	}
	if ((rc = secret_fp_get(im->st, &s, cause)) < 0)
		return (-1);
	if (rc == 0 && memcmp(s.b, h.b, RG_HASH_LEN) != 0) {
		*cause = xstrdup("the store records another hash secret than "
		    "the export's (their fingerprints differ)");
		return (-1);
	}
	it = imp_add(im, IMP_META);
	it->name = xstrdup(SECRET_FP_META);
	it->namelen = strlen(it->name);
	it->val = xmalloc(RG_HASH_LEN);
	memcpy(it->val, h.b, RG_HASH_LEN);
	it->vlen = RG_HASH_LEN;
	return (0);
}

/* "pairs": [[party1, kind1, party2, kind2, first seq], ...], optional. */
static int
imp_header_pairs(struct imp *im, const json_t *a, char **cause)
{
	const json_t	*e;
	json_int_t	 x[5];
	size_t		 i, k;

	if (a == NULL)
		return (0);
	if (!json_is_array(a) || json_array_size(a) > STORE_PAIRS_MAX)
		goto bad;
	json_array_foreach(a, i, e) {
		if (!json_is_array(e) || json_array_size(e) != 5)
			goto bad;
		for (k = 0; k < 5; k++) {
			if (!json_is_integer(json_array_get(e, k)))
				goto bad;
			x[k] = json_integer_value(json_array_get(e, k));
		}
		for (k = 0; k < 4; k++)
			if (x[k] < 0 || x[k] > UINT8_MAX)
				goto bad;
		im->pairs[i].party1 = (uint8_t)x[0];
		im->pairs[i].kind1 = (uint8_t)x[1];
		im->pairs[i].party2 = (uint8_t)x[2];
		im->pairs[i].kind2 = (uint8_t)x[3];
		im->pair_from[i] = (uint64_t)x[4];
		if (!store_pair_valid(&im->pairs[i]) || x[4] < 1)
			goto bad;
	}
	im->npairs = json_array_size(a);
	return (0);
bad:
	xasprintf(cause, "the header's \"pairs\" is not a list of at most %d "
	    "[party, kind, party, kind, first seq]", STORE_PAIRS_MAX);
	return (-1);
}

static int
imp_header(struct imp *im, const json_t *o, uint64_t *total, int *version,
    char **cause)
{
	const json_t	*v = json_object_get(o, "refguard_export");
	const json_t	*s = json_object_get(o, "schema");

	if (!json_is_integer(v)) {
		*cause = xstrdup("not a refguard export (the first line has "
		    "no \"refguard_export\")");
		return (-1);
	}
	if (json_integer_value(v) < 1 ||
	    json_integer_value(v) > EXPORT_VERSION ||
	    !json_is_integer(s) || json_integer_value(s) > STORE_SCHEMA) {
		xasprintf(cause, "export version %" JSON_INTEGER_FORMAT
		    ", schema %" JSON_INTEGER_FORMAT ": this refguard reads "
		    "versions up to %d, schema up to %d", json_integer_value(v),
		    json_integer_value(s), EXPORT_VERSION, STORE_SCHEMA);
		return (-1);
	}
	*version = (int)json_integer_value(v);
	v = json_object_get(o, "events");
	*total = json_is_integer(v) && json_integer_value(v) > 0 ?
	    (uint64_t)json_integer_value(v) : 0;
	return (imp_header_pairs(im, json_object_get(o, "pairs"), cause));
}

int
export_import(struct store *st, FILE *in, const char *name,
    const struct export_opts *opts, struct export_counts *counts,
    char **cause)
{
	struct store_stat	 ss;
	struct imp		 im;
	json_error_t		 je;
	json_t			*o = NULL, *endline = NULL;
	char			*line = NULL, *why = NULL;
	size_t			 cap = 0, chunk;
	ssize_t			 n;
	uint64_t		 total = 0, done = 0;
	bool			 end = false;
	int			 rc = -1;

	memset(counts, 0, sizeof(*counts));
	chunk = opts->chunk ? opts->chunk : EXPORT_CHUNK;
	if (store_stat(st, &ss, cause) != 0)
		return (-1);
	if (ss.events != 0 || ss.verdicts != 0 || export_aux_stored(&ss)) {
		xasprintf(cause, "the store is not empty (%" PRIu64 " events, %"
		    PRIu64 " verdicts, %" PRIu64 " feedback, %" PRIu64 " list "
		    "keys, %" PRIu64 " queue items): import loads a fresh state "
		    "directory", ss.events, ss.verdicts, ss.feedback,
		    ss.list_entries, ss.queue_open + ss.queue_claimed +
		    ss.queue_decided);
		return (-1);
	}
	memset(&im, 0, sizeof(im));
	im.st = st;
	im.name = name;
	im.counts = counts;
	im.aux = export_aux_new(st, ss.last_seq + 1);
	while ((n = getline(&line, &cap, in)) > 0) {
		im.lineno++;
		if (end) {
			why = xstrdup("data after the end line");
			goto bad;
		}
		json_decref(o);
		if ((o = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES,
		    &je)) == NULL || !json_is_object(o)) {
			xasprintf(&why, "not a JSON object%s%s", o ? "" : ": ",
			    o ? "" : je.text);
			goto bad;
		}
		if (im.lineno == 1) {
			if (imp_header(&im, o, &total, &im.version,
			    &why) != 0 ||
			    imp_secret(&im, o, opts, &why) != 0)
				goto bad;
			continue;
		}
		if (json_is_true(json_object_get(o, "end"))) {
			end = true;
			endline = json_incref(o);
		} else if (export_aux_is(o)) {
			/* After the events: their new seqs are all known. */
			if ((im.nitems > 0 || export_aux_pending(im.aux) >=
			    chunk) && imp_flush(&im, cause) != 0)
				goto out;
			if (export_aux_line(im.aux, o, &why) != 0)
				goto bad;
		} else if (export_aux_started(im.aux)) {
			why = xstrdup("an event, verdict or meta line after the "
			    "analyst records: they come last");
			goto bad;
		} else if (json_object_get(o, "event") != NULL) {
			/* Batches end before an event, never inside one. */
			if (im.nevents >= chunk && imp_flush(&im, cause) != 0)
				goto out;
			if (imp_event(&im, o, &why) != 0)
				goto bad;
			if (opts->progress != NULL)
				opts->progress(opts->progress_arg, ++done,
				    total);
		} else if (json_object_get(o, "verdict") != NULL) {
			if (imp_verdict(&im, o, &why) != 0)
				goto bad;
		} else if (json_object_get(o, "meta") != NULL) {
			if (imp_meta(&im, o, &why) != 0)
				goto bad;
		} else {
			why = xstrdup("neither an event, a verdict, a meta, an "
			    "analyst record nor the end line");
			goto bad;
		}
	}
	if (ferror(in)) {
		xasprintf(cause, "%s: read error", name);
		goto out;
	}
	if (im.lineno == 0) {
		xasprintf(cause, "%s: empty: not a refguard export", name);
		goto out;
	}
	if (imp_flush(&im, cause) != 0)
		goto out;
	if (!end) {
		xasprintf(cause, "%s: truncated: no end line after line %zu "
		    "(the %" PRIu64 " events before were imported)", name,
		    im.lineno, counts->events);
		goto out;
	}
	if (export_aux_end(endline, im.version, counts, &why) != 0) {
		xasprintf(cause, "%s: %s", name, why);
		goto out;
	}
	rc = 0;
	goto out;
bad:
	xasprintf(cause, "%s:%zu: %s", name, im.lineno, why);
out:
	free(why);
	json_decref(o);
	json_decref(endline);
	free(line);
	imp_clear(&im);
	export_aux_free(im.aux);
	free(im.items);
	return (rc);
}
