#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "acl_xattr.h"
#include "entry_path.h"
#include "fsutil.h"
#include "lf_common.h"
#include "removed_dirs.h"
#include "rmtree.h"
#include "safe_path.h"
#include "strset.h"
#include "whiteout.h"
#include "xattr_policy.h"

/* Directory metadata applied once every member is in: a directory's mode
 * may forbid creating its children, each child changes its mtime, and a
 * default ACL would be inherited by every child created after it, which
 * the archive gives its own ACL or none.  clear_default: named before,
 * with no default ACL this time. */
struct dir_meta {
	char *path;
	mode_t mode;
	struct timespec times[2];
	char *default_acl;
	size_t default_acl_len;
	bool clear_default;
};

struct unpacker {
	int rootfd;
	struct unpack_opts o;
	struct dir_meta *dirs;
	size_t ndirs, cap;
	/* Directories later members replaced: what dirs holds for them and
	 * their subtrees is not applied. */
	struct removed_dirs removed;
	/* The root was named by a member already. */
	bool root_named;
	/* The target the archive gives each symlink written with a clamped
	 * one, by path: a hard link of it shares that target, which means
	 * something else from another directory than the clamped text.
	 * Only those: a symlink written as the archive gives it keeps its
	 * target on disk.  A member that replaces one drops its entry. */
	struct strset clamped;
	struct unpack_counts counts;
};

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A member name fit for one line of error: a hostile archive may use
 * names of kilobytes.  Rotating buffers, so one message can show two. */
static const char *disp(const char *s)
{
	static char bufs[2][160];
	static int next;
	char *b = bufs[next++ & 1];
	ep_shorten(s ? s : "", b, sizeof(bufs[0]));
	return b;
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

int unpacker_new(int rootfd, const struct unpack_opts *o,
		 struct unpacker **out)
{
	struct unpacker *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->rootfd = rootfd;
	u->o = *o;
	removed_dirs_init(&u->removed);
	strset_init(&u->clamped);
	*out = u;
	return 0;
}

const struct unpack_counts *unpacker_counts(const struct unpacker *u)
{
	return &u->counts;
}

void unpacker_free(struct unpacker *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->ndirs; i++) {
		free(u->dirs[i].path);
		free(u->dirs[i].default_acl);
	}
	free(u->dirs);
	removed_dirs_free(&u->removed);
	strset_free(&u->clamped);
	free(u);
}

/* The default ACL a directory member carries, kept for
 * unpacker_finish. */
struct deferred_acl {
	char *value;
	size_t len;
};

