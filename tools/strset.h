/* A set of strings (open addressing, FNV-1a), for merging directory
 * listings of many layers in one pass. */
#ifndef LT_STRSET_H
#define LT_STRSET_H

#include <stdbool.h>
#include <stddef.h>

struct strset {
	char **slots;
	size_t cap, n;
};

void strset_init(struct strset *s);
void strset_free(struct strset *s);
bool strset_has(const struct strset *s, const char *key);
/* Adds a copy of KEY; 1 when added, 0 when already there, -ENOMEM. */
int strset_add(struct strset *s, const char *key);

#endif
