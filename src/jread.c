/*
 * jread.c: JSON text into a flat array of values; the contract is in
 * jread.h.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jread.h"
#include "util.h"

/* What the fast reader leaves to jansson: deeper or wider than requests are. */
#define JR_MAX_DEPTH	32
#define JR_MAX_MEMBERS	64

struct jr_in {
	const char	*p, *end;
	int		 depth;
};

static struct jr_val *
jr_add(struct jr_doc *d, uint8_t type, const char *key)
{
	struct jr_val	*v;

	if (d->n == d->cap) {
		d->cap *= 2;
		if (d->v == d->small) {
			d->v = xreallocarray(NULL, d->cap, sizeof(*d->v));
			memcpy(d->v, d->small, sizeof(d->small));
		} else
			d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	v = &d->v[d->n++];
	memset(v, 0, sizeof(*v));
	v->type = type;
	v->key = key;
	return (v);
}

static void
jr_ws(struct jr_in *in)
{
	while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' ||
	    *in->p == '\n' || *in->p == '\r'))
		in->p++;
}

/*
 * A string at in->p (after its quote) into the doc's string room: 0, or
 * -1 for anything jansson is to read (\u, a byte outside printable
 * ASCII) or reject. The room holds the whole text, and a string never
 * takes more than its quotes and escapes did.
 */
static int
jr_string(struct jr_doc *d, struct jr_in *in, const char **s, uint32_t *len)
{
	char		*out = d->str + d->strlen, *o = out;
	unsigned char	 c;

	while (in->p < in->end) {
		c = (unsigned char)*in->p++;
		if (c == '"') {
			*o = '\0';
			*s = out;
			*len = (uint32_t)(o - out);
			d->strlen += (size_t)(o - out) + 1;
			return (0);
		}
		if (c < 0x20 || c >= 0x80)
			return (-1);
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		if (in->p == in->end)
			return (-1);
		switch (*in->p++) {
		case '"':	*o++ = '"'; break;
		case '\\':	*o++ = '\\'; break;
		case '/':	*o++ = '/'; break;
		case 'b':	*o++ = '\b'; break;
		case 'f':	*o++ = '\f'; break;
		case 'n':	*o++ = '\n'; break;
		case 'r':	*o++ = '\r'; break;
		case 't':	*o++ = '\t'; break;
		default:
			return (-1);
		}
	}
	return (-1);
}

static bool
jr_digit(const struct jr_in *in)
{
	return (in->p < in->end && *in->p >= '0' && *in->p <= '9');
}

/* A number, by JSON's grammar: an integer of up to 18 digits, or a real. */
static int
jr_num(struct jr_doc *d, struct jr_in *in, const char *key)
{
	const char	*start = in->p;
	struct jr_val	*v;
	char		 buf[64], *ep;
	bool		 real = false;
	uint64_t	 i = 0;
	size_t		 ndig = 0;
	double		 x;

	if (*in->p == '-')
		in->p++;
	if (!jr_digit(in))
		return (-1);
	if (*in->p == '0') {
		in->p++;
		if (jr_digit(in))
			return (-1);
	} else
		while (jr_digit(in)) {
			if (++ndig > 18)
				return (-1);
			i = i * 10 + (uint64_t)(*in->p++ - '0');
		}
	if (in->p < in->end && *in->p == '.') {
		in->p++;
		if (!jr_digit(in))
			return (-1);
		while (jr_digit(in))
			in->p++;
		real = true;
	}
	if (in->p < in->end && (*in->p == 'e' || *in->p == 'E')) {
		in->p++;
		if (in->p < in->end && (*in->p == '+' || *in->p == '-'))
			in->p++;
		if (!jr_digit(in))
			return (-1);
		while (jr_digit(in))
			in->p++;
		real = true;
	}
	if (!real) {
		v = jr_add(d, JR_INTEGER, key);
		v->i = *start == '-' ? -(int64_t)i : (int64_t)i;
		return (0);
	}
	if ((size_t)(in->p - start) >= sizeof(buf))
		return (-1);
	memcpy(buf, start, (size_t)(in->p - start));
	buf[in->p - start] = '\0';
	x = strtod(buf, &ep);
	if (*ep != '\0' || isinf(x))
		return (-1);	/* jansson says "real number overflow" */
	v = jr_add(d, JR_REAL, key);
	v->d = x;
	return (0);
}

static int
jr_literal(struct jr_doc *d, struct jr_in *in, const char *word,
    uint8_t type, const char *key)
{
	size_t	len = strlen(word);

	if ((size_t)(in->end - in->p) < len || memcmp(in->p, word, len) != 0)
		return (-1);
	in->p += len;
	jr_add(d, type, key);
	return (0);
}

static int jr_value(struct jr_doc *, struct jr_in *, const char *);

/*
 * What an object or an array at in->p holds (after its opening brace or
 * bracket; close is the closing one): an object's members are a name,
 * ':' and a value each.
 */
