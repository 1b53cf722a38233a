/*
 * Directory listing: answered from the merged listing (dcache.c), so a
 * readdir costs no system call once the listing is built, and readdirplus
 * one fstatat per entry in the layer that holds it (but see plus_attrs).
 *
 * There are no directory handles: where the kernel allows, OPENDIR is
 * answered with ENOSYS and the kernel opens directories by itself (and
 * keeps their listings cached, as FOPEN_CACHE_DIR asks); each READDIR
 * finds its place in the listing by its offset (readdir_order.h).
 */
#include "readdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcache.h"
#include "inode.h"
#include "lookup.h"
#include "node.h"
#include "node_reach.h"
#include "readdir_order.h"

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	if (!node_is_dir(node_from_ino(fs, ino))) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (fs->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* A kernel older than 5.1: the same, with a handle that holds
	 * nothing.  The kernel may cache the listing: every change to this
	 * directory goes through the mount, which invalidates that cache. */
	fi->fh = 0;
	/* Not with udba=reval: a lower layer's change would not reach a
	 * listing the kernel keeps (it drops one only when the directory's
	 * mtime it knows moves, and that is the top layer's). */
	fi->cache_readdir = !fs->opt->udba_reval;
	fi->keep_cache = !fs->opt->udba_reval;
	fuse_reply_open(req, fi);
}

/* A batch of names copied out of the listing under its lock. */
struct batch_entry {
	char name[NAME_MAX + 1];
	uint64_t ino;
	uint8_t dtype;
	off_t next_off;
};

enum {
	BATCH = 64,
	/* Room past BATCH to finish a run of equal offsets. */
	GROUP_SLACK = 8,
	/* How many records ahead collect() fetches a name into the cache. */
	NAME_PREFETCH = 8,
};

/* Takes dir's read lock with its listing and an up-to-date order. */
static int acquire_ordered(struct lfs *fs, struct node *dir,
			   struct dcache **out)
{
	for (;;) {
		struct dcache *dc;
		int r = dcache_acquire_read(fs, dir, &dc);
		if (r < 0)
			return r;
		if (!readdir_order_stale(dc)) {
			*out = dc;
			return 0;
		}
		dir_unlock(dir);
		dir_wrlock(dir);
		/* Another reader may have sorted it, or the listing may
		 * have been dropped: then start over. */
		if (dir->dc && readdir_order_stale(dir->dc))
			readdir_order_sort(dir->dc);
		dir_unlock(dir);
	}
}

/* Copies up to max visible entries after offset off, plus the rest of a
 * run of equal offsets (up to GROUP_SLACK more), and says how many
 * entries the listing shows in all.  Returns the count, or -errno. */
static int collect(struct lfs *fs, struct node *dir, off_t off,
		   struct batch_entry *out, size_t max, uint32_t *visible)
{
	struct dcache *dc;
	int r = acquire_ordered(fs, dir, &dc);
	if (r < 0)
		return r;
	/* The sorted part from off on, merged with the unsorted tail's
	 * records above off (readdir_order.h). */
	struct readdir_pick *tail = NULL;
	uint32_t ntail = 0, t = 0;
	if (dc->n > dc->nsorted) {
		tail = malloc((dc->n - dc->nsorted) * sizeof(*tail));
		if (!tail) {
			dir_unlock(dir);
			return -ENOMEM;
		}
		ntail = readdir_order_tail(dc, (uint64_t)off, tail);
	}
	*visible = dc->nvisible;
	uint32_t p = readdir_order_seek(dc, (uint64_t)off);
	uint64_t at_p = 0;
	bool have_p = false;
	size_t k = 0;
	for (;;) {
		while (!have_p && p < dc->nsorted) {
			/* The names lie in the order they were read, not in
			 * this one: each is a cache miss in a large listing,
			 * which the hash below would wait for. */
			if (p + NAME_PREFETCH < dc->nsorted)
				__builtin_prefetch(
					drec_name(dc,
						  &dc->recs[p + NAME_PREFETCH]));
			if (drec_visible(&dc->recs[p])) {
				at_p = readdir_offset(dc, &dc->recs[p]);
				have_p = true;
			} else {
				p++;
			}
		}
		if (!have_p && t == ntail)
			break;
		struct drec *rec;
		uint64_t at;
		if (t < ntail && (!have_p || tail[t].off < at_p)) {
			rec = &dc->recs[tail[t].index];
			at = tail[t++].off;
		} else {
			rec = &dc->recs[p++];
			at = at_p;
			have_p = false;
		}
		if (k >= max && (k >= max + GROUP_SLACK ||
				 (uint64_t)out[k - 1].next_off != at))
			break;
		memcpy(out[k].name, drec_name(dc, rec), rec->namelen + 1u);
		out[k].ino = rec->ino;
		out[k].dtype = rec->dtype;
		out[k].next_off = (off_t)at;
		k++;
	}
	dir_unlock(dir);
	free(tail);
	return (int)k;
}

static uint64_t parent_ino(struct lfs *fs, struct node *dir)
{
	if (node_flags(dir) & N_ROOT)
		return dir->ino;
	/* The parent pointer changes only under ns_lock (rename). */
	pthread_rwlock_rdlock(&fs->ns_lock);
	uint64_t ino = node_ino(dir->parent);
	pthread_rwlock_unlock(&fs->ns_lock);
	return ino;
}

/* Bytes one entry takes in the reply (libfuse sizes it without a buffer). */
static size_t entry_size(fuse_req_t req, const char *name, bool plus)
{
	return plus ? fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0)
		    : fuse_add_direntry(req, NULL, 0, name, NULL, 0);
}

