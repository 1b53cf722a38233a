/*
 * The daemon's request loop: a pool of worker threads reading /dev/fuse,
 * supervised by the calling thread, which also takes the daemon's
 * signals (the end signals and SIGUSR1 for the statistics) and watches
 * the rings' workers for a stall (session_loop_watch_also).
 */
#ifndef LAYERFS_SESSION_LOOP_H
#define LAYERFS_SESSION_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct fuse_session;
struct lfs;

/* Blocks the signals the loop takes (SIGTERM, SIGINT, SIGHUP, SIGUSR1)
 * in the calling thread, and so in every thread it starts from then on,
 * and ignores SIGPIPE.  Call it before the first thread is started: a
 * signal that arrives before the loop runs waits for it. */
void session_loop_block_signals(void);

/*
 * Serves SE with at most MAX_WORKERS threads until the mount goes away
 * or an end signal comes.  Returns 0, or a negative errno when no
 * worker could be started or one failed to read a request.
 */
int session_loop_run(struct fuse_session *se, struct lfs *fs,
		     unsigned max_workers);

/* How long every worker must have been held before a pool grows past
 * its base: far above a request that does not block (3 to 50 us), far
 * below what a person notices.  The rings' queues (uring.c) grow by the
 * same rule. */
#define SESSION_LOOP_STALL_NS 2000000ull

/*
 * Other workers the supervisor watches for a stall: the rings' (uring.c),
 * which have no thread of their own to do it.  After
 * session_loop_look_soon(), the supervisor calls LOOK on its thread at
 * once, then about every stall period for as long as LOOK returns true
 * (it wants another look).
 */
typedef bool (*session_loop_look_fn)(uint64_t now_ns);
void session_loop_watch_also(session_loop_look_fn look);
/* From any thread, a worker about to serve a request included: one
 * system call, and nothing once the loop has ended. */
void session_loop_look_soon(void);

/* The pool's threads now, and how many it has started since the mount
 * (statistics).  Under io_uring the pool keeps serving what the kernel
 * still sends through /dev/fuse, with one thread most of the time. */
unsigned session_loop_workers(void);
unsigned long long session_loop_workers_started(void);

#endif
