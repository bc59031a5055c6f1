/* verdict.c: turn an event into a verdict, inside a write transaction. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>
#include <zstd.h>

#include "log.h"
#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

#define VERDICT_REC_CHECK	1	/* written by a check */
#define VERDICT_REC_VERSION	2	/* written by a re-check */
#define VERDICT_REC_SUM		0x80	/* | either: ends with XXH3-64 */
#define VERDICT_SUM_LEN		8
#define VERDICT_HDR_LEN		(1 + 8 + 1 + 4 + 4)
#define VERDICT_HDR2_LEN	(VERDICT_HDR_LEN + 4 + 2)
#define VERDICT_VER_LEN		(8 + 1 + 4 + 4 + 4 + 4)

_Static_assert(VERDICT_MAX_HITS >= RULES_MAX_HITS, "every hit is counted");

/*
 * Explain texts are stored zstd-compressed against a dictionary: an
 * explain text of the same rule set (the first of at least ZDICT_MIN
 * bytes), which holds the same rules, expressions and keys. A 6 KB text
 * then takes ~250 bytes instead of ~1.1 KB, in a fifth of the time
 * (issue 5). Stored form:
 * ZDICT_MARK, the dictionary's id (8 bytes: XXH3 of its bytes), a zstd
 * frame. The dictionary is in meta "zdict:<id>", put by the transaction
 * of any record that uses it and finds it missing, so it commits or
 * aborts with that record in whichever store the transaction belongs to,
 * with meta "zdictrs:<rule set hash>" naming it, so that a restart under
 * the same rule set finds and keeps it.
 * Older records hold a plain zstd frame, or the JSON itself ('[').
 */
#define ZDICT_MARK	0xd1
#define ZDICT_LEVEL	(-5)	/* with a dictionary: 2.2 us, 256 B a text */
#define ZDICT_CACHE	8	/* decompression dictionaries per thread */
#define ZDICT_MIN	1024	/* a shorter text makes a poor dictionary */

struct zstate {
	ZSTD_CCtx	*cctx;
	ZSTD_DCtx	*dctx;
	/* Compression: the dictionary of one rule set. */
	char		 ruleset[64];
	uint64_t	 id;
	char		*bytes;
	size_t		 len;
	ZSTD_CDict	*cdict;
	/* Decompression: the last dictionaries read. */
	struct {
		uint64_t	 id;
		ZSTD_DDict	*ddict;
	}		 dd[ZDICT_CACHE];
	unsigned	 ddnext;
};

static pthread_key_t	zstate_key;
static pthread_once_t	zstate_once = PTHREAD_ONCE_INIT;

static void
zstate_free(void *p)
{
	struct zstate	*zs = p;
	unsigned	 i;

	ZSTD_freeCCtx(zs->cctx);
	ZSTD_freeDCtx(zs->dctx);
	ZSTD_freeCDict(zs->cdict);
	free(zs->bytes);
	for (i = 0; i < ZDICT_CACHE; i++)
		ZSTD_freeDDict(zs->dd[i].ddict);
	free(zs);
}

static void
zstate_init(void)
{
	if (pthread_key_create(&zstate_key, zstate_free) != 0)
		fatalx("pthread_key_create");
}

/* The zstd state of this thread, freed when the thread ends. */
static struct zstate *
zstate_get(void)
{
	struct zstate	*zs;

	pthread_once(&zstate_once, zstate_init);
	if ((zs = pthread_getspecific(zstate_key)) == NULL) {
		zs = xcalloc(1, sizeof(*zs));
		if ((zs->cctx = ZSTD_createCCtx()) == NULL ||
		    (zs->dctx = ZSTD_createDCtx()) == NULL)
			fatalx("ZSTD_createCCtx");
		pthread_setspecific(zstate_key, zs);
	}
	return (zs);
}

static void
zdict_name(char *buf, size_t len, uint64_t id)
{
	snprintf(buf, len, "zdict:%016llx", (unsigned long long)id);
}

/* Make text the dictionary of rule set ruleset. */
static void
zdict_set(struct zstate *zs, const char *ruleset, const char *text,
    size_t len)
{
	ZSTD_freeCDict(zs->cdict);
	free(zs->bytes);
	snprintf(zs->ruleset, sizeof(zs->ruleset), "%s", ruleset);
	zs->bytes = xmalloc(len);
	memcpy(zs->bytes, text, len);
	zs->len = len;
	zs->id = XXH3_64bits(text, len);
	if ((zs->cdict = ZSTD_createCDict(text, len, ZDICT_LEVEL)) == NULL)
		fatalx("ZSTD_createCDict");
}

/*
 * Make zs hold rule set ruleset's dictionary: the one txn's store names
 * for it, else text s when it is long enough. False when it has none.
 */
