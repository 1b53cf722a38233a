/*
 * The extended attributes that are some union filesystem's bookkeeping,
 * not a file's own: layerfs's, kernel overlayfs's, fuse-overlayfs's and
 * the override_stat records of rootless storage.  layerfs never shows
 * them through the mount; layertool never exports them from an upper
 * directory nor imports them from an archive.  One list, so that the
 * two never disagree.
 */
#ifndef LF_PRIVATE_XATTR_H
#define LF_PRIVATE_XATTR_H

#include <stdbool.h>

bool lf_xattr_is_bookkeeping(const char *name);

#endif
