/*
 * Building a directory's merged listing from the layers on disk: which
 * layers to read (the parent's chain, a redirect), one getdents pass per
 * layer with opaque and impure marks read once per directory, and the
 * union rule of merge.c applied to what is read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "dcache.h"
#include "dgap.h"
#include "index.h"
#include "lf_common.h"
#include "merge.h"
#include "node.h"
#include "node_reach.h"
#include "redirect.h"
#include "safe_path.h"
#include "udba.h"
#include "xattr_private.h"

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static uint8_t mode_to_dtype(mode_t m)
{
	return (uint8_t)((m & S_IFMT) >> 12);
}

static int scan_entry(struct merge_pass *p, int dirfd,
		      struct linux_dirent64 *d)
{
	const char *name = d->d_name;
	size_t len = strlen(name);
	uint8_t dtype = d->d_type;
	uint64_t ino = d->d_ino;
	bool overlay_whiteout = false;
	if ((dtype == DT_UNKNOWN || dtype == DT_CHR ||
	     (dtype == DT_REG && p->xwhiteout)) &&
	    !wh_is_reserved(name)) {
		/* Filesystems without d_type, character devices that may be
		 * overlay whiteouts, and regular files where the kernel
		 * keeps xwhiteouts need a look at the inode. */
		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? 0 : -errno;
		overlay_whiteout =
			wh_is_overlay_whiteout(&st) ||
			wh_is_xwhiteout(dirfd, name, &st, p->xwhiteout);
		dtype = mode_to_dtype(st.st_mode);
		ino = st.st_ino;
	}
	(void)len;
	merge_name(p, name, dtype, ino, overlay_whiteout);
	return 0;
}

/* Reads one layer's directory into the listing. */
static int scan_layer(struct merge_pass *p, int dirfd)
{
	char buf[65536] __attribute__((aligned(8)));
	for (;;) {
		long n = syscall(SYS_getdents64, dirfd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d = (void *)(buf + off);
			int r = scan_entry(p, dirfd, d);
			if (r < 0)
				return r;
			off += d->d_reclen;
		}
	}
}

/* Reads the xattrs of an impure upper directory's entries: the inode
 * number kept across copy-up (from the index for a special file), and
 * redirect/metacopy marks. */
static void check_impure_entries(struct lfs *fs, struct node *dir,
				 struct dcache *dc, int dirfd)
{
	dev_t dev;
	uint64_t raw;
	char id[LOWER_ID_MAX];
	for (uint32_t i = 0; i < dc->n; i++) {
		struct drec *r = &dc->recs[i];
		if (!(r->flags & R_CHECK) || !drec_visible(r))
			continue;
		uint64_t ino;
		if (r->dtype != DT_REG && r->dtype != DT_DIR &&
		    r->dtype != DT_UNKNOWN) {
			/* No xattrs on a symlink or device: a link of an
			 * index entry has its origin in the index. */
			if (index_special_origin(fs, r->ino, &ino))
				r->ino = ino;
		} else if (xp_read_origin_id_at(dirfd, drec_name(dc, r), &dev,
						&raw, id) == 0 &&
			   (ino = lfs_compose_ino_dev(fs, dev, raw)) != 0) {
			/* udba=reval: only while its lower file is the one
			 * copied (udba.h); else its own number, kept. */
			if (fs->opt->udba_reval && r->dtype == DT_REG && id[0] &&
			    !udba_origin_holds(fs, dir, dirfd,
					       drec_name(dc, r), dev, raw, id))
				udba_origin_drop(fs, dir, dirfd,
						 drec_name(dc, r), ino, r->ino);
			else
				r->ino = ino;
		}
	}
}

/*
 * A directory kernel overlayfs renamed, met in lower layer l (its
 * overlay.redirect, read from fd): the layers below hold it where the
 * redirect says, a path from their root or another name in the parent's
 * directory, and they replace the candidates after `keep`.  A malformed
 * redirect is not followed (the merge goes on at the directory's own
 * path).  The node keeps it, so that its entries in those layers are
 * reached the same way (node_open).  1 when followed, 0 when not, or
 * -errno.
 */
