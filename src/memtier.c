/* memtier.c: the recent tier of the index and links; see memtier.h. */
#include "config.h"

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "memtier.h"
#include "util.h"

/*
 * Under AddressSanitizer, memory the tier keeps but holds nothing in (a
 * chunk's free end, an array left for the next of its size, an item an
 * abort took out) is poisoned, so that a pointer kept past a change
 * reads as the use after free it is.
 */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define MT_POISON(p, n)		ASAN_POISON_MEMORY_REGION((p), (n))
#define MT_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define MT_POISON(p, n)		do { (void)(p); (void)(n); } while (0)
#define MT_UNPOISON(p, n)	do { (void)(p); (void)(n); } while (0)
#endif

/*
 * One hash table per range for identities, one for accounts: open
 * addressing, linear probing, at most three quarters full (half full
 * takes ~15 MiB more at the bench's load, past the daemon's memory
 * target). A slot keeps the hash's mixed bits beside the item, so that
 * a lookup of an identity the tier does not hold (most lookups) reads
 * the slots, not the items.
 */
struct memtier_slot {
	uint64_t	 mix;		/* mix_of(item's hash, kind) */
	void		*p;		/* the ident or acct; NULL: empty */
};

/*
 * The memory of a table's items and their arrays, in chunks freed
 * together with the table: a range's flush frees a few chunks instead of
 * each of its thousands of items, and adding an item is a bump of a
 * pointer. Arrays hold a power of two of items (a table's arrays are of
 * one item size); a small one that grows leaves its old copy for the
 * next array of that size. An item an abort takes out, and its array,
 * are left the same way for the next item (a table's items are of one
 * size): while every write fails, the aborts reuse what they left
 * instead of taking more.
 */
struct memtier_chunk {
	struct memtier_chunk	*next;
	size_t			 size;	/* of data */
	size_t			 used;
	max_align_t		 data[];
};
#define MT_CHUNK_SIZE	(4096 - sizeof(struct memtier_chunk))

/* An array left behind, kept for the next one of its size. */
struct memtier_spare {
	struct memtier_spare	*next;
};
#define MT_SPARE_CLASSES	32	/* arrays of 2^k items */

/*
 * An array of more than MT_BIG_SIZE bytes (a busy identity's entries)
 * has an allocation of its own, freed as soon as it grows: a spare of
 * that size would seldom be taken again.
 */
struct memtier_big {
	struct memtier_big	*next;
	struct memtier_big	*prev;
	max_align_t		 data[];
};
#define MT_BIG_SIZE	1024

struct memtier_table {
	struct memtier_slot	*s;
	size_t		  ns;		/* slots: a power of two, >= 4/3 x n */
	size_t		  n;
	struct memtier_chunk	*mem;	/* the newest first */
	struct memtier_spare	*spare[MT_SPARE_CLASSES];
	struct memtier_spare	*items;	/* items an abort took out */
	struct memtier_big	*big;
	size_t		  bytes;	/* allocated: slots, chunks, bigs */
};

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

struct memtier {
	struct memtier_table	 idx[MT_RANGES];
	struct memtier_table	 acc[MT_RANGES];
	uint64_t	 range_entries[MT_RANGES];
	/*
	 * A range flushed in the open transaction is detached at once (so
	 * queries see it in LMDB only), freed at commit, put back at abort.
	 */
	struct memtier_table	 idx_det[MT_RANGES];
	struct memtier_table	 acc_det[MT_RANGES];
	uint64_t	 det_entries[MT_RANGES];
	uint64_t	 det_links[MT_RANGES];
	bool		 flushed[MT_RANGES];
	uint32_t	 aborts;	/* atomic: ages memtier_ident.disk */
	uint64_t	 nentries;	/* atomic: read by stats */
	uint64_t	 nlinks;	/* atomic */
	uint64_t	 bytes;		/* atomic: the tables' bytes, summed */

	struct undo	*undo;
	size_t		 nundo;
	size_t		 undocap;

