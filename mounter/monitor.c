#include "monitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lf_common.h"

/*
 * The signals the launcher keeps for itself: those it cannot take, those
 * the kernel sends about the launcher's own doing (faults, its own
 * limits), and the terminal's job control, which stops or resumes the
 * launcher as a shell expects of a foreground job.
 */
static const int kept[] = {
	SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS,
	SIGXCPU, SIGXFSZ, SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT,
};

/* Every other signal goes on to the container's init (as podman's
 * sig-proxy does): one left to its default action, SIGALRM or SIGPWR
 * say, would end the launcher and leave the container running.
 * SIGPIPE too, when another process sends it (`kill -PIPE`): it ended
 * the launcher and lost the status.  One the kernel sends for the
 * launcher's own write to a pipe whose reader has gone is not
 * forwarded (monitor_wait): the relay of a terminal's output gives the
 * command the SIGPIPE it would have had writing there itself. */
static void forward_set(sigset_t *set)
{
	sigfillset(set);
	for (size_t i = 0; i < LF_ARRAY_SIZE(kept); i++)
		sigdelset(set, kept[i]);
}

void monitor_block_signals(sigset_t *old)
{
	sigset_t set;
	forward_set(&set);
	sigprocmask(SIG_BLOCK, &set, old);
}

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

struct tty_state {
	bool raw;
	struct termios saved;
};

static void raw_begin(struct tty_state *t)
{
	t->raw = false;
	if (!isatty(0) || tcgetattr(0, &t->saved) < 0)
		return;
	struct termios raw = t->saved;
	cfmakeraw(&raw);
	if (tcsetattr(0, TCSADRAIN, &raw) == 0)
		t->raw = true;
}

static void raw_end(struct tty_state *t)
{
	if (t->raw)
		tcsetattr(0, TCSADRAIN, &t->saved);
}

