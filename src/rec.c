/* rec.c: the record codec (rec.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "util.h"

void
rec_w_fixed(struct rec_w *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = cap;
	w->grows = false;
	w->err = false;
}

void
rec_w_init(struct rec_w *w, size_t hint)
{
	w->cap = hint > 0 ? hint : 64;
	w->buf = xmalloc(w->cap);
	w->len = 0;
	w->grows = true;
	w->err = false;
}

void *
rec_w_take(struct rec_w *w, size_t *len)
{
	void	*p = w->buf;

	*len = w->len;
	w->buf = NULL;
	w->len = w->cap = 0;
	return (p);
}

void
rec_w_free(struct rec_w *w)
{
	if (w->grows)
		free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

void
rec_w_reset(struct rec_w *w)
{
	w->len = 0;
}

int
rec_w_err(const struct rec_w *w)
{
	return (w->err ? -1 : 0);
}

/* Room for n more bytes, or NULL (a fixed buffer is full: sticky). */
static uint8_t *
w_room(struct rec_w *w, size_t n)
{
	uint8_t	*p;

	if (w->err)
		return (NULL);
	if (w->cap - w->len < n) {
		if (!w->grows) {
			w->err = true;
			return (NULL);
		}
		while (w->cap - w->len < n)
			w->cap *= 2;
		w->buf = xreallocarray(w->buf, w->cap, 1);
	}
	p = w->buf + w->len;
	w->len += n;
	return (p);
}

static void
put_be(struct rec_w *w, uint64_t v, int n)
{
	uint8_t	*p;

	if ((p = w_room(w, (size_t)n)) != NULL)
		be_put(p, v, n);
}

void
rec_put_u8(struct rec_w *w, uint8_t v)
{
	put_be(w, v, 1);
}

void
rec_put_u16(struct rec_w *w, uint16_t v)
{
	put_be(w, v, 2);
}

void
rec_put_u32(struct rec_w *w, uint32_t v)
{
	put_be(w, v, 4);
}

void
rec_put_u64(struct rec_w *w, uint64_t v)
{
	put_be(w, v, 8);
}

void
rec_put_u48(struct rec_w *w, uint64_t v)
{
	put_be(w, v & REC_U48_MAX, 6);
}

void
rec_put_bytes(struct rec_w *w, const void *b, size_t n)
{
	uint8_t	*p;

	if (n > 0 && (p = w_room(w, n)) != NULL)
		memcpy(p, b, n);
}

void
rec_put_str8(struct rec_w *w, const char *s, size_t max)
{
	size_t	n = strnlen(s, max > 255 ? 255 : max);

	rec_put_u8(w, (uint8_t)n);
	rec_put_bytes(w, s, n);
}

void
rec_put_str16(struct rec_w *w, const char *s, size_t max)
{
	size_t	n = strnlen(s, max > 65535 ? 65535 : max);

	rec_put_u16(w, (uint16_t)n);
	rec_put_bytes(w, s, n);
}

void
rec_r_init(struct rec_r *r, const void *p, size_t len)
{
	r->p = p;
	r->end = r->p + len;
	r->bad = false;
}

/* The next n bytes, or NULL (and the reader is bad from then on). */
static const uint8_t *
r_take(struct rec_r *r, size_t n)
{
	const uint8_t	*p;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return (NULL);
	}
	p = r->p;
	r->p += n;
	return (p);
}

static uint64_t
get_be(struct rec_r *r, int n)
{
	const uint8_t	*p = r_take(r, (size_t)n);

	return (p != NULL ? be_get(p, n) : 0);
}

uint8_t
rec_get_u8(struct rec_r *r)
{
	return ((uint8_t)get_be(r, 1));
}

uint16_t
rec_get_u16(struct rec_r *r)
{
	return ((uint16_t)get_be(r, 2));
}

uint32_t
rec_get_u32(struct rec_r *r)
{
	return ((uint32_t)get_be(r, 4));
}

uint64_t
rec_get_u64(struct rec_r *r)
{
	return (get_be(r, 8));
}

uint64_t
rec_get_u48(struct rec_r *r)
{
	return (get_be(r, 6));
}

void
rec_get_bytes(struct rec_r *r, void *b, size_t n)
{
	const uint8_t	*p = r_take(r, n);

	if (p != NULL)
		memcpy(b, p, n);
}

const void *
rec_get_ref(struct rec_r *r, size_t n)
{
	return (r_take(r, n));
}

/* A string of n bytes (its length read already) into buf. */
static size_t
get_str(struct rec_r *r, size_t n, char *buf, size_t cap)
{
	if (n >= cap)
		r->bad = true;
	if (r->bad) {
		buf[0] = '\0';
		return (0);
	}
	rec_get_bytes(r, buf, n);
	buf[r->bad ? 0 : n] = '\0';
	return (r->bad ? 0 : n);
}

size_t
rec_get_str8(struct rec_r *r, char *buf, size_t cap)
{
	return (get_str(r, rec_get_u8(r), buf, cap));
}

size_t
rec_get_str16(struct rec_r *r, char *buf, size_t cap)
{
	return (get_str(r, rec_get_u16(r), buf, cap));
}

size_t
rec_left(const struct rec_r *r)
{
	return (r->bad ? 0 : (size_t)(r->end - r->p));
}

void
rec_r_fail(struct rec_r *r)
{
	r->bad = true;
}

int
rec_r_end(const struct rec_r *r)
{
	return (r->bad || r->p != r->end ? -1 : 0);
}

int
rec_r_err(const struct rec_r *r)
{
	return (r->bad ? -1 : 0);
}
