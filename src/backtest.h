/*
 * backtest.h: replay stored referrals through a candidate rule set and
 * compare with the verdicts they were given (refguardctl backtest).
 *
 * Each stored referral is evaluated as of its own event (rules_eval()
 * with the stored event, so history queries see seq <= ev.seq): exactly
 * the history the live check saw. Events carry hashes and derived facts,
 * never raw values, so nothing is re-fingerprinted; the rule set must be
 * compiled with the installation's secret for list values to match.
 *
 * The store is only read. Reads go in chunks of opts->chunk events, each
 * in its own read transaction: a long LMDB read transaction would keep
 * the pages the daemon frees from being reused (the map grows) for as
 * long as it lasts. Events are fixed at the start (seq <= the last one
 * then), so referrals checked during the run are not counted; retention
 * may delete old events between chunks, which are then skipped. A
 * read-only store sees the daemon's unflushed entries too (store_begin()).
 * With opts->workers, worker processes replay interleaved chunks in
 * parallel, and their counts are merged into the report a single replay
 * gives, sample ids included (the earliest by seq).
 *
 * With feedback in the store, precision and recall judge each referral
 * by its own label as it is now: the newest feedback on its id, else on
 * its referee's account; never a label spread to an identity it shares
 * (which labeled() in the rules does see, as of the event).
 */
#ifndef REFGUARD_BACKTEST_H
#define REFGUARD_BACKTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ruleset;
struct store;

struct backtest_opts {
	int64_t		since;		/* event ts bounds, ms, inclusive */
	int64_t		until;		/* (INT64_MIN / INT64_MAX: none) */
	size_t		samples;	/* ids kept per changed cell */
	size_t		chunk;		/* seqs per read transaction; 0: 4096 */
	/*
	 * Worker processes replaying disjoint chunks (0, 1: none, the
	 * caller's store is read in this process; fewer than asked when
	 * there are not two chunks for each). Each opens the store in dir
	 * read-only itself (NULL: no workers); the report is the same for
	 * any number.
	 */
	unsigned	workers;
	const char	*dir;
	/*
	 * Reusing stored outcomes: a referral whose stored verdict was given
	 * by the candidate set itself, or by base (NULL: none; the rule set
	 * that gave the stored verdicts, compiled with the same secret),
	 * takes each candidate rule that is the same as the one that ran
	 * (rules_rule_same: every rule, for the candidate's own verdicts)
	 * as matched when the stored reply names it and missed when not,
	 * instead of evaluating it; the rest are evaluated. no_reuse:
	 * evaluate every rule.
	 */
	const struct ruleset *base;
	bool		no_reuse;
};

struct backtest;

/*
 * Replay the referrals in st against rs. Returns the results (free with
 * backtest_free()), or NULL and *cause (caller frees) on a store error.
 */
struct backtest	*backtest_run(struct store *st, const struct ruleset *rs,
		     const struct backtest_opts *opts, char **cause);
/* The report: aligned text, or one JSON object (a line). */
void		 backtest_print(const struct backtest *bt, FILE *out,
		     bool json);
/*
 * Figures for callers and tests: referrals replayed, and those whose
 * candidate action differs from the stored one.
 */
uint64_t	 backtest_replayed(const struct backtest *bt);
uint64_t	 backtest_changed(const struct backtest *bt);
void		 backtest_free(struct backtest *bt);

#endif