/* Takes over acl->value. */
static int defer_dir(struct unpacker *u, const char *path, mode_t mode,
		     const struct timespec times[2], struct deferred_acl *acl,
		     bool named_before)
{
	if (u->ndirs == u->cap) {
		size_t nc = u->cap ? u->cap * 2 : 64;
		struct dir_meta *nd = realloc(u->dirs, nc * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		u->dirs = nd;
		u->cap = nc;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	u->dirs[u->ndirs++] = (struct dir_meta){
		.path = p, .mode = mode, .times = { times[0], times[1] },
		.default_acl = acl->value, .default_acl_len = acl->len,
		.clear_default = named_before && !acl->value
	};
	acl->value = NULL;
	return 0;
}

/*
 * The mode the file really gets.  Rootless, the true mode lives in the
 * override record; the real one must let the importing user (who owns
 * everything) read, write and traverse, and never carries set-id bits
 * that would mean something for the importing user's own id.
 */
static mode_t real_mode(const struct unpacker *u, mode_t type, mode_t perm)
{
	if (!u->o.override_owner)
		return perm & 07777;
	perm &= ~(mode_t)(S_ISUID | S_ISGID);
	return perm | (S_ISDIR(type) ? 0700 : 0600);
}

/* Writes o as fd's override record. */
static int store_record(int fd, const struct override_stat *o)
{
	char v[96];
	int n = override_stat_format(v, sizeof(v), o);
	if (n < 0)
		return n;
	return fsetxattr(fd, OVERRIDE_STAT_CONTAINERS, v, (size_t)n, 0) < 0 ? -errno
								      : 0;
}

/* Owner of fd (open on dirfd/name): chown, or the override record. */
static int apply_owner(struct unpacker *u, int fd, mode_t type, uid_t uid,
		       gid_t gid, mode_t perm)
{
	if (!u->o.override_owner)
		return fchown(fd, uid, gid) < 0 ? -errno : 0;
	if (!S_ISREG(type) && !S_ISDIR(type))
		return 0; /* user.* xattrs exist only on files and dirs */
	struct override_stat o = { .uid = uid, .gid = gid, .mode = perm };
	return store_record(fd, &o);
}

/* Remembered for the warning at the end: name could not be set. */
static void xattr_not_set(struct unpacker *u, const char *name)
{
	if (u->counts.xattrs_failed++ == 0)
		snprintf(u->counts.first_failed_xattr,
			 sizeof(u->counts.first_failed_xattr), "%s", name);
}

/*
 * One xattr onto fd, or pfd/last.  Refusals the layer can live without
 * (no xattrs or ACLs on this filesystem, a namespace the importer may
 * not write, an ACL on a type that takes none or naming ids this user
 * namespace cannot map) are counted and warned about once, not fatal.
 * Rootless, an ACL is never applied: its ids are the container's users,
 * and on the real file they would grant host users access.
 */
static int set_xattr(struct unpacker *u, int fd, int pfd, const char *last,
		     const char *name, const void *value, size_t size,
		     struct deferred_acl *dir_acl)
{
	bool acl = xattr_is_posix_acl(name);
	if (acl && u->o.override_owner) {
		xattr_not_set(u, name);
		return 0;
	}
	if (dir_acl && !strcmp(name, XATTR_ACL_DEFAULT)) {
		char *copy = malloc(size ? size : 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, value, size);
		free(dir_acl->value);
		*dir_acl = (struct deferred_acl){ copy, size };
		return 0;
	}
	int r;
	if (fd >= 0)
		r = fsetxattr(fd, name, value, size, 0) < 0 ? -errno : 0;
	else
		r = fs_xattr_set_at(pfd, last, name, value, size);
	if (r == -EPERM || r == -ENOTSUP || r == -EACCES ||
	    (acl && r == -EINVAL)) {
		xattr_not_set(u, name);
		return 0;
	}
	return r;
}

/* An ACL the archive gave as text (SCHILY.acl.*), unless its xattr
 * came as well. */
static int set_text_acl(struct unpacker *u, struct archive_entry *e,
			int type, const char *name, int fd, int pfd,
			const char *last, struct deferred_acl *dir_acl)
{
	char *value;
	size_t size;
	int r = acl_xattr_from_entry(e, type, &value, &size);
	if (r == -EINVAL) {
		xattr_not_set(u, name);
		return 0;
	}
	if (r < 0 || !value)
		return r;
	r = set_xattr(u, fd, pfd, last, name, value, size, dir_acl);
	free(value);
	return r;
}

/* The member's xattrs, minus bookkeeping, and its ACLs; fd is a real fd
 * for files and directories, -1 for other types (reached by pfd/last
 * then).  A directory's default ACL goes to *dir_acl, to be set once its
 * children are in. */
static int apply_xattrs(struct unpacker *u, struct archive_entry *e, int fd,
			int pfd, const char *last, struct deferred_acl *dir_acl)
{
	const char *name;
	const void *value;
	size_t size;
	bool has_access = false, has_default = false;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) ==
	       ARCHIVE_OK) {
		if (!name || !*name)
			continue;
		if (xattr_is_private(name)) {
			u->counts.xattrs_dropped++;
			continue;
		}
		has_access |= !strcmp(name, XATTR_ACL_ACCESS);
		has_default |= !strcmp(name, XATTR_ACL_DEFAULT);
		int r = set_xattr(u, fd, pfd, last, name, value, size,
				  dir_acl);
		if (r < 0)
			return r;
	}
	int r = 0;
	if (!has_access)
		r = set_text_acl(u, e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS,
				 XATTR_ACL_ACCESS, fd, pfd, last, dir_acl);
	if (r == 0 && !has_default)
		r = set_text_acl(u, e, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT,
				 XATTR_ACL_DEFAULT, fd, pfd, last, dir_acl);
	return r;
}

/*
 * Before a directory named again takes the later member's attributes:
 * what an earlier member of the name set goes, as it does when a file
 * named again is made anew.  Left alone: bookkeeping, which no archive
 * sets (the override record is written again by apply_owner); the
 * default ACL, held back to the end of the layer, where the later
 * member's or none is applied; security.* labels, which the system may
 * give any new directory (an LSM policy) and which cannot be told from
 * one a member set.  A name this process may not remove it could not
 * have set either: no member of this layer set it.
 */
