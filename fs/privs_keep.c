/* File privileges kept across the daemon's writes (privs_keep.h). */
#include "privs_keep.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "creds.h"
#include "fileattr.h"

/* A few locks shared by every node: a page-cache write holds one for one
 * pwrite and a few xattr and stat calls, and a change of capabilities or
 * of a mode that must wait is rare, so a collision costs little. */
#define KEEP_LOCKS 64
static pthread_mutex_t keep_locks[KEEP_LOCKS] = {
	[0 ... KEEP_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_mutex_t *lock_of(const struct node *n)
{
	uintptr_t p = (uintptr_t)n;
	return &keep_locks[((p >> 6) ^ (p >> 12)) % KEEP_LOCKS];
}

/* The set-id bits of the upper file fd that our write would drop: none
 * where the daemon holds CAP_FSETID in the initial user namespace. */
static mode_t setid_at_risk(int fd)
{
	struct stat st;
	if (creds_writes_keep_setid() || fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	return st.st_mode & (S_ISUID | S_ISGID);
}

void privs_keep_begin(struct node *n, int fd, bool save,
		      struct privs_keep *k)
{
	k->node = n;
	k->lock = lock_of(n);
	k->len = 0;
	k->setid = 0;
	pthread_mutex_lock(k->lock);
	if (!save)
		return;
	k->setid = setid_at_risk(fd);
	/* A node known to carry no xattr has none to lose: a change of
	 * its xattrs forgets that under this same lock. */
	if (node_flags(n) & N_NOXATTR)
		return;
	ssize_t len = fgetxattr(fd, XATTR_CAPS, k->value, sizeof(k->value));
	k->len = len > 0 ? len : 0;
}

void privs_keep_begin_copy(struct node *n, int fd, struct privs_keep *k)
{
	k->node = n;
	k->lock = NULL;
	k->len = 0;
	k->setid = 0;
	bool caps = !(node_flags(n) & N_NOXATTR) &&
		    fgetxattr(fd, XATTR_CAPS, NULL, 0) > 0;
	if (!caps && !setid_at_risk(fd))
		return;
	privs_keep_begin(n, fd, true, k);
	if (k->len == 0 && k->setid == 0) {
		/* Removed meanwhile: nothing to keep, no lock to hold. */
		pthread_mutex_unlock(k->lock);
		k->lock = NULL;
	}
}

/* fileattr_lifted_fd: what privs_keep_begin saved, back on fd where
 * the write took it. */
static int put_back(int fd, void *arg)
{
	const struct privs_keep *k = arg;
	int r = 0;
	if (k->len > 0) {
		char now[sizeof(k->value)];
		ssize_t len = fgetxattr(fd, XATTR_CAPS, now, sizeof(now));
		if ((len != k->len || memcmp(now, k->value, (size_t)len) != 0) &&
		    fsetxattr(fd, XATTR_CAPS, k->value, (size_t)k->len, 0) < 0)
			r = -errno;
	}
	struct stat st;
	if (k->setid && fstat(fd, &st) == 0 &&
	    (st.st_mode & k->setid) != k->setid &&
	    fchmod(fd, (st.st_mode & 07777) | k->setid) < 0 && r == 0)
		r = -errno;
	return r;
}

void privs_keep_end(struct lfs *fs, int fd, struct privs_keep *k)
{
	/* Refused for the flags only (asked then, so the common write
	 * costs nothing more). */
	if (put_back(fd, k) == -EPERM)
		(void)fileattr_lifted_fd(fs, k->node, fd, put_back, k);
	if (k->lock)
		pthread_mutex_unlock(k->lock);
}

pthread_mutex_t *caps_change_lock(struct node *n, const char *name)
{
	return strcmp(name, XATTR_CAPS) == 0 ? lock_of(n) : NULL;
}

pthread_mutex_t *mode_change_lock(struct node *n)
{
	return creds_writes_keep_setid() ? NULL : lock_of(n);
}
