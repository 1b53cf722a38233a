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
 *
 * The directory itself carries the lock each mount holds (flock).
 */
#ifndef LF_WORKDIR_H
#define LF_WORKDIR_H

#define WORKDIR_WORK "work"
#define WORKDIR_INDEX "index"
#define WORKDIR_MOUNTED "mounted"
#define WORKDIR_CHECKED "index-checked"

#endif
