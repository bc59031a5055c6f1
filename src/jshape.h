/*
 * jshape.h: JSON text as a shape and its values, losslessly. The shape is
 * the text with each value that varies from one text to the next (numbers,
 * true/false/null, times, durations, most strings) replaced by a marker
 * byte (0x01-0x06, which JSON text cannot hold); the values are those,
 * packed (varints; a time as its distance from the text's previous one).
 * Explanations of one rule set come in a few hundred shapes: stored once
 * each, they leave ~500 bytes of values per text, which compress well
 * against an earlier text's values of the same shape (verdict.c).
 * Which strings stay in the shape (object keys, and the values of a few
 * keys that name things: "rule", "expr", "fn", ...) only changes how
 * well it packs: jshape_join() of a split gives back the same bytes.
 * It knows nothing of the store.
 */
#ifndef REFGUARD_JSHAPE_H
#define REFGUARD_JSHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sbuf.h"

/*
 * Append the shape of JSON text j[len] to shape and its values to vals.
 * 0, or -1 when j is not JSON text this codec takes (a control byte, an
 * unterminated string or literal): the caller stores it another way.
 * Only the tokens are checked, not the grammar: any text that splits
 * joins back to itself.
 */
int	jshape_split(const char *j, size_t len, struct sbuf *shape,
	    struct sbuf *vals);
/*
 * Append to out the text of shape[slen] with values vals[vlen]. 0, or -1
 * when they do not fit together (a value missing or left over, a bad
 * varint): out then holds a partial text the caller discards.
 */
int	jshape_join(const char *shape, size_t slen, const uint8_t *vals,
	    size_t vlen, struct sbuf *out);

/*
 * Writing a text straight in its split form, without the text: the shape
 * and values jshape_split() would give of the text the same calls would
 * write, so that a text never has to be written, then parsed again.
 * jsw_raw() takes what the shape keeps as it is: punctuation and keys,
 * never a value; jsw_name() a string the shape keeps (the value of a key
 * that names things: "rule", "expr", "fn", "mode", "action", "which",
 * "by"); every other call a value, which it classifies as the split does
 * (a string that reads as a time is a time). Zeroed is empty; free with
 * jshape_w_free().
 */
struct jshape_w {
	struct sbuf	 shape;
	struct sbuf	 vals;
	struct sbuf	 tmp;
	int64_t		 ts;		/* the last time value written */
};

void	jshape_w_free(struct jshape_w *w);
void	jsw_raw(struct jshape_w *w, const char *s, size_t n);
void	jsw_name(struct jshape_w *w, const char *s, size_t n);
void	jsw_str(struct jshape_w *w, const char *s, size_t n);
void	jsw_int(struct jshape_w *w, int64_t v);
void	jsw_double(struct jshape_w *w, double v);	/* "%.15g" */
void	jsw_bool(struct jshape_w *w, bool b);
void	jsw_null(struct jshape_w *w);
void	jsw_time(struct jshape_w *w, int64_t ms);	/* as fmt_rfc3339() */
void	jsw_ms(struct jshape_w *w, int64_t ms);		/* "<ms>ms" */
/* jsw_raw() of a C string: a literal's length is known when compiled. */
static inline void
jsw_raws(struct jshape_w *w, const char *s)
{
	jsw_raw(w, s, strlen(s));
}
/* jshape_join() of a shape and values held in sbufs (a writer's, a split). */
int	jshape_join_sb(const struct sbuf *shape, const struct sbuf *vals,
	    struct sbuf *out);
/*
 * The text of a shape and values a writer wrote (which always join), as
 * a malloc'd string the caller frees.
 */
char	*jshape_join_text(const struct sbuf *shape, const struct sbuf *vals);

#endif
