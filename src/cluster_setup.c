/*
 * cluster_setup.c: the cluster's stream, set up for this node: created
 * when missing, checked (its subject, the hash secret it records), and
 * consumed from the first message this store has not applied; at
 * start-up, and in a thread while JetStream does not answer; see
 * cluster_int.h.
 */
#include "config.h"

#ifdef HAVE_NATS

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "cluster_int.h"
#include "conf.h"
#include "daemon.h"
#include "job.h"
#include "log.h"
#include "rgev.h"
#include "util.h"

int
cl_status(natsStatus s, jsErrCode jerr, const char *what, char **cause)
{
	const char	*last;

	if (s == NATS_OK)
		return (0);
	last = nats_GetLastError(NULL);
	xasprintf(cause, "cluster: %s: %s%s%s (JetStream error %d)", what,
	    natsStatus_GetText(s), last != NULL ? ": " : "",
	    last != NULL ? last : "", (int)jerr);
	return (-1);
}

/* The stream's description records the cluster's hash secret. */
#define CL_FP_DESC	"refguard hash secret fingerprint "

static int
cl_secret_refuse(struct cluster *cl, const char *theirs, char **cause)
{
	char	mine[2 * RG_HASH_LEN + 1];

	xasprintf(cause, "cluster: the stream %s belongs to a cluster with "
	    "another hash secret (fingerprint %s; this node's %s): every node "
	    "needs the same hash_secret_file; copy it from a node of the "
	    "cluster (docs/cluster.md)", cl->stream, theirs,
	    rg_hash_hex(&cl->fp, mine));
	return (-1);
}

/*
 * Before this node publishes anything: its hash secret must be the
 * cluster's (a node set up without the cluster's hash_secret_file would
 * store, and publish, hashes nobody matches, and stop every other node).
 * The cluster's is the fingerprint in the stream's description, recorded
 * when the stream is created; a stream without one (made by hand, or by
 * an older refguardd) gets this node's, once its last message, if
 * refguard's, agrees.
 */
static int
cl_secret_check(struct cluster *cl, const jsStreamInfo *si, char **cause)
{
	const char	*desc = si->Config->Description;
	natsMsg		*m = NULL;
	jsStreamInfo	*nsi = NULL;
	jsStreamConfig	 sc;
	struct job	*job;
	struct rg_hash	 fp;
	jsErrCode	 jerr = 0;
	char		 mine[2 * RG_HASH_LEN + 1], theirs[2 * RG_HASH_LEN + 1];
	char		 buf[sizeof(CL_FP_DESC) + sizeof(mine)];
	uint8_t		 op;
	int		 bad = 0;

	rg_hash_hex(&cl->fp, mine);
	if (desc != NULL && strncmp(desc, CL_FP_DESC,
	    strlen(CL_FP_DESC)) == 0) {
		desc += strlen(CL_FP_DESC);
		return (strcmp(desc, mine) == 0 ? 0 :
		    cl_secret_refuse(cl, desc, cause));
	}
	if (si->State.LastSeq > 0 && js_GetLastMsg(&m, cl->js,
	    cl->stream, cl->subject, NULL, &jerr) ==
	    NATS_OK) {
		job = job_new(JOB_APPLY);
		bad = cl_decode(natsMsg_GetData(m),
		    (size_t)natsMsg_GetDataLength(m), job, &fp, &op) != -1 &&
		    memcmp(fp.b, cl->fp.b, RG_HASH_LEN) != 0;
		job_free(job);
		natsMsg_Destroy(m);
		if (bad)
			return (cl_secret_refuse(cl, rg_hash_hex(&fp, theirs),
			    cause));
	}
	if (desc != NULL && *desc != '\0') {
		xasprintf(cause, "cluster: the stream %s has the description "
		    "'%.64s', not refguard's record of the cluster's hash "
		    "secret: is it another application's stream? "
		    "(docs/cluster.md)", cl->stream, desc);
		return (-1);
	}
	snprintf(buf, sizeof(buf), "%s%s", CL_FP_DESC, mine);
	sc = *si->Config;
	sc.Description = buf;
	if (cl_status(js_UpdateStream(&nsi, cl->js, &sc, NULL, &jerr), jerr,
	    "recording the hash secret's fingerprint in the stream", cause) != 0)
		return (1);		/* JetStream's failure: try again */
	log_notice("cluster stream %s: recorded the hash secret's "
	    "fingerprint %s", cl->stream, mine);
	jsStreamInfo_Destroy(nsi);
	return (0);
}

