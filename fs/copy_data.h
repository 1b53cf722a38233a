/*
 * Copying a file's bytes (holes kept; FICLONE, else copy_file_range,
 * else read and write) and its xattrs between two fds (copy_data.c).
 */
#ifndef LFS_COPY_DATA_H
#define LFS_COPY_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "layerfs.h"

/* Copies len bytes keeping holes; counts bytes into the stats. */
int copy_file_data(struct lfs *fs, int src, int dst, uint64_t len);

/* Copies the xattrs of src (an fd open on the source, O_PATH is fine)
 * onto dst, skipping layerfs's own and the overlay bookkeeping. */
int copy_xattrs(int src, int dst, bool dst_is_path_fd);

#endif
