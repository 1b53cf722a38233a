/* The node table: (parent, name) index, lookup counts and forget, moves,
 * paths with redirects, and inode numbering across filesystems. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "layerfs.h"
#include "dirfd_cache.h"
#include "node.h"
#include "node_reach.h"

static struct lfs fs;
static struct lfs_options opts;

static int setup(void **state)
{
	(void)state;
	memset(&fs, 0, sizeof(fs));
	memset(&opts, 0, sizeof(opts));
	fs.opt = &opts;
	pthread_rwlock_init(&fs.ns_lock, NULL);
	fs.layers = calloc(3, sizeof(struct layer));
	fs.nlayers = 3;
	fs.upper = 0;
	for (int i = 0; i < 3; i++)
		fs.layers[i].dev = 100;
	assert_int_equal(node_table_init(&fs), 0);
	fs.root = node_new(NULL, "", 0, S_IFDIR, 2);
	node_set_flag(fs.root, N_ROOT);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	node_table_destroy(&fs);
	node_discard(fs.root);
	free(fs.layers);
	return 0;
}

static struct node *add(struct node *parent, const char *name, mode_t mode,
			uint64_t ino)
{
	struct node *n = node_new(parent, name, 1, mode, ino);
	assert_non_null(n);
	struct node *got = node_insert(&fs, n);
	assert_ptr_equal(got, n);
	return n;
}

static void test_insert_find_forget(void **state)
{
	(void)state;
	size_t before = node_count(&fs);
	struct node *d = add(fs.root, "dir", S_IFDIR, 10);
	struct node *f = add(d, "file", S_IFREG, 11);
	node_lookup_inc(d);
	node_lookup_inc(f);
	/* The lookup's own references go; the kernel's counts remain. */
	node_unref(&fs, f);
	node_unref(&fs, d);
	assert_int_equal(node_count(&fs), before + 2);

	struct node *found = node_find(&fs, d, "file");
	assert_ptr_equal(found, f);
	node_unref(&fs, found);
	assert_null(node_find(&fs, d, "other"));
	assert_null(node_find(&fs, fs.root, "file"));

	/* A second insert of the same name returns the existing node. */
	struct node *dup = node_new(d, "file", 1, S_IFREG, 99);
	assert_ptr_equal(node_insert(&fs, dup), f);
	node_unref(&fs, f);

	/* Forgetting the directory first keeps it: its child holds it. */
	node_forget(&fs, d, 1);
	assert_int_equal(node_count(&fs), before + 2);
	node_forget(&fs, f, 1);
	assert_int_equal(node_count(&fs), before);
}

static void test_paths_and_redirect(void **state)
{
	(void)state;
	struct node *a = add(fs.root, "a", S_IFDIR, 20);
	struct node *b = add(a, "b", S_IFDIR, 21);
	struct node *c = add(b, "c", S_IFREG, 22);
	char *p = node_lower_path(&fs, c, fs.upper);
	assert_string_equal(p, "/a/b/c");
	free(p);
	p = node_lower_path(&fs, fs.root, fs.upper);
	assert_string_equal(p, "/");
	free(p);
	/* b was renamed from /x/y: below the upper layer its children live
	 * under the redirect. */
	struct node_ext *e = node_ext(b);
	e->redirect = strdup("/x/y");
	node_set_flag(b, N_REDIRECT);
	p = node_lower_path(&fs, c, lfs_below_upper(&fs));
	assert_string_equal(p, "/x/y/c");
	free(p);
	p = node_lower_path(&fs, c, fs.upper);
	assert_string_equal(p, "/a/b/c");
	free(p);
	node_unref(&fs, c);
	node_unref(&fs, b);
	node_unref(&fs, a);
}

