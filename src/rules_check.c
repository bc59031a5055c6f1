/*
 * rules_check.c: resolve names and check types over the parsed tree, then
 * annotate it into the compiled form rules_eval.c runs: identity literals
 * and list values hashed, "in" sets sorted, scan limits derived from the
 * constants history results are compared with, and/or operands ordered
 * cheapest first, equal history calls sharing a result slot.
 */
#include "config.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ident.h"
#include "rules_int.h"
#include "store_aux.h"
#include "util.h"

static const char *const rules_party_names[RG_NPARTIES] = {
	"referrer", "referee",
};

const char *
rules_type_name(int type, int kind)
{
	switch (type) {
	case T_BOOL:
		return ("a condition");
	case T_NUM:
		return ("a number");
	case T_STR:
		return ("a string");
	case T_DUR:
		return ("a duration");
	case T_TIME:
		return ("a time");
	case T_IDENT:
		return ("an identity");
	case T_LIST:
		return ("a list");
	case T_WORD:
		return ("a word");
	}
	return ("an error");
}

/* "a number", or "an identity (email)". */
const char *
rules_check_tname(const struct rules_node *n, char *buf, size_t cap)
{
	if (n->type == T_IDENT) {
		snprintf(buf, cap, "an identity (%s)", ent_kind_name(n->kind));
		return (buf);
	}
	return (rules_type_name(n->type, 0));
}

/* Every fact name, for suggestions. */
static size_t
rules_check_factnames(const char **names, char (*buf)[48])
{
	size_t	n = 0, f, p;

	for (p = 0; p < RG_NPARTIES; p++) {
		for (f = 0; f < F__PARTY; f++) {
			snprintf(buf[n], sizeof(buf[n]), "%s.%s",
			    rules_party_names[p], rules_facts[f].name);
			names[n] = buf[n];
			n++;
		}
	}
	for (f = F__PARTY; f < F__MAX; f++) {
		names[n] = rules_facts[f].name;
		n++;
	}
	return (n);
}

/* Resolve a fact name into party and fact; -1 when unknown. */
int
rules_check_fact(const char *name, uint8_t *party, uint8_t *fact)
{
	size_t		p, f, len;

	for (p = 0; p < RG_NPARTIES; p++) {
		len = strlen(rules_party_names[p]);
		if (strncmp(name, rules_party_names[p], len) != 0 ||
		    name[len] != '.')
			continue;
		for (f = 0; f < F__PARTY; f++) {
			if (strcmp(name + len + 1, rules_facts[f].name) == 0) {
				*party = (uint8_t)p;
				*fact = (uint8_t)f;
				return (0);
			}
		}
		return (-1);
	}
	for (f = F__PARTY; f < F__MAX; f++) {
		if (strcmp(name, rules_facts[f].name) == 0) {
			*party = PARTY_EVENT;
			*fact = (uint8_t)f;
			return (0);
		}
	}
	return (-1);
}

/* An N_WORD as a fact: becomes N_FACT, or an error with a suggestion. */
int
rules_check_word(struct rules_cctx *cc, struct rules_node *n)
{
	const char	*names[2 * F__PARTY + F__MAX];
	char		 buf[2 * F__PARTY + F__MAX][48];
	const char	*sug;
	size_t		 nn;

	if (rules_check_fact(n->name, &n->party, &n->fact) == 0) {
		n->op = N_FACT;
		n->type = rules_facts[n->fact].type;
		n->kind = rules_facts[n->fact].kind;
		return (n->type);
	}
	n->type = T_ERR;
	if (strcmp(n->name, "since") == 0) {
		rules_error(cc->rs, &n->pos, "since referral is a window, as in "
		    "count(login, referee.account, since referral)");
		return (T_ERR);
	}
	if (strcmp(n->name, "referrer") == 0 || strcmp(n->name, "referee") == 0) {
		rules_error(cc->rs, &n->pos, "%s is a party, not a value; name "
		    "one of its facts (%s.account, %s.email, ...)", n->name,
		    n->name, n->name);
		return (T_ERR);
	}
	nn = rules_check_factnames(names, buf);
	sug = rules_suggest(cc->rs, n->name, names, nn);
	if (sug != NULL)
		rules_error(cc->rs, &n->pos, "unknown fact %s; did you mean %s?",
		    n->name, sug);
	else
		rules_error(cc->rs, &n->pos, "unknown fact %s", n->name);
	return (T_ERR);
}

/* Hash string s as an identity of kind; -1 (message in *err) if it is not one. */
static int
rules_check_hash(struct ruleset *rs, int kind, const char *s,
    struct rg_hash *h, const char **err)
{
	struct party	p;
	struct dev_attr	a;
	const char	*key = NULL;
	int		r;

	memset(&p, 0, sizeof(p));
	if (rs->id == NULL) {
		*err = "identity values need the installation's hash secret";
		return (-1);
	}
	switch (kind) {
	case ENT_ACCOUNT:
		r = ident_account(rs->id, s, strlen(s), &p, err);
		break;
	case ENT_EMAIL:
	case ENT_EMAIL_SHAPE:	/* the shape of the address written */
	case ENT_EMAIL_NAME:	/* the name in the address written */
		r = ident_email(rs->id, s, strlen(s), &p, err);
		break;
	case ENT_PHONE:
	case ENT_PHONE_BLOCK:	/* the block of the number written */
		r = ident_phone(rs->id, s, strlen(s), &p, err);
		break;
	case ENT_PAYMENT:
		r = ident_payment(rs->id, s, strlen(s), &p, err);
		break;
	case ENT_IP:
	case ENT_IP_PREFIX:
		r = ident_ip(rs->id, s, strlen(s), &p, err);
		break;
	case ENT_DEVICE_ID:
		a.key = "id";
		a.keylen = 2;
		a.val = s;
		a.vallen = strlen(s);
		r = ident_device(rs->id, &a, 1, &p, &key, err);
		break;
	default:
		*err = "device fingerprints cannot be written as values; "
		    "compare device.id, or link devices with linked()";
		return (-1);
	}
	if (r != 0)
		return (-1);
	if (!PARTY_HAS(&p, kind)) {
		*err = ident_absent(kind);
		return (-1);
	}
	*h = p.h[kind];
	return (0);
}

static int
rules_check_hcmp(const void *a, const void *b)
{
	return (memcmp(a, b, sizeof(struct rg_hash)));
}

static int
rules_check_scmp(const void *a, const void *b)
{
	return (strcasecmp(*(const char *const *)a, *(const char *const *)b));
}

