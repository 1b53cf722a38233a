#include "payload.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/keyctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "env.h"
#include "layerrun.h"
#include "lf_common.h"
#include "seccomp.h"
#include "strfmt.h"
#include "ulimit.h"

static void setup_stdio(const struct payload *p)
{
	if (setsid() < 0)
		lf_die(LR_EXIT_SETUP, "setsid: %s", strerror(errno));
	if (p->tty_slave >= 0) {
		if (ioctl(p->tty_slave, TIOCSCTTY, 0) < 0)
			lf_die(LR_EXIT_SETUP, "cannot take the terminal: %s",
			    strerror(errno));
		for (int fd = 0; fd < 3; fd++)
			if (dup2(p->tty_slave, fd) < 0)
				lf_die(LR_EXIT_SETUP, "dup2: %s", strerror(errno));
		return;
	}
	if (!p->keep_stdin) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0)
			lf_die(LR_EXIT_SETUP, "cannot open /dev/null: %s",
			    strerror(errno));
		close(null);
	}
	if (p->out_fd >= 0 && (dup2(p->out_fd, 1) < 0 || dup2(p->out_fd, 2) < 0))
		lf_die(LR_EXIT_SETUP, "dup2: %s", strerror(errno));
}

static void enter_cwd(const char *cwd)
{
	if (chdir(cwd) < 0)
		lf_die(LR_EXIT_SETUP, "cannot enter the working directory '%s': %s",
		    cwd, strerror(errno));
	/* A cwd outside the root (an fd leaked from the host, a race on
	 * the path) shows as "(unreachable)..." or fails: refuse both. */
	char buf[PATH_MAX];
	if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
		lf_die(LR_EXIT_SETUP,
		    "the working directory '%s' is not inside the container",
		    cwd);
}

/*
 * The launcher's session keyring holds its keys with the possessor's
 * rights: the container joins a new, empty one (as runc does).  Under
 * the built-in filter no key call is left to it anyway, so a full key
 * quota only matters unconfined or under a profile (which may allow
 * them, as podman's does).
 */
static void leave_session_keyring(const struct payload *p)
{
	bool keys_banned = p->seccomp && !p->seccomp_insns;
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) >= 0 ||
	    errno == ENOSYS || keys_banned)
		return;
	lf_die(LR_EXIT_SETUP, "cannot give the container a session keyring "
	       "of its own: %s", strerror(errno));
}

/* Before the other identity steps: the filter goes on while the process
 * still holds CAP_SYS_ADMIN in the container's user namespace, which
 * the kernel asks for when no_new_privs is off (--allow-new-privs). */
void payload_confine(const struct payload *p)
{
	leave_session_keyring(p);
	int r = !p->seccomp	     ? 0
		: p->seccomp_insns ? seccomp_install_prog(p->seccomp_insns,
							  p->seccomp_len)
				   : seccomp_install(p->caps);
	if (r < 0)
		lf_die(LR_EXIT_SETUP, "cannot install the seccomp filter: %s",
		       strerror(-r));
}

