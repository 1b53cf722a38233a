/*
 * Image directories written by layertool and read back through
 * lib/image.h (what layerrun uses), the unpacker fed with archives
 * built in memory (hostile members refused before anything lands), and
 * the locks of the layer store's temporaries.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

#include "fsutil.h"
#include "image.h"
#include "image_read.h"
#include "image_write.h"
#include "rmtree.h"
#include "store.h"
#include "unpack.h"

static char scratch[256];

static int setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	snprintf(scratch, sizeof(scratch), "%s/lt-unit-XXXXXX",
		 tmp ? tmp : "/tmp");
	return mkdtemp(scratch) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	int fd = open("/", O_RDONLY | O_DIRECTORY);
	lf_rmtree_at(fd, scratch + 1);
	close(fd);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char config[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
	"\"Env\":[\"PATH=/bin\",\"A=b\"],\"Entrypoint\":[\"/init\"],"
	"\"Cmd\":[\"-v\",\"x\"],\"WorkingDir\":\"/srv\",\"User\":\"1:2\","
	"\"StopSignal\":\"SIGINT\"},\"rootfs\":{\"type\":\"layers\","
	"\"diff_ids\":[]}}";

static void make_image(const char *name, bool override_owner)
{
	char store[PATH_MAX], img[PATH_MAX], layer[2 * PATH_MAX];
	snprintf(store, sizeof(store), "%s/.layerstore", scratch);
	mkdir(store, 0755);
	struct image_layer_rec recs[2] = { 0 };
	for (int i = 0; i < 2; i++) {
		snprintf(recs[i].diff_id, sizeof(recs[i].diff_id),
			 "sha256:%064d", i + 1);
		snprintf(recs[i].store_name, sizeof(recs[i].store_name),
			 "sha256-%064d", i + 1);
		recs[i].size = 100 + (uint64_t)i;
		snprintf(layer, sizeof(layer), "%s/%s", store,
			 recs[i].store_name);
		mkdir(layer, 0755);
	}
	struct image_spec spec = {
		.config = config,
		.config_len = strlen(config),
		.layers = recs,
		.nlayers = 2,
		.store = store,
		.override_owner = override_owner,
		.os = "linux",
		.arch = "amd64",
		.source = "unit test",
	};
	snprintf(img, sizeof(img), "%s/%s", scratch, name);
	char err[300];
	assert_int_equal(image_write(img, &spec, err, sizeof(err)), 0);
}

static void test_write_then_load(void **state)
{
	(void)state;
	make_image("img", true);
	char img[PATH_MAX], err[300];
	snprintf(img, sizeof(img), "%s/img", scratch);
	struct image im;
	assert_int_equal(image_load(img, &im, err, sizeof(err)), 0);
	assert_int_equal(im.nlayers, 2);
	/* Top first, absolute, in the store. */
	assert_non_null(strstr(im.layers[0], "/.layerstore/sha256-"));
	assert_int_equal(im.layers[0][strlen(im.layers[0]) - 1], '2');
	assert_int_equal(im.layers[1][strlen(im.layers[1]) - 1], '1');
	assert_int_equal(im.layers[0][0], '/');
	assert_int_equal(im.diff_ids[0][strlen(im.diff_ids[0]) - 1], '2');
	assert_true(im.override_ownership);
	assert_int_equal(strncmp(im.config_digest, "sha256:", 7), 0);
	assert_string_equal(im.config.env[0], "PATH=/bin");
	assert_string_equal(im.config.env[1], "A=b");
	assert_null(im.config.env[2]);
	assert_string_equal(im.config.entrypoint[0], "/init");
	assert_null(im.config.entrypoint[1]);
	assert_string_equal(im.config.cmd[1], "x");
	assert_string_equal(im.config.working_dir, "/srv");
	assert_string_equal(im.config.user, "1:2");
	assert_string_equal(im.config.stop_signal, "SIGINT");
	image_free(&im);

	/* A second image cannot be written over the first. */
	assert_int_equal(image_dir_check_free(img, err, sizeof(err)), -EEXIST);
}

