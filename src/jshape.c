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
#define K(s)	{ s, sizeof(s) - 1 }
static const struct {
	const char	*s;
	size_t		 n;
} keep_keys[] = {
	K("rule"), K("expr"), K("fn"), K("mode"), K("action"), K("which"),
	K("by")
}, lits[] = { K("true"), K("false"), K("null") };
#undef K

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
	uint64_t	u = 0, lim;
	size_t		i = 0;
	bool		neg = false;

	if (n > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	/* digits, no leading zero, not "-0" */
	if (i == n || n - i > 19 || (s[i] == '0' && (n > i + 1 || neg)))
		return (false);
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    u > (lim - (uint64_t)(s[i] - '0')) / 10)
			return (false);
		u = u * 10 + (uint64_t)(s[i] - '0');
	}
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return (true);
}

/*
 * s[n] (without quotes) is a time as fmt_rfc3339() writes it (which
 * time_add() writes back): *ms. A leap second, a lower-case letter or an
 * offset is not.
 */
static bool
canon_time(const char *s, size_t n, int64_t *ms)
{
	return (n == RFC3339_LEN - 1 && s[10] == 'T' && s[19] == '.' &&
	    s[n - 1] == 'Z' && !(s[17] == '6' && s[18] == '0') &&
	    parse_rfc3339(s, n, ms) == 0);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of ms (what fmt_rfc3339() writes), quoted. */
static void
time_add(struct sbuf *out, int64_t ms)
{
	char	*p = sbuf_space(out, RFC3339_LEN + 1);

	p[0] = '"';
	fmt_rfc3339(ms, p + 1);
	p[RFC3339_LEN] = '"';
	out->len += RFC3339_LEN + 1;
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

	for (i = 0; i < nitems(keep_keys); i++)
		if (keep_keys[i].n == n && keep_keys[i].s[0] == k[0] &&
		    memcmp(keep_keys[i].s, k, n) == 0)
			return (true);
	return (false);
}

/* Not the start of a token that may hold a value: copied as it is. */
static bool
plain(unsigned char c)
{
	return (c > J_NUM && c != '"' && c != '-' && !(c >= '0' && c <= '9') &&
	    c != 't' && c != 'f' && c != 'n');
}

/*
 * The split writes into room reserved once: the shape is never longer
 * than the text (a marker byte stands for a token of one byte or more),
 * and the values at most half as long again (a number kept as text, "1.5",
 * takes its length byte more than its text; numbers are apart by a byte
 * at least), plus a varint's few bytes.
 */
struct out {
	char	*p;
};

static inline void
out_put(struct out *o, const void *p, size_t n)
{
	memcpy(o->p, p, n);
	o->p += n;
}

static inline void
out_varint(struct out *o, uint64_t v)
{
	while (v >= 0x80) {
		*o->p++ = (char)((v & 0x7f) | 0x80);
		v >>= 7;
	}
	*o->p++ = (char)v;
}

static inline void
out_zz(struct out *o, int64_t v)
{
	out_varint(o, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* A string value s[n] (its text between the quotes): time, ms or string. */
static void
str_value(struct out *so, struct out *vo, const char *s, size_t n,
    int64_t *prev_ts)
{
	int64_t	v;

	if (canon_time(s, n, &v)) {
		*so->p++ = J_TIME;
		out_zz(vo, v - *prev_ts);
		*prev_ts = v;
	} else if (n > 2 && s[n - 2] == 'm' && s[n - 1] == 's' &&
	    canon_int(s, n - 2, &v)) {
		*so->p++ = J_MS;
		out_zz(vo, v);
	} else {
		*so->p++ = J_STR;
		out_varint(vo, n);
		out_put(vo, s, n);
	}
}

int
jshape_split(const char *j, size_t len, struct sbuf *shape,
    struct sbuf *vals)
{
	const char	*key = NULL;
	size_t		 keylen = 0, i = 0, e, k, n;
	int64_t		 v, prev_ts = 0;
	unsigned	 l;
	struct out	 so, vo;

	so.p = sbuf_space(shape, len);
	vo.p = sbuf_space(vals, len + len / 2 + 16);
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
				out_put(&so, j + i, e - i);
			} else if (key != NULL && keylen > 0 &&
			    keep_key(key, keylen))
				out_put(&so, j + i, e - i);
			else
				str_value(&so, &vo, j + i + 1, n, &prev_ts);
			i = e;
			continue;
		}
		if (c == '-' || (c >= '0' && c <= '9')) {
			for (e = i + 1; e < len && (j[e] == '-' || j[e] == '+' ||
			    j[e] == '.' || j[e] == 'e' || j[e] == 'E' ||
			    (j[e] >= '0' && j[e] <= '9')); e++)
				;
			if (canon_int(j + i, e - i, &v)) {
				*so.p++ = J_INT;
				out_zz(&vo, v);
			} else {
				*so.p++ = J_NUM;
				out_varint(&vo, e - i);
				out_put(&vo, j + i, e - i);
			}
			i = e;
			continue;
		}
		l = nitems(lits);
		if (c == 't' || c == 'f' || c == 'n')
			for (l = 0; l < nitems(lits); l++)
				if (len - i >= lits[l].n &&
				    memcmp(j + i, lits[l].s, lits[l].n) == 0)
					break;
		if (l < nitems(lits)) {
			*so.p++ = J_LIT;
			*vo.p++ = (char)l;
			i += lits[l].n;
			continue;
		}
		/* punctuation and blanks, in one run */
		for (e = i + 1; e < len && plain((unsigned char)j[e]); e++)
			;
		out_put(&so, j + i, e - i);
		i = e;
	}
	shape->len = (size_t)(so.p - shape->buf);
	shape->buf[shape->len] = '\0';
	vals->len = (size_t)(vo.p - vals->buf);
	vals->buf[vals->len] = '\0';
	return (0);
}

