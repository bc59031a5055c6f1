/*
 * rules_lex.c: the tokens of the rule language. Words may be dotted
 * (referee.email.domain, self_referral.same_device); a number followed by
 * a unit is a duration (30s 15m 1h 7d); '#' starts a comment. The lines
 * of a test's given block are raw (NDJSON), read by rules_lex_given().
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rules_int.h"
#include "util.h"

static const char *const rules_tknames[] = {
	[TK_EOF] = "end of file", [TK_WORD] = "word",
	[TK_STRING] = "string", [TK_NUMBER] = "number",
	[TK_DURATION] = "duration", [TK_LBRACE] = "'{'",
	[TK_RBRACE] = "'}'", [TK_LPAREN] = "'('", [TK_RPAREN] = "')'",
	[TK_LBRACK] = "'['", [TK_RBRACK] = "']'", [TK_COMMA] = "','",
	[TK_MINUS] = "'-'", [TK_EQ] = "'=='", [TK_NE] = "'!='",
	[TK_LT] = "'<'", [TK_LE] = "'<='", [TK_GT] = "'>'", [TK_GE] = "'>='",
	[TK_BAD] = "bad token",
};

const char *
rules_lex_tkname(enum rules_tk t)
{
	return (rules_tknames[t]);
}

void
rules_lex_init(struct rules_lex *lx, struct ruleset *rs, uint32_t src)
{
	memset(lx, 0, sizeof(*lx));
	lx->rs = rs;
	lx->src = src;
	lx->text = rs->srcs[src].text;
	lx->len = rs->srcs[src].len;
	lx->line = 1;
	rules_lex_next(lx);
}

static void
rules_lex_pos(struct rules_lex *lx, size_t off, struct rules_pos *pos)
{
	pos->src = lx->src;
	pos->line = lx->line;
	pos->col = (uint32_t)(off - lx->bol + 1);
	pos->off = (uint32_t)off;
}

void
rules_lex_pos_before(struct rules_lex *lx, size_t off, struct rules_pos *pos)
{
	const char	*t = lx->text;
	size_t		 i, bol = off;

	pos->src = lx->src;
	pos->line = lx->line;
	for (i = off; i < lx->off; i++)
		if (t[i] == '\n')
			pos->line--;
	while (bol > 0 && t[bol - 1] != '\n')
		bol--;
	pos->col = (uint32_t)(off - bol + 1);
	pos->off = (uint32_t)off;
}

static int
rules_lex_wordc(int c, int first)
{
	return (isalpha(c) || c == '_' || (!first && isdigit(c)));
}

/* Skip blanks, newlines and comments. */
static void
rules_lex_space(struct rules_lex *lx)
{
	const char	*t = lx->text;

	while (lx->off < lx->len) {
		if (t[lx->off] == '\n') {
			lx->off++;
			lx->line++;
			lx->bol = lx->off;
		} else if (t[lx->off] == ' ' || t[lx->off] == '\t' ||
		    t[lx->off] == '\r')
			lx->off++;
		else if (t[lx->off] == '#') {
			while (lx->off < lx->len && t[lx->off] != '\n')
				lx->off++;
		} else
			break;
	}
}

static void
rules_lex_string(struct rules_lex *lx, struct rules_tok *tk)
{
	const char	*t = lx->text;
	char		*out;
	size_t		 o = 0, i = lx->off + 1, e = i;

	/*
	 * Find the end as the loop below reads (an escape takes two bytes)
	 * and allocate the literal's own length, never the rest of the
	 * file: that made lexing quadratic.
	 */
	while (e < lx->len && t[e] != '"' && t[e] != '\n')
		e += t[e] == '\\' && e + 1 < lx->len ? 2 : 1;
	out = rules_alloc(&lx->rs->arena, e - i + 1);
	for (;;) {
		if (i >= lx->len || t[i] == '\n') {
			rules_error(lx->rs, &tk->pos, "unterminated string");
			tk->t = TK_BAD;
			lx->off = i;
			return;
		}
		if (t[i] == '"')
			break;
		if (t[i] == '\\' && i + 1 < lx->len) {
			i++;
			switch (t[i]) {
			case 'n':
				out[o++] = '\n';
				break;
			case 't':
				out[o++] = '\t';
				break;
			case '"':
			case '\\':
				out[o++] = t[i];
				break;
			default: {
				struct rules_pos	ep = tk->pos;

				ep.col += (uint32_t)(i - 1 - lx->off);
				ep.off += (uint32_t)(i - 1 - lx->off);
				rules_error(lx->rs, &ep, "unknown escape \\%c in "
				    "string (use \\\" \\\\ \\n or \\t)",
				    isprint((unsigned char)t[i]) ? t[i] : '?');
				out[o++] = t[i];
				break;
			}
			}
			i++;
			continue;
		}
		out[o++] = t[i++];
	}
	out[o] = '\0';
	tk->t = TK_STRING;
	tk->str = out;
	tk->len = o;
	lx->off = i + 1;
}

