#include "lookup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "copy_up.h"
#include "dcache.h"
#include "file.h"
#include "fileattr.h"
#include "index.h"
#include "inode.h"
#include "metacopy.h"
#include "node_reach.h"
#include "redirect.h"
#include "udba.h"
#include "whiteout.h"
#include "xattr_private.h"

/* Reads the marks of an upper entry in an impure directory: redirect
 * target, metacopy data path, a protected file's flags. */
static int read_upper_marks(struct lfs *fs, struct node *dir,
			    struct node *fresh, const char *name)
{
	int pfd = node_open(fs, dir, fs->upper, O_PATH | O_DIRECTORY);
	if (pfd < 0)
		return pfd;
	unsigned marks = xp_marks_at(pfd, name);
	int r = 0;
	/* A mark that is gone when read (ENODATA) went with the entry it
	 * was on: a rename replaced it since the listing.  The node then
	 * has no such mark, as the new entry at the name. */
	if (marks & (N_REDIRECT | N_METACOPY)) {
		struct node_ext *e = node_ext(fresh);
		if (!e)
			r = -ENOMEM;
		if (r == 0 && (marks & N_REDIRECT) && node_is_dir(fresh)) {
			r = xp_get_string_at(pfd, name, XATTR_LFS_REDIRECT,
					     &e->redirect);
			if (r == 0 && !redirect_path_ok(e->redirect)) {
				/* Malformed, as a kernel redirect can be: not
				 * followed, the directory merges at its own
				 * path (README). */
				free(e->redirect);
				e->redirect = NULL;
			} else if (r == 0) {
				node_set_flag(fresh, N_REDIRECT);
			} else if (r == -ENODATA) {
				r = 0;
			}
		}
		if (r == 0 && (marks & N_METACOPY) && S_ISREG(fresh->mode)) {
			r = xp_get_string_at(pfd, name, XATTR_LFS_METACOPY,
					     &e->datapath);
			if (r == 0)
				r = metacopy_resolve(fs, fresh, &e->datapath);
			if (r == 0)
				node_set_flag(fresh, N_METACOPY);
			else if (r == -ENODATA && !e->datapath)
				r = 0;
		}
	}
	if (marks & N_ORIGIN_SET)
		node_set_flag(fresh, N_ORIGIN_SET);
	/* A protected file's flags, which a crash may have left off it. */
	if (r == 0 && (marks & XP_PROTATTR) && S_ISREG(fresh->mode))
		fileattr_mark_found(fs, fresh, pfd, name);
	close(pfd);
	return r;
}

/* An upper file that may be a link of an index entry (index.h). */
static void mark_index_link(struct lfs *fs, struct node *dir,
			    struct node *fresh, const char *name,
			    const struct stat *st)
{
	int pfd = node_open(fs, dir, fs->upper, O_PATH | O_DIRECTORY);
	if (pfd < 0)
		return;
	index_mark_link(fs, fresh, pfd, name, st);
	close(pfd);
}

/*
 * An inode whose node lost its name (unlinked while the kernel still
 * knew it) is found again under another of its names: that name becomes
 * the node's, so operations on it reach the file again.
 */
static void reanchor(struct lfs *fs, struct node *n, struct node *dir,
		     const char *name, int layer)
{
	if (node_flags(n) & N_IDX_ALIAS)
		return; /* already reached through the index */
	pthread_rwlock_wrlock(&fs->ns_lock);
	if ((node_flags(n) & N_UNHASHED) && node_move(fs, n, dir, name) == 0)
		node_set_layer(n, layer);
	pthread_rwlock_unlock(&fs->ns_lock);
}

/*
 * Names of one inode share one node when nothing can change them apart:
 * on a read-only mount, or with an index that keeps a copied-up inode's
 * names together.  Without an index a copy-up breaks a lower link (as
 * with kernel overlayfs and index=off), so each lower name keeps its own
 * node; names of one upper file still share theirs (node_from_rec).
 */
static bool hard_links_shared(struct lfs *fs)
{
	return !lfs_has_upper(fs) || (fs->index_fd >= 0 && fs->upper_xattr);
}

/*
 * The last name of a file that had several: its node may be one that
 * lost the name it was hashed under while the file stayed open (dir.c
 * keeps an fd to it).  That node must present this name as well, or the
 * kernel would hold two inodes for one file, and a change through the
 * open descriptor would not show here (nor would a writer opening a
 * fifo by this name meet its reader).  Only a node in the inode-number
 * index can be it, and only while its fd reaches this very inode (an
 * inode number is reused once its file is gone).  Referenced, or NULL.
 */
static struct node *open_orphan_of(struct lfs *fs, uint64_t ino,
				   const struct stat *st)
{
	if (!node_ino_index_used(fs))
		return NULL;
	struct node *same = node_find_by_ino(fs, ino);
	if (!same)
		return NULL;
	struct stat held;
	if ((node_flags(same) & N_UNHASHED) &&
	    node_lstat(fs, same, node_layer(same), &held) == 0 &&
	    held.st_ino == st->st_ino && held.st_dev == st->st_dev)
		return same;
	node_unref(fs, same);
	return NULL;
}

