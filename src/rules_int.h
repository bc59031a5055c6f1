/*
 * rules_int.h: the rules engine's inside, shared by its files:
 *   rules.c        loading (files, directories, includes), the set's life
 *   rules_diag.c   diagnostics with carets, name suggestions, string builder
 *   rules_lex.c    tokens
 *   rules_parse.c  syntax tree, with error recovery
 *   rules_check.c  names, types, lists, compiled form
 *   rules_fact.c   the table of facts: names, types, where each is held
 *   rules_fn.c     the table of built-in functions, each with its checker
 *                  and evaluator
 *   rules_eval.c   evaluation, result slots, explain
 *   rules_test.c   the tests embedded in rule files
 * Nothing outside src/rules*.c includes this.
 */
#ifndef REFGUARD_RULES_INT_H
#define REFGUARD_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgev.h"
#include "rules.h"
#include "jshape.h"
#include "sbuf.h"
#include "store.h"

struct ident;

/* Bounds on the work one history function may do (see refguard.rules(5)). */
#define RULES_SCAN_MAX		10000	/* index entries read by distinct */
#define RULES_DISTINCT_MAX	1000	/* largest constant distinct compares to */
#define RULES_COUNT_MAX		1000000	/* count saturates here */
#define RULES_SUM_MAX		(UINT64_C(1) << 53)	/* sum stops here */
#define RULES_LINK_MAX		2000	/* links read by one linked() */
#define RULES_LINK_WIN		128	/* recent links kept by windowed linked */
#define RULES_HOPS_MAX		4	/* referred(a, b, hops) */
#define RULES_SPAN_MAX		1000	/* span(type, key, n): largest n */
#define RULES_CLUSTER_READ	2000	/* links and entries one cluster() reads */
#define RULES_CLUSTER_MAX	1000	/* accounts it tells apart */
#define RULES_REFEREES_MAX	1000	/* referrals one referees() reads */
#define RULES_CHAIN_MAX		8	/* hops chain() follows each way */
#define RULES_WALK_MAX		64	/* accounts one referred() level keeps */
#define RULES_SLOTS		256	/* history calls cached per evaluation */
#define RULES_SINCE_REFERRAL	(-1)	/* the window "since referral" */
#define RULES_CIDR_MAX		65536	/* addresses one list CIDR may expand to */
#define RULES_FILE_MAX		(16u << 20)	/* bytes of one rule or list file */
#define RULES_FILES_MAX		256
#define RULES_REPEAT_MAX	10000
/*
 * What one rule set may hold, so that loading it costs time and memory
 * linear in rules_max_bytes (rules.h) and a check a bounded number of
 * rules: each is refused with an error at the first thing past it.
 */
#define RULES_RULES_MAX		20000	/* rules */
/* Score groups (a rule's "group"), each with at most one cap. */
#define RULES_GROUPS_MAX	64
/* List values, literal and in list files, and what list CIDRs expand to. */
#define RULES_VALUES_MAX	1000000
/* Requests its tests send, repeats included. */
#define RULES_TREQ_MAX		100000
/*
 * Named conditions: nodes written out for their uses, in all (a
 * condition used twice in one used twice in another... doubles at each
 * level), and how deep one may use another.
 */
#define RULES_EXPAND_MAX	100000
#define RULES_COND_NEST_MAX	8
#define RULES_COND_NAME_MAX	64	/* bytes of a condition's name */

/*
 * Nesting. The parser refuses an expression that nests deeper than
 * RULES_NEST_MAX (rules.h) levels, with an error at the token that opens
 * one level too many. A level is each place where the grammar recurses:
 * "(" expr ")", "not", a call's arguments, a list literal "[...]" ('-'
 * applies to a number only and never nests). Between two levels the
 * grammar builds at most 4 nodes (or, and, a comparison or in, and the
 * call, list or not that opens the next level; a parenthesis builds
 * none), and below the last at most 5 (or, and, a comparison, a word
 * and its "since" word). So no rule's tree is deeper than
 * RULES_DEPTH_MAX; rules_check() measures each tree and refuses a deeper
 * one, should the grammar ever grow a recursion the parser does not
 * count (test_nesting builds the deepest shape and holds the bound
 * exact). Everything that walks a tree (checking, compiling,
 * evaluating, explaining) recurses once per node of one path, with a
 * bounded number of frames per node (rules_eval_bool, rules_eval_call,
 * a built-in's eval, rules_eval_val), so its stack stays within a few
 * hundred frames whatever the input, far inside the writer thread's.
 */
#define RULES_DEPTH_MAX		(4 * RULES_NEST_MAX + 5)

/* Memory for one rule set, freed at once. */
struct rules_arena {
	struct rules_blk	*head;
};
void	*rules_alloc(struct rules_arena *, size_t);
char	*rules_strndup(struct rules_arena *, const char *, size_t);
void	 rules_arena_free(struct rules_arena *);

