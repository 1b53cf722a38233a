#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "caps_killed.h"
#include "dcache.h"
#include "dirfd_cache.h"
#include "lf_common.h"
#include "redirect.h"
#include "safe_path.h"
#include "shared_fd.h"

/*
 * Buckets are guarded by NSTRIPES mutexes: bucket b by stripe
 * b % NSTRIPES.  Growing the table takes every stripe, in order.
 * Reference counts drop to zero only under the stripe of the node's
 * bucket, and rise from zero only there (node_find), so a node is freed
 * exactly once and never while someone can still find it.
 */
#define NSTRIPES 256u
#define INITIAL_BUCKETS (1u << 14)

struct node_table {
	struct node **buckets;
	size_t mask;
	atomic_size_t count;
	pthread_mutex_t stripes[NSTRIPES];

	/* Unhashed nodes (unlinked, still referenced), via node_ext. */
	pthread_mutex_t orphan_lock;
	struct node *orphans;

	/* Hard-linked files by inode number; small, one mutex. */
	pthread_mutex_t ino_lock;
	struct node **ibuckets;
	size_t imask;
	size_t icount;
};

static uint32_t name_hash(const struct node *parent, const char *name,
			  size_t len)
{
	return (uint32_t)XXH3_64bits_withSeed(name, len,
					      (uint64_t)(uintptr_t)parent);
}

static pthread_mutex_t *stripe_of(struct node_table *t, uint32_t hash)
{
	return &t->stripes[hash % NSTRIPES];
}

int node_table_init(struct lfs *fs)
{
	struct node_table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->buckets = calloc(INITIAL_BUCKETS, sizeof(*t->buckets));
	t->ibuckets = calloc(256, sizeof(*t->ibuckets));
	if (!t->buckets || !t->ibuckets) {
		free(t->buckets);
		free(t->ibuckets);
		free(t);
		return -ENOMEM;
	}
	t->mask = INITIAL_BUCKETS - 1;
	t->imask = 255;
	for (unsigned i = 0; i < NSTRIPES; i++)
		pthread_mutex_init(&t->stripes[i], NULL);
	pthread_mutex_init(&t->ino_lock, NULL);
	pthread_mutex_init(&t->orphan_lock, NULL);
	fs->nodes = t;
	return 0;
}

static void node_free_memory(struct node *n)
{
	shared_fd_forget(n);
	if (node_is_dir(n) && (node_flags(n) & N_UNHASHED))
		dirfd_cache_dir_removed();
	if (node_flags(n) & N_NAME_HEAP)
		free((char *)node_name(n));
	if (n->ext) {
		for (uint16_t i = 0; i < n->ext->nlredirs; i++)
			free(n->ext->lredirs[i].value);
		free(n->ext->lredirs);
		free(n->ext->redirect);
		free(n->ext->datapath);
		caps_killed_free(n->ext);
		if (n->ext->orphan_fd >= 0)
			close(n->ext->orphan_fd);
		free(n->ext);
	}
	dcache_detach(n);
	free(n);
}

void node_table_destroy(struct lfs *fs)
{
	struct node_table *t = fs->nodes;
	if (!t)
		return;
	/* At unmount every node is garbage: free the lot.  Nothing
	 * dereferences parents here, so the order does not matter. */
	struct node *o = t->orphans;
	while (o) {
		struct node *next = o->ext->onext;
		node_free_memory(o);
		o = next;
	}
	for (size_t b = 0; b <= t->mask; b++) {
		struct node *n = t->buckets[b];
		while (n) {
			struct node *next = n->hnext;
			if (n != fs->root)
				node_free_memory(n);
			n = next;
		}
	}
	free(t->buckets);
	free(t->ibuckets);
	free(t);
	fs->nodes = NULL;
}

struct node *node_from_ino(struct lfs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return fs->root;
	return (struct node *)(uintptr_t)ino;
}

fuse_ino_t node_to_ino(struct lfs *fs, struct node *n)
{
	if (n == fs->root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)n;
}

static bool name_eq(const struct node *n, const struct node *parent,
		    const char *name, size_t len, uint32_t hash)
{
	return n->hash == hash && n->parent == parent && n->namelen == len &&
	       memcmp(node_name((struct node *)n), name, len) == 0;
}

struct node *node_find(struct lfs *fs, struct node *parent, const char *name)
{
	struct node_table *t = fs->nodes;
	size_t len = strlen(name);
	uint32_t h = name_hash(parent, name, len);
	pthread_mutex_t *m = stripe_of(t, h);

	pthread_mutex_lock(m);
	struct node *n = t->buckets[h & t->mask];
	while (n && !name_eq(n, parent, name, len, h))
		n = n->hnext;
	if (n)
		atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(m);
	return n;
}

bool node_named(struct lfs *fs, struct node *n, struct node *parent,
		const char *name)
{
	size_t len = strlen(name);
	uint32_t h = name_hash(parent, name, len);
	pthread_mutex_t *m = stripe_of(fs->nodes, h);
	pthread_mutex_lock(m);
	bool named = !(node_flags(n) & N_UNHASHED) &&
		     name_eq(n, parent, name, len, h);
	pthread_mutex_unlock(m);
	return named;
}

