#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "caps_killed.h"
#include "dcache.h"
#include "dirfd_cache.h"
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
	/* Up to the last node only: reading every bucket faulted in
	 * pages no node had used as the daemon exited (with the shared
	 * fds' table, 0.9 ms of a fresh mount's exit on a 2-CPU VM). */
	size_t left = atomic_load(&t->count);
	for (size_t b = 0; left > 0 && b <= t->mask; b++) {
		struct node *n = t->buckets[b];
		while (n) {
			struct node *next = n->hnext;
			if (n != fs->root)
				node_free_memory(n);
			left--;
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

size_t node_count(struct lfs *fs)
{
	return atomic_load(&fs->nodes->count);
}
