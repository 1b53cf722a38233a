/*
 * layertool convert --to dotwh|overlay LAYER_DIR: whiteouts and opaque
 * markers converted in place.
 *
 * Crash safety comes from the order of every step: the new marker is
 * made before the old one goes, and both formats mean the same thing to
 * layerfs, kernel overlayfs readers of either, and to this command.  An
 * interrupted run leaves a layer that reads the same, and running the
 * command again finishes the job.  Each converted directory gets its
 * times back, so converting there and back is the identity.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "fsutil.h"
#include "lf_common.h"
#include "signals.h"
#include "tree_walk.h"
#include "whiteout.h"

static const char convert_help[] =
	"usage: layertool convert --to dotwh|overlay [--xattr trusted|user]\n"
	"                         LAYER_DIR\n"
	"\n"
	"Converts the whiteouts and opaque markers of a layer directory in\n"
	"place.  dotwh: `.wh.NAME` files and `.wh..wh..opq` (OCI, aufs, the\n"
	"layerfs default).  overlay: 0/0 character devices and an\n"
	"overlay.opaque xattr (kernel overlayfs, fuse-overlayfs).  An\n"
	"interrupted run can simply be run again.\n"
	"\n"
	"  --to FORMAT          dotwh or overlay\n"
	"  --xattr NAMESPACE    opaque xattr written for overlay: trusted\n"
	"                       (trusted.overlay.opaque, the default as root)\n"
	"                       or user (user.overlay.opaque, the default\n"
	"                       otherwise)\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 converted, 1 usage, 2 LAYER_DIR unreadable, holding\n"
	"something else than a marker under a marker's name, or (to dotwh) a\n"
	"whiteout whose name is too long for a .wh. prefix, 3 a marker\n"
	"cannot be written, 130 interrupted.\n";

/* Directory times kept while the directory is being converted. */
#define XATTR_CONVERT_TIMES "user.layertool.convert-times"

struct conv {
	enum wh_format to;
	const char *opaque_xattr;
	unsigned long whiteouts, opaques, skipped;
	/* The root's opaque marker was converted: it means something else
	 * in the new format (README, the layer model). */
	bool root_opaque;
	/* The layer holds what cannot be converted (exit status 2). */
	bool bad_input;
	char err[PATH_MAX + 200];
};

static int fail(struct conv *cv, const char *path, const char *what, int r)
{
	snprintf(cv->err, sizeof(cv->err), "'/%s': %s: %s", path, what,
		 strerror(-r));
	return r;
}

/* A directory of the layer cannot be opened to be walked: the input is
 * unreadable there (exit status 2), unless this process ran out of
 * memory or descriptors. */
static int unreadable_dir(struct conv *cv, const char *path, int r)
{
	if (r != -ENOMEM && r != -EMFILE && r != -ENFILE)
		cv->bad_input = true;
	return fail(cv, path, "cannot open", r);
}

/* Opens dirfd/name itself (O_PATH, never following a symlink) and
 * stats it: a marker is examined and changed through one descriptor, so
 * what is changed is what was examined. */
static int open_entry(int dirfd, const char *name, struct stat *st)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* Gives the entry open as pathfd (open_entry, no symlink) the owner,
 * mode and times of ST.  An owner this user may not give is left. */
static int copy_meta(int pathfd, const struct stat *st)
{
	int r = fs_chown_fd(pathfd, st->st_uid, st->st_gid);
	if (r < 0 && r != -EPERM)
		return r;
	r = fs_chmod_fd(pathfd, st->st_mode & 07777);
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	return r < 0 ? r : fs_utimens_fd(pathfd, ts);
}

/* A .wh. file that is a whiteout: empty.  To overlay, it is only
 * removed, never written through, so one with other names will do:
 * layerfs links every whiteout it makes to one inode (work/
 * whiteout.dotwh, fs/whiteout_ops.c).  A symlink, a directory or a file
 * with data under a marker's name is no whiteout (its data would go). */
static bool is_empty_file(const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_size == 0;
}

/* A .wh. file this command may write through (copy_meta): empty, with no
 * other name.  A hard link of another file, inside the layer or out
 * (layerfs's shared whiteout inode too), would take the owner, mode and
 * times given to it; a symlink's target would. */
static bool is_marker_file(const struct stat *st)
{
	return is_empty_file(st) && st->st_nlink == 1;
}