static bool
zdict_select(struct zstate *zs, struct store_txn *txn, const char *ruleset,
    const char *s, size_t len)
{
	char		 rsname[80], name[32];
	const void	*v;
	size_t		 vlen;

	if (zs->cdict != NULL && strcmp(zs->ruleset, ruleset) == 0)
		return (true);
	snprintf(rsname, sizeof(rsname), "zdictrs:%s", ruleset);
	if (store_meta_get(txn, rsname, &v, &vlen) == 0 && vlen == 8) {
		zdict_name(name, sizeof(name), be_get(v, 8));
		if (store_meta_get(txn, name, &v, &vlen) == 0) {
			zdict_set(zs, ruleset, v, vlen);
			return (true);
		}
	}
	if (len < ZDICT_MIN)
		return (false);
	zdict_set(zs, ruleset, s, len);
	return (true);
}

/* Put zs's dictionary, and its rule set's name for it, in txn's store. */
static int
zdict_persist(struct zstate *zs, struct store_txn *txn)
{
	char		 rsname[80], name[32];
	uint8_t		 idb[8];
	const void	*v;
	size_t		 vlen;
	int		 rc;

	zdict_name(name, sizeof(name), zs->id);
	if ((rc = store_meta_get(txn, name, &v, &vlen)) != 1)
		return (rc);
	snprintf(rsname, sizeof(rsname), "zdictrs:%s", zs->ruleset);
	be_put(idb, zs->id, 8);
	if (store_meta_put(txn, name, zs->bytes, zs->len) != 0 ||
	    store_meta_put(txn, rsname, idb, sizeof(idb)) != 0)
		return (-1);
	return (0);
}

/*
 * Append explain text s to sb, compressed with rule set ruleset's
 * dictionary when there is one (and txn's store then holds it), else on
 * its own. -1 when txn failed.
 */
static int
explain_pack(struct store_txn *txn, const char *ruleset, struct sbuf *sb,
    const char *s, size_t len)
{
	struct zstate	*zs = zstate_get();
	size_t		 bound = ZSTD_compressBound(len), n;
	char		*p;

	if (ruleset != NULL && zdict_select(zs, txn, ruleset, s, len)) {
		if (zdict_persist(zs, txn) != 0)
			return (-1);
		p = sbuf_space(sb, 9 + bound);
		n = ZSTD_compress_usingCDict(zs->cctx, p + 9, bound, s, len,
		    zs->cdict);
		if (!ZSTD_isError(n)) {
			p[0] = (char)ZDICT_MARK;
			be_put((uint8_t *)p + 1, zs->id, 8);
			sb->len += 9 + n;
			return (0);
		}
	}
	p = sbuf_space(sb, bound);
	n = ZSTD_compressCCtx(zs->cctx, p, bound, s, len, 1);
	if (ZSTD_isError(n))
		sbuf_add(sb, s, len);	/* cannot happen with bound; stay readable */
	else
		sb->len += n;
	return (0);
}

/* The decompression dictionary id, from the cache or txn's meta. */
static ZSTD_DDict *
zdict_get(struct zstate *zs, struct store_txn *txn, uint64_t id)
{
	ZSTD_DDict	*dd;
	const void	*v;
	size_t		 vlen;
	unsigned	 i;
	char		 name[32];

	for (i = 0; i < ZDICT_CACHE; i++)
		if (zs->dd[i].ddict != NULL && zs->dd[i].id == id)
			return (zs->dd[i].ddict);
	zdict_name(name, sizeof(name), id);
	if (txn == NULL || store_meta_get(txn, name, &v, &vlen) != 0 ||
	    (dd = ZSTD_createDDict(v, vlen)) == NULL)
		return (NULL);
	i = zs->ddnext++ % ZDICT_CACHE;
	ZSTD_freeDDict(zs->dd[i].ddict);
	zs->dd[i].id = id;
	zs->dd[i].ddict = dd;
	return (dd);
}

/* Append a stored explain text to sb as JSON ("[]" when empty). */
void
verdict_explain_text(struct sbuf *sb, struct store_txn *txn, const char *p,
    size_t len)
{
	struct zstate		*zs;
	ZSTD_DDict		*dd = NULL;
	unsigned long long	 n;
	size_t			 got;
	char			*out;

	if (len == 0) {
		sbuf_adds(sb, "[]");
		return;
	}
	zs = zstate_get();
	if (len > 9 && (uint8_t)p[0] == ZDICT_MARK) {
		if ((dd = zdict_get(zs, txn, be_get((const uint8_t *)p + 1,
		    8))) == NULL) {
			sbuf_adds(sb, "null");
			return;
		}
		p += 9;
		len -= 9;
	} else if (len < 4 || (uint8_t)p[0] != 0x28 ||
	    (uint8_t)p[1] != 0xb5 || (uint8_t)p[2] != 0x2f ||
	    (uint8_t)p[3] != 0xfd) {
		sbuf_add(sb, p, len);
		return;
	}
	n = ZSTD_getFrameContentSize(p, len);
	if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN ||
	    n > (64U << 20)) {
		sbuf_adds(sb, "null");
		return;
	}
	out = sbuf_space(sb, (size_t)n);
	got = dd != NULL ? ZSTD_decompress_usingDDict(zs->dctx, out, (size_t)n,
	    p, len, dd) : ZSTD_decompressDCtx(zs->dctx, out, (size_t)n, p, len);
	if (ZSTD_isError(got))
		sbuf_adds(sb, "null");
	else
		sb->len += got;
}

