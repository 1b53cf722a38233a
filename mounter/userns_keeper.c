#include "userns_keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lf_common.h"
#include "state.h"
#include "strfmt.h"

/* How often the keeper looks whether it is still wanted: also how long
 * it outlives a state root that was removed. */
#define KEEPER_CHECK_SECONDS 5

static int lock_keeper(int rootfd, bool create)
{
	int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);
	int fd = openat(rootfd, USERNS_KEEPER_LOCK, flags, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	return fd;
}

static int read_record(int rootfd, pid_t *pid, unsigned long long *start)
{
	char *buf;
	if (lf_read_file_at(rootfd, USERNS_KEEPER_FILE, &buf, NULL) < 0)
		return -ENOENT;
	long p = 0;
	int n = sscanf(buf, "%ld %llu", &p, start);
	free(buf);
	if (n != 2 || p <= 0 || *start == 0)
		return -EINVAL;
	*pid = (pid_t)p;
	return 0;
}

static int write_record(int rootfd, pid_t pid, unsigned long long start)
{
	static const char tmp[] = USERNS_KEEPER_FILE ".new";
	int fd = openat(rootfd, tmp,
			O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			0600);
	if (fd < 0)
		return -errno;
	char line[64];
	int n = lr_fmt(line, sizeof(line), "%d %llu\n", (int)pid, start);
	ssize_t w = write(fd, line, (size_t)n);
	int e = errno;
	close(fd);
	if (w != n || renameat(rootfd, tmp, rootfd, USERNS_KEEPER_FILE) < 0) {
		e = w != n ? (w < 0 ? e : EIO) : errno;
		unlinkat(rootfd, tmp, 0);
		return -e;
	}
	return 0;
}

