/*
 * cluster.c: cluster mode on a NATS JetStream log; see cluster.h. The
 * loop's side: publishing, applying, libnats's callbacks, start and stop;
 * the message's format is cluster_wire.c's, the stream's setup
 * cluster_setup.c's (cluster_int.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "util.h"

#ifndef HAVE_NATS

struct cluster *
cluster_new(struct daemon *d, writer_done_cb done, void *arg,
    const struct op_def *(*opget)(int), char **cause)
{
	*cause = xstrdup("cluster_nats_url is set but this refguardd was "
	    "built without libnats (configure --with-nats): cluster mode is "
	    "not available");
	return (NULL);
}

void cluster_submit(struct cluster *cl, struct job *job) { }
void cluster_stats(struct cluster *cl, struct cluster_stats *out)
{
	memset(out, 0, sizeof(*out));
}
void cluster_stop(struct cluster *cl) { }
void cluster_free(struct cluster *cl) { }

#else

#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include <event2/event.h>
#include <nats/nats.h>
#include <xxhash.h>

#include "cluster_int.h"
#include "conf.h"
#include "daemon.h"
#include "ident.h"
#include "job.h"
#include "log.h"
#include "ops.h"		/* struct op_def */
#include "rgev.h"
#include "rules.h"
#include "store.h"
#include "util.h"
#include "writer.h"

#define CL_APPLY_MAX	4096	/* apply jobs in the writer at once */
#define CL_INBOX_MAX	8192	/* deliveries waiting for the loop */
#define CL_ACK_WAIT_MS	10000	/* a publish not acknowledged by then fails */
#define CL_RETRIES	100	/* publishes again while no leader answers */
#define CL_RETRY_MS	100	/* from a timer on the loop, all at once */
#define CL_CLOSE_WAIT_MS 10000	/* at exit, for libnats's threads to end */
#define CL_EXPIRE_MAX	1000	/* expired per applied message, at most */

/* job->cl_state of a client's write in the log. */
#define CL_ACKED	0x01	/* the stream acknowledged it (cl_seq) */
#define CL_APPLIED	0x02	/* its apply is committed here: reply set */
#define CL_DUP		0x04	/* the stream had its id already (cl_seq) */
/* job->cl_state of an apply. */
#define CL_A_DONE	0x10	/* applied */
#define CL_A_SKIP	0x20	/* applied before: nothing done */
#define CL_A_GAP	0x40	/* not the next seq: nothing done */

/* ---- libnats's threads: queue and wake --------------------------------- */

static void
cl_push(struct cluster *cl, struct cl_item *it, bool wait)
{
	uint64_t	one = 1;

	pthread_mutex_lock(&cl->mtx);
	while (wait && cl->ninbox >= CL_INBOX_MAX && !cl->stopping)
		pthread_cond_wait(&cl->room, &cl->mtx);
	if (cl->stopping) {
		pthread_mutex_unlock(&cl->mtx);
		natsMsg_Destroy(it->msg);
		free(it);
		return;
	}
	TAILQ_INSERT_TAIL(&cl->inbox, it, entry);
	cl->ninbox++;
	/* (under the lock: cluster_free closes efd after stopping is set) */
	if (write(cl->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("cluster wakeup failed error=\"%s\"", strerror(errno));
	pthread_mutex_unlock(&cl->mtx);
}

/* A delivery of the ordered consumer, in stream order. */
void
cl_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	struct cluster	*cl = arg;
	struct cl_item	*it;
	jsMsgMetaData	*meta = NULL;

	if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
		natsMsg_Destroy(msg);
		return;
	}
	it = xcalloc(1, sizeof(*it));
	it->msg = msg;
	it->seq = meta->Sequence.Stream;
	it->pending = meta->NumPending;
	it->stamp = meta->Timestamp / 1000000;	/* (ns) */
	jsMsgMetaData_Destroy(meta);
	cl_push(cl, it, true);
}

/*
 * The stream's answer to a publish (or its failure, or a time-out). Never
 * waits: every ack of the connection comes through this one thread.
 */
static void
cl_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
    void *arg)
{
	struct cluster	*cl = arg;
	struct cl_item	*it;
	const char	*tok = NULL;

	it = xcalloc(1, sizeof(*it));
	it->ack = true;
	if (natsMsgHeader_Get(msg, "Rg-Token", &tok) == NATS_OK)
		it->token = strtoull(tok, NULL, 10);
	if (pa != NULL) {
		it->seq = pa->Sequence;
		it->dup = pa->Duplicate;
	} else {
		it->failed = true;
		it->noresp = pae != NULL && pae->Err == NATS_NO_RESPONDERS;
		snprintf(it->err, sizeof(it->err), "%s", pae != NULL &&
		    pae->ErrText != NULL ? pae->ErrText : pae != NULL ?
		    natsStatus_GetText(pae->Err) : "no acknowledgement");
	}
	if (it->noresp)
		it->msg = msg;		/* the loop may send it again */
	else
		natsMsg_Destroy(msg);	/* ours, the library says */
	cl_push(cl, it, false);
}

