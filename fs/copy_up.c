#include "copy_up.h"

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

#include "copy_data.h"
#include "creds.h"
#include "dcache.h"
#include "dgap.h"
#include "dirfd_cache.h"
#include "fault.h"
#include "fileattr.h"
#include "index.h"
#include "lf_common.h"
#include "metacopy.h"
#include "node_reach.h"
#include "override.h"
#include "passthrough.h"
#include "privs_keep.h"
#include "xattr_ops.h"
#include "xattr_private.h"

/* ---- one copy-up per node at a time ------------------------------- */

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static struct copy_up_hold *holds;

static bool is_held(struct node *n)
{
	for (struct copy_up_hold *i = holds; i; i = i->next)
		if (i->n == n)
			return true;
	return false;
}

void copy_up_hold_begin(struct node *n, struct copy_up_hold *hold)
{
	pthread_mutex_lock(&hold_lock);
	while (is_held(n))
		pthread_cond_wait(&hold_cond, &hold_lock);
	hold->n = n;
	hold->next = holds;
	holds = hold;
	pthread_mutex_unlock(&hold_lock);
}

void copy_up_hold_end(struct copy_up_hold *hold)
{
	pthread_mutex_lock(&hold_lock);
	for (struct copy_up_hold **pp = &holds; *pp; pp = &(*pp)->next)
		if (*pp == hold) {
			*pp = hold->next;
			break;
		}
	pthread_cond_broadcast(&hold_cond);
	pthread_mutex_unlock(&hold_lock);
}

void copy_up_wait(struct node *n)
{
	pthread_mutex_lock(&hold_lock);
	while (is_held(n))
		pthread_cond_wait(&hold_cond, &hold_lock);
	pthread_mutex_unlock(&hold_lock);
}

/* ---- attributes --------------------------------------------------- */

/* What a copy takes from its source besides the data. */
struct attr_plan {
	bool owner;  /* false: a staged change sets uid and gid after */
	bool xattrs; /* false: the source is known to carry none */
	bool mode;   /* false: the copy was created with its final mode */
};

/*
 * Gives dst (staged) the owner, mode, xattrs and times of the source.
 * Order matters: chown clears set-id bits and capabilities, so it comes
 * before chmod and before the xattrs; times come last.  A chown staged
 * after them clears what a chown of the real file would.
 */
static int copy_attrs(struct lfs *fs, int src_fd, int dst_fd,
		      const struct stat *st, bool is_dir,
		      const struct attr_plan *plan)
{
	int r = plan->owner ? override_copy_owner(fs, src_fd, dst_fd, st) : 0;
	if (r < 0)
		return r;
	/* Where the owner is kept in the override, the copy's real owner
	 * is the daemon: set-id bits stay in the view, and a daemon without
	 * CAP_DAC_OVERRIDE keeps read and write for itself (and search on a
	 * directory), as setattr gives them (override_real_mode).  A copy
	 * of a 0555 directory that kept 0555 took no origin mark and could
	 * not be renamed into place (EACCES: a directory moved to another
	 * parent needs write permission on itself), so no change below a
	 * read-only lower directory could be made. */
	mode_t mode = st->st_mode & 07777;
	if (override_xattr_name(fs))
		mode = override_real_mode(mode, st->st_mode);
	if (plan->mode && fchmod(dst_fd, mode) < 0)
		return -errno;
	r = plan->xattrs ? copy_xattrs(src_fd, dst_fd, is_dir) : 0;
	if (r < 0)
		return r;
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	if (futimens(dst_fd, ts) < 0)
		return -errno;
	return 0;
}

/* ---- staging and publishing -------------------------------------- */

/*
 * Whether copying up this lower non-directory breaks it from its other
 * names: it has several and no index keeps them together (index=off, or
 * an upper layer without xattrs), as with kernel overlayfs and
 * index=off.  The copy is then a file of its own and must not show the
 * inode number the other names still show, or `tar` and `cp -a` would
 * take two different files for links of one: it gets no origin mark and
 * takes its upper inode's number (take_upper_ino).
 */
static bool breaks_hard_link(struct lfs *fs, const struct stat *lower)
{
	return !S_ISDIR(lower->st_mode) && lower->st_nlink > 1 &&
	       !index_wanted(fs, lower);
}

