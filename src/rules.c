/*
 * rules.c: load a rule set (a file, a directory of *.rules, includes),
 * its hash, reference counting and the accessors the verdict code uses.
 * The language itself is in rules_lex.c, rules_parse.c, rules_check.c
 * and rules_eval.c; see rules_int.h.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "log.h"
#include "rules_int.h"
#include "util.h"

const char *
rules_action_name(int action)
{
	switch (action) {
	case ACTION_ALLOW:
		return ("allow");
	case ACTION_REVIEW:
		return ("review");
	case ACTION_DENY:
		return ("deny");
	}
	return ("?");
}

/* Make room for element n (index) in a malloc'd array of *cap elements. */
void *
rules_grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap && p != NULL)
		return (p);
	*cap = *cap < 8 ? 8 : *cap * 2;
	if (*cap <= n)
		*cap = n + 1;
	return (xreallocarray(p, *cap, size));
}

bool
rules_count_values(struct ruleset *rs, const struct rules_pos *pos, size_t n)
{
	if (rs->nvalues > RULES_VALUES_MAX)
		return (false);
	if (n <= RULES_VALUES_MAX - rs->nvalues) {
		rs->nvalues += n;
		return (true);
	}
	rs->nvalues = RULES_VALUES_MAX + 1;
	rules_error(rs, pos, "the rule set holds more than %d list values "
	    "(each value of a list, and each address or prefix a CIDR in a "
	    "list stands for, counts one)", RULES_VALUES_MAX);
	return (false);
}

/* Takes path and text (malloc'd, text NUL-terminated). */
uint32_t
rules_add_src(struct ruleset *rs, char *path, char *text, size_t len)
{
	rs->srcs = rules_grow(rs->srcs, &rs->srccap, rs->nsrcs,
	    sizeof(*rs->srcs));
	rs->srcs[rs->nsrcs].path = path;
	rs->srcs[rs->nsrcs].text = text;
	rs->srcs[rs->nsrcs].len = len;
	return ((uint32_t)rs->nsrcs++);
}

/* path relative to the directory of source src, unless absolute. */
char *
rules_resolve(const struct ruleset *rs, uint32_t src, const char *path)
{
	const char	*base = rs->srcs[src].path, *slash;
	char		*out;

	if (path[0] == '/' || (slash = strrchr(base, '/')) == NULL)
		return (xstrdup(path));
	xasprintf(&out, "%.*s/%s", (int)(slash - base), base, path);
	return (out);
}

/*
 * Read a rule or list file of rs, counting its bytes against the set's
 * budget (rules_max_bytes) before reading them.
 */
int
rules_read_file(struct ruleset *rs, const char *path, char **text,
    size_t *len, char **cause)
{
	struct stat	 sb;
	size_t		 room = rs->max_bytes - rs->nbytes, max;

	max = room < RULES_FILE_MAX ? room : RULES_FILE_MAX;
	memset(&sb, 0, sizeof(sb));
	if (file_read_regular(path, 0, max, text, len, &sb, cause) != 0) {
		if (max == room && (uint64_t)sb.st_size > room) {
			free(*cause);
			xasprintf(cause, "%s: the rule set's files would "
			    "exceed rules_max_bytes (%zu bytes)", path,
			    rs->max_bytes);
			rs->nbytes = rs->max_bytes;
		}
		return (-1);
	}
	rs->nbytes += *len;
	if (memchr(*text, '\0', *len) != NULL) {
		xasprintf(cause, "%s: holds a NUL byte (not a text file)", path);
		free(*text);
		*text = NULL;
		return (-1);
	}
	return (0);
}

static struct ruleset *
rules_new(struct ident *id, int flags, size_t max_bytes)
{
	struct ruleset	*rs = xcalloc(1, sizeof(*rs));

	rs->refs = 1;
	rs->max_bytes = max_bytes != 0 ? max_bytes : RULES_MAX_BYTES;
	rs->id = id;
	rs->flags = flags;
	rs->review_at = INT64_MAX;
	rs->deny_at = INT64_MAX;
	return (rs);
}

