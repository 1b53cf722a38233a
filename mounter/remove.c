#include "remove.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "lf_common.h"
#include "rmtree.h"
#include "state.h"
#include "userns.h"
#include "userns_keeper.h"
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

/* ROOTFD/NAME's entries but its state file, then, all gone, the state
 * and the directory: a removal that stops halfway keeps the state, so
 * that layerrun rm can finish it. */
static int remove_container_dir(int rootfd, const char *name)
{
	int fd LF_AUTOCLOSE = openat(rootfd, name, O_RDONLY | O_DIRECTORY |
						     O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int r = lf_rmtree_contents(fd, STATE_FILE);
	if (r == 0 && unlinkat(fd, STATE_FILE, 0) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && unlinkat(rootfd, name, AT_REMOVEDIR) < 0 &&
	    errno != ENOENT)
		r = -errno;
	return r;
}

static int remove_trees(int rootfd, const char *name, const char *extra)
{
	int r = extra ? lf_rmtree_at(AT_FDCWD, extra) : 0;
	int r2 = remove_container_dir(rootfd, name);
	return r < 0 ? r : r2;
}

/*
 * Removes the paths: as ourselves first, which is enough when every file
 * belongs to ids we own on the host (the container's root is us); else,
 * for what is left, from a user namespace where the container's other
 * ids are ours too: the kept one when it runs with the same maps
 * (userns_keeper.h), or else a new one like the container's.  Making a
 * new one costs the two setuid helpers, so a container whose files are
 * all ours goes without (and a start that failed because the helpers
 * do, leaves nothing).
 */
static int remove_paths(const struct lr_state *st, int rootfd,
			const char *name, const char *extra)
{
	int r = remove_trees(rootfd, name, extra);
	if (r == 0)
		return 0;
	struct idmap_plan plan;
	if (userns_from_state(st, &plan) < 0 || plan.mode != USERNS_SUBID)
		return r;
	char err[512];
	int kept = plan.helper ? userns_keeper_join(rootfd, &plan, false, err,
						    sizeof(err))
			       : -ENOENT;
	pid_t c = fork();
	if (c < 0) {
		int e = errno;
		if (kept >= 0)
			close(kept);
		return -e;
	}
	if (c == 0) {
		if (kept >= 0 ? setns(kept, CLONE_NEWUSER) < 0
			      : userns_enter_like(&plan, err, sizeof(err)) < 0) {
			lf_err("%s", kept >= 0 ? strerror(errno) : err);
			_exit(1);
		}
		_exit(remove_trees(rootfd, name, extra) < 0 ? 1 : 0);
	}
	if (kept >= 0)
		close(kept);
	int status;
	while (waitpid(c, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

static int remove_container(int rootfd, const char *root, struct lr_state *st,
			    bool keep, char **kept_path, bool report)
{
	*kept_path = NULL;
	/* Before anything is stopped: NAME.kept may be a container an
	 * older layerrun let take that name, whose upper layer would be
	 * replaced, and go with its rm. */
	char taken[96];
	lr_fmt(taken, sizeof(taken), "%s.kept/" STATE_FILE, st->name);
	if (keep && st->upper_owned &&
	    faccessat(rootfd, taken, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		lf_err("cannot keep the upper layer in '%s/%s.kept': that is "
		       "container %s.kept's directory",
		       root, st->name, st->name);
		return -EEXIST;
	}
	/* Its processes first: one left (--pid host, an exec's) would
	 * hold the mount, and the daemon, for the full wait below.  One
	 * that waits on an answer of a daemon that is stuck cannot die
	 * before that daemon does: then the daemon goes first. */
	int r = state_remove_cgroups(st);
	if (r == -EBUSY) {
		stop_daemon(st);
		r = state_remove_cgroups(st);
	}
	if (r == -EBUSY) {
		if (report)
			lf_err("container %s still has processes that would "
			       "not end: try again",
			       st->name);
		return -EBUSY;
	}
	stop_daemon(st);
	char name[80];
	lr_fmt(name, sizeof(name), "%s", st->name);
	if (keep && st->upper_owned) {
		/* In a directory of its own that only we may enter: the
		 * upper layer's root has the mode of the container's "/",
		 * and a root container's set-user-id files in it must not
		 * be reachable by the host's other users (the state
		 * directory kept them out until now). */
		char keepdir[96], kept[112];
		lr_fmt(keepdir, sizeof(keepdir), "%s.kept", name);
		lr_fmt(kept, sizeof(kept), "%s/upper", keepdir);
		char from[96];
		lr_fmt(from, sizeof(from), "%s/upper", name);
		if ((mkdirat(rootfd, keepdir, 0700) < 0 && errno != EEXIST) ||
		    renameat(rootfd, from, rootfd, kept) < 0) {
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
	r = remove_paths(st, rootfd, name, extra);
	if (r < 0 && report)
		lf_err("cannot remove all of container %s's files in '%s/%s': %s",
		       name, root, name, strerror(-r));
	return r;
}

int container_remove(int rootfd, const char *root, struct lr_state *st,
		     bool keep, char **kept_path)
{
	return remove_container(rootfd, root, st, keep, kept_path, true);
}

int container_try_remove(int rootfd, const char *root, struct lr_state *st)
{
	char *kept = NULL;
	int r = remove_container(rootfd, root, st, false, &kept, false);
	free(kept);
	return r;
}
