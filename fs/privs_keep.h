/*
 * File privileges (capabilities, set-user-id and set-group-id bits) kept
 * across the writes the daemon makes for the kernel's page cache and for
 * a copy-up (privs_keep.c).
 *
 * A write(2) through the mount has its privileges cleared by the kernel
 * before the data reaches the page cache (it asks for
 * security.capability and removes it through us, and sends the mode
 * without the set-id bits when the writer may not keep them), and a
 * write through a shared mapping never clears them, on any local
 * filesystem or kernel overlayfs.  But when those pages reach us (the
 * writeback cache, or a page-cache handle in passthrough mode) our
 * pwrite on the upper file would make the upper filesystem clear
 * security.capability once more, and, where the daemon lacks CAP_FSETID
 * in the initial user namespace (rootless: the kernel asks for it there
 * and nowhere else), the set-user-id bit too: a file written through a
 * mapping would lose them.  The data copy of a metadata-only copy-up
 * writes into the upper file the same way.  So such a write saves them
 * first and puts back what it took.
 *
 * Between the two, a lock (one of a few, by node) keeps out a change
 * of the capabilities or the mode through the mount (setcap, chmod, or
 * the kernel's own removal for a write(2)) and the writes that must
 * clear them (direct I/O), which would otherwise be undone by the
 * putting back.
 */
#ifndef LFS_PRIVS_KEEP_H
#define LFS_PRIVS_KEEP_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "node.h"

#define XATTR_CAPS "security.capability"
/* Its largest value (VFS_CAP_REVISION_3, struct vfs_ns_cap_data). */
#define XATTR_CAPS_MAX 24

struct privs_keep {
	struct node *node;
	pthread_mutex_t *lock;
	ssize_t len;     /* bytes saved in value, or 0: none to put back */
	char value[XATTR_CAPS_MAX];
	mode_t setid;    /* set-id bits to keep, where a write drops them */
};

/* Takes node n's lock; with save, for a page-cache write, saves the
 * capabilities of the upper file fd when n may have any, and its set-id
 * bits where our writes drop them. */
void privs_keep_begin(struct node *n, int fd, bool save,
		      struct privs_keep *k);
/* The same for a copy-up writing a file's data into its upper copy
 * (copy_up.c), which may take long: the lock is taken only when the
 * file has privileges to lose, so that the copy of a file without any
 * keeps no page-cache write of another file waiting.  A setcap made
 * while such a copy runs may then be lost to its writes, as on kernel
 * overlayfs, which keeps capabilities across that copy the same way. */
void privs_keep_begin_copy(struct node *n, int fd, struct privs_keep *k);
/* Puts back what was saved, if the write took it, and drops the lock.
 * Past the file's immutable and append-only flags: a descriptor opened
 * before they were set may write, and the write took them past. */
void privs_keep_end(struct lfs *fs, int fd, struct privs_keep *k);

/* The lock alone, around a change of n's capabilities through the
 * mount (name is the xattr's: the others need none).  NULL if none. */
pthread_mutex_t *caps_change_lock(struct node *n, const char *name);
/* The same around a change of n's owner or mode, where our writes drop
 * set-id bits.  NULL if none is needed. */
pthread_mutex_t *mode_change_lock(struct node *n);

/* Takes, and gives back, a lock those two return (NULL: none). */
static inline void privs_lock(pthread_mutex_t *lock)
{
	if (lock)
		pthread_mutex_lock(lock);
}

static inline void privs_unlock(pthread_mutex_t *lock)
{
	if (lock)
		pthread_mutex_unlock(lock);
}

#endif
