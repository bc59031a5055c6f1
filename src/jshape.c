/*
 * jshape.c: JSON text as a shape and its values (jshape.h).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "jshape.h"
#include "sbuf.h"
#include "util.h"

enum {
	J_LIT = 1,	/* true, false, null: one byte 0, 1, 2 */
	J_INT,		/* a canonical integer: zigzag varint */
	J_TIME,		/* "YYYY-MM-DDTHH:MM:SS.mmmZ": zigzag delta varint */
	J_MS,		/* "<canonical integer>ms": zigzag varint */
	J_STR,		/* another string value: varint length, its bytes */
	J_NUM		/* another number: varint length, its text */
};

/* String values of these keys name things: they stay in the shape. */
static const char *const keep_keys[] = {
	"rule", "expr", "fn", "mode", "action", "which", "by", NULL
};

static const char *const lits[] = { "true", "false", "null" };

static void
put_varint(struct sbuf *sb, uint64_t v)
{
	while (v >= 0x80) {
		sbuf_addc(sb, (char)((v & 0x7f) | 0x80));
		v >>= 7;
	}
	sbuf_addc(sb, (char)v);
}

static void
put_zz(struct sbuf *sb, int64_t v)
{
	put_varint(sb, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static int
get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	unsigned	shift = 0;

	*v = 0;
	while (*p < end && shift < 64) {
		uint8_t	b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return (0);
		shift += 7;
	}
	return (-1);
}

static int
get_zz(const uint8_t **p, const uint8_t *end, int64_t *v)
{
	uint64_t	u;

	if (get_varint(p, end, &u) != 0)
		return (-1);
	*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return (0);
}

/* s[n] is an integer as sbuf_add_int() writes it: *v. */
static bool
canon_int(const char *s, size_t n, int64_t *v)
{
	char	buf[24], *end;
	size_t	i = 0;

	if (n == 0 || n > 20)
		return (false);
	if (s[0] == '-')
		i = 1;
	if (i == n || (s[i] == '0' && n > i + 1) || (i == 1 && s[1] == '0'))
		return (false);
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return (false);
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	*v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0')
		return (false);
	snprintf(buf, sizeof(buf), "%lld", (long long)*v);
	return (strlen(buf) == n && memcmp(buf, s, n) == 0);
}

/* s[n] (without quotes) is a time as fmt_rfc3339() writes it: *ms. */
static bool
canon_time(const char *s, size_t n, int64_t *ms)
{
	char	buf[RFC3339_LEN];

	if (n != RFC3339_LEN - 1 || s[n - 1] != 'Z' || s[19] != '.' ||
	    parse_rfc3339(s, n, ms) != 0)
		return (false);
	fmt_rfc3339(*ms, buf);
	return (memcmp(buf, s, n) == 0);
}

/* The end of the string token starting at j[i] (the quote), or 0. */
static size_t
str_end(const char *j, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (j[i] == '\\') {
			i++;
			continue;
		}
		if (j[i] == '"')
			return (i + 1);
	}
	return (0);
}

static bool
keep_key(const char *k, size_t n)
{
	size_t	i;

	for (i = 0; keep_keys[i] != NULL; i++)
		if (strlen(keep_keys[i]) == n && memcmp(keep_keys[i], k, n) == 0)
			return (true);
	return (false);
}

int
jshape_split(const char *j, size_t len, struct sbuf *shape,
    struct sbuf *vals)
{
	const char	*key = NULL;
	size_t		 keylen = 0, i = 0, e, k, n;
	int64_t		 v, prev_ts = 0;
	unsigned	 l;

