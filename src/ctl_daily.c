/*
 * ctl_daily.c: refguardctl daily: the daily counters (the stats.daily op,
 * daily.h) as two tables, the verdict mix by day and the rules' hits by
 * day, or the reply as it is with --json. See ctl.h.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "util.h"

/* A group's count of name, 0 when absent. */
static json_int_t
dcount(const json_t *day, const char *group, const char *name)
{
	return (json_integer_value(json_object_get(json_object_get(day,
	    group), name)));
}

static void
render_daily(const json_t *o)
{
	static const char *const modes[][2] = {
		{ "rules", "enforce" }, { "shadow", "shadow" },
	};
	struct ctl_table	*t;
	const json_t		*days = json_object_get(o, "days"), *d, *g;
	const char		*day, *name;
	json_t			*v;
	char			 c[4][24];
	json_int_t		 n;
	size_t			 i, m;
	bool			 any = false;

	t = ctl_table_new(0, 5, "DAY", "ALLOW", "REVIEW", "DENY", "RECHECKS");
	json_array_foreach(days, i, d) {
		day = json_string_value(json_object_get(d, "day"));
		snprintf(c[0], sizeof(c[0]), "%" JSON_INTEGER_FORMAT,
		    dcount(d, "actions", "allow"));
		snprintf(c[1], sizeof(c[1]), "%" JSON_INTEGER_FORMAT,
		    dcount(d, "actions", "review"));
		snprintf(c[2], sizeof(c[2]), "%" JSON_INTEGER_FORMAT,
		    dcount(d, "actions", "deny"));
		n = 0;
		json_object_foreach(json_object_get(d, "rechecks"), name, v)
			n += json_integer_value(v);
		snprintf(c[3], sizeof(c[3]), "%" JSON_INTEGER_FORMAT, n);
		ctl_table_row(t, day, c[0], c[1], c[2], c[3]);
	}
	ctl_table_print(t);
	json_array_foreach(days, i, d)
		for (m = 0; m < nitems(modes); m++)
			if (json_object_size(json_object_get(d,
			    modes[m][0])) > 0)
				any = true;
	if (!any)
		return;
	printf("\n");
	t = ctl_table_new(0, 4, "DAY", "RULE", "MODE", "HITS");
	json_array_foreach(days, i, d) {
		day = json_string_value(json_object_get(d, "day"));
		for (m = 0; m < nitems(modes); m++) {
			g = json_object_get(d, modes[m][0]);
			json_object_foreach((json_t *)g, name, v) {
				snprintf(c[0], sizeof(c[0]), "%"
				    JSON_INTEGER_FORMAT, json_integer_value(v));
				ctl_table_row(t, day, name, modes[m][1], c[0]);
			}
		}
	}
	ctl_table_print(t);
}

static bool
out_daily(const char *line, size_t len)
{
	return (ctl_out_render(line, len, render_daily));
}

/* daily [--since T] [--until T] [--rule R] [--kinds K,...] [--json] */
int
ctl_daily(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since",	required_argument,	NULL, 'S' },
		{ "until",	required_argument,	NULL, 'U' },
		{ "rule",	required_argument,	NULL, 'r' },
		{ "json",	no_argument,		NULL, 'j' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*since = "14d", *until = NULL, *rule = NULL;
	json_t		*o;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			since = optarg;
			break;
		case 'U':
			until = optarg;
			break;
		case 'r':
			rule = optarg;
			break;
		case 'j':
			ctl_out_init(true);
			break;
		default:
			ctl_badusage();
		}
	}
	if (optind != argc)
		ctl_badusage();
	o = json_pack("{s:s}", "op", "stats.daily");
	json_object_set_new(o, "since", ctl_time_arg(since));
	if (until != NULL)
		json_object_set_new(o, "until", ctl_time_arg(until));
	if (rule != NULL)
		json_object_set_new(o, "rule", json_string(rule));
	return (ctl_json(o, out_daily));
}
