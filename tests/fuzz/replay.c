/*
 * replay.c: the plain main of every fuzz harness under make check. It
 * replays the saved corpus (tests/fuzz/corpus/NAME under $top_srcdir, or
 * the files and directories named on the command line) through the
 * harness's LLVMFuzzerTestOneInput. Exit 1 when an input cannot be read
 * or there is none; a harness that finds a bug aborts.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "replay.h"
#include "util.h"

static int
fuzz_replay_file(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 len;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return (-1);
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	if (len < 0) {
		fclose(f);
		return (-1);
	}
	buf = xmalloc((size_t)len + 1);
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		free(buf);
		return (-1);
	}
	fclose(f);
	LLVMFuzzerTestOneInput((const uint8_t *)buf, (size_t)len);
	free(buf);
	return (0);
}

static int
fuzz_replay(const char *path, int *n)
{
	struct dirent	*de;
	DIR		*d;
	char		*p;
	int		 rc = 0;

	if ((d = opendir(path)) == NULL) {
		(*n)++;
		return (fuzz_replay_file(path));
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&p, "%s/%s", path, de->d_name);
		if (fuzz_replay(p, n) != 0)
			rc = -1;
		free(p);
	}
	closedir(d);
	return (rc);
}

int
main(int argc, char **argv)
{
	const char	*top = getenv("top_srcdir");
	char		*dflt;
	int		 i, n = 0, rc = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (fuzz_replay(argv[i], &n) != 0)
				rc = 1;
	} else {
		xasprintf(&dflt, "%s/tests/fuzz/corpus/%s",
		    top != NULL ? top : ".", fuzz_name);
		if (fuzz_replay(dflt, &n) != 0)
			rc = 1;
		free(dflt);
	}
	printf("fuzz_%s: replayed %d input%s\n", fuzz_name, n,
	    n == 1 ? "" : "s");
	return (n == 0 ? 1 : rc);
}