/*
 * A record's checksum: set the flag in its version byte and append the
 * XXH3-64 of everything, flag included (verdict.h).
 */
static void
rec_seal(struct sbuf *sb)
{
	uint8_t	sum[VERDICT_SUM_LEN];

	sb->buf[0] = (char)((uint8_t)sb->buf[0] | VERDICT_REC_SUM);
	be_put(sum, XXH3_64bits(sb->buf, sb->len), VERDICT_SUM_LEN);
	sbuf_add(sb, sum, sizeof(sum));
}

/*
 * A reply of a record without a checksum: one JSON object, no control
 * bytes (a raw newline would split it on the wire), as refguard writes
 * them.
 */
static bool
reply_sound(const char *p, size_t len)
{
	json_t	*o;
	size_t	 i;
	bool	 ok;

	if (len < 2 || p[0] != '{' || p[len - 1] != '}')
		return (false);
	for (i = 0; i < len; i++)
		if ((uint8_t)p[i] < 0x20 || p[i] == 0x7f)
			return (false);
	o = json_loadb(p, len, 0, NULL);
	ok = json_is_object(o);
	json_decref(o);
	return (ok);
}

int
verdict_rec_decode(const void *recp, size_t len, struct verdict_rec *r)
{
	const uint8_t	*rec = recp;
	unsigned	 ver;

	if (len < VERDICT_HDR_LEN)
		return (-1);
	ver = rec[0] & ~VERDICT_REC_SUM;
	r->summed = (rec[0] & VERDICT_REC_SUM) != 0;
	if (ver < 1 || ver > VERDICT_REC_VERSION)
		return (-1);
	if (r->summed) {
		if (len < VERDICT_HDR_LEN + VERDICT_SUM_LEN)
			return (-1);
		len -= VERDICT_SUM_LEN;
		if (be_get(rec + len, VERDICT_SUM_LEN) != XXH3_64bits(rec, len))
			return (-1);
	}
	r->seq = be_get(rec + 1, 8);
	r->action = rec[9];
	r->score = (int32_t)be_get(rec + 10, 4);
	r->replylen = be_get(rec + 14, 4);
	r->nrechecks = 0;
	r->rechecks = NULL;
	r->rechecks_len = 0;
	if (ver == VERDICT_REC_CHECK) {
		if (r->replylen > len - VERDICT_HDR_LEN)
			return (-1);
		r->reply = (const char *)rec + VERDICT_HDR_LEN;
		r->explain = r->reply + r->replylen;
		r->explainlen = len - VERDICT_HDR_LEN - r->replylen;
		return (r->summed || reply_sound(r->reply, r->replylen) ? 0 : -1);
	}
	if (len < VERDICT_HDR2_LEN)
		return (-1);
	r->explainlen = be_get(rec + 18, 4);
	r->nrechecks = (unsigned)be_get(rec + 22, 2);
	if (r->replylen > len - VERDICT_HDR2_LEN ||
	    r->explainlen > len - VERDICT_HDR2_LEN - r->replylen)
		return (-1);
	r->reply = (const char *)rec + VERDICT_HDR2_LEN;
	r->explain = r->reply + r->replylen;
	r->rechecks = (const uint8_t *)r->explain + r->explainlen;
	r->rechecks_len = len - VERDICT_HDR2_LEN - r->replylen - r->explainlen;
	return (r->summed || reply_sound(r->reply, r->replylen) ? 0 : -1);
}

int
verdict_rec_version(const struct verdict_rec *r, unsigned i,
    struct verdict_ver *v)
{
	const uint8_t	*p = r->rechecks;
	size_t		 left = r->rechecks_len, n;
	unsigned	 j;

	if (i >= r->nrechecks)
		return (-1);
	for (j = 0;; j++) {
		if (left < VERDICT_VER_LEN)
			return (-1);
		v->version = j + 2;
		v->ts = (int64_t)be_get(p, 8);
		v->action = p[8];
		v->score = (int32_t)be_get(p + 9, 4);
		v->replylen = be_get(p + 13, 4);
		v->deltalen = be_get(p + 17, 4);
		v->explainlen = be_get(p + 21, 4);
		n = VERDICT_VER_LEN + v->replylen + v->deltalen + v->explainlen;
		if (n > left)
			return (-1);
		v->reply = (const char *)p + VERDICT_VER_LEN;
		v->delta = v->reply + v->replylen;
		v->explain = v->delta + v->deltalen;
		if (j == i)
			return (r->summed || reply_sound(v->reply,
			    v->replylen) ? 0 : -1);
		p += n;
		left -= n;
	}
}

