/*
 * lrpayload: a static multi-call program the layerrun tests run inside
 * containers, where no C library of the host is available.
 *
 *   lrpayload signals        print "ready", then "got NAME" for each of
 *                            HUP INT QUIT USR1 USR2 WINCH ALRM PWR URG
 *                            RTMIN+3; exit 42 on TERM
 *   lrpayload memhog MIB     allocate and touch MIB MiB, print "done"
 *   lrpayload fds            list the open descriptors above 2
 *   lrpayload syscall NAME   try mount, umount, chroot, unshare-user,
 *                            unshare-mount, sethostname, ptrace-1,
 *                            pivot_root, init_module, keyctl, add_key,
 *                            io_uring_setup, userfaultfd, keyctl-i386
 *                            (by int $0x80), keyctl-x32,
 *                            clock_settime-bad (an invalid time: EINVAL
 *                            when allowed, so the clock never changes),
 *                            nr:N (call number N, every argument 0);
 *                            print "ok" or the errno name ("n/a": no
 *                            such ABI on this machine)
 *   lrpayload keyring NAME   the data of the user key NAME found from the
 *                            session keyring, or the errno name
 *   lrpayload withkey NAME DATA CMD...  join a new session keyring, add
 *                            the user key NAME there, then exec CMD
 *   lrpayload exe1           open /proc/1/exe for writing; "ok" or errno
 *   lrpayload exit N         exit with N
 *   lrpayload selfkill SIG   kill itself with signal SIG (a number)
 *   lrpayload deep make DIR N  N directories "d" below DIR, one in the
 *                            other, and a file "leaf" holding "deep N"
 *                            at the bottom: a container going as deep
 *                            as it likes, past PATH_MAX (one descriptor
 *                            at a time, as no shell's cd can)
 *   lrpayload deep read DIR  down DIR's "d" as far as they go: prints
 *                            "N: " and the leaf there
 *   lrpayload exeself        what /proc/self/exe is: "DEV:INO" of the
 *                            file, then "write:ok" or the errno name of
 *                            opening it for writing (run as the ELF
 *                            interpreter of a '#!/proc/self/exe' script,
 *                            the CVE-2019-5736 way into the launcher)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>

static volatile sig_atomic_t got[65];

static void on_signal(int sig)
{
	got[sig] = 1;
}

static int signals(void)
{
	const int sigs[] = { SIGHUP,  SIGINT, SIGQUIT, SIGUSR1,	  SIGUSR2,
			     SIGWINCH, SIGALRM, SIGPWR, SIGURG, SIGPIPE,
			     SIGRTMIN + 3, SIGTERM };
	sigset_t block, old;
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(int); i++) {
		struct sigaction sa = { .sa_handler = on_signal };
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &old);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		sigsuspend(&old);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(int); i++) {
			int s = sigs[i];
			if (!got[s])
				continue;
			got[s] = 0;
			if (s == SIGRTMIN + 3)
				printf("got RTMIN+3\n");
			else
				printf("got %s\n", sigabbrev_np(s));
			fflush(stdout);
			if (s == SIGTERM)
				return 42;
		}
	}
}

static int memhog(long mib)
{
	for (long i = 0; i < mib; i++) {
		char *p = malloc(1 << 20);
		if (!p) {
			printf("malloc failed at %ld MiB\n", i);
			return 1;
		}
		memset(p, (int)i | 1, 1 << 20);
	}
	printf("done\n");
	return 0;
}

static int fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 1;
	int self = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] == '.' || fd <= 2 || fd == self)
			continue;
		char path[64], target[512];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		printf("%d %s\n", fd, target);
	}
	closedir(d);
	return 0;
}

static int report(int r)
{
	if (r == 0)
		printf("ok\n");
	else
		printf("%s\n", strerrorname_np(errno));
	return 0;
}

/* keyctl of the i386 ABI (its number 288) from this 64-bit process:
 * the way around a filter that knows only the native numbers.  Tried
 * in a child: a kernel without that ABI answers int $0x80 with SIGSEGV. */
