/*
 * Lower layers changed behind the mount (udba=reval, aufs's name for
 * "user's direct branch access").
 *
 * By default the lower layers are taken to be as still as kernel
 * overlayfs takes them: listings, entries and pages are kept until the
 * mount changes them itself.  With udba=reval a change made to a lower
 * layer directly (a file added, edited, replaced or removed, a directory
 * made or a whiteout dropped in, in any layer) shows through the mount
 * once the kernel asks again, within `timeout=` seconds (1 by default
 * there), as with unionfs-fuse, which caches nothing.
 *
 * A directory's listing keeps a stamp of the directory in each lower
 * layer that may hold it (identity, mtime and ctime, or its absence),
 * taken before the layers are read; a listing older than the timeout is
 * stamped again when next used, and read again when a stamp moved.  A
 * node whose name the new listing gives to another file (another layer,
 * inode, type or merge range) is replaced at that name by a new one.
 * The upper layer belongs to the mount and is not watched, as kernel
 * overlayfs requires of it too; nor are the lower directories a rename
 * through the mount redirected a directory to.
 */
#ifndef LFS_UDBA_H
#define LFS_UDBA_H

#include <stdbool.h>

#include "dcache.h"
#include "layerfs.h"

struct node;
struct udba_stamps;

/*
 * Stamps dir in the lower layers top..end-1, for a listing about to be
 * read from them.  NULL (nothing to watch) without udba=reval; -ENOMEM
 * through *err.
 */
struct udba_stamps *udba_stamp(struct lfs *fs, struct node *dir, int top,
			       int end, int *err);
void udba_free(struct udba_stamps *s);
size_t udba_bytes(const struct udba_stamps *s);

/* Whether dir's listing is due for a check (the caller holds dir's lock
 * for reading or writing). */
bool udba_due(struct lfs *fs, const struct dcache *dc);

/* Checks dir's listing if due and drops it when a lower layer changed
 * under it.  The caller holds dir's lock for writing. */
void udba_revalidate_locked(struct lfs *fs, struct node *dir);

#endif
