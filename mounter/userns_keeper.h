/*
 * The user namespace kept for a rootless user's containers (--userns
 * shared, which auto chooses where subordinate ranges are set up).
 *
 * Mapping a subordinate range takes the setuid helpers newuidmap and
 * newgidmap: two dynamically linked programs, about a quarter of a
 * rootless start.  Their maps are the same for every container of the
 * user, so the first start makes one namespace with them and leaves a
 * small process in it, the keeper; later starts join that namespace
 * and make their own mount, pid, network, ipc and uts namespaces in it,
 * with no helper.  (podman's rootless pause process does the same.)
 *
 * In the state root, beside the containers' directories (names that no
 * container may take):
 *   .userns       "PID START\n", the keeper's pid and start time; its
 *                 mtime is the last start that used it
 *   .userns.lock  flock'd by whoever reads or changes .userns
 *
 * The keeper ends on its own once no start has used it for
 * USERNS_KEEPER_IDLE_SECONDS, or its state root is gone, or it is no
 * longer the one recorded; SIGTERM ends it at once.  Containers running
 * in the namespace keep it alive without the keeper.
 */
#ifndef LR_USERNS_KEEPER_H
#define LR_USERNS_KEEPER_H

#include <stdbool.h>
#include <stddef.h>

#include "userns.h"

#define USERNS_KEEPER_FILE ".userns"
#define USERNS_KEEPER_LOCK ".userns.lock"
#define USERNS_KEEPER_IDLE_SECONDS 60

/*
 * A descriptor of the kept user namespace with P's maps, for setns():
 * the running keeper's, or, when there is none (or its maps are not
 * P's: /etc/subuid changed) and MAY_START, a new keeper's, mapped now
 * with P's helpers.  -ENOENT when none runs and !MAY_START; another
 * -errno with ERR set when one could not be made.
 */
int userns_keeper_join(int rootfd, const struct idmap_plan *p, bool may_start,
		       char *err, size_t errlen);

#endif
