/* req.c: strict decoding of request lines; see req.h. */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyst.h"
#include "ident.h"
#include "jread.h"
#include "queue.h"
#include "verdict_list.h"
#include "rules.h"
#include "req.h"
#include "sbuf.h"
#include "util.h"

#define DEVICE_MAX_ATTRS	32

const char *const req_error_codes[REQ_NERRCODES] = {
	"bad_json", "bad_request", "unknown_op", "line_too_long",
	"not_found", "store_full", "store_error", "idle_timeout",
	"too_many_connections", "stopping", "cluster_unavailable", "other",
};

static const char *const op_names[OP__MAX] = {
	[OP_PING] = "ping", [OP_CHECK] = "check", [OP_OBSERVE] = "observe",
	[OP_VERDICT] = "verdict", [OP_EXPLAIN] = "explain",
	[OP_STATS] = "stats", [OP_RELOAD] = "reload",
	[OP_RECHECK] = "recheck", [OP_FEEDBACK] = "feedback",
	[OP_LIST_ADD] = "list.add", [OP_LIST_DEL] = "list.del",
	[OP_LIST_GET] = "list.get", [OP_LIST_LOG] = "list.log",
	[OP_RULES] = "rules",
	[OP_QUEUE_LIST] = "queue.list", [OP_QUEUE_GET] = "queue.get",
	[OP_QUEUE_CLAIM] = "queue.claim", [OP_QUEUE_UNCLAIM] = "queue.unclaim",
	[OP_QUEUE_DECIDE] = "queue.decide",
	[OP_VERDICTS_LIST] = "verdicts.list",
	[OP_GRAPH] = "graph", [OP_STATS_DAILY] = "stats.daily",
};

/* Top-level fields each op accepts ("op" always). */
static const char *const check_fields[] = { "op", "id", "ts", "campaign",
    "referrer", "referee", "reward", "meta", NULL };
static const char *const observe_fields[] = { "op", "kind", "ts", "account",
    "email", "ip", "device", "phone", "payment", "meta", NULL };
static const char *const id_fields[] = { "op", "id", NULL };
static const char *const recheck_fields[] = { "op", "id", "ts", NULL };
static const char *const bare_fields[] = { "op", NULL };
static const char *const party_fields[] = { "account", "email", "ip",
    "device", "phone", "payment", NULL };
static const char *const reward_fields[] = { "amount", "currency", NULL };
static const char *const feedback_fields[] = { "op", "id", "account",
    "label", "note", "by", NULL };
static const char *const list_add_fields[] = { "op", "list", "value",
    "kind", "expires", "reason", "by", NULL };
static const char *const list_del_fields[] = { "op", "list", "value",
    "kind", "reason", "by", NULL };
static const char *const list_get_fields[] = { "op", "list", "value",
    "kind", NULL };
static const char *const list_log_fields[] = { "op", "list", "limit",
    NULL };
static const char *const queue_list_fields[] = { "op", "state", "action",
    "rule", "campaign", "assignee", "score_min", "score_max", "since", "until",
    "sort", "cursor", "limit", NULL };
static const char *const graph_fields[] = { "op", "id", "ids", NULL };
static const char *const queue_claim_fields[] = { "op", "id", "by", NULL };
static const char *const queue_decide_fields[] = { "op", "id", "ids",
    "filter", "count", "decision", "note", "by", NULL };
static const char *const verdicts_list_fields[] = { "op", "action",
    "rule", "campaign", "since", "until", "cursor", "limit", NULL };
static const char *const stats_daily_fields[] = { "op", "since", "until",
    "kinds", "rule", NULL };
static const char *const queue_filter_fields[] = { "state", "action",
    "rule", "campaign", "assignee", "score_min", "score_max", "since", "until",
    NULL };

const char *
req_op_name(enum req_op op)
{
	return (op < OP__MAX ? op_names[op] : "?");
}

static int
req_fail(struct req_error *err, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list	ap;

	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return (-1);
}

/* "referee" + "ip" -> "referee.ip"; prefix may be "". */
static const char *
path(char *buf, size_t len, const char *prefix, const char *name)
{
	if (snprintf(buf, len, "%s%s%s", prefix, *prefix ? "." : "",
	    name) >= (int)len)
		buf[len - 1] = '\0';	/* a truncated path still names the place */
	return (buf);
}

static const char *
type_name(const struct jr_val *v)
{
	switch (v->type) {
	case JR_OBJECT:
		return ("an object");
	case JR_ARRAY:
		return ("an array");
	case JR_STRING:
		return ("a string");
	case JR_INTEGER:
	case JR_REAL:
		return ("a number");
	case JR_TRUE:
	case JR_FALSE:
		return ("a boolean");
	case JR_NULL:
		return ("null");
	}
	return ("?");
}

/* Every key of obj must be in allowed. */
static int
check_fields_known(const struct jr_val *obj, const char *const *allowed,
    const char *prefix, struct req_error *err)
{
	const char	*key;
	const struct jr_val *v;
	char		 p[96], esc[64];
	size_t		 i;

	JR_FOREACH(obj, v) {
		key = v->key;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			str_escape(key, strlen(key), esc, sizeof(esc));
			return (req_fail(err, "bad_request",
			    path(p, sizeof(p), prefix, esc),
			    "unknown field"));
		}
	}
	return (0);
}

