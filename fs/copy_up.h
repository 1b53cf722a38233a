/*
 * Copy-up: making a node exist in the upper layer before it is changed.
 *
 * Every copy-up is staged and published whole, after an fsync unless
 * fsync=0/volatile: a regular file as an unnamed file (O_TMPFILE) in its
 * parent's upper directory, named there by one link; anything else, and
 * a file whose hard links go through the index, in workdir/work, moved
 * into place by one rename.  A crash therefore leaves either the old
 * state or the new one in the merged view; unnamed files vanish with
 * it, and the workdir's leftovers are removed at the next mount.
 *
 * Kinds:
 *  - directories: the directory itself, attributes and xattrs, never its
 *    children, never opaque;
 *  - metadata only (chmod, chown, utimens, xattrs on a lower file): an
 *    empty sparse file of the right size carrying the new metadata and a
 *    metacopy mark (empty: the data is at the same path below); no data
 *    is copied;
 *  - data: the file's bytes, with holes kept (SEEK_DATA/SEEK_HOLE), by
 *    FICLONE where the upper filesystem can share extents, else
 *    copy_file_range.  A metacopy file gets its data in place and loses
 *    its mark only once the data is complete.
 *
 * Lower files with several hard links go through workdir/index (index.h)
 * so all their names keep sharing one inode after one of them is copied
 * up.
 *
 * Only the node being copied waits: other files are never blocked by a
 * copy-up in progress.
 */
#ifndef LFS_COPY_UP_H
#define LFS_COPY_UP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "layerfs.h"
#include "node.h"

enum copy_up_kind {
	CU_META, /* metadata is enough (data stays below when possible) */
	CU_DATA, /* the data will be written: copy it too */
	CU_TRUNC, /* the data is about to be discarded (O_TRUNC, size 0) */
};

/*
 * One copy-up per node at a time: a copy-up holds its node from the
 * moment it starts copying until it has published the copy.  Held
 * without a copy-up, it keeps the node as it is (exec_prefetch.c): a
 * copy-up of it, and copy_up_wait, wait for copy_up_hold_end.
 */
struct copy_up_hold {
	struct node *n;
	struct copy_up_hold *next;
};
void copy_up_hold_begin(struct node *n, struct copy_up_hold *hold);
void copy_up_hold_end(struct copy_up_hold *hold);

/* Makes n (and its parents) exist in the upper layer. */
int copy_up(struct lfs *fs, struct node *n, enum copy_up_kind kind);

/*
 * A change made on a regular file's staged copy before it is published
 * (setattr.c): chown or chmod of a lower file writes the new inode once,
 * with the change, instead of copying it and then opening it again to
 * change it; a crash shows the file before or after, never between.
 */
struct copy_up_stage {
	int (*apply)(struct lfs *fs, int staged_fd, void *arg);
	void *arg;
	/* apply sets both uid and gid: the copy need not set the source's
	 * first. */
	bool sets_owner;
	bool applied; /* out: the copy-up ran apply and published the file */
};

/* copy_up(CU_META) that runs stage->apply on the staged copy when n is a
 * regular file copied up now; otherwise stage->applied stays false and
 * the caller makes the change itself. */
int copy_up_staged(struct lfs *fs, struct node *n,
		   struct copy_up_stage *stage);

/*
 * copy_up for a change that the immutable or append-only flags in
 * `allow` (FS_IMMUTABLE_FL, FS_APPEND_FL) do not forbid: an append, or
 * chattr.  Every other copy-up of a regular file with such a flag in a
 * lower layer is refused (EPERM) before anything is copied, as the
 * change it would come before is; such a file is always copied with
 * its data (fileattr.h).
 */
int copy_up_protected(struct lfs *fs, struct node *n, enum copy_up_kind kind,
		      unsigned allow);

/* copy_up for a truncation to SIZE: only the data below SIZE is copied
 * (none for 0, as CU_TRUNC), and a copy of a metadata-only copy's data
 * takes the size at once. */
int copy_up_truncating(struct lfs *fs, struct node *n, off_t size);

/* Waits until no copy-up of n is in progress. */
void copy_up_wait(struct node *n);

/* Marks parent's upper directory pfd impure (once per node) so that
 * listings and lookups after a remount read the marks of its children
 * (their origin: the inode number).  Must happen before a child carrying
 * a mark gets its name there. */
int mark_parent_impure(struct lfs *fs, struct node *parent, int pfd);

/* n and its listing record show the inode number of its upper file,
 * real_ino in the upper layer: after a copy-up that broke a hard link,
 * or where a new name would otherwise show another number than n. */
void take_upper_ino(struct lfs *fs, struct node *n, uint64_t real_ino);

#endif
