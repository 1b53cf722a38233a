/*
 * What a layerfs mount keeps in its work directory (workdir=), for the
 * mount (fs/layers.c) and for layertool, which reads and repairs it with
 * the mount down (tools/cmd_fsck.c, tools/index_links.c).
 *
 *   work/             copy-ups and removals being made; what a crash
 *                     leaves there the next mount removes.  Also the
 *                     inodes every whiteout links (whiteout.h), kept.
 *   index/            the hard-link index (fs/index.h).
 *   mounted           there while a mount runs: found at the start, the
 *                     last mount ended without its unmount.
 *   index-checked     the index's link counts are known to be no lower
 *                     than the names they count: made with an empty
 *                     index, or by layertool fsck once no count is left
 *                     low (it removes `mounted` then too); taken away by
 *                     a mount that finds `mounted` (a crash may have
 *                     left a count one too low) and by a udba=reval
 *                     mount (its lower layers may gain links behind it).
 *                     An index without it was made by an older layerfs,
 *                     or not checked since.
 *   layers            the stack the last mount used, top first: its
 *                     upper layer, its init layer, its lower layers
 *                     (below), so that layertool fsck checks the index
 *                     against those and no others.
 *   fsck-lifted       there while `layertool fsck --repair` has an index
 *                     entry's immutable or append-only flag off to set
 *                     its count (tools/flag_lift.h): a repair killed in
 *                     that moment leaves it, and the next fsck puts the
 *                     flag back.
 *
 * The directory itself carries the lock each mount holds (flock).
 */
#ifndef LF_WORKDIR_H
#define LF_WORKDIR_H

#define WORKDIR_WORK "work"
#define WORKDIR_INDEX "index"
#define WORKDIR_MOUNTED "mounted"
#define WORKDIR_CHECKED "index-checked"
#define WORKDIR_LAYERS "layers"

#include <stdbool.h>
#include <stddef.h>

/*
 * One layer of the record: its kind ('u' upper, 'i' init, 'l' lower),
 * its root's device and inode numbers, and its path as the mount's
 * daemon saw it (absolute).  In the file, each is "K DEV INO PATH" (DEV
 * and INO in hex) ended by a NUL: a path may hold any byte but NUL.
 */
struct workdir_layer {
	char kind;
	unsigned long long dev, ino;
	char *path;
};

/* The record as the file holds it, into a malloc'd buffer (*len its
 * length).  -ENOMEM. */
int workdir_layers_format(const struct workdir_layer *v, size_t n,
			  char **out, size_t *len);
/* Reads dirfd/WORKDIR_LAYERS: -ENOENT when there is none, -EINVAL when
 * it is malformed, -errno. */
int workdir_layers_read(int dirfd, struct workdir_layer **v, size_t *n);
void workdir_layers_free(struct workdir_layer *v, size_t n);

/* Whether the mark NAME is in the work directory open as dirfd, and
 * makes it (an empty file; true when it is there now). */
bool workdir_mark_there(int dirfd, const char *name);
bool workdir_mark_make(int dirfd, const char *name);

/* Whether the directory open as fd, given as path, is the layer rec
 * records: the same device and inode, or the same absolute path. */
bool workdir_layer_is(const struct workdir_layer *rec, int fd,
		      const char *path);

#endif
