/*
 * ctl_out.h: how refguardctl shows replies: human-readable by default
 * (aligned key/value lines and tables, colour only on a terminal), the
 * raw reply lines with --json; and a progress bar on stderr.
 *
 * One module so that every subcommand prints the same way. A subcommand
 * that talks to the daemon hands each reply line to a formatter (a
 * ctl_fmt_fn, e.g. ctl_out_reply); the formatter prints the line as is
 * when ctl_out_json() is set, else a human rendering. Error replies
 * always go to stderr as "refguardctl: CODE: MSG" in human mode.
 *
 * Everything writes to stdout (the progress bar to stderr); nothing here
 * exits. Not thread-safe: the CLI is one thread.
 */
#ifndef REFGUARD_CTL_OUT_H
#define REFGUARD_CTL_OUT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Decide the mode once, before any output: json (the --json flag), and
 * colour when stdout is a terminal and $NO_COLOR is unset or empty.
 */
void	 ctl_out_init(bool json);
bool	 ctl_out_json(void);
bool	 ctl_out_color(void);

/* Colours; ctl_out_paint() returns "" for all of them without colour. */
enum ctl_color {
	CTL_RESET, CTL_RED, CTL_YELLOW, CTL_GREEN, CTL_BOLD, CTL_DIM
};
const char	*ctl_out_paint(enum ctl_color c);
/* The colour of an action name: deny red, review yellow, allow green. */
enum ctl_color	 ctl_out_action_color(const char *action);

/*
 * "key      value" lines: keys padded to width (0: 16), indent spaces
 * before the key. The value is printf-formatted.
 */
void	 ctl_out_kv(int indent, int width, const char *key,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * A table: add rows of ncols cells (NULL cells print empty), then print
 * with each column padded to its widest cell (colour escapes are not
 * counted). Cells are copied. ctl_table_print() frees the table.
 */
struct ctl_table;
struct ctl_table *ctl_table_new(int indent, size_t ncols, ...);	/* headers */
void	 ctl_table_row(struct ctl_table *t, ...);	/* ncols const char * */
/* One cell painted with c (the colour is applied at print time). */
void	 ctl_table_paint(struct ctl_table *t, size_t col, enum ctl_color c);
void	 ctl_table_print(struct ctl_table *t);

/*
 * One CSV record (RFC 4180) of n cells (NULL: empty), ended by CRLF: a
 * cell holding a comma, a double quote, CR or LF is quoted, its quotes
 * doubled.
 */
void	 ctl_out_csv(size_t n, const char *const *cells);

/*
 * Any JSON value as aligned key/value lines, nested objects flattened to
 * dotted keys ("store.events"), arrays of scalars joined with ", ",
 * arrays of objects one "key[i].sub" line each.
 */
void	 ctl_out_object(const json_t *o, int indent);

/*
 * Formatters, one reply line each (no newline). They return true when
 * the reply is an error reply ({"error":{...}}) or not JSON, for the exit
 * status. ctl_out_raw prints the line; ctl_out_reply picks a rendering by
 * the reply's shape (error, verdict, explanation, stats, anything else
 * as ctl_out_object) and is what new subcommands should use.
 */
typedef bool (*ctl_fmt_fn)(const char *line, size_t len);
/*
 * What every formatter does: with --json the line as it is; else an error
 * reply said (true), anything else parsed and handed to render (false).
 */
bool	 ctl_out_render(const char *line, size_t len,
	     void (*render)(const json_t *));
/* Is a reply line an error reply (or not JSON at all)? */
bool	 ctl_reply_is_error(const char *line, size_t len);
bool	 ctl_out_raw(const char *line, size_t len);
bool	 ctl_out_reply(const char *line, size_t len);
bool	 ctl_out_verdict(const char *line, size_t len);
bool	 ctl_out_explain(const char *line, size_t len);
bool	 ctl_out_stats(const char *line, size_t len);
bool	 ctl_out_rules(const char *line, size_t len);	/* the rules op */

/*
 * Human figures into buf (FMT_HUMAN_LEN, util.h): a duration in seconds
 * ("3h 12m"), microseconds ("250 us", "1.2 ms"; negative: "-").
 */
char	*ctl_fmt_duration(int64_t s, char *buf);
char	*ctl_fmt_us(double us, char *buf);

/*
 * Latency histograms as the stats op gives them (metrics.h): the
 * quantile q of what one op's histogram now gained since prev (NULL:
 * since start), as the bucket bound in microseconds; -1 when nothing was
 * counted, INT64_MAX beyond the last bound. ctl_out_latency() prints a
 * table of every op of lat (the stats "latency" object), each since the
 * same op in prev (NULL: since start).
 */
int64_t	 ctl_hist_quantile(const json_t *bounds, const json_t *now,
	     const json_t *prev, double q);
/* A quantile as text into buf: "<= 250 us", "> 2.50 s", "-" (-1). */
char	*ctl_fmt_quantile(const json_t *bounds, int64_t us, char *buf);
void	 ctl_out_latency(const json_t *lat, const json_t *prev, int indent);

/* The error reply's human form, on stderr; false when o is not an error. */
bool	 ctl_out_error(const json_t *o);

/*
 * A progress bar on stderr, only when stderr is a terminal (and not with
 * total 0: a count instead). Updates are drawn at most ~10 times a
 * second; ctl_progress_done() ends the line.
 */
struct ctl_progress;
struct ctl_progress *ctl_progress_new(const char *what, uint64_t total);
/* done so far; total 0 keeps the one known (p NULL: nothing). */
void	 ctl_progress_set(struct ctl_progress *p, uint64_t done,
	     uint64_t total);
void	 ctl_progress_done(struct ctl_progress *p);	/* frees; NULL ok */

#endif
