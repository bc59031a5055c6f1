/*
 * ident.h: normalize identifiers and turn them into keyed hashes and facts.
 *
 * Every identifier a client sends (account, email, phone, payment token,
 * IP, device attributes) is normalized, then hashed with XXH3-128 keyed by
 * a per-installation secret (hash_secret_file). Only the hashes and a few
 * non-identifying facts (email domain, IP version, geo) leave this module;
 * the raw value is never kept. XXH3 is fast, not cryptographic: the secret
 * is what makes the stored hashes useless to someone who steals the store.
 *
 * Hash inputs are domain-separated by kind: the same bytes as an email and
 * as a phone give different hashes.
 *
 * Threading: an ident is used by one thread at a time (the event loop);
 * it is not locked. ident_stage() reads the serving one from another
 * thread, but only what never changes once loaded (the secret, the
 * lists, the private copies of the GeoIP databases).
 */
#ifndef REFGUARD_IDENT_H
#define REFGUARD_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgev.h"

#define IDENT_SECRET_LEN	32

/* A configuration value with where it came from, for error messages. */
struct conf_str {
	char	*val;
	char	*file;
	int	 line;
};

struct ident_conf {
	const char		*secret_file;	/* created (0600, 32 random bytes) if
						   missing; NULL: a random secret for
						   this process only (rule checks) */
	bool			 secret_nocreate;	/* a missing secret_file is an
						   error (backtest: read-only) */
	const char		*disposable_file;	/* one domain a line; NULL: none */
	unsigned		 prefix4;	/* ip.prefix length for IPv4 (default 24) */
	unsigned		 prefix6;	/* ip.prefix length for IPv6 (default 64) */
	const struct conf_str	*geoip;		/* MaxMind DB paths */
	size_t			 ngeoip;
	const struct conf_str	*email_domains;	/* "DOMAIN [option ...]", see docs/identity.md */
	size_t			 nemail_domains;
	const char		*zoneinfo_dir;	/* zone.tab and tzdata.zi, for
						   device.tz_country; NULL: the
						   system's, when it has one */
};

#define IDENT_ZONEINFO_DIR	"/usr/share/zoneinfo"

/* One device attribute as sent by the client (not NUL-terminated). */
struct dev_attr {
	const char	*key;
	size_t		 keylen;
	const char	*val;
	size_t		 vallen;
};

struct ident;

/*
 * Read (or create) the secret, load the disposable list, check the
 * email_domain values, open the GeoIP databases, read the time zones
 * (zoneinfo_dir). Returns NULL and sets
 * *cause (caller frees) on any error; a GeoIP file that cannot be opened
 * is an error here (start-up), but not on reload. Every file must be a
 * regular file (util.h file_open_regular). Errors in config values
 * read "FILE:LINE: email_domain: message"; in files "PATH:LINE: ...".
 * conf is not kept: every string needed later is copied.
 */
struct ident	*ident_new(const struct ident_conf *conf, char **cause);
void		 ident_free(struct ident *id);

/*
 * A reload's identity data, staged beside cur: a new ident with cur's
 * secret (it never changes) and what conf says now: the disposable list,
 * the GeoIP databases (geo.h geo_open: read anew, so a file replaced by
 * rename is picked up), the email_domain rules and the ip prefix lengths.
 * Each part that fails takes cur's (shared: those parts never change
 * once loaded) and is reported in *cause (several joined by "; ", caller
 * frees; NULL when all went well). Never NULL. cur is only read and not
 * changed: the event loop goes on serving with it while another thread
 * stages, and swaps the result in (or frees it) once the reload is
 * decided. Either ident may then be freed first.
 */
struct ident	*ident_stage(const struct ident *cur,
		     const struct ident_conf *conf, char **cause);

/* Keyed hash of buf as an identity of the given kind. */
void		 ident_hash(const struct ident *id, enum ent_kind kind,
		     const void *buf, size_t len, struct rg_hash *out);

/*
 * Normalize and fingerprint one field of a party into *p (its hashes and
 * facts; p->have gets the kinds set). s need not be NUL-terminated. On bad
 * input return -1 and set *err to a static message that names the problem
 * (the caller adds the field name), e.g. "not an IPv4 or IPv6 address";
 * *p is then unchanged. docs/identity.md has the full rules:
 *   account  exact bytes, 1-128, no control bytes
 *   email    trimmed, at most 254 bytes of valid UTF-8, ASCII lowercased,
 *            tag and (per domain) dots removed; sets email_domain and,
 *            when a list is loaded, email_disposable; and ENT_EMAIL_SHAPE
 *            (runs of 1-4 digits folded to '#', a year 19xx/20xx kept)
 *            when a run was folded and the local part has a letter;
 *            and ENT_EMAIL_NAME (the local part's letters alone, without
 *            the domain) when it has IDENT_EMAIL_NAME_MIN letters or more
 *   phone    digits and a leading '+', separators " -.()/" dropped,
 *            5-20 digits, letters refused; and ENT_PHONE_BLOCK (the
 *            number without its last two digits: the hundred numbers
 *            a carrier, a SIM pack or a VoIP range hands out together)
 *            when it has IDENT_PHONE_BLOCK_MINDIGITS digits or more;
 *            and phone_country (PF_PHONE_COUNTRY) when it starts with
 *            "+" and a calling code of one country
 *   payment  trimmed opaque token, 1-256 bytes, no control bytes
 */
