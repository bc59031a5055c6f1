/*
 * ident.c: the identity module's life cycle, the keyed hash, and the
 * simple identifiers (account, phone, payment, edge). Email is in
 * ident_email.c, IP in ident_ip.c, devices in ident_device.c, GeoIP in
 * geo.c.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ident_int.h"
#include "util.h"

/* ---- secret -------------------------------------------------------- */

static int
ident_secret_create(const char *path, uint8_t *seed, char **cause)
{
	char	 dir[PATH_MAX];
	ssize_t	 n;
	int	 fd, dfd;

	while ((n = getrandom(seed, IDENT_SECRET_LEN, 0)) < 0 && errno == EINTR)
		;
	if (n != IDENT_SECRET_LEN) {
		xasprintf(cause, "getrandom: %s", n < 0 ? strerror(errno) :
		    "short read");
		return (-1);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return (1);	/* lost a race: read theirs */
		xasprintf(cause, "hash_secret_file %s: cannot create: %s",
		    path, strerror(errno));
		return (-1);
	}
	if (write_all(fd, seed, IDENT_SECRET_LEN) != 0 || fsync(fd) != 0) {
		xasprintf(cause, "hash_secret_file %s: cannot write: %s",
		    path, strerror(errno));
		close(fd);
		unlink(path);	/* never leave a short secret behind */
		return (-1);
	}
	close(fd);
	/* A secret lost in a crash would orphan every stored hash. */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return (0);
}

static int
ident_secret_read(int fd, const struct stat *sb, const char *path,
    uint8_t *seed, char **cause)
{
	size_t	got = 0;
	ssize_t	n;

	if ((sb->st_mode & 077) != 0) {
		xasprintf(cause, "hash_secret_file %s: accessible by group or "
		    "others (mode %03o); chmod 600 it", path,
		    (unsigned)(sb->st_mode & 0777));
		return (-1);
	}
	if (sb->st_size != IDENT_SECRET_LEN) {
		xasprintf(cause, "hash_secret_file %s: must be exactly %d "
		    "bytes, not %lld", path, IDENT_SECRET_LEN,
		    (long long)sb->st_size);
		return (-1);
	}
	while (got < IDENT_SECRET_LEN) {
		n = read(fd, seed + got, IDENT_SECRET_LEN - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			xasprintf(cause, "hash_secret_file %s: read: %s", path,
			    n < 0 ? strerror(errno) : "short file");
			return (-1);
		}
		got += (size_t)n;
	}
	return (0);
}

/*
 * Read the secret, creating it (32 random bytes, 0600) if missing, unless
 * nocreate.
 */
static int
ident_secret(const char *path, bool nocreate, uint8_t *seed, char **cause)
{
	struct stat	 sb;
	char		*msg;
	int		 fd, rv, tries;

	if (path == NULL) {
		*cause = xstrdup("hash_secret_file is not set");
		return (-1);
	}
	for (tries = 0; tries < 2; tries++) {
		msg = NULL;
		fd = file_open_regular(path, FILE_NOFOLLOW, &sb, &msg);
		if (fd >= 0) {
			rv = ident_secret_read(fd, &sb, path, seed, cause);
			close(fd);
			return (rv);
		}
		if (errno != ENOENT || nocreate) {
			xasprintf(cause, "hash_secret_file %s", msg);
			free(msg);
			return (-1);
		}
		free(msg);
		if ((rv = ident_secret_create(path, seed, cause)) <= 0)
			return (rv);
	}
	xasprintf(cause, "hash_secret_file %s: cannot create or read", path);
	return (-1);
}

/* ---- life cycle ---------------------------------------------------- */

static int
ident_prefixes(const struct ident_conf *conf, unsigned *p4, unsigned *p6,
    char **cause)
{
	*p4 = conf->prefix4 == 0 ? 24 : conf->prefix4;
	*p6 = conf->prefix6 == 0 ? 64 : conf->prefix6;
	if (*p4 > 32 || *p6 > 128) {
		xasprintf(cause, "ip_prefix4 must be 1-32 and ip_prefix6 "
		    "1-128 (have %u and %u)", *p4, *p6);
		return (-1);
	}
	return (0);
}

