/*
 * writer.h: the writer thread and group commit.
 *
 * The event loop decodes requests into jobs and submits them; the writer
 * thread takes everything queued at once, runs it in one LMDB write
 * transaction (verdict.c does the work of each job), commits (and syncs,
 * under sync = full), then hands the whole batch back to the loop, which
 * only then sends the replies. While the writer syncs, the loop keeps
 * reading and decoding the next batch: the loop never waits on the disk,
 * and a reply never leaves before its data is durable.
 *
 * If the commit fails, every job of the batch gets an error reply (at
 * map_max, first as much of the batch as fits is written, by halves); reads
 * in a failed batch are answered from a read transaction, so verdict
 * lookups keep working when the store is full.
 *
 * Health: the writer keeps the outcome of its last write (writer_stats()
 * write_error): set by every failed batch, cleared only by a commit that
 * wrote to the store (store_writes()) a client's write (check, observe,
 * feedback, list change, recheck). A transaction that changed nothing
 * (reads, a retention pass with nothing to do) commits without touching
 * the disk, and the recent tier's flush fits where a check may not: they
 * prove nothing. /healthz and stats show it.
 */
#ifndef REFGUARD_WRITER_H
#define REFGUARD_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "event.h"
#include "req.h"
#include "verdict.h"

struct analyst_req;
struct event_base;
struct ruleset;
struct job;
struct op_def;
struct store;

/* What a job is: a client's request, or the daemon's own writer work. */
enum job_kind {
	JOB_OP,			/* a request: op and def say which */
	JOB_EXPIRE,		/* retention pass (and expired list entries) */
	JOB_META,		/* write meta[meta_name] = reply */
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
	const struct op_def *def;	/* JOB_OP, once decoded (ops.h) */
	struct ruleset	*rs;		/* referenced for the job's life */
	uint64_t	 t_start;	/* mono_us() at decode */
	size_t		 reply_est;	/* conn.c: reply bytes reserved in flight */
	int64_t		 expire_before;	/* JOB_EXPIRE; INT64_MIN: lists only */
	size_t		 expire_max;
	char		 meta_name[64];	/* JOB_META: value in reply/replylen */
	/* results, set by the writer */
	bool		 done;
	bool		 failed;	/* store error: reply is the error */
	const char	*errcode;	/* static; set when reply is an error */
	uint8_t		 action;
	bool		 replay;
	int64_t		 expired;	/* JOB_EXPIRE: events deleted */
	int64_t		 expired_entries;	/* JOB_EXPIRE: list entries */
	struct analyst_req *ar;		/* feedback, list.*: owned */
	size_t		 nhits;		/* OP_CHECK, new verdicts: rules matched */
	uint32_t	 hits[VERDICT_MAX_HITS];
	uint8_t		 hits_shadow[VERDICT_MAX_HITS];
	char		*reply;		/* line, no newline; freed with the job */
	size_t		 replylen;
	struct event	 ev;		/* last: only check/observe fill it all */
};
TAILQ_HEAD(job_list, job);

/*
 * Histograms of the committed batches, cumulative as Prometheus wants
 * them: batch_le[i] counts the commits of at most writer_batch_bounds[i]
 * jobs, commit_le[i] those that took at most writer_commit_bounds_us[i];
 * the +Inf bucket is commits.
 */
#define WRITER_NBUCKETS	10
extern const uint64_t writer_batch_bounds[WRITER_NBUCKETS];
extern const uint64_t writer_commit_bounds_us[WRITER_NBUCKETS];

struct writer_stats {
	uint64_t	commits;
	uint64_t	jobs;		/* jobs committed */
	uint64_t	failed_batches;
	uint64_t	commit_us_total;
	uint64_t	last_commit_us;
	uint64_t	max_batch;
	uint64_t	batch_le[WRITER_NBUCKETS];
	uint64_t	commit_le[WRITER_NBUCKETS];
	bool		full;		/* the last write failed: store full */
	/* The last write failed: "store_full" or "store_error"; NULL: ok. */
	const char	*write_error;
	char		write_errmsg[256];	/* its message */
};

struct writer;
typedef void (*writer_done_cb)(struct job_list *done, void *arg);

/*
 * Start the writer thread. done is called on the loop thread (base) with
 * each finished batch; it takes the jobs off the list. NULL on error.
 */
struct writer	*writer_new(struct store *st, struct event_base *base,
		    writer_done_cb done, void *arg, char **cause);
/* Queue a job (loop thread). */
void		 writer_submit(struct writer *w, struct job *job);
/* Jobs submitted and not yet handed back. */
size_t		 writer_inflight(const struct writer *w);
/* A snapshot of the counters (any thread). */
void		 writer_stats(struct writer *w, struct writer_stats *out);
/* Finish what is queued, stop the thread, free. Done callbacks run first. */
void		 writer_free(struct writer *w);

/* A zeroed job of kind (op OP__MAX: a request not decoded yet). */
struct job	*job_new(enum job_kind kind);
void		 job_free(struct job *job);
/* The owner of a job nobody waits on: frees it (a failed batch is logged). */
void		 job_done_free(struct job *job, void *arg);

/*
 * For op handlers (ops.h), on the writer thread. job_set_reply: the
 * verdict's reply becomes the job's (taken from v). job_set_error: the
 * reply is an error about field (NULL: the request as a whole) and the
 * job failed; a handler whose answer is that error clears job->failed.
 * job_set_corrupt: the stored verdict failed its checksum (logged; an
 * error for this request only).
 */
void		 job_set_reply(struct job *job, struct verdict *v);
void		 job_set_error(struct job *job, const char *code,
		    const char *field, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
void		 job_set_corrupt(struct job *job);

#endif
