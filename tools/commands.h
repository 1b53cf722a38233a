/*
 * The layertool commands, one file each, and the exit statuses they share
 * (documented in --help, docs/layertool.md and layertool.1).
 */
#ifndef LT_COMMANDS_H
#define LT_COMMANDS_H

enum lt_exit {
	LT_EXIT_OK = 0,
	LT_EXIT_USAGE = 1,       /* bad command line */
	LT_EXIT_INPUT = 2,       /* input unreadable, malformed, hostile,
				    digest mismatch */
	LT_EXIT_OUTPUT = 3,      /* output cannot be written */
	LT_EXIT_CHECK_WARN = 4,  /* check: warnings, no errors */
	LT_EXIT_CHECK_ERROR = 5, /* check: errors */
	LT_EXIT_INTERRUPTED = 130,
};

int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_stats(int argc, char **argv);

/* The running command's argv (argv[0] its name), for usage_error's
 * line about an option getopt refused. */
extern char **usage_argv;
/* Prints FMT's line, or (FMT NULL, after getopt's '?') one naming the
 * option refused, then "Try 'layertool CMD --help'.". */
int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
