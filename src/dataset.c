/* dataset.c: the data sets a daemon serves with (see dataset.h). */
#include "config.h"

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
	s->epoch = dataset_int(o, epoch_key, -1);
	s->built = json_string_value(json_object_get(o, "built"));
	s->age_s = dataset_int(o, "age_s", -1);
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
