/* layerrun logs [-f] NAME: what a detached container wrote. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "layerrun.h"
#include "lf_common.h"
#include "lookup.h"

static int copy_available(int fd)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (lf_write_all(1, buf, (size_t)n) < 0)
			return -errno;
	return n < 0 ? -errno : 0;
}

int cmd_logs(const struct global_opts *g, int argc, char **argv)
{
	bool follow = false;
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+fh", opts, NULL)) != -1) {
		if (c == 'f') {
			follow = true;
		} else if (c == 'h') {
			usage_command("logs");
			return 0;
		} else {
			lf_err("logs: unknown option '%s'", argv[optind - 1]);
			return LR_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		lf_err("usage: layerrun logs [-f] NAME");
		return LR_EXIT_USAGE;
	}
	const char *name = argv[optind];
	struct ctr_ref ref;
	if (ctr_open(g, name, &ref) < 0)
		return LR_EXIT_FAIL;
	if (!ref.st.log) {
		lf_err("container %s was not started with -d: its output went "
		       "to its terminal, there is no log",
		       name);
		ctr_close(&ref);
		return LR_EXIT_FAIL;
	}
	int fd = openat(ref.dirfd, "log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		lf_err("cannot open the log of %s: %s", name, strerror(errno));
		ctr_close(&ref);
		return LR_EXIT_FAIL;
	}
	int r = copy_available(fd);
	while (r == 0 && follow) {
		struct lr_state st;
		char err[256];
		state_lock(ref.dirfd);
		int lr = state_load(ref.dirfd, &st, err, sizeof(err));
		if (lr == 0)
			state_refresh(ref.dirfd, &st);
		state_unlock(ref.dirfd);
		bool running = lr == 0 && ctr_running(&st);
		if (lr == 0)
			lr_state_free(&st);
		r = copy_available(fd);
		if (!running)
			break;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	close(fd);
	ctr_close(&ref);
	return r < 0 ? LR_EXIT_FAIL : 0;
}
