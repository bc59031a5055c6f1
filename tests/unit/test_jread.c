/*
 * test_jread.c: jread (src/jread.h) held to jansson. Every text here,
 * written by hand, from the fuzz corpora, generated or mutated, goes
 * through jread_agree (tests/fuzz/jread_cmp.h): jr_read reads exactly
 * what json_loadb(JSON_REJECT_DUPLICATES) reads, into jansson's values,
 * and refuses the rest with jansson's error. Where the reader matters a
 * case also says which one took the text: a common request line must not
 * fall back, a \u escape must.
 *
 * JREAD_SEED and JREAD_ROUNDS (a multiple of the usual runs) change the
 * generated and mutated texts, to look further than make check does.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jread.h"
#include "sbuf.h"
#include "util.h"

#include "../fuzz/jread_cmp.h"
#include "unit.h"

#define ANY		(-1)	/* either reader, as long as both agree */
#define REFUSED		JREAD_REFUSED
#define FAST		JREAD_FAST
#define FALLBACK	JREAD_FALLBACK

#define MUTATIONS	20000
#define GENERATED	4000

struct jcase {
	const char	*text;
	size_t		 len;
	int		 want;		/* enum jread_took, or ANY */
};
#define T(s, w)	{ s, sizeof(s) - 1, w }

static const char *const took_names[] = { "refused", "fast", "fallback" };

/* What the current text is, for the failure message: "mutation 12". */
static char		 ctx[1280];
static unsigned long	 rounds = 1;
static uint64_t		 seed = 0x6a72656164ULL;	/* "jread" */

/*
 * text[len] agrees with jansson, and want took it (ANY: either reader):
 * how it was taken, or fail the test showing the text escaped.
 */
static enum jread_took
agree(const char *text, size_t len, int want)
{
	static char	esc[3000];
	char		why[1024];
	enum jread_took	took;
	int		rc;

	rc = jread_agree(text, len, &took, why, sizeof(why));
	if (rc == 0 && (want == ANY || (int)took == want))
		return (took);
	str_escape(text, len, esc, sizeof(esc));
	if (rc != 0) {
		fprintf(stderr, "test_jread: %s: \"%s\" (%zu bytes): %s\n",
		    ctx, esc, len, why);
		ck_abort_msg("%s: jr_read and json_loadb differ on \"%.2000s\" "
		    "(%zu bytes): %s", ctx, esc, len, why);
	}
	ck_abort_msg("%s: \"%.2000s\" (%zu bytes): %s read it, want %s", ctx,
	    esc, len, took_names[took], took_names[want]);
	return (took);
}

static void
agree_cases(const struct jcase *c, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		snprintf(ctx, sizeof(ctx), "case %zu", i);
		agree(c[i].text, c[i].len, c[i].want);
	}
}


/* What the fast reader is for: it takes all of these itself. */
static const struct jcase fast_cases[] = {
	T(CHECK_FULL, FAST),
	T(CHECK_FULL "\n", FAST),
	T("{\"op\":\"check\",\"id\":\"r\",\"ts\":1795427000123,"
	    "\"referrer\":{\"account\":\"a\"},\"referee\":{\"account\":\"b\"}}",
	    FAST),
	T("{\"op\":\"ping\"}", FAST),
	T("{}", FAST),
	T("[]", FAST),
	T("{ }", FAST),
	T("[ ]", FAST),
	T("[{}]", FAST),
	T("[[]]", FAST),
	T("[{},[],{},[]]", FAST),
	T("{\"a\":{}}", FAST),
	T("{\"a\":[]}", FAST),
	T("{\"a\":{\"b\":{\"c\":[1,[2,[3,{}]],{\"d\":[]}]},\"e\":2},\"f\":3}",
	    FAST),
	T("[[1,2],[3,[4,[5]]],{\"x\":[{\"y\":{}}]}]", FAST),
	T("{\"\":\"\"}", FAST),
	T("[\"\"]", FAST),
	T("{\"a\":1,\"b\":2,\"c\":3}", FAST),
	T("{\"b\":1,\"a\":2}", FAST),
	T("{\"a\":{\"x\":1},\"b\":{\"x\":1}}", FAST),	/* one name, two objects */
	T("{\"a\":1,\"A\":2,\"a \":3,\" a\":4}", FAST),
	T("{\"a\":1,\"ab\":2}", FAST),
	/* Every simple escape, alone, together, and in a name. */
	T("[\"\\\"\"]", FAST),
	T("[\"\\\\\"]", FAST),
	T("[\"\\/\"]", FAST),
	T("[\"\\b\"]", FAST),
	T("[\"\\f\"]", FAST),
	T("[\"\\n\"]", FAST),
	T("[\"\\r\"]", FAST),
	T("[\"\\t\"]", FAST),
	T("[\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\tend\"]", FAST),
	T("[\"\\\\\\\\\\\"\\\"\"]", FAST),
	T("{\"k\\n\\t\\\"\\\\\\/\":\"v\"}", FAST),
	T("{\"a/\":1,\"a\\\\/\":2}", FAST),
	T("[\"a b~!@#$%^&*()_+`-={}|[]:;'<>?,.\"]", FAST),
	/* Integers. */
	T("[0]", FAST),
	T("[-0]", FAST),
	T("[7]", FAST),
	T("[-42]", FAST),
	T("[1795427000123]", FAST),
	T("[123456789012345678]", FAST),		/* 18 digits */
	T("[-123456789012345678]", FAST),
	T("[999999999999999999]", FAST),
	T("[-999999999999999999]", FAST),
	T("[100000000000000000]", FAST),
	/* Reals. */
	T("[1.5]", FAST),
	T("[-0.0]", FAST),
	T("[0.0]", FAST),
	T("[1.0]", FAST),
	T("[1e5]", FAST),
	T("[1E-5]", FAST),
	T("[1e+5]", FAST),
	T("[1E+05]", FAST),
	T("[0e0]", FAST),
	T("[-0e-0]", FAST),
	T("[1e-400]", FAST),				/* underflow: 0 */
	T("[-1e-400]", FAST),				/* -0 */
	T("[4.9e-324]", FAST),				/* the least subnormal */
	T("[2.4703282292062328e-324]", FAST),		/* rounds to it */
	T("[2.2250738585072011e-308]", FAST),
	T("[1.7976931348623157e308]", FAST),		/* DBL_MAX */
	T("[1.7976931348623158e308]", FAST),		/* rounds to it */
	T("[0.1]", FAST),
	T("[0.30000000000000004]", FAST),
	T("[3.141592653589793238462643383279]", FAST),
	T("[-1.25e-3,12.5,1e0,9007199254740993.0]", FAST),
	T("[123456789012345678.5]", FAST),
	/* Literals. */
	T("[true,false,null]", FAST),
	T("{\"t\":true,\"f\":false,\"n\":null}", FAST),
	/* White space everywhere it may be. */
	T(" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2.5"
	    " \t\r\n, \t\r\n\"s\" \t\r\n, \t\r\ntrue \t\r\n, \t\r\n{ \t\r\n}"
	    " \t\r\n] \t\r\n, \t\r\n\"b\" \t\r\n: \t\r\nnull \t\r\n} \t\r\n",
	    FAST),
	T("\n\n[1]\n\n", FAST),
	T("[\"\x7f\"]", ANY),			/* DEL is no control character */
};

