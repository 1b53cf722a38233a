/*
 * gzip decoded with zlib, whose inflate checks the CRC-32 and length
 * that end each member.  libarchive's gzip reader checks neither, so a
 * corrupt rootfs tarball (which no diff ID verifies) imported with wrong
 * content and no word.
 *
 * Members one after the other (`cat a.gz b.gz`, some parallel
 * compressors) are decoded in turn; zero bytes after the last one (the
 * padding of a tape block) end the stream.  Anything else after a
 * member, and a stream that stops inside one, is an error.
 */
#ifndef LT_GZIP_DECODE_H
#define LT_GZIP_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The next compressed bytes: their count, 0 at the end of the input, or
 * -errno.  *buf stays valid until the next call. */
typedef ssize_t (*gz_pull_fn)(void *ctx, const void **buf);

struct gz_decoder;

/* True when BUF begins as a gzip member does (magic, deflate). */
bool gz_is_gzip(const void *buf, size_t n);

int gz_decoder_new(gz_pull_fn pull, void *ctx, struct gz_decoder **out);
/*
 * Decodes up to SIZE bytes into BUF: their count (at least one), 0 at
 * the end of the stream, or -errno: what pull returned, or -EINVAL for
 * corrupt or truncated data, with the reason in gz_decoder_error.
 */
ssize_t gz_decoder_read(struct gz_decoder *g, void *buf, size_t size);
const char *gz_decoder_error(const struct gz_decoder *g);
void gz_decoder_free(struct gz_decoder *g);

#endif
