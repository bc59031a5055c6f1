/* util.c: see util.h. */
#include "config.h"

#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void *
xmalloc(size_t n)
{
	void	*p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		fatal("malloc %zu", n);
	return (p);
}

void *
xcalloc(size_t n, size_t sz)
{
	void	*p = calloc(n == 0 ? 1 : n, sz == 0 ? 1 : sz);

	if (p == NULL)
		fatal("calloc %zu x %zu", n, sz);
	return (p);
}

void *
xreallocarray(void *p, size_t n, size_t sz)
{
	if (sz != 0 && n > SIZE_MAX / sz)
		fatalx("reallocarray: %zu x %zu overflows", n, sz);
	p = realloc(p, n * sz == 0 ? 1 : n * sz);
	if (p == NULL)
		fatal("realloc %zu x %zu", n, sz);
	return (p);
}

/* AddressSanitizer checks heap bounds only: it keeps large tables there. */
#if defined(__SANITIZE_ADDRESS__)
#define LARGE_ON_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LARGE_ON_HEAP 1
#endif
#endif

void *
xcalloc_large(size_t n, size_t sz)
{
	void	*p;
	size_t	 len;

	if (sz != 0 && n > SIZE_MAX / sz)
		fatalx("calloc: %zu x %zu overflows", n, sz);
#ifdef LARGE_ON_HEAP
	return (xcalloc(n, sz));
#endif
	if ((len = n * sz) == 0)
		len = 1;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		fatal("mmap %zu", len);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, len, MADV_HUGEPAGE);	/* advice only */
#endif
	return (p);
}

void
xfree_large(void *p, size_t n, size_t sz)
{
#ifdef LARGE_ON_HEAP
	(void)n;
	(void)sz;
	free(p);
#else
	if (p != NULL)
		(void)munmap(p, n * sz == 0 ? 1 : n * sz);
#endif
}

char *
xstrdup(const char *s)
{
	return (xstrndup(s, strlen(s)));
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return (p);
}

int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int	n = vasprintf(ret, fmt, ap);

	if (n < 0)
		fatal("vasprintf");
	return (n);
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return (n);
}

/* A decimal number, then a unit from the table; the multiplier applies. */
struct unit {
	const char	*name;
	uint64_t	 mult;
};

static int
parse_scaled(const char *s, const struct unit *units, size_t nunits,
    uint64_t dflt, uint64_t *out)
{
	const char	*p = s;
	uint64_t	 v = 0, mult = dflt;
	size_t		 i;

	if (!isdigit((unsigned char)*p))
		return (-1);
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return (-1);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0') {
		for (i = 0; i < nunits; i++)
			if (strcasecmp(p, units[i].name) == 0)
				break;
		if (i == nunits)
			return (-1);
		mult = units[i].mult;
	}
	if (mult != 0 && v > UINT64_MAX / mult)
		return (-1);
	*out = v * mult;
	return (0);
}

int
parse_duration(const char *s, int64_t *ms)
{
	static const struct unit units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "w", 604800000 },
	};
	uint64_t	v;

	if (parse_scaled(s, units, nitems(units), 1000, &v) != 0 ||
	    v > INT64_MAX)
		return (-1);
	*ms = (int64_t)v;
	return (0);
}

int
parse_size(const char *s, uint64_t *bytes)
{
	static const struct unit units[] = {
		{ "k", 1ULL << 10 }, { "m", 1ULL << 20 }, { "g", 1ULL << 30 },
		{ "t", 1ULL << 40 }, { "kb", 1ULL << 10 }, { "mb", 1ULL << 20 },
		{ "gb", 1ULL << 30 }, { "tb", 1ULL << 40 },
	};

	return (parse_scaled(s, units, nitems(units), 1, bytes));
}

int
parse_bool(const char *s, bool *b)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcasecmp(s, "on") == 0 || strcmp(s, "1") == 0) {
		*b = true;
		return (0);
	}
	if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
	    strcasecmp(s, "off") == 0 || strcmp(s, "0") == 0) {
		*b = false;
		return (0);
	}
	return (-1);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t		era;
	unsigned	yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + (int64_t)doe - 719468);
}

static int
digits(const char *s, size_t n, unsigned *out)
{
	unsigned	v = 0;
	size_t		i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return (0);
}

int
parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned	y, mo, d, h, mi, sec, frac = 0, oh, om;
	size_t		i = 19, nf = 0;
	int64_t		t, off = 0;

	if (len < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return (-1);
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
	    digits(s + 17, 2, &sec))
		return (-1);
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return (-1);
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return (-1);
	if (sec == 60)
		sec = 59;	/* a leap second is the last moment of its minute */
	if (i < len && s[i] == '.') {
		for (i++; i < len && isdigit((unsigned char)s[i]); i++, nf++)
			if (nf < 3)
				frac = frac * 10 + (unsigned)(s[i] - '0');
		if (nf == 0)
			return (-1);
		for (; nf < 3; nf++)
			frac *= 10;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
		i++;
	else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return (-1);
		off = ((int64_t)oh * 60 + om) * 60000;
		if (s[i] == '+')
			off = -off;
		i += 6;
	} else
		return (-1);
	if (i != len)
		return (-1);
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	*ms = t * 1000 + frac + off;
	return (0);
}

