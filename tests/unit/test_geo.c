/*
 * test_geo.c: GeoIP facts from the MMDB fixtures that `make check` builds
 * with tests/fixtures/mkmmdb.pl (City-, ASN-, Anonymous-IP- and
 * ip-location-db-shaped), reload, and corrupt files.
 */
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

static char		 tmpdir[] = "/tmp/rg-geo.XXXXXX";
static char		 secret[256], fx[1024];

static const char *const fixtures[] = {
	"rg-city.mmdb", "rg-asn.mmdb", "rg-anon.mmdb", "rg-flat.mmdb",
	"rg-v4only.mmdb", "rg-mystery.mmdb",
};

static char *
fxpath(const char *name)
{
	char	*p;

	xasprintf(&p, "%s/%s", fx, name);
	return (p);
}

static struct ident *
open_dbs(const char *const *names, size_t n, char **cause)
{
	struct ident_conf	 ic;
	struct conf_str		 cs[16];
	struct ident		*id;
	size_t			 i;

	memset(&ic, 0, sizeof(ic));
	ic.secret_file = secret;
	for (i = 0; i < n; i++) {
		cs[i].val = names[i][0] == '/' ? xstrdup(names[i]) :
		    fxpath(names[i]);
		cs[i].file = (char *)"geo.conf";
		cs[i].line = (int)i + 1;
	}
	ic.geoip = cs;
	ic.ngeoip = n;
	*cause = NULL;
	id = ident_new(&ic, cause);
	for (i = 0; i < n; i++)
		free(cs[i].val);
	return (id);
}

#define ANON	(GEO_ANONYMOUS | GEO_VPN | GEO_TOR | GEO_HOSTING | \
		 GEO_RESIDENTIAL_PROXY)

static const struct {
	const char	*ip;
	uint32_t	 have;
	const char	*country, *continent;
	uint32_t	 asn;
	const char	*org;
	uint8_t		 flags;	/* 1 anon, 2 vpn, 4 tor, 8 hosting, 16 resproxy */
} cases[] = {
	{ "81.2.69.1", GEO_COUNTRY | GEO_CONTINENT | GEO_ASN | GEO_AS_ORG,
	    "GB", "EU", 20712, "Andrews & Arnold Ltd", 0 },
	{ "81.2.69.200", GEO_COUNTRY | GEO_CONTINENT | GEO_ASN | GEO_AS_ORG |
	    ANON, "GB", "EU", 20712, "Andrews & Arnold Ltd", 1 | 2 },
	{ "::ffff:81.2.69.200", GEO_COUNTRY | GEO_CONTINENT | GEO_ASN |
	    GEO_AS_ORG | ANON, "GB", "EU", 20712, "Andrews & Arnold Ltd", 1 | 2 },
	{ "2a02:cf40::1", GEO_COUNTRY | GEO_CONTINENT | GEO_ASN | GEO_AS_ORG,
	    "NO", "EU", 64496, "Example Norge", 0 },
	{ "175.16.199.5", GEO_COUNTRY | GEO_CONTINENT, "CN", "AS", 0, NULL, 0 },
	{ "5.5.5.5", GEO_CONTINENT, NULL, "EU", 0, NULL, 0 },
	{ "214.1.1.1", 0, NULL, NULL, 0, NULL, 0 },
	{ "12.81.96.1", GEO_ASN, NULL, NULL, 7018, NULL, 0 },
	{ "7.7.7.7", GEO_ASN | GEO_AS_ORG, NULL, NULL, 64511,
	    "Long Org Long Org Long Org Long Org Long Org Long Org Long Org "
	    "Long Org Long Org Long Org abcde", 0 },
	{ "7.7.8.8", GEO_ASN | GEO_AS_ORG, NULL, NULL, 64512,
	    "Bad Org\xc3\xa9", 0 },
	{ "185.220.101.1", ANON, NULL, NULL, 0, NULL, 1 | 4 | 8 },
	{ "6.1.0.4", ANON, NULL, NULL, 0, NULL, 1 | 16 },
	{ "6.1.0.9", ANON, NULL, NULL, 0, NULL, 1 },
	{ "6.1.1.1", ANON, NULL, NULL, 0, NULL, 0 },
	{ "2001:480:3a::5", ANON, NULL, NULL, 0, NULL, 1 | 8 },
	{ "8.8.8.8", GEO_COUNTRY, "US", NULL, 0, NULL, 0 },
	{ "2001:4860::1", GEO_COUNTRY, "US", NULL, 0, NULL, 0 },
	{ "192.168.1.1", 0, NULL, NULL, 0, NULL, 0 },	/* private: no lookup */
	{ "1.2.3.4", GEO_COUNTRY | GEO_CONTINENT, "AU", "OC", 0, NULL, 0 },
	{ "9.9.9.9", GEO_COUNTRY | GEO_ASN, "NL", NULL, 64500, NULL, 0 },
	{ "3.3.3.3", 0, NULL, NULL, 0, NULL, 0 },
	{ "2001:4860:4860::8888", GEO_COUNTRY, "US", NULL, 0, NULL, 0 },
};

