/*
 * File attributes (lsattr/chattr's flags, xfs_io's fsxattr) through the
 * mount (fileattr.c).
 */
#ifndef LFS_FILEATTR_H
#define LFS_FILEATTR_H

#include <linux/fs.h>

#include "layerfs.h"

/* FS_IOC_GETFLAGS / FS_IOC_SETFLAGS and FS_IOC_FSGETXATTR /
 * FS_IOC_FSSETXATTR, the ioctls the kernel's FUSE client sends for them;
 * any other ioctl is ENOTTY. */
void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	      size_t in_bufsz, size_t out_bufsz);

/* The immutable and append-only flags (FS_IMMUTABLE_FL, FS_APPEND_FL):
 * the upper filesystem refuses a change to such a file, so a copy gets
 * them only once it is complete and published. */
#define FILEATTR_PROTECT (FS_IMMUTABLE_FL | FS_APPEND_FL)

/*
 * The flags a copy-up of the regular file n, held by `layer`, carries
 * into *flags: immutable, append-only and no-dump, what statx reports
 * of them, so that finding none costs one statx by name.
 */
int fileattr_carried(struct lfs *fs, struct node *n, int layer,
		     unsigned *flags);

/*
 * -EPERM when n's file or directory is immutable or append-only
 * (fileattr_flags): the kernel refuses
 * to remove or rename such a file (or directory), or to change its
 * xattrs, before any other check, but its FUSE client does not know the
 * flags, so layerfs refuses it instead, first too.  In a lower layer
 * nothing else would refuse it; in the upper one, a name removed with a
 * whiteout (another name of an indexed hard link) leaves the file
 * itself untouched, where the upper filesystem would have refused.
 */
int fileattr_protected(struct lfs *fs, struct node *n);

/*
 * Takes the immutable and append-only flags off the file dirfd/name, n's,
 * for a moment, so that layerfs can give it a name the mount already
 * shows (an index entry's upper link): returns a descriptor for
 * fileattr_restore and the flags taken in *lifted, or -1 with *lifted 0
 * when it has none (or they cannot be lifted: the link then fails as
 * it would have).  Until fileattr_restore, n's flags are held: a change
 * of them through the mount waits, and a reading of them is answered
 * with those taken; a lookup puts back no file's flags meanwhile.  n is
 * NULL for a file no node is known to present (an index entry retired
 * as stale): nothing is held then.  No lift of any node may be begun
 * meanwhile, nor while ns_lock or a directory's lock is held (a holder
 * may take them).
 */
int fileattr_lift(struct node *n, int dirfd, const char *name,
		  unsigned *lifted);
void fileattr_restore(struct node *n, int fd, unsigned lifted);

/*
 * change(fd, arg) on n's upper file, open as fd, with its immutable and
 * append-only flags lifted for it where it has any, and put back after:
 * for what the kernel does past them to a file already open.  n's flags
 * are read first, as in fileattr_lifted_change.
 */
int fileattr_lifted_fd(struct lfs *fs, struct node *n, int fd,
		       int (*change)(int fd, void *arg), void *arg);

/*
 * Makes a change to n's upper copy with its immutable and append-only
 * flags lifted for it: change(dirfd, name, fd, arg), with the copy as
 * dirfd/name and fd (open on it, or -1 if it had no flag to lift).  For
 * the changes the kernel makes past those flags.  -EPERM for a copy not
 * reached by a name of its own (an index entry's).
 */
int fileattr_lifted_change(struct lfs *fs, struct node *n,
			   int (*change)(int dirfd, const char *name, int fd,
					 void *arg),
			   void *arg);

/*
 * n's immutable and append-only flags (FILEATTR_PROTECT bits only) into
 * *flags: its real file's, and for a directory in the upper layer those
 * of its protattr mark too.  Read once, then kept on the node: lower
 * layers never change, and every change in the upper one is layerfs's
 * (op_ioctl forgets them).
 */
int fileattr_flags(struct lfs *fs, struct node *n, unsigned *flags);

/* Records n's flags, known without asking: a directory just made (none),
 * a directory's copy-up (those it carried into its mark). */
void fileattr_known(struct node *n, unsigned flags);
/* Forgets them: the next fileattr_flags reads them again. */
void fileattr_forget(struct node *n);

/*
 * -EPERM when dir's flags forbid the change of its entries: adding a
 * name (removing false) to an immutable directory, removing one
 * (removing true: unlink, rmdir, a rename's source or replaced target)
 * from an immutable or append-only one.  What the kernel checks on the
 * parent, before the entry's own flags.
 */
int fileattr_dir_refuses(struct lfs *fs, struct node *dir, bool removing);

/* Writes the protattr mark on the upper directory or file fd, or
 * removes it when flags has neither FILEATTR_PROTECT bit: a directory's
 * flags, kept there only; a file's, kept there besides (fileattr.c). */
int fileattr_mark(int fd, unsigned flags);

/*
 * A lookup met the protattr mark on the upper file dirfd/name, which n
 * presents: puts back the flags it holds that the file lacks (a crash
 * came between a copy-up and its flags, or during a lift), and records
 * n's flags.  Never in the middle of a lift or a change of flags (of
 * any node: n is not yet the node a holder holds), which it neither
 * waits for (it runs under its directory's lock) nor disturbs: it leaves
 * the file to the next lookup then (fileattr.c, lift_begin).
 */
void fileattr_mark_found(struct lfs *fs, struct node *n, int dirfd,
			 const char *name);

/* Whether this daemon may set FILEATTR_PROTECT flags: it holds
 * CAP_LINUX_IMMUTABLE in the initial user namespace, the only one
 * filesystems honour it from.  A copy that must carry them is refused
 * (EPERM) otherwise: without them it would take changes the file
 * refuses. */
bool fileattr_may_protect(void);

/* Adds flags to the published copy fd.  An upper filesystem without
 * inode flags is no error: the copy goes without them. */
int fileattr_apply(int fd, unsigned flags);

#endif
