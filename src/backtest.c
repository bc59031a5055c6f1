/*
 * backtest.c: replay stored referrals through a candidate rule set; the
 * contract is in backtest.h.
 */
#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backtest.h"
#include "log.h"
#include "rules.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"
#include "verdict.h"

#define BT_CHUNK	4096
#define BT_NACT		3	/* allow, review, deny */
#define BT_WORKERS_MAX	64
/* Events a worker's memo keeps (rules_memo_new): all in all ~47 MB. */
#define BT_MEMO_EVENTS	16384

/* Hits of one rule name, in the stored verdicts and in the candidate's. */
struct bt_rule {
	char		*name;
	uint64_t	 s_enforce, s_shadow;
	uint64_t	 c_enforce, c_shadow;
	uint64_t	 c_tp;		/* matched a labelled-fraud referral */
	uint64_t	 c_timed, c_ns;	/* its evaluations timed, their ns */
	bool		 in_candidate;
};

/* Flagged referrals and the labelled-fraud ones among them. */
struct bt_pr {
	uint64_t	flagged;
	uint64_t	tp;
};

/* What counts as fraud-positive: a referral's own label is one of these. */
#define BT_POSITIVE	((1u << LABEL_FRAUD) | (1u << LABEL_CHARGEBACK) | \
			 (1u << LABEL_ABUSE))
/* Feedback records name an account by this much of its hash's hex. */
#define BT_ACCT_PREFIX	12

/*
 * A referral's own label, from the feedback records: the newest on its
 * id, else the newest on its referee's account. key: the referral id, or
 * the account's hash in hex (only its first BT_ACCT_PREFIX digits in a
 * record written before feedback kept the whole hash).
 */
struct bt_label {
	char		*key;
	uint64_t	 fb;		/* the feedback record's id */
	uint8_t		 label;
};

/* A candidate rule by name (bsearch), for the names a stored reply holds. */
struct bt_name {
	const char	*name;
	uint32_t	 rule;
};

/* A changed referral kept as a sample: the earliest by seq are printed. */
struct bt_sample {
	uint64_t	 seq;
	char		*id;
};

struct backtest {
	const struct ruleset *rs;	/* during the run only */
	struct backtest_opts opts;
	char		*ruleset;	/* the candidate's hash */
	uint64_t	 first_seq;	/* the oldest event (retention) */
	uint64_t	 last_seq;	/* events up to here were replayed */
	uint64_t	 events;	/* scanned */
	uint64_t	 referrals;	/* replayed and compared */
	uint64_t	 skipped;	/* in range, but no stored verdict */
	uint64_t	 changed;
	double		 seconds;
	unsigned	 workers;	/* replayed in this many processes */
	uint64_t	 matrix[BT_NACT][BT_NACT];	/* [stored][candidate] */
	struct bt_sample *samples[BT_NACT][BT_NACT];
	size_t		 nsamples[BT_NACT][BT_NACT];
	struct bt_rule	*rules;
	size_t		 nrules, rules_cap;
	uint64_t	*cand;		/* [rule * 2 + shadow], by rule index */
	uint64_t	*cand_tp;	/* [rule], matched and positive */
	/*
	 * What evaluating the candidate's rules cost here: [rule * 2] the
	 * evaluations timed, [rule * 2 + 1] their nanoseconds (rules.h,
	 * rules_rule_cost), less what the set had counted before (cost0).
	 */
	uint64_t	*cand_cost, *cost0;
	size_t		 ncand;
	bool		 labels;	/* the store holds feedback: figures below */
	struct bt_label	*by_id, *by_acct;	/* sorted, see bt_own_label() */
	size_t		 nby_id, nby_acct;
	uint64_t	 positives;
	uint64_t	 legit;		/* labelled legit */
	uint64_t	 unlabelled;
	struct bt_pr	 pr_stored, pr_cand;	/* flagged: review or deny */
	/*
	 * Reusing the outcomes of unchanged rules: the base set's hash (the
	 * verdicts it gave), which candidate rules match as the base's rule
	 * of their name does (rules_rule_same), and the candidate's rules by
	 * name. rules_evaluated / rules_reused count rule outcomes.
	 */
	char		*base_hash;	/* NULL: no base set */
	uint8_t		*same;		/* [rule]: as the base's */
	struct bt_name	*names;		/* sorted by name */
	uint64_t	 rules_evaluated;
	uint64_t	 rules_reused;
};

struct bt_scan {
	struct backtest		*bt;
	struct store_txn	*txn;
	struct rules_memo	*memo;		/* reset at each transaction */
	uint8_t			*known;		/* [rule]: rules_eval_known() */
	bool			 err;
};

/* What bt_stored_hit() does with the rules a stored reply names. */
struct bt_reply {
	struct backtest	*bt;
	uint8_t		*known;		/* NULL: no outcome is reused */
	size_t		 nhits;
};

static struct bt_rule *
bt_rule(struct backtest *bt, const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < bt->nrules; i++)
		if (strncmp(bt->rules[i].name, name, len) == 0 &&
		    bt->rules[i].name[len] == '\0')
			return (&bt->rules[i]);
	if (bt->nrules == bt->rules_cap) {
		bt->rules_cap = bt->rules_cap ? bt->rules_cap * 2 : 32;
		bt->rules = xreallocarray(bt->rules, bt->rules_cap,
		    sizeof(*bt->rules));
	}
	memset(&bt->rules[bt->nrules], 0, sizeof(*bt->rules));
	bt->rules[bt->nrules].name = xstrndup(name, len);
	return (&bt->rules[bt->nrules++]);
}

static int
bt_name_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct bt_name *)a)->name,
	    ((const struct bt_name *)b)->name));
}

/* One rule a stored verdict's reply names (verdict_reply_rules). */
static int
bt_stored_hit(void *arg, const char *name, bool shadow)
{
	struct bt_reply		*rp = arg;
	struct bt_rule		*r = bt_rule(rp->bt, name, strlen(name));
	struct bt_name		 key, *c;

	if (shadow)
		r->s_shadow++;
	else
		r->s_enforce++;
	rp->nhits++;
	key.name = name;
	if (rp->known != NULL && (c = bsearch(&key, rp->bt->names,
	    rp->bt->ncand, sizeof(key), bt_name_cmp)) != NULL &&
	    rp->known[c->rule] == RULES_KNOWN_MISS)
		rp->known[c->rule] = RULES_KNOWN_MATCH;
	return (0);
}