/* What the fast reader leaves to jansson, which reads it. */
static const struct jcase fallback_cases[] = {
	/*
	 * jansson drops one NUL byte it reads just past a number or a
	 * literal (its lexer puts the byte back, and its stream takes a
	 * NUL there for "read on"): it reads these, so jread must too.
	 */
	T("[1\0]", FALLBACK),
	T("{\"a\":1\0}", FALLBACK),
	T("[1\0,2]", FALLBACK),
	T("[-1.5e3\0 ]", FALLBACK),
	T("[true\0]", FALLBACK),
	T("{\"a\":null\0}", FALLBACK),
	T("[\"\\u00e9\"]", FALLBACK),
	T("[\"\\u0041\"]", FALLBACK),
	T("[\"\\u00E9t\\u00e9\"]", FALLBACK),
	T("[\"\\ud83d\\ude00\"]", FALLBACK),		/* a surrogate pair */
	T("[\"x\\uD83D\\uDE00y\"]", FALLBACK),
	T("[\"\\uffff\\u0001\\u001f\\u007f\\u0080\\u07ff\\u0800\"]",
	    FALLBACK),
	T("{\"\\u0061\":1}", FALLBACK),
	T("{\"a\":1,\"\\u0062\":2}", FALLBACK),
	T("{\"op\":\"explain\",\"id\":\"r\\u00e9f-\\ud83d\\ude00\"}",
	    FALLBACK),
	T("[\"\xc3\xa9\"]", FALLBACK),			/* é in UTF-8 */
	T("[\"\xf0\x9f\x98\x80\"]", FALLBACK),		/* an emoji */
	T("[\"\xe2\x82\xac 5\"]", FALLBACK),		/* a euro sign */
	T("{\"\xc3\xa9\":\"x\"}", FALLBACK),
	T("{\"caf\xc3\xa9\":1,\"cafe\":2}", FALLBACK),
	T("[\"\xef\xbf\xbf\"]", FALLBACK),		/* U+FFFF */
	T("[\"\xf4\x8f\xbf\xbf\"]", FALLBACK),		/* U+10FFFF */
	T("[1234567890123456789]", FALLBACK),		/* 19 digits */
	T("[-1234567890123456789]", FALLBACK),
	T("[9223372036854775807]", FALLBACK),		/* INT64_MAX */
	T("[-9223372036854775808]", FALLBACK),		/* INT64_MIN */
	T("[1000000000000000000]", FALLBACK),
	T("[12345678901234567890.5]", ANY),
	T("[1.00000000000000000000000000000000000000000000000000000000001]",
	    ANY),
};

