/*
 * Writing whiteouts and opaque markers into the upper layer, and the
 * "slot" a name-creating operation works in: the parent copied up and
 * locked, its listing loaded, and what is known about the name.
 *
 * Ordering rules that keep a crash harmless (the merged view shows the
 * old state or the new, never a resurrected lower file):
 *  - dotwh: a `.wh.NAME` hides only the layers below its own, so a new
 *    NAME may be created before `.wh.NAME` is removed, and `.wh.NAME` is
 *    created before an upper NAME is removed;
 *  - overlay: the 0/0 device occupies NAME itself, so it is swapped in or
 *    out with one rename (or RENAME_EXCHANGE for directories).
 */
#ifndef LFS_WHITEOUT_OPS_H
#define LFS_WHITEOUT_OPS_H

#include <stdbool.h>

#include "dcache.h"
#include "layerfs.h"
#include "node.h"

struct slot {
	struct node *dir;
	struct dcache *dc;
	struct drec *rec;  /* NULL when the name was never seen */
	int pfd;           /* O_PATH on the directory in the upper layer */
	bool visible;      /* the name exists in the merged view */
	bool wh_upper;     /* an upper whiteout hides it */
	bool wh_chardev;   /* ... and that whiteout is a 0/0 device at NAME */
	bool below;        /* a lower layer shows the name */
};

/* What a slot is opened for: what dir's inode flags may refuse. */
enum slot_change { SLOT_ADD, SLOT_REMOVE };

/*
 * Copies dir up, takes its lock for writing, loads its listing and looks
 * name up.  Refuses reserved ".wh." names with EPERM, and the change
 * dir's immutable or append-only flag forbids (fileattr.h).  On success
 * the caller must slot_close().
 */
int slot_open(struct lfs *fs, struct node *dir, const char *name,
	      enum slot_change change, struct slot *s);
/* The same when dir's lock is already held for writing (rename). */
int slot_open_locked(struct lfs *fs, struct node *dir, const char *name,
		     struct slot *s);
void slot_close(struct lfs *fs, struct slot *s);
void slot_close_locked(struct slot *s);

/* Hides NAME of the slot from the layers below (after or instead of
 * removing an upper entry).  If upper_entry is true, the upper NAME is
 * removed in the same step (atomically for the overlay format). */
int whiteout_name(struct lfs *fs, struct slot *s, const char *name,
		  bool upper_entry, bool is_dir);

/* Creates `.wh.NAME` in the upper directory dirfd (a link to the shared
 * whiteout inode); -EEXIST if it is there already. */
int whiteout_place_dotwh(struct lfs *fs, int dirfd, const char *name);

/* After NAME was created in the upper directory: drops a `.wh.NAME`. */
int whiteout_clear(struct lfs *fs, struct slot *s, const char *name);

/* Makes the (staged or new) upper directory fd opaque. */
int whiteout_make_opaque(struct lfs *fs, int dirfd);

/*
 * Removes every whiteout (either format) of the upper directory dirfd,
 * which was made opaque: nothing below shows through it any more, so
 * they hide nothing, and an export would carry them for nothing.  Call
 * with the directory's lock held for writing.
 */
int whiteout_drop_all(int dirfd);

/* Places a staged entry workdir/work/TMP at NAME, replacing a 0/0 device
 * whiteout there; directories by exchange.  Then clears `.wh.NAME`. */
int whiteout_replace_with(struct lfs *fs, struct slot *s, const char *tmp,
			  const char *name, bool is_dir);

#endif
