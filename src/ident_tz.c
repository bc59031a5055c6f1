/*
 * ident_tz.c: the country of a device's time zone (the device.tz_country
 * fact), from the system's time zone database: zone.tab names the
 * country of each zone it lists ("Europe/Berlin" DE), tzdata.zi's link
 * lines ("L Asia/Kolkata Asia/Calcutta") give old and alias names the
 * country of their target when zone1970.tab says the target serves one.
 * A zone of no one country ("UTC", "Etc/GMT+3", "Iceland", now a link to
 * Africa/Abidjan, which serves a dozen), an offset, a name given two
 * countries, has none.
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

static void
tz_zones_free(struct tzmap *m)
{
	size_t	i;

	for (i = 0; i < m->n; i++)
		free(m->z[i].name);
	free(m->z);
}

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
	len = strnlen(cc, 2);
	memcpy(z->cc, cc, len);
	z->cc[len] = '\0';
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
 * A zone table's lines, "CODES<TAB>coordinates<TAB>TZ[<TAB>comments]"
 * with '#' comments, each through fn; a line of another shape is an
 * error (it is not the file we think), and so is a NUL byte. CR before
 * LF is dropped.
 */
static int
tz_table(char *buf, size_t len, const char *path, char **cause,
    void (*fn)(struct tzmap *, const char *, const char *), struct tzmap *m)
{
	char	*line, *next, *f[3];
	size_t	 n;
	int	 lineno = 0, i;

	if (memchr(buf, '\0', len) != NULL) {
		xasprintf(cause, "%s: contains a NUL byte", path);
		return (-1);
	}
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((n = strlen(line)) > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
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
		if (i < 3 || strlen(f[0]) < 2 || f[0][0] < 'A' ||
		    f[0][0] > 'Z' || f[0][1] < 'A' || f[0][1] > 'Z' ||
		    strchr(f[2], '/') == NULL) {
			xasprintf(cause, "%s:%d: not a zone table line "
			    "(country, coordinates, zone)", path, lineno);
			return (-1);
		}
		fn(m, f[0], f[2]);
	}
	return (0);
}

/* zone.tab: one country a zone. */
static void
tz_zone_tab(struct tzmap *m, const char *codes, const char *zone)
{
	if (strlen(codes) == 2)
		tz_add(m, zone, strlen(zone), codes);
}

/*
 * zone1970.tab: the countries a zone serves ("CI,BF,GH,..." since zones
 * of one time were merged): a zone of one country, or "" for several.
 */
static void
tz_zone1970(struct tzmap *m, const char *codes, const char *zone)
{
	tz_add(m, zone, strlen(zone), strlen(codes) == 2 ? codes : "");
}

/*
 * tzdata.zi's "L TARGET ALIAS" lines (the rest of the file is rules): an
 * alias takes its target's country when zone1970.tab (one, sorted) says
 * the target serves one country, and zone.tab (m's first zones, sorted)
 * does not name it. Since zones were merged, a target may serve several
 * ("Iceland" links to Africa/Abidjan): those aliases get none, as do
 * links of links.
 */
static void
tz_links(struct tzmap *m, const struct tzmap *one, char *buf)
{
	char		*line, *next, *tgt, *alias, *sp, cc[3];
	const char	*c;
	size_t		 canon = m->n;		/* sorted */

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
		c = tz_find(one, one->n, tgt, (size_t)(sp - tgt));
		/* zone.tab's own names keep its countries. */
		if (c == NULL || *c == '\0' ||
		    tz_find(m, canon, alias, strlen(alias)) != NULL)
			continue;
		/* Copied: adding may move the table c points into. */
		memcpy(cc, c, sizeof(cc));
		tz_add(m, alias, strlen(alias), cc);
	}
}

/* Sort; a name given twice with two countries says neither. */
static void
tz_sort(struct tzmap *m)
{
	size_t	i, j, k, out = 0;
	bool	same;

	qsort(m->z, m->n, sizeof(*m->z), tz_cmp);
	for (i = 0; i < m->n; i = j) {
		same = true;
		for (j = i + 1; j < m->n && tz_cmp(&m->z[i], &m->z[j]) == 0;
		    j++)
			same = same && strcmp(m->z[i].cc, m->z[j].cc) == 0;
		if (same)
			m->z[out++] = m->z[i];
		else
			free(m->z[i].name);
		for (k = i + 1; k < j; k++)
			free(m->z[k].name);
	}
	m->n = out;
}

/* DIR/name, whole, into *buf (NUL-terminated), *path. 0, or -1 and *cause. */
static int
tz_file(const char *dir, const char *name, char **path, char **buf,
    size_t *len, struct stat *sb, char **cause)
{
	char	*msg;

	xasprintf(path, "%s/%s", dir, name);
	if (file_read_regular(*path, 0, TZ_FILE_MAX, buf, len, sb,
	    &msg) == 0)
		return (0);
	xasprintf(cause, "zoneinfo_dir %s", msg);
	free(msg);
	free(*path);
	*path = NULL;
	return (-1);
}

struct tzmap *
ident_tz_load(const char *dir, char **cause)
{
	struct tzmap	*m, one;
	struct stat	 sb;
	char		*path, *buf, *msg = NULL;
	size_t		 len;
	int		 rc;

	if (tz_file(dir, "zone.tab", &path, &buf, &len, &sb, cause) != 0)
		return (NULL);
	m = xcalloc(1, sizeof(*m));
	m->refs = 1;
	m->path = path;
	m->bytes = (int64_t)sb.st_size;
	rc = tz_table(buf, len, path, cause, tz_zone_tab, m);
	free(buf);
	if (rc == 0 && m->n == 0) {
		xasprintf(cause, "%s: no zones", path);
		rc = -1;
	}
	if (rc != 0) {
		ident_tz_free(m);
		return (NULL);
	}
	tz_sort(m);
	/*
	 * The links are optional (without them, canonical names only) and
	 * followed only with zone1970.tab to say which targets are one
	 * country's.
	 */
	memset(&one, 0, sizeof(one));
	if (tz_file(dir, "zone1970.tab", &path, &buf, &len, &sb, &msg) == 0) {
		rc = tz_table(buf, len, path, &msg, tz_zone1970, &one);
		m->bytes += (int64_t)sb.st_size;
		free(buf);
		free(path);
		if (rc == 0 && tz_file(dir, "tzdata.zi", &path, &buf, &len, &sb,
		    &msg) == 0) {
			tz_sort(&one);
			tz_links(m, &one, buf);
			m->bytes += (int64_t)sb.st_size;
			free(buf);
			free(path);
		}
	}
	free(msg);
	tz_zones_free(&one);
	tz_sort(m);
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
	if (m == NULL || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	tz_zones_free(m);
	free(m->path);
	free(m);
}

const char *
ident_tz_country(const struct tzmap *m, const char *s, size_t len)
{
	return (m != NULL ? tz_find(m, m->n, s, len) : NULL);
}
