/*
 * rules_parse.c: the syntax of rule files, into the tree of rules_int.h.
 *
 *   file    = { rule | condition | list | verdict | include | test }
 *   rule    = "rule" NAME "{" { "desc" STRING | "when" expr
 *             | "action" ACTION | "score" INT | "mode" MODE
 *             | "tags" "[" STRING { "," STRING } "]" | "group" NAME } "}"
 *   condition = "condition" NAME "{" { "desc" STRING | "when" expr } "}"
 *   list    = "list" NAME ( "file" STRING | "[" value { "," value } "]" )
 *   verdict = "verdict" "{" { ACTION "when" "score" (">=" | ">") INT
 *             | "cap" NAME "at" INT } "}"
 *   include = "include" STRING
 *   test    = "test" NAME "{" "given" "{" LINES "}" "expect" ACTION
 *             { "score" INT | NAMES-KEYWORD "[" { NAME [","] } "]" } "}"
 *   expr    = and { "or" and }      and = not { "and" not }
 *   not     = "not" not | cmp
 *   cmp     = primary [ CMPOP primary | ["not"] "in" ( "list" NAME | list ) ]
 *   primary = "(" expr ")" | STRING | ["-"] NUMBER | DURATION | "true"
 *             | "false" | list | NAME "(" [ expr { "," expr } ] ")" | NAME
 *             | "since" NAME
 *
 * Errors are reported and parsing goes on: after a syntax error the
 * parser skips to the next attribute, block or top-level keyword, and
 * reports nothing more until it gets there (no cascades).
 */
#include "config.h"

#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>

#include "rules_int.h"
#include "util.h"

struct rules_parser {
	struct ruleset		*rs;
	struct rules_lex	 lx;
	uint32_t		 src;
	uint32_t		 prev_end;
	rules_include_cb	 inc;
	int			 depth;		/* RULES_NEST_MAX */
};

static const char *const rules_top_words[] = {
	"rule", "condition", "list", "verdict", "include", "test",
};
static const char *const rules_rule_words[] = {
	"desc", "when", "action", "score", "mode", "tags", "group",
};
static const char *const rules_cond_words[] = { "desc", "when" };
static const char *const rules_test_words[] = {
	"given", "expect", "score", "reasons", "shadow", "includes",
	"excludes", "assume",
};
static const char *const rules_action_words[] = { "allow", "review", "deny" };

static struct rules_node *rules_parse_or(struct rules_parser *);

#define TOK(p)	(&(p)->lx.tok)

static void
rules_parse_next(struct rules_parser *p)
{
	p->prev_end = TOK(p)->end;
	rules_lex_next(&p->lx);
}

static int
rules_parse_is(struct rules_parser *p, const char *word)
{
	return (TOK(p)->t == TK_WORD && strcmp(TOK(p)->str, word) == 0);
}

static int
rules_parse_in(struct rules_parser *p, const char *const *words, size_t n)
{
	size_t	i;

	if (TOK(p)->t != TK_WORD)
		return (0);
	for (i = 0; i < n; i++)
		if (strcmp(TOK(p)->str, words[i]) == 0)
			return (1);
	return (0);
}

/* At the end of the file or a keyword that only starts a block. */
static int
rules_parse_at_top(struct rules_parser *p)
{
	return (TOK(p)->t == TK_EOF || rules_parse_is(p, "rule") ||
	    rules_parse_is(p, "condition") || rules_parse_is(p, "verdict") ||
	    rules_parse_is(p, "test") || rules_parse_is(p, "include"));
}

/* Describe the current token for "found ..." in messages. */
static void
rules_parse_found(struct rules_parser *p, char *buf, size_t cap)
{
	const struct rules_tok	*tk = TOK(p);

	switch (tk->t) {
	case TK_WORD:
		snprintf(buf, cap, "'%.40s'", tk->str);
		break;
	case TK_NUMBER:
	case TK_DURATION:
		snprintf(buf, cap, "%s %.*s", rules_lex_tkname(tk->t),
		    (int)(tk->len > 40 ? 40 : tk->len), tk->p);
		break;
	case TK_EOF:
		/* A given block's assume line is lexed alone. */
		snprintf(buf, cap, "%s", p->lx.len < p->rs->srcs[p->src].len ?
		    "the end of the line" : rules_lex_tkname(tk->t));
		break;
	default:
		snprintf(buf, cap, "%s", rules_lex_tkname(tk->t));
		break;
	}
}

/*
 * A syntax error at the current token, unless resynchronizing; after
 * the previous token when after is set (what is missing there), and at
 * the end of a line lexed alone (not past its comment).
 */
static void
rules_parse_expected_at(struct rules_parser *p, const char *what, bool after)
{
	struct rules_pos	 pos = TOK(p)->pos;
	char			 found[64];

	if (!p->rs->panic && TOK(p)->t != TK_BAD) {
		rules_parse_found(p, found, sizeof(found));
		if (after || (TOK(p)->t == TK_EOF &&
		    p->lx.len < p->rs->srcs[p->src].len))
			rules_lex_pos_before(&p->lx, p->prev_end, &pos);
		rules_error(p->rs, &pos, "expected %s, found %s", what, found);
	}
	p->rs->panic = true;
}

static void
rules_parse_expected(struct rules_parser *p, const char *what)
{
	rules_parse_expected_at(p, what, false);
}

static int
rules_parse_expect(struct rules_parser *p, enum rules_tk t)
{
	if (TOK(p)->t != t) {
		rules_parse_expected(p, rules_lex_tkname(t));
		return (-1);
	}
	rules_parse_next(p);
	return (0);
}