static int drop_earlier_xattrs(int fd)
{
	struct name_list names;
	int r = fs_xattr_names_at(fd, NULL, &names);
	if (r < 0)
		return r;
	for (size_t i = 0; i < names.n && r == 0; i++) {
		const char *name = names.names[i];
		if (xattr_is_private(name) ||
		    !strcmp(name, XATTR_ACL_DEFAULT) ||
		    !strncmp(name, "security.", strlen("security.")))
			continue;
		if (fremovexattr(fd, name) < 0 && errno != ENODATA &&
		    errno != EPERM && errno != EACCES && errno != ENOTSUP)
			r = -errno;
	}
	name_list_free(&names);
	return r;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
}

/*
 * Opens the parent of PATH below the root, creating missing directories
 * (archives may leave parents out).  A symlink or a file on the way is
 * refused: following it is how a member would land outside the layer.
 */
static int open_parent(struct unpacker *u, const char *path,
		       const char **last, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	*last = slash ? slash + 1 : path;
	if (!slash) {
		int fd = openat(u->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	char dir[PATH_MAX];
	size_t n = (size_t)(slash - path);
	memcpy(dir, path, n);
	dir[n] = 0;
	int fd = sp_open_beneath(u->rootfd, dir, O_PATH | O_DIRECTORY, 0);
	if (fd >= 0)
		return fd;
	if (fd != -ENOENT && fd != -ELOOP && fd != -ENOTDIR)
		return fail(err, errlen, fd, "entry '%s': %s", disp(path),
			    strerror(-fd));
	/* Walk it component by component to find what is missing or what
	 * is in the way. */
	int cur = openat(u->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -errno;
	char *save = NULL;
	for (char *c = strtok_r(dir, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		int next = openat(cur, c,
				  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
				int e = -errno;
				close(cur);
				return fail(err, errlen, e,
					    "entry '%s': cannot create '%s': %s",
					    disp(path), disp(c), strerror(-e));
			}
			next = openat(cur, c,
				      O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					      O_CLOEXEC);
			if (next >= 0) {
				/* Owned by root, as its children. */
				int r = apply_owner(u, next, S_IFDIR, 0, 0,
						    0755);
				if (r == 0 &&
				    fchmod(next, real_mode(u, S_IFDIR, 0755)) <
					    0)
					r = -errno;
				if (r < 0) {
					close(next);
					close(cur);
					return fail(err, errlen, r,
						    "entry '%s': %s", disp(path),
						    strerror(-r));
				}
			}
		}
		if (next < 0) {
			int e = errno;
			close(cur);
			if (e == ENOTDIR || e == ELOOP)
				return fail(err, errlen, -EINVAL,
					    "entry '%s' goes through '%s', "
					    "which is not a directory "
					    "(a symlink or a file)",
					    disp(path), disp(c));
			return fail(err, errlen, -e, "entry '%s': %s", disp(path),
				    strerror(e));
		}
		close(cur);
		cur = next;
	}
	return cur;
}

static int write_data(struct unpacker *u, struct archive *a, int fd,
		      struct archive_entry *e, char *err, size_t errlen,
		      const char *path)
{
	const void *buf;
	size_t size;
	la_int64_t offset;
	int64_t end = 0;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_OK) {
			const char *msg = archive_error_string(a);
			int en = archive_errno(a);
			return fail(err, errlen, en > 0 ? -en : -EIO,
				    "entry '%s': %s", disp(path),
				    msg ? msg : "read error");
		}
		const char *p = buf;
		size_t left = size;
		off_t off = (off_t)offset;
		while (left > 0) {
			ssize_t w = pwrite(fd, p, left, off);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				int en = errno;
				return fail(err, errlen, -en, "entry '%s': %s",
					    disp(path), strerror(en));
			}
			p += w;
			left -= (size_t)w;
			off += w;
		}
		if ((int64_t)offset + (int64_t)size > end)
			end = (int64_t)offset + (int64_t)size;
		u->counts.bytes += size;
	}
	/* Sparse members end in a hole that no block covers. */
	int64_t want = archive_entry_size_is_set(e) ? archive_entry_size(e)
						    : end;
	if (want < end)
		want = end;
	if (ftruncate(fd, (off_t)want) < 0) {
		int en = errno;
		return fail(err, errlen, -en, "entry '%s': %s", disp(path),
			    strerror(en));
	}
	return 0;
}

