#include "override.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lf_common.h"
#include "node_reach.h"

const char *override_xattr_name(const struct lfs *fs)
{
	switch (fs->opt->xattr_permissions) {
	case 1:
		return OVERRIDE_STAT_PRIVILEGED;
	case 2:
		return OVERRIDE_STAT_CONTAINERS;
	default:
		return NULL;
	}
}

static ssize_t read_any(const char *path, const char *primary, char *buf,
			size_t size)
{
	ssize_t n = getxattr(path, primary, buf, size);
	if (n < 0 && errno == ENODATA)
		n = getxattr(path, OVERRIDE_STAT_FUSE_USER, buf, size);
	return n;
}

int override_load(struct lfs *fs, int fd, struct override_stat *o)
{
	const char *name = override_xattr_name(fs);
	if (!name)
		return -ENODATA;
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = read_any(path, name, buf, sizeof(buf) - 1);
	if (n < 0)
		return errno == ENOTSUP ? -ENODATA : -errno;
	return override_stat_parse(buf, (size_t)n, o);
}

void override_present(struct lfs *fs, struct node *n, struct stat *st)
{
	if (!override_xattr_name(fs))
		return;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return;
	int fd = node_open(fs, n, node_layer(n), O_PATH);
	if (fd < 0)
		return;
	struct override_stat o;
	int r = override_load(fs, fd, &o);
	close(fd);
	if (r < 0)
		return;
	st->st_uid = o.uid;
	st->st_gid = o.gid;
	if (o.has_type) {
		st->st_mode = o.mode;
		st->st_rdev = o.rdev;
	} else {
		st->st_mode = (st->st_mode & S_IFMT) | (o.mode & 07777);
	}
}

int override_store(struct lfs *fs, int fd, const struct override_stat *o)
{
	const char *name = override_xattr_name(fs);
	if (!name)
		return -ENOTSUP;
	char path[64], buf[128];
	int len = override_stat_format(buf, sizeof(buf), o);
	if (len < 0)
		return len;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return setxattr(path, name, buf, (size_t)len, 0) < 0 ? -errno : 0;
}

int override_copy_owner(struct lfs *fs, int src_fd, int dst_fd,
			const struct stat *st)
{
	if (!override_xattr_name(fs))
		return fchown(dst_fd, st->st_uid, st->st_gid) < 0 ? -errno : 0;
	/* Keep the recorded owner if there is one, else record the real
	 * owner (which is all the view knew). */
	struct override_stat o;
	if (override_load(fs, src_fd, &o) < 0) {
		o = (struct override_stat){ .uid = st->st_uid,
					    .gid = st->st_gid,
					    .mode = st->st_mode & 07777 };
	}
	return override_store(fs, dst_fd, &o);
}

/* The permitted set, not the effective one: a worker acting as a
 * caller (setfsuid) has its effective file capabilities dropped for the
 * moment. */
static bool daemon_bypasses_permissions(void)
{
	static int known = -1;   /* computed once; a race computes it twice */
	if (known < 0) {
		struct __user_cap_header_struct hdr = {
			.version = _LINUX_CAPABILITY_VERSION_3
		};
		struct __user_cap_data_struct data[2] = { { 0 } };
		known = syscall(SYS_capget, &hdr, data) == 0 &&
			(data[0].permitted & (1u << CAP_DAC_OVERRIDE));
	}
	return known;
}

mode_t override_real_mode(mode_t view, mode_t type)
{
	/* Never the set-id bits: the real file belongs to the daemon (or
	 * to whoever made it), not to the owner the view shows, and a
	 * set-user-id file of root's in the upper directory is root's
	 * program on the host.  A directory's set-group-id bit gives its
	 * new entries its real group, which the override replaces anyway. */
	view &= 07777 & ~(mode_t)(S_ISUID | S_ISGID);
	if (daemon_bypasses_permissions())
		return view;
	return view | (S_ISDIR(type) ? 0700 : 0600);
}

int override_take_acl_mode(struct lfs *fs, int fd, bool take, mode_t clear)
{
	struct stat real;
	struct override_stat o;
	int r = fstat(fd, &real) < 0 ? -errno : 0;
	if (r == 0 && (S_ISREG(real.st_mode) || S_ISDIR(real.st_mode)) &&
	    override_load(fs, fd, &o) == 0 && !o.has_type) {
		o.mode &= ~clear;
		if (take)
			o.mode = (o.mode & ~(mode_t)0777) |
				 (real.st_mode & 0777);
		r = override_store(fs, fd, &o);
	}
	return r;
}

int override_mknod(struct lfs *fs, int dirfd, const char *name, mode_t mode,
		   dev_t rdev)
{
	if (mknodat(dirfd, name, mode, rdev) == 0)
		return 0;
	int e = errno;
	if (e != EPERM || !override_xattr_name(fs) ||
	    !(S_ISCHR(mode) || S_ISBLK(mode)))
		return -e;
	/* No CAP_MKNOD here: a placeholder file that the view shows as the
	 * device, as fuse-overlayfs does.  Created with the device's
	 * permission bits, so that the caller's umask (or the parent's
	 * default ACL) applies to them as it would to the device; then
	 * readable and writable by the daemon. */
	int fd = openat(dirfd, name,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			mode & 07777);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	struct override_stat o = { .uid = 0, .gid = 0,
				   .mode = (mode & S_IFMT) | (st.st_mode & 07777),
				   .rdev = rdev, .has_type = true };
	if (r == 0 && fchmod(fd, 0600) < 0)
		r = -errno;
	if (r == 0)
		r = override_store(fs, fd, &o);
	close(fd);
	if (r < 0)
		unlinkat(dirfd, name, 0);
	return r;
}
