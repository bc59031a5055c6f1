/* daily.c: the daily counters of the verdicts and stats.daily; see daily.h. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "daily.h"
#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"
#include "verdict_rec.h"

struct daily_hit {
	const char	*rule;
	size_t		 len;
	bool		 shadow;
};

uint32_t
daily_day(int64_t ms)
{
	if (ms < 0)
		return (0);
	return ((uint32_t)(ms / DAILY_MS));
}

/* The one place a verdict is counted: check and import both come here. */
static int
daily_count(struct store_txn *txn, int64_t ts, int action,
    const struct daily_hit *h, size_t n)
{
	const char	*a = rules_action_name(action);
	uint32_t	 day = daily_day(ts);
	size_t		 i;

	if (store_daily_add(txn, day, DAILY_ACTION, a, strlen(a), 1) != 0)
		return (-1);
	for (i = 0; i < n; i++)
		if (store_daily_add(txn, day, h[i].shadow ? DAILY_SHADOW :
		    DAILY_RULE, h[i].rule, h[i].len, 1) != 0)
			return (-1);
	return (0);
}

int
daily_check(struct store_txn *txn, int64_t ts, const struct ruleset *rs,
    const struct rules_result *res)
{
	struct daily_hit	h[RULES_MAX_HITS];
	size_t			i, n = 0;

	for (i = 0; rs != NULL && i < res->nhits && n < nitems(h); i++) {
		h[n].rule = rules_rule_name(rs, res->hits[i].rule);
		h[n].len = strlen(h[n].rule);
		h[n++].shadow = res->hits[i].shadow != 0;
	}
	return (daily_count(txn, ts, res->action, h, n));
}

struct reply_hits {
	struct daily_hit	 h[RULES_MAX_HITS];
	char			 names[RULES_MAX_HITS][STORE_DAILY_NAME_MAX + 1];
	size_t			 n;
};

static int
reply_hit_cb(void *arg, const char *rule, bool shadow)
{
	struct reply_hits	*r = arg;
	int			 len;

	if (r->n == nitems(r->h))
		return (1);
	len = snprintf(r->names[r->n], sizeof(r->names[0]), "%s", rule);
	r->h[r->n].rule = r->names[r->n];
	r->h[r->n].len = len < (int)sizeof(r->names[0]) ? (size_t)len :
	    sizeof(r->names[0]) - 1;
	r->h[r->n++].shadow = shadow;
	return (0);
}

int
daily_reply(struct store_txn *txn, int64_t ts, int action, const char *reply,
    size_t len)
{
	struct reply_hits	*r = xcalloc(1, sizeof(*r));
	int			 rc;

	if (verdict_reply_rules(reply, len, reply_hit_cb, r) != 0)
		rc = 1;
	else
		rc = daily_count(txn, ts, action, r->h, r->n);
	free(r);
	return (rc);
}

int
daily_recheck(struct store_txn *txn, int64_t ts, int from, int to)
{
	char	name[32];
	int	len;

	len = snprintf(name, sizeof(name), "%s>%s", rules_action_name(from),
	    rules_action_name(to));
	return (store_daily_add(txn, daily_day(ts), DAILY_RECHECK, name,
	    (size_t)len, 1));
}

int
daily_verdict(struct store_txn *txn, int64_t ts, const struct verdict_rec *r)
{
	struct verdict_ver_iter	 it;
	struct verdict_ver	 v;
	int			 rc, vrc, prev = r->action;

	if ((rc = daily_reply(txn, ts, r->action, r->reply,
	    r->replylen)) < 0)
		return (-1);
	verdict_ver_iter_init(&it, r);
	while ((vrc = verdict_ver_next(&it, &v)) != 1) {
		if (vrc != 0) {
			rc = 1;
			continue;
		}
		if (v.action != prev &&
		    daily_recheck(txn, v.ts, prev, v.action) != 0)
			return (-1);
		prev = v.action;
	}
	return (rc);
}

