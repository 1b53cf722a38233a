#include "passthrough.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "file.h"
#include "fuse_abi.h"
#include "node.h"
#include "stats.h"
#include "transport.h"

/* Guards each node's open counts (node_ext): striped by node, so opens
 * of different files never wait for each other. */
#define PT_STRIPES 64
static pthread_mutex_t pt_locks[PT_STRIPES] = {
	[0 ... PT_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER
};

/* Signalled when a node's last passthrough open goes. */
static pthread_cond_t pt_drained[PT_STRIPES] = {
	[0 ... PT_STRIPES - 1] = PTHREAD_COND_INITIALIZER
};

static unsigned pt_stripe(const struct node *n)
{
	/* Nodes are malloc'd at least 16 bytes apart. */
	return (unsigned)(((uintptr_t)n >> 4) % PT_STRIPES);
}

static pthread_mutex_t *pt_lock_of(const struct node *n)
{
	return &pt_locks[pt_stripe(n)];
}

/* How long an open waits for the kernel's RELEASE of an exec open that
 * holds the other copy of the data (passthrough.h). */
#define DRAIN_WAIT_MS 200

/* Waits, lock held, until e has no passthrough open or the time is up;
 * true when it has none. */
static bool wait_drained(struct node *n, struct node_ext *e)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += DRAIN_WAIT_MS * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (e->pt_opens > 0) {
		if (pthread_cond_timedwait(&pt_drained[pt_stripe(n)],
					   pt_lock_of(n), &until) != 0)
			break;
	}
	return e->pt_opens == 0;
}

/* Set by passthrough_reply_next, consumed by the next reply written. */
static __thread int32_t reply_backing_id;

/* ---- negotiation ---- */

bool passthrough_possible(void)
{
	return (transport_offered_flags2() & LFS_FLAGS2_PASSTHROUGH) &&
	       creds_daemon_capable_on_host(CAP_SYS_ADMIN);
}

/* ---- per-handle modes ---- */

enum open_mode passthrough_attach(struct lfs *fs, struct lfs_file *h)
{
	struct node_ext *e = node_ext(h->node);
	if (!e)
		return OPEN_CACHED;
	bool lower = !h->upper;
	pthread_mutex_t *lock = pt_lock_of(h->node);
	pthread_mutex_lock(lock);
	enum open_mode mode = OPEN_CACHED;
	/* A read of an upper copy equal to the lower data being run. */
	bool shares_lower = !lower && !h->writable && e->backing_lower &&
			    e->backing_same_data;
	if (e->pt_opens > 0 && e->backing_lower != lower && !shares_lower &&
	    !wait_drained(h->node, e)) {
		/* The other copy of the data is still open in passthrough
		 * mode, and the kernel takes no other mode beside it. */
		pthread_mutex_unlock(lock);
		return OPEN_BUSY;
	}
	if (e->pt_opens > 0) {
		/* One backing file per node, for the same copy of the data. */
		mode = OPEN_PASSTHROUGH;
	} else if (e->cached_opens == 0 && !h->no_passthrough &&
		   (!lower || h->exec) && h->fd >= 0) {
		struct lfs_backing_map map = { .fd = h->fd };
		int id = ioctl(transport_dev_fd(), LFS_DEV_IOC_BACKING_OPEN,
			       &map);
		if (id > 0) {
			e->backing_id = id;
			e->backing_lower = lower;
			mode = OPEN_PASSTHROUGH;
		}
	}
	if (mode == OPEN_PASSTHROUGH) {
		e->pt_opens++;
		h->backing_id = e->backing_id;
		lfs_stat_add(&fs->stats.passthrough_opens, 1);
	} else {
		e->cached_opens++;
	}
	h->mode_counted = true;
	pthread_mutex_unlock(lock);
	return mode;
}

void passthrough_reply_next(const struct lfs_file *h)
{
	reply_backing_id = h->backing_id;
}

void passthrough_patch_reply(struct iovec *iov, int count)
{
	int32_t id = reply_backing_id;
	if (id <= 0)
		return;
	reply_backing_id = 0;
	const struct lfs_out_header *h = iov[0].iov_base;
	if (count == 2 && h->error == 0 &&
	    iov[1].iov_len >= LFS_OPEN_OUT_SIZE) {
		/* fuse_open_out ends an OPEN and a CREATE reply. */
		char *o = (char *)iov[1].iov_base + iov[1].iov_len -
			  LFS_OPEN_OUT_SIZE;
		uint32_t flags;
		memcpy(&flags, o + 8, 4);
		flags |= LFS_FOPEN_PASSTHROUGH;
		memcpy(o + 8, &flags, 4);
		memcpy(o + 12, &id, 4);
	}
}

void passthrough_detach(struct lfs_file *h)
{
	struct node_ext *e = h->node->ext;
	if (!h->mode_counted || !e)
		return;
	pthread_mutex_t *lock = pt_lock_of(h->node);
	pthread_mutex_lock(lock);
	if (h->backing_id > 0) {
		if (--e->pt_opens == 0) {
			uint32_t id = (uint32_t)e->backing_id;
			ioctl(transport_dev_fd(), LFS_DEV_IOC_BACKING_CLOSE, &id);
			e->backing_id = 0;
			e->backing_same_data = false;
			pthread_cond_broadcast(&pt_drained[pt_stripe(h->node)]);
		}
	} else {
		e->cached_opens--;
	}
	h->mode_counted = false;
	pthread_mutex_unlock(lock);
}

int passthrough_lower_drain(struct lfs *fs, struct node *n)
{
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (!fs->passthrough || !e)
		return 0;
	pthread_mutex_t *lock = pt_lock_of(n);
	pthread_mutex_lock(lock);
	int r = 0;
	if (e->pt_opens > 0 && e->backing_lower && !wait_drained(n, e))
		r = -ETXTBSY;
	pthread_mutex_unlock(lock);
	return r;
}

void passthrough_same_data(struct node *n, bool same)
{
	/* No extras yet, no passthrough open yet: one made from now on is
	 * on the copy, or joins the lower data's (attach). */
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (!e)
		return;
	pthread_mutex_t *lock = pt_lock_of(n);
	pthread_mutex_lock(lock);
	e->backing_same_data = same;
	pthread_mutex_unlock(lock);
}