static void test_move_and_exchange(void **state)
{
	(void)state;
	struct node *d1 = add(fs.root, "d1", S_IFDIR, 30);
	struct node *d2 = add(fs.root, "d2", S_IFDIR, 31);
	struct node *f = add(d1, "f", S_IFREG, 32);
	struct node *g = add(d2, "a-much-longer-name-than-before", S_IFREG, 33);
	assert_int_equal(node_move(&fs, f, d2, "renamed-to-a-longer-name"), 0);
	assert_null(node_find(&fs, d1, "f"));
	struct node *x = node_find(&fs, d2, "renamed-to-a-longer-name");
	assert_ptr_equal(x, f);
	node_unref(&fs, x);
	char *p = node_lower_path(&fs, f, fs.upper);
	assert_string_equal(p, "/d2/renamed-to-a-longer-name");
	free(p);
	assert_int_equal(node_exchange(&fs, f, g), 0);
	x = node_find(&fs, d2, "a-much-longer-name-than-before");
	assert_ptr_equal(x, f);
	node_unref(&fs, x);
	x = node_find(&fs, d2, "renamed-to-a-longer-name");
	assert_ptr_equal(x, g);
	node_unref(&fs, x);
	node_unhash(&fs, g);
	assert_null(node_find(&fs, d2, "renamed-to-a-longer-name"));
	node_unref(&fs, g);
	node_unref(&fs, f);
	node_unref(&fs, d2);
	node_unref(&fs, d1);
}

static void test_many_nodes_grow_and_free(void **state)
{
	(void)state;
	size_t before = node_count(&fs);
	struct node *d = add(fs.root, "big", S_IFDIR, 40);
	node_lookup_inc(d);
	node_unref(&fs, d);
	enum { N = 100000 };
	static struct node *v[N];
	char name[32];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		v[i] = add(d, name, S_IFREG, 1000 + (uint64_t)i);
		node_lookup_inc(v[i]);
		node_unref(&fs, v[i]);
	}
	assert_int_equal(node_count(&fs), before + 1 + N);
	for (int i = 0; i < N; i += 997) {
		snprintf(name, sizeof(name), "f%d", i);
		struct node *x = node_find(&fs, d, name);
		assert_ptr_equal(x, v[i]);
		node_unref(&fs, x);
	}
	for (int i = 0; i < N; i++)
		node_forget(&fs, v[i], 1);
	node_forget(&fs, d, 1);
	assert_int_equal(node_count(&fs), before);
}

static void test_hard_link_index(void **state)
{
	(void)state;
	struct node *f = add(fs.root, "hl", S_IFREG, 50);
	node_index_ino(&fs, f);
	struct node *x = node_find_by_ino(&fs, 50);
	assert_ptr_equal(x, f);
	node_unref(&fs, x);
	assert_null(node_find_by_ino(&fs, 51));
	node_unref(&fs, f);
	assert_null(node_find_by_ino(&fs, 50));
}

static void test_inode_numbers(void **state)
{
	(void)state;
	/* One filesystem: the real numbers, as kernel overlayfs. */
	fs.ino_bits = 0;
	assert_int_equal(lfs_compose_ino(&fs, 1, 12345), 12345);
	/* Two filesystems: the fsid goes into the high bits, so equal real
	 * numbers on different filesystems never collide. */
	fs.layers[2].dev = 200;
	fs.layers[2].fsid = 1;
	fs.ino_bits = 1;
	uint64_t a = lfs_compose_ino(&fs, 1, 12345);
	uint64_t b = lfs_compose_ino(&fs, 2, 12345);
	assert_true(a != b);
	assert_int_equal(a & 0xffffffffu, 12345);
	assert_int_equal(lfs_compose_ino_dev(&fs, 200, 12345), b);
	assert_int_equal(lfs_compose_ino_dev(&fs, 999, 12345), 0);
	fs.ino_bits = 0;
	fs.layers[2].dev = 100;
	fs.layers[2].fsid = 0;
}

/* st_ino of what an fd from the directory fd cache points at. */
static ino_t cached_dir_ino(struct node *dir)
{
	int fd = dirfd_acquire(&fs, dir, 1);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	dirfd_release(fd);
	return st.st_ino;
}

