/*
 * rules.h: the rule language: compile rule files into a rule set, evaluate
 * it against an event and the store's history.
 *
 * A ruleset is immutable once compiled and reference counted: the event
 * loop swaps in a new one on reload while the writer thread may still be
 * evaluating with the old one; each holds a reference for as long as it
 * uses it.
 */
#ifndef REFGUARD_RULES_H
#define REFGUARD_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rgev.h"
#include "sbuf.h"

struct ident;
struct store_txn;

enum rg_action {
	ACTION_ALLOW = 0,
	ACTION_REVIEW = 1,
	ACTION_DENY = 2,
};
const char	*rules_action_name(int action);

#define RULES_MAX_HITS	64

struct rules_hit {
	uint32_t	rule;		/* index, for rules_rule_name() */
	uint8_t		action;		/* enum rg_action */
	uint8_t		shadow;		/* 1: shadow rule, never changes the outcome */
	int32_t		score;
};

struct rules_result {
	uint8_t		action;		/* the outcome */
	int32_t		score;		/* sum over matched enforcing rules */
	size_t		nhits;
	struct rules_hit hits[RULES_MAX_HITS];
	/* Facts the rules saw, as a JSON array text, for explain (see rules_eval). */
	char		*explain;	/* malloc'd, caller frees; NULL when not asked */
	/*
	 * The same facts in their stored form instead of text, when asked
	 * for RULES_EXPLAIN_SHAPED: the shape and values jshape_split() of
	 * the text would give (jshape.h), caller frees (sbuf_free()).
	 */
	struct sbuf	 xshape;
	struct sbuf	 xvals;
};

/* want_explain: none (0), the text, or the text's split form. */
#define RULES_EXPLAIN_TEXT	1
#define RULES_EXPLAIN_SHAPED	2

struct ruleset;

/*
 * Limits a rule set must keep (refguard.rules(5), LIMITS); a set past one
 * is refused with an error naming it. An expression nests at most
 * RULES_NEST_MAX levels (each "(", not, call and list literal is one).
 */
#define RULES_NEST_MAX		64
/* The default of rules_max_bytes: the rule and list files of one set. */
#define RULES_MAX_BYTES		((size_t)16 << 20)

/*
 * Compile the rule files at path (a file, or a directory whose *.rules
 * files form one set, in name order; include "GLOB" pulls in more). The
 * set compiles whole or not at all: on any error return NULL and set
 * *diag (caller frees) to every diagnostic found, each one
 *	file:line:col: error: message
 *	    the source line
 *	    ^ (a caret under the token)
 * and a last line "N errors, M warnings: rule set not loaded". On success
 * *diag holds the warnings in the same shape, or NULL when there are none.
 * id hashes identity values written in rules and lists (as req.c hashes
 * a request's); it is only used during the call. id may be NULL when the
 * rules hold no identity values (an error otherwise).
 *
 * Loading costs time and memory linear in the size of the files: they
 * may hold max_bytes bytes in all (0: RULES_MAX_BYTES), a file 16 MiB,
 * and the set at most the rules, list values and test requests of
 * refguard.rules(5), LIMITS; past any of them the set is refused with an
 * error that names the limit. Only the first 100 diagnostics are kept
 * (the summary line still counts them all).
 */
struct ruleset	*rules_load(const char *path, struct ident *id,
		     size_t max_bytes, char **diag);

/*
 * As rules_load, from a buffer of len bytes (need not be NUL-terminated)
 * standing for a file called name (diagnostics, relative include and list
 * paths). flags: RULES_NOFILES refuses include and list files (fuzzing).
 * max_bytes is RULES_MAX_BYTES.
 */
#define RULES_NOFILES	0x1
/*
 * Several files or directories as one rule set, every file of each
 * loaded (rules = PATH, refguardctl rules check).
 */
struct ruleset	*rules_load_paths(const char *const *paths, size_t n,
		     struct ident *id, size_t max_bytes, char **diag);
/*
 * The rule directories dirs[0..n-1] merged by file name, as systemd
 * merges drop-ins: every *.rules file of each directory, where a file in
 * a later directory replaces the earlier one of the same name, and an
 * empty file or a link to /dev/null masks it (nothing of that name is
 * loaded); the rest load in name order. A missing directory is skipped;
 * no rule file at all is an error (also with n == 1: one directory
 * still masks). Diagnostics and result as rules_load.
 */
struct ruleset	*rules_load_dirs(const char *const *dirs, size_t n,
		     struct ident *id, size_t max_bytes, char **diag);
struct ruleset	*rules_load_buf(const char *name, const char *buf,
		     size_t len, struct ident *id, int flags, char **diag);
struct ruleset	*rules_ref(struct ruleset *rs);
void		 rules_unref(struct ruleset *rs);

