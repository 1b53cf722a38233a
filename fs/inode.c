#include "inode.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "copy_up.h"
#include "creds.h"
#include "index.h"
#include "metacopy.h"
#include "node_reach.h"
#include "override.h"
#include "udba.h"

/*
 * The count an indexed hard link shows: its mark, which an unlink lowers
 * just before it removes the name, so that a crash between the two
 * leaves it one too low.  It is never below what is certain: each link
 * of the upper inode but the index entry's own is a name, and a node
 * still reached by a name has one (a count of 0 there made link(2) of
 * the last name fail).  UPPER_NLINK is the upper inode's own count.
 */
static nlink_t index_nlink_shown(struct node *n, uint64_t mark,
				 nlink_t upper_nlink)
{
	uint64_t floor = upper_nlink > 0 ? upper_nlink - 1 : 0;
	if (floor == 0 && !(node_flags(n) & N_UNHASHED))
		floor = 1;
	return (nlink_t)(mark > floor ? mark : floor);
}

void inode_present(struct lfs *fs, struct node *n, struct stat *st)
{
	st->st_ino = node_ino(n);
	if (S_ISDIR(st->st_mode)) {
		/* Counting subdirectories of a merged directory would mean
		 * reading it in every layer; like kernel overlayfs, report 1
		 * ("unknown", which find and fts understand). */
		if (node_flags(n) & N_UNHASHED)
			st->st_nlink = 0; /* removed, still open (dir.c) */
		else if (fs->opt->static_nlink ||
			 (node_flags(n) & (N_MERGED | N_REDIRECT)))
			st->st_nlink = 1;
	} else if (node_flags(n) & N_HLINK) {
		uint64_t nl;
		if (index_nlink(fs, n, &nl) == 0)
			st->st_nlink = index_nlink_shown(n, nl, st->st_nlink);
	} else if ((node_flags(n) & N_UNHASHED) && st->st_nlink == 1 &&
		   !lfs_is_upper(fs, node_layer(n))) {
		/* A lower file whose only name went while it was open: no
		 * link left, as on a local filesystem (and as the kernel
		 * counts after the unlink; the lower file keeps its own). */
		st->st_nlink = 0;
	}
	override_present(fs, n, st);
	st->st_uid = creds_view_uid(fs, st->st_uid);
	st->st_gid = creds_view_gid(fs, st->st_gid);
}

int inode_stat(struct lfs *fs, struct node *n, struct stat *st)
{
	int layer = node_layer(n);
	int r = node_lstat(fs, n, layer, st);
	if (r < 0)
		return r;
	r = udba_check_stat(fs, layer, n->mode, st);
	if (r < 0)
		return r;
	if (node_flags(n) & N_METACOPY)
		st->st_blocks = metacopy_data_blocks(fs, n, st->st_blocks);
	inode_present(fs, n, st);
	return 0;
}

void inode_entry(struct lfs *fs, struct node *n, const struct stat *st,
		 struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = node_to_ino(fs, n);
	e->generation = 1;
	e->attr = *st;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	struct stat st;
	node_ref(n);
	int r = inode_stat(fs, n, &st);
	node_unref(fs, n);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

/* The target of symlink n in layer: readlinkat on the parent directory,
 * so the link is read, never followed; or on the link itself where no
 * name reaches it (an index entry, a link unlinked since). */
static ssize_t read_link(struct lfs *fs, struct node *n, int layer,
			 char *buf, size_t size)
{
	char name[NAME_MAX + 1];
	ssize_t len;
	int dfd = -1;
	/* (Or one whose name went since node_reached_by_name looked.) */
	if (!node_reached_by_name(fs, n, layer) ||
	    node_name_went(n, layer,
			   dfd = node_parent_fd(fs, n, layer, name))) {
		int fd = node_open(fs, n, layer, O_PATH);
		if (fd < 0)
			return fd;
		len = readlinkat(fd, "", buf, size);
		if (len < 0)
			len = -errno;
		close(fd);
		return len;
	}
	if (dfd < 0)
		return dfd;
	len = readlinkat(dfd, name, buf, size);
	if (len < 0)
		len = -errno;
	node_parent_fd_done(fs, dfd);
	return len;
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	char buf[PATH_MAX + 1];
	node_ref(n);
	ssize_t len = read_link(fs, n, node_layer(n), buf, sizeof(buf) - 1);
	node_unref(fs, n);
	if (len < 0) {
		fuse_reply_err(req, (int)-len);
		return;
	}
	buf[len] = 0;
	fuse_reply_readlink(req, buf);
}

void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct lfs *fs = lfs_from_req(req);
	struct statvfs sv;
	/* Space is what the upper layer has; a read-only mount reports its
	 * top layer. */
	int fd = fs->layers[0].fd;
	if (fstatvfs(fd, &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	struct stat st;
	node_ref(n);
	int r = inode_stat(fs, n, &st);
	node_unref(fs, n);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (mask == F_OK) {
		fuse_reply_err(req, 0);
		return;
	}
	if ((mask & W_OK) && !lfs_has_upper(fs)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	mode_t bits;
	if (ctx->uid == 0) {
		/* root: everything but executing a file nobody may execute */
		bool x_ok = S_ISDIR(st.st_mode) || (st.st_mode & 0111);
		fuse_reply_err(req, (mask & X_OK) && !x_ok ? EACCES : 0);
		return;
	}
	if (ctx->uid == st.st_uid)
		bits = (st.st_mode >> 6) & 7;
	else if (ctx->gid == st.st_gid)
		bits = (st.st_mode >> 3) & 7;
	else
		bits = st.st_mode & 7;
	fuse_reply_err(req, ((unsigned)mask & ~bits) & 7 ? EACCES : 0);
}
