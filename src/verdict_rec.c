/* verdict_rec.c: the stored verdict record (verdict_rec.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#define XXH_STATIC_LINKING_ONLY	/* XXH3_state_t on the stack */
#include <xxhash.h>

#include "rec.h"
#include "util.h"
#include "verdict_rec.h"

#define VERDICT_REC_CHECK	1	/* written by a check */
#define VERDICT_REC_RECHECKED	2	/* written by a re-check */
#define VERDICT_REC_SUM		0x80	/* | either: ends with XXH3-64 */
#define VERDICT_SUM_LEN		8
#define VERDICT_HDR_LEN		(1 + 8 + 1 + 4 + 4)
#define VERDICT_HDR2_LEN	(VERDICT_HDR_LEN + 4 + 2)
#define VERDICT_VER_LEN		(8 + 1 + 4 + 4 + 4 + 4)	/* a re-check's fixed fields */

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

/* One re-check from rd; -1 when it runs past the end. */
static int
ver_decode(struct rec_r *rd, struct verdict_ver *v)
{
	v->ts = (int64_t)rec_get_u64(rd);
	v->action = rec_get_u8(rd);
	v->score = (int32_t)rec_get_u32(rd);
	v->replylen = rec_get_u32(rd);
	v->deltalen = rec_get_u32(rd);
	v->explainlen = rec_get_u32(rd);
	v->reply = rec_get_ref(rd, v->replylen);
	v->delta = rec_get_ref(rd, v->deltalen);
	v->explain = rec_get_ref(rd, v->explainlen);
	return (rec_r_err(rd));
}

int
verdict_rec_decode(const void *recp, size_t len, struct verdict_rec *r)
{
	const uint8_t		*rec = recp;
	struct rec_r		 rd, sum;
	struct verdict_ver	 v;
	unsigned		 ver, i;
	uint8_t		 vb;

	memset(r, 0, sizeof(*r));
	rec_r_init(&rd, rec, len);
	vb = rec_get_u8(&rd);
	ver = vb & ~VERDICT_REC_SUM;
	r->summed = (vb & VERDICT_REC_SUM) != 0;
	if (rec_r_err(&rd) != 0 || ver < VERDICT_REC_CHECK ||
	    ver > VERDICT_REC_RECHECKED)
		return (-1);
	if (r->summed) {
		if (len < VERDICT_HDR_LEN + VERDICT_SUM_LEN)
			return (-1);
		len -= VERDICT_SUM_LEN;
		rec_r_init(&sum, rec + len, VERDICT_SUM_LEN);
		if (rec_get_u64(&sum) != XXH3_64bits(rec, len))
			return (-1);
		rec_r_init(&rd, rec + 1, len - 1);
	}
	r->seq = rec_get_u64(&rd);
	r->action = rec_get_u8(&rd);
	r->score = (int32_t)rec_get_u32(&rd);
	r->replylen = rec_get_u32(&rd);
	if (ver == VERDICT_REC_RECHECKED) {
		r->explainlen = rec_get_u32(&rd);
		r->nrechecks = rec_get_u16(&rd);
	}
	r->reply = rec_get_ref(&rd, r->replylen);
	if (ver == VERDICT_REC_CHECK)
		r->explainlen = rec_left(&rd);
	r->explain = rec_get_ref(&rd, r->explainlen);
	r->rechecks_len = rec_left(&rd);
	r->rechecks = rec_get_ref(&rd, r->rechecks_len);
	if (rec_r_end(&rd) != 0)
		return (-1);
	/* A re-checked record holds its re-checks, and nothing after them. */
	if (ver == VERDICT_REC_RECHECKED) {
		if (r->nrechecks == 0)
			return (-1);
		rec_r_init(&rd, r->rechecks, r->rechecks_len);
		for (i = 0; i < r->nrechecks; i++)
			if (ver_decode(&rd, &v) != 0)
				return (-1);
		if (rec_r_end(&rd) != 0)
			return (-1);
	}
	return (r->summed || reply_sound(r->reply, r->replylen) ? 0 : -1);
}

int
verdict_rec_seq(const void *rec, size_t len, uint64_t *seq)
{
	struct rec_r	rd;

	rec_r_init(&rd, rec, len);
	(void)rec_get_u8(&rd);
	*seq = rec_get_u64(&rd);
	return (rec_r_err(&rd));
}

void
verdict_ver_iter_init(struct verdict_ver_iter *it, const struct verdict_rec *r)
{
	rec_r_init(&it->rd, r->rechecks, r->rechecks_len);
	it->i = 0;
	it->n = r->nrechecks;
	it->summed = r->summed;
}

