/*
 * Watching /dev/fuse for the next request before sleeping.
 *
 * A process that sends request after request (tar extracting, rm -rf,
 * a walk) sends the next one a few microseconds after its answer.  A
 * worker asleep in read(2) then costs two wake-ups per request: the
 * kernel wakes the worker for the request, and the worker wakes the
 * process with its answer.  On a VM a wake-up is the dearest part of a
 * round trip (bench/README.md).  A worker that has just answered, and
 * finds a CPU to spare (cpu_spare.h), reads for the next request without
 * blocking for a few microseconds first, so the kernel finds it awake:
 * the first of the two wake-ups goes, with the worker's sleep.
 * FUSE over io_uring does the same on its rings (uring.c); this is the
 * same for the workers of /dev/fuse.
 *
 * A read that does not block needs a descriptor of its own (O_NONBLOCK
 * belongs to the open file, shared by every worker): a clone of the
 * session's /dev/fuse (FUSE_DEV_IOC_CLONE), on the same connection and
 * its one queue of requests.  The kernel takes the answer to a request
 * only through the descriptor it was read from, so the reply to a request the clone
 * gave goes back through the clone (dev_spin_reply_fd).  Every request is
 * answered by the thread that read it, before it reads the next.
 *
 * One worker spins at a time; the others sleep in read(2) as before.
 * Without a clone (no /dev/fuse to open, an old kernel), spin_us=0, with
 * the rings running, or with one CPU allowed, nothing spins.
 */
#ifndef LFS_DEV_SPIN_H
#define LFS_DEV_SPIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Clones DEV_FD for spinning up to SPIN_US microseconds (0: never). */
void dev_spin_start(int dev_fd, unsigned spin_us);
/* Closes the clone; after every worker has ended. */
void dev_spin_end(void);
/* No more spinning: the requests come through io_uring now. */
void dev_spin_stop(void);

/* Before a worker sleeps in read(2) on the session's descriptor: the
 * length of a request read into BUF (LEN bytes) while spinning, else 0
 * and the worker reads as before. */
ssize_t dev_spin_read(void *buf, size_t len);

/* The descriptor for what this thread writes in answer to the request it
 * read last: the clone when the request came from it, else DEV_FD. */
int dev_spin_reply_fd(int dev_fd);

/* Whether workers may spin (a clone is open), and how many requests
 * they took while spinning (statistics). */
bool dev_spin_enabled(void);
uint64_t dev_spin_hits(void);

#endif
