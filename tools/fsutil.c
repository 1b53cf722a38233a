#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lf_common.h"

void fs_proc_path(char *buf, size_t size, int dirfd, const char *name)
{
	if (name && *name)
		snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);
	else
		snprintf(buf, size, "/proc/self/fd/%d", dirfd);
}

/* /proc/self/fd/N of pathfd, which must be no symlink: followed, that
 * magic link would lead to the symlink, and a call that follows it
 * further to its target. */
static int proc_of_fd(int pathfd, char *buf, size_t size)
{
	struct stat st;
	if (fstat(pathfd, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	fs_proc_path(buf, size, pathfd, NULL);
	return 0;
}

int fs_chown_fd(int pathfd, uid_t uid, gid_t gid)
{
	char path[64];
	int r = proc_of_fd(pathfd, path, sizeof(path));
	if (r == 0 && chown(path, uid, gid) < 0)
		r = -errno;
	return r;
}

int fs_chmod_fd(int pathfd, mode_t mode)
{
	char path[64];
	int r = proc_of_fd(pathfd, path, sizeof(path));
	if (r == 0 && chmod(path, mode) < 0)
		r = -errno;
	return r;
}

int fs_utimens_fd(int pathfd, const struct timespec ts[2])
{
	char path[64];
	int r = proc_of_fd(pathfd, path, sizeof(path));
	if (r == 0 && utimensat(AT_FDCWD, path, ts, 0) < 0)
		r = -errno;
	return r;
}

int fs_xattr_names_at(int dirfd, const char *name, struct name_list *out)
{
	*out = (struct name_list){ 0 };
	char path[PATH_MAX + 64];
	fs_proc_path(path, sizeof(path), dirfd, name);
	/* With no name, the fd itself: follow /proc's link to it. */
	bool self = !name || !*name;
	ssize_t len = self ? listxattr(path, NULL, 0) : llistxattr(path, NULL, 0);
	if (len < 0)
		return (errno == ENOTSUP) ? 0 : -errno;
	if (len == 0)
		return 0;
	char *buf = NULL;
	for (int tries = 0; tries < 4; tries++) {
		free(buf);
		buf = malloc((size_t)len + 1);
		if (!buf)
			return -ENOMEM;
		ssize_t got = self ? listxattr(path, buf, (size_t)len)
				   : llistxattr(path, buf, (size_t)len);
		if (got >= 0) {
			len = got;
			break;
		}
		if (errno != ERANGE) {
			int e = -errno;
			free(buf);
			return e;
		}
		len = self ? listxattr(path, NULL, 0) : llistxattr(path, NULL, 0);
		if (len < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
	}
	int r = 0;
	for (char *p = buf; p < buf + len && r == 0; p += strlen(p) + 1)
		if (*p)
			r = name_list_push(out, p);
	free(buf);
	if (r < 0) {
		name_list_free(out);
		return r;
	}
	name_list_sort(out);
	return 0;
}

int fs_xattr_get_at(int dirfd, const char *name, const char *attr,
		    char **value, size_t *len)
{
	char path[PATH_MAX + 64];
	fs_proc_path(path, sizeof(path), dirfd, name);
	bool self = !name || !*name;
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = self ? getxattr(path, attr, NULL, 0)
				 : lgetxattr(path, attr, NULL, 0);
		if (n < 0)
			return -errno;
		char *buf = malloc((size_t)n + 1);
		if (!buf)
			return -ENOMEM;
		ssize_t got = self ? getxattr(path, attr, buf, (size_t)n)
				   : lgetxattr(path, attr, buf, (size_t)n);
		if (got >= 0) {
			buf[got] = 0;
			*value = buf;
			*len = (size_t)got;
			return 0;
		}
		int e = errno;
		free(buf);
		if (e != ERANGE)
			return -e;
	}
	return -ERANGE;
}

int fs_xattr_set_at(int dirfd, const char *name, const char *attr,
		    const void *value, size_t len)
{
	char path[PATH_MAX + 64];
	fs_proc_path(path, sizeof(path), dirfd, name);
	int r = (!name || !*name) ? setxattr(path, attr, value, len, 0)
				  : lsetxattr(path, attr, value, len, 0);
	return r < 0 ? -errno : 0;
}

int fs_xattr_remove_at(int dirfd, const char *name, const char *attr)
{
	char path[PATH_MAX + 64];
	fs_proc_path(path, sizeof(path), dirfd, name);
	int r = (!name || !*name) ? removexattr(path, attr)
				  : lremovexattr(path, attr);
	return r < 0 ? -errno : 0;
}

char *fs_join(const char *a, const char *b)
{
	char *out;
	if (!a || !*a)
		return strdup(b);
	if (asprintf(&out, "%s/%s", a, b) < 0)
		return NULL;
	return out;
}

bool fs_can_chown(int dirfd)
{
	char name[64];
	snprintf(name, sizeof(name), ".layertool-chown-probe-%ld",
		 (long)getpid());
	int fd = openat(dirfd, name,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0)
		return geteuid() == 0;
	/* An id no namespace maps to our own: success means real chown. */
	bool ok = fchown(fd, 54321, 54321) == 0;
	close(fd);
	unlinkat(dirfd, name, 0);
	return ok;
}

