/*
 * Whether the machine has a CPU to spare for a worker that watches for
 * the next request instead of sleeping: the ring workers (uring.c) and
 * the /dev/fuse workers (dev_spin.c) both ask before they spin.
 */
#ifndef LFS_CPU_SPARE_H
#define LFS_CPU_SPARE_H

#include <stdbool.h>
#include <stdint.h>

/* Opens what the answer is read from; once per daemon, before the first
 * cpu_spare_now (a second call does nothing). */
void cpu_spare_start(void);
/* Closes it (after every worker that asks has ended). */
void cpu_spare_end(void);

/* Whether a CPU is spare now (see cpu_spare.c); false before the start. */
bool cpu_spare_now(void);

/* Called between looks of a worker watching for a request until
 * UNTIL_NS (lfs_now_ns): yields the CPU once, and says whether to go on
 * watching (the time is not up, and no other task took the CPU). */
bool cpu_spare_watch_on(uint64_t until_ns);

#endif
