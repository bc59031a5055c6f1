/* test_util.c: value parsers, time, escaping and the JSON string writer. */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jshape.h"
#include "sbuf.h"
#include "util.h"

#include "unit.h"

#define S(s)	(s), sizeof(s) - 1

/* ---- parse_duration ------------------------------------------------- */

/* cgroup v2 cpu.max: a quota per period, in whole CPUs rounded up. */
START_TEST(test_cpu_max)
{
	ck_assert_uint_eq(cpu_max_parse("max 100000\n"), 0);
	ck_assert_uint_eq(cpu_max_parse("100000 100000\n"), 1);
	ck_assert_uint_eq(cpu_max_parse("150000 100000\n"), 2);
	ck_assert_uint_eq(cpu_max_parse("50000 100000"), 1);
	ck_assert_uint_eq(cpu_max_parse("400000 100000\n"), 4);
	ck_assert_uint_eq(cpu_max_parse(""), 0);
	ck_assert_uint_eq(cpu_max_parse("x 100000"), 0);
	ck_assert_uint_eq(cpu_max_parse("100000 0"), 0);
	ck_assert_uint_eq(cpu_max_parse("100000"), 0);
	ck_assert_uint_ge(cpus_usable(64), 1);
	ck_assert_uint_le(cpus_usable(1), 1);
}
END_TEST

/* A large table is zeroed, writable to its last byte, and freed. */
START_TEST(test_calloc_large)
{
	size_t		 n = 3 * 1024 * 1024 + 7, i;
	unsigned char	*p = xcalloc_large(n, 1), *z;
	uint64_t	*w = xcalloc_large(5, sizeof(*w));

	for (i = 0; i < n; i += 4093)
		ck_assert_uint_eq(p[i], 0);
	ck_assert_uint_eq(p[n - 1], 0);
	p[0] = 1;
	p[n - 1] = 2;
	ck_assert_uint_eq(p[0] + p[n - 1], 3);
	for (i = 0; i < 5; i++)
		ck_assert_uint_eq(w[i], 0);
	xfree_large(p, n, 1);
	xfree_large(w, 5, sizeof(*w));
	z = xcalloc_large(0, 8);	/* an empty table is one byte */
	ck_assert_ptr_nonnull(z);
	xfree_large(z, 0, 8);
	xfree_large(NULL, 4, 4);
}
END_TEST

START_TEST(test_duration_units)
{
	static const struct {
		const char	*in;
		int64_t		 ms;
	} ok[] = {
		{ "250ms", 250 }, { "30s", 30000 }, { "15m", 900000 },
		{ "1h", 3600000 }, { "7d", 604800000 }, { "2w", 1209600000 },
		{ "0", 0 }, { "0s", 0 }, { "45", 45000 }, { "1H", 3600000 },
		{ "10MS", 10 }, { "000012s", 12000 },
		/* The largest bare second count that fits. */
		{ "9223372036854775", 9223372036854775000LL },
		{ "9223372036854775807ms", INT64_MAX },
	};
	size_t	i;
	int64_t	ms;

	for (i = 0; i < nitems(ok); i++) {
		ms = -7;
		ck_assert_msg(parse_duration(ok[i].in, &ms) == 0, "'%s' refused",
		    ok[i].in);
		ck_assert_msg(ms == ok[i].ms, "'%s' = %lld, want %lld",
		    ok[i].in, (long long)ms, (long long)ok[i].ms);
	}
}
END_TEST

START_TEST(test_duration_bad)
{
	static const char *const bad[] = {
		"", "s", "ms", "-1", "+5s", " 5s", "5s ", "5 s", "1.5h", "5x",
		"5sec", "5ss", "1y", "0x10", "5e3", "abc", "5m5s",
		/* Overflow: bare seconds, units, and past INT64_MAX. */
		"9223372036854776", "9223372036854775808ms",
		"18446744073709551616ms", "99999999999999999999",
		"106751991167301w", "15250284452472d",
	};
	size_t	i;
	int64_t	ms = 12345;

	for (i = 0; i < nitems(bad); i++) {
		ck_assert_msg(parse_duration(bad[i], &ms) == -1,
		    "'%s' accepted as %lld", bad[i], (long long)ms);
		ck_assert_int_eq(ms, 12345);	/* untouched on error */
	}
}
END_TEST

/* ---- parse_size, parse_bool ----------------------------------------- */