void *
verdict_rec_encode(const struct verdict_rec *r, size_t *len)
{
	struct sbuf	 sb;
	uint8_t		 hdr[VERDICT_HDR2_LEN];
	size_t		 hlen = r->nrechecks > 0 ? VERDICT_HDR2_LEN :
			    VERDICT_HDR_LEN;

	hdr[0] = r->nrechecks > 0 ? VERDICT_REC_VERSION : VERDICT_REC_CHECK;
	be_put(hdr + 1, r->seq, 8);
	hdr[9] = r->action;
	be_put(hdr + 10, (uint32_t)r->score, 4);
	be_put(hdr + 14, r->replylen, 4);
	if (r->nrechecks > 0) {
		be_put(hdr + 18, r->explainlen, 4);
		be_put(hdr + 22, r->nrechecks, 2);
	}
	sbuf_init(&sb, hlen + r->replylen + r->explainlen + r->rechecks_len +
	    VERDICT_SUM_LEN);
	sbuf_add(&sb, hdr, hlen);
	sbuf_add(&sb, r->reply, r->replylen);
	sbuf_add(&sb, r->explain, r->explainlen);
	sbuf_add(&sb, r->rechecks, r->rechecks_len);
	rec_seal(&sb);
	return (sbuf_take(&sb, len));
}

static void
add_hits(struct sbuf *sb, const struct ruleset *rs,
    const struct rules_result *res, int shadow)
{
	const struct rules_hit	*h;
	const char		*s;
	size_t			 i;
	int			 first = 1;

	sbuf_addc(sb, '[');
	for (i = 0; i < res->nhits; i++) {
		h = &res->hits[i];
		if (h->shadow != shadow)
			continue;
		if (!first)
			sbuf_addc(sb, ',');
		first = 0;
		s = rules_rule_name(rs, h->rule);
		sbuf_adds(sb, "{\"rule\":");
		sbuf_add_jstr(sb, s, strlen(s));
		sbuf_adds(sb, ",\"action\":\"");
		sbuf_adds(sb, rules_action_name(h->action));
		sbuf_adds(sb, "\",\"score\":");
		sbuf_add_int(sb, h->score);
		s = rules_rule_msg(rs, h->rule);
		if (s != NULL && *s != '\0') {
			sbuf_adds(sb, ",\"msg\":");
			sbuf_add_jstr(sb, s, strlen(s));
		}
		sbuf_addc(sb, '}');
	}
	sbuf_addc(sb, ']');
}

static void
format_reply(struct sbuf *sb, const struct event *ev, const struct ruleset *rs,
    const struct rules_result *res)
{
	char	when[RFC3339_LEN];

	sbuf_adds(sb, "{\"id\":");
	sbuf_add_jstr(sb, ev->id, ev->idlen);
	sbuf_adds(sb, ",\"action\":\"");
	sbuf_adds(sb, rules_action_name(res->action));
	sbuf_adds(sb, "\",\"score\":");
	sbuf_add_int(sb, res->score);
	sbuf_adds(sb, ",\"reasons\":");
	add_hits(sb, rs, res, 0);
	sbuf_adds(sb, ",\"shadow\":");
	add_hits(sb, rs, res, 1);
	sbuf_adds(sb, ",\"ruleset\":\"");
	sbuf_adds(sb, rs != NULL ? rules_hash(rs) : "none");
	sbuf_adds(sb, "\",\"ts\":\"");
	sbuf_adds(sb, fmt_rfc3339(ev->ts, when));
	sbuf_adds(sb, "\"}");
}

int
verdict_check(struct store_txn *txn, const struct ruleset *rs,
    struct event *ev, struct verdict *out)
{
	struct rules_result	 res;
	struct verdict_rec	 r;
	struct sbuf		 sb;
	const void		*rec;
	size_t			 len, i;
	uint8_t			*hdr;
	int			 rc;

	memset(out, 0, sizeof(*out));
	rc = store_get_verdict(txn, ev->id, ev->idlen, &rec, &len);
	if (rc < 0)
		return (-1);
	if (rc == 0 && verdict_rec_decode(rec, len, &r) != 0)
		return (VERDICT_CORRUPT);
	if (rc == 0) {
		/* Idempotent: the stored answer, byte for byte; nothing counted. */
		out->replay = true;
		out->seq = r.seq;
		out->action = r.action;
		out->score = r.score;
		out->reply = xstrndup(r.reply, r.replylen);
		out->replylen = r.replylen;
		return (0);
	}

	if (store_put_event(txn, ev) != 0)
		return (-1);
	memset(&res, 0, sizeof(res));
	res.action = ACTION_ALLOW;
	if (rs != NULL && rules_eval(rs, ev, txn, 1, &res) != 0) {
		free(res.explain);
		return (-1);
	}

