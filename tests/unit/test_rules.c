/*
 * test_rules.c: the rules engine: diagnostics of every error shape (bad
 * files under tests/rules/bad with their expected text), the language's
 * features and the shipped rules through their embedded tests on a
 * scratch store, evaluation without allocation, explain, hashes.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "ident.h"
#include "jshape.h"
#include "req.h"
#include "rgev.h"
#include "rules.h"
#include "sbuf.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

#include "unit.h"

/* Allocation counting: the test links with --wrap=malloc,calloc,realloc. */
void	*__real_malloc(size_t);
void	*__real_calloc(size_t, size_t);
void	*__real_realloc(void *, size_t);
void	*__wrap_malloc(size_t);
void	*__wrap_calloc(size_t, size_t);
void	*__wrap_realloc(void *, size_t);
static unsigned long	allocs;
static size_t		alloc_bytes;	/* requested in all */

void *
__wrap_malloc(size_t n)
{
	allocs++;
	alloc_bytes += n;
	return (__real_malloc(n));
}

void *
__wrap_calloc(size_t n, size_t sz)
{
	allocs++;
	alloc_bytes += n * sz;
	return (__real_calloc(n, sz));
}

void *
__wrap_realloc(void *p, size_t n)
{
	allocs++;
	alloc_bytes += n;
	return (__real_realloc(p, n));
}

static char		 tdir[256];
static char		 secret[300];
static struct ident	*id;

static void
setup(void)
{
	const char	*tmp = getenv("TMPDIR");

	snprintf(tdir, sizeof(tdir), "%s/test-rules.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	snprintf(secret, sizeof(secret), "%s/secret", tdir);
	id = unit_ident(secret);
}

static void
teardown(void)
{
	ident_free(id);
	id = NULL;
	ck_assert_int_eq(unit_rmrf(tdir), 0);
}

static char *
srcpath(const char *rel)
{
	const char	*top = getenv("top_srcdir");
	char		*p;

	xasprintf(&p, "%s/%s", top != NULL ? top : "..", rel);
	return (p);
}

/* Load name in dir (by its base name, so diagnostics are stable). */
static struct ruleset *
load_in(const char *dir, const char *name, char **diag)
{
	char		*d = srcpath(dir), cwd[4096];
	struct ruleset	*rs;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(d), 0);
	rs = rules_load(name, id, 0, diag);
	ck_assert_int_eq(chdir(cwd), 0);
	free(d);
	return (rs);
}

static const char *const bad_files[] = {
	"syntax", "names", "types", "verdict", "tests", "lists", "conditions",
	"groups",
};

START_TEST(test_bad_files)
{
	const char	*name = bad_files[_i];
	struct ruleset	*rs;
	char		*diag, *want, file[64], *p;

	snprintf(file, sizeof(file), "%s.rules", name);
	rs = load_in("tests/rules/bad", file, &diag);
	ck_assert_msg(rs == NULL, "%s loaded", file);
	ck_assert_ptr_nonnull(diag);
	snprintf(file, sizeof(file), "tests/rules/bad/%s.expect", name);
	p = srcpath(file);
	want = unit_slurp(p, NULL);
	ck_assert_str_eq(diag, want);
	free(p);
	free(want);
	free(diag);
}
END_TEST

