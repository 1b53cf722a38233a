#include "runtime_dir.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "strfmt.h"

/* A directory we own and nobody else can write, or refuse it (NAMED:
 * the user gave it with --root, which the message says). */
static int check_private(const char *path, int fd, bool named, char *err,
			 size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		lr_fmt(err, errlen, "cannot stat '%s': %s", path, strerror(e));
		return -e;
	}
	if (st.st_uid != geteuid()) {
		if (named)
			lr_fmt(err, errlen,
				 "--root '%s' belongs to uid %u, not to us",
				 path, (unsigned)st.st_uid);
		else
			lr_fmt(err, errlen,
				 "state directory '%s' belongs to uid %u, not "
				 "to us (uid %u): choose another with --root",
				 path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	/* Another user could put a symlink where a container's mountpoint
	 * or state file goes. */
	if (st.st_mode & 022) {
		if (named)
			lr_fmt(err, errlen,
				 "--root '%s' may be written by other users "
				 "(mode %03o): chmod go-w it, or name another",
				 path, (unsigned)(st.st_mode & 0777));
		else
			lr_fmt(err, errlen,
				 "state directory '%s' is writable by others "
				 "(mode %04o): chmod 0700 it or choose another "
				 "with --root",
				 path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int open_or_make(const char *path, mode_t mode, char *err,
			size_t errlen)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		int e = errno;
		lr_fmt(err, errlen, "cannot create state directory '%s': %s",
			 path, strerror(e));
		return -e;
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		lr_fmt(err, errlen, "cannot open state directory '%s': %s",
			 path, e == ELOOP || e == ENOTDIR
				       ? "it is a symlink or not a directory"
				       : strerror(e));
		return -e;
	}
	return fd;
}

static bool usable_xdg(const char *dir)
{
	struct stat st;
	return dir && dir[0] == '/' && stat(dir, &st) == 0 &&
	       S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       access(dir, W_OK | X_OK) == 0;
}

int runtime_root_open(const char *override, char **path, int *fd, char *err,
		      size_t errlen)
{
	char buf[PATH_MAX];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	bool named = false;
	if (override) {
		if (override[0] == '/') {
			lr_fmt(buf, sizeof(buf), "%s", override);
		} else {
			char cwd[PATH_MAX];
			if (!getcwd(cwd, sizeof(cwd))) {
				lr_fmt(err, errlen, "cannot resolve --root '%s'",
					 override);
				return -errno;
			}
			lr_fmt(buf, sizeof(buf), "%s/%s", cwd, override);
		}
		named = true;
	} else if (usable_xdg(xdg)) {
		lr_fmt(buf, sizeof(buf), "%s/layerrun", xdg);
	} else if (geteuid() == 0) {
		lr_fmt(buf, sizeof(buf), "/run/layerrun");
	} else {
		const char *tmp = getenv("TMPDIR");
		if (!tmp || tmp[0] != '/')
			tmp = "/tmp";
		lr_fmt(buf, sizeof(buf), "%s/layerrun-%u", tmp,
			 (unsigned)geteuid());
	}
	int dfd = open_or_make(buf, 0700, err, errlen);
	if (dfd < 0)
		return dfd;
	int r = check_private(buf, dfd, named, err, errlen);
	if (r < 0) {
		close(dfd);
		return r;
	}
	*path = strdup(buf);
	if (!*path) {
		close(dfd);
		lr_fmt(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*fd = dfd;
	return 0;
}
