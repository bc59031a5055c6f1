/*
 * bench_rules.c: figures for the rules engine with the shipped rule set:
 * rules_eval alone (with and without explain) and verdict_check (store
 * the event, evaluate, store the verdict) on a scratch store holding a
 * realistic history. Prints numbers; it is not a test.
 *
 *	bench_rules [RULES_DIR [CHECKS]]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ident.h"
#include "req.h"
#include "rules.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

static struct ident	*id;

static void
mkline(char *buf, size_t cap, int i)
{
	/* 5000 referrers, a few shared devices and networks. */
	snprintf(buf, cap, "{\"op\":\"check\",\"id\":\"b%d\",\"referrer\":"
	    "{\"account\":\"r%d\",\"email\":\"r%d@example.com\",\"ip\":"
	    "\"198.51.%d.%d\",\"device\":{\"ua\":\"Mozilla/5.0 (X11; Linux) "
	    "Firefox/%d\",\"tz\":\"Europe/Berlin\",\"lang\":\"de\"}},"
	    "\"referee\":{\"account\":\"e%d\",\"email\":\"e%d@example.org\","
	    "\"ip\":\"203.0.%d.%d\",\"payment\":\"pm_%d\",\"device\":{\"id\":"
	    "\"d%d\",\"ua\":\"RefApp/2\"}}}", i, i % 5000, i % 5000,
	    i % 200, i % 250, i % 7, i, i, i % 100, i % 250, i, i % 3000);
}

int
main(int argc, char **argv)
{
	const char		*dir = argc > 1 ? argv[1] : "rules";
	int			 n = argc > 2 ? atoi(argv[2]) : 50000, i;
	struct ident_conf	 ic;
	struct store_opts	 so;
	struct req_opts		 ro;
	struct req_error	 rerr;
	struct rules_result	 res;
	struct verdict		 v;
	struct ruleset		*rs;
	struct store		*st;
	struct store_txn	*txn = NULL;
	struct rg_event		*evs;
	enum req_op		 op;
	char			 tmp[] = "/tmp/bench-rules.XXXXXX";
	char			 line[1024], *diag, *cause;
	uint64_t		 t0, t;

	if (mkdtemp(tmp) == NULL)	/* the scratch store */
		return (1);
	memset(&ic, 0, sizeof(ic));	/* secret_file NULL: process-only secret */
	ic.prefix4 = 24;
	ic.prefix6 = 64;
	if ((id = ident_new(&ic, &cause)) == NULL) {
errx_fail:
		fprintf(stderr, "%s\n", cause);
		return (1);
	}
	if ((rs = rules_load(dir, id, 0, &diag)) == NULL) {
		fprintf(stderr, "%s", diag);
		return (1);
	}
	memset(&so, 0, sizeof(so));
	so.dir = tmp;
	so.map_size = 1ULL << 30;
	so.map_max = 8ULL << 30;
	so.nosync = true;
	if ((st = store_open(&so, &cause)) == NULL)
		goto errx_fail;
	evs = xcalloc((size_t)n, sizeof(*evs));
	memset(&ro, 0, sizeof(ro));
	ro.max_future = INT64_MAX / 4;
	for (i = 0; i < n; i++) {
		mkline(line, sizeof(line), i);
		ro.now = 1767225600000LL + (int64_t)i * 100;
		if (req_decode(line, strlen(line), id, &ro, &op, &evs[i],
		    &rerr) != 0) {
			fprintf(stderr, "%s: %s\n", rerr.field, rerr.msg);
			return (1);
		}
	}
	printf("rule set %s: %zu rules, %d checks\n", rules_hash(rs),
	    rules_count(rs), n);

	t0 = mono_us();
	for (i = 0; i < n; i++) {
		if (i % 1000 == 0) {
			if (i != 0 && store_commit(txn, NULL, &cause) != 0)
				goto errx_fail;
			if ((txn = store_begin(st, true, &cause)) == NULL)
				goto errx_fail;
		}
		if (verdict_check(txn, rs, &evs[i], &v) != 0) {
			fprintf(stderr, "store: %s\n", store_txn_errstr(txn));
			return (1);
		}
		verdict_clear(&v);
	}
	if (store_commit(txn, NULL, &cause) != 0)
		goto errx_fail;
	t = mono_us() - t0;
	printf("verdict_check (store + eval with explain + verdict): "
	    "%.2f us/check, %.0f checks/s on one core\n", (double)t / n,
	    n * 1e6 / (double)t);

	if ((txn = store_begin(st, false, &cause)) == NULL)
		goto errx_fail;
	t0 = mono_us();
	for (i = 0; i < n; i++)
		rules_eval(rs, &evs[i], txn, 0, &res);
	t = mono_us() - t0;
	printf("rules_eval, no explain: %.2f us/check\n", (double)t / n);
	t0 = mono_us();
	for (i = 0; i < n; i++) {
		rules_eval(rs, &evs[i], txn, 1, &res);
		free(res.explain);
	}
	t = mono_us() - t0;
	printf("rules_eval, explain: %.2f us/check\n", (double)t / n);
	store_abort(txn);
	store_close(st);
	rules_unref(rs);
	ident_free(id);
	free(evs);
	snprintf(line, sizeof(line), "rm -rf '%s'", tmp);
	return (system(line) != 0);
}
