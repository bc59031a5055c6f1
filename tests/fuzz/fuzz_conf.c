/*
 * fuzz_conf.c: libFuzzer harness for the configuration parser
 * (conf_load). The input is written to a file and loaded. Linked with
 * replay.c it is a plain program that replays the saved corpus
 * (tests/fuzz/corpus/conf, or the files and directories named on the
 * command line) under make check.
 *
 * A refused file names itself in the message ("FILE:LINE: ..." or
 * "FILE: ..."); an accepted one has map_max >= map_size, absolute paths
 * and repeatable values that carry their file and line.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "util.h"

#include "replay.h"

const char	fuzz_name[] = "conf";

static char	fuzz_dir[256];
static char	fuzz_path[300];

static void
fuzz_cleanup(void)
{
	unlink(fuzz_path);
	rmdir(fuzz_dir);
}

static void
fuzz_init(void)
{
	const char	*tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz-conf.XXXXXX", tmp);
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(fuzz_path, sizeof(fuzz_path), "%s/refguard.conf", fuzz_dir);
	atexit(fuzz_cleanup);
}

static void
fuzz_abs(const char *p)
{
	if (p != NULL && p[0] != '/')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf	*c;
	FILE		*f;
	char		*cause = NULL;
	size_t		 i;

	if (fuzz_dir[0] == '\0')
		fuzz_init();
	if ((f = fopen(fuzz_path, "wb")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if ((c = conf_load(fuzz_path, &cause)) == NULL) {
		if (cause == NULL ||
		    strncmp(cause, fuzz_path, strlen(fuzz_path)) != 0 ||
		    cause[strlen(fuzz_path)] != ':')
			abort();
		free(cause);
		return (0);
	}
	if (cause != NULL || c->map_max < c->map_size ||
	    c->hash_secret_file == NULL)
		abort();
	fuzz_abs(c->socket_path);
	fuzz_abs(c->state_dir);
	fuzz_abs(c->rules_path);
	fuzz_abs(c->hash_secret_file);
	fuzz_abs(c->disposable_file);
	for (i = 0; i < c->ngeoip; i++) {
		fuzz_abs(c->geoip[i].val);
		if (strcmp(c->geoip[i].file, fuzz_path) != 0 ||
		    c->geoip[i].line < 1)
			abort();
	}
	for (i = 0; i < c->nemail_domains; i++)
		if (c->email_domains[i].val == NULL ||
		    c->email_domains[i].line < 1)
			abort();
	if (c->ip_prefix4 < 8 || c->ip_prefix4 > 32 || c->ip_prefix6 < 16 ||
	    c->ip_prefix6 > 128 || c->socket_mode > 0777)
		abort();
	conf_free(c);
	return (0);
}
