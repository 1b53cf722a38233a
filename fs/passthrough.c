#include "passthrough.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

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

static pthread_mutex_t *pt_lock_of(const struct node *n)
{
	/* Nodes are malloc'd at least 16 bytes apart. */
	return &pt_locks[((uintptr_t)n >> 4) % PT_STRIPES];
}

/* Set by passthrough_reply_next, consumed by the next reply written. */
static __thread int32_t reply_backing_id;

/* ---- negotiation ---- */

/* CAP_SYS_ADMIN, in the initial user namespace (which maps every id). */
static bool may_register_backing(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) != 0 ||
	    !(data[CAP_SYS_ADMIN / 32].effective &
	      (1u << (CAP_SYS_ADMIN % 32))))
		return false;
	FILE *f = fopen("/proc/self/uid_map", "re");
	if (!f)
		return false;
	unsigned long inside, outside, count;
	int n = fscanf(f, "%lu %lu %lu", &inside, &outside, &count);
	fclose(f);
	return n == 3 && inside == 0 && outside == 0 && count == 4294967295UL;
}

bool passthrough_possible(void)
{
	return (transport_offered_flags2() & LFS_FLAGS2_PASSTHROUGH) &&
	       may_register_backing();
}

/* ---- per-handle modes ---- */

bool passthrough_attach(struct lfs *fs, struct lfs_file *h)
{
	struct node_ext *e = node_ext(h->node);
	if (!e)
		return false;
	pthread_mutex_t *lock = pt_lock_of(h->node);
	pthread_mutex_lock(lock);
	bool pt = false;
	if (h->upper && e->cached_opens == 0) {
		if (e->pt_opens == 0) {
			struct lfs_backing_map map = { .fd = h->fd };
			int id = ioctl(transport_dev_fd(),
				       LFS_DEV_IOC_BACKING_OPEN, &map);
			if (id > 0)
				e->backing_id = id;
		}
		pt = e->backing_id > 0;
	}
	if (pt) {
		e->pt_opens++;
		h->backing_id = e->backing_id;
		lfs_stat_add(&fs->stats.passthrough_opens, 1);
	} else {
		e->cached_opens++;
	}
	h->mode_counted = true;
	pthread_mutex_unlock(lock);
	return pt;
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
		}
	} else {
		e->cached_opens--;
	}
	h->mode_counted = false;
	pthread_mutex_unlock(lock);
}
