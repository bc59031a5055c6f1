/*
 * store_view.c: views of a write transaction for evaluation in other
 * threads (store.h, store_view_*).
 *
 * A read transaction sees the store as of the last commit; the writer's
 * open transaction has, beyond it, the run's events (in LMDB, which only
 * the write transaction sees), their index entries and links (in the
 * recent tier, which every transaction of the store reads), and the
 * changes those links made to older ones. A view gives a read
 * transaction the first (the run's event records, kept here) and undoes
 * the last as of each query's max_seq (the tier's change log, read
 * here): a link that an event after max_seq added is not there yet, one
 * it changed is as it was before. Index entries need nothing: every
 * query already skips those past max_seq.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "memtier.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* One change the run made to a link of the tier. */
struct view_link {
	const struct memtier_acct	*a;
	uint32_t			 i;	/* the link's index in a */
	bool				 added;	/* else old is its state before */
	uint64_t			 seq;	/* the event that made it */
	size_t				 pos;	/* its place in the change log */
	struct store_link		 old;
};

struct store_view {
	struct store		*st;
	uint64_t		 first_seq, last_seq;	/* the run's events */
	uint8_t			*recs;	/* their records, one after another */
	size_t			 reclen, reccap;
	size_t			*off;	/* record k at off[k], to off[k + 1] */
	size_t			 noff, offcap;
	size_t			 undo_pos;	/* tier changes read so far */
	struct view_link	*ln;
	size_t			 nln, lncap;
	bool			 sealed;
};

struct store_view *
store_view_new(struct store_txn *t)
{
	struct store_view	*v;

	/* A range flushed in this transaction has left the tier. */
	if (!t->db.write || t->nfl > 0 || t->db.ret != 0)
		return (NULL);
	v = xcalloc(1, sizeof(*v));
	v->st = t->st;
	v->first_seq = t->next_seq + 1;
	v->last_seq = t->next_seq;
	v->undo_pos = memtier_undo_mark(t->st->mt);
	v->off = xreallocarray(NULL, 16, sizeof(*v->off));
	v->offcap = 16;
	v->off[0] = 0;
	v->noff = 1;
	return (v);
}

int
store_view_add(struct store_view *v, const struct rg_event *ev)
{
	const struct memtier	*mt = v->st->mt;
	struct view_link	*l;
	size_t			 mark = memtier_undo_mark(mt), len;

	if (ev->seq != v->last_seq + 1)
		return (-1);
	v->sealed = false;
	if (v->reccap - v->reclen < EVENT_REC_MAX) {
		v->reccap = v->reccap * 2 + EVENT_REC_MAX;
		v->recs = xreallocarray(v->recs, v->reccap, 1);
	}
	len = rgev_encode(ev, v->recs + v->reclen);
	v->reclen += len;
	if (v->noff == v->offcap) {
		v->offcap *= 2;
		v->off = xreallocarray(v->off, v->offcap, sizeof(*v->off));
	}
	v->off[v->noff++] = v->reclen;
	v->last_seq = ev->seq;
	for (; v->undo_pos < mark; v->undo_pos++) {
		if (v->nln == v->lncap) {
			v->lncap = v->lncap ? v->lncap * 2 : 64;
			v->ln = xreallocarray(v->ln, v->lncap, sizeof(*v->ln));
		}
		l = &v->ln[v->nln];
		if (memtier_undo_link(mt, v->undo_pos, &l->a, &l->i, &l->added,
		    &l->old) != 0)
			continue;
		l->seq = ev->seq;
		l->pos = v->undo_pos;
		v->nln++;
	}
	return (0);
}

static int
view_link_cmp(const void *x, const void *y)
{
	const struct view_link	*a = x, *b = y;

	if (a->a != b->a)
		return ((uintptr_t)a->a < (uintptr_t)b->a ? -1 : 1);
	if (a->i != b->i)
		return (a->i < b->i ? -1 : 1);
	return (a->pos < b->pos ? -1 : a->pos > b->pos);
}

void
store_view_seal(struct store_view *v)
{
	/* Each link's changes in the order they were made. */
	qsort(v->ln, v->nln, sizeof(*v->ln), view_link_cmp);
	v->sealed = true;
}

void
store_view_free(struct store_view *v)
{
	if (v == NULL)
		return;
	free(v->recs);
	free(v->off);
	free(v->ln);
	free(v);
}

struct store_txn *
store_begin_view(struct store *st, const struct store_view *v, char **cause)
{
	struct store_txn	*t;

	if (!v->sealed || v->st != st) {
		xasprintf(cause, "begin transaction: a view not sealed, or "
		    "of another store");
		return (NULL);
	}
	if ((t = store_begin(st, false, cause)) == NULL)
		return (NULL);
	t->view = v;
	t->next_seq = v->last_seq;
	return (t);
}

int
store_view_event(const struct store_view *v, uint64_t seq,
    const uint8_t **rec, size_t *len)
{
	size_t	k;

	if (v == NULL || seq < v->first_seq || seq > v->last_seq)
		return (1);
	k = (size_t)(seq - v->first_seq);
	*rec = v->recs + v->off[k];
	*len = v->off[k + 1] - v->off[k];
	return (0);
}

int
store_view_link(const struct store_view *v, const struct memtier_acct *a,
    uint32_t i, uint64_t max_seq, const struct store_link **l)
{
	const struct view_link	*ln;
	size_t			 lo = 0, hi, mid;

	*l = &a->l[i];
	if (v == NULL || max_seq == 0 || v->nln == 0 || max_seq >= v->last_seq)
		return (0);
	/* The first change of (a, i) by an event after max_seq. */
	hi = v->nln;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		ln = &v->ln[mid];
		if ((uintptr_t)ln->a < (uintptr_t)a || (ln->a == a &&
		    (ln->i < i || (ln->i == i && ln->seq <= max_seq))))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == v->nln || v->ln[lo].a != a || v->ln[lo].i != i)
		return (0);
	ln = &v->ln[lo];
	if (ln->added)
		return (1);
	*l = &ln->old;
	return (0);
}
