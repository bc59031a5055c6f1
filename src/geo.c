/*
 * geo.c: MaxMind DB lookups (see geo.h).
 *
 * Lookups take the already-parsed address (MMDB_lookup_sockaddr) and read
 * single values with MMDB_aget_value on the found entry, so a lookup
 * allocates nothing and never walks the whole record.
 *
 * libmaxminddb maps the file it opens (MAP_SHARED): a file truncated in
 * place under the map makes the next lookup touch pages that no longer
 * exist, and the process dies of SIGBUS. So each file is copied whole
 * into a memfd sealed against writes, shrinking and growing, and the
 * library opens that (/proc/self/fd/N): what it maps is ours alone.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <maxminddb.h>

#include "geo.h"
#include "ident_int.h"
#include "log.h"
#include "util.h"

#define GEO_USE_COUNTRY	0x01
#define GEO_USE_ASN	0x02
#define GEO_USE_ANON	0x04
#define GEO_USE_ALL	0x07

#define GEO_COPY_BUF	(1 << 20)
#define GEO_SEALS	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | \
			 F_SEAL_WRITE)

struct geo_db {
	char	*path;
	int	 mfd;		/* the private copy; -1: mapped from path */
	MMDB_s	 mmdb;
	unsigned use;		/* GEO_USE_* */
	bool	 known;		/* use came from a known database_type */
	bool	 flat;		/* country_code layout answered last */
	bool	 warned;	/* a lookup error was logged */
};

struct geo {
	struct geo_db	**db;
	size_t		  n;
};

static const char *const geo_path_country[] = { "country", "iso_code", NULL };
static const char *const geo_path_flat[] = { "country_code", NULL };
static const char *const geo_path_continent[] = { "continent", "code", NULL };
static const char *const geo_path_asn[] =
    { "autonomous_system_number", NULL };
static const char *const geo_path_asorg[] =
    { "autonomous_system_organization", NULL };

static const struct {
	const char *const	*path;
	uint32_t		 bit;
} geo_anon[] = {
	{ (const char *const[]){ "is_anonymous", NULL }, GEO_ANONYMOUS },
	{ (const char *const[]){ "is_anonymous_vpn", NULL }, GEO_VPN },
	{ (const char *const[]){ "is_tor_exit_node", NULL }, GEO_TOR },
	{ (const char *const[]){ "is_hosting_provider", NULL }, GEO_HOSTING },
	{ (const char *const[]){ "is_residential_proxy", NULL },
	    GEO_RESIDENTIAL_PROXY },
};
#define GEO_ANON_BITS	(GEO_ANONYMOUS | GEO_VPN | GEO_TOR | GEO_HOSTING | \
			 GEO_RESIDENTIAL_PROXY)

/* ---- open and close ------------------------------------------------ */

/* What a database is used for, from its database_type. */
static unsigned
geo_classify(const char *type, bool *known)
{
	*known = true;
	if (type == NULL)
		type = "";
	if (strcasestr(type, "anonymous") != NULL)
		return (GEO_USE_ANON);
	if (strcasestr(type, "asn") != NULL || strcasestr(type, "isp") != NULL)
		return (GEO_USE_ASN);
	if (strcasestr(type, "city") != NULL ||
	    strcasestr(type, "country") != NULL)
		return (GEO_USE_COUNTRY);
	*known = false;
	return (GEO_USE_ALL);
}

static void
geo_db_close(struct geo_db *db)
{
	if (db == NULL)
		return;
	MMDB_close(&db->mmdb);
	if (db->mfd >= 0)
		close(db->mfd);
	free(db->path);
	free(db);
}

/*
 * Copy the regular file path into a new sealed memfd. The memfd, or -1
 * and *cause ("PATH: reason"); *nomemfd set when the system has no
 * memfds for us (an old kernel, a sandbox), nothing wrong with the file.
 */
