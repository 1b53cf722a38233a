/*
 * The directories a layer's own members removed while it was unpacked:
 * in an OCI changeset a later member of a name replaces the earlier one,
 * so a directory replaced by a file (or a symlink, a hard link...) goes,
 * with everything the layer had put under it so far.
 *
 * The unpacker holds each directory member's mode, times and default ACL
 * back until the end of the layer, by path; this tells which of those
 * were meant for a directory that is gone since.  Held-back entries are
 * numbered in the order they were made; a removal records how many there
 * were when it happened, so an entry made after it (a directory made
 * again under the same name) is no removal's concern.
 */
#ifndef LT_REMOVED_DIRS_H
#define LT_REMOVED_DIRS_H

#include <stdbool.h>
#include <stddef.h>

struct removed_dir {
	char *path;      /* layer-relative, normalised */
	size_t held;     /* held-back entries made before the removal */
};

struct removed_dirs {
	struct removed_dir *v;
	size_t n, cap;
};

void removed_dirs_init(struct removed_dirs *rd);
void removed_dirs_free(struct removed_dirs *rd);

/* Records that the directory PATH, and all below it, was removed when
 * HELD entries had been held back.  0 or -ENOMEM. */
int removed_dirs_add(struct removed_dirs *rd, const char *path, size_t held);

/*
 * For the held-back entries 0..n-1 (entry i at paths[i]), sets gone[i]
 * when a removal after entry i took its path or a directory above it.
 * Sorts once, O((n + removals) log), whatever the depth of the paths.
 * 0 or -ENOMEM.
 */
int removed_dirs_mark_gone(const struct removed_dirs *rd,
			   const char *const *paths, size_t n, bool *gone);

#endif
