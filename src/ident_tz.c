/*
 * ident_tz.c: the country of a device's time zone (the device.tz_country
 * fact), from the system's time zone database: zone.tab names the
 * country of each canonical zone ("Europe/Berlin" DE), tzdata.zi's link
 * lines ("L Asia/Kolkata Asia/Calcutta") give old and alias names the
 * country of their target. A zone of no one country ("UTC", "Etc/GMT+3",
 * an offset) has none.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ident_int.h"
#include "util.h"

#define TZ_FILE_MAX	(1u << 20)	/* zone.tab is ~20 KiB, tzdata.zi ~110 */

struct tz_zone {
	char	*name;
	char	 cc[3];
};

static int
tz_cmp(const void *a, const void *b)
{
	return (strcasecmp(((const struct tz_zone *)a)->name,
	    ((const struct tz_zone *)b)->name));
}

static void
tz_add(struct tzmap *m, const char *name, size_t len, const char *cc)
{
	struct tz_zone	*z;

	if (len == 0 || len > IDENT_TZ_NAME_MAX)
		return;
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 512;
		m->z = xreallocarray(m->z, m->cap, sizeof(*m->z));
	}
	z = &m->z[m->n++];
	z->name = xstrndup(name, len);
	memcpy(z->cc, cc, 2);
	z->cc[2] = '\0';
}

/* The country of a zone among the first n of m's zones, sorted. */
static const char *
tz_find(const struct tzmap *m, size_t n, const char *s, size_t len)
{
	char		 name[IDENT_TZ_NAME_MAX + 1];
	struct tz_zone	 key = { name, "" }, *z;

	if (len == 0 || len > IDENT_TZ_NAME_MAX)
		return (NULL);
	memcpy(name, s, len);
	name[len] = '\0';
	z = bsearch(&key, m->z, n, sizeof(*m->z), tz_cmp);
	return (z != NULL ? z->cc : NULL);
}

/*
 * zone.tab: "CC<TAB>coordinates<TAB>TZ[<TAB>comments]", '#' comments.
 * A line of another shape is an error: it is not the file we think.
 */
static int
tz_zone_tab(struct tzmap *m, char *buf, const char *path, char **cause)
{
	char	*line, *next, *f[3];
	int	 lineno = 0, i;

	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		for (i = 0; i < 3; i++) {
			f[i] = line;
			line += strcspn(line, "\t");
			if (*line == '\t')
				*line++ = '\0';
			else if (i < 2)
				break;
		}
		if (i < 3 || strlen(f[0]) != 2 || f[0][0] < 'A' ||
		    f[0][0] > 'Z' || f[0][1] < 'A' || f[0][1] > 'Z' ||
		    strchr(f[2], '/') == NULL) {
			xasprintf(cause, "%s:%d: not a zone.tab line "
			    "(country, coordinates, zone)", path, lineno);
			return (-1);
		}
		tz_add(m, f[2], strlen(f[2]), f[0]);
	}
	return (0);
}

/*
 * tzdata.zi's "L TARGET ALIAS" lines (the rest of the file is rules),
 * after the canonical zones, which are sorted: an alias of a canonical
 * zone gets its country (a link of a link is not followed).
 */
static void
tz_links(struct tzmap *m, char *buf)
{
	char		*line, *next, *tgt, *alias, *sp;
	const char	*cc;
	size_t		 canon = m->n;

	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, "L ", 2) != 0)
			continue;
		tgt = line + 2;
		if ((sp = strchr(tgt, ' ')) == NULL)
			continue;
		alias = sp + 1;
		alias[strcspn(alias, " \t\r")] = '\0';
		if ((cc = tz_find(m, canon, tgt, (size_t)(sp - tgt))) != NULL &&
		    tz_find(m, canon, alias, strlen(alias)) == NULL)
			tz_add(m, alias, strlen(alias), cc);
	}
}

struct tzmap *
ident_tz_load(const char *dir, char **cause)
{
	struct tzmap	*m;
	struct stat	 sb;
	char		*path, *buf, *msg;
	size_t		 len;

	xasprintf(&path, "%s/zone.tab", dir);
	if (file_read_regular(path, 0, TZ_FILE_MAX, &buf, &len, &sb,
	    &msg) != 0) {
		xasprintf(cause, "zoneinfo_dir %s", msg);
		free(msg);
		free(path);
		return (NULL);
	}
	m = xcalloc(1, sizeof(*m));
	m->refs = 1;
	m->path = path;
	m->bytes = (int64_t)sb.st_size;
	if (tz_zone_tab(m, buf, path, cause) != 0) {
		free(buf);
		ident_tz_free(m);
		return (NULL);
	}
	free(buf);
	qsort(m->z, m->n, sizeof(*m->z), tz_cmp);
	if (m->n == 0) {
		xasprintf(cause, "%s: no zones", path);
		ident_tz_free(m);
		return (NULL);
	}
	/* The links are optional: without them only canonical names. */
	xasprintf(&path, "%s/tzdata.zi", dir);
	if (file_read_regular(path, 0, TZ_FILE_MAX, &buf, &len, &sb,
	    &msg) == 0) {
		tz_links(m, buf);
		free(buf);
		m->bytes += (int64_t)sb.st_size;
	} else
		free(msg);
	free(path);
	qsort(m->z, m->n, sizeof(*m->z), tz_cmp);
	return (m);
}

struct tzmap *
ident_tz_ref(struct tzmap *m)
{
	if (m != NULL)
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return (m);
}

void
ident_tz_free(struct tzmap *m)
{
	size_t	i;

	if (m == NULL || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (i = 0; i < m->n; i++)
		free(m->z[i].name);
	free(m->z);
	free(m->path);
	free(m);
}

const char *
ident_tz_country(const struct tzmap *m, const char *s, size_t len)
{
	return (m != NULL ? tz_find(m, m->n, s, len) : NULL);
}
