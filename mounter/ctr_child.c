/*
 * The container's first process (C): namespaces, the root file system,
 * the command, and finally the init.  Runs in a copy of the launcher,
 * so it reads its orders from struct container; talks to the launcher
 * only to wait for what needs the parent namespace.
 */
#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "devfs.h"
#include "lf_common.h"
#include "mount_util.h"
#include "name_list.h"
#include "netlo.h"
#include "payload.h"
#include "rootfs.h"
#include "sealed_init.h"
#include "sync.h"
#include "user_lookup.h"
#include "volumes.h"
#include "strfmt.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

static void wait_for(struct container *c, enum sync_msg m)
{
	/* The launcher is gone or gave up: nothing left to build for. */
	if (sync_recv(c->sync_child, m, NULL, NULL) < 0)
		_exit(LR_EXIT_SETUP);
}

static void tell(struct container *c, enum sync_msg m, int value, int fd)
{
	if (sync_send(c->sync_child, m, value, fd) < 0)
		_exit(LR_EXIT_SETUP);
}

/* The container gets no user namespace of its own: inside one, all of
 * mount, unshare and pivot_root would be open to it again (what Docker's
 * seccomp profile forbids).  user.max_user_namespaces is counted per
 * user namespace, and this is the container's. */
static void forbid_nested_userns(void)
{
	int fd = open("/proc/sys/user/max_user_namespaces",
		      O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		lf_die(LR_EXIT_SETUP, "cannot forbid nested user namespaces: %s",
		    strerror(errno));
	close(fd);
}

static void become_root(struct container *c)
{
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		lf_die(LR_EXIT_SETUP, "cannot become root in the container's user namespace: %s",
		    strerror(errno));
	/* Drop the launcher's supplementary groups where we may. */
	if (c->idmap.mode != USERNS_SINGLE)
		setgroups(0, NULL);
}

/*
 * Puts the layerfs mount into a mount namespace that only the container
 * has, so that it lives exactly as long as the container: the detached
 * mount the launcher made (TREE, daemon.h), or else the one layerfs made
 * in the namespace it shares with us, taken into a new one.
 */
static int take_over_mount(struct container *c, int tree)
{
	/* The cgroup namespace too, now that the launcher has put us in the
	 * container's cgroups: they become the root the container sees. */
	int ns = CLONE_NEWCGROUP;
	bool made_here = tree >= 0;
	if (!made_here) {
		tree = open_tree(AT_FDCWD, c->mnt, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (tree < 0)
			lf_die(LR_EXIT_SETUP, "cannot take over the layerfs mount: %s",
			    strerror(errno));
		if (umount2(c->mnt, MNT_DETACH) < 0)
			lf_die(LR_EXIT_SETUP, "cannot detach the layerfs mount: %s",
			    strerror(errno));
		ns |= CLONE_NEWNS;
	}
	if (unshare(ns) < 0)
		lf_die(LR_EXIT_SETUP, "cannot make the container's mount namespace: %s",
		    strerror(errno));
	int target LF_AUTOCLOSE = open(c->mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (target < 0 || mu_attach(tree, target) < 0)
		lf_die(LR_EXIT_SETUP, "cannot attach the layerfs mount: %s", strerror(errno));
	close(tree);
	int rootfd = open(c->mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		lf_die(LR_EXIT_SETUP, "cannot open the container's root: %s", strerror(errno));
	/* The launcher's own mount is FUSE by making (and asking would cost
	 * a request); one taken from the mount point is checked. */
	if (!made_here && !mu_fs_is(rootfd, FUSE_SUPER_MAGIC))
		lf_die(LR_EXIT_SETUP, "layerfs is not serving the container's root: %s",
		    errno ? strerror(errno) : "wrong file system");
	return rootfd;
}

static void build_root(struct container *c, int rootfd)
{
	const struct run_opts *o = c->o;
	char err[1024];
	bool gid5 = userns_gid_mapped(&c->idmap, 5);
	/* What binds of the host's /proc and /sys bring along, covered. */
	struct name_list host_mounts = { 0 };
	if (rootfs_mount_proc(rootfd, o->pid.share == NS_PRIVATE, &host_mounts,
			      err, sizeof(err)) < 0 ||
	    devfs_setup(rootfd, gid5, o->ipc.share == NS_PRIVATE,
			o->shm_size ? o->shm_size : DEVFS_SHM_DEFAULT, err,
			sizeof(err)) < 0 ||
	    rootfs_mount_sys(rootfd, &host_mounts, err, sizeof(err)) < 0 ||
	    volumes_mount(rootfd, o->vols, o->nvols, err, sizeof(err)) < 0 ||
	    rootfs_protect(rootfd, &host_mounts, err, sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	name_list_free(&host_mounts);
}

static int make_pty(struct container *c, int rootfd)
{
	char err[512];
	int slave;
	int master = devfs_open_pty(rootfd, &slave, err, sizeof(err));
	if (master < 0 || devfs_bind_console(rootfd, slave, err, sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	if (c->have_ws)
		ioctl(master, TIOCSWINSZ, &c->ws);
	tell(c, SYNC_PTY, 0, master);
	close(master);
	return slave;
}

static char *choose_cwd(struct container *c, int rootfd)
{
	const char *cwd = c->cwd && *c->cwd ? c->cwd : "/";
	char norm[PATH_MAX];
	if (ctr_path_normalize(cwd, norm, sizeof(norm)) < 0)
		lf_die(LR_EXIT_SETUP, "working directory '%s': must be absolute, without '..'",
		    cwd);
	/* As Docker: a missing working directory is made (in the upper
	 * layer), inside the root. */
	int fd = mu_make_in_root(rootfd, norm, false);
	if (fd < 0)
		lf_die(LR_EXIT_SETUP, "cannot make the working directory '%s': %s", norm,
		    strerror(-fd));
	close(fd);
	return strdup(norm);
}

/*
 * Waits until the command's process has exec'd (the report pipe closes
 * empty) or has failed first.  Then its one line goes to the launcher's
 * stderr, this init's still, and the init exits with the command's
 * status before the container counts as started: the start fails as a
 * start (125, 126, 127), on the caller's terminal even with -d, and
 * leaves nothing behind, where it looked like a command that ran and
 * exited 125 (its line in the container's log).
 */
static void await_exec(int report, pid_t cmd)
{
	char why[4096];
	size_t n = 0;
	while (n < sizeof(why)) {
		ssize_t r = read(report, why + n, sizeof(why) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(report);
	if (n == 0)
		return;
	int st = 0;
	while (waitpid(cmd, &st, 0) < 0 && errno == EINTR)
		;
	if (write(STDERR_FILENO, why, n) < 0)
		n = 0; /* nowhere left to say it; the status still tells */
	_exit(WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st)
					       : LR_EXIT_SETUP);
}

void container_child(struct container *c)
{
	const struct run_opts *o = c->o;
	char err[1024];

	/* Until the command runs, the container dies with the launcher.  (A
	 * launcher gone before this line closed the socket: the first
	 * wait_for() ends us then.) */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	close(c->sync_parent);
	setsid();

	if (c->idmap.self_map && userns_map_self(&c->idmap, err, sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	tell(c, SYNC_NS_READY, 0, -1);
	wait_for(c, SYNC_MAPPED);
	/* Mapped, its namespaces taken by the launcher: from here on no
	 * process of the user namespace, however capable there (--pid host
	 * and CAP_SYS_PTRACE, a container whose namespaces this one joins),
	 * may read our /proc files or take our descriptors, which lead to
	 * the host (the state directory, the launcher's mount). */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	become_root(c);
	if (c->idmap.mode != USERNS_JOINED)
		forbid_nested_userns();

	/* First thing in the new mount namespace: nothing we mount may
	 * propagate to the host.  Slave, not private, so what the host
	 * unmounts is unmounted here too and layerfs, which lives in this
	 * namespace, never keeps a host file system busy. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		lf_die(LR_EXIT_SETUP, "cannot make the mount namespace a slave: %s",
		    strerror(errno));
	tell(c, SYNC_MOUNT_READY, 0, -1);
	int tree;
	if (sync_recv(c->sync_child, SYNC_MOUNTED, NULL, &tree) < 0)
		_exit(LR_EXIT_SETUP);

	int rootfd = take_over_mount(c, tree);
	build_root(c, rootfd);
	int slave = o->tty ? make_pty(c, rootfd) : -1;

	bool chrooted;
	if (rootfs_enter(rootfd, o->no_pivot, &chrooted, err, sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	close(rootfd);
	if (chrooted) {
		int cap;
		bool asked = false;
		for (size_t i = 0; i < o->ncap_add; i++)
			if (caps_parse_name(o->cap_add[i], &cap) == 0 &&
			    cap == CAP_SYS_CHROOT)
				asked = true;
		if (!asked)
			c->caps &= ~(1ULL << CAP_SYS_CHROOT);
	}
	if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
		lf_die(LR_EXIT_SETUP, "cannot set the hostname: %s", strerror(errno));
	int r;
	if (o->net.share == NS_PRIVATE && (r = netlo_up()) < 0)
		lf_die(LR_EXIT_SETUP, "cannot bring up the loopback interface: %s", strerror(-r));

	int newroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct ctr_user u;
	if (newroot < 0 ||
	    user_resolve(newroot, c->user, &u, err, sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	char *cwd = choose_cwd(c, newroot);
	close(newroot);
	/* Now that the working directory is made, where it was missing. */
	if (o->read_only && rootfs_make_read_only(err, sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	if (!cwd ||
	    env_default(&c->env, "PATH", ENV_DEFAULT_PATH) < 0 ||
	    env_default(&c->env, "HOSTNAME", c->hostname ? c->hostname : c->name) < 0 ||
	    env_default(&c->env, "HOME", u.home) < 0 ||
	    (o->tty && env_default(&c->env, "TERM", "xterm") < 0))
		lf_die(LR_EXIT_SETUP, "out of memory");

	int memfd = sealed_init_create();
	if (memfd < 0)
		lf_die(LR_EXIT_SETUP, "cannot make the init's sealed copy: %s", strerror(-memfd));
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		lf_die(LR_EXIT_SETUP, "pipe: %s", strerror(errno));

	struct payload p = {
		.argv = c->argv,
		.envp = c->env.v,
		.cwd = cwd,
		.uid = u.uid,
		.gid = u.gid,
		.groups = u.groups,
		.ngroups = u.ngroups,
		.setgroups_allowed = c->idmap.mode != USERNS_SINGLE,
		.caps = c->caps,
		.no_new_privs = c->no_new_privs,
		.seccomp = c->seccomp,
		.seccomp_insns = c->seccomp_prog.insns,
		.seccomp_len = c->seccomp_prog.len,
		.ulimits = o->ulimits,
		.nulimits = o->nulimits,
		.tty_slave = slave,
		.keep_stdin = o->interactive,
		.out_fd = c->log_fd,
		.trampoline_fd = memfd,
		.setup_report_fd = report[1],
	};
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	pid_t cmd = fork();
	if (cmd < 0)
		lf_die(LR_EXIT_SETUP, "fork: %s", strerror(errno));
	if (cmd == 0) {
		prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
		payload_exec(&p);
	}
	close(report[1]);
	/* The init runs in the container: confined as its command is. */
	payload_confine(&p);
	if (slave >= 0)
		close(slave);
	await_exec(report[0], cmd);
	tell(c, SYNC_STARTED, cmd, -1);
	/* Started: from now on the container outlives its launcher (that
	 * is what -d and a killed monitor rely on). */
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	/* The init needs nothing but its own stdio; a detached container
	 * must not hold its launcher's terminal or pipes. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	r = sealed_init_exec(memfd, cmd);
	kill(cmd, SIGKILL);
	_exit(LR_EXIT_SETUP);
}