static int
jr_holds(struct jr_doc *d, struct jr_in *in, size_t at, char close)
{
	const char	*key = NULL;
	uint32_t	 klen, n = 0;
	size_t		 i;

	jr_ws(in);
	if (in->p < in->end && *in->p == close) {
		in->p++;
		return (0);
	}
	for (;;) {
		if (close == '}') {
			if (in->p == in->end || *in->p++ != '"' ||
			    jr_string(d, in, &key, &klen) != 0)
				return (-1);
			/* A name twice: jansson rejects the text, and says so. */
			for (i = at + 1; i < d->n; i += d->v[i].span)
				if (strcmp(d->v[i].key, key) == 0)
					return (-1);
			jr_ws(in);
			if (in->p == in->end || *in->p++ != ':')
				return (-1);
			jr_ws(in);
		}
		if (jr_value(d, in, key) != 0)
			return (-1);
		if (++n > JR_MAX_MEMBERS && close == '}')
			return (-1);
		d->v[at].len = n;
		jr_ws(in);
		if (in->p == in->end)
			return (-1);
		if (*in->p == close) {
			in->p++;
			return (0);
		}
		if (*in->p++ != ',')
			return (-1);
		jr_ws(in);
	}
}

static int
jr_value(struct jr_doc *d, struct jr_in *in, const char *key)
{
	struct jr_val	*v;
	size_t		 at = d->n;
	int		 rc;

	if (in->p == in->end)
		return (-1);
	switch (*in->p) {
	case '{':
	case '[':
		if (++in->depth > JR_MAX_DEPTH)
			return (-1);
		jr_add(d, *in->p == '{' ? JR_OBJECT : JR_ARRAY, key);
		rc = jr_holds(d, in, at, *in->p++ == '{' ? '}' : ']');
		in->depth--;
		break;
	case '"':
		in->p++;
		v = jr_add(d, JR_STRING, key);
		rc = jr_string(d, in, &v->s, &v->len);
		break;
	case 't':
		rc = jr_literal(d, in, "true", JR_TRUE, key);
		break;
	case 'f':
		rc = jr_literal(d, in, "false", JR_FALSE, key);
		break;
	case 'n':
		rc = jr_literal(d, in, "null", JR_NULL, key);
		break;
	default:
		rc = jr_num(d, in, key);
		break;
	}
	if (rc != 0)
		return (-1);
	/* Set last: an object's members are walked by their spans. */
	d->v[at].span = (uint32_t)(d->n - at);
	return (0);
}

/* jansson's tree, laid out as the fast reader lays out a text. */
static void
jr_tree(struct jr_doc *d, json_t *j, const char *key)
{
	struct jr_val	*v;
	const char	*k;
	json_t		*c;
	size_t		 at = d->n, i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		v = jr_add(d, JR_OBJECT, key);
		v->len = (uint32_t)json_object_size(j);
		json_object_foreach(j, k, c)
			jr_tree(d, c, k);
		break;
	case JSON_ARRAY:
		v = jr_add(d, JR_ARRAY, key);
		v->len = (uint32_t)json_array_size(j);
		json_array_foreach(j, i, c)
			jr_tree(d, c, NULL);
		break;
	case JSON_STRING:
		v = jr_add(d, JR_STRING, key);
		v->s = json_string_value(j);
		v->len = (uint32_t)json_string_length(j);
		break;
	case JSON_INTEGER:
		jr_add(d, JR_INTEGER, key)->i = json_integer_value(j);
		break;
	case JSON_REAL:
		jr_add(d, JR_REAL, key)->d = json_real_value(j);
		break;
	case JSON_TRUE:
		jr_add(d, JR_TRUE, key);
		break;
	case JSON_FALSE:
		jr_add(d, JR_FALSE, key);
		break;
	case JSON_NULL:
		jr_add(d, JR_NULL, key);
		break;
	}
	d->v[at].span = (uint32_t)(d->n - at);
}

int
jr_read(struct jr_doc *d, const char *j, size_t len, json_error_t *err)
{
	struct jr_in	in = { j, j + len, 0 };

	d->v = d->small;
	d->n = 0;
	d->cap = JR_SMALL;
	d->tree = NULL;
	d->fallback = false;
	d->str = NULL;
	if (len >= JR_MAX_LEN) {
		memset(err, 0, sizeof(*err));
		snprintf(err->text, sizeof(err->text), "a text of %zu bytes is "
		    "too long to read", len);
		return (-1);
	}
	d->strcap = len + 1;
	d->strlen = 0;
	d->str = xmalloc(d->strcap);

	jr_ws(&in);
	if (in.p < in.end && (*in.p == '{' || *in.p == '[') &&
	    jr_value(d, &in, NULL) == 0) {
		jr_ws(&in);
		if (in.p == in.end)
			return (0);
	}

	/* Not text the fast reader takes: jansson reads it, or says why not. */
	free(d->str);
	d->str = NULL;
	if (d->v != d->small)
		free(d->v);
	d->v = d->small;
	d->cap = JR_SMALL;
	d->n = 0;
	d->fallback = true;
	d->tree = json_loadb(j, len, JSON_REJECT_DUPLICATES, err);
	if (d->tree == NULL) {
		jr_done(d);
		return (-1);
	}
	jr_tree(d, d->tree, NULL);
	return (0);
}

void
jr_done(struct jr_doc *d)
{
	if (d->v != d->small)
		free(d->v);
	d->v = d->small;
	d->n = 0;
	free(d->str);
	d->str = NULL;
	if (d->tree != NULL)
		json_decref(d->tree);
	d->tree = NULL;
}

const struct jr_val *
jr_get(const struct jr_val *o, const char *name)
{
	const struct jr_val	*c;

	if (o == NULL || o->type != JR_OBJECT)
		return (NULL);
	JR_FOREACH(o, c)
		if (strcmp(c->key, name) == 0)
			return (c);
	return (NULL);
}
