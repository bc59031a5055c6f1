/*
 * sbuf.h: a growing byte buffer for building reply lines and JSON text
 * without a JSON tree (building trees per request is the first cost on
 * the check path).
 */
#ifndef REFGUARD_SBUF_H
#define REFGUARD_SBUF_H

#include <stddef.h>
#include <stdint.h>

struct sbuf {
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

void	 sbuf_init(struct sbuf *sb, size_t hint);
void	 sbuf_free(struct sbuf *sb);
void	 sbuf_reset(struct sbuf *sb);	/* len = 0, keeps the memory */
void	 sbuf_add(struct sbuf *sb, const void *p, size_t n);
void	 sbuf_addc(struct sbuf *sb, char c);
/* Room for n more bytes at sb->buf + sb->len; the caller adds to len. */
char	*sbuf_space(struct sbuf *sb, size_t n);
void	 sbuf_adds(struct sbuf *sb, const char *s);
void	 sbuf_addf(struct sbuf *sb, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 sbuf_add_int(struct sbuf *sb, int64_t v);
/* A JSON string literal (quotes included); invalid UTF-8 becomes U+FFFD. */
void	 sbuf_add_jstr(struct sbuf *sb, const char *s, size_t n);
/*
 * A JSON object member after the first: ,"key": then the time ms as an
 * RFC 3339 string, or null when ms is 0 (never).
 */
void	 sbuf_add_jtime(struct sbuf *sb, const char *key, int64_t ms);
/* A JSON object member after the first: ,"key": then s as a string. */
void	 sbuf_add_jmember(struct sbuf *sb, const char *key, const char *s);
/* Hand the NUL-terminated contents to the caller (frees with free()). */
char	*sbuf_take(struct sbuf *sb, size_t *len);

#endif