static char *
rules_parse_word(struct rules_parser *p, const char *what,
    struct rules_pos *pos)
{
	char	*s;

	if (TOK(p)->t != TK_WORD) {
		rules_parse_expected(p, what);
		return (NULL);
	}
	if (pos != NULL)
		*pos = TOK(p)->pos;
	s = TOK(p)->str;
	rules_parse_next(p);
	return (s);
}

/* An integer, optionally negative. */
static int
rules_parse_int(struct rules_parser *p, int64_t *v, struct rules_pos *pos)
{
	int	neg = 0;

	*pos = TOK(p)->pos;
	if (TOK(p)->t == TK_MINUS) {
		neg = 1;
		rules_parse_next(p);
	}
	if (TOK(p)->t != TK_NUMBER) {
		rules_parse_expected(p, "a whole number");
		return (-1);
	}
	if (TOK(p)->num > 1e9 ||
	    TOK(p)->num != (double)(int64_t)TOK(p)->num) {
		rules_error(p->rs, &TOK(p)->pos, "expected a whole number "
		    "up to 1000000000");
		rules_parse_next(p);
		return (-1);
	}
	*v = neg ? -(int64_t)TOK(p)->num : (int64_t)TOK(p)->num;
	rules_parse_next(p);
	return (0);
}

static int
rules_parse_action(struct rules_parser *p, const char *what)
{
	const char	*sug;
	size_t		 i;

	if (TOK(p)->t == TK_WORD) {
		for (i = 0; i < nitems(rules_action_words); i++) {
			if (strcmp(TOK(p)->str, rules_action_words[i]) == 0) {
				rules_parse_next(p);
				return ((int)i);
			}
		}
		sug = rules_suggest(p->rs, TOK(p)->str, rules_action_words,
		    nitems(rules_action_words));
		rules_error(p->rs, &TOK(p)->pos, "unknown action %s (%s is "
		    "allow, review or deny)%s%s%s", TOK(p)->str, what,
		    sug != NULL ? "; did you mean " : "", sug != NULL ? sug : "",
		    sug != NULL ? "?" : "");
		rules_parse_next(p);
		return (-1);
	}
	rules_parse_expected(p, "allow, review or deny");
	return (-1);
}

/*
 * Skip to where parsing can go on: a word of words (or '}' closing the
 * block, or a top-level keyword when top) at nesting depth 0.
 */
static void
rules_parse_sync(struct rules_parser *p, const char *const *words, size_t n,
    int top)
{
	int	depth = 0;

	for (;;) {
		switch (TOK(p)->t) {
		case TK_EOF:
			goto out;
		case TK_LBRACE:
		case TK_LPAREN:
		case TK_LBRACK:
			depth++;
			break;
		case TK_RBRACE:
			if (depth == 0 && !top)
				goto out;
			/* FALLTHROUGH */
		case TK_RPAREN:
		case TK_RBRACK:
			if (depth > 0)
				depth--;
			break;
		case TK_WORD:
			if (depth == 0 && (rules_parse_in(p, words, n) ||
			    rules_parse_in(p, rules_top_words,
			    nitems(rules_top_words))) &&
			    (top || !rules_parse_is(p, "list")))
				goto out;
			break;
		default:
			break;
		}
		rules_parse_next(p);
	}
out:
	p->rs->panic = false;
}

/*
 * Open one level of nesting at the current token (rules_int.h, Nesting);
 * -1, reported, past RULES_NEST_MAX. rules_parse_leave() closes it; the
 * count starts again at each expression (rules_parse_expr).
 */
static int
rules_parse_enter(struct rules_parser *p)
{
	if (p->depth >= RULES_NEST_MAX) {
		if (!p->rs->panic)
			rules_error(p->rs, &TOK(p)->pos, "expression nests "
			    "deeper than %d levels (each '(', not, call and "
			    "list counts one)", RULES_NEST_MAX);
		p->rs->panic = true;
		return (-1);
	}
	p->depth++;
	return (0);
}

static void
rules_parse_leave(struct rules_parser *p)
{
	p->depth--;
}

static struct rules_node *
rules_parse_node(struct rules_parser *p, int op, const struct rules_pos *pos)
{
	struct rules_node	*n = rules_alloc(&p->rs->arena, sizeof(*n));

	n->op = (uint8_t)op;
	n->pos = *pos;
	n->slot = -1;
	return (n);
}

static void
rules_parse_kid(struct rules_parser *p, struct rules_node *n,
    struct rules_node *kid, size_t *cap)
{
	if (n->nkids == *cap) {
		struct rules_node	**k;

		*cap = *cap == 0 ? 4 : *cap * 2;
		k = rules_alloc(&p->rs->arena, *cap * sizeof(*k));
		if (n->nkids != 0)
			memcpy(k, n->kids, n->nkids * sizeof(*k));
		n->kids = k;
	}
	n->kids[n->nkids++] = kid;
}

/* "[" a, b, ... "]" of constant primaries. */
static struct rules_node *
rules_parse_list(struct rules_parser *p)
{
	struct rules_node	*n, *kid;
	size_t			 cap = 0;

	if (rules_parse_enter(p) != 0)
		return (NULL);
	n = rules_parse_node(p, N_LIST, &TOK(p)->pos);
	rules_parse_next(p);
	while (TOK(p)->t != TK_RBRACK) {
		if (!rules_count_values(p->rs, &TOK(p)->pos, 1)) {
			p->rs->panic = true;
			return (NULL);
		}
		if ((kid = rules_parse_or(p)) == NULL)
			return (NULL);
		rules_parse_kid(p, n, kid, &cap);
		if (TOK(p)->t == TK_COMMA)
			rules_parse_next(p);
		else if (TOK(p)->t != TK_RBRACK) {
			rules_parse_expected(p, "',' or ']'");
			return (NULL);
		}
	}
	rules_parse_leave(p);
	rules_parse_next(p);
	n->end = p->prev_end;
	return (n);
}