/* What neither reads. */
static const struct jcase refused_cases[] = {
	/* Something after the text's value. */
	T("{}x", REFUSED),
	T("[]]", REFUSED),
	T("{}}", REFUSED),
	T("{} {}", REFUSED),
	T("[1] x", REFUSED),
	T("[1],", REFUSED),
	T("{\"a\":1}\n{\"a\":1}", REFUSED),
	T(CHECK_FULL "x", REFUSED),
	/* A name twice. */
	T("{\"a\":1,\"a\":2}", REFUSED),
	T("{\"a\":1,\"a\":1}", REFUSED),
	T("{\"op\":\"ping\",\"op\":\"ping\"}", REFUSED),
	T("{\"a\":1,\"b\":2,\"a\":3}", REFUSED),
	T("{\"\":1,\"\":2}", REFUSED),
	T("{\"a\":{\"b\":1,\"b\":2}}", REFUSED),
	T("[{\"a\":1},{\"a\":1,\"a\":1}]", REFUSED),
	T("{\"x\":[1,{\"y\":{\"z\":1,\"z\":[]}}]}", REFUSED),
	T("{\"a\":1,\"\\u0061\":2}", REFUSED),		/* one name, spelled twice */
	T("{\"a/\":1,\"a\\/\":2}", REFUSED),
	T("{\"\\n\":1,\"\\u000a\":2}", REFUSED),
	T("{\"\xc3\xa9\":1,\"\\u00e9\":2}", REFUSED),
	/* Numbers JSON has not. */
	T("[01]", REFUSED),
	T("[00]", REFUSED),
	T("[-01]", REFUSED),
	T("[1.]", REFUSED),
	T("[1.e5]", REFUSED),
	T("[-]", REFUSED),
	T("[-a]", REFUSED),
	T("[.5]", REFUSED),
	T("[-.5]", REFUSED),
	T("[1e]", REFUSED),
	T("[1e+]", REFUSED),
	T("[1E-]", REFUSED),
	T("[+1]", REFUSED),
	T("[0x10]", REFUSED),
	T("[1.5.3]", REFUSED),
	T("[1-2]", REFUSED),
	T("[1e400]", REFUSED),				/* real number overflow */
	T("[-1e400]", REFUSED),
	T("[1.8e308]", REFUSED),
	T("[9223372036854775808]", REFUSED),		/* too big integer */
	T("[-9223372036854775809]", REFUSED),
	T("[99999999999999999999999]", REFUSED),
	T("[nan]", REFUSED),
	T("[NaN]", REFUSED),
	T("[Infinity]", REFUSED),
	T("[-Infinity]", REFUSED),
	T("{\"a\":01}", REFUSED),
	T("{\"a\":1.}", REFUSED),
	T("{\"a\":-}", REFUSED),
	T("{\"a\":.5}", REFUSED),
	T("{\"a\":1e}", REFUSED),
	T("{\"a\":1e400}", REFUSED),
	T("{\"a\":nan}", REFUSED),
	T("01", REFUSED),
	T("1.", REFUSED),
	T("-", REFUSED),
	T(".5", REFUSED),
	T("1e", REFUSED),
	T("1e400", REFUSED),
	T("nan", REFUSED),
	/* Literals spelled otherwise. */
	T("[tru]", REFUSED),
	T("[nul]", REFUSED),
	T("[truex]", REFUSED),
	T("[True]", REFUSED),
	T("[NULL]", REFUSED),
	T("[true false]", REFUSED),
	T("[1true]", REFUSED),
	/* Raw control characters in strings. */
	T("[\"a\x01" "b\"]", REFUSED),
	T("[\"\t\"]", REFUSED),
	T("[\"\n\"]", REFUSED),
	T("[\"\r\"]", REFUSED),
	T("[\"\x1f\"]", REFUSED),
	T("{\"a\x1f\":1}", REFUSED),
	T("{\"a\":\"x\ny\"}", REFUSED),
	/* Not UTF-8. */
	T("[\"\xc3\"]", REFUSED),
	T("[\"\xc3x\"]", REFUSED),
	T("[\"\xff\"]", REFUSED),
	T("[\"\x80\"]", REFUSED),
	T("[\"\xc0\xaf\"]", REFUSED),			/* overlong */
	T("[\"\xe0\x80\xaf\"]", REFUSED),
	T("[\"\xed\xa0\x80\"]", REFUSED),		/* a surrogate */
	T("[\"\xf4\x90\x80\x80\"]", REFUSED),		/* past U+10FFFF */
	T("[\"\xf0\x9f\x98\"]", REFUSED),		/* cut short */
	T("{\"a\xff\":1}", REFUSED),
	T("{\"op\":\"verdict\",\"id\":\"a\xff\xc0\xaf\"}", REFUSED),
	T("[\xc3\xa9]", REFUSED),
	/* Escapes jansson does not take. */
	T("[\"\\u0000\"]", REFUSED),
	T("[\"a\\u0000b\"]", REFUSED),
	T("{\"\\u0000\":1}", REFUSED),
	T("[\"\\ud83d\"]", REFUSED),			/* a lone surrogate */
	T("[\"\\ude00\"]", REFUSED),
	T("[\"\\ud83d\\u0041\"]", REFUSED),
	T("[\"\\ud83dx\"]", REFUSED),
	T("[\"\\u00g0\"]", REFUSED),
	T("[\"\\u12\"]", REFUSED),
	T("[\"\\x41\"]", REFUSED),
	T("[\"\\U0041\"]", REFUSED),
	T("[\"\\a\"]", REFUSED),
	T("[\"\\'\"]", REFUSED),
	T("[\"\\\"]", REFUSED),
	/* Cut short. */
	T("[\"abc", REFUSED),
	T("[\"abc\\", REFUSED),
	T("[\"abc\\\"]", REFUSED),
	T("{\"a\":1", REFUSED),
	T("{\"a\":1,", REFUSED),
	T("{\"a\":", REFUSED),
	T("{\"a\"", REFUSED),
	T("{\"a", REFUSED),
	T("{", REFUSED),
	T("[", REFUSED),
	T("[1,2", REFUSED),
	T("[1,", REFUSED),
	T("[[[]]", REFUSED),
	T("{\"a\":[1,{\"b\":2}", REFUSED),
	T("{\"op\":\"check\",\"id\":\"r-1\",\"referrer\":{\"acc", REFUSED),
	T("[t", REFUSED),
	T("[-", REFUSED),
	T("[1.5e", REFUSED),
	/* Broken structure. */
	T("{\"a\":1,}", REFUSED),
	T("[1,]", REFUSED),
	T("[,1]", REFUSED),
	T("[1,,2]", REFUSED),
	T("{,}", REFUSED),
	T("{\"a\" 1}", REFUSED),
	T("{\"a\"::1}", REFUSED),
	T("{\"a\":1 \"b\":2}", REFUSED),
	T("{1:2}", REFUSED),
	T("{a:1}", REFUSED),
	T("{null:1}", REFUSED),
	T("['a']", REFUSED),
	T("[}", REFUSED),
	T("{]", REFUSED),
	T("[1}", REFUSED),
	T("{\"a\":1]", REFUSED),
	T("}", REFUSED),
	T("]", REFUSED),
	/* Not an object or an array (no JSON_DECODE_ANY). */
	T("5", REFUSED),
	T("-1", REFUSED),
	T("1.5", REFUSED),
	T("\"x\"", REFUSED),
	T("true", REFUSED),
	T("false", REFUSED),
	T("null", REFUSED),
	T(" 5 ", REFUSED),
	/* Nothing. */
	T("", REFUSED),
	T(" ", REFUSED),
	T(" \t\r\n", REFUSED),
	T("\n", REFUSED),
	/* A NUL byte inside the text, which len counts. */
	T("\0", REFUSED),
	T("{}\0", REFUSED),
	T("\0{}", REFUSED),
	T("{\"a\":1}\0", REFUSED),
	T("[\"a\0b\"]", REFUSED),
	T("{\"a\0\":1}", REFUSED),
	T("[1,\0 2]", REFUSED),
	T("[\"a\"\0]", REFUSED),
	T("[1\0\0]", REFUSED),
	T("[1\0" "2]", REFUSED),
	T(CHECK_FULL "\0", REFUSED),
	/* White space JSON has not. */
	T("[1,\v2]", REFUSED),
	T("[1,\f2]", REFUSED),
	T("\xef\xbb\xbf{}", ANY),			/* a byte order mark */
	T("{}\x1a", REFUSED),
};

START_TEST(test_fast)
{
	agree_cases(fast_cases, sizeof(fast_cases) / sizeof(fast_cases[0]));
}
END_TEST

START_TEST(test_fallback)
{
	agree_cases(fallback_cases,
	    sizeof(fallback_cases) / sizeof(fallback_cases[0]));
}
END_TEST

START_TEST(test_refused)
{
	agree_cases(refused_cases,
	    sizeof(refused_cases) / sizeof(refused_cases[0]));
}
END_TEST

