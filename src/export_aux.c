/*
 * export_aux.c: feedback, labels, lists, the list log, the review queue
 * and its log in an export; the contract is in export_aux.h, the file's
 * format in export.h and docs/export.md.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyst.h"
#include "export.h"
#include "export_aux.h"
#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"

#define MEMBER_HEX	(2 * (1 + RG_HASH_LEN))	/* kind(1) hash(16) */

void
export_hex_add(struct sbuf *sb, const uint8_t *p, size_t n)
{
	static const char	 digits[] = "0123456789abcdef";
	char			*d = sbuf_space(sb, 2 * n);
	size_t			 i;

	for (i = 0; i < n; i++) {
		d[2 * i] = digits[p[i] >> 4];
		d[2 * i + 1] = digits[p[i] & 15];
	}
	sb->len += 2 * n;
}

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

ssize_t
export_hex_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	size_t	i;
	int	hi, lo;

	if (len % 2 != 0 || len / 2 > cap)
		return (-1);
	for (i = 0; i < len; i += 2) {
		if ((hi = hex_val(s[i])) < 0 || (lo = hex_val(s[i + 1])) < 0)
			return (-1);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return ((ssize_t)(len / 2));
}

/* ---- export ----------------------------------------------------------- */

struct ax_out {
	FILE			*out;
	struct store_txn	*txn;
	const struct export_opts *opts;
	uint64_t		 last_seq;
	struct export_counts	*counts;
	struct sbuf		 line;
	const char		*kind;		/* "feedback", "listlog" */
	uint64_t		*n;		/* its count */
	uint64_t		 item;		/* the queue item being logged */
};

static void
ax_emit(struct ax_out *x)
{
	sbuf_adds(&x->line, "}\n");
	fwrite(x->line.buf, 1, x->line.len, x->out);
	sbuf_reset(&x->line);
}

/* {"feedback":ID,"rec":"HEX"}, {"listlog":ID,...}: a record by its id. */
static int
ax_log_cb(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct ax_out	*x = arg;

	sbuf_addf(&x->line, "{\"%s\":%" PRIu64 ",\"rec\":\"", x->kind, id);
	export_hex_add(&x->line, (const uint8_t *)rec, len);
	sbuf_addc(&x->line, '"');
	ax_emit(x);
	(*x->n)++;
	return (0);
}

static int
ax_label_cb(void *arg, uint8_t kind, const struct rg_hash *h, int label,
    const struct store_label *l)
{
	struct ax_out	*x = arg;
	const char	*name = store_label_name(label);
	char		 hex[2 * RG_HASH_LEN + 1];

	if (name == NULL || kind == 0 || kind >= ENT__MAX)
		return (-1);
	sbuf_addf(&x->line, "{\"label\":\"%s\",\"kind\":\"%s\",\"hash\":\"%s\","
	    "\"seq\":%" PRIu64 ",\"ts\":%" PRId64 ",\"feedback\":%" PRIu64,
	    name, ent_kind_name(kind), rg_hash_hex(h, hex), l->seq, l->ts,
	    l->feedback);
	ax_emit(x);
	x->counts->labels++;
	return (0);
}

static int
ax_list_cb(void *arg, const char *list, const struct store_list_entry *e,
    const struct store_list_member *m, size_t nm)
{
	struct ax_out	*x = arg;
	char		 hex[2 * RG_HASH_LEN + 1];
	size_t		 i;

	sbuf_adds(&x->line, "{\"list\":");
	sbuf_add_jstr(&x->line, list, strlen(list));
	sbuf_addf(&x->line, ",\"hash\":\"%s\",\"kind\":\"%s\",\"cidr\":",
	    rg_hash_hex(&e->h, hex), analyst_kind_name(e->kind));
	if (e->cidr == LIST_NO_CIDR)
		sbuf_adds(&x->line, "null");
	else
		sbuf_addf(&x->line, "%u", e->cidr);
	sbuf_addf(&x->line, ",\"added\":%" PRId64 ",\"seq\":%" PRIu64
	    ",\"expires\":%" PRId64, e->added, e->seq, e->expires);
	sbuf_add_jmember(&x->line, "by", e->by);
	sbuf_add_jmember(&x->line, "reason", e->reason);
	sbuf_adds(&x->line, ",\"members\":\"");
	for (i = 0; i < nm; i++) {
		export_hex_add(&x->line, &m[i].kind, 1);
		export_hex_add(&x->line, m[i].h.b, RG_HASH_LEN);
	}
	sbuf_addc(&x->line, '"');
	ax_emit(x);
	x->counts->lists++;
	return (0);
}

