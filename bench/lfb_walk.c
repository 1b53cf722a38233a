/*
 * lfb-walk: the many-process stat/read load of the benchmark.
 *
 *   lfb-walk [-j PROCS] [-r] LIST ROOT
 *
 * Every path listed in LIST (one path relative to ROOT per line) is
 * lstat'ed, and with -r every regular file is also read to its end.  The
 * list is split among PROCS forked workers (entry i goes to worker
 * i % PROCS), so the total work is the same whatever PROCS is and only the
 * parallelism changes.  A C helper rather than a script, so that the
 * interpreter's own cost per file does not hide the filesystem's.
 *
 * Prints "entries N bytes B errors E" on stdout.
 * Exit status: 0 every entry was done, 1 bad usage, 2 LIST or ROOT cannot
 * be opened, 3 some entries failed (the first failure is reported).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lf_common.h"

#define MAX_PROCS 256
#define READ_CHUNK (256 * 1024)

struct walk_counts {
	uint64_t entries;
	uint64_t bytes;
	uint64_t errors;
};

struct path_list {
	char *text;
	char **paths;
	size_t count;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lfb-walk [-j PROCS] [-r] LIST ROOT\n"
		"\n"
		"lstat every path listed in LIST (one per line, relative to "
		"ROOT);\nwith -r also read every regular file to its end.  "
		"The list is split\namong PROCS worker processes (default 1, "
		"at most %d).\n"
		"\n"
		"Prints \"entries N bytes B errors E\".\n"
		"Exit status: 0 all entries done, 1 bad usage, 2 LIST or ROOT "
		"cannot be\nopened, 3 some entries failed.\n",
		MAX_PROCS);
}

/* Splits the file into lines in place; empty lines are skipped. */
static int load_list(const char *file, struct path_list *list)
{
	size_t len;
	int r = lf_read_file_at(AT_FDCWD, file, &list->text, &len);
	if (r < 0)
		return r;
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += list->text[i] == '\n';
	list->paths = calloc(lines, sizeof(*list->paths));
	if (!list->paths)
		return -ENOMEM;
	list->count = 0;
	char *save = NULL;
	for (char *p = strtok_r(list->text, "\n", &save); p;
	     p = strtok_r(NULL, "\n", &save))
		list->paths[list->count++] = p;
	return 0;
}

static int read_to_end(int rootfd, const char *path, char *buf,
		       uint64_t *bytes)
{
	int fd LF_AUTOCLOSE =
		openat(rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = LF_RETRY(read(fd, buf, READ_CHUNK));
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		*bytes += (uint64_t)n;
	}
}

/*
 * The paths are resolved by the kernel as any program would resolve them:
 * the point is to load the filesystem under test with ordinary lookups,
 * and the list only names entries the benchmark itself created.
 */
static void walk_share(int rootfd, const struct path_list *list,
		       size_t worker, size_t procs, bool do_read,
		       struct walk_counts *c)
{
	char *buf = do_read ? malloc(READ_CHUNK) : NULL;
	bool reported = false;
	if (do_read && !buf) {
		c->errors = 1;
		return;
	}
	for (size_t i = worker; i < list->count; i += procs) {
		const char *path = list->paths[i];
		struct stat st;
		int r = 0;
		if (fstatat(rootfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		else if (do_read && S_ISREG(st.st_mode))
			r = read_to_end(rootfd, path, buf, &c->bytes);
		if (r < 0) {
			c->errors++;
			if (!reported)
				lf_err("cannot walk '%s': %s", path,
				       strerror(-r));
			reported = true;
			continue;
		}
		c->entries++;
	}
	free(buf);
}

static int run_workers(int rootfd, const struct path_list *list,
		       size_t procs, bool do_read, struct walk_counts *total)
{
	int fds[MAX_PROCS];
	pid_t pids[MAX_PROCS];
	size_t started = 0;
	int ret = 0;

	for (size_t w = 0; w < procs; w++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0) {
			ret = -errno;
			break;
		}
		pid_t pid = fork();
		if (pid < 0) {
			ret = -errno;
			close(p[0]);
			close(p[1]);
			break;
		}
		if (pid == 0) {
			struct walk_counts c = { 0 };
			close(p[0]);
			walk_share(rootfd, list, w, procs, do_read, &c);
			_exit(lf_write_all(p[1], &c, sizeof(c)) < 0 ? 2 : 0);
		}
		close(p[1]);
		fds[started] = p[0];
		pids[started] = pid;
		started++;
	}
	for (size_t w = 0; w < started; w++) {
		struct walk_counts c;
		ssize_t n = LF_RETRY(read(fds[w], &c, sizeof(c)));
		int status;
		close(fds[w]);
		LF_RETRY(waitpid(pids[w], &status, 0));
		if (n != (ssize_t)sizeof(c) || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			total->errors++;
			continue;
		}
		total->entries += c.entries;
		total->bytes += c.bytes;
		total->errors += c.errors;
	}
	return ret;
}

int main(int argc, char **argv)
{
	uint64_t procs = 1;
	bool do_read = false;
	int opt;

	lf_set_progname(argv[0]);
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	while ((opt = getopt(argc, argv, "j:rh")) != -1) {
		switch (opt) {
		case 'j':
			if (lf_parse_u64(optarg, &procs) < 0 || procs == 0 ||
			    procs > MAX_PROCS) {
				lf_err("bad process count '%s' (1 to %d)",
				       optarg, MAX_PROCS);
				return 1;
			}
			break;
		case 'r':
			do_read = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 1;
	}
	const char *list_file = argv[optind];
	const char *root = argv[optind + 1];

	struct path_list list = { 0 };
	int r = load_list(list_file, &list);
	if (r < 0) {
		lf_err("cannot read '%s': %s", list_file, strerror(-r));
		return 2;
	}
	int rootfd LF_AUTOCLOSE =
		open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		lf_err("cannot open '%s': %s", root, strerror(errno));
		return 2;
	}
	fflush(stdout);

	struct walk_counts total = { 0 };
	r = run_workers(rootfd, &list, (size_t)procs, do_read, &total);
	free(list.paths);
	free(list.text);
	if (r < 0) {
		lf_err("cannot start workers: %s", strerror(-r));
		return 2;
	}
	printf("entries %" PRIu64 " bytes %" PRIu64 " errors %" PRIu64 "\n",
	       total.entries, total.bytes, total.errors);
	return total.errors ? 3 : 0;
}
