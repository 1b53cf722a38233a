/* Dropping the entries of a POSIX ACL xattr value that name ids a
 * rootless daemon's namespace does not map (fs/acl_unmapped.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "acl_unmapped.h"

enum { USER_OBJ = 1, USER = 2, GROUP_OBJ = 4, GROUP = 8, MASK = 16,
       OTHER = 32 };
#define UNMAPPED 0xffffffffu
#define NO_ID 0xffffffffu

struct entry {
	uint16_t tag, perm;
	uint32_t id;
};

/* The kernel's xattr form of entries (this test runs little-endian). */
struct acl_value {
	uint32_t version;
	struct entry e[8];
};

static size_t make(struct acl_value *v, const struct entry *e, size_t n)
{
	v->version = 2;
	memcpy(v->e, e, n * sizeof(*e));
	return 4 + n * sizeof(*e);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(acl_is_acl_name("system.posix_acl_access"));
	assert_true(acl_is_acl_name("system.posix_acl_default"));
	assert_false(acl_is_acl_name("system.posix_acl"));
	assert_false(acl_is_acl_name("user.posix_acl_access"));
}

static void test_mapped_acl_unchanged(void **state)
{
	(void)state;
	const struct entry in[] = {
		{ USER_OBJ, 6, NO_ID }, { USER, 4, 0 }, { USER, 0, 1000 },
		{ GROUP_OBJ, 4, NO_ID }, { GROUP, 0, 7 }, { MASK, 6, NO_ID },
		{ OTHER, 4, NO_ID },
	};
	struct acl_value v, before;
	size_t len = make(&v, in, 7);
	before = v;
	assert_int_equal(acl_drop_unmapped(&v, len), len);
	assert_memory_equal(&v, &before, len);
}

static void test_unmapped_entries_dropped(void **state)
{
	(void)state;
	/* A named user: no caller of the mount can have that id.  A named
	 * group granting at least what "other" grants, after the mask. */
	const struct entry in[] = {
		{ USER_OBJ, 6, NO_ID }, { USER, 0, UNMAPPED }, { USER, 6, 0 },
		{ GROUP_OBJ, 4, NO_ID }, { GROUP, 7, UNMAPPED },
		{ MASK, 5, NO_ID }, { OTHER, 1, NO_ID },
	};
	const struct entry want[] = {
		{ USER_OBJ, 6, NO_ID }, { USER, 6, 0 },
		{ GROUP_OBJ, 4, NO_ID }, { MASK, 5, NO_ID },
		{ OTHER, 1, NO_ID },
	};
	struct acl_value v, w;
	size_t len = make(&v, in, 7), wlen = make(&w, want, 5);
	assert_int_equal(acl_drop_unmapped(&v, len), wlen);
	assert_memory_equal(&v, &w, wlen);
}

static void test_group_that_would_gain_refused(void **state)
{
	(void)state;
	/* group:G:--- with other::r--: a member of G from the host, left
	 * without the entry, would read the file. */
	const struct entry denies[] = {
		{ USER_OBJ, 6, NO_ID }, { GROUP_OBJ, 4, NO_ID },
		{ GROUP, 0, UNMAPPED }, { MASK, 4, NO_ID }, { OTHER, 4, NO_ID },
	};
	struct acl_value v;
	assert_int_equal(acl_drop_unmapped(&v, make(&v, denies, 5)), -EINVAL);
	/* The mask, not the entry, decides what the group has. */
	const struct entry masked[] = {
		{ USER_OBJ, 6, NO_ID }, { GROUP_OBJ, 0, NO_ID },
		{ GROUP, 6, UNMAPPED }, { MASK, 0, NO_ID }, { OTHER, 4, NO_ID },
	};
	assert_int_equal(acl_drop_unmapped(&v, make(&v, masked, 5)), -EINVAL);
}

static void test_malformed_values_refused(void **state)
{
	(void)state;
	const struct entry in[] = { { USER_OBJ, 6, NO_ID }, { OTHER, 4, NO_ID } };
	struct acl_value v;
	size_t len = make(&v, in, 2);
	assert_int_equal(acl_drop_unmapped(&v, 3), -EINVAL);
	assert_int_equal(acl_drop_unmapped(&v, len - 1), -EINVAL);
	v.version = 1;
	assert_int_equal(acl_drop_unmapped(&v, len), -EINVAL);
	v.version = 2;
	assert_int_equal(acl_drop_unmapped(&v, 4), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_mapped_acl_unchanged),
		cmocka_unit_test(test_unmapped_entries_dropped),
		cmocka_unit_test(test_group_that_would_gain_refused),
		cmocka_unit_test(test_malformed_values_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