/* The id of the data now loaded: a hash of its description. */
static void
ident_data_update(struct ident *id)
{
	json_t	*info = ident_info(id);
	char	*s = json_dumps(info, JSON_COMPACT | JSON_SORT_KEYS);

	id->data_id = s != NULL ? XXH3_64bits(s, strlen(s)) : 0;
	free(s);
	json_decref(info);
}

uint64_t
ident_data_id(const struct ident *id)
{
	return (id->data_id);
}

/*
 * The time zone data into *tz: conf's zoneinfo_dir, or the system's when
 * that is not set, where none (no zone.tab there) leaves *tz NULL (no
 * device.tz_country). cur: the data served now (a reload), kept when
 * the new cannot be read. 0, or -1 and *cause when one that is there
 * cannot be read (*tz is then cur's, or NULL).
 */
static int
ident_zones(const struct ident_conf *conf, struct tzmap *cur,
    struct tzmap **tz, char **cause)
{
	const char	*dir = conf->zoneinfo_dir;

	if (dir == NULL) {
		dir = IDENT_ZONEINFO_DIR;
		if (access(IDENT_ZONEINFO_DIR "/zone.tab", F_OK) != 0 &&
		    errno == ENOENT && cur == NULL) {
			*tz = NULL;
			return (0);
		}
	}
	if ((*tz = ident_tz_load(dir, cause)) != NULL)
		return (0);
	*tz = ident_tz_ref(cur);
	return (-1);
}

struct ident *
ident_new(const struct ident_conf *conf, char **cause)
{
	struct ident	*id = xcalloc(1, sizeof(*id));
	uint8_t		 seed[IDENT_SECRET_LEN];

	*cause = NULL;
	if (ident_prefixes(conf, &id->prefix4, &id->prefix6, cause) != 0)
		goto fail;
	if ((id->rules = ident_email_rules_new(conf->email_domains,
	    conf->nemail_domains, cause)) == NULL)
		goto fail;
	if (conf->disposable_file != NULL &&
	    (id->disp = ident_email_disp_load(conf->disposable_file,
	    cause)) == NULL)
		goto fail;
	if ((id->geo = geo_open(NULL, conf->geoip, conf->ngeoip,
	    cause)) == NULL)
		goto fail;
	if (ident_zones(conf, NULL, &id->tz, cause) != 0)
		goto fail;
	if (conf->secret_file == NULL) {
		/* Rule checks: hashes only need to agree within this process. */
		if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
			xasprintf(cause, "getrandom: %s", strerror(errno));
			goto fail;
		}
	} else if (ident_secret(conf->secret_file, conf->secret_nocreate, seed,
	    cause) != 0)
		goto fail;
	XXH3_generateSecret(id->secret, sizeof(id->secret), seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	ident_data_update(id);
	return (id);

fail:
	explicit_bzero(seed, sizeof(seed));
	ident_free(id);
	return (NULL);
}

void
ident_free(struct ident *id)
{
	if (id == NULL)
		return;
	explicit_bzero(id->secret, sizeof(id->secret));
	ident_email_rules_free(id->rules);
	ident_email_disp_free(id->disp);
	geo_free(id->geo);
	ident_tz_free(id->tz);
	free(id);
}

struct ident *
ident_stage(const struct ident *cur, const struct ident_conf *conf,
    char **cause)
{
	struct ident	*id = xcalloc(1, sizeof(*id));
	char		*msg = NULL;

	*cause = NULL;
	memcpy(id->secret, cur->secret, sizeof(id->secret));
	if (ident_prefixes(conf, &id->prefix4, &id->prefix6, &msg) != 0) {
		cause_append(cause, msg);
		id->prefix4 = cur->prefix4;
		id->prefix6 = cur->prefix6;
	}
	msg = NULL;
	if ((id->rules = ident_email_rules_new(conf->email_domains,
	    conf->nemail_domains, &msg)) == NULL) {
		cause_append(cause, msg);
		id->rules = ident_email_rules_ref(cur->rules);
	}
	msg = NULL;
	if (conf->disposable_file != NULL &&
	    (id->disp = ident_email_disp_load(conf->disposable_file,
	    &msg)) == NULL) {
		cause_append(cause, msg);
		id->disp = ident_email_disp_ref(cur->disp);
	}
	msg = NULL;
	id->geo = geo_open(cur->geo, conf->geoip, conf->ngeoip, &msg);
	if (msg != NULL)
		cause_append(cause, msg);
	msg = NULL;
	if (ident_zones(conf, cur->tz, &id->tz, &msg) != 0)
		cause_append(cause, msg);
	ident_data_update(id);
	return (id);
}