START_TEST(test_diag_shape)
{
	struct ruleset	*rs;
	char		*diag, *line;
	int		 n = 0;

	/* Every diagnostic: location, source line, caret; all errors listed. */
	rs = load_in("tests/rules/bad", "types.rules", &diag);
	ck_assert_ptr_null(rs);
	for (line = strtok(diag, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (strncmp(line, "types.rules:", 12) == 0) {
			ck_assert_ptr_nonnull(strstr(line, ": error: "));
			n++;
			line = strtok(NULL, "\n");
			ck_assert_ptr_nonnull(line);
			ck_assert(strncmp(line, "    ", 4) == 0);
			line = strtok(NULL, "\n");
			ck_assert_ptr_nonnull(line);
			ck_assert(line[strlen(line) - 1] == '^');
		}
	}
	ck_assert_int_eq(n, 39);
	free(diag);
}
END_TEST

START_TEST(test_warnings)
{
	struct ruleset	*rs;
	char		*diag, *want, *p;

	rs = load_in("tests/rules/warn", "warn.rules", &diag);
	ck_assert_ptr_nonnull(rs);
	p = srcpath("tests/rules/warn/warn.expect");
	want = unit_slurp(p, NULL);
	ck_assert_ptr_nonnull(diag);
	ck_assert_str_eq(diag, want);
	free(p);
	free(want);
	free(diag);
	rules_unref(rs);
}
END_TEST

/*
 * Past the list values limit the parser stops reading values without a
 * new error: a condition whose when it cut short is refused, not used.
 */
START_TEST(test_condition_cut_short)
{
	struct ruleset	*rs;
	char		 path[512], *diag;
	FILE		*f;
	int		 i;

	snprintf(path, sizeof(path), "%s/big.txt", tdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	for (i = 0; i <= 1000000; i++)
		fprintf(f, "%d\n", i);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/cut.rules", tdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "list big file \"big.txt\"\n"
	    "condition c { when referee.email.domain in [\"a\"] }\n"
	    "rule r { when c action review }\n");
	ck_assert_int_eq(fclose(f), 0);
	rs = rules_load(path, id, 0, &diag);
	ck_assert_ptr_null(rs);
	ck_assert_msg(strstr(diag, "more than 1000000 list values") != NULL,
	    "%s", diag);
	free(diag);
}
END_TEST

START_TEST(test_missing_path)
{
	struct ruleset	*rs;
	char		*diag;

	rs = rules_load("/nonexistent/refguard.rules", id, 0, &diag);
	ck_assert_ptr_null(rs);
	ck_assert_str_eq(diag, "/nonexistent/refguard.rules: error: No such "
	    "file or directory\n1 error, 0 warnings: rule set not loaded\n");
	free(diag);
	rs = rules_load(tdir, id, 0, &diag);	/* a directory, no rules */
	ck_assert_ptr_null(rs);
	ck_assert_ptr_nonnull(strstr(diag, "no *.rules file"));
	free(diag);
}
END_TEST

static int
run_tests(struct ruleset *rs, char **report, int *failed)
{
	char	*cause = NULL;
	size_t	 len;
	FILE	*f = open_memstream(report, &len);
	int	 n;

	ck_assert_ptr_nonnull(f);
	n = rules_run_tests(rs, id, f, 0, failed, &cause);
	fclose(f);
	ck_assert_msg(n >= 0, "rules_run_tests: %s", cause);
	return (n);
}

/*
 * tests/rules/good/name: compiles without a diagnostic and every one of
 * its tests passes. The set (caller unrefs), the number of tests in *n
 * and the report in *report (caller frees).
 */
static struct ruleset *
good_file(const char *name, int *n, char **report)
{
	struct ruleset	*rs;
	char		*diag;
	int		 failed;

	rs = load_in("tests/rules/good", name, &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	ck_assert_ptr_null(diag);
	*n = run_tests(rs, report, &failed);
	ck_assert_msg(failed == 0, "%s", *report);
	return (rs);
}

/*
 * strangers(): each list of kinds apart its own result; the work for
 * the accounts found is not spent by the party's many networks, an
 * account's, a busy account's uses or a thousand accounts on a card.
 */
START_TEST(test_strangers_budget)
{
	struct ruleset	*rs;
	char		*report;
	int		 n;

	rs = good_file("strangers.rules", &n, &report);
	ck_assert_int_eq(n, 11);
	free(report);
	rules_unref(rs);
}
END_TEST

START_TEST(test_language)
{
	struct ruleset	*rs;
	char		*report;
	int		 n;

	rs = good_file("lang.rules", &n, &report);
	ck_assert_uint_eq(rules_count(rs), 52);
	ck_assert_int_eq(n, 117);
	ck_assert_str_eq(report, "rules tests: 117 passed, 0 failed\n");
	free(report);
	rules_unref(rs);
}
END_TEST

/*
 * Review queue decisions in rule tests (queue.rules): queue.* given lines
 * run, and a decision is a label labeled() sees.
 */
START_TEST(test_queue_decisions)
{
	struct ruleset	*rs;
	char		*report;
	int		 n;

	rs = good_file("queue.rules", &n, &report);
	ck_assert_int_eq(n, 2);
	free(report);
	rules_unref(rs);
}
END_TEST

/*
 * Score groups (groups.rules): a capped group counts its sum or its cap,
 * negative scores included; shadow rules add nothing.
 */
START_TEST(test_score_groups)
{
	struct ruleset	*rs;
	char		*report;
	int		 n;

	rs = good_file("groups.rules", &n, &report);
	ck_assert_int_eq(n, 6);
	free(report);
	rules_unref(rs);
}
END_TEST

/* String list values with a '*' are patterns (patterns.rules). */
START_TEST(test_list_patterns)
{
	struct ruleset	*rs;
	char		*report;
	int		 n;

	rs = good_file("patterns.rules", &n, &report);
	ck_assert_int_eq(n, 13);
	free(report);
	rules_unref(rs);
}
END_TEST

START_TEST(test_failing)
{
	struct ruleset	*rs;
	char		*diag, *report, *want, *p;
	int		 n, failed;

	rs = load_in("tests/rules/failing", "failing.rules", &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	n = run_tests(rs, &report, &failed);
	ck_assert_int_eq(n, 8);
	ck_assert_int_eq(failed, 7);
	p = srcpath("tests/rules/failing/failing.expect");
	want = unit_slurp(p, NULL);
	ck_assert_str_eq(report, want);
	free(p);
	free(want);
	free(report);
	rules_unref(rs);
}
END_TEST

START_TEST(test_shipped)
{
	struct ruleset	*rs;
	char		*dir = srcpath("rules"), *diag, *report;
	int		 n, failed;

	rs = rules_load(dir, id, 0, &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	ck_assert_msg(diag == NULL, "%s", diag);
	ck_assert_uint_ge(rules_count(rs), 20);
	ck_assert_uint_ge(rules_ntests(rs), 38);
	n = run_tests(rs, &report, &failed);
	ck_assert_int_eq(n, (int)rules_ntests(rs));
	ck_assert_msg(failed == 0, "%s", report);
	free(report);
	rules_unref(rs);
	free(dir);
}
END_TEST

/* rules_hash() as it is made: the semantics version, then one source. */
static const char *
hash_of(uint64_t semantics, const char *text)
{
	static char		 hex[33];
	XXH3_state_t		*st = XXH3_createState();
	XXH128_canonical_t	 c;
	uint8_t			 len[8];
	int			 j;

	XXH3_128bits_reset(st);
	for (j = 0; j < 8; j++)
		len[j] = (uint8_t)(semantics >> (56 - 8 * j));
	XXH3_128bits_update(st, "semantics", 9);
	XXH3_128bits_update(st, len, sizeof(len));
	for (j = 0; j < 8; j++)
		len[j] = (uint8_t)((uint64_t)strlen(text) >> (56 - 8 * j));
	XXH3_128bits_update(st, len, sizeof(len));
	XXH3_128bits_update(st, text, strlen(text));
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	XXH3_freeState(st);
	return (rg_hash_hex((const struct rg_hash *)c.digest, hex));
}

START_TEST(test_hash)
{
	const char	*a = "rule x { when referee.geo.tor action deny }\n";
	const char	*b = "rule x { when referee.geo.vpn action deny }\n";
	struct ruleset	*r1, *r2, *r3;
	char		*diag;
	size_t		 i;

	r1 = rules_load_buf("a.rules", a, strlen(a), id, RULES_NOFILES, &diag);
	r2 = rules_load_buf("b.rules", a, strlen(a), id, RULES_NOFILES, &diag);
	r3 = rules_load_buf("a.rules", b, strlen(b), id, RULES_NOFILES, &diag);
	ck_assert(r1 != NULL && r2 != NULL && r3 != NULL);
	ck_assert_uint_eq(strlen(rules_hash(r1)), 32);
	for (i = 0; i < 32; i++)
		ck_assert(strchr("0123456789abcdef", rules_hash(r1)[i]) != NULL);
	/* The text names the set, not where it was read from. */
	ck_assert_str_eq(rules_hash(r1), rules_hash(r2));
	ck_assert_str_ne(rules_hash(r1), rules_hash(r3));
	/*
	 * And what the functions answer: the same files on a refguard whose
	 * functions answer otherwise are another set, whose verdicts a
	 * backtest does not take for its own.
	 */
	ck_assert_str_eq(rules_hash(r1), hash_of(RULES_SEMANTICS, a));
	ck_assert_str_ne(rules_hash(r1), hash_of(RULES_SEMANTICS - 1, a));
	ck_assert_ptr_eq(rules_ref(r1), r1);
	rules_unref(r1);
	rules_unref(r1);
	rules_unref(r2);
	rules_unref(r3);
}
END_TEST

START_TEST(test_nofiles)
{
	const char	*s = "include \"*.rules\"\nlist l file \"x\"\n";
	struct ruleset	*rs;
	char		*diag;

	rs = rules_load_buf("f.rules", s, strlen(s), id, RULES_NOFILES, &diag);
	ck_assert_ptr_null(rs);
	ck_assert_ptr_nonnull(strstr(diag, "f.rules:1:9: error: include is "
	    "not allowed here"));
	ck_assert_ptr_nonnull(strstr(diag, "f.rules:2:13: error: list files "
	    "cannot be read here"));
	free(diag);
}
END_TEST

/*
 * The store indexes STORE_PAIRS_MAX pairs of keys; a set that counts one
 * more is warned that it is counted the slow way.
 */
START_TEST(test_pairs_max)
{
	static const char *const keys[] = { "device", "device.fuzzy",
	    "device.id", "device.stable", "email", "email.shape", "ip",
	    "ip.prefix", "payment", "phone", "phone.block" };
	struct ruleset	*rs;
	struct sbuf	 sb;
	char		*diag;
	size_t		 i, n = 0;

	sbuf_init(&sb, 4096);
	for (i = 0; n <= STORE_PAIRS_MAX; i++, n++)
		sbuf_addf(&sb, "rule p%zu { when count(referral, [%s.account, "
		    "referee.%s], 1d) > 1 action review }\n", n,
		    i < nitems(keys) ? "referrer" : "referee",
		    keys[i % nitems(keys)]);
	rs = rules_load_buf("p.rules", sb.buf, sb.len, id, RULES_NOFILES,
	    &diag);
	ck_assert_ptr_nonnull(rs);
	ck_assert_ptr_nonnull(diag);
	ck_assert_msg(strstr(diag, "p.rules:17:") != NULL &&
	    strstr(diag, "warning: the store indexes 16 pairs of keys") !=
	    NULL, "%s", diag);
	ck_assert_ptr_null(strstr(diag, "p.rules:16:"));
	free(diag);
	sbuf_free(&sb);
	rules_unref(rs);
}
END_TEST

static void	decode(const char *, int64_t, struct rg_event *);

/*
 * rules_eval without explain, which must allocate nothing. Nothing
 * between counting and reading: check's asserts allocate.
 */
static void
eval_no_alloc(struct ruleset *rs, struct rg_event *ev, struct store_txn *txn,
    struct rules_result *res)
{
	unsigned long	n;
	int		rc;

	allocs = 0;
	rc = rules_eval(rs, ev, txn, 0, res);
	n = allocs;
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(n == 0, "rules_eval allocated %lu times", n);
}

/*
 * An expression nested n levels deep of one shape: '(', not, a call's
 * argument, a list literal; and "mixed", where each level builds the
 * most tree nodes the grammar allows (the parser's bound on the tree's
 * depth must hold for it).
 */
static char *
nested(const char *shape, int n)
{
	struct sbuf	sb;
	int		i;

	sbuf_init(&sb, 64);
	for (i = 0; i < n; i++) {
		if (strcmp(shape, "paren") == 0)
			sbuf_adds(&sb, "(");
		else if (strcmp(shape, "not") == 0)
			sbuf_adds(&sb, "not ");
		else if (strcmp(shape, "call") == 0)
			sbuf_adds(&sb, "f(");
		else if (strcmp(shape, "list") == 0)
			sbuf_adds(&sb, "[");
		else
			sbuf_adds(&sb, "true or true and f(");
	}
	sbuf_adds(&sb, strcmp(shape, "mixed") == 0 ?
	    "true or true and since referral == 1" :
	    "referee.geo.tor");
	for (i = 0; i < n; i++) {
		if (strcmp(shape, "paren") == 0 || strcmp(shape, "call") == 0)
			sbuf_adds(&sb, ")");
		else if (strcmp(shape, "list") == 0)
			sbuf_adds(&sb, "]");
		else if (strcmp(shape, "mixed") == 0)
			sbuf_adds(&sb, ") == 1");
	}
	return (sbuf_take(&sb, NULL));
}

static const char *const nest_shapes[] = {
	"paren", "not", "call", "list", "mixed",
};
/* Bytes a level takes, and where in them the token that opens it is. */
static const int nest_len[] = { 1, 4, 2, 1, 19 };
static const int nest_at[] = { 0, 0, 1, 0, 18 };

/*
 * Nesting is bounded: RULES_NEST_MAX levels pass the parser (and the
 * depth check behind it), one more is an error at the token that opens
 * it, and 30,000 are the same error, not a stack overflow.
 */
START_TEST(test_nesting)
{
	const char	*shape = nest_shapes[_i];
	const int	 ns[] = { RULES_NEST_MAX, RULES_NEST_MAX + 1, 30000 };
	struct ruleset	*rs;
	char		*e, *src, *diag, want[128];
	size_t		 k;

	for (k = 0; k < nitems(ns); k++) {
		e = nested(shape, ns[k]);
		xasprintf(&src, "rule deep {\n  when %s\n  action review\n}\n",
		    e);
		rs = rules_load_buf("n.rules", src, strlen(src), id,
		    RULES_NOFILES, &diag);
		if (k == 0) {
			/* Shapes that do not type-check fail for that alone. */
			ck_assert_msg(diag == NULL ||
			    strstr(diag, "deeper") == NULL, "%s", diag);
			if (strcmp(shape, "paren") == 0 ||
			    strcmp(shape, "not") == 0)
				ck_assert_msg(rs != NULL, "%s", diag);
		} else {
			ck_assert_ptr_null(rs);
			ck_assert_ptr_nonnull(diag);
			/* At the token that opens level RULES_NEST_MAX + 1. */
			snprintf(want, sizeof(want), "n.rules:2:%d: error: "
			    "expression nests deeper than %d levels", 8 +
			    RULES_NEST_MAX * nest_len[_i] + nest_at[_i],
			    RULES_NEST_MAX);
			ck_assert_msg(strstr(diag, want) != NULL, "%s", diag);
			ck_assert_msg(strstr(diag, "1 error,") != NULL, "%s",
			    diag);
		}
		rules_unref(rs);
		free(diag);
		free(src);
		free(e);
	}
}
END_TEST

/* The deepest expressions allowed evaluate (the writer thread's stack). */
START_TEST(test_nesting_eval)
{
	struct rules_result	 res;
	struct ruleset		*rs;
	struct rg_event		 ev;
	char			*e1, *e2, *src, *diag;

	e1 = nested("not", RULES_NEST_MAX);	/* even: not not ... tor */
	e2 = nested("paren", RULES_NEST_MAX);
	xasprintf(&src, "rule n1 { when %s action review score 10 }\n"
	    "rule n2 { when %s action review score 20 }\n", e1, e2);
	rs = rules_load_buf("n.rules", src, strlen(src), id, RULES_NOFILES,
	    &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	decode("{\"op\":\"check\",\"id\":\"x\",\"referrer\":{\"account\":\"a\"},"
	    "\"referee\":{\"account\":\"b\"}}", 1767225600000LL, &ev);
	ev.seq = 1;
	ev.party[1].geo.have |= 0x40;	/* GEO_TOR */
	ev.party[1].geo.tor = true;
	ck_assert_int_eq(rules_eval(rs, &ev, NULL, 1, &res), 0);
	ck_assert_int_eq(res.score, 30);
	free(res.explain);
	rules_unref(rs);
	free(src);
	free(e1);
	free(e2);
}
END_TEST

/*
 * Loading costs memory linear in the file: every byte requested from
 * malloc while loading stays within a constant times the file's size
 * (plus a constant), and so does the number of allocations. Hostile
 * shapes: many string literals (each allocated the rest of the file),
 * one long line of bad characters (a diagnostic each, each copying the
 * line), many rules (the array reallocated for each).
 */
static char *
hostile(int shape, size_t *len)
{
	struct sbuf	sb;
	int		i;

	sbuf_init(&sb, 1024);
	switch (shape) {
	case 0:
		sbuf_adds(&sb, "list big [\n");
		for (i = 0; i < 5000; i++)
			sbuf_addf(&sb, "  \"value-%06d.example\",\n", i);
		sbuf_adds(&sb, "]\nrule r { when referee.email.domain in list "
		    "big action review }\n");
		break;
	case 1:
		for (i = 0; i < 20000; i++)
			sbuf_addc(&sb, '@');
		sbuf_addc(&sb, '\n');
		break;
	case 2:
		for (i = 0; i < 5000; i++)
			sbuf_addf(&sb, "rule r%d { when referee.email.domain == "
			    "\"d%d.example\" action review score 1 }\n", i, i);
		break;
	}
	*len = sb.len;
	return (sbuf_take(&sb, NULL));
}

START_TEST(test_load_linear)
{
	struct ruleset	*rs;
	char		*src, *diag;
	size_t		 len;

	src = hostile(_i, &len);
	alloc_bytes = 0;
	allocs = 0;
	rs = rules_load_buf("h.rules", src, len, id, RULES_NOFILES, &diag);
	ck_assert_msg(alloc_bytes < 32 * len + (1 << 20), "shape %d: %zu "
	    "bytes allocated to load %zu", _i, alloc_bytes, len);
	ck_assert_msg(allocs < len / 1024 + 1000, "shape %d: %lu allocations "
	    "to load %zu bytes", _i, allocs, len);
	if (_i == 1) {
		ck_assert_ptr_null(rs);
		ck_assert_ptr_nonnull(strstr(diag, "(19900 more diagnostics "
		    "not shown: only the first 100 are)\n20000 errors,"));
	} else
		ck_assert_msg(rs != NULL, "%s", diag);
	rules_unref(rs);
	free(diag);
	free(src);
}
END_TEST

/* What a set may hold: past each bound, an error naming it. */
/*
 * Load the set in sb as name, which must be refused: its diagnostics
 * (the caller frees them); sb is freed.
 */
static char *
load_refused(const char *name, struct sbuf *sb)
{
	struct ruleset	*rs;
	char		*diag;

	rs = rules_load_buf(name, sb->buf, sb->len, id, RULES_NOFILES, &diag);
	ck_assert_ptr_null(rs);
	ck_assert_ptr_nonnull(diag);
	sbuf_free(sb);
	return (diag);
}

START_TEST(test_load_limits)
{
	struct ruleset	*rs;
	struct sbuf	 sb;
	char		*diag, path[300];
	FILE		*f;
	int		 i;

	/* Rules. */
	sbuf_init(&sb, 1024);
	for (i = 0; i <= 20000; i++)
		sbuf_addf(&sb, "rule r%d { when referee.geo.tor action review "
		    "}\n", i);
	diag = load_refused("l.rules", &sb);
	ck_assert_ptr_nonnull(strstr(diag, "l.rules:20001:6: error: the rule "
	    "set holds more than 20000 rules\n"));
	ck_assert_ptr_nonnull(strstr(diag, "\n1 error,"));
	free(diag);

	/* List values: 16 networks of 65536 addresses each. */
	sbuf_init(&sb, 1024);
	sbuf_adds(&sb, "list nets [\n");
	for (i = 0; i < 16; i++)
		sbuf_addf(&sb, "  \"10.%d.0.0/16\",\n", i);
	sbuf_adds(&sb, "]\nrule r { when referee.ip in list nets "
	    "action review }\n");
	diag = load_refused("v.rules", &sb);
	ck_assert_ptr_nonnull(strstr(diag, "v.rules:17:3: error: the rule set "
	    "holds more than 1000000 list values"));
	free(diag);

	/*
	 * Score groups: 65, each capped. Only the rule past the bound is
	 * an error; the cap on its group is not said to name no group.
	 */
	sbuf_init(&sb, 1024);
	for (i = 0; i <= 64; i++)
		sbuf_addf(&sb, "rule r%d { when referee.geo.tor action review "
		    "group g%d }\n", i, i);
	sbuf_adds(&sb, "verdict {\n");
	for (i = 0; i <= 64; i++)
		sbuf_addf(&sb, "  cap g%d at 10\n", i);
	sbuf_adds(&sb, "}\n");
	diag = load_refused("g.rules", &sb);
	ck_assert_ptr_nonnull(strstr(diag, "g.rules:65:53: error: rule r64: "
	    "more than 64 score groups"));
	ck_assert_ptr_null(strstr(diag, "which no rule belongs to"));
	ck_assert_ptr_nonnull(strstr(diag, "1 error, 0 warnings"));
	free(diag);

	/* Test requests: 11 lines of 10000. */
	sbuf_init(&sb, 1024);
	sbuf_adds(&sb, "rule r { when referee.geo.tor action review }\n"
	    "test t {\n  given {\n");
	for (i = 0; i < 11; i++)
		sbuf_adds(&sb, "    repeat 10000 {\"op\":\"check\",\"id\":"
		    "\"{n}\",\"referrer\":{\"account\":\"a\"},"
		    "\"referee\":{\"account\":\"b\"}}\n");
	sbuf_adds(&sb, "  }\n  expect allow\n}\n");
	diag = load_refused("t.rules", &sb);
	ck_assert_ptr_nonnull(strstr(diag, "t.rules:14:18: error: the rule "
	    "set's tests send more than 100000 requests"));
	free(diag);

	/* rules_max_bytes: the files of the set in all. */
	snprintf(path, sizeof(path), "%s/big.rules", tdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	for (i = 0; i < 100; i++)
		fprintf(f, "rule r%d { when referee.geo.tor action review }\n",
		    i);
	ck_assert_int_eq(fclose(f), 0);
	rs = rules_load(path, id, 4096, &diag);
	ck_assert_ptr_null(rs);
	ck_assert_ptr_nonnull(strstr(diag, "big.rules: error: the rule set's "
	    "files would exceed rules_max_bytes (4096 bytes)\n"));
	free(diag);
	rs = rules_load(path, id, 0, &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	rules_unref(rs);
}
END_TEST

/* An event decoded the way the daemon decodes it. */
static void
decode(const char *line, int64_t now, struct rg_event *ev)
{
	struct req_opts		ro;
	struct req_error	err;
	enum req_op		op;

	memset(&ro, 0, sizeof(ro));
	ro.now = now;
	ro.max_future = INT64_MAX / 4;
	ck_assert_msg(req_decode(line, strlen(line), id, &ro, &op, ev,
	    &err) == 0, "%s: %s", err.field, err.msg);
}

static const char *pure_rules =
    "rule p.tor { when referee.geo.tor action review score 30 }\n"
    "rule p.domain { when referee.email.domain == \"example.com\" "
    "action allow score 25 }\n"
    "rule p.shadow { mode shadow when referee.geo.tor action deny "
    "score 500 }\n"
    "rule p.never { when referee.phone != referrer.phone action deny }\n"
    "verdict { review when score >= 50 deny when score >= 55 }\n";

START_TEST(test_eval_pure)
{
	struct rules_result	 res;
	struct ruleset		*rs;
	struct rg_event		 ev;
	char			*diag;

	rs = rules_load_buf("p.rules", pure_rules, strlen(pure_rules), id,
	    RULES_NOFILES, &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	decode("{\"op\":\"check\",\"id\":\"x\",\"referrer\":{\"account\":\"a\"},"
	    "\"referee\":{\"account\":\"b\",\"email\":\"q@example.com\"}}",
	    1767225600000LL, &ev);
	ev.seq = 1;
	/* Pure rules never touch the store. */
	ck_assert_int_eq(rules_eval(rs, &ev, NULL, 0, &res), 0);
	ck_assert_int_eq(res.action, ACTION_ALLOW);
	ck_assert_int_eq(res.score, 25);
	ck_assert_uint_eq(res.nhits, 1);
	ck_assert_str_eq(rules_rule_name(rs, res.hits[0].rule), "p.domain");
	ck_assert_ptr_null(res.explain);

	ev.party[1].geo.have |= 0x40;	/* GEO_TOR */
	ev.party[1].geo.tor = true;
	ck_assert_int_eq(rules_eval(rs, &ev, NULL, 0, &res), 0);
	/* 30 + 25 = 55: the deny threshold; the shadow 500 never counts. */
	ck_assert_int_eq(res.score, 55);
	ck_assert_int_eq(res.action, ACTION_DENY);
	ck_assert_uint_eq(res.nhits, 3);
	ck_assert_int_eq(res.hits[2].shadow, 1);
	ck_assert_str_eq(rules_rule_name(rs, res.hits[2].rule), "p.shadow");
	ck_assert_str_eq(rules_action_name(res.hits[2].action), "deny");
	rules_unref(rs);
}
END_TEST

/*
 * ev's explain written in its split form (RULES_EXPLAIN_SHAPED, which
 * checks store) is what jshape_split() makes of the text: the stored
 * form does not depend on the way it was made, and joins back to text.
 */
static void
check_shaped(struct ruleset *rs, const struct rg_event *ev,
    struct store_txn *txn, const char *text)
{
	struct rules_result	 res;
	struct sbuf		 shape, vals, back;

	ck_assert_int_eq(rules_eval(rs, ev, txn, RULES_EXPLAIN_SHAPED, &res),
	    0);
	ck_assert_ptr_null(res.explain);
	sbuf_init(&shape, 64);
	sbuf_init(&vals, 64);
	sbuf_init(&back, 64);
	ck_assert_int_eq(jshape_split(text, strlen(text), &shape, &vals), 0);
	ck_assert_msg(shape.len == res.xshape.len && memcmp(shape.buf,
	    res.xshape.buf, shape.len) == 0, "shape differs: %.*s / %.*s",
	    (int)shape.len, shape.buf, (int)res.xshape.len, res.xshape.buf);
	ck_assert_msg(vals.len == res.xvals.len && memcmp(vals.buf,
	    res.xvals.buf, vals.len) == 0, "values differ (%zu, %zu bytes)",
	    vals.len, res.xvals.len);
	ck_assert_int_eq(jshape_join(res.xshape.buf, res.xshape.len,
	    (const uint8_t *)res.xvals.buf, res.xvals.len, &back), 0);
	ck_assert_str_eq(back.buf, text);
	sbuf_free(&shape);
	sbuf_free(&vals);
	sbuf_free(&back);
	sbuf_free(&res.xshape);
	sbuf_free(&res.xvals);
}

START_TEST(test_explain)
{
	const char		*src =
	    "rule e.velocity { when busy "
	    "and not (referee.geo.country == \"US\") action review }\n"
	    "condition busy { when count(referral, referrer.account, 1h) > 10 }\n"
	    "rule e.either { when tor_or_vpn action review }\n"
	    "condition tor_or_vpn { when referee.geo.tor or referee.geo.vpn }\n"
	    "rule e.link { when linked(referrer, referee, any) action deny }\n";
	struct rules_result	 res;
	struct verdict		 v;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev;
	json_error_t		 jerr;
	json_t			*j, *r, *f;
	char			*diag, *cause, line[512];
	int			 i;

	rs = rules_load_buf("e.rules", src, strlen(src), id, 0, &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	st = unit_store(tdir, 16 << 20, 64 << 20);
	txn = store_begin(st, true, &cause);
	ck_assert_ptr_nonnull(txn);
	for (i = 0; i < 30; i++) {
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":\"r%d\","
		    "\"referrer\":{\"account\":\"a\"},\"referee\":{\"account\":"
		    "\"b%d\",\"ip\":\"198.51.100.%d\"}}", i, i, i);
		decode(line, 1767225600000LL + i * 1000, &ev);
		ck_assert_int_eq(verdict_check(txn, rs, &ev, &v), 0);
		verdict_clear(&v);
	}
	/* The last event, as verdict_check saw it: evaluate it again. */
	eval_no_alloc(rs, &ev, txn, &res);
	ck_assert_int_eq(res.action, ACTION_REVIEW);

	ck_assert_int_eq(rules_eval(rs, &ev, txn, 1, &res), 0);
	ck_assert_ptr_nonnull(res.explain);
	check_shaped(rs, &ev, txn, res.explain);
	j = json_loads(res.explain, 0, &jerr);
	ck_assert_msg(j != NULL, "%s: %s", jerr.text, res.explain);
	ck_assert_uint_eq(json_array_size(j), 3);
	r = json_array_get(j, 0);
	ck_assert_str_eq(json_string_value(json_object_get(r, "rule")),
	    "e.velocity");
	ck_assert(json_is_true(json_object_get(r, "matched")));
	/* The cheap test runs first (and/or operands are ordered by cost). */
	f = json_array_get(json_object_get(r, "facts"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "expr")),
	    "referee.geo.country == \"US\"");
	/* Absent country: the comparison is false, the value null. */
	ck_assert(json_is_false(json_object_get(f, "result")));
	ck_assert(json_is_null(json_object_get(f, "left")));
	/* The count stopped at 11: enough to decide "> 10". */
	f = json_array_get(json_object_get(r, "facts"), 1);
	/* A condition's use is named: "name: its text". */
	ck_assert_str_eq(json_string_value(json_object_get(f, "expr")),
	    "busy: count(referral, referrer.account, 1h) > 10");
	ck_assert(json_is_true(json_object_get(f, "result")));
	f = json_object_get(f, "left");
	ck_assert_int_eq(json_integer_value(json_object_get(f, "value")), 11);
	ck_assert(json_is_true(json_object_get(f, "at_least")));
	ck_assert_int_eq(json_integer_value(json_object_get(f, "window_ms")),
	    3600000);
	r = json_array_get(j, 2);
	ck_assert_str_eq(json_string_value(json_object_get(r, "rule")),
	    "e.link");
	ck_assert(json_is_false(json_object_get(r, "matched")));
	/* A condition that is an or: each operand shown carries its name. */
	r = json_array_get(j, 1);
	ck_assert_str_eq(json_string_value(json_object_get(r, "rule")),
	    "e.either");
	f = json_array_get(json_object_get(r, "facts"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "expr")),
	    "tor_or_vpn: referee.geo.tor");
	f = json_array_get(json_object_get(r, "facts"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(f, "expr")),
	    "tor_or_vpn: referee.geo.vpn");
	json_decref(j);
	free(res.explain);

	store_abort(txn);
	store_close(st);
	rules_unref(rs);
}
END_TEST

START_TEST(test_eval_no_alloc_history)
{
	struct rules_result	 res;
	struct verdict		 v;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev;
	/*
	 * The frozen classic policy, whose verdict here is known (a
	 * deny), and the shipped one, whose history functions (referees,
	 * cluster, chain) must not allocate either.
	 */
	static const char *const dirs[] = { "tests/fixtures/rules-classic",
	    "rules" };
	char			*dir = srcpath(dirs[_i]), *diag, *cause;
	char			 line[1024];
	int			 i;

	rs = rules_load(dir, id, 0, &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	st = unit_store(tdir, 16 << 20, 64 << 20);
	txn = store_begin(st, true, &cause);
	ck_assert_ptr_nonnull(txn);
	for (i = 0; i < 20; i++) {
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":\"r%d\","
		    "\"referrer\":{\"account\":\"a%d\",\"ip\":\"198.51.100.%d\","
		    "\"device\":{\"ua\":\"Mozilla/5.0 (X11; Linux) Firefox/1\"}},"
		    "\"referee\":{\"account\":\"b%d\",\"ip\":\"203.0.113.7\","
		    "\"payment\":\"pm_1\",\"device\":{\"id\":\"d%d\"}}}", i % 3,
		    i % 3, i, i, i % 2);
		decode(line, 1767225600000LL + i * 1000, &ev);
		ck_assert_int_eq(verdict_check(txn, rs, &ev, &v), 0);
		verdict_clear(&v);
	}
	eval_no_alloc(rs, &ev, txn, &res);
	if (_i == 0)
		ck_assert_int_eq(res.action, ACTION_DENY);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
	free(dir);
}
END_TEST

/*
 * The writer's evaluation threads (writer.c) evaluate a run of stored
 * events on a view (store.h): each must get what it got in the write
 * transaction right after its own event was stored. The store's first
 * event included, whose "before it" is no bound at all to a scan that
 * takes 0 for none: the run's later referrals (earlier in time) must
 * stay out of chain() and referred().
 */
static const char *view_rules =
    "rule v.chain { when chain(referrer, 1h) >= 2 action review score 10 }\n"
    "rule v.ring { when referred(referrer, referee) action review score 20 }\n"
    "rule v.seen { when linked(referrer, referee, ip, 4h) action allow "
    "score 5 }\n";
static const char *const view_lines[] = {
	"{\"op\":\"check\",\"id\":\"r1\",\"ts\":1767225600000,"
	"\"referrer\":{\"account\":\"A\",\"ip\":\"198.51.100.1\"},"
	"\"referee\":{\"account\":\"B\",\"ip\":\"198.51.100.1\"}}",
	"{\"op\":\"check\",\"id\":\"r2\",\"ts\":1767225540000,"
	"\"referrer\":{\"account\":\"C\"},\"referee\":{\"account\":\"A\"}}",
	"{\"op\":\"check\",\"id\":\"r3\",\"ts\":1767225500000,"
	"\"referrer\":{\"account\":\"B\"},\"referee\":{\"account\":\"A\"}}",
	"{\"op\":\"check\",\"id\":\"r4\",\"ts\":1767240000000,"
	"\"referrer\":{\"account\":\"A\",\"ip\":\"198.51.100.1\"},"
	"\"referee\":{\"account\":\"D\",\"ip\":\"198.51.100.1\"}}",
};
#define VIEW_N	(sizeof(view_lines) / sizeof(view_lines[0]))

/* verdict_check_eval() of ev in t into *res (its explain copied). */
static void
check_eval(struct ruleset *rs, const struct rg_event *ev, struct store_txn *t,
    struct rules_result *res)
{
	struct verdict_eval	*ve = verdict_eval_new();
	struct sbuf		 text;

	ck_assert_int_eq(verdict_check_eval(rs, ev, t, ve), 0);
	*res = *verdict_eval_result(ve);
	sbuf_init(&text, 1024);
	ck_assert_int_eq(verdict_eval_explain(ve, t, &text), 0);
	res->explain = sbuf_take(&text, NULL);
	memset(&res->xshape, 0, sizeof(res->xshape));
	memset(&res->xvals, 0, sizeof(res->xvals));
	verdict_eval_free(ve);
}

/*
 * run[]'s checks on a fresh store (dir tag under tdir), after hist[]
 * was stored and committed (and written out to LMDB by a close when
 * reopen): each evaluated in the write transaction right after its
 * event was stored, or (view) all of them at the end, on a view of it.
 */
static void
view_eval(struct ruleset *rs, const char *tag, const char *const *hist,
    size_t nhist, bool reopen, const char *const *run, size_t nrun,
    bool view, struct rules_result *res)
{
	struct store		*st;
	struct store_txn	*t, *vt;
	struct store_view	*v = NULL;
	struct rg_event		*ev = xcalloc(nrun, sizeof(*ev)), hev;
	struct verdict		 out;
	char			 dir[300], *cause = NULL;
	size_t			 i;

	snprintf(dir, sizeof(dir), "%s/%s%d", tdir, tag, (int)view);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	st = unit_store(dir, 16 << 20, 64 << 20);
	if (nhist > 0) {
		t = store_begin(st, true, &cause);
		ck_assert_msg(t != NULL, "%s", cause);
		for (i = 0; i < nhist; i++) {
			decode(hist[i], 1767300000000LL, &hev);
			ck_assert_int_eq(verdict_check_begin(t, rs, &hev, &out),
			    0);
		}
		ck_assert_int_eq(store_commit(t, NULL, &cause), 0);
		if (reopen) {
			store_close(st);
			st = unit_store(dir, 16 << 20, 64 << 20);
		}
	}
	t = store_begin(st, true, &cause);
	ck_assert_msg(t != NULL, "%s", cause);
	if (view)
		ck_assert_ptr_nonnull(v = store_view_new(t));
	for (i = 0; i < nrun; i++) {
		decode(run[i], 1767300000000LL, &ev[i]);
		ck_assert_int_eq(verdict_check_begin(t, rs, &ev[i], &out), 0);
		if (view)
			ck_assert_int_eq(store_view_add(v, &ev[i]), 0);
		else
			check_eval(rs, &ev[i], t, &res[i]);
	}
	if (view) {
		store_view_seal(v);
		vt = store_begin_view(st, v, &cause);
		ck_assert_msg(vt != NULL, "%s", cause);
		for (i = 0; i < nrun; i++)
			check_eval(rs, &ev[i], vt, &res[i]);
		store_abort(vt);
	}
	store_abort(t);
	store_view_free(v);
	store_close(st);
	free(ev);
}

/* Both ways: the same results, explains included; the count compared. */
static void
view_compare(struct ruleset *rs, const char *tag, const char *const *hist,
    size_t nhist, bool reopen, const char *const *run, size_t nrun,
    struct rules_result *a)
{
	struct rules_result	*b = xcalloc(nrun, sizeof(*b));
	size_t			 i;

	view_eval(rs, tag, hist, nhist, reopen, run, nrun, false, a);
	view_eval(rs, tag, hist, nhist, reopen, run, nrun, true, b);
	for (i = 0; i < nrun; i++) {
		ck_assert_msg(a[i].action == b[i].action &&
		    a[i].score == b[i].score && strcmp(a[i].explain,
		    b[i].explain) == 0, "%s, event %zu: %s in the transaction, "
		    "%s on the view", tag, i + 1, a[i].explain, b[i].explain);
		free(a[i].explain);
		free(b[i].explain);
	}
	free(b);
}

/*
 * A check's memo (verdict.c) keeps the events it read and their keys
 * from one check to the next. A write transaction that aborts gives its
 * seqs again, to other events: the memo must not answer for them. Here
 * the referrer's first referral was to X, who logged in; that
 * transaction aborts, and the same seqs then hold a referral to Y, who
 * never did: the same check must find no active referee, as an
 * evaluation without a memo does.
 */
static const char *check_memo_rules =
    "rule m.active { when referees(referrer.account, 30d, active) >= 1 "
    "action review score 10 }\n";

/*
 * R's referral to referee, X's login, R's referral to Z: Z's check gets
 * want through the memo and without one; the transaction commits or not.
 */
static void
memo_run(struct store *st, struct ruleset *rs, const char *referee,
    int want, bool commit)
{
	static const char *const rest[] = {
		"{\"op\":\"observe\",\"kind\":\"login\",\"ts\":1767229200000,"
		"\"account\":\"X\"}",
		"{\"op\":\"check\",\"id\":\"m3\",\"ts\":1767232800000,"
		"\"referrer\":{\"account\":\"R\"},\"referee\":{\"account\":\"Z\"}}",
	};
	struct rules_result	 res[2];
	struct store_txn	*t;
	struct rg_event		 ev;
	char			*cause = NULL, first[256];
	size_t			 i;

	snprintf(first, sizeof(first), "{\"op\":\"check\",\"id\":\"m-%s\","
	    "\"ts\":1767225600000,\"referrer\":{\"account\":\"R\"},"
	    "\"referee\":{\"account\":\"%s\"}}", referee, referee);
	t = store_begin(st, true, &cause);
	ck_assert_msg(t != NULL, "%s", cause);
	decode(first, 1767300000000LL, &ev);
	ck_assert_int_eq(store_put_event(t, &ev), 0);
	for (i = 0; i < nitems(rest); i++) {
		decode(rest[i], 1767300000000LL, &ev);
		ck_assert_int_eq(store_put_event(t, &ev), 0);
	}
	check_eval(rs, &ev, t, &res[0]);	/* through the memo */
	ck_assert_int_eq(rules_eval(rs, &ev, t, 0, &res[1]), 0);
	ck_assert_int_eq(res[1].action, want);
	ck_assert_int_eq(res[0].action, want);
	free(res[0].explain);
	if (commit)
		ck_assert_int_eq(store_commit(t, NULL, &cause), 0);
	else
		store_abort(t);
}

START_TEST(test_memo_abort)
{
	struct ruleset		*rs;
	struct store		*st;
	char			 dir[300], *diag = NULL;

	rs = rules_load_buf("m.rules", check_memo_rules,
	    strlen(check_memo_rules), NULL, 0, &diag);
	ck_assert_msg(rs != NULL, "%s", diag ? diag : "");
	snprintf(dir, sizeof(dir), "%s/memo", tdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	st = unit_store(dir, 16 << 20, 64 << 20);
	memo_run(st, rs, "X", ACTION_REVIEW, false);
	memo_run(st, rs, "Y", ACTION_ALLOW, true);
	store_close(st);
	rules_unref(rs);
}
END_TEST

START_TEST(test_view_same)
{
	struct rules_result	 a[VIEW_N];
	struct ruleset		*rs;
	char			*diag;

	rs = rules_load_buf("v.rules", view_rules, strlen(view_rules), id, 0,
	    &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	view_compare(rs, "first", NULL, 0, false, view_lines, VIEW_N, a);
	/*
	 * Not vacuous: a view that let the run's later referrals in would
	 * give the first 35 (r2 makes it a chain, r3 a ring: both earlier
	 * in time).
	 */
	ck_assert_int_eq(a[0].score, 5);
	rules_unref(rs);
}
END_TEST

/*
 * Every history function on a view against the write transaction, with
 * history committed and flushed to LMDB first (the run then touches
 * LMDB's links in the tier), times out of order, shared identities.
 */
static const char *prim_rules;
#define VP_HIST	16
#define VP_RUN	48

static void
vp_line(char *line, size_t len, size_t i)
{
	snprintf(line, len, "{\"op\":\"check\",\"id\":\"vp%zu\","
	    "\"ts\":%lld,\"campaign\":\"c%zu\",\"reward\":{\"amount\":%zu,"
	    "\"currency\":\"EUR\"},\"referrer\":{\"account\":\"a%zu\","
	    "\"ip\":\"198.51.100.%zu\",\"payment\":\"pm_%zu\"},"
	    "\"referee\":{\"account\":\"a%zu\",\"payment\":\"pm_%zu\","
	    "\"ip\":\"198.51.100.%zu\",\"email\":\"jo.smith%zu@example.com\"}}",
	    i, 1767225600000LL + (long long)((i * 37) % 23) * 7200000LL,
	    i % 2, 5 + i % 7, i % 5, 1 + i % 3, i % 4, 5 + (i * 3 + 1) % 6,
	    (i + 2) % 3, 1 + (i * 7) % 4, i % 5);
}

START_TEST(test_view_prims)
{
	static char		 buf[VP_HIST + VP_RUN][1024];
	const char		*lines[VP_HIST + VP_RUN];
	struct rules_result	 a[VP_RUN];
	struct ruleset		*rs;
	char			*diag, src[4096];
	size_t			 i;

	for (i = 0; i < VP_HIST + VP_RUN; i++) {
		vp_line(buf[i], sizeof(buf[i]), i);
		lines[i] = buf[i];
	}
	snprintf(src, sizeof(src), "%s%s", prim_rules, view_rules);
	rs = rules_load_buf("vp.rules", src, strlen(src), id, 0, &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	view_compare(rs, "prims", lines, VP_HIST, true, lines + VP_HIST,
	    VP_RUN, a);
	rules_unref(rs);
}
END_TEST


/*
 * A link the run touches later (last_ts moved) must look as it
 * was to an earlier check of the run: from LMDB (_i 0: history flushed
 * by a close) or from the tier (_i 1: history only committed).
 */
static const char *const vt_hist[] = {
	"{\"op\":\"check\",\"id\":\"h1\",\"ts\":1767225600000,"
	"\"referrer\":{\"account\":\"A\",\"ip\":\"198.51.100.9\"},"
	"\"referee\":{\"account\":\"C\"}}",
	"{\"op\":\"check\",\"id\":\"h2\",\"ts\":1767225600000,"
	"\"referrer\":{\"account\":\"B\",\"ip\":\"198.51.100.9\"},"
	"\"referee\":{\"account\":\"D\"}}",
};
static const char *const vt_run[] = {
	"{\"op\":\"check\",\"id\":\"e1\",\"ts\":1767261600000,"
	"\"referrer\":{\"account\":\"A\"},\"referee\":{\"account\":\"B\"}}",
	"{\"op\":\"check\",\"id\":\"e2\",\"ts\":1767261600000,"
	"\"referrer\":{\"account\":\"A\",\"ip\":\"198.51.100.9\"},"
	"\"referee\":{\"account\":\"E\"}}",
	"{\"op\":\"check\",\"id\":\"e3\",\"ts\":1767261600000,"
	"\"referrer\":{\"account\":\"B\",\"ip\":\"198.51.100.9\"},"
	"\"referee\":{\"account\":\"F\"}}",
	"{\"op\":\"check\",\"id\":\"e4\",\"ts\":1767261600000,"
	"\"referrer\":{\"account\":\"A\"},\"referee\":{\"account\":\"B\"}}",
};

START_TEST(test_view_touch)
{
	struct rules_result	 a[4];
	struct ruleset		*rs;
	char			*diag;
	const char		*src = "rule v.seen { when linked(referrer, "
	    "referee, ip, 4h) action review score 5 }\n";

	rs = rules_load_buf("vt.rules", src, strlen(src), id, 0, &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	view_compare(rs, "touch", vt_hist, 2, _i == 0, vt_run, 4, a);
	/* Not vacuous: e1 not linked within 4h, e4 linked. */
	ck_assert_int_eq(a[0].score, 0);
	ck_assert_int_eq(a[3].score, 5);
	rules_unref(rs);
}
END_TEST

/* The fact of rule name in explain j, whose expression starts with expr. */
static json_t *
ex_fact(json_t *j, const char *rule, const char *expr)
{
	json_t	*r, *f;
	size_t	 i, k;

	json_array_foreach(j, i, r) {
		if (strcmp(json_string_value(json_object_get(r, "rule")),
		    rule) != 0)
			continue;
		json_array_foreach(json_object_get(r, "facts"), k, f)
			if (strncmp(json_string_value(json_object_get(f,
			    "expr")), expr, strlen(expr)) == 0)
				return (f);
	}
	ck_abort_msg("no fact %s in rule %s", expr, rule);
	return (NULL);
}

/* Rule set src, and a scratch store with a write transaction open. */
static struct ruleset *
scratch(const char *src, size_t map_max, struct store **st,
    struct store_txn **txn)
{
	struct ruleset	*rs;
	char		*diag, *cause;

	rs = rules_load_buf("n.rules", src, strlen(src), id, 0, &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	*st = unit_store(tdir, 16 << 20, map_max);
	*txn = store_begin(*st, true, &cause);
	ck_assert_ptr_nonnull(*txn);
	return (rs);
}

/* The end of a scratch() test: the transaction, the store, the set. */
static void
scratch_done(struct ruleset *rs, struct store *st, struct store_txn *txn)
{
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
}

/* A check decoded and stored as the daemon does; its event in *ev. */
static void
check_line(struct store_txn *txn, struct ruleset *rs, const char *line,
    int64_t ts, struct rg_event *ev)
{
	struct verdict	v;

	decode(line, ts, ev);
	ck_assert_int_eq(verdict_check(txn, rs, ev, &v), 0);
	verdict_clear(&v);
}

/*
 * share: a count as a percentage of the first key's referrals, every one
 * counted (a comparison does not bound it), with two keys or a
 * condition; a part of one referrer's month, not another's.
 */
START_TEST(test_share)
{
	struct rules_result	 res;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev;
	json_error_t		 jerr;
	json_t			*j, *l;
	char			 line[512];
	int			 i;

	rs = scratch(
	    "rule s.pair { when share(referral, [referrer.account, "
	    "referee.payment], 1d) >= 50 action review }\n"
	    "rule s.where { when share(referral, referrer.account, 1d, "
	    "referee.email.domain == \"example.com\") > 40 "
	    "action review }\n"
	    "rule s.more { when share(referral, [referrer.account, "
	    "referee.payment], 1d) > 75 action review }\n",
	    64 << 20, &st, &txn);
	/*
	 * Four referrals of a: three paid with pm_1 (the newest among
	 * them), two on example.com; and one of b with pm_1.
	 */
	for (i = 0; i < 5; i++) {
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":\"r%d\","
		    "\"referrer\":{\"account\":\"%s\"},\"referee\":{"
		    "\"account\":\"e%d\",\"payment\":\"%s\",\"email\":"
		    "\"p%d@%s\"}}", i, i == 0 ? "b" : "a", i,
		    i == 1 ? "pm_2" : "pm_1", i,
		    i % 2 ? "example.com" : "example.org");
		check_line(txn, rs, line, 1767225600000LL + i * 60000, &ev);
	}
	ck_assert_int_eq(rules_eval(rs, &ev, txn, 1, &res), 0);
	ck_assert_int_eq(res.nhits, 2);
	j = json_loads(res.explain, 0, &jerr);
	ck_assert_msg(j != NULL, "%s: %s", jerr.text, res.explain);
	/* three of a's four, not stopped at the second for ">= 50" */
	l = json_object_get(ex_fact(j, "s.pair", "share("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 75);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "count")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "of")), 4);
	ck_assert(json_is_false(json_object_get(l, "at_least")));
	ck_assert_ptr_nonnull(json_string_value(json_object_get(l, "by")));
	/* two of four on example.com, all four read */
	l = json_object_get(ex_fact(j, "s.where", "share("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 50);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "count")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "read")), 4);
	json_decref(j);
	free(res.explain);
	/* A referee without a payment: no pair, no share, nothing counted. */
	check_line(txn, rs, "{\"op\":\"check\",\"id\":\"r5\",\"referrer\":"
	    "{\"account\":\"a\"},\"referee\":{\"account\":\"e5\"}}",
	    1767225600000LL + 5 * 60000, &ev);
	ck_assert_int_eq(rules_eval(rs, &ev, txn, 1, &res), 0);
	j = json_loads(res.explain, 0, &jerr);
	ck_assert_msg(j != NULL, "%s: %s", jerr.text, res.explain);
	l = json_object_get(ex_fact(j, "s.pair", "share("), "left");
	ck_assert(json_is_null(json_object_get(l, "value")));
	ck_assert_ptr_null(json_object_get(l, "count"));
	json_decref(j);
	free(res.explain);
	scratch_done(rs, st, txn);
}
END_TEST

static const char *prim_rules =
    "rule n.age { when age(referee.account) < 1h action review }\n"
    "rule n.sum { when sum(reward.amount, referrer.account, 1d) > 15 "
    "action review }\n"
    "rule n.span { when span(referral, referrer.account, 3) < 10m "
    "action review }\n"
    "rule n.cluster { when cluster(referee, [payment]) >= 1 "
    "action review }\n"
    "rule n.referees { when referees(referrer.account, 30d, "
    "dormant_percent) > 50 action review }\n"
    "rule n.chain { when chain(referrer, 1h) >= 1 action review }\n"
    "rule n.conc { when count(referral, [referrer.account, "
    "referee.payment], 1d) > 1 action review }\n"
    "rule n.since { when count(login, referee.account, since referral) "
    "== 0 action review }\n"
    "rule n.campaign { when count(referral, campaign, 1h) >= 3 "
    "action review }\n"
    "rule n.shape { when distinct(referee.account, referee.email.shape, "
    "1d) > 2 action review }\n"
    "rule n.own { when own(referee, payment) >= 1 action review }\n"
    "rule n.peers { when peers([payment, phone], 1d) >= 2 "
    "action review }\n"
    "rule n.where { when count(referral, referrer.account, 1d, "
    "referee.email.domain == \"example.com\") >= 2 action review }\n";

/*
 * strangers(): of the accounts on the referee's card, those with a
 * network of their own count; one seen on the referee's network does
 * not, nor one whose network is unknown; the walk allocates nothing.
 */
START_TEST(test_strangers)
{
	static const char *const lines[] = {
		"{\"op\":\"observe\",\"kind\":\"payout\",\"account\":\"s1\","
		    "\"payment\":\"pp_1\",\"ip\":\"198.51.100.7\"}",
		"{\"op\":\"observe\",\"kind\":\"payout\",\"account\":\"s2\","
		    "\"payment\":\"pp_1\",\"ip\":\"203.0.113.9\"}",
		/* Once on the referee's network: not a stranger. */
		"{\"op\":\"observe\",\"kind\":\"payout\",\"account\":\"h1\","
		    "\"payment\":\"pp_1\",\"ip\":\"203.0.113.200\"}",
		"{\"op\":\"observe\",\"kind\":\"login\",\"account\":\"h1\","
		    "\"ip\":\"192.0.2.41\"}",
		/* No network known: not shown apart. */
		"{\"op\":\"observe\",\"kind\":\"payout\",\"account\":\"u1\","
		    "\"payment\":\"pp_1\"}",
	};
	const char		*src = "rule s { when strangers(referee, "
	    "[payment], [ip.prefix, device.id], 30d) >= 5 action review }\n";
	struct rules_result	 res;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev;
	json_t			*j, *l;
	size_t			 i;

	rs = scratch(src, 64 << 20, &st, &txn);
	for (i = 0; i < nitems(lines); i++) {
		decode(lines[i], 1767225600000LL + (int64_t)i * 60000, &ev);
		ck_assert_int_eq(store_put_event(txn, &ev), 0);
	}
	check_line(txn, rs, "{\"op\":\"check\",\"id\":\"x\",\"referrer\":"
	    "{\"account\":\"a\"},\"referee\":{\"account\":\"b\","
	    "\"payment\":\"pp_1\",\"ip\":\"192.0.2.40\"}}",
	    1767225600000LL + 3600000, &ev);
	eval_no_alloc(rs, &ev, txn, &res);
	ck_assert_uint_eq(res.nhits, 0);
	ck_assert_int_eq(rules_eval(rs, &ev, txn, 1, &res), 0);
	j = json_loads(res.explain, 0, NULL);
	ck_assert_ptr_nonnull(j);
	l = json_object_get(ex_fact(j, "s", "strangers("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(l,
	    "kinds"), 0)), "payment");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(l,
	    "apart"), 0)), "ip.prefix");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(l,
	    "apart"), 1)), "device.id");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "apart_own")),
	    1);
	json_decref(j);
	free(res.explain);

	/* A referee with no network or device known: absent. */
	check_line(txn, rs, "{\"op\":\"check\",\"id\":\"y\",\"referrer\":"
	    "{\"account\":\"a\"},\"referee\":{\"account\":\"c\","
	    "\"payment\":\"pp_1\"}}", 1767225600000LL + 7200000, &ev);
	ck_assert_int_eq(rules_eval(rs, &ev, txn, 1, &res), 0);
	j = json_loads(res.explain, 0, NULL);
	l = json_object_get(ex_fact(j, "s", "strangers("), "left");
	ck_assert(json_is_null(json_object_get(l, "value")));
	ck_assert_int_eq(json_integer_value(json_object_get(l, "apart_own")),
	    0);
	json_decref(j);
	free(res.explain);
	scratch_done(rs, st, txn);
}
END_TEST

