/* test_req.c: the strict request decoder and its error replies. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "analyst.h"
#include "ident.h"
#include "rec.h"
#include "req.h"
#include "util.h"

#include "unit.h"

#define NOW	1795428000000LL		/* 2026-11-23T10:00:00Z */
#define DAY	86400000LL

static char		 tmpdir[] = "/tmp/rg-req.XXXXXX";
static char		 secret[300];
static struct ident	*id;
static struct req_opts	 opts;

static void
setup(void)
{
	id = unit_ident(secret);
	opts.now = NOW;
	opts.retention = 30 * DAY;
	opts.max_future = 3600000;
}

static void
teardown(void)
{
	ident_free(id);
	id = NULL;
}


static int
decode(const char *line, enum req_op *op, struct rg_event *ev,
    struct req_error *err)
{
	return (req_decode(line, strlen(line), id, &opts, op, ev, err));
}

static struct rg_event	ev;	/* big: keep it off the stack */

/* line decodes to op. */
static void
ok(const char *line, enum req_op want)
{
	struct req_error	err;
	enum req_op		op;

	ck_assert_msg(decode(line, &op, &ev, &err) == 0, "%s: %s %s %s", line,
	    err.code, err.field, err.msg);
	ck_assert_int_eq(op, want);
}

/* line is refused with code and field, and msg holds want. */
static void
refused(const char *line, const char *code, const char *field,
    const char *want)
{
	struct req_error	err;
	enum req_op		op;

	ck_assert_msg(decode(line, &op, &ev, &err) == -1, "'%.200s' accepted",
	    line);
	ck_assert_ptr_nonnull(err.code);
	ck_assert_msg(strcmp(err.code, code) == 0 &&
	    strcmp(err.field, field) == 0,
	    "'%.200s': got %s '%s' (%s), want %s '%s'", line, err.code,
	    err.field, err.msg, code, field);
	ck_assert_msg(want == NULL || strstr(err.msg, want) != NULL,
	    "'%.200s': msg '%s' lacks '%s'", line, err.msg, want);
	ck_assert_msg(err.msg[0] != '\0', "'%.200s': empty msg", line);
}

/* The review queue's ops: their fields, defaults and errors. */
static struct analyst_req	qar;

static int
qdecode(const char *line, enum req_op *op, struct req_error *err)
{
	return (req_decode_full(line, strlen(line), id, &opts, op, &ev, &qar,
	    err));
}

static void
qrefused(const char *line, const char *field, const char *want)
{
	struct req_error	err;
	enum req_op		op;

	ck_assert_msg(qdecode(line, &op, &err) == -1, "'%s' accepted", line);
	ck_assert_msg(strcmp(err.code, "bad_request") == 0 &&
	    strcmp(err.field, field) == 0, "'%s': got %s '%s' (%s)", line,
	    err.code, err.field, err.msg);
	ck_assert_msg(want == NULL || strstr(err.msg, want) != NULL,
	    "'%s': msg '%s' lacks '%s'", line, err.msg, want);
}

/*
 * What cluster mode carries of an analyst request (analyst_req_encode):
 * every field back as it was, and bytes cut short or left over refused.
 */
START_TEST(test_analyst_codec)
{
	struct analyst_req	 in, out;
	struct req_error	 err;
	struct rec_w		 w;
	struct rec_r		 r;
	enum req_op		 op;
	uint8_t			*b;
	size_t			 len, cut;

	ck_assert_int_eq(qdecode("{\"op\":\"queue.decide\",\"ids\":"
	    "[\"a\",\"b\"],\"decision\":\"void\",\"by\":\"ana\","
	    "\"note\":\"two\\nlines\"}", &op, &err), 0);
	in = qar;
	in.by_account = true;
	memset(in.account.b, 7, sizeof(in.account.b));
	memset(in.reason, 'r', LIST_REASON_MAX);	/* past a str8 */
	in.reason[LIST_REASON_MAX] = '\0';
	snprintf(in.list, sizeof(in.list), "blocked_ips");
	in.kind = 3;
	in.expires = 1795428000000LL;
	in.entry.cidr = 24;
	in.nmembers = 2;
	in.members = xcalloc(2, sizeof(*in.members));
	in.members[1].kind = 4;
	memset(in.members[1].h.b, 9, sizeof(in.members[1].h.b));
	snprintf(in.desc, sizeof(in.desc), "ip:0a0b0c/24");
	rec_w_init(&w, 64);
	analyst_req_encode(&in, &w);
	b = rec_w_take(&w, &len);

	rec_r_init(&r, b, len);
	ck_assert_int_eq(analyst_req_decode(&r, &out), 0);
	ck_assert(out.by_account && out.account.b[15] == 7);
	ck_assert_str_eq(out.note, "two\nlines");
	ck_assert_str_eq(out.by, "ana");
	ck_assert_str_eq(out.reason, in.reason);
	ck_assert_str_eq(out.list, "blocked_ips");
	ck_assert_int_eq(out.kind, 3);
	ck_assert_int_eq(out.expires, 1795428000000LL);
	ck_assert_uint_eq(out.entry.cidr, 24);
	ck_assert_uint_eq(out.nmembers, 2);
	ck_assert_uint_eq(out.entry.nmembers, 2);
	ck_assert_uint_eq(out.members[1].kind, 4);
	ck_assert_uint_eq(out.members[1].h.b[0], 9);
	ck_assert_str_eq(out.desc, "ip:0a0b0c/24");
	ck_assert_uint_eq(out.queue.nids, 2);
	ck_assert_str_eq(out.queue.ids[1], "b");
	ck_assert_int_eq(out.queue.decision, QUEUE_VOID);
	ck_assert_int_eq(out.queue.action, in.queue.action);
	ck_assert_int_eq(out.queue.since, in.queue.since);
	analyst_req_clear(&out);
	/* Short anywhere, or a byte left over: refused, nothing leaked. */
	for (cut = 0; cut < len; cut++) {
		rec_r_init(&r, b, cut);
		ck_assert_int_eq(analyst_req_decode(&r, &out), -1);
		analyst_req_clear(&out);
	}
	b = xreallocarray(b, len + 1, 1);
	b[len] = 0;
	rec_r_init(&r, b, len + 1);
	ck_assert_int_eq(analyst_req_decode(&r, &out), -1);
	analyst_req_clear(&out);
	free(b);
	analyst_req_clear(&in);
}
END_TEST