	sbuf_init(&sb, 512);
	sbuf_add(&sb, (uint8_t[VERDICT_HDR_LEN]){ 0 }, VERDICT_HDR_LEN);
	format_reply(&sb, ev, rs, &res);
	out->replylen = sb.len - VERDICT_HDR_LEN;
	if (res.explain != NULL && explain_pack(txn, rs != NULL ?
	    rules_hash(rs) : NULL, &sb, res.explain, strlen(res.explain)) != 0) {
		free(res.explain);
		sbuf_free(&sb);
		return (-1);
	}
	free(res.explain);
	hdr = (uint8_t *)sb.buf;
	hdr[0] = VERDICT_REC_CHECK;
	be_put(hdr + 1, ev->seq, 8);
	hdr[9] = res.action;
	be_put(hdr + 10, (uint32_t)res.score, 4);
	be_put(hdr + 14, out->replylen, 4);
	rec_seal(&sb);
	if (store_put_verdict(txn, ev->id, ev->idlen, sb.buf, sb.len) != 0) {
		sbuf_free(&sb);
		return (-1);
	}
	out->seq = ev->seq;
	out->action = res.action;
	out->score = res.score;
	out->reply = xstrndup(sb.buf + VERDICT_HDR_LEN, out->replylen);
	for (i = 0; i < res.nhits && out->nhits < nitems(out->hits); i++) {
		out->hits_shadow[out->nhits] = res.hits[i].shadow;
		out->hits[out->nhits++] = res.hits[i].rule;
	}
	sbuf_free(&sb);
	return (0);
}

/* Rule names matched in a verdict reply (reasons and shadow). */
static size_t
reply_hits(const char *reply, size_t len, char names[][64], size_t cap)
{
	static const char *const keys[] = { "reasons", "shadow" };
	json_t		*o, *a, *h;
	const char	*s;
	size_t		 i, k, n = 0;

	if ((o = json_loadb(reply, len, 0, NULL)) == NULL)
		return (0);
	for (k = 0; k < nitems(keys); k++) {
		a = json_object_get(o, keys[k]);
		json_array_foreach(a, i, h) {
			s = json_string_value(json_object_get(h, "rule"));
			if (s != NULL && n < cap)
				snprintf(names[n++], sizeof(names[0]), "%s", s);
		}
	}
	json_decref(o);
	return (n);
}

static bool
has_name(char names[][64], size_t n, const char *s)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (true);
	return (false);
}

static void
add_names(struct sbuf *sb, char a[][64], size_t na, char b[][64], size_t nb)
{
	size_t	i;
	int	first = 1;

	sbuf_addc(sb, '[');
	for (i = 0; i < na; i++) {
		if (has_name(b, nb, a[i]))
			continue;
		if (!first)
			sbuf_addc(sb, ',');
		first = 0;
		sbuf_add_jstr(sb, a[i], strlen(a[i]));
	}
	sbuf_addc(sb, ']');
}

