/*
 * Creating and removing names: create, mknod, mkdir, symlink, link,
 * unlink, rmdir.  (rename is in rename.c.)
 *
 * Every operation works in a "slot" (whiteout_ops.h): the parent copied
 * up and locked, its listing loaded.  New entries are made in the upper
 * layer as the caller (creds.h), then mirrored in the listing.
 */
#include "dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "copy_up.h"
#include "creds.h"
#include "dcache.h"
#include "fault.h"
#include "file.h"
#include "fileattr.h"
#include "index.h"
#include "inode.h"
#include "layers.h"
#include "lookup.h"
#include "metacopy.h"
#include "node_reach.h"
#include "override.h"
#include "rmtree.h"
#include "tmpfile.h"
#include "whiteout_ops.h"
#include "xattr_ops.h"
#include "xattr_private.h"

struct new_entry {
	mode_t mode;       /* type and permissions */
	dev_t rdev;
	const char *link;  /* symlink target */
	int open_flags;    /* create: flags for the fd kept in `fd` */
	int fd;            /* create: the open file, else -1 */
};

/* Makes the entry at dirfd/at, acting as the caller. */
static int make_at(struct lfs *fs, fuse_req_t req, int dirfd, const char *at,
		   struct new_entry *ne)
{
	int r = creds_as_caller(fs, req);
	if (r < 0)
		return r;
	switch (ne->mode & S_IFMT) {
	case S_IFREG:
		ne->fd = openat(dirfd, at,
				ne->open_flags | O_CREAT | O_EXCL | O_NOFOLLOW |
					O_CLOEXEC,
				ne->mode & 07777);
		r = ne->fd < 0 ? -errno : 0;
		break;
	case S_IFDIR:
		r = mkdirat(dirfd, at, ne->mode & 07777) < 0 ? -errno : 0;
		break;
	case S_IFLNK:
		r = symlinkat(ne->link, dirfd, at) < 0 ? -errno : 0;
		break;
	default:
		r = override_mknod(fs, dirfd, at, ne->mode, ne->rdev);
		break;
	}
	creds_as_daemon();
	return r;
}

/*
 * A staged entry did not get the setgid-directory group rule of its real
 * parent (it was made in workdir): apply it by hand.  The mode stays the
 * one it was made with, after the umask: only a new directory takes the
 * set-group-id bit, and a file keeps its set-id bits, which the change
 * of group cleared, except the set-group-id bit of a group-executable
 * file made by a caller outside the group, as the kernel strips it
 * (mode_strip_sgid).
 */
static void fix_staged_group(fuse_req_t req, struct slot *s, int workfd,
			     const char *tmp)
{
	struct lfs *fs = lfs_from_req(req);
	struct stat pst, st;
	if (fstat(s->pfd, &pst) < 0 || !(pst.st_mode & S_ISGID) ||
	    fstatat(workfd, tmp, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fchownat(workfd, tmp, (uid_t)-1, pst.st_gid,
		     AT_SYMLINK_NOFOLLOW) < 0)
		return;
	mode_t mode = st.st_mode & 07777;
	if (S_ISDIR(st.st_mode)) {
		mode |= S_ISGID;
	} else if (S_ISREG(st.st_mode)) {
		/* pst is the real directory's: its group as the view
		 * shows it, which the caller's groups are. */
		gid_t group = creds_view_gid(fs, pst.st_gid);
		if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
		    !creds_caller_in_group(req, group) &&
		    !creds_caller_capable(req, CAP_FSETID))
			mode &= ~(mode_t)S_ISGID;
	} else {
		return;
	}
	fchmodat(workfd, tmp, mode, 0);
}

/*
 * Where an entry is made before it is swapped in over a 0/0 device
 * whiteout: workdir, unless the real parent hands down a default ACL,
 * which the entry would have inherited there (kernel overlayfs gives it
 * too).  Then a directory of workdir, *stage, given the same default ACL
 * holds it, and the upper filesystem applies the ACL (the umask ignored,
 * the access ACL masked by the mode) as in the parent.  tmp becomes the
 * entry's path from workdir; stage is "" when not needed.
 */
