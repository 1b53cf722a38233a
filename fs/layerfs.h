/*
 * The state of one layerfs mount, shared by every module of the daemon.
 *
 * Layers are numbered top first: the upper layer (when there is one) is
 * layer 0, the init layer comes next, then the lower layers in the order
 * lowerdir= gave them.  A node lives in the highest layer holding its name.
 *
 * Lock order (never take a lock to the left while holding one to the
 * right):
 *
 *   rename_mutex -> directory locks (dir_lock_*) -> ns_lock -> table stripes
 *
 * Directory locks are striped rwlocks keyed by the directory node: readers
 * look names up and list, writers load the merged listing or change the
 * directory.  Only rename holds two of them, always in stripe order and
 * under rename_mutex.  ns_lock keeps parent pointers and names stable
 * while a path is built and used; only a directory rename takes it
 * exclusively.
 */
#ifndef LFS_LAYERFS_H
#define LFS_LAYERFS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "options.h"
#include "stats.h"
#include "whiteout.h"

enum layer_kind { LAYER_UPPER, LAYER_INIT, LAYER_LOWER };

struct layer {
	int fd; /* O_PATH | O_DIRECTORY on the layer root */
	enum layer_kind kind;
	dev_t dev;
	uint16_t fsid; /* index of dev among the distinct devices */
	const char *path; /* as given, for messages */
	/* A lower layer where kernel overlayfs's marks were seen, on its
	 * root at mount or on a directory since: paths through it may
	 * follow the kernel's redirects (redirect.h).  Only ever set. */
	bool kernel_marks;
	/* Its file handles name a file for good (lower_id.h). */
	bool handles_kept;
};

struct node;
struct node_table;

/* Names of the private xattrs layerfs keeps in the upper layer. */
#define XATTR_LFS_PREFIX "user.layerfs."
#define XATTR_LFS_ORIGIN XATTR_LFS_PREFIX "origin"     /* st_ino kept */
#define XATTR_LFS_METACOPY XATTR_LFS_PREFIX "metacopy" /* data below */
#define XATTR_LFS_REDIRECT XATTR_LFS_PREFIX "redirect" /* renamed dir */
#define XATTR_LFS_IMPURE XATTR_LFS_PREFIX "impure"     /* has such children */
#define XATTR_LFS_NLINK XATTR_LFS_PREFIX "nlink"       /* index link count */
#define XATTR_LFS_LOWERID XATTR_LFS_PREFIX "lowerid"   /* index: lower file */
#define XATTR_LFS_PROTATTR XATTR_LFS_PREFIX "protattr" /* dir i/a flags */

struct lfs {
	struct lfs_options *opt;

	struct layer *layers;
	uint16_t nlayers;
	int upper;         /* index of the upper layer, or -1 (read-only) */
	int first_lower;   /* index of the first layer below upper/init */
	int workdir_fd;    /* O_PATH of workdir=, or -1 */
	int work_fd;       /* workdir/work: copy-ups not staged unnamed */
	int index_fd;      /* workdir/index: hard-link index, or -1 */
	struct index_state *index; /* index.c's own state, or NULL */
	int workdir_lock_fd; /* flock held for the life of the mount */
	bool mounted_mark; /* made workdir/mounted (layers.c) */
	/* The index's link counts are no lower than the names they count
	 * (workdir/index-checked, lib/workdir.h), and workdir/mounted tells
	 * the next mount of a crash: an entry whose count and upper names
	 * reach none can go (index_release_unused). */
	bool index_counts_trusted;

	/* Inode numbers: st_ino = real_ino | fsid << (64 - ino_bits). */
	unsigned ino_bits;

	/* What the upper filesystem can do, probed at mount. */
	bool upper_xattr;  /* user.* xattrs on files and directories */
	bool can_chown;    /* we may chown (not in a single-id userns) */
	bool close_reports_errors; /* network upper: close() can fail */
	/* How an unnamed (O_TMPFILE) staged copy gets its name, or none. */
	enum { LINK_UNNAMED_NONE, LINK_UNNAMED_EMPTY_PATH,
	       LINK_UNNAMED_PROC } link_unnamed;
	const char *overlay_opaque_xattr; /* for whiteout=overlay */
	atomic_bool wh_unshared; /* no hard links: one inode per whiteout */

	struct node *root;
	struct node_table *nodes;
	pthread_rwlock_t ns_lock;
	pthread_mutex_t rename_mutex;
	atomic_uint_fast64_t tmp_counter;

	struct lfs_stats stats;
	struct fuse_session *se;
	double timeout;
	bool acl;          /* POSIX ACLs enabled with the kernel */
	bool writeback;    /* kernel writeback cache negotiated */
	bool passthrough;  /* FUSE passthrough negotiated (passthrough.h) */
	bool no_opendir;   /* the kernel opens directories without us */
	bool no_open;      /* ... and files (shared_fd.h) */
	/* Set (release) once INIT has settled the flags above, for threads
	 * that no request orders after INIT: the statistics thread. */
	atomic_bool settled;
	uint32_t overflow_uid, overflow_gid;
};

/* The mount's state from a request. */
static inline struct lfs *lfs_from_req(fuse_req_t req)
{
	return (struct lfs *)fuse_req_userdata(req);
}

static inline bool lfs_has_upper(const struct lfs *fs)
{
	return fs->upper >= 0;
}

/* The first layer below the upper one (0 on a read-only mount): where
 * the lower paths this mount records (redirects, metacopy marks) are
 * taken. */
static inline int lfs_below_upper(const struct lfs *fs)
{
	return lfs_has_upper(fs) ? fs->upper + 1 : 0;
}

static inline bool lfs_is_upper(const struct lfs *fs, int layer)
{
	return layer == fs->upper;
}

/* Composes the st_ino shown for a real inode of a layer. */
uint64_t lfs_compose_ino(const struct lfs *fs, int layer, uint64_t real_ino);
/* Same, for an origin recorded as (device, inode); 0 if the device is not
 * one of this mount's layers. */
uint64_t lfs_compose_ino_dev(const struct lfs *fs, dev_t dev, uint64_t ino);

/* Unique name for a staging file in workdir/work. */
void lfs_tmp_name(struct lfs *fs, char *buf, size_t size);

/* Gives the unnamed file fd (O_TMPFILE) the name dirfd/name, as probed
 * at mount (fs->link_unnamed).  -errno on failure. */
int lfs_link_unnamed(struct lfs *fs, int fd, int dirfd, const char *name);

#endif
