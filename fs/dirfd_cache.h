/*
 * A cache of directory fds the workers share, keyed by (directory node,
 * its st_ino, layer).
 *
 * Without it every operation on a name walks the whole path from the
 * layer root just to reach the directory holding it.  Requests come in
 * runs on one directory (ls -l, find, tar, untar), so the cache turns
 * that walk into a single *at() call.
 *
 * Shared, so a directory is opened once for all the workers, which take
 * requests in turn: caches of their own (16 fds each, and 16 shared
 * behind one lock, which this replaced) opened or duplicated each
 * directory once per worker, and eight processes walking a tree made
 * the workers queue on that lock about once a request.  The cache is
 * split into DIRFD_SHARDS shards of DIRFD_WAYS fds (fewer where a
 * quarter of the open-files limit holds fewer), each under a lock of
 * its own held for a few comparisons; an fd in use by a caller is
 * counted and never closed under it.  A directory's entry lives in one
 * of the DIRFD_GROUP shards its parent names, chosen by its own hash:
 * so the entries of a directory's subdirectories are all in the group
 * it names, which is where a walk up a tree finds one to climb from
 * (below).  A group, not one shard: requests that go round more than
 * DIRFD_WAYS sibling directories (a build in each of ten source
 * directories, a walk of a list ordered across them) found each one
 * evicted by the time they came back to it, and opened it again at
 * every request.
 *
 * Why a cached fd stays right: lower layers never change; an upper
 * directory's fd follows it through renames, and a removed directory's
 * node is unhashed (no lookup can reach it again).  A freed node's
 * address may come back as another node: with another st_ino it is
 * another key; with the same st_ino it is the same directory, as inode
 * numbers are unique across layers, unless the upper filesystem reused
 * the number of a removed directory.  It cannot while a cached fd holds
 * that directory, which has no links left then: so once a removed
 * directory's node is freed, a cached fd is checked for links at its
 * next use (one fstat), and an unlinked one is opened again.  That
 * holds where the fd is the inode whose number the node shows, or where
 * that number is a lower layer's, never freed.  A lower layer's fd of a
 * directory whose top layer is the upper one may be neither (a copy-up
 * without an origin mark shows the upper inode's number): it is
 * checked for that number too.  A lower directory replaced behind the
 * mount (udba) may live on elsewhere: every fd cached before is opened
 * again.  The node thus needs no generation number of its own.  A
 * directory moved to another parent leaves its entry in the old
 * parent's shard, where no lookup of it looks; it ages out.
 *
 * What is not cached is opened from the nearest cached ancestor with one
 * open of the path of names below it, which never follows a symlink
 * (openat2 with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS; by hand where
 * openat2 is refused).  A walk up a tree (du's and rm -rf's way back, a
 * chown -R) asks for the parent of what it asked last, whose ancestors
 * may have aged out: that would open a path as long as the depth at
 * each level.  So a directory one of whose subdirectories is cached is
 * reached by ".." from it instead, checked to be that directory by its
 * inode number (dirfd_climb).
 *
 * A rename that moves a directory changes the names in the upper layer
 * before it moves the nodes (rename.c): meanwhile a walk by names may
 * reach the other directory of an exchange, or the one moved over a
 * name.  So renames mark their moves (dirfd_cache_move_begin, _end),
 * a walk that overlapped one is made again, and what it opened is not
 * kept.
 */
#ifndef LFS_DIRFD_CACHE_H
#define LFS_DIRFD_CACHE_H

#include "layerfs.h"
#include "node.h"

#define DIRFD_SHARDS 64
#define DIRFD_WAYS 8
#define DIRFD_GROUP 4

/* An O_PATH fd on directory `dir` in `layer`, or -errno.  The fd stays
 * valid until dirfd_release(), by the same thread; it must not be closed
 * by the caller.  Under ns_lock (dir's parent must not move). */
int dirfd_acquire(struct lfs *fs, struct node *dir, int layer);
void dirfd_release(int fd);

/* When an fd was opened, against the removals, replacements and moves
 * since (see above). */
struct dirfd_stamp {
	unsigned long removed, replaced, moved;
	bool moving; /* a move had begun and not ended */
};

/* For node_walk_to_dir (node.h), which opens what is not cached: the
 * cached fd of dir in layer, acquired, or -1; and fd, opened when the
 * stamp was taken, kept in the cache and acquired (or left uncached,
 * closed at its release, when every slot is busy). */
int dirfd_find(struct node *dir, int layer);
int dirfd_keep(const struct lfs *fs, struct node *dir, int layer, int fd,
	       struct dirfd_stamp at);
struct dirfd_stamp dirfd_stamp(void);
/* Whether no move began or ended since at (a walk by names made since
 * reached what the nodes say). */
bool dirfd_unmoved_since(struct dirfd_stamp at);

/* For node_walk_to_dir: dir's fd in layer reached by ".." from a cached
 * subdirectory, and kept in the cache and acquired; or -1.  Only where
 * dir's st_ino names its directory in that layer (not one taken from a
 * lower layer's), which is what tells that ".." led to it.  Under
 * ns_lock. */
int dirfd_climb(struct lfs *fs, struct node *dir, int layer,
		struct dirfd_stamp at);

/* Forgets every cached fd no caller holds (tests). */
void dirfd_cache_flush(void);

/* A removed directory's node is being freed: fds cached before now are
 * checked for links at their next use. */
void dirfd_cache_dir_removed(void);

/* A lower directory was replaced behind the mount (udba): fds cached
 * before now are opened again. */
void dirfd_cache_dir_replaced(void);

/* Around a rename that moves a directory in the upper layer: from
 * before its first change there until its nodes are moved (under
 * ns_lock), or it failed. */
void dirfd_cache_move_begin(void);
void dirfd_cache_move_end(void);

#endif