/*
 * The detection primitives: what explain shows of each, and evaluation
 * without allocation.
 */
START_TEST(test_primitives_explain)
{
	struct rules_result	 res;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev;
	json_error_t		 jerr;
	json_t			*j, *f, *l;
	char			 line[512];
	int			 i;

	rs = scratch(prim_rules, 64 << 20, &st, &txn);
	for (i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":\"r%d\","
		    "\"campaign\":\"c\",\"reward\":{\"amount\":10,"
		    "\"currency\":\"EUR\"},\"referrer\":{\"account\":\"a\"},"
		    "\"referee\":{\"account\":\"b%d\",\"payment\":\"pm_1\","
		    "\"email\":\"jo.smith%d@example.com\"}}", i, i, i);
		check_line(txn, rs, line, 1767225600000LL + i * 60000, &ev);
	}
	eval_no_alloc(rs, &ev, txn, &res);
	/* All but n.referees: a share of referees none of whom had a day. */
	ck_assert_int_eq(res.nhits, 12);

	ck_assert_int_eq(rules_eval(rs, &ev, txn, 1, &res), 0);
	check_shaped(rs, &ev, txn, res.explain);
	j = json_loads(res.explain, 0, &jerr);
	ck_assert_msg(j != NULL, "%s: %s", jerr.text, res.explain);
	/* age: 0 for an account the referral itself brings. */
	l = json_object_get(ex_fact(j, "n.age", "age("), "left");
	ck_assert_str_eq(json_string_value(json_object_get(l, "fn")), "age");
	ck_assert_str_eq(json_string_value(json_object_get(l, "value")),
	    "0ms");
	ck_assert_str_eq(json_string_value(json_object_get(l, "first_seen")),
	    "2026-01-01T00:02:00.000Z");
	/* sum: stopped at 20, enough to decide "> 15". */
	l = json_object_get(ex_fact(j, "n.sum", "sum("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 20);
	ck_assert(json_is_true(json_object_get(l, "at_least")));
	ck_assert_int_eq(json_integer_value(json_object_get(l, "referrals")),
	    2);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "window_ms")),
	    86400000);
	/* span: the last three referrals took two minutes. */
	l = json_object_get(ex_fact(j, "n.span", "span("), "left");
	ck_assert_str_eq(json_string_value(json_object_get(l, "value")),
	    "120000ms");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "events")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(l, "from")),
	    "2026-01-01T00:00:00.000Z");
	/* cluster: the first account found decides ">= 1". */
	l = json_object_get(ex_fact(j, "n.cluster", "cluster("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 1);
	ck_assert(json_is_true(json_object_get(l, "at_least")));
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(l,
	    "kinds"), 0)), "payment");
	ck_assert_int_gt(json_integer_value(json_object_get(l, "read")), 0);
	/*
	 * referees: a share reads every referral, and is of the referees
	 * that had three days (none here) or were active (none): absent.
	 */
	l = json_object_get(ex_fact(j, "n.referees", "referees("), "left");
	ck_assert(json_is_null(json_object_get(l, "value")));
	ck_assert_int_eq(json_integer_value(json_object_get(l, "referrals")),
	    3);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "active")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "of")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(l, "which")),
	    "dormant_percent");
	/* chain: the referrer is two minutes old. */
	l = json_object_get(ex_fact(j, "n.chain", "chain("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "back")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "forward")), 0);
	/* two keys: the referrals of a paid with pm_1. */
	l = json_object_get(ex_fact(j, "n.conc", "count("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 2);
	ck_assert_int_gt(json_integer_value(json_object_get(l, "read")), 0);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(l, "by")));
	/* since referral: at check, the referral's instant. */
	f = ex_fact(j, "n.since", "count(");
	ck_assert(json_is_true(json_object_get(f, "result")));
	l = json_object_get(f, "left");
	ck_assert_str_eq(json_string_value(json_object_get(l, "since")),
	    "referral");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "window_ms")),
	    0);
	/* the campaign's referrals */
	l = json_object_get(ex_fact(j, "n.campaign", "count("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 3);
	/* numbered mailboxes */
	l = json_object_get(ex_fact(j, "n.shape", "distinct("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 3);
	/*
	 * own: pm_1 is the referee's, the referrer never carried it; the
	 * first decides ">= 1".
	 */
	l = json_object_get(ex_fact(j, "n.own", "own("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(l, "kind")),
	    "payment");
	ck_assert(json_is_true(json_object_get(l, "at_least")));
	/*
	 * peers: b0 and b1, the referrer's other referees, paid with pm_1
	 * like b2; two decide ">= 2", read from the newest referral (b2's
	 * own, not counted) back.
	 */
	l = json_object_get(ex_fact(j, "n.peers", "peers("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 2);
	ck_assert(json_is_true(json_object_get(l, "at_least")));
	ck_assert_int_eq(json_array_size(json_object_get(l, "kinds")), 2);
	ck_assert_int_eq(json_array_size(json_object_get(l, "tied_by")), 1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(l,
	    "tied_by"), 0)), "payment");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "identities")),
	    1);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "referrals")),
	    3);
	/*
	 * A count with a condition: the two newest referrals meet it and
	 * decide ">= 2"; two records read.
	 */
	l = json_object_get(ex_fact(j, "n.where", "count("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 2);
	ck_assert(json_is_true(json_object_get(l, "at_least")));
	ck_assert_int_eq(json_integer_value(json_object_get(l, "read")), 2);
	json_decref(j);
	free(res.explain);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
}
END_TEST

