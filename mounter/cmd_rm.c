/* layerrun rm [-f] [--keep] NAME...: remove stopped containers. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "layerrun.h"
#include "lf_common.h"
#include "lookup.h"
#include "remove.h"

static void kill_if(pid_t pid, unsigned long long start)
{
	int pfd = pid > 0 ? pidfd_open(pid, 0) : -1;
	if (pfd >= 0 && proc_is(pid, start))
		pidfd_send_signal(pfd, SIGKILL, NULL, 0);
	if (pfd >= 0)
		close(pfd);
}

/* Kills a running container and waits until its monitor recorded the
 * exit (or, without a monitor, until its init is gone).  One still
 * starting is stopped by killing its launcher: what it leaves, state
 * and all, is then the removal's. */
static void stop(struct ctr_ref *ref, bool starting)
{
	kill_if(ref->st.pid, ref->st.pid_start);
	if (starting)
		kill_if(ref->st.monitor_pid, ref->st.monitor_start);
	for (int i = 0; i < 1000; i++) {
		if (!proc_is(ref->st.pid, ref->st.pid_start) &&
		    !proc_is(ref->st.monitor_pid, ref->st.monitor_start))
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static int remove_one(const struct global_opts *g, const char *name,
		      bool force, bool keep)
{
	struct ctr_ref ref;
	if (ctr_open(g, name, &ref) < 0)
		return -ENOENT;
	bool starting = ctr_starting(&ref.st);
	if (ctr_running(&ref.st) || starting) {
		if (!force) {
			lf_err("container %s is %s: stop it first "
			       "(layerrun kill %s) or use rm -f",
			       name, starting ? "starting" : "running", name);
			ctr_close(&ref);
			return -EBUSY;
		}
		stop(&ref, starting);
		/* Read the state again: the monitor may have removed it
		 * (--rm) or recorded the exit. */
		char *root = ref.root;
		int rootfd = ref.rootfd;
		ref.root = NULL;
		ref.rootfd = -1;
		ctr_close(&ref);
		int r = ctr_open_in(root, rootfd, name, &ref, true);
		ref.root = root;
		ref.rootfd = rootfd;
		if (r < 0) {
			ctr_close(&ref);
			return r == -ENOENT ? 0 : r;
		}
	}
	char *kept = NULL;
	state_lock(ref.dirfd);
	int r = container_remove(ref.rootfd, ref.root, &ref.st, keep, &kept);
	state_unlock(ref.dirfd);
	if (kept)
		printf("%s\n", kept);
	free(kept);
	ctr_close(&ref);
	return r;
}

int cmd_rm(const struct global_opts *g, int argc, char **argv)
{
	bool force = false, keep = false;
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+fkh", opts, NULL)) != -1) {
		if (c == 'f') {
			force = true;
		} else if (c == 'k') {
			keep = true;
		} else if (c == 'h') {
			usage_command("rm");
			return 0;
		} else {
			lf_err("rm: unknown option '%s'", argv[optind - 1]);
			return LR_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		lf_err("usage: layerrun rm [-f] [--keep] NAME...");
		return LR_EXIT_USAGE;
	}
	int status = 0;
	for (int i = optind; i < argc; i++)
		if (remove_one(g, argv[i], force, keep) < 0)
			status = LR_EXIT_FAIL;
	return status;
}