static void
rules_lex_number(struct rules_lex *lx, struct rules_tok *tk)
{
	const char	*t = lx->text;
	size_t		 i = lx->off, n;
	char		 buf[64];

	while (i < lx->len && isdigit((unsigned char)t[i]))
		i++;
	if (i + 1 < lx->len && t[i] == '.' && isdigit((unsigned char)t[i + 1])) {
		i++;
		while (i < lx->len && isdigit((unsigned char)t[i]))
			i++;
	}
	n = i - lx->off;
	if (i < lx->len && isalpha((unsigned char)t[i])) {
		while (i < lx->len && rules_lex_wordc((unsigned char)t[i], 0))
			i++;
		tk->t = TK_DURATION;
		if (i - lx->off >= sizeof(buf) ||
		    (memcpy(buf, t + lx->off, i - lx->off),
		    buf[i - lx->off] = '\0', strchr(buf, '.') != NULL) ||
		    parse_duration(buf, &tk->ms) != 0) {
			rules_error(lx->rs, &tk->pos, "bad duration %.*s (a "
			    "whole number and one of ms s m h d w, e.g. 15m)",
			    (int)(i - lx->off > 32 ? 32 : i - lx->off),
			    t + lx->off);
			tk->t = TK_BAD;
		}
	} else {
		tk->t = TK_NUMBER;
		if (n >= sizeof(buf)) {
			rules_error(lx->rs, &tk->pos, "number too long");
			tk->t = TK_BAD;
		} else {
			memcpy(buf, t + lx->off, n);
			buf[n] = '\0';
			tk->num = strtod(buf, NULL);
		}
	}
	lx->off = i;
}

