/*
 * store_aux.h: the analyst's databases beside the store's own (store.h):
 * feedback, labels, runtime lists and their audit log.
 *
 * Same environment, same transactions (store_begin()), same first-error
 * contract as store.h. Added after schema 1 as named databases: a store
 * written by an older refguard opens and gets them on its first
 * read-write open; opened read-only before that it simply has none (every
 * lookup finds nothing).
 *
 *   feedback  id(8)                                  -> feedback record (JSON text)
 *   labels    kind(1) hash(16) label(1)              -> seq(8) ts(8) feedback(8)
 *   lists     'E' list 0 entry(16)                   -> entry record
 *             'M' list 0 kind(1) member(16) entry(16) -> expires(8) seq(8)
 *             'R' list 0 entry(16) kind(1) member(16) -> ""
 *             'X' expires(8) list 0 entry(16)        -> ""
 *   listlog   id(8)                                  -> log record (JSON text)
 *   queue     'I' item(8)                            -> queue item (rec.h)
 *             'N' state(1)                           -> items in that state(8)
 *             'T' state(1) created(8) item(8)        -> ""
 *             'S' state(1) score(4) item(8)          -> ""
 *   queuelog  item(8) n(4)                           -> audit record (JSON text)
 *
 * Values are never raw: an entry, a member and a labelled identity are
 * the keyed hashes identities get (ident.h). A list entry is one value
 * (or CIDR) added by list.add; its members are the hashes a lookup finds
 * it by (one for a plain value, the addresses or prefixes of a CIDR).
 *
 * Seqs: a label or entry records the seq the next event was to get when
 * it was written; it counts for an event with seq >= that one, so a
 * backtest as of an older event does not see it (max_seq, as store.h).
 */
#ifndef REFGUARD_STORE_AUX_H
#define REFGUARD_STORE_AUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgev.h"

struct store_txn;

/* Labels (feedback). Values are written to disk: append only. */
enum rg_label {
	LABEL_FRAUD = 1,
	LABEL_LEGIT = 2,
	LABEL_CHARGEBACK = 3,
	LABEL_ABUSE = 4,
	LABEL__MAX
};
const char	*store_label_name(int label);		/* NULL: unknown */
int		 store_label_from_name(const char *s);	/* -1: unknown */

struct store_label {
	uint64_t	seq;		/* counts for events with seq >= this */
	int64_t		ts;		/* when it was given, ms */
	uint64_t	feedback;	/* the feedback record that gave it */
};
/*
 * Give identity (kind, h) the label; an identity keeps the first time it
 * got a label. 0 added, 1 it had it already, -1 error.
 */
int	store_label_put(struct store_txn *txn, enum ent_kind kind,
	    const struct rg_hash *h, int label, const struct store_label *l);
/* 0 it carries the label as of max_seq (0: now), 1 not, -1 error. */
int	store_label_get(struct store_txn *txn, enum ent_kind kind,
	    const struct rg_hash *h, int label, uint64_t max_seq,
	    struct store_label *out);

/*
 * The identities a label sticks to, and is looked for on: account,
 * device, device.fuzzy, device.id, payment, email, phone, ip.
 */
extern const uint8_t	store_label_kinds[];
extern const size_t	store_label_nkinds;
/*
 * Does party p (its account or one of those identities) carry one of the
 * labels (bits 1 << label) as of max_seq? 0 yes (*kind, *label and *l
 * say which, the first found), 1 no, -1 error.
 */
int	store_label_party(struct store_txn *txn, const struct party *p,
	    unsigned labels, uint64_t max_seq, uint8_t *kind, int *label,
	    struct store_label *l);

/* Feedback records (JSON text, formatted by the caller). */
/* Store rec under the next id (*id); 0 or -1. */
int	store_feedback_put(struct store_txn *txn, const char *rec, size_t len,
	    uint64_t *id);
/* 0 found (*rec valid until the transaction ends), 1 not, -1 error. */
int	store_feedback_get(struct store_txn *txn, uint64_t id,
	    const void **rec, size_t *len);
/*
 * Every feedback record, newest first (store_rec_cb, below: returns 0 to
 * go on, 1 to stop). 0 or -1.
 */
typedef int (*store_rec_cb)(void *arg, uint64_t id, const char *rec,
    size_t len);
int	store_feedback_scan(struct store_txn *txn, store_rec_cb cb, void *arg);

