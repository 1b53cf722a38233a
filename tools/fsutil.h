/*
 * Directory and attribute helpers for walking layers at rest: sorted
 * listings (lib/name_list.h) and xattr lists, all relative to directory
 * fds and never following a symlink.
 */
#ifndef LT_FSUTIL_H
#define LT_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "name_list.h"

/* Extended attribute names of dirfd/name (no follow), sorted.  An empty
 * list where the filesystem has no xattrs. */
int fs_xattr_names_at(int dirfd, const char *name, struct name_list *out);
/* Reads one xattr of dirfd/name (no follow) into a malloc'd buffer. */
int fs_xattr_get_at(int dirfd, const char *name, const char *attr,
		    char **value, size_t *len);
int fs_xattr_set_at(int dirfd, const char *name, const char *attr,
		    const void *value, size_t len);
int fs_xattr_remove_at(int dirfd, const char *name, const char *attr);

/*
 * Owner, mode and times of the entry open as pathfd: a descriptor opened
 * with O_PATH | O_NOFOLLOW (or any other, O_NOFOLLOW) of anything but a
 * symlink (-ELOOP).  Reached through /proc/self/fd, the very inode the
 * descriptor holds: no symlink is followed, and nothing put under the
 * entry's name since the caller opened and examined it is touched.
 * O_PATH, because a whiteout of mode 0 cannot be opened otherwise
 * without CAP_DAC_OVERRIDE.
 */
int fs_chown_fd(int pathfd, uid_t uid, gid_t gid);
int fs_chmod_fd(int pathfd, mode_t mode);
int fs_utimens_fd(int pathfd, const struct timespec ts[2]);

/* "/proc/self/fd/N/NAME", the way to reach dirfd/name with l*xattr. */
void fs_proc_path(char *buf, size_t size, int dirfd, const char *name);

/* Joins "a" and "b" into a malloc'd "a/b" ("" + "b" gives "b"). */
char *fs_join(const char *a, const char *b);

/* True when the process may change file owners (root, or a user
 * namespace mapping more than one id), probed by a real chown of a
 * scratch file in dirfd. */
bool fs_can_chown(int dirfd);

#endif
