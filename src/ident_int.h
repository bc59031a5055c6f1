/*
 * ident_int.h: internals shared by the identity files (ident.c,
 * ident_email.c, ident_ip.c, ident_device.c, ident_set.c, geo.c).
 * Not for other modules: their contract is ident.h.
 */
#ifndef REFGUARD_IDENT_INT_H
#define REFGUARD_IDENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XXH_STATIC_LINKING_ONLY	/* XXH3_state_t on the stack */
#include <xxhash.h>

#include "geo.h"
#include "ident.h"

#define IDENT_EMAIL_MAX		254	/* RFC 5321 path limit, bytes */
#define IDENT_LOCAL_MAX		64
#define IDENT_LABEL_MAX		63
#define IDENT_ACCOUNT_MAX	128
#define IDENT_PAYMENT_MAX	256
#define IDENT_PHONE_MAX		64	/* bytes of input */
#define IDENT_PHONE_MINDIGITS	5
#define IDENT_PHONE_MAXDIGITS	20
#define IDENT_PHONE_BLOCK_MINDIGITS 8	/* a block keeps six digits or more */
#define IDENT_EMAIL_NAME_MIN	6	/* fewer letters name too many people */
#define IDENT_DEV_MAXATTRS	32
#define IDENT_DEV_KEYMAX	64
#define IDENT_DEV_VALMAX	1024

/*
 * A set of strings with a small value each: open addressing over XXH3-64,
 * at most half full, so a miss costs one or two probes. Strings are
 * copied into one blob; nothing is allocated by lookups.
 */
struct ident_set;

struct ident_set *ident_set_new(void);
void		 ident_set_free(struct ident_set *);
/* 0 when added, 1 when already present (value left unchanged). */
int		 ident_set_add(struct ident_set *, const char *, size_t,
		     uint32_t val);
bool		 ident_set_find(const struct ident_set *, const char *,
		     size_t, uint32_t *val);
size_t		 ident_set_count(const struct ident_set *);

/* Per-domain email rules (ident_email.c). */
#define EMAIL_DOTS	0x01	/* dots in the local part are noise */
#define EMAIL_TAGS_MAX	4

struct email_rule {
	char		*domain;
	char		*alias;		/* canonical domain, NULL: itself */
	unsigned	 flags;
	char		 tags[EMAIL_TAGS_MAX + 1];	/* tag separators */
};

/*
 * The email rules and the disposable list never change once loaded, and
 * are reference counted: a reload staged off the event loop (ident_stage)
 * keeps serving the one it could not load anew while the loop reads it.
 */
struct email_rules {
	unsigned		 refs;
	struct email_rule	*v;
	size_t			 n;
	struct ident_set	*byname;	/* domain -> index in v */
};

/* The disposable domain list (ident_email.c). */
struct disposable {
	unsigned		 refs;
	char			*path;
	struct ident_set	*set;
	int64_t			 bytes;		/* the file's size and */
	int64_t			 mtime;		/* modification time (s) */
};

struct ident {
	uint8_t			 secret[XXH3_SECRET_DEFAULT_SIZE];
	unsigned		 prefix4;
	unsigned		 prefix6;
	struct email_rules	*rules;
	struct disposable	*disp;		/* NULL: no list */
	struct geo		*geo;
	struct tzmap		*tz;		/* NULL: no time zone data */
	uint64_t		 data_id;	/* ident_data_id() */
};

/* Keyed, kind-separated streaming hash: begin, update, end. */
void	ident_hash_begin(const struct ident *, enum ent_kind, XXH3_state_t *);
void	ident_hash_end(XXH3_state_t *, struct rg_hash *);
void	ident_set_hash(const struct ident *, struct party *, enum ent_kind,
	    const void *, size_t);

/* Trim ASCII blanks (space, tab, CR, LF) from both ends. */
void	ident_trim(const char **s, size_t *len);
/* True when s has a byte < 0x20 or 0x7f. */
bool	ident_has_ctl(const char *s, size_t len);

/*
 * Email rules: built-in table plus config values; NULL and *cause. _ref
 * takes one more reference, _free drops one (any thread).
 */
struct email_rules	*ident_email_rules_new(const struct conf_str *,
			    size_t, char **cause);
struct email_rules	*ident_email_rules_ref(struct email_rules *);
void			 ident_email_rules_free(struct email_rules *);
/* Disposable list from a regular file; NULL and *cause. As above. */
struct disposable	*ident_email_disp_load(const char *path,
			    char **cause);
struct disposable	*ident_email_disp_ref(struct disposable *);
void			 ident_email_disp_free(struct disposable *);
/* domain or a parent of it (down to two labels) is listed. */
bool			 ident_email_disp_match(const struct disposable *,
			    const char *domain, size_t len);

/*
 * The time zone database's countries (ident_tz.c), from DIR/zone.tab and
 * the link lines of DIR/tzdata.zi. Load: NULL and *cause. _ref and _free
 * as above. ident_tz_country: the two-letter country of a zone name
 * (ASCII case ignored), or NULL when the zone is of no one country or
 * not known.
 */
#define IDENT_TZ_NAME_MAX	64
struct tzmap {
	int		 refs;
	char		*path;		/* DIR/zone.tab */
	int64_t		 bytes;		/* of the files read */
	struct tz_zone	*z;		/* sorted by name, ASCII case ignored */
	size_t		 n, cap;
};
struct tzmap	*ident_tz_load(const char *dir, char **cause);
struct tzmap	*ident_tz_ref(struct tzmap *);
void		 ident_tz_free(struct tzmap *);
const char	*ident_tz_country(const struct tzmap *, const char *, size_t);

/*
 * The country of an international number's calling code (ident_phone.c):
 * digits are the number's after its "+". NULL for +1 (the North American
 * plan's 25 countries), a code no country has, or too few digits.
 */
const char	*ident_phone_country(const char *digits, size_t len);

/*
 * "browser/os" families of a user agent, as device.fuzzy uses them, e.g.
 * "firefox/windows", "app:myapp/ios". Returns the length written to out
 * (NUL-terminated, truncated to cap).
 */
size_t	ident_device_ua_family(const char *ua, size_t len, char *out,
	    size_t cap);

#endif
