/*
 * File attributes through the mount: the inode flags of lsattr/chattr
 * (FS_IOC_GETFLAGS/SETFLAGS) and the fsxattr of xfs_io
 * (FS_IOC_FSGETXATTR/FSSETXATTR).  The kernel's FUSE client turns its
 * fileattr calls into these ioctls, on regular files and directories
 * only, after its own checks: the caller owns the file, and only a
 * caller with CAP_LINUX_IMMUTABLE changes the immutable and append-only
 * flags.
 *
 * They are read from the layer holding the file and changed on its
 * upper copy, like any metadata; the upper filesystem then enforces
 * them (an immutable copy refuses writes, renames and removal).  A file
 * made immutable or append-only is copied with its data first: a
 * metadata-only copy would need its data written in later, which such a
 * file no longer allows.
 *
 * The FUSE client never puts these two flags on its inode, so what the
 * kernel refuses for them on its own (before any filesystem is asked)
 * reaches layerfs, which refuses it instead: the copy-up before a
 * change (copy_up.c, except copy_up_protected's appends and moves), and
 * the removal, rename or xattr change of such a file in any layer
 * (fileattr_protected).  Layerfs's own new names for a file the mount
 * already shows under them lift the flags for the moment
 * (fileattr_lift).
 */
#include "fileattr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "copy_up.h"
#include "creds.h"
#include "node.h"

/* The node's real file in `layer`, opened for an ioctl. */
static int open_for_ioctl(struct lfs *fs, struct node *n, int layer)
{
	int flags = O_RDONLY | O_NONBLOCK |
		    (node_is_dir(n) ? O_DIRECTORY : 0);
	return lfs_is_upper(fs, layer) ? node_open(fs, n, layer, flags)
				       : node_open_noatime(fs, n, layer,
							   flags);
}

static void get_attr(fuse_req_t req, struct lfs *fs, struct node *n,
		     unsigned int cmd, size_t size)
{
	union {
		int flags;
		struct fsxattr fsx;
	} v = { 0 };
	int fd = open_for_ioctl(fs, n, node_layer(n));
	int r = fd < 0 ? fd : ioctl(fd, cmd, &v) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_ioctl(req, 0, &v, size);
}