/* One source file: diagnostics point into it. */
struct rules_src {
	char	*path;
	char	*text;		/* NUL-terminated */
	size_t	 len;
};

struct rules_pos {
	uint32_t	src;	/* index into ruleset srcs */
	uint32_t	line;	/* 1-based */
	uint32_t	col;	/* 1-based, bytes */
	uint32_t	off;
};

/* Value types. */
enum rules_type {
	T_ERR = 0,	/* already reported: suppresses follow-on errors */
	T_BOOL,
	T_NUM,
	T_STR,
	T_DUR,
	T_TIME,
	T_IDENT,	/* a keyed identity hash of kind rules_rval.kind */
	T_LIST,		/* a literal list [..] */
	T_WORD,		/* a bare word argument (event type, party, kind) */
};
const char	*rules_type_name(int type, int kind);

struct rules_rval {
	uint8_t		type;
	bool		present;
	uint8_t		kind;		/* T_IDENT */
	bool		b;
	double		n;
	int64_t		ms;		/* T_DUR, T_TIME */
	const char	*s;
	struct rg_hash	h;
};

/* Facts: a party (referrer/referee) fact or an event fact. */
enum rules_fact {
	F_ACCOUNT, F_EMAIL, F_EMAIL_DOMAIN, F_EMAIL_DISPOSABLE, F_IP,
	F_IP_PREFIX, F_IP_VERSION, F_IP_PRIVATE, F_GEO_COUNTRY,
	F_GEO_CONTINENT, F_GEO_ASN, F_GEO_AS_ORG, F_GEO_ANONYMOUS, F_GEO_VPN,
	F_GEO_TOR, F_GEO_HOSTING, F_GEO_RESIDENTIAL_PROXY, F_DEVICE,
	F_DEVICE_FUZZY, F_DEVICE_ID, F_PHONE, F_PAYMENT, F_EMAIL_SHAPE,
	F_DEVICE_STABLE, F_DEVICE_TZ_COUNTRY, F_EMAIL_TAGGED, F_DEVICE_EMULATOR,
	F_PHONE_BLOCK, F_DEVICE_BROWSER, F_PHONE_COUNTRY, F_DEVICE_MODEL,
	F_DEVICE_LANG_COUNTRY,
	F_EMAIL_NAME,
	F__PARTY,	/* event facts follow */
	F_CAMPAIGN = F__PARTY, F_REWARD_AMOUNT, F_REWARD_CURRENCY, F_TS,
	F_DATA_STALE,
	F__MAX
};

/* How a fact is held (rules_fact.c): its field and what says it is there. */
enum rules_fstore { FS_HASH, FS_STR, FS_BOOL, FS_U8, FS_U32, FS_DOUBLE,
	FS_MS };
enum rules_fhave { FH_ALWAYS, FH_NONEMPTY, FH_FACTS, FH_GEO, FH_REWARD };

struct rules_factdef {
	const char	*name;
	uint8_t		 type;
	uint8_t		 kind;		/* ENT_* for T_IDENT */
	uint8_t		 store;		/* enum rules_fstore */
	uint8_t		 have;		/* enum rules_fhave */
	uint32_t	 bit;		/* FH_FACTS: PF_*, FH_GEO: GEO_* */
	uint16_t	 off;		/* in struct party, or struct rg_event */
	uint16_t	 size;		/* FS_STR: bytes of the buffer */
};
extern const struct rules_factdef rules_facts[F__MAX];

/*
 * The value of fact of party (PARTY_EVENT: an event fact) in ev, into *v;
 * returns v->present. Never allocates.
 */
int	rules_fact_get(const struct rg_event *, int party, int fact,
	    struct rules_rval *);
/* Whether rule tests may "assume" the fact: what the databases give. */
bool	rules_fact_settable(int party, int fact);
/* The largest whole number a settable number fact holds; 0: any. */
uint32_t	rules_fact_max(int fact);
/* Set a settable fact (rule tests' "assume"); others are left alone. */
void	rules_fact_set(struct rg_event *, int party, int fact,
	    const struct rules_rval *);

/* Syntax tree, annotated in place into the compiled form. */
enum rules_op {
	N_CONST, N_FACT, N_WORD, N_LIST, N_CALL, N_NOT, N_AND, N_OR, N_CMP,
	N_IN,
};
enum rules_cmp { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };

struct rules_vset;
struct rules_fn;

