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
 * Records are sorted when a readdir first needs it and again after names
 * were appended; hiding a name and showing it again keeps the order.
 */
#ifndef LFS_READDIR_ORDER_H
#define LFS_READDIR_ORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "dcache.h"

/* Offsets 1 and 2 are those of "." and ".."; names start above. */
#define READDIR_FIRST_NAME_OFF 3

static inline bool readdir_order_stale(const struct dcache *dc)
{
	return dc->nsorted != dc->n;
}

/* Sorts the listing's records by offset.  Caller holds the directory's
 * lock for writing. */
void readdir_order_sort(struct dcache *dc);

/* The offset of a record: where a readdir continues after it. */
uint64_t readdir_offset(const struct dcache *dc, const struct drec *r);

/* Index of the first record whose offset is above off (sorted listing). */
uint32_t readdir_order_seek(const struct dcache *dc, uint64_t off);

#endif
