/*
 * layerrun commit NAME OUT: the container's upper layer as a new OCI
 * layer, by running `layertool export`.  A container of an image gives
 * a new image directory (the image's layers plus this one); a --lower
 * container gives a layer tarball.  layertool runs in a user namespace
 * with the container's id maps, so the owners it records are the
 * container's, not the host ids they are stored under.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "layerrun.h"
#include "lf_common.h"
#include "lookup.h"
#include "sibling_program.h"
#include "state.h"
#include "strfmt.h"
#include "userns.h"

/* In a forked child: joins the user namespace USERNS (the container's
 * init's), then flushes the file system of ROOT; exits with 0 or an
 * errno.  Not dumpable first, with nothing else open, as the launcher's
 * other joins (daemon.c): a container process with CAP_SYS_PTRACE in
 * that namespace must not reach a host-root process through ptrace or
 * its /proc entries. */
static void __attribute__((noreturn)) flush_joined(int userns, int root)
{
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	int lo = userns < root ? userns : root, hi = userns ^ root ^ lo;
	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi - lo > 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0U, 0);
	if (setns(userns, CLONE_NEWUSER) < 0)
		_exit(errno);
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0)
		_exit(errno);
	_exit(0);
}

/* A running container's dirty pages reach layerfs, and so the upper
 * layer, before it is read: a syncfs of its root.  Its /proc entry is
 * opened once (a pid used again meanwhile cannot slip in).  A rootless
 * container's root is a FUSE mount, which answers no process outside
 * its mounter's user namespace: then a fork of ours joins the
 * container's (the launcher owns it). */
static void sync_running(const struct lr_state *st)
{
	char path[64];
	lr_fmt(path, sizeof(path), "/proc/%d", (int)st->pid);
	int dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int root = dir < 0 ? -1
			   : openat(dir, "root", O_PATH | O_DIRECTORY |
							 O_CLOEXEC);
	int e = root < 0 ? errno : 0;
	if (root >= 0 && !proc_is(st->pid, st->pid_start))
		e = ESRCH;
	int fd = e ? -1
		   : openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!e && fd >= 0) {
		if (syncfs(fd) < 0)
			e = errno;
		close(fd);
	} else if (!e && errno != EACCES) {
		e = errno;
	} else if (!e) {
		int userns = openat(dir, "ns/user", O_RDONLY | O_CLOEXEC);
		pid_t p = userns < 0 ? -1 : fork();
		if (p == 0)
			flush_joined(userns, root);
		int ws = 0;
		if (p < 0)
			e = errno;
		else if (waitpid(p, &ws, 0) != p)
			e = errno;
		else
			e = WIFEXITED(ws) ? WEXITSTATUS(ws) : EINTR;
		if (userns >= 0)
			close(userns);
	}
	if (root >= 0)
		close(root);
	if (dir >= 0)
		close(dir);
	if (e)
		lf_warn("cannot flush the running container's writes: %s",
			strerror(e));
}

int cmd_commit(const struct global_opts *g, int argc, char **argv)
{
	const char *message = NULL, *author = NULL;
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' },
		{ "author", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+m:a:h", opts, NULL)) != -1) {
		if (c == 'm') {
			message = optarg;
		} else if (c == 'a') {
			author = optarg;
		} else if (c == 'h') {
			usage_command("commit");
			return 0;
		} else {
			lf_err("commit: unknown option or missing value '%s'",
			       argv[optind - 1]);
			return LR_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		lf_err("usage: layerrun commit [-m MESSAGE] [--author A] NAME "
		       "OUT");
		return LR_EXIT_USAGE;
	}
	const char *name = argv[optind], *out = argv[optind + 1];
	char tool[PATH_MAX];
	if (lr_find_program("layertool", tool, sizeof(tool)) < 0) {
		lf_err("layertool was not found next to layerrun or in PATH");
		return LR_EXIT_FAIL;
	}
	struct ctr_ref ref;
	if (ctr_open(g, name, &ref) < 0)
		return LR_EXIT_FAIL;
	const struct lr_state *st = &ref.st;
	/* The init layer first: a metadata-only copy of one of its files
	 * finds its data there. */
	size_t len = strlen(st->initdir) + 1;
	for (size_t i = 0; i < st->lower.n; i++)
		len += strlen(st->lower.v[i]) + 1;
	char *lower = malloc(len + 1);
	if (!lower) {
		ctr_close(&ref);
		return LR_EXIT_FAIL;
	}
	strcpy(lower, st->initdir);
	for (size_t i = 0; i < st->lower.n; i++) {
		if (strchr(st->lower.v[i], ':')) {
			lf_err("layer '%s' has a ':' in its path, which "
			       "layertool's --lower cannot take",
			       st->lower.v[i]);
			free(lower);
			ctr_close(&ref);
			return LR_EXIT_FAIL;
		}
		strcat(lower, ":");
		strcat(lower, st->lower.v[i]);
	}
	char *args[20];
	int a = 0;
	args[a++] = (char *)"layertool";
	args[a++] = (char *)"export";
	if (st->image) {
		args[a++] = (char *)"--image";
		args[a++] = st->image;
		args[a++] = (char *)"--out";
		args[a++] = (char *)out;
	}
	args[a++] = (char *)"--lower";
	args[a++] = lower;
	/* Lower names of hard links copied up through the index. */
	if (st->work) {
		args[a++] = (char *)"--work";
		args[a++] = st->work;
	}
	if (message && st->image) {
		args[a++] = (char *)"--message";
		args[a++] = (char *)message;
	}
	if (author && st->image) {
		args[a++] = (char *)"--author";
		args[a++] = (char *)author;
	}
	args[a++] = st->upper;
	if (!st->image)
		args[a++] = (char *)out;
	args[a] = NULL;

	if (ctr_running(st) && ctr_files_lost(st))
		lf_warn("container %s's layerfs (pid %d) has ended: what it "
			"wrote to the upper layer is committed, writes it had "
			"not made yet are lost",
			name, (int)st->daemon_pid);
	else if (ctr_running(st))
		sync_running(st);
	struct idmap_plan plan;
	char err[1024];
	if (userns_from_state(st, &plan) < 0) {
		lf_err("container %s's id maps are missing from its state",
		       name);
		free(lower);
		ctr_close(&ref);
		return LR_EXIT_FAIL;
	}
	if (userns_enter_like(&plan, err, sizeof(err)) < 0) {
		lf_err("%s", err);
		free(lower);
		ctr_close(&ref);
		return LR_EXIT_FAIL;
	}
	/* Relative OUT paths stay relative to where we were called. */
	execv(tool, args);
	lf_err("cannot run '%s': %s", tool, strerror(errno));
	return LR_EXIT_FAIL;
}