START_TEST(test_size)
{
	static const struct {
		const char	*in;
		uint64_t	 v;
	} ok[] = {
		{ "0", 0 }, { "4096", 4096 }, { "64k", 65536 },
		{ "64K", 65536 }, { "64kb", 65536 }, { "512m", 512ULL << 20 },
		{ "1g", 1ULL << 30 }, { "1GB", 1ULL << 30 },
		{ "2t", 2ULL << 40 }, { "16777215t", 16777215ULL << 40 },
		{ "18446744073709551599", 18446744073709551599ULL },
	};
	static const char *const bad[] = {
		"", "k", "-1", "1.5g", "1p", "1kib", "1 k", " 1", "0x10",
		"16777216t", "17179869184g", "18446744073709551616",
		"99999999999999999999",
	};
	uint64_t	v;
	size_t		i;

	for (i = 0; i < nitems(ok); i++) {
		ck_assert_msg(parse_size(ok[i].in, &v) == 0, "'%s' refused",
		    ok[i].in);
		ck_assert_msg(v == ok[i].v, "'%s' = %llu", ok[i].in,
		    (unsigned long long)v);
	}
	for (i = 0; i < nitems(bad); i++)
		ck_assert_msg(parse_size(bad[i], &v) == -1, "'%s' accepted",
		    bad[i]);
}
END_TEST

START_TEST(test_bool)
{
	static const char *const yes[] = { "yes", "YES", "true", "True",
	    "on", "ON", "1" };
	static const char *const no[] = { "no", "No", "false", "FALSE",
	    "off", "Off", "0" };
	static const char *const bad[] = { "", "y", "n", "2", "yes ",
	    "enable", "01", "t" };
	size_t	i;
	bool	b;

	for (i = 0; i < nitems(yes); i++) {
		b = false;
		ck_assert_int_eq(parse_bool(yes[i], &b), 0);
		ck_assert_msg(b, "'%s' is not true", yes[i]);
	}
	for (i = 0; i < nitems(no); i++) {
		b = true;
		ck_assert_int_eq(parse_bool(no[i], &b), 0);
		ck_assert_msg(!b, "'%s' is not false", no[i]);
	}
	for (i = 0; i < nitems(bad); i++)
		ck_assert_msg(parse_bool(bad[i], &b) == -1, "'%s' accepted",
		    bad[i]);
}
END_TEST

/* ---- RFC 3339 ------------------------------------------------------- */

static int64_t
rfc(const char *s)
{
	int64_t	ms = INT64_MIN;

	ck_assert_msg(parse_rfc3339(s, strlen(s), &ms) == 0, "'%s' refused", s);
	return (ms);
}

START_TEST(test_rfc3339_good)
{
	ck_assert_int_eq(rfc("1970-01-01T00:00:00Z"), 0);
	ck_assert_int_eq(rfc("2026-11-23T10:00:00Z"), 1795428000000LL);
	ck_assert_int_eq(rfc("2026-11-23t10:00:00z"), 1795428000000LL);
	ck_assert_int_eq(rfc("2026-11-23T10:00:00.5Z"), 1795428000500LL);
	ck_assert_int_eq(rfc("2026-11-23T10:00:00.123Z"), 1795428000123LL);
	/* Digits past milliseconds are dropped, not rounded. */
	ck_assert_int_eq(rfc("2026-11-23T10:00:00.123999999Z"),
	    1795428000123LL);
	ck_assert_int_eq(rfc("2026-11-23T11:00:00+01:00"), 1795428000000LL);
	ck_assert_int_eq(rfc("2026-11-23T04:30:00-05:30"), 1795428000000LL);
	ck_assert_int_eq(rfc("2026-11-23T10:00:00+00:00"), 1795428000000LL);
	ck_assert_int_eq(rfc("2026-11-23T10:00:00-00:00"), 1795428000000LL);
	ck_assert_int_eq(rfc("2026-11-23T12:00:00.250+02:00"),
	    1795428000250LL);
	/* Leap days. */
	ck_assert_int_eq(rfc("2024-02-29T00:00:00Z"), 1709164800000LL);
	ck_assert_int_eq(rfc("2000-02-29T12:34:56Z"), 951827696000LL);
	ck_assert_int_eq(rfc("9999-12-31T23:59:59Z"), 253402300799000LL);
	/* Before the epoch. */
	ck_assert_int_eq(rfc("1969-12-31T23:59:59.999Z"), -1);
	/* A leap second is the last moment of its minute. */
	ck_assert_int_eq(rfc("2016-12-31T23:59:60Z"),
	    rfc("2016-12-31T23:59:59Z"));
}
END_TEST