/* A string field into s and len; s is NULL when the field is absent. */
static int
get_string(const struct jr_val *obj, const char *name, const char *prefix,
    bool required, size_t max, const char **s, size_t *len,
    struct req_error *err)
{
	const struct jr_val *v = jr_get(obj, name);
	char	 p[96];

	*s = NULL;
	*len = 0;
	if (v == NULL || jr_is(v, JR_NULL)) {
		if (required)
			return (req_fail(err, "bad_request",
			    path(p, sizeof(p), prefix, name), "required"));
		return (0);
	}
	if (!jr_is(v, JR_STRING))
		return (req_fail(err, "bad_request",
		    path(p, sizeof(p), prefix, name),
		    "must be a string, not %s", type_name(v)));
	*s = v->s;
	*len = v->len;
	if (*len == 0 && required)
		return (req_fail(err, "bad_request",
		    path(p, sizeof(p), prefix, name), "must not be empty"));
	if (*len > max)
		return (req_fail(err, "bad_request",
		    path(p, sizeof(p), prefix, name),
		    "longer than %zu bytes", max));
	return (0);
}

static bool
has_control(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return (true);
	return (false);
}

/* One message for every time outside 0 .. TIME_MAX_MS, whatever its form. */
static int
time_out_of_range(const char *field, struct req_error *err)
{
	return (req_fail(err, "bad_request", field, "out of range: times run "
	    "from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"));
}

/*
 * Event time (a recheck's: as of when): RFC 3339 string or Unix
 * milliseconds, into ev->ts; now when absent (ev->ts_given false).
 */
static int
get_ts(const struct jr_val *obj, const struct req_opts *o, struct rg_event *ev,
    struct req_error *err)
{
	const struct jr_val *v = jr_get(obj, "ts");
	char	 when[RFC3339_LEN];
	int64_t	*ts = &ev->ts;

	if (v == NULL || jr_is(v, JR_NULL)) {
		*ts = o->now;
		return (0);
	}
	ev->ts_given = true;
	if (jr_is(v, JR_INTEGER)) {
		*ts = v->i;
		if (*ts < 0 || *ts > TIME_MAX_MS)
			return (time_out_of_range("ts", err));
	} else if (jr_is(v, JR_STRING)) {
		if (parse_rfc3339(v->s, v->len, ts) != 0)
			return (req_fail(err, "bad_request", "ts",
			    "not an RFC 3339 time like 2026-11-23T10:00:00Z "
			    "or Unix milliseconds"));
		if (*ts < 0 || *ts > TIME_MAX_MS)
			return (time_out_of_range("ts", err));
	} else if (jr_is(v, JR_REAL))
		return (req_fail(err, "bad_request", "ts",
		    "Unix milliseconds must be a whole number"));
	else
		return (req_fail(err, "bad_request", "ts",
		    "must be an RFC 3339 string or Unix milliseconds, not %s",
		    type_name(v)));
	if (o->retention > 0 && *ts < o->now - o->retention)
		return (req_fail(err, "bad_request", "ts",
		    "%s is older than the retention horizon",
		    fmt_rfc3339(*ts, when)));
	if (o->max_future > 0 && *ts > o->now + o->max_future)
		return (req_fail(err, "bad_request", "ts",
		    "%s is in the future", fmt_rfc3339(*ts, when)));
	return (0);
}

static int
decode_device(const struct ident *id, const struct jr_val *dev,
    const char *prefix, struct party *p, struct req_error *err)
{
	struct dev_attr	 attrs[DEVICE_MAX_ATTRS];
	char		 numbuf[DEVICE_MAX_ATTRS][24], fp[96], kp[96], esc[64];
	const char	*key, *errkey = NULL, *msg = NULL;
	const struct jr_val *v;
	size_t		 n = 0, i;

	path(fp, sizeof(fp), prefix, "device");
	if (!jr_is(dev, JR_OBJECT))
		return (req_fail(err, "bad_request", fp,
		    "must be an object, not %s", type_name(dev)));
	if (dev->len > DEVICE_MAX_ATTRS)
		return (req_fail(err, "bad_request", fp,
		    "more than %d attributes", DEVICE_MAX_ATTRS));
	JR_FOREACH(dev, v) {
		key = v->key;
		str_escape(key, strlen(key), esc, sizeof(esc));
		attrs[n].key = key;
		attrs[n].keylen = strlen(key);
		if (jr_is(v, JR_STRING)) {
			attrs[n].val = v->s;
			attrs[n].vallen = v->len;
		} else if (jr_is(v, JR_INTEGER)) {
			snprintf(numbuf[n], sizeof(numbuf[n]), "%lld",
			    (long long)v->i);
			attrs[n].val = numbuf[n];
			attrs[n].vallen = strlen(numbuf[n]);
		} else if (jr_is(v, JR_NULL))
			continue;
		else
			return (req_fail(err, "bad_request",
			    path(kp, sizeof(kp), fp, esc),
			    "must be a string, not %s", type_name(v)));
		n++;
	}
	if (ident_device(id, attrs, n, p, &errkey, &msg) != 0) {
		if (errkey != NULL) {
			for (i = 0; i < n; i++)
				if (attrs[i].key == errkey)
					break;
			str_escape(errkey, strlen(errkey), esc, sizeof(esc));
			path(kp, sizeof(kp), fp, esc);
		} else
			snprintf(kp, sizeof(kp), "%s", fp);
		return (req_fail(err, "bad_request", kp, "%s", msg));
	}
	return (0);
}

