#include "transport.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dev_spin.h"
#include "fuse_abi.h"
#include "kernel_order.h"
#include "passthrough.h"
#include "reply_trace.h"
#include "uring.h"

#ifdef LFS_TSAN
char kernel_order_point;
#endif

static int dev_fd = -1;
static struct lfs *mount_fs;
static _Atomic uint32_t offered_flags2;
static _Atomic uint64_t init_unique; /* 0 once INIT is answered */

int transport_dev_fd(void)
{
	return dev_fd;
}

uint32_t transport_offered_flags2(void)
{
	return offered_flags2;
}

void transport_translate_request(void *h)
{
	struct lfs_in_header *in = h;
	reply_trace_request(in);
	if (in->opcode == LFS_FUSE_TMPFILE)
		in->opcode = LFS_FUSE_CREATE;
}

static ssize_t tp_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	ssize_t n = dev_spin_read(buf, len);
	if (n == 0)
		n = read(fd, buf, len);
	kernel_order_request();
	struct lfs_in_header *h = buf;
	if (n >= (ssize_t)sizeof(*h))
		transport_translate_request(h);
	if (n >= (ssize_t)(sizeof(*h) + LFS_INIT_IN_FLAGS2 + 4) &&
	    h->opcode == LFS_FUSE_INIT) {
		uint32_t flags2;
		memcpy(&flags2,
		       (const char *)buf + sizeof(*h) + LFS_INIT_IN_FLAGS2,
		       sizeof(flags2));
		offered_flags2 = flags2;
		init_unique = h->unique;
	}
	return n;
}

/* Adds what libfuse cannot ask for to the INIT reply; returns whether
 * io_uring was asked for. */
static bool patch_init_reply(char *o)
{
	uint32_t flags2;
	memcpy(&flags2, o + LFS_INIT_OUT_FLAGS2, 4);
	if (mount_fs->passthrough) {
		/* One level of stacking below us: the upper layer's
		 * filesystem. */
		uint32_t depth = 1;
		flags2 |= LFS_FLAGS2_PASSTHROUGH;
		memcpy(o + LFS_INIT_OUT_STACK_DEPTH, &depth, 4);
	}
	bool uring = mount_fs->opt->io_uring &&
		     (offered_flags2 & LFS_FLAGS2_OVER_IO_URING);
	if (uring)
		flags2 |= LFS_FLAGS2_OVER_IO_URING;
	memcpy(o + LFS_INIT_OUT_FLAGS2, &flags2, 4);
	return uring;
}

static ssize_t tp_writev(int fd, struct iovec *iov, int count,
			 void *userdata)
{
	(void)userdata;
	const struct lfs_out_header *h = iov[0].iov_base;
	reply_trace_reply(h);
	kernel_order_answer();
	if (count == 2 && h->error == 0 && init_unique &&
	    h->unique == init_unique && iov[1].iov_len >= LFS_INIT_OUT_MIN) {
		init_unique = 0;
		const char *o = iov[1].iov_base;
		bool uring = patch_init_reply(iov[1].iov_base);
		ssize_t n = writev(dev_spin_reply_fd(fd), iov, count);
		/* The kernel has taken INIT when the write returns: only
		 * then do ring registrations succeed. */
		if (n > 0 && uring) {
			dev_spin_stop();
			uint32_t max_write;
			uint16_t max_pages;
			memcpy(&max_write, o + LFS_INIT_OUT_MAX_WRITE, 4);
			memcpy(&max_pages, o + LFS_INIT_OUT_MAX_PAGES, 2);
			uring_start(mount_fs, dev_fd, max_write, max_pages);
		}
		return n;
	}
	passthrough_patch_reply(iov, count);
	ssize_t n;
	if (uring_reply(iov, count, &n))
		return n;
	return writev(dev_spin_reply_fd(fd), iov, count);
}

static ssize_t tp_splice_receive(int fdin, off_t *offin, int fdout,
				 off_t *offout, size_t len,
				 unsigned int flags, void *userdata)
{
	(void)userdata;
	ssize_t n = splice(fdin, offin, fdout, offout, len, flags);
	kernel_order_request();
	return n;
}

static ssize_t tp_splice_send(int fdin, off_t *offin, int fdout,
			      off_t *offout, size_t len, unsigned int flags,
			      void *userdata)
{
	(void)userdata;
	if (fdout == dev_fd)
		fdout = dev_spin_reply_fd(fdout);
	kernel_order_answer();
	return splice(fdin, offin, fdout, offout, len, flags);
}

int transport_install(struct fuse_session *se, struct lfs *fs)
{
	static const struct fuse_custom_io io = {
		.read = tp_read,
		.writev = tp_writev,
		.splice_receive = tp_splice_receive,
		.splice_send = tp_splice_send,
	};
	mount_fs = fs;
	dev_fd = fuse_session_fd(se);
	reply_trace_init();
	dev_spin_start(dev_fd, fs->opt->spin_us);
	return fuse_session_custom_io(se, &io, dev_fd);
}
