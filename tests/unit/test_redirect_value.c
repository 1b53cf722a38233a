/* Which redirect values the mount and layertool follow
 * (lib/redirect_value.c): the one rule both hold a hostile layer's
 * marks to. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redirect_value.h"

static void test_paths_from_the_root(void **state)
{
	(void)state;
	assert_true(redirect_path_ok("/a"));
	assert_true(redirect_path_ok("/a/b"));
	assert_true(redirect_path_ok("/.a/..b/...")); /* names, not dots */
	assert_false(redirect_path_ok("a"));        /* not from the root */
	assert_false(redirect_path_ok(""));
	assert_false(redirect_path_ok("/"));        /* an empty name */
	assert_false(redirect_path_ok("//a"));
	assert_false(redirect_path_ok("/a//b"));
	assert_false(redirect_path_ok("/a/"));
	assert_false(redirect_path_ok("/./a"));
	assert_false(redirect_path_ok("/a/.."));
	assert_false(redirect_path_ok("/x/../a"));
}

static void test_name_length(void **state)
{
	(void)state;
	char v[NAME_MAX + 3];
	v[0] = '/';
	memset(v + 1, 'n', NAME_MAX);
	v[NAME_MAX + 1] = 0;
	assert_true(redirect_path_ok(v));
	assert_true(redirect_kernel_value_ok(v + 1));
	v[NAME_MAX + 1] = 'n';
	v[NAME_MAX + 2] = 0;
	assert_false(redirect_path_ok(v));
	assert_false(redirect_kernel_value_ok(v + 1));
}

static void test_kernel_values(void **state)
{
	(void)state;
	/* The kernel also writes a bare name: one in the same parent. */
	assert_true(redirect_kernel_value_ok("a"));
	assert_true(redirect_kernel_value_ok("/a/b"));
	assert_false(redirect_kernel_value_ok(""));
	assert_false(redirect_kernel_value_ok("a/b")); /* a name has no '/' */
	assert_false(redirect_kernel_value_ok("a/"));
	assert_false(redirect_kernel_value_ok("."));
	assert_false(redirect_kernel_value_ok(".."));
	assert_false(redirect_kernel_value_ok("/a/"));
	assert_false(redirect_kernel_value_ok("//a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_from_the_root),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_kernel_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