START_TEST(test_queue_ops)
{
	struct req_error	err;
	struct store_queue_pos	p;
	enum req_op		op;
	char			cur[QUEUE_CURSOR_MAX];

	/* Defaults: open, any action, newest first, 50. */
	ck_assert_int_eq(qdecode("{\"op\":\"queue.list\"}", &op, &err), 0);
	ck_assert_int_eq(op, OP_QUEUE_LIST);
	ck_assert_int_eq(qar.queue.state, QUEUE_OPEN);
	ck_assert_int_eq(qar.queue.action, -1);
	ck_assert(!qar.queue.by_score && !qar.queue.has_cursor);
	ck_assert_uint_eq(qar.queue.limit, QUEUE_LIMIT_DEFAULT);
	analyst_req_clear(&qar);
	ck_assert_int_eq(qdecode("{\"op\":\"queue.list\",\"state\":"
	    "\"claimed\",\"action\":\"review\",\"sort\":\"score\","
	    "\"cursor\":\"s-5.42\",\"score_min\":10,\"since\":1000,"
	    "\"until\":\"2026-11-23T10:00:00Z\",\"campaign\":\"c\","
	    "\"assignee\":\"ana\",\"limit\":7}", &op, &err), 0);
	ck_assert_int_eq(qar.queue.state, QUEUE_CLAIMED);
	ck_assert_int_eq(qar.queue.action, 1);
	ck_assert(qar.queue.by_score && qar.queue.has_cursor);
	ck_assert_int_eq(qar.queue.cursor.key, -5);
	ck_assert_uint_eq(qar.queue.cursor.item, 42);
	ck_assert_int_eq(qar.queue.score_min, 10);
	ck_assert_int_eq(qar.queue.since, 1000);
	ck_assert_int_eq(qar.queue.until, 1795428000000LL);
	ck_assert_str_eq(qar.queue.campaign, "c");
	ck_assert_str_eq(qar.queue.assignee, "ana");
	ck_assert_uint_eq(qar.queue.limit, 7);
	analyst_req_clear(&qar);
	/* A cursor round trip; one of the other sort is refused. */
	p.key = 1795428000000LL;
	p.item = 9;
	queue_cursor_fmt(false, &p, cur, sizeof(cur));
	ck_assert_int_eq(queue_cursor_parse(cur, false, &p), 0);
	ck_assert_int_eq(p.key, 1795428000000LL);
	ck_assert_int_eq(queue_cursor_parse(cur, true, &p), -1);
	ck_assert_int_eq(queue_cursor_parse("t1.", false, &p), -1);
	ck_assert_int_eq(queue_cursor_parse("t.1", false, &p), -1);
	ck_assert_int_eq(queue_cursor_parse("s9999999999.1", true, &p), -1);

	ck_assert_int_eq(qdecode("{\"op\":\"queue.decide\",\"ids\":"
	    "[\"a\",\"b\"],\"decision\":\"void\",\"by\":\"ana\","
	    "\"note\":\"two\\nlines\"}", &op, &err), 0);
	ck_assert_int_eq(op, OP_QUEUE_DECIDE);
	ck_assert_uint_eq(qar.queue.nids, 2);
	ck_assert_str_eq(qar.queue.ids[1], "b");
	ck_assert_int_eq(qar.queue.decision, QUEUE_VOID);
	ck_assert_str_eq(qar.by, "ana");
	analyst_req_clear(&qar);
	ck_assert_ptr_null(qar.queue.ids);

	/* Decide by filter: list's filters, and the count shown. */
	ck_assert_int_eq(qdecode("{\"op\":\"queue.decide\",\"filter\":"
	    "{\"campaign\":\"c\",\"score_min\":40},\"count\":3,"
	    "\"decision\":\"approve\",\"by\":\"ana\"}", &op, &err), 0);
	ck_assert(qar.queue.by_filter);
	ck_assert_uint_eq(qar.queue.count, 3);
	ck_assert_str_eq(qar.queue.campaign, "c");
	ck_assert_int_eq(qar.queue.score_min, 40);
	analyst_req_clear(&qar);
	qrefused("{\"op\":\"queue.decide\",\"filter\":{},\"decision\":"
	    "\"void\",\"by\":\"b\"}", "count", "required");
	qrefused("{\"op\":\"queue.decide\",\"filter\":{\"limit\":1},"
	    "\"count\":1,\"decision\":\"void\",\"by\":\"b\"}",
	    "filter.limit", NULL);
	qrefused("{\"op\":\"queue.decide\",\"filter\":[],\"count\":1,"
	    "\"decision\":\"void\",\"by\":\"b\"}", "filter", NULL);

	qrefused("{\"op\":\"queue.list\",\"state\":\"x\"}", "state",
	    "open, claimed, decided");
	qrefused("{\"op\":\"queue.list\",\"action\":\"x\"}", "action",
	    NULL);
	qrefused("{\"op\":\"queue.list\",\"cursor\":\"t1.2\","
	    "\"sort\":\"score\"}", "cursor", "next");
	qrefused("{\"op\":\"queue.list\",\"limit\":1001}", "limit", NULL);
	qrefused("{\"op\":\"queue.list\",\"score_min\":1.5}", "score_min",
	    NULL);
	qrefused("{\"op\":\"queue.get\"}", "id", "required");
	qrefused("{\"op\":\"queue.claim\",\"id\":\"a\"}", "by", NULL);
	qrefused("{\"op\":\"queue.decide\",\"id\":\"a\",\"by\":\"b\","
	    "\"decision\":\"pay\"}", "decision", "approve, void");
	qrefused("{\"op\":\"queue.decide\",\"ids\":[1],\"by\":\"b\","
	    "\"decision\":\"void\"}", "ids", "item 0");
	qrefused("{\"op\":\"queue.decide\",\"by\":\"b\","
	    "\"decision\":\"void\"}", "id", NULL);
	/* Without an analyst request (req_decode) they are not served. */
	refused("{\"op\":\"queue.list\"}", "unknown_op", "op",
	    "not served here");

	/* graph: one referral whole, or the parties of many. */
	ck_assert_int_eq(qdecode("{\"op\":\"graph\",\"id\":\"r-1\"}", &op,
	    &err), 0);
	ck_assert_int_eq(op, OP_GRAPH);
	ck_assert_uint_eq(qar.queue.nids, 0);
	analyst_req_clear(&qar);
	ck_assert_int_eq(qdecode("{\"op\":\"graph\",\"ids\":[\"a\",\"b\"]}",
	    &op, &err), 0);
	ck_assert_uint_eq(qar.queue.nids, 2);
	ck_assert_str_eq(qar.queue.ids[0], "a");
	analyst_req_clear(&qar);
	qrefused("{\"op\":\"graph\"}", "id", "one of id and ids");
	qrefused("{\"op\":\"graph\",\"id\":\"a\",\"ids\":[\"b\"]}", "id",
	    "one of id and ids");
	qrefused("{\"op\":\"graph\",\"ids\":[]}", "ids", NULL);
	qrefused("{\"op\":\"graph\",\"ids\":[\"a\\u0001\"]}", "ids",
	    "item 0");
	qrefused("{\"op\":\"graph\",\"id\":\"a\",\"by\":\"b\"}", "by",
	    "unknown field");
}
END_TEST

