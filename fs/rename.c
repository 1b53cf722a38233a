/*
 * rename(2) on the union, for every kind of source and target.
 *
 *  - A file below the upper layer is copied up by metadata only, so
 *    moving a large lower file copies no data.
 *  - A directory with content in lower layers gets a redirect record
 *    (redirect.h) naming its lower path: no EXDEV and no subtree copy.
 *    With redirect_dir=off (or an upper filesystem without xattrs) its
 *    whole subtree is copied up instead.
 *  - The source name is whited out first when a lower layer shows it; a
 *    directory landing on a name that lower layers show is made opaque
 *    unless a redirect already decides what lies below it.
 *  - An upper target directory holding only whiteouts is first swapped
 *    for an empty opaque one (what the view shows anyway), so the final
 *    rename is one atomic step.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "copy_up.h"
#include "creds.h"
#include "dcache.h"
#include "dir.h"
#include "dirfd_cache.h"
#include "fault.h"
#include "fileattr.h"
#include "inode.h"
#include "layers.h"
#include "lookup.h"
#include "metacopy.h"
#include "name_list.h"
#include "node_reach.h"
#include "rmtree.h"
#include "whiteout_ops.h"
#include "xattr_private.h"

static bool dir_has_lower(struct lfs *fs, struct node *d)
{
	if (node_flags(d) & N_REDIRECT)
		return true;
	if (node_layer(d) != fs->upper)
		return true;
	struct dcache *dc;
	if (dcache_acquire_read(fs, d, &dc) < 0)
		return true; /* unknown: assume it has */
	bool lower = false;
	for (uint16_t i = 0; i < dc->nchain; i++)
		if (dc->chain[i] != fs->upper)
			lower = true;
	dir_unlock(d);
	return lower;
}

/*
 * One inode with several names has one node, hashed under one of them.
 * A rename moving or replacing another of its names must find the node
 * under that name: it is hashed under it.  A name made by link(2)
 * through the mount is already an upper link of the node's file; a lower
 * name of a lower hard link becomes one of the index entry (copy-up).
 */
static int anchor_name(struct lfs *fs, struct node *n, struct node *dir,
		       const char *name)
{
	if (node_is_dir(n) || node_named(fs, n, dir, name))
		return 0;
	/* A name moved, not a change of the file: a protected one too (a
	 * rename of its own names is refused before, fileattr.h). */
	int r = copy_up_protected(fs, n, CU_META, FILEATTR_PROTECT);
	if (r < 0)
		return r;
	int pfd = node_open(fs, dir, fs->upper, O_PATH | O_DIRECTORY);
	if (pfd < 0)
		return pfd;
	struct stat st;
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		r = 0; /* the name is in the upper layer: a link of the file */
	else if (errno != ENOENT)
		r = -errno;
	else if (!e || !e->index_key[0])
		/* Lower names are shared only through an index: without an
		 * entry the file has this one name, and a node that lost it
		 * was removed since it was looked up (its copy-up done, an
		 * unlink waiting for it went on). */
		r = node_flags(n) & N_UNHASHED ? -ENOENT : -EIO;
	else if ((r = mark_parent_impure(fs, dir, pfd)) < 0)
		; /* the link would show its own inode number after a remount */
	else {
		unsigned lifted;
		int lfd = fileattr_lift(n, fs->index_fd, e->index_key, &lifted);
		if (linkat(fs->index_fd, e->index_key, pfd, name, 0) < 0)
			r = -errno;
		fileattr_restore(n, lfd, lifted);
	}
	close(pfd);
	if (r < 0)
		return r;
	pthread_rwlock_wrlock(&fs->ns_lock);
	r = node_move(fs, n, dir, name);
	/* It has a name in the upper layer now, not only the index entry. */
	if (r == 0)
		node_clear_flag(n, N_IDX_ALIAS);
	pthread_rwlock_unlock(&fs->ns_lock);
	return r;
}

/* One directory of copy_up_tree's walk: its node (referenced by the
 * walk, except the tree's own), the names it has yet to bring up, and
 * which directory its upper copy is. */
