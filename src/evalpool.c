/* evalpool.c: helper threads for the writer's parallel evaluation; see evalpool.h. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evalpool.h"
#include "util.h"

struct evalpool {
	pthread_t	*thr;
	unsigned	 n, started;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 go;		/* a new run, or stop */
	pthread_cond_t	 idle;		/* the last helper finished its part */
	uint64_t	 gen;		/* runs so far */
	unsigned	 busy;		/* helpers still in this run's work */
	bool		 stop;
	void		(*work)(void *);
	void		*arg;
};

static void *
evalpool_main(void *v)
{
	struct evalpool	*p = v;
	uint64_t	 seen = 0;	/* a run before this thread ran is its */

	pthread_mutex_lock(&p->mtx);
	for (;;) {
		while (p->gen == seen && !p->stop)
			pthread_cond_wait(&p->go, &p->mtx);
		if (p->stop)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mtx);
		p->work(p->arg);
		pthread_mutex_lock(&p->mtx);
		if (--p->busy == 0)
			pthread_cond_signal(&p->idle);
	}
	pthread_mutex_unlock(&p->mtx);
	return (NULL);
}

struct evalpool *
evalpool_new(unsigned n, char **cause)
{
	struct evalpool	*p = xcalloc(1, sizeof(*p));
	int		 rc;

	p->n = n;
	p->thr = xreallocarray(NULL, n, sizeof(*p->thr));
	pthread_mutex_init(&p->mtx, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->idle, NULL);
	for (p->started = 0; p->started < n; p->started++)
		if ((rc = pthread_create(&p->thr[p->started], NULL,
		    evalpool_main, p)) != 0) {
			xasprintf(cause, "evaluation thread: %s",
			    strerror(rc));
			evalpool_free(p);
			return (NULL);
		}
	return (p);
}

void
evalpool_run(struct evalpool *p, void (*work)(void *), void *arg)
{
	pthread_mutex_lock(&p->mtx);
	p->work = work;
	p->arg = arg;
	p->busy = p->n;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mtx);
	work(arg);
	pthread_mutex_lock(&p->mtx);
	while (p->busy > 0)
		pthread_cond_wait(&p->idle, &p->mtx);
	pthread_mutex_unlock(&p->mtx);
}

void
evalpool_free(struct evalpool *p)
{
	unsigned	i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mtx);
	p->stop = true;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mtx);
	for (i = 0; i < p->started; i++)
		pthread_join(p->thr[i], NULL);
	pthread_mutex_destroy(&p->mtx);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->idle);
	free(p->thr);
	free(p);
}