static int stage_prepare(struct lfs *fs, struct slot *s, char *stage,
			 size_t stage_len, char *tmp, size_t tmp_len)
{
	char leaf[64], *acl = NULL;
	size_t len = 0;
	stage[0] = 0;
	lfs_tmp_name(fs, leaf, sizeof(leaf));
	snprintf(tmp, tmp_len, "%s", leaf);
	int r = xattr_dir_default_acl(s->dir, s->pfd, &acl, &len);
	if (r < 0 || !acl)
		return r;
	lfs_tmp_name(fs, stage, stage_len);
	r = mkdirat(fs->work_fd, stage, 0700) < 0 ? -errno : 0;
	if (r == 0) {
		int dfd = openat(fs->work_fd, stage,
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
		if (dfd < 0 || fsetxattr(dfd, XATTR_ACL_DEFAULT, acl, len, 0) < 0)
			r = -errno;
		if (dfd >= 0)
			close(dfd);
		if (r < 0)
			unlinkat(fs->work_fd, stage, AT_REMOVEDIR);
	}
	free(acl);
	if (r < 0) {
		stage[0] = 0;
		return r;
	}
	snprintf(tmp, tmp_len, "%s/%s", stage, leaf);
	return 0;
}

static void stage_done(struct lfs *fs, const char *stage)
{
	if (stage[0])
		unlinkat(fs->work_fd, stage, AT_REMOVEDIR);
}

/* Ownership kept in an xattr (rootless without chown).  The mode kept
 * is the one the entry was created with, after the caller's umask or
 * the parent's default ACL, not the one asked for.  A set-group-id
 * directory of the view hands down its group (and to a directory its
 * bit), whatever its real inode says. */
int record_override(struct lfs *fs, fuse_req_t req, struct node *dir, int fd,
		    mode_t mode)
{
	if (!override_xattr_name(fs) || (!S_ISREG(mode) && !S_ISDIR(mode)))
		return 0;
	struct stat st, pst;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* Ids as the layers hold them, as the view maps them back. */
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct override_stat o = { .uid = creds_disk_uid(fs, ctx->uid),
				   .gid = creds_disk_gid(fs, ctx->gid),
				   .mode = st.st_mode & 07777 };
	if (inode_stat(fs, dir, &pst) == 0 && (pst.st_mode & S_ISGID)) {
		o.gid = creds_disk_gid(fs, pst.st_gid);
		if (S_ISDIR(mode))
			o.mode |= S_ISGID;
	}
	mode_t real = override_real_mode(o.mode, mode);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((st.st_mode & 07777) != real)
		chmod(path, real);
	return override_store(fs, fd, &o);
}

/* The same rule for what cannot carry the xattr (a symlink, a fifo, a
 * socket): its real group, where the daemon may set it. */
static void override_group_of_special(struct lfs *fs, struct node *dir,
				      int atfd, const char *at, mode_t mode)
{
	struct stat pst;
	if (!override_xattr_name(fs) || S_ISREG(mode) || S_ISDIR(mode) ||
	    inode_stat(fs, dir, &pst) < 0 || !(pst.st_mode & S_ISGID))
		return;
	(void)fchownat(atfd, at, (uid_t)-1, creds_disk_gid(fs, pst.st_gid),
		       AT_SYMLINK_NOFOLLOW);
}

/*
 * Creates NAME in the slot's directory and mirrors it.  On success *out
 * is the new node (one reference) and st its attributes.
 */
static int create_entry(struct lfs *fs, fuse_req_t req, struct slot *s,
			const char *name, struct new_entry *ne,
			struct node **out, struct stat *st)
{
	bool is_dir = S_ISDIR(ne->mode);
	/* A directory that replaces a removed one hides what lies below. */
	bool need_opaque = is_dir && s->wh_upper && s->below;
	char stage[64] = "", tmp[136];
	int r;

	if (s->visible)
		return -EEXIST;
	if (s->wh_chardev) {
		/* NAME holds a 0/0 device: build the entry aside and swap. */
		r = stage_prepare(fs, s, stage, sizeof(stage), tmp,
				  sizeof(tmp));
		if (r == 0)
			r = make_at(fs, req, fs->work_fd, tmp, ne);
		if (r < 0) {
			stage_done(fs, stage);
			return r;
		}
		fix_staged_group(req, s, fs->work_fd, tmp);
	} else {
		r = make_at(fs, req, s->pfd, name, ne);
		if (r < 0)
			return r;
	}
	const char *at = s->wh_chardev ? tmp : name;
	int atfd = s->wh_chardev ? fs->work_fd : s->pfd;
	override_group_of_special(fs, s->dir, atfd, at, ne->mode);

	if (S_ISREG(ne->mode) || is_dir) {
		/* O_PATH: a directory made with no read permission for its
		 * owner (mkdir(d, 0)) cannot be opened for reading by a
		 * daemon without CAP_DAC_OVERRIDE (rootless) until
		 * record_override gives it its real mode; fstat, the chmod
		 * and the xattrs go through the descriptor's /proc link,
		 * and whiteout_make_opaque opens it again where it needs. */
		int fd = ne->fd >= 0 ? ne->fd
				     : openat(atfd, at,
					      O_PATH | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
		} else {
			r = record_override(fs, req, s->dir, fd, ne->mode);
			if (r == 0 && need_opaque)
				r = whiteout_make_opaque(fs, fd);
			if (fd != ne->fd)
				close(fd);
		}
	}
	if (r == 0) {
		if (s->wh_chardev)
			r = whiteout_replace_with(fs, s, tmp, name, is_dir);
		else if (s->wh_upper)
			r = whiteout_clear(fs, s, name);
	}
	if (r == 0 && fstatat(s->pfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r < 0) {
		if (ne->fd >= 0) {
			close(ne->fd);
			ne->fd = -1;
		}
		unlinkat(atfd, at, is_dir ? AT_REMOVEDIR : 0);
		stage_done(fs, stage);
		return r;
	}
	stage_done(fs, stage);

	uint64_t ino = lfs_compose_ino(fs, fs->upper, st->st_ino);
	r = dcache_add(s->dc, name, (uint16_t)fs->upper,
		       (uint8_t)IFTODT(st->st_mode), ino, 0);
	struct node *n = node_new(s->dir, name, (uint16_t)fs->upper,
				  st->st_mode, ino);
	if (r < 0 || !n) {
		/* The entry exists on disk; drop the listing so the next
		 * lookup reads it back. */
		if (n)
			node_discard(n);
		dcache_drop(fs, s->dir);
		return r < 0 ? r : -ENOMEM;
	}
	n->end = (uint16_t)(fs->upper + 1);
	if (s->below)
		node_set_flag(n, N_BELOW);
	*out = node_insert(fs, n);
	/* New directories inherit neither flag, nor have a mark. */
	if (is_dir)
		fileattr_known(*out, 0);
	inode_present(fs, *out, st);
	return 0;
}

static void reply_new(fuse_req_t req, struct lfs *fs, int r, struct node *n,
		      const struct stat *st)
{
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	lookup_reply_entry(req, fs, n, st);
	node_unref(fs, n);
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		      struct new_entry *ne)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *dir = node_from_ino(fs, parent);
	struct slot s;
	struct node *n = NULL;
	struct stat st;
	node_ref(dir);
	int r = slot_open(fs, dir, name, SLOT_ADD, &s);
	if (r == 0) {
		r = create_entry(fs, req, &s, name, ne, &n, &st);
		slot_close(fs, &s);
	}
	node_unref(fs, dir);
	reply_new(req, fs, r, n, &st);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev)
{
	struct new_entry ne = { .mode = mode, .rdev = rdev, .fd = -1 };
	if (S_ISDIR(mode) || S_ISLNK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (S_ISCHR(mode) && rdev == 0) {
		/* A 0/0 character device is a whiteout in an upper or lower
		 * layer of the kernel's form, which layerfs reads in every
		 * layer: made through the mount it would hide the lower file
		 * of its name at the next mount, and be exported as a
		 * deletion.  Kernel overlayfs refuses it too. */
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((mode & S_IFMT) == 0)
		ne.mode |= S_IFREG;
	if (S_ISREG(ne.mode))
		ne.open_flags = O_WRONLY;
	make_node(req, parent, name, &ne);
	if (ne.fd >= 0)
		close(ne.fd);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode)
{
	struct new_entry ne = { .mode = S_IFDIR | (mode & 07777), .fd = -1 };
	make_node(req, parent, name, &ne);
}

void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	struct new_entry ne = { .mode = S_IFLNK | 0777, .link = link,
				.fd = -1 };
	make_node(req, parent, name, &ne);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi)
{
	if (strcmp(name, TMPFILE_NAME) == 0) {
		tmpfile_create(req, parent, mode, fi);
		return;
	}
	struct lfs *fs = lfs_from_req(req);
	struct node *dir = node_from_ino(fs, parent);
	struct new_entry ne = { .mode = S_IFREG | (mode & 07777), .fd = -1 };
	struct slot s;
	struct node *n = NULL;
	struct stat st;
	ne.open_flags = file_upper_flags(fs, fi->flags) & ~O_TRUNC;
	node_ref(dir);
	int r = slot_open(fs, dir, name, SLOT_ADD, &s);
	if (r == 0) {
		r = create_entry(fs, req, &s, name, &ne, &n, &st);
		slot_close(fs, &s);
	}
	node_unref(fs, dir);
	if (r == 0) {
		bool writable = (fi->flags & O_ACCMODE) != O_RDONLY;
		r = file_handle_new(fs, n, ne.fd, true, writable, fi);
		if (r < 0)
			close(ne.fd);
	}
	if (r < 0) {
		if (n)
			node_unref(fs, n);
		fuse_reply_err(req, -r);
		return;
	}
	file_reply_created(fs, req, fi, n, &st);
}

/*
 * Before a second name of a copied-up file: a lookup of that name will
 * show the upper inode's number unless an origin mark (or the index)
 * keeps the lower one, which a symlink or device cannot carry, nor
 * anything on an upper filesystem without xattrs.  The names must not
 * differ, so the file shows the upper number from now on.  (Before the
 * slot is opened: this takes the parent's lock.)
 */
static void show_upper_ino_unless_origin(struct lfs *fs, struct node *n)
{
	if (node_flags(n) & N_ORIGIN_SET)
		return;
	struct stat up;
	if (node_lstat(fs, n, fs->upper, &up) == 0 &&
	    node_ino(n) != lfs_compose_ino(fs, fs->upper, up.st_ino))
		take_upper_ino(fs, n, up.st_ino);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	struct node *dir = node_from_ino(fs, newparent);
	struct slot s;
	struct stat st;
	int r;
	node_ref(n);
	node_ref(dir);
	/* The link shares the upper inode: metadata is enough, the data
	 * follows in place and every name sees it.  Not before the new
	 * name's directory may take it. */
	r = lfs_has_upper(fs) ? fileattr_dir_refuses(fs, dir, false) : -EROFS;
	if (r == 0)
		r = copy_up(fs, n, CU_META);
	if (r == 0)
		show_upper_ino_unless_origin(fs, n);
	if (r == 0)
		r = slot_open(fs, dir, newname, SLOT_ADD, &s);
	if (r < 0)
		goto out;
	if (s.visible) {
		r = -EEXIST;
		goto close;
	}
	int src = node_open(fs, n, fs->upper, O_PATH);
	if (src < 0) {
		r = src;
		goto close;
	}
	/* The new name must reach the data too. */
	r = metacopy_pin(n, src, NULL);
	if (r < 0) {
		close(src);
		goto close;
	}
	/* The new name must find the origin and the data's path (a
	 * lookup of it may make a node of its own: index=off): its
	 * directory says so before the name is there, so that a crash
	 * between the two leaves no name with unread marks. */
	bool marked = node_flags(n) & (N_ORIGIN_SET | N_METACOPY);
	r = marked ? mark_parent_impure(fs, dir, s.pfd) : 0;
	if (r < 0) {
		close(src);
		goto close;
	}
	char proc[64], tmp[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", src);
	lfs_tmp_name(fs, tmp, sizeof(tmp));
	int atfd = s.wh_chardev ? fs->work_fd : s.pfd;
	const char *at = s.wh_chardev ? tmp : newname;
	r = linkat(AT_FDCWD, proc, atfd, at, AT_SYMLINK_FOLLOW) < 0 ? -errno
								     : 0;
	close(src);
	if (r == 0 && s.wh_chardev)
		r = whiteout_replace_with(fs, &s, tmp, newname, false);
	else if (r == 0 && s.wh_upper)
		r = whiteout_clear(fs, &s, newname);
	if (r < 0)
		goto close;
	if (node_flags(n) & N_HLINK)
		index_nlink_add(fs, n, 1);
	node_index_ino(fs, n);
	r = dcache_add(s.dc, newname, (uint16_t)fs->upper,
		       (uint8_t)IFTODT(n->mode), node_ino(n),
		       marked ? R_CHECK : 0);
	if (r < 0)
		dcache_drop(fs, dir);
	r = inode_stat(fs, n, &st);
close:
	slot_close(fs, &s);
out:
	node_unref(fs, dir);
	if (r < 0) {
		node_unref(fs, n);
		fuse_reply_err(req, -r);
		return;
	}
	lookup_reply_entry(req, fs, n, &st);
	node_unref(fs, n);
}

/*
 * Whether n's inode must stay reachable once this name of it goes.  The
 * kernel may still send requests for the inode it found by the name: an
 * open(2) whose lookup came before the removal, which on a local
 * filesystem opens the removed file, and to which ENOENT or ESTALE would
 * be wrong (the kernel walks the path once more on ESTALE, but a file
 * made and removed again meanwhile makes that walk fail the same way);
 * a stat, or a read of a file still open.  A fifo, a socket or a device
 * the kernel even opens without a request (a reader of a fifo, which a
 * writer opening another name must reach).  So every file but a
 * directory keeps it, until the kernel forgets the node: one O_PATH open
 * per removal (but see holds_much_space).  (A directory has its own
 * hold, removed_dir_hold.)  A regular file with several lower names, not
 * open now, is reached through the index instead (N_HLINK), which a
 * copy-up through another of its names updates.
 */
static bool outlives_name(struct node *n)
{
	if (node_is_dir(n))
		return false;
	if (S_ISREG(n->mode) && (node_flags(n) & N_HLINK)) {
		struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
		return e && __atomic_load_n(&e->open_files, __ATOMIC_RELAXED) > 0;
	}
	return node_ext(n) != NULL;
}

/* 64 KiB, in st_blocks' 512-byte units. */
#define REMOVED_KEPT_MAX_BLOCKS 128

/*
 * Whether fd, just opened on the upper file n whose name goes, would
 * hold back much space.  Its blocks are freed when the last descriptor
 * closes, here when the kernel forgets the node: moments after the
 * unlink has returned, and a write right after it could find the upper
 * filesystem still full (through io_uring the FORGET even comes another
 * way than the next requests).  A local filesystem frees them at once
 * unless the file is open.  So a larger file nobody has open is let go
 * at once: an open racing its removal gets ESTALE, and the kernel's
 * second walk (op_open).  Not one with other names: their space stays
 * anyway, and the node, which the kernel may hold under those names,
 * reaches the file only through fd once this name is gone (a stat of
 * another name of a large file failed with ENOENT).
 */
static bool holds_much_space(struct lfs *fs, struct node *n, int fd)
{
	if (node_layer(n) != fs->upper || !S_ISREG(n->mode) ||
	    __atomic_load_n(&n->ext->open_files, __ATOMIC_RELAXED) > 0)
		return false;
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_nlink < 2 &&
	       st.st_blocks > REMOVED_KEPT_MAX_BLOCKS;
}

/* Such an inode stays reachable through an O_PATH fd taken before the
 * name goes away (node.c reaches an unhashed node through it).  One
 * left by a removal that failed may reach what the file was before a
 * copy-up since: it is made this one's, in place (dup2), as a reader
 * may be using its number. */
static void keep_orphan(struct lfs *fs, struct node *n)
{
	if (!outlives_name(n))
		return;
	int fd = node_open(fs, n, node_layer(n), O_PATH);
	if (fd < 0)
		return;
	if (holds_much_space(fs, n, fd)) {
		close(fd);
		return;
	}
	int kept = __atomic_load_n(&n->ext->orphan_fd, __ATOMIC_ACQUIRE);
	if (kept >= 0) {
		dup2(fd, kept);
		close(fd);
	} else {
		node_keep_orphan_fd(n, fd);
	}
}

int name_drop_prepare(struct lfs *fs, struct node *n)
{
	if (fs->index_fd < 0 || !fs->upper_xattr)
		return 0;
	if (node_is_dir(n) || node_layer(n) == fs->upper)
		return 0;
	/* A lower file seen with several links was indexed by inode number
	 * at lookup (lookup.c), and lower layers never change: any other one
	 * has a single link, no need to look again. */
	if (!(node_flags(n) & N_INDEXED))
		return 0;
	struct stat raw;
	int r = node_lstat(fs, n, node_layer(n), &raw);
	if (r < 0 || raw.st_nlink < 2)
		return r;
	return copy_up(fs, n, CU_META);
}

bool name_drop_begin(struct lfs *fs, struct node *n)
{
	if (!n)
		return false;
	keep_orphan(fs, n);
	if (!(node_flags(n) & N_HLINK) || index_nlink_add(fs, n, -1) < 0)
		return false;
	fault_point("index-uncounted");
	return true;
}

void name_drop_undo(struct lfs *fs, struct node *n, bool counted)
{
	if (counted)
		index_nlink_add(fs, n, 1);
}

void name_dropped(struct lfs *fs, struct node *n, struct node *dir,
		  const char *name)
{
	if (!n)
		return;
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	bool indexed = (node_flags(n) & N_HLINK) && e && e->index_key[0];
	if (node_named(fs, n, dir, name)) {
		node_unhash(fs, n);
		/* Its other names still reach the inode through the index. */
		if (indexed)
			node_set_flag(n, N_IDX_ALIAS);
	}
	/* (One node serves every name of the file: the last name to go
	 * need not be the one it is named by.) */
	if (indexed)
		index_release_unused(fs, n);
}

/* dir.h: a removed directory stays an inode while it is in use. */
int removed_dir_hold(struct lfs *fs, struct node *child)
{
	if (!node_ext(child))
		return -1;
	int fd = node_open(fs, child, node_layer(child), O_PATH | O_DIRECTORY);
	return fd < 0 ? -1 : fd;
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *dir = node_from_ino(fs, parent);
	struct slot s;
	node_ref(dir);
	struct node *n = node_find(fs, dir, name);
	if (n)
		copy_up_wait(n);
	fault_point("unlink-waited");
	int r = wh_is_reserved(name) ? -ENOENT : 0;
	/* The directory's flags first, before anything is copied up. */
	if (r == 0 && lfs_has_upper(fs))
		r = fileattr_dir_refuses(fs, dir, true);
	if (r == 0 && !n && lfs_has_upper(fs)) {
		/* No node has this name (the kernel's dentry may hold another
		 * name's: a rename between two names of one file, which
		 * changed nothing here, moved it): its flags and links still
		 * count. */
		struct stat st;
		r = lookup_child(fs, dir, name, &n, &st);
		if (r == -ENOENT)
			r = 0;
	}
	if (r == 0 && n)
		r = name_drop_prepare(fs, n);
	if (r == 0 && n)
		r = fileattr_protected(fs, n);
	if (r == 0)
		r = slot_open(fs, dir, name, SLOT_REMOVE, &s);
	if (r < 0)
		goto out;
	if (!s.visible) {
		r = -ENOENT;
		goto close;
	}
	if (s.rec->dtype == DT_DIR) {
		r = -EISDIR;
		goto close;
	}
	bool in_upper = lfs_is_upper(fs, s.rec->layer);
	bool counted = name_drop_begin(fs, n);
	if (s.below)
		r = whiteout_name(fs, &s, name, in_upper, false);
	else if (in_upper)
		r = unlinkat(s.pfd, name, 0) < 0 ? -errno : 0;
	if (r < 0) {
		name_drop_undo(fs, n, counted);
		goto close;
	}
	dcache_hide(s.dc, s.rec, s.below);
	name_dropped(fs, n, dir, name);
close:
	slot_close(fs, &s);
out:
	if (n)
		node_unref(fs, n);
	node_unref(fs, dir);
	fuse_reply_err(req, -r);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *dir = node_from_ino(fs, parent);
	struct node *child = NULL;
	struct stat st;
	struct slot s;
	int r;
	node_ref(dir);
	if (!lfs_has_upper(fs)) {
		r = -EROFS;
		goto out;
	}
	r = lookup_child(fs, dir, name, &child, &st);
	if (r < 0)
		goto out;
	/* Whether it may go comes first, as in the kernel. */
	r = fileattr_dir_refuses(fs, dir, true);
	if (r == 0)
		r = fileattr_protected(fs, child);
	if (r == 0 && !node_is_dir(child))
		r = -ENOTDIR;
	if (r == 0)
		r = copy_up(fs, dir, CU_META);
	if (r < 0)
		goto out;
	/* Two directory locks: always through the ordered helper. */
	dir_wrlock_two(dir, child);
	r = slot_open_locked(fs, dir, name, &s);
	if (r == 0 && (!s.visible || child->parent != dir ||
		       (node_flags(child) & N_UNHASHED)))
		r = -ENOENT;
	struct dcache *cdc = NULL;
	if (r == 0)
		r = dcache_load_under_parent(fs, child, &cdc);
	if (r == 0 && cdc->nvisible > 0)
		r = -ENOTEMPTY;
	int keep_fd = -1;
	if (r == 0) {
		bool in_upper = node_layer(child) == fs->upper;
		keep_fd = removed_dir_hold(fs, child);
		if (s.below) {
			r = whiteout_name(fs, &s, name, in_upper, true);
		} else if (in_upper &&
			   unlinkat(s.pfd, name, AT_REMOVEDIR) < 0) {
			/* Not empty: whiteouts, which the view does not
			 * show.  Out of the view in one step, then emptied.
			 * (Not for an empty one: the kernel checks a rename
			 * between directories by walking up the tree.) */
			char tmp[64];
			lfs_tmp_name(fs, tmp, sizeof(tmp));
			if (errno != ENOTEMPTY && errno != EEXIST)
				r = -errno;
			else if (renameat(s.pfd, name, fs->work_fd, tmp) < 0)
				r = -errno;
			else
				lf_rmtree_at(fs->work_fd, tmp);
		}
	}
	if (r == 0) {
		dcache_hide(s.dc, s.rec, s.below);
		dcache_drop(fs, child);
		node_keep_orphan_fd(child, keep_fd);
		node_unhash(fs, child);
	} else if (keep_fd >= 0) {
		close(keep_fd);
	}
	dcache_shed_removed(fs, dir);
	slot_close_locked(&s);
	dir_unlock_two(dir, child);
out:
	if (child)
		node_unref(fs, child);
	node_unref(fs, dir);
	fuse_reply_err(req, -r);
}
