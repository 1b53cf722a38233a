#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layerfs_main.h"
#include "lf_common.h"
#include "state.h"
#include "strfmt.h"

/* Appends S to the option string, escaping what layerfs's lists treat
 * as separators. */
static void append_escaped(char *out, size_t size, const char *s)
{
	size_t o = strlen(out);
	for (; *s && o + 3 < size; s++) {
		if (*s == ':' || *s == ',' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o] = 0;
}

/* layerfs's -o list for C, ending in ready_fd=READY_FD. */
static int layerfs_options(const struct container *c, int ready_fd, char *out,
			   size_t size)
{
	const char *plain[] = { c->upper, c->work, c->initdir, c->stats,
				c->mnt };
	for (size_t i = 0; i < LF_ARRAY_SIZE(plain); i++)
		if (strchr(plain[i], ',')) {
			lf_err("layerfs cannot take a ',' in the path '%s': "
			       "choose another --root or --upper",
			       plain[i]);
			return -EINVAL;
		}
	lr_fmt(out, size, "lowerdir=");
	for (size_t i = 0; i < c->nlayers; i++) {
		if (i)
			strncat(out, ":", size - strlen(out) - 1);
		append_escaped(out, size, c->layers[i]);
	}
	size_t l = strlen(out);
	lr_fmt(out + l, size - l,
	       ",upperdir=%s,workdir=%s,initdir=%s,stats=%s%s%s,ready_fd=%d",
	       c->upper, c->work, c->initdir, c->stats,
	       c->override_ownership ? ",xattr_permissions=2" : "",
	       c->idmap.mode == USERNS_IDENTITY ? ",suid" : "", ready_fd);
	if (strlen(out) + 1 >= size) {
		lf_err("too many or too long layer paths for layerfs");
		return -E2BIG;
	}
	return 0;
}

/*
 * Forks layerfs -o OPTS MOUNTPOINT, keeping the descriptor KEEP_FD (the
 * /dev/fuse of a mount made here, or -1) and the write end of a ready
 * pipe, whose read end goes to c->daemon_ready.  With USERNS and MNTNS
 * (or -1), the daemon first joins those namespaces.
 *
 * The daemon is this program's own copy of layerfs (layerfs_main.h),
 * run in the fork without an exec: the C library is set up already, and
 * layerfs closes every descriptor it was not given, as a new program
 * would have had them closed.  Nothing of the launcher's state is used:
 * the launcher is single-threaded and installs no signal handler, and
 * the mask it blocks is cleared below.
 */
static int launch(struct container *c, const char *mountpoint, int keep_fd,
		  int userns, int mntns)
{
	char opts[65536];
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	int r = layerfs_options(c, ready[1], opts, sizeof(opts));
	/* Nothing buffered may be written twice. */
	fflush(NULL);
	pid_t d = r < 0 ? -1 : fork();
	if (d < 0) {
		int e = r < 0 ? r : -errno;
		close(ready[0]);
		close(ready[1]);
		return e;
	}
	if (d == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Before it joins the container's user namespace: a process
		 * there with CAP_SYS_PTRACE (--pid host) would otherwise
		 * reach the host through the daemon's /proc root and fds. */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if ((userns >= 0 && setns(userns, CLONE_NEWUSER) < 0) ||
		    (mntns >= 0 && setns(mntns, CLONE_NEWNS) < 0)) {
			lf_err("cannot join the container's namespaces for "
			       "layerfs: %s",
			       strerror(errno));
			_exit(LR_EXIT_SETUP);
		}
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			lf_err("cannot become root for layerfs: %s",
			       strerror(errno));
			_exit(LR_EXIT_SETUP);
		}
		/* stdin and stdout: nothing of the caller's. */
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			close(null);
		}
		if (fcntl(ready[1], F_SETFD, 0) < 0 ||
		    (keep_fd >= 0 && fcntl(keep_fd, F_SETFD, 0) < 0))
			_exit(LR_EXIT_SETUP);
		/* ps and top show it as what it is. */
		prctl(PR_SET_NAME, "layerfs", 0, 0, 0);
		/* The tests' way to a daemon killed before it serves
		 * (test_layerrun.py): the signal's number. */
		const char *die = getenv("LAYERRUN_TEST_DAEMON_SIGNAL");
		if (die)
			raise(atoi(die));
		char *argv[] = { (char *)"layerfs", (char *)"-o", opts,
				 (char *)mountpoint, NULL };
		fflush(NULL);
		_exit(layerfs_main(4, argv));
	}
	close(ready[1]);
	c->daemon_ready = ready[0];
	c->daemon_pid = d;
	c->daemon_start = proc_start_time(d);
	if (c->daemon_forked)
		c->daemon_forked(c, c->daemon_forked_arg);
	return 0;
}

bool daemon_starts_early(const struct container *c)
{
	return c->idmap.mode == USERNS_IDENTITY || c->idmap.kept;
}

/* A detached FUSE mount on a new /dev/fuse descriptor (*DEV): what
 * layerfs would have mounted as root in its user namespace, with
 * ATTRS (nodev; nosuid but in the host's). */
