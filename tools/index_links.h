/*
 * The lower names of hard links copied up through layerfs's index.
 *
 * A copy-up of one name of a lower file with several links goes into
 * the work directory's index (workdir/index/KEY, KEY naming the lower
 * inode as "DEV-INO" in hex), and each upper name of the file is a hard
 * link of that entry.  The mount shows every name of the lower inode as
 * the copy, also the names never touched through it, which are in the
 * lower layers only.  An export of the upper directory alone would give
 * those names the old content, as a file of their own; the layer must
 * carry them as hard links of the copy.
 *
 * An entry has such names only when the count the mount shows (its
 * user.layerfs.nlink mark, or index/KEY.nlink's for a symlink or a
 * device, which cannot carry user.* xattrs) exceeds its upper names
 * (st_nlink less the index's own link).  When no entry does, nothing
 * more is read; otherwise the merged view is walked once for lower
 * non-directories whose inode has such an entry, stepping over renamed
 * directories, whose content export reads through the redirect itself
 * (index_links_find answers there).
 */
#ifndef LT_INDEX_LINKS_H
#define LT_INDEX_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "union.h"

/* An index entry whose lower names the upper directory lacks. */
struct index_link {
	dev_t dev;            /* the lower inode, from the key */
	ino_t ino;
	char key[40];
	struct stat st;       /* the entry: the copy's inode */
	bool metacopy;        /* holds metadata only: the data is the lower
				 inode's */
};

/* A lower name of such an entry, at its path in the merged view. */
struct index_name {
	char *path;           /* "dir/name", no leading '/' */
	size_t entry;         /* in index_links.v */
	size_t layer;         /* the layer (of the stack walked) holding it */
};

struct index_links {
	int index_fd;         /* workdir/index; -1 when there is none */
	struct index_link *v; /* sorted by (dev, ino) */
	size_t n;
	struct index_name *names; /* sorted by path */
	size_t nnames;
};

/*
 * Reads the index of the work directory work_fd (a missing index is an
 * empty one) and, when an entry lacks names, walks the merged view of
 * stack ([upper, lower...]) for them.  On error, err says what.
 */
int index_links_load(int work_fd, const struct ustack *stack,
		     struct index_links *x, char *err, size_t errlen);
void index_links_free(struct index_links *x);

/*
 * The count of names the mount shows (user.layerfs.nlink) that
 * dirfd/name carries: an index entry's, or, the same inode, one of its
 * upper names'.  -ENODATA when it carries none, -EINVAL when malformed.
 */
int index_links_shown(int dirfd, const char *name, uint64_t *shown);

/* The entry of a lower non-directory with this lstat, or NULL. */
const struct index_link *index_links_find(const struct index_links *x,
					  const struct stat *lower);

/*
 * The names of the directory DIR ("" for the root) that lead to lower
 * names of entries (the names themselves, or directories on the way),
 * sorted, each once.  *out is NULL when there are none.
 */
int index_links_children(const struct index_links *x, const char *dir,
			 char ***out, size_t *n);

/* The lower name at PATH, or NULL. */
const struct index_name *index_links_name(const struct index_links *x,
					  const char *path);

#endif
