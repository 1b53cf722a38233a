/* The table of FUSE low-level operations served by layerfs. */
#ifndef LFS_OPS_H
#define LFS_OPS_H

#include "layerfs.h"

extern const struct fuse_lowlevel_ops lfs_ops;

#endif