static struct rules_node *
rules_parse_primary(struct rules_parser *p)
{
	struct rules_tok	*tk = TOK(p);
	struct rules_node	*n, *kid;
	struct rules_pos	 pos = tk->pos;
	size_t			 cap = 0;

	switch (tk->t) {
	case TK_LPAREN:
		if (rules_parse_enter(p) != 0)
			return (NULL);
		rules_parse_next(p);
		if ((n = rules_parse_or(p)) == NULL)
			return (NULL);
		rules_parse_leave(p);
		if (rules_parse_expect(p, TK_RPAREN) != 0)
			return (NULL);
		n->paren = true;
		return (n);
	case TK_STRING:
		n = rules_parse_node(p, N_CONST, &pos);
		n->type = n->v.type = T_STR;
		n->v.s = tk->str;
		break;
	case TK_MINUS:
		rules_parse_next(p);
		if (TOK(p)->t != TK_NUMBER) {
			rules_parse_expected(p, "a number after '-'");
			return (NULL);
		}
		n = rules_parse_node(p, N_CONST, &pos);
		n->type = n->v.type = T_NUM;
		n->v.n = -TOK(p)->num;
		break;
	case TK_NUMBER:
		n = rules_parse_node(p, N_CONST, &pos);
		n->type = n->v.type = T_NUM;
		n->v.n = tk->num;
		break;
	case TK_DURATION:
		n = rules_parse_node(p, N_CONST, &pos);
		n->type = n->v.type = T_DUR;
		n->v.ms = tk->ms;
		break;
	case TK_LBRACK:
		return (rules_parse_list(p));
	case TK_WORD:
		if (strcmp(tk->str, "true") == 0 ||
		    strcmp(tk->str, "false") == 0) {
			n = rules_parse_node(p, N_CONST, &pos);
			n->type = n->v.type = T_BOOL;
			n->v.b = tk->str[0] == 't';
			break;
		}
		if (strcmp(tk->str, "and") == 0 || strcmp(tk->str, "or") == 0 ||
		    strcmp(tk->str, "in") == 0 || strcmp(tk->str, "not") == 0) {
			rules_parse_expected(p, "an expression");
			return (NULL);
		}
		n = rules_parse_node(p, N_WORD, &pos);
		n->name = tk->str;
		rules_parse_next(p);
		/* "since referral": a window, the word it starts at as kid. */
		if (strcmp(n->name, "since") == 0 && TOK(p)->t == TK_WORD) {
			kid = rules_parse_node(p, N_WORD, &TOK(p)->pos);
			kid->name = TOK(p)->str;
			rules_parse_next(p);
			kid->end = p->prev_end;
			rules_parse_kid(p, n, kid, &cap);
		}
		if (TOK(p)->t != TK_LPAREN || n->nkids != 0) {
			n->end = p->prev_end;
			return (n);
		}
		n->op = N_CALL;
		if (rules_parse_enter(p) != 0)
			return (NULL);
		rules_parse_next(p);
		while (TOK(p)->t != TK_RPAREN) {
			if ((kid = rules_parse_or(p)) == NULL)
				return (NULL);
			rules_parse_kid(p, n, kid, &cap);
			if (TOK(p)->t == TK_COMMA)
				rules_parse_next(p);
			else if (TOK(p)->t != TK_RPAREN) {
				rules_parse_expected(p, "',' or ')'");
				return (NULL);
			}
		}
		rules_parse_leave(p);
		rules_parse_next(p);
		n->end = p->prev_end;
		return (n);
	default:
		rules_parse_expected(p, "an expression");
		return (NULL);
	}
	n->v.present = true;
	rules_parse_next(p);
	n->end = p->prev_end;
	return (n);
}

static struct rules_node *
rules_parse_cmp(struct rules_parser *p)
{
	static const enum rules_cmp ops[] = {
		[TK_EQ] = C_EQ, [TK_NE] = C_NE, [TK_LT] = C_LT,
		[TK_LE] = C_LE, [TK_GT] = C_GT, [TK_GE] = C_GE,
	};
	struct rules_node	*l, *r, *n;
	enum rules_tk		 t;
	bool			 negate = false;

	if ((l = rules_parse_primary(p)) == NULL)
		return (NULL);
	t = TOK(p)->t;
	if (t >= TK_EQ && t <= TK_GE) {
		n = rules_parse_node(p, N_CMP, &l->pos);
		n->cmp = (uint8_t)ops[t];
		n->name = (char *)rules_lex_tkname(t);
		rules_parse_next(p);
		if ((r = rules_parse_primary(p)) == NULL)
			return (NULL);
		n->kids = rules_alloc(&p->rs->arena, 2 * sizeof(*n->kids));
		n->kids[0] = l;
		n->kids[1] = r;
		n->nkids = 2;
		n->end = p->prev_end;
		return (n);
	}
	if (rules_parse_is(p, "not")) {
		rules_parse_next(p);
		if (!rules_parse_is(p, "in")) {
			rules_parse_expected(p, "'in' after 'not' here");
			return (NULL);
		}
		negate = true;
	}
	if (!rules_parse_is(p, "in"))
		return (l);
	n = rules_parse_node(p, N_IN, &l->pos);
	n->negate = negate;
	rules_parse_next(p);
	n->kids = rules_alloc(&p->rs->arena, 2 * sizeof(*n->kids));
	n->kids[0] = l;
	n->nkids = 1;
	if (rules_parse_is(p, "list")) {
		rules_parse_next(p);
		n->name = rules_parse_word(p, "a list name", &n->name_pos);
		if (n->name == NULL)
			return (NULL);
	} else if (TOK(p)->t == TK_LBRACK) {
		if ((r = rules_parse_list(p)) == NULL)
			return (NULL);
		n->kids[1] = r;
		n->nkids = 2;
	} else {
		rules_parse_expected(p, "'list NAME' or '[' after 'in'");
		return (NULL);
	}
	n->end = p->prev_end;
	return (n);
}

