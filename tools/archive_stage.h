/*
 * Writing the members of an image archive (docker-archive, OCI archive)
 * into a scratch directory so its index can be read in any order.  Only
 * regular files and directories are kept, under entry_path's rules; a
 * symlink that stays inside the archive (docker-archive uses them to
 * share a layer between entries) becomes a hard link to its target.
 */
#ifndef LT_ARCHIVE_STAGE_H
#define LT_ARCHIVE_STAGE_H

#include <stdbool.h>
#include <stddef.h>

/* What the top level of an archive holds: decides image vs rootfs. */
struct archive_kind {
	bool oci_layout;   /* oci-layout or index.json at the top */
	bool docker;       /* manifest.json at the top */
};

/* Reads the member names of the archive open as fd (then rewinds it). */
int archive_scan(int fd, struct archive_kind *kind, char *err, size_t errlen);

/* Writes the archive open as fd into the directory dirfd. */
int archive_stage(int fd, int dirfd, char *err, size_t errlen);

#endif
