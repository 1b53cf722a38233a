#include "remove.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "lf_common.h"
#include "rmtree.h"
#include "state.h"
#include "userns.h"
#include "strfmt.h"

static void stop_daemon(const struct lr_state *st)
{
	if (st->daemon_pid <= 0)
		return;
	/* It exits by itself once the container's mount namespace is gone;
	 * give it a moment, then end it: nothing is mounted any more. */
	for (int i = 0; i < 500 && proc_is(st->daemon_pid, st->daemon_start);
	     i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (proc_is(st->daemon_pid, st->daemon_start))
		kill(st->daemon_pid, SIGKILL);
}

/* Removes the paths, from a user namespace like the container's when
 * its files belong to ids we do not own on the host. */
static int remove_paths(const struct lr_state *st, int rootfd,
			const char *name, const char *extra)
{
	struct idmap_plan plan;
	bool in_ns = userns_from_state(st, &plan) == 0 &&
		     plan.mode == USERNS_SUBID;
	pid_t c = in_ns ? fork() : 0;
	if (c < 0)
		return -errno;
	if (c == 0) {
		char err[512];
		if (in_ns && userns_enter_like(&plan, err, sizeof(err)) < 0) {
			lf_err("%s", err);
			_exit(1);
		}
		int r = 0;
		if (extra)
			r = rmtree_at(AT_FDCWD, extra);
		int r2 = rmtree_at(rootfd, name);
		if (!in_ns)
			return r < 0 ? r : r2;
		_exit(r < 0 || r2 < 0 ? 1 : 0);
	}
	int status;
	while (waitpid(c, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

int container_remove(int rootfd, const char *root, struct lr_state *st,
		     bool keep, char **kept_path)
{
	*kept_path = NULL;
	stop_daemon(st);
	for (size_t i = 0; i < st->cgroups.n; i++)
		cgroup_remove_dir(st->cgroups.v[i]);
	char name[80];
	lr_fmt(name, sizeof(name), "%s", st->name);
	if (keep && st->upper_owned) {
		char kept[96];
		lr_fmt(kept, sizeof(kept), "%s.upper", name);
		char from[96];
		lr_fmt(from, sizeof(from), "%s/upper", name);
		if (renameat(rootfd, from, rootfd, kept) < 0) {
			lf_err("cannot keep the upper layer as '%s/%s': %s", root,
			       kept, strerror(errno));
			return -errno;
		}
		if (asprintf(kept_path, "%s/%s", root, kept) < 0)
			*kept_path = NULL;
	}
	/* A work directory beside a user's --upper is ours too. */
	const char *extra = NULL;
	size_t rl = strlen(root);
	if (st->work && !(strncmp(st->work, root, rl) == 0 &&
			  st->work[rl] == '/'))
		extra = st->work;
	/* A user's --upper is never removed: keeping it is why it was
	 * given; a default one goes unless kept. */
	int r = remove_paths(st, rootfd, name, extra);
	if (r < 0)
		lf_err("cannot remove all of container %s's files in '%s/%s'",
		       name, root, name);
	return r;
}