static int
rules_check_dcmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* Hashes of a CIDR's addresses (ENT_IP) or prefixes (ENT_IP_PREFIX). */
static void
rules_check_cidr(struct ruleset *rs, int kind, const char *s,
    const struct rules_pos *pos, struct rg_hash **hs, size_t *n, size_t *cap)
{
	char		 out[INET6_ADDRSTRLEN];
	const char	*err;
	uint8_t		 a[16];
	unsigned	 len;
	int		 af, bits, i, stepbit;
	uint64_t	 count, k;

	if (parse_cidr(s, &af, a, &bits, &len) != 0)
		goto bad;
	/* Prefixes: step at the default /24 and /64 granularity. */
	stepbit = 0;
	if (kind == ENT_IP_PREFIX)
		stepbit = af == AF_INET ? 8 : 64;
	if ((unsigned)(bits - stepbit) < len)
		stepbit = bits - (int)len;
	if (bits - (int)len - stepbit > 16) {
		rules_error(rs, pos, "%s holds more than %d %s; list smaller "
		    "networks%s", s, RULES_CIDR_MAX,
		    kind == ENT_IP ? "addresses" : "prefixes",
		    kind == ENT_IP ? " or compare ip.prefix" : "");
		return;
	}
	count = 1ULL << (bits - (int)len - stepbit);
	/* The value itself was counted; what it expands to is more work. */
	if (!rules_count_values(rs, pos, (size_t)count - 1))
		return;
	/* Clear the host bits. */
	for (i = (int)len; i < bits; i++)
		a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	for (k = 0; k < count; k++) {
		uint8_t		b[16];
		uint64_t	v = k;
		int		bit;

		memcpy(b, a, sizeof(b));
		for (bit = bits - 1 - stepbit; v != 0; bit--, v >>= 1)
			if (v & 1)
				b[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
		inet_ntop(af, b, out, sizeof(out));
		*hs = rules_grow(*hs, cap, *n, sizeof(**hs));
		if (rules_check_hash(rs, kind, out, &(*hs)[*n], &err) != 0) {
			rules_error(rs, pos, "%s: %s", s, err);
			return;
		}
		(*n)++;
	}
	return;
bad:
	rules_error(rs, pos, "%s is not an address or CIDR", s);
}

/*
 * Build the set of values vals (as strings, at positions pos) for a left
 * side of type type (kind). Errors point at the offending value.
 */
struct rules_vset *
rules_check_vset(struct ruleset *rs, int type, int kind, char **vals,
    const struct rules_pos *pos, size_t nvals)
{
	struct rules_vset	*vs = rules_alloc(&rs->arena, sizeof(*vs));
	struct rg_hash		*hs = NULL;
	const char		*err;
	size_t			 i, j, cap = 0, n = 0;
	char			*end;

	vs->type = (uint8_t)type;
	vs->kind = (uint8_t)kind;
	if (type == T_STR) {
		vs->s = rules_alloc(&rs->arena, (nvals + 1) * sizeof(*vs->s));
		vs->pat = rules_alloc(&rs->arena, (nvals + 1) * sizeof(*vs->pat));
		for (i = 0; i < nvals; i++) {
			if (strchr(vals[i], '*') != NULL)
				vs->pat[vs->npat++] = vals[i];
			else
				vs->s[vs->n++] = vals[i];
		}
		qsort(vs->s, vs->n, sizeof(*vs->s), rules_check_scmp);
		return (vs);
	}
	if (type == T_NUM) {
		vs->d = rules_alloc(&rs->arena, (nvals + 1) * sizeof(*vs->d));
		for (i = 0; i < nvals; i++) {
			vs->d[n] = strtod(vals[i], &end);
			if (vals[i][0] == '\0' || *end != '\0')
				rules_error(rs, &pos[i], "%s is not a number",
				    vals[i]);
			else
				n++;
		}
		qsort(vs->d, n, sizeof(*vs->d), rules_check_dcmp);
		vs->n = n;
		return (vs);
	}
	for (i = 0; i < nvals; i++) {
		if ((kind == ENT_IP || kind == ENT_IP_PREFIX) &&
		    strchr(vals[i], '/') != NULL) {
			rules_check_cidr(rs, kind, vals[i], &pos[i], &hs, &n,
			    &cap);
			continue;
		}
		hs = rules_grow(hs, &cap, n, sizeof(*hs));
		if (rules_check_hash(rs, kind, vals[i], &hs[n], &err) != 0)
			rules_error(rs, &pos[i], "%s: %s", vals[i], err);
		else
			n++;
	}
	if (n != 0)
		qsort(hs, n, sizeof(*hs), rules_check_hcmp);
	for (i = j = 0; i < n; i++)
		if (j == 0 || memcmp(&hs[i], &hs[j - 1], sizeof(*hs)) != 0)
			hs[j++] = hs[i];
	vs->h = rules_alloc(&rs->arena, (j + 1) * sizeof(*vs->h));
	if (j != 0)
		memcpy(vs->h, hs, j * sizeof(*hs));
	vs->n = j;
	free(hs);
	return (vs);
}

/* Whether pattern p matches all of s ('*': any run; ASCII case ignored). */
static bool
rules_vset_glob(const char *p, const char *s)
{
	const char	*star = NULL, *back = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = ++p;
			back = s;
		} else if (*p != '\0' && tolower((unsigned char)*p) ==
		    tolower((unsigned char)*s)) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star;	/* let the last '*' take one more byte */
			s = ++back;
		} else
			return (false);
	}
	while (*p == '*')
		p++;
	return (*p == '\0');
}

bool
rules_vset_has(const struct rules_vset *vs, const struct rules_rval *v)
{
	size_t	lo = 0, hi = vs->n, mid, i;
	int	c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		switch (vs->type) {
		case T_STR:
			c = strcasecmp(v->s, vs->s[mid]);
			break;
		case T_NUM:
			c = v->n < vs->d[mid] ? -1 : v->n > vs->d[mid];
			break;
		default:
			c = memcmp(&v->h, &vs->h[mid], sizeof(v->h));
			break;
		}
		if (c == 0)
			return (true);
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	for (i = 0; i < vs->npat; i++)
		if (rules_vset_glob(vs->pat[i], v->s))
			return (true);
	return (false);
}

/* Convert constant c to the type of the other side, when it makes sense. */
static void
rules_check_coerce(struct rules_cctx *cc, struct rules_node *c,
    const struct rules_node *other)
{
	const char	*err;
	int64_t		 ms;

	if (c->op != N_CONST || c->type != T_STR)
		return;
	if (other->type == T_IDENT) {
		if (rules_check_hash(cc->rs, other->kind, c->v.s, &c->v.h,
		    &err) != 0) {
			rules_error(cc->rs, &c->pos, "\"%s\" as %s: %s", c->v.s,
			    ent_kind_name(other->kind), err);
			c->type = T_ERR;
			return;
		}
		c->type = c->v.type = T_IDENT;
		c->kind = c->v.kind = other->kind;
	} else if (other->type == T_TIME) {
		if (parse_rfc3339(c->v.s, strlen(c->v.s), &ms) != 0) {
			rules_error(cc->rs, &c->pos, "\"%s\" is not an RFC 3339 "
			    "time (2026-11-23T10:00:00Z)", c->v.s);
			c->type = T_ERR;
			return;
		}
		c->type = c->v.type = T_TIME;
		c->v.ms = ms;
	}
}