int
verdict_ver_next(struct verdict_ver_iter *it, struct verdict_ver *v)
{
	if (it->i >= it->n)
		return (1);
	if (ver_decode(&it->rd, v) != 0) {
		it->i = it->n;		/* the lengths are lost: stop */
		return (-1);
	}
	v->version = 2 + it->i++;
	return (it->summed || reply_sound(v->reply, v->replylen) ? 0 : -1);
}

int
verdict_rec_latest(const struct verdict_rec *r, struct verdict_ver *v)
{
	struct verdict_ver_iter	it;
	int			rc = 1;

	memset(v, 0, sizeof(*v));
	v->version = 1;
	v->action = r->action;
	v->score = r->score;
	v->reply = r->reply;
	v->replylen = r->replylen;
	v->explain = r->explain;
	v->explainlen = r->explainlen;
	verdict_ver_iter_init(&it, r);
	while (it.i + 1 < it.n) {	/* to the last: its lengths only */
		if (ver_decode(&it.rd, v) != 0)
			return (-1);
		it.i++;
	}
	if (it.n > 0)
		rc = verdict_ver_next(&it, v);
	return (rc == 1 || rc == 0 ? 0 : -1);
}

void
verdict_ver_encode(struct rec_w *w, const struct verdict_ver *v)
{
	rec_put_u64(w, (uint64_t)v->ts);
	rec_put_u8(w, v->action);
	rec_put_u32(w, (uint32_t)v->score);
	rec_put_u32(w, (uint32_t)v->replylen);
	rec_put_u32(w, (uint32_t)v->deltalen);
	rec_put_u32(w, (uint32_t)v->explainlen);
	rec_put_bytes(w, v->reply, v->replylen);
	rec_put_bytes(w, v->delta, v->deltalen);
	rec_put_bytes(w, v->explain, v->explainlen);
}

/* A summed record's fixed fields, with n re-checks to follow. */
static void
head_put(struct rec_w *w, const struct verdict_rec *r, unsigned n)
{
	/* The checksum flag is part of what the checksum covers. */
	rec_put_u8(w, VERDICT_REC_SUM | (n > 0 ? VERDICT_REC_RECHECKED :
	    VERDICT_REC_CHECK));
	rec_put_u64(w, r->seq);
	rec_put_u8(w, r->action);
	rec_put_u32(w, (uint32_t)r->score);
	rec_put_u32(w, (uint32_t)r->replylen);
	if (n > 0) {
		rec_put_u32(w, (uint32_t)r->explainlen);
		rec_put_u16(w, (uint16_t)n);
	}
}

void *
verdict_rec_append(const struct verdict_rec *r, const struct verdict_ver *more,
    size_t *len)
{
	struct rec_w	w;
	unsigned	n = r->nrechecks + (more != NULL);

	rec_w_init(&w, VERDICT_HDR2_LEN + r->replylen + r->explainlen +
	    r->rechecks_len + VERDICT_SUM_LEN + (more != NULL ?
	    VERDICT_VER_LEN + more->replylen + more->deltalen +
	    more->explainlen : 0));
	head_put(&w, r, n);
	rec_put_bytes(&w, r->reply, r->replylen);
	rec_put_bytes(&w, r->explain, r->explainlen);
	rec_put_bytes(&w, r->rechecks, r->rechecks_len);
	if (more != NULL)
		verdict_ver_encode(&w, more);
	rec_put_u64(&w, XXH3_64bits(w.buf, w.len));
	return (rec_w_take(&w, len));
}

void *
verdict_rec_encode(const struct verdict_rec *r, size_t *len)
{
	return (verdict_rec_append(r, NULL, len));
}

uint64_t
verdict_rec_sum(const struct verdict_rec *r)
{
	XXH3_state_t	st;
	uint8_t		head[VERDICT_HDR2_LEN];
	struct rec_w	w;

	rec_w_fixed(&w, head, sizeof(head));
	head_put(&w, r, r->nrechecks);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, head, w.len);
	XXH3_64bits_update(&st, r->reply, r->replylen);
	XXH3_64bits_update(&st, r->explain, r->explainlen);
	XXH3_64bits_update(&st, r->rechecks, r->rechecks_len);
	return (XXH3_64bits_digest(&st));
}

