/* The record of a mount's layers in its work directory
 * (lib/workdir.c): written by the mount, read by layertool fsck, which
 * takes nothing it cannot read whole for a stack. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "scratch_dir.h"
#include "workdir.h"

static void put(struct scratch *s, const void *data, size_t len)
{
	int fd = openat(s->fd, WORKDIR_LAYERS,
			O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int read_back(struct scratch *s, struct workdir_layer **v,
		     size_t *n)
{
	return workdir_layers_read(s->fd, v, n);
}

static void test_round_trip(void **state)
{
	struct scratch *s = *state;
	struct workdir_layer in[] = {
		{ 'u', 0xfe00, 0x12, (char *)"/c/up" },
		{ 'i', 0xfe00, 0x13, (char *)"/c/init" },
		{ 'l', 0x31, 0xabcdef, (char *)"/img/a layer\nwith a newline" },
		{ 'l', 0x31, 1, (char *)"/" },
	};
	char *text;
	size_t len;
	assert_int_equal(workdir_layers_format(in, 4, &text, &len), 0);
	put(s, text, len);
	free(text);
	struct workdir_layer *v;
	size_t n;
	assert_int_equal(read_back(s, &v, &n), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v[i].kind, in[i].kind);
		assert_true(v[i].dev == in[i].dev && v[i].ino == in[i].ino);
		assert_string_equal(v[i].path, in[i].path);
	}
	workdir_layers_free(v, n);
}

static void test_refused(void **state)
{
	struct scratch *s = *state;
	static const struct {
		const char *data;
		size_t len;
	} bad[] = {
#define REC(lit) { lit, sizeof(lit) - 1 }
		REC("u 1 2 /up\0"),                 /* no lower layer */
		REC("u 1 2 /up\0l 1 3 /low"),       /* the last one unended */
		REC("l 1 2 /low\0u 1 3 /up\0"),     /* upper not first */
		REC("u 1 2 /up\0u 1 3 /up2\0"),     /* two uppers */
		REC("u 1 2 /up\0l 1 3 /l\0i 1 4 /i\0"), /* init after a lower */
		REC("u 1 2 /up\0l 1 3 low\0"),      /* a relative path */
		REC("u 1 2 /up\0x 1 3 /low\0"),     /* an unknown kind */
		REC("u 1 2 /up\0l zz 3 /low\0"),    /* not hex */
		REC("u 1 2 /up\0\0"),               /* an empty record */
		REC(""),
#undef REC
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(s, bad[i].data, bad[i].len);
		struct workdir_layer *v = (void *)1;
		size_t n = 7;
		assert_int_equal(read_back(s, &v, &n), -EINVAL);
		assert_null(v);
		assert_int_equal(n, 0);
	}
}

static void test_none(void **state)
{
	struct scratch *s = *state;
	struct workdir_layer *v;
	size_t n;
	unlinkat(s->fd, WORKDIR_LAYERS, 0);
	assert_int_equal(read_back(s, &v, &n), -ENOENT);
	/* Nor a symlink to one. */
	assert_int_equal(symlinkat("/etc/hostname", s->fd, WORKDIR_LAYERS), 0);
	assert_int_equal(read_back(s, &v, &n), -ELOOP);
	unlinkat(s->fd, WORKDIR_LAYERS, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
