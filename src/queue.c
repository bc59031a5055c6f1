/*
 * queue.c: the review queue's ops; the contract is in queue.h, the
 * storage in store_aux.h.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyst.h"
#include "label.h"
#include "queue.h"
#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"
#include "verdict.h"

bool
queue_op(enum req_op op)
{
	return (op == OP_QUEUE_LIST || op == OP_QUEUE_GET ||
	    op == OP_QUEUE_CLAIM || op == OP_QUEUE_UNCLAIM ||
	    op == OP_QUEUE_DECIDE);
}

void
queue_req_init(struct queue_req *q)
{
	memset(q, 0, sizeof(*q));
	q->state = QUEUE_OPEN;
	q->action = -1;
	q->score_min = INT32_MIN;
	q->score_max = INT32_MAX;
	q->since = INT64_MIN;
	q->until = INT64_MAX;
	q->limit = QUEUE_LIMIT_DEFAULT;
}

void
queue_req_clear(struct queue_req *q)
{
	free(q->ids);
	q->ids = NULL;
	q->nids = 0;
}

void
queue_cursor_fmt(bool by_score, const struct store_queue_pos *p, char *buf,
    size_t len)
{
	snprintf(buf, len, "%c%" PRId64 ".%" PRIu64, by_score ? 's' : 't',
	    p->key, p->item);
}

int
queue_cursor_parse(const char *s, bool by_score, struct store_queue_pos *p)
{
	char		*end;
	long long	 k;
	unsigned long long item;

	if (*s != (by_score ? 's' : 't'))
		return (-1);
	s++;
	if (*s == '\0')
		return (-1);
	errno = 0;
	k = strtoll(s, &end, 10);
	if (*end != '.' || end == s || errno != 0)
		return (-1);
	s = end + 1;
	if (*s < '0' || *s > '9')
		return (-1);
	item = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return (-1);
	if (by_score && (k < INT32_MIN || k > INT32_MAX))
		return (-1);
	p->key = (int64_t)k;
	p->item = (uint64_t)item;
	return (0);
}

static void
add_str(struct sbuf *sb, const char *key, const char *s)
{
	sbuf_addf(sb, ",\"%s\":", key);
	if (s == NULL || *s == '\0')
		sbuf_adds(sb, "null");
	else
		sbuf_add_jstr(sb, s, strlen(s));
}

/* An item as one JSON object. */
static void
item_json(struct sbuf *sb, const struct store_queue_item *it)
{
	uint8_t	i;

	sbuf_adds(sb, "{\"id\":");
	sbuf_add_jstr(sb, it->id, strlen(it->id));
	sbuf_addf(sb, ",\"item\":%" PRIu64 ",\"state\":\"%s\","
	    "\"action\":\"%s\",\"score\":%d", it->item,
	    store_queue_state_name(it->state),
	    rules_action_name(it->action), (int)it->score);
	sbuf_add_jtime(sb, "created", it->created);
	sbuf_addf(sb, ",\"origin\":\"%s\"", it->origin == QUEUE_FROM_RECHECK ?
	    "recheck" : "check");
	if (it->origin == QUEUE_FROM_RECHECK)
		sbuf_addf(sb, ",\"previous_action\":\"%s\"",
		    rules_action_name(it->prev_action));
	add_str(sb, "campaign", it->campaign);
	if (it->has_reward) {
		sbuf_addf(sb, ",\"reward\":{\"amount\":%.17g,\"currency\":",
		    it->reward_amount);
		sbuf_add_jstr(sb, it->reward_currency,
		    strnlen(it->reward_currency, 3));
		sbuf_addc(sb, '}');
	} else
		sbuf_adds(sb, ",\"reward\":null");
	sbuf_adds(sb, ",\"reasons\":[");
	for (i = 0; i < it->nreasons; i++) {
		if (i > 0)
			sbuf_addc(sb, ',');
		sbuf_add_jstr(sb, it->reasons[i], strlen(it->reasons[i]));
	}
	sbuf_addc(sb, ']');
	add_str(sb, "assignee", it->assignee);
	sbuf_add_jtime(sb, "claimed", it->claimed);
	if (it->decision != QUEUE_UNDECIDED)
		sbuf_addf(sb, ",\"decision\":\"%s\"",
		    store_queue_decision_name(it->decision));
	else
		sbuf_adds(sb, ",\"decision\":null");
	add_str(sb, "decided_by", it->decided_by);
	sbuf_add_jtime(sb, "decided", it->decided);
	sbuf_addc(sb, '}');
}

