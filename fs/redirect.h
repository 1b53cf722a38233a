/*
 * Directory redirects: how a merged directory is renamed without copying
 * its subtree.
 *
 * `mv /a/b /c`, where /a/b has content in lower layers, creates /c in the
 * upper layer with user.layerfs.redirect = "/a/b" and hides /a/b with a
 * whiteout.  Listing /c then reads the upper /c and, in the layers below,
 * the directory "/a/b" exactly as the lower layers alone merge it.
 * Redirects are read only from the upper layer; `layertool export`
 * materialises them when an upper directory is turned into an OCI layer.
 */
#ifndef LFS_REDIRECT_H
#define LFS_REDIRECT_H

#include <stdint.h>

struct lfs;

/*
 * The layers below the upper one where lower path PATH ("/a/b") shows as a
 * directory, top first, following the union rules of those layers alone:
 * a whiteout or a non-directory at PATH or any of its parents stops the
 * search, and so does an opaque directory.
 */
int redirect_lower_chain(struct lfs *fs, const char *path, uint16_t *out,
			 uint16_t max, uint16_t *n);

#endif
