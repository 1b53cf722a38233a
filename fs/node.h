/*
 * The node table: one node per merged inode the kernel knows about.
 *
 * A node is what a FUSE nodeid points at (the nodeid is the node's
 * address; the root is FUSE_ROOT_ID).  It keeps only its parent and its
 * own name, never a full path, so memory is small and a directory rename
 * touches one node.  Nodes are found by (parent, name) through one hash
 * table (XXH3) and, for hard-linked files, by inode number.
 *
 * Lifetime: `nlookup` counts the kernel's lookups (FUSE_FORGET lowers
 * it), `refs` counts our own references (children, open files, requests
 * in flight).  A node is freed when both reach zero.
 *
 * How a node is reached on disk in a layer (by name, redirect, kept fd
 * or index) is node_reach.h.
 */
#ifndef LFS_NODE_H
#define LFS_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "layerfs.h"

enum node_flag {
	N_MERGED = 1 << 0,      /* directory present in more than one layer */
	N_METACOPY = 1 << 1,    /* upper holds metadata; data is below */
	N_REDIRECT = 1 << 2,    /* renamed directory: ext->redirect */
	N_UNHASHED = 1 << 3,    /* no longer reachable by name */
	N_BELOW = 1 << 4,       /* the name also exists below the upper layer */
	N_INDEXED = 1 << 5,     /* listed by inode number (hard links) */
	N_IMPURE_DONE = 1 << 6, /* parent's upper dir marked impure already */
	N_ORIGIN_SET = 1 << 7,  /* origin xattr recorded in the upper file */
	N_NAME_HEAP = 1 << 8,   /* name lives in its own allocation */
	N_ROOT = 1 << 9,
	N_FREEING = 1 << 10,
	N_IDX_ALIAS = 1 << 11,  /* upper copy is workdir/index/KEY only */
	N_HLINK = 1 << 12,      /* upper copy is an index entry (nlink xattr) */
	N_NOXATTR = 1 << 13,    /* known to carry no visible xattr */
	N_HASXATTR = 1 << 17,   /* known to carry some (xattr_ops.c) */
	N_SHARED_FD = 1 << 14,  /* has an fd in the shared_fd cache */
	/* Directory: whether its upper copy has a default ACL is known
	 * (N_DEFACL_KNOWN), and it has one (N_DEFACL). */
	N_DEFACL_KNOWN = 1 << 15,
	N_DEFACL = 1 << 16,
	/* Writeback cache: a FALLOCATE came, so the kernel has this file's
	 * mtime and ctime to write back (setattr.c, times_written_back). */
	N_TIMES_PENDING = 1 << 18,
	/* Its immutable and append-only flags are known (N_PROT_KNOWN; a
	 * directory's with its mark), and which it has (fileattr.c). */
	N_PROT_KNOWN = 1 << 19,
	N_PROT_IMMUTABLE = 1 << 20,
	N_PROT_APPEND = 1 << 21,
	/* Directory (udba=reval): its merge range moved since its listing
	 * was read, which must be read again (udba_follow_range). */
	N_RELOAD = 1 << 22,
	/* udba=reval: another file took its name behind the mount
	 * (lookup.c); the kernel may still hold it under that name. */
	N_REPLACED = 1 << 23,
	/* Its immutable and append-only flags are being lifted or changed
	 * (fileattr.c): one at a time, and readers meanwhile take those
	 * N_PROT_KNOWN holds. */
	N_PROT_HELD = 1 << 24,
	/* A program's data went to the kernel's page cache with an open
	 * (exec_prefetch.c); later runs find it there. */
	N_PREFETCHED = 1 << 25,
	/* Not a directory: a rename through the mount is changing what its
	 * name holds on disk, and its node has not followed yet
	 * (node_names_moving). */
	N_MOVING = 1 << 26,
};

struct dcache;

/* A redirect kernel overlayfs wrote on a directory it renamed, met in a
 * lower layer: in the layers below `layer` the directory is at `value`,
 * a path from the root ("/a/b") as the layer just below has it (a name
 * in the parent's directory is made one, dirload.c). */
struct lower_redirect {
	uint16_t layer;
	char *value;
};

/* Rarely needed extras, allocated on demand. */
struct node_ext {
	char *redirect;  /* lower path of a redirected directory, "/a/b" */
	/* Directory: kernel redirects of its lower layers, by layer
	 * (dirload.c), each one deciding for the layers below it. */
	struct lower_redirect *lredirs;
	uint16_t nlredirs;
	char *datapath;  /* metacopy: lower path of the data, "/a/f" */
	int data_layer;  /* metacopy: the layer holding it once known, or -1 */
	int64_t data_blocks; /* metacopy: its st_blocks once known, or -1 */
	int orphan_fd;   /* O_PATH on a file that lost its name but is still
			  * open or linked elsewhere (dir.c) */
	uint32_t open_files;
	uint32_t write_files; /* of them, opened for writing (file.c) */
	/* passthrough.h: open handles by mode, and the registered backing
	 * file while any is passthrough. */
	uint32_t pt_opens, cached_opens;
	int32_t backing_id;
	bool backing_lower; /* the backing file is the lower data */
	/* The upper copy was made whole from that lower data while it was
	 * (or before it became) the backing file: read-only opens of the
	 * copy may share it (passthrough_same_data). */
	bool backing_same_data;
	char index_key[40];  /* N_IDX_ALIAS: name in workdir/index */
	struct caps_killed *caps_killed; /* caps_killed.h */
	/* Unhashed nodes are listed so unmount can free them. */
	struct node *oprev, *onext;
	struct node *inext;  /* N_INDEXED: inode-number hash chain */
};