static const char *entry_kind(const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return "a symlink";
	if (S_ISDIR(st->st_mode))
		return "a directory";
	if (!S_ISREG(st->st_mode))
		return "a special file";
	if (st->st_size > 0)
		return "a file with data";
	return "a file with other names (a hard link)";
}

/* MARKER in the directory DIR is something else than the marker it is
 * named as (entry_kind): the conversion of the KIND at PATH stops, with
 * the layer as it was there. */
static int in_the_way(struct conv *cv, const char *dir, size_t dirlen,
		      const char *marker, const char *kind, const char *path,
		      const struct stat *st)
{
	snprintf(cv->err, sizeof(cv->err),
		 "'/%.*s%s%s' is %s, not an empty marker file: refusing to "
		 "convert the %s '/%s'",
		 (int)dirlen, dir, dirlen ? "/" : "", marker, entry_kind(st),
		 kind, path);
	return -EEXIST;
}

/* The marker WHNAME of the directory DIR, to become a whiteout of
 * TARGET, is no empty file (a symlink, a directory, a file with data):
 * nothing of it is changed or removed. */
static int whiteout_in_the_way(struct conv *cv, const char *dir,
			       const char *whname, const char *target,
			       const struct stat *st)
{
	char *hidden = fs_join(dir, target);
	if (!hidden)
		return -ENOMEM;
	int r = in_the_way(cv, dir, strlen(dir), whname, "whiteout of",
			   hidden, st);
	free(hidden);
	return r;
}

/* Gives dirfd/name, when it is still an overlay whiteout, the owner,
 * mode and times of ST. */
static int meta_onto_chardev(int dirfd, const char *name,
			     const struct stat *st)
{
	struct stat now;
	int fd = open_entry(dirfd, name, &now);
	if (fd < 0)
		return fd;
	int r = wh_is_overlay_whiteout(&now) ? copy_meta(fd, st) : -EEXIST;
	close(fd);
	return r;
}

/* A chardev whiteout (or a kernel "xwhiteout" file) NAME becomes
 * `.wh.NAME`. */
static int to_dotwh_entry(struct conv *cv, int dfd, const char *name,
			  const struct stat *st, const char *path)
{
	char wh[NAME_MAX + 1];
	int r = wh_dotwh_name(wh, sizeof(wh), name);
	if (r < 0) {
		/* (check_step refused it before the run changed anything:
		 * this one came meanwhile.) */
		cv->bad_input = true;
		return fail(cv, path, "name too long for a .wh. whiteout", r);
	}
	int fd = openat(dfd, wh,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0);
	if (fd < 0 && errno != EEXIST)
		return fail(cv, path, "cannot create its .wh. whiteout", -errno);
	if (fd >= 0)
		close(fd);
	/* Also when it existed: a run killed before this step left it
	 * without the old marker's owner, mode and times. */
	struct stat wst;
	fd = open_entry(dfd, wh, &wst);
	if (fd < 0)
		return fail(cv, path, "cannot open its .wh. whiteout", fd);
	if (!is_marker_file(&wst)) {
		close(fd);
		const char *slash = strrchr(path, '/');
		return in_the_way(cv, path, slash ? (size_t)(slash - path) : 0,
				  wh, "whiteout", path, &wst);
	}
	r = copy_meta(fd, st);
	close(fd);
	if (r < 0)
		return fail(cv, path, "cannot set the whiteout's owner", r);
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return fail(cv, path, "cannot remove the old whiteout", -errno);
	cv->whiteouts++;
	return 0;
}