/* Runtime lists. */
#define LIST_NAME_MAX		64
#define LIST_BY_MAX		64
#define LIST_REASON_MAX		256
#define LIST_MEMBERS_MAX	65536	/* a CIDR's addresses or prefixes */
/* List kinds: an identity kind (enum ent_kind), or one of these. */
#define LIST_KIND_STRING	32	/* domains, countries: any string fact */
#define LIST_KIND_NUMBER	33	/* ASNs: any number fact */
#define LIST_NO_CIDR		0xff

struct store_list_member {
	uint8_t		kind;		/* ENT_IP_PREFIX members of an ip CIDR */
	struct rg_hash	h;
};

struct store_list_entry {
	struct rg_hash	h;		/* the value's (or the CIDR's) hash */
	uint8_t		kind;		/* the list kind it was added as */
	uint8_t		cidr;		/* prefix length, or LIST_NO_CIDR */
	int64_t		added;		/* ms */
	uint64_t	seq;		/* counts for events with seq >= this */
	int64_t		expires;	/* ms; 0: never */
	uint32_t	nmembers;
	char		by[LIST_BY_MAX + 1];
	char		reason[LIST_REASON_MAX + 1];
};

/*
 * Add entry e with its members to list (replacing an entry with the same
 * hash, members and all). 0 added, 1 replaced, -1 error.
 */
int	store_list_put(struct store_txn *txn, const char *list,
	    const struct store_list_entry *e,
	    const struct store_list_member *m, size_t nm);
/* Remove the entry with hash h; *old (if not NULL) gets it. 0, 1 none, -1. */
int	store_list_del(struct store_txn *txn, const char *list,
	    const struct rg_hash *h, struct store_list_entry *old);
/* The entry with hash h (expired or not). 0 found, 1 not, -1 error. */
int	store_list_get(struct store_txn *txn, const char *list,
	    const struct rg_hash *h, struct store_list_entry *out);
/*
 * Is member (kind, h) in list, by an entry that had been added as of
 * max_seq (0: now) and that had not expired at time at (ms)? 0 yes (and
 * *entry, when not NULL, the entry's hash), 1 no, -1 error.
 */
int	store_list_match(struct store_txn *txn, const char *list,
	    uint8_t kind, const struct rg_hash *h, int64_t at,
	    uint64_t max_seq, struct rg_hash *entry);
/*
 * Remove up to max entries that expired before now; cb (may be NULL) is
 * called with each before it goes. Returns how many, or -1.
 */
typedef void (*store_list_cb)(void *arg, const char *list,
    const struct store_list_entry *e);
int64_t	store_list_expire(struct store_txn *txn, int64_t now, size_t max,
	    store_list_cb cb, void *arg);

/* The list audit log: records (JSON text) in the order written. */
int	store_listlog_put(struct store_txn *txn, const char *rec, size_t len);
/* Newest first; cb returns 0 to go on, 1 to stop. 0 or -1. */
int	store_listlog_scan(struct store_txn *txn, store_rec_cb cb, void *arg);

/*
 * The review queue: referrals a person should look at. An item is keyed
 * by its referral's event seq (one item per referral), and indexed by
 * (state, created, item) and (state, score, item) so that a listing
 * walks one state newest or highest first and resumes after a position
 * (a stable cursor: items added meanwhile never shift a page already
 * read). The queue databases came after the other analyst ones: a store
 * opened read-only before they exist has an empty queue.
 */
enum store_queue_state {
	QUEUE_OPEN = 0,
	QUEUE_CLAIMED = 1,
	QUEUE_DECIDED = 2,
	QUEUE__NSTATES
};
enum store_queue_decision {
	QUEUE_UNDECIDED = 0,
	QUEUE_APPROVE = 1,	/* legit: pay the reward */
	QUEUE_VOID = 2,		/* fraud: void the reward */
};
enum store_queue_origin {
	QUEUE_FROM_CHECK = 0,
	QUEUE_FROM_RECHECK = 1,	/* a recheck raised the action */
};
#define QUEUE_REASONS		3
#define QUEUE_REASON_MAX	63
#define QUEUE_CAMPAIGN_MAX	RG_CAMPAIGN_MAX
/* No longer than LIST_BY_MAX. */
#define QUEUE_BY_MAX		LIST_BY_MAX

