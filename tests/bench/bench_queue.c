/*
 * bench_queue.c: the review queue with 100,000 open items: how long
 * queue.list takes for its first page (newest first and by score), a
 * later page through a cursor, and a filter that matches nothing (which
 * walks every item of the state). Prints figures; not a test.
 *
 *	tests/bench/bench-queue [STATE_DIR] [ITEMS]
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analyst.h"
#include "log.h"
#include "queue.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"
#include "verdict.h"

static double
ms_now(void)
{
	struct timespec	t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ((double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6);
}

/* One queue.list in a read transaction; its time in ms. */
static double
list(struct store *st, struct analyst_req *ar, char **next)
{
	static struct rg_event	 ev;
	struct store_txn	*t;
	struct verdict		 v;
	const char		*code;
	char			 msg[256], *cause = NULL, *p;
	double			 t0, dt;

	if ((t = store_begin(st, false, &cause)) == NULL)
		fatalx("store_begin: %s", cause);
	t0 = ms_now();
	if (queue_run(t, OP_QUEUE_LIST, &ev, ar, 0, &v, &code, msg,
	    sizeof(msg)) != 0)
		fatalx("queue.list: %s", msg);
	dt = ms_now() - t0;
	store_abort(t);
	if (next != NULL && (p = strstr(v.reply, "\"next\":\"")) != NULL) {
		*next = xstrdup(p + 8);
		*strchr(*next, '"') = '\0';
	}
	verdict_clear(&v);
	return (dt);
}

/* Remove the scratch state directory (flat: the store's files). */
static void
rmdir_flat(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	char		 p[512];

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

int
main(int argc, char **argv)
{
	struct store_opts	 o;
	struct store		*st;
	struct store_txn	*t;
	struct store_queue_item	 it;
	struct analyst_req	*ar = xcalloc(1, sizeof(*ar));
	char			 dir[] = "/tmp/rg-bench-queue.XXXXXX";
	char			*cause = NULL, *next = NULL;
	uint64_t		 i, n = argc > 2 ? strtoull(argv[2], NULL, 10) :
				    100000;
	int			 sort;

	memset(&o, 0, sizeof(o));
	o.dir = argc > 1 ? argv[1] : mkdtemp(dir);
	o.map_size = 64 << 20;
	o.map_max = (size_t)4 << 30;
	o.nosync = true;
	if (o.dir == NULL || (st = store_open(&o, &cause)) == NULL)
		fatalx("store_open: %s", cause != NULL ? cause : "mkdtemp");
	if ((t = store_begin(st, true, &cause)) == NULL)
		fatalx("store_begin: %s", cause);
	for (i = 1; i <= n; i++) {
		memset(&it, 0, sizeof(it));
		it.item = i;
		snprintf(it.id, sizeof(it.id), "ref-%llu",
		    (unsigned long long)i);
		it.created = 1795428000000LL + (int64_t)i * 100;
		it.score = (int32_t)(i % 200);
		it.action = 1;
		it.nreasons = 2;
		snprintf(it.reasons[0], sizeof(it.reasons[0]), "farm.referee_ip");
		snprintf(it.reasons[1], sizeof(it.reasons[1]), "velocity.burst");
		snprintf(it.campaign, sizeof(it.campaign), "spring");
		it.has_reward = true;
		it.reward_amount = 10;
		memcpy(it.reward_currency, "EUR", 3);
		if (store_queue_put(t, &it, NULL) != 0)
			fatalx("store_queue_put: %s", store_txn_errstr(t));
	}
	if (store_commit(t, NULL, &cause) != 0)
		fatalx("commit: %s", cause);
	printf("review queue: %llu open items\n", (unsigned long long)n);
	for (sort = 0; sort < 2; sort++) {
		queue_req_init(&ar->queue);
		ar->queue.limit = 100;
		ar->queue.by_score = sort == 1;
		list(st, ar, NULL);		/* warm the pages */
		printf("first page of 100, %-6s  %8.2f ms\n", sort ? "score" :
		    "newest", list(st, ar, &next));
		if (next != NULL && queue_cursor_parse(next, sort == 1,
		    &ar->queue.cursor) == 0) {
			ar->queue.has_cursor = true;
			printf("next page by cursor, %-6s %8.2f ms\n", sort ?
			    "score" : "newest", list(st, ar, NULL));
		}
		free(next);
		next = NULL;
	}
	queue_req_init(&ar->queue);
	snprintf(ar->queue.campaign, sizeof(ar->queue.campaign), "none");
	ar->queue.has_campaign = true;
	printf("a filter matching none      %8.2f ms (walks every item)\n",
	    list(st, ar, NULL));
	store_close(st);
	if (argc <= 1)
		rmdir_flat(o.dir);
	return (0);
}