static int
ax_qlog_cb(void *arg, uint64_t n, const char *rec, size_t len)
{
	struct ax_out	*x = arg;

	sbuf_addf(&x->line, "{\"queuelog\":%" PRIu64 ",\"n\":%" PRIu64
	    ",\"rec\":\"", x->item, n);
	export_hex_add(&x->line, (const uint8_t *)rec, len);
	sbuf_addc(&x->line, '"');
	ax_emit(x);
	x->counts->queuelog++;
	return (0);
}

static void
ax_str(struct sbuf *sb, const char *key, const char *s)
{
	sbuf_add_jmember(sb, key, s);
}

/* A queue item and its log, when the export holds its event. */
static int
ax_queue_item(struct ax_out *x, const struct store_queue_item *it)
{
	struct rg_event	 ev;
	int		 rc;
	uint8_t		 i;

	if ((rc = store_get_event(x->txn, it->item, &ev)) < 0)
		return (-1);
	if (rc == 1 || it->item > x->last_seq || ev.ts < x->opts->since) {
		x->counts->queue_dropped++;
		return (0);
	}
	sbuf_addf(&x->line, "{\"queue\":%" PRIu64, it->item);
	ax_str(&x->line, "id", it->id);
	sbuf_addf(&x->line, ",\"state\":\"%s\",\"action\":\"%s\","
	    "\"score\":%" PRId32 ",\"created\":%" PRId64 ",\"origin\":\"%s\","
	    "\"previous_action\":\"%s\"", store_queue_state_name(it->state),
	    rules_action_name(it->action), it->score, it->created,
	    it->origin == QUEUE_FROM_RECHECK ? "recheck" : "check",
	    rules_action_name(it->prev_action));
	ax_str(&x->line, "campaign", it->campaign);
	if (it->has_reward) {
		sbuf_addf(&x->line, ",\"reward\":{\"amount\":%.17g",
		    it->reward_amount);
		ax_str(&x->line, "currency", it->reward_currency);
		sbuf_addc(&x->line, '}');
	} else
		sbuf_adds(&x->line, ",\"reward\":null");
	sbuf_adds(&x->line, ",\"reasons\":[");
	for (i = 0; i < it->nreasons && i < QUEUE_REASONS; i++) {
		if (i > 0)
			sbuf_addc(&x->line, ',');
		sbuf_add_jstr(&x->line, it->reasons[i],
		    strlen(it->reasons[i]));
	}
	sbuf_addc(&x->line, ']');
	ax_str(&x->line, "assignee", it->assignee);
	sbuf_addf(&x->line, ",\"claimed\":%" PRId64 ",\"decision\":\"%s\"",
	    it->claimed, store_queue_decision_name(it->decision));
	ax_str(&x->line, "decided_by", it->decided_by);
	sbuf_addf(&x->line, ",\"decided\":%" PRId64 ",\"feedback\":%" PRIu64,
	    it->decided, it->feedback);
	ax_emit(x);
	x->counts->queue++;
	x->item = it->item;
	return (store_queuelog_scan(x->txn, it->item, ax_qlog_cb, x));
}

/* The queue's item numbers, to write the items in order. */
struct ax_items {
	uint64_t	*v;
	size_t		 n, cap;
};

static int
ax_item_cb(void *arg, const struct store_queue_item *it)
{
	struct ax_items	*q = arg;

	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 256;
		q->v = xreallocarray(q->v, q->cap, sizeof(*q->v));
	}
	q->v[q->n++] = it->item;
	return (0);
}

static int
ax_u64_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

static int
ax_write_queue(struct ax_out *x)
{
	struct store_queue_item	 it;
	struct ax_items		 q = { NULL, 0, 0 };
	size_t			 i;
	int			 s, rc = 0;

	for (s = 0; rc == 0 && s < QUEUE__NSTATES; s++)
		rc = store_queue_scan(x->txn, s, false, NULL, INT64_MIN,
		    INT64_MAX, ax_item_cb, &q);
	if (q.n > 1)
		qsort(q.v, q.n, sizeof(*q.v), ax_u64_cmp);
	for (i = 0; rc == 0 && i < q.n; i++)
		if ((rc = store_queue_get(x->txn, q.v[i], &it)) == 0)
			rc = ax_queue_item(x, &it);
		else if (rc == 1)
			rc = 0;
	free(q.v);
	return (rc < 0 ? -1 : 0);
}

