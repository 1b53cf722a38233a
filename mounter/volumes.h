/*
 * Volumes: -v HOST:CTR[:ro], recursive bind mounts of host files and
 * directories, and --tmpfs mounts (tmpfs.h), in path order.  Binds:  Sources are cloned with open_tree() while the host is
 * still visible; targets are made inside the container's root (so the
 * mount point, and only it, lands in the upper layer, as with Docker)
 * and resolved with symlinks clamped to that root.  ro is recursive:
 * submounts of the source are read-only too.
 */
#ifndef LR_VOLUMES_H
#define LR_VOLUMES_H

#include <stddef.h>

#include "run_opts.h"

int volumes_mount(int rootfd, const struct volume *vols, size_t n, char *err,
		  size_t errlen);

#endif
