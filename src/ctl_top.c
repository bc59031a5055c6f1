/*
 * ctl_top.c: refguardctl top, a live view of the daemon computed from
 * successive stats replies: rates and mixes over the last interval (the
 * first screen: since the daemon started), latency quantiles, the rules
 * that hit, the queue, the store and the age of the data. On a terminal
 * each screen replaces the last (ANSI home and clear); otherwise the
 * screens follow each other, for logs and tests. See ctl.h.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "dataset.h"
#include "util.h"

#define TOP_RULES	10	/* rule lines shown */

/* o[a][b] as an integer, 0 when missing; b NULL: o[a]. */
static json_int_t
top_int(const json_t *o, const char *a, const char *b)
{
	const json_t	*v = json_object_get(o, a);

	if (b != NULL)
		v = json_object_get(v, b);
	return (json_integer_value(v));
}

/* The gain of a counter since prev (prev NULL: its value). */
static json_int_t
top_delta(const json_t *now, const json_t *prev, const char *a,
    const char *b)
{
	return (top_int(now, a, b) - (prev != NULL ? top_int(prev, a, b) : 0));
}

struct top_hit {
	const char	*rule;
	json_int_t	 enforce, shadow;
};

static int
top_hit_cmp(const void *a, const void *b)
{
	const struct top_hit	*x = a, *y = b;
	json_int_t		 nx = x->enforce + x->shadow;
	json_int_t		 ny = y->enforce + y->shadow;

	if (nx != ny)
		return (nx < ny ? 1 : -1);
	return (strcmp(x->rule, y->rule));
}

static void
top_rules(const json_t *now, const json_t *prev)
{
	const json_t	*hits = json_object_get(now, "rule_hits"), *v, *pv;
	const json_t	*phits = json_object_get(prev, "rule_hits");
	struct top_hit	*h;
	const char	*k;
	size_t		 n = 0, i;
	char		 e[24], s[24];
	struct ctl_table *t;

	h = xcalloc(json_object_size(hits) + 1, sizeof(*h));
	json_object_foreach((json_t *)hits, k, v) {
		pv = json_object_get(phits, k);
		h[n].rule = k;
		h[n].enforce = top_int(v, "enforce", NULL) -
		    top_int(pv, "enforce", NULL);
		h[n].shadow = top_int(v, "shadow", NULL) -
		    top_int(pv, "shadow", NULL);
		if (h[n].enforce + h[n].shadow > 0)
			n++;
	}
	qsort(h, n, sizeof(*h), top_hit_cmp);
	printf("rule hits\n");
	if (n == 0)
		printf("  -\n");
	else {
		t = ctl_table_new(2, 3, "RULE", "HITS", "SHADOW");
		for (i = 0; i < n && i < TOP_RULES; i++) {
			snprintf(e, sizeof(e), "%" JSON_INTEGER_FORMAT,
			    h[i].enforce);
			snprintf(s, sizeof(s), "%" JSON_INTEGER_FORMAT,
			    h[i].shadow);
			ctl_table_row(t, h[i].rule, e, s);
		}
		ctl_table_print(t);
		if (n > TOP_RULES)
			printf("  (%zu more)\n", n - TOP_RULES);
	}
	free(h);
}

static void
top_dataset(const struct dataset *s, void *arg)
{
	char	age[FMT_HUMAN_LEN];

	(void)arg;
	if (s->epoch < 0 && s->age_s < 0)
		return;		/* undated (the time zones): no age to show */
	printf("  %s%s %s", strcmp(s->kind, "list") == 0 ? "list " : "",
	    s->name, s->age_s >= 0 ? ctl_fmt_duration(s->age_s, age) : "-");
}

