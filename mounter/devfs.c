#include "devfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lf_common.h"

#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif
#include "mount_util.h"
#include "safe_path.h"
#include "strfmt.h"

struct host_dev {
	const char *name;
	unsigned major, minor;
};

static const struct host_dev devices[] = {
	{ "null", 1, 3 },    { "zero", 1, 5 },    { "full", 1, 7 },
	{ "random", 1, 8 },  { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static int open_host_dev(const struct host_dev *d)
{
	char path[64];
	lr_fmt(path, sizeof(path), "/dev/%s", d->name);
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
	    major(st.st_rdev) != d->major || minor(st.st_rdev) != d->minor) {
		close(fd);
		return -ENODEV;
	}
	return fd;
}

static int fail(char *err, size_t errlen, int r, const char *what)
{
	lr_fmt(err, errlen, "cannot set up /dev: %s: %s", what,
		 strerror(-r));
	return r;
}

/* An empty file NAME in DEV for a device to be bound onto. */
static int placeholder(int dev, const char *name)
{
	int fd = openat(dev, name,
			O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0)
		return -errno;
	close(fd);
	fd = openat(dev, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int subdir(int dev, const char *name, mode_t mode)
{
	if (mkdirat(dev, name, mode) < 0)
		return -errno;
	/* tmpfs applies the umask: set the mode we mean. */
	int fd = openat(dev, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					   O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int devfs_setup(int rootfd, bool pts_gid_mapped, bool ipc_private,
		uint64_t shm_size, char *err, size_t errlen)
{
	int target LF_AUTOCLOSE =
		sp_open_beneath(rootfd, "dev", O_PATH | O_DIRECTORY, 0);
	if (target < 0) {
		lr_fmt(err, errlen,
			 "the container's /dev is %s: refusing to mount on it",
			 target == -ELOOP || target == -ENOTDIR
				 ? "a symlink or not a directory"
				 : strerror(-target));
		return target;
	}
	int r = mu_mount_fs(target, "tmpfs", "tmpfs",
			    MS_NOSUID | MS_STRICTATIME,
			    "mode=755,size=65536k");
	if (r < 0)
		return fail(err, errlen, r, "tmpfs");
	int dev LF_AUTOCLOSE =
		sp_open_beneath(rootfd, "dev", O_RDONLY | O_DIRECTORY, 0);
	if (dev < 0 || !mu_fs_is(dev, TMPFS_MAGIC))
		return fail(err, errlen, dev < 0 ? dev : -EXDEV,
			    "the new tmpfs is not where it was mounted");

	for (size_t i = 0; i < LF_ARRAY_SIZE(devices); i++) {
		int src LF_AUTOCLOSE = open_host_dev(&devices[i]);
		if (src < 0) {
			lr_fmt(err, errlen,
				 "cannot set up /dev: the host's /dev/%s is "
				 "%s",
				 devices[i].name,
				 src == -ENODEV ? "not the expected device"
						: strerror(-src));
			return src;
		}
		int tgt LF_AUTOCLOSE = placeholder(dev, devices[i].name);
		if (tgt < 0)
			return fail(err, errlen, tgt, devices[i].name);
		if ((r = mu_bind(src, tgt, false, false)) < 0)
			return fail(err, errlen, r, devices[i].name);
	}

	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" },        { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" },  { "stderr", "/proc/self/fd/2" },
		{ "ptmx", "pts/ptmx" },
	};
	for (size_t i = 0; i < LF_ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][1], dev, links[i][0]) < 0)
			return fail(err, errlen, -errno, links[i][0]);

	int pts LF_AUTOCLOSE = subdir(dev, "pts", 0755);
	if (pts < 0)
		return fail(err, errlen, pts, "pts");
	/* gid=5 only when the tty group exists in the container: devpts
	 * refuses an unmapped gid. */
	r = mu_mount_fs(pts, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
			pts_gid_mapped
				? "newinstance,ptmxmode=0666,mode=0620,gid=5"
				: "newinstance,ptmxmode=0666,mode=0620");
	if (r < 0)
		return fail(err, errlen, r, "devpts");

	int shm LF_AUTOCLOSE = subdir(dev, "shm", 01777);
	if (shm < 0)
		return fail(err, errlen, shm, "shm");
	char shm_opts[64];
	lr_fmt(shm_opts, sizeof(shm_opts), "mode=1777,size=%llu",
	       (unsigned long long)shm_size);
	r = mu_mount_fs(shm, "tmpfs", "shm", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			shm_opts);
	if (r < 0)
		return fail(err, errlen, r, "shm");

	int mq LF_AUTOCLOSE = subdir(dev, "mqueue", 0755);
	if (mq < 0)
		return fail(err, errlen, mq, "mqueue");
	if (ipc_private) {
		r = mu_mount_fs(mq, "mqueue", "mqueue",
				MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
		if (r < 0)
			return fail(err, errlen, r, "mqueue");
	} else {
		/* The host's IPC namespace is not ours to mount: share the
		 * host's queue directory when it has one. */
		int host LF_AUTOCLOSE =
			open("/dev/mqueue", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (host >= 0 && mu_fs_is(host, MQUEUE_MAGIC) &&
		    (r = mu_bind(host, mq, false, false)) < 0)
			return fail(err, errlen, r, "mqueue (host)");
	}
	return 0;
}

int devfs_open_pty(int rootfd, int *slave, char *err, size_t errlen)
{
	int master = sp_open_beneath(rootfd, "dev/pts/ptmx",
				     O_RDWR | O_NOCTTY, 0);
	if (master < 0) {
		lr_fmt(err, errlen, "cannot open the container's /dev/pts/ptmx: %s",
			 strerror(-master));
		return master;
	}
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 ||
	    (*slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY |
							 O_CLOEXEC)) < 0) {
		int e = errno;
		close(master);
		lr_fmt(err, errlen, "cannot open a pseudo-terminal: %s",
			 strerror(e));
		return -e;
	}
	return master;
}

int devfs_bind_console(int rootfd, int slave, char *err, size_t errlen)
{
	int dev LF_AUTOCLOSE =
		sp_open_beneath(rootfd, "dev", O_RDONLY | O_DIRECTORY, 0);
	if (dev < 0)
		return fail(err, errlen, dev, "console");
	int tgt LF_AUTOCLOSE = placeholder(dev, "console");
	int r = tgt < 0 ? tgt : mu_bind(slave, tgt, false, false);
	if (r < 0)
		return fail(err, errlen, r, "console");
	return 0;
}
