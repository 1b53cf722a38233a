#include "strset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	strset_init(s);
}

static size_t find(char **slots, size_t cap, const char *key)
{
	size_t i = (size_t)hash(key) & (cap - 1);
	while (slots[i] && strcmp(slots[i], key) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

bool strset_has(const struct strset *s, const char *key)
{
	if (!s->cap)
		return false;
	return s->slots[find(s->slots, s->cap, key)] != NULL;
}

static int grow(struct strset *s)
{
	size_t nc = s->cap ? s->cap * 2 : 64;
	char **ns = calloc(nc, sizeof(char *));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			ns[find(ns, nc, s->slots[i])] = s->slots[i];
	free(s->slots);
	s->slots = ns;
	s->cap = nc;
	return 0;
}

int strset_add(struct strset *s, const char *key)
{
	if ((s->n + 1) * 2 > s->cap) {
		int r = grow(s);
		if (r < 0)
			return r;
	}
	size_t i = find(s->slots, s->cap, key);
	if (s->slots[i])
		return 0;
	s->slots[i] = strdup(key);
	if (!s->slots[i])
		return -ENOMEM;
	s->n++;
	return 1;
}