void take_upper_ino(struct lfs *fs, struct node *n, uint64_t real_ino)
{
	uint64_t ino = lfs_compose_ino(fs, fs->upper, real_ino);
	struct node *parent = n->parent;
	bool changed = false;
	dir_wrlock(parent);
	if (!(node_flags(n) & N_UNHASHED) && n->parent == parent) {
		node_set_ino(fs, n, ino);
		changed = true;
		if (parent->dc) {
			pthread_rwlock_rdlock(&fs->ns_lock);
			struct drec *rec = dcache_find(parent->dc,
						       node_name(n));
			pthread_rwlock_unlock(&fs->ns_lock);
			if (rec)
				rec->ino = ino;
		}
	}
	fuse_ino_t parent_ino = node_to_ino(fs, parent);
	dir_unlock(parent);
	/* The kernel caches the number (and the link count of the lower
	 * file) for as long as the attribute timeout: it must ask again.
	 * Attributes only, nothing that waits on a request.  And the
	 * listing of the parent it keeps (readdir.c) shows the old number:
	 * a directory's cached listing holds no page a request waits on. */
	if (changed && fs->se) {
		fuse_lowlevel_notify_inval_inode(fs->se, node_to_ino(fs, n),
						 -1, 0);
		fuse_lowlevel_notify_inval_inode(fs->se, parent_ino, 0, 0);
	}
}

int mark_parent_impure(struct lfs *fs, struct node *parent, int pfd)
{
	if (!fs->upper_xattr || (node_flags(parent) & N_IMPURE_DONE))
		return 0;
	int r = xp_set_impure(pfd);
	if (r == 0)
		node_set_flag(parent, N_IMPURE_DONE);
	return r;
}

/* Puts the staged copy at parent/name in the upper layer and mirrors
 * the change in the parent's listing: workdir/work/tmp is renamed there,
 * or, when tmp is NULL, the unnamed file staged_fd is linked there.
 * The node gains new_flags and loses cleared as it moves up. */
static int publish(struct lfs *fs, struct node *n, const char *tmp,
		   int staged_fd, int parent_fd, unsigned new_flags,
		   unsigned cleared)
{
	struct node *parent = n->parent;
	char name[NAME_MAX + 1];
	dir_wrlock(parent);
	if ((node_flags(n) & N_UNHASHED) || n->parent != parent) {
		/* Removed or moved while we copied: the copy is not wanted. */
		dir_unlock(parent);
		return -ENOENT;
	}
	pthread_rwlock_rdlock(&fs->ns_lock);
	memcpy(name, node_name(n), n->namelen + 1u);
	pthread_rwlock_unlock(&fs->ns_lock);
	/* A copy-up changes nothing in the view: the parent's times are put
	 * back after the new entry changed them, as by kernel overlayfs (a
	 * remount would show them).  Under the parent's lock, so no change
	 * through the mount is undone with them; at best, as there. */
	struct stat pst;
	bool keep_times = fstat(parent_fd, &pst) == 0;
	int r;
	if (tmp)
		r = renameat2(fs->work_fd, tmp, parent_fd, name,
			      RENAME_NOREPLACE) < 0 ? -errno : 0;
	else
		r = lfs_link_unnamed(fs, staged_fd, parent_fd, name);
	if (r < 0) {
		dir_unlock(parent);
		return r;
	}
	if (keep_times) {
		struct timespec ts[2] = { pst.st_atim, pst.st_mtim };
		utimensat(parent_fd, "", ts, AT_EMPTY_PATH);
	}
	node_set_flag(n, new_flags);
	if (cleared)
		node_clear_flag(n, cleared);
	node_set_layer(n, fs->upper);
	if (parent->dc) {
		struct drec *rec = dcache_find(parent->dc, name);
		if (rec) {
			/* A directory now opens in the upper layer, then in
			 * the layers from its old top down. */
			if (rec->dtype == DT_DIR)
				dgap_copied_up(parent->dc, rec->name_off,
					       (uint16_t)fs->upper, rec->layer);
			rec->layer = (uint16_t)fs->upper;
			if (new_flags & (N_METACOPY | N_ORIGIN_SET))
				rec->flags |= R_CHECK;
		}
	}
	dir_unlock(parent);
	return 0;
}

/*
 * Copies up the ancestors of n that are not in the upper layer yet, the
 * highest first.  A loop, not recursion: a hostile layer may be
 * thousands of directories deep, more than a thread's stack holds.
 */
static int copy_up_ancestors(struct lfs *fs, struct node *n)
{
	size_t len = 0, cap = 0;
	struct node **chain = NULL;
	int r = 0;
	pthread_rwlock_rdlock(&fs->ns_lock);
	for (struct node *a = n->parent; a && !(node_flags(a) & N_ROOT);
	     a = a->parent) {
		if (node_layer(a) == fs->upper)
			break; /* its ancestors are, too */
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			struct node **c = realloc(chain, cap * sizeof(*c));
			if (!c) {
				r = -ENOMEM;
				break;
			}
			chain = c;
		}
		node_ref(a);
		chain[len++] = a;
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	for (size_t i = len; i-- > 0;) {
		if (r == 0)
			r = copy_up(fs, chain[i], CU_META);
		node_unref(fs, chain[i]);
	}
	free(chain);
	return r;
}

