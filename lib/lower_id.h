/*
 * The identity of a lower file, beyond its inode number: what layerfs's
 * hard-link index records of the lower inode an entry was copied from,
 * so that another file given the same number later (a lower layer
 * changed behind a udba=reval mount, or between mounts) is not taken
 * for it (fs/index.h; layertool's export reads the same record,
 * tools/index_links.h), and what a copy's origin mark is checked
 * against under udba=reval (fs/udba.h).
 *
 * A file handle where the filesystem gives one that names the file
 * for good (name_to_handle_at: on ext4, xfs, btrfs and tmpfs it holds
 * the inode's generation, which a reused inode number does not share),
 * else the birth time (statx), which a file made later shares only if
 * it was made within the same clock tick.  As text: "h" TYPE ":" HEX
 * of the handle, or "b" SEC "." NSEC.
 *
 * A FUSE filesystem's handle holds the node id its daemon gave the
 * file, which the daemon may give anew once the kernel forgets the
 * inode: the same file would look like another, and its index entry be
 * taken for stale.  Its files are known by their birth time, or not at
 * all (lower_id_handles_kept).
 */
#ifndef LFS_LOWER_ID_H
#define LFS_LOWER_ID_H

#include <stddef.h>

/* Room for the longest (a MAX_HANDLE_SZ handle in hex), with its NUL. */
#define LOWER_ID_MAX 272

#include <stdbool.h>

/*
 * The identity of dirfd/name (the file itself, never a symlink's
 * target; name "" for dirfd itself), into out[LOWER_ID_MAX]: its
 * length, 0 when the filesystem gives neither a handle nor a birth
 * time, or -errno.  handles: whether the filesystem's handles are kept
 * (lower_id_handles_kept; else only the birth time is used).
 */
int lower_id_at(int dirfd, const char *name, bool handles, char *out);

/* Whether the filesystem holding fd gives handles that name a file for
 * good (all but FUSE's). */
bool lower_id_handles_kept(int fd);

#endif