int
verdict_recheck(struct store_txn *txn, const struct ruleset *rs,
    const char *id, size_t idlen, int64_t now, bool at_given,
    struct verdict *out)
{
	char			 prev_names[RULES_MAX_HITS][64];
	char			 new_names[RULES_MAX_HITS][64];
	char			 when[RFC3339_LEN];
	struct rules_result	 res;
	struct rules_at		 at;
	struct verdict_rec	 r;
	struct verdict_ver	 pv;
	struct event		 ev;
	struct sbuf		 reply, delta, rec;
	const void		*stored;
	const char		*s;
	size_t			 len, np, nn, i, voff, xoff;
	unsigned		 version;
	uint8_t			 hdr[VERDICT_HDR2_LEN], vh[VERDICT_VER_LEN];
	int			 rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_get_verdict(txn, id, idlen, &stored, &len)) != 0)
		return (rc);
	if (verdict_rec_decode(stored, len, &r) != 0)
		return (VERDICT_CORRUPT);
	if (r.nrechecks + 1 >= VERDICT_MAX_VERSIONS)
		return (2);
	/* The record as version 2, copied before anything else reads. */
	sbuf_init(&rec, len + 1024);
	memcpy(hdr, stored, VERDICT_HDR_LEN);
	hdr[0] = VERDICT_REC_VERSION;
	be_put(hdr + 18, r.explainlen, 4);
	be_put(hdr + 22, r.nrechecks + 1, 2);
	sbuf_add(&rec, hdr, sizeof(hdr));
	sbuf_add(&rec, r.reply, r.replylen);
	sbuf_add(&rec, r.explain, r.explainlen);
	sbuf_add(&rec, r.rechecks, r.rechecks_len);

	/* What it is compared with: the latest version. */
	pv.version = 1;
	pv.action = r.action;
	pv.score = r.score;
	pv.reply = r.reply;
	pv.replylen = r.replylen;
	if (r.nrechecks > 0 && verdict_rec_version(&r, r.nrechecks - 1,
	    &pv) != 0) {
		sbuf_free(&rec);
		return (VERDICT_CORRUPT);
	}
	np = reply_hits(pv.reply, pv.replylen, prev_names,
	    nitems(prev_names));
	version = pv.version + 1;

	if ((rc = store_get_event(txn, r.seq, &ev)) != 0) {
		sbuf_free(&rec);
		return (rc);
	}
	if (at_given && now < ev.ts) {
		sbuf_free(&rec);
		out->reply = xstrdup(fmt_rfc3339(ev.ts, when));
		out->replylen = strlen(out->reply);
		return (VERDICT_TOO_EARLY);
	}
	memset(&res, 0, sizeof(res));
	res.action = ACTION_ALLOW;
	at.ts = now > ev.ts ? now : ev.ts;
	at.max_seq = 0;
	if (rs != NULL && rules_eval_at(rs, &ev, &at, txn, 1, &res) != 0) {
		free(res.explain);
		sbuf_free(&rec);
		return (-1);
	}
	for (i = nn = 0; rs != NULL && i < res.nhits; i++) {
		s = rules_rule_name(rs, res.hits[i].rule);
		snprintf(new_names[nn++], sizeof(new_names[0]), "%s", s);
	}

	sbuf_init(&reply, 512);
	format_reply(&reply, &ev, rs, &res);
	reply.len--;		/* the closing brace */
	sbuf_addf(&reply, ",\"version\":%u,\"rechecked_at\":\"%s\"}", version,
	    fmt_rfc3339(now, when));
	sbuf_init(&delta, 256);
	sbuf_addf(&delta, "\"previous\":{\"action\":\"%s\",\"score\":%d,"
	    "\"version\":%u},\"changed\":%s,\"newly_matched\":",
	    rules_action_name(pv.action), (int)pv.score, pv.version,
	    pv.action != res.action ? "true" : "false");
	add_names(&delta, new_names, nn, prev_names, np);
	sbuf_adds(&delta, ",\"no_longer_matched\":");
	add_names(&delta, prev_names, np, new_names, nn);
	s = res.explain != NULL ? res.explain : "[]";

	be_put(vh, (uint64_t)now, 8);
	vh[8] = res.action;
	be_put(vh + 9, (uint32_t)res.score, 4);
	be_put(vh + 13, reply.len, 4);
	be_put(vh + 17, delta.len, 4);
	voff = rec.len;
	sbuf_add(&rec, vh, sizeof(vh));
	sbuf_add(&rec, reply.buf, reply.len);
	sbuf_add(&rec, delta.buf, delta.len);
	xoff = rec.len;
	if (explain_pack(txn, rs != NULL ? rules_hash(rs) : NULL, &rec, s,
	    strlen(s)) != 0) {
		free(res.explain);
		sbuf_free(&rec);
		sbuf_free(&reply);
		sbuf_free(&delta);
		return (-1);
	}
	/* The explain's stored length, known once packed. */
	be_put((uint8_t *)rec.buf + voff + 21, rec.len - xoff, 4);
	rec_seal(&rec);
	free(res.explain);
	rc = store_put_verdict(txn, id, idlen, rec.buf, rec.len);
	sbuf_free(&rec);
	if (rc != 0) {
		sbuf_free(&reply);
		sbuf_free(&delta);
		return (-1);
	}
	out->seq = ev.seq;
	out->action = res.action;
	out->score = res.score;
	reply.len--;
	sbuf_addc(&reply, ',');
	sbuf_add(&reply, delta.buf, delta.len);
	sbuf_addc(&reply, '}');
	sbuf_free(&delta);
	out->reply = sbuf_take(&reply, &out->replylen);
	for (i = 0; i < res.nhits && out->nhits < nitems(out->hits); i++)
		out->hits[out->nhits++] = res.hits[i].rule;
	return (0);
}

int
verdict_observe(struct store_txn *txn, struct event *ev, struct verdict *out)
{
	struct sbuf	sb;

	memset(out, 0, sizeof(*out));
	if (store_put_event(txn, ev) != 0)
		return (-1);
	sbuf_init(&sb, 64);
	sbuf_adds(&sb, "{\"ok\":true,\"seq\":");
	sbuf_add_int(&sb, (int64_t)ev->seq);
	sbuf_addc(&sb, '}');
	out->seq = ev->seq;
	out->reply = sbuf_take(&sb, &out->replylen);
	return (0);
}

/* A JSON array of kind names: those of a (and, when b, shared with b). */
static void
add_kinds(struct sbuf *sb, const struct party *a, const struct party *b)
{
	unsigned	k;
	int		first = 1;

	sbuf_addc(sb, '[');
	for (k = 1; k < ENT__MAX; k++) {
		if (!PARTY_HAS(a, k))
			continue;
		if (b != NULL && (k == ENT_ACCOUNT || !PARTY_HAS(b, k) ||
		    memcmp(a->h[k].b, b->h[k].b, RG_HASH_LEN) != 0))
			continue;
		sbuf_adds(sb, first ? "\"" : ",\"");
		sbuf_adds(sb, ent_kind_name(k));
		sbuf_addc(sb, '"');
		first = 0;
	}
	sbuf_addc(sb, ']');
}

