/* writer.c: the writer thread and group commit; see writer.h. */
#include "config.h"

#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "analyst.h"
#include "daily.h"
#include "evalpool.h"
#include "log.h"
#include "ops.h"
#include "req.h"
#include "rules.h"
#include "store.h"
#include "util.h"
#include "verdict.h"
#include "writer.h"

#include <xxhash.h>

/* A batch never holds more than this many jobs (bounds one transaction). */
#define WRITER_MAX_BATCH	8192

const uint64_t writer_batch_bounds[WRITER_NBUCKETS] = {
	1, 2, 4, 8, 16, 32, 64, 256, 1024, 8192,
};
const uint64_t writer_commit_bounds_us[WRITER_NBUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000,
};

/*
 * The most jobs of one parallel run (their begins, one evaluation of them
 * all, their ends): bounds the wait of the run's first reply.
 */
#define WRITER_RUN_MAX		256

struct writer {
	struct store		*st;
	struct evalpool		*pool;		/* eval_threads > 1 */
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct job_list		 queue;		/* submitted, not yet taken */
	struct job_list		 done;		/* finished, not yet handed back */
	bool			 stop;
	int			 efd;		/* eventfd: "done has jobs" */
	struct event		*ev;
	writer_done_cb		 done_cb;
	void			*arg;
	size_t			 inflight;	/* loop thread only */
	struct writer_stats	 stats;		/* under mtx */
};

static bool
job_is_read(const struct job *job)
{
	return (job->kind == JOB_OP && job->def != NULL &&
	    job->def->where == OP_WRITER_READ);
}

int
writer_expire(struct store_txn *txn, int64_t before, int64_t now,
    size_t max, int64_t *events, int64_t *entries)
{
	*events = *entries = 0;
	if (before != INT64_MIN && ((*events = store_expire(txn, before,
	    max)) < 0 || daily_expire(txn, before, max) < 0))
		return (-1);
	return ((*entries = analyst_expire(txn, now, max)) < 0 ? -1 : 0);
}

/* Run one job in txn. 0, or -1 on a store error (the batch fails). */
static int
writer_job(struct store_txn *txn, struct job *job)
{
	switch (job->kind) {
	case JOB_OP:
	case JOB_APPLY:
		if (job->def == NULL || job->def->txn == NULL)
			break;
		return (job->def->txn(txn, job));
	case JOB_EXPIRE:
		return (writer_expire(txn, job->expire_before, now_ms(),
		    job->expire_max, &job->expired, &job->expired_entries));
	case JOB_META:
		return (store_meta_put(txn, job->meta_name, job->reply,
		    job->replylen));
	}
	job_set_error(job, "internal", NULL, "job not for the writer");
	return (0);
}

/* A job whose op runs in steps (ops.h: begin, eval, end). */
static bool
writer_stepped(const struct job *job)
{
	return (job->kind == JOB_OP && job->def != NULL &&
	    job->def->begin != NULL);
}

/* One parallel run's evaluations, shared out among the threads. */
struct par_run {
	struct store		*st;
	const struct store_view	*view;
	struct job		**jobs;
	size_t			 n;
	size_t			 next;		/* atomic: the next job */
	int			 failed;	/* atomic */
	pthread_mutex_t		 mtx;		/* errmsg */
	char			 errmsg[256];
};

static void
par_fail(struct par_run *r, const char *msg)
{
	pthread_mutex_lock(&r->mtx);
	if (!r->failed)
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", msg);
	__atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&r->mtx);
}

/*
 * On each thread: a read transaction on the view, and jobs until none.
 * A thread that cannot begin one leaves the jobs to the others (the run
 * fails only when nobody took them). The writer thread's begin takes the
 * map lock's read side a second time beside its write transaction's:
 * glibc's default rwlock lets a reader in while a writer waits, and
 * nothing grows the map while a batch is in flight.
 */
static void
par_work(void *arg)
{
	struct par_run		*r = arg;
	struct store_txn	*t;
	char			*cause = NULL;
	size_t			 i;

	if ((t = store_begin_view(r->st, r->view, &cause)) == NULL) {
		pthread_mutex_lock(&r->mtx);
		if (r->errmsg[0] == '\0')
			snprintf(r->errmsg, sizeof(r->errmsg), "%s", cause);
		pthread_mutex_unlock(&r->mtx);
		free(cause);
		return;
	}
	while (!__atomic_load_n(&r->failed, __ATOMIC_RELAXED) &&
	    (i = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED)) < r->n)
		if (r->jobs[i]->def->eval(t, r->jobs[i]) != 0) {
			par_fail(r, store_txn_errstr(t));
			break;
		}
	store_abort(t);
}

