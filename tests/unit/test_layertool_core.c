/*
 * layertool's core, without archives: the member-name rules that keep a
 * hostile archive inside its layer, digests, override_stat records,
 * which directories held back by the unpacker a later member removed,
 * and the string set (with values) the unpacker and union listing use.
 */
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "digest.h"
#include "entry_path.h"
#include "index_links.h"
#include "lf_common.h"
#include "lower_id.h"
#include "removed_dirs.h"
#include "strset.h"
#include "tar_writer.h"
#include "whiteout.h"
#include "xattr_policy.h"

static void expect_norm(const char *raw, const char *want)
{
	char out[PATH_MAX];
	assert_int_equal(ep_normalise(raw, out, sizeof(out)), EP_OK);
	assert_string_equal(out, want);
}

static void test_normalise_accepts(void **state)
{
	(void)state;
	expect_norm("etc/passwd", "etc/passwd");
	expect_norm("./etc/passwd", "etc/passwd");
	expect_norm("etc//./passwd/", "etc/passwd");
	expect_norm(".", "");
	expect_norm("./", "");
	expect_norm("..a/b..", "..a/b..");
	expect_norm(".wh..wh..opq", ".wh..wh..opq");
	expect_norm("a/.../b", "a/.../b");
}

static void test_normalise_refuses(void **state)
{
	(void)state;
	char out[PATH_MAX];
	assert_int_equal(ep_normalise("", out, sizeof(out)), EP_EMPTY);
	assert_int_equal(ep_normalise(NULL, out, sizeof(out)), EP_EMPTY);
	assert_int_equal(ep_normalise("/etc/passwd", out, sizeof(out)),
			 EP_ABSOLUTE);
	assert_int_equal(ep_normalise("..", out, sizeof(out)), EP_DOTDOT);
	assert_int_equal(ep_normalise("../x", out, sizeof(out)), EP_DOTDOT);
	assert_int_equal(ep_normalise("a/../b", out, sizeof(out)), EP_DOTDOT);
	assert_int_equal(ep_normalise("a/..", out, sizeof(out)), EP_DOTDOT);
	assert_int_equal(ep_normalise("./a/./../../b", out, sizeof(out)),
			 EP_DOTDOT);

	char name[NAME_MAX + 2];
	memset(name, 'n', NAME_MAX + 1);
	name[NAME_MAX + 1] = 0;
	assert_int_equal(ep_normalise(name, out, sizeof(out)),
			 EP_NAME_TOO_LONG);
	name[NAME_MAX] = 0; /* exactly NAME_MAX is fine */
	assert_int_equal(ep_normalise(name, out, sizeof(out)), EP_OK);

	/* 20 components of 250 bytes: past PATH_MAX. */
	size_t n = 20 * 251;
	char *deep = malloc(n + 1);
	assert_non_null(deep);
	for (size_t i = 0; i < 20; i++) {
		memset(deep + i * 251, 'd', 250);
		deep[i * 251 + 250] = '/';
	}
	deep[n - 1] = 0;
	assert_int_equal(ep_normalise(deep, out, sizeof(out)), EP_TOO_LONG);
	/* A small output buffer is "too long" too, never an overflow. */
	char small[8];
	assert_int_equal(ep_normalise("abcdefghij", small, sizeof(small)),
			 EP_TOO_LONG);
	free(deep);
	assert_string_equal(ep_reason(EP_DOTDOT), "has a '..' component");
}

static bool ep_symlink_stays_inside(const char *link, const char *target)
{
	const char *kept;
	return ep_symlink_clamp(link, target, &kept) == EP_LINK_INSIDE;
}

static void test_symlink_inside(void **state)
{
	(void)state;
	assert_true(ep_symlink_stays_inside("bin/sh", "busybox"));
	assert_true(ep_symlink_stays_inside("bin/sh", "/bin/busybox"));
	assert_true(ep_symlink_stays_inside("usr/lib/x", "../../lib/x"));
	assert_true(ep_symlink_stays_inside("a/b/c", "./../d/../e"));
	assert_true(ep_symlink_stays_inside("top", "."));
	assert_false(ep_symlink_stays_inside("top", ".."));
	assert_false(ep_symlink_stays_inside("usr/lib/x", "../../../etc"));
	assert_false(ep_symlink_stays_inside("a/b", "c/../../../x"));
	assert_false(ep_symlink_stays_inside("x", "../etc/shadow"));
	/* "." and doubled slashes in the link's own path add no depth. */
	assert_false(ep_symlink_stays_inside("./x", "../y"));
	assert_true(ep_symlink_stays_inside(".//a/./x", "../y"));
	assert_false(ep_symlink_stays_inside(".//a/./x", "../../y"));
}