/* An object of n members "k0".. (then extra, a name or NULL), in wrap. */
static void
wide(struct sbuf *b, const char *pre, size_t n, const char *extra,
    const char *post)
{
	size_t	i;

	b->len = 0;
	sbuf_adds(b, pre);
	sbuf_adds(b, "{");
	for (i = 0; i < n; i++)
		sbuf_addf(b, "%s\"k%zu\":%zu", i == 0 ? "" : ",", i, i);
	if (extra != NULL)
		sbuf_addf(b, "%s\"%s\":\"dup\"", n == 0 ? "" : ",", extra);
	sbuf_adds(b, "}");
	sbuf_adds(b, post);
}

/* Objects wider than the fast reader's, and names twice past its bound. */
START_TEST(test_wide)
{
	static const size_t	 ns[] = { 1, 2, 63, 64, 65, 66, 100, 300 };
	struct sbuf		 b = { NULL, 0, 0 };
	size_t			 i, n;

	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		n = ns[i];
		snprintf(ctx, sizeof(ctx), "object of %zu members", n);
		wide(&b, "", n, NULL, "");
		agree(b.buf, b.len, n <= JR_SMALL ? FAST : FALLBACK);
		wide(&b, "{\"o\":", n, NULL, ",\"p\":[1]}");
		agree(b.buf, b.len, n <= JR_SMALL ? FAST : FALLBACK);
		wide(&b, "[", n, NULL, ",1]");
		agree(b.buf, b.len, n <= JR_SMALL ? FAST : FALLBACK);

		snprintf(ctx, sizeof(ctx), "object of %zu members, k0 twice",
		    n);
		wide(&b, "", n, "k0", "");
		agree(b.buf, b.len, REFUSED);
		snprintf(ctx, sizeof(ctx), "object of %zu members, the last "
		    "twice", n);
		wide(&b, "", n, n == 1 ? "k0" : n == 2 ? "k1" :
		    n == 63 ? "k62" : n == 64 ? "k63" : n == 65 ? "k64" :
		    n == 66 ? "k65" : n == 100 ? "k99" : "k299", "");
		agree(b.buf, b.len, REFUSED);
		snprintf(ctx, sizeof(ctx), "nested object of %zu members, a "
		    "name twice", n);
		wide(&b, "{\"a\":1,\"o\":", n, "k0", ",\"z\":2}");
		agree(b.buf, b.len, REFUSED);
		wide(&b, "[[1],", n, n > 5 ? "k5" : "k0", "]");
		agree(b.buf, b.len, REFUSED);
	}

	/* Many values, few members: more than the doc's small room. */
	snprintf(ctx, sizeof(ctx), "array of 1000 integers");
	b.len = 0;
	sbuf_adds(&b, "[");
	for (i = 0; i < 1000; i++)
		sbuf_addf(&b, "%s%zu", i == 0 ? "" : ",", i * 7919);
	sbuf_adds(&b, "]");
	agree(b.buf, b.len, FAST);
	snprintf(ctx, sizeof(ctx), "array of 200 small objects");
	b.len = 0;
	sbuf_adds(&b, "{\"list\":[");
	for (i = 0; i < 200; i++)
		sbuf_addf(&b, "%s{\"id\":\"r-%zu\",\"n\":%zu,\"x\":[%zu.5]}",
		    i == 0 ? "" : ",", i, i, i);
	sbuf_adds(&b, "]}");
	agree(b.buf, b.len, FAST);
	snprintf(ctx, sizeof(ctx), "a long string");
	b.len = 0;
	sbuf_adds(&b, "{\"s\":\"");
	for (i = 0; i < 20000; i++)
		sbuf_add(&b, i % 97 == 0 ? "\\n" : "abcdefghij" + i % 10,
		    i % 97 == 0 ? 2 : 1);
	sbuf_adds(&b, "\"}");
	agree(b.buf, b.len, FAST);
	free(b.buf);
}
END_TEST

/* depth nested arrays (or objects), holding inner. */
static void
deep(struct sbuf *b, size_t depth, int objects, const char *inner)
{
	size_t	i;

	b->len = 0;
	for (i = 0; i < depth; i++)
		sbuf_adds(b, objects ? "{\"a\":" : "[");
	sbuf_adds(b, inner);
	for (i = 0; i < depth; i++)
		sbuf_adds(b, objects ? "}" : "]");
}

/* Nesting deeper than the fast reader's, and deeper than jansson's. */
START_TEST(test_deep)
{
	static const size_t	 ds[] = { 1, 2, 31, 32, 33, 34, 100, 2047,
				    2048, 2049, 5000 };
	struct sbuf		 b = { NULL, 0, 0 };
	size_t			 i, d;
	int			 want, objects;

	for (i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		d = ds[i];
		for (objects = 0; objects < 2; objects++) {
			want = d <= 32 ? FAST : d <= 100 ? FALLBACK :
			    d > 2100 ? REFUSED : ANY;
			snprintf(ctx, sizeof(ctx), "%zu deep %s", d,
			    objects ? "objects" : "arrays");
			deep(&b, d, objects, objects ? "1" : "");
			agree(b.buf, b.len, want);
			deep(&b, d - 1, objects, "{\"x\":1,\"y\":true}");
			agree(b.buf, b.len, want);
			snprintf(ctx, sizeof(ctx), "%zu deep %s, a name twice "
			    "at the bottom", d, objects ? "objects" : "arrays");
			deep(&b, d - 1, objects, "{\"x\":1,\"x\":2}");
			agree(b.buf, b.len, REFUSED);
			snprintf(ctx, sizeof(ctx), "%zu deep %s, then more",
			    d, objects ? "objects" : "arrays");
			deep(&b, d, objects, "[]");
			sbuf_adds(&b, " x");
			agree(b.buf, b.len, REFUSED);
			snprintf(ctx, sizeof(ctx), "%zu deep %s, cut short",
			    d, objects ? "objects" : "arrays");
			deep(&b, d, objects, "[]");
			b.len--;
			agree(b.buf, b.len, REFUSED);
		}
	}
	free(b.buf);
}
END_TEST

