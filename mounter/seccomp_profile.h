/*
 * --security-opt seccomp=PROFILE: a seccomp profile in the JSON format
 * of Docker and podman (defaultAction, architectures or archMap, and
 * syscalls with names, action, errnoRet, args and includes/excludes of
 * capabilities, arches and minKernel).  `run` compiles it with libseccomp
 * for the container's capabilities and keeps the program in the
 * container's directory, where `exec` finds it; the command loads it in
 * place of the built-in filter (seccomp.h).
 */
#ifndef LR_SECCOMP_PROFILE_H
#define LR_SECCOMP_PROFILE_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

struct seccomp_prog {
	struct sock_filter *insns;
	size_t len;
};

/* The program's file in the container's directory. */
#define SECCOMP_PROG_FILE "seccomp.bpf"

/* Compiles PATH for a container keeping CAPS.  0, or -errno with one
 * line in err. */
int seccomp_profile_compile(const char *path, uint64_t caps,
			    struct seccomp_prog *out, char *err,
			    size_t errlen);

/* Writes or reads SECCOMP_PROG_FILE in DIRFD; load gives -ENOENT when
 * the container has none (the built-in filter, or none at all). */
int seccomp_prog_save(int dirfd, const struct seccomp_prog *p);
int seccomp_prog_load(int dirfd, struct seccomp_prog *p);
void seccomp_prog_free(struct seccomp_prog *p);

#endif
