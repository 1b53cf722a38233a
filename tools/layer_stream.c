#include "layer_stream.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "signals.h"

#define CHUNK (128 * 1024)

struct pipeline {
	int fd;
	struct digest_ctx blob, diff;
	struct archive *outer; /* decompresses: raw format, any filter */
	struct progress *progress;
	bool outer_eof;
	char raw[CHUNK];
	char plain[CHUNK];
};

/* Compressions are decoded inside libarchive (zlib, libzstd, liblzma...):
 * filter_all would also allow external programs, which an untrusted
 * blob has no business starting. */
static void support_filters(struct archive *a)
{
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_lzma(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_lz4(a);
}

bool layer_header_usable(int r)
{
	return r == ARCHIVE_OK || r == ARCHIVE_WARN;
}

struct archive *layer_archive_reader(void)
{
	struct archive *a = archive_read_new();
	if (!a)
		return NULL;
	support_filters(a);
	archive_read_support_format_tar(a);
	return a;
}

static la_ssize_t read_raw(struct archive *a, void *cd, const void **buf)
{
	struct pipeline *s = cd;
	for (;;) {
		if (signals_interrupted()) {
			archive_set_error(a, EINTR, "interrupted");
			return -1;
		}
		ssize_t n = read(s->fd, s->raw, sizeof(s->raw));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "%s", strerror(errno));
			return -1;
		}
		digest_update(&s->blob, s->raw, (size_t)n);
		if (s->progress)
			progress_add(s->progress, (uint64_t)n);
		*buf = s->raw;
		return n;
	}
}

static la_ssize_t read_plain(struct archive *a, void *cd, const void **buf)
{
	struct pipeline *s = cd;
	if (s->outer_eof)
		return 0;
	la_ssize_t n = archive_read_data(s->outer, s->plain, sizeof(s->plain));
	if (n < 0) {
		int e = archive_errno(s->outer);
		const char *m = archive_error_string(s->outer);
		archive_set_error(a, e > 0 ? e : EIO, "%s",
				  m ? m : "decompression failed");
		return -1;
	}
	if (n == 0)
		s->outer_eof = true;
	digest_update(&s->diff, s->plain, (size_t)n);
	*buf = s->plain;
	return n;
}

static int archive_fail(struct archive *a, char *err, size_t errlen,
			const char *what)
{
	int e = archive_errno(a);
	const char *m = archive_error_string(a);
	if (e == EINTR && m && strcmp(m, "interrupted") == 0) {
		snprintf(err, errlen, "interrupted");
		return -EINTR;
	}
	snprintf(err, errlen, "%s: %s", what, m ? m : "unreadable");
	/* A corrupt or truncated stream is bad input, whatever errno the
	 * decoder happened to leave. */
	return (e == ENOMEM || e == ENOSPC || e == EDQUOT || e == EIO)
		       ? -e
		       : -EINVAL;
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
	s->fd = fd;
	s->progress = p;
	digest_init(&s->blob, blob_algo);
	digest_init(&s->diff, diff_algo);
	struct archive *tar = NULL;
	struct unpacker *u = NULL;
	int r = 0;

	s->outer = archive_read_new();
	tar = archive_read_new();
	if (!s->outer || !tar) {
		r = -ENOMEM;
		goto out;
	}
	support_filters(s->outer);
	archive_read_support_format_raw(s->outer);
	archive_read_support_format_tar(tar);

	struct archive_entry *e;
	if (archive_read_open(s->outer, s, NULL, read_raw, NULL) != ARCHIVE_OK) {
		r = archive_fail(s->outer, err, errlen, "not a layer archive");
		goto out;
	}
	int hr = archive_read_next_header(s->outer, &e);
	if (hr == ARCHIVE_EOF) {
		snprintf(err, errlen, "the layer blob is empty");
		r = -EINVAL;
		goto out;
	}
	if (!layer_header_usable(hr)) {
		r = archive_fail(s->outer, err, errlen, "not a layer archive");
		goto out;
	}
	if (rootfd < 0)
		goto drain; /* verification only: hash, do not unpack */
	if (archive_read_open(tar, s, NULL, read_plain, NULL) != ARCHIVE_OK) {
		r = archive_fail(tar, err, errlen, "not a tar archive");
		goto out;
	}
	r = unpacker_new(rootfd, o, &u);
	if (r < 0)
		goto out;
	for (;;) {
		hr = archive_read_next_header(tar, &e);
		if (hr == ARCHIVE_EOF)
			break;
		if (!layer_header_usable(hr)) {
			r = archive_fail(tar, err, errlen,
					 "corrupt or truncated archive");
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
drain:
	while (!s->outer_eof) {
		const void *b;
		la_ssize_t n = read_plain(tar, s, &b);
		if (n < 0) {
			r = archive_fail(tar, err, errlen,
					 "corrupt or truncated archive");
			goto out;
		}
	}
	for (;;) {
		ssize_t n = read(fd, s->raw, sizeof(s->raw));
		if (n < 0 && errno == EINTR && !signals_interrupted())
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "%s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		digest_update(&s->blob, s->raw, (size_t)n);
	}
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
	if (s->outer)
		archive_read_free(s->outer);
	free(s);
	return r;
}
