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
 *   index-unchecked   the index has not been checked since such an end:
 *                     a link count may be one too low.  layertool fsck
 *                     removes it, and `mounted`, once nothing is left to
 *                     repair.
 *
 * The directory itself carries the lock each mount holds (flock).
 */
#ifndef LF_WORKDIR_H
#define LF_WORKDIR_H

#define WORKDIR_WORK "work"
#define WORKDIR_INDEX "index"
#define WORKDIR_MOUNTED "mounted"
#define WORKDIR_UNCHECKED "index-unchecked"

#endif
