/*
 * Extended attributes through the mount.  Reads go to the layer holding
 * the node; changes copy up metadata only.  layerfs's and overlayfs's own
 * bookkeeping names are neither listed, read nor settable
 * (xattr_private.h).  POSIX ACLs are ordinary xattrs here
 * (system.posix_acl_*); with FUSE_CAP_POSIX_ACL the kernel enforces them.
 *
 * Most files carry no xattr at all, yet `ls -l` asks for two per file
 * (security.selinux, system.posix_acl_access) and the kernel asks for
 * security.capability before writes.  A node remembers when it has none
 * (N_NOXATTR): lower files never change and upper ones change only
 * through the mount, which forgets the mark on every change.
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

/* A path to the real file through /proc: xattr calls need no open. */
struct real_path {
	char path[64];
	int fd;
};

static int real_path_open(struct lfs *fs, struct node *n, int layer,
			  struct real_path *rp)
{
	rp->fd = node_open(fs, n, layer, O_PATH);
	if (rp->fd < 0)
		return rp->fd;
	snprintf(rp->path, sizeof(rp->path), "/proc/self/fd/%d", rp->fd);
	return 0;
}

static void real_path_close(struct real_path *rp)
{
	if (rp->fd >= 0)
		close(rp->fd);
	rp->fd = -1;
}

/*
 * The visible names of the real file (private ones filtered out), as a
 * malloc'd NUL-separated list.  Learns N_NOXATTR when there are none.
 */
static ssize_t visible_names(struct node *n, const char *path, char **out)
{
	*out = NULL;
	ssize_t len = listxattr(path, NULL, 0);
	if (len < 0)
		return errno == ENOTSUP ? 0 : -errno;
	char *list = NULL;
	if (len > 0) {
		list = malloc((size_t)len);
		if (!list)
			return -ENOMEM;
		len = listxattr(path, list, (size_t)len);
		if (len < 0) {
			int e = errno;
			free(list);
			return -e;
		}
	}
	size_t keep = 0;
	for (ssize_t i = 0; i < len;) {
		size_t l = strlen(list + i) + 1;
		if (!xp_is_private(list + i)) {
			memmove(list + keep, list + i, l);
			keep += l;
		}
		i += (ssize_t)l;
	}
	if (keep == 0)
		node_set_flag(n, N_NOXATTR);
	*out = list;
	return (ssize_t)keep;
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size)
{
	struct lfs *fs = lfs_from_req(req);
	if (fs->opt->noxattrs) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	struct node *n = node_from_ino(fs, ino);
	if (xp_is_private(name) || (node_flags(n) & N_NOXATTR)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	struct real_path rp;
	char *buf = NULL;
	ssize_t len = -1;
	node_ref(n);
	int err = -real_path_open(fs, n, node_layer(n), &rp);
	if (err == 0 && size > 0 && !(buf = malloc(size)))
		err = ENOMEM;
	if (err == 0) {
		len = getxattr(rp.path, name, buf, size);
		err = len < 0 ? errno : 0;
	}
	if (err == ENODATA) {
		/* Not there: one listxattr tells whether the file carries
		 * any xattr at all, and a node with none is never asked
		 * again (visible_names sets N_NOXATTR). */
		char *list;
		if (visible_names(n, rp.path, &list) >= 0)
			free(list);
	}
	if (err == 0 && size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if (err == 0)
		fuse_reply_buf(req, buf, (size_t)len);
	real_path_close(&rp);
	node_unref(fs, n);
	free(buf);
	if (err)
		fuse_reply_err(req, err);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct lfs *fs = lfs_from_req(req);
	if (fs->opt->noxattrs) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	struct node *n = node_from_ino(fs, ino);
	if (node_flags(n) & N_NOXATTR) {
		if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	struct real_path rp;
	char *list = NULL;
	node_ref(n);
	ssize_t len = real_path_open(fs, n, node_layer(n), &rp);
	if (len == 0)
		len = visible_names(n, rp.path, &list);
	real_path_close(&rp);
	node_unref(fs, n);
	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if ((size_t)len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, (size_t)len);
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

static void change_xattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags,
			 bool remove)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	struct real_path rp = { .fd = -1 };
	node_ref(n);
	int r = change_prepare(fs, n, name);
	if (r == 0)
		r = real_path_open(fs, n, fs->upper, &rp);
	if (r == 0) {
		int rr = remove ? removexattr(rp.path, name)
				: setxattr(rp.path, name, value, size, flags);
		r = rr < 0 ? -errno : 0;
	}
	/* Whatever happened, the file's xattrs must be asked again. */
	node_clear_flag(n, N_NOXATTR);
	real_path_close(&rp);
	node_unref(fs, n);
	fuse_reply_err(req, -r);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	change_xattr(req, ino, name, value, size, flags, false);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	change_xattr(req, ino, name, NULL, 0, 0, true);
}
