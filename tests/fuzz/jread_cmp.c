/*
 * jread_cmp.c: a jr_doc against jansson's tree of the same text; the
 * contract is in jread_cmp.h.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jread_cmp.h"
#include "util.h"

struct jread_cmp {
	const struct jr_doc	*d;
	char			*why;
	size_t			 whylen;
	char			 path[512];	/* where in the text: $.a[2] */
	size_t			 pathlen;
};

static const char *const jread_names[] = {
	"null", "false", "true", "integer", "real", "string", "array", "object"
};

static const char *
jread_name(unsigned int type)
{
	if (type >= sizeof(jread_names) / sizeof(jread_names[0]))
		return ("(no type)");
	return (jread_names[type]);
}

static int
jread_fail(struct jread_cmp *c, size_t at, const char *fmt, ...)
{
	char	msg[384];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->why, c->whylen, "value %zu at $%s: %s", at, c->path, msg);
	return (-1);
}

/* Append to the path; the length to go back to. */
static size_t
jread_push(struct jread_cmp *c, const char *key, size_t keylen, size_t i)
{
	size_t	 old = c->pathlen, room = sizeof(c->path) - old;
	char	 esc[64];
	int	 n;

	if (key != NULL) {
		str_escape(key, keylen, esc, sizeof(esc));
		n = snprintf(c->path + old, room, ".\"%s\"", esc);
	} else
		n = snprintf(c->path + old, room, "[%zu]", i);
	if (n > 0)
		c->pathlen = (size_t)n < room ? old + (size_t)n : old + room - 1;
	return (old);
}

static void
jread_pop(struct jread_cmp *c, size_t old)
{
	c->pathlen = old;
	c->path[old] = '\0';
}

static uint8_t
jread_type(const json_t *t)
{
	switch (json_typeof(t)) {
	case JSON_OBJECT:	return (JR_OBJECT);
	case JSON_ARRAY:	return (JR_ARRAY);
	case JSON_STRING:	return (JR_STRING);
	case JSON_INTEGER:	return (JR_INTEGER);
	case JSON_REAL:		return (JR_REAL);
	case JSON_TRUE:		return (JR_TRUE);
	case JSON_FALSE:	return (JR_FALSE);
	case JSON_NULL:		return (JR_NULL);
	}
	return (0xff);
}

static int jread_val(struct jread_cmp *, size_t, json_t *, const char *,
    size_t, size_t *);

/* The children of the container at index at: t's, in t's order. */
static int
jread_kids(struct jread_cmp *c, size_t at, json_t *t, size_t *next)
{
	const struct jr_doc	*d = c->d;
	const struct jr_val	*p = &d->v[at], *ch, *got;
	const char		*k;
	json_t			*e;
	size_t			 i, kl, n = 0, old, here = at + 1;

	if (json_is_array(t)) {
		json_array_foreach(t, i, e) {
			old = jread_push(c, NULL, 0, i);
			if (jread_val(c, here, e, NULL, 0, &here) != 0)
				return (-1);
			jread_pop(c, old);
		}
	} else {
		json_object_keylen_foreach(t, k, kl, e) {
			old = jread_push(c, k, kl, 0);
			if (jread_val(c, here, e, k, kl, &here) != 0)
				return (-1);
			jread_pop(c, old);
		}
	}
	if (at + p->span != here)
		return (jread_fail(c, at, "span %u, it and its values take %zu",
		    p->span, here - at));

	/* Every span checked: the walks the callers make end. */
	JR_FOREACH(p, ch)
		n++;
	if (n != p->len)
		return (jread_fail(c, at, "JR_FOREACH walks %zu of %u values",
		    n, p->len));
	if (json_is_object(t)) {
		/* No name twice: jr_get finds each member itself. */
		ch = p + 1;
		json_object_foreach(t, k, e) {
			if ((got = jr_get(p, k)) != ch)
				return (jread_fail(c, (size_t)(ch - d->v),
				    "jr_get(\"%.40s\") finds value %td", k,
				    got == NULL ? (ptrdiff_t)-1 : got - d->v));
			ch += ch->span;
		}
	}
	*next = here;
	return (0);
}

