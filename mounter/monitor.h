/*
 * Waiting for a container's (or an exec'd command's) process in the
 * foreground: signals are forwarded to it (TERM, INT, HUP, QUIT, USR1,
 * USR2, WINCH), and with a terminal the launcher's own terminal is put
 * in raw mode and proxied to the container's pseudo-terminal, window
 * size changes included.
 */
#ifndef LR_MONITOR_H
#define LR_MONITOR_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* The signals a launcher forwards, plus SIGCHLD: block them before any
 * child exists, so none is lost and children inherit the mask. */
void monitor_block_signals(sigset_t *old);

/*
 * Waits for PID (our child), forwarding signals.  MASTER is the pty
 * master or -1; INTERACTIVE copies our stdin to it.  DAEMON (NULL for
 * none) is the container's layerfs daemon, our child too: when it ends
 * while PID runs, a warning says so, and when it is reaped here *DAEMON
 * becomes 0.  Returns the exit status to report: the code, or 128+N
 * when signal N killed it.
 */
int monitor_wait(pid_t pid, int master, bool interactive, pid_t *daemon);

struct pid_list {
	pid_t *v;
	size_t n;
};

/* Our children now (empty when they cannot be listed). */
void monitor_children(struct pid_list *out);
void pid_list_free(struct pid_list *l);

/*
 * Once a container's init has ended: kills the processes it left to us
 * (the launcher is their subreaper) and reaps them, all but KEEP (the
 * layerfs daemon, which stays ours to reap) and those in BEFORE (our
 * children before the container existed: a shell's background jobs
 * that `exec layerrun` made ours).  In a pid namespace of its own the
 * kernel ended them with the init; with --pid host, or after its init
 * was killed before it could end them itself, nothing else would, and
 * they would keep the container's mount, and its daemon, alive.
 */
void monitor_end_adopted(pid_t keep, const struct pid_list *before);

/* Waits up to TIMEOUT_MS for our child PID to exit; true when it did. */
bool monitor_reap(pid_t pid, int timeout_ms);

#endif
