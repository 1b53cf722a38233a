#include "cgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lf_common.h"
#include "mount_util.h"
#include "strfmt.h"

/* ---- parsing limits ---- */

int cg_parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	switch (tolower((unsigned char)*end)) {
	case 0:
		break;
	case 'b':
		break;
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	case 't':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] && !(tolower((unsigned char)end[1]) == 'b' && !end[2]))
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return *out ? 0 : -EINVAL;
}

int cg_parse_cpus(const char *s, uint64_t *quota, uint64_t *period)
{
	char *end;
	if (!*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !(v > 0) || v > 4096)
		return -EINVAL;
	*period = 100000;
	*quota = (uint64_t)(v * 100000.0 + 0.5);
	/* The kernel's minimum quota is 1 ms. */
	return *quota >= 1000 ? 0 : -ERANGE;
}

/* "N" or "N-M" with N <= M, items separated by ',' ("0-2,4"). */
bool cg_cpuset_valid(const char *s)
{
	const char *p = s;
	for (;;) {
		if (!isdigit((unsigned char)*p))
			return false;
		char *e;
		unsigned long lo = strtoul(p, &e, 10), hi = lo;
		if (*e == '-') {
			if (!isdigit((unsigned char)e[1]))
				return false;
			hi = strtoul(e + 1, &e, 10);
		}
		if (hi < lo || lo > 65535 || hi > 65535)
			return false;
		if (*e == 0)
			return true;
		if (*e != ',')
			return false;
		p = e + 1;
	}
}

/* ---- discovery: which hierarchies, where we are in them ---- */

struct hier {
	char mnt[PATH_MAX];  /* where it is mounted */
	char own[PATH_MAX];  /* our cgroup, relative to the hierarchy root */
	bool v2;
	char opts[256];      /* v1: controllers ("cpu,cpuacct") */
};