static void
put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* Without gmtime_r() and snprintf(): explains write a time per fact. */
char *
fmt_rfc3339(int64_t ms, char *buf)
{
	int64_t		 days = ms / 86400000, rem = ms % 86400000, z, era;
	unsigned	 doe, yoe, doy, mp, d, m;
	int64_t		 y;

	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	/* civil_from_days (H. Hinnant) */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	y %= 10000;
	if (y < 0)
		y += 10000;
	put2(buf, (unsigned)(y / 100));
	put2(buf + 2, (unsigned)(y % 100));
	buf[4] = '-';
	put2(buf + 5, m);
	buf[7] = '-';
	put2(buf + 8, d);
	buf[10] = 'T';
	put2(buf + 11, (unsigned)(rem / 3600000));
	buf[13] = ':';
	put2(buf + 14, (unsigned)(rem / 60000 % 60));
	buf[16] = ':';
	put2(buf + 17, (unsigned)(rem / 1000 % 60));
	buf[19] = '.';
	buf[20] = (char)('0' + rem % 1000 / 100);
	put2(buf + 21, (unsigned)(rem % 100));
	buf[23] = 'Z';
	buf[RFC3339_LEN - 1] = '\0';
	return (buf);
}

char *
fmt_bytes(int64_t bytes, char *buf)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double	v = (double)bytes;
	size_t	u = 0;

	while (v >= 1024 && u + 1 < nitems(unit)) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v >= 10)
		snprintf(buf, FMT_HUMAN_LEN, "%lld %s", (long long)(v + 0.5),
		    unit[u]);
	else
		snprintf(buf, FMT_HUMAN_LEN, "%.1f %s", v, unit[u]);
	return (buf);
}

char *
fmt_age(int64_t s, char *buf)
{
	if (s < 0)
		snprintf(buf, FMT_HUMAN_LEN, "-");
	else if (s < 3600)
		snprintf(buf, FMT_HUMAN_LEN, "%lldm", (long long)(s / 60));
	else if (s < 2 * 86400)
		snprintf(buf, FMT_HUMAN_LEN, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, FMT_HUMAN_LEN, "%lldd", (long long)(s / 86400));
	return (buf);
}

void
cause_append(char **cause, char *msg)
{
	char	*s;

	if (*cause == NULL) {
		*cause = msg;
		return;
	}
	xasprintf(&s, "%s; %s", *cause, msg);
	free(*cause);
	free(msg);
	*cause = s;
}

const char *
file_type_name(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return ("a regular file");
	case S_IFIFO:
		return ("a FIFO");
	case S_IFDIR:
		return ("a directory");
	case S_IFCHR:
		return ("a character device");
	case S_IFBLK:
		return ("a block device");
	case S_IFSOCK:
		return ("a socket");
	case S_IFLNK:
		return ("a symbolic link");
	}
	return ("of an unknown type");
}

int
file_open_regular(const char *path, int flags, struct stat *sb, char **cause)
{
	int	fd, fl, saved;

	/* O_NONBLOCK: opening a FIFO for reading waits for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
	    ((flags & FILE_NOFOLLOW) ? O_NOFOLLOW : 0));
	if (fd < 0) {
		saved = errno;
		if (saved == ELOOP && (flags & FILE_NOFOLLOW))
			xasprintf(cause, "%s: a symbolic link (not followed "
			    "here)", path);
		else
			xasprintf(cause, "%s: %s", path, strerror(saved));
		errno = saved;
		return (-1);
	}
	if (fstat(fd, sb) != 0) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	if (!S_ISREG(sb->st_mode)) {
		xasprintf(cause, "%s: not a regular file (%s)", path,
		    file_type_name(sb->st_mode));
		close(fd);
		errno = EINVAL;
		return (-1);
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

int
file_read_regular(const char *path, int flags, size_t max, char **buf,
    size_t *len, struct stat *sb, char **cause)
{
	char	*b, extra;
	size_t	 size, got = 0;
	ssize_t	 n = 0;
	int	 fd;

	*buf = NULL;
	*len = 0;
	if ((fd = file_open_regular(path, flags, sb, cause)) < 0)
		return (-1);
	if (sb->st_size < 0 || (uint64_t)sb->st_size > max) {
		xasprintf(cause, "%s: larger than %zu bytes", path, max);
		close(fd);
		return (-1);
	}
	size = (size_t)sb->st_size;
	b = xmalloc(size + 1);
	while (got < size) {
		n = read(fd, b + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* One byte more than fstat said: the file grew under us. */
	while (got == size && (n = read(fd, &extra, 1)) < 0 && errno == EINTR)
		;
	if (got != size || n != 0) {
		if (n < 0)
			xasprintf(cause, "%s: %s", path, strerror(errno));
		else
			xasprintf(cause, "%s: changed while it was read "
			    "(replace it by renaming a new file over it)",
			    path);
		free(b);
		close(fd);
		return (-1);
	}
	close(fd);
	b[size] = '\0';
	*buf = b;
	*len = size;
	return (0);
}

