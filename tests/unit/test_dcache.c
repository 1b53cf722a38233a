/* A directory's listing as a hash index: names found and not found, names
 * that share a hash, the index after readdir's sort, and a listing past
 * the records whose slots carry hash bits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dcache.h"
#include "readdir_order.h"

static struct drec *add(struct dcache *dc, const char *name, uint32_t hash)
{
	struct drec *r = dcache_add_raw(dc, name, strlen(name), hash);
	assert_non_null(r);
	return r;
}

static void add_many(struct dcache *dc, unsigned n)
{
	char name[32];
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "name-%u", i);
		add(dc, name, dcache_hash(name, strlen(name)));
	}
}

/* Every added name is found as itself; names never added are not. */
static void assert_listing(struct dcache *dc, unsigned n)
{
	char name[32];
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "name-%u", i);
		struct drec *r = dcache_find(dc, name);
		assert_non_null(r);
		assert_string_equal(drec_name(dc, r), name);
		snprintf(name, sizeof(name), "other-%u", i);
		assert_null(dcache_find(dc, name));
	}
}

static void test_found_and_not_found(void **state)
{
	(void)state;
	struct dcache *dc = dcache_new();
	assert_non_null(dc);
	add_many(dc, 20000);
	assert_int_equal(dc->n, 20000);
	assert_listing(dc, 20000);
	dcache_put(dc);
}

/* Names with one hash share the hash bits a slot keeps: each is told
 * from the others by its name. */
static void test_names_sharing_a_hash(void **state)
{
	(void)state;
	struct dcache *dc = dcache_new();
	assert_non_null(dc);
	add(dc, "alpha", 0xabcdef01u);
	add(dc, "beta", 0xabcdef01u);
	add(dc, "gamma", 0x12cdef01u); /* same slot, other hash bits */
	const char *names[] = { "alpha", "beta", "gamma" };
	for (size_t i = 0; i < 3; i++) {
		struct drec *r = dcache_find_len(
			dc, names[i], strlen(names[i]),
			i == 2 ? 0x12cdef01u : 0xabcdef01u);
		assert_non_null(r);
		assert_string_equal(drec_name(dc, r), names[i]);
	}
	assert_null(dcache_find_len(dc, "delta", 5, 0xabcdef01u));
	assert_null(dcache_find_len(dc, "alpha", 5, 0x12cdef01u));
	dcache_put(dc);
}

/* readdir's sort moves the records: the index follows them, and the
 * offsets come in order. */
static void test_index_after_sort(void **state)
{
	(void)state;
	struct dcache *dc = dcache_new();
	assert_non_null(dc);
	add_many(dc, 5000);
	readdir_order_sort(dc);
	assert_int_equal(dc->nsorted, 5000);
	for (uint32_t i = 1; i < dc->n; i++)
		assert_true(readdir_offset(dc, &dc->recs[i - 1]) <
			    readdir_offset(dc, &dc->recs[i]));
	assert_listing(dc, 5000);
	/* Every offset finds the record after it. */
	for (uint32_t i = 0; i < dc->n; i += 97)
		assert_int_equal(readdir_order_seek(dc, readdir_offset(
							       dc, &dc->recs[i])),
				 i + 1);
	assert_int_equal(readdir_order_seek(dc, 0), 0);
	dcache_put(dc);
}

/* A listing with as many records as a slot's index bits count gives the
 * slots all their bits (16 million records in a real one; the index bits
 * are narrowed here to get there). */
static void test_records_past_the_tagged_index(void **state)
{
	(void)state;
	struct dcache *dc = dcache_new();
	assert_non_null(dc);
	dc->idx_mask = 0xffu;
	add_many(dc, 1000);
	assert_int_equal(dc->idx_mask, UINT32_MAX);
	assert_listing(dc, 1000);
	dcache_put(dc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found_and_not_found),
		cmocka_unit_test(test_names_sharing_a_hash),
		cmocka_unit_test(test_index_after_sort),
		cmocka_unit_test(test_records_past_the_tagged_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
