/*
 * setattr: chmod, chown, truncate and utimens; and the set-id clearing
 * a direct-I/O write leaves to the daemon (inode.h), a mode change of
 * the same kind.
 *
 * Metadata changes on a lower file copy up its metadata only (copy_up.h):
 * `chown -R` over a lower tree costs a small file per entry, not its
 * bytes.  A truncate needs the data: to zero it needs none of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "caps_killed.h"
#include "copy_up.h"
#include "creds.h"
#include "file.h"
#include "fileattr.h"
#include "inode.h"
#include "node_reach.h"
#include "override.h"
#include "passthrough.h"
#include "privs_keep.h"

static int apply_size(struct lfs *fs, struct node *n, off_t size,
		      struct fuse_file_info *fi)
{
	struct lfs_file *h = fi ? (struct lfs_file *)(uintptr_t)fi->fh
				   : NULL;
	if (h && h->upper)
		return ftruncate(h->fd, size) < 0 ? -errno : 0;
	int fd = node_open(fs, n, fs->upper, O_WRONLY);
	if (fd < 0)
		return fd;
	int r = ftruncate(fd, size) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Ownership and mode kept in the override xattr instead of the inode
 * of the file open as fd (real: its fstat). */
static int apply_override(struct lfs *fs, int fd, const struct stat *real,
			  const struct stat *a, int to_set)
{
	struct override_stat o;
	if (override_load(fs, fd, &o) < 0) {
		o = (struct override_stat){ .uid = real->st_uid,
					    .gid = real->st_gid,
					    .mode = real->st_mode & 07777 };
	}
	/* The record holds ids as the layers do, as a chown writes them
	 * (the view maps them, override_apply). */
	if (to_set & FUSE_SET_ATTR_UID)
		o.uid = creds_disk_uid(fs, a->st_uid);
	if (to_set & FUSE_SET_ATTR_GID)
		o.gid = creds_disk_gid(fs, a->st_gid);
	if (to_set & FUSE_SET_ATTR_MODE)
		o.mode = (o.mode & S_IFMT) | (a->st_mode & 07777);
	int r = override_store(fs, fd, &o);
	if (r == 0 && (to_set & FUSE_SET_ATTR_MODE) && !o.has_type) {
		/* The real bits follow (override_real_mode), and with them
		 * the file's access ACL, as the upper filesystem's chmod
		 * rewrites it. */
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		mode_t real_mode = override_real_mode(o.mode, real->st_mode);
		if ((real->st_mode & 07777) != real_mode &&
		    chmod(path, real_mode) < 0)
			r = -errno;
	}
	return r;
}

/* The owner and mode changes of a setattr, without the squashed ids
 * (a presentation: chown changes nothing there). */
static int owner_mode_bits(struct lfs *fs, int to_set)
{
	if (fs->opt->squash_uid >= 0)
		to_set &= ~FUSE_SET_ATTR_UID;
	if (fs->opt->squash_gid >= 0)
		to_set &= ~FUSE_SET_ATTR_GID;
	return to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
			 FUSE_SET_ATTR_MODE);
}

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

/* 1: fchmodat2 (Linux 6.6) works, -1: it does not, 0: not yet known. */
static atomic_int fchmodat2_state;

static bool have_fchmodat2(void)
{
	int st = atomic_load_explicit(&fchmodat2_state, memory_order_relaxed);
	if (st == 0) {
		/* Flags no kernel knows: EINVAL where the call exists, ENOSYS
		 * (or EPERM from a seccomp filter) where it does not. */
		long r = syscall(SYS_fchmodat2, AT_FDCWD, "", 0, 0x40000000);
		st = r < 0 && errno == EINVAL ? 1 : -1;
		atomic_store(&fchmodat2_state, st);
	}
	return st > 0;
}

/*
 * chmod of dirfd/name without following a symlink there, or of the file
 * dirfd itself (O_PATH is enough) when name is "".  Without fchmodat2
 * only the latter can be done safely.
 */
