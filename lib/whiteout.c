#include "whiteout.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

enum wh_kind wh_classify_name(const char *name, const char **target)
{
	if (!wh_is_reserved(name))
		return WH_NONE;
	if (strcmp(name, WH_OPAQUE_NAME) == 0)
		return WH_OPAQUE;
	if (strncmp(name, WH_META_PREFIX, sizeof(WH_META_PREFIX) - 1) == 0)
		return WH_INTERNAL;
	const char *t = name + WH_PREFIX_LEN;
	if (t[0] == 0 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
		return WH_INTERNAL;
	if (target)
		*target = t;
	return WH_WHITEOUT;
}

int wh_dotwh_name(char *buf, size_t size, const char *name)
{
	size_t n = strlen(name);
	if (n + WH_PREFIX_LEN > NAME_MAX || n + WH_PREFIX_LEN + 1 > size)
		return -ENAMETOOLONG;
	memcpy(buf, WH_PREFIX, WH_PREFIX_LEN);
	memcpy(buf + WH_PREFIX_LEN, name, n + 1);
	return 0;
}

int wh_create_entry(int dirfd, const char *entry, enum wh_format fmt)
{
	if (fmt == WH_FORMAT_OVERLAY)
		return mknodat(dirfd, entry, S_IFCHR | 0, makedev(0, 0)) < 0
			       ? -errno
			       : 0;
	/* An empty, unreadable regular file, as the OCI spec and aufs use. */
	int fd = openat(dirfd, entry,
			O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			0);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int wh_create(int dirfd, const char *name, enum wh_format fmt)
{
	if (fmt == WH_FORMAT_OVERLAY)
		return wh_create_entry(dirfd, name, fmt);
	char wh[NAME_MAX + 1];
	int r = wh_dotwh_name(wh, sizeof(wh), name);
	if (r < 0)
		return r;
	return wh_create_entry(dirfd, wh, fmt);
}

int wh_make_opaque(int dirfd, enum wh_format fmt, const char *xattr_name)
{
	if (fmt == WH_FORMAT_OVERLAY) {
		/* fsetxattr needs a real fd, not O_PATH. */
		int fd = openat(dirfd, ".",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		int r = fsetxattr(fd, xattr_name, "y", 1, 0) < 0 ? -errno : 0;
		close(fd);
		return r;
	}
	/* O_EXCL: a marker already there (mode 0) cannot be opened again
	 * without CAP_DAC_OVERRIDE, and is all that is needed. */
	int fd = openat(dirfd, WH_OPAQUE_NAME,
			O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	close(fd);
	return 0;
}

const char *const wh_opaque_xattrs[WH_OPAQUE_XATTR_COUNT] = {
	XATTR_TRUSTED_OVL_OPAQUE,
	XATTR_USER_OVL_OPAQUE,
	XATTR_FUSE_OVL_OPAQUE,
};

bool wh_is_opaque_xattr(const char *name)
{
	for (size_t i = 0; i < WH_OPAQUE_XATTR_COUNT; i++)
		if (strcmp(name, wh_opaque_xattrs[i]) == 0)
			return true;
	return false;
}

int wh_fd_has_opaque_xattr(int fd)
{
	char list[4096];
	/* One listxattr tells us whether any candidate exists; most
	 * directories carry no xattrs at all, so this is one syscall. */
	ssize_t len = flistxattr(fd, list, sizeof(list));
	if (len < 0) {
		if (errno == ENOTSUP || errno == ERANGE)
			len = -1; /* fall back to asking for each name */
		else
			return -errno;
	}
	if (len == 0)
		return 0;
	for (size_t i = 0; i < WH_OPAQUE_XATTR_COUNT; i++) {
		const char *name = wh_opaque_xattrs[i];
		if (len > 0 && !wh_xattr_list_has(list, len, name))
			continue;
		char v[8];
		ssize_t n = fgetxattr(fd, name, v, sizeof(v));
		/* "x" (kernel 6.7+) marks a directory holding xattr
		 * whiteouts; it is not opaque. */
		if (n == 1 && v[0] == 'y')
			return 1;
	}
	return 0;
}

bool wh_xattr_list_has(const char *list, ssize_t len, const char *name)
{
	for (const char *p = list; p < list + len; p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			return true;
	return false;
}

bool wh_xattr_list_has_opaque(const char *list, ssize_t len)
{
	for (size_t i = 0; i < WH_OPAQUE_XATTR_COUNT; i++)
		if (wh_xattr_list_has(list, len, wh_opaque_xattrs[i]))
			return true;
	return false;
}

const char *wh_dir_xwhiteout_attr(int dirfd, const char *list, ssize_t len)
{
	static const struct {
		const char *opaque, *whiteout;
	} marks[] = {
		{ XATTR_TRUSTED_OVL_OPAQUE, XATTR_TRUSTED_OVL_WHITEOUT },
		{ XATTR_USER_OVL_OPAQUE, XATTR_USER_OVL_WHITEOUT },
	};
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		char v[2];
		if (wh_xattr_list_has(list, len, marks[i].opaque) &&
		    fgetxattr(dirfd, marks[i].opaque, v, sizeof(v)) == 1 &&
		    v[0] == 'x')
			return marks[i].whiteout;
	}
	return NULL;
}

const char *wh_fd_xwhiteout_attr(int dirfd)
{
	char list[4096];
	ssize_t len = flistxattr(dirfd, list, sizeof(list));
	return len > 0 ? wh_dir_xwhiteout_attr(dirfd, list, len) : NULL;
}

bool wh_is_xwhiteout(int dirfd, const char *name, const struct stat *st,
		     const char *attr)
{
	if (!attr || !S_ISREG(st->st_mode) || st->st_size != 0)
		return false;
	/* By name through /proc, not following it: no descriptor of the
	 * file is opened (fgetxattr takes none opened O_PATH). */
	char path[64 + NAME_MAX];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	return lgetxattr(path, attr, NULL, 0) >= 0;
}

int wh_format_parse(const char *s, enum wh_format *out)
{
	if (strcmp(s, "dotwh") == 0 || strcmp(s, "aufs") == 0 ||
	    strcmp(s, "oci") == 0) {
		*out = WH_FORMAT_DOTWH;
		return 0;
	}
	if (strcmp(s, "overlay") == 0 || strcmp(s, "chardev") == 0) {
		*out = WH_FORMAT_OVERLAY;
		return 0;
	}
	return -EINVAL;
}

const char *wh_format_name(enum wh_format fmt)
{
	return fmt == WH_FORMAT_OVERLAY ? "overlay" : "dotwh";
}
