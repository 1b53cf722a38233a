/*
 * The daemon's side of /dev/fuse.  libfuse 3.14 reads the requests and
 * writes the replies; this thin layer sits under it
 * (fuse_session_custom_io) for the two kernel features libfuse 3.14
 * predates:
 *  - FUSE passthrough (passthrough.h): the INIT reply asks for it, and an
 *    OPEN or CREATE reply a handler marked carries the backing id;
 *  - FUSE over io_uring (uring.h): the INIT reply asks for it, the ring
 *    workers start once the kernel has it, and a reply to a request that
 *    came through a ring goes back through that ring;
 *  - FUSE_TMPFILE (open with O_TMPFILE): passed to libfuse as a CREATE,
 *    whose arguments and reply it shares, of the name "/", which no
 *    real name can be (tmpfile.h).
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

/* Makes a request libfuse 3.14 does not know into one it does (above);
 * h is the request's fuse_in_header. */
void transport_translate_request(void *h);

/* The high word of the flags the kernel offered in INIT (0 before). */
uint32_t transport_offered_flags2(void);

#endif
