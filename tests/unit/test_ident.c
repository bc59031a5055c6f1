/* test_ident.c: normalization and fingerprints of the identity module. */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ident_int.h"
#include "util.h"

#include "unit.h"

static char		 tmpdir[] = "/tmp/rg-ident.XXXXXX";
static char		 secret[256], disp[1024];
static struct ident	*id;

static void
mkconf(struct ident_conf *ic)
{
	memset(ic, 0, sizeof(*ic));
	ic->secret_file = secret;
	ic->disposable_file = disp;
}

static void
setup(void)
{
	struct ident_conf	ic;
	char			*cause = NULL;

	mkconf(&ic);
	id = ident_new(&ic, &cause);
	ck_assert_msg(id != NULL, "ident_new: %s", cause);
}

static void
teardown(void)
{
	ident_free(id);
	id = NULL;
}

/* Hash of one field by fn, or fail the test. */
typedef int (*fn_t)(const struct ident *, const char *, size_t,
    struct party *, const char **);

static struct party
field(fn_t fn, const char *s, size_t len)
{
	struct party	p;
	const char	*err = NULL;

	memset(&p, 0, sizeof(p));
	ck_assert_msg(fn(id, s, len, &p, &err) == 0, "'%s': %s", s, err);
	return (p);
}

static int
same(const struct party *a, const struct party *b, enum ent_kind k)
{
	ck_assert(PARTY_HAS(a, k) && PARTY_HAS(b, k));
	return (memcmp(&a->h[k], &b->h[k], RG_HASH_LEN) == 0);
}

static void
check_err(fn_t fn, const char *s, size_t len, const char *want)
{
	struct party	p;
	const char	*err = NULL;

	memset(&p, 0, sizeof(p));
	ck_assert_msg(fn(id, s, len, &p, &err) == -1, "'%s' accepted", s);
	ck_assert_msg(err != NULL && strstr(err, want) != NULL,
	    "'%s': error '%s', want '%s'", s, err, want);
	ck_assert_uint_eq(p.have, 0);
}

#define S(s)	(s), sizeof(s) - 1

/* ---- secret -------------------------------------------------------- */

