/*
 * fuzz_export.c: libFuzzer harness for import (export.h), which reads
 * an export file line by line into an empty store: a file that was
 * edited, cut short or is not an export at all. Linked with replay.c it
 * is a plain program that replays the saved corpus
 * (tests/fuzz/corpus/export) under make check.
 *
 * Each input is imported into a fresh store (refused or not, nothing
 * crashes); a store an input was imported into exports, and that export
 * imports again into another fresh store, with as many records of each
 * kind (the analyst records too: corpus files aux-*).
 */
#include "config.h"

#include <sys/stat.h>

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "store.h"

#include "replay.h"

const char	fuzz_name[] = "export";

static char	tmpdir[] = "/tmp/rg-fuzz-export.XXXXXX";
static int	made;

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
rm_tmpdir(void)
{
	(void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh, empty store in a directory of its own. */
static struct store *
fresh_store(char *dir, size_t len)
{
	static unsigned		 n;
	struct store_opts	 o;
	struct store		*st;
	char			*cause = NULL;

	if (!made) {
		if (mkdtemp(tmpdir) == NULL)
			abort();
		atexit(rm_tmpdir);
		made = 1;
	}
	snprintf(dir, len, "%s/%u", tmpdir, n++);
	if (mkdir(dir, 0700) != 0)
		abort();
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.map_size = 1 << 20;
	o.map_max = 64 << 20;
	o.nosync = true;
	if ((st = store_open(&o, &cause)) == NULL) {
		fprintf(stderr, "fuzz_export: store_open: %s\n", cause);
		abort();
	}
	return (st);
}

static void
drop_store(struct store *st, const char *dir)
{
	char	path[600];

	store_close(st);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	(void)unlink(path);
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Import len bytes at data into a fresh store; the store, or NULL. */
static struct store *
import(const void *data, size_t len, char *dir, size_t dirlen)
{
	struct export_opts	 eo;
	struct export_counts	 counts;
	struct store		*st = fresh_store(dir, dirlen);
	char			*cause = NULL;
	FILE			*f;
	int			 rc;

	if (len == 0)
		f = fopen("/dev/null", "r");
	else
		f = fmemopen((void *)(uintptr_t)data, len, "r");
	if (f == NULL)
		abort();
	memset(&eo, 0, sizeof(eo));
	eo.since = INT64_MIN;
	eo.chunk = 2;		/* several batches from a short file */
	rc = export_import(st, f, "fuzz", &eo, &counts, &cause);
	fclose(f);
	if (rc != 0 && cause == NULL)
		abort();	/* a refusal says why */
	free(cause);
	if (rc != 0) {
		drop_store(st, dir);
		return (NULL);
	}
	return (st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct export_opts	 eo;
	struct export_counts	 counts, again;
	struct store		*st, *st2;
	char			 dir[300], dir2[300], *text = NULL;
	char			*cause = NULL;
	size_t			 tlen = 0;
	FILE			*f;

	if ((st = import(data, len, dir, sizeof(dir))) == NULL)
		return (0);
	memset(&eo, 0, sizeof(eo));
	eo.since = INT64_MIN;
	if ((f = open_memstream(&text, &tlen)) == NULL)
		abort();
	if (export_run(st, f, &eo, &counts, &cause) != 0) {
		fprintf(stderr, "fuzz_export: export: %s\n", cause);
		abort();
	}
	fclose(f);
	drop_store(st, dir);
	if ((st2 = import(text, tlen, dir2, sizeof(dir2))) == NULL) {
		fprintf(stderr, "fuzz_export: its own export is refused\n");
		abort();
	}
	if ((f = fopen("/dev/null", "w")) == NULL)
		abort();
	/* Every record comes back, analyst records included (export_aux.h). */
	if (export_run(st2, f, &eo, &again, &cause) != 0 ||
	    again.events != counts.events || again.verdicts != counts.verdicts ||
	    again.feedback != counts.feedback || again.labels != counts.labels ||
	    again.lists != counts.lists || again.listlog != counts.listlog ||
	    again.queue != counts.queue || again.queuelog != counts.queuelog ||
	    again.queue_dropped != 0)
		abort();
	fclose(f);
	drop_store(st2, dir2);
	free(text);
	return (0);
}