static int follow_kernel_redirect(struct lfs *fs, struct node *dir, int fd,
				  int l, uint16_t *cands, uint16_t keep,
				  uint16_t *ncands)
{
	char *value = NULL;
	int r = (node_flags(dir) & N_ROOT) ? 0
					    : redirect_kernel_dir(fs, fd, &value);
	if (r <= 0)
		return r;
	if (value[0] != '/') {
		/* Another name in its parent's directory: the directory that
		 * holds it in this layer (reached through a redirect,
		 * perhaps), as the layers below have it.  Made a path from
		 * the root there, which they translate further. */
		pthread_rwlock_rdlock(&fs->ns_lock);
		char *here = node_lower_path(fs, dir, l);
		pthread_rwlock_unlock(&fs->ns_lock);
		if (here)
			*strrchr(here, '/') = 0; /* "/a/b" -> "/a", "/b" -> "" */
		char *parent = here ? redirect_translate(fs, here, l, l + 1)
				    : NULL;
		char *abs = parent ? malloc(strlen(parent) + strlen(value) + 3)
				   : NULL;
		if (abs)
			sprintf(abs, "/%s%s%s", parent, parent[0] ? "/" : "",
				value);
		free(here);
		free(parent);
		free(value);
		value = abs;
		if (!value)
			return -ENOMEM;
	}
	uint16_t n = 0;
	r = redirect_lower_chain(fs, value, l + 1, cands + keep,
				 (uint16_t)(fs->nlayers - keep), &n);
	if (r == 0)
		r = node_add_lower_redirect(fs, dir, l, value);
	else
		free(value);
	*ncands = (uint16_t)(keep + n);
	return r < 0 ? r : 1;
}

static int load_layers(struct lfs *fs, struct node *dir, struct dcache *dc,
		       uint16_t *cands, uint16_t ncands,
		       const char *redirect)
{
	/* Set once a kernel redirect decides where the layers below hold
	 * the directory: node_open finds it there. */
	bool kernel_moved = false;
	/* A layer's root is never opaque by xattr: kernel overlayfs builds
	 * the root from every layer and never reads its marks, and
	 * containers/storage marks a layer directory so for a layer tar's
	 * ./.wh..wh..opq.  The dotwh file there keeps the meaning the OCI
	 * image spec gives it (README, "The layer model"). */
	bool layer_root = node_flags(dir) & N_ROOT;
	for (uint16_t i = 0; i < ncands; i++) {
		int l = cands[i];
		struct merge_pass p;
		merge_begin(&p, fs, dc, l);
		int fd;
		if (redirect && !p.is_upper && !kernel_moved)
			fd = sp_open_beneath(fs->layers[l].fd,
					     redirect[0] == '/' ? redirect + 1
								: redirect,
					     O_RDONLY | O_DIRECTORY, 0);
		else
			fd = node_open(fs, dir, l, O_RDONLY | O_DIRECTORY);
		if (fd == -ENOENT) {
			/* The listings above could not rule this layer out. */
			lfs_stat_add(&fs->stats.dir_load_misses, 1);
			continue;
		}
		if (fd == -ENOTDIR || fd == -ELOOP)
			break; /* something else than a directory: stops here */
		if (fd < 0)
			return fd;
		lfs_stat_add(&fs->stats.dir_load_layers, 1);

		/* Opaque and impure marks: one listxattr per directory. */
		struct dir_marks marks;
		int opaque_x = xp_dir_marks(fs, fd, p.is_upper, &marks);
		p.impure = marks.impure;
		p.xwhiteout = marks.xwhiteout;
		if (!p.is_upper && marks.impure)
			redirect_note_kernel_layer(fs, l);
		int r = scan_layer(&p, fd);
		bool opaque = false;
		int re = merge_end(&p, &opaque);
		if (r == 0)
			r = re;
		if (r == 0 && p.is_upper && p.impure) {
			dc->upper_impure = true;
			check_impure_entries(fs, dir, dc, fd);
		}
		bool stop = opaque || (opaque_x > 0 && !layer_root);
		if (r == 0 && !stop && marks.kernel_redirect) {
			r = follow_kernel_redirect(fs, dir, fd, l, cands,
						   (uint16_t)(i + 1), &ncands);
			kernel_moved = kernel_moved || r > 0;
			r = r < 0 ? r : 0;
		}
		close(fd);
		if (r < 0)
			return r;
		if (dcache_chain_append(dc, (uint16_t)l) < 0)
			return -ENOMEM;
		if (stop)
			break;
	}
	return 0;
}