START_TEST(test_secret)
{
	struct ident_conf	 ic;
	struct ident		*id2;
	struct party		 a, b;
	struct stat		 sb;
	char			*cause = NULL;
	int			 fd;

	ck_assert_int_eq(stat(secret, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(sb.st_size, IDENT_SECRET_LEN);

	/* Same secret, same hashes; another secret, other hashes. */
	mkconf(&ic);
	id2 = ident_new(&ic, &cause);
	ck_assert_ptr_nonnull(id2);
	a = field(ident_account, S("u-17"));
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(ident_account(id2, S("u-17"), &b, &(const char *){0}),
	    0);
	ck_assert(same(&a, &b, ENT_ACCOUNT));
	ident_free(id2);

	chmod(secret, 0640);
	ck_assert_ptr_null(ident_new(&ic, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "chmod 600"));
	free(cause);
	chmod(secret, 0600);

	ic.secret_file = "/nonexistent-dir/secret";
	ck_assert_ptr_null(ident_new(&ic, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "/nonexistent-dir/secret"));
	free(cause);

	char short_secret[300];
	snprintf(short_secret, sizeof(short_secret), "%s/short", tmpdir);
	fd = open(short_secret, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_eq(write(fd, "abc", 3), 3);
	close(fd);
	ic.secret_file = short_secret;
	ck_assert_ptr_null(ident_new(&ic, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "exactly 32 bytes"));
	free(cause);

	/* A fresh secret gives other hashes. */
	snprintf(short_secret, sizeof(short_secret), "%s/other", tmpdir);
	ic.secret_file = short_secret;
	id2 = ident_new(&ic, &cause);
	ck_assert_ptr_nonnull(id2);
	memset(&b, 0, sizeof(b));
	ident_account(id2, S("u-17"), &b, &(const char *){0});
	ck_assert(!same(&a, &b, ENT_ACCOUNT));
	ident_free(id2);
}
END_TEST

START_TEST(test_hash_kinds)
{
	struct rg_hash	a, b;

	ident_hash(id, ENT_EMAIL, "x", 1, &a);
	ident_hash(id, ENT_PHONE, "x", 1, &b);
	ck_assert(memcmp(&a, &b, sizeof(a)) != 0);
	ident_hash(id, ENT_EMAIL, "x", 1, &b);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
}
END_TEST

/* ---- email --------------------------------------------------------- */

/* Two addresses and whether they share a kind. */
struct email_pair {
	const char	*a, *b;
	int		 eq;	/* 1 the same, 0 different, -1 neither has one */
};

static const struct email_pair email_pairs[] = {
	/* the Done-means case */
	{ "janedoe@googlemail.com", "Jane.Doe+x@gmail.com", 1 },
	{ "JANE@Example.COM", "jane@example.com", 1 },
	{ "jane+promo@example.com", "jane@example.com", 1 },
	{ "jane+a+b@example.com", "jane@example.com", 1 },
	{ " jane@example.com\t", "jane@example.com", 1 },
	{ "jane@example.com.", "jane@example.com", 1 },
	{ "j.a.n.e@gmail.com", "jane@gmail.com", 1 },
	{ "J.A.N.E+1@GoogleMail.com", "jane@gmail.com", 1 },
	{ "jane.doe@example.com", "janedoe@example.com", 0 },
	{ "jane@gmail.com", "jane@gmail.co", 0 },
	{ "jane@mail.gmail.com", "jane@gmail.com", 0 },
	/* UTF-8: only ASCII is case-folded; IDNs are not converted */
	{ "Jörg@Example.DE", "Jörg@example.de", 1 },
	{ "JÖRG@example.de", "jörg@example.de", 0 },
	{ "a@bücher.de", "a@BÜcher.de", 0 },
	{ "a@bücher.de", "a@xn--bcher-kva.de", 0 },
	{ "a@XN--BCHER-KVA.de", "a@xn--bcher-kva.de", 1 },
};

START_TEST(test_email_pairs)
{
	struct party	a, b;
	size_t		i;

	for (i = 0; i < nitems(email_pairs); i++) {
		a = field(ident_email, email_pairs[i].a,
		    strlen(email_pairs[i].a));
		b = field(ident_email, email_pairs[i].b,
		    strlen(email_pairs[i].b));
		ck_assert_msg(same(&a, &b, ENT_EMAIL) == email_pairs[i].eq,
		    "'%s' vs '%s': want %s", email_pairs[i].a,
		    email_pairs[i].b, email_pairs[i].eq ? "same" : "different");
	}
}
END_TEST

/*
 * Each pair against kind (what: "shape", "name"), which never hashes
 * like an address.
 */
static void
derived_pairs(const struct email_pair *pairs, size_t n, enum ent_kind kind,
    const char *what)
{
	struct party	a, b;
	size_t		i;

	for (i = 0; i < n; i++) {
		a = field(ident_email, pairs[i].a, strlen(pairs[i].a));
		b = field(ident_email, pairs[i].b, strlen(pairs[i].b));
		ck_assert(PARTY_HAS(&a, ENT_EMAIL));
		if (pairs[i].eq < 0) {
			ck_assert_msg(!PARTY_HAS(&a, kind) &&
			    !PARTY_HAS(&b, kind), "'%s' has a %s", pairs[i].a,
			    what);
			continue;
		}
		ck_assert_msg(PARTY_HAS(&a, kind) && PARTY_HAS(&b, kind),
		    "'%s' or '%s' lacks a %s", pairs[i].a, pairs[i].b, what);
		ck_assert_msg(same(&a, &b, kind) == pairs[i].eq,
		    "'%s' vs '%s': want %s %s", pairs[i].a, pairs[i].b,
		    pairs[i].eq ? "the same" : "a different", what);
		ck_assert(memcmp(&a.h[kind], &a.h[ENT_EMAIL],
		    sizeof(a.h[0])) != 0);
	}
}

/*
 * email.shape: digit runs folded, after the domain's normalization,
 * except a year (19xx, 20xx) and a run of five or more; present only
 * when a run was folded and the local part has a letter.
 */
START_TEST(test_email_shape)
{
	static const struct email_pair pairs[] = {
		{ "john.smith01@example.com", "john.smith02@example.com", 1 },
		{ "john.smith2024.1@example.com", "john.smith01.1@example.com", 0 },
		{ "john.smith01@example.com", "john.smith9999@example.com", 1 },
		{ "s2023885.1@example.edu", "s2023885.12@example.edu", 1 },
		{ "s2023885.1@example.edu", "s2024237.1@example.edu", 0 },
		{ "john.smith01@example.com", "john.smith1899@example.com", 1 },
		{ "anna1987.7@example.com", "anna1987.12@example.com", 1 },
		{ "anna1987.7@example.com", "anna1988.7@example.com", 0 },
		{ "John.Smith7+promo@example.com", "john.smith8@example.com", 1 },
		{ "j.smith.7@gmail.com", "jsmith12@googlemail.com", 1 },
		{ "john.smith01@example.com", "john.smith01@example.org", 0 },
		{ "john.smith01@example.com", "johnsmith01@example.com", 0 },
		{ "a1b22c@example.com", "a9b0c@example.com", 1 },
		{ "a1b22c@example.com", "a1bc@example.com", 0 },
		{ "01john@example.com", "7john@example.com", 1 },
		{ "jörg1@example.de", "jörg2@example.de", 1 },
		{ "john.smith@example.com", "john.smith@example.com", -1 },
		{ "12345@qq.com", "67890@qq.com", -1 },
		{ "anna1987@example.com", "john.smith2024@example.com", -1 },
		{ "s202388531@example.edu", "ra20242378@example.edu", -1 },
		{ "1-2_3@example.com", "4-5_6@example.com", -1 },
	};
	struct party	a, b;

	derived_pairs(pairs, nitems(pairs), ENT_EMAIL_SHAPE, "shape");
	/* The shape of "x#@example.com" is not the address "x#@...". */
	a = field(ident_email, S("x1@example.com"));
	b = field(ident_email, S("x#@example.com"));
	ck_assert(memcmp(&a.h[ENT_EMAIL_SHAPE], &b.h[ENT_EMAIL],
	    sizeof(a.h[0])) != 0);
}
END_TEST

/*
 * email.name: the letters of the local part after the domain's
 * normalization, any domain, any digits or separators; present only
 * with six letters or more.
 */
START_TEST(test_email_name)
{
	static const struct email_pair pairs[] = {
		{ "lena.richter@gmx.de", "Lena.Richter10@gmail.com", 1 },
		{ "isla.anderson275@gmail.com", "isla_anderson21@outlook.com", 1 },
		{ "marylewis@icloud.com", "mary-lewis33@icloud.com", 1 },
		{ "m.a.r.y.lewis+ref@gmail.com", "marylewis@yahoo.com", 1 },
		{ "jörg.müller@web.de", "joerg.mueller@web.de", 0 },
		{ "jörg.müller@web.de", "jörgmüller1@gmx.de", 1 },
		{ "lena.richter@gmx.de", "jonas.richter@gmx.de", 0 },
		{ "lena.richter@gmx.de", "richter.lena@gmx.de", 0 },
		{ "jörg.mxller@web.de", "jürg.mxller@web.de", 0 },
		{ "иван.петров@mail.ru", "иванпетров1990@yandex.ru", 1 },
		{ "annabe@example.com", "anna.be7@example.org", 1 },
		{ "anna1987@example.com", "anna2001@example.com", -1 },
		{ "annab1@example.com", "anna.b2@example.org", -1 },
		{ "иван@mail.ru", "иван1990@yandex.ru", -1 },
		{ "王伟@qq.com", "王伟88@163.com", -1 },
		{ "\xc2\xa0\xc2\xa0\xc2\xa0@example.com",
		  "\xc2\xa0\xc2\xa0\xc2\xa0@example.org", -1 },
		{ "\xf0\x9f\x98\x80\xf0\x9f\x98\x80@example.com",
		  "\xf0\x9f\x98\x80\xf0\x9f\x98\x80@example.org", -1 },
		{ "info@example.com", "info@example.org", -1 },
		{ "12345@qq.com", "67890@qq.com", -1 },
	};
	struct party	a, b;

	derived_pairs(pairs, nitems(pairs), ENT_EMAIL_NAME, "name");
	/* The name "marylewis" is not the address "marylewis@...". */
	a = field(ident_email, S("mary.lewis1@example.com"));
	b = field(ident_email, S("marylewis@example.com"));
	ck_assert(memcmp(&a.h[ENT_EMAIL_NAME], &b.h[ENT_EMAIL],
	    sizeof(a.h[0])) != 0);
}
END_TEST

START_TEST(test_email_bad)
{
	char	big[400];
	size_t	i;
	static const struct {
		const char	*s;
		size_t		 len;
		const char	*err;
	} bad[] = {
		{ S(""), "empty" },
		{ S("   "), "empty" },
		{ S("janedoe"), "no @" },
		{ S("@example.com"), "empty local part" },
		{ S("jane@"), "empty domain" },
		{ S("jane@localhost"), "single label" },
		{ S("jane@exa mple.com"), "spaces" },
		{ S("jane doe@example.com"), "spaces" },
		{ S("jane\0@example.com"), "control" },
		{ S("jane@example.com\0"), "control" },
		{ S("ja\x1bne@example.com"), "control" },
		{ S("jane@x..com"), "label" },
		{ S("jane@.x.com"), "label" },
		{ S("jane@-x.com"), "label" },
		{ S("jane@x-.com"), "label" },
		{ S("jane@exa_mple.com"), "characters" },
		{ S("jane@[192.0.2.1]"), "literal" },
		{ S("+tag@gmail.com"), "empty local part once" },
		{ S("...@gmail.com"), "empty local part once" },
		{ S("\xc3\x28@example.com"), "UTF-8" },
		{ S("\xc0\xaf@example.com"), "UTF-8" },		/* overlong */
		{ S("\xed\xa0\x80@example.com"), "UTF-8" },	/* surrogate */
		{ S("\xf4\x90\x80\x80@example.com"), "UTF-8" },	/* > U+10FFFF */
		{ S("jane@example.c\xc3"), "UTF-8" },		/* truncated */
	};

	for (i = 0; i < nitems(bad); i++)
		check_err(ident_email, bad[i].s, bad[i].len, bad[i].err);

	/* 255 bytes */
	memset(big, 'a', sizeof(big));
	memcpy(big + 64, "@", 1);
	memcpy(big + 251, ".com", 4);
	for (i = 65; i < 251; i += 50)
		big[i] = '.';
	check_err(ident_email, big, 255, "longer than 254");
	check_err(ident_email, big, sizeof(big), "longer than 254");
	/* 65-byte local part */
	memset(big, 'a', 65);
	memcpy(big + 65, "@example.com", 12);
	check_err(ident_email, big, 77, "local part longer than 64");
	/* 64-byte label, then 63 */
	memcpy(big, "a@", 2);
	memset(big + 2, 'b', 64);
	memcpy(big + 66, ".com", 4);
	check_err(ident_email, big, 70, "longer than 63");
	memcpy(big + 65, ".com", 4);
	field(ident_email, big, 69);
}
END_TEST

START_TEST(test_email_facts)
{
	struct party	p;

	p = field(ident_email, S("Jane@GoogleMail.COM"));
	ck_assert(p.facts & PF_EMAIL_DOMAIN);
	ck_assert_str_eq(p.email_domain, "gmail.com");
	ck_assert(p.facts & PF_EMAIL_DISPOSABLE);
	ck_assert(!p.email_disposable);
	/* Tagged: a sub-address, not a respelling (dots, googlemail). */
	ck_assert(p.facts & PF_EMAIL_TAGGED);
	ck_assert(!p.email_tagged);
	p = field(ident_email, S("Jane.Doe+teen@gmail.com"));
	ck_assert(p.facts & PF_EMAIL_TAGGED);
	ck_assert(p.email_tagged);
	p = field(ident_email, S("j.a.n.e.doe@googlemail.com"));
	ck_assert(!p.email_tagged);

	static const struct {
		const char	*s;
		bool		 disp;
	} d[] = {
		{ "a@mailinator.com", true },
		{ "a@MAILINATOR.com", true },
		{ "a@a.b.mailinator.com", true },
		{ "a@notmailinator.com", false },
		{ "a@mailinator.com.evil.example", false },
		{ "a@x.wildcard-disposable.net", true },
		{ "a@wildcard-disposable.net", true },
		{ "a@dot-prefixed.org", true },
		{ "a@upper-case.example", true },
		{ "a@foo.0-mailer.dynv6.net", true },
		{ "a@dynv6.net", false },
		{ "a@tempmail.co.uk", true },
		{ "a@co.uk", false },
		{ "a@gmail.com", false },
	};
	size_t	i;

	for (i = 0; i < nitems(d); i++) {
		p = field(ident_email, d[i].s, strlen(d[i].s));
		ck_assert(p.facts & PF_EMAIL_DISPOSABLE);
		ck_assert_msg(p.email_disposable == d[i].disp, "%s", d[i].s);
	}
}
END_TEST

START_TEST(test_email_nolist)
{
	struct ident_conf	 ic;
	struct ident		*id2;
	struct party		 p;
	const char		*err;
	char			*cause;

	mkconf(&ic);
	ic.disposable_file = NULL;
	id2 = ident_new(&ic, &cause);
	ck_assert_ptr_nonnull(id2);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(ident_email(id2, S("a@mailinator.com"), &p, &err), 0);
	ck_assert(!(p.facts & PF_EMAIL_DISPOSABLE));
	ck_assert(!p.email_disposable);
	ident_free(id2);

	ic.disposable_file = "/nonexistent/disposable.txt";
	ck_assert_ptr_null(ident_new(&ic, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "/nonexistent/disposable.txt"));
	free(cause);
}
END_TEST

static struct ident *
with_domains(const char *const *vals, size_t n, char **cause)
{
	struct ident_conf	 ic;
	struct conf_str		 cs[8];
	size_t			 i;

	mkconf(&ic);
	for (i = 0; i < n; i++) {
		cs[i].val = (char *)vals[i];
		cs[i].file = (char *)"t.conf";
		cs[i].line = (int)i + 3;
	}
	ic.email_domains = cs;
	ic.nemail_domains = n;
	*cause = NULL;
	return (ident_new(&ic, cause));
}

START_TEST(test_email_domains)
{
	static const char *const good[] = {
		"fastmail.com dots",
		"Example.ORG no_tag",
		"yahoo.com tag=-+",
		"ymail.com alias=yahoo.com tag=-",
		"gmail.com plus_tag",		/* replaces the built-in */
	};
	static const struct {
		const char	*val;
		const char	*err;
	} bad[] = {
		{ "foo.com bogus", "t.conf:3: email_domain: unknown option 'bogus'" },
		{ "", "t.conf:3: email_domain: empty value" },
		{ "localhost dots", "single label" },
		{ "foo.com alias=bar", "alias=bar: domain has a single label" },
		{ "x.com alias=x.com", "alias of itself" },
		{ "x.com tag=@", "cannot separate" },
		{ "x.com tag=", "tag= needs" },
	};
	struct ident	*saved = id, *id2;
	struct party	 a, b;
	char		*cause;
	size_t		 i;

	id2 = with_domains(good, nitems(good), &cause);
	ck_assert_msg(id2 != NULL, "%s", cause);
	id = id2;
	a = field(ident_email, S("a.b@fastmail.com"));
	b = field(ident_email, S("ab+x@fastmail.com"));
	ck_assert(same(&a, &b, ENT_EMAIL));
	a = field(ident_email, S("a+b@example.org"));
	b = field(ident_email, S("a@example.org"));
	ck_assert(!same(&a, &b, ENT_EMAIL));
	a = field(ident_email, S("jane-shop@yahoo.com"));
	b = field(ident_email, S("jane+x@yahoo.com"));
	ck_assert(same(&a, &b, ENT_EMAIL));
	b = field(ident_email, S("jane-x@ymail.com"));
	ck_assert(same(&a, &b, ENT_EMAIL));
	ck_assert_str_eq(b.email_domain, "yahoo.com");
	/* gmail.com replaced: dots now count */
	a = field(ident_email, S("jane.doe@gmail.com"));
	b = field(ident_email, S("janedoe@gmail.com"));
	ck_assert(!same(&a, &b, ENT_EMAIL));
	id = saved;
	ident_free(id2);

	for (i = 0; i < nitems(bad); i++) {
		ck_assert_ptr_null(with_domains(&bad[i].val, 1, &cause));
		ck_assert_msg(strstr(cause, bad[i].err) != NULL,
		    "'%s': '%s', want '%s'", bad[i].val, cause, bad[i].err);
		free(cause);
	}
	static const char *const dup[] = { "a.com dots", "A.com" };
	ck_assert_ptr_null(with_domains(dup, 2, &cause));
	ck_assert_str_eq(cause, "t.conf:4: email_domain: 'a.com' is already "
	    "set at t.conf:3");
	free(cause);
}
END_TEST

/* ---- phone, payment, account ------------------------------------- */

START_TEST(test_phone)
{
	struct party	a, b;

	a = field(ident_phone, S("+44 7700 900123"));
	b = field(ident_phone, S("+447700900123"));
	ck_assert(same(&a, &b, ENT_PHONE));
	b = field(ident_phone, S(" +44 (7700) 900-123 "));
	ck_assert(same(&a, &b, ENT_PHONE));
	b = field(ident_phone, S("+44.7700.900/123"));
	ck_assert(same(&a, &b, ENT_PHONE));
	b = field(ident_phone, S("447700900123"));
	ck_assert(!same(&a, &b, ENT_PHONE));
	field(ident_phone, S("12345"));

	check_err(ident_phone, S(""), "empty");
	check_err(ident_phone, S("+44 7700 CALL ME"), "letters");
	check_err(ident_phone, S("1234"), "fewer than 5 digits");
	check_err(ident_phone, S("+1 2"), "fewer than 5 digits");
	check_err(ident_phone, S("1+2345"), "not a phone number");
	check_err(ident_phone, S("++12345"), "not a phone number");
	check_err(ident_phone, S("12345#6"), "not a phone number");
	check_err(ident_phone, S("123\0" "45"), "control");
	check_err(ident_phone, S("123456789012345678901"), "more than 20");
	check_err(ident_phone, S("\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93"
	    "\xef\xbc\x94\xef\xbc\x95"), "not a phone number");	/* fullwidth */
	check_err(ident_phone, S("+1 (555) ---------------------------------"
	    "-------------------- 0100"), "longer than 64");
}
END_TEST

/*
 * phone.block: the number without its last two digits, for numbers of
 * eight digits or more; its own kind, never equal to a phone's hash.
 */
START_TEST(test_phone_block)
{
	struct party	a, b;

	a = field(ident_phone, S("+44 7700 900123"));
	b = field(ident_phone, S("+447700900187"));
	ck_assert(PARTY_HAS(&a, ENT_PHONE_BLOCK) &&
	    PARTY_HAS(&b, ENT_PHONE_BLOCK));
	ck_assert(!same(&a, &b, ENT_PHONE));
	ck_assert(same(&a, &b, ENT_PHONE_BLOCK));
	b = field(ident_phone, S("+447700900200"));	/* the next hundred */
	ck_assert(!same(&a, &b, ENT_PHONE_BLOCK));
	b = field(ident_phone, S("447700900123"));	/* the + counts */
	ck_assert(!same(&a, &b, ENT_PHONE_BLOCK));
	/* Not the hash of a phone whose number is the block. */
	b = field(ident_phone, S("+4477009001"));
	ck_assert(memcmp(&a.h[ENT_PHONE_BLOCK], &b.h[ENT_PHONE],
	    sizeof(a.h[0])) != 0);
	/* Eight digits have a block of six; seven have none. */
	a = field(ident_phone, S("12345678"));
	b = field(ident_phone, S("12345699"));
	ck_assert(same(&a, &b, ENT_PHONE_BLOCK));
	a = field(ident_phone, S("1234567"));
	ck_assert(PARTY_HAS(&a, ENT_PHONE) && !PARTY_HAS(&a, ENT_PHONE_BLOCK));
}
END_TEST

/*
 * phone.country: the calling code's country, for international numbers
 * only; none for +1 (shared), for a code nobody has, without the "+".
 */
START_TEST(test_phone_country)
{
	static const struct {
		const char	*in;
		const char	*cc;	/* NULL: no fact */
	} t[] = {
		{ "+44 7700 900123", "GB" },	/* two digits */
		{ "+234 803 225 1151", "NG" },	/* three */
		{ "+2348032251151", "NG" },
		{ "+63 919 626 3342", "PH" },
		{ "+54 9 11 2314-7658", "AR" },
		{ "+380 93 856 2950", "UA" },
		{ "+90 543 887 4080", "TR" },
		{ "+7 912 345 67 89", "RU" },	/* +7: Russia ... */
		{ "+7 701 234 5678", "KZ" },	/* ... or Kazakhstan */
		{ "+358 18 123 456", "AX" },	/* a shared code's other */
		{ "+358 40 123 4567", "FI" },	/* ... and its main country */
		{ "+44 7624 123456", "IM" },
		{ "+44 7781 123456", "GB" },	/* Guernsey: the pattern tells */
		{ "+1 (305) 968-4595", NULL },	/* 25 countries */
		{ "+999 12345", NULL },		/* nobody's */
		{ "+800 1234 5678", NULL },	/* not a country's */
		{ "0044 7700 900123", NULL },	/* no "+" */
		{ "07700 900123", NULL },
	};
	struct party	p;
	size_t		i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		p = field(ident_phone, t[i].in, strlen(t[i].in));
		if (t[i].cc == NULL) {
			ck_assert_msg(!(p.facts & PF_PHONE_COUNTRY),
			    "%s: %s", t[i].in, p.phone_country);
			continue;
		}
		ck_assert_msg(p.facts & PF_PHONE_COUNTRY, "%s: none", t[i].in);
		ck_assert_str_eq(p.phone_country, t[i].cc);
	}
}
END_TEST

START_TEST(test_payment_account)
{
	struct party	a, b;
	char		big[300];

	a = field(ident_payment, S(" pm_fpr_ab12\n"));
	b = field(ident_payment, S("pm_fpr_ab12"));
	ck_assert(same(&a, &b, ENT_PAYMENT));
	b = field(ident_payment, S("PM_FPR_AB12"));
	ck_assert(!same(&a, &b, ENT_PAYMENT));
	check_err(ident_payment, S(""), "empty");
	check_err(ident_payment, S("  \t"), "empty");
	check_err(ident_payment, S("pm_\x01"), "control");
	check_err(ident_payment, S("pm\0x"), "control");
	memset(big, 'x', sizeof(big));
	field(ident_payment, big, 256);
	check_err(ident_payment, big, 257, "longer than 256");

	a = field(ident_account, S("u-17"));
	b = field(ident_account, S("u-17 "));
	ck_assert(!same(&a, &b, ENT_ACCOUNT));	/* opaque */
	field(ident_account, S("ユーザー"));
	field(ident_account, big, 128);
	check_err(ident_account, big, 129, "longer than 128");
	check_err(ident_account, S(""), "empty");
	check_err(ident_account, S("u\n17"), "control");
	check_err(ident_account, S("u\0" "17"), "control");

	/* kinds are separated: same bytes, other hash */
	a = field(ident_account, S("pm_fpr_ab12"));
	b = field(ident_payment, S("pm_fpr_ab12"));
	ck_assert(memcmp(&a.h[ENT_ACCOUNT], &b.h[ENT_PAYMENT], RG_HASH_LEN));
}
END_TEST

START_TEST(test_edge)
{
	struct party	a, b;
	struct rg_hash	ab, ba, ab2;

	a = field(ident_account, S("u-17"));
	b = field(ident_account, S("u-9001"));
	ident_edge(id, &a, &b, &ab);
	ident_edge(id, &b, &a, &ba);
	ident_edge(id, &a, &b, &ab2);
	ck_assert(memcmp(&ab, &ba, sizeof(ab)) != 0);
	ck_assert(memcmp(&ab, &ab2, sizeof(ab)) == 0);
}
END_TEST

/* ---- IP ------------------------------------------------------------ */

static const struct {
	const char	*s;
	int		 version;	/* 0: rejected */
	bool		 private;
	const char	*same_as;	/* same ip hash, or an error substring */
} ips[] = {
	{ "81.2.69.160", 4, false, NULL },
	{ "::ffff:81.2.69.160", 4, false, "81.2.69.160" },
	{ "::FFFF:81.2.69.160", 4, false, "81.2.69.160" },
	{ "0:0:0:0:0:ffff:5102:45a0", 4, false, "81.2.69.160" },
	{ "2001:DB8::1", 6, true, "2001:db8:0:0:0:0:0:1" },
	{ "2001:4860:4860::8888", 6, false, NULL },
	{ "2002:5102:45a0::1", 6, false, NULL },	/* 6to4: not folded */
	{ "::ffff:0:81.2.69.160", 6, false, NULL },	/* SIIT: not folded */
	{ "8.8.8.8", 4, false, NULL },
	{ "0.0.0.0", 4, true, NULL },
	{ "10.1.2.3", 4, true, NULL },
	{ "100.64.0.1", 4, true, NULL },
	{ "100.127.255.255", 4, true, NULL },
	{ "100.128.0.1", 4, false, NULL },
	{ "127.0.0.1", 4, true, NULL },
	{ "169.254.1.1", 4, true, NULL },
	{ "172.16.0.1", 4, true, NULL },
	{ "172.31.255.255", 4, true, NULL },
	{ "172.32.0.1", 4, false, NULL },
	{ "192.0.2.1", 4, true, NULL },
	{ "192.168.1.1", 4, true, NULL },
	{ "198.18.0.1", 4, true, NULL },
	{ "198.51.100.7", 4, true, NULL },
	{ "203.0.113.9", 4, true, NULL },
	{ "224.0.0.1", 4, true, NULL },
	{ "255.255.255.255", 4, true, NULL },
	{ "::ffff:10.0.0.1", 4, true, "10.0.0.1" },
	{ "::", 6, true, NULL },
	{ "::1", 6, true, NULL },
	{ "fc00::1", 6, true, NULL },
	{ "fd12:3456::1", 6, true, NULL },
	{ "fe80::1", 6, true, NULL },
	{ "febf::1", 6, true, NULL },
	{ "fec0::1", 6, true, NULL },
	{ "ff02::1", 6, true, NULL },
	{ "3fff::1", 6, true, NULL },
	{ "64:ff9b:1::1", 6, true, NULL },
	{ "64:ff9b::808:808", 6, false, NULL },
	{ "fe80::1%eth0", 0, false, "zone" },
	{ "fe80::1%25eth0", 0, false, "zone" },
	{ "1.2.3.4%eth0", 0, false, "zone" },
	{ "1.2.3.4 ", 0, false, "not an IPv4 or IPv6" },
	{ " 1.2.3.4", 0, false, "not an IPv4 or IPv6" },
	{ "01.2.3.4", 0, false, "not an IPv4 or IPv6" },
	{ "1.2.3", 0, false, "not an IPv4 or IPv6" },
	{ "1.2.3.256", 0, false, "not an IPv4 or IPv6" },
	{ "0x7f.0.0.1", 0, false, "not an IPv4 or IPv6" },
	{ "[::1]", 0, false, "not an IPv4 or IPv6" },
	{ "::1/128", 0, false, "not an IPv4 or IPv6" },
	{ "1:2:3:4:5:6:7:8:9", 0, false, "not an IPv4 or IPv6" },
	{ "example.com", 0, false, "not an IPv4 or IPv6" },
	{ "", 0, false, "not an IPv4 or IPv6" },
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa", 0, false,
	    "not an IPv4 or IPv6" },
};

START_TEST(test_ip_table)
{
	struct party	p, q;
	size_t		i;

	for (i = 0; i < nitems(ips); i++) {
		if (ips[i].version == 0) {
			check_err(ident_ip, ips[i].s, strlen(ips[i].s),
			    ips[i].same_as);
			continue;
		}
		p = field(ident_ip, ips[i].s, strlen(ips[i].s));
		ck_assert_msg(p.ip_version == ips[i].version, "%s", ips[i].s);
		ck_assert_msg(p.ip_private == ips[i].private, "%s: private %d",
		    ips[i].s, p.ip_private);
		ck_assert(p.facts & PF_IP_INFO);
		ck_assert(PARTY_HAS(&p, ENT_IP_PREFIX));
		ck_assert_uint_eq(p.geo.have, 0);	/* no DBs */
		if (ips[i].same_as != NULL) {
			q = field(ident_ip, ips[i].same_as,
			    strlen(ips[i].same_as));
			ck_assert_msg(same(&p, &q, ENT_IP), "%s", ips[i].s);
			ck_assert(same(&p, &q, ENT_IP_PREFIX));
		}
	}
	check_err(ident_ip, S("1.2.3.4\0"), "not an IPv4 or IPv6");
	check_err(ident_ip, S("1.2\0.3.4"), "not an IPv4 or IPv6");
}
END_TEST

START_TEST(test_ip_prefix)
{
	struct ident_conf	 ic;
	struct ident		*saved = id;
	struct party		 a, b, c, d;
	char			*cause;

	a = field(ident_ip, S("81.2.69.1"));
	b = field(ident_ip, S("81.2.69.254"));
	c = field(ident_ip, S("81.2.70.1"));
	ck_assert(!same(&a, &b, ENT_IP));
	ck_assert(same(&a, &b, ENT_IP_PREFIX));
	ck_assert(!same(&a, &c, ENT_IP_PREFIX));
	a = field(ident_ip, S("2001:4860:1:2::1"));
	b = field(ident_ip, S("2001:4860:1:2:ffff:ffff:ffff:ffff"));
	c = field(ident_ip, S("2001:4860:1:3::1"));
	ck_assert(same(&a, &b, ENT_IP_PREFIX));
	ck_assert(!same(&a, &c, ENT_IP_PREFIX));
	/* A v4 prefix and the v6 prefix of the same bytes differ. */
	d = field(ident_ip, S("81.2.69.1"));

	mkconf(&ic);
	ic.prefix4 = 16;
	ic.prefix6 = 48;
	id = ident_new(&ic, &cause);
	ck_assert_ptr_nonnull(id);
	a = field(ident_ip, S("81.2.1.1"));
	b = field(ident_ip, S("81.2.255.3"));
	ck_assert(same(&a, &b, ENT_IP_PREFIX));
	/* /16 and /24 prefixes of one address never share a hash */
	c = field(ident_ip, S("81.2.69.1"));
	ck_assert(!same(&c, &d, ENT_IP_PREFIX));
	ck_assert(same(&c, &d, ENT_IP));
	a = field(ident_ip, S("2001:4860:1:2::1"));
	b = field(ident_ip, S("2001:4860:1:ffff::1"));
	ck_assert(same(&a, &b, ENT_IP_PREFIX));
	ident_free(id);
	ic.prefix4 = 33;
	ck_assert_ptr_null(ident_new(&ic, &cause));
	free(cause);
	id = saved;
}
END_TEST

/* ---- device -------------------------------------------------------- */

#define FF118	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:118.0) " \
		"Gecko/20100101 Firefox/118.0"
#define FF119	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:119.0) " \
		"Gecko/20100101 Firefox/119.0"
#define CH119	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " \
		"(KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"
#define CH120	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " \
		"(KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36"

static struct dev_attr
A(const char *k, const char *v)
{
	struct dev_attr	a = { k, strlen(k), v, strlen(v) };

	return (a);
}

static struct party
dev(const struct dev_attr *a, size_t n)
{
	struct party	 p;
	const char	*ek = NULL, *err = NULL;

	memset(&p, 0, sizeof(p));
	ck_assert_msg(ident_device(id, a, n, &p, &ek, &err) == 0, "%s: %s",
	    ek ? ek : "-", err);
	return (p);
}

START_TEST(test_device_done)
{
	struct dev_attr	a[] = { A("ua", FF118), A("tz", "Europe/London"),
	    A("screen", "1920x1080"), A("lang", "en-GB") };
	struct dev_attr	b[] = { A("lang", "en-GB"), A("ua", FF119),
	    A("screen", "1920x1080"), A("tz", "Europe/London") };
	struct party	p, q;

	p = dev(a, nitems(a));
	q = dev(b, nitems(b));
	ck_assert(same(&p, &q, ENT_DEVICE_FUZZY));
	ck_assert(!same(&p, &q, ENT_DEVICE));
	ck_assert(!PARTY_HAS(&p, ENT_DEVICE_ID));

	/* another browser, another OS, another zone: another fuzzy print */
	b[1] = A("ua", CH119);
	q = dev(b, nitems(b));
	ck_assert(!same(&p, &q, ENT_DEVICE_FUZZY));
	b[1] = A("ua", FF118);
	b[3] = A("tz", "Europe/Paris");
	q = dev(b, nitems(b));
	ck_assert(!same(&p, &q, ENT_DEVICE_FUZZY));
	ck_assert(!same(&p, &q, ENT_DEVICE));
}
END_TEST

START_TEST(test_device_canon)
{
	struct dev_attr	a[] = { A("ua", CH119), A("tz", "Europe/London"),
	    A("screen", "1920x1080"), A("lang", "en-GB"),
	    A("fonts", "Arial,Helvetica,Times"), A("canvas", "a1B2"),
	    A("id", "sdk-1"), A("x_custom", "Foo") };
	struct dev_attr	b[] = { A("X_Custom", " Foo "), A("ID", "sdk-2"),
	    A("canvas", "a1B2"), A("fonts", "times, ARIAL ,helvetica,arial"),
	    A("LANG", "en_gb"), A("screen", "1920 \xc3\x97 1080"),
	    A("tz", " europe/london"), A("UA", CH119) };
	struct party	p, q;

	p = dev(a, nitems(a));
	q = dev(b, nitems(b));
	ck_assert(same(&p, &q, ENT_DEVICE));
	ck_assert(same(&p, &q, ENT_DEVICE_FUZZY));
	ck_assert(!same(&p, &q, ENT_DEVICE_ID));	/* id is not in device */

	/* case counts in canvas and extra attributes */
	b[2] = A("canvas", "A1b2");
	q = dev(b, nitems(b));
	ck_assert(!same(&p, &q, ENT_DEVICE));
	ck_assert(same(&p, &q, ENT_DEVICE_FUZZY));
	b[2] = A("canvas", "a1B2");
	b[0] = A("x_custom", "foo");
	q = dev(b, nitems(b));
	ck_assert(!same(&p, &q, ENT_DEVICE));

	/* rotation: same fuzzy, other exact */
	b[0] = A("x_custom", "Foo");
	b[5] = A("screen", "1080x1920");
	q = dev(b, nitems(b));
	ck_assert(!same(&p, &q, ENT_DEVICE));
	ck_assert(same(&p, &q, ENT_DEVICE_FUZZY));

	/* device.id is the hash of the SDK id */
	struct rg_hash	h;
	ident_hash(id, ENT_DEVICE_ID, "sdk-1", 5, &h);
	ck_assert(memcmp(&h, &p.h[ENT_DEVICE_ID], sizeof(h)) == 0);

	/* an extra attribute changes the exact print only */
	struct dev_attr	c[nitems(a) + 1];
	memcpy(c, a, sizeof(a));
	c[nitems(a)] = A("hw", "8 cores");
	q = dev(c, nitems(c));
	ck_assert(!same(&p, &q, ENT_DEVICE));
	ck_assert(same(&p, &q, ENT_DEVICE_FUZZY));

	/* empty values are absent, not distinct */
	c[nitems(a)] = A("hw", "  ");
	q = dev(c, nitems(c));
	ck_assert(same(&p, &q, ENT_DEVICE));
}
END_TEST

START_TEST(test_device_weak)
{
	struct dev_attr	a[] = { A("tz", "Europe/London"), A("lang", "en") };
	struct dev_attr	b[] = { A("ua", FF118) };
	struct dev_attr	c[] = { A("id", "sdk-4f1c") };
	struct dev_attr	d[] = { A("id", "sdk-4f1c"), A("ua", FF118) };
	struct party	p;

	p = dev(a, nitems(a));
	ck_assert_uint_eq(p.have, 0);
	p = dev(b, nitems(b));
	ck_assert_uint_eq(p.have, 1u << ENT_DEVICE);
	p = dev(c, nitems(c));
	ck_assert_uint_eq(p.have, 1u << ENT_DEVICE_ID);
	p = dev(d, nitems(d));
	ck_assert_uint_eq(p.have, (1u << ENT_DEVICE_ID) | (1u << ENT_DEVICE));
	/* with one stable attribute more: fuzzy and stable too */
	struct dev_attr	e[] = { A("ua", FF118), A("tz", "Europe/London") };
	p = dev(e, nitems(e));
	ck_assert_uint_eq(p.have, (1u << ENT_DEVICE) |
	    (1u << ENT_DEVICE_FUZZY) | (1u << ENT_DEVICE_STABLE));
}
END_TEST

START_TEST(test_device_bad)
{
	struct dev_attr	 a[40] = { { 0 } };
	struct party	 p;
	const char	*ek, *err;
	char		 big[1100], names[40][8];
	size_t		 i;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(ident_device(id, a, 0, &p, &ek, &err), -1);
	ck_assert_ptr_null(ek);
	ck_assert_str_eq(err, "empty device object");

	for (i = 0; i < nitems(a); i++) {
		snprintf(names[i], sizeof(names[i]), "k%zu", i);
		a[i] = A(names[i], "v");
	}
	ck_assert_int_eq(ident_device(id, a, 33, &p, &ek, &err), -1);
	ck_assert_ptr_null(ek);
	ck_assert_ptr_nonnull(strstr(err, "more than 32"));
	ck_assert_int_eq(ident_device(id, a, 32, &p, &ek, &err), 0);

	memset(big, 'a', sizeof(big));
	big[1025] = '\0';
	a[0] = A("ua", FF118);
	a[1] = A("canvas", big);
	ck_assert_int_eq(ident_device(id, a, 2, &p, &ek, &err), -1);
	ck_assert_ptr_eq(ek, a[1].key);
	ck_assert_ptr_nonnull(strstr(err, "longer than 1024"));
	big[1024] = '\0';
	a[1] = A("canvas", big);
	ck_assert_int_eq(ident_device(id, a, 2, &p, &ek, &err), 0);

	static const struct {
		const char	*k, *v;
		size_t		 vlen;
		const char	*err;
	} bad[] = {
		{ "bad key", "x", 1, "attribute name has" },
		{ "", "x", 1, "empty attribute name" },
		{ "tz", "Europe/\nLondon", 14, "control" },
		{ "tz", "Europe\0London", 13, "control" },
		{ "tz", "\xc3\x28", 2, "UTF-8" },
		{ "UA", "x", 1, "duplicate" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		    "x", 1, "longer than 64" },
	};
	for (i = 0; i < nitems(bad); i++) {
		a[0] = A("ua", FF118);
		a[1].key = bad[i].k;
		a[1].keylen = strlen(bad[i].k);
		a[1].val = bad[i].v;
		a[1].vallen = bad[i].vlen;
		ek = err = NULL;
		ck_assert_int_eq(ident_device(id, a, 2, &p, &ek, &err), -1);
		ck_assert_msg(ek == a[1].key, "%s: errkey", bad[i].err);
		ck_assert_msg(strstr(err, bad[i].err) != NULL, "%s vs %s", err,
		    bad[i].err);
	}
	a[0] = A("ua", "  ");
	a[1] = A("tz", "");
	ck_assert_int_eq(ident_device(id, a, 2, &p, &ek, &err), -1);
	ck_assert_ptr_null(ek);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
}
END_TEST

static const struct {
	const char	*ua, *family;
} uas[] = {
	{ FF118, "firefox/windows" },
	{ CH120, "chrome/windows" },
	{ "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
	  "(KHTML, like Gecko) Version/17.1 Safari/605.1.15", "safari/macos" },
	{ "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
	  "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 "
	  "Safari/604.1", "safari/ios" },
	{ "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
	  "AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 "
	  "Mobile/15E148 Safari/604.1", "chrome/ios" },
	{ "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
	  "AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/119.0 Mobile/15E148 "
	  "Safari/605.1.15", "firefox/ios" },
	{ "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
	  "like Gecko) Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.72",
	  "edge/windows" },
	{ "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like "
	  "Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 EdgA/119.0.2151.78",
	  "edge/android" },
	{ "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
	  "like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
	  "opera/windows" },
	{ "Opera/9.80 (Windows NT 6.1; U; en) Presto/2.10.229 Version/11.61",
	  "opera/windows" },
	{ "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 "
	  "(KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile "
	  "Safari/537.36", "samsung/android" },
	{ "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) "
	  "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
	  "Chrome/119.0.6045.163 Mobile Safari/537.36", "webview/android" },
	{ "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 "
	  "Firefox/119.0", "firefox/linux" },
	{ "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, "
	  "like Gecko) Chrome/119.0.0.0 Safari/537.36", "chrome/chromeos" },
	{ "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) "
	  "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
	  "[FBAN/FBIOS;FBAV/436.0.0.35.101]", "facebook/ios" },
	{ "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) "
	  "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	  "webview/ios" },
	{ "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
	  "ie/windows" },
	{ "MyApp/3.2.1 (iPhone; iOS 17.1; Scale/3.00)", "app:myapp/ios" },
	{ "MyApp/3.3.0 (iPhone; iOS 17.2; Scale/3.00)", "app:myapp/ios" },
	{ "okhttp/4.9.0", "app:okhttp/other" },
	{ "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A)",
	  "app:dalvik/android" },
	{ "MyApp/1.0 CFNetwork/1408.0.4 Darwin/22.5.0", "app:myapp/darwin" },
	{ "Mozilla/5.0 (compatible; Googlebot/2.1; "
	  "+http://www.google.com/bot.html)", "bot/other" },
	{ "", "other/other" },
	{ "Mozilla/5.0", "other/other" },
};

START_TEST(test_ua_family)
{
	char	out[96];
	size_t	i, n;

	for (i = 0; i < nitems(uas); i++) {
		n = ident_device_ua_family(uas[i].ua, strlen(uas[i].ua), out,
		    sizeof(out));
		ck_assert_uint_eq(n, strlen(out));
		ck_assert_msg(strcmp(out, uas[i].family) == 0, "%s: got %s",
		    uas[i].ua, out);
	}
}
END_TEST

/* device.emulator from what a device says: the many ways it says it. */
static bool
emu(const struct dev_attr *a, size_t n)
{
	struct party	p = dev(a, n);

	ck_assert(p.facts & PF_DEVICE_EMULATOR);
	return (p.device_emulator);
}

START_TEST(test_device_emulator)
{
	/* An app on x86, whatever model it claims (LDPlayer, BlueStacks). */
	struct dev_attr	app[] = { A("ua", "Tilde/6.21.2 (Android 14; SM-A566B; "
	    "Build/TP1A.220624.014) okhttp/4.12.0"), A("platform", "android"),
	    A("hw", "X86_64;4GB") };
	/* A browser on the SDK's image. */
	struct dev_attr	sdk[] = { A("ua", "Mozilla/5.0 (Linux; Android 13; "
	    "sdk_gphone64_x86_64 Build/TE1A.220922.034; wv) AppleWebKit/537.36"),
	    A("tz", "Europe/Paris") };
	/* A webview on a 32-bit x86 platform (LDPlayer). */
	struct dev_attr	ia32[] = { A("ua", "Mozilla/5.0 (Linux; Android 12; "
	    "ASUS_I005DA Build/SKQ1.220406.001; wv) AppleWebKit/537.36"),
	    A("platform", "Linux i686"), A("hw", "2/4") };
	/* Chrome's device mode on a desktop: Android agent, x86-64. */
	struct dev_attr	mode[] = { A("ua", "Mozilla/5.0 (Linux; Android 6.0; "
	    "Nexus 5 Build/MRA58N) AppleWebKit/537.36"),
	    A("platform", "Linux x86_64") };
	/* A phone: ARM. */
	struct dev_attr	arm[] = { A("ua", "Tilde/6.21.2 (Android 14; SM-A566B; "
	    "Build/TP1A.220624.014) okhttp/4.12.0"), A("platform", "android"),
	    A("hw", "arm64-v8a;8GB") };
	/* A desktop on x86 is a desktop. */
	struct dev_attr	desk[] = { A("ua", "Mozilla/5.0 (X11; Linux x86_64) "
	    "AppleWebKit/537.36 Chrome/150.0.0.0"), A("platform", "Linux x86_64"),
	    A("hw", "8/16") };
	/* Nothing about the machine: not an emulator as far as it says. */
	struct dev_attr	bare[] = { A("id", "a1b2c3") };

	ck_assert(emu(app, nitems(app)));
	ck_assert(emu(sdk, nitems(sdk)));
	ck_assert(emu(ia32, nitems(ia32)));
	ck_assert(!emu(mode, nitems(mode)));
	ck_assert(!emu(arm, nitems(arm)));
	ck_assert(!emu(desk, nitems(desk)));
	ck_assert(!emu(bare, nitems(bare)));
}
END_TEST

/*
 * device.model: the model an Android app's agent names after "Android
 * VERSION", or an Apple identifier in "hw"; none for a browser.
 */
START_TEST(test_device_model)
{
	struct dev_attr	app[] = { A("ua", "Tilde/6.21.2 (Android 14; SM-A566B; "
	    "Build/TP1A.220624.014) okhttp/4.12.0"), A("hw", "arm64-v8a;8GB") };
	struct dev_attr	dalvik[] = { A("ua", "Dalvik/2.1.0 (Linux; U; "
	    "Android 11; SM-M135FU Build/BP1A.250305.019)") };
	struct dev_attr	spaced[] = { A("ua", "Kestrel/4.9.2 (Android 15; "
	    "Infinix  X6515) okhttp/4.12.0") };
	struct dev_attr	locale[] = { A("ua", "Dalvik/1.6.0 (Linux; U; "
	    "Android 4.4.2; en-us; GT-I9505 Build/KOT49H)") };
	struct dev_attr	iphone[] = { A("ua", "Kestrel/4.9.2 (iPhone; iOS 17.5.1; "
	    "Scale/3.00)"), A("hw", "iPhone17,3") };
	/* Xiaomi's agents carry their firmware where others say Build/. */
	struct dev_attr	miui[] = { A("ua", "Dalvik/2.1.0 (Linux; U; Android 11; "
	    "Redmi Note 8 Pro MIUI/V12.0.3.0.QGGMIXM)") };
	/* What stands before the model is skipped: an SDK level, an ABI, a
	 * screen, a three-digit region, a script. */
	struct dev_attr	sdk[] = { A("ua", "MyApp/1.0 (Android 13; SDK 33; "
	    "arm64-v8a; 1080x2400; es-419; zh_CN_#Hans; SM-S911B)") };
	/* The item that says Build/ wins over an earlier one. */
	struct dev_attr	build[] = { A("ua", "MyApp/1.0 (Android 13; v2; "
	    "SM-A546B Build/UP1A.231005.007)") };
	/* A nested comment, and the model in the agent's second comment. */
	struct dev_attr	nested[] = { A("ua", "Dalvik/2.1.0 (Linux; U; "
	    "Android 13; Pixel 6 (Custom) Build/TQ3A)") };
	struct dev_attr	second[] = { A("ua", "MyApp/1.0 (build 42) Dalvik/2.1.0 "
	    "(Linux; U; Android 13; SM-A546B Build/UP1A)") };
	struct dev_attr	ipod[] = { A("id", "a1"), A("hw", "iPod9,1") };
	/* An emulator claims a model: it is none. */
	struct dev_attr	emu[] = { A("ua", "Tilde/6.21.2 (Android 14; SM-A566B; "
	    "Build/TP1A.220624.014) okhttp/4.12.0"), A("hw", "x86_64;4GB") };
	/* No model: a browser (Chrome's reduced "K", or what a script set), an
	 * agent without one, an item without a digit, an iPhone without hw. */
	struct dev_attr	chrome[] = { A("ua", "Mozilla/5.0 (Linux; Android 10; K) "
	    "AppleWebKit/537.36 Chrome/131.0.0.0 Mobile Safari/537.36") };
	struct dev_attr	old[] = { A("ua", "Mozilla/5.0 (Linux; Android 6.0; "
	    "Nexus 5 Build/MRA58N) AppleWebKit/537.36"), A("hw", "iPhone15,2") };
	struct dev_attr	bare[] = { A("ua", "SmartEdge/2.0 (Android 14)") };
	struct dev_attr	via[] = { A("ua", "Shoply/5.3 (Android 14; "
	    "via Instagram)") };
	struct dev_attr	ios[] = { A("ua", "Shoply/5.3.0 (iPhone; iOS 18.1; "
	    "Scale/3.00)") };
	struct dev_attr	abi[] = { A("id", "a1"), A("hw", "arm64-v8a,armeabi") };
	struct dev_attr	tripad[] = { A("id", "a1"), A("hw", "arm64-v8a,tripad,1") };
	struct dev_attr	spec[] = { A("id", "a1"), A("hw", "iPhone 15 Pro, 256GB") };
	/* A crawler's agent is a browser's as far as models go. */
	struct dev_attr	spider[] = { A("ua", "Mozilla/5.0 (Linux; Android 14; "
	    "SM-S918B) AppleWebKit/537.36 Safari/537.36 spider") };
	const struct {
		const struct dev_attr	*a;
		size_t			 n;
		const char		*want;	/* NULL: absent */
	} cases[] = {
		{ app, nitems(app), "sm-a566b" },
		{ dalvik, nitems(dalvik), "sm-m135fu" },
		{ spaced, nitems(spaced), "infinix x6515" },
		{ locale, nitems(locale), "gt-i9505" },
		{ iphone, nitems(iphone), "iphone17,3" },
		{ miui, nitems(miui), "redmi note 8 pro" },
		{ sdk, nitems(sdk), "sm-s911b" }, { build, nitems(build), "sm-a546b" },
		{ nested, nitems(nested), "pixel 6" },
		{ second, nitems(second), "sm-a546b" },
		{ ipod, nitems(ipod), "ipod9,1" },
		{ chrome, nitems(chrome), NULL }, { old, nitems(old), NULL },
		{ bare, nitems(bare), NULL }, { via, nitems(via), NULL },
		{ ios, nitems(ios), NULL }, { abi, nitems(abi), NULL },
		{ tripad, nitems(tripad), NULL }, { spec, nitems(spec), NULL },
		{ spider, nitems(spider), NULL }, { emu, nitems(emu), NULL },
	};
	struct party	p;
	size_t		i;

	for (i = 0; i < nitems(cases); i++) {
		p = dev(cases[i].a, cases[i].n);
		if (cases[i].want == NULL) {
			ck_assert_msg(!(p.facts & PF_DEVICE_MODEL), "case %zu: %s",
			    i, p.device_model);
			continue;
		}
		ck_assert_msg(p.facts & PF_DEVICE_MODEL, "case %zu: none", i);
		ck_assert_str_eq(p.device_model, cases[i].want);
	}
}
END_TEST

/* device.lang_country: the region of the device's first language. */
START_TEST(test_device_lang_country)
{
	static const struct {
		const char	*lang;
		const char	*want;	/* NULL: absent */
	} cases[] = {
		{ "en-GB", "GB" }, { "de_DE", "DE" },
		{ "pt-br,pt;q=0.9", "BR" },
		{ " es-MX , en", "MX" }, { "zh-Hant-TW", "TW" },
		{ "sr_Latn_RS", "RS" }, { "fil-PH", "PH" },
		/* A language alone, a part of the world, a region after a
		 * variant, a second language's region, no language at all. */
		{ "de", NULL }, { "es-419", NULL }, { "de-1996-DE", NULL },
		{ "en,en-GB", NULL }, { "x-GB", NULL }, { "-GB", NULL },
		{ "e1-GB", NULL }, { "en-G", NULL }, { "en-GBR", NULL },
	};
	struct party	p;
	size_t		i;

	for (i = 0; i < nitems(cases); i++) {
		struct dev_attr	a[] = { A("ua", "Mozilla/5.0 (X11; "
		    "Linux x86_64) Firefox/133.0"), A("lang", cases[i].lang) };

		p = dev(a, nitems(a));
		if (cases[i].want == NULL) {
			ck_assert_msg(!(p.facts & PF_DEVICE_LANG), "%s: %s",
			    cases[i].lang, p.device_lang_country);
			continue;
		}
		ck_assert_msg(p.facts & PF_DEVICE_LANG, "%s: none",
		    cases[i].lang);
		ck_assert_str_eq(p.device_lang_country, cases[i].want);
	}
}
END_TEST

/* device.browser: a browser's agent, not an app's, not a crawler's. */
static int
browser(const struct dev_attr *a, size_t n)
{
	struct party	p = dev(a, n);

	if (!(p.facts & PF_DEVICE_BROWSER))
		return (-1);
	return (p.device_browser);
}

START_TEST(test_device_browser)
{
	struct dev_attr	chrome[] = { A("ua", CH120), A("tz", "Europe/Paris") };
	struct dev_attr	safari[] = { A("ua", "Mozilla/5.0 (iPhone; CPU iPhone "
	    "OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	    "Version/17.4 Mobile/15E148 Safari/604.1") };
	/* In-app browsers and webviews: the page asked, not the app. */
	struct dev_attr	insta[] = { A("ua", "Mozilla/5.0 (iPhone; CPU iPhone "
	    "OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	    "Mobile/15E148 Instagram 320.0.2.34.109") };
	struct dev_attr	wv[] = { A("ua", "Mozilla/5.0 (Linux; Android 13; "
	    "SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36") };
	/* An old Opera's agent does not start with Mozilla/. */
	struct dev_attr	opera[] = { A("ua", "Opera/9.80 (Windows NT 6.1) "
	    "Presto/2.12.388 Version/12.18") };
	/* Apps and their HTTP stacks. */
	struct dev_attr	app[] = { A("ua", "Tilde/6.21.2 (Android 14; SM-A566B; "
	    "Build/TP1A.220624.014) okhttp/4.12.0"), A("id", "a1b2c3") };
	struct dev_attr	ios[] = { A("ua", "Shoply/5.3.0 (iPhone; iOS 18.1; "
	    "Scale/3.00)") };
	struct dev_attr	dalvik[] = { A("ua", "Dalvik/2.1.0 (Linux; U; "
	    "Android 13; SM-A536B Build/TP1A.220624.014)") };
	/* An app whose name or agent holds a browser's is an app. */
	struct dev_attr	edge[] = { A("ua", "SmartEdge/2.0 (Android 14)") };
	struct dev_attr	adopt[] = { A("ua", "Adopt/1.2 (iPhone; iOS 17.4)") };
	struct dev_attr	via[] = { A("ua", "Shoply/5.3 (Android 14; "
	    "via Instagram)") };
	/* A headless browser is a browser, driven by a script. */
	struct dev_attr	headless[] = { A("ua", "Mozilla/5.0 (X11; Linux "
	    "x86_64) AppleWebKit/537.36 HeadlessChrome/120.0.0.0") };
	/* A crawler is no person's browser. */
	struct dev_attr	bot[] = { A("ua", "Mozilla/5.0 (compatible; "
	    "Googlebot/2.1; +http://www.google.com/bot.html)") };
	/* Without an agent nothing is known: the fact is absent. */
	struct dev_attr	bare[] = { A("id", "a1b2c3"), A("tz", "Europe/Paris") };
	struct dev_attr	blank[] = { A("ua", "  "), A("tz", "Europe/Paris") };

	const struct {
		const struct dev_attr	*a;
		size_t			 n;
		int			 want;	/* -1: absent */
	} cases[] = {
		{ chrome, nitems(chrome), 1 }, { safari, nitems(safari), 1 },
		{ insta, nitems(insta), 1 }, { wv, nitems(wv), 1 },
		{ opera, nitems(opera), 1 }, { headless, nitems(headless), 1 },
		{ app, nitems(app), 0 }, { ios, nitems(ios), 0 },
		{ dalvik, nitems(dalvik), 0 }, { edge, nitems(edge), 0 },
		{ adopt, nitems(adopt), 0 }, { via, nitems(via), 0 },
		{ bot, nitems(bot), 0 },
		{ bare, nitems(bare), -1 }, { blank, nitems(blank), -1 },
	};
	size_t	i;

	for (i = 0; i < nitems(cases); i++)
		ck_assert_msg(browser(cases[i].a, cases[i].n) == cases[i].want,
		    "case %zu: want %d", i, cases[i].want);
}
END_TEST

START_TEST(test_device_updates)
{
	static const char *const pairs[][2] = {
		{ CH119, CH120 },
		{ "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
		  "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
		  "Safari/605.1.15",
		  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
		  "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
		  "Safari/605.1.15" },
		{ "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) "
		  "AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/22.0 "
		  "Chrome/111.0.5563.116 Mobile Safari/537.36",
		  "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) "
		  "AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 "
		  "Chrome/115.0.0.0 Mobile Safari/537.36" },
		{ "MyApp/3.2.1 (iPhone; iOS 17.1; Scale/3.00)",
		  "MyApp/3.3.0 (iPhone; iOS 17.2; Scale/3.00)" },
	};
	struct dev_attr	a[] = { A("ua", ""), A("tz", "Asia/Tokyo"),
	    A("lang", "ja") };
	struct party	p, q;
	size_t		i;

	for (i = 0; i < nitems(pairs); i++) {
		a[0] = A("ua", pairs[i][0]);
		p = dev(a, nitems(a));
		a[0] = A("ua", pairs[i][1]);
		q = dev(a, nitems(a));
		ck_assert_msg(same(&p, &q, ENT_DEVICE_FUZZY), "%zu", i);
		ck_assert_msg(same(&p, &q, ENT_DEVICE_STABLE), "%zu", i);
		ck_assert_msg(!same(&p, &q, ENT_DEVICE), "%zu", i);
	}
}
END_TEST

START_TEST(test_device_stable)
{
	static const char	s23[] = "Mozilla/5.0 (Linux; Android 14; "
	    "SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
	    "Chrome/120.0.6099.71 Mobile Safari/537.36";
	static const char	s23u[] = "Mozilla/5.0 (Linux; Android 15; "
	    "SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
	    "Chrome/121.0.6167.85 Mobile Safari/537.36";
	static const char	s23plus[] = "Mozilla/5.0 (Linux; Android 14; "
	    "SM-S916B) AppleWebKit/537.36 (KHTML, like Gecko) "
	    "Chrome/120.0.6099.71 Mobile Safari/537.36";
	struct dev_attr	a[] = { A("ua", s23), A("tz", "Europe/Berlin"),
	    A("lang", "de-DE"), A("screen", "1080x2340"),
	    A("webgl", "Qualcomm|Adreno (TM) 740"), A("hw", "8|8"),
	    A("canvas", "c0ffee"), A("id", "sdk-1"), A("x_session", "42") };
	struct dev_attr	b[nitems(a)];
	struct party	p, q;

	p = dev(a, nitems(a));
	ck_assert(PARTY_HAS(&p, ENT_DEVICE_STABLE));

	/* an update of browser and OS, a new canvas, a reinstall: the same */
	memcpy(b, a, sizeof(a));
	b[0] = A("ua", s23u);
	b[6] = A("canvas", "beef01");
	b[7] = A("id", "sdk-2");
	b[8] = A("x_session", "43");
	q = dev(b, nitems(b));
	ck_assert(same(&p, &q, ENT_DEVICE_STABLE));
	ck_assert(!same(&p, &q, ENT_DEVICE));
	ck_assert(!same(&p, &q, ENT_DEVICE_ID));

	/* another model (digits inside a word are kept), another GPU, other
	 * memory: another device, which device.fuzzy cannot tell */
	memcpy(b, a, sizeof(a));
	b[0] = A("ua", s23plus);
	q = dev(b, nitems(b));
	ck_assert(same(&p, &q, ENT_DEVICE_FUZZY));
	ck_assert(!same(&p, &q, ENT_DEVICE_STABLE));
	memcpy(b, a, sizeof(a));
	b[4] = A("webgl", "Qualcomm|Adreno (TM) 730");
	q = dev(b, nitems(b));
	ck_assert(same(&p, &q, ENT_DEVICE_FUZZY));
	ck_assert(!same(&p, &q, ENT_DEVICE_STABLE));
	memcpy(b, a, sizeof(a));
	b[5] = A("hw", "8|12");
	q = dev(b, nitems(b));
	ck_assert(!same(&p, &q, ENT_DEVICE_STABLE));

	/* identical phones with identical software: one fingerprint */
	memcpy(b, a, sizeof(a));
	q = dev(b, nitems(b));
	ck_assert(same(&p, &q, ENT_DEVICE_STABLE));

	/* rotation and case are canonical, as in the other prints */
	b[3] = A("screen", "2340 x 1080");
	b[2] = A("lang", "de_de");
	q = dev(b, nitems(b));
	ck_assert(same(&p, &q, ENT_DEVICE_STABLE));
}
END_TEST

START_TEST(test_device_stable_weak)
{
	struct dev_attr	a[] = { A("ua", FF118), A("canvas", "c1"),
	    A("id", "sdk-1") };
	struct dev_attr	b[] = { A("ua", FF118), A("hw", "4|8") };
	struct dev_attr	c[] = { A("hw", "4|8"), A("webgl", "Intel|UHD 620") };
	struct party	p;

	/* ua and a canvas only: nothing stable beside the ua */
	p = dev(a, nitems(a));
	ck_assert(!PARTY_HAS(&p, ENT_DEVICE_STABLE));
	/* ua and hw: stable, not fuzzy */
	p = dev(b, nitems(b));
	ck_assert(PARTY_HAS(&p, ENT_DEVICE_STABLE));
	ck_assert(!PARTY_HAS(&p, ENT_DEVICE_FUZZY));
	/* no ua */
	p = dev(c, nitems(c));
	ck_assert(!PARTY_HAS(&p, ENT_DEVICE_STABLE));
}
END_TEST

/* ---- reload and info ----------------------------------------------- */

START_TEST(test_reload_info)
{
	struct ident_conf	 ic;
	struct conf_str		 cs = { (char *)"bogus.example frobnicate",
				    (char *)"r.conf", 7 };
	struct party		 p;
	json_t			*j;
	char			 path[300], *cause = NULL;
	FILE			*f;

	j = ident_info(id);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j,
	    "disposable"), "entries")), 6);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j,
	    "disposable"), "path")), disp);
	ck_assert_int_eq(json_array_size(json_object_get(j, "geoip")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(j,
	    "email_domains")), 2);
	json_decref(j);

	snprintf(path, sizeof(path), "%s/disp2.txt", tmpdir);
	f = fopen(path, "w");
	fputs("newly-bad.example\n", f);
	fclose(f);
	mkconf(&ic);
	ic.disposable_file = path;
	ck_assert_int_eq(unit_reload(&id, &ic, &cause), 0);
	ck_assert_ptr_null(cause);
	p = field(ident_email, S("a@newly-bad.example"));
	ck_assert(p.email_disposable);
	p = field(ident_email, S("a@mailinator.com"));
	ck_assert(!p.email_disposable);

	/* A broken list and bad rules keep the old ones. */
	f = fopen(path, "w");
	fputs("ok.example\nnot a domain\n", f);
	fclose(f);
	ic.email_domains = &cs;
	ic.nemail_domains = 1;
	ck_assert_int_eq(unit_reload(&id, &ic, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, ":2: disposable_file: "));
	ck_assert_ptr_nonnull(strstr(cause, "r.conf:7: email_domain: unknown "
	    "option 'frobnicate'"));
	free(cause);
	p = field(ident_email, S("a@newly-bad.example"));
	ck_assert(p.email_disposable);

	/* No list configured: none used. */
	ic.disposable_file = NULL;
	ic.nemail_domains = 0;
	ck_assert_int_eq(unit_reload(&id, &ic, &cause), 0);
	p = field(ident_email, S("a@newly-bad.example"));
	ck_assert(!(p.facts & PF_EMAIL_DISPOSABLE));
	j = ident_info(id);
	ck_assert(json_is_null(json_object_get(j, "disposable")));
	json_decref(j);
}
END_TEST