static int
rules_check_cmp(struct rules_cctx *cc, struct rules_node *n)
{
	struct rules_node	*l = n->kids[0], *r = n->kids[1];
	char			 b1[64], b2[64];
	int			 lt, rt;

	lt = rules_check_expr(cc, l);
	rt = rules_check_expr(cc, r);
	n->type = T_BOOL;
	if (lt == T_ERR || rt == T_ERR)
		return (T_BOOL);
	rules_check_coerce(cc, l, r);
	rules_check_coerce(cc, r, l);
	if (l->type == T_ERR || r->type == T_ERR)
		return (T_BOOL);
	if (l->type == T_LIST || r->type == T_LIST) {
		rules_error(cc->rs, &(l->type == T_LIST ? l : r)->pos,
		    "a list can only follow in (x in [...])");
		return (T_BOOL);
	}
	if (l->type != r->type) {
		rules_error(cc->rs, &n->pos, "cannot compare %s with %s",
		    rules_check_tname(l, b1, sizeof(b1)),
		    rules_check_tname(r, b2, sizeof(b2)));
		return (T_BOOL);
	}
	if (l->type == T_IDENT && l->kind != r->kind) {
		rules_error(cc->rs, &n->pos, "cannot compare %s with %s: "
		    "different kinds of identity never match",
		    rules_check_tname(l, b1, sizeof(b1)),
		    rules_check_tname(r, b2, sizeof(b2)));
		return (T_BOOL);
	}
	if (n->cmp != C_EQ && n->cmp != C_NE && l->type != T_NUM &&
	    l->type != T_DUR && l->type != T_TIME) {
		rules_error(cc->rs, &n->pos, "%s compares numbers, durations "
		    "or times, not %s; use == or !=", n->name,
		    rules_check_tname(l, b1, sizeof(b1)));
		return (T_BOOL);
	}
	if (r->op == N_CALL && l->op == N_CONST) {
		r = l;
		l = n->kids[1];
	}
	if (l->op == N_CALL && l->fn->cmax != 0 && r->op == N_CONST &&
	    r->v.n >= l->fn->cmax)
		rules_error(cc->rs, &n->pos, "%s can only be compared with "
		    "numbers below %u", l->fn->name, l->fn->cmax);
	return (T_BOOL);
}

/*
 * A call argument that must be a fact of referrer or referee: an
 * identity when ident_only, a key of the index. campaign is a key too
 * (the referral's programme, ENT_CAMPAIGN): a->kind is then ENT_CAMPAIGN.
 */
int
rules_check_key(struct rules_cctx *cc, struct rules_node *a, const char *fn,
    const char *what, bool ident_only)
{
	char	buf[64];

	if (a->op != N_WORD) {
		rules_error(cc->rs, &a->pos, "%s%s %s must be a fact of "
		    "referrer or referee (e.g. referrer.account)", fn,
		    RULES_POSS(fn), what);
		return (-1);
	}
	if (rules_check_word(cc, a) == T_ERR)
		return (-1);
	if (ident_only && a->party == PARTY_EVENT && a->fact == F_CAMPAIGN) {
		a->kind = ENT_CAMPAIGN;
		return (0);
	}
	if (a->party == PARTY_EVENT || (ident_only && a->type != T_IDENT) ||
	    a->type == T_BOOL) {
		rules_error(cc->rs, &a->pos, "%s%s %s must be %s of referrer "
		    "or referee (account, email, email.shape, email.name, ip, "
		    "ip.prefix, device, device.fuzzy, device.stable, "
		    "device.id, phone, phone.block, payment%s, not %s "
		    "(%s)",
		    fn, RULES_POSS(fn), what,
		    ident_only ? "an identity" : "a fact",
		    ident_only ? ") or campaign" : ", or a string or number "
		    "fact)", a->name, rules_check_tname(a, buf, sizeof(buf)));
		return (-1);
	}
	return (0);
}

int
rules_check_window(struct rules_cctx *cc, struct rules_node *a,
    const char *fn, bool since, int64_t *ms)
{
	char	buf[64];

	if (a->op == N_WORD && strcmp(a->name, "since") == 0) {
		if (a->nkids != 1 || strcmp(a->kids[0]->name, "referral") != 0) {
			rules_error(cc->rs, &(a->nkids ? a->kids[0] : a)->pos,
			    "a window can start at the referral (since "
			    "referral), not at %s", a->nkids ?
			    a->kids[0]->name : "nothing");
			return (-1);
		}
		if (!since) {
			rules_error(cc->rs, &a->pos, "%s%s window is a duration "
			    "such as 1h or 7d, not since referral", fn,
			    RULES_POSS(fn));
			return (-1);
		}
		*ms = RULES_SINCE_REFERRAL;
		return (0);
	}
	if (a->op != N_CONST || a->type != T_DUR) {
		if (a->op == N_WORD || a->op == N_CALL)
			rules_check_expr(cc, a);
		if (a->type != T_ERR)
			rules_error(cc->rs, &a->pos, "%s%s window must be a "
			    "duration such as 1h or 7d, not %s", fn,
			    RULES_POSS(fn), rules_check_tname(a, buf,
			    sizeof(buf)));
		return (-1);
	}
	if (a->v.ms <= 0) {
		rules_error(cc->rs, &a->pos, "%s%s window must be longer "
		    "than 0", fn, RULES_POSS(fn));
		return (-1);
	}
	*ms = a->v.ms;
	return (0);
}

int
rules_check_party(struct rules_cctx *cc, struct rules_node *a,
    const char *fn)
{
	if (a->op == N_WORD && strcmp(a->name, "referrer") == 0)
		return (PARTY_REFERRER);
	if (a->op == N_WORD && strcmp(a->name, "referee") == 0)
		return (PARTY_REFEREE);
	rules_error(cc->rs, &a->pos, "%s takes the parties referrer and "
	    "referee here", fn);
	return (-1);
}

