/* ctl_out.c: refguardctl's output; the contract is in ctl_out.h. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_out.h"
#include "dataset.h"
#include "util.h"

static bool	out_json;
static bool	out_color;

static const char *const colors[] = {
	[CTL_RESET] = "\033[0m",
	[CTL_RED] = "\033[31m",
	[CTL_YELLOW] = "\033[33m",
	[CTL_GREEN] = "\033[32m",
	[CTL_BOLD] = "\033[1m",
	[CTL_DIM] = "\033[2m",
};

void
ctl_out_init(bool json)
{
	const char	*nc = getenv("NO_COLOR");

	out_json = json;
	out_color = !json && isatty(STDOUT_FILENO) &&
	    (nc == NULL || *nc == '\0');
}

bool
ctl_out_json(void)
{
	return (out_json);
}

bool
ctl_out_color(void)
{
	return (out_color);
}

const char *
ctl_out_paint(enum ctl_color c)
{
	if (!out_color || (size_t)c >= nitems(colors))
		return ("");
	return (colors[c]);
}

enum ctl_color
ctl_out_action_color(const char *action)
{
	if (action == NULL)
		return (CTL_RESET);
	if (strcmp(action, "deny") == 0)
		return (CTL_RED);
	if (strcmp(action, "review") == 0)
		return (CTL_YELLOW);
	if (strcmp(action, "allow") == 0)
		return (CTL_GREEN);
	return (CTL_RESET);
}

void
ctl_out_kv(int indent, int width, const char *key, const char *fmt, ...)
{
	va_list	ap;

	printf("%*s%-*s ", indent, "", width > 0 ? width : 16, key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- tables ----------------------------------------------------------- */

struct ctl_table {
	int		 indent;
	size_t		 ncols;
	char		**cells;	/* rows * ncols, row 0 the headers */
	enum ctl_color	*paint;
	size_t		 nrows, cap;
};

static void
table_grow(struct ctl_table *t)
{
	if (t->nrows < t->cap)
		return;
	t->cap = t->cap ? t->cap * 2 : 8;
	t->cells = xreallocarray(t->cells, t->cap * t->ncols, sizeof(char *));
	t->paint = xreallocarray(t->paint, t->cap * t->ncols,
	    sizeof(*t->paint));
}

static void
table_vrow(struct ctl_table *t, va_list ap)
{
	const char	*s;
	size_t		 i;

	table_grow(t);
	for (i = 0; i < t->ncols; i++) {
		s = va_arg(ap, const char *);
		t->cells[t->nrows * t->ncols + i] = xstrdup(s ? s : "");
		t->paint[t->nrows * t->ncols + i] = CTL_RESET;
	}
	t->nrows++;
}

struct ctl_table *
ctl_table_new(int indent, size_t ncols, ...)
{
	struct ctl_table	*t = xcalloc(1, sizeof(*t));
	va_list			 ap;
	size_t			 i;

	t->indent = indent;
	t->ncols = ncols;
	va_start(ap, ncols);
	table_vrow(t, ap);
	va_end(ap);
	for (i = 0; i < ncols; i++)
		t->paint[i] = CTL_BOLD;
	return (t);
}

void
ctl_table_row(struct ctl_table *t, ...)
{
	va_list	ap;

	va_start(ap, t);
	table_vrow(t, ap);
	va_end(ap);
}

void
ctl_table_paint(struct ctl_table *t, size_t col, enum ctl_color c)
{
	if (t->nrows > 1 && col < t->ncols)
		t->paint[(t->nrows - 1) * t->ncols + col] = c;
}

void
ctl_table_print(struct ctl_table *t)
{
	size_t	*w = xcalloc(t->ncols, sizeof(*w)), r, c, n;
	char	*s;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			n = strlen(t->cells[r * t->ncols + c]);
			if (n > w[c])
				w[c] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		printf("%*s", t->indent, "");
		for (c = 0; c < t->ncols; c++) {
			s = t->cells[r * t->ncols + c];
			fputs(ctl_out_paint(t->paint[r * t->ncols + c]), stdout);
			fputs(s, stdout);
			if (t->paint[r * t->ncols + c] != CTL_RESET)
				fputs(ctl_out_paint(CTL_RESET), stdout);
			if (c + 1 < t->ncols)	/* no trailing blanks */
				printf("%*s", (int)(w[c] - strlen(s) + 2), "");
		}
		putchar('\n');
	}
	for (r = 0; r < t->nrows * t->ncols; r++)
		free(t->cells[r]);
	free(t->cells);
	free(t->paint);
	free(t);
	free(w);
}

