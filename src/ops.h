/*
 * ops.h: the one table of the ops refguardd serves.
 *
 * Everything about one op is its entry in ops[] (ops.c) and its handler:
 * where it runs (answered on the event loop, or a writer job that only
 * reads or that writes), whether it evaluates rules (it then holds a
 * reference to the rule set current at decode), whether its reply grows
 * with stored history, and its HTTP route. conn_request() (conn.c) and
 * the writer (writer.c) dispatch through it, and http.c's routes are the
 * table's. The op's wire name (what "op" says, the stats key and the
 * /metrics op label) is req_op_name(), the decoder's vocabulary (req.c).
 *
 * Adding an op: docs/architecture.md, "Recipe: adding an op".
 */
#ifndef REFGUARD_OPS_H
#define REFGUARD_OPS_H

#include <stdbool.h>

#include "req.h"

struct daemon;
struct job;
struct store_txn;

enum op_where {
	OP_LOOP,		/* answered on the event loop (op_def.loop) */
	OP_WRITER_READ,		/* a writer job that only reads (op_def.txn);
				   answered even when its batch fails */
	OP_WRITER_WRITE,	/* a writer job that writes (op_def.txn) */
};

/* An HTTP route to an op (http.c; docs/http.md). */
struct op_route {
	const char	*path;		/* "/v1/check"; NULL: none */
	int		 method;	/* evhttp's EVHTTP_REQ_GET, ... */
	const char	*params[2];	/* the "*" segments' field names */
	bool		 body;		/* a JSON body's fields join the request */
};

struct op_def {
	enum req_op	 op;
	enum op_where	 where;
	bool		 rules;		/* runs rules: job->rs is referenced */
	bool		 heavy;		/* reply grows with stored history:
					   one at a time per connection */
	bool		 replicate;	/* cluster mode: a write every node
					   applies from the log (cluster.h) */
	/*
	 * OP_LOOP: answer job on the loop thread: set job->reply and
	 * job->done, or keep the job and finish it later as the writer's
	 * jobs are (conn_jobs_done; reload does).
	 */
	void		(*loop)(struct daemon *d, struct job *job);
	/*
	 * OP_WRITER_*: run job in txn on the writer thread: set its reply
	 * (job_set_reply, or job_set_error for an answer that is an
	 * error). 0, or -1 on a store error: the whole batch fails.
	 */
	int		(*txn)(struct store_txn *txn, struct job *job);
	/*
	 * Optional: txn's work in steps, so that the writer evaluates a
	 * run of such jobs in parallel (writer.c, eval_threads). begin, in
	 * the write transaction: sets job->ev.seq to the event it stored
	 * (0: none), and returns 0 when the job needs eval and end, 1 when
	 * it is answered, -1 on a store error. eval, on any thread, in a
	 * read transaction on the writer's view (store.h): 0 or -1. end,
	 * in the write transaction: as txn returns. An op with eval has
	 * end.
	 */
	int		(*begin)(struct store_txn *txn, struct job *job);
	int		(*eval)(struct store_txn *txn, struct job *job);
	int		(*end)(struct store_txn *txn, struct job *job);
	struct op_route	 route;		/* path NULL: NDJSON only */
};

/* The entry of op, or NULL when op is not one (OP__MAX: not decoded). */
const struct op_def	*op_get(int op);

/* The table, indexed by enum req_op (http.c walks it for its routes). */
extern const struct op_def	 ops[OP__MAX];

#endif
