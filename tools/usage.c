/* The one-line usage error every command shares. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "lf_common.h"

char **usage_argv;

int usage_error(const char *cmd, const char *fmt, ...)
{
	if (!fmt && cmd && usage_argv && optind > 0) {
		/* What getopt stopped at: an unknown option, or one whose
		 * value is missing.  A short one may sit in a cluster that
		 * optind has not passed yet ("-xh"): optopt names it. */
		const char *at = usage_argv[optind - 1];
		const char *next = usage_argv[optind];
		bool in_cluster = optopt > ' ' && optopt < 127 && next &&
				  next[0] == '-' && next[1] != '-' &&
				  strchr(next + 1, optopt);
		if (!in_cluster && at && strncmp(at, "--", 2) == 0)
			lf_err("%s: option '%.*s' is unknown or needs a value",
			       cmd, (int)strcspn(at, "="), at);
		else if (optopt > ' ' && optopt < 127)
			lf_err("%s: option '-%c' is unknown or needs a value",
			       cmd, optopt);
		else
			lf_err("%s: option '%s' is unknown or needs a value",
			       cmd, at ? at : "?");
	}
	if (fmt) {
		char msg[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		lf_err("%s", msg);
	}
	fprintf(stderr, "Try 'layertool %s%s--help'.\n", cmd ? cmd : "",
		cmd ? " " : "");
	return LT_EXIT_USAGE;
}
