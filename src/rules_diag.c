/*
 * rules_diag.c: diagnostics ("file:line:col: error: msg", the source line,
 * a caret under the token), nearest-name suggestions, and the arena the
 * rules engine allocates a rule set from.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_int.h"
#include "util.h"

/* Arena: bump allocation in 32 KiB blocks, big requests get their own. */
struct rules_blk {
	struct rules_blk	*next;
	size_t			 used;
	size_t			 cap;
	max_align_t		 data[];
};
#define RULES_BLK	32768

void *
rules_alloc(struct rules_arena *a, size_t n)
{
	struct rules_blk	*b = a->head;
	size_t			 al = sizeof(max_align_t);
	void			*p;

	n = (n + al - 1) / al * al;
	if (n == 0)
		n = al;
	if (b == NULL || b->cap - b->used < n) {
		size_t	cap = n > RULES_BLK / 2 ? n : RULES_BLK;

		b = xmalloc(sizeof(*b) + cap);
		b->used = 0;
		b->cap = cap;
		if (cap == n && a->head != NULL) {
			/* Keep filling the current block after this one. */
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	p = (char *)b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return (p);
}

char *
rules_strndup(struct rules_arena *a, const char *s, size_t n)
{
	char	*p = rules_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return (p);
}

void
rules_arena_free(struct rules_arena *a)
{
	struct rules_blk	*b, *next;

	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}

void
rules_pos_str(const struct ruleset *rs, const struct rules_pos *pos,
    char *buf, size_t cap)
{
	snprintf(buf, cap, "%s:%u:%u", rs->srcs[pos->src].path, pos->line,
	    pos->col);
}

static void
rules_diag_keep(struct ruleset *rs, uint32_t src, uint32_t off,
    struct sbuf *sb)
{
	struct rules_dmsg	*d;

	rs->dmsgs = rules_grow(rs->dmsgs, &rs->dcap, rs->ndmsgs,
	    sizeof(*rs->dmsgs));
	d = &rs->dmsgs[rs->ndmsgs];
	d->src = src;
	d->off = off;
	d->seq = (uint32_t)rs->ndmsgs++;
	d->text = sbuf_take(sb, NULL);
}

static int
rules_diag_cmp(const void *x, const void *y)
{
	const struct rules_dmsg	*a = x, *b = y;

	if (a->src != b->src)
		return (a->src < b->src ? -1 : 1);
	if (a->off != b->off)
		return (a->off < b->off ? -1 : 1);
	return (a->seq < b->seq ? -1 : a->seq > b->seq);
}

/*
 * Every diagnostic in the order of the sources, then a summary line when
 * there were errors; NULL when there is nothing to say.
 */
char *
rules_diag_take(struct ruleset *rs)
{
	struct sbuf	sb;
	size_t		i;

	if (rs->ndmsgs == 0 && rs->ndropped == 0)
		return (NULL);
	qsort(rs->dmsgs, rs->ndmsgs, sizeof(*rs->dmsgs), rules_diag_cmp);
	sbuf_init(&sb, 1024);
	for (i = 0; i < rs->ndmsgs; i++) {
		sbuf_adds(&sb, rs->dmsgs[i].text);
		free(rs->dmsgs[i].text);
	}
	rs->ndmsgs = 0;
	if (rs->ndropped != 0)
		sbuf_addf(&sb, "(%u more diagnostic%s not shown: only the "
		    "first %d are)\n", rs->ndropped, rs->ndropped == 1 ? "" :
		    "s", RULES_DIAG_MAX);
	if (rs->nerrors != 0)
		sbuf_addf(&sb, "%u error%s, %u warning%s: rule set not "
		    "loaded\n", rs->nerrors, rs->nerrors == 1 ? "" : "s",
		    rs->nwarnings, rs->nwarnings == 1 ? "" : "s");
	return (sbuf_take(&sb, NULL));
}

bool
rules_diag_full(const struct ruleset *rs)
{
	return (rs->ndmsgs >= RULES_DIAG_MAX);
}

/*
 * The message, then the source line and a caret under pos: at most
 * RULES_DIAG_SPAN bytes either side of the caret ("..." marks the cut),
 * so that each diagnostic costs the same however long the line is.
 */
static void
rules_diag_v(struct ruleset *rs, const struct rules_pos *pos,
    const char *what, const char *fmt, va_list ap)
{
	const struct rules_src	*src = &rs->srcs[pos->src];
	const char		*bol, *eol, *p, *at;
	struct sbuf		 sb;
	char			*msg;
	bool			 cut;

	if (rules_diag_full(rs)) {
		rs->ndropped++;
		return;
	}
	sbuf_init(&sb, 256);
	xvasprintf(&msg, fmt, ap);
	sbuf_addf(&sb, "%s:%u:%u: %s: %s\n", src->path, pos->line,
	    pos->col, what, msg);
	free(msg);
	if (pos->off > src->len) {
		rules_diag_keep(rs, pos->src, pos->off, &sb);
		return;
	}
	at = src->text + pos->off;
	for (bol = at; bol > src->text && bol[-1] != '\n' &&
	    at - bol < RULES_DIAG_SPAN; bol--)
		;
	cut = bol > src->text && bol[-1] != '\n';
	for (eol = at; eol < src->text + src->len && *eol != '\n' &&
	    eol - at < RULES_DIAG_SPAN; eol++)
		;
	/* Unprintable bytes as '?'; tabs kept so that the caret lines up. */
	sbuf_add(&sb, cut ? "    ..." : "    ", cut ? 7 : 4);
	for (p = bol; p < eol; p++)
		sbuf_addc(&sb, (*p == '\t' ||
		    (*p >= 0x20 && *p < 0x7f)) ? *p : '?');
	if (eol < src->text + src->len && *eol != '\n')
		sbuf_add(&sb, "...", 3);
	sbuf_add(&sb, cut ? "\n       " : "\n    ", cut ? 8 : 5);
	for (p = bol; p < at; p++)
		sbuf_addc(&sb, *p == '\t' ? '\t' : ' ');
	sbuf_add(&sb, "^\n", 2);
	rules_diag_keep(rs, pos->src, pos->off, &sb);
}

void
rules_error(struct ruleset *rs, const struct rules_pos *pos, const char *fmt,
    ...)
{
	va_list	ap;

	rs->nerrors++;
	va_start(ap, fmt);
	rules_diag_v(rs, pos, "error", fmt, ap);
	va_end(ap);
}

void
rules_warn(struct ruleset *rs, const struct rules_pos *pos, const char *fmt,
    ...)
{
	va_list	ap;

	if (rs->quiet > 0)
		return;
	rs->nwarnings++;
	va_start(ap, fmt);
	rules_diag_v(rs, pos, "warning", fmt, ap);
	va_end(ap);
}

/* An error about a file as a whole (cannot open it): "path: error: msg". */
void
rules_error_file(struct ruleset *rs, const char *path, const char *fmt, ...)
{
	va_list		ap;
	struct sbuf	sb;
	char		*msg;

	rs->nerrors++;
	if (rules_diag_full(rs)) {
		rs->ndropped++;
		return;
	}
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	sbuf_init(&sb, 128);
	sbuf_addf(&sb, "%s: error: %s\n", path, msg);
	free(msg);
	rules_diag_keep(rs, (uint32_t)rs->nsrcs, 0, &sb);
}

/* Optimal string alignment distance, capped; names are short. */
static size_t
rules_diag_distance(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b), i, j, c, v;
	size_t	d[64][64];

	if (la >= 63 || lb >= 63)
		return (SIZE_MAX);
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			c = a[i - 1] == b[j - 1] ? 0 : 1;
			v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + c < v)
				v = d[i - 1][j - 1] + c;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return (d[la][lb]);
}

const char *
rules_suggest(const struct ruleset *rs, const char *s,
    const char *const *names, size_t n)
{
	const char	*best = NULL;
	size_t		 i, d, bestd = SIZE_MAX, max;

	if (rules_diag_full(rs))
		return (NULL);
	max = strlen(s) / 3;
	if (max < 2)
		max = 2;
	if (max > 3)
		max = 3;
	for (i = 0; i < n; i++) {
		if (names[i] == NULL)
			continue;
		/* The distance is at least the difference in length. */
		if (strlen(names[i]) > strlen(s) + max ||
		    strlen(s) > strlen(names[i]) + max)
			continue;
		d = rules_diag_distance(s, names[i]);
		if (d < bestd) {
			bestd = d;
			best = names[i];
		}
	}
	return (bestd <= max ? best : NULL);
}
