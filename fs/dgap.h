/*
 * Where a merged child directory is absent: the layers between two that
 * hold it.  A listing knows, for each child directory, the first layer
 * holding it (drec.layer) and the last one its merge reaches (drec.end);
 * a gap is a run of layers in between where the name is missing, so
 * that loading the child later opens it only where it exists.  Gaps are
 * rare (a directory added in one layer and changed again many layers
 * above), so they are kept aside rather than in every record.
 *
 * Only lower layers can hold a gap (a gap lies strictly below the layer a
 * name was first found in, or below the upper layer a directory was
 * copied up to), and lower layers never change under the mount, so gaps
 * stay true for as long as their listing lives.  Only gaps over layers
 * the listing itself was read from are kept: the others are out of the
 * child's reach anyway (its candidates come from the parent's chain).
 */
#ifndef LFS_DGAP_H
#define LFS_DGAP_H

#include <stdbool.h>
#include <stdint.h>

struct dcache;

struct dgap {
	uint32_t name_off; /* the child's name in the listing */
	uint16_t from, to; /* absent in layers from..to-1 */
};

/* While the listing is loaded (dc->chain holds the layers read so far):
 * notes that the child at name_off is absent in layers from..to-1.  A
 * gap that cannot be stored is dropped: it only saves work. */
void dgap_add(struct dcache *dc, uint32_t name_off, uint16_t from,
	      uint16_t to);
/* Orders the gaps for dgap_covers once the listing is complete. */
void dgap_finish(struct dcache *dc);
/* After the load: the child directory at name_off, whose top layer was
 * old_top, was copied up to the upper layer (layer `upper`). */
void dgap_copied_up(struct dcache *dc, uint32_t name_off, uint16_t upper,
		    uint16_t old_top);
/* Whether the listing knows the child at name_off to be absent in layer. */
bool dgap_covers(const struct dcache *dc, uint32_t name_off, uint16_t layer);

#endif
