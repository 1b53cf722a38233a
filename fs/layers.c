#include "layers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "index.h"
#include "lf_common.h"
#include "redirect.h"
#include "rmtree.h"
#include "workdir.h"
#include "workdir_marks.h"

uint64_t lfs_compose_ino(const struct lfs *fs, int layer, uint64_t real_ino)
{
	if (fs->ino_bits == 0)
		return real_ino;
	unsigned shift = 64 - fs->ino_bits;
	uint64_t low = real_ino & ((UINT64_C(1) << shift) - 1);
	return low | ((uint64_t)fs->layers[layer].fsid << shift);
}

uint64_t lfs_compose_ino_dev(const struct lfs *fs, dev_t dev, uint64_t ino)
{
	for (int l = 0; l < fs->nlayers; l++)
		if (fs->layers[l].dev == dev)
			return lfs_compose_ino(fs, l, ino);
	return 0;
}

void lfs_tmp_name(struct lfs *fs, char *buf, size_t size)
{
	uint64_t n = atomic_fetch_add(&fs->tmp_counter, 1);
	snprintf(buf, size, "#%lx-%llx", (long)getpid(), (unsigned long long)n);
}

/* Opens a directory given on the command line (symlinks in the path the
 * user typed are followed: that is the user's choice, not a layer's). */
