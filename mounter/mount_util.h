/*
 * Mounting onto file descriptors, never onto paths an image controls.
 *
 * Targets inside the container's root are opened first (O_PATH), either
 * refusing every symlink (standard mount points: the container has no
 * business making /proc a symlink) or resolving symlinks as the
 * container would, clamped to its root (volume targets), and mounts go
 * onto those fds.  New file systems are mounted through the fd's
 * /proc/self/fd magic link, which names exactly the opened dentry;
 * bind mounts are cloned with open_tree() and attached with
 * move_mount(), so a source is also an fd chosen before pivot_root.
 * Needs Linux 5.12 (mount_setattr).
 */
#ifndef LR_MOUNT_UTIL_H
#define LR_MOUNT_UTIL_H

#include <linux/magic.h>
#include <stdbool.h>
#include <sys/types.h>

/* Opens PATH (relative or absolute, in the container's terms) below
 * ROOTFD, symlinks resolved inside the root.  flags as for open(2). */
int mu_open_in_root(int rootfd, const char *path, int flags);

/*
 * Makes PATH exist below ROOTFD like `mkdir -p` (the last component an
 * empty file when FILE is true), resolving every existing component
 * inside the root; a dangling symlink on the way has what it names
 * made.  Returns an O_PATH fd of the result or -errno (-ELOOP after 40
 * symlinks).
 */
int mu_make_in_root(int rootfd, const char *path, bool file);

/* Mounts a new file system of TYPE onto TARGETFD. */
int mu_mount_fs(int targetfd, const char *type, const char *source,
		unsigned long flags, const char *data);

/* A detached copy of the mount tree at FD/PATH (recursive). */
int mu_clone_tree(int dirfd, const char *path, bool recursive);
/* Makes a detached tree read-only (and nosuid, nodev, noexec when
 * asked), recursively. */
int mu_tree_restrict(int treefd, bool ro, bool nosuid_nodev_noexec);
/* Attaches a detached tree onto TARGETFD; consumes nothing. */
int mu_attach(int treefd, int targetfd);

/* Binds the file or directory at SRCFD onto TARGETFD. */
int mu_bind(int srcfd, int targetfd, bool recursive, bool ro);

/* True when FD is on a file system with this statfs magic. */
bool mu_fs_is(int fd, unsigned long magic);

/* Unescapes /proc/self/mountinfo's octal escapes (\040 for a space...)
 * in place. */
void mu_mountinfo_unescape(char *s);

struct name_list;
/* Appends to OUT the mount points strictly below the absolute path TOP
 * in this process's mount namespace, as paths relative to "/"
 * ("sys/kernel/tracing" below "/sys").  0 or -errno. */
int mu_mounts_below(const char *top, struct name_list *out);

/*
 * Volume and tmpfs targets are refused on the container's procfs: the
 * path given may not name /proc (mount_target_parse), and neither may a
 * symlink of the image lead there.  Over /proc, /proc/1/... or
 * /proc/sys, the host's directory or a tmpfs, writable by the
 * container, would stand in for the kernel's files, which the container
 * and layerrun exec then read (runc refuses such targets too).  Checked
 * on the opened target, on which nothing but procfs is mounted below
 * /proc when volumes go on (the masks come after).
 */
#define MU_IN_PROC_REASON \
	"it leads into /proc (a symlink of the image), where nothing may be mounted"

#endif
