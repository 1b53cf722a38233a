#include "decompress.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gzip_decode.h"
#include "signals.h"

struct decompress {
	int fd;
	decompress_raw_fn raw;
	void *ctx;
	struct gz_decoder *gz;  /* gzip */
	struct archive *outer;  /* the rest: raw format, libarchive's filters */
	const char *name;       /* of the compression */
	size_t pending;         /* bytes read first, to choose, not given yet */
	int read_error;         /* -errno of the descriptor, or 0 */
	char why[300];
	char buf[128 * 1024];
};

/* The next bytes of the blob, each seen once by the raw callback. */
static ssize_t pull(void *cd, const void **buf)
{
	struct decompress *d = cd;
	*buf = d->buf;
	if (d->pending) {
		ssize_t n = (ssize_t)d->pending;
		d->pending = 0;
		return n;
	}
	for (;;) {
		if (signals_interrupted())
			return d->read_error = -EINTR;
		ssize_t n = read(d->fd, d->buf, sizeof(d->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return d->read_error = -errno;
		if (d->raw && n > 0)
			d->raw(d->ctx, d->buf, (size_t)n);
		return n;
	}
}

static la_ssize_t archive_pull(struct archive *a, void *cd, const void **buf)
{
	ssize_t n = pull(cd, buf);
	if (n < 0) {
		archive_set_error(a, (int)-n, "%s", strerror((int)-n));
		return -1;
	}
	return n;
}

/* The reason for a failure that came from reading the descriptor. */
static ssize_t read_failed(struct decompress *d)
{
	int r = d->read_error;
	snprintf(d->why, sizeof(d->why), "%s",
		 r == -EINTR ? "interrupted" : strerror(-r));
	return r;
}

/* libarchive stopped decoding: corrupt or truncated data, unless the
 * descriptor failed it. */
static ssize_t outer_failed(struct decompress *d)
{
	if (d->read_error)
		return read_failed(d);
	int e = archive_errno(d->outer);
	const char *m = archive_error_string(d->outer);
	/* Unnamed: the filter failed as it started (archive_read_open
	 * bids on the filters, and the raw format takes anything). */
	const char *name = d->name ? d->name : "compressed";
	if (!strcmp(name, "none"))
		snprintf(d->why, sizeof(d->why), "%s",
			 m ? m : "unreadable data");
	else
		snprintf(d->why, sizeof(d->why),
			 "corrupt or truncated %s data: %s", name,
			 m ? m : "the decoder stopped");
	return e == ENOMEM ? -ENOMEM : -EINVAL;
}

static int open_outer(struct decompress *d)
{
	d->outer = archive_read_new();
	if (!d->outer)
		return -ENOMEM;
	archive_read_support_filter_zstd(d->outer);
	archive_read_support_filter_xz(d->outer);
	archive_read_support_filter_lzma(d->outer);
	archive_read_support_filter_bzip2(d->outer);
	archive_read_support_filter_lz4(d->outer);
	archive_read_support_format_raw(d->outer);
	struct archive_entry *e;
	int r = archive_read_open(d->outer, d, NULL, archive_pull, NULL);
	if (r == ARCHIVE_OK) {
		/* Named now: after a failure libarchive may have let go of
		 * its filters. */
		d->name = archive_filter_name(d->outer, 0);
		r = archive_read_next_header(d->outer, &e);
	}
	if (r == ARCHIVE_EOF)
		return -ENODATA;
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return (int)outer_failed(d);
	return 0;
}

int decompress_open(int fd, decompress_raw_fn raw, void *ctx,
		    struct decompress **out, char *err, size_t errlen)
{
	struct decompress *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = fd;
	d->raw = raw;
	d->ctx = ctx;
	const void *first;
	ssize_t n = pull(d, &first);
	int r = n < 0 ? (int)read_failed(d) : 0;
	if (r == 0 && n == 0)
		r = -ENODATA;
	if (r == 0) {
		d->pending = (size_t)n;
		r = gz_is_gzip(d->buf, d->pending)
			    ? gz_decoder_new(pull, d, &d->gz)
			    : open_outer(d);
	}
	if (r < 0) {
		snprintf(err, errlen, "%s", d->why[0] ? d->why : strerror(-r));
		decompress_free(d);
		return r;
	}
	*out = d;
	return 0;
}

ssize_t decompress_read(struct decompress *d, void *buf, size_t size)
{
	if (d->gz) {
		ssize_t n = gz_decoder_read(d->gz, buf, size);
		if (n < 0 && d->read_error)
			return read_failed(d);
		if (n < 0)
			snprintf(d->why, sizeof(d->why), "%s",
				 n == -EINVAL ? gz_decoder_error(d->gz)
					      : strerror((int)-n));
		return n;
	}
	la_ssize_t n = archive_read_data(d->outer, buf, size);
	return n < 0 ? outer_failed(d) : n;
}

int decompress_failed(const struct decompress *d, ssize_t n, char *err,
		      size_t errlen)
{
	snprintf(err, errlen, "%s", d->why);
	return n == -EINTR || n == -ENOMEM || n == -EIO ? (int)n : -EINVAL;
}

ssize_t decompress_archive_answer(struct archive *a,
				  const struct decompress *d, ssize_t n)
{
	if (n >= 0)
		return n;
	archive_set_error(a, (int)-n, "%s", d->why);
	return -1;
}

int decompress_tar_failed(const struct decompress *d, struct archive *a,
			  const char *what, char *err, size_t errlen)
{
	int e = archive_errno(a);
	if (e == EINTR || signals_interrupted()) {
		snprintf(err, errlen, "interrupted");
		return -EINTR;
	}
	const char *m = archive_error_string(a);
	if (d->why[0])
		snprintf(err, errlen, "%s", d->why);
	else
		snprintf(err, errlen, "%s: %s", what,
			 m ? m : "libarchive gave no reason");
	return (e == ENOMEM || e == ENOSPC || e == EDQUOT || e == EIO)
		       ? -e
		       : -EINVAL;
}

const char *decompress_name(const struct decompress *d)
{
	if (d->gz)
		return "gzip";
	return d->name ? d->name : "none";
}

void decompress_free(struct decompress *d)
{
	if (!d)
		return;
	gz_decoder_free(d->gz);
	if (d->outer)
		archive_read_free(d->outer);
	free(d);
}
