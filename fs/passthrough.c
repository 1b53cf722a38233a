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
#include "node.h"
#include "stats.h"

/*
 * The parts of the kernel's FUSE ABI (include/uapi/linux/fuse.h, 7.40)
 * that libfuse 3.14's headers do not have yet.
 */
#define LFS_FUSE_INIT 26
#define LFS_FLAGS2_PASSTHROUGH (1u << 5)      /* FUSE_PASSTHROUGH >> 32 */
#define LFS_FOPEN_PASSTHROUGH (1u << 7)
/* fuse_init_in: major, minor, max_readahead, flags, flags2 */
#define LFS_INIT_IN_FLAGS2 16
/* fuse_init_out: ..., flags2 at 32, max_stack_depth at 36 */
#define LFS_INIT_OUT_FLAGS2 32
#define LFS_INIT_OUT_STACK_DEPTH 36
#define LFS_INIT_OUT_MIN 40
/* fuse_open_out: fh, open_flags at 8, backing_id at 12 */
#define LFS_OPEN_OUT_SIZE 16

struct lfs_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define LFS_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct lfs_backing_map)
#define LFS_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* fuse_in_header and fuse_out_header (unchanged since 7.0). */
struct in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};
struct out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

static int dev_fd = -1;          /* the session's /dev/fuse */
static bool kernel_offers;       /* INIT offered FUSE_PASSTHROUGH */
static _Atomic uint64_t init_unique; /* 0 once INIT is answered */
static struct lfs *mount_fs;
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

/* ---- the transport ---- */

static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	ssize_t n = read(fd, buf, len);
	if (n >= (ssize_t)(sizeof(struct in_header) + LFS_INIT_IN_FLAGS2 + 4)) {
		const struct in_header *h = buf;
		if (h->opcode == LFS_FUSE_INIT) {
			uint32_t flags2;
			memcpy(&flags2, (const char *)buf + sizeof(*h) +
					       LFS_INIT_IN_FLAGS2,
			       sizeof(flags2));
			kernel_offers = flags2 & LFS_FLAGS2_PASSTHROUGH;
			init_unique = h->unique;
		}
	}
	return n;
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count,
			 void *userdata)
{
	(void)userdata;
	const struct out_header *h = iov[0].iov_base;
	if (count == 2 && h->error == 0 && init_unique &&
	    h->unique == init_unique && iov[1].iov_len >= LFS_INIT_OUT_MIN) {
		/* The INIT reply: ask for passthrough, one level of stacking
		 * below us (the upper layer's filesystem). */
		init_unique = 0;
		if (mount_fs && mount_fs->passthrough) {
			char *o = iov[1].iov_base;
			uint32_t flags2, depth = 1;
			memcpy(&flags2, o + LFS_INIT_OUT_FLAGS2, 4);
			flags2 |= LFS_FLAGS2_PASSTHROUGH;
			memcpy(o + LFS_INIT_OUT_FLAGS2, &flags2, 4);
			memcpy(o + LFS_INIT_OUT_STACK_DEPTH, &depth, 4);
		}
	}
	int32_t id = reply_backing_id;
	if (id > 0) {
		reply_backing_id = 0;
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
	return writev(fd, iov, count);
}

static ssize_t pt_splice_receive(int fdin, off_t *offin, int fdout,
				 off_t *offout, size_t len,
				 unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t pt_splice_send(int fdin, off_t *offin, int fdout,
			      off_t *offout, size_t len, unsigned int flags,
			      void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int passthrough_install(struct fuse_session *se, struct lfs *fs)
{
	static const struct fuse_custom_io io = {
		.read = pt_read,
		.writev = pt_writev,
		.splice_receive = pt_splice_receive,
		.splice_send = pt_splice_send,
	};
	mount_fs = fs;
	dev_fd = fuse_session_fd(se);
	return fuse_session_custom_io(se, &io, dev_fd);
}

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
	return kernel_offers && may_register_backing();
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
			int id = ioctl(dev_fd, LFS_DEV_IOC_BACKING_OPEN, &map);
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
			ioctl(dev_fd, LFS_DEV_IOC_BACKING_CLOSE, &id);
			e->backing_id = 0;
		}
	} else {
		e->cached_opens--;
	}
	h->mode_counted = false;
	pthread_mutex_unlock(lock);
}
