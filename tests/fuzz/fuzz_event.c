/*
 * fuzz_event.c: libFuzzer harness for the event record decoder
 * (rgev.h), which reads every event the store holds: an import file's
 * "rec", a damaged page. Linked with replay.c it is a plain program that
 * replays the saved corpus (tests/fuzz/corpus/event) under make check.
 *
 * What a record decodes to must encode to a record that decodes to an
 * event encoding to the same bytes again (one record per event: a
 * backtest sees what the check saw). The input itself need not come
 * back: bits the decoder drops and bytes after a NUL inside a string
 * are not kept.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rgev.h"

#include "replay.h"

const char	fuzz_name[] = "event";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct rg_event	ev, again;
	static uint8_t		rec[EVENT_REC_MAX], rec2[EVENT_REC_MAX];
	size_t			n;

	if (rgev_decode(data, len, &ev) != 0)
		return (0);
	n = rgev_encode(&ev, rec);
	if (rgev_decode(rec, n, &again) != 0)
		abort();
	if (n > EVENT_REC_MAX || rgev_encode(&again, rec2) != n ||
	    memcmp(rec, rec2, n) != 0)
		abort();
	return (0);
}
