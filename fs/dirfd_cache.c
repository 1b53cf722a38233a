#include "dirfd_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node_reach.h"

struct entry {
	struct node *dir;
	/* dir's parent when cached: compared, never followed (it may have
	 * been freed since); the entry lives in its shard. */
	const struct node *parent;
	uint64_t ino;      /* the node's st_ino when cached */
	/* Where ino may be the upper inode's, fd another layer's: the
	 * mount, to compare fd's own number with it (dirfd_cache.h). */
	const struct lfs *check_ino;
	struct dirfd_stamp at; /* when opened */
	int layer;
	int fd;       /* -1: free slot */
	int busy;     /* callers holding fd */
	uint64_t used; /* for least-recently-used replacement */
};

struct shard {
	pthread_mutex_t lock;
	uint64_t clock;
	struct entry e[DIRFD_WAYS];
} __attribute__((aligned(64))); /* no two shards' locks share a cache line */

static struct shard shards[DIRFD_SHARDS];
static pthread_once_t shards_once = PTHREAD_ONCE_INIT;
/* The fds a shard keeps: DIRFD_WAYS, fewer under a low open-files
 * limit. */
static int ways = DIRFD_WAYS;

static void shards_init(void)
{
	/* At most a quarter of the open-files limit (which main raises to
	 * the hard one before the first request), as the shared fds of
	 * files open for reading take another (shared_fd.c): a sandbox's
	 * limit of 256 leaves 64, one per shard. */
	struct rlimit rl;
	rlim_t limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
	if (limit != RLIM_INFINITY) {
		rlim_t per_shard = limit / 4 / DIRFD_SHARDS;
		ways = per_shard < 1 ? 1
		       : per_shard < DIRFD_WAYS ? (int)per_shard
						: DIRFD_WAYS;
	}
	for (int s = 0; s < DIRFD_SHARDS; s++) {
		pthread_mutex_init(&shards[s].lock, NULL);
		for (int i = 0; i < DIRFD_WAYS; i++)
			shards[s].e[i].fd = -1;
	}
}

static unsigned node_hash(const struct node *n)
{
	/* Nodes are malloc'd, 16-byte aligned, 64 bytes and more apart. */
	uintptr_t p = (uintptr_t)n >> 4;
	return (unsigned)((p * 0x9E3779B97F4A7C15ull) >> 40);
}

/* The i-th shard of the group where the entries of `parent`'s
 * subdirectories live (dirfd_cache.h). */
static struct shard *group_shard(const struct node *parent, unsigned i)
{
	pthread_once(&shards_once, shards_init);
	return &shards[(node_hash(parent) + i) % DIRFD_SHARDS];
}

/* The shard of dir's entries: in its parent's group, by its own hash,
 * so that siblings spread over the group's DIRFD_GROUP * ways slots. */
static struct shard *shard_of(const struct node *dir)
{
	return group_shard(dir->parent, (node_hash(dir) >> 8) % DIRFD_GROUP);
}

/*
 * The fds this thread holds, with their entries, for dirfd_release: a
 * request holds two or three at most (a parent while it opens a child).
 * One beyond HELD_MAX is handed out as a duplicate, closed at release.
 */
#define HELD_MAX 8
struct held {
	int fd;
	struct entry *e;
	struct shard *sh;
};
static __thread struct held held[HELD_MAX];
static __thread int nheld;

/* Counts directories removed from the tree whose nodes were freed,
 * lower directories replaced behind the mount, and directory moves
 * ended; and the moves begun and not yet ended. */
static atomic_ulong removed_epoch, replaced_epoch, moved_epoch;
static atomic_uint moving;

struct dirfd_stamp dirfd_stamp(void)
{
	/* The epoch before the count: a move that ends in between leaves
	 * the count at 0 but its epoch changed (dirfd_unmoved_since). */
	struct dirfd_stamp at = {
		.removed = atomic_load(&removed_epoch),
		.replaced = atomic_load(&replaced_epoch),
		.moved = atomic_load(&moved_epoch),
	};
	at.moving = atomic_load(&moving) != 0;
	return at;
}

bool dirfd_unmoved_since(struct dirfd_stamp at)
{
	/* The count before the epoch, the other way round from
	 * dirfd_stamp: a move that ended meanwhile bumped its epoch before
	 * its count went down. */
	return !at.moving && atomic_load(&moving) == 0 &&
	       atomic_load(&moved_epoch) == at.moved;
}

