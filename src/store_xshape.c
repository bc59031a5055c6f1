/*
 * store_xshape.c: explain texts stored as a shape and its values
 * (store_xshape.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#include "jshape.h"
#include "log.h"
#include "sbuf.h"
#include "store.h"
#include "util.h"
#include "store_xshape.h"

/*
 * Shapes a thread keeps, by id (direct-mapped): a rule set's explains
 * come in a few hundred (437 in 30,000 of the bench's checks), and a
 * miss reads, decompresses and copies one.
 */
#define XSHAPE_CACHE	1024
#define XSHAPE_LEVEL	3		/* ~500 bytes: cheap at any level */
#define XSHAPE_MAX	(16U << 20)	/* a shape or values, decompressed */
#define XSHAPE_BASES	4		/* entries a new one is tried against */
#define XSHAPE_DELTA	0x01		/* a meta entry stored against another */

struct shape {
	uint64_t	 id;		/* XXH3-64 of shape and reference */
	uint64_t	 sid;		/* XXH3-64 of the shape alone */
	uint64_t	 base;		/* stored against it (0: whole) */
	uint8_t		*blob;		/* slen(4), the shape, the reference */
	const char	*shape;		/* in blob */
	size_t		 slen;
	size_t		 rlen;
};

struct xstate {
	ZSTD_CCtx	*cctx;
	ZSTD_DCtx	*dctx;
	struct shape	 c[XSHAPE_CACHE];
	struct {
		uint64_t	 id;
		ZSTD_CDict	*cd;		/* its content, ready (or NULL) */
	}		 bases[XSHAPE_BASES];	/* whole entries, last used first:
					   ~220 KB each made ready */
	struct store_xsplit sp;		/* a split made here */
	struct sbuf	 check, tmp, dvals;	/* dvals: a text's, decompressed */
	struct sbuf	 best, cand;	/* a new entry's stored forms */
};

static pthread_key_t	xstate_key;
static pthread_once_t	xstate_once = PTHREAD_ONCE_INIT;

static void
xstate_free(void *p)
{
	struct xstate	*xs = p;
	unsigned	 i;

	ZSTD_freeCCtx(xs->cctx);
	ZSTD_freeDCtx(xs->dctx);
	for (i = 0; i < XSHAPE_CACHE; i++)
		free(xs->c[i].blob);
	for (i = 0; i < XSHAPE_BASES; i++)
		ZSTD_freeCDict(xs->bases[i].cd);
	store_xsplit_free(&xs->sp);
	sbuf_free(&xs->check);
	sbuf_free(&xs->dvals);
	sbuf_free(&xs->tmp);
	sbuf_free(&xs->best);
	sbuf_free(&xs->cand);
	free(xs);
}

static void
xstate_init(void)
{
	if (pthread_key_create(&xstate_key, xstate_free) != 0)
		fatalx("pthread_key_create");
}

static struct xstate *
xstate_get(void)
{
	struct xstate	*xs;

	pthread_once(&xstate_once, xstate_init);
	if ((xs = pthread_getspecific(xstate_key)) == NULL) {
		xs = xcalloc(1, sizeof(*xs));
		if ((xs->cctx = ZSTD_createCCtx()) == NULL ||
		    (xs->dctx = ZSTD_createDCtx()) == NULL)
			fatalx("ZSTD_createCCtx");
		sbuf_init(&xs->check, 16384);
		sbuf_init(&xs->tmp, 16384);
		pthread_setspecific(xstate_key, xs);
	}
	return (xs);
}

static void
shape_name(char *buf, size_t len, const char *prefix, uint64_t id)
{
	snprintf(buf, len, "%s:%016llx", prefix, (unsigned long long)id);
}

/*
 * The cached entry id (sid false), or one of shape id (sid true: a shape
 * new to the store, rare enough for a walk).
 */
