#include "dcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "dgap.h"
#include "lf_common.h"
#include "node.h"
#include "redirect.h"
#include "safe_path.h"
#include "udba.h"
#include "xattr_private.h"

/* ---- directory locks ---------------------------------------------- */

#define NDIRLOCKS 512u
static pthread_rwlock_t dir_locks[NDIRLOCKS];

void dir_lock_init(void)
{
	for (unsigned i = 0; i < NDIRLOCKS; i++)
		pthread_rwlock_init(&dir_locks[i], NULL);
}

static unsigned lock_index(const struct node *dir)
{
	uintptr_t p = (uintptr_t)dir;
	return (unsigned)((p >> 4) ^ (p >> 13)) % NDIRLOCKS;
}

void dir_rdlock(struct node *dir)
{
	pthread_rwlock_rdlock(&dir_locks[lock_index(dir)]);
}

bool dir_tryrdlock(struct node *dir)
{
	return pthread_rwlock_tryrdlock(&dir_locks[lock_index(dir)]) == 0;
}

bool dir_same_lock(const struct node *a, const struct node *b)
{
	return lock_index(a) == lock_index(b);
}

void dir_wrlock(struct node *dir)
{
	pthread_rwlock_wrlock(&dir_locks[lock_index(dir)]);
}

void dir_unlock(struct node *dir)
{
	pthread_rwlock_unlock(&dir_locks[lock_index(dir)]);
}

void dir_wrlock_two(struct node *a, struct node *b)
{
	unsigned ia = lock_index(a), ib = lock_index(b);
	if (ia == ib) {
		pthread_rwlock_wrlock(&dir_locks[ia]);
		return;
	}
	if (ia > ib) {
		unsigned t = ia;
		ia = ib;
		ib = t;
	}
	pthread_rwlock_wrlock(&dir_locks[ia]);
	pthread_rwlock_wrlock(&dir_locks[ib]);
}

void dir_unlock_two(struct node *a, struct node *b)
{
	unsigned ia = lock_index(a), ib = lock_index(b);
	pthread_rwlock_unlock(&dir_locks[ia]);
	if (ia != ib)
		pthread_rwlock_unlock(&dir_locks[ib]);
}

/* ---- the listing itself ------------------------------------------- */

/* A slot's index bits while a listing holds fewer than 16 million
 * records.  The other 8 keep the top of the record's hash, which the
 * slot's position does not use while the table has fewer than 2^24
 * slots: a probe tells another name's slot apart by them alone. */
#define SLOT_IDX_MASK 0x00ffffffu

uint32_t dcache_hash(const char *name, size_t len)
{
	return (uint32_t)XXH3_64bits(name, len);
}

struct dcache *dcache_new(void)
{
	struct dcache *dc = calloc(1, sizeof(*dc));
	if (!dc)
		return NULL;
	atomic_init(&dc->refs, 1);
	dc->idx_mask = SLOT_IDX_MASK;
	dc->nslots = 16;
	dc->slots = calloc(dc->nslots, sizeof(uint32_t));
	if (!dc->slots) {
		free(dc);
		return NULL;
	}
	return dc;
}

void dcache_free(struct dcache *dc)
{
	free(dc->recs);
	free(dc->slots);
	free(dc->names);
	free(dc->chain);
	free(dc->gaps);
	udba_free(dc->udba);
	free(dc);
}

void dcache_put(struct dcache *dc)
{
	if (atomic_fetch_sub_explicit(&dc->refs, 1, memory_order_acq_rel) == 1)
		dcache_free(dc);
}

static int grow_slots(struct dcache *dc)
{
	uint32_t ns = dc->nslots * 2;
	uint32_t *s = calloc(ns, sizeof(uint32_t));
	if (!s)
		return -ENOMEM;
	free(dc->slots);
	dc->slots = s;
	dc->nslots = ns;
	dcache_reindex(dc);
	return 0;
}

/* Puts record i, whose hash is h, in the first free slot from its own. */
static void put_slot(struct dcache *dc, uint32_t i, uint32_t h)
{
	uint32_t mask = dc->nslots - 1, k = h & mask;
	while (dc->slots[k])
		k = (k + 1) & mask;
	dc->slots[k] = (h & ~dc->idx_mask) | (i + 1);
}

