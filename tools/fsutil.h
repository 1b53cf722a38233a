/*
 * Directory and attribute helpers for walking layers at rest: sorted
 * listings, whole-tree removal and xattr lists, all relative to directory
 * fds and never following a symlink.
 */
#ifndef LT_FSUTIL_H
#define LT_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct name_list {
	char **names;
	size_t n;
};

/* Lists the directory open as dirfd (any fd, O_PATH included), without
 * "." and "..", sorted bytewise so every walk is deterministic. */
int fs_list_dir(int dirfd, struct name_list *out);
void name_list_free(struct name_list *l);

/*
 * Removes NAME below dirfd and everything under it, whatever it is,
 * without following symlinks; directories without write permission (an
 * image may have them) are opened up first.  ENOENT counts as success.
 */
int fs_remove_tree_at(int dirfd, const char *name);

/* Extended attribute names of dirfd/name (no follow), sorted.  An empty
 * list where the filesystem has no xattrs. */
int fs_xattr_names_at(int dirfd, const char *name, struct name_list *out);
/* Reads one xattr of dirfd/name (no follow) into a malloc'd buffer. */
int fs_xattr_get_at(int dirfd, const char *name, const char *attr,
		    char **value, size_t *len);
int fs_xattr_set_at(int dirfd, const char *name, const char *attr,
		    const void *value, size_t len);
int fs_xattr_remove_at(int dirfd, const char *name, const char *attr);

/* "/proc/self/fd/N/NAME", the way to reach dirfd/name with l*xattr. */
void fs_proc_path(char *buf, size_t size, int dirfd, const char *name);

/* Reads the rest of fd into a NUL-terminated malloc'd buffer; -EFBIG past
 * MAX bytes. */
int fs_read_fd(int fd, size_t max, char **out, size_t *len);

/* Joins "a" and "b" into a malloc'd "a/b" ("" + "b" gives "b"). */
char *fs_join(const char *a, const char *b);

/* True when the process may change file owners (root, or a user
 * namespace mapping more than one id), probed by a real chown of a
 * scratch file in dirfd. */
bool fs_can_chown(int dirfd);

#endif
