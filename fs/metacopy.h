/*
 * Metadata-only copies: where their data is, and keeping the way to it
 * (metacopy.c says how the mark works).
 */
#ifndef LFS_METACOPY_H
#define LFS_METACOPY_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "layerfs.h"
#include "node.h"

/* n's own path in the layers below, "/a/f": the path of its parent
 * there (a renamed ancestor's redirect decides it) and its name. */
char *metacopy_own_path(struct lfs *fs, struct node *n);
/* Turns a mark just read into the data path: an empty one becomes n's
 * own path (n must have its parent and name). */
int metacopy_resolve(struct lfs *fs, struct node *n, char **datapath);
/* Writes n's data path into the mark of its upper file before the file
 * gets another name (rename, link), when n is a metacopy file: the file
 * is dirfd/name, or the file dirfd itself (O_PATH is fine) when name is
 * NULL. */
int metacopy_pin(struct node *n, int dirfd, const char *name);
/* The data is in the upper file fd now: its mark goes and n is no
 * longer a metacopy node (never between a pin's check and write). */
int metacopy_drop_mark(struct node *n, int fd);

/* A regular file of a lower layer that may be a metadata-only copy
 * made by kernel overlayfs (metacopy.c): its directory there is marked
 * impure, or its blocks cannot hold its size. */
bool metacopy_lower_suspect(bool dir_impure, const struct stat *st);
/* Reads the kernel's marks of such a file, dir's entry name in layer:
 * when it is one, n becomes a metacopy node whose data is below that
 * layer.  0 (a metacopy or not) or -errno. */
int metacopy_probe_lower(struct lfs *fs, struct node *dir, struct node *n,
			 const char *name, int layer);

/* Opens the lower file holding the data of a metacopy node: the first
 * file at its data path below its own layer that is not itself one of
 * the kernel's metadata-only copies. */
int metacopy_open_data(struct lfs *fs, struct node *n, int flags);
/* st_blocks of that data (the blocks the file really uses), or fallback
 * when it cannot be reached. */
blkcnt_t metacopy_data_blocks(struct lfs *fs, struct node *n,
			      blkcnt_t fallback);

#endif
