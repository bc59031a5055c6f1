/*
 * rules_fact.c: the facts rules read, in one table: each fact's name, its
 * type, and where the decoded event holds it (the field and what says it
 * is present). Reading a fact and setting one for a rule test are the
 * same walk over that table, so the two cannot drift apart.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

#define PF(f)		offsetof(struct party, f)
#define PSZ(f)		sizeof(((struct party *)0)->f)
#define EF(f)		offsetof(struct rg_event, f)
#define ESZ(f)		sizeof(((struct rg_event *)0)->f)

#define IDENT(n, k)	{ n, T_IDENT, k, FS_HASH, FH_ALWAYS, 0, 0, 0 }
#define GEO(n, t, s, b, f) \
			{ n, t, 0, s, FH_GEO, b, PF(geo.f), PSZ(geo.f) }

const struct rules_factdef rules_facts[F__MAX] = {
	[F_ACCOUNT] = IDENT("account", ENT_ACCOUNT),
	[F_EMAIL] = IDENT("email", ENT_EMAIL),
	[F_EMAIL_DOMAIN] = { "email.domain", T_STR, 0, FS_STR, FH_FACTS,
	    PF_EMAIL_DOMAIN, PF(email_domain), PSZ(email_domain) },
	[F_EMAIL_DISPOSABLE] = { "email.disposable", T_BOOL, 0, FS_BOOL,
	    FH_FACTS, PF_EMAIL_DISPOSABLE, PF(email_disposable), 0 },
	[F_IP] = IDENT("ip", ENT_IP),
	[F_IP_PREFIX] = IDENT("ip.prefix", ENT_IP_PREFIX),
	[F_IP_VERSION] = { "ip.version", T_NUM, 0, FS_U8, FH_FACTS,
	    PF_IP_INFO, PF(ip_version), 0 },
	[F_IP_PRIVATE] = { "ip.private", T_BOOL, 0, FS_BOOL, FH_FACTS,
	    PF_IP_INFO, PF(ip_private), 0 },
	[F_GEO_COUNTRY] = GEO("geo.country", T_STR, FS_STR, GEO_COUNTRY,
	    country),
	[F_GEO_CONTINENT] = GEO("geo.continent", T_STR, FS_STR,
	    GEO_CONTINENT, continent),
	[F_GEO_ASN] = GEO("geo.asn", T_NUM, FS_U32, GEO_ASN, asn),
	[F_GEO_AS_ORG] = GEO("geo.as_org", T_STR, FS_STR, GEO_AS_ORG, as_org),
	[F_GEO_ANONYMOUS] = GEO("geo.anonymous", T_BOOL, FS_BOOL,
	    GEO_ANONYMOUS, anonymous),
	[F_GEO_VPN] = GEO("geo.vpn", T_BOOL, FS_BOOL, GEO_VPN, vpn),
	[F_GEO_TOR] = GEO("geo.tor", T_BOOL, FS_BOOL, GEO_TOR, tor),
	[F_GEO_HOSTING] = GEO("geo.hosting", T_BOOL, FS_BOOL, GEO_HOSTING,
	    hosting),
	[F_GEO_RESIDENTIAL_PROXY] = GEO("geo.residential_proxy", T_BOOL,
	    FS_BOOL, GEO_RESIDENTIAL_PROXY, residential_proxy),
	[F_DEVICE] = IDENT("device", ENT_DEVICE),
	[F_DEVICE_FUZZY] = IDENT("device.fuzzy", ENT_DEVICE_FUZZY),
	[F_DEVICE_ID] = IDENT("device.id", ENT_DEVICE_ID),
	[F_PHONE] = IDENT("phone", ENT_PHONE),
	[F_PAYMENT] = IDENT("payment", ENT_PAYMENT),
	[F_EMAIL_SHAPE] = IDENT("email.shape", ENT_EMAIL_SHAPE),
	[F_DEVICE_STABLE] = IDENT("device.stable", ENT_DEVICE_STABLE),
	[F_PHONE_BLOCK] = IDENT("phone.block", ENT_PHONE_BLOCK),
	[F_EMAIL_NAME] = IDENT("email.name", ENT_EMAIL_NAME),
	[F_DEVICE_TZ_COUNTRY] = { "device.tz_country", T_STR, 0, FS_STR,
	    FH_FACTS, PF_DEVICE_TZ, PF(device_tz_country),
	    PSZ(device_tz_country) },
	[F_EMAIL_TAGGED] = { "email.tagged", T_BOOL, 0, FS_BOOL, FH_FACTS,
	    PF_EMAIL_TAGGED, PF(email_tagged), 0 },
	[F_DEVICE_EMULATOR] = { "device.emulator", T_BOOL, 0, FS_BOOL,
	    FH_FACTS, PF_DEVICE_EMULATOR, PF(device_emulator), 0 },
	[F_DEVICE_BROWSER] = { "device.browser", T_BOOL, 0, FS_BOOL,
	    FH_FACTS, PF_DEVICE_BROWSER, PF(device_browser), 0 },
	[F_PHONE_COUNTRY] = { "phone.country", T_STR, 0, FS_STR, FH_FACTS,
	    PF_PHONE_COUNTRY, PF(phone_country), PSZ(phone_country) },
	[F_DEVICE_MODEL] = { "device.model", T_STR, 0, FS_STR, FH_FACTS,
	    PF_DEVICE_MODEL, PF(device_model), PSZ(device_model) },
	[F_DEVICE_LANG_COUNTRY] = { "device.lang_country", T_STR, 0, FS_STR,
	    FH_FACTS, PF_DEVICE_LANG, PF(device_lang_country),
	    PSZ(device_lang_country) },
	[F_CAMPAIGN] = { "campaign", T_STR, 0, FS_STR, FH_NONEMPTY, 0,
	    EF(campaign), ESZ(campaign) },
	[F_REWARD_AMOUNT] = { "reward.amount", T_NUM, 0, FS_DOUBLE, FH_REWARD,
	    0, EF(reward_amount), 0 },
	[F_REWARD_CURRENCY] = { "reward.currency", T_STR, 0, FS_STR,
	    FH_NONEMPTY, 0, EF(reward_currency), ESZ(reward_currency) },
	[F_TS] = { "ts", T_TIME, 0, FS_MS, FH_ALWAYS, 0, EF(ts), 0 },
	[F_DATA_STALE] = { "data.stale", T_BOOL, 0, FS_BOOL, FH_ALWAYS, 0,
	    EF(data_stale), 0 },
};

int
rules_fact_get(const struct rg_event *ev, int party, int fact,
    struct rules_rval *v)
{
	const struct rules_factdef	*d = &rules_facts[fact];
	const struct party		*p = NULL;
	const char			*base;
	uint32_t			 u32;

	v->type = d->type;
	v->present = false;
	if (party != PARTY_EVENT) {
		if (party >= ev->nparties)
			return (0);
		p = &ev->party[party];
		base = (const char *)p;
	} else
		base = (const char *)ev;
	base += d->off;
	switch (d->have) {
	case FH_ALWAYS:
		v->present = d->store != FS_HASH || PARTY_HAS(p, d->kind);
		break;
	case FH_NONEMPTY:
		v->present = base[0] != '\0';
		break;
	case FH_FACTS:
		v->present = (p->facts & d->bit) != 0;
		break;
	case FH_GEO:
		v->present = (p->geo.have & d->bit) != 0;
		break;
	case FH_REWARD:
		v->present = ev->has_reward;
		break;
	}
	switch (d->store) {
	case FS_HASH:
		v->kind = d->kind;
		if (v->present)
			v->h = p->h[d->kind];
		break;
	case FS_STR:
		v->s = base;
		break;
	case FS_BOOL:
		memcpy(&v->b, base, sizeof(v->b));
		break;
	case FS_U8:
		v->n = *(const uint8_t *)base;
		break;
	case FS_U32:
		memcpy(&u32, base, sizeof(u32));
		v->n = u32;
		break;
	case FS_DOUBLE:
		memcpy(&v->n, base, sizeof(v->n));
		break;
	case FS_MS:
		memcpy(&v->ms, base, sizeof(v->ms));
		break;
	}
	return (v->present);
}

bool
rules_fact_settable(int party, int fact)
{
	return (party != PARTY_EVENT && (rules_facts[fact].have == FH_FACTS ||
	    rules_facts[fact].have == FH_GEO));
}

/*
 * The largest whole number a settable number fact holds, or 0 when it
 * holds any number (a double).
 */
uint32_t
rules_fact_max(int fact)
{
	switch (rules_facts[fact].store) {
	case FS_U8:
		return (UINT8_MAX);
	case FS_U32:
		return (UINT32_MAX);
	default:
		return (0);
	}
}

void
rules_fact_set(struct rg_event *ev, int party, int fact,
    const struct rules_rval *v)
{
	const struct rules_factdef	*d = &rules_facts[fact];
	struct party			*p;
	char				*base;
	uint32_t			 u32;

	if (!rules_fact_settable(party, fact) || party >= ev->nparties)
		return;
	p = &ev->party[party];
	base = (char *)p + d->off;
	switch (d->store) {
	case FS_STR:
		snprintf(base, d->size, "%s", v->s);
		break;
	case FS_BOOL:
		memcpy(base, &v->b, sizeof(v->b));
		break;
	case FS_U8:
		*(uint8_t *)base = (uint8_t)v->n;
		break;
	case FS_U32:
		u32 = (uint32_t)v->n;
		memcpy(base, &u32, sizeof(u32));
		break;
	default:
		return;
	}
	if (d->have == FH_FACTS)
		p->facts |= d->bit;
	else
		p->geo.have |= d->bit;
}