/* The real list in $TESTDATA, when there. */
START_TEST(test_real_disposable)
{
	const char		*td = getenv("TESTDATA");
	struct ident_conf	 ic;
	struct ident		*saved = id;
	struct party		 p;
	char			 path[1024], *cause;
	json_t			*j;

	if (td == NULL) {
		fprintf(stderr, "SKIP real disposable list: TESTDATA not set\n");
		return;
	}
	snprintf(path, sizeof(path),
	    "%s/disposable/disposable_email_blocklist.conf", td);
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "SKIP real disposable list: %s absent\n", path);
		return;
	}
	mkconf(&ic);
	ic.disposable_file = path;
	id = ident_new(&ic, &cause);
	ck_assert_msg(id != NULL, "%s", cause);
	j = ident_info(id);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j,
	    "disposable"), "entries")), 8335);
	json_decref(j);
	static const char *const yes[] = { "a@mailinator.com",
	    "a@x.y.mailinator.com", "a@guerrillamail.com", "a@10minutemail.com",
	    "a@yopmail.com", "a@trashmail.com", "a@foo.0-mailer.dynv6.net" };
	for (size_t i = 0; i < nitems(yes); i++) {
		p = field(ident_email, yes[i], strlen(yes[i]));
		ck_assert_msg(p.email_disposable, "%s", yes[i]);
	}
	p = field(ident_email, S("a@gmail.com"));
	ck_assert(!p.email_disposable);
	p = field(ident_email, S("a@dynv6.net"));
	ck_assert(!p.email_disposable);
	ident_free(id);
	id = saved;
}
END_TEST