/* Clamped or refused, and what import writes instead. */
static void assert_clamp(const char *link, const char *target,
			 enum ep_link want, const char *want_kept)
{
	const char *kept = NULL;
	assert_int_equal(ep_symlink_clamp(link, target, &kept), want);
	assert_string_equal(kept, want_kept);
}

static void test_symlink_clamp(void **state)
{
	(void)state;
	assert_clamp("usr/bin/sh2", "../../bin/sh", EP_LINK_INSIDE,
		     "../../bin/sh");
	assert_clamp("bin/x", "/abs/../../..", EP_LINK_INSIDE, "/abs/../../..");
	/* Only the leading run climbs past the root: as in the container,
	 * where ".." at "/" stays there. */
	assert_clamp("usr/bin/sh2", "../../../../bin/sh", EP_LINK_CLAMPED,
		     "../../bin/sh");
	assert_clamp("x", "../etc/shadow", EP_LINK_CLAMPED, "etc/shadow");
	assert_clamp("top", "..", EP_LINK_CLAMPED, ".");
	assert_clamp("top", "../../", EP_LINK_CLAMPED, ".");
	assert_clamp("a/top", "./..//../..//x", EP_LINK_CLAMPED, "..//x");
	assert_clamp("h", "../../x", EP_LINK_CLAMPED, "x");
	/* A ".." after another component: that one may be a symlink, so
	 * folding by name would not be exact. */
	assert_clamp("x", "../y/../../z", EP_LINK_ESCAPES, "y/../../z");
	assert_clamp("a/b", "c/../../../x", EP_LINK_ESCAPES, "c/../../../x");
	assert_clamp("a/b", "../c/../../x", EP_LINK_ESCAPES, "../c/../../x");
	assert_clamp("a/b", "../c/../x", EP_LINK_INSIDE, "../c/../x");
}

static void test_resolve_link(void **state)
{
	(void)state;
	char out[PATH_MAX];
	assert_int_equal(ep_resolve_link("a/b/link", "../c/layer.tar", out,
					 sizeof(out)),
			 EP_OK);
	assert_string_equal(out, "a/c/layer.tar");
	assert_int_equal(ep_resolve_link("a/link", "/x/y", out, sizeof(out)),
			 EP_OK);
	assert_string_equal(out, "x/y");
	assert_int_equal(ep_resolve_link("link", "./f", out, sizeof(out)),
			 EP_OK);
	assert_string_equal(out, "f");
	assert_int_equal(ep_resolve_link("a/link", "../../f", out, sizeof(out)),
			 EP_DOTDOT);
}

static void test_shorten(void **state)
{
	(void)state;
	char buf[16];
	ep_shorten("short", buf, sizeof(buf));
	assert_string_equal(buf, "short");
	ep_shorten("abcdefghijklmnopqrstuvwxyz", buf, sizeof(buf));
	assert_int_equal(strlen(buf), 15);
	assert_memory_equal(buf, "abcdef...", 9);
	assert_string_equal(buf + 9, "uvwxyz");
}

static void test_escape_controls(void **state)
{
	(void)state;
	char buf[32];
	assert_int_equal(lf_escape_controls("a\nb\x1b[2J\x7f\u00e9", buf,
					    sizeof(buf)),
			 strlen("a\\x0ab\\x1b[2J\\x7f\u00e9"));
	assert_string_equal(buf, "a\\x0ab\\x1b[2J\\x7f\u00e9");
	lf_escape_controls("a\\x0a", buf, sizeof(buf));
	assert_string_equal(buf, "a\\\\x0a");
	/* Cut before an escape that would not fit whole. */
	char small[6];
	lf_escape_controls("abc\td", small, sizeof(small));
	assert_string_equal(small, "abc");
	lf_escape_controls("x", small, 1);
	assert_string_equal(small, "");
}

static void test_component(void **state)
{
	(void)state;
	assert_true(ep_component_ok("x"));
	assert_false(ep_component_ok(""));
	assert_false(ep_component_ok("."));
	assert_false(ep_component_ok(".."));
	assert_false(ep_component_ok("a/b"));
}