/* A rule that counts a pair of keys, and one that counts one of them. */
static const char *const count2_src =
    "rule t.c2 { when count(referral, [referrer.account, "
    "referee.payment], 1d) > 100000 action review }\n";
static const char *const count2_plain =
    "rule t.p { when count(referral, referrer.account, 1d) > 100000 "
    "action review }\n";

/*
 * count() with two keys walks the key with fewer entries in the window
 * (the first on a tie) and counts the events that carry both: referrer
 * "a" with NA referrals, NP of them paid with pm_1 (NP of the last).
 * The sizes straddle the bounds the choice is counted to (32, 256).
 * The referrals are stored by NPAIRED checks of a set that counts the
 * pair (the store indexes it from the first: store_pairs_want()) after
 * NA - NPAIRED of a set that does not.
 */
static void
count2_run(int na, int np, int npaired, const char *by, int value)
{
	struct rules_result	 res;
	struct ruleset		*rs, *rs0;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev;
	json_error_t		 jerr;
	json_t			*j, *l;
	char			 line[512], *diag;
	int			 i;

	rs = scratch(count2_src, 64 << 20, &st, &txn);
	rs0 = rules_load_buf("p.rules", count2_plain, strlen(count2_plain), id,
	    0, &diag);
	ck_assert_msg(rs0 != NULL, "%s", diag);
	for (i = 0; i < na; i++) {
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":"
		    "\"r%d\",\"referrer\":{\"account\":\"a\"},\"referee\":"
		    "{\"account\":\"b%d\"%s}}", i, i, i >= na - np ?
		    ",\"payment\":\"pm_1\"" : "");
		check_line(txn, i >= na - npaired ? rs : rs0, line,
		    1767225600000LL + i * 1000, &ev);
	}
	ck_assert_int_eq(rules_eval(rs, &ev, txn, 1, &res), 0);
	j = json_loads(res.explain, 0, &jerr);
	ck_assert_msg(j != NULL, "%s: %s", jerr.text, res.explain);
	l = json_object_get(ex_fact(j, "t.c2", "count("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")),
	    value);
	ck_assert_msg(strcmp(json_string_value(json_object_get(l, "by")),
	    by) == 0, "%d and %d entries, %d paired: read %s, not %s", na, np,
	    npaired, json_string_value(json_object_get(l, "by")), by);
	json_decref(j);
	free(res.explain);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
	rules_unref(rs0);
}