/*
 * The list files rs read (list NAME file "PATH"), as a JSON array (json_t
 * *, new reference; empty for a NULL rs) of {"name", "path", "entries"
 * (values, one a line), "bytes", "mtime" (Unix seconds)}, as they were
 * when the set was compiled.
 */
void		*rules_lists_info(const struct ruleset *rs);

/*
 * What the language's functions answer, as a version: raised whenever a
 * function answers differently for the same history, so that the same
 * rule files on another refguard are another rule set.
 */
#define RULES_SEMANTICS	2

/*
 * Hex hash of the rule set's sources and RULES_SEMANTICS: names what
 * produced a verdict (a backtest reuses a stored outcome only under the
 * same name).
 */
const char	*rules_hash(const struct ruleset *rs);
size_t		 rules_count(const struct ruleset *rs);
size_t		 rules_ntests(const struct ruleset *rs);	/* test blocks */
/*
 * The pairs of keys the set's count() calls count together (store.h:
 * struct store_pair), for the store to index (store_pairs_want()): how
 * many, *out set to them.
 */
struct store_pair;
size_t		 rules_pairs(const struct ruleset *rs,
		     const struct store_pair **out);
const char	*rules_rule_name(const struct ruleset *rs, uint32_t rule);
const char	*rules_rule_msg(const struct ruleset *rs, uint32_t rule);
/* A rule's action (rules_action_name), score, and whether it only shadows. */
int		 rules_rule_action(const struct ruleset *rs, uint32_t rule);
int32_t		 rules_rule_score(const struct ruleset *rs, uint32_t rule);
bool		 rules_rule_shadow(const struct ruleset *rs, uint32_t rule);
/*
 * A rule's score group ("group NAME"), or NULL; *cap the verdict's cap
 * on that group's summed score ("cap NAME at N"), -1 when uncapped. A
 * verdict's score adds each group's sum, or its cap when that is less.
 */
const char	*rules_rule_group(const struct ruleset *rs, uint32_t rule,
		     int64_t *cap);
/*
 * What evaluating a rule has cost since the set was compiled or
 * rules_cost_reset(): *n evaluations timed and *ns nanoseconds in all.
 * Each thread times every rule of one evaluation in RULES_COST_EVERY
 * (its first included), outcomes reused (rules_eval_known) excepted. A
 * rule's time is its own conditions' as evaluated in order: a history
 * call an earlier rule made already is shared, not read again, so it is
 * the earlier rule's.
 */
#define RULES_COST_EVERY	16
void		 rules_rule_cost(const struct ruleset *rs, uint32_t rule,
		     uint64_t *n, uint64_t *ns);
void		 rules_cost_reset(struct ruleset *rs);
/*
 * Whether rule ra of set a and rule rb of set b match the same events:
 * their conditions ("when") are the same text, byte for byte, so are
 * the named conditions they use (each, wherever it is defined), and
 * the lists they name ("in list") hold the same values. Name, action, score,
 * mode and description may differ. Both sets must be compiled with the
 * same secret (identity values in them hash alike); evaluated by this
 * build, the two give the same match for any event and history.
 */
bool		 rules_rule_same(const struct ruleset *a, uint32_t ra,
		     const struct ruleset *b, uint32_t rb);

/*
 * Evaluate rs against ev, which is already in the store (ev->seq set):
 * history functions see txn's view up to ev->seq. Fills *res. When
 * want_explain, res->explain gets the facts each rule saw (as text,
 * RULES_EXPLAIN_TEXT; or res->xshape and res->xvals the text's split
 * form, RULES_EXPLAIN_SHAPED, written so without the text). Returns 0, or
 * -1 on a store error (store_txn_err(txn) says which).
 */
int		 rules_eval(const struct ruleset *rs, const struct rg_event *ev,
		     struct store_txn *txn, int want_explain,
		     struct rules_result *res);

/*
 * As rules_eval, as of another moment than the event's own (a re-check
 * at payout): windows end at at->ts, runtime list entries that expired by
 * at->ts do not match, and history, labels and list entries are seen up
 * to at->max_seq (0: everything stored). The event itself is in the store
 * already and is counted once, where its ts falls; referred() never finds
 * the event itself.
 */
struct rules_at {
	int64_t		ts;
	uint64_t	max_seq;
};
int		 rules_eval_at(const struct ruleset *rs, const struct rg_event *ev,
		     const struct rules_at *at, struct store_txn *txn,
		     int want_explain, struct rules_result *res);

