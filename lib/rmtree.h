/*
 * Removing a directory tree without following any symlink in it, at any
 * depth.
 *
 * The trees removed are often someone else's making: a container's upper
 * layer, an imported layer, a daemon's leftovers.  One directory is open
 * at a time, the levels above kept as their listings and climbed back by
 * "..", checked to be the directory left: a tree deeper than the
 * process's descriptor limit or its stack is removed like any other.
 * A directory we own that refuses us (a container may chmod one 0 or
 * 0500) is opened up to 0700, and only one that refuses: a process may
 * still hold the others open and would see their mode change.
 */
#ifndef LF_RMTREE_H
#define LF_RMTREE_H

/* Removes DIRFD/NAME and everything below it.  0 (also when NAME does
 * not exist) or -errno of the first failure; it goes on past failures,
 * removing what it can. */
int lf_rmtree_at(int dirfd, const char *name);

/* Removes everything in the directory FD but its entry KEEP (NULL: every
 * entry).  FD stays open and in place.  0 or -errno of the first
 * failure. */
int lf_rmtree_contents(int fd, const char *keep);

#endif