static void test_dirfd_cache_after_removal(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/lfs-node-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	char sub[64];
	snprintf(sub, sizeof(sub), "%s/d", tmpl);
	assert_int_equal(mkdir(sub, 0755), 0);
	fs.layers[1].fd = open(tmpl, O_PATH | O_DIRECTORY);
	assert_true(fs.layers[1].fd >= 0);
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);

	struct node *d = add(fs.root, "d", S_IFDIR, 77);
	node_lookup_inc(d);
	assert_int_equal(cached_dir_ino(d), st.st_ino);
	int first = dirfd_acquire(&fs, d, 1);
	dirfd_release(first);
	assert_int_equal(dirfd_acquire(&fs, d, 1), first); /* a hit */
	dirfd_release(first);

	/* The directory is removed through the mount and made again; its
	 * node is freed and a new node for the new directory may get the
	 * same address and, if the filesystem reuses the inode number, the
	 * same st_ino.  The cache must not hand out the removed one. */
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(stat(sub, &st), 0);
	node_unhash(&fs, d);
	node_forget(&fs, d, 1);
	node_unref(&fs, d);
	struct node *again = add(fs.root, "d", S_IFDIR, 77);
	assert_int_equal(cached_dir_ino(again), st.st_ino);
	node_unref(&fs, again);

	dirfd_cache_flush();
	close(fs.layers[1].fd);
	fs.layers[1].fd = -1;
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(tmpl), 0);
}

/* Whether the fd the cache hands out for dir is the one marked by
 * mark_cached (a hit), not one opened again: every fd it opens is
 * close-on-exec, the marked one no longer. */
static bool cached_fd_is_marked(struct node *dir)
{
	int fd = dirfd_acquire(&fs, dir, 1);
	assert_true(fd >= 0);
	bool marked = fcntl(fd, F_GETFD) == 0;
	dirfd_release(fd);
	return marked;
}

static void mark_cached(struct node *dir)
{
	int fd = dirfd_acquire(&fs, dir, 1);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_SETFD, 0), 0);
	dirfd_release(fd);
}

static void test_dirfd_cache_kept_past_other_removals(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/lfs-node-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	char keep[64], gone[64];
	snprintf(keep, sizeof(keep), "%s/keep", tmpl);
	snprintf(gone, sizeof(gone), "%s/gone", tmpl);
	assert_int_equal(mkdir(keep, 0755), 0);
	assert_int_equal(mkdir(gone, 0755), 0);
	fs.layers[1].fd = open(tmpl, O_PATH | O_DIRECTORY);
	assert_true(fs.layers[1].fd >= 0);

	struct node *k = add(fs.root, "keep", S_IFDIR, 80);
	struct node *g = add(fs.root, "gone", S_IFDIR, 81);
	node_lookup_inc(k);
	node_lookup_inc(g);
	mark_cached(k);
	assert_true(cached_fd_is_marked(k));

	/* Another directory is removed and its node freed: the fd cached
	 * for a directory still linked stays (a deep tree's removal, one
	 * directory after another, would otherwise walk down from the
	 * root for each). */
	assert_int_equal(rmdir(gone), 0);
	node_unhash(&fs, g);
	node_forget(&fs, g, 1);
	node_unref(&fs, g);
	assert_true(cached_fd_is_marked(k));

	/* A lower directory replaced behind the mount (udba): every fd
	 * cached before is opened again. */
	dirfd_cache_dir_replaced();
	assert_false(cached_fd_is_marked(k));

	node_forget(&fs, k, 1);
	node_unref(&fs, k);
	dirfd_cache_flush();
	close(fs.layers[1].fd);
	fs.layers[1].fd = -1;
	assert_int_equal(rmdir(keep), 0);
	assert_int_equal(rmdir(tmpl), 0);
}