START_TEST(test_stats_daily)
{
	struct req_error	err;
	enum req_op		op;

	ck_assert_int_eq(qdecode("{\"op\":\"stats.daily\"}", &op, &err), 0);
	ck_assert_int_eq(op, OP_STATS_DAILY);
	ck_assert(qar.daily.since == INT64_MIN && qar.daily.until == INT64_MAX);
	ck_assert_uint_eq(qar.daily.kinds, DAILY_KINDS_ALL);
	ck_assert(!qar.daily.has_rule);
	analyst_req_clear(&qar);
	ck_assert_int_eq(qdecode("{\"op\":\"stats.daily\",\"since\":1000,"
	    "\"until\":\"2026-11-23T10:00:00Z\",\"kinds\":[\"rules\","
	    "\"rechecks\"],\"rule\":\"farm.x\"}", &op, &err), 0);
	ck_assert_int_eq(qar.daily.since, 1000);
	ck_assert_int_eq(qar.daily.until, 1795428000000LL);
	ck_assert_uint_eq(qar.daily.kinds, DAILY_K_RULES | DAILY_K_RECHECKS);
	ck_assert(qar.daily.has_rule);
	ck_assert_str_eq(qar.daily.rule, "farm.x");
	analyst_req_clear(&qar);
	qrefused("{\"op\":\"stats.daily\",\"kinds\":[]}", "kinds", NULL);
	qrefused("{\"op\":\"stats.daily\",\"kinds\":\"rules\"}", "kinds",
	    NULL);
	qrefused("{\"op\":\"stats.daily\",\"kinds\":[\"rules\",\"hits\"]}",
	    "kinds", "item 1");
	qrefused("{\"op\":\"stats.daily\",\"since\":\"soon\"}", "since",
	    NULL);
	qrefused("{\"op\":\"stats.daily\",\"rule\":1}", "rule", NULL);
	qrefused("{\"op\":\"stats.daily\",\"limit\":1}", "limit",
	    "unknown field");
}
END_TEST

START_TEST(test_verdicts_list)
{
	struct req_error	err;
	enum req_op		op;
	uint64_t		before;
	char			cur[VERDICT_LIST_CURSOR_MAX];

	ck_assert_int_eq(qdecode("{\"op\":\"verdicts.list\"}", &op, &err),
	    0);
	ck_assert_int_eq(op, OP_VERDICTS_LIST);
	ck_assert_int_eq(qar.verdicts.action, -1);
	ck_assert_uint_eq(qar.verdicts.before, 0);
	ck_assert_uint_eq(qar.verdicts.limit, VERDICT_LIST_LIMIT_DEFAULT);
	ck_assert(qar.verdicts.since == INT64_MIN &&
	    qar.verdicts.until == INT64_MAX);
	analyst_req_clear(&qar);
	ck_assert_int_eq(qdecode("{\"op\":\"verdicts.list\",\"action\":"
	    "\"deny\",\"rule\":\"farm.x\",\"campaign\":\"c\",\"since\":"
	    "1000,\"until\":\"2026-11-23T10:00:00Z\",\"cursor\":\"v42\","
	    "\"limit\":1000}", &op, &err), 0);
	ck_assert_int_eq(qar.verdicts.action, 2);
	ck_assert(qar.verdicts.has_rule && qar.verdicts.has_campaign);
	ck_assert_str_eq(qar.verdicts.rule, "farm.x");
	ck_assert_str_eq(qar.verdicts.campaign, "c");
	ck_assert_int_eq(qar.verdicts.since, 1000);
	ck_assert_int_eq(qar.verdicts.until, 1795428000000LL);
	ck_assert_uint_eq(qar.verdicts.before, 42);
	ck_assert_uint_eq(qar.verdicts.limit, 1000);
	analyst_req_clear(&qar);
	verdict_list_cursor_fmt(81234, cur, sizeof(cur));
	ck_assert_int_eq(verdict_list_cursor_parse(cur, &before), 0);
	ck_assert_uint_eq(before, 81234);
	ck_assert_int_eq(verdict_list_cursor_parse("v0", &before), -1);
	ck_assert_int_eq(verdict_list_cursor_parse("v-1", &before), -1);
	ck_assert_int_eq(verdict_list_cursor_parse("v1x", &before), -1);
	ck_assert_int_eq(verdict_list_cursor_parse("t1.2", &before), -1);
	qrefused("{\"op\":\"verdicts.list\",\"cursor\":\"s1.2\"}",
	    "cursor", "next");
	qrefused("{\"op\":\"verdicts.list\",\"action\":\"x\"}", "action",
	    "allow, review, deny");
	qrefused("{\"op\":\"verdicts.list\",\"limit\":0}", "limit", NULL);
	qrefused("{\"op\":\"verdicts.list\",\"until\":\"soon\"}",
	    "until", NULL);
	qrefused("{\"op\":\"verdicts.list\",\"sort\":\"score\"}", "sort",
	    NULL);
}
END_TEST

static struct rg_hash
hash_of(int (*fn)(const struct ident *, const char *, size_t,
    struct party *, const char **), const char *s, enum ent_kind k)
{
	struct party	p;
	const char	*e = NULL;

	memset(&p, 0, sizeof(p));
	ck_assert_msg(fn(id, s, strlen(s), &p, &e) == 0, "%s: %s", s, e);
	ck_assert(PARTY_HAS(&p, k));
	return (p.h[k]);
}

static bool
heq(const struct rg_hash *a, const struct rg_hash *b)
{
	return (memcmp(a->b, b->b, RG_HASH_LEN) == 0);
}

