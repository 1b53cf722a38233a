/*
 * Lists of names: a directory's entries, an inode's xattr names.  Shared
 * by layertool's walks and the tree removal every program uses.
 */
#ifndef LF_NAME_LIST_H
#define LF_NAME_LIST_H

#include <stddef.h>

struct name_list {
	char **names;
	size_t n;
	size_t cap; /* slots allocated in names */
};

/* Appends a copy of S.  0 or -ENOMEM. */
int name_list_push(struct name_list *l, const char *s);

/* Sorts the names bytewise, so that every walk is deterministic. */
void name_list_sort(struct name_list *l);

/* Frees the names; L is an empty list again. */
void name_list_free(struct name_list *l);

/* Lists the directory open as dirfd (any fd, O_PATH included), without
 * "." and "..", sorted.  0 or -errno (OUT then empty). */
int fs_list_dir(int dirfd, struct name_list *out);

#endif