void
rules_lex_next(struct rules_lex *lx)
{
	struct rules_tok	*tk = &lx->tok;
	const char		*t = lx->text;
	size_t			 i;
	int			 c;

	rules_lex_space(lx);
	memset(tk, 0, sizeof(*tk));
	rules_lex_pos(lx, lx->off, &tk->pos);
	tk->p = t + lx->off;
	if (lx->off >= lx->len) {
		tk->t = TK_EOF;
		tk->end = (uint32_t)lx->off;
		return;
	}
	c = (unsigned char)t[lx->off];
	if (rules_lex_wordc(c, 1)) {
		i = lx->off;
		for (;;) {
			while (i < lx->len &&
			    rules_lex_wordc((unsigned char)t[i], 0))
				i++;
			if (i + 1 < lx->len && t[i] == '.' &&
			    rules_lex_wordc((unsigned char)t[i + 1], 1))
				i++;
			else
				break;
		}
		tk->t = TK_WORD;
		tk->str = rules_strndup(&lx->rs->arena, t + lx->off,
		    i - lx->off);
		lx->off = i;
	} else if (isdigit(c))
		rules_lex_number(lx, tk);
	else if (c == '"')
		rules_lex_string(lx, tk);
	else {
		int	next = lx->off + 1 < lx->len ? t[lx->off + 1] : 0;

		lx->off++;
		switch (c) {
		case '{': tk->t = TK_LBRACE; break;
		case '}': tk->t = TK_RBRACE; break;
		case '(': tk->t = TK_LPAREN; break;
		case ')': tk->t = TK_RPAREN; break;
		case '[': tk->t = TK_LBRACK; break;
		case ']': tk->t = TK_RBRACK; break;
		case ',': tk->t = TK_COMMA; break;
		case '-': tk->t = TK_MINUS; break;
		case '<':
			tk->t = next == '=' ? TK_LE : TK_LT;
			break;
		case '>':
			tk->t = next == '=' ? TK_GE : TK_GT;
			break;
		case '=':
			if (next == '=')
				tk->t = TK_EQ;
			else {
				rules_error(lx->rs, &tk->pos,
				    "'=' is not an operator; did you mean '=='?");
				tk->t = TK_EQ;
			}
			break;
		case '!':
			if (next == '=')
				tk->t = TK_NE;
			else {
				rules_error(lx->rs, &tk->pos,
				    "'!' is not an operator; use 'not'");
				tk->t = TK_BAD;
			}
			break;
		case '&':
		case '|':
			if (next == c) {
				rules_error(lx->rs, &tk->pos, "'%c%c' is not an "
				    "operator; use '%s'", c, c,
				    c == '&' ? "and" : "or");
				lx->off++;
				tk->t = TK_BAD;
				break;
			}
			/* FALLTHROUGH */
		default:
			if (c >= 0x20 && c < 0x7f)
				rules_error(lx->rs, &tk->pos,
				    "unexpected character '%c'", c);
			else
				rules_error(lx->rs, &tk->pos,
				    "unexpected byte 0x%02x", c);
			tk->t = TK_BAD;
			break;
		}
		if (next == '=' && (c == '<' || c == '>' || c == '=' ||
		    c == '!'))
			lx->off++;
	}
	tk->end = (uint32_t)lx->off;
	tk->len = lx->off - (size_t)(tk->p - t);
}

/* Word w at t[s..e), followed by a blank or the end. */
static int
rules_lex_kw(const char *t, size_t s, size_t e, const char *w)
{
	size_t	n = strlen(w);

	return (e - s >= n && strncmp(t + s, w, n) == 0 &&
	    (e - s == n || t[s + n] == ' ' || t[s + n] == '\t'));
}

static void
rules_lex_at(struct rules_lex *lx, size_t off, const char *msg)
{
	struct rules_pos	pos;

	rules_lex_pos(lx, off, &pos);
	rules_error(lx->rs, &pos, "%s", msg);
}

/* A duration word from t[s..e); returns the offset after it. */
static size_t
rules_lex_dur(struct rules_lex *lx, size_t s, size_t e, int64_t *ms,
    const char *what)
{
	const char	*t = lx->text;
	char		 buf[32];
	size_t		 b;

	while (s < e && (t[s] == ' ' || t[s] == '\t'))
		s++;
	for (b = s; s < e && t[s] != ' ' && t[s] != '\t'; s++)
		;
	if (s - b == 0 || s - b >= sizeof(buf) ||
	    (memcpy(buf, t + b, s - b), buf[s - b] = '\0',
	    !isalpha((unsigned char)buf[s - b - 1])) ||
	    parse_duration(buf, ms) != 0 || *ms <= 0) {
		struct rules_pos	pos;

		rules_lex_pos(lx, b, &pos);
		rules_error(lx->rs, &pos, "%s needs a duration such as 30s or "
		    "2h", what);
		*ms = 1000;
	}
	while (s < e && (t[s] == ' ' || t[s] == '\t'))
		s++;
	return (s);
}

/*
 * The current token is the '{' after "given": read the request lines up
 * to a line holding only '}', then move on to the token after it. Blank
 * lines and lines starting with '#' are skipped; "repeat N [every D] LINE"
 * stands for N copies of LINE with {n} replaced by 1..N, D apart (1s);
 * "wait D" moves the clock. Returns 0, or -1 when the block does not end.
 */
