/* verdict.c: turn an event into a verdict, inside a write transaction. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

#define VERDICT_REC_VERSION	1
#define VERDICT_HDR_LEN		(1 + 8 + 1 + 4 + 4)

static void
be_put(uint8_t *p, uint64_t v, int n)
{
	int	i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
be_get(const uint8_t *p, int n)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return (v);
}

int
verdict_rec_decode(const void *recp, size_t len, struct verdict_rec *r)
{
	const uint8_t	*rec = recp;

	if (len < VERDICT_HDR_LEN || rec[0] != VERDICT_REC_VERSION)
		return (-1);
	r->seq = be_get(rec + 1, 8);
	r->action = rec[9];
	r->score = (int32_t)be_get(rec + 10, 4);
	r->replylen = be_get(rec + 14, 4);
	if (r->replylen > len - VERDICT_HDR_LEN)
		return (-1);
	r->reply = (const char *)rec + VERDICT_HDR_LEN;
	r->explain = r->reply + r->replylen;
	r->explainlen = len - VERDICT_HDR_LEN - r->replylen;
	return (0);
}

void *
verdict_rec_encode(const struct verdict_rec *r, size_t *len)
{
	uint8_t	*rec;

	*len = VERDICT_HDR_LEN + r->replylen + r->explainlen;
	rec = xmalloc(*len);
	rec[0] = VERDICT_REC_VERSION;
	be_put(rec + 1, r->seq, 8);
	rec[9] = r->action;
	be_put(rec + 10, (uint32_t)r->score, 4);
	be_put(rec + 14, r->replylen, 4);
	if (r->replylen > 0)
		memcpy(rec + VERDICT_HDR_LEN, r->reply, r->replylen);
	if (r->explainlen > 0)
		memcpy(rec + VERDICT_HDR_LEN + r->replylen, r->explain,
		    r->explainlen);
	return (rec);
}

static void
add_hits(struct sbuf *sb, const struct ruleset *rs,
    const struct rules_result *res, int shadow)
{
	const struct rules_hit	*h;
	const char		*s;
	size_t			 i;
	int			 first = 1;

	sbuf_addc(sb, '[');
	for (i = 0; i < res->nhits; i++) {
		h = &res->hits[i];
		if (h->shadow != shadow)
			continue;
		if (!first)
			sbuf_addc(sb, ',');
		first = 0;
		s = rules_rule_name(rs, h->rule);
		sbuf_adds(sb, "{\"rule\":");
		sbuf_add_jstr(sb, s, strlen(s));
		sbuf_adds(sb, ",\"action\":\"");
		sbuf_adds(sb, rules_action_name(h->action));
		sbuf_adds(sb, "\",\"score\":");
		sbuf_add_int(sb, h->score);
		s = rules_rule_msg(rs, h->rule);
		if (s != NULL && *s != '\0') {
			sbuf_adds(sb, ",\"msg\":");
			sbuf_add_jstr(sb, s, strlen(s));
		}
		sbuf_addc(sb, '}');
	}
	sbuf_addc(sb, ']');
}

static void
format_reply(struct sbuf *sb, const struct event *ev, const struct ruleset *rs,
    const struct rules_result *res)
{
	char	when[RFC3339_LEN];

	sbuf_adds(sb, "{\"id\":");
	sbuf_add_jstr(sb, ev->id, ev->idlen);
	sbuf_adds(sb, ",\"action\":\"");
	sbuf_adds(sb, rules_action_name(res->action));
	sbuf_adds(sb, "\",\"score\":");
	sbuf_add_int(sb, res->score);
	sbuf_adds(sb, ",\"reasons\":");
	add_hits(sb, rs, res, 0);
	sbuf_adds(sb, ",\"shadow\":");
	add_hits(sb, rs, res, 1);
	sbuf_adds(sb, ",\"ruleset\":\"");
	sbuf_adds(sb, rs != NULL ? rules_hash(rs) : "none");
	sbuf_adds(sb, "\",\"ts\":\"");
	sbuf_adds(sb, fmt_rfc3339(ev->ts, when));
	sbuf_adds(sb, "\"}");
}

int
verdict_check(struct store_txn *txn, const struct ruleset *rs,
    struct event *ev, struct verdict *out)
{
	struct rules_result	 res;
	struct verdict_rec	 r;
	struct sbuf		 sb;
	const void		*rec;
	size_t			 len, i;
	uint8_t			*hdr;
	int			 rc;

	memset(out, 0, sizeof(*out));
	rc = store_get_verdict(txn, ev->id, ev->idlen, &rec, &len);
	if (rc < 0)
		return (-1);
	if (rc == 0 && verdict_rec_decode(rec, len, &r) == 0) {
		/* Idempotent: the stored answer, byte for byte; nothing counted. */
		out->replay = true;
		out->seq = r.seq;
		out->action = r.action;
		out->score = r.score;
		out->reply = xstrndup(r.reply, r.replylen);
		out->replylen = r.replylen;
		return (0);
	}

	if (store_put_event(txn, ev) != 0)
		return (-1);
	memset(&res, 0, sizeof(res));
	res.action = ACTION_ALLOW;
	if (rs != NULL && rules_eval(rs, ev, txn, 1, &res) != 0) {
		free(res.explain);
		return (-1);
	}

	sbuf_init(&sb, 512);
	sbuf_add(&sb, (uint8_t[VERDICT_HDR_LEN]){ 0 }, VERDICT_HDR_LEN);
	format_reply(&sb, ev, rs, &res);
	out->replylen = sb.len - VERDICT_HDR_LEN;
	sbuf_adds(&sb, res.explain != NULL ? res.explain : "[]");
	free(res.explain);
	hdr = (uint8_t *)sb.buf;
	hdr[0] = VERDICT_REC_VERSION;
	be_put(hdr + 1, ev->seq, 8);
	hdr[9] = res.action;
	be_put(hdr + 10, (uint32_t)res.score, 4);
	be_put(hdr + 14, out->replylen, 4);
	if (store_put_verdict(txn, ev->id, ev->idlen, sb.buf, sb.len) != 0) {
		sbuf_free(&sb);
		return (-1);
	}
	out->seq = ev->seq;
	out->action = res.action;
	out->score = res.score;
	out->reply = xstrndup(sb.buf + VERDICT_HDR_LEN, out->replylen);
	for (i = 0; i < res.nhits && out->nhits < nitems(out->hits); i++)
		out->hits[out->nhits++] = res.hits[i].rule;
	sbuf_free(&sb);
	return (0);
}