static void
cl_on_disconnect(natsConnection *nc, void *arg)
{
	struct cluster	*cl = arg;

	pthread_mutex_lock(&cl->mtx);
	cl->connected = false;
	pthread_mutex_unlock(&cl->mtx);
	log_warn("cluster disconnected from NATS; reconnecting");
}

static void
cl_on_reconnect(natsConnection *nc, void *arg)
{
	struct cluster	*cl = arg;
	char		 url[256] = "";

	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	pthread_mutex_lock(&cl->mtx);
	cl->connected = true;
	pthread_mutex_unlock(&cl->mtx);
	log_notice("cluster reconnected url=%s", url);
}

/* ---- the loop ------------------------------------------------------------ */

static struct job *
cl_waiting(struct cluster *cl, uint64_t token)
{
	struct job	*job;

	if (token == 0)
		return (NULL);
	TAILQ_FOREACH(job, &cl->waiting, entry)
		if (job->cl_token == token)
			return (job);
	return (NULL);
}

/* job is answered: hand it back at the next wakeup (never nested). */
static void
cl_finish(struct cluster *cl, struct job *job)
{
	TAILQ_REMOVE(&cl->waiting, job, entry);
	if (job->cl_state & CL_DUP)
		cl->ndup--;
	TAILQ_INSERT_TAIL(&cl->finished, job, entry);
	event_active(cl->ev, EV_READ, 0);
}

static void
cl_fail(struct cluster *cl, struct job *job, const char *why)
{
	job_set_error(job, "cluster_unavailable", NULL, "the cluster's log "
	    "did not take this write (%s); it may still be applied: send it "
	    "again (a check with the same id is answered once)", why);
	cl_finish(cl, job);
}

/*
 * On the writer, read only: a check whose publish the stream dropped as
 * a duplicate, once this store applied the message the stream kept under
 * its id. The stored verdict, byte for byte (the check's own handler
 * replays it and writes nothing); none stored (what the stream kept was
 * not a check of this id that applied): an error, never a local write,
 * which no other node would have.
 */
static int
cl_dup_txn(struct store_txn *txn, struct job *job)
{
	const void	*v;
	size_t		 len;
	int		 rc;

	if (job->op != OP_CHECK) {
		job_set_error(job, "cluster_unavailable", NULL, "the cluster's "
		    "log already holds a message under this write's id (stream "
		    "seq %" PRIu64 ") that was not this write: it was not "
		    "applied; send it again", job->cl_seq);
		return (0);
	}
	if ((rc = store_get_verdict(txn, job->ev.id, job->ev.idlen, &v,
	    &len)) < 0)
		return (-1);
	if (rc == 0)
		return (job->cl_def->txn(txn, job));
	job_set_error(job, "cluster_unavailable", NULL, "the cluster's log "
	    "already holds a message under this check's id (stream seq %"
	    PRIu64 ") and applying it stored no verdict for the id: the "
	    "check was not evaluated; send it again after the stream's "
	    "duplicate window (2 minutes)", job->cl_seq);
	return (0);
}

static const struct op_def cl_dup_def = {
	.op = OP_CHECK, .where = OP_WRITER_READ, .txn = cl_dup_txn,
};

/*
 * Client writes whose publish the stream dropped as a duplicate (the same
 * referral id within its window): once the message it kept is applied
 * here, the stored verdict is read (cl_dup_txn).
 */
static void
cl_release_dups(struct cluster *cl)
{
	struct job	*job, *next;

	if (cl->ndup == 0)
		return;
	for (job = TAILQ_FIRST(&cl->waiting); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (!(job->cl_state & CL_DUP) ||
		    job->cl_seq > cl->st.applied_seq)
			continue;
		TAILQ_REMOVE(&cl->waiting, job, entry);
		cl->ndup--;
		job->cl_def = job->def;
		job->def = &cl_dup_def;
		writer_submit(cl->d->writer, job);
	}
}

/* A write of this node's at a seq this store applied: never applied. */
static void
cl_stall_ahead(struct cluster *cl, uint64_t seq, uint64_t applied)
{
	cl_stall(cl, "stream seq %" PRIu64 ", a write of this node's, is at "
	    "or below the seq this store applied (%" PRIu64 "): the store is "
	    "ahead of the stream (the stream was created again or lost "
	    "messages, or the store was copied from another stream); start "
	    "this node on a copy of a store of this stream (docs/cluster.md)",
	    seq, applied);
}

/* A publish no leader answered: sent again from cl_retry_fire. */
static bool
cl_retry(struct cluster *cl, struct cl_item *it)
{
	struct timeval	 tv = { 0, CL_RETRY_MS * 1000 };
	const char	*v = NULL;
	char		 n[16];
	int		 retry = 0;

	if (cl->st.stalled || cl->d->stopping)
		return (false);
	if (natsMsgHeader_Get(it->msg, "Rg-Retry", &v) == NATS_OK)
		retry = atoi(v);
	if (retry >= CL_RETRIES)
		return (false);
	snprintf(n, sizeof(n), "%d", retry + 1);
	if (natsMsgHeader_Set(it->msg, "Rg-Retry", n) != NATS_OK)
		return (false);
	TAILQ_INSERT_TAIL(&cl->retry, it, entry);
	if (!evtimer_pending(cl->retry_ev, NULL))
		evtimer_add(cl->retry_ev, &tv);
	return (true);
}

