#include "dgap.h"

#include <stdlib.h>
#include <string.h>

#include "dcache.h"

/* Whether the listing was read from any layer in from..to-1: the first
 * layer of its chain (top first, so ascending) not above `from`. */
static bool read_between(const struct dcache *dc, uint16_t from, uint16_t to)
{
	uint16_t lo = 0, hi = dc->nchain;
	while (lo < hi) {
		uint16_t mid = (uint16_t)(lo + (hi - lo) / 2);
		if (dc->chain[mid] < from)
			lo = (uint16_t)(mid + 1);
		else
			hi = mid;
	}
	return lo < dc->nchain && dc->chain[lo] < to;
}

static bool room_for_one(struct dcache *dc)
{
	if (dc->ngaps < dc->gaps_cap)
		return true;
	uint32_t cap = dc->gaps_cap ? dc->gaps_cap * 2 : 4;
	struct dgap *g = realloc(dc->gaps, cap * sizeof(*g));
	if (!g)
		return false;
	dc->gaps = g;
	dc->gaps_cap = cap;
	return true;
}

void dgap_add(struct dcache *dc, uint32_t name_off, uint16_t from,
	      uint16_t to)
{
	if (!read_between(dc, from, to) || !room_for_one(dc))
		return;
	dc->gaps[dc->ngaps++] =
		(struct dgap){ .name_off = name_off, .from = from, .to = to };
}

static int by_name_then_layer(const void *a, const void *b)
{
	const struct dgap *x = a, *y = b;
	if (x->name_off != y->name_off)
		return x->name_off < y->name_off ? -1 : 1;
	return (int)x->from - (int)y->from;
}

/* The index of the first gap not ordered before (name_off, from). */
static uint32_t lower_bound(const struct dcache *dc, uint32_t name_off,
			    uint16_t from)
{
	const struct dgap key = { .name_off = name_off, .from = from };
	uint32_t lo = 0, hi = dc->ngaps;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (by_name_then_layer(&dc->gaps[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void dgap_copied_up(struct dcache *dc, uint32_t name_off, uint16_t upper,
		    uint16_t old_top)
{
	uint16_t from = (uint16_t)(upper + 1);
	if (old_top <= from || !read_between(dc, from, old_top) ||
	    !room_for_one(dc))
		return;
	uint32_t at = lower_bound(dc, name_off, from);
	memmove(dc->gaps + at + 1, dc->gaps + at,
		(dc->ngaps - at) * sizeof(*dc->gaps));
	dc->gaps[at] = (struct dgap){ .name_off = name_off, .from = from,
				      .to = old_top };
	dc->ngaps++;
}

void dgap_finish(struct dcache *dc)
{
	if (dc->ngaps == 0)
		return;
	qsort(dc->gaps, dc->ngaps, sizeof(*dc->gaps), by_name_then_layer);
	if (dc->gaps_cap > dc->ngaps) {
		struct dgap *g = realloc(dc->gaps, dc->ngaps * sizeof(*g));
		if (g) {
			dc->gaps = g;
			dc->gaps_cap = dc->ngaps;
		}
	}
}

bool dgap_covers(const struct dcache *dc, uint32_t name_off, uint16_t layer)
{
	for (uint32_t i = lower_bound(dc, name_off, 0);
	     i < dc->ngaps && dc->gaps[i].name_off == name_off; i++)
		if (layer >= dc->gaps[i].from && layer < dc->gaps[i].to)
			return true;
	return false;
}