/* "what is one of a, b or c; did you mean b?" unless a is one of them. */
int
rules_check_choice(struct rules_cctx *cc, struct rules_node *a,
    const char *what, const char *const *names, size_t n)
{
	struct sbuf	 sb;
	const char	*sug;
	size_t		 i;

	for (i = 0; a->op == N_WORD && i < n; i++)
		if (strcmp(a->name, names[i]) == 0)
			return ((int)i);
	sbuf_init(&sb, 128);
	for (i = 0; i < n; i++)
		sbuf_addf(&sb, "%s%s", i == 0 ? "" : (i + 1 == n ? " or " :
		    ", "), names[i]);
	sug = a->op == N_WORD ? rules_suggest(cc->rs, a->name, names, n) :
	    NULL;
	rules_error(cc->rs, &a->pos, "%s is one of %s%s%s%s", what, sb.buf,
	    sug ? "; did you mean " : "", sug ? sug : "", sug ? "?" : "");
	sbuf_free(&sb);
	return (-1);
}

/* A call of a built-in (rules_fn.c): its arity, then its own checker. */
static int
rules_check_call(struct rules_cctx *cc, struct rules_node *n)
{
	const struct rules_fn	*fn = NULL;
	const char		*names[64], *sug;
	size_t			 i, nn = 0;
	int			 t;

	for (i = 0; i < rules_nfns; i++) {
		if (rules_fns[i].flags & RF_OPERATOR)
			continue;
		if (strcmp(n->name, rules_fns[i].name) == 0)
			fn = &rules_fns[i];
		if (nn < nitems(names))
			names[nn++] = rules_fns[i].name;
	}
	n->type = T_ERR;
	if (fn == NULL) {
		sug = rules_suggest(cc->rs, n->name, names, nn);
		rules_error(cc->rs, &n->pos, "unknown function %s%s%s%s",
		    n->name, sug ? "; did you mean " : "", sug ? sug : "",
		    sug ? "?" : "");
		return (T_ERR);
	}
	if (n->nkids < fn->nmin || n->nkids > fn->nmax) {
		rules_error(cc->rs, &n->pos, "%s takes %d%s argument%s: %s",
		    n->name, fn->nmin, fn->nmax != fn->nmin ? " or more" : "",
		    fn->nmax != 1 ? "s" : "", fn->usage);
		return (T_ERR);
	}
	n->fn = fn;
	n->cost = fn->cost;
	if ((t = fn->check(cc, n)) == T_ERR)
		return (T_ERR);
	return (n->type = (uint8_t)t);
}

/* Nodes of the tree n. */
static size_t
rules_check_nodes(const struct rules_node *n)
{
	size_t	i, k = 1;

	for (i = 0; i < n->nkids; i++)
		k += rules_check_nodes(n->kids[i]);
	return (k);
}

/* A copy of the tree n in rs's arena: one use of a condition. */
static struct rules_node *
rules_check_copy(struct ruleset *rs, const struct rules_node *n)
{
	struct rules_node	*c = rules_alloc(&rs->arena, sizeof(*c));
	size_t			 i;

	rs->nexpanded++;
	*c = *n;
	if (n->nkids > 0) {
		c->kids = rules_alloc(&rs->arena, n->nkids * sizeof(*c->kids));
		for (i = 0; i < n->nkids; i++)
			c->kids[i] = rules_check_copy(rs, n->kids[i]);
	}
	return (c);
}

/*
 * Label the use n of condition name for explain: its root, or, when that
 * is and/or/not (explain shows no line for those), the operands below,
 * down to the first that is not; a part that is a condition of its own
 * keeps its name.
 */
static void
rules_check_label(struct rules_node *n, const char *name)
{
	size_t	i;

	if (n->cond != NULL)
		return;
	if (n->op == N_AND || n->op == N_OR || n->op == N_NOT) {
		for (i = 0; i < n->nkids; i++)
			rules_check_label(n->kids[i], name);
		return;
	}
	n->cond = name;
}

static const struct rules_named *rules_check_lookup(
    const struct rules_named *, size_t, const char *);

/*
 * n, a word naming a condition, becomes a copy of its when (as if written
 * out there, in parentheses). Errors and warnings in the condition are
 * reported once, at its first use; a condition that uses itself is an
 * error.
 */
static int
rules_check_cond(struct rules_cctx *cc, struct rules_node *n,
    struct rules_cond *c)
{
	struct rules_pos	 pos = n->pos;
	uint32_t		 end = n->end;
	unsigned		 nerrors = cc->rs->nerrors;
	char			 buf[64];
	int			 t;

	if (c->broken || c->when == NULL)
		return (n->type = T_ERR);
	if (c->expanding) {
		rules_error(cc->rs, &pos, "condition %s uses itself (directly "
		    "or through others)", c->name);
		c->broken = true;
		return (n->type = T_ERR);
	}
	if (cc->conds >= RULES_COND_NEST_MAX) {
		rules_error(cc->rs, &pos, "condition %s is used more than %d "
		    "conditions deep", c->name, RULES_COND_NEST_MAX);
		c->broken = true;
		return (n->type = T_ERR);
	}
	if (c->nodes == 0)
		c->nodes = rules_check_nodes(c->when);
	if (cc->rs->nexpanded + c->nodes > RULES_EXPAND_MAX) {
		rules_error(cc->rs, &pos, "conditions written out where they "
		    "are used take more than %d nodes in all: each use is a "
		    "copy, and a condition used twice by one used twice "
		    "doubles at each level", RULES_EXPAND_MAX);
		c->broken = true;
		return (n->type = T_ERR);
	}
	/* Its warnings were said at its first use. */
	if (c->used++ > 0)
		cc->rs->quiet++;
	*n = *rules_check_copy(cc->rs, c->when);
	n->paren = true;
	/*
	 * The use's place (errors about it as a whole point there); its
	 * text, and its operands' places, are the condition's.
	 */
	n->pos = pos;
	n->end = end;
	n->tsrc = c->when;
	c->expanding = true;
	cc->conds++;
	t = rules_check_expr(cc, n);
	cc->conds--;
	c->expanding = false;
	rules_check_label(n, c->name);
	if (c->used > 1)
		cc->rs->quiet--;
	if (t != T_BOOL && t != T_ERR) {
		rules_error(cc->rs, &c->when->pos, "condition %s must be true "
		    "or false, not %s", c->name, rules_check_tname(n, buf,
		    sizeof(buf)));
		t = T_ERR;
	}
	if (cc->rs->nerrors != nerrors) {
		c->broken = true;
		t = T_ERR;
	}
	return (n->type = (uint8_t)t);
}

