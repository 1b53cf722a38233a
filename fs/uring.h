/*
 * FUSE over io_uring (Linux 6.14 and later, when the fuse module's
 * enable_uring parameter is on).
 *
 * With /dev/fuse, a request goes on one queue that every worker thread
 * reads: the kernel wakes a worker, often on another CPU, and the reply
 * is one more system call.  With io_uring the kernel keeps one queue per
 * CPU and hands a request to a worker registered on the queue of the CPU
 * that made it; the worker answers and fetches the next request in the
 * same io_uring_enter, and a worker that has just answered watches its
 * ring a few microseconds before sleeping (uring.c says what that saves).
 * Where the daemon may yield a CPU and take it back (root), workers are
 * bound to their queue's CPU and yield it while the machine has one to
 * spare, so that sender and worker take turns on one CPU
 * (uring_cpu.h).
 *
 * Each worker owns one ring and one registered request slot: a worker
 * busy with a slow request (a large copy-up) holds only its own slot, and
 * the kernel gives new requests to the idle ones.  A queue starts with
 * one worker and gains more only while a request holds them all
 * (uring.c, took_request).  The requests themselves go through
 * libfuse's dispatcher (fuse_session_process_buf) like those read from
 * /dev/fuse, so every operation works the same either way;
 * FORGET, INTERRUPT and INIT still come through /dev/fuse, whose loop
 * keeps running.
 */
#ifndef LFS_URING_H
#define LFS_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lfs;
struct iovec;

/* Starts the workers, right after the INIT reply that asked for io_uring
 * was written.  max_write and max_pages are the INIT reply's, which size
 * the payload buffers.  Failures are reported once; the mount then keeps
 * using /dev/fuse. */
void uring_start(struct lfs *fs, int dev_fd, uint32_t max_write,
		 uint16_t max_pages);

/* For the transport: if this thread is answering a request that came
 * through a ring, queues the reply on the ring, sets *written to the
 * bytes taken and returns true. */
bool uring_reply(const struct iovec *iov, int count, ssize_t *written);

/* The payload buffer of the request this thread is answering through a
 * ring (NULL otherwise): a READ handler fills it and replies with it, so
 * the data is not copied once more. */
void *uring_reply_buffer(size_t *capacity);

/* Stops and joins the workers, after the session loop and before the
 * unmount: libfuse closes /dev/fuse there, and a worker still answering
 * a request would send its reply to whatever file got that fd number
 * next.  Their counts stay readable. */
void uring_stop(void);
/* Frees what uring_stop kept (after the last statistics). */
void uring_free(void);

/* For the statistics: workers started, those of them bound to their
 * queue's CPU, requests they answered. */
unsigned uring_workers(void);
unsigned uring_workers_pinned(void);
uint64_t uring_requests(void);

#endif