/* The readable facts of a party: never a raw identifier. */
static void
add_party(struct sbuf *sb, const struct party *p)
{
	const struct geo_facts	*g = &p->geo;

	sbuf_adds(sb, "{\"identities\":");
	add_kinds(sb, p, NULL);
	if (p->facts & PF_EMAIL_DOMAIN) {
		sbuf_adds(sb, ",\"email.domain\":");
		sbuf_add_jstr(sb, p->email_domain, strlen(p->email_domain));
	}
	if (p->facts & PF_EMAIL_DISPOSABLE)
		sbuf_adds(sb, p->email_disposable ?
		    ",\"email.disposable\":true" : ",\"email.disposable\":false");
	if (p->facts & PF_IP_INFO) {
		sbuf_adds(sb, ",\"ip.version\":");
		sbuf_add_int(sb, p->ip_version);
		sbuf_adds(sb, p->ip_private ? ",\"ip.private\":true" :
		    ",\"ip.private\":false");
	}
	if (g->have & GEO_COUNTRY) {
		sbuf_adds(sb, ",\"geo.country\":");
		sbuf_add_jstr(sb, g->country, strnlen(g->country, 2));
	}
	if (g->have & GEO_CONTINENT) {
		sbuf_adds(sb, ",\"geo.continent\":");
		sbuf_add_jstr(sb, g->continent, strnlen(g->continent, 2));
	}
	if (g->have & GEO_ASN) {
		sbuf_adds(sb, ",\"geo.asn\":");
		sbuf_add_int(sb, g->asn);
	}
	if (g->have & GEO_AS_ORG) {
		sbuf_adds(sb, ",\"geo.as_org\":");
		sbuf_add_jstr(sb, g->as_org, strlen(g->as_org));
	}
#define GEO_BOOL(bit, name, f)						\
	if (g->have & (bit))						\
		sbuf_adds(sb, g->f ? ",\"" name "\":true" : ",\"" name "\":false");
	GEO_BOOL(GEO_ANONYMOUS, "geo.anonymous", anonymous)
	GEO_BOOL(GEO_VPN, "geo.vpn", vpn)
	GEO_BOOL(GEO_TOR, "geo.tor", tor)
	GEO_BOOL(GEO_HOSTING, "geo.hosting", hosting)
	GEO_BOOL(GEO_RESIDENTIAL_PROXY, "geo.residential_proxy",
	    residential_proxy)
#undef GEO_BOOL
	sbuf_addc(sb, '}');
}

/* The event as explain shows it: facts, and which identities the parties share. */
static void
add_event(struct sbuf *sb, const struct event *ev)
{
	const struct party	*a = &ev->party[PARTY_REFERRER];
	const struct party	*b = &ev->party[PARTY_REFEREE];
	char			 when[RFC3339_LEN];

	sbuf_adds(sb, "{\"seq\":");
	sbuf_add_int(sb, (int64_t)ev->seq);
	sbuf_adds(sb, ",\"ts\":\"");
	sbuf_adds(sb, fmt_rfc3339(ev->ts, when));
	sbuf_addc(sb, '"');
	if (ev->campaign[0] != '\0') {
		sbuf_adds(sb, ",\"campaign\":");
		sbuf_add_jstr(sb, ev->campaign, strlen(ev->campaign));
	}
	if (ev->has_reward)
		sbuf_addf(sb, ",\"reward\":{\"amount\":%.17g,\"currency\":\"%.3s\"}",
		    ev->reward_amount, ev->reward_currency);
	if (ev->nparties == 2) {
		sbuf_adds(sb, ",\"referrer\":");
		add_party(sb, a);
		sbuf_adds(sb, ",\"referee\":");
		add_party(sb, b);
		sbuf_adds(sb, ",\"shared\":");
		add_kinds(sb, a, b);
	}
	sbuf_addc(sb, '}');
}

/* Shared identities of the parties' accounts, with since when each had it. */
struct xlinks {
	struct store_txn	*txn;
	const struct rg_hash	*referrer;
	uint64_t		 max_seq;
	struct sbuf		*sb;
	size_t			 scanned, n;
	int			 err;
};

static int
xlinks_cb(void *arg, const struct store_link *l)
{
	struct xlinks	*x = arg;
	char		 w1[RFC3339_LEN], w2[RFC3339_LEN];
	uint64_t	 seq;
	int64_t		 ts;
	int		 rc;

	if (++x->scanned > 2000 || x->n >= 64)
		return (1);
	if (l->kind == ENT_ACCOUNT || l->kind == ENT_EDGE)
		return (0);
	rc = store_link_get(x->txn, x->referrer, l->kind, &l->h, x->max_seq,
	    &seq, &ts);
	if (rc < 0) {
		x->err = 1;
		return (1);
	}
	if (rc == 1)
		return (0);
	sbuf_addf(x->sb, "%s{\"kind\":\"%s\",\"referrer_since\":\"%s\","
	    "\"referrer_first_seq\":%llu,\"referee_since\":\"%s\","
	    "\"referee_first_seq\":%llu}", x->n++ ? "," : "",
	    ent_kind_name(l->kind), fmt_rfc3339(ts, w1),
	    (unsigned long long)seq, fmt_rfc3339(l->first_ts, w2),
	    (unsigned long long)l->first_seq);
	return (0);
}

