/* The layerrun commands; each returns the process's exit status. */
#ifndef LR_COMMANDS_H
#define LR_COMMANDS_H

struct global_opts {
	const char *root; /* --root DIR */
};

int cmd_run(const struct global_opts *g, int argc, char **argv);
int cmd_exec(const struct global_opts *g, int argc, char **argv);
int cmd_ps(const struct global_opts *g, int argc, char **argv);
int cmd_kill(const struct global_opts *g, int argc, char **argv);
int cmd_logs(const struct global_opts *g, int argc, char **argv);
int cmd_rm(const struct global_opts *g, int argc, char **argv);
int cmd_commit(const struct global_opts *g, int argc, char **argv);

/* usage.c */
void usage_main(void);
void usage_command(const char *cmd);

#endif