static int open_dir_arg(const char *what, const char *path, bool need_write,
			struct stat *st)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOTDIR)
			lf_err("%s '%s' is not a directory", what, path);
		else
			lf_err("cannot open %s '%s': %s", what, path,
			       strerror(e));
		return -1;
	}
	/* O_PATH succeeds without read permission: check it really is
	 * readable (and writable for the upper layer). */
	int rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0) {
		lf_err("cannot read %s '%s': %s", what, path, strerror(errno));
		close(fd);
		return -1;
	}
	close(rfd);
	if (need_write && faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		lf_err("cannot write %s '%s': %s", what, path,
		       strerror(errno));
		close(fd);
		return -1;
	}
	if (fstat(fd, st) < 0) {
		lf_err("cannot stat %s '%s': %s", what, path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* True when `dir` (dev, ino) is `path` or one of its ancestors. */
static bool is_ancestor_or_self(const struct stat *dir, const char *path)
{
	char *real = realpath(path, NULL);
	if (!real)
		return false;
	bool found = false;
	for (;;) {
		struct stat st;
		if (stat(real, &st) == 0 && st.st_dev == dir->st_dev &&
		    st.st_ino == dir->st_ino) {
			found = true;
			break;
		}
		char *slash = strrchr(real, '/');
		if (!slash || real[1] == 0)
			break;
		if (slash == real)
			slash[1] = 0;
		else
			*slash = 0;
	}
	free(real);
	return found;
}

static int add_layer(struct lfs *fs, enum layer_kind kind, const char *what,
		     const char *path, struct stat *st_out)
{
	struct stat st;
	int fd = open_dir_arg(what, path, kind == LAYER_UPPER, &st);
	if (fd < 0)
		return -1;
	struct layer *l = &fs->layers[fs->nlayers++];
	l->fd = fd;
	l->kind = kind;
	l->dev = st.st_dev;
	l->path = path;
	l->handles_kept = lower_id_handles_kept(fd);
	if (kind != LAYER_UPPER)
		redirect_probe_layer(fs, fs->nlayers - 1);
	if (st_out)
		*st_out = st;
	return 0;
}

static void assign_fsids(struct lfs *fs)
{
	dev_t devs[64];
	unsigned ndev = 0;
	bool overflow = false;
	for (int i = 0; i < fs->nlayers; i++) {
		unsigned k;
		for (k = 0; k < ndev; k++)
			if (devs[k] == fs->layers[i].dev)
				break;
		if (k == ndev) {
			if (ndev == 64) {
				overflow = true;
				k = 63;
			} else {
				devs[ndev++] = fs->layers[i].dev;
			}
		}
		fs->layers[i].fsid = (uint16_t)k;
	}
	unsigned bits = 0;
	while ((1u << bits) < ndev)
		bits++;
	fs->ino_bits = ndev > 1 ? bits : 0;
	if (overflow)
		lf_warn("layers span more than 64 filesystems: inode numbers "
			"of the last ones may collide");
}

/*
 * The workdir's lock, waited for a moment: the daemon of a mount just
 * unmounted holds it until it has exited, a millisecond or so after
 * umount(8) returned, and a mount made right then must not fail.  A
 * workdir in use is said after a second (1 ms steps).
 */
static bool lock_workdir(int fd)
{
	for (int tries = 0;; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if (errno != EWOULDBLOCK || tries == 1000)
			return false;
		usleep(1000);
	}
}

/* Empties workdir/work: leftovers of a crash or of a killed daemon. */
static int prepare_workdir(struct lfs *fs, const char *path)
{
	if (mkdirat(fs->workdir_fd, WORKDIR_WORK, 0700) < 0 && errno != EEXIST) {
		lf_err("cannot create '%s/work': %s", path, strerror(errno));
		return -1;
	}
	fs->work_fd = openat(fs->workdir_fd, WORKDIR_WORK,
			     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fs->work_fd < 0) {
		lf_err("cannot open '%s/work': %s", path, strerror(errno));
		return -1;
	}
	int rfd = openat(fs->work_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = rfd >= 0 ? fdopendir(rfd) : NULL;
	if (!d) {
		lf_err("cannot list '%s/work': %s", path, strerror(errno));
		if (rfd >= 0)
			close(rfd);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		int r = lf_rmtree_at(fs->work_fd, e->d_name);
		if (r < 0)
			lf_warn("cannot clean '%s/work/%s': %s", path,
				e->d_name, strerror(-r));
	}
	closedir(d);
	if (fs->opt->index) {
		if (mkdirat(fs->workdir_fd, WORKDIR_INDEX, 0700) < 0 &&
		    errno != EEXIST) {
			lf_err("cannot create '%s/index': %s", path,
			       strerror(errno));
			return -1;
		}
		fs->index_fd = openat(fs->workdir_fd, WORKDIR_INDEX,
				      O_PATH | O_DIRECTORY | O_NOFOLLOW |
					      O_CLOEXEC);
		if (fs->index_fd < 0) {
			lf_err("cannot open '%s/index': %s", path,
			       strerror(errno));
			return -1;
		}
		if (index_init(fs) < 0) {
			lf_err("out of memory");
			return -1;
		}
	}
	return 0;
}

/*
 * Local filesystems report write errors at write or fsync time, never at
 * close; network ones (NFS, SMB, another FUSE...) may report them only
 * at close, which FLUSH then has to pass on.
 */
static bool close_reports_errors(int fd)
{
	static const long local[] = {
		0xEF53,     /* ext2/3/4 */
		0x58465342, /* xfs */
		0x9123683E, /* btrfs */
		0x01021994, /* tmpfs */
		0xF2F52010, /* f2fs */
		0x2FC12FC1, /* zfs */
		0xCA451A4E, /* bcachefs */
	};
	struct statfs sfs;
	if (fstatfs(fd, &sfs) < 0)
		return true;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if ((long)sfs.f_type == local[i])
			return false;
	return true;
}

int lfs_link_unnamed(struct lfs *fs, int fd, int dirfd, const char *name)
{
	int r;
	if (fs->link_unnamed == LINK_UNNAMED_EMPTY_PATH) {
		r = linkat(fd, "", dirfd, name, AT_EMPTY_PATH);
	} else {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		r = linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
	}
	return r < 0 ? -errno : 0;
}

/*
 * Whether copy-ups can be staged as unnamed files (copy_up.c), and how
 * they are then named: straight from the fd (AT_EMPTY_PATH, which needs
 * CAP_DAC_READ_SEARCH) or through its /proc link, a path walk more.
 */
static void probe_link_unnamed(struct lfs *fs, int fd, const char *name)
{
	static const int ways[] = { LINK_UNNAMED_EMPTY_PATH,
				    LINK_UNNAMED_PROC };
	for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		fs->link_unnamed = ways[i];
		if (lfs_link_unnamed(fs, fd, fs->work_fd, name) == 0) {
			unlinkat(fs->work_fd, name, 0);
			return;
		}
	}
	fs->link_unnamed = LINK_UNNAMED_NONE;
}

/* What the upper filesystem lets us do: user xattrs, chown, O_TMPFILE. */
static void probe_upper(struct lfs *fs)
{
	fs->close_reports_errors = close_reports_errors(fs->work_fd);
	char name[64];
	lfs_tmp_name(fs, name, sizeof(name));
	bool unnamed = true;
	int fd = openat(fs->work_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
			0600);
	if (fd < 0) {
		unnamed = false;
		fd = openat(fs->work_fd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return;
	fs->upper_xattr =
		fsetxattr(fd, XATTR_LFS_PREFIX "probe", "1", 1, 0) == 0;
	/* In a user namespace with a single id mapped, chown to any other
	 * id fails with EINVAL: ownership must then live in an xattr. */
	fs->can_chown = fchown(fd, 1, 1) == 0;
	fs->link_unnamed = LINK_UNNAMED_NONE;
	if (unnamed)
		probe_link_unnamed(fs, fd, name);
	close(fd);
	if (!unnamed)
		unlinkat(fs->work_fd, name, 0);
	int dfd = openat(fs->work_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		/* trusted.* needs CAP_SYS_ADMIN in the initial namespace. */
		bool trusted = fsetxattr(dfd, XATTR_TRUSTED_OVL_OPAQUE, "y", 1,
					 0) == 0;
		if (trusted)
			fremovexattr(dfd, XATTR_TRUSTED_OVL_OPAQUE);
		fs->overlay_opaque_xattr =
			(trusted && !fs->opt->userxattr)
				? XATTR_TRUSTED_OVL_OPAQUE
				: XATTR_USER_OVL_OPAQUE;
		close(dfd);
	}
}

int layers_open(struct lfs *fs, struct lfs_options *o)
{
	size_t max = o->nlower + 2;
	if (max > UINT16_MAX - 1) {
		lf_err("too many layers (%zu): at most %d", o->nlower,
		       UINT16_MAX - 3);
		return LFS_EXIT_USAGE;
	}
	fs->layers = calloc(max, sizeof(struct layer));
	if (!fs->layers) {
		lf_err("out of memory");
		return LFS_EXIT_RUNTIME;
	}
	fs->upper = -1;
	fs->workdir_fd = fs->work_fd = fs->index_fd = -1;
	fs->workdir_lock_fd = -1;

	/* /dev/fd/N: the /dev/fuse descriptor of a mount its caller made
	 * (libfuse's convention, and layerrun's): looked at through the
	 * descriptor (a minimal root may have no /dev/fd), not a directory,
	 * and where that mount goes is the caller's business. */
	int fd = lfs_premounted_fd(o->mountpoint);
	bool by_fd = fd >= 0;
	struct stat mst;
	struct statfs mfs;
	int r = by_fd ? fstat(fd, &mst) : stat(o->mountpoint, &mst);
	/* The kernel may answer the stat of a FUSE root from its cache of
	 * the root's attributes, even when the daemon is gone; statfs
	 * always asks the daemon. */
	if (r == 0 && !by_fd)
		r = statfs(o->mountpoint, &mfs);
	if (r < 0) {
		/* A FUSE mount whose daemon has gone (killed, crashed) is
		 * left there, answering ENOTCONN, until it is unmounted.
		 * Over io_uring the kernel closes the daemon's rings a
		 * moment after the process is gone, and a request that
		 * meets them closing is ended ECONNABORTED. */
		if (errno == ENOTCONN || errno == ECONNABORTED)
			lf_err("mountpoint '%s' is a FUSE mount whose daemon "
			       "has ended: unmount it first (fusermount3 -u)",
			       o->mountpoint);
		else
			lf_err("cannot access mountpoint '%s': %s",
			       o->mountpoint, strerror(errno));
		return LFS_EXIT_LAYER;
	}
	bool premounted = by_fd && S_ISCHR(mst.st_mode);
	if (!S_ISDIR(mst.st_mode) && !premounted) {
		lf_err("mountpoint '%s' is not a directory", o->mountpoint);
		return LFS_EXIT_LAYER;
	}

	struct stat ust = { 0 };
	if (o->upper) {
		if (add_layer(fs, LAYER_UPPER, "upperdir", o->upper, &ust) < 0)
			return LFS_EXIT_LAYER;
		fs->upper = 0;
	}
	if (o->init && add_layer(fs, LAYER_INIT, "initdir", o->init, NULL) < 0)
		return LFS_EXIT_LAYER;
	fs->first_lower = fs->nlayers;
	for (size_t i = 0; i < o->nlower; i++)
		if (add_layer(fs, LAYER_LOWER, "lowerdir", o->lower[i], NULL) <
		    0)
			return LFS_EXIT_LAYER;

	/* The daemon must never reach its own mountpoint through a layer:
	 * a layer that contains the mountpoint would deadlock on itself. */
	for (int i = 0; i < fs->nlayers; i++) {
		struct stat st;
		fstat(fs->layers[i].fd, &st);
		if (!premounted && is_ancestor_or_self(&st, o->mountpoint)) {
			lf_err("mountpoint '%s' is %s layer '%s'",
			       o->mountpoint,
			       st.st_ino == mst.st_ino && st.st_dev == mst.st_dev
				       ? "itself the"
				       : "inside the",
			       fs->layers[i].path);
			return LFS_EXIT_LAYER;
		}
		if (i != fs->upper && lfs_has_upper(fs) &&
		    st.st_dev == ust.st_dev && st.st_ino == ust.st_ino) {
			lf_err("upperdir '%s' is also a lower layer",
			       o->upper);
			return LFS_EXIT_LAYER;
		}
	}

	if (o->upper) {
		struct stat wst;
		fs->workdir_fd = open_dir_arg("workdir", o->work, true, &wst);
		if (fs->workdir_fd < 0)
			return LFS_EXIT_LAYER;
		if (wst.st_dev != ust.st_dev) {
			lf_err("workdir '%s' and upperdir '%s' must be on the "
			       "same filesystem",
			       o->work, o->upper);
			return LFS_EXIT_LAYER;
		}
		if (wst.st_ino == ust.st_ino) {
			lf_err("workdir '%s' is the upperdir", o->work);
			return LFS_EXIT_LAYER;
		}
		if (is_ancestor_or_self(&ust, o->work)) {
			lf_err("workdir '%s' is inside upperdir '%s'", o->work,
			       o->upper);
			return LFS_EXIT_LAYER;
		}
		if (is_ancestor_or_self(&wst, o->upper)) {
			lf_err("upperdir '%s' is inside workdir '%s'", o->upper,
			       o->work);
			return LFS_EXIT_LAYER;
		}
		fs->workdir_lock_fd = openat(fs->workdir_fd, ".",
					     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fs->workdir_lock_fd < 0 ||
		    !lock_workdir(fs->workdir_lock_fd)) {
			lf_err("workdir '%s' is in use by another layerfs "
			       "mount",
			       o->work);
			return LFS_EXIT_LAYER;
		}
		if (prepare_workdir(fs, o->work) < 0)
			return LFS_EXIT_LAYER;
		workdir_marks_open(fs, o->work);
		probe_upper(fs);
	}
	assign_fsids(fs);
	return 0;
}

void layers_close(struct lfs *fs)
{
	index_close(fs);
	workdir_marks_close(fs);
	for (int i = 0; i < fs->nlayers; i++)
		if (fs->layers[i].fd >= 0)
			close(fs->layers[i].fd);
	int *fds[] = { &fs->workdir_fd, &fs->work_fd, &fs->index_fd,
		       &fs->workdir_lock_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	free(fs->layers);
	fs->layers = NULL;
	fs->nlayers = 0;
}