/*
 * Count the rules a stored reply names (its reasons and shadow arrays)
 * and, when the stored verdict was given by the candidate set or the
 * base set, fill known[] with the outcome of each candidate rule that is
 * the same as the one that ran (every rule for the candidate's own
 * verdicts): matched when the reply names it, else missed. A reply that
 * names RULES_MAX_HITS rules may have left matches out (the live check
 * keeps that many): then nothing is reused. Returns known, or NULL when
 * every rule must be evaluated.
 */
static uint8_t *
bt_stored_hits(struct backtest *bt, const char *reply, size_t len,
    uint8_t *known)
{
	struct bt_reply		 rp = { bt, NULL, 0 };
	const char		*h;
	size_t			 i, hl = 2 * 16;
	bool			 all;

	if (known != NULL && (h = verdict_reply_ruleset(reply, len)) != NULL) {
		all = memcmp(h, bt->ruleset, hl) == 0 &&
		    bt->ruleset[hl] == '\0';
		if (all || (bt->base_hash != NULL &&
		    memcmp(h, bt->base_hash, hl) == 0 &&
		    bt->base_hash[hl] == '\0')) {
			for (i = 0; i < bt->ncand; i++)
				known[i] = all || bt->same[i] ?
				    RULES_KNOWN_MISS : RULES_KNOWN_NONE;
			rp.known = known;
		}
	}
	if (verdict_reply_rules(reply, len, bt_stored_hit, &rp) != 0 ||
	    rp.nhits >= RULES_MAX_HITS)
		return (NULL);
	return (rp.known);
}

static int
bt_label_cmp(const void *a, const void *b)
{
	const struct bt_label	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->key, y->key)) != 0)
		return (c);
	return (x->fb > y->fb ? -1 : x->fb < y->fb);	/* newest first */
}

/* Accounts by their prefix only: whole hashes and old prefixes mix. */
static int
bt_acct_cmp(const void *a, const void *b)
{
	const struct bt_label	*x = a, *y = b;
	int			 c;

	if ((c = strncmp(x->key, y->key, BT_ACCT_PREFIX)) != 0)
		return (c);
	return (x->fb > y->fb ? -1 : x->fb < y->fb);
}

struct bt_fb {
	struct backtest	*bt;
	size_t		 cap_id, cap_acct;
};

static void
bt_label_add(struct bt_label **v, size_t *n, size_t *cap, const char *key,
    size_t len, uint64_t fb, int label)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[*n].key = xstrndup(key, len);
	(*v)[*n].fb = fb;
	(*v)[*n].label = (uint8_t)label;
	(*n)++;
}

static int
bt_feedback_cb(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct bt_fb	*f = arg;
	struct backtest	*bt = f->bt;
	json_t		*o, *v;
	const char	*s;
	int		 label;

	if ((o = json_loadb(rec, len, 0, NULL)) == NULL)
		return (0);
	s = json_string_value(json_object_get(o, "label"));
	if (s == NULL || (label = store_label_from_name(s)) < 0)
		goto out;
	if (json_is_string(v = json_object_get(o, "id")))
		bt_label_add(&bt->by_id, &bt->nby_id, &f->cap_id,
		    json_string_value(v), json_string_length(v), id, label);
	else if (json_is_string(v = json_object_get(o, "account_hash")))
		bt_label_add(&bt->by_acct, &bt->nby_acct, &f->cap_acct,
		    json_string_value(v), json_string_length(v), id, label);
	else if ((s = json_string_value(json_object_get(o, "account"))) !=
	    NULL && strncmp(s, "account:", 8) == 0 &&
	    strlen(s + 8) == BT_ACCT_PREFIX)
		bt_label_add(&bt->by_acct, &bt->nby_acct, &f->cap_acct, s + 8,
		    BT_ACCT_PREFIX, id, label);
out:
	json_decref(o);
	return (0);
}

/* Read every feedback record into the sorted by_id and by_acct. */
static int
bt_load_labels(struct backtest *bt, struct store *st, char **cause)
{
	struct store_txn	*txn;
	struct bt_fb		 f = { bt, 0, 0 };
	int			 rc;

	if ((txn = store_begin(st, false, cause)) == NULL)
		return (-1);
	rc = store_feedback_scan(txn, bt_feedback_cb, &f);
	if (rc != 0)
		xasprintf(cause, "backtest: %s", store_txn_errstr(txn));
	store_abort(txn);
	if (rc != 0)
		return (-1);
	if (bt->nby_id > 1)
		qsort(bt->by_id, bt->nby_id, sizeof(*bt->by_id), bt_label_cmp);
	if (bt->nby_acct > 1)
		qsort(bt->by_acct, bt->nby_acct, sizeof(*bt->by_acct),
		    bt_acct_cmp);
	return (0);
}

/* The first of v[0..n) not before key (on its first len bytes; 0: all). */
static size_t
bt_lower(const struct bt_label *v, size_t n, const char *key, size_t len)
{
	size_t	lo = 0, hi = n, mid;
	int	c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = len ? strncmp(v[mid].key, key, len) : strcmp(v[mid].key,
		    key);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo);
}

/*
 * The referral's own label (0: none): the newest feedback on its id, else
 * the newest on its referee's account. Never one spread to it through an
 * identity it shares with a labelled referral or account (what labeled()
 * sees): a precision against those would count the neighbours of every
 * fraud as fraud.
 */
