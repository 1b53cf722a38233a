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

#define OVR_CONTAINERS "user.containers.override_stat"
#define OVR_PRIVILEGED "security.fuseoverlayfs.override_stat"
#define OVR_FUSE_USER "user.fuseoverlayfs.override_stat"

const char *override_xattr_name(const struct lfs *fs)
{
	switch (fs->opt->xattr_permissions) {
	case 1:
		return OVR_PRIVILEGED;
	case 2:
		return OVR_CONTAINERS;
	default:
		return NULL;
	}
}

static int parse_num(const char **p, const char *end, int base,
		     unsigned long long *out)
{
	const char *s = *p;
	if (s >= end || *s < '0' || *s > '9')
		return -EINVAL;
	unsigned long long v = 0;
	while (s < end && *s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (d >= (unsigned)base || v > (UINT32_MAX - d) / (unsigned)base)
			return -EINVAL;
		v = v * (unsigned)base + d;
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

static bool eat(const char **p, const char *end, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(end - *p) >= n && memcmp(*p, word, n) == 0) {
		*p += n;
		return true;
	}
	return false;
}

int override_parse(const char *value, size_t len, struct override_stat *o)
{
	const char *p = value, *end = value + len;
	while (end > p && (end[-1] == 0 || end[-1] == '\n'))
		end--;
	unsigned long long uid, gid, mode;
	memset(o, 0, sizeof(*o));
	if (parse_num(&p, end, 10, &uid) < 0 || !eat(&p, end, ":") ||
	    parse_num(&p, end, 10, &gid) < 0 || !eat(&p, end, ":") ||
	    parse_num(&p, end, 8, &mode) < 0)
		return -EINVAL;
	o->uid = (uid_t)uid;
	o->gid = (gid_t)gid;
	o->mode = (mode_t)mode & 07777;
	if (p == end)
		return 0;
	if (!eat(&p, end, ":"))
		return -EINVAL;
	o->has_type = true;
	unsigned long long maj = 0, min = 0;
	if (eat(&p, end, "dir"))
		o->mode |= S_IFDIR;
	else if (eat(&p, end, "file"))
		o->mode |= S_IFREG;
	else if (eat(&p, end, "symlink"))
		o->mode |= S_IFLNK;
	else if (eat(&p, end, "pipe"))
		o->mode |= S_IFIFO;
	else if (eat(&p, end, "socket"))
		o->mode |= S_IFSOCK;
	else if (eat(&p, end, "block-") || eat(&p, end, "char-")) {
		bool block = p[-2] == 'k'; /* "block-" vs "char-" */
		o->mode |= block ? S_IFBLK : S_IFCHR;
		if (parse_num(&p, end, 10, &maj) < 0 || !eat(&p, end, "-") ||
		    parse_num(&p, end, 10, &min) < 0)
			return -EINVAL;
		o->rdev = makedev((unsigned)maj, (unsigned)min);
	} else {
		return -EINVAL;
	}
	return p == end ? 0 : -EINVAL;
}

int override_format(char *buf, size_t size, const struct override_stat *o)
{
	int n = snprintf(buf, size, "%u:%u:0%o", (unsigned)o->uid,
			 (unsigned)o->gid, (unsigned)(o->mode & 07777));
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (!o->has_type)
		return n;
	const char *t = NULL;
	switch (o->mode & S_IFMT) {
	case S_IFDIR:
		t = "dir";
		break;
	case S_IFREG:
		t = "file";
		break;
	case S_IFLNK:
		t = "symlink";
		break;
	case S_IFIFO:
		t = "pipe";
		break;
	case S_IFSOCK:
		t = "socket";
		break;
	case S_IFBLK:
	case S_IFCHR:
		n += snprintf(buf + n, size - (size_t)n, ":%s-%u-%u",
			      S_ISBLK(o->mode) ? "block" : "char",
			      major(o->rdev), minor(o->rdev));
		return (size_t)n < size ? n : -ENAMETOOLONG;
	}
	if (t)
		n += snprintf(buf + n, size - (size_t)n, ":%s", t);
	return (size_t)n < size ? n : -ENAMETOOLONG;
}

static ssize_t read_any(const char *path, const char *primary, char *buf,
			size_t size)
{
	ssize_t n = getxattr(path, primary, buf, size);
	if (n < 0 && errno == ENODATA)
		n = getxattr(path, OVR_FUSE_USER, buf, size);
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
	return override_parse(buf, (size_t)n, o);
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
	int len = override_format(buf, sizeof(buf), o);
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
	view &= 07777;
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
