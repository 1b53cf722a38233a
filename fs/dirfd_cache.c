#include "dirfd_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
	struct node *dir;
	uint64_t ino;      /* the node's st_ino when cached */
	/* Where ino may be the upper inode's, fd another layer's: the
	 * mount, to compare fd's own number with it (dirfd_cache.h). */
	const struct lfs *check_ino;
	/* dir's parent, its parent...: compared, never followed (they may
	 * have been freed since). */
	const struct node *above[DIRFD_CLIMB];
	struct dirfd_stamp at; /* when opened */
	int layer;
	int fd;       /* -1: free slot */
	int busy;     /* acquired and not yet released */
	uint64_t used; /* for least-recently-used replacement */
};

struct cache {
	struct entry e[DIRFD_CACHE_SIZE];
	uint64_t clock;
};

/* Counts directories removed from the tree whose nodes were freed,
 * lower directories replaced behind the mount, and directory moves
 * ended; and the moves begun and not yet ended. */
static atomic_ulong removed_epoch, replaced_epoch, moved_epoch;
static atomic_uint moving;

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void cache_free(void *p)
{
	struct cache *c = p;
	for (int i = 0; i < DIRFD_CACHE_SIZE; i++)
		if (c->e[i].fd >= 0)
			close(c->e[i].fd);
	free(c);
}

static void make_key(void)
{
	pthread_key_create(&key, cache_free);
}

static struct cache *thread_cache(void)
{
	pthread_once(&once, make_key);
	struct cache *c = pthread_getspecific(key);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	for (int i = 0; i < DIRFD_CACHE_SIZE; i++)
		c->e[i].fd = -1;
	pthread_setspecific(key, c);
	return c;
}

/*
 * A second level, shared by the workers.  They take requests in turn, so
 * one client's walk down or up a tree moves from worker to worker, and a
 * worker's own cache lacks what the one before opened: here it finds
 * it (a duplicate of the fd), or a directory below to climb from.
 * Filled with every fd a worker keeps; guarded by shared_lock, its
 * entries are never busy.
 */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache shared = {
	.e = { [0 ... DIRFD_CACHE_SIZE - 1] = { .fd = -1 } },
};

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

/* Whether e's fd may still be used: checked again after a removal. */
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
 * another caller holds it still: perhaps another directory now, to be
 * opened again. */
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

/* Takes e for the caller: its fd, or -1. */
static int entry_take(struct cache *c, struct entry *e,
		      struct dirfd_stamp now)
{
	if (!entry_usable(e, now))
		return -1;
	e->busy++;
	e->used = ++c->clock;
	return e->fd;
}

int dirfd_find(struct node *dir, int layer)
{
	struct cache *c = thread_cache();
	if (!c)
		return -1;
	struct dirfd_stamp now = dirfd_stamp();
	for (int i = 0; i < DIRFD_CACHE_SIZE; i++) {
		int fd = entry_is(&c->e[i], dir, layer)
				 ? entry_take(c, &c->e[i], now)
				 : -1;
		if (fd >= 0)
			return fd;
	}
	return -1;
}

/* The least recently used idle entry of c, a free one first; or NULL. */
static struct entry *victim_of(struct cache *c)
{
	struct entry *victim = NULL;
	for (int i = 0; i < DIRFD_CACHE_SIZE; i++) {
		struct entry *e = &c->e[i];
		if (e->busy)
			continue;
		if (e->fd < 0)
			return e;
		if (!victim || e->used < victim->used)
			victim = e;
	}
	return victim;
}

/* Offers a worker's new entry to the shared level (a duplicate fd). */
static void shared_offer(const struct entry *kept)
{
	pthread_mutex_lock(&shared_lock);
	for (int i = 0; i < DIRFD_CACHE_SIZE; i++) {
		if (entry_is(&shared.e[i], kept->dir, kept->layer)) {
			pthread_mutex_unlock(&shared_lock);
			return;
		}
	}
	struct entry *victim = victim_of(&shared);
	int fd = fcntl(kept->fd, F_DUPFD_CLOEXEC, 0);
	if (fd >= 0) {
		if (victim->fd >= 0)
			close(victim->fd);
		*victim = *kept;
		victim->fd = fd;
		victim->busy = 0;
		victim->used = ++shared.clock;
	}
	pthread_mutex_unlock(&shared_lock);
}

/* Under shared_lock: a duplicate of shared entry e's fd, or -1. */
static int shared_dup(struct entry *e, struct dirfd_stamp now)
{
	if (!entry_usable(e, now))
		return -1;
	e->used = ++shared.clock;
	return fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
}

/* A new fd on dir in layer from the shared level, or -1. */
static int shared_find(struct node *dir, int layer, struct dirfd_stamp now)
{
	int fd = -1;
	pthread_mutex_lock(&shared_lock);
	for (int i = 0; i < DIRFD_CACHE_SIZE && fd < 0; i++)
		if (entry_is(&shared.e[i], dir, layer))
			fd = shared_dup(&shared.e[i], now);
	pthread_mutex_unlock(&shared_lock);
	return fd;
}

