/*
 * Starting layerfs, the daemon serving a container's root, two ways.
 *
 * Root's containers (every id mapped to itself): the launcher makes the
 * FUSE mount itself, detached (fsopen and fsmount), as soon as the
 * container's directories exist (run_prepare.c), and starts layerfs on
 * its /dev/fuse descriptor at once (the /dev/fd/N mount point of
 * libfuse), so that the daemon's start overlaps the rest of the
 * preparation and the making of the container's namespaces.  The child
 * attaches the mount in its own namespace.  The daemon stays in our
 * namespaces, where it may register backing files (passthrough): it had
 * the host's root over every file already, as root in a namespace
 * mapping every id.
 *
 * Containers of the kept user namespace (rootless, --userns shared,
 * userns_keeper.h): that namespace exists before the clone, so the same,
 * with the mount made from inside it and the daemon joining it.  The
 * kernel then maps the ids of every request, and the daemon holds no
 * more than the container's root.
 *
 * Other containers (subid, a joined user namespace): layerfs must be
 * root in the container's user namespace to mount there, so it joins
 * that namespace and the child's first mount namespace once they exist,
 * and mounts on the shared mount point, where the child takes the mount
 * from.
 *
 * Either way layerfs stays our child and writes one byte on a pipe once
 * it serves the mount (its ready_fd= option); until then its stderr is
 * ours, so a bad layer gets its one clear line.
 */
#ifndef LR_DAEMON_H
#define LR_DAEMON_H

#include "container.h"

/* True when C's layerfs is started before the clone (root's, and the
 * kept user namespace's). */
bool daemon_starts_early(const struct container *c);

/* Makes C's FUSE mount (c->mount_fd) and starts layerfs on it. */
int daemon_start_early(struct container *c);

/* Opens the user and mount namespaces of C's child (c->init_pid) into
 * NS: while the child may still be read through /proc, before it makes
 * itself non-dumpable (SYNC_MAPPED).  0 or -errno (it said why). */
int daemon_open_container_ns(const struct container *c, int ns[2]);

/* Starts layerfs in the namespaces NS opened by daemon_open_container_ns;
 * the caller closes them. */
int daemon_start_in_container(struct container *c, const int ns[2]);

/* Waits until layerfs serves the mount; -EIO when it ended first (it
 * said why). */
int daemon_await(struct container *c);

/* A start that failed before the child had the mount: ends the daemon
 * and closes what was kept for the child.  The caller reaps it. */
void daemon_abandon(struct container *c);

#endif
