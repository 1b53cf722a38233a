/*
 * A small per-thread cache of directory fds, keyed by (directory node,
 * node generation, layer).
 *
 * Without it every operation on a name walks the whole path from the
 * layer root (openat2, one component at a time in the kernel) just to
 * reach the directory holding it.  Requests come in runs on one
 * directory (ls -l, find, tar, untar), so a handful of fds per worker
 * thread turns that walk into a single *at() call.
 *
 * Why a cached fd stays right: lower layers never change; an upper
 * directory's fd follows it through renames, and a removed directory's
 * node is unhashed (no lookup can reach it again).  The generation makes
 * a freed and reused node address a different key.  The cache holds at
 * most DIRFD_CACHE_SIZE fds per thread, closed when the thread ends.
 */
#ifndef LFS_DIRFD_CACHE_H
#define LFS_DIRFD_CACHE_H

#include "layerfs.h"
#include "node.h"

#define DIRFD_CACHE_SIZE 16

/* An O_PATH fd on directory `dir` in `layer`, or -errno.  The fd stays
 * valid until dirfd_release(); it must not be closed by the caller. */
int dirfd_acquire(struct lfs *fs, struct node *dir, int layer);
void dirfd_release(int fd);

/* Forgets every cached fd of this thread (tests, fd pressure). */
void dirfd_cache_flush(void);

#endif
