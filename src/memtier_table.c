/*
 * memtier_table.c: the recent tier's tables (memtier_int.h): the chunks
 * their items and arrays take memory from, and the open-addressing hash
 * table of a range's identities or accounts.
 */
#include "config.h"

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "memtier_int.h"
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
void
memtier_spare_put(struct memtier_spare **list, void *p, size_t len)
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
void *
memtier_table_item(struct memtier *mt, struct memtier_table *t, size_t size)
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
void
memtier_array_leave(struct memtier *mt, struct memtier_table *t, void *p,
    unsigned k, size_t size)
{
	struct memtier_big	*b;

	if ((size << k) <= MT_BIG_SIZE) {
		memtier_spare_put(&t->spare[k], p, size << k);
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
void *
memtier_table_array(struct memtier *mt, struct memtier_table *t, void *from,
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
		memtier_array_leave(mt, t, from, k - 1, size);
	return (p);
}

/* Free a table and what it holds. */
void
memtier_table_free(struct memtier *mt, struct memtier_table *t)
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

/* Put p (of mix) in the first free slot from its home; it is not there. */
static void
table_put(struct memtier_table *t, uint64_t mix, void *p)
{
	size_t	i;

	for (i = memtier_home(t, mix); t->s[i].p != NULL;
	    i = (i + 1) & (t->ns - 1))
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
void
memtier_table_add(struct memtier *mt, struct memtier_table *t, uint64_t mix,
    void *p)
{
	table_grow(mt, t);
	table_put(t, mix, p);
	t->n++;
}

/*
 * Take p, of mix, out of t (it is there), moving back the items after it
 * that would not be found past the hole (linear probing has no
 * tombstones).
 */
void
memtier_table_del(struct memtier_table *t, uint64_t mix, void *p)
{
	size_t	m = t->ns - 1, i, j, k;

	for (i = memtier_home(t, mix); t->s[i].p != p; i = (i + 1) & m)
		;
	for (j = i;;) {
		t->s[i].p = NULL;
		for (;;) {
			j = (j + 1) & m;
			if (t->s[j].p == NULL) {
				t->n--;
				return;
			}
			k = memtier_home(t, t->s[j].mix);
			/* Stays when its home lies cyclically in (i, j]. */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		t->s[i] = t->s[j];
		i = j;
	}
}

