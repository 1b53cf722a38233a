/*
 * The merged view of a stack of read-only layers, computed at rest: what
 * export needs to materialise a renamed directory, diff to tell added
 * from changed, and check to find whiteouts that hide nothing.
 *
 * The rules are layerfs's (and kernel overlayfs's): layers are top first;
 * a name comes from the highest layer holding it; `.wh.NAME`, a 0/0
 * character device and, in a lower layer's directory whose opaque xattr
 * is "x", an empty file with an overlay.whiteout xattr (Linux 6.7's
 * xwhiteouts) hide NAME in the layers below; `.wh..wh..opq` and an
 * overlay.opaque xattr of "y" stop a directory's merge at that layer; a
 * non-directory or a whiteout at a path ends the path for lower layers.
 * A `.wh.NAME` and a NAME in the same layer: NAME is shown (the whiteout
 * applies only below, as the OCI spec says).
 */
#ifndef LT_UNION_H
#define LT_UNION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "walk_dir.h"

struct ustack {
	int *fds;       /* layer roots, top first */
	size_t n;
};

/*
 * A chain: the directories a merged directory is made of, top first, a
 * struct walk_dirs (lib/walk_dir.h) whose tree is the layer's index in
 * the stack.  Child chains are opened by name, so that a walk
 * (lib/tree_walk.h) can close a chain's directories on the way down and
 * find them again by "..".
 */

struct uentry {
	char *name;
	size_t link;    /* index in the chain of the directory showing it */
	struct stat st;
};

struct ulisting {
	struct uentry *v;
	size_t n;
};

/* True when the directory fd is opaque in either format. */
bool union_dir_is_opaque(int fd);
/* The same for a layer's root directory, as layerfs reads one: only the
 * `.wh..wh..opq` file hides the layers below; the opaque xattr there
 * hides nothing, as for kernel overlayfs (README, the layer model). */
bool union_root_is_opaque(int fd);

/* The chain of the directory at PATH ("" for the root) in the layers
 * [from, s->n).  An empty chain when PATH is no directory there. */
int union_dir_chain(const struct ustack *s, size_t from, const char *path,
		    struct walk_dirs *out);

/* The chain of the child NAME of chain C: empty when NAME is not a
 * directory in the merged view. */
int union_child_chain(const struct walk_dirs *c, const char *name,
		      struct walk_dirs *out);

/* The chain of a renamed upper directory: C holds it (layer 0); adds,
 * unless it is opaque, the directory TARGET its redirect names in the
 * layers [1, s->n).  On failure C is freed. */
int union_redirect_chain(const struct ustack *s, struct walk_dirs *c,
			 const char *target);

/* The visible entries of a merged directory, sorted by name; whiteouts,
 * opaque markers and reserved ".wh." names are never listed. */
int union_list(const struct walk_dirs *c, struct ulisting *out);
void ulisting_free(struct ulisting *l);

/*
 * What PATH is in the merged view of the layers [from, s->n): 0 with the
 * layer that shows it and its stat, -ENOENT when nothing is there.
 */
int union_lookup(const struct ustack *s, size_t from, const char *path,
		 size_t *layer, struct stat *st);

#endif
