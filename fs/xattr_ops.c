/*
 * Extended attributes through the mount.  Reads go to the layer holding
 * the node; changes copy up metadata only.  layerfs's and overlayfs's own
 * bookkeeping names are neither listed, read nor settable
 * (xattr_private.h).  POSIX ACLs are ordinary xattrs here
 * (system.posix_acl_*); with FUSE_CAP_POSIX_ACL the kernel enforces them.
 */
#include "xattr_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "copy_up.h"
#include "creds.h"
#include "node.h"
#include "xattr_private.h"

/* The real file's path through /proc (xattr calls need no open). */
static int proc_open(struct lfs *fs, struct node *n, int layer, char *buf,
		     size_t size, int *fd)
{
	*fd = node_open(fs, n, layer, O_PATH);
	if (*fd < 0)
		return *fd;
	snprintf(buf, size, "/proc/self/fd/%d", *fd);
	return 0;
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size)
{
	struct lfs *fs = lfs_from_req(req);
	if (fs->opt->noxattrs) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (xp_is_private(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	struct node *n = node_from_ino(fs, ino);
	char path[64];
	int fd;
	node_ref(n);
	int r = proc_open(fs, n, node_layer(n), path, sizeof(path), &fd);
	node_unref(fs, n);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (size == 0) {
		ssize_t len = getxattr(path, name, NULL, 0);
		int e = errno;
		close(fd);
		if (len < 0)
			fuse_reply_err(req, e);
		else
			fuse_reply_xattr(req, (size_t)len);
		return;
	}
	char *buf = malloc(size);
	if (!buf) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t len = getxattr(path, name, buf, size);
	int e = errno;
	close(fd);
	if (len < 0)
		fuse_reply_err(req, e);
	else
		fuse_reply_buf(req, buf, (size_t)len);
	free(buf);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct lfs *fs = lfs_from_req(req);
	if (fs->opt->noxattrs) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	struct node *n = node_from_ino(fs, ino);
	char path[64];
	int fd;
	node_ref(n);
	int r = proc_open(fs, n, node_layer(n), path, sizeof(path), &fd);
	node_unref(fs, n);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	ssize_t len = listxattr(path, NULL, 0);
	char *list = NULL;
	if (len > 0) {
		list = malloc((size_t)len);
		len = list ? listxattr(path, list, (size_t)len) : -1;
	}
	int e = errno;
	close(fd);
	if (len < 0) {
		free(list);
		fuse_reply_err(req, list ? e : ENOMEM);
		return;
	}
	/* Filter our own names out, in place. */
	size_t out = 0;
	for (ssize_t i = 0; i < len;) {
		size_t l = strlen(list + i) + 1;
		if (!xp_is_private(list + i)) {
			memmove(list + out, list + i, l);
			out += l;
		}
		i += (ssize_t)l;
	}
	if (size == 0)
		fuse_reply_xattr(req, out);
	else if (out > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, out);
	free(list);
}

static int change_prepare(struct lfs *fs, struct node *n, const char *name)
{
	if (fs->opt->noxattrs)
		return -ENOTSUP;
	if (!lfs_has_upper(fs) || fs->opt->read_only)
		return -EROFS;
	if (xp_is_private(name))
		return -EPERM;
	int r = copy_up(fs, n, CU_META);
	creds_as_daemon();
	return r;
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	char path[64];
	int fd = -1;
	node_ref(n);
	int r = change_prepare(fs, n, name);
	if (r == 0)
		r = proc_open(fs, n, fs->upper, path, sizeof(path), &fd);
	if (r == 0 && setxattr(path, name, value, size, flags) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	node_unref(fs, n);
	fuse_reply_err(req, -r);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	char path[64];
	int fd = -1;
	node_ref(n);
	int r = change_prepare(fs, n, name);
	if (r == 0)
		r = proc_open(fs, n, fs->upper, path, sizeof(path), &fd);
	if (r == 0 && removexattr(path, name) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	node_unref(fs, n);
	fuse_reply_err(req, -r);
}
