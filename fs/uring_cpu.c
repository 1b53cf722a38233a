#include "uring_cpu.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cpu_spare.h"
#include "creds.h"
#include "lf_common.h"

static struct {
	/* Workers are bound to their queue's CPU (uring_cpu_bind), within
	 * the CPUs the daemon was allowed when the rings started. */
	bool pin;
	cpu_set_t allowed;
	/* A thread of this daemon can come back from SCHED_IDLE. */
	bool can_yield;
	atomic_bool stuck_warned;
} C;

/* Whether a thread may go to SCHED_IDLE and back: the way back needs
 * CAP_SYS_NICE on the host or a RLIMIT_NICE that allows nice 0. */
static bool may_yield(void)
{
	struct rlimit nice;
	return creds_daemon_capable_on_host(CAP_SYS_NICE) ||
	       (getrlimit(RLIMIT_NICE, &nice) == 0 &&
		(nice.rlim_cur == RLIM_INFINITY || nice.rlim_cur >= 20));
}

void uring_cpu_start(bool pin_given, bool pin)
{
	cpu_spare_start();
	/* Bound by default only where the workers can also yield their CPU
	 * (uring_cpu_yield); io_uring_pin=1 binds them without it. */
	C.can_yield = (pin || !pin_given) && may_yield();
	C.pin = (pin_given ? pin : C.can_yield) &&
		sched_getaffinity(0, sizeof(C.allowed), &C.allowed) == 0;
}

/*
 * Binds the worker to the CPU whose queue it serves (by default where it
 * may also yield that CPU, see uring_cpu_yield; io_uring_pin= says).
 * The kernel puts a request on the queue of the CPU its sender runs on,
 * so the worker then wakes, answers and wakes the sender on that one
 * CPU.  Left to the scheduler, a worker woken for an idle machine's
 * request runs on the other, idle CPU, and both wake-ups cross CPUs: on
 * a VM whose idle CPUs halt (cpuidle haltpoll, guest_halt_poll_ns=0)
 * each costs 20 us or more (bench/README.md, "A VM whose idle CPUs wake
 * slowly").  The sender's wake-up would find its CPU busy with the
 * worker and the other one idle, and a lone process would move at every
 * request: uring_cpu_yield keeps it.  A CPU outside the set the daemon
 * was started with (taskset, a cpuset) is left alone: that set is the
 * user's.
 */
bool uring_cpu_bind(unsigned cpu)
{
	if (!C.pin || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &C.allowed))
		return false;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	/* Refused for a CPU that is offline: then unbound. */
	return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
}

/*
 * A bound worker answers as SCHED_IDLE while the machine has a CPU to
 * spare.  The scheduler counts a CPU that runs only SCHED_IDLE tasks as
 * idle, so the sender the answer wakes stays on this CPU, where its next
 * request is queued and served, instead of moving to the other, truly
 * idle CPU at every request (libfuse thought of it and left it off).
 * With every CPU wanted, such a worker would get a sliver of its CPU:
 * it is then SCHED_OTHER again.  The load is looked at between requests
 * (cpu_spare_now, once a millisecond): a request that began on an
 * idle machine ends at the lower priority.  A daemon that could not come
 * back from SCHED_IDLE (may_yield) never goes there.
 */
void uring_cpu_yield(bool bound, bool spare, bool *yields)
{
	if (!C.can_yield || !bound || spare == *yields)
		return;
	struct sched_param none = { 0 };
	if (sched_setscheduler(0, spare ? SCHED_IDLE : SCHED_OTHER, &none) == 0)
		*yields = spare;
	else if (!spare && !atomic_exchange(&C.stuck_warned, true))
		lf_warn("FUSE over io_uring: a worker cannot leave SCHED_IDLE: "
			"%s", strerror(errno));
}
