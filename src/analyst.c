/*
 * analyst.c: feedback and runtime lists; the steps are in analyst.h, the
 * storage in store_aux.h.
 */
#include "config.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analyst.h"
#include "graph.h"
#include "label.h"
#include "rec.h"
#include "ident.h"
#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"
#include "verdict.h"
#include "verdict_list.h"

bool
analyst_op(enum req_op op)
{
	return (op == OP_FEEDBACK || op == OP_LIST_ADD || op == OP_LIST_DEL ||
	    op == OP_LIST_GET || op == OP_LIST_LOG || queue_op(op) ||
	    op == OP_VERDICTS_LIST || op == OP_GRAPH || op == OP_STATS_DAILY);
}

const char *
analyst_kind_name(int kind)
{
	if (kind == LIST_KIND_STRING)
		return ("string");
	if (kind == LIST_KIND_NUMBER)
		return ("number");
	if (kind > 0 && kind < ENT__MAX)
		return (ent_kind_name((unsigned)kind));
	return ("?");
}

int
analyst_kind_from_name(const char *s)
{
	int	k;

	if (strcmp(s, "string") == 0 || strcmp(s, "domain") == 0)
		return (LIST_KIND_STRING);
	if (strcmp(s, "number") == 0 || strcmp(s, "asn") == 0)
		return (LIST_KIND_NUMBER);
	if ((k = ent_kind_from_name(s)) < 0 || k == ENT_EDGE ||
	    k == ENT_CAMPAIGN)
		return (-1);
	return (k);
}

