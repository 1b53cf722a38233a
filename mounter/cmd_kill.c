/* layerrun kill NAME [SIGNAL]: a signal for the container's init, which
 * forwards it to the command. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "commands.h"
#include "layerrun.h"
#include "lf_common.h"
#include "lookup.h"

int cmd_kill(const struct global_opts *g, int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "--help") == 0)) {
		usage_command("kill");
		return 0;
	}
	if (argc < 2 || argc > 3) {
		lf_err("usage: layerrun kill NAME [SIGNAL]");
		return LR_EXIT_USAGE;
	}
	int sig = SIGTERM;
	if (argc == 3 && signal_parse(argv[2], &sig) < 0) {
		lf_err("kill: unknown signal '%s'", argv[2]);
		return LR_EXIT_USAGE;
	}
	struct ctr_ref ref;
	if (ctr_open(g, argv[1], &ref) < 0)
		return LR_EXIT_FAIL;
	int status = LR_EXIT_OK;
	/* A pidfd pins the process: after the start-time check, the signal
	 * cannot reach another process that took the pid over. */
	int pfd = ctr_running(&ref.st) ? pidfd_open(ref.st.pid, 0) : -1;
	if (pfd < 0 || !ctr_running(&ref.st)) {
		lf_err("container %s is not running", argv[1]);
		status = LR_EXIT_FAIL;
	} else if (pidfd_send_signal(pfd, sig, NULL, 0) < 0) {
		lf_err("cannot signal container %s: %s", argv[1],
		       strerror(errno));
		status = LR_EXIT_FAIL;
	}
	if (pfd >= 0)
		close(pfd);
	ctr_close(&ref);
	return status;
}