static void set_attr(fuse_req_t req, struct lfs *fs, struct node *n,
		     unsigned int cmd, const void *in)
{
	unsigned xprotect = FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND;
	bool protects = cmd == FS_IOC_SETFLAGS
				? (*(const int *)in & FILEATTR_PROTECT) != 0
				: (((const struct fsxattr *)in)->fsx_xflags &
				   xprotect) != 0;
	int r = 0;
	if (!lfs_has_upper(fs) || fs->opt->read_only)
		r = -EROFS;
	if (r == 0)
		r = copy_up_protected(fs, n,
				      protects && !node_is_dir(n) ? CU_DATA
								  : CU_META,
				      FILEATTR_PROTECT);
	creds_as_daemon();
	int fd = r < 0 ? r : open_for_ioctl(fs, n, fs->upper);
	r = fd < 0 ? fd : ioctl(fd, cmd, in) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

/* The inode flags statx reports, as FS_*_FL. */
static unsigned flags_of(const struct statx *stx)
{
	uint64_t set = stx->stx_attributes & stx->stx_attributes_mask;
	return (set & STATX_ATTR_IMMUTABLE ? FS_IMMUTABLE_FL : 0) |
	       (set & STATX_ATTR_APPEND ? FS_APPEND_FL : 0) |
	       (set & STATX_ATTR_NODUMP ? FS_NODUMP_FL : 0);
}

int fileattr_carried(struct lfs *fs, struct node *n, int layer,
		     unsigned *flags)
{
	struct statx stx;
	int r;
	*flags = 0;
	if (node_reached_by_name(fs, n, layer)) {
		char name[NAME_MAX + 1];
		int dfd = node_parent_fd(fs, n, layer, name);
		if (dfd < 0)
			return dfd;
		r = statx(dfd, name, AT_SYMLINK_NOFOLLOW, 0, &stx) < 0 ? -errno
									: 0;
		node_parent_fd_done(fs, dfd);
	} else {
		int fd = node_open(fs, n, layer, O_PATH);
		if (fd < 0)
			return fd;
		r = statx(fd, "", AT_EMPTY_PATH, 0, &stx) < 0 ? -errno : 0;
		close(fd);
	}
	if (r < 0)
		return r;
	*flags = flags_of(&stx);
	return 0;
}

static bool in_initial_user_ns(void)
{
	FILE *f = fopen("/proc/self/uid_map", "re");
	unsigned long inner, outer, count;
	bool initial = f && fscanf(f, "%lu %lu %lu", &inner, &outer,
				   &count) == 3 &&
		       inner == 0 && outer == 0 && count == 4294967295ul;
	if (f)
		fclose(f);
	return initial;
}

bool fileattr_may_protect(void)
{
	static int known; /* 1 yes, -1 no, 0 not asked yet */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	if (k == 0) {
		struct __user_cap_header_struct hdr = {
			_LINUX_CAPABILITY_VERSION_3, 0
		};
		struct __user_cap_data_struct data[2] = { { 0 } };
		bool cap = syscall(SYS_capget, &hdr, data) == 0 &&
			   (data[CAP_LINUX_IMMUTABLE / 32].effective &
			    (1u << (CAP_LINUX_IMMUTABLE % 32)));
		k = cap && in_initial_user_ns() ? 1 : -1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k > 0;
}

int fileattr_protected(struct lfs *fs, struct node *n)
{
	int layer = node_layer(n);
	if (node_flags(n) & N_ROOT)
		return 0;
	unsigned flags;
	/* An error here is the operation's to meet. */
	if (fileattr_carried(fs, n, layer, &flags) < 0)
		return 0;
	return flags & FILEATTR_PROTECT ? -EPERM : 0;
}

int fileattr_lift(int dirfd, const char *name, unsigned *lifted)
{
	struct statx stx;
	*lifted = 0;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, 0, &stx) < 0 ||
	    !S_ISREG(stx.stx_mode) || !(flags_of(&stx) & FILEATTR_PROTECT))
		return -1;
	int fd = openat(dirfd, name,
			O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	int now = 0;
	if (fd < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &now) < 0 ||
	    ioctl(fd, FS_IOC_SETFLAGS,
		  &(int){ now & ~(int)FILEATTR_PROTECT }) < 0) {
		close(fd);
		return -1;
	}
	*lifted = (unsigned)now & FILEATTR_PROTECT;
	return fd;
}

void fileattr_restore(int fd, unsigned lifted)
{
	if (fd < 0)
		return;
	fileattr_apply(fd, lifted);
	close(fd);
}

int fileattr_apply(int fd, unsigned flags)
{
	int now = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &now) < 0 ||
	    ioctl(fd, FS_IOC_SETFLAGS, &(int){ now | (int)flags }) < 0)
		return errno == ENOTTY || errno == EOPNOTSUPP ? 0 : -errno;
	return 0;
}

void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	      size_t in_bufsz, size_t out_bufsz)
{
	(void)arg;
	(void)fi;
	struct lfs *fs = lfs_from_req(req);
	size_t size = cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_SETFLAGS
			      ? sizeof(int)
		      : cmd == FS_IOC_FSGETXATTR || cmd == FS_IOC_FSSETXATTR
			      ? sizeof(struct fsxattr)
			      : 0;
	bool get = cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_FSGETXATTR;
	if (size == 0 || (flags & FUSE_IOCTL_COMPAT) ||
	    (get ? out_bufsz < size : in_bufsz < size)) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	struct node *n = node_from_ino(fs, ino);
	node_ref(n);
	if (get)
		get_attr(req, fs, n, cmd, size);
	else
		set_attr(req, fs, n, cmd, in_buf);
	node_unref(fs, n);
}
