/* The container's seccomp filter (mounter/seccomp.c), run through a small
 * classic-BPF interpreter on made-up calls: the kernel offers no way to
 * feed a filter another ABI's call, and this machine's kernel may not
 * run 32-bit programs at all. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "seccomp.h"

/* What the kernel does with the instructions seccomp_build uses; any
 * other instruction fails the test. */
static uint32_t run_filter(const struct sock_filter *prog, size_t len,
			   uint32_t arch, uint32_t nr)
{
	struct seccomp_data d = { .nr = (int)nr, .arch = arch };
	uint32_t acc = 0;
	for (size_t pc = 0; pc < len; pc++) {
		const struct sock_filter *f = &prog[pc];
		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(f->k + 4 <= sizeof(d));
			memcpy(&acc, (const char *)&d + f->k, 4);
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += acc == f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			pc += acc > f->k ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return f->k;
		default:
			fail_msg("unexpected BPF instruction %#x", f->code);
		}
	}
	fail_msg("the program ran off its end");
	return 0;
}

#define EPERM_RET (SECCOMP_RET_ERRNO | EPERM)

static uint32_t verdict(uint64_t caps, uint32_t arch, uint32_t nr)
{
	struct sock_filter prog[SECCOMP_PROG_MAX];
	size_t len = seccomp_build(caps, prog);
	assert_true(len > 0 && len <= SECCOMP_PROG_MAX);
	return run_filter(prog, len, arch, nr);
}

#ifdef __x86_64__
#define NATIVE AUDIT_ARCH_X86_64
/* i386 numbers, from its syscall table: keyctl, add_key, mount,
 * clock_settime, and getpid, which stays allowed. */
#define I386_KEYCTL 288
#define I386_ADD_KEY 286
#define I386_MOUNT 21
#define I386_CLOCK_SETTIME 264
#define I386_GETPID 20
#endif

static void test_native_calls(void **state)
{
	(void)state;
#ifdef NATIVE
	uint64_t none = 0;
	assert_int_equal(verdict(none, NATIVE, SYS_keyctl), EPERM_RET);
	assert_int_equal(verdict(none, NATIVE, SYS_add_key), EPERM_RET);
	assert_int_equal(verdict(none, NATIVE, SYS_io_uring_setup), EPERM_RET);
	assert_int_equal(verdict(none, NATIVE, SYS_mount), EPERM_RET);
	assert_int_equal(verdict(none, NATIVE, SYS_getpid), SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(none, NATIVE, SYS_clone), SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(none, NATIVE, SYS_execve), SECCOMP_RET_ALLOW);
	/* Every call outside the list is allowed. */
	for (uint32_t nr = 0; nr < 64; nr++)
		assert_int_equal(verdict(none, NATIVE, nr), SECCOMP_RET_ALLOW);
	/* Up to the last call the build knows (at least clone3, 435);
	 * above it, calls of a newer kernel fail as on an older one. */
	assert_int_equal(verdict(none, NATIVE, 435), SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(none, NATIVE, 4000),
			 SECCOMP_RET_ERRNO | ENOSYS);
	assert_int_equal(verdict(~0ULL, NATIVE, 0x3fffffffu),
			 SECCOMP_RET_ERRNO | ENOSYS);
#else
	skip();
#endif
}

static void test_capabilities_lift_their_bans(void **state)
{
	(void)state;
#ifdef NATIVE
	uint64_t time_cap = 1ULL << CAP_SYS_TIME;
	uint64_t admin = 1ULL << CAP_SYS_ADMIN;
	assert_int_equal(verdict(0, NATIVE, SYS_clock_settime), EPERM_RET);
	assert_int_equal(verdict(time_cap, NATIVE, SYS_clock_settime),
			 SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(admin, NATIVE, SYS_mount), SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(admin, NATIVE, SYS_clock_settime), EPERM_RET);
	/* Nothing lifts the keyring ban. */
	assert_int_equal(verdict(~0ULL, NATIVE, SYS_keyctl), EPERM_RET);
	assert_int_equal(verdict(~0ULL, NATIVE, SYS_io_uring_enter), EPERM_RET);
#else
	skip();
#endif
}

static void test_other_abis(void **state)
{
	(void)state;
#ifdef NATIVE
	/* The 32-bit ABI by its own numbers: i386 288 is keyctl there,
	 * 64-bit 288 is accept4 and must stay allowed. */
	assert_int_equal(verdict(0, AUDIT_ARCH_I386, I386_KEYCTL), EPERM_RET);
	assert_int_equal(verdict(0, AUDIT_ARCH_I386, I386_ADD_KEY), EPERM_RET);
	assert_int_equal(verdict(0, AUDIT_ARCH_I386, I386_MOUNT), EPERM_RET);
	assert_int_equal(verdict(1ULL << CAP_SYS_TIME, AUDIT_ARCH_I386,
				 I386_CLOCK_SETTIME), SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(0, AUDIT_ARCH_I386, I386_CLOCK_SETTIME),
			 EPERM_RET);
	assert_int_equal(verdict(0, AUDIT_ARCH_I386, I386_GETPID),
			 SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(0, NATIVE, 288), SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(0, AUDIT_ARCH_I386, 4000),
			 SECCOMP_RET_ERRNO | ENOSYS);
	/* x32 calls: none at all. */
	assert_int_equal(verdict(0, NATIVE, 0x40000000u | SYS_keyctl),
			 SECCOMP_RET_ERRNO | ENOSYS);
	assert_int_equal(verdict(0, NATIVE, 0x40000000u | SYS_getpid),
			 SECCOMP_RET_ERRNO | ENOSYS);
	/* An ABI this kernel does not run. */
	assert_int_equal(verdict(0, AUDIT_ARCH_AARCH64, SYS_getpid),
			 SECCOMP_RET_KILL_PROCESS);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_native_calls),
		cmocka_unit_test(test_capabilities_lift_their_bans),
		cmocka_unit_test(test_other_abis),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
