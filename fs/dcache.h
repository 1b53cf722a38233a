/*
 * The merged listing of one directory: every name of the union view with
 * the layer it comes from, built by reading each layer's directory once.
 *
 * Building it is the only place the union rule is applied: top layer
 * first, whiteouts hide names below their own layer, a non-directory
 * stops the merge of a name, an opaque marker stops the whole directory.
 * Whiteouts are recognised from the listing itself (name, d_type); only a
 * character device needs one fstatat to tell a 0/0 whiteout from a device.
 *
 * A listing is a pure cache of what is on disk: every change layerfs makes
 * is written to the upper layer first and mirrored here, so a listing can
 * be dropped at any time and rebuilt.  Listings are dropped when their
 * total size passes a budget, which keeps the daemon's memory bounded on
 * trees of any size.
 */
#ifndef LFS_DCACHE_H
#define LFS_DCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "layerfs.h"

struct node;
struct udba_stamps;

enum drec_flag {
	R_HIDDEN = 1 << 0,   /* whited out or removed: not shown */
	R_CLOSED = 1 << 1,   /* nothing below merges into this name */
	R_BELOW = 1 << 2,    /* a layer under the upper one shows this name */
	R_MERGED = 1 << 3,   /* a directory found in more than one layer */
	R_WH_UPPER = 1 << 4, /* hidden by a whiteout stored in the upper layer */
	/* Entry of an impure directory: an upper one has marks to read, a
	 * lower regular file may be a kernel metacopy (metacopy.h). */
	R_CHECK = 1 << 5,
	R_LCLOSED = 1 << 6,  /* layers below the upper stopped this name */
};

struct drec {
	uint64_t ino;      /* st_ino to show (0 for hidden names) */
	uint32_t hash;
	uint32_t name_off; /* into dcache.names */
	uint16_t layer;    /* layer of the visible entry, or of the whiteout */
	uint16_t end;      /* directories: merge stops above this layer */
	uint8_t namelen;   /* names are at most 255 bytes */
	uint8_t dtype;     /* DT_* of the visible entry */
	uint8_t flags;
	uint8_t pad;
};

struct dcache {
	atomic_uint refs;
	uint32_t n, cap;
	struct drec *recs;  /* appended; sorted in place for readdir */
	/* Open addressing.  A slot holds its record's index + 1 in the bits
	 * of idx_mask and the top bits of the record's hash in the others,
	 * so that a probe passes over other names without reading their
	 * records (a cache miss each in a large listing).  0: empty. */
	uint32_t *slots;
	uint32_t nslots;
	uint32_t idx_mask;
	char *names;
	uint32_t names_len, names_cap;
	uint16_t *chain;    /* layers where the directory exists, top first */
	uint16_t nchain;
	/* dgap.h: layers within a child directory's range that lack it. */
	struct dgap *gaps;
	uint32_t ngaps, gaps_cap;
	uint32_t nvisible;  /* visible entries, for the rmdir emptiness check */
	/* Removed names no layer below shows and no whiteout hides: records
	 * that tell nothing (dcache_shed_removed). */
	uint32_t ndead;
	/* readdir_order.c: how many leading records are in readdir order
	 * (fewer than n after appends: to be sorted again). */
	uint32_t nsorted;
	bool upper_impure;  /* the upper directory has impure children */
	/* udba.h: the lower directories as they were read (udba=reval). */
	struct udba_stamps *udba;
	atomic_bool accessed; /* for the eviction clock */
	/* Budget bookkeeping, under the global dcache lock. */
	struct dcache *lru_prev, *lru_next;
	struct node *owner;
	size_t bytes;
};

static inline const char *drec_name(const struct dcache *dc,
				    const struct drec *r)
{
	return dc->names + r->name_off;
}

static inline bool drec_visible(const struct drec *r)
{
	return !(r->flags & R_HIDDEN);
}

void dcache_put(struct dcache *dc);
static inline void dcache_get(struct dcache *dc)
{
	atomic_fetch_add_explicit(&dc->refs, 1, memory_order_relaxed);
}

