/*
 * File capabilities kept across the writes the kernel sends from its
 * page cache (caps_keep.c).
 *
 * A write(2) through the mount has its privileges cleared by the kernel
 * before the data reaches the page cache (it asks for
 * security.capability and removes it through us), and a write through a
 * shared mapping never clears them, on any local filesystem or kernel
 * overlayfs.  But when those pages reach us (the writeback cache, or a
 * page-cache handle in passthrough mode) our pwrite on the upper file
 * would make the upper filesystem clear security.capability once more:
 * a file written through a mapping would lose its capabilities.  So a
 * page-cache write saves them first and puts them back after.
 *
 * Between the two, a lock (one of a few, by node) keeps out a change
 * of the capabilities through the mount (setcap, or the kernel's own
 * removal for a write(2)) and the writes that must clear them (direct
 * I/O), which would otherwise be undone by the putting back.
 */
#ifndef LFS_CAPS_KEEP_H
#define LFS_CAPS_KEEP_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "node.h"

#define XATTR_CAPS "security.capability"

struct caps_keep {
	pthread_mutex_t *lock;
	ssize_t len;     /* bytes saved in value, or 0: none to put back */
	char value[24];  /* the largest form (VFS_CAP_REVISION_3) */
};

/* Takes node n's lock; with save, for a page-cache write, saves the
 * capabilities of the upper file fd when n may have any. */
void caps_keep_begin(struct node *n, int fd, bool save,
		     struct caps_keep *k);
/* The same for a copy-up writing a file's data into its upper copy
 * (copy_up.c), which may take long: the lock is taken only when the
 * file carries capabilities, so that the copy of a file without any
 * keeps no page-cache write of another file waiting.  A setcap made
 * while such a copy runs may then be lost to its writes, as on kernel
 * overlayfs, which keeps capabilities across that copy the same way. */
void caps_keep_begin_copy(struct node *n, int fd, struct caps_keep *k);
/* Puts back what was saved, if the write took it, and drops the lock. */
void caps_keep_end(int fd, struct caps_keep *k);

/* The lock alone, around a change of n's capabilities through the
 * mount (name is the xattr's: the others need none).  NULL if none. */
pthread_mutex_t *caps_change_lock(struct node *n, const char *name);

#endif