/* The parent's upper directory, from the thread's dirfd cache (a
 * `chown -R` copies up a run of siblings): release with dirfd_release. */
static int upper_parent_fd(struct lfs *fs, struct node *n)
{
	int r = copy_up_ancestors(fs, n);
	if (r < 0)
		return r;
	return dirfd_acquire(fs, n->parent, fs->upper);
}

static int copy_up_dir_node(struct lfs *fs, struct node *n, int pfd,
			    int src, const struct stat *st)
{
	/* Its immutable and append-only flags go into its mark, where they
	 * refuse nothing layerfs does (fileattr.c); without marks they
	 * would be lost, so it is not copied.  No-dump goes on the copy,
	 * as a file's does. */
	unsigned carried;
	int r = fileattr_carried(fs, n, node_layer(n), &carried);
	unsigned protect = carried & FILEATTR_PROTECT;
	if (r == 0 && protect && !fs->upper_xattr)
		r = -EPERM;
	if (r < 0)
		return r;
	fileattr_known(n, protect);
	char tmp[64];
	lfs_tmp_name(fs, tmp, sizeof(tmp));
	if (mkdirat(fs->work_fd, tmp, 0700) < 0)
		return -errno;
	int dfd = openat(fs->work_fd, tmp,
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = dfd < 0 ? -errno : 0;
	struct attr_plan plan = {
		.owner = true,
		.xattrs = !(node_flags(n) & N_NOXATTR),
		.mode = true,
	};
	if (r == 0)
		r = copy_attrs(fs, src, dfd, st, true, &plan);
	if (r == 0 && protect)
		r = fileattr_mark(dfd, protect);
	if (r == 0 && (carried & FS_NODUMP_FL))
		r = fileattr_apply(dfd, FS_NODUMP_FL);
	unsigned flags = 0;
	if (r == 0 && fs->upper_xattr) {
		/* Directories keep their inode number across remount too. */
		if (xp_set_origin(dfd, st->st_dev, st->st_ino, NULL) == 0)
			flags |= N_ORIGIN_SET;
	}
	if (r == 0 && (flags & N_ORIGIN_SET))
		r = mark_parent_impure(fs, n->parent, pfd);
	/* No fsync: a directory carries no data, and the journal commits
	 * its attributes no later than the rename that publishes it. */
	if (dfd >= 0)
		close(dfd);
	if (r == 0)
		r = publish(fs, n, tmp, -1, pfd, flags, 0);
	if (r < 0) {
		unlinkat(fs->work_fd, tmp, AT_REMOVEDIR);
		return r;
	}
	/* The directory's own listing now has the upper layer on top. */
	dir_wrlock(n);
	if (n->dc)
		dcache_chain_push_top(n->dc, (uint16_t)fs->upper);
	dir_unlock(n);
	lfs_stat_add(&fs->stats.dir_copyups, 1);
	return 0;
}

static int copy_up_special(struct lfs *fs, struct node *n, int pfd,
			   int src, const struct stat *st)
{
	char tmp[64];
	lfs_tmp_name(fs, tmp, sizeof(tmp));
	int r = 0;
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t len = readlinkat(src, "", target, sizeof(target) - 1);
		if (len < 0)
			return -errno;
		target[len] = 0;
		if (symlinkat(target, fs->work_fd, tmp) < 0)
			return -errno;
	} else {
		r = override_mknod(fs, fs->work_fd, tmp, st->st_mode, st->st_rdev);
		if (r < 0)
			return r;
	}
	/* Symlinks and devices cannot carry user.* xattrs: owner, times and
	 * whatever xattrs the filesystem allows, through the path. */
	int dfd = openat(fs->work_fd, tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		r = -errno;
	if (r == 0 && fs->can_chown &&
	    fchownat(fs->work_fd, tmp, st->st_uid, st->st_gid,
		     AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r == 0 && !S_ISLNK(st->st_mode) &&
	    fchmodat(fs->work_fd, tmp, st->st_mode & 07777, 0) < 0)
		r = -errno;
	if (r == 0)
		r = copy_xattrs(src, dfd, true);
	if (r == 0) {
		struct timespec ts[2] = { st->st_atim, st->st_mtim };
		if (utimensat(fs->work_fd, tmp, ts, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	}
	if (dfd >= 0)
		close(dfd);
	/* A lower symlink or device with several names goes through the
	 * index like a regular file (index.h). */
	unsigned flags = 0;
	if (r == 0 && index_wanted(fs, st)) {
		char key[INDEX_KEY_MAX];
		index_key(key, sizeof(key), st->st_dev, st->st_ino);
		/* Its listing must give it its origin's inode number. */
		r = mark_parent_impure(fs, n->parent, pfd);
		char lid[LOWER_ID_MAX];
		index_lower_id(fs, n, node_layer(n), src, lid);
		if (r == 0)
			r = index_enter(fs, tmp, key, st, lid);
		struct node_ext *e = r == 0 ? node_ext(n) : NULL;
		if (r == 0 && !e)
			r = -ENOMEM;
		if (r == 0) {
			snprintf(e->index_key, sizeof(e->index_key), "%s", key);
			flags = N_HLINK | N_ORIGIN_SET;
		}
	}
	struct stat up;
	bool breaks = r == 0 && breaks_hard_link(fs, st) &&
		      fstatat(fs->work_fd, tmp, &up, AT_SYMLINK_NOFOLLOW) == 0;
	if (r == 0)
		r = publish(fs, n, tmp, -1, pfd, flags, 0);
	if (r < 0) {
		unlinkat(fs->work_fd, tmp, 0);
		return r;
	}
	if (breaks)
		take_upper_ino(fs, n, up.st_ino);
	return 0;
}

/*
 * Why a staged copy could not be created.  The parent's upper directory
 * may have been removed since its fd was had (the file unlinked, then
 * its directory, while the copy waited): a named create in it fails
 * with ENOENT in the VFS, but ext4 refuses an unnamed file there itself,
 * with EPERM.  The file is gone either way, which is ENOENT.
 */
static int staging_error(int pfd, const char *tmp)
{
	int e = errno;
	struct stat dir;
	if (!tmp && e == EPERM && fstat(pfd, &dir) == 0 && dir.st_nlink == 0)
		return -ENOENT;
	return -e;
}

/*
 * Creates the staged regular file with metadata, and data unless
 * meta_only: workdir/work/tmp, or an unnamed file (O_TMPFILE) in the
 * parent's upper directory pfd when tmp is NULL.  src is the source
 * opened for reading, or -1 when neither its data nor its xattrs are
 * wanted.  Returns the staged fd (caller closes) or -errno.
 */
/* src: the file copied, data: where its data is read (src itself, or
 * below a kernel metadata-only copy). */
static int stage_regular(struct lfs *fs, int src, int data,
			 const struct stat *st, const char *tmp, int pfd,
			 bool meta_only, struct attr_plan *plan)
{
	/* Created with its permission bits (bookkeeping runs with umask 0,
	 * creds.c), which saves a chmod; set-id and sticky bits are set
	 * after the owner, whose change would clear them. */
	mode_t mode = st->st_mode & 0777;
	plan->mode = (st->st_mode & 07000) != 0;
	int dfd = tmp ? openat(fs->work_fd, tmp,
			       O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
				       O_CLOEXEC,
			       mode)
		      : openat(pfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (dfd < 0)
		return staging_error(pfd, tmp);
	int r;
	if (meta_only)
		r = ftruncate(dfd, st->st_size) < 0 ? -errno : 0;
	else
		r = copy_file_data(fs, data, dfd, (uint64_t)st->st_size);
	if (r == 0)
		r = copy_attrs(fs, src, dfd, st, false, plan);
	if (r < 0) {
		close(dfd);
		if (tmp)
			unlinkat(fs->work_fd, tmp, 0);
		return r;
	}
	return dfd;
}

/* A directory's or a special file's copy-up (copy), from n opened in
 * layer with flags and its attributes. */
static int copy_up_opened(struct lfs *fs, struct node *n, int layer,
			  int flags, int pfd,
			  int (*copy)(struct lfs *fs, struct node *n, int pfd,
				      int src, const struct stat *st))
{
	int src = node_open(fs, n, layer, flags);
	if (src < 0)
		return src;
	struct stat st;
	int r = fstat(src, &st) < 0 ? -errno : copy(fs, n, pfd, src, &st);
	close(src);
	return r;
}

/* Opens the source of a copy for reading and stats it. */
static int open_source(struct lfs *fs, struct node *n, int layer,
		       struct stat *st)
{
	int src = node_open_noatime(fs, n, layer, O_RDONLY);
	if (src >= 0 && fstat(src, st) < 0) {
		int e = errno;
		close(src);
		src = -e;
	}
	return src;
}

/*
 * The immutable, append-only and no-dump flags go with a regular file's
 * copy, set once it is published (the upper filesystem would refuse to
 * link or rename a protected file).  The kernel's FUSE client does not
 * know them, so the changes it would refuse for them come here: the
 * copy-up before any change but the ones `allow` names
 * (copy_up_protected) is refused, before anything is copied (its
 * parents neither: the kernel refuses before it looks at them).
 */
static int protected_copy_refused(unsigned carried,
				  const struct copy_up_stage *stage,
				  unsigned allow)
{
	if (!(carried & FILEATTR_PROTECT))
		return 0;
	return (carried & FILEATTR_PROTECT & ~allow) || stage ||
			       !fileattr_may_protect()
		       ? -EPERM
		       : 0;
}

/* carried: the lower file's flags (fileattr_carried); keep: the size a
 * truncation is about to give it, or -1. */
static int copy_up_regular(struct lfs *fs, struct node *n, int pfd,
			   enum copy_up_kind kind, struct copy_up_stage *stage,
			   unsigned carried, off_t keep)
{
	int layer = node_layer(n);
	/* A protected file is copied with its data: its data could never
	 * be written into a metadata-only copy. */
	if (carried & FILEATTR_PROTECT)
		kind = CU_DATA;
	struct attr_plan plan = {
		.owner = !(stage && stage->sets_owner),
		.xattrs = !(node_flags(n) & N_NOXATTR),
	};
	/*
	 * A copy that takes no data (metadata only, or truncated) and no
	 * xattrs needs the source's attributes only: one stat by name
	 * instead of an open, an fstat and a close (`chown -R`).
	 */
	bool attrs_need_src =
		plan.xattrs || (plan.owner && override_xattr_name(fs));
	/* Not below a directory kernel overlayfs renamed: the data's path
	 * there differs from layer to layer, which the mark cannot say. */
	pthread_rwlock_rdlock(&fs->ns_lock);
	bool path_varies = node_below_lower_redirect(n);
	pthread_rwlock_unlock(&fs->ns_lock);
	/* Not with udba=reval either: a metadata-only copy (a rename's
	 * too) keeps reading lower data that may change behind the mount,
	 * and would show it cut to, or padded to, the size it copied.  A
	 * file copied up or renamed through the mount is the upper
	 * layer's: it takes the data it has now. */
	bool metacopy_ok = kind == CU_META && fs->opt->metacopy &&
			   !fs->opt->udba_reval && fs->upper_xattr &&
			   !path_varies;
	bool may_skip_data = kind == CU_TRUNC || metacopy_ok;
	struct stat st;
	int src = -1;
	if (may_skip_data && !attrs_need_src) {
		int r = node_lstat(fs, n, layer, &st);
		if (r < 0)
			return r;
		if (!S_ISREG(st.st_mode))
			return -EIO; /* a read-only layer changed under us */
	} else {
		src = open_source(fs, n, layer, &st);
		if (src < 0)
			return src;
		fault_point("copy-up-source-open");
	}
	bool meta_only = metacopy_ok && st.st_size > 0;
	if (kind == CU_TRUNC) {
		/* Nothing of the data survives: an empty copy is exact. */
		st.st_size = 0;
	}
	/* Only what a truncation leaves is copied: its copy is exact too,
	 * and `truncate -s 1M` of a big file costs a megabyte. */
	bool cut = keep >= 0 && keep < st.st_size;
	if (cut)
		st.st_size = keep;
	bool no_data = meta_only || kind == CU_TRUNC;
	/* A metadata-only copy of the kernel's in a lower layer: its data
	 * is further down (metacopy.h), and where it is is known already. */
	bool lower_meta = (node_flags(n) & N_METACOPY) != 0;
	int data = src;
	if (lower_meta && !no_data && src >= 0) {
		data = metacopy_open_data(fs, n, O_RDONLY | O_NOATIME);
		if (data < 0) {
			close(src);
			return data;
		}
	}
	bool indexed = index_wanted(fs, &st);
	bool breaks = breaks_hard_link(fs, &st);
	/*
	 * The identity of the file copied, recorded in its index entry, or
	 * in the origin mark of a copy of its own (udba.h: under udba=reval
	 * the origin holds only while the lower file is that one).  The
	 * latter by every mount, so that one with udba=reval later can
	 * check a copy made without it, but not in a metadata-only copy:
	 * its origin and metacopy marks fill the 96 bytes ext4 keeps for
	 * xattrs in the inode (metacopy.c), and a record more would take
	 * each such copy a 4 KiB block.  Those are never made with
	 * udba=reval; one made before is trusted, as a copy made before
	 * the record existed.
	 */
	char lid[LOWER_ID_MAX] = "";
	if (indexed || (fs->upper_xattr && !breaks && !meta_only))
		index_lower_id(fs, n, layer, src, lid);
	/*
	 * Staged as an unnamed file in the parent's own upper directory
	 * where the filesystem can: published by a link there, it takes no
	 * lock on the workdir and not the filesystem-wide one of a rename
	 * across directories, its inode is allocated near its directory
	 * rather than with every other copy in workdir's, and a crash
	 * leaves nothing behind.  An indexed file goes through the index,
	 * by name; one whose directory would hand it a default ACL goes
	 * through the workdir too.
	 */
	char tmp_name[64], key[INDEX_KEY_MAX];
	const char *tmp = NULL;
	if (fs->link_unnamed == LINK_UNNAMED_NONE || indexed ||
	    xattr_dir_has_default_acl(n->parent, pfd)) {
		lfs_tmp_name(fs, tmp_name, sizeof(tmp_name));
		tmp = tmp_name;
	}
	index_key(key, sizeof(key), st.st_dev, st.st_ino);

	int dfd = stage_regular(fs, src, data, &st, tmp, pfd, no_data, &plan);
	if (data != src)
		close(data);
	if (dfd < 0) {
		if (src >= 0)
			close(src);
		return dfd;
	}
	unsigned flags = 0;
	int r = 0;
	char *datapath = NULL;
	/* (An index entry's record goes on with its count, index_enter.) */
	if (fs->upper_xattr && !breaks &&
	    xp_set_origin(dfd, st.st_dev, st.st_ino,
			  indexed ? NULL : lid) == 0)
		flags |= N_ORIGIN_SET;
	if (meta_only) {
		/* Empty: the data is at the file's own path below
		 * (metacopy.c), a kernel metacopy's too (the search for the
		 * data follows it down); an index entry, with several names,
		 * has its path written out. */
		datapath = metacopy_own_path(fs, n);
		r = datapath ? xp_set_string(dfd, XATTR_LFS_METACOPY,
					     indexed ? datapath : "")
			     : -ENOMEM;
		flags |= N_METACOPY;
	}
	/* Its immutable and append-only flags can go on the copy only once
	 * it has its name: the mark takes them first, and a lookup after a
	 * crash in between finds them there (fileattr.c). */
	unsigned protect = fs->upper_xattr ? carried & FILEATTR_PROTECT : 0;
	if (r == 0 && protect)
		r = fileattr_mark(dfd, protect);
	if (r == 0 && stage)
		r = stage->apply(fs, dfd, stage->arg);
	/* Data must be on disk before the link or rename makes it
	 * visible; a metadata-only copy has none, and its attributes are
	 * journaled no later than the link. */
	if (r == 0 && !no_data && fs->opt->fsync && fsync(dfd) < 0)
		r = -errno;
	if (src >= 0)
		close(src);
	if (r == 0 && (flags || protect))
		r = mark_parent_impure(fs, n->parent, pfd);
	bool entry_there = false, entered = false;
	if (r == 0 && indexed) {
		r = index_enter(fs, tmp, key, &st, lid);
		entry_there = r == -EEXIST;
		entered = r == 0;
	}
	if (r == 0 && (meta_only || indexed)) {
		struct node_ext *e = node_ext(n);
		if (!e) {
			r = -ENOMEM;
		} else {
			if (meta_only) {
				free(e->datapath);
				e->datapath = datapath;
				datapath = NULL;
				/* The data is what was just read, unless that
				 * was a kernel metacopy: searched for again,
				 * from the upper copy down (its blocks stay). */
				__atomic_store_n(&e->data_layer,
						 lower_meta ? -1 : layer,
						 __ATOMIC_RELAXED);
				if (!lower_meta)
					__atomic_store_n(&e->data_blocks,
							 (int64_t)st.st_blocks,
							 __ATOMIC_RELAXED);
			}
			if (indexed)
				snprintf(e->index_key, sizeof(e->index_key),
					 "%s", key);
		}
	}
	/* Published whole and unchanged: a program running from the lower
	 * data may go on serving reads of the copy (passthrough.h). */
	if (r == 0 && !no_data && !cut)
		passthrough_same_data(n, true);
	if (r == 0)
		r = publish(fs, n, tmp, dfd, pfd,
			    flags | (indexed ? N_HLINK : 0),
			    /* a kernel metacopy copied with its data,
			     * or truncated: an ordinary file now */
			    lower_meta && !meta_only ? N_METACOPY : 0);
	struct stat up;
	if (r == 0 && breaks && fstat(dfd, &up) == 0)
		take_upper_ino(fs, n, up.st_ino);
	if (r == 0 && (carried & FILEATTR_PROTECT))
		fault_point("protect-published");
	if (r == 0 && carried)
		r = fileattr_apply(dfd, carried);
	/* Read back from the copy: an upper filesystem without inode flags
	 * keeps none (fileattr_apply). */
	if (carried & FILEATTR_PROTECT)
		fileattr_forget(n);
	if (r < 0 && tmp)
		unlinkat(fs->work_fd, tmp, 0);
	if (r < 0 && !no_data && !cut)
		passthrough_same_data(n, false);
	/* A copy that did not reach its name must not stay in the index,
	 * where the file's other lower names would find it: the change it
	 * was made for failed. */
	if (r < 0 && entered) {
		index_withdraw(fs, key, dfd);
		struct node_ext *e = node_ext(n);
		if (e)
			e->index_key[0] = 0;
	}
	close(dfd);
	free(datapath);
	if (r < 0) {
		/* This name joins the entry as its alias (copy_up_impl). */
		if (entry_there && index_attach(fs, n, &st, NULL) == 0)
			return -EAGAIN;
		return r;
	}
	if (meta_only)
		lfs_stat_add(&fs->stats.meta_copyups, 1);
	else
		lfs_stat_add(&fs->stats.copyups, 1);
	if (stage)
		stage->applied = true;
	return 0;
}

/* Data for a metacopy file, written into the upper copy in place; the
 * mark goes last, so a crash before that still shows the lower data.
 * Writing it would make the upper filesystem drop the file's
 * capabilities, and a rootless daemon's write its set-user-id bit,
 * which a copy-up must keep (kernel overlayfs keeps them too): they are
 * saved and put back (privs_keep.h). */
static int copy_up_data_in_place(struct lfs *fs, struct node *n, off_t keep)
{
	int src = metacopy_open_data(fs, n, O_RDONLY | O_NOATIME);
	if (src < 0)
		return src;
	int dst = node_open(fs, n, fs->upper, O_RDWR);
	if (dst < 0) {
		close(src);
		return dst;
	}
	struct stat up, low;
	struct privs_keep privs;
	privs_keep_begin_copy(n, dst, &privs);
	int r = 0;
	if (fstat(dst, &up) < 0 || fstat(src, &low) < 0) {
		r = -errno;
	} else {
		/* The upper size may differ if the file was truncated while
		 * metadata-only: copy what the view shows, and of that what a
		 * truncation about to come leaves, which it takes at once. */
		off_t size = keep >= 0 && keep < up.st_size ? keep
							    : up.st_size;
		uint64_t len = (uint64_t)(low.st_size < size ? low.st_size
							     : size);
		r = copy_file_data(fs, src, dst, len);
		if (r < 0) {
			/* Failed part way (ENOSPC): the mark stays and the
			 * view reads the lower data; the blocks written go
			 * back to the upper filesystem. */
			if (ftruncate(dst, 0) == 0)
				(void)ftruncate(dst, up.st_size);
		} else if (ftruncate(dst, size) < 0) {
			r = -errno;
		}
		/* Writing the data moved mtime: put the metadata back,
		 * whether the copy went through or not. */
		struct timespec ts[2] = { up.st_atim, up.st_mtim };
		if (futimens(dst, ts) < 0 && r == 0)
			r = -errno;
	}
	privs_keep_end(fs, dst, &privs);
	if (r == 0 && fs->opt->fsync && fsync(dst) < 0)
		r = -errno;
	/* The data the lower layers hold, whole (not cut by a truncation
	 * of the metadata-only copy): a program running from it may go on
	 * serving reads of the copy (passthrough.h). */
	bool whole = r == 0 && up.st_size == low.st_size &&
		     (keep < 0 || keep >= up.st_size);
	if (whole)
		passthrough_same_data(n, true);
	if (r == 0)
		r = metacopy_drop_mark(n, dst);
	if (r < 0 && whole)
		passthrough_same_data(n, false);
	close(src);
	close(dst);
	if (r == 0)
		lfs_stat_add(&fs->stats.copyups, 1);
	return r;
}

static int link_from_index(struct lfs *fs, struct node *n, int pfd);

/* A metacopy file about to be truncated to zero: drop the mark, no
 * data to copy. */
static int drop_metacopy(struct lfs *fs, struct node *n)
{
	int fd = node_open(fs, n, fs->upper, O_WRONLY);
	if (fd < 0)
		return fd;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && ftruncate(fd, 0) < 0)
		r = -errno;
	if (r == 0) {
		struct timespec ts[2] = { st.st_atim, st.st_mtim };
		futimens(fd, ts);
		r = metacopy_drop_mark(n, fd);
	}
	close(fd);
	return r;
}

/* The data of an upper metadata-only copy, where the change needs it. */
static int data_in_place(struct lfs *fs, struct node *n,
			 enum copy_up_kind kind, off_t keep)
{
	if (kind == CU_META || !(node_flags(n) & N_METACOPY))
		return 0;
	return kind == CU_TRUNC ? drop_metacopy(fs, n)
				: copy_up_data_in_place(fs, n, keep);
}

/*
 * A node reached only through the index gets a name of its own in the
 * upper layer when it is changed, unless it has none left (its last
 * visible name was unlinked while the kernel still holds it): then the
 * index entry itself is the file.
 */
static bool needs_index_name(struct node *n)
{
	return (node_flags(n) & (N_IDX_ALIAS | N_UNHASHED)) == N_IDX_ALIAS;
}

static int copy_up_impl(struct lfs *fs, struct node *n,
			enum copy_up_kind kind, struct copy_up_stage *stage,
			unsigned allow, off_t keep)
{
	if (!lfs_has_upper(fs))
		return -EROFS;
	if (node_flags(n) & N_ROOT)
		return 0;
	int layer = node_layer(n);
	bool alias = needs_index_name(n);
	bool wants_data = kind != CU_META;
	if (layer == fs->upper && !alias &&
	    !(wants_data && (node_flags(n) & N_METACOPY)))
		return 0;
	/* A lower file or directory removed since (still open): its copy
	 * would have no name to take, and its parent may be gone too. */
	if (layer != fs->upper && (node_flags(n) & N_UNHASHED))
		return -ENOENT;

	unsigned carried = 0;
	if (layer != fs->upper && !alias && S_ISREG(n->mode)) {
		int r = fileattr_carried(fs, n, layer, &carried);
		if (r == 0)
			r = protected_copy_refused(carried, stage, allow);
		if (r < 0)
			return r;
	}

	/* Parents first, before this node is marked busy (a parent copy-up
	 * must not wait for its own child). */
	int pfd = -1;
	if (layer != fs->upper || alias) {
		pfd = upper_parent_fd(fs, n);
		if (pfd < 0)
			return pfd;
	}

	struct copy_up_hold hold;
	copy_up_hold_begin(n, &hold);
	creds_as_daemon();
	int r = 0;
	layer = node_layer(n); /* someone may have finished it meanwhile */
	/* An index alias already counts as upper; it only needs its name. */
	if (needs_index_name(n))
		r = link_from_index(fs, n, pfd);
	if (r < 0) {
		/* the error is the result */
	} else if (layer == fs->upper) {
		r = data_in_place(fs, n, kind, keep);
	} else if (node_is_dir(n)) {
		r = copy_up_opened(fs, n, layer, O_RDONLY | O_DIRECTORY, pfd,
				   copy_up_dir_node);
	} else if (S_ISREG(n->mode)) {
		r = copy_up_regular(fs, n, pfd, kind, stage, carried, keep);
		/* Another name of its inode was copied up meanwhile: this
		 * one was made an alias of that index entry instead, and
		 * takes its name and data from it. */
		if (r == -EAGAIN) {
			r = link_from_index(fs, n, pfd);
			if (r == 0)
				r = data_in_place(fs, n, kind, keep);
		}
	} else {
		r = copy_up_opened(fs, n, layer, O_PATH, pfd, copy_up_special);
	}
	copy_up_hold_end(&hold);
	if (pfd >= 0)
		dirfd_release(pfd);
	return r;
}

int copy_up(struct lfs *fs, struct node *n, enum copy_up_kind kind)
{
	return copy_up_impl(fs, n, kind, NULL, 0, -1);
}

int copy_up_staged(struct lfs *fs, struct node *n,
		   struct copy_up_stage *stage)
{
	stage->applied = false;
	return copy_up_impl(fs, n, CU_META, stage, 0, -1);
}

int copy_up_protected(struct lfs *fs, struct node *n, enum copy_up_kind kind,
		      unsigned allow)
{
	return copy_up_impl(fs, n, kind, NULL, allow, -1);
}

int copy_up_truncating(struct lfs *fs, struct node *n, off_t size)
{
	return size == 0 ? copy_up_impl(fs, n, CU_TRUNC, NULL, 0, -1)
			 : copy_up_impl(fs, n, CU_DATA, NULL, 0, size);
}

/* ---- hard-link index ---------------------------------------------- */

/* Gives an index-only alias its own name in the upper layer: a link of
 * the index entry, staged and published like any copy-up. */
static int link_from_index(struct lfs *fs, struct node *n, int pfd)
{
	char tmp[64];
	lfs_tmp_name(fs, tmp, sizeof(tmp));
	/* A protected file refuses links and renames: the mount already
	 * shows this name, so its flags are lifted while it is made. */
	/* The new name carries the entry's marks (its origin, a
	 * metadata-only copy's data path): its directory must say so
	 * before the name is there, or after a remount the marks go unread
	 * and the name shows another inode, or zeros for data. */
	unsigned marks = node_flags(n) & (N_ORIGIN_SET | N_METACOPY);
	int r = marks ? mark_parent_impure(fs, n->parent, pfd) : 0;
	if (r < 0)
		return r;
	unsigned lifted;
	int lfd = fileattr_lift(n, fs->index_fd, n->ext->index_key, &lifted);
	r = linkat(fs->index_fd, n->ext->index_key, fs->work_fd, tmp, 0) < 0
		    ? -errno
		    : publish(fs, n, tmp, -1, pfd, marks, 0);
	if (r < 0)
		unlinkat(fs->work_fd, tmp, 0); /* (none if linkat failed) */
	fileattr_restore(n, lfd, lifted);
	if (r < 0)
		return r;
	node_clear_flag(n, N_IDX_ALIAS);
	lfs_stat_add(&fs->stats.index_links, 1);
	return 0;
}