static void set_identity(const struct payload *p)
{
	char err[256];
	if (ulimits_apply(p->ulimits, p->nulimits, ULIMIT_BUT_NOFILE, err,
			  sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	payload_confine(p);
	if (p->setgroups_allowed &&
	    setgroups(p->ngroups, p->ngroups ? p->groups : NULL) < 0)
		lf_die(LR_EXIT_SETUP, "setgroups: %s", strerror(errno));
	int r = caps_limit_bounding(p->caps);
	if (r < 0)
		lf_die(LR_EXIT_SETUP, "cannot limit capabilities: %s",
		    strerror(-r));
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		lf_die(LR_EXIT_SETUP,
		    errno == EINVAL
			    ? "gid %u does not exist in the container's user "
			      "namespace (a single-id namespace has only 0; "
			      "--userns subid maps more)"
			    : "setgid %u failed",
		    (unsigned)p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		lf_die(LR_EXIT_SETUP,
		    errno == EINVAL
			    ? "uid %u does not exist in the container's user "
			      "namespace (a single-id namespace has only 0; "
			      "--userns subid maps more)"
			    : "setuid %u failed",
		    (unsigned)p->uid);
	/* Root keeps the container's set; any other user lost every
	 * capability in setresuid, as in Docker. */
	if (p->uid == 0 && (r = caps_set_process(p->caps)) < 0)
		lf_die(LR_EXIT_SETUP, "cannot set capabilities: %s", strerror(-r));
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		lf_die(LR_EXIT_SETUP, "no_new_privs: %s", strerror(errno));
}

static void reset_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static const char *path_of(char *const *envp)
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			return envp[i] + 5;
	return ENV_DEFAULT_PATH;
}

/* The fd the sealed init is kept at once everything else is closed. */
#define TRAMPOLINE_FD 3

/*
 * execve(PATH, ARGV, ENVP), through the sealed init when TRAMPOLINE: it
 * checks here what execve would refuse (so the PATH search and the exit
 * statuses stay the same), then runs `layerrun-init --exec PATH ARGV...`
 * from the memfd, which execs PATH.  Returns only on failure, errno set.
 */
static void exec_command(const char *path, char *const *argv,
			 char *const *envp, bool trampoline)
{
	if (!trampoline) {
		execve(path, argv, envp);
		return;
	}
	struct stat st;
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return;
	if (stat(path, &st) < 0)
		return;
	if (!S_ISREG(st.st_mode)) {
		errno = EACCES;
		return;
	}
	size_t n = 0;
	while (argv[n])
		n++;
	char **v = calloc(n + 4, sizeof(char *));
	if (!v) {
		errno = ENOMEM;
		return;
	}
	v[0] = (char *)"layerrun-init";
	v[1] = (char *)"--exec";
	v[2] = (char *)path;
	memcpy(v + 3, argv, (n + 1) * sizeof(char *));
	execveat(TRAMPOLINE_FD, "", v, envp, AT_EMPTY_PATH);
	free(v);
}

static void run(char *const *argv, char *const *envp, bool trampoline)
{
	const char *cmd = argv[0];
	/* execve("") fails ENOENT; the PATH search would try "DIR/", a
	 * directory, and say "permission denied" (126) instead. */
	if (!*cmd)
		lf_die(LR_EXIT_NOT_FOUND, "cannot run '': the command is empty");
	if (strchr(cmd, '/')) {
		exec_command(cmd, argv, envp, trampoline);
		int e = errno;
		lf_die(e == ENOENT ? LR_EXIT_NOT_FOUND : LR_EXIT_CANNOT_EXEC,
		    "cannot run '%s': %s", cmd, strerror(e));
	}
	const char *p = path_of(envp);
	int denied = 0;
	while (*p) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char full[PATH_MAX];
		if (n == 0)
			lr_fmt(full, sizeof(full), "%s", cmd);
		else
			lr_fmt(full, sizeof(full), "%.*s/%s", (int)n, p, cmd);
		exec_command(full, argv, envp, trampoline);
		if (errno == EACCES)
			denied = EACCES;
		else if (errno != ENOENT && errno != ENOTDIR)
			lf_die(LR_EXIT_CANNOT_EXEC, "cannot run '%s': %s", full,
			    strerror(errno));
		if (!e)
			break;
		p = e + 1;
	}
	if (denied)
		lf_die(LR_EXIT_CANNOT_EXEC, "cannot run '%s': %s", cmd,
		    strerror(denied));
	lf_die(LR_EXIT_NOT_FOUND, "'%s' was not found in the container's PATH",
	    cmd);
}

void payload_exec(const struct payload *p)
{
	/* Until exec, nothing in the container may ptrace us to reach the
	 * launcher's memory or descriptors. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Kept above the fds the sealed init moves to, until the exec. */
	int report = p->setup_report_fd;
	if (report >= 0 && report <= TRAMPOLINE_FD + 1)
		report = fcntl(report, F_DUPFD_CLOEXEC, TRAMPOLINE_FD + 2);
	if (report >= 0)
		lf_set_message_fd(report);
	else if (p->setup_report_fd >= 0)
		lf_die(LR_EXIT_SETUP, "cannot keep the start's report: %s",
		    strerror(errno));
	setup_stdio(p);
	enter_cwd(p->cwd);
	set_identity(p);
	reset_signals();
	bool trampoline = p->trampoline_fd >= 0;
	if (trampoline && p->trampoline_fd != TRAMPOLINE_FD &&
	    (dup2(p->trampoline_fd, TRAMPOLINE_FD) < 0 ||
	     fcntl(TRAMPOLINE_FD, F_SETFD, FD_CLOEXEC) < 0))
		lf_die(LR_EXIT_SETUP, "cannot keep the sealed init: %s",
		    strerror(errno));
	int first_closed = trampoline ? TRAMPOLINE_FD + 1 : 3;
	if (report >= 0) {
		if (dup3(report, first_closed, O_CLOEXEC) < 0)
			lf_die(LR_EXIT_SETUP, "cannot keep the start's report: %s",
			    strerror(errno));
		lf_set_message_fd(first_closed++);
	}
	close_range(first_closed, ~0U, 0);
	/* The file limit last: the fds above are already there when it is
	 * lower than they need (podman's `--ulimit nofile=0` still runs a
	 * static program; the limit is the command's, not the launcher's). */
	char err[256];
	if (ulimits_apply(p->ulimits, p->nulimits, ULIMIT_NOFILE, err,
			  sizeof(err)) < 0)
		lf_die(LR_EXIT_SETUP, "%s", err);
	run(p->argv, p->envp, trampoline);
	_exit(LR_EXIT_SETUP);
}