int
verdict_observe(struct store_txn *txn, struct event *ev, struct verdict *out)
{
	struct sbuf	sb;

	memset(out, 0, sizeof(*out));
	if (store_put_event(txn, ev) != 0)
		return (-1);
	sbuf_init(&sb, 64);
	sbuf_adds(&sb, "{\"ok\":true,\"seq\":");
	sbuf_add_int(&sb, (int64_t)ev->seq);
	sbuf_addc(&sb, '}');
	out->seq = ev->seq;
	out->reply = sbuf_take(&sb, &out->replylen);
	return (0);
}

/* A JSON array of kind names: those of a (and, when b, shared with b). */
static void
add_kinds(struct sbuf *sb, const struct party *a, const struct party *b)
{
	unsigned	k;
	int		first = 1;

	sbuf_addc(sb, '[');
	for (k = 1; k < ENT__MAX; k++) {
		if (!PARTY_HAS(a, k))
			continue;
		if (b != NULL && (k == ENT_ACCOUNT || !PARTY_HAS(b, k) ||
		    memcmp(a->h[k].b, b->h[k].b, RG_HASH_LEN) != 0))
			continue;
		sbuf_adds(sb, first ? "\"" : ",\"");
		sbuf_adds(sb, ent_kind_name(k));
		sbuf_addc(sb, '"');
		first = 0;
	}
	sbuf_addc(sb, ']');
}

/* The readable facts of a party: never a raw identifier. */
static void
add_party(struct sbuf *sb, const struct party *p)
{
	const struct geo_facts	*g = &p->geo;

	sbuf_adds(sb, "{\"identities\":");
	add_kinds(sb, p, NULL);
	if (p->facts & PF_EMAIL_DOMAIN) {
		sbuf_adds(sb, ",\"email.domain\":");
		sbuf_add_jstr(sb, p->email_domain, strlen(p->email_domain));
	}
	if (p->facts & PF_EMAIL_DISPOSABLE)
		sbuf_adds(sb, p->email_disposable ?
		    ",\"email.disposable\":true" : ",\"email.disposable\":false");
	if (p->facts & PF_IP_INFO) {
		sbuf_adds(sb, ",\"ip.version\":");
		sbuf_add_int(sb, p->ip_version);
		sbuf_adds(sb, p->ip_private ? ",\"ip.private\":true" :
		    ",\"ip.private\":false");
	}
	if (g->have & GEO_COUNTRY) {
		sbuf_adds(sb, ",\"geo.country\":");
		sbuf_add_jstr(sb, g->country, strnlen(g->country, 2));
	}
	if (g->have & GEO_CONTINENT) {
		sbuf_adds(sb, ",\"geo.continent\":");
		sbuf_add_jstr(sb, g->continent, strnlen(g->continent, 2));
	}
	if (g->have & GEO_ASN) {
		sbuf_adds(sb, ",\"geo.asn\":");
		sbuf_add_int(sb, g->asn);
	}
	if (g->have & GEO_AS_ORG) {
		sbuf_adds(sb, ",\"geo.as_org\":");
		sbuf_add_jstr(sb, g->as_org, strlen(g->as_org));
	}
#define GEO_BOOL(bit, name, f)						\
	if (g->have & (bit))						\
		sbuf_adds(sb, g->f ? ",\"" name "\":true" : ",\"" name "\":false");
	GEO_BOOL(GEO_ANONYMOUS, "geo.anonymous", anonymous)
	GEO_BOOL(GEO_VPN, "geo.vpn", vpn)
	GEO_BOOL(GEO_TOR, "geo.tor", tor)
	GEO_BOOL(GEO_HOSTING, "geo.hosting", hosting)
	GEO_BOOL(GEO_RESIDENTIAL_PROXY, "geo.residential_proxy",
	    residential_proxy)
#undef GEO_BOOL
	sbuf_addc(sb, '}');
}

