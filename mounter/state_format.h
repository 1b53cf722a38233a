/*
 * The state file of a container: a small text format, one `key=value`
 * per line after a `layerrun-state 1` header, readable with grep and
 * parsed without a JSON library.  Values are raw bytes with '%', control
 * characters and DEL written as %XX, so any path or argument survives a
 * round trip.  Keys that repeat (env, arg, lower, cgroup, uidmap, gidmap,
 * cap) build lists in order; other keys may appear once.  Unknown keys
 * are ignored, so newer launchers can add fields.
 */
#ifndef LR_STATE_FORMAT_H
#define LR_STATE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define LR_STATE_VERSION 1

struct lr_strv {
	char **v; /* NULL-terminated when n > 0 */
	size_t n;
};

struct lr_state {
	char *name;
	char *status;    /* "created", "running" or "exited" */
	pid_t pid;       /* the container's init, host pid; 0 when none */
	unsigned long long pid_start; /* its start time (proc stat field 22) */
	pid_t monitor_pid;
	unsigned long long monitor_start;
	pid_t daemon_pid; /* the layerfs daemon */
	unsigned long long daemon_start;
	int exit_code;   /* -1 while running or when unknown */
	long long created;  /* seconds since the epoch */
	long long finished; /* 0 while running */
	uid_t owner;     /* host uid that started it */
	char *image;     /* image directory, NULL for --lower */
	struct lr_strv lower; /* the layers as mounted, top first */
	char *upper;
	bool upper_owned; /* made by layerrun under the state directory */
	char *work;
	char *initdir;
	char *rootfs;    /* the mountpoint inside the container's namespace */
	char *log;       /* NULL unless detached */
	char *stats;     /* layerfs statistics file */
	char *userns;    /* "identity", "single", "subid" or "joined" */
	struct lr_strv uidmap; /* "INSIDE OUTSIDE COUNT" lines */
	struct lr_strv gidmap;
	char *user;      /* the command's user as given (-u or the image),
			    resolved again by exec in the container */
	char *workdir;
	char *hostname;
	struct lr_strv env;
	struct lr_strv argv;
	struct lr_strv cgroups; /* absolute cgroup directories */
	struct lr_strv caps;    /* capability names the command keeps */
	struct lr_strv ulimits; /* --ulimit NAME=SOFT[:HARD] (exec too) */
	bool no_new_privs;
	bool seccomp;           /* the filter of seccomp.h (exec applies it too) */
	bool autoremove;        /* run --rm: removed once it has ended, by
				   whichever layerrun sees that first when its
				   monitor could not (lookup.h) */
};

/* Zeroes a state so that lr_state_free() is always safe on it. */
void lr_state_init(struct lr_state *st);
void lr_state_free(struct lr_state *st);

/*
 * Parses LEN bytes of TEXT (need not be NUL-terminated).  On failure
 * returns -EINVAL and writes one line naming the line and the problem
 * into err; *st is then empty.
 */
int lr_state_parse(const char *text, size_t len, struct lr_state *st,
		   char *err, size_t errlen);

/* Serializes ST into a malloc'd NUL-terminated buffer; NULL on ENOMEM. */
char *lr_state_format(const struct lr_state *st, size_t *len);

/* Appends a copy of S to a list; 0 or -ENOMEM. */
int lr_strv_push(struct lr_strv *l, const char *s);
void lr_strv_free(struct lr_strv *l);

#endif