/*
 * A check whose referral id an earlier check of the run carries: its
 * begin must find that one's verdict, which only the run's end stores,
 * so it waits for the end (a replay writes nothing: it may). ids is a
 * table of 2 * WRITER_RUN_MAX checks (NULL: empty), by their id's hash.
 */
static bool
par_dup_id(struct job **ids, const struct job *job)
{
	const struct job	*o;
	size_t			 i, mask = 2 * WRITER_RUN_MAX - 1;

	if (job->op != OP_CHECK)
		return (false);
	for (i = XXH3_64bits(job->ev.id, job->ev.idlen) & mask;
	    (o = ids[i]) != NULL; i = (i + 1) & mask)
		if (o->ev.idlen == job->ev.idlen &&
		    memcmp(o->ev.id, job->ev.id, job->ev.idlen) == 0)
			return (true);
	ids[i] = (struct job *)job;
	return (false);
}

/* Fewer evaluations than this in a run: the writer does them alone. */
#define WRITER_RUN_POOL_MIN	4

/*
 * The batch's leading checks and observes (ops that run in steps), in
 * runs: each job's begin in the write transaction (a check stores its
 * event), the run's evaluations all at once on the evaluation threads,
 * each in a read transaction on the write transaction's view (store.h),
 * then each job's end in order (a check stores its verdict). The
 * verdicts are those of one job after the other: the view answers every
 * query as of its event, and begin and end run in the order of the
 * jobs. A read job (verdict, explain, ...) between runs runs in the
 * write transaction and the runs go on; the first job of another kind
 * ends them. Returns the number of jobs done (0: none, for want of two
 * evaluations before the first job of another kind, or of a view), or
 * -1 with msg set (the batch fails).
 */
static ssize_t
writer_par(struct writer *w, struct store_txn *txn, struct job **jobs,
    size_t n, char *msg, size_t msglen)
{
	struct store_view	*view;
	struct par_run		 r;
	struct job		*ev[WRITER_RUN_MAX], *later[WRITER_RUN_MAX];
	struct job		*ids[2 * WRITER_RUN_MAX], *job;
	size_t			 done = 0, k, j, m = 0, nev, nlater;
	int			 rc;

	for (k = 0; k < n && m < 2 && (writer_stepped(jobs[k]) ||
	    job_is_read(jobs[k])); k++)
		if (writer_stepped(jobs[k]) && jobs[k]->def->eval != NULL)
			m++;
	if (m < 2 || (view = store_view_new(txn)) == NULL)
		return (0);
	memset(&r, 0, sizeof(r));
	r.st = w->st;
	r.view = view;
	pthread_mutex_init(&r.mtx, NULL);
	while (done < n) {
		job = jobs[done];
		if (!writer_stepped(job)) {
			if (!job_is_read(job))
				break;
			if (writer_job(txn, job) != 0)
				goto store_fail;
			done++;
			continue;
		}
		memset(ids, 0, sizeof(ids));
		nev = nlater = 0;
		for (k = done; k < n && k - done < WRITER_RUN_MAX &&
		    writer_stepped(jobs[k]); k++) {
			job = jobs[k];
			if (par_dup_id(ids, job)) {
				later[nlater++] = job;
				continue;
			}
			if ((rc = job->def->begin(txn, job)) < 0)
				goto store_fail;
			if (job->ev.seq != 0 &&
			    store_view_add(view, &job->ev) != 0)
				goto order_fail;
			if (rc == 0)
				ev[nev++] = job;
		}
		if (nev > 0) {
			store_view_seal(view);
			r.jobs = ev;
			r.n = nev;
			r.next = 0;
			if (nev < WRITER_RUN_POOL_MIN)
				par_work(&r);
			else
				evalpool_run(w->pool, par_work, &r);
			if (r.failed || r.next < r.n) {
				snprintf(msg, msglen, "%s", r.errmsg);
				goto fail;
			}
		}
		for (j = 0; j < nev; j++)
			if (ev[j]->def->end(txn, ev[j]) != 0)
				goto store_fail;
		/* The repeated ids: replays now (the last stored event, else). */
		for (j = 0; j < nlater; j++) {
			job = later[j];
			if ((rc = job->def->begin(txn, job)) < 0)
				goto store_fail;
			if (job->ev.seq != 0 &&
			    store_view_add(view, &job->ev) != 0)
				goto order_fail;
			if (rc == 0 && (job->def->eval(txn, job) != 0 ||
			    job->def->end(txn, job) != 0))
				goto store_fail;
		}
		done = k;
	}
	pthread_mutex_destroy(&r.mtx);
	store_view_free(view);
	return ((ssize_t)done);
order_fail:
	snprintf(msg, msglen, "event %llu out of order for the evaluation "
	    "threads", (unsigned long long)job->ev.seq);
	goto fail;
store_fail:
	snprintf(msg, msglen, "%s", store_txn_errstr(txn));
fail:
	pthread_mutex_destroy(&r.mtx);
	store_view_free(view);
	return (-1);
}

