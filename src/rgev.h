/*
 * rgev.h: one decoded, fingerprinted event.
 *
 * This is the meeting point of the modules: the request decoder (req.c)
 * fills it from a client line with the help of ident.c, the store (store.c)
 * keeps it as a compact record plus index entries, and the rules engine
 * (rules.c) reads its facts. It holds no raw personal data: identities are
 * keyed hashes (ident.h), and only non-identifying facts (email domain, geo
 * values) stay readable.
 *
 * Numeric values of the enums below are written to disk: never renumber,
 * only append.
 */
#ifndef REFGUARD_RGEV_H
#define REFGUARD_RGEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RG_HASH_LEN	16	/* XXH3-128, keyed (ident.h) */
#define RG_ID_MAX	128	/* referral id, bytes */
#define RG_CAMPAIGN_MAX	64
#define RG_DOMAIN_MAX	253
#define RG_ASORG_MAX	96
#define RG_MODEL_MAX	48	/* device_model, bytes */
#define RG_NPARTIES	2

struct rg_hash {
	uint8_t	b[RG_HASH_LEN];
};

/* Identity kinds. One index entry per identity an event carries. */
enum ent_kind {
	ENT_ACCOUNT = 1,
	ENT_EMAIL = 2,
	ENT_PHONE = 3,
	ENT_PAYMENT = 4,
	ENT_IP = 5,
	ENT_IP_PREFIX = 6,
	ENT_DEVICE = 7,
	ENT_DEVICE_FUZZY = 8,
	ENT_DEVICE_ID = 9,
	ENT_EDGE = 10,		/* referrer account -> referee account */
	ENT_CAMPAIGN = 11,	/* the referral's programme (rgev_campaign_key) */
	ENT_EMAIL_SHAPE = 12,	/* the email with digit runs folded (ident.h) */
	ENT_DEVICE_STABLE = 13,	/* device attributes without versions */
	ENT_PHONE_BLOCK = 14,	/* the phone number but its last two digits */
	ENT_EMAIL_NAME = 15,	/* the letters of the email's local part */
	ENT__MAX
};

/* Event types. */
enum ev_type {
	EV_REFERRAL = 1,
	EV_SIGNUP = 2,
	EV_LOGIN = 3,
	EV_PURCHASE = 4,
	EV_PAYOUT = 5,
	EV_UPDATE = 6,		/* profile change: new email, phone, card */
	EV__MAX
};
#define EV_MASK(t)	(1u << (t))
#define EV_MASK_ANY	0xffffffffu

/* The role an identity plays in an event, as a bit mask in index values. */
#define ROLE_SUBJECT	0x01	/* the account of an observe event */
#define ROLE_REFERRER	0x02
#define ROLE_REFEREE	0x04
#define ROLE_EVENT	0x08	/* event-level identity (the edge) */
#define ROLE_ANY	0xff

/* Which party of event.party[] plays which role. */
#define PARTY_REFERRER	0	/* also the subject of an observe event */
#define PARTY_REFEREE	1
#define PARTY_EVENT	0xff	/* the event's own (its campaign) */

/* Geo facts: each present only when a configured database answered. */
#define GEO_COUNTRY		0x0001
#define GEO_CONTINENT		0x0002
#define GEO_ASN			0x0004
#define GEO_AS_ORG		0x0008
#define GEO_ANONYMOUS		0x0010
#define GEO_VPN			0x0020
#define GEO_TOR			0x0040
#define GEO_HOSTING		0x0080
#define GEO_RESIDENTIAL_PROXY	0x0100

struct geo_facts {
	uint32_t	have;		/* GEO_* bits */
	char		country[3];	/* ISO 3166-1 alpha-2, upper case */
	char		continent[3];	/* two-letter code */
	uint32_t	asn;
	char		as_org[RG_ASORG_MAX + 1];
	bool		anonymous;
	bool		vpn;
	bool		tor;
	bool		hosting;
	bool		residential_proxy;
};

/* Readable (non-identifying) facts of a party, beside its hashes. */
#define PF_EMAIL_DOMAIN		0x01	/* email_domain is set */
#define PF_EMAIL_DISPOSABLE	0x02	/* email_disposable is meaningful */
#define PF_IP_INFO		0x04	/* ip_version and ip_private are set */
#define PF_DEVICE_TZ		0x08	/* device_tz_country is set */
#define PF_EMAIL_TAGGED		0x10	/* email_tagged is meaningful */
#define PF_DEVICE_EMULATOR	0x20	/* device_emulator is meaningful */
#define PF_DEVICE_BROWSER	0x40	/* device_browser is meaningful */
#define PF_PHONE_COUNTRY	0x80	/* phone_country is set */
#define PF_DEVICE_MODEL		0x100	/* device_model is set */
#define PF_DEVICE_LANG		0x200	/* device_lang_country is set */

