/*
 * What a copy carries from one open file to another: its bytes, holes
 * kept, and its xattrs.  Used by copy-up (copy_up.c) and by the data a
 * metadata-only copy gets in place later; nothing here knows about
 * layers or nodes.
 */
#include "copy_data.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "acl_ids.h"
#include "xattr_private.h"

/* ---- data --------------------------------------------------------- */

static int copy_range_plain(int src, int dst, off_t off, off_t end)
{
	static const size_t bufsz = 1u << 20;
	char *buf = malloc(bufsz);
	if (!buf)
		return -ENOMEM;
	int r = 0;
	while (off < end) {
		size_t want = (size_t)(end - off) < bufsz ? (size_t)(end - off)
							  : bufsz;
		ssize_t n = pread(src, buf, want, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break; /* the source shrank: copy what there is */
		for (ssize_t w = 0; w < n;) {
			ssize_t k = pwrite(dst, buf + w, (size_t)(n - w),
					   off + w);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				free(buf);
				return -errno;
			}
			w += k;
		}
		off += n;
	}
	free(buf);
	return r;
}

static int copy_range(int src, int dst, off_t off, off_t end, bool *use_cfr)
{
	while (off < end && *use_cfr) {
		size_t chunk = (size_t)(end - off);
		if (chunk > (64u << 20))
			chunk = 64u << 20;
		loff_t in = off, out = off;
		ssize_t n = copy_file_range(src, &in, dst, &out, chunk, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EXDEV || errno == EINVAL ||
			    errno == ENOSYS || errno == EOPNOTSUPP ||
			    errno == EBADF) {
				*use_cfr = false;
				break;
			}
			return -errno;
		}
		if (n == 0)
			return 0;
		off += n;
	}
	if (off < end)
		return copy_range_plain(src, dst, off, end);
	return 0;
}

int copy_file_data(struct lfs *fs, int src, int dst, uint64_t len)
{
	uint64_t t0 = lfs_now_ns();
	if (len == 0)
		return 0;
	/* Shared extents: instant, and holes come along. */
	if (ioctl(dst, FICLONE, src) == 0) {
		/* The clone has the source's size: the copy may be less
		 * (copy_up_truncating). */
		if (ftruncate(dst, (off_t)len) < 0)
			return -errno;
		lfs_stat_add(&fs->stats.copyup_reflinked, len);
		lfs_stat_add(&fs->stats.copyup_ns, lfs_now_ns() - t0);
		return 0;
	}
	bool use_cfr = true;
	off_t off = 0, end = (off_t)len;
	uint64_t copied = 0;
	int r = 0;
	while (off < end) {
		off_t data = lseek(src, off, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break; /* only a hole is left */
			if (errno == EINVAL) {
				/* No hole support: copy everything. */
				r = copy_range(src, dst, off, end, &use_cfr);
				copied += (uint64_t)(end - off);
				break;
			}
			r = -errno;
			break;
		}
		if (data >= end)
			break;
		off_t hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		r = copy_range(src, dst, data, hole, &use_cfr);
		if (r < 0)
			break;
		copied += (uint64_t)(hole - data);
		off = hole;
	}
	/* The size, including a trailing hole. */
	if (r == 0 && ftruncate(dst, (off_t)len) < 0)
		r = -errno;
	lfs_stat_add(&fs->stats.copyup_bytes, copied);
	lfs_stat_add(&fs->stats.copyup_ns, lfs_now_ns() - t0);
	return r;
}

/* ---- xattrs ------------------------------------------------------- */

/* Names that must not travel with a copy-up. */
static bool skip_xattr(const char *name)
{
	return xp_is_private(name);
}

static void proc_fd_path(char *buf, size_t size, int fd)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* The source's xattrs, read through the fd itself when it is open for
 * I/O (no /proc walk per call), through its /proc path for O_PATH. */
struct xattr_src {
	int fd;
	bool by_path;
	char path[64];
};

static ssize_t src_list(struct xattr_src *x, char *list, size_t size)
{
	if (!x->by_path) {
		ssize_t r = flistxattr(x->fd, list, size);
		if (r >= 0 || errno != EBADF)
			return r;
		x->by_path = true; /* an O_PATH fd */
	}
	return listxattr(x->path, list, size);
}

static ssize_t src_get(struct xattr_src *x, const char *name, void *val,
		       size_t size)
{
	return x->by_path ? getxattr(x->path, name, val, size)
			  : fgetxattr(x->fd, name, val, size);
}

static int set_xattr(int fd, const char *path, bool by_path,
		     const char *name, const void *val, ssize_t len)
{
	return by_path ? setxattr(path, name, val, (size_t)len, 0)
		       : fsetxattr(fd, name, val, (size_t)len, 0);
}

int copy_xattrs(int src, int dst, bool dst_is_path_fd)
{
	char dp[64];
	struct xattr_src sx = { .fd = src };
	proc_fd_path(sx.path, sizeof(sx.path), src);
	proc_fd_path(dp, sizeof(dp), dst);
	ssize_t len = src_list(&sx, NULL, 0);
	if (len < 0)
		return errno == ENOTSUP ? 0 : -errno;
	if (len == 0)
		return 0;
	char *list = malloc((size_t)len);
	if (!list)
		return -ENOMEM;
	len = src_list(&sx, list, (size_t)len);
	if (len < 0) {
		int e = errno;
		free(list);
		return -e;
	}
	int r = 0;
	char *val = NULL;
	size_t vcap = 0;
	for (char *name = list; name < list + len; name += strlen(name) + 1) {
		if (skip_xattr(name))
			continue;
		ssize_t vl = src_get(&sx, name, NULL, 0);
		if (vl < 0)
			continue;
		if ((size_t)vl > vcap) {
			char *nv = realloc(val, (size_t)vl + 1);
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			val = nv;
			vcap = (size_t)vl;
		}
		vl = src_get(&sx, name, val, vcap);
		if (vl < 0)
			continue;
		int sr = set_xattr(dst, dp, dst_is_path_fd, name, val, vl);
		if (sr < 0 && errno == EINVAL && acl_is_acl_name(name)) {
			/* Rootless, an ACL naming ids the daemon's namespace
			 * does not map: the rest of it where that is safe.
			 * Otherwise no copy: without its ACL the file would
			 * give its group what the mask allows. */
			vl = acl_drop_unmapped(val, (size_t)vl);
			if (vl < 0) {
				r = -EPERM;
				break;
			}
			sr = set_xattr(dst, dp, dst_is_path_fd, name, val, vl);
		}
		if (sr < 0) {
			/* Attributes the upper filesystem cannot hold (a
			 * trusted.* name rootless, security.* a LSM refuses)
			 * are dropped, as cp -a does; anything else fails. */
			if (errno == ENOTSUP || errno == EPERM ||
			    errno == EACCES || errno == EOVERFLOW ||
			    errno == EINVAL)
				continue;
			r = -errno;
			break;
		}
	}
	free(val);
	free(list);
	return r;
}