int
rules_check_expr(struct rules_cctx *cc, struct rules_node *n)
{
	const struct rules_named	*c;
	char				 buf[64];
	size_t				 i;

	switch (n->op) {
	case N_CONST:
		n->cost = 0;
		return (n->type);
	case N_WORD:
		n->cost = 1;
		if (cc->ncondv > 0 && strchr(n->name, '.') == NULL &&
		    (c = rules_check_lookup(cc->condv, cc->ncondv,
		    n->name)) != NULL)
			return (rules_check_cond(cc, n,
			    &cc->rs->conds[c->i]));
		return (rules_check_word(cc, n));
	case N_LIST:
		return (n->type = T_LIST);
	case N_CALL:
		return (rules_check_call(cc, n));
	case N_NOT:
	case N_AND:
	case N_OR:
		for (i = 0; i < n->nkids; i++) {
			int	t = rules_check_expr(cc, n->kids[i]);

			if (n->op == N_OR && n->kids[i]->op == N_AND &&
			    !n->kids[i]->paren)
				rules_warn(cc->rs, &n->kids[i]->name_pos, "'and' "
				    "binds tighter than 'or' (a or b and c is "
				    "a or (b and c)): add parentheses to say "
				    "which is meant");

			if (t != T_BOOL && t != T_ERR)
				rules_error(cc->rs, &n->kids[i]->pos, "%s needs "
				    "conditions, not %s", n->op == N_NOT ? "not" :
				    (n->op == N_AND ? "and" : "or"),
				    rules_check_tname(n->kids[i], buf,
				    sizeof(buf)));
		}
		return (n->type = T_BOOL);
	case N_CMP:
		return (rules_check_cmp(cc, n));
	case N_IN:
		n->fn = rules_fn_in;
		return (n->type = (uint8_t)rules_fn_in->check(cc, n));
	}
	return (n->type = T_ERR);
}

/*
 * Source text of a node, blanks folded, for explain: at most
 * RULES_TEXT_MAX bytes ("..." ends a longer one), so that nested nodes
 * with long lists cost memory linear in the file.
 */
#define RULES_TEXT_MAX	1024
static const char *
rules_check_text(struct ruleset *rs, const struct rules_node *n)
{
	const struct rules_node	*t = n->tsrc != NULL ? n->tsrc : n;
	const char	*s = rs->srcs[t->pos.src].text + t->pos.off;
	size_t		 len = t->end > t->pos.off ? t->end - t->pos.off : 0;
	size_t		 clen = n->cond != NULL ? strlen(n->cond) + 2 : 0;
	char		*out, *o;
	size_t		 i;
	bool		 cut = len > RULES_TEXT_MAX;

	if (cut)
		len = RULES_TEXT_MAX - 3;
	out = o = rules_alloc(&rs->arena, clen + len + (cut ? 3 : 0) + 1);
	/* A condition's use: "name: its text". */
	if (clen > 0) {
		memcpy(o, n->cond, clen - 2);
		memcpy(o + clen - 2, ": ", 2);
		o += clen;
	}

	for (i = 0; i < len; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
		    s[i] == '\r') {
			if (o != out + clen && o[-1] != ' ')
				*o++ = ' ';
		} else
			*o++ = s[i];
	}
	if (cut) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o = '\0';
	return (out);
}

/* n's text, and the same as a JSON string: what each explain writes. */
static void
rules_check_settext(struct rules_cctx *cc, struct rules_node *n)
{
	struct sbuf	*sb = &cc->jtext;

	n->text = rules_check_text(cc->rs, n);
	sbuf_reset(sb);
	sbuf_add_jstr(sb, n->text, strlen(n->text));
	n->jtext = rules_alloc(&cc->rs->arena, sb->len);
	memcpy(n->jtext, sb->buf, sb->len);
	n->jtextlen = sb->len;
}

/* Whether calls a and b may share one result slot. */
static int
rules_check_same(const struct rules_node *a, const struct rules_node *b)
{
	/* One referred() walk serves every hop count: it reports its hop. */
	return (a->fn == b->fn && a->party == b->party && a->kind == b->kind &&
	    a->window == b->window && a->type_mask == b->type_mask &&
	    a->role_mask == b->role_mask && a->label == b->label &&
	    a->wparty == b->wparty && a->wfact == b->wfact &&
	    a->arg == b->arg && a->kinds == b->kinds && a->apart == b->apart &&
	    a->party2 == b->party2 && a->kind2 == b->kind2 &&
	    ((a->fn->flags & RF_HOPS) || a->hops == b->hops));
}

static int
rules_check_costcmp(const void *x, const void *y)
{
	const struct rules_node	*a = *(struct rules_node *const *)x;
	const struct rules_node	*b = *(struct rules_node *const *)y;

	if (a->cost != b->cost)
		return (a->cost < b->cost ? -1 : 1);
	return (a->pos.off < b->pos.off ? -1 : a->pos.off > b->pos.off);
}

/* Costs, limits, operand order, result slots, explain texts. */
static void
rules_check_compile(struct rules_cctx *cc, struct rules_node *n)
{
	struct ruleset		*rs = cc->rs;
	struct rules_node	*h, *c, *tmp;
	size_t			 i;
	double			 lim;
	int			 s;

	for (i = 0; i < n->nkids; i++)
		rules_check_compile(cc, n->kids[i]);
	switch (n->op) {
	case N_NOT:
		n->cost = n->kids[0]->cost;
		break;
	case N_AND:
	case N_OR:
		n->cost = 0;
		for (i = 0; i < n->nkids; i++)
			n->cost += n->kids[i]->cost;
		/* and/or have no side effects: cheapest operand first. */
		qsort(n->kids, n->nkids, sizeof(*n->kids), rules_check_costcmp);
		break;
	case N_CMP:
		/* A count on the left of a constant: flip "10 < count(...)". */
		if (n->kids[0]->op == N_CONST && n->kids[1]->op == N_CALL &&
		    (n->kids[1]->fn->flags & RF_BOUND)) {
			static const uint8_t flip[] = { [C_EQ] = C_EQ,
			    [C_NE] = C_NE, [C_LT] = C_GT, [C_LE] = C_GE,
			    [C_GT] = C_LT, [C_GE] = C_LE };

			tmp = n->kids[0];
			n->kids[0] = n->kids[1];
			n->kids[1] = tmp;
			n->cmp = flip[n->cmp];
		}
		h = n->kids[0];
		c = n->kids[1];
		if (h->op == N_CALL && (h->fn->flags & RF_BOUND) &&
		    c->op == N_CONST && c->type == T_NUM) {
			/*
			 * min(count, floor(c) + 1) decides any comparison,
			 * and min(count, ceil(c)) decides ">= c" and "< c"
			 * (the count never falls): "cluster(...) >= 1" stops
			 * at the first account. The function's own limit
			 * (where it saturates) stays when that is larger.
			 */
			if (c->v.n < 0)
				lim = 1;
			else if (c->v.n + 1 >= (double)h->limit)
				lim = (double)h->limit;
			else if (n->cmp == C_GE || n->cmp == C_LT) {
				lim = (double)(uint64_t)c->v.n;	/* ceil(c) */
				if (lim < c->v.n || lim < 1)
					lim += 1;
			} else
				lim = (double)(uint64_t)c->v.n + 1;
			if (lim < (double)h->limit)
				h->limit = (uint64_t)lim;
		}
		n->cost = n->kids[0]->cost + n->kids[1]->cost + 1;
		rules_check_settext(cc, n);
		break;
	case N_IN:
	case N_FACT:
		rules_check_settext(cc, n);
		break;
	case N_CALL:
		rules_check_settext(cc, n);
		if (!(n->fn->flags & RF_SLOT))
			break;
		for (s = 0; s < rs->nslots; s++)
			if (rules_check_same(cc->slots[s], n))
				break;
		if (s == rs->nslots && s < RULES_SLOTS)
			cc->slots[rs->nslots++] = n;
		n->slot = s < RULES_SLOTS ? s : -1;
		break;
	}
}

