/*
 * Writing an OCI layer tarball with libarchive (pax format): entries
 * taken from files on disk with their owner, mode, times and xattrs; hard
 * links kept as hard links; whiteouts and opaque markers as the OCI
 * spec's `.wh.` entries.  The uncompressed stream is hashed as it is
 * written (the diff ID), and so is the compressed one (the blob digest).
 * Modification times keep their nanoseconds; atimes and ctimes are never
 * stored.
 *
 * With `reproducible`, times are clamped to `clamp` and nothing that
 * depends on the writing machine or moment (owner names, gzip
 * timestamps) is stored.
 */
#ifndef LT_TAR_WRITER_H
#define LT_TAR_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "digest.h"

enum tw_compress { TW_NONE = 0, TW_GZIP, TW_ZSTD };

struct tw_opts {
	bool reproducible;
	int64_t clamp;          /* mtime ceiling when reproducible */
	enum tw_compress compress;
};

struct tw_result {
	char diff_id[DIGEST_STR_MAX];   /* of the tar stream */
	char digest[DIGEST_STR_MAX];    /* of the bytes written */
	uint64_t tar_size, size;
	uint64_t entries;
};

struct tar_writer;

int tw_open(int fd, const struct tw_opts *o, struct tar_writer **out,
	    char *err, size_t errlen);

/*
 * Adds the entry PATH for the file NAME below dirfd, whose lstat is ST.
 * For a regular file, data_fd (when >= 0) supplies the data instead of
 * the file itself: the lower data of a metadata-only copy.
 */
int tw_add(struct tar_writer *w, const char *path, int dirfd,
	   const char *name, const struct stat *st, int data_fd, char *err,
	   size_t errlen);

/* Adds an empty marker file PATH (a whiteout or the opaque marker) with
 * the time of ST. */
int tw_add_marker(struct tar_writer *w, const char *path,
		  const struct stat *st, char *err, size_t errlen);

/* Finishes the archive; fills res. */
int tw_close(struct tar_writer *w, struct tw_result *res, char *err,
	     size_t errlen);
/* Drops a writer after a failure. */
void tw_abort(struct tar_writer *w);

#endif
