/*
 * test_http_scan.c: the RFC 9112 checks of http_scan.h, each request fed
 * whole and a byte at a time (the answer must not depend on how the bytes
 * arrive).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "http_scan.h"
#include "unit.h"

/* Scan s whole into a, and a byte at a time into b; they must agree. */
static void
scan_both(const char *s, size_t len, struct http_scan *a)
{
	static struct http_scan	b;
	size_t			i;

	http_scan_init(a);
	http_scan(a, s, len);
	http_scan_init(&b);
	for (i = 0; i < len; i++)
		http_scan(&b, s + i, 1);
	ck_assert_uint_eq(a->started, b.started);
	ck_assert_uint_eq(a->complete, b.complete);
	ck_assert_uint_eq(a->bad, b.bad);
	ck_assert_int_eq(a->bad_status, b.bad_status);
	ck_assert_str_eq(a->bad_msg, b.bad_msg);
	ck_assert_uint_eq(a->close_after, b.close_after);
}

#define SCAN(lit, sc)	scan_both((lit), sizeof(lit) - 1, (sc))

static void
bad(const char *s, size_t len, unsigned which, int status, const char *msg)
{
	static struct http_scan	sc;

	scan_both(s, len, &sc);
	ck_assert_msg(sc.bad == which, "%.*s: bad request %u, want %u",
	    (int)len, s, sc.bad, which);
	ck_assert_int_eq(sc.bad_status, status);
	ck_assert_msg(strstr(sc.bad_msg, msg) != NULL, "%s: msg \"%s\"", s,
	    sc.bad_msg);
}

#define BAD(lit, which, status, msg) \
	bad((lit), sizeof(lit) - 1, (which), (status), (msg))

#define GET	"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

START_TEST(test_good)
{
	static struct http_scan	sc;

	SCAN(GET, &sc);
	ck_assert_uint_eq(sc.started, 1);
	ck_assert_uint_eq(sc.complete, 1);
	ck_assert_uint_eq(sc.bad, 0);
	ck_assert(!http_scan_partial(&sc));

	/* pipelined, bodies by Content-Length (twice the same is fine),
	 * HTTP/1.0 without Host, a partial one at the end */
	SCAN(GET "POST /v1/check HTTP/1.1\r\nHost: a\r\nContent-Length: 5"
	    "\r\ncontent-length:5\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n"
	    "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab", &sc);
	ck_assert_uint_eq(sc.started, 4);
	ck_assert_uint_eq(sc.complete, 3);
	ck_assert_uint_eq(sc.bad, 0);
	ck_assert(http_scan_partial(&sc));

	/* chunked: allowed, but the scan stops after its head */
	SCAN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n"
	    "\r\n5\r\nhello\r\n0\r\n\r\n" GET, &sc);
	ck_assert_uint_eq(sc.bad, 0);
	ck_assert_uint_eq(sc.close_after, 1);
	ck_assert_uint_eq(sc.started, 1);
}
END_TEST

START_TEST(test_bad)
{
	BAD("GET / HTTP/1.1\nHost: a\n\n", 1, 400, "bare LF");
	BAD(GET "GET / HTTP/1.1\r\nHost: a\n\r\n", 2, 400, "bare LF");
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 1, 400, "NUL");
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 1, 400, "CR");
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n", 1, 400,
	    "control");
	BAD("GET / HTTP/1.1\r\nX: a\r\n\r\n", 1, 400, "without a Host");
	BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 1, 400,
	    "more than one Host");
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 1, 400,
	    "folding");
	BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 1, 400, "header name");
	BAD("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 1, 400, "colon");
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
	    "Content-Length: 3\r\n\r\nabc", 1, 400, "two different");
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nab", 1,
	    400, "not a number");
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 1,
	    400, "not a number");
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
	    "99999999999999999999\r\n\r\n", 1, 400, "not a number");
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 1, 400, "both");
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 1,
	    501, "other than chunked");
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 1, 400, "more than one");
	BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 1,
	    400, "takes none");
	BAD("DELETE / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n", 1, 400, "takes none");
	BAD("\r\n" GET, 1, 400, "empty request line");
	BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 1, 400, "method target");
	BAD("GET / x HTTP/1.1\r\nHost: a\r\n\r\n", 1, 400, "HTTP/1.0 or");
	BAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 1, 400, "HTTP/1.0 or");
	BAD("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 1, 400, "method");
}
END_TEST

START_TEST(test_head_max)
{
	static char		buf[HTTP_SCAN_HEAD_MAX + 64];
	static struct http_scan	sc;
	size_t			n;

	/* a head of exactly the maximum passes; one byte more does not */
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: ");
	memset(buf + n, 'a', HTTP_SCAN_HEAD_MAX - n - 4);
	memcpy(buf + HTTP_SCAN_HEAD_MAX - 4, "\r\n\r\n", 4);
	scan_both(buf, HTTP_SCAN_HEAD_MAX, &sc);
	ck_assert_uint_eq(sc.bad, 0);
	ck_assert_uint_eq(sc.complete, 1);
	memmove(buf + HTTP_SCAN_HEAD_MAX - 3, buf + HTTP_SCAN_HEAD_MAX - 4, 4);
	buf[HTTP_SCAN_HEAD_MAX - 4] = 'a';
	bad(buf, HTTP_SCAN_HEAD_MAX + 1, 1, 431, "longer than");
}
END_TEST

static Suite *
http_scan_suite(void)
{
	Suite	*s = suite_create("http_scan");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_bad);
	tcase_add_test(tc, test_head_max);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(http_scan_suite()));
}