struct tree_level {
	struct node *dir;
	struct name_list names;
	size_t next;
	dev_t dev;
	ino_t ino;
	/* Its times before the walk brought anything into it, put back
	 * once it is done: a rename changes no time below what it moves. */
	struct timespec times[2];
};

/* Copies D itself up, opens its copy (*fd) and lists what it merges
 * from below. */
static int tree_level_enter(struct lfs *fs, struct node *d,
			    struct tree_level *lv, int *fd)
{
	memset(lv, 0, sizeof(*lv));
	lv->dir = d;
	*fd = -1;
	int r = copy_up(fs, d, CU_META);
	if (r < 0)
		return r;
	*fd = node_open(fs, d, fs->upper, O_RDONLY | O_DIRECTORY);
	struct stat st;
	if (*fd < 0)
		return *fd;
	if (fstat(*fd, &st) < 0)
		return -errno;
	lv->dev = st.st_dev;
	lv->ino = st.st_ino;
	lv->times[0] = st.st_atim;
	lv->times[1] = st.st_mtim;
	struct dcache *dc;
	r = dcache_acquire_read(fs, d, &dc);
	if (r < 0)
		return r;
	for (uint32_t i = 0; r == 0 && i < dc->n; i++) {
		struct drec *rec = &dc->recs[i];
		/* Upper files are already there, but a metadata-only copy
		 * (one of the marked files of an impure directory) finds its
		 * data by its path below, which the move changes; directories
		 * may still merge lower content. */
		if (drec_visible(rec) &&
		    (!lfs_is_upper(fs, rec->layer) || rec->dtype == DT_DIR ||
		     (rec->dtype == DT_REG && (rec->flags & R_CHECK))))
			r = name_list_push(&lv->names, drec_name(dc, rec));
	}
	dir_unlock(d);
	return r;
}

/* Whether c, found in dir, was removed or moved out of it since: its
 * copy-up then fails with ENOENT, which is no error of the walk.  An
 * unlink, rmdir or rename holds dir's lock from its change on disk until
 * the node follows; the walk, holding no directory lock here, waits for
 * one under way, else it would see the disk changed and the node not. */
static bool left_the_tree(struct lfs *fs, struct node *c, struct node *dir)
{
	dir_rdlock(dir);
	pthread_rwlock_rdlock(&fs->ns_lock);
	bool left = (node_flags(c) & N_UNHASHED) || c->parent != dir;
	pthread_rwlock_unlock(&fs->ns_lock);
	dir_unlock(dir);
	return left;
}

/* Brings up the file NAME of the level's directory names, or starts the
 * next level for a directory (*entered, its copy open as *fd).  A name
 * gone since is not an error. */
static int tree_level_step(struct lfs *fs, struct tree_level *lv,
			   struct tree_level *below, bool *entered, int *fd)
{
	const char *name = lv->names.names[lv->next++];
	struct node *c;
	struct stat st;
	*entered = false;
	int r = lookup_child(fs, lv->dir, name, &c, &st);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (node_is_dir(c)) {
		/* (One removed meanwhile fails with ENOENT: copy_up_tree
		 * lets it go as it leaves the level.) */
		*entered = true;
		return tree_level_enter(fs, c, below, fd);
	}
	/* Moved, not changed: a protected file too (fileattr.h).  With its
	 * data (a metadata-only copy's completed in place), which the
	 * lower layers hold at a path the move leaves. */
	r = copy_up_protected(fs, c, CU_DATA, FILEATTR_PROTECT);
	fault_point("tree-file-copied");
	/* A hard link's node may go by another of its names: this one
	 * needs its own upper link before the directory turns opaque. */
	if (r == 0)
		r = anchor_name(fs, c, lv->dir, name);
	if (r == -ENOENT && left_the_tree(fs, c, lv->dir))
		r = 0;
	node_unref(fs, c);
	return r;
}

/* All of the level's directory is in the upper layer now: its copy,
 * open as FD, turns opaque, gets its times back, and the directory
 * stops merging. */
