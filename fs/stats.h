/*
 * Copy-on-write counters, for people who benchmark union filesystems.
 * Written as JSON to the file named by -o stats=FILE on SIGUSR1 and at
 * unmount; `layertool stats FILE` prints them as a table.
 */
#ifndef LFS_STATS_H
#define LFS_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct lfs;

struct lfs_stats {
	atomic_uint_fast64_t copyups;           /* full (data) copy-ups */
	atomic_uint_fast64_t copyup_bytes;      /* bytes copied */
	atomic_uint_fast64_t copyup_reflinked;  /* bytes shared by FICLONE */
	atomic_uint_fast64_t copyup_ns;         /* time spent copying data */
	atomic_uint_fast64_t meta_copyups;      /* metadata-only copy-ups */
	atomic_uint_fast64_t passthrough_opens; /* opens served by passthrough */
	atomic_uint_fast64_t dir_copyups;       /* directories created in upper */
	atomic_uint_fast64_t whiteouts;         /* whiteouts written */
	atomic_uint_fast64_t opaque_dirs;       /* directories made opaque */
	atomic_uint_fast64_t redirects;         /* directory renames by redirect */
	atomic_uint_fast64_t index_links;       /* hard links kept by the index */
	atomic_uint_fast64_t index_stale;       /* entries of a replaced lower file */
	atomic_uint_fast64_t index_released;    /* entries no name needed, removed */
	atomic_uint_fast64_t lookups;           /* positive lookups */
	atomic_uint_fast64_t negative_lookups;
	atomic_uint_fast64_t dir_loads;         /* merged listings built */
	atomic_uint_fast64_t dir_load_layers;   /* layer directories read for them */
	atomic_uint_fast64_t dir_load_misses;   /* layers tried, directory absent */
	atomic_uint_fast64_t dir_evictions;     /* listings dropped by the budget */
	atomic_uint_fast64_t udba_reloads;      /* listings a lower change dropped */
	atomic_uint_fast64_t exec_prefetches;   /* programs stored with their open */
	atomic_uint_fast64_t exec_prefetch_bytes;
	atomic_uint_fast64_t *layer_lookups;    /* per layer: names found there */
	uint64_t mount_time_ns;                 /* CLOCK_MONOTONIC at mount */
};

int lfs_stats_init(struct lfs_stats *s, unsigned nlayers);
void lfs_stats_free(struct lfs_stats *s);

static inline void lfs_stat_add(atomic_uint_fast64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

/* Writes the counters as JSON, atomically (temp file and rename). */
int lfs_stats_write(struct lfs *fs, const char *path);
/* Writes them to the stats= file, if one was given; a failure is
 * warned about (SIGUSR1 and the unmount both ask). */
void lfs_stats_save(struct lfs *fs);
/* lfs_stats_save from a thread of its own (SIGUSR1), so the caller never
 * waits on the write. */
void lfs_stats_save_later(struct lfs *fs);
/* The daemon is stopping: the thread makes no new write, and one that
 * fails from now on (cut short by the unmount) is not warned about, since
 * the write at unmount follows. */
void lfs_stats_saver_end(void);
/* Waits for the thread's write and ends it.  After the unmount: a write
 * into this very mount then fails instead of waiting for workers that
 * are gone. */
void lfs_stats_saver_join(void);

uint64_t lfs_now_ns(void);

#endif