START_TEST(test_ops)
{
	ok("{\"op\":\"ping\"}", OP_PING);
	ok("{\"op\":\"stats\"}", OP_STATS);
	ok("{\"op\":\"reload\"}", OP_RELOAD);
	ok("{\"op\":\"rules\"}", OP_RULES);
	ok(" {\"op\" : \"ping\"} ", OP_PING);
	ok("{\"op\":\"verdict\",\"id\":\"ref-1\"}", OP_VERDICT);
	ck_assert_str_eq(ev.id, "ref-1");
	ck_assert_uint_eq(ev.idlen, 5);
	ok("{\"op\":\"explain\",\"id\":\"r\\u00e9f\"}", OP_EXPLAIN);
	ck_assert_str_eq(ev.id, "r\xc3\xa9" "f");
	ok(CHECK_FULL, OP_CHECK);
	ok("{\"op\":\"observe\",\"kind\":\"login\",\"account\":\"a-1\"}",
	    OP_OBSERVE);
	ck_assert_str_eq(req_op_name(OP_PING), "ping");
	ck_assert_str_eq(req_op_name(OP_CHECK), "check");
	ck_assert_str_eq(req_op_name(OP_OBSERVE), "observe");
	ck_assert_str_eq(req_op_name(OP_VERDICT), "verdict");
	ck_assert_str_eq(req_op_name(OP_EXPLAIN), "explain");
	ck_assert_str_eq(req_op_name(OP_STATS), "stats");
	ck_assert_str_eq(req_op_name(OP_RELOAD), "reload");
	ck_assert_str_eq(req_op_name(OP_RULES), "rules");
	ck_assert_str_eq(req_op_name(OP__MAX), "?");
}
END_TEST

START_TEST(test_check_full)
{
	struct rg_hash	h;
	const struct party *a, *b;

	ok(CHECK_FULL, OP_CHECK);
	ck_assert_int_eq(ev.type, EV_REFERRAL);
	ck_assert_int_eq(ev.ts, NOW - 3600000);
	ck_assert_str_eq(ev.id, "ref-1");
	ck_assert_uint_eq(ev.idlen, 5);
	ck_assert_str_eq(ev.campaign, "spring");
	ck_assert(ev.has_reward);
	ck_assert(ev.reward_amount == 12.5);
	ck_assert_str_eq(ev.reward_currency, "EUR");
	ck_assert_int_eq(ev.nparties, 2);
	ck_assert(ev.has_edge);

	a = &ev.party[PARTY_REFERRER];
	b = &ev.party[PARTY_REFEREE];
	ck_assert_uint_eq(a->have, (1u << ENT_ACCOUNT) | (1u << ENT_EMAIL) |
	    (1u << ENT_PHONE) | (1u << ENT_PAYMENT) | (1u << ENT_IP) |
	    (1u << ENT_IP_PREFIX) | (1u << ENT_DEVICE) |
	    (1u << ENT_DEVICE_FUZZY) | (1u << ENT_DEVICE_STABLE) |
	    (1u << ENT_DEVICE_ID) | (1u << ENT_PHONE_BLOCK) |
	    (1u << ENT_EMAIL_NAME));
	ck_assert_uint_eq(b->have, (1u << ENT_ACCOUNT) | (1u << ENT_IP) |
	    (1u << ENT_IP_PREFIX));
	/* The same hashes ident gives field by field. */
	h = hash_of(ident_account, "acct-alice-77", ENT_ACCOUNT);
	ck_assert(heq(&a->h[ENT_ACCOUNT], &h));
	h = hash_of(ident_email, "alice.smith@example.com", ENT_EMAIL);
	ck_assert(heq(&a->h[ENT_EMAIL], &h));
	h = hash_of(ident_email, "alice.smith@example.com", ENT_EMAIL_NAME);
	ck_assert(heq(&a->h[ENT_EMAIL_NAME], &h));
	h = hash_of(ident_phone, "+33612345678", ENT_PHONE);
	ck_assert(heq(&a->h[ENT_PHONE], &h));
	h = hash_of(ident_phone, "+33612345678", ENT_PHONE_BLOCK);
	ck_assert(heq(&a->h[ENT_PHONE_BLOCK], &h));
	h = hash_of(ident_payment, "tok_visa_4242", ENT_PAYMENT);
	ck_assert(heq(&a->h[ENT_PAYMENT], &h));
	h = hash_of(ident_ip, "203.0.113.9", ENT_IP);
	ck_assert(heq(&a->h[ENT_IP], &h));
	h = hash_of(ident_account, "acct-bob-88", ENT_ACCOUNT);
	ck_assert(heq(&b->h[ENT_ACCOUNT], &h));
	h = hash_of(ident_ip, "2001:db8::1", ENT_IP);
	ck_assert(heq(&b->h[ENT_IP], &h));
	ck_assert(!heq(&a->h[ENT_ACCOUNT], &b->h[ENT_ACCOUNT]));
	/* Facts. */
	ck_assert(a->facts & PF_EMAIL_DOMAIN);
	ck_assert_str_eq(a->email_domain, "example.com");
	ck_assert(a->facts & PF_IP_INFO);
	ck_assert_int_eq(a->ip_version, 4);
	ck_assert_int_eq(b->ip_version, 6);
}
END_TEST

/* What leaves req.c holds no raw personal data. */
START_TEST(test_no_raw_identifiers)
{
	static const char *const raw[] = { "acct-alice-77", "Alice.Smith",
	    "alice.smith", "203.0.113", "12 34 56", "612345678", "tok_visa",
	    "Firefox", "Europe/Paris", "dev-1", "acct-bob-88", "2001:db8" };
	size_t	i;

	ok(CHECK_FULL, OP_CHECK);
	for (i = 0; i < nitems(raw); i++)
		ck_assert_msg(memmem(&ev, sizeof(ev), raw[i],
		    strlen(raw[i])) == NULL, "'%s' kept in the event", raw[i]);
}
END_TEST

START_TEST(test_check_minimal)
{
	ok("{\"op\":\"check\",\"id\":\"r\",\"referrer\":{\"account\":\"a\"},"
	    "\"referee\":{\"account\":\"b\",\"device\":null,\"email\":null}}",
	    OP_CHECK);
	ck_assert_int_eq(ev.ts, NOW);		/* ts defaults to now */
	ck_assert_str_eq(ev.campaign, "");
	ck_assert(!ev.has_reward);
	ck_assert_str_eq(ev.reward_currency, "");
	ck_assert_uint_eq(ev.party[0].have, 1u << ENT_ACCOUNT);
	ck_assert_uint_eq(ev.party[1].have, 1u << ENT_ACCOUNT);
	ck_assert(ev.has_edge);

	/* A reward without currency. */
	ok("{\"op\":\"check\",\"id\":\"r\",\"reward\":{\"amount\":0},"
	    "\"referrer\":{\"account\":\"a\"},\"referee\":{\"account\":\"b\"}}",
	    OP_CHECK);
	ck_assert(ev.has_reward);
	ck_assert(ev.reward_amount == 0);
	ck_assert_str_eq(ev.reward_currency, "");
}
END_TEST