static int
add_links(struct sbuf *sb, struct store_txn *txn, const struct event *ev)
{
	const struct party	*a = &ev->party[PARTY_REFERRER];
	const struct party	*b = &ev->party[PARTY_REFEREE];
	struct xlinks		 x;

	memset(&x, 0, sizeof(x));
	x.txn = txn;
	x.sb = sb;
	x.max_seq = ev->seq;
	sbuf_adds(sb, ",\"links\":[");
	if (ev->nparties == 2 && PARTY_HAS(a, ENT_ACCOUNT) &&
	    PARTY_HAS(b, ENT_ACCOUNT)) {
		x.referrer = &a->h[ENT_ACCOUNT];
		if (store_link_scan(txn, &b->h[ENT_ACCOUNT], 0, ev->seq,
		    xlinks_cb, &x) != 0 || x.err)
			return (-1);
	}
	sbuf_addc(sb, ']');
	return (0);
}

static void
add_rechecks(struct sbuf *sb, struct store_txn *txn,
    const struct verdict_rec *r)
{
	struct verdict_ver	v;
	char			when[RFC3339_LEN];
	unsigned		i;

	sbuf_adds(sb, ",\"rechecks\":[");
	for (i = 0; i < r->nrechecks; i++) {
		if (verdict_rec_version(r, i, &v) != 0)
			break;
		sbuf_addf(sb, "%s{\"version\":%u,\"at\":\"%s\",\"action\":\"%s\","
		    "\"score\":%d,", i ? "," : "", v.version,
		    fmt_rfc3339(v.ts, when), rules_action_name(v.action),
		    (int)v.score);
		sbuf_add(sb, v.delta, v.deltalen);
		sbuf_adds(sb, ",\"verdict\":");
		sbuf_add(sb, v.reply, v.replylen);
		sbuf_adds(sb, ",\"rules\":");
		verdict_explain_text(sb, txn, v.explain, v.explainlen);
		sbuf_addc(sb, '}');
	}
	sbuf_addc(sb, ']');
}

int
verdict_lookup(struct store_txn *txn, const char *id, size_t idlen,
    bool explain, struct verdict *out)
{
	struct event	 ev;
	struct verdict_rec r;
	struct verdict_ver v;
	struct sbuf	 sb;
	const void	*rec;
	size_t		 len;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_get_verdict(txn, id, idlen, &rec, &len)) != 0)
		return (rc);
	if (verdict_rec_decode(rec, len, &r) != 0)
		return (VERDICT_CORRUPT);
	out->seq = r.seq;
	out->action = r.action;
	out->score = r.score;
	if (!explain) {
		/* The latest version: the check's bytes until re-checked. */
		if (r.nrechecks > 0 &&
		    verdict_rec_version(&r, r.nrechecks - 1, &v) != 0)
			return (VERDICT_CORRUPT);
		if (r.nrechecks > 0) {
			out->action = v.action;
			out->score = v.score;
			out->reply = xstrndup(v.reply, v.replylen);
			out->replylen = v.replylen;
			return (0);
		}
		out->reply = xstrndup(r.reply, r.replylen);
		out->replylen = r.replylen;
		return (0);
	}
	sbuf_init(&sb, 1024);
	sbuf_adds(&sb, "{\"id\":");
	sbuf_add_jstr(&sb, id, idlen);
	sbuf_adds(&sb, ",\"verdict\":");
	sbuf_add(&sb, r.reply, r.replylen);
	rc = store_get_event(txn, r.seq, &ev);
	if (rc < 0) {
		sbuf_free(&sb);
		return (-1);
	}
	if (rc == 0) {
		char		 name[32];
		const void	*data;
		size_t		 dlen;

		sbuf_adds(&sb, ",\"event\":");
		add_event(&sb, &ev);
		/* Which GeoIP databases and lists derived the facts. */
		snprintf(name, sizeof(name), "data:%016llx",
		    (unsigned long long)ev.data_id);
		sbuf_adds(&sb, ",\"data\":");
		if (store_meta_get(txn, name, &data, &dlen) == 0)
			sbuf_add(&sb, data, dlen);
		else
			sbuf_adds(&sb, "null");
		if (add_links(&sb, txn, &ev) != 0) {
			sbuf_free(&sb);
			return (-1);
		}
	}
	sbuf_adds(&sb, ",\"rules\":");
	verdict_explain_text(&sb, txn, r.explain, r.explainlen);
	sbuf_addf(&sb, ",\"version\":%u", r.nrechecks + 1);
	add_rechecks(&sb, txn, &r);
	sbuf_addc(&sb, '}');
	out->reply = sbuf_take(&sb, &out->replylen);
	return (0);
}

void
verdict_clear(struct verdict *v)
{
	free(v->reply);
	memset(v, 0, sizeof(*v));
}
