/*
 * layerrun exec NAME CMD...: a command joining every namespace of a
 * running container, its cgroups, root, environment and user.
 *
 *   exec (E) ──fork──> joiner (X): cgroups, setns ×7
 *                        └─clone(CLONE_PARENT)──> command (X2), E's child,
 *                                                 inside the pid namespace
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "cgroup.h"
#include "commands.h"
#include "devfs.h"
#include "env.h"
#include "layerrun.h"
#include "lf_common.h"
#include "lookup.h"
#include "monitor.h"
#include "payload.h"
#include "sealed_init.h"
#include "seccomp_profile.h"
#include "sync.h"
#include "user_lookup.h"
#include "strfmt.h"

struct exec_opts {
	bool interactive, tty;
	char **env;
	size_t nenv;
	char **env_file; /* --env-file's entries, which -e overrides */
	size_t nenv_file;
	struct seccomp_prog seccomp; /* the container's compiled profile */
	const char *workdir;
	const char *user;
	const char *name;
	char **argv;
};

/* The namespaces joined, user first (it gives the rights for the rest),
 * mount last (it moves our root). */
static const struct {
	const char *name;
	int type;
} kinds[] = {
	{ "user", CLONE_NEWUSER }, { "ipc", CLONE_NEWIPC },
	{ "uts", CLONE_NEWUTS },   { "net", CLONE_NEWNET },
	{ "cgroup", CLONE_NEWCGROUP }, { "pid", CLONE_NEWPID },
	{ "mnt", CLONE_NEWNS },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Opens the init's namespaces, -1 for those that are ours already
 * (--net host...): joining those would need rights we do not have. */
static int open_namespaces(pid_t pid, int *fds)
{
	for (size_t i = 0; i < NKINDS; i++) {
		char path[64];
		lr_fmt(path, sizeof(path), "/proc/%d/ns/%s", (int)pid,
			 kinds[i].name);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			return -errno;
		lr_fmt(path, sizeof(path), "/proc/self/ns/%s", kinds[i].name);
		struct stat a, b;
		if (fstat(fds[i], &a) == 0 && stat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	return 0;
}

/* The init's root directory, or -errno. */
static int open_root(pid_t pid)
{
	char path[64];
	lr_fmt(path, sizeof(path), "/proc/%d/root", (int)pid);
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static bool setgroups_allowed(void)
{
	char buf[16] = "";
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) < 0)
			buf[0] = 0;
		close(fd);
	}
	return strncmp(buf, "allow", 5) == 0;
}

/* In the container (X2): the command, as `run` would start it.
 * chrooted: the container's root is not its mount namespace's (rootfs.c
 * fell back to chroot), which CAP_SYS_CHROOT would let it leave: the
 * command goes without, as the container's own did (ctr_child.c). */
static void __attribute__((noreturn))
run_command(const struct exec_opts *o, const struct lr_state *st, int sock,
	    bool chrooted)
{
	char err[1024];
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct ctr_user u;
	if (root < 0 ||
	    user_resolve(root, o->user ? o->user : st->user, &u, err,
			 sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	struct env env = { 0 };
	for (size_t i = 0; i < st->env.n; i++)
		if (env_set(&env, st->env.v[i]) < 0)
			lf_die(LR_EXIT_SETUP, "out of memory");
	for (size_t i = 0; i < o->nenv_file; i++)
		if (env_set(&env, o->env_file[i]) < 0)
			lf_die(LR_EXIT_SETUP, "out of memory");
	for (size_t i = 0; i < o->nenv; i++)
		if (env_set(&env, o->env[i]) < 0)
			lf_die(LR_EXIT_SETUP, "-e '%s': expected KEY=VALUE or KEY", o->env[i]);
	if (env_default(&env, "PATH", ENV_DEFAULT_PATH) < 0 ||
	    env_default(&env, "HOSTNAME", st->hostname ? st->hostname : st->name) < 0 ||
	    env_default(&env, "HOME", u.home) < 0 ||
	    (o->tty && env_default(&env, "TERM", "xterm") < 0))
		lf_die(LR_EXIT_SETUP, "out of memory");
	int slave = -1;
	if (o->tty) {
		int master = devfs_open_pty(root, &slave, err, sizeof(err));
		if (master < 0)
			lf_die(LR_EXIT_SETUP, "%s", err);
		struct winsize ws;
		if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0)
			ioctl(master, TIOCSWINSZ, &ws);
		if (sync_send(sock, SYNC_PTY, 0, master) < 0)
			_exit(LR_EXIT_SETUP);
		close(master);
	}
	close(root);
	close(sock);
	uint64_t caps;
	if (caps_from_names(&st->caps, &caps) < 0)
		lf_die(LR_EXIT_SETUP, "the container's capability list is damaged");
	if (chrooted)
		caps &= ~(1ULL << CAP_SYS_CHROOT);
	const char *cwd = o->workdir ? o->workdir
				     : st->workdir ? st->workdir : "/";
	struct payload p = {
		.argv = o->argv,
		.envp = env.v,
		.cwd = cwd,
		.uid = u.uid,
		.gid = u.gid,
		.groups = u.groups,
		.ngroups = u.ngroups,
		.setgroups_allowed = setgroups_allowed(),
		.caps = caps,
		.no_new_privs = st->no_new_privs,
		.seccomp = st->seccomp,
		.seccomp_insns = o->seccomp.insns,
		.seccomp_len = o->seccomp.len,
		.ulimits = st->ulimits.v,
		.nulimits = st->ulimits.n,
		.tty_slave = slave,
		.keep_stdin = o->interactive,
		.out_fd = -1,
		.trampoline_fd = sealed_init_create(),
		/* Its stderr is still its caller's (or the terminal the
		 * caller shows). */
		.setup_report_fd = -1,
	};
	if (p.trampoline_fd < 0)
		lf_die(LR_EXIT_SETUP, "cannot make the init's sealed copy: %s",
		     strerror(-p.trampoline_fd));
	payload_exec(&p);
}

/*
 * Two processes report on one socket: X the command's pid once it is
 * cloned (SYNC_STARTED), the command itself its terminal's master before
 * it execs (SYNC_PTY, with -t).  They race, so either may come first.
 * Fails only without SYNC_STARTED; a command that fails before sending its
 * terminal has said why, and *master stays -1 while its status is awaited.
 */
static int recv_started(int sock, bool tty, int *cmd, int *master)
{
	bool started = false, have_pty = !tty;
	*master = -1;
	while (!started || !have_pty) {
		enum sync_msg msg;
		int value, fd;
		int r = sync_recv_any(sock, &msg, &value, &fd);
		if (r < 0)
			return started ? 0 : r;
		if (msg == SYNC_STARTED && !started) {
			started = true;
			*cmd = value;
		} else if (msg == SYNC_PTY && !have_pty && fd >= 0) {
			have_pty = true;
			*master = fd;
			fd = -1;
		} else {
			r = -EPROTO;
		}
		if (fd >= 0)
			close(fd);
		if (r < 0) {
			/* A stray record: once started, the command runs on
			 * (its status tells); before, this start failed. */
			if (started)
				return 0;
			if (*master >= 0)
				close(*master);
			*master = -1;
			return r;
		}
	}
	return 0;
}

/* Enters the container's root, root_fd (its init's, opened before the
 * mount namespace was joined): joining that namespace gives its root,
 * which is the host's where the container's is a chroot in it.
 * Whether it was one. */
static bool enter_root(int root_fd)
{
	struct stat ns_root, ctr_root;
	if (stat("/", &ns_root) < 0 || fstat(root_fd, &ctr_root) < 0 ||
	    fchdir(root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		lf_die(LR_EXIT_SETUP, "cannot enter the container's root: %s",
		       strerror(errno));
	return ns_root.st_dev != ctr_root.st_dev ||
	       ns_root.st_ino != ctr_root.st_ino;
}

/* X: joins, then clones the command as the launcher's child. */
static void __attribute__((noreturn))
join(const struct exec_opts *o, const struct lr_state *st, int *fds,
     int root_fd, int sock)
{
	char err[512];
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (st->cgroups.n &&
	    cgroup_enter(st->cgroups.v, st->cgroups.n, getpid(), err,
			 sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	for (size_t i = 0; i < NKINDS; i++)
		if (fds[i] >= 0 && setns(fds[i], kinds[i].type) < 0)
			lf_die(LR_EXIT_SETUP, "cannot join the container's %s namespace: %s",
			     kinds[i].name, strerror(errno));
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		lf_die(LR_EXIT_SETUP, "cannot become root in the container: %s", strerror(errno));
	bool chrooted = enter_root(root_fd);
	close(root_fd);
	pid_t p = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL,
				 NULL, 0);
	if (p == 0)
		run_command(o, st, sock, chrooted);
	if (p < 0)
		lf_die(LR_EXIT_SETUP, "cannot start the command: %s", strerror(errno));
	/* Tests only: report late, so that the command's terminal comes
	 * first (recv_started takes either order). */
	const char *delay = getenv("LAYERRUN_TEST_EXEC_REPORT_DELAY_MS");
	if (delay)
		usleep((useconds_t)atoi(delay) * 1000u);
	_exit(sync_send(sock, SYNC_STARTED, p, -1) < 0 ? LR_EXIT_SETUP : 0);
}

static void exec_opts_free(struct exec_opts *o)
{
	free(o->env); /* its strings are argv's */
	for (size_t i = 0; i < o->nenv_file; i++)
		free(o->env_file[i]);
	free(o->env_file);
	seccomp_prog_free(&o->seccomp);
}

static int parse(int argc, char **argv, struct exec_opts *o)
{
	static const struct option opts[] = {
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, 'E' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	memset(o, 0, sizeof(*o));
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+ite:w:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->interactive = true;
			break;
		case 't':
			o->tty = true;
			break;
		case 'e': {
			char **nv = realloc(o->env, (o->nenv + 1) * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			o->env = nv;
			o->env[o->nenv++] = optarg;
			break;
		}
		case 'E': {
			char err[PATH_MAX + 128];
			int r = env_file_read(optarg, &o->env_file,
					      &o->nenv_file, err, sizeof(err));
			if (r < 0) {
				lf_err("exec: %s", err);
				return r;
			}
			break;
		}
		case 'w':
			if (optarg[0] != '/') {
				lf_err("exec: -w needs an absolute path");
				return -EINVAL;
			}
			o->workdir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'h':
			return 1;
		case ':':
			lf_err("exec: option '%s' needs a value",
			       argv[optind - 1]);
			return -EINVAL;
		default:
			lf_err("exec: unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (argc - optind < 2) {
		lf_err("usage: layerrun exec [-i] [-t] [-e K=V] [--env-file F] "
		       "[-w DIR] [-u USER] NAME CMD [ARG...]");
		return -EINVAL;
	}
	o->name = argv[optind];
	o->argv = argv + optind + 1;
	return 0;
}

int cmd_exec(const struct global_opts *g, int argc, char **argv)
{
	struct exec_opts o;
	int r = parse(argc, argv, &o);
	if (r != 0) {
		exec_opts_free(&o);
		if (r == 1)
			usage_command("exec");
		return r == 1 ? 0 : LR_EXIT_SETUP;
	}
	struct ctr_ref ref;
	if (ctr_open(g, o.name, &ref) < 0) {
		exec_opts_free(&o);
		return LR_EXIT_SETUP;
	}
	int status = LR_EXIT_SETUP;
	int fds[NKINDS], root_fd = -1;
	for (size_t i = 0; i < NKINDS; i++)
		fds[i] = -1;
	if (!ctr_running(&ref.st)) {
		lf_err("container %s is not running", o.name);
		goto out;
	}
	if (ctr_files_lost(&ref.st)) {
		lf_err("container %s has lost its files: its layerfs (pid %d) "
		       "has ended; remove it with layerrun rm -f",
		       o.name, (int)ref.st.daemon_pid);
		goto out;
	}
	/* Read here, while the container's directory is at hand. */
	r = ref.st.seccomp ? seccomp_prog_load(ref.dirfd, &o.seccomp) : -ENOENT;
	if (r < 0 && r != -ENOENT) {
		lf_err("container %s: its seccomp program: %s", o.name,
		       strerror(-r));
		goto out;
	}
	if ((r = open_namespaces(ref.st.pid, fds)) < 0 ||
	    (root_fd = open_root(ref.st.pid)) < 0 ||
	    !proc_is(ref.st.pid, ref.st.pid_start)) {
		if (r >= 0 && root_fd < 0)
			r = root_fd;
		lf_err("cannot open the namespaces of container %s: %s", o.name,
		       r < 0 ? strerror(-r) : "it stopped");
		goto out;
	}
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		lf_err("socketpair: %s", strerror(errno));
		goto out;
	}
	sigset_t old;
	monitor_block_signals(&old);
	fflush(NULL);
	pid_t x = fork();
	if (x < 0) {
		lf_err("fork: %s", strerror(errno));
		goto out;
	}
	if (x == 0) {
		close(sp[0]);
		join(&o, &ref.st, fds, root_fd, sp[1]);
	}
	close(sp[1]);
	int cmd = -1, master = -1;
	r = recv_started(sp[0], o.tty, &cmd, &master);
	int xst;
	while (waitpid(x, &xst, 0) < 0 && errno == EINTR)
		;
	if (r < 0) {
		status = WIFEXITED(xst) && WEXITSTATUS(xst) ? WEXITSTATUS(xst)
							   : LR_EXIT_SETUP;
		if (WIFEXITED(xst) && WEXITSTATUS(xst) == 0)
			lf_err("the command's start was not reported: %s",
			       strerror(-r));
		close(sp[0]);
		goto out;
	}
	close(sp[0]);
	status = monitor_wait(cmd, master, o.interactive, NULL);
	if (master >= 0)
		close(master);
out:
	for (size_t i = 0; i < NKINDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (root_fd >= 0)
		close(root_fd);
	ctr_close(&ref);
	exec_opts_free(&o);
	return status;
}