/* Integers of every length around the fast reader's 18 digits. */
START_TEST(test_digits)
{
	struct sbuf	 b = { NULL, 0, 0 };
	size_t		 n, i;
	int		 neg, kind, want;
	char		 num[64];

	for (n = 1; n <= 24; n++)
		for (neg = 0; neg < 2; neg++)
			for (kind = 0; kind < 4; kind++) {
				/* 999..., 100..., 123..., 922... */
				for (i = 0; i < n; i++)
					num[i] = kind == 0 ? '9' :
					    kind == 1 ? (i == 0 ? '1' : '0') :
					    kind == 2 ? (char)('1' + i % 9) :
					    "9223372036854775807999"[i % 22];
				num[n] = '\0';
				b.len = 0;
				sbuf_addf(&b, "{\"n\":%s%s,\"r\":%s%s.25,"
				    "\"e\":%s%se-3}", neg ? "-" : "", num,
				    neg ? "-" : "", num, neg ? "-" : "", num);
				snprintf(ctx, sizeof(ctx), "%s%s",
				    neg ? "-" : "", num);
				want = n <= 18 ? FAST : ANY;
				agree(b.buf, b.len, want);
				b.len = 0;
				sbuf_addf(&b, "[%s%s]", neg ? "-" : "", num);
				agree(b.buf, b.len, want);
			}
	free(b.buf);
}
END_TEST

/* A small, reproducible generator: splitmix64. */
static uint64_t	rng;

static uint64_t
rnd64(void)
{
	uint64_t	z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

static size_t
rnd(size_t n)
{
	return (n == 0 ? 0 : (size_t)(rnd64() % n));
}

static void
gen_ws(struct sbuf *b)
{
	static const char	ws[] = " \t\r\n";
	size_t			n;

	if (rnd(4) != 0)
		return;
	for (n = 1 + rnd(3); n > 0; n--)
		sbuf_add(b, &ws[rnd(4)], 1);
}

static void
gen_digits(struct sbuf *b, size_t n, int lead)
{
	char	c;

	while (n-- > 0) {
		c = (char)('0' + rnd(10));
		if (lead && c == '0')
			c = '1';
		lead = 0;
		sbuf_add(b, &c, 1);
	}
}

/* A digit count: mostly a few, at times up to 21. */
static size_t
gen_ndigits(void)
{
	size_t	r = rnd(100);

	return (r < 75 ? 1 + rnd(6) : r < 95 ? 1 + rnd(18) : 17 + rnd(5));
}

static void
gen_number(struct sbuf *b)
{
	static const char *const	odd[] = { "01", "1.", ".5", "-", "1e",
					    "1e999", "-0", "0", "-0.0", "1e-999" };
	size_t				n;
	int				real = rnd(3) == 0, frac;

	if (rnd(200) == 0) {
		sbuf_adds(b, odd[rnd(sizeof(odd) / sizeof(odd[0]))]);
		return;
	}
	if (rnd(4) == 0)
		sbuf_adds(b, "-");
	n = gen_ndigits();
	if (n == 1 || rnd(10) == 0)
		gen_digits(b, 1, 0);
	else
		gen_digits(b, n, 1);
	if (!real)
		return;
	frac = rnd(3) != 0;
	if (frac) {
		sbuf_adds(b, ".");
		gen_digits(b, gen_ndigits(), 0);
	}
	if (!frac || rnd(2) == 0) {
		sbuf_adds(b, rnd(2) ? "e" : "E");
		sbuf_adds(b, (const char *[]){ "", "+", "-" }[rnd(3)]);
		if (rnd(4) == 0)
			sbuf_addf(b, "%zu", 290 + rnd(40));
		else
			gen_digits(b, 1 + rnd(3), 0);
	}
}

static void
gen_string(struct sbuf *b)
{
	static const char *const	esc[] = { "\\\"", "\\\\", "\\/", "\\b",
					    "\\f", "\\n", "\\r", "\\t" };
	static const char *const	utf8[] = { "\xc3\xa9", "\xe2\x82\xac",
					    "\xf0\x9f\x98\x80", "\xc2\x80",
					    "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf" };
	static const char *const	bad[] = { "\x01", "\n", "\xff", "\xc3",
					    "\xed\xa0\x80", "\\u0000", "\\ud800",
					    "\\q", "\0" };
	size_t				n, r;
	char				c;

	sbuf_adds(b, "\"");
	for (n = rnd(4) == 0 ? rnd(40) : rnd(8); n > 0; n--) {
		r = rnd(1000);
		if (r < 820) {
			do
				c = (char)(0x20 + rnd(0x5f));
			while (c == '"' || c == '\\');
			sbuf_add(b, &c, 1);
		} else if (r < 920)
			sbuf_adds(b, esc[rnd(8)]);
		else if (r < 950)
			sbuf_addf(b, "\\u%04zx", 1 + rnd(0xd7ff));
		else if (r < 960)
			sbuf_addf(b, "\\u%04zX\\u%04zx", 0xd800 + rnd(0x400),
			    0xdc00 + rnd(0x400));
		else if (r < 995)
			sbuf_adds(b, utf8[rnd(6)]);
		else {
			r = rnd(sizeof(bad) / sizeof(bad[0]));
			sbuf_add(b, bad[r], r == 8 ? 1 : strlen(bad[r]));
		}
	}
	sbuf_adds(b, "\"");
}

static void gen_value(struct sbuf *, int);

static void
gen_container(struct sbuf *b, int depth, int object)
{
	size_t	n, i, r;

	r = rnd(50);
	n = r == 0 ? 60 + rnd(10) : r < 10 ? 0 : 1 + rnd(5);
	sbuf_adds(b, object ? "{" : "[");
	gen_ws(b);
	for (i = 0; i < n; i++) {
		if (i > 0) {
			sbuf_adds(b, ",");
			gen_ws(b);
		}
		if (object) {
			/* Now and then a name twice, or an odd one. */
			r = rnd(200);
			if (r == 0 && i > 0)
				sbuf_addf(b, "\"m%zu\"", rnd(i));
			else if (r < 8)
				gen_string(b);
			else
				sbuf_addf(b, "\"m%zu\"", i);
			gen_ws(b);
			sbuf_adds(b, ":");
			gen_ws(b);
		}
		gen_value(b, depth + 1);
		gen_ws(b);
	}
	sbuf_adds(b, object ? "}" : "]");
}

static void
gen_value(struct sbuf *b, int depth)
{
	static const char *const	lit[] = { "true", "false", "null" };
	size_t				r = rnd(100);

	if (depth < 4 && r < 25)
		gen_container(b, depth, r < 12);
	else if (r < 55)
		gen_string(b);
	else if (r < 88)
		gen_number(b);
	else
		sbuf_adds(b, lit[rnd(3)]);
}

/* Texts of every shape the generator has: most read, by both readers. */
START_TEST(test_generated)
{
	struct sbuf	b = { NULL, 0, 0 }, w = { NULL, 0, 0 };
	size_t		i, k, wrap, n = GENERATED * rounds;
	size_t		took[3] = { 0, 0, 0 };

	rng = seed ^ 0x67656e;
	for (i = 0; i < n; i++) {
		b.len = 0;
		gen_ws(&b);
		gen_container(&b, 0, rnd(4) != 0);
		gen_ws(&b);
		/* Now and then about as deep as the fast reader goes. */
		if (rnd(10) == 0) {
			w.len = 0;
			wrap = 25 + rnd(15);
			for (k = 0; k < wrap; k++)
				sbuf_adds(&w, k % 3 == 0 ? "{\"w\":" : "[");
			sbuf_add(&w, b.buf, b.len);
			for (k = wrap; k > 0; k--)
				sbuf_adds(&w, (k - 1) % 3 == 0 ? "}" : "]");
			b.len = 0;
			sbuf_add(&b, w.buf, w.len);
		}
		snprintf(ctx, sizeof(ctx), "generated text %zu of seed %#llx",
		    i, (unsigned long long)seed);
		took[agree(b.buf, b.len, ANY)]++;
	}
	free(b.buf);
	free(w.buf);
	fprintf(stderr, "test_jread: %zu generated texts: %zu fast, %zu "
	    "fallback, %zu refused\n", n, took[FAST], took[FALLBACK],
	    took[REFUSED]);
	/* The run saw each reader at work. */
	ck_assert_msg(took[FAST] > n / 4 && took[FALLBACK] > n / 20 &&
	    took[REFUSED] > n / 50, "generated: %zu fast, %zu fallback, "
	    "%zu refused", took[FAST], took[FALLBACK], took[REFUSED]);
}
END_TEST

/* The texts mutated: the hand cases and the corpora's. */
struct pool {
	char	**t;
	size_t	 *len;
	size_t	  n, cap;
};

static void
pool_add(struct pool *p, const char *t, size_t len)
{
	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 256 : p->cap * 2;
		p->t = xreallocarray(p->t, p->cap, sizeof(*p->t));
		p->len = xreallocarray(p->len, p->cap, sizeof(*p->len));
	}
	p->t[p->n] = xmalloc(len + 1);
	memcpy(p->t[p->n], t, len);
	p->t[p->n][len] = '\0';
	p->len[p->n++] = len;
}