struct rules_node {
	uint8_t			 op;
	uint8_t			 type;
	uint8_t			 kind;		/* T_IDENT kind; linked kind (0: any) */
	uint8_t			 cmp;		/* N_CMP */
	bool			 negate;	/* N_IN: "not in" */
	bool			 paren;		/* written in parentheses */
	uint8_t			 party;		/* N_FACT; a call's key party */
	uint8_t			 fact;		/* N_FACT */
	struct rules_pos	 pos;
	uint32_t		 end;		/* source offset past the node */
	char			*name;		/* N_WORD, N_CALL, N_IN list name */
	const char		*cond;		/* the condition it is (part of) a
						   use of: explain's label */
	const struct rules_node	*tsrc;		/* its text's place, when not its
						   own (a use: the condition's) */
	struct rules_pos	 name_pos;	/* N_IN: the list name; N_AND,
						   N_OR: the first operator */
	struct rules_node	**kids;
	size_t			 nkids;
	struct rules_rval	 v;		/* N_CONST */
	/* Compiled. */
	const struct rules_fn	*fn;		/* N_CALL, N_IN: the built-in */
	const char		*text;		/* source text, for explain */
	char			*jtext;		/* text as a JSON string */
	size_t			 jtextlen;
	const struct rules_vset	*set;		/* N_IN */
	uint32_t		 type_mask;	/* event types (EV_MASK) */
	uint8_t			 role_mask;	/* roles of the key (ROLE_*) */
	int64_t			 window;	/* ms; 0: none; RULES_SINCE_REFERRAL */
	uint64_t		 limit;		/* RF_BOUND: enough to decide; 0:
						   computed whole (a share) */
	int			 hops;		/* referred */
	int			 label;		/* labeled: enum rg_label */
	int64_t			 arg;		/* a constant argument (span's n) */
	uint32_t		 kinds;		/* identity kinds (1 << kind) */
	uint32_t		 apart;		/* strangers: the kinds kept apart */
	uint8_t			 party2;	/* a second key (count): its */
	uint8_t			 kind2;		/* party and kind; 0: none */
	uint8_t			 wparty;	/* the fact read from each event */
	uint8_t			 wfact;		/* (distinct's what) */
	int			 walk;		/* RF_HOPS: hops its slot walks */
	int			 slot;		/* history result cache; -1 none */
	uint32_t		 cost;
};

/*
 * Cost classes: and/or try their operands cheapest first (a call's
 * checker may scale its class, referred per hop).
 */
#define COST_FACT	1	/* a fact of the event */
#define COST_SET	2	/* "in [...]": a binary search */
#define COST_SEEK	15	/* the first entry of one index range */
#define COST_LIST	10	/* "in list": and a lookup of runtime entries */
#define COST_RANGE	20	/* one index range, entries only */
#define COST_POINT	30	/* a few point lookups */
#define COST_LINKS	40	/* an account's links */
#define COST_HOP	60	/* one hop of a walk */
#define COST_RECORDS	100	/* index entries and their event records */
#define COST_CHAIN	150	/* a few seeks and records a hop */
#define COST_REFEREES	200	/* per referral, a record and a seek */
#define COST_CLUSTER	300	/* links, entries and records, two hops */

/*
 * The result of a call in one evaluation. History calls that are the
 * same (rules_check.c) share one slot, so that each is read once.
 */
struct rules_slot {
	bool			 have;
	bool			 capped;	/* a bound on the work was reached */
	uint64_t		 limit;		/* RF_BOUND: computed with this */
	struct rules_rval	 v;		/* the value */
	uint32_t		 kinds;		/* linked: the kinds found */
	int			 hops;		/* referred: the hop it was found at */
	uint8_t			 kind;		/* labeled: the identity */
	int64_t			 x[7];		/* details a function explains */
	struct rg_hash		 h;		/* in: the runtime list entry */
};

/* Checking (rules_check.c). */
/*
 * Names sorted, for duplicates and lookups in n log n: a set may hold
 * thousands of rules, lists, conditions and tests.
 */
struct rules_named {
	const char		*name;
	const struct rules_pos	*pos;
	size_t			 i;	/* index in its array */
};

struct rules_cctx {
	struct ruleset		*rs;
	struct rules_rule	*rule;
	int			 conds;		/* conditions being expanded */
	struct rules_named	*condv;		/* conditions by name, sorted */
	size_t			 ncondv;
	struct rules_node	*slots[RULES_SLOTS];
	struct sbuf		 jtext;		/* a node's text as JSON */
};

/*
 * The memo (rules.h): events by seq, direct-mapped (seq & mask). An
 * entry holds an event while gen is the memo's; val is what one
 * evaluation (eval, the memo's count of evaluations) derived from it.
 */
struct rules_memo_ent {
	uint64_t		 gen;		/* the memo's egen; 0: empty */
	uint64_t		 eval;		/* val is for this evaluation */
	int64_t			 val;
	struct rg_event		 ev;
};
/*
 * A key's index entries in the memo: every one a query could match (any
 * type, any role, any time, any seq), oldest first (by ts, then seq, as
 * store_scan() orders them), at ents[off..off+n-1], once the key is
 * asked for a second time (filled): the first query, often the only
 * one, reads just its window from the store. big: the key has more
 * than RULES_MEMO_KEY_MAX, which it does not keep; its queries go to
 * the store.
 */