static void test_digest_vectors(void **state)
{
	(void)state;
	char out[DIGEST_STR_MAX];
	digest_buf("", 0, DIGEST_SHA256, out);
	assert_string_equal(out, "sha256:e3b0c44298fc1c149afbf4c8996fb924"
				 "27ae41e4649b934ca495991b7852b855");
	digest_buf("abc", 3, DIGEST_SHA256, out);
	assert_string_equal(out, "sha256:ba7816bf8f01cfea414140de5dae2223"
				 "b00361a396177a9cb410ff61f20015ad");
	digest_buf("abc", 3, DIGEST_SHA512, out);
	assert_string_equal(out,
			    "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a9"
			    "7ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3fe"
			    "ebbd454d4423643ce80e2a9ac94fa54ca49f");
	/* Streaming in pieces gives the same digest. */
	struct digest_ctx c;
	digest_init(&c, DIGEST_SHA256);
	digest_update(&c, "a", 1);
	digest_update(&c, "bc", 2);
	assert_int_equal(c.bytes, 3);
	char again[DIGEST_STR_MAX];
	digest_final(&c, again);
	digest_buf("abc", 3, DIGEST_SHA256, out);
	assert_string_equal(again, out);
}

static void test_digest_parse(void **state)
{
	(void)state;
	const char *good = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396"
			   "177a9cb410ff61f20015ad";
	enum digest_algo a;
	const char *hex;
	assert_int_equal(digest_parse(good, &a, &hex), 0);
	assert_int_equal(a, DIGEST_SHA256);
	assert_string_equal(hex, good + 7);
	/* Names a file: nothing but lowercase hex of the right length. */
	assert_int_equal(digest_parse("sha256:../../etc/passwd", NULL, NULL),
			 -EINVAL);
	assert_int_equal(digest_parse("sha256:BA7816BF8F01CFEA414140DE5DAE2223"
				      "B00361A396177A9CB410FF61F20015AD",
				      NULL, NULL),
			 -EINVAL);
	assert_int_equal(digest_parse("sha256:abc", NULL, NULL), -EINVAL);
	assert_int_equal(digest_parse("sha256", NULL, NULL), -EINVAL);
	assert_int_equal(digest_parse(":abc", NULL, NULL), -EINVAL);
	assert_int_equal(digest_parse("sha256:", NULL, NULL), -EINVAL);
	assert_int_equal(digest_parse("md5:d41d8cd98f00b204e9800998ecf8427e",
				      NULL, NULL),
			 -ENOTSUP);
}

static void test_private_xattrs(void **state)
{
	(void)state;
	assert_true(xattr_is_private("user.layerfs.metacopy"));
	assert_true(xattr_is_private("user.layertool.convert-times"));
	assert_true(xattr_is_private("trusted.overlay.opaque"));
	assert_true(xattr_is_private("user.overlay.redirect"));
	assert_true(xattr_is_private("user.fuseoverlayfs.override_stat"));
	assert_true(xattr_is_private("security.fuseoverlayfs.override_stat"));
	assert_true(xattr_is_private("user.containers.override_stat"));
	/* Hidden by layerfs, so never exported either. */
	assert_true(xattr_is_private("trusted.layerfs.x"));
	assert_true(xattr_is_private("trusted.fuseoverlayfs.x"));
	assert_false(xattr_is_private("user.mime_type"));
	assert_false(xattr_is_private("security.capability"));
	assert_false(xattr_is_private("trusted.md5"));
	assert_true(wh_is_opaque_xattr("user.overlay.opaque"));
	assert_false(wh_is_opaque_xattr("user.overlay.redirect"));
}

/* The names of a directory that lead to lower names of copied-up hard
 * links: each once, in name order, though "a-b" sorts before "a/x". */