/* ---- hashing ------------------------------------------------------- */

void
ident_hash_begin(const struct ident *id, enum ent_kind kind,
    XXH3_state_t *st)
{
	uint8_t	k = (uint8_t)kind;

	XXH3_128bits_reset_withSecret(st, id->secret, sizeof(id->secret));
	XXH3_128bits_update(st, &k, 1);
}

void
ident_hash_end(XXH3_state_t *st, struct rg_hash *out)
{
	XXH128_hash_t	h = XXH3_128bits_digest(st);

	XXH128_canonicalFromHash((XXH128_canonical_t *)out->b, h);
}

void
ident_hash(const struct ident *id, enum ent_kind kind, const void *buf,
    size_t len, struct rg_hash *out)
{
	XXH3_state_t	st;

	ident_hash_begin(id, kind, &st);
	XXH3_128bits_update(&st, buf, len);
	ident_hash_end(&st, out);
}

void
ident_set_hash(const struct ident *id, struct party *p, enum ent_kind k,
    const void *b, size_t n)
{
	ident_hash(id, k, b, n, &p->h[k]);
	p->have |= 1u << k;
}

/* ---- byte helpers -------------------------------------------------- */

void
ident_trim(const char **s, size_t *len)
{
	while (*len > 0 && ((*s)[0] == ' ' || (*s)[0] == '\t' ||
	    (*s)[0] == '\r' || (*s)[0] == '\n')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' ||
	    (*s)[*len - 1] == '\r' || (*s)[*len - 1] == '\n'))
		(*len)--;
}

bool
ident_has_ctl(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return (true);
	return (false);
}

/* ---- simple identifiers -------------------------------------------- */

int
ident_account(const struct ident *id, const char *s, size_t len,
    struct party *p, const char **err)
{
	if (len == 0) {
		*err = "empty";
		return (-1);
	}
	if (len > IDENT_ACCOUNT_MAX) {
		*err = "longer than 128 bytes";
		return (-1);
	}
	if (ident_has_ctl(s, len)) {
		*err = "contains control characters";
		return (-1);
	}
	ident_set_hash(id, p, ENT_ACCOUNT, s, len);
	return (0);
}

int
ident_phone(const struct ident *id, const char *s, size_t len,
    struct party *p, const char **err)
{
	char		 buf[IDENT_PHONE_MAXDIGITS + 1];
	const char	*cc;
	size_t		 i, o = 0, digits = 0;
	char		 c;

	ident_trim(&s, &len);
	if (len == 0) {
		*err = "empty";
		return (-1);
	}
	if (len > IDENT_PHONE_MAX) {
		*err = "longer than 64 bytes";
		return (-1);
	}
	for (i = 0; i < len; i++) {
		c = s[i];
		if (c >= '0' && c <= '9') {
			if (++digits > IDENT_PHONE_MAXDIGITS) {
				*err = "more than 20 digits";
				return (-1);
			}
			buf[o++] = c;
		} else if (c == '+' && o == 0)
			buf[o++] = c;
		else if (c == ' ' || c == '-' || c == '.' || c == '(' ||
		    c == ')' || c == '/')
			continue;
		else {
			if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
				*err = "contains letters";
			else if ((unsigned char)c < 0x20 || c == 0x7f)
				*err = "contains control characters";
			else
				*err = "not a phone number (digits, an optional "
				    "leading + and separators only)";
			return (-1);
		}
	}
	if (digits < IDENT_PHONE_MINDIGITS) {
		*err = "fewer than 5 digits";
		return (-1);
	}
	ident_set_hash(id, p, ENT_PHONE, buf, o);
	if (buf[0] == '+' &&
	    (cc = ident_phone_country(buf + 1, o - 1)) != NULL) {
		memcpy(p->phone_country, cc, 3);
		p->facts |= PF_PHONE_COUNTRY;
	}
	if (digits >= IDENT_PHONE_BLOCK_MINDIGITS)
		ident_set_hash(id, p, ENT_PHONE_BLOCK, buf, o - 2);
	return (0);
}