/* After a failed batch: answer the reads from a read transaction. */
static void
writer_reads_only(struct writer *w, struct job **jobs, size_t n)
{
	struct store_txn	*txn;
	char			*cause = NULL;
	size_t			 i;

	if ((txn = store_begin(w->st, false, &cause)) == NULL) {
		free(cause);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!job_is_read(jobs[i]))
			continue;
		jobs[i]->failed = false;
		jobs[i]->errcode = NULL;
		if (writer_job(txn, jobs[i]) != 0) {
			job_set_error(jobs[i], "store_error", NULL, "%s",
			    store_txn_errstr(txn));
			jobs[i]->failed = true;
		}
	}
	store_abort(txn);
}

static void
writer_batch(struct writer *w, struct job **jobs, size_t n)
{
	struct store_txn	*txn;
	const char		*code = "store_error";
	char			*cause = NULL, msg[256], esc[1024];
	uint64_t		 t0 = mono_us(), dt, writes;
	size_t			 i;
	ssize_t			 par;
	bool			 full = false, was_full;
	enum store_err		 cerr;

	pthread_mutex_lock(&w->mtx);
	was_full = w->stats.full;
	pthread_mutex_unlock(&w->mtx);
retry:
	if ((txn = store_begin(w->st, true, &cause)) == NULL) {
		snprintf(msg, sizeof(msg), "%s", cause);
		free(cause);
		goto fail;
	}
	par = w->pool != NULL ? writer_par(w, txn, jobs, n, msg,
	    sizeof(msg)) : 0;
	for (i = par < 0 ? 0 : (size_t)par; par >= 0 && i < n; i++)
		if (writer_job(txn, jobs[i]) != 0)
			break;
	if (par < 0 || i < n) {
		enum store_err e = store_txn_err(txn);

		if (par >= 0)
			snprintf(msg, sizeof(msg), "%s", store_txn_errstr(txn));
		store_abort(txn);
		if (e == STORE_MAP_GROW && store_grow(w->st) == 0)
			goto retry;
		if (e == STORE_MAP_GROW || e == STORE_FULL) {
			code = "store_full";
			full = true;
		}
		goto fail;
	}
	writes = store_writes(w->st);
	if (store_commit(txn, &cerr, &cause) != 0) {
		snprintf(msg, sizeof(msg), "%s", cause);
		free(cause);
		cause = NULL;
		/* The map can also fill at commit time: grow and redo, as above. */
		if (cerr == STORE_MAP_GROW && store_grow(w->st) == 0)
			goto retry;
		if (cerr == STORE_MAP_GROW || cerr == STORE_FULL) {
			code = "store_full";
			full = true;
		}
		goto fail;
	}
	dt = mono_us() - t0;
	pthread_mutex_lock(&w->mtx);
	w->stats.commits++;
	w->stats.jobs += n;
	w->stats.par_jobs += (size_t)par;
	w->stats.commit_us_total += dt;
	w->stats.last_commit_us = dt;
	if (n > w->stats.max_batch)
		w->stats.max_batch = n;
	for (i = 0; i < WRITER_NBUCKETS; i++) {
		if (n <= writer_batch_bounds[i])
			w->stats.batch_le[i]++;
		if (dt <= writer_commit_bounds_us[i])
			w->stats.commit_le[i]++;
	}
	/*
	 * Only a commit that wrote a client's data says checks can be
	 * stored again: reads and an idle retention pass commit without
	 * writing, and the recent tier's flush (at any commit) fits where a
	 * check may not.
	 */
	for (i = 0; i < n && store_writes(w->st) != writes; i++)
		if (!job_is_read(jobs[i]) && jobs[i]->kind != JOB_EXPIRE) {
			w->stats.full = false;
			w->stats.write_error = NULL;
			w->stats.write_errmsg[0] = '\0';
			break;
		}
	pthread_mutex_unlock(&w->mtx);
	return;

fail:
	/*
	 * The batch is one transaction: at map_max it fails whole although
	 * most of it may fit. Write what fits, in order, by halves; once a
	 * single job does not fit the store is full and the rest fails fast.
	 */
	if (full && n > 1 && !was_full) {
		writer_batch(w, jobs, n / 2);
		writer_batch(w, jobs + n / 2, n - n / 2);
		return;
	}
	log_err("batch not written jobs=%zu error=%s", n,
	    log_value(msg, strlen(msg), esc, sizeof(esc)));
	for (i = 0; i < n; i++) {
		job_set_error(jobs[i], code, NULL, "%s", msg);
		jobs[i]->failed = true;
	}
	writer_reads_only(w, jobs, n);
	pthread_mutex_lock(&w->mtx);
	w->stats.failed_batches++;
	w->stats.full = full;
	w->stats.write_error = code;
	snprintf(w->stats.write_errmsg, sizeof(w->stats.write_errmsg), "%s",
	    msg);
	pthread_mutex_unlock(&w->mtx);
}

