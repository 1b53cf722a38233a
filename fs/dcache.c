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

#include "lf_common.h"
#include "node.h"
#include "redirect.h"
#include "safe_path.h"
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

static uint32_t hash_name(const char *name, size_t len)
{
	return (uint32_t)XXH3_64bits(name, len);
}

static struct dcache *dcache_alloc(void)
{
	struct dcache *dc = calloc(1, sizeof(*dc));
	if (!dc)
		return NULL;
	atomic_init(&dc->refs, 1);
	dc->nslots = 16;
	dc->slots = calloc(dc->nslots, sizeof(uint32_t));
	if (!dc->slots) {
		free(dc);
		return NULL;
	}
	return dc;
}

static void dcache_free(struct dcache *dc)
{
	free(dc->recs);
	free(dc->slots);
	free(dc->names);
	free(dc->chain);
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
	for (uint32_t i = 0; i < dc->n; i++) {
		uint32_t k = dc->recs[i].hash & (ns - 1);
		while (s[k])
			k = (k + 1) & (ns - 1);
		s[k] = i + 1;
	}
	free(dc->slots);
	dc->slots = s;
	dc->nslots = ns;
	return 0;
}

static struct drec *find_len(struct dcache *dc, const char *name, size_t len,
			     uint32_t h)
{
	uint32_t mask = dc->nslots - 1;
	for (uint32_t k = h & mask;; k = (k + 1) & mask) {
		uint32_t s = dc->slots[k];
		if (!s)
			return NULL;
		struct drec *r = &dc->recs[s - 1];
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
	return find_len(dc, name, len, hash_name(name, len));
}

static struct drec *add_len(struct dcache *dc, const char *name, size_t len,
			    uint32_t h)
{
	if ((dc->n + 1) * 4 > dc->nslots * 3 && grow_slots(dc) < 0)
		return NULL;
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
	uint32_t mask = dc->nslots - 1, k = h & mask;
	while (dc->slots[k])
		k = (k + 1) & mask;
	dc->slots[k] = ++dc->n;
	return r;
}

int dcache_add(struct dcache *dc, const char *name, uint16_t layer,
	       uint8_t dtype, uint64_t ino, uint8_t flags)
{
	size_t len = strlen(name);
	uint32_t h = hash_name(name, len);
	struct drec *r = find_len(dc, name, len, h);
	bool was_visible = r && drec_visible(r);
	if (!r) {
		r = add_len(dc, name, len, h);
		if (!r)
			return -ENOMEM;
	} else {
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
	r->flags = (uint8_t)((r->flags & (R_BELOW | R_LCLOSED)) | R_HIDDEN |
			     R_CLOSED | (whiteout_in_upper ? R_WH_UPPER : 0));
	r->ino = 0;
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
	       dc->nchain * sizeof(uint16_t);
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
}

/*
 * Drops listings not used since the clock hand last passed them until
 * the total fits the budget.
 *
 * The evictor holds budget_lock throughout: a node being freed detaches
 * its listing under that lock first (dcache_detach), so dc->owner stays
 * valid while we look at it.  The directory lock is only tried (never
 * waited for) under budget_lock, so the usual order, directory lock then
 * budget_lock, cannot deadlock with it; a busy directory is skipped.
 */
static void enforce_budget(struct lfs *fs, struct node *keep)
{
	int scanned = 0;
	struct dcache *victims = NULL;
	pthread_mutex_lock(&budget_lock);
	while (total_bytes > budget_bytes && clock_head && scanned < 4096) {
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

void dcache_detach(struct dcache *dc)
{
	pthread_mutex_lock(&budget_lock);
	clock_unlink_locked(dc);
	dc->owner = NULL;
	pthread_mutex_unlock(&budget_lock);
}

static void attach(struct node *dir, struct dcache *dc)
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

/* ---- building a listing ------------------------------------------- */

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* State of one layer's pass. */
struct pass {
	struct lfs *fs;
	struct dcache *dc;
	int layer;
	bool is_upper;
	bool opaque;  /* `.wh..wh..opq` seen in this layer */
	bool impure;  /* upper directory carries the impure mark */
	int dirfd;
};

static uint8_t mode_to_dtype(mode_t m)
{
	return (uint8_t)((m & S_IFMT) >> 12);
}

/* Merges one real (non-whiteout) entry of the current layer. */
static int merge_entry(struct pass *p, const char *name, size_t len,
		       uint8_t dtype, uint64_t d_ino)
{
	struct dcache *dc = p->dc;
	uint32_t h = hash_name(name, len);
	struct drec *r = find_len(dc, name, len, h);
	bool is_dir = dtype == DT_DIR;

	if (!r) {
		r = add_len(dc, name, len, h);
		if (!r)
			return -ENOMEM;
		r->layer = (uint16_t)p->layer;
		r->end = p->fs->nlayers;
		r->dtype = dtype;
		r->ino = lfs_compose_ino(p->fs, p->layer, d_ino);
		r->flags = is_dir ? 0 : R_CLOSED;
		if (!p->is_upper) {
			r->flags |= R_BELOW;
			if (!is_dir)
				r->flags |= R_LCLOSED;
		} else if (p->impure) {
			r->flags |= R_CHECK;
		}
		dc->nvisible++;
		return 0;
	}

	/* What lower layers reveal if the upper entries were removed. */
	if (!p->is_upper && !(r->flags & R_LCLOSED)) {
		r->flags |= R_BELOW;
		if (!is_dir)
			r->flags |= R_LCLOSED;
	}

	if (!drec_visible(r) && r->layer == p->layer) {
		/* `.wh.x` and `x` in the same layer: the whiteout hides only
		 * the layers below, `x` itself stays visible. */
		r->dtype = dtype;
		r->ino = lfs_compose_ino(p->fs, p->layer, d_ino);
		r->flags = (uint8_t)((r->flags & (R_BELOW | R_LCLOSED)) |
				     R_CLOSED | (p->is_upper ? 0 : R_BELOW));
		if (p->is_upper && p->impure)
			r->flags |= R_CHECK;
		r->end = (uint16_t)(p->layer + 1);
		dc->nvisible++;
		return 0;
	}
	if (r->flags & R_CLOSED)
		return 0;
	/* An open directory above: a directory below merges into it, anything
	 * else ends the merge. */
	if (is_dir && r->dtype == DT_DIR) {
		r->flags |= R_MERGED;
	} else {
		r->flags |= R_CLOSED;
		r->end = (uint16_t)p->layer;
	}
	return 0;
}

/* A whiteout for `target` found in the current layer. */
static int merge_whiteout(struct pass *p, const char *target, size_t len)
{
	struct dcache *dc = p->dc;
	uint32_t h = hash_name(target, len);
	struct drec *r = find_len(dc, target, len, h);

	if (!r) {
		r = add_len(dc, target, len, h);
		if (!r)
			return -ENOMEM;
		r->layer = (uint16_t)p->layer;
		r->end = (uint16_t)p->layer;
		r->flags = R_HIDDEN | R_CLOSED;
		if (p->is_upper)
			r->flags |= R_WH_UPPER;
		else
			r->flags |= R_LCLOSED;
		return 0;
	}
	if (!p->is_upper)
		r->flags |= R_LCLOSED;
	if (r->flags & R_CLOSED)
		return 0;
	/* A directory from above stops merging here; when it is in this
	 * very layer, it keeps this layer and hides the ones below. */
	r->flags |= R_CLOSED;
	r->end = (uint16_t)(r->layer == p->layer ? p->layer + 1 : p->layer);
	return 0;
}

static int scan_entry(struct pass *p, struct linux_dirent64 *d)
{
	const char *name = d->d_name;
	if (name[0] == '.' &&
	    (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
		return 0;
	size_t len = strlen(name);
	if (len > NAME_MAX)
		return 0;

	const char *target;
	switch (wh_classify_name(name, &target)) {
	case WH_OPAQUE:
		p->opaque = true;
		return 0;
	case WH_INTERNAL:
		return 0;
	case WH_WHITEOUT:
		return merge_whiteout(p, target, strlen(target));
	case WH_NONE:
		break;
	}

	uint8_t dtype = d->d_type;
	uint64_t ino = d->d_ino;
	if (dtype == DT_UNKNOWN || dtype == DT_CHR) {
		/* Filesystems without d_type, and character devices that may be
		 * overlay whiteouts, need a look at the inode. */
		struct stat st;
		if (fstatat(p->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? 0 : -errno;
		if (wh_is_overlay_whiteout(&st))
			return merge_whiteout(p, name, len);
		dtype = mode_to_dtype(st.st_mode);
		ino = st.st_ino;
	}
	return merge_entry(p, name, len, dtype, ino);
}

/* Reads one layer's directory into the listing. */
static int scan_layer(struct pass *p)
{
	char buf[65536] __attribute__((aligned(8)));
	for (;;) {
		long n = syscall(SYS_getdents64, p->dirfd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d = (void *)(buf + off);
			int r = scan_entry(p, d);
			if (r < 0)
				return r;
			off += d->d_reclen;
		}
	}
}

/* Reads the xattrs of an impure upper directory's entries: the inode
 * number kept across copy-up, and redirect/metacopy marks. */
static void check_impure_entries(struct lfs *fs, struct dcache *dc,
				 int dirfd)
{
	for (uint32_t i = 0; i < dc->n; i++) {
		struct drec *r = &dc->recs[i];
		if (!(r->flags & R_CHECK) || !drec_visible(r))
			continue;
		uint64_t ino;
		if (xp_read_origin_at(fs, dirfd, drec_name(dc, r), &ino) == 0)
			r->ino = ino;
	}
}

static int load_layers(struct lfs *fs, struct node *dir, struct dcache *dc,
		       const uint16_t *cands, uint16_t ncands,
		       const char *redirect)
{
	for (uint16_t i = 0; i < ncands; i++) {
		int l = cands[i];
		struct pass p = { .fs = fs, .dc = dc, .layer = l,
				  .is_upper = lfs_is_upper(fs, l) };
		int fd;
		if (redirect && !p.is_upper)
			fd = sp_open_beneath(fs->layers[l].fd,
					     redirect[0] == '/' ? redirect + 1
								: redirect,
					     O_RDONLY | O_DIRECTORY, 0);
		else
			fd = node_open(fs, dir, l, O_RDONLY | O_DIRECTORY);
		if (fd == -ENOENT)
			continue;
		if (fd == -ENOTDIR || fd == -ELOOP)
			break; /* something else than a directory: stops here */
		if (fd < 0)
			return fd;
		p.dirfd = fd;
		lfs_stat_add(&fs->stats.dir_load_layers, 1);

		/* Opaque and impure marks: one listxattr per directory. */
		int opaque_x = xp_dir_marks(fs, fd, p.is_upper, &p.impure);
		int r = scan_layer(&p);
		if (r == 0 && p.is_upper && p.impure) {
			dc->upper_impure = true;
			check_impure_entries(fs, dc, fd);
		}
		close(fd);
		if (r < 0)
			return r;
		uint16_t *nc = realloc(dc->chain, (dc->nchain + 1u) *
							  sizeof(uint16_t));
		if (!nc)
			return -ENOMEM;
		dc->chain = nc;
		dc->chain[dc->nchain++] = (uint16_t)l;
		if (p.opaque || opaque_x > 0)
			break;
	}
	return 0;
}

int dcache_load(struct lfs *fs, struct node *dir, struct dcache **out)
{
	if (dir->dc) {
		atomic_store_explicit(&dir->dc->accessed, true,
				      memory_order_relaxed);
		*out = dir->dc;
		return 0;
	}
	struct dcache *dc = dcache_alloc();
	if (!dc)
		return -ENOMEM;

	/* Which layers may hold this directory: from its top layer down to
	 * where the parent's listing said its merge ends, and only where the
	 * parent itself exists. */
	uint16_t *cands = malloc(fs->nlayers * sizeof(uint16_t));
	if (!cands) {
		dcache_free(dc);
		return -ENOMEM;
	}
	uint16_t ncands = 0;
	int top = node_layer(dir);
	int end = (node_flags(dir) & N_ROOT) ? fs->nlayers : dir->end;
	const char *redirect = NULL;
	int r = 0;

	if ((node_flags(dir) & N_REDIRECT) && dir->ext && dir->ext->redirect) {
		redirect = dir->ext->redirect;
		if (lfs_has_upper(fs) && top == fs->upper)
			cands[ncands++] = (uint16_t)fs->upper;
		uint16_t n = 0;
		r = redirect_lower_chain(fs, redirect, cands + ncands,
					 (uint16_t)(fs->nlayers - ncands), &n);
		ncands = (uint16_t)(ncands + n);
	} else {
		struct node *parent = dir->parent;
		struct dcache *pdc = parent ? parent->dc : NULL;
		if (pdc && !(node_flags(dir) & N_ROOT)) {
			for (uint16_t i = 0; i < pdc->nchain; i++)
				if (pdc->chain[i] >= top && pdc->chain[i] < end)
					cands[ncands++] = pdc->chain[i];
			/* The directory may have been copied up after the
			 * parent's listing was read. */
			if (top == fs->upper && (ncands == 0 ||
						 cands[0] != fs->upper)) {
				memmove(cands + 1, cands,
					ncands * sizeof(uint16_t));
				cands[0] = (uint16_t)fs->upper;
				ncands++;
			}
		} else {
			for (int l = top; l < end; l++)
				cands[ncands++] = (uint16_t)l;
		}
	}
	if (r == 0)
		r = load_layers(fs, dir, dc, cands, ncands, redirect);
	free(cands);
	if (r < 0) {
		dcache_free(dc);
		return r;
	}
	if (dc->nchain == 0) {
		dcache_free(dc);
		return -ENOENT;
	}
	lfs_stat_add(&fs->stats.dir_loads, 1);
	if (dc->nchain > 1)
		node_set_flag(dir, N_MERGED);
	attach(dir, dc);
	*out = dc;
	return 0;
}

int dcache_acquire_read(struct lfs *fs, struct node *dir, struct dcache **out)
{
	dir_rdlock(dir);
	if (dir->dc) {
		atomic_store_explicit(&dir->dc->accessed, true,
				      memory_order_relaxed);
		*out = dir->dc;
		return 0;
	}
	dir_unlock(dir);
	dir_wrlock(dir);
	struct dcache *dc;
	int r = dcache_load(fs, dir, &dc);
	dir_unlock(dir);
	if (r < 0)
		return r;
	/* Keep the budget outside any directory lock. */
	enforce_budget(fs, dir);
	dir_rdlock(dir);
	if (!dir->dc) {
		/* Evicted in the window: load again under the write lock. */
		dir_unlock(dir);
		dir_wrlock(dir);
		r = dcache_load(fs, dir, &dc);
		if (r < 0) {
			dir_unlock(dir);
			return r;
		}
		/* Holding the write lock is fine for a reader. */
	}
	*out = dir->dc;
	return 0;
}