static int
bt_own_label(const struct backtest *bt, const struct rg_event *ev)
{
	const struct party	*p = &ev->party[PARTY_REFEREE];
	const struct bt_label	*best = NULL;
	char			 id[RG_ID_MAX + 1], hex[2 * RG_HASH_LEN + 1];
	size_t			 i;

	memcpy(id, ev->id, ev->idlen);
	id[ev->idlen] = '\0';
	i = bt_lower(bt->by_id, bt->nby_id, id, 0);
	if (i < bt->nby_id && strcmp(bt->by_id[i].key, id) == 0)
		return (bt->by_id[i].label);
	if (ev->nparties <= PARTY_REFEREE || !PARTY_HAS(p, ENT_ACCOUNT))
		return (0);
	rg_hash_hex(&p->h[ENT_ACCOUNT], hex);
	for (i = bt_lower(bt->by_acct, bt->nby_acct, hex, BT_ACCT_PREFIX);
	    i < bt->nby_acct && strncmp(bt->by_acct[i].key, hex,
	    BT_ACCT_PREFIX) == 0; i++) {
		/* Newest first; a bare prefix is a record from before. */
		if (strlen(bt->by_acct[i].key) == BT_ACCT_PREFIX ||
		    strcmp(bt->by_acct[i].key, hex) == 0) {
			best = &bt->by_acct[i];
			break;
		}
	}
	return (best != NULL ? best->label : 0);
}

static int
bt_referral(struct bt_scan *sc, const struct rg_event *ev)
{
	struct backtest		*bt = sc->bt;
	struct rules_result	 res;
	struct verdict_rec	 vr;
	const void		*rec;
	size_t			 len, i, *ns;
	uint8_t			 s, c, *known;
	int			 rc;

	if ((rc = store_get_verdict_seq(sc->txn, ev->seq, &vr)) == 1 &&
	    (rc = store_get_verdict(sc->txn, ev->id, ev->idlen, &rec,
	    &len)) == 0 && verdict_rec_decode(rec, len, &vr) != 0)
		rc = 2;		/* corrupt */
	if (rc < 0)
		return (-1);
	/* A verdict of another event (the id was re-checked after retention). */
	if (rc != 0 || vr.seq != ev->seq || vr.action >= BT_NACT) {
		bt->skipped++;
		return (0);
	}
	known = bt_stored_hits(bt, vr.reply, vr.replylen, sc->known);
	memset(&res, 0, sizeof(res));
	res.action = ACTION_ALLOW;
	if ((known != NULL ? rules_eval_known(bt->rs, ev, known, sc->memo,
	    sc->txn, &res) : rules_eval_memo(bt->rs, ev, sc->memo, sc->txn, 0,
	    &res)) != 0)
		return (-1);
	for (i = 0; i < bt->ncand; i++)
		if (known != NULL && known[i] != RULES_KNOWN_NONE)
			bt->rules_reused++;
		else
			bt->rules_evaluated++;
	s = vr.action;
	c = res.action < BT_NACT ? res.action : ACTION_DENY;
	bt->referrals++;
	bt->matrix[s][c]++;
	if (s != c) {
		bt->changed++;
		ns = &bt->nsamples[s][c];
		if (*ns < bt->opts.samples) {
			if (bt->samples[s][c] == NULL)
				bt->samples[s][c] = xcalloc(bt->opts.samples,
				    sizeof(*bt->samples[s][c]));
			bt->samples[s][c][*ns].seq = ev->seq;
			bt->samples[s][c][(*ns)++].id = xstrndup(ev->id,
			    ev->idlen);
		}
	}
	for (i = 0; i < res.nhits; i++)
		if (res.hits[i].rule < bt->ncand)
			bt->cand[res.hits[i].rule * 2 + (res.hits[i].shadow ?
			    1 : 0)]++;
	if (bt->labels) {
		int	label = bt_own_label(bt, ev);
		bool	pos = label > 0 && (BT_POSITIVE & (1u << label));

		bt->positives += pos;
		bt->legit += label == LABEL_LEGIT;
		bt->unlabelled += label == 0;
		bt->pr_stored.flagged += s != ACTION_ALLOW;
		bt->pr_stored.tp += pos && s != ACTION_ALLOW;
		bt->pr_cand.flagged += c != ACTION_ALLOW;
		bt->pr_cand.tp += pos && c != ACTION_ALLOW;
		for (i = 0; pos && i < res.nhits; i++)
			if (res.hits[i].rule < bt->ncand)
				bt->cand_tp[res.hits[i].rule]++;
	}
	return (0);
}

static int
bt_event(void *arg, const struct rg_event *ev)
{
	struct bt_scan	*sc = arg;
	struct backtest	*bt = sc->bt;

	bt->events++;
	if (ev->type == EV_REFERRAL && ev->ts >= bt->opts.since &&
	    ev->ts <= bt->opts.until && bt_referral(sc, ev) != 0) {
		sc->err = true;
		return (1);
	}
	return (0);
}

/*
 * Replay chunks first, first + stride, ... of the seqs first_seq ..
 * last_seq, chunk k holding seqs first_seq + k * chunk onwards, each in
 * its own read transaction. 0, or -1 and *cause.
 */
static int
bt_scan_chunks(struct backtest *bt, struct store *st, uint64_t first,
    uint64_t stride, char **cause)
{
	struct bt_scan	sc;
	uint64_t	k, from, to;
	int		rc;

	memset(&sc, 0, sizeof(sc));
	sc.bt = bt;
	sc.memo = rules_memo_new(BT_MEMO_EVENTS);
	if (!bt->opts.no_reuse)
		sc.known = xcalloc(bt->ncand + 1, 1);
	for (k = first; bt->first_seq + k * bt->opts.chunk <= bt->last_seq;
	    k += stride) {
		from = bt->first_seq + k * bt->opts.chunk;
		to = from + bt->opts.chunk - 1;
		if (to > bt->last_seq)
			to = bt->last_seq;
		if ((sc.txn = store_begin(st, false, cause)) == NULL) {
			rules_memo_free(sc.memo);
			free(sc.known);
			return (-1);
		}
		rules_memo_reset(sc.memo);
		rc = store_scan_events(sc.txn, from, to, bt_event, &sc);
		if (rc != 0 || sc.err || store_txn_err(sc.txn) != STORE_OK) {
			xasprintf(cause, "backtest: %s",
			    store_txn_errstr(sc.txn));
			store_abort(sc.txn);
			rules_memo_free(sc.memo);
			free(sc.known);
			return (-1);
		}
		store_abort(sc.txn);	/* read only: nothing to commit */
	}
	rules_memo_free(sc.memo);
	free(sc.known);
	return (0);
}

