/*
 * Files the kernel opens by itself, on read-only mounts.
 *
 * Where the kernel allows (FUSE_CAP_NO_OPEN_SUPPORT) and the mount has no
 * upper layer, layerfs answers OPEN with ENOSYS: from then on opening and
 * closing a file costs no request at all (two round trips fewer per file
 * read by tar or grep), and READ and the other data requests arrive with
 * no handle.  They are served from one fd per inode, shared by every
 * request on it, opened on first use and kept in a bounded cache, least
 * recently used ones closed first.
 *
 * Not with an upper layer: without OPEN the daemon would learn of a
 * write only at its first WRITE, so a copy-up that fails (ENOSPC) could
 * not fail the open(2) as on kernel overlayfs, and with the writeback
 * cache would surface only at fsync; and a lower file opened for writing
 * and then unlinked would have nothing left to copy up.  So every fd
 * here is read-only on data that never changes.
 */
#ifndef LFS_SHARED_FD_H
#define LFS_SHARED_FD_H

#include <stdatomic.h>
#include <stdbool.h>

#include "layerfs.h"
#include "node.h"

struct shared_fd {
	int fd;
	atomic_uint refs;    /* the cache's own + requests using it */
	atomic_bool used;    /* for the eviction clock */
	struct node *node;   /* not counted: the node frees us (forget) */
	struct shared_fd *hnext;
};

/* A read-only fd on n's data, referenced.  0 or -errno. */
int shared_fd_get(struct lfs *fs, struct node *n, struct shared_fd **out);
void shared_fd_put(struct shared_fd *s);

/* The node is being freed: close its fd once no request uses it. */
void shared_fd_forget(struct node *n);

/* Closes every cached fd (at exit). */
void shared_fd_close_all(void);

#endif
