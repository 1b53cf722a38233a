/*
 * A container being started: everything the launcher resolved before
 * the clone (the child is a copy of the launcher and reads it from its
 * own memory), and what the launcher learns as the start proceeds.
 *
 * Processes of a run:
 *
 *   launcher (L) ──clone(user, mount, pid, uts, ipc, net)──> child (C)
 *      │                                                 PID 1 to be
 *      └─fork─> layerfs (D, layerfs_main() without an exec): for root,
 *               serves the mount L made; otherwise setns into C's user
 *               and first mount namespace, mounts, daemonizes
 *
 * C hands the mount over to a mount namespace of its own (open_tree
 * clone, lazy unmount, unshare, move_mount), so the file system is
 * mounted in the container's namespace only and D, which stays in
 * the user namespace but outside the container's pid namespace and
 * cgroup, sees its /dev/fuse fail and exits when the container is gone.
 */
#ifndef LR_CONTAINER_H
#define LR_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include "cgroup.h"
#include "env.h"
#include "image.h"
#include "layerrun.h"
#include "run_opts.h"
#include "seccomp_profile.h"
#include "userns.h"

struct container {
	const struct run_opts *o;
	char name[LR_NAME_MAX + 1];
	char *root;   /* the state root */
	int rootfd;
	char *dir;    /* ROOT/NAME */
	int dirfd;
	char *upper, *work, *initdir, *mnt, *log, *stats;
	bool upper_owned;
	bool upper_made;   /* a --upper DIR this start made: gone on failure */

	struct image img;
	bool have_image;
	char **layers; /* top first; points into img or o */
	size_t nlayers;
	bool override_ownership;

	struct idmap_plan idmap;
	struct idmap_plan joined; /* JOINED: the other container's maps */
	int clone_flags;    /* the namespaces made new */
	int join_user;      /* fds of namespaces joined, -1 when not */
	int join_net, join_ipc, join_uts;

	struct cgroup_set cg;
	char **argv;        /* the command: entrypoint + cmd */
	struct env env;     /* image Env and -e, before the defaults */
	char *user;         /* -u or the image's User, NULL: root */
	char *cwd;          /* -w or the image's WorkingDir, NULL: "/" */
	char *hostname;     /* NULL when the UTS namespace is not ours */
	uint64_t caps;
	bool no_new_privs;
	bool seccomp;       /* false: --security-opt seccomp=unconfined */
	struct seccomp_prog seccomp_prog; /* seccomp=PROFILE compiled, or empty */
	int log_fd;         /* detached: the log file, else -1 */

	pid_t launcher;     /* the process that cloned C (for pdeathsig) */
	int sync_child;     /* C's end of the socket pair */
	int sync_parent;

	/* learned while starting */
	pid_t init_pid;     /* C's host pid */
	bool in_v2_cgroup;  /* cloned into cg.dirs[0] (CLONE_INTO_CGROUP) */
	pid_t daemon_pid;
	unsigned long long daemon_start;
	/* Called once the daemon is forked, to record it where layerrun rm
	 * finds it should the launcher be killed before the container
	 * runs (the daemon of a user namespace holds its mount itself, and
	 * would serve it for ever); NULL: nothing to record. */
	void (*daemon_forked)(struct container *c, void *arg);
	void *daemon_forked_arg;
	int daemon_ready;   /* read end of layerfs's ready pipe, or -1 */
	int mount_fd;       /* the detached mount for the child, or -1 */
	int pty_master;
	struct winsize ws;
	bool have_ws;
};

/* The child's side: builds the container and becomes its init.  Never
 * returns; exits 125 after one line on stderr when something fails. */
void container_child(struct container *c) __attribute__((noreturn));

/*
 * The launcher's side: clones the child, writes its maps, puts it in
 * its cgroups, starts layerfs and waits until the command runs.  On
 * failure returns the status to exit with (125, or the child's own)
 * after the reason was printed; 0 on success.
 */
int container_spawn(struct container *c);

#endif
