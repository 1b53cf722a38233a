/* Finding a container by name for ps, exec, kill, logs, rm and commit. */
#ifndef LR_LOOKUP_H
#define LR_LOOKUP_H

#include <stdbool.h>

#include "commands.h"
#include "state.h"

struct ctr_ref {
	char *root;
	int rootfd;
	int dirfd;
	struct lr_state st;
};

/* Opens the state root (--root or the default). Prints on failure. */
int root_open(const struct global_opts *g, char **root, int *rootfd);

/*
 * Opens container NAME and loads its state, bringing a stale entry up
 * to date (state_refresh).  Prints one line and returns -errno when
 * there is no such container or its state cannot be read.  A stale
 * entry of an --rm container is removed then (its monitor, killed,
 * could not), and is not there any more: -ENOENT.
 */
int ctr_open(const struct global_opts *g, const char *name,
	     struct ctr_ref *ref);
/* The same in an open state root.  QUIET_IF_GONE: -ENOENT without a
 * line when the container is not there (any more), for callers that
 * expect it may have gone meanwhile (ps after listing, rm -f after the
 * kill, when an --rm container's monitor removes it). */
int ctr_open_in(const char *root, int rootfd, const char *name,
		struct ctr_ref *ref, bool quiet_if_gone);
void ctr_close(struct ctr_ref *ref);

/* True when no container NAME is there (any more) once looked up: an
 * ended --rm container is removed by the look-up.  Prints nothing. */
bool ctr_gone(const char *root, int rootfd, const char *name);

/* Running: its init is the process the state names. */
bool ctr_running(const struct lr_state *st);
/* Its layerfs daemon has ended (killed, crashed): while it runs, its
 * files cannot be reached (ENOTCONN).  Meaningful for a running one. */
bool ctr_files_lost(const struct lr_state *st);
/* Whether its launcher is still preparing or starting it (no command
 * runs yet): a removal now would pull its files from under the start. */
bool ctr_starting(const struct lr_state *st);

/* "TERM", "SIGTERM", "sigterm" or "15". */
int signal_parse(const char *s, int *sig);

#endif