typedef int (*ident_fn)(const struct ident *, const char *, size_t,
    struct party *, const char **);

/* The fields of one party; obj is the party object (or the request). */
static int
decode_party(const struct ident *id, const struct jr_val *obj,
    const char *prefix, struct party *p, struct req_error *err)
{
	static const struct {
		const char	*name;
		ident_fn	 fn;
		size_t		 max;
	} fields[] = {
		{ "account", ident_account, 128 },
		{ "email", ident_email, 254 },
		{ "ip", ident_ip, 64 },
		{ "phone", ident_phone, 64 },
		{ "payment", ident_payment, 256 },
	};
	const char	*s, *msg;
	const struct jr_val *dev;
	size_t		 len, i;
	char		 fp[96];

	memset(p, 0, sizeof(*p));
	for (i = 0; i < nitems(fields); i++) {
		if (get_string(obj, fields[i].name, prefix, i == 0,
		    fields[i].max, &s, &len, err) != 0)
			return (-1);
		if (s == NULL)
			continue;
		msg = "invalid";
		if (fields[i].fn(id, s, len, p, &msg) != 0)
			return (req_fail(err, "bad_request",
			    path(fp, sizeof(fp), prefix, fields[i].name),
			    "%s", msg));
	}
	dev = jr_get(obj, "device");
	if (dev != NULL && !jr_is(dev, JR_NULL) &&
	    decode_device(id, dev, prefix, p, err) != 0)
		return (-1);
	return (0);
}

static int
decode_reward(const struct jr_val *obj, struct rg_event *ev,
    struct req_error *err)
{
	const struct jr_val *r = jr_get(obj, "reward"), *amt;
	const char	*cur;
	size_t		 len, i;

	if (r == NULL || jr_is(r, JR_NULL))
		return (0);
	if (!jr_is(r, JR_OBJECT))
		return (req_fail(err, "bad_request", "reward",
		    "must be an object, not %s", type_name(r)));
	if (check_fields_known(r, reward_fields, "reward", err) != 0)
		return (-1);
	amt = jr_get(r, "amount");
	if (amt == NULL)
		return (req_fail(err, "bad_request", "reward.amount",
		    "required"));
	if (!jr_is_number(amt))
		return (req_fail(err, "bad_request", "reward.amount",
		    "must be a number, not %s", type_name(amt)));
	ev->reward_amount = jr_number(amt);
	if (!isfinite(ev->reward_amount) || ev->reward_amount < 0 ||
	    ev->reward_amount > 1e12)
		return (req_fail(err, "bad_request", "reward.amount",
		    "must be between 0 and 1e12"));
	if (get_string(r, "currency", "reward", false, 3, &cur, &len,
	    err) != 0)
		return (-1);
	if (cur != NULL) {
		for (i = 0; i < len; i++)
			if (cur[i] < 'A' || cur[i] > 'Z')
				break;
		if (len != 3 || i != 3)
			return (req_fail(err, "bad_request", "reward.currency",
			    "not an ISO 4217 code like EUR"));
		memcpy(ev->reward_currency, cur, 3);
	}
	ev->has_reward = true;
	return (0);
}

static int
decode_id(const struct jr_val *obj, bool required, struct rg_event *ev,
    struct req_error *err)
{
	const char	*s;
	size_t		 len;

	if (get_string(obj, "id", "", required, RG_ID_MAX, &s, &len, err) != 0)
		return (-1);
	if (s == NULL)
		return (0);
	if (has_control(s, len))
		return (req_fail(err, "bad_request", "id",
		    "contains control characters"));
	memcpy(ev->id, s, len);
	ev->id[len] = '\0';
	ev->idlen = len;
	return (0);
}

static int
decode_check(const struct ident *id, const struct jr_val *obj,
    const struct req_opts *o, struct rg_event *ev, struct req_error *err)
{
	const char	*s;
	size_t		 len;
	const char	*pn[RG_NPARTIES] = { "referrer", "referee" };
	const struct jr_val *pobj;
	int		 i;

	if (check_fields_known(obj, check_fields, "", err) != 0 ||
	    decode_id(obj, true, ev, err) != 0 || get_ts(obj, o, ev,
	    err) != 0)
		return (-1);
	ev->type = EV_REFERRAL;
	if (get_string(obj, "campaign", "", false, RG_CAMPAIGN_MAX, &s, &len,
	    err) != 0)
		return (-1);
	if (s != NULL) {
		if (has_control(s, len))
			return (req_fail(err, "bad_request", "campaign",
			    "contains control characters"));
		memcpy(ev->campaign, s, len);
		ev->campaign[len] = '\0';
	}
	if (decode_reward(obj, ev, err) != 0)
		return (-1);
	for (i = 0; i < RG_NPARTIES; i++) {
		pobj = jr_get(obj, pn[i]);
		if (pobj == NULL)
			return (req_fail(err, "bad_request", pn[i], "required"));
		if (!jr_is(pobj, JR_OBJECT))
			return (req_fail(err, "bad_request", pn[i],
			    "must be an object, not %s", type_name(pobj)));
		if (check_fields_known(pobj, party_fields, pn[i], err) != 0 ||
		    decode_party(id, pobj, pn[i], &ev->party[i], err) != 0)
			return (-1);
	}
	ev->nparties = 2;
	if (memcmp(ev->party[0].h[ENT_ACCOUNT].b, ev->party[1].h[ENT_ACCOUNT].b,
	    RG_HASH_LEN) == 0)
		return (req_fail(err, "bad_request", "referee.account",
		    "is the referrer's account"));
	ident_edge(id, &ev->party[0], &ev->party[1], &ev->edge);
	ev->has_edge = true;
	return (0);
}