int	ident_account(const struct ident *id, const char *s, size_t len,
	    struct party *p, const char **err);
int	ident_email(const struct ident *id, const char *s, size_t len,
	    struct party *p, const char **err);
int	ident_phone(const struct ident *id, const char *s, size_t len,
	    struct party *p, const char **err);
int	ident_payment(const struct ident *id, const char *s, size_t len,
	    struct party *p, const char **err);
int	ident_ip(const struct ident *id, const char *s, size_t len,
	    struct party *p, const char **err);
/*
 * ident_ip also sets p->ip_version, p->ip_private (not globally routable)
 * and p->geo (zeroed, then filled from the GeoIP databases; private
 * addresses are not looked up). IPv4-mapped IPv6 folds to IPv4; zone ids
 * are refused. Nothing is allocated on any of these paths.
 */

/*
 * Device fingerprints from the attributes a client sent: ENT_DEVICE,
 * ENT_DEVICE_FUZZY, ENT_DEVICE_STABLE and (when an "id" attribute is
 * present) ENT_DEVICE_ID; p->device_tz_country (PF_DEVICE_TZ) when
 * "tz" names a zone of one country in the time zone data; and
 * p->device_emulator (PF_DEVICE_EMULATOR, always): an Android device that
 * says it runs on x86 ("hw", or a 32-bit x86 "platform"), or a "ua"
 * naming one of the Android SDK's emulator images; and p->device_browser
 * (PF_DEVICE_BROWSER, when "ua" is present): a web browser's agent, not
 * an app's or a crawler's; and p->device_model (PF_DEVICE_MODEL) when
 * an app's agent names an Android phone's model, or "hw" an Apple
 * device's identifier ("iphone17,3"), lowercased; never an emulator's.
 * At most 32 attributes, names of at most 64 bytes ([A-Za-z0-9_.-],
 * case-insensitive), values of at most 1024 bytes. A fingerprint that
 * would be too weak to link devices is left out (no error): ENT_DEVICE
 * needs ua, canvas, webgl or fonts; ENT_DEVICE_FUZZY needs ua and one of
 * tz, lang, screen, platform; ENT_DEVICE_STABLE needs ua and one of those
 * or hw, webgl, fonts (docs/identity.md). On bad input *errkey is
 * the offending attribute's key, the very pointer attrs[i].key (NULL if
 * the problem is the set as a whole).
 */
int	ident_device(const struct ident *id, const struct dev_attr *attrs,
	    size_t n, struct party *p, const char **errkey, const char **err);

/*
 * Why a valid value written for a derived kind (a shape, a name, a
 * block: a rule's constant, a list's value) gave none of it; a static
 * message.
 */
const char	*ident_absent(enum ent_kind kind);

/*
 * Runtime lists: the seed string and number list values are hashed with
 * (derived from the secret, store_list_strhash()), and the ip.prefix
 * length of IPv4 (v6 false) or IPv6 addresses.
 */
uint64_t	 ident_list_seed(const struct ident *id);
unsigned	 ident_prefix_len(const struct ident *id, bool v6);

/*
 * The secret's fingerprint: a keyed hash of a constant, never the key.
 * The store records it (secret.h) so that a replaced secret is refused
 * instead of silently matching nothing. It tells nothing the stored
 * hashes of known values do not.
 */
void		 ident_secret_fp(const struct ident *id, struct rg_hash *out);

/* ENT_EDGE hash of referrer account -> referee account. */
void	ident_edge(const struct ident *id, const struct party *referrer,
	    const struct party *referee, struct rg_hash *out);

/*
 * Describe the loaded data as a JSON object, for stats and verdict
 * records:
 *   {"geoip": [{"path", "database_type", "build_epoch" (null if it does
 *               not fit), "node_count", "bytes", "ip_version",
 *               "facts": [...]}],
 *    "disposable": {"path", "entries", "bytes", "mtime" (Unix seconds)}
 *               or null,
 *    "time_zones": {"path" (zone.tab), "entries" (zones and their
 *               aliases), "bytes"} or null,
 *    "email_domains": N, "ip_prefix4": N, "ip_prefix6": N}
 * Returns a new jansson reference (json_t *, declared void * here so that
 * this header does not pull in jansson).
 */
void	*ident_info(const struct ident *id);

/*
 * An id for the data now loaded (a hash of ident_info()): events record
 * it, and the daemon keeps the description under meta "data:<hex id>", so
 * that explain can say which GeoIP databases a verdict's facts came from.
 */
uint64_t ident_data_id(const struct ident *id);

#endif
