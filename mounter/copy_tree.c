#include "copy_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_common.h"
#include "tree_walk.h"

static char failed_name[NAME_MAX + 1];

static int fail(const char *name, int err, const char **failed)
{
	snprintf(failed_name, sizeof(failed_name), "%s", name);
	*failed = failed_name;
	return -err;
}

/* Owner first: chown clears set-id bits, which the mode then restores.
 * An owner the container's user namespace does not map stays ours. */
static void copy_attrs(int dst, const char *name, const struct stat *st)
{
	(void)fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
	if (!S_ISLNK(st->st_mode))
		(void)fchmodat(dst, name, st->st_mode & 07777, 0);
	const struct timespec times[2] = { st->st_atim, st->st_mtim };
	(void)utimensat(dst, name, times, AT_SYMLINK_NOFOLLOW);
}

static int copy_data(int in, int out)
{
	for (;;) {
		ssize_t n = sendfile(out, in, NULL, 1 << 20);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int copy_file(int src, int dst, const char *name)
{
	int in LF_AUTOCLOSE = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out LF_AUTOCLOSE = openat(dst, name,
				      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				      0600);
	if (out < 0)
		return -errno;
	return copy_data(in, out);
}

static int copy_symlink(int src, int dst, const char *name)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	return symlinkat(target, dst, name) < 0 ? -errno : 0;
}

/*
 * A directory being copied, as the walk holds it: the source (tree 0)
 * and its copy (tree 1) open, the source's entries, and the attributes
 * of the subdirectory the walk went into, given to its copy once its
 * content is in (the copy's writes would change its times).
 */
struct copy_level {
	struct tree_walk_names n;
	bool below;
	struct stat below_st;
};

struct copy {
	const char **failed;
};

static int copy_enter(struct tree_walk *w, void *data)
{
	struct copy_level *l = data;
	struct copy *c = tree_walk_ctx(w);
	int r = tree_walk_list(w, &l->n);
	return r < 0 ? fail(".", -r, c->failed) : 0;
}

static int copy_step(struct tree_walk *w, void *data)
{
	struct copy_level *l = data;
	struct copy *c = tree_walk_ctx(w);
	int src = tree_walk_dirs(w, 0)->v[0].fd;
	int dst = tree_walk_dirs(w, 0)->v[1].fd;
	if (l->below) {
		l->below = false;
		copy_attrs(dst, l->n.names.names[l->n.next - 1], &l->below_st);
	}
	const char *name = tree_walk_next(&l->n);
	if (!name)
		return 0;
	struct stat st;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(name, errno, c->failed);
	int r;
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		if (mkdirat(dst, name, 0700) < 0)
			return fail(name, errno, c->failed);
		r = tree_walk_down_by_name(w, name, NULL);
		if (r < 0)
			return fail(name, -r, c->failed);
		l->below = true;
		l->below_st = st;
		return 1;
	case S_IFREG:
		r = copy_file(src, dst, name);
		break;
	case S_IFLNK:
		r = copy_symlink(src, dst, name);
		break;
	case S_IFIFO:
		r = mkfifoat(dst, name, 0600) < 0 ? -errno : 0;
		break;
	default:
		return 1; /* devices and sockets: nothing to carry over */
	}
	if (r < 0)
		return fail(name, -r, c->failed);
	/* Last, so that the copy's writes leave the times as they were. */
	copy_attrs(dst, name, &st);
	return 1;
}

static void copy_failed(struct tree_walk *w, int r)
{
	struct copy *c = tree_walk_ctx(w);
	(void)r;
	fail(".", 0, c->failed);
}

static const struct tree_walk_ops copy_ops = {
	.groups = 1,
	.level_size = sizeof(struct copy_level),
	.enter = copy_enter,
	.step = copy_step,
	.drop = tree_walk_names_drop,
	.failed = copy_failed,
};

int copy_tree(int src, int dst, const char **failed)
{
	*failed = NULL;
	struct copy c = { failed };
	struct walk_dirs root = { 0 };
	int r = walk_dirs_open_root(&root, src, 0);
	if (r == 0)
		r = walk_dirs_open_root(&root, dst, 1);
	if (r < 0) {
		walk_dirs_free(&root);
		return fail(".", -r, failed);
	}
	return tree_walk_run(&copy_ops, &c, &root, "", NULL);
}
