/*
 * Whether the machine has a CPU to spare for a worker that watches for
 * the next request instead of sleeping: the ring workers (uring.c) and
 * the /dev/fuse workers (dev_spin.c) both ask before they spin.
 */
#ifndef LFS_CPU_SPARE_H
#define LFS_CPU_SPARE_H

#include <stdbool.h>

/* Opens what the answer is read from; once per daemon, before the first
 * cpu_spare_now (a second call does nothing). */
void cpu_spare_start(void);
/* Closes it (after every worker that asks has ended). */
void cpu_spare_end(void);

/* Whether a CPU is spare now (see cpu_spare.c); false before the start. */
bool cpu_spare_now(void);

#endif
