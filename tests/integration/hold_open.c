/*
 * hold_open.c: an LD_PRELOAD library for the integration tests that
 * holds one file's open(), the way a hung network file system would, so
 * that a test can keep a reload busy in its thread for as long as it
 * needs, without any hook in refguardd itself.
 *
 * RGTEST_HOLD_OPEN=PATH: an open() of PATH (spelled as refguardd spells
 * it) while the FIFO PATH.hold exists first opens that FIFO for reading
 * and reads it to its end, then goes on. The test makes the FIFO to
 * hold; to release, it opens the FIFO for writing (which returns once
 * the held open() is waiting on it), removes it and closes it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*open_fn)(const char *, int, ...);

int
open(const char *path, int flags, ...)
{
	static open_fn	 real;
	const char	*want;
	char		 gate[4096], buf[64];
	mode_t		 mode = 0;
	va_list		 ap;
	int		 fd;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (real == NULL && (real = (open_fn)dlsym(RTLD_NEXT, "open")) == NULL)
		abort();
	want = getenv("RGTEST_HOLD_OPEN");
	if (want != NULL && strcmp(path, want) == 0 &&
	    snprintf(gate, sizeof(gate), "%s.hold", want) < (int)sizeof(gate) &&
	    (fd = real(gate, O_RDONLY | O_CLOEXEC)) >= 0) {
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	return (real(path, flags, mode));
}