static int
analyst_fail(struct req_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
analyst_fail(struct req_error *err, const char *field, const char *fmt, ...)
{
	va_list	ap;

	err->code = "bad_request";
	snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return (-1);
}

/* The kind a list's values are, from the request or the rules. */
static int
analyst_kind(struct analyst_req *ar, const struct ruleset *rs,
    struct req_error *err)
{
	uint64_t	kinds = 0;
	int		k, n = 0, one = -1;

	if (rs == NULL || rules_list_kinds(rs, ar->list, &kinds) != 0)
		kinds = 0;
	for (k = 1; k < 64; k++)
		if (kinds & (1ULL << k)) {
			n++;
			one = k;
		}
	if (ar->kind >= 0) {
		if (kinds != 0 && !(kinds & (1ULL << ar->kind)))
			return (analyst_fail(err, "kind", "the rules look list "
			    "%s up as %s, not as %s", ar->list,
			    analyst_kind_name(one), analyst_kind_name(ar->kind)));
		return (0);
	}
	if (n == 1) {
		ar->kind = one;
		return (0);
	}
	if (n == 0)
		return (analyst_fail(err, "kind", "required: the rules do not "
		    "look list %s up, so say what its values are (account, "
		    "email, email.shape, email.name, phone, phone.block, "
		    "payment, device.id, ip, ip.prefix, string or number)",
		    ar->list));
	return (analyst_fail(err, "kind", "required: the rules look list %s "
	    "up as several kinds of value; say which this one is", ar->list));
}

static void
analyst_member(struct analyst_req *ar, uint8_t kind, const struct rg_hash *h)
{
	struct store_list_member	*m;

	if ((ar->nmembers & (ar->nmembers - 1)) == 0)
		ar->members = xreallocarray(ar->members, ar->nmembers ?
		    ar->nmembers * 2 : 1, sizeof(*ar->members));
	m = &ar->members[ar->nmembers++];
	m->kind = kind;
	m->h = *h;
}

/* Hashes of one address as an ip and as an ip.prefix. */
static int
analyst_addr(const struct ident *id, int af, const uint8_t *a,
    struct party *p)
{
	char		 buf[INET6_ADDRSTRLEN];
	const char	*msg;

	memset(p, 0, sizeof(*p));
	inet_ntop(af, a, buf, sizeof(buf));
	return (ident_ip(id, buf, strlen(buf), p, &msg));
}

/*
 * A CIDR: the addresses it holds (ENT_IP) when it is no wider than the
 * ip.prefix length, else the prefixes (ENT_IP_PREFIX) it holds; for an
 * ip.prefix list, always prefixes. At most LIST_MEMBERS_MAX.
 */
static int
analyst_cidr(struct analyst_req *ar, const struct ident *id, const char *s,
    struct req_error *err)
{
	char		 addr[INET6_ADDRSTRLEN], norm[INET6_ADDRSTRLEN + 8];
	struct party	 p;
	uint8_t		 a[16], b[16];
	unsigned	 len, plen;
	int		 af, bits, step, bit;
	uint64_t	 count, k, v;
	uint8_t		 mkind;

	if (parse_cidr(s, &af, a, &bits, &len) != 0)
		goto bad;
	plen = ident_prefix_len(id, af == AF_INET6);
	if (ar->kind == ENT_IP && len >= plen) {
		step = bits;		/* every address */
		mkind = ENT_IP;
	} else {
		step = (int)plen;	/* every prefix */
		mkind = ENT_IP_PREFIX;
	}
	count = (int)len >= step ? 1 : 1ULL << (step - (int)len > 32 ? 32 :
	    step - (int)len);
	if (step - (int)len > 16)
		return (analyst_fail(err, "value", "%s holds more than %d %s; "
		    "add smaller networks", s, LIST_MEMBERS_MAX, mkind == ENT_IP ?
		    "addresses" : "prefixes"));
	for (k = 0; k < count; k++) {
		memcpy(b, a, sizeof(b));
		for (bit = step - 1, v = k; v != 0; bit--, v >>= 1)
			if (v & 1)
				b[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
		if (analyst_addr(id, af, b, &p) != 0)
			goto bad;
		analyst_member(ar, mkind, &p.h[mkind]);
	}
	inet_ntop(af, a, addr, sizeof(addr));
	snprintf(norm, sizeof(norm), "%s/%u", addr, len);
	ident_hash(id, (enum ent_kind)ar->kind, norm, strlen(norm),
	    &ar->entry.h);
	ar->entry.cidr = (uint8_t)len;
	return (0);
bad:
	return (analyst_fail(err, "value", "not an IP address or CIDR"));
}

/* The value as its list kind: members and the entry's hash. */
static int
analyst_value(struct analyst_req *ar, const struct ident *id,
    struct req_error *err)
{
	const char	*s = ar->value, *msg = "invalid", *errkey;
	struct dev_attr	 a;
	struct party	 p;
	struct rg_hash	 h;
	char		 num[64], *end;
	size_t		 len = strlen(s);
	double		 d;
	int		 r = -1;

	memset(&p, 0, sizeof(p));
	ar->entry.cidr = LIST_NO_CIDR;
	switch (ar->kind) {
	case ENT_ACCOUNT:
		r = ident_account(id, s, len, &p, &msg);
		break;
	case ENT_EMAIL:
	case ENT_EMAIL_SHAPE:	/* the shape of the address given */
	case ENT_EMAIL_NAME:	/* the name in the address given */
		r = ident_email(id, s, len, &p, &msg);
		break;
	case ENT_PHONE:
	case ENT_PHONE_BLOCK:	/* the block of the number given */
		r = ident_phone(id, s, len, &p, &msg);
		break;
	case ENT_PAYMENT:
		r = ident_payment(id, s, len, &p, &msg);
		break;
	case ENT_DEVICE_ID:
		a.key = "id";
		a.keylen = 2;
		a.val = s;
		a.vallen = len;
		r = ident_device(id, &a, 1, &p, &errkey, &msg);
		break;
	case ENT_IP:
	case ENT_IP_PREFIX:
		if (strchr(s, '/') != NULL)
			return (analyst_cidr(ar, id, s, err));
		r = ident_ip(id, s, len, &p, &msg);
		break;
	case LIST_KIND_STRING:
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			len--;
		while (len > 0 && isspace((unsigned char)*s)) {
			s++;
			len--;
		}
		if (len == 0)
			return (analyst_fail(err, "value", "empty"));
		store_list_strhash(ident_list_seed(id), LIST_KIND_STRING, s,
		    len, &h);
		analyst_member(ar, LIST_KIND_STRING, &h);
		ar->entry.h = h;
		return (0);
	case LIST_KIND_NUMBER:
		d = strtod(s, &end);
		if (*s == '\0' || *end != '\0' || !isfinite(d))
			return (analyst_fail(err, "value", "not a number"));
		snprintf(num, sizeof(num), "%.17g", d);
		store_list_strhash(ident_list_seed(id), LIST_KIND_NUMBER, num,
		    strlen(num), &h);
		analyst_member(ar, LIST_KIND_NUMBER, &h);
		ar->entry.h = h;
		return (0);
	default:
		return (analyst_fail(err, "kind", "device fingerprints cannot "
		    "be listed; list device.id values"));
	}
	if (r != 0)
		return (analyst_fail(err, "value", "%s", msg));
	if (!PARTY_HAS(&p, ar->kind))
		return (analyst_fail(err, "value", "%s: %s",
		    analyst_kind_name(ar->kind), ident_absent(ar->kind)));
	analyst_member(ar, (uint8_t)ar->kind, &p.h[ar->kind]);
	ar->entry.h = p.h[ar->kind];
	if (ar->kind == ENT_IP && PARTY_HAS(&p, ENT_IP_PREFIX)) {
		ar->prefix = p.h[ENT_IP_PREFIX];
		ar->has_prefix = true;
	}
	return (0);
}

int
analyst_prepare(struct analyst_req *ar, enum req_op op,
    const struct ident *id, const struct ruleset *rs, int64_t now,
    struct req_error *err)
{
	char	hex[2 * RG_HASH_LEN + 1];
	int	rc;

	if (op == OP_LIST_ADD && ar->expires != 0 && ar->expires <= now)
		return (analyst_fail(err, "expires", "is in the past"));
	if (ar->value == NULL)
		return (0);
	rc = analyst_kind(ar, rs, err);
	if (rc == 0)
		rc = analyst_value(ar, id, err);
	/* The raw value goes now: only its hashes travel on. */
	explicit_bzero(ar->value, strlen(ar->value));
	free(ar->value);
	ar->value = NULL;
	if (rc != 0)
		return (-1);
	ar->entry.kind = (uint8_t)ar->kind;
	ar->entry.nmembers = (uint32_t)ar->nmembers;
	snprintf(ar->desc, sizeof(ar->desc), "%s:%.12s",
	    analyst_kind_name(ar->kind), rg_hash_hex(&ar->entry.h, hex));
	if (ar->entry.cidr != LIST_NO_CIDR)
		snprintf(ar->desc + strlen(ar->desc), sizeof(ar->desc) -
		    strlen(ar->desc), "/%u", ar->entry.cidr);
	return (0);
}

/*
 * The replicated request (cluster mode), all fields for every op:
 * by_account(1) account(16) label(4) note(str16) by(str8) reason(str16)
 * list(str8) kind(4, signed) expires(8) entry hash(16) entry kind(1)
 * cidr(1) nmembers(4) then each member kind(1) hash(16), desc(str8);
 * the queue's: state(1) action(4, signed) has_campaign(1) campaign(str8)
 * has_assignee(1) assignee(str8) has_rule(1) rule(str8) score_min(8)
 * score_max(8) since(8) until(8) nids(4) then each id(str8),
 * decision(1) by_filter(1) count(8).
 */
void
analyst_req_encode(const struct analyst_req *ar, struct rec_w *w)
{
	const struct queue_req	*q = &ar->queue;
	size_t			 i;

	rec_put_u8(w, ar->by_account);
	rec_put_bytes(w, ar->account.b, RG_HASH_LEN);
	rec_put_u32(w, (uint32_t)ar->label);
	rec_put_str16(w, ar->note, ANALYST_NOTE_MAX);
	rec_put_str8(w, ar->by, LIST_BY_MAX);
	rec_put_str16(w, ar->reason, LIST_REASON_MAX);
	rec_put_str8(w, ar->list, LIST_NAME_MAX);
	rec_put_u32(w, (uint32_t)ar->kind);
	rec_put_u64(w, (uint64_t)ar->expires);
	rec_put_bytes(w, ar->entry.h.b, RG_HASH_LEN);
	rec_put_u8(w, ar->entry.kind);
	rec_put_u8(w, ar->entry.cidr);
	rec_put_u32(w, (uint32_t)ar->nmembers);
	for (i = 0; i < ar->nmembers; i++) {
		rec_put_u8(w, ar->members[i].kind);
		rec_put_bytes(w, ar->members[i].h.b, RG_HASH_LEN);
	}
	rec_put_str8(w, ar->desc, sizeof(ar->desc) - 1);
	rec_put_u8(w, (uint8_t)q->state);
	rec_put_u32(w, (uint32_t)q->action);
	rec_put_u8(w, q->has_campaign);
	rec_put_str8(w, q->campaign, RG_CAMPAIGN_MAX);
	rec_put_u8(w, q->has_assignee);
	rec_put_str8(w, q->assignee, QUEUE_BY_MAX);
	rec_put_u8(w, q->has_rule);
	rec_put_str8(w, q->rule, QUEUE_REASON_MAX);
	rec_put_u64(w, (uint64_t)q->score_min);
	rec_put_u64(w, (uint64_t)q->score_max);
	rec_put_u64(w, (uint64_t)q->since);
	rec_put_u64(w, (uint64_t)q->until);
	rec_put_u32(w, (uint32_t)q->nids);
	for (i = 0; i < q->nids; i++)
		rec_put_str8(w, q->ids[i], RG_ID_MAX);
	rec_put_u8(w, (uint8_t)q->decision);
	rec_put_u8(w, q->by_filter);
	rec_put_u64(w, q->count);
}

int
analyst_req_decode(struct rec_r *r, struct analyst_req *ar)
{
	struct queue_req	*q = &ar->queue;
	size_t			 i, n;

	memset(ar, 0, sizeof(*ar));
	queue_req_init(q);
	ar->by_account = rec_get_u8(r) != 0;
	rec_get_bytes(r, ar->account.b, RG_HASH_LEN);
	ar->label = (int)(int32_t)rec_get_u32(r);
	rec_get_str16(r, ar->note, sizeof(ar->note));
	rec_get_str8(r, ar->by, sizeof(ar->by));
	rec_get_str16(r, ar->reason, sizeof(ar->reason));
	rec_get_str8(r, ar->list, sizeof(ar->list));
	ar->kind = (int)(int32_t)rec_get_u32(r);
	ar->expires = (int64_t)rec_get_u64(r);
	rec_get_bytes(r, ar->entry.h.b, RG_HASH_LEN);
	ar->entry.kind = rec_get_u8(r);
	ar->entry.cidr = rec_get_u8(r);
	n = rec_get_u32(r);
	if (ar->label < 0 || ar->label >= LABEL__MAX || n > LIST_MEMBERS_MAX ||
	    n > rec_left(r) / (1 + RG_HASH_LEN))
		rec_r_fail(r);
	if (rec_r_err(r) == 0 && n > 0) {
		ar->members = xcalloc(n, sizeof(*ar->members));
		for (i = 0; i < n; i++) {
			ar->members[i].kind = rec_get_u8(r);
			rec_get_bytes(r, ar->members[i].h.b, RG_HASH_LEN);
		}
		ar->nmembers = n;
	}
	ar->entry.nmembers = (uint32_t)ar->nmembers;
	rec_get_str8(r, ar->desc, sizeof(ar->desc));
	q->state = rec_get_u8(r);
	q->action = (int)(int32_t)rec_get_u32(r);
	q->has_campaign = rec_get_u8(r) != 0;
	rec_get_str8(r, q->campaign, sizeof(q->campaign));
	q->has_assignee = rec_get_u8(r) != 0;
	rec_get_str8(r, q->assignee, sizeof(q->assignee));
	q->has_rule = rec_get_u8(r) != 0;
	rec_get_str8(r, q->rule, sizeof(q->rule));
	q->score_min = (int64_t)rec_get_u64(r);
	q->score_max = (int64_t)rec_get_u64(r);
	q->since = (int64_t)rec_get_u64(r);
	q->until = (int64_t)rec_get_u64(r);
	n = rec_get_u32(r);
	if (q->state >= QUEUE__NSTATES || n > QUEUE_IDS_MAX ||
	    n > rec_left(r))
		rec_r_fail(r);
	if (rec_r_err(r) == 0 && n > 0) {
		q->ids = xcalloc(n, sizeof(*q->ids));
		for (i = 0; i < n; i++)
			rec_get_str8(r, q->ids[i], sizeof(q->ids[i]));
		q->nids = n;
	}
	q->decision = rec_get_u8(r);
	q->by_filter = rec_get_u8(r) != 0;
	q->count = rec_get_u64(r);
	if (q->decision > QUEUE_VOID)
		rec_r_fail(r);
	return (rec_r_end(r));
}

struct analyst_req *
analyst_req_dup(const struct analyst_req *ar)
{
	struct analyst_req	*c = xmalloc(sizeof(*c));

	*c = *ar;
	return (c);
}

void
analyst_req_clear(struct analyst_req *ar)
{
	if (ar->value != NULL) {
		explicit_bzero(ar->value, strlen(ar->value));
		free(ar->value);
		ar->value = NULL;
	}
	free(ar->members);
	ar->members = NULL;
	ar->nmembers = 0;
	queue_req_clear(&ar->queue);
}

void
analyst_req_free(struct analyst_req *ar)
{
	if (ar == NULL)
		return;
	analyst_req_clear(ar);
	free(ar);
}

static int
analyst_feedback(struct store_txn *txn, const struct rg_event *req,
    struct analyst_req *ar, int64_t now, struct sbuf *sb,
    const char **errcode)
{
	struct label_result	fb;
	int			rc;

	rc = label_apply(txn, req->id, req->idlen, 0, ar->by_account ?
	    &ar->account : NULL, ar->label, ar->note, ar->by, now, &fb);
	if (rc == 1)
		*errcode = "not_found";
	if (rc != 0)
		return (rc);
	sbuf_addf(sb, "{\"ok\":true,\"feedback\":%llu",
	    (unsigned long long)fb.feedback);
	if (!ar->by_account) {
		sbuf_adds(sb, ",\"id\":");
		sbuf_add_jstr(sb, req->id, req->idlen);
	}
	sbuf_add_jmember(sb, "label", store_label_name(ar->label));
	sbuf_addf(sb, ",\"identities\":%llu,\"new\":%llu,\"seq\":%llu}",
	    (unsigned long long)fb.identities, (unsigned long long)fb.added,
	    (unsigned long long)fb.seq);
	return (0);
}

/* A list entry as JSON members (after the opening brace's first member). */
static void
add_entry(struct sbuf *sb, const struct store_list_entry *e, int64_t now)
{
	sbuf_add_jmember(sb, "kind", analyst_kind_name(e->kind));
	if (e->cidr != LIST_NO_CIDR)
		sbuf_addf(sb, ",\"cidr\":%u", e->cidr);
	sbuf_add_jtime(sb, "added", e->added);
	sbuf_add_jtime(sb, "expires", e->expires);
	sbuf_adds(sb, e->expires != 0 && e->expires <= now ?
	    ",\"expired\":true" : ",\"expired\":false");
	sbuf_add_jmember(sb, "reason", e->reason);
	sbuf_add_jmember(sb, "by", e->by);
	sbuf_addf(sb, ",\"members\":%u", e->nmembers);
}

static int
list_log(struct store_txn *txn, const char *action, const char *list,
    const char *desc, const struct store_list_entry *e, const char *reason,
    const char *by, int64_t now)
{
	struct sbuf	sb;
	char		when[RFC3339_LEN];
	int		rc;

	sbuf_init(&sb, 256);
	sbuf_addf(&sb, "{\"ts\":\"%s\"", fmt_rfc3339(now, when));
	sbuf_add_jmember(&sb, "list", list);
	sbuf_add_jmember(&sb, "action", action);
	sbuf_add_jmember(&sb, "value", desc);
	sbuf_add_jmember(&sb, "kind", analyst_kind_name(e->kind));
	if (strcmp(action, "add") == 0)
		sbuf_add_jtime(&sb, "expires", e->expires);
	sbuf_add_jmember(&sb, "reason", reason);
	sbuf_add_jmember(&sb, "by", by);
	sbuf_addc(&sb, '}');
	rc = store_listlog_put(txn, sb.buf, sb.len);
	sbuf_free(&sb);
	return (rc);
}

static void
list_reply_start(struct sbuf *sb, const struct analyst_req *ar)
{
	sbuf_adds(sb, "{\"list\":");
	sbuf_add_jstr(sb, ar->list, strlen(ar->list));
	sbuf_add_jmember(sb, "value", ar->desc);
}

static int
analyst_list_add(struct store_txn *txn, struct analyst_req *ar, int64_t now,
    struct sbuf *sb)
{
	struct store_list_entry	*e = &ar->entry;
	int			 rc;

	e->added = now;
	e->seq = store_aux_next_seq(txn);
	e->expires = ar->expires;
	snprintf(e->by, sizeof(e->by), "%s", ar->by);
	snprintf(e->reason, sizeof(e->reason), "%s", ar->reason);
	rc = store_list_put(txn, ar->list, e, ar->members, ar->nmembers);
	if (rc < 0 || list_log(txn, "add", ar->list, ar->desc, e, ar->reason,
	    ar->by, now) != 0)
		return (-1);
	list_reply_start(sb, ar);
	sbuf_adds(sb, ",\"ok\":true");
	sbuf_adds(sb, rc == 1 ? ",\"replaced\":true" : ",\"replaced\":false");
	add_entry(sb, e, now);
	sbuf_addc(sb, '}');
	return (0);
}

static int
analyst_list_del(struct store_txn *txn, struct analyst_req *ar, int64_t now,
    struct sbuf *sb, const char **errcode)
{
	struct store_list_entry	old;
	int			rc;

	if ((rc = store_list_del(txn, ar->list, &ar->entry.h, &old)) < 0)
		return (-1);
	if (rc == 1) {
		*errcode = "not_found";
		return (1);
	}
	if (list_log(txn, "del", ar->list, ar->desc, &old, ar->reason, ar->by,
	    now) != 0)
		return (-1);
	list_reply_start(sb, ar);
	sbuf_adds(sb, ",\"ok\":true,\"deleted\":true}");
	return (0);
}

static int
analyst_list_get(struct store_txn *txn, struct analyst_req *ar, int64_t now,
    struct sbuf *sb)
{
	struct store_list_entry	 e;
	struct rg_hash		 eh;
	const char		*via = NULL;
	size_t			 i;
	int			 rc;

	rc = store_list_get(txn, ar->list, &ar->entry.h, &e);
	/* An address inside a listed network: the network's entry. */
	for (i = 0; rc == 1 && ar->entry.cidr == LIST_NO_CIDR &&
	    ar->kind == ENT_IP && i < ar->nmembers; i++) {
		if ((rc = store_list_match(txn, ar->list, ar->members[i].kind,
		    &ar->members[i].h, INT64_MIN, 0, &eh)) != 0)
			continue;
		rc = store_list_get(txn, ar->list, &eh, &e);
		via = "cidr";
	}
	/* ... or by its prefix (networks wider than ip.prefix). */
	if (rc == 1 && ar->has_prefix && store_list_match(txn, ar->list,
	    ENT_IP_PREFIX, &ar->prefix, INT64_MIN, 0, &eh) == 0) {
		rc = store_list_get(txn, ar->list, &eh, &e);
		via = "cidr";
	}
	if (rc < 0)
		return (-1);
	list_reply_start(sb, ar);
	if (rc == 1) {
		sbuf_adds(sb, ",\"found\":false}");
		return (0);
	}
	sbuf_adds(sb, ",\"found\":true");
	if (via != NULL)
		sbuf_add_jmember(sb, "via", via);
	add_entry(sb, &e, now);
	sbuf_addc(sb, '}');
	return (0);
}

struct log_ctx {
	struct sbuf	*sb;
	const char	*list;
	size_t		 n, limit;
};

static int
log_cb(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct log_ctx	*lc = arg;
	json_t		*o;
	const char	*l;

	if (lc->list[0] != '\0') {
		if ((o = json_loadb(rec, len, 0, NULL)) == NULL)
			return (0);
		l = json_string_value(json_object_get(o, "list"));
		if (l == NULL || strcmp(l, lc->list) != 0) {
			json_decref(o);
			return (0);
		}
		json_decref(o);
	}
	if (lc->n++ > 0)
		sbuf_addc(lc->sb, ',');
	if (len < 2 || rec[0] != '{') {
		sbuf_adds(lc->sb, "null");
		return (0);
	}
	sbuf_addf(lc->sb, "{\"log\":%llu,", (unsigned long long)id);
	sbuf_add(lc->sb, rec + 1, len - 1);
	return (lc->n >= lc->limit);
}

static int
analyst_list_log(struct store_txn *txn, struct analyst_req *ar,
    struct sbuf *sb)
{
	struct log_ctx	lc = { sb, ar->list, 0, ar->limit };

	sbuf_adds(sb, "{\"list\":");
	if (ar->list[0] != '\0')
		sbuf_add_jstr(sb, ar->list, strlen(ar->list));
	else
		sbuf_adds(sb, "null");
	sbuf_adds(sb, ",\"entries\":[");
	if (store_listlog_scan(txn, log_cb, &lc) != 0)
		return (-1);
	sbuf_adds(sb, "]}");
	return (0);
}

int
analyst_run(struct store_txn *txn, enum req_op op, const struct rg_event *ev,
    struct analyst_req *ar, int64_t now, struct verdict *out,
    const char **errcode)
{
	struct sbuf	sb;
	char		msg[256];
	int		rc;

	/* The queue's ops: rule tests run them through here too. */
	if (queue_op(op))
		return (queue_run(txn, op, ev, ar, now, out, errcode, msg,
		    sizeof(msg)));
	if (op == OP_GRAPH) {
		/* read only; the daemon answers it in ops.c */
		rc = graph_run(txn, ev, ar, out);
		if (rc > 0)
			*errcode = rc == 1 ? "not_found" : "store_error";
		return (rc > 0 ? 1 : rc);
	}
	memset(out, 0, sizeof(*out));
	*errcode = NULL;
	sbuf_init(&sb, 256);
	switch (op) {
	case OP_FEEDBACK:
		rc = analyst_feedback(txn, ev, ar, now, &sb, errcode);
		break;
	case OP_LIST_ADD:
		rc = analyst_list_add(txn, ar, now, &sb);
		break;
	case OP_LIST_DEL:
		rc = analyst_list_del(txn, ar, now, &sb, errcode);
		break;
	case OP_LIST_GET:
		rc = analyst_list_get(txn, ar, now, &sb);
		break;
	case OP_LIST_LOG:
		rc = analyst_list_log(txn, ar, &sb);
		break;
	case OP_VERDICTS_LIST:
		rc = verdict_list(txn, &ar->verdicts, &sb);
		break;
	case OP_STATS_DAILY:
		rc = daily_run(txn, &ar->daily, &sb);
		break;
	default:
		rc = -1;
		break;
	}
	if (rc != 0) {
		sbuf_free(&sb);
		return (rc);
	}
	out->reply = sbuf_take(&sb, &out->replylen);
	return (0);
}

struct expire_ctx {
	struct store_txn	*txn;
	int64_t			 now;
	int			 err;
};

static void
expire_cb(void *arg, const char *list, const struct store_list_entry *e)
{
	struct expire_ctx	*x = arg;
	char			 hex[2 * RG_HASH_LEN + 1], desc[48];

	snprintf(desc, sizeof(desc), "%s:%.12s", analyst_kind_name(e->kind),
	    rg_hash_hex(&e->h, hex));
	if (e->cidr != LIST_NO_CIDR)
		snprintf(desc + strlen(desc), sizeof(desc) - strlen(desc),
		    "/%u", e->cidr);
	if (list_log(x->txn, "expire", list, desc, e, "expired", "refguardd",
	    x->now) != 0)
		x->err = 1;
}

int64_t
analyst_expire(struct store_txn *txn, int64_t now, size_t max)
{
	struct expire_ctx	x = { txn, now, 0 };
	int64_t			n;

	n = store_list_expire(txn, now, max, expire_cb, &x);
	return (x.err ? -1 : n);
}