struct node *node_new(struct node *parent, const char *name, uint16_t layer,
		      mode_t mode, uint64_t ino)
{
	size_t len = strlen(name);
	if (len > NAME_MAX) {
		/* No layer can hold such a name (callers have it on disk). */
		errno = ENAMETOOLONG;
		return NULL;
	}
	/* Room for at least a pointer: a longer name after a rename is
	 * kept on the heap and pointed at from here. */
	size_t room = len + 1 > sizeof(char *) ? len + 1 : sizeof(char *);
	struct node *n = calloc(1, sizeof(*n) + room);
	if (!n)
		return NULL;
	memcpy(n->inline_name, name, len + 1);
	n->namelen = (uint8_t)len;
	n->inline_cap = (uint8_t)(room - 1);
	n->parent = parent;
	n->hash = name_hash(parent, name, len);
	n->mode = (uint16_t)(mode & S_IFMT);
	n->ino = ino;
	atomic_init(&n->layer, layer);
	atomic_init(&n->refs, 1);
	atomic_init(&n->nlookup, 0);
	atomic_init(&n->flags, 0);
	return n;
}

void node_discard(struct node *fresh)
{
	node_free_memory(fresh);
}

/* Doubles the bucket array; called with no stripe held. */
static void table_grow(struct node_table *t)
{
	for (unsigned i = 0; i < NSTRIPES; i++)
		pthread_mutex_lock(&t->stripes[i]);
	size_t oldn = t->mask + 1;
	if (atomic_load(&t->count) > oldn * 2 && oldn < (1u << 28)) {
		size_t newn = oldn * 2;
		struct node **nb = calloc(newn, sizeof(*nb));
		if (nb) {
			for (size_t b = 0; b < oldn; b++) {
				struct node *n = t->buckets[b];
				while (n) {
					struct node *next = n->hnext;
					size_t nbk = n->hash & (newn - 1);
					n->hnext = nb[nbk];
					nb[nbk] = n;
					n = next;
				}
			}
			free(t->buckets);
			t->buckets = nb;
			t->mask = newn - 1;
		}
	}
	for (unsigned i = NSTRIPES; i-- > 0;)
		pthread_mutex_unlock(&t->stripes[i]);
}

struct node *node_insert(struct lfs *fs, struct node *fresh)
{
	struct node_table *t = fs->nodes;
	pthread_mutex_t *m = stripe_of(t, fresh->hash);

	pthread_mutex_lock(m);
	struct node **bucket = &t->buckets[fresh->hash & t->mask];
	for (struct node *n = *bucket; n; n = n->hnext) {
		if (name_eq(n, fresh->parent, node_name(fresh), fresh->namelen,
			    fresh->hash)) {
			atomic_fetch_add_explicit(&n->refs, 1,
						  memory_order_relaxed);
			pthread_mutex_unlock(m);
			node_free_memory(fresh);
			return n;
		}
	}
	/* The child keeps its parent alive. */
	if (fresh->parent)
		node_ref(fresh->parent);
	fresh->hnext = *bucket;
	*bucket = fresh;
	size_t count = atomic_fetch_add(&t->count, 1) + 1;
	bool grow = count > (t->mask + 1) * 2;
	pthread_mutex_unlock(m);
	if (grow)
		table_grow(t);
	return fresh;
}

/* Files n under its inode number; called with ino_lock held. */
static void ino_index_locked(struct node_table *t, struct node *n)
{
	size_t b = n->ino & t->imask;
	n->ext->inext = t->ibuckets[b];
	t->ibuckets[b] = n;
	__atomic_add_fetch(&t->icount, 1, __ATOMIC_RELAXED);
}

static void ino_unindex_locked(struct node_table *t, struct node *n)
{
	struct node **pp = &t->ibuckets[n->ino & t->imask];
	while (*pp && *pp != n)
		pp = &(*pp)->ext->inext;
	if (*pp) {
		*pp = n->ext->inext;
		__atomic_sub_fetch(&t->icount, 1, __ATOMIC_RELAXED);
	}
}

static pthread_mutex_t *lock_node_stripe(struct node_table *t,
					 struct node *n);

struct node *node_find_by_ino(struct lfs *fs, uint64_t ino)
{
	return node_find_by_ino_if(fs, ino, NULL, NULL);
}

