/*
 * Capabilities removed for a change the file's flags then refused, put
 * back (caps_killed.h).
 */
#include "caps_killed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fileattr.h"
#include "privs_keep.h"

struct caps_killed {
	pid_t tid;
	size_t len;
	char value[];
};

static struct caps_killed *take_note(struct node *n)
{
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	return e ? __atomic_exchange_n(&e->caps_killed, NULL, __ATOMIC_ACQ_REL)
		 : NULL;
}

void caps_killed_note(struct node *n, pid_t tid, const void *value,
		      size_t len)
{
	struct node_ext *e = node_ext(n);
	struct caps_killed *k = e ? malloc(sizeof(*k) + len) : NULL;
	if (k) {
		k->tid = tid;
		k->len = len;
		memcpy(k->value, value, len);
	}
	/* Without memory the capabilities stay removed, as before any
	 * note: a truncate or chown refused then loses them. */
	if (e)
		free(__atomic_exchange_n(&e->caps_killed, k,
					 __ATOMIC_ACQ_REL));
}

void caps_killed_forget(struct node *n)
{
	free(take_note(n));
}

/* fileattr_lifted_change: the capabilities back on dirfd/name. */
static int put_caps(int dirfd, const char *name, int fd, void *arg)
{
	const struct caps_killed *k = arg;
	int own = fd >= 0 ? fd
			  : openat(dirfd, name, O_RDONLY | O_NOFOLLOW |
							O_NONBLOCK | O_CLOEXEC);
	if (own < 0)
		return -errno;
	int r = fsetxattr(own, XATTR_CAPS, k->value, k->len, 0) < 0 ? -errno
								     : 0;
	if (own != fd)
		close(own);
	return r;
}

/* What the FUSE client sends between the removal and the change: the
 * times its writeback cache holds (a SETATTR of mtime and ctime only). */
static bool writes_back_times(int to_set)
{
	return to_set && !(to_set & ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME));
}

void caps_killed_settle(struct lfs *fs, struct node *n, pid_t tid,
			int to_set, int result)
{
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (!e || !__atomic_load_n(&e->caps_killed, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_t *lock = caps_change_lock(n, XATTR_CAPS);
	privs_lock(lock);
	struct caps_killed *k = __atomic_load_n(&e->caps_killed,
						__ATOMIC_ACQUIRE);
	if (k && k->tid == tid && !writes_back_times(to_set)) {
		take_note(n);
		if (result < 0)
			(void)fileattr_lifted_change(fs, n, put_caps, k);
		free(k);
	}
	privs_unlock(lock);
}

void caps_killed_free(struct node_ext *e)
{
	free(e->caps_killed);
}
