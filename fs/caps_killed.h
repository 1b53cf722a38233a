/*
 * Capabilities the kernel had us remove for a change that the file's
 * immutable or append-only flag then refused (caps_killed.c).
 *
 * Before a write, truncate or chown of a file with capabilities, the
 * FUSE client asks the daemon to remove security.capability (its
 * killpriv) and only then sends the change.  On a local filesystem and
 * on kernel overlayfs the flags refuse a truncate or a chown before the
 * capabilities are touched, and a write (through a descriptor the flags
 * allow) removes them past the flags.  The FUSE client does not know the
 * flags, so its removal comes first in every case; xattr_ops.c makes it
 * past the flags, as the write needs.  What the refused change needed
 * is then put back here: the removal is noted, with the thread that
 * asked it, and that thread's next SETATTR of the file settles it.
 *
 * The sequences, seen on Linux 6.18 (`layerfs -d`): a truncate sends
 * REMOVEXATTR then SETATTR(size), after a SETATTR of the cached times
 * with the writeback cache; a write sends REMOVEXATTR then a SETATTR
 * with nothing to set, after the same times.
 */
#ifndef LFS_CAPS_KILLED_H
#define LFS_CAPS_KILLED_H

#include <sys/types.h>

#include "layerfs.h"
#include "node.h"

/* The capabilities value (len bytes) removed from n past its flags for
 * thread tid.  The caller holds n's caps_change_lock. */
void caps_killed_note(struct node *n, pid_t tid, const void *value,
		      size_t len);
/* Any other change of n's capabilities ends the note. Under the lock. */
void caps_killed_forget(struct node *n);
/*
 * A SETATTR of n (to_set) by thread tid, with its result: the note's
 * change is over unless this only wrote back cached times.  If it
 * failed, the capabilities go back.  Cheap without a note.
 */
void caps_killed_settle(struct lfs *fs, struct node *n, pid_t tid,
			int to_set, int result);
/* For node_free. */
void caps_killed_free(struct node_ext *e);

#endif
