/*
 * store_xshape.h: explain texts stored as a shape and its values (jshape.h).
 * A shape is stored once per store, in meta "xshape:<id>" (id: XXH3-64
 * of the shape and the values of the first text of that shape, its
 * reference), with meta "xshapeid:<XXH3-64 of the shape>" naming it;
 * each text then keeps its values only, zstd-compressed against the
 * reference: ~150 bytes where the whole text compressed against its rule
 * set's dictionary took ~500 (verdict.c). Stored form of a text:
 *   STORE_XSHAPE_MARK(1) id(8) zstd frame of the values
 * A shape's entry is one of (content: slen(4) shape reference):
 *   a zstd frame of the content (whole);
 *   0x01 base(8) a zstd frame of the content compressed against the
 *     content of entry base, which is whole (schema 8): a shape differs
 *     from another of the same rules where a few rules stopped at
 *     another condition, so it takes a few hundred bytes, not thousands.
 * The shape entry is put by the transaction of the record that needs it
 * and finds it missing, so it commits or aborts with that record; entries
 * are never deleted, so a base outlives what is stored against it.
 */
#ifndef REFGUARD_STORE_XSHAPE_H
#define REFGUARD_STORE_XSHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

#define STORE_XSHAPE_MARK	0xd2

struct store_txn;

/*
 * A text's shape and values, split (and checked to join back to it byte
 * for byte) ahead of its pack: the costly half of packing, which needs
 * no store, so that any thread can do it. Zeroed is empty; free with
 * store_xsplit_free().
 */
struct store_xsplit {
	struct sbuf	 shape;
	struct sbuf	 vals;
	uint64_t	 sid;		/* XXH3-64 of the shape */
	bool		 ok;		/* split and checked, or taken */
	struct sbuf	 packed;	/* the stored form, when prepacked */
};

/*
 * Split s[len] into sp, on any thread: 1, or 0 when the text does not
 * take this form (sp->ok false: the pack then stores it another way).
 */
int	store_xshape_split(const char *s, size_t len, struct store_xsplit *sp);
void	store_xsplit_free(struct store_xsplit *sp);
/*
 * Into sp, a split written as such (jshape.h's writer: what the split of
 * its text would give): takes shape's and vals' memory, leaving them
 * empty.
 */
void	store_xshape_take(struct store_xsplit *sp, struct sbuf *shape,
	    struct sbuf *vals);
/*
 * The rest of the pack where it only reads: when txn's store holds sp's
 * shape already (a shape, once stored, never changes), compress the
 * values against it into sp->packed, which store_xshape_pack() then
 * takes as it is (sp's shape and values are freed). 1 packed, 0 not (a
 * shape new to the store: the pack puts it), -1 txn failed. Any thread,
 * in a transaction of its own.
 */
int	store_xshape_prepack(struct store_txn *txn, struct store_xsplit *sp);
/*
 * Append explain text s[len] to sb in the stored form, putting its shape
 * in txn's store when missing; sp is s's split when the caller made it
 * ahead (store_xshape_split(), store_xshape_take(): s may then be NULL),
 * else NULL. 1 appended, 0 not (a text this
 * form does not take, or would not give back byte for byte: the caller
 * stores it another way), -1 txn failed.
 */
int	store_xshape_pack(struct store_txn *txn, struct sbuf *sb, const char *s,
	    size_t len, const struct store_xsplit *sp);
/* Is stored explain p[len] in this form? */
bool	store_xshape_is(const void *p, size_t len);
/*
 * Append the text of stored form p[len] to sb: 0, or -1 when it cannot
 * be read (its shape missing from txn's store, a corrupt frame or shape).
 */
int	store_xshape_text(struct sbuf *sb, struct store_txn *txn, const void *p,
	    size_t len);

#endif
