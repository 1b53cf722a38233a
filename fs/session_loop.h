/*
 * The daemon's request loop: a pool of worker threads reading /dev/fuse,
 * supervised by the calling thread, which also takes the daemon's
 * signals (the end signals and SIGUSR1 for the statistics).
 */
#ifndef LAYERFS_SESSION_LOOP_H
#define LAYERFS_SESSION_LOOP_H

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

/* The pool's threads now, and how many it has started since the mount
 * (statistics).  Under io_uring the pool keeps serving what the kernel
 * still sends through /dev/fuse, with one thread most of the time. */
unsigned session_loop_workers(void);
unsigned long long session_loop_workers_started(void);

#endif
