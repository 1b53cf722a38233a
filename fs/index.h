/*
 * The hard-link index, workdir/index: what keeps the names of one lower
 * inode one inode after a copy-up, as kernel overlayfs does with
 * index=on.
 *
 * A lower inode with several names is copied up once, into
 * index/KEY (KEY names the lower inode: "DEV-INO" in hex), and each of
 * its names in the upper layer is a hard link of that entry.  A lower
 * name met later finds the entry by its own (dev, ino) and is served by
 * it.  The entry holds one link more than the view shows, and lower
 * names not copied up yet count too: the link count shown is kept in
 * the user.layerfs.nlink mark.
 *
 * A regular file carries its mark and its origin (user.layerfs.origin,
 * which is KEY) itself.  A symlink or a device cannot carry user.*
 * xattrs: its count is kept in a regular file beside it,
 * index/KEY.nlink, and its upper names are recognised by inode number,
 * from a table of the index's special entries read once per mount.
 *
 * An entry also records which lower file it was made from
 * (user.layerfs.lowerid, lower_id.h; a special file's on its count
 * file), since the key is only an inode number: a lower file removed
 * and another made with its number (a lower layer changed behind a
 * udba=reval mount, or between mounts) must not be served by the first
 * one's copy.  A lower name whose file is not the recorded one finds
 * the entry stale: the index name is removed, its upper names keep
 * their inode as plain upper files (the entry's marks are taken off
 * them), and the new file copies up on its own.  An entry made before
 * the record existed is trusted as it was: nothing tells its file
 * apart.  (A copy of a file with one link carries the same record beside
 * its origin mark, which udba=reval checks: udba_origin_holds.)
 */
#ifndef LFS_INDEX_H
#define LFS_INDEX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "layerfs.h"
#include "lower_id.h"
#include "node.h"

/* Room for a key and the ".nlink" suffix of a special file's count. */
#define INDEX_KEY_MAX 40
#define INDEX_NLINK_SUFFIX ".nlink"

/* Sets up and frees the per-mount state (after index_fd is open). */
int index_init(struct lfs *fs);
void index_close(struct lfs *fs);

/* Whether a copy-up of a file with these attributes goes through the
 * index: a non-directory with several links, with an index that can
 * keep counts (user.* xattrs in the upper layer). */
bool index_wanted(struct lfs *fs, const struct stat *lower);

/* The key of a lower inode. */
void index_key(char *buf, size_t size, dev_t dev, uint64_t ino);

/*
 * Moves the staged copy work/tmp into the index as the entry key, with
 * its link count, and leaves a link of it at work/tmp to be published
 * at the file's name.  A special file's count is written first, beside
 * it, so no entry is ever without one.
 */
int index_enter(struct lfs *fs, const char *tmp, const char *key,
		const struct stat *lower, const char *lower_id);
/* (-EEXIST: the entry is there already, made through another name.
 * lower_id: lower_id_at's of the file copied, "" when there is none.) */

/* The identity (lower_id.h) of n's file in lower layer `layer`, of fd
 * when it is >= 0 (the file being copied): "" when there is none or it
 * cannot be read (the entry then goes unchecked, as an older one). */
void index_lower_id(struct lfs *fs, struct node *n, int layer, int fd,
		    char *out);

/* Takes back the entry key that index_enter made of the file open as
 * fd, if nothing else links it (the copy-up failed before its name). */
void index_withdraw(struct lfs *fs, const char *key, int fd);

/* Lookup of a lower name whose inode was already copied up: points the
 * node at the index entry, and gives the entry's attributes in *entry
 * (unless NULL).  0 when it applies, -ENOENT when not, -ESTALE when the
 * entry was another lower file's (and is now out of the index). */
int index_attach(struct lfs *fs, struct node *n, const struct stat *lower,
		 struct stat *entry);

/*
 * Lookup of an upper name (pfd/name, attributes st) that may be a link
 * of an index entry: such a node counts its links by the index
 * (N_HLINK) and learns the entry's key, so the file's lower names, and
 * its other names once this one is removed, reach the same inode (also
 * after a remount).  A special file also takes the inode number of its
 * origin, as a regular file's origin mark gives it.  Called on a node no
 * other thread sees yet.
 */
void index_mark_link(struct lfs *fs, struct node *n, int pfd,
		     const char *name, const struct stat *st);

/* A listing's inode number for an upper special file, composed from its
 * real one: its origin's when it is a link of an index entry. */
bool index_special_origin(struct lfs *fs, uint64_t upper_ino,
			  uint64_t *ino);

/*
 * After a name of n went, or its last open file closed: an entry whose
 * count says no name shows it any more, and which no upper name links,
 * leaves the index, as kernel overlayfs cleans up an index entry when
 * its inode's last name goes; a data copy frees its space.  Only where
 * the counts are trusted (fs->index_counts_trusted): a count one too low
 * would take the copy from a lower name that still shows it.  Otherwise,
 * and for counts above the names (lower names a higher layer hides),
 * layertool fsck removes what nothing reaches.
 */
void index_release_unused(struct lfs *fs, struct node *n);

/* Link count of a hard link kept in the index. */
int index_nlink(struct lfs *fs, struct node *n, uint64_t *nlink);
/* Adjusts it by delta after link/unlink through the mount. */
int index_nlink_add(struct lfs *fs, struct node *n, int delta);

#endif
