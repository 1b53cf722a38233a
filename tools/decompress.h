/*
 * The uncompressed bytes of a blob read from a file descriptor, its
 * compression recognised by content, whatever a media type claims: gzip
 * decoded by zlib (gzip_decode.h: each member's CRC-32 and length are
 * checked), zstd, xz, lzma, bzip2 and lz4 by libarchive's decoders
 * (which verify the checks those formats carry), anything else passed
 * through as it is.  Never by an external program: an untrusted blob
 * has no business starting one.
 */
#ifndef LT_DECOMPRESS_H
#define LT_DECOMPRESS_H

#include <stddef.h>
#include <sys/types.h>

struct archive;
struct decompress;

/* Called with every byte read from the descriptor, in order (a digest of
 * the blob, progress). */
typedef void (*decompress_raw_fn)(void *ctx, const void *buf, size_t n);

/*
 * Reads the first bytes of the blob open as fd and chooses the decoder.
 * -ENODATA for an empty blob; other failures -errno, with the reason in
 * err.  raw may be NULL.
 */
int decompress_open(int fd, decompress_raw_fn raw, void *ctx,
		    struct decompress **out, char *err, size_t errlen);
/*
 * Up to SIZE decoded bytes into BUF: their count, 0 at the end, or
 * -errno: -EINTR when a signal asked to stop, -EINVAL for corrupt or
 * truncated data, another for a read error.  The reason, one line, is
 * kept for decompress_failed and the two below.
 */
ssize_t decompress_read(struct decompress *d, void *buf, size_t size);
/* After decompress_read returned N < 0: its reason into err, and the
 * code for the caller (-EINVAL for any damage, whatever the decoder's
 * errno; -EINTR, -ENOMEM, -EIO as they are). */
int decompress_failed(const struct decompress *d, ssize_t n, char *err,
		      size_t errlen);
/*
 * For a libarchive read callback that gave libarchive's tar reader A the
 * result N of decompress_read: N, or, for a failure, -1 with the
 * decoder's reason set on A.
 */
ssize_t decompress_archive_answer(struct archive *a,
				  const struct decompress *d, ssize_t n);
/*
 * Why the tar reader A, fed by D, failed, into err: the decoder's reason
 * when the decoder failed (a corrupt gzip member is no tar problem),
 * else libarchive's after WHAT ("corrupt or truncated archive: ...").
 * The code: -EINTR when a signal asked to stop; -ENOMEM, -ENOSPC,
 * -EDQUOT, -EIO as they are; -EINVAL for any damage, whatever errno the
 * decoder happened to leave.
 */
int decompress_tar_failed(const struct decompress *d, struct archive *a,
			  const char *what, char *err, size_t errlen);
/* The compression found: "gzip", "zstd", "xz" ... or "none". */
const char *decompress_name(const struct decompress *d);
void decompress_free(struct decompress *d);

#endif