/* How many records ahead dcache_reindex fetches a slot into the cache:
 * the records are read in order, their slots are anywhere. */
#define REINDEX_PREFETCH 8

void dcache_reindex(struct dcache *dc)
{
	uint32_t mask = dc->nslots - 1;
	memset(dc->slots, 0, dc->nslots * sizeof(uint32_t));
	for (uint32_t i = 0; i < dc->n; i++) {
		if (i + REINDEX_PREFETCH < dc->n)
			__builtin_prefetch(
				&dc->slots[dc->recs[i + REINDEX_PREFETCH].hash &
					   mask],
				1);
		put_slot(dc, i, dc->recs[i].hash);
	}
}

struct drec *dcache_find_len(struct dcache *dc, const char *name, size_t len,
			     uint32_t h)
{
	uint32_t mask = dc->nslots - 1, tag = h & ~dc->idx_mask;
	for (uint32_t k = h & mask;; k = (k + 1) & mask) {
		uint32_t s = dc->slots[k];
		if (!s)
			return NULL;
		if ((s & ~dc->idx_mask) != tag)
			continue;
		struct drec *r = &dc->recs[(s & dc->idx_mask) - 1];
		if (r->hash == h && r->namelen == len &&
		    memcmp(dc->names + r->name_off, name, len) == 0)
			return r;
	}
}

struct drec *dcache_find(struct dcache *dc, const char *name)
{
	size_t len = strlen(name);
	if (len > NAME_MAX)
		return NULL;
	return dcache_find_len(dc, name, len, dcache_hash(name, len));
}

void dcache_shrink_to_fit(struct dcache *dc)
{
	/* Loading doubles the arrays as it goes; a listing of 1000 names
	 * keeps a few KiB of slack otherwise.  Failure only keeps it. */
	if (dc->n > 0 && dc->cap > dc->n) {
		struct drec *nr = realloc(dc->recs, dc->n * sizeof(*nr));
		if (nr) {
			dc->recs = nr;
			dc->cap = dc->n;
		}
	}
	if (dc->names_len > 0 && dc->names_cap > dc->names_len) {
		char *nn = realloc(dc->names, dc->names_len);
		if (nn) {
			dc->names = nn;
			dc->names_cap = dc->names_len;
		}
	}
}

struct drec *dcache_add_raw(struct dcache *dc, const char *name, size_t len,
			    uint32_t h)
{
	if ((dc->n + 1) * 4 > dc->nslots * 3 && grow_slots(dc) < 0)
		return NULL;
	if (dc->n + 1 >= dc->idx_mask) {
		/* As many records as the index bits count: from now on
		 * the slots give all their bits to the index. */
		if (dc->idx_mask == UINT32_MAX)
			return NULL;
		dc->idx_mask = UINT32_MAX;
		dcache_reindex(dc);
	}
	if (dc->n == dc->cap) {
		uint32_t nc = dc->cap ? dc->cap * 2 : 16;
		struct drec *nr = realloc(dc->recs, nc * sizeof(*nr));
		if (!nr)
			return NULL;
		dc->recs = nr;
		dc->cap = nc;
	}
	if (dc->names_len + len + 1 > dc->names_cap) {
		uint32_t nc = dc->names_cap ? dc->names_cap * 2 : 256;
		while (nc < dc->names_len + len + 1)
			nc *= 2;
		char *nn = realloc(dc->names, nc);
		if (!nn)
			return NULL;
		dc->names = nn;
		dc->names_cap = nc;
	}
	struct drec *r = &dc->recs[dc->n];
	memset(r, 0, sizeof(*r));
	r->hash = h;
	r->name_off = dc->names_len;
	r->namelen = (uint8_t)len;
	memcpy(dc->names + dc->names_len, name, len);
	dc->names[dc->names_len + len] = 0;
	dc->names_len += (uint32_t)len + 1;
	put_slot(dc, dc->n, h);
	dc->n++;
	return r;
}

/* A removed name that tells nothing: no layer below shows it, and no
 * whiteout hides it (counted in ndead). */