static struct shape *
cache_find(struct xstate *xs, uint64_t id, bool sid)
{
	struct shape	*e;
	unsigned	 i;

	if (!sid) {
		e = &xs->c[id & (XSHAPE_CACHE - 1)];
		return (e->blob != NULL && e->id == id ? e : NULL);
	}
	for (i = 0; i < XSHAPE_CACHE; i++)
		if (xs->c[i].blob != NULL && xs->c[i].sid == id)
			return (&xs->c[i]);
	return (NULL);
}

/* Keep the entry of shape s[slen] and reference values r[rlen]. */
static struct shape *
cache_add(struct xstate *xs, const char *s, size_t slen, const char *r,
    size_t rlen)
{
	struct shape	*e;
	uint8_t		*p;
	uint64_t	 id;

	p = xmalloc(4 + slen + rlen + 1);
	be_put(p, slen, 4);
	memcpy(p + 4, s, slen);
	memcpy(p + 4 + slen, r, rlen);
	id = XXH3_64bits(p + 4, slen + rlen);
	e = &xs->c[id & (XSHAPE_CACHE - 1)];
	free(e->blob);
	e->blob = p;
	e->shape = (const char *)p + 4;
	e->slen = slen;
	e->rlen = rlen;
	e->id = id;
	e->sid = XXH3_64bits(p + 4, slen);
	e->base = 0;
	return (e);
}

/* Entry id is now the whole entry this thread used last. */
static void
base_touch(struct xstate *xs, uint64_t id)
{
	ZSTD_CDict	*cd;
	unsigned	 i;

	for (i = 0; i < XSHAPE_BASES - 1 && xs->bases[i].id != id; i++)
		;
	cd = xs->bases[i].cd;
	if (xs->bases[i].id != id) {
		ZSTD_freeCDict(cd);	/* the one used longest ago */
		cd = NULL;
	}
	memmove(&xs->bases[1], &xs->bases[0], i * sizeof(xs->bases[0]));
	xs->bases[0].id = id;
	xs->bases[0].cd = cd;
}

/* Does txn's store hold entry id whole? 1 yes, 0 no, -1 txn failed. */
static int
stored_whole(struct store_txn *txn, uint64_t id, const void **v,
    size_t *vlen)
{
	char	name[32];
	int	rc;

	shape_name(name, sizeof(name), "xshape", id);
	if ((rc = store_meta_get(txn, name, v, vlen)) != 0)
		return (rc < 0 ? -1 : 0);
	return (*vlen > 0 && *(const uint8_t *)*v == XSHAPE_DELTA ? 0 : 1);
}

static struct shape *shape_load(struct xstate *, struct store_txn *,
	    uint64_t, const void *, size_t);

/* The whole entry id of txn's store, cached or read: NULL if none. */
static struct shape *
base_get(struct xstate *xs, struct store_txn *txn, uint64_t id)
{
	struct shape	*e;
	const void	*v;
	size_t		 vlen;

	if (txn == NULL || stored_whole(txn, id, &v, &vlen) != 1)
		return (NULL);
	if ((e = cache_find(xs, id, false)) != NULL)
		return (e);
	return (shape_load(xs, txn, id, v, vlen));
}

/*
 * Meta entry id, v[vlen], into the cache (store_xshape.h has its forms;
 * one stored against another needs txn, which holds that one whole);
 * NULL when it is corrupt or its base missing.
 */