/* The value at index at against t (member key[keylen], or NULL). */
static int
jread_val(struct jread_cmp *c, size_t at, json_t *t, const char *key,
    size_t keylen, size_t *next)
{
	const struct jr_doc	*d = c->d;
	const struct jr_val	*v;
	char			 e1[64], e2[64];
	double			 x, y;
	size_t			 n;
	uint8_t			 want = jread_type(t);

	if (at >= d->n)
		return (jread_fail(c, at, "past the doc's %zu values", d->n));
	v = &d->v[at];
	if (key == NULL && v->key != NULL) {
		str_escape(v->key, strlen(v->key), e1, sizeof(e1));
		return (jread_fail(c, at, "named \"%s\", jansson's has no name",
		    e1));
	}
	if (key != NULL && (v->key == NULL || strlen(v->key) != keylen ||
	    memcmp(v->key, key, keylen) != 0)) {
		if (v->key != NULL)
			str_escape(v->key, strlen(v->key), e1, sizeof(e1));
		str_escape(key, keylen, e2, sizeof(e2));
		return (jread_fail(c, at, "named %s%s%s, jansson's \"%s\"",
		    v->key == NULL ? "" : "\"", v->key == NULL ? "(none)" : e1,
		    v->key == NULL ? "" : "\"", e2));
	}
	if (v->type != want)
		return (jread_fail(c, at, "%s, jansson's is %s",
		    jread_name(v->type), jread_name(want)));
	if (v->span == 0 || v->span > d->n - at)
		return (jread_fail(c, at, "span %u out of [1, %zu]", v->span,
		    d->n - at));

	switch (want) {
	case JR_STRING:
		n = json_string_length(t);
		if (v->s == NULL)
			return (jread_fail(c, at, "string without bytes"));
		if (v->len != n || memcmp(v->s, json_string_value(t), n) != 0 ||
		    v->s[n] != '\0') {
			str_escape(v->s, v->len, e1, sizeof(e1));
			str_escape(json_string_value(t), n, e2, sizeof(e2));
			return (jread_fail(c, at, "string \"%s\" (%u bytes), "
			    "jansson's \"%s\" (%zu bytes)", e1, v->len, e2, n));
		}
		break;
	case JR_INTEGER:
		if (v->i != json_integer_value(t))
			return (jread_fail(c, at, "integer %lld, jansson's %lld",
			    (long long)v->i, (long long)json_integer_value(t)));
		break;
	case JR_REAL:
		x = v->d;
		y = json_real_value(t);
		if (memcmp(&x, &y, sizeof(x)) != 0)
			return (jread_fail(c, at, "real %.17g (%a), jansson's "
			    "%.17g (%a)", x, x, y, y));
		break;
	case JR_ARRAY:
	case JR_OBJECT:
		n = want == JR_ARRAY ? json_array_size(t) : json_object_size(t);
		if (v->len != n)
			return (jread_fail(c, at, "%s of %u values, jansson's of "
			    "%zu", jread_name(want), v->len, n));
		return (jread_kids(c, at, t, next));
	}
	if (v->span != 1)
		return (jread_fail(c, at, "a %s of span %u", jread_name(want),
		    v->span));
	*next = at + 1;
	return (0);
}

int
jread_cmp(const struct jr_doc *d, const json_t *t, char *why, size_t whylen)
{
	struct jread_cmp	c;
	size_t			next;

	memset(&c, 0, sizeof(c));
	c.d = d;
	c.why = why;
	c.whylen = whylen;
	if (d->n == 0 || d->v == NULL) {
		snprintf(why, whylen, "no values in the doc");
		return (-1);
	}
	if (jread_val(&c, 0, (json_t *)t, NULL, 0, &next) != 0)
		return (-1);
	if (next != d->n) {
		snprintf(why, whylen, "%zu values, the text's value holds %zu",
		    d->n, next);
		return (-1);
	}
	return (0);
}

int
jread_agree(const char *j, size_t len, enum jread_took *took, char *why,
    size_t whylen)
{
	struct jr_doc	 d;
	json_error_t	 jerr, derr;
	json_t		*t;
	int		 r, rc = 0;

	memset(&d, 0, sizeof(d));
	memset(&derr, 0, sizeof(derr));
	r = jr_read(&d, j, len, &derr);
	t = json_loadb(j, len, JSON_REJECT_DUPLICATES, &jerr);
	*took = JREAD_REFUSED;
	if (r != 0 && r != -1) {
		snprintf(why, whylen, "jr_read returned %d", r);
		rc = -1;
	} else if (r == -1 && t != NULL) {
		snprintf(why, whylen, "jr_read refused it (%s), json_loadb "
		    "read it", derr.text);
		rc = -1;
	} else if (r == -1) {
		if (strcmp(derr.text, jerr.text) != 0 ||
		    derr.position != jerr.position) {
			snprintf(why, whylen, "jr_read's error \"%s\" at %d, "
			    "jansson's \"%s\" at %d", derr.text,
			    derr.position, jerr.text, jerr.position);
			rc = -1;
		}
	} else if (t == NULL) {
		snprintf(why, whylen, "jr_read read it (%s), json_loadb "
		    "refused it: %s (byte %d)", d.fallback ? "fallback" :
		    "fast", jerr.text, jerr.position);
		rc = -1;
	} else if (d.fallback != (d.tree != NULL)) {
		snprintf(why, whylen, "fallback %d with%s a tree",
		    d.fallback, d.tree != NULL ? "" : "out");
		rc = -1;
	} else {
		*took = d.fallback ? JREAD_FALLBACK : JREAD_FAST;
		rc = jread_cmp(&d, t, why, whylen);
	}
	if (r == 0)
		jr_done(&d);
	if (t != NULL)
		json_decref(t);
	return (rc);
}
