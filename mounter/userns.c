#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lf_common.h"
#include "subid.h"
#include "strfmt.h"

int userns_parse_mode(const char *s, enum userns_mode *out)
{
	if (strcmp(s, "auto") == 0)
		*out = USERNS_AUTO;
	else if (strcmp(s, "single") == 0)
		*out = USERNS_SINGLE;
	else if (strcmp(s, "subid") == 0)
		*out = USERNS_SUBID;
	else if (strcmp(s, "shared") == 0)
		*out = USERNS_SHARED;
	else
		return -EINVAL;
	return 0;
}

const char *userns_mode_name(enum userns_mode m)
{
	switch (m) {
	case USERNS_AUTO:
		return "auto";
	case USERNS_SINGLE:
		return "single";
	case USERNS_SUBID:
		return "subid";
	case USERNS_SHARED:
		return "shared";
	case USERNS_IDENTITY:
		return "identity";
	case USERNS_JOINED:
		return "joined";
	}
	return "?";
}

/* The helper in PATH or in the usual places; NULL when missing. */
static const char *find_helper(const char *name, char *buf, size_t size)
{
	const char *path = getenv("PATH");
	char dirs[4096];
	lr_fmt(dirs, sizeof(dirs), "%s:/usr/bin:/bin:/usr/sbin:/sbin",
		 path ? path : "");
	char *save;
	for (char *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			continue;
		lr_fmt(buf, size, "%s/%s", d, name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int plan_subid(struct idmap_plan *p, uid_t uid, gid_t gid, bool quiet,
		      char *err, size_t errlen)
{
	struct passwd *pw = getpwuid(uid);
	const char *user = pw ? pw->pw_name : NULL;
	char ubuf[PATH_MAX], gbuf[PATH_MAX];
	if (uid != 0 && (!find_helper("newuidmap", ubuf, sizeof(ubuf)) ||
			 !find_helper("newgidmap", gbuf, sizeof(gbuf)))) {
		if (!quiet)
			lr_fmt(err, errlen,
				 "--userns subid needs newuidmap and newgidmap "
				 "(Debian package uidmap); without them use "
				 "--userns single");
		return -ENOENT;
	}
	unsigned long us, uc, gs, gc;
	if (subid_find("/etc/subuid", user, uid, &us, &uc) < 0) {
		if (!quiet)
			lr_fmt(err, errlen,
				 "no subordinate uid range for %s (uid %u) in "
				 "/etc/subuid: add one as root, e.g. 'usermod "
				 "--add-subuids 100000-165535 --add-subgids "
				 "100000-165535 %s', or use --userns single",
				 user ? user : "this user", (unsigned)uid,
				 user ? user : "USER");
		return -ENOENT;
	}
	if (subid_find("/etc/subgid", user, uid, &gs, &gc) < 0) {
		if (!quiet)
			lr_fmt(err, errlen,
				 "no subordinate gid range for %s (uid %u) in "
				 "/etc/subgid: add one as root, e.g. 'usermod "
				 "--add-subgids 100000-165535 %s', or use "
				 "--userns single",
				 user ? user : "this user", (unsigned)uid,
				 user ? user : "USER");
		return -ENOENT;
	}
	p->mode = USERNS_SUBID;
	p->uid[0] = (struct idmap_line){ 0, uid, 1 };
	p->uid[1] = (struct idmap_line){ 1, us, uc };
	p->gid[0] = (struct idmap_line){ 0, gid, 1 };
	p->gid[1] = (struct idmap_line){ 1, gs, gc };
	p->nuid = p->ngid = 2;
	p->helper = uid != 0;
	return 0;
}

int userns_plan(enum userns_mode want, struct idmap_plan *p, char *err,
		size_t errlen)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	memset(p, 0, sizeof(*p));
	if (want == USERNS_AUTO) {
		if (uid == 0)
			want = USERNS_IDENTITY;
		else if (plan_subid(p, uid, gid, true, err, errlen) == 0) {
			p->shared = p->helper;
			return 0;
		} else
			want = USERNS_SINGLE;
	}
	switch (want) {
	case USERNS_IDENTITY:
		p->mode = USERNS_IDENTITY;
		p->uid[0] = (struct idmap_line){ 0, 0, 4294967295UL };
		p->gid[0] = p->uid[0];
		p->nuid = p->ngid = 1;
		return 0;
	case USERNS_SINGLE:
		p->mode = USERNS_SINGLE;
		p->uid[0] = (struct idmap_line){ 0, uid, 1 };
		p->gid[0] = (struct idmap_line){ 0, gid, 1 };
		p->nuid = p->ngid = 1;
		p->self_map = true;
		return 0;
	case USERNS_SUBID:
		return plan_subid(p, uid, gid, false, err, errlen);
	case USERNS_SHARED: {
		int r = plan_subid(p, uid, gid, false, err, errlen);
		/* Root writes maps itself: nothing to share. */
		p->shared = r == 0 && p->helper;
		return r;
	}
	default:
		lr_fmt(err, errlen, "unknown user namespace mode");
		return -EINVAL;
	}
}

static void format_map(const struct idmap_line *l, int n, char *buf,
		       size_t size)
{
	size_t used = 0;
	buf[0] = 0;
	for (int i = 0; i < n && used < size; i++)
		used += (size_t)lr_fmt(buf + used, size - used, "%lu %lu %lu\n",
					 l[i].inside, l[i].outside, l[i].count);
}

static int write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];
	if (pid)
		lr_fmt(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	else
		lr_fmt(path, sizeof(path), "/proc/self/%s", file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	return w == (ssize_t)strlen(text) ? 0 : -(w < 0 ? e : EIO);
}

static void explain_map_failure(int e, const char *file, char *err,
				size_t errlen)
{
	char v[32];
	if ((e == -EPERM || e == -EACCES) &&
	    read_small("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
		       v, sizeof(v)) == 0 &&
	    strcmp(v, "1") == 0) {
		lr_fmt(err, errlen,
			 "cannot write %s: %s; AppArmor restricts unprivileged "
			 "user namespaces (kernel.apparmor_restrict_unprivileged_"
			 "userns=1): allow layerrun with an AppArmor profile "
			 "granting 'userns', or as root set that sysctl to 0",
			 file, strerror(-e));
		return;
	}
	lr_fmt(err, errlen, "cannot write %s: %s", file, strerror(-e));
}

/* Starts newuidmap/newgidmap PID with the plan's lines: the helper's
 * pid, or -errno with ERR set. */
static pid_t start_helper(const char *tool, pid_t pid,
			  const struct idmap_line *l, int n, char *err,
			  size_t errlen)
{
	char path[PATH_MAX];
	if (!find_helper(tool, path, sizeof(path))) {
		lr_fmt(err, errlen, "%s is missing (Debian package uidmap)",
			 tool);
		return -ENOENT;
	}
	char args[8][24];
	char *argv[10];
	int a = 0;
	argv[a++] = (char *)tool;
	lr_fmt(args[0], sizeof(args[0]), "%d", (int)pid);
	argv[a++] = args[0];
	for (int i = 0; i < n; i++) {
		lr_fmt(args[1 + 3 * i], 24, "%lu", l[i].inside);
		lr_fmt(args[2 + 3 * i], 24, "%lu", l[i].outside);
		lr_fmt(args[3 + 3 * i], 24, "%lu", l[i].count);
		argv[a++] = args[1 + 3 * i];
		argv[a++] = args[2 + 3 * i];
		argv[a++] = args[3 + 3 * i];
	}
	argv[a] = NULL;
	pid_t c = fork();
	if (c < 0) {
		lr_fmt(err, errlen, "cannot start %s: %s", tool,
			 strerror(errno));
		return -errno;
	}
	if (c == 0) {
		execv(path, argv);
		_exit(127);
	}
	return c;
}

/* Waits for the helper C that start_helper() started; 0 when it wrote
 * its map. */
static int end_helper(const char *tool, pid_t c, char *err, size_t errlen)
{
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	lr_fmt(err, errlen,
		 "%s failed (see its message above); check the ranges in "
		 "/etc/sub%cid and that %s is setuid root",
		 tool, tool[3] == 'u' ? 'u' : 'g', tool);
	return -EPERM;
}

int userns_write_maps(pid_t pid, const struct idmap_plan *p, char *err,
		      size_t errlen)
{
	if (p->helper) {
		/* Both at once: each is a setuid program that takes a
		 * couple of milliseconds to start, and the two maps are
		 * independent (rootless start with --userns subid: 14.2 ->
		 * 12.8 ms). */
		char gerr[512];
		pid_t u = start_helper("newuidmap", pid, p->uid, p->nuid, err,
				       errlen);
		if (u < 0)
			return (int)u;
		pid_t g = start_helper("newgidmap", pid, p->gid, p->ngid, gerr,
				       sizeof(gerr));
		int r = end_helper("newuidmap", u, err, errlen);
		int rg = g < 0 ? (int)g
			       : end_helper("newgidmap", g, gerr, sizeof(gerr));
		if (r == 0 && rg < 0)
			lr_fmt(err, errlen, "%s", gerr);
		return r < 0 ? r : rg;
	}
	char map[256];
	format_map(p->uid, p->nuid, map, sizeof(map));
	int r = write_proc(pid, "uid_map", map);
	if (r < 0) {
		explain_map_failure(r, "uid_map", err, errlen);
		return r;
	}
	format_map(p->gid, p->ngid, map, sizeof(map));
	r = write_proc(pid, "gid_map", map);
	if (r < 0)
		explain_map_failure(r, "gid_map", err, errlen);
	return r;
}

int userns_map_self(const struct idmap_plan *p, char *err, size_t errlen)
{
	char map[256];
	/* An unprivileged writer may map one gid only after giving up
	 * setgroups(2), or it could drop a group that denies it access. */
	int r = write_proc(0, "setgroups", "deny");
	if (r < 0 && r != -ENOENT) {
		explain_map_failure(r, "setgroups", err, errlen);
		return r;
	}
	format_map(p->uid, p->nuid, map, sizeof(map));
	if ((r = write_proc(0, "uid_map", map)) < 0) {
		explain_map_failure(r, "uid_map", err, errlen);
		return r;
	}
	format_map(p->gid, p->ngid, map, sizeof(map));
	if ((r = write_proc(0, "gid_map", map)) < 0)
		explain_map_failure(r, "gid_map", err, errlen);
	return r;
}

static bool mapped(const struct idmap_line *l, int n, unsigned long id)
{
	for (int i = 0; i < n; i++)
		if (id >= l[i].inside && id - l[i].inside < l[i].count)
			return true;
	return false;
}

bool userns_uid_mapped(const struct idmap_plan *p, unsigned long id)
{
	return p->mode == USERNS_JOINED || mapped(p->uid, p->nuid, id);
}

bool userns_gid_mapped(const struct idmap_plan *p, unsigned long id)
{
	return p->mode == USERNS_JOINED || mapped(p->gid, p->ngid, id);
}

void userns_explain_clone(int e, char *err, size_t errlen)
{
	char v[32];
	if (e == EPERM &&
	    read_small("/proc/sys/kernel/unprivileged_userns_clone", v,
		       sizeof(v)) == 0 &&
	    strcmp(v, "0") == 0) {
		lr_fmt(err, errlen,
			 "cannot create a user namespace: unprivileged user "
			 "namespaces are disabled (kernel.unprivileged_userns_"
			 "clone=0); as root: sysctl -w "
			 "kernel.unprivileged_userns_clone=1");
	} else if (e == EPERM &&
		   read_small("/proc/sys/kernel/apparmor_restrict_unprivileged_"
			      "userns",
			      v, sizeof(v)) == 0 &&
		   strcmp(v, "1") == 0) {
		lr_fmt(err, errlen,
			 "cannot create a user namespace: AppArmor restricts "
			 "them (kernel.apparmor_restrict_unprivileged_userns=1)"
			 "; allow layerrun with a profile granting 'userns', or "
			 "as root set that sysctl to 0");
	} else if (e == EPERM) {
		lr_fmt(err, errlen,
			 "cannot create a user namespace: Operation not "
			 "permitted (a seccomp filter or security module of an "
			 "outer sandbox forbids it)");
	} else if (e == ENOSPC &&
		   read_small("/proc/sys/user/max_user_namespaces", v,
			      sizeof(v)) == 0 &&
		   strcmp(v, "0") == 0) {
		lr_fmt(err, errlen,
			 "cannot create a user namespace: they are disabled "
			 "(user.max_user_namespaces=0); as root: sysctl -w "
			 "user.max_user_namespaces=15000");
	} else if (e == ENOSPC) {
		lr_fmt(err, errlen,
			 "cannot create a user namespace: the limit of "
			 "user.max_user_namespaces or the nesting depth of 32 "
			 "is reached");
	} else if (e == EINVAL &&
		   read_small("/sys/module/user_namespace/parameters/enable", v,
			      sizeof(v)) == 0 &&
		   v[0] == 'N') {
		lr_fmt(err, errlen,
			 "cannot create a user namespace: they are disabled at "
			 "boot (user_namespace.enable=0 on the kernel command "
			 "line)");
	} else if (e == EINVAL) {
		lr_fmt(err, errlen,
			 "cannot create a user namespace: this kernel has no "
			 "user namespace support (CONFIG_USER_NS)");
	} else {
		lr_fmt(err, errlen, "cannot create the container's "
			 "namespaces: %s", strerror(e));
	}
}

int userns_to_state(const struct idmap_plan *p, struct lr_state *st)
{
	char line[96];
	for (int i = 0; i < p->nuid; i++) {
		lr_fmt(line, sizeof(line), "%lu %lu %lu", p->uid[i].inside,
			 p->uid[i].outside, p->uid[i].count);
		if (lr_strv_push(&st->uidmap, line) < 0)
			return -ENOMEM;
	}
	for (int i = 0; i < p->ngid; i++) {
		lr_fmt(line, sizeof(line), "%lu %lu %lu", p->gid[i].inside,
			 p->gid[i].outside, p->gid[i].count);
		if (lr_strv_push(&st->gidmap, line) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse_lines(const struct lr_strv *v, struct idmap_line *l, int *n)
{
	*n = 0;
	for (size_t i = 0; i < v->n && i < 2; i++) {
		if (sscanf(v->v[i], "%lu %lu %lu", &l[i].inside, &l[i].outside,
			   &l[i].count) != 3)
			return -EINVAL;
		(*n)++;
	}
	return *n > 0 ? 0 : -EINVAL;
}

int userns_from_state(const struct lr_state *st, struct idmap_plan *p)
{
	memset(p, 0, sizeof(*p));
	const char *m = st->userns ? st->userns : "";
	if (strcmp(m, "identity") == 0)
		p->mode = USERNS_IDENTITY;
	else if (strcmp(m, "single") == 0)
		p->mode = USERNS_SINGLE;
	else if (strcmp(m, "subid") == 0)
		p->mode = USERNS_SUBID;
	else
		return -EINVAL;
	if (parse_lines(&st->uidmap, p->uid, &p->nuid) < 0 ||
	    parse_lines(&st->gidmap, p->gid, &p->ngid) < 0)
		return -EINVAL;
	p->self_map = p->mode == USERNS_SINGLE;
	p->helper = p->mode == USERNS_SUBID && geteuid() != 0;
	return 0;
}

int userns_enter_like(const struct idmap_plan *p, char *err, size_t errlen)
{
	if (p->mode == USERNS_IDENTITY)
		return 0; /* root: ids are the host's already */
	if (p->self_map) {
		if (unshare(CLONE_NEWUSER) < 0) {
			userns_explain_clone(errno, err, errlen);
			return -errno;
		}
		return userns_map_self(p, err, errlen);
	}
	/* A multi-line map must be written from the parent namespace: a
	 * child made before unshare() stays there and writes ours. */
	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	pid_t self = getpid();
	pid_t c = fork();
	if (c < 0) {
		int e = errno;
		close(go[0]);
		close(go[1]);
		return -e;
	}
	if (c == 0) {
		close(go[1]);
		char b;
		if (read(go[0], &b, 1) != 1)
			_exit(1);
		char e2[512];
		if (userns_write_maps(self, p, e2, sizeof(e2)) < 0) {
			lf_err("%s", e2);
			_exit(1);
		}
		_exit(0);
	}
	close(go[0]);
	int r = 0;
	if (unshare(CLONE_NEWUSER) < 0) {
		r = -errno;
		userns_explain_clone(errno, err, errlen);
	}
	/* Without a new namespace the helper is told nothing and quits. */
	if (r == 0 && write(go[1], "g", 1) != 1)
		r = -EIO;
	close(go[1]);
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		lr_fmt(err, errlen, "cannot map ids into the new user "
			 "namespace");
		r = -EPERM;
	}
	return r;
}
