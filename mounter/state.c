#include "state.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "lf_common.h"
#include "strfmt.h"

bool state_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64 || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

bool state_name_is_kept(const char *name)
{
	size_t n = strlen(name), k = strlen(".kept");
	return n >= k && strcmp(name + n - k, ".kept") == 0;
}

int state_name_generate(char *buf, size_t size)
{
	unsigned char r[4];
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return -errno;
	lr_fmt(buf, size, "lr-%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
	return 0;
}

int state_dir_create(int rootfd, const char *name)
{
	if (mkdirat(rootfd, name, 0700) < 0)
		return -errno;
	int fd = openat(rootfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int state_dir_open(int rootfd, const char *name)
{
	if (!state_name_valid(name))
		return -ENOENT;
	int fd = openat(rootfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (faccessat(fd, STATE_FILE, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

int state_lock(int dirfd)
{
	return LF_RETRY(flock(dirfd, LOCK_EX)) < 0 ? -errno : 0;
}

void state_unlock(int dirfd)
{
	flock(dirfd, LOCK_UN);
}

int state_save(int dirfd, const struct lr_state *st)
{
	size_t len;
	char *text = lr_state_format(st, &len);
	if (!text)
		return -ENOMEM;
	int r = lf_replace_runtime_file_at(dirfd, STATE_FILE, text, len, 0600);
	free(text);
	return r;
}

int state_load(int dirfd, struct lr_state *st, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int r = lf_read_file_at(dirfd, STATE_FILE, &text, &len);
	if (r < 0) {
		lr_fmt(err, errlen, "cannot read its state: %s", strerror(-r));
		lr_state_init(st);
		return r;
	}
	char perr[200];
	r = lr_state_parse(text, len, st, perr, sizeof(perr));
	free(text);
	if (r < 0)
		lr_fmt(err, errlen, "its state file is damaged (%s)", perr);
	return r;
}

/* Field 22 of a /proc/PID/stat line; 0 for a zombie or a bad line. */
static unsigned long long stat_start_time(const char *buf)
{
	/* comm may hold spaces and parentheses: fields start after the
	 * last ')', P at the space before field 3 (the state).  The start
	 * time is field 22: 19 spaces further. */
	const char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	/* A zombie still has its stat: count it as gone. */
	const char *state = strrchr(buf, ')') + 2;
	if (*state == 'Z' || *state == 'X')
		return 0;
	return strtoull(p + 1, NULL, 10);
}

unsigned long long proc_start_time(pid_t pid)
{
	char path[64], *buf;
	if (pid <= 0)
		return 0;
	lr_fmt(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (lf_read_file_at(AT_FDCWD, path, &buf, NULL) < 0)
		return 0;
	unsigned long long start = stat_start_time(buf);
	free(buf);
	return start;
}

bool proc_is(pid_t pid, unsigned long long start)
{
	unsigned long long now = proc_start_time(pid);
	return now != 0 && (start == 0 || now == start);
}

int state_refresh(int dirfd, struct lr_state *st)
{
	if (strcmp(st->status, "running") != 0 &&
	    strcmp(st->status, "created") != 0)
		return 0;
	if (st->pid > 0 && proc_is(st->pid, st->pid_start))
		return 0;
	/* The monitor records an exit itself; when it is alive it will. */
	if (st->monitor_pid > 0 && proc_is(st->monitor_pid, st->monitor_start))
		return 0;
	free(st->status);
	st->status = strdup("exited");
	st->exit_code = -1;
	st->finished = (long long)time(NULL);
	state_remove_cgroups(st);
	return st->status ? state_save(dirfd, st) : -ENOMEM;
}

int state_remove_cgroups(struct lr_state *st)
{
	struct lr_strv left = { 0 };
	int r = 0;
	for (size_t i = 0; i < st->cgroups.n; i++) {
		int e = cgroup_remove_dir(st->cgroups.v[i]);
		if (e == 0)
			continue;
		lf_warn("cannot remove cgroup '%s' of container %s: %s",
			st->cgroups.v[i], st->name, strerror(-e));
		r = e;
		if (lr_strv_push(&left, st->cgroups.v[i]) < 0)
			r = -ENOMEM;
	}
	lr_strv_free(&st->cgroups);
	st->cgroups = left;
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int state_list(int rootfd, char ***names, size_t *count)
{
	int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	char **v = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!state_name_valid(de->d_name))
			continue;
		char path[PATH_MAX];
		lr_fmt(path, sizeof(path), "%s/%s", de->d_name, STATE_FILE);
		if (faccessat(rootfd, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		char **nv = realloc(v, (n + 2) * sizeof(*nv));
		char *s = nv ? strdup(de->d_name) : NULL;
		if (!s) {
			free(nv ? nv : v);
			closedir(d);
			return -ENOMEM;
		}
		v = nv;
		v[n++] = s;
		v[n] = NULL;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_names);
	*names = v;
	*count = n;
	return 0;
}