static int
decode_observe(const struct ident *id, const struct jr_val *obj,
    const struct req_opts *o, struct rg_event *ev, struct req_error *err)
{
	const char	*s;
	size_t		 len;
	int		 t;

	if (check_fields_known(obj, observe_fields, "", err) != 0 ||
	    get_ts(obj, o, ev, err) != 0 ||
	    get_string(obj, "kind", "", true, 32, &s, &len, err) != 0)
		return (-1);
	t = rgev_type_from_name(s);
	if (t < 0 || t == EV_REFERRAL)
		return (req_fail(err, "bad_request", "kind",
		    "not one of signup, login, purchase, payout, update"));
	ev->type = (uint8_t)t;
	if (decode_party(id, obj, "", &ev->party[0], err) != 0)
		return (-1);
	ev->nparties = 1;
	return (0);
}

/* A short text field: no control bytes (note: newlines and tabs allowed). */
static int
get_text(const struct jr_val *obj, const char *name, size_t max, bool lines,
    char *out, struct req_error *err)
{
	const char	*s;
	size_t		 len, i;

	if (get_string(obj, name, "", false, max, &s, &len, err) != 0)
		return (-1);
	out[0] = '\0';
	if (s == NULL)
		return (0);
	for (i = 0; i < len; i++) {
		if (lines && (s[i] == '\n' || s[i] == '\t'))
			continue;
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '\0')
			return (req_fail(err, "bad_request", name,
			    "contains control characters"));
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return (0);
}

static int
decode_feedback(const struct ident *id, const struct jr_val *obj,
    struct rg_event *ev, struct analyst_req *ar, struct req_error *err)
{
	struct party	 p;
	const char	*s, *msg = "invalid";
	size_t		 len;
	char		 label[16];

	if (decode_id(obj, false, ev, err) != 0 ||
	    get_string(obj, "account", "", false, 128, &s, &len, err) != 0)
		return (-1);
	if ((ev->idlen == 0) == (s == NULL))
		return (req_fail(err, "bad_request", ev->idlen ? "account" : "id",
		    "give either id (a referral) or account"));
	if (s != NULL) {
		memset(&p, 0, sizeof(p));
		if (ident_account(id, s, len, &p, &msg) != 0)
			return (req_fail(err, "bad_request", "account", "%s",
			    msg));
		ar->by_account = true;
		ar->account = p.h[ENT_ACCOUNT];
	}
	if (get_string(obj, "label", "", true, sizeof(label) - 1, &s, &len,
	    err) != 0)
		return (-1);
	memcpy(label, s, len);
	label[len] = '\0';
	if ((ar->label = store_label_from_name(label)) < 0)
		return (req_fail(err, "bad_request", "label",
		    "not one of fraud, legit, chargeback, abuse"));
	return (get_text(obj, "note", ANALYST_NOTE_MAX, true, ar->note, err) ||
	    get_text(obj, "by", LIST_BY_MAX, false, ar->by, err));
}

/* A page's size, 1 to max: *limit stays as it is when absent. */
static int
get_limit(const struct jr_val *obj, int max, size_t *limit,
    struct req_error *err)
{
	const struct jr_val *v = jr_get(obj, "limit");

	if (v == NULL || jr_is(v, JR_NULL))
		return (0);
	if (!jr_is(v, JR_INTEGER) || v->i < 1 || v->i > max)
		return (req_fail(err, "bad_request", "limit", "must be "
		    "a whole number from 1 to %d", max));
	*limit = (size_t)v->i;
	return (0);
}

static int
decode_list(const struct jr_val *obj, enum req_op op, const struct req_opts *o,
    struct analyst_req *ar, struct req_error *err)
{
	const char	*s;
	size_t		 len, i;
	const struct jr_val *v;
	char		 kind[32];
	int64_t		 ms;