/* `.wh.NAME` becomes a 0/0 character device NAME. */
static int to_overlay_entry(struct conv *cv, int dfd, const char *whname,
			    const char *target, const struct stat *st,
			    const char *path)
{
	struct stat tst;
	bool exists = fstatat(dfd, target, &tst, AT_SYMLINK_NOFOLLOW) == 0;
	if (exists && wh_is_overlay_whiteout(&tst)) {
		/* Made by a run killed before it removed the .wh. file. */
		int r = meta_onto_chardev(dfd, target, st);
		if (r < 0)
			return fail(cv, path, "cannot set its owner", r);
	} else if (exists) {
		/* NAME exists here too: done already (an interrupted run),
		 * or an OCI layer that re-creates NAME, which then hides
		 * what is below by itself (a directory must be opaque). */
		if (S_ISDIR(tst.st_mode)) {
			int fd = openat(dfd, target,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
			int r = fd < 0 ? -errno : 0;
			if (r == 0 && !(wh_fd_has_opaque_xattr(fd) > 0))
				r = fsetxattr(fd, cv->opaque_xattr, "y", 1, 0) <
						    0
					    ? -errno
					    : 0;
			if (fd >= 0)
				close(fd);
			if (r < 0)
				return fail(cv, path,
					    "cannot mark the directory it "
					    "hides as opaque",
					    r);
		}
	} else {
		if (mknodat(dfd, target, S_IFCHR | (st->st_mode & 07777),
			    makedev(0, 0)) < 0)
			return fail(cv, path, "cannot create a 0/0 device",
				    -errno);
		int r = meta_onto_chardev(dfd, target, st);
		if (r < 0)
			return fail(cv, path, "cannot set its owner", r);
	}
	if (unlinkat(dfd, whname, 0) < 0 && errno != ENOENT)
		return fail(cv, path, "cannot remove the .wh. whiteout", -errno);
	cv->whiteouts++;
	return 0;
}

static int opaque_to_dotwh(struct conv *cv, int dfd, const struct stat *dst,
			   const char *path)
{
	int fd = openat(dfd, WH_OPAQUE_NAME,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0644);
	if (fd < 0 && errno != EEXIST)
		return fail(cv, path, "cannot create .wh..wh..opq", -errno);
	bool made = fd >= 0;
	if (made)
		close(fd);
	/* One there already (a run killed before it removed the xattr, or
	 * both marks on the directory) stays as it is, if it is a file. */
	struct stat mst;
	fd = open_entry(dfd, WH_OPAQUE_NAME, &mst);
	if (fd < 0)
		return fail(cv, path, "cannot open .wh..wh..opq", fd);
	int r = 0;
	if (made ? !is_marker_file(&mst) : !S_ISREG(mst.st_mode)) {
		r = in_the_way(cv, path, strlen(path), WH_OPAQUE_NAME,
			       "opaque directory", path, &mst);
	} else if (made) {
		struct stat m = *dst;
		m.st_mode = S_IFREG | 0644;
		r = copy_meta(fd, &m);
		if (r < 0)
			fail(cv, path, "cannot set the marker's owner", r);
	}
	close(fd);
	if (r < 0)
		return r;
	int rfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	/* Only the opaque xattrs the directory has: removing an absent
	 * trusted.* one is refused (EPERM) to a user without the
	 * privilege, who cannot see or set one either. */
	struct name_list xl;
	r = fs_xattr_names_at(rfd, "", &xl);
	if (r < 0)
		r = fail(cv, path, "cannot list its xattrs", r);
	for (size_t i = 0; r == 0 && i < xl.n; i++)
		if (wh_is_opaque_xattr(xl.names[i]) &&
		    fremovexattr(rfd, xl.names[i]) < 0 && errno != ENODATA)
			r = fail(cv, path, "cannot remove the opaque xattr",
				 -errno);
	name_list_free(&xl);
	close(rfd);
	if (r == 0)
		cv->opaques++;
	return r;
}

/* MST: what the directory dfd holds as `.wh..wh..opq`.  Only a file is
 * an opaque marker; anything else stops the conversion before the
 * directory is given the xattr. */
static int opaque_to_overlay(struct conv *cv, int dfd, const struct stat *mst,
			     const char *path)
{
	if (!S_ISREG(mst->st_mode))
		return in_the_way(cv, path, strlen(path), WH_OPAQUE_NAME,
				  "opaque directory", path, mst);
	int rfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	int r = 0;
	if (!(wh_fd_has_opaque_xattr(rfd) > 0) &&
	    fsetxattr(rfd, cv->opaque_xattr, "y", 1, 0) < 0)
		r = fail(cv, path, "cannot set the opaque xattr", -errno);
	close(rfd);
	if (r == 0 && unlinkat(dfd, WH_OPAQUE_NAME, 0) < 0 && errno != ENOENT)
		r = fail(cv, path, "cannot remove .wh..wh..opq", -errno);
	if (r == 0)
		cv->opaques++;
	return r;
}

/* NAME of the directory the walk is at (dfd), at PATH; xw: the
 * directory's wh_fd_xwhiteout_attr. */
static int convert_entry(struct conv *cv, struct tree_walk *w, int dfd,
			 const char *name, const char *path, const char *xw)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail(cv, path, "stat", -errno);
	const char *target;
	enum wh_kind kind = wh_classify_name(name, &target);
	if (cv->to == WH_FORMAT_DOTWH) {
		if (kind == WH_NONE && wh_is_overlay_whiteout(&st))
			return to_dotwh_entry(cv, dfd, name, &st, path);
		if (kind == WH_NONE && wh_is_xwhiteout(dfd, name, &st, xw))
			return to_dotwh_entry(cv, dfd, name, &st, path);
	} else if (kind == WH_WHITEOUT) {
		if (!is_empty_file(&st))
			return whiteout_in_the_way(cv, tree_walk_path(w), name,
						   target, &st);
		return to_overlay_entry(cv, dfd, name, target, &st, path);
	} else if (kind == WH_INTERNAL) {
		cv->skipped++;
	}
	if (kind == WH_NONE && S_ISDIR(st.st_mode)) {
		int r = tree_walk_down_by_name(w, name, NULL);
		if (r < 0)
			return unreadable_dir(cv, path, r);
	}
	return 0;
}

