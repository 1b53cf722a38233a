/*
 * Copying a directory's contents from the container's root into a new
 * tmpfs (--tmpfs, --read-only: podman's tmpcopyup), before the tmpfs is
 * attached over it.  The source is the image, which the container
 * controls: nothing is followed (symlinks are copied as symlinks) and
 * only directories, regular files, symlinks and FIFOs are copied;
 * devices and sockets are left out.
 */
#ifndef LR_COPY_TREE_H
#define LR_COPY_TREE_H

/* Copies everything below directory SRC into directory DST, with owners
 * (where the user namespace maps them), modes and times.  0 or -errno;
 * *failed names the entry that failed (a static buffer). */
int copy_tree(int src, int dst, const char **failed);

#endif