static void
count2_case(int na, int np, const char *by, int value)
{
	count2_run(na, np, 0, by, value);
}

START_TEST(test_count2_walks_fewer)
{
	count2_case(300, 1, "referee.payment", 1);
	count2_case(300, 40, "referee.payment", 40);
	count2_case(40, 35, "referee.payment", 35);
	count2_case(20, 20, "referrer.account", 20);
	count2_case(300, 300, "referrer.account", 300);
	count2_case(300, 299, "referee.payment", 299);
}
END_TEST

/*
 * The pair's own entries answer once the store indexes it, and the
 * referrals stored before it did are walked, as of before it: the same
 * counts as the walk alone gives.
 */
START_TEST(test_count2_pair)
{
	count2_run(300, 1, 300, "pair", 1);
	count2_run(300, 40, 300, "pair", 40);
	count2_run(40, 35, 40, "pair", 35);
	/* indexed from the middle: the older half walked */
	count2_run(300, 40, 20, "pair, then referee.payment", 40);
	count2_run(300, 300, 150, "pair, then referrer.account", 300);
	count2_run(20, 20, 10, "pair, then referrer.account", 20);
	/* indexed before the paid ones: the older part walked has none */
	count2_run(300, 40, 200, "pair, then referee.payment", 40);
}
END_TEST

/*
 * A pair the store starts to index in the middle of a write
 * transaction, on a store that had no event: the referral stored before
 * it (by rules without the pair) has no entry, and the count finds it
 * the slow way, on the write transaction and on a view of it alike.
 */
