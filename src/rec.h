/*
 * rec.h: the one codec of refguard's on-disk records and keys (events,
 * verdicts, index and link keys, labels, lists).
 *
 * Fields are big-endian (keys then sort as numbers), strings carry their
 * length in front. A writer appends fields; a reader takes them in the
 * same order. Both keep their first error: a caller writes or reads a
 * whole record and asks once at the end (rec_w_err(), rec_r_end()), as
 * OpenSMTPD's m_get/m_end do. A reader that ran short reads zeros and
 * empty strings from then on, leaves byte fields as they were, and never
 * reads beyond its bytes.
 *
 * Only the order of the calls makes a format: the formats themselves are
 * documented beside their encoders (rgev.h, verdict_rec.h, store_int.h,
 * store_aux.h), and tests/unit/test_rec.c holds their golden bytes.
 */
#ifndef REFGUARD_REC_H
#define REFGUARD_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writer. Into the caller's buffer (rec_w_fixed) or a growing one. */
struct rec_w {
	uint8_t	*buf;
	size_t	 len;
	size_t	 cap;
	bool	 grows;		/* buf is the writer's (malloc) */
	bool	 err;		/* a fixed buffer ran out: len stays put */
};

/* Write into buf (cap bytes); nothing is allocated. */
void	rec_w_fixed(struct rec_w *w, void *buf, size_t cap);
/* Write into a buffer that grows (hint: first size); rec_w_take/free. */
void	rec_w_init(struct rec_w *w, size_t hint);
/* Hand the bytes to the caller (free()), their length in *len. */
void	*rec_w_take(struct rec_w *w, size_t *len);
void	rec_w_free(struct rec_w *w);
/* Empty it, keeping its buffer. */
void	rec_w_reset(struct rec_w *w);
/* -1 once a field did not fit in a fixed buffer, else 0. */
int	rec_w_err(const struct rec_w *w);

void	rec_put_u8(struct rec_w *w, uint8_t v);
void	rec_put_u16(struct rec_w *w, uint16_t v);
void	rec_put_u32(struct rec_w *w, uint32_t v);
void	rec_put_u64(struct rec_w *w, uint64_t v);
/* The low 48 bits of v (the caller checked v < 2^48: REC_U48_MAX). */
#define REC_U48_MAX	((1ULL << 48) - 1)
void	rec_put_u48(struct rec_w *w, uint64_t v);
void	rec_put_bytes(struct rec_w *w, const void *p, size_t n);
/* A string of at most max (< 256) bytes after a u8 length. */
void	rec_put_str8(struct rec_w *w, const char *s, size_t max);
/* A string of at most max (< 65536) bytes after a u16 length. */
void	rec_put_str16(struct rec_w *w, const char *s, size_t max);

/* Reader over len bytes at p (not copied: they must outlive it). */
struct rec_r {
	const uint8_t	*p;
	const uint8_t	*end;
	bool		 bad;	/* a field ran past the end, or was refused */
};

void	rec_r_init(struct rec_r *r, const void *p, size_t len);
uint8_t	rec_get_u8(struct rec_r *r);
uint16_t rec_get_u16(struct rec_r *r);
uint32_t rec_get_u32(struct rec_r *r);
uint64_t rec_get_u64(struct rec_r *r);
uint64_t rec_get_u48(struct rec_r *r);
/* n bytes into b (left as they were when short). */
void	rec_get_bytes(struct rec_r *r, void *b, size_t n);
/* n bytes in place: a pointer into the record, NULL when short. */
const void *rec_get_ref(struct rec_r *r, size_t n);
/* A u8-length string into buf of cap bytes, NUL-terminated ("" on error;
 * longer than cap - 1 is an error). Returns its length. */
size_t	rec_get_str8(struct rec_r *r, char *buf, size_t cap);
/* The same after a u16 length. */
size_t	rec_get_str16(struct rec_r *r, char *buf, size_t cap);
/* Bytes not read yet. */
size_t	rec_left(const struct rec_r *r);
/* Mark the record malformed (a field read well but out of range). */
void	rec_r_fail(struct rec_r *r);
/* 0 when every field was read and nothing is left over, else -1. */
int	rec_r_end(const struct rec_r *r);
/* 0 when every field was read so far (bytes may remain), else -1. */
int	rec_r_err(const struct rec_r *r);

#endif
