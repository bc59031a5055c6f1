/*
 * store_vrec.h: verdict records as the store keeps them
 * (store_verdict.c). A record (verdict_rec.h) repeats its rule set's rule
 * names, messages and keys in every reply; packed, each reply, re-check
 * reply and delta is kept as its values against a shape stored once
 * (store_xshape.h), and the record is built back, byte for byte, when it
 * is read:
 *   STORE_VREC_PACKED(1) seq(8) action(1) score(4) nrechecks(2)
 *     field(reply) field(explain)
 *     recheck: ts(8) action(1) score(4) field(reply) field(delta)
 *       field(explain)
 *     sum(8)
 *   field: form(1: 0 as is, 1 xshape) len(4) bytes
 * Its first 9 bytes mean what a record's mean (verdict_rec_seq()). Only
 * records with a checksum are packed, and only when they unpack to the
 * same bytes: whoever reads a record through store_get_verdict() gets
 * exactly the record that was put. sum is that record's checksum, put
 * back on the record built when it is read, so that damage to the packed
 * bytes fails the record's own check (verdict_rec.h) as it would unpacked.
 */
#ifndef REFGUARD_STORE_VREC_H
#define REFGUARD_STORE_VREC_H

#include <stdbool.h>
#include <stddef.h>

#include "rec.h"
#include "sbuf.h"

#define STORE_VREC_PACKED	0xc5
#define STORE_VREC_SUM		8	/* a record's checksum: its last bytes */

struct store_txn;
struct verdict_rec;

/*
 * Append record rec[len] packed to out, putting the shapes it needs in
 * txn's store. 1 packed, 0 not (store rec as it is), -1 txn failed.
 */
int	store_vrec_pack(struct store_txn *txn, const void *rec, size_t len,
	    struct sbuf *out);
bool	store_vrec_packed(const void *rec, size_t len);
/*
 * The record packed in p[len] (*rec, caller frees; *len). 0, or -1 when
 * it is corrupt or a shape it names is missing.
 */
int	store_vrec_unpack(struct store_txn *txn, const void *p, size_t plen,
	    void **rec, size_t *len);

/* What a packed record is split into: the texts of its shapes, its re-checks. */
struct store_vrec_buf {
	struct sbuf	 texts;
	struct rec_w	 at;		/* the re-checks' offsets into texts */
	struct rec_w	 rechecks;	/* the re-checks as a record has them */
};
void	store_vrec_buf_init(struct store_vrec_buf *b);
void	store_vrec_buf_free(struct store_vrec_buf *b);
/*
 * The record packed in p[plen] split into *r, as verdict_rec_decode()
 * splits the record store_vrec_unpack() builds, without building it:
 * r's texts point into p or into b (valid until b is used again), and
 * the checksum is checked against r's parts (verdict_rec_sum()). What a
 * reader of many records takes (a backtest reads one a referral). 0, or
 * -1 when it is corrupt or a shape it names is missing.
 */
int	store_vrec_split(struct store_txn *txn, const void *p, size_t plen,
	    struct store_vrec_buf *b, struct verdict_rec *r);

#endif
