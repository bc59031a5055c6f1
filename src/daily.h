/*
 * daily.h: durable daily counters of the verdicts, and the stats.daily op
 * that reads them (what the console's charts draw).
 *
 * Counted in the write transaction that stores the verdict, so they are
 * exactly as durable as the verdicts: an aborted batch counts nothing, a
 * replayed check (its id known) is not counted again. Kept in the store's
 * daily database (store_aux.h) by day, days since the epoch in UTC:
 *
 *   DAILY_ACTION   the verdict's action at check ("allow", ...), by the
 *                  event's own time (a backfilled event counts on its day)
 *   DAILY_RULE     each enforcing rule that matched at check, same day
 *   DAILY_SHADOW   each shadow rule that matched at check, same day
 *   DAILY_RECHECK  a recheck that changed the action ("allow>deny"), by
 *                  the time it was rechecked as of
 *
 * Retention deletes the days that ended before its bound, with the events.
 */
#ifndef REFGUARD_DAILY_H
#define REFGUARD_DAILY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rules_result;
struct ruleset;
struct sbuf;
struct store_txn;

enum daily_kind {
	DAILY_ACTION = 'a',
	DAILY_RECHECK = 'c',
	DAILY_RULE = 'r',
	DAILY_SHADOW = 's',
};

#define DAILY_MS		86400000LL
#define DAILY_RULE_MAX		127

/* The day of ms (UTC): days since 1970-01-01; 0 for a time before. */
uint32_t daily_day(int64_t ms);

/*
 * Count a check's verdict: its action and the rules of res (names from
 * rs; NULL: none) on the day of ts. 0, or -1 on a store error.
 */
int	daily_check(struct store_txn *txn, int64_t ts, const struct ruleset *rs,
	    const struct rules_result *res);
/*
 * The same from a stored verdict (import): action and the rules named in
 * its reply line's "reasons" and "shadow". 0, 1 when the reply is not a
 * verdict's JSON object (nothing counted), -1 on a store error.
 */
int	daily_reply(struct store_txn *txn, int64_t ts, int action,
	    const char *reply, size_t len);
/*
 * Everything a stored verdict record counted when it was made (import):
 * its check as daily_reply() on the day of its event (ts), and each of
 * its re-checks that changed the action from the version before, as
 * daily_recheck(). 0, 1 when the reply or a re-check cannot be read
 * (what could be read is counted), -1 on a store error.
 */
struct verdict_rec;
int	daily_verdict(struct store_txn *txn, int64_t ts,
	    const struct verdict_rec *r);
/* A recheck at ts changed the action from -> to (from != to). 0 or -1. */
int	daily_recheck(struct store_txn *txn, int64_t ts, int from, int to);
/*
 * Retention: delete up to max counters of the days that ended before
 * before_ts (ms). How many, or -1.
 */
int64_t	daily_expire(struct store_txn *txn, int64_t before_ts, size_t max);

/* stats.daily */
#define DAILY_KINDS_ALL	0x7
#define DAILY_K_ACTIONS	0x1
#define DAILY_K_RULES	0x2	/* enforcing and shadow */
#define DAILY_K_RECHECKS 0x4

struct daily_req {
	int64_t		 since, until;	/* ms, inclusive: their days */
	unsigned	 kinds;		/* DAILY_K_* */
	bool		 has_rule;	/* rules: this one only */
	char		 rule[DAILY_RULE_MAX + 1];
};

/* Every day, every kind. */
void	daily_req_init(struct daily_req *q);
/* "actions", "rules" or "rechecks": its DAILY_K_* bit, or 0. */
unsigned daily_kind_from_name(const char *s);

/*
 * The reply of q into sb:
 *   {"ok":true,"since":"YYYY-MM-DD"|null,"until":"YYYY-MM-DD"|null,
 *    "days":[{"day":"YYYY-MM-DD","actions":{"allow":N,...},
 *             "rules":{RULE:N,...},"shadow":{RULE:N,...},
 *             "rechecks":{"allow>deny":N,...}},...]}
 * Days with no counter of the kinds asked are left out; a group with
 * none is left out of its day. 0, or -1 on a store error.
 */
int	daily_run(struct store_txn *txn, const struct daily_req *q,
	    struct sbuf *sb);

#endif