static struct rules_node *
rules_parse_not(struct rules_parser *p)
{
	struct rules_node	*n;
	struct rules_pos	 pos = TOK(p)->pos;

	if (!rules_parse_is(p, "not"))
		return (rules_parse_cmp(p));
	if (rules_parse_enter(p) != 0)
		return (NULL);
	rules_parse_next(p);
	n = rules_parse_node(p, N_NOT, &pos);
	n->kids = rules_alloc(&p->rs->arena, sizeof(*n->kids));
	if ((n->kids[0] = rules_parse_not(p)) == NULL)
		return (NULL);
	rules_parse_leave(p);
	n->nkids = 1;
	n->end = p->prev_end;
	return (n);
}

static struct rules_node *
rules_parse_bin(struct rules_parser *p, const char *word, int op,
    struct rules_node *(*sub)(struct rules_parser *))
{
	struct rules_node	*l, *r, *n = NULL;
	size_t			 cap = 0;

	if ((l = sub(p)) == NULL)
		return (NULL);
	while (rules_parse_is(p, word)) {
		if (n == NULL) {
			n = rules_parse_node(p, op, &l->pos);
			n->name_pos = TOK(p)->pos;
			rules_parse_kid(p, n, l, &cap);
		}
		rules_parse_next(p);
		if ((r = sub(p)) == NULL)
			return (NULL);
		rules_parse_kid(p, n, r, &cap);
		n->end = p->prev_end;
	}
	return (n != NULL ? n : l);
}

static struct rules_node *
rules_parse_and(struct rules_parser *p)
{
	return (rules_parse_bin(p, "and", N_AND, rules_parse_not));
}

static struct rules_node *
rules_parse_or(struct rules_parser *p)
{
	return (rules_parse_bin(p, "or", N_OR, rules_parse_and));
}

/* A whole expression: its nesting counted from 0. */
static struct rules_node *
rules_parse_expr(struct rules_parser *p)
{
	p->depth = 0;
	return (rules_parse_or(p));
}

static void
rules_parse_unknown_attr(struct rules_parser *p, const char *what,
    const char *const *words, size_t n)
{
	const char	*sug = NULL;
	char		 found[64], list[128];
	size_t		 i;

	list[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t	len = strlen(list);

		snprintf(list + len, sizeof(list) - len, "%s%s", words[i],
		    i + 2 < n ? ", " : (i + 1 < n ? " or " : ""));
	}
	if (TOK(p)->t == TK_WORD)
		sug = rules_suggest(p->rs, TOK(p)->str, words, n);
	if (sug != NULL) {
		rules_error(p->rs, &TOK(p)->pos, "unknown %s attribute %s; did "
		    "you mean %s?", what, TOK(p)->str, sug);
		p->rs->panic = true;
		return;
	}
	rules_parse_found(p, found, sizeof(found));
	if (!p->rs->panic && TOK(p)->t != TK_BAD)
		rules_error(p->rs, &TOK(p)->pos, "expected %s in %s, found %s",
		    list, what, found);
	p->rs->panic = true;
}

/* A block that reaches a top-level keyword: reported, true. */
static int
rules_parse_unended(struct rules_parser *p, const char *what,
    const char *name)
{
	if (!rules_parse_at_top(p))
		return (0);
	rules_error(p->rs, &TOK(p)->pos, "%s %s does not end: missing '}'",
	    what, name);
	return (1);
}

/*
 * The attributes rules and conditions share: "desc" STRING, "when" expr.
 * True when the token starts one (parsed into *desc, or *when with
 * *has_when set even when the expression does not parse).
 */
static int
rules_parse_desc_when(struct rules_parser *p, const char *what,
    const char *name, char **desc, struct rules_node **when, bool *has_when)
{
	if (rules_parse_is(p, "desc")) {
		rules_parse_next(p);
		if (TOK(p)->t != TK_STRING)
			rules_parse_expected(p, "a string");
		else {
			*desc = TOK(p)->str;
			rules_parse_next(p);
		}
		return (1);
	}
	if (!rules_parse_is(p, "when"))
		return (0);
	*has_when = true;
	if (*when != NULL)
		rules_error(p->rs, &TOK(p)->pos, "%s %s has more than one "
		    "when (combine them with and/or)", what, name);
	rules_parse_next(p);
	*when = rules_parse_expr(p);
	return (1);
}