/*
 * Parallel replay: worker processes, each with its own read-only store
 * (an LMDB environment is opened once per process, and a read-only
 * store keeps one private copy of the recent tier: one transaction at a
 * time), replay interleaved chunks and send their counts to the parent
 * through a pipe in this binary's own layout, which it adds up in chunk
 * order, so that the report is the one a single worker gives.
 */
static void
bt_put(FILE *f, uint64_t v)
{
	fwrite(&v, sizeof(v), 1, f);
}

static void
bt_put_str(FILE *f, const char *s, size_t len)
{
	bt_put(f, len);
	fwrite(s, 1, len, f);
}

static int
bt_get(FILE *f, uint64_t *v)
{
	return (fread(v, sizeof(*v), 1, f) == 1 ? 0 : -1);
}

/* A string sent by bt_put_str(), NUL-terminated (caller frees), or NULL. */
static char *
bt_get_str(FILE *f)
{
	uint64_t	 len;
	char		*s;

	if (bt_get(f, &len) != 0 || len > (1u << 20))
		return (NULL);
	s = xmalloc(len + 1);
	if (fread(s, 1, len, f) != len) {
		free(s);
		return (NULL);
	}
	s[len] = '\0';
	return (s);
}

#define BT_WIRE_OK	0x62746f6bULL	/* a worker's counts follow */
#define BT_WIRE_ERR	0x62746572ULL	/* a worker's error message follows */
#define BT_WIRE_END	0x6274656eULL

/* The counts bt_referral() adds up, in the order the wire carries them. */
static uint64_t *
bt_counter(struct backtest *bt, size_t i)
{
	uint64_t	*c[] = { &bt->events, &bt->referrals, &bt->skipped,
	    &bt->changed, &bt->positives, &bt->legit, &bt->unlabelled,
	    &bt->pr_stored.flagged, &bt->pr_stored.tp, &bt->pr_cand.flagged,
	    &bt->pr_cand.tp, &bt->rules_evaluated, &bt->rules_reused };

	return (i < nitems(c) ? c[i] : NULL);
}

/* Add what the candidate's rules cost since cost0 to cand_cost. */
static void
bt_cost_take(struct backtest *bt)
{
	uint64_t	n, ns;
	size_t		i;

	for (i = 0; i < bt->ncand; i++) {
		rules_rule_cost(bt->rs, (uint32_t)i, &n, &ns);
		bt->cand_cost[i * 2] += n - bt->cost0[i * 2];
		bt->cand_cost[i * 2 + 1] += ns - bt->cost0[i * 2 + 1];
	}
}

static void
bt_send(const struct backtest *bt, FILE *f)
{
	uint64_t	*c;
	size_t		 i, a, b;

	bt_put(f, BT_WIRE_OK);
	for (i = 0; (c = bt_counter((struct backtest *)bt, i)) != NULL; i++)
		bt_put(f, *c);
	for (a = 0; a < BT_NACT; a++)
		for (b = 0; b < BT_NACT; b++) {
			bt_put(f, bt->matrix[a][b]);
			bt_put(f, bt->nsamples[a][b]);
			for (i = 0; i < bt->nsamples[a][b]; i++) {
				bt_put(f, bt->samples[a][b][i].seq);
				bt_put_str(f, bt->samples[a][b][i].id,
				    strlen(bt->samples[a][b][i].id));
			}
		}
	for (i = 0; i < bt->ncand * 2; i++)
		bt_put(f, bt->cand[i]);
	for (i = 0; i < bt->ncand; i++)
		bt_put(f, bt->cand_tp[i]);
	for (i = 0; i < bt->ncand * 2; i++)
		bt_put(f, bt->cand_cost[i]);
	bt_put(f, bt->nrules);
	for (i = 0; i < bt->nrules; i++) {
		bt_put_str(f, bt->rules[i].name, strlen(bt->rules[i].name));
		bt_put(f, bt->rules[i].s_enforce);
		bt_put(f, bt->rules[i].s_shadow);
	}
	bt_put(f, BT_WIRE_END);
}