START_TEST(test_pair_view)
{
	static const char *const lines[] = {
	    "{\"op\":\"check\",\"id\":\"q1\",\"referrer\":{\"account\":\"a\"},"
	    "\"referee\":{\"account\":\"b1\",\"payment\":\"pm_1\"}}",
	    "{\"op\":\"check\",\"id\":\"q2\",\"referrer\":{\"account\":\"a\"},"
	    "\"referee\":{\"account\":\"b2\",\"payment\":\"pm_1\"}}",
	};
	struct ruleset		*rs, *rs0;
	struct store		*st;
	struct store_txn	*t, *vt;
	struct store_view	*v;
	struct rg_event		 ev[2];
	struct verdict		 out;
	struct rules_result	 res[2];
	json_error_t		 jerr;
	json_t			*j, *l;
	char			*diag, *cause, dir[300];
	int			 view;

	rs = rules_load_buf("n.rules", count2_src, strlen(count2_src), id, 0,
	    &diag);
	ck_assert_msg(rs != NULL, "%s", diag);
	rs0 = rules_load_buf("p.rules", count2_plain, strlen(count2_plain), id,
	    0, &diag);
	ck_assert_msg(rs0 != NULL, "%s", diag);
	for (view = 0; view < 2; view++) {
		snprintf(dir, sizeof(dir), "%s/pv%d", tdir, view);
		ck_assert_int_eq(mkdir(dir, 0700), 0);
		st = unit_store(dir, 16 << 20, 64 << 20);
		t = store_begin(st, true, &cause);
		ck_assert_ptr_nonnull(t);
		ck_assert_ptr_nonnull(v = store_view_new(t));
		decode(lines[0], 1767225600000LL, &ev[0]);
		ck_assert_int_eq(verdict_check_begin(t, rs0, &ev[0], &out), 0);
		ck_assert_int_eq(store_view_add(v, &ev[0]), 0);
		decode(lines[1], 1767225601000LL, &ev[1]);
		ck_assert_int_eq(verdict_check_begin(t, rs, &ev[1], &out), 0);
		ck_assert_int_eq(store_view_add(v, &ev[1]), 0);
		store_view_seal(v);
		if (view) {
			vt = store_begin_view(st, v, &cause);
			ck_assert_ptr_nonnull(vt);
			ck_assert_int_eq(rules_eval(rs, &ev[1], vt, 1,
			    &res[view]), 0);
			store_abort(vt);
		} else
			ck_assert_int_eq(rules_eval(rs, &ev[1], t, 1,
			    &res[view]), 0);
		store_abort(t);
		store_view_free(v);
		store_close(st);
		j = json_loads(res[view].explain, 0, &jerr);
		ck_assert_msg(j != NULL, "%s", jerr.text);
		l = json_object_get(ex_fact(j, "t.c2", "count("), "left");
		ck_assert_msg(json_integer_value(json_object_get(l,
		    "value")) == 2, "view %d: %s", view, res[view].explain);
		json_decref(j);
	}
	ck_assert_str_eq(res[0].explain, res[1].explain);
	free(res[0].explain);
	free(res[1].explain);
	rules_unref(rs);
	rules_unref(rs0);
}
END_TEST

#define PAIR_LINE "{\"op\":\"check\",\"id\":\"x%d\",\"referrer\":" \
	"{\"account\":\"a\"},\"referee\":{\"account\":\"b%d\"," \
	"\"device\":{\"ua\":\"Mozilla/5.0 X\",\"canvas\":\"c1\"}}}"

/* Commit txn, open the store again, and begin a transaction on it. */
static struct store_txn *
pair_reopen(struct store **st, struct store_txn *txn, bool write)
{
	char	*cause;

	ck_assert_int_eq(store_commit(txn, NULL, &cause), 0);
	store_close(*st);
	*st = unit_store(tdir, 16 << 20, 64 << 20);
	txn = store_begin(*st, write, &cause);
	ck_assert_ptr_nonnull(txn);
	return (txn);
}

/* The referrals of pair key hp, every one. */
static int64_t
pair_count(struct store_txn *txn, const struct rg_hash *hp)
{
	return (store_count(txn, STORE_KIND_PAIR, hp, EV_MASK(EV_REFERRAL),
	    ROLE_EVENT, INT64_MIN, INT64_MAX, 0, 0));
}

/*
 * A pair indexed by a transaction that aborts is not indexed; once
 * committed it is, from the first check that wanted it (a referral
 * stored before by rules without it has no entry), and a store opened
 * again knows it. Retention deletes its entries with the events, and
 * once the referrals before it are gone the pair has every one's entry.
 * [a, b] and [b, a] are one pair.
 */
START_TEST(test_pair_index_life)
{
	static const char	*src =
	    "rule t.c2 { when count(referral, [referrer.account, "
	    "referee.device], 1d) > 100000 action review }\n";
	static const char	*both =
	    "rule t.ab { when count(referral, [referrer.account, "
	    "referee.device], 1d) > 100000 action review }\n"
	    "rule t.ba { when count(referral, [referee.device, "
	    "referrer.account], 1d) > 100000 action review }\n";
	static const char	*plain =
	    "rule t.p { when referee.geo.tor action review }\n";
	const struct store_pair	*p, *p2;
	struct ruleset		*rs, *rs0, *rs2;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev;
	struct rg_hash		 hp;
	char			 buf[512], *cause, *diag;
	int64_t			 t0 = 1767225600000LL;
	int			 i;

	rs = scratch(src, 64 << 20, &st, &txn);
	rs0 = rules_load_buf("p.rules", plain, strlen(plain), id, 0, &diag);
	ck_assert_msg(rs0 != NULL, "%s", diag);
	rs2 = rules_load_buf("b.rules", both, strlen(both), id, 0, &diag);
	ck_assert_msg(rs2 != NULL, "%s", diag);
	ck_assert_uint_eq(rules_pairs(rs, &p), 1);
	ck_assert_uint_eq(rules_pairs(rs2, &p2), 1);
	ck_assert_int_eq(memcmp(p, p2, sizeof(*p)), 0);
	ck_assert_uint_eq(rules_pairs(rs0, &p2), 0);
	ck_assert_uint_eq(store_pair_from(txn, p), 0);
	snprintf(buf, sizeof(buf), PAIR_LINE, 0, 0);
	check_line(txn, rs, buf, t0, &ev);
	ck_assert_uint_eq(store_pair_from(txn, p), 1);
	store_abort(txn);
	txn = store_begin(st, true, &cause);
	ck_assert_ptr_nonnull(txn);
	ck_assert_uint_eq(store_pair_from(txn, p), 0);
	for (i = 1; i <= 3; i++) {
		snprintf(buf, sizeof(buf), PAIR_LINE, i, i);
		check_line(txn, i == 1 ? rs0 : rs, buf, t0 + i * 1000, &ev);
	}
	ck_assert_uint_eq(store_pair_from(txn, p), 2);
	txn = pair_reopen(&st, txn, true);
	ck_assert_uint_eq(store_pair_from(txn, p), 2);
	store_pair_key(p, &ev.party[PARTY_REFERRER].h[ENT_ACCOUNT],
	    &ev.party[PARTY_REFEREE].h[ENT_DEVICE], &hp);
	ck_assert_int_eq(pair_count(txn, &hp), 2);
	/* the referral before the pair goes: every one left has its entry */
	ck_assert_int_eq(store_expire(txn, t0 + 1500, 100), 1);
	ck_assert_uint_eq(store_pair_from(txn, p), 1);
	ck_assert_int_eq(store_expire(txn, t0 + 2500, 100), 1);
	ck_assert_int_eq(pair_count(txn, &hp), 1);
	txn = pair_reopen(&st, txn, false);
	ck_assert_uint_eq(store_pair_from(txn, p), 1);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
	rules_unref(rs0);
	rules_unref(rs2);
}
END_TEST

/* The explain of ev as of at (NULL: as of ev itself), parsed. */
static json_t *
explain_at(const struct ruleset *rs, const struct rg_event *ev,
    const struct rules_at *at, struct store_txn *txn)
{
	struct rules_result	 res;
	json_error_t		 jerr;
	json_t			*j;

	if (at != NULL)
		ck_assert_int_eq(rules_eval_at(rs, ev, at, txn, 1, &res), 0);
	else
		ck_assert_int_eq(rules_eval(rs, ev, txn, 1, &res), 0);
	j = json_loads(res.explain, 0, &jerr);
	ck_assert_msg(j != NULL, "%s: %s", jerr.text, res.explain);
	free(res.explain);
	return (j);
}

/*
 * referees(..., engaged): a referee is engaged after two logins or
 * purchases since its referral, active after one; bought after a
 * purchase; the shares count the same referees, but a repeat share is of
 * the active ones alone. Four referrals: one referee came back once (a
 * login), one twice (a login, a purchase), one three times (and a
 * login), one never.
 */
START_TEST(test_referees_engaged)
{
	static const char	*src =
	    "rule e.n { when referees(referrer.account, 30d, engaged) > 10 "
	    "action review }\n"
	    "rule e.pct { when referees(referrer.account, 30d, "
	    "engaged_percent) >= 0 action review }\n"
	    "rule e.bought { when referees(referrer.account, 30d, bought) "
	    "> 10 action review }\n"
	    "rule e.bpct { when referees(referrer.account, 30d, "
	    "bought_percent) >= 0 action review }\n"
	    "rule e.rpct { when referees(referrer.account, 30d, "
	    "repeat_percent) >= 0 action review }\n";
	static const int	 back[] = { 1, 2, 3, 0 };
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev, later;
	json_t			*j, *l;
	char			 line[512];
	int64_t			 t0 = 1767225600000LL;
	int			 i, k;

	rs = scratch(src, 64 << 20, &st, &txn);
	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":\"g%d\","
		    "\"referrer\":{\"account\":\"a\"},\"referee\":"
		    "{\"account\":\"b%d\"}}", i, i);
		check_line(txn, rs, line, t0 + i * 60000, &ev);
		for (k = 0; k < back[i]; k++) {
			snprintf(line, sizeof(line), "{\"op\":\"observe\","
			    "\"kind\":\"%s\",\"account\":\"b%d\"}",
			    k == 1 ? "purchase" : "login", i);
			decode(line, t0 + i * 60000 + 1000 + k, &later);
			ck_assert_int_eq(store_put_event(txn, &later), 0);
		}
	}
	/*
	 * As of four days later (every referee had three days): engaged b1
	 * and b2, active b0 to b2.
	 */
	ev.ts = t0 + 4 * 86400000;
	j = explain_at(rs, &ev, NULL, txn);
	l = json_object_get(ex_fact(j, "e.n", "referees("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "active")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "engaged")),
	    2);
	l = json_object_get(ex_fact(j, "e.pct", "referees("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 50);
	ck_assert_str_eq(json_string_value(json_object_get(l, "which")),
	    "engaged_percent");
	ck_assert_ptr_null(json_object_get(l, "bought"));
	/* Bought: b1 and b2. */
	l = json_object_get(ex_fact(j, "e.bought", "referees("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "bought")),
	    2);
	l = json_object_get(ex_fact(j, "e.bpct", "referees("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 50);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "of")), 4);
	/* Repeat: two (b1, b2) of the three that used it (b0 to b2). */
	l = json_object_get(ex_fact(j, "e.rpct", "referees("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "of")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "engaged")),
	    2);
	ck_assert_msg(fabs(json_number_value(json_object_get(l, "value")) -
	    200.0 / 3) < 1e-9, "repeat_percent %g",
	    json_number_value(json_object_get(l, "value")));
	/*
	 * As of a day later, none had three days: the shares are of the
	 * referees that already did what they count, b1 and b2; the repeat
	 * share too (b0's one login is not yet one that never came back).
	 */
	ev.ts = t0 + 86400000;
	json_decref(j);
	j = explain_at(rs, &ev, NULL, txn);
	l = json_object_get(ex_fact(j, "e.pct", "referees("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")),
	    100);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "of")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "referrals")),
	    4);
	l = json_object_get(ex_fact(j, "e.rpct", "referees("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")),
	    100);
	ck_assert_int_eq(json_integer_value(json_object_get(l, "of")), 2);
	/* As of b1's first login: nobody had bought yet. */
	ev.ts = t0 + 61000;
	json_decref(j);
	j = explain_at(rs, &ev, NULL, txn);
	l = json_object_get(ex_fact(j, "e.bought", "referees("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 0);
	json_decref(j);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
}
END_TEST

/*
 * referees(..., returned): a referee returned when it logged in or bought
 * a day or more after its referral; the share, like the others, is of
 * the referees that had three days and of the fresher ones that returned
 * already; day_old counts those referred a day or more before the
 * evaluation; lately those that logged in or bought within the week
 * before it. Four referrals: b0 came back the same hour only, b1 25
 * hours later, b2 the same hour and two days later (a purchase), b3
 * never; a fifth, b4, an hour before the evaluation.
 */
/* Field name of the left side of rule's referees() fact. */
static json_t *
referees_left(json_t *j, const char *rule, const char *name)
{
	return (json_object_get(json_object_get(ex_fact(j, rule, "referees("),
	    "left"), name));
}

/* Integer fields of referees() facts in an explain, as want says. */
struct referees_want {
	const char	*rule;
	const char	*name;
	json_int_t	 value;
};

static void
referees_expect(json_t *j, const struct referees_want *w, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		ck_assert_msg(json_integer_value(referees_left(j, w[i].rule,
		    w[i].name)) == w[i].value, "%s %s: want %lld", w[i].rule,
		    w[i].name, (long long)w[i].value);
}

START_TEST(test_referees_returned)
{
	static const char	*src =
	    "rule r.n { when referees(referrer.account, 30d, returned) > 10 "
	    "action review }\n"
	    "rule r.pct { when referees(referrer.account, 30d, "
	    "returned_percent) >= 0 action review }\n"
	    "rule r.self { when referees(referee.account, 30d, returned) "
	    "== 0 action review }\n"
	    "rule r.day { when referees(referrer.account, 30d, day_old) "
	    "> 10 action review }\n"
	    "rule r.late { when referees(referrer.account, 30d, lately) "
	    "> 10 action review }\n";
	static const struct { int64_t after; const char *kind; } back[] = {
		{ 1000, "login" }, { 25 * 3600000LL, "login" },
		{ 1000, "login" }, { 2 * 86400000LL, "purchase" },
	};
	static const int	 who[] = { 0, 1, 2, 2 };
	static const struct referees_want three_days[] = {
		{ "r.n", "value", 2 }, { "r.n", "returned", 2 },
		{ "r.n", "day_old", 4 }, { "r.n", "referrals", 5 },
		{ "r.pct", "value", 50 }, { "r.day", "value", 4 },
		{ "r.late", "value", 3 }, { "r.late", "lately", 3 },
	}, eight_days[] = {
		/* b0's use was more than a week before: b1 and b2. */
		{ "r.late", "value", 2 }, { "r.late", "referrals", 5 },
	}, nine_days[] = {
		/* b2's purchase alone. */
		{ "r.late", "value", 1 },
	}, day_and_half[] = {
		{ "r.n", "value", 1 }, { "r.pct", "value", 100 },
		{ "r.pct", "of", 1 }, { "r.day", "value", 4 },
	};
	struct rules_result	 res;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev[5], later;
	json_t			*j;
	char			 line[512];
	int64_t			 t0 = 1767225600000LL;
	struct rules_at		 at = { t0 + 3 * 86400000LL + 3600000, 0 };
	size_t			 i;

	rs = scratch(src, 64 << 20, &st, &txn);
	for (i = 0; i < 5; i++) {
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":\"t%zu\","
		    "\"referrer\":{\"account\":\"a\"},\"referee\":"
		    "{\"account\":\"b%zu\"}}", i, i);
		check_line(txn, rs, line, i < 4 ? t0 + (int64_t)i * 60000 :
		    at.ts - 3600000, &ev[i]);
	}
	for (i = 0; i < nitems(back); i++) {
		snprintf(line, sizeof(line), "{\"op\":\"observe\","
		    "\"kind\":\"%s\",\"account\":\"b%d\"}", back[i].kind,
		    who[i]);
		decode(line, ev[who[i]].ts + back[i].after, &later);
		ck_assert_int_eq(store_put_event(txn, &later), 0);
	}
	/*
	 * Rechecked three days and an hour on, with everything stored: b1
	 * and b2 returned, of the four that had three days.
	 */
	j = explain_at(rs, &ev[4], &at, txn);
	referees_expect(j, three_days, nitems(three_days));
	ck_assert_str_eq(json_string_value(referees_left(j, "r.pct", "which")),
	    "returned_percent");
	ck_assert_ptr_null(referees_left(j, "r.day", "returned"));
	ck_assert_ptr_null(referees_left(j, "r.day", "lately"));
	json_decref(j);
	at.ts = t0 + 8 * 86400000LL + 3600000;
	j = explain_at(rs, &ev[4], &at, txn);
	referees_expect(j, eight_days, nitems(eight_days));
	json_decref(j);
	at.ts = t0 + 9 * 86400000LL;
	j = explain_at(rs, &ev[4], &at, txn);
	referees_expect(j, nine_days, nitems(nine_days));
	json_decref(j);
	at.ts = t0 + 3 * 86400000LL + 3600000;
	/* One referee at a time: b1 returned, b3 did not. */
	ck_assert_int_eq(rules_eval_at(rs, &ev[1], &at, txn, 0, &res), 0);
	ck_assert_int_eq(res.nhits, 1);		/* r.pct */
	ck_assert_int_eq(rules_eval_at(rs, &ev[3], &at, txn, 0, &res), 0);
	ck_assert_int_eq(res.nhits, 2);		/* r.pct, r.self */
	/*
	 * A day and a half on, none had three days: the share is of b1, the
	 * one that had returned (25 hours).
	 */
	at.ts = t0 + 36 * 3600000LL;
	j = explain_at(rs, &ev[0], &at, txn);
	referees_expect(j, day_and_half, nitems(day_and_half));
	json_decref(j);
	/* At b0's check, nobody had the time: no share. */
	j = explain_at(rs, &ev[0], NULL, txn);
	ck_assert(json_is_null(referees_left(j, "r.pct", "value")));
	ck_assert_int_eq(json_integer_value(referees_left(j, "r.day",
	    "value")), 0);
	json_decref(j);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
}
END_TEST

