/*
 * Error replies, traced to stderr for diagnosis.  A failure seen once
 * (a race in CI, a user's report) needs to say whether an errno came
 * from the daemon or from the kernel's own checks, and in which request.
 * With LFS_TRACE_ERRORS=1 in its environment the daemon writes one line
 * per error reply: the request's opcode, node and requesting pid, and
 * the error.  The answers every filesystem gives as part of the protocol
 * (ENOENT of a lookup, ENODATA of a getxattr, ENOSYS, ERANGE of a size
 * probe, ENOTTY and EOPNOTSUPP of an ioctl, EINTR of an interrupted
 * request) are not written.  At most 256 lines are written, so a daemon
 * whose stderr nobody reads never blocks on a full pipe.  Off, the cost
 * is a branch per request and per reply.
 */
#ifndef LFS_REPLY_TRACE_H
#define LFS_REPLY_TRACE_H

#include "fuse_abi.h"

/* Reads LFS_TRACE_ERRORS; call once, before the first request. */
void reply_trace_init(void);

/* The request this thread is about to serve. */
void reply_trace_request(const struct lfs_in_header *in);

/* A reply this thread is about to send. */
void reply_trace_reply(const struct lfs_out_header *out);

#endif
