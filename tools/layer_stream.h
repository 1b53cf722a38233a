/*
 * One pass over a layer blob: the compressed bytes are hashed (the blob
 * digest), decompressed (decompress.h: gzip, zstd, xz, bzip2 and lz4,
 * recognised by content, whatever the media type claims), the tar stream
 * is hashed (the diff ID) and its members are applied by the unpacker.
 * No temporary copy is made of either stream.
 */
#ifndef LT_LAYER_STREAM_H
#define LT_LAYER_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "unpack.h"

struct progress;

struct layer_digests {
	char blob[DIGEST_STR_MAX]; /* of the bytes as read */
	char diff[DIGEST_STR_MAX]; /* of the uncompressed tar stream */
	uint64_t blob_size, diff_size;
	/*
	 * The tar stream ended with an end-of-archive block.  libarchive
	 * also ends cleanly where the data stops between two members, as
	 * Go's archive/tar (Docker, containerd) does, so a stream cut there
	 * reads as complete.  Where a diff ID verifies the stream that is
	 * harmless, and such layers exist; a rootfs tarball has nothing
	 * else to tell it from a truncated one.  True when nothing was
	 * unpacked (rootfd -1): the tar stream was not read.
	 */
	bool end_marker;
};

/*
 * Unpacks the blob open as fd into the directory rootfd.  blob_algo and
 * diff_algo choose the hash of each stream (those of the digests the
 * caller will compare against).  On failure returns -errno and a reason
 * in err; what was written below rootfd is the caller's to remove.
 * With rootfd -1 nothing is unpacked: the blob is only decompressed and
 * both digests computed (to verify a layer that is stored already).
 */
int layer_unpack(int fd, enum digest_algo blob_algo,
		 enum digest_algo diff_algo, int rootfd,
		 const struct unpack_opts *o, struct progress *p,
		 struct layer_digests *out, struct unpack_counts *counts,
		 char *err, size_t errlen);

/*
 * Whether an answer of archive_read_next_header gives an entry to use:
 * ARCHIVE_OK, or ARCHIVE_WARN (a name that did not convert, say).  Not
 * ARCHIVE_RETRY, a damaged header libarchive skipped, which comes with
 * an empty entry: it is greater than ARCHIVE_WARN, so a test of "r <
 * ARCHIVE_WARN" takes it for an entry.
 */
bool layer_header_usable(int r);

#endif