START_TEST(test_rfc3339_bad)
{
	static const char *const bad[] = {
		"", "2026", "2026-11-23", "2026-11-23T10:00:00",
		"2026-11-23T10:00Z", "2026-11-23T10:00:00ZZ",
		"2026-11-23T10:00:00 Z", "2026/11/23T10:00:00Z",
		"2026-11-23X10:00:00Z", "26-11-23T10:00:00Z",
		"2026-1-23T10:00:00Z", "2026-11-23T10:00:00.Z",
		"2026-11-23T10:00:00,5Z", "2026-11-23T10:00:00+0100",
		"2026-11-23T10:00:00+01", "2026-11-23T10:00:00+01:00Z",
		"2026-11-23T10:00:00+24:00", "2026-11-23T10:00:00+01:60",
		"2026-11-23T10:00:00+1:00", "2026-11-23T10:00:00UTC",
		"2026-00-10T10:00:00Z", "2026-13-10T10:00:00Z",
		"2026-11-00T10:00:00Z", "2026-11-31T10:00:00Z",
		"2026-04-31T10:00:00Z", "2026-11-23T24:00:00Z",
		"2026-11-23T10:60:00Z", "2026-11-23T10:00:61Z",
		/* Leap days only in leap years. */
		"2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z", "2024-02-30T00:00:00Z",
		"-026-11-23T10:00:00Z", "2026-11-23T1a:00:00Z",
		"2026-11-23T10:00:00.12a3Z",
	};
	size_t	i;
	int64_t	ms = 99;

	for (i = 0; i < nitems(bad); i++) {
		ck_assert_msg(parse_rfc3339(bad[i], strlen(bad[i]), &ms) == -1,
		    "'%s' accepted as %lld", bad[i], (long long)ms);
		ck_assert_int_eq(ms, 99);
	}
}
END_TEST

START_TEST(test_rfc3339_len)
{
	/* len bounds the parse: the text need not be NUL-terminated. */
	const char	*s = "2026-11-23T10:00:00Zjunk";
	char		 buf[20];
	int64_t		 ms;

	ck_assert_int_eq(parse_rfc3339(s, 20, &ms), 0);
	ck_assert_int_eq(ms, 1795428000000LL);
	ck_assert_int_eq(parse_rfc3339(s, 21, &ms), -1);
	ck_assert_int_eq(parse_rfc3339(s, 19, &ms), -1);
	memcpy(buf, s, 20);	/* no NUL anywhere */
	ck_assert_int_eq(parse_rfc3339(buf, sizeof(buf), &ms), 0);
	ck_assert_int_eq(parse_rfc3339("2026-11-23T10:00:00.", 20, &ms), -1);
}
END_TEST

