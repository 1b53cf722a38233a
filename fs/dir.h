/*
 * Operations that create, remove or rename names: they change the upper
 * layer and write whiteouts (dir.c, rename.c).
 */
#ifndef LFS_DIR_H
#define LFS_DIR_H

#include "layerfs.h"

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode);
void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name);
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);

/* Ownership kept in an xattr where the mount cannot chown (override.h):
 * records the caller as the owner of the new file or directory fd. */
int record_override(struct lfs *fs, fuse_req_t req, struct node *dir, int fd,
		    mode_t mode);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned flags);

/*
 * A name of a file goes away (unlink, or a rename onto the name), for
 * unlink and rename alike.
 *
 * name_drop_prepare, before the directory locks: a lower file with
 * several links goes into the index first (metadata only), so that the
 * link count its other names show can drop, as kernel overlayfs does
 * with index=on.
 * name_drop_begin, while the name still reaches the inode: the shared
 * link count drops, and a file still open keeps a way to its data.
 * Returns whether the count dropped, for name_drop_undo if the removal
 * fails.
 * name_dropped, once the name is gone: the node no longer answers to it;
 * its other names reach it through the index.
 */
int name_drop_prepare(struct lfs *fs, struct node *n);
bool name_drop_begin(struct lfs *fs, struct node *n);
void name_drop_undo(struct lfs *fs, struct node *n, bool counted);
void name_dropped(struct lfs *fs, struct node *n, struct node *dir,
		  const char *name);

/*
 * A directory removed (rmdir, or a rename onto its name) while a process
 * still has it open or as its working directory stays an inode, as on a
 * local filesystem: fstat (and so the fdopendir of a listing, which then
 * reads nothing) keeps working, and a removed upper directory keeps
 * taking chmod and chown, as kernel overlayfs serves them.
 * removed_dir_hold, before the removal: an O_PATH fd on the directory
 * (-1 if none can be had); node_keep_orphan_fd, once it is removed,
 * makes it the node's way to the inode (node.c reaches an unhashed node
 * through it and shows it with no links), or closes it.  A lower one is
 * only looked at, never changed: a copy-up of what has no name fails.
 * The caller closes the fd when the removal fails.
 */
int removed_dir_hold(struct lfs *fs, struct node *dir);

#endif