	if (get_string(obj, "list", "", op != OP_LIST_LOG, LIST_NAME_MAX, &s,
	    &len, err) != 0)
		return (-1);
	for (i = 0; s != NULL && i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.')
			return (req_fail(err, "bad_request", "list", "a list "
			    "name is letters, digits, '_', '-' and '.'"));
	if (s != NULL) {
		memcpy(ar->list, s, len);
		ar->list[len] = '\0';
	}
	if (op == OP_LIST_LOG) {
		ar->limit = ANALYST_LOG_DEFAULT;
		return (get_limit(obj, ANALYST_LOG_MAX, &ar->limit, err));
	}
	if (get_string(obj, "value", "", true, ANALYST_VALUE_MAX, &s, &len,
	    err) != 0)
		return (-1);
	if (memchr(s, '\0', len) != NULL)
		return (req_fail(err, "bad_request", "value",
		    "contains a NUL byte"));
	ar->value = xstrndup(s, len);
	ar->kind = -1;
	if (get_string(obj, "kind", "", false, sizeof(kind) - 1, &s, &len,
	    err) != 0)
		return (-1);
	if (s != NULL) {
		memcpy(kind, s, len);
		kind[len] = '\0';
		if ((ar->kind = analyst_kind_from_name(kind)) < 0)
			return (req_fail(err, "bad_request", "kind", "not one "
			    "of account, email, email.shape, email.name, phone, "
			    "phone.block, payment, device.id, ip, ip.prefix, "
			    "string, number"));
	}
	if (op == OP_LIST_GET)
		return (0);
	if (get_text(obj, "reason", LIST_REASON_MAX, false, ar->reason,
	    err) != 0 || get_text(obj, "by", LIST_BY_MAX, false, ar->by,
	    err) != 0)
		return (-1);
	if (op != OP_LIST_ADD)
		return (0);
	v = jr_get(obj, "expires");
	if (v == NULL || jr_is(v, JR_NULL))
		return (0);
	if (jr_is(v, JR_INTEGER))
		ar->expires = v->i;
	else if (jr_is(v, JR_STRING) && parse_duration(v->s,
	    &ms) == 0 && ms > 0) {
		if (o->now < 0 || ms > TIME_MAX_MS - o->now)
			return (time_out_of_range("expires", err));
		ar->expires = o->now + ms;
	} else if (!jr_is(v, JR_STRING) ||
	    parse_rfc3339(v->s, v->len, &ar->expires) != 0)
		return (req_fail(err, "bad_request", "expires", "a duration "
		    "from now (30d), an RFC 3339 time or Unix milliseconds"));
	if (ar->expires < 0 || ar->expires > TIME_MAX_MS)
		return (time_out_of_range("expires", err));
	if (ar->expires <= o->now)
		return (req_fail(err, "bad_request", "expires",
		    "is in the past"));
	return (0);
}

/* A queue.list time bound: RFC 3339, Unix ms, or a duration ago (7d). */
static int
get_bound(const struct jr_val *obj, const char *name, const struct req_opts *o,
    int64_t *out, struct req_error *err)
{
	const struct jr_val *v = jr_get(obj, name);
	int64_t	 ms;

	if (v == NULL || jr_is(v, JR_NULL))
		return (0);
	if (jr_is(v, JR_INTEGER))
		ms = v->i;
	else if (jr_is(v, JR_STRING) && parse_duration(v->s,
	    &ms) == 0)
		ms = o->now - ms;
	else if (!jr_is(v, JR_STRING) || parse_rfc3339(v->s, v->len, &ms) != 0)
		return (req_fail(err, "bad_request", name, "an RFC 3339 time, "
		    "Unix milliseconds or a duration ago (7d)"));
	if (ms < 0 || ms > TIME_MAX_MS)
		return (time_out_of_range(name, err));
	*out = ms;
	return (0);
}

static int
get_score(const struct jr_val *obj, const char *name, int64_t *out,
    struct req_error *err)
{
	const struct jr_val *v = jr_get(obj, name);

	if (v == NULL || jr_is(v, JR_NULL))
		return (0);
	if (!jr_is(v, JR_INTEGER) || v->i < INT32_MIN || v->i > INT32_MAX)
		return (req_fail(err, "bad_request", name, "must be a whole "
		    "number"));
	*out = v->i;
	return (0);
}

/* A short name field into buf (cap bytes): no control bytes. */
static int
get_name(const struct jr_val *obj, const char *name, size_t cap, char *buf,
    bool *has, struct req_error *err)
{
	const char	*s;
	size_t		 len;

	if (get_string(obj, name, "", false, cap - 1, &s, &len, err) != 0)
		return (-1);
	if (s == NULL)
		return (0);
	if (has_control(s, len))
		return (req_fail(err, "bad_request", name,
		    "contains control characters"));
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (has != NULL)
		*has = true;
	return (0);
}

/* An action filter: *action stays as it is when absent. */
static int
get_action(const struct jr_val *obj, int *action, struct req_error *err)
{
	char	buf[16];
	bool	has = false;
	int	a;

	if (get_name(obj, "action", sizeof(buf), buf, &has, err) != 0)
		return (-1);
	if (!has)
		return (0);
	for (a = ACTION_DENY; a >= 0; a--)
		if (strcmp(buf, rules_action_name(a)) == 0)
			break;
	if (a < 0)
		return (req_fail(err, "bad_request", "action",
		    "not one of allow, review, deny"));
	*action = a;
	return (0);
}

static int
decode_queue_list(const struct jr_val *obj, const struct req_opts *o,
    struct queue_req *q, struct req_error *err)
{
	char	buf[QUEUE_CURSOR_MAX];
	bool	has = false;
	