static int tree_level_seal(struct lfs *fs, const struct tree_level *lv,
			   int fd)
{
	struct node *d = lv->dir;
	int r = whiteout_make_opaque(fs, fd);
	if (r == 0) {
		dir_wrlock(d);
		/* The whiteouts the directory had hide nothing now.  One left
		 * behind by a failure hides nothing either: not an error. */
		whiteout_drop_all(fd);
		/* As kernel overlayfs puts back a parent's times after a
		 * copy-up: at best, a failure changes nothing else. */
		futimens(fd, lv->times);
		dcache_drop(fs, d);
		pthread_rwlock_wrlock(&fs->ns_lock); /* dirload.c reads end */
		d->end = (uint16_t)(fs->upper + 1);
		pthread_rwlock_unlock(&fs->ns_lock);
		node_clear_flag(d, N_MERGED);
		dir_unlock(d);
	}
	return r;
}

/*
 * The copy of the level above, from FD (of the level just sealed) by
 * "..": checked to be the directory that level entered, else opened
 * through its node (a rename in the tree meanwhile).  Opened through
 * the node each time, a level's copy would be reached by a walk down
 * from the nearest directory cached, as deep as the tree at worst.
 */
static int tree_level_climb(struct lfs *fs, int fd,
			    const struct tree_level *up)
{
	int pfd = fd < 0 ? -1 /* the level's copy never opened */
			 : openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (pfd >= 0 && fstat(pfd, &st) == 0 && st.st_dev == up->dev &&
	    st.st_ino == up->ino)
		return pfd;
	if (pfd >= 0)
		close(pfd);
	return node_open(fs, up->dir, fs->upper, O_RDONLY | O_DIRECTORY);
}

/*
 * redirect_dir=off: brings the whole tree of ROOT up, then makes each of
 * its directories opaque, deepest first.  Depth-first with a stack of
 * its own, holding one directory open: a tree a container made may be
 * hundreds of thousands of levels deep, more than a worker's stack
 * holds as recursion, or its descriptors as one per level.  On an error
 * the walk stops and no directory not yet finished turns opaque: what is
 * still below shows through, as before.
 */
static int copy_up_tree(struct lfs *fs, struct node *root)
{
	size_t top = 0, cap = 16;
	struct tree_level *stack = malloc(cap * sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	int fd; /* the copy of stack[top].dir */
	int r = tree_level_enter(fs, root, &stack[0], &fd);
	for (;;) {
		struct tree_level *lv = &stack[top];
		if (r == 0 && lv->next < lv->names.n) {
			if (top + 1 == cap) {
				struct tree_level *grown = realloc(
					stack, 2 * cap * sizeof(*stack));
				if (!grown) {
					r = -ENOMEM;
					continue;
				}
				stack = grown;
				cap *= 2;
				lv = &stack[top];
			}
			bool entered;
			int cfd = -1;
			r = tree_level_step(fs, lv, &stack[top + 1], &entered,
					    &cfd);
			if (entered) {
				top++;
				if (fd >= 0)
					close(fd);
				fd = cfd;
			}
			continue;
		}
		if (r == 0)
			r = tree_level_seal(fs, lv, fd);
		/* A directory removed or moved out while the walk entered it
		 * or was in it cannot be copied or turn opaque, nor needs
		 * to. */
		if (r == -ENOENT && top > 0 &&
		    left_the_tree(fs, lv->dir, stack[top - 1].dir))
			r = 0;
		name_list_free(&lv->names);
		if (top == 0)
			break;
		node_unref(fs, lv->dir);
		top--;
		if (r == 0) {
			int pfd = tree_level_climb(fs, fd, &stack[top]);
			if (fd >= 0)
				close(fd);
			fd = pfd;
			if (fd < 0)
				r = fd;
		}
	}
	if (fd >= 0)
		close(fd);
	free(stack);
	return r;
}

/*
 * Prepares a node that is about to change name: copied up, and for a
 * directory with lower content, a redirect (or a full copy).  *redirect
 * receives the redirect to record in memory once renamed.
 */
static int prepare_moving(struct lfs *fs, struct node *n, char **redirect)
{
	*redirect = NULL;
	if (!node_is_dir(n))
		return copy_up(fs, n, CU_META);
	if (!dir_has_lower(fs, n))
		return copy_up(fs, n, CU_META);
	/* Below a directory kernel overlayfs renamed, the lower path
	 * differs from layer to layer, which no redirect of ours can say. */
	pthread_rwlock_rdlock(&fs->ns_lock);
	bool varies = node_below_lower_redirect(n);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (!fs->opt->redirect_dir || !fs->upper_xattr || varies)
		return copy_up_tree(fs, n);
	int r = copy_up(fs, n, CU_META);
	if (r < 0)
		return r;
	if (node_flags(n) & N_REDIRECT)
		return 0; /* keeps pointing at the same lower directory */
	pthread_rwlock_rdlock(&fs->ns_lock);
	char *abs = node_lower_path(fs, n, lfs_below_upper(fs));
	pthread_rwlock_unlock(&fs->ns_lock);
	if (!abs)
		return -ENOMEM;
	int fd = node_open(fs, n, fs->upper, O_RDONLY | O_DIRECTORY);
	r = fd < 0 ? fd : xp_set_string(fd, XATTR_LFS_REDIRECT, abs);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		free(abs);
		return r;
	}
	lfs_stat_add(&fs->stats.redirects, 1);
	*redirect = abs;
	return 0;
}

