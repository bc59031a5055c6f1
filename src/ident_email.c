/*
 * ident_email.c: email normalization, the per-domain rule table and the
 * disposable domain list. See docs/identity.md for the rules.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ident_int.h"
#include "log.h"
#include "util.h"

/*
 * Built-in rules, in the syntax of the email_domain config value. A config
 * value for the same domain replaces the built-in one.
 */
static const char *const ident_email_builtin[] = {
	"gmail.com dots plus_tag",
	"googlemail.com alias=gmail.com dots plus_tag",
};

#define EMAIL_DEFAULT_TAGS	"+"

static int
ident_email_lower(int c)
{
	return (c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/*
 * Check a lowercased domain: at least two labels of 1-63 bytes, each of
 * ASCII letters, digits, hyphens (not at either end) or UTF-8 (IDN
 * U-labels are kept as sent). Returns NULL or a static message.
 */
static const char *
ident_email_domain_check(const char *d, size_t len)
{
	size_t	i, label = 0, labels = 1;
	char	c;

	if (len == 0)
		return ("empty domain");
	if (len > RG_DOMAIN_MAX)
		return ("domain longer than 253 bytes");
	if (d[0] == '[')
		return ("address literals are not accepted");
	for (i = 0; i < len; i++) {
		c = d[i];
		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return ("domain has an empty or malformed label");
			label = 0;
			labels++;
			continue;
		}
		if (c == '-' && label == 0)
			return ("domain has an empty or malformed label");
		if (++label > IDENT_LABEL_MAX)
			return ("domain label longer than 63 bytes");
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || (unsigned char)c >= 0x80))
			return ("domain has characters other than letters, "
			    "digits, hyphens and dots");
	}
	if (label == 0 || d[len - 1] == '-')
		return ("domain has an empty or malformed label");
	if (labels < 2)
		return ("domain has a single label");
	return (NULL);
}

/* ---- rules --------------------------------------------------------- */

static int
ident_email_rule_opt(struct email_rule *r, const char *opt, char **why)
{
	const char	*v, *e;
	size_t		 i;

	if (strcmp(opt, "dots") == 0)
		r->flags |= EMAIL_DOTS;
	else if (strcmp(opt, "plus_tag") == 0)
		snprintf(r->tags, sizeof(r->tags), "+");
	else if (strcmp(opt, "no_tag") == 0 || strcmp(opt, "no_plus_tag") == 0)
		r->tags[0] = '\0';
	else if (strncmp(opt, "tag=", 4) == 0) {
		v = opt + 4;
		if (*v == '\0' || strlen(v) > EMAIL_TAGS_MAX) {
			xasprintf(why, "tag= needs 1 to %d separator characters",
			    EMAIL_TAGS_MAX);
			return (-1);
		}
		for (i = 0; v[i] != '\0'; i++) {
			if (strchr("+-_=~#&!$%*/?^`{|}'", v[i]) == NULL) {
				xasprintf(why, "tag=: '%c' cannot separate a "
				    "tag", v[i]);
				return (-1);
			}
		}
		snprintf(r->tags, sizeof(r->tags), "%s", v);
	} else if (strncmp(opt, "alias=", 6) == 0) {
		v = opt + 6;
		if ((e = ident_email_domain_check(v, strlen(v))) != NULL) {
			xasprintf(why, "alias=%s: %s", v, e);
			return (-1);
		}
		free(r->alias);
		r->alias = xstrdup(v);
	} else {
		xasprintf(why, "unknown option '%s' (expected dots, plus_tag, "
		    "no_tag, tag=CHARS or alias=DOMAIN)", opt);
		return (-1);
	}
	return (0);
}