/*
 * No responders: the stream has no leader for now (a server lost, an
 * election). Send again: the same Nats-Msg-Id, so the stream keeps it once.
 */
static void
cl_retry_fire(evutil_socket_t fd, short what, void *arg)
{
	struct cluster	*cl = arg;
	struct cl_items	 items = TAILQ_HEAD_INITIALIZER(items);
	struct cl_item	*it;
	struct job	*job;
	jsPubOptions	 po;
	natsStatus	 s;

	TAILQ_CONCAT(&items, &cl->retry, entry);
	while ((it = TAILQ_FIRST(&items)) != NULL) {
		TAILQ_REMOVE(&items, it, entry);
		if ((job = cl_waiting(cl, it->token)) != NULL) {
			jsPubOptions_Init(&po);
			po.MaxWait = CL_ACK_WAIT_MS;
			if ((s = js_PublishMsgAsync(cl->js, &it->msg, &po)) !=
			    NATS_OK) {
				cl->st.publish_errors++;
				cl_fail(cl, job, natsStatus_GetText(s));
			}
		}
		natsMsg_Destroy(it->msg);	/* NULL when sent */
		free(it);
	}
}

/* A publish ack; true when it keeps it (to send it again). */
static bool
cl_ack(struct cluster *cl, struct cl_item *it)
{
	struct job	*job;

	job = cl_waiting(cl, it->token);
	if (job != NULL && it->noresp && cl_retry(cl, it))
		return (true);
	if (it->failed) {
		cl->st.publish_errors++;
		log_warn("cluster publish failed error=\"%s\"", it->err);
	} else if (it->seq > cl->st.stream_seq)
		cl->st.stream_seq = it->seq;
	if (job == NULL)
		return (false);
	if (it->failed) {
		cl_fail(cl, job, it->err);
		return (false);
	}
	job->cl_state |= CL_ACKED;
	if (job->cl_state & CL_APPLIED) {
		cl_finish(cl, job);
		return (false);
	}
	if (!it->dup && it->seq <= cl->st.applied_seq) {
		cl_stall_ahead(cl, it->seq, cl->st.applied_seq);
		return (false);
	}
	if (it->dup) {
		job->cl_seq = it->seq;
		job->cl_state |= CL_DUP;
		cl->ndup++;
		cl_release_dups(cl);
	}
	return (false);
}

static int	cl_apply_txn(struct store_txn *, struct job *);
static void	cl_apply_done(struct job *, void *);

static const struct op_def cl_apply_def = {
	.op = OP__MAX, .where = OP_WRITER_WRITE, .txn = cl_apply_txn,
};


/*
 * The retention the expiry pass before a message applies (cl_expire_txn):
 * its origin's, which the message carries (header Rg-Retention, ms; 0
 * none), so that every node expires the same events at that message
 * whatever its own retention says; this node's own for a message without
 * it (an older refguard's) or with a value that is not a number of ms.
 */
static int64_t
cl_retention(struct cluster *cl, natsMsg *msg)
{
	const char	*v = NULL;
	char		*end;
	long long	 ms;

	if (natsMsgHeader_Get(msg, "Rg-Retention", &v) != NATS_OK ||
	    v == NULL || *v < '0' || *v > '9')
		return (cl->d->conf->retention);
	errno = 0;
	ms = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return (cl->d->conf->retention);
	return ((int64_t)ms);
}

/*
 * A delivery becomes an apply job for the writer. False, and the node
 * stalls, when the message's hashes were keyed with another secret than
 * this node's: stored, they would match nothing this node hashes.
 */
