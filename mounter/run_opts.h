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

struct volume {
	char *host; /* absolute, resolved on the host */
	char *ctr;  /* absolute, normalised, no ".." */
	bool ro;
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
	char *workdir;
	char *user;
	char *hostname;
	char *name;
	char *entrypoint;
	bool detach, interactive, tty, rm, no_pivot, allow_new_privs;
	bool seccomp_unconfined; /* --security-opt seccomp=unconfined */
	struct ns_choice net, pid, ipc, uts;
	enum userns_mode userns;
	struct volume *vols;
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
/* Normalises an absolute container path ("//a/./b/" -> "/a/b"); refuses
 * "..".  Writes into out. */
int ctr_path_normalize(const char *in, char *out, size_t size);

#endif
