/*
 * fuzz_rules.c: libFuzzer harness for the rule compiler (lexer, parser,
 * type checker, compiled form), and that their diagnostics stay linear
 * in the input. The corpus holds expressions at and past the nesting
 * bound and files of noise; run-fuzz.sh lets inputs grow to 256 KiB so
 * that mutations reach them. Linked with replay.c it is a
 * plain program that replays the saved corpus (tests/fuzz/corpus/rules,
 * or the files and directories named on the command line) under make
 * check.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"
#include "rules.h"
#include "util.h"

#include "replay.h"

const char	fuzz_name[] = "rules";

static struct ident	*fuzz_id;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ruleset	*rs;
	char		*diag = NULL;

	if (fuzz_id == NULL)
		fuzz_id = fuzz_ident_new();
	rs = rules_load_buf("fuzz.rules", (const char *)data, size, fuzz_id,
	    RULES_NOFILES, &diag);
	/* Diagnostics are capped: their text stays linear in the input. */
	if (diag != NULL && strlen(diag) > 64 * size + (256 << 10))
		abort();
	if (rs == NULL) {
		/* A refused set always says why. */
		if (diag == NULL || strstr(diag, "error") == NULL)
			abort();
	} else {
		if (strlen(rules_hash(rs)) != 32)
			abort();
		(void)rules_count(rs);
		rules_unref(rs);
	}
	free(diag);
	return (0);
}
