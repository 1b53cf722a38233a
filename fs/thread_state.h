/*
 * What a thread of this daemon is doing, as the kernel reports it: the
 * request loops' supervisor asks whether a worker in a request waits on
 * the disk, where one more worker would serve the requests behind it.
 */
#ifndef LAYERFS_THREAD_STATE_H
#define LAYERFS_THREAD_STATE_H

#include <stdbool.h>
#include <sys/types.h>

/* Whether thread TID of this process sleeps uninterruptibly (a disk
 * read, most often), from /proc; false when it cannot be told. */
bool thread_waits_on_disk(pid_t tid);

#endif