int
rules_lex_given(struct rules_lex *lx, struct rules_test *test)
{
	struct ruleset		*rs = lx->rs;
	const char		*t = lx->text;
	size_t			 cap = 0, s, e, eol;
	struct rules_tline	*tl;
	struct rules_pos	 pos;
	char			*end;
	unsigned long		 n;

	/* A second given block (already reported) appends: grow first. */
	cap = test->nlines;
	/* The rest of the '{' line must be empty. */
	s = lx->off;
	while (s < lx->len && (t[s] == ' ' || t[s] == '\t' || t[s] == '\r'))
		s++;
	if (s < lx->len && t[s] != '\n' && t[s] != '#') {
		lx->off = s;
		rules_lex_pos(lx, s, &pos);
		rules_error(rs, &pos, "request lines of a given block start on "
		    "the line after '{'");
	}
	while (s < lx->len && t[s] != '\n')
		s++;
	for (;;) {
		if (s >= lx->len) {
			lx->off = s;
			rules_lex_pos(lx, s, &pos);
			rules_error(rs, &pos, "given block does not end (a line "
			    "holding only '}')");
			lx->tok.t = TK_EOF;
			return (-1);
		}
		/* s is at '\n': the next line. */
		s++;
		lx->line++;
		lx->bol = s;
		for (eol = s; eol < lx->len && t[eol] != '\n'; eol++)
			;
		e = eol;
		while (s < e && (t[s] == ' ' || t[s] == '\t'))
			s++;
		while (e > s && (t[e - 1] == ' ' || t[e - 1] == '\t' ||
		    t[e - 1] == '\r'))
			e--;
		if (e - s == 1 && t[s] == '}') {
			lx->off = s + 1;
			break;
		}
		if (s == e || t[s] == '#') {
			s = eol;
			continue;
		}
		if (test->nlines == cap) {
			struct rules_tline	*nl;

			cap = cap == 0 ? 8 : cap * 2;
			nl = rules_alloc(&rs->arena, cap * sizeof(*nl));
			if (test->nlines != 0)
				memcpy(nl, test->lines,
				    test->nlines * sizeof(*nl));
			test->lines = nl;
		}
		tl = &test->lines[test->nlines++];
		memset(tl, 0, sizeof(*tl));
		rules_lex_pos(lx, s, &tl->pos);
		tl->repeat = 1;
		tl->every = 1000;
		if (rules_lex_kw(t, s, e, "assume")) {
			/* Parsed by the parser, from tl->pos to the end. */
			tl->is_assume = true;
			tl->len = e - s;
			s = eol;
			continue;
		}
		if (rules_lex_kw(t, s, e, "wait")) {
			s = rules_lex_dur(lx, s + 4, e, &tl->wait, "wait");
			if (s != e)
				rules_lex_at(lx, s, "expected the end of the "
				    "line after wait DURATION");
			s = eol;
			continue;
		}
		if (rules_lex_kw(t, s, e, "repeat")) {
			s += 6;
			while (s < e && (t[s] == ' ' || t[s] == '\t'))
				s++;
			n = isdigit((unsigned char)t[s]) ?
			    strtoul(t + s, &end, 10) : 0;
			if (n == 0 || n > RULES_REPEAT_MAX) {
				rules_lex_at(lx, s, "repeat needs a count from "
				    "1 to 10000");
				n = 1;
				end = (char *)t + s;
				while (end < t + e && isdigit((unsigned char)*end))
					end++;
			}
			tl->repeat = (uint32_t)n;
			s = (size_t)(end - t);
			while (s < e && (t[s] == ' ' || t[s] == '\t'))
				s++;
			if (rules_lex_kw(t, s, e, "every"))
				s = rules_lex_dur(lx, s + 5, e, &tl->every,
				    "every");
			rules_lex_pos(lx, s, &tl->pos);
		}
		if (s == e || t[s] != '{') {
			rules_error(rs, &tl->pos, "expected a JSON request "
			    "object on this line");
		}
		/* Each test request is a check at load: bound them all. */
		if (rs->ntreqs <= RULES_TREQ_MAX &&
		    (rs->ntreqs += tl->repeat) > RULES_TREQ_MAX)
			rules_error(rs, &tl->pos, "the rule set's tests send "
			    "more than %d requests (repeats included)",
			    RULES_TREQ_MAX);
		tl->text = rules_strndup(&rs->arena, t + s, e - s);
		tl->len = e - s;
		s = eol;
	}
	rules_lex_next(lx);
	return (0);
}
