/*
 * layerfs: a union filesystem in userspace.  This file turns the command
 * line into a mounted, running FUSE session (layerfs_main.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu_spare.h"
#include "creds.h"
#include "dcache.h"
#include "dev_spin.h"
#include "file.h"
#include "layerfs.h"
#include "layerfs_main.h"
#include "layers.h"
#include "lf_common.h"
#include "node.h"
#include "ops.h"
#include "session_loop.h"
#include "shared_fd.h"
#include "transport.h"
#include "uring.h"

static bool debug_log;

/* libfuse messages carry our prefix, like everything else we print; its
 * per-request trace (-d) goes out as it is. */
static void fuse_log_to_stderr(enum fuse_log_level level, const char *fmt,
			       va_list ap)
{
	if (level > FUSE_LOG_NOTICE) {
		if (debug_log)
			vfprintf(stderr, fmt, ap);
		return;
	}
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = 0;
	lf_err("%s", msg);
}

/* Descriptors inherited from the caller (a pipe of podman's, say) must
 * not stay open in the daemon: they would keep the caller waiting.  Kept:
 * a /dev/fd/N mountpoint (the fd of a mount made for us) and ready_fd. */
static void close_inherited_fds(const struct lfs_options *o)
{
	int keep[2], n = 0;
	int fd = lfs_premounted_fd(o->mountpoint);
	if (fd > 2)
		keep[n++] = fd;
	if (o->ready_fd > 2)
		keep[n++] = o->ready_fd;
	if (n == 2 && keep[0] > keep[1]) {
		fd = keep[0];
		keep[0] = keep[1];
		keep[1] = fd;
	}
	unsigned from = 3;
	for (int i = 0; i < n; i++) {
		if ((unsigned)keep[i] > from)
			syscall(SYS_close_range, from, keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0u, 0);
}

/*
 * ready_fd: the daemon stays the process its launcher started (which
 * waits on it directly: no fork, no exit of a parent to wait for) yet
 * detaches as fuse_daemonize() would, and says it is mounted with one
 * byte, once stderr has carried every error of the start.
 */
static int detach_in_place(int ready_fd)
{
	if (chdir("/") < 0)
		return -errno;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return -errno;
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	close(null);
	ssize_t w;
	while ((w = write(ready_fd, "1", 1)) < 0 && errno == EINTR)
		;
	close(ready_fd);
	return 0;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static uint32_t read_overflow_id(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned v = 65534;
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 65534;
		fclose(f);
	}
	return v;
}

static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	char *out;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

static int make_root(struct lfs *fs)
{
	struct stat st;
	if (fstat(fs->layers[0].fd, &st) < 0)
		return -errno;
	struct node *root =
		node_new(NULL, "", 0, S_IFDIR, lfs_compose_ino(fs, 0, st.st_ino));
	if (!root)
		return -ENOMEM;
	node_set_flag(root, N_ROOT);
	root->end = fs->nlayers;
	fs->root = root;
	return 0;
}

/* Mount options handed to the kernel. */
static char *fuse_mount_opts(struct lfs *fs)
{
	const struct lfs_options *o = fs->opt;
	char *s;
	const char *fsname = o->source ? o->source : "layerfs";
	bool allow_other = o->allow_other || geteuid() == 0;
	if (asprintf(&s,
		     "fsname=%s,subtype=layerfs,default_permissions%s%s%s%s%s",
		     fsname, allow_other ? ",allow_other" : "",
		     (!lfs_has_upper(fs) || o->read_only) ? ",ro" : "",
		     o->atime == LFS_ATIME_NOATIME ? ",noatime" : "",
		     o->fuse_opts ? "," : "",
		     o->fuse_opts ? o->fuse_opts : "") < 0)
		return NULL;
	return s;
}

/*
 * strictatime and nodiratime, which libfuse cannot pass: set on the new
 * mount (noatime went with the mount options, which fusermount3 takes
 * too).  Through a descriptor of the mount's root, checked to be one
 * (the path is looked up again: a directory swapped meanwhile must not
 * give the flags to another mount).  No request may reach this daemon
 * here, which serves none yet: statx asks the cached attributes only.
 * A mount made for us (/dev/fd/N) is its maker's to set; a daemon
 * mounting through fusermount3 may not change it: both say so, and the
 * mount works, with the kernel's relatime.
 */
static void set_mount_atime(const struct lfs_options *o)
{
	if (lfs_premounted_fd(o->mountpoint) >= 0) {
		if (o->atime != LFS_ATIME_RELATIME || o->nodiratime)
			lf_warn("access-time options: a mount made for "
				"layerfs takes them from its maker");
		return;
	}
	struct mount_attr attr = { 0 };
	if (o->atime == LFS_ATIME_STRICTATIME) {
		attr.attr_set |= MOUNT_ATTR_STRICTATIME;
		attr.attr_clr |= MOUNT_ATTR__ATIME;
	}
	if (o->nodiratime)
		attr.attr_set |= MOUNT_ATTR_NODIRATIME;
	if (!attr.attr_set)
		return;
	const char *what = o->atime == LFS_ATIME_STRICTATIME
				   ? (o->nodiratime ? "strictatime and "
						      "nodiratime"
						    : "strictatime")
				   : "nodiratime";
	int fd = open(o->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct statx stx;
	int e = 0;
	if (fd < 0 ||
	    statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE,
		  &stx) < 0)
		e = errno;
	else if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
		 !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ||
		 stx.stx_dev_major != 0)
		e = ESTALE; /* not a FUSE mount's root: not ours */
	else if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) <
		 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	if (e)
		lf_warn("cannot set %s on the mount: %s", what, strerror(e));
}

