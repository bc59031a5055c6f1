/*
 * rules.h: the rule language: compile rule files into a rule set, evaluate
 * it against an event and the store's history.
 *
 * A ruleset is immutable once compiled and reference counted: the event
 * loop swaps in a new one on reload while the writer thread may still be
 * evaluating with the old one; each holds a reference for as long as it
 * uses it.
 */
#ifndef REFGUARD_RULES_H
#define REFGUARD_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct ident;
struct store_txn;

enum rg_action {
	ACTION_ALLOW = 0,
	ACTION_REVIEW = 1,
	ACTION_DENY = 2,
};
const char	*rules_action_name(int action);

#define RULES_MAX_HITS	64

struct rules_hit {
	uint32_t	rule;		/* index, for rules_rule_name() */
	uint8_t		action;		/* enum rg_action */
	uint8_t		shadow;		/* 1: shadow rule, never changes the outcome */
	int32_t		score;
};

struct rules_result {
	uint8_t		action;		/* the outcome */
	int32_t		score;		/* sum over matched enforcing rules */
	size_t		nhits;
	struct rules_hit hits[RULES_MAX_HITS];
	/* Facts the rules saw, as a JSON array text, for explain (see rules_eval). */
	char		*explain;	/* malloc'd, caller frees; NULL when not asked */
};

struct ruleset;

/*
 * Compile the rule files at path (a file, or a directory whose *.rules
 * files form one set). On any error return NULL and set *diag (caller
 * frees) to every diagnostic, one "file:line:col: message" a line.
 * Warnings are appended to *diag also on success (NULL when none).
 */
struct ruleset	*rules_load(const char *path, struct ident *id, char **diag);
struct ruleset	*rules_ref(struct ruleset *rs);
void		 rules_unref(struct ruleset *rs);

/* Hex hash of the rule set's canonical text: names what produced a verdict. */
const char	*rules_hash(const struct ruleset *rs);
size_t		 rules_count(const struct ruleset *rs);
const char	*rules_rule_name(const struct ruleset *rs, uint32_t rule);
const char	*rules_rule_msg(const struct ruleset *rs, uint32_t rule);

/*
 * Evaluate rs against ev, which is already in the store (ev->seq set):
 * history functions see txn's view up to ev->seq. Fills *res. When
 * want_explain, res->explain gets the facts each rule saw. Returns 0, or
 * -1 on a store error (store_txn_err(txn) says which).
 */
int		 rules_eval(const struct ruleset *rs, const struct event *ev,
		     struct store_txn *txn, int want_explain,
		     struct rules_result *res);

#endif
