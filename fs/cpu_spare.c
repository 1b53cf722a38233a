#include "cpu_spare.h"

#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "stats.h"

/* A sched_yield that took longer gave the CPU to another task. */
#define YIELD_BUSY_NS 3000

static struct {
	atomic_int loadavg_fd;
	long online_cpus;
	_Atomic uint64_t checked_ns;
	atomic_bool spare;
} C = { .loadavg_fd = -1, .online_cpus = 1 };

void cpu_spare_start(void)
{
	if (atomic_load(&C.loadavg_fd) >= 0)
		return;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	C.online_cpus = online > 0 ? online : 1;
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	int none = -1;
	if (fd >= 0 && !atomic_compare_exchange_strong(&C.loadavg_fd, &none,
						       fd))
		close(fd);
}

void cpu_spare_end(void)
{
	int fd = atomic_exchange(&C.loadavg_fd, -1);
	if (fd >= 0)
		close(fd);
}

/*
 * The running-task count of /proc/loadavg (read at most once a
 * millisecond, by whichever worker gets there) against the online CPUs.
 * When every CPU is wanted, a spinning worker would only be preempted
 * while the kernel hands it a request, which then waits for a whole time
 * slice; and a worker that yields its CPU (uring_cpu_yield) would get
 * only a sliver of it.  A machine of one CPU never has one to spare: the
 * process that sends the next request needs it.
 */
bool cpu_spare_now(void)
{
	uint64_t now = lfs_now_ns(), last = C.checked_ns;
	if (now - last < 1000000 ||
	    !atomic_compare_exchange_strong(&C.checked_ns, &last, now))
		return C.spare;
	int fd = atomic_load(&C.loadavg_fd);
	char buf[128];
	ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
	bool spare = false;
	if (n > 0 && C.online_cpus > 1) {
		buf[n] = 0;
		/* "0.52 0.58 0.59 2/345 12345": running/total, the asking
		 * worker included. */
		double a, b, c;
		long running, total;
		if (sscanf(buf, "%lf %lf %lf %ld/%ld", &a, &b, &c, &running,
			   &total) == 5)
			spare = running <= C.online_cpus;
	}
	C.spare = spare;
	return spare;
}

bool cpu_spare_watch_on(uint64_t until_ns)
{
	uint64_t t = lfs_now_ns();
	if (t > until_ns)
		return false;
	sched_yield();
	/* Someone else got the CPU: it is wanted, so stop spending it on
	 * waiting. */
	return lfs_now_ns() - t <= YIELD_BUSY_NS;
}
