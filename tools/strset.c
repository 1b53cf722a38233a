#include "strset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

void strset_init(struct strset *s)
{
	s->slots = NULL;
	s->cap = s->n = 0;
}

void strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->cap; i++) {
		free(s->slots[i].key);
		free(s->slots[i].value);
	}
	free(s->slots);
	strset_init(s);
}

static size_t home(const char *key, size_t cap)
{
	return (size_t)hash(key) & (cap - 1);
}

static size_t find(const struct strset_slot *slots, size_t cap,
		   const char *key)
{
	size_t i = home(key, cap);
	while (slots[i].key && strcmp(slots[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

bool strset_has(const struct strset *s, const char *key)
{
	if (!s->cap)
		return false;
	return s->slots[find(s->slots, s->cap, key)].key != NULL;
}

static int grow(struct strset *s)
{
	size_t nc = s->cap ? s->cap * 2 : 64;
	struct strset_slot *ns = calloc(nc, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i].key)
			ns[find(ns, nc, s->slots[i].key)] = s->slots[i];
	free(s->slots);
	s->slots = ns;
	s->cap = nc;
	return 0;
}

/* The slot of KEY, added (without a value) when it was not there: its
 * index, or -ENOMEM.  *added tells which. */
static ssize_t slot_of(struct strset *s, const char *key, bool *added)
{
	*added = false;
	if ((s->n + 1) * 2 > s->cap) {
		int r = grow(s);
		if (r < 0)
			return r;
	}
	size_t i = find(s->slots, s->cap, key);
	if (s->slots[i].key)
		return (ssize_t)i;
	s->slots[i].key = strdup(key);
	if (!s->slots[i].key)
		return -ENOMEM;
	s->n++;
	*added = true;
	return (ssize_t)i;
}

int strset_add(struct strset *s, const char *key)
{
	bool added;
	ssize_t i = slot_of(s, key, &added);
	return i < 0 ? (int)i : added;
}

int strset_put(struct strset *s, const char *key, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	bool added;
	ssize_t i = slot_of(s, key, &added);
	if (i < 0) {
		free(copy);
		return (int)i;
	}
	free(s->slots[i].value);
	s->slots[i].value = copy;
	return 0;
}

const char *strset_value(const struct strset *s, const char *key)
{
	if (!s->cap)
		return NULL;
	return s->slots[find(s->slots, s->cap, key)].value;
}

void strset_remove(struct strset *s, const char *key)
{
	if (!s->n)
		return;
	size_t mask = s->cap - 1, hole = find(s->slots, s->cap, key);
	if (!s->slots[hole].key)
		return;
	free(s->slots[hole].key);
	free(s->slots[hole].value);
	s->slots[hole] = (struct strset_slot){ NULL, NULL };
	s->n--;
	/* The keys after it in the same run move up into the hole, each
	 * that may (its home slot not between the hole and where it is):
	 * a lookup stops at the first free slot, which must not cut a key
	 * off from its home. */
	for (size_t j = (hole + 1) & mask; s->slots[j].key;
	     j = (j + 1) & mask) {
		size_t h = home(s->slots[j].key, s->cap);
		bool stays = hole < j ? (hole < h && h <= j)
				      : (hole < h || h <= j);
		if (stays)
			continue;
		s->slots[hole] = s->slots[j];
		s->slots[j] = (struct strset_slot){ NULL, NULL };
		hole = j;
	}
}
