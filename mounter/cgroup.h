/*
 * Resource limits through cgroups: v2 where it is mounted and the
 * controller is delegated to us, v1 where the host is v1 or hybrid and
 * we may write there.  Each controller is chosen on its own, so a hybrid
 * host with an empty cgroup2 tree uses v1 for every limit.  A limit that
 * cannot be applied is an error naming why, never silently dropped.
 *
 * The container's cgroup is OWN/layerrun/NAME, OWN being the cgroup this
 * process is in (per hierarchy), so a launcher confined to a delegated
 * subtree stays inside it; root's v2 containers go below the top of the
 * tree it sees instead.  A v2 cgroup holding the launcher itself (a
 * delegated scope made for it) is vacated first: the launcher moves to
 * OWN/layerrun.launchers.
 */
#ifndef LR_CGROUP_H
#define LR_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cg_limits {
	uint64_t memory;     /* bytes; 0 = no limit */
	uint64_t cpu_quota;  /* microseconds per cpu_period; 0 = no limit */
	uint64_t cpu_period;
	int64_t pids;        /* 0 = no limit, -1 = unlimited ("max") */
	char *cpuset_cpus;   /* NULL = no limit */
};

struct cgroup_set {
	char **dirs; /* absolute directories made for the container */
	size_t n;
	bool first_is_v2; /* dirs[0] is the v2 cgroup */
};

/* Parses "512k", "64m", "1g", "1048576" (bytes). */
int cg_parse_size(const char *s, uint64_t *out);
/* Parses "1.5" CPUs into a quota for a 100 ms period. */
int cg_parse_cpus(const char *s, uint64_t *quota, uint64_t *period);
/* Checks a cpuset list such as "0-2,4". */
bool cg_cpuset_valid(const char *s);

/*
 * Creates the container's cgroups and writes the limits.  Without
 * limits it still makes a cgroup where it can (for `exec` and the
 * cgroup namespace), quietly doing without when it may not.
 */
int cgroup_setup(const char *name, const struct cg_limits *lim,
		 struct cgroup_set *cg, char *err, size_t errlen);

/* Moves PID into every directory of the set (cgroup.procs). */
int cgroup_enter(char *const *dirs, size_t n, pid_t pid, char *err,
		 size_t errlen);

/* Removes one cgroup directory of an ended container: kills what is
 * left in it, then waits briefly for the last processes to go.  0 when
 * it is gone, else -errno (-EBUSY: a process would not die). */
int cgroup_remove_dir(const char *dir);

void cgroup_set_free(struct cgroup_set *cg);

#endif
