#include "merge.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dgap.h"
#include "whiteout.h"

void merge_begin(struct merge_pass *p, struct lfs *fs, struct dcache *dc,
		 int layer)
{
	memset(p, 0, sizeof(*p));
	p->fs = fs;
	p->dc = dc;
	p->layer = layer;
	p->is_upper = lfs_is_upper(fs, layer);
}

/* A real (non-whiteout) entry of the current layer. */
static int merge_entry(struct merge_pass *p, const char *name, size_t len,
		       uint8_t dtype, uint64_t d_ino)
{
	struct dcache *dc = p->dc;
	uint32_t h = dcache_hash(name, len);
	struct drec *r = dcache_find_len(dc, name, len, h);
	bool is_dir = dtype == DT_DIR;

	if (!r) {
		r = dcache_add_raw(dc, name, len, h);
		if (!r)
			return -ENOMEM;
		r->layer = (uint16_t)p->layer;
		/* For a directory, end follows the lowest layer that has
		 * taken part in its merge so far, so that loading it later
		 * opens no layer where the listing showed it absent. */
		r->end = (uint16_t)(p->layer + 1);
		r->dtype = dtype;
		r->ino = lfs_compose_ino(p->fs, p->layer, d_ino);
		r->flags = is_dir ? 0 : R_CLOSED;
		if (!p->is_upper)
			r->flags |= R_BELOW | (is_dir ? 0 : R_LCLOSED);
		if (p->impure && (p->is_upper || dtype == DT_REG))
			r->flags |= R_CHECK;
		dc->nvisible++;
		return 0;
	}
	/* What the layers below the upper one show if its entries went. */
	if (!p->is_upper && !(r->flags & R_LCLOSED)) {
		r->flags |= R_BELOW;
		if (!is_dir)
			r->flags |= R_LCLOSED;
	}
	if (!drec_visible(r) || (r->flags & R_CLOSED))
		return 0;
	/* An open directory above: a directory merges into it, anything
	 * else ends the merge (end stays below the last directory). */
	if (is_dir && r->dtype == DT_DIR) {
		r->flags |= R_MERGED;
		if (r->end < p->layer)
			dgap_add(dc, r->name_off, r->end, (uint16_t)p->layer);
		r->end = (uint16_t)(p->layer + 1);
	} else {
		r->flags |= R_CLOSED;
	}
	return 0;
}

/* A whiteout of the current layer, applied after all its entries. */
static int merge_whiteout(struct merge_pass *p, const char *target,
			  size_t len)
{
	struct dcache *dc = p->dc;
	uint32_t h = dcache_hash(target, len);
	struct drec *r = dcache_find_len(dc, target, len, h);
	if (!r) {
		r = dcache_add_raw(dc, target, len, h);
		if (!r)
			return -ENOMEM;
		r->layer = (uint16_t)p->layer;
		r->end = (uint16_t)(p->layer + 1);
		r->flags = R_HIDDEN | R_CLOSED |
			   (p->is_upper ? R_WH_UPPER : R_LCLOSED);
		return 0;
	}
	if (!p->is_upper)
		r->flags |= R_LCLOSED;
	if (!drec_visible(r) || (r->flags & R_CLOSED))
		return 0;
	/* A directory open from above, or from this very layer, keeps this
	 * layer and stops merging below it: end already stops at the last
	 * layer that held it, this one or one above. */
	r->flags |= R_CLOSED;
	return 0;
}

static void defer_whiteout(struct merge_pass *p, const char *target,
			   size_t len)
{
	if (p->wh_len + len + 1 > p->wh_cap) {
		size_t cap = p->wh_cap ? p->wh_cap * 2 : 512;
		while (cap < p->wh_len + len + 1)
			cap *= 2;
		char *n = realloc(p->wh, cap);
		if (!n) {
			p->error = -ENOMEM;
			return;
		}
		p->wh = n;
		p->wh_cap = cap;
	}
	memcpy(p->wh + p->wh_len, target, len);
	p->wh[p->wh_len + len] = 0;
	p->wh_len += len + 1;
}

void merge_name(struct merge_pass *p, const char *name, uint8_t dtype,
		uint64_t ino, bool overlay_whiteout)
{
	if (p->error)
		return;
	if (name[0] == '.' &&
	    (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
		return;
	size_t len = strlen(name);
	if (len == 0 || len > NAME_MAX)
		return;
	const char *target;
	switch (wh_classify_name(name, &target)) {
	case WH_OPAQUE:
		p->opaque = true;
		return;
	case WH_INTERNAL:
		return;
	case WH_WHITEOUT:
		defer_whiteout(p, target, strlen(target));
		return;
	case WH_NONE:
		break;
	}
	if (overlay_whiteout) {
		defer_whiteout(p, name, len);
		return;
	}
	int r = merge_entry(p, name, len, dtype, ino);
	if (r < 0)
		p->error = r;
}

int merge_end(struct merge_pass *p, bool *opaque)
{
	for (size_t off = 0; !p->error && off < p->wh_len;) {
		const char *t = p->wh + off;
		size_t len = strlen(t);
		int r = merge_whiteout(p, t, len);
		if (r < 0)
			p->error = r;
		off += len + 1;
	}
	free(p->wh);
	p->wh = NULL;
	p->wh_len = p->wh_cap = 0;
	*opaque = p->opaque;
	return p->error;
}
