/* rules.c: placeholder until the rules engine lands: no rule set loads. */
#include "config.h"

#include <stdlib.h>

#include "rules.h"
#include "util.h"

const char *
rules_action_name(int action)
{
	switch (action) {
	case ACTION_ALLOW:
		return ("allow");
	case ACTION_REVIEW:
		return ("review");
	case ACTION_DENY:
		return ("deny");
	}
	return ("?");
}

struct ruleset *
rules_load(const char *path, struct ident *id, char **diag)
{
	*diag = xstrdup("rules engine not built yet");
	return (NULL);
}

struct ruleset *
rules_ref(struct ruleset *rs)
{
	return (rs);
}

void
rules_unref(struct ruleset *rs)
{
}

const char *
rules_hash(const struct ruleset *rs)
{
	return ("none");
}

size_t
rules_count(const struct ruleset *rs)
{
	return (0);
}

const char *
rules_rule_name(const struct ruleset *rs, uint32_t rule)
{
	return ("?");
}

const char *
rules_rule_msg(const struct ruleset *rs, uint32_t rule)
{
	return ("");
}

int
rules_eval(const struct ruleset *rs, const struct event *ev,
    struct store_txn *txn, int want_explain, struct rules_result *res)
{
	res->action = ACTION_ALLOW;
	res->score = 0;
	res->nhits = 0;
	res->explain = NULL;
	return (0);
}