START_TEST(test_observe)
{
	ok("{\"op\":\"observe\",\"kind\":\"purchase\",\"ts\":1795427000000,"
	    "\"account\":\"a-1\",\"email\":\"x@example.org\","
	    "\"ip\":\"10.1.2.3\",\"meta\":7}", OP_OBSERVE);
	ck_assert_int_eq(ev.type, EV_PURCHASE);
	ck_assert_int_eq(ev.ts, 1795427000000LL);
	ck_assert_int_eq(ev.nparties, 1);
	ck_assert(!ev.has_edge);
	ck_assert_uint_eq(ev.idlen, 0);
	ck_assert_uint_eq(ev.party[0].have, (1u << ENT_ACCOUNT) |
	    (1u << ENT_EMAIL) | (1u << ENT_IP) | (1u << ENT_IP_PREFIX));
	ck_assert(ev.party[0].ip_private);
	ok("{\"op\":\"observe\",\"kind\":\"signup\",\"account\":\"a\"}",
	    OP_OBSERVE);
	ck_assert_int_eq(ev.type, EV_SIGNUP);
	ok("{\"op\":\"observe\",\"kind\":\"payout\",\"account\":\"a\"}",
	    OP_OBSERVE);
	ck_assert_int_eq(ev.type, EV_PAYOUT);
	ok("{\"op\":\"observe\",\"kind\":\"update\",\"account\":\"a\","
	    "\"phone\":\"+1 555 0100 22\"}", OP_OBSERVE);
	ck_assert_int_eq(ev.type, EV_UPDATE);

	refused("{\"op\":\"observe\",\"kind\":\"referral\",\"account\":\"a\"}",
	    "bad_request", "kind", NULL);
	refused("{\"op\":\"observe\",\"kind\":\"logout\",\"account\":\"a\"}",
	    "bad_request", "kind", "signup");
	refused("{\"op\":\"observe\",\"account\":\"a\"}", "bad_request", "kind",
	    "required");
	refused("{\"op\":\"observe\",\"kind\":\"login\"}", "bad_request",
	    "account", "required");
	refused("{\"op\":\"observe\",\"kind\":\"login\",\"account\":\"a\","
	    "\"ip\":\"1.2.3\"}", "bad_request", "ip", "IPv4");
	refused("{\"op\":\"observe\",\"kind\":\"login\",\"account\":\"a\","
	    "\"referrer\":{}}", "bad_request", "referrer", "unknown field");
	refused("{\"op\":\"observe\",\"kind\":\"login\",\"account\":\"a\","
	    "\"device\":{\"ua\":7.5}}", "bad_request", "device.ua", NULL);
}
END_TEST

#define CHK(extra, rer, ree)	"{\"op\":\"check\",\"id\":\"r-1\"" extra \
	",\"referrer\":" rer ",\"referee\":" ree "}"
#define A	"{\"account\":\"a\"}"
#define B	"{\"account\":\"b\"}"

