#include "xattr_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layerfs.h"
#include "lower_id.h"
#include "node.h"
#include "private_xattr.h"
#include "whiteout.h"

bool xp_is_private(const char *name)
{
	return lf_xattr_is_bookkeeping(name);
}

ssize_t xp_get(const char *path, bool follow, const char *name, void *buf,
	       size_t size)
{
	return follow ? getxattr(path, name, buf, size)
		      : lgetxattr(path, name, buf, size);
}

void xp_proc_path(char *buf, size_t size, int dirfd, const char *name)
{
	snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);
}

bool xp_list_has(const char *list, ssize_t len, const char *name)
{
	return wh_xattr_list_has(list, len, name);
}

/* Kernel overlayfs's mark of a directory it renamed. */
#define XATTR_TRUSTED_OVL_REDIRECT "trusted.overlay.redirect"

/* Whether a lower directory carries any of kernel overlayfs's marks
 * (impure, opaque, origin, redirect ...): written by the kernel, its
 * files may be the kernel's metadata-only copies.  Its impure mark
 * alone misses some (a directory made opaque, then given a renamed
 * copy), and a copy's own xattrs may take a block of their own, so that
 * its blocks do not give it away either. */
bool xp_kernel_marked(const char *list, ssize_t len, bool user)
{
	static const char trusted[] = "trusted.overlay.";
	static const char userp[] = "user.overlay.";
	for (const char *p = list; p < list + len; p += strlen(p) + 1)
		if (!strncmp(p, trusted, sizeof(trusted) - 1) ||
		    (user && !strncmp(p, userp, sizeof(userp) - 1)))
			return true;
	return false;
}

/*
 * The xattr names of fd, or of path where fd is -1, into buf (size
 * bytes) or, where they do not fit (tmpfs, XFS and btrfs take lists far
 * longer than a page; a copy-up copies them all), into *heap, which the
 * caller frees: *names points at them.  Their length, or -1 with errno.
 */
static ssize_t list_names(int fd, const char *path, char *buf, size_t size,
			  char **heap, const char **names)
{
	*heap = NULL;
	*names = buf;
	ssize_t len = fd >= 0 ? flistxattr(fd, buf, size)
			      : llistxattr(path, buf, size);
	/* The list may grow between asking its size and reading it. */
	for (int tries = 0; len < 0 && errno == ERANGE && tries < 4; tries++) {
		ssize_t need = fd >= 0 ? flistxattr(fd, NULL, 0)
				       : llistxattr(path, NULL, 0);
		if (need < 0)
			return -1;
		free(*heap);
		if (!(*heap = malloc((size_t)need + 1))) {
			errno = ENOMEM;
			return -1;
		}
		*names = *heap;
		len = fd >= 0 ? flistxattr(fd, *heap, (size_t)need + 1)
			      : llistxattr(path, *heap, (size_t)need + 1);
	}
	return len;
}

static int dir_marks_from(struct lfs *fs, int dirfd, bool is_upper,
			  const char *list, ssize_t len, struct dir_marks *m);

int xp_dir_marks(struct lfs *fs, int dirfd, bool is_upper,
		 struct dir_marks *m)
{
	*m = (struct dir_marks){ false, NULL, NULL };
	char buf[4096], *heap;
	const char *list;
	ssize_t len = list_names(dirfd, NULL, buf, sizeof(buf), &heap, &list);
	int r = len > 0 ? dir_marks_from(fs, dirfd, is_upper, list, len, m)
			: 0;
	free(heap);
	return r;
}

static int dir_marks_from(struct lfs *fs, int dirfd, bool is_upper,
			  const char *list, ssize_t len, struct dir_marks *m)
{
	bool user = fs->opt->userxattr;
	if (is_upper ? xp_list_has(list, len, XATTR_LFS_IMPURE)
		     : xp_kernel_marked(list, len, user))
		m->impure = true;
	/* user.overlay.redirect is never followed (redirect_kernel_value). */
	if (!is_upper && xp_list_has(list, len, XATTR_TRUSTED_OVL_REDIRECT))
		m->kernel_redirect = XATTR_TRUSTED_OVL_REDIRECT;
	if (!wh_xattr_list_has_opaque(list, len))
		return 0;
	if (!is_upper)
		m->xwhiteout = wh_dir_xwhiteout_attr(dirfd, list, len);
	return wh_fd_has_opaque_xattr(dirfd) > 0;
}

struct origin_rec {
	uint32_t magic;
	uint32_t version;
	uint64_t dev;
	uint64_t ino;
};
#define ORIGIN_MAGIC 0x4c465330u /* "LFS0" */
/* Version 2: the record of the lower file copied (lower_id.h) follows,
 * as text without its NUL. */
#define ORIGIN_WITH_ID 2