static void
rules_free(struct ruleset *rs)
{
	size_t	i;

	for (i = 0; i < rs->nsrcs; i++) {
		free(rs->srcs[i].path);
		free(rs->srcs[i].text);
	}
	free(rs->srcs);
	for (i = 0; i < rs->nrules; i++)
		free(rs->rules[i].tags);
	free(rs->rules);
	free(rs->caps);
	free(rs->cost);
	for (i = 0; i < rs->nlists; i++) {
		free(rs->lists[i].vals);
		free(rs->lists[i].vpos);
	}
	free(rs->lists);
	free(rs->byname);
	for (i = 0; i < rs->ntests; i++) {
		free(rs->tests[i].reasons.v);
		free(rs->tests[i].reasons.pos);
		free(rs->tests[i].shadow.v);
		free(rs->tests[i].shadow.pos);
		free(rs->tests[i].includes.v);
		free(rs->tests[i].includes.pos);
		free(rs->tests[i].excludes.v);
		free(rs->tests[i].excludes.pos);
		free(rs->tests[i].assume);
	}
	free(rs->tests);
	free(rs->conds);
	for (i = 0; i < rs->ndmsgs; i++)
		free(rs->dmsgs[i].text);
	free(rs->dmsgs);
	rules_arena_free(&rs->arena);
	free(rs);
}

/* Load one rule file, once: a file included twice is read once. */
static void rules_load_file(struct ruleset *, const char *,
    const struct rules_pos *);

static void
rules_include(struct ruleset *rs, uint32_t src, const struct rules_pos *pos,
    const char *pattern)
{
	glob_t	 g;
	char	*path;
	size_t	 i;
	int	 r;

	path = rules_resolve(rs, src, pattern);
	r = glob(path, GLOB_ERR, NULL, &g);
	if (r == GLOB_NOMATCH)
		rules_error(rs, pos, "include \"%s\": no file matches", pattern);
	else if (r != 0)
		rules_error(rs, pos, "include \"%s\": cannot read the "
		    "directory", pattern);
	else {
		for (i = 0; i < g.gl_pathc; i++)
			rules_load_file(rs, g.gl_pathv[i], pos);
	}
	if (r == 0 || r == GLOB_NOMATCH)
		globfree(&g);
	free(path);
}

static void
rules_load_file(struct ruleset *rs, const char *path,
    const struct rules_pos *from)
{
	char		 real[PATH_MAX], *text, *cause;
	size_t		 len, i;
	uint32_t	 src;

	if (realpath(path, real) == NULL) {
		if (from != NULL)
			rules_error(rs, from, "%s: %s", path, strerror(errno));
		else
			rules_error_file(rs, path, "%s", strerror(errno));
		return;
	}
	for (i = 0; i < rs->nloaded; i++)
		if (strcmp(rs->loaded[i], real) == 0)
			return;
	if (rs->nloaded >= RULES_FILES_MAX) {
		rules_error_file(rs, path, "more than %d rule files",
		    RULES_FILES_MAX);
		return;
	}
	rs->loaded[rs->nloaded++] = xstrdup(real);
	if (rules_read_file(rs, path, &text, &len, &cause) != 0) {
		if (from != NULL)
			rules_error(rs, from, "%s", cause);
		else
			rules_error_file(rs, path, "%s", cause + strlen(path) +
			    (strncmp(cause, path, strlen(path)) == 0 ? 2 : 0));
		free(cause);
		return;
	}
	src = rules_add_src(rs, xstrdup(path), text, len);
	rules_parse(rs, src, rules_include);
}

/*
 * XXH3-128 over RULES_SEMANTICS and every source (rule and list files)
 * in load order.
 */