/* Whether fd is open still. */
static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_dirfd_not_kept_from_a_walk_across_a_move(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/lfs-node-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	char x[64];
	snprintf(x, sizeof(x), "%s/x", tmpl);
	assert_int_equal(mkdir(x, 0755), 0);
	fs.layers[1].fd = open(tmpl, O_PATH | O_DIRECTORY);
	assert_true(fs.layers[1].fd >= 0);
	struct node *nx = add(fs.root, "x", S_IFDIR, 90);
	node_lookup_inc(nx);
	dirfd_cache_flush();

	/* Opened while a rename moves a directory: the name may have led
	 * to another one, so the fd is used once and not kept. */
	struct dirfd_stamp before = dirfd_stamp();
	dirfd_cache_move_begin();
	int fd = openat(fs.layers[1].fd, "x", O_PATH | O_DIRECTORY);
	assert_true(fd >= 0);
	pthread_rwlock_rdlock(&fs.ns_lock);
	assert_int_equal(dirfd_keep(&fs, nx, 1, fd, before), fd);
	pthread_rwlock_unlock(&fs.ns_lock);
	dirfd_release(fd);
	assert_false(is_open(fd));
	assert_int_equal(dirfd_find(nx, 1), -1);
	/* A walk meanwhile gives an fd all the same, not kept either. */
	fd = dirfd_acquire(&fs, nx, 1);
	assert_true(fd >= 0);
	dirfd_release(fd);
	assert_false(is_open(fd));
	assert_int_equal(dirfd_find(nx, 1), -1);

	/* Nor one opened before the move ended that began before it. */
	dirfd_cache_move_end();
	fd = openat(fs.layers[1].fd, "x", O_PATH | O_DIRECTORY);
	pthread_rwlock_rdlock(&fs.ns_lock);
	assert_int_equal(dirfd_keep(&fs, nx, 1, fd, before), fd);
	pthread_rwlock_unlock(&fs.ns_lock);
	dirfd_release(fd);
	assert_false(is_open(fd));
	/* Once no move runs, a walk's fd is kept. */
	mark_cached(nx);
	assert_true(cached_fd_is_marked(nx));

	node_forget(&fs, nx, 1);
	node_unref(&fs, nx);
	dirfd_cache_flush();
	close(fs.layers[1].fd);
	fs.layers[1].fd = -1;
	assert_int_equal(rmdir(x), 0);
	assert_int_equal(rmdir(tmpl), 0);
}

static void test_dirfd_of_a_lower_layer_checked_by_number_after_removals(
	void **state)
{
	(void)state;
	char tmpl[] = "/tmp/lfs-node-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	char own[64], other[64], gone[64];
	snprintf(own, sizeof(own), "%s/own", tmpl);
	snprintf(other, sizeof(other), "%s/other", tmpl);
	snprintf(gone, sizeof(gone), "%s/gone", tmpl);
	assert_int_equal(mkdir(own, 0755), 0);
	assert_int_equal(mkdir(other, 0755), 0);
	assert_int_equal(mkdir(gone, 0755), 0);
	fs.layers[1].fd = open(tmpl, O_PATH | O_DIRECTORY);
	assert_true(fs.layers[1].fd >= 0);
	struct stat st;
	assert_int_equal(stat(own, &st), 0);

	/* Two directories of the upper layer (0) merged with layer 1's:
	 * one shows layer 1's number (an origin), the other a number of
	 * its own, the upper inode's, which the upper filesystem may give
	 * another directory once this one is removed. */
	struct node *o = node_new(fs.root, "own", 0, S_IFDIR,
				  lfs_compose_ino(&fs, 1, st.st_ino));
	assert_ptr_equal(node_insert(&fs, o), o);
	struct node *u = node_new(fs.root, "other", 0, S_IFDIR, 424242);
	assert_ptr_equal(node_insert(&fs, u), u);
	struct node *g = add(fs.root, "gone", S_IFDIR, 81);
	node_lookup_inc(o);
	node_lookup_inc(u);
	node_lookup_inc(g);
	mark_cached(o);
	mark_cached(u);
	assert_true(cached_fd_is_marked(o));
	assert_true(cached_fd_is_marked(u));

	/* A directory is removed and its node freed: the lower fd that is
	 * the inode its node's number names stays; the other, which holds
	 * no upper inode, is opened again. */
	assert_int_equal(rmdir(gone), 0);
	node_unhash(&fs, g);
	node_forget(&fs, g, 1);
	node_unref(&fs, g);
	assert_true(cached_fd_is_marked(o));
	assert_false(cached_fd_is_marked(u));

	node_forget(&fs, o, 1);
	node_unref(&fs, o);
	node_forget(&fs, u, 1);
	node_unref(&fs, u);
	dirfd_cache_flush();
	close(fs.layers[1].fd);
	fs.layers[1].fd = -1;
	assert_int_equal(rmdir(own), 0);
	assert_int_equal(rmdir(other), 0);
	assert_int_equal(rmdir(tmpl), 0);
}