/*
 * A memo of what the history functions read, shared by the evaluations
 * it is given to, so that a busy referrer's history is read once, not
 * once per evaluation that looks back at it: the stored events they read
 * (referees, count with two keys, distinct, sum, cluster, chain),
 * decoded, by seq, and apart the one key referees and count with two
 * keys read of each; every index entry of a key asked for a second time
 * (count, the scans and the oldest entry that age() and chain() ask for
 * are read from that copy); for each referral that referees() looks
 * at, its referee's oldest few logins and purchases
 * after it, which count them as of any later evaluation when they are
 * enough to tell; and, within
 * one evaluation only, what a function derived from one event as of
 * that evaluation (whether a referee was active). It changes no result as
 * long as the store does not change under it: the contract is
 * rules_memo_reset() at every new transaction and after every write
 * (an event stored, retention) before the next evaluation. A backtest's
 * read transaction is the case it is for. nents events are kept
 * (rounded up to a power of two; about 1.5 KB each), a newer one
 * replacing the one in its place, 8 x nents single keys of events (40
 * bytes each), and the entries of up to 2 x nents keys, 32 x nents
 * entries in all (24 bytes each). One thread at a time. rules_memo_new
 * never fails (out of memory aborts).
 */
struct rules_memo;
struct rules_memo *rules_memo_new(size_t nents);
void		 rules_memo_free(struct rules_memo *memo);
void		 rules_memo_reset(struct rules_memo *memo);
/*
 * A memo for a writer, whose every evaluation sees the store a little
 * grown: it keeps no key's entries (each would be read whole for one
 * evaluation), only nents events, nekeys single keys of events (at
 * least 8 x nents; 40 bytes each: a busy referrer's referrals, walked
 * at each of its checks) and what one evaluation derived.
 */
struct rules_memo *rules_memo_new_events(size_t nents, size_t nekeys);
/*
 * Between two evaluations when the store has changed only by gaining
 * events: forget all but the events read and their keys, which stay
 * right as long as the store's epoch does (store_txn_epoch(): the
 * record at a seq is the one read). At a new epoch: rules_memo_reset().
 */
void		 rules_memo_next(struct rules_memo *memo);
/* As rules_eval, reading history through memo (NULL: none). */
int		 rules_eval_memo(const struct ruleset *rs,
		     const struct rg_event *ev, struct rules_memo *memo,
		     struct store_txn *txn, int want_explain,
		     struct rules_result *res);

/*
 * As rules_eval_memo without explain, where the match of some rules is
 * known already (a backtest reads it from the stored verdict of a set
 * holding the same rule, rules_rule_same): known[i], one for each rule
 * of rs, RULES_KNOWN_MATCH or RULES_KNOWN_MISS is taken as rule i's
 * match without evaluating it; RULES_KNOWN_NONE evaluates it. Actions,
 * scores and the verdict thresholds are rs's, so *res is what
 * rules_eval_memo() gives when the known matches are the ones it would
 * find. Rules with a known match read nothing from the store.
 */
#define RULES_KNOWN_NONE	0
#define RULES_KNOWN_MATCH	1
#define RULES_KNOWN_MISS	2
int		 rules_eval_known(const struct ruleset *rs,
		     const struct rg_event *ev, const uint8_t *known,
		     struct rules_memo *memo, struct store_txn *txn,
		     struct rules_result *res);

/*
 * Runtime lists (list.add): whether rs declares list name, and the kinds
 * its rules look values up as (bit 1 << kind: an identity kind of
 * rgev.h, LIST_KIND_STRING or LIST_KIND_NUMBER of store_aux.h). -1 when
 * the set has no such list.
 */
int		 rules_list_kinds(const struct ruleset *rs, const char *name,
		     uint64_t *kinds);

/*
 * Run the test blocks of rs's files (refguard.rules(5)) against a scratch
 * store: a fresh directory from mkdtemp under $TMPDIR (or /tmp) holding an
 * LMDB environment opened with nosync, removed before returning. Each test
 * runs in its own write transaction, aborted at its end, so tests never
 * see each other's history; every given line goes through req_decode()
 * with id and then verdict_observe() or verdict_check() with rs, exactly
 * as the daemon processes requests. Lines without a ts get a test clock
 * that starts at 2026-01-01T00:00:00Z and moves 1s a request ("wait D"
 * and "repeat N every D" move it further; refguard.rules(5), TESTS).
 *
 * report (may be NULL) gets one line per failed test,
 *	file:line:col: test NAME failed: what differed
 * (plus "ok NAME" lines when verbose) and a summary line
 *	"rules tests: P passed, F failed".
 * Returns the number of tests run and sets *failed to the number that
 * failed; or -1 and *cause (caller frees) when the scratch store cannot be
 * set up. Uses id from the calling thread (ident is not locked).
 */
int		 rules_run_tests(const struct ruleset *rs,
		     const struct ident *id, FILE *report, int verbose,
		     int *failed, char **cause);

#endif
