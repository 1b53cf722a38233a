/*
 * Turning an upper directory into an OCI layer changeset.
 *
 * Walked in name order, each directory's entries as:
 *   the directory itself, its opaque marker (`.wh..wh..opq`, from the
 *   marker file or an overlay.opaque xattr), its whiteouts (`.wh.NAME`,
 *   from `.wh.` files or 0/0 character devices; none in or under an
 *   opaque directory, where they hide nothing), then its other entries.
 *
 * Marks only an upper layer carries are resolved against the lower
 * layers: a metadata-only copy (user.layerfs.metacopy, or kernel
 * overlayfs's overlay.metacopy) is exported with the lower data, and a
 * renamed directory (user.layerfs.redirect, overlay.redirect) with the
 * full merged content it shows, made opaque, since at its new name it is
 * a new directory.
 */
#ifndef LT_EXPORT_H
#define LT_EXPORT_H

#include <stddef.h>

#include "tar_writer.h"
#include "union.h"

struct export_counts {
	unsigned long files, dirs, whiteouts, opaque, materialised, metacopy;
};

/*
 * Writes the changeset of the upper directory upper_fd into w.  lower
 * holds the lower layers (top first), or is NULL when none were given:
 * then the first metacopy or redirect mark met is an error naming its
 * path.  work_fd, when >= 0, is the work directory the upper was mounted
 * with: the lower names of hard links copied up through its index are
 * written as links of the copy (index_links.h), as the mount showed
 * them.
 */
int export_upper(int upper_fd, const struct ustack *lower, int work_fd,
		 struct tar_writer *w, struct export_counts *counts,
		 char *err, size_t errlen);

#endif
