/* layerrun ps: one line per container. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "layerrun.h"
#include "lf_common.h"
#include "lookup.h"
#include "strfmt.h"

static void ago(long long t, char *buf, size_t size)
{
	long long d = (long long)time(NULL) - t;
	if (d < 0)
		d = 0;
	if (d < 120)
		lr_fmt(buf, size, "%llds ago", d);
	else if (d < 7200)
		lr_fmt(buf, size, "%lldm ago", d / 60);
	else if (d < 172800)
		lr_fmt(buf, size, "%lldh ago", d / 3600);
	else
		lr_fmt(buf, size, "%lldd ago", d / 86400);
}

static void command_line(const struct lr_state *st, char *buf, size_t size)
{
	buf[0] = 0;
	for (size_t i = 0; i < st->argv.n; i++) {
		size_t l = strlen(buf);
		lr_fmt(buf + l, size - l, "%s%s", i ? " " : "", st->argv.v[i]);
	}
	/* One line per container, whatever the arguments hold: a newline
	 * or an escape sequence would forge rows or drive the terminal. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (strlen(buf) > 40)
		strcpy(buf + 37, "...");
}

int cmd_ps(const struct global_opts *g, int argc, char **argv)
{
	bool quiet = false;
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		if (c == 'q') {
			quiet = true;
		} else if (c == 'h') {
			usage_command("ps");
			return 0;
		} else {
			lf_err("ps: unknown option '%s'", argv[optind - 1]);
			return LR_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		lf_err("ps takes no argument");
		return LR_EXIT_USAGE;
	}
	char *root;
	int rootfd;
	if (root_open(g, &root, &rootfd) < 0)
		return LR_EXIT_FAIL;
	char **names;
	size_t n;
	int r = state_list(rootfd, &names, &n);
	if (r < 0) {
		lf_err("cannot list '%s': %s", root, strerror(-r));
		free(root);
		close(rootfd);
		return LR_EXIT_FAIL;
	}
	if (!quiet)
		printf("%-20s %-12s %-8s %-10s %-28s %s\n", "NAME", "STATUS",
		       "PID", "CREATED", "IMAGE", "COMMAND");
	for (size_t i = 0; i < n; i++) {
		struct ctr_ref ref;
		/* Removed since the listing: not listed. */
		if (ctr_open_in(root, rootfd, names[i], &ref, true) < 0) {
			free(names[i]);
			continue;
		}
		if (quiet) {
			printf("%s\n", names[i]);
		} else {
			char status[32], created[32], cmd[64], image[64];
			const struct lr_state *st = &ref.st;
			if (strcmp(st->status, "exited") == 0 && st->exit_code >= 0)
				lr_fmt(status, sizeof(status), "exited(%d)",
					 st->exit_code);
			else if (strcmp(st->status, "exited") == 0)
				lr_fmt(status, sizeof(status), "exited(?)");
			else if (ctr_running(st) && ctr_files_lost(st))
				lr_fmt(status, sizeof(status), "broken");
			else
				lr_fmt(status, sizeof(status), "%s", st->status);
			ago(st->created, created, sizeof(created));
			command_line(st, cmd, sizeof(cmd));
			if (st->image) {
				const char *b = strrchr(st->image, '/');
				lr_fmt(image, sizeof(image), "%s", b ? b + 1 : st->image);
			} else {
				lr_fmt(image, sizeof(image), "--lower (%zu)",
					 st->lower.n);
			}
			printf("%-20s %-12s %-8d %-10s %-28s %s\n", names[i],
			       status, ctr_running(st) ? (int)st->pid : 0,
			       created, image, cmd);
		}
		ref.rootfd = -1;
		ref.root = NULL;
		ctr_close(&ref);
		free(names[i]);
	}
	free(names);
	free(root);
	close(rootfd);
	return 0;
}