/*
 * The layers the parent's listing says it exists in, from top to end
 * (exclusive), less the gaps it recorded for dir's name, into cands;
 * false when that listing cannot be read now.
 * It is the parent's: read under the parent's lock (a copy-up of the
 * parent reallocates its chain, the budget frees whole listings), which
 * the caller may hold already, which shares a stripe with dir's, or
 * which is tried: waiting for it while holding dir's could deadlock with
 * a thread locking both in the other order, and every layer from top
 * to end is a correct, slower, answer.  The caller holds ns_lock, so
 * that dir's parent and name stay what they are meanwhile.
 */
static bool parent_chain(struct node *dir, bool parent_held, int top,
			 int end, uint16_t *cands, uint16_t *ncands)
{
	struct node *parent = dir->parent;
	if (!parent || (node_flags(dir) & N_ROOT))
		return false;
	bool held = parent_held || dir_same_lock(dir, parent);
	if (!held && !dir_tryrdlock(parent))
		return false;
	struct dcache *pdc = parent->dc;
	if (pdc) {
		/* A moved directory exists in the upper layer only, or is
		 * redirected: a gap kept for an earlier holder of its name
		 * never concerns it. */
		const struct drec *self =
			pdc->ngaps ? dcache_find(pdc, node_name(dir)) : NULL;
		for (uint16_t i = 0; i < pdc->nchain; i++) {
			uint16_t l = pdc->chain[i];
			if (l < top || l >= end)
				continue;
			if (self && dgap_covers(pdc, self->name_off, l))
				continue;
			cands[(*ncands)++] = l;
		}
	}
	if (!held)
		dir_unlock(parent);
	return pdc != NULL;
}

static int load(struct lfs *fs, struct node *dir, bool parent_held,
		struct dcache **out)
{
	if (dir->dc) {
		atomic_store_explicit(&dir->dc->accessed, true,
				      memory_order_relaxed);
		*out = dir->dc;
		return 0;
	}
	struct dcache *dc = dcache_new();
	if (!dc)
		return -ENOMEM;

	/* Which layers may hold this directory: from its top layer down to
	 * where the parent's listing said its merge ends, and only where the
	 * parent itself exists. */
	uint16_t *cands = malloc(fs->nlayers * sizeof(uint16_t));
	if (!cands) {
		dcache_free(dc);
		return -ENOMEM;
	}
	uint16_t ncands = 0;
	char *redirect = NULL;
	bool redirected = false, from_parent = false;
	int r = 0;

	/* A rename changes a directory's parent, name, end and redirect
	 * holding the parents' locks and ns_lock, not dir's own lock: they
	 * are read under ns_lock, the redirect as a copy. */
	if (fs->opt->udba_reval)
		node_clear_flag(dir, N_RELOAD); /* end is read below */
	pthread_rwlock_rdlock(&fs->ns_lock);
	int top = node_layer(dir);
	int end = (node_flags(dir) & N_ROOT) ? fs->nlayers : dir->end;
	if ((node_flags(dir) & N_REDIRECT) && dir->ext && dir->ext->redirect) {
		redirected = true;
		redirect = strdup(dir->ext->redirect);
	} else if (!fs->opt->udba_reval) {
		/* With udba=reval the parent's listing may predate a layer
		 * that gained this directory: every layer is tried. */
		from_parent = parent_chain(dir, parent_held, top, end, cands,
					   &ncands);
	}
	pthread_rwlock_unlock(&fs->ns_lock);