static void
pool_free(struct pool *p)
{
	size_t	i;

	for (i = 0; i < p->n; i++)
		free(p->t[i]);
	free(p->t);
	free(p->len);
}

/* Common request text: printable ASCII, no \u, no long digit runs,
 * few members and containers. The fast reader takes it when jansson does. */
static int
plain(const char *t, size_t len)
{
	size_t	i, run = 0, colons = 0, opens = 0;

	for (i = 0; i < len; i++) {
		if ((t[i] < 0x20 || t[i] > 0x7e) && t[i] != '\n' &&
		    t[i] != ' ' && t[i] != '\t' && t[i] != '\r')
			return (0);
		if (t[i] == '\\' && i + 1 < len && t[i + 1] == 'u')
			return (0);
		run = t[i] >= '0' && t[i] <= '9' ? run + 1 : 0;
		if (run > 18)
			return (0);
		colons += t[i] == ':';
		opens += t[i] == '{' || t[i] == '[';
	}
	return (colons <= JR_SMALL && opens <= 32);
}

/*
 * Each file of tests/fuzz/corpus/name, whole and line by line, through
 * the comparison, into pool when not NULL: the files read.
 */
static size_t
corpus(const char *name, struct pool *pool, size_t *nfast)
{
	const char	*top = getenv("top_srcdir");
	struct dirent	*de;
	DIR		*dir;
	char		 path[1024], *t, *line, *nl;
	size_t		 len, n = 0;
	int		 want;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/%s",
	    top != NULL ? top : ".", name);
	dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: not there (top_srcdir=%s)", path,
	    top != NULL ? top : "(unset)");
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/%s/%s",
		    top != NULL ? top : ".", name, de->d_name);
		t = unit_slurp(path, &len);
		snprintf(ctx, sizeof(ctx), "%s", path);
		want = ANY;
		if (agree(t, len, ANY) != REFUSED && plain(t, len)) {
			want = FAST;
			(*nfast)++;
		}
		agree(t, len, want);
		if (pool != NULL)
			pool_add(pool, t, len);
		for (line = t; line < t + len; line = nl + 1) {
			if ((nl = memchr(line, '\n', (size_t)(t + len - line)))
			    == NULL)
				nl = t + len;
			snprintf(ctx, sizeof(ctx), "%s, line at byte %td",
			    path, line - t);
			if (agree(line, (size_t)(nl - line), ANY) != REFUSED &&
			    plain(line, (size_t)(nl - line)))
				agree(line, (size_t)(nl - line), FAST);
			if (pool != NULL && nl - line != (ptrdiff_t)len)
				pool_add(pool, line, (size_t)(nl - line));
		}
		free(t);
		n++;
	}
	closedir(dir);
	return (n);
}

START_TEST(test_corpus)
{
	size_t	nfast = 0, n;

	n = corpus("req", NULL, &nfast);
	ck_assert_msg(n >= 10 && nfast >= 10, "corpus/req: %zu files, %zu "
	    "read fast", n, nfast);
	n = corpus("jread", NULL, &nfast);
	ck_assert_msg(n >= 10, "corpus/jread: %zu files", n);
}
END_TEST

static const unsigned char	interesting[] = "{}[]\",:\\/ \t\r\n"
    "0123456789-+.eEtrufalsn\x00\x01\x1f\x7f\x80\xc3\xa9\xff";

