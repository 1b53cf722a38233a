/*
 * Watching the lower layers under a listing (udba.h).
 */
#include "udba.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "dirfd_cache.h"
#include "lower_id.h"
#include "node.h"
#include "node_reach.h"
#include "stats.h"
#include "xattr_private.h"

/* A directory as one layer holds it; mode 0 when it holds none. */
struct stamp {
	uint64_t dev, ino;
	int64_t mtime_ns, ctime_ns;
	uint32_t mode;
};

struct udba_stamps {
	/* When the stamps were last found true: set under the directory's
	 * read lock too (udba_stale). */
	_Atomic int64_t taken_ns;
	int top, n;       /* layers top..top+n-1 */
	struct stamp s[];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void take(struct lfs *fs, struct node *dir, int layer, struct stamp *s)
{
	struct stat st;
	*s = (struct stamp){ 0 };
	/* By name from the parent in that layer: a directory replaced
	 * there is another inode, not the one a cached fd still holds. */
	if (node_lstat(fs, dir, layer, &st) < 0)
		return; /* absent, or unreachable: the same to a listing */
	*s = (struct stamp){ .dev = st.st_dev, .ino = st.st_ino,
			     .mtime_ns = ts_ns(st.st_mtim),
			     .ctime_ns = ts_ns(st.st_ctim),
			     .mode = st.st_mode };
}

struct udba_stamps *udba_stamp(struct lfs *fs, struct node *dir, int top,
			       int end, int *err)
{
	*err = 0;
	if (!fs->opt->udba_reval || end <= top)
		return NULL;
	struct udba_stamps *u =
		malloc(sizeof(*u) + (size_t)(end - top) * sizeof(struct stamp));
	if (!u) {
		*err = -ENOMEM;
		return NULL;
	}
	u->taken_ns = now_ns();
	u->top = top;
	u->n = end - top;
	for (int l = top; l < end; l++) {
		if (lfs_is_upper(fs, l))
			u->s[l - top] = (struct stamp){ 0 };
		else
			take(fs, dir, l, &u->s[l - top]);
	}
	return u;
}

void udba_free(struct udba_stamps *s)
{
	if (!s)
		return;
	/* A directory it watched may have been replaced in a lower layer
	 * since it was last stamped, unnoticed (the listing dropped before
	 * it was due): the next listing would be read from the new one and
	 * its names looked up through fds cached on the old one.  Those fds
	 * are opened again. */
	dirfd_cache_dir_replaced();
	free(s);
}

size_t udba_bytes(const struct udba_stamps *s)
{
	return s ? sizeof(*s) + (size_t)s->n * sizeof(struct stamp) : 0;
}

bool udba_due(struct lfs *fs, const struct dcache *dc)
{
	const struct udba_stamps *u = dc->udba;
	/* In floating point: timeout= may be larger than int64_t holds in
	 * nanoseconds. */
	return u && (double)(now_ns() - atomic_load(&u->taken_ns)) >=
			    fs->timeout * 1e9;
}

static bool same(const struct stamp *a, const struct stamp *b)
{
	return a->mode == b->mode && a->ino == b->ino && a->dev == b->dev &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

bool udba_stale(struct lfs *fs, struct node *dir)
{
	struct dcache *dc = dir->dc;
	struct udba_stamps *u = dc ? dc->udba : NULL;
	if (!u)
		return false;
	bool changed = false, replaced = false;
	for (int i = 0; i < u->n; i++) {
		int l = u->top + i;
		if (lfs_is_upper(fs, l))
			continue;
		struct stamp now;
		take(fs, dir, l, &now);
		if (same(&now, &u->s[i]))
			continue;
		changed = true;
		/* Another directory at the path: fds cached for the old one
		 * (this one's children's parent) must be opened again. */
		replaced |= u->s[i].mode && (now.ino != u->s[i].ino ||
					     now.dev != u->s[i].dev);
	}
	if (!changed) {
		atomic_store(&u->taken_ns, now_ns());
		return false;
	}
	if (replaced)
		dirfd_cache_dir_replaced();
	return true;
}

void udba_drop_if(struct lfs *fs, struct node *dir, struct dcache *seen)
{
	if (dir->dc != seen)
		return; /* read again (or dropped) meanwhile */
	lfs_stat_add(&fs->stats.udba_reloads, 1);
	dcache_drop(fs, dir);
}

bool udba_outdated(struct lfs *fs, struct node *dir, const struct dcache *dc)
{
	return (node_flags(dir) & N_RELOAD) ||
	       (udba_due(fs, dc) && udba_stale(fs, dir));
}

void udba_revalidate_locked(struct lfs *fs, struct node *dir)
{
	if (dir->dc && dir->dc->udba && udba_outdated(fs, dir, dir->dc))
		udba_drop_if(fs, dir, dir->dc);
}

void udba_follow_range(struct lfs *fs, struct node *n, uint16_t end)
{
	if (!fs->opt->udba_reval || !node_is_dir(n) ||
	    !lfs_is_upper(fs, node_layer(n)) ||
	    (node_flags(n) & (N_REDIRECT | N_ROOT)))
		return;
	/* end is read and written under ns_lock (dirload.c reads it so). */
	pthread_rwlock_rdlock(&fs->ns_lock);
	bool moved = n->end != end;
	pthread_rwlock_unlock(&fs->ns_lock);
	if (!moved)
		return;
	pthread_rwlock_wrlock(&fs->ns_lock);
	if (n->end != end) {
		n->end = end;
		/* After end: a load that clears the flag reads the new one. */
		node_set_flag(n, N_RELOAD);
	}
	pthread_rwlock_unlock(&fs->ns_lock);
}

/* ---- a copy's origin (udba_origin_holds) --------------------------- */

/* The lower file recorded as rec (lower_id.h) opened by its handle, from
 * layer l's filesystem: 1 it is there, inode ino; 0 it is gone or
 * another; -1 nothing to tell (a birth time, or no right to open by
 * handle: CAP_DAC_READ_SEARCH). */
static int handle_still_opens(struct lfs *fs, int l, const char *rec,
			      uint64_t ino)
{
	unsigned type;
	int at = 0;
	if (sscanf(rec, "h%x:%n", &type, &at) != 1 || at == 0)
		return -1;
	union {
		struct file_handle fh;
		char room[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	const char *hex = rec + at;
	size_t len = strlen(hex) / 2;
	if (len == 0 || len > MAX_HANDLE_SZ)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		h.fh.f_handle[i] = (unsigned char)b;
	}
	h.fh.handle_bytes = (unsigned)len;
	h.fh.handle_type = (int)type;
	/* (Not the layer's O_PATH descriptor: the call refuses one.) */
	int mfd = openat(fs->layers[l].fd, ".",
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -1;
	int fd = open_by_handle_at(mfd, &h.fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	close(mfd);
	if (fd < 0)
		return e == ESTALE ? 0 : -1;
	struct stat st;
	int r = fstat(fd, &st) == 0 && st.st_ino == ino;
	close(fd);
	return r;
}

bool udba_origin_holds(struct lfs *fs, struct node *dir, int dirfd,
		       const char *name, dev_t dev, uint64_t ino,
		       const char *rec)
{
	if (!rec[0])
		return true; /* made before the record: trusted, as it was */
	/* Names made through the mount (link(2)) and an index entry's
	 * links: one inode that several names, at several paths, show;
	 * the index checks its own entries (index.h). */
	struct stat up;
	if (fstatat(dirfd, name, &up, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(up.st_mode) || up.st_nlink > 1)
		return true;
	int layer = -1;
	for (int l = lfs_below_upper(fs); l < fs->nlayers; l++) {
		if (fs->layers[l].dev != dev)
			continue;
		if (layer < 0)
			layer = l;
		/* The copy's own path in the layer: where its lower file
		 * is unless the copy was renamed through the mount. */
		int lfd = node_open(fs, dir, l, O_PATH | O_DIRECTORY);
		if (lfd < 0)
			continue;
		struct stat lst;
		char now[LOWER_ID_MAX];
		bool there = fstatat(lfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
			     lst.st_dev == dev && lst.st_ino == ino;
		int r = there ? lower_id_at(lfd, name, fs->layers[l].handles_kept,
					    now)
			      : 0;
		close(lfd);
		if (there)
			/* Nothing to compare when it cannot be read now. */
			return r <= 0 || strcmp(now, rec) == 0;
	}
	/* Not at its path: by its handle where the daemon may open one. */
	return layer >= 0 && handle_still_opens(fs, layer, rec, ino) == 1;
}

void udba_origin_drop(struct lfs *fs, struct node *dir, int dirfd,
		      const char *name, uint64_t origin, uint64_t own)
{
	char path[64 + NAME_MAX];
	xp_proc_path(path, sizeof(path), dirfd, name);
	/* (The record goes with it.  An immutable copy keeps its mark, and
	 * is found again at the next listing.) */
	lremovexattr(path, XATTR_LFS_ORIGIN);
	struct node *n = node_find(fs, dir, name);
	if (!n)
		return;
	if (node_layer(n) == fs->upper && S_ISREG(n->mode) &&
	    !(node_flags(n) & N_HLINK) && node_ino(n) == origin) {
		node_clear_flag(n, N_ORIGIN_SET);
		node_set_ino(fs, n, own);
		/* The kernel asks for its attributes again (attributes only:
		 * nothing that waits on a request, as retire_stale does). */
		if (fs->se)
			fuse_lowlevel_notify_inval_inode(
				fs->se, node_to_ino(fs, n), -1, 0);
	}
	node_unref(fs, n);
}