static int run(struct lfs_options *o)
{
	struct lfs fs;
	memset(&fs, 0, sizeof(fs));
	fs.opt = o;
	fs.upper = -1;
	pthread_rwlock_init(&fs.ns_lock, NULL);
	pthread_mutex_init(&fs.rename_mutex, NULL);
	dir_lock_init();
	dcache_set_budget((size_t)o->dircache_mib << 20);
	fs.timeout = o->timeout;
	fs.overflow_uid = read_overflow_id("/proc/sys/kernel/overflowuid");
	fs.overflow_gid = read_overflow_id("/proc/sys/kernel/overflowgid");

	int status = layers_open(&fs, o);
	if (status != 0) {
		layers_close(&fs);
		return status;
	}
	/* Without chown, ownership lives in xattrs (as fuse-overlayfs). */
	if (lfs_has_upper(&fs) && !fs.can_chown && o->xattr_permissions == 0 &&
	    fs.upper_xattr)
		o->xattr_permissions = 2;
	if (o->read_only && lfs_has_upper(&fs)) {
		/* "ro" with an upper layer: nothing may be written. */
		lf_warn("'ro' given: the upper layer will not be written");
	}
	if (lfs_stats_init(&fs.stats, fs.nlayers) < 0 ||
	    node_table_init(&fs) < 0 || make_root(&fs) < 0) {
		lf_err("out of memory");
		layers_close(&fs);
		return LFS_EXIT_RUNTIME;
	}

	char *mopts = fuse_mount_opts(&fs);
	char *fargv[8];
	int fargc = 0;
	fargv[fargc++] = (char *)"layerfs";
	fargv[fargc++] = (char *)"-o";
	fargv[fargc++] = mopts;
	if (o->debug) {
		/* fuse_session_new takes the debug flag as an option. */
		fargv[fargc++] = (char *)"-o";
		fargv[fargc++] = (char *)"debug";
	}
	fargv[fargc] = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(fargc, fargv);

	struct fuse_session *se =
		mopts ? fuse_session_new(&args, &lfs_ops, sizeof(lfs_ops), &fs)
		      : NULL;
	if (!se) {
		lf_err("cannot start the FUSE session");
		status = LFS_EXIT_MOUNT;
		goto out;
	}
	fs.se = se;
	/* Signals wait for the loop, which takes them (session_loop.h). */
	session_loop_block_signals();
	if (fuse_session_mount(se, o->mountpoint) != 0) {
		lf_err("cannot mount on '%s' (see the message above)",
		       o->mountpoint);
		status = LFS_EXIT_MOUNT;
		goto out_session;
	}
	set_mount_atime(o);
	/* Before INIT is read: the transport watches it (transport.h). */
	if (transport_install(se, &fs) != 0)
		lf_warn("FUSE passthrough and io_uring are not available");
	/* The mount exists now: only then tell the caller we are ready. */
	if (o->ready_fd >= 0 ? detach_in_place(o->ready_fd) != 0
			     : fuse_daemonize(o->foreground) != 0) {
		status = LFS_EXIT_RUNTIME;
		goto out_unmount;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = o->threads ? o->threads
				      : (unsigned)(ncpu > 0 ? ncpu : 1) * 4;
	int r = session_loop_run(se, &fs, threads);
	lfs_stats_saver_end();
	if (r != 0)
		status = LFS_EXIT_RUNTIME;
	/* When a signal ended the loop, the mount is still there: the
	 * rings' workers end before the unmount closes /dev/fuse, whose fd
	 * number they use (session_loop_run waited for its own workers). */
	uring_stop();
	fuse_session_unmount(se);
	/* Only now: a statistics file inside this very mount would wait on
	 * this daemon, whose workers are gone. */
	lfs_stats_saver_join();
	lfs_stats_save(&fs);
	goto out_rings;
out_unmount:
	fuse_session_unmount(se);
out_rings:
	uring_free();
	dev_spin_end();
	cpu_spare_end();
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	free(mopts);
	file_handles_close_all(&fs);
	shared_fd_close_all();
	node_table_destroy(&fs);
	if (fs.root)
		node_discard(fs.root);
	lfs_stats_free(&fs.stats);
	layers_close(&fs);
	return status;
}

int layerfs_main(int argc, char **argv)
{
	lf_set_progname("layerfs");
	struct lfs_options o;
	char err[512];
	if (lfs_options_parse(argc, argv, &o, err, sizeof(err)) < 0) {
		lf_err("%s", err);
		lfs_options_free(&o);
		return LFS_EXIT_USAGE;
	}
	if (o.show_help) {
		lfs_print_help("layerfs");
		lfs_options_free(&o);
		return 0;
	}
	if (o.show_version) {
		/* fuse_version() is major * 100 + minor (3.14: 314). */
		int fv = fuse_version();
		printf("layerfs %s (libfuse %d.%d)\n", LF_VERSION, fv / 100,
		       fv % 100);
		lfs_options_free(&o);
		return 0;
	}
	/* The daemon changes directory to / when it detaches (even with
	 * -f): the unmount at SIGTERM and the statistics file need paths
	 * that still mean the same then. */
	char **rel[] = { &o.mountpoint, &o.stats_file };
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if (!*rel[i])
			continue;
		char *abs = absolute(*rel[i]);
		if (!abs) {
			lf_err("cannot resolve '%s': %s", *rel[i],
			       strerror(errno));
			lfs_options_free(&o);
			return LFS_EXIT_USAGE;
		}
		free(*rel[i]);
		*rel[i] = abs;
	}
	debug_log = o.debug;
	fuse_set_log_func(fuse_log_to_stderr);
	/* Nodes are allocated by one worker and freed by another (FORGET):
	 * with more than one arena, a chunk goes back to the arena it came
	 * from, and a worker bound to another arena cannot reuse it, so a
	 * second walk of a big tree grew the daemon by a third (two arenas:
	 * +4.5 MiB over 100k nodes, one run in two).  One arena keeps it
	 * flat; glibc's per-thread caches keep contention low (the 8-process
	 * parallel walk of make bench was no slower). */
	mallopt(M_ARENA_MAX, 1);
	close_inherited_fds(&o);
	if (o.ready_fd >= 0) {
		/* Out of the launcher's process group from the start: a ^C
		 * meant for the container must not end its filesystem. */
		setsid();
		if (fcntl(o.ready_fd, F_SETFD, FD_CLOEXEC) < 0) {
			lf_err("ready_fd=%d is not an open descriptor",
			       o.ready_fd);
			lfs_options_free(&o);
			return LFS_EXIT_USAGE;
		}
	}
	raise_fd_limit();
	/* Root (of its namespace) serves every user of the mount, and a
	 * file one of them makes must be theirs: without acting as each
	 * caller it would be root's, set-user-id bits and all.  (Another
	 * user's daemon makes every file its own, as with any FUSE mount.) */
	if (!creds_init() && geteuid() == 0 && o.upper && !o.read_only) {
		lf_err("cannot act as the callers of the mount: keeping "
		       "capabilities across setfsuid needs CAP_SETPCAP, "
		       "which this daemon lacks (files other users made "
		       "would be root's)");
		lfs_options_free(&o);
		return LFS_EXIT_USAGE;
	}
	int status = run(&o);
	lfs_options_free(&o);
	return status;
}