static void test_load_errors(void **state)
{
	(void)state;
	char dir[PATH_MAX], file[PATH_MAX + 20], err[300];
	struct image im;
	snprintf(dir, sizeof(dir), "%s/bad", scratch);
	mkdir(dir, 0755);
	assert_int_equal(image_load(dir, &im, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no image.json"));

	snprintf(file, sizeof(file), "%s/image.json", dir);
	write_file(file, "{\"schemaVersion\": 1, \"layers\": [");
	assert_int_equal(image_load(dir, &im, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not valid JSON"));

	write_file(file, "{\"schemaVersion\": 2}");
	assert_int_equal(image_load(dir, &im, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "schemaVersion"));

	write_file(file,
		   "{\"schemaVersion\": 1, \"config\": \"sha256:"
		   "0000000000000000000000000000000000000000000000000000000000"
		   "000000\", \"layers\": [{\"diff_id\": \"sha256:"
		   "0000000000000000000000000000000000000000000000000000000000"
		   "000000\", \"path\": \"layers/0\"}]}");
	assert_int_equal(image_load(dir, &im, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "layer 0"));

	write_file(file,
		   "{\"schemaVersion\": 1, \"config\": \"sha256:zz\", "
		   "\"layers\": []}");
	assert_int_equal(image_load(dir, &im, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "config digest"));
}

/* A tar built in memory by libarchive from (name, type, target) rows. */
struct member {
	const char *name;
	mode_t type;
	const char *link; /* symlink target, or hard link target with 'h' */
	char kind;        /* 0, or 'h' for a hard link */
};

static size_t build_tar(const struct member *m, size_t n, char *buf,
			size_t size)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	size_t used = 0;
	assert_int_equal(archive_write_open_memory(a, buf, size, &used),
			 ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, m[i].type);
		archive_entry_set_perm(e, 0644);
		if (m[i].kind == 'h')
			archive_entry_set_hardlink(e, m[i].link);
		else if (m[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, m[i].link);
		if (m[i].type == AE_IFCHR)
			archive_entry_set_rdev(e, makedev(1, 3));
		if (m[i].type == AE_IFREG && m[i].kind != 'h')
			archive_entry_set_size(e, 2);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (m[i].type == AE_IFREG && m[i].kind != 'h')
			archive_write_data(a, "ok", 2);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

/* Unpacks into a fresh directory; returns the first failure. */
static int unpack(const struct member *m, size_t n, bool standins,
		  const char *dirname, char *err, size_t errlen)
{
	static char buf[1 << 20];
	size_t len = build_tar(m, n, buf, sizeof(buf));
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/%s", scratch, dirname);
	mkdir(dir, 0755);
	int root = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(root >= 0);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
	struct unpack_opts o = { .device_standins = standins };
	struct unpacker *u;
	assert_int_equal(unpacker_new(root, &o, &u), 0);
	struct archive_entry *e;
	int r = 0;
	while (r == 0 && archive_read_next_header(a, &e) == ARCHIVE_OK)
		r = unpacker_entry(u, a, e, err, errlen);
	if (r == 0)
		r = unpacker_finish(u, err, errlen);
	unpacker_free(u);
	archive_read_free(a);
	close(root);
	return r;
}

/* image_index_load (export --image's reader) on what is no image
 * directory: an error, and nothing left allocated (it kept the resolved
 * path of a directory it could not open; `valgrind --leak-check=full`
 * on this binary shows it). */
static void test_index_load_errors_free_everything(void **state)
{
	(void)state;
	char file[PATH_MAX], err[300];
	snprintf(file, sizeof(file), "%s/not-a-dir", scratch);
	write_file(file, "x");
	struct image_index ix;
	assert_int_equal(image_index_load(file, &ix, err, sizeof(err)),
			 -ENOTDIR);
	assert_null(ix.dir);
	snprintf(file, sizeof(file), "%s/missing", scratch);
	assert_int_equal(image_index_load(file, &ix, err, sizeof(err)),
			 -ENOENT);
	assert_null(ix.dir);
}

/* Where mknod is not allowed (a rootless import), a device member is an
 * empty file whose override record names the device. */
static void test_unpacker_device_standin(void **state)
{
	(void)state;
	char err[400], path[PATH_MAX], value[64];
	const struct member dev[] = { { "null", AE_IFCHR, NULL, 0 } };
	assert_int_equal(unpack(dev, 1, true, "standin", err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/standin/null", scratch);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	ssize_t n = getxattr(path, "user.containers.override_stat", value,
			     sizeof(value) - 1);
	assert_true(n > 0);
	value[n] = 0;
	assert_string_equal(value, "0:0:0644:char-1-3");
}

static void test_unpacker_refuses(void **state)
{
	(void)state;
	char err[400];
	const struct member through[] = {
		{ "a", AE_IFLNK, "/", 0 },
		{ "a/planted", AE_IFREG, NULL, 0 },
	};
	assert_int_equal(unpack(through, 2, false, "u1", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "goes through 'a'"));

	const struct member escape[] = {
		{ "d/", AE_IFDIR, NULL, 0 },
		/* A ".." after another component climbs above the root
		 * (only a leading run of them is clamped). */
		{ "d/s", AE_IFLNK, "../y/../../x", 0 },
	};
	assert_int_equal(unpack(escape, 2, false, "u2", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "outside the layer"));

	const struct member dotdot[] = { { "../x", AE_IFREG, NULL, 0 } };
	assert_int_equal(unpack(dotdot, 1, false, "u3", err, sizeof(err)),
			 -EINVAL);
	char probe[PATH_MAX];
	snprintf(probe, sizeof(probe), "%s/x", scratch);
	assert_int_equal(access(probe, F_OK), -1);

	const struct member hl[] = { { "h", AE_IFREG, "/etc/passwd", 'h' } };
	assert_int_equal(unpack(hl, 1, false, "u5", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "hard link"));

	/* A member replaced its parent directory, and with it the member
	 * the link names. */
	const struct member gone[] = {
		{ "d/", AE_IFDIR, NULL, 0 },
		{ "d/f", AE_IFREG, NULL, 0 },
		{ "d", AE_IFREG, NULL, 0 },
		{ "h", AE_IFREG, "d/f", 'h' },
	};
	assert_int_equal(unpack(gone, 4, false, "u6", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not an earlier member"));
}

static void test_unpacker_accepts(void **state)
{
	(void)state;
	char err[400] = "";
	const struct member ok[] = {
		{ "./", AE_IFDIR, NULL, 0 },
		{ "deep/er/file", AE_IFREG, NULL, 0 },  /* parents implied */
		{ "deep/er/link", AE_IFREG, "deep/er/file", 'h' },
		{ "bin/sh", AE_IFLNK, "/bin/busybox", 0 },
		{ "etc/.wh.gone", AE_IFREG, NULL, 0 },
		{ "deep/er/file", AE_IFREG, NULL, 0 },  /* replaced */
	};
	assert_int_equal(unpack(ok, 6, false, "ok", err, sizeof(err)), 0);
	char a[PATH_MAX], b[PATH_MAX];
	snprintf(a, sizeof(a), "%s/ok/deep/er/link", scratch);
	snprintf(b, sizeof(b), "%s/ok/etc/.wh.gone", scratch);
	struct stat st;
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(st.st_size, 2);
	assert_int_equal(lstat(b, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

/* A later member replaces a directory with what the layer put under it
 * (OCI changeset order), and what was held back for the directories
 * removed is not applied at the end. */
static void test_unpacker_replaces_directories(void **state)
{
	(void)state;
	char err[400] = "";
	const struct member m[] = {
		{ "keep", AE_IFREG, NULL, 0 },
		{ "d/", AE_IFDIR, NULL, 0 },
		{ "d/sub/deeper/", AE_IFDIR, NULL, 0 },
		{ "d/sub/f", AE_IFREG, NULL, 0 },
		{ "d/keep", AE_IFREG, "keep", 'h' },
		{ "d/sub", AE_IFLNK, "/keep", 0 },   /* replaces d/sub */
		{ "d", AE_IFREG, NULL, 0 },          /* replaces d */
		{ "e/", AE_IFDIR, NULL, 0 },
		{ "e/x/", AE_IFDIR, NULL, 0 },
		{ "e", AE_IFREG, "keep", 'h' },      /* replaces e */
		{ "e/", AE_IFDIR, NULL, 0 },         /* and a directory again */
	};
	size_t n = sizeof(m) / sizeof(m[0]);
	assert_int_equal(unpack(m, n, false, "rep", err, sizeof(err)), 0);
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/rep/d", scratch);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 2);
	snprintf(p, sizeof(p), "%s/rep/keep", scratch);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_nlink, 1); /* d/keep went, e went */
	snprintf(p, sizeof(p), "%s/rep/e", scratch);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	snprintf(p, sizeof(p), "%s/rep/e/x", scratch);
	assert_int_equal(lstat(p, &st), -1);
}

static bool exists_at(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * A temporary of the store is held locked by flock on TMP.lock, open
 * for reading and writing.  Where flock is emulated with fcntl locks
 * (NFS) an exclusive lock needs a descriptor open for writing: the
 * lock descriptor takes an exclusive fcntl lock, where the temporary
 * directory's own read-only descriptor, which was locked before, is
 * refused with EBADF (what an import into an NFS store met).
 */
static void test_store_temporaries_locked_writable(void **state)
{
	(void)state;
	char path[PATH_MAX], err[300], tmp[64], lname[80];
	snprintf(path, sizeof(path), "%s/store-locks", scratch);
	struct store a, b;
	assert_int_equal(store_open(path, &a, err, sizeof(err)), 0);
	assert_int_equal(store_temp(&a, true, tmp, sizeof(tmp)), 0);
	snprintf(lname, sizeof(lname), "%s%s", tmp, STORE_LOCK_SUFFIX);
	assert_int_equal(a.nlocks, 1);
	int lfd = a.locks[0].fd;
	assert_int_equal(fcntl(lfd, F_GETFL) & O_ACCMODE, O_RDWR);
	struct stat held, named;
	assert_int_equal(fstat(lfd, &held), 0);
	assert_int_equal(fstatat(a.fd, lname, &named, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(held.st_mode));
	assert_int_equal(held.st_ino, named.st_ino);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	assert_int_equal(fcntl(lfd, F_OFD_SETLK, &fl), 0);
	fl.l_type = F_UNLCK;
	assert_int_equal(fcntl(lfd, F_OFD_SETLK, &fl), 0);
	int dfd = openat(a.fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	fl.l_type = F_WRLCK;
	assert_int_equal(fcntl(dfd, F_OFD_SETLK, &fl), -1);
	assert_int_equal(errno, EBADF);
	close(dfd);

	/* Held: another opening of the store leaves it. */
	assert_int_equal(store_open(path, &b, err, sizeof(err)), 0);
	assert_true(exists_at(b.fd, tmp));
	assert_true(exists_at(b.fd, lname));
	store_close(&b);
	/* Its writer gone (the lock let go, nothing removed): the next
	 * opening removes the temporary, then its lock file. */
	close(a.locks[0].fd);
	a.nlocks = 0;
	assert_int_equal(store_open(path, &b, err, sizeof(err)), 0);
	assert_false(exists_at(b.fd, tmp));
	assert_false(exists_at(b.fd, lname));

	/* Published or discarded, a temporary leaves no lock file. */
	assert_int_equal(store_temp(&b, true, tmp, sizeof(tmp)), 0);
	snprintf(lname, sizeof(lname), "%s%s", tmp, STORE_LOCK_SUFFIX);
	assert_int_equal(store_publish(&b, tmp, "sha256-published"), 0);
	assert_true(exists_at(b.fd, "sha256-published"));
	assert_false(exists_at(b.fd, lname));
	assert_int_equal(store_temp(&b, false, tmp, sizeof(tmp)), 0);
	snprintf(lname, sizeof(lname), "%s%s", tmp, STORE_LOCK_SUFFIX);
	store_discard(&b, tmp);
	assert_false(exists_at(b.fd, tmp));
	assert_false(exists_at(b.fd, lname));
	assert_int_equal(b.nlocks, 0);
	store_close(&b);
	store_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_then_load),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_index_load_errors_free_everything),
		cmocka_unit_test(test_unpacker_refuses),
		cmocka_unit_test(test_unpacker_device_standin),
		cmocka_unit_test(test_unpacker_accepts),
		cmocka_unit_test(test_unpacker_replaces_directories),
		cmocka_unit_test(test_store_temporaries_locked_writable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
