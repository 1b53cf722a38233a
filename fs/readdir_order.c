#include "readdir_order.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* The 30 bits that follow the record's 32-bit hash in its offset.  The
 * record keeps the low 32 bits of XXH3_64 (dcache_hash); these are the
 * top 30. */
static uint32_t tail_bits(const struct dcache *dc, const struct drec *r)
{
	return (uint32_t)(XXH3_64bits(drec_name(dc, r), r->namelen) >> 34);
}

uint64_t readdir_offset(const struct dcache *dc, const struct drec *r)
{
	return (((uint64_t)r->hash << 30) | tail_bits(dc, r)) +
	       READDIR_FIRST_NAME_OFF;
}

static bool before(const struct dcache *dc, const struct drec *a,
		   const struct drec *b)
{
	if (a->hash != b->hash)
		return a->hash < b->hash;
	return tail_bits(dc, a) < tail_bits(dc, b);
}

static void insertion_sort(const struct dcache *dc, struct drec *a,
			   uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		struct drec v = a[i];
		uint32_t j = i;
		for (; j > 0 && before(dc, &v, &a[j - 1]); j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

/*
 * In-place MSD radix sort ("American flag sort") on the 32-bit hash, one
 * byte per level from the top: hashes are uniform, so two levels leave
 * buckets of a few records, which insertion sort finishes (breaking ties
 * with the tail bits).  No memory beyond the stack.
 */
static void flag_sort(const struct dcache *dc, struct drec *a, uint32_t n,
		      unsigned shift)
{
	if (n < 32) {
		insertion_sort(dc, a, n);
		return;
	}
	uint32_t count[256] = { 0 }, next[256], end[256];
	for (uint32_t i = 0; i < n; i++)
		count[(a[i].hash >> shift) & 0xff]++;
	uint32_t sum = 0;
	for (unsigned b = 0; b < 256; b++) {
		next[b] = sum;
		sum += count[b];
		end[b] = sum;
	}
	for (unsigned b = 0; b < 256; b++) {
		while (next[b] < end[b]) {
			unsigned d = (a[next[b]].hash >> shift) & 0xff;
			if (d == b) {
				next[b]++;
				continue;
			}
			struct drec t = a[next[b]];
			a[next[b]] = a[next[d]];
			a[next[d]++] = t;
		}
	}
	uint32_t start = 0;
	for (unsigned b = 0; b < 256; b++) {
		if (count[b] > 1) {
			if (shift > 0)
				flag_sort(dc, a + start, count[b], shift - 8);
			else
				insertion_sort(dc, a + start, count[b]);
		}
		start += count[b];
	}
}

void readdir_order_sort(struct dcache *dc)
{
	flag_sort(dc, dc->recs, dc->n, 24);
	dcache_reindex(dc);
	dc->nsorted = dc->n;
}

/* Whether r's offset is at most off.  The hash leads the offset: most
 * records are told from off by it alone, without reading their name (a
 * cache miss each, in a large listing) to hash the rest. */
static bool offset_at_most(const struct dcache *dc, const struct drec *r,
			   uint64_t off)
{
	uint64_t top = ((uint64_t)r->hash << 30) + READDIR_FIRST_NAME_OFF;
	if (top + ((1u << 30) - 1) <= off)
		return true;
	if (top > off)
		return false;
	return readdir_offset(dc, r) <= off;
}

uint32_t readdir_order_seek(const struct dcache *dc, uint64_t off)
{
	uint32_t lo = 0, hi = dc->nsorted;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (offset_at_most(dc, &dc->recs[mid], off))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int pick_cmp(const void *a, const void *b)
{
	const struct readdir_pick *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

uint32_t readdir_order_tail(const struct dcache *dc, uint64_t off,
			    struct readdir_pick *out)
{
	uint32_t k = 0;
	for (uint32_t i = dc->nsorted; i < dc->n; i++) {
		const struct drec *r = &dc->recs[i];
		if (!drec_visible(r))
			continue;
		if (offset_at_most(dc, r, off))
			continue;
		uint64_t at = readdir_offset(dc, r);
		out[k].off = at;
		out[k].index = i;
		k++;
	}
	qsort(out, k, sizeof(*out), pick_cmp);
	return k;
}
