/*
 * cluster.h: cluster mode: several refguardd share one log of writes, a
 * NATS JetStream stream, and each applies it in order to its own store
 * (docs/cluster.md has the design, the consistency model and the failure
 * cases).
 *
 * A replicated write (an op whose table entry says .replicate: check,
 * observe) is decoded on the node a client sent it to, exactly as in
 * single-node mode, then published (cluster_submit) instead of handed to
 * the writer. Every node, the origin too, consumes the stream in order
 * and hands each message to the writer as a JOB_APPLY job, which runs the
 * op's own handler and records the stream sequence it applied in the
 * store's meta (CLUSTER_META_APPLIED) in the same transaction: apply is
 * exactly once across crashes, and a node resumes after the last sequence
 * it committed. The origin answers its client when JetStream acknowledged
 * the publish (a majority of the stream's replicas have it) and its own
 * writer has committed the message: the reply is what its apply stored,
 * the same bytes on every node.
 *
 * Threads: libnats calls back on its own threads; those only queue what
 * they got and wake the loop (an eventfd), which does everything else.
 * Every function here is for the loop thread.
 */
#ifndef REFGUARD_CLUSTER_H
#define REFGUARD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "writer.h"

struct cluster;
struct daemon;
struct job;

/* The meta record of the last stream sequence applied (8 bytes, BE). */
#define CLUSTER_META_APPLIED	"cluster.applied"
/*
 * The log's time (8 bytes, BE, ms): the latest stream timestamp of the
 * messages applied. Retention runs by it, not by the node's clock: before
 * each message is applied, what is older than it by retention expires, in
 * the same transaction, so every node holds the same history at every
 * position of the log (docs/cluster.md, "Retention").
 */
#define CLUSTER_META_TIME	"cluster.time"

struct cluster_stats {
	bool		connected;	/* to a NATS server now */
	bool		ready;		/* the stream set up and consumed;
					   false while JetStream did not
					   answer at start-up (why: error) */
	bool		stalled;	/* cannot apply the log (why: error) */
	uint64_t	applied_seq;	/* the last stream seq committed here */
	uint64_t	stream_seq;	/* the stream's last seq, as last heard
					   (deliveries, publish acks) */
	uint64_t	published;	/* client writes published from here */
	uint64_t	publish_errors;	/* not acknowledged by the stream */
	uint64_t	applied;	/* messages applied since start */
	uint64_t	ruleset_mismatches; /* checks decoded under another
					   rule set than this node's */
	uint64_t	bad_messages;	/* not decodable: skipped */
	size_t		waiting;	/* client writes in the log, unanswered */
	const char	*node;
	const char	*stream;
	const char	*error;		/* why stalled; NULL */
};

/*
 * Connect to conf's cluster_nats_url, create the stream when it does not
 * exist (cluster_replicas replicas), and start consuming after the last
 * sequence d->store applied. Finished client jobs go to done(list, arg)
 * on the loop, as the writer's do; opget is the op table's op_get (ops.h),
 * passed down since the table's ops reach this module. NULL and *cause
 * (caller frees) on error, and always when refguard was built without
 * libnats; among the errors: a store that applied past the stream's last
 * seq, a stream whose recorded hash secret fingerprint (its description,
 * written when created) is not this node's, a stream that does not take
 * the node's subject.
 */
struct op_def;
struct cluster	*cluster_new(struct daemon *d, writer_done_cb done, void *arg,
		    const struct op_def *(*opget)(int), char **cause);
/*
 * Publish a decoded client write (job->def->replicate); the job comes
 * back through done once answered: its apply's reply, or the error
 * cluster_unavailable when the stream did not acknowledge it, when this
 * node stalled (it cannot apply the log: every waiting write is answered
 * so), or when the stream dropped a check as a duplicate of a message
 * that stored no verdict for its id.
 */
void		 cluster_submit(struct cluster *cl, struct job *job);
void		 cluster_stats(struct cluster *cl, struct cluster_stats *out);
/* Stop consuming (before writer_free at exit). */
void		 cluster_stop(struct cluster *cl);
/*
 * After writer_free: answer what still waits ("stopping"), disconnect,
 * and wait (10 s at most) for libnats's threads to end before freeing
 * cl; if they have not, cl is left allocated (the process is exiting).
 */
void		 cluster_free(struct cluster *cl);

#endif