struct node *node_find_by_ino_if(struct lfs *fs, uint64_t ino,
				 bool (*match)(struct node *n, void *arg),
				 void *arg)
{
	struct node_table *t = fs->nodes;
	pthread_mutex_lock(&t->ino_lock);
	struct node *n = t->ibuckets[ino & t->imask];
	for (; n; n = n->ext->inext) {
		if (n->ino != ino || (match && !match(n, arg)))
			continue;
		/* A node being freed is still listed until it is taken out
		 * under ino_lock.  Whether it is being freed is decided under
		 * its stripe lock (free_if_unused_locked), which orders this
		 * reference with that decision: taken before, it keeps the
		 * node; after, N_FREEING is seen.  (Lock order: ino_lock,
		 * then a stripe; the free path never holds both.) */
		pthread_mutex_t *m = lock_node_stripe(t, n);
		bool freeing = node_flags(n) & N_FREEING;
		if (!freeing)
			atomic_fetch_add_explicit(&n->refs, 1,
						  memory_order_relaxed);
		pthread_mutex_unlock(m);
		if (!freeing)
			break;
		/* One being freed presents nothing: the first other match,
		 * if asked for one; none otherwise, as before. */
		if (!match) {
			n = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&t->ino_lock);
	return n;
}

bool node_ino_index_used(struct lfs *fs)
{
	return __atomic_load_n(&fs->nodes->icount, __ATOMIC_RELAXED) != 0;
}

void node_index_ino(struct lfs *fs, struct node *n)
{
	struct node_table *t = fs->nodes;
	/* The chain link lives in the ext: only hard links need it.
	 * Without memory for it the names just keep their own nodes. */
	if (!node_ext(n))
		return;
	pthread_mutex_lock(&t->ino_lock);
	if (!(node_flags(n) & N_INDEXED)) {
		node_set_flag(n, N_INDEXED);
		ino_index_locked(t, n);
	}
	pthread_mutex_unlock(&t->ino_lock);
}

void node_set_ino(struct lfs *fs, struct node *n, uint64_t ino)
{
	struct node_table *t = fs->nodes;
	pthread_mutex_lock(&t->ino_lock);
	bool indexed = node_flags(n) & N_INDEXED;
	if (indexed)
		ino_unindex_locked(t, n);
	__atomic_store_n(&n->ino, ino, __ATOMIC_RELAXED);
	if (indexed)
		ino_index_locked(t, n);
	pthread_mutex_unlock(&t->ino_lock);
}

void node_ref(struct node *n)
{
	atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

/*
 * The kernel's lookup count fits 32 bits unless one inode is looked up
 * four billion times without being forgotten; then the count sticks at
 * the top and the node stays for the life of the mount, which is safe.
 * 32 bits keep struct node at 72 bytes.
 */
#define NLOOKUP_PINNED UINT32_MAX

void node_lookup_inc(struct node *n)
{
	unsigned v = atomic_load_explicit(&n->nlookup, memory_order_relaxed);
	while (v != NLOOKUP_PINNED &&
	       !atomic_compare_exchange_weak(&n->nlookup, &v, v + 1))
		;
}

/* Decrements *counter, unless that would reach zero: then returns false
 * so the caller can do the last decrement under the stripe lock. */
static bool dec_unless_last(atomic_uint *counter)
{
	unsigned v = atomic_load_explicit(counter, memory_order_relaxed);
	while (v > 1) {
		if (atomic_compare_exchange_weak(counter, &v, v - 1))
			return true;
	}
	return false;
}

static bool dec_lookups_unless_last(atomic_uint *counter, uint64_t by)
{
	unsigned v = atomic_load_explicit(counter, memory_order_relaxed);
	while (v > by) {
		if (v == NLOOKUP_PINNED)
			return true;
		if (atomic_compare_exchange_weak(counter, &v,
						 (unsigned)(v - by)))
			return true;
	}
	return false;
}

/* Locks the stripe for n's current hash (a rename may change it). */
static pthread_mutex_t *lock_node_stripe(struct node_table *t, struct node *n)
{
	for (;;) {
		uint32_t h = __atomic_load_n(&n->hash, __ATOMIC_ACQUIRE);
		pthread_mutex_t *m = stripe_of(t, h);
		pthread_mutex_lock(m);
		if (__atomic_load_n(&n->hash, __ATOMIC_ACQUIRE) == h)
			return m;
		pthread_mutex_unlock(m);
	}
}

static void unlink_from_bucket(struct node_table *t, struct node *n)
{
	struct node **pp = &t->buckets[n->hash & t->mask];
	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = n->hnext;
		atomic_fetch_sub(&t->count, 1);
	}
	n->hnext = NULL;
}

static void orphan_list(struct node_table *t, struct node *n)
{
	pthread_mutex_lock(&t->orphan_lock);
	n->ext->oprev = NULL;
	n->ext->onext = t->orphans;
	if (t->orphans)
		t->orphans->ext->oprev = n;
	t->orphans = n;
	pthread_mutex_unlock(&t->orphan_lock);
}

static void orphan_unlist(struct node_table *t, struct node *n)
{
	pthread_mutex_lock(&t->orphan_lock);
	struct node *prev = n->ext->oprev, *next = n->ext->onext;
	if (prev)
		prev->ext->onext = next;
	else if (t->orphans == n)
		t->orphans = next;
	if (next)
		next->ext->oprev = prev;
	n->ext->oprev = n->ext->onext = NULL;
	pthread_mutex_unlock(&t->orphan_lock);
}

/*
 * Frees n if nobody holds it; called with its stripe held, releases it.
 * Returns the parent whose reference must now be dropped, or NULL.
 */
/*
 * After the kernel forgets many inodes (its cache dropped, a big walk
 * over), the freed nodes sit in malloc's free lists and the daemon's
 * resident memory stays at its peak.  Every TRIM_EVERY frees the free
 * pages go back to the system, so memory follows the kernel's cache down.
 */
#define TRIM_EVERY 65536

static void note_freed(void)
{
	static atomic_uint freed;
	if (atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed) %
		    TRIM_EVERY ==
	    TRIM_EVERY - 1)
		malloc_trim(0);
}

static struct node *free_if_unused_locked(struct lfs *fs, struct node *n,
					  pthread_mutex_t *m)
{
	struct node_table *t = fs->nodes;
	if (atomic_load(&n->refs) != 0 || atomic_load(&n->nlookup) != 0 ||
	    (node_flags(n) & (N_FREEING | N_ROOT))) {
		pthread_mutex_unlock(m);
		return NULL;
	}
	node_set_flag(n, N_FREEING);
	if (!(node_flags(n) & N_UNHASHED))
		unlink_from_bucket(t, n);
	pthread_mutex_unlock(m);

	if (node_flags(n) & N_INDEXED) {
		pthread_mutex_lock(&t->ino_lock);
		ino_unindex_locked(t, n);
		pthread_mutex_unlock(&t->ino_lock);
	}
	if (node_flags(n) & N_UNHASHED)
		orphan_unlist(t, n);
	struct node *parent = n->parent;
	node_free_memory(n);
	note_freed();
	return parent;
}

void node_unref(struct lfs *fs, struct node *n)
{
	/* Iterative, so freeing a 4096-deep chain does not recurse. */
	while (n) {
		if (dec_unless_last(&n->refs))
			return;
		pthread_mutex_t *m = lock_node_stripe(fs->nodes, n);
		if (atomic_fetch_sub(&n->refs, 1) != 1) {
			pthread_mutex_unlock(m);
			return;
		}
		n = free_if_unused_locked(fs, n, m);
	}
}

