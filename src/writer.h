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

#include "job.h"

struct event_base;
struct store;


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
	unsigned	eval_threads;	/* the writer's and its helpers */
	uint64_t	par_jobs;	/* jobs committed from parallel runs */
	bool		full;		/* the last write failed: store full */
	/* The last write failed: "store_full" or "store_error"; NULL: ok. */
	const char	*write_error;
	char		write_errmsg[256];	/* its message */
};

struct writer;
typedef void (*writer_done_cb)(struct job_list *done, void *arg);

/*
 * Start the writer thread, and threads - 1 evaluation threads beside it
 * (eval_threads, refguard.conf(5): a batch's checks evaluated at once,
 * writer.c). done is called on the loop thread (base) with each
 * finished batch; it takes the jobs off the list. NULL on error.
 */
struct writer	*writer_new(struct store *st, struct event_base *base,
		    writer_done_cb done, void *arg, unsigned threads,
		    char **cause);
/* Queue a job (loop thread). */
void		 writer_submit(struct writer *w, struct job *job);
/* Jobs submitted and not yet handed back. */
size_t		 writer_inflight(const struct writer *w);
/* A snapshot of the counters (any thread). */
void		 writer_stats(struct writer *w, struct writer_stats *out);
/*
 * One retention pass in txn, on the writer thread: up to max events older
 * than before (INT64_MIN: none; events go in store order, stopping at the
 * first one younger) with their daily counts, then up to max list entries
 * expired by now. 0 with how many in *events and *entries, or -1 on a
 * store error. JOB_EXPIRE runs it by the node's clock; cluster mode by the
 * log's time, at a position of the log (cluster.h).
 */
struct store_txn;
int		 writer_expire(struct store_txn *txn, int64_t before,
		    int64_t now, size_t max, int64_t *events, int64_t *entries);
/* Finish what is queued, stop the thread, free. Done callbacks run first. */
void		 writer_free(struct writer *w);


#endif
