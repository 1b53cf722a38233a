#include "layer_stream.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decompress.h"
#include "progress.h"
#include "signals.h"

#define CHUNK (128 * 1024)
#define TAR_BLOCK 512

struct pipeline {
	struct digest_ctx blob, diff;
	struct decompress *dc;
	struct progress *progress;
	bool plain_eof;
	/* The last bytes of the tar stream: an end-of-archive block? */
	unsigned char tail[TAR_BLOCK];
	size_t tail_len;
	char plain[CHUNK];
};

bool layer_header_usable(int r)
{
	return r == ARCHIVE_OK || r == ARCHIVE_WARN;
}

/* Every byte of the blob as read: its digest, the progress line. */
static void saw_raw(void *cd, const void *buf, size_t n)
{
	struct pipeline *s = cd;
	digest_update(&s->blob, buf, n);
	if (s->progress)
		progress_add(s->progress, (uint64_t)n);
}

static void keep_tail(struct pipeline *s, const char *buf, size_t n)
{
	if (n >= TAR_BLOCK) {
		memcpy(s->tail, buf + n - TAR_BLOCK, TAR_BLOCK);
		s->tail_len = TAR_BLOCK;
		return;
	}
	size_t keep = s->tail_len + n > TAR_BLOCK ? TAR_BLOCK - n : s->tail_len;
	memmove(s->tail, s->tail + s->tail_len - keep, keep);
	memcpy(s->tail + keep, buf, n);
	s->tail_len = keep + n;
}

/* The next bytes of the tar stream, hashed (the diff ID). */
static ssize_t next_plain(struct pipeline *s)
{
	if (s->plain_eof)
		return 0;
	ssize_t n = decompress_read(s->dc, s->plain, sizeof(s->plain));
	if (n < 0)
		return n;
	if (n == 0)
		s->plain_eof = true;
	digest_update(&s->diff, s->plain, (size_t)n);
	keep_tail(s, s->plain, (size_t)n);
	return n;
}

static la_ssize_t read_plain(struct archive *a, void *cd, const void **buf)
{
	struct pipeline *s = cd;
	*buf = s->plain;
	return decompress_archive_answer(a, s->dc, next_plain(s));
}

/*
 * Whether a tar stream the reader took to its end had an end-of-archive
 * marker (layer_digests.end_marker).  The reader stops at the first zero
 * block: if it took the whole stream, the stream must end in one (the
 * marker, maybe padded); the data of a last member that ends in 512 zero
 * bytes, cut right after, cannot be told from it.
 */
static bool has_end_marker(const struct pipeline *s, int64_t consumed)
{
	if (consumed < (int64_t)s->diff.bytes)
		return true;
	if (s->tail_len < TAR_BLOCK)
		return false;
	for (size_t i = 0; i < TAR_BLOCK; i++)
		if (s->tail[i])
			return false;
	return true;
}

int layer_unpack(int fd, enum digest_algo blob_algo,
		 enum digest_algo diff_algo, int rootfd,
		 const struct unpack_opts *o, struct progress *p,
		 struct layer_digests *out, struct unpack_counts *counts,
		 char *err, size_t errlen)
{
	struct pipeline *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->progress = p;
	digest_init(&s->blob, blob_algo);
	digest_init(&s->diff, diff_algo);
	struct archive *tar = NULL;
	struct unpacker *u = NULL;
	int r = decompress_open(fd, saw_raw, s, &s->dc, err, errlen);
	if (r == -ENODATA) {
		snprintf(err, errlen, "the layer blob is empty");
		r = -EINVAL;
	}
	if (r < 0)
		goto out;
	if (rootfd < 0)
		goto drain; /* verification only: hash, do not unpack */
	tar = archive_read_new();
	if (!tar) {
		r = -ENOMEM;
		goto out;
	}
	archive_read_support_format_tar(tar);
	struct archive_entry *e;
	if (archive_read_open(tar, s, NULL, read_plain, NULL) != ARCHIVE_OK) {
		r = decompress_tar_failed(s->dc, tar, "not a tar archive", err,
					  errlen);
		goto out;
	}
	r = unpacker_new(rootfd, o, &u);
	if (r < 0)
		goto out;
	for (;;) {
		int hr = archive_read_next_header(tar, &e);
		if (hr == ARCHIVE_EOF)
			break;
		if (!layer_header_usable(hr)) {
			r = decompress_tar_failed(
				s->dc, tar, "corrupt or truncated archive",
				err, errlen);
			goto out;
		}
		r = unpacker_entry(u, tar, e, err, errlen);
		if (r < 0)
			goto out;
		if (signals_interrupted()) {
			snprintf(err, errlen, "interrupted");
			r = -EINTR;
			goto out;
		}
	}
	/* The tar reader stops at the end-of-archive blocks: the padding
	 * after them is part of the diff ID, and any bytes after the
	 * compressed stream part of the blob digest. */
drain:;
	int64_t consumed = tar ? archive_filter_bytes(tar, 0) : 0;
	while (!s->plain_eof) {
		ssize_t n = next_plain(s);
		if (n < 0) {
			r = decompress_failed(s->dc, n, err, errlen);
			goto out;
		}
	}
	for (;;) {
		ssize_t n = read(fd, s->plain, sizeof(s->plain));
		if (n < 0 && errno == EINTR && !signals_interrupted())
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "%s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		digest_update(&s->blob, s->plain, (size_t)n);
	}
	out->end_marker = !tar || has_end_marker(s, consumed);
	if (u) {
		r = unpacker_finish(u, err, errlen);
		if (r < 0)
			goto out;
	}
	out->blob_size = s->blob.bytes;
	out->diff_size = s->diff.bytes;
	digest_final(&s->blob, out->blob);
	digest_final(&s->diff, out->diff);
out:
	if (u && counts)
		*counts = *unpacker_counts(u);
	unpacker_free(u);
	if (tar)
		archive_read_free(tar);
	decompress_free(s->dc);
	free(s);
	return r;
}