/*
 * The times a directory had before this command touched it.  They are
 * recorded in an xattr before its first change and dropped after they
 * are restored, so a run killed in between restores the right ones when
 * run again.  Where xattrs are unsupported the times at the start serve.
 */
static bool saved_times(int dfd, const struct stat *dst,
			struct timespec ts[2])
{
	ts[0] = dst->st_atim;
	ts[1] = dst->st_mtim;
	char buf[96];
	ssize_t n = fgetxattr(dfd, XATTR_CONVERT_TIMES, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = 0;
	long long as, ms;
	long an, mn;
	if (sscanf(buf, "%lld.%ld %lld.%ld", &as, &an, &ms, &mn) == 4 &&
	    an >= 0 && an < 1000000000 && mn >= 0 && mn < 1000000000) {
		ts[0] = (struct timespec){ (time_t)as, an };
		ts[1] = (struct timespec){ (time_t)ms, mn };
	}
	return true;
}

static void save_times(int dfd, const struct timespec ts[2])
{
	char buf[96];
	int n = snprintf(buf, sizeof(buf), "%lld.%09ld %lld.%09ld",
			 (long long)ts[0].tv_sec, ts[0].tv_nsec,
			 (long long)ts[1].tv_sec, ts[1].tv_nsec);
	fsetxattr(dfd, XATTR_CONVERT_TIMES, buf, (size_t)n, 0);
}

/* Does the directory hold anything this conversion changes? */
static bool needs_change(const struct conv *cv, int dfd,
			 const struct name_list *names, const char *xw)
{
	if (cv->to == WH_FORMAT_DOTWH && wh_fd_has_opaque_xattr(dfd) > 0)
		return true;
	for (size_t i = 0; i < names->n; i++) {
		const char *n = names->names[i], *t;
		enum wh_kind k = wh_classify_name(n, &t);
		struct stat st;
		if (cv->to == WH_FORMAT_OVERLAY) {
			/* A marker that is none stops the conversion
			 * (in_the_way) with the directory as it was. */
			if (k == WH_OPAQUE &&
			    fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode))
				return true;
			if (k == WH_WHITEOUT &&
			    fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    is_empty_file(&st))
				return true;
		} else if (k == WH_NONE &&
			   fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			   (wh_is_overlay_whiteout(&st) ||
			    wh_is_xwhiteout(dfd, n, &st, xw))) {
			return true;
		}
	}
	return false;
}

/* A directory of the layer, as the walk holds it. */
struct convert_level {
	struct tree_walk_names n;
	struct stat st;
	struct timespec times[2]; /* to give it back */
	bool touch;               /* something in it changes */
	const char *xwhiteout;    /* wh_fd_xwhiteout_attr */
};