static ino_t ino_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static void test_dirfd_climb_from_a_cached_directory_below(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/lfs-node-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	char a[64], a2[64], b[64], c[64], other[64], moved[64];
	snprintf(a, sizeof(a), "%s/a", tmpl);
	snprintf(a2, sizeof(a2), "%s/a2", tmpl);
	snprintf(b, sizeof(b), "%s/a/b", tmpl);
	snprintf(c, sizeof(c), "%s/a/b/c", tmpl);
	snprintf(other, sizeof(other), "%s/other", tmpl);
	snprintf(moved, sizeof(moved), "%s/other/c", tmpl);
	assert_int_equal(mkdir(a, 0755), 0);
	assert_int_equal(mkdir(b, 0755), 0);
	assert_int_equal(mkdir(c, 0755), 0);
	assert_int_equal(mkdir(other, 0755), 0);
	fs.layers[1].fd = open(tmpl, O_PATH | O_DIRECTORY);
	assert_true(fs.layers[1].fd >= 0);
	struct stat root;
	assert_int_equal(fstat(fs.layers[1].fd, &root), 0);
	fs.layers[1].dev = root.st_dev; /* what the climb checks */

	/* The nodes carry the directories' own inode numbers, as layerfs
	 * gives a directory of a single layer. */
	struct node *na = add(fs.root, "a", S_IFDIR, ino_of(a));
	struct node *nb = add(na, "b", S_IFDIR, ino_of(b));
	struct node *nc = add(nb, "c", S_IFDIR, ino_of(c));
	node_lookup_inc(na);
	node_lookup_inc(nb);
	node_lookup_inc(nc);
	assert_int_equal(cached_dir_ino(nc), ino_of(c));

	/* Only c's fd stays cached, and a walk down from the root by names
	 * would fail ("a" is gone): b is reached by ".." from c. */
	dirfd_cache_flush();
	assert_int_equal(rename(a, a2), 0);
	snprintf(b, sizeof(b), "%s/a2/b", tmpl);
	snprintf(c, sizeof(c), "%s/a2/b/c", tmpl);
	int cfd = openat(fs.layers[1].fd, "a2/b/c", O_PATH | O_DIRECTORY);
	assert_true(cfd >= 0);
	pthread_rwlock_rdlock(&fs.ns_lock);
	assert_int_equal(dirfd_keep(&fs, nc, 1, cfd, dirfd_stamp()), cfd);
	pthread_rwlock_unlock(&fs.ns_lock);
	dirfd_release(cfd);
	assert_int_equal(cached_dir_ino(nb), ino_of(b));
	/* And a, two levels up, from either. */
	assert_int_equal(cached_dir_ino(na), ino_of(a2));

	/* c moved elsewhere behind the cache: its ".." is another
	 * directory, which the climb must not take for b's.  Back under
	 * its name, b is found by the walk down again. */
	assert_int_equal(rename(a2, a), 0);
	snprintf(b, sizeof(b), "%s/a/b", tmpl);
	snprintf(c, sizeof(c), "%s/a/b/c", tmpl);
	assert_int_equal(rename(c, moved), 0);
	dirfd_cache_flush();
	cfd = openat(fs.layers[1].fd, "other/c", O_PATH | O_DIRECTORY);
	assert_true(cfd >= 0);
	pthread_rwlock_rdlock(&fs.ns_lock);
	assert_int_equal(dirfd_keep(&fs, nc, 1, cfd, dirfd_stamp()), cfd);
	pthread_rwlock_unlock(&fs.ns_lock);
	dirfd_release(cfd);
	assert_int_equal(cached_dir_ino(nb), ino_of(b));

	struct node *chain[] = { nc, nb, na };
	for (int i = 0; i < 3; i++) {
		node_forget(&fs, chain[i], 1);
		node_unref(&fs, chain[i]);
	}
	dirfd_cache_flush();
	close(fs.layers[1].fd);
	fs.layers[1].fd = -1;
	fs.layers[1].dev = 100;
	assert_int_equal(rmdir(moved), 0);
	assert_int_equal(rmdir(other), 0);
	assert_int_equal(rmdir(b), 0);
	assert_int_equal(rmdir(a), 0);
	assert_int_equal(rmdir(tmpl), 0);
}

