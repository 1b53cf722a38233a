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
 * there, what unionfs-fuse's kernel caches keep), a new name at once.
 *
 * A directory's listing keeps a stamp of the directory in each lower
 * layer that may hold it (identity, mtime and ctime, or its absence),
 * taken before the layers are read; a listing older than the timeout is
 * stamped again when next used (under the directory's read lock), and
 * read again when a stamp moved; a name the listing lacks has it
 * stamped at once, and the kernel keeps no negative entry.  A
 * node whose name the new listing gives to another file (another layer,
 * inode, type or merge range) is replaced at that name by a new one.
 * A directory's mtime moves with each change of its entries; where the
 * filesystem keeps coarse timestamps (before Linux 6.13's multigrain
 * ones) a change made in the same clock tick as the stamp that saw the
 * one before it shows only with the next change.
 * An xattr set on an entry moves neither, and is not seen until the
 * directory changes otherwise (an xwhiteout made by its xattr alone):
 * stamping every entry would cost a stat of each per check.
 * The upper layer belongs to the mount and is not watched, as kernel
 * overlayfs requires of it too; nor are the lower directories a rename
 * through the mount redirected a directory to.
 * A copy-up in this mode always takes the data (copy_up.c): the lower
 * file may change after it.
 */
#ifndef LFS_UDBA_H
#define LFS_UDBA_H

#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "dcache.h"
#include "layerfs.h"
#include "whiteout.h"

struct node;
struct udba_stamps;

/*
 * Stamps dir in the lower layers top..end-1, for a listing about to be
 * read from them.  NULL (nothing to watch) without udba=reval; -ENOMEM
 * through *err.
 */
struct udba_stamps *udba_stamp(struct lfs *fs, struct node *dir, int top,
			       int end, int *err);
/* A listing's stamps go with it: the directory fds cached for what they
 * watched are opened again before next use (dirfd_cache.h). */
void udba_free(struct udba_stamps *s);
size_t udba_bytes(const struct udba_stamps *s);

/* Whether dir's listing is due for a check (the caller holds dir's lock
 * for reading or writing). */
bool udba_due(struct lfs *fs, const struct dcache *dc);

/*
 * Whether a lower layer changed under dir's listing since it was read:
 * stamps the directory again (the caller holds dir's lock, for reading
 * is enough).  Asked when the listing is due, and for every name it
 * lacks, whatever its age: new names show at once, as the kernel keeps
 * no negative entry in this mode.
 */
bool udba_stale(struct lfs *fs, struct node *dir);

/* Drops dir's listing, found stale as `seen`, unless it is another
 * already.  The caller holds dir's lock for writing. */
void udba_drop_if(struct lfs *fs, struct node *dir, struct dcache *seen);

/*
 * What a stat of a node's file in `layer` says of the node once lower
 * layers may change behind the mount: 0 it stands; -ENOENT its name was
 * whited out since the listing was read (a 0/0 device now, which the
 * mount must never show as a file); -ESTALE it is another kind of file
 * now, which a lookup gives a node of its own (the kernel would take
 * this inode's new type for a corrupt inode and refuse it for good:
 * EIO).  mode is the node's type, 0 for a node being made.  Always 0
 * without udba=reval, and for the upper layer.  Inline: every GETATTR
 * and lookup asks, and by default pays one branch.
 */
static inline int udba_check_stat(struct lfs *fs, int layer, mode_t mode,
				  const struct stat *st)
{
	if (!fs->opt->udba_reval || lfs_is_upper(fs, layer))
		return 0;
	if (wh_is_overlay_whiteout(st))
		return -ENOENT;
	if (mode && (st->st_mode & S_IFMT) != mode)
		return -ESTALE;
	return 0;
}

/* Whether dir's listing dc must be read again: its merge range moved,
 * or it is due and a lower layer changed under it.  For a listing with
 * stamps (udba=reval); the caller holds dir's lock, for reading is
 * enough. */
bool udba_outdated(struct lfs *fs, struct node *dir, const struct dcache *dc);

/* Checks dir's listing if due and drops it when a lower layer changed
 * under it.  The caller holds dir's lock for writing. */
void udba_revalidate_locked(struct lfs *fs, struct node *dir);

/*
 * An upper directory's merge range follows its parent's listing, which
 * gives the layer where the merge of its name ends (`end`): a lower
 * layer may gain a directory of that name (a directory made through the
 * mount where no layer had one then merges with it, as the layers on
 * disk say) or lose it, and a whiteout may come between.  A lower
 * directory's node is replaced instead (lookup.c), as another file; an
 * upper one is the mount's own file, kept, and only its listing is read
 * again.  A redirected directory merges with the lower directories its
 * redirect names, not with those at its name.  The caller holds the
 * parent's lock (for reading is enough).
 */
void udba_follow_range(struct lfs *fs, struct node *n, uint16_t end);

/*
 * A copied-up regular file shows its lower file's inode number (its
 * origin mark, (dev, ino)), and the mark records which lower file that
 * was (lower_id.h, xp_set_origin), since the number alone does not
 * say: under udba=reval the lower file may be removed behind the mount
 * and another made, anywhere, that gets its number, and the two must
 * not show one st_ino.  Whether the copy dirfd/name (an upper entry of
 * dir's listing, being read), recorded as rec, may still show it: true
 * when rec is "" (made by an older layerfs, or a metadata-only copy:
 * trusted, as before), when it has several links (names made through
 * the mount, or an index entry's, which the index checks itself: names
 * at several paths of one inode must agree), when the lower layers
 * hold at its path the file the record names, or, not there (renamed
 * through the mount), when the record's handle still opens that inode.
 * The rule is sound: the copy shows the number only while the lower
 * file that has it is found to be the one copied, so no other file can
 * have it; where nothing can tell (not at its path and the daemon may
 * not open by handle, without CAP_DAC_READ_SEARCH, or the record is a
 * birth time) the copy takes its own number.  Asked when a listing is
 * read, with udba=reval only: a listing is read again when a lower
 * directory under it changed, which the removal of the lower file at
 * the copy's path is.  Costs there, per copy with a record: a stat,
 * and per lower layer of the origin's filesystem an open and a stat,
 * one name_to_handle_at where the file is found (the record comes with
 * the origin mark, read already).
 */
bool udba_origin_holds(struct lfs *fs, struct node *dir, int dirfd,
		       const char *name, dev_t dev, uint64_t ino,
		       const char *rec);
/* Makes the copy dirfd/name, whose origin did not hold, a plain upper
 * file (its origin mark taken off, the record with it, so a remount
 * shows it the same), and gives the node presenting it (showing
 * origin) its own number `own`, as retire_stale (index.c) does. */
void udba_origin_drop(struct lfs *fs, struct node *dir, int dirfd,
		      const char *name, uint64_t origin, uint64_t own);

#endif