static int convert_enter(struct tree_walk *w, void *data)
{
	struct convert_level *l = data;
	struct conv *cv = tree_walk_ctx(w);
	int dfd = tree_walk_dirs(w, 0)->v[0].fd;
	const char *path = tree_walk_path(w);
	if (signals_interrupted())
		return -EINTR;
	if (fstat(dfd, &l->st) < 0)
		return fail(cv, path, "stat", -errno);
	bool resumed = saved_times(dfd, &l->st, l->times);
	int r = tree_walk_list(w, &l->n);
	if (r < 0)
		return fail(cv, path, "cannot list", r);
	l->xwhiteout = wh_fd_xwhiteout_attr(dfd);
	l->touch = resumed || needs_change(cv, dfd, &l->n.names, l->xwhiteout);
	if (l->touch && !resumed)
		save_times(dfd, l->times);
	return 0;
}

static int convert_step(struct tree_walk *w, void *data)
{
	struct convert_level *l = data;
	const char *name = tree_walk_next(&l->n);
	if (!name)
		return 0;
	char *child = fs_join(tree_walk_path(w), name);
	if (!child)
		return -ENOMEM;
	int dfd = tree_walk_dirs(w, 0)->v[0].fd;
	int r = convert_entry(tree_walk_ctx(w), w, dfd, name, child,
			      l->xwhiteout);
	free(child);
	return r < 0 ? r : 1;
}

/* Its entries done: the directory's own marker, and its times back. */
static int convert_leave(struct tree_walk *w, void *data)
{
	struct convert_level *l = data;
	struct conv *cv = tree_walk_ctx(w);
	int dfd = tree_walk_dirs(w, 0)->v[0].fd;
	const char *path = tree_walk_path(w);
	int r = 0;
	struct stat mst;
	bool marker = fstatat(dfd, WH_OPAQUE_NAME, &mst,
			      AT_SYMLINK_NOFOLLOW) == 0;
	bool converts = false;
	if (cv->to == WH_FORMAT_DOTWH && wh_fd_has_opaque_xattr(dfd) > 0) {
		/* The marker takes the directory's times from before the
		 * first run (saved_times), not those a killed one left. */
		struct stat ds = l->st;
		ds.st_atim = l->times[0];
		ds.st_mtim = l->times[1];
		r = opaque_to_dotwh(cv, dfd, &ds, path);
		converts = true;
	} else if (cv->to == WH_FORMAT_OVERLAY && marker) {
		r = opaque_to_overlay(cv, dfd, &mst, path);
		converts = true;
	}
	if (converts && !*path)
		cv->root_opaque = true;
	if (r == 0 && l->touch) {
		/* The directory reads as before: give it its times back. */
		futimens(dfd, l->times);
		fremovexattr(dfd, XATTR_CONVERT_TIMES);
	}
	return r;
}

static void convert_failed(struct tree_walk *w, int r)
{
	struct conv *cv = tree_walk_ctx(w);
	tree_walk_failure(w, r, cv->err, sizeof(cv->err));
}

static const struct tree_walk_ops convert_ops = {
	.groups = 1,
	.level_size = sizeof(struct convert_level),
	.enter = convert_enter,
	.step = convert_step,
	.leave = convert_leave,
	.drop = tree_walk_names_drop,
	.failed = convert_failed,
};

/*
 * To dotwh, before anything is changed: a whiteout whose name leaves no
 * room for the `.wh.` prefix (more than NAME_MAX - 4 bytes) has no
 * dotwh form.  Found half way, it would stop a run that had converted
 * part of the layer, and every run again; found first, it leaves the
 * layer as it was.  Reads only: lists each directory, stats each entry.
 */
struct check_level {
	struct tree_walk_names n;
	const char *xwhiteout; /* wh_fd_xwhiteout_attr */
};

static int check_enter(struct tree_walk *w, void *data)
{
	struct check_level *l = data;
	struct conv *cv = tree_walk_ctx(w);
	if (signals_interrupted())
		return -EINTR;
	int r = tree_walk_list(w, &l->n);
	if (r < 0)
		return fail(cv, tree_walk_path(w), "cannot list", r);
	l->xwhiteout = wh_fd_xwhiteout_attr(tree_walk_dirs(w, 0)->v[0].fd);
	return 0;
}