void node_forget(struct lfs *fs, struct node *n, uint64_t count)
{
	if (n == fs->root || count == 0)
		return;
	if (dec_lookups_unless_last(&n->nlookup, count))
		return;
	pthread_mutex_t *m = lock_node_stripe(fs->nodes, n);
	/* A compare-and-swap, though under the stripe lock: a lookup that
	 * holds a reference counts its reply (node_lookup_inc) without
	 * that lock.  A plain store here undid such a count made between
	 * its load and it, when the kernel forgot an inode while looking
	 * the name up again: the node was freed while the kernel still
	 * knew it, and its next FORGET read freed memory (ThreadSanitizer,
	 * udba=reval, whose zero entry timeout makes the kernel forget
	 * each file right after its lookup). */
	unsigned v = atomic_load(&n->nlookup), left;
	do {
		if (v == NLOOKUP_PINNED) {
			pthread_mutex_unlock(m);
			return;
		}
		left = v > count ? (unsigned)(v - count) : 0;
	} while (!atomic_compare_exchange_weak(&n->nlookup, &v, left));
	if (left > 0) {
		pthread_mutex_unlock(m);
		return;
	}
	struct node *parent = free_if_unused_locked(fs, n, m);
	if (parent)
		node_unref(fs, parent);
}

void node_unhash(struct lfs *fs, struct node *n)
{
	/* The ext carries the orphan-list links; without memory for it the
	 * node stays hashed, which only costs a stale name. */
	if (!node_ext(n))
		return;
	pthread_mutex_t *m = lock_node_stripe(fs->nodes, n);
	if (!(node_flags(n) & N_UNHASHED)) {
		unlink_from_bucket(fs->nodes, n);
		node_set_flag(n, N_UNHASHED);
		/* Under the stripe lock, as node_move takes the node off the
		 * orphan list: a move right after the flag is set must find
		 * the node listed, or it would stay listed once hashed again
		 * (and once freed). */
		orphan_list(fs->nodes, n);
	}
	pthread_mutex_unlock(m);
}

void node_keep_orphan_fd(struct node *n, int fd)
{
	if (fd < 0)
		return;
	struct node_ext *e = node_ext(n);
	int none = -1;
	/* Two names of one inode may go at once: one fd is kept. */
	if (!e || !__atomic_compare_exchange_n(&e->orphan_fd, &none, fd, false,
					       __ATOMIC_RELEASE,
					       __ATOMIC_RELAXED))
		close(fd);
}

static void lock_two(struct node_table *t, uint32_t h1, uint32_t h2,
		     pthread_mutex_t **a, pthread_mutex_t **b)
{
	pthread_mutex_t *m1 = stripe_of(t, h1), *m2 = stripe_of(t, h2);
	if (m1 == m2) {
		pthread_mutex_lock(m1);
		*a = m1;
		*b = NULL;
		return;
	}
	if (m1 > m2) {
		pthread_mutex_t *x = m1;
		m1 = m2;
		m2 = x;
	}
	pthread_mutex_lock(m1);
	pthread_mutex_lock(m2);
	*a = m1;
	*b = m2;
}

static int set_name(struct node *n, const char *name, size_t len)
{
	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	if (len <= n->inline_cap) {
		if (node_flags(n) & N_NAME_HEAP) {
			free((char *)node_name(n));
			node_clear_flag(n, N_NAME_HEAP);
		}
		memcpy(n->inline_name, name, len + 1);
	} else {
		char *c = strndup(name, len);
		if (!c)
			return -ENOMEM;
		if (node_flags(n) & N_NAME_HEAP)
			free((char *)node_name(n));
		memcpy(n->inline_name, &c, sizeof(c));
		node_set_flag(n, N_NAME_HEAP);
	}
	n->namelen = (uint8_t)len;
	return 0;
}

int node_move(struct lfs *fs, struct node *n, struct node *newparent,
	      const char *newname)
{
	struct node_table *t = fs->nodes;
	size_t len = strlen(newname);
	uint32_t nh = name_hash(newparent, newname, len);
	/* set_name may write into inline storage that a reader of the old
	 * name could see; callers hold ns_lock exclusively, so no path is
	 * being built now. */
	pthread_mutex_t *a, *b;
	uint32_t oh;
	for (;;) {
		oh = __atomic_load_n(&n->hash, __ATOMIC_ACQUIRE);
		lock_two(t, oh, nh, &a, &b);
		if (__atomic_load_n(&n->hash, __ATOMIC_ACQUIRE) == oh)
			break;
		if (b)
			pthread_mutex_unlock(b);
		pthread_mutex_unlock(a);
	}
	bool hashed = !(node_flags(n) & N_UNHASHED);
	if (hashed)
		unlink_from_bucket(t, n);
	else if (n->ext)
		orphan_unlist(t, n);
	struct node *oldparent = n->parent;
	int r = set_name(n, newname, len);
	if (r == 0) {
		n->parent = newparent;
		__atomic_store_n(&n->hash, nh, __ATOMIC_RELEASE);
	}
	if (hashed || r == 0) {
		struct node **bucket = &t->buckets[n->hash & t->mask];
		n->hnext = *bucket;
		*bucket = n;
		atomic_fetch_add(&t->count, 1);
		node_clear_flag(n, N_UNHASHED);
	}
	if (b)
		pthread_mutex_unlock(b);
	pthread_mutex_unlock(a);
	if (r < 0)
		return r;
	if (oldparent != newparent) {
		node_ref(newparent);
		node_unref(fs, oldparent);
	}
	return 0;
}