/* Adds one entry; false when it does not fit.  ATTRS: a READDIRPLUS
 * entry comes with the name looked up (else as READDIR gives it, in the
 * READDIRPLUS format). */
static bool add_entry(struct lfs *fs, fuse_req_t req, struct node *dir,
		      const struct batch_entry *b, bool plus, bool attrs,
		      char *buf, size_t size, size_t *used)
{
	if (!plus) {
		struct stat st = {
			.st_ino = b->ino,
			.st_mode = (mode_t)DTTOIF(b->dtype),
		};
		size_t need = fuse_add_direntry(req, buf + *used, size - *used,
						b->name, &st, b->next_off);
		if (need > size - *used)
			return false;
		*used += need;
		return true;
	}
	/* Where the name cannot be looked up (a layer's error), it is
	 * given as READDIR gives it, without a dentry (ino 0): the lookup
	 * that follows reports the error, and both listings agree. */
	struct fuse_entry_param e = {
		.ino = 0,
		.attr = { .st_ino = b->ino,
			  .st_mode = (mode_t)DTTOIF(b->dtype) },
	};
	struct node *n = NULL;
	if (attrs) {
		struct stat st;
		int r = lookup_child(fs, dir, b->name, &n, &st);
		if (r == -ENOENT)
			return true; /* removed since the listing was copied */
		if (r == 0)
			inode_entry(fs, n, &st, &e);
	}
	size_t need = fuse_add_direntry_plus(req, buf + *used, size - *used,
					     b->name, &e, b->next_off);
	if (n) {
		if (need <= size - *used)
			node_lookup_inc(n);
		node_unref(fs, n);
	}
	if (need > size - *used)
		return false;
	*used += need;
	return true;
}

/* "." and ".." at offsets 0 and 1. */
static bool add_dots(struct lfs *fs, fuse_req_t req, struct node *dir,
		     bool plus, char *buf, size_t size, size_t *used,
		     off_t *off)
{
	while (*off < 2) {
		const char *name = *off == 0 ? "." : "..";
		struct stat st = { .st_mode = S_IFDIR };
		st.st_ino = *off == 0 ? dir->ino : parent_ino(fs, dir);
		size_t need;
		if (plus) {
			/* ino 0: the kernel makes no dentry for these. */
			struct fuse_entry_param e = { .ino = 0, .attr = st };
			need = fuse_add_direntry_plus(req, buf + *used,
						      size - *used, name, &e,
						      *off + 1);
		} else {
			need = fuse_add_direntry(req, buf + *used,
						 size - *used, name, &st,
						 *off + 1);
		}
		if (need > size - *used)
			return false;
		*used += need;
		(*off)++;
	}
	return true;
}

/*
 * Whether a READDIRPLUS beginning at offset OFF of a listing of VISIBLE
 * entries gives them with their attributes.  The kernel asks for the
 * first reply of every listing with attributes, before it knows whether
 * the reader looks the names up; later replies only once it has (FUSE's
 * readdirplus_auto).  Of a directory many replies long, a reader that
 * looks the names up (ls -l, find with a stat) reads them all first, so
 * the later replies come without attributes anyway and the names are
 * looked up one by one; one that does not (ls -f, find -name) only pays
 * for them.  So that first reply comes without: each attribute is an
 * fstatat of the lower file, of its inode on disk when cold (the 200 or
 * so of a 32 KiB reply were 20 ms of a cold `ls -f` of 100k entries
 * taking 136 ms), against one LOOKUP each for the few names of that
 * reply where they are wanted.  A directory of a few replies keeps them:
 * there the first is a large part of the names a walk stats.
 */
#define PLUS_BARE_REPLIES 8

static bool plus_attrs(fuse_req_t req, size_t size, off_t off,
		       uint32_t visible)
{
	if (off > 0)
		return true;
	size_t per_reply = size / entry_size(req, "f0000000", true);
	return visible <= PLUS_BARE_REPLIES * per_reply;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, bool plus)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *dir = node_from_ino(fs, ino);
	char *buf = malloc(size);
	struct batch_entry *batch =
		malloc((BATCH + GROUP_SLACK) * sizeof(*batch));
	if (!buf || !batch) {
		free(buf);
		free(batch);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	int err = 0;
	off_t start = off;
	bool attrs = plus, first = true;
	bool full = !add_dots(fs, req, dir, plus, buf, size, &used, &off);
	while (!full) {
		uint32_t visible;
		int k = collect(fs, dir, off, batch, BATCH, &visible);
		if (k <= 0) {
			err = -k;
			break;
		}
		if (first && plus)
			attrs = plus_attrs(req, size, start, visible);
		first = false;
		for (int i = 0; i < k && !full;) {
			/* Entries sharing an offset go out together. */
			int j = i + 1;
			while (j < k && batch[j].next_off == batch[i].next_off)
				j++;
			size_t need = 0;
			for (int m = i; m < j; m++)
				need += entry_size(req, batch[m].name, plus);
			if (need > size - used && used > 0) {
				full = true;
				break;
			}
			for (int m = i; m < j && !full; m++)
				full = !add_entry(fs, req, dir, &batch[m], plus,
						  attrs, buf, size, &used);
			off = batch[i].next_off;
			i = j;
		}
	}
	free(batch);
	if (err && used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	(void)fi;
	struct lfs *fs = lfs_from_req(req);
	struct node *dir = node_from_ino(fs, ino);
	if (!lfs_has_upper(fs) || node_layer(dir) != fs->upper ||
	    !fs->opt->fsync) {
		fuse_reply_err(req, 0);
		return;
	}
	int fd = node_open(fs, dir, fs->upper, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	int r = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0;
	close(fd);
	fuse_reply_err(req, r);
}