int xp_read_origin_id_at(int dirfd, const char *name, dev_t *dev,
			 uint64_t *ino, char *id)
{
	char path[64 + NAME_MAX];
	xp_proc_path(path, sizeof(path), dirfd, name);
	union {
		struct origin_rec o;
		char buf[sizeof(struct origin_rec) + LOWER_ID_MAX];
	} v;
	ssize_t n = lgetxattr(path, XATTR_LFS_ORIGIN, &v, sizeof(v));
	if (n < (ssize_t)sizeof(v.o) || v.o.magic != ORIGIN_MAGIC)
		return -ENODATA;
	*dev = (dev_t)v.o.dev;
	*ino = v.o.ino;
	if (id) {
		size_t len = (size_t)n - sizeof(v.o);
		if (v.o.version < ORIGIN_WITH_ID || len >= LOWER_ID_MAX)
			len = 0;
		memcpy(id, v.buf + sizeof(v.o), len);
		id[len] = 0;
	}
	return 0;
}

int xp_read_origin_raw_at(int dirfd, const char *name, dev_t *dev,
			  uint64_t *ino)
{
	return xp_read_origin_id_at(dirfd, name, dev, ino, NULL);
}

int xp_read_origin_at(struct lfs *fs, int dirfd, const char *name,
		      uint64_t *ino)
{
	dev_t dev;
	uint64_t raw;
	if (xp_read_origin_raw_at(dirfd, name, &dev, &raw) < 0)
		return -ENODATA;
	uint64_t v = lfs_compose_ino_dev(fs, dev, raw);
	if (!v)
		return -ENODATA;
	*ino = v;
	return 0;
}

int xp_set_origin(int fd, dev_t dev, uint64_t ino, const char *id)
{
	size_t len = id ? strlen(id) : 0;
	if (len >= LOWER_ID_MAX)
		len = 0;
	union {
		struct origin_rec o;
		char buf[sizeof(struct origin_rec) + LOWER_ID_MAX];
	} v = { .o = { ORIGIN_MAGIC, len ? ORIGIN_WITH_ID : 1, (uint64_t)dev,
		       ino } };
	memcpy(v.buf + sizeof(v.o), id ? id : "", len);
	return fsetxattr(fd, XATTR_LFS_ORIGIN, &v, sizeof(v.o) + len, 0) < 0
		       ? -errno
		       : 0;
}

int xp_get_string_at(int dirfd, const char *name, const char *xattr,
		     char **out)
{
	char path[64 + NAME_MAX];
	xp_proc_path(path, sizeof(path), dirfd, name);
	char buf[PATH_MAX + 1];
	ssize_t n = lgetxattr(path, xattr, buf, sizeof(buf) - 1);
	if (n < 0) {
		if (errno != ERANGE)
			return -errno;
		/* Longer than PATH_MAX: ask for the size, then read. */
		n = lgetxattr(path, xattr, NULL, 0);
		if (n < 0)
			return -errno;
		char *big = malloc((size_t)n + 1);
		if (!big)
			return -ENOMEM;
		ssize_t m = lgetxattr(path, xattr, big, (size_t)n);
		if (m < 0) {
			free(big);
			return -errno;
		}
		big[m] = 0;
		*out = big;
		return 0;
	}
	buf[n] = 0;
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

unsigned xp_marks_at(int dirfd, const char *name)
{
	char path[64 + NAME_MAX];
	xp_proc_path(path, sizeof(path), dirfd, name);
	char buf[4096], *heap;
	const char *list;
	ssize_t len = list_names(-1, path, buf, sizeof(buf), &heap, &list);
	unsigned f = 0;
	if (len > 0 && xp_list_has(list, len, XATTR_LFS_REDIRECT))
		f |= N_REDIRECT;
	if (len > 0 && xp_list_has(list, len, XATTR_LFS_METACOPY))
		f |= N_METACOPY;
	if (len > 0 && xp_list_has(list, len, XATTR_LFS_ORIGIN))
		f |= N_ORIGIN_SET;
	if (len > 0 && xp_list_has(list, len, XATTR_LFS_PROTATTR))
		f |= XP_PROTATTR;
	free(heap);
	return f;
}

int xp_set_string(int fd, const char *xattr, const char *value)
{
	return fsetxattr(fd, xattr, value, strlen(value), 0) < 0 ? -errno : 0;
}

int xp_remove(int fd, const char *xattr)
{
	if (fremovexattr(fd, xattr) < 0 && errno != ENODATA)
		return -errno;
	return 0;
}

int xp_set_impure(int dirfd)
{
	/* fsetxattr refuses O_PATH fds; go through /proc. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
	if (setxattr(path, XATTR_LFS_IMPURE, "y", 1, 0) < 0)
		return -errno;
	return 0;
}
