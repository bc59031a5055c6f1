/*
 * store_pair.c: pair keys (store.h: store_pairs_want, store_pair_from,
 * store_pair_key, store_pairs_list): an index entry under both
 * identities of a referral together, for each pair the loaded rules
 * count, so that counting a pair reads its own entries instead of one
 * key's every event.
 *
 * The pairs indexed are kept in meta "pairs", each with the first seq
 * it was indexed from: n x (party1(1) kind1(1) party2(1) kind2(1)
 * from_seq(8)). A pair is added by the write transaction of the first
 * check that needs it, never removed; the events before its from_seq
 * have no entry of it, so that retention deletes exactly what was put.
 * from_seq 1: every stored referral has its entry (the store held no
 * event when the pair was added, or retention has taken those before).
 */
#include "config.h"

#include <string.h>

#include <lmdb.h>
#include <xxhash.h>

#include "log.h"
#include "rec.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define PAIR_REC_LEN	12

static bool
pair_eq(const struct store_pair *a, const struct store_pair *b)
{
	return (a->party1 == b->party1 && a->kind1 == b->kind1 &&
	    a->party2 == b->party2 && a->kind2 == b->kind2);
}

static const struct store_pair_ix *
pair_find(const struct store *st, const struct store_pair *p)
{
	unsigned	i;

	for (i = 0; i < st->npairs; i++)
		if (pair_eq(&st->pairs[i].p, p))
			return (&st->pairs[i]);
	return (NULL);
}

bool
store_pair_valid(const struct store_pair *p)
{
	const uint8_t	party[2] = { p->party1, p->party2 };
	const uint8_t	kind[2] = { p->kind1, p->kind2 };
	int		i;

	for (i = 0; i < 2; i++) {
		if (party[i] == PARTY_EVENT) {
			if (kind[i] != ENT_CAMPAIGN)
				return (false);
		} else if ((party[i] != PARTY_REFERRER &&
		    party[i] != PARTY_REFEREE) || kind[i] < 1 ||
		    kind[i] >= ENT__MAX)
			return (false);
	}
	return (party[0] != party[1] || kind[0] != kind[1]);
}

/* meta "pairs" from st's list. */
static int
pairs_put(struct store_txn *t)
{
	struct store	*st = t->st;
	uint8_t		 buf[STORE_PAIRS_MAX * PAIR_REC_LEN], *p;
	unsigned	 i;

	for (i = 0, p = buf; i < st->npairs; i++, p += PAIR_REC_LEN) {
		p[0] = st->pairs[i].p.party1;
		p[1] = st->pairs[i].p.kind1;
		p[2] = st->pairs[i].p.party2;
		p[3] = st->pairs[i].p.kind2;
		be_put(p + 4, st->pairs[i].from, 8);
	}
	return (store_meta_put(t, "pairs", buf, st->npairs * PAIR_REC_LEN));
}

int
store_pairs_load(struct store *st, struct store_db_txn *x)
{
	MDB_val		 k = store_db_val("pairs", 5), v;
	const uint8_t	*p;
	size_t		 i, n;
	int		 rc;

	st->npairs = st->npairs_committed = 0;
	if ((rc = store_db_get(x, st->meta, &k, &v, "read pairs")) != 0)
		return (rc == 1 ? 0 : -1);
	n = v.mv_size / PAIR_REC_LEN;
	if (v.mv_size % PAIR_REC_LEN != 0 || n > STORE_PAIRS_MAX)
		goto bad;
	for (i = 0, p = v.mv_data; i < n; i++, p += PAIR_REC_LEN) {
		st->pairs[i].p.party1 = p[0];
		st->pairs[i].p.kind1 = p[1];
		st->pairs[i].p.party2 = p[2];
		st->pairs[i].p.kind2 = p[3];
		st->pairs[i].from = be_get(p + 4, 8);
		if (!store_pair_valid(&st->pairs[i].p) ||
		    st->pairs[i].from == 0)
			goto bad;
	}
	st->npairs = (unsigned)n;
	store_pairs_settle(st, true);
	return (0);
bad:
	return (store_db_failf(x, "meta pairs is corrupt (%zu bytes): not "
	    "a list of at most %d pairs of keys", v.mv_size, STORE_PAIRS_MAX));
}