static size_t
mutate(struct sbuf *b, const struct pool *p)
{
	size_t	ops = 1 + rnd(3), at, n, from, src;
	char	c;

	while (ops-- > 0) {
		at = rnd(b->len + 1);
		switch (rnd(10)) {
		case 0:		/* flip a bit */
			if (b->len > 0)
				b->buf[rnd(b->len)] ^= (char)(1 << rnd(8));
			break;
		case 1:		/* a byte becomes one that matters */
			if (b->len > 0)
				b->buf[rnd(b->len)] = (char)interesting[
				    rnd(sizeof(interesting) - 1)];
			break;
		case 2:		/* insert a few */
			for (n = 1 + rnd(4); n > 0; n--) {
				c = (char)interesting[rnd(sizeof(interesting) - 1)];
				sbuf_add(b, &c, 1);
				memmove(b->buf + at + 1, b->buf + at,
				    b->len - 1 - at);
				b->buf[at] = c;
			}
			break;
		case 3:		/* delete a few */
			n = 1 + rnd(4);
			if (at + n > b->len)
				n = b->len - at;
			memmove(b->buf + at, b->buf + at + n, b->len - at - n);
			b->len -= n;
			break;
		case 4:		/* splice in a piece of another text */
		case 5:		/* or of this one: a name twice, say */
			src = rnd(p->n);
			if (p->len[src] == 0)
				break;
			from = rnd(p->len[src]);
			n = 1 + rnd(p->len[src] - from < 24 ?
			    p->len[src] - from : 24);
			{
				char	tmp[24];

				if (rnd(2) == 0 && b->len > 0) {
					from = rnd(b->len);
					if (n > b->len - from)
						n = b->len - from;
					memcpy(tmp, b->buf + from, n);
				} else
					memcpy(tmp, p->t[src] + from, n);
				sbuf_add(b, tmp, n);
				memmove(b->buf + at + n, b->buf + at,
				    b->len - n - at);
				memcpy(b->buf + at, tmp, n);
			}
			break;
		case 6:		/* cut the text short */
			b->len = at;
			break;
		default:	/* a letter or digit becomes another */
			for (n = 0; n < 8 && b->len > 0; n++) {
				at = rnd(b->len);
				c = b->buf[at];
				if (c >= '0' && c <= '9') {
					b->buf[at] = (char)('0' + rnd(10));
					break;
				}
				if ((c >= 'a' && c <= 'z') ||
				    (c >= 'A' && c <= 'Z')) {
					b->buf[at] = rnd(8) == 0 ?
					    " ~-_.\\/\"e"[rnd(10)] :	/* [9]: NUL */
					    (char)('a' + rnd(26));
					break;
				}
			}
			break;
		}
	}
	return (b->len);
}

/* Texts a byte or a few away from the known ones: the two still agree. */
START_TEST(test_mutations)
{
	struct pool	 p = { NULL, NULL, 0, 0 };
	struct sbuf	 b = { NULL, 0, 0 };
	size_t		 i, k, n, nfast = 0, took[3] = { 0, 0, 0 };

	for (i = 0; i < sizeof(fast_cases) / sizeof(fast_cases[0]); i++)
		pool_add(&p, fast_cases[i].text, fast_cases[i].len);
	for (i = 0; i < sizeof(fallback_cases) / sizeof(fallback_cases[0]);
	    i++)
		pool_add(&p, fallback_cases[i].text, fallback_cases[i].len);
	for (i = 0; i < sizeof(refused_cases) / sizeof(refused_cases[0]); i++)
		pool_add(&p, refused_cases[i].text, refused_cases[i].len);
	corpus("req", &p, &nfast);
	corpus("jread", &p, &nfast);

	rng = seed;
	n = MUTATIONS * rounds;
	for (i = 0; i < n; i++) {
		k = rnd(p.n);
		b.len = 0;
		sbuf_add(&b, p.t[k], p.len[k]);
		mutate(&b, &p);
		snprintf(ctx, sizeof(ctx), "mutation %zu of seed %#llx (of "
		    "text %zu)", i, (unsigned long long)seed, k);
		took[agree(b.buf, b.len, ANY)]++;
	}
	free(b.buf);
	pool_free(&p);
	fprintf(stderr, "test_jread: %zu mutations: %zu fast, %zu fallback, "
	    "%zu refused\n", n, took[FAST], took[FALLBACK], took[REFUSED]);
	ck_assert_msg(took[FAST] > n / 20 && took[FALLBACK] > n / 200 &&
	    took[REFUSED] > n / 4, "mutations: %zu fast, %zu fallback, "
	    "%zu refused", took[FAST], took[FALLBACK], took[REFUSED]);
}
END_TEST

static const struct jr_val *
must_get(const struct jr_val *o, const char *name)
{
	const struct jr_val	*v = jr_get(o, name);

	ck_assert_msg(v != NULL, "no member %s", name);
	return (v);
}

/* The values themselves, without jansson to say what they are. */
START_TEST(test_values)
{
	struct jr_doc		 d;
	json_error_t		 err;
	const struct jr_val	*r, *v, *c;
	const char		*s;
	int			 i;

	memset(&d, 0, sizeof(d));
	/* One doc, read again and again. */
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(jr_read(&d, CHECK_FULL, strlen(CHECK_FULL),
		    &err), 0);
		ck_assert(!d.fallback);
		r = &d.v[0];
		ck_assert_int_eq(r->type, JR_OBJECT);
		ck_assert_int_eq(r->len, 8);
		ck_assert_uint_eq(r->span, d.n);
		ck_assert_str_eq(must_get(r, "op")->s, "check");
		ck_assert_uint_eq(must_get(r, "op")->len, 5);
		v = must_get(must_get(must_get(r, "referrer"),
		    "device"), "ua");
		ck_assert_str_eq(v->s,
		    "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0");
		v = must_get(must_get(r, "reward"), "amount");
		ck_assert_int_eq(v->type, JR_REAL);
		ck_assert(v->d == 12.5);
		v = must_get(must_get(r, "meta"), "free");
		ck_assert_int_eq(v->type, JR_ARRAY);
		ck_assert_int_eq(v->len, 3);
		c = v + 1;
		ck_assert(c->type == JR_INTEGER && c->i == 1 && c->key == NULL);
		c += c->span;
		ck_assert(c->type == JR_INTEGER && c->i == 2);
		c += c->span;
		ck_assert(c->type == JR_OBJECT &&
		    must_get(c, "x")->type == JR_NULL);
		ck_assert_ptr_null(jr_get(r, "nope"));
		ck_assert_ptr_null(jr_get(v, "free"));	/* an array */
		ck_assert_ptr_null(jr_get(NULL, "op"));
		jr_done(&d);
	}

	s = "[-0.0,1e-400,-0,1E-5,-123456789012345678,"
	    "\"a\\/\\\"\\\\\\b\\f\\n\\r\\t\"]";
	ck_assert_int_eq(jr_read(&d, s, strlen(s), &err), 0);
	ck_assert(!d.fallback);
	ck_assert_int_eq(d.v[0].len, 6);
	ck_assert(d.v[1].type == JR_REAL && d.v[1].d == 0 &&
	    signbit(d.v[1].d));
	ck_assert(d.v[2].type == JR_REAL && d.v[2].d == 0 &&
	    !signbit(d.v[2].d));
	ck_assert(d.v[3].type == JR_INTEGER && d.v[3].i == 0);
	ck_assert(d.v[4].type == JR_REAL && d.v[4].d == 1e-5);
	ck_assert(d.v[5].type == JR_INTEGER &&
	    d.v[5].i == -123456789012345678LL);
	ck_assert(d.v[6].type == JR_STRING && d.v[6].len == 9 &&
	    memcmp(d.v[6].s, "a/\"\\\b\f\n\r\t", 10) == 0);
	jr_done(&d);

	s = "{\"\\u00e9\":\"\\ud83d\\ude00\",\"n\":9223372036854775807}";
	ck_assert_int_eq(jr_read(&d, s, strlen(s), &err), 0);
	ck_assert(d.fallback);
	ck_assert_int_eq(d.v[0].len, 2);
	ck_assert_str_eq(d.v[1].key, "\xc3\xa9");
	ck_assert(d.v[1].len == 4 &&
	    strcmp(d.v[1].s, "\xf0\x9f\x98\x80") == 0);
	ck_assert(must_get(&d.v[0], "n")->i == INT64_MAX);
	jr_done(&d);

	ck_assert_int_eq(jr_read(&d, "{\"a\":1,\"a\":2}", 13, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.text, "duplicate"));
	ck_assert_int_eq(jr_read(&d, "[1e400]", 7, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.text, "overflow"));
	ck_assert_int_eq(jr_read(&d, "[\"\\u0000\"]", 10, &err), -1);
	ck_assert_int_eq(jr_read(&d, "", 0, &err), -1);
	ck_assert_int_eq(jr_read(&d, "{}", 2, &err), 0);
	ck_assert(d.n == 1 && d.v[0].type == JR_OBJECT && d.v[0].len == 0 &&
	    d.v[0].span == 1);
	jr_done(&d);
}
END_TEST

