/* verdict_list.c: the verdicts.list op; the contract is in verdict_list.h. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "util.h"
#include "verdict.h"
#include "verdict_list.h"

void
verdict_list_init(struct verdict_list_req *q)
{
	memset(q, 0, sizeof(*q));
	q->action = -1;
	q->since = INT64_MIN;
	q->until = INT64_MAX;
	q->limit = VERDICT_LIST_LIMIT_DEFAULT;
	q->scan = VERDICT_LIST_SCAN;
}

void
verdict_list_cursor_fmt(uint64_t before, char *buf, size_t len)
{
	snprintf(buf, len, "v%" PRIu64, before);
}

int
verdict_list_cursor_parse(const char *s, uint64_t *before)
{
	char			*end;
	unsigned long long	 v;

	if (s[0] != 'v' || s[1] < '1' || s[1] > '9')
		return (-1);
	errno = 0;
	v = strtoull(s + 1, &end, 10);
	if (*end != '\0' || errno != 0)
		return (-1);
	*before = (uint64_t)v;
	return (0);
}

struct list_ctx {
	struct store_txn		*txn;
	const struct verdict_list_req	*q;
	struct sbuf			*sb;
	size_t				 n, scanned, corrupt;
	uint64_t			 next;	/* 0: the walk ended */
	bool				 failed; /* a store error */
};

/* The reasons' rule names, highest score first (ties: as listed). */
static size_t
top_reasons(const json_t *reasons, const char **top, size_t cap,
    const char *want, bool *found)
{
	const json_t	*h;
	json_int_t	 sc[VERDICT_LIST_REASONS], s;
	const char	*name;
	size_t		 i, j, n = 0;

	*found = want == NULL;
	json_array_foreach(reasons, i, h) {
		if ((name = json_string_value(json_object_get(h, "rule"))) ==
		    NULL)
			continue;
		if (want != NULL && strcmp(name, want) == 0)
			*found = true;
		s = json_integer_value(json_object_get(h, "score"));
		for (j = n; j > 0 && sc[j - 1] < s; j--)
			if (j < cap) {
				top[j] = top[j - 1];
				sc[j] = sc[j - 1];
			}
		if (j < cap) {
			top[j] = name;
			sc[j] = s;
		}
		if (n < cap)
			n++;
	}
	return (n);
}

static void
add_party(struct sbuf *sb, const char *key, const struct rg_event *ev,
    unsigned party)
{
	char	hex[2 * RG_HASH_LEN + 1];

	sbuf_addf(sb, ",\"%s\":", key);
	if (party >= ev->nparties ||
	    !PARTY_HAS(&ev->party[party], ENT_ACCOUNT)) {
		sbuf_adds(sb, "null");
		return;
	}
	rg_hash_hex(&ev->party[party].h[ENT_ACCOUNT], hex);
	sbuf_addf(sb, "\"%.*s\"", VERDICT_LIST_HASH_HEX, hex);
}

/* One verdict as an item, when it passes the filters: 1, else 0. */
static int
add_item(struct list_ctx *x, const struct rg_event *ev,
    const struct verdict *v)
{
	const struct verdict_list_req	*q = x->q;
	const char			*top[VERDICT_LIST_REASONS];
	json_t				*o;
	size_t				 n, i;
	bool				 found;

	if ((o = json_loadb(v->reply, v->replylen, 0, NULL)) == NULL)
		return (0);
	n = top_reasons(json_object_get(o, "reasons"), top, nitems(top),
	    q->has_rule ? q->rule : NULL, &found);
	if (!found) {
		json_decref(o);
		return (0);
	}
	if (x->n > 0)
		sbuf_addc(x->sb, ',');
	sbuf_adds(x->sb, "{\"id\":");
	sbuf_add_jstr(x->sb, ev->id, ev->idlen);
	sbuf_addf(x->sb, ",\"seq\":%" PRIu64, ev->seq);
	sbuf_add_jtime(x->sb, "ts", ev->ts);
	sbuf_addf(x->sb, ",\"action\":\"%s\",\"score\":%d,\"version\":%d,"
	    "\"reasons\":[", rules_action_name(v->action), (int)v->score,
	    json_is_integer(json_object_get(o, "version")) ?
	    (int)json_integer_value(json_object_get(o, "version")) : 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			sbuf_addc(x->sb, ',');
		sbuf_add_jstr(x->sb, top[i], strlen(top[i]));
	}
	sbuf_addc(x->sb, ']');
	json_decref(o);
	add_party(x->sb, "referrer", ev, PARTY_REFERRER);
	add_party(x->sb, "referee", ev, PARTY_REFEREE);
	sbuf_adds(x->sb, ",\"campaign\":");
	if (ev->campaign[0] != '\0')
		sbuf_add_jstr(x->sb, ev->campaign, strlen(ev->campaign));
	else
		sbuf_adds(x->sb, "null");
	if (ev->has_reward) {
		sbuf_addf(x->sb, ",\"reward\":{\"amount\":%.17g,\"currency\":",
		    ev->reward_amount);
		sbuf_add_jstr(x->sb, ev->reward_currency,
		    strnlen(ev->reward_currency, 3));
		sbuf_adds(x->sb, "}}");
	} else
		sbuf_adds(x->sb, ",\"reward\":null}");
	return (1);
}

static int
list_cb(void *arg, const struct rg_event *ev)
{
	struct list_ctx			*x = arg;
	const struct verdict_list_req	*q = x->q;
	struct verdict			 v;
	int				 rc;

	if (x->scanned == q->scan) {
		x->next = ev->seq + 1;
		return (1);
	}
	x->scanned++;
	if (ev->type != EV_REFERRAL || ev->ts < q->since || ev->ts > q->until ||
	    (q->has_campaign && strcmp(ev->campaign, q->campaign) != 0))
		return (0);
	rc = verdict_lookup(x->txn, ev->id, ev->idlen, false, &v);
	if (rc < 0) {		/* a store error fails the listing */
		x->failed = true;
		return (1);
	}
	if (rc == VERDICT_CORRUPT)
		x->corrupt++;
	if (rc != 0)		/* none, corrupt */
		return (0);
	if (q->action < 0 || v.action == q->action) {
		if (x->n == q->limit) {
			x->scanned--;	/* the next page's */
			x->next = ev->seq + 1;
			verdict_clear(&v);
			return (1);
		}
		x->n += (size_t)add_item(x, ev, &v);
	}
	verdict_clear(&v);
	return (0);
}

int
verdict_list(struct store_txn *txn, const struct verdict_list_req *q,
    struct sbuf *sb)
{
	struct list_ctx	x = { .txn = txn, .q = q, .sb = sb };
	char		cur[VERDICT_LIST_CURSOR_MAX];

	sbuf_adds(sb, "{\"ok\":true,\"verdicts\":[");
	/* before 1: nothing is below it (from 0 would mean the last). */
	if ((q->before != 1 && store_scan_events_back(txn, q->before > 0 ?
	    q->before - 1 : 0, 1, list_cb, &x) != 0) || x.failed)
		return (-1);
	sbuf_addf(sb, "],\"count\":%zu,\"scanned\":%zu,\"corrupt\":%zu,"
	    "\"next\":", x.n, x.scanned, x.corrupt);
	if (x.next != 0) {
		verdict_list_cursor_fmt(x.next, cur, sizeof(cur));
		sbuf_addf(sb, "\"%s\"}", cur);
	} else
		sbuf_adds(sb, "null}");
	return (0);
}
