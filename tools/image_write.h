/*
 * Writing an image directory (docs/image-format.md), the counterpart of
 * lib/image.h's reader: config.json byte for byte, layers/N links into
 * the store, and image.json last.  The directory is built under a
 * temporary name beside its final one and renamed into place, so an
 * image directory either exists complete or not at all.
 */
#ifndef LT_IMAGE_WRITE_H
#define LT_IMAGE_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"

struct image_layer_rec {
	char diff_id[DIGEST_STR_MAX];
	char digest[DIGEST_STR_MAX]; /* blob digest, "" when none */
	uint64_t size;               /* of the blob (or the tar) */
	char store_name[160];        /* directory in the store */
};

struct image_spec {
	const char *config;   /* config.json bytes */
	size_t config_len;
	const struct image_layer_rec *layers; /* bottom first */
	size_t nlayers;
	const char *store;     /* absolute path of the store */
	bool override_owner;   /* "ownership": "override_stat" */
	const char *os, *arch, *variant; /* variant may be NULL */
	const char *source;
};

/*
 * Checks that IMAGE_DIR can be created (it does not exist, or is an empty
 * directory) before any work starts.  -EEXIST and a reason otherwise.
 */
int image_dir_check_free(const char *image_dir, char *err, size_t errlen);

/* Writes the image directory. */
int image_write(const char *image_dir, const struct image_spec *spec,
		char *err, size_t errlen);

/* Absolute form of a path that may not exist yet (its parent must). */
char *abs_path_of(const char *path);

#endif