	while (i < len) {
		unsigned char	c = (unsigned char)j[i];

		if (c >= J_LIT && c <= J_NUM)
			return (-1);	/* a marker: not JSON text */
		if (c == '"') {
			if ((e = str_end(j, len, i)) == 0)
				return (-1);
			for (k = e; k < len && (j[k] == ' ' || j[k] == '\t' ||
			    j[k] == '\n' || j[k] == '\r'); k++)
				;
			n = e - i - 2;
			if (k < len && j[k] == ':') {		/* a key */
				key = j + i + 1;
				keylen = n;
				sbuf_add(shape, j + i, e - i);
			} else if (key != NULL && keep_key(key, keylen))
				sbuf_add(shape, j + i, e - i);
			else if (canon_time(j + i + 1, n, &v)) {
				sbuf_addc(shape, J_TIME);
				put_zz(vals, v - prev_ts);
				prev_ts = v;
			} else if (n > 2 && j[e - 3] == 'm' && j[e - 2] == 's' &&
			    canon_int(j + i + 1, n - 2, &v)) {
				sbuf_addc(shape, J_MS);
				put_zz(vals, v);
			} else {
				sbuf_addc(shape, J_STR);
				put_varint(vals, n);
				sbuf_add(vals, j + i + 1, n);
			}
			i = e;
			continue;
		}
		if (c == '-' || (c >= '0' && c <= '9')) {
			for (e = i + 1; e < len && (j[e] == '-' || j[e] == '+' ||
			    j[e] == '.' || j[e] == 'e' || j[e] == 'E' ||
			    (j[e] >= '0' && j[e] <= '9')); e++)
				;
			if (canon_int(j + i, e - i, &v)) {
				sbuf_addc(shape, J_INT);
				put_zz(vals, v);
			} else {
				sbuf_addc(shape, J_NUM);
				put_varint(vals, e - i);
				sbuf_add(vals, j + i, e - i);
			}
			i = e;
			continue;
		}
		for (l = 0; l < 3; l++)
			if (len - i >= strlen(lits[l]) &&
			    memcmp(j + i, lits[l], strlen(lits[l])) == 0)
				break;
		if (l < 3) {
			sbuf_addc(shape, J_LIT);
			sbuf_addc(vals, (char)l);
			i += strlen(lits[l]);
			continue;
		}
		sbuf_addc(shape, (char)c);
		i++;
	}
	return (0);
}

int
jshape_join(const char *shape, size_t slen, const uint8_t *vals,
    size_t vlen, struct sbuf *out)
{
	const uint8_t	*p = vals, *end = vals + vlen;
	char		 buf[RFC3339_LEN];
	uint64_t	 n;
	int64_t		 v, ts = 0;
	size_t		 i;

	for (i = 0; i < slen; i++) {
		switch ((unsigned char)shape[i]) {
		case J_LIT:
			if (p == end || *p > 2)
				return (-1);
			sbuf_adds(out, lits[*p++]);
			break;
		case J_INT:
			if (get_zz(&p, end, &v) != 0)
				return (-1);
			sbuf_add_int(out, v);
			break;
		case J_TIME:
			if (get_zz(&p, end, &v) != 0)
				return (-1);
			ts = (int64_t)((uint64_t)ts + (uint64_t)v);
			sbuf_addc(out, '"');
			sbuf_add(out, fmt_rfc3339(ts, buf), RFC3339_LEN - 1);
			sbuf_addc(out, '"');
			break;
		case J_MS:
			if (get_zz(&p, end, &v) != 0)
				return (-1);
			sbuf_addc(out, '"');
			sbuf_add_int(out, v);
			sbuf_adds(out, "ms\"");
			break;
		case J_STR:
		case J_NUM:
			if (get_varint(&p, end, &n) != 0 ||
			    n > (uint64_t)(end - p))
				return (-1);
			if (shape[i] == J_STR)
				sbuf_addc(out, '"');
			sbuf_add(out, p, (size_t)n);
			if (shape[i] == J_STR)
				sbuf_addc(out, '"');
			p += n;
			break;
		default:
			sbuf_addc(out, shape[i]);
			break;
		}
	}
	return (p == end ? 0 : -1);
}
