/*
 * test_geo_testdata.c: conformance with MaxMind's official test databases
 * ($TESTDATA/mmdb: every row of expected.tsv that maps to a fact refguard
 * exposes must match), robustness on $TESTDATA/mmdb/bad-data, and the real
 * ip-location-db database ($TESTDATA/mmdb-real). Skips (77) with a message
 * when $TESTDATA is absent.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ident_int.h"
#include "util.h"

#include "unit.h"

static char	 tmpdir[] = "/tmp/rg-geotd.XXXXXX";
static char	 secret[256];
static char	*mmdb_dir, *real_dir;

static struct ident *
open_db(const char *path, char **cause)
{
	struct ident_conf	ic;
	struct conf_str		cs = { (char *)path, (char *)"td.conf", 1 };

	memset(&ic, 0, sizeof(ic));
	ic.secret_file = secret;
	ic.geoip = &cs;
	ic.ngeoip = 1;
	*cause = NULL;
	return (ident_new(&ic, cause));
}

/* ---- expected.tsv -------------------------------------------------- */

struct flagpath {
	const char	*path;
	uint32_t	 bit;
	size_t		 off;
};

static const struct flagpath flagpaths[] = {
	{ "is_anonymous", GEO_ANONYMOUS,
	    offsetof(struct geo_facts, anonymous) },
	{ "is_anonymous_vpn", GEO_VPN, offsetof(struct geo_facts, vpn) },
	{ "is_tor_exit_node", GEO_TOR, offsetof(struct geo_facts, tor) },
	{ "is_hosting_provider", GEO_HOSTING,
	    offsetof(struct geo_facts, hosting) },
	{ "is_residential_proxy", GEO_RESIDENTIAL_PROXY,
	    offsetof(struct geo_facts, residential_proxy) },
};

/* A quoted JSON string value without its quotes. */
static const char *
unquote(const char *v, char *buf, size_t cap)
{
	size_t	n = strlen(v);

	if (n < 2 || v[0] != '"' || v[n - 1] != '"' || n - 2 >= cap)
		return (NULL);
	memcpy(buf, v + 1, n - 2);
	buf[n - 2] = '\0';
	return (buf);
}

/*
 * Check one row against the facts. Returns 1 checked, 0 when the path is
 * not something refguard exposes, and fails the test on a mismatch.
 */
static int
check_row(const struct geo_facts *g, const char *db, const char *ip,
    const char *path, const char *want)
{
	char	buf[256];
	size_t	i;
	bool	v;
	int	absent = strcmp(want, "ABSENT") == 0 ||
		    strcmp(want, "NOT_FOUND") == 0;

	if (strcmp(path, "-") == 0) {
		if (strcmp(want, "NOT_FOUND") == 0)
			ck_assert_msg(g->have == 0, "%s %s: found", db, ip);
		else if (strcmp(want, "EMPTY_MAP") == 0 &&
		    strstr(db, "Anonymous") != NULL)
			ck_assert_msg((g->have & GEO_ANONYMOUS) && !g->anonymous
			    && !g->vpn && !g->tor && !g->hosting &&
			    !g->residential_proxy, "%s %s: empty map", db, ip);
		else
			return (0);
		return (1);
	}
	if (strcmp(path, "country.iso_code") == 0 ||
	    strcmp(path, "continent.code") == 0) {
		bool		 c = path[1] == 'o' && path[2] == 'u';
		uint32_t	 bit = c ? GEO_COUNTRY : GEO_CONTINENT;
		const char	*have = c ? g->country : g->continent;

		if (absent) {
			ck_assert_msg(!(g->have & bit), "%s %s %s: present", db,
			    ip, path);
			return (1);
		}
		ck_assert_msg((g->have & bit) && strcmp(have,
		    unquote(want, buf, sizeof(buf))) == 0,
		    "%s %s %s: got '%s' want %s", db, ip, path,
		    (g->have & bit) ? have : "(absent)", want);
		return (1);
	}
	if (strcmp(path, "autonomous_system_number") == 0) {
		if (absent)
			ck_assert_msg(!(g->have & GEO_ASN), "%s %s asn", db, ip);
		else
			ck_assert_msg((g->have & GEO_ASN) &&
			    g->asn == strtoul(want, NULL, 10),
			    "%s %s asn %u want %s", db, ip, g->asn, want);
		return (1);
	}
	if (strcmp(path, "autonomous_system_organization") == 0) {
		if (absent)
			ck_assert_msg(!(g->have & GEO_AS_ORG), "%s %s org", db,
			    ip);
		else
			ck_assert_msg((g->have & GEO_AS_ORG) &&
			    strcmp(g->as_org, unquote(want, buf,
			    sizeof(buf))) == 0, "%s %s org '%s' want %s", db,
			    ip, g->as_org, want);
		return (1);
	}
	for (i = 0; i < nitems(flagpaths); i++) {
		if (strcmp(path, flagpaths[i].path) != 0)
			continue;
		v = *(const bool *)((const char *)g + flagpaths[i].off);
		if (strcmp(want, "NOT_FOUND") == 0)
			ck_assert_msg(!(g->have & flagpaths[i].bit), "%s %s %s",
			    db, ip, path);
		else	/* found: absent flags read as false */
			ck_assert_msg((g->have & flagpaths[i].bit) &&
			    v == (strcmp(want, "true") == 0),
			    "%s %s %s: %d want %s", db, ip, path, v, want);
		return (1);
	}
	return (0);
}

