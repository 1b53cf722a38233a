/*
 * Turning `run`'s options into a container ready to start: the image or
 * --lower layers, the command, environment, user, working directory,
 * capabilities, namespaces to make or join, the state directory with
 * its upper, work and init layers, and the cgroups.
 */
#ifndef LR_RUN_PREPARE_H
#define LR_RUN_PREPARE_H

#include "container.h"

/*
 * Fills C from O.  Prints one line and returns -errno on failure; what
 * was already made on disk is undone.  ROOT_OVERRIDE is --root.
 */
int run_prepare(struct container *c, const struct run_opts *o,
		const char *root_override);

/* Releases memory and fds (not the state on disk). */
void container_free(struct container *c);

/* The state file's view of a prepared (and maybe started) container. */
int container_to_state(const struct container *c, struct lr_state *st);

#endif