/* queue.list */
struct list_ctx {
	const struct queue_req	*q;
	struct sbuf		*sb;
	size_t			 n;
	bool			 more;
	struct store_queue_pos	 last;
};

/* Does it pass the list's filters (its state is the scan's)? */
static bool
matches(const struct queue_req *q, const struct store_queue_item *it)
{
	uint8_t	i;

	for (i = 0; q->has_rule && i < it->nreasons; i++)
		if (strcmp(it->reasons[i], q->rule) == 0)
			break;
	if (q->has_rule && i == it->nreasons)
		return (false);
	return (!((q->action >= 0 && it->action != q->action) ||
	    (q->has_campaign && strcmp(it->campaign, q->campaign) != 0) ||
	    (q->has_assignee && strcmp(it->assignee, q->assignee) != 0) ||
	    it->score < q->score_min || it->score > q->score_max ||
	    it->created < q->since || it->created > q->until));
}

static int
list_cb(void *arg, const struct store_queue_item *it)
{
	struct list_ctx		*x = arg;
	const struct queue_req	*q = x->q;

	if (!matches(q, it))
		return (0);
	if (x->n == q->limit) {
		x->more = true;
		return (1);
	}
	if (x->n > 0)
		sbuf_addc(x->sb, ',');
	item_json(x->sb, it);
	x->n++;
	x->last.item = it->item;
	x->last.key = q->by_score ? it->score : it->created;
	return (0);
}

static int
queue_list(struct store_txn *txn, const struct queue_req *q, struct sbuf *sb)
{
	struct list_ctx	x = { .q = q, .sb = sb };
	char		cur[QUEUE_CURSOR_MAX];

	sbuf_addf(sb, "{\"ok\":true,\"state\":\"%s\",\"sort\":\"%s\","
	    "\"items\":[", store_queue_state_name(q->state), q->by_score ?
	    "score" : "newest");
	if (store_queue_scan(txn, q->state, q->by_score, q->has_cursor ?
	    &q->cursor : NULL, q->by_score ? q->score_min : q->since,
	    q->by_score ? q->score_max : q->until, list_cb, &x) != 0)
		return (-1);
	sbuf_addf(sb, "],\"count\":%zu,\"next\":", x.n);
	if (x.more) {
		queue_cursor_fmt(q->by_score, &x.last, cur, sizeof(cur));
		sbuf_addf(sb, "\"%s\"}", cur);
	} else
		sbuf_adds(sb, "null}");
	return (0);
}

/* The queue item of referral id: 0, 1 none (not_found), -1. */
static int
item_of(struct store_txn *txn, const char *id, size_t idlen,
    struct store_queue_item *it)
{
	struct verdict_rec	 r;
	const void		*rec;
	size_t			 len;
	int			 rc;

	if ((rc = store_get_verdict(txn, id, idlen, &rec, &len)) != 0)
		return (rc);
	if (verdict_rec_decode(rec, len, &r) != 0)
		return (1);
	return (store_queue_get(txn, r.seq, it));
}

/* An audit record for item: what was done, by whom, the state before. */
static int
audit(struct store_txn *txn, const struct store_queue_item *before,
    const struct store_queue_item *after, const char *what, const char *by,
    const char *note, uint64_t feedback, int64_t now)
{
	struct sbuf	sb;
	char		when[RFC3339_LEN];
	int		rc;

	sbuf_init(&sb, 256);
	sbuf_addf(&sb, "{\"ts\":\"%s\",\"op\":\"%s\"", fmt_rfc3339(now, when),
	    what);
	add_str(&sb, "by", by);
	sbuf_addf(&sb, ",\"from\":\"%s\",\"to\":\"%s\"",
	    store_queue_state_name(before->state),
	    store_queue_state_name(after->state));
	add_str(&sb, "assignee_before", before->assignee);
	if (after->decision != QUEUE_UNDECIDED && after->decided == now) {
		sbuf_addf(&sb, ",\"decision\":\"%s\"",
		    store_queue_decision_name(after->decision));
		add_str(&sb, "note", note);
		sbuf_addf(&sb, ",\"feedback\":%" PRIu64, feedback);
	}
	sbuf_addc(&sb, '}');
	rc = store_queuelog_put(txn, after->item, sb.buf, sb.len);
	sbuf_free(&sb);
	return (rc);
}

