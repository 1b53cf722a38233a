#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lf_common.h"
#include "mount_util.h"
#include "name_list.h"
#include "safe_path.h"
#include "strfmt.h"

static int open_mountpoint(int rootfd, const char *name, char *err,
			   size_t errlen)
{
	int fd = sp_open_beneath(rootfd, name, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		lr_fmt(err, errlen,
			 "the container's /%s is %s: refusing to mount on it",
			 name,
			 fd == -ELOOP || fd == -ENOTDIR
				 ? "a symlink or not a directory"
				 : strerror(-fd));
	return fd;
}

int rootfs_mount_proc(int rootfd, bool pid_private,
		      struct name_list *host_mounts, char *err, size_t errlen)
{
	int target LF_AUTOCLOSE = open_mountpoint(rootfd, "proc", err, errlen);
	if (target < 0)
		return target;
	int r;
	if (pid_private) {
		r = mu_mount_fs(target, "proc", "proc",
				MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	} else {
		int host LF_AUTOCLOSE =
			open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
		r = host < 0 ? -errno : mu_bind(host, target, true, false);
		if (r == 0)
			r = mu_mounts_below("/proc", host_mounts);
	}
	if (r < 0) {
		lr_fmt(err, errlen, "cannot mount /proc: %s%s", strerror(-r),
			 r == -EPERM ? " (the host's /proc is partly hidden, "
				       "e.g. by a nested container's masks)"
				     : "");
		return r;
	}
	int check LF_AUTOCLOSE =
		sp_open_beneath(rootfd, "proc", O_PATH | O_DIRECTORY, 0);
	if (check < 0 || !mu_fs_is(check, PROC_SUPER_MAGIC)) {
		lr_fmt(err, errlen, "/proc is not procfs after mounting it");
		return -EXDEV;
	}
	return 0;
}

int rootfs_mount_sys(int rootfd, struct name_list *host_mounts, char *err,
		     size_t errlen)
{
	int target LF_AUTOCLOSE = open_mountpoint(rootfd, "sys", err, errlen);
	if (target < 0)
		return target;
	int r = mu_mount_fs(target, "sysfs", "sysfs",
			    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (r == -EPERM || r == -EACCES) {
		/* sysfs belongs to the network namespace: one we did not
		 * create (--net host, container:) cannot get a new one.
		 * The bind must take the host's mounts below it along
		 * (they are locked to it in this user namespace). */
		int tree = mu_clone_tree(AT_FDCWD, "/sys", true);
		r = tree;
		if (tree >= 0) {
			r = mu_tree_restrict(tree, true, true);
			if (r == 0)
				r = mu_attach(tree, target);
			close(tree);
		}
		if (r == 0)
			r = mu_mounts_below("/sys", host_mounts);
	}
	if (r < 0) {
		lr_fmt(err, errlen, "cannot mount /sys: %s", strerror(-r));
		return r;
	}
	return 0;
}

static const char *const masked[] = {
	"proc/acpi",          "proc/asound",        "proc/interrupts",
	"proc/kcore",         "proc/keys",          "proc/latency_stats",
	"proc/timer_list",    "proc/timer_stats",   "proc/sched_debug",
	"proc/scsi",          "sys/firmware",       "sys/devices/virtual/powercap",
};

static const char *const readonly[] = {
	"proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger",
};

static int mask_one(int rootfd, const char *path, int nullfd)
{
	int fd LF_AUTOCLOSE = sp_open_beneath(rootfd, path, O_PATH, 0);
	if (fd == -ENOENT)
		return 0; /* this kernel has no such file */
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return mu_mount_fs(fd, "tmpfs", "tmpfs",
				   MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
				   "size=0k,nr_inodes=1,mode=0555");
	return mu_bind(nullfd, fd, false, true);
}

static int readonly_one(int rootfd, const char *path)
{
	int fd LF_AUTOCLOSE = sp_open_beneath(rootfd, path, O_PATH, 0);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	int tree = mu_clone_tree(fd, "", true);
	if (tree < 0)
		return tree;
	int r = mu_tree_restrict(tree, true, true);
	if (r == 0)
		r = mu_attach(tree, fd);
	close(tree);
	return r;
}

/* Where the mask's tmpfs is attached while masks are bound from it:
 * open_tree() clones only from mounts in our namespace.  Gone again
 * before the command runs. */
#define MASK_SCRATCH ".layerrun-mask"

/*
 * What masked files are bound to: an empty file on a read-only tmpfs of
 * its own, attached at /dev/MASK_SCRATCH.  Reads give nothing and every
 * write fails with EROFS (a /dev/null bind, as Docker uses, would
 * swallow writes silently).  Returns an O_PATH fd of that file or -errno.
 */
static int empty_readonly_file(int devfd)
{
	int fs LF_AUTOCLOSE = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (fsconfig(fs, FSCONFIG_SET_STRING, "size", "4k", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	int mnt LF_AUTOCLOSE = fsmount(fs, FSMOUNT_CLOEXEC,
				       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					       MOUNT_ATTR_NOEXEC);
	if (mnt < 0)
		return -errno;
	int f = openat(mnt, "empty", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
		       0444);
	if (f < 0)
		return -errno;
	close(f);
	int r = mu_tree_restrict(mnt, true, true);
	if (r < 0)
		return r;
	if (mkdirat(devfd, MASK_SCRATCH, 0700) < 0)
		return -errno;
	int scratch LF_AUTOCLOSE = openat(devfd, MASK_SCRATCH,
					  O_PATH | O_DIRECTORY | O_NOFOLLOW |
						  O_CLOEXEC);
	if (scratch < 0 || mu_attach(mnt, scratch) < 0)
		return -errno;
	f = openat(devfd, MASK_SCRATCH "/empty", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return f < 0 ? -errno : f;
}

static void drop_scratch(int devfd)
{
	int fd LF_AUTOCLOSE = openat(devfd, MASK_SCRATCH,
				     O_PATH | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
	if (fd >= 0) {
		char path[64];
		lr_fmt(path, sizeof(path), "/proc/self/fd/%d", fd);
		umount2(path, MNT_DETACH);
	}
	unlinkat(devfd, MASK_SCRATCH, AT_REMOVEDIR);
}

static int mask_all(int rootfd, int nullfd, char *err, size_t errlen)
{
	for (size_t i = 0; i < LF_ARRAY_SIZE(masked); i++) {
		int r = mask_one(rootfd, masked[i], nullfd);
		if (r < 0) {
			lr_fmt(err, errlen, "cannot mask /%s: %s", masked[i],
				 strerror(-r));
			return r;
		}
	}
	return 0;
}

/*
 * Covers what the host mounts below its /proc or /sys, which the binds
 * of them (rootfs_mount_proc, rootfs_mount_sys) brought along: tracefs,
 * debugfs, securityfs, configfs, bpf, pstore, fusectl, the cgroup
 * hierarchies, binfmt_misc, and whatever else a host mounts there.
 * Their files are root's by mode only, so a root container (every id
 * mapped to itself) read them: the host's trace buffers (trace_pipe,
 * consumed), crash logs, the host's cgroups.  Sorted, an outer one
 * comes first, and one below it is gone once it is covered (ENOENT:
 * nothing to do); one below a directory the container may not enter
 * (EACCES, a rootless one below the host's 0700 /sys/kernel/debug) is
 * out of its reach already.
 */
static int mask_host_mounts(int rootfd, struct name_list *host_mounts,
			    int nullfd, char *err, size_t errlen)
{
	name_list_sort(host_mounts);
	for (size_t i = 0; i < host_mounts->n; i++) {
		int r = mask_one(rootfd, host_mounts->names[i], nullfd);
		if (r < 0 && r != -EACCES) {
			lr_fmt(err, errlen, "cannot hide the host's mount "
				 "/%s: %s", host_mounts->names[i],
				 strerror(-r));
			return r;
		}
	}
	return 0;
}

int rootfs_protect(int rootfd, struct name_list *host_mounts, char *err,
		   size_t errlen)
{
	int devfd LF_AUTOCLOSE = sp_open_beneath(rootfd, "dev",
						 O_PATH | O_DIRECTORY, 0);
	int nullfd = devfd < 0 ? devfd : empty_readonly_file(devfd);
	int r = nullfd;
	if (nullfd < 0)
		lr_fmt(err, errlen,
			 "cannot mask paths: no read-only tmpfs file: %s",
			 strerror(-nullfd));
	else
		r = mask_all(rootfd, nullfd, err, errlen);
	if (r == 0)
		r = mask_host_mounts(rootfd, host_mounts, nullfd, err, errlen);
	if (nullfd >= 0)
		close(nullfd);
	if (devfd >= 0)
		drop_scratch(devfd); /* the binds made from it stay */
	if (r < 0)
		return r;
	for (size_t i = 0; i < LF_ARRAY_SIZE(readonly); i++) {
		r = readonly_one(rootfd, readonly[i]);
		if (r < 0) {
			lr_fmt(err, errlen, "cannot make /%s read-only: %s",
				 readonly[i], strerror(-r));
			return r;
		}
	}
	return 0;
}

int rootfs_make_read_only(char *err, size_t errlen)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof(attr)) < 0) {
		lr_fmt(err, errlen, "cannot make the root read-only: %s",
		       strerror(errno));
		return -errno;
	}
	return 0;
}

int rootfs_enter(int rootfd, bool no_pivot, bool *chrooted, char *err,
		 size_t errlen)
{
	*chrooted = false;
	if (fchdir(rootfd) < 0) {
		lr_fmt(err, errlen, "cannot enter the root: %s",
			 strerror(errno));
		return -errno;
	}
	if (!no_pivot) {
		/* pivot_root(".", "."): the old root ends up stacked on the
		 * new one and is detached at once, so nothing of the host
		 * stays reachable, and no directory is needed for it. */
		if (syscall(SYS_pivot_root, ".", ".") == 0) {
			if (umount2(".", MNT_DETACH) < 0) {
				lr_fmt(err, errlen,
					 "cannot detach the old root: %s",
					 strerror(errno));
				return -errno;
			}
			if (chdir("/") < 0)
				return -errno;
			return 0;
		}
		if (errno != EINVAL) {
			lr_fmt(err, errlen, "pivot_root failed: %s",
				 strerror(errno));
			return -errno;
		}
		lf_warn("pivot_root is not possible here (is the host root an "
			"initramfs?): using chroot; CAP_SYS_CHROOT is dropped "
			"so the container cannot climb out of it");
	}
	/* The fallback: cover "/" with the container's root where the
	 * kernel allows it, then chroot. */
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 && errno != EINVAL &&
	    errno != EPERM) {
		lr_fmt(err, errlen, "cannot move the root: %s",
			 strerror(errno));
		return -errno;
	}
	if (chroot(".") < 0 || chdir("/") < 0) {
		lr_fmt(err, errlen, "chroot failed: %s", strerror(errno));
		return -errno;
	}
	*chrooted = true;
	return 0;
}
