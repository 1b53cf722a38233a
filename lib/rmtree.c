#include "rmtree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "name_list.h"
#include "tree_walk.h"

struct removal {
	const char *keep; /* an entry of the top directory to leave */
	int first;        /* the first failure */
};

/* One directory on the way down: its entries, read at once (so that no
 * descriptor stays open for it), and the next one to remove. */
struct level {
	struct tree_walk_names n;
	bool below; /* the walk went into the last entry taken */
};

static void note(struct removal *rm, int r)
{
	if (r < 0 && !rm->first)
		rm->first = r;
}

/*
 * Removes DIRFD/NAME when it is not a directory or is an empty one: 0.
 * A directory with entries is opened into *child: 1.  Else -errno.  A
 * directory that refuses us (EACCES: a container may chmod one 0 or
 * 0500) is opened up to 0700 first, and only then.
 */
static int remove_or_open(int dirfd, const char *name, int *child)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno == EACCES) {
		/* The parent may be read-only for us: open it up. */
		if (fchmod(dirfd, 0700) == 0 && unlinkat(dirfd, name, 0) == 0)
			return 0;
	}
	int e = errno;
	if (e != EISDIR && e != EPERM && e != EACCES)
		return -e;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if (errno == ENOTDIR) /* a file that could not be unlinked */
		return -e;
	int fd = openat(dirfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EPERM)) {
		/* Never through a symlink put there meanwhile. */
		fchmodat(dirfd, name, 0700, AT_SYMLINK_NOFOLLOW);
		fd = openat(dirfd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ? -e : -errno;
	/* Its mode stays as it is unless removing an entry is refused (the
	 * EACCES above, one level down): a process may still hold the
	 * directory open (layerfs removes a directory it moved into its
	 * work directory), and would see the change. */
	*child = fd;
	return 1;
}

static int enter(struct tree_walk *w, void *data)
{
	struct level *l = data;
	struct removal *rm = tree_walk_ctx(w);
	int r = tree_walk_list(w, &l->n);
	if (r < 0 && tree_walk_depth(w) == 0)
		return r;
	note(rm, r); /* an unreadable directory below: left, and go on */
	return 0;
}

static int step(struct tree_walk *w, void *data)
{
	struct level *l = data;
	struct removal *rm = tree_walk_ctx(w);
	int cur = tree_walk_dirs(w, 0)->v[0].fd;
	if (l->below) {
		/* Back from it: it is empty now. */
		l->below = false;
		if (unlinkat(cur, l->n.names.names[l->n.next - 1],
			     AT_REMOVEDIR) < 0 &&
		    errno != ENOENT)
			note(rm, -errno);
	}
	const char *name = tree_walk_next(&l->n);
	if (!name)
		return 0;
	if (tree_walk_depth(w) == 0 && rm->keep && !strcmp(name, rm->keep))
		return 1;
	int child = -1;
	int r = remove_or_open(cur, name, &child);
	if (r <= 0) {
		note(rm, r);
		return 1;
	}
	struct walk_dirs dirs = { 0 };
	r = walk_dirs_add(&dirs, child, 0, &tree_walk_dirs(w, 0)->v[0]);
	if (r == 0)
		r = tree_walk_down(w, name, &dirs, NULL, NULL);
	note(rm, r);
	l->below = r == 0;
	return 1;
}

static const struct tree_walk_ops removal_ops = {
	.groups = 1,
	.level_size = sizeof(struct level),
	.enter = enter,
	.step = step,
	.drop = tree_walk_names_drop,
};

/* Removes the entries of the directory CUR (but KEEP) and everything
 * below them; CUR is closed. */
static int remove_below(int cur, const char *keep)
{
	struct removal rm = { .keep = keep };
	struct walk_dirs root = { 0 };
	int r = walk_dirs_add(&root, cur, 0, NULL);
	if (r == 0)
		r = tree_walk_run(&removal_ops, &rm, &root, "", NULL);
	/* A directory that moved meanwhile stops the removal there. */
	return rm.first ? rm.first : r;
}

int lf_rmtree_at(int dirfd, const char *name)
{
	int child = -1;
	int r = remove_or_open(dirfd, name, &child);
	if (r <= 0)
		return r;
	r = remove_below(child, NULL);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT &&
	    r == 0)
		r = -errno;
	return r;
}

int lf_rmtree_contents(int fd, const char *keep)
{
	int cur = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -errno;
	return remove_below(cur, keep);
}