#define RULES_MEMO_KEY_MAX	4096
struct rules_memo_key {
	uint64_t		 gen;		/* the memo's kgen; else empty */
	struct rg_hash		 h;
	uint8_t			 kind;
	bool			 filled;
	bool			 big;
	uint32_t		 off;
	uint32_t		 n;
};
/* One key of one event (rules_eval_event_key): far more fit than events. */
struct rules_memo_ekey {
	uint64_t		 gen;		/* the memo's egen; else empty */
	uint64_t		 seq;
	uint8_t			 party;
	uint8_t			 kind;
	uint8_t			 r;		/* what rules_eval_event_key said */
	struct rg_hash		 h;
};
/*
 * The oldest entries of a key from a time on (ts >= from, any seq), for
 * rules_eval_since(): e[0..n-1] in store_scan() order (by ts, then seq);
 * all: there are no more.
 */
#define RULES_SINCE_KEEP	4
struct rules_memo_since {
	uint64_t		 gen;		/* the memo's gen; else empty */
	uint64_t		 tag;
	int64_t			 from;
	struct rg_hash		 h;
	uint8_t			 kind;
	uint8_t			 n;
	bool			 all;
	uint32_t		 types, roles;
	struct store_entry	 e[RULES_SINCE_KEEP];
};
struct rules_memo {
	uint64_t		 gen;		/* bumped by rules_memo_reset, _next */
	uint64_t		 egen;		/* events, their keys: by _reset */
	bool			 nokeys;	/* keeps no key's entries */
	uint64_t		 evals;		/* bumped by each evaluation */
	size_t			 mask;
	struct rules_memo_ent	*ent;
	size_t			 ekmask;
	struct rules_memo_ekey	*ekeys;
	/* Keys' entries: appended to ents; when it is full, all dropped. */
	uint64_t		 kgen;
	size_t			 kmask;
	struct rules_memo_key	*keys;
	struct store_entry	*ents;
	size_t			 nents;
	size_t			 entcap;
	unsigned		 walking;	/* scans of ents under way */
	struct rules_memo_since	*since;		/* by tag, mask */
};

/* Evaluating (rules_eval.c). */
struct rules_ectx {
	const struct ruleset	*rs;
	const struct rg_event	*ev;
	struct rules_at		 at;		/* as of: window end, max seq */
	struct store_txn	*txn;
	struct rules_memo	*memo;		/* NULL: none */
	struct jshape_w		*ex;		/* NULL: no explain */
	bool			 exfirst;
	bool			 exneg;		/* the facts are under a not */
	int			 err;
	bool			 links_done;	/* links_found is known */
	uint32_t		 links_want;
	uint32_t		 links_found;	/* kinds the parties share */
	struct rules_slot	 slots[RULES_SLOTS];
};

/*
 * A built-in function (rules_fn.c): everything about it in one entry.
 * check resolves and checks the arguments of a call of it, fills the
 * node's compiled fields (fn, party, kind, window, masks, limit, cost)
 * and returns the result type (T_ERR when it reported an error). eval
 * computes the value into the slot (s->v; and what explain shows); a
 * store error sets cx->err. explain writes what eval found into cx->ex:
 * for a condition, members of the fact's object (",\"found\":{...}"); for
 * a value, the members of the object that describes it ("\"fn\":...").
 */
struct rules_fn {
	const char	*name;
	const char	*usage;		/* in arity errors */
	uint8_t		 nmin;
	uint8_t		 nmax;
	uint8_t		 flags;
	uint32_t	 cost;		/* its cost class */
	uint32_t	 cmax;		/* compares with constants below (0: any) */
	int		(*check)(struct rules_cctx *, struct rules_node *);
	void		(*eval)(struct rules_ectx *, const struct rules_node *,
			    struct rules_slot *);
	void		(*explain)(struct rules_ectx *,
			    const struct rules_node *, const struct rules_slot *);
};
#define RF_OPERATOR	0x01	/* own syntax ("in"), not called by name */
#define RF_SLOT		0x02	/* equal calls share one result (a slot) */
#define RF_BOUND	0x04	/* a count: stops once n->limit is reached */
#define RF_HOPS		0x08	/* calls differing in hops share one walk */

/*
 * A call's key is argument k (checked by rules_check_key()): n->party and
 * n->kind, and the roles it is read in for n->type_mask.
 */
void	rules_fn_key(struct rules_node *, const struct rules_node *k);

extern const struct rules_fn	rules_fns[];
extern const size_t		rules_nfns;
extern const struct rules_fn	*const rules_fn_in;

/*
 * A value set: the right side of "in". Sorted for binary search. String
 * values holding a '*' are patterns instead (pat, tried in turn when the
 * exact values miss): '*' matches any run of characters, ASCII case
 * ignored, the whole string must match ("*hosting*").
 */
struct rules_vset {
	uint8_t		 type;
	uint8_t		 kind;
	size_t		 n;
	struct rg_hash	*h;
	const char	**s;
	double		*d;
	const char	**pat;
	size_t		 npat;
};

