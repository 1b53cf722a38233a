/*
 * A program run from a lower layer, its data handed to the kernel with the
 * open.  Without passthrough (a rootless mount, passthrough=0) the kernel
 * reads a program it maps page fault by page fault, each a READ of at most
 * its readahead window (128 KiB): starting busybox costs some 20 round
 * trips, one after the other, before the program gets anywhere.  A lower
 * file never changes, so the daemon stores the whole file in the FUSE
 * inode's page cache (FUSE_NOTIFY_STORE) before it answers the OPEN of an
 * execve, and the faults find it there.
 */
#ifndef LFS_EXEC_PREFETCH_H
#define LFS_EXEC_PREFETCH_H

#include "layerfs.h"
#include "node.h"

/* Programs larger than this are left to the kernel's readahead: the
 * store takes the whole file, and a large program runs a small part of
 * its text. */
#define EXEC_PREFETCH_MAX (8u << 20)

/*
 * Stores the data of n, a lower regular file opened for execve as fd
 * (read-only, page cache kept), in the kernel's page cache of ino, at
 * the node's first such open (the kernel keeps the pages after).  Only
 * while n is still a lower file with one link, and with its copy-up held
 * off meanwhile: a copy-up lets writers into the page cache, whose dirty
 * pages an older store must never overwrite.  Best effort: a failure
 * leaves the kernel to read the file as it would have.
 */
void exec_prefetch(struct lfs *fs, fuse_ino_t ino, struct node *n, int fd);

#endif