static int check_step(struct tree_walk *w, void *data)
{
	struct check_level *l = data;
	struct conv *cv = tree_walk_ctx(w);
	const char *name = tree_walk_next(&l->n);
	if (!name)
		return 0;
	int dfd = tree_walk_dirs(w, 0)->v[0].fd;
	struct stat st;
	if (wh_classify_name(name, NULL) != WH_NONE ||
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 1;
	if (S_ISDIR(st.st_mode)) {
		int r = tree_walk_down_by_name(w, name, NULL);
		if (r < 0) {
			char *child = fs_join(tree_walk_path(w), name);
			r = unreadable_dir(cv, child ? child : name, r);
			free(child);
		}
		return r < 0 ? r : 1;
	}
	size_t len = strlen(name);
	if (len + WH_PREFIX_LEN <= NAME_MAX ||
	    !(wh_is_overlay_whiteout(&st) ||
	      wh_is_xwhiteout(dfd, name, &st, l->xwhiteout)))
		return 1;
	const char *dir = tree_walk_path(w);
	snprintf(cv->err, sizeof(cv->err),
		 "'/%s%s%s' is a whiteout whose name (%zu bytes) leaves no "
		 "room for the .wh. prefix (%d bytes at most): nothing "
		 "converted",
		 dir, *dir ? "/" : "", name, len, NAME_MAX - WH_PREFIX_LEN);
	cv->bad_input = true;
	return -ENAMETOOLONG;
}

static const struct tree_walk_ops check_ops = {
	.groups = 1,
	.level_size = sizeof(struct check_level),
	.enter = check_enter,
	.step = check_step,
	.drop = tree_walk_names_drop,
	.failed = convert_failed,
};

/* A walk of the layer open as dfd (not taken over), at any depth. */
static int walk_layer(struct conv *cv, const struct tree_walk_ops *ops,
		      int dfd)
{
	struct walk_dirs root = { 0 };
	int r = walk_dirs_open_root(&root, dfd, 0);
	if (r < 0)
		return fail(cv, "", "stat", r);
	return tree_walk_run(ops, cv, &root, "", NULL);
}

/* The layer open as dfd, at any depth. */
static int convert_layer(struct conv *cv, int dfd)
{
	int r = 0;
	if (cv->to == WH_FORMAT_DOTWH)
		r = walk_layer(cv, &check_ops, dfd);
	return r < 0 ? r : walk_layer(cv, &convert_ops, dfd);
}

int cmd_convert(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "xattr", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *to = NULL, *ns = geteuid() == 0 ? "trusted" : "user";
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			to = optarg;
			break;
		case 'x':
			ns = optarg;
			break;
		case 'h':
			fputs(convert_help, stdout);
			return LT_EXIT_OK;
		default:
			return usage_error("convert", NULL);
		}
	}
	struct conv cv = { 0 };
	if (!to || wh_format_parse(to, &cv.to) < 0)
		return usage_error("convert", "--to is dotwh or overlay");
	if (!strcmp(ns, "trusted"))
		cv.opaque_xattr = XATTR_TRUSTED_OVL_OPAQUE;
	else if (!strcmp(ns, "user"))
		cv.opaque_xattr = XATTR_USER_OVL_OPAQUE;
	else
		return usage_error("convert", "--xattr is trusted or user");
	if (argc - optind != 1)
		return usage_error("convert", "convert wants one LAYER_DIR");
	const char *dir = argv[optind];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		lf_err("cannot open layer '%s': %s", dir, strerror(errno));
		return LT_EXIT_INPUT;
	}
	signals_install();
	int r = convert_layer(&cv, dfd);
	close(dfd);
	if (r == -EINTR) {
		lf_err("interrupted; run the same command again to finish");
		return LT_EXIT_INTERRUPTED;
	}
	if (r < 0) {
		lf_err("cannot convert '%s': %s", dir, cv.err);
		/* -EEXIST: something else under a marker's name. */
		return r == -ENOENT || r == -ENOTDIR || r == -EEXIST ||
				       cv.bad_input
			       ? LT_EXIT_INPUT
			       : LT_EXIT_OUTPUT;
	}
	if (cv.skipped)
		lf_warn("%lu reserved .wh. names that are not whiteout files "
			"left as they are",
			cv.skipped);
	if (cv.root_opaque)
		lf_warn("the root's opaque marker, converted: a .wh..wh..opq "
			"file there hides the layers below, the overlay.opaque "
			"xattr there hides nothing (as for kernel overlayfs)");
	printf("%s: %lu whiteouts, %lu opaque directories in %s format\n", dir,
	       cv.whiteouts, cv.opaques, wh_format_name(cv.to));
	return LT_EXIT_OK;
}