static bool drec_dead(const struct drec *r)
{
	return (r->flags & R_HIDDEN) &&
	       !(r->flags & (R_BELOW | R_WH_UPPER | R_LCLOSED));
}

static void account_growth(struct dcache *dc);

int dcache_add(struct dcache *dc, const char *name, uint16_t layer,
	       uint8_t dtype, uint64_t ino, uint8_t flags)
{
	size_t len = strlen(name);
	uint32_t h = dcache_hash(name, len);
	struct drec *r = dcache_find_len(dc, name, len, h);
	bool was_visible = r && drec_visible(r);
	if (!r) {
		r = dcache_add_raw(dc, name, len, h);
		if (!r)
			return -ENOMEM;
		account_growth(dc);
	} else {
		if (drec_dead(r))
			dc->ndead--;
		/* Keep what we know about lower layers; the rest is new. */
		flags |= r->flags & (R_BELOW | R_LCLOSED);
	}
	r->layer = layer;
	r->end = (uint16_t)(layer + 1);
	r->dtype = dtype;
	r->ino = ino;
	r->flags = flags | R_CLOSED;
	if (!was_visible && drec_visible(r))
		dc->nvisible++;
	return 0;
}

void dcache_hide(struct dcache *dc, struct drec *r, bool whiteout_in_upper)
{
	if (drec_visible(r))
		dc->nvisible--;
	bool was_dead = drec_dead(r);
	r->flags = (uint8_t)((r->flags & (R_BELOW | R_LCLOSED)) | R_HIDDEN |
			     R_CLOSED | (whiteout_in_upper ? R_WH_UPPER : 0));
	r->ino = 0;
	if (drec_dead(r) && !was_dead)
		dc->ndead++;
}

