/* http_scan.c: RFC 9112 checks of what HTTP clients send; see http_scan.h. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_scan.h"

enum {
	SCAN_HEAD,		/* in a request head (or before one) */
	SCAN_BODY,		/* body_left bytes of body to go */
	SCAN_STOP,		/* a bad request, or a chunked one: no more */
};

void
http_scan_init(struct http_scan *s)
{
	memset(s, 0, sizeof(*s));
	s->state = SCAN_HEAD;
}

bool
http_scan_partial(const struct http_scan *s)
{
	return (s->started > s->complete);
}

static void __attribute__((format(printf, 3, 4)))
scan_bad(struct http_scan *s, int status, const char *fmt, ...)
{
	va_list	ap;

	if (s->bad == 0) {
		s->bad = s->started;
		s->bad_status = status;
		va_start(ap, fmt);
		vsnprintf(s->bad_msg, sizeof(s->bad_msg), fmt, ap);
		va_end(ap);
	}
	s->state = SCAN_STOP;
}

/* RFC 9110 tchar: the bytes of a method or a field name. */
static bool
tchar(unsigned char c)
{
	return (isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

/* A field value without its surrounding whitespace. */
static void
trim(const char **v, size_t *len)
{
	while (*len > 0 && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*len)--;
	}
	while (*len > 0 && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t'))
		(*len)--;
}

/* method SP request-target SP HTTP/1.x */
static void
scan_request_line(struct http_scan *s, const char *l, size_t len)
{
	const char	*sp1, *sp2;
	size_t		 mlen;

	if (len == 0) {
		scan_bad(s, 400, "empty request line");
		return;
	}
	if ((sp1 = memchr(l, ' ', len)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - l))) == NULL ||
	    sp2 == sp1 + 1) {
		scan_bad(s, 400, "request line is not: method target version");
		return;
	}
	for (mlen = 0; l + mlen < sp1; mlen++)
		if (!tchar((unsigned char)l[mlen]))
			break;
	if (l + mlen != sp1 || mlen == 0) {
		scan_bad(s, 400, "bad method");
		return;
	}
	if (len - (size_t)(sp2 + 1 - l) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7)
	    != 0 || (sp2[8] != '0' && sp2[8] != '1')) {
		scan_bad(s, 400, "not HTTP/1.0 or HTTP/1.1");
		return;
	}
	s->minor = sp2[8] - '0';
	s->may_have_body = (mlen == 4 && memcmp(l, "POST", 4) == 0) ||
	    (mlen == 3 && memcmp(l, "PUT", 3) == 0) ||
	    (mlen == 5 && memcmp(l, "PATCH", 5) == 0);
}

static void
scan_field(struct http_scan *s, const char *l, size_t len)
{
	const char	*colon, *v;
	size_t		 nlen, vlen, i;
	uint64_t	 cl = 0;

	if (l[0] == ' ' || l[0] == '\t') {
		scan_bad(s, 400, "obsolete line folding in a header");
		return;
	}
	if ((colon = memchr(l, ':', len)) == NULL) {
		scan_bad(s, 400, "header line without a colon");
		return;
	}
	nlen = (size_t)(colon - l);
	for (i = 0; i < nlen; i++)
		if (!tchar((unsigned char)l[i]))
			break;
	if (i < nlen || nlen == 0) {
		scan_bad(s, 400, "bad header name (whitespace before the "
		    "colon?)");
		return;
	}
	v = colon + 1;
	vlen = len - nlen - 1;
	trim(&v, &vlen);
	if (nlen == 4 && strncasecmp(l, "Host", 4) == 0) {
		if (++s->nhost > 1)
			scan_bad(s, 400, "more than one Host header");
	} else if (nlen == 14 && strncasecmp(l, "Content-Length", 14) == 0) {
		for (i = 0; i < vlen; i++) {
			if (!isdigit((unsigned char)v[i]) || i >= 18)
				break;
			cl = cl * 10 + (uint64_t)(v[i] - '0');
		}
		if (vlen == 0 || i < vlen)
			scan_bad(s, 400, "Content-Length is not a number");
		else if (s->has_cl && cl != s->cl)
			scan_bad(s, 400, "two different Content-Length headers");
		s->has_cl = true;
		s->cl = cl;
	} else if (nlen == 17 && strncasecmp(l, "Transfer-Encoding", 17) ==
	    0) {
		if (++s->nte > 1)
			scan_bad(s, 400, "more than one Transfer-Encoding "
			    "header");
		else if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
			scan_bad(s, 501, "Transfer-Encoding other than chunked");
	}
}

/* The empty line: the head is complete. */
static void
scan_head_end(struct http_scan *s)
{
	if (s->minor == 1 && s->nhost == 0)
		scan_bad(s, 400, "HTTP/1.1 request without a Host header");
	else if (s->nte > 0 && s->has_cl)
		scan_bad(s, 400, "both Transfer-Encoding and Content-Length");
	else if (!s->may_have_body && (s->nte > 0 || s->cl > 0))
		scan_bad(s, 400, "a body on a request whose method takes none");
	if (s->state == SCAN_STOP)
		return;
	if (s->nte > 0) {
		s->close_after = s->started;
		s->state = SCAN_STOP;
	} else if (s->cl > 0) {
		s->body_left = s->cl;
		s->state = SCAN_BODY;
	} else
		s->complete = s->started;
}

/* One line of a head, its LF (and CR) cut off; first: the request line. */
static void
scan_line(struct http_scan *s, const char *l, size_t len, bool crlf)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (((unsigned char)l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7f)
			break;
	if (i < len) {
		scan_bad(s, 400, l[i] == '\0' ? "NUL byte in the request head" :
		    l[i] == '\r' ? "CR without LF in the request head" :
		    "control byte in the request head");
		return;
	}
	if (!crlf) {
		scan_bad(s, 400, "bare LF line end (CRLF required)");
		return;
	}
	if (s->head_len == len + 2)	/* the first line of the head */
		scan_request_line(s, l, len);
	else if (len == 0)
		scan_head_end(s);
	else
		scan_field(s, l, len);
}

void
http_scan(struct http_scan *s, const char *p, size_t len)
{
	const char	*e = p + len, *nl;
	size_t		 n;
	bool		 crlf;

	while (p < e && s->state != SCAN_STOP) {
		if (s->state == SCAN_BODY) {
			n = (size_t)(e - p) < s->body_left ? (size_t)(e - p) :
			    (size_t)s->body_left;
			s->body_left -= n;
			p += n;
			if (s->body_left == 0) {
				s->complete = s->started;
				s->state = SCAN_HEAD;
			}
			continue;
		}
		if (s->started == s->complete) {	/* a new request */
			s->started++;
			s->head_len = s->linelen = 0;
			s->minor = 0;
			s->may_have_body = s->has_cl = false;
			s->nhost = s->nte = 0;
			s->cl = 0;
		}
		nl = memchr(p, '\n', (size_t)(e - p));
		n = (size_t)((nl != NULL ? nl + 1 : e) - p);
		if ((s->head_len += n) > HTTP_SCAN_HEAD_MAX) {
			scan_bad(s, 431, "request head longer than %d bytes",
			    HTTP_SCAN_HEAD_MAX);
			break;
		}
		memcpy(s->line + s->linelen, p, n);
		s->linelen += n;
		p += n;
		if (nl == NULL)
			break;
		/* s->line holds one line and its LF */
		n = s->linelen - 1;
		crlf = n > 0 && s->line[n - 1] == '\r';
		s->linelen = 0;
		scan_line(s, s->line, crlf ? n - 1 : n, crlf);
	}
}