static bool
cl_deliver(struct cluster *cl, struct cl_item *it)
{
	struct job	*job = job_new(JOB_APPLY);
	struct rg_hash	 fp;
	const char	*origin = NULL, *tok = NULL, *rs;
	char		 a[2 * RG_HASH_LEN + 1], b[2 * RG_HASH_LEN + 1];
	uint8_t		 op = 0;
	int		 rc;

	job->owner = (struct job_owner){ cl_apply_done, cl };
	job->t_start = mono_us();
	job->def = &cl_apply_def;
	job->op = OP__MAX;
	job->cl_seq = it->seq;
	job->cl_time = it->stamp;
	job->cl_retention = cl_retention(cl, it->msg);
	if (it->seq + it->pending > cl->st.stream_seq)
		cl->st.stream_seq = it->seq + it->pending;
	rc = cl_decode(natsMsg_GetData(it->msg), (size_t)natsMsg_GetDataLength(
	    it->msg), job, &fp, &op);
	if (rc == CL_NEWER) {
		/*
		 * Skipped, this store would miss that write for good: stop
		 * here, and resume at this message once upgraded.
		 */
		cl_stall(cl, "stream seq %" PRIu64 " is a write of op %u, which "
		    "this refguardd does not know: a newer refguard sent it; "
		    "upgrade this node (it then resumes at that message; "
		    "docs/cluster.md, Upgrade)", it->seq, op);
		job_free(job);
		return (false);
	}
	if (rc != 0) {
		/* Applied as nothing: the log moves on, and says so. */
		cl->st.bad_messages++;
		/* (anyone may publish there: a flood logs a few lines) */
		if (cl->st.bad_messages <= 10 ||
		    cl->st.bad_messages % 1000 == 0)
			log_warn("cluster message not decodable: skipped seq=%"
			    PRIu64 " (%" PRIu64 " so far, stats "
			    "cluster.bad_messages)", it->seq,
			    cl->st.bad_messages);
		job->op = OP__MAX;
	} else if (memcmp(fp.b, cl->fp.b, RG_HASH_LEN) != 0) {
		cl_stall(cl, "stream seq %" PRIu64 " was hashed with another "
		    "hash secret (fingerprint %s; this node's %s): every node "
		    "needs the same hash_secret_file (docs/cluster.md)",
		    it->seq, rg_hash_hex(&fp, a), rg_hash_hex(&cl->fp, b));
		job_free(job);
		return (false);
	} else {
		if (natsMsgHeader_Get(it->msg, "Rg-Origin", &origin) ==
		    NATS_OK && strcmp(origin, cl->origin) == 0 &&
		    natsMsgHeader_Get(it->msg, "Rg-Token", &tok) == NATS_OK)
			job->cl_token = strtoull(tok, NULL, 10);
		job->cl_def = cl->op_get(job->op);
		/* Evaluated with this node's rules (checks, rechecks). */
		if (job->cl_def->rules && cl->d->rules != NULL)
			job->rs = rules_ref(cl->d->rules);
		rs = job->rs != NULL ? rules_hash(job->rs) : "";
		if (job->cl_def->rules && strcmp(rs, job->cl_ruleset) != 0)
			cl->st.ruleset_mismatches++;
	}
	cl->applying++;
	writer_submit(cl->d->writer, job);
	return (true);
}

/*
 * On the writer, before a message is applied: the log's time moves to the
 * message's stream timestamp (never back: a new stream leader's clock may
 * be behind), and what retention expires by then goes, up to
 * CL_EXPIRE_MAX of each (the rest at the next message). The store's state
 * and the message alone decide it: every node expires the same events at
 * the same position of the log, so a check near the retention horizon
 * sees the same history everywhere. job->expired and ->expired_entries
 * get the counts.
 */
static int
cl_expire_txn(struct store_txn *txn, struct job *job)
{
	const void	*v;
	size_t		 len;
	int64_t		 t = INT64_MIN;
	uint8_t		 b[8];
	int		 rc;

	if ((rc = store_meta_get(txn, CLUSTER_META_TIME, &v, &len)) < 0)
		return (-1);
	if (rc == 0 && len == 8)
		t = (int64_t)be_get(v, 8);
	if (job->cl_time > t) {
		t = job->cl_time;
		be_put(b, (uint64_t)t, 8);
		if (store_meta_put(txn, CLUSTER_META_TIME, b, sizeof(b)) != 0)
			return (-1);
	}
	return (writer_expire(txn, job->cl_retention > 0 ? t -
	    job->cl_retention : INT64_MIN, t, CL_EXPIRE_MAX, &job->expired,
	    &job->expired_entries));
}

/*
 * On the writer: apply the message at stream seq job->cl_seq if it is the
 * next one this store has not applied, and record it in the same
 * transaction.
 */
static int
cl_apply_txn(struct store_txn *txn, struct job *job)
{
	const struct op_def	*def;
	const void		*v;
	size_t			 len;
	uint64_t		 cur = 0;
	uint8_t			 b[8];
	int			 rc;

	if ((rc = store_meta_get(txn, CLUSTER_META_APPLIED, &v, &len)) < 0)
		return (-1);
	if (rc == 0 && len == 8)
		cur = be_get(v, 8);
	if (job->cl_seq <= cur) {
		job->cl_state = CL_A_SKIP;
		job->expired = (int64_t)cur;	/* what the store has */
		return (0);
	}
	if (job->cl_seq != cur + 1) {
		job->cl_state = CL_A_GAP;
		job->expired = (int64_t)cur;	/* what the store has */
		return (0);
	}
	if (cl_expire_txn(txn, job) != 0)
		return (-1);
	if ((def = job->cl_def) != NULL && def->txn != NULL &&
	    def->txn(txn, job) != 0)
		return (-1);
	be_put(b, job->cl_seq, 8);
	if (store_meta_put(txn, CLUSTER_META_APPLIED, b, sizeof(b)) != 0)
		return (-1);
	job->cl_state = CL_A_DONE;
	return (0);
}

