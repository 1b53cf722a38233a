/* The identity of a lower file (lib/lower_id.c), which index entries
 * record: one file's names and descriptors agree, another file's
 * differs, a symlink is not its target, and a file made with a freed
 * inode number is not the file that had it. */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lower_id.h"
#include "scratch_dir.h"

static void id_of(int dirfd, const char *name, char *out)
{
	int len = lower_id_at(dirfd, name, true, out);
	if (len == 0)
		skip(); /* neither handles nor birth times here */
	assert_true(len > 1);
	assert_int_equal(strlen(out), (size_t)len);
	assert_true(out[0] == 'h' || out[0] == 'b');
}

static void test_names_and_descriptors_agree(void **state)
{
	struct scratch *s = *state;
	make_file(s->fd, "a", "a\n");
	assert_int_equal(linkat(s->fd, "a", s->fd, "b", 0), 0);
	make_file(s->fd, "c", "a\n");
	assert_int_equal(symlinkat("a", s->fd, "s"), 0);
	char a[LOWER_ID_MAX], b[LOWER_ID_MAX], c[LOWER_ID_MAX],
		sl[LOWER_ID_MAX], byfd[LOWER_ID_MAX];
	id_of(s->fd, "a", a);
	id_of(s->fd, "b", b);
	id_of(s->fd, "c", c);
	id_of(s->fd, "s", sl);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, sl); /* the link itself, not its target */
	int fd = openat(s->fd, "a", O_PATH | O_CLOEXEC);
	assert_true(fd >= 0);
	id_of(fd, "", byfd);
	close(fd);
	assert_string_equal(a, byfd);
	fd = openat(s->fd, "s", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	assert_true(fd >= 0);
	id_of(fd, "", byfd);
	close(fd);
	assert_string_equal(sl, byfd);
	assert_int_equal(lower_id_at(s->fd, "missing", true, a), -ENOENT);
	/* Without handles: the birth time, where the filesystem keeps it. */
	int len = lower_id_at(s->fd, "a", false, byfd);
	assert_true(len >= 0);
	if (len > 0)
		assert_int_equal(byfd[0], 'b');
	/* A local filesystem's handles are kept. */
	assert_true(lower_id_handles_kept(s->fd));
}

static void test_reused_inode_number_differs(void **state)
{
	struct scratch *s = *state;
	char old[LOWER_ID_MAX], now[LOWER_ID_MAX], name[32];
	make_file(s->fd, "x", "x\n");
	struct stat st;
	assert_int_equal(fstatat(s->fd, "x", &st, 0), 0);
	id_of(s->fd, "x", old);
	assert_int_equal(unlinkat(s->fd, "x", 0), 0);
	/* Files made until one gets the freed number (kept meanwhile, so
	 * each takes another). */
	for (int i = 0; i < 4000; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		make_file(s->fd, name, "t\n");
		struct stat t;
		assert_int_equal(fstatat(s->fd, name, &t, 0), 0);
		if (t.st_ino == st.st_ino) {
			id_of(s->fd, name, now);
			assert_string_not_equal(old, now);
			return;
		}
	}
	skip(); /* the filesystem did not hand the number out again */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_names_and_descriptors_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_reused_inode_number_differs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