static struct shape *
shape_load(struct xstate *xs, struct store_txn *txn, uint64_t id,
    const void *v, size_t vlen)
{
	const uint8_t		*q = v;
	struct shape		*b = NULL, *e;
	unsigned long long	 n;
	size_t			 got, slen;
	uint64_t		 bid = 0;
	uint8_t			*p;

	if (vlen > 9 && q[0] == XSHAPE_DELTA) {
		bid = be_get(q + 1, 8);
		if (bid == id || (b = base_get(xs, txn, bid)) == NULL)
			return (NULL);
		q += 9;
		vlen -= 9;
	}
	n = ZSTD_getFrameContentSize(q, vlen);
	if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN ||
	    n < 4 || n > XSHAPE_MAX)
		return (NULL);
	sbuf_reset(&xs->tmp);
	p = (uint8_t *)sbuf_space(&xs->tmp, (size_t)n);
	if (b != NULL)
		got = ZSTD_decompress_usingDict(xs->dctx, p, (size_t)n, q,
		    vlen, b->blob, 4 + b->slen + b->rlen);
	else
		got = ZSTD_decompressDCtx(xs->dctx, p, (size_t)n, q, vlen);
	if (ZSTD_isError(got) || got != n)
		return (NULL);
	slen = (size_t)be_get(p, 4);
	if (slen > got - 4 || XXH3_64bits(p + 4, got - 4) != id)
		return (NULL);
	e = cache_add(xs, (char *)p + 4, slen, (char *)p + 4 + slen,
	    got - 4 - slen);
	e->base = bid;
	return (e);
}

static void
shape_swap(struct sbuf *a, struct sbuf *b)
{
	struct sbuf	t = *a;

	*a = *b;
	*b = t;
}

/*
 * Put cache entry e in txn's store, and name it its shape's: 1, 0 not
 * put, -1 txn failed. Stored against one of the whole entries this
 * thread used last (a new explain shape differs from one of the same
 * rules where a few rules stopped elsewhere: a few hundred bytes instead
 * of a few thousand), or whole.
 */
static int
shape_persist(struct xstate *xs, struct store_txn *txn, struct shape *e)
{
	size_t		 n = 4 + e->slen + e->rlen, bound = ZSTD_compressBound(n);
	size_t		 z, vlen;
	uint8_t		 idb[8];
	uint64_t	 id, bid = 0;
	struct shape	*b;
	const void	*v;
	char		*p, name[32];
	unsigned	 i;
	int		 rc;

	be_put(idb, e->id, 8);
	shape_name(name, sizeof(name), "xshapeid", e->sid);
	if (store_meta_put(txn, name, idb, sizeof(idb)) != 0)
		return (-1);
	shape_name(name, sizeof(name), "xshape", e->id);
	if ((rc = store_meta_get(txn, name, &v, &vlen)) != 1)
		return (rc < 0 ? -1 : 1);	/* there already */

	/*
	 * Against the whole entries this thread used last, until one takes it
	 * 16 to 1 (no whole one does: those take it 8 to 1)...
	 */
	sbuf_reset(&xs->best);
	for (i = 0; i < XSHAPE_BASES && (xs->best.len == 0 ||
	    xs->best.len > n / 16); i++) {
		id = xs->bases[i].id;
		if (id == 0 || id == e->id)
			continue;
		if ((rc = stored_whole(txn, id, &v, &vlen)) < 0)
			return (-1);
		if (rc == 0)
			continue;
		/* A base's tables: made once, kept while it is one of these. */
		if (xs->bases[i].cd == NULL) {
			if ((b = cache_find(xs, id, false)) == NULL)
				continue;
			xs->bases[i].cd = ZSTD_createCDict(b->blob,
			    4 + b->slen + b->rlen, XSHAPE_LEVEL);
			if (xs->bases[i].cd == NULL)
				fatalx("ZSTD_createCDict");
		}
		sbuf_reset(&xs->cand);
		p = sbuf_space(&xs->cand, 9 + bound);
		z = ZSTD_compress_usingCDict(xs->cctx, p + 9, bound, e->blob, n,
		    xs->bases[i].cd);
		if (ZSTD_isError(z) || (xs->best.len > 0 &&
		    9 + z >= xs->best.len))
			continue;
		p[0] = (char)XSHAPE_DELTA;
		be_put((uint8_t *)p + 1, id, 8);
		xs->cand.len = 9 + z;
		shape_swap(&xs->best, &xs->cand);
		bid = id;
	}
	/*
	 * ...or whole unless that takes a quarter more: the first shape of
	 * new rules (which another's would take nearly whole) is the base of
	 * the next ones.
	 */
	if (xs->best.len == 0 || xs->best.len > n / 16) {
		sbuf_reset(&xs->cand);
		p = sbuf_space(&xs->cand, bound);
		z = ZSTD_compressCCtx(xs->cctx, p, bound, e->blob, n,
		    XSHAPE_LEVEL);
		if (ZSTD_isError(z))
			return (0);	/* cannot happen with bound */
		xs->cand.len = z;
		if (xs->best.len == 0 || z * 4 < xs->best.len * 5) {
			shape_swap(&xs->best, &xs->cand);
			bid = 0;
		}
	}
	if (store_meta_put(txn, name, xs->best.buf, xs->best.len) != 0)
		return (-1);
	e->base = bid;
	base_touch(xs, bid != 0 ? bid : e->id);
	return (1);
}