	buf[0] = '\0';
	if (get_name(obj, "state", 16, buf, &has, err) != 0)
		return (-1);
	if (has && (q->state = store_queue_state_from_name(buf)) < 0)
		return (req_fail(err, "bad_request", "state",
		    "not one of open, claimed, decided"));
	if (get_action(obj, &q->action, err) != 0)
		return (-1);
	has = false;
	if (get_name(obj, "sort", 16, buf, &has, err) != 0)
		return (-1);
	if (has && strcmp(buf, "score") == 0)
		q->by_score = true;
	else if (has && strcmp(buf, "newest") != 0)
		return (req_fail(err, "bad_request", "sort",
		    "not one of newest, score"));
	if (get_name(obj, "rule", sizeof(q->rule), q->rule, &q->has_rule,
	    err) != 0 || get_name(obj, "campaign", sizeof(q->campaign),
	    q->campaign, &q->has_campaign, err) != 0 || get_name(obj, "assignee",
	    sizeof(q->assignee), q->assignee, &q->has_assignee, err) != 0 ||
	    get_score(obj, "score_min", &q->score_min, err) != 0 ||
	    get_score(obj, "score_max", &q->score_max, err) != 0 ||
	    get_bound(obj, "since", o, &q->since, err) != 0 ||
	    get_bound(obj, "until", o, &q->until, err) != 0)
		return (-1);
	has = false;
	if (get_name(obj, "cursor", sizeof(buf), buf, &has, err) != 0)
		return (-1);
	if (has && queue_cursor_parse(buf, q->by_score, &q->cursor) != 0)
		return (req_fail(err, "bad_request", "cursor", "not a cursor "
		    "of this sort: pass \"next\" from the last page as it is"));
	q->has_cursor = has;
	return (get_limit(obj, QUEUE_LIMIT_MAX, &q->limit, err));
}

static int
decode_verdicts_list(const struct jr_val *obj, const struct req_opts *o,
    struct verdict_list_req *q, struct req_error *err)
{
	char	buf[VERDICT_LIST_CURSOR_MAX];
	bool	has = false;

	if (get_action(obj, &q->action, err) != 0 ||
	    get_name(obj, "rule", sizeof(q->rule), q->rule, &q->has_rule,
	    err) != 0 || get_name(obj, "campaign", sizeof(q->campaign),
	    q->campaign, &q->has_campaign, err) != 0 ||
	    get_bound(obj, "since", o, &q->since, err) != 0 ||
	    get_bound(obj, "until", o, &q->until, err) != 0 ||
	    get_name(obj, "cursor", sizeof(buf), buf, &has, err) != 0)
		return (-1);
	if (has && verdict_list_cursor_parse(buf, &q->before) != 0)
		return (req_fail(err, "bad_request", "cursor", "not a cursor "
		    "of verdicts.list: pass \"next\" from the last page as "
		    "it is"));
	return (get_limit(obj, VERDICT_LIST_LIMIT_MAX, &q->limit, err));
}

/* stats.daily: since, until (their days), kinds, rule. */
static int
decode_stats_daily(const struct jr_val *obj, const struct req_opts *o,
    struct daily_req *q, struct req_error *err)
{
	const struct jr_val *kinds, *v;
	size_t		 i;
	unsigned	 bit;

	if (get_bound(obj, "since", o, &q->since, err) != 0 ||
	    get_bound(obj, "until", o, &q->until, err) != 0 ||
	    get_name(obj, "rule", sizeof(q->rule), q->rule, &q->has_rule,
	    err) != 0)
		return (-1);
	kinds = jr_get(obj, "kinds");
	if (kinds == NULL || jr_is(kinds, JR_NULL))
		return (0);
	if (!jr_is(kinds, JR_ARRAY) || kinds->len == 0)
		return (req_fail(err, "bad_request", "kinds", "must be an "
		    "array of actions, rules, rechecks"));
	q->kinds = 0;
	i = 0;
	JR_FOREACH(kinds, v) {
		if (!jr_is(v, JR_STRING) ||
		    (bit = daily_kind_from_name(v->s)) == 0)
			return (req_fail(err, "bad_request", "kinds", "item "
			    "%zu is not one of actions, rules, rechecks", i));
		q->kinds |= bit;
		i++;
	}
	return (0);
}

/* "ids": up to QUEUE_IDS_MAX referral ids into q->ids (queue.decide, graph). */
static int
decode_ids(const struct jr_val *obj, struct queue_req *q, struct req_error *err)
{
	const struct jr_val *ids, *v;
	size_t	 i, len;

	ids = jr_get(obj, "ids");
	if (ids == NULL || jr_is(ids, JR_NULL))
		return (0);
	if (!jr_is(ids, JR_ARRAY) || ids->len == 0 ||
	    ids->len > QUEUE_IDS_MAX)
		return (req_fail(err, "bad_request", "ids", "must be an "
		    "array of 1 to %d referral ids", QUEUE_IDS_MAX));
	q->ids = xcalloc(ids->len, sizeof(*q->ids));
	i = 0;
	JR_FOREACH(ids, v) {
		if (!jr_is(v, JR_STRING) || (len = v->len) == 0 ||
		    len > RG_ID_MAX || has_control(v->s, len))
			return (req_fail(err, "bad_request", "ids",
			    "item %zu is not a referral id", i));
		memcpy(q->ids[i], v->s, len);
		q->nids++;
		i++;
	}
	return (0);
}

/* graph: one referral (id) drawn whole, or the parties of many (ids). */
static int
decode_graph(const struct jr_val *obj, struct rg_event *ev,
    struct analyst_req *ar, struct req_error *err)
{
	if (decode_id(obj, false, ev, err) != 0 ||
	    decode_ids(obj, &ar->queue, err) != 0)
		return (-1);
	if ((ev->idlen > 0) == (ar->queue.nids > 0))
		return (req_fail(err, "bad_request", "id", "give one of id "
		    "and ids"));
	return (0);
}

static int
decode_queue(const struct jr_val *obj, enum req_op op, const struct req_opts *o,
    struct rg_event *ev, struct analyst_req *ar, struct req_error *err)
{
	struct queue_req	*q = &ar->queue;
	const struct jr_val *v;
	char			 dec[16];
	bool			 has = false;