static void test_index_link_children(void **state)
{
	(void)state;
	/* Sorted by path, as index_links_load leaves them. */
	struct index_name names[] = {
		{ "a-b", 0, 1 },   { "a.c/q", 0, 2 }, { "a/x", 0, 1 },
		{ "a/y/z", 0, 1 }, { "ab", 0, 1 },    { "b/c/d", 0, 1 },
	};
	struct index_links x = { .index_fd = -1, .names = names,
				 .nnames = 6 };
	char **out;
	size_t n;
	assert_int_equal(index_links_children(&x, "", &out, &n), 0);
	const char *root[] = { "a", "a-b", "a.c", "ab", "b" };
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(out[i], root[i]);
		free(out[i]);
	}
	free(out);
	assert_int_equal(index_links_children(&x, "a", &out, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], "x");
	assert_string_equal(out[1], "y");
	free(out[0]);
	free(out[1]);
	free(out);
	assert_int_equal(index_links_children(&x, "b/c", &out, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "d");
	free(out[0]);
	free(out);
	/* A lower name itself has no children. */
	assert_int_equal(index_links_children(&x, "a/y/z", &out, &n), 0);
	assert_int_equal(n, 0);
	assert_null(out);
	assert_non_null(index_links_name(&x, "a.c/q"));
	assert_int_equal(index_links_name(&x, "a.c/q")->layer, 2);
	assert_null(index_links_name(&x, "a.c"));
	assert_null(index_links_name(&x, "b/c/d/e"));
}

/* A lower name matches an entry by its inode and type (and by its
 * identity when the entry records one: below). */
static void test_index_link_find(void **state)
{
	(void)state;
	struct index_link v[] = {
		{ .dev = 1, .ino = 5, .st = { .st_mode = S_IFREG } },
		{ .dev = 1, .ino = 9, .st = { .st_mode = S_IFLNK } },
		{ .dev = 2, .ino = 5, .st = { .st_mode = S_IFREG } },
	};
	struct index_links x = { .index_fd = -1, .v = v, .n = 3 };
	struct stat st = { .st_dev = 2, .st_ino = 5, .st_mode = S_IFREG,
			   .st_nlink = 2 };
	assert_ptr_equal(index_links_find(&x, AT_FDCWD, "-", &st), &v[2]);
	st.st_nlink = 1; /* one name: never a link of an entry */
	assert_null(index_links_find(&x, AT_FDCWD, "-", &st));
	st = (struct stat){ .st_dev = 1, .st_ino = 9, .st_mode = S_IFREG,
			    .st_nlink = 3 };
	assert_null(index_links_find(&x, AT_FDCWD, "-", &st));
	st.st_mode = S_IFLNK;
	assert_ptr_equal(index_links_find(&x, AT_FDCWD, "-", &st), &v[1]);
	st.st_ino = 7;
	assert_null(index_links_find(&x, AT_FDCWD, "-", &st));
}

/* An entry recorded for another lower file is not this one's, though
 * it has its inode number; one recorded for it is. */
static void test_index_link_find_by_identity(void **state)
{
	(void)state;
	char path[] = "/tmp/lt-lowerid-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	st.st_nlink = 2;
	char id[LOWER_ID_MAX];
	int len = lower_id_at(AT_FDCWD, path, true, id);
	assert_true(len >= 0);
	struct index_link v[] = {
		{ .dev = st.st_dev, .ino = st.st_ino,
		  .st = { .st_mode = S_IFREG }, .lower_id = id },
	};
	struct index_links x = { .index_fd = -1, .v = v, .n = 1 };
	assert_ptr_equal(index_links_find(&x, AT_FDCWD, path, &st), &v[0]);
	char other[] = "h1:00000000";
	v[0].lower_id = other;
	if (len > 0)
		assert_null(index_links_find(&x, AT_FDCWD, path, &st));
	/* Unreadable now: taken as it is. */
	assert_ptr_equal(index_links_find(&x, AT_FDCWD, "/nonexistent-x", &st),
			 &v[0]);
	unlink(path);
}

/* Held-back directories 0..n-1 in the order they were met, against the
 * removals recorded between them. */
/* Values and removals among many keys, so that runs of probed slots
 * form and wrap: every key left must still be found after others of its
 * run went. */
static void test_strset_values_and_removal(void **state)
{
	(void)state;
	struct strset s;
	strset_init(&s);
	assert_null(strset_value(&s, "a"));
	strset_remove(&s, "a"); /* empty: nothing to do */
	enum { N = 2000 };
	char key[32], val[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		if (i % 3)
			assert_int_equal(strset_add(&s, key), 1);
		else
			assert_int_equal(strset_put(&s, key, key), 0);
	}
	assert_int_equal(strset_add(&s, "k1"), 0);
	assert_null(strset_value(&s, "k1"));
	assert_int_equal(strset_put(&s, "k1", "one"), 0);
	assert_string_equal(strset_value(&s, "k1"), "one");
	assert_int_equal(strset_put(&s, "k1", "uno"), 0);
	assert_string_equal(strset_value(&s, "k1"), "uno");
	for (int i = 0; i < N; i += 2) {
		snprintf(key, sizeof(key), "k%d", i);
		strset_remove(&s, key);
	}
	strset_remove(&s, "absent");
	assert_int_equal(s.n, N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(strset_has(&s, key), i % 2 == 1);
		const char *v = strset_value(&s, key);
		if (i == 1) {
			assert_string_equal(v, "uno");
		} else if (i % 2 == 1 && i % 3 == 0) {
			snprintf(val, sizeof(val), "k%d", i);
			assert_string_equal(v, val);
		} else {
			assert_null(v);
		}
	}
	strset_free(&s);
}

