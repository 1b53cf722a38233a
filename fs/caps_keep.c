/* File capabilities kept across page-cache writes (caps_keep.h). */
#include "caps_keep.h"

#include <stdint.h>
#include <string.h>
#include <sys/xattr.h>

/* A few locks shared by every node: a page-cache write holds one for one
 * pwrite and at most three xattr calls, and a change of capabilities is
 * rare, so a collision costs little. */
#define CAPS_LOCKS 64
static pthread_mutex_t caps_locks[CAPS_LOCKS] = {
	[0 ... CAPS_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_mutex_t *lock_of(const struct node *n)
{
	uintptr_t p = (uintptr_t)n;
	return &caps_locks[((p >> 6) ^ (p >> 12)) % CAPS_LOCKS];
}

void caps_keep_begin(struct node *n, int fd, bool save,
		     struct caps_keep *k)
{
	k->lock = lock_of(n);
	k->len = 0;
	pthread_mutex_lock(k->lock);
	/* A node known to carry no xattr has none to lose: a change of
	 * its xattrs forgets that under this same lock. */
	if (!save || (node_flags(n) & N_NOXATTR))
		return;
	ssize_t len = fgetxattr(fd, XATTR_CAPS, k->value, sizeof(k->value));
	k->len = len > 0 ? len : 0;
}

void caps_keep_begin_copy(struct node *n, int fd, struct caps_keep *k)
{
	k->lock = NULL;
	k->len = 0;
	if ((node_flags(n) & N_NOXATTR) ||
	    fgetxattr(fd, XATTR_CAPS, NULL, 0) <= 0)
		return;
	caps_keep_begin(n, fd, true, k);
	if (k->len == 0) {
		/* Removed meanwhile: nothing to keep, no lock to hold. */
		pthread_mutex_unlock(k->lock);
		k->lock = NULL;
	}
}

void caps_keep_end(int fd, struct caps_keep *k)
{
	if (k->len > 0) {
		char now[sizeof(k->value)];
		ssize_t len = fgetxattr(fd, XATTR_CAPS, now, sizeof(now));
		if (len != k->len || memcmp(now, k->value, (size_t)len) != 0)
			(void)fsetxattr(fd, XATTR_CAPS, k->value,
					(size_t)k->len, 0);
	}
	if (k->lock)
		pthread_mutex_unlock(k->lock);
}

pthread_mutex_t *caps_change_lock(struct node *n, const char *name)
{
	return strcmp(name, XATTR_CAPS) == 0 ? lock_of(n) : NULL;
}
