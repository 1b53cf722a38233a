/*
 * A small per-thread cache of directory fds, keyed by (directory node,
 * its st_ino, layer).
 *
 * Without it every operation on a name walks the whole path from the
 * layer root (openat2, one component at a time in the kernel) just to
 * reach the directory holding it.  Requests come in runs on one
 * directory (ls -l, find, tar, untar), so a handful of fds per worker
 * thread turns that walk into a single *at() call.
 *
 * Why a cached fd stays right: lower layers never change; an upper
 * directory's fd follows it through renames, and a removed directory's
 * node is unhashed (no lookup can reach it again).  A freed node's
 * address may come back as another node: with another st_ino it is
 * another key; with the same st_ino it is the same directory, unless
 * the upper filesystem reused the inode number of a removed directory,
 * so freeing a removed directory's node makes every cached fd be
 * opened again (dirfd_cache_dir_removed).  The node thus needs no
 * generation number of its own.  The cache holds at
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

/* For node_walk_to_dir (node.h), which opens what is not cached: the
 * cached fd of dir in layer, acquired, or -1; and fd, opened while the
 * removal counter read `epoch`, kept in the cache and acquired (or left
 * uncached, closed at its release, when every slot is busy). */
int dirfd_find(struct node *dir, int layer);
int dirfd_keep(struct node *dir, int layer, int fd, unsigned epoch);
unsigned dirfd_epoch(void);

/* Forgets every cached fd of this thread (tests, fd pressure). */
void dirfd_cache_flush(void);

/* A removed directory's node is being freed: fds cached before now are
 * checked by opening again. */
void dirfd_cache_dir_removed(void);

#endif
