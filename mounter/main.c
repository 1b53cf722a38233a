/*
 * layerrun: launches containers on layerfs.  This file reads the global
 * options and hands over to a command.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "layerrun.h"
#include "lf_common.h"

int main(int argc, char **argv)
{
	lf_set_progname("layerrun");
	/* An ignored SIGCHLD is kept across exec: started by a program
	 * that ignores it, our children (the monitor's, the container's
	 * init's) would be reaped by themselves and their statuses lost. */
	signal(SIGCHLD, SIG_DFL);
	struct global_opts g = { 0 };
	int i = 1;
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage_main();
			return 0;
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("layerrun %s\n", LF_VERSION);
			return 0;
		}
		if (strcmp(a, "--root") == 0 && i + 1 < argc) {
			g.root = argv[i + 1];
			i += 2;
			continue;
		}
		if (strncmp(a, "--root=", 7) == 0 && a[7]) {
			g.root = a + 7;
			i++;
			continue;
		}
		lf_err("unknown option '%s' (layerrun --help)", a);
		return LR_EXIT_USAGE;
	}
	if (i >= argc) {
		lf_err("no command given (layerrun --help)");
		return LR_EXIT_USAGE;
	}
	static const struct {
		const char *name;
		int (*fn)(const struct global_opts *, int, char **);
	} cmds[] = {
		{ "run", cmd_run },   { "exec", cmd_exec }, { "ps", cmd_ps },
		{ "kill", cmd_kill }, { "logs", cmd_logs }, { "rm", cmd_rm },
		{ "commit", cmd_commit },
	};
	for (size_t c = 0; c < LF_ARRAY_SIZE(cmds); c++)
		if (strcmp(argv[i], cmds[c].name) == 0)
			return cmds[c].fn(&g, argc - i, argv + i);
	lf_err("unknown command '%s' (layerrun --help)", argv[i]);
	return LR_EXIT_USAGE;
}