/* The country of a device's time zone, from a zoneinfo directory. */
static struct party
dev_tz(struct ident *ident, const char *tz)
{
	struct dev_attr	 a[] = { A("ua", FF118), A("tz", tz) };
	struct party	 p;
	const char	*ek = NULL, *err = NULL;

	memset(&p, 0, sizeof(p));
	ck_assert_msg(ident_device(ident, a, nitems(a), &p, &ek, &err) == 0,
	    "%s", err);
	return (p);
}

/* A zoneinfo directory: zone.tab, and zone1970.tab, tzdata.zi when given. */
static void
zoneinfo(const char *dir, const char *tab, const char *tab1970,
    const char *zi)
{
	static const char *const names[] = { "zone.tab", "zone1970.tab",
	    "tzdata.zi" };
	const char	*text[] = { tab, tab1970, zi };
	char		 path[1100];
	size_t		 i;

	mkdir(dir, 0755);
	for (i = 0; i < nitems(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (text[i] != NULL)
			unit_write(path, text[i], strlen(text[i]));
		else
			unlink(path);
	}
}

/* An ident of ic whose zoneinfo_dir holds these tables, or fail the test. */
static struct ident *
zoneinfo_ident(const struct ident_conf *ic, const char *tab,
    const char *tab1970, const char *zi)
{
	struct ident	*t;
	char		*cause = NULL;

	zoneinfo(ic->zoneinfo_dir, tab, tab1970, zi);
	t = ident_new(ic, &cause);
	ck_assert_msg(t != NULL, "%s", cause);
	return (t);
}

/* The country ident t gives zone, or "" for none. */
static const char *
tzc(struct ident *t, const char *zone)
{
	static struct party	p;

	p = dev_tz(t, zone);
	return ((p.facts & PF_DEVICE_TZ) ? p.device_tz_country : "");
}

START_TEST(test_device_tz_country)
{
	static const char	 nul_tab[] = "DE\t+5230+01322\tEurope/Berlin\n"
	    "\0IN\t+2232+08822\tAsia/Kolkata\n";
	struct ident_conf	 ic;
	struct ident		*t;
	char			 dir[1024], path[1100], *cause = NULL;
	json_t			*j;

	snprintf(dir, sizeof(dir), "%s/zi", tmpdir);
	mkconf(&ic);
	ic.zoneinfo_dir = dir;
	t = zoneinfo_ident(&ic, "# comment\n"
	    "DE\t+5230+01322\tEurope/Berlin\tmost of Germany\n"
	    "IN\t+2232+08822\tAsia/Kolkata\n"
	    "CI\t+0519-00402\tAfrica/Abidjan\n"
	    "IS\t+6409-02151\tAtlantic/Reykjavik\n",
	    "DE,DK,NO,SE,SJ\t+5230+01322\tEurope/Berlin\n"
	    "IN\t+2232+08822\tAsia/Kolkata\n"
	    "CI,BF,GH,IS\t+0519-00402\tAfrica/Abidjan\n",
	    "R Z 1 2 - Mar lastSu 1u 1 S\n"
	    "L Asia/Kolkata Asia/Calcutta\n"
	    "L Etc/UTC UTC\n"
	    "L Asia/Calcutta Asia/Bogus\n"
	    "L Africa/Abidjan Iceland\n"
	    "L Africa/Abidjan Atlantic/Reykjavik\n"
	    "L Europe/Berlin Atlantic/Jan_Mayen\n"
	    "L Asia/Kolkata Europe/Berlin\n");
	ck_assert_str_eq(tzc(t, "Europe/Berlin"), "DE");
	/* Names ignore ASCII case; an alias takes its zone's country. */
	ck_assert_str_eq(tzc(t, "europe/BERLIN"), "DE");
	ck_assert_str_eq(tzc(t, "Asia/Calcutta"), "IN");
	/*
	 * An alias of a zone several countries share says none; a zone of
	 * zone.tab keeps its country whatever a link says.
	 */
	ck_assert_str_eq(tzc(t, "Iceland"), "");
	ck_assert_str_eq(tzc(t, "Atlantic/Jan_Mayen"), "");
	ck_assert_str_eq(tzc(t, "Atlantic/Reykjavik"), "IS");
	ck_assert_str_eq(tzc(t, "Africa/Abidjan"), "CI");
	ck_assert_str_eq(tzc(t, "Europe/Berlin"), "DE");
	/* No one country: UTC, a link of a link, an unknown name, offsets. */
	ck_assert_str_eq(tzc(t, "UTC"), "");
	ck_assert_str_eq(tzc(t, "Asia/Bogus"), "");
	ck_assert_str_eq(tzc(t, "Mars/Base"), "");
	ck_assert_str_eq(tzc(t, "+02:00"), "");
	ck_assert_str_eq(tzc(t, "Europe/Berlin/x"), "");
	j = ident_info(t);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j,
	    "time_zones"), "entries")), 5);
	json_decref(j);
	ident_free(t);

	/*
	 * Without zone1970.tab (which says whose a target is), or without
	 * tzdata.zi: the canonical names only. CRLF line ends are read.
	 */
	t = zoneinfo_ident(&ic, "DE\t+5230+01322\tEurope/Berlin\r\n"
	    "IN\t+2232+08822\tAsia/Kolkata\r\n", NULL,
	    "L Asia/Kolkata Asia/Calcutta\n");
	ck_assert_str_eq(tzc(t, "Europe/Berlin"), "DE");
	ck_assert_str_eq(tzc(t, "Asia/Kolkata"), "IN");
	ck_assert_str_eq(tzc(t, "Asia/Calcutta"), "");
	ident_free(t);
	t = zoneinfo_ident(&ic, "IN\t+2232+08822\tAsia/Kolkata\n",
	    "IN\t+2232+08822\tAsia/Kolkata\n", NULL);
	ck_assert_str_eq(tzc(t, "Asia/Calcutta"), "");
	ident_free(t);

	/* One name under two countries says neither. */
	t = zoneinfo_ident(&ic, "DE\t+5230+01322\tEurope/Berlin\n"
	    "AT\t+5230+01322\tEurope/Berlin\n"
	    "IN\t+2232+08822\tAsia/Kolkata\n", NULL, NULL);
	ck_assert_str_eq(tzc(t, "Europe/Berlin"), "");
	ck_assert_str_eq(tzc(t, "Asia/Kolkata"), "IN");
	ident_free(t);

	/* A directory whose zone.tab is not one is an error naming it. */
	zoneinfo(dir, "DE Europe/Berlin\n", NULL, NULL);
	ck_assert_ptr_null(ident_new(&ic, &cause));
	ck_assert_msg(strstr(cause, "zone.tab:1: not a zone table line") !=
	    NULL, "%s", cause);
	free(cause);
	snprintf(path, sizeof(path), "%s/zone.tab", dir);
	unit_write(path, nul_tab, sizeof(nul_tab) - 1);
	ck_assert_ptr_null(ident_new(&ic, &cause));
	ck_assert_msg(strstr(cause, "zone.tab: contains a NUL byte") != NULL,
	    "%s", cause);
	free(cause);
	snprintf(dir, sizeof(dir), "%s/no-such-dir", tmpdir);
	ck_assert_ptr_null(ident_new(&ic, &cause));
	ck_assert_msg(strstr(cause, "zoneinfo_dir") != NULL &&
	    strstr(cause, "no-such-dir/zone.tab") != NULL, "%s", cause);
	free(cause);

	/* Not configured: the system's, when it has one, else none. */
	ic.zoneinfo_dir = NULL;
	t = ident_new(&ic, &cause);
	ck_assert_msg(t != NULL, "%s", cause);
	if (access(IDENT_ZONEINFO_DIR "/zone.tab", R_OK) == 0) {
		ck_assert_str_eq(tzc(t, "Europe/Berlin"), "DE");
		ck_assert_str_eq(tzc(t, "Asia/Calcutta"), "IN");
		ck_assert_str_eq(tzc(t, "Iceland"), "");
	} else {
		fprintf(stderr, "SKIP system time zones: "
		    IDENT_ZONEINFO_DIR "/zone.tab absent\n");
		ck_assert_str_eq(tzc(t, "Europe/Berlin"), "");
	}
	ident_free(t);
}
END_TEST

