#include "flag_lift.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIFTED_FLAGS (FS_IMMUTABLE_FL | FS_APPEND_FL)

/* Every signal a process may block but those a fault raises, which
 * blocked would hang or kill it all the same. */
static void block_signals(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
				      SIGTRAP, SIGSYS, SIGABRT };
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(&all, faults[i]);
	sigprocmask(SIG_BLOCK, &all, old);
}

static void unblock_signals(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}

/* Writes the record, in full and synced with its directory entry,
 * before anything is lifted. */
static int record_write(int workdir_fd, const char *name,
			unsigned long long ino, int flags)
{
	char line[NAME_MAX + 64];
	int len = snprintf(line, sizeof(line), "%s %llu %x\n", name, ino,
			   (unsigned)flags);
	if (len < 0 || (size_t)len >= sizeof(line))
		return -ENAMETOOLONG;
	int fd = openat(workdir_fd, FLAG_LIFT_RECORD,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (write(fd, line, (size_t)len) != len)
		r = errno ? -errno : -EIO;
	else if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && fsync(workdir_fd) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(workdir_fd, FLAG_LIFT_RECORD, 0);
	return r;
}

int flag_lift_record_drop(int workdir_fd)
{
	if (unlinkat(workdir_fd, FLAG_LIFT_RECORD, 0) < 0 && errno != ENOENT)
		return -errno;
	/* (Gone for good: a record found again would put back a flag that
	 * may have been taken off since on purpose.) */
	return fsync(workdir_fd) < 0 ? -errno : 0;
}

int flag_lift(int workdir_fd, int dirfd, const char *name,
	      struct flag_lift *l)
{
	l->fd = -1;
	l->workdir_fd = workdir_fd;
	int fd = openat(dirfd, name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	int flags;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 ||
	    !(flags & LIFTED_FLAGS)) {
		close(fd);
		return 0;
	}
	block_signals(&l->mask);
	int r = record_write(workdir_fd, name, (unsigned long long)st.st_ino,
			     flags);
	int lifted = flags & ~LIFTED_FLAGS;
	if (r == 0 && ioctl(fd, FS_IOC_SETFLAGS, &lifted) < 0) {
		r = -errno;
		flag_lift_record_drop(workdir_fd);
	}
	if (r < 0) {
		unblock_signals(&l->mask);
		close(fd);
		return r;
	}
	l->fd = fd;
	l->saved = flags;
	return 1;
}

int flag_lift_end(struct flag_lift *l)
{
	if (l->fd < 0)
		return 0;
	int r = ioctl(l->fd, FS_IOC_SETFLAGS, &l->saved) < 0 ? -errno : 0;
	close(l->fd);
	l->fd = -1;
	if (r == 0)
		r = flag_lift_record_drop(l->workdir_fd);
	unblock_signals(&l->mask);
	return r;
}

int flag_lift_record_read(int workdir_fd, char *name, size_t size,
			  unsigned long long *ino, int *flags)
{
	int fd = openat(workdir_fd, FLAG_LIFT_RECORD,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[NAME_MAX + 64];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = 0;
	char nm[NAME_MAX + 1];
	unsigned f;
	int end = 0;
	/* (The line's end too: a record cut short is none.) */
	if (n == 0 || buf[n - 1] != '\n' ||
	    sscanf(buf, "%255s %llu %x%n", nm, ino, &f, &end) != 3 ||
	    end != n - 1 || strchr(nm, '/') || !strcmp(nm, ".") ||
	    !strcmp(nm, "..") || strlen(nm) >= size ||
	    !(f & LIFTED_FLAGS))
		return -EINVAL;
	strcpy(name, nm);
	*flags = (int)f;
	return 0;
}

int flag_lift_missing(int dirfd, const char *name, unsigned long long ino,
		      int flags, bool put_back)
{
	int fd = openat(dirfd, name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : -errno;
	struct stat st;
	int now, r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if ((unsigned long long)st.st_ino != ino ||
		   !S_ISREG(st.st_mode)) {
		r = 0;
	} else if (ioctl(fd, FS_IOC_GETFLAGS, &now) < 0) {
		r = -errno;
	} else if ((now & flags & LIFTED_FLAGS) != (flags & LIFTED_FLAGS)) {
		r = 1;
		now |= flags & LIFTED_FLAGS;
		if (put_back && ioctl(fd, FS_IOC_SETFLAGS, &now) < 0)
			r = -errno;
	}
	close(fd);
	return r;
}