void
store_pairs_settle(struct store *st, bool committed)
{
	if (committed) {
		memcpy(st->pairs_committed, st->pairs, sizeof(st->pairs));
		/* store_stat() reads the count from any thread. */
		__atomic_store_n(&st->npairs_committed, st->npairs,
		    __ATOMIC_RELAXED);
	} else {
		memcpy(st->pairs, st->pairs_committed, sizeof(st->pairs));
		st->npairs = st->npairs_committed;
	}
}

int
store_pairs_want(struct store_txn *t, const struct store_pair *want,
    size_t n)
{
	struct store	*st = t->st;
	size_t		 i, added = 0;

	for (i = 0; i < n; i++) {
		if (pair_find(st, &want[i]) != NULL)
			continue;
		if (!store_pair_valid(&want[i]))
			return (store_db_failf(&t->db, "pairs: not a pair of "
			    "keys a referral carries"));
		if (st->npairs == STORE_PAIRS_MAX) {
			/* Counted the slow way: exact, as before. */
			if (!st->pairs_full_said)
				log_warn("store: %d pairs of keys indexed "
				    "already: a count() of another pair "
				    "reads events", STORE_PAIRS_MAX);
			st->pairs_full_said = true;
			break;
		}
		st->pairs[st->npairs].p = want[i];
		/* No event before it: every one it will hold has entries. */
		st->pairs[st->npairs].from = store_db_entries(&t->db,
		    st->events) == 0 ? 1 : t->next_seq + 1;
		st->npairs++;
		added++;
	}
	return (added == 0 ? 0 : pairs_put(t));
}

int
store_pairs_kept(struct store_txn *t, uint64_t left)
{
	struct store	*st = t->st;
	unsigned	 i, moved = 0;

	for (i = 0; i < st->npairs; i++)
		if (st->pairs[i].from > 1 && (left == 0 ||
		    left >= st->pairs[i].from)) {
			st->pairs[i].from = 1;
			moved++;
		}
	return (moved == 0 ? 0 : pairs_put(t));
}

size_t
store_pairs_list(struct store *st, struct store_pair *out, uint64_t *from)
{
	unsigned	i;

	for (i = 0; i < st->npairs; i++) {
		out[i] = st->pairs[i].p;
		from[i] = st->pairs[i].from;
	}
	return (st->npairs);
}

void
store_pair_key(const struct store_pair *p, const struct rg_hash *h1,
    const struct rg_hash *h2, struct rg_hash *out)
{
	uint8_t		b[4 + 2 * RG_HASH_LEN];
	XXH128_hash_t	x;

	b[0] = p->party1;
	b[1] = p->kind1;
	b[2] = p->party2;
	b[3] = p->kind2;
	memcpy(b + 4, h1->b, RG_HASH_LEN);
	memcpy(b + 4 + RG_HASH_LEN, h2->b, RG_HASH_LEN);
	/* Seeded by the kind, as ident.c separates kinds. */
	x = XXH3_128bits_withSeed(b, sizeof(b), STORE_KIND_PAIR);
	XXH128_canonicalFromHash((XXH128_canonical_t *)out->b, x);
}

size_t
store_pair_ents(const struct store *st, const struct rg_event *ev,
    struct store_ent *out, struct rg_hash *keys)
{
	struct rg_hash	h1, h2;
	size_t		n = 0;
	unsigned	i;

	if (ev->type != EV_REFERRAL)
		return (0);
	for (i = 0; i < st->npairs; i++) {
		const struct store_pair_ix *px = &st->pairs[i];

		if (ev->seq < px->from ||
		    !rgev_key(ev, px->p.party1, px->p.kind1, &h1) ||
		    !rgev_key(ev, px->p.party2, px->p.kind2, &h2))
			continue;
		store_pair_key(&px->p, &h1, &h2, &keys[n]);
		out[n].kind = STORE_KIND_PAIR;
		out[n].roles = ROLE_EVENT;
		out[n].h = &keys[n];
		n++;
	}
	return (n);
}

uint64_t
store_pair_from(struct store_txn *t, const struct store_pair *p)
{
	const struct store_pair_ix	*px;

	if ((px = pair_find(t->st, p)) == NULL)
		return (0);
	return (px->from);
}