int
jshape_join(const char *shape, size_t slen, const uint8_t *vals,
    size_t vlen, struct sbuf *out)
{
	const uint8_t	*p = vals, *end = vals + vlen;
	uint64_t	 n;
	int64_t		 v, ts = 0;
	size_t		 i, e;

	for (i = 0; i < slen; i++) {
		switch ((unsigned char)shape[i]) {
		case J_LIT:
			if (p == end || *p > 2)
				return (-1);
			sbuf_add(out, lits[*p].s, lits[*p].n);
			p++;
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
			time_add(out, ts);
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
			for (e = i + 1; e < slen &&
			    (unsigned char)shape[e] > J_NUM; e++)
				;
			sbuf_add(out, shape + i, e - i);
			i = e - 1;
			break;
		}
	}
	return (p == end ? 0 : -1);
}

/* ---- writing the split form ------------------------------------------ */

/* Room for one marker and a value of n bytes, as struct out cursors. */
static void
w_begin(struct jshape_w *w, size_t n, struct out *so, struct out *vo)
{
	so->p = sbuf_space(&w->shape, 1);
	vo->p = sbuf_space(&w->vals, n + 20);
}

static void
w_end(struct jshape_w *w, const struct out *so, const struct out *vo)
{
	w->shape.len = (size_t)(so->p - w->shape.buf);
	w->vals.len = (size_t)(vo->p - w->vals.buf);
}

void
jshape_w_free(struct jshape_w *w)
{
	sbuf_free(&w->shape);
	sbuf_free(&w->vals);
	sbuf_free(&w->tmp);
	w->ts = 0;
}

void
jsw_raw(struct jshape_w *w, const char *s, size_t n)
{
	sbuf_add(&w->shape, s, n);
}

void
jsw_name(struct jshape_w *w, const char *s, size_t n)
{
	sbuf_add_jstr(&w->shape, s, n);
}

/* Marker m and zigzag varint v. */
static void
w_zz(struct jshape_w *w, char m, int64_t v)
{
	struct out	so, vo;

	w_begin(w, 0, &so, &vo);
	*so.p++ = m;
	out_zz(&vo, v);
	w_end(w, &so, &vo);
}

/* The string value w->tmp holds, quoted. */
static void
w_tmp_value(struct jshape_w *w)
{
	struct out	so, vo;

	w_begin(w, w->tmp.len, &so, &vo);
	str_value(&so, &vo, w->tmp.buf + 1, w->tmp.len - 2, &w->ts);
	w_end(w, &so, &vo);
}

void
jsw_str(struct jshape_w *w, const char *s, size_t n)
{
	sbuf_reset(&w->tmp);
	sbuf_add_jstr(&w->tmp, s, n);	/* quoted and escaped */
	w_tmp_value(w);
}

void
jsw_int(struct jshape_w *w, int64_t v)
{
	w_zz(w, J_INT, v);
}

void
jsw_double(struct jshape_w *w, double v)
{
	char	buf[64];
	int	n = snprintf(buf, sizeof(buf), "%.15g", v);

	/* Rare: split the few bytes (no string in them, so no key or time). */
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)jshape_split(buf, (size_t)n, &w->shape, &w->vals);
}

void
jsw_bool(struct jshape_w *w, bool b)
{
	sbuf_addc(&w->shape, J_LIT);
	sbuf_addc(&w->vals, b ? 0 : 1);
}

void
jsw_null(struct jshape_w *w)
{
	sbuf_addc(&w->shape, J_LIT);
	sbuf_addc(&w->vals, 2);
}

void
jsw_time(struct jshape_w *w, int64_t ms)
{
	if (ms < 0 || ms > TIME_MAX_MS) {	/* rare: classified from its text */
		sbuf_reset(&w->tmp);
		time_add(&w->tmp, ms);
		w_tmp_value(w);
		return;
	}
	w_zz(w, J_TIME, ms - w->ts);
	w->ts = ms;
}

void
jsw_ms(struct jshape_w *w, int64_t ms)
{
	w_zz(w, J_MS, ms);
}

int
jshape_join_sb(const struct sbuf *shape, const struct sbuf *vals,
    struct sbuf *out)
{
	return (jshape_join(shape->buf, shape->len,
	    (const uint8_t *)vals->buf, vals->len, out));
}

char *
jshape_join_text(const struct sbuf *shape, const struct sbuf *vals)
{
	struct sbuf	text;

	sbuf_init(&text, shape->len + 2 * vals->len + 64);
	if (jshape_join_sb(shape, vals, &text) != 0)
		sbuf_reset(&text);	/* cannot happen: a writer's form */
	return (sbuf_take(&text, NULL));
}