/* Requests that go round more sibling directories than one shard of the
 * cache holds (a walk of a list ordered across ten directories) find
 * each one still cached when they come back to it: siblings spread over
 * a group of shards.  With one shard per parent, every one of these was
 * opened again at every round. */
static void test_dirfd_cache_holds_a_round_of_siblings(void **state)
{
	(void)state;
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 / DIRFD_SHARDS < DIRFD_WAYS) {
		/* main() raised it to the hard limit, as the daemon does. */
		print_message("skipped: an open-files limit of %llu makes the "
			      "cache's shards smaller than %d\n",
			      (unsigned long long)rl.rlim_cur, DIRFD_WAYS);
		skip();
	}
	enum { SIBLINGS = DIRFD_WAYS + 2 };
	char tmpl[] = "/tmp/lfs-node-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	fs.layers[1].fd = open(tmpl, O_PATH | O_DIRECTORY);
	assert_true(fs.layers[1].fd >= 0);
	char path[64];
	snprintf(path, sizeof(path), "%s/p", tmpl);
	assert_int_equal(mkdir(path, 0755), 0);
	struct node *parent = add(fs.root, "p", S_IFDIR, ino_of(path));
	node_lookup_inc(parent);
	struct node *sib[SIBLINGS];
	for (int i = 0; i < SIBLINGS; i++) {
		snprintf(path, sizeof(path), "%s/p/s%d", tmpl, i);
		assert_int_equal(mkdir(path, 0755), 0);
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		sib[i] = add(parent, name, S_IFDIR, ino_of(path));
		node_lookup_inc(sib[i]);
	}
	dirfd_cache_flush();
	for (int i = 0; i < SIBLINGS; i++)
		mark_cached(sib[i]);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < SIBLINGS; i++)
			assert_true(cached_fd_is_marked(sib[i]));

	for (int i = 0; i < SIBLINGS; i++) {
		node_forget(&fs, sib[i], 1);
		node_unref(&fs, sib[i]);
		snprintf(path, sizeof(path), "%s/p/s%d", tmpl, i);
		assert_int_equal(rmdir(path), 0);
	}
	node_forget(&fs, parent, 1);
	node_unref(&fs, parent);
	dirfd_cache_flush();
	close(fs.layers[1].fd);
	fs.layers[1].fd = -1;
	snprintf(path, sizeof(path), "%s/p", tmpl);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(tmpl), 0);
}

int main(void)
{
	/* As the daemon does before its first request: the directory fd
	 * cache sizes its shards from this limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_find_forget),
		cmocka_unit_test(test_paths_and_redirect),
		cmocka_unit_test(test_move_and_exchange),
		cmocka_unit_test(test_many_nodes_grow_and_free),
		cmocka_unit_test(test_hard_link_index),
		cmocka_unit_test(test_inode_numbers),
		cmocka_unit_test(test_dirfd_cache_after_removal),
		cmocka_unit_test(test_dirfd_cache_kept_past_other_removals),
		cmocka_unit_test(test_dirfd_climb_from_a_cached_directory_below),
		cmocka_unit_test(test_dirfd_cache_holds_a_round_of_siblings),
		cmocka_unit_test(test_dirfd_not_kept_from_a_walk_across_a_move),
		cmocka_unit_test(
			test_dirfd_of_a_lower_layer_checked_by_number_after_removals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
