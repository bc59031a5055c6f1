/*
 * req.h: decode one NDJSON request line into a typed request.
 *
 * Decoding is strict and explains itself: on error the request gets a code
 * ("bad_request", "bad_json", "unknown_op", ...), the dotted path of the
 * offending field ("referee.ip") and a message naming the problem. Unknown
 * fields are errors where a typo would otherwise hide a bug (party and
 * device fields, top-level fields of check and observe).
 *
 * Identities are normalized and hashed here (ident.h): what leaves this
 * module holds no raw personal data.
 */
#ifndef REFGUARD_REQ_H
#define REFGUARD_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "rgev.h"

struct analyst_req;
struct ident;

enum req_op {
	OP_PING,
	OP_CHECK,
	OP_OBSERVE,
	OP_VERDICT,
	OP_EXPLAIN,
	OP_STATS,
	OP_RELOAD,
	OP_RECHECK,		/* analyst ops: analyst.h, verdict.h */
	OP_FEEDBACK,
	OP_LIST_ADD,
	OP_LIST_DEL,
	OP_LIST_GET,
	OP_LIST_LOG,
	OP_RULES,
	OP_QUEUE_LIST,		/* the review queue: queue.h */
	OP_QUEUE_GET,
	OP_QUEUE_CLAIM,
	OP_QUEUE_UNCLAIM,
	OP_QUEUE_DECIDE,
	OP_VERDICTS_LIST,	/* stored verdicts: verdict_list.h */
	OP_GRAPH,		/* the console's identity graph: graph.h */
	OP_STATS_DAILY,		/* the daily counters: daily.h */
	OP__MAX
};

/*
 * The error codes counted in stats (daemon_stats errors_by_code) and
 * /metrics, the connection-level refusals included; the last, "other",
 * takes the rest.
 */
#define REQ_NERRCODES	12
extern const char *const req_error_codes[REQ_NERRCODES];

struct req_error {
	const char	*code;		/* static */
	char		 field[96];	/* "" when the request as a whole */
	char		 msg[512];
};

struct req_opts {
	int64_t		now;		/* ms; the event time when ts is absent */
	int64_t		retention;	/* ms; older events are refused (0: none) */
	int64_t		max_future;	/* ms; events further ahead are refused */
};

/*
 * Decode line (len bytes, no newline): *op, and *ev for check and observe
 * (ev->id alone for verdict and explain). Returns 0, or -1 with *err
 * filled (ev->id is still set when the line had a readable "id", so that
 * the error reply can echo it). The line need not be NUL-terminated.
 */
int	req_decode(const char *line, size_t len, const struct ident *id,
	    const struct req_opts *opts, enum req_op *op, struct rg_event *ev,
	    struct req_error *err);

/*
 * As req_decode, and the fields of feedback and list.* into *ar
 * (analyst.h; the caller then runs analyst_prepare() and, in the end,
 * analyst_req_clear()). req_decode() is this with ar NULL, which answers
 * those ops with an error. recheck, feedback and list.* get ev->ts set to
 * opts->now (the request's time).
 */
int	req_decode_full(const char *line, size_t len, const struct ident *id,
	    const struct req_opts *opts, enum req_op *op, struct rg_event *ev,
	    struct analyst_req *ar, struct req_error *err);

const char	*req_op_name(enum req_op op);

/*
 * Format an error reply line (no newline) into a malloc'd string; *len
 * gets its length. id may be NULL (no "id" echoed).
 */
char	*req_error_reply(const struct req_error *err, const char *id,
	    size_t idlen, size_t *len);

#endif