static int
bt_sample_cmp(const void *a, const void *b)
{
	const struct bt_sample	*x = a, *y = b;

	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* Add one worker's counts to bt. 0, or -1 and *cause. */
static int
bt_receive(struct backtest *bt, FILE *f, char **cause)
{
	struct bt_sample	*sv;
	struct bt_rule		*r;
	uint64_t		 v, n, e, sh, seq;
	size_t			 i, j, a, b, *ns;
	char			*s;

	if (bt_get(f, &v) != 0)
		goto short_read;
	if (v == BT_WIRE_ERR) {
		if ((s = bt_get_str(f)) == NULL)
			goto short_read;
		*cause = s;
		return (-1);
	}
	if (v != BT_WIRE_OK)
		goto short_read;
	for (i = 0; bt_counter(bt, i) != NULL; i++) {
		if (bt_get(f, &v) != 0)
			goto short_read;
		*bt_counter(bt, i) += v;
	}
	for (a = 0; a < BT_NACT; a++)
		for (b = 0; b < BT_NACT; b++) {
			if (bt_get(f, &v) != 0 || bt_get(f, &n) != 0 ||
			    n > bt->opts.samples)
				goto short_read;
			bt->matrix[a][b] += v;
			ns = &bt->nsamples[a][b];
			if (n > 0 && bt->samples[a][b] == NULL)
				bt->samples[a][b] = xcalloc(2 *
				    bt->opts.samples, sizeof(*sv));
			sv = bt->samples[a][b];
			/* Keep the earliest: this worker's, then the rest. */
			for (j = 0; j < n; j++) {
				if (bt_get(f, &seq) != 0 ||
				    (s = bt_get_str(f)) == NULL)
					goto short_read;
				sv[*ns].seq = seq;
				sv[(*ns)++].id = s;
			}
			if (*ns > 1)
				qsort(sv, *ns, sizeof(*sv), bt_sample_cmp);
			while (*ns > bt->opts.samples)
				free(sv[--(*ns)].id);
		}
	for (i = 0; i < bt->ncand * 2; i++) {
		if (bt_get(f, &v) != 0)
			goto short_read;
		bt->cand[i] += v;
	}
	for (i = 0; i < bt->ncand; i++) {
		if (bt_get(f, &v) != 0)
			goto short_read;
		bt->cand_tp[i] += v;
	}
	for (i = 0; i < bt->ncand * 2; i++) {
		if (bt_get(f, &v) != 0)
			goto short_read;
		bt->cand_cost[i] += v;
	}
	if (bt_get(f, &n) != 0)
		goto short_read;
	for (i = 0; i < n; i++) {
		if ((s = bt_get_str(f)) == NULL)
			goto short_read;
		if (bt_get(f, &e) != 0 || bt_get(f, &sh) != 0) {
			free(s);
			goto short_read;
		}
		r = bt_rule(bt, s, strlen(s));
		r->s_enforce += e;
		r->s_shadow += sh;
		free(s);
	}
	if (bt_get(f, &v) != 0 || v != BT_WIRE_END)
		goto short_read;
	return (0);
short_read:
	xasprintf(cause, "backtest: a worker's report was cut short");
	return (-1);
}

/* A worker: its own store, chunks w, w + n, ...; never returns. */
static void
bt_worker(struct backtest *bt, unsigned w, unsigned n, int fd)
{
	struct store_opts	 so;
	struct store		*st;
	FILE			*f;
	char			*cause = NULL;
	int			 rc = -1;

	if ((f = fdopen(fd, "w")) == NULL)
		_exit(1);
	memset(&so, 0, sizeof(so));
	so.dir = bt->opts.dir;
	so.readonly = true;
	if ((st = store_open(&so, &cause)) != NULL) {
		rc = bt_scan_chunks(bt, st, w, n, &cause);
		store_close(st);
	}
	if (rc == 0) {
		bt_cost_take(bt);
		bt_send(bt, f);
	} else {
		bt_put(f, BT_WIRE_ERR);
		bt_put_str(f, cause, strlen(cause));
	}
	_exit(fclose(f) == 0 && rc == 0 ? 0 : 1);
}

/* Replay with n worker processes. 0, or -1 and *cause. */
static int
bt_scan_parallel(struct backtest *bt, unsigned n, char **cause)
{
	pid_t		 pid[BT_WORKERS_MAX];
	FILE		*in[BT_WORKERS_MAX];
	int		 fds[2], status, rc = 0;
	unsigned	 w, k, started = 0;

	fflush(stdout);
	fflush(stderr);
	for (w = 0; w < n; w++) {
		if (pipe(fds) != 0) {
			xasprintf(cause, "backtest: pipe: %s", strerror(errno));
			break;
		}
		if ((pid[w] = fork()) == -1) {
			xasprintf(cause, "backtest: fork: %s", strerror(errno));
			close(fds[0]);
			close(fds[1]);
			break;
		}
		if (pid[w] == 0) {
			close(fds[0]);
			while (started > 0)
				fclose(in[--started]);
			bt_worker(bt, w, n, fds[1]);
		}
		close(fds[1]);
		if ((in[w] = fdopen(fds[0], "r")) == NULL)
			fatal("fdopen");
		started++;
	}
	if (started < n) {
		rc = -1;
		for (w = 0; w < started; w++)
			kill(pid[w], SIGTERM);
	}
	/* In order: a worker blocked on a full pipe waits for its turn. */
	for (w = 0; w < started; w++) {
		if (rc == 0 && bt_receive(bt, in[w], cause) != 0) {
			rc = -1;
			for (k = w + 1; k < started; k++)
				kill(pid[k], SIGTERM);
		}
		fclose(in[w]);
		while (waitpid(pid[w], &status, 0) == -1 && errno == EINTR)
			;
	}
	return (rc);
}

static int
bt_first_cb(void *arg, const struct rg_event *ev)
{
	*(uint64_t *)arg = ev->seq;
	return (1);
}

/*
 * The oldest stored event's seq into bt->first_seq (past last_seq when
 * there is none): retention deletes from the start, and chunks begin
 * there. 0, or -1 and *cause.
 */
static int
bt_first_seq(struct backtest *bt, struct store *st, char **cause)
{
	struct store_txn	*txn;
	int			 rc;

	bt->first_seq = bt->last_seq + 1;
	if (bt->last_seq == 0)
		return (0);
	if ((txn = store_begin(st, false, cause)) == NULL)
		return (-1);
	rc = store_scan_events(txn, 1, bt->last_seq, bt_first_cb,
	    &bt->first_seq);
	if (rc != 0)
		xasprintf(cause, "backtest: %s", store_txn_errstr(txn));
	store_abort(txn);
	return (rc != 0 ? -1 : 0);
}

static int
bt_rule_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct bt_rule *)a)->name,
	    ((const struct bt_rule *)b)->name));
}

/*
 * Which candidate rules are the base set's rule of their name
 * (rules_rule_same), and the candidate's rules sorted by name.
 */
static void
bt_reuse_init(struct backtest *bt)
{
	const struct ruleset	*base = bt->opts.base;
	size_t			 i, j, nb;

	bt->names = xcalloc(bt->ncand + 1, sizeof(*bt->names));
	bt->same = xcalloc(bt->ncand + 1, sizeof(*bt->same));
	for (i = 0; i < bt->ncand; i++) {
		bt->names[i].name = rules_rule_name(bt->rs, (uint32_t)i);
		bt->names[i].rule = (uint32_t)i;
	}
	if (bt->ncand > 1)
		qsort(bt->names, bt->ncand, sizeof(*bt->names), bt_name_cmp);
	if (base == NULL || bt->opts.no_reuse)
		return;
	bt->base_hash = xstrdup(rules_hash(base));
	nb = rules_count(base);
	for (j = 0; j < nb; j++) {
		struct bt_name	 key, *c;

		key.name = rules_rule_name(base, (uint32_t)j);
		if ((c = bsearch(&key, bt->names, bt->ncand, sizeof(key),
		    bt_name_cmp)) != NULL)
			bt->same[c->rule] = rules_rule_same(bt->rs, c->rule,
			    base, (uint32_t)j);
	}
}

