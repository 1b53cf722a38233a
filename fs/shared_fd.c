#include "shared_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metacopy.h"
#include "node_reach.h"

/* One table for the mount, keyed by node address, under one mutex: it
 * is held for a lookup, never across a system call that opens. */
enum { NBUCKETS = 4096 };
static struct shared_fd *buckets[NBUCKETS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned cached, capacity, clock_hand;

static unsigned bucket_of(const struct node *n)
{
	uintptr_t p = (uintptr_t)n;
	return (unsigned)((p >> 4) ^ (p >> 16)) & (NBUCKETS - 1);
}

/* Up to a quarter of the fd limit (which main raises to its maximum),
 * at most 16384: the rest is for directory fds and copy-ups. */
static unsigned cache_capacity(void)
{
	struct rlimit rl;
	rlim_t lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
	if (lim == RLIM_INFINITY || lim > 65536)
		lim = 65536;
	unsigned cap = (unsigned)(lim / 4);
	return cap < 64 ? 64 : cap;
}

void shared_fd_put(struct shared_fd *s)
{
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) ==
	    1) {
		close(s->fd);
		free(s);
	}
}

static struct shared_fd *find_locked(struct node *n)
{
	for (struct shared_fd *s = buckets[bucket_of(n)]; s; s = s->hnext)
		if (s->node == n)
			return s;
	return NULL;
}

/* Takes s out of the table; the cache's reference goes to the caller. */
static void unlink_locked(struct shared_fd *s)
{
	struct shared_fd **pp = &buckets[bucket_of(s->node)];
	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	s->hnext = NULL;
	cached--;
}

/* Closes idle fds until the cache is under capacity again: a clock over
 * the buckets, sparing entries used since its last pass. */
static struct shared_fd *evict_locked(void)
{
	struct shared_fd *victims = NULL;
	for (unsigned scanned = 0; cached > capacity && scanned < 2 * NBUCKETS;
	     scanned++) {
		unsigned b = clock_hand++ & (NBUCKETS - 1);
		struct shared_fd **pp = &buckets[b];
		while (*pp && cached > capacity) {
			struct shared_fd *s = *pp;
			if (atomic_exchange(&s->used, false)) {
				pp = &s->hnext;
				continue;
			}
			*pp = s->hnext;
			cached--;
			node_clear_flag(s->node, N_SHARED_FD);
			s->hnext = victims;
			victims = s;
		}
	}
	return victims;
}

int shared_fd_get(struct lfs *fs, struct node *n, struct shared_fd **out)
{
	pthread_mutex_lock(&table_lock);
	struct shared_fd *s = find_locked(n);
	if (s) {
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
		atomic_store_explicit(&s->used, true, memory_order_relaxed);
		pthread_mutex_unlock(&table_lock);
		*out = s;
		return 0;
	}
	pthread_mutex_unlock(&table_lock);

	/* Lower layers never change: an fd, once open, serves every
	 * request.  A kernel metadata-only copy's data is below it. */
	int fd = (node_flags(n) & N_METACOPY)
			 ? metacopy_open_data(fs, n, O_RDONLY | O_NOATIME)
			 : node_open_noatime(fs, n, node_layer(n), O_RDONLY);
	if (fd < 0)
		return fd;
	struct shared_fd *fresh = calloc(1, sizeof(*fresh));
	if (!fresh) {
		close(fd);
		return -ENOMEM;
	}
	fresh->fd = fd;
	fresh->node = n;
	atomic_init(&fresh->refs, 2); /* the cache's and the caller's */
	atomic_init(&fresh->used, true);

	struct shared_fd *victims = NULL;
	pthread_mutex_lock(&table_lock);
	if (!capacity)
		capacity = cache_capacity();
	s = find_locked(n);
	if (s) {
		/* Another request opened it meanwhile. */
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
		pthread_mutex_unlock(&table_lock);
		close(fd);
		free(fresh);
		*out = s;
		return 0;
	}
	unsigned b = bucket_of(n);
	fresh->hnext = buckets[b];
	buckets[b] = fresh;
	cached++;
	node_set_flag(n, N_SHARED_FD);
	if (cached > capacity)
		victims = evict_locked();
	pthread_mutex_unlock(&table_lock);
	while (victims) {
		struct shared_fd *next = victims->hnext;
		shared_fd_put(victims);
		victims = next;
	}
	*out = fresh;
	return 0;
}

void shared_fd_forget(struct node *n)
{
	if (!(node_flags(n) & N_SHARED_FD))
		return;
	pthread_mutex_lock(&table_lock);
	struct shared_fd *s = find_locked(n);
	if (s)
		unlink_locked(s);
	node_clear_flag(n, N_SHARED_FD);
	pthread_mutex_unlock(&table_lock);
	if (s)
		shared_fd_put(s);
}

void shared_fd_close_all(void)
{
	pthread_mutex_lock(&table_lock);
	/* Only the buckets in use are written: the daemon's exit would
	 * otherwise fault in every page of the table. */
	for (unsigned b = 0; cached > 0 && b < NBUCKETS; b++) {
		struct shared_fd *s = buckets[b];
		if (!s)
			continue;
		buckets[b] = NULL;
		while (s) {
			struct shared_fd *next = s->hnext;
			s->hnext = NULL;
			shared_fd_put(s);
			s = next;
		}
	}
	cached = 0;
	pthread_mutex_unlock(&table_lock);
}
