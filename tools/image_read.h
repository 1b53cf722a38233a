/*
 * The parts of an image directory that writing a derived image needs
 * beyond what lib/image.h gives a launcher: the layer records (blob
 * digests, sizes, store names), the store, the platform and the raw
 * config.json.
 */
#ifndef LT_IMAGE_READ_H
#define LT_IMAGE_READ_H

#include <stdbool.h>
#include <stddef.h>

#include "image_write.h"

struct image_index {
	char *dir;                     /* absolute */
	struct image_layer_rec *layers; /* bottom first */
	size_t nlayers;
	char *store;                   /* absolute */
	bool override_owner;
	char *os, *arch, *variant;
	char *config;                  /* config.json bytes */
	size_t config_len;
};

int image_index_load(const char *dir, struct image_index *out, char *err,
		     size_t errlen);
void image_index_free(struct image_index *ix);

#endif
