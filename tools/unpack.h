/*
 * Applies the members of one layer archive to a directory, the way the
 * layer store keeps layers: dotwh format (".wh." members stay as they
 * are), owners, modes, times, xattrs and hard links kept.
 *
 * Members apply in archive order, as in an OCI changeset: a later member
 * of a name replaces the earlier one (a directory only by another
 * directory keeps what it holds).
 *
 * Every member passes entry_path's rules first, and every path is
 * resolved below the layer root with *at() calls that refuse symlinks,
 * so a hostile archive cannot write outside the layer, whatever order its
 * members come in.
 */
#ifndef LT_UNPACK_H
#define LT_UNPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct archive;
struct archive_entry;

struct unpack_opts {
	/* Record owners and modes in user.containers.override_stat instead
	 * of applying them (rootless import). */
	bool override_owner;
	/* A device node becomes an empty file whose override record names
	 * the device (where mknod is not allowed: rootless). */
	bool device_standins;
};

/* What was done, member by member: a member that a later one replaced
 * (a directory with all it held) stays counted, as work done and
 * attributes met in the archive. */
struct unpack_counts {
	uint64_t entries;
	uint64_t bytes;          /* regular file data written */
	unsigned xattrs_dropped; /* bookkeeping names never imported */
	unsigned xattrs_failed;  /* not permitted here (rootless) */
	char first_failed_xattr[256];
};

struct unpacker;

int unpacker_new(int rootfd, const struct unpack_opts *o,
		 struct unpacker **out);
/*
 * Applies member E, reading its data from A.  On failure returns -errno
 * (-EINVAL for a refused member) and writes the reason, naming the
 * member, into err.
 */
int unpacker_entry(struct unpacker *u, struct archive *a,
		   struct archive_entry *e, char *err, size_t errlen);
/* Applies the directory modes and times held back until the end. */
int unpacker_finish(struct unpacker *u, char *err, size_t errlen);
const struct unpack_counts *unpacker_counts(const struct unpacker *u);
void unpacker_free(struct unpacker *u);

#endif
