/* Removing a directory tree without following any symlink in it. */
#ifndef LR_RMTREE_H
#define LR_RMTREE_H

/* Removes DIRFD/NAME and everything below it; directories we own but
 * cannot write (a container may chmod 0500) are made writable first.
 * 0 (also when it does not exist) or -errno of the first failure. */
int rmtree_at(int dirfd, const char *name);

/* Removes everything in the directory FD but its entry KEEP (NULL: every
 * entry); 0 or -errno of the first failure. */
int rmtree_contents(int fd, const char *keep);

#endif
