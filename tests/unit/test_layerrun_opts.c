/* layerrun's command-line parsers: container paths, volumes, sizes,
 * CPU quotas, capability names and `run` options. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "caps.h"
#include "cgroup.h"
#include "run_opts.h"
#include "env.h"
#include "mount_spec.h"
#include "tmpfs.h"
#include "ulimit.h"
#include "userns.h"

#include <sys/mount.h>

static void test_ctr_path_normalize(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(ctr_path_normalize("//a/./b/", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b");
	assert_int_equal(ctr_path_normalize("/", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(ctr_path_normalize("/a/../b", out, sizeof(out)),
			 -EXDEV);
	assert_int_equal(ctr_path_normalize("/..", out, sizeof(out)), -EXDEV);
	assert_int_equal(ctr_path_normalize("a/b", out, sizeof(out)), -EINVAL);
	assert_int_equal(ctr_path_normalize("/abcdef", out, 4), -ENAMETOOLONG);
	/* ".." only as a whole component */
	assert_int_equal(ctr_path_normalize("/a..b/..c", out, sizeof(out)), 0);
	assert_string_equal(out, "/a..b/..c");
}

static void test_volume_parse(void **state)
{
	(void)state;
	struct volume v;
	char err[256];
	assert_int_equal(volume_parse("/tmp:/data//x/:ro", &v, err,
				      sizeof(err)), 0);
	assert_string_equal(v.ctr, "/data/x");
	assert_true(v.ro);
	free(v.host);
	free(v.ctr);
	assert_int_equal(volume_parse("/tmp:/data:rw", &v, err, sizeof(err)),
			 0);
	assert_false(v.ro);
	free(v.host);
	free(v.ctr);
	const char *bad[] = { "/tmp", "/tmp:", "/tmp:/a/../../etc",
			      "/tmp:relative", "/tmp:/", "/tmp:/proc/sys",
			      "/tmp:/x:rx", "/no/such/dir/here:/x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_not_equal(volume_parse(bad[i], &v, err, sizeof(err)),
				     0);
		assert_non_null(strstr(err, "volume"));
		assert_null(strchr(err, '\n'));
	}
}

static void test_sizes_and_cpus(void **state)
{
	(void)state;
	uint64_t n, q, p;
	assert_int_equal(cg_parse_size("64m", &n), 0);
	assert_int_equal(n, 64ULL << 20);
	assert_int_equal(cg_parse_size("1g", &n), 0);
	assert_int_equal(n, 1ULL << 30);
	assert_int_equal(cg_parse_size("4096", &n), 0);
	assert_int_equal(n, 4096);
	assert_int_not_equal(cg_parse_size("", &n), 0);
	assert_int_not_equal(cg_parse_size("12q", &n), 0);
	assert_int_not_equal(cg_parse_size("-1m", &n), 0);
	assert_int_not_equal(cg_parse_size("99999999999999999999g", &n), 0);
	assert_int_equal(cg_parse_cpus("0.5", &q, &p), 0);
	assert_int_equal(q * 2, p);
	assert_int_equal(cg_parse_cpus("2", &q, &p), 0);
	assert_int_equal(q, 2 * p);
	assert_int_not_equal(cg_parse_cpus("0", &q, &p), 0);
	assert_int_not_equal(cg_parse_cpus("abc", &q, &p), 0);
	assert_true(cg_cpuset_valid("0-2,4"));
	assert_true(cg_cpuset_valid("3"));
	const char *bad[] = { "", "2-0", "a", "1-2-3", "1,", ",1", "1--2",
			      "-1", "99999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(cg_cpuset_valid(bad[i]));
}

static void test_cap_names(void **state)
{
	(void)state;
	int cap;
	assert_int_equal(caps_parse_name("NET_ADMIN", &cap), 0);
	assert_int_equal(cap, 12);
	assert_int_equal(caps_parse_name("cap_sys_chroot", &cap), 0);
	assert_int_equal(cap, 18);
	assert_int_not_equal(caps_parse_name("NO_SUCH_CAP", &cap), 0);
}

static void test_tmpfs_specs(void **state)
{
	(void)state;
	struct volume v;
	char err[256];
	assert_int_equal(tmpfs_parse("/run//x/", &v, err, sizeof(err)), 0);
	assert_int_equal(v.kind, VOL_TMPFS);
	assert_string_equal(v.ctr, "/run/x");
	assert_int_equal(v.attrs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					  MOUNT_ATTR_NOEXEC);
	assert_true(v.copy_up);
	assert_false(v.ro);
	assert_null(v.tmpfs_opts);
	volume_free(&v);
	assert_int_equal(tmpfs_parse("/t:ro,exec,size=1m,noatime,mode=700,"
				     "notmpcopyup,uid=5",
				     &v, err, sizeof(err)),
			 0);
	assert_true(v.ro);
	assert_false(v.copy_up);
	assert_int_equal(v.attrs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					  MOUNT_ATTR_NOATIME);
	assert_string_equal(v.tmpfs_opts, "size=1m,mode=700,uid=5");
	volume_free(&v);
	const char *bad[] = { "/t:bogus", "/t:size", "/t:size=", "/t:sizes=1",
			      "t", "/", "/proc/x", "/a/../b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(tmpfs_parse(bad[i], &v, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "tmpfs"));
		assert_null(v.ctr);
	}
}

static void test_mount_specs(void **state)
{
	(void)state;
	struct volume v;
	char err[256];
	assert_int_equal(mount_spec_parse("type=bind,src=/tmp,dst=/b,readonly",
					  &v, err, sizeof(err)),
			 0);
	assert_int_equal(v.kind, VOL_BIND);
	assert_string_equal(v.ctr, "/b");
	assert_true(v.ro);
	volume_free(&v);
	assert_int_equal(mount_spec_parse("type=tmpfs,target=/t,tmpfs-size=1m,"
					  "tmpfs-mode=700,notmpcopyup",
					  &v, err, sizeof(err)),
			 0);
	assert_int_equal(v.kind, VOL_TMPFS);
	assert_false(v.ro);
	assert_false(v.copy_up);
	assert_string_equal(v.tmpfs_opts, "size=1m,mode=700");
	volume_free(&v);
	const char *bad[] = {
		"type=volume,target=/x", "type=bind,target=/x",
		"type=tmpfs,src=/a,target=/b", "type=tmpfs", "target=/x",
		"type=tmpfs,target=/x,readonly=maybe", "type=tmpfs,target",
		"type=bind,src=/tmp,target=/x,bind-propagation=shared",
		"type=bind,src=/tmp,target=/x,tmpfs-mode=1",
		"type=tmpfs,target=/proc/x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_not_equal(mount_spec_parse(bad[i], &v, err,
						      sizeof(err)),
				     0);
		assert_non_null(strstr(err, "mount '"));
		assert_null(v.ctr);
	}
}

