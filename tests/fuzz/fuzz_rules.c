/*
 * fuzz_rules.c: libFuzzer harness for the rule compiler (lexer, parser,
 * type checker, compiled form). Built with -DFUZZ_REPLAY_MAIN it is a
 * plain program that replays the saved corpus (tests/fuzz/corpus/rules,
 * or the files and directories named on the command line) under make
 * check.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ident.h"
#include "rules.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct ident	*fuzz_id;
static char		 fuzz_dir[256];
static char		 fuzz_secret[300];

static void
fuzz_cleanup(void)
{
	ident_free(fuzz_id);
	unlink(fuzz_secret);
	rmdir(fuzz_dir);
}

static void
fuzz_init(void)
{
	struct ident_conf	 conf;
	const char		*tmp = getenv("TMPDIR");
	char			*cause;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz-rules.XXXXXX", tmp);
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(fuzz_secret, sizeof(fuzz_secret), "%s/secret", fuzz_dir);
	memset(&conf, 0, sizeof(conf));
	conf.secret_file = fuzz_secret;
	conf.prefix4 = 24;
	conf.prefix6 = 64;
	if ((fuzz_id = ident_new(&conf, &cause)) == NULL) {
		fprintf(stderr, "ident_new: %s\n", cause);
		exit(2);
	}
	atexit(fuzz_cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ruleset	*rs;
	char		*diag = NULL;

	if (fuzz_id == NULL)
		fuzz_init();
	rs = rules_load_buf("fuzz.rules", (const char *)data, size, fuzz_id,
	    RULES_NOFILES, &diag);
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

#ifdef FUZZ_REPLAY_MAIN
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
	buf = xmalloc((size_t)len + 1);
	if (len < 0 || fread(buf, 1, (size_t)len, f) != (size_t)len) {
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
		xasprintf(&dflt, "%s/tests/fuzz/corpus/rules",
		    top != NULL ? top : ".");
		if (fuzz_replay(dflt, &n) != 0)
			rc = 1;
		free(dflt);
	}
	printf("fuzz_rules: replayed %d input%s\n", n, n == 1 ? "" : "s");
	return (n == 0 ? 1 : rc);
}
#endif