int
store_xshape_split(const char *s, size_t len, struct store_xsplit *sp)
{
	struct xstate	*xs = xstate_get();

	sbuf_reset(&sp->shape);
	sbuf_reset(&sp->vals);
	sbuf_reset(&sp->packed);
	sbuf_reset(&xs->check);
	sp->ok = false;
	if (jshape_split(s, len, &sp->shape, &sp->vals) != 0)
		return (0);
	/* Byte for byte, or not at all. */
	if (jshape_join_sb(&sp->shape, &sp->vals, &xs->check) != 0 ||
	    xs->check.len != len || memcmp(xs->check.buf, s, len) != 0)
		return (0);
	sp->sid = XXH3_64bits(sp->shape.buf, sp->shape.len);
	sp->ok = true;
	return (1);
}

void
store_xshape_take(struct store_xsplit *sp, struct sbuf *shape,
    struct sbuf *vals)
{
	sbuf_free(&sp->shape);
	sbuf_free(&sp->vals);
	sbuf_reset(&sp->packed);
	sp->shape = *shape;
	sp->vals = *vals;
	memset(shape, 0, sizeof(*shape));
	memset(vals, 0, sizeof(*vals));
	sp->sid = XXH3_64bits(sp->shape.buf, sp->shape.len);
	sp->ok = true;
}

void
store_xsplit_free(struct store_xsplit *sp)
{
	sbuf_free(&sp->shape);
	sbuf_free(&sp->vals);
	sbuf_free(&sp->packed);
	sp->ok = false;
}

/*
 * The cache entry of shape sid as txn's store holds it: 1 and *ep, 0 when
 * the store has none (or it is missing or corrupt: *ep NULL then, with
 * 2), -1 txn failed.
 */
static int
shape_stored(struct xstate *xs, struct store_txn *txn, uint64_t sid,
    struct shape **ep)
{
	const void	*v;
	size_t		 vlen;
	uint64_t	 id;
	char		 name[32];
	int		 rc;

	*ep = NULL;
	shape_name(name, sizeof(name), "xshapeid", sid);
	if ((rc = store_meta_get(txn, name, &v, &vlen)) < 0)
		return (-1);
	if (rc != 0)
		return (0);
	if (vlen != 8)
		return (2);
	id = be_get(v, 8);
	if ((*ep = cache_find(xs, id, false)) == NULL) {
		shape_name(name, sizeof(name), "xshape", id);
		if ((rc = store_meta_get(txn, name, &v, &vlen)) < 0)
			return (-1);
		if (rc == 1 || (*ep = shape_load(xs, txn, id, v, vlen)) ==
		    NULL)
			return (2);	/* missing or corrupt */
	}
	base_touch(xs, (*ep)->base != 0 ? (*ep)->base : (*ep)->id);
	return (1);
}

/* Append sp's values, compressed against entry e, to sb: 1, or 0. */
static int
shape_compress(struct xstate *xs, const struct shape *e,
    const struct store_xsplit *sp, struct sbuf *sb)
{
	size_t	 bound, z;
	char	*p;

	if (e->slen != sp->shape.len ||
	    memcmp(e->shape, sp->shape.buf, e->slen) != 0)
		return (0);		/* another shape of the same hash */
	bound = ZSTD_compressBound(sp->vals.len);
	p = sbuf_space(sb, 9 + bound);
	z = ZSTD_compress_usingDict(xs->cctx, p + 9, bound, sp->vals.buf,
	    sp->vals.len, e->shape + e->slen, e->rlen, XSHAPE_LEVEL);
	if (ZSTD_isError(z))
		return (0);
	p[0] = (char)STORE_XSHAPE_MARK;
	be_put((uint8_t *)p + 1, e->id, 8);
	sb->len += 9 + z;
	return (1);
}

