/*
 * dataset.h: the data sets a daemon serves with (GeoIP databases, the
 * disposable list, the time zones, the rule set's list files), read from their JSON
 * description, for stats, /metrics, the log and refguardctl.
 *
 * The description is an ident_info() object (ident.h) with a "lists"
 * array of rules_lists_info() (rules.h) added; dataset_dates() adds to
 * each set "built" (RFC 3339 UTC, whole seconds: a database's
 * build_epoch, a list file's modification time) and "age_s" (seconds
 * from then to now). Nothing here owns the JSON: json_t * is passed as
 * void * so that this header does not pull in jansson.
 */
#ifndef REFGUARD_DATASET_H
#define REFGUARD_DATASET_H

#include <stdint.h>

struct dataset {
	const char	*kind;		/* "geoip", "disposable", "zones",
					   "list" */
	char		 name[64];	/* geoip: its facts ("country", "asn",
					   "country+asn"); "disposable"; a
					   list's name */
	const char	*path;		/* NULL if the description has none */
	int64_t		 entries;	/* -1 for a database */
	int64_t		 bytes;
	int64_t		 epoch;		/* built or modified, Unix s; -1: unknown */
	const char	*built;		/* "built" if dataset_dates() ran, or NULL */
	int64_t		 age_s;		/* "age_s" (-1: none) */
	int64_t		 stale;		/* "stale": 1, 0; -1 when not known */
	void		*obj;		/* the set's own JSON object */
};

/* Call cb for each set of data: the databases, the list, the list files. */
void	 dataset_foreach(void *data,
	    void (*cb)(const struct dataset *, void *), void *arg);

/* Add "built" and "age_s" (as of now, Unix seconds) to each set. */
void	 dataset_dates(void *data, int64_t now);

/*
 * After dataset_dates(): mark each set "stale": true when max_age_s > 0
 * and it is older than that (false otherwise), and add "updater", the
 * last success of refguard-update-data(8) from the modification time of
 * the stamp file it renames into place after each good run:
 *	{"stamp_file": PATH, "last_success": RFC 3339 or null,
 *	 "last_success_epoch": Unix s, "age_s": s, "stale": bool}
 * (no epoch and age, and not stale, while the file does not exist: the
 * updater may not be in use; no "updater" at all when stamp is NULL). Returns how many sets, the updater included, are
 * stale; *names (caller frees) lists them ("asn, disposable") when not
 * NULL and there is any, else NULL.
 */
int	 dataset_freshness(void *data, const char *stamp, int64_t max_age_s,
	    int64_t now, char **names);

/*
 * One line for the log (malloc'd): "country GeoLite2-Country.mmdb (5.3
 * MiB, built 2026-11-24, 8d old); disposable disposable.txt (170596
 * entries, 2.5 MiB, modified 2026-12-02, 3h old); list hosting_asn ...",
 * or "none". Ages need dataset_dates() first.
 */
char	*dataset_summary(void *data);

#endif
