/*
 * util.h: small helpers shared by every program: allocation that cannot
 * fail (it aborts), value parsing shared by the config and rule parsers,
 * time.
 */
#ifndef REFGUARD_UTIL_H
#define REFGUARD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* Allocation: these abort the process on failure, so never return NULL. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
/*
 * A large zeroed table (megabytes, allocated once, filled as it is
 * used): its pages are mapped as first touched, in huge pages where the
 * kernel offers them (a fault per 2 MiB, not per 4 KiB; the kernel
 * still zeroes every page touched). Freed with xfree_large() and the
 * same n and size. Under AddressSanitizer, on the heap.
 */
void	*xcalloc_large(size_t n, size_t sz);
void	 xfree_large(void *, size_t n, size_t sz);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 xvasprintf(char **, const char *, va_list);

/*
 * Durations: "250ms", "30s", "15m", "1h", "7d", "2w" or a bare number of
 * seconds. Result in milliseconds. 0, or -1 on bad syntax or overflow.
 */
int	 parse_duration(const char *s, int64_t *ms);
/* Sizes: "4096", "64k", "512m", "1g", "2t" (powers of 1024). 0 or -1. */
int	 parse_size(const char *s, uint64_t *bytes);
/* Booleans: yes/no, true/false, on/off, 1/0. 0 or -1. */
int	 parse_bool(const char *s, bool *b);

/*
 * Event time: RFC 3339 ("2026-11-23T10:00:00Z", fractions and offsets
 * allowed) to milliseconds since the epoch. 0, or -1 when malformed.
 */
int	 parse_rfc3339(const char *s, size_t len, int64_t *ms);
/*
 * The times a request may carry, in milliseconds since the epoch:
 * 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, what fmt_rfc3339
 * writes (and a sum of one and a duration must be checked against).
 */
#define TIME_MAX_MS	253402300799999LL
/* Milliseconds since the epoch as RFC 3339 UTC with milliseconds. */
#define RFC3339_LEN	sizeof("2026-11-23T10:00:00.000Z")
char	*fmt_rfc3339(int64_t ms, char *buf);

/*
 * For people: a size ("820 B", "8.2 KiB", "11 MiB") and an age in seconds
 * ("45m", "30h", "167d"; "-" when negative). Return buf.
 */
#define FMT_HUMAN_LEN	32
char	*fmt_bytes(int64_t bytes, char *buf);
char	*fmt_age(int64_t s, char *buf);

/*
 * util_raw.c: these neither allocate nor log (log.c uses them):
 * now_ms, mono_us, str_escape, write_all, utf8_next, utf8_valid.
 */
int64_t	 now_ms(void);		/* wall clock */
uint64_t mono_us(void);		/* monotonic, microseconds */
uint64_t mono_ns(void);		/* monotonic, nanoseconds */
/*
 * The CPUs this process may use, 1 to max: its affinity, less when a
 * cgroup v2 quota (cpu.max, on the way to the root) allows fewer.
 */
unsigned cpus_usable(unsigned max);
/* A cpu.max line ("QUOTA PERIOD" or "max ..."): whole CPUs, 0: none. */
unsigned cpu_max_parse(const char *s);

/*
 * Escape bytes for a log line or an error message: printable ASCII kept,
 * '"' and '\\' escaped, everything else as \xNN. Writes at most cap bytes
 * including the NUL; truncates with "...". Returns dst.
 */
char	*str_escape(const char *src, size_t len, char *dst, size_t cap);
/*
 * The code point that starts s (len bytes) in *cp and its length in
 * bytes, 1-4; 0 when s is empty or does not start with valid UTF-8
 * (overlong forms, surrogates and code points beyond U+10FFFF are not).
 */
size_t	 utf8_next(const char *s, size_t len, uint32_t *cp);
/* Length of the valid UTF-8 prefix of s (== len when all valid). */
size_t	 utf8_valid(const char *s, size_t len);
/* A macro's value as a string literal: STR(8) is "8". */
#define STR(x)		STR_(x)
#define STR_(x)		#x

/*
 * Add msg (malloc'd; taken over) to *cause, "; "-separated, for functions
 * that go on after an error and report all of them at the end.
 */
void	 cause_append(char **cause, char *msg);

/*
 * A CIDR "ADDR/LEN", IPv4 or IPv6: the network's bytes in a (host bits
 * cleared), *af (AF_INET or AF_INET6), *bits (32 or 128) and *len. 0, or
 * -1 when malformed.
 */
int	 parse_cidr(const char *s, int *af, uint8_t a[16], int *bits,
	    unsigned *len);

/* Big-endian integers of n bytes (keys that sort as numbers, records). */
void	 be_put(uint8_t *p, uint64_t v, int n);
uint64_t be_get(const uint8_t *p, int n);

/*
 * Data files (rules, lists, the disposable list, GeoIP databases, the
 * hash secret): open path for reading, refusing anything that is not a
 * regular file (a FIFO, a directory, a device, a socket) without
 * blocking on it: the open is O_NONBLOCK (cleared once the file is known
 * to be regular), so a FIFO with no writer cannot hang start-up or a
 * reload. flags: FILE_NOFOLLOW refuses a symbolic link as the last
 * component. Returns the descriptor (O_CLOEXEC) with *sb filled in, or
 * -1 and *cause (caller frees), "PATH: reason", e.g. "PATH: not a
 * regular file (a FIFO)"; callers put the setting's name in front.
 * errno is the open's (ENOENT: no such file), or EINVAL when the file is
 * not regular.
 */
#define FILE_NOFOLLOW	0x1
struct stat;
int	 file_open_regular(const char *path, int flags, struct stat *sb,
	    char **cause);
/*
 * Read a whole regular file (file_open_regular) of at most max bytes
 * into *buf (malloc'd, NUL-terminated, caller frees; *len bytes without
 * the NUL), *sb as it was opened. A file that grows or shrinks while it
 * is read is an error, not a torn copy. 0, or -1 and *cause as above.
 */
int	 file_read_regular(const char *path, int flags, size_t max,
	    char **buf, size_t *len, struct stat *sb, char **cause);
/* What a file type is, for messages: "a FIFO", "a directory", ... */
const char *file_type_name(unsigned mode);

/* Write all of buf to fd, retrying on EINTR/short writes. 0 or -1. */
int	 write_all(int fd, const void *buf, size_t len);
/* True when a read (or a listening socket's accept) would not block. */
bool	 fd_readable(int fd);
/* True when a connected socket has received bytes not yet read (not EOF). */
bool	 fd_unread(int fd);
/*
 * Read and drop what a non-blocking socket has received, before closing
 * it: closed with unread input, a socket resets its peer, which may then
 * lose the reply written just before.
 */
void	 fd_discard(int fd);
/*
 * Answer a connection that is closed without being served: write reply,
 * shut the socket both ways, drop what the peer sent. Shut for reading
 * first, a Unix socket's peer can send no more (its writes fail with
 * EPIPE), so nothing is left unread at the close, which would reset the
 * peer and lose the reply (over TCP that stays a race). The caller
 * closes fd. 0, or -1 (errno) when the reply could not be written.
 */
int	 fd_answer_close(int fd, const void *reply, size_t len);

#endif