static void copy_winsize(int master)
{
	struct winsize ws;
	if (ioctl(0, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum pumped { PUMP_MORE, PUMP_END, PUMP_OUT_FAILED };

/*
 * The container's layerfs daemon, watched while its init runs: one that
 * ends first (killed, crashed) leaves the container's files unreachable
 * (ENOTCONN), and the user is told, once.  A daemon also ends, by
 * itself, when the init's exit tears the mount down, and the kernel
 * may report that exit first: it is told only when the init still runs
 * DAEMON_GRACE_MS after.
 */
struct daemon_watch {
	pid_t *pid;      /* set to 0 once reaped (NULL: no daemon) */
	pid_t reaped;    /* what *pid was */
	int64_t gone_at; /* when it was reaped; -1: it runs */
	int status;      /* its wait status */
	bool told;
};

enum { DAEMON_GRACE_MS = 500 };

static void daemon_watch_poll(struct daemon_watch *d)
{
	int st;
	if (!d->pid || *d->pid <= 0 || d->gone_at >= 0 ||
	    waitpid(*d->pid, &st, WNOHANG) != *d->pid)
		return;
	d->gone_at = now_ms();
	d->status = st;
	d->reaped = *d->pid;
	*d->pid = 0;
}

/* Whether the monitor's poll must wake up to tell about the daemon. */
static bool daemon_watch_pending(const struct daemon_watch *d, bool child_done)
{
	return d->gone_at >= 0 && !d->told && !child_done;
}

static void daemon_watch_tell(struct daemon_watch *d, bool child_done,
			      bool raw)
{
	if (!daemon_watch_pending(d, child_done) ||
	    now_ms() - d->gone_at < DAEMON_GRACE_MS)
		return;
	d->told = true;
	char how[64];
	if (WIFSIGNALED(d->status))
		snprintf(how, sizeof(how), "was killed by signal %d",
			 WTERMSIG(d->status));
	else
		snprintf(how, sizeof(how), "exited with status %d",
			 WEXITSTATUS(d->status));
	/* In raw mode a "\n" alone does not return to the line's start. */
	fprintf(stderr, "%s%s: warning: layerfs (pid %d) %s while the "
		"container runs: its files cannot be reached any more%s",
		raw ? "\r\n" : "", lf_progname(), (int)d->reaped, how,
		raw ? "\r\n" : "\n");
}

/* Moves what is readable on FROM to TO (TO < 0: reads and drops it):
 * PUMP_END at the end of FROM or a read error, PUMP_OUT_FAILED when TO
 * takes no more (errno says why). */
static enum pumped pump(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return PUMP_MORE;
	if (n <= 0)
		return PUMP_END;
	if (to < 0)
		return PUMP_MORE; /* dropped */
	return lf_write_all(to, buf, (size_t)n) == 0 ? PUMP_MORE
						      : PUMP_OUT_FAILED;
}

int monitor_wait(pid_t pid, int master, bool interactive, pid_t *daemon)
{
	sigset_t set;
	forward_set(&set);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	struct tty_state tty = { 0 };
	if (master >= 0) {
		fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
		if (interactive)
			raw_begin(&tty);
	}
	bool child_done = false, master_done = master < 0;
	bool stdin_open = master >= 0 && interactive;
	int status = 255;
	int drain_ms = 0;
	/* When stdout took no more of the terminal's output (ms,
	 * CLOCK_MONOTONIC; -1: it takes it): from then on the output is
	 * dropped, for at most HANGUP_MS before a hang-up. */
	int64_t broken_at = -1;
	enum { HANGUP_MS = 1000 };
	struct daemon_watch dw = { .pid = daemon, .gone_at = -1 };
	while (!child_done || !master_done) {
		struct pollfd p[3];
		int n = 0;
		p[n++] = (struct pollfd){ sfd, POLLIN, 0 };
		int mi = -1, ii = -1;
		if (!master_done) {
			mi = n;
			p[n++] = (struct pollfd){ master, POLLIN, 0 };
		}
		if (stdin_open && !child_done) {
			ii = n;
			p[n++] = (struct pollfd){ 0, POLLIN, 0 };
		}
		/* Once the container is gone, its terminal only has to be
		 * drained: the last process may hold the slave briefly. */
		int timeout = child_done || broken_at >= 0 ||
					      daemon_watch_pending(&dw, child_done)
				      ? 100
				      : -1;
		int r = poll(p, (nfds_t)n, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r == 0 && child_done && (drain_ms += 100) >= 2000)
			break;
		if (mi >= 0 && (p[mi].revents & (POLLIN | POLLHUP | POLLERR))) {
			enum pumped pr = pump(master, broken_at < 0 ? 1 : -1);
			if (pr == PUMP_OUT_FAILED) {
				/* Our output is gone (a pipe whose reader
				 * left, a full disk): the command gets the
				 * SIGPIPE it would have had writing to that
				 * pipe itself, and what it writes meanwhile
				 * is read and dropped. */
				if (errno == EPIPE && !child_done)
					kill(pid, SIGPIPE);
				broken_at = now_ms();
				pr = PUMP_MORE;
			}
			if (pr != PUMP_MORE)
				master_done = true;
		}
		if (broken_at >= 0 && !master_done &&
		    now_ms() - broken_at >= HANGUP_MS) {
			/* It went on regardless (SIGPIPE ignored): hang
			 * up, so that its writes fail rather than fill a
			 * terminal nobody reads. */
			close(master);
			master = -1;
			master_done = true;
			stdin_open = false;
		}
		if (ii >= 0 && (p[ii].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    master >= 0 && pump(0, master) != PUMP_MORE) {
			/* Our input ended: end the terminal's input too, as
			 * a ^D at the start of a line would. */
			char eof = 4;
			struct termios t;
			if (tcgetattr(master, &t) == 0)
				eof = (char)t.c_cc[VEOF];
			if (write(master, &eof, 1) < 0) {
				/* the container may be gone already */
			}
			stdin_open = false;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				int sig = (int)si.ssi_signo;
				if (sig == SIGCHLD)
					continue;
				/* A SIGPIPE of our own write (the kernel's,
				 * sent as if by us): not the container's; the
				 * relay above deals with its output. */
				if (sig == SIGPIPE && si.ssi_code == SI_USER &&
				    si.ssi_pid == (uint32_t)getpid())
					continue;
				if (sig == SIGWINCH && master >= 0)
					copy_winsize(master);
				else if (!child_done)
					kill(pid, sig);
			}
		}
		if (!child_done) {
			int st;
			pid_t w = waitpid(pid, &st, WNOHANG);
			if (w == pid || (w < 0 && errno == ECHILD)) {
				child_done = true;
				status = w == pid ? status_of(st) : 255;
			}
		}
		daemon_watch_poll(&dw);
		daemon_watch_tell(&dw, child_done, tty.raw);
	}
	if (!child_done) {
		int st;
		if (waitpid(pid, &st, 0) == pid)
			status = status_of(st);
	}
	raw_end(&tty);
	if (sfd >= 0)
		close(sfd);
	return status;
}

bool monitor_reap(pid_t pid, int timeout_ms)
{
	if (pid <= 0)
		return true;
	/* A pidfd becomes readable when the process exits: no polling
	 * interval added to every container's exit. */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		struct pollfd p = { pfd, POLLIN, 0 };
		while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
			;
		close(pfd);
	}
	for (int waited = 0;; waited += 10) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid || (w < 0 && errno == ECHILD))
			return true;
		if (waited >= timeout_ms || pfd >= 0)
			return false;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* The parent of process PID from /proc/PID/stat (the field after the
 * parenthesised name, which may hold anything); -1 when it is gone. */
static pid_t parent_of(const char *pid)
{
	char path[32], buf[512];
	snprintf(path, sizeof(path), "/proc/%.16s/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *end = strrchr(buf, ')');
	char state;
	int ppid;
	if (!end || sscanf(end + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return ppid;
}

/* Adds pid to l; false when out of memory. */
static bool pid_list_add(struct pid_list *l, pid_t pid)
{
	pid_t *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv)
		return false;
	l->v = nv;
	l->v[l->n++] = pid;
	return true;
}

static bool pid_list_has(const struct pid_list *l, pid_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == pid)
			return true;
	return false;
}

void pid_list_free(struct pid_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Our children, by a scan of /proc. */
static void children_scanned(struct pid_list *out)
{
	DIR *d = opendir("/proc");
	if (!d)
		return;
	pid_t self = getpid();
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
		    parent_of(e->d_name) == self &&
		    !pid_list_add(out, (pid_t)atoi(e->d_name)))
			break;
	closedir(d);
}

void monitor_children(struct pid_list *out)
{
	*out = (struct pid_list){ 0 };
	/* The kernel's own list where it keeps one (CONFIG_PROC_CHILDREN),
	 * read whole: a number cut at the end of a partial read would name
	 * another process. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/children",
		 (int)gettid());
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *text = NULL;
	if (fd < 0 || lf_read_fd(fd, 1u << 20, &text, NULL) < 0) {
		if (fd >= 0)
			close(fd);
		children_scanned(out);
		return;
	}
	close(fd);
	for (char *p = text, *end;; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p || !pid_list_add(out, (pid_t)pid))
			break;
	}
	free(text);
}

void monitor_end_adopted(pid_t keep, const struct pid_list *before)
{
	for (int round = 0; round < 200; round++) {
		struct pid_list now;
		monitor_children(&now);
		size_t killed = 0;
		for (size_t i = 0; i < now.n; i++) {
			pid_t pid = now.v[i];
			if (pid == keep || pid_list_has(before, pid))
				continue;
			/* Our child, not reaped: its pid is no one else's. */
			kill(pid, SIGKILL);
			int st;
			waitpid(pid, &st, WNOHANG);
			killed++;
		}
		pid_list_free(&now);
		if (killed == 0)
			return;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}