START_TEST(test_facts)
{
	struct ident	*id;
	struct party	 p;
	char		*cause;
	size_t		 i;

	id = open_dbs(fixtures, nitems(fixtures), &cause);
	ck_assert_msg(id != NULL, "%s", cause);
	for (i = 0; i < nitems(cases); i++) {
		p = unit_ip(id, cases[i].ip);
		ck_assert_msg(p.geo.have == cases[i].have, "%s: have %#x, want "
		    "%#x", cases[i].ip, p.geo.have, cases[i].have);
		if (cases[i].country != NULL)
			ck_assert_str_eq(p.geo.country, cases[i].country);
		if (cases[i].continent != NULL)
			ck_assert_str_eq(p.geo.continent, cases[i].continent);
		ck_assert_uint_eq(p.geo.asn, cases[i].asn);
		if (cases[i].org != NULL)
			ck_assert_str_eq(p.geo.as_org, cases[i].org);
		ck_assert_msg(p.geo.anonymous == !!(cases[i].flags & 1) &&
		    p.geo.vpn == !!(cases[i].flags & 2) &&
		    p.geo.tor == !!(cases[i].flags & 4) &&
		    p.geo.hosting == !!(cases[i].flags & 8) &&
		    p.geo.residential_proxy == !!(cases[i].flags & 16),
		    "%s: flags", cases[i].ip);
	}
	ident_free(id);
}
END_TEST

/* First database in configuration order wins a fact. */
START_TEST(test_order)
{
	static const char *const a[] = { "rg-flat.mmdb", "rg-city.mmdb" };
	static const char *const b[] = { "rg-city2.mmdb", "rg-city.mmdb" };
	struct ident	*id;
	struct party	 p;
	char		*cause;

	id = open_dbs(a, 2, &cause);
	ck_assert_ptr_nonnull(id);
	p = unit_ip(id, "81.2.69.1");
	ck_assert_str_eq(p.geo.country, "GB");
	ck_assert_str_eq(p.geo.continent, "EU");	/* from the second */
	/* the flat DB learnt its layout; the City DB still answers */
	p = unit_ip(id, "2a02:cf40::1");
	ck_assert_str_eq(p.geo.country, "NO");
	ident_free(id);
	id = open_dbs(b, 2, &cause);
	p = unit_ip(id, "81.2.69.1");
	ck_assert_str_eq(p.geo.country, "FR");
	ident_free(id);
}
END_TEST

START_TEST(test_info)
{
	struct ident	*id;
	json_t		*j, *g, *d;
	char		*cause;
	size_t		 i;

	id = open_dbs(fixtures, nitems(fixtures), &cause);
	ck_assert_ptr_nonnull(id);
	j = ident_info(id);
	g = json_object_get(j, "geoip");
	ck_assert_uint_eq(json_array_size(g), nitems(fixtures));
	for (i = 0; i < nitems(fixtures); i++) {
		d = json_array_get(g, i);
		ck_assert_ptr_nonnull(strstr(json_string_value(
		    json_object_get(d, "path")), fixtures[i]));
		ck_assert(json_integer_value(json_object_get(d, "node_count")) > 0);
		ck_assert(json_integer_value(json_object_get(d, "build_epoch")) >
		    1500000000);
	}
	d = json_array_get(g, 0);
	ck_assert_str_eq(json_string_value(json_object_get(d, "database_type")),
	    "GeoIP2-City");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d,
	    "facts"), 0)), "country");
	d = json_array_get(g, 5);	/* unknown type: everything */
	ck_assert_uint_eq(json_array_size(json_object_get(d, "facts")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(g,
	    4), "ip_version")), 4);
	json_decref(j);
	ident_free(id);
}
END_TEST