struct backtest *
backtest_run(struct store *st, const struct ruleset *rs,
    const struct backtest_opts *opts, char **cause)
{
	struct backtest		*bt = xcalloc(1, sizeof(*bt));
	struct store_stat	 ss;
	struct timespec		 t0, t1;
	struct bt_rule		*r;
	const char		*name;
	uint64_t		 span;
	size_t			 i;
	unsigned		 workers;

	bt->rs = rs;
	bt->opts = *opts;
	if (bt->opts.chunk == 0)
		bt->opts.chunk = BT_CHUNK;
	bt->ruleset = xstrdup(rules_hash(rs));
	bt->ncand = rules_count(rs);
	bt->cand = xcalloc(bt->ncand * 2 + 1, sizeof(*bt->cand));
	bt->cand_tp = xcalloc(bt->ncand + 1, sizeof(*bt->cand_tp));
	bt->cand_cost = xcalloc(bt->ncand * 2 + 1, sizeof(*bt->cand_cost));
	bt->cost0 = xcalloc(bt->ncand * 2 + 1, sizeof(*bt->cost0));
	for (i = 0; i < bt->ncand; i++)
		rules_rule_cost(rs, (uint32_t)i, &bt->cost0[i * 2],
		    &bt->cost0[i * 2 + 1]);
	bt_reuse_init(bt);
	if (store_stat(st, &ss, cause) != 0)
		goto fail;
	bt->last_seq = ss.last_seq;
	bt->labels = ss.feedback > 0;
	if (bt->labels && bt_load_labels(bt, st, cause) != 0)
		goto fail;
	if (bt_first_seq(bt, st, cause) != 0)
		goto fail;
	span = bt->last_seq >= bt->first_seq ? bt->last_seq - bt->first_seq +
	    1 : 0;

	/*
	 * Workers take interleaved chunks, four each at least (smaller
	 * chunks in a small store), so that a slow stretch of history is
	 * shared; a worker's own set-up (its store, its copy of the recent
	 * tier) is paid once.
	 */
	workers = bt->opts.workers > 0 ? bt->opts.workers : 1;
	if (workers > BT_WORKERS_MAX)
		workers = BT_WORKERS_MAX;
	if (bt->opts.dir == NULL)
		workers = 1;
	while (workers > 1 && span < 2 * (uint64_t)workers)
		workers--;
	if (workers > 1 && bt->opts.chunk > (span + 4 * workers - 1) /
	    (4 * workers))
		bt->opts.chunk = (span + 4 * workers - 1) / (4 * workers);
	bt->workers = workers;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (workers > 1) {
		if (bt_scan_parallel(bt, workers, cause) != 0)
			goto fail;
	} else {
		if (bt_scan_chunks(bt, st, 0, 1, cause) != 0)
			goto fail;
		bt_cost_take(bt);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	bt->seconds = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	/* Candidate counts by name, beside the stored ones. */
	for (i = 0; i < bt->ncand; i++) {
		name = rules_rule_name(rs, (uint32_t)i);
		if (name == NULL)
			continue;
		r = bt_rule(bt, name, strlen(name));
		r->in_candidate = true;
		r->c_enforce = bt->cand[i * 2];
		r->c_shadow = bt->cand[i * 2 + 1];
		r->c_tp = bt->cand_tp[i];
		r->c_timed = bt->cand_cost[i * 2];
		r->c_ns = bt->cand_cost[i * 2 + 1];
	}
	if (bt->nrules > 1)
		qsort(bt->rules, bt->nrules, sizeof(*bt->rules), bt_rule_cmp);
	bt->rs = NULL;
	return (bt);
fail:
	backtest_free(bt);
	return (NULL);
}

uint64_t
backtest_replayed(const struct backtest *bt)
{
	return (bt->referrals);
}

uint64_t
backtest_changed(const struct backtest *bt)
{
	return (bt->changed);
}

void
backtest_free(struct backtest *bt)
{
	size_t	i, s, c;

	if (bt == NULL)
		return;
	for (s = 0; s < BT_NACT; s++)
		for (c = 0; c < BT_NACT; c++) {
			for (i = 0; i < bt->nsamples[s][c]; i++)
				free(bt->samples[s][c][i].id);
			free(bt->samples[s][c]);
		}
	for (i = 0; i < bt->nrules; i++)
		free(bt->rules[i].name);
	free(bt->rules);
	for (i = 0; i < bt->nby_id; i++)
		free(bt->by_id[i].key);
	for (i = 0; i < bt->nby_acct; i++)
		free(bt->by_acct[i].key);
	free(bt->by_id);
	free(bt->by_acct);
	free(bt->cand);
	free(bt->cand_tp);
	free(bt->cand_cost);
	free(bt->cost0);
	free(bt->ruleset);
	free(bt->base_hash);
	free(bt->same);
	free(bt->names);
	free(bt);
}

static double
bt_rate(uint64_t n, double seconds)
{
	return (seconds > 0 ? (double)n / seconds : 0);
}

static json_t *
bt_time_json(int64_t ms, int64_t none)
{
	char	buf[RFC3339_LEN];

	if (ms == none)
		return (json_null());
	return (json_string(fmt_rfc3339(ms, buf)));
}

static json_t *
bt_hits_json(uint64_t enforce, uint64_t shadow)
{
	return (json_pack("{s:I,s:I}", "enforce", (json_int_t)enforce,
	    "shadow", (json_int_t)shadow));
}

static double
bt_ratio(uint64_t a, uint64_t b)
{
	return (b > 0 ? (double)a / (double)b : -1);
}

static json_t *
bt_pr_json(const struct backtest *bt, uint64_t flagged, uint64_t tp)
{
	double	p = bt_ratio(tp, flagged), r = bt_ratio(tp, bt->positives);

	return (json_pack("{s:I,s:I,s:o,s:o}", "flagged", (json_int_t)flagged,
	    "true_positives", (json_int_t)tp,
	    "precision", p < 0 ? json_null() : json_real(p),
	    "recall", r < 0 ? json_null() : json_real(r)));
}

static json_t *
bt_labels_json(const struct backtest *bt)
{
	json_t	*o, *rules;
	size_t	 i;

	if (!bt->labels)
		return (json_null());
	o = json_object();
	json_object_set_new(o, "basis", json_string("referral"));
	json_object_set_new(o, "positives", json_integer((json_int_t)
	    bt->positives));
	json_object_set_new(o, "legit", json_integer((json_int_t)bt->legit));
	json_object_set_new(o, "unlabelled", json_integer((json_int_t)
	    bt->unlabelled));
	json_object_set_new(o, "stored", bt_pr_json(bt, bt->pr_stored.flagged,
	    bt->pr_stored.tp));
	json_object_set_new(o, "candidate", bt_pr_json(bt,
	    bt->pr_cand.flagged, bt->pr_cand.tp));
	rules = json_object();
	for (i = 0; i < bt->nrules; i++) {
		const struct bt_rule *r = &bt->rules[i];

		if (r->in_candidate)
			json_object_set_new(rules, r->name, bt_pr_json(bt,
			    r->c_enforce + r->c_shadow, r->c_tp));
	}
	json_object_set_new(o, "rules", rules);
	return (o);
}

static void
bt_print_pr(FILE *out, const struct backtest *bt, int w, const char *name,
    uint64_t flagged, uint64_t tp)
{
	double	p = bt_ratio(tp, flagged), r = bt_ratio(tp, bt->positives);

	fprintf(out, "%-*s %10" PRIu64 " %10" PRIu64, w, name, flagged, tp);
	if (p < 0)
		fprintf(out, " %10s", "-");
	else
		fprintf(out, " %10.3f", p);
	if (r < 0)
		fprintf(out, " %10s\n", "-");
	else
		fprintf(out, " %10.3f\n", r);
}

static void
bt_print_labels(const struct backtest *bt, FILE *out, size_t w)
{
	size_t	i;

	if (!bt->labels)
		return;
	fprintf(out, "\nlabels: %" PRIu64 " of %" PRIu64 " referrals labelled "
	    "fraud, chargeback or abuse, %" PRIu64 " legit, %" PRIu64
	    " unlabelled (counted as not fraud)\n", bt->positives,
	    bt->referrals, bt->legit, bt->unlabelled);
	fprintf(out, "  by each referral's own label: the latest feedback on "
	    "its id, else on its\n  referee's account; a label that reaches "
	    "it only through a shared identity\n  (what labeled() sees in "
	    "rules) does not count\n");
	fprintf(out, "%-*s %10s %10s %10s %10s\n", (int)w, "flagged by",
	    "flagged", "labelled", "precision", "recall");
	bt_print_pr(out, bt, (int)w, "stored verdicts (review, deny)",
	    bt->pr_stored.flagged, bt->pr_stored.tp);
	bt_print_pr(out, bt, (int)w, "candidate set (review, deny)",
	    bt->pr_cand.flagged, bt->pr_cand.tp);
	for (i = 0; i < bt->nrules; i++)
		if (bt->rules[i].in_candidate)
			bt_print_pr(out, bt, (int)w, bt->rules[i].name,
			    bt->rules[i].c_enforce + bt->rules[i].c_shadow,
			    bt->rules[i].c_tp);
}

static void
bt_print_json(const struct backtest *bt, FILE *out)
{
	json_t	*o, *m, *row, *changes, *ch, *ids, *sh, *ch_hits, *cost;
	char	*s;
	size_t	 a, b, i;

	o = json_object();
	json_object_set_new(o, "ruleset", json_string(bt->ruleset));
	json_object_set_new(o, "since", bt_time_json(bt->opts.since,
	    INT64_MIN));
	json_object_set_new(o, "until", bt_time_json(bt->opts.until,
	    INT64_MAX));
	json_object_set_new(o, "last_seq", json_integer((json_int_t)
	    bt->last_seq));
	json_object_set_new(o, "events", json_integer((json_int_t)bt->events));
	json_object_set_new(o, "referrals", json_integer((json_int_t)
	    bt->referrals));
	json_object_set_new(o, "skipped", json_integer((json_int_t)
	    bt->skipped));
	json_object_set_new(o, "changed", json_integer((json_int_t)
	    bt->changed));
	json_object_set_new(o, "base", bt->base_hash != NULL ?
	    json_string(bt->base_hash) : json_null());
	json_object_set_new(o, "rules_evaluated", json_integer((json_int_t)
	    bt->rules_evaluated));
	json_object_set_new(o, "rules_reused", json_integer((json_int_t)
	    bt->rules_reused));
	json_object_set_new(o, "seconds", json_real(bt->seconds));
	json_object_set_new(o, "workers", json_integer(bt->workers));
	json_object_set_new(o, "events_per_sec", json_real(bt_rate(bt->events,
	    bt->seconds)));
	json_object_set_new(o, "referrals_per_sec", json_real(bt_rate(
	    bt->referrals, bt->seconds)));
	m = json_object();
	changes = json_array();
	for (a = 0; a < BT_NACT; a++) {
		row = json_object();
		for (b = 0; b < BT_NACT; b++) {
			json_object_set_new(row, rules_action_name((int)b),
			    json_integer((json_int_t)bt->matrix[a][b]));
			if (a == b || bt->matrix[a][b] == 0)
				continue;
			ids = json_array();
			for (i = 0; i < bt->nsamples[a][b]; i++)
				json_array_append_new(ids,
				    json_string(bt->samples[a][b][i].id));
			ch = json_pack("{s:s,s:s,s:I,s:o}",
			    "from", rules_action_name((int)a),
			    "to", rules_action_name((int)b),
			    "count", (json_int_t)bt->matrix[a][b],
			    "samples", ids);
			json_array_append_new(changes, ch);
		}
		json_object_set_new(m, rules_action_name((int)a), row);
	}
	json_object_set_new(o, "matrix", m);
	json_object_set_new(o, "changes", changes);
	sh = json_object();
	ch_hits = json_object();
	for (i = 0; i < bt->nrules; i++) {
		const struct bt_rule *r = &bt->rules[i];

		if (r->s_enforce + r->s_shadow > 0)
			json_object_set_new(sh, r->name, bt_hits_json(
			    r->s_enforce, r->s_shadow));
		if (r->in_candidate)
			json_object_set_new(ch_hits, r->name, bt_hits_json(
			    r->c_enforce, r->c_shadow));
	}
	json_object_set_new(o, "stored_hits", sh);
	json_object_set_new(o, "candidate_hits", ch_hits);
	cost = json_object();
	for (i = 0; i < bt->nrules; i++) {
		const struct bt_rule *r = &bt->rules[i];

		if (r->in_candidate && r->c_timed > 0)
			json_object_set_new(cost, r->name, json_pack(
			    "{s:I,s:I}", "timed", (json_int_t)r->c_timed,
			    "mean_ns", (json_int_t)(r->c_ns / r->c_timed)));
	}
	json_object_set_new(o, "candidate_cost", cost);
	json_object_set_new(o, "labels", bt_labels_json(bt));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s != NULL)
		fprintf(out, "%s\n", s);
	free(s);
	json_decref(o);
}