/* queue.get: the item, its verdict explained, its history. */
struct hist_ctx {
	struct sbuf	*sb;
	bool		 first;
};

static int
hist_cb(void *arg, uint64_t n, const char *rec, size_t len)
{
	struct hist_ctx	*h = arg;

	if (!h->first)
		sbuf_addc(h->sb, ',');
	h->first = false;
	sbuf_add(h->sb, rec, len);
	return (0);
}

static int
queue_get(struct store_txn *txn, const struct rg_event *ev,
    const struct store_queue_item *it, struct sbuf *sb)
{
	struct verdict	 v = { 0 };
	struct hist_ctx	 h = { sb, true };
	int		 rc;

	sbuf_adds(sb, "{\"ok\":true,\"item\":");
	item_json(sb, it);
	sbuf_adds(sb, ",\"verdict\":");
	rc = verdict_lookup(txn, ev->id, ev->idlen, true, &v);
	if (rc < 0)
		return (-1);
	if (rc == 0)
		sbuf_add(sb, v.reply, v.replylen);
	else
		sbuf_adds(sb, "null");
	verdict_clear(&v);
	sbuf_adds(sb, ",\"history\":[");
	if (store_queuelog_scan(txn, it->item, hist_cb, &h) != 0)
		return (-1);
	sbuf_adds(sb, "]}");
	return (0);
}