int
export_aux_write(struct store *st, FILE *out, const struct export_opts *opts,
    uint64_t last_seq, struct export_counts *counts, char **cause)
{
	struct ax_out	x;
	int		rc = 0;

	memset(&x, 0, sizeof(x));
	x.out = out;
	x.opts = opts;
	x.last_seq = last_seq;
	x.counts = counts;
	if ((x.txn = store_begin(st, false, cause)) == NULL)
		return (-1);
	sbuf_init(&x.line, 4096);
	x.kind = "feedback";
	x.n = &counts->feedback;
	if (store_feedback_scan_up(x.txn, ax_log_cb, &x) != 0 ||
	    store_label_scan(x.txn, ax_label_cb, &x) != 0 ||
	    store_list_scan(x.txn, ax_list_cb, &x) != 0)
		rc = -1;
	x.kind = "listlog";
	x.n = &counts->listlog;
	if (rc == 0 && store_listlog_scan_up(x.txn, ax_log_cb, &x) != 0)
		rc = -1;
	if (rc == 0 && ax_write_queue(&x) != 0)
		rc = -1;
	if (rc != 0)
		xasprintf(cause, "reading the analyst records: %s",
		    store_txn_err(x.txn) != STORE_OK ?
		    store_txn_errstr(x.txn) : "a label of an unknown kind");
	store_abort(x.txn);
	sbuf_free(&x.line);
	return (rc);
}

/* ---- import ----------------------------------------------------------- */

enum ax_kind { AX_FEEDBACK, AX_LABEL, AX_LIST, AX_LISTLOG, AX_QUEUE,
	AX_QUEUELOG };

struct ax_rec {
	enum ax_kind	 kind;
	uint64_t	 id;	/* feedback id; queue item or log's (new) item */
	char		*text;	/* feedback, listlog, queuelog: the record */
	size_t		 len;
	union {
		struct {
			uint8_t			kind;
			struct rg_hash		h;
			int			label;
			struct store_label	l;
		} label;
		struct {
			char			 name[LIST_NAME_MAX + 1];
			struct store_list_entry	 e;
			struct store_list_member *m;
			size_t			 nm;
		} list;
		struct store_queue_item	 q;
	} u;
};

/* Runs of consecutive seqs: old .. old + n - 1 became seq .. seq + n - 1. */
struct ax_run {
	uint64_t	old, seq, n;
};

struct export_aux {
	struct store	*st;
	uint64_t	 next_seq;	/* the new store's, after the events */
	struct ax_run	*runs;
	size_t		 nruns, caprun;
	struct ax_rec	*recs;
	size_t		 nrecs, caprec, weight;
	bool		 started;
	uint64_t	 last_feedback, last_listlog;	/* ids read */
	uint64_t	 q_old, q_new, q_n;	/* the last queue line, its log */
};

struct export_aux *
export_aux_new(struct store *st, uint64_t next_seq)
{
	struct export_aux	*ax = xcalloc(1, sizeof(*ax));

	ax->st = st;
	ax->next_seq = next_seq;
	return (ax);
}

static void
ax_clear(struct export_aux *ax)
{
	size_t	i;

	for (i = 0; i < ax->nrecs; i++) {
		free(ax->recs[i].text);
		if (ax->recs[i].kind == AX_LIST)
			free(ax->recs[i].u.list.m);
	}
	ax->nrecs = 0;
	ax->weight = 0;
}

void
export_aux_free(struct export_aux *ax)
{
	if (ax == NULL)
		return;
	ax_clear(ax);
	free(ax->recs);
	free(ax->runs);
	free(ax);
}

void
export_aux_seq(struct export_aux *ax, uint64_t old, uint64_t seq)
{
	struct ax_run	*r = ax->nruns ? &ax->runs[ax->nruns - 1] : NULL;

	if (r != NULL && old == r->old + r->n && seq == r->seq + r->n)
		r->n++;
	else {
		if (ax->nruns == ax->caprun) {
			ax->caprun = ax->caprun ? ax->caprun * 2 : 16;
			ax->runs = xreallocarray(ax->runs, ax->caprun,
			    sizeof(*ax->runs));
		}
		r = &ax->runs[ax->nruns++];
		r->old = old;
		r->seq = seq;
		r->n = 1;
	}
	ax->next_seq = seq + 1;
}

/* The first run that ends at or after old, or NULL. */
static const struct ax_run *
ax_run_at(const struct export_aux *ax, uint64_t old)
{
	size_t	lo = 0, hi = ax->nruns, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ax->runs[mid].old + ax->runs[mid].n - 1 < old)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < ax->nruns ? &ax->runs[lo] : NULL);
}

