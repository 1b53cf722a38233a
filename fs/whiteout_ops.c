#include "whiteout_ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "copy_up.h"
#include "creds.h"
#include "dirfd_cache.h"
#include "fileattr.h"
#include "layers.h"
#include "lookup.h"
#include "rmtree.h"
#include "udba.h"
#include "whiteout.h"

static int slot_fill(struct lfs *fs, struct node *dir, const char *name,
		     struct slot *s)
{
	int r = dcache_load(fs, dir, &s->dc);
	if (r < 0)
		return r;
	s->rec = dcache_find(s->dc, name);
	s->visible = s->rec && drec_visible(s->rec);
	s->wh_upper = s->rec && !s->visible && (s->rec->flags & R_WH_UPPER);
	s->below = s->rec && (s->rec->flags & R_BELOW);
	if (!s->visible && s->dc->udba)
		lookup_forget_vanished(fs, dir, name);
	/* From the thread's cache: creates and removes come in runs in one
	 * directory (untar, rm -rf), each one openat saved. */
	s->pfd = dirfd_acquire(fs, dir, fs->upper);
	if (s->pfd < 0)
		return s->pfd;
	if (s->wh_upper) {
		struct stat st;
		s->wh_chardev = fstatat(s->pfd, name, &st,
					AT_SYMLINK_NOFOLLOW) == 0 &&
				wh_is_overlay_whiteout(&st);
	}
	return 0;
}

int slot_open_locked(struct lfs *fs, struct node *dir, const char *name,
		     struct slot *s)
{
	memset(s, 0, sizeof(*s));
	s->dir = dir;
	s->pfd = -1;
	return slot_fill(fs, dir, name, s);
}

int slot_open(struct lfs *fs, struct node *dir, const char *name,
	      enum slot_change change, struct slot *s)
{
	memset(s, 0, sizeof(*s));
	s->dir = dir;
	s->pfd = -1;
	if (!lfs_has_upper(fs) || fs->opt->read_only)
		return -EROFS;
	if (!node_is_dir(dir))
		return -ENOTDIR;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	/* A ".wh." name would be read back as a whiteout: never forge one. */
	if (wh_is_reserved(name))
		return -EPERM;
	if (node_flags(dir) & N_UNHASHED)
		return -ENOENT;
	int r = fileattr_dir_refuses(fs, dir, change == SLOT_REMOVE);
	if (r == 0)
		r = copy_up(fs, dir, CU_META);
	if (r < 0)
		return r;
	dir_wrlock(dir);
	udba_revalidate_locked(fs, dir);
	r = slot_fill(fs, dir, name, s);
	if (r < 0) {
		dir_unlock(dir);
		if (s->pfd >= 0)
			dirfd_release(s->pfd);
		s->pfd = -1;
		s->dir = NULL;
	}
	return r;
}

void slot_close_locked(struct slot *s)
{
	if (s->pfd >= 0)
		dirfd_release(s->pfd);
	s->pfd = -1;
}

void slot_close(struct lfs *fs, struct slot *s)
{
	if (!s->dir)
		return;
	slot_close_locked(s);
	dcache_shed_removed(fs, s->dir);
	dir_unlock(s->dir);
	/* Listings loaded for a change count against the budget too. */
	dcache_enforce_budget(fs, s->dir);
	s->dir = NULL;
}

/* Whiteout format to write for this name: dotwh names need 4 more bytes,
 * a 252..255 byte name is whited out as a 0/0 device instead. */
static enum wh_format format_for(struct lfs *fs, const char *name)
{
	if (fs->opt->whiteout == WH_FORMAT_DOTWH &&
	    strlen(name) + WH_PREFIX_LEN > NAME_MAX)
		return WH_FORMAT_OVERLAY;
	return fs->opt->whiteout;
}

/*
 * Every whiteout is a hard link to one inode kept in workdir/work, as
 * kernel overlayfs does: hiding a name then costs a directory entry, not
 * an inode to allocate, write back and later free.  (On ext4 without a
 * journal, allocating one even scans past every inode freed in the last
 * seconds: rm -rf of 10k lower files spent 80% of its time there.)
 */
static const char *const shared_whiteout[] = {
	[WH_FORMAT_DOTWH] = WH_SHARED_DOTWH,
	[WH_FORMAT_OVERLAY] = WH_SHARED_CHARDEV,
};

/* Puts a new shared whiteout in place (the old one, if any, is full or
 * was removed; links made to it stay valid). */
static int renew_shared_whiteout(struct lfs *fs, enum wh_format fmt)
{
	char tmp[64];
	lfs_tmp_name(fs, tmp, sizeof(tmp));
	int r = wh_create_entry(fs->work_fd, tmp, fmt);
	if (r < 0)
		return r;
	if (renameat(fs->work_fd, tmp, fs->work_fd, shared_whiteout[fmt]) <
	    0) {
		r = -errno;
		unlinkat(fs->work_fd, tmp, 0);
	}
	return r;
}

/* A whiteout at DIRFD/NAME: a link to the shared one when the upper
 * filesystem allows, a new inode when not.  -EEXIST if NAME exists. */
