/*
 * job.h: a unit of work for the writer thread: a client's decoded request
 * (JOB_OP) or the daemon's own writer work, its owner, and its result.
 *
 * The loop makes a job (job_new), the writer runs it (writer.h) and sets
 * its reply through an op handler (job_set_reply, job_set_error), and
 * the owner gets it back on the loop and frees it.
 */
#ifndef REFGUARD_JOB_H
#define REFGUARD_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "req.h"
#include "rgev.h"
#include "verdict.h"

struct analyst_req;
struct job;
struct op_def;
struct ruleset;

/* What a job is: a client's request, or the daemon's own writer work. */
enum job_kind {
	JOB_OP,			/* a request: op and def say which */
	JOB_EXPIRE,		/* retention pass (and expired list entries) */
	JOB_META,		/* write meta[meta_name] = reply */
	JOB_APPLY,		/* a write from the cluster's log (cluster.h):
				   run like JOB_OP, owned by the cluster */
};

/*
 * Who gets a job back once it is done (conn_jobs_done, on the loop
 * thread): done(job, arg), which then owns (and frees) it. NDJSON
 * connections (conn.c), HTTP requests (http.c) and the daemon's own jobs
 * (refguardd.c) each set theirs.
 */
struct job_owner {
	void		(*done)(struct job *job, void *arg);
	void		*arg;
};

struct job {
	TAILQ_ENTRY(job) entry;		/* writer queue, then done list */
	TAILQ_ENTRY(job) centry;	/* the connection's reply order */
	struct job_owner owner;
	enum job_kind	 kind;
	enum req_op	 op;		/* JOB_OP; OP__MAX until decoded */
	const struct op_def *def;	/* JOB_OP, once decoded: op_get(op),
					   carried so the writer runs it
					   without knowing the op table */
	struct ruleset	*rs;		/* referenced for the job's life */
	uint64_t	 t_start;	/* mono_us() at decode */
	size_t		 reply_est;	/* conn.c: reply bytes reserved in flight */
	int64_t		 expire_before;	/* JOB_EXPIRE; INT64_MIN: lists only */
	size_t		 expire_max;
	char		 meta_name[64];	/* JOB_META: value in reply/replylen */
	/* results, set by the writer */
	bool		 done;
	bool		 failed;	/* its batch failed (writer.c): reply
					   is the store error */
	const char	*errcode;	/* static; set when reply is an error */
	uint8_t		 action;
	bool		 replay;
	int64_t		 expired;	/* JOB_EXPIRE: events deleted */
	int64_t		 expired_entries;	/* JOB_EXPIRE: list entries */
	struct analyst_req *ar;		/* feedback, list.*: owned */
	/* cluster mode (cluster.c): a client's write while it is in the
	 * log, or an apply of the log's message at stream seq cl_seq */
	uint64_t	 cl_token;	/* the origin's own token; 0: none */
	uint64_t	 cl_seq;	/* stream sequence (ack, or applied) */
	uint8_t		 cl_state;	/* cluster.c's */
	char		*cl_ruleset;	/* JOB_APPLY: the origin's rule set */
	const struct op_def *cl_def;	/* JOB_APPLY: the op it applies */
	int64_t		 cl_time;	/* JOB_APPLY: the stream's time of
					   the message, ms */
	int64_t		 cl_retention;	/* JOB_APPLY: conf retention; 0 none */
	struct verdict_eval *ve;	/* OP_CHECK in steps (ops.h): its
					   evaluation, between eval and end */
	size_t		 nhits;		/* OP_CHECK, new verdicts: rules matched */
	uint32_t	 hits[VERDICT_MAX_HITS];
	uint8_t		 hits_shadow[VERDICT_MAX_HITS];
	char		*reply;		/* line, no newline; freed with the job */
	size_t		 replylen;
	struct rg_event	 ev;		/* last: only check/observe fill it all */
};
TAILQ_HEAD(job_list, job);

/* A zeroed job of kind (op OP__MAX: a request not decoded yet). */
struct job	*job_new(enum job_kind kind);
void		 job_free(struct job *job);
/* The owner of a job nobody waits on: frees it (a failed batch is logged). */
void		 job_done_free(struct job *job, void *arg);

/*
 * For op handlers (ops.h), on the writer thread. job_set_reply: the
 * verdict's reply becomes the job's (taken from v). job_set_error: the
 * reply is an error about field (NULL: the request as a whole), an answer
 * like any other (the writer alone marks a job failed, with its batch).
 * job_set_corrupt: the stored verdict failed its checksum (logged; an
 * error for this request only).
 */
void		 job_set_reply(struct job *job, struct verdict *v);
void		 job_set_error(struct job *job, const char *code,
		    const char *field, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
void		 job_set_corrupt(struct job *job);

#endif
