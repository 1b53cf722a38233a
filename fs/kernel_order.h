#ifndef LFS_KERNEL_ORDER_H
#define LFS_KERNEL_ORDER_H

/*
 * The order the kernel gives answers and requests, told to
 * ThreadSanitizer.
 *
 * A caller sends its next request only once the answer to the last has
 * come, so the kernel orders every answer a worker sent before every
 * request a worker reads later: a node made while answering a LOOKUP is
 * complete before any request that names its nodeid.  ThreadSanitizer
 * sees that order only for a read and a write on one descriptor.  The
 * workers read and answer through several: the session's, its clone
 * (dev_spin.c) and the rings (uring.c), and without this a node's
 * first fields, written by one worker, look unordered with another's
 * reads.  Other builds compile these to nothing.
 */

#if defined(__SANITIZE_THREAD__)
#define LFS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LFS_TSAN 1
#endif
#endif

#ifdef LFS_TSAN
#include <sanitizer/tsan_interface.h>

extern char kernel_order_point;

/* Before an answer goes to the kernel. */
static inline void kernel_order_answer(void)
{
	__tsan_release(&kernel_order_point);
}

/* After a request came from the kernel. */
static inline void kernel_order_request(void)
{
	__tsan_acquire(&kernel_order_point);
}
#else
static inline void kernel_order_answer(void)
{
}
static inline void kernel_order_request(void)
{
}
#endif

#endif