int node_exchange(struct lfs *fs, struct node *x, struct node *y)
{
	/* Copy both names first: moving x onto y's name overwrites it. */
	char *xname = strdup(node_name(x)), *yname = strdup(node_name(y));
	if (!xname || !yname) {
		free(xname);
		free(yname);
		return -ENOMEM;
	}
	struct node *xp = x->parent, *yp = y->parent;
	node_ref(xp);
	node_ref(yp);
	node_unhash(fs, y);
	int r = node_move(fs, x, yp, yname);
	if (r == 0)
		r = node_move(fs, y, xp, xname);
	node_unref(fs, xp);
	node_unref(fs, yp);
	free(xname);
	free(yname);
	return r;
}

struct node_ext *node_ext(struct node *n)
{
	if (!__atomic_load_n(&n->ext, __ATOMIC_ACQUIRE)) {
		struct node_ext *e = calloc(1, sizeof(*e));
		if (!e)
			return NULL;
		e->orphan_fd = -1;
		e->data_layer = -1;
		e->data_blocks = -1;
		struct node_ext *expected = NULL;
		if (!__atomic_compare_exchange_n(&n->ext, &expected, e, false,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			free(e);
	}
	return __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
}

/* A node that lost its name while still open, or linked under another
 * name, is reached through its orphan fd (dir.c keeps one). */
static int orphan_fd(struct node *n)
{
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (!(node_flags(n) & N_UNHASHED) || !e)
		return -1;
	return __atomic_load_n(&e->orphan_fd, __ATOMIC_ACQUIRE);
}

/* A lower hard link whose inode was copied up lives in the index. */
static bool in_index_only(struct lfs *fs, struct node *n, int layer)
{
	return layer == fs->upper && (node_flags(n) & N_IDX_ALIAS) && n->ext;
}

/*
 * Where a redirected directory is found in a layer below the upper one,
 * a path from the root as it is in layer *origin: the deepest kernel
 * redirect above that layer, else this mount's own redirect, else NULL
 * (by its name).
 */
static const char *redirect_from(struct lfs *fs, struct node *n, int layer,
				 int *origin)
{
	/* Any node may get its extras meanwhile (node_ext publishes them):
	 * read once, with acquire; the redirects in them change under
	 * ns_lock, which callers hold. */
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (lfs_is_upper(fs, layer) || !e)
		return NULL;
	for (uint16_t i = e->nlredirs; i-- > 0;)
		if (e->lredirs[i].layer < layer) {
			*origin = e->lredirs[i].layer + 1;
			return e->lredirs[i].value;
		}
	if (!(node_flags(n) & N_REDIRECT) || !e->redirect)
		return NULL;
	*origin = lfs_below_upper(fs);
	return e->redirect;
}

static const char *redirect_below(struct lfs *fs, struct node *n, int layer)
{
	int origin;
	return redirect_from(fs, n, layer, &origin);
}

/* An absolute redirect's path in `layer`: it names the path in the
 * layer below the one holding it, and directories kernel overlayfs
 * renamed on the way lead it elsewhere further down. */
static char *redirect_at(struct lfs *fs, struct node *n, int layer)
{
	int origin = 0;
	const char *r = redirect_from(fs, n, layer, &origin);
	return r ? redirect_translate(fs, r, origin, layer) : NULL;
}

char *node_lower_path(struct lfs *fs, struct node *n, int layer)
{
	/* Up to the root, or to an ancestor whose redirect gives the path
	 * from the layer's root: the length first, then the names from the
	 * end (a hostile tree may be thousands of levels deep). */
	char *prefix = NULL;
	struct node *top = NULL; /* that ancestor, or NULL for the root */
	size_t total = 0;
	for (struct node *p = n; !(node_flags(p) & N_ROOT); p = p->parent) {
		if (redirect_below(fs, p, layer)) {
			prefix = redirect_at(fs, p, layer);
			if (!prefix)
				return NULL;
			top = p;
			break;
		}
		total += p->namelen + 1u;
	}
	if (!prefix && !total)
		return strdup("/"); /* the root */
	size_t head = prefix ? strlen(prefix) + 1 : 0; /* "/" and prefix */
	char *buf = malloc(head + total + 1);
	if (!buf) {
		free(prefix);
		return NULL;
	}
	size_t pos = head + total;
	buf[pos] = 0;
	for (struct node *p = n; p != top && !(node_flags(p) & N_ROOT);
	     p = p->parent) {
		pos -= p->namelen;
		memcpy(buf + pos, node_name(p), p->namelen);
		buf[--pos] = '/';
	}
	if (prefix) {
		buf[0] = '/';
		memcpy(buf + 1, prefix, head - 1);
	}
	free(prefix);
	return buf;
}

int node_add_lower_redirect(struct lfs *fs, struct node *n, int layer,
			    char *value)
{
	struct node_ext *e = node_ext(n);
	if (!e) {
		free(value);
		return -ENOMEM;
	}
	int r = 0;
	pthread_rwlock_wrlock(&fs->ns_lock);
	uint16_t i = 0;
	while (i < e->nlredirs && e->lredirs[i].layer < layer)
		i++;
	if (i < e->nlredirs && e->lredirs[i].layer == layer) {
		/* Read again with the listing: the same, lower layers being
		 * still. */
		free(e->lredirs[i].value);
		e->lredirs[i].value = value;
	} else {
		struct lower_redirect *v = realloc(
			e->lredirs, (e->nlredirs + 1u) * sizeof(*v));
		if (!v) {
			free(value);
			r = -ENOMEM;
		} else {
			memmove(v + i + 1, v + i,
				(e->nlredirs - i) * sizeof(*v));
			v[i] = (struct lower_redirect){ (uint16_t)layer, value };
			e->lredirs = v;
			e->nlredirs++;
		}
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	return r;
}

bool node_below_lower_redirect(struct node *n)
{
	for (struct node *p = n; p && !(node_flags(p) & N_ROOT); p = p->parent) {
		struct node_ext *e = __atomic_load_n(&p->ext, __ATOMIC_ACQUIRE);
		if (e && e->nlredirs)
			return true;
	}
	return false;
}

/*
 * A node removed from its name (unlink, or a rename onto the name) that
 * kept no fd to its inode has nothing left to reach by name: the name
 * now holds another file, a whiteout, or nothing.  The kernel may still
 * send requests for it (a stat or an open racing the removal): they
 * find the file gone, as they would a moment later.
 */
static bool name_lost(struct node *n)
{
	return node_flags(n) & N_UNHASHED;
}

/* What reaching n by its lost name answers.  udba=reval: a file whose
 * name another took behind the mount answers ESTALE, on which the
 * kernel looks the name it holds up again (as after a rename through
 * the mount right after the replacement moved its entry); ENOENT would
 * say the name is gone. */
static int lost_name_error(struct node *n)
{
	return (node_flags(n) & N_REPLACED) ? -ESTALE : -ENOENT;
}

/*
 * Whether st, found at n's name, is the 0/0 device of an overlay-format
 * whiteout that took the place of n: a rename or unlink has changed the
 * upper layer and not yet n's name (ns_lock is held only for the latter,
 * so that the disk work never stalls lookups).  n is then gone from that
 * name, as with `.wh.` whiteouts, where the name is simply empty.
 */
static bool whiteout_in_place(const struct node *n, const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0 &&
	       !S_ISCHR(n->mode);
}

/*
 * node_open and dirfd_acquire call each other up the path while the
 * parent's fd is not cached: ns_lock is read-locked once, by the
 * outermost call, not once per level (a deep tree would nest the lock
 * hundreds of times).
 */
static __thread unsigned ns_read_depth;

/* node_names_moving's marks, and the requests waiting for them to go. */
static pthread_mutex_t moving_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t moving_done = PTHREAD_COND_INITIALIZER;

/* A wait for one rename, which has its locks already and needs only
 * ns_lock, never held here: milliseconds at worst.  The limit only
 * keeps a mistake from hanging a request; then it goes on by name, as
 * before the marks. */
#define MOVING_WAIT_MAX_SECONDS 2

void node_names_moving(struct lfs *fs, struct node *a, struct node *b)
{
	bool ma = a && !node_is_dir(a), mb = b && !node_is_dir(b);
	if (!ma && !mb)
		return;
	pthread_rwlock_wrlock(&fs->ns_lock);
	if (ma)
		node_set_flag(a, N_MOVING);
	if (mb)
		node_set_flag(b, N_MOVING);
	pthread_rwlock_unlock(&fs->ns_lock);
}

void node_names_moved(struct node *a, struct node *b)
{
	bool ma = a && (node_flags(a) & N_MOVING),
	     mb = b && (node_flags(b) & N_MOVING);
	if (!ma && !mb)
		return;
	if (ma)
		node_clear_flag(a, N_MOVING);
	if (mb)
		node_clear_flag(b, N_MOVING);
	pthread_mutex_lock(&moving_lock);
	pthread_cond_broadcast(&moving_done);
	pthread_mutex_unlock(&moving_lock);
}

/* Whether a request that reads n's name in `layer` under ns_lock, just
 * taken, must let it go and wait for a rename (node.h): only the upper
 * layer's names move, and a request nested in another's hold of the
 * lock cannot let it go (a directory's, which no mark concerns). */
static bool must_await_move(struct lfs *fs, struct node *n, int layer,
			    unsigned depth)
{
	return (node_flags(n) & N_MOVING) && lfs_is_upper(fs, layer) &&
	       depth == 0;
}

/* Waits, holding no ns_lock, until n's rename has moved its node. */
static void await_move(struct node *n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += MOVING_WAIT_MAX_SECONDS;
	pthread_mutex_lock(&moving_lock);
	while ((node_flags(n) & N_MOVING) &&
	       pthread_cond_timedwait(&moving_done, &moving_lock, &until) !=
		       ETIMEDOUT)
		;
	pthread_mutex_unlock(&moving_lock);
}

int node_parent_fd(struct lfs *fs, struct node *n, int layer, char *name)
{
	/* Only the root has no parent. */
	if (node_flags(n) & N_ROOT)
		return -EINVAL;
	/* The name and the parent are read under ns_lock, held until the
	 * caller's *at() call is done (node_parent_fd_done), so a concurrent
	 * rename cannot move either meanwhile. */
	for (;;) {
		if (name_lost(n))
			return lost_name_error(n);
		unsigned depth = ns_read_depth;
		pthread_rwlock_rdlock(&fs->ns_lock);
		if (!must_await_move(fs, n, layer, depth))
			break;
		pthread_rwlock_unlock(&fs->ns_lock);
		await_move(n);
	}
	memcpy(name, node_name(n), n->namelen + 1u);
	int fd = dirfd_acquire(fs, n->parent, layer);
	if (fd < 0)
		pthread_rwlock_unlock(&fs->ns_lock);
	return fd;
}

void node_parent_fd_done(struct lfs *fs, int fd)
{
	dirfd_release(fd);
	pthread_rwlock_unlock(&fs->ns_lock);
}

/* An open of a file that was not a fifo or a device when n was made,
 * which with udba=reval the host may have swapped for one: the open
 * would wait for a writer for good, or open a driver. */
static bool kind_may_have_changed(struct lfs *fs, struct node *n, int layer,
				  int flags)
{
	mode_t kind = n->mode & S_IFMT;
	return fs->opt->udba_reval && !lfs_is_upper(fs, layer) &&
	       !(flags & O_PATH) && kind != S_IFIFO && kind != S_IFCHR &&
	       kind != S_IFBLK;
}

/* Its kind checked first through an O_PATH descriptor, which opens no
 * driver and waits for no writer (ESTALE for another kind, as udba.h
 * answers one), then that same inode opened with the caller's flags. */
static int open_same_kind(struct node *n, int pfd, int flags)
{
	int path_fd = openat(pfd, node_name(n), O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (path_fd < 0)
		return -errno;
	struct stat st;
	int r;
	if (fstat(path_fd, &st) < 0)
		r = -errno;
	else if ((st.st_mode & S_IFMT) != (n->mode & S_IFMT))
		r = -ESTALE;
	else
		r = sp_reopen(path_fd, flags);
	close(path_fd);
	return r;
}

/* n in its parent's directory pfd: one openat that never follows a
 * symlink.  Under ns_lock. */
static int open_in_parent(struct lfs *fs, struct node *n, int layer, int pfd,
			  int flags)
{
	const char *name = node_name(n);
	int fd;
	if (kind_may_have_changed(fs, n, layer, flags))
		fd = open_same_kind(n, pfd, flags);
	else if ((fd = openat(pfd, name, flags | O_NOFOLLOW | O_CLOEXEC)) < 0)
		fd = -errno;
	/* A whiteout device refuses the open (mode 0, no driver). */
	struct stat st;
	if ((fd == -ENXIO || fd == -EACCES) &&
	    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    whiteout_in_place(n, &st))
		fd = -ENOENT;
	return fd;
}

static void ns_read_lock(struct lfs *fs)
{
	if (ns_read_depth++ == 0)
		pthread_rwlock_rdlock(&fs->ns_lock);
}

static void ns_read_unlock(struct lfs *fs)
{
	if (--ns_read_depth == 0)
		pthread_rwlock_unlock(&fs->ns_lock);
}

/*
 * The fd dir.c kept of n when a removal of its name through the mount
 * (unlink, rename onto it) began, if r, what reaching n in `layer` by
 * its name answered, says that the name went: after n was unhashed (the
 * lost name's error), or before (ENOENT, the name already gone from the
 * disk).  Else -1.
 */
static int removed_fd(struct node *n, int layer, int r)
{
	bool went = (node_flags(n) & N_UNHASHED)
			    ? r == -ENOENT || r == -ESTALE
			    : r == -ENOENT && layer == node_layer(n);
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	return went && e ? __atomic_load_n(&e->orphan_fd, __ATOMIC_ACQUIRE)
			 : -1;
}

int node_open(struct lfs *fs, struct node *n, int layer, int flags)
{
	int fd;
again:;
	/* Unlinked while open: the file itself, before its index entry,
	 * which went with its last link. */
	int ofd = orphan_fd(n);
	if (ofd >= 0)
		return sp_reopen(ofd, flags);
	if (in_index_only(fs, n, layer)) {
		fd = openat(fs->index_fd, n->ext->index_key,
			    flags | O_NOFOLLOW | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	if (node_flags(n) & N_ROOT) {
		fd = openat(fs->layers[layer].fd, ".", flags | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	if (name_lost(n))
		return lost_name_error(n);
	unsigned depth = ns_read_depth;
	ns_read_lock(fs);
	if (must_await_move(fs, n, layer, depth)) {
		/* Once moved, a replaced file is unhashed: above. */
		ns_read_unlock(fs);
		await_move(n);
		goto again;
	}
	if (redirect_below(fs, n, layer)) {
		char *path = redirect_at(fs, n, layer);
		fd = path ? sp_open_beneath(fs->layers[layer].fd, path, flags, 0)
			  : -ENOMEM;
		free(path);
	} else {
		/* The parent's directory fd (usually cached), then n in it. */
		int pfd = dirfd_acquire(fs, n->parent, layer);
		fd = pfd < 0 ? pfd : open_in_parent(fs, n, layer, pfd, flags);
		if (pfd >= 0)
			dirfd_release(pfd);
	}
	ns_read_unlock(fs);
	int kept = removed_fd(n, layer, fd);
	return kept >= 0 ? sp_reopen(kept, flags) : fd;
}

/* Whether node_open reaches n in `layer` without its parent's fd. */
static bool opens_alone(struct lfs *fs, struct node *n, int layer)
{
	return in_index_only(fs, n, layer) || (node_flags(n) & N_ROOT) ||
	       orphan_fd(n) >= 0 || name_lost(n) || redirect_below(fs, n, layer);
}

/* The directory below[0] in layer, whose ancestors up to the directory
 * open as base are below[1..depth-1] (the nearest first): one openat
 * where it is base's child, else one open of the path of their names,
 * which follows no symlink (the walk by components would have stopped
 * at one with ENOTDIR, as this says too).  Under ns_lock. */
static int open_names_below(struct lfs *fs, int base, struct node **below,
			    size_t depth, int layer)
{
	if (depth == 1)
		return open_in_parent(fs, below[0], layer, base,
				      O_PATH | O_DIRECTORY);
	size_t len = 0;
	for (size_t i = 0; i < depth; i++)
		len += below[i]->namelen + 1u;
	char stack_path[512];
	char *path = len <= sizeof(stack_path) ? stack_path : malloc(len);
	if (!path)
		return -ENOMEM;
	char *p = path;
	for (size_t i = depth; i-- > 0;) {
		memcpy(p, node_name(below[i]), below[i]->namelen);
		p += below[i]->namelen;
		*p++ = i ? '/' : 0;
	}
	int fd = sp_open_beneath(base, path, O_PATH | O_DIRECTORY, 0);
	if (path != stack_path)
		free(path);
	return fd == -ELOOP ? -ENOTDIR : fd;
}

/* node_walk_to_dir's one try, from the cache's state at.  A retry
 * looks for dir in the cache first: another worker may have opened it
 * meanwhile (the first try comes straight from a miss). */
static int walk_to_dir(struct lfs *fs, struct node *dir, int layer,
		       struct dirfd_stamp at, bool retry)
{
	ns_read_lock(fs);
	int fd = retry ? dirfd_find(dir, layer) : -1;
	/* Going up a tree: from a cached subdirectory (dirfd_cache.h). */
	if (fd < 0 && !opens_alone(fs, dir, layer))
		fd = dirfd_climb(fs, dir, layer, at);
	if (fd >= 0) {
		ns_read_unlock(fs);
		return fd;
	}
	/* Up to the nearest ancestor that is cached or opens alone (most
	 * often the parent: a few levels fit on the stack)... */
	struct node *near[32];
	size_t depth = 0, cap = sizeof(near) / sizeof(near[0]);
	struct node **below = near;
	fd = -ENOMEM;
	for (struct node *p = dir;; p = p->parent) {
		if (p != dir && (fd = dirfd_find(p, layer)) >= 0)
			break;
		if (opens_alone(fs, p, layer)) {
			fd = node_open(fs, p, layer, O_PATH | O_DIRECTORY);
			if (fd >= 0)
				fd = dirfd_keep(fs, p, layer, fd, at);
			break;
		}
		if (depth == cap) {
			struct node **b = malloc(2 * cap * sizeof(*b));
			if (!b) {
				fd = -ENOMEM;
				break;
			}
			memcpy(b, below, cap * sizeof(*b));
			if (below != near)
				free(below);
			below = b;
			cap *= 2;
		}
		below[depth++] = p;
	}
	/* ...then the names below it, in one open; only dir is kept. */
	if (fd >= 0 && depth > 0) {
		int base = fd;
		fd = open_names_below(fs, base, below, depth, layer);
		dirfd_release(base);
		if (fd >= 0)
			fd = dirfd_keep(fs, dir, layer, fd, at);
	}
	if (below != near)
		free(below);
	ns_read_unlock(fs);
	return fd;
}

/* Walks again after a rename moved a directory meanwhile (see
 * dirfd_cache.h): a few times, not waiting for renames to end, which
 * may need what the caller holds (a directory's lock, its listing). */
#define WALK_TRIES 8

int node_walk_to_dir(struct lfs *fs, struct node *dir, int layer)
{
	/* Cached, most often. */
	ns_read_lock(fs);
	int cached = dirfd_find(dir, layer);
	ns_read_unlock(fs);
	if (cached >= 0)
		return cached;
	for (int tries = 1;; tries++) {
		struct dirfd_stamp at = dirfd_stamp();
		int fd = walk_to_dir(fs, dir, layer, at, tries > 1);
		if (dirfd_unmoved_since(at) || tries == WALK_TRIES)
			return fd;
		if (fd >= 0)
			dirfd_release(fd);
		sched_yield();
	}
}

int node_open_noatime(struct lfs *fs, struct node *n, int layer, int flags)
{
	int fd = node_open(fs, n, layer, flags | O_NOATIME);
	if (fd == -EPERM)
		fd = node_open(fs, n, layer, flags & ~O_NOATIME);
	return fd;
}

bool node_reached_by_name(struct lfs *fs, struct node *n, int layer)
{
	return !(node_flags(n) & N_ROOT) && orphan_fd(n) < 0 &&
	       !in_index_only(fs, n, layer) && !redirect_below(fs, n, layer);
}

bool node_name_went(struct node *n, int layer, int r)
{
	return removed_fd(n, layer, r) >= 0;
}

int node_lstat(struct lfs *fs, struct node *n, int layer, struct stat *st)
{
	if (node_flags(n) & N_ROOT)
		return fstat(fs->layers[layer].fd, st) < 0 ? -errno : 0;
	int ofd = orphan_fd(n);
	if (ofd >= 0)
		return fstat(ofd, st) < 0 ? -errno : 0;
	if (in_index_only(fs, n, layer))
		return fstatat(fs->index_fd, n->ext->index_key, st,
			       AT_SYMLINK_NOFOLLOW) < 0
			       ? -errno
			       : 0;
	if (redirect_below(fs, n, layer)) {
		int fd = node_open(fs, n, layer, O_PATH);
		if (fd < 0)
			return fd;
		int r = fstat(fd, st) < 0 ? -errno : 0;
		close(fd);
		return r;
	}
	char name[NAME_MAX + 1];
	int dfd = node_parent_fd(fs, n, layer, name);
	int r = dfd;
	if (dfd >= 0) {
		r = fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno
								    : 0;
		node_parent_fd_done(fs, dfd);
		if (r == 0 && whiteout_in_place(n, st))
			r = -ENOENT;
	}
	/* The name went while this looked (a lookup's stat of a name being
	 * replaced, an fstat(2) of the open file racing its unlink, got
	 * ENOENT): the file is stat'ed as node_open opens it. */
	int kept = removed_fd(n, layer, r);
	if (kept >= 0)
		r = fstat(kept, st) < 0 ? -errno : 0;
	return r;
}

size_t node_count(struct lfs *fs)
{
	return atomic_load(&fs->nodes->count);
}
