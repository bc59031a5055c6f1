/* verdict.c: turn an event into a verdict, inside a write transaction. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>
#include <zstd.h>

#include "daily.h"
#include "jshape.h"
#include "log.h"
#include "rec.h"
#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"
#include "verdict.h"
#include "store_xshape.h"


_Static_assert(VERDICT_MAX_HITS >= RULES_MAX_HITS, "every hit is counted");

/*
 * Explain texts are stored as a shape and its values (store_xshape.h) when they
 * take that form (they all do, as rules_eval writes them). Before store
 * schema 4, and for what that form does not take, they were stored
 * zstd-compressed against a dictionary: an
 * explain text of the same rule set (the first of at least ZDICT_MIN
 * bytes), which holds the same rules, expressions and keys. A 6 KB text
 * then takes ~250 bytes instead of ~1.1 KB, in a fifth of the time
 * (docs/performance.md). Stored form:
 * ZDICT_MARK, the dictionary's id (8 bytes: XXH3 of its bytes), a zstd
 * frame. The dictionary is in meta "zdict:<id>", put by the transaction
 * of any record that uses it and finds it missing, so it commits or
 * aborts with that record in whichever store the transaction belongs to,
 * with meta "zdictrs:<rule set hash>" naming it, so that a restart under
 * the same rule set finds and keeps it.
 * Older records hold a plain zstd frame, or the JSON itself ('[').
 */
#define EXPLAIN_SHAPE_MIN 256	/* shorter: not worth a shape */
#define ZDICT_MARK	0xd1
#define ZDICT_LEVEL	(-5)	/* with a dictionary: 2.2 us, 256 B a text */
#define ZDICT_CACHE	8	/* decompression dictionaries per thread */
#define ZDICT_MIN	1024	/* a shorter text makes a poor dictionary */
/* A thread's check memo: ~3 MB (1.5 MB of events, 1.3 MB of keys). */
#define CHECK_MEMO_EVENTS 1024	/* events it keeps */
#define CHECK_MEMO_KEYS	32768	/* single keys of events */

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
	/* The checks' rules memo (rules_memo_new_events), and its epoch. */
	struct rules_memo *memo;
	uint64_t	 memo_epoch;
	/* An explain's text, joined for a pack that cannot take its split. */
	struct sbuf	 text;
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
	rules_memo_free(zs->memo);
	sbuf_free(&zs->text);
	free(zs);
}

static void
zstate_init(void)
{
	if (pthread_key_create(&zstate_key, zstate_free) != 0)
		fatalx("pthread_key_create");
}

/* This thread's state (zstd, memo), freed when the thread ends. */
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
 * its own; sp is s's split when made ahead (verdict_check_eval()), else
 * NULL. -1 when txn failed.
 */