static void
rules_hash_set(struct ruleset *rs)
{
	XXH3_state_t		*st = XXH3_createState();
	XXH128_canonical_t	 c;
	uint8_t			 len[8];
	size_t			 i;
	int			 j;

	if (st == NULL)
		fatalx("XXH3_createState");
	XXH3_128bits_reset(st);
	for (j = 0; j < 8; j++)
		len[j] = (uint8_t)((uint64_t)RULES_SEMANTICS >> (56 - 8 * j));
	XXH3_128bits_update(st, "semantics", 9);
	XXH3_128bits_update(st, len, sizeof(len));
	for (i = 0; i < rs->nsrcs; i++) {
		for (j = 0; j < 8; j++)
			len[j] = (uint8_t)((uint64_t)rs->srcs[i].len >>
			    (56 - 8 * j));
		XXH3_128bits_update(st, len, sizeof(len));
		XXH3_128bits_update(st, rs->srcs[i].text, rs->srcs[i].len);
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	XXH3_freeState(st);
	rg_hash_hex((const struct rg_hash *)c.digest, rs->hash);
}

/* Check and compile what was parsed; hand out the diagnostics. */
static struct ruleset *
rules_finish(struct ruleset *rs, char **diag)
{
	size_t	i;

	for (i = 0; i < rs->nloaded; i++)
		free(rs->loaded[i]);
	rs->nloaded = 0;
	if (rs->nerrors == 0 || rs->nrules != 0)
		rules_check(rs);
	rules_hash_set(rs);
	rs->cost = xcalloc(rs->nrules + 1, sizeof(*rs->cost));
	rs->id = NULL;
	*diag = rules_diag_take(rs);
	if (rs->nerrors != 0) {
		rules_free(rs);
		return (NULL);
	}
	return (rs);
}

struct ruleset *
rules_load(const char *path, struct ident *id, size_t max_bytes, char **diag)
{
	return (rules_load_paths(&path, 1, id, max_bytes, diag));
}

struct ruleset *
rules_load_paths(const char *const *paths, size_t n, struct ident *id,
    size_t max_bytes, char **diag)
{
	struct ruleset	*rs = rules_new(id, 0, max_bytes);
	struct stat	 sb;
	glob_t		 g;
	char		*pat;
	size_t		 i, j;

	*diag = NULL;
	for (j = 0; j < n; j++) {
		if (stat(paths[j], &sb) != 0 || !S_ISDIR(sb.st_mode)) {
			rules_load_file(rs, paths[j], NULL);
			continue;
		}
		xasprintf(&pat, "%s/*.rules", paths[j]);
		if (glob(pat, 0, NULL, &g) != 0)
			rules_error_file(rs, paths[j], "no *.rules file in the "
			    "directory");
		else {
			for (i = 0; i < g.gl_pathc; i++)
				rules_load_file(rs, g.gl_pathv[i], NULL);
			globfree(&g);
		}
		free(pat);
	}
	return (rules_finish(rs, diag));
}

/* A local rule file that masks a shipped one: empty, or /dev/null. */
static int
rules_masked(const char *path)
{
	struct stat	sb;

	if (stat(path, &sb) != 0)
		return (0);	/* rules_load_file says why */
	return ((S_ISREG(sb.st_mode) && sb.st_size == 0) ||
	    S_ISCHR(sb.st_mode));
}

static int
rules_name_cmp(const void *a, const void *b)
{
	const char	*pa = *(const char *const *)a;
	const char	*pb = *(const char *const *)b;

	return (strcmp(strrchr(pa, '/') + 1, strrchr(pb, '/') + 1));
}

struct ruleset *
rules_load_dirs(const char *const *dirs, size_t n, struct ident *id,
    size_t max_bytes, char **diag)
{
	struct ruleset	*rs;
	struct stat	 sb;
	glob_t		 g;
	char		*pat, **files = NULL, *list;
	const char	*base;
	size_t		 nfiles = 0, i, j, k, len = 0;
	int		 r;

	rs = rules_new(id, 0, max_bytes);
	*diag = NULL;
	for (j = 0; j < n; j++) {
		len += strlen(dirs[j]) + 1;
		if (stat(dirs[j], &sb) != 0) {
			/* A missing directory is one nobody made yet. */
			if (errno != ENOENT)
				rules_error_file(rs, dirs[j], "%s",
				    strerror(errno));
			continue;
		}
		if (!S_ISDIR(sb.st_mode)) {
			rules_error_file(rs, dirs[j], "not a directory");
			continue;
		}
		xasprintf(&pat, "%s/*.rules", dirs[j]);
		r = glob(pat, GLOB_ERR, NULL, &g);
		free(pat);
		if (r == GLOB_NOMATCH)
			continue;
		if (r != 0) {
			rules_error_file(rs, dirs[j], "cannot read the "
			    "directory");
			continue;
		}
		/* A later directory's file replaces the one of that name. */
		for (i = 0; i < g.gl_pathc; i++) {
			base = strrchr(g.gl_pathv[i], '/') + 1;
			for (k = 0; k < nfiles; k++)
				if (strcmp(strrchr(files[k], '/') + 1,
				    base) == 0)
					break;
			if (k == nfiles)
				files = xreallocarray(files, ++nfiles,
				    sizeof(*files));
			else
				free(files[k]);
			files[k] = xstrdup(g.gl_pathv[i]);
		}
		globfree(&g);
	}
	if (nfiles > 0)		/* files is NULL then */
		qsort(files, nfiles, sizeof(*files), rules_name_cmp);
	for (i = k = 0; i < nfiles; i++) {
		if (!rules_masked(files[i])) {
			rules_load_file(rs, files[i], NULL);
			k++;
		}
		free(files[i]);
	}
	free(files);
	if (k == 0 && rs->nerrors == 0) {
		list = xcalloc(1, len + 1);
		for (j = 0; j < n; j++) {
			if (j > 0)
				strcat(list, " ");
			strcat(list, dirs[j]);
		}
		rules_error_file(rs, list, "no *.rules file in these "
		    "directories (or every one is masked)");
		free(list);
	}
	return (rules_finish(rs, diag));
}

struct ruleset *
rules_load_buf(const char *name, const char *buf, size_t len,
    struct ident *id, int flags, char **diag)
{
	struct ruleset	*rs = rules_new(id, flags, 0);
	uint32_t	 src;

	*diag = NULL;
	if (memchr(buf, '\0', len) != NULL) {
		rules_error_file(rs, name, "holds a NUL byte (not a text "
		    "file)");
		return (rules_finish(rs, diag));
	}
	if (len > rs->max_bytes) {
		rules_error_file(rs, name, "larger than rules_max_bytes (%zu "
		    "bytes)", rs->max_bytes);
		return (rules_finish(rs, diag));
	}
	rs->nbytes = len;
	src = rules_add_src(rs, xstrdup(name), xstrndup(buf, len), len);
	rules_parse(rs, src, rules_include);
	return (rules_finish(rs, diag));
}

struct ruleset *
rules_ref(struct ruleset *rs)
{
	__atomic_add_fetch(&rs->refs, 1, __ATOMIC_RELAXED);
	return (rs);
}

void
rules_unref(struct ruleset *rs)
{
	if (rs == NULL)
		return;
	if (__atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL) == 0)
		rules_free(rs);
}