/*
 * An existing stream must take this node's subject; its replicas and age
 * limit are the operator's to change (a warning only).
 */
static int
cl_stream_config(struct cluster *cl, const jsStreamInfo *si, char **cause)
{
	const jsStreamConfig	*c = si->Config;
	int			 i;

	for (i = 0; i < c->SubjectsLen; i++)
		if (strcmp(c->Subjects[i], cl->subject) == 0)
			break;
	if (i == c->SubjectsLen) {
		xasprintf(cause, "cluster: the stream %s does not take the "
		    "subject %s: is it another application's stream? "
		    "(docs/cluster.md)", cl->stream, cl->subject);
		return (-1);
	}
	if (c->Replicas != (int64_t)cl->replicas)
		log_warn("cluster stream %s has %" PRId64 " replicas, "
		    "cluster_replicas says %u: the stream's stay",
		    cl->stream, c->Replicas, cl->replicas);
	if (c->MaxAge != cl->max_age * 1000000)
		log_warn("cluster stream %s keeps messages for %" PRId64 " s "
		    "(0: for ever), cluster_max_age says %" PRId64 " s: the "
		    "stream's stays", cl->stream, c->MaxAge / 1000000000,
		    cl->max_age / 1000);
	return (0);
}

/*
 * Set up this node's part of the log: the stream (created when missing),
 * its checks, and the ordered consumer from the first message this store
 * has not applied. 0 done (*last: the stream's last seq then); 1 not yet,
 * JetStream did not answer (electing, no majority: try again); -1
 * refused. *cause (caller frees) says why for 1 and -1. Safe on the setup
 * thread while the loop serves: it reads cl's copies of the
 * configuration and the applied seq, which nothing changes before the
 * consumer delivers.
 */
int
cl_setup(struct cluster *cl, uint64_t *last, char **cause)
{
	jsStreamConfig		 sc;
	jsStreamInfo		*si = NULL;
	jsSubOptions		 so;
	jsErrCode		 jerr = 0;
	natsStatus		 s;
	natsSubscription	*sub = NULL;
	const char		*subjects[1] = { cl->subject };
	uint64_t		 applied = cl->st.applied_seq;
	char			 hex[2 * RG_HASH_LEN + 1];
	char			 desc[sizeof(CL_FP_DESC) + sizeof(hex)];
	int			 rc;

	s = js_GetStreamInfo(&si, cl->js, cl->stream, NULL, &jerr);
	if (s == NATS_NOT_FOUND) {
		jsStreamConfig_Init(&sc);
		sc.Name = cl->stream;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.Replicas = cl->replicas;
		sc.MaxAge = cl->max_age * 1000000;	/* (ns) */
		rg_hash_hex(&cl->fp, hex);
		snprintf(desc, sizeof(desc), "%s%s", CL_FP_DESC, hex);
		sc.Description = desc;
		s = js_AddStream(&si, cl->js, &sc, NULL, &jerr);
		if (s == NATS_OK)
			log_notice("cluster stream created stream=%s "
			    "replicas=%u max_age=%" PRId64 "s", cl->stream,
			    cl->replicas, cl->max_age / 1000);
	}
	if (s != NATS_OK) {
		cl_status(s, jerr, "stream", cause);
		return (1);
	}
	*last = si->State.LastSeq;
	rc = cl_stream_config(cl, si, cause);
	if (rc == 0)
		rc = cl_secret_check(cl, si, cause);
	jsStreamInfo_Destroy(si);
	if (rc != 0)
		return (rc);
	/*
	 * A store past the stream's end would skip the new messages that
	 * reuse its sequences: refuse, rather than lose writes.
	 */
	if (applied > *last) {
		xasprintf(cause, "cluster: this store applied the stream %s up "
		    "to seq %" PRIu64 " but the stream's last seq is %" PRIu64
		    ": the store is ahead of the stream (the stream was "
		    "deleted and created again, lost acknowledged messages, or "
		    "the store was copied from another stream); start this node "
		    "on a copy of the store of a node of this stream "
		    "(docs/cluster.md)", cl->stream, applied, *last);
		return (-1);
	}
	/*
	 * An ordered consumer from the first message this store has not
	 * applied: in order, no acks, recreated by libnats after a gap or
	 * a lost server.
	 */
	jsSubOptions_Init(&so);
	so.Stream = cl->stream;
	so.Ordered = true;
	if (applied > 0) {
		so.Config.DeliverPolicy = js_DeliverByStartSequence;
		so.Config.OptStartSeq = applied + 1;
	} else
		so.Config.DeliverPolicy = js_DeliverAll;
	if ((s = js_Subscribe(&sub, cl->js, cl->subject, cl_on_msg, cl, NULL,
	    &so, &jerr)) != NATS_OK) {
		cl_status(s, jerr, "subscribe", cause);
		return (1);
	}
	/* Its deliveries may wait in the inbox for room: no library limit. */
	natsSubscription_SetPendingLimits(sub, -1, -1);
	cl->sub = sub;
	return (0);
}