static void
copy(const char *from, const char *to)
{
	char	cmd[2200];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.tmp' && mv '%s.tmp' '%s'",
	    from, to, to, to);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_reload)
{
	struct ident_conf	 ic;
	struct conf_str		 cs[2];
	struct ident		*id;
	struct party		 p;
	char			 live[300], other[300], *src, *cause;

	snprintf(live, sizeof(live), "%s/live.mmdb", tmpdir);
	snprintf(other, sizeof(other), "%s/other.mmdb", tmpdir);
	copy(src = fxpath("rg-city.mmdb"), live);
	free(src);
	memset(&ic, 0, sizeof(ic));
	ic.secret_file = secret;
	cs[0] = (struct conf_str){ live, (char *)"r.conf", 4 };
	cs[1] = (struct conf_str){ other, (char *)"r.conf", 5 };
	ic.geoip = cs;
	ic.ngeoip = 1;
	id = ident_new(&ic, &cause);
	ck_assert_msg(id != NULL, "%s", cause);
	ck_assert_str_eq(unit_ip(id, "81.2.69.1").geo.country, "GB");

	/* geoipupdate renames a new file into place */
	copy(src = fxpath("rg-city2.mmdb"), live);
	free(src);
	ck_assert_str_eq(unit_ip(id, "81.2.69.1").geo.country, "GB");
	ck_assert_int_eq(unit_reload(&id, &ic, &cause), 0);
	ck_assert_ptr_null(cause);
	ck_assert_str_eq(unit_ip(id, "81.2.69.1").geo.country, "FR");

	/*
	 * A broken replacement keeps the old database and says why. (Files
	 * are replaced by rename, as geoipupdate does: overwriting a mapped
	 * file in place would change the old database under its reader.)
	 */
	snprintf(other, sizeof(other), "%s/broken.mmdb", tmpdir);
	unit_write(other, "not an mmdb", 11);
	ck_assert_int_eq(rename(other, live), 0);
	snprintf(other, sizeof(other), "%s/other.mmdb", tmpdir);
	ck_assert_int_eq(unit_reload(&id, &ic, &cause), -1);
	ck_assert_msg(strncmp(cause, "r.conf:4: geoip_db ", 19) == 0 &&
	    strstr(cause, live) != NULL, "%s", cause);
	free(cause);
	ck_assert_str_eq(unit_ip(id, "81.2.69.1").geo.country, "FR");
	unlink(live);
	ck_assert_int_eq(unit_reload(&id, &ic, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "No such file"));
	free(cause);
	ck_assert_str_eq(unit_ip(id, "81.2.69.1").geo.country, "FR");

	/* a new path that fails is reported, the others still load */
	copy(src = fxpath("rg-asn.mmdb"), live);
	free(src);
	ic.ngeoip = 2;
	ck_assert_int_eq(unit_reload(&id, &ic, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "r.conf:5: geoip_db"));
	free(cause);
	p = unit_ip(id, "81.2.69.1");
	ck_assert_uint_eq(p.geo.have, GEO_ASN | GEO_AS_ORG);

	/* dropping every database */
	ic.ngeoip = 0;
	ck_assert_int_eq(unit_reload(&id, &ic, &cause), 0);
	ck_assert_uint_eq(unit_ip(id, "81.2.69.1").geo.have, 0);
	ident_free(id);

	/* at start-up a missing file is an error */
	ic.ngeoip = 2;
	ck_assert_ptr_null(ident_new(&ic, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "r.conf:5: geoip_db"));
	free(cause);
}
END_TEST

/*
 * An ident whose one database is a copy of rg-city.mmdb at tmpdir/name
 * (its path in live[300]), configured in *ic and *cs as "r.conf:4".
 */
static struct ident *
live_city(const char *name, char *live, struct ident_conf *ic,
    struct conf_str *cs)
{
	struct ident	*id;
	char		*src, *cause;

	snprintf(live, 300, "%s/%s", tmpdir, name);
	copy(src = fxpath("rg-city.mmdb"), live);
	free(src);
	memset(ic, 0, sizeof(*ic));
	ic->secret_file = secret;
	*cs = (struct conf_str){ live, (char *)"r.conf", 4 };
	ic->geoip = cs;
	ic->ngeoip = 1;
	id = ident_new(ic, &cause);
	ck_assert_msg(id != NULL, "%s", cause);
	return (id);
}

/*
 * A database overwritten in place (cp over it: same inode, cut short,
 * other bytes) changes nothing until the next load: the daemon reads a
 * private copy, not the file. Mapped from the file, the first lookup
 * after the truncation died of SIGBUS.
 */
START_TEST(test_overwritten_in_place)
{
	struct ident_conf	 ic;
	struct conf_str		 cs;
	struct ident		*id;
	char			 live[300], *src, *buf, *cause;
	size_t			 len;
	FILE			*f;

	id = live_city("inplace.mmdb", live, &ic, &cs);
	ck_assert_str_eq(unit_ip(id, "81.2.69.1").geo.country, "GB");

	ck_assert_int_eq(truncate(live, 16), 0);
	ck_assert_str_eq(unit_ip(id, "81.2.69.1").geo.country, "GB");
	buf = unit_slurp(src = fxpath("rg-city2.mmdb"), &len);
	free(src);
	ck_assert_ptr_nonnull(f = fopen(live, "r+"));
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	free(buf);
	ck_assert_str_eq(unit_ip(id, "81.2.69.1").geo.country, "GB");

	/* the next load reads the file as it is now */
	ck_assert_int_eq(unit_reload(&id, &ic, &cause), 0);
	ck_assert_str_eq(unit_ip(id, "81.2.69.1").geo.country, "FR");
	ident_free(id);
}
END_TEST

