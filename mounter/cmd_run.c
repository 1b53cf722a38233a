/*
 * layerrun run: prepare, start, wait (or detach behind a monitor),
 * record the exit, clean up.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "container.h"
#include "daemon.h"
#include "lf_common.h"
#include "monitor.h"
#include "remove.h"
#include "run_prepare.h"
#include "state.h"

static int save_state(struct container *c, struct lr_state *st)
{
	state_lock(c->dirfd);
	int r = state_save(c->dirfd, st);
	state_unlock(c->dirfd);
	if (r < 0)
		lf_warn("cannot write the state of %s: %s", c->name,
			strerror(-r));
	return r;
}

static void record_daemon(struct container *c, void *arg)
{
	struct lr_state *st = arg;
	st->daemon_pid = c->daemon_pid;
	st->daemon_start = c->daemon_start;
	save_state(c, st);
}

static void record_exit(struct container *c, struct lr_state *st, int status)
{
	free(st->status);
	st->status = strdup("exited");
	st->exit_code = status;
	st->finished = (long long)time(NULL);
	state_remove_cgroups(st);
	if (st->status)
		save_state(c, st);
}

/* In the detached monitor: the caller's descriptors past stdio (a pipe
 * the caller's caller reads to its end, a lock, make's jobserver) are
 * not its to hold for the container's whole life.  Only FD, the pipe
 * that tells the caller the container runs, stays: as fd 3. */
static int keep_only_notify(int fd)
{
	if (fd != 3) { /* fd > 3: stdio is open (stdio_open) */
		if (dup3(fd, 3, O_CLOEXEC) < 0)
			return fd; /* keep it where it is, and the rest */
		close(fd);
	}
	if (syscall(SYS_close_range, 4, ~0u, 0) < 0) {
		/* Before Linux 5.9: one by one, up to the limit. */
		long max = sysconf(_SC_OPEN_MAX);
		for (long i = 4; i < (max > 0 && max < 65536 ? max : 65536);
		     i++)
			close((int)i);
	}
	return 3;
}

/* Opens /dev/null on whichever of stdin, stdout and stderr the caller
 * left closed: else the first descriptors opened here would take their
 * numbers, and a printf or an error line would be written into them. */
static void stdio_open(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 &&
		    open("/dev/null", O_RDWR) < 0) /* takes the lowest: fd */
			return;
}

/* -d: the caller returns once the container runs; this process stays
 * as its monitor.  Returns -1 in the monitor, or the caller's status. */
static int detach(int *notify)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		lf_err("pipe: %s", strerror(errno));
		return LR_EXIT_SETUP;
	}
	fflush(NULL);
	pid_t m = fork();
	if (m < 0) {
		lf_err("fork: %s", strerror(errno));
		return LR_EXIT_SETUP;
	}
	if (m == 0) {
		close(p[0]);
		setsid();
		*notify = keep_only_notify(p[1]);
		return -1;
	}
	close(p[1]);
	char ok;
	ssize_t n = read(p[0], &ok, 1);
	close(p[0]);
	if (n == 1)
		return 0;
	int st;
	while (waitpid(m, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st)
						  : LR_EXIT_SETUP;
}

static void quiet_stdio(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return;
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	close(null);
}

/*
 * --rm: the container's files go.  With DAEMON_DYING (killed, not yet
 * reaped) a first try runs while it dies: usually all goes.  But a
 * system call the daemon was in when killed still completes: its
 * statistics file, which it writes into the container's directory as
 * soon as it sees the mount go (often before the kill), or a request's
 * file in the upper layer.  One that lands after the removal read that
 * directory leaves it not empty (seen in the kernel VM test, 1 run in
 * 8).  Once the daemon is reaped nothing more can land, and a second
 * try is the one that counts.
 */
static int remove_after(struct container *c, struct lr_state *st,
			pid_t daemon_dying)
{
	char *kept;
	state_lock(c->dirfd);
	int r = daemon_dying > 0
			? container_try_remove(c->rootfd, c->root, st)
			: -EAGAIN;
	if (daemon_dying > 0)
		monitor_reap(daemon_dying, 10000);
	if (r < 0) {
		r = container_remove(c->rootfd, c->root, st, false, &kept);
		free(kept);
	}
	state_unlock(c->dirfd);
	return r;
}

