/* ident_set.c: string hash set for domain tables (see ident_int.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ident_int.h"
#include "util.h"

struct ident_set_slot {
	uint64_t	h;
	uint32_t	off;
	uint32_t	len;	/* 0: empty slot (keys are never empty) */
	uint32_t	val;
};

struct ident_set {
	struct ident_set_slot	*slots;
	size_t			 mask;
	size_t			 n;
	char			*blob;
	size_t			 bloblen;
	size_t			 blobcap;
};

struct ident_set *
ident_set_new(void)
{
	struct ident_set	*set = xcalloc(1, sizeof(*set));

	set->mask = 15;
	set->slots = xcalloc(set->mask + 1, sizeof(*set->slots));
	return (set);
}

void
ident_set_free(struct ident_set *set)
{
	if (set == NULL)
		return;
	free(set->slots);
	free(set->blob);
	free(set);
}

size_t
ident_set_count(const struct ident_set *set)
{
	return (set->n);
}

static struct ident_set_slot *
ident_set_slot(const struct ident_set *set, uint64_t h, const char *s,
    size_t len)
{
	struct ident_set_slot	*sl;
	size_t			 i = (size_t)h & set->mask;

	for (;; i = (i + 1) & set->mask) {
		sl = &set->slots[i];
		if (sl->len == 0)
			return (sl);
		if (sl->h == h && sl->len == len &&
		    memcmp(set->blob + sl->off, s, len) == 0)
			return (sl);
	}
}

static void
ident_set_grow(struct ident_set *set)
{
	struct ident_set_slot	*old = set->slots, *sl;
	size_t			 oldn = set->mask + 1, i;

	set->mask = oldn * 2 - 1;
	set->slots = xcalloc(set->mask + 1, sizeof(*set->slots));
	for (i = 0; i < oldn; i++) {
		if (old[i].len == 0)
			continue;
		/* length SIZE_MAX matches nothing: the first free slot */
		sl = ident_set_slot(set, old[i].h, NULL, SIZE_MAX);
		*sl = old[i];
	}
	free(old);
}

int
ident_set_add(struct ident_set *set, const char *s, size_t len, uint32_t val)
{
	struct ident_set_slot	*sl;
	uint64_t		 h = XXH3_64bits(s, len);

	if (len == 0 || len > UINT32_MAX || set->bloblen > UINT32_MAX - len)
		return (1);	/* never happens with the lengths we allow */
	sl = ident_set_slot(set, h, s, len);
	if (sl->len != 0)
		return (1);
	if (set->bloblen + len > set->blobcap) {
		set->blobcap = set->blobcap * 2 + len + 4096;
		set->blob = xreallocarray(set->blob, set->blobcap, 1);
	}
	memcpy(set->blob + set->bloblen, s, len);
	sl->h = h;
	sl->off = (uint32_t)set->bloblen;
	sl->len = (uint32_t)len;
	sl->val = val;
	set->bloblen += len;
	if (++set->n * 2 > set->mask + 1)
		ident_set_grow(set);
	return (0);
}

bool
ident_set_find(const struct ident_set *set, const char *s, size_t len,
    uint32_t *val)
{
	const struct ident_set_slot	*sl;

	if (len == 0)
		return (false);
	sl = ident_set_slot(set, XXH3_64bits(s, len), s, len);
	if (sl->len == 0)
		return (false);
	if (val != NULL)
		*val = sl->val;
	return (true);
}