struct rules_list {
	char			*name;
	struct rules_pos	 pos;
	char			*path;		/* NULL: inline list */
	int64_t			 bytes;		/* list files: the size and */
	int64_t			 mtime;		/* modification time (s) read */
	char			**vals;
	struct rules_pos	*vpos;		/* where each value is */
	size_t			 nvals;
	/* Built on first use, per type (T_STR, T_NUM) or identity kind. */
	struct rules_vset	*sets[ENT__MAX + 2];
};

/*
 * One rule's timed evaluations and their nanoseconds, added to by every
 * evaluating thread (relaxed atomics): statistics, never a result.
 */
struct rules_cost {
	uint64_t		 n;
	uint64_t		 ns;
};

struct rules_rule {
	char			*name;
	struct rules_pos	 pos;
	char			*desc;
	struct rules_node	*when;		/* NULL: missing or unparsable */
	bool			 has_when;
	bool			 broken;	/* had syntax errors */
	int			 action;	/* -1: missing */
	int32_t			 score;
	bool			 shadow;
	char			**tags;
	size_t			 ntags;
	char			*group;		/* NULL: none */
	struct rules_pos	 group_pos;
	int			 gi;		/* into ruleset groups; -1: none */
};

/*
 * A score group: the rules that name it add their scores to the group's
 * sum, and the verdict block may cap that sum ("cap NAME at N"): what
 * one explanation accounts for counts once, however many rules see it.
 */
struct rules_group {
	char			*name;
	int64_t			 cap;		/* INT64_MAX: none */
	struct rules_pos	 cap_pos;
};

/* What a group's summed score s counts in a verdict: s, or its cap. */
static inline int64_t
rules_group_score(const struct rules_group *g, int64_t s)
{
	return (s < g->cap ? s : g->cap);
}

/* A cap as parsed, before its group is looked up (rules_check). */
struct rules_cap {
	char			*name;
	struct rules_pos	 pos;
	int64_t			 at;
};

/*
 * A named condition: a word rules use in place of its expression
 * ("condition NAME { desc ... when ... }"). Each use is checked and
 * compiled as a copy of when, as if written out there.
 */
struct rules_cond {
	char			*name;
	struct rules_pos	 pos;
	char			*desc;
	struct rules_node	*when;		/* NULL: missing or unparsable */
	bool			 broken;	/* errors reported already */
	bool			 expanding;	/* being checked: a loop */
	unsigned		 used;
	size_t			 nodes;		/* of when; 0: not counted yet */
};

struct rules_names {
	bool			 set;
	size_t			 n;
	char			**v;
	struct rules_pos	*pos;
	uint32_t		*idx;		/* rule index, once resolved */
};

/* "assume FACT == VALUE": a fact the databases would give, set for a
 * test's checks, or, as a line of its given block, for the checks after
 * that line. */
struct rules_assume {
	struct rules_node	*fact;		/* N_WORD, then N_FACT */
	struct rules_node	*val;		/* N_CONST */
};

struct rules_tline {
	char			*text;		/* NULL: a "wait" or "assume" line */
	size_t			 len;		/* an "assume" line's too */
	struct rules_pos	 pos;
	uint32_t		 repeat;	/* 1, or "repeat N" */
	int64_t			 every;		/* ms between repeats (1s) */
	int64_t			 wait;		/* "wait D": ms the clock moves */
	struct rules_assume	*assume;	/* an "assume" line, once parsed */
	bool			 is_assume;
};

struct rules_test {
	char			*name;
	struct rules_pos	 pos;
	struct rules_tline	*lines;
	size_t			 nlines;
	int			 action;	/* -1: not given */
	bool			 has_score;
	int32_t			 score;
	struct rules_names	 reasons;	/* exactly these enforcing hits */
	struct rules_names	 shadow;	/* exactly these shadow hits */
	struct rules_names	 includes;	/* at least these hits */
	struct rules_names	 excludes;	/* none of these hits */
	struct rules_assume	*assume;
	size_t			 nassume;
};


struct ruleset {
	unsigned		 refs;
	struct rules_arena	 arena;
	int			 flags;
	struct ident		*id;		/* while compiling only */
	size_t			 max_bytes;	/* rules_max_bytes */
	size_t			 nbytes;	/* of the files read */
	size_t			 nvalues;	/* RULES_VALUES_MAX */
	size_t			 ntreqs;	/* RULES_TREQ_MAX */

	struct rules_src	*srcs;
	size_t			 nsrcs;
	struct rules_rule	*rules;
	size_t			 nrules;
	/* What evaluating each rule cost (rules_rule_cost), by rule. */
	struct rules_cost	*cost;
	struct rules_list	*lists;
	size_t			 nlists;
	struct rules_test	*tests;
	size_t			 ntests;
	struct rules_cond	*conds;
	size_t			 nconds;
	/* Capacities of the arrays above (rules_grow). */
	size_t			 srccap, rulecap, listcap, testcap, condcap;
	/* lists by name, sorted, once checked (rules_list_find) */
	struct rules_list	**byname;

