/*
 * test_ident_data.c: the open data contrib/fetch-data.sh wrote into
 * $RG_DATA_DIR (make check: ./run/data, where contrib/setup.sh run puts
 * it; contrib/setup.sh data fetches it anew and runs this test):
 *   - disposable.txt, read by refguard's own matcher, covers every domain
 *     of the community blocklist in $TESTDATA/disposable and none of the
 *     big mail providers;
 *   - asn.mmdb answers geo.asn and geo.as_org for well-known addresses.
 * Each part says SKIP and passes when its files are absent: the data is
 * downloaded, never part of the repository.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ident_int.h"
#include "util.h"

#include "unit.h"

static char	 tmpdir[] = "/tmp/rg-idata.XXXXXX";
static char	 secret[256];

/* $RG_DATA_DIR/name if readable, else NULL (and why on stderr). */
static char *
data_file(const char *name)
{
	const char	*dir = getenv("RG_DATA_DIR");
	char		*p;

	if (dir == NULL || *dir == '\0') {
		fprintf(stderr, "SKIP %s: RG_DATA_DIR not set\n", name);
		return (NULL);
	}
	xasprintf(&p, "%s/%s", dir, name);
	if (access(p, R_OK) != 0) {
		fprintf(stderr, "SKIP %s: %s absent (contrib/fetch-data.sh "
		    "writes it)\n", name, p);
		free(p);
		return (NULL);
	}
	return (p);
}

static struct ident *
open_ident(const char *disp, const char *geoip)
{
	struct ident_conf	 ic;
	struct conf_str		 cs = { (char *)geoip, (char *)"data", 1 };
	struct ident		*id;
	char			*cause = NULL;

	memset(&ic, 0, sizeof(ic));
	ic.secret_file = secret;
	ic.disposable_file = disp;
	if (geoip != NULL) {
		ic.geoip = &cs;
		ic.ngeoip = 1;
	}
	id = ident_new(&ic, &cause);
	ck_assert_msg(id != NULL, "ident_new: %s", cause);
	return (id);
}

static bool
disposable(struct ident *id, const char *domain)
{
	struct party	 p;
	const char	*err = NULL;
	char		 addr[300];

	snprintf(addr, sizeof(addr), "x@%s", domain);
	memset(&p, 0, sizeof(p));
	ck_assert_msg(ident_email(id, addr, strlen(addr), &p, &err) == 0,
	    "%s: %s", addr, err);
	return (p.email_disposable);
}

START_TEST(test_disposable_covers_community_list)
{
	const char	*td = getenv("TESTDATA");
	static const char *const providers[] = { "gmail.com", "outlook.com",
	    "yahoo.com", "icloud.com", "proton.me", "gmx.de", "zoho.com",
	    "hotmail.co.uk", "mail.ru", "qq.com" };
	struct ident	*id;
	char		*disp, comm[1024], line[512];
	size_t		 n = 0, missed = 0, i, len;
	FILE		*f;

	if ((disp = data_file("disposable.txt")) == NULL)
		return;
	snprintf(comm, sizeof(comm),
	    "%s/disposable/disposable_email_blocklist.conf", td ? td : "");
	if (td == NULL || access(comm, R_OK) != 0) {
		fprintf(stderr, "SKIP disposable coverage: no community list "
		    "(%s)\n", comm);
		free(disp);
		return;
	}
	id = open_ident(disp, NULL);
	ck_assert_ptr_nonnull(f = fopen(comm, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strcspn(line, "\r\n");
		line[len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		n++;
		if (!disposable(id, line) && missed++ < 10)
			fprintf(stderr, "not covered: %s\n", line);
	}
	fclose(f);
	ck_assert_msg(n > 8000, "community list has %zu domains", n);
	ck_assert_msg(missed == 0, "%zu of the %zu domains of %s are not "
	    "disposable by %s", missed, n, comm, disp);
	for (i = 0; i < nitems(providers); i++)
		ck_assert_msg(!disposable(id, providers[i]), "%s is listed",
		    providers[i]);
	fprintf(stderr, "disposable.txt covers all %zu domains of the "
	    "community list\n", n);
	ident_free(id);
	free(disp);
}
END_TEST

START_TEST(test_asn_database)
{
	static const struct {
		const char	*ip;
		uint32_t	 asn;
		const char	*org;
	} known[] = {
		{ "8.8.8.8", 15169, "Google" },
		{ "1.1.1.1", 13335, "Cloudflare" },
		{ "2001:4860:4860::8888", 15169, "Google" },
	};
	struct ident	*id;
	struct party	 p;
	char		*db;
	size_t		 i;

	if ((db = data_file("asn.mmdb")) == NULL)
		return;
	id = open_ident(NULL, db);
	for (i = 0; i < nitems(known); i++) {
		p = unit_ip(id, known[i].ip);
		ck_assert_msg((p.geo.have & GEO_ASN) &&
		    p.geo.asn == known[i].asn, "%s: AS%u, want AS%u",
		    known[i].ip, p.geo.asn, known[i].asn);
		ck_assert_msg((p.geo.have & GEO_AS_ORG) && strstr(p.geo.as_org,
		    known[i].org) != NULL, "%s: organisation '%s'",
		    known[i].ip, p.geo.as_org);
		ck_assert(!(p.geo.have & GEO_COUNTRY));
	}
	ident_free(id);
	free(db);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;
	char	*a = data_file("disposable.txt"), *b = data_file("asn.mmdb");

	if (a == NULL && b == NULL) {
		printf("SKIP: no data from contrib/fetch-data.sh in "
		    "RG_DATA_DIR=%s\n", getenv("RG_DATA_DIR") ?
		    getenv("RG_DATA_DIR") : "");
		return (77);
	}
	free(a);
	free(b);
	if (unit_tmpdir(tmpdir) != 0)
		return (99);
	/* Made only now: a skip above leaves nothing to a leak checker. */
	s = suite_create("ident_data");
	tc = tcase_create("data");
	snprintf(secret, sizeof(secret), "%s/secret", tmpdir);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_disposable_covers_community_list);
	tcase_add_test(tc, test_asn_database);
	suite_add_tcase(s, tc);
	return (unit_run_in(s, tmpdir));
}
