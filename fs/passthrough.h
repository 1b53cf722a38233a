/*
 * FUSE passthrough (Linux 6.9 and later): reads, writes and mmap of a
 * file whose data is in the upper layer go from the kernel straight to
 * the upper file, with no READ or WRITE request to the daemon.
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
 *    passthrough: a mismatch fails the open with EIO.  Lower files are
 *    always opened cached (their data moves to the upper layer at
 *    copy-up, and a passthrough open would keep reading the old copy),
 *    so a node open cached stays cached until its last close.
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

/* In INIT: whether the kernel offered passthrough and this process may
 * register backing files.  The caller then leaves the writeback cache off
 * and sets fs->passthrough. */
bool passthrough_possible(void);

/* Chooses the mode of a new handle (fs->passthrough only): passthrough
 * for upper data when the node has no cached opens and its backing file
 * registers; returns true then (h->backing_id set), and the caller
 * clears fi->direct_io and calls passthrough_reply_next. */
bool passthrough_attach(struct lfs *fs, struct lfs_file *h);

/* The next OPEN or CREATE reply this thread sends carries h's backing
 * id. */
void passthrough_reply_next(const struct lfs_file *h);

/* For the transport: puts the marked backing id into this thread's next
 * reply if it is a successful OPEN or CREATE (the mark goes either way). */
void passthrough_patch_reply(struct iovec *iov, int count);

/* A handle goes: its mode's count drops, and the backing file is
 * unregistered with the node's last passthrough handle. */
void passthrough_detach(struct lfs_file *h);

#endif