	bool			 have_verdict;
	struct rules_pos	 verdict_pos;
	int64_t			 review_at;	/* INT64_MAX: none */
	struct rules_pos	 review_pos;
	int64_t			 deny_at;
	struct rules_pos	 deny_pos;
	struct rules_cap	*caps;
	size_t			 ncaps, capcap;
	struct rules_group	 groups[RULES_GROUPS_MAX];
	size_t			 ngroups;

	int			 nslots;
	char			 hash[2 * 16 + 1];
	/* count()'s pairs of keys (rules_pairs()), up to the store's most. */
	struct store_pair	 pairs[STORE_PAIRS_MAX];
	size_t			 npairs;
	/* Runtime list values of string/number facts hash with this seed. */
	bool			 have_list_seed;
	uint64_t		 list_seed;

	/* While loading. */
	char			*loaded[RULES_FILES_MAX];	/* realpaths */
	size_t			 nloaded;
	struct rules_dmsg	*dmsgs;		/* sorted by place when done */
	size_t			 ndmsgs;
	size_t			 dcap;
	unsigned		 nerrors;
	unsigned		 nwarnings;
	unsigned		 ndropped;	/* past RULES_DIAG_MAX */
	bool			 panic;		/* parser resynchronizing */
	size_t			 nexpanded;	/* RULES_EXPAND_MAX */
	unsigned		 quiet;		/* no warnings: a condition's
						   use after its first */
};

/* One diagnostic, kept until the end to be sorted by place. */
struct rules_dmsg {
	uint32_t	 src;
	uint32_t	 off;
	uint32_t	 seq;
	char		*text;
};

/*
 * rules_diag.c. Only the first RULES_DIAG_MAX diagnostics are kept (each
 * shows at most RULES_DIAG_SPAN bytes of its line either side of the
 * caret); the rest are counted, so that a file of noise costs time and
 * memory linear in its size. rules_diag_full(): whether the next one is
 * dropped (skip costly work for it, such as suggestions).
 */
#define RULES_DIAG_MAX		100
#define RULES_DIAG_SPAN		160
char	*rules_diag_take(struct ruleset *);
bool	 rules_diag_full(const struct ruleset *);
void	rules_error(struct ruleset *, const struct rules_pos *, const char *,
	    ...) __attribute__((format(printf, 3, 4)));
void	rules_warn(struct ruleset *, const struct rules_pos *, const char *,
	    ...) __attribute__((format(printf, 3, 4)));