/*
 * A fact under a not says so (negated), with its own result; two nots
 * cancel; a fact outside any has no such key.
 */
START_TEST(test_explain_negated)
{
	static const char	*src =
	    "rule n.one { when not count(referral, referrer.account, 1h) > 5 "
	    "action review }\n"
	    "rule n.two { when not (not count(referral, referrer.account, "
	    "1h) > 5) action review }\n"
	    "rule n.none { when count(referral, referrer.account, 1h) > 5 "
	    "or not referee.email.tagged action review }\n";
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev;
	json_t			*j, *f;

	rs = scratch(src, 64 << 20, &st, &txn);
	check_line(txn, rs, "{\"op\":\"check\",\"id\":\"n1\","
	    "\"referrer\":{\"account\":\"a\"},\"referee\":"
	    "{\"account\":\"b\",\"email\":\"b+x@example.com\"}}",
	    1767225600000LL, &ev);
	j = explain_at(rs, &ev, NULL, txn);
	f = ex_fact(j, "n.one", "count(");
	ck_assert(json_is_false(json_object_get(f, "result")));
	ck_assert(json_is_true(json_object_get(f, "negated")));
	f = ex_fact(j, "n.two", "count(");
	ck_assert(json_is_false(json_object_get(f, "result")));
	ck_assert_ptr_null(json_object_get(f, "negated"));
	f = ex_fact(j, "n.none", "count(");
	ck_assert_ptr_null(json_object_get(f, "negated"));
	f = ex_fact(j, "n.none", "referee.email.tagged");
	ck_assert(json_is_true(json_object_get(f, "result")));
	ck_assert(json_is_true(json_object_get(f, "negated")));
	json_decref(j);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
}
END_TEST

/*
 * Point in time: a past referral evaluated again as of its own seq gives
 * the explain it gave at check, whatever was stored since (what backtests
 * and stored verdicts rely on).
 */
START_TEST(test_primitives_as_of)
{
	struct rules_result	 res;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev[8], later;
	char			*cause, *at_check[8], line[512];
	int64_t			 t0 = 1767225600000LL, ts;
	int			 i, k;

	rs = scratch(prim_rules, 64 << 20, &st, &txn);
	for (i = 0; i < 8; i++) {
		/* A chain (b_i refers b_i+1) with a shared payment, a campaign. */
		ts = t0 + i * 300000;
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":\"p%d\","
		    "\"campaign\":\"c\",\"reward\":{\"amount\":%d,"
		    "\"currency\":\"EUR\"},\"referrer\":{\"account\":\"b%d\"},"
		    "\"referee\":{\"account\":\"b%d\",\"payment\":\"pm_%d\","
		    "\"email\":\"jo.smith%d@example.com\"}}", i, 5 + i, i,
		    i + 1, i % 3, i);
		check_line(txn, rs, line, ts, &ev[i]);
		ck_assert_int_eq(rules_eval(rs, &ev[i], txn, 1, &res), 0);
		at_check[i] = res.explain;
		/* and activity in between */
		snprintf(line, sizeof(line), "{\"op\":\"observe\",\"kind\":"
		    "\"login\",\"account\":\"b%d\",\"payment\":\"pm_%d\"}",
		    i, (i + 1) % 3);
		decode(line, ts + 1000, &later);
		ck_assert_int_eq(store_put_event(txn, &later), 0);
	}
	/* The same as of each referral, after everything that followed. */
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 8; i++) {
			ck_assert_int_eq(rules_eval(rs, &ev[i], txn, 1, &res),
			    0);
			ck_assert_msg(strcmp(res.explain, at_check[i]) == 0,
			    "referral %d (pass %d) as of its seq differs", i, k);
			free(res.explain);
		}
		/* In LMDB this time, not the recent tier. */
		ck_assert_int_eq(store_commit(txn, NULL, &cause), 0);
		store_close(st);
		st = unit_store_recent(tdir, 16 << 20, 64 << 20, 1);
		txn = store_begin(st, true, &cause);
		ck_assert_ptr_nonnull(txn);
	}
	for (i = 0; i < 8; i++)
		free(at_check[i]);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
}
END_TEST

/*
 * A memo (rules_memo_new) changes no result: every referral of a store
 * with busy referrers, chains, returning referees, an account whose
 * oldest entry was stored last and one with more entries than the
 * memo keeps of a key, evaluated after everything was
 * stored, gives byte for byte the explain it gives without one, and the
 * same hits without explain; with a memo big enough to keep everything,
 * one so small that every event and key replaces another, and after a
 * reset once more events were stored.
 */
static const char *memo_rules =
    "rule m.all { when referees(referrer.account, 30d) >= 3 "
    "action review }\n"
    "rule m.active { when referees(referrer.account, 30d, active) == 0 "
    "and referees(referrer.account, 2d) >= 2 action review }\n"
    "rule m.pct { when referees(referrer.account, 30d, active_percent) "
    "< 50 action review }\n"
    "rule m.engaged { when referees(referrer.account, 30d, "
    "engaged_percent) < 30 and referees(referrer.account, 30d, engaged) "
    ">= 1 action review }\n"
    "rule m.bought { when referees(referrer.account, 30d, bought_percent) "
    "< 30 and referees(referrer.account, 30d, bought) >= 1 "
    "action review }\n"
    "rule m.returned { when referees(referrer.account, 30d, "
    "returned_percent) < 60 and referees(referee.account, 30d, returned) "
    "== 0 action review }\n"
    "rule m.day_old { when referees(referrer.account, 30d, day_old) >= 2 "
    "and referees(referrer.account, 30d, returned) == 0 action review }\n"
    "rule m.buy { when count(purchase, referrer.account, 30d) == 0 "
    "and count(referral, referrer.account, 1h) >= 4 action review }\n"
    "rule m.busy { when count(any, referrer.account, 30d) > 4100 "
    "action review }\n"
    "rule m.recent { when count(login, referee.account, since referral) "
    "<= 1 action review }\n"
    "rule m.pair { when count(referral, [referrer.account, "
    "referee.payment], 30d) >= 3 action review }\n"
    "rule m.age { when age(referrer.account) > 1d "
    "or age(referee.payment) < 2h action review }\n"
    "rule m.chain { when chain(referrer, 30m) >= 1 action review }\n";

/* Each of ev[n] through memo: its explain must be want[i]; its hits. */
static void
memo_eval_all(struct ruleset *rs, struct store_txn *txn,
    const struct rg_event *ev, size_t n, char **want, uint8_t *hits,
    struct rules_memo *memo)
{
	struct rules_result	res;
	size_t			i, k;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(rules_eval_memo(rs, &ev[i], memo, txn, 1,
		    &res), 0);
		ck_assert_msg(strcmp(res.explain, want[i]) == 0,
		    "referral %zu: with a memo\n%s\nwithout\n%s", i,
		    res.explain, want[i]);
		free(res.explain);
		ck_assert_int_eq(rules_eval_memo(rs, &ev[i], memo, txn, 0,
		    &res), 0);
		for (k = 0; k < res.nhits; k++)
			hits[i * rules_count(rs) + res.hits[k].rule]++;
	}
}

START_TEST(test_memo_same)
{
	enum { NREF = 90, NEV = 100 };
	struct rules_result	 res;
	struct rules_memo	*memo;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		*ev, later;
	char			*want[NEV], line[512];
	uint8_t			*hits, *want_hits;
	int64_t			 t0 = 1767225600000LL, ts;
	size_t			 i, k, nr;
	int			 pass;

	rs = scratch(memo_rules, 256 << 20, &st, &txn);
	nr = rules_count(rs);
	ev = xcalloc(NEV, sizeof(*ev));
	hits = xcalloc(NEV * nr, 1);
	want_hits = xcalloc(NEV * nr, 1);
	/* r0 logs in 4,200 times: more entries than a key is kept with. */
	for (i = 0; i < 4200; i++) {
		decode("{\"op\":\"observe\",\"kind\":\"login\","
		    "\"account\":\"r0\"}", t0 - 86400000 + (int64_t)i, &later);
		ck_assert_int_eq(store_put_event(txn, &later), 0);
	}
	for (i = 0; i < NREF; i++) {
		/* Three referrers, bursts; some referees come back. */
		ts = t0 + (int64_t)i * 600000;
		/* Every tenth referrer is the last referee: a chain. */
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":\"m%zu\","
		    "\"referrer\":{\"account\":\"%c%zu\"},\"referee\":"
		    "{\"account\":\"e%zu\",\"payment\":\"pm_%zu\"}}", i,
		    i % 10 == 9 ? 'e' : 'r', i % 10 == 9 ? i - 1 : i % 3, i,
		    i % 4);
		check_line(txn, rs, line, ts, &ev[i]);
		if (i % 4 == 1) {
			snprintf(line, sizeof(line), "{\"op\":\"observe\","
			    "\"kind\":\"%s\",\"account\":\"e%zu\"}",
			    i % 8 == 1 ? "login" : "purchase", i);
			decode(line, ts + 1000, &later);
			ck_assert_int_eq(store_put_event(txn, &later), 0);
		}
		if (i % 8 == 1) {
			/* and comes back again: engaged */
			snprintf(line, sizeof(line), "{\"op\":\"observe\","
			    "\"kind\":\"login\",\"account\":\"e%zu\"}", i);
			decode(line, ts + 1500, &later);
			ck_assert_int_eq(store_put_event(txn, &later), 0);
		}
		if (i % 30 == 7) {
			snprintf(line, sizeof(line), "{\"op\":\"observe\","
			    "\"kind\":\"purchase\",\"account\":\"r%zu\"}",
			    i % 3);
			decode(line, ts + 2000, &later);
			ck_assert_int_eq(store_put_event(txn, &later), 0);
		}
		if (i % 8 == 1 || i % 6 == 3) {
			/* back a day later: returned */
			snprintf(line, sizeof(line), "{\"op\":\"observe\","
			    "\"kind\":\"login\",\"account\":\"e%zu\"}", i);
			decode(line, ts + 90000000, &later);
			ck_assert_int_eq(store_put_event(txn, &later), 0);
		}
	}
	/*
	 * Stored after them, older than all: age() as of each referral
	 * must not see it, although a key's copy holds it first.
	 */
	decode("{\"op\":\"observe\",\"kind\":\"login\","
	    "\"account\":\"r1\"}", t0 - 3 * 86400000LL, &later);
	ck_assert_int_eq(store_put_event(txn, &later), 0);
	/* And some again as of two days later, as a recheck asks. */
	for (i = NREF; i < NEV; i++) {
		ev[i] = ev[(i - NREF) * 9];
		ev[i].ts += 2 * 86400000LL;
	}
	/* Without a memo: each as of its own event. */
	for (i = 0; i < NEV; i++) {
		ck_assert_int_eq(rules_eval(rs, &ev[i], txn, 1, &res), 0);
		want[i] = res.explain;
		ck_assert_int_eq(rules_eval(rs, &ev[i], txn, 0, &res), 0);
		for (k = 0; k < res.nhits; k++)
			want_hits[i * nr + res.hits[k].rule]++;
	}
	for (i = 0; i < NEV * nr && want_hits[i] == 0; i++)
		;
	ck_assert_msg(i < NEV * nr, "no rule matched: the test proves little");
	for (pass = 0; pass < 3; pass++) {
		memo = rules_memo_new(pass == 1 ? 1 : 8192);
		if (pass == 2) {
			/* More stored, then a reset: as of each event still. */
			memo_eval_all(rs, txn, ev, NEV, want, hits, memo);
			memset(hits, 0, NEV * nr);
			decode("{\"op\":\"observe\",\"kind\":\"login\","
			    "\"account\":\"e0\"}", t0 + 1000, &later);
			ck_assert_int_eq(store_put_event(txn, &later), 0);
			rules_memo_reset(memo);
		}
		memo_eval_all(rs, txn, ev, NEV, want, hits, memo);
		ck_assert_msg(memcmp(hits, want_hits, NEV * nr) == 0,
		    "pass %d: other hits with a memo", pass);
		memset(hits, 0, NEV * nr);
		rules_memo_free(memo);
	}
	for (i = 0; i < NEV; i++)
		free(want[i]);
	free(ev);
	free(hits);
	free(want_hits);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
}
END_TEST


