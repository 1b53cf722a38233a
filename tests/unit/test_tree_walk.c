/* The depth-first walk of lib/tree_walk.c: any depth with a few
 * descriptors, its two paths, and a directory moved under it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "scratch_dir.h"
#include "tree_walk.h"

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static int root_of(struct walk_dirs *root, int dirfd, const char *name,
		   size_t tree)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return walk_dirs_add(root, fd, tree, NULL);
}

/* Walks trees in step down their "d"; the second path starts anew as
 * "else" at RESTART. */
struct chain_walk {
	size_t restart;
	size_t deepest;
	int max_fds;
	size_t entered, left;
	bool paths_ok;
};

struct chain_level {
	bool done;
};

static int chain_enter(struct tree_walk *w, void *data)
{
	struct chain_walk *c = tree_walk_ctx(w);
	size_t depth = tree_walk_depth(w);
	(void)data;
	c->entered++;
	if (depth > c->deepest)
		c->deepest = depth;
	int fds = open_fds();
	if (fds > c->max_fds)
		c->max_fds = fds;
	/* "d/d/.../d", and the second path below its new start. */
	const char *path = tree_walk_path(w), *lpath = tree_walk_lpath(w);
	size_t below = depth > c->restart ? depth - c->restart : 0;
	if (strlen(path) != (depth ? 2 * depth - 1 : 0) ||
	    (depth < c->restart && strcmp(lpath, path)) ||
	    (depth >= c->restart && (strncmp(lpath, "else", 4) ||
				     strlen(lpath) != 4 + 2 * below)))
		c->paths_ok = false;
	return 0;
}

static int chain_step(struct tree_walk *w, void *data)
{
	struct chain_level *l = data;
	struct chain_walk *c = tree_walk_ctx(w);
	if (l->done)
		return 0;
	l->done = true;
	struct walk_dirs sub[2] = { { 0 }, { 0 } };
	for (size_t g = 0; g < 2; g++) {
		struct walk_dirs *dirs = tree_walk_dirs(w, g);
		for (size_t i = 0; i < dirs->n; i++) {
			int r = walk_dirs_open(&sub[g], &dirs->v[i], "d");
			if (r == -ENOENT)
				continue;
			assert_int_equal(r, 0);
		}
	}
	if (!sub[0].n && !sub[1].n)
		return 0;
	bool restart = tree_walk_depth(w) + 1 == c->restart;
	int r = tree_walk_down(w, "d", sub, restart ? "else" : NULL, NULL);
	return r < 0 ? r : 1;
}

static int chain_leave(struct tree_walk *w, void *data)
{
	struct chain_walk *c = tree_walk_ctx(w);
	(void)data;
	c->left++;
	/* Back at this level, its path is its own again. */
	if (strlen(tree_walk_path(w)) !=
	    (tree_walk_depth(w) ? 2 * tree_walk_depth(w) - 1 : 0))
		c->paths_ok = false;
	return 0;
}

static const struct tree_walk_ops chain_ops = {
	.groups = 2,
	.level_size = sizeof(struct chain_level),
	.enter = chain_enter,
	.step = chain_step,
	.leave = chain_leave,
};

static void test_deeper_than_the_stack_and_the_descriptor_limit(void **state)
{
	struct scratch *s = *state;
	const int depth = 20000;
	make_chain(s->fd, "a", depth, false);
	/* The second tree ends far above: its last directory stays open,
	 * nothing below leading back to it. */
	make_chain(s->fd, "b", 10, false);
	struct rlimit old, low = { 64, 64 };
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	struct walk_dirs root[2] = { { 0 }, { 0 } };
	assert_int_equal(root_of(&root[0], s->fd, "a", 0), 0);
	assert_int_equal(root_of(&root[1], s->fd, "b", 1), 0);
	int before = open_fds();
	struct chain_walk c = { .restart = 7, .paths_ok = true };
	int r = tree_walk_run(&chain_ops, &c, root, "", NULL);
	setrlimit(RLIMIT_NOFILE, &old);
	assert_int_equal(r, 0);
	assert_int_equal(c.deepest, depth);
	assert_int_equal(c.entered, depth + 1);
	assert_int_equal(c.left, depth + 1);
	assert_true(c.paths_ok);
	/* One directory per tree, however deep. */
	assert_true(c.max_fds <= before);
}

/* Moves its directory away from under it once at DEPTH 3. */
struct moving {
	int top;
	char failed_at[64];
	int failed_r;
};

static int moving_enter(struct tree_walk *w, void *data)
{
	struct moving *m = tree_walk_ctx(w);
	(void)data;
	if (tree_walk_depth(w) == 3)
		assert_int_equal(renameat(m->top, "d/d/d", m->top, "moved"), 0);
	return 0;
}

static int moving_step(struct tree_walk *w, void *data)
{
	struct chain_level *l = data;
	if (l->done)
		return 0;
	l->done = true;
	int r = tree_walk_down_by_name(w, "d", NULL);
	return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

static void moving_failed(struct tree_walk *w, int r)
{
	struct moving *m = tree_walk_ctx(w);
	m->failed_r = r;
	snprintf(m->failed_at, sizeof(m->failed_at), "%s", tree_walk_path(w));
}

static const struct tree_walk_ops moving_ops = {
	.groups = 1,
	.level_size = sizeof(struct chain_level),
	.enter = moving_enter,
	.step = moving_step,
	.failed = moving_failed,
};

static void test_directory_moved_during_the_walk(void **state)
{
	struct scratch *s = *state;
	make_chain(s->fd, "t", 5, false);
	struct moving m = { .top = openat(s->fd, "t", O_RDONLY | O_DIRECTORY) };
	assert_true(m.top >= 0);
	struct walk_dirs root = { 0 };
	assert_int_equal(root_of(&root, s->fd, "t", 0), 0);
	/* Its ".." is another directory now: the walk stops there. */
	assert_int_equal(tree_walk_run(&moving_ops, &m, &root, "", NULL),
			 -ESTALE);
	assert_int_equal(m.failed_r, -ESTALE);
	assert_string_equal(m.failed_at, "d/d/d");
	close(m.top);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_deeper_than_the_stack_and_the_descriptor_limit,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_directory_moved_during_the_walk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
