#include "rmtree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "name_list.h"

/* One directory on the way down: its entries, read at once (so that no
 * descriptor stays open for it), the next one to remove, and its
 * identity, to check the climb back to it. */
struct level {
	struct name_list names;
	size_t next;
	dev_t dev;
	ino_t ino;
};

static int level_read(int fd, struct level *l)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	l->next = 0;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return fs_list_dir(fd, &l->names);
}

/*
 * Removes DIRFD/NAME when it is not a directory or is an empty one: 0.
 * A directory with entries is opened (made readable and writable for
 * us first when it is not) into *child: 1.  Else -errno.
 */
static int remove_or_open(int dirfd, const char *name, int *child)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno == EACCES || errno == EPERM) {
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
		fchmodat(dirfd, name, 0700, 0);
		fd = openat(dirfd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ? -e : -errno;
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
		fchmod(fd, 0700);
	*child = fd;
	return 1;
}

/* Removes the entries of the directory CUR (but KEEP) and everything
 * below them; CUR is closed. */
static int remove_below(int cur, const char *keep)
{
	struct level *stack = malloc(16 * sizeof(*stack));
	size_t depth = 0, cap = 16;
	int first = 0;
	if (!stack) {
		close(cur);
		return -ENOMEM;
	}
	int r = level_read(cur, &stack[0]);
	if (r < 0) {
		free(stack);
		close(cur);
		return r;
	}
	depth = 1;
	while (depth > 0) {
		struct level *l = &stack[depth - 1];
		if (l->next < l->names.n) {
			const char *name = l->names.names[l->next++];
			if (depth == 1 && keep && !strcmp(name, keep))
				continue;
			int child = -1;
			r = remove_or_open(cur, name, &child);
			if (r <= 0) {
				if (r < 0 && !first)
					first = r;
				continue;
			}
			if (depth == cap) {
				struct level *ns =
					realloc(stack, 2 * cap * sizeof(*ns));
				if (!ns) {
					close(child);
					first = first ? first : -ENOMEM;
					continue;
				}
				stack = ns;
				cap *= 2;
			}
			r = level_read(child, &stack[depth]);
			if (r < 0) {
				close(child);
				first = first ? first : r;
				continue;
			}
			close(cur);
			cur = child;
			depth++;
			continue;
		}
		/* This directory is empty now: back up, and remove it. */
		name_list_free(&l->names);
		if (--depth == 0)
			break;
		struct level *up = &stack[depth - 1];
		int ufd = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct stat st;
		r = ufd < 0 || fstat(ufd, &st) < 0 ? -errno
		    : st.st_dev != up->dev || st.st_ino != up->ino
			? -ESTALE /* moved meanwhile: stop here */
			: 0;
		close(cur);
		cur = ufd;
		if (r < 0) {
			first = first ? first : r;
			break;
		}
		if (unlinkat(cur, up->names.names[up->next - 1], AT_REMOVEDIR) < 0 &&
		    errno != ENOENT && !first)
			first = -errno;
	}
	while (depth > 0)
		name_list_free(&stack[--depth].names);
	free(stack);
	if (cur >= 0)
		close(cur);
	return first;
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
