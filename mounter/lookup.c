#include "lookup.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lf_common.h"
#include "remove.h"
#include "runtime_dir.h"

int root_open(const struct global_opts *g, char **root, int *rootfd)
{
	char err[1024];
	int r = runtime_root_open(g->root, root, rootfd, err, sizeof(err));
	if (r < 0)
		lf_err("%s", err);
	return r;
}

int ctr_open_in(const char *root, int rootfd, const char *name,
		struct ctr_ref *ref, bool quiet_if_gone)
{
	memset(ref, 0, sizeof(*ref));
	ref->rootfd = -1;
	lr_state_init(&ref->st);
	ref->dirfd = state_dir_open(rootfd, name);
	if (ref->dirfd < 0) {
		if (!(quiet_if_gone && ref->dirfd == -ENOENT))
			lf_err("no container named '%s' in '%s'", name, root);
		return ref->dirfd;
	}
	char err[512];
	state_lock(ref->dirfd);
	int r = state_load(ref->dirfd, &ref->st, err, sizeof(err));
	bool removed = false;
	if (r == 0) {
		state_refresh(ref->dirfd, &ref->st);
		/* An --rm container found ended by state_refresh (the monitor
		 * that would have removed it was killed) goes now, as it
		 * would have then; one whose monitor recorded its exit
		 * failed to be removed, and waits for layerrun rm. */
		removed = ref->st.autoremove &&
			  strcmp(ref->st.status, "exited") == 0 &&
			  ref->st.exit_code < 0 &&
			  container_try_remove(rootfd, root, &ref->st) == 0;
	}
	state_unlock(ref->dirfd);
	if (removed) {
		if (!quiet_if_gone)
			lf_err("no container named '%s' in '%s'", name, root);
		close(ref->dirfd);
		ref->dirfd = -1;
		lr_state_free(&ref->st);
		return -ENOENT;
	}
	if (r < 0) {
		/* A directory without its state is on its way out: its
		 * removal takes the state file last but one. */
		if (!(quiet_if_gone && r == -ENOENT))
			lf_err("container %s: %s", name, err);
		close(ref->dirfd);
		ref->dirfd = -1;
	}
	return r;
}

int ctr_open(const struct global_opts *g, const char *name,
	     struct ctr_ref *ref)
{
	char *root;
	int rootfd;
	int r = root_open(g, &root, &rootfd);
	if (r < 0)
		return r;
	r = ctr_open_in(root, rootfd, name, ref, false);
	ref->root = root;
	ref->rootfd = rootfd;
	if (r < 0)
		ctr_close(ref);
	return r;
}

bool ctr_gone(const char *root, int rootfd, const char *name)
{
	struct ctr_ref ref;
	int r = ctr_open_in(root, rootfd, name, &ref, true);
	if (r == 0) {
		ref.root = NULL; /* the caller's */
		ref.rootfd = -1;
		ctr_close(&ref);
	}
	return r == -ENOENT;
}

void ctr_close(struct ctr_ref *ref)
{
	lr_state_free(&ref->st);
	if (ref->dirfd >= 0)
		close(ref->dirfd);
	if (ref->rootfd >= 0)
		close(ref->rootfd);
	free(ref->root);
	memset(ref, 0, sizeof(*ref));
	ref->dirfd = ref->rootfd = -1;
}

bool ctr_running(const struct lr_state *st)
{
	return strcmp(st->status, "running") == 0 && st->pid > 0 &&
	       proc_is(st->pid, st->pid_start);
}

bool ctr_files_lost(const struct lr_state *st)
{
	return st->daemon_pid > 0 && !proc_is(st->daemon_pid, st->daemon_start);
}

bool ctr_starting(const struct lr_state *st)
{
	return strcmp(st->status, "created") == 0 && st->monitor_pid > 0 &&
	       proc_is(st->monitor_pid, st->monitor_start);
}

int signal_parse(const char *s, int *sig)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s && !*end) {
		if (v <= 0 || v >= NSIG)
			return -EINVAL;
		*sig = (int)v;
		return 0;
	}
	const char *n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	/* Real-time signals as kill(1) names them: RTMIN, RTMIN+N, RTMAX,
	 * RTMAX-N. */
	if (strncasecmp(n, "RTMIN", 5) == 0 || strncasecmp(n, "RTMAX", 5) == 0) {
		bool min = strncasecmp(n, "RTMIN", 5) == 0;
		const char *off = n + 5;
		long k = 0;
		if (*off) {
			if (*off != (min ? '+' : '-') ||
			    !isdigit((unsigned char)off[1]))
				return -EINVAL;
			k = strtol(off + 1, &end, 10);
			if (*end || k > SIGRTMAX - SIGRTMIN)
				return -EINVAL;
		}
		long v2 = min ? SIGRTMIN + k : SIGRTMAX - k;
		if (v2 < SIGRTMIN || v2 > SIGRTMAX)
			return -EINVAL;
		*sig = (int)v2;
		return 0;
	}
	for (int i = 1; i < NSIG; i++) {
		const char *abbrev = sigabbrev_np(i);
		if (abbrev && strcasecmp(abbrev, n) == 0) {
			*sig = i;
			return 0;
		}
	}
	return -EINVAL;
}
