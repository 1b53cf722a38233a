/*
 * A scratch directory for the unit tests that make files (test_rmtree,
 * test_tree_walk, test_lower_id): made under $TMPDIR by setup, removed
 * by teardown, and files and chains of directories made in it one
 * descriptor at a time.
 */
#ifndef TEST_SCRATCH_DIR_H
#define TEST_SCRATCH_DIR_H

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rmtree.h"

struct scratch {
	char path[PATH_MAX];
	int fd;
};

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s/lfs-unit-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(s->path))
		return -1;
	s->fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*state = s;
	return s->fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct scratch *s = *state;
	int r = lf_rmtree_at(AT_FDCWD, s->path);
	close(s->fd);
	free(s);
	return r;
}

static void make_file(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A chain of DEPTH directories named "d" below dirfd/name, each with a
 * file "f" when FILES; made with one descriptor at a time. */
static inline void make_chain(int dirfd, const char *name, int depth, bool files)
{
	assert_int_equal(mkdirat(dirfd, name, 0755), 0);
	int cur = openat(dirfd, name, O_RDONLY | O_DIRECTORY);
	assert_true(cur >= 0);
	for (int i = 0; i < depth; i++) {
		if (files)
			make_file(cur, "f", "x");
		assert_int_equal(mkdirat(cur, "d", 0755), 0);
		int next = openat(cur, "d", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(cur);
		cur = next;
	}
	close(cur);
}

#endif
