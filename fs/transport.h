/*
 * The daemon's side of /dev/fuse.  libfuse 3.14 reads the requests and
 * writes the replies; this thin layer sits under it
 * (fuse_session_custom_io) for the two kernel features libfuse 3.14
 * predates:
 *  - FUSE passthrough (passthrough.h): the INIT reply asks for it, and an
 *    OPEN or CREATE reply a handler marked carries the backing id;
 *  - FUSE over io_uring (uring.h): the INIT reply asks for it, the ring
 *    workers start once the kernel has it, and a reply to a request that
 *    came through a ring goes back through that ring.
 * Every other message passes unchanged.
 */
#ifndef LFS_TRANSPORT_H
#define LFS_TRANSPORT_H

#include <stdint.h>

#include "layerfs.h"

/* Puts the transport on the mounted session; call before the loop. */
int transport_install(struct fuse_session *se, struct lfs *fs);

/* The session's /dev/fuse, for the passthrough ioctls. */
int transport_dev_fd(void);

/* The high word of the flags the kernel offered in INIT (0 before). */
uint32_t transport_offered_flags2(void);

#endif
