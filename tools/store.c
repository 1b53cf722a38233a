#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fsutil.h"
#include "rmtree.h"
#include "user_mode.h"

static atomic_uint temp_counter;

char *store_default_path(const char *abs_image_dir)
{
	char *copy = strdup(abs_image_dir);
	if (!copy)
		return NULL;
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = 0;
	char *slash = strrchr(copy, '/');
	char *out = NULL;
	if (slash == copy || !slash) {
		if (asprintf(&out, "/%s", STORE_DEFAULT_NAME) < 0)
			out = NULL;
	} else {
		*slash = 0;
		if (asprintf(&out, "%s/%s", copy, STORE_DEFAULT_NAME) < 0)
			out = NULL;
	}
	free(copy);
	return out;
}

/* Temporaries whose lock can be taken: their writer is gone (killed,
 * or its machine lost).  The lock is held while the temporary goes, so
 * a writer that opened it meanwhile sees it gone and takes another. */
static void remove_stale(struct store *s)
{
	struct name_list l;
	if (fs_list_dir(s->fd, &l) < 0)
		return;
	for (size_t i = 0; i < l.n; i++) {
		const char *n = l.names[i];
		if (strncmp(n, STORE_TMP_PREFIX, strlen(STORE_TMP_PREFIX)) != 0)
			continue;
		int fd = openat(s->fd, n,
				O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			lf_rmtree_at(s->fd, n);
		close(fd);
	}
	name_list_free(&l);
}

static int mkdir_p(const char *path, bool *created)
{
	*created = false;
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, user_mode(0777)) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, user_mode(0777)) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -errno;
	return 0;
}

int store_open(const char *path, struct store *s, char *err, size_t errlen)
{
	s->fd = -1;
	s->path = NULL;
	s->locks = NULL;
	s->nlocks = 0;
	int r = mkdir_p(path, &s->created);
	if (r < 0) {
		snprintf(err, errlen, "cannot create layer store '%s': %s",
			 path, strerror(-r));
		return r;
	}
	s->path = realpath(path, NULL);
	if (!s->path) {
		r = -errno;
		snprintf(err, errlen, "cannot open layer store '%s': %s", path,
			 strerror(errno));
		return r;
	}
	s->fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open layer store '%s': %s", path,
			 strerror(errno));
		free(s->path);
		s->path = NULL;
		return r;
	}
	remove_stale(s);
	return 0;
}

void store_close_failed(struct store *s)
{
	if (s->created && s->path)
		rmdir(s->path); /* only when empty */
	store_close(s);
}

void store_close(struct store *s)
{
	for (size_t i = 0; i < s->nlocks; i++)
		close(s->locks[i].fd);
	free(s->locks);
	s->locks = NULL;
	s->nlocks = 0;
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	s->fd = -1;
	s->path = NULL;
}

int store_layer_name(const char *diff_id, bool override_owner, char *buf,
		     size_t size)
{
	enum digest_algo algo;
	const char *hex;
	int r = digest_parse(diff_id, &algo, &hex);
	if (r < 0)
		return r;
	int n = snprintf(buf, size, "%s-%s%s",
			 algo == DIGEST_SHA512 ? "sha512" : "sha256", hex,
			 override_owner ? STORE_OVERRIDE_SUFFIX : "");
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

bool store_has(const struct store *s, const char *name)
{
	struct stat st;
	return fstatat(s->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

/*
 * Locks the temporary NAME just made: 1 when it is ours, 0 when another
 * store_open took it for stale in between (its lock taken first, or the
 * name gone or made anew since): then the caller makes another.
 */
static int lock_temp(struct store *s, const char *name, bool dir)
{
	int fd = openat(s->fd, name,
			(dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_NOFOLLOW |
				O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat held, now;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? 0 : -e;
	}
	if (fstat(fd, &held) < 0 ||
	    fstatat(s->fd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    held.st_dev != now.st_dev || held.st_ino != now.st_ino) {
		close(fd);
		return 0;
	}
	struct store_temp_lock *nl =
		realloc(s->locks, (s->nlocks + 1) * sizeof(*nl));
	if (!nl) {
		close(fd);
		return -ENOMEM;
	}
	s->locks = nl;
	s->locks[s->nlocks].fd = fd;
	snprintf(s->locks[s->nlocks].name, sizeof(s->locks[0].name), "%s",
		 name);
	s->nlocks++;
	return 1;
}

/* Lets go of the lock of TMP, once it is published or gone. */
static void unlock_temp(struct store *s, const char *tmp)
{
	for (size_t i = 0; i < s->nlocks; i++)
		if (!strcmp(s->locks[i].name, tmp)) {
			close(s->locks[i].fd);
			s->locks[i] = s->locks[--s->nlocks];
			return;
		}
}

int store_temp(struct store *s, bool dir, char *name, size_t size)
{
	for (int tries = 0; tries < 100; tries++) {
		snprintf(name, size, "%s%ld-%u", STORE_TMP_PREFIX,
			 (long)getpid(), atomic_fetch_add(&temp_counter, 1));
		int fd = -1;
		if (dir ? mkdirat(s->fd, name, 0700) < 0
			: (fd = openat(s->fd, name,
				       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					       O_CLOEXEC,
				       0600)) < 0) {
			/* Another PID namespace may use the same number. */
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		if (fd >= 0)
			close(fd);
		int r = lock_temp(s, name, dir);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	return -EEXIST;
}

int store_publish(struct store *s, const char *tmp, const char *name)
{
	/* The content must be on disk before the name says it is complete. */
	if (syncfs(s->fd) < 0)
		return -errno;
	int r = renameat(s->fd, tmp, s->fd, name) == 0 ? 0 : -errno;
	if (r == -ENOTEMPTY || r == -EEXIST) {
		lf_rmtree_at(s->fd, tmp);
		r = 0;
	}
	if (r == 0)
		unlock_temp(s, tmp);
	return r;
}

void store_discard(struct store *s, const char *tmp)
{
	if (tmp && *tmp) {
		lf_rmtree_at(s->fd, tmp);
		unlock_temp(s, tmp);
	}
}
