/* The one-line usage error every command shares. */
#include <stdarg.h>
#include <stdio.h>

#include "commands.h"
#include "lf_common.h"

int usage_error(const char *cmd, const char *fmt, ...)
{
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