static void
rules_parse_rule(struct rules_parser *p)
{
	struct ruleset		*rs = p->rs;
	struct rules_rule	*r;
	struct rules_pos	 npos;
	char			*name;
	int64_t			 v;
	size_t			 cap, ri;
	unsigned		 nerrors = rs->nerrors;

	rules_parse_next(p);
	if ((name = rules_parse_word(p, "a rule name", &npos)) == NULL ||
	    rules_parse_expect(p, TK_LBRACE) != 0) {
		rules_parse_sync(p, NULL, 0, 1);
		return;
	}
	if (rs->nrules == RULES_RULES_MAX)
		rules_error(rs, &npos, "the rule set holds more than %d rules",
		    RULES_RULES_MAX);
	rs->rules = rules_grow(rs->rules, &rs->rulecap, rs->nrules,
	    sizeof(*rs->rules));
	ri = rs->nrules;
	r = &rs->rules[rs->nrules++];
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->pos = npos;
	r->action = -1;
	r->gi = -1;

	while (TOK(p)->t != TK_RBRACE) {
		if (rules_parse_unended(p, "rule", name)) {
			rs->rules[ri].broken = true;
			return;
		}
		if (rules_parse_desc_when(p, "rule", name, &r->desc,
		    &r->when, &r->has_when))
			;	/* desc or when */
		else if (rules_parse_is(p, "action")) {
			rules_parse_next(p);
			r->action = rules_parse_action(p, "an action");
			if (r->action == -1)
				r->action = -2;		/* reported */
		} else if (rules_parse_is(p, "score")) {
			rules_parse_next(p);
			if (rules_parse_int(p, &v, &npos) == 0) {
				if (v < -1000000 || v > 1000000)
					rules_error(rs, &npos, "score must be "
					    "within -1000000..1000000");
				else
					r->score = (int32_t)v;
			}
		} else if (rules_parse_is(p, "mode")) {
			rules_parse_next(p);
			if (rules_parse_is(p, "enforce"))
				r->shadow = false;
			else if (rules_parse_is(p, "shadow"))
				r->shadow = true;
			else {
				rules_parse_expected(p, "enforce or shadow");
				continue;
			}
			rules_parse_next(p);
		} else if (rules_parse_is(p, "tags")) {
			rules_parse_next(p);
			if (rules_parse_expect(p, TK_LBRACK) == 0) {
				cap = r->ntags;
				while (TOK(p)->t == TK_STRING) {
					r->tags = rules_grow(r->tags, &cap,
					    r->ntags, sizeof(*r->tags));
					r->tags[r->ntags++] = TOK(p)->str;
					rules_parse_next(p);
					if (TOK(p)->t == TK_COMMA)
						rules_parse_next(p);
				}
				rules_parse_expect(p, TK_RBRACK);
			}
		} else if (rules_parse_is(p, "group")) {
			char			*g;
			struct rules_pos	 gpos;

			if (r->group != NULL)
				rules_error(rs, &TOK(p)->pos, "rule %s: group "
				    "given twice", name);
			rules_parse_next(p);
			g = rules_parse_word(p, "a group name", &gpos);
			if (r->group == NULL) {
				r->group = g;
				r->group_pos = gpos;
			}
		} else
			rules_parse_unknown_attr(p, "rule", rules_rule_words,
			    nitems(rules_rule_words));
		if (rs->panic)
			rules_parse_sync(p, rules_rule_words,
			    nitems(rules_rule_words), 0);
		r = &rs->rules[ri];
	}
	rules_parse_next(p);
	if (rs->nerrors != nerrors)
		r->broken = true;
}

/* "condition NAME { desc STRING when expr }" */
static void
rules_parse_cond(struct rules_parser *p)
{
	struct ruleset		*rs = p->rs;
	struct rules_cond	*c;
	struct rules_pos	 npos;
	char			*name;
	size_t			 ci;
	unsigned		 nerrors = rs->nerrors;
	bool			 has_when = false;

	rules_parse_next(p);
	if ((name = rules_parse_word(p, "a condition name", &npos)) == NULL ||
	    rules_parse_expect(p, TK_LBRACE) != 0) {
		rules_parse_sync(p, NULL, 0, 1);
		return;
	}
	if (rs->nconds == RULES_RULES_MAX)
		rules_error(rs, &npos, "the rule set holds more than %d "
		    "conditions", RULES_RULES_MAX);
	rs->conds = rules_grow(rs->conds, &rs->condcap, rs->nconds,
	    sizeof(*rs->conds));
	ci = rs->nconds;
	c = &rs->conds[rs->nconds++];
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->pos = npos;
	while (TOK(p)->t != TK_RBRACE) {
		if (rules_parse_unended(p, "condition", name)) {
			rs->conds[ci].broken = true;
			return;
		}
		if (!rules_parse_desc_when(p, "condition", name, &c->desc,
		    &c->when, &has_when))
			rules_parse_unknown_attr(p, "condition",
			    rules_cond_words, nitems(rules_cond_words));
		if (rs->panic)
			rules_parse_sync(p, rules_cond_words,
			    nitems(rules_cond_words), 0);
		c = &rs->conds[ci];
	}
	rules_parse_next(p);
	/* No when without an error: one reported before (a limit). */
	if (rs->nerrors != nerrors || c->when == NULL)
		c->broken = true;
	if (!has_when)
		rules_error(rs, &c->pos, "condition %s has no when", name);
}