static int keyctl_i386(void)
{
#ifdef __x86_64__
	pid_t pid = fork();
	if (pid == 0) {
		long r;
		__asm__ volatile("int $0x80"
				 : "=a"(r)
				 : "a"(288L), "b"((long)KEYCTL_GET_KEYRING_ID),
				   "c"((long)KEY_SPEC_SESSION_KEYRING), "d"(0L)
				 : "memory");
		_exit(r < 0 && r > -4096 ? (int)-r : 0);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	if (!WIFEXITED(status)) {
		printf("n/a\n");
		exit(0);
	}
	errno = WEXITSTATUS(status);
	return errno ? -1 : 0;
#else
	printf("n/a\n");
	exit(0);
#endif
}

static int keyctl_x32(void)
{
#ifdef __x86_64__
	return (int)syscall(SYS_keyctl | 0x40000000L, KEYCTL_GET_KEYRING_ID,
			    KEY_SPEC_SESSION_KEYRING, 0) < 0 ? -1 : 0;
#else
	printf("n/a\n");
	exit(0);
#endif
}

static int io_uring(void)
{
	struct io_uring_params p = { 0 };
	int fd = (int)syscall(SYS_io_uring_setup, 1, &p);
	if (fd >= 0)
		close(fd);
	return fd < 0 ? -1 : 0;
}

static int try_syscall(const char *name)
{
	if (strcmp(name, "keyctl") == 0)
		return report((int)syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID,
					   KEY_SPEC_SESSION_KEYRING, 0) < 0
				      ? -1 : 0);
	if (strcmp(name, "add_key") == 0)
		return report((int)syscall(SYS_add_key, "user", "lrpayload",
					   "x", 1, KEY_SPEC_SESSION_KEYRING) < 0
				      ? -1 : 0);
	if (strcmp(name, "keyctl-i386") == 0)
		return report(keyctl_i386());
	if (strcmp(name, "keyctl-x32") == 0)
		return report(keyctl_x32());
	if (strcmp(name, "io_uring_setup") == 0)
		return report(io_uring());
	if (strcmp(name, "userfaultfd") == 0) {
		int fd = (int)syscall(SYS_userfaultfd, 0);
		return report(fd < 0 ? -1 : close(fd));
	}
	if (strcmp(name, "clock_settime-bad") == 0) {
		struct timespec bad = { .tv_sec = 0, .tv_nsec = 2000000000L };
		/* Not clock_settime(3): the C library refuses it itself. */
		return report((int)syscall(SYS_clock_settime, CLOCK_REALTIME,
					   &bad));
	}
	if (strcmp(name, "mount") == 0)
		return report(mount("none", "/tmp", "tmpfs", 0, NULL));
	if (strcmp(name, "umount") == 0)
		return report(umount2("/proc", MNT_DETACH));
	if (strcmp(name, "chroot") == 0)
		return report(chroot("/"));
	if (strcmp(name, "unshare-user") == 0)
		return report(unshare(CLONE_NEWUSER));
	if (strcmp(name, "unshare-mount") == 0)
		return report(unshare(CLONE_NEWNS));
	if (strcmp(name, "sethostname") == 0)
		return report(sethostname("evil", 4));
	if (strcmp(name, "pivot_root") == 0)
		return report((int)syscall(SYS_pivot_root, "/", "/"));
	if (strcmp(name, "init_module") == 0)
		return report((int)syscall(SYS_init_module, "", 0UL, ""));
	if (strcmp(name, "ptrace-1") == 0)
		return report((int)ptrace(PTRACE_ATTACH, 1, NULL, NULL));
	if (strncmp(name, "nr:", 3) == 0)
		return report((int)syscall(atol(name + 3), 0L, 0L, 0L, 0L, 0L,
					   0L) < 0 ? -1 : 0);
	fprintf(stderr, "unknown syscall test %s\n", name);
	return 2;
}

static int keyring_read(const char *name)
{
	long id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING,
			  "user", name, 0);
	char data[256];
	long n = id < 0 ? -1 : syscall(SYS_keyctl, KEYCTL_READ, id, data,
					 sizeof(data) - 1);
	if (n < 0)
		return report(-1);
	data[n < (long)sizeof(data) ? n : (long)sizeof(data) - 1] = 0;
	printf("%s\n", data);
	return 0;
}

