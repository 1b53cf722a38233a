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

#include "scratch_dir.h"

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

static void test_deeper_than_the_descriptor_limit(void **state)
{
	struct scratch *s = *state;
	make_chain(s->fd, "deep", 1000, true);
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
	make_chain(s->fd, "a", 3, true);
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
	make_chain(s->fd, "locked", 4, true);
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
