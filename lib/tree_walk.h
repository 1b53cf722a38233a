/*
 * A depth-first walk of directory trees at any depth: an explicit stack
 * of levels instead of recursion (20,000 levels would overflow a thread's
 * stack), one directory open per tree at a time (lib/walk_dir.h), and
 * the path of the directory walked kept once for all levels.
 *
 * Each level holds some sets of directories (ops->groups: one tree, the
 * layers of a merged directory, a tree and its copy...) and the caller's
 * data (ops->level_size bytes, zeroed: typically the directory's listing
 * and how far it got).  The caller's hooks read a directory when it is
 * entered, take its entries one at a time, going into one with
 * tree_walk_down, and finish it once its entries are done.
 *
 * Besides the path the walk goes down (tree_walk_path: "" for the root,
 * "a/b" below), a second one follows it, which a level may set anew
 * (tree_walk_lpath): the path in the lower layers of a merged directory,
 * which a renamed directory redirects elsewhere.
 */
#ifndef LF_TREE_WALK_H
#define LF_TREE_WALK_H

#include <stddef.h>

#include "name_list.h"
#include "walk_dir.h"

struct tree_walk;

/* From step: the walk is over, and tree_walk_run returns this. */
#define TREE_WALK_STOP 2

struct tree_walk_ops {
	size_t groups;     /* sets of directories per level, at least 1 */
	size_t level_size; /* the caller's data per level */
	/* The directory just entered (the root too), its directories open:
	 * reads what it holds.  May be NULL. */
	int (*enter)(struct tree_walk *w, void *level);
	/* Takes the next entry: 1 when there may be more, 0 when the
	 * directory is done, <0 ends the walk with that error,
	 * TREE_WALK_STOP ends it there (found what it looked for).  Calls
	 * tree_walk_down to go into the entry next. */
	int (*step)(struct tree_walk *w, void *level);
	/* All its entries done, the directory open again: the work that
	 * comes after them.  May be NULL. */
	int (*leave)(struct tree_walk *w, void *level);
	/* Frees what a level's data holds, the level done or not.  May be
	 * NULL. */
	void (*drop)(void *level);
	/* The walk could not go back up to the directory at the current
	 * path (-ESTALE: it moved meanwhile) or ran out of memory: may say
	 * so for the caller.  May be NULL. */
	void (*failed)(struct tree_walk *w, int r);
};

/*
 * Walks from the directories ROOT (ops->groups sets, taken over: closed
 * in the end), whose path is PATH and second path LPATH (NULL: PATH).
 * 0, TREE_WALK_STOP, the first error a hook returned, or -errno of the
 * walk's own.
 */
int tree_walk_run(const struct tree_walk_ops *ops, void *ctx,
		  struct walk_dirs *root, const char *path, const char *lpath);

/* In a hook: what the caller passed to tree_walk_run. */
void *tree_walk_ctx(const struct tree_walk *w);

/* In a hook: set GROUP of the current level's directories, all open. */
struct walk_dirs *tree_walk_dirs(struct tree_walk *w, size_t group);

/* In a hook: the current level's path and second path.  They move as the
 * walk goes: valid until the hook returns. */
const char *tree_walk_path(const struct tree_walk *w);
const char *tree_walk_lpath(const struct tree_walk *w);

/* In a hook: the current level, 0 for the root. */
size_t tree_walk_depth(const struct tree_walk *w);

/* For a failed hook: what went wrong, in a line of at most SIZE bytes
 * ("'/PATH' moved during the walk"). */
void tree_walk_failure(const struct tree_walk *w, int r, char *buf,
		       size_t size);

/* For a hook that could not open or list the directory at PATH (R < 0):
 * "cannot read '/PATH': REASON" in BUF, unless BUF holds a message
 * already or R is an interruption.  Returns R. */
int tree_walk_unreadable(char *buf, size_t size, const char *path, int r);

/*
 * In step: goes into the entry NAME once the hook returns, with the
 * directories DIRS (ops->groups sets, taken over, failure or not).  The
 * second path is LPATH there when given, else the current one with NAME
 * added.  *level (when LEVEL is not NULL) receives the new level's data,
 * for step to fill in.  0 or -ENOMEM.
 */
int tree_walk_down(struct tree_walk *w, const char *name,
		   struct walk_dirs *dirs, const char *lpath, void **level);

/* In step: goes into NAME, a directory in each of the current level's
 * directories (opened by name, never through a symlink).  0 or -errno
 * of the first that fails (ENOTDIR, ELOOP: not a directory there). */
int tree_walk_down_by_name(struct tree_walk *w, const char *name,
			   void **level);

/*
 * The level data most walks keep: the entries of the level's first
 * directory, read at once (sorted: every walk is deterministic), and the
 * next to take.  First in a level's data, tree_walk_names_drop frees it.
 */
struct tree_walk_names {
	struct name_list names;
	size_t next;
};

/* In enter: lists the current level's first directory into L.  0 or
 * -errno. */
int tree_walk_list(struct tree_walk *w, struct tree_walk_names *l);

/* The next entry of L, or NULL when every one was taken. */
const char *tree_walk_next(struct tree_walk_names *l);

/* A drop hook for level data that begins with a struct tree_walk_names. */
void tree_walk_names_drop(void *level);

#endif