/* "list NAME file PATH" or "list NAME [ values ]" */
static void
rules_parse_listdecl(struct rules_parser *p)
{
	struct ruleset		*rs = p->rs;
	struct rules_list	*l;
	struct rules_pos	 npos, fpos;
	struct stat		 sb;
	char			*name, *path, *text, *cause, *s, *e, *eol;
	size_t			 len, vcap = 0, pcap = 0;
	uint32_t		 lsrc;
	uint32_t		 line;

	rules_parse_next(p);
	if ((name = rules_parse_word(p, "a list name", &npos)) == NULL)
		goto sync;
	rs->lists = rules_grow(rs->lists, &rs->listcap, rs->nlists,
	    sizeof(*rs->lists));
	l = &rs->lists[rs->nlists++];
	memset(l, 0, sizeof(*l));
	l->name = name;
	l->pos = npos;
	if (TOK(p)->t == TK_LBRACK) {
		rules_parse_next(p);
		while (TOK(p)->t == TK_STRING || TOK(p)->t == TK_NUMBER) {
			if (!rules_count_values(rs, &TOK(p)->pos, 1)) {
				rules_parse_next(p);
				continue;
			}
			l->vals = rules_grow(l->vals, &vcap, l->nvals,
			    sizeof(*l->vals));
			l->vpos = rules_grow(l->vpos, &pcap, l->nvals,
			    sizeof(*l->vpos));
			l->vals[l->nvals] = TOK(p)->t == TK_STRING ?
			    TOK(p)->str : rules_strndup(&rs->arena, TOK(p)->p,
			    TOK(p)->len);
			l->vpos[l->nvals++] = TOK(p)->pos;
			rules_parse_next(p);
			if (TOK(p)->t == TK_COMMA)
				rules_parse_next(p);
		}
		if (rules_parse_expect(p, TK_RBRACK) != 0)
			goto sync;
		return;
	}
	if (!rules_parse_is(p, "file")) {
		rules_parse_expected(p, "'file' or '['");
		goto sync;
	}
	rules_parse_next(p);
	fpos = TOK(p)->pos;
	if (TOK(p)->t != TK_STRING) {
		rules_parse_expected(p, "a file name (a string)");
		goto sync;
	}
	path = TOK(p)->str;
	rules_parse_next(p);
	if (rs->flags & RULES_NOFILES) {
		rules_error(rs, &fpos, "list files cannot be read here");
		return;
	}
	path = rules_resolve(rs, p->src, path);
	l->path = rules_strndup(&rs->arena, path, strlen(path));
	if (rules_read_file(rs, path, &text, &len, &cause) != 0) {
		rules_error(rs, &fpos, "list %s: %s", name, cause);
		free(cause);
		free(path);
		return;
	}
	l->bytes = (int64_t)len;
	if (stat(path, &sb) == 0)
		l->mtime = (int64_t)sb.st_mtime;
	lsrc = rules_add_src(rs, path, text, len);
	text = rs->srcs[lsrc].text;
	/* One value a line; blanks and '#' comments skipped, ends trimmed. */
	for (s = text, line = 1; *s != '\0'; s = eol + (*eol != '\0'), line++) {
		eol = strchr(s, '\n');
		if (eol == NULL)
			eol = s + strlen(s);
		e = eol;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (s == e || *s == '#')
			continue;
		if (!rules_count_values(rs, &(struct rules_pos){ lsrc, line,
		    1, (uint32_t)(s - text) }, 1))
			break;
		l->vals = rules_grow(l->vals, &vcap, l->nvals, sizeof(*l->vals));
		l->vpos = rules_grow(l->vpos, &pcap, l->nvals, sizeof(*l->vpos));
		l->vals[l->nvals] = rules_strndup(&rs->arena, s, (size_t)(e - s));
		l->vpos[l->nvals].src = lsrc;
		l->vpos[l->nvals].line = line;
		l->vpos[l->nvals].col = 1;
		l->vpos[l->nvals].off = (uint32_t)(s - text);
		l->nvals++;
	}
	return;
sync:
	rules_parse_sync(p, NULL, 0, 1);
}

/* "cap NAME at INT" in the verdict block: the group counts at most INT. */
static void
rules_parse_cap(struct rules_parser *p)
{
	struct ruleset		*rs = p->rs;
	struct rules_cap	 c;
	struct rules_pos	 npos;

	c.pos = TOK(p)->pos;
	rules_parse_next(p);
	if ((c.name = rules_parse_word(p, "a group name", &npos)) == NULL)
		return;
	if (!rules_parse_is(p, "at")) {
		rules_parse_expected(p, "'at'");
		return;
	}
	rules_parse_next(p);
	if (rules_parse_int(p, &c.at, &npos) != 0)
		return;
	if (c.at < 0 || c.at > 1000000) {
		rules_error(rs, &npos, "a cap must be within 0..1000000");
		return;
	}
	rs->caps = rules_grow(rs->caps, &rs->capcap, rs->ncaps,
	    sizeof(*rs->caps));
	rs->caps[rs->ncaps++] = c;
}

