/*
 * cluster_wire.c: the message of the cluster's log, one per replicated
 * write: its format, its one encoder and decoder; see cluster_int.h.
 */
#include "config.h"

#ifdef HAVE_NATS

#include <string.h>

#include "analyst.h"
#include "cluster_int.h"
#include "job.h"
#include "rec.h"
#include "req.h"
#include "rgev.h"
#include "util.h"

/* ---- the message: what a node decoded, as every node applies it -------- */

#define CL_MSG_VERSION	1
#define CL_F_STALE	0x01	/* the origin's data was stale */
#define CL_F_TS_GIVEN	0x02	/* the request said ts */
#define CL_MSG_HINT	(EVENT_REC_MAX + 512)

/*
 * The ops the log carries (the op table's .replicate), by their number in
 * the message: never renumber one, append. A check or an observe whose
 * event record an older refguard cannot decode (a party kind or fact it
 * does not know: phone.block, store schema 11; device.browser, schema
 * 12; phone.country and device.model, schema 13; email.name, schema
 * 14; device.lang_country, schema 15) takes a number of its own, so
 * that an older node stalls on it (CL_NEWER, "upgrade this node")
 * instead of skipping it as undecodable and missing it for good; this
 * one decodes every number of an op alike.
 */
static const enum req_op cl_ops[] = {
	[1] = OP_CHECK, [2] = OP_OBSERVE, [3] = OP_FEEDBACK,
	[4] = OP_LIST_ADD, [5] = OP_LIST_DEL, [6] = OP_RECHECK,
	[7] = OP_QUEUE_CLAIM, [8] = OP_QUEUE_UNCLAIM, [9] = OP_QUEUE_DECIDE,
	[10] = OP_CHECK, [11] = OP_OBSERVE,	/* schema 11's event records */
	[12] = OP_CHECK, [13] = OP_OBSERVE,	/* schema 12's */
	[14] = OP_CHECK, [15] = OP_OBSERVE,	/* schema 13's */
	[16] = OP_CHECK, [17] = OP_OBSERVE,	/* schema 14's */
	[18] = OP_CHECK, [19] = OP_OBSERVE,	/* schema 15's */
};

/* op's number in the message, the newest for it; 0: not one the log carries. */
static uint8_t
cl_op_code(enum req_op op)
{
	size_t	i;

	for (i = nitems(cl_ops) - 1; i > 0; i--)
		if (cl_ops[i] == op)
			return ((uint8_t)i);
	return (0);
}

/*
 * version(1)=1 op(1: cl_ops) flags(1: CL_F_*) secret(16: the fingerprint
 * of the origin's hash secret, ident_secret_fp) ruleset(str8: the origin's
 * rule set hash, "" none), then to the end: for a check or an observe the
 * event record (rgev.h); for the other ops the referral id (str8), the
 * request time (8: ms, the origin's clock at decode, or the ts it gave),
 * then for the analyst's ops the prepared request (analyst.h). The facts
 * (hashes, GeoIP, email domain, a list value's hash) are the origin's:
 * every node applies what the origin decoded. Returns the bytes (caller
 * frees) and their length in *len, or NULL (an op the log does not carry).
 */
uint8_t *
cl_encode(const struct job *job, const struct rg_hash *fp,
    const char *ruleset, size_t *len)
{
	struct rec_w	w;
	uint8_t		ev[EVENT_REC_MAX], op = cl_op_code(job->op);

	if (op == 0)
		return (NULL);
	rec_w_init(&w, CL_MSG_HINT);
	rec_put_u8(&w, CL_MSG_VERSION);
	rec_put_u8(&w, op);
	rec_put_u8(&w, (job->ev.data_stale ? CL_F_STALE : 0) |
	    (job->ev.ts_given ? CL_F_TS_GIVEN : 0));
	rec_put_bytes(&w, fp->b, RG_HASH_LEN);
	rec_put_str8(&w, ruleset, 255);
	if (job->op == OP_CHECK || job->op == OP_OBSERVE)
		rec_put_bytes(&w, ev, rgev_encode(&job->ev, ev));
	else {
		rec_put_u8(&w, (uint8_t)job->ev.idlen);	/* (a str8) */
		rec_put_bytes(&w, job->ev.id, job->ev.idlen);
		rec_put_u64(&w, (uint64_t)job->ev.ts);
		if (job->ar != NULL)
			analyst_req_encode(job->ar, &w);
	}
	return (rec_w_take(&w, len));
}

/*
 * 0; -1 not decodable (not refguard's, or damaged); CL_NEWER: this
 * version of the format with an op this refguardd does not know (a newer
 * refguard's write: cl_ops is only ever appended to), its number in *op.
 */
int
cl_decode(const void *p, size_t len, struct job *job, struct rg_hash *fp,
    uint8_t *opp)
{
	struct rec_r	 r;
	char		 rs[256];
	const void	*ev;
	uint8_t		 op, flags;
	size_t		 n;

	rec_r_init(&r, p, len);
	if (rec_get_u8(&r) != CL_MSG_VERSION)
		return (-1);
	op = rec_get_u8(&r);
	flags = rec_get_u8(&r);
	rec_get_bytes(&r, fp->b, RG_HASH_LEN);
	rec_get_str8(&r, rs, sizeof(rs));
	*opp = op;
	if (rec_r_err(&r) != 0 || op == 0)
		return (-1);
	if (op >= nitems(cl_ops))
		return (CL_NEWER);
	job->op = cl_ops[op];
	if (job->op == OP_CHECK || job->op == OP_OBSERVE) {
		n = rec_left(&r);
		if ((ev = rec_get_ref(&r, n)) == NULL ||
		    rgev_decode(ev, n, &job->ev) != 0)
			goto bad;
	} else {
		memset(&job->ev, 0, sizeof(job->ev));
		job->ev.idlen = rec_get_str8(&r, job->ev.id,
		    sizeof(job->ev.id));
		job->ev.ts = (int64_t)rec_get_u64(&r);
		if (analyst_op(job->op)) {
			job->ar = xmalloc(sizeof(*job->ar));
			if (analyst_req_decode(&r, job->ar) != 0)
				goto bad;
		} else if (rec_r_end(&r) != 0)
			goto bad;
	}
	job->ev.data_stale = (flags & CL_F_STALE) != 0;
	job->ev.ts_given = (flags & CL_F_TS_GIVEN) != 0;
	job->cl_ruleset = xstrdup(rs);
	return (0);
bad:
	analyst_req_free(job->ar);
	job->ar = NULL;
	job->op = OP__MAX;
	return (-1);
}

#endif /* HAVE_NATS */
