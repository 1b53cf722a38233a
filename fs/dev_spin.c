#include "dev_spin.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cpu_spare.h"
#include "fuse_abi.h"
#include "stats.h"

static struct {
	int clone_fd;           /* -1: no spinning */
	uint64_t spin_ns;
	atomic_bool off;        /* the rings took over, or the clone failed */
	atomic_bool taken;      /* a worker spins now */
	_Atomic uint64_t hits;
} S = { .clone_fd = -1 };

/* The request this thread read last came from the clone. */
static __thread bool from_clone;

/* The CPUs this daemon may run on (taskset, a cpuset): on one, a
 * spinning worker would only hold up the process it waits for. */
static int cpus_allowed(void)
{
	cpu_set_t set;
	return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
							    : 1;
}

void dev_spin_start(int dev_fd, unsigned spin_us)
{
	if (spin_us == 0 || cpus_allowed() < 2)
		return;
	int fd = open("/dev/fuse", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	uint32_t session = (uint32_t)dev_fd;
	if (ioctl(fd, LFS_DEV_IOC_CLONE, &session) < 0) {
		close(fd);
		return;
	}
	cpu_spare_start();
	S.spin_ns = (uint64_t)spin_us * 1000;
	S.clone_fd = fd;
}

void dev_spin_end(void)
{
	if (S.clone_fd >= 0)
		close(S.clone_fd);
	S.clone_fd = -1;
}

void dev_spin_stop(void)
{
	atomic_store(&S.off, true);
}

bool dev_spin_enabled(void)
{
	return S.clone_fd >= 0 && !atomic_load(&S.off);
}

uint64_t dev_spin_hits(void)
{
	return atomic_load_explicit(&S.hits, memory_order_relaxed);
}

/* Reads from the clone until a request comes, the time is up, or the
 * CPU is wanted elsewhere; the request's length, or 0.  A yield after
 * every read: yielding after every eighth, `tar -cf - | cat` (tar, cat
 * and this worker on two CPUs) took 500 ms against 413 without
 * spinning, and 362 ms this way. */
static ssize_t spin(void *buf, size_t len)
{
	uint64_t end = lfs_now_ns() + S.spin_ns;
	for (;;) {
		ssize_t r = read(S.clone_fd, buf, len);
		if (r > 0)
			return r;
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			/* ENODEV: unmounted; the sleeping read learns it too.
			 * Anything else: this clone is of no use. */
			atomic_store(&S.off, true);
			return 0;
		}
		if (!cpu_spare_watch_on(end))
			return 0;
	}
}

ssize_t dev_spin_read(void *buf, size_t len)
{
	from_clone = false;
	if (!dev_spin_enabled() ||
	    atomic_exchange_explicit(&S.taken, true, memory_order_acquire))
		return 0;
	ssize_t r = cpu_spare_now() ? spin(buf, len) : 0;
	atomic_store_explicit(&S.taken, false, memory_order_release);
	if (r > 0) {
		from_clone = true;
		atomic_fetch_add_explicit(&S.hits, 1, memory_order_relaxed);
	}
	return r;
}

int dev_spin_reply_fd(int dev_fd)
{
	return from_clone ? S.clone_fd : dev_fd;
}
