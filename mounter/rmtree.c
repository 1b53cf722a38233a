#include "rmtree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int remove_dir_contents(int fd, int depth, const char *keep)
{
	if (depth > 4096)
		return -ELOOP;
	int dup_fd = dup(fd);
	if (dup_fd < 0)
		return -errno;
	DIR *d = fdopendir(dup_fd);
	if (!d) {
		close(dup_fd);
		return -errno;
	}
	int first = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
		    (keep && strcmp(n, keep) == 0))
			continue;
		int r = rmtree_at(fd, n);
		if (r < 0 && !first)
			first = r;
	}
	closedir(d);
	return first;
}

int rmtree_at(int dirfd, const char *name)
{
	static int depth;
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno == EACCES || errno == EPERM) {
		/* The parent may be read-only for us: open it up. */
		if (fchmod(dirfd, 0700) == 0 && unlinkat(dirfd, name, 0) == 0)
			return 0;
	}
	if (errno != EISDIR && errno != EPERM && errno != EACCES)
		return -errno;
	int fd = openat(dirfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EPERM)) {
		fchmodat(dirfd, name, 0700, AT_SYMLINK_NOFOLLOW);
		fd = openat(dirfd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return errno == ENOTDIR ? -EPERM : -errno;
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
		fchmod(fd, 0700);
	depth++;
	int r = remove_dir_contents(fd, depth, NULL);
	depth--;
	close(fd);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return r < 0 ? r : -errno;
	return r;
}

int rmtree_contents(int fd, const char *keep)
{
	return remove_dir_contents(fd, 0, keep);
}
