/*
 * Containers on disk: ROOT/NAME/ holds `state` (state_format.h) and,
 * depending on the run, upper/, work/, init/, rootfs/, log and
 * stats.json.  Every read-modify-write of a state file holds an flock
 * on the container's directory, so the monitor recording an exit and a
 * `ps` cleaning a stale entry never lose each other's update.
 */
#ifndef LR_STATE_H
#define LR_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "state_format.h"

/* NAME is 1-64 of [A-Za-z0-9_.-], starting with a letter or digit. */
bool state_name_valid(const char *name);
/* NAME.kept is where rm --keep puts NAME's upper layer: no new
 * container may take such a name. */
bool state_name_is_kept(const char *name);
/* A fresh "lr-" + 8 hex digits name. */
int state_name_generate(char *buf, size_t size);

/* Creates ROOT/NAME (0700): -EEXIST when the name is taken. */
int state_dir_create(int rootfd, const char *name);
/* Opens ROOT/NAME; -ENOENT when there is no such container. */
int state_dir_open(int rootfd, const char *name);

/* The state file in a container's directory. */
#define STATE_FILE "state"

/* Locks the container directory (flock); returns 0 or -errno. */
int state_lock(int dirfd);
void state_unlock(int dirfd);

int state_save(int dirfd, const struct lr_state *st);
int state_load(int dirfd, struct lr_state *st, char *err, size_t errlen);

/* Start time of PID (clock ticks since boot, /proc/PID/stat field 22),
 * 0 when the process does not exist. */
unsigned long long proc_start_time(pid_t pid);
/* True when PID runs and is the process that started at START. */
bool proc_is(pid_t pid, unsigned long long start);

/*
 * Brings a loaded state up to date: a "running" container whose init is
 * gone (the monitor was killed, the machine slept through it) becomes
 * "exited" with an unknown status, and its cgroups are removed.  Saves
 * the state when it changed.  Call with the lock held.
 */
int state_refresh(int dirfd, struct lr_state *st);

/* Removes an ended container's cgroups, ending what is left in them
 * (cgroup_remove_dir).  Those that stay are kept in st->cgroups, each
 * with a warning, for layerrun rm to try again; 0 when all went. */
int state_remove_cgroups(struct lr_state *st);

/* Names of all containers under rootfd, sorted; NULL-terminated. */
int state_list(int rootfd, char ***names, size_t *n);

#endif