	if (op == OP_QUEUE_LIST)
		return (decode_queue_list(obj, o, q, err));
	if (decode_id(obj, op != OP_QUEUE_DECIDE, ev, err) != 0 ||
	    get_text(obj, "by", LIST_BY_MAX, false, ar->by, err) != 0)
		return (-1);
	if ((op == OP_QUEUE_CLAIM || op == OP_QUEUE_DECIDE) &&
	    ar->by[0] == '\0')
		return (req_fail(err, "bad_request", "by", "required: who "
		    "%s it", op == OP_QUEUE_CLAIM ? "claims" : "decides"));
	if (op != OP_QUEUE_DECIDE)
		return (0);
	if (get_name(obj, "decision", sizeof(dec), dec, &has, err) != 0)
		return (-1);
	if (!has)
		return (req_fail(err, "bad_request", "decision", "required"));
	if ((q->decision = store_queue_decision_from_name(dec)) < 0)
		return (req_fail(err, "bad_request", "decision",
		    "not one of approve, void"));
	if (get_text(obj, "note", ANALYST_NOTE_MAX, true, ar->note, err) != 0)
		return (-1);
	if (decode_ids(obj, q, err) != 0)
		return (-1);
	v = jr_get(obj, "filter");
	if (v != NULL && !jr_is(v, JR_NULL)) {
		if (!jr_is(v, JR_OBJECT))
			return (req_fail(err, "bad_request", "filter", "must be "
			    "an object of queue.list's filters"));
		if (q->nids > 0 || ev->idlen > 0)
			return (req_fail(err, "bad_request", "filter",
			    "give id, ids or filter, not several"));
		if (check_fields_known(v, queue_filter_fields, "filter",
		    err) != 0 || decode_queue_list(v, o, q, err) != 0)
			return (-1);
		q->by_filter = true;
		v = jr_get(obj, "count");
		if (v == NULL || !jr_is(v, JR_INTEGER) || v->i < 0)
			return (req_fail(err, "bad_request", "count", "required "
			    "with filter: how many items the filter showed"));
		q->count = (uint64_t)v->i;
		return (0);
	}
	if (jr_get(obj, "count") != NULL)
		return (req_fail(err, "bad_request", "count",
		    "goes with filter"));
	if (q->nids == 0 && ev->idlen == 0)
		return (req_fail(err, "bad_request", "id",
		    "give id (a referral), ids or filter"));
	return (0);
}

int
req_decode(const char *line, size_t len, const struct ident *id,
    const struct req_opts *o, enum req_op *opp, struct rg_event *ev,
    struct req_error *err)
{
	return (req_decode_full(line, len, id, o, opp, ev, NULL, err));
}

int
req_decode_full(const char *line, size_t len, const struct ident *id,
    const struct req_opts *o, enum req_op *opp, struct rg_event *ev,
    struct analyst_req *ar, struct req_error *err)
{
	static const char *const *const fields[OP__MAX] = {
		[OP_PING] = bare_fields, [OP_STATS] = bare_fields,
		[OP_RELOAD] = bare_fields, [OP_VERDICT] = id_fields,
		[OP_EXPLAIN] = id_fields, [OP_RECHECK] = recheck_fields,
		[OP_FEEDBACK] = feedback_fields,
		[OP_LIST_ADD] = list_add_fields,
		[OP_LIST_DEL] = list_del_fields,
		[OP_LIST_GET] = list_get_fields,
		[OP_LIST_LOG] = list_log_fields,
		[OP_RULES] = bare_fields,
		[OP_QUEUE_LIST] = queue_list_fields,
		[OP_QUEUE_GET] = id_fields,
		[OP_QUEUE_CLAIM] = queue_claim_fields,
		[OP_QUEUE_UNCLAIM] = queue_claim_fields,
		[OP_QUEUE_DECIDE] = queue_decide_fields,
		[OP_VERDICTS_LIST] = verdicts_list_fields,
		[OP_GRAPH] = graph_fields,
		[OP_STATS_DAILY] = stats_daily_fields,
	};
	struct jr_doc	 doc;
	json_error_t	 jerr;
	const struct jr_val *obj, *op;
	const char	*ops, *nul;
	char		 esc[64], names[512];
	size_t		 nlen;
	int		 rc = -1, i;