/*
 * What evaluating each candidate rule cost over this history, the
 * costliest BT_COST_SHOWN first: only rules evaluated here (a reused
 * outcome costs nothing), without explain, one evaluation in
 * RULES_COST_EVERY timed. JSON lists them all.
 */
#define BT_COST_SHOWN	10
static int
bt_cost_cmp(const void *a, const void *b)
{
	const struct bt_rule	*x = *(const struct bt_rule *const *)a;
	const struct bt_rule	*y = *(const struct bt_rule *const *)b;
	uint64_t		 mx = x->c_ns / x->c_timed;
	uint64_t		 my = y->c_ns / y->c_timed;

	return (mx > my ? -1 : mx < my);	/* the costliest first */
}

static void
bt_print_cost(const struct backtest *bt, FILE *out, size_t w)
{
	const struct bt_rule	**v;
	size_t			  i, n = 0;

	v = xcalloc(bt->nrules + 1, sizeof(*v));
	for (i = 0; i < bt->nrules; i++)
		if (bt->rules[i].in_candidate && bt->rules[i].c_timed > 0)
			v[n++] = &bt->rules[i];
	qsort(v, n, sizeof(*v), bt_cost_cmp);
	if (n > 0)
		fprintf(out, "\n%-*s %10s %10s\n", (int)w, "evaluation cost",
		    "mean", "timed");
	for (i = 0; i < n && i < BT_COST_SHOWN; i++)
		fprintf(out, "%-*s %7.1f us %10" PRIu64 "\n", (int)w, v[i]->name,
		    (double)(v[i]->c_ns / v[i]->c_timed) / 1e3, v[i]->c_timed);
	if (n > BT_COST_SHOWN)
		fprintf(out, "(%zu more, cheaper; --json lists every one)\n",
		    n - BT_COST_SHOWN);
	free(v);
}