static int withkey(const char *name, const char *data, char **cmd)
{
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 ||
	    syscall(SYS_add_key, "user", name, data, strlen(data),
		    KEY_SPEC_SESSION_KEYRING) < 0) {
		fprintf(stderr, "lrpayload: cannot add a key: %s\n",
			strerror(errno));
		return 2;
	}
	execvp(cmd[0], cmd);
	fprintf(stderr, "lrpayload: cannot run %s: %s\n", cmd[0],
		strerror(errno));
	return 2;
}

/* DIR/d/d/.../d, N deep, and its leaf; or, N < 0, as deep as it goes. */
static int deep(const char *how, const char *dir, long n)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long depth = 0;
	bool make = strcmp(how, "make") == 0;
	while (fd >= 0 && (!make || depth < n)) {
		if (make && mkdirat(fd, "d", 0755) < 0)
			break;
		int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (next < 0)
			break;
		close(fd);
		fd = next;
		depth++;
	}
	if (fd < 0 || (make && depth < n)) {
		printf("%ld: %s\n", depth, strerrorname_np(errno));
		return 1;
	}
	char leaf[64] = "";
	int lfd = make ? openat(fd, "leaf", O_WRONLY | O_CREAT | O_CLOEXEC,
				0644)
		       : openat(fd, "leaf", O_RDONLY | O_CLOEXEC);
	if (lfd >= 0 && make)
		dprintf(lfd, "deep %ld\n", depth);
	else if (lfd >= 0 && read(lfd, leaf, sizeof(leaf) - 1) < 0)
		leaf[0] = 0;
	printf("%ld: %s", depth,
	       lfd < 0 ? "no leaf\n" : make ? "made\n" : leaf);
	if (lfd >= 0)
		close(lfd);
	close(fd);
	return lfd < 0;
}

static int exeself(void)
{
	struct stat st;
	if (stat("/proc/self/exe", &st) < 0) {
		printf("stat:%s\n", strerrorname_np(errno));
		return 0;
	}
	printf("%llu:%llu\n", (unsigned long long)st.st_dev,
	       (unsigned long long)st.st_ino);
	int fd = open("/proc/self/exe", O_WRONLY);
	printf("write:%s\n", fd >= 0 ? "ok" : strerrorname_np(errno));
	return 0;
}

int main(int argc, char **argv)
{
	/* As an ELF interpreter, argv[0] is the script's interpreter. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "exeself") == 0)
			return exeself();
	if (argc < 2) {
		fprintf(stderr, "usage: lrpayload COMMAND [ARG]\n");
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "signals") == 0)
		return signals();
	if (strcmp(cmd, "memhog") == 0 && argc == 3)
		return memhog(atol(argv[2]));
	if (strcmp(cmd, "fds") == 0)
		return fds();
	if (strcmp(cmd, "syscall") == 0 && argc == 3)
		return try_syscall(argv[2]);
	if (strcmp(cmd, "keyring") == 0 && argc == 3)
		return keyring_read(argv[2]);
	if (strcmp(cmd, "withkey") == 0 && argc >= 5)
		return withkey(argv[2], argv[3], argv + 4);
	if (strcmp(cmd, "exe1") == 0)
		return report(open("/proc/1/exe", O_WRONLY) < 0 ? -1 : 0);
	if (strcmp(cmd, "deep") == 0 && argc >= 4)
		return deep(argv[2], argv[3], argc > 4 ? atol(argv[4]) : -1);
	if (strcmp(cmd, "exit") == 0 && argc == 3)
		return atoi(argv[2]);
	if (strcmp(cmd, "selfkill") == 0 && argc == 3) {
		signal(atoi(argv[2]), SIG_DFL);
		kill(getpid(), atoi(argv[2]));
		pause();
	}
	fprintf(stderr, "lrpayload: unknown command %s\n", cmd);
	return 2;
}