bool
fd_readable(int fd)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };

	return (fd >= 0 && poll(&pfd, 1, 0) > 0 &&
	    (pfd.revents & POLLIN) != 0);
}

bool
fd_unread(int fd)
{
	char	b;

	return (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0);
}

void
fd_discard(int fd)
{
	char	buf[4096];
	int	i;

	for (i = 0; i < 64; i++)		/* at most 256 KiB */
		if (read(fd, buf, sizeof(buf)) <= 0)
			break;
}

int
fd_answer_close(int fd, const void *reply, size_t len)
{
	int	rc, saved;

	rc = write_all(fd, reply, len);
	saved = errno;
	(void)shutdown(fd, SHUT_RDWR);
	fd_discard(fd);
	errno = saved;
	return (rc);
}

void
be_put(uint8_t *p, uint64_t v, int n)
{
	int	i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t
be_get(const uint8_t *p, int n)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return (v);
}

int
parse_cidr(const char *s, int *af, uint8_t a[16], int *bits, unsigned *len)
{
	char		 addr[64], *end;
	const char	*slash = strchr(s, '/');
	unsigned long	 l;
	int		 i;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr))
		return (-1);
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	*af = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
	*bits = *af == AF_INET ? 32 : 128;
	l = strtoul(slash + 1, &end, 10);
	if (inet_pton(*af, addr, a) != 1 || *end != '\0' || slash[1] == '\0' ||
	    !isdigit((unsigned char)slash[1]) || l > (unsigned long)*bits)
		return (-1);
	for (i = (int)l; i < *bits; i++)
		a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	*len = (unsigned)l;
	return (0);
}

unsigned
cpu_max_parse(const char *s)
{
	unsigned long long	quota, period;
	char			*end;

	if (strncmp(s, "max", 3) == 0)
		return (0);
	errno = 0;
	quota = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != ' ')
		return (0);
	s = end + 1;
	period = strtoull(s, &end, 10);
	if (errno != 0 || end == s || (*end != '\0' && *end != '\n') ||
	    quota == 0 || period == 0)
		return (0);
	quota = (quota + period - 1) / period;
	return (quota > UINT_MAX ? UINT_MAX : (unsigned)quota);
}

/*
 * The tightest cgroup v2 CPU quota on the way from this process's
 * cgroup up to the root (cpu.max), in whole CPUs; 0: none (or no
 * cgroup v2 to read).
 */
static unsigned
cpus_quota(void)
{
	char		*line = NULL, path[4096], buf[128], *p;
	size_t		 cap = 0;
	unsigned	 best = 0, q;
	ssize_t		 len;
	FILE		*f;
	int		 fd;

	if ((f = fopen("/proc/self/cgroup", "r")) == NULL)
		return (0);
	while ((len = getline(&line, &cap, f)) > 0)
		if (strncmp(line, "0::", 3) == 0)
			break;
	fclose(f);
	if (len <= 3 || line[len - 1] != '\n') {
		free(line);
		return (0);
	}
	line[len - 1] = '\0';
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s", line + 3);
	free(line);
	for (;;) {
		p = path + strlen(path);
		if ((size_t)(p - path) + sizeof("/cpu.max") <= sizeof(path)) {
			memcpy(p, "/cpu.max", sizeof("/cpu.max"));
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
				len = read(fd, buf, sizeof(buf) - 1);
				close(fd);
				if (len > 0) {
					buf[len] = '\0';
					if ((q = cpu_max_parse(buf)) != 0 &&
					    (best == 0 || q < best))
						best = q;
				}
			}
			*p = '\0';
		}
		if ((p = strrchr(path, '/')) == NULL ||
		    p == path + sizeof("/sys/fs/cgroup") - 1)
			break;
		*p = '\0';
	}
	return (best);
}

unsigned
cpus_usable(unsigned max)
{
	cpu_set_t	set;
	long		n;
	unsigned	q;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	else
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if ((q = cpus_quota()) != 0 && q < n)
		n = q;
	if (n < 1)
		n = 1;
	return ((unsigned long)n > max ? max : (unsigned)n);
}