void
backtest_print(const struct backtest *bt, FILE *out, bool json)
{
	char	 t1[RFC3339_LEN], t2[RFC3339_LEN];
	size_t	 a, b, i, w = 4;

	if (json) {
		bt_print_json(bt, out);
		return;
	}
	fprintf(out, "candidate ruleset   %s\n", bt->ruleset);
	fprintf(out, "event time          %s .. %s\n",
	    bt->opts.since == INT64_MIN ? "(start)" :
	    fmt_rfc3339(bt->opts.since, t1),
	    bt->opts.until == INT64_MAX ? "(end)" :
	    fmt_rfc3339(bt->opts.until, t2));
	fprintf(out, "events scanned      %" PRIu64 " (seq <= %" PRIu64 ")\n",
	    bt->events, bt->last_seq);
	fprintf(out, "referrals replayed  %" PRIu64 "\n", bt->referrals);
	if (bt->skipped > 0)
		fprintf(out, "skipped             %" PRIu64
		    " (no stored verdict of that event)\n", bt->skipped);
	fprintf(out, "changed             %" PRIu64 "\n", bt->changed);
	fprintf(out, "rule outcomes       %" PRIu64 " evaluated, %" PRIu64
	    " reused from stored verdicts%s\n", bt->rules_evaluated,
	    bt->rules_reused, bt->opts.no_reuse ? " (--no-reuse)" : "");
	fprintf(out, "time                %.3f s: %.0f events/s, "
	    "%.0f referrals/s, %u worker%s\n", bt->seconds, bt_rate(bt->events,
	    bt->seconds), bt_rate(bt->referrals, bt->seconds), bt->workers,
	    bt->workers == 1 ? "" : "s");

	fprintf(out, "\n%-20s %10s %10s %10s\n", "stored \\ candidate",
	    "allow", "review", "deny");
	for (a = 0; a < BT_NACT; a++) {
		fprintf(out, "%-20s", rules_action_name((int)a));
		for (b = 0; b < BT_NACT; b++)
			fprintf(out, " %10" PRIu64, bt->matrix[a][b]);
		fputc('\n', out);
	}

	for (i = 0; i < bt->nrules; i++)
		if (strlen(bt->rules[i].name) > w)
			w = strlen(bt->rules[i].name);
	if (bt->labels && w < 30)
		w = 30;
	fprintf(out, "\n%-*s %10s %10s %10s %10s\n", (int)w, "rule",
	    "stored", "(shadow)", "candidate", "(shadow)");
	for (i = 0; i < bt->nrules; i++) {
		const struct bt_rule *r = &bt->rules[i];

		fprintf(out, "%-*s %10" PRIu64 " %10" PRIu64, (int)w, r->name,
		    r->s_enforce, r->s_shadow);
		if (r->in_candidate)
			fprintf(out, " %10" PRIu64 " %10" PRIu64 "\n",
			    r->c_enforce, r->c_shadow);
		else
			fprintf(out, " %10s %10s\n", "-", "-");
	}

	bt_print_labels(bt, out, w);
	bt_print_cost(bt, out, w);
	if (bt->changed == 0)
		return;
	fprintf(out, "\nchanged (up to %zu sample ids each)\n",
	    bt->opts.samples);
	for (a = 0; a < BT_NACT; a++)
		for (b = 0; b < BT_NACT; b++) {
			if (a == b || bt->matrix[a][b] == 0)
				continue;
			fprintf(out, "  %-6s -> %-6s %8" PRIu64 " ",
			    rules_action_name((int)a),
			    rules_action_name((int)b), bt->matrix[a][b]);
			for (i = 0; i < bt->nsamples[a][b]; i++)
				fprintf(out, " %s", bt->samples[a][b][i].id);
			fputc('\n', out);
		}
}