void	rules_error_file(struct ruleset *, const char *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/*
 * The nearest of names to s if it is near enough to be a typo; NULL, too,
 * once the diagnostic it would go in is dropped (rules_diag_full).
 */
const char *rules_suggest(const struct ruleset *, const char *,
	    const char *const *, size_t);
void	rules_pos_str(const struct ruleset *, const struct rules_pos *,
	    char *, size_t);

/* rules_lex.c */
enum rules_tk {
	TK_EOF, TK_WORD, TK_STRING, TK_NUMBER, TK_DURATION, TK_LBRACE,
	TK_RBRACE, TK_LPAREN, TK_RPAREN, TK_LBRACK, TK_RBRACK, TK_COMMA,
	TK_MINUS, TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE, TK_BAD,
};
struct rules_tok {
	enum rules_tk		 t;
	struct rules_pos	 pos;
	uint32_t		 end;
	const char		*p;		/* source bytes */
	size_t			 len;
	char			*str;		/* TK_STRING, TK_WORD: arena copy */
	double			 num;		/* TK_NUMBER */
	int64_t			 ms;		/* TK_DURATION */
};
struct rules_lex {
	struct ruleset		*rs;
	uint32_t		 src;
	const char		*text;
	size_t			 len;
	size_t			 off;
	uint32_t		 line;
	size_t			 bol;		/* offset of the line's start */
	struct rules_tok	 tok;		/* current token */
};
void		 rules_lex_init(struct rules_lex *, struct ruleset *, uint32_t);
void		 rules_lex_next(struct rules_lex *);
/* The position of off, an offset at or before the lexer's current one. */
void		 rules_lex_pos_before(struct rules_lex *, size_t,
		     struct rules_pos *);
const char	*rules_lex_tkname(enum rules_tk);
int		 rules_lex_given(struct rules_lex *, struct rules_test *);

/* rules_parse.c: parse one source; includes are loaded through cb. */
typedef void (*rules_include_cb)(struct ruleset *, uint32_t src,
    const struct rules_pos *, const char *pattern);
void	rules_parse(struct ruleset *, uint32_t src, rules_include_cb);

/* rules_check.c */
void	rules_check(struct ruleset *);
/* List name of rs, or NULL (a binary search once rules_check sorted them). */
struct rules_list *rules_list_find(const struct ruleset *, const char *);
int	rules_check_fact(const char *, uint8_t *party, uint8_t *fact);
bool	rules_vset_has(const struct rules_vset *, const struct rules_rval *);
/* For the built-ins' checkers: each reports its own errors. */
int	rules_check_expr(struct rules_cctx *, struct rules_node *);
int	rules_check_word(struct rules_cctx *, struct rules_node *);
int	rules_check_key(struct rules_cctx *, struct rules_node *,
	    const char *fn, const char *what, bool ident_only);
/* A duration, or "since referral" (RULES_SINCE_REFERRAL) when since. */
int	rules_check_window(struct rules_cctx *, struct rules_node *,
	    const char *fn, bool since, int64_t *ms);
int	rules_check_party(struct rules_cctx *, struct rules_node *,
	    const char *fn);
/* A word argument among names; -1 (an error, with a suggestion) if not. */
int	rules_check_choice(struct rules_cctx *, struct rules_node *,
	    const char *what, const char *const *names, size_t n);
const char *rules_check_tname(const struct rules_node *, char *, size_t);
struct rules_vset *rules_check_vset(struct ruleset *, int type, int kind,
	    char **vals, const struct rules_pos *pos, size_t nvals);

/* rules_eval.c, for the built-ins' evaluators */
/*
 * A history key in the event evaluated, or in ev: party's identity of
 * kind, or (PARTY_EVENT, ENT_CAMPAIGN) the campaign's; false if absent.
 */
bool	rules_eval_key(const struct rules_ectx *, int party, int kind,
	    struct rg_hash *);
/* The time a window covers (from and to, both included). */
int64_t	rules_eval_from(const struct rules_ectx *, int64_t window);
int64_t	rules_eval_to(const struct rules_ectx *, int64_t window);
void	rules_eval_val(struct rules_ectx *, const struct rules_node *,
	    struct rules_rval *);
/*
 * The index entries of call n's key h, of its types and roles, in its
 * window, newest first, as of the evaluation; cb as for store_scan().
 * 0, or -1 on a store error (cx->err is set).
 */
int	rules_eval_scan(struct rules_ectx *, const struct rules_node *,
	    const struct rg_hash *h, store_entry_cb cb, void *arg);
/*
 * store_count() and store_scan() in the evaluation's transaction, as of
 * the evaluation (at.max_seq): answered from the memo's copy of the
 * key's entries when the evaluation has a memo. Same results, same order,
 * same errors (cx->err is not set: as the store's).
 */
int64_t	rules_eval_count(struct rules_ectx *, int kind, const struct rg_hash *,
	    uint32_t type_mask, uint32_t role_mask, int64_t from_ts,
	    int64_t to_ts, uint64_t limit);
int	rules_eval_scank(struct rules_ectx *, int kind, const struct rg_hash *,
	    uint32_t type_mask, uint32_t role_mask, int64_t from_ts,
	    int64_t to_ts, bool newest_first, store_entry_cb cb, void *arg);
/* store_first() as of the evaluation, from the memo's copy the same way. */
int	rules_eval_first(struct rules_ectx *, int kind, const struct rg_hash *,
	    int64_t to_ts, struct store_entry *out);
/*
 * rules_eval_count() of the entries of (kind, h) from from_ts on (to_ts,
 * as of the evaluation), where from_ts is one event's ts + 1 and tag its
 * seq: with a memo, the key's oldest entries from from_ts on are kept
 * under tag for the memo's transaction and count for every evaluation
 * that asks it again (whatever its to_ts and max_seq) when they are
 * enough to tell; else, and without a memo, the count.
 */
int64_t	rules_eval_since(struct rules_ectx *, uint64_t tag, int kind,
	    const struct rg_hash *, uint32_t type_mask, uint32_t role_mask,
	    int64_t from_ts, int64_t to_ts, uint64_t limit);
/*
 * The event an index entry names, or the event evaluated itself (never
 * read back); *ev points at it: at the memo's copy when the evaluation
 * has a memo (valid until the next call), else at *buf, where it was
 * read. 0, 1 when it is gone (retention), -1 on a store error (cx->err
 * is set).
 */
int	rules_eval_event(struct rules_ectx *, const struct store_entry *,
	    struct rg_event *buf, const struct rg_event **ev);
/*
 * The key (party, kind) of the event e names, as rgev_key() reads
 * it, into *h: 0 the event has it, 1 it has not, 2 the event is gone
 * (retention), -1 on a store error (cx->err is set). Through the memo's
 * table of event keys when the evaluation has a memo.
 */
int	rules_eval_event_key(struct rules_ectx *, const struct store_entry *e,
	    int party, int kind, struct rg_hash *h);
/*
 * What this evaluation derived from the event of seq (rules_eval_event
 * read it just before) and kept with rules_eval_keep: true and *val when
 * the memo still holds it.
 */
bool	rules_eval_kept(const struct rules_ectx *, uint64_t seq, int64_t *val);
void	rules_eval_keep(struct rules_ectx *, uint64_t seq, int64_t val);
/*
 * Condition n (facts of one event only, no history: count's condition)
 * as it holds for event ev instead of the evaluation's, unexplained.
 */
bool	rules_eval_cond(struct rules_ectx *, const struct rules_node *,
	    const struct rg_event *ev);
/* Explain: a value as JSON; ",\"key\":" and the value of node n. */
void	rules_eval_exval(struct jshape_w *, const struct rules_rval *);
void	rules_eval_exside(struct rules_ectx *, const struct rules_node *,
	    const struct rules_rval *, const char *key);
/* Explain: ",\"window_ms\":W" of a windowed call (and "since"). */
void	rules_eval_exwindow(struct rules_ectx *, const struct rules_node *);
/* Explain: ",\"value\":V,\"at_least\":B" of a count's slot. */
void	rules_eval_excount(struct rules_ectx *, const struct rules_node *,
	    const struct rules_slot *);

/* The possessive of a built-in's name: "cluster's", "referees'". */
#define RULES_POSS(fn)	((fn)[0] != '\0' && (fn)[strlen(fn) - 1] == 's' ? \
	"'" : "'s")