/* Whether node n presents the upper file whose attributes are st. */
static bool same_upper_file(struct lfs *fs, struct node *n,
			    const struct stat *st)
{
	struct stat held;
	return node_layer(n) == fs->upper &&
	       node_lstat(fs, n, fs->upper, &held) == 0 &&
	       held.st_ino == st->st_ino && held.st_dev == st->st_dev;
}

/*
 * Creates the node for a listing record.  Called with dir's lock held.
 * Hard links: a file (of any kind but a directory) with several links
 * joins the node already presenting its inode number, so the kernel sees
 * one inode.
 */
static int node_from_rec(struct lfs *fs, struct node *dir,
			 const struct drec *rec, const char *name,
			 struct node **out, struct stat *st)
{
	struct node *fresh = node_new(dir, name, rec->layer,
				      (mode_t)DTTOIF(rec->dtype), rec->ino);
	if (!fresh)
		return -ENOMEM;
	fresh->end = rec->end;
	if (rec->flags & R_MERGED)
		node_set_flag(fresh, N_MERGED);
	if (rec->flags & R_BELOW)
		node_set_flag(fresh, N_BELOW);
	int r = 0;
	if ((rec->flags & R_CHECK) && lfs_is_upper(fs, rec->layer))
		r = read_upper_marks(fs, dir, fresh, name);
	if (r == 0)
		r = node_lstat(fs, fresh, rec->layer, st);
	if (r == 0)
		r = udba_check_stat(fs, rec->layer, 0, st);
	if (r == 0 && !lfs_is_upper(fs, rec->layer) &&
	    metacopy_lower_suspect(rec->flags & R_CHECK, st))
		r = metacopy_probe_lower(fs, dir, fresh, name, rec->layer);
	if (r < 0) {
		node_discard(fresh);
		return r;
	}
	/* The type may have changed since the listing was read. */
	fresh->mode = (uint16_t)(st->st_mode & S_IFMT);
	/* The listing gave an upper file its origin's number, and the file
	 * carries no origin now: an index entry it links was found to be
	 * another lower file's since and lost its marks (index.h).  It
	 * shows its own number, as it will after a remount. */
	uint64_t own, origin;
	if ((rec->flags & R_CHECK) && lfs_is_upper(fs, rec->layer) &&
	    !S_ISDIR(st->st_mode) &&
	    fresh->ino != (own = lfs_compose_ino(fs, fs->upper, st->st_ino)) &&
	    (S_ISREG(st->st_mode) ? !(node_flags(fresh) & N_ORIGIN_SET)
				  : !index_special_origin(fs, own, &origin)))
		fresh->ino = own;

	bool upper = lfs_is_upper(fs, rec->layer);
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1 &&
	    (hard_links_shared(fs) || upper)) {
		struct stat entry;
		int a = upper ? -ENOENT : index_attach(fs, fresh, st, &entry);
		if (a == 0)
			*st = entry;
		else if (upper && fs->index_fd >= 0)
			mark_index_link(fs, dir, fresh, name, st);
		struct node *same = node_find_by_ino(fs, fresh->ino);
		if (same && !hard_links_shared(fs) &&
		    !same_upper_file(fs, same, st)) {
			/* Without an index only upper names join: links made
			 * through the mount, never a lower hard link (which a
			 * copy-up breaks), nor an older copy marked with the
			 * same origin. */
			node_unref(fs, same);
			same = NULL;
		}
		if (same && a == -ESTALE && node_layer(same) == fs->upper) {
			/* The copy of the lower file that had this number
			 * before (its entry could not be taken out). */
			node_unref(fs, same);
			same = NULL;
		}
		if (same) {
			node_discard(fresh);
			if (node_flags(same) & N_UNHASHED)
				reanchor(fs, same, dir, name, rec->layer);
			*out = same;
			return r < 0 ? r : inode_stat(fs, same, st);
		}
		*out = node_insert(fs, fresh);
		if (*out == fresh)
			node_index_ino(fs, fresh);
	} else if (!S_ISDIR(st->st_mode) && (hard_links_shared(fs) || upper) &&
		   (*out = open_orphan_of(fs, fresh->ino, st)) != NULL) {
		node_discard(fresh);
		reanchor(fs, *out, dir, name, rec->layer);
		return inode_stat(fs, *out, st);
	} else {
		*out = node_insert(fs, fresh);
	}
	if (*out != fresh) /* someone else created it meanwhile */
		return inode_stat(fs, *out, st);
	if (node_flags(fresh) & N_METACOPY) {
		/* Blocks come from the data below. */
		return inode_stat(fs, fresh, st);
	}
	inode_present(fs, fresh, st);
	return 0;
}

/*
 * udba=reval (udba.h): whether the node at a name still is the file the
 * directory's listing, read again after a lower layer changed, gives it.
 * The upper layer changes only through the mount, which keeps its nodes
 * right; a lower hard link's inode number may have come from the index.
 */