/* The new seq of event old, or 0 when the file has no such event. */
static uint64_t
ax_seq_exact(const struct export_aux *ax, uint64_t old)
{
	const struct ax_run	*r = ax_run_at(ax, old);

	return (r != NULL && old >= r->old ? r->seq + (old - r->old) : 0);
}

/* "From seq old on": the new seq of the first event at or after it. */
static uint64_t
ax_seq_from(const struct export_aux *ax, uint64_t old)
{
	const struct ax_run	*r = ax_run_at(ax, old);

	if (r == NULL)
		return (ax->next_seq);
	return (old <= r->old ? r->seq : r->seq + (old - r->old));
}

static const char *const ax_keys[] = {
	"feedback", "label", "list", "listlog", "queue", "queuelog",
};

bool
export_aux_is(const json_t *o)
{
	size_t	i;

	for (i = 0; i < nitems(ax_keys); i++)
		if (json_object_get(o, ax_keys[i]) != NULL)
			return (true);
	return (false);
}

bool
export_aux_started(const struct export_aux *ax)
{
	return (ax->started);
}

size_t
export_aux_pending(const struct export_aux *ax)
{
	return (ax->weight);
}

static struct ax_rec *
ax_add(struct export_aux *ax, enum ax_kind kind)
{
	struct ax_rec	*r;

	if (ax->nrecs == ax->caprec) {
		ax->caprec = ax->caprec ? ax->caprec * 2 : 64;
		ax->recs = xreallocarray(ax->recs, ax->caprec,
		    sizeof(*ax->recs));
	}
	r = &ax->recs[ax->nrecs++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	ax->weight++;
	return (r);
}

/* Member key as a positive integer (or 0 allowed when zero_ok). */
static int
ax_uint(const json_t *o, const char *key, bool zero_ok, uint64_t *v)
{
	const json_t	*j = json_object_get(o, key);

	if (!json_is_integer(j) || json_integer_value(j) < (zero_ok ? 0 : 1))
		return (-1);
	*v = (uint64_t)json_integer_value(j);
	return (0);
}

static int
ax_int(const json_t *o, const char *key, int64_t *v)
{
	const json_t	*j = json_object_get(o, key);

	if (!json_is_integer(j))
		return (-1);
	*v = json_integer_value(j);
	return (0);
}

/* A string member of at most max bytes (no NUL) into buf. */
static int
ax_strcpy(const json_t *o, const char *key, char *buf, size_t max)
{
	const json_t	*j = json_object_get(o, key);
	size_t		 len;

	if (!json_is_string(j) || (len = json_string_length(j)) > max ||
	    memchr(json_string_value(j), 0, len) != NULL)
		return (-1);
	memcpy(buf, json_string_value(j), len);
	buf[len] = '\0';
	return (0);
}

/* "rec": hex of a record, into r->text. */
static int
ax_text(const json_t *o, struct ax_rec *r)
{
	const json_t	*j = json_object_get(o, "rec");
	size_t		 len;
	ssize_t		 n;

	if (!json_is_string(j))
		return (-1);
	len = json_string_length(j);
	r->text = xmalloc(len / 2 + 1);
	if ((n = export_hex_decode(json_string_value(j), len,
	    (uint8_t *)r->text, len / 2)) < 0)
		return (-1);
	r->len = (size_t)n;
	r->text[n] = '\0';
	return (0);
}

static int
ax_hash(const json_t *o, const char *key, struct rg_hash *h)
{
	const json_t	*j = json_object_get(o, key);

	if (!json_is_string(j) || export_hex_decode(json_string_value(j),
	    json_string_length(j), h->b, RG_HASH_LEN) != RG_HASH_LEN)
		return (-1);
	return (0);
}

/*
 * A feedback record's "seq" (its labels count from there) moves with the
 * events; the rest of the record is kept byte for byte.
 */
static void
ax_feedback_seq(const struct export_aux *ax, struct ax_rec *r)
{
	json_t		*o;
	json_int_t	 old;
	uint64_t	 seq;
	char		*s;

	if ((o = json_loadb(r->text, r->len, 0, NULL)) == NULL)
		return;
	if (json_is_integer(json_object_get(o, "seq")) &&
	    (old = json_integer_value(json_object_get(o, "seq"))) > 0 &&
	    (seq = ax_seq_from(ax, (uint64_t)old)) != (uint64_t)old) {
		json_object_set_new(o, "seq", json_integer((json_int_t)seq));
		if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
			free(r->text);
			r->text = s;
			r->len = strlen(s);
		}
	}
	json_decref(o);
}

