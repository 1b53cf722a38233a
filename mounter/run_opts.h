/* The command line of `layerrun run`, parsed but not yet resolved. */
#ifndef LR_RUN_OPTS_H
#define LR_RUN_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "cgroup.h"
#include "userns.h"

enum ns_share {
	NS_PRIVATE,   /* a new namespace (the default) */
	NS_HOST,      /* the host's */
	NS_CONTAINER, /* another container's, joined with setns */
};

struct ns_choice {
	enum ns_share share;
	char *container; /* NS_CONTAINER: its name */
};

/* -v binds a host path; --tmpfs (and --read-only's defaults) mounts a
 * new tmpfs (tmpfs.h). */
enum volume_kind { VOL_BIND, VOL_TMPFS };

struct volume {
	enum volume_kind kind;
	char *host; /* VOL_BIND: absolute, resolved on the host */
	char *ctr;  /* absolute, normalised, no ".." */
	bool ro;
	char *tmpfs_opts;    /* VOL_TMPFS: "size=64m,mode=1777" or NULL */
	unsigned int attrs;  /* VOL_TMPFS: MOUNT_ATTR_NOSUID, ... */
	bool copy_up;        /* VOL_TMPFS: start with the image's files */
};

struct add_host {
	char *name;
	char *addr;
};

struct run_opts {
	char *image;         /* IMAGE_DIR, NULL with --lower */
	char **lower;        /* --lower, top first */
	size_t nlower;
	char *upper;
	char **env;          /* -e, as given ("K=V" or "K") */
	size_t nenv;
	char **env_file;     /* the lines of --env-file, which -e overrides */
	size_t nenv_file;
	char *workdir;
	char *user;
	char *hostname;
	char *name;
	char *entrypoint;
	bool detach, interactive, tty, rm, no_pivot, allow_new_privs;
	bool seccomp_unconfined; /* --security-opt seccomp=unconfined */
	char *seccomp_profile;   /* --security-opt seccomp=PROFILE */
	bool read_only;          /* --read-only: the root mount read-only */
	bool read_only_tmpfs;    /* ... with tmpfs on /run, /tmp, /var/tmp */
	uint64_t shm_size;       /* --shm-size in bytes, 0: the default */
	char **ulimits;          /* --ulimit NAME=SOFT[:HARD], checked */
	size_t nulimits;
	struct ns_choice net, pid, ipc, uts;
	enum userns_mode userns;
	struct volume *vols; /* -v and --tmpfs, in the order given */
	size_t nvols;
	char **dns;
	size_t ndns;
	struct add_host *hosts;
	size_t nhosts;
	char **cap_add, **cap_drop;
	size_t ncap_add, ncap_drop;
	struct cg_limits limits;
	char **argv;         /* CMD ARGS..., NULL-terminated, may be empty */
	size_t argc;
	bool help;
};

/* Parses ARGV (argv[0] is "run").  One line in err on failure. */
int run_opts_parse(int argc, char **argv, struct run_opts *o, char *err,
		   size_t errlen);
void run_opts_free(struct run_opts *o);

/* Splits "HOST:CTR[:ro|:rw]" and checks both paths; no ".." in CTR. */
int volume_parse(const char *spec, struct volume *v, char *err,
		 size_t errlen);
/* A bind of HOST at CTR (WHAT names it in errors). */
int volume_bind(const char *what, const char *host, const char *ctr,
		bool ro, struct volume *v, char *err, size_t errlen);
/* The container path of a mount (WHAT names it in errors): normalised
 * into *out (malloc'd); not "/", nothing under /proc. */
int mount_target_parse(const char *what, const char *ctr, char **out,
		       char *err, size_t errlen);
void volume_free(struct volume *v);
/* Appends V to o->vols (taking its strings). */
int volumes_push(struct run_opts *o, struct volume *v);
/* Normalises an absolute container path ("//a/./b/" -> "/a/b"); refuses
 * "..".  Writes into out. */
int ctr_path_normalize(const char *in, char *out, size_t size);

#endif
