/*
 * The launcher's side of a start (see container.h): the clone, the maps,
 * the cgroups, the layerfs daemon, and the wait until the command runs.
 */
#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lf_common.h"
#include "sibling_program.h"
#include "state.h"
#include "sync.h"
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

static int layerfs_options(const struct container *c, char *out, size_t size)
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
	lr_fmt(out + l, size - l, ",upperdir=%s,workdir=%s,initdir=%s,stats=%s%s%s",
		 c->upper, c->work, c->initdir, c->stats,
		 c->override_ownership ? ",xattr_permissions=2" : "",
		 c->idmap.mode == USERNS_IDENTITY ? ",suid" : "");
	if (strlen(out) + 1 >= size) {
		lf_err("too many or too long layer paths for layerfs");
		return -E2BIG;
	}
	return 0;
}

/*
 * Starts layerfs in C's first mount namespace, outside its pid namespace
 * and cgroup.  Its stderr goes to ours until it is mounted (one clear
 * line on a bad layer), then to nowhere.
 *
 * Which user namespace: where the container's ids are mapped (rootless,
 * subid, a joined namespace), the container's, so that the kernel maps
 * the ids of every request and the daemon holds no more than the
 * container's root.  Where every id maps to itself (root's default),
 * ours: the daemon had the host's root over every file already (root in
 * a namespace mapping all ids), and only a daemon in the initial
 * namespace may register backing files, which lets the kernel run
 * programs and do the I/O of open files straight on the layers
 * (passthrough; fs/passthrough.h) - as podman runs fuse-overlayfs for
 * root containers.
 */
