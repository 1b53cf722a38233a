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
#include "lf_common.h"
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

/* The lock file of the temporary TMP: TMP.lock. */
static int lock_name(char *buf, size_t size, const char *tmp)
{
	int n = snprintf(buf, size, "%s%s", tmp, STORE_LOCK_SUFFIX);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool is_lock_name(const char *name)
{
	size_t n = strlen(name), sn = strlen(STORE_LOCK_SUFFIX);
	return n > sn && !strcmp(name + n - sn, STORE_LOCK_SUFFIX);
}

/*
 * Opens the lock file LNAME (with O_CREAT | O_EXCL in oflags: makes it)
 * and takes its lock.  1 with the descriptor in *fd when taken; 0 when
 * someone holds it, or it is gone or was made anew since it was opened
 * (its lock taken then means nothing), or, made with O_EXCL, it exists;
 * -errno else.
 */
static int take_lock(struct store *s, const char *lname, int oflags, int *fd)
{
	*fd = openat(s->fd, lname, O_RDWR | O_NOFOLLOW | O_CLOEXEC | oflags,
		     0600);
	if (*fd < 0)
		return errno == ENOENT || errno == EEXIST ? 0 : -errno;
	struct stat held, now;
	int r = 1;
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0)
		r = errno == EWOULDBLOCK ? 0 : -errno;
	else if (fstat(*fd, &held) < 0 ||
		 fstatat(s->fd, lname, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
		 held.st_dev != now.st_dev || held.st_ino != now.st_ino)
		r = 0;
	if (r != 1) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

/* The temporary of the lock file LNAME, whose lock is taken: removed,
 * then the lock file, so that the temporary never is without it.  Kept
 * when the temporary could not be removed whole, for the next try. */
static void remove_locked_stale(struct store *s, const char *lname)
{
	char tmp[NAME_MAX + 1];
	size_t n = strlen(lname) - strlen(STORE_LOCK_SUFFIX);
	if (n >= sizeof(tmp))
		return;
	memcpy(tmp, lname, n);
	tmp[n] = 0;
	if (lf_rmtree_at(s->fd, tmp) == 0)
		unlinkat(s->fd, lname, 0);
}

/* A temporary without a lock file: an older layertool's, which held the
 * temporary itself locked.  Removed when that lock can be taken. */
static void remove_unlocked_old_stale(struct store *s, const char *tmp)
{
	char lname[NAME_MAX + 1];
	struct stat st;
	if (lock_name(lname, sizeof(lname), tmp) < 0 ||
	    fstatat(s->fd, lname, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return; /* judged by its lock file */
	int fd = openat(s->fd, tmp,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		lf_rmtree_at(s->fd, tmp);
	close(fd);
}

/* Temporaries whose lock can be taken: their writer is gone (killed,
 * or its machine lost).  The lock is held while the temporary goes, so
 * a writer that opened its lock file meanwhile sees it gone and takes
 * another name. */
static void remove_stale(struct store *s)
{
	struct name_list l;
	if (fs_list_dir(s->fd, &l) < 0)
		return;
	for (size_t i = 0; i < l.n; i++) {
		const char *n = l.names[i];
		if (strncmp(n, STORE_TMP_PREFIX, strlen(STORE_TMP_PREFIX)) != 0)
			continue;
		if (!is_lock_name(n)) {
			remove_unlocked_old_stale(s, n);
			continue;
		}
		int fd;
		if (take_lock(s, n, 0, &fd) == 1) {
			remove_locked_stale(s, n);
			close(fd);
		}
	}
	name_list_free(&l);
}

/* The store itself is made 0700: its layers keep the archive's modes
 * and owners, set-user-id programs of root's and device nodes included
 * (a root import), and files of whatever ids the image names, which
 * host users of those ids could otherwise change under every container
 * of the layer.  The directories above it take the umask. */
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
	if (mkdir(buf, user_mode(0700)) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * A store we own and nobody else may write, or none: a layer found there
 * is used as it is (not unpacked again), so another user's directory in
 * its place (a `.layerstore` made beforehand beside an image directory
 * in /tmp, or a symlink to one) would have root's containers run that
 * user's files under the name of the image's layers, which that user
 * could go on changing.
 */
static int check_owner(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot stat layer store '%s': %s", path,
			 strerror(e));
		return -e;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "layer store '%s' belongs to uid %u, not to us (uid "
			 "%u): choose another with --store",
			 path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & 022) {
		snprintf(err, errlen,
			 "layer store '%s' may be written by other users (mode "
			 "%04o): chmod go-w it, or choose another with --store",
			 path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	/* One an older layertool made (0755): root's holds the images'
	 * set-user-id programs of root's and their device nodes. */
	if (geteuid() == 0 && (st.st_mode & 077))
		lf_warn("layer store '%s' may be entered by other users (mode "
			"%04o): its layers' set-user-id programs and devices "
			"are theirs to use; chmod 700 it",
			path, (unsigned)(st.st_mode & 07777));
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
	r = check_owner(s->fd, path, err, errlen);
	if (r < 0) {
		close(s->fd);
		s->fd = -1;
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

/* Keeps the descriptor LFD holding the lock of the temporary NAME. */
static int remember_lock(struct store *s, const char *name, int lfd)
{
	struct store_temp_lock *nl =
		realloc(s->locks, (s->nlocks + 1) * sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	s->locks = nl;
	s->locks[s->nlocks].fd = lfd;
	snprintf(s->locks[s->nlocks].name, sizeof(s->locks[0].name), "%s",
		 name);
	s->nlocks++;
	return 0;
}

/* Lets go of the lock of TMP, published or removed: its lock file goes
 * first (a remover that opened it meanwhile then finds it gone), unless
 * drop_file is false (TMP could not be removed whole: the next
 * store_open takes it for stale). */
static void unlock_temp(struct store *s, const char *tmp, bool drop_file)
{
	for (size_t i = 0; i < s->nlocks; i++)
		if (!strcmp(s->locks[i].name, tmp)) {
			char lname[NAME_MAX + 1];
			if (drop_file &&
			    lock_name(lname, sizeof(lname), tmp) == 0)
				unlinkat(s->fd, lname, 0);
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
		char lname[NAME_MAX + 1];
		int r = lock_name(lname, sizeof(lname), name);
		if (r < 0)
			return r;
		/* Taken under O_EXCL: another PID namespace may use the
		 * same number, or a remover hold a leftover of it. */
		int lfd;
		r = take_lock(s, lname, O_CREAT | O_EXCL, &lfd);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		int fd = -1;
		if (dir ? mkdirat(s->fd, name, 0700) < 0
			: (fd = openat(s->fd, name,
				       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					       O_CLOEXEC,
				       0600)) < 0) {
			/* An older layertool's temporary of that name. */
			int e = errno;
			unlinkat(s->fd, lname, 0);
			close(lfd);
			if (e == EEXIST)
				continue;
			return -e;
		}
		if (fd >= 0)
			close(fd);
		r = remember_lock(s, name, lfd);
		if (r < 0) {
			if (dir)
				unlinkat(s->fd, name, AT_REMOVEDIR);
			else
				unlinkat(s->fd, name, 0);
			unlinkat(s->fd, lname, 0);
			close(lfd);
		}
		return r;
	}
	return -EEXIST;
}

int store_publish(struct store *s, const char *tmp, const char *name)
{
	/* The content must be on disk before the name says it is complete. */
	if (syncfs(s->fd) < 0)
		return -errno;
	int r = renameat(s->fd, tmp, s->fd, name) == 0 ? 0 : -errno;
	bool gone = r == 0;
	if (r == -ENOTEMPTY || r == -EEXIST) {
		gone = lf_rmtree_at(s->fd, tmp) == 0;
		r = 0;
	}
	if (r == 0)
		unlock_temp(s, tmp, gone);
	return r;
}

void store_discard(struct store *s, const char *tmp)
{
	if (tmp && *tmp)
		unlock_temp(s, tmp, lf_rmtree_at(s->fd, tmp) == 0);
}
