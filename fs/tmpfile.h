/*
 * open(2) with O_TMPFILE on the mount: an unnamed file in a directory,
 * which link(2) may name later.
 *
 * The kernel sends FUSE_TMPFILE (Linux 6.1 and later), which libfuse
 * 3.14 does not know; the transport passes it on as a CREATE, whose
 * arguments and reply it shares, of the name TMPFILE_NAME, which no
 * real name can be (transport.h), and op_create hands it here.
 *
 * The file is an O_TMPFILE file in the upper copy of the directory.
 * Its node has no name: it is reached through an fd, as a file unlinked
 * while open (node.c), until link(2) gives it one (dir.c; a later
 * lookup of that name finds the node by its inode number, lookup.c).
 * Closed without a link, the upper filesystem frees it, and nothing is
 * left in either layer.
 */
#ifndef LFS_TMPFILE_H
#define LFS_TMPFILE_H

#include "layerfs.h"

#define TMPFILE_NAME "/"

void tmpfile_create(fuse_req_t req, fuse_ino_t parent, mode_t mode,
		    struct fuse_file_info *fi);

#endif
