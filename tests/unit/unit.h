/*
 * unit.h: scaffolding shared by the unit tests (tests/unit/test_*.c):
 * running a suite, scratch directories and files, and the ident and
 * store a test works on. The helpers that take "or fail the test" use
 * ck_assert, so they are for use inside a test or a checked fixture.
 */
#ifndef UNIT_H
#define UNIT_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "ident.h"
#include "store.h"

/* A check request line with every field (the decoder's tests). */
#define PARTY_A	"{\"account\":\"acct-alice-77\",\"email\":" \
	"\"Alice.Smith+promo@Example.COM\",\"ip\":\"203.0.113.9\"," \
	"\"phone\":\"+33 6 12 34 56 78\",\"payment\":\"tok_visa_4242\"," \
	"\"device\":{\"ua\":\"Mozilla/5.0 (X11; Linux x86_64) " \
	"Firefox/120.0\",\"tz\":\"Europe/Paris\",\"id\":\"dev-1\"}}"
#define PARTY_B	"{\"account\":\"acct-bob-88\",\"ip\":\"2001:db8::1\"}"
#define CHECK_FULL	"{\"op\":\"check\",\"id\":\"ref-1\"," \
	"\"ts\":\"2026-11-23T09:00:00Z\",\"campaign\":\"spring\"," \
	"\"referrer\":" PARTY_A ",\"referee\":" PARTY_B "," \
	"\"reward\":{\"amount\":12.5,\"currency\":\"EUR\"}," \
	"\"meta\":{\"free\":[1,2,{\"x\":null}]}}"

/* Run every test of s: the exit status for make check (0 passed, 1 not). */
int		 unit_run(Suite *);
/* The same, then remove the scratch directory dir (see unit_rmrf). */
int		 unit_run_in(Suite *, const char *);

/* mkdtemp(tmpl), saying why on stderr when it fails: 0 or -1. */
int		 unit_tmpdir(char *);
/* Remove dir and all below it, saying so when it cannot: 0 or -1. */
int		 unit_rmrf(const char *);

/* Write len bytes of buf as the file path (mode 0644), or fail the test. */
void		 unit_write(const char *, const void *, size_t);
/* The file path, NUL-terminated, and its length in *lenp if not NULL, or
 * fail the test. */
char		*unit_slurp(const char *, size_t *);

/* An ident keyed by the secret file path (made when absent), /24 and /64
 * IP prefixes, or fail the test. */
struct ident	*unit_ident(const char *);
/*
 * A reload of *id's identity data as the daemon does it: stage the new
 * one from ic (ident_stage), then swap it in for *id. 0, or -1 when some
 * part kept its old state (*cause says why).
 */
int		 unit_reload(struct ident **, const struct ident_conf *,
		     char **);
/* The IP ip through id, or fail the test. */
struct party	 unit_ip(struct ident *, const char *);

/* A store in dir of map size size growing up to max, without fsync, or
 * fail the test. */
struct store	*unit_store(const char *, size_t, size_t);
/* The same with a recent tier budget (0: the default). */
struct store	*unit_store_recent(const char *, size_t, size_t, uint64_t);

#endif
