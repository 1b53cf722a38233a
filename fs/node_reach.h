/*
 * How a node is reached on disk in one layer (node_reach.c): its path in
 * a lower layer, its parent's directory fd and name, an open of it, its
 * attributes.  Every call here that reads a name holds ns_lock (shared)
 * from reading it to the *at() call made with it, so a rename through
 * the mount never moves a name under a request.
 */
#ifndef LFS_NODE_REACH_H
#define LFS_NODE_REACH_H

#include <stdbool.h>
#include <sys/stat.h>

#include "node.h"

/* The path of n in lower layer `layer` ("/a/b", "/" for the root),
 * through the redirects of its ancestors and its own, this mount's and
 * kernel overlayfs's: at lfs_below_upper(fs), the lower path this mount
 * records for n.  Callers hold ns_lock shared.  malloc'd (paths may be
 * longer than PATH_MAX in deep trees). */
char *node_lower_path(struct lfs *fs, struct node *n, int layer);
/* Records that kernel overlayfs redirected directory n in `layer` to
 * value, a path from the root: the layers below find it there.  Takes
 * value and ns_lock. */
int node_add_lower_redirect(struct lfs *fs, struct node *n, int layer,
			    char *value);
/* Whether n or one of its ancestors has a kernel redirect: its path in
 * the lower layers then differs from layer to layer, which a recorded
 * path (a metacopy mark, a redirect of this mount) cannot say.  Callers
 * hold ns_lock shared. */
bool node_below_lower_redirect(struct node *n);

/* dir's O_PATH fd in `layer`, acquired from the dirfd cache
 * (dirfd_acquire): the cached one, or one reached by ".." from a cached
 * subdirectory, or from its nearest ancestor that is cached or opens by
 * itself by one open of the names below it (the ancestors are found in
 * a loop, since a hostile layer may be tens of thousands of levels
 * deep).  Takes ns_lock itself. */
int node_walk_to_dir(struct lfs *fs, struct node *dir, int layer);

/* Opens the node in `layer` (flags as open(2); never follows symlinks).
 * Takes ns_lock itself. */
int node_open(struct lfs *fs, struct node *n, int layer, int flags);
/* node_open with O_NOATIME, so reading a lower layer never writes its
 * atimes; without it where the kernel refuses it (EPERM: a file that is
 * not ours). */
int node_open_noatime(struct lfs *fs, struct node *n, int layer, int flags);
/* The directory holding the node in `layer` (a cached fd: do not close)
 * and the node's name, copied into name[NAME_MAX + 1].  On success the
 * caller does its *at() call, then node_parent_fd_done(). */
int node_parent_fd(struct lfs *fs, struct node *n, int layer, char *name);
/*
 * A rename through the mount moves the names of a and b (either NULL, a
 * directory left out) on disk, then their nodes (node_move, under
 * ns_lock).  Between the two a request by name would find nothing at
 * the source's old name and the incoming file at the replaced file's:
 * an fstat(2) of an open file racing its own rename failed with
 * ENOENT, and one of the replaced file reached the new one.  So their
 * names are marked first, under ns_lock, which every request holds from
 * reading a name to its *at() call: one that began before has done its
 * call, and one that meets the mark waits for node_names_moved and
 * looks again.
 */
void node_names_moving(struct lfs *fs, struct node *a, struct node *b);
void node_names_moved(struct node *a, struct node *b);
/* Whether node_parent_fd reaches the node in `layer`: not for the root, an
 * unlinked node still open, an index entry or a redirected directory,
 * which only node_open reaches. */
bool node_reached_by_name(struct lfs *fs, struct node *n, int layer);
/* Whether r, what reaching n in `layer` by its name answered (as
 * node_parent_fd), says that n lost its name (unlink, rename onto it)
 * after node_reached_by_name said yes: node_open reaches it now,
 * through the fd dir.c kept. */
bool node_name_went(struct node *n, int layer, int r);
void node_parent_fd_done(struct lfs *fs, int fd);
/* fstatat of the node in `layer`, without following symlinks. */
int node_lstat(struct lfs *fs, struct node *n, int layer, struct stat *st);

#endif
