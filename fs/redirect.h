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

struct lfs;
struct node;

/*
 * The layers from `from` down where lower path PATH ("/a/b") shows as a
 * directory, top first, following the union rules of those layers alone:
 * a whiteout or a non-directory at PATH or any of its parents stops the
 * search, and so does an opaque directory.
 */
int redirect_lower_chain(struct lfs *fs, const char *path, int from,
			 uint16_t *out, uint16_t max, uint16_t *n);

/* Whether a redirect kernel overlayfs wrote is one to follow: a name, or
 * a path from the layer's root, with no "." or ".." component. */
bool redirect_kernel_value_ok(const char *v);

/*
 * The same for NAME in the directories of PARENT in `layers` (its own
 * merge, top first): where a directory kernel overlayfs renamed inside
 * its parent (a relative overlay.redirect) is found below.  out holds
 * nlayers.
 */
int redirect_lower_chain_in(struct lfs *fs, struct node *parent,
			    const char *name, const uint16_t *layers,
			    uint16_t nlayers, uint16_t *out, uint16_t *n);

#endif