static void
rules_parse_verdict(struct rules_parser *p)
{
	struct ruleset		*rs = p->rs;
	struct rules_pos	 pos = TOK(p)->pos, apos, npos;
	char			 buf[128];
	int64_t			 v;
	int			 action, gt;

	if (rs->have_verdict) {
		rules_pos_str(rs, &rs->verdict_pos, buf, sizeof(buf));
		rules_error(rs, &pos, "more than one verdict block (the first "
		    "is at %s)", buf);
	}
	rs->have_verdict = true;
	rs->verdict_pos = pos;
	rules_parse_next(p);
	if (rules_parse_expect(p, TK_LBRACE) != 0)
		goto sync;
	while (TOK(p)->t != TK_RBRACE) {
		if (rules_parse_at_top(p)) {
			rules_error(rs, &TOK(p)->pos, "verdict block does not "
			    "end: missing '}'");
			return;
		}
		apos = TOK(p)->pos;
		if (rules_parse_is(p, "cap")) {
			rules_parse_cap(p);
			goto next;
		}
		if ((action = rules_parse_action(p, "a verdict threshold's "
		    "action")) < 0)
			goto next;
		if (action == ACTION_ALLOW) {
			rules_error(rs, &apos, "allow cannot be a threshold: "
			    "a verdict starts as allow");
		}
		if (!rules_parse_is(p, "when")) {
			rules_parse_expected(p, "'when'");
			goto next;
		}
		rules_parse_next(p);
		if (!rules_parse_is(p, "score")) {
			rules_parse_expected(p, "'score'");
			goto next;
		}
		rules_parse_next(p);
		if (TOK(p)->t != TK_GE && TOK(p)->t != TK_GT) {
			rules_parse_expected(p, "'>=' or '>'");
			goto next;
		}
		gt = TOK(p)->t == TK_GT;
		rules_parse_next(p);
		if (rules_parse_int(p, &v, &npos) != 0)
			goto next;
		if (gt)
			v++;
		if (action == ACTION_REVIEW || action == ACTION_DENY) {
			int64_t			*at = action == ACTION_DENY ?
			    &rs->deny_at : &rs->review_at;
			struct rules_pos	*ap = action == ACTION_DENY ?
			    &rs->deny_pos : &rs->review_pos;

			if (*at != INT64_MAX) {
				rules_pos_str(rs, ap, buf, sizeof(buf));
				rules_error(rs, &apos, "%s threshold given twice "
				    "(first at %s)", rules_action_name(action),
				    buf);
			}
			*at = v;
			*ap = apos;
		}
next:
		if (rs->panic) {
			static const char *const w[] = { "review", "deny",
			    "allow", "cap" };

			rules_parse_sync(p, w, nitems(w), 0);
		}
	}
	rules_parse_next(p);
	return;
sync:
	rules_parse_sync(p, NULL, 0, 1);
}

static void
rules_parse_names(struct rules_parser *p, struct rules_names *nm)
{
	struct ruleset	*rs = p->rs;
	size_t		 cap = 0, pcap = 0;

	if (nm->set)
		rules_error(rs, &TOK(p)->pos, "%s given twice", TOK(p)->str);
	rules_parse_next(p);
	nm->set = true;
	nm->n = 0;
	if (rules_parse_expect(p, TK_LBRACK) != 0)
		return;
	while (TOK(p)->t == TK_WORD) {
		nm->v = rules_grow(nm->v, &cap, nm->n, sizeof(*nm->v));
		nm->pos = rules_grow(nm->pos, &pcap, nm->n, sizeof(*nm->pos));
		nm->pos[nm->n] = TOK(p)->pos;
		nm->v[nm->n++] = TOK(p)->str;
		rules_parse_next(p);
		if (TOK(p)->t == TK_COMMA)
			rules_parse_next(p);
	}
	rules_parse_expect(p, TK_RBRACK);
}

/* "assume FACT == VALUE" into *a; 0, or -1 (reported). */
static int
rules_parse_assume_one(struct rules_parser *p, struct rules_assume *a)
{
	struct rules_node	*f, *v;
	struct rules_pos	 pos;

	rules_parse_next(p);
	pos = TOK(p)->pos;
	if (TOK(p)->t != TK_WORD) {
		rules_parse_expected(p, "a fact");
		return (-1);
	}
	f = rules_parse_node(p, N_WORD, &pos);
	f->name = TOK(p)->str;
	rules_parse_next(p);
	f->end = p->prev_end;
	if (rules_parse_expect(p, TK_EQ) != 0)
		return (-1);
	/* No value: the test's next word or end is left to the test. */
	if (TOK(p)->t == TK_EOF || TOK(p)->t == TK_RBRACE ||
	    rules_parse_in(p, rules_test_words, nitems(rules_test_words))) {
		rules_parse_expected_at(p, "a value after ==", true);
		return (-1);
	}
	p->depth = 0;
	if ((v = rules_parse_primary(p)) == NULL)
		return (-1);
	a->fact = f;
	a->val = v;
	return (0);
}

static void
rules_parse_assume(struct rules_parser *p, struct rules_test *t, size_t *cap)
{
	struct rules_assume	a;

	if (rules_parse_assume_one(p, &a) != 0)
		return;
	t->assume = rules_grow(t->assume, cap, t->nassume, sizeof(*t->assume));
	t->assume[t->nassume++] = a;
}

/*
 * The "assume" lines of a given block (raw lines, read by
 * rules_lex_given): each is lexed on its own, its end the line's.
 */
static void
rules_parse_given_assumes(struct rules_parser *p, struct rules_test *t,
    size_t from)
{
	struct rules_lex	 saved = p->lx;
	uint32_t		 prev_end = p->prev_end;
	struct rules_assume	 a;
	size_t			 i;

	for (i = from; i < t->nlines; i++) {
		struct rules_tline	*tl = &t->lines[i];

		if (!tl->is_assume)
			continue;
		p->lx.off = tl->pos.off;
		p->lx.len = tl->pos.off + tl->len;
		p->lx.line = tl->pos.line;
		p->lx.bol = tl->pos.off - (tl->pos.col - 1);
		rules_lex_next(&p->lx);
		if (rules_parse_assume_one(p, &a) == 0) {
			if (TOK(p)->t != TK_EOF)
				rules_parse_expected(p, "the end of the line "
				    "after assume FACT == VALUE");
			else {
				tl->assume = rules_alloc(&p->rs->arena,
				    sizeof(*tl->assume));
				*tl->assume = a;
			}
		}
		/* Reported: the next line is parsed afresh. */
		p->rs->panic = false;
	}
	p->lx = saved;
	p->prev_end = prev_end;
}

