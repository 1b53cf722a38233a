/*
 * --ulimit NAME=SOFT[:HARD], podman's spelling: NAME is a resource
 * (nofile, nproc, core, memlock, stack, ...), SOFT and HARD numbers or
 * -1 / unlimited, HARD the same as SOFT when left out.  The container's
 * command gets them (payload.c), in `run` and in `exec`.
 */
#ifndef LR_ULIMIT_H
#define LR_ULIMIT_H

#include <stddef.h>
#include <sys/resource.h>

struct ulimit {
	int resource; /* RLIMIT_* */
	struct rlimit limit;
};

/* Checks SPEC and, when OUT is not NULL, fills it.  0, or -EINVAL with
 * one line in err. */
int ulimit_parse(const char *spec, struct ulimit *out, char *err,
		 size_t errlen);

/* Which of the limits ulimits_apply sets. */
enum ulimit_which {
	ULIMIT_BUT_NOFILE, /* with the other identity steps */
	ULIMIT_NOFILE,	   /* last, once the command's fds are in place */
};

/* Sets those of SPECS that WHICH names on the calling process.  Raising
 * a hard limit needs CAP_SYS_RESOURCE in the host's user namespace,
 * which no container has: no limit goes above the one layerrun was
 * started with.  0 or -errno, one line in err. */
int ulimits_apply(char *const *specs, size_t n, enum ulimit_which which,
		  char *err, size_t errlen);

#endif
