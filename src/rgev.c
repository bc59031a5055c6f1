/* rgev.c: the compact event record and the names of types and kinds. */
#include "config.h"

#include <string.h>

#include <xxhash.h>

#include "rgev.h"
#include "log.h"
#include "rec.h"

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
	[ENT_EMAIL_SHAPE] = "email.shape", [ENT_DEVICE_STABLE] = "device.stable",
	[ENT_PHONE_BLOCK] = "phone.block", [ENT_EMAIL_NAME] = "email.name",
};

const char *
rgev_type_name(unsigned type)
{
	return (type < EV__MAX ? type_names[type] : NULL);
}

int
rgev_type_from_name(const char *name)
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
rgev_campaign_key(const struct rg_event *ev, struct rg_hash *h)
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

bool
rgev_key(const struct rg_event *ev, int party, int kind, struct rg_hash *h)
{
	if (party == PARTY_EVENT)
		return (kind == ENT_CAMPAIGN && rgev_campaign_key(ev, h));
	if (party >= ev->nparties || !PARTY_HAS(&ev->party[party], kind))
		return (false);
	*h = ev->party[party].h[kind];
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

static void
party_encode(struct rec_w *w, const struct party *p)
{
	const struct geo_facts	*g = &p->geo;
	unsigned		 k;

	rec_put_u32(w, p->have);
	for (k = 1; k < ENT__MAX; k++)
		if (PARTY_HAS(p, k))
			rec_put_bytes(w, p->h[k].b, RG_HASH_LEN);
	rec_put_u32(w, p->facts);
	if (p->facts & PF_EMAIL_DOMAIN)
		rec_put_str8(w, p->email_domain, RG_DOMAIN_MAX);
	if (p->facts & PF_EMAIL_DISPOSABLE)
		rec_put_u8(w, p->email_disposable);
	if (p->facts & PF_IP_INFO) {
		rec_put_u8(w, p->ip_version);
		rec_put_u8(w, p->ip_private);
	}
	if (p->facts & PF_DEVICE_TZ)
		rec_put_bytes(w, p->device_tz_country, 2);
	if (p->facts & PF_EMAIL_TAGGED)
		rec_put_u8(w, p->email_tagged);
	if (p->facts & PF_DEVICE_EMULATOR)
		rec_put_u8(w, p->device_emulator);
	if (p->facts & PF_DEVICE_BROWSER)
		rec_put_u8(w, p->device_browser);
	if (p->facts & PF_PHONE_COUNTRY)
		rec_put_bytes(w, p->phone_country, 2);
	if (p->facts & PF_DEVICE_MODEL)
		rec_put_str8(w, p->device_model, RG_MODEL_MAX);
	if (p->facts & PF_DEVICE_LANG)
		rec_put_bytes(w, p->device_lang_country, 2);
	rec_put_u32(w, g->have);
	if (g->have == 0)
		return;
	rec_put_bytes(w, g->country, 2);
	rec_put_bytes(w, g->continent, 2);
	rec_put_u32(w, g->asn);
	rec_put_str8(w, g->as_org, RG_ASORG_MAX);
	rec_put_u8(w, (uint8_t)(g->anonymous | g->vpn << 1 | g->tor << 2 |
	    g->hosting << 3 | g->residential_proxy << 4));
}

static void
party_decode(struct rec_r *r, struct party *p)
{
	struct geo_facts	*g = &p->geo;
	unsigned		 k;
	uint8_t			 f;

	memset(p, 0, sizeof(*p));
	p->have = rec_get_u32(r) & ((1u << ENT__MAX) - 2);
	for (k = 1; k < ENT__MAX; k++)
		if (PARTY_HAS(p, k))
			rec_get_bytes(r, p->h[k].b, RG_HASH_LEN);
	p->facts = rec_get_u32(r);
	if (p->facts & PF_EMAIL_DOMAIN)
		rec_get_str8(r, p->email_domain, sizeof(p->email_domain));
	if (p->facts & PF_EMAIL_DISPOSABLE)
		p->email_disposable = rec_get_u8(r) != 0;
	if (p->facts & PF_IP_INFO) {
		p->ip_version = rec_get_u8(r);
		p->ip_private = rec_get_u8(r) != 0;
	}
	if (p->facts & PF_DEVICE_TZ)
		rec_get_bytes(r, p->device_tz_country, 2);
	if (p->facts & PF_EMAIL_TAGGED)
		p->email_tagged = rec_get_u8(r) != 0;
	if (p->facts & PF_DEVICE_EMULATOR)
		p->device_emulator = rec_get_u8(r) != 0;
	if (p->facts & PF_DEVICE_BROWSER)
		p->device_browser = rec_get_u8(r) != 0;
	if (p->facts & PF_PHONE_COUNTRY)
		rec_get_bytes(r, p->phone_country, 2);
	if (p->facts & PF_DEVICE_MODEL)
		rec_get_str8(r, p->device_model, sizeof(p->device_model));
	if (p->facts & PF_DEVICE_LANG)
		rec_get_bytes(r, p->device_lang_country, 2);
	g->have = rec_get_u32(r);
	if (g->have == 0)
		return;
	rec_get_bytes(r, g->country, 2);
	rec_get_bytes(r, g->continent, 2);
	g->asn = rec_get_u32(r);
	rec_get_str8(r, g->as_org, sizeof(g->as_org));
	f = rec_get_u8(r);
	g->anonymous = f & 1;
	g->vpn = (f >> 1) & 1;
	g->tor = (f >> 2) & 1;
	g->hosting = (f >> 3) & 1;
	g->residential_proxy = (f >> 4) & 1;
}

size_t
rgev_encode(const struct rg_event *ev, uint8_t *buf)
{
	struct rec_w	w;
	uint64_t	amount;
	unsigned	i;

	rec_w_fixed(&w, buf, EVENT_REC_MAX);
	rec_put_u8(&w, EVENT_REC_VERSION);
	rec_put_u8(&w, ev->type);
	rec_put_u64(&w, (uint64_t)ev->ts);
	rec_put_u64(&w, ev->data_id);
	rec_put_u8(&w, (uint8_t)ev->idlen);
	rec_put_bytes(&w, ev->id, ev->idlen);
	rec_put_str8(&w, ev->campaign, RG_CAMPAIGN_MAX);
	rec_put_u8(&w, (uint8_t)((ev->has_reward ? EF_REWARD : 0) |
	    (ev->has_edge ? EF_EDGE : 0)));
	if (ev->has_reward) {
		memcpy(&amount, &ev->reward_amount, sizeof(amount));
		rec_put_u64(&w, amount);
		rec_put_bytes(&w, ev->reward_currency, 3);
	}
	if (ev->has_edge)
		rec_put_bytes(&w, ev->edge.b, RG_HASH_LEN);
	rec_put_u8(&w, ev->nparties);
	for (i = 0; i < ev->nparties && i < RG_NPARTIES; i++)
		party_encode(&w, &ev->party[i]);
	/* Every field is bounded: a record that does not fit is a bug. */
	if (rec_w_err(&w) != 0)
		fatalx("event record longer than %d bytes", EVENT_REC_MAX);
	return (w.len);
}

int
rgev_decode(const uint8_t *buf, size_t len, struct rg_event *ev)
{
	struct rec_r	r;
	uint64_t	amount;
	uint8_t		flags;
	unsigned	i;

	memset(ev, 0, sizeof(*ev));
	rec_r_init(&r, buf, len);
	if (rec_get_u8(&r) != EVENT_REC_VERSION)
		return (-1);
	ev->type = rec_get_u8(&r);
	ev->ts = (int64_t)rec_get_u64(&r);
	ev->data_id = rec_get_u64(&r);
	ev->idlen = rec_get_u8(&r);
	if (ev->idlen > RG_ID_MAX)
		return (-1);
	rec_get_bytes(&r, ev->id, ev->idlen);
	rec_get_str8(&r, ev->campaign, sizeof(ev->campaign));
	flags = rec_get_u8(&r);
	if (flags & EF_REWARD) {
		ev->has_reward = true;
		amount = rec_get_u64(&r);
		memcpy(&ev->reward_amount, &amount, sizeof(amount));
		rec_get_bytes(&r, ev->reward_currency, 3);
	}
	if (flags & EF_EDGE) {
		ev->has_edge = true;
		rec_get_bytes(&r, ev->edge.b, RG_HASH_LEN);
	}
	ev->nparties = rec_get_u8(&r);
	if (ev->nparties > RG_NPARTIES)
		return (-1);
	for (i = 0; i < ev->nparties; i++)
		party_decode(&r, &ev->party[i]);
	return (rec_r_end(&r));
}