static int
geo_copy(const char *path, bool *nomemfd, char **cause)
{
	struct stat	 sb, sb2;
	char		*buf;
	ssize_t		 n;
	off_t		 got = 0;
	int		 fd, mfd;

	*nomemfd = false;
	if ((fd = file_open_regular(path, 0, &sb, cause)) < 0)
		return (-1);
	if ((mfd = memfd_create("refguard-geoip", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0) {
		*nomemfd = errno == ENOSYS || errno == EPERM ||
		    errno == EINVAL;
		xasprintf(cause, "%s: memfd_create: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	buf = xmalloc(GEO_COPY_BUF);
	while ((n = read(fd, buf, GEO_COPY_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write_all(mfd, buf, (size_t)n) != 0)
			break;
		got += n;
	}
	free(buf);
	if (n != 0) {
		xasprintf(cause, "%s: copying it: %s", path, strerror(errno));
		goto fail;
	}
	/* A file rewritten while we read it: refuse the torn copy. */
	if (fstat(fd, &sb2) != 0 || got != sb.st_size ||
	    sb2.st_size != sb.st_size ||
	    sb2.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
	    sb2.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
		xasprintf(cause, "%s: changed while it was read (replace it "
		    "by renaming a new file over it)", path);
		goto fail;
	}
	if (fcntl(mfd, F_ADD_SEALS, GEO_SEALS) != 0) {
		xasprintf(cause, "%s: sealing the copy: %s", path,
		    strerror(errno));
		goto fail;
	}
	close(fd);
	return (mfd);

fail:
	close(fd);
	close(mfd);
	return (-1);
}

/* Open the database in the private copy mfd; MMDB_* status. */
static int
geo_mmdb_open(int mfd, MMDB_s *mmdb)
{
	char	proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", mfd);
	return (MMDB_open(proc, MMDB_MODE_MMAP, mmdb));
}

/* Without memfds or /proc: map the file itself, and say what it risks. */
static int
geo_mmdb_fallback(const char *path, const char *why, MMDB_s *mmdb)
{
	static bool	warned;
	char		esc[512];

	if (!warned)
		log_warn("GeoIP databases are mapped from their files: a "
		    "file overwritten in place can crash the daemon, replace "
		    "them by rename reason=%s", log_value(why, strlen(why),
		    esc, sizeof(esc)));
	warned = true;
	return (MMDB_open(path, MMDB_MODE_MMAP, mmdb));
}

static struct geo_db *
geo_db_open(const struct conf_str *cs, char **cause)
{
	struct geo_db	*db = xcalloc(1, sizeof(*db));
	char		*where, *msg = NULL;
	bool		 nomemfd;
	int		 rv, saved;

	if (cs->file != NULL)
		xasprintf(&where, "%s:%d: ", cs->file, cs->line);
	else
		where = xstrdup("");
	if ((db->mfd = geo_copy(cs->val, &nomemfd, &msg)) < 0 && !nomemfd) {
		xasprintf(cause, "%sgeoip_db %s", where, msg);
		goto fail;
	}
	errno = 0;
	if (db->mfd < 0)
		rv = geo_mmdb_fallback(cs->val, msg, &db->mmdb);
	else if ((rv = geo_mmdb_open(db->mfd, &db->mmdb)) ==
	    MMDB_FILE_OPEN_ERROR) {
		/* No /proc to reach the copy by. */
		close(db->mfd);
		db->mfd = -1;
		rv = geo_mmdb_fallback(cs->val, "/proc/self/fd cannot be "
		    "opened", &db->mmdb);
	}
	saved = errno;
	if (rv != MMDB_SUCCESS) {
		if (rv == MMDB_IO_ERROR || rv == MMDB_FILE_OPEN_ERROR)
			xasprintf(cause, "%sgeoip_db %s: %s: %s", where, cs->val,
			    MMDB_strerror(rv), strerror(saved));
		else
			xasprintf(cause, "%sgeoip_db %s: %s", where, cs->val,
			    MMDB_strerror(rv));
		goto fail;
	}
	free(msg);
	free(where);
	db->path = xstrdup(cs->val);
	db->use = geo_classify(db->mmdb.metadata.database_type, &db->known);
	return (db);

fail:
	free(msg);
	free(where);
	if (db->mfd >= 0)
		close(db->mfd);
	free(db);
	return (NULL);
}

/*
 * A handle of its own on old's private copy: lookups write to the handle
 * (flat, warned), so two threads never share one. NULL when old was
 * mapped from its file (nothing private to reopen).
 */
static struct geo_db *
geo_db_clone(const struct geo_db *old)
{
	struct geo_db	*db;

	if (old->mfd < 0)
		return (NULL);
	db = xcalloc(1, sizeof(*db));
	if ((db->mfd = fcntl(old->mfd, F_DUPFD_CLOEXEC, 0)) < 0 ||
	    geo_mmdb_open(db->mfd, &db->mmdb) != MMDB_SUCCESS) {
		if (db->mfd >= 0)
			close(db->mfd);
		free(db);
		return (NULL);
	}
	db->path = xstrdup(old->path);
	db->use = old->use;
	db->known = old->known;
	return (db);
}

void
geo_free(struct geo *g)
{
	size_t	i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++)
		geo_db_close(g->db[i]);
	free(g->db);
	free(g);
}

size_t
geo_count(const struct geo *g)
{
	return (g->n);
}

/* The database old opened from path (NULL if none). */
static const struct geo_db *
geo_find(const struct geo *g, const char *path)
{
	size_t	i;

	for (i = 0; g != NULL && i < g->n; i++)
		if (strcmp(g->db[i]->path, path) == 0)
			return (g->db[i]);
	return (NULL);
}

struct geo *
geo_open(const struct geo *old, const struct conf_str *paths, size_t n,
    char **cause)
{
	struct geo		*g = xcalloc(1, sizeof(*g));
	const struct geo_db	*prev;
	struct geo_db		*db;
	char			*msg;
	size_t			 i;

	*cause = NULL;
	g->db = xcalloc(n, sizeof(*g->db));
	for (i = 0; i < n; i++) {
		msg = NULL;
		if ((db = geo_db_open(&paths[i], &msg)) != NULL) {
			g->db[g->n++] = db;
			continue;
		}
		cause_append(cause, msg);
		if (old == NULL) {
			geo_free(g);
			return (NULL);
		}
		/* Keep serving the old file's data. */
		if ((prev = geo_find(old, paths[i].val)) != NULL &&
		    (db = geo_db_clone(prev)) != NULL)
			g->db[g->n++] = db;
	}
	return (g);
}

/* ---- lookups ------------------------------------------------------- */

static void
geo_warn(struct geo_db *db, int status)
{
	char	path[256];

	if (db->warned)
		return;
	db->warned = true;
	log_warn("geoip lookup failed, records treated as absent (logged once "
	    "per database) db=%s error=\"%s\"", log_value(db->path,
	    strlen(db->path), path, sizeof(path)), MMDB_strerror(status));
}

/*
 * One value at path: 1 found, 0 absent (or of an unexpected type), -1 on
 * an error in the database.
 */
static int
geo_get(struct geo_db *db, MMDB_entry_s *e, const char *const *path,
    uint32_t type, MMDB_entry_data_s *d)
{
	int	rv = MMDB_aget_value(e, d, path);

	if (rv == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
		return (0);
	if (rv != MMDB_SUCCESS) {
		geo_warn(db, rv);
		return (-1);
	}
	return (d->has_data && d->type == type ? 1 : 0);
}

/* Two ASCII letters, upper-cased into out[3]. */
static int
geo_code(const MMDB_entry_data_s *d, char *out)
{
	char	a, b;

	if (d->data_size != 2)
		return (0);
	a = (char)(d->utf8_string[0] & ~0x20);
	b = (char)(d->utf8_string[1] & ~0x20);
	if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z')
		return (0);
	out[0] = a;
	out[1] = b;
	out[2] = '\0';
	return (1);
}

static int
geo_country(struct geo_db *db, MMDB_entry_s *e, struct geo_facts *gf)
{
	MMDB_entry_data_s	d;
	const char *const	*first = db->flat ? geo_path_flat :
				    geo_path_country;
	const char *const	*second = db->flat ? geo_path_country :
				    geo_path_flat;
	int			 rv;

	if (!(gf->have & GEO_COUNTRY)) {
		/* Try the layout that answered last first. */
		if ((rv = geo_get(db, e, first, MMDB_DATA_TYPE_UTF8_STRING,
		    &d)) == 0 && (rv = geo_get(db, e, second,
		    MMDB_DATA_TYPE_UTF8_STRING, &d)) == 1)
			db->flat = !db->flat;
		if (rv < 0)
			return (-1);
		if (rv == 1 && geo_code(&d, gf->country))
			gf->have |= GEO_COUNTRY;
	}
	if (!(gf->have & GEO_CONTINENT) && !db->flat) {
		if ((rv = geo_get(db, e, geo_path_continent,
		    MMDB_DATA_TYPE_UTF8_STRING, &d)) < 0)
			return (-1);
		if (rv == 1 && geo_code(&d, gf->continent))
			gf->have |= GEO_CONTINENT;
	}
	return (0);
}

/* Printable, valid UTF-8, at most RG_ASORG_MAX bytes. */
static void
geo_asorg(const MMDB_entry_data_s *d, struct geo_facts *gf)
{
	size_t	n = d->data_size, i;

	if (n > RG_ASORG_MAX)
		n = RG_ASORG_MAX;
	memcpy(gf->as_org, d->utf8_string, n);
	n = utf8_valid(gf->as_org, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)gf->as_org[i] < 0x20 || gf->as_org[i] == 0x7f)
			gf->as_org[i] = ' ';
	gf->as_org[n] = '\0';
	if (n > 0)
		gf->have |= GEO_AS_ORG;
}

static int
geo_asn_number(struct geo_db *db, MMDB_entry_s *e, struct geo_facts *gf)
{
	MMDB_entry_data_s	d;
	int			rv = MMDB_aget_value(e, &d, geo_path_asn);

	if (rv == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
		return (0);
	if (rv != MMDB_SUCCESS) {
		geo_warn(db, rv);
		return (-1);
	}
	if (!d.has_data)
		return (0);
	switch (d.type) {
	case MMDB_DATA_TYPE_UINT32:
		gf->asn = d.uint32;
		break;
	case MMDB_DATA_TYPE_UINT16:
		gf->asn = d.uint16;
		break;
	case MMDB_DATA_TYPE_UINT64:
		if (d.uint64 > UINT32_MAX)
			return (0);
		gf->asn = (uint32_t)d.uint64;
		break;
	case MMDB_DATA_TYPE_INT32:
		if (d.int32 < 0)
			return (0);
		gf->asn = (uint32_t)d.int32;
		break;
	default:
		return (0);
	}
	gf->have |= GEO_ASN;
	return (0);
}

static int
geo_asn(struct geo_db *db, MMDB_entry_s *e, struct geo_facts *gf)
{
	MMDB_entry_data_s	d;
	int			rv;

	if (!(gf->have & GEO_ASN) && geo_asn_number(db, e, gf) < 0)
		return (-1);
	if (!(gf->have & GEO_AS_ORG)) {
		if ((rv = geo_get(db, e, geo_path_asorg,
		    MMDB_DATA_TYPE_UTF8_STRING, &d)) < 0)
			return (-1);
		if (rv == 1)
			geo_asorg(&d, gf);
	}
	return (0);
}

/* A found Anonymous-IP record answers every flag: absent ones are false. */
static int
geo_anonymous(struct geo_db *db, MMDB_entry_s *e, struct geo_facts *gf)
{
	MMDB_entry_data_s	d;
	bool			v[nitems(geo_anon)], any = false;
	size_t			i;
	int			rv;

	if (gf->have & GEO_ANON_BITS)
		return (0);
	for (i = 0; i < nitems(geo_anon); i++) {
		if ((rv = geo_get(db, e, geo_anon[i].path,
		    MMDB_DATA_TYPE_BOOLEAN, &d)) < 0)
			return (-1);
		v[i] = rv == 1 && d.boolean;
		any |= rv == 1;
	}
	if (!db->known && !any)
		return (0);	/* a database of unknown type without flags */
	gf->anonymous = v[0];
	gf->vpn = v[1];
	gf->tor = v[2];
	gf->hosting = v[3];
	gf->residential_proxy = v[4];
	gf->have |= GEO_ANON_BITS;
	return (0);
}

static void
geo_db_lookup(struct geo_db *db, const struct sockaddr *sa,
    struct geo_facts *gf)
{
	MMDB_lookup_result_s	res;
	struct geo_facts	t = *gf;
	int			err;

	res = MMDB_lookup_sockaddr(&db->mmdb, sa, &err);
	if (err != MMDB_SUCCESS) {
		if (err != MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
			geo_warn(db, err);
		return;
	}
	if (!res.found_entry)
		return;
	/* Work on a copy: a record with an error gives nothing at all. */
	if ((db->use & GEO_USE_COUNTRY) && geo_country(db, &res.entry, &t) < 0)
		return;
	if ((db->use & GEO_USE_ASN) && geo_asn(db, &res.entry, &t) < 0)
		return;
	if ((db->use & GEO_USE_ANON) && geo_anonymous(db, &res.entry, &t) < 0)
		return;
	*gf = t;
}

void
geo_lookup(struct geo *g, const struct sockaddr *sa, struct geo_facts *gf)
{
	size_t	i;

	memset(gf, 0, sizeof(*gf));
	for (i = 0; i < g->n; i++)
		geo_db_lookup(g->db[i], sa, gf);
}

/* ---- info ---------------------------------------------------------- */

static json_t *
geo_db_info(const struct geo_db *db)
{
	const MMDB_metadata_s	*md = &db->mmdb.metadata;
	json_t			*o = json_object(), *use = json_array();

	json_object_set_new(o, "path", json_string(db->path));
	json_object_set_new(o, "database_type", md->database_type != NULL ?
	    json_string(md->database_type) : json_null());
	json_object_set_new(o, "build_epoch", md->build_epoch <= INT64_MAX ?
	    json_integer((json_int_t)md->build_epoch) : json_null());
	json_object_set_new(o, "node_count", json_integer(md->node_count));
	json_object_set_new(o, "bytes", json_integer((json_int_t)
	    db->mmdb.file_size));
	json_object_set_new(o, "ip_version", json_integer(md->ip_version));
	if (db->use & GEO_USE_COUNTRY)
		json_array_append_new(use, json_string("country"));
	if (db->use & GEO_USE_ASN)
		json_array_append_new(use, json_string("asn"));
	if (db->use & GEO_USE_ANON)
		json_array_append_new(use, json_string("anonymous"));
	json_object_set_new(o, "facts", use);
	return (o);
}

void *
geo_info(const struct geo *g)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < g->n; i++)
		json_array_append_new(a, geo_db_info(g->db[i]));
	return (a);
}