struct party {
	uint32_t	have;		/* bit (1u << ENT_x) per hash in h[] */
	struct rg_hash	h[ENT__MAX];
	uint32_t	facts;		/* PF_* bits */
	char		email_domain[RG_DOMAIN_MAX + 1];
	bool		email_disposable;
	bool		email_tagged;	/* the local part had a tag (+x) */
	bool		device_emulator; /* an Android emulator (ident.h) */
	bool		device_browser;	/* a web browser, not an app (ident.h) */
	uint8_t		ip_version;	/* 4 or 6 */
	bool		ip_private;
	char		device_tz_country[3];	/* ISO 3166-1 alpha-2 of the
					   device's time zone */
	char		phone_country[3];	/* of the phone's calling
					   code (ident.h) */
	char		device_model[RG_MODEL_MAX + 1];	/* the phone model an
					   app's agent names (ident.h) */
	char		device_lang_country[3];	/* the region of the
					   device's first language (ident.h) */
	struct geo_facts geo;
};

#define PARTY_HAS(p, k)	(((p)->have >> (k)) & 1u)

struct rg_event {
	uint8_t		type;		/* enum ev_type */
	int64_t		ts;		/* event time, ms since the epoch */
	bool		ts_given;	/* the request said ts (else: now);
					   a recheck is then as of it. Not
					   in the record */
	uint64_t	data_id;	/* identity data that derived the facts (ident.h) */
	uint64_t	seq;		/* assigned by store_put_event() */
	size_t		idlen;		/* referral id (EV_REFERRAL only) */
	char		id[RG_ID_MAX + 1];
	char		campaign[RG_CAMPAIGN_MAX + 1];	/* "" when absent */
	bool		has_reward;
	double		reward_amount;
	char		reward_currency[4];	/* ISO 4217, "" when absent */
	uint8_t		nparties;	/* 2 for referrals, 1 for observe */
	struct party	party[RG_NPARTIES];
	bool		has_edge;
	struct rg_hash	edge;		/* ENT_EDGE: referrer -> referee */
	bool		data_stale;	/* the daemon's data is older than
					   data_max_age (the data.stale fact).
					   Not in the record */
};

/*
 * Compact on-disk record of an event (everything the rules can read, so
 * that a backtest sees what the live check saw). rgev_encode() writes at
 * most EVENT_REC_MAX bytes to buf and returns the length; rgev_decode()
 * fills *ev and returns 0, or -1 if the record is malformed (a field
 * runs past its end, a count is out of range, or bytes are left over).
 *
 * The record (rec.h fields: big-endian, str8 = u8 length and bytes):
 *   version(1)=1 type(1) ts(8) data_id(8) idlen(1) id campaign(str8)
 *   flags(1: 0x01 reward, 0x02 edge) [amount(8: IEEE double) currency(3)]
 *   [edge(16)] nparties(1) party...
 * party: have(4) one hash(16) per bit of have (kinds 1 up), facts(4)
 *   [email_domain(str8)] [email_disposable(1)] [ip_version(1)
 *   ip_private(1)] [device_tz_country(2)] [email_tagged(1)]
 *   [device_emulator(1)] [device_browser(1)] [phone_country(2)]
 *   [device_model(str8)] [device_lang_country(2)] geo_have(4),
 *   and when geo_have is not 0: country(2) continent(2) asn(4)
 *   as_org(str8) geo_flags(1: anonymous, vpn, tor, hosting,
 *   residential_proxy from bit 0).
 */
#define EVENT_REC_MAX	2048
size_t	rgev_encode(const struct rg_event *ev, uint8_t *buf);
int	rgev_decode(const uint8_t *buf, size_t len, struct rg_event *ev);

/* Names, for the protocol, logs and rules. NULL when out of range. */
const char	*rgev_type_name(unsigned type);
int		 rgev_type_from_name(const char *name);	/* -1: unknown */
const char	*ent_kind_name(unsigned kind);
int		 ent_kind_from_name(const char *name);		/* -1: unknown */

/*
 * The ENT_CAMPAIGN key of a referral's campaign, into *h; false when it has
 * none. Derived from the name the record keeps (XXH3-128, not keyed: a
 * programme's name is no personal data and the store, which has no
 * secret, derives the same key when it indexes or expires the event).
 */
bool	rgev_campaign_key(const struct rg_event *ev, struct rg_hash *h);
/*
 * party's identity of kind in ev (a PARTY_* index, or (PARTY_EVENT,
 * ENT_CAMPAIGN): the campaign's), into *h; false if ev has none.
 */
bool	rgev_key(const struct rg_event *ev, int party, int kind,
	    struct rg_hash *h);

/* Hex of a hash into buf (2 * RG_HASH_LEN + 1 bytes); returns buf. */
char	*rg_hash_hex(const struct rg_hash *h, char *buf);

#endif
