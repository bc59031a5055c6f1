/*
 * fuzz_http_scan.c: libFuzzer harness for the HTTP request scanner
 * (http_scan.h), which reads every byte HTTP clients send. Linked with
 * replay.c it is a plain program that replays the saved corpus
 * (tests/fuzz/corpus/http_scan) under make check.
 *
 * The input is scanned whole, a byte at a time, and in pieces cut where
 * the input's own first byte says: the results must be the same (the
 * daemon gets bytes however the network splits them), and consistent
 * (complete <= started, a bad request is one that started, a status from
 * the documented set).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_scan.h"

#include "replay.h"

const char	fuzz_name[] = "http_scan";

static void
same(const struct http_scan *a, const struct http_scan *b)
{
	if (a->started != b->started || a->complete != b->complete ||
	    a->bad != b->bad || a->bad_status != b->bad_status ||
	    strcmp(a->bad_msg, b->bad_msg) != 0 ||
	    a->close_after != b->close_after)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct http_scan	whole, bytes, pieces;
	const char		*p = (const char *)data;
	size_t			 i, step;

	http_scan_init(&whole);
	http_scan(&whole, p, len);
	if (whole.complete > whole.started || whole.bad > whole.started ||
	    (whole.bad != 0 && whole.bad_status != 400 &&
	    whole.bad_status != 431 && whole.bad_status != 501) ||
	    (whole.bad != 0 && whole.bad_msg[0] == '\0') ||
	    whole.close_after > whole.started)
		abort();
	http_scan_init(&bytes);
	for (i = 0; i < len; i++)
		http_scan(&bytes, p + i, 1);
	same(&whole, &bytes);
	step = len > 0 ? (unsigned char)p[0] % 13 + 2 : 1;
	http_scan_init(&pieces);
	for (i = 0; i < len; i += step)
		http_scan(&pieces, p + i, len - i < step ? len - i : step);
	same(&whole, &pieces);
	return (0);
}
