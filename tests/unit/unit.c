/* unit.c: scaffolding shared by the unit tests; see unit.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "util.h"

int
unit_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? 0 : 1);
}

int
unit_run_in(Suite *s, const char *dir)
{
	int	rc = unit_run(s);

	unit_rmrf(dir);
	return (rc);
}

int
unit_tmpdir(char *tmpl)
{
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return (-1);
	}
	return (0);
}

int
unit_rmrf(const char *dir)
{
	char	*cmd;
	int	 rc;

	xasprintf(&cmd, "rm -rf '%s'", dir);
	rc = system(cmd);
	free(cmd);
	if (rc != 0) {
		fprintf(stderr, "could not remove %s\n", dir);
		return (-1);
	}
	return (0);
}

void
unit_write(const char *path, const void *buf, size_t len)
{
	int	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

char *
unit_slurp(const char *path, size_t *lenp)
{
	FILE	*f = fopen(path, "rb");
	char	*buf;
	long	 n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	ck_assert_int_ge(n, 0);
	buf = xmalloc((size_t)n + 1);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (lenp != NULL)
		*lenp = (size_t)n;
	return (buf);
}

struct ident *
unit_ident(const char *secret)
{
	struct ident_conf	 ic;
	struct ident		*id;
	char			*cause = NULL;

	memset(&ic, 0, sizeof(ic));
	ic.secret_file = secret;
	ic.prefix4 = 24;
	ic.prefix6 = 64;
	id = ident_new(&ic, &cause);
	ck_assert_msg(id != NULL, "ident_new: %s", cause);
	return (id);
}

struct party
unit_ip(struct ident *id, const char *ip)
{
	struct party	 p;
	const char	*err;

	memset(&p, 0, sizeof(p));
	ck_assert_msg(ident_ip(id, ip, strlen(ip), &p, &err) == 0, "%s: %s",
	    ip, err);
	return (p);
}

int
unit_reload(struct ident **id, const struct ident_conf *ic, char **cause)
{
	struct ident	*n = ident_stage(*id, ic, cause);

	ident_free(*id);
	*id = n;
	return (*cause == NULL ? 0 : -1);
}

struct store *
unit_store(const char *dir, size_t size, size_t max)
{
	return (unit_store_recent(dir, size, max, 0));
}

struct store *
unit_store_recent(const char *dir, size_t size, size_t max,
    uint64_t recent_max)
{
	struct store_opts	 o;
	struct store		*s;
	char			*cause = NULL;

	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.map_size = size;
	o.map_max = max;
	o.nosync = true;
	o.recent_max = recent_max;
	s = store_open(&o, &cause);
	ck_assert_msg(s != NULL, "store_open: %s", cause);
	return (s);
}