struct store_queue_item {
	uint64_t	item;		/* the referral's event seq */
	char		id[RG_ID_MAX + 1];	/* the referral id */
	uint8_t		state;		/* enum store_queue_state */
	uint8_t		action;		/* enum rg_action (rules.h) */
	int32_t		score;
	int64_t		created;	/* ms: when it entered the queue */
	uint8_t		origin;		/* enum store_queue_origin */
	uint8_t		prev_action;	/* QUEUE_FROM_RECHECK: the action before */
	char		campaign[QUEUE_CAMPAIGN_MAX + 1];
	bool		has_reward;
	double		reward_amount;
	char		reward_currency[4];
	uint8_t		nreasons;	/* the top enforcing rules, by score */
	char		reasons[QUEUE_REASONS][QUEUE_REASON_MAX + 1];
	char		assignee[QUEUE_BY_MAX + 1];	/* "" when none */
	int64_t		claimed;	/* ms; 0 when not claimed */
	uint8_t		decision;	/* enum store_queue_decision */
	char		decided_by[QUEUE_BY_MAX + 1];
	int64_t		decided;	/* ms; 0 when not decided */
	uint64_t	feedback;	/* the feedback record of the decision */
};

const char	*store_queue_state_name(int state);	/* "?" unknown */
int		 store_queue_state_from_name(const char *s);	/* -1 */
const char	*store_queue_decision_name(int decision);
int		 store_queue_decision_from_name(const char *s);

/*
 * Store it. old NULL: a new item (one stored under it->item already is
 * an error: MDB_KEYEXIST); else the item as stored now (store_queue_get()),
 * which it replaces: its index entries move when the state, the created
 * time or the score changed, and only the record is written when none
 * did. 0 or -1.
 */
int	store_queue_put(struct store_txn *txn, const struct store_queue_item *it,
	    const struct store_queue_item *old);
/*
 * Delete the item and its audit log (retention deletes it with its
 * verdict). 0 (also when there was none) or -1.
 */
int	store_queue_del(struct store_txn *txn, uint64_t item);
/* 0 found, 1 not, -1 error (a malformed record is an error). */
int	store_queue_get(struct store_txn *txn, uint64_t item,
	    struct store_queue_item *out);

/*
 * Where a listing stands: the last item it returned, by the sort's key
 * (created ms, or score).
 */
struct store_queue_pos {
	int64_t		key;
	uint64_t	item;
};
/*
 * Walk the items in state, newest first (by_score false: by created,
 * then item) or highest score first (then newest item), strictly after
 * *after (NULL: from the start). from/to bound the key (created or
 * score), inclusive. cb gets each item: 0 go on, 1 stop. Returns 0 or -1.
 */
typedef int (*store_queue_cb)(void *arg, const struct store_queue_item *it);
int	store_queue_scan(struct store_txn *txn, int state, bool by_score,
	    const struct store_queue_pos *after, int64_t from, int64_t to,
	    store_queue_cb cb, void *arg);

/*
 * The queue's audit log: each item's records (JSON text, formatted by the
 * caller) in the order written. put: 0 or -1. scan: oldest first, cb's
 * id is the record's number within the item (from 1); 0 or -1.
 */
int	store_queuelog_put(struct store_txn *txn, uint64_t item,
	    const char *rec, size_t len);
int	store_queuelog_scan(struct store_txn *txn, uint64_t item,
	    store_rec_cb cb, void *arg);

/* The seq the next event will get: what a label or entry records. */
uint64_t store_aux_next_seq(struct store_txn *txn);


/*
 * The hash a string or number list value gets (lower-cased first): keyed
 * by a seed derived from the installation's secret, so that the rules
 * (which see the event's readable facts) and list.add find the same one.
 */
void	store_list_strhash(uint64_t seed, uint8_t kind, const char *s,
	    size_t len, struct rg_hash *out);

/*
 * For export (export_aux.h): every record in key order, in one read
 * transaction. cb returns 0 to go on, 1 to stop, -1 to fail (the scan
 * returns -1). A malformed label or list entry fails the scan (EINVAL),
 * never skipped. Returns 0 or -1.
 */
/* Feedback and the list log, oldest first (by id). */
int	store_feedback_scan_up(struct store_txn *txn, store_rec_cb cb,
	    void *arg);
int	store_listlog_scan_up(struct store_txn *txn, store_rec_cb cb,
	    void *arg);
/* Every (identity, label). */
typedef int (*store_label_cb)(void *arg, uint8_t kind,
    const struct rg_hash *h, int label, const struct store_label *l);
int	store_label_scan(struct store_txn *txn, store_label_cb cb, void *arg);
/* Every list entry, by list then hash, with its members (valid in cb). */
typedef int (*store_list_scan_cb)(void *arg, const char *list,
    const struct store_list_entry *e, const struct store_list_member *m,
    size_t nm);
int	store_list_scan(struct store_txn *txn, store_list_scan_cb cb,
	    void *arg);

#endif
