/*
 * fuzz_jread.c: libFuzzer harness for jread (src/jread.h). Linked with
 * replay.c it is a plain program that replays the saved corpus
 * (tests/fuzz/corpus/jread, or the files and directories named on the
 * command line) under make check.
 *
 * Beyond "no crash": jr_read agrees with json_loadb(JSON_REJECT_DUPLICATES)
 * on every input (jread_cmp.h): it reads exactly the texts jansson reads,
 * into jansson's values, and refuses the others with jansson's error.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jread_cmp.h"
#include "util.h"
#include "replay.h"

const char	fuzz_name[] = "jread";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		text[4096];
	char			why[1024];
	enum jread_took		took;

	if (jread_agree((const char *)data, size, &took, why,
	    sizeof(why)) != 0) {
		str_escape((const char *)data, size, text, sizeof(text));
		fprintf(stderr, "fuzz_jread: jr_read and json_loadb differ: "
		    "%s\n  text (%zu bytes): \"%s\"\n", why, size, text);
		abort();
	}
	return (0);
}