START_TEST(test_errors)
{
	/* Request level. */
	refused("", "bad_json", "", NULL);
	refused("{", "bad_json", "", NULL);
	refused("{\"op\":\"ping\"} x", "bad_json", "", NULL);
	refused("{\"op\":\"ping\",}", "bad_json", "", NULL);
	refused("[\"op\",\"ping\"]", "bad_request", "", "an array");
	refused("\"ping\"", "bad_json", "", NULL);	/* jansson: no bare values */
	refused("{}", "bad_request", "op", "required");
	refused("{\"op\":1}", "bad_request", "op", "a number");
	refused("{\"op\":null}", "bad_request", "op", NULL);
	refused("{\"op\":\"chek\"}", "unknown_op", "op", "chek");
	/* The ops offered are every op there is. */
	refused("{\"op\":\"chek\"}", "unknown_op", "op",
	    "(one of ping, check, observe, verdict, explain, stats, reload, "
	    "recheck, feedback, list.add, list.del, list.get, list.log, "
	    "rules, queue.list, queue.get, queue.claim, queue.unclaim, "
	    "queue.decide, verdicts.list, graph, stats.daily)");
	/* ... however long the unknown name: the list is never cut. */
	refused("{\"op\":\"an-op-name-far-longer-than-any-that-there-is-"
	    "and-then-some-more-of-it\"}", "unknown_op", "op",
	    "queue.decide, verdicts.list, graph, stats.daily)");
	refused("{\"op\":\"PING\"}", "unknown_op", "op", NULL);
	refused("{\"op\":\"\"}", "unknown_op", "op", NULL);
	/* Fields the op does not take. */
	refused("{\"op\":\"ping\",\"id\":\"x\"}", "bad_request", "id",
	    "unknown field");
	refused("{\"op\":\"stats\",\"verbose\":true}", "bad_request", "verbose",
	    "unknown field");
	refused("{\"op\":\"rules\",\"rule\":\"x\"}", "bad_request", "rule",
	    "unknown field");
	refused("{\"op\":\"verdict\",\"id\":\"x\",\"explain\":true}",
	    "bad_request", "explain", "unknown field");
	refused(CHK(",\"referer\":{}", A, B), "bad_request", "referer",
	    "unknown field");
	refused(CHK("", "{\"account\":\"a\",\"emial\":\"x@y.z\"}", B),
	    "bad_request", "referrer.emial", "unknown field");
	refused(CHK(",\"reward\":{\"amount\":1,\"curency\":\"EUR\"}", A, B),
	    "bad_request", "reward.curency", "unknown field");
	/* id */
	refused("{\"op\":\"verdict\"}", "bad_request", "id", "required");
	refused("{\"op\":\"verdict\",\"id\":\"\"}", "bad_request", "id", "empty");
	refused("{\"op\":\"verdict\",\"id\":5}", "bad_request", "id", "a number");
	refused("{\"op\":\"verdict\",\"id\":\"a\\tb\"}", "bad_request", "id",
	    "control");
	refused("{\"op\":\"verdict\",\"id\":\"a\\u007fb\"}", "bad_request", "id",
	    "control");
	refused("{\"op\":\"check\",\"referrer\":" A ",\"referee\":" B "}",
	    "bad_request", "id", "required");
	/* Parties. */
	refused("{\"op\":\"check\",\"id\":\"r\",\"referee\":" B "}",
	    "bad_request", "referrer", "required");
	refused("{\"op\":\"check\",\"id\":\"r\",\"referrer\":" A "}",
	    "bad_request", "referee", "required");
	refused(CHK("", "[]", B), "bad_request", "referrer", "an object");
	refused(CHK("", A, "{}"), "bad_request", "referee.account", "required");
	refused(CHK("", A, "{\"account\":\"\"}"), "bad_request",
	    "referee.account", "empty");
	refused(CHK("", A, "{\"account\":7}"), "bad_request", "referee.account",
	    "a number");
	refused(CHK("", A, "{\"account\":\"b\",\"ip\":\"300.1.1.1\"}"),
	    "bad_request", "referee.ip", "IPv4 or IPv6");
	refused(CHK("", A, "{\"account\":\"b\",\"ip\":\"fe80::1%eth0\"}"),
	    "bad_request", "referee.ip", "zone");
	refused(CHK("", A, "{\"account\":\"b\",\"ip\":true}"),
	    "bad_request", "referee.ip", "a boolean");
	refused(CHK("", A, "{\"account\":\"b\",\"email\":\"no-at-sign\"}"),
	    "bad_request", "referee.email", "@");
	refused(CHK("", A, "{\"account\":\"b\",\"phone\":\"12\"}"),
	    "bad_request", "referee.phone", "fewer than 5");
	refused(CHK("", A, "{\"account\":\"b\",\"phone\":\"call me\"}"),
	    "bad_request", "referee.phone", "letters");
	refused(CHK("", A, "{\"account\":\"b\",\"payment\":\"\"}"),
	    "bad_request", "referee.payment", NULL);
	refused(CHK("", "{\"account\":\"a\\u0001\"}", B), "bad_request",
	    "referrer.account", "control");
	/* Devices. */
	refused(CHK("", "{\"account\":\"a\",\"device\":\"iphone\"}", B),
	    "bad_request", "referrer.device", "an object");
	refused(CHK("", "{\"account\":\"a\",\"device\":{}}", B),
	    "bad_request", "referrer.device", "empty");
	refused(CHK("", "{\"account\":\"a\",\"device\":{\"ua\":[\"x\"]}}", B),
	    "bad_request", "referrer.device.ua", "an array");
	refused(CHK("", "{\"account\":\"a\",\"device\":{\"ua\":\"a\\u0002b\"}}", B),
	    "bad_request", "referrer.device.ua", "control");
	refused(CHK("", "{\"account\":\"a\",\"device\":{\"ua\":\"x\",\"UA\":\"y\"}}",
	    B), "bad_request", "referrer.device.UA", "duplicate");
	refused(CHK("", "{\"account\":\"a\",\"device\":{\"u a\":\"x\"}}", B),
	    "bad_request", "referrer.device.u a", "attribute name");
	/* reward */
	refused(CHK(",\"reward\":5", A, B), "bad_request", "reward", "an object");
	refused(CHK(",\"reward\":{}", A, B), "bad_request", "reward.amount",
	    "required");
	refused(CHK(",\"reward\":{\"amount\":\"5\"}", A, B), "bad_request",
	    "reward.amount", "a string");
	refused(CHK(",\"reward\":{\"amount\":-1}", A, B), "bad_request",
	    "reward.amount", NULL);
	refused(CHK(",\"reward\":{\"amount\":1e13}", A, B), "bad_request",
	    "reward.amount", NULL);
	refused(CHK(",\"reward\":{\"amount\":1,\"currency\":\"eur\"}", A, B),
	    "bad_request", "reward.currency", "ISO 4217");
	refused(CHK(",\"reward\":{\"amount\":1,\"currency\":\"EU\"}", A, B),
	    "bad_request", "reward.currency", "ISO 4217");
	refused(CHK(",\"reward\":{\"amount\":1,\"currency\":\"EURO\"}", A, B),
	    "bad_request", "reward.currency", NULL);
	refused(CHK(",\"reward\":{\"amount\":1,\"currency\":978}", A, B),
	    "bad_request", "reward.currency", NULL);
	/* campaign */
	refused(CHK(",\"campaign\":\"a\\nb\"", A, B), "bad_request", "campaign",
	    "control");
	refused(CHK(",\"campaign\":[]", A, B), "bad_request", "campaign", NULL);
	/* The referee is not the referrer. */
	refused(CHK("", A, "{\"account\":\"a\"}"), "bad_request",
	    "referee.account", "referrer");
}
END_TEST

