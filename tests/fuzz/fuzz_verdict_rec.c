/*
 * fuzz_verdict_rec.c: libFuzzer harness for the verdict record decoder
 * (verdict_rec.h): every replayed id, lookup, re-check, export and
 * backtest reads stored records through it. Linked with replay.c it is
 * a plain program that replays the saved corpus
 * (tests/fuzz/corpus/verdict_rec) under make check.
 *
 * Every part a decoded record points at lies inside the input; a record
 * that decodes encodes back (with a checksum) to one that decodes to the
 * same parts, and so does each of its re-checks.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verdict_rec.h"

#include "replay.h"

const char	fuzz_name[] = "verdict_rec";

static void
inside(const uint8_t *data, size_t len, const void *p, size_t n)
{
	const uint8_t	*q = p;

	if (n > 0 && (q < data || q > data + len || n > len ||
	    (size_t)(q - data) > len - n))
		abort();
}

static void
same(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen || (alen > 0 && memcmp(a, b, alen) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct verdict_rec	r, d;
	struct verdict_ver	v, w;
	struct verdict_ver_iter	ri, di;
	uint64_t		seq;
	uint8_t			*rec;
	size_t			n;
	unsigned		i;
	int			rc;

	if (verdict_rec_decode(data, len, &r) != 0)
		return (0);
	if (verdict_rec_seq(data, len, &seq) != 0 || seq != r.seq)
		abort();
	inside(data, len, r.reply, r.replylen);
	inside(data, len, r.explain, r.explainlen);
	inside(data, len, r.rechecks, r.rechecks_len);
	rec = verdict_rec_encode(&r, &n);
	if (verdict_rec_decode(rec, n, &d) != 0 || !d.summed ||
	    d.seq != r.seq || d.action != r.action || d.score != r.score ||
	    d.nrechecks != r.nrechecks)
		abort();
	same(r.reply, r.replylen, d.reply, d.replylen);
	same(r.explain, r.explainlen, d.explain, d.explainlen);
	verdict_ver_iter_init(&ri, &r);
	verdict_ver_iter_init(&di, &d);
	for (i = 0; i < r.nrechecks; i++) {
		rc = verdict_ver_next(&ri, &v);
		/* The copy has a checksum: its replies are not judged. */
		if (verdict_ver_next(&di, &w) != 0)
			abort();
		if (rc != 0)	/* without a checksum a reply may be refused */
			continue;
		inside(data, len, v.reply, v.replylen);
		inside(data, len, v.delta, v.deltalen);
		inside(data, len, v.explain, v.explainlen);
		if (w.version != v.version || w.ts != v.ts)
			abort();
		same(v.reply, v.replylen, w.reply, w.replylen);
		same(v.delta, v.deltalen, w.delta, w.deltalen);
	}
	free(rec);
	return (0);
}
