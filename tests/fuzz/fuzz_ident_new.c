/*
 * fuzz_ident_new.c: the ident every harness that hashes uses, linked into
 * both the libFuzzer and the replay builds.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"

#include "replay.h"

/* A process-only secret (secret_file NULL): no file, nothing to clean up. */
struct ident *
fuzz_ident_new(void)
{
	struct ident_conf	 conf;
	struct ident		*id;
	char			*cause;

	memset(&conf, 0, sizeof(conf));
	conf.prefix4 = 24;
	conf.prefix6 = 64;
	if ((id = ident_new(&conf, &cause)) == NULL) {
		fprintf(stderr, "ident_new: %s\n", cause);
		exit(2);
	}
	return (id);
}
