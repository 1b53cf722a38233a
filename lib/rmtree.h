/*
 * Removing a directory tree without following any symlink in it, at any
 * depth.
 *
 * The trees removed are often someone else's making: a container's upper
 * layer, an imported layer, a daemon's leftovers.  One directory is open
 * at a time, the levels above kept as their listings and climbed back by
 * "..", checked to be the directory left: a tree deeper than the
 * process's descriptor limit or its stack is removed like any other.
 * Directories we own but may not read or write (a container may chmod a
 * directory 0500) are opened up first.
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
