/*
 * jread.h: one JSON text read into a flat array of values, without a tree.
 *
 * A request line is read once and then asked for a few members by name.
 * jansson builds a tree of separately allocated nodes for that and frees
 * it again, a tenth of a check's CPU. jread reads the common text itself
 * (ASCII strings without \u escapes, integers that fit, reals, small
 * objects without repeated names) into values held in the doc, in the
 * order of the text; anything else it hands to jansson, which accepts or
 * rejects the text exactly as before (and says why), and then lays out
 * jansson's tree the same way. Either way the caller sees one form, and
 * the values are the ones jansson would give: the unit test and fuzz_jread
 * compare the two on every text they have.
 *
 * A doc is one caller's and is used on one thread; jr_done() releases
 * what a read took. Nothing in it outlives jr_done().
 */
#ifndef REFGUARD_JREAD_H
#define REFGUARD_JREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum jr_type {
	JR_NULL,
	JR_FALSE,
	JR_TRUE,
	JR_INTEGER,
	JR_REAL,
	JR_STRING,
	JR_ARRAY,
	JR_OBJECT,
};

struct jr_val {
	const char	*key;	/* a member's name (NUL-terminated), or NULL */
	union {
		const char	*s;	/* JR_STRING: NUL-terminated */
		int64_t		 i;	/* JR_INTEGER */
		double		 d;	/* JR_REAL */
	};
	uint32_t	 len;	/* string: bytes; array, object: values held */
	uint32_t	 span;	/* values it takes: itself and all it holds */
	uint8_t		 type;	/* enum jr_type */
};

#define JR_SMALL	64

struct jr_doc {
	struct jr_val	*v;		/* v[0] is the text's value */
	size_t		 n, cap;
	char		*str;		/* strings and names */
	size_t		 strlen, strcap;
	json_t		*tree;		/* jansson's, if it read the text */
	bool		 fallback;	/* jansson read it (for tests) */
	struct jr_val	 small[JR_SMALL];
};

/*
 * Read JSON text j[len]: an object or an array, nothing after it but
 * white space, no name twice in one object (jansson's JSON_REJECT_DUPLICATES).
 * 0; or -1 with jansson's error in *err, and nothing to jr_done(). A text
 * of JR_MAX_LEN bytes or more is refused whatever it holds (a request
 * line is at most 64 MiB).
 */
#define JR_MAX_LEN	(UINT32_MAX / 2)
int		 jr_read(struct jr_doc *d, const char *j, size_t len,
		    json_error_t *err);
void		 jr_done(struct jr_doc *d);

/* The member called name of object o, or NULL (also when o is no object). */
const struct jr_val *jr_get(const struct jr_val *o, const char *name);

static inline bool
jr_is(const struct jr_val *v, enum jr_type t)
{
	return (v->type == t);
}

static inline bool
jr_is_number(const struct jr_val *v)
{
	return (v->type == JR_INTEGER || v->type == JR_REAL);
}

/* A number's value, as jansson's json_number_value() gives it. */
static inline double
jr_number(const struct jr_val *v)
{
	return (v->type == JR_INTEGER ? (double)v->i : v->d);
}

/* Each value c held by array or object p, in the text's order. */
#define JR_FOREACH(p, c)						\
	for ((c) = (p) + 1; (c) < (p) + (p)->span; (c) += (c)->span)

#endif
