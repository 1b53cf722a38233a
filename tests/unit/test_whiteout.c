/* Whiteout naming and opaque detection, shared by all three programs. */
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
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "lf_common.h"
#include "override_stat.h"
#include "safe_path.h"
#include "whiteout.h"

static void test_classify(void **state)
{
	(void)state;
	const char *t = NULL;
	assert_int_equal(wh_classify_name("file", &t), WH_NONE);
	assert_int_equal(wh_classify_name(".wh", &t), WH_NONE);
	assert_int_equal(wh_classify_name(".whx", &t), WH_NONE);
	assert_int_equal(wh_classify_name(".wh.foo", &t), WH_WHITEOUT);
	assert_string_equal(t, "foo");
	assert_int_equal(wh_classify_name(".wh..wh..opq", &t), WH_OPAQUE);
	assert_int_equal(wh_classify_name(".wh..wh.plnk", &t), WH_INTERNAL);
	assert_int_equal(wh_classify_name(".wh.", &t), WH_INTERNAL);
	assert_int_equal(wh_classify_name(".wh..", &t), WH_INTERNAL);
	assert_int_equal(wh_classify_name(".wh...", &t), WH_INTERNAL);
	assert_int_equal(wh_classify_name(".wh..hidden", &t), WH_WHITEOUT);
	assert_string_equal(t, ".hidden");
	assert_true(wh_is_reserved(".wh.x"));
	assert_false(wh_is_reserved(".w.x"));
}

static void test_dotwh_name_limits(void **state)
{
	(void)state;
	char buf[NAME_MAX + 1];
	assert_int_equal(wh_dotwh_name(buf, sizeof(buf), "abc"), 0);
	assert_string_equal(buf, ".wh.abc");
	char longname[NAME_MAX + 1];
	memset(longname, 'x', 251);
	longname[251] = 0;
	assert_int_equal(wh_dotwh_name(buf, sizeof(buf), longname), 0);
	longname[251] = 'y';
	longname[252] = 0;
	assert_int_equal(wh_dotwh_name(buf, sizeof(buf), longname),
			 -ENAMETOOLONG);
}

static void test_overlay_whiteout_detection(void **state)
{
	(void)state;
	struct stat st = { .st_mode = S_IFCHR, .st_rdev = makedev(0, 0) };
	assert_true(wh_is_overlay_whiteout(&st));
	st.st_rdev = makedev(1, 3);
	assert_false(wh_is_overlay_whiteout(&st));
	st.st_mode = S_IFREG;
	st.st_rdev = 0;
	assert_false(wh_is_overlay_whiteout(&st));
}