/* ---- JSON values ------------------------------------------------------ */

/* A scalar (or a compact dump of anything else), caller frees. */
static char *
out_scalar(const json_t *v)
{
	char	*s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return (xstrdup(json_string_value(v)));
	case JSON_NULL:
		return (xstrdup("-"));
	default:
		if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
			return (xstrdup("?"));
		return (s);
	}
}

static bool
is_scalar_array(const json_t *a)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(a, i, v)
		if (json_is_object(v) || json_is_array(v))
			return (false);
	return (true);
}

static void
out_value(const char *key, const json_t *v, int indent, int width)
{
	const json_t	*e;
	char		*s, name[64];
	size_t		 i;

	if (json_is_object(v)) {
		printf("%*s%s%s%s\n", indent, "", ctl_out_paint(CTL_BOLD), key,
		    ctl_out_paint(CTL_RESET));
		ctl_out_object(v, indent + 2);
		return;
	}
	if (json_is_array(v) && !is_scalar_array(v)) {
		json_array_foreach(v, i, e) {
			snprintf(name, sizeof(name), "%s[%zu]", key, i);
			out_value(name, e, indent, width);
		}
		return;
	}
	if (json_is_array(v)) {
		char	*line = NULL, *t;

		json_array_foreach(v, i, e) {
			s = out_scalar(e);
			xasprintf(&t, "%s%s%s", line ? line : "", line ? ", " :
			    "", s);
			free(line);
			free(s);
			line = t;
		}
		ctl_out_kv(indent, width, key, "%s", line ? line : "-");
		free(line);
		return;
	}
	s = out_scalar(v);
	ctl_out_kv(indent, width, key, "%s", s);
	free(s);
}

void
ctl_out_object(const json_t *o, int indent)
{
	const char	*k;
	const json_t	*v;
	int		 width = 0, n;

	if (!json_is_object(o)) {
		out_value("value", o, indent, 0);
		return;
	}
	json_object_foreach((json_t *)o, k, v) {
		n = (int)strlen(k);
		if (n > width && n < 40)
			width = n;
	}
	json_object_foreach((json_t *)o, k, v)
		out_value(k, v, indent, width + 1);
}

/* ---- replies ---------------------------------------------------------- */

bool
ctl_reply_is_error(const char *line, size_t len)
{
	json_t	*o = json_loadb(line, len, 0, NULL);
	bool	 err = o == NULL || json_is_object(json_object_get(o, "error"));

	json_decref(o);
	return (err);
}

bool
ctl_out_raw(const char *line, size_t len)
{
	fwrite(line, 1, len, stdout);
	putchar('\n');
	return (ctl_reply_is_error(line, len));
}

bool
ctl_out_error(const json_t *o)
{
	const json_t	*e = json_object_get(o, "error");
	const char	*code, *msg, *field, *id;

	if (!json_is_object(e))
		return (false);
	fflush(stdout);
	code = json_string_value(json_object_get(e, "code"));
	msg = json_string_value(json_object_get(e, "msg"));
	field = json_string_value(json_object_get(e, "field"));
	id = json_string_value(json_object_get(o, "id"));
	fprintf(stderr, "refguardctl: %s%s%s%s: %s%s%s%s\n",
	    code ? code : "error", field ? " (" : "", field ? field : "",
	    field ? ")" : "", msg ? msg : "", id ? " (id " : "",
	    id ? id : "", id ? ")" : "");
	return (true);
}

/* Parse a reply for a human formatter: NULL (and printed) when unusable. */
static json_t *
reply_load(const char *line, size_t len, bool *err)
{
	json_t	*o;

	*err = false;
	if ((o = json_loadb(line, len, 0, NULL)) == NULL ||
	    !json_is_object(o)) {
		fprintf(stderr, "refguardctl: not a JSON object reply: %.*s\n",
		    (int)len, line);
		json_decref(o);
		*err = true;
		return (NULL);
	}
	if (ctl_out_error(o)) {
		json_decref(o);
		*err = true;
		return (NULL);
	}
	return (o);
}

void
ctl_out_csv(size_t n, const char *const *cells)
{
	const char	*s;
	size_t		 i;

	for (i = 0; i < n; i++) {
		s = cells[i] != NULL ? cells[i] : "";
		if (i > 0)
			putchar(',');
		if (strpbrk(s, ",\"\r\n") == NULL) {
			fputs(s, stdout);
			continue;
		}
		putchar('"');
		for (; *s != '\0'; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	}
	fputs("\r\n", stdout);
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "");
}