static int make_fuse_mount(int *dev, unsigned attrs)
{
	*dev = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (*dev < 0)
		return -errno;
	int fs LF_AUTOCLOSE = fsopen("fuse", FSOPEN_CLOEXEC);
	char fd[16];
	lr_fmt(fd, sizeof(fd), "%d", *dev);
	const char *const settings[][2] = {
		{ "source", "layerfs" }, { "subtype", "layerfs" },
		{ "fd", fd },		 { "rootmode", "40000" },
		{ "user_id", "0" },	 { "group_id", "0" },
	};
	int mnt = -1;
	bool ok = fs >= 0;
	for (size_t i = 0; ok && i < LF_ARRAY_SIZE(settings); i++)
		ok = fsconfig(fs, FSCONFIG_SET_STRING, settings[i][0],
			      settings[i][1], 0) == 0;
	ok = ok &&
	     fsconfig(fs, FSCONFIG_SET_FLAG, "default_permissions", NULL, 0) ==
		     0 &&
	     fsconfig(fs, FSCONFIG_SET_FLAG, "allow_other", NULL, 0) == 0 &&
	     fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0 &&
	     (mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs)) >= 0;
	if (!ok) {
		int e = -errno;
		close(*dev);
		*dev = -1;
		return e;
	}
	return mnt;
}

struct userns_mount {
	int userns;
	int dev, mnt; /* the results, or mnt = -errno */
};

static int mount_in_userns(void *arg)
{
	struct userns_mount *m = arg;
	/* fsmount() wants a mount namespace of the user namespace too. */
	if (setns(m->userns, CLONE_NEWUSER) < 0 || unshare(CLONE_NEWNS) < 0) {
		m->mnt = -errno;
		return 0;
	}
	m->mnt = make_fuse_mount(&m->dev, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
	return 0;
}

/*
 * make_fuse_mount() as root of the user namespace USERNS, so that the
 * superblock is that namespace's: from a helper sharing our memory and
 * descriptors, which we wait for (a fork would copy our page tables).
 */
static int make_fuse_mount_in(int userns, int *dev)
{
	const size_t stack_size = 256u << 10;
	char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -errno;
	struct userns_mount m = { .userns = userns, .dev = -1, .mnt = -EIO };
	pid_t h = clone(mount_in_userns, stack + stack_size,
			CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &m);
	int e = errno;
	if (h > 0)
		while (waitpid(h, NULL, 0) < 0 && errno == EINTR)
			;
	munmap(stack, stack_size);
	if (h < 0)
		return -e;
	*dev = m.dev;
	return m.mnt;
}

int daemon_start_early(struct container *c)
{
	int dev;
	bool kept = c->idmap.kept;
	int mnt = kept ? make_fuse_mount_in(c->join_user, &dev)
		       : make_fuse_mount(&dev, MOUNT_ATTR_NODEV);
	if (mnt < 0) {
		lf_err("cannot make the container's FUSE mount: %s",
		       strerror(-mnt));
		return mnt;
	}
	char mountpoint[32];
	lr_fmt(mountpoint, sizeof(mountpoint), "/dev/fd/%d", dev);
	int r = launch(c, mountpoint, dev, kept ? c->join_user : -1, -1);
	/* Ours closed: the connection ends with the daemon, never waits
	 * on a descriptor left here. */
	close(dev);
	if (r < 0) {
		close(mnt);
		return r;
	}
	c->mount_fd = mnt;
	return 0;
}

int daemon_open_container_ns(const struct container *c, int ns[2])
{
	char upath[64], mpath[64];
	lr_fmt(upath, sizeof(upath), "/proc/%d/ns/user", (int)c->init_pid);
	lr_fmt(mpath, sizeof(mpath), "/proc/%d/ns/mnt", (int)c->init_pid);
	ns[0] = open(upath, O_RDONLY | O_CLOEXEC);
	ns[1] = ns[0] < 0 ? -1 : open(mpath, O_RDONLY | O_CLOEXEC);
	if (ns[1] >= 0)
		return 0;
	int e = errno;
	lf_err("cannot open the container's namespaces: %s", strerror(e));
	if (ns[0] >= 0)
		close(ns[0]);
	ns[0] = -1;
	return -e;
}

int daemon_start_in_container(struct container *c, const int ns[2])
{
	int r = launch(c, c->mnt, -1, ns[0], ns[1]);
	return r < 0 ? r : daemon_await(c);
}

int daemon_await(struct container *c)
{
	char byte;
	ssize_t n;
	while ((n = read(c->daemon_ready, &byte, 1)) < 0 && errno == EINTR)
		;
	close(c->daemon_ready);
	c->daemon_ready = -1;
	if (n == 1)
		return 0;
	/* It ended before serving the mount: with a failure status it said
	 * why on our stderr; killed, it could not. */
	int st = 0;
	while (waitpid(c->daemon_pid, &st, 0) < 0 && errno == EINTR)
		;
	c->daemon_pid = 0;
	if (WIFSIGNALED(st))
		lf_err("layerfs was killed (signal %d) before it served the "
		       "container's root",
		       WTERMSIG(st));
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		lf_err("layerfs exited before it served the container's root");
	return -EIO;
}

void daemon_abandon(struct container *c)
{
	if (c->mount_fd >= 0) {
		close(c->mount_fd);
		c->mount_fd = -1;
	}
	if (c->daemon_ready >= 0) {
		close(c->daemon_ready);
		c->daemon_ready = -1;
		/* Still starting, for a mount nobody will see. */
		if (c->daemon_pid > 0)
			kill(c->daemon_pid, SIGKILL);
	}
}