static Suite *
ident_suite(void)
{
	Suite	*s = suite_create("ident");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_secret);
	tcase_add_test(tc, test_hash_kinds);
	tcase_add_test(tc, test_email_pairs);
	tcase_add_test(tc, test_email_shape);
	tcase_add_test(tc, test_email_name);
	tcase_add_test(tc, test_email_bad);
	tcase_add_test(tc, test_email_facts);
	tcase_add_test(tc, test_email_nolist);
	tcase_add_test(tc, test_email_domains);
	tcase_add_test(tc, test_phone);
	tcase_add_test(tc, test_phone_block);
	tcase_add_test(tc, test_phone_country);
	tcase_add_test(tc, test_payment_account);
	tcase_add_test(tc, test_edge);
	tcase_add_test(tc, test_ip_table);
	tcase_add_test(tc, test_ip_prefix);
	tcase_add_test(tc, test_device_done);
	tcase_add_test(tc, test_device_canon);
	tcase_add_test(tc, test_device_weak);
	tcase_add_test(tc, test_device_bad);
	tcase_add_test(tc, test_ua_family);
	tcase_add_test(tc, test_device_updates);
	tcase_add_test(tc, test_device_stable);
	tcase_add_test(tc, test_device_stable_weak);
	tcase_add_test(tc, test_device_tz_country);
	tcase_add_test(tc, test_device_emulator);
	tcase_add_test(tc, test_device_browser);
	tcase_add_test(tc, test_device_model);
	tcase_add_test(tc, test_device_lang_country);
	tcase_add_test(tc, test_reload_info);
	tcase_add_test(tc, test_real_disposable);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	const char	*src = getenv("top_srcdir");

	if (src == NULL)
		src = ".";
	if (unit_tmpdir(tmpdir) != 0)
		return (99);
	snprintf(secret, sizeof(secret), "%s/secret", tmpdir);
	snprintf(disp, sizeof(disp), "%s/tests/fixtures/disposable.txt", src);
	return (unit_run_in(ident_suite(), tmpdir));
}
