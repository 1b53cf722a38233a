/*
 * Attributes as the mount shows them: the real inode's, with the inode
 * number layerfs assigns, the link count of merged directories, and the
 * ownership mapping.
 */
#ifndef LFS_INODE_H
#define LFS_INODE_H

#include <sys/stat.h>

#include "layerfs.h"
#include "node.h"

/* Attributes of n as shown by the mount. */
int inode_stat(struct lfs *fs, struct node *n, struct stat *st);
/* Turns a raw stat of n's real inode into the view. */
void inode_present(struct lfs *fs, struct node *n, struct stat *st);
/* Fills a lookup reply for n (takes no reference). */
void inode_entry(struct lfs *fs, struct node *n, const struct stat *st,
		 struct fuse_entry_param *e);

/*
 * Before a WRITE the kernel sent past its own set-id clearing (a handle
 * opened for direct I/O): clears what a write by an unprivileged caller
 * of req must, the set-user-id bit, and the set-group-id bit of a file
 * that is group-executable or of a group the caller is not of, and has
 * the kernel drop its cached mode.  Root keeps the bits, as a holder of
 * CAP_FSETID does.
 * Returns 1 when bits were cleared, 0 when none had to be, or -errno.
 */
int setattr_clear_setid_for_write(struct lfs *fs, fuse_req_t req,
				  fuse_ino_t ino, int fd);

/* FUSE operations. */
void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readlink(fuse_req_t req, fuse_ino_t ino);
void op_statfs(fuse_req_t req, fuse_ino_t ino);
void op_access(fuse_req_t req, fuse_ino_t ino, int mask);
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);

#endif
