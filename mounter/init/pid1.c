/*
 * layerrun-init: the container's PID 1.
 *
 * usage: layerrun-init PID
 *
 * Started by the launcher, which forked the command as PID and exec'd
 * this program with every signal blocked: nothing can be lost between
 * the fork and the signalfd below.  It forwards every signal but
 * SIGCHLD to the command, reaps every zombie the container leaves to
 * it, and exits with the command's status (128+N when a signal N killed
 * it); the kernel then kills whatever is left in the pid namespace.
 *
 * It is a static program of its own, run from a sealed memfd the
 * launcher fills from a copy embedded in itself: /proc/1/exe in the
 * container names that memfd, which cannot be written, so a container
 * cannot overwrite the launcher through it (CVE-2019-5736), and being
 * static it needs nothing from the container's root.  It keeps only
 * CAP_KILL, for signalling a command running as another user.
 *
 * usage: layerrun-init --exec PATH ARGV0 ARG...
 *
 * The trampoline of every command layerrun starts (payload.c): the
 * launcher's process execs this sealed copy, which execs PATH, so no
 * process in the container ever runs the launcher's own binary, not even
 * for a '#!/proc/self/exe' script.  Nothing changes but the image:
 * credentials, capabilities and descriptors are the caller's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* capset(2)'s arguments, version 3 (linux/capability.h: a libc such as
 * musl does not carry the kernel's headers, and the ABI is fixed). */
#define CAPSET_VERSION_3 0x20080522
#define CAP_KILL 5
struct capset_header {
	unsigned int version;
	int pid;
};
struct capset_data {
	unsigned int effective, permitted, inheritable;
};

/* The bounding set is left as it is: it only limits what an exec could
 * gain, and this process never execs, under no_new_privs besides.
 * (Dropping it here failed anyway, 63 calls at every start: capset has
 * taken CAP_SETPCAP away first.) */
static void keep_only_kill(void)
{
	struct capset_header hdr = { CAPSET_VERSION_3, 0 };
	struct capset_data data[2];
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = 1u << CAP_KILL;
	syscall(SYS_capset, &hdr, data);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

/* Not PID 1 (the host's pid namespace): nobody else will end what the
 * command left running, so kill the orphans that came to us. */
static void kill_orphans(void)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/self/task/%d/children",
		 (int)getpid());
	for (int round = 0; round < 100; round++) {
		FILE *f = fopen(path, "re");
		if (!f)
			return;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		if (!n)
			return;
		for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
			kill((pid_t)atoi(t), SIGKILL);
		while (waitpid(-1, NULL, 0) > 0)
			;
	}
}

/* --exec: exits 126 (cannot execute) or 127 (gone) like the launcher. */
static int trampoline(char **argv)
{
	execve(argv[0], argv + 1, environ);
	int e = errno;
	fprintf(stderr, "layerrun: cannot run '%s': %s\n", argv[0],
		strerror(e));
	return e == ENOENT ? 127 : 126;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "--exec") == 0)
		return trampoline(argv + 2);
	if (argc != 2)
		return 125;
	pid_t child = (pid_t)atoi(argv[1]);
	/* Not dumpable: ptrace and /proc/1/mem need CAP_SYS_PTRACE, which
	 * the container's default set lacks, so no process in it can stop
	 * or take over its init.  First, with the descriptors it may have
	 * been left, before its capabilities go (which a process of the
	 * container holding CAP_KILL could otherwise match to open them
	 * through /proc/1/fd). */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	syscall(SYS_close_range, 3, ~0u, 0);
	int pid1 = getpid() == 1;
	if (!pid1)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	keep_only_kill();

	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	if (sfd < 0)
		return 125;

	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));
		if (n != sizeof(si)) {
			if (n < 0 && errno == EINTR)
				continue;
			return 125;
		}
		/* Every signal but SIGCHLD is the command's: `layerrun kill`
		 * sends any signal here (PWR, TSTP, real-time ones ...), and
		 * one dropped would be lost with kill's status 0.  The
		 * container's own processes reach us too (the kernel queues a
		 * blocked signal even for a namespace's init), but only those
		 * the kernel lets signal the container's root: root's own
		 * processes, which with the default capabilities (CAP_KILL)
		 * may signal the command, whatever its user, anyway. */
		int sig = (int)si.ssi_signo;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			if (p != child)
				continue;
			if (!pid1)
				kill_orphans();
			return status_of(st);
		}
		if (p < 0 && errno == ECHILD)
			return 255; /* the command vanished unseen */
	}
}