/* rules_graph.c: the built-ins that walk accounts, links and referrals */
/*
 * A list of identity kinds, or one kind ([payment, device.id], phone),
 * as cluster() and peers() follow them, into *kinds (1 << kind); -1 (an
 * error naming fn and the kinds it takes) if it is not.
 */
int	rules_graph_kinds(struct rules_cctx *, struct rules_node *,
	    const char *fn, uint32_t *kinds);
/* An explain's list of kinds: ["device","phone"]. */
void	rules_graph_exkinds(struct jshape_w *, uint32_t kinds);
int	rules_graph_linked_check(struct rules_cctx *, struct rules_node *);
void	rules_graph_linked_eval(struct rules_ectx *, const struct rules_node *,
	    struct rules_slot *);
void	rules_graph_linked_explain(struct rules_ectx *,
	    const struct rules_node *, const struct rules_slot *);
int	rules_graph_own_check(struct rules_cctx *, struct rules_node *);
void	rules_graph_own_eval(struct rules_ectx *, const struct rules_node *,
	    struct rules_slot *);
void	rules_graph_own_explain(struct rules_ectx *,
	    const struct rules_node *, const struct rules_slot *);
int	rules_graph_cluster_check(struct rules_cctx *, struct rules_node *);
void	rules_graph_cluster_eval(struct rules_ectx *, const struct rules_node *,
	    struct rules_slot *);
void	rules_graph_cluster_explain(struct rules_ectx *,
	    const struct rules_node *, const struct rules_slot *);
int	rules_graph_strangers_check(struct rules_cctx *, struct rules_node *);
void	rules_graph_strangers_eval(struct rules_ectx *,
	    const struct rules_node *, struct rules_slot *);
int	rules_graph_referees_check(struct rules_cctx *, struct rules_node *);
void	rules_graph_referees_eval(struct rules_ectx *,
	    const struct rules_node *, struct rules_slot *);
void	rules_graph_referees_explain(struct rules_ectx *,
	    const struct rules_node *, const struct rules_slot *);
int	rules_graph_chain_check(struct rules_cctx *, struct rules_node *);
void	rules_graph_chain_eval(struct rules_ectx *, const struct rules_node *,
	    struct rules_slot *);
void	rules_graph_chain_explain(struct rules_ectx *,
	    const struct rules_node *, const struct rules_slot *);
int	rules_graph_referred_check(struct rules_cctx *, struct rules_node *);
void	rules_graph_referred_eval(struct rules_ectx *,
	    const struct rules_node *, struct rules_slot *);
void	rules_graph_referred_explain(struct rules_ectx *,
	    const struct rules_node *, const struct rules_slot *);

/* rules_peers.c: peers(), the referrer's other referees linked to this one */
int	rules_peers_check(struct rules_cctx *, struct rules_node *);
void	rules_peers_eval(struct rules_ectx *, const struct rules_node *,
	    struct rules_slot *);
void	rules_peers_explain(struct rules_ectx *, const struct rules_node *,
	    const struct rules_slot *);

/* rules.c */
uint32_t rules_add_src(struct ruleset *, char *path, char *text, size_t len);
char	*rules_resolve(const struct ruleset *, uint32_t src, const char *);
int	 rules_read_file(struct ruleset *, const char *path, char **text,
	    size_t *len, char **cause);
void	*rules_grow(void *, size_t *cap, size_t n, size_t size);
/*
 * Count n more list values (at pos) against RULES_VALUES_MAX; false past
 * it (reported once: go on parsing, but keep no more values).
 */
bool	 rules_count_values(struct ruleset *, const struct rules_pos *,
	    size_t n);

#endif