	void		**sorted;	/* memtier_range() output */
	size_t		  sortedcap;
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

/* The slot an item of mix would take in an empty table. */
static size_t
home(const struct memtier_table *t, uint64_t mix)
{
	return ((size_t)mix & (t->ns - 1));
}

struct memtier *
memtier_new(void)
{
	return (xcalloc(1, sizeof(struct memtier)));
}

/* The table's memory grew (or shrank) by delta bytes. */
static void
table_bytes(struct memtier *mt, struct memtier_table *t, ssize_t delta)
{
	t->bytes += (size_t)delta;
	__atomic_fetch_add(&mt->bytes, (uint64_t)delta, __ATOMIC_RELAXED);
}

/* len zeroed bytes of the table's memory, aligned for any item. */
static void *
table_alloc(struct memtier *mt, struct memtier_table *t, size_t len)
{
	struct memtier_chunk	*c = t->mem;
	size_t			 size;
	void			*p;

	len = (len + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (c == NULL || c->size - c->used < len) {
		size = len > MT_CHUNK_SIZE ? len : MT_CHUNK_SIZE;
		c = xmalloc(sizeof(*c) + size);
		c->next = t->mem;
		c->size = size;
		c->used = 0;
		t->mem = c;
		MT_POISON(c->data, size);
		table_bytes(mt, t, (ssize_t)(sizeof(*c) + size));
	}
	p = (char *)c->data + c->used;
	c->used += len;
	MT_UNPOISON(p, len);
	return (memset(p, 0, len));
}

/* Keep p, of len bytes, on list: the next taken from it. */
static void
spare_put(struct memtier_spare **list, void *p, size_t len)
{
	struct memtier_spare	*s = p;

	s->next = *list;
	*list = s;
	MT_POISON((char *)p + sizeof(*s), len - sizeof(*s));
}

/* The first of list, of len bytes, or NULL. */
static void *
spare_take(struct memtier_spare **list, size_t len)
{
	struct memtier_spare	*s;

	if ((s = *list) == NULL)
		return (NULL);
	*list = s->next;
	MT_UNPOISON(s, len);
	return (s);
}

/* A zeroed item of size: one an abort left, else new memory. */
static void *
table_item(struct memtier *mt, struct memtier_table *t, size_t size)
{
	void	*p;

	if ((p = spare_take(&t->items, size)) != NULL)
		return (memset(p, 0, size));
	return (table_alloc(mt, t, size));
}

/*
 * Leave the array of 2^k items of size at p: freed when it is big, else
 * kept for the next one of its size.
 */
static void
array_leave(struct memtier *mt, struct memtier_table *t, void *p, unsigned k,
    size_t size)
{
	struct memtier_big	*b;

	if ((size << k) <= MT_BIG_SIZE) {
		spare_put(&t->spare[k], p, size << k);
		return;
	}
	b = (struct memtier_big *)((char *)p - offsetof(struct memtier_big,
	    data));
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		t->big = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	free(b);
	table_bytes(mt, t, -(ssize_t)(sizeof(*b) + (size << k)));
}

/*
 * An array of 2^k items of size, in place of from (NULL, an item's own
 * first one when k is 1, else an array of 2^(k-1) from here), whose
 * first n items it takes.
 */
static void *
table_array(struct memtier *mt, struct memtier_table *t, void *from,
    unsigned k, size_t n, size_t size)
{
	struct memtier_big	*b;
	void			*p;

	if (k >= MT_SPARE_CLASSES || size < sizeof(struct memtier_spare))
		fatalx("memtier: array of 2^%u items of %zu bytes", k, size);
	if ((size << k) > MT_BIG_SIZE) {
		b = xmalloc(sizeof(*b) + (size << k));
		b->prev = NULL;
		if ((b->next = t->big) != NULL)
			b->next->prev = b;
		t->big = b;
		p = b->data;
		table_bytes(mt, t, (ssize_t)(sizeof(*b) + (size << k)));
	} else if ((p = spare_take(&t->spare[k], size << k)) == NULL)
		p = table_alloc(mt, t, size << k);
	if (n > 0)
		memcpy(p, from, n * size);
	if (from != NULL && k >= 2)
		array_leave(mt, t, from, k - 1, size);
	return (p);
}

/* k of 2^k. */
static unsigned
log2_of(uint32_t v)
{
	return (31 - (unsigned)__builtin_clz(v));
}

/* Free a table and what it holds. */
static void
table_free(struct memtier *mt, struct memtier_table *t)
{
	struct memtier_chunk	*c;
	struct memtier_big	*b;

	while ((c = t->mem) != NULL) {
		t->mem = c->next;
		free(c);
	}
	while ((b = t->big) != NULL) {
		t->big = b->next;
		free(b);
	}
	free(t->s);
	__atomic_fetch_sub(&mt->bytes, t->bytes, __ATOMIC_RELAXED);
	memset(t, 0, sizeof(*t));
}

void
memtier_free(struct memtier *mt)
{
	unsigned	r;

	if (mt == NULL)
		return;
	for (r = 0; r < MT_RANGES; r++) {
		table_free(mt, &mt->idx[r]);
		table_free(mt, &mt->acc[r]);
		table_free(mt, &mt->idx_det[r]);
		table_free(mt, &mt->acc_det[r]);
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

/* Put p (of mix) in the first free slot from its home; it is not there. */
static void
table_put(struct memtier_table *t, uint64_t mix, void *p)
{
	size_t	i;

	for (i = home(t, mix); t->s[i].p != NULL; i = (i + 1) & (t->ns - 1))
		;
	t->s[i].mix = mix;
	t->s[i].p = p;
}

/* Room for one more item: double the slots past three quarters full. */
static void
table_grow(struct memtier *mt, struct memtier_table *t)
{
	struct memtier_table	 o = *t;
	size_t			 i;

	if (t->ns != 0 && 4 * (t->n + 1) <= 3 * t->ns)
		return;
	t->ns = o.ns ? o.ns * 2 : 64;
	t->s = xcalloc(t->ns, sizeof(*t->s));
	for (i = 0; i < o.ns; i++)
		if (o.s[i].p != NULL)
			table_put(t, o.s[i].mix, o.s[i].p);
	free(o.s);
	table_bytes(mt, t, (ssize_t)((t->ns - o.ns) * sizeof(*t->s)));
}

/* Add p, of mix, which the table does not hold. */
static void
table_add(struct memtier *mt, struct memtier_table *t, uint64_t mix, void *p)
{
	table_grow(mt, t);
	table_put(t, mix, p);
	t->n++;
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
	for (i = home(t, mix); (id = t->s[i].p) != NULL;
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
		id = table_item(mt, t, sizeof(*id));
		id->kind = kind;
		id->h = *h;
		id->e = &id->first;
		id->cap = 1;
		table_add(mt, t, mix_of(h, kind), id);
	}
	if (id->n == id->cap) {
		id->cap *= 2;
		id->e = table_array(mt, t, id->e, log2_of(id->cap), id->n,
		    sizeof(*id->e));
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
	for (i = home(t, mix); (a = t->s[i].p) != NULL;
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
		a = table_item(mt, t, sizeof(*a));
		a->account = *acct;
		table_add(mt, t, mix_of(acct, 0), a);
	}
	if ((i = link_find(a, l->kind, &l->h)) >= 0) {
		undo_push(mt, U_LINK_SET, a, (uint32_t)i, &a->l[i]);
		a->l[i] = *l;
		return;
	}
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 4;
		a->l = table_array(mt, t, a->l, log2_of(a->cap), a->n,
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
			table_free(mt, &mt->idx_det[r]);
			table_free(mt, &mt->acc_det[r]);
			mt->flushed[r] = false;
		}
	mt->nundo = 0;
}

/*
 * Take p, of mix, out of t (it is there), moving back the items after it
 * that would not be found past the hole (linear probing has no
 * tombstones).
 */
static void
table_del(struct memtier_table *t, uint64_t mix, void *p)
{
	size_t	m = t->ns - 1, i, j, k;

	for (i = home(t, mix); t->s[i].p != p; i = (i + 1) & m)
		;
	for (j = i;;) {
		t->s[i].p = NULL;
		for (;;) {
			j = (j + 1) & m;
			if (t->s[j].p == NULL) {
				t->n--;
				return;
			}
			k = home(t, t->s[j].mix);
			/* Stays when its home lies cyclically in (i, j]. */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		t->s[i] = t->s[j];
		i = j;
	}
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
				table_del(t, mix_of(&id->h, id->kind), id);
				if (id->cap > 1)
					array_leave(mt, t, id->e,
					    log2_of(id->cap), sizeof(*id->e));
				spare_put(&t->items, id, sizeof(*id));
			}
			break;
		case U_LINK_NEW:
			a = u->p;
			a->n--;
			__atomic_fetch_sub(&mt->nlinks, 1, __ATOMIC_RELAXED);
			if (a->n == 0) {
				t = &mt->acc[MT_RANGE(&a->account)];
				table_del(t, mix_of(&a->account, 0), a);
				if (a->cap > 0)
					array_leave(mt, t, a->l,
					    log2_of(a->cap), sizeof(*a->l));
				spare_put(&t->items, a, sizeof(*a));
			}
			break;
		case U_LINK_SET:
			a = u->p;
			a->l[u->i] = u->old;
			break;
		case U_FLUSHED:
			/* Later additions to the range are undone by now. */
			r = u->i;
			table_free(mt, &mt->idx[r]);
			table_free(mt, &mt->acc[r]);
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