static void
out_hits(const char *what, const json_t *a, int indent)
{
	struct ctl_table	*t;
	const json_t		*h;
	char			 score[96];
	size_t			 i;

	if (json_array_size(a) == 0) {
		ctl_out_kv(indent, 9, what, "-");
		return;
	}
	printf("%*s%s\n", indent, "", what);
	t = ctl_table_new(indent + 2, 4, "RULE", "ACTION", "SCORE", "MSG");
	json_array_foreach(a, i, h) {
		/* A group's reasons count up to its cap: say which group. */
		snprintf(score, sizeof(score), "%" JSON_INTEGER_FORMAT "%s%s%s",
		    json_integer_value(json_object_get(h, "score")),
		    *jstr(h, "group") != '\0' ? " (" : "", jstr(h, "group"),
		    *jstr(h, "group") != '\0' ? ")" : "");
		ctl_table_row(t, jstr(h, "rule"), jstr(h, "action"), score,
		    jstr(h, "msg"));
		ctl_table_paint(t, 1, ctl_out_action_color(jstr(h, "action")));
	}
	ctl_table_print(t);
}

/* The verdict object: action (coloured), score, reasons. */
static void
out_verdict(const json_t *v, int indent)
{
	const char	*action = jstr(v, "action");

	ctl_out_kv(indent, 9, "id", "%s", jstr(v, "id"));
	ctl_out_kv(indent, 9, "action", "%s%s%s",
	    ctl_out_paint(ctl_out_action_color(action)), action,
	    ctl_out_paint(CTL_RESET));
	ctl_out_kv(indent, 9, "score", "%" JSON_INTEGER_FORMAT,
	    json_integer_value(json_object_get(v, "score")));
	ctl_out_kv(indent, 9, "ts", "%s", jstr(v, "ts"));
	ctl_out_kv(indent, 9, "ruleset", "%s", jstr(v, "ruleset"));
	out_hits("reasons", json_object_get(v, "reasons"), indent);
	if (json_array_size(json_object_get(v, "shadow")) > 0)
		out_hits("shadow", json_object_get(v, "shadow"), indent);
}

static void
render_verdict(const json_t *o)
{
	const json_t	*prev = json_object_get(o, "previous");
	const char	*pa;
	bool		 changed;

	out_verdict(o, 0);
	if (json_is_integer(json_object_get(o, "version")))
		ctl_out_kv(0, 9, "version", "%" JSON_INTEGER_FORMAT "%s%s",
		    json_integer_value(json_object_get(o, "version")),
		    json_is_string(json_object_get(o, "rechecked_at")) ?
		    ", rechecked at " : "", jstr(o, "rechecked_at"));
	if (!json_is_object(prev))
		return;
	/* A recheck: what it changed against the version before. */
	pa = jstr(prev, "action");
	changed = json_is_true(json_object_get(o, "changed"));
	ctl_out_kv(0, 9, "previous", "%s%s%s, score %" JSON_INTEGER_FORMAT
	    " (version %" JSON_INTEGER_FORMAT ")",
	    ctl_out_paint(ctl_out_action_color(pa)), pa,
	    ctl_out_paint(CTL_RESET),
	    json_integer_value(json_object_get(prev, "score")),
	    json_integer_value(json_object_get(prev, "version")));
	ctl_out_kv(0, 9, "changed", "%s%s%s", ctl_out_paint(changed ?
	    CTL_BOLD : CTL_DIM), changed ? "yes: the action differs" :
	    "no", ctl_out_paint(CTL_RESET));
	out_value("newly matched", json_object_get(o, "newly_matched"), 0,
	    18);
	out_value("no longer matched", json_object_get(o,
	    "no_longer_matched"), 0, 18);
}

/* list.log: the audit trail as a table, newest first. */
static void
render_list_log(const json_t *o)
{
	struct ctl_table	*t;
	const json_t		*e;
	char			 log[24];
	size_t			 i;

	if (json_array_size(json_object_get(o, "entries")) == 0) {
		printf("no list changes%s%s\n", json_is_string(
		    json_object_get(o, "list")) ? " for " : "", jstr(o, "list"));
		return;
	}
	t = ctl_table_new(0, 7, "LOG", "TIME", "LIST", "ACTION", "VALUE",
	    "BY", "REASON");
	json_array_foreach(json_object_get(o, "entries"), i, e) {
		snprintf(log, sizeof(log), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(e, "log")));
		ctl_table_row(t, log, jstr(e, "ts"), jstr(e, "list"),
		    jstr(e, "action"), jstr(e, "value"), jstr(e, "by"),
		    jstr(e, "reason"));
	}
	ctl_table_print(t);
}

