/*
 * The last steps before the container's command runs, shared by `run`
 * and `exec`: session and terminal, working directory (checked to be
 * inside the new root), a session keyring of its own, the seccomp
 * filter, user and groups, capabilities, no_new_privs, every fd but
 * stdio closed, and the exec itself with a PATH search in
 * the container's environment.  Called inside the container's root.
 */
#ifndef LR_PAYLOAD_H
#define LR_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

struct payload {
	char *const *argv;
	char *const *envp;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	bool setgroups_allowed; /* false in a single-id namespace */
	uint64_t caps;
	bool no_new_privs;
	bool seccomp;   /* the filter of seccomp.h; false: unconfined */
	/* A compiled --security-opt seccomp=PROFILE in place of that
	 * filter, or NULL. */
	const struct sock_filter *seccomp_insns;
	size_t seccomp_len;
	char *const *ulimits; /* --ulimit specs (ulimit.h) */
	size_t nulimits;
	int tty_slave;  /* the terminal, -1 for none */
	bool keep_stdin; /* -i: fd 0 stays; otherwise /dev/null */
	int out_fd;     /* detached: stdout and stderr go here; -1 keeps them */
	/* The sealed init (sealed_init_create()), through which the command
	 * is exec'd: until the command's own image replaces it, the process
	 * runs the sealed copy, never the launcher's binary, so a
	 * '#!/proc/self/exe' command cannot reach that (CVE-2019-5736).
	 * -1: exec directly. */
	int trampoline_fd;
	/* -1, or a close-on-exec descriptor on which payload_exec says why
	 * it failed (its one line) instead of on stderr, which by then is
	 * the container's terminal or log.  Anything written there means
	 * the command never ran; the exec closes it empty. */
	int setup_report_fd;
};

/* Does not return: execs the command or exits with 125 (setup), 126
 * (cannot execute) or 127 (not found) after one line on stderr, or on
 * setup_report_fd. */
void payload_exec(const struct payload *p) __attribute__((noreturn));

/* The container's confinement of system calls, in the calling process:
 * a session keyring of its own (not the launcher's, whose keys it could
 * read) and the seccomp filter.  payload_exec applies it to the
 * command; the container's init takes it too, or a process allowed to
 * trace that init (--cap-add SYS_PTRACE) could make it do what the
 * filter denies the container.  Exits 125 on failure. */
void payload_confine(const struct payload *p);

#endif