START_TEST(test_expected)
{
	struct ident	*id = NULL;
	struct party	 p;
	char		 line[1024], cur[128] = "", path[1200], *f[6], *s, *cause;
	FILE		*tsv;
	size_t		 rows = 0, checked = 0, n;

	snprintf(path, sizeof(path), "%s/expected.tsv", mmdb_dir);
	tsv = fopen(path, "r");
	ck_assert_msg(tsv != NULL, "%s", path);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), tsv));	/* header */
	while (fgets(line, sizeof(line), tsv) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		for (n = 0, s = line; n < 6 && s != NULL; n++)
			f[n] = strsep(&s, "\t");
		ck_assert_uint_eq(n, 6);
		if (strcmp(cur, f[0]) != 0) {
			ident_free(id);
			snprintf(path, sizeof(path), "%s/%s.mmdb", mmdb_dir, f[0]);
			id = open_db(path, &cause);
			ck_assert_msg(id != NULL, "%s", cause);
			snprintf(cur, sizeof(cur), "%s", f[0]);
		}
		rows++;
		p = unit_ip(id, f[1]);
		checked += (size_t)check_row(&p.geo, f[0], f[1], f[2], f[3]);
	}
	fclose(tsv);
	ident_free(id);
	printf("expected.tsv: %zu rows, %zu map to refguard facts, all match\n",
	    rows, checked);
	ck_assert_uint_eq(rows, 342);
	ck_assert_uint_ge(checked, 150);
}
END_TEST

/* ---- bad-data ------------------------------------------------------ */

static int
count_lines(const char *path, const char *needle)
{
	FILE	*f = fopen(path, "r");
	char	 line[2048];
	int	 n = 0;

	if (f == NULL)
		return (0);
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return (n);
}

START_TEST(test_bad_data)
{
	static const char *const ips[] = { "1.1.1.1", "81.2.69.160",
	    "216.160.83.56", "89.160.20.128", "175.16.199.0", "67.43.156.1",
	    "2001:218::1", "2a02:cf40::1", "8.8.8.8", "::ffff:1.1.1.1",
	    "2002:5102:45a0::1", "abcd:1000::1" };
	struct ident	*id;
	struct dirent	*de;
	DIR		*d;
	json_t		*j, *db;
	char		 dir[1100], path[1400], log[300], *cause;
	size_t		 i, files = 0, opened = 0;
	int		 saved, fd, k;

	snprintf(dir, sizeof(dir), "%s/bad-data", mmdb_dir);
	snprintf(log, sizeof(log), "%s/stderr", tmpdir);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".mmdb") == NULL)
			continue;
		files++;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((id = open_db(path, &cause)) == NULL) {
			ck_assert_msg(strstr(cause, path) != NULL, "%s", cause);
			printf("bad-data %s: refused: %s\n", de->d_name, cause);
			free(cause);
			continue;
		}
		opened++;
		/* Lookups: no crash, and errors logged once per database. */
		fflush(stderr);
		saved = dup(2);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		close(fd);
		for (k = 0; k < 3; k++)
			for (i = 0; i < nitems(ips); i++)
				(void)unit_ip(id, ips[i]);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		ck_assert_int_le(count_lines(log, "lookup failed"), 1);
		printf("bad-data %s: opened, %d lookup error(s) logged\n",
		    de->d_name, count_lines(log, "lookup failed"));

		j = ident_info(id);
		db = json_array_get(json_object_get(j, "geoip"), 0);
		ck_assert_ptr_nonnull(db);
		if (strstr(de->d_name, "uint64-max-epoch") != NULL)
			ck_assert(json_is_null(json_object_get(db,
			    "build_epoch")));
		json_decref(j);
		ident_free(id);
	}
	closedir(d);
	printf("bad-data: %zu files, %zu opened, none crashed\n", files,
	    opened);
	ck_assert_uint_ge(files, 10);
}
END_TEST

