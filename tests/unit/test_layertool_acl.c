/*
 * POSIX ACLs of tar members (libarchive's list, as read from GNU tar's
 * and bsdtar's SCHILY.acl.* text) into the kernel's binary xattr form.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acl_xattr.h"

#define ACCESS ARCHIVE_ENTRY_ACL_TYPE_ACCESS
#define DEFAULT ARCHIVE_ENTRY_ACL_TYPE_DEFAULT

static struct archive_entry *entry_with_mode(mode_t mode)
{
	struct archive_entry *e = archive_entry_new();
	assert_non_null(e);
	archive_entry_set_pathname(e, "f");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	return e;
}

static void add(struct archive_entry *e, int type, int perm, int tag,
		int id)
{
	assert_int_equal(archive_entry_acl_add_entry(e, type, perm, tag, id,
						     NULL),
			 ARCHIVE_OK);
}

/* The (tag, perm, id) records of a value, after its version word. */
static void expect_records(const char *v, size_t len, const uint32_t *want,
			   size_t n)
{
	assert_int_equal(len, 4 + n * 8);
	assert_memory_equal(v, "\x02\0\0\0", 4);
	for (size_t i = 0; i < n; i++) {
		uint16_t tag, perm;
		uint32_t id;
		memcpy(&tag, v + 4 + i * 8, 2);
		memcpy(&perm, v + 6 + i * 8, 2);
		memcpy(&id, v + 8 + i * 8, 4);
		assert_int_equal(tag, want[i * 3]);
		assert_int_equal(perm, want[i * 3 + 1]);
		assert_int_equal(id, want[i * 3 + 2]);
	}
}

/* The owner, owning group and other entries come from the mode; named
 * entries are sorted by tag, then id, whatever order the archive gave. */
static void test_access_acl_sorted(void **state)
{
	(void)state;
	struct archive_entry *e = entry_with_mode(0640);
	add(e, ACCESS, 6, ARCHIVE_ENTRY_ACL_GROUP, 77);
	add(e, ACCESS, 4, ARCHIVE_ENTRY_ACL_MASK, -1);
	add(e, ACCESS, 5, ARCHIVE_ENTRY_ACL_USER, 2000);
	add(e, ACCESS, 7, ARCHIVE_ENTRY_ACL_USER, 1000);
	char *v;
	size_t len;
	assert_int_equal(acl_xattr_from_entry(e, ACCESS, &v, &len), 0);
	const uint32_t want[] = {
		0x01, 6, UINT32_MAX, 0x02, 7, 1000, 0x02, 5, 2000,
		0x04, 4, UINT32_MAX, 0x08, 6, 77, 0x10, 4, UINT32_MAX,
		0x20, 0, UINT32_MAX,
	};
	expect_records(v, len, want, 7);
	free(v);
	/* No default ACL here. */
	assert_int_equal(acl_xattr_from_entry(e, DEFAULT, &v, &len), 0);
	assert_null(v);
	archive_entry_free(e);
}

/* The mode alone is no ACL: nothing to set. */
static void test_no_extended_entries(void **state)
{
	(void)state;
	struct archive_entry *e = entry_with_mode(0755);
	char *v;
	size_t len = 1;
	assert_int_equal(acl_xattr_from_entry(e, ACCESS, &v, &len), 0);
	assert_null(v);
	assert_int_equal(len, 0);
	archive_entry_free(e);
}

static void test_default_acl(void **state)
{
	(void)state;
	struct archive_entry *e = entry_with_mode(0755);
	add(e, DEFAULT, 5, ARCHIVE_ENTRY_ACL_OTHER, -1);
	add(e, DEFAULT, 7, ARCHIVE_ENTRY_ACL_USER_OBJ, -1);
	add(e, DEFAULT, 7, ARCHIVE_ENTRY_ACL_MASK, -1);
	add(e, DEFAULT, 5, ARCHIVE_ENTRY_ACL_GROUP_OBJ, -1);
	add(e, DEFAULT, 7, ARCHIVE_ENTRY_ACL_USER, 1234);
	char *v;
	size_t len;
	assert_int_equal(acl_xattr_from_entry(e, DEFAULT, &v, &len), 0);
	const uint32_t want[] = {
		0x01, 7, UINT32_MAX, 0x02, 7, 1234, 0x04, 5, UINT32_MAX,
		0x10, 7, UINT32_MAX, 0x20, 5, UINT32_MAX,
	};
	expect_records(v, len, want, 5);
	free(v);
	archive_entry_free(e);
}

/* What the kernel would refuse is refused here: a named entry without
 * a mask, a default ACL without its owner entry; an id named twice is
 * one entry. */
static void test_invalid_lists(void **state)
{
	(void)state;
	char *v;
	size_t len;
	struct archive_entry *e = entry_with_mode(0644);
	add(e, ACCESS, 4, ARCHIVE_ENTRY_ACL_USER, 5);
	assert_int_equal(acl_xattr_from_entry(e, ACCESS, &v, &len), -EINVAL);
	assert_null(v);
	archive_entry_free(e);

	e = entry_with_mode(0644);
	add(e, ACCESS, 4, ARCHIVE_ENTRY_ACL_USER, 5);
	add(e, ACCESS, 6, ARCHIVE_ENTRY_ACL_USER, 5);
	add(e, ACCESS, 6, ARCHIVE_ENTRY_ACL_MASK, -1);
	/* libarchive keeps one entry per id, the last given. */
	assert_int_equal(acl_xattr_from_entry(e, ACCESS, &v, &len), 0);
	const uint32_t once[] = {
		0x01, 6, UINT32_MAX, 0x02, 6, 5, 0x04, 4, UINT32_MAX,
		0x10, 6, UINT32_MAX, 0x20, 4, UINT32_MAX,
	};
	expect_records(v, len, once, 5);
	free(v);
	archive_entry_free(e);

	e = entry_with_mode(0755);
	add(e, DEFAULT, 5, ARCHIVE_ENTRY_ACL_OTHER, -1);
	add(e, DEFAULT, 5, ARCHIVE_ENTRY_ACL_GROUP_OBJ, -1);
	assert_int_equal(acl_xattr_from_entry(e, DEFAULT, &v, &len), -EINVAL);
	archive_entry_free(e);
}

/* Parsed from the text GNU tar writes, as the tar reader does. */
static void test_from_text(void **state)
{
	(void)state;
	struct archive_entry *e = entry_with_mode(0640);
	assert_int_equal(archive_entry_acl_from_text(
				 e, "user::rw-\nuser:1234:r-x\ngroup::rwx\n"
				    "mask::r--\nother::---\n",
				 ACCESS),
			 ARCHIVE_OK);
	char *v;
	size_t len;
	assert_int_equal(acl_xattr_from_entry(e, ACCESS, &v, &len), 0);
	const uint32_t want[] = {
		0x01, 6, UINT32_MAX, 0x02, 5, 1234, 0x04, 7, UINT32_MAX,
		0x10, 4, UINT32_MAX, 0x20, 0, UINT32_MAX,
	};
	expect_records(v, len, want, 5);
	free(v);
	archive_entry_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_acl_sorted),
		cmocka_unit_test(test_no_extended_entries),
		cmocka_unit_test(test_default_acl),
		cmocka_unit_test(test_invalid_lists),
		cmocka_unit_test(test_from_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
