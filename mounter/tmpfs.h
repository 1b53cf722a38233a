/*
 * --tmpfs CTR[:OPTS] and --read-only's tmpfs mounts, with podman's
 * meaning: a new tmpfs at CTR, by default rw,nosuid,nodev,noexec and
 * holding a copy of what the image has there (tmpcopyup).  They are
 * volumes of their own kind (run_opts.h), mounted in path order with
 * the -v binds (volumes.c).
 */
#ifndef LR_TMPFS_H
#define LR_TMPFS_H

#include <stddef.h>

#include "run_opts.h"

/*
 * OPTS, comma-separated: ro, rw, [no]suid, [no]dev, [no]exec, noatime,
 * relatime, strictatime, [no]tmpcopyup, and size=, nr_blocks=,
 * nr_inodes=, mode=, uid=, gid=, huge= for the kernel.
 */
int tmpfs_parse(const char *spec, struct volume *v, char *err, size_t errlen);
/* The same, from the parts (WHAT names the mount in errors). */
int tmpfs_from(const char *what, const char *ctr, const char *opts,
	       struct volume *v, char *err, size_t errlen);

/* --read-only: writable tmpfs on /run, /tmp and /var/tmp, as podman
 * mounts them, where no -v or --tmpfs already goes. */
int tmpfs_add_read_only_defaults(struct run_opts *o);

/* Mounts V onto its target, made inside the root when missing. */
int tmpfs_mount(int rootfd, const struct volume *v, char *err,
		size_t errlen);

#endif
