#include "dgap.h"

#include <stdlib.h>

#include "dcache.h"

void dgap_add(struct dcache *dc, uint32_t name_off, uint16_t from,
	      uint16_t to)
{
	if (dc->ngaps == dc->gaps_cap) {
		uint32_t cap = dc->gaps_cap ? dc->gaps_cap * 2 : 4;
		struct dgap *g = realloc(dc->gaps, cap * sizeof(*g));
		if (!g)
			return;
		dc->gaps = g;
		dc->gaps_cap = cap;
	}
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
	/* The first gap of the name, by binary search. */
	uint32_t lo = 0, hi = dc->ngaps;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (dc->gaps[mid].name_off < name_off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint32_t i = lo; i < dc->ngaps && dc->gaps[i].name_off == name_off;
	     i++)
		if (layer >= dc->gaps[i].from && layer < dc->gaps[i].to)
			return true;
	return false;
}
