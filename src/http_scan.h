/*
 * http_scan.h: what an HTTP client sends, checked against RFC 9112 before
 * libevent's evhttp acts on it.
 *
 * evhttp 2.1 is lenient where leniency is a request-smuggling or
 * desynchronisation vector behind a proxy: it takes bare LF line ends,
 * NUL and control bytes in header values, obs-fold, HTTP/1.1 without
 * Host, the first of two different Content-Length headers, a body on a
 * GET as the next request, and Transfer-Encoding beside Content-Length.
 * http.c feeds this scanner every byte a connection receives, as it
 * arrives (before evhttp reads it); the scanner follows the stream request
 * by request (head, then Content-Length bytes of body) and marks the first
 * request that breaks a rule, with the status and message to answer it
 * with. Nothing after a bad request is scanned: that request is answered
 * and the connection closed. A chunked request is allowed, but the scanner
 * stops there too (its end is evhttp's to find): the connection closes
 * after answering it.
 *
 * Requests are numbered from 1 in the order they arrive, which is the
 * order evhttp hands them to the server callback.
 */
#ifndef REFGUARD_HTTP_SCAN_H
#define REFGUARD_HTTP_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest request head (request line and headers), as evhttp's. */
#define HTTP_SCAN_HEAD_MAX	(16 * 1024)

struct http_scan {
	/* results */
	unsigned	 started;	/* requests with a byte seen */
	unsigned	 complete;	/* requests with their last byte seen */
	unsigned	 bad;		/* the first bad request, 0: none */
	int		 bad_status;	/* 400, 431, 501 */
	char		 bad_msg[128];
	unsigned	 close_after;	/* chunked: close after it, 0: none */

	/* state */
	int		 state;
	size_t		 head_len;	/* bytes of this head so far */
	char		 line[HTTP_SCAN_HEAD_MAX + 2];
	size_t		 linelen;	/* of a line not yet ended */
	uint64_t	 body_left;
	int		 minor;		/* HTTP/1.minor */
	bool		 may_have_body;	/* POST, PUT, PATCH (as evhttp) */
	unsigned	 nhost;
	bool		 has_cl;
	uint64_t	 cl;
	unsigned	 nte;
};

void	http_scan_init(struct http_scan *s);
/* Scan the next len bytes of the stream (any split). */
void	http_scan(struct http_scan *s, const char *p, size_t len);
/* True while a request has begun and its last byte has not come. */
bool	http_scan_partial(const struct http_scan *s);

#endif
