/*
 * The launcher's side of a start (see container.h): the clone, the maps,
 * the cgroups, the layerfs daemon (daemon.h), and the wait until the
 * command runs.
 */
#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "lf_common.h"
#include "sync.h"

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
static pid_t clone_into_cgroup(struct container *c, uint64_t more_flags)
{
	if (!c->cg.n || !c->cg.first_is_v2)
		return -ENOSYS;
	int cgfd = open(c->cg.dirs[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return -ENOSYS;
	struct clone3_args args = {
		.flags = (uint64_t)c->clone_flags | more_flags |
			 CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)cgfd,
	};
	pid_t p = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (p == 0)
		container_child(c);
	int e = errno;
	close(cgfd);
	return p > 0 ? p : -e;
}

/* C's clone, into its v2 cgroup where it can be; IN_V2 says whether. */
static pid_t clone_container(struct container *c, uint64_t more_flags,
			     bool *in_v2)
{
	pid_t p = clone_into_cgroup(c, more_flags);
	*in_v2 = p > 0;
	if (p > 0)
		return p;
	p = (pid_t)syscall(SYS_clone,
			   (unsigned long)(c->clone_flags | more_flags) |
				   SIGCHLD,
			   NULL, NULL, NULL, 0);
	if (p == 0)
		container_child(c);
	return p < 0 ? -errno : p;
}

/* Clones C into new namespaces, or, when joining a user namespace (the
 * kept one, another container's), from a helper that entered it and the
 * namespaces joined with it first (CLONE_PARENT keeps C ours). */
static pid_t clone_child(struct container *c)
{
	if (c->join_user < 0)
		return clone_container(c, 0, &c->in_v2_cgroup);
	struct {
		pid_t pid;
		bool in_v2;
	} made = { -1, false };
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid_t h = fork();
	if (h < 0)
		return -errno;
	if (h == 0) {
		close(pfd[0]);
		if (setns(c->join_user, CLONE_NEWUSER) < 0 ||
		    (c->join_net >= 0 && setns(c->join_net, CLONE_NEWNET) < 0) ||
		    (c->join_ipc >= 0 && setns(c->join_ipc, CLONE_NEWIPC) < 0) ||
		    (c->join_uts >= 0 && setns(c->join_uts, CLONE_NEWUTS) < 0)) {
			lf_err("cannot join the %s namespaces: %s",
			       c->idmap.kept ? "kept user" : "other container's",
			       strerror(errno));
			_exit(LR_EXIT_SETUP);
		}
		made.pid = clone_container(c, CLONE_PARENT, &made.in_v2);
		if (made.pid < 0)
			lf_err("cannot create the container's namespaces: %s",
			       strerror(-made.pid));
		_exit(made.pid > 0 && write(pfd[1], &made, sizeof(made)) ==
						      sizeof(made)
			      ? 0
			      : LR_EXIT_SETUP);
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], &made, sizeof(made));
	close(pfd[0]);
	int st;
	waitpid(h, &st, 0);
	if (n != sizeof(made))
		return -EIO;
	c->in_v2_cgroup = made.in_v2;
	return made.pid;
}

static void close_ns(int ns[2])
{
	for (int i = 0; i < 2; i++)
		if (ns[i] >= 0) {
			close(ns[i]);
			ns[i] = -1;
		}
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
		daemon_abandon(c);
		return LR_EXIT_SETUP;
	}
	c->init_pid = p;
	int s = sp[0];
	int ns[2] = { -1, -1 };
	char err[1024];
	int r = sync_recv(s, SYNC_NS_READY, NULL, NULL);
	if (r < 0)
		goto child_gone;
	if (!c->idmap.self_map && c->idmap.mode != USERNS_JOINED &&
	    !c->idmap.kept && userns_write_maps(p, &c->idmap, err, sizeof(err)) < 0) {
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
	/* Its namespaces are taken while the child may still be read
	 * through /proc: on SYNC_MAPPED it makes itself non-dumpable. */
	if (!daemon_starts_early(c) && daemon_open_container_ns(c, ns) < 0)
		goto fail;
	if (sync_send(s, SYNC_MAPPED, 0, -1) < 0 ||
	    sync_recv(s, SYNC_MOUNT_READY, NULL, NULL) < 0)
		goto child_gone;
	if ((daemon_starts_early(c) ? daemon_await(c)
				    : daemon_start_in_container(c, ns)) < 0)
		goto fail;
	close_ns(ns);
	/* The mount made here, for the child to attach (or -1: layerfs
	 * mounted in the child's namespace). */
	if (sync_send(s, SYNC_MOUNTED, 0, c->mount_fd) < 0)
		goto child_gone;
	if (c->mount_fd >= 0) {
		close(c->mount_fd);
		c->mount_fd = -1;
	}
	if (c->o->tty && sync_recv(s, SYNC_PTY, NULL, &c->pty_master) < 0)
		goto child_gone;
	int cmd;
	if (sync_recv(s, SYNC_STARTED, &cmd, NULL) < 0)
		goto child_gone;
	close(s);
	return 0;
child_gone:
	close(s);
	close_ns(ns);
	daemon_abandon(c);
	return child_failed(c);
fail:
	close(s);
	close_ns(ns);
	daemon_abandon(c);
	child_failed(c);
	return LR_EXIT_SETUP;
}
