/* The ids of POSIX ACL xattr values (fs/acl_ids.h): mapped between the
 * layers and the view, and the entries for unmapped ids dropped where
 * that is safe. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "acl_ids.h"

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

static void test_ids_mapped_both_ways(void **state)
{
	(void)state;
	struct lfs_idmap_entry ue = { .disk = 100000, .view = 0, .len = 100 };
	struct lfs_idmap_entry ge = { .disk = 200000, .view = 0, .len = 100 };
	struct lfs_idmap uids = { &ue, 1 }, gids = { &ge, 1 }, none = { 0 };
	assert_true(acl_ids_mapped(&uids, &none));
	assert_false(acl_ids_mapped(&none, &none));
	const struct entry disk[] = {
		{ USER_OBJ, 6, NO_ID }, { USER, 4, 100005 }, { USER, 6, 5 },
		{ GROUP_OBJ, 4, NO_ID }, { GROUP, 4, 200007 },
		{ MASK, 6, NO_ID }, { OTHER, 0, NO_ID },
	};
	const struct entry view[] = {
		{ USER_OBJ, 6, NO_ID }, { USER, 4, 5 }, { USER, 6, UNMAPPED },
		{ GROUP_OBJ, 4, NO_ID }, { GROUP, 4, 7 },
		{ MASK, 6, NO_ID }, { OTHER, 0, NO_ID },
	};
	struct acl_value v, w;
	size_t len = make(&v, disk, 7);
	make(&w, view, 7);
	/* The owner entries carry no id and stay as they are. */
	assert_int_equal(acl_map_ids(&v, len, &uids, &gids, true), 1);
	assert_memory_equal(&v, &w, len);
	/* Back to the disk: the unmapped entry cannot be named there. */
	assert_int_equal(acl_map_ids(&v, len, &uids, &gids, false), 1);
	assert_int_equal(v.e[1].id, 100005);
	assert_int_equal(v.e[4].id, 200007);
	assert_int_equal(acl_map_ids(&v, 3, &uids, &gids, false), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_mapped_acl_unchanged),
		cmocka_unit_test(test_unmapped_entries_dropped),
		cmocka_unit_test(test_group_that_would_gain_refused),
		cmocka_unit_test(test_malformed_values_refused),
		cmocka_unit_test(test_ids_mapped_both_ways),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