int cmd_run(const struct global_opts *g, int argc, char **argv)
{
	struct run_opts o;
	char err[1024];
	if (run_opts_parse(argc, argv, &o, err, sizeof(err)) < 0) {
		lf_err("%s", err);
		run_opts_free(&o);
		return LR_EXIT_SETUP;
	}
	if (o.help) {
		usage_command("run");
		run_opts_free(&o);
		return 0;
	}
	stdio_open();
	int notify = -1;
	if (o.detach) {
		int r = detach(&notify);
		if (r >= 0) {
			run_opts_free(&o);
			return r;
		}
	}
	int status = LR_EXIT_SETUP;
	struct pid_list before = { 0 }; /* our children before the start */
	struct lr_state st;
	lr_state_init(&st);
	struct container c;
	if (run_prepare(&c, &o, g->root) < 0) {
		container_free(&c);
		run_opts_free(&o);
		return LR_EXIT_SETUP;
	}
	if (container_to_state(&c, &st) < 0 || save_state(&c, &st) < 0) {
		lf_err("cannot record the container's state");
		goto setup_failed;
	}

	c.daemon_forked = record_daemon;
	c.daemon_forked_arg = &st;
	/* Orphans of the start are ours to reap; the children we had
	 * before are not the container's (monitor_end_adopted). */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	bool shared_pids = !(c.clone_flags & CLONE_NEWPID);
	if (shared_pids)
		monitor_children(&before);
	sigset_t old;
	monitor_block_signals(&old);
	if (o.tty && isatty(0) && ioctl(0, TIOCGWINSZ, &c.ws) == 0)
		c.have_ws = true;
	status = container_spawn(&c);
	if (status != 0)
		goto setup_failed;

	free(st.status);
	st.status = strdup("running");
	st.pid = c.init_pid;
	st.pid_start = proc_start_time(c.init_pid);
	st.monitor_pid = getpid();
	st.monitor_start = proc_start_time(getpid());
	st.daemon_pid = c.daemon_pid;
	st.daemon_start = c.daemon_start;
	save_state(&c, &st);
	if (notify >= 0) {
		printf("%s\n", c.name);
		fflush(stdout);
		quiet_stdio();
		if (write(notify, "1", 1) < 0) {
			/* the caller went away: keep monitoring */
		}
		close(notify);
	}

	status = monitor_wait(c.init_pid, c.pty_master, o.interactive,
			      &c.daemon_pid);
	/* What the container left running ends before the daemon is
	 * waited for: it would hold the mount, and the daemon, alive. */
	state_remove_cgroups(&st);
	/* In a pid namespace of its own the kernel ended them all with
	 * the init. */
	if (shared_pids)
		monitor_end_adopted(c.daemon_pid, &before);
	pid_list_free(&before);
	/* Wait for layerfs too: when run returns, every change is in the
	 * upper layer and the statistics are written.  Unless both are
	 * about to be removed: then nothing of layerfs's is worth waiting
	 * for (the kernel's last writes of dirty pages, its statistics),
	 * and it is ended at once, and reaped after a first removal: it
	 * dies on another CPU meanwhile (its open directories do not keep
	 * them from being removed; remove_after says what can). */
	bool discard = o.rm && c.upper_owned && c.daemon_pid > 0;
	if (discard) {
		kill(c.daemon_pid, SIGKILL);
		st.daemon_pid = 0; /* for remove_after: nothing to stop */
	} else if (!monitor_reap(c.daemon_pid, 10000)) {
		lf_warn("layerfs (pid %d) did not stop after the container",
			(int)c.daemon_pid);
	}
	/* A removed container's state goes with the rest: it is written
	 * only when something could not be removed, for layerrun rm. */
	if (!o.rm || remove_after(&c, &st, discard ? c.daemon_pid : 0) < 0)
		record_exit(&c, &st, status);
	lr_state_free(&st);
	container_free(&c);
	run_opts_free(&o);
	return status;

setup_failed:
	/* Nothing runs: leave nothing behind (a user's --upper stays). */
	daemon_abandon(&c);
	if (c.daemon_pid > 0) {
		/* Serving a mount no container will use.  In a user namespace
		 * it holds that mount's namespace itself, so it would never
		 * see the mount go: ask it to end. */
		kill(c.daemon_pid, SIGTERM);
		monitor_reap(c.daemon_pid, 5000);
	}
	if (!st.name && container_to_state(&c, &st) < 0)
		lr_state_init(&st);
	if (st.name) {
		st.daemon_pid = c.daemon_pid;
		st.daemon_start = c.daemon_start;
		remove_after(&c, &st, 0);
	}
	if (c.upper_made)
		rmdir(c.upper); /* only if nothing went in */
	pid_list_free(&before);
	lr_state_free(&st);
	container_free(&c);
	run_opts_free(&o);
	return status ? status : LR_EXIT_SETUP;
}