static bool still_named(struct lfs *fs, struct node *n, const struct drec *rec)
{
	if (!fs->opt->udba_reval || lfs_is_upper(fs, node_layer(n)))
		return true;
	return node_layer(n) == rec->layer && n->end == rec->end &&
	       (n->mode & S_IFMT) == DTTOIF(rec->dtype) &&
	       (n->ino == rec->ino || (node_flags(n) & N_INDEXED));
}

/* An open file's attributes come by its name, which another file has
 * now: kept through a descriptor of an open handle, as dir.c keeps an
 * unlinked one's. */
static void keep_open_file(struct node *n)
{
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (e && __atomic_load_n(&e->open_files, __ATOMIC_RELAXED) > 0)
		node_keep_orphan_fd(n, file_dup_handle_fd(n));
}

void lookup_forget_vanished(struct lfs *fs, struct node *dir,
			    const char *name)
{
	struct node *n = node_find(fs, dir, name);
	if (!n)
		return;
	keep_open_file(n);
	node_unhash(fs, n);
	node_unref(fs, n);
}

int lookup_child(struct lfs *fs, struct node *dir, const char *name,
		 struct node **out, struct stat *st)
{
	if (!node_is_dir(dir))
		return -ENOTDIR;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	/* ".wh." names are whiteouts or reserved: never part of the view. */
	if (wh_is_reserved(name))
		return -ENOENT;

	struct dcache *dc;
	bool rechecked = false;
again:;
	int r = dcache_acquire_read(fs, dir, &dc);
	if (r < 0)
		return r;
	struct drec *rec = dcache_find(dc, name);
	if ((!rec || !drec_visible(rec)) && dc->udba && !rechecked &&
	    udba_stale(fs, dir)) {
		/* udba=reval: the name may have come since (udba.h). */
		dir_unlock(dir);
		dir_wrlock(dir);
		udba_drop_if(fs, dir, dc);
		dir_unlock(dir);
		rechecked = true;
		goto again;
	}
	if (!rec || !drec_visible(rec)) {
		dir_unlock(dir);
		lfs_stat_add(&fs->stats.negative_lookups, 1);
		return -ENOENT;
	}
	struct drec copy = *rec;
	struct node *n = node_find(fs, dir, name);
	if (n && !still_named(fs, n, &copy)) {
		/* Another file has the name now: a new node for it, while
		 * the kernel may still hold the old one (as after a rename
		 * over it), reached through a descriptor still open on it. */
		keep_open_file(n);
		node_set_flag(n, N_REPLACED);
		node_unhash(fs, n);
		node_unref(fs, n);
		n = NULL;
	}
	bool watched = dc->udba != NULL; /* udba=reval */
	if (n && watched)
		udba_follow_range(fs, n, copy.end);
	if (!n) {
		r = node_from_rec(fs, dir, &copy, name, &n, st);
		dir_unlock(dir);
	} else {
		dir_unlock(dir);
		r = inode_stat(fs, n, st);
		if (r < 0)
			node_unref(fs, n);
	}
	if ((r == -ENOENT || r == -ESTALE) && watched && !rechecked) {
		/* udba=reval: the listing names a file that is gone, or of
		 * another kind now: it is out of date, however young. */
		dir_wrlock(dir);
		udba_drop_if(fs, dir, dc);
		dir_unlock(dir);
		rechecked = true;
		goto again;
	}
	if (r < 0)
		return r;
	lfs_stat_add(&fs->stats.lookups, 1);
	if (fs->stats.layer_lookups)
		lfs_stat_add(&fs->stats.layer_lookups[copy.layer], 1);
	*out = n;
	return 0;
}

void lookup_reply_entry(fuse_req_t req, struct lfs *fs, struct node *n,
			const struct stat *st)
{
	struct fuse_entry_param e;
	inode_entry(fs, n, st, &e);
	node_lookup_inc(n);
	fuse_reply_entry(req, &e);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *dir = node_from_ino(fs, parent);
	struct node *n;
	struct stat st;
	node_ref(dir);
	int r = lookup_child(fs, dir, name, &n, &st);
	node_unref(fs, dir);
	if (r == -ENOENT) {
		/* A negative entry the kernel may cache: names only appear
		 * through this mount, which tells the kernel itself; with
		 * udba=reval not, so that a new lower name shows at once. */
		struct fuse_entry_param e = {
			.ino = 0,
			.entry_timeout = fs->opt->udba_reval ? 0 : fs->timeout };
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	lookup_reply_entry(req, fs, n, &st);
	node_unref(fs, n);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct lfs *fs = lfs_from_req(req);
	node_forget(fs, node_from_ino(fs, ino), nlookup);
	fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets)
{
	struct lfs *fs = lfs_from_req(req);
	for (size_t i = 0; i < count; i++)
		node_forget(fs, node_from_ino(fs, forgets[i].ino),
			    forgets[i].nlookup);
	fuse_reply_none(req);
}