/* The member's xattrs, then its times (last: anything written after
 * would change them), onto the file open as fd. */
static int finish_file(struct unpacker *u, struct archive_entry *e, int fd)
{
	int r = apply_xattrs(u, e, fd, -1, NULL, NULL);
	struct timespec ts[2];
	entry_times(e, ts);
	if (r == 0 && futimens(fd, ts) < 0)
		r = -errno;
	return r;
}

static int make_regular(struct unpacker *u, struct archive *a,
			struct archive_entry *e, int pfd, const char *last,
			const char *path, char *err, size_t errlen)
{
	int fd = openat(pfd, last,
			O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0) {
		int en = errno;
		return fail(err, errlen, -en, "entry '%s': %s", disp(path),
			    strerror(en));
	}
	int r = write_data(u, a, fd, e, err, errlen, path);
	mode_t perm = archive_entry_perm(e);
	if (r == 0) {
		/* chown first: it clears set-id bits and capabilities. */
		r = apply_owner(u, fd, S_IFREG, archive_entry_uid(e),
				archive_entry_gid(e), perm);
		if (r == 0 && fchmod(fd, real_mode(u, S_IFREG, perm)) < 0)
			r = -errno;
		if (r == 0)
			r = finish_file(u, e, fd);
		if (r < 0 && !err[0])
			fail(err, errlen, r, "entry '%s': %s", disp(path),
			     strerror(-r));
	}
	close(fd);
	return r;
}

/*
 * A device node where mknod is not allowed (rootless: device_standins):
 * an empty file whose override record names the device, as layerfs's
 * own mknod leaves one there (fs/override.c) and fuse-overlayfs and
 * containers/storage (force_mask) do.  layerfs shows it as the device
 * (on a mount that is nodev, as every rootless FUSE mount and
 * layerrun's own are), and export writes the device node back.
 */
static int make_device_standin(struct unpacker *u, struct archive_entry *e,
			       int pfd, const char *last)
{
	int fd = openat(pfd, last,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0)
		return -errno;
	struct override_stat o = {
		.uid = (uid_t)archive_entry_uid(e),
		.gid = (gid_t)archive_entry_gid(e),
		.mode = archive_entry_filetype(e) |
			(archive_entry_perm(e) & 07777),
		.rdev = archive_entry_rdev(e),
		.has_type = true,
	};
	int r = store_record(fd, &o);
	if (r == 0)
		r = finish_file(u, e, fd);
	close(fd);
	return r;
}

/*
 * The attributes member e gives the directory open as fd (closed here):
 * its owner and xattrs now, its mode, times and default ACL once its
 * entries are in (defer_dir).  again: an earlier member named it too,
 * whose xattrs go; existed: it was there before this member.
 */
static int dir_from_member(struct unpacker *u, struct archive_entry *e,
			   int fd, const char *path, bool again, bool existed)
{
	mode_t perm = archive_entry_perm(e);
	struct deferred_acl acl = { NULL, 0 };
	int r = again ? drop_earlier_xattrs(fd) : 0;
	if (r == 0)
		r = apply_owner(u, fd, S_IFDIR, archive_entry_uid(e),
				archive_entry_gid(e), perm);
	if (r == 0)
		r = apply_xattrs(u, e, fd, -1, NULL, &acl);
	close(fd);
	if (r == 0) {
		struct timespec ts[2];
		entry_times(e, ts);
		r = defer_dir(u, path, perm, ts, &acl, existed);
	}
	free(acl.value);
	return r;
}

static int make_dir(struct unpacker *u, struct archive_entry *e, int pfd,
		    const char *last, const char *path, bool existed,
		    char *err, size_t errlen)
{
	if (!existed && mkdirat(pfd, last, 0700) < 0) {
		int en = errno;
		return fail(err, errlen, -en, "entry '%s': %s", disp(path),
			    strerror(en));
	}
	int fd = openat(pfd, last,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int en = errno;
		return fail(err, errlen, -en, "entry '%s': %s", disp(path),
			    strerror(en));
	}
	int r = dir_from_member(u, e, fd, path, existed, existed);
	if (r < 0)
		return fail(err, errlen, r, "entry '%s': %s", disp(path),
			    strerror(-r));
	return 0;
}