/*
 * Staging a reload leaves the serving ident as it was, and a database
 * that fails to load anew is served from the old one's private copy by
 * the new ident, which outlives the old one.
 */
START_TEST(test_stage)
{
	struct ident_conf	 ic;
	struct conf_str		 cs;
	struct ident		*cur, *next;
	char			 live[300], *src, *cause;

	cur = live_city("stage.mmdb", live, &ic, &cs);

	copy(src = fxpath("rg-city2.mmdb"), live);
	free(src);
	next = ident_stage(cur, &ic, &cause);
	ck_assert_ptr_null(cause);
	ck_assert_str_eq(unit_ip(cur, "81.2.69.1").geo.country, "GB");
	ck_assert_str_eq(unit_ip(next, "81.2.69.1").geo.country, "FR");
	ident_free(next);

	unlink(live);
	next = ident_stage(cur, &ic, &cause);
	ck_assert_ptr_nonnull(strstr(cause, "r.conf:4: geoip_db "));
	free(cause);
	ident_free(cur);
	ck_assert_str_eq(unit_ip(next, "81.2.69.1").geo.country, "GB");
	ident_free(next);

	/* not a regular file: refused at once, never waited on */
	ck_assert_int_eq(mkfifo(live, 0600), 0);
	ck_assert_ptr_null(ident_new(&ic, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "not a regular file (a FIFO)"));
	free(cause);
	unlink(live);
}
END_TEST

/* Seeded random corruption of a fixture: open may fail, nothing crashes. */
START_TEST(test_corrupt)
{
	const char	*ips[] = { "81.2.69.1", "2a02:cf40::1", "175.16.199.5",
	    "5.5.5.5", "214.1.1.1", "8.8.8.8", "2001:db9::1" };
	struct ident	*id;
	char		 path[300], *src, *cause, *buf;
	const char	*name = path;
	long		 len;
	size_t		 flen, i, k, opened = 0;
	int		 round, saved, fd;

	src = fxpath("rg-city.mmdb");
	buf = unit_slurp(src, &flen);
	len = (long)flen;
	free(src);
	snprintf(path, sizeof(path), "%s/corrupt.mmdb", tmpdir);

	/* truncated */
	unit_write(path, buf, (size_t)len / 2);
	ck_assert_ptr_null(open_dbs(&name, 1, &cause));
	free(cause);
	unit_write(path, "", 0);
	ck_assert_ptr_null(open_dbs(&name, 1, &cause));
	free(cause);

	/* quiet: every round is a new database that logs once */
	fflush(stderr);
	saved = dup(2);
	fd = open("/dev/null", O_WRONLY);
	dup2(fd, 2);
	close(fd);
	srandom(4711);
	for (round = 0; round < 300; round++) {
		char	*cp = xmalloc((size_t)len);

		memcpy(cp, buf, (size_t)len);
		/* leave the metadata mostly intact so that many open */
		for (k = 0; k < 8; k++)
			cp[random() % (len - 200)] = (char)random();
		unit_write(path, cp, (size_t)len);
		free(cp);
		if ((id = open_dbs(&name, 1, &cause)) == NULL) {
			free(cause);
			continue;
		}
		opened++;
		for (i = 0; i < nitems(ips); i++)
			(void)unit_ip(id, ips[i]);
		json_decref(ident_info(id));
		ident_free(id);
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ck_assert_uint_gt(opened, 100);
	free(buf);
}
END_TEST

static Suite *
geo_suite(void)
{
	Suite	*s = suite_create("geo");
	TCase	*tc = tcase_create("fixtures");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_facts);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_info);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_overwritten_in_place);
	tcase_add_test(tc, test_stage);
	tcase_add_test(tc, test_corrupt);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	const char	*bld = getenv("top_builddir");
	char		*probe;

	snprintf(fx, sizeof(fx), "%s/tests/fixtures", bld ? bld : ".");
	probe = fxpath("rg-city.mmdb");
	if (access(probe, R_OK) != 0) {
		printf("SKIP: %s absent (tests/fixtures/mkmmdb.pl needs Debian's "
		    "libmaxmind-db-writer-perl)\n", probe);
		free(probe);
		return (77);
	}
	free(probe);
	if (unit_tmpdir(tmpdir) != 0)
		return (99);
	snprintf(secret, sizeof(secret), "%s/secret", tmpdir);
	return (unit_run_in(geo_suite(), tmpdir));
}