static int
explain_pack(struct store_txn *txn, const char *ruleset, struct sbuf *sb,
    const char *s, size_t len, const struct store_xsplit *sp)
{
	struct zstate	*zs = zstate_get();
	size_t		 bound = ZSTD_compressBound(len), n;
	char		*p;
	int		 rc;

	if ((sp != NULL || len >= EXPLAIN_SHAPE_MIN) &&
	    (rc = store_xshape_pack(txn, sb, s, len, sp)) != 0)
		return (rc < 0 ? -1 : 0);
	if (s == NULL) {	/* only the split: its text, for the ways below */
		sbuf_reset(&zs->text);
		if (jshape_join_sb(&sp->shape, &sp->vals, &zs->text) != 0)
			sbuf_reset(&zs->text);	/* cannot happen */
		s = zs->text.buf != NULL ? zs->text.buf : "";
		len = zs->text.len;
		bound = ZSTD_compressBound(len);
	}
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

int
verdict_explain_pack(struct store_txn *txn, struct sbuf *sb, const char *s,
    size_t len)
{
	return (explain_pack(txn, NULL, sb, s, len, NULL));
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
	if (store_xshape_is(p, len)) {
		if (store_xshape_text(sb, txn, p, len) != 0)
			sbuf_adds(sb, "null");
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
 * Encode r (and the re-check more, when not NULL) and store it as id's
 * verdict: 0, or -1 on a store error.
 */
static int
verdict_put(struct store_txn *txn, const char *id, size_t idlen,
    const struct verdict_rec *r, const struct verdict_ver *more)
{
	void	*rec;
	size_t	 len;
	int	 rc;

	rec = verdict_rec_append(r, more, &len);
	rc = store_put_verdict(txn, id, idlen, rec, len);
	free(rec);
	return (rc);
}

static void
add_hits(struct sbuf *sb, const struct ruleset *rs,
    const struct rules_result *res, int shadow)
{
	const struct rules_hit	*h;
	const char		*s;
	int64_t			 cap;
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
		/* The reasons of one group add up to its cap at most. */
		if ((s = rules_rule_group(rs, h->rule, &cap)) != NULL) {
			sbuf_adds(sb, ",\"group\":");
			sbuf_add_jstr(sb, s, strlen(s));
		}
		s = rules_rule_msg(rs, h->rule);
		if (s != NULL && *s != '\0') {
			sbuf_adds(sb, ",\"msg\":");
			sbuf_add_jstr(sb, s, strlen(s));
		}
		sbuf_addc(sb, '}');
	}
	sbuf_addc(sb, ']');
}

/*
 * The review queue: a referral whose verdict asks for a person (review),
 * or whose recheck raised the action to review or deny, enters it (a
 * recheck of one already there updates it, and reopens a decided one).
 */
static int
queue_enter(struct store_txn *txn, const struct ruleset *rs,
    const struct rg_event *ev, const struct rules_result *res,
    uint8_t origin, uint8_t prev_action, int64_t now)
{
	struct store_queue_item	 it, old;
	const struct rules_hit	*top[QUEUE_REASONS], *h;
	size_t			 i, j, n = 0;
	int			 rc;

	if ((rc = store_queue_get(txn, ev->seq, &it)) < 0)
		return (-1);
	if (rc == 1) {
		memset(&it, 0, sizeof(it));
		it.item = ev->seq;
		memcpy(it.id, ev->id, ev->idlen);
		it.created = now;
		snprintf(it.campaign, sizeof(it.campaign), "%s", ev->campaign);
		it.has_reward = ev->has_reward;
		it.reward_amount = ev->reward_amount;
		memcpy(it.reward_currency, ev->reward_currency, 3);
	} else
		old = it;
	if (rc == 0 && it.state == QUEUE_DECIDED) {
		it.state = QUEUE_OPEN;
		it.created = now;
		it.assignee[0] = '\0';
		it.claimed = 0;
		it.decision = QUEUE_UNDECIDED;
		it.decided_by[0] = '\0';
		it.decided = 0;
		it.feedback = 0;
	}
	it.action = res->action;
	it.score = res->score;
	it.origin = origin;
	it.prev_action = prev_action;
	/* The enforcing rules that matched, highest score first. */
	for (i = 0; rs != NULL && i < res->nhits; i++) {
		h = &res->hits[i];
		if (h->shadow)
			continue;
		for (j = n; j > 0 && top[j - 1]->score < h->score; j--)
			if (j < QUEUE_REASONS)
				top[j] = top[j - 1];
		if (j < QUEUE_REASONS)
			top[j] = h;
		if (n < QUEUE_REASONS)
			n++;
	}
	it.nreasons = (uint8_t)n;
	for (i = 0; i < n; i++)
		snprintf(it.reasons[i], sizeof(it.reasons[i]), "%s",
		    rules_rule_name(rs, top[i]->rule));
	return (store_queue_put(txn, &it, rc == 1 ? NULL : &old));
}

static void
format_reply(struct sbuf *sb, const struct rg_event *ev, const struct ruleset *rs,
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
verdict_check_begin(struct store_txn *txn, const struct ruleset *rs,
    struct rg_event *ev, struct verdict *out)
{
	const struct store_pair	*pairs;
	struct verdict_rec	 r;
	const void		*stored;
	size_t			 len, np;
	int			 rc;

	memset(out, 0, sizeof(*out));
	rc = store_get_verdict(txn, ev->id, ev->idlen, &stored, &len);
	if (rc < 0)
		return (-1);
	if (rc == 0 && verdict_rec_decode(stored, len, &r) != 0)
		return (VERDICT_CORRUPT);
	if (rc == 0) {
		/* Idempotent: the stored answer, byte for byte; nothing counted. */
		out->replay = true;
		out->seq = r.seq;
		out->action = r.action;
		out->score = r.score;
		out->reply = xstrndup(r.reply, r.replylen);
		out->replylen = r.replylen;
		return (1);
	}
	/* The pairs of keys rs counts are indexed from its first event on. */
	if (rs != NULL && (np = rules_pairs(rs, &pairs)) > 0 &&
	    store_pairs_want(txn, pairs, np) != 0)
		return (-1);
	return (store_put_event(txn, ev) != 0 ? -1 : 0);
}

/*
 * The memo of this thread's checks: each evaluation reads the store as
 * the one before it did, grown by events (the next check's, a run's), so
 * the events it read and their keys stay while the store's epoch does:
 * a referrer's referrals are read once, not at each of its checks.
 */
static struct rules_memo *
check_memo(struct store_txn *txn)
{
	struct zstate	*zs = zstate_get();
	uint64_t	 epoch = store_txn_epoch(txn);

	if (zs->memo == NULL)
		zs->memo = rules_memo_new_events(CHECK_MEMO_EVENTS,
		    CHECK_MEMO_KEYS);
	else if (zs->memo_epoch != epoch)
		rules_memo_reset(zs->memo);
	else
		rules_memo_next(zs->memo);
	zs->memo_epoch = epoch;
	return (zs->memo);
}

/*
 * Move res's explain, asked for in split form (RULES_EXPLAIN_SHAPED),
 * into sp when its text would be long enough for a shape; else make it
 * text (res->explain), which is how a short one is stored. True when sp
 * holds it.
 */
static bool
explain_shaped(struct rules_result *res, struct store_xsplit *sp)
{
	if (res->xshape.len == 0)
		return (false);		/* no rule set: no explain */
	if (res->xshape.len < EXPLAIN_SHAPE_MIN) {
		/* The text is no shorter than its shape: maybe short. */
		res->explain = jshape_join_text(&res->xshape, &res->xvals);
		if (strlen(res->explain) < EXPLAIN_SHAPE_MIN) {
			sbuf_free(&res->xshape);
			sbuf_free(&res->xvals);
			return (false);
		}
	}
	store_xshape_take(sp, &res->xshape, &res->xvals);
	return (true);
}

/* A check between its eval and end steps (verdict.h). */
struct verdict_eval {
	struct rules_result	 res;
	struct store_xsplit	 xs;	/* res.explain's, split by eval */
};

struct verdict_eval *
verdict_eval_new(void)
{
	return (xcalloc(1, sizeof(struct verdict_eval)));
}

/* Frees what ve holds; ve stays usable. */
static void
verdict_eval_clear(struct verdict_eval *ve)
{
	free(ve->res.explain);
	ve->res.explain = NULL;
	sbuf_free(&ve->res.xshape);
	sbuf_free(&ve->res.xvals);
	store_xsplit_free(&ve->xs);
}

void
verdict_eval_free(struct verdict_eval *ve)
{
	if (ve == NULL)
		return;
	verdict_eval_clear(ve);
	free(ve);
}

const struct rules_result *
verdict_eval_result(const struct verdict_eval *ve)
{
	return (&ve->res);
}

int
verdict_eval_explain(const struct verdict_eval *ve, struct store_txn *txn,
    struct sbuf *sb)
{
	const struct store_xsplit	*sp = &ve->xs;

	if (ve->res.explain != NULL) {
		sbuf_adds(sb, ve->res.explain);
		return (0);
	}
	if (!sp->ok)
		return (0);		/* none */
	if (sp->packed.len > 0)
		return (store_xshape_text(sb, txn, sp->packed.buf,
		    sp->packed.len));
	return (jshape_join_sb(&sp->shape, &sp->vals, sb));
}

int
verdict_check_eval(const struct ruleset *rs, const struct rg_event *ev,
    struct store_txn *txn, struct verdict_eval *ve)
{
	struct rules_result	*res = &ve->res;

	verdict_eval_clear(ve);		/* a batch run again */
	memset(res, 0, sizeof(*res));
	res->action = ACTION_ALLOW;
	if (rs != NULL && rules_eval_memo(rs, ev, check_memo(txn), txn,
	    RULES_EXPLAIN_SHAPED, res) != 0) {
		verdict_eval_clear(ve);
		return (-1);
	}
	/*
	 * Packing the explain, here on any thread but for a shape new to
	 * the store, which end puts (store_xshape.h).
	 */
	if (explain_shaped(res, &ve->xs) &&
	    store_xshape_prepack(txn, &ve->xs) < 0) {
		verdict_eval_clear(ve);
		return (-1);
	}
	return (0);
}

int
verdict_check_end(struct store_txn *txn, const struct ruleset *rs,
    const struct rg_event *ev, struct verdict_eval *ve, struct verdict *out)
{
	struct rules_result	*res = &ve->res;
	struct verdict_rec	 r;
	struct sbuf		 reply, explain;
	size_t			 i;
	int			 rc;

	sbuf_init(&reply, 512);
	format_reply(&reply, ev, rs, res);
	sbuf_init(&explain, 512);
	if ((res->explain != NULL || ve->xs.ok) && explain_pack(txn,
	    rs != NULL ? rules_hash(rs) : NULL, &explain, res->explain,
	    res->explain != NULL ? strlen(res->explain) : 0,
	    ve->xs.ok ? &ve->xs : NULL) != 0) {
		verdict_eval_clear(ve);
		sbuf_free(&reply);
		sbuf_free(&explain);
		return (-1);
	}
	verdict_eval_clear(ve);
	memset(&r, 0, sizeof(r));
	r.seq = ev->seq;
	r.action = res->action;
	r.score = res->score;
	r.reply = reply.buf;
	r.replylen = reply.len;
	r.explain = explain.buf;
	r.explainlen = explain.len;
	rc = verdict_put(txn, ev->id, ev->idlen, &r, NULL);
	sbuf_free(&explain);
	if (rc == 0)
		rc = daily_check(txn, ev->ts, rs, res);
	if (rc == 0 && res->action == ACTION_REVIEW)
		rc = queue_enter(txn, rs, ev, res, QUEUE_FROM_CHECK,
		    ACTION_ALLOW, ev->ts);
	if (rc != 0) {
		sbuf_free(&reply);
		return (-1);
	}
	out->seq = ev->seq;
	out->action = res->action;
	out->score = res->score;
	out->reply = sbuf_take(&reply, &out->replylen);
	for (i = 0; i < res->nhits && out->nhits < nitems(out->hits); i++) {
		out->hits_shadow[out->nhits] = res->hits[i].shadow;
		out->hits[out->nhits++] = res->hits[i].rule;
	}
	return (0);
}

int
verdict_check(struct store_txn *txn, const struct ruleset *rs,
    struct rg_event *ev, struct verdict *out)
{
	struct verdict_eval	*ve;
	int			 rc;

	if ((rc = verdict_check_begin(txn, rs, ev, out)) != 0)
		return (rc == 1 ? 0 : rc);
	ve = verdict_eval_new();
	if ((rc = verdict_check_eval(rs, ev, txn, ve)) == 0)
		rc = verdict_check_end(txn, rs, ev, ve, out);
	verdict_eval_free(ve);
	return (rc);
}

/* Rule names matched in a verdict reply (reasons and shadow). */
struct hit_names {
	char	(*names)[64];
	size_t	 n, cap;
};

static int
hit_name_cb(void *arg, const char *rule, bool shadow)
{
	struct hit_names	*h = arg;

	if (h->n < h->cap)
		snprintf(h->names[h->n++], sizeof(h->names[0]), "%s", rule);
	return (0);
}

static size_t
reply_hits(const char *reply, size_t len, char names[][64], size_t cap)
{
	struct hit_names	h = { names, 0, cap };

	(void)verdict_reply_rules(reply, len, hit_name_cb, &h);
	return (h.n);
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
	struct verdict_ver	 pv, nv;
	struct rg_event		 ev;
	struct sbuf		 reply, delta, explain;
	struct store_xsplit	 xs;
	const void		*stored;
	const char		*s;
	void			*own;
	size_t			 len, np, nn, i;
	unsigned		 version;
	int			 rc;
	bool			 shaped;

	memset(out, 0, sizeof(*out));
	if ((rc = store_get_verdict(txn, id, idlen, &stored, &len)) != 0)
		return (rc);
	/* Copied before anything writes: a write may move stored. */
	own = xmalloc(len);
	memcpy(own, stored, len);
	if (verdict_rec_decode(own, len, &r) != 0) {
		free(own);
		return (VERDICT_CORRUPT);
	}
	if (r.nrechecks + 1 >= VERDICT_MAX_VERSIONS) {
		free(own);
		return (2);
	}

	/* What it is compared with: the latest version. */
	if (verdict_rec_latest(&r, &pv) != 0) {
		free(own);
		return (VERDICT_CORRUPT);
	}
	np = reply_hits(pv.reply, pv.replylen, prev_names,
	    nitems(prev_names));
	version = pv.version + 1;

	if ((rc = store_get_event(txn, r.seq, &ev)) != 0) {
		free(own);
		return (rc);
	}
	if (at_given && now < ev.ts) {
		free(own);
		out->reply = xstrdup(fmt_rfc3339(ev.ts, when));
		out->replylen = strlen(out->reply);
		return (VERDICT_TOO_EARLY);
	}
	memset(&res, 0, sizeof(res));
	res.action = ACTION_ALLOW;
	at.ts = now > ev.ts ? now : ev.ts;
	at.max_seq = 0;
	if (rs != NULL && rules_eval_at(rs, &ev, &at, txn,
	    RULES_EXPLAIN_SHAPED, &res) != 0) {
		free(own);
		return (-1);
	}
	memset(&xs, 0, sizeof(xs));
	shaped = explain_shaped(&res, &xs);
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
	s = res.explain != NULL ? res.explain : shaped ? NULL : "[]";

	sbuf_init(&explain, 512);
	rc = explain_pack(txn, rs != NULL ? rules_hash(rs) : NULL, &explain, s,
	    s != NULL ? strlen(s) : 0, shaped ? &xs : NULL);
	store_xsplit_free(&xs);
	if (rc != 0) {
		free(res.explain);
		free(own);
		sbuf_free(&explain);
		sbuf_free(&reply);
		sbuf_free(&delta);
		return (-1);
	}
	free(res.explain);
	nv.ts = now;
	nv.action = res.action;
	nv.score = res.score;
	nv.reply = reply.buf;
	nv.replylen = reply.len;
	nv.delta = delta.buf;
	nv.deltalen = delta.len;
	nv.explain = explain.buf;
	nv.explainlen = explain.len;
	rc = verdict_put(txn, id, idlen, &r, &nv);
	sbuf_free(&explain);
	free(own);
	if (rc == 0 && res.action != pv.action)
		rc = daily_recheck(txn, now, pv.action, res.action);
	if (rc == 0 && res.action > pv.action && res.action >= ACTION_REVIEW)
		rc = queue_enter(txn, rs, &ev, &res, QUEUE_FROM_RECHECK,
		    pv.action, now);
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
verdict_observe(struct store_txn *txn, struct rg_event *ev, struct verdict *out)
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
	if (p->facts & PF_EMAIL_TAGGED)
		sbuf_adds(sb, p->email_tagged ?
		    ",\"email.tagged\":true" : ",\"email.tagged\":false");
	if (p->facts & PF_DEVICE_EMULATOR)
		sbuf_adds(sb, p->device_emulator ?
		    ",\"device.emulator\":true" :
		    ",\"device.emulator\":false");
	if (p->facts & PF_DEVICE_BROWSER)
		sbuf_adds(sb, p->device_browser ?
		    ",\"device.browser\":true" :
		    ",\"device.browser\":false");
	if (p->facts & PF_IP_INFO) {
		sbuf_adds(sb, ",\"ip.version\":");
		sbuf_add_int(sb, p->ip_version);
		sbuf_adds(sb, p->ip_private ? ",\"ip.private\":true" :
		    ",\"ip.private\":false");
	}
	if (p->facts & PF_DEVICE_TZ) {
		sbuf_adds(sb, ",\"device.tz_country\":");
		sbuf_add_jstr(sb, p->device_tz_country,
		    strnlen(p->device_tz_country, 2));
	}
	if (p->facts & PF_DEVICE_MODEL) {
		sbuf_adds(sb, ",\"device.model\":");
		sbuf_add_jstr(sb, p->device_model, strlen(p->device_model));
	}
	if (p->facts & PF_DEVICE_LANG) {
		sbuf_adds(sb, ",\"device.lang_country\":");
		sbuf_add_jstr(sb, p->device_lang_country,
		    strnlen(p->device_lang_country, 2));
	}
	if (p->facts & PF_PHONE_COUNTRY) {
		sbuf_adds(sb, ",\"phone.country\":");
		sbuf_add_jstr(sb, p->phone_country,
		    strnlen(p->phone_country, 2));
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
add_event(struct sbuf *sb, const struct rg_event *ev)
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
add_links(struct sbuf *sb, struct store_txn *txn, const struct rg_event *ev)
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
	struct verdict_ver_iter	it;
	struct verdict_ver	v;
	char			when[RFC3339_LEN];

	sbuf_adds(sb, ",\"rechecks\":[");
	verdict_ver_iter_init(&it, r);
	while (verdict_ver_next(&it, &v) == 0) {
		sbuf_addf(sb, "%s{\"version\":%u,\"at\":\"%s\",\"action\":\"%s\","
		    "\"score\":%d,", v.version > 2 ? "," : "", v.version,
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
	struct rg_event	 ev;
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
		if (verdict_rec_latest(&r, &v) != 0)
			return (VERDICT_CORRUPT);
		out->action = v.action;
		out->score = v.score;
		out->reply = xstrndup(v.reply, v.replylen);
		out->replylen = v.replylen;
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