int
store_xshape_prepack(struct store_txn *txn, struct store_xsplit *sp)
{
	struct xstate	*xs = xstate_get();
	struct shape	*e;
	int		 rc;

	sbuf_reset(&sp->packed);
	if (!sp->ok)
		return (0);
	if ((rc = shape_stored(xs, txn, sp->sid, &e)) != 1)
		return (rc < 0 ? -1 : 0);
	if (shape_compress(xs, e, sp, &sp->packed) != 1) {
		sbuf_reset(&sp->packed);
		return (0);
	}
	/* Only the stored form is needed now: a run holds 256 of these. */
	sbuf_free(&sp->shape);
	sbuf_free(&sp->vals);
	return (1);
}

int
store_xshape_pack(struct store_txn *txn, struct sbuf *sb, const char *s,
    size_t len, const struct store_xsplit *sp)
{
	struct xstate	*xs;
	struct shape	*e;
	int		 rc;

	xs = xstate_get();
	if (sp == NULL) {
		store_xshape_split(s, len, &xs->sp);
		sp = &xs->sp;
	}
	if (!sp->ok)
		return (0);
	if (sp->packed.len > 0) {
		sbuf_add(sb, sp->packed.buf, sp->packed.len);
		return (1);
	}
	/* This store's entry for the shape, else one of ours, else new. */
	if ((rc = shape_stored(xs, txn, sp->sid, &e)) < 0)
		return (-1);
	if (rc == 2)
		return (0);		/* missing or corrupt */
	if (rc == 0) {
		if ((e = cache_find(xs, sp->sid, true)) == NULL)
			e = cache_add(xs, sp->shape.buf, sp->shape.len,
			    sp->vals.buf, sp->vals.len);
		if ((rc = shape_persist(xs, txn, e)) <= 0)
			return (rc);
	}
	return (shape_compress(xs, e, sp, sb));
}

bool
store_xshape_is(const void *p, size_t len)
{
	return (len > 9 && *(const uint8_t *)p == STORE_XSHAPE_MARK);
}

int
store_xshape_text(struct sbuf *sb, struct store_txn *txn, const void *p,
    size_t len)
{
	struct xstate		*xs = xstate_get();
	struct shape		*e;
	const uint8_t		*q = p;
	const void		*v;
	unsigned long long	 n;
	size_t			 vlen, got, at = sb->len;
	uint64_t		 id;
	char			 name[32], *out;

	if (!store_xshape_is(p, len))
		return (-1);
	id = be_get(q + 1, 8);
	if ((e = cache_find(xs, id, false)) == NULL) {
		shape_name(name, sizeof(name), "xshape", id);
		if (txn == NULL || store_meta_get(txn, name, &v, &vlen) != 0 ||
		    (e = shape_load(xs, txn, id, v, vlen)) == NULL)
			return (-1);
	}
	n = ZSTD_getFrameContentSize(q + 9, len - 9);
	if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN ||
	    n > XSHAPE_MAX)
		return (-1);
	sbuf_reset(&xs->dvals);
	out = sbuf_space(&xs->dvals, (size_t)n + 1);
	got = ZSTD_decompress_usingDict(xs->dctx, out, (size_t)n, q + 9,
	    len - 9, e->shape + e->slen, e->rlen);
	if (ZSTD_isError(got) || got != n)
		return (-1);
	if (jshape_join(e->shape, e->slen, (const uint8_t *)out, (size_t)n,
	    sb) != 0) {
		sb->len = at;		/* nothing of a text that does not fit */
		return (-1);
	}
	return (0);
}