static void
rules_check_walk(struct rules_cctx *cc, struct rules_node *n, int set)
{
	size_t	i;

	for (i = 0; i < n->nkids; i++)
		rules_check_walk(cc, n->kids[i], set);
	if (n->op != N_CALL || !(n->fn->flags & RF_HOPS))
		return;
	if (n->slot < 0)
		n->walk = n->hops;
	else if (!set && cc->slots[n->slot]->walk < n->hops)
		cc->slots[n->slot]->walk = n->hops;
	else if (set)
		n->walk = cc->slots[n->slot]->walk;
}

/*
 * The depth of tree n below depth d, not looking further than one past
 * RULES_DEPTH_MAX: what every walk of the tree and the evaluator's stack
 * are bounded by (rules_int.h, Nesting).
 */
static int
rules_check_depth(const struct rules_node *n, int d)
{
	int	m = d, k;
	size_t	i;

	if (d > RULES_DEPTH_MAX)
		return (d);
	for (i = 0; i < n->nkids; i++)
		if ((k = rules_check_depth(n->kids[i], d + 1)) > m)
			m = k;
	return (m);
}

static int
rules_check_namecmp(const void *x, const void *y)
{
	const struct rules_named	*a = x, *b = y;
	int				 c = strcmp(a->name, b->name);

	if (c != 0)
		return (c);
	return (a->i < b->i ? -1 : a->i > b->i);
}

/*
 * Sort v (n names of what) and report each name given again, pointing at
 * where it was first.
 */
static void
rules_check_dups(struct ruleset *rs, const char *what,
    struct rules_named *v, size_t n)
{
	char	buf[128];
	size_t	i, first = 0;

	qsort(v, n, sizeof(*v), rules_check_namecmp);
	for (i = 1; i < n; i++) {
		if (strcmp(v[i].name, v[first].name) != 0) {
			first = i;
			continue;
		}
		rules_pos_str(rs, v[first].pos, buf, sizeof(buf));
		rules_error(rs, v[i].pos, "duplicate %s name %s (first defined "
		    "at %s)", what, v[i].name, buf);
	}
}

/* The first of sorted v (n) named name, or NULL. */
static const struct rules_named *
rules_check_lookup(const struct rules_named *v, size_t n, const char *name)
{
	size_t	lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < n && strcmp(v[lo].name, name) == 0 ? &v[lo] : NULL);
}

