/* event.c: the compact event record and the names of types and kinds. */
#include "config.h"

#include <string.h>

#include <xxhash.h>

#include "event.h"

#define EVENT_REC_VERSION	1

#define EF_REWARD	0x01
#define EF_EDGE		0x02

static const char *const type_names[EV__MAX] = {
	[EV_REFERRAL] = "referral", [EV_SIGNUP] = "signup",
	[EV_LOGIN] = "login", [EV_PURCHASE] = "purchase",
	[EV_PAYOUT] = "payout", [EV_UPDATE] = "update",
};

static const char *const kind_names[ENT__MAX] = {
	[ENT_ACCOUNT] = "account", [ENT_EMAIL] = "email",
	[ENT_PHONE] = "phone", [ENT_PAYMENT] = "payment", [ENT_IP] = "ip",
	[ENT_IP_PREFIX] = "ip.prefix", [ENT_DEVICE] = "device",
	[ENT_DEVICE_FUZZY] = "device.fuzzy", [ENT_DEVICE_ID] = "device.id",
	[ENT_EDGE] = "edge", [ENT_CAMPAIGN] = "campaign",
	[ENT_EMAIL_SHAPE] = "email.shape",
};

const char *
event_type_name(unsigned type)
{
	return (type < EV__MAX ? type_names[type] : NULL);
}

int
event_type_from_name(const char *name)
{
	unsigned	i;

	for (i = 1; i < EV__MAX; i++)
		if (strcmp(name, type_names[i]) == 0)
			return ((int)i);
	return (-1);
}

const char *
ent_kind_name(unsigned kind)
{
	return (kind < ENT__MAX ? kind_names[kind] : NULL);
}

int
ent_kind_from_name(const char *name)
{
	unsigned	i;

	for (i = 1; i < ENT__MAX; i++)
		if (strcmp(name, kind_names[i]) == 0)
			return ((int)i);
	return (-1);
}

bool
event_campaign_key(const struct event *ev, struct rg_hash *h)
{
	XXH128_hash_t	x;
	size_t		len;

	if (ev->type != EV_REFERRAL || ev->campaign[0] == '\0')
		return (false);
	len = strnlen(ev->campaign, sizeof(ev->campaign));
	/* Seeded by the kind, as ident.c separates kinds. */
	x = XXH3_128bits_withSeed(ev->campaign, len, ENT_CAMPAIGN);
	XXH128_canonicalFromHash((XXH128_canonical_t *)h->b, x);
	return (true);
}

char *
rg_hash_hex(const struct rg_hash *h, char *buf)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < RG_HASH_LEN; i++) {
		buf[2 * i] = hex[h->b[i] >> 4];
		buf[2 * i + 1] = hex[h->b[i] & 0xf];
	}
	buf[2 * RG_HASH_LEN] = '\0';
	return (buf);
}

/* Writer and reader of the record: big-endian integers, u8-length strings. */
struct wbuf {
	uint8_t	*p;
};

static void
put_u8(struct wbuf *w, uint8_t v)
{
	*w->p++ = v;
}

static void
put_u32(struct wbuf *w, uint32_t v)
{
	int	i;

	for (i = 3; i >= 0; i--)
		*w->p++ = (uint8_t)(v >> (i * 8));
}

static void
put_u64(struct wbuf *w, uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--)
		*w->p++ = (uint8_t)(v >> (i * 8));
}

static void
put_bytes(struct wbuf *w, const void *b, size_t n)
{
	memcpy(w->p, b, n);
	w->p += n;
}

static void
put_str(struct wbuf *w, const char *s, size_t max)
{
	size_t	n = strnlen(s, max);

	put_u8(w, (uint8_t)n);
	put_bytes(w, s, n);
}

struct rbuf {
	const uint8_t	*p;
	const uint8_t	*end;
	int		 bad;
};

static int
get_need(struct rbuf *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return (-1);
	}
	return (0);
}

static uint8_t
get_u8(struct rbuf *r)
{
	return (get_need(r, 1) ? 0 : *r->p++);
}

static uint32_t
get_u32(struct rbuf *r)
{
	uint32_t	v = 0;
	int		i;

	if (get_need(r, 4))
		return (0);
	for (i = 0; i < 4; i++)
		v = (v << 8) | *r->p++;
	return (v);
}

static uint64_t
get_u64(struct rbuf *r)
{
	uint64_t	v = 0;
	int		i;

	if (get_need(r, 8))
		return (0);
	for (i = 0; i < 8; i++)
		v = (v << 8) | *r->p++;
	return (v);
}

static void
get_bytes(struct rbuf *r, void *b, size_t n)
{
	if (get_need(r, n) == 0) {
		memcpy(b, r->p, n);
		r->p += n;
	}
}

/* A u8-length string into buf of size cap (NUL-terminated). */
static size_t
get_str(struct rbuf *r, char *buf, size_t cap)
{
	size_t	n = get_u8(r);

	if (n >= cap) {
		r->bad = 1;
		return (0);
	}
	get_bytes(r, buf, n);
	buf[r->bad ? 0 : n] = '\0';
	return (n);
}

