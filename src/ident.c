/*
 * ident.c: minimal first cut (secret, keyed hashing, trivial
 * normalization); the identity work replaces the normalizers.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#define XXH_STATIC_LINKING_ONLY	/* XXH3_state_t on the stack, XXH3_generateSecret */
#include <xxhash.h>

#include "ident.h"
#include "util.h"

struct ident {
	uint8_t	secret[XXH3_SECRET_DEFAULT_SIZE];
};

static int
ident_read_secret(const char *path, uint8_t *seed, char **cause)
{
	struct stat	sb;
	ssize_t		n;
	int		fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (getrandom(seed, IDENT_SECRET_LEN, 0) != IDENT_SECRET_LEN) {
			xasprintf(cause, "getrandom: %s", strerror(errno));
			return (-1);
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write_all(fd, seed, IDENT_SECRET_LEN) != 0 ||
		    fsync(fd) != 0) {
			xasprintf(cause, "hash_secret_file %s: cannot create: %s",
			    path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return (-1);
		}
		close(fd);
		return (0);
	}
	if (fd < 0) {
		xasprintf(cause, "hash_secret_file %s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) != 0 || (sb.st_mode & 077) != 0) {
		xasprintf(cause, "hash_secret_file %s: readable by group or "
		    "others (mode %03o); chmod 600 it", path,
		    (unsigned)(sb.st_mode & 0777));
		close(fd);
		return (-1);
	}
	n = read(fd, seed, IDENT_SECRET_LEN);
	close(fd);
	if (n != IDENT_SECRET_LEN) {
		xasprintf(cause, "hash_secret_file %s: shorter than %d bytes",
		    path, IDENT_SECRET_LEN);
		return (-1);
	}
	return (0);
}

struct ident *
ident_new(const struct ident_conf *conf, char **cause)
{
	struct ident	*id = xcalloc(1, sizeof(*id));
	uint8_t		 seed[IDENT_SECRET_LEN];

	if (ident_read_secret(conf->secret_file, seed, cause) != 0) {
		free(id);
		return (NULL);
	}
	XXH3_generateSecret(id->secret, sizeof(id->secret), seed, sizeof(seed));
	memset(seed, 0, sizeof(seed));
	return (id);
}

void
ident_free(struct ident *id)
{
	if (id != NULL)
		memset(id->secret, 0, sizeof(id->secret));
	free(id);
}

int
ident_reload(struct ident *id, const struct ident_conf *conf, char **cause)
{
	*cause = NULL;
	return (0);
}

void
ident_hash(const struct ident *id, enum ent_kind kind, const void *buf,
    size_t len, struct rg_hash *out)
{
	XXH3_state_t	st;
	XXH128_hash_t	h;
	uint8_t		k = (uint8_t)kind;

	XXH3_128bits_reset_withSecret(&st, id->secret, sizeof(id->secret));
	XXH3_128bits_update(&st, &k, 1);
	XXH3_128bits_update(&st, buf, len);
	h = XXH3_128bits_digest(&st);
	XXH128_canonicalFromHash((XXH128_canonical_t *)out->b, h);
}

static void
set(const struct ident *id, struct party *p, enum ent_kind k, const void *b,
    size_t n)
{
	ident_hash(id, k, b, n, &p->h[k]);
	p->have |= 1u << k;
}

int
ident_account(const struct ident *id, const char *s, size_t len,
    struct party *p, const char **err)
{
	if (len == 0) {
		*err = "empty";
		return (-1);
	}
	set(id, p, ENT_ACCOUNT, s, len);
	return (0);
}

int
ident_email(const struct ident *id, const char *s, size_t len,
    struct party *p, const char **err)
{
	char	buf[256];
	size_t	i;
	char	*at;

	if (len == 0 || len > 254) {
		*err = "not an email address";
		return (-1);
	}
	for (i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)s[i]);
	buf[len] = '\0';
	if ((at = strchr(buf, '@')) == NULL || at == buf || at[1] == '\0') {
		*err = "not an email address";
		return (-1);
	}
	set(id, p, ENT_EMAIL, buf, len);
	snprintf(p->email_domain, sizeof(p->email_domain), "%s", at + 1);
	p->facts |= PF_EMAIL_DOMAIN;
	return (0);
}

int
ident_phone(const struct ident *id, const char *s, size_t len,
    struct party *p, const char **err)
{
	set(id, p, ENT_PHONE, s, len);
	return (0);
}

int
ident_payment(const struct ident *id, const char *s, size_t len,
    struct party *p, const char **err)
{
	set(id, p, ENT_PAYMENT, s, len);
	return (0);
}

int
ident_ip(const struct ident *id, const char *s, size_t len, struct party *p,
    const char **err)
{
	char		buf[64];
	uint8_t		a[16];

	if (len >= sizeof(buf)) {
		*err = "not an IPv4 or IPv6 address";
		return (-1);
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1) {
		set(id, p, ENT_IP, a, 4);
		a[3] = 0;
		set(id, p, ENT_IP_PREFIX, a, 4);
		p->ip_version = 4;
	} else if (inet_pton(AF_INET6, buf, a) == 1) {
		set(id, p, ENT_IP, a, 16);
		memset(a + 8, 0, 8);
		set(id, p, ENT_IP_PREFIX, a, 16);
		p->ip_version = 6;
	} else {
		*err = "not an IPv4 or IPv6 address";
		return (-1);
	}
	p->facts |= PF_IP_INFO;
	return (0);
}

int
ident_device(const struct ident *id, const struct dev_attr *attrs, size_t n,
    struct party *p, const char **errkey, const char **err)
{
	XXH3_state_t	st;
	XXH128_hash_t	h;
	size_t		i;

	XXH3_128bits_reset_withSecret(&st, id->secret, sizeof(id->secret));
	for (i = 0; i < n; i++) {
		if (attrs[i].keylen == 2 && memcmp(attrs[i].key, "id", 2) == 0)
			set(id, p, ENT_DEVICE_ID, attrs[i].val, attrs[i].vallen);
		XXH3_128bits_update(&st, attrs[i].key, attrs[i].keylen);
		XXH3_128bits_update(&st, "=", 1);
		XXH3_128bits_update(&st, attrs[i].val, attrs[i].vallen);
	}
	h = XXH3_128bits_digest(&st);
	XXH128_canonicalFromHash((XXH128_canonical_t *)p->h[ENT_DEVICE].b, h);
	p->have |= 1u << ENT_DEVICE;
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

void *
ident_info(const struct ident *id)
{
	return (json_object());
}
