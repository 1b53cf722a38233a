/*
 * The order readdir gives a listing's names in, and their offsets.
 *
 * The kernel asks for "the entries after offset X" with no open handle
 * that could pin one version of a listing: layerfs answers OPENDIR with
 * ENOSYS, which saves an OPENDIR and a RELEASEDIR per directory walked.
 * Meanwhile the listing may be dropped and built again (the memory
 * budget) or changed (names created and removed through the mount).  So,
 * as ext4 does with its htree, an entry's offset is a hash of its name:
 * 62 bits of its XXH3, led by the 32 the listing keeps for its name index.
 * The records themselves are sorted by it, in place (no memory beyond
 * the listing), so an offset finds its place again in any version of the
 * listing, and a name present all along is given exactly once.  Names
 * with equal offsets are given out in one reply, never split.
 *
 * Records are sorted when a readdir first needs it; names appended
 * after that (created through the mount) stay in an unsorted tail,
 * which a readdir scans and merges with the sorted part, until the tail
 * passes a bound (readdir_order_stale) and the whole is sorted again.
 * Sorting on every readdir that followed a create, as before, took a
 * listing of 300,000 names being added to 5 s (and held the directory's
 * write lock that long against the creates).  Hiding a name and showing
 * it again keeps the order.
 */
#ifndef LFS_READDIR_ORDER_H
#define LFS_READDIR_ORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "dcache.h"

/* Offsets 1 and 2 are those of "." and ".."; names start above. */
#define READDIR_FIRST_NAME_OFF 3

/* Past this many unsorted records, a readdir sorts the listing first:
 * scanning them costs each readdir about what its reply does. */
static inline uint32_t readdir_order_tail_max(uint32_t n)
{
	return 256 + n / 256;
}

/* A listing never sorted is sorted at its first readdir, small ones too:
 * every later readdir of it then seeks instead of sorting a tail. */
static inline bool readdir_order_stale(const struct dcache *dc)
{
	return dc->n > dc->nsorted &&
	       (dc->nsorted == 0 ||
		dc->n - dc->nsorted > readdir_order_tail_max(dc->n));
}

/* A record of the unsorted tail, with its offset. */
struct readdir_pick {
	uint64_t off;
	uint32_t index;
};

/* The tail's visible records whose offset is above off, into out (room
 * for dc->n - dc->nsorted), in offset order; returns how many. */
uint32_t readdir_order_tail(const struct dcache *dc, uint64_t off,
			    struct readdir_pick *out);

/* Sorts the listing's records by offset.  Caller holds the directory's
 * lock for writing. */
void readdir_order_sort(struct dcache *dc);

/* The offset of a record: where a readdir continues after it. */
uint64_t readdir_offset(const struct dcache *dc, const struct drec *r);

/* Index of the first record of the sorted part whose offset is above
 * off. */
uint32_t readdir_order_seek(const struct dcache *dc, uint64_t off);

#endif