int dcache_chain_append(struct dcache *dc, uint16_t layer)
{
	uint16_t *nc = realloc(dc->chain, (dc->nchain + 1u) * sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	nc[dc->nchain++] = layer;
	dc->chain = nc;
	return 0;
}

void dcache_chain_push_top(struct dcache *dc, uint16_t layer)
{
	if (dc->nchain && dc->chain[0] == layer)
		return;
	uint16_t *nc = realloc(dc->chain, (dc->nchain + 1u) * sizeof(*nc));
	if (!nc)
		return; /* the next reload will see it */
	memmove(nc + 1, nc, dc->nchain * sizeof(*nc));
	nc[0] = layer;
	dc->chain = nc;
	dc->nchain++;
}

/* ---- the budget --------------------------------------------------- */

static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dcache *clock_head; /* circular list */
static size_t nlistings;           /* on it */
static size_t total_bytes;
static size_t budget_bytes = 64u << 20;

void dcache_set_budget(size_t bytes)
{
	budget_bytes = bytes;
}

size_t dcache_total_bytes(void)
{
	pthread_mutex_lock(&budget_lock);
	size_t b = total_bytes;
	pthread_mutex_unlock(&budget_lock);
	return b;
}

static size_t dcache_bytes(const struct dcache *dc)
{
	return sizeof(*dc) + dc->cap * sizeof(struct drec) +
	       dc->nslots * sizeof(uint32_t) + dc->names_cap +
	       dc->nchain * sizeof(uint16_t) +
	       dc->gaps_cap * sizeof(struct dgap) + udba_bytes(dc->udba);
}

static void clock_unlink_locked(struct dcache *dc)
{
	if (!dc->lru_next)
		return;
	if (dc->lru_next == dc) {
		clock_head = NULL;
	} else {
		dc->lru_prev->lru_next = dc->lru_next;
		dc->lru_next->lru_prev = dc->lru_prev;
		if (clock_head == dc)
			clock_head = dc->lru_next;
	}
	dc->lru_next = dc->lru_prev = NULL;
	total_bytes -= dc->bytes;
	nlistings--;
}

static void clock_link_locked(struct dcache *dc)
{
	if (!clock_head) {
		dc->lru_next = dc->lru_prev = dc;
		clock_head = dc;
	} else {
		dc->lru_next = clock_head;
		dc->lru_prev = clock_head->lru_prev;
		clock_head->lru_prev->lru_next = dc;
		clock_head->lru_prev = dc;
	}
	total_bytes += dc->bytes;
	nlistings++;
}

/*
 * Drops listings not used since the clock hand last passed them until
 * the total fits the budget.  The hand goes round once at most: a
 * listing it finds used is spared until its next pass, not dropped on
 * the same one.  A listing bigger than the budget, in use all along
 * (`find` going through the subdirectories of a directory of a million
 * names), stays then, where the hand coming round again would drop it
 * for every listing loaded beside it, to be read again at the next
 * name.  What stays over the budget is what was used since the last
 * pass.
 *
 * The evictor holds budget_lock throughout: a node being freed detaches
 * its listing under that lock first (dcache_detach), so dc->owner stays
 * valid while we look at it.  The directory lock is only tried (never
 * waited for) under budget_lock, so the usual order, directory lock then
 * budget_lock, cannot deadlock with it; a busy directory is skipped.
 */
static void enforce_budget(struct lfs *fs, struct node *keep)
{
	size_t scanned = 0;
	struct dcache *victims = NULL;
	pthread_mutex_lock(&budget_lock);
	size_t round = nlistings < 4096 ? nlistings : 4096;
	while (total_bytes > budget_bytes && clock_head && scanned < round) {
		struct dcache *dc = clock_head;
		clock_head = dc->lru_next;
		scanned++;
		struct node *owner = dc->owner;
		if (!owner || owner == keep ||
		    atomic_exchange(&dc->accessed, false))
			continue;
		unsigned li = lock_index(owner);
		if (pthread_rwlock_trywrlock(&dir_locks[li]) != 0)
			continue;
		if (owner->dc == dc) {
			owner->dc = NULL;
			clock_unlink_locked(dc);
			dc->owner = NULL;
			/* Freed after the locks are released. */
			dc->lru_next = victims;
			victims = dc;
			lfs_stat_add(&fs->stats.dir_evictions, 1);
		}
		pthread_rwlock_unlock(&dir_locks[li]);
	}
	pthread_mutex_unlock(&budget_lock);
	while (victims) {
		struct dcache *next = victims->lru_next;
		victims->lru_next = NULL;
		dcache_put(victims);
		victims = next;
	}
}

void dcache_detach(struct node *dir)
{
	/* The node's listing is read under budget_lock, which an evictor
	 * holds while it takes it away (no directory lock is held here):
	 * read before, it could be freed by the time it is unlinked. */
	pthread_mutex_lock(&budget_lock);
	struct dcache *dc = dir->dc;
	dir->dc = NULL;
	if (dc) {
		clock_unlink_locked(dc);
		dc->owner = NULL;
	}
	pthread_mutex_unlock(&budget_lock);
	if (dc)
		dcache_put(dc);
}

/* A listing's arrays grew after it was attached (a name added through
 * the mount): the budget counts what it holds now. */
static void account_growth(struct dcache *dc)
{
	size_t now = dcache_bytes(dc);
	if (now == dc->bytes)
		return;
	pthread_mutex_lock(&budget_lock);
	if (dc->lru_next) {
		total_bytes += now - dc->bytes;
		dc->bytes = now;
	}
	pthread_mutex_unlock(&budget_lock);
}

void dcache_shed_removed(struct lfs *fs, struct node *dir)
{
	struct dcache *dc = dir->dc;
	if (dc && dc->ndead > 1024 && dc->ndead > dc->n - dc->ndead)
		dcache_drop(fs, dir);
}

void dcache_attach(struct node *dir, struct dcache *dc)
{
	dc->owner = dir;
	dc->bytes = dcache_bytes(dc);
	atomic_store(&dc->accessed, true);
	dir->dc = dc;
	pthread_mutex_lock(&budget_lock);
	clock_link_locked(dc);
	pthread_mutex_unlock(&budget_lock);
}

void dcache_enforce_budget(struct lfs *fs, struct node *keep)
{
	enforce_budget(fs, keep);
}

void dcache_drop(struct lfs *fs, struct node *dir)
{
	(void)fs;
	struct dcache *dc = dir->dc;
	if (!dc)
		return;
	dir->dc = NULL;
	pthread_mutex_lock(&budget_lock);
	clock_unlink_locked(dc);
	dc->owner = NULL;
	pthread_mutex_unlock(&budget_lock);
	dcache_put(dc);
}