/* A fifo put where export's walk saw a regular file: the open must not
 * block waiting for a writer, and the entry is refused. */
static void test_export_open_does_not_block_on_a_fifo(void **state)
{
	(void)state;
	char dir[] = "/tmp/lt-core-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(mkfifoat(dfd, "f", 0644), 0);
	struct stat st;
	assert_int_equal(fstatat(dfd, "f", &st, AT_SYMLINK_NOFOLLOW), 0);
	st.st_mode = S_IFREG | 0644; /* what the walk saw a moment before */
	int out = open("/dev/null", O_WRONLY);
	struct tw_opts o = { 0 };
	struct tar_writer *w;
	char err[300];
	assert_int_equal(tw_open(out, &o, &w, err, sizeof(err)), 0);
	alarm(20); /* before the fix the open blocked for good */
	assert_int_equal(tw_add(w, "f", dfd, "f", &st, -1, err, sizeof(err)),
			 -EAGAIN);
	alarm(0);
	assert_non_null(strstr(err, "replaced"));
	tw_abort(w);
	close(out);
	unlinkat(dfd, "f", 0);
	close(dfd);
	rmdir(dir);
}

static void test_removed_dirs(void **state)
{
	(void)state;
	const char *paths[] = {
		"d",       /* 0 */
		"d/sub",   /* 1 */
		"d!",      /* 2: sorts right after d's subtree, not in it */
		"dd",      /* 3: shares d's prefix, not in it */
		"e/x",     /* 4 */
		"d",       /* 5: made again after the removal of d */
		"d/sub",   /* 6 */
		"e",       /* 7: after e's removal */
		"",        /* 8: the root, never removed */
	};
	size_t n = sizeof(paths) / sizeof(paths[0]);
	bool gone[sizeof(paths) / sizeof(paths[0])];
	struct removed_dirs rd;
	removed_dirs_init(&rd);
	/* None yet: nothing is gone. */
	assert_int_equal(removed_dirs_mark_gone(&rd, paths, n, gone), 0);
	for (size_t i = 0; i < n; i++)
		assert_false(gone[i]);
	assert_int_equal(removed_dirs_add(&rd, "d", 5), 0);
	assert_int_equal(removed_dirs_add(&rd, "e", 7), 0);
	/* An earlier removal of a deeper path changes nothing more. */
	assert_int_equal(removed_dirs_add(&rd, "d/sub", 1), 0);
	assert_int_equal(removed_dirs_mark_gone(&rd, paths, n, gone), 0);
	const bool want[] = { true,  true,  false, false, true,
			      false, false, false, false };
	for (size_t i = 0; i < n; i++)
		assert_int_equal(gone[i], want[i]);
	/* A removal of the inner path after its second making. */
	assert_int_equal(removed_dirs_add(&rd, "d/sub", 7), 0);
	assert_int_equal(removed_dirs_mark_gone(&rd, paths, n, gone), 0);
	assert_true(gone[6]);
	assert_false(gone[5]);
	removed_dirs_free(&rd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise_accepts),
		cmocka_unit_test(test_normalise_refuses),
		cmocka_unit_test(test_symlink_inside),
		cmocka_unit_test(test_symlink_clamp),
		cmocka_unit_test(test_resolve_link),
		cmocka_unit_test(test_shorten),
		cmocka_unit_test(test_component),
		cmocka_unit_test(test_escape_controls),
		cmocka_unit_test(test_digest_vectors),
		cmocka_unit_test(test_digest_parse),
		cmocka_unit_test(test_private_xattrs),
		cmocka_unit_test(test_removed_dirs),
		cmocka_unit_test(test_strset_values_and_removal),
		cmocka_unit_test(test_export_open_does_not_block_on_a_fifo),
		cmocka_unit_test(test_index_link_children),
		cmocka_unit_test(test_index_link_find),
		cmocka_unit_test(test_index_link_find_by_identity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