/* Symlinks, devices and fifos: metadata by name, never following. */
static int finish_special(struct unpacker *u, struct archive_entry *e,
			  int pfd, const char *last, bool is_link)
{
	if (!u->o.override_owner &&
	    fchownat(pfd, last, archive_entry_uid(e), archive_entry_gid(e),
		     AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* These types carry no override record (user.* xattrs are for
	 * files and directories): rootless too, the real inode keeps the
	 * whole mode, as layerfs keeps it there.  Set through the node
	 * itself: a chmod by name follows a symlink. */
	if (!is_link) {
		int fd = openat(pfd, last, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		int r = fd < 0 ? -errno
			       : fs_chmod_fd(fd, archive_entry_perm(e) & 07777);
		if (fd >= 0)
			close(fd);
		if (r < 0)
			return r;
	}
	int r = apply_xattrs(u, e, -1, pfd, last, NULL);
	if (r < 0)
		return r;
	struct timespec ts[2];
	entry_times(e, ts);
	if (utimensat(pfd, last, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/*
 * A hard link PATH (pfd/last) of the symlink TARGET (tpfd/tlast), whose
 * lstat is ST.  In the archive the two share the symlink's target as the
 * archive gives it (not the clamped text written for TARGET, if it was
 * clamped), and read from another directory it may lead elsewhere: it
 * passes the rule a symlink member passes, from the link's own
 * directory.  Where that gives the text TARGET holds, the link is a
 * hard link; otherwise (its leading ".." clamped otherwise) a symlink
 * of its own with the link's owner and times: the same in the
 * container.
 */
static int link_symlink(struct unpacker *u, const char *target, int tpfd,
			const char *tlast, const struct stat *st, int pfd,
			const char *last, const char *path,
			const char *target_raw, char *err, size_t errlen)
{
	char t[PATH_MAX];
	ssize_t n = readlinkat(tpfd, tlast, t, sizeof(t) - 1);
	if (n < 0)
		return fail(err, errlen, -errno, "hard link '%s' -> '%s': %s",
			    disp(path), disp(target_raw), strerror(errno));
	t[n] = 0;
	const char *given = strset_value(&u->clamped, target);
	if (!given)
		given = t;
	const char *kept;
	enum ep_link verdict = ep_symlink_clamp(path, given, &kept);
	if (verdict == EP_LINK_ESCAPES)
		return fail(err, errlen, -EINVAL,
			    "hard link '%s' -> '%s' of a symlink to '%s' "
			    "points outside the layer: a '..' after another "
			    "component climbs above its root",
			    disp(path), disp(target_raw), disp(given));
	int r = 0;
	if (strcmp(kept, t) == 0) {
		if (linkat(tpfd, tlast, pfd, last, 0) < 0)
			r = -errno;
	} else {
		struct timespec ts[2] = { st->st_atim, st->st_mtim };
		if (symlinkat(kept, pfd, last) < 0 ||
		    (!u->o.override_owner &&
		     fchownat(pfd, last, st->st_uid, st->st_gid,
			      AT_SYMLINK_NOFOLLOW) < 0) ||
		    utimensat(pfd, last, ts, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	}
	if (r < 0)
		return fail(err, errlen, r, "hard link '%s' -> '%s': %s",
			    disp(path), disp(target_raw), strerror(-r));
	return verdict == EP_LINK_CLAMPED
		       ? strset_put(&u->clamped, path, given)
		       : 0;
}

/* marker: the link's name makes it a whiteout or opaque marker, which
 * only a regular file may be. */
static int make_hardlink(struct unpacker *u, const char *target_raw,
			 int pfd, const char *last, const char *path,
			 bool marker, char *err, size_t errlen)
{
	char target[PATH_MAX];
	enum ep_verdict v = ep_normalise(target_raw, target, sizeof(target));
	if (v != EP_OK)
		return fail(err, errlen, -EINVAL,
			    "hard link '%s' -> '%s': the target %s", disp(path),
			    disp(target_raw), ep_reason(v));
	if (!target[0] || strcmp(target, path) == 0)
		return fail(err, errlen, -EINVAL,
			    "hard link '%s' -> '%s' does not name another "
			    "member",
			    disp(path), disp(target_raw));
	const char *tlast;
	int tpfd = sp_open_parent(u->rootfd, target, &tlast);
	struct stat st;
	if (tpfd >= 0 && fstatat(tpfd, tlast, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		close(tpfd);
		tpfd = -errno;
	}
	if (tpfd < 0)
		return fail(err, errlen, -EINVAL,
			    "hard link '%s' -> '%s': the target is not an "
			    "earlier member of this layer",
			    disp(path), disp(target_raw));
	int r = 0;
	if (S_ISDIR(st.st_mode))
		r = fail(err, errlen, -EINVAL,
			 "hard link '%s' -> '%s': the target is a directory",
			 disp(path), disp(target_raw));
	else if (marker && !S_ISREG(st.st_mode))
		r = fail(err, errlen, -EINVAL,
			 "hard link '%s' -> '%s' is a whiteout or opaque "
			 "marker by its name but its target is not a file "
			 "(an OCI whiteout is an empty file)",
			 disp(path), disp(target_raw));
	else if (S_ISLNK(st.st_mode))
		r = link_symlink(u, target, tpfd, tlast, &st, pfd, last, path,
				 target_raw, err, errlen);
	else if (linkat(tpfd, tlast, pfd, last, 0) < 0)
		r = fail(err, errlen, -errno, "hard link '%s' -> '%s': %s",
			 disp(path), disp(target_raw), strerror(errno));
	close(tpfd);
	return r;
}

/* ".wh.NAME" or ".wh..wh..opq": a whiteout or opaque marker, which is
 * an empty file.  A symlink, directory or device under such a name
 * means nothing to an OCI reader and something else to each tool that
 * meets it (a convert that changes its metadata would change its
 * target's). */
static bool is_marker_name(const char *last)
{
	enum wh_kind k = wh_classify_name(last, NULL);
	return k == WH_WHITEOUT || k == WH_OPAQUE;
}

/* ".wh." alone or hiding "." or "..": never a valid member name. */
static bool bad_whiteout_name(const char *last)
{
	if (!wh_is_reserved(last))
		return false;
	if (strncmp(last, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0)
		return false;
	return wh_classify_name(last, NULL) == WH_INTERNAL;
}

/*
 * Whether the member's uid and gid are ids a file can have.  A pax
 * record holds any decimal number, and uid_t is 32 bits: 2^32 would
 * wrap to 0 (a root-owned file), a negative id to a huge one, and
 * (uid_t)-1 tells chown to leave the owner as it is (the importer's).
 */
static bool owner_in_range(struct archive_entry *e)
{
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	return uid >= 0 && uid < (la_int64_t)(uid_t)-1 && gid >= 0 &&
	       gid < (la_int64_t)(gid_t)-1;
}

static int apply_root(struct unpacker *u, struct archive_entry *e,
		      char *err, size_t errlen)
{
	if (archive_entry_filetype(e) != AE_IFDIR ||
	    archive_entry_hardlink(e))
		return fail(err, errlen, -EINVAL,
			    "the member naming the layer root is not a "
			    "directory");
	int fd = openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = dir_from_member(u, e, fd, "", u->root_named, true);
	u->root_named = true;
	if (r < 0)
		return fail(err, errlen, r, "layer root: %s", strerror(-r));
	return 0;
}

/*
 * Removes the directory PATH (pfd/last) that a later member replaces,
 * with everything this layer put under it: the layer is unpacked alone
 * into a directory of its own, so nothing of a lower layer is there to
 * touch.  pfd was reached below the root without a symlink, last is one
 * component, and the removal opens nothing but directories, never
 * following a symlink, so it cannot leave the layer.  What was held
 * back for the directories removed is dropped, and hard links to the
 * members removed find no target, as links to missing members.
 */
static int replace_dir(struct unpacker *u, int pfd, const char *last,
		       const char *path, char *err, size_t errlen)
{
	int r = lf_rmtree_at(pfd, last);
	if (r == 0)
		r = removed_dirs_add(&u->removed, path, u->ndirs);
	if (r < 0)
		return fail(err, errlen, r,
			    "entry '%s': cannot remove the directory it "
			    "replaces: %s",
			    disp(path), strerror(-r));
	return 0;
}

/* The first directory component of PATH (all but its last) that is a
 * whiteout's, opaque marker's or reserved name, copied to comp; false
 * when there is none.  Made as a directory on the way to a member, it
 * would be a layer that `check` calls broken and `export` loses the
 * member of. */
static bool marker_named_parent(const char *path, char *comp, size_t len)
{
	for (const char *c = path, *slash; (slash = strchr(c, '/'));
	     c = slash + 1) {
		snprintf(comp, len, "%.*s", (int)(slash - c), c);
		if (is_marker_name(comp) || bad_whiteout_name(comp))
			return true;
	}
	return false;
}

int unpacker_entry(struct unpacker *u, struct archive *a,
		   struct archive_entry *e, char *err, size_t errlen)
{
	err[0] = 0;
	const char *raw = archive_entry_pathname(e);
	char path[PATH_MAX];
	enum ep_verdict v = ep_normalise(raw, path, sizeof(path));
	if (v != EP_OK)
		return fail(err, errlen, -EINVAL, "entry '%s' %s",
			    disp(raw ? raw : ""), ep_reason(v));
	u->counts.entries++;
	if (!owner_in_range(e))
		return fail(err, errlen, -EINVAL,
			    "entry '%s' has owner %lld:%lld, outside the range "
			    "of user and group ids",
			    disp(path[0] ? path : "."),
			    (long long)archive_entry_uid(e),
			    (long long)archive_entry_gid(e));
	if (!path[0])
		return apply_root(u, e, err, errlen);

	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (hardlink)
		type = 0;
	if (type == AE_IFSOCK)
		return 0; /* no archive format can carry a socket's meaning */
	/* A leading run of ".." climbing above the root is dropped: the
	 * same target in the container, inside the layer on the host. */
	const char *link_target = NULL, *t = NULL;
	if (type == AE_IFLNK) {
		t = archive_entry_symlink(e);
		if (!t || !*t)
			return fail(err, errlen, -EINVAL,
				    "symlink '%s' has no target", disp(path));
		if (strlen(t) >= PATH_MAX)
			return fail(err, errlen, -EINVAL,
				    "symlink '%s' has a target longer than "
				    "the limit",
				    disp(path));
		if (ep_symlink_clamp(path, t, &link_target) == EP_LINK_ESCAPES)
			return fail(err, errlen, -EINVAL,
				    "symlink '%s' -> '%s' points outside the "
				    "layer: a '..' after another component "
				    "climbs above its root",
				    disp(path), disp(t));
	}

	char comp[NAME_MAX + 1];
	if (marker_named_parent(path, comp, sizeof(comp)))
		return fail(err, errlen, -EINVAL,
			    "entry '%s' goes through '%s', a whiteout or "
			    "opaque marker's name, as a directory",
			    disp(path), disp(comp));
	const char *last;
	int pfd = open_parent(u, path, &last, err, errlen);
	if (pfd < 0)
		return pfd;
	if (bad_whiteout_name(last)) {
		close(pfd);
		return fail(err, errlen, -EINVAL,
			    "entry '%s' is not a valid whiteout name", disp(path));
	}
	bool marker = is_marker_name(last);
	if (marker && !hardlink && type != AE_IFREG) {
		close(pfd);
		return fail(err, errlen, -EINVAL,
			    "entry '%s' is a whiteout or opaque marker by its "
			    "name but not a file (an OCI whiteout is an empty "
			    "file)",
			    disp(path));
	}
	/* A later member of a name replaces the earlier one (OCI changeset
	 * order): a directory stays only for a directory. */
	struct stat st;
	bool existed = false;
	int r = 0;
	if (fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode) && type == AE_IFDIR) {
			existed = true;
		} else if (S_ISDIR(st.st_mode)) {
			r = replace_dir(u, pfd, last, path, err, errlen);
		} else if (unlinkat(pfd, last, 0) < 0) {
			r = fail(err, errlen, -errno, "entry '%s': %s", disp(path),
				 strerror(errno));
		}
	}
	strset_remove(&u->clamped, path);
	if (r == 0) {
		if (hardlink) {
			r = make_hardlink(u, hardlink, pfd, last, path,
					  marker, err, errlen);
		} else {
			switch (type) {
			case AE_IFREG:
				r = make_regular(u, a, e, pfd, last, path, err,
						 errlen);
				break;
			case AE_IFDIR:
				r = make_dir(u, e, pfd, last, path, existed,
					     err, errlen);
				break;
			case AE_IFLNK:
				r = symlinkat(link_target, pfd, last) < 0
					    ? -errno
					    : finish_special(u, e, pfd, last,
							     true);
				if (r == 0 && link_target != t)
					r = strset_put(&u->clamped, path, t);
				break;
			case AE_IFCHR:
			case AE_IFBLK:
				if (u->o.device_standins) {
					r = make_device_standin(u, e, pfd,
								last);
					break;
				}
				r = mknodat(pfd, last,
					    type | (archive_entry_perm(e) &
						    07777),
					    archive_entry_rdev(e)) < 0
					    ? -errno
					    : finish_special(u, e, pfd, last,
							     false);
				break;
			case AE_IFIFO:
				r = mkfifoat(pfd, last, 0600) < 0
					    ? -errno
					    : finish_special(u, e, pfd, last,
							     false);
				break;
			default:
				r = fail(err, errlen, -EINVAL,
					 "entry '%s' has an unknown type",
					 disp(path));
			}
		}
		if (r < 0 && !err[0])
			fail(err, errlen, r, "entry '%s': %s", disp(path),
			     strerror(-r));
	}
	close(pfd);
	return r;
}

/* A directory's default ACL, now that its children are in (a
 * refusal is counted like any xattr's); or the one an earlier member of
 * the same name gave, removed. */
static int finish_default_acl(struct unpacker *u, int fd,
			      const struct dir_meta *d)
{
	if (d->default_acl)
		return set_xattr(u, fd, -1, NULL, XATTR_ACL_DEFAULT,
				 d->default_acl, d->default_acl_len, NULL);
	if (d->clear_default && fremovexattr(fd, XATTR_ACL_DEFAULT) < 0 &&
	    errno != ENODATA && errno != ENOTSUP)
		return -errno;
	return 0;
}

/* Which held-back directories a later member removed. */
static int dirs_gone(const struct unpacker *u, bool **gone)
{
	*gone = calloc(u->ndirs ? u->ndirs : 1, sizeof(**gone));
	const char **paths = malloc((u->ndirs ? u->ndirs : 1) *
				    sizeof(*paths));
	int r = *gone && paths ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < u->ndirs; i++)
		paths[i] = u->dirs[i].path;
	if (r == 0)
		r = removed_dirs_mark_gone(&u->removed, paths, u->ndirs, *gone);
	free(paths);
	if (r < 0) {
		free(*gone);
		*gone = NULL;
	}
	return r;
}

/* Each held-back directory's metadata, unless a later member removed
 * the directory (gone). */
static int finish_dirs(struct unpacker *u, const bool *gone, bool *root_done,
		       char *err, size_t errlen)
{
	/* Forward order: a directory named twice gets its last metadata. */
	for (size_t i = 0; i < u->ndirs; i++) {
		struct dir_meta *d = &u->dirs[i];
		if (gone[i])
			continue;
		int fd = sp_open_beneath(u->rootfd, d->path,
					 O_RDONLY | O_DIRECTORY, 0);
		if (fd < 0)
			return fail(err, errlen, fd, "directory '%s': %s",
				    disp(d->path), strerror(-fd));
		int r = finish_default_acl(u, fd, d);
		if (r == 0 &&
		    (fchmod(fd, real_mode(u, S_IFDIR, d->mode)) < 0 ||
		     futimens(fd, d->times) < 0))
			r = -errno;
		close(fd);
		if (r < 0)
			return fail(err, errlen, r, "directory '%s': %s",
				    disp(d->path), strerror(-r));
		if (!d->path[0])
			*root_done = true;
	}
	return 0;
}

int unpacker_finish(struct unpacker *u, char *err, size_t errlen)
{
	bool root_done = false;
	bool *gone;
	int r = dirs_gone(u, &gone);
	if (r < 0)
		return fail(err, errlen, r, "%s", strerror(-r));
	r = finish_dirs(u, gone, &root_done, err, errlen);
	free(gone);
	if (r < 0)
		return r;
	if (!root_done) {
		/* No member for the root: a plain root-owned 0755. */
		int fd = openat(u->rootfd, ".",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		r = apply_owner(u, fd, S_IFDIR, 0, 0, 0755);
		if (r == 0 && fchmod(fd, real_mode(u, S_IFDIR, 0755)) < 0)
			r = -errno;
		close(fd);
		if (r < 0)
			return fail(err, errlen, r, "layer root: %s",
				    strerror(-r));
	}
	return 0;
}
