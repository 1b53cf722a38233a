#include "sync.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lf_common.h"

struct record {
	int msg;
	int value;
};

int sync_send(int sock, enum sync_msg msg, int value, int fd)
{
	struct record rec = { (int)msg, value };
	struct iovec iov = { &rec, sizeof(rec) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n = LF_RETRY(sendmsg(sock, &mh, MSG_NOSIGNAL));
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	return 0;
}

int sync_recv_any(int sock, enum sync_msg *msg, int *value, int *fd)
{
	struct record rec;
	struct iovec iov = { &rec, sizeof(rec) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	if (fd)
		*fd = -1;
	ssize_t n = LF_RETRY(recvmsg(sock, &mh, MSG_CMSG_CLOEXEC));
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return -EPIPE;
	if (n < 0)
		return -errno;
	int got = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&got, CMSG_DATA(c), sizeof(int));
	if (n != sizeof(rec)) {
		if (got >= 0)
			close(got);
		return -EPROTO;
	}
	if (fd)
		*fd = got;
	else if (got >= 0)
		close(got);
	*msg = (enum sync_msg)rec.msg;
	if (value)
		*value = rec.value;
	return 0;
}

int sync_recv(int sock, enum sync_msg want, int *value, int *fd)
{
	enum sync_msg got;
	int attached;
	if (fd)
		*fd = -1;
	int r = sync_recv_any(sock, &got, value, &attached);
	if (r == 0 && got != want)
		r = -EPROTO;
	if (r == 0 && fd)
		*fd = attached;
	else if (attached >= 0)
		close(attached);
	return r;
}