static int chmod_at(int dirfd, const char *name, mode_t mode)
{
	if (have_fchmodat2()) {
		int flags = AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH);
		return syscall(SYS_fchmodat2, dirfd, name, mode, flags) < 0
			       ? -errno
			       : 0;
	}
	if (name[0])
		return -EINVAL;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	return chmod(proc, mode) < 0 ? -errno : 0;
}

/* Applies owner and mode to dirfd/name, or to the file dirfd is open on
 * (O_PATH is enough) when name is ""; type is its S_IFMT. */
static int owner_mode_at(struct lfs *fs, int dirfd, const char *name,
			 mode_t type, const struct stat *a, int to_set)
{
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID)
				    ? creds_disk_uid(fs, a->st_uid)
				    : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID)
				    ? creds_disk_gid(fs, a->st_gid)
				    : (gid_t)-1;
		int flags = AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH);
		if (fchownat(dirfd, name, uid, gid, flags) < 0)
			return -errno;
	}
	if ((to_set & FUSE_SET_ATTR_MODE) && !S_ISLNK(type))
		return chmod_at(dirfd, name, a->st_mode & 07777);
	return 0;
}

/* The same for the file fd is open on, ownership kept in the override
 * xattr included. */
static int owner_mode_to_fd(struct lfs *fs, int fd, mode_t type,
			    const struct stat *a, int to_set)
{
	/* By the real file's type: a device copied up by a daemon that
	 * cannot make one is a regular file with the type in its record
	 * (override_mknod), whose mode the record holds too. */
	struct stat real;
	if (override_xattr_name(fs) && fstat(fd, &real) == 0 &&
	    (S_ISREG(real.st_mode) || S_ISDIR(real.st_mode)))
		return apply_override(fs, fd, &real, a, to_set);
	return owner_mode_at(fs, fd, "", type, a, to_set);
}

static int apply_owner_mode_now(struct lfs *fs, struct node *n,
				const struct stat *a, int to_set)
{
	/* By name from the parent's cached fd: `tar -x` changes owner and
	 * mode of every file it makes, and opening each one for it cost an
	 * open and a close more. */
	bool by_name = !override_xattr_name(fs) &&
		       node_reached_by_name(fs, n, fs->upper) &&
		       (!(to_set & FUSE_SET_ATTR_MODE) || have_fchmodat2());
	if (by_name) {
		char name[NAME_MAX + 1];
		int dfd = node_parent_fd(fs, n, fs->upper, name);
		if (dfd >= 0) {
			int r = owner_mode_at(fs, dfd, name, n->mode, a,
					      to_set);
			node_parent_fd_done(fs, dfd);
			return r;
		}
		/* Its name went since node_reached_by_name looked: through
		 * the fd dir.c kept, as below. */
		if (!node_name_went(n, fs->upper, dfd))
			return dfd;
	}
	int fd = node_open(fs, n, fs->upper, O_PATH);
	if (fd < 0)
		return fd;
	int r = owner_mode_to_fd(fs, fd, n->mode, a, to_set);
	close(fd);
	return r;
}

static int apply_owner_mode(struct lfs *fs, struct node *n,
			    const struct stat *a, int to_set)
{
	to_set = owner_mode_bits(fs, to_set);
	if (!to_set)
		return 0;
	/* Not between a page-cache write's saving of the set-id bits and
	 * its putting them back (privs_keep.h). */
	pthread_mutex_t *lock = mode_change_lock(n);
	privs_lock(lock);
	int r = apply_owner_mode_now(fs, n, a, to_set);
	privs_unlock(lock);
	return r;
}