START_TEST(test_ts)
{
	ok(CHK(",\"ts\":\"2026-11-23T10:00:00.250+01:00\"", A, B), OP_CHECK);
	ck_assert_int_eq(ev.ts, NOW - 3600000 + 250);
	ok(CHK(",\"ts\":1795427000123", A, B), OP_CHECK);
	ck_assert_int_eq(ev.ts, 1795427000123LL);
	ck_assert(ev.ts_given);
	ok(CHK(",\"ts\":null", A, B), OP_CHECK);
	ck_assert_int_eq(ev.ts, NOW);
	ck_assert(!ev.ts_given);
	/* The edges of the window are inside. */
	ok(CHK(",\"ts\":1792836000000", A, B), OP_CHECK);	/* now - 30d */
	ok(CHK(",\"ts\":1795431600000", A, B), OP_CHECK);	/* now + 1h */

	refused(CHK(",\"ts\":1792835999999", A, B), "bad_request", "ts",
	    "retention");
	refused(CHK(",\"ts\":\"2020-01-01T00:00:00Z\"", A, B), "bad_request",
	    "ts", "2020-01-01T00:00:00.000Z is older than the retention");
	refused(CHK(",\"ts\":1795431600001", A, B), "bad_request", "ts",
	    "future");
	refused(CHK(",\"ts\":\"2027-01-01T00:00:00Z\"", A, B), "bad_request",
	    "ts", "2027-01-01T00:00:00.000Z is in the future");
	refused(CHK(",\"ts\":\"yesterday\"", A, B), "bad_request", "ts",
	    "RFC 3339");
	refused(CHK(",\"ts\":\"2026-02-29T10:00:00Z\"", A, B), "bad_request",
	    "ts", NULL);
	refused(CHK(",\"ts\":-1", A, B), "bad_request", "ts", "range");
	refused(CHK(",\"ts\":253402300800000", A, B), "bad_request", "ts",
	    "range");
	refused(CHK(",\"ts\":1795427000000.5", A, B), "bad_request", "ts",
	    "whole number");
	refused(CHK(",\"ts\":1795427000000.0", A, B), "bad_request", "ts",
	    "whole number");
	refused(CHK(",\"ts\":true", A, B), "bad_request", "ts", "a boolean");
	refused("{\"op\":\"observe\",\"kind\":\"login\",\"account\":\"a\","
	    "\"ts\":\"1999-01-01T00:00:00Z\"}", "bad_request", "ts", NULL);

	/* A recheck as of a time: the same rules; now when absent. */
	ok("{\"op\":\"recheck\",\"id\":\"r\",\"ts\":1795427000123}",
	    OP_RECHECK);
	ck_assert_int_eq(ev.ts, 1795427000123LL);
	ck_assert(ev.ts_given);
	ck_assert_str_eq(ev.id, "r");
	ok("{\"op\":\"recheck\",\"id\":\"r\",\"ts\":"
	    "\"2026-11-23T10:00:00.250+01:00\"}", OP_RECHECK);
	ck_assert_int_eq(ev.ts, NOW - 3600000 + 250);
	ok("{\"op\":\"recheck\",\"id\":\"r\"}", OP_RECHECK);
	ck_assert_int_eq(ev.ts, NOW);
	ck_assert(!ev.ts_given);
	refused("{\"op\":\"recheck\",\"id\":\"r\",\"ts\":\"yesterday\"}",
	    "bad_request", "ts", "RFC 3339");
	refused("{\"op\":\"recheck\",\"id\":\"r\",\"ts\":1792835999999}",
	    "bad_request", "ts", "retention");
	refused("{\"op\":\"recheck\",\"id\":\"r\",\"ts\":1795431600001}",
	    "bad_request", "ts", "future");
	refused("{\"op\":\"recheck\",\"id\":\"r\",\"ts\":1.5}",
	    "bad_request", "ts", "whole number");
	refused("{\"op\":\"recheck\",\"id\":\"r\",\"at\":1}",
	    "bad_request", "at", NULL);
	refused("{\"op\":\"recheck\",\"ts\":1795427000123}", "bad_request",
	    "id", NULL);

	/* Without a horizon, any time from 1970 to 9999 goes, either form. */
	opts.retention = 0;
	opts.max_future = 0;
	ok(CHK(",\"ts\":0", A, B), OP_CHECK);
	ck_assert_int_eq(ev.ts, 0);
	ok(CHK(",\"ts\":253402300799999", A, B), OP_CHECK);
	ck_assert_int_eq(ev.ts, 253402300799999LL);
	ok(CHK(",\"ts\":\"1970-01-01T01:00:00+01:00\"", A, B), OP_CHECK);
	ck_assert_int_eq(ev.ts, 0);
	ok(CHK(",\"ts\":\"9999-12-31T23:59:59.999Z\"", A, B), OP_CHECK);
	ck_assert_int_eq(ev.ts, 253402300799999LL);
	refused(CHK(",\"ts\":\"0001-01-01T00:00:00Z\"", A, B), "bad_request",
	    "ts", "out of range");
	refused(CHK(",\"ts\":\"0000-01-01T00:30:00+01:00\"", A, B),
	    "bad_request", "ts", "out of range");
	refused(CHK(",\"ts\":\"9999-12-31T23:59:59-00:01\"", A, B),
	    "bad_request", "ts", "out of range");
	refused(CHK(",\"ts\":-1", A, B), "bad_request", "ts", "out of range");
	refused("{\"op\":\"recheck\",\"id\":\"r\",\"ts\":"
	    "\"1969-12-31T23:59:59Z\"}", "bad_request", "ts", "out of range");
}
END_TEST

START_TEST(test_json_edges)
{
	char	*deep, *p;
	size_t	 i, n = 100000;

	/* Duplicate keys, at the top and deeper down. */
	refused("{\"op\":\"ping\",\"op\":\"ping\"}", "bad_json", "", "duplicate");
	refused(CHK("", "{\"account\":\"a\",\"account\":\"c\"}", B), "bad_json",
	    "", "duplicate");
	/* NUL bytes: raw, escaped, and after the object. */
	refused("{\"op\":\"verdict\",\"id\":\"a\\u0000b\"}", "bad_json", "", NULL);
	{
		static const char raw[] = "{\"op\":\"verdict\",\"id\":\"a\0b\"}";
		static const char tail[] = "{\"op\":\"ping\"}\0";
		static const char num[] = "{\"op\":\"recheck\",\"id\":\"r\","
		    "\"ts\":5\0}";
		struct req_error	err;
		enum req_op		op;

		ck_assert_int_eq(req_decode(raw, sizeof(raw) - 1, id, &opts,
		    &op, &ev, &err), -1);
		ck_assert_str_eq(err.code, "bad_json");
		ck_assert_int_eq(req_decode(tail, sizeof(tail) - 1, id, &opts,
		    &op, &ev, &err), -1);
		ck_assert_str_eq(err.code, "bad_json");
		/* One after a number, which jansson would let through. */
		ck_assert_int_eq(req_decode(num, sizeof(num) - 1, id, &opts,
		    &op, &ev, &err), -1);
		ck_assert_str_eq(err.code, "bad_json");
		ck_assert_str_eq(err.msg, "column 32: a NUL byte");
		/* len bounds the line: what follows is not read. */
		ck_assert_int_eq(req_decode(tail, sizeof(tail) - 2, id, &opts,
		    &op, &ev, &err), 0);
		ck_assert_int_eq(op, OP_PING);
	}
	/* Invalid UTF-8, in a value and in a key. */
	refused("{\"op\":\"verdict\",\"id\":\"a\xff\"}", "bad_json", "", NULL);
	refused("{\"op\":\"verdict\",\"id\":\"\xc0\xaf\"}", "bad_json", "", NULL);
	refused("{\"op\":\"verdict\",\"\xed\xa0\x80\":1}", "bad_json", "", NULL);
	/* Huge numbers. */
	refused(CHK(",\"ts\":99999999999999999999999", A, B), "bad_json", "",
	    NULL);
	refused(CHK(",\"ts\":1e999", A, B), "bad_json", "", NULL);
	refused(CHK(",\"ts\":9223372036854775807", A, B), "bad_request", "ts",
	    "range");
	refused(CHK(",\"ts\":-9223372036854775808", A, B), "bad_request", "ts",
	    "range");
	refused(CHK(",\"reward\":{\"amount\":1e308}", A, B), "bad_request",
	    "reward.amount", NULL);
	/* Deep nesting is refused, not a stack overflow. */
	deep = xmalloc(2 * n + 64);
	p = deep + sprintf(deep, "{\"op\":\"ping\",\"x\":");
	for (i = 0; i < n; i++)
		*p++ = '[';
	for (i = 0; i < n; i++)
		*p++ = ']';
	strcpy(p, "}");
	refused(deep, "bad_json", "", NULL);
	/* Long unknown field names are cut, still named. */
	free(deep);
	{
		struct req_error	err;
		enum req_op		op;

		ck_assert_int_eq(decode("{\"op\":\"ping\",\"aaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}", &op,
		    &ev, &err), -1);
		ck_assert_str_eq(err.code, "bad_request");
		ck_assert_str_eq(err.msg, "unknown field");
		ck_assert_uint_lt(strlen(err.field), sizeof(err.field));
		ck_assert(strncmp(err.field, "aaaaaaaaaa", 10) == 0);
		ck_assert_str_eq(err.field + strlen(err.field) - 3, "...");
	}
}
END_TEST