/* Whether e's fd is a directory with links left (not one removed),
 * and, where it may be another inode than the one whose number it is
 * cached under, that inode (dirfd_cache.h). */
static bool still_that_directory(const struct entry *e)
{
	struct stat st;
	if (fstat(e->fd, &st) < 0 || st.st_nlink == 0)
		return false;
	return !e->check_ino ||
	       lfs_compose_ino(e->check_ino, e->layer, st.st_ino) == e->ino;
}

/* Whether e's fd may still be used: checked again after a removal.
 * Under its shard's lock. */
static bool entry_current(struct entry *e, struct dirfd_stamp now)
{
	if (e->at.replaced != now.replaced)
		return false;
	if (e->at.removed != now.removed) {
		if (!still_that_directory(e))
			return false;
		e->at.removed = now.removed;
	}
	return true;
}

/* Whether e's fd may still be used.  One that may not is dropped unless
 * a caller holds it still: perhaps another directory now, to be opened
 * again. */
static bool entry_usable(struct entry *e, struct dirfd_stamp now)
{
	if (entry_current(e, now))
		return true;
	if (!e->busy) {
		close(e->fd);
		e->fd = -1;
	}
	return false;
}

/* Whether e caches dir in layer. */
static bool entry_is(const struct entry *e, const struct node *dir,
		     int layer)
{
	return e->fd >= 0 && e->dir == dir && e->ino == dir->ino &&
	       e->layer == layer;
}

/* Hands e's fd to this thread: its fd, or a duplicate where the thread
 * holds too many already (closed at release), or -1.  Under sh's lock,
 * e usable. */
static int hand_out(struct shard *sh, struct entry *e)
{
	e->used = ++sh->clock;
	if (nheld == HELD_MAX)
		return fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
	e->busy++;
	held[nheld++] = (struct held){ .fd = e->fd, .e = e, .sh = sh };
	return e->fd;
}

/* dir's entry for layer in sh, or NULL.  Under sh's lock. */
static struct entry *entry_of(struct shard *sh, const struct node *dir,
			      int layer)
{
	for (int i = 0; i < ways; i++)
		if (entry_is(&sh->e[i], dir, layer))
			return &sh->e[i];
	return NULL;
}

int dirfd_find(struct node *dir, int layer)
{
	struct shard *sh = shard_of(dir);
	struct dirfd_stamp now = dirfd_stamp();
	pthread_mutex_lock(&sh->lock);
	struct entry *e = entry_of(sh, dir, layer);
	int fd = e && entry_usable(e, now) ? hand_out(sh, e) : -1;
	pthread_mutex_unlock(&sh->lock);
	return fd;
}

/* The least recently used idle entry of sh, a free one first; or NULL.
 * Under sh's lock. */
static struct entry *victim_of(struct shard *sh)
{
	struct entry *victim = NULL;
	for (int i = 0; i < ways; i++) {
		struct entry *e = &sh->e[i];
		if (e->busy)
			continue;
		if (e->fd < 0)
			return e;
		if (!victim || e->used < victim->used)
			victim = e;
	}
	return victim;
}

int dirfd_keep(const struct lfs *fs, struct node *dir, int layer, int fd,
	       struct dirfd_stamp at)
{
	if (!dirfd_unmoved_since(at))
		return fd; /* uncached, closed on release */
	struct shard *sh = shard_of(dir);
	pthread_mutex_lock(&sh->lock);
	/* Another worker may have opened it meanwhile: one fd is enough. */
	struct entry *e = entry_of(sh, dir, layer);
	if (e && entry_usable(e, dirfd_stamp())) {
		int shared = hand_out(sh, e);
		if (shared >= 0) {
			pthread_mutex_unlock(&sh->lock);
			close(fd);
			return shared;
		}
	}
	e = e && !e->busy ? e : victim_of(sh);
	if (!e || nheld == HELD_MAX) {
		pthread_mutex_unlock(&sh->lock);
		return fd; /* every slot busy, or this thread holds too
			    * many: uncached as well */
	}
	if (e->fd >= 0)
		close(e->fd);
	/* A node whose top layer is the upper one may show that layer's
	 * number (conservatively: one with an origin shows a lower one). */
	bool check = !lfs_is_upper(fs, layer) &&
		     lfs_is_upper(fs, node_layer(dir));
	*e = (struct entry){ .dir = dir, .parent = dir->parent,
			     .ino = dir->ino, .check_ino = check ? fs : NULL,
			     .at = at, .layer = layer, .fd = fd };
	fd = hand_out(sh, e);
	pthread_mutex_unlock(&sh->lock);
	return fd;
}