	memset(ev, 0, sizeof(*ev));
	*opp = OP_PING;
	err->code = NULL;
	err->field[0] = '\0';
	err->msg[0] = '\0';

	/* jansson lets one through after a number; JSON text holds none. */
	if ((nul = memchr(line, '\0', len)) != NULL)
		return (req_fail(err, "bad_json", "", "column %zu: a NUL byte",
		    (size_t)(nul - line) + 1));
	if (jr_read(&doc, line, len, &jerr) != 0)
		return (req_fail(err, "bad_json", "", "column %d: %s",
		    jerr.column, jerr.text));
	obj = &doc.v[0];
	if (!jr_is(obj, JR_OBJECT)) {
		req_fail(err, "bad_request", "", "a request is a JSON object, "
		    "not %s", type_name(obj));
		goto out;
	}
	op = jr_get(obj, "op");
	if (op == NULL) {
		req_fail(err, "bad_request", "op", "required");
		goto out;
	}
	if (!jr_is(op, JR_STRING)) {
		req_fail(err, "bad_request", "op", "must be a string, not %s",
		    type_name(op));
		goto out;
	}
	ops = op->s;
	for (i = 0; i < OP__MAX; i++)
		if (strcmp(ops, op_names[i]) == 0)
			break;
	if (i == OP__MAX) {
		str_escape(ops, op->len, esc, sizeof(esc));
		for (i = 0, nlen = 0; i < OP__MAX; i++)
			nlen += (size_t)snprintf(names + nlen, sizeof(names) -
			    nlen, "%s%s", i > 0 ? ", " : "", op_names[i]);
		req_fail(err, "unknown_op", "op", "unknown op \"%s\" (one of "
		    "%s)", esc, names);
		goto out;
	}
	*opp = (enum req_op)i;
	switch (*opp) {
	case OP_CHECK:
		rc = decode_check(id, obj, o, ev, err);
		ev->data_id = ident_data_id(id);
		break;
	case OP_OBSERVE:
		rc = decode_observe(id, obj, o, ev, err);
		ev->data_id = ident_data_id(id);
		break;
	default:
		if (check_fields_known(obj, fields[*opp], "", err) != 0)
			break;
		ev->ts = o->now;
		if (analyst_op(*opp)) {
			if (ar == NULL) {
				req_fail(err, "unknown_op", "op", "op %s is not "
				    "served here", op_names[*opp]);
				break;
			}
			memset(ar, 0, sizeof(*ar));
			ar->kind = -1;
			queue_req_init(&ar->queue);
			verdict_list_init(&ar->verdicts);
			daily_req_init(&ar->daily);
			if (*opp == OP_FEEDBACK)
				rc = decode_feedback(id, obj, ev, ar, err);
			else if (queue_op(*opp))
				rc = decode_queue(obj, *opp, o, ev, ar, err);
			else if (*opp == OP_VERDICTS_LIST)
				rc = decode_verdicts_list(obj, o, &ar->verdicts,
				    err);
			else if (*opp == OP_GRAPH)
				rc = decode_graph(obj, ev, ar, err);
			else if (*opp == OP_STATS_DAILY)
				rc = decode_stats_daily(obj, o, &ar->daily,
				    err);
			else
				rc = decode_list(obj, *opp, o, ar, err);
			if (rc != 0)
				analyst_req_clear(ar);
		} else if (*opp == OP_VERDICT || *opp == OP_EXPLAIN)
			rc = decode_id(obj, true, ev, err);
		else if (*opp == OP_RECHECK)
			rc = decode_id(obj, true, ev, err) != 0 ||
			    get_ts(obj, o, ev, err) != 0 ? -1 : 0;
		else
			rc = 0;
		break;
	}
out:
	/* Echo the id in errors when it can be read. */
	if (rc != 0 && ev->idlen == 0 && jr_is(obj, JR_OBJECT))
		decode_id(obj, false, ev, &(struct req_error){0});
	jr_done(&doc);
	return (rc);
}

char *
req_error_reply(const struct req_error *err, const char *id, size_t idlen,
    size_t *len)
{
	struct sbuf	sb;

	sbuf_init(&sb, 160);
	sbuf_adds(&sb, "{");
	if (id != NULL && idlen > 0) {
		sbuf_adds(&sb, "\"id\":");
		sbuf_add_jstr(&sb, id, idlen);
		sbuf_addc(&sb, ',');
	}
	sbuf_adds(&sb, "\"error\":{\"code\":");
	sbuf_add_jstr(&sb, err->code ? err->code : "error",
	    strlen(err->code ? err->code : "error"));
	if (err->field[0] != '\0') {
		sbuf_adds(&sb, ",\"field\":");
		sbuf_add_jstr(&sb, err->field, strlen(err->field));
	}
	sbuf_adds(&sb, ",\"msg\":");
	sbuf_add_jstr(&sb, err->msg, strlen(err->msg));
	sbuf_adds(&sb, "}}");
	return (sbuf_take(&sb, len));
}
