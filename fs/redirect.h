/*
 * Directory redirects: how a merged directory is renamed without copying
 * its subtree.
 *
 * `mv /a/b /c`, where /a/b has content in lower layers, creates /c in the
 * upper layer with user.layerfs.redirect = "/a/b" and hides /a/b with a
 * whiteout.  Listing /c then reads the upper /c and, in the layers below,
 * the directory "/a/b" exactly as the lower layers alone merge it.
 * This mount's redirects are read only from the upper layer; `layertool
 * export` materialises them when an upper directory is turned into an
 * OCI layer.  Kernel overlayfs's own (overlay.redirect, written by a
 * mount with redirect_dir=on) are followed where a layer it wrote is a
 * lower layer (dirload.c, node.h's lower_redirect).
 */
#ifndef LFS_REDIRECT_H
#define LFS_REDIRECT_H

#include <stdbool.h>
#include <stdint.h>

/* Which values are followed: redirect_path_ok, redirect_kernel_value_ok. */
#include "redirect_value.h"

struct lfs;

/*
 * The layers from `from` down where lower path PATH ("/a/b") shows as a
 * directory, top first, following the union rules of those layers alone:
 * a whiteout or a non-directory at PATH or any of its parents stops the
 * search, and so does an opaque directory; a directory on it that kernel
 * overlayfs renamed leads it elsewhere in the layers below
 * (redirect_translate).
 */
int redirect_lower_chain(struct lfs *fs, const char *path, int from,
			 uint16_t *out, uint16_t max, uint16_t *n);

/*
 * Kernel overlayfs's lookups in the layers below a directory it renamed
 * (overlay.redirect on it) go where the redirect says: so does a path
 * through it.  The path ("a/b", malloc'd) at layer `to` of `path` as it
 * is at layer `from`, through every such directory on it in the layers
 * from `from` to `to` (exclusive); NULL when out of memory.
 */
char *redirect_translate(struct lfs *fs, const char *path, int from, int to);

/* Layer `layer` has kernel overlayfs's marks (a directory with them was
 * read there), and at mount, whether its root has any: only such layers
 * are walked to translate a path. */
void redirect_note_kernel_layer(struct lfs *fs, int layer);
void redirect_probe_layer(struct lfs *fs, int layer);

/* The kernel's redirect xattr (trusted.* only, whatever `userxattr`
 * says) of the file at path (xp_get's follow): 1 with its malloc'd
 * *value as written, 0 when none, -EIO when unreadable, -ENOMEM. */
int redirect_kernel_value(struct lfs *fs, const char *path, bool follow,
			  char **value);

/* The kernel's redirect of the directory fd (O_PATH is fine), when it
 * has one to follow: 1 with a malloc'd *value, 0 when none, -errno. */
int redirect_kernel_dir(struct lfs *fs, int fd, char **value);

#endif