/*
 * A feedback or list log record: {"feedback":ID,"rec":"HEX"}. Their ids
 * run from 1 in order (a store never deletes one), so that the new
 * store's appends give each its id again.
 */
static int
ax_log(struct export_aux *ax, const json_t *o, enum ax_kind kind,
    uint64_t *last, char **why)
{
	const char	*key = kind == AX_FEEDBACK ? "feedback" : "listlog";
	struct ax_rec	*r;
	uint64_t	 id;

	if (ax_uint(o, key, false, &id) != 0 || id != *last + 1) {
		xasprintf(why, "\"%s\" is not the next id (%" PRIu64 "): its "
		    "ids run from 1 in order", key, *last + 1);
		return (-1);
	}
	r = ax_add(ax, kind);
	r->id = id;
	if (ax_text(o, r) != 0) {
		xasprintf(why, "%s %" PRIu64 ": \"rec\" is not hex", key, id);
		return (-1);
	}
	if (kind == AX_FEEDBACK)
		ax_feedback_seq(ax, r);
	*last = id;
	return (0);
}

static int
ax_feedback(struct export_aux *ax, const json_t *o, char **why)
{
	return (ax_log(ax, o, AX_FEEDBACK, &ax->last_feedback, why));
}

static int
ax_listlog(struct export_aux *ax, const json_t *o, char **why)
{
	return (ax_log(ax, o, AX_LISTLOG, &ax->last_listlog, why));
}

static int
ax_label(struct export_aux *ax, const json_t *o, char **why)
{
	struct ax_rec	*r;
	const char	*name = json_string_value(json_object_get(o, "label"));
	const char	*kind = json_string_value(json_object_get(o, "kind"));
	uint64_t	 seq, fb;
	int64_t		 ts;
	int		 k, label;

	if (name == NULL || (label = store_label_from_name(name)) < 0 ||
	    kind == NULL || (k = ent_kind_from_name(kind)) <= 0 ||
	    ax_uint(o, "seq", false, &seq) != 0 ||
	    ax_int(o, "ts", &ts) != 0 ||
	    ax_uint(o, "feedback", true, &fb) != 0) {
		*why = xstrdup("a label needs \"label\" (fraud, legit, "
		    "chargeback, abuse), \"kind\", \"hash\", \"seq\", \"ts\" "
		    "and \"feedback\"");
		return (-1);
	}
	r = ax_add(ax, AX_LABEL);
	if (ax_hash(o, "hash", &r->u.label.h) != 0) {
		*why = xstrdup("label: \"hash\" is not 32 hex digits");
		return (-1);
	}
	r->u.label.kind = (uint8_t)k;
	r->u.label.label = label;
	r->u.label.l.seq = ax_seq_from(ax, seq);
	r->u.label.l.ts = ts;
	r->u.label.l.feedback = fb;
	return (0);
}

static int
ax_list(struct export_aux *ax, const json_t *o, char **why)
{
	struct store_list_entry	*e;
	struct ax_rec		*r;
	const json_t		*cidr = json_object_get(o, "cidr");
	const json_t		*mem = json_object_get(o, "members");
	const char		*kind = json_string_value(json_object_get(o,
				    "kind")), *m;
	uint8_t			 b[1 + RG_HASH_LEN];
	uint64_t		 seq;
	size_t			 i, n, len;
	int			 k;

	r = ax_add(ax, AX_LIST);
	e = &r->u.list.e;
	if (ax_strcpy(o, "list", r->u.list.name, LIST_NAME_MAX) != 0 ||
	    r->u.list.name[0] == '\0' || kind == NULL ||
	    (k = analyst_kind_from_name(kind)) < 0 ||
	    ax_hash(o, "hash", &e->h) != 0 ||
	    ax_int(o, "added", &e->added) != 0 ||
	    ax_uint(o, "seq", false, &seq) != 0 ||
	    ax_int(o, "expires", &e->expires) != 0 ||
	    ax_strcpy(o, "by", e->by, LIST_BY_MAX) != 0 ||
	    ax_strcpy(o, "reason", e->reason, LIST_REASON_MAX) != 0 ||
	    !(json_is_null(cidr) || (json_is_integer(cidr) &&
	    json_integer_value(cidr) >= 0 && json_integer_value(cidr) <= 128)) ||
	    !json_is_string(mem) ||
	    (len = json_string_length(mem)) % MEMBER_HEX != 0 ||
	    len / MEMBER_HEX > LIST_MEMBERS_MAX) {
		*why = xstrdup("a list entry needs \"list\", \"hash\", "
		    "\"kind\", \"cidr\", \"added\", \"seq\", \"expires\", "
		    "\"by\", \"reason\" and \"members\" (hex, 17 bytes each, "
		    "at most 65536)");
		return (-1);
	}
	e->kind = (uint8_t)k;
	e->cidr = json_is_null(cidr) ? LIST_NO_CIDR :
	    (uint8_t)json_integer_value(cidr);
	e->seq = ax_seq_from(ax, seq);
	n = len / MEMBER_HEX;
	e->nmembers = (uint32_t)n;
	r->u.list.m = xreallocarray(NULL, n ? n : 1, sizeof(*r->u.list.m));
	r->u.list.nm = n;
	m = json_string_value(mem);
	for (i = 0; i < n; i++) {
		if (export_hex_decode(m + i * MEMBER_HEX, MEMBER_HEX, b,
		    sizeof(b)) < 0) {
			xasprintf(why, "list %s: \"members\" is not hex",
			    r->u.list.name);
			return (-1);
		}
		r->u.list.m[i].kind = b[0];
		memcpy(r->u.list.m[i].h.b, b + 1, RG_HASH_LEN);
	}
	ax->weight += n;
	return (0);
}