/*
 * One fact of a rule: its expression, result and what each side saw. A
 * fact under a "not" keeps its own result, which the rule counts the
 * other way round: "not EXPR  -> false (counts as true)", as the
 * console says it.
 */
static void
out_fact(const json_t *f, int indent)
{
	const char	*k;
	const json_t	*v;
	char		*s;
	bool		 res = json_is_true(json_object_get(f, "result"));
	bool		 neg = json_is_true(json_object_get(f, "negated"));

	printf("%*s%s%s%s%s  -> %s%s", indent, "",
	    ctl_out_paint(res != neg ? CTL_RESET : CTL_DIM), neg ? "not " : "",
	    jstr(f, "expr"), ctl_out_paint(CTL_RESET), res ? "true" : "false",
	    neg ? (res ? " (counts as false)" : " (counts as true)") : "");
	json_object_foreach((json_t *)f, k, v) {
		if (strcmp(k, "expr") == 0 || strcmp(k, "result") == 0 ||
		    strcmp(k, "negated") == 0)
			continue;
		s = out_scalar(v);
		printf("  %s=%s", k, s);
		free(s);
	}
	putchar('\n');
}

static void
render_explain(const json_t *o)
{
	const json_t	*r, *f, *rules, *ev;
	const char	*action;
	size_t		 i, j, matched = 0;
	bool		 m;
	int		 width = 0;

	out_verdict(json_object_get(o, "verdict"), 0);
	if ((ev = json_object_get(o, "event")) != NULL)
		out_value("event", ev, 0, 9);
	if ((f = json_object_get(o, "data")) != NULL)
		out_value("data", f, 0, 9);
	rules = json_object_get(o, "rules");
	json_array_foreach(rules, i, r)
		if (json_is_true(json_object_get(r, "matched")))
			matched++;
	printf("%srules%s (%zu evaluated, %zu matched)\n",
	    ctl_out_paint(CTL_BOLD), ctl_out_paint(CTL_RESET),
	    json_array_size(rules), matched);
	json_array_foreach(rules, i, r)
		if ((int)strlen(jstr(r, "rule")) > width)
			width = (int)strlen(jstr(r, "rule"));
	json_array_foreach(rules, i, r) {
		m = json_is_true(json_object_get(r, "matched"));
		action = jstr(r, "action");
		printf("  %s %s%-*s%s  %-7s %-6s %" JSON_INTEGER_FORMAT "\n",
		    m ? "MATCH" : "-    ",
		    m ? ctl_out_paint(ctl_out_action_color(action)) : "",
		    width, jstr(r, "rule"), m ? ctl_out_paint(CTL_RESET) : "",
		    jstr(r, "mode"), action,
		    json_integer_value(json_object_get(r, "score")));
		json_array_foreach(json_object_get(r, "facts"), j, f)
			out_fact(f, 10);
	}
}

static void
out_dataset(const struct dataset *s, void *arg)
{
	char	set[80], entries[24], size[FMT_HUMAN_LEN], age[FMT_HUMAN_LEN];
	char	built[16];

	snprintf(set, sizeof(set), "%s%s", strcmp(s->kind, "list") == 0 ?
	    "list " : "", s->name);
	snprintf(entries, sizeof(entries), "%lld", (long long)s->entries);
	snprintf(built, sizeof(built), "%.10s", s->built != NULL ? s->built :
	    "-");
	ctl_table_row(arg, set, s->entries >= 0 ? entries : "-",
	    fmt_bytes(s->bytes, size), built, s->built != NULL ?
	    fmt_age(s->age_s, age) : "-", s->path != NULL ? s->path : "-");
}

/*
 * stats.data: a table of the data sets (what, how large, built or
 * modified when, how old), then the other figures.
 */