const char *
rules_hash(const struct ruleset *rs)
{
	return (rs->hash);
}

size_t
rules_count(const struct ruleset *rs)
{
	return (rs->nrules);
}

size_t
rules_ntests(const struct ruleset *rs)
{
	return (rs->ntests);
}

size_t
rules_pairs(const struct ruleset *rs, const struct store_pair **out)
{
	*out = rs->pairs;
	return (rs->npairs);
}

void *
rules_lists_info(const struct ruleset *rs)
{
	const struct rules_list	*l;
	json_t			*a = json_array(), *o;
	size_t			 i;

	for (i = 0; rs != NULL && i < rs->nlists; i++) {
		if ((l = &rs->lists[i])->path == NULL)
			continue;
		o = json_object();
		json_object_set_new(o, "name", json_string(l->name));
		json_object_set_new(o, "path", json_string(l->path));
		json_object_set_new(o, "entries", json_integer((json_int_t)
		    l->nvals));
		json_object_set_new(o, "bytes", json_integer(l->bytes));
		json_object_set_new(o, "mtime", json_integer(l->mtime));
		json_array_append_new(a, o);
	}
	return (a);
}

const char *
rules_rule_name(const struct ruleset *rs, uint32_t rule)
{
	return (rule < rs->nrules ? rs->rules[rule].name : "?");
}

const char *
rules_rule_msg(const struct ruleset *rs, uint32_t rule)
{
	if (rule >= rs->nrules || rs->rules[rule].desc == NULL)
		return ("");
	return (rs->rules[rule].desc);
}

int
rules_rule_action(const struct ruleset *rs, uint32_t rule)
{
	return (rule < rs->nrules ? rs->rules[rule].action : -1);
}

int32_t
rules_rule_score(const struct ruleset *rs, uint32_t rule)
{
	return (rule < rs->nrules ? rs->rules[rule].score : 0);
}

bool
rules_rule_shadow(const struct ruleset *rs, uint32_t rule)
{
	return (rule < rs->nrules && rs->rules[rule].shadow);
}

const char *
rules_rule_group(const struct ruleset *rs, uint32_t rule, int64_t *cap)
{
	const struct rules_rule	*r;

	*cap = -1;
	if (rule >= rs->nrules || (r = &rs->rules[rule])->gi < 0)
		return (NULL);
	if (rs->groups[r->gi].cap != INT64_MAX)
		*cap = rs->groups[r->gi].cap;
	return (rs->groups[r->gi].name);
}

void
rules_rule_cost(const struct ruleset *rs, uint32_t rule, uint64_t *n,
    uint64_t *ns)
{
	*n = *ns = 0;
	if (rule >= rs->nrules || rs->cost == NULL)
		return;
	*n = __atomic_load_n(&rs->cost[rule].n, __ATOMIC_RELAXED);
	*ns = __atomic_load_n(&rs->cost[rule].ns, __ATOMIC_RELAXED);
}