/* Whether the directory open as fd is one of the n in stops. */
static bool is_one_of(int fd, const struct stat *stops, int n)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return true;
	for (int i = 0; i < n; i++)
		if (st.st_dev == stops[i].st_dev && st.st_ino == stops[i].st_ino)
			return true;
	return false;
}

/* dir's directory from its subdirectory open as fd, or -1.  The
 * subdirectory may have been moved since, or removed (into the work
 * directory first, in the upper layer), and the tree above it changed:
 * the climb never passes the layer's root or the work directory (what
 * is above may be another layer's), and must end at dir's directory,
 * by its inode number. */
static int climb_from(struct lfs *fs, struct node *dir, int layer, int fd)
{
	struct stat stops[2];
	int nstops = 0;
	if (fstat(fs->layers[layer].fd, &stops[nstops++]) < 0)
		return -1;
	if (lfs_is_upper(fs, layer) && fs->workdir_fd >= 0 &&
	    fstat(fs->workdir_fd, &stops[nstops++]) < 0)
		return -1;
	if (is_one_of(fd, stops, nstops))
		return -1;
	int up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (up >= 0 &&
	    (fstat(up, &st) < 0 || st.st_dev != fs->layers[layer].dev ||
	     lfs_compose_ino(fs, layer, st.st_ino) != node_ino(dir))) {
		close(up);
		up = -1;
	}
	return up;
}

int dirfd_climb(struct lfs *fs, struct node *dir, int layer,
		struct dirfd_stamp at)
{
	/* A cached subdirectory of dir is in the group of shards dir's
	 * children live in. */
	int below = -1;
	for (unsigned g = 0; g < DIRFD_GROUP && below < 0; g++) {
		struct shard *sh = group_shard(dir, g);
		pthread_mutex_lock(&sh->lock);
		for (int i = 0; i < ways && below < 0; i++) {
			struct entry *e = &sh->e[i];
			if (e->fd >= 0 && e->parent == dir &&
			    e->layer == layer && entry_usable(e, at))
				below = hand_out(sh, e);
		}
		pthread_mutex_unlock(&sh->lock);
	}
	if (below < 0)
		return -1;
	int fd = climb_from(fs, dir, layer, below);
	dirfd_release(below);
	return fd < 0 ? -1 : dirfd_keep(fs, dir, layer, fd, at);
}

int dirfd_acquire(struct lfs *fs, struct node *dir, int layer)
{
	return node_walk_to_dir(fs, dir, layer);
}

void dirfd_release(int fd)
{
	for (int i = nheld - 1; i >= 0; i--) {
		if (held[i].fd != fd)
			continue;
		struct shard *sh = held[i].sh;
		pthread_mutex_lock(&sh->lock);
		held[i].e->busy--;
		pthread_mutex_unlock(&sh->lock);
		held[i] = held[--nheld];
		return;
	}
	close(fd);
}

void dirfd_cache_flush(void)
{
	pthread_once(&shards_once, shards_init);
	for (int s = 0; s < DIRFD_SHARDS; s++) {
		struct shard *sh = &shards[s];
		pthread_mutex_lock(&sh->lock);
		for (int i = 0; i < ways; i++) {
			struct entry *e = &sh->e[i];
			if (e->fd >= 0 && !e->busy) {
				close(e->fd);
				e->fd = -1;
			}
		}
		pthread_mutex_unlock(&sh->lock);
	}
}

void dirfd_cache_dir_removed(void)
{
	atomic_fetch_add(&removed_epoch, 1);
}

void dirfd_cache_dir_replaced(void)
{
	atomic_fetch_add(&replaced_epoch, 1);
}

void dirfd_cache_move_begin(void)
{
	atomic_fetch_add(&moving, 1);
}

void dirfd_cache_move_end(void)
{
	atomic_fetch_add(&moved_epoch, 1);
	atomic_fetch_sub(&moving, 1);
}