/* An action's name (rules_action_name()) back: -1 unknown. */
static int
ax_action(const json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));
	int		 a;

	for (a = ACTION_ALLOW; s != NULL && a <= ACTION_DENY; a++)
		if (strcmp(rules_action_name(a), s) == 0)
			return (a);
	return (-1);
}

/* The queue line's reward and reasons. 0 or -1. */
static int
ax_queue_more(const json_t *o, struct store_queue_item *q)
{
	const json_t	*rw = json_object_get(o, "reward");
	const json_t	*rs = json_object_get(o, "reasons");
	const json_t	*amount;
	size_t		 i;

	if (!json_is_null(rw)) {
		amount = json_object_get(rw, "amount");
		if (!json_is_number(amount) ||
		    !isfinite(json_number_value(amount)) ||
		    ax_strcpy(rw, "currency", q->reward_currency, 3) != 0)
			return (-1);
		q->has_reward = true;
		q->reward_amount = json_number_value(amount);
	}
	if (!json_is_array(rs) || json_array_size(rs) > QUEUE_REASONS)
		return (-1);
	q->nreasons = (uint8_t)json_array_size(rs);
	for (i = 0; i < q->nreasons; i++) {
		const json_t	*s = json_array_get(rs, i);

		if (!json_is_string(s) || json_string_length(s) >
		    QUEUE_REASON_MAX)
			return (-1);
		memcpy(q->reasons[i], json_string_value(s),
		    json_string_length(s));
		q->reasons[i][json_string_length(s)] = '\0';
	}
	return (0);
}

/* Is the event at seq (new) the referral id? 0 yes, -1 no (*why). */
static int
ax_queue_event(struct export_aux *ax, uint64_t old, uint64_t seq,
    const char *id, char **why)
{
	struct store_txn	*txn;
	struct rg_event		 ev;
	char			*cause = NULL;
	int			 rc;

	if ((txn = store_begin(ax->st, false, &cause)) == NULL) {
		xasprintf(why, "queue item %" PRIu64 ": %s", old, cause);
		free(cause);
		return (-1);
	}
	rc = store_get_event(txn, seq, &ev);
	if (rc < 0)
		xasprintf(why, "queue item %" PRIu64 ": %s", old,
		    store_txn_errstr(txn));
	else if (rc == 1 || ev.type != EV_REFERRAL || ev.idlen != strlen(id) ||
	    memcmp(ev.id, id, ev.idlen) != 0) {
		xasprintf(why, "queue item %" PRIu64 ": its event is not the "
		    "referral %s", old, id);
		rc = -1;
	}
	store_abort(txn);
	return (rc == 0 ? 0 : -1);
}