/* Parse "DOMAIN [option ...]" into r. */
static int
ident_email_rule_parse(const char *val, struct email_rule *r, char **why)
{
	char		*copy, *tok, *last = NULL;
	const char	*e;
	size_t		 i;
	int		 rv = 0;

	memset(r, 0, sizeof(*r));
	snprintf(r->tags, sizeof(r->tags), "%s", EMAIL_DEFAULT_TAGS);
	copy = xstrdup(val);
	for (i = 0; copy[i] != '\0'; i++)
		copy[i] = (char)ident_email_lower((unsigned char)copy[i]);
	if ((tok = strtok_r(copy, " \t", &last)) == NULL) {
		*why = xstrdup("empty value (expected \"DOMAIN [option ...]\")");
		free(copy);
		return (-1);
	}
	if ((e = ident_email_domain_check(tok, strlen(tok))) != NULL) {
		xasprintf(why, "'%s': %s", tok, e);
		free(copy);
		return (-1);
	}
	r->domain = xstrdup(tok);
	while (rv == 0 && (tok = strtok_r(NULL, " \t", &last)) != NULL)
		rv = ident_email_rule_opt(r, tok, why);
	if (rv == 0 && r->alias != NULL && strcmp(r->alias, r->domain) == 0) {
		xasprintf(why, "'%s' is an alias of itself", r->domain);
		rv = -1;
	}
	free(copy);
	if (rv != 0) {
		free(r->domain);
		free(r->alias);
	}
	return (rv);
}

void
ident_email_rules_free(struct email_rules *rs)
{
	size_t	i;

	if (rs == NULL ||
	    __atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < rs->n; i++) {
		free(rs->v[i].domain);
		free(rs->v[i].alias);
	}
	free(rs->v);
	ident_set_free(rs->byname);
	free(rs);
}

/* Add r; a later rule for the same domain replaces an earlier one. */
static void
ident_email_rules_add(struct email_rules *rs, struct email_rule *r)
{
	uint32_t	idx;
	size_t		len = strlen(r->domain);

	if (ident_set_find(rs->byname, r->domain, len, &idx)) {
		free(rs->v[idx].domain);
		free(rs->v[idx].alias);
		rs->v[idx] = *r;
		return;
	}
	rs->v = xreallocarray(rs->v, rs->n + 1, sizeof(*rs->v));
	rs->v[rs->n] = *r;
	ident_set_add(rs->byname, r->domain, len, (uint32_t)rs->n);
	rs->n++;
}

static char *
ident_email_where(const struct conf_str *cs, char *why)
{
	char	*s;

	if (cs->file != NULL)
		xasprintf(&s, "%s:%d: email_domain: %s", cs->file, cs->line, why);
	else
		xasprintf(&s, "email_domain: %s", why);
	free(why);
	return (s);
}

struct email_rules *
ident_email_rules_new(const struct conf_str *vals, size_t n, char **cause)
{
	struct email_rules	*rs = xcalloc(1, sizeof(*rs));
	struct email_rule	 r;
	struct ident_set	*seen = ident_set_new();
	char			*why = NULL;
	size_t			 i;
	uint32_t		 first;

	rs->refs = 1;
	rs->byname = ident_set_new();
	for (i = 0; i < nitems(ident_email_builtin); i++) {
		if (ident_email_rule_parse(ident_email_builtin[i], &r, &why) != 0)
			fatalx("built-in email rule: %s", why);
		ident_email_rules_add(rs, &r);
	}
	for (i = 0; i < n; i++) {
		if (vals[i].val == NULL ||
		    ident_email_rule_parse(vals[i].val, &r, &why) != 0)
			goto fail;
		if (ident_set_find(seen, r.domain, strlen(r.domain), &first)) {
			xasprintf(&why, "'%s' is already set at %s:%d",
			    r.domain, vals[first].file ? vals[first].file :
			    "config", vals[first].line);
			free(r.domain);
			free(r.alias);
			goto fail;
		}
		ident_set_add(seen, r.domain, strlen(r.domain), (uint32_t)i);
		ident_email_rules_add(rs, &r);
	}
	ident_set_free(seen);
	return (rs);

fail:
	if (why == NULL)
		why = xstrdup("empty value");
	*cause = ident_email_where(&vals[i], why);
	ident_set_free(seen);
	ident_email_rules_free(rs);
	return (NULL);
}

/* ---- disposable list ----------------------------------------------- */