/* ---- the real database --------------------------------------------- */

static const struct {
	const char	*ip;
	const char	*country;	/* NULL: nothing */
} real[] = {
	{ "8.8.8.8", "US" }, { "1.1.1.1", "AU" }, { "9.9.9.9", "US" },
	{ "193.0.6.139", "NL" }, { "81.2.69.160", "GB" },
	{ "202.12.29.205", "AU" }, { "200.3.14.10", "UY" },
	{ "196.216.2.1", "ZA" }, { "2001:4860:4860::8888", "US" },
	{ "2606:4700:4700::1111", "US" }, { "2001:67c:2e8::1", "NL" },
	/* refguard unmaps ::ffff: itself, so this one is found */
	{ "::ffff:8.8.8.8", "US" },
	{ "2002:808:808::1", NULL },
	{ "10.0.0.1", NULL }, { "127.0.0.1", NULL }, { "100.64.0.1", NULL },
	{ "169.254.1.1", NULL }, { "224.0.0.1", NULL },
	/* the DB's private-range bug: never looked up */
	{ "192.168.1.1", NULL }, { "172.16.0.1", NULL },
};

START_TEST(test_real)
{
	struct ident	*id;
	struct party	 p;
	struct timespec	 t0, t1;
	json_t		*j, *db;
	char		 path[1200], ip[64], *cause;
	size_t		 i, n = 1000000;
	double		 sec;

	snprintf(path, sizeof(path), "%s/geo-whois-asn-country.mmdb", real_dir);
	id = open_db(path, &cause);
	ck_assert_msg(id != NULL, "%s", cause);
	for (i = 0; i < nitems(real); i++) {
		p = unit_ip(id, real[i].ip);
		if (real[i].country == NULL) {
			ck_assert_msg(p.geo.have == 0, "%s", real[i].ip);
			continue;
		}
		ck_assert_msg(p.geo.have == GEO_COUNTRY, "%s: have %#x",
		    real[i].ip, p.geo.have);
		ck_assert_str_eq(p.geo.country, real[i].country);
	}
	j = ident_info(id);
	db = json_array_get(json_object_get(j, "geoip"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(db,
	    "database_type")), "country ipvAll");
	ck_assert_int_eq(json_integer_value(json_object_get(db, "node_count")),
	    1306595);
	ck_assert_int_eq(json_integer_value(json_object_get(db, "build_epoch")),
	    1781725900);
	json_decref(j);

	/* A figure, not a limit. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		snprintf(ip, sizeof(ip), "%zu.%zu.%zu.%zu", 1 + i % 223,
		    (i >> 8) & 255, (i >> 16) & 255, i & 255);
		p = unit_ip(id, ip);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sec = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("real DB: %zu ident_ip calls (parse, hashes, lookup) in %.2fs, "
	    "%.0f/s\n", n, sec, n / sec);
	ident_free(id);
}
END_TEST

int
main(void)
{
	const char	*td = getenv("TESTDATA");
	Suite		*s;
	TCase		*tc;
	bool		 have_mmdb, have_real;

	if (td == NULL || *td == '\0') {
		printf("SKIP: TESTDATA is not set; MaxMind conformance, bad-data "
		    "and real-DB tests not run\n");
		return (77);
	}
	xasprintf(&mmdb_dir, "%s/mmdb", td);
	xasprintf(&real_dir, "%s/mmdb-real", td);
	if (unit_tmpdir(tmpdir) != 0)
		return (99);
	snprintf(secret, sizeof(secret), "%s/secret", tmpdir);
	have_mmdb = access(mmdb_dir, R_OK) == 0;
	have_real = access(real_dir, R_OK) == 0;
	if (!have_mmdb)
		printf("SKIP: %s absent: MaxMind conformance not run\n",
		    mmdb_dir);
	if (!have_real)
		printf("SKIP: %s absent: real-DB test not run\n", real_dir);
	if (!have_mmdb && !have_real) {
		/* Before any Check object: LeakSanitizer runs at exit. */
		unit_rmrf(tmpdir);
		free(mmdb_dir);
		free(real_dir);
		return (77);
	}
	s = suite_create("geo_testdata");
	tc = tcase_create("testdata");
	tcase_set_timeout(tc, 120);
	if (have_mmdb) {
		tcase_add_test(tc, test_expected);
		tcase_add_test(tc, test_bad_data);
	}
	if (have_real)
		tcase_add_test(tc, test_real);
	suite_add_tcase(s, tc);
	return (unit_run_in(s, tmpdir));
}