/* The event as explain shows it: facts, and which identities the parties share. */
static void
add_event(struct sbuf *sb, const struct event *ev)
{
	const struct party	*a = &ev->party[PARTY_REFERRER];
	const struct party	*b = &ev->party[PARTY_REFEREE];
	char			 when[RFC3339_LEN];

	sbuf_adds(sb, "{\"seq\":");
	sbuf_add_int(sb, (int64_t)ev->seq);
	sbuf_adds(sb, ",\"ts\":\"");
	sbuf_adds(sb, fmt_rfc3339(ev->ts, when));
	sbuf_addc(sb, '"');
	if (ev->campaign[0] != '\0') {
		sbuf_adds(sb, ",\"campaign\":");
		sbuf_add_jstr(sb, ev->campaign, strlen(ev->campaign));
	}
	if (ev->has_reward)
		sbuf_addf(sb, ",\"reward\":{\"amount\":%.17g,\"currency\":\"%.3s\"}",
		    ev->reward_amount, ev->reward_currency);
	if (ev->nparties == 2) {
		sbuf_adds(sb, ",\"referrer\":");
		add_party(sb, a);
		sbuf_adds(sb, ",\"referee\":");
		add_party(sb, b);
		sbuf_adds(sb, ",\"shared\":");
		add_kinds(sb, a, b);
	}
	sbuf_addc(sb, '}');
}

int
verdict_lookup(struct store_txn *txn, const char *id, size_t idlen,
    bool explain, struct verdict *out)
{
	struct event	 ev;
	struct verdict_rec r;
	struct sbuf	 sb;
	const void	*rec;
	size_t		 len;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_get_verdict(txn, id, idlen, &rec, &len)) != 0)
		return (rc);
	if (verdict_rec_decode(rec, len, &r) != 0)
		return (1);
	out->seq = r.seq;
	out->action = r.action;
	out->score = r.score;
	if (!explain) {
		out->reply = xstrndup(r.reply, r.replylen);
		out->replylen = r.replylen;
		return (0);
	}
	sbuf_init(&sb, 1024);
	sbuf_adds(&sb, "{\"id\":");
	sbuf_add_jstr(&sb, id, idlen);
	sbuf_adds(&sb, ",\"verdict\":");
	sbuf_add(&sb, r.reply, r.replylen);
	rc = store_get_event(txn, r.seq, &ev);
	if (rc < 0) {
		sbuf_free(&sb);
		return (-1);
	}
	if (rc == 0) {
		char		 name[32];
		const void	*data;
		size_t		 dlen;

		sbuf_adds(&sb, ",\"event\":");
		add_event(&sb, &ev);
		/* Which GeoIP databases and lists derived the facts. */
		snprintf(name, sizeof(name), "data:%016llx",
		    (unsigned long long)ev.data_id);
		sbuf_adds(&sb, ",\"data\":");
		if (store_meta_get(txn, name, &data, &dlen) == 0)
			sbuf_add(&sb, data, dlen);
		else
			sbuf_adds(&sb, "null");
	}
	sbuf_adds(&sb, ",\"rules\":");
	if (r.explainlen > 0)
		sbuf_add(&sb, r.explain, r.explainlen);
	else
		sbuf_adds(&sb, "[]");
	sbuf_addc(&sb, '}');
	out->reply = sbuf_take(&sb, &out->replylen);
	return (0);
}

void
verdict_clear(struct verdict *v)
{
	free(v->reply);
	memset(v, 0, sizeof(*v));
}
