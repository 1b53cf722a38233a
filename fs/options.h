/*
 * Command line of layerfs: kernel-overlayfs and fuse-overlayfs compatible.
 *
 *   layerfs [-f] [-d] -o lowerdir=A:B[,upperdir=U,workdir=W][,...] MNT
 *   layerfs SOURCE MNT -o ...          (the mount.fuse3 form)
 *
 * Parsing is pure (no filesystem access) so it can be unit tested and
 * fuzzed; checking that the named directories exist is done by layers.c.
 */
#ifndef LFS_OPTIONS_H
#define LFS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "whiteout.h"

/* Exit statuses, documented in --help and the README. */
enum {
	LFS_EXIT_OK = 0,
	LFS_EXIT_USAGE = 1,  /* malformed or unknown option, missing argument */
	LFS_EXIT_LAYER = 2,  /* a layer, upperdir, workdir or mountpoint is unusable */
	LFS_EXIT_MOUNT = 3,  /* the kernel refused the mount */
	LFS_EXIT_RUNTIME = 4 /* the daemon failed after mounting */
};

/* One range of a uidmapping=/gidmapping= list.  The order is
 * fuse-overlayfs's, which containers/storage relies on: the layers hold
 * the container's ids (disk), the mount shows the host's (view). */
struct lfs_idmap_entry {
	uint32_t disk; /* id stored in the layers */
	uint32_t view; /* id seen through the mount */
	uint32_t len;
};

struct lfs_idmap {
	struct lfs_idmap_entry *v;
	size_t n;
};

/* The access-time rule of the mount, as mount(8)'s options name it. */
enum {
	LFS_ATIME_RELATIME,      /* the kernel's default */
	LFS_ATIME_NOATIME,
	LFS_ATIME_STRICTATIME,
};

struct lfs_options {
	char **lower; /* top first */
	size_t nlower;
	char *upper;
	char *work;
	char *init;
	char *source;
	char *mountpoint;

	bool foreground;
	int ready_fd;            /* -1, or: stay, detached, and say when
				    mounted on this descriptor */
	bool debug;
	bool singlethread;
	bool show_help;
	bool show_version;

	bool read_only;          /* "ro" given */
	enum wh_format whiteout; /* format written in the upper layer */
	bool fsync;              /* fsync copy-ups before publishing */
	bool metacopy;           /* metadata-only copy-up */
	bool metacopy_given;     /* metacopy= was on the command line */
	bool redirect_dir;       /* rename merged directories by redirect */
	bool index;              /* keep lower hard links across copy-up */
	bool userxattr;          /* overlay opaque xattr in user.* */
	bool static_nlink;       /* directories always report st_nlink 1 */
	bool noacl;              /* do not enable POSIX ACL support */
	bool noxattrs;           /* xattr requests fail with ENOTSUP */
	bool writeback;          /* kernel writeback cache */
	bool file_handles;       /* OPEN/RELEASE per open file (shared_fd.h) */
	bool passthrough;        /* FUSE passthrough for upper files */
	bool exec_prefetch;      /* programs stored with their open */
	bool io_uring;           /* FUSE over io_uring when the kernel has it */
	bool io_uring_pin;       /* ring workers bound to their queue's CPU */
	bool io_uring_pin_given; /* io_uring_pin= was on the command line */
	unsigned threads;        /* 0: chosen from the CPU count */
	unsigned spin_us;        /* a worker's watch for the next request */
	double timeout;          /* entry and attribute cache timeout, s */
	bool timeout_given;      /* timeout= was on the command line */
	bool udba_reval;         /* udba=reval: lower layers may change */
	unsigned dircache_mib;   /* budget for merged directory listings */
	char *stats_file;
	int xattr_permissions;   /* 0 off, 1 security.*, 2 user.containers.* */
	struct lfs_idmap uidmap;
	struct lfs_idmap gidmap;
	int64_t squash_uid;      /* -1: none */
	int64_t squash_gid;

	/* Generic mount options handed to the kernel through libfuse. */
	char *fuse_opts;
	uint32_t max_read;       /* max_read=, 0: the kernel's default */
	int atime;               /* LFS_ATIME_*: set on the mount (main.c) */
	bool nodiratime;
	bool allow_other;        /* asked for explicitly */
};

/*
 * Parses argv.  On error returns -1 with a one-line message (without the
 * program name) in err.  Accepted-but-ignored compatibility options are
 * counted in *ignored when non-NULL.
 */
int lfs_options_parse(int argc, char **argv, struct lfs_options *o,
		      char *err, size_t errlen);
void lfs_options_free(struct lfs_options *o);

/* The descriptor N of a "/dev/fd/N" mountpoint (libfuse's convention for
 * the /dev/fuse descriptor of a mount its caller made), else -1. */
int lfs_premounted_fd(const char *mountpoint);

/* Parses an id mapping list "disk:view:len[:disk:view:len...]"
 * (also comma separated, also with the stray leading ':' that
 * containers/storage produces).  0 or -1 with err set. */
int lfs_idmap_parse(const char *s, struct lfs_idmap *m, char *err,
		    size_t errlen);

/* Maps an id in the given direction; returns `overflow` when unmapped.
 * An empty map is the identity. */
uint32_t lfs_idmap_to_disk(const struct lfs_idmap *m, uint32_t id,
			   uint32_t overflow);
uint32_t lfs_idmap_to_view(const struct lfs_idmap *m, uint32_t id,
			   uint32_t overflow);

/* Splits a colon list with "\:" escapes into a NULL-terminated array. */
int lfs_split_colon_list(const char *s, char ***out, size_t *n);

void lfs_print_help(const char *prog);

#endif