static int
ax_queue(struct export_aux *ax, const json_t *o, char **why)
{
	struct store_queue_item	*q;
	struct ax_rec		*r;
	const char		*origin = json_string_value(json_object_get(o,
				    "origin"));
	const char		*state = json_string_value(json_object_get(o,
				    "state"));
	const char		*dec = json_string_value(json_object_get(o,
				    "decision"));
	uint64_t		 old, seq;
	int64_t			 score;
	int			 st, d, a, pa;

	if (ax_uint(o, "queue", false, &old) != 0) {
		*why = xstrdup("\"queue\" is not a positive seq");
		return (-1);
	}
	if (old <= ax->q_old) {
		xasprintf(why, "queue item %" PRIu64 " is not after item %"
		    PRIu64 ": items come once each, in order", old, ax->q_old);
		return (-1);
	}
	r = ax_add(ax, AX_QUEUE);
	q = &r->u.q;
	if (ax_strcpy(o, "id", q->id, RG_ID_MAX) != 0 || q->id[0] == '\0' ||
	    state == NULL || (st = store_queue_state_from_name(state)) < 0 ||
	    dec == NULL || ((d = store_queue_decision_from_name(dec)) < 0 &&
	    strcmp(dec, "none") != 0) ||
	    (a = ax_action(o, "action")) < 0 ||
	    (pa = ax_action(o, "previous_action")) < 0 || origin == NULL ||
	    (strcmp(origin, "check") != 0 && strcmp(origin, "recheck") != 0) ||
	    ax_int(o, "score", &score) != 0 || score < INT32_MIN ||
	    score > INT32_MAX || ax_int(o, "created", &q->created) != 0 ||
	    ax_int(o, "claimed", &q->claimed) != 0 ||
	    ax_int(o, "decided", &q->decided) != 0 ||
	    ax_uint(o, "feedback", true, &q->feedback) != 0 ||
	    ax_strcpy(o, "campaign", q->campaign, QUEUE_CAMPAIGN_MAX) != 0 ||
	    ax_strcpy(o, "assignee", q->assignee, QUEUE_BY_MAX) != 0 ||
	    ax_strcpy(o, "decided_by", q->decided_by, QUEUE_BY_MAX) != 0 ||
	    ax_queue_more(o, q) != 0) {
		xasprintf(why, "queue item %" PRIu64 ": needs \"id\", "
		    "\"state\", \"action\", \"score\", \"created\", \"origin\", "
		    "\"previous_action\", \"campaign\", \"reward\", "
		    "\"reasons\" (at most %d), \"assignee\", \"claimed\", "
		    "\"decision\", \"decided_by\", \"decided\" and "
		    "\"feedback\"", old, QUEUE_REASONS);
		return (-1);
	}
	/* Only what the daemon itself writes: a decided item has a decision,
	 * a claimed one its reviewer. */
	if ((st == QUEUE_DECIDED && d <= 0) ||
	    (st == QUEUE_CLAIMED && q->assignee[0] == '\0')) {
		xasprintf(why, "queue item %" PRIu64 " (%s): state %s with "
		    "decision %s and assignee \"%s\": not an item refguard "
		    "writes", old, q->id, state, dec, q->assignee);
		return (-1);
	}
	if ((seq = ax_seq_exact(ax, old)) == 0) {
		xasprintf(why, "queue item %" PRIu64 " (%s): its event is not "
		    "in the file", old, q->id);
		return (-1);
	}
	if (ax_queue_event(ax, old, seq, q->id, why) != 0)
		return (-1);
	q->item = r->id = seq;
	q->state = (uint8_t)st;
	q->decision = d < 0 ? QUEUE_UNDECIDED : (uint8_t)d;
	q->action = (uint8_t)a;
	q->prev_action = (uint8_t)pa;
	q->origin = strcmp(origin, "recheck") == 0 ? QUEUE_FROM_RECHECK :
	    QUEUE_FROM_CHECK;
	q->score = (int32_t)score;
	ax->q_old = old;
	ax->q_new = seq;
	ax->q_n = 0;
	return (0);
}

static int
ax_queuelog(struct export_aux *ax, const json_t *o, char **why)
{
	struct ax_rec	*r;
	uint64_t	 item, n;

	if (ax_uint(o, "queuelog", false, &item) != 0 ||
	    ax_uint(o, "n", false, &n) != 0) {
		*why = xstrdup("a queue log line needs \"queuelog\" (its item) "
		    "and \"n\"");
		return (-1);
	}
	if (item != ax->q_old || ax->q_old == 0 || n != ax->q_n + 1) {
		xasprintf(why, "queue log %" PRIu64 "/%" PRIu64 " does not "
		    "follow its item's line and log record %" PRIu64, item, n,
		    n - 1);
		return (-1);
	}
	r = ax_add(ax, AX_QUEUELOG);
	r->id = ax->q_new;
	if (ax_text(o, r) != 0) {
		xasprintf(why, "queue log %" PRIu64 "/%" PRIu64 ": \"rec\" is "
		    "not hex", item, n);
		return (-1);
	}
	ax->q_n = n;
	return (0);
}