	if (redirected && !redirect) {
		r = -ENOMEM;
	} else if (redirected) {
		if (lfs_has_upper(fs) && top == fs->upper)
			cands[ncands++] = (uint16_t)fs->upper;
		uint16_t n = 0;
		r = redirect_lower_chain(fs, redirect,
					 lfs_below_upper(fs),
					 cands + ncands,
					 (uint16_t)(fs->nlayers - ncands), &n);
		ncands = (uint16_t)(ncands + n);
	} else if (from_parent) {
		/* The directory may have been copied up after the parent's
		 * listing was read. */
		if (top == fs->upper && (ncands == 0 || cands[0] != fs->upper)) {
			memmove(cands + 1, cands, ncands * sizeof(uint16_t));
			cands[0] = (uint16_t)fs->upper;
			ncands++;
		}
	} else {
		for (int l = top; l < end; l++)
			cands[ncands++] = (uint16_t)l;
	}
	/* Stamped before the layers are read: a change made meanwhile is
	 * seen at the next check. */
	if (r == 0 && !redirected)
		dc->udba = udba_stamp(fs, dir, top, end, &r);
	if (r == 0)
		r = load_layers(fs, dir, dc, cands, ncands, redirect);
	free(redirect);
	free(cands);
	if (r < 0) {
		dcache_free(dc);
		return r;
	}
	if (dc->nchain == 0) {
		dcache_free(dc);
		return -ENOENT;
	}
	dcache_shrink_to_fit(dc);
	dgap_finish(dc);
	lfs_stat_add(&fs->stats.dir_loads, 1);
	if (dc->nchain > 1)
		node_set_flag(dir, N_MERGED);
	else if (fs->opt->udba_reval && !redirected)
		node_clear_flag(dir, N_MERGED); /* its lower part went */
	dcache_attach(dir, dc);
	*out = dc;
	return 0;
}

int dcache_load(struct lfs *fs, struct node *dir, struct dcache **out)
{
	return load(fs, dir, false, out);
}

int dcache_load_under_parent(struct lfs *fs, struct node *dir,
			     struct dcache **out)
{
	return load(fs, dir, true, out);
}

int dcache_acquire_read(struct lfs *fs, struct node *dir, struct dcache **out)
{
	dir_rdlock(dir);
	struct dcache *seen = dir->dc;
	if (seen && seen->udba && udba_outdated(fs, dir, seen)) {
		dir_unlock(dir);
		dir_wrlock(dir);
		udba_drop_if(fs, dir, seen);
		dir_unlock(dir);
		dir_rdlock(dir);
	}
	if (dir->dc) {
		atomic_store_explicit(&dir->dc->accessed, true,
				      memory_order_relaxed);
		*out = dir->dc;
		return 0;
	}
	dir_unlock(dir);
	dir_wrlock(dir);
	struct dcache *dc;
	int r = dcache_load(fs, dir, &dc);
	dir_unlock(dir);
	if (r < 0)
		return r;
	/* Keep the budget outside any directory lock. */
	dcache_enforce_budget(fs, dir);
	dir_rdlock(dir);
	if (!dir->dc) {
		/* Evicted in the window: load again under the write lock. */
		dir_unlock(dir);
		dir_wrlock(dir);
		r = dcache_load(fs, dir, &dc);
		if (r < 0) {
			dir_unlock(dir);
			return r;
		}
		/* Holding the write lock is fine for a reader. */
	}
	*out = dir->dc;
	return 0;
}
