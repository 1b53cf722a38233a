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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "lf_common.h"
#include "strfmt.h"
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

/* What the helper of clone_child() hands back, in the memory it shares. */
struct joined_clone {
	struct container *c;
	pid_t pid; /* or -errno */
	bool in_v2;
	bool joined; /* the joins went well (a failure is the clone's) */
};

static int join_then_clone(void *arg)
{
	struct joined_clone *j = arg;
	struct container *c = j->c;
	if (setns(c->join_user, CLONE_NEWUSER) < 0 ||
	    (c->join_net >= 0 && setns(c->join_net, CLONE_NEWNET) < 0) ||
	    (c->join_ipc >= 0 && setns(c->join_ipc, CLONE_NEWIPC) < 0) ||
	    (c->join_uts >= 0 && setns(c->join_uts, CLONE_NEWUTS) < 0)) {
		j->pid = -errno;
		return 0;
	}
	j->joined = true;
	j->pid = clone_container(c, CLONE_PARENT, &j->in_v2);
	return 0;
}

/*
 * Clones C into new namespaces, or, when joining a user namespace (the
 * kept one, another container's), from a helper that enters it and the
 * namespaces joined with it first (CLONE_PARENT keeps C ours).  The
 * helper shares our memory and we wait while it runs (vfork): a full
 * fork would copy the launcher's page tables and make it fault on
 * every page it writes afterwards.  C itself, a plain clone, runs on a
 * copy of the helper's stack, as large as a main thread's.
 */
static pid_t clone_child(struct container *c, char *err, size_t errlen)
{
	if (c->join_user < 0) {
		pid_t p = clone_container(c, 0, &c->in_v2_cgroup);
		if (p < 0)
			userns_explain_clone(-p, err, errlen);
		return p;
	}
	const size_t stack_size = 8u << 20;
	char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				   MAP_STACK,
			   -1, 0);
	if (stack == MAP_FAILED) {
		lr_fmt(err, errlen, "cannot start the container: %s",
		       strerror(errno));
		return -ENOMEM;
	}
	struct joined_clone j = { .c = c, .pid = -EIO };
	pid_t h = clone(join_then_clone, stack + stack_size,
			CLONE_VM | CLONE_VFORK | SIGCHLD, &j);
	int e = errno;
	if (h > 0)
		while (waitpid(h, NULL, 0) < 0 && errno == EINTR)
			;
	munmap(stack, stack_size);
	if (h < 0) {
		lr_fmt(err, errlen, "cannot start the container: %s",
		       strerror(e));
		return -e;
	}
	if (j.pid < 0 && j.joined)
		userns_explain_clone(-j.pid, err, errlen);
	else if (j.pid < 0)
		lr_fmt(err, errlen, "cannot join the %s namespaces: %s",
		       c->idmap.kept ? "kept user" : "other container's",
		       strerror(-j.pid));
	else
		c->in_v2_cgroup = j.in_v2;
	return j.pid;
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
	char err[1024];
	pid_t p = clone_child(c, err, sizeof(err));
	close(sp[1]);
	if (p < 0) {
		lf_err("%s", err);
		close(sp[0]);
		daemon_abandon(c);
		return LR_EXIT_SETUP;
	}
	c->init_pid = p;
	int s = sp[0];
	int ns[2] = { -1, -1 };
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
