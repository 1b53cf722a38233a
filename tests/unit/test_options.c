/* Option parsing: the forms kernel overlayfs, fuse-overlayfs,
 * containers/storage and mount.fuse3 produce. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"

static int parse(struct lfs_options *o, char *err, ...)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = "layerfs";
	va_list ap;
	va_start(ap, err);
	char *a;
	while ((a = va_arg(ap, char *)) != NULL)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return lfs_options_parse(argc, argv, o, err, 256);
}

static void test_basic_lower_upper(void **state)
{
	(void)state;
	struct lfs_options o;
	char err[256];
	assert_int_equal(parse(&o, err, "-o",
			       "lowerdir=/a:/b:/c,upperdir=/u,workdir=/w",
			       "/mnt", NULL),
			 0);
	assert_int_equal(o.nlower, 3);
	assert_string_equal(o.lower[0], "/a");
	assert_string_equal(o.lower[2], "/c");
	assert_string_equal(o.upper, "/u");
	assert_string_equal(o.work, "/w");
	assert_string_equal(o.mountpoint, "/mnt");
	assert_null(o.source);
	assert_true(o.fsync);
	assert_true(o.metacopy);
	assert_int_equal(o.whiteout, WH_FORMAT_DOTWH);
	lfs_options_free(&o);
}

static void test_mount_fuse3_form(void **state)
{
	(void)state;
	struct lfs_options o;
	char err[256];
	/* mount.fuse3 runs: layerfs SOURCE MOUNTPOINT -o opts */
	assert_int_equal(parse(&o, err, "overlay", "/mnt", "-o",
			       "rw,lowerdir=/a,nodev,nosuid,x-systemd.automount",
			       NULL),
			 0);
	assert_string_equal(o.source, "overlay");
	assert_string_equal(o.mountpoint, "/mnt");
	assert_non_null(strstr(o.fuse_opts, "nodev"));
	assert_non_null(strstr(o.fuse_opts, "nosuid"));
	assert_null(strstr(o.fuse_opts, "x-systemd"));
	lfs_options_free(&o);
}

static void test_containers_storage_quirks(void **state)
{
	(void)state;
	struct lfs_options o;
	char err[256];
	/* Relative lowers, empty entries, volatile, the leading ':' of the
	 * uid mapping, squash options. */
	assert_int_equal(
		parse(&o, err, "-o",
		      "lowerdir=l/A:l/B,upperdir=x/diff,workdir=x/work,,volatile,"
		      "uidmapping=:0:1000:1:1:100000:65536,"
		      "gidmapping=0:1000:1,squash_to_uid=5,threaded=1,xino=off,"
		      "redirect_dir=nofollow,index=off,metacopy=on,fsync=0",
		      "x/merged", NULL),
		0);
	assert_int_equal(o.nlower, 2);
	assert_string_equal(o.lower[1], "l/B");
	assert_false(o.fsync);
	assert_false(o.redirect_dir);
	assert_false(o.index);
	assert_int_equal(o.uidmap.n, 2);
	/* DISK:VIEW:LEN, as fuse-overlayfs and containers/storage: the
	 * layers hold container ids, the mount shows host ids. */
	assert_int_equal(o.uidmap.v[1].disk, 1);
	assert_int_equal(o.uidmap.v[1].view, 100000);
	assert_int_equal(o.uidmap.v[1].len, 65536);
	assert_int_equal(o.squash_uid, 5);
	assert_int_equal(lfs_idmap_to_view(&o.uidmap, 0, 65534), 1000);
	assert_int_equal(lfs_idmap_to_view(&o.uidmap, 7, 65534), 100006);
	assert_int_equal(lfs_idmap_to_disk(&o.uidmap, 100006, 65534), 7);
	assert_int_equal(lfs_idmap_to_disk(&o.uidmap, 1000, 65534), 0);
	assert_int_equal(lfs_idmap_to_disk(&o.uidmap, 42, 65534), 65534);
	assert_int_equal(lfs_idmap_to_view(&o.uidmap, 70000, 65534), 65534);
	lfs_options_free(&o);
}