void
rules_cost_reset(struct ruleset *rs)
{
	size_t	i;

	for (i = 0; rs->cost != NULL && i < rs->nrules; i++) {
		__atomic_store_n(&rs->cost[i].n, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&rs->cost[i].ns, 0, __ATOMIC_RELAXED);
	}
}

/*
 * The source span of a condition: every node's, from the first byte of
 * one to the end of the last (and/or nodes start at their first
 * operand), not counting into the uses of named conditions, which are
 * appended to *uses (*nuses of *cap). The top of a use (top) spans its
 * condition's text. False when it spans sources (it never does).
 */
static bool
rules_when_span(const struct rules_node *n, bool top, uint32_t *src,
    uint32_t *from, uint32_t *to, const struct rules_node ***uses,
    size_t *nuses, size_t *cap)
{
	const struct rules_node	*t = top && n->tsrc != NULL ? n->tsrc : n;
	size_t			 i;

	if (!top && n->tsrc != NULL) {
		if (*nuses == *cap) {
			*cap = *cap ? 2 * *cap : 8;
			*uses = xreallocarray(*uses, *cap, sizeof(**uses));
		}
		(*uses)[(*nuses)++] = n;
	}
	if (t->pos.src != *src)
		return (false);
	if (t->pos.off < *from)
		*from = t->pos.off;
	if (t->end > *to)
		*to = t->end;
	if (!top && n->tsrc != NULL)
		return (true);
	for (i = 0; i < n->nkids; i++)
		if (n->kids[i] != NULL && !rules_when_span(n->kids[i], false,
		    src, from, to, uses, nuses, cap))
			return (false);
	return (true);
}

/*
 * Whether conditions na of set a and nb of set b are the same text, and
 * so is each named condition they use (top: na and nb are such uses).
 */
static bool
rules_when_same(const struct ruleset *a, const struct rules_node *na,
    const struct ruleset *b, const struct rules_node *nb, bool top)
{
	const struct rules_node	**ua = NULL, **ub = NULL;
	uint32_t		 sa, sb, fa = UINT32_MAX, fb = UINT32_MAX;
	uint32_t		 ta = 0, tb = 0;
	size_t			 nua = 0, nub = 0, ca = 0, cb = 0, i;
	bool			 same;

	sa = (top && na->tsrc != NULL ? na->tsrc : na)->pos.src;
	sb = (top && nb->tsrc != NULL ? nb->tsrc : nb)->pos.src;
	same = rules_when_span(na, top, &sa, &fa, &ta, &ua, &nua, &ca) &&
	    rules_when_span(nb, top, &sb, &fb, &tb, &ub, &nub, &cb) &&
	    fa <= ta && fb <= tb && ta <= a->srcs[sa].len &&
	    tb <= b->srcs[sb].len && ta - fa == tb - fb &&
	    memcmp(a->srcs[sa].text + fa, b->srcs[sb].text + fb, ta - fa) ==
	    0 && nua == nub;
	for (i = 0; same && i < nua; i++)
		same = rules_when_same(a, ua[i], b, ub[i], true);
	free(ua);
	free(ub);
	return (same);
}

/* Whether the lists the "in list" nodes of n name hold the same values. */
static bool
rules_when_lists(const struct ruleset *a, const struct ruleset *b,
    const struct rules_node *n)
{
	const struct rules_list	*la, *lb;
	size_t			 i;

	if (n->op == N_IN && n->name != NULL) {
		la = rules_list_find(a, n->name);
		lb = rules_list_find(b, n->name);
		if ((la == NULL) != (lb == NULL))
			return (false);
		if (la != NULL) {
			if (la->nvals != lb->nvals)
				return (false);
			for (i = 0; i < la->nvals; i++)
				if (strcmp(la->vals[i], lb->vals[i]) != 0)
					return (false);
		}
	}
	for (i = 0; i < n->nkids; i++)
		if (n->kids[i] != NULL && !rules_when_lists(a, b, n->kids[i]))
			return (false);
	return (true);
}

bool
rules_rule_same(const struct ruleset *a, uint32_t ra,
    const struct ruleset *b, uint32_t rb)
{
	const struct rules_node	*na, *nb;

	if (ra >= a->nrules || rb >= b->nrules ||
	    (na = a->rules[ra].when) == NULL ||
	    (nb = b->rules[rb].when) == NULL ||
	    !rules_when_same(a, na, b, nb, false))
		return (false);
	/* The text names lists; their values are in other lines or files. */
	return (rules_when_lists(a, b, na));
}
