/*
 * Fuzz target: the union rule.  Random directory listings for up to 8
 * layers (files, directories, .wh. whiteouts, 0/0 device whiteouts,
 * opaque markers, reserved names) go through the merge layerfs uses, and
 * the result is compared with a plain reference implementation of the
 * rule written from DESIGN.md.
 *
 * Input: byte 0 bit 0 = layer 0 is an upper layer; then records of two
 * bytes (op, name): op 0xff starts the next layer; otherwise op & 3 is the
 * kind (0 file, 1 directory, 2 .wh. whiteout, 3 device whiteout), op >= 0xf0
 * is an opaque marker, and the name byte picks from a small table.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dcache.h"
#include "dgap.h"
#include "layerfs.h"
#include "merge.h"

#define MAXL 8
static const char *const names[] = { "a", "b", "c", "dir", "x.y", ".wh.",
				     ".wh..wh.plnk", "." };
#define NNAMES (sizeof(names) / sizeof(names[0]))

enum kind { K_FILE, K_DIR, K_DOTWH, K_DEVWH };

struct layer_in {
	/* per name: 0 absent, else kind + 1 for the entry named names[i] */
	int8_t entry[NNAMES];
	bool dotwh[NNAMES]; /* ".wh." + names[i] present */
	bool opaque;
	uint64_t ino[NNAMES];
};

static bool reserved(const char *n)
{
	return !strcmp(n, ".") || !strncmp(n, ".wh.", 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct layer_in L[MAXL];
	memset(L, 0, sizeof(L));
	int nl = 1;
	uint64_t ino = 100;
	for (size_t i = 1; i + 1 < size; i += 2) {
		uint8_t op = data[i], nb = data[i + 1];
		if (op == 0xff) {
			if (nl == MAXL)
				break;
			nl++;
			continue;
		}
		struct layer_in *l = &L[nl - 1];
		if (op >= 0xf0) {
			l->opaque = true;
			continue;
		}
		size_t k = nb % NNAMES;
		enum kind kind = (enum kind)(op & 3);
		if (kind == K_DOTWH) {
			l->dotwh[k] = true;
		} else if (!l->entry[k]) {
			/* One directory entry per name and layer. */
			l->entry[k] = (int8_t)(kind + 1);
			l->ino[k] = ino++;
		}
	}

	struct layer lay[MAXL];
	memset(lay, 0, sizeof(lay));
	struct lfs_options opt = { 0 };
	struct lfs fs = { 0 };
	fs.opt = &opt;
	fs.layers = lay;
	fs.nlayers = (uint16_t)nl;
	fs.upper = (data[0] & 1) ? 0 : -1;

	/* What layerfs does. */
	struct dcache *dc = dcache_new();
	if (!dc)
		return 0;
	for (int l = 0; l < nl; l++) {
		struct merge_pass p;
		merge_begin(&p, &fs, dc, l);
		for (size_t k = 0; k < NNAMES; k++) {
			/* Whiteouts first: the listing order must not matter,
			 * and this is the order that used to break it. */
			if (L[l].dotwh[k]) {
				char wh[32] = ".wh.";
				strcat(wh, names[k]);
				merge_name(&p, wh, DT_REG, 1, false);
			}
			int e = L[l].entry[k];
			if (!e)
				continue;
			enum kind kind = (enum kind)(e - 1);
			merge_name(&p, names[k],
				   kind == K_DIR     ? DT_DIR
				   : kind == K_DEVWH ? DT_CHR
						     : DT_REG,
				   L[l].ino[k], kind == K_DEVWH);
		}
		if (L[l].opaque)
			merge_name(&p, ".wh..wh..opq", DT_REG, 1, false);
		bool opaque = false;
		if (merge_end(&p, &opaque) < 0)
			abort();
		if (L[l].opaque != opaque)
			abort(); /* the marker must be recognised */
		/* The layers read so far, as dirload.c keeps them. */
		if (dcache_chain_append(dc, (uint16_t)l) < 0)
			abort();
		if (opaque)
			break;
	}
	dgap_finish(dc);

	/* What the rule says. */
	uint32_t expect_visible = 0;
	for (size_t k = 0; k < NNAMES; k++) {
		enum { UNDECIDED, OPEN, CLOSED } state = UNDECIDED;
		bool visible = false, merged = false;
		int top = -1, last_dir = -1;
		unsigned dir_layers = 0; /* the layers its merge opens */
		uint8_t dtype = 0;
		uint64_t top_ino = 0;
		for (int l = 0; l < nl && state != CLOSED; l++) {
			int e = reserved(names[k]) ? 0 : L[l].entry[k];
			enum kind kind = e ? (enum kind)(e - 1) : K_FILE;
			bool real = e && kind != K_DEVWH;
			bool hides = (e && kind == K_DEVWH) || L[l].dotwh[k];
			if (state == UNDECIDED) {
				if (real) {
					visible = true;
					top = l;
					top_ino = L[l].ino[k];
					last_dir = l;
					dir_layers = 1u << l;
					dtype = kind == K_DIR ? DT_DIR : DT_REG;
					state = (kind == K_DIR && !L[l].dotwh[k])
							? OPEN
							: CLOSED;
				} else if (hides) {
					state = CLOSED;
				}
			} else if (state == OPEN) {
				if (real && kind == K_DIR) {
					merged = true;
					last_dir = l;
					dir_layers |= 1u << l;
					if (L[l].dotwh[k])
						state = CLOSED;
				} else if (real || hides) {
					state = CLOSED;
				}
			}
			if (L[l].opaque)
				break;
		}
		struct drec *r = dcache_find(dc, names[k]);
		bool got = r && drec_visible(r);
		if (got != visible)
			abort();
		if (!visible)
			continue;
		expect_visible++;
		if (r->layer != top || r->dtype != dtype || r->ino != top_ino ||
		    !!(r->flags & R_MERGED) != merged)
			abort();
		/* A directory is opened again in exactly the layers from its
		 * top to the last one merged: none below, where it is absent
		 * or hidden. */
		if (dtype == DT_DIR && r->end != last_dir + 1)
			abort();
		/* ... and only in those: its gaps cover the layers between. */
		for (int l = top; dtype == DT_DIR && l < r->end; l++)
			if (dgap_covers(dc, r->name_off, (uint16_t)l) ==
			    !!(dir_layers & (1u << l)))
				abort();
		/* A name shown from a layer below the upper one. */
		if (fs.upper == 0 && top > 0 && !(r->flags & R_BELOW))
			abort();
	}
	if (dc->nvisible != expect_visible)
		abort();
	/* Every visible record is findable, exactly once. */
	for (uint32_t i = 0; i < dc->n; i++) {
		struct drec *r = &dc->recs[i];
		if (dcache_find(dc, drec_name(dc, r)) != r)
			abort();
		if (drec_visible(r) && reserved(drec_name(dc, r)))
			abort();
	}
	dcache_put(dc);
	return 0;
}