int64_t
daily_expire(struct store_txn *txn, int64_t before_ts, size_t max)
{
	/* Only whole days: the day before_ts falls in still has events. */
	return (store_daily_expire(txn, daily_day(before_ts), max));
}

/* ---- stats.daily ----------------------------------------------------- */

void
daily_req_init(struct daily_req *q)
{
	memset(q, 0, sizeof(*q));
	q->since = INT64_MIN;
	q->until = INT64_MAX;
	q->kinds = DAILY_KINDS_ALL;
}

unsigned
daily_kind_from_name(const char *s)
{
	if (strcmp(s, "actions") == 0)
		return (DAILY_K_ACTIONS);
	if (strcmp(s, "rules") == 0)
		return (DAILY_K_RULES);
	if (strcmp(s, "rechecks") == 0)
		return (DAILY_K_RECHECKS);
	return (0);
}

struct daily_out {
	const struct daily_req	*q;
	struct sbuf		*sb;
	bool			 open;		/* a day object is open */
	uint32_t		 day;
	int			 kind;		/* the open group's; 0: none */
};

static void
add_day(struct sbuf *sb, uint32_t day)
{
	char	buf[RFC3339_LEN];

	fmt_rfc3339((int64_t)day * DAILY_MS, buf);
	sbuf_addc(sb, '"');
	sbuf_add(sb, buf, 10);
	sbuf_addc(sb, '"');
}

static int
daily_cb(void *arg, uint32_t day, uint8_t kind, const char *name, size_t len,
    uint64_t count)
{
	static const char *const groups[] = {
		[DAILY_ACTION] = "actions", [DAILY_RECHECK] = "rechecks",
		[DAILY_RULE] = "rules", [DAILY_SHADOW] = "shadow",
	};
	struct daily_out	*o = arg;
	const struct daily_req	*q = o->q;
	unsigned		 bit;

	switch (kind) {
	case DAILY_ACTION:
		bit = DAILY_K_ACTIONS;
		break;
	case DAILY_RULE:
	case DAILY_SHADOW:
		bit = DAILY_K_RULES;
		if (q->has_rule && (len != strlen(q->rule) ||
		    memcmp(name, q->rule, len) != 0))
			return (0);
		break;
	case DAILY_RECHECK:
		bit = DAILY_K_RECHECKS;
		break;
	default:
		return (0);
	}
	if (!(q->kinds & bit))
		return (0);
	if (!o->open || o->day != day) {
		if (o->open)
			sbuf_adds(o->sb, "}},");
		sbuf_adds(o->sb, "{\"day\":");
		add_day(o->sb, day);
		o->open = true;
		o->day = day;
		o->kind = 0;
	}
	if (o->kind != kind) {
		if (o->kind != 0)
			sbuf_addc(o->sb, '}');
		sbuf_addf(o->sb, ",\"%s\":{", groups[kind]);
		o->kind = kind;
	} else
		sbuf_addc(o->sb, ',');
	sbuf_add_jstr(o->sb, name, len);
	sbuf_addf(o->sb, ":%" PRIu64, count);
	return (0);
}

int
daily_run(struct store_txn *txn, const struct daily_req *q, struct sbuf *sb)
{
	struct daily_out	o = { q, sb, false, 0, 0 };
	uint32_t		from = daily_day(q->since);
	uint32_t		to = q->until == INT64_MAX ? UINT32_MAX :
				    daily_day(q->until);

	sbuf_adds(sb, "{\"ok\":true,\"since\":");
	if (q->since == INT64_MIN)
		sbuf_adds(sb, "null");
	else
		add_day(sb, from);
	sbuf_adds(sb, ",\"until\":");
	if (q->until == INT64_MAX)
		sbuf_adds(sb, "null");
	else
		add_day(sb, to);
	sbuf_adds(sb, ",\"days\":[");
	if (from <= to && store_daily_scan(txn, from, to, daily_cb, &o) != 0)
		return (-1);
	if (o.open)
		sbuf_adds(sb, "}}");
	sbuf_adds(sb, "]}");
	return (0);
}