/*
 * rules_rule_same: the same condition text reading the same list values,
 * whatever the name, action, score or mode; rules_eval_known takes the
 * known matches without evaluating and applies the set's own scores and
 * thresholds.
 */
static const char *same_a =
    "list vip [\"a@example.com\"]\n"
    "rule s.one { when count(referral, referrer.account, 1h) > 1 "
    "action review score 30 }\n"
    "rule s.two { when referee.email in list vip action deny score 100 }\n"
    "rule s.three { when referees(referrer.account, 1d) >= 2 "
    "action review score 20 }\n"
    "verdict { review when score >= 50 deny when score >= 100 }\n";
static const char *same_b =
    "list vip [\"b@example.com\"]\n"
    "rule s.one { mode shadow when count(referral, referrer.account, 1h) > 1 "
    "action deny score 5 }\n"
    "rule s.two { when referee.email in list vip action deny score 100 }\n"
    "rule s.three { when referees(referrer.account, 1d) >= 3 "
    "action review score 20 }\n"
    "rule s.four { when count(referral,  referrer.account, 1h) > 1 "
    "action review }\n"
    "verdict { review when score >= 10 }\n";

static void
same_result(const struct rules_result *x, const struct rules_result *y)
{
	size_t	i;

	ck_assert_int_eq(x->action, y->action);
	ck_assert_int_eq(x->score, y->score);
	ck_assert_uint_eq(x->nhits, y->nhits);
	for (i = 0; i < x->nhits; i++) {
		ck_assert_uint_eq(x->hits[i].rule, y->hits[i].rule);
		ck_assert_uint_eq(x->hits[i].action, y->hits[i].action);
		ck_assert_uint_eq(x->hits[i].shadow, y->hits[i].shadow);
		ck_assert_int_eq(x->hits[i].score, y->hits[i].score);
	}
}

/*
 * rules_rule_same with named conditions: the rule's text and each
 * condition's, wherever it is defined; a changed condition changes
 * every rule that uses it, directly or through another.
 */
START_TEST(test_rule_same_conditions)
{
	static const char *const srcs[] = {
	    /* a */
	    "condition quiet { when count(any, referee.account, since "
	    "referral) <= 2 }\n"
	    "condition lonely { when quiet and not referee.geo.vpn }\n"
	    "rule c.one { when referee.geo.tor and quiet action review }\n"
	    "rule c.two { when lonely action review }\n"
	    "rule c.three { when referee.geo.tor action review }\n",
	    /* b: the same, defined elsewhere and in another order */
	    "rule c.one { when referee.geo.tor and quiet action review }\n"
	    "rule c.two { when lonely action review }\n"
	    "rule c.three { when referee.geo.tor action review }\n"
	    "\n# further down\n"
	    "condition lonely { when quiet and not referee.geo.vpn }\n"
	    "condition quiet { when count(any, referee.account, since "
	    "referral) <= 2 }\n",
	    /* c: quiet changed */
	    "condition quiet { when count(any, referee.account, since "
	    "referral) <= 3 }\n"
	    "condition lonely { when quiet and not referee.geo.vpn }\n"
	    "rule c.one { when referee.geo.tor and quiet action review }\n"
	    "rule c.two { when lonely action review }\n"
	    "rule c.three { when referee.geo.tor action review }\n",
	};
	struct ruleset	*rs[3];
	char		*diag, name[16];
	size_t		 i;

	for (i = 0; i < nitems(srcs); i++) {
		snprintf(name, sizeof(name), "%zu.rules", i);
		rs[i] = rules_load_buf(name, srcs[i], strlen(srcs[i]), id, 0,
		    &diag);
		ck_assert_msg(rs[i] != NULL, "%s", diag);
	}
	for (i = 0; i < 3; i++) {
		ck_assert(rules_rule_same(rs[0], (uint32_t)i, rs[1],
		    (uint32_t)i));
		ck_assert(rules_rule_same(rs[0], (uint32_t)i, rs[0],
		    (uint32_t)i));
	}
	ck_assert(!rules_rule_same(rs[0], 0, rs[2], 0));	/* directly */
	ck_assert(!rules_rule_same(rs[0], 1, rs[2], 1));	/* through lonely */
	ck_assert(rules_rule_same(rs[0], 2, rs[2], 2));
	for (i = 0; i < nitems(srcs); i++)
		rules_unref(rs[i]);
}
END_TEST

START_TEST(test_rule_same_known)
{
	struct rules_result	 full, res;
	struct ruleset		*a, *b;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev[3];
	uint8_t			 known[4];
	char			*diag, line[256];
	int64_t			 t0 = 1767225600000LL;
	size_t			 i;

	a = scratch(same_a, 64 << 20, &st, &txn);
	b = rules_load_buf("b.rules", same_b, strlen(same_b), id, 0, &diag);
	ck_assert_msg(b != NULL, "%s", diag);
	ck_assert(rules_rule_same(a, 0, b, 0));		/* mode, action, score */
	ck_assert(!rules_rule_same(a, 1, b, 1));	/* list values */
	ck_assert(!rules_rule_same(a, 2, b, 2));	/* the condition */
	ck_assert(!rules_rule_same(a, 0, b, 3));	/* a blank more */
	ck_assert(rules_rule_same(a, 1, a, 1));
	ck_assert(!rules_rule_same(a, 0, a, 1));
	ck_assert(!rules_rule_same(a, 9, b, 0));
	for (i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "{\"op\":\"check\",\"id\":\"k%zu\","
		    "\"referrer\":{\"account\":\"kr\"},\"referee\":{\"account\":"
		    "\"ke%zu\",\"email\":\"a@example.com\"}}", i, i);
		check_line(txn, a, line, t0 + (int64_t)i * 1000, &ev[i]);
	}
	/* Every outcome known: the evaluation's, read from no store. */
	ck_assert_int_eq(rules_eval(a, &ev[2], txn, 0, &full), 0);
	ck_assert_int_eq(full.action, ACTION_DENY);
	ck_assert_uint_eq(full.nhits, 3);
	memset(known, RULES_KNOWN_MISS, sizeof(known));
	for (i = 0; i < full.nhits; i++)
		known[full.hits[i].rule] = RULES_KNOWN_MATCH;
	ck_assert_int_eq(rules_eval_known(a, &ev[2], known, NULL, NULL, &res),
	    0);
	same_result(&res, &full);
	/* Some evaluated: the same; a known match that would not match. */
	known[1] = RULES_KNOWN_NONE;
	known[2] = RULES_KNOWN_NONE;
	ck_assert_int_eq(rules_eval_known(a, &ev[2], known, NULL, txn, &res),
	    0);
	same_result(&res, &full);
	ck_assert_int_eq(rules_eval(a, &ev[0], txn, 0, &full), 0);
	ck_assert_int_eq(full.action, ACTION_DENY);	/* s.two only */
	known[0] = RULES_KNOWN_MATCH;
	known[1] = RULES_KNOWN_MISS;
	known[2] = RULES_KNOWN_MISS;
	ck_assert_int_eq(rules_eval_known(a, &ev[0], known, NULL, NULL, &res),
	    0);
	ck_assert_uint_eq(res.nhits, 1);
	ck_assert_uint_eq(res.hits[0].rule, 0);
	ck_assert_int_eq(res.score, 30);
	ck_assert_int_eq(res.action, ACTION_REVIEW);
	rules_unref(b);
	store_abort(txn);
	store_close(st);
	rules_unref(a);
}
END_TEST

/*
 * cluster stops at its budget and says so; and it stops walking an
 * identity once its comparison is decided: the party's own use in the
 * window seen and another account found, before the party's 200 older
 * uses of the install.
 */
START_TEST(test_cluster_budget)
{
	const char		*src = "rule c { when cluster(referee, ip) > 0 "
	    "action review }\n";
	const char		*decided = "rule c { when cluster(referee, "
	    "device.id, 30d) >= 1 action review }\n";
	struct rules_result	 res;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn;
	struct rg_event		 ev;
	json_t			*j, *l;
	char			 line[256];
	int			 i;

	rs = scratch(src, 256 << 20, &st, &txn);
	/* b on 2,100 addresses no other account used. */
	for (i = 0; i < 2100; i++) {
		snprintf(line, sizeof(line), "{\"op\":\"observe\",\"kind\":"
		    "\"login\",\"account\":\"b\",\"ip\":\"10.%d.%d.1\"}",
		    i / 256, i % 256);
		decode(line, 1767225600000LL + i, &ev);
		ck_assert_int_eq(store_put_event(txn, &ev), 0);
	}
	check_line(txn, rs, "{\"op\":\"check\",\"id\":\"x\",\"referrer\":"
	    "{\"account\":\"a\"},\"referee\":{\"account\":\"b\"}}",
	    1767225600000LL + 3000000, &ev);
	ck_assert_int_eq(rules_eval(rs, &ev, txn, 1, &res), 0);
	ck_assert_uint_eq(res.nhits, 0);
	j = json_loads(res.explain, 0, NULL);
	l = json_object_get(ex_fact(j, "c", "cluster("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 0);
	ck_assert(json_is_true(json_object_get(l, "at_least")));
	ck_assert_int_eq(json_integer_value(json_object_get(l, "read")), 2000);
	json_decref(j);
	free(res.explain);
	scratch_done(rs, st, txn);

	rs = scratch(decided, 64 << 20, &st, &txn);
	for (i = 0; i < 200; i++) {
		decode("{\"op\":\"observe\",\"kind\":\"login\","
		    "\"account\":\"b\",\"device\":{\"id\":\"d-1\"}}",
		    1767225600000LL + i, &ev);
		ck_assert_int_eq(store_put_event(txn, &ev), 0);
	}
	decode("{\"op\":\"observe\",\"kind\":\"login\",\"account\":"
	    "\"c\",\"device\":{\"id\":\"d-1\"}}", 1767225600000LL + 1000,
	    &ev);
	ck_assert_int_eq(store_put_event(txn, &ev), 0);
	check_line(txn, rs, "{\"op\":\"check\",\"id\":\"x\",\"referrer\":"
	    "{\"account\":\"a\"},\"referee\":{\"account\":\"b\","
	    "\"device\":{\"id\":\"d-1\"}}}", 1767225600000LL + 2000, &ev);
	ck_assert_int_eq(rules_eval(rs, &ev, txn, 1, &res), 0);
	ck_assert_uint_eq(res.nhits, 1);
	j = json_loads(res.explain, 0, NULL);
	l = json_object_get(ex_fact(j, "c", "cluster("), "left");
	ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 1);
	/* b's link, this check's entry and c's login: not b's 200 logins. */
	ck_assert_int_le(json_integer_value(json_object_get(l, "read")), 4);
	json_decref(j);
	free(res.explain);
	scratch_done(rs, st, txn);
}
END_TEST

static Suite *
rules_suite(void)
{
	Suite	*s = suite_create("rules");
	TCase	*tc = tcase_create("rules");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_bad_files, 0, (int)nitems(bad_files));
	tcase_add_test(tc, test_diag_shape);
	tcase_add_test(tc, test_warnings);
	tcase_add_test(tc, test_missing_path);
	tcase_add_test(tc, test_condition_cut_short);
	tcase_add_test(tc, test_language);
	tcase_add_test(tc, test_score_groups);
	tcase_add_test(tc, test_list_patterns);
	tcase_add_test(tc, test_queue_decisions);
	tcase_add_test(tc, test_failing);
	tcase_add_test(tc, test_shipped);
	tcase_add_test(tc, test_view_same);
	tcase_add_test(tc, test_memo_abort);
	tcase_add_test(tc, test_view_prims);
	tcase_add_loop_test(tc, test_view_touch, 0, 2);
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_nofiles);
	tcase_add_test(tc, test_eval_pure);
	tcase_add_loop_test(tc, test_nesting, 0, (int)nitems(nest_shapes));
	tcase_add_test(tc, test_nesting_eval);
	tcase_add_loop_test(tc, test_load_linear, 0, 3);
	tcase_add_test(tc, test_load_limits);
	tcase_add_test(tc, test_explain);
	tcase_add_loop_test(tc, test_eval_no_alloc_history, 0, 2);
	tcase_add_test(tc, test_primitives_explain);
	tcase_add_test(tc, test_strangers);
	tcase_add_test(tc, test_strangers_budget);
	tcase_add_test(tc, test_share);
	tcase_add_test(tc, test_pairs_max);
	tcase_add_test(tc, test_count2_walks_fewer);
	tcase_add_test(tc, test_count2_pair);
	tcase_add_test(tc, test_pair_index_life);
	tcase_add_test(tc, test_pair_view);
	tcase_add_test(tc, test_referees_engaged);
	tcase_add_test(tc, test_referees_returned);
	tcase_add_test(tc, test_explain_negated);
	tcase_add_test(tc, test_primitives_as_of);
	tcase_add_test(tc, test_cluster_budget);
	tcase_add_test(tc, test_memo_same);
	tcase_add_test(tc, test_rule_same_known);
	tcase_add_test(tc, test_rule_same_conditions);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(rules_suite()));
}