static void
rules_parse_test(struct rules_parser *p)
{
	struct ruleset		*rs = p->rs;
	struct rules_test	*t;
	struct rules_pos	 npos, spos;
	char			*name;
	int64_t			 v;
	size_t			 acap = 0, from = 0, i, nreq = 0;
	bool			 given = false;

	rules_parse_next(p);
	if ((name = rules_parse_word(p, "a test name", &npos)) == NULL ||
	    rules_parse_expect(p, TK_LBRACE) != 0) {
		rules_parse_sync(p, NULL, 0, 1);
		return;
	}
	rs->tests = rules_grow(rs->tests, &rs->testcap, rs->ntests,
	    sizeof(*rs->tests));
	t = &rs->tests[rs->ntests++];
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->pos = npos;
	t->action = -1;
	while (TOK(p)->t != TK_RBRACE) {
		if (rules_parse_at_top(p)) {
			rules_error(rs, &TOK(p)->pos, "test %s does not end: "
			    "missing '}'", name);
			return;
		}
		if (rules_parse_is(p, "given")) {
			if (given)
				rules_error(rs, &TOK(p)->pos, "test %s has more "
				    "than one given block", name);
			given = true;
			from = t->nlines;
			rules_parse_next(p);
			if (TOK(p)->t != TK_LBRACE)
				rules_parse_expected(p, "'{'");
			else if (rules_lex_given(&p->lx, t) != 0)
				return;
			else
				rules_parse_given_assumes(p, t, from);
		} else if (rules_parse_is(p, "expect")) {
			rules_parse_next(p);
			t->action = rules_parse_action(p, "an expected action");
			if (t->action == -1)
				t->action = -2;
		} else if (rules_parse_is(p, "score")) {
			rules_parse_next(p);
			if (rules_parse_int(p, &v, &spos) == 0) {
				t->has_score = true;
				t->score = (int32_t)v;
			}
		} else if (rules_parse_is(p, "reasons"))
			rules_parse_names(p, &t->reasons);
		else if (rules_parse_is(p, "shadow"))
			rules_parse_names(p, &t->shadow);
		else if (rules_parse_is(p, "includes"))
			rules_parse_names(p, &t->includes);
		else if (rules_parse_is(p, "excludes"))
			rules_parse_names(p, &t->excludes);
		else if (rules_parse_is(p, "assume"))
			rules_parse_assume(p, t, &acap);
		else
			rules_parse_unknown_attr(p, "test", rules_test_words,
			    nitems(rules_test_words));
		if (rs->panic)
			rules_parse_sync(p, rules_test_words,
			    nitems(rules_test_words), 0);
	}
	rules_parse_next(p);
	if (!given)
		rules_error(rs, &npos, "test %s has no given block", name);
	for (i = 0; i < t->nlines; i++)
		nreq += t->lines[i].text != NULL;
	if (given && nreq == 0)
		rules_error(rs, &npos, "test %s: given holds no request", name);
	if (t->action == -1)
		rules_error(rs, &npos, "test %s has no expect", name);
}

void
rules_parse(struct ruleset *rs, uint32_t src, rules_include_cb inc)
{
	struct rules_parser	 p;
	struct rules_pos	 pos;
	const char		*sug;

	memset(&p, 0, sizeof(p));
	p.rs = rs;
	p.src = src;
	p.inc = inc;
	rs->panic = false;
	rules_lex_init(&p.lx, rs, src);
	for (;;) {
		if (TOK(&p)->t == TK_EOF)
			break;
		if (rules_parse_is(&p, "rule"))
			rules_parse_rule(&p);
		else if (rules_parse_is(&p, "condition"))
			rules_parse_cond(&p);
		else if (rules_parse_is(&p, "list"))
			rules_parse_listdecl(&p);
		else if (rules_parse_is(&p, "verdict"))
			rules_parse_verdict(&p);
		else if (rules_parse_is(&p, "test"))
			rules_parse_test(&p);
		else if (rules_parse_is(&p, "include")) {
			pos = TOK(&p)->pos;
			rules_parse_next(&p);
			if (TOK(&p)->t != TK_STRING) {
				rules_parse_expected(&p, "a file name pattern "
				    "(a string)");
				rules_parse_sync(&p, NULL, 0, 1);
				continue;
			}
			pos = TOK(&p)->pos;
			if (rs->flags & RULES_NOFILES)
				rules_error(rs, &pos, "include is not allowed "
				    "here");
			else
				inc(rs, src, &pos, TOK(&p)->str);
			rules_parse_next(&p);
		} else {
			sug = TOK(&p)->t == TK_WORD ? rules_suggest(rs,
			    TOK(&p)->str, rules_top_words,
			    nitems(rules_top_words)) : NULL;
			if (sug != NULL && !rs->panic) {
				rules_error(rs, &TOK(&p)->pos, "unknown keyword "
				    "%s; did you mean %s?", TOK(&p)->str, sug);
				rs->panic = true;
			} else
				rules_parse_expected(&p, "rule, condition, list, "
				    "verdict, include or test");
			rules_parse_sync(&p, NULL, 0, 1);
			if (TOK(&p)->t == TK_RBRACE)
				rules_parse_next(&p);
		}
	}
}
