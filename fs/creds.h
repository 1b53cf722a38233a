/*
 * Whose identity the daemon uses for a system call on the upper layer.
 *
 * New files must belong to the caller, with the group rules of the upper
 * directory (setgid inheritance) and its default ACLs.  Rather than
 * creating as root and chown'ing afterwards (an extra syscall and a
 * moment where the file is root's), each worker thread switches its
 * fsuid/fsgid to the caller's ids as stored on disk.  SECBIT_NO_SETUID_FIXUP
 * keeps the daemon's capabilities across that switch, so the kernel's
 * permission checks already done on the merged view are not redone with
 * the caller's supplementary groups (which the daemon does not know).
 *
 * Bookkeeping (copy-up staging, whiteouts, the index) runs with the
 * daemon's own ids.  Both switches are cached per thread: a run of
 * requests from one user costs no syscall.
 */
#ifndef LFS_CREDS_H
#define LFS_CREDS_H

#include <stdbool.h>
#include <sys/types.h>

#include "layerfs.h"

/* Once, before any thread starts.  Returns true when the daemon can act
 * as other users (it is root, or root of its user namespace). */
bool creds_init(void);

/*
 * Whether a worker thread can take a umask of its own (unshare
 * CLONE_FS), which applying each caller's umask needs when the kernel
 * leaves it to the daemon (FUSE_CAP_DONT_MASK, ops.c).  A seccomp
 * profile that refuses unshare (Docker's default) leaves it to the
 * kernel then.  The asking thread is the one tried: it keeps its own
 * umask, as it would after its first request with ACLs on.
 */
bool creds_thread_umask_possible(void);

/* Act as the caller of req (its ids mapped to disk ids, the overflow
 * ids where the mapping options leave them out), with its umask when
 * POSIX ACLs are on.  -EOVERFLOW where the daemon's user namespace has
 * no such id (the switch would not take): it may make nothing. */
int creds_as_caller(struct lfs *fs, fuse_req_t req);

/* Act as the daemon itself. */
void creds_as_daemon(void);

/* Whether the caller of req is of group gid: its primary group, or a
 * supplementary one, which FUSE does not send (libfuse reads them from
 * /proc; when it cannot, the primary group alone answers). */
bool creds_caller_in_group(fuse_req_t req, gid_t gid);

/* Whether the caller of req holds capability cap in the daemon's own
 * user namespace (FUSE does not send capabilities: read from /proc by
 * its pid; false when that pid is not visible here). */
bool creds_caller_capable(fuse_req_t req, int cap);

/* The same in the initial user namespace, where the kernel asks for
 * CAP_FSETID before a write may keep a set-user-id bit: never for a
 * daemon in a user namespace of its own (rootless). */
bool creds_caller_capable_on_host(fuse_req_t req, int cap);

/* Whether the daemon holds capability cap in the initial user
 * namespace, where the kernel asks for some (CAP_SYS_ADMIN to register
 * a backing file, CAP_FSETID to keep set-id bits on a write). */
bool creds_daemon_capable_on_host(int cap);

/* Whether the daemon runs in the initial user namespace, where every id
 * of the layers has a name. */
bool creds_daemon_on_host(void);

/* Whether the daemon's own writes keep the set-id bits of the files it
 * writes (it holds CAP_FSETID on the host; known after creds_init). */
bool creds_writes_keep_setid(void);

/* The caller's ids as they must be stored on disk. */
uid_t creds_disk_uid(struct lfs *fs, uid_t view_uid);
gid_t creds_disk_gid(struct lfs *fs, gid_t view_gid);
/* Ids read from disk as the view shows them. */
uid_t creds_view_uid(struct lfs *fs, uid_t disk_uid);
gid_t creds_view_gid(struct lfs *fs, gid_t disk_gid);

#endif