static void test_ulimits(void **state)
{
	(void)state;
	struct ulimit u;
	char err[256];
	assert_int_equal(ulimit_parse("nofile=1024:4096", &u, err, sizeof(err)),
			 0);
	assert_int_equal(u.resource, RLIMIT_NOFILE);
	assert_int_equal(u.limit.rlim_cur, 1024);
	assert_int_equal(u.limit.rlim_max, 4096);
	assert_int_equal(ulimit_parse("core=0", &u, err, sizeof(err)), 0);
	assert_int_equal(u.limit.rlim_cur, 0);
	assert_int_equal(u.limit.rlim_max, 0);
	assert_int_equal(ulimit_parse("memlock=-1:unlimited", &u, err,
				      sizeof(err)),
			 0);
	assert_true(u.limit.rlim_cur == RLIM_INFINITY &&
		    u.limit.rlim_max == RLIM_INFINITY);
	const char *bad[] = { "nofile", "nofile=", "nofile=2:1", "nofile=1:",
			      "nofile=-2", "nofile=1x", "files=1", "=1",
			      "nofile=unlimited:5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(ulimit_parse(bad[i], &u, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "--ulimit"));
	}
}

static void test_env_file(void **state)
{
	(void)state;
	char path[] = "/tmp/lr-envfile-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "# a comment\n\n  A=1\r\nB=\"two words\"\nC\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	char **v = NULL;
	size_t n = 0;
	char err[256];
	assert_int_equal(env_file_read(path, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "A=1");
	assert_string_equal(v[1], "B=\"two words\"");
	assert_string_equal(v[2], "C");
	assert_null(v[3]);
	FILE *f = fopen(path, "w");
	fputs("OK=1\nBAD KEY=1\n", f);
	fclose(f);
	assert_int_equal(env_file_read(path, &v, &n, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "line 2"));
	unlink(path);
	assert_int_equal(env_file_read(path, &v, &n, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, path));
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int parse(struct run_opts *o, char *err, int argc, char **argv)
{
	return run_opts_parse(argc, argv, o, err, 256);
}

static void test_run_options(void **state)
{
	(void)state;
	struct run_opts o;
	char err[256];
	char *a1[] = { "run",    "-it",  "--rm",      "-e",  "A=1",
		       "--net",  "container:db", "-v", "/tmp:/t:ro",
		       "--memory", "32m", "--pids-limit", "7", "img",
		       "sh",     "-c",   "x",  NULL };
	assert_int_equal(parse(&o, err, 17, a1), 0);
	assert_true(o.interactive && o.tty && o.rm);
	assert_int_equal(o.net.share, NS_CONTAINER);
	assert_string_equal(o.net.container, "db");
	assert_int_equal(o.nvols, 1);
	assert_true(o.vols[0].ro);
	assert_string_equal(o.image, "img");
	assert_int_equal(o.argc, 3);
	assert_string_equal(o.argv[0], "sh");
	run_opts_free(&o);

	/* Options after the image belong to the command. */
	char *a2[] = { "run", "--lower", "/a:/b", "ls", "-l", NULL };
	assert_int_equal(parse(&o, err, 5, a2), 0);
	assert_int_equal(o.nlower, 2);
	assert_null(o.image);
	assert_string_equal(o.argv[1], "-l");
	run_opts_free(&o);

	/* podman's --security-opt spellings. */
	char *a3[] = { "run", "--security-opt", "seccomp=unconfined",
		       "--security-opt=no-new-privileges=false",
		       "--security-opt", "label=disable", "img", NULL };
	assert_int_equal(parse(&o, err, 7, a3), 0);
	assert_true(o.seccomp_unconfined);
	assert_true(o.allow_new_privs);
	run_opts_free(&o);
	char *a4[] = { "run", "--allow-new-privs", "--security-opt",
		       "no-new-privileges", "--security-opt=seccomp=/p.json",
		       "img", NULL };
	assert_int_equal(parse(&o, err, 6, a4), 0);
	assert_false(o.seccomp_unconfined);
	assert_false(o.allow_new_privs);
	assert_string_equal(o.seccomp_profile, "/p.json");
	run_opts_free(&o);
	char *a4b[] = { "run", "--security-opt=seccomp=/p.json",
			"--security-opt=seccomp=unconfined", "img", NULL };
	assert_int_equal(parse(&o, err, 4, a4b), 0);
	assert_true(o.seccomp_unconfined);
	assert_null(o.seccomp_profile);
	run_opts_free(&o);

	/* --read-only adds /run, /tmp and /var/tmp where nothing else
	 * goes; --read-only-tmpfs=false none. */
	char *a5[] = { "run", "--read-only", "--tmpfs", "/tmp:size=1m",
		       "img", NULL };
	assert_int_equal(parse(&o, err, 5, a5), 0);
	assert_true(o.read_only);
	assert_int_equal(o.nvols, 3);
	assert_string_equal(o.vols[0].ctr, "/tmp");
	assert_string_equal(o.vols[0].tmpfs_opts, "size=1m");
	assert_string_equal(o.vols[1].ctr, "/run");
	assert_null(o.vols[1].tmpfs_opts);
	assert_string_equal(o.vols[2].ctr, "/var/tmp");
	assert_string_equal(o.vols[2].tmpfs_opts, "mode=1777");
	assert_int_equal(o.vols[2].attrs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	run_opts_free(&o);
	char *a6[] = { "run", "--read-only", "--read-only-tmpfs=false", "img",
		       NULL };
	assert_int_equal(parse(&o, err, 4, a6), 0);
	assert_int_equal(o.nvols, 0);
	run_opts_free(&o);
	/* Bare, as podman takes its boolean flags: true. */
	char *a7[] = { "run", "--read-only", "--read-only-tmpfs", "img",
		       NULL };
	assert_int_equal(parse(&o, err, 4, a7), 0);
	assert_int_equal(o.nvols, 3);
	assert_string_equal(o.image, "img");
	run_opts_free(&o);

	char *bad[][4] = {
		{ "run", "--read-only-tmpfs=maybe", "img", NULL },
		{ "run", "--tmpfs", "/x:nosuchopt", "img" },
		{ "run", "--security-opt", "seccomp=", "img" },
		{ "run", "--security-opt", "label=type:x", "img" },
		{ "run", "--net", "bogus", "img" },
		{ "run", "--memory", "lots", "img" },
		{ "run", "-v", "/tmp:/../x", "img" },
		{ "run", "--userns", "maybe", "img" },
		{ "run", "--no-such-option", "img", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		int argc = bad[i][3] ? 4 : 3;
		assert_int_not_equal(parse(&o, err, argc, bad[i]), 0);
		assert_true(err[0] != 0);
		assert_null(strchr(err, '\n'));
		run_opts_free(&o);
	}
}

/* --userns names, both ways; root's plans (a rootless plan depends on
 * the machine's ranges and helpers: the integration tests run those). */
static void test_userns_modes(void **state)
{
	(void)state;
	const char *names[] = { "auto", "single", "subid", "shared" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		enum userns_mode m;
		assert_int_equal(userns_parse_mode(names[i], &m), 0);
		assert_string_equal(userns_mode_name(m), names[i]);
	}
	enum userns_mode m;
	assert_int_equal(userns_parse_mode("joined", &m), -EINVAL);
	assert_int_equal(userns_parse_mode("", &m), -EINVAL);
	if (geteuid() != 0)
		return;
	struct idmap_plan p;
	char err[256];
	/* Root maps every id itself: auto keeps them, and shared has
	 * nothing to share (no helper to spare). */
	assert_int_equal(userns_plan(USERNS_AUTO, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, USERNS_IDENTITY);
	assert_false(p.shared);
	if (userns_plan(USERNS_SHARED, &p, err, sizeof(err)) == 0) {
		assert_int_equal(p.mode, USERNS_SUBID);
		assert_false(p.helper);
		assert_false(p.shared);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctr_path_normalize),
		cmocka_unit_test(test_userns_modes),
		cmocka_unit_test(test_volume_parse),
		cmocka_unit_test(test_tmpfs_specs),
		cmocka_unit_test(test_mount_specs),
		cmocka_unit_test(test_env_file),
		cmocka_unit_test(test_ulimits),
		cmocka_unit_test(test_sizes_and_cpus),
		cmocka_unit_test(test_cap_names),
		cmocka_unit_test(test_run_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
