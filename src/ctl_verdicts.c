/*
 * ctl_verdicts.c: refguardctl verdicts: the stored verdicts as a table,
 * CSV or NDJSON, page after page of the verdicts.list op
 * (verdict_list.h), from the daemon or, when it does not answer, from
 * the store read-only. See ctl.h.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "analyst.h"
#include "conf.h"
#include "ctl.h"
#include "req.h"
#include "store.h"
#include "util.h"
#include "verdict.h"
#include "verdict_list.h"

enum vformat { VF_TABLE, VF_CSV, VF_NDJSON };

#define VBUF		512	/* a formatted cell */
#define VTABLE_LIMIT	100	/* rows of a table unless --limit says */

static const char *const csv_header[] = {
	"id", "ts", "action", "score", "version", "reasons", "referrer",
	"referee", "campaign", "reward_amount", "reward_currency",
};
#define VCOLS	nitems(csv_header)

/* Where the pages come from: the daemon, or the store read-only. */
struct vsource {
	struct store	*st;		/* NULL: the daemon */
};

/* One page: the reply object, or NULL with *rc the exit status (said). */
static json_t *
vpage(struct vsource *src, const char *line, int *rc)
{
	struct analyst_req	 ar;
	struct req_opts		 opts = { .now = now_ms() };
	struct req_error	 err;
	struct rg_event		 ev;
	struct store_txn	*txn;
	struct verdict		 v;
	enum req_op		 op;
	const char		*code;
	char			*cause = NULL;
	json_t			*o;

	if (src->st == NULL)
		return (ctl_call(line, rc));
	/* The daemon's own decoding and listing, on this process's store. */
	*rc = CTL_EXIT_ERROR;
	if (req_decode_full(line, strlen(line), NULL, &opts, &op, &ev, &ar,
	    &err) != 0) {
		fprintf(stderr, "refguardctl: %s%s%s: %s\n", err.code,
		    err.field[0] != '\0' ? ": " : "", err.field, err.msg);
		return (NULL);
	}
	if ((txn = store_begin(src->st, false, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		free(cause);
		analyst_req_clear(&ar);
		return (NULL);
	}
	if (analyst_run(txn, op, &ev, &ar, opts.now, &v, &code) != 0) {
		fprintf(stderr, "refguardctl: %s\n", store_txn_errstr(txn));
		store_abort(txn);
		analyst_req_clear(&ar);
		return (NULL);
	}
	store_abort(txn);
	analyst_req_clear(&ar);
	o = json_loadb(v.reply, v.replylen, 0, NULL);
	verdict_clear(&v);
	if (o != NULL)
		*rc = 0;
	return (o);
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "");
}

/*
 * A text a client chose (ids, campaigns) as a spreadsheet cell: one that
 * starts like a formula gets a leading quote, so that opening the file
 * never runs it.
 */
static const char *
vcell_text(const char *s, char *buf, size_t len)
{
	if (strchr("=+-@\t\r", s[0]) == NULL || s[0] == '\0')
		return (s);
	snprintf(buf, len, "'%s", s);
	return (buf);
}

/*
 * The shortest text of d that reads back as d (0.1, not 0.1000...01), and
 * a whole number as one (10, not 1e+01: %g's exponent is for a spreadsheet
 * a different kind of cell).
 */
static void
vnumber(double d, char *buf, size_t len)
{
	int	prec;

	if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d) {
		snprintf(buf, len, "%lld", (long long)d);
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
	snprintf(buf, len, "%.17g", d);
}

/* One verdict's cells (as csv_header); bufs hold the formatted ones. */
static void
vcells(const json_t *it, const char **cells, char bufs[][VBUF])
{
	const json_t	*r, *reward = json_object_get(it, "reward");
	size_t		 i, n = 0;

	cells[0] = vcell_text(jstr(it, "id"), bufs[0], sizeof(bufs[0]));
	cells[1] = jstr(it, "ts");
	cells[2] = jstr(it, "action");
	snprintf(bufs[3], sizeof(bufs[3]), "%" JSON_INTEGER_FORMAT,
	    json_integer_value(json_object_get(it, "score")));
	cells[3] = bufs[3];
	snprintf(bufs[4], sizeof(bufs[4]), "%" JSON_INTEGER_FORMAT,
	    json_integer_value(json_object_get(it, "version")));
	cells[4] = bufs[4];
	bufs[5][0] = '\0';
	json_array_foreach(json_object_get(it, "reasons"), i, r)
		n += (size_t)snprintf(bufs[5] + n, n < sizeof(bufs[5]) ?
		    sizeof(bufs[5]) - n : 0, "%s%s", i > 0 ? " " : "",
		    json_string_value(r) != NULL ? json_string_value(r) : "");
	cells[5] = bufs[5];
	cells[6] = jstr(it, "referrer");
	cells[7] = jstr(it, "referee");
	cells[8] = vcell_text(jstr(it, "campaign"), bufs[8], sizeof(bufs[8]));
	cells[9] = cells[10] = "";
	if (json_is_object(reward)) {
		vnumber(json_number_value(json_object_get(reward, "amount")),
		    bufs[9], sizeof(bufs[9]));
		cells[9] = bufs[9];
		cells[10] = jstr(reward, "currency");
	}
}

/* The next page's request: the filters, the cursor, up to want rows. */
static char *
vrequest(json_t *req, const char *cursor, uint64_t want)
{
	json_object_set_new(req, "limit", json_integer(
	    (json_int_t)(want < VERDICT_LIST_LIMIT_MAX ? want :
	    VERDICT_LIST_LIMIT_MAX)));
	if (cursor != NULL)
		json_object_set_new(req, "cursor", json_string(cursor));
	return (json_dumps(req, JSON_COMPACT));
}

/*
 * A time bound: a duration becomes "that long before now" here, once, so
 * that every page has the same bound.
 */
static json_t *
vbound(const char *s)
{
	int64_t	ms;

	if (parse_duration(s, &ms) == 0)
		return (json_integer(now_ms() - ms));
	return (ctl_time_arg(s));
}

/*
 * The pages of req, each verdict printed as fmt says, until limit rows
 * (0: all) or the end. Returns the exit status.
 */
static int
vrun(struct vsource *src, json_t *req, enum vformat fmt, uint64_t limit,
    bool limit_given)
{
	struct ctl_table	*t = NULL;
	const json_t		*it;
	json_t			*page;
	const char		*cells[VCOLS], *next;
	char			 bufs[VCOLS][VBUF], *line, *cursor = NULL;
	char			*s, reward[64];
	uint64_t		 rows = 0, corrupt = 0;
	size_t			 i;
	int			 rc = 0;
	bool			 more = false;

	if (fmt == VF_CSV)
		ctl_out_csv(VCOLS, csv_header);
	for (;;) {
		line = vrequest(req, cursor, limit == 0 ? UINT64_MAX :
		    limit - rows);
		page = vpage(src, line, &rc);
		free(line);
		if (page == NULL)
			break;
		json_array_foreach(json_object_get(page, "verdicts"), i, it) {
			if (fmt == VF_NDJSON) {
				s = json_dumps(it, JSON_COMPACT);
				printf("%s\n", s);
				free(s);
			} else {
				vcells(it, cells, bufs);
				if (fmt == VF_CSV)
					ctl_out_csv(VCOLS, cells);
				else {
					if (t == NULL)
						t = ctl_table_new(0, 8, "ID",
						    "TIME", "ACTION", "SCORE",
						    "REASONS", "REFERRER",
						    "REFEREE", "CAMPAIGN/REWARD");
					snprintf(reward, sizeof(reward), "%s%s%s%s%s",
					    cells[8], *cells[8] != '\0' &&
					    *cells[9] != '\0' ? " " : "",
					    cells[9], *cells[10] != '\0' ? " " : "",
					    cells[10]);
					ctl_table_row(t, cells[0], cells[1], cells[2],
					    cells[3], cells[5], cells[6], cells[7],
					    reward);
					ctl_table_paint(t, 2,
					    ctl_out_action_color(cells[2]));
				}
			}
			rows++;
		}
		corrupt += (uint64_t)json_integer_value(json_object_get(page,
		    "corrupt"));
		next = json_string_value(json_object_get(page, "next"));
		free(cursor);
		cursor = next != NULL ? xstrdup(next) : NULL;
		json_decref(page);
		if (cursor == NULL)
			break;
		if (limit != 0 && rows == limit) {
			more = true;
			break;
		}
	}
	free(cursor);
	if (t != NULL)
		ctl_table_print(t);
	else if (fmt == VF_TABLE && rc == 0)
		printf("no verdicts match\n");
	fflush(stdout);
	if (more && fmt == VF_TABLE && !limit_given)
		fprintf(stderr, "refguardctl: the first %" PRIu64 " shown; "
		    "more may match (--limit N, 0 for all)\n", rows);
	if (corrupt > 0) {
		fprintf(stderr, "refguardctl: %" PRIu64 " verdict record%s "
		    "failed %s checksum and %s not listed "
		    "(docs/reliability.md)\n", corrupt, corrupt == 1 ? "" : "s",
		    corrupt == 1 ? "its" : "their",
		    corrupt == 1 ? "is" : "are");
		if (rc == 0)
			rc = CTL_EXIT_ERROR;
	}
	return (rc);
}

int
ctl_verdicts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since",	required_argument,	NULL, 'S' },
		{ "until",	required_argument,	NULL, 'U' },
		{ "action",	required_argument,	NULL, 'a' },
		{ "rule",	required_argument,	NULL, 'r' },
		{ "campaign",	required_argument,	NULL, 'C' },
		{ "limit",	required_argument,	NULL, 'n' },
		{ "format",	required_argument,	NULL, 'f' },
		{ "state",	required_argument,	NULL, 'd' },
		{ NULL,		0,			NULL, 0 }
	};
	struct vsource	 src = { NULL };
	struct conf	*cf = NULL;
	enum vformat	 fmt = ctl_out_json() ? VF_NDJSON : VF_TABLE;
	const char	*state = NULL;
	json_t		*req;
	char		*end;
	unsigned long long limit = 0;
	bool		 limit_given = false, fallback;
	int		 ch, fd, rc;

	req = json_pack("{s:s}", "op", "verdicts.list");
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
		case 'U':
			json_object_set_new(req, ch == 'S' ? "since" : "until",
			    vbound(optarg));
			break;
		case 'a':
		case 'r':
		case 'C':
			json_object_set_new(req, ch == 'a' ? "action" :
			    ch == 'r' ? "rule" : "campaign",
			    json_string(optarg));
			break;
		case 'n':
			errno = 0;
			limit = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    *optarg == '-') {
				fprintf(stderr, "refguardctl: --limit: not a "
				    "number: %s\n", optarg);
				json_decref(req);
				return (CTL_EXIT_USAGE);
			}
			limit_given = true;
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				fmt = VF_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				fmt = VF_CSV;
			else if (strcmp(optarg, "ndjson") == 0)
				fmt = VF_NDJSON;
			else {
				fprintf(stderr, "refguardctl: --format: one of "
				    "table, csv, ndjson: %s\n", optarg);
				json_decref(req);
				return (CTL_EXIT_USAGE);
			}
			break;
		case 'd':
			state = optarg;
			break;
		default:
			json_decref(req);
			ctl_badusage();
		}
	}
	if (optind != argc) {
		json_decref(req);
		ctl_badusage();
	}
	if (!limit_given && fmt == VF_TABLE)
		limit = VTABLE_LIMIT;

	/*
	 * The daemon, unless --state. When it does not answer, the store of
	 * the same configuration (-c, or the default installation's), never
	 * one a socket named alone (-s) says nothing of.
	 */
	if (state == NULL && (fd = ctl_try_connect()) >= 0)
		close(fd);
	else {
		fallback = state == NULL;
		if (fallback && ctl_sock_named && ctl_conf_path == NULL) {
			fprintf(stderr, "refguardctl: cannot connect to %s: %s\n",
			    ctl_sock_path, strerror(errno));
			json_decref(req);
			return (CTL_EXIT_CONNECT);
		}
		if (fallback)
			fprintf(stderr, "refguardctl: cannot connect to %s (%s): "
			    "reading the store\n", ctl_sock_path,
			    strerror(errno));
		if ((cf = ctl_conf(&state)) == NULL ||
		    ctl_open_store(state, cf, true, &src.st) != 0) {
			if (cf != NULL)
				conf_free(cf);
			json_decref(req);
			return (fallback ? CTL_EXIT_CONNECT : CTL_EXIT_ERROR);
		}
	}
	rc = vrun(&src, req, fmt, limit, limit_given);
	json_decref(req);
	if (src.st != NULL)
		store_close(src.st);
	if (cf != NULL)
		conf_free(cf);
	return (rc);
}
