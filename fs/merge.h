/*
 * The union rule, applied to one layer's directory listing at a time
 * (top layer first).  Pure: it sees names, types and inode numbers, never
 * the disk, so it is unit tested and fuzzed against a reference model.
 *
 *  - a name comes from the highest layer holding it;
 *  - a directory merges with directories of the same name below it, until
 *    a layer holds something else, whiteouts it, or is opaque;
 *  - a whiteout (`.wh.NAME`, or a 0/0 device NAME) hides NAME in the
 *    layers below its own, never in its own: whiteouts are applied after
 *    all the entries of their layer, whatever order the listing had;
 *  - `.wh..wh..opq` makes its directory opaque: no layer below merges;
 *  - names beginning with ".wh." never appear.
 */
#ifndef LFS_MERGE_H
#define LFS_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcache.h"
#include "layerfs.h"

struct merge_pass {
	struct lfs *fs;
	struct dcache *dc;
	int layer;
	bool is_upper;
	/* Set by the caller: the directory is marked impure, by layerfs in
	 * the upper layer, by kernel overlayfs in a lower one. */
	bool impure;
	bool opaque;  /* `.wh..wh..opq` seen in this layer */
	/* Set by the caller: the xattr that makes an empty regular file a
	 * whiteout in this directory (kernel xwhiteouts), or NULL. */
	const char *xwhiteout;
	/* This layer's whiteout targets, NUL-separated, applied at the end. */
	char *wh;
	size_t wh_len, wh_cap;
	int error;
};

void merge_begin(struct merge_pass *p, struct lfs *fs, struct dcache *dc,
		 int layer);
/* One entry of the layer's listing.  overlay_whiteout: a 0/0 device. */
void merge_name(struct merge_pass *p, const char *name, uint8_t dtype,
		uint64_t ino, bool overlay_whiteout);
/* Applies the layer's whiteouts.  Returns 0 or -errno; *opaque tells
 * whether this layer ends the directory. */
int merge_end(struct merge_pass *p, bool *opaque);

#endif
