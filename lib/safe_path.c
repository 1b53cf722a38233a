#include "safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 0 unknown, 1 openat2 works, 2 use the fallback walk. */
static atomic_int openat2_state;

void sp_force_fallback(int on)
{
	atomic_store(&openat2_state, on ? 2 : 0);
}

int sp_reopen(int pfd, int flags)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	/* The link is the point: following it is what reaches the inode.
	 * A terminal never becomes the caller's controlling one. */
	flags = (flags & ~O_NOFOLLOW) | O_NOCTTY | O_CLOEXEC;
	int fd = open(proc, flags);
	if (fd < 0 && errno == EPERM && (flags & O_NOATIME))
		fd = open(proc, flags & ~O_NOATIME);
	return fd < 0 ? -errno : fd;
}

static int sys_openat2(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (unsigned long long)flags,
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static bool is_dot_or_dotdot(const char *s, size_t n)
{
	return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/*
 * The fallback and the long-path case: walk component by component, each
 * step an openat(O_PATH|O_NOFOLLOW|O_DIRECTORY) from the previous fd.
 */
static int walk_open(int rootfd, const char *path, int flags, mode_t mode)
{
	int cur = rootfd;
	const char *p = path;
	char comp[NAME_MAX + 1];

	for (;;) {
		while (*p == '/')
			p++;
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *rest = p + n;
		while (*rest == '/')
			rest++;
		bool last = *rest == 0;
		if (n == 0) {
			/* Empty path or trailing slash: the directory itself. */
			int fd = openat(cur, ".", flags | O_CLOEXEC, mode);
			int e = errno;
			if (cur != rootfd)
				close(cur);
			errno = e;
			return fd < 0 ? -errno : fd;
		}
		if (n > NAME_MAX) {
			if (cur != rootfd)
				close(cur);
			return -ENAMETOOLONG;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (cur != rootfd)
				close(cur);
			return -EXDEV;
		}
		memcpy(comp, p, n);
		comp[n] = 0;
		int fd;
		if (last)
			fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC,
				    mode);
		else if (is_dot_or_dotdot(comp, n))
			fd = openat(cur, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		else
			fd = openat(cur, comp,
				    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		if (cur != rootfd)
			close(cur);
		if (fd < 0) {
			/* O_PATH|O_NOFOLLOW on a symlink opens the link itself
			 * and O_DIRECTORY then fails with ENOTDIR; report a
			 * symlink in the middle of a path as ELOOP. */
			return -e;
		}
		if (last)
			return fd;
		cur = fd;
		p = rest;
	}
}

/* openat2 also refuses paths of PATH_MAX or more: split such paths. */
static int open_long(int rootfd, const char *path, int flags, mode_t mode)
{
	int cur = rootfd;
	const char *p = path;
	while (strlen(p) >= PATH_MAX - 1) {
		/* Take as many whole components as fit in one piece. */
		const char *cut = p + PATH_MAX - 2;
		while (cut > p && *cut != '/')
			cut--;
		if (cut == p) {
			if (cur != rootfd)
				close(cur);
			return -ENAMETOOLONG;
		}
		char piece[PATH_MAX];
		memcpy(piece, p, (size_t)(cut - p));
		piece[cut - p] = 0;
		int fd = sp_open_beneath(cur, piece, O_PATH | O_DIRECTORY, 0);
		if (cur != rootfd)
			close(cur);
		if (fd < 0)
			return fd;
		cur = fd;
		p = cut + 1;
	}
	int fd = sp_open_beneath(cur, p, flags, mode);
	if (cur != rootfd)
		close(cur);
	return fd;
}

int sp_open_beneath(int rootfd, const char *path, int flags, mode_t mode)
{
	if (path[0] == 0 || (path[0] == '.' && path[1] == 0)) {
		int fd = openat(rootfd, ".", flags | O_CLOEXEC, mode);
		return fd < 0 ? -errno : fd;
	}
	if (path[0] == '/')
		return -EXDEV;
	if (strlen(path) >= PATH_MAX - 1)
		return open_long(rootfd, path, flags, mode);

	int state = atomic_load_explicit(&openat2_state, memory_order_relaxed);
	if (state != 2) {
		int fd = sys_openat2(rootfd, path, flags | O_NOFOLLOW | O_CLOEXEC,
				     mode);
		if (fd >= 0) {
			if (state == 0)
				atomic_store(&openat2_state, 1);
			return fd;
		}
		if (errno != ENOSYS && errno != EPERM)
			return -errno;
		if (errno == EPERM && state == 1)
			return -EPERM;
		/* ENOSYS, or EPERM from a seccomp filter that hides openat2
		 * (some container runtimes do that): walk by hand. */
		atomic_store(&openat2_state, 2);
	}
	return walk_open(rootfd, path, flags, mode);
}

/* Links followed in one path at most, as the kernel's MAXSYMLINKS. */
#define SP_MAX_LINKS 40

/*
 * Without openat2: PATH resolved by hand into OUT, a path below rootfd
 * with no symlink in it, each component looked at where it is.  The
 * final open refuses symlinks, so a change meanwhile cannot lead out.
 */
static int resolve_inside(int rootfd, const char *path, char *out)
{
	char todo[2 * PATH_MAX], next[2 * PATH_MAX];
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	strcpy(todo, path);
	size_t used = 0;
	int links = 0;
	out[0] = 0;
	for (char *p = todo; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		char *rest = p + n;
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p = rest;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (used == 0)
				return -EXDEV;
			while (used > 0 && out[used - 1] != '/')
				used--;
			used -= used > 0;
			out[used] = 0;
			p = rest;
			continue;
		}
		if (n > NAME_MAX || used + n + 2 > PATH_MAX)
			return -ENAMETOOLONG;
		char name[NAME_MAX + 1];
		memcpy(name, p, n);
		name[n] = 0;
		int dfd = sp_open_beneath(rootfd, out, O_PATH | O_DIRECTORY, 0);
		if (dfd < 0)
			return dfd;
		char target[PATH_MAX];
		ssize_t tn = readlinkat(dfd, name, target, sizeof(target) - 1);
		int e = errno;
		close(dfd);
		if (tn < 0 && e != EINVAL && e != ENOENT)
			return -e;
		if (tn >= 0) {
			target[tn] = 0;
			if (++links > SP_MAX_LINKS)
				return -ELOOP;
			if (target[0] == '/')
				return -EXDEV;
			size_t tl = strlen(target), rl = strlen(rest);
			if (tl + rl + 2 > sizeof(next))
				return -ENAMETOOLONG;
			memcpy(next, target, tl);
			next[tl] = '/';
			memcpy(next + tl + 1, rest, rl + 1);
			memcpy(todo, next, tl + rl + 2);
			p = todo;
			continue;
		}
		if (used)
			out[used++] = '/';
		memcpy(out + used, name, n + 1);
		used += n;
		p = rest;
	}
	return 0;
}

int sp_open_inside(int rootfd, const char *path, int flags)
{
	int state = atomic_load_explicit(&openat2_state, memory_order_relaxed);
	if (state != 2) {
		struct open_how how = {
			.flags = (unsigned long long)(flags | O_CLOEXEC),
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
		};
		int fd = (int)syscall(SYS_openat2, rootfd, path, &how,
				      sizeof(how));
		if (fd >= 0)
			return fd;
		/* As sp_open_beneath: ENOSYS, or an EPERM before openat2
		 * was seen to work (a seccomp filter hiding it). */
		if (errno != ENOSYS && !(errno == EPERM && state == 0))
			return -errno;
	}
	char resolved[PATH_MAX];
	int r = resolve_inside(rootfd, path, resolved);
	return r < 0 ? r : sp_open_beneath(rootfd, resolved, flags, 0);
}

int sp_open_parent(int rootfd, const char *path, const char **last)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*last = path;
		int fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	*last = slash + 1;
	size_t n = (size_t)(slash - path);
	char buf[PATH_MAX];
	if (n >= sizeof(buf)) {
		/* Deeper than PATH_MAX: the long-path walker splits it. */
		char *dup = strndup(path, n);
		if (!dup)
			return -ENOMEM;
		int fd = sp_open_beneath(rootfd, dup, O_PATH | O_DIRECTORY, 0);
		free(dup);
		return fd;
	}
	memcpy(buf, path, n);
	buf[n] = 0;
	return sp_open_beneath(rootfd, buf, O_PATH | O_DIRECTORY, 0);
}
