#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <sys/prctl.h>

/* Which capability lifts each ban, in seccomp_list.h's order. */
#define NO_CAP (-1)
static const int ban_lifted_by[] = {
#define SECCOMP_DENY(name, cap) cap,
#include "seccomp_list.h"
#undef SECCOMP_DENY
};
#define NBANS (sizeof(ban_lifted_by) / sizeof(ban_lifted_by[0]))

/* seccomp_nr_native and seccomp_nr_compat: each ban's number on the two
 * ABIs, -1 where the ABI has no such call (made by the build). */
#include "seccomp_numbers.h"

_Static_assert(sizeof(seccomp_nr_native) / sizeof(int) == NBANS,
	       "seccomp_numbers.h is older than seccomp_list.h");
/* Each ABI's section: 5 instructions around one per ban. */
_Static_assert(3 + 2 * (NBANS + 6) <= SECCOMP_PROG_MAX,
	       "SECCOMP_PROG_MAX is too small for seccomp_list.h");
/* A conditional jump reaches at most 255 instructions ahead. */
_Static_assert(NBANS + 6 <= 255, "too many bans for one BPF section");

#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

struct emitter {
	struct sock_filter *prog;
	size_t len;
};

static void emit(struct emitter *e, uint16_t code, uint8_t jt, uint8_t jf,
		 uint32_t k)
{
	e->prog[e->len++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
}

static bool banned(size_t i, uint64_t caps)
{
	int cap = ban_lifted_by[i];
	return cap == NO_CAP || !(caps & (1ULL << cap));
}

/*
 * One ABI's section, entered with the architecture checked: load the
 * call's number, return ENOSYS for one above the last this build knows,
 * EPERM for a banned one, and allow the rest.  The ABI's arch check
 * jumps over it by its length.
 *
 * A kernel newer than the build has calls no list here could name,
 * some of them new ways to reach what the list bans (mount attributes,
 * the mount tree, xattrs by fd); as in the profiles of Docker and
 * podman, they fail as on an older kernel, with ENOSYS, which C
 * libraries answer by falling back to the older calls.  x32 calls, on
 * x86_64's arch numbered from bit 30, are above it too.
 */
static void emit_section(struct emitter *e, const int *nr, uint64_t caps,
			 int last_known)
{
	emit(e, BPF_LD | BPF_W | BPF_ABS, 0, 0,
	     (uint32_t)offsetof(struct seccomp_data, nr));
	emit(e, BPF_JMP | BPF_JGT | BPF_K, 0, 1, (uint32_t)last_known);
	emit(e, BPF_RET | BPF_K, 0, 0, RET_ERRNO(ENOSYS));
	size_t rules = 0;
	for (size_t i = 0; i < NBANS; i++)
		rules += nr[i] >= 0 && banned(i, caps);
	for (size_t i = 0; i < NBANS; i++) {
		if (nr[i] < 0 || !banned(i, caps))
			continue;
		/* Over the rules left and the allow, onto the EPERM. */
		emit(e, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)rules--, 0,
		     (uint32_t)nr[i]);
	}
	emit(e, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	emit(e, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
}

/* "arch == ARCH ? section : skip it", the section filled in. */
static void emit_abi(struct emitter *e, uint32_t arch, const int *nr,
		     uint64_t caps, int last_known)
{
	size_t check = e->len;
	emit(e, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, arch);
	emit_section(e, nr, caps, last_known);
	e->prog[check].jf = (uint8_t)(e->len - check - 1);
}

size_t seccomp_build(uint64_t caps, struct sock_filter *prog)
{
	struct emitter e = { .prog = prog };
	emit(&e, BPF_LD | BPF_W | BPF_ABS, 0, 0,
	     (uint32_t)offsetof(struct seccomp_data, arch));
	emit_abi(&e, SECCOMP_ARCH_NATIVE, seccomp_nr_native, caps,
		 SECCOMP_NR_LAST_NATIVE);
	if (SECCOMP_ARCH_COMPAT)
		emit_abi(&e, SECCOMP_ARCH_COMPAT, seccomp_nr_compat, caps,
			 SECCOMP_NR_LAST_COMPAT);
	/* No other ABI runs on this kernel: whatever claims one is not
	 * a call this filter understands. */
	emit(&e, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
	return e.len;
}

int seccomp_install_prog(const struct sock_filter *insns, size_t len)
{
	struct sock_fprog fprog = {
		.len = (unsigned short)len,
		.filter = (struct sock_filter *)insns,
	};
	if (len == 0 || len > BPF_MAXINSNS)
		return -EINVAL;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0)
		return -errno;
	return 0;
}

int seccomp_install(uint64_t caps)
{
	struct sock_filter prog[SECCOMP_PROG_MAX];
	return seccomp_install_prog(prog, seccomp_build(caps, prog));
}