/* The comparison itself: a doc unlike jansson's tree does not pass. */
START_TEST(test_cmp_catches)
{
	static const struct {
		const char	*jr, *js;
	} unlike[] = {
		{ "[1]", "[2]" },
		{ "[1]", "[1.0]" },
		{ "[1.0]", "[1]" },
		{ "[0.0]", "[-0.0]" },
		{ "[0.1]", "[0.10000000000000002]" },
		{ "[-123456789012345678]", "[-123456789012345677]" },
		{ "[true]", "[false]" },
		{ "[null]", "[false]" },
		{ "[\"ab\"]", "[\"ac\"]" },
		{ "[\"ab\"]", "[\"abc\"]" },
		{ "[\"a\"]", "[\"a\\u0000\"]" },	/* a byte past the NUL */
		{ "[\"\"]", "[null]" },
		{ "{\"a\":1}", "{\"b\":1}" },
		{ "{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}" },
		{ "{\"a\":1}", "[1]" },
		{ "[1,2]", "[1,2,3]" },
		{ "[1,2,3]", "[1,2]" },
		{ "[[1],2]", "[[1,2]]" },
		{ "[{}]", "[[]]" },
		{ "{\"a\":[]}", "[]" },
		{ "{\"a\":{\"b\":[1,{\"c\":\"x\"}]}}",
		    "{\"a\":{\"b\":[1,{\"c\":\"y\"}]}}" },
	};
	struct jr_doc	 d;
	json_error_t	 err;
	json_t		*t;
	char		 why[512];
	size_t		 i;
	int		 k;
	const char	*s = "{\"a\":[1,2],\"b\":\"xy\"}";

	memset(&d, 0, sizeof(d));
	for (i = 0; i < sizeof(unlike) / sizeof(unlike[0]); i++) {
		ck_assert_int_eq(jr_read(&d, unlike[i].jr, strlen(unlike[i].jr),
		    &err), 0);
		t = json_loads(unlike[i].jr, JSON_REJECT_DUPLICATES, &err);
		ck_assert_msg(jread_cmp(&d, t, why, sizeof(why)) == 0,
		    "%s: %s", unlike[i].jr, why);
		json_decref(t);
		t = json_loads(unlike[i].js, JSON_REJECT_DUPLICATES |
		    JSON_ALLOW_NUL, &err);
		ck_assert_msg(t != NULL, "%s: %s", unlike[i].js, err.text);
		ck_assert_msg(jread_cmp(&d, t, why, sizeof(why)) == -1,
		    "%s passes for %s", unlike[i].jr, unlike[i].js);
		json_decref(t);
		jr_done(&d);
	}

	/* One value of a right doc made wrong: 0 obj, 1 [, 2 1, 3 2, 4 "xy" */
	t = json_loads(s, 0, &err);
	for (k = 0; k < 12; k++) {
		ck_assert_int_eq(jr_read(&d, s, strlen(s), &err), 0);
		ck_assert_int_eq(d.n, 5);
		switch (k) {
		case 0: break;
		case 1: d.v[0].len = 3; break;
		case 2: d.v[0].span = 4; break;
		case 3: d.v[1].span = 2; break;
		case 4: d.v[1].len = 1; break;
		case 5: d.v[2].i = 7; break;
		case 6: d.v[2].type = JR_REAL; break;
		case 7: d.v[1].key = "c"; break;
		case 8: d.v[4].key = NULL; break;
		case 9: d.v[2].key = "a"; break;
		case 10: d.v[4].len = 1; break;
		case 11: d.n = 4; break;
		}
		ck_assert_msg(jread_cmp(&d, t, why, sizeof(why)) ==
		    (k == 0 ? 0 : -1), "change %d: %s", k, k == 0 ? why :
		    "passes");
		jr_done(&d);
	}
	json_decref(t);

}
END_TEST

static Suite *
jread_suite(void)
{
	Suite	*s = suite_create("jread");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fast);
	tcase_add_test(tc, test_fallback);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_wide);
	tcase_add_test(tc, test_deep);
	tcase_add_test(tc, test_digits);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_cmp_catches);
	tcase_add_test(tc, test_corpus);
	tcase_add_test(tc, test_generated);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	const char	*e;

	if ((e = getenv("JREAD_SEED")) != NULL)
		seed = strtoull(e, NULL, 0);
	if ((e = getenv("JREAD_ROUNDS")) != NULL &&
	    (rounds = strtoul(e, NULL, 10)) == 0)
		rounds = 1;
	return (unit_run(jread_suite()));
}
