/* sbuf.c: see sbuf.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "util.h"

void
sbuf_init(struct sbuf *sb, size_t hint)
{
	sb->cap = hint < 64 ? 64 : hint;
	sb->buf = xmalloc(sb->cap);
	sb->len = 0;
	sb->buf[0] = '\0';
}

void
sbuf_free(struct sbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

void
sbuf_reset(struct sbuf *sb)
{
	sb->len = 0;
	if (sb->buf != NULL)
		sb->buf[0] = '\0';
}

static void
sbuf_grow(struct sbuf *sb, size_t n)
{
	if (sb->buf == NULL)
		sbuf_init(sb, n + 1);
	if (sb->len + n + 1 <= sb->cap)
		return;
	while (sb->len + n + 1 > sb->cap)
		sb->cap *= 2;
	sb->buf = xreallocarray(sb->buf, sb->cap, 1);
}

char *
sbuf_space(struct sbuf *sb, size_t n)
{
	sbuf_grow(sb, n);
	return (sb->buf + sb->len);
}

void
sbuf_add(struct sbuf *sb, const void *p, size_t n)
{
	sbuf_grow(sb, n);
	if (n > 0)		/* p may be NULL then */
		memcpy(sb->buf + sb->len, p, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void
sbuf_addc(struct sbuf *sb, char c)
{
	sbuf_grow(sb, 1);
	sb->buf[sb->len++] = c;
	sb->buf[sb->len] = '\0';
}

void
sbuf_adds(struct sbuf *sb, const char *s)
{
	sbuf_add(sb, s, strlen(s));
}

void
sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sbuf_grow(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void
sbuf_add_int(struct sbuf *sb, int64_t v)
{
	char		tmp[24], *p = tmp + sizeof(tmp);
	uint64_t	u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	sbuf_add(sb, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	uint32_t	cp;
	size_t		len, i;

	if (s[0] < 0x80)
		return (1);
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return (0);
	if (len > n)
		return (0);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (len);
}

void
sbuf_add_jstr(struct sbuf *sb, const char *s, size_t n)
{
	static const char	hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, run, l;
	char			 esc[6];

	sbuf_addc(sb, '"');
	while (i < n) {
		/* Copy runs of plain bytes at once. */
		for (run = i; run < n && p[run] >= 0x20 && p[run] < 0x80 &&
		    p[run] != '"' && p[run] != '\\'; run++)
			;
		if (run > i) {
			sbuf_add(sb, p + i, run - i);
			i = run;
			continue;
		}
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			sbuf_add(sb, esc, 2);
			i++;
		} else if (p[i] < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[p[i] >> 4];
			esc[5] = hex[p[i] & 0xf];
			sbuf_add(sb, esc, 6);
			i++;
		} else if ((l = utf8_len(p + i, n - i)) > 0) {
			sbuf_add(sb, p + i, l);
			i += l;
		} else {
			sbuf_add(sb, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	sbuf_addc(sb, '"');
}

void
sbuf_add_jtime(struct sbuf *sb, const char *key, int64_t ms)
{
	char	when[RFC3339_LEN];

	sbuf_addf(sb, ",\"%s\":", key);
	if (ms == 0)
		sbuf_adds(sb, "null");
	else
		sbuf_addf(sb, "\"%s\"", fmt_rfc3339(ms, when));
}

void
sbuf_add_jmember(struct sbuf *sb, const char *key, const char *s)
{
	sbuf_addf(sb, ",\"%s\":", key);
	sbuf_add_jstr(sb, s, strlen(s));
}

char *
sbuf_take(struct sbuf *sb, size_t *len)
{
	char	*p;

	if (sb->buf == NULL)
		sbuf_init(sb, 1);
	p = sb->buf;
	if (len != NULL)
		*len = sb->len;
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return (p);
}
