/*
 * The identity of a lower file, beyond its inode number: what layerfs's
 * hard-link index records of the lower inode an entry was copied from,
 * so that another file given the same number later (a lower layer
 * changed behind a udba=reval mount, or between mounts) is not taken
 * for it (fs/index.h; layertool's export reads the same record,
 * tools/index_links.h).
 *
 * A file handle where the filesystem gives one (name_to_handle_at: on
 * ext4, xfs, btrfs and tmpfs it holds the inode's generation, which a
 * reused inode number does not share), else the birth time (statx),
 * which a file made later cannot share either.  As text: "h" TYPE ":"
 * HEX of the handle, or "b" SEC "." NSEC.
 */
#ifndef LFS_LOWER_ID_H
#define LFS_LOWER_ID_H

#include <stddef.h>

/* Room for the longest (a MAX_HANDLE_SZ handle in hex), with its NUL. */
#define LOWER_ID_MAX 272

/*
 * The identity of dirfd/name (the file itself, never a symlink's
 * target; name "" for dirfd itself), into out[LOWER_ID_MAX]: its
 * length, 0 when the filesystem gives neither a handle nor a birth
 * time, or -errno.
 */
int lower_id_at(int dirfd, const char *name, char *out);

#endif
