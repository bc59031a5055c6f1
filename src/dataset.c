/* dataset.c: the data sets a daemon serves with (see dataset.h). */
#include "config.h"

#include <sys/stat.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dataset.h"
#include "sbuf.h"
#include "util.h"

/* An integer member, or dflt when absent or not an integer. */
static int64_t
dataset_int(const json_t *o, const char *key, int64_t dflt)
{
	const json_t	*v = json_object_get(o, key);

	return (json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt);
}

static void
dataset_fill(struct dataset *s, const char *kind, json_t *o,
    const char *epoch_key)
{
	s->kind = kind;
	s->path = json_string_value(json_object_get(o, "path"));
	s->entries = dataset_int(o, "entries", -1);
	s->bytes = dataset_int(o, "bytes", 0);
	s->epoch = epoch_key != NULL ? dataset_int(o, epoch_key, -1) : -1;
	s->built = json_string_value(json_object_get(o, "built"));
	s->age_s = dataset_int(o, "age_s", -1);
	s->stale = json_is_boolean(json_object_get(o, "stale")) ?
	    json_is_true(json_object_get(o, "stale")) : s->age_s >= 0 ? 0 : -1;
	s->obj = o;
}

void
dataset_foreach(void *data, void (*cb)(const struct dataset *, void *),
    void *arg)
{
	json_t		*o = data, *e, *f;
	struct dataset	 s;
	size_t		 i, j, n;

	json_array_foreach(json_object_get(o, "geoip"), i, e) {
		memset(&s, 0, sizeof(s));
		json_array_foreach(json_object_get(e, "facts"), j, f) {
			n = strlen(s.name);
			snprintf(s.name + n, sizeof(s.name) - n, "%s%s",
			    j > 0 ? "+" : "", json_is_string(f) ?
			    json_string_value(f) : "?");
		}
		dataset_fill(&s, "geoip", e, "build_epoch");
		s.entries = -1;
		cb(&s, arg);
	}
	if (json_is_object(e = json_object_get(o, "disposable"))) {
		memset(&s, 0, sizeof(s));
		snprintf(s.name, sizeof(s.name), "disposable");
		dataset_fill(&s, "disposable", e, "mtime");
		cb(&s, arg);
	}
	if (json_is_object(e = json_object_get(o, "time_zones"))) {
		memset(&s, 0, sizeof(s));
		snprintf(s.name, sizeof(s.name), "time_zones");
		/* No date: tzdata's age says nothing of its countries. */
		dataset_fill(&s, "zones", e, NULL);
		cb(&s, arg);
	}
	json_array_foreach(json_object_get(o, "lists"), i, e) {
		memset(&s, 0, sizeof(s));
		snprintf(s.name, sizeof(s.name), "%s", json_is_string(
		    json_object_get(e, "name")) ? json_string_value(
		    json_object_get(e, "name")) : "?");
		dataset_fill(&s, "list", e, "mtime");
		cb(&s, arg);
	}
}

static void
dataset_date(const struct dataset *s, void *arg)
{
	int64_t	now = *(int64_t *)arg;
	char	when[RFC3339_LEN];

	if (s->epoch < 0)
		return;
	fmt_rfc3339(s->epoch * 1000, when);
	memcpy(when + 19, "Z", 2);	/* whole seconds */
	json_object_set_new(s->obj, "built", json_string(when));
	json_object_set_new(s->obj, "age_s", json_integer(now - s->epoch));
}

void
dataset_dates(void *data, int64_t now)
{
	dataset_foreach(data, dataset_date, &now);
}

struct freshness {
	int64_t		 max_age;
	int		 n;
	struct sbuf	 names;
};

static void
dataset_stale(const struct dataset *s, void *arg)
{
	struct freshness	*f = arg;
	bool			 stale;

	if (s->age_s < 0)
		return;
	stale = f->max_age > 0 && s->age_s > f->max_age;
	json_object_set_new(s->obj, "stale", json_boolean(stale));
	if (stale) {
		sbuf_addf(&f->names, "%s%s%s", f->n++ > 0 ? ", " : "",
		    strcmp(s->kind, "list") == 0 ? "list " : "", s->name);
	}
}

int
dataset_freshness(void *data, const char *stamp, int64_t max_age_s,
    int64_t now, char **names)
{
	struct freshness	 f = { max_age_s, 0, { NULL, 0, 0 } };
	struct stat		 sb;
	json_t			*u;
	char			 when[RFC3339_LEN];
	bool			 stale;

	sbuf_init(&f.names, 64);
	dataset_foreach(data, dataset_stale, &f);
	if (stamp != NULL) {
		u = json_object();
		json_object_set_new(u, "stamp_file", json_string(stamp));
		if (stat(stamp, &sb) == 0) {
			fmt_rfc3339((int64_t)sb.st_mtime * 1000, when);
			memcpy(when + 19, "Z", 2);	/* whole seconds */
			json_object_set_new(u, "last_success",
			    json_string(when));
			json_object_set_new(u, "last_success_epoch",
			    json_integer((json_int_t)sb.st_mtime));
			json_object_set_new(u, "age_s",
			    json_integer((json_int_t)(now - sb.st_mtime)));
			stale = max_age_s > 0 && now - sb.st_mtime > max_age_s;
		} else {
			/* Not stale: the updater may not be in use at all. */
			json_object_set_new(u, "last_success", json_null());
			stale = false;
		}
		json_object_set_new(u, "stale", json_boolean(stale));
		if (stale)
			sbuf_addf(&f.names, "%supdater", f.n++ > 0 ? ", " : "");
		json_object_set_new(data, "updater", u);
	}
	if (names != NULL && f.n > 0)
		*names = sbuf_take(&f.names, NULL);
	else {
		if (names != NULL)
			*names = NULL;
		sbuf_free(&f.names);
	}
	return (f.n);
}

static void
dataset_line(const struct dataset *s, void *arg)
{
	struct sbuf	*sb = arg;
	const char	*base = s->path != NULL ? strrchr(s->path, '/') : NULL;
	char		 size[FMT_HUMAN_LEN], age[FMT_HUMAN_LEN];

	base = base != NULL ? base + 1 : s->path != NULL ? s->path : "?";
	sbuf_addf(sb, "%s%s%s %s (", sb->len > 0 ? "; " : "",
	    strcmp(s->kind, "list") == 0 ? "list " : "", s->name, base);
	if (s->entries >= 0)
		sbuf_addf(sb, "%lld entries, ", (long long)s->entries);
	sbuf_adds(sb, fmt_bytes(s->bytes, size));
	if (s->built != NULL)
		sbuf_addf(sb, ", %s %.10s, %s old", s->entries >= 0 ?
		    "modified" : "built", s->built, fmt_age(s->age_s, age));
	sbuf_addc(sb, ')');
}

char *
dataset_summary(void *data)
{
	struct sbuf	sb;

	sbuf_init(&sb, 512);
	dataset_foreach(data, dataset_line, &sb);
	if (sb.len == 0)
		sbuf_adds(&sb, "none");
	return (sbuf_take(&sb, NULL));
}
