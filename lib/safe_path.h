/*
 * Opening paths inside a layer without ever following a symlink.
 *
 * A layer is untrusted data: any component of a path inside it may be a
 * symlink planted to point at the host.  Every open below a layer root goes
 * through sp_open_beneath(), which uses openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) where the kernel has it and otherwise walks the path
 * one component at a time with O_NOFOLLOW.  Paths longer than PATH_MAX are
 * walked in pieces, so deep trees work too.
 */
#ifndef LF_SAFE_PATH_H
#define LF_SAFE_PATH_H

#include <sys/types.h>

/*
 * Opens PATH (relative, no leading '/', may be "" or "." for the root
 * itself) below rootfd.  No component, the last included, may be a symlink
 * (ELOOP), "..", or lead outside rootfd.  flags are open(2) flags;
 * O_NOFOLLOW and O_CLOEXEC are always added.  Returns an fd or -errno.
 */
int sp_open_beneath(int rootfd, const char *path, int flags, mode_t mode);

/*
 * Opens the directory containing PATH's last component (O_PATH |
 * O_DIRECTORY) and points *last at that component inside PATH.  For a
 * single-component path this is a dup of rootfd.
 */
int sp_open_parent(int rootfd, const char *path, const char **last);

/*
 * Opens PATH below rootfd like sp_open_beneath, but follows symlinks
 * while they stay below rootfd: one that leads out of it (an absolute
 * target, a ".." above it) gives -EXDEV, a chain of more than 40 -ELOOP.
 * For directories a tool wrote (legacy `docker save` links a layer that
 * several images share), not for layers, whose symlinks mean something
 * only inside the container.
 */
int sp_open_inside(int rootfd, const char *path, int flags);

/*
 * Opens the file the O_PATH descriptor pfd is on, with flags, through its
 * /proc/self/fd link: the same inode, no name looked up again (so no
 * symlink or other file put in its place meanwhile is reached).  A
 * refused O_NOATIME (a file the caller does not own) is dropped.
 * O_CLOEXEC and O_NOCTTY are always added; pfd stays open.  Returns an
 * fd or -errno.
 */
int sp_reopen(int pfd, int flags);

/* Forces the component-walk fallback (for tests of old kernels). */
void sp_force_fallback(int on);

#endif
