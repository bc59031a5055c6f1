/*
 * store_vrec.c: verdict records as the store keeps them (store_vrec.h).
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "sbuf.h"
#include "store.h"
#include "util.h"
#include "verdict_rec.h"
#include "store_vrec.h"
#include "store_xshape.h"

enum { FIELD_RAW, FIELD_SHAPE };

/* A JSON field: as a shape's values when it takes that form. */
static int
put_json(struct rec_w *w, struct store_txn *txn, struct sbuf *tmp,
    const char *s, size_t n)
{
	int	rc;

	sbuf_reset(tmp);
	if ((rc = store_xshape_pack(txn, tmp, s, n, NULL)) < 0)
		return (-1);
	rec_put_u8(w, rc == 1 ? FIELD_SHAPE : FIELD_RAW);
	rec_put_u32(w, (uint32_t)(rc == 1 ? tmp->len : n));
	rec_put_bytes(w, rc == 1 ? tmp->buf : s, rc == 1 ? tmp->len : n);
	return (0);
}

static void
put_raw(struct rec_w *w, const char *s, size_t n)
{
	rec_put_u8(w, FIELD_RAW);
	rec_put_u32(w, (uint32_t)n);
	rec_put_bytes(w, s, n);
}

int
store_vrec_pack(struct store_txn *txn, const void *rec, size_t len,
    struct sbuf *out)
{
	struct verdict_rec	 r;
	struct verdict_ver_iter	 it;
	struct verdict_ver	 v;
	struct rec_w		 w;
	struct sbuf		 tmp;
	void			*back = NULL, *p;
	size_t			 n, blen;
	unsigned		 i;
	int			 ret = 0;

	if (verdict_rec_decode(rec, len, &r) != 0 || !r.summed ||
	    r.nrechecks > UINT16_MAX)
		return (0);
	sbuf_init(&tmp, 256);
	rec_w_init(&w, len);
	rec_put_u8(&w, STORE_VREC_PACKED);
	rec_put_u64(&w, r.seq);
	rec_put_u8(&w, r.action);
	rec_put_u32(&w, (uint32_t)r.score);
	rec_put_u16(&w, (uint16_t)r.nrechecks);
	if (put_json(&w, txn, &tmp, r.reply, r.replylen) != 0)
		goto fail;
	put_raw(&w, r.explain, r.explainlen);
	verdict_ver_iter_init(&it, &r);
	for (i = 0; i < r.nrechecks; i++) {
		if (verdict_ver_next(&it, &v) != 0)
			goto out;
		rec_put_u64(&w, (uint64_t)v.ts);
		rec_put_u8(&w, v.action);
		rec_put_u32(&w, (uint32_t)v.score);
		if (put_json(&w, txn, &tmp, v.reply, v.replylen) != 0 ||
		    put_json(&w, txn, &tmp, v.delta, v.deltalen) != 0)
			goto fail;
		put_raw(&w, v.explain, v.explainlen);
	}
	/* The record's own checksum, kept: the record built back must match it. */
	rec_put_bytes(&w, (const uint8_t *)rec + len - STORE_VREC_SUM,
	    STORE_VREC_SUM);
	if (rec_w_err(&w) != 0)
		goto out;
	p = rec_w_take(&w, &n);
	/* Byte for byte, or not at all. */
	if (n < len && store_vrec_unpack(txn, p, n, &back, &blen) == 0 &&
	    blen == len && memcmp(back, rec, len) == 0) {
		sbuf_add(out, p, n);
		ret = 1;
	}
	free(back);
	free(p);
	sbuf_free(&tmp);
	return (ret);
fail:
	ret = -1;
out:
	rec_w_free(&w);
	sbuf_free(&tmp);
	return (ret);
}

bool
store_vrec_packed(const void *rec, size_t len)
{
	return (len > 9 && *(const uint8_t *)rec == STORE_VREC_PACKED);
}

/*
 * Where a field's text is, as an offset: below the packed record's
 * length into the record itself (a raw field, used in place), else into
 * all (a shape's text, rendered there) past that length.
 */
struct field_at {
	const uint8_t	*rec;
	size_t		 reclen;
	struct sbuf	*all;
};

static const char *
field_ptr(const struct field_at *fa, size_t off)
{
	return (off < fa->reclen ? (const char *)fa->rec + off :
	    fa->all->buf + (off - fa->reclen));
}

/* The next field: its offset and length. 0, or -1. */
static int
get_field(struct rec_r *rd, struct store_txn *txn, struct field_at *fa,
    size_t *off, size_t *n)
{
	uint8_t		 form = rec_get_u8(rd);
	uint32_t	 len = rec_get_u32(rd);
	const uint8_t	*p = rec_get_ref(rd, len);

	if (rec_r_err(rd) != 0)
		return (-1);
	if (form == FIELD_RAW) {
		*off = len == 0 ? 0 : (size_t)(p - fa->rec);
		*n = len;
		return (0);
	}
	*off = fa->reclen + fa->all->len;
	if (form != FIELD_SHAPE || store_xshape_text(fa->all, txn, p,
	    len) != 0)
		return (-1);
	*n = fa->all->len - (*off - fa->reclen);
	return (0);
}

void
store_vrec_buf_init(struct store_vrec_buf *b)
{
	sbuf_init(&b->texts, 1024);
	rec_w_init(&b->at, 256);
	rec_w_init(&b->rechecks, 256);
}