static bool has_controller(const char *list, const char *c)
{
	size_t n = strlen(c);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && strncmp(p, c, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* Our path in the hierarchy with these controllers (v1) or in v2. */
static bool own_path(bool v2, const char *ctrl, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	char line[PATH_MAX + 128];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		/* "ID:CONTROLLERS:PATH"; v2's line is "0::PATH". */
		*c1 = 0;
		*c2 = 0;
		const char *ctrls = c1 + 1;
		if (v2 ? (strcmp(line, "0") == 0 && !*ctrls)
		       : has_controller(ctrls, ctrl)) {
			lr_fmt(out, size, "%s", c2 + 1);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* Finds the hierarchy for controller CTRL (v1), or the v2 one (NULL). */
static bool find_hier(const char *ctrl, struct hier *h)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *fields[12];
		int n = 0;
		char *save;
		for (char *t = strtok_r(line, " \n", &save); t && n < 12;
		     t = strtok_r(NULL, " \n", &save))
			fields[n++] = t;
		int sep = -1;
		for (int i = 6; i < n; i++)
			if (strcmp(fields[i], "-") == 0) {
				sep = i;
				break;
			}
		if (sep < 0 || sep + 3 >= n)
			continue;
		const char *type = fields[sep + 1];
		const char *super = fields[sep + 3];
		bool v2 = strcmp(type, "cgroup2") == 0;
		if (ctrl ? (strcmp(type, "cgroup") != 0 ||
			    !has_controller(super, ctrl))
			 : !v2)
			continue;
		char root[PATH_MAX];
		lr_fmt(root, sizeof(root), "%s", fields[3]);
		mu_mountinfo_unescape(root);
		lr_fmt(h->mnt, sizeof(h->mnt), "%s", fields[4]);
		mu_mountinfo_unescape(h->mnt);
		h->v2 = v2;
		lr_fmt(h->opts, sizeof(h->opts), "%s", super);
		char own[PATH_MAX];
		if (!own_path(v2, ctrl, own, sizeof(own)))
			continue;
		/* Inside a cgroup namespace or a bind of a subtree, the
		 * mount shows only part of the tree. */
		size_t rl = strlen(root);
		if (strcmp(root, "/") != 0 && strncmp(own, root, rl) == 0)
			memmove(own, own + rl, strlen(own + rl) + 1);
		lr_fmt(h->own, sizeof(h->own), "%s", strcmp(own, "/") ? own : "");
		found = true;
	}
	fclose(f);
	return found;
}

/* ---- small file helpers ---- */

static int write_file(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX];
	lr_fmt(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int r = lf_write_all(fd, val, strlen(val));
	close(fd);
	return r;
}

static int read_file(const char *dir, const char *file, char *buf,
		     size_t size)
{
	char path[PATH_MAX];
	lr_fmt(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static bool file_exists(const char *dir, const char *file)
{
	char path[PATH_MAX];
	lr_fmt(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

static int add_dir(struct cgroup_set *cg, const char *dir)
{
	for (size_t i = 0; i < cg->n; i++)
		if (strcmp(cg->dirs[i], dir) == 0)
			return 0;
	char **nv = realloc(cg->dirs, (cg->n + 2) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	cg->dirs = nv;
	if (!(cg->dirs[cg->n] = strdup(dir)))
		return -ENOMEM;
	cg->dirs[++cg->n] = NULL;
	return 0;
}

void cgroup_set_free(struct cgroup_set *cg)
{
	for (size_t i = 0; i < cg->n; i++)
		free(cg->dirs[i]);
	free(cg->dirs);
	cg->dirs = NULL;
	cg->n = 0;
}

static const char *why(int e)
{
	if (e == -EACCES || e == -EPERM || e == -EROFS)
		return "it is not writable by this user";
	return strerror(-e);
}

/* ---- v2 ---- */

/* True when PID runs the same program file as this process. */
static bool is_layerrun(pid_t pid)
{
	char path[64];
	struct stat self, other;
	lr_fmt(path, sizeof(path), "/proc/%d/exe", (int)pid);
	return stat("/proc/self/exe", &self) == 0 && stat(path, &other) == 0 &&
	       self.st_dev == other.st_dev && self.st_ino == other.st_ino;
}

/*
 * v2 gives controllers to the children of a cgroup only while it holds no
 * process itself (a cgroup holding processes with only threaded
 * controllers such as pids enabled becomes a thread root, whose children
 * can never have controllers either).  The usual delegated cgroup, a
 * systemd scope with Delegate=yes made for this command, holds the
 * launcher: as container engines do there, the launcher moves itself
 * (and, with -d, its waiting parent) into a leaf of its own,
 * DIR/layerrun.launchers.  Other processes in DIR are not ours to move:
 * returns -EBUSY then.  The root of the tree (no cgroup.type) is exempt.
 */
static int v2_vacate(const char *dir)
{
	if (!file_exists(dir, "cgroup.type"))
		return 0;
	char path[PATH_MAX];
	lr_fmt(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	pid_t pids[2];
	int n = 0, others = 0;
	long v;
	while (fscanf(f, "%ld", &v) == 1) {
		pid_t p = (pid_t)v;
		if ((p == getpid() || p == getppid()) && n < 2 &&
		    is_layerrun(p))
			pids[n++] = p;
		else
			others++;
	}
	fclose(f);
	if (others)
		return -EBUSY;
	char leaf[PATH_MAX];
	lr_fmt(leaf, sizeof(leaf), "%s/layerrun.launchers", dir);
	if (n && mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return -errno;
	for (int i = 0; i < n; i++) {
		char val[32];
		lr_fmt(val, sizeof(val), "%d", (int)pids[i]);
		int r = write_file(leaf, "cgroup.procs", val);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Enables CTRLS ("+memory +pids") in DIR's subtree_control, DIR holding
 * no processes (v2_vacate). */
static int v2_enable(const char *dir, const char *ctrls, char *err,
		     size_t errlen)
{
	if (!*ctrls)
		return 0;
	int r = v2_vacate(dir);
	if (r == 0)
		r = write_file(dir, "cgroup.subtree_control", ctrls);
	if (r == -EBUSY)
		lr_fmt(err, errlen,
			 "cgroup v2: cannot enable%s for the containers below "
			 "'%s': that cgroup holds processes other than "
			 "layerrun, and v2 gives controllers only to cgroups "
			 "without them; start layerrun in a cgroup of its own, "
			 "e.g. 'systemd-run --user --scope -p Delegate=yes "
			 "layerrun ...'",
			 ctrls, dir);
	else if (r < 0)
		lr_fmt(err, errlen,
			 "cgroup v2: cannot enable%s below '%s': %s; delegate "
			 "them to this user (systemd: Delegate=yes) or run as "
			 "root",
			 ctrls, dir, why(r));
	return r;
}

/*
 * Where the containers' cgroups go: below the launcher's own cgroup, so
 * an unprivileged launcher stays inside the subtree delegated to it; for
 * root, below the top of the tree it sees (as runc's cgroupfs driver
 * does), since root's own cgroup is usually a login session's scope that
 * holds the shell and so can never give controllers to children.  The
 * same for a v1 hierarchy, where the shared layerrun/ directory left in
 * a session's cgroup kept it from going when the session ended.
 */
static void containers_base(const struct hier *h, char *base, size_t size)
{
	if (geteuid() == 0 && access(h->mnt, W_OK) == 0)
		lr_fmt(base, size, "%s", h->mnt);
	else
		lr_fmt(base, size, "%s%s", h->mnt, h->own);
}

static int v2_setup(const struct hier *h, const char *name,
		    const char *ctrls, bool required, char *leaf,
		    size_t leafsize, char *err, size_t errlen)
{
	char base[PATH_MAX], parent[PATH_MAX];
	containers_base(h, base, sizeof(base));
	lr_fmt(parent, sizeof(parent), "%s/layerrun", base);
	lr_fmt(leaf, leafsize, "%s/%s", parent, name);
	if (access(base, W_OK) < 0) {
		if (!required)
			return -EACCES;
		lr_fmt(err, errlen,
			 "cgroup v2 is not delegated to uid %u: '%s' is not "
			 "writable; run as root or in a delegated cgroup "
			 "('systemd-run --user --scope -p Delegate=yes')",
			 (unsigned)geteuid(), base);
		return -EACCES;
	}
	int r = v2_enable(base, ctrls, err, errlen);
	if (r < 0)
		return r;
	if (mkdir(parent, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		lr_fmt(err, errlen, "cannot create cgroup '%s': %s", parent,
			 strerror(-r));
		return r;
	}
	if ((r = v2_enable(parent, ctrls, err, errlen)) < 0)
		return r;
	if (mkdir(leaf, 0755) < 0) {
		r = -errno;
		lr_fmt(err, errlen, "cannot create cgroup '%s': %s", leaf,
			 strerror(-r));
		return r;
	}
	return 0;
}

/* ---- v1 ---- */

/* A new v1 cpuset has no CPUs and no memory nodes: copy the parent's. */
static int cpuset_inherit(const char *dir)
{
	char parent[PATH_MAX], val[4096];
	lr_fmt(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	static const char *files[] = { "cpuset.cpus", "cpuset.mems" };
	for (size_t i = 0; i < 2; i++) {
		char cur[4096];
		if (read_file(dir, files[i], cur, sizeof(cur)) == 0 && cur[0])
			continue;
		int r = read_file(parent, files[i], val, sizeof(val));
		if (r == 0)
			r = write_file(dir, files[i], val);
		if (r < 0)
			return r;
	}
	return 0;
}

static int v1_setup(const char *ctrl, const char *name, char *leaf,
		    size_t leafsize, char *err, size_t errlen)
{
	struct hier h;
	if (!find_hier(ctrl, &h)) {
		lr_fmt(err, errlen,
			 "no %s controller: neither cgroup v2 nor a cgroup v1 "
			 "hierarchy offers it on this host",
			 ctrl);
		return -ENOENT;
	}
	char base[PATH_MAX], parent[PATH_MAX];
	containers_base(&h, base, sizeof(base));
	lr_fmt(parent, sizeof(parent), "%s/layerrun", base);
	lr_fmt(leaf, leafsize, "%s/%s", parent, name);
	int r = 0;
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0 && strcmp(ctrl, "cpuset") == 0)
		r = cpuset_inherit(parent);
	if (r == 0 && mkdir(leaf, 0755) < 0)
		r = -errno;
	if (r == 0 && strcmp(ctrl, "cpuset") == 0)
		r = cpuset_inherit(leaf);
	if (r < 0)
		lr_fmt(err, errlen,
			 "cgroup v1: cannot create the container's %s cgroup "
			 "in '%s': %s%s",
			 ctrl, base, why(r),
			 geteuid() != 0 ? " (cgroup v1 limits need root; "
					  "rootless limits need a delegated "
					  "cgroup v2)"
					: "");
	return r;
}

/* ---- limits ---- */

struct limit_file {
	const char *file;
	char val[64];
};

static int write_limits(const char *dir, const char *ctrl, bool v2,
			const struct cg_limits *lim, char *err, size_t errlen)
{
	struct limit_file w[3];
	int n = 0;
	if (strcmp(ctrl, "memory") == 0) {
		if (v2) {
			w[n].file = "memory.max";
			lr_fmt(w[n++].val, 64, "%llu",
				 (unsigned long long)lim->memory);
			if (file_exists(dir, "memory.swap.max")) {
				w[n].file = "memory.swap.max";
				lr_fmt(w[n++].val, 64, "0");
			}
		} else {
			w[n].file = "memory.limit_in_bytes";
			lr_fmt(w[n++].val, 64, "%llu",
				 (unsigned long long)lim->memory);
			/* With swap accounting, memory+swap gets the same
			 * limit: the container may not swap beyond it. */
			if (file_exists(dir, "memory.memsw.limit_in_bytes")) {
				w[n].file = "memory.memsw.limit_in_bytes";
				lr_fmt(w[n++].val, 64, "%llu",
					 (unsigned long long)lim->memory);
			}
		}
	} else if (strcmp(ctrl, "cpu") == 0) {
		if (v2) {
			w[n].file = "cpu.max";
			lr_fmt(w[n++].val, 64, "%llu %llu",
				 (unsigned long long)lim->cpu_quota,
				 (unsigned long long)lim->cpu_period);
		} else {
			w[n].file = "cpu.cfs_period_us";
			lr_fmt(w[n++].val, 64, "%llu",
				 (unsigned long long)lim->cpu_period);
			w[n].file = "cpu.cfs_quota_us";
			lr_fmt(w[n++].val, 64, "%llu",
				 (unsigned long long)lim->cpu_quota);
		}
	} else if (strcmp(ctrl, "pids") == 0) {
		w[n].file = "pids.max";
		if (lim->pids < 0)
			lr_fmt(w[n++].val, 64, "max");
		else
			lr_fmt(w[n++].val, 64, "%lld", (long long)lim->pids);
	} else if (strcmp(ctrl, "cpuset") == 0) {
		w[n].file = "cpuset.cpus";
		lr_fmt(w[n++].val, 64, "%s", lim->cpuset_cpus);
	}
	for (int i = 0; i < n; i++) {
		int r = write_file(dir, w[i].file, w[i].val);
		if (r < 0) {
			lr_fmt(err, errlen, "cannot set %s to '%s' in '%s': %s",
				 w[i].file, w[i].val, dir,
				 r == -EINVAL ? "the kernel refused the value"
					      : strerror(-r));
			return r;
		}
	}
	return 0;
}

int cgroup_setup(const char *name, const struct cg_limits *lim,
		 struct cgroup_set *cg, char *err, size_t errlen)
{
	const char *ctrls[4];
	int nc = 0;
	if (lim->memory)
		ctrls[nc++] = "memory";
	if (lim->cpu_quota)
		ctrls[nc++] = "cpu";
	if (lim->pids)
		ctrls[nc++] = "pids";
	if (lim->cpuset_cpus)
		ctrls[nc++] = "cpuset";

	struct hier v2;
	bool have_v2 = find_hier(NULL, &v2);
	char v2ctrls[256] = "", avail[512] = "";
	bool on_v2[4] = { false };
	if (have_v2) {
		char base[PATH_MAX];
		containers_base(&v2, base, sizeof(base));
		read_file(base, "cgroup.controllers", avail, sizeof(avail));
		for (int i = 0; i < nc; i++) {
			/* cgroup.controllers is space separated. */
			char list[512];
			lr_fmt(list, sizeof(list), "%s", avail);
			for (char *p = list; *p; p++)
				if (*p == ' ')
					*p = ',';
			if (has_controller(list, ctrls[i])) {
				on_v2[i] = true;
				size_t l = strlen(v2ctrls);
				lr_fmt(v2ctrls + l, sizeof(v2ctrls) - l,
					 " +%s", ctrls[i]);
			}
		}
	}

	char leaf[PATH_MAX];
	int r = 0;
	if (have_v2) {
		bool required = v2ctrls[0] != 0;
		char e2[512];
		r = v2_setup(&v2, name, v2ctrls, required, leaf, sizeof(leaf),
			     e2, sizeof(e2));
		if (r == 0) {
			r = add_dir(cg, leaf);
			cg->first_is_v2 = r == 0;
		} else if (required) {
			lr_fmt(err, errlen, "%s", e2);
			goto fail;
		} else {
			r = 0; /* membership only: do without */
		}
		for (int i = 0; r == 0 && i < nc; i++)
			if (on_v2[i])
				r = write_limits(leaf, ctrls[i], true, lim, err,
						 errlen);
		if (r < 0)
			goto fail;
	}
	for (int i = 0; i < nc; i++) {
		if (on_v2[i])
			continue;
		r = v1_setup(ctrls[i], name, leaf, sizeof(leaf), err, errlen);
		if (r == 0)
			r = add_dir(cg, leaf);
		if (r == 0)
			r = write_limits(leaf, ctrls[i], false, lim, err, errlen);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	for (size_t i = 0; i < cg->n; i++)
		cgroup_remove_dir(cg->dirs[i]);
	cgroup_set_free(cg);
	cg->first_is_v2 = false;
	return r < 0 ? r : -EINVAL;
}

int cgroup_enter(char *const *dirs, size_t n, pid_t pid, char *err,
		 size_t errlen)
{
	char val[32];
	lr_fmt(val, sizeof(val), "%d", (int)pid);
	for (size_t i = 0; i < n; i++) {
		int r = write_file(dirs[i], "cgroup.procs", val);
		if (r < 0) {
			lr_fmt(err, errlen, "cannot move process %d into "
				 "cgroup '%s': %s", (int)pid, dirs[i],
				 why(r));
			return r;
		}
	}
	return 0;
}

/* Ends every process left in DIR: through cgroup.kill where the kernel
 * has it (v2, Linux 5.14), else with a SIGKILL to each process that
 * cgroup.procs lists, until it lists none (a process may fork meanwhile;
 * a bounded number of rounds). */
static void kill_members(const char *dir)
{
	if (write_file(dir, "cgroup.kill", "1") == 0)
		return;
	char path[PATH_MAX];
	lr_fmt(path, sizeof(path), "%s/cgroup.procs", dir);
	for (int round = 0; round < 100; round++) {
		FILE *f = fopen(path, "re");
		if (!f)
			return;
		long v;
		int n = 0;
		while (fscanf(f, "%ld", &v) == 1) {
			kill((pid_t)v, SIGKILL);
			n++;
		}
		fclose(f);
		if (n == 0)
			return;
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* Removes the cgroups a container made below DIR (one that is root in
 * its cgroup namespace may), their processes killed first, deepest
 * first; a bounded depth. */
static void remove_children(const char *dir, int depth)
{
	DIR *d = depth < 16 ? opendir(dir) : NULL;
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") ||
		    !strcmp(e->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		lr_fmt(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		kill_members(sub);
		remove_children(sub, depth + 1);
		rmdir(sub);
	}
	closedir(d);
}

int cgroup_remove_dir(const char *dir)
{
	/* The last processes of a pid namespace are still being torn down
	 * when its init has been reaped: wait for them a little.  Those no
	 * teardown ends are killed first: the processes of a container
	 * that shared the host's pid namespace (--pid host), of an init
	 * killed before it could end its command's orphans, of an exec.
	 * The container has ended; nothing of it may stay behind.  The
	 * shared layerrun/ directory above stays: removing it would race
	 * with another container being created there. */
	long wait_ns = 100 * 1000, waited_ns = 0;
	bool killed = false;
	while (waited_ns < 2000L * 1000 * 1000) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		if (!killed) {
			kill_members(dir);
			killed = true;
		}
		remove_children(dir, 0);
		/* Usually a millisecond or two: start short, back off. */
		struct timespec ts = { 0, wait_ns };
		nanosleep(&ts, NULL);
		waited_ns += wait_ns;
		if (wait_ns < 5 * 1000 * 1000)
			wait_ns *= 2;
	}
	return -EBUSY;
}