static void test_create_and_opaque_on_disk(void **state)
{
	(void)state;
	char dir[] = "/tmp/lfsunit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(wh_create(fd, "gone", WH_FORMAT_DOTWH), 0);
	assert_int_equal(wh_create(fd, "gone", WH_FORMAT_DOTWH), -EEXIST);
	struct stat st;
	assert_int_equal(fstatat(fd, ".wh.gone", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 0);
	assert_int_equal(wh_make_opaque(fd, WH_FORMAT_DOTWH, NULL), 0);
	assert_int_equal(faccessat(fd, WH_OPAQUE_NAME, F_OK, 0), 0);
	/* xattr form, user namespace (works unprivileged). */
	assert_int_equal(wh_fd_has_opaque_xattr(fd), 0);
	if (fsetxattr(fd, XATTR_USER_OVL_OPAQUE, "y", 1, 0) == 0)
		assert_int_equal(wh_fd_has_opaque_xattr(fd), 1);
	/* "x" marks xwhiteouts, not opacity. */
	if (fsetxattr(fd, XATTR_USER_OVL_OPAQUE, "x", 1, 0) == 0)
		assert_int_equal(wh_fd_has_opaque_xattr(fd), 0);
	if (geteuid() == 0) {
		assert_int_equal(wh_create(fd, "dev", WH_FORMAT_OVERLAY), 0);
		assert_int_equal(fstatat(fd, "dev", &st, AT_SYMLINK_NOFOLLOW),
				 0);
		assert_true(wh_is_overlay_whiteout(&st));
	}
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* The one list of opaque xattrs, and the per-file xwhiteout test
 * layerfs's listing and layertool convert share. */
static void test_opaque_names_and_xwhiteouts(void **state)
{
	(void)state;
	for (size_t i = 0; i < WH_OPAQUE_XATTR_COUNT; i++)
		assert_true(wh_is_opaque_xattr(wh_opaque_xattrs[i]));
	assert_true(wh_is_opaque_xattr(XATTR_FUSE_OVL_OPAQUE));
	assert_false(wh_is_opaque_xattr(XATTR_USER_OVL_WHITEOUT));
	static const char list[] = "user.a\0user.overlay.opaque\0";
	assert_true(wh_xattr_list_has_opaque(list, sizeof(list) - 1));
	assert_false(wh_xattr_list_has_opaque(list, 7));

	char dir[] = "/tmp/lfsunit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	int f = openat(fd, "w", O_WRONLY | O_CREAT, 0644);
	assert_true(f >= 0);
	close(f);
	struct stat st;
	assert_int_equal(fstatat(fd, "w", &st, AT_SYMLINK_NOFOLLOW), 0);
	/* No xattr, or no xwhiteout attr for the directory: a file. */
	assert_false(wh_is_xwhiteout(fd, "w", &st, XATTR_USER_OVL_WHITEOUT));
	assert_false(wh_is_xwhiteout(fd, "w", &st, NULL));
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/w", dir);
	if (lsetxattr(path, XATTR_USER_OVL_WHITEOUT, "", 0, 0) == 0) {
		assert_true(wh_is_xwhiteout(fd, "w", &st,
					    XATTR_USER_OVL_WHITEOUT));
		assert_false(wh_is_xwhiteout(fd, "w", &st, NULL));
		/* Only an empty regular file. */
		struct stat big = st;
		big.st_size = 1;
		assert_false(wh_is_xwhiteout(fd, "w", &big,
					     XATTR_USER_OVL_WHITEOUT));
	}
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_format_names(void **state)
{
	(void)state;
	enum wh_format f;
	assert_int_equal(wh_format_parse("dotwh", &f), 0);
	assert_int_equal(f, WH_FORMAT_DOTWH);
	assert_int_equal(wh_format_parse("overlay", &f), 0);
	assert_int_equal(f, WH_FORMAT_OVERLAY);
	assert_int_equal(wh_format_parse("nope", &f), -EINVAL);
	assert_string_equal(wh_format_name(WH_FORMAT_OVERLAY), "overlay");
}

/* The end of a test of both paths of safe_path.c: the openat2 one
 * again, and the scratch directory gone. */
static void end_safe_open_test(int root, const char *dir)
{
	sp_force_fallback(0);
	close(root);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_safe_open_refuses_symlinks(void **state)
{
	(void)state;
	char dir[] = "/tmp/lfsunit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/real", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/real/f", dir);
	int f = open(p, O_CREAT | O_WRONLY, 0644);
	assert_true(f >= 0);
	close(f);
	snprintf(p, sizeof(p), "%s/link", dir);
	assert_int_equal(symlink("real", p), 0);
	snprintf(p, sizeof(p), "%s/abs", dir);
	assert_int_equal(symlink("/etc", p), 0);
	int root = open(dir, O_PATH | O_DIRECTORY);
	for (int pass = 0; pass < 2; pass++) {
		/* Second pass: the component walk used without openat2. */
		sp_force_fallback(pass);
		int fd = sp_open_beneath(root, "real/f", O_RDONLY, 0);
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(sp_open_beneath(root, "link/f", O_RDONLY, 0) < 0,
				 1);
		assert_int_equal(sp_open_beneath(root, "abs/passwd", O_RDONLY, 0) <
					 0,
				 1);
		assert_int_equal(sp_open_beneath(root, "link", O_RDONLY, 0), -ELOOP);
		assert_int_equal(sp_open_beneath(root, "../x", O_RDONLY, 0) < 0, 1);
		assert_int_equal(sp_open_beneath(root, "/etc/passwd", O_RDONLY, 0),
				 -EXDEV);
	}
	end_safe_open_test(root, dir);
}

/* sp_open_inside follows symlinks that stay below the root (a legacy
 * docker-archive's shared layers), with openat2 and without. */
static void test_safe_open_inside_follows_links_that_stay(void **state)
{
	(void)state;
	char dir[] = "/tmp/lfsunit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char p[PATH_MAX];
	const char *dirs[] = { "aaa", "bbb", "ccc" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	snprintf(p, sizeof(p), "%s/aaa/layer.tar", dir);
	int f = open(p, O_CREAT | O_WRONLY, 0644);
	assert_true(f >= 0);
	assert_int_equal(write(f, "tar", 3), 3);
	close(f);
	const struct {
		const char *name, *target;
	} links[] = {
		{ "bbb/layer.tar", "../aaa/layer.tar" },
		{ "ccc/layer.tar", "../bbb/./layer.tar" }, /* a chain */
		{ "ccc/dir", "../aaa" },
		{ "out", "../x" },
		{ "abs", "/etc/passwd" },
		{ "loop", "loop" },
	};
	for (size_t i = 0; i < LF_ARRAY_SIZE(links); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, links[i].name);
		assert_int_equal(symlink(links[i].target, p), 0);
	}
	int root = open(dir, O_PATH | O_DIRECTORY);
	for (int pass = 0; pass < 2; pass++) {
		sp_force_fallback(pass);
		const char *ok[] = { "bbb/layer.tar", "ccc/layer.tar",
				     "ccc/dir/layer.tar", "aaa/../bbb/layer.tar" };
		for (size_t i = 0; i < LF_ARRAY_SIZE(ok); i++) {
			int fd = sp_open_inside(root, ok[i], O_RDONLY);
			assert_true(fd >= 0);
			char buf[4] = "";
			assert_int_equal(read(fd, buf, 3), 3);
			assert_string_equal(buf, "tar");
			close(fd);
		}
		assert_int_equal(sp_open_inside(root, "out", O_RDONLY), -EXDEV);
		assert_int_equal(sp_open_inside(root, "abs", O_RDONLY), -EXDEV);
		assert_int_equal(sp_open_inside(root, "../x", O_RDONLY), -EXDEV);
		assert_int_equal(sp_open_inside(root, "loop", O_RDONLY), -ELOOP);
		assert_int_equal(sp_open_inside(root, "bbb/none", O_RDONLY),
				 -ENOENT);
	}
	end_safe_open_test(root, dir);
}

/* The override_stat grammar (lib/override_stat.c), which layerfs and
 * layertool both read. */
static void test_override_stat_grammar(void **state)
{
	(void)state;
	struct override_stat o;
	assert_int_equal(override_stat_parse("1000:100:0755", 13, &o), 0);
	assert_int_equal(o.uid, 1000);
	assert_int_equal(o.gid, 100);
	assert_int_equal(o.mode, 0755);
	assert_false(o.has_type);
	/* The mode may carry type bits (containers/storage force_mask). */
	assert_int_equal(override_stat_parse("0:0:0100644", 11, &o), 0);
	assert_int_equal(o.mode, 0644);
	const char with_nul[] = "0:0:04755\n";
	assert_int_equal(override_stat_parse(with_nul, sizeof(with_nul), &o), 0);
	assert_int_equal(o.mode, 04755);
	assert_int_equal(override_stat_parse("0:0:0620:char-1-3", 17, &o), 0);
	assert_true(o.has_type);
	assert_true(S_ISCHR(o.mode));
	assert_int_equal(o.mode & 07777, 0620);
	assert_int_equal(major(o.rdev), 1);
	assert_int_equal(minor(o.rdev), 3);
	assert_int_equal(override_stat_parse("0:0:0600:block-8-1", 18, &o), 0);
	assert_true(S_ISBLK(o.mode));
	assert_int_equal(override_stat_parse("0:0:0700:dir", 12, &o), 0);
	assert_true(S_ISDIR(o.mode));
	/* Malformed: octal 8, missing fields, junk, overflow. */
	assert_int_equal(override_stat_parse("1:2:0758", 8, &o), -EINVAL);
	assert_int_equal(override_stat_parse("0:0", 3, &o), -EINVAL);
	assert_int_equal(override_stat_parse("1:2:0755:", 9, &o), -EINVAL);
	assert_int_equal(override_stat_parse("1:2:0755:dirx", 13, &o), -EINVAL);
	assert_int_equal(override_stat_parse("a:0:0644", 8, &o), -EINVAL);
	assert_int_equal(override_stat_parse("0:0:0644:weird", 14, &o), -EINVAL);
	assert_int_equal(override_stat_parse("99999999999:2:0755", 18, &o),
			 -EINVAL);
	assert_int_equal(override_stat_parse("1:2:0755:char-1", 15, &o), -EINVAL);

	char buf[64];
	o = (struct override_stat){ .uid = 1234, .gid = 4321, .mode = 0644 };
	assert_int_equal(override_stat_format(buf, sizeof(buf), &o), 14);
	assert_string_equal(buf, "1234:4321:0644");
	o = (struct override_stat){ .uid = 5, .gid = 6, .mode = S_IFCHR | 0640,
				    .rdev = makedev(4, 5), .has_type = true };
	assert_true(override_stat_format(buf, sizeof(buf), &o) > 0);
	assert_string_equal(buf, "5:6:0640:char-4-5");
	struct override_stat back;
	assert_int_equal(override_stat_parse(buf, strlen(buf), &back), 0);
	assert_int_equal(back.mode, o.mode);
	assert_int_equal(back.rdev, o.rdev);
	o.mode = S_IFLNK | 0777;
	assert_true(override_stat_format(buf, sizeof(buf), &o) > 0);
	assert_string_equal(buf, "5:6:0777:symlink");
	assert_int_equal(override_stat_format(buf, 8, &o), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_dotwh_name_limits),
		cmocka_unit_test(test_overlay_whiteout_detection),
		cmocka_unit_test(test_create_and_opaque_on_disk),
		cmocka_unit_test(test_opaque_names_and_xwhiteouts),
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_safe_open_refuses_symlinks),
		cmocka_unit_test(test_safe_open_inside_follows_links_that_stay),
		cmocka_unit_test(test_override_stat_grammar),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