static void
out_data(const json_t *data)
{
	struct ctl_table	*t;
	const char		*k;
	json_t			*v;

	printf("%sdata%s\n", ctl_out_paint(CTL_BOLD), ctl_out_paint(CTL_RESET));
	t = ctl_table_new(2, 6, "SET", "ENTRIES", "SIZE", "BUILT", "AGE",
	    "PATH");
	dataset_foreach((json_t *)data, out_dataset, t);
	ctl_table_print(t);
	json_object_foreach((json_t *)data, k, v)
		if (!json_is_array(v) && !json_is_object(v) && !json_is_null(v))
			out_value(k, v, 2, 15);
}

/* ---- human figures ---------------------------------------------------- */

char *
ctl_fmt_duration(int64_t s, char *buf)
{
	if (s < 0)
		snprintf(buf, FMT_HUMAN_LEN, "-");
	else if (s < 60)
		snprintf(buf, FMT_HUMAN_LEN, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, FMT_HUMAN_LEN, "%lldm %llds", (long long)(s / 60),
		    (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, FMT_HUMAN_LEN, "%lldh %lldm",
		    (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, FMT_HUMAN_LEN, "%lldd %lldh",
		    (long long)(s / 86400), (long long)(s % 86400 / 3600));
	return (buf);
}

char *
ctl_fmt_us(double us, char *buf)
{
	if (us < 0)
		snprintf(buf, FMT_HUMAN_LEN, "-");
	else if (us < 1000)
		snprintf(buf, FMT_HUMAN_LEN, "%.0f us", us);
	else if (us < 1e6)
		snprintf(buf, FMT_HUMAN_LEN, "%.1f ms", us / 1e3);
	else
		snprintf(buf, FMT_HUMAN_LEN, "%.2f s", us / 1e6);
	return (buf);
}

/* "2026-12-03 02:21:19 UTC" from Unix milliseconds. */
static char *
fmt_date(int64_t ms, char *buf, size_t size)
{
	char	iso[40];

	fmt_rfc3339(ms, iso);
	snprintf(buf, size, "%.10s %.8s UTC", iso, iso + 11);
	return (buf);
}

int64_t
ctl_hist_quantile(const json_t *bounds, const json_t *now,
    const json_t *prev, double q)
{
	const json_t	*le = json_object_get(now, "le");
	const json_t	*ple = json_object_get(prev, "le");
	json_int_t	 count, c;
	size_t		 i, n = json_array_size(json_object_get(now, "le"));

	count = json_integer_value(json_object_get(now, "count")) -
	    json_integer_value(json_object_get(prev, "count"));
	if (count <= 0 || n == 0 || json_array_size(bounds) != n)
		return (-1);
	for (i = 0; i < n; i++) {
		c = json_integer_value(json_array_get(le, i)) -
		    json_integer_value(json_array_get(ple, i));
		if ((double)c >= q * (double)count)
			return (json_integer_value(json_array_get(bounds, i)));
	}
	return (INT64_MAX);	/* beyond the last bound */
}

char *
ctl_fmt_quantile(const json_t *bounds, int64_t us, char *buf)
{
	char	t[FMT_HUMAN_LEN];

	if (us == INT64_MAX)
		snprintf(buf, FMT_HUMAN_LEN, "> %s", ctl_fmt_us((double)
		    json_integer_value(json_array_get(bounds,
		    json_array_size(bounds) - 1)), t));
	else if (us < 0)
		snprintf(buf, FMT_HUMAN_LEN, "-");
	else
		snprintf(buf, FMT_HUMAN_LEN, "<= %s", ctl_fmt_us((double)us, t));
	return (buf);
}

void
ctl_out_latency(const json_t *lat, const json_t *prev, int indent)
{
	struct ctl_table	*t;
	const json_t		*b = json_object_get(lat, "bounds_us"), *v;
	const char		*k;
	char			 cnt[24], mean[FMT_HUMAN_LEN];
	char			 p50[FMT_HUMAN_LEN], p99[FMT_HUMAN_LEN];
	json_int_t		 n;

	t = ctl_table_new(indent, 5, "OP", "COUNT", "MEAN", "P50", "P99");
	json_object_foreach((json_t *)lat, k, v) {
		const json_t *pv = json_object_get(prev, k);

		if (!json_is_object(v))
			continue;
		n = json_integer_value(json_object_get(v, "count")) -
		    json_integer_value(json_object_get(pv, "count"));
		snprintf(cnt, sizeof(cnt), "%" JSON_INTEGER_FORMAT, n);
		ctl_fmt_us(n > 0 ? (double)(json_integer_value(
		    json_object_get(v, "sum_us")) - json_integer_value(
		    json_object_get(pv, "sum_us"))) / (double)n : -1, mean);
		ctl_table_row(t, k, cnt, mean, ctl_fmt_quantile(b,
		    ctl_hist_quantile(b, v, pv, 0.5), p50), ctl_fmt_quantile(b,
		    ctl_hist_quantile(b, v, pv, 0.99), p99));
	}
	ctl_table_print(t);
}

/* stats: the checks each rule matched since start, by rule name. */
static void
out_rule_hits(const json_t *hits)
{
	struct ctl_table	*t;
	const json_t		*v;
	const char		*k;
	char			 e[24], sh[24];

	printf("%srule_hits%s\n", ctl_out_paint(CTL_BOLD),
	    ctl_out_paint(CTL_RESET));
	if (json_object_size(hits) == 0) {
		printf("  -\n");
		return;
	}
	t = ctl_table_new(2, 3, "RULE", "ENFORCE", "SHADOW");
	json_object_foreach((json_t *)hits, k, v) {
		snprintf(e, sizeof(e), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(v, "enforce")));
		snprintf(sh, sizeof(sh), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(v, "shadow")));
		ctl_table_row(t, k, e, sh);
	}
	ctl_table_print(t);
}

