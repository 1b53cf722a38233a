/*
 * Reading an image directory (docs/image-format.md): its layers, in the
 * order layerfs wants them, and the parts of its OCI configuration a
 * launcher needs.
 */
#ifndef LF_IMAGE_H
#define LF_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

struct image_config {
	char **env;         /* NULL-terminated "KEY=VALUE" list, may be empty */
	char **entrypoint;  /* NULL-terminated, or NULL when unset */
	char **cmd;         /* NULL-terminated, or NULL when unset */
	char *working_dir;  /* NULL when unset */
	char *user;         /* NULL when unset ("uid", "uid:gid", "name") */
	char *stop_signal;  /* NULL when unset */
};

struct image {
	char *dir;           /* absolute path of the image directory */
	char **layers;       /* absolute layer directories, TOP FIRST, as
				lowerdir= wants them */
	size_t nlayers;
	char **diff_ids;     /* "sha256:...", same order as layers */
	char *config_digest; /* "sha256:..." */
	bool override_ownership; /* mount with xattr_permissions=2 */
	struct image_config config;
};

/*
 * Loads IMAGE_DIR.  On failure returns -errno (or -EINVAL for a malformed
 * image) and writes one line naming the problem into err.
 */
int image_load(const char *dir, struct image *img, char *err, size_t errlen);
void image_free(struct image *img);

#endif