struct rules_list *
rules_list_find(const struct ruleset *rs, const char *name)
{
	size_t	lo = 0, hi = rs->nlists, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(rs->byname[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < rs->nlists && strcmp(rs->byname[lo]->name, name) == 0 ?
	    rs->byname[lo] : NULL);
}

/* Suggestions look among this many names at most (a typo's neighbours). */
#define RULES_SUGGEST_NAMES	1024

/*
 * Names in a test's expectations must be rules of the right mode: byrule
 * holds the rules' names, sorted; sugg (nsugg) those a typo is matched
 * against.
 */
static void
rules_check_names(struct ruleset *rs, struct rules_test *t,
    struct rules_names *nm, int want_shadow,
    const struct rules_named *byrule, const char *const *sugg, size_t nsugg)
{
	const struct rules_named	*f;
	const char			*sug;
	size_t				 i, j;

	if (!nm->set)
		return;
	nm->idx = rules_alloc(&rs->arena, (nm->n + 1) * sizeof(*nm->idx));
	for (i = 0; i < nm->n; i++) {
		if ((f = rules_check_lookup(byrule, rs->nrules,
		    nm->v[i])) != NULL)
			j = f->i;
		else {
			sug = rules_suggest(rs, nm->v[i], sugg, nsugg);
			rules_error(rs, &nm->pos[i], "test %s: unknown rule %s%s%s%s",
			    t->name, nm->v[i], sug ? "; did you mean " : "",
			    sug ? sug : "", sug ? "?" : "");
			continue;
		}
		nm->idx[i] = (uint32_t)j;
		if (want_shadow == 1 && !rs->rules[j].shadow)
			rules_error(rs, &nm->pos[i], "test %s: %s is not a shadow "
			    "rule; list it under reasons", t->name, nm->v[i]);
		else if (want_shadow == 0 && rs->rules[j].shadow)
			rules_error(rs, &nm->pos[i], "test %s: %s is a shadow "
			    "rule; list it under shadow", t->name, nm->v[i]);
	}
}

/* assume FACT == VALUE: a readable fact and a constant of its type. */
static void
rules_check_assume(struct rules_cctx *cc, struct rules_test *t,
    struct rules_assume *a)
{
	char		b1[64], b2[64];
	uint32_t	max;

	if (rules_check_word(cc, a->fact) == T_ERR)
		return;
	if (!rules_fact_settable(a->fact->party, a->fact->fact)) {
		rules_error(cc->rs, &a->fact->pos, "test %s: assume sets what "
		    "the databases give (email.domain, email.disposable, "
		    "email.tagged, ip.*, geo.*, device.tz_country, "
		    "device.emulator, device.browser, device.model, "
		    "device.lang_country, phone.country) of referrer or "
		    "referee, not %s",
		    t->name, a->fact->name);
		return;
	}
	if (a->val->op != N_CONST) {
		rules_error(cc->rs, &a->val->pos, "test %s: assume sets %s to "
		    "a constant (a string, a number, true or false)", t->name,
		    a->fact->name);
		return;
	}
	if (a->val->type != a->fact->type) {
		rules_error(cc->rs, &a->val->pos, "test %s: %s is %s, not %s",
		    t->name, a->fact->name,
		    rules_check_tname(a->fact, b1, sizeof(b1)),
		    rules_check_tname(a->val, b2, sizeof(b2)));
		return;
	}
	max = rules_fact_max(a->fact->fact);
	if (max != 0 && (a->val->v.n < 0 ||
	    a->val->v.n > max || a->val->v.n != floor(a->val->v.n)))
		rules_error(cc->rs, &a->val->pos, "test %s: %s is a whole "
		    "number from 0 to %u", t->name, a->fact->name, max);
}

/* The index of the group called name among those known, or -1. */
static int
rules_group_find(const struct ruleset *rs, const char *name)
{
	size_t	i;

	for (i = 0; i < rs->ngroups; i++)
		if (strcmp(rs->groups[i].name, name) == 0)
			return ((int)i);
	return (-1);
}

/*
 * Score groups: each rule's group by name (rules_group gi), then each
 * cap on the group it names, which some rule must belong to. Past
 * RULES_GROUPS_MAX the groups left out are not known, so a cap on one
 * is not said to name no rule's group: the rules' errors say why.
 */
static void
rules_check_groups(struct ruleset *rs)
{
	struct rules_rule	*r;
	struct rules_group	*g;
	const struct rules_cap	*c;
	char			 buf[128];
	size_t			 i;
	int			 j;
	bool			 full = false;

	for (i = 0; i < rs->nrules; i++) {
		r = &rs->rules[i];
		r->gi = -1;
		if (r->group == NULL)
			continue;
		if ((j = rules_group_find(rs, r->group)) == -1) {
			if (rs->ngroups == RULES_GROUPS_MAX) {
				rules_error(rs, &r->group_pos, "rule %s: more "
				    "than %d score groups", r->name,
				    RULES_GROUPS_MAX);
				full = true;
				continue;
			}
			j = (int)rs->ngroups++;
			g = &rs->groups[j];
			g->name = r->group;
			g->cap = INT64_MAX;
		}
		r->gi = j;
	}
	for (i = 0; i < rs->ncaps; i++) {
		c = &rs->caps[i];
		if ((j = rules_group_find(rs, c->name)) == -1) {
			if (full)
				continue;
			rules_error(rs, &c->pos, "cap on group %s, which no "
			    "rule belongs to (a rule joins one with \"group "
			    "%s\")", c->name, c->name);
			continue;
		}
		g = &rs->groups[j];
		if (g->cap != INT64_MAX) {
			rules_pos_str(rs, &g->cap_pos, buf, sizeof(buf));
			rules_error(rs, &c->pos, "cap on group %s given twice "
			    "(first at %s)", c->name, buf);
			continue;
		}
		g->cap = c->at;
		g->cap_pos = c->pos;
	}
}

static void
rules_check_verdict(struct ruleset *rs)
{
	int64_t		max = 0, gmax[RULES_GROUPS_MAX];
	size_t		i;
	char		buf[128];
	const char	*capped = "";

	memset(gmax, 0, sizeof(gmax));
	for (i = 0; i < rs->nrules; i++) {
		if (rs->rules[i].shadow || rs->rules[i].score <= 0)
			continue;
		if (rs->rules[i].gi >= 0)
			gmax[rs->rules[i].gi] += rs->rules[i].score;
		else
			max += rs->rules[i].score;
	}
	for (i = 0; i < rs->ngroups; i++) {
		if (gmax[i] > rs->groups[i].cap)
			capped = ", their groups capped";
		max += rules_group_score(&rs->groups[i], gmax[i]);
	}
	if (rs->review_at != INT64_MAX && rs->deny_at != INT64_MAX &&
	    rs->review_at >= rs->deny_at) {
		rules_pos_str(rs, &rs->deny_pos, buf, sizeof(buf));
		rules_error(rs, &rs->review_pos, "review threshold (score >= "
		    "%lld) is unreachable: deny applies from score >= %lld (%s)",
		    (long long)rs->review_at, (long long)rs->deny_at, buf);
	}
	if (rs->review_at != INT64_MAX && rs->review_at > max)
		rules_error(rs, &rs->review_pos, "review threshold (score >= "
		    "%lld) is unreachable: the enforcing rules' scores add up "
		    "to at most %lld%s", (long long)rs->review_at,
		    (long long)max, capped);
	if (rs->deny_at != INT64_MAX && rs->deny_at > max)
		rules_error(rs, &rs->deny_pos, "deny threshold (score >= %lld) "
		    "is unreachable: the enforcing rules' scores add up to at "
		    "most %lld%s", (long long)rs->deny_at, (long long)max,
		    capped);
}

/*
 * A condition's name is a plain word: not a fact's, not a reserved one.
 * A misnamed condition is not looked at further.
 */
static void
rules_check_condname(struct ruleset *rs, struct rules_cond *c)
{
	/* Words the language gives a meaning where a condition may stand. */
	static const char *const reserved[] = { "true", "false", "since",
	    "referrer", "referee", "referral", "any", "and", "or", "not",
	    "in", "list", "rule", "condition", "verdict", "include", "test",
	    "desc", "when", "action", "score", "mode", "tags", "group",
	    "fraud", "legit", "chargeback", "abuse" };
	const char	*why = NULL;
	uint8_t		 party, fact;
	size_t		 i;

	if (strlen(c->name) > RULES_COND_NAME_MAX) {
		rules_error(rs, &c->pos, "condition name longer than %d bytes",
		    RULES_COND_NAME_MAX);
		c->broken = true;
		return;
	}
	if (rgev_type_from_name(c->name) > 0)
		why = "is an event type";
	else if (strchr(c->name, '.') != NULL)
		why = "has a dot: names with dots are facts";
	else if (rules_check_fact(c->name, &party, &fact) == 0)
		why = "is a fact's";
	for (i = 0; why == NULL && i < nitems(reserved); i++)
		if (strcmp(c->name, reserved[i]) == 0)
			why = "is a word of the language";
	if (why != NULL) {
		rules_error(rs, &c->pos, "condition name %s %s", c->name, why);
		c->broken = true;
	}
}

/*
 * A condition no rule uses is still checked, once, so that its errors
 * show (when the rest has none); what it would index (pairs of keys)
 * is not kept.
 */
static void
rules_check_unused_conds(struct rules_cctx *cc)
{
	struct ruleset		*rs = cc->rs;
	struct rules_cond	*c;
	struct rules_node	 use;
	size_t			 i, npairs = rs->npairs;

	/*
	 * After an error, a condition's users may not have been written
	 * out: it would look unused. Its own errors show once the rest
	 * is right.
	 */
	if (rs->nerrors > 0)
		return;
	/* Unused by rules: those only unused ones use too, in any order. */
	for (i = 0; i < rs->nconds; i++) {
		c = &rs->conds[i];
		if (c->used == 0 && !c->broken)
			rules_warn(rs, &c->pos, "condition %s is never used",
			    c->name);
	}
	for (i = 0; i < rs->nconds; i++) {
		c = &rs->conds[i];
		if (c->used > 0 || c->broken)
			continue;
		memset(&use, 0, sizeof(use));
		use.op = N_WORD;
		use.pos = c->pos;
		use.name = c->name;
		rules_check_cond(cc, &use, c);
	}
	rs->npairs = npairs;
}

void
rules_check(struct ruleset *rs)
{
	struct rules_cctx	 cc;
	struct rules_rule	*r;
	struct rules_named	*byrule, *v;
	const char		**sugg;
	char			 buf[128];
	size_t			 i, j, nsugg;
	int			 t;

	memset(&cc, 0, sizeof(cc));
	cc.rs = rs;
	if (rs->id != NULL) {
		rs->list_seed = ident_list_seed(rs->id);
		rs->have_list_seed = true;
	}
	/* Names first: rules look lists and conditions up, tests rules. */
	byrule = xreallocarray(NULL, rs->nrules + 1, sizeof(*byrule));
	for (i = 0; i < rs->nrules; i++)
		byrule[i] = (struct rules_named){ rs->rules[i].name,
		    &rs->rules[i].pos, i };
	rules_check_dups(rs, "rule", byrule, rs->nrules);
	v = xreallocarray(NULL, rs->nlists + 1, sizeof(*v));
	for (i = 0; i < rs->nlists; i++)
		v[i] = (struct rules_named){ rs->lists[i].name,
		    &rs->lists[i].pos, i };
	rules_check_dups(rs, "list", v, rs->nlists);
	rs->byname = xreallocarray(NULL, rs->nlists + 1, sizeof(*rs->byname));
	for (i = 0; i < rs->nlists; i++)
		rs->byname[i] = &rs->lists[v[i].i];
	v = xreallocarray(v, rs->ntests + 1, sizeof(*v));
	for (i = 0; i < rs->ntests; i++)
		v[i] = (struct rules_named){ rs->tests[i].name,
		    &rs->tests[i].pos, i };
	rules_check_dups(rs, "test", v, rs->ntests);
	free(v);
	cc.condv = xreallocarray(NULL, rs->nconds + 1, sizeof(*cc.condv));
	for (i = 0; i < rs->nconds; i++) {
		cc.condv[i] = (struct rules_named){ rs->conds[i].name,
		    &rs->conds[i].pos, i };
		rules_check_condname(rs, &rs->conds[i]);
	}
	cc.ncondv = rs->nconds;
	rules_check_dups(rs, "condition", cc.condv, cc.ncondv);
	/* A name given again is reported; only its first is looked up. */
	for (i = 1; i < cc.ncondv; i++)
		if (strcmp(cc.condv[i].name, cc.condv[i - 1].name) == 0)
			rs->conds[cc.condv[i].i].broken = true;
	for (i = 0; i < rs->nrules; i++) {
		r = &rs->rules[i];
		if (r->action == -1 && !r->broken)
			rules_error(rs, &r->pos, "rule %s has no action "
			    "(allow, review or deny)", r->name);
		if (r->when == NULL) {
			if (!r->has_when && !r->broken)
				rules_error(rs, &r->pos, "rule %s has no when",
				    r->name);
			continue;
		}
		if (rules_check_depth(r->when, 1) > RULES_DEPTH_MAX) {
			rules_error(rs, &r->when->pos, "rule %s: expression "
			    "deeper than %d nodes", r->name, RULES_DEPTH_MAX);
			continue;
		}
		cc.rule = r;
		t = rules_check_expr(&cc, r->when);
		if (t != T_BOOL && t != T_ERR)
			rules_error(rs, &r->when->pos, "when needs a condition, "
			    "not %s", rules_check_tname(r->when, buf,
			    sizeof(buf)));
		else if (t == T_BOOL &&
		    rules_check_depth(r->when, 1) > RULES_DEPTH_MAX)
			rules_error(rs, &r->when->pos, "rule %s: expression "
			    "deeper than %d nodes with its conditions written "
			    "out", r->name, RULES_DEPTH_MAX);
	}
	cc.rule = NULL;
	rules_check_unused_conds(&cc);
	free(cc.condv);
	cc.condv = NULL;
	cc.ncondv = 0;
	nsugg = rs->nrules < RULES_SUGGEST_NAMES ? rs->nrules :
	    RULES_SUGGEST_NAMES;
	sugg = xreallocarray(NULL, nsugg + 1, sizeof(*sugg));
	for (i = 0; i < nsugg; i++)
		sugg[i] = rs->rules[i].name;
	for (i = 0; i < rs->ntests; i++) {
		struct rules_test	*te = &rs->tests[i];

		rules_check_names(rs, te, &te->reasons, 0, byrule, sugg, nsugg);
		rules_check_names(rs, te, &te->shadow, 1, byrule, sugg, nsugg);
		rules_check_names(rs, te, &te->includes, -1, byrule, sugg,
		    nsugg);
		rules_check_names(rs, te, &te->excludes, -1, byrule, sugg,
		    nsugg);
		for (j = 0; j < te->nassume; j++)
			rules_check_assume(&cc, te, &te->assume[j]);
		for (j = 0; j < te->nlines; j++)
			if (te->lines[j].assume != NULL)
				rules_check_assume(&cc, te,
				    te->lines[j].assume);
	}
	free(sugg);
	free(byrule);
	rules_check_groups(rs);
	if (rs->have_verdict)
		rules_check_verdict(rs);
	if (rs->nerrors != 0)
		return;
	for (i = 0; i < rs->nrules; i++)
		rules_check_compile(&cc, rs->rules[i].when);
	sbuf_free(&cc.jtext);
	/* A shared walk goes as far as the farthest of its users. */
	for (i = 0; i < rs->nrules; i++)
		rules_check_walk(&cc, rs->rules[i].when, 0);
	for (i = 0; i < rs->nrules; i++)
		rules_check_walk(&cc, rs->rules[i].when, 1);
	for (i = 0; i < rs->nlists; i++) {
		for (j = 0; j < nitems(rs->lists[i].sets); j++)
			if (rs->lists[i].sets[j] != NULL)
				break;
		if (j == nitems(rs->lists[i].sets))
			rules_warn(rs, &rs->lists[i].pos, "list %s is never "
			    "used", rs->lists[i].name);
	}
}

int
rules_list_kinds(const struct ruleset *rs, const char *name, uint64_t *kinds)
{
	const struct rules_list	*l;
	size_t			 j;

	*kinds = 0;
	if ((l = rules_list_find(rs, name)) != NULL) {
		for (j = 1; j < ENT__MAX; j++)
			if (l->sets[j] != NULL)
				*kinds |= 1ULL << j;
		if (l->sets[ENT__MAX] != NULL)
			*kinds |= 1ULL << LIST_KIND_STRING;
		if (l->sets[ENT__MAX + 1] != NULL)
			*kinds |= 1ULL << LIST_KIND_NUMBER;
		return (0);
	}
	return (-1);
}