/*
 * The stats figures a person reads: sizes in KiB/MiB/GiB, durations and
 * times as dates and ages. path is "group.key". A new value (or NULL:
 * keep v), *name the key to show.
 */
static json_t *
stats_human(const char *group, const char *key, const json_t *v,
    const char **name)
{
	static const char *const bytes[] = { "replies.buffered",
	    "replies.buffered_peak", "replies.reserved", "store.map_size",
	    "store.map_used", "store.map_max" };
	static char	 shown[64];
	char		 path[128], buf[128], date[64], t[FMT_HUMAN_LEN];
	int64_t		 ms;
	size_t		 i;

	snprintf(path, sizeof(path), "%s%s%s", group, *group ? "." : "", key);
	*name = key;
	if (json_is_integer(v)) {
		for (i = 0; i < nitems(bytes); i++)
			if (strcmp(path, bytes[i]) == 0)
				return (json_string(fmt_bytes(
				    json_integer_value(v), t)));
		if (strcmp(path, "uptime_s") == 0) {
			*name = "uptime";
			ms = now_ms() - json_integer_value(v) * 1000;
			snprintf(buf, sizeof(buf), "%s (since %s)",
			    ctl_fmt_duration(json_integer_value(v), t),
			    fmt_date(ms, date, sizeof(date)));
			return (json_string(buf));
		}
		if (strlen(key) > 3 && strlen(key) < sizeof(shown) &&
		    strcmp(key + strlen(key) - 3, "_us") == 0) {
			snprintf(shown, sizeof(shown), "%.*s",
			    (int)strlen(key) - 3, key);
			*name = shown;
			return (json_string(ctl_fmt_us((double)
			    json_integer_value(v), t)));
		}
	}
	if (json_is_string(v) && strcmp(path, "ruleset.loaded_at") == 0 &&
	    parse_rfc3339(json_string_value(v), json_string_length(v),
	    &ms) == 0) {
		snprintf(buf, sizeof(buf), "%s (%s ago)", fmt_date(ms, date,
		    sizeof(date)), ctl_fmt_duration((now_ms() - ms) / 1000, t));
		return (json_string(buf));
	}
	return (NULL);
}

/* A copy of group (an object) with stats_human() applied to its values. */
static json_t *
stats_humanize(const char *group, const json_t *o)
{
	json_t		*c = json_object(), *h;
	const json_t	*v;
	const char	*k, *name;

	json_object_foreach((json_t *)o, k, v) {
		h = stats_human(group, k, v, &name);
		json_object_set_new(c, name, h != NULL ? h :
		    json_is_object(v) && *group == '\0' ?
		    stats_humanize(k, v) : json_deep_copy(v));
	}
	return (c);
}

/* A rule's cost, from its mean in nanoseconds ("-" when never timed). */
static char *
fmt_cost(json_int_t timed, double ns, char *buf)
{
	if (timed == 0)
		snprintf(buf, FMT_HUMAN_LEN, "-");
	else if (ns < 1e6)
		snprintf(buf, FMT_HUMAN_LEN, "%.1f us", ns / 1e3);
	else
		ctl_fmt_us(ns / 1e3, buf);
	return (buf);
}