/*
 * A stalled node applies nothing until it is restarted: end its consumer,
 * so that the stream's later messages are not buffered (in libnats and
 * the inbox) for nothing; cl_wakeup drops the deliveries still coming.
 * Only once set up (cl->ready): before, the setup thread owns cl->sub,
 * and cl_setup_news calls this when it hands it over.
 */
void
cl_unsubscribe(struct cluster *cl)
{
	if (!cl->ready || cl->sub == NULL)
		return;
	/* (the delivery thread waiting for room: cl_wakeup frees it) */
	natsSubscription_Unsubscribe(cl->sub);
	natsSubscription_Destroy(cl->sub);
	cl->sub = NULL;
}

/*
 * The stream's message and this store disagree: stop applying, say why,
 * answer every client write waiting for the log (new ones are refused by
 * cluster_submit), and stop taking the stream's messages.
 */
void
cl_stall(struct cluster *cl, const char *fmt, ...)
{
	struct job	*job;
	va_list		 ap;

	if (cl->st.stalled)
		return;
	va_start(ap, fmt);
	vsnprintf(cl->error, sizeof(cl->error), fmt, ap);
	va_end(ap);
	cl->st.stalled = true;
	log_err("cluster stalled: %s", cl->error);
	while ((job = TAILQ_FIRST(&cl->waiting)) != NULL) {
		if (job->cl_state & CL_APPLIED)
			cl_finish(cl, job);	/* its reply is stored here */
		else
			cl_fail(cl, job, cl->error);
	}
	cl_unsubscribe(cl);
}

/* An apply is back from the writer (loop thread, inside conn_jobs_done). */
static void
cl_apply_done(struct job *job, void *arg)
{
	struct cluster	*cl = arg;
	struct job	*w;

	cl->applying--;
	if (job->failed)
		cl_stall(cl, "applying stream seq %" PRIu64 " failed: %s; "
		    "restart refguardd once the store can be written",
		    job->cl_seq, job->reply != NULL ? job->reply : "?");
	else if (job->cl_state == CL_A_GAP)
		cl_stall(cl, "the stream's next message is seq %" PRIu64
		    " but this store applied up to %" PRId64 " only: the "
		    "stream no longer holds what is between; restore a "
		    "snapshot (docs/cluster.md)", job->cl_seq, job->expired);
	else if (job->cl_state == CL_A_SKIP &&
	    (w = cl_waiting(cl, job->cl_token)) != NULL &&
	    !(w->cl_state & CL_APPLIED))
		cl_stall_ahead(cl, job->cl_seq, (uint64_t)job->expired);
	else if (job->cl_state == CL_A_DONE) {
		cl->st.applied_seq = job->cl_seq;
		cl->st.applied++;
		if (job->expired > 0)
			cl->d->stats.expired += (uint64_t)job->expired;
		if ((w = cl_waiting(cl, job->cl_token)) != NULL &&
		    !(w->cl_state & CL_APPLIED)) {
			/* The origin's client gets what its store keeps. */
			free(w->reply);
			w->reply = job->reply;
			w->replylen = job->replylen;
			job->reply = NULL;
			w->errcode = job->errcode;
			w->action = job->action;
			w->replay = job->replay;
			w->nhits = job->nhits;
			memcpy(w->hits, job->hits, job->nhits *
			    sizeof(w->hits[0]));
			memcpy(w->hits_shadow, job->hits_shadow, job->nhits);
			if (w->rs != NULL)
				rules_unref(w->rs);
			w->rs = job->rs;	/* hits index this set */
			job->rs = NULL;
			w->cl_state |= CL_APPLIED;
			if (w->cl_state & CL_ACKED)
				cl_finish(cl, w);
		}
		cl_release_dups(cl);
	}
	job_free(job);
	pthread_mutex_lock(&cl->mtx);
	if (cl->ninbox > 0)
		event_active(cl->ev, EV_READ, 0);
	pthread_mutex_unlock(&cl->mtx);
}