START_TEST(test_field_name_escaped)
{
	struct req_error	err;
	enum req_op		op;

	/* A field name with a quote or a control byte comes back escaped. */
	ck_assert_int_eq(decode("{\"op\":\"ping\",\"a\\\"b\\u0001\":1}", &op,
	    &ev, &err), -1);
	ck_assert_str_eq(err.field, "a\\\"b\\x01");
}
END_TEST

/* The reply parses as JSON and says what err says. */
static json_t *
reply_json(const struct req_error *err, const char *rid, size_t idlen)
{
	json_error_t	 je;
	json_t		*j, *e;
	char		*r;
	size_t		 len;

	r = req_error_reply(err, rid, idlen, &len);
	ck_assert_uint_eq(len, strlen(r));
	ck_assert_ptr_null(memchr(r, '\n', len));
	j = json_loadb(r, len, JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(j != NULL, "'%s': %s", r, je.text);
	e = json_object_get(j, "error");
	ck_assert(json_is_object(e));
	ck_assert_str_eq(json_string_value(json_object_get(e, "code")),
	    err->code);
	ck_assert_str_eq(json_string_value(json_object_get(e, "msg")),
	    err->msg);
	if (err->field[0] != '\0')
		ck_assert_str_eq(json_string_value(json_object_get(e, "field")),
		    err->field);
	else
		ck_assert_ptr_null(json_object_get(e, "field"));
	free(r);
	return (j);
}

START_TEST(test_error_reply_echo)
{
	static const char *const lines[] = {
		CHK("", A, "{\"account\":\"b\",\"ip\":\"x\"}"),
		"{\"op\":\"nope\",\"id\":\"r-1\"}",
		"{\"op\":\"ping\",\"id\":\"r-1\"}",
		"{\"op\":\"observe\",\"id\":\"r-1\",\"kind\":\"login\","
		    "\"account\":\"a\"}",
		"{\"id\":\"r-1\"}",
		"{\"op\":\"check\",\"id\":\"r-1\",\"ts\":\"x\"}",
	};
	struct req_error	 err;
	enum req_op		 op;
	json_t			*j;
	size_t			 i;

	for (i = 0; i < nitems(lines); i++) {
		ck_assert_int_eq(decode(lines[i], &op, &ev, &err), -1);
		ck_assert_msg(ev.idlen == 3 && strcmp(ev.id, "r-1") == 0,
		    "'%s': id not kept for the echo", lines[i]);
		j = reply_json(&err, ev.id, ev.idlen);
		ck_assert_str_eq(json_string_value(json_object_get(j, "id")),
		    "r-1");
		json_decref(j);
	}

	/* Unreadable JSON, or an id that is itself bad: no echo. */
	ck_assert_int_eq(decode("{\"id\":\"r-1\",", &op, &ev, &err), -1);
	ck_assert_uint_eq(ev.idlen, 0);
	j = reply_json(&err, NULL, 0);
	ck_assert_ptr_null(json_object_get(j, "id"));
	json_decref(j);
	ck_assert_int_eq(decode("{\"op\":\"verdict\",\"id\":\"a\\nb\"}", &op,
	    &ev, &err), -1);
	ck_assert_uint_eq(ev.idlen, 0);

	/* An id with quotes and non-ASCII survives the round trip. */
	ck_assert_int_eq(decode("{\"op\":\"nope\",\"id\":\"q\\\"\\\\\\u00e9"
	    "\\ud83d\\ude00\"}", &op, &ev, &err), -1);
	j = reply_json(&err, ev.id, ev.idlen);
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")),
	    "q\"\\\xc3\xa9\xf0\x9f\x98\x80");
	json_decref(j);
}
END_TEST

START_TEST(test_error_reply_hostile)
{
	struct req_error	 err;
	enum req_op		 op;
	json_t			*j;

	/* jansson's message quotes the bad input: the reply stays JSON. */
	ck_assert_int_eq(decode("{\"op\":\"ping\"} \xff\xfe\x01\"", &op, &ev,
	    &err), -1);
	json_decref(reply_json(&err, NULL, 0));
	ck_assert_int_eq(decode("{\"op\":\"ping\",\"x\":tru\x01\xc3}", &op,
	    &ev, &err), -1);
	json_decref(reply_json(&err, NULL, 0));

	/* A hand-made error with every awkward byte. */
	memset(&err, 0, sizeof(err));
	err.code = "bad_request";
	snprintf(err.field, sizeof(err.field), "a\"b\\c\x01");
	snprintf(err.msg, sizeof(err.msg), "bad \xff byte\n\"q\"");
	j = reply_json(&(struct req_error){ .code = "bad_request",
	    .field = "f", .msg = "plain" }, "i\xffz", 3);
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")),
	    "i\xef\xbf\xbdz");
	json_decref(j);
	{
		json_error_t	 je;
		char		*r;
		size_t		 len;

		r = req_error_reply(&err, NULL, 0, &len);
		j = json_loadb(r, len, 0, &je);
		ck_assert_msg(j != NULL, "'%s': %s", r, je.text);
		ck_assert_str_eq(json_string_value(json_object_get(
		    json_object_get(j, "error"), "field")), "a\"b\\c\x01");
		json_decref(j);
		free(r);
	}
	/* No code: still a reply. */
	memset(&err, 0, sizeof(err));
	{
		char	*r;
		size_t	 len;

		r = req_error_reply(&err, NULL, 0, &len);
		ck_assert_ptr_nonnull(strstr(r, "\"code\":\"error\""));
		free(r);
	}
}
END_TEST

static Suite *
req_suite(void)
{
	Suite	*s = suite_create("req");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ops);
	tcase_add_test(tc, test_check_full);
	tcase_add_test(tc, test_no_raw_identifiers);
	tcase_add_test(tc, test_check_minimal);
	tcase_add_test(tc, test_observe);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_queue_ops);
	tcase_add_test(tc, test_verdicts_list);
	tcase_add_test(tc, test_stats_daily);
	tcase_add_test(tc, test_ts);
	tcase_add_test(tc, test_json_edges);
	tcase_add_test(tc, test_field_name_escaped);
	tcase_add_test(tc, test_error_reply_echo);
	tcase_add_test(tc, test_error_reply_hostile);
	tcase_add_test(tc, test_analyst_codec);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	if (unit_tmpdir(tmpdir) != 0)
		return (99);
	snprintf(secret, sizeof(secret), "%s/secret", tmpdir);
	return (unit_run_in(req_suite(), tmpdir));
}
