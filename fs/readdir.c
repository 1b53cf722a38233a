/*
 * Directory listing: answered from the merged listing (dcache.c), so a
 * readdir costs no system call once the listing is built, and readdirplus
 * one fstatat per entry in the layer that holds it.
 *
 * Offsets are positions in the listing: 1 after ".", 2 after "..", then
 * 3 + i after record i.  Records are only ever appended or hidden, never
 * moved, so an offset stays valid while a directory changes under an open
 * handle.
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

struct dir_handle {
	struct node *dir;
	struct dcache *dc; /* the listing as it was at opendir */
};

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *dir = node_from_ino(fs, ino);
	if (!node_is_dir(dir)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	struct dir_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	node_ref(dir);
	struct dcache *dc;
	int r = dcache_acquire_read(fs, dir, &dc);
	if (r < 0) {
		node_unref(fs, dir);
		free(h);
		fuse_reply_err(req, -r);
		return;
	}
	dcache_get(dc);
	dir_unlock(dir);
	h->dir = dir;
	h->dc = dc;
	fi->fh = (uintptr_t)h;
	/* The kernel may cache the listing: every change to this directory
	 * goes through the mount, which invalidates that cache. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* A batch of names copied out of the listing under its lock. */
struct batch_entry {
	char name[NAME_MAX + 1];
	uint64_t ino;
	uint8_t dtype;
	off_t next_off;
};

/* Copies up to max visible entries starting at offset off. */
static size_t collect(struct dir_handle *h, off_t off,
		      struct batch_entry *out, size_t max)
{
	struct dcache *dc = h->dc;
	size_t k = 0;
	dir_rdlock(h->dir);
	uint32_t i = off >= 2 ? (uint32_t)(off - 2) : 0;
	for (; i < dc->n && k < max; i++) {
		struct drec *r = &dc->recs[i];
		if (!drec_visible(r))
			continue;
		memcpy(out[k].name, drec_name(dc, r), r->namelen + 1u);
		out[k].ino = r->ino;
		out[k].dtype = r->dtype;
		out[k].next_off = (off_t)i + 3;
		k++;
	}
	dir_unlock(h->dir);
	return k;
}

static uint64_t parent_ino(struct lfs *fs, struct node *dir)
{
	if (node_flags(dir) & N_ROOT)
		return dir->ino;
	/* The parent pointer changes only under ns_lock (rename). */
	pthread_rwlock_rdlock(&fs->ns_lock);
	uint64_t ino = dir->parent->ino;
	pthread_rwlock_unlock(&fs->ns_lock);
	return ino;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi, bool plus)
{
	(void)ino;
	struct lfs *fs = lfs_from_req(req);
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	int err = 0;

	/* "." and ".." first. */
	while (off < 2) {
		const char *name = off == 0 ? "." : "..";
		struct stat st = { .st_mode = S_IFDIR };
		st.st_ino = off == 0 ? h->dir->ino : parent_ino(fs, h->dir);
		size_t need;
		if (plus) {
			/* ino 0: the kernel makes no dentry for these. */
			struct fuse_entry_param e = { .ino = 0, .attr = st };
			need = fuse_add_direntry_plus(req, buf + used,
						      size - used, name, &e,
						      off + 1);
		} else {
			need = fuse_add_direntry(req, buf + used, size - used,
						 name, &st, off + 1);
		}
		if (need > size - used)
			goto out;
		used += need;
		off++;
	}

	enum { BATCH = 64 };
	struct batch_entry *batch = malloc(BATCH * sizeof(*batch));
	if (!batch) {
		err = ENOMEM;
		goto out;
	}
	for (;;) {
		size_t k = collect(h, off, batch, BATCH);
		if (k == 0)
			break;
		bool full = false;
		for (size_t i = 0; i < k; i++) {
			struct batch_entry *b = &batch[i];
			size_t need;
			if (plus) {
				struct node *n;
				struct stat st;
				int r = lookup_child(fs, h->dir, b->name, &n,
						     &st);
				if (r < 0) {
					/* Removed since the listing was
					 * copied: skip it. */
					off = b->next_off;
					continue;
				}
				struct fuse_entry_param e;
				inode_entry(fs, n, &st, &e);
				need = fuse_add_direntry_plus(req, buf + used,
							      size - used,
							      b->name, &e,
							      b->next_off);
				if (need > size - used) {
					node_unref(fs, n);
					full = true;
					break;
				}
				node_lookup_inc(n);
				node_unref(fs, n);
			} else {
				struct stat st = {
					.st_ino = b->ino,
					.st_mode = (mode_t)DTTOIF(b->dtype),
				};
				need = fuse_add_direntry(req, buf + used,
							 size - used, b->name,
							 &st, b->next_off);
				if (need > size - used) {
					full = true;
					break;
				}
			}
			used += need;
			off = b->next_off;
		}
		if (full)
			break;
	}
	free(batch);
out:
	if (err && used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct lfs *fs = lfs_from_req(req);
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
	dcache_put(h->dc);
	node_unref(fs, h->dir);
	free(h);
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