static void
cl_wakeup(evutil_socket_t fd, short what, void *arg)
{
	struct cluster	*cl = arg;
	struct cl_items	 items = TAILQ_HEAD_INITIALIZER(items);
	struct job_list	 done = TAILQ_HEAD_INITIALIZER(done);
	struct cl_item	*it, *next;
	struct job	*job;
	uint64_t	 v;
	bool		 held = false;

	if (read(cl->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_err("cluster wakeup read failed error=\"%s\"",
		    strerror(errno));
	if (!cl->ready)
		cl_setup_news(cl);
	pthread_mutex_lock(&cl->mtx);
	TAILQ_CONCAT(&items, &cl->inbox, entry);
	pthread_mutex_unlock(&cl->mtx);
	/* Acks are read at once; deliveries in order, while there is room. */
	for (it = TAILQ_FIRST(&items); it != NULL; it = next) {
		next = TAILQ_NEXT(it, entry);
		if (!it->ack && !cl->st.stalled && (held ||
		    cl->applying >= CL_APPLY_MAX || (cl->d->stopping &&
		    TAILQ_EMPTY(&cl->waiting)))) {
			held = true;	/* deliveries wait their turn */
			continue;
		}
		/*
		 * A stalled node never applies again (cl_unsubscribe): its
		 * deliveries are dropped, the one it stalled at too.
		 */
		if (!it->ack && !cl->st.stalled)
			(void)cl_deliver(cl, it);	/* false: stalled */
		TAILQ_REMOVE(&items, it, entry);
		if (!it->ack || !cl_ack(cl, it)) {
			natsMsg_Destroy(it->msg);
			free(it);
		}
		pthread_mutex_lock(&cl->mtx);
		cl->ninbox--;
		pthread_cond_signal(&cl->room);
		pthread_mutex_unlock(&cl->mtx);
	}
	if (!TAILQ_EMPTY(&items)) {
		pthread_mutex_lock(&cl->mtx);
		TAILQ_CONCAT(&items, &cl->inbox, entry);
		TAILQ_CONCAT(&cl->inbox, &items, entry);
		pthread_mutex_unlock(&cl->mtx);
	}
	TAILQ_CONCAT(&done, &cl->finished, entry);
	TAILQ_FOREACH(job, &done, entry)
		job->done = true;
	if (!TAILQ_EMPTY(&done))
		cl->done(&done, cl->arg);
}

/* Room left in a NATS message for the headers cluster_submit sets. */
#define CL_HEADERS_MAX	512

/*
 * A message larger than the NATS servers take (their max_payload) would
 * never be taken, however often sent: the request is refused as such
 * (true, the error set), not as an outage.
 */
static bool
cl_too_large(struct cluster *cl, struct job *job, size_t len)
{
	int64_t	max = natsConnection_GetMaxPayload(cl->nc);

	if (max <= CL_HEADERS_MAX || len <= (uint64_t)(max - CL_HEADERS_MAX))
		return (false);
	job_set_error(job, "bad_request", job->op == OP_LIST_ADD ? "value" :
	    NULL, "this %s is %zu bytes as a message of the cluster's log, "
	    "more than the NATS servers take in one (max_payload %" PRId64
	    " bytes, less %d for headers)%s", req_op_name(job->op), len, max,
	    CL_HEADERS_MAX, job->op == OP_LIST_ADD ? ": add smaller networks "
	    "(each address or prefix a network holds travels in it)" : "");
	return (true);
}

void
cluster_submit(struct cluster *cl, struct job *job)
{
	natsMsg		*m = NULL;
	jsPubOptions	 po;
	natsStatus	 s = NATS_OK;
	XXH128_hash_t	 h;
	uint8_t		*buf;
	char		 msgid[160], tok[24], ret[24];
	size_t		 len = 0;

	job->cl_token = ++cl->next_token;
	job->cl_state = 0;
	TAILQ_INSERT_TAIL(&cl->waiting, job, entry);
	if (cl->st.stalled) {
		cl_fail(cl, job, cl->error);
		return;
	}
	if (!cl->ready) {
		pthread_mutex_lock(&cl->mtx);
		job_set_error(job, "cluster_unavailable", NULL, "the cluster's "
		    "log is not available yet%s%s%s; refguardd keeps trying: "
		    "send the write again later", cl->setup_why[0] != '\0' ?
		    " (" : "", cl->setup_why, cl->setup_why[0] != '\0' ?
		    ")" : "");
		pthread_mutex_unlock(&cl->mtx);
		cl_finish(cl, job);
		return;
	}
	buf = cl_encode(job, &cl->fp, job->rs != NULL ? rules_hash(job->rs) :
	    "", &len);
	if (buf != NULL && cl_too_large(cl, job, len)) {
		free(buf);
		cl_finish(cl, job);
		return;
	}
	/*
	 * The stream drops a second message of the same id within its
	 * duplicate window: a check's id is its referral id's, so two nodes
	 * checking one referral at once publish it once. The other writes
	 * have no id of the client's that makes them one: theirs is this
	 * node's (its resend after no responders is kept once).
	 */
	if (job->op == OP_CHECK) {
		h = XXH3_128bits(job->ev.id, job->ev.idlen);
		snprintf(msgid, sizeof(msgid), "check:%016" PRIx64 "%016"
		    PRIx64, (uint64_t)h.high64, (uint64_t)h.low64);
	} else
		snprintf(msgid, sizeof(msgid), "%s:%s:%" PRIu64,
		    req_op_name(job->op), cl->origin, job->cl_token);
	snprintf(tok, sizeof(tok), "%" PRIu64, job->cl_token);
	snprintf(ret, sizeof(ret), "%" PRId64, cl->d->conf->retention);
	jsPubOptions_Init(&po);
	po.MsgId = msgid;
	po.MaxWait = CL_ACK_WAIT_MS;
	if (buf == NULL || len > INT_MAX || (s = natsMsg_Create(&m,
	    cl->subject, NULL, (const char *)buf, (int)len)) != NATS_OK ||
	    (s = natsMsgHeader_Set(m, "Rg-Origin", cl->origin)) != NATS_OK ||
	    (s = natsMsgHeader_Set(m, "Rg-Token", tok)) != NATS_OK ||
	    (s = natsMsgHeader_Set(m, "Rg-Retention", ret)) != NATS_OK ||
	    (s = js_PublishMsgAsync(cl->js, &m, &po)) != NATS_OK) {
		natsMsg_Destroy(m);
		free(buf);
		cl->st.publish_errors++;
		cl_fail(cl, job, buf == NULL ? "not a write the log carries" :
		    natsStatus_GetText(s));
		return;
	}
	free(buf);
	cl->st.published++;
}

void
cluster_stats(struct cluster *cl, struct cluster_stats *out)
{
	struct job	*job;

	*out = cl->st;
	pthread_mutex_lock(&cl->mtx);
	out->connected = cl->connected;
	pthread_mutex_unlock(&cl->mtx);
	out->waiting = 0;
	TAILQ_FOREACH(job, &cl->waiting, entry)
		out->waiting++;
	out->node = cl->d->conf->cluster_node;
	out->stream = cl->d->conf->cluster_stream;
	out->ready = cl->ready;
	out->error = cl->st.stalled ? cl->error : NULL;
	if (!cl->ready && !cl->st.stalled) {
		pthread_mutex_lock(&cl->mtx);
		snprintf(cl->notready, sizeof(cl->notready), "not set up "
		    "yet%s%s", cl->setup_why[0] != '\0' ? ": " : "",
		    cl->setup_why);
		pthread_mutex_unlock(&cl->mtx);
		out->error = cl->notready;
	}
}

/* ---- start and stop -------------------------------------------------------- */

struct cluster *
cluster_new(struct daemon *d, writer_done_cb done, void *arg,
    const struct op_def *(*opget)(int), char **cause)
{
	struct cluster		*cl = xcalloc(1, sizeof(*cl));
	const struct conf	*cf = d->conf;
	struct store_txn	*txn;
	natsOptions		*o = NULL;
	jsOptions		 jo;
	natsStatus		 s;
	const void		*v;
	size_t			 len, n = 0;
	uint64_t		 t0, last = 0;
	char			*urls, *u, *save = NULL, *list[16];
	int			 rc;

	cl->d = d;
	cl->op_get = opget;
	cl->done = done;
	cl->arg = arg;
	TAILQ_INIT(&cl->inbox);
	TAILQ_INIT(&cl->waiting);
	TAILQ_INIT(&cl->finished);
	TAILQ_INIT(&cl->retry);
	pthread_mutex_init(&cl->mtx, NULL);
	pthread_cond_init(&cl->room, NULL);
	pthread_cond_init(&cl->wake, NULL);
	snprintf(cl->stream, sizeof(cl->stream), "%s", cf->cluster_stream);
	cl->replicas = cf->cluster_replicas;
	cl->max_age = cf->cluster_max_age;
	snprintf(cl->subject, sizeof(cl->subject), "%s.events",
	    cf->cluster_stream);
	snprintf(cl->origin, sizeof(cl->origin), "%s:%" PRIx64,
	    cf->cluster_node, (uint64_t)now_ms() ^ ((uint64_t)getpid() << 40));
	cl->efd = -1;
	ident_secret_fp(d->ident, &cl->fp);

	/* Where this store is in the log. */
	if ((txn = store_begin(d->store, false, cause)) == NULL)
		goto fail;
	if (store_meta_get(txn, CLUSTER_META_APPLIED, &v, &len) == 0 &&
	    len == 8)
		cl->st.applied_seq = be_get(v, 8);
	store_abort(txn);

	if ((cl->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		xasprintf(cause, "eventfd: %s", strerror(errno));
		goto fail;
	}
	cl->ev = event_new(d->base, cl->efd, EV_READ | EV_PERSIST, cl_wakeup,
	    cl);
	cl->retry_ev = evtimer_new(d->base, cl_retry_fire, cl);
	if (cl->ev == NULL || cl->retry_ev == NULL ||
	    event_add(cl->ev, NULL) != 0) {
		xasprintf(cause, "cluster: cannot add event");
		goto fail;
	}

	urls = xstrdup(cf->cluster_nats_url);
	for (u = strtok_r(urls, ",", &save); u != NULL;
	    u = strtok_r(NULL, ",", &save)) {
		if (n == nitems(list)) {
			free(urls);
			xasprintf(cause, "cluster_nats_url lists more than %zu "
			    "servers: name %zu or fewer (libnats learns the "
			    "others from them)", nitems(list), nitems(list));
			goto fail;
		}
		list[n++] = u + strspn(u, " ");
	}
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, (const char **)list, (int)n);
	free(urls);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, cl->origin);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 250);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, cl_on_disconnect, cl);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, cl_on_reconnect, cl);
	if (s == NATS_OK && cf->cluster_creds != NULL)
		s = natsOptions_SetUserCredentialsFromFiles(o,
		    cf->cluster_creds, NULL);
	if (cl_status(s, 0, "options", cause) != 0)
		goto fail;
	s = natsConnection_Connect(&cl->nc, o);
	natsOptions_Destroy(o);
	o = NULL;
	if (cl_status(s, 0, cf->cluster_nats_url, cause) != 0)
		goto fail;
	cl->connected = true;

	jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = cl_on_ack;
	jo.PublishAsync.AckHandlerClosure = cl;
	jo.PublishAsync.MaxPending = 65536;
	if (cl_status(natsConnection_JetStream(&cl->js, cl->nc, &jo), 0,
	    "JetStream", cause) != 0)
		goto fail;
	/* (a server just lost, or JetStream electing: retry a while) */
	t0 = mono_us();
	while ((rc = cl_setup(cl, &last, cause)) == 1 &&
	    mono_us() - t0 < CL_SETUP_WAIT_S * 1000000ULL) {
		free(*cause);
		*cause = NULL;
		nats_Sleep(250);
	}
	if (rc < 0)
		goto fail;
	if (rc == 0) {
		cl_ready(cl, last);
		return (cl);
	}
	/* Serve, refusing writes, and go on trying in a thread. */
	snprintf(cl->setup_why, sizeof(cl->setup_why), "%s", *cause);
	log_warn("cluster: the stream is not available after %d s (%s): "
	    "serving, writes refused (cluster_unavailable) until it is; "
	    "still trying", CL_SETUP_WAIT_S, *cause);
	free(*cause);
	*cause = NULL;
	cl->setup_rc = 1;
	if ((errno = pthread_create(&cl->setup_thr, NULL, cl_setup_main,
	    cl)) != 0) {
		xasprintf(cause, "cluster: pthread_create: %s",
		    strerror(errno));
		goto fail;
	}
	cl->setup_thr_on = true;
	return (cl);