/*
 * JetStream did not answer within CL_SETUP_WAIT_S at start-up (no
 * majority of its servers yet): this thread goes on trying while the
 * daemon serves, refusing writes, and hands the outcome to the loop
 * (cl_setup_news).
 */
void *
cl_setup_main(void *arg)
{
	struct cluster	*cl = arg;
	struct timespec	 ts;
	char		*cause = NULL;
	uint64_t	 last = 0, one = 1;
	int		 rc = 1;

	pthread_mutex_lock(&cl->mtx);
	while (!cl->stopping) {
		pthread_mutex_unlock(&cl->mtx);
		free(cause);
		cause = NULL;
		rc = cl_setup(cl, &last, &cause);
		pthread_mutex_lock(&cl->mtx);
		snprintf(cl->setup_why, sizeof(cl->setup_why), "%s",
		    cause != NULL ? cause : "");
		if (rc <= 0 || cl->stopping)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += CL_SETUP_RETRY_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&cl->wake, &cl->mtx, &ts);
	}
	if (rc <= 0) {
		cl->setup_rc = rc;
		cl->setup_seq = last;
		cl->setup_news = true;
		if (write(cl->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_err("cluster wakeup failed error=\"%s\"",
			    strerror(errno));
	}
	pthread_mutex_unlock(&cl->mtx);
	free(cause);
	return (NULL);
}

/* On the loop: the cluster is set up and consuming. */
void
cl_ready(struct cluster *cl, uint64_t last)
{
	cl->ready = true;
	if (last > cl->st.stream_seq)
		cl->st.stream_seq = last;
	log_info("cluster joined node=%s stream=%s applied=%" PRIu64
	    " stream_seq=%" PRIu64, cl->d->conf->cluster_node, cl->stream,
	    cl->st.applied_seq, cl->st.stream_seq);
}

/* On the loop: what the setup thread found, once. */
void
cl_setup_news(struct cluster *cl)
{
	uint64_t	last;
	char		why[sizeof(cl->setup_why)];
	int		rc;

	pthread_mutex_lock(&cl->mtx);
	if (!cl->setup_news) {
		pthread_mutex_unlock(&cl->mtx);
		return;
	}
	cl->setup_news = false;
	rc = cl->setup_rc;
	last = cl->setup_seq;
	memcpy(why, cl->setup_why, sizeof(why));
	pthread_mutex_unlock(&cl->mtx);
	if (rc == 0) {
		cl_ready(cl, last);
		if (cl->st.stalled)	/* at a delivery before this news */
			cl_unsubscribe(cl);
	} else
		cl_stall(cl, "%s", why);
}

#endif /* HAVE_NATS */