/*
 * The rules op's reply: the set's hash, then a table of its rules in
 * file order, with the score group each adds to (and the group's cap),
 * what each matched and what evaluating it costs (the
 * mean of the evaluations timed; "-" before any), and what the whole
 * set costs an evaluation (every rule is timed in the same ones).
 */
static void
render_rules(const json_t *o)
{
	struct ctl_table	*t;
	const json_t		*r;
	char			 score[24], hits[24], timed[24], cost[FMT_HUMAN_LEN];
	char			 group[96];
	json_int_t		 n, most = 0;
	double			 ns, all = 0;
	size_t			 i;

	ctl_out_kv(0, 8, "ruleset", "%s", jstr(o, "ruleset"));
	t = ctl_table_new(0, 8, "RULE", "ACTION", "MODE", "SCORE", "GROUP",
	    "HITS", "COST", "TIMED");
	json_array_foreach(json_object_get(o, "rules"), i, r) {
		snprintf(score, sizeof(score), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(r, "score")));
		snprintf(hits, sizeof(hits), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(r, "hits")));
		n = json_integer_value(json_object_get(r, "timed"));
		snprintf(timed, sizeof(timed), "%" JSON_INTEGER_FORMAT, n);
		ns = (double)json_integer_value(json_object_get(r, "cost_ns"));
		all += ns;
		if (n > most)
			most = n;
		/* A capped group says its cap: "household<=150". */
		if (json_object_get(r, "group") == NULL)
			snprintf(group, sizeof(group), "-");
		else if (json_object_get(r, "group_cap") == NULL)
			snprintf(group, sizeof(group), "%s", jstr(r, "group"));
		else
			snprintf(group, sizeof(group), "%s<=%" JSON_INTEGER_FORMAT,
			    jstr(r, "group"), json_integer_value(
			    json_object_get(r, "group_cap")));
		ctl_table_row(t, jstr(r, "rule"), jstr(r, "action"),
		    jstr(r, "mode"), score, group, hits, fmt_cost(n, ns, cost),
		    timed);
	}
	ctl_table_print(t);
	if (most > 0)
		printf("all rules: %s an evaluation\n", fmt_cost(most, all,
		    cost));
}

bool
ctl_out_rules(const char *line, size_t len)
{
	return (ctl_out_render(line, len, render_rules));
}

static void
render_stats(const json_t *raw)
{
	json_t		*o = stats_humanize("", raw);
	const char	*k;
	json_t		*v;
	int		 width = 0;

	/* The scalars first, under "daemon"; then one group per object. */
	printf("%sdaemon%s\n", ctl_out_paint(CTL_BOLD),
	    ctl_out_paint(CTL_RESET));
	json_object_foreach(o, k, v)
		if (!json_is_object(v) && (int)strlen(k) > width)
			width = (int)strlen(k);
	json_object_foreach(o, k, v)
		if (!json_is_object(v))
			out_value(k, v, 2, width + 1);
	json_object_foreach(o, k, v) {
		if (strcmp(k, "data") == 0 && json_is_object(v))
			out_data(v);
		else if (strcmp(k, "latency") == 0 && json_is_object(v)) {
			printf("%slatency%s\n", ctl_out_paint(CTL_BOLD),
			    ctl_out_paint(CTL_RESET));
			ctl_out_latency(v, NULL, 2);
		} else if (strcmp(k, "rule_hits") == 0 && json_is_object(v))
			out_rule_hits(v);
		else if (json_is_object(v))
			out_value(k, v, 0, 0);
	}
	json_decref(o);
}

/* The review queue: a page of items, or the items a decision took. */
static void
render_queue(const json_t *o)
{
	struct ctl_table	*t;
	const json_t		*e, *r;
	char			 score[16], reasons[200], reward[48];
	size_t			 i, j;

	if (json_array_size(json_object_get(o, "items")) == 0) {
		printf("no %s items\n", json_is_string(json_object_get(o,
		    "state")) ? jstr(o, "state") : "queue");
		return;
	}
	t = ctl_table_new(0, 8, "ID", "STATE", "ACTION", "SCORE", "REWARD",
	    "CREATED", "ASSIGNEE", "REASONS");
	json_array_foreach(json_object_get(o, "items"), i, e) {
		snprintf(score, sizeof(score), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(e, "score")));
		reasons[0] = '\0';
		json_array_foreach(json_object_get(e, "reasons"), j, r)
			snprintf(reasons + strlen(reasons), sizeof(reasons) -
			    strlen(reasons), "%s%s", j ? ", " : "",
			    json_string_value(r) ? json_string_value(r) : "");
		r = json_object_get(e, "reward");
		if (json_is_object(r))
			snprintf(reward, sizeof(reward), "%g %s",
			    json_number_value(json_object_get(r, "amount")),
			    jstr(r, "currency"));
		else
			snprintf(reward, sizeof(reward), "-");
		ctl_table_row(t, jstr(e, "id"), jstr(e, "state"),
		    jstr(e, "action"), score, reward, jstr(e, "created"),
		    json_is_string(json_object_get(e, "assignee")) ?
		    jstr(e, "assignee") : "-", reasons);
	}
	ctl_table_print(t);
	if (json_is_string(json_object_get(o, "next")))
		printf("more: --cursor %s\n", jstr(o, "next"));
}