/*
 * Replaces an upper directory (holding only whiteouts) by an empty one,
 * opaque when lower layers show the name: the view does not change.  The
 * rename that follows needs it empty, so it is made opaque by the
 * overlay xattr even where the upper layer's format is a `.wh..wh..opq`
 * file (both are read in every layer); an upper filesystem without
 * xattrs gets a plain one, and only a crash between the two steps would
 * show the lower entries again.
 */
static int clear_upper_dir(struct lfs *fs, struct slot *s, const char *name)
{
	char tmp[64];
	lfs_tmp_name(fs, tmp, sizeof(tmp));
	if (mkdirat(fs->work_fd, tmp, 0700) < 0)
		return -errno;
	int r = 0;
	if (s->below && fs->upper_xattr && fs->overlay_opaque_xattr) {
		int fd = openat(fs->work_fd, tmp,
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = fd < 0 ? -errno
			   : wh_make_opaque(fd, WH_FORMAT_OVERLAY,
					    fs->overlay_opaque_xattr);
		if (fd >= 0)
			close(fd);
	}
	if (r == 0 &&
	    renameat2(fs->work_fd, tmp, s->pfd, name, RENAME_EXCHANGE) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(fs->work_fd, tmp, AT_REMOVEDIR);
		return r;
	}
	lf_rmtree_at(fs->work_fd, tmp);
	return 0;
}

/* Makes the upper directory at dirfd/name opaque. */
static int make_opaque_at(struct lfs *fs, int dirfd, const char *name)
{
	int fd = openat(dirfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = whiteout_make_opaque(fs, fd);
	close(fd);
	return r;
}

/* The source name, once moved away, still hides the lower layers. */
static int rename_with_whiteout(struct lfs *fs, struct slot *src,
				const char *name, struct slot *dst,
				const char *newname, unsigned flags,
				bool is_dir)
{
	if (fs->opt->whiteout == WH_FORMAT_DOTWH &&
	    strlen(name) + WH_PREFIX_LEN <= NAME_MAX) {
		/* .wh.NAME first: a crash leaves the upper source visible. */
		int r = whiteout_place_dotwh(fs, src->pfd, name);
		if (r < 0 && r != -EEXIST)
			return r;
		bool made = r == 0;
		if (renameat2(src->pfd, name, dst->pfd, newname, flags) < 0) {
			r = -errno;
			if (made) {
				char wh[NAME_MAX + 1];
				wh_dotwh_name(wh, sizeof(wh), name);
				unlinkat(src->pfd, wh, 0);
			}
			return r;
		}
		lfs_stat_add(&fs->stats.whiteouts, 1);
		return 0;
	}
	/* A 0/0 device takes the source's place in the same step. */
	if (renameat2(src->pfd, name, dst->pfd, newname,
		      flags | RENAME_WHITEOUT) == 0) {
		lfs_stat_add(&fs->stats.whiteouts, 1);
		return 0;
	}
	if (errno != EPERM && errno != EINVAL)
		return -errno;
	/* Rootless: RENAME_WHITEOUT needs CAP_MKNOD in the initial
	 * namespace.  Files: link at the target, then swap a device in at
	 * the source, so no step loses the file. */
	if (!is_dir) {
		if (flags & RENAME_NOREPLACE) {
			if (linkat(src->pfd, name, dst->pfd, newname, 0) < 0)
				return -errno;
		} else {
			char tmp[64];
			lfs_tmp_name(fs, tmp, sizeof(tmp));
			if (linkat(src->pfd, name, fs->work_fd, tmp, 0) < 0)
				return -errno;
			if (renameat(fs->work_fd, tmp, dst->pfd, newname) < 0) {
				int e = errno;
				unlinkat(fs->work_fd, tmp, 0);
				return -e;
			}
		}
		return whiteout_name(fs, src, name, true, false);
	}
	if (renameat2(src->pfd, name, dst->pfd, newname, flags) < 0)
		return -errno;
	return whiteout_name(fs, src, name, false, true);
}

struct rename_ctx {
	struct node *sdir, *ddir, *src, *dst;
	const char *name, *newname;
	unsigned flags;
	char *src_redirect, *dst_redirect;
};

/* Everything under both directory locks. */
static int rename_locked(struct lfs *fs, struct rename_ctx *c)
{
	struct slot ss, ds;
	int r = slot_open_locked(fs, c->sdir, c->name, &ss);
	if (r < 0)
		return r;
	r = slot_open_locked(fs, c->ddir, c->newname, &ds);
	if (r < 0) {
		slot_close_locked(&ss);
		return r;
	}
	bool exchange = c->flags & RENAME_EXCHANGE;
	bool src_dir = node_is_dir(c->src);

	/* Revalidate: the names may have changed while we copied up. */
	if (!ss.visible || c->src->parent != c->sdir ||
	    (node_flags(c->src) & N_UNHASHED) ||
	    (c->dst && (!ds.visible || c->dst->parent != c->ddir ||
			(node_flags(c->dst) & N_UNHASHED))) ||
	    (!c->dst && ds.visible)) {
		r = -EAGAIN;
		goto out;
	}

	creds_as_daemon();
	/* A metadata-only copy leaving its path keeps the way to its data. */
	r = metacopy_pin(c->src, ss.pfd, c->name);
	if (r == 0 && exchange)
		r = metacopy_pin(c->dst, ds.pfd, c->newname);
	if (r < 0)
		goto out;
	/* Marks on the moved entries must be found after a remount. */
	if ((node_flags(c->src) &
	     (N_ORIGIN_SET | N_METACOPY | N_REDIRECT)) || c->src_redirect)
		r = mark_parent_impure(fs, c->ddir, ds.pfd);
	if (r == 0 && exchange &&
	    ((node_flags(c->dst) & (N_ORIGIN_SET | N_METACOPY | N_REDIRECT)) ||
	     c->dst_redirect))
		r = mark_parent_impure(fs, c->sdir, ss.pfd);
	if (r < 0)
		goto out;

	/* A directory arriving where lower layers show something must hide
	 * it, unless its redirect decides what is below. */
	bool src_redirected = c->src_redirect ||
			      (node_flags(c->src) & N_REDIRECT);
	if (src_dir && ds.below && !src_redirected) {
		r = make_opaque_at(fs, ss.pfd, c->name);
		if (r < 0)
			goto out;
	}
	if (exchange && node_is_dir(c->dst) && ss.below &&
	    !(c->dst_redirect || (node_flags(c->dst) & N_REDIRECT))) {
		r = make_opaque_at(fs, ds.pfd, c->newname);
		if (r < 0)
			goto out;
	}

	/* The replaced file loses a name, as with unlink (dir.h). */
	struct node *dropped = !exchange && c->dst && !node_is_dir(c->dst)
				       ? c->dst
				       : NULL;
	bool counted = name_drop_begin(fs, dropped);
	int dir_fd = !exchange && c->dst && node_is_dir(c->dst)
			     ? removed_dir_hold(fs, c->dst)
			     : -1;
	/* From here until the nodes follow, a directory's name on disk may
	 * not be its node's (dirfd_cache.h), nor another file's (node.h). */
	node_names_moving(fs, c->src, c->dst);
	bool moves_dir = src_dir || (c->dst && node_is_dir(c->dst));
	if (moves_dir)
		dirfd_cache_move_begin();
	if (exchange) {
		if (renameat2(ss.pfd, c->name, ds.pfd, c->newname,
			      RENAME_EXCHANGE) < 0)
			r = -errno;
	} else {
		/* NOREPLACE was checked against the view; in the upper layer
		 * the name may hold a whiteout device, which goes. */
		unsigned flags = ds.wh_chardev ? 0
					       : c->flags & RENAME_NOREPLACE;
		if (c->dst && node_is_dir(c->dst) &&
		    node_layer(c->dst) == fs->upper)
			r = clear_upper_dir(fs, &ds, c->newname);
		if (r == 0 && ds.wh_chardev && src_dir) {
			/* Swap the device whiteout out of the target name;
			 * it lands on the source name, which is right when
			 * lower layers show that name. */
			if (renameat2(ss.pfd, c->name, ds.pfd, c->newname,
				      RENAME_EXCHANGE) < 0)
				r = -errno;
			else if (!ss.below)
				unlinkat(ss.pfd, c->name, 0);
		} else if (r == 0 && ss.below) {
			r = rename_with_whiteout(fs, &ss, c->name, &ds,
						 c->newname, flags, src_dir);
		} else if (r == 0) {
			if (renameat2(ss.pfd, c->name, ds.pfd, c->newname,
				      flags) < 0)
				r = -errno;
		}
		if (r == 0 && ds.wh_upper)
			r = whiteout_clear(fs, &ds, c->newname);
	}
	if (r < 0) {
		if (moves_dir)
			dirfd_cache_move_end();
		node_names_moved(c->src, c->dst);
		name_drop_undo(fs, dropped, counted);
		if (dir_fd >= 0)
			close(dir_fd);
		goto out;
	}

	/* Done on disk, not yet in the nodes: the window node.h marks. */
	fault_point("rename-on-disk");

	/* Mirror the change in the listings. */
	uint8_t sflags = (node_flags(c->src) &
			  (N_ORIGIN_SET | N_METACOPY | N_REDIRECT)) ||
					 c->src_redirect
				 ? R_CHECK
				 : 0;
	if (exchange) {
		uint8_t dflags = (node_flags(c->dst) &
				  (N_ORIGIN_SET | N_METACOPY | N_REDIRECT)) ||
						 c->dst_redirect
					 ? R_CHECK
					 : 0;
		dcache_add(ds.dc, c->newname, (uint16_t)fs->upper,
			   (uint8_t)IFTODT(c->src->mode), node_ino(c->src), sflags);
		/* ds.dc may be ss.dc: look the source record up again. */
		dcache_add(ss.dc, c->name, (uint16_t)fs->upper,
			   (uint8_t)IFTODT(c->dst->mode), node_ino(c->dst), dflags);
	} else {
		struct drec *srec = dcache_find(ss.dc, c->name);
		if (srec)
			dcache_hide(ss.dc, srec, ss.below);
		dcache_add(ds.dc, c->newname, (uint16_t)fs->upper,
			   (uint8_t)IFTODT(c->src->mode), node_ino(c->src), sflags);
	}

	/* And in the nodes, with every path frozen. */
	pthread_rwlock_wrlock(&fs->ns_lock);
	if (c->src_redirect) {
		struct node_ext *e = node_ext(c->src);
		if (e) {
			free(e->redirect);
			e->redirect = c->src_redirect;
			c->src_redirect = NULL;
			node_set_flag(c->src, N_REDIRECT | N_MERGED);
		}
	}
	if (c->dst_redirect) {
		struct node_ext *e = node_ext(c->dst);
		if (e) {
			free(e->redirect);
			e->redirect = c->dst_redirect;
			c->dst_redirect = NULL;
			node_set_flag(c->dst, N_REDIRECT | N_MERGED);
		}
	}
	if (exchange) {
		bool sb = node_flags(c->src) & N_BELOW;
		bool db = node_flags(c->dst) & N_BELOW;
		node_exchange(fs, c->src, c->dst);
		if (sb != db) {
			if (db)
				node_set_flag(c->src, N_BELOW);
			else
				node_clear_flag(c->src, N_BELOW);
			if (sb)
				node_set_flag(c->dst, N_BELOW);
			else
				node_clear_flag(c->dst, N_BELOW);
		}
	} else {
		if (c->dst && node_is_dir(c->dst))
			node_keep_orphan_fd(c->dst, dir_fd);
		if (c->dst)
			name_dropped(fs, c->dst, c->ddir, c->newname);
		node_move(fs, c->src, c->ddir, c->newname);
		if (ds.below)
			node_set_flag(c->src, N_BELOW);
		else
			node_clear_flag(c->src, N_BELOW);
	}
	if (src_dir && !src_redirected)
		c->src->end = (uint16_t)(fs->upper + 1);
	if (moves_dir)
		dirfd_cache_move_end();
	node_names_moved(c->src, c->dst);
	pthread_rwlock_unlock(&fs->ns_lock);
out:
	slot_close_locked(&ds);
	slot_close_locked(&ss);
	return r;
}

/*
 * A rename between two names of one lower file, each with a node of its
 * own (links not shared: index=off).  The layers stay as they are
 * (POSIX), but the kernel, holding two inodes, moves the source's entry
 * onto the target name (or swaps the two entries) once we reply.  The
 * nodes swap names to match, so that each name keeps reaching the node
 * that layerfs resolves it to; otherwise a later copy-up through one
 * name would show through the other, or land on the other's name.
 * A plain rename leaves the source name with no entry in the kernel: its
 * next lookup finds the target's old node under it, the same file.
 */
static void follow_kernel_entries(struct lfs *fs, struct rename_ctx *c)
{
	struct node *x = c->src, *y = c->dst;
	pthread_mutex_lock(&fs->rename_mutex);
	dir_wrlock_two(c->sdir, c->ddir);
	pthread_rwlock_wrlock(&fs->ns_lock);
	bool in_place = !((node_flags(x) | node_flags(y)) & N_UNHASHED) &&
			x->parent == c->sdir && y->parent == c->ddir &&
			strcmp(node_name(x), c->name) == 0 &&
			strcmp(node_name(y), c->newname) == 0;
	if (in_place) {
		int xlayer = node_layer(x), ylayer = node_layer(y);
		unsigned xbelow = node_flags(x) & N_BELOW;
		unsigned ybelow = node_flags(y) & N_BELOW;
		if (node_exchange(fs, x, y) == 0) {
			node_set_layer(x, ylayer);
			node_set_layer(y, xlayer);
			node_clear_flag(x, N_BELOW);
			node_clear_flag(y, N_BELOW);
			node_set_flag(x, ybelow);
			node_set_flag(y, xbelow);
		}
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	dir_unlock_two(c->sdir, c->ddir);
	pthread_mutex_unlock(&fs->rename_mutex);
}

/*
 * A directory moved to another parent: the listing the kernel keeps of
 * it (layerfs answers OPENDIR with ENOSYS, and the kernel then caches
 * listings itself) still shows the old parent's inode number for "..".
 * A rename changes the two parents, whose listings the kernel drops; the
 * moved directory's must be dropped here.
 */
static void forget_moved_listings(struct lfs *fs, const struct rename_ctx *c)
{
	if (c->sdir == c->ddir)
		return;
	if (node_is_dir(c->src))
		fuse_lowlevel_notify_inval_inode(fs->se, node_to_ino(fs, c->src),
						 0, 0);
	if (c->dst && (c->flags & RENAME_EXCHANGE) && node_is_dir(c->dst))
		fuse_lowlevel_notify_inval_inode(fs->se, node_to_ino(fs, c->dst),
						 0, 0);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned flags)
{
	struct lfs *fs = lfs_from_req(req);
	struct rename_ctx c = { .name = name, .newname = newname,
				.flags = flags };
	struct stat st;
	int r = 0;

	if (!lfs_has_upper(fs) || fs->opt->read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (wh_is_reserved(newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	c.sdir = node_from_ino(fs, parent);
	c.ddir = node_from_ino(fs, newparent);
	node_ref(c.sdir);
	node_ref(c.ddir);

	for (int attempt = 0; attempt < 8; attempt++) {
		r = lookup_child(fs, c.sdir, name, &c.src, &st);
		if (r < 0)
			break;
		r = lookup_child(fs, c.ddir, newname, &c.dst, &st);
		if (r == -ENOENT) {
			c.dst = NULL;
			r = 0;
		}
		if (r == 0 && (flags & RENAME_EXCHANGE) && !c.dst)
			r = -ENOENT;
		if (r == 0 && (flags & RENAME_NOREPLACE) && c.dst)
			r = -EEXIST;
		if (r == 0 && c.dst &&
		    (c.dst == c.src ||
		     (node_ino(c.dst) == node_ino(c.src) && !node_is_dir(c.src)))) {
			/* Two names of one file: nothing to do (POSIX).  Where
			 * links are not shared (index=off) each name has a
			 * node of its own, with one inode number. */
			if (c.dst != c.src)
				follow_kernel_entries(fs, &c);
			goto done;
		}
		/* As the kernel checks: each name may go (its directory's
		 * inode flags and its own) before the types of the two are
		 * compared. */
		if (r == 0)
			r = fileattr_dir_refuses(fs, c.sdir, true);
		if (r == 0)
			r = fileattr_protected(fs, c.src);
		if (r == 0)
			r = fileattr_dir_refuses(fs, c.ddir, c.dst != NULL);
		if (r == 0 && c.dst)
			r = fileattr_protected(fs, c.dst);
		/* RENAME_WHITEOUT and the rest: refused, as kernel
		 * overlayfs does, once the checks the kernel makes before
		 * it asks a filesystem have passed. */
		if (r == 0 && (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)))
			r = -EINVAL;
		if (r == 0 && c.dst && !(flags & RENAME_EXCHANGE)) {
			if (node_is_dir(c.src) && !node_is_dir(c.dst))
				r = -ENOTDIR;
			else if (!node_is_dir(c.src) && node_is_dir(c.dst))
				r = -EISDIR;
			else if (node_is_dir(c.dst)) {
				struct dcache *dc;
				r = dcache_acquire_read(fs, c.dst, &dc);
				if (r == 0) {
					if (dc->nvisible > 0)
						r = -ENOTEMPTY;
					dir_unlock(c.dst);
				}
			}
		}
		if (r == 0 && c.dst && !(flags & RENAME_EXCHANGE) &&
		    !node_is_dir(c.dst))
			r = name_drop_prepare(fs, c.dst);
		if (r == 0)
			r = copy_up(fs, c.sdir, CU_META);
		if (r == 0)
			r = copy_up(fs, c.ddir, CU_META);
		if (r == 0)
			r = anchor_name(fs, c.src, c.sdir, name);
		if (r == 0 && c.dst)
			r = anchor_name(fs, c.dst, c.ddir, newname);
		if (r == -ENOENT)
			r = -EAGAIN; /* a name removed since its lookup */
		if (r == 0)
			r = prepare_moving(fs, c.src, &c.src_redirect);
		if (r == 0 && (flags & RENAME_EXCHANGE))
			r = prepare_moving(fs, c.dst, &c.dst_redirect);
		if (r == 0) {
			pthread_mutex_lock(&fs->rename_mutex);
			dir_wrlock_two(c.sdir, c.ddir);
			r = rename_locked(fs, &c);
			dcache_shed_removed(fs, c.sdir);
			dir_unlock_two(c.sdir, c.ddir);
			pthread_mutex_unlock(&fs->rename_mutex);
		}
		if (r == 0)
			forget_moved_listings(fs, &c);
done:
		free(c.src_redirect);
		free(c.dst_redirect);
		c.src_redirect = c.dst_redirect = NULL;
		node_unref(fs, c.src);
		if (c.dst)
			node_unref(fs, c.dst);
		c.src = c.dst = NULL;
		if (r != -EAGAIN)
			break;
	}
	node_unref(fs, c.sdir);
	node_unref(fs, c.ddir);
	/* The names still changed under every attempt (another rename
	 * through the mount, or the host changing a lower layer under
	 * udba=reval): answered as a local filesystem answers a rename
	 * whose name another process has just taken away. */
	fuse_reply_err(req, r == -EAGAIN ? ENOENT : -r);
}
