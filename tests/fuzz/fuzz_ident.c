/*
 * fuzz_ident.c: libFuzzer harness for identity normalization: ident_email,
 * ident_ip, ident_phone, ident_account, ident_payment and ident_device.
 * The first input byte picks the function; the rest is the value (for a
 * device, "key=value" lines). Linked with replay.c it is a plain
 * program that replays the saved corpus (tests/fuzz/corpus/ident, or the
 * files and directories named on the command line) under make check.
 *
 * A refused value has a message and leaves the party untouched; an
 * accepted one sets its kind, hashes the same way twice, and keeps its
 * facts within their bounds.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"
#include "util.h"

#include "replay.h"

const char	fuzz_name[] = "ident";

static struct ident	*fuzz_id;

typedef int (*fuzz_fn)(const struct ident *, const char *, size_t,
    struct party *, const char **);

#define FUZZ_MAXATTRS	40

static void
fuzz_device(const char *s, size_t len)
{
	struct dev_attr	 a[FUZZ_MAXATTRS];
	struct party	 p, q;
	const char	*errkey, *err, *line, *eol, *eq;
	size_t		 n = 0, i;
	int		 rc;

	for (line = s; line < s + len && n < FUZZ_MAXATTRS; line = eol + 1) {
		if ((eol = memchr(line, '\n', (size_t)(s + len - line))) == NULL)
			eol = s + len;
		if ((eq = memchr(line, '=', (size_t)(eol - line))) == NULL)
			eq = eol;
		a[n].key = line;
		a[n].keylen = (size_t)(eq - line);
		a[n].val = eq < eol ? eq + 1 : eq;
		a[n].vallen = eq < eol ? (size_t)(eol - eq - 1) : 0;
		n++;
		if (eol == s + len)
			break;
	}
	memset(&p, 0, sizeof(p));
	errkey = err = NULL;
	rc = ident_device(fuzz_id, a, n, &p, &errkey, &err);
	if (rc != 0) {
		if (err == NULL)
			abort();
		if (errkey != NULL) {
			for (i = 0; i < n; i++)
				if (a[i].key == errkey)
					break;
			if (i == n)
				abort();	/* must be one of our pointers */
		}
		return;
	}
	if (p.have & ~((1u << ENT_DEVICE) | (1u << ENT_DEVICE_FUZZY) |
	    (1u << ENT_DEVICE_STABLE) | (1u << ENT_DEVICE_ID)))
		abort();
	memset(&q, 0, sizeof(q));
	if (ident_device(fuzz_id, a, n, &q, &errkey, &err) != 0 ||
	    q.have != p.have || memcmp(q.h, p.h, sizeof(p.h)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		fuzz_fn		fn;
		enum ent_kind	kind;
	} fns[] = {
		{ ident_account, ENT_ACCOUNT }, { ident_email, ENT_EMAIL },
		{ ident_phone, ENT_PHONE }, { ident_payment, ENT_PAYMENT },
		{ ident_ip, ENT_IP },
	};
	struct party	 p, q, zero;
	const char	*err, *s = (const char *)data + 1;
	size_t		 len, which;

	if (fuzz_id == NULL)
		fuzz_id = fuzz_ident_new();
	if (size == 0)
		return (0);
	len = size - 1;
	which = data[0] % (nitems(fns) + 1);
	if (which == nitems(fns)) {
		fuzz_device(s, len);
		return (0);
	}
	memset(&p, 0, sizeof(p));
	memset(&zero, 0, sizeof(zero));
	err = NULL;
	if (fns[which].fn(fuzz_id, s, len, &p, &err) != 0) {
		if (err == NULL || memcmp(&p, &zero, sizeof(p)) != 0)
			abort();
		return (0);
	}
	if (!PARTY_HAS(&p, fns[which].kind))
		abort();
	memset(&q, 0, sizeof(q));
	if (fns[which].fn(fuzz_id, s, len, &q, &err) != 0 ||
	    q.have != p.have || memcmp(q.h, p.h, sizeof(p.h)) != 0)
		abort();
	if (fns[which].kind == ENT_EMAIL) {
		if (!(p.facts & PF_EMAIL_DOMAIN) ||
		    memchr(p.email_domain, '\0', sizeof(p.email_domain)) ==
		    NULL || p.email_domain[0] == '\0')
			abort();
		/* The domain is lower case. */
		for (len = 0; p.email_domain[len] != '\0'; len++)
			if (p.email_domain[len] >= 'A' &&
			    p.email_domain[len] <= 'Z')
				abort();
	}
	if (fns[which].kind == ENT_IP) {
		if (!(p.facts & PF_IP_INFO) ||
		    (p.ip_version != 4 && p.ip_version != 6) ||
		    !PARTY_HAS(&p, ENT_IP_PREFIX))
			abort();
	}
	return (0);
}