static void
render_reply(const json_t *o)
{
	if (json_is_object(json_object_get(o, "verdict")) &&
	    json_is_array(json_object_get(o, "rules")))
		render_explain(o);
	else if (json_is_string(json_object_get(o, "action")) &&
	    json_is_array(json_object_get(o, "reasons")))
		render_verdict(o);
	else if (json_is_object(json_object_get(o, "requests")) &&
	    json_is_object(json_object_get(o, "store")))
		render_stats(o);
	else if (json_is_array(json_object_get(o, "entries")) &&
	    json_object_get(o, "list") != NULL)
		render_list_log(o);
	else if (json_is_array(json_object_get(o, "items")) &&
	    (json_object_get(o, "sort") != NULL ||
	    json_object_get(o, "decision") != NULL))
		render_queue(o);
	else
		ctl_out_object(o, 0);
}

/* --json: the line; else parsed, an error said, anything else rendered. */
bool
ctl_out_render(const char *line, size_t len, void (*render)(const json_t *))
{
	json_t	*o;
	bool	 err;

	if (out_json)
		return (ctl_out_raw(line, len));
	if ((o = reply_load(line, len, &err)) == NULL)
		return (err);
	render(o);
	json_decref(o);
	return (false);
}

bool
ctl_out_reply(const char *line, size_t len)
{
	return (ctl_out_render(line, len, render_reply));
}

bool
ctl_out_verdict(const char *line, size_t len)
{
	return (ctl_out_render(line, len, render_verdict));
}

bool
ctl_out_explain(const char *line, size_t len)
{
	return (ctl_out_render(line, len, render_explain));
}

bool
ctl_out_stats(const char *line, size_t len)
{
	return (ctl_out_render(line, len, render_stats));
}

/* ---- progress --------------------------------------------------------- */

struct ctl_progress {
	char		*what;
	uint64_t	 total;
	uint64_t	 done;
	uint64_t	 last_us;
	bool		 drawn;
};

struct ctl_progress *
ctl_progress_new(const char *what, uint64_t total)
{
	struct ctl_progress	*p;

	if (!isatty(STDERR_FILENO))
		return (NULL);
	p = xcalloc(1, sizeof(*p));
	p->what = xstrdup(what);
	p->total = total;
	return (p);
}

static void
progress_draw(struct ctl_progress *p)
{
	char		bar[31];
	unsigned	pct, fill, i;

	if (p->total == 0) {
		fprintf(stderr, "\r%s: %" PRIu64 "\033[K", p->what, p->done);
		return;
	}
	pct = (unsigned)(p->done >= p->total ? 100 : p->done * 100 / p->total);
	fill = pct * (sizeof(bar) - 1) / 100;
	for (i = 0; i < sizeof(bar) - 1; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[sizeof(bar) - 1] = '\0';
	fprintf(stderr, "\r%s [%s] %3u%% %" PRIu64 "/%" PRIu64 "\033[K",
	    p->what, bar, pct, p->done, p->total);
}

void
ctl_progress_set(struct ctl_progress *p, uint64_t done, uint64_t total)
{
	uint64_t	now;

	if (p == NULL)
		return;
	p->done = done;
	if (total != 0)
		p->total = total;
	now = mono_us();
	if (p->drawn && now - p->last_us < 100000)
		return;
	p->last_us = now;
	p->drawn = true;
	progress_draw(p);
}

void
ctl_progress_done(struct ctl_progress *p)
{
	if (p == NULL)
		return;
	if (p->drawn) {
		progress_draw(p);
		fputc('\n', stderr);
	}
	free(p->what);
	free(p);
}
