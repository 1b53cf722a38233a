/*
 * How a ring worker (uring.c) shares the CPUs with the processes it
 * serves: whether the machine has a CPU to spare, binding a worker to
 * its queue's CPU, and yielding that CPU while it answers.
 */
#ifndef LFS_URING_CPU_H
#define LFS_URING_CPU_H

#include <stdbool.h>

/* Decides, once the rings start, whether workers are bound (PIN_GIVEN:
 * io_uring_pin= was given, with value PIN) and whether they may yield. */
void uring_cpu_start(bool pin_given, bool pin);
/* Binds the calling worker to CPU, if workers are bound and CPU is one
 * the daemon was started with; true when it now runs there alone. */
bool uring_cpu_bind(unsigned cpu);

/* A bound worker's policy between requests: SCHED_IDLE while SPARE
 * (cpu_spare_now's answer), SCHED_OTHER otherwise.  *YIELDS holds
 * the worker's policy now (true: SCHED_IDLE). */
void uring_cpu_yield(bool bound, bool spare, bool *yields);

#endif