void
store_vrec_buf_free(struct store_vrec_buf *b)
{
	sbuf_free(&b->texts);
	rec_w_free(&b->at);
	rec_w_free(&b->rechecks);
}

/*
 * The packed record p[plen] split into *r, its texts in place or in b,
 * and where its checksum is (*sum). 0, or -1 when it is malformed or a
 * shape it names cannot be read.
 */
static int
split(struct store_txn *txn, const void *p, size_t plen,
    struct store_vrec_buf *b, struct verdict_rec *r, const void **sum)
{
	struct rec_r		 rd, vr;
	struct field_at		 fa;
	size_t			 ro, rn, eo, en, o[3], l[3];
	struct verdict_ver	 v;
	unsigned		 i;

	if (!store_vrec_packed(p, plen))
		return (-1);
	memset(r, 0, sizeof(*r));
	fa.rec = p;
	fa.reclen = plen;
	fa.all = &b->texts;
	sbuf_reset(&b->texts);
	rec_w_reset(&b->at);
	rec_w_reset(&b->rechecks);
	rec_r_init(&rd, p, plen);
	(void)rec_get_u8(&rd);
	r->seq = rec_get_u64(&rd);
	r->action = rec_get_u8(&rd);
	r->score = (int32_t)rec_get_u32(&rd);
	r->nrechecks = rec_get_u16(&rd);
	if (get_field(&rd, txn, &fa, &ro, &rn) != 0 ||
	    get_field(&rd, txn, &fa, &eo, &en) != 0)
		return (-1);
	/* The re-checks' texts too; encoded once all is built. */
	for (i = 0; i < r->nrechecks; i++) {
		memset(&v, 0, sizeof(v));
		v.ts = (int64_t)rec_get_u64(&rd);
		v.action = rec_get_u8(&rd);
		v.score = (int32_t)rec_get_u32(&rd);
		if (get_field(&rd, txn, &fa, &o[0], &l[0]) != 0 ||
		    get_field(&rd, txn, &fa, &o[1], &l[1]) != 0 ||
		    get_field(&rd, txn, &fa, &o[2], &l[2]) != 0)
			return (-1);
		rec_put_u64(&b->at, (uint64_t)v.ts);
		rec_put_u8(&b->at, v.action);
		rec_put_u32(&b->at, (uint32_t)v.score);
		rec_put_u64(&b->at, o[0]);
		rec_put_u64(&b->at, l[0]);
		rec_put_u64(&b->at, o[1]);
		rec_put_u64(&b->at, l[1]);
		rec_put_u64(&b->at, o[2]);
		rec_put_u64(&b->at, l[2]);
	}
	*sum = rec_get_ref(&rd, STORE_VREC_SUM);
	if (rec_r_end(&rd) != 0 || rec_w_err(&b->at) != 0)
		return (-1);

	/* Offsets into all, now that it no longer moves. */
	rec_r_init(&vr, b->at.buf, b->at.len);
	for (i = 0; i < r->nrechecks; i++) {
		v.ts = (int64_t)rec_get_u64(&vr);
		v.action = rec_get_u8(&vr);
		v.score = (int32_t)rec_get_u32(&vr);
		o[0] = rec_get_u64(&vr);
		v.replylen = rec_get_u64(&vr);
		o[1] = rec_get_u64(&vr);
		v.deltalen = rec_get_u64(&vr);
		o[2] = rec_get_u64(&vr);
		v.explainlen = rec_get_u64(&vr);
		v.reply = field_ptr(&fa, o[0]);
		v.delta = field_ptr(&fa, o[1]);
		v.explain = field_ptr(&fa, o[2]);
		verdict_ver_encode(&b->rechecks, &v);
	}
	r->reply = field_ptr(&fa, ro);
	r->replylen = rn;
	r->explain = field_ptr(&fa, eo);
	r->explainlen = en;
	r->rechecks = (const uint8_t *)b->rechecks.buf;
	r->rechecks_len = b->rechecks.len;
	r->summed = true;
	return (0);
}

int
store_vrec_unpack(struct store_txn *txn, const void *p, size_t plen, void **rec,
    size_t *len)
{
	struct store_vrec_buf	 b;
	struct verdict_rec	 r;
	const void		*sum;
	int			 ret = -1;

	store_vrec_buf_init(&b);
	if (split(txn, p, plen, &b, &r, &sum) == 0) {
		*rec = verdict_rec_encode(&r, len);
		/*
		 * The checksum of the record that was put, not of what was
		 * read: a byte changed in the packed form fails the record's
		 * own check (verdict_rec_decode), and it is reported corrupt.
		 */
		memcpy((uint8_t *)*rec + *len - STORE_VREC_SUM, sum,
		    STORE_VREC_SUM);
		ret = 0;
	}
	store_vrec_buf_free(&b);
	return (ret);
}

int
store_vrec_split(struct store_txn *txn, const void *p, size_t plen,
    struct store_vrec_buf *b, struct verdict_rec *r)
{
	struct rec_r	 sr;
	const void	*sum;

	if (split(txn, p, plen, b, r, &sum) != 0)
		return (-1);
	rec_r_init(&sr, sum, STORE_VREC_SUM);
	return (rec_get_u64(&sr) == verdict_rec_sum(r) ? 0 : -1);
}