fail:
	natsOptions_Destroy(o);
	cluster_stop(cl);
	cluster_free(cl);
	return (NULL);
}

void
cluster_stop(struct cluster *cl)
{
	struct cl_item	*it;

	if (cl == NULL)
		return;
	pthread_mutex_lock(&cl->mtx);
	cl->stopping = true;
	pthread_cond_broadcast(&cl->room);
	pthread_cond_broadcast(&cl->wake);
	pthread_mutex_unlock(&cl->mtx);
	/* (its JetStream request in flight, if any, ends by its time-out) */
	if (cl->setup_thr_on) {
		pthread_join(cl->setup_thr, NULL);
		cl->setup_thr_on = false;
	}
	if (cl->sub != NULL) {
		natsSubscription_Unsubscribe(cl->sub);
		natsSubscription_Destroy(cl->sub);
		cl->sub = NULL;
	}
	pthread_mutex_lock(&cl->mtx);
	while ((it = TAILQ_FIRST(&cl->inbox)) != NULL) {
		TAILQ_REMOVE(&cl->inbox, it, entry);
		natsMsg_Destroy(it->msg);
		free(it);
	}
	cl->ninbox = 0;
	pthread_mutex_unlock(&cl->mtx);
	while ((it = TAILQ_FIRST(&cl->retry)) != NULL) {
		TAILQ_REMOVE(&cl->retry, it, entry);
		natsMsg_Destroy(it->msg);
		free(it);
	}
	if (cl->retry_ev != NULL)
		evtimer_del(cl->retry_ev);
}