static void test_escaped_colon_and_append(void **state)
{
	(void)state;
	struct lfs_options o;
	char err[256];
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a\\:b:/c",
			       "-o", "lowerdir+=/d", "/m", NULL),
			 0);
	assert_int_equal(o.nlower, 3);
	assert_string_equal(o.lower[0], "/a:b");
	assert_string_equal(o.lower[2], "/d");
	lfs_options_free(&o);
}

static void test_errors(void **state)
{
	(void)state;
	struct lfs_options o;
	char err[256];
	assert_int_equal(parse(&o, err, "-o", "lowerdir=", "/m", NULL), -1);
	assert_non_null(strstr(err, "empty"));
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a,bogus", "/m", NULL),
			 -1);
	assert_non_null(strstr(err, "unknown option 'bogus'"));
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a::/b", "/m", NULL),
			 -1);
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a,upperdir=/u", "/m",
			       NULL),
			 -1);
	assert_non_null(strstr(err, "workdir"));
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a", NULL), -1);
	assert_non_null(strstr(err, "mountpoint"));
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "upperdir=/u,workdir=/w", "/m",
			       NULL),
			 -1);
	assert_non_null(strstr(err, "lowerdir"));
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a,whiteout=xx", "/m",
			       NULL),
			 -1);
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a,uidmapping=1:2",
			       "/m", NULL),
			 -1);
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-x", "/m", NULL), -1);
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a", "/m", "/n", "/o",
			       NULL),
			 -1);
	lfs_options_free(&o);
}

static void test_help_version_flags(void **state)
{
	(void)state;
	struct lfs_options o;
	char err[256];
	assert_int_equal(parse(&o, err, "--help", NULL), 0);
	assert_true(o.show_help);
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-V", NULL), 0);
	assert_true(o.show_version);
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-d", "-olowerdir=/a,whiteout=overlay",
			       "/m", NULL),
			 0);
	assert_true(o.debug);
	assert_true(o.foreground);
	assert_int_equal(o.whiteout, WH_FORMAT_OVERLAY);
	lfs_options_free(&o);
}

static void test_udba_and_its_timeout(void **state)
{
	(void)state;
	struct lfs_options o;
	char err[256];
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a", "/m", NULL), 0);
	assert_false(o.udba_reval);
	assert_true(o.timeout > 1000);
	lfs_options_free(&o);
	/* reval brings the timeout down to a second, unless one is given
	 * (before or after it). */
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a,udba=reval", "/m",
			       NULL), 0);
	assert_true(o.udba_reval);
	assert_true(o.timeout == 1.0);
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "timeout=0,lowerdir=/a,udba=reval",
			       "/m", NULL), 0);
	assert_true(o.timeout == 0.0);
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a,udba=reval,udba=none",
			       "/m", NULL), 0);
	assert_false(o.udba_reval);
	lfs_options_free(&o);
	assert_int_equal(parse(&o, err, "-o", "lowerdir=/a,udba=notify", "/m",
			       NULL), -1);
	assert_non_null(strstr(err, "udba= must be 'none' or 'reval'"));
	lfs_options_free(&o);
}

static void test_idmap_parse(void **state)
{
	(void)state;
	struct lfs_idmap m = { 0 };
	char err[256];
	assert_int_equal(lfs_idmap_parse("0:1000:1,1:100000:65536", &m, err,
					 sizeof(err)),
			 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(lfs_idmap_parse("0:1000", &m, err, sizeof(err)), -1);
	assert_int_equal(lfs_idmap_parse("0:1000:0", &m, err, sizeof(err)), -1);
	assert_int_equal(lfs_idmap_parse("0:x:1", &m, err, sizeof(err)), -1);
	assert_int_equal(lfs_idmap_parse("4294967295:0:2", &m, err,
					 sizeof(err)),
			 -1);
	/* The map from a failed parse is left as it was. */
	assert_int_equal(m.n, 2);
	free(m.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_lower_upper),
		cmocka_unit_test(test_mount_fuse3_form),
		cmocka_unit_test(test_containers_storage_quirks),
		cmocka_unit_test(test_escaped_colon_and_append),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help_version_flags),
		cmocka_unit_test(test_idmap_parse),
		cmocka_unit_test(test_udba_and_its_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
