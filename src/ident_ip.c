/*
 * ident_ip.c: IP address parsing, the non-public ranges, the prefix hash
 * and the GeoIP facts.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "ident_int.h"
#include "util.h"

struct ident_ip_net {
	uint8_t	a[16];
	uint8_t	len;	/* prefix length in bits */
};

/* Not globally routable unicast (RFC 6890 and successors). */
static const struct ident_ip_net ident_ip_private4[] = {
	{ { 0 }, 8 },			/* "this network" */
	{ { 10 }, 8 },			/* RFC 1918 */
	{ { 100, 64 }, 10 },		/* CGNAT, RFC 6598 */
	{ { 127 }, 8 },			/* loopback */
	{ { 169, 254 }, 16 },		/* link-local */
	{ { 172, 16 }, 12 },		/* RFC 1918 */
	{ { 192, 0, 0 }, 24 },		/* IETF protocol assignments */
	{ { 192, 0, 2 }, 24 },		/* TEST-NET-1 */
	{ { 192, 168 }, 16 },		/* RFC 1918 */
	{ { 198, 18 }, 15 },		/* benchmarking */
	{ { 198, 51, 100 }, 24 },	/* TEST-NET-2 */
	{ { 203, 0, 113 }, 24 },	/* TEST-NET-3 */
	{ { 224 }, 4 },			/* multicast */
	{ { 240 }, 4 },			/* reserved, broadcast */
};

static const struct ident_ip_net ident_ip_private6[] = {
	{ { 0 }, 96 },				/* ::, ::1, IPv4-compatible */
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48 },	/* local NAT64 */
	{ { 0x01, 0x00 }, 64 },			/* discard-only */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32 },	/* documentation */
	{ { 0x3f, 0xff }, 20 },			/* documentation, RFC 9637 */
	{ { 0xfc }, 7 },			/* unique local */
	{ { 0xfe, 0x80 }, 10 },			/* link-local */
	{ { 0xfe, 0xc0 }, 10 },			/* site-local (deprecated) */
	{ { 0xff }, 8 },			/* multicast */
};

static bool
ident_ip_in(const uint8_t *a, const struct ident_ip_net *n)
{
	size_t	full = n->len / 8;
	unsigned rest = n->len % 8;
	uint8_t	mask;

	if (memcmp(a, n->a, full) != 0)
		return (false);
	if (rest == 0)
		return (true);
	mask = (uint8_t)(0xff << (8 - rest));
	return ((a[full] & mask) == (n->a[full] & mask));
}

static bool
ident_ip_private(const uint8_t *a, int v6)
{
	const struct ident_ip_net	*t = v6 ? ident_ip_private6 :
					    ident_ip_private4;
	size_t				 n = v6 ? nitems(ident_ip_private6) :
					    nitems(ident_ip_private4);
	size_t				 i;

	for (i = 0; i < n; i++)
		if (ident_ip_in(a, &t[i]))
			return (true);
	return (false);
}

/*
 * Parse s into a (4 or 16 bytes); returns the length or 0 with *err.
 * IPv4-mapped IPv6 (::ffff:a.b.c.d, any spelling) folds to IPv4.
 */
static size_t
ident_ip_parse(const char *s, size_t len, uint8_t *a, const char **err)
{
	static const uint8_t	mapped[12] = { [10] = 0xff, [11] = 0xff };
	char			buf[INET6_ADDRSTRLEN];

	*err = "not an IPv4 or IPv6 address";
	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return (0);
	if (memchr(s, '%', len) != NULL) {
		*err = "IPv6 zone ids (%...) are not accepted";
		return (0);
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		return (4);
	if (memchr(s, ':', len) == NULL || inet_pton(AF_INET6, buf, a) != 1)
		return (0);
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		memmove(a, a + 12, 4);
		return (4);
	}
	return (16);
}

/* ip.prefix: the masked address and the prefix length, so that /24 and
 * /22 prefixes never share a hash. */
static void
ident_ip_prefix(const struct ident *id, struct party *p, const uint8_t *a,
    size_t alen)
{
	uint8_t		buf[1 + 16];
	unsigned	bits = alen == 4 ? id->prefix4 : id->prefix6, i;

	buf[0] = (uint8_t)bits;
	memcpy(buf + 1, a, alen);
	for (i = bits; i < alen * 8; i++)
		buf[1 + i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	ident_set_hash(id, p, ENT_IP_PREFIX, buf, 1 + alen);
}

static void
ident_ip_geo(const struct ident *id, const uint8_t *a, size_t alen,
    struct geo_facts *gf)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	if (alen == 4) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, a, 4);
		geo_lookup(id->geo, (struct sockaddr *)&sin, gf);
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, a, 16);
		geo_lookup(id->geo, (struct sockaddr *)&sin6, gf);
	}
}

int
ident_ip(const struct ident *id, const char *s, size_t len, struct party *p,
    const char **err)
{
	uint8_t	a[16];
	size_t	alen;

	if ((alen = ident_ip_parse(s, len, a, err)) == 0)
		return (-1);
	ident_set_hash(id, p, ENT_IP, a, alen);
	ident_ip_prefix(id, p, a, alen);
	p->ip_version = alen == 4 ? 4 : 6;
	p->ip_private = ident_ip_private(a, alen == 16);
	p->facts |= PF_IP_INFO;
	memset(&p->geo, 0, sizeof(p->geo));
	/* Non-public addresses have no geography (some DBs claim one). */
	if (!p->ip_private)
		ident_ip_geo(id, a, alen, &p->geo);
	return (0);
}