static int place_whiteout(struct lfs *fs, int dirfd, const char *name,
			  enum wh_format fmt)
{
	/* The shared inode is the daemon's: linking it as another user
	 * would meet protected_hardlinks. */
	creds_as_daemon();
	for (int tries = 0; tries < 3 && !atomic_load(&fs->wh_unshared);
	     tries++) {
		if (linkat(fs->work_fd, shared_whiteout[fmt], dirfd, name, 0) ==
		    0)
			return 0;
		int e = errno;
		if (e == EEXIST)
			return -EEXIST;
		if (e != ENOENT && e != EMLINK) {
			/* EPERM, EXDEV, ENOTSUP: no hard links here. */
			atomic_store(&fs->wh_unshared, true);
			break;
		}
		if (renew_shared_whiteout(fs, fmt) < 0)
			break;
	}
	return wh_create_entry(dirfd, name, fmt);
}

int whiteout_place_dotwh(struct lfs *fs, int dirfd, const char *name)
{
	char wh[NAME_MAX + 1];
	int r = wh_dotwh_name(wh, sizeof(wh), name);
	if (r < 0)
		return r;
	return place_whiteout(fs, dirfd, wh, WH_FORMAT_DOTWH);
}

/* A 0/0 device staged in workdir/work, ready to be renamed over NAME. */
static int stage_chardev_whiteout(struct lfs *fs, char *tmp, size_t size)
{
	lfs_tmp_name(fs, tmp, size);
	return place_whiteout(fs, fs->work_fd, tmp, WH_FORMAT_OVERLAY);
}

int whiteout_name(struct lfs *fs, struct slot *s, const char *name,
		  bool upper_entry, bool is_dir)
{
	creds_as_daemon();
	enum wh_format fmt = format_for(fs, name);
	int r = 0;
	if (fmt == WH_FORMAT_DOTWH) {
		/* Hide below first: a crash leaves the upper entry visible,
		 * which is the old state. */
		r = whiteout_place_dotwh(fs, s->pfd, name);
		if (r == -EEXIST)
			r = 0;
		if (r < 0)
			return r;
		if (upper_entry) {
			if (is_dir) {
				char tmp[64];
				lfs_tmp_name(fs, tmp, sizeof(tmp));
				if (renameat(s->pfd, name, fs->work_fd, tmp) <
				    0)
					return -errno;
				lf_rmtree_at(fs->work_fd, tmp);
			} else if (unlinkat(s->pfd, name, 0) < 0) {
				return -errno;
			}
		}
	} else {
		char tmp[64];
		r = stage_chardev_whiteout(fs, tmp, sizeof(tmp));
		if (r < 0)
			return r;
		if (upper_entry && is_dir) {
			/* Swap the directory out and the whiteout in. */
			if (renameat2(fs->work_fd, tmp, s->pfd, name,
				      RENAME_EXCHANGE) < 0) {
				r = -errno;
				unlinkat(fs->work_fd, tmp, 0);
				return r;
			}
			lf_rmtree_at(fs->work_fd, tmp);
		} else if (renameat(fs->work_fd, tmp, s->pfd, name) < 0) {
			r = -errno;
			unlinkat(fs->work_fd, tmp, 0);
			return r;
		}
	}
	lfs_stat_add(&fs->stats.whiteouts, 1);
	return 0;
}

int whiteout_clear(struct lfs *fs, struct slot *s, const char *name)
{
	(void)fs;
	char wh[NAME_MAX + 1];
	if (wh_dotwh_name(wh, sizeof(wh), name) < 0)
		return 0;
	if (unlinkat(s->pfd, wh, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int whiteout_make_opaque(struct lfs *fs, int dirfd)
{
	int r = wh_make_opaque(dirfd, fs->opt->whiteout,
			       fs->overlay_opaque_xattr
				       ? fs->overlay_opaque_xattr
				       : XATTR_USER_OVL_OPAQUE);
	if (r == 0)
		lfs_stat_add(&fs->stats.opaque_dirs, 1);
	return r;
}

int whiteout_drop_all(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		return e;
	}
	/* Names first, removals after: readdir is not asked to step over
	 * entries going away under it. */
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		const char *target;
		bool wh = wh_classify_name(de->d_name, &target) == WH_WHITEOUT;
		if (!wh && (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN)) {
			struct stat st;
			wh = fstatat(dirfd, de->d_name, &st,
				     AT_SYMLINK_NOFOLLOW) == 0 &&
			     wh_is_overlay_whiteout(&st);
		}
		if (!wh)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nn = realloc(names, nc * sizeof(*nn));
			if (!nn) {
				r = -ENOMEM;
				break;
			}
			names = nn;
			cap = nc;
		}
		if (!(names[n] = strdup(de->d_name)))
			r = -ENOMEM;
		else
			n++;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && unlinkat(dirfd, names[i], 0) < 0 &&
		    errno != ENOENT)
			r = -errno;
		free(names[i]);
	}
	free(names);
	return r;
}

int whiteout_replace_with(struct lfs *fs, struct slot *s, const char *tmp,
			  const char *name, bool is_dir)
{
	if (s->wh_chardev && is_dir) {
		if (renameat2(fs->work_fd, tmp, s->pfd, name,
			      RENAME_EXCHANGE) < 0)
			return -errno;
		/* The whiteout is now at tmp. */
		unlinkat(fs->work_fd, tmp, 0);
	} else if (renameat2(fs->work_fd, tmp, s->pfd, name,
			     s->wh_chardev ? 0 : RENAME_NOREPLACE) < 0) {
		return -errno;
	}
	return whiteout_clear(fs, s, name);
}