int dirfd_keep(const struct lfs *fs, struct node *dir, int layer, int fd,
	       struct dirfd_stamp at)
{
	struct cache *c = thread_cache();
	if (!c || !dirfd_unmoved_since(at))
		return fd; /* uncached, closed on release */
	struct entry *victim = victim_of(c);
	if (!victim)
		return fd; /* all busy: the same */
	if (victim->fd >= 0)
		close(victim->fd);
	/* A node whose top layer is the upper one may show that layer's
	 * number (conservatively: one with an origin shows a lower one). */
	bool check = !lfs_is_upper(fs, layer) &&
		     lfs_is_upper(fs, node_layer(dir));
	*victim = (struct entry){ .dir = dir, .ino = dir->ino,
				  .check_ino = check ? fs : NULL,
				  .at = at, .layer = layer, .fd = fd,
				  .busy = 1, .used = ++c->clock };
	/* Under ns_lock: dir is alive, and so are its ancestors. */
	const struct node *p = dir->parent;
	for (int i = 0; i < DIRFD_CLIMB && p; i++, p = p->parent)
		victim->above[i] = p;
	shared_offer(victim);
	return fd;
}

/* The cached entry of a directory below dir in layer with the fewest
 * levels between them (*hops), more than after levels (0: any), or
 * NULL. */
static struct entry *nearest_below(struct cache *c, struct node *dir,
				   int layer, int after, int *hops)
{
	struct entry *best = NULL;
	*hops = DIRFD_CLIMB + 1;
	for (int i = 0; i < DIRFD_CACHE_SIZE; i++) {
		struct entry *e = &c->e[i];
		if (e->fd < 0 || e->layer != layer)
			continue;
		for (int h = after; h < DIRFD_CLIMB && h + 1 < *hops; h++) {
			if (e->above[h] == dir) {
				best = e;
				*hops = h + 1;
				break;
			}
		}
	}
	return best;
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

/* dir's directory from the directory open as fd, HOPS levels below it,
 * or -1.  The directory below may have been moved since, or removed
 * (into the work directory first, in the upper layer), and the tree
 * above it changed: the climb never passes the layer's root or the
 * work directory (what is above may be another layer's), and must end
 * at dir's directory, by its inode number. */
static int climb_from(struct lfs *fs, struct node *dir, int layer, int fd,
		      int hops)
{
	struct stat stops[2];
	int nstops = 0;
	if (fstat(fs->layers[layer].fd, &stops[nstops++]) < 0)
		return -1;
	if (lfs_is_upper(fs, layer) && fs->workdir_fd >= 0 &&
	    fstat(fs->workdir_fd, &stops[nstops++]) < 0)
		return -1;
	int from = fd;
	for (int i = 0; i < hops && fd >= 0; i++) {
		int up = is_one_of(fd, stops, nstops)
				 ? -1
				 : openat(fd, "..",
					  O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd != from)
			close(fd);
		fd = up;
	}
	struct stat st;
	if (fd >= 0 &&
	    (fstat(fd, &st) < 0 || st.st_dev != fs->layers[layer].dev ||
	     lfs_compose_ino(fs, layer, st.st_ino) != node_ino(dir))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* A duplicate of the fd of the nearest directory below dir in the
 * shared level (*hops levels), or -1. */
static int shared_below(struct node *dir, int layer, struct dirfd_stamp now,
			int *hops)
{
	int fd = -1;
	struct entry *e;
	pthread_mutex_lock(&shared_lock);
	*hops = 0;
	while (fd < 0 && (e = nearest_below(&shared, dir, layer, *hops, hops)))
		fd = shared_dup(e, now);
	pthread_mutex_unlock(&shared_lock);
	return fd;
}

int dirfd_climb(struct lfs *fs, struct node *dir, int layer,
		struct dirfd_stamp at)
{
	struct cache *c = thread_cache();
	if (!c)
		return -1;
	/* From the nearest usable directory below (where ".." leads is
	 * checked by climb_from): the worker's own, else one the others
	 * opened. */
	struct entry *e;
	int hops = 0;
	while ((e = nearest_below(c, dir, layer, hops, &hops))) {
		if (!entry_usable(e, at))
			continue;
		int fd = climb_from(fs, dir, layer, e->fd, hops);
		return fd < 0 ? -1 : dirfd_keep(fs, dir, layer, fd, at);
	}
	int below = shared_below(dir, layer, at, &hops);
	if (below < 0)
		return -1;
	int fd = climb_from(fs, dir, layer, below, hops);
	close(below);
	return fd < 0 ? -1 : dirfd_keep(fs, dir, layer, fd, at);
}

int dirfd_shared_find(const struct lfs *fs, struct node *dir, int layer,
		      struct dirfd_stamp at)
{
	int fd = shared_find(dir, layer, at);
	return fd < 0 ? -1 : dirfd_keep(fs, dir, layer, fd, at);
}

int dirfd_acquire(struct lfs *fs, struct node *dir, int layer)
{
	int fd = dirfd_find(dir, layer);
	return fd >= 0 ? fd : node_walk_to_dir(fs, dir, layer);
}

void dirfd_release(int fd)
{
	struct cache *c = pthread_getspecific(key);
	if (c) {
		for (int i = 0; i < DIRFD_CACHE_SIZE; i++) {
			if (c->e[i].fd == fd && c->e[i].busy > 0) {
				c->e[i].busy--;
				return;
			}
		}
	}
	close(fd);
}

static void flush(struct cache *c)
{
	for (int i = 0; i < DIRFD_CACHE_SIZE; i++) {
		struct entry *e = &c->e[i];
		if (e->fd >= 0 && !e->busy) {
			close(e->fd);
			e->fd = -1;
		}
	}
}

void dirfd_cache_flush(void)
{
	struct cache *c = pthread_getspecific(key);
	if (c)
		flush(c);
	pthread_mutex_lock(&shared_lock);
	flush(&shared);
	pthread_mutex_unlock(&shared_lock);
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
