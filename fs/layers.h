/*
 * Opening the layers of a mount and checking them before anything is
 * mounted: every problem is reported as one line naming the directory and
 * the reason, and nothing is left behind.
 */
#ifndef LFS_LAYERS_H
#define LFS_LAYERS_H

#include "layerfs.h"

/* Opens the layers, workdir and checks the mountpoint.  Returns 0, or an
 * LFS_EXIT_* status after printing the reason. */
int layers_open(struct lfs *fs, struct lfs_options *o);
void layers_close(struct lfs *fs);

#endif