/* Whether /proc/PID/FILE holds exactly the lines L (in any order). */
static bool map_is(pid_t pid, const char *file, const struct idmap_line *l,
		   int n)
{
	char path[64], *buf;
	lr_fmt(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	if (lf_read_file_at(AT_FDCWD, path, &buf, NULL) < 0)
		return false;
	int lines = 0, found = 0;
	const char *s = buf;
	unsigned long in, out, count;
	int used;
	while (sscanf(s, "%lu %lu %lu%n", &in, &out, &count, &used) == 3) {
		s += used;
		lines++;
		for (int i = 0; i < n; i++)
			if (l[i].inside == in && l[i].outside == out &&
			    l[i].count == count)
				found++;
	}
	free(buf);
	return lines == n && found == n;
}

/* The recorded keeper's namespace, when it is alive, ours and mapped as
 * P says; -ENOENT when none is, -ESTALE when its maps are others. */
static int open_recorded(int rootfd, const struct idmap_plan *p)
{
	pid_t pid;
	unsigned long long start;
	if (read_record(rootfd, &pid, &start) < 0 || !proc_is(pid, start))
		return -ENOENT;
	char path[64];
	lr_fmt(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	uid_t owner;
	/* Checked after the open: the pid cannot have been reused for
	 * the descriptor we hold. */
	if (!proc_is(pid, start) || ioctl(fd, NS_GET_OWNER_UID, &owner) < 0 ||
	    owner != geteuid()) {
		close(fd);
		return -ENOENT;
	}
	if (!map_is(pid, "uid_map", p->uid, p->nuid) ||
	    !map_is(pid, "gid_map", p->gid, p->ngid)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* In the keeper, under the lock: whether to end now. */
static bool keeper_should_end(int rootfd)
{
	int lock = openat(rootfd, USERNS_KEEPER_LOCK,
			  O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (lock < 0)
		return true; /* the state root is gone */
	if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
		close(lock); /* a start is joining: not idle */
		return false;
	}
	pid_t pid;
	unsigned long long start;
	struct stat st;
	bool mine = read_record(rootfd, &pid, &start) == 0 &&
		    pid == getpid();
	bool end = !mine ||
		   fstatat(rootfd, USERNS_KEEPER_FILE, &st,
			   AT_SYMLINK_NOFOLLOW) < 0 ||
		   time(NULL) - st.st_mtime >= USERNS_KEEPER_IDLE_SECONDS;
	if (mine && end)
		unlinkat(rootfd, USERNS_KEEPER_FILE, 0);
	close(lock);
	return end;
}

/* Closes every descriptor past stdio but the N in KEEP. */
static void close_all_but(const int *keep, int n)
{
	unsigned from = 3;
	for (;;) {
		unsigned next = ~0U; /* the lowest kept one at FROM or above */
		for (int i = 0; i < n; i++)
			if (keep[i] >= 0 && (unsigned)keep[i] >= from &&
			    (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next > from)
			close_range(from, next == ~0U ? ~0U : next - 1, 0);
		if (next == ~0U)
			return;
		from = next + 1;
	}
}

/*
 * The keeper: a new session (a terminal's signals are not for it), no
 * descriptor of the launcher's (a caller reading layerrun's output would
 * wait for it), its own user namespace; it says its pid on UP, waits on
 * GO until its maps are written and recorded, then waits to be unneeded.
 */
static void __attribute__((noreturn)) keeper_main(int rootfd, int up, int go)
{
	int keep[] = { rootfd, up, go };
	close_all_but(keep, 3);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	setsid();
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGTERM, SIG_DFL);
	prctl(PR_SET_NAME, "layerrun-userns", 0, 0, 0);
	pid_t self = getpid();
	int said = unshare(CLONE_NEWUSER) == 0 ? (int)self : -errno;
	if (write(up, &said, sizeof(said)) != sizeof(said) || said < 0)
		_exit(1);
	close(up);
	char b;
	if (read(go, &b, 1) != 1)
		_exit(0); /* the launcher gave up on us */
	close(go);
	if (chdir("/") < 0)
		_exit(1);
	for (;;) {
		sleep(KEEPER_CHECK_SECONDS);
		if (keeper_should_end(rootfd))
			_exit(0);
	}
}

/* Starts a keeper and maps it as P says; its namespace's descriptor. */
static int start_keeper(int rootfd, const struct idmap_plan *p, char *err,
			size_t errlen)
{
	int up[2], go[2];
	if (pipe2(up, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(go, O_CLOEXEC) < 0) {
		int e = errno;
		close(up[0]);
		close(up[1]);
		return -e;
	}
	/* Twice: the keeper is nobody's child of ours to reap or wait for. */
	pid_t mid = fork();
	if (mid == 0) {
		close(up[0]);
		close(go[1]);
		if (fork() == 0)
			keeper_main(rootfd, up[1], go[0]);
		_exit(0);
	}
	int e = errno;
	close(up[1]);
	close(go[0]);
	int said = 0;
	if (mid > 0) {
		while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
			;
		if (read(up[0], &said, sizeof(said)) != sizeof(said))
			said = -EIO;
	} else {
		said = -e;
	}
	close(up[0]);
	if (said < 0) {
		userns_explain_clone(-said, err, errlen);
		close(go[1]);
		return said;
	}
	pid_t keeper = (pid_t)said;
	int r = userns_write_maps(keeper, p, err, errlen);
	int fd = -1;
	if (r == 0) {
		char path[64];
		lr_fmt(path, sizeof(path), "/proc/%d/ns/user", (int)keeper);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		unsigned long long start = proc_start_time(keeper);
		if (fd < 0 || start == 0)
			r = -ESRCH;
		else
			r = write_record(rootfd, keeper, start);
		if (r < 0)
			lr_fmt(err, errlen, "cannot keep the user namespace: %s",
				 strerror(-r));
	}
	if (r == 0 && write(go[1], "m", 1) != 1)
		r = -EIO;
	close(go[1]); /* without the byte, the keeper ends */
	if (r < 0 && fd >= 0)
		close(fd);
	return r < 0 ? r : fd;
}

int userns_keeper_join(int rootfd, const struct idmap_plan *p, bool may_start,
		       char *err, size_t errlen)
{
	int lock = lock_keeper(rootfd, may_start);
	if (lock < 0) {
		if (lock == -ENOENT && !may_start)
			return -ENOENT;
		lr_fmt(err, errlen, "cannot lock '%s' in the state root: %s",
		       USERNS_KEEPER_LOCK, strerror(-lock));
		return lock;
	}
	int fd = open_recorded(rootfd, p);
	if (fd >= 0)
		utimensat(rootfd, USERNS_KEEPER_FILE, NULL,
			  AT_SYMLINK_NOFOLLOW); /* used now: not idle */
	else if (may_start)
		fd = start_keeper(rootfd, p, err, errlen);
	else
		fd = -ENOENT;
	close(lock);
	return fd;
}
