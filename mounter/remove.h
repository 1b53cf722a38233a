/* Removing a stopped container from disk (rm, run --rm). */
#ifndef LR_REMOVE_H
#define LR_REMOVE_H

#include <stdbool.h>

#include "state_format.h"

/*
 * Waits for (and if it lingers, stops) the container's layerfs daemon,
 * removes its cgroups and its state directory, and its upper layer when
 * layerrun made it, unless KEEP.  With KEEP, a default upper layer is
 * moved to ROOT/NAME.kept/upper (NAME.kept: mode 0700) and *kept_path
 * says where (malloc'd).  Files owned by the container's subordinate ids are removed from inside a
 * user namespace with the container's maps.  0, or -errno after one
 * line on stderr.
 */
int container_remove(int rootfd, const char *root, struct lr_state *st,
		     bool keep, char **kept_path);

/* container_remove without KEEP, and silent when something is left: for
 * a first try that a caller repeats once the reason may be gone. */
int container_try_remove(int rootfd, const char *root, struct lr_state *st);

#endif
