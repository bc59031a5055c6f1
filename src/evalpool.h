/*
 * evalpool.h: helper threads that run one piece of work beside the
 * caller's thread, all at once (the writer's parallel evaluation,
 * writer.c).
 *
 * evalpool_run() calls work(arg) on the calling thread and on each
 * helper, and returns when every call has returned: work shares its
 * items out itself (an atomic counter in arg). One caller at a time.
 * evalpool_free() stops the helpers (none may be running work).
 */
#ifndef REFGUARD_EVALPOOL_H
#define REFGUARD_EVALPOOL_H

struct evalpool;

/* n helper threads (1 or more); NULL and *cause on error. */
struct evalpool	*evalpool_new(unsigned n, char **cause);
void		 evalpool_run(struct evalpool *p, void (*work)(void *),
		    void *arg);
void		 evalpool_free(struct evalpool *p);

#endif
