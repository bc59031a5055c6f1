/*
 * memtier.c: the recent tier of the index and links; see memtier.h. Its
 * tables are memtier_table.c's (memtier_int.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "memtier.h"
#include "memtier_int.h"
#include "util.h"

enum undo_kind {
	U_IDX,		/* an entry appended to ident */
	U_LINK_NEW,	/* a link appended to acct */
	U_LINK_SET,	/* acct->l[i] replaced; old value kept */
	U_FLUSHED,	/* range r marked flushed */
};

struct undo {
	enum undo_kind	 kind;
	void		*p;		/* memtier_ident * or memtier_acct * */
	uint32_t	 i;		/* link index, or range */
	struct store_link	 old;
};

/* Two hashes equal? (16 bytes, as two words) */
static inline bool
hash_eq(const struct rg_hash *a, const struct rg_hash *b)
{
	uint64_t	x[2], y[2];

	memcpy(x, a->b, sizeof(x));
	memcpy(y, b->b, sizeof(y));
	return (((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0);
}

/* A hash's bits for the table: bytes 1..8 (byte 0 picks the range). */
static uint64_t
mix_of(const struct rg_hash *h, uint8_t kind)
{
	uint64_t	v;

	memcpy(&v, h->b + 1, sizeof(v));
	v ^= (uint64_t)kind * 0x9e3779b97f4a7c15ULL;
	return (v ^ (v >> 29));
}

struct memtier *
memtier_new(void)
{
	return (xcalloc(1, sizeof(struct memtier)));
}

/* k of 2^k. */
static unsigned
log2_of(uint32_t v)
{
	return (31 - (unsigned)__builtin_clz(v));
}

void
memtier_free(struct memtier *mt)
{
	unsigned	r;

	if (mt == NULL)
		return;
	for (r = 0; r < MT_RANGES; r++) {
		memtier_table_free(mt, &mt->idx[r]);
		memtier_table_free(mt, &mt->acc[r]);
		memtier_table_free(mt, &mt->idx_det[r]);
		memtier_table_free(mt, &mt->acc_det[r]);
	}
	free(mt->undo);
	free(mt->sorted);
	free(mt);
}

static void
undo_push(struct memtier *mt, enum undo_kind kind, void *p, uint32_t i,
    const struct store_link *old)
{
	struct undo	*u;

	if (mt->nundo == mt->undocap) {
		mt->undocap = mt->undocap ? mt->undocap * 2 : 1024;
		mt->undo = xreallocarray(mt->undo, mt->undocap,
		    sizeof(*mt->undo));
	}
	u = &mt->undo[mt->nundo++];
	u->kind = kind;
	u->p = p;
	u->i = i;
	if (old != NULL)
		u->old = *old;
}

static struct memtier_ident *
ident_find(const struct memtier *mt, uint8_t kind, const struct rg_hash *h)
{
	const struct memtier_table	*t = &mt->idx[MT_RANGE(h)];
	struct memtier_ident		*id;
	uint64_t			 mix = mix_of(h, kind);
	size_t				 i;

	if (t->ns == 0)
		return (NULL);
	for (i = memtier_home(t, mix); (id = t->s[i].p) != NULL;
	    i = (i + 1) & (t->ns - 1))
		if (t->s[i].mix == mix && id->kind == kind &&
		    hash_eq(&id->h, h))
			return (id);
	return (NULL);
}

const struct memtier_ident *
memtier_index_get(const struct memtier *mt, uint8_t kind, const struct rg_hash *h)
{
	return (ident_find(mt, kind, h));
}

/* An answer is its value in the low 2 bits, mt->aborts above them. */
enum memtier_disk
memtier_ident_disk(const struct memtier *mt, const struct memtier_ident *id)
{
	uint32_t	v = __atomic_load_n(&id->disk, __ATOMIC_RELAXED);

	if (v >> 2 != (__atomic_load_n(&mt->aborts, __ATOMIC_RELAXED) &
	    (UINT32_MAX >> 2)))
		return (MT_DISK_UNKNOWN);
	return ((enum memtier_disk)(v & 3));
}

void
memtier_ident_set_disk(const struct memtier *mt,
    const struct memtier_ident *id, enum memtier_disk d)
{
	uint32_t	gen = __atomic_load_n(&mt->aborts, __ATOMIC_RELAXED);

	/* A cache beside the entries: the tier's idents are never const. */
	__atomic_store_n(&((struct memtier_ident *)id)->disk,
	    gen << 2 | (uint32_t)d, __ATOMIC_RELAXED);
}

void
memtier_index_add(struct memtier *mt, uint8_t kind, const struct rg_hash *h,
    int64_t ts, uint64_t seq, uint8_t type, uint8_t roles)
{
	struct memtier_table	*t = &mt->idx[MT_RANGE(h)];
	struct memtier_ident	*id;
	struct memtier_ent	*e;

	if ((id = ident_find(mt, kind, h)) == NULL) {
		id = memtier_table_item(mt, t, sizeof(*id));
		id->kind = kind;
		id->h = *h;
		id->e = &id->first;
		id->cap = 1;
		memtier_table_add(mt, t, mix_of(h, kind), id);
	}
	if (id->n == id->cap) {
		id->cap *= 2;
		id->e = memtier_table_array(mt, t, id->e, log2_of(id->cap),
		    id->n, sizeof(*id->e));
	}
	e = &id->e[id->n++];
	e->ts = ts;
	e->seq = seq;
	e->type = type;
	e->roles = roles;
	mt->range_entries[MT_RANGE(h)]++;
	__atomic_fetch_add(&mt->nentries, 1, __ATOMIC_RELAXED);
	undo_push(mt, U_IDX, id, 0, NULL);
}

static struct memtier_acct *
acct_find(const struct memtier *mt, const struct rg_hash *acct)
{
	const struct memtier_table	*t = &mt->acc[MT_RANGE(acct)];
	struct memtier_acct		*a;
	uint64_t			 mix = mix_of(acct, 0);
	size_t				 i;

	if (t->ns == 0)
		return (NULL);
	for (i = memtier_home(t, mix); (a = t->s[i].p) != NULL;
	    i = (i + 1) & (t->ns - 1))
		if (t->s[i].mix == mix && hash_eq(&a->account, acct))
			return (a);
	return (NULL);
}

const struct memtier_acct *
memtier_acct_get(const struct memtier *mt, const struct rg_hash *acct)
{
	return (acct_find(mt, acct));
}

static int
link_find(const struct memtier_acct *a, uint8_t kind, const struct rg_hash *h)
{
	uint32_t	i;

	for (i = 0; i < a->n; i++)
		if (a->l[i].kind == kind && hash_eq(&a->l[i].h, h))
			return ((int)i);
	return (-1);
}

const struct store_link *
memtier_link_get(const struct memtier *mt, const struct rg_hash *acct, uint8_t kind,
    const struct rg_hash *h)
{
	const struct memtier_acct	*a;
	int			 i;

	if ((a = acct_find(mt, acct)) == NULL ||
	    (i = link_find(a, kind, h)) < 0)
		return (NULL);
	return (&a->l[i]);
}

void
memtier_link_set(struct memtier *mt, const struct rg_hash *acct, const struct store_link *l)
{
	struct memtier_table	*t = &mt->acc[MT_RANGE(acct)];
	struct memtier_acct	*a;
	int		 i;

	if ((a = acct_find(mt, acct)) == NULL) {
		a = memtier_table_item(mt, t, sizeof(*a));
		a->account = *acct;
		memtier_table_add(mt, t, mix_of(acct, 0), a);
	}
	if ((i = link_find(a, l->kind, &l->h)) >= 0) {
		undo_push(mt, U_LINK_SET, a, (uint32_t)i, &a->l[i]);
		a->l[i] = *l;
		return;
	}
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 4;
		a->l = memtier_table_array(mt, t, a->l, log2_of(a->cap), a->n,
		    sizeof(*a->l));
	}
	a->l[a->n++] = *l;
	__atomic_fetch_add(&mt->nlinks, 1, __ATOMIC_RELAXED);
	undo_push(mt, U_LINK_NEW, a, a->n - 1, NULL);
}

static int
ident_cmp(const void *a, const void *b)
{
	const struct memtier_ident	*x = *(struct memtier_ident * const *)a;
	const struct memtier_ident	*y = *(struct memtier_ident * const *)b;

	if (x->kind != y->kind)
		return (x->kind < y->kind ? -1 : 1);
	return (memcmp(x->h.b, y->h.b, RG_HASH_LEN));
}

static int
acct_cmp(const void *a, const void *b)
{
	const struct memtier_acct	*x = *(struct memtier_acct * const *)a;
	const struct memtier_acct	*y = *(struct memtier_acct * const *)b;

	return (memcmp(x->account.b, y->account.b, RG_HASH_LEN));
}

/* The table's items into mt->sorted from position off; their count. */
static size_t
table_list(struct memtier *mt, const struct memtier_table *t, size_t off)
{
	size_t	 i, n = 0;

	if (off + t->n > mt->sortedcap) {
		mt->sortedcap = (off + t->n) * 2;
		mt->sorted = xreallocarray(mt->sorted, mt->sortedcap,
		    sizeof(*mt->sorted));
	}
	for (i = 0; i < t->ns; i++)
		if (t->s[i].p != NULL)
			mt->sorted[off + n++] = t->s[i].p;
	return (n);
}

void
memtier_range(struct memtier *mt, unsigned r, struct memtier_ident ***idents,
    size_t *nidents, struct memtier_acct ***accts, size_t *naccts)
{
	size_t	ni, na;

	ni = table_list(mt, &mt->idx[r], 0);
	na = table_list(mt, &mt->acc[r], ni);
	if (ni > 1)
		qsort(mt->sorted, ni, sizeof(*mt->sorted), ident_cmp);
	if (na > 1)
		qsort(mt->sorted + ni, na, sizeof(*mt->sorted), acct_cmp);
	*idents = (struct memtier_ident **)mt->sorted;
	*nidents = ni;
	/* Nothing listed yet: no array to point into. */
	*accts = mt->sorted != NULL ? (struct memtier_acct **)(mt->sorted + ni) :
	    NULL;
	*naccts = na;
}

bool
memtier_range_flushed(struct memtier *mt, unsigned r)
{
	struct memtier_table	*t;
	size_t		 i;
	struct memtier_acct	*a;
	uint64_t	 links = 0;

	if (mt->flushed[r])
		return (false);
	t = &mt->acc[r];
	for (i = 0; i < t->ns; i++)
		if ((a = t->s[i].p) != NULL)
			links += a->n;
	mt->idx_det[r] = mt->idx[r];
	mt->acc_det[r] = mt->acc[r];
	memset(&mt->idx[r], 0, sizeof(mt->idx[r]));
	memset(&mt->acc[r], 0, sizeof(mt->acc[r]));
	mt->det_entries[r] = mt->range_entries[r];
	mt->det_links[r] = links;
	mt->range_entries[r] = 0;
	__atomic_fetch_sub(&mt->nentries, mt->det_entries[r], __ATOMIC_RELAXED);
	__atomic_fetch_sub(&mt->nlinks, links, __ATOMIC_RELAXED);
	mt->flushed[r] = true;
	undo_push(mt, U_FLUSHED, NULL, r, NULL);
	return (true);
}

void
memtier_commit(struct memtier *mt)
{
	size_t		i;
	unsigned	r;

	for (i = 0; i < mt->nundo; i++)
		if (mt->undo[i].kind == U_FLUSHED) {
			r = mt->undo[i].i;
			memtier_table_free(mt, &mt->idx_det[r]);
			memtier_table_free(mt, &mt->acc_det[r]);
			mt->flushed[r] = false;
		}
	mt->nundo = 0;
}

void
memtier_abort(struct memtier *mt)
{
	struct undo	*u;
	struct memtier_table	*t;
	struct memtier_ident	*id;
	struct memtier_acct	*a;
	unsigned	 r;

	while (mt->nundo > 0) {
		u = &mt->undo[--mt->nundo];
		switch (u->kind) {
		case U_IDX:
			id = u->p;
			r = MT_RANGE(&id->h);
			id->n--;
			mt->range_entries[r]--;
			__atomic_fetch_sub(&mt->nentries, 1, __ATOMIC_RELAXED);
			if (id->n == 0) {
				/* Added in this transaction: none before. */
				t = &mt->idx[r];
				memtier_table_del(t, mix_of(&id->h, id->kind),
				    id);
				if (id->cap > 1)
					memtier_array_leave(mt, t, id->e,
					    log2_of(id->cap), sizeof(*id->e));
				memtier_spare_put(&t->items, id, sizeof(*id));
			}
			break;
		case U_LINK_NEW:
			a = u->p;
			a->n--;
			__atomic_fetch_sub(&mt->nlinks, 1, __ATOMIC_RELAXED);
			if (a->n == 0) {
				t = &mt->acc[MT_RANGE(&a->account)];
				memtier_table_del(t, mix_of(&a->account, 0), a);
				if (a->cap > 0)
					memtier_array_leave(mt, t, a->l,
					    log2_of(a->cap), sizeof(*a->l));
				memtier_spare_put(&t->items, a, sizeof(*a));
			}
			break;
		case U_LINK_SET:
			a = u->p;
			a->l[u->i] = u->old;
			break;
		case U_FLUSHED:
			/* Later additions to the range are undone by now. */
			r = u->i;
			memtier_table_free(mt, &mt->idx[r]);
			memtier_table_free(mt, &mt->acc[r]);
			mt->idx[r] = mt->idx_det[r];
			mt->acc[r] = mt->acc_det[r];
			memset(&mt->idx_det[r], 0, sizeof(mt->idx_det[r]));
			memset(&mt->acc_det[r], 0, sizeof(mt->acc_det[r]));
			mt->range_entries[r] = mt->det_entries[r];
			__atomic_fetch_add(&mt->nentries, mt->det_entries[r],
			    __ATOMIC_RELAXED);
			__atomic_fetch_add(&mt->nlinks, mt->det_links[r],
			    __ATOMIC_RELAXED);
			mt->flushed[u->i] = false;
			break;
		}
	}
	/* Every remembered answer is older now (memtier_ident_disk()). */
	__atomic_fetch_add(&mt->aborts, 1, __ATOMIC_RELAXED);
}

size_t
memtier_undo_mark(const struct memtier *mt)
{
	return (mt->nundo);
}

int
memtier_undo_link(const struct memtier *mt, size_t idx,
    const struct memtier_acct **a, uint32_t *i, bool *added,
    struct store_link *old)
{
	const struct undo	*u;

	if (idx >= mt->nundo)
		return (1);
	u = &mt->undo[idx];
	if (u->kind != U_LINK_NEW && u->kind != U_LINK_SET)
		return (1);
	*a = u->p;
	*i = u->i;
	*added = u->kind == U_LINK_NEW;
	if (!*added)
		*old = u->old;
	return (0);
}

uint64_t
memtier_index_count(const struct memtier *mt)
{
	return (__atomic_load_n(&mt->nentries, __ATOMIC_RELAXED));
}

uint64_t
memtier_link_count(const struct memtier *mt)
{
	return (__atomic_load_n(&mt->nlinks, __ATOMIC_RELAXED));
}

uint64_t
memtier_bytes(const struct memtier *mt)
{
	return (__atomic_load_n(&mt->bytes, __ATOMIC_RELAXED));
}

uint64_t
memtier_range_count(const struct memtier *mt, unsigned r)
{
	return (mt->range_entries[r]);
}