static void
party_encode(struct wbuf *w, const struct party *p)
{
	const struct geo_facts	*g = &p->geo;
	unsigned		 k;

	put_u32(w, p->have);
	for (k = 1; k < ENT__MAX; k++)
		if (PARTY_HAS(p, k))
			put_bytes(w, p->h[k].b, RG_HASH_LEN);
	put_u32(w, p->facts);
	if (p->facts & PF_EMAIL_DOMAIN)
		put_str(w, p->email_domain, RG_DOMAIN_MAX);
	if (p->facts & PF_EMAIL_DISPOSABLE)
		put_u8(w, p->email_disposable);
	if (p->facts & PF_IP_INFO) {
		put_u8(w, p->ip_version);
		put_u8(w, p->ip_private);
	}
	put_u32(w, g->have);
	if (g->have == 0)
		return;
	put_bytes(w, g->country, 2);
	put_bytes(w, g->continent, 2);
	put_u32(w, g->asn);
	put_str(w, g->as_org, RG_ASORG_MAX);
	put_u8(w, (uint8_t)(g->anonymous | g->vpn << 1 | g->tor << 2 |
	    g->hosting << 3 | g->residential_proxy << 4));
}

static void
party_decode(struct rbuf *r, struct party *p)
{
	struct geo_facts	*g = &p->geo;
	unsigned		 k;
	uint8_t			 f;

	memset(p, 0, sizeof(*p));
	p->have = get_u32(r) & ((1u << ENT__MAX) - 2);
	for (k = 1; k < ENT__MAX; k++)
		if (PARTY_HAS(p, k))
			get_bytes(r, p->h[k].b, RG_HASH_LEN);
	p->facts = get_u32(r);
	if (p->facts & PF_EMAIL_DOMAIN)
		get_str(r, p->email_domain, sizeof(p->email_domain));
	if (p->facts & PF_EMAIL_DISPOSABLE)
		p->email_disposable = get_u8(r) != 0;
	if (p->facts & PF_IP_INFO) {
		p->ip_version = get_u8(r);
		p->ip_private = get_u8(r) != 0;
	}
	g->have = get_u32(r);
	if (g->have == 0)
		return;
	get_bytes(r, g->country, 2);
	get_bytes(r, g->continent, 2);
	g->asn = get_u32(r);
	get_str(r, g->as_org, sizeof(g->as_org));
	f = get_u8(r);
	g->anonymous = f & 1;
	g->vpn = (f >> 1) & 1;
	g->tor = (f >> 2) & 1;
	g->hosting = (f >> 3) & 1;
	g->residential_proxy = (f >> 4) & 1;
}

size_t
event_encode(const struct event *ev, uint8_t *buf)
{
	struct wbuf	w = { buf };
	uint64_t	amount;
	unsigned	i;

	put_u8(&w, EVENT_REC_VERSION);
	put_u8(&w, ev->type);
	put_u64(&w, (uint64_t)ev->ts);
	put_u64(&w, ev->data_id);
	put_u8(&w, (uint8_t)ev->idlen);
	put_bytes(&w, ev->id, ev->idlen);
	put_str(&w, ev->campaign, RG_CAMPAIGN_MAX);
	put_u8(&w, (uint8_t)((ev->has_reward ? EF_REWARD : 0) |
	    (ev->has_edge ? EF_EDGE : 0)));
	if (ev->has_reward) {
		memcpy(&amount, &ev->reward_amount, sizeof(amount));
		put_u64(&w, amount);
		put_bytes(&w, ev->reward_currency, 3);
	}
	if (ev->has_edge)
		put_bytes(&w, ev->edge.b, RG_HASH_LEN);
	put_u8(&w, ev->nparties);
	for (i = 0; i < ev->nparties && i < RG_NPARTIES; i++)
		party_encode(&w, &ev->party[i]);
	return ((size_t)(w.p - buf));
}

int
event_decode(const uint8_t *buf, size_t len, struct event *ev)
{
	struct rbuf	r = { buf, buf + len, 0 };
	uint64_t	amount;
	uint8_t		flags;
	unsigned	i;

	memset(ev, 0, sizeof(*ev));
	if (get_u8(&r) != EVENT_REC_VERSION)
		return (-1);
	ev->type = get_u8(&r);
	ev->ts = (int64_t)get_u64(&r);
	ev->data_id = get_u64(&r);
	ev->idlen = get_u8(&r);
	if (ev->idlen > RG_ID_MAX)
		return (-1);
	get_bytes(&r, ev->id, ev->idlen);
	get_str(&r, ev->campaign, sizeof(ev->campaign));
	flags = get_u8(&r);
	if (flags & EF_REWARD) {
		ev->has_reward = true;
		amount = get_u64(&r);
		memcpy(&ev->reward_amount, &amount, sizeof(amount));
		get_bytes(&r, ev->reward_currency, 3);
	}
	if (flags & EF_EDGE) {
		ev->has_edge = true;
		get_bytes(&r, ev->edge.b, RG_HASH_LEN);
	}
	ev->nparties = get_u8(&r);
	if (ev->nparties > RG_NPARTIES)
		return (-1);
	for (i = 0; i < ev->nparties; i++)
		party_decode(&r, &ev->party[i]);
	if (r.bad || r.p != r.end)
		return (-1);
	return (0);
}
