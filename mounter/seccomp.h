/*
 * The container's seccomp filter: the system calls of seccomp_list.h
 * fail with EPERM unless the container holds the capability that lifts
 * each ban; calls newer than the build's libseccomp knows fail with
 * ENOSYS; every other call is allowed.  Calls of the 32-bit ABI the
 * kernel also runs (i386 on x86_64) are filtered by their own numbers,
 * and x32 calls fail with ENOSYS, so neither gets around the list.
 */
#ifndef LR_SECCOMP_H
#define LR_SECCOMP_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

/* The longest program seccomp_build writes. */
#define SECCOMP_PROG_MAX 256

/* Writes the BPF program for a container keeping CAPS (a bit per
 * capability) into PROG; returns its length. */
size_t seccomp_build(uint64_t caps, struct sock_filter *prog);

/*
 * Installs that filter on the calling thread, for good.  The kernel
 * allows it with no_new_privs or CAP_SYS_ADMIN in the caller's user
 * namespace.  0 or -errno.
 */
int seccomp_install(uint64_t caps);

/* The same for a program of LEN instructions (a compiled profile). */
int seccomp_install_prog(const struct sock_filter *insns, size_t len);

#endif
