/*
 * The directories a depth-first walk holds, one open per tree at a time.
 *
 * The trees walked are often someone else's making (a layer, a
 * container's upper directory) and can be 20,000 levels deep: a walk
 * that kept a descriptor per level would fail at the descriptor limit
 * (often 1,024).  A walk keeps the directories of the level it is at;
 * going down, a directory of the level above is closed when one of the
 * new level's was opened from it by name, and opened again on the way
 * back by "..", checked to be the directory left.  One that nothing was
 * opened from (a layer without the child, the rest of a merged directory
 * whose renamed child is read elsewhere) stays open: a walk holds at
 * most a few per tree.
 */
#ifndef LF_WALK_DIR_H
#define LF_WALK_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct walk_dir {
	int fd;          /* O_RDONLY directory; -1 while the walk is below */
	size_t tree;     /* which of the trees walked (a layer's index) */
	dev_t dev;       /* what fd is, to check the way back to it */
	ino_t ino;
	/* Opened by name from the directory up_dev/up_ino: its "..", by
	 * which that one is found again. */
	bool by_name;
	dev_t up_dev;
	ino_t up_ino;
};

/* Some directories of one level: the layers of a merged directory, top
 * first, or a tree and its copy. */
struct walk_dirs {
	struct walk_dir *v;
	size_t n;
};

/* Adds fd (taken over: closed on failure too) as a directory of TREE;
 * FROM is the directory it was opened from by name, or NULL.  0 or
 * -errno. */
int walk_dirs_add(struct walk_dirs *s, int fd, size_t tree,
		  const struct walk_dir *from);

/* Adds the directory open as fd (opened again, so that a walk may close
 * it: fd stays the caller's) as the root of TREE.  0 or -errno. */
int walk_dirs_open_root(struct walk_dirs *s, int fd, size_t tree);

/* Opens the directory NAME of FROM, never through a symlink, and adds it
 * as a directory of FROM's tree.  0 or -errno (ENOTDIR, ELOOP: not a
 * directory). */
int walk_dirs_open(struct walk_dirs *s, const struct walk_dir *from,
		   const char *name);

/* Moves the directories of MORE to the end of S; MORE is empty after,
 * and on failure (-ENOMEM) closed. */
int walk_dirs_move(struct walk_dirs *s, struct walk_dirs *more);

/* Closes every directory and frees the set; S is empty again. */
void walk_dirs_free(struct walk_dirs *s);

/* Going down from the sets UP to DOWN: closes each directory of UP that
 * one of DOWN was opened from by name. */
void walk_dirs_leave(struct walk_dirs *up, size_t nup,
		     const struct walk_dirs *down, size_t ndown);

/* Back up from DOWN: opens again, by "..", the directories of UP that
 * walk_dirs_leave closed.  0, -ESTALE when one found is not the
 * directory left (it was moved meanwhile), or -errno. */
int walk_dirs_back(struct walk_dirs *up, size_t nup,
		   const struct walk_dirs *down, size_t ndown);

#endif
