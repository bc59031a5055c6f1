/*
 * jread_cmp.h: jr_read (src/jread.h) held to its promise, shared by the
 * unit test (tests/unit/test_jread.c) and the fuzz harness
 * (tests/fuzz/fuzz_jread.c). On every text jr_read reads what
 * json_loadb(JSON_REJECT_DUPLICATES) reads and refuses what it refuses
 * (with jansson's error), and lays out jansson's values: the same types,
 * integers, doubles bit for bit, string bytes, member names in
 * json_object_foreach's order, counts and spans.
 */
#ifndef JREAD_CMP_H
#define JREAD_CMP_H

#include <stddef.h>

#include <jansson.h>

#include "jread.h"

/* How jr_read took a text. */
enum jread_took {
	JREAD_REFUSED,		/* -1, as json_loadb */
	JREAD_FAST,		/* its own reader */
	JREAD_FALLBACK,		/* jansson's tree, laid out */
};

/*
 * Whether doc d holds tree t value for value (jr_get and JR_FOREACH
 * included): 0, or -1 with the first difference and where it is in
 * why[whylen].
 */
int	jread_cmp(const struct jr_doc *, const json_t *, char *, size_t);

/*
 * Read text j[len] with jr_read and with json_loadb and compare: 0 with
 * how jr_read took it in *took when the two agree, -1 with what differs
 * in why[whylen] when not. Releases all it read either way.
 */
int	jread_agree(const char *, size_t, enum jread_took *, char *, size_t);


#endif