struct email_rules *
ident_email_rules_ref(struct email_rules *rs)
{
	__atomic_add_fetch(&rs->refs, 1, __ATOMIC_RELAXED);
	return (rs);
}

struct disposable *
ident_email_disp_ref(struct disposable *d)
{
	if (d != NULL)
		__atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
	return (d);
}

void
ident_email_disp_free(struct disposable *d)
{
	if (d == NULL ||
	    __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(d->path);
	ident_set_free(d->set);
	free(d);
}

/* One line of the list: blank and # lines skipped, "*." or "." prefix ok. */
static int
ident_email_disp_line(struct ident_set *set, const char *line,
    const char **why)
{
	char	dom[RG_DOMAIN_MAX + 1];
	size_t	len, i;

	len = strcspn(line, "#");
	ident_trim(&line, &len);
	if (len == 0)
		return (0);
	if (len > 2 && line[0] == '*' && line[1] == '.') {
		line += 2;
		len -= 2;
	} else if (line[0] == '.') {
		line++;
		len--;
	}
	if (len > 0 && line[len - 1] == '.')
		len--;
	if (len > RG_DOMAIN_MAX) {
		*why = "domain longer than 253 bytes";
		return (-1);
	}
	for (i = 0; i < len; i++)
		dom[i] = (char)ident_email_lower((unsigned char)line[i]);
	if (utf8_valid(dom, len) != len) {
		*why = "not valid UTF-8";
		return (-1);
	}
	if ((*why = ident_email_domain_check(dom, len)) != NULL)
		return (-1);
	ident_set_add(set, dom, len, 0);
	return (0);
}

struct disposable *
ident_email_disp_load(const char *path, char **cause)
{
	struct disposable	*d;
	struct stat		 sb;
	FILE			*f;
	char			*line = NULL, *msg;
	int			 fd;
	size_t			 cap = 0;
	ssize_t			 n;
	const char		*why;
	int			 lineno = 0;

	if ((fd = file_open_regular(path, 0, &sb, &msg)) < 0) {
		xasprintf(cause, "disposable_file %s", msg);
		free(msg);
		return (NULL);
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		xasprintf(cause, "disposable_file %s: %s", path,
		    strerror(errno));
		close(fd);
		return (NULL);
	}
	d = xcalloc(1, sizeof(*d));
	d->refs = 1;
	d->path = xstrdup(path);
	d->set = ident_set_new();
	d->bytes = (int64_t)sb.st_size;
	d->mtime = (int64_t)sb.st_mtime;
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (memchr(line, '\0', (size_t)n) != NULL) {
			why = "contains a NUL byte";
			goto bad;
		}
		if (ident_email_disp_line(d->set, line, &why) != 0)
			goto bad;
	}
	if (ferror(f)) {
		xasprintf(cause, "disposable_file %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	free(line);
	fclose(f);
	return (d);

bad:
	xasprintf(cause, "%s:%d: disposable_file: %s", path, lineno, why);
fail:
	free(line);
	fclose(f);
	ident_email_disp_free(d);
	return (NULL);
}

bool
ident_email_disp_match(const struct disposable *d, const char *dom,
    size_t len)
{
	const char	*dot;

	/* a.b.mailinator.com, b.mailinator.com, mailinator.com; not com */
	for (;;) {
		if (ident_set_find(d->set, dom, len, NULL))
			return (true);
		if ((dot = memchr(dom, '.', len)) == NULL)
			return (false);
		len -= (size_t)(dot + 1 - dom);
		dom = dot + 1;
		if (memchr(dom, '.', len) == NULL)
			return (false);
	}
}

/* ---- normalization ------------------------------------------------- */

/* Checks of the whole address; NULL or a static message. */
static const char *
ident_email_check(const char *s, size_t len)
{
	size_t	i;

	if (len == 0)
		return ("empty");
	if (len > IDENT_EMAIL_MAX)
		return ("longer than 254 bytes");
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return ("contains control characters");
		if (s[i] == ' ')
			return ("contains spaces");
	}
	if (utf8_valid(s, len) != len)
		return ("not valid UTF-8");
	return (NULL);
}

/*
 * Lowercased local part with the domain's tag and dot rules applied;
 * *tagged says whether a tag was cut off.
 */
static size_t
ident_email_local(const struct email_rule *r, const char *s, size_t len,
    char *out, bool *tagged)
{
	size_t	i, o = 0;
	char	c;

	*tagged = false;
	for (i = 0; i < len; i++) {
		c = s[i];
		if (strchr(r->tags, c) != NULL && c != '\0') {
			*tagged = true;
			break;
		}
		if (c == '.' && (r->flags & EMAIL_DOTS))
			continue;
		out[o++] = (char)ident_email_lower((unsigned char)c);
	}
	return (o);
}

/*
 * The shape of a normalized local part at domain canon: each run of
 * digits that reads as a counter folded to one '#', everything else kept
 * (john.smith01 and john.smith2 are both john.smith#), then '@' and the
 * domain. A run that reads as a year (four digits, 19xx or 20xx) is part
 * of the name, and a run of five digits or more is a number the person
 * was given (a student or staff number, a phone number): both are kept,
 * so anna1987 and anna2001, or s202388531 and s202423787 at one
 * university, are different people, not a farm's numbering. Hashed as
 * ENT_EMAIL_SHAPE only when a run was folded and the local part has a
 * letter: otherwise the shape is the address itself, and with nothing
 * but digits (QQ numbers at qq.com) one shape would hold every mailbox
 * of the domain.
 */
static bool
ident_email_counter(const char *s, size_t len)
{
	if (len >= 5)
		return (false);
	return (len != 4 || !((s[0] == '1' && s[1] == '9') ||
	    (s[0] == '2' && s[1] == '0')));
}

static void
ident_email_shape(const struct ident *id, struct party *p, const char *local,
    size_t llen, const char *canon, size_t clen)
{
	char		 shape[IDENT_EMAIL_MAX + RG_DOMAIN_MAX + 2];
	unsigned char	 c;
	size_t		 i, j, o = 0;
	bool		 folded = false, letters = false;

	for (i = 0; i < llen; i = j) {
		c = (unsigned char)local[i];
		if (c < '0' || c > '9') {
			if ((c >= 'a' && c <= 'z') || c >= 0x80)
				letters = true;
			shape[o++] = (char)c;
			j = i + 1;
			continue;
		}
		for (j = i; j < llen && local[j] >= '0' && local[j] <= '9'; j++)
			;
		if (ident_email_counter(local + i, j - i)) {
			shape[o++] = '#';
			folded = true;
		} else {
			memcpy(shape + o, local + i, j - i);
			o += j - i;
		}
	}
	if (!folded || !letters)
		return;
	shape[o++] = '@';
	memcpy(shape + o, canon, clen);
	ident_set_hash(id, p, ENT_EMAIL_SHAPE, shape, o + clen);
}

/*
 * Letters of the scripts people write their names in, beyond ASCII:
 * Latin-1's and Latin Extended's (not the signs, spaces and symbols
 * before them, nor x and its division sign), Greek, Cyrillic, Armenian,
 * Hebrew, Arabic, the Indic scripts, Thai, Latin and Greek Extended,
 * kana, CJK and Hangul. Punctuation, spaces, marks on their own,
 * symbols and emoji are none: three no-break spaces or two emoji are
 * no name.
 */
static const struct { uint32_t lo, hi; } ident_email_letters[] = {
	{ 0x00c0, 0x00d6 }, { 0x00d8, 0x00f6 }, { 0x00f8, 0x024f },
	{ 0x0370, 0x03ff }, { 0x0400, 0x052f }, { 0x0531, 0x0587 },
	{ 0x05d0, 0x05ea }, { 0x0620, 0x064a }, { 0x0671, 0x06d3 },
	{ 0x0900, 0x0dff }, { 0x0e01, 0x0e3a }, { 0x0e40, 0x0e4e },
	{ 0x1e00, 0x1fff }, { 0x3041, 0x30ff }, { 0x3400, 0x9fff },
	{ 0xac00, 0xd7a3 },
};

/*
 * The name of a normalized local part: its letters alone (ASCII a-z and
 * the letters above), without digits, separators or the domain, so that
 * lena.richter@gmx.de and lena.richter10@gmail.com give one name: the
 * variant a person makes of their own address on another provider.
 * Hashed as ENT_EMAIL_NAME only with IDENT_EMAIL_NAME_MIN letters or
 * more (characters, not bytes): "anna" or "info" would name too many
 * people, and so would a two-character Chinese name.
 */
static void
ident_email_name(const struct ident *id, struct party *p, const char *local,
    size_t llen)
{
	char			 name[IDENT_EMAIL_MAX];
	uint32_t		 cp;
	size_t			 i, k, n, o = 0, letters = 0;
	bool			 letter;

	/* the local part is valid UTF-8 (ident_email checked it) */
	for (i = 0; i < llen && (n = utf8_next(local + i, llen - i, &cp)) != 0;
	    i += n) {
		letter = cp >= 'a' && cp <= 'z';
		for (k = 0; !letter && k < nitems(ident_email_letters); k++)
			letter = cp >= ident_email_letters[k].lo &&
			    cp <= ident_email_letters[k].hi;
		if (!letter)
			continue;
		memcpy(name + o, local + i, n);
		o += n;
		letters++;
	}
	if (letters >= IDENT_EMAIL_NAME_MIN)
		ident_set_hash(id, p, ENT_EMAIL_NAME, name, o);
}

int
ident_email(const struct ident *id, const char *s, size_t len,
    struct party *p, const char **err)
{
	static const struct email_rule	 dflt = { .tags = EMAIL_DEFAULT_TAGS };
	const struct email_rule		*r = &dflt;
	char				 buf[IDENT_EMAIL_MAX + RG_DOMAIN_MAX + 2];
	char				 dom[IDENT_EMAIL_MAX + 1];
	const char			*at, *canon;
	size_t				 llen, dlen, clen, i, o;
	uint32_t			 idx;
	bool				 tagged;

	ident_trim(&s, &len);
	if ((*err = ident_email_check(s, len)) != NULL)
		return (-1);
	if ((at = memrchr(s, '@', len)) == NULL) {
		*err = "not an email address (no @)";
		return (-1);
	}
	llen = (size_t)(at - s);
	dlen = len - llen - 1;
	if (llen == 0) {
		*err = "empty local part";
		return (-1);
	}
	if (llen > IDENT_LOCAL_MAX) {
		*err = "local part longer than 64 bytes";
		return (-1);
	}
	for (i = 0; i < dlen; i++)
		dom[i] = (char)ident_email_lower((unsigned char)at[1 + i]);
	if (dlen > 0 && dom[dlen - 1] == '.')
		dlen--;		/* the root: "gmail.com." */
	if ((*err = ident_email_domain_check(dom, dlen)) != NULL)
		return (-1);

	if (ident_set_find(id->rules->byname, dom, dlen, &idx))
		r = &id->rules->v[idx];
	canon = r->alias != NULL ? r->alias : dom;
	clen = r->alias != NULL ? strlen(r->alias) : dlen;

	if ((o = ident_email_local(r, s, llen, buf, &tagged)) == 0) {
		*err = "empty local part once the tag is removed";
		return (-1);
	}
	ident_email_shape(id, p, buf, o, canon, clen);
	ident_email_name(id, p, buf, o);
	buf[o++] = '@';
	memcpy(buf + o, canon, clen);
	ident_set_hash(id, p, ENT_EMAIL, buf, o + clen);

	memcpy(p->email_domain, canon, clen);
	p->email_domain[clen] = '\0';
	p->email_tagged = tagged;
	p->facts |= PF_EMAIL_DOMAIN | PF_EMAIL_TAGGED;
	if (id->disp != NULL) {
		p->email_disposable = ident_email_disp_match(id->disp, dom,
		    dlen) || (canon != dom &&
		    ident_email_disp_match(id->disp, canon, clen));
		p->facts |= PF_EMAIL_DISPOSABLE;
	}
	return (0);
}