/* Directory locks, striped by node. */
void dir_lock_init(void);
void dir_rdlock(struct node *dir);
/* false when the lock is held for writing (by anyone, this thread too) */
bool dir_tryrdlock(struct node *dir);
/* Whether a and b share a lock stripe (holding one holds the other). */
bool dir_same_lock(const struct node *a, const struct node *b);
void dir_wrlock(struct node *dir);
void dir_unlock(struct node *dir);
/* Locks two directories for rename, in a deadlock-free order. */
void dir_wrlock_two(struct node *a, struct node *b);
void dir_unlock_two(struct node *a, struct node *b);

/*
 * Building (dirload.c).  Returns dir's listing, building it if needed.  The caller holds dir's
 * lock for writing, or for reading with the listing already present (use
 * dcache_ensure_locked for the usual pattern).
 */
int dcache_load(struct lfs *fs, struct node *dir, struct dcache **out);
/* The same, when the caller holds the lock of dir's parent as well. */
int dcache_load_under_parent(struct lfs *fs, struct node *dir,
			     struct dcache **out);

/*
 * Takes dir's lock for reading, building the listing first when needed
 * (upgrading to a write lock for that).  On success the lock is held and
 * *out is the listing; the caller unlocks with dir_unlock.
 */
int dcache_acquire_read(struct lfs *fs, struct node *dir, struct dcache **out);

struct drec *dcache_find(struct dcache *dc, const char *name);

/* Storage, for merge.c and dirload.c. */
struct dcache *dcache_new(void);
void dcache_free(struct dcache *dc);
uint32_t dcache_hash(const char *name, size_t len);
struct drec *dcache_find_len(struct dcache *dc, const char *name, size_t len,
			     uint32_t hash);
/* Gives back the slack of the arrays once a listing is loaded. */
void dcache_shrink_to_fit(struct dcache *dc);
/* Appends a zeroed record for name (which must not be present yet). */
struct drec *dcache_add_raw(struct dcache *dc, const char *name, size_t len,
			    uint32_t hash);
/* Gives dir its listing and counts it against the budget. */
void dcache_attach(struct node *dir, struct dcache *dc);

/* Updates made by the operations, under dir's write lock. */
int dcache_add(struct dcache *dc, const char *name, uint16_t layer,
	       uint8_t dtype, uint64_t ino, uint8_t flags);
void dcache_hide(struct dcache *dc, struct drec *r, bool whiteout_in_upper);
/* Adds `layer`, below the others, to the chain of a listing being read. */
int dcache_chain_append(struct dcache *dc, uint16_t layer);
/* Puts `layer` at the top of the chain (after the directory's copy-up). */
void dcache_chain_push_top(struct dcache *dc, uint16_t layer);

/* Fills the name index again after the records were reordered. */
void dcache_reindex(struct dcache *dc);

/* Takes a directory node's listing, if it has one, off the node and the
 * budget and drops it: before the node is freed. */
void dcache_detach(struct node *dir);

/* Drops a listing (after changes that are easier to re-read than to
 * mirror).  Caller holds dir's write lock. */
void dcache_drop(struct lfs *fs, struct node *dir);

/*
 * Drops dir's listing once most of its records are removed names that
 * tell nothing: a directory where new names keep coming and going (temp
 * files, write-then-rename) would otherwise grow its listing for the
 * life of the mount.  Reading it again costs what it holds, once per as
 * many removals.  Caller holds dir's write lock and no record pointer.
 */
void dcache_shed_removed(struct lfs *fs, struct node *dir);

/* Drops least recently used listings until the total fits the budget.
 * Call with no directory lock held; `keep` is spared. */
void dcache_enforce_budget(struct lfs *fs, struct node *keep);

/* Budget in bytes for all listings together (default 64 MiB). */
void dcache_set_budget(size_t bytes);
size_t dcache_total_bytes(void);

#endif