static int start_daemon(struct container *c)
{
	char bin[PATH_MAX], opts[65536];
	if (lr_find_program("layerfs", bin, sizeof(bin)) < 0) {
		lf_err("layerfs was not found next to layerrun or in PATH");
		return -ENOENT;
	}
	if (layerfs_options(c, opts, sizeof(opts)) < 0)
		return -EINVAL;
	char upath[64], mpath[64];
	lr_fmt(upath, sizeof(upath), "/proc/%d/ns/user", (int)c->init_pid);
	lr_fmt(mpath, sizeof(mpath), "/proc/%d/ns/mnt", (int)c->init_pid);
	int ufd LF_AUTOCLOSE = open(upath, O_RDONLY | O_CLOEXEC);
	int mfd LF_AUTOCLOSE = open(mpath, O_RDONLY | O_CLOEXEC);
	if (ufd < 0 || mfd < 0) {
		lf_err("cannot open the container's namespaces: %s",
		       strerror(errno));
		return -errno;
	}
	/* layerfs stays our child and says on this pipe when it is
	 * mounted (ready_fd=): no daemon forked off to find afterwards. */
	int ready[2];
	size_t l = strlen(opts);
	if (l + 24 >= sizeof(opts)) {
		lf_err("too many or too long layer paths for layerfs");
		return -E2BIG;
	}
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	lr_fmt(opts + l, sizeof(opts) - l, ",ready_fd=%d", ready[1]);
	pid_t d = fork();
	if (d < 0) {
		int e = errno;
		close(ready[0]);
		close(ready[1]);
		return -e;
	}
	if (d == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		bool join_userns = c->idmap.mode != USERNS_IDENTITY;
		if ((join_userns && setns(ufd, CLONE_NEWUSER) < 0) ||
		    setns(mfd, CLONE_NEWNS) < 0) {
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
		if (fcntl(ready[1], F_SETFD, 0) < 0)
			_exit(LR_EXIT_SETUP);
		char *argv[] = { (char *)"layerfs", (char *)"-o", opts, c->mnt,
				 NULL };
		execv(bin, argv);
		lf_err("cannot run '%s': %s", bin, strerror(errno));
		_exit(LR_EXIT_SETUP);
	}
	close(ready[1]);
	char byte;
	ssize_t n;
	while ((n = read(ready[0], &byte, 1)) < 0 && errno == EINTR)
		;
	close(ready[0]);
	if (n != 1) {
		/* It ended before mounting, and said why on our stderr. */
		while (waitpid(d, NULL, 0) < 0 && errno == EINTR)
			;
		return -EIO;
	}
	c->daemon_pid = d;
	c->daemon_start = proc_start_time(d);
	return 0;
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* The start of the kernel's struct clone_args (5.7 and later). */
struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		stack_size, tls, set_tid, set_tid_size, cgroup;
};

/*
 * Clones C directly into its v2 cgroup (clone3 with CLONE_INTO_CGROUP):
 * moving a process into a v2 cgroup afterwards waits for an RCU grace
 * period in the kernel, several milliseconds of every start.  Returns
 * -ENOSYS where that cannot be done, and the caller clones as before.
 */
static pid_t clone_into_cgroup(struct container *c)
{
	if (!c->cg.n || !c->cg.first_is_v2)
		return -ENOSYS;
	int cgfd = open(c->cg.dirs[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return -ENOSYS;
	struct clone3_args args = {
		.flags = (uint64_t)c->clone_flags | CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)cgfd,
	};
	pid_t p = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (p == 0)
		container_child(c);
	int e = errno;
	close(cgfd);
	if (p > 0)
		c->in_v2_cgroup = true;
	return p > 0 ? p : -e;
}

/* Clones C into new namespaces, or, when joining another container's,
 * from a helper that entered them first (CLONE_PARENT keeps C ours). */
static pid_t clone_child(struct container *c)
{
	unsigned long flags = (unsigned long)c->clone_flags | SIGCHLD;
	if (c->join_user < 0) {
		pid_t p = clone_into_cgroup(c);
		if (p > 0)
			return p;
		p = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
		if (p == 0)
			container_child(c);
		return p < 0 ? -errno : p;
	}
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid_t h = fork();
	if (h < 0)
		return -errno;
	if (h == 0) {
		close(pfd[0]);
		pid_t p = -1;
		if (setns(c->join_user, CLONE_NEWUSER) < 0 ||
		    (c->join_net >= 0 && setns(c->join_net, CLONE_NEWNET) < 0) ||
		    (c->join_ipc >= 0 && setns(c->join_ipc, CLONE_NEWIPC) < 0) ||
		    (c->join_uts >= 0 && setns(c->join_uts, CLONE_NEWUTS) < 0)) {
			lf_err("cannot join the other container's namespaces: "
			       "%s",
			       strerror(errno));
			_exit(LR_EXIT_SETUP);
		}
		p = (pid_t)syscall(SYS_clone, flags | CLONE_PARENT, NULL, NULL,
				   NULL, 0);
		if (p == 0)
			container_child(c);
		if (p < 0)
			lf_err("cannot create the container's namespaces: %s",
			       strerror(errno));
		_exit(p > 0 && write(pfd[1], &p, sizeof(p)) == sizeof(p)
			      ? 0
			      : LR_EXIT_SETUP);
	}
	close(pfd[1]);
	pid_t p = -1;
	ssize_t n = read(pfd[0], &p, sizeof(p));
	close(pfd[0]);
	int st;
	waitpid(h, &st, 0);
	return n == sizeof(p) ? p : -EIO;
}

/* C ended before it was ready: its status (it said why). */
static int child_failed(struct container *c)
{
	int st;
	kill(c->init_pid, SIGKILL);
	while (waitpid(c->init_pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		return WEXITSTATUS(st);
	return LR_EXIT_SETUP;
}

int container_spawn(struct container *c)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		lf_err("socketpair: %s", strerror(errno));
		return LR_EXIT_SETUP;
	}
	c->sync_parent = sp[0];
	c->sync_child = sp[1];
	c->launcher = getpid();
	c->pty_master = -1;
	fflush(NULL);
	pid_t p = clone_child(c);
	close(sp[1]);
	if (p < 0) {
		char err[512];
		userns_explain_clone(-p, err, sizeof(err));
		lf_err("%s", err);
		close(sp[0]);
		return LR_EXIT_SETUP;
	}
	c->init_pid = p;
	int s = sp[0];
	char err[1024];
	int r = sync_recv(s, SYNC_NS_READY, NULL, NULL);
	if (r < 0)
		goto child_gone;
	if (!c->idmap.self_map && c->idmap.mode != USERNS_JOINED &&
	    userns_write_maps(p, &c->idmap, err, sizeof(err)) < 0) {
		lf_err("%s", err);
		goto fail;
	}
	/* Born in its v2 cgroup, it still moves into the v1 ones. */
	size_t skip = c->in_v2_cgroup ? 1 : 0;
	if (c->cg.n > skip &&
	    cgroup_enter(c->cg.dirs + skip, c->cg.n - skip, p, err,
			 sizeof(err)) < 0) {
		lf_err("%s", err);
		goto fail;
	}
	if (sync_send(s, SYNC_MAPPED, 0, -1) < 0 ||
	    sync_recv(s, SYNC_MOUNT_READY, NULL, NULL) < 0)
		goto child_gone;
	if (start_daemon(c) < 0)
		goto fail;
	if (sync_send(s, SYNC_MOUNTED, 0, -1) < 0)
		goto child_gone;
	if (c->o->tty && sync_recv(s, SYNC_PTY, NULL, &c->pty_master) < 0)
		goto child_gone;
	int cmd;
	if (sync_recv(s, SYNC_STARTED, &cmd, NULL) < 0)
		goto child_gone;
	close(s);
	return 0;
child_gone:
	close(s);
	return child_failed(c);
fail:
	close(s);
	child_failed(c);
	return LR_EXIT_SETUP;
}
