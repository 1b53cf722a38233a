#include "tmpfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy_up.h"
#include "creds.h"
#include "dcache.h"
#include "dir.h"
#include "fileattr.h"
#include "file.h"
#include "inode.h"
#include "node_reach.h"

/* The node of a new unnamed file: filed under TMPFILE_NAME only long
 * enough to join the table's list of nodes without a name (unhashed,
 * as an open file whose name went), and reached through an O_PATH fd
 * of the file.  Referenced in *out. */
static int unnamed_node(struct lfs *fs, struct node *dir, int fd,
			const struct stat *st, struct node **out)
{
	uint64_t ino = lfs_compose_ino(fs, fs->upper, st->st_ino);
	struct node *n = node_new(dir, TMPFILE_NAME, (uint16_t)fs->upper,
				  st->st_mode, ino);
	if (!n)
		return -ENOMEM;
	n->end = (uint16_t)(fs->upper + 1);
	struct node_ext *e = node_ext(n);
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int ofd = e ? open(proc, O_PATH | O_CLOEXEC) : -1;
	if (ofd < 0) {
		int r = e ? -errno : -ENOMEM;
		node_discard(n);
		return r;
	}
	e->orphan_fd = ofd;
	/* Two unnamed files of one directory must not meet under the
	 * name: the directory's lock holds it for one at a time. */
	dir_wrlock(dir);
	struct node *in = node_insert(fs, n);
	if (in == n)
		node_unhash(fs, n);
	dir_unlock(dir);
	if (in != n) {
		node_unref(fs, in);
		return -EIO; /* a node of that name: never made elsewhere */
	}
	*out = n;
	return 0;
}

/* Opens the unnamed file in dir's upper copy as the caller. */
static int open_unnamed(struct lfs *fs, fuse_req_t req, struct node *dir,
			mode_t mode, int open_flags)
{
	int pfd = node_open(fs, dir, fs->upper, O_RDONLY | O_DIRECTORY);
	if (pfd < 0)
		return pfd;
	/* Linkable, whatever the caller asked: the kernel refuses link(2)
	 * of a file opened with O_EXCL before it reaches the daemon. */
	int flags = (file_upper_flags(fs, open_flags) &
		     ~(O_TMPFILE | O_NOFOLLOW | O_TRUNC | O_EXCL)) |
		    O_TMPFILE;
	int r = creds_as_caller(fs, req);
	int fd = r < 0 ? -1 : openat(pfd, ".", flags, mode & 07777);
	if (r == 0)
		r = fd < 0 ? -errno : fd;
	creds_as_daemon();
	close(pfd);
	return r;
}

void tmpfile_create(fuse_req_t req, fuse_ino_t parent, mode_t mode,
		    struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *dir = node_from_ino(fs, parent);
	struct node *n = NULL;
	struct stat st;
	int fd = -1;
	node_ref(dir);
	int r = lfs_has_upper(fs) && !fs->opt->read_only
			? fileattr_dir_refuses(fs, dir, false)
			: -EROFS;
	if (r == 0)
		r = copy_up(fs, dir, CU_META);
	if (r == 0)
		r = fd = open_unnamed(fs, req, dir, mode, fi->flags);
	if (r >= 0)
		r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0)
		r = record_override(fs, req, dir, fd, S_IFREG);
	if (r == 0)
		r = unnamed_node(fs, dir, fd, &st, &n);
	node_unref(fs, dir);
	if (r == 0) {
		r = file_handle_new(fs, n, fd, true,
				    (fi->flags & O_ACCMODE) != O_RDONLY, fi);
		if (r == 0)
			fd = -1; /* the handle's now */
	}
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		if (n)
			node_unref(fs, n);
		fuse_reply_err(req, -r);
		return;
	}
	inode_present(fs, n, &st);
	file_reply_created(fs, req, fi, n, &st);
}
