/*
 * verdict_rec.h: the stored verdict record (store.h verdicts database),
 * its one encoder and its one decoder. The check, the re-check and
 * import write records through verdict_rec_encode(); whoever reads one
 * goes through verdict_rec_decode(). It knows nothing of the store.
 *
 * The record, VERDICT_REC_CHECK (1), as a check writes it (rec.h fields):
 *   version(1) seq(8) action(1) score(4) replylen(4) reply explain
 * where reply is the exact JSON reply line sent to the client (so a
 * repeated id is answered with the same bytes) and explain the facts the
 * rules saw (verdict.h: compressed JSON). Once re-checked, version
 * VERDICT_REC_RECHECKED (2) keeps that and appends the re-checks (the
 * first 18 bytes mean the same in both):
 *   version(1) seq(8) action(1) score(4) replylen(4) explainlen(4)
 *     nrechecks(2) reply explain recheck...
 *   recheck: ts(8) action(1) score(4) replylen(4) deltalen(4)
 *     explainlen(4) reply delta explain
 * where a re-check's reply is the verdict it gave (with "version"), delta
 * what changed since the version before (JSON members) and explain its
 * facts. The check's own answer is version 1.
 *
 * Since store schema 3 the version byte has VERDICT_REC_SUM (0x80) set
 * and the record ends with a checksum: XXH3-64 (big-endian) of every byte
 * before it. A stored reply is sent as stored, so one flipped byte (a
 * newline) would otherwise split a reply and shift every later reply on
 * its connection. Records written before (no checksum) are still read;
 * their replies must be one JSON object without control bytes, which is
 * what refguard writes.
 */
#ifndef REFGUARD_VERDICT_REC_H
#define REFGUARD_VERDICT_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec.h"

/* A stored verdict record, split; pointers into the record. */
struct verdict_rec {
	uint64_t	 seq;		/* the event it was given to */
	uint8_t		 action;	/* enum rg_action, of the check */
	int32_t		 score;
	const char	*reply;		/* the reply line (JSON), not NUL-terminated */
	size_t		 replylen;
	const char	*explain;	/* the facts (stored form), may be empty */
	size_t		 explainlen;
	unsigned	 nrechecks;	/* versions 2 .. nrechecks + 1 */
	const uint8_t	*rechecks;	/* their encoding (verdict_ver_encode) */
	size_t		 rechecks_len;
	bool		 summed;	/* had a checksum (else replies checked) */
};
/*
 * Split a record from store_get_verdict(): 0, or -1 when it is corrupt
 * (its checksum differs, or, without one, its reply is not one JSON
 * object) or malformed (a length runs past its end, a re-checked record
 * without re-checks or with bytes after them).
 */
int	verdict_rec_decode(const void *rec, size_t len, struct verdict_rec *r);
/*
 * Build a record from its parts, with its checksum: version 1 when r has
 * no re-checks, else 2 (r->summed is not read). Returns the record
 * (caller frees) and its length in *len.
 */
void	*verdict_rec_encode(const struct verdict_rec *r, size_t *len);
/*
 * The checksum verdict_rec_encode(r) ends with, computed over r's parts
 * in place: a reader that has the parts apart (a packed record,
 * store_vrec.h) checks them without building the record.
 */
uint64_t verdict_rec_sum(const struct verdict_rec *r);
/*
 * The same with one more re-check: more (its version unused) after r's,
 * written in the one pass (a re-check does not copy r's re-checks first).
 */
struct verdict_ver;
void	*verdict_rec_append(const struct verdict_rec *r,
	    const struct verdict_ver *more, size_t *len);
/*
 * The seq of the event a record belongs to (its first 9 bytes, the same
 * in every version), without reading the rest: what the store keeps the
 * record under. 0, or -1 when the record is shorter than that.
 */
int	verdict_rec_seq(const void *rec, size_t len, uint64_t *seq);

/* One re-check of a record (i from 0: version i + 2); pointers into it. */
struct verdict_ver {
	unsigned	 version;
	int64_t		 ts;		/* when it was re-checked */
	uint8_t		 action;
	int32_t		 score;
	const char	*reply;
	size_t		 replylen;
	const char	*delta;
	size_t		 deltalen;
	const char	*explain;
	size_t		 explainlen;
};
/*
 * The re-checks of a record, oldest first, in one walk:
 *	verdict_ver_iter_init(&it, &r);
 *	while ((rc = verdict_ver_next(&it, &v)) == 0) ...
 * next: 0 with *v the next one, 1 when none is left, -1 when it is
 * malformed or (without a checksum) its reply is not one JSON object; the
 * walk goes on past a version whose reply alone is refused.
 */
struct verdict_ver_iter {
	struct rec_r	 rd;
	unsigned	 i, n;
	bool		 summed;
};
void	verdict_ver_iter_init(struct verdict_ver_iter *it,
	    const struct verdict_rec *r);
int	verdict_ver_next(struct verdict_ver_iter *it, struct verdict_ver *v);
/*
 * The latest version: the last re-check, or the check's own answer
 * (version 1: ts 0, the record's reply and explain, no delta). 0, or -1
 * as verdict_ver_next().
 */
int	verdict_rec_latest(const struct verdict_rec *r, struct verdict_ver *v);
/* Append re-check v to w: r->rechecks is a run of these (version unused). */
void	verdict_ver_encode(struct rec_w *w, const struct verdict_ver *v);

/*
 * The rules a verdict reply names, in its "reasons" then its "shadow"
 * (shadow true): cb(arg, rule, shadow) for each, until it returns non-zero.
 * -1 when reply is not a JSON object, else 0.
 */
int	verdict_reply_rules(const char *reply, size_t len,
	    int (*cb)(void *, const char *, bool), void *arg);
/*
 * The rule set hash a reply names ("ruleset", after its reasons and
 * shadow arrays): a pointer to its 32 hex digits in reply, or NULL (a
 * reply of no rule set says "none"). Found by its leading comma, as the
 * hits are.
 */
const char *verdict_reply_ruleset(const char *reply, size_t len);

#endif
