/*
 * FUSE passthrough (Linux 6.9 and later): reads, writes and mmap of a
 * file whose data is in the upper layer (and of a program run from a
 * lower one) go from the kernel straight to the real file, with no READ
 * or WRITE request to the daemon.
 *
 * The kernel asks three things of a server that uses it:
 *  - it must hold CAP_SYS_ADMIN in the initial user namespace to register
 *    a backing file (so a rootless mount never uses passthrough);
 *  - the writeback cache is then off for the whole mount (the kernel
 *    refuses both together), so passthrough is chosen at INIT, only when
 *    it can be used;
 *  - while an inode has files open in passthrough mode, every other open
 *    of it must be passthrough with the same backing file, and while it
 *    has files open through the page cache ("cached" mode), none may be
 *    passthrough: a mismatch fails the open with EIO, a direct-I/O open
 *    beside a passthrough one included.
 *
 * Which open gets which mode:
 *  - upper data: passthrough, unless the node has cached opens or the
 *    file is append-only (file.c, kept_off_passthrough);
 *  - lower data is read through the page cache, except for the opens
 *    the kernel makes to run a program (exec): a program started from
 *    a lower layer is read from the lower file itself, not copied page
 *    by page through READ requests into a second cache (a container's
 *    first `/bin/sh` on a fresh mount).  Its data cannot change while
 *    it runs: the kernel refuses to open a running program for writing
 *    (ETXTBSY).  Other lower opens while it runs share its backing file.
 *  - an open that finds the node passthrough on the other copy of its
 *    data (a write right after the program exited, before the kernel's
 *    asynchronous RELEASE of the exec open arrived) waits for that
 *    RELEASE, up to DRAIN_WAIT_MS; the kernel allows no other mode beside
 *    a passthrough open, not even direct I/O.  If a lower open made while
 *    the program ran is still open then, the open fails with ETXTBSY, as
 *    it would have while the program ran: never a write into the lower
 *    file, never a reader left on a copy that changed.  That is asked
 *    before the change (passthrough_lower_drain): a write open or a
 *    truncation refused then has changed nothing.
 *  - a copy-up that takes the data unchanged while the program runs (a
 *    chmod with metacopy=off, a rename without metadata-only copies)
 *    leaves an upper copy equal to the lower file: read-only opens of
 *    it, a new run of the program among them, share the lower backing
 *    file until its last open goes.  Nothing may change that copy
 *    meanwhile: a change of data waits for the lower opens first.
 *
 * libfuse 3.14 predates passthrough: the transport (transport.h) adds
 * FUSE_PASSTHROUGH to the INIT reply when passthrough was chosen, and the
 * backing id to the one OPEN or CREATE reply the handler marked just
 * before sending it.
 */
#ifndef LFS_PASSTHROUGH_H
#define LFS_PASSTHROUGH_H

#include <stdbool.h>

#include "layerfs.h"

struct iovec;
struct lfs_file;
struct node;

/* In INIT: whether the kernel offered passthrough and this process may
 * register backing files.  The caller then leaves the writeback cache off
 * and sets fs->passthrough. */
bool passthrough_possible(void);

enum open_mode {
	OPEN_CACHED,      /* through the page cache */
	OPEN_PASSTHROUGH, /* h->backing_id set: the caller clears
			   * fi->direct_io and calls passthrough_reply_next */
	OPEN_BUSY,        /* no mode possible now: fail with ETXTBSY */
};

/* Chooses the mode of a new handle (fs->passthrough only), by the rules
 * above, registering the backing file with the node's first
 * passthrough open.  An exec open of lower data must have its fd. */
enum open_mode passthrough_attach(struct lfs *fs, struct lfs_file *h);

/* The next OPEN or CREATE reply this thread sends carries h's backing
 * id. */
void passthrough_reply_next(const struct lfs_file *h);

/* For the transport: puts the marked backing id into this thread's next
 * reply if it is a successful OPEN or CREATE (the mark goes either way). */
void passthrough_patch_reply(struct iovec *iov, int count);

/* A handle goes: its mode's count drops, and the backing file is
 * unregistered with the node's last passthrough handle. */
void passthrough_detach(struct lfs_file *h);

/* Before a change of n's data (a write open, a truncation): waits, as
 * an open does, for the kernel's RELEASE of passthrough opens of the
 * lower data; -ETXTBSY if some are still open.  0 where passthrough is
 * off. */
int passthrough_lower_drain(struct lfs *fs, struct node *n);

/* A copy-up about to publish an upper copy of n equal to its lower data
 * (same true), or one that failed (same false): see above. */
void passthrough_same_data(struct node *n, bool same);

#endif