struct node {
	struct node *hnext;     /* (parent, name) hash chain */
	struct node *parent;    /* counted reference */
	uint64_t ino;           /* st_ino shown, stable for the mount */
	atomic_uint nlookup;    /* saturates: a pinned node is never freed */
	atomic_uint refs;
	atomic_uint flags;
	uint32_t hash;
	uint8_t namelen;        /* names are at most NAME_MAX (255) bytes */
	uint8_t inline_cap;     /* name bytes inline_name holds (no NUL) */
	_Atomic uint16_t layer; /* highest layer holding it */
	uint16_t mode;          /* S_IFMT bits */
	uint16_t end;           /* directories: merge stops above this layer */
	struct dcache *dc;      /* directories: merged listing (or NULL) */
	struct node_ext *ext;
	/* The name, or with N_NAME_HEAP a pointer to it (a longer name
	 * after a rename): read it with node_name(). */
	char inline_name[];
};

/* A million cached nodes cost what this struct costs, plus the name and
 * malloc's 8-byte header in 16-byte steps: at 64 bytes a name of up to 7
 * bytes fits an 80-byte chunk and one of up to 23 a 96-byte chunk. */
_Static_assert(sizeof(struct node) == 64, "struct node grew past 64 bytes");

static inline const char *node_name(struct node *n)
{
	if (!(atomic_load_explicit(&n->flags, memory_order_acquire) &
	      N_NAME_HEAP))
		return n->inline_name;
	const char *p;
	memcpy(&p, n->inline_name, sizeof(p));
	return p;
}

/* The inode number shown.  It changes only when a copy-up breaks a
 * lower hard link, or a copy without an origin mark gets a second name
 * (copy_up.h, take_upper_ino), hence the atomic access. */
static inline uint64_t node_ino(const struct node *n)
{
	return __atomic_load_n(&n->ino, __ATOMIC_RELAXED);
}

static inline bool node_is_dir(const struct node *n)
{
	return S_ISDIR(n->mode);
}

static inline unsigned node_flags(struct node *n)
{
	return atomic_load_explicit(&n->flags, memory_order_acquire);
}

static inline void node_set_flag(struct node *n, unsigned f)
{
	atomic_fetch_or_explicit(&n->flags, f, memory_order_acq_rel);
}

static inline void node_clear_flag(struct node *n, unsigned f)
{
	atomic_fetch_and_explicit(&n->flags, ~f, memory_order_acq_rel);
}

static inline int node_layer(struct node *n)
{
	return atomic_load_explicit(&n->layer, memory_order_acquire);
}

static inline void node_set_layer(struct node *n, int layer)
{
	atomic_store_explicit(&n->layer, (uint16_t)layer, memory_order_release);
}

int node_table_init(struct lfs *fs);
void node_table_destroy(struct lfs *fs);

/* The node behind a FUSE nodeid. */
struct node *node_from_ino(struct lfs *fs, fuse_ino_t ino);
fuse_ino_t node_to_ino(struct lfs *fs, struct node *n);

/* Finds the node for (parent, name) and takes a reference; NULL if none. */
struct node *node_find(struct lfs *fs, struct node *parent, const char *name);

/*
 * Whether n is the node hashed under (parent, name).  A hard-linked inode
 * has one node, hashed under one of its names: removing another name must
 * leave it alone.
 */
bool node_named(struct lfs *fs, struct node *n, struct node *parent,
		const char *name);

/*
 * Allocates a node for (parent, name) and inserts it, unless one is already
 * there: then the existing node is returned and `fresh` is freed.  Either
 * way the result carries one reference.
 */
struct node *node_new(struct node *parent, const char *name, uint16_t layer,
		      mode_t mode, uint64_t ino);
struct node *node_insert(struct lfs *fs, struct node *fresh);
/* Frees a node that node_insert never saw. */
void node_discard(struct node *fresh);

/* Hard links: the node already presenting this inode number, referenced. */
struct node *node_find_by_ino(struct lfs *fs, uint64_t ino);
/* The same, the first for which match(node, arg) holds, passing over
 * nodes being freed (match is called with the index's lock held: it
 * may only read the node). */
struct node *node_find_by_ino_if(struct lfs *fs, uint64_t ino,
				 bool (*match)(struct node *n, void *arg),
				 void *arg);
/* Whether any node is in that index (a lookup without hard links can
 * skip it). */
bool node_ino_index_used(struct lfs *fs);
void node_index_ino(struct lfs *fs, struct node *n);
/* Changes the inode number n shows (and where the inode-number index
 * files it): copy_up.h, take_upper_ino. */
void node_set_ino(struct lfs *fs, struct node *n, uint64_t ino);

void node_ref(struct node *n);
void node_unref(struct lfs *fs, struct node *n);
/* The kernel looked the node up `count` more times (or forgot `-count`). */
void node_lookup_inc(struct node *n);
void node_forget(struct lfs *fs, struct node *n, uint64_t count);

/* Detaches (parent, name) from the table: after unlink or rmdir. */
void node_unhash(struct lfs *fs, struct node *n);
/* Takes fd (-1: none) as the way to n's inode once n has lost its name
 * (ext->orphan_fd), or closes it when one was kept first. */
void node_keep_orphan_fd(struct node *n, int fd);
/* Moves a node to a new (parent, name); the caller holds ns_lock
 * exclusively when n is a directory. */
int node_move(struct lfs *fs, struct node *n, struct node *newparent,
	      const char *newname);
/* Swaps the places of two nodes (RENAME_EXCHANGE). */
int node_exchange(struct lfs *fs, struct node *a, struct node *b);

struct node_ext *node_ext(struct node *n);

/* Memory accounting for tests and stats. */
size_t node_count(struct lfs *fs);

#endif