/*
 * The hits of a reply as verdict.c writes it, without building its JSON
 * (a backtest reads one reply per referral):
 *	... ,"reasons":[H,...],"shadow":[H,...], ...
 *	H = {"rule":"NAME","action":...,"score":...[,"group":"..."]
 *	     [,"msg":"..."]}
 * with no escape in NAME and no object or array inside an H. The keys
 * are found by their leading comma: a quote inside a JSON string is
 * escaped, so ,"reasons":[ cannot occur inside one. Returns the number
 * of hits put in names[] (at most max) as pointers into reply with
 * their lengths, or -1 when the reply is not in that shape or has more:
 * then JSON decides.
 */
struct reply_hit {
	const char	*name;
	size_t		 len;
	bool		 shadow;
};
static int
reply_hits_fast(const char *p, size_t len, struct reply_hit *h, size_t max)
{
	static const char	 rk[] = ",\"reasons\":[", sk[] = ",\"shadow\":[",
				 hk[] = "{\"rule\":\"";
	const char		*e = p + len, *q;
	size_t			 n = 0, k;
	bool			 str;

	if ((p = memmem(p, len, rk, sizeof(rk) - 1)) == NULL)
		return (-1);
	p += sizeof(rk) - 1;
	for (k = 0; k < 2; k++) {
		while (p < e && *p != ']') {
			if (n == max || (size_t)(e - p) < sizeof(hk) - 1 ||
			    memcmp(p, hk, sizeof(hk) - 1) != 0)
				return (-1);
			p += sizeof(hk) - 1;
			for (q = p; q < e && *q != '"' && *q != '\\'; q++)
				;
			if (q == e || *q != '"')
				return (-1);
			h[n].name = p;
			h[n].len = (size_t)(q - p);
			h[n++].shadow = k == 1;
			/* The rest of the hit, to its closing brace. */
			for (p = q + 1, str = false; p < e; p++) {
				if (str) {
					if (*p == '\\')
						p++;
					else if (*p == '"')
						str = false;
				} else if (*p == '"')
					str = true;
				else if (*p == '}')
					break;
				else if (*p == '{' || *p == '[' || *p == ']')
					return (-1);
			}
			if (p >= e)
				return (-1);
			p++;
			if (p < e && *p == ',')
				p++;
			else if (p < e && *p != ']')
				return (-1);
		}
		if (p == e)
			return (-1);
		p++;
		if (k == 0) {
			if ((size_t)(e - p) < sizeof(sk) - 1 ||
			    memcmp(p, sk, sizeof(sk) - 1) != 0)
				return (-1);
			p += sizeof(sk) - 1;
		}
	}
	return ((int)n);
}

const char *
verdict_reply_ruleset(const char *reply, size_t len)
{
	static const char	 key[] = ",\"ruleset\":\"";
	const char		*p;
	size_t			 hl = 2 * 16;

	if ((p = memmem(reply, len, key, sizeof(key) - 1)) == NULL)
		return (NULL);
	p += sizeof(key) - 1;
	if ((size_t)(reply + len - p) < hl + 1 || p[hl] != '"')
		return (NULL);
	return (p);
}

int
verdict_reply_rules(const char *reply, size_t len,
    int (*cb)(void *, const char *, bool), void *arg)
{
	static const char *const keys[] = { "reasons", "shadow" };
	struct reply_hit	 fast[16];
	char			 name[256];
	json_t			*o, *a, *h;
	const char		*s;
	size_t			 i, k;
	int			 stop = 0, n;

	n = reply_hits_fast(reply, len, fast, nitems(fast));
	for (i = 0; n >= 0 && i < (size_t)n; i++)
		if (fast[i].len >= sizeof(name))
			n = -1;
	if (n >= 0 && len > 0 && reply[0] == '{' && reply[len - 1] == '}') {
		for (i = 0; i < (size_t)n; i++) {
			memcpy(name, fast[i].name, fast[i].len);
			name[fast[i].len] = '\0';
			if (cb(arg, name, fast[i].shadow) != 0)
				break;
		}
		return (0);
	}
	if ((o = json_loadb(reply, len, 0, NULL)) == NULL)
		return (-1);
	if (!json_is_object(o)) {
		json_decref(o);
		return (-1);
	}
	for (k = 0; k < 2 && !stop; k++) {
		a = json_object_get(o, keys[k]);
		json_array_foreach(a, i, h) {
			s = json_string_value(json_object_get(h, "rule"));
			if (s != NULL && (stop = cb(arg, s, k == 1)) != 0)
				break;
		}
	}
	json_decref(o);
	return (0);
}
