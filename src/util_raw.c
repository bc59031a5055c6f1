/*
 * util_raw.c: the helpers of util.h that neither allocate nor log, so that
 * log.c can use them while util.c's allocating helpers call fatal().
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

uint64_t
mono_us(void)
{
	return (mono_ns() / 1000);
}

uint64_t
mono_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec);
}

/* Bytes the escaped form of c takes. */
static size_t
escaped_len(unsigned char c)
{
	if (c == '"' || c == '\\')
		return (2);
	return (c >= 0x20 && c < 0x7f ? 1 : 4);
}

char *
str_escape(const char *src, size_t len, char *dst, size_t cap)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i, o = 0, total = 0, room;
	unsigned char		c;

	if (cap == 0)
		return (dst);
	for (i = 0; i < len; i++)
		total += escaped_len((unsigned char)src[i]);
	/* Everything if it fits; else as much as fits before "...". */
	room = total < cap ? total : (cap >= 4 ? cap - 4 : 0);
	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (o + escaped_len(c) > room)
			break;
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f)
			dst[o++] = (char)c;
		else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	if (total >= cap && cap >= 4) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return (dst);
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

size_t
utf8_next(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 n, j;
	uint32_t		 c;

	if (len == 0)
		return (0);
	if (u[0] < 0x80) {
		*cp = u[0];
		return (1);
	}
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		n = 1;
		c = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		n = 2;
		c = u[0] & 0x0f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		n = 3;
		c = u[0] & 0x07;
	} else
		return (0);
	if (len <= n)
		return (0);
	for (j = 1; j <= n; j++) {
		if ((u[j] & 0xc0) != 0x80)
			return (0);
		c = (c << 6) | (u[j] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return (0);
	*cp = c;
	return (n + 1);
}

size_t
utf8_valid(const char *s, size_t len)
{
	size_t		i = 0, n;
	uint32_t	cp;

	while (i < len && (n = utf8_next(s + i, len - i, &cp)) != 0)
		i += n;
	return (i);
}
