/* A set of strings (open addressing, FNV-1a), each member with an
 * optional string value: for merging directory listings of many layers
 * in one pass, and for what the unpacker keeps about some of the paths
 * it wrote (a map, then). */
#ifndef LT_STRSET_H
#define LT_STRSET_H

#include <stdbool.h>
#include <stddef.h>

struct strset_slot {
	char *key;   /* NULL: a free slot */
	char *value; /* NULL: none */
};

struct strset {
	struct strset_slot *slots;
	size_t cap, n;
};

void strset_init(struct strset *s);
void strset_free(struct strset *s);
bool strset_has(const struct strset *s, const char *key);
/* Adds a copy of KEY; 1 when added, 0 when already there, -ENOMEM. */
int strset_add(struct strset *s, const char *key);
/* Adds KEY if needed and gives it a copy of VALUE, in place of the value
 * it had; 0 or -ENOMEM. */
int strset_put(struct strset *s, const char *key, const char *value);
/* The value of KEY; NULL when KEY is not there or has none. */
const char *strset_value(const struct strset *s, const char *key);
/* Removes KEY, with its value, when it is there. */
void strset_remove(struct strset *s, const char *key);

#endif
