#include "copy_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_common.h"

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

static int copy_dir(int src, int dst, const char **failed);

static int copy_subdir(int src, int dst, const char *name,
		       const char **failed)
{
	if (mkdirat(dst, name, 0700) < 0)
		return fail(name, errno, failed);
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int from LF_AUTOCLOSE = openat(src, name, flags);
	int to LF_AUTOCLOSE = openat(dst, name, flags);
	if (from < 0 || to < 0)
		return fail(name, errno, failed);
	return copy_dir(from, to, failed);
}

static int copy_entry(int src, int dst, const char *name,
		      const char **failed)
{
	struct stat st;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(name, errno, failed);
	int r;
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		if ((r = copy_subdir(src, dst, name, failed)) < 0)
			return r;
		break;
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
		return 0; /* devices and sockets: nothing to carry over */
	}
	if (r < 0)
		return fail(name, -r, failed);
	/* Last, so that the copy's writes leave the times as they were. */
	copy_attrs(dst, name, &st);
	return 0;
}

static int copy_dir(int src, int dst, const char **failed)
{
	int fd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return fail(".", e, failed);
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = copy_entry(src, dst, de->d_name, failed);
	}
	if (r == 0 && errno)
		r = fail(".", errno, failed);
	closedir(d);
	return r;
}

int copy_tree(int src, int dst, const char **failed)
{
	*failed = NULL;
	return copy_dir(src, dst, failed);
}