void
cluster_free(struct cluster *cl)
{
	struct job_list	 done = TAILQ_HEAD_INITIALIZER(done);
	struct job	*job;

	if (cl == NULL)
		return;
	while ((job = TAILQ_FIRST(&cl->waiting)) != NULL) {
		job_set_error(job, "stopping", NULL, "refguardd stopped before "
		    "the cluster's log answered; the write may still be "
		    "applied: send it again");
		cl_finish(cl, job);
	}
	TAILQ_CONCAT(&done, &cl->finished, entry);
	TAILQ_FOREACH(job, &done, entry)
		job->done = true;
	if (!TAILQ_EMPTY(&done))
		cl->done(&done, cl->arg);
	/*
	 * libnats's threads (the ack handler's above all) hold cl until
	 * they end: close, destroy, and wait for them before freeing it.
	 */
	if (cl->nc != NULL)
		natsConnection_Close(cl->nc);
	if (cl->js != NULL)
		jsCtx_Destroy(cl->js);
	if (cl->nc != NULL)
		natsConnection_Destroy(cl->nc);
	if (nats_CloseAndWait(CL_CLOSE_WAIT_MS) != NATS_OK) {
		/* Still running: cl stays (exit is near), never freed early. */
		log_warn("cluster: libnats's threads did not end within %d ms",
		    CL_CLOSE_WAIT_MS);
		return;
	}
	if (cl->ev != NULL)
		event_free(cl->ev);
	if (cl->retry_ev != NULL)
		event_free(cl->retry_ev);
	if (cl->efd >= 0)
		close(cl->efd);
	pthread_mutex_destroy(&cl->mtx);
	pthread_cond_destroy(&cl->room);
	pthread_cond_destroy(&cl->wake);
	free(cl);
}

#endif