static int
fail(const char **errcode, const char *code, char *msg, size_t msglen,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
fail(const char **errcode, const char *code, char *msg, size_t msglen,
    const char *fmt, ...)
{
	va_list	ap;

	*errcode = code;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return (1);
}

/* queue.claim, queue.unclaim */
static int
queue_claim(struct store_txn *txn, bool claim, struct store_queue_item *it,
    const char *by, int64_t now, struct sbuf *sb, const char **errcode,
    char *msg, size_t msglen)
{
	struct store_queue_item	before = *it;

	if (it->state == QUEUE_DECIDED)
		return (fail(errcode, "conflict", msg, msglen, "already "
		    "decided (%s by %s)", store_queue_decision_name(
		    it->decision), it->decided_by));
	if (claim && it->state == QUEUE_CLAIMED &&
	    strcmp(it->assignee, by) != 0)
		return (fail(errcode, "conflict", msg, msglen, "claimed by "
		    "%s; unclaim it first", it->assignee));
	if (claim && it->state != QUEUE_CLAIMED) {
		it->state = QUEUE_CLAIMED;
		snprintf(it->assignee, sizeof(it->assignee), "%s", by);
		it->claimed = now;
	} else if (!claim && it->state == QUEUE_CLAIMED) {
		it->state = QUEUE_OPEN;
		it->assignee[0] = '\0';
		it->claimed = 0;
	}
	if (it->state != before.state && (store_queue_put(txn, it, &before) != 0 ||
	    audit(txn, &before, it, claim ? "claim" : "unclaim", by, NULL, 0,
	    now) != 0))
		return (-1);
	sbuf_adds(sb, "{\"ok\":true,\"item\":");
	item_json(sb, it);
	sbuf_addf(sb, ",\"changed\":%s}", it->state != before.state ?
	    "true" : "false");
	return (0);
}

/* queue.decide by filter: the items it matches, up to QUEUE_IDS_MAX + 1. */
struct pick_ctx {
	const struct queue_req	*q;
	struct store_queue_item	*items;
	size_t			 n;
};

static int
pick_cb(void *arg, const struct store_queue_item *it)
{
	struct pick_ctx	*x = arg;

	if (!matches(x->q, it))
		return (0);
	x->items[x->n++] = *it;
	return (x->n > QUEUE_IDS_MAX);
}

/* queue.decide: check every referral first, then decide them all. */
static int
queue_decide(struct store_txn *txn, const struct rg_event *ev,
    const struct analyst_req *ar, int64_t now, struct sbuf *sb,
    const char **errcode, char *msg, size_t msglen)
{
	const struct queue_req	*q = &ar->queue;
	struct store_queue_item	*items, before;
	struct label_result	 fb;
	const char		*id;
	size_t			 n = q->nids + (ev->idlen > 0), i, j;
	int			 rc = 0;

	if (q->by_filter) {
		struct pick_ctx	x = { q, NULL, 0 };

		x.items = items = xcalloc(QUEUE_IDS_MAX + 1, sizeof(*items));
		if (store_queue_scan(txn, q->state, false, NULL, q->since,
		    q->until, pick_cb, &x) != 0) {
			rc = -1;
			goto out;
		}
		n = x.n;
		if (n > QUEUE_IDS_MAX)
			rc = fail(errcode, "bad_request", msg, msglen, "the "
			    "filter matches more than %d items: narrow it",
			    QUEUE_IDS_MAX);
		else if (n != q->count)
			rc = fail(errcode, "conflict", msg, msglen, "the filter "
			    "matches %zu items now, not %llu: list them again",
			    n, (unsigned long long)q->count);
		if (rc != 0)
			goto out;
	} else
		items = xcalloc(n, sizeof(*items));
	for (i = 0; i < n; i++) {
		id = q->by_filter ? items[i].id : i < q->nids ? q->ids[i] :
		    ev->id;
		if (!q->by_filter)
			rc = item_of(txn, id, strlen(id), &items[i]);
		if (rc == 1)
			rc = fail(errcode, "not_found", msg, msglen, "%s is not "
			    "in the review queue", id);
		else if (rc == 0 && items[i].state == QUEUE_DECIDED)
			rc = fail(errcode, "conflict", msg, msglen, "%s is "
			    "decided already (%s by %s)", id,
			    store_queue_decision_name(items[i].decision),
			    items[i].decided_by);
		for (j = 0; rc == 0 && j < i; j++)
			if (items[j].item == items[i].item)
				rc = fail(errcode, "bad_request", msg, msglen,
				    "%s is given twice", id);
		if (rc != 0)
			goto out;
	}
	sbuf_addf(sb, "{\"ok\":true,\"decision\":\"%s\",\"count\":%zu,"
	    "\"items\":[", store_queue_decision_name(q->decision), n);
	for (i = 0; i < n; i++) {
		before = items[i];
		rc = label_apply(txn, items[i].id,
		    strlen(items[i].id), items[i].item, NULL,
		    q->decision == QUEUE_VOID ?
		    LABEL_FRAUD : LABEL_LEGIT, ar->note, ar->by, now, &fb);
		if (rc == 1)
			rc = fail(errcode, "not_found", msg, msglen, "%s: its "
			    "event is gone (retention)", items[i].id);
		if (rc != 0)
			goto out;
		items[i].state = QUEUE_DECIDED;
		items[i].decision = (uint8_t)q->decision;
		snprintf(items[i].decided_by, sizeof(items[i].decided_by),
		    "%s", ar->by);
		items[i].decided = now;
		items[i].feedback = fb.feedback;
		if (store_queue_put(txn, &items[i], &before) != 0 || audit(txn, &before,
		    &items[i], "decide", ar->by, ar->note, fb.feedback,
		    now) != 0) {
			rc = -1;
			goto out;
		}
		if (i > 0)
			sbuf_addc(sb, ',');
		item_json(sb, &items[i]);
	}
	sbuf_adds(sb, "]}");
out:
	free(items);
	return (rc);
}

int
queue_run(struct store_txn *txn, enum req_op op, const struct rg_event *ev,
    struct analyst_req *ar, int64_t now, struct verdict *out,
    const char **errcode, char *msg, size_t msglen)
{
	struct store_queue_item	it;
	struct sbuf		sb;
	int			rc;

	memset(out, 0, sizeof(*out));
	sbuf_init(&sb, 1024);
	if (op == OP_QUEUE_LIST)
		rc = queue_list(txn, &ar->queue, &sb);
	else if (op == OP_QUEUE_DECIDE)
		rc = queue_decide(txn, ev, ar, now, &sb, errcode, msg, msglen);
	else {
		rc = item_of(txn, ev->id, ev->idlen, &it);
		if (rc == 1)
			rc = fail(errcode, "not_found", msg, msglen, "this "
			    "referral is not in the review queue");
		else if (rc == 0 && op == OP_QUEUE_GET)
			rc = queue_get(txn, ev, &it, &sb);
		else if (rc == 0)
			rc = queue_claim(txn, op == OP_QUEUE_CLAIM, &it, ar->by,
			    now, &sb, errcode, msg, msglen);
	}
	if (rc != 0) {
		sbuf_free(&sb);
		return (rc);
	}
	out->reply = sbuf_take(&sb, &out->replylen);
	return (0);
}