/* One screen; secs is the interval the rates are over. */
static void
top_frame(const json_t *now, const json_t *prev, double secs)
{
	const json_t	*st = json_object_get(now, "store");
	json_int_t	 allow, review, deny, checks, reqs = 0, errs = 0;
	const json_t	*v, *lat, *plat;
	const char	*k;
	char		 t[FMT_HUMAN_LEN], u[FMT_HUMAN_LEN], m[FMT_HUMAN_LEN];
	char		 date[40];
	int64_t		 p50, p99;

	fmt_rfc3339(now_ms(), date);
	printf("refguardd %s  up %s  %.10s %.8s UTC  %s %.1fs\n",
	    json_string_value(json_object_get(now, "version")),
	    ctl_fmt_duration(top_int(now, "uptime_s", NULL), t), date,
	    date + 11, prev != NULL ? "interval" : "since start", secs);
	allow = top_delta(now, prev, "checks", "allow");
	review = top_delta(now, prev, "checks", "review");
	deny = top_delta(now, prev, "checks", "deny");
	checks = allow + review + deny;
	json_object_foreach(json_object_get(now, "requests"), k, v)
		reqs += top_delta(now, prev, "requests", k);
	json_object_foreach(json_object_get(now, "errors"), k, v)
		errs += top_delta(now, prev, "errors", k);
	printf("checks/s %.1f  allow %.1f%%  review %.1f%%  deny %.1f%%\n",
	    (double)checks / secs, checks ? 100.0 * allow / checks : 0.0,
	    checks ? 100.0 * review / checks : 0.0,
	    checks ? 100.0 * deny / checks : 0.0);
	printf("requests/s %.1f  observes/s %.1f  errors/s %.1f  "
	    "connections %" JSON_INTEGER_FORMAT "\n", (double)reqs / secs,
	    (double)top_delta(now, prev, "observes", NULL) / secs,
	    (double)errs / secs, top_int(now, "connections", NULL));
	lat = json_object_get(now, "latency");
	plat = json_object_get(prev, "latency");
	p50 = ctl_hist_quantile(json_object_get(lat, "bounds_us"),
	    json_object_get(lat, "check"), json_object_get(plat, "check"), 0.5);
	p99 = ctl_hist_quantile(json_object_get(lat, "bounds_us"),
	    json_object_get(lat, "check"), json_object_get(plat, "check"),
	    0.99);
	printf("check latency  p50 %s  p99 %s\n", ctl_fmt_quantile(
	    json_object_get(lat, "bounds_us"), p50, t), ctl_fmt_quantile(
	    json_object_get(lat, "bounds_us"), p99, u));
	printf("queue  writer inflight %" JSON_INTEGER_FORMAT "  replies "
	    "buffered %s\n", top_int(now, "writer", "inflight"),
	    fmt_bytes(top_int(now, "replies", "buffered"), m));
	printf("review queue  open %" JSON_INTEGER_FORMAT "  claimed %"
	    JSON_INTEGER_FORMAT "  decided %" JSON_INTEGER_FORMAT "\n",
	    top_int(now, "store", "queue_open"),
	    top_int(now, "store", "queue_claimed"),
	    top_int(now, "store", "queue_decided"));
	printf("store  %s used of %s  events %" JSON_INTEGER_FORMAT
	    "  verdicts %" JSON_INTEGER_FORMAT "  health %s\n",
	    fmt_bytes(top_int(now, "store", "map_used"), t),
	    fmt_bytes(top_int(now, "store", "map_size"), u),
	    top_int(now, "store", "events"), top_int(now, "store", "verdicts"),
	    json_is_string(json_object_get(st, "health")) ?
	    json_string_value(json_object_get(st, "health")) : "-");
	printf("data ages");
	dataset_foreach(json_object_get(now, "data"), top_dataset, NULL);
	printf("\n");
	top_rules(now, prev);
	fflush(stdout);
}

static int
top_number(const char *flag, const char *s, double min, double max,
    double *out)
{
	char	*end;

	errno = 0;
	*out = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || *out < min ||
	    *out > max) {
		fprintf(stderr, "refguardctl: top %s: not a number from %g to "
		    "%g: %s\n", flag, min, max, s);
		return (-1);
	}
	return (0);
}

int
ctl_top(int argc, char **argv)
{
	json_t		*now, *prev = NULL;
	struct timespec	 ts;
	double		 count = 0, delay = 2, secs;
	uint64_t	 t_now, t_prev = 0;
	bool		 tty = isatty(STDOUT_FILENO);
	long		 i;
	int		 ch, rc;

	while ((ch = getopt(argc, argv, "n:d:")) != -1) {
		switch (ch) {
		case 'n':
			if (top_number("-n", optarg, 1, 1e9, &count) != 0)
				return (CTL_EXIT_USAGE);
			break;
		case 'd':
			if (top_number("-d", optarg, 0, 86400, &delay) != 0)
				return (CTL_EXIT_USAGE);
			break;
		default:
			ctl_badusage();
		}
	}
	if (optind != argc)
		ctl_badusage();
	for (i = 0; count == 0 || i < (long)count; i++) {
		if (i > 0) {
			ts.tv_sec = (time_t)delay;
			ts.tv_nsec = (long)((delay - (double)ts.tv_sec) * 1e9);
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
		if ((now = ctl_call("{\"op\":\"stats\"}", &rc)) == NULL) {
			json_decref(prev);
			return (rc);
		}
		t_now = mono_us();
		if (ctl_out_json()) {
			json_dumpf(now, stdout, JSON_COMPACT);
			printf("\n");
			fflush(stdout);
		} else {
			secs = prev != NULL ? (double)(t_now - t_prev) / 1e6 :
			    (double)top_int(now, "uptime_s", NULL);
			if (secs < (prev != NULL ? 1e-3 : 1))
				secs = prev != NULL ? 1e-3 : 1;
			if (tty)
				printf("\033[H\033[2J");
			else if (i > 0)
				printf("\n");
			top_frame(now, prev, secs);
		}
		json_decref(prev);
		prev = now;
		t_prev = t_now;
	}
	json_decref(prev);
	return (CTL_EXIT_OK);
}
