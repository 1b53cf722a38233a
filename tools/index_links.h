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
 * The same walk finds, on request (IL_SHARED), the names of a lower file
 * with several names, some under a renamed directory: export writes
 * that directory whole, so the names outside must go with it as links.
 *
 * An entry has such names only when the count the mount shows (its
 * user.layerfs.nlink mark, or index/KEY.nlink's for a symlink or a
 * device, which cannot carry user.* xattrs) exceeds its upper names
 * (st_nlink less the index's own link).  When no entry does, nothing
 * more is read; otherwise the merged view is walked once for lower
 * non-directories whose inode has such an entry, stepping over renamed
 * directories, whose content export reads through the redirect itself
 * (index_links_find answers there).
 *
 * An entry records which lower file it was copied from (fs/index.h,
 * lib/lower_id.h): a lower name of another file that got the first
 * one's inode number since, the lower layer changed between mounts, is
 * no name of the entry, as the mount does not take it for one.
 */
#ifndef LT_INDEX_LINKS_H
#define LT_INDEX_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "union.h"

/* Room for a key, "DEV-INO" in hex, and its end. */
#define IL_KEY_MAX 40
/* index/KEY.nlink: the count of a special file's entry. */
#define IL_NLINK_SUFFIX ".nlink"

/* Whether the first len bytes of s are an entry's key, "DEV-INO" in
 * lowercase hex (the lower inode), and which (dev, ino: unless NULL). */
bool index_links_key(const char *s, size_t len, unsigned long long *dev,
		     unsigned long long *ino);

/* An index entry whose lower names the upper directory lacks. */
struct index_link {
	dev_t dev;            /* the lower inode, from the key */
	ino_t ino;
	char key[IL_KEY_MAX];
	struct stat st;       /* the entry: the copy's inode */
	bool metacopy;        /* holds metadata only: the data is the lower
				 inode's */
	char *lower_id;       /* the lower file it was copied from
				 (lower_id.h), NULL: not recorded */
	size_t lower_names;   /* its lower names in the merged view: those
				 the walk listed, and with IL_COUNT those
				 under renamed directories too */
};

/* entry of a lower name that is no index link: see IL_SHARED. */
#define INDEX_NAME_SHARED ((size_t)-1)

/* A lower name the upper directory lacks, at its path in the merged
 * view. */
struct index_name {
	char *path;           /* "dir/name", no leading '/' */
	size_t entry;         /* in index_links.v, or INDEX_NAME_SHARED */
	size_t layer;         /* the layer (of the stack walked) holding it */
};

/* What index_links_load looks for. */
enum {
	/* Lower names of hard links copied up through the index. */
	IL_INDEX = 1,
	/*
	 * Lower names of a lower file with several names, some of them in
	 * a renamed directory, whose content a layer writes anew (export
	 * materialises it): the names outside must be written too, as
	 * links of it, or the image splits what the mount shows as one
	 * inode.  Names under renamed directories are not listed (export
	 * writes them with the directory).
	 */
	IL_SHARED = 2,
	/*
	 * Every entry, not only those lacking names, each with the count
	 * of the lower names the mount shows of it (lower_names), names
	 * under renamed directories included: what fsck compares with the
	 * count an entry keeps.  Names are listed only with IL_INDEX.
	 */
	IL_COUNT = 4,
};

struct index_links {
	int index_fd;         /* workdir/index; -1 when there is none */
	struct index_link *v; /* sorted by (dev, ino) */
	size_t n;
	struct index_name *names; /* sorted by path */
	size_t nnames;
};

/*
 * Reads the index of the work directory work_fd (none when work_fd is
 * -1; a missing index is an empty one) and, when an entry lacks names
 * (IL_INDEX), there is any entry (IL_COUNT) or the upper layer holds a
 * renamed directory (IL_SHARED), walks the merged view of stack
 * ([upper, lower...]) once for the names `what` asks for.  On error,
 * err says what.
 */
int index_links_load(int work_fd, const struct ustack *stack, int what,
		     struct index_links *x, char *err, size_t errlen);
void index_links_free(struct index_links *x);

/*
 * The count of names the mount shows (user.layerfs.nlink) that
 * dirfd/name carries: an index entry's, or, the same inode, one of its
 * upper names'.  -ENODATA when it carries none, -EINVAL when malformed.
 */
int index_links_shown(int dirfd, const char *name, uint64_t *shown);

/* The entry of the lower non-directory dirfd/name, whose lstat is
 * lower, or NULL. */
const struct index_link *index_links_find(const struct index_links *x,
					  int dirfd, const char *name,
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