int
export_aux_line(struct export_aux *ax, const json_t *o, char **why)
{
	static int (*const fn[])(struct export_aux *, const json_t *,
	    char **) = {
		ax_feedback, ax_label, ax_list, ax_listlog, ax_queue,
		ax_queuelog,
	};
	size_t	i, n = 0, at = AX_FEEDBACK;

	/* Labels and queue items name their feedback: that key comes last. */
	for (i = 0; i < nitems(ax_keys); i++)
		if (i != AX_FEEDBACK && json_object_get(o, ax_keys[i]) != NULL) {
			n++;
			at = i;
		}
	if (n > 1) {
		*why = xstrdup("a line holds one record: feedback, label, list, "
		    "listlog, queue or queuelog");
		return (-1);
	}
	ax->started = true;
	if (fn[at](ax, o, why) == 0)
		return (0);
	/* The record ax_add() took for the line is dropped with it. */
	if (ax->nrecs > 0 && ax->recs[ax->nrecs - 1].kind == (enum ax_kind)at) {
		free(ax->recs[ax->nrecs - 1].text);
		if (at == AX_LIST)
			free(ax->recs[ax->nrecs - 1].u.list.m);
		ax->nrecs--;
	}
	return (-1);
}

int
export_aux_put(struct export_aux *ax, struct store_txn *txn)
{
	struct ax_rec	*r;
	uint64_t	 id;
	size_t		 i;
	int		 rc = 0;

	for (i = 0; i < ax->nrecs && rc == 0; i++) {
		r = &ax->recs[i];
		switch (r->kind) {
		case AX_FEEDBACK:
			rc = store_feedback_put(txn, r->text, r->len, &id);
			break;
		case AX_LABEL:
			rc = store_label_put(txn, r->u.label.kind,
			    &r->u.label.h, r->u.label.label, &r->u.label.l);
			break;
		case AX_LIST:
			rc = store_list_put(txn, r->u.list.name, &r->u.list.e,
			    r->u.list.m, r->u.list.nm);
			break;
		case AX_LISTLOG:
			rc = store_listlog_put(txn, r->text, r->len);
			break;
		case AX_QUEUE:
			rc = store_queue_put(txn, &r->u.q, NULL);
			break;
		case AX_QUEUELOG:
			rc = store_queuelog_put(txn, r->id, r->text, r->len);
			break;
		}
		rc = rc < 0 ? -1 : 0;
	}
	return (rc);
}

void
export_aux_done(struct export_aux *ax, struct export_counts *c)
{
	uint64_t	*n[] = {
		&c->feedback, &c->labels, &c->lists, &c->listlog, &c->queue,
		&c->queuelog,
	};
	size_t		 i;

	for (i = 0; i < ax->nrecs; i++)
		(*n[ax->recs[i].kind])++;
	ax_clear(ax);
}

int
export_aux_end(const json_t *end, int version, const struct export_counts *c,
    char **why)
{
	static const char *const keys[] = {
		"events", "verdicts", "meta", "feedback", "labels", "lists",
		"listlog", "queue", "queuelog",
	};
	const uint64_t	 n[] = {
		c->events, c->verdicts, c->meta, c->feedback, c->labels,
		c->lists, c->listlog, c->queue, c->queuelog,
	};
	const json_t	*v;
	size_t		 i;

	for (i = 0; i < nitems(keys); i++) {
		v = json_object_get(end, keys[i]);
		if (v == NULL && i >= 3 && version < 2)
			continue;	/* not in that version's files */
		if (!json_is_integer(v)) {
			xasprintf(why, "the end line has no count of %s",
			    keys[i]);
			return (-1);
		}
		if ((uint64_t)json_integer_value(v) != n[i]) {
			xasprintf(why, "the end line counts %" JSON_INTEGER_FORMAT
			    " %s, the file holds %" PRIu64 ": lines are "
			    "missing or added", json_integer_value(v), keys[i],
			    n[i]);
			return (-1);
		}
	}
	return (0);
}

bool
export_aux_stored(const struct store_stat *ss)
{
	return (ss->feedback != 0 || ss->labels != 0 ||
	    ss->list_entries != 0 || ss->list_log != 0 ||
	    ss->queue_open != 0 || ss->queue_claimed != 0 ||
	    ss->queue_decided != 0);
}