START_TEST(test_rfc3339_roundtrip)
{
	static const int64_t times[] = {
		0, 1, 999, 1000, 1795428000123LL, 951827696000LL,
		1709164800000LL, 253402300799999LL, -1, -999, -1000, -1001,
		-86400000LL, -62135596800000LL /* 0001-01-01 */,
	};
	char		buf[RFC3339_LEN];
	int64_t		ms;
	size_t		i;

	ck_assert_str_eq(fmt_rfc3339(1795428000123LL, buf),
	    "2026-11-23T10:00:00.123Z");
	ck_assert_str_eq(fmt_rfc3339(0, buf), "1970-01-01T00:00:00.000Z");
	ck_assert_str_eq(fmt_rfc3339(-1, buf), "1969-12-31T23:59:59.999Z");
	ck_assert_str_eq(fmt_rfc3339(253402300799999LL, buf),
	    "9999-12-31T23:59:59.999Z");
	for (i = 0; i < nitems(times); i++) {
		fmt_rfc3339(times[i], buf);
		ck_assert_uint_eq(strlen(buf), RFC3339_LEN - 1);
		ck_assert_msg(parse_rfc3339(buf, strlen(buf), &ms) == 0,
		    "'%s' refused", buf);
		ck_assert_msg(ms == times[i], "%lld -> '%s' -> %lld",
		    (long long)times[i], buf, (long long)ms);
	}
	/* And text -> ms -> text for a spread of days. */
	for (ms = 1700000000000LL; ms < 1700000000000LL + 800 * 86400000LL;
	    ms += 86400000LL + 3723001) {
		int64_t	back;

		fmt_rfc3339(ms, buf);
		ck_assert_int_eq(parse_rfc3339(buf, strlen(buf), &back), 0);
		ck_assert_int_eq(back, ms);
	}
	/* The calendar, against the C library's, 1900 to 2400 (leap rules). */
	for (ms = -2208988800000LL; ms < 13569465600000LL;
	    ms += 3 * 86400000LL + 3723001) {
		struct tm	tm;
		int64_t		sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
		time_t		t = (time_t)sec;
		char		want[64];

		gmtime_r(&t, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d."
		    "%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - sec * 1000));
		ck_assert_str_eq(fmt_rfc3339(ms, buf), want);
	}
}
END_TEST

/* ---- str_escape ----------------------------------------------------- */

START_TEST(test_escape)
{
	char	buf[64];

	ck_assert_str_eq(str_escape(S("plain text"), buf, sizeof(buf)),
	    "plain text");
	ck_assert_str_eq(str_escape(S("a\"b\\c"), buf, sizeof(buf)),
	    "a\\\"b\\\\c");
	ck_assert_str_eq(str_escape(S("\n\t\x01\x7f\xff"), buf, sizeof(buf)),
	    "\\x0a\\x09\\x01\\x7f\\xff");
	/* A NUL byte inside the input is escaped, not the end. */
	ck_assert_str_eq(str_escape(S("a\0b"), buf, sizeof(buf)), "a\\x00b");
	ck_assert_str_eq(str_escape(S(""), buf, sizeof(buf)), "");
	/* UTF-8 is bytes to a log line. */
	ck_assert_str_eq(str_escape(S("\xc3\xa9"), buf, sizeof(buf)),
	    "\\xc3\\xa9");
}
END_TEST

/*
 * One code point at a time: each valid length, and every way a sequence
 * is not UTF-8 (a stray continuation byte, a cut sequence, an overlong
 * form, a surrogate, beyond U+10FFFF) gives 0; utf8_valid stops there.
 */
START_TEST(test_utf8)
{
	static const struct {
		const char	*s;
		size_t		 n;
		uint32_t	 cp;
	} good[] = {
		{ "a", 1, 'a' }, { "\xc3\xa9", 2, 0xe9 },
		{ "\xe2\x82\xac", 3, 0x20ac }, { "\xf0\x9f\x98\x80", 4, 0x1f600 },
		{ "\xf4\x8f\xbf\xbf", 4, 0x10ffff }, { "\xed\x9f\xbf", 3, 0xd7ff },
		{ "\xee\x80\x80", 3, 0xe000 }, { "\xf0\x90\x80\x80", 4, 0x10000 },
	}, bad[] = {
		{ "\x80", 0, 0 }, { "\xc3", 0, 0 }, { "\xe2\x82", 0, 0 },
		{ "\xc0\x80", 0, 0 }, { "\xe0\x80\x80", 0, 0 },
		{ "\xf0\x80\x80\x80", 0, 0 }, { "\xed\xa0\x80", 0, 0 },
		{ "\xf4\x90\x80\x80", 0, 0 }, { "\xc3" "a", 0, 0 }, { "\xff", 0, 0 },
		{ "\xc1\xbf", 0, 0 }, { "\xf5\x80\x80\x80", 0, 0 },
	};
	uint32_t	cp;
	size_t		i;

	for (i = 0; i < nitems(good); i++) {
		cp = 0;
		ck_assert_uint_eq(utf8_next(good[i].s, strlen(good[i].s), &cp),
		    good[i].n);
		ck_assert_uint_eq(cp, good[i].cp);
	}
	for (i = 0; i < nitems(bad); i++)
		ck_assert_uint_eq(utf8_next(bad[i].s, strlen(bad[i].s), &cp),
		    0);
	ck_assert_uint_eq(utf8_next("", 0, &cp), 0);
	/* a length cuts a sequence the bytes go on with */
	ck_assert_uint_eq(utf8_next("\xe2\x82\xac", 2, &cp), 0);
	ck_assert_uint_eq(utf8_valid(S("caf\xc3\xa9")), 5);
	ck_assert_uint_eq(utf8_valid(S("caf\xc3\xa9\xed\xa0\x80ok")), 5);
	ck_assert_uint_eq(utf8_valid(S("ab\xe2\x82")), 2);
	ck_assert_uint_eq(utf8_valid(S("")), 0);
}
END_TEST

START_TEST(test_escape_truncate)
{
	char	big[300], buf[32];
	size_t	cap;

	memset(big, 'x', sizeof(big));
	for (cap = 1; cap <= sizeof(buf); cap++) {
		memset(buf, '#', sizeof(buf));
		str_escape(big, sizeof(big), buf, cap);
		ck_assert_uint_lt(strlen(buf), cap);
		if (cap >= 4)
			ck_assert_msg(strlen(buf) >= 3 &&
			    strcmp(buf + strlen(buf) - 3, "...") == 0,
			    "cap %zu: '%s' not marked truncated", cap, buf);
		/* Nothing written past cap. */
		if (cap < sizeof(buf))
			ck_assert_int_eq(buf[cap], '#');
	}
	/* Escapes are never cut in half. */
	memset(big, '\x01', 40);
	str_escape(big, 40, buf, sizeof(buf));
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
	ck_assert_str_eq(buf + strlen(buf) - 3, "...");
	ck_assert_uint_eq((strlen(buf) - 3) % 4, 0);
	/* Quotes likewise. */
	memset(big, '"', 40);
	str_escape(big, 40, buf, sizeof(buf));
	ck_assert_uint_eq((strlen(buf) - 3) % 2, 0);
	ck_assert_int_eq(buf[0], '\\');
}
END_TEST

START_TEST(test_escape_fits)
{
	/*
	 * Text that fits in cap is not truncated: an escaped JSON key of 60
	 * bytes in a 64-byte buffer must come back whole.
	 */
	char	in[64], buf[64];

	memset(in, 'k', 63);
	in[63] = '\0';
	ck_assert_str_eq(str_escape(in, 63, buf, sizeof(buf)), in);
	ck_assert_str_eq(str_escape(in, 60, buf, sizeof(buf)),
	    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
	ck_assert_str_eq(str_escape(S("abc"), buf, 8), "abc");
	ck_assert_str_eq(str_escape(S("abc"), buf, 4), "abc");
}
END_TEST

/* ---- sbuf ----------------------------------------------------------- */

static char *
jstr(const char *s, size_t n)
{
	struct sbuf	sb;

	sbuf_init(&sb, 0);
	sbuf_add_jstr(&sb, s, n);
	return (sbuf_take(&sb, NULL));
}

/* The literal parses as JSON and gives back want (wantlen bytes). */
static void
jstr_parses(const char *lit, const char *want, size_t wantlen)
{
	json_error_t	 e;
	json_t		*v;
	char		*doc;

	xasprintf(&doc, "[%s]", lit);
	v = json_loads(doc, JSON_ALLOW_NUL, &e);
	ck_assert_msg(v != NULL, "'%s': %s", doc, e.text);
	ck_assert(json_is_string(json_array_get(v, 0)));
	ck_assert_uint_eq(json_string_length(json_array_get(v, 0)), wantlen);
	ck_assert(memcmp(json_string_value(json_array_get(v, 0)), want,
	    wantlen) == 0);
	json_decref(v);
	free(doc);
}

START_TEST(test_jstr)
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*out;
		const char	*back;	/* what a JSON parser reads */
		size_t		 backlen;
	} t[] = {
		{ S("abc"), "\"abc\"", S("abc") },
		{ S(""), "\"\"", S("") },
		{ S("a\"b\\c/"), "\"a\\\"b\\\\c/\"", S("a\"b\\c/") },
		{ S("\n\r\t\x01\x1f"), "\"\\u000a\\u000d\\u0009\\u0001\\u001f\"",
		    S("\n\r\t\x01\x1f") },
		{ S("a\0b"), "\"a\\u0000b\"", S("a\0b") },
		/* Valid multibyte kept as is: 2, 3 and 4 bytes. */
		{ S("caf\xc3\xa9"), "\"caf\xc3\xa9\"", S("caf\xc3\xa9") },
		{ S("\xe2\x82\xac"), "\"\xe2\x82\xac\"", S("\xe2\x82\xac") },
		{ S("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"",
		    S("\xf0\x9f\x98\x80") },
		{ S("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"",
		    S("\xf4\x8f\xbf\xbf") },
		/* Invalid: one U+FFFD per bad byte. */
		{ S("\xff"), "\"\xef\xbf\xbd\"", S("\xef\xbf\xbd") },
		{ S("a\x80z"), "\"a\xef\xbf\xbdz\"", S("a\xef\xbf\xbdz") },
		{ S("\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\"",
		    S("\xef\xbf\xbd\xef\xbf\xbd") },	/* overlong '/' */
		{ S("\xe0\x80\xaf"),
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
		    S("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") },
		{ S("\xed\xa0\x80"),		/* a surrogate */
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
		    S("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") },
		{ S("\xf4\x90\x80\x80"),	/* past U+10FFFF */
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
		    S("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") },
		{ S("\xe2\x82"),		/* cut short */
		    "\"\xef\xbf\xbd\xef\xbf\xbd\"",
		    S("\xef\xbf\xbd\xef\xbf\xbd") },
		{ S("x\xc3"), "\"x\xef\xbf\xbd\"", S("x\xef\xbf\xbd") },
	};
	size_t	i;
	char	*s;

	for (i = 0; i < nitems(t); i++) {
		s = jstr(t[i].in, t[i].len);
		ck_assert_msg(strcmp(s, t[i].out) == 0, "case %zu: '%s'", i, s);
		jstr_parses(s, t[i].back, t[i].backlen);
		free(s);
	}
}
END_TEST

START_TEST(test_jstr_bounds)
{
	/* n bounds the read: a multibyte sequence cut by n is invalid. */
	char	*s = jstr("\xe2\x82\xac", 2);

	ck_assert_str_eq(s, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	free(s);
	s = jstr("abcdef", 3);
	ck_assert_str_eq(s, "\"abc\"");
	free(s);
}
END_TEST

START_TEST(test_sbuf_int)
{
	struct sbuf	sb;
	size_t		len;
	char		*s;

	sbuf_init(&sb, 0);
	sbuf_add_int(&sb, INT64_MIN);
	sbuf_addc(&sb, ' ');
	sbuf_add_int(&sb, INT64_MAX);
	sbuf_addc(&sb, ' ');
	sbuf_add_int(&sb, 0);
	sbuf_addc(&sb, ' ');
	sbuf_add_int(&sb, -1);
	sbuf_addc(&sb, ' ');
	sbuf_add_int(&sb, 1000);
	s = sbuf_take(&sb, &len);
	ck_assert_str_eq(s, "-9223372036854775808 9223372036854775807 0 -1 "
	    "1000");
	ck_assert_uint_eq(len, strlen(s));
	free(s);
}
END_TEST

/* Sizes and ages for people (data sets in the log and refguardctl). */
START_TEST(test_fmt_human)
{
	char	b[FMT_HUMAN_LEN];

	ck_assert_str_eq(fmt_bytes(0, b), "0 B");
	ck_assert_str_eq(fmt_bytes(1023, b), "1023 B");
	ck_assert_str_eq(fmt_bytes(1024, b), "1.0 KiB");
	ck_assert_str_eq(fmt_bytes(8291, b), "8.1 KiB");
	ck_assert_str_eq(fmt_bytes(11538766, b), "11 MiB");
	ck_assert_str_eq(fmt_bytes(7841291, b), "7.5 MiB");
	ck_assert_str_eq(fmt_bytes(INT64_MAX, b), "8388608 TiB");
	ck_assert_str_eq(fmt_age(-1, b), "-");
	ck_assert_str_eq(fmt_age(59, b), "0m");
	ck_assert_str_eq(fmt_age(3599, b), "59m");
	ck_assert_str_eq(fmt_age(3600, b), "1h");
	ck_assert_str_eq(fmt_age(2 * 86400 - 1, b), "47h");
	ck_assert_str_eq(fmt_age(2 * 86400, b), "2d");
	ck_assert_str_eq(fmt_age(14509115, b), "167d");
}
END_TEST

START_TEST(test_sbuf_grow)
{
	struct sbuf	sb;
	size_t		i, len;
	char		*s;

	sbuf_init(&sb, 1);
	for (i = 0; i < 1000; i++)
		sbuf_addf(&sb, "%03zu,", i);
	ck_assert_uint_eq(sb.len, 4000);
	ck_assert_uint_eq(strlen(sb.buf), 4000);
	ck_assert(memcmp(sb.buf + 3996, "999,", 4) == 0);
	sbuf_reset(&sb);
	ck_assert_uint_eq(sb.len, 0);
	ck_assert_str_eq(sb.buf, "");
	sbuf_adds(&sb, "x");
	s = sbuf_take(&sb, &len);
	ck_assert_str_eq(s, "x");
	ck_assert_ptr_null(sb.buf);
	free(s);
	/* A taken (or never initialised) buffer starts again on use. */
	sbuf_adds(&sb, "again");
	ck_assert_str_eq(sb.buf, "again");
	sbuf_free(&sb);
	memset(&sb, 0, sizeof(sb));
	s = sbuf_take(&sb, &len);
	ck_assert_str_eq(s, "");
	ck_assert_uint_eq(len, 0);
	free(s);
}
END_TEST

/* ---- file_open_regular, file_read_regular -------------------------- */

/*
 * Anything but a regular file is refused at once with a message naming
 * it and what it is; a FIFO with no writer never blocks the caller.
 */
/* jshape: any JSON text joins back to itself; values leave the shape. */
START_TEST(test_jshape_roundtrip)
{
	static const char *const texts[] = {
		"[]",
		"{\"rule\":\"a.b\",\"facts\":[{\"expr\":\"count(x) > 3\","
		    "\"result\":true,\"left\":{\"fn\":\"age\",\"value\":"
		    "\"113918400ms\",\"first_seen\":\"2026-11-03T11:14:27.798Z\""
		    ",\"to\":\"2026-11-02T11:14:27.000Z\"}}],\"score\":-40}",
		/* not canonical: stays text, joins back the same */
		"[0,-0,007,1.5,-2e3,9223372036854775807,-9223372036854775808,"
		    "9223372036854775808,\"01ms\",\"-0ms\",\"1.5ms\",\"ms\","
		    "\"2026-11-03T11:14:27Z\",\"2026-02-30T00:00:00.000Z\","
		    "\"2026-11-03t11:14:27.798Z\",\"1969-12-31T23:59:59.999Z\"]",
		"{\"s\":\"a\\\"b\\\\\",\"u\":\"\\u0001x\",\"k\" : \"v\" ,\n"
		    "\"n\":null,\"f\":false,\"e\":\"\"}",
		"[true,false,null,\"true\",\"null\"]",
	};
	struct sbuf	 shape, vals, out, back;
	size_t		 i, n;

	sbuf_init(&shape, 64);
	sbuf_init(&vals, 64);
	sbuf_init(&out, 64);
	for (i = 0; i < nitems(texts); i++) {
		n = strlen(texts[i]);
		sbuf_reset(&shape);
		sbuf_reset(&vals);
		sbuf_reset(&out);
		ck_assert_int_eq(jshape_split(texts[i], n, &shape, &vals), 0);
		ck_assert_int_eq(jshape_join(shape.buf, shape.len,
		    (const uint8_t *)vals.buf, vals.len, &out), 0);
		ck_assert_uint_eq(out.len, n);
		ck_assert_msg(memcmp(out.buf, texts[i], n) == 0, "%zu: %.*s",
		    i, (int)out.len, out.buf);
		/* one value too few or too many: refused */
		if (vals.len > 0) {
			sbuf_reset(&out);
			ck_assert_int_eq(jshape_join(shape.buf, shape.len,
			    (const uint8_t *)vals.buf, vals.len - 1, &out), -1);
		}
		sbuf_reset(&out);
		sbuf_addc(&vals, 0);
		ck_assert_int_eq(jshape_join(shape.buf, shape.len,
		    (const uint8_t *)vals.buf, vals.len, &out), -1);
	}
	/* The same facts with other values: the same shape. */
	sbuf_reset(&shape);
	sbuf_reset(&vals);
	ck_assert_int_eq(jshape_split(texts[1], strlen(texts[1]), &shape,
	    &vals), 0);
	ck_assert_ptr_null(memmem(shape.buf, shape.len, "2026", 4));
	ck_assert_ptr_null(memmem(shape.buf, shape.len, "113918400", 9));
	ck_assert_ptr_nonnull(memmem(shape.buf, shape.len, "count(x) > 3", 12));
	/* Times as fmt_rfc3339() writes them become values, and come back. */
	{
		static const int64_t edge[] = { 0, -1, 1, 86399999, 86400000,
		    -86400000, -62167219200000LL, 253402300799999LL,
		    951782400000LL, 4107542400000LL, 1795428000123LL };
		char		 buf[RFC3339_LEN];
		uint64_t	 x = 88172645463325252ULL;
		int64_t		 ms;
		int		 k;

		sbuf_reset(&out);
		sbuf_addc(&out, '[');
		for (k = 0; k < 2000; k++) {
			if (k < (int)nitems(edge))
				ms = edge[k];
			else {
				x ^= x << 13; x ^= x >> 7; x ^= x << 17;
				ms = (int64_t)(x % 253402300800000ULL) -
				    62167219200000LL;
			}
			sbuf_addf(&out, "%s\"%s\"", k ? "," : "",
			    fmt_rfc3339(ms, buf));
		}
		sbuf_addc(&out, ']');
		sbuf_reset(&shape);
		sbuf_reset(&vals);
		ck_assert_int_eq(jshape_split(out.buf, out.len, &shape, &vals),
		    0);
		ck_assert_ptr_null(memchr(shape.buf, '-', shape.len));
		n = out.len;
		sbuf_init(&back, n);
		ck_assert_int_eq(jshape_join(shape.buf, shape.len,
		    (const uint8_t *)vals.buf, vals.len, &back), 0);
		ck_assert_uint_eq(back.len, n);
		ck_assert(memcmp(back.buf, out.buf, n) == 0);
		sbuf_free(&back);
	}
	/* A marker byte is not JSON text. */
	ck_assert_int_eq(jshape_split("[\001]", 3, &shape, &vals), -1);
	ck_assert_int_eq(jshape_split("[\"abc]", 6, &shape, &vals), -1);
	sbuf_free(&shape);
	sbuf_free(&vals);
	sbuf_free(&out);
}
END_TEST

START_TEST(test_file_regular)
{
	char		 dir[] = "/tmp/rg-file.XXXXXX", path[300], link[300];
	char		*buf, *cause;
	struct stat	 sb;
	size_t		 len;
	int		 fd;

	ck_assert_int_eq(unit_tmpdir(dir), 0);
	snprintf(path, sizeof(path), "%s/f", dir);
	unit_write(path, "abc\n", 4);
	ck_assert_int_eq(file_read_regular(path, 0, 64, &buf, &len, &sb,
	    &cause), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_str_eq(buf, "abc\n");
	ck_assert_int_eq(sb.st_size, 4);
	free(buf);
	ck_assert_int_eq(file_read_regular(path, 0, 3, &buf, &len, &sb,
	    &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "larger than 3 bytes"));
	free(cause);

	/* a symbolic link: followed, unless FILE_NOFOLLOW */
	snprintf(link, sizeof(link), "%s/l", dir);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_ge(fd = file_open_regular(link, 0, &sb, &cause), 0);
	close(fd);
	ck_assert_int_eq(file_open_regular(link, FILE_NOFOLLOW, &sb, &cause),
	    -1);
	ck_assert_ptr_nonnull(strstr(cause, "a symbolic link"));
	free(cause);

	ck_assert_int_eq(file_open_regular(dir, 0, &sb, &cause), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(cause, "not a regular file (a "
	    "directory)"));
	free(cause);
	ck_assert_int_eq(file_open_regular("/dev/null", 0, &sb, &cause), -1);
	ck_assert_str_eq(cause, "/dev/null: not a regular file (a character "
	    "device)");
	free(cause);

	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(file_read_regular(path, 0, 64, &buf, &len, &sb,
	    &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "fifo: not a regular file (a "
	    "FIFO)"));
	free(cause);

	snprintf(path, sizeof(path), "%s/absent", dir);
	ck_assert_int_eq(file_open_regular(path, 0, &sb, &cause), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_nonnull(strstr(cause, "absent: No such file"));
	free(cause);
	ck_assert_int_eq(unit_rmrf(dir), 0);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_calloc_large);
	tcase_add_test(tc, test_duration_units);
	tcase_add_test(tc, test_duration_bad);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_bool);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_rfc3339_good);
	tcase_add_test(tc, test_rfc3339_bad);
	tcase_add_test(tc, test_rfc3339_len);
	tcase_add_test(tc, test_rfc3339_roundtrip);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_file_regular);
	tcase_add_test(tc, test_escape_truncate);
	tcase_add_test(tc, test_escape_fits);
	tcase_add_test(tc, test_jstr);
	tcase_add_test(tc, test_jstr_bounds);
	tcase_add_test(tc, test_sbuf_int);
	tcase_add_test(tc, test_sbuf_grow);
	tcase_add_test(tc, test_fmt_human);
	tcase_add_test(tc, test_jshape_roundtrip);
	tcase_add_test(tc, test_cpu_max);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(util_suite()));
}