/* The times a setattr asks for; false when it asks for none. */
static bool times_of(const struct stat *a, int to_set, struct timespec ts[2])
{
	if (!(to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		return false;
	ts[0] = ts[1] = (struct timespec){ .tv_nsec = UTIME_OMIT };
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		ts[0] = a->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		ts[1] = a->st_mtim;
	return true;
}

/*
 * Whether this SETATTR sets both times to the current time (`touch`,
 * utimensat with no times), which an append-only file allows where it
 * refuses given times (the kernel's ATTR_TOUCH).  The FUSE client says
 * so with ATIME_NOW and MTIME_NOW, except with the writeback cache: a
 * regular file's mtime is then the kernel's to keep, and it sends the
 * current time it put there as a given one.  ATIME_NOW with an mtime of
 * the last seconds is taken for a touch then; so is an owner's
 * utimensat that gives the current atime and an mtime of those
 * seconds, which sets the times a touch would.
 */
#define TOUCH_WINDOW_SECONDS 10

static bool setattr_is_touch(struct lfs *fs, struct node *n,
			     const struct stat *a, int to_set)
{
	int both = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW |
		   FUSE_SET_ATTR_MTIME;
	int others = ~(both | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME);
	if ((to_set & others) || (to_set & both) != both)
		return false;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		return true;
	if (!fs->writeback || !S_ISREG(n->mode))
		return false;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return a->st_mtim.tv_sec <= now.tv_sec + 1 &&
	       a->st_mtim.tv_sec >= now.tv_sec - TOUCH_WINDOW_SECONDS;
}

static int set_times_through_fd(struct lfs *fs, struct node *n,
				const struct timespec ts[2])
{
	int fd = node_open(fs, n, fs->upper, O_PATH);
	if (fd < 0)
		return fd;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int r = utimensat(AT_FDCWD, proc, ts, 0) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int set_times(struct lfs *fs, struct node *n,
		     const struct timespec ts[2])
{
	char name[NAME_MAX + 1];
	int r;
	if (node_flags(n) & N_ROOT) {
		int fd = node_open(fs, n, fs->upper, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return fd;
		r = futimens(fd, ts) < 0 ? -errno : 0;
		close(fd);
		return r;
	}
	/* A file reached only through the index, or unlinked while open,
	 * has no name to resolve: change it through its own fd. */
	if (node_flags(n) & (N_IDX_ALIAS | N_UNHASHED))
		return set_times_through_fd(fs, n, ts);
	int dfd = node_parent_fd(fs, n, fs->upper, name);
	/* Unhashed since the flags were read: through its fd, as above. */
	if (node_name_went(n, fs->upper, dfd))
		return set_times_through_fd(fs, n, ts);
	if (dfd < 0)
		return dfd;
	r = utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	node_parent_fd_done(fs, dfd);
	return r;
}

/* The times asked for.  A touch refused with the kernel's given mtime
 * (an append-only file, the writeback cache) is made as the touch it
 * is; otherwise the kernel's own mtime is kept, as it caches it. */
static int apply_times(struct lfs *fs, struct node *n, const struct stat *a,
		       int to_set, bool touch)
{
	struct timespec ts[2];
	if (!times_of(a, to_set, ts))
		return 0;
	int r = set_times(fs, n, ts);
	if (r == -EPERM && touch && ts[1].tv_nsec != UTIME_NOW) {
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;
		r = set_times(fs, n, ts);
	}
	return r;
}

/* The set-id bits a write must clear from mode, for the caller of req,
 * by the kernel's rules (setattr_should_drop_suidgid): none for a
 * writer with CAP_FSETID in the initial user namespace; else
 * set-user-id, and set-group-id when the file is group executable or
 * the writer is neither of its group nor holds CAP_FSETID in its own
 * namespace (root of a rootless container keeps it, not the other). */
static mode_t setid_to_clear(fuse_req_t req, mode_t mode, gid_t file_gid)
{
	/* The caller's groups and capabilities are read from /proc: only
	 * for a file that has a bit to lose. */
	mode_t kill = mode & S_ISUID;
	if ((mode & S_ISGID) &&
	    ((mode & S_IXGRP) || (!creds_caller_in_group(req, file_gid) &&
				  !creds_caller_capable(req, CAP_FSETID))))
		kill |= S_ISGID;
	if (kill && creds_caller_capable_on_host(req, CAP_FSETID))
		return 0;
	return kill;
}

/* A mode change that only clears set-id bits, on the upper copy with
 * its flags lifted: the kernel clears them past the flags. */
struct new_mode {
	struct lfs *fs;
	mode_t mode;
};

/* fileattr_lifted_change: the mode of dirfd/name (fd, if open).  The
 * name is opened without following: a rename through the mount renames
 * before it takes ns_lock, so it may be a symlink by now. */
static int set_mode(int dirfd, const char *name, int fd, void *arg)
{
	const struct new_mode *m = arg;
	int ofd = fd >= 0 ? fd
			  : openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (ofd < 0)
		return -errno;
	int r;
	struct stat a = { .st_mode = m->mode & 07777 }, real;
	if (!override_xattr_name(m->fs))
		r = chmod_at(ofd, "", a.st_mode);
	else /* The mode the view shows is the override's. */
		r = fstat(ofd, &real) < 0 ? -errno
					  : apply_override(m->fs, ofd, &real,
							   &a, FUSE_SET_ATTR_MODE);
	if (ofd != fd)
		close(ofd);
	return r;
}

static int clear_setid_lifted(struct lfs *fs, struct node *n, mode_t mode)
{
	int r = copy_up_protected(fs, n, CU_DATA, FILEATTR_PROTECT);
	creds_as_daemon();
	if (r < 0)
		return r;
	struct new_mode m = { fs, mode };
	/* Not between a page-cache write's saving of the bits and its
	 * putting them back (privs_keep.h); the copy-up above takes the
	 * same lock for its own writes. */
	pthread_mutex_t *lock = mode_change_lock(n);
	privs_lock(lock);
	r = fileattr_lifted_change(fs, n, set_mode, &m);
	privs_unlock(lock);
	return r;
}

int setattr_clear_setid_for_write(struct lfs *fs, fuse_req_t req,
				  fuse_ino_t ino, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	struct override_stat o;
	bool overridden = override_xattr_name(fs) &&
			  override_load(fs, fd, &o) == 0;
	mode_t mode = overridden ? o.mode : st.st_mode;
	gid_t file_gid = creds_view_gid(fs, overridden ? o.gid : st.st_gid);
	mode_t kill = setid_to_clear(req, mode, file_gid);
	if (!kill)
		return 0;
	struct stat a = { .st_mode = (mode & 07777) & ~kill };
	creds_as_daemon();
	struct node *n = node_from_ino(fs, ino);
	pthread_mutex_t *lock = mode_change_lock(n);
	privs_lock(lock);
	int r = owner_mode_to_fd(fs, fd, S_IFREG, &a, FUSE_SET_ATTR_MODE);
	privs_unlock(lock);
	/* An append-only file, served with direct I/O (file.c). */
	if (r == -EPERM)
		r = clear_setid_lifted(fs, n, a.st_mode);
	if (r < 0)
		return r;
	/* The kernel still caches the old mode, and exec trusts it: drop
	 * it before the write returns. */
	fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	return 1;
}

/*
 * Whether this SETATTR only clears set-id bits of an immutable or
 * append-only file.  The kernel clears them past these flags when it
 * kills set-id bits (a write by another user, a chown), but the FUSE
 * client asks it as a plain mode change, which the upper filesystem
 * would refuse for such a file; a chmod doing the same cannot be told
 * from it.
 */
static bool clears_setid_of_protected(struct lfs *fs, struct node *n,
				      const struct stat *attr, int to_set)
{
	const mode_t setid = S_ISUID | S_ISGID;
	if ((to_set & ~FUSE_SET_ATTR_CTIME) != FUSE_SET_ATTR_MODE ||
	    !S_ISREG(n->mode))
		return false;
	struct stat cur;
	if (inode_stat(fs, n, &cur) < 0)
		return false;
	mode_t now = cur.st_mode & 07777, want = attr->st_mode & 07777;
	return (want & ~setid) == (now & ~setid) && want != now &&
	       (want & setid & ~now) == 0 && fileattr_protected(fs, n) < 0;
}

/*
 * Whether this SETATTR may be the kernel writing back the times it gave
 * a file for a FALLOCATE or a write through its page cache
 * (N_TIMES_PENDING, taken off by it).  With the writeback cache the
 * FUSE client sets a file's mtime and ctime itself before it sends a
 * fallocate or writes pages back, and writes the times back later.  For
 * an immutable or append-only file, which takes no time it is given,
 * that write-back would fail, and with it every later close of the file
 * (EPERM, or EIO); the fallocate was refused, or changed the upper
 * file's times itself, as the write did, so they are left as they are
 * (op_setattr).  (A write through a descriptor opened before the file
 * was made append-only is one the flag allows.)  A `touch -m` with
 * a time given cannot be told from it, but only until that write-back,
 * at the latest the next close.
 */
static bool times_written_back(struct node *n, int to_set)
{
	if ((to_set & ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME)) ||
	    !(to_set & FUSE_SET_ATTR_MTIME) ||
	    !(node_flags(n) & N_TIMES_PENDING))
		return false;
	node_clear_flag(n, N_TIMES_PENDING);
	return true;
}

struct meta_change {
	const struct stat *attr;
	int to_set;
};

/* copy_up_stage.apply: the change made on the staged regular file, in
 * the order apply_owner_mode and apply_times would make it. */
static int change_staged(struct lfs *fs, int fd, void *arg)
{
	const struct meta_change *c = arg;
	int bits = owner_mode_bits(fs, c->to_set);
	int r = bits ? owner_mode_to_fd(fs, fd, S_IFREG, c->attr, bits) : 0;
	struct timespec ts[2];
	if (r == 0 && times_of(c->attr, c->to_set, ts) && futimens(fd, ts) < 0)
		r = -errno;
	return r;
}

/*
 * What a directory's immutable or append-only flag refuses of a
 * setattr, as the kernel would (notify_change): a new mode, owner or
 * given time under either flag, and the current time under immutable.
 * A file's are enforced by its upper copy, or refused before its
 * copy-up (copy_up.c); a directory carries its flags in a mark that
 * nothing else enforces (fileattr.c).
 */
static int dir_flags_refuse(struct lfs *fs, struct node *dir, int to_set)
{
	int now = FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
	int given = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
		    ((to_set & FUSE_SET_ATTR_ATIME) &&
				     !(to_set & FUSE_SET_ATTR_ATIME_NOW)
			     ? FUSE_SET_ATTR_ATIME
			     : 0) |
		    ((to_set & FUSE_SET_ATTR_MTIME) &&
				     !(to_set & FUSE_SET_ATTR_MTIME_NOW)
			     ? FUSE_SET_ATTR_MTIME
			     : 0);
	unsigned flags;
	if (!(to_set & (given | now)) || fileattr_flags(fs, dir, &flags) < 0)
		return 0;
	if ((to_set & given) && (flags & FILEATTR_PROTECT))
		return -EPERM;
	if ((to_set & now) && (flags & FS_IMMUTABLE_FL))
		return -EPERM;
	return 0;
}

/*
 * A lower file whose name went (unlink, rename onto it) between the
 * kernel's lookup and this request: its copy would have no name to take
 * (copy_up answers ENOENT), and a truncate(2), chmod(2)... by a path
 * that always named a file failed with ENOENT, which a local filesystem,
 * changing the removed file, never answers.  Not open, nothing reaches
 * that file any more but the kernel's inode, and the layer below never
 * changes: the change is answered as made, in st (the file's attributes
 * through the fd dir.c kept), as it would show on the removed file.  One
 * still open keeps ENOENT: its readers would not see the change.
 */
static int removed_lower_changed(struct lfs *fs, struct node *n,
				 const struct stat *attr, int to_set,
				 struct stat *st)
{
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (node_layer(n) == fs->upper || node_is_dir(n) ||
	    !(node_flags(n) & N_UNHASHED) ||
	    (e && __atomic_load_n(&e->open_files, __ATOMIC_RELAXED) > 0))
		return -ENOENT;
	int r = inode_stat(fs, n, st);
	if (r < 0)
		return r;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (to_set & FUSE_SET_ATTR_SIZE)
		st->st_size = attr->st_size;
	if (to_set & FUSE_SET_ATTR_MODE)
		st->st_mode = (st->st_mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		st->st_uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		st->st_gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		st->st_atim = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? now
								 : attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME)
		st->st_mtim = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now
								 : attr->st_mtim;
	st->st_ctim = now;
	return 0;
}

/*
 * Whether an mtime-only SETATTR of n is first compared with the file's
 * own mtime: where the kernel writes back times it keeps (the writeback
 * cache), or where an unchanged mtime spares a copy-up.  An upper file
 * without the writeback cache gets its utimensat(2) at once, as on a
 * local filesystem (which changes its ctime even for the same mtime):
 * the stat first cost `tar -x` a system call per file.
 */
static bool mtime_compared_first(struct lfs *fs, struct node *n)
{
	return fs->writeback || !lfs_is_upper(fs, node_layer(n)) ||
	       (node_flags(n) & N_UNHASHED);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	struct stat st;
	int r = 0;

	if (!lfs_has_upper(fs) || fs->opt->read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	node_ref(n);
	if (node_is_dir(n)) {
		r = dir_flags_refuse(fs, n, to_set);
		if (r < 0)
			goto reply;
	}
	bool written_back = times_written_back(n, to_set);
	bool touch = setattr_is_touch(fs, n, attr, to_set);
	if (!(to_set & ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME)) &&
	    mtime_compared_first(fs, n)) {
		/* With the writeback cache the kernel writes its cached mtime
		 * and ctime back after every unlink, rename and write.  When
		 * that changes nothing, copying the file up for it would turn
		 * `rm -rf` of lower files into metadata copy-ups. */
		r = inode_stat(fs, n, &st);
		if (r == -ENOENT && (node_flags(n) & N_UNHASHED)) {
			/* Unlinked and closed: nothing left to change. */
			memset(&st, 0, sizeof(st));
			st.st_mode = n->mode | 0600;
			st.st_ino = node_ino(n);
			r = 0;
			goto reply;
		}
		if (r < 0)
			goto reply;
		if (!(to_set & FUSE_SET_ATTR_MTIME) ||
		    (st.st_mtim.tv_sec == attr->st_mtim.tv_sec &&
		     st.st_mtim.tv_nsec == attr->st_mtim.tv_nsec))
			goto reply;
	}
	bool done = false;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		/* Not while a program runs from the lower data (truncate(2)
		 * answers ETXTBSY then): its readers would not see it. */
		r = passthrough_lower_drain(fs, n);
		if (r == 0)
			r = copy_up_truncating(fs, n, attr->st_size);
	} else {
		/* A lower regular file gets the change with its copy-up. */
		struct meta_change change = { attr, to_set };
		int both = FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID;
		struct copy_up_stage stage = {
			.apply = change_staged,
			.arg = &change,
			.sets_owner = (owner_mode_bits(fs, to_set) & both) ==
					      both &&
				      !override_xattr_name(fs),
		};
		r = copy_up_staged(fs, n, &stage);
		done = stage.applied;
		/* A staged change is refused for a protected file; a touch
		 * is allowed on an append-only one, made on its copy. */
		if (r == -EPERM && touch)
			r = copy_up_protected(fs, n, CU_META, FS_APPEND_FL);
	}
	creds_as_daemon();
	if (r == -ENOENT) {
		r = removed_lower_changed(fs, n, attr, to_set, &st);
		if (r == 0)
			goto reply;
	}
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		r = apply_size(fs, n, attr->st_size, fi);
	if (r == 0 && !done)
		r = apply_owner_mode(fs, n, attr, to_set);
	if (r == 0 && !done)
		r = apply_times(fs, n, attr, to_set, touch);
	/* Refused for the file's flags: unless it is the kernel clearing
	 * set-id bits, which it does past them, or writing back times it
	 * set itself.  Asked only then, so a chmod costs nothing more. */
	if (r == -EPERM && clears_setid_of_protected(fs, n, attr, to_set))
		r = clear_setid_lifted(fs, n, attr->st_mode);
	else if (r == -EPERM && written_back && fileattr_protected(fs, n) < 0)
		r = 0;
	if (r == 0)
		r = inode_stat(fs, n, &st);
reply:
	caps_killed_settle(fs, n, fuse_req_ctx(req)->pid, to_set, r);
	node_unref(fs, n);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}