const char *
ident_absent(enum ent_kind kind)
{
	switch (kind) {
	case ENT_EMAIL_SHAPE:
		return ("has no shape: its local part needs digits and a "
		    "letter");
	case ENT_EMAIL_NAME:
		return ("has no name: its local part needs "
		    STR(IDENT_EMAIL_NAME_MIN) " letters or more");
	case ENT_PHONE_BLOCK:
		return ("has no block: a number needs "
		    STR(IDENT_PHONE_BLOCK_MINDIGITS) " digits or more");
	default:
		return ("does not give this kind of identity");
	}
}

int
ident_payment(const struct ident *id, const char *s, size_t len,
    struct party *p, const char **err)
{
	ident_trim(&s, &len);
	if (len == 0) {
		*err = "empty";
		return (-1);
	}
	if (len > IDENT_PAYMENT_MAX) {
		*err = "longer than 256 bytes";
		return (-1);
	}
	if (ident_has_ctl(s, len)) {
		*err = "contains control characters";
		return (-1);
	}
	ident_set_hash(id, p, ENT_PAYMENT, s, len);
	return (0);
}

void
ident_edge(const struct ident *id, const struct party *referrer,
    const struct party *referee, struct rg_hash *out)
{
	uint8_t	buf[2 * RG_HASH_LEN];

	memcpy(buf, referrer->h[ENT_ACCOUNT].b, RG_HASH_LEN);
	memcpy(buf + RG_HASH_LEN, referee->h[ENT_ACCOUNT].b, RG_HASH_LEN);
	ident_hash(id, ENT_EDGE, buf, sizeof(buf), out);
}

/* ---- info ---------------------------------------------------------- */

void *
ident_info(const struct ident *id)
{
	json_t	*o = json_object(), *d;

	json_object_set_new(o, "geoip", geo_info(id->geo));
	if (id->disp != NULL) {
		d = json_object();
		json_object_set_new(d, "path", json_string(id->disp->path));
		json_object_set_new(d, "entries",
		    json_integer((json_int_t)ident_set_count(id->disp->set)));
		json_object_set_new(d, "bytes", json_integer(id->disp->bytes));
		json_object_set_new(d, "mtime", json_integer(id->disp->mtime));
		json_object_set_new(o, "disposable", d);
	} else
		json_object_set_new(o, "disposable", json_null());
	if (id->tz != NULL) {
		d = json_object();
		json_object_set_new(d, "path", json_string(id->tz->path));
		json_object_set_new(d, "entries",
		    json_integer((json_int_t)id->tz->n));
		json_object_set_new(d, "bytes", json_integer(id->tz->bytes));
		json_object_set_new(o, "time_zones", d);
	} else
		json_object_set_new(o, "time_zones", json_null());
	json_object_set_new(o, "email_domains",
	    json_integer((json_int_t)id->rules->n));
	json_object_set_new(o, "ip_prefix4", json_integer(id->prefix4));
	json_object_set_new(o, "ip_prefix6", json_integer(id->prefix6));
	return (o);
}

uint64_t
ident_list_seed(const struct ident *id)
{
	static const char	tag[] = "refguard runtime list seed";
	struct rg_hash		h;
	uint64_t		seed = 0;
	int			i;

	ident_hash(id, ENT_EDGE, tag, sizeof(tag) - 1, &h);
	for (i = 0; i < 8; i++)
		seed = (seed << 8) | h.b[i];
	return (seed);
}

void
ident_secret_fp(const struct ident *id, struct rg_hash *out)
{
	static const char	tag[] = "refguard hash secret fingerprint 1";

	ident_hash(id, ENT_EDGE, tag, sizeof(tag) - 1, out);
}

unsigned
ident_prefix_len(const struct ident *id, bool v6)
{
	return (v6 ? id->prefix6 : id->prefix4);
}
