/*
 * cluster_int.h: what the cluster's files share:
 *   cluster.c        the loop's side: publishing a client's write,
 *                    applying the log through the writer, libnats's
 *                    callbacks, start and stop (cluster.h's functions)
 *   cluster_wire.c   the message of the log: its format, its encoder and
 *                    decoder
 *   cluster_setup.c  the stream set up for this node and its checks, at
 *                    start-up and in a thread while JetStream does not
 *                    answer
 * Nothing else includes it: the rest of refguard goes through cluster.h.
 * Only with libnats (HAVE_NATS): without it cluster.c's stubs are all
 * there is, and cluster_wire.c and cluster_setup.c compile to nothing.
 *
 * Threads as cluster.h says: every function here is for the loop thread
 * but cl_on_msg (libnats's), cl_setup (the setup thread's too) and
 * cl_setup_main (that thread).
 */
#ifndef REFGUARD_CLUSTER_INT_H
#define REFGUARD_CLUSTER_INT_H

#include <sys/queue.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "cluster.h"
#include "job.h"
#include "rgev.h"		/* struct rg_hash */
#include "writer.h"

struct event;
struct op_def;

#define CL_SETUP_WAIT_S	20	/* start-up: JetStream may still elect;
				   then the setup goes on in a thread */
#define CL_SETUP_RETRY_MS 500	/* between its attempts */

struct cl_item {
	TAILQ_ENTRY(cl_item) entry;
	bool		 ack;		/* a publish ack, else a delivery */
	natsMsg		*msg;		/* a delivery (owned) */
	uint64_t	 seq;		/* stream sequence */
	uint64_t	 pending;	/* a delivery: messages after it */
	int64_t		 stamp;		/* a delivery: the stream's time, ms */
	uint64_t	 token;		/* an ack: of which client write */
	bool		 dup;
	bool		 failed;
	bool		 noresp;	/* an ack: no responders (msg kept) */
	char		 err[200];
};
TAILQ_HEAD(cl_items, cl_item);

struct cluster {
	struct daemon		*d;
	writer_done_cb		 done;
	void			*arg;
	const struct op_def	*(*op_get)(int);
	natsConnection		*nc;
	jsCtx			*js;
	natsSubscription	*sub;
	char			 subject[96];
	char			 origin[128];	/* node:boot nonce */
	/* conf, copied: the setup thread reads them while a reload runs */
	char			 stream[96];
	unsigned		 replicas;
	int64_t			 max_age;	/* ms; 0 none */
	pthread_t		 setup_thr;	/* JetStream set up late */
	bool			 setup_thr_on;
	bool			 ready;		/* the loop's: set up, consuming */
	/* shared with libnats's threads, under mtx */
	pthread_mutex_t		 mtx;
	pthread_cond_t		 room;		/* the inbox has room */
	struct cl_items		 inbox;
	size_t			 ninbox;
	bool			 stopping;
	bool			 connected;
	pthread_cond_t		 wake;		/* the setup thread: stopping */
	int			 setup_rc;	/* 1 trying; 0 done; -1 refused */
	bool			 setup_news;	/* setup_rc changed, for the loop */
	uint64_t		 setup_seq;	/* the stream's last seq then */
	char			 setup_why[256];	/* not yet, or refused: why */
	int			 efd;
	struct event		*ev;
	/* the loop's */
	struct job_list		 waiting;	/* client writes in the log */
	struct job_list		 finished;	/* answered: done at next wakeup */
	struct cl_items		 retry;		/* publishes to send again */
	struct event		*retry_ev;
	uint64_t		 next_token;
	size_t			 applying;	/* apply jobs in the writer */
	size_t			 ndup;		/* waiting with CL_DUP */
	struct cluster_stats	 st;
	char			 error[256];
	char			 notready[300];	/* stats' error until ready */
	struct rg_hash		 fp;		/* of this node's hash secret */
};

/* ---- cluster_wire.c: the message ---------------------------------------- */

/*
 * The message of a decoded client write (job), as every node applies it:
 * fp the fingerprint of this node's hash secret, ruleset the hash of the
 * rule set it was decoded under ("" none). The bytes (caller frees) and
 * their length in *len; NULL for an op the log does not carry.
 */
uint8_t	*cl_encode(const struct job *job, const struct rg_hash *fp,
	    const char *ruleset, size_t *len);
/*
 * A message (p, len) into an apply job: 0, job->op, ->ev, ->ar (an
 * analyst op) and ->cl_ruleset set (the job owns them, job_free frees
 * them), the origin's hash secret fingerprint in *fp; -1 not decodable;
 * CL_NEWER an op this refguardd does not know, its number in *opp.
 */
#define CL_NEWER	(-2)
int	 cl_decode(const void *p, size_t len, struct job *job,
	    struct rg_hash *fp, uint8_t *opp);

/* ---- cluster_setup.c: the stream ---------------------------------------- */

/*
 * 0 when s is NATS_OK; else -1 and *cause (caller frees) saying what
 * failed (what), libnats's last error and JetStream's code jerr.
 */
int	 cl_status(natsStatus s, jsErrCode jerr, const char *what,
	    char **cause);
/*
 * This node's part of the log set up: the stream (created when missing),
 * its checks, and the ordered consumer (cl->sub) from the first message
 * this store has not applied. 0 done, *last the stream's last seq then;
 * 1 not yet (JetStream did not answer: try again); -1 refused. *cause
 * (caller frees) says why for 1 and -1. The loop's at start-up, then the
 * setup thread's: it reads only cl's copies of the configuration.
 */
int	 cl_setup(struct cluster *cl, uint64_t *last, char **cause);
/*
 * The setup thread (arg the cluster): cl_setup until done, refused or
 * cl->stopping, every CL_SETUP_RETRY_MS; the outcome goes to the loop
 * (cl->setup_rc, setup_news, a wakeup). Returns NULL.
 */
void	*cl_setup_main(void *arg);
/* The cluster set up and consuming, the stream's last seq then last. */
void	 cl_ready(struct cluster *cl, uint64_t last);
/*
 * At a wakeup while not ready: what the setup thread found, once (ready,
 * or stalled with its reason); nothing when it has no news.
 */
void	 cl_setup_news(struct cluster *cl);

/* ---- cluster.c: what the setup calls back ------------------------------- */

/*
 * libnats's delivery of the ordered consumer (its thread): queued for the
 * loop, waiting while the inbox is full; msg is ours.
 */
void	 cl_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
	    void *arg);
/*
 * Stop applying the log for good (until a restart), cl->error from fmt:
 * every client write waiting is answered, new ones are refused, and the
 * consumer ends (cl_unsubscribe). Once: later calls do nothing.
 */
void	 cl_stall(struct cluster *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * A stalled node's consumer ended; only once set up (cl->ready): before,
 * the setup thread owns cl->sub.
 */
void	 cl_unsubscribe(struct cluster *cl);

#endif