static void *
writer_main(void *arg)
{
	struct writer	*w = arg;
	struct job	**jobs = xreallocarray(NULL, WRITER_MAX_BATCH,
			    sizeof(*jobs));
	struct job	*job;
	uint64_t	 one = 1;
	size_t		 n, i;

	pthread_mutex_lock(&w->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&w->queue) && !w->stop)
			pthread_cond_wait(&w->cond, &w->mtx);
		if (TAILQ_EMPTY(&w->queue) && w->stop)
			break;
		for (n = 0; n < WRITER_MAX_BATCH &&
		    (job = TAILQ_FIRST(&w->queue)) != NULL; n++) {
			TAILQ_REMOVE(&w->queue, job, entry);
			jobs[n] = job;
		}
		pthread_mutex_unlock(&w->mtx);

		writer_batch(w, jobs, n);

		pthread_mutex_lock(&w->mtx);
		for (i = 0; i < n; i++)
			TAILQ_INSERT_TAIL(&w->done, jobs[i], entry);
		if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_err("writer wakeup failed error=\"%s\"", strerror(errno));
	}
	pthread_mutex_unlock(&w->mtx);
	free(jobs);
	return (NULL);
}

/* Loop thread: hand finished batches to the callback. */
static void
writer_drain(struct writer *w)
{
	struct job_list	done = TAILQ_HEAD_INITIALIZER(done);
	struct job	*job;
	size_t		 n = 0;

	pthread_mutex_lock(&w->mtx);
	TAILQ_CONCAT(&done, &w->done, entry);
	pthread_mutex_unlock(&w->mtx);
	/* done belongs to the loop thread: set here, never by the writer. */
	TAILQ_FOREACH(job, &done, entry) {
		job->done = true;
		n++;
	}
	w->inflight -= n;
	if (n > 0)
		w->done_cb(&done, w->arg);
}

static void
writer_wakeup(evutil_socket_t fd, short what, void *arg)
{
	struct writer	*w = arg;
	uint64_t	 v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_err("writer wakeup read failed error=\"%s\"",
		    strerror(errno));
	writer_drain(w);
}

struct writer *
writer_new(struct store *st, struct event_base *base, writer_done_cb done,
    void *arg, unsigned threads, char **cause)
{
	struct writer	*w = xcalloc(1, sizeof(*w));
	int		 rc;

	w->st = st;
	w->efd = -1;
	w->stats.eval_threads = threads > 1 ? threads : 1;
	if (threads > 1 && (w->pool = evalpool_new(threads - 1,
	    cause)) == NULL) {
		free(w);
		return (NULL);
	}
	w->done_cb = done;
	w->arg = arg;
	TAILQ_INIT(&w->queue);
	TAILQ_INIT(&w->done);
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cond, NULL);
	if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		xasprintf(cause, "eventfd: %s", strerror(errno));
		goto fail;
	}
	w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, writer_wakeup, w);
	if (w->ev == NULL || event_add(w->ev, NULL) != 0) {
		xasprintf(cause, "writer: cannot add event");
		goto fail;
	}
	if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		xasprintf(cause, "writer thread: %s", strerror(rc));
		goto fail;
	}
	return (w);
fail:
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->efd >= 0)
		close(w->efd);
	evalpool_free(w->pool);
	free(w);
	return (NULL);
}

void
writer_submit(struct writer *w, struct job *job)
{
	w->inflight++;
	pthread_mutex_lock(&w->mtx);
	TAILQ_INSERT_TAIL(&w->queue, job, entry);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mtx);
}

size_t
writer_inflight(const struct writer *w)
{
	return (w->inflight);
}

void
writer_stats(struct writer *w, struct writer_stats *out)
{
	pthread_mutex_lock(&w->mtx);
	*out = w->stats;
	pthread_mutex_unlock(&w->mtx);
}

void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mtx);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mtx);
	pthread_join(w->thread, NULL);
	evalpool_free(w->pool);
	writer_drain(w);
	event_free(w->ev);
	close(w->efd);
	pthread_mutex_destroy(&w->mtx);
	pthread_cond_destroy(&w->cond);
	free(w);
}
