/* Removing trees (lib/rmtree.c): deeper than the descriptor limit,
 * through directories we may not read or write, never past a symlink. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rmtree.h"

struct scratch {
	char path[PATH_MAX];
	int fd;
};

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s/lfs-rmtree-XXXXXX",
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

static int count_entries(int dirfd)
{
	int n = 0;
	struct stat st;
	const char *names[] = { "a", "b", "c", "deep", "keep", "locked",
				"link", "outside", "x" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		n += fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0;
	return n;
}

/* A chain of DEPTH directories named "d" below dirfd/name, each with a
 * file; made with one descriptor at a time. */
static void make_chain(int dirfd, const char *name, int depth)
{
	assert_int_equal(mkdirat(dirfd, name, 0755), 0);
	int cur = openat(dirfd, name, O_RDONLY | O_DIRECTORY);
	assert_true(cur >= 0);
	for (int i = 0; i < depth; i++) {
		make_file(cur, "f", "x");
		assert_int_equal(mkdirat(cur, "d", 0755), 0);
		int next = openat(cur, "d", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(cur);
		cur = next;
	}
	close(cur);
}

static void test_deeper_than_the_descriptor_limit(void **state)
{
	struct scratch *s = *state;
	make_chain(s->fd, "deep", 1000);
	struct rlimit old, low = { 64, 64 };
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int r = lf_rmtree_at(s->fd, "deep");
	setrlimit(RLIMIT_NOFILE, &old);
	assert_int_equal(r, 0);
	assert_int_equal(count_entries(s->fd), 0);
}

static void test_contents_keep_one_entry(void **state)
{
	struct scratch *s = *state;
	make_chain(s->fd, "a", 3);
	make_file(s->fd, "keep", "kept");
	make_file(s->fd, "x", "gone");
	assert_int_equal(mkdirat(s->fd, "b", 0755), 0);
	assert_int_equal(lf_rmtree_contents(s->fd, "keep"), 0);
	assert_int_equal(count_entries(s->fd), 1);
	char buf[8] = { 0 };
	int fd = openat(s->fd, "keep", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_string_equal(buf, "kept");
}

static void test_locked_directories_opened_up(void **state)
{
	struct scratch *s = *state;
	make_chain(s->fd, "locked", 4);
	/* Unreadable, unwritable, unsearchable levels, as a container may
	 * leave them (chmod 0, 0500). */
	int a = openat(s->fd, "locked", O_RDONLY | O_DIRECTORY);
	int b = openat(a, "d", O_RDONLY | O_DIRECTORY);
	assert_int_equal(fchmodat(b, "d", 0, 0), 0);
	assert_int_equal(fchmod(b, 0500), 0);
	assert_int_equal(fchmod(a, 0), 0);
	close(b);
	close(a);
	assert_int_equal(lf_rmtree_at(s->fd, "locked"), 0);
	assert_int_equal(count_entries(s->fd), 0);
}

static void test_symlinks_not_followed(void **state)
{
	struct scratch *s = *state;
	assert_int_equal(mkdirat(s->fd, "outside", 0755), 0);
	int out = openat(s->fd, "outside", O_RDONLY | O_DIRECTORY);
	make_file(out, "precious", "keep me");
	assert_int_equal(mkdirat(s->fd, "c", 0755), 0);
	char target[PATH_MAX + 16];
	snprintf(target, sizeof(target), "%s/outside", s->path);
	int c = openat(s->fd, "c", O_RDONLY | O_DIRECTORY);
	assert_int_equal(symlinkat(target, c, "link"), 0);
	assert_int_equal(symlinkat("../outside", c, "rel"), 0);
	close(c);
	assert_int_equal(symlinkat(target, s->fd, "link"), 0);
	assert_int_equal(lf_rmtree_at(s->fd, "c"), 0);
	assert_int_equal(lf_rmtree_at(s->fd, "link"), 0);
	struct stat st;
	assert_int_equal(fstatat(out, "precious", &st, 0), 0);
	close(out);
	assert_int_equal(count_entries(s->fd), 1);
	/* Missing: nothing to do. */
	assert_int_equal(lf_rmtree_at(s->fd, "c"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_deeper_than_the_descriptor_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contents_keep_one_entry,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_locked_directories_opened_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks_not_followed,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
