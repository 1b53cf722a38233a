/*
 * layerfs's own bookkeeping in extended attributes of the upper layer,
 * and the rule for which attribute names the mount hides.
 *
 *   user.layerfs.origin    (dev, ino) the file or directory was copied up
 *                          from: keeps st_ino across copy-up and remount
 *   user.layerfs.metacopy  on a file whose upper copy has only metadata:
 *                          the lower path holding its data, or empty
 *                          when that is the file's own path below
 *   user.layerfs.redirect  the lower path of a renamed directory
 *   user.layerfs.impure    on an upper directory with children carrying
 *                          the marks above, so listings know to read them
 *   user.layerfs.nlink     link count of a hard link kept in the index
 *   user.layerfs.lowerid   on an index entry (a special file's: on its
 *                          count file): the identity of the lower file
 *                          it was copied from (lower_id.h); a copy of
 *                          its own carries the same in its origin mark
 *                          (xp_set_origin), which udba.h checks
 *   user.layerfs.protattr  on an upper directory: its immutable ('i') and
 *                          append-only ('a') flags, which the directory
 *                          itself cannot carry; on an upper file: the
 *                          same flags, which a crash may have left off
 *                          it (fileattr.c)
 *
 * These marks are trusted only in the upper layer, the one layerfs
 * writes: the same names in a lower layer are ignored, so a hostile image
 * cannot redirect a lookup.  user.* is used rather than trusted.* so the
 * same upper layer works for root and rootless mounts.
 */
#ifndef LFS_XATTR_PRIVATE_H
#define LFS_XATTR_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct lfs;

/* Attribute names the mount never shows and never lets anyone set. */
bool xp_is_private(const char *name);

/* Whether an xattr name list holds one of kernel overlayfs's marks
 * (trusted.overlay.*, or user.overlay.* with userxattr). */
bool xp_kernel_marked(const char *list, ssize_t len, bool user);

struct dir_marks {
	/* The impure mark: layerfs's in the upper layer; in a lower one,
	 * any of kernel overlayfs's marks (its entries may be the kernel's
	 * metadata-only copies, metacopy.h). */
	bool impure;
	/* A lower directory the kernel marked as holding xwhiteouts (its
	 * opaque mark "x", Linux 6.7: empty regular files carrying an
	 * overlay.whiteout xattr are whiteouts there): that xattr's name. */
	const char *xwhiteout;
	/* A lower directory the kernel renamed: the name of its
	 * overlay.redirect xattr, else NULL. */
	const char *kernel_redirect;
};

/*
 * Marks of an open directory: returns 1 when it is opaque (overlay-style
 * xattr), 0 when not, and fills *m.  One listxattr in the common case.
 */
int xp_dir_marks(struct lfs *fs, int dirfd, bool is_upper,
		 struct dir_marks *m);

/* Reads the origin mark of dirfd/name and composes the st_ino it keeps.
 * -ENODATA when there is none or its device is not one of our layers. */
int xp_read_origin_at(struct lfs *fs, int dirfd, const char *name,
		      uint64_t *ino);
/* The (device, inode) itself, as recorded: -ENODATA when there is none. */
int xp_read_origin_raw_at(int dirfd, const char *name, dev_t *dev,
			  uint64_t *ino);
/* Same, with the record of the lower file copied that a copy's origin
 * may carry (xp_set_origin) into id[LOWER_ID_MAX], "" when none. */
int xp_read_origin_id_at(int dirfd, const char *name, dev_t *dev,
			 uint64_t *ino, char *id);

/* Reads a string mark of dirfd/name (malloc'd, NUL-terminated). */
int xp_get_string_at(int dirfd, const char *name, const char *xattr,
		     char **out);
/* Whether name is in a listxattr result of len bytes. */
bool xp_list_has(const char *list, ssize_t len, const char *name);

/* Which marks dirfd/name carries, as N_REDIRECT | N_METACOPY |
 * N_ORIGIN_SET flags, and XP_PROTATTR (no node flag) for a protattr
 * mark. */
#define XP_PROTATTR (1u << 31)
unsigned xp_marks_at(int dirfd, const char *name);

/* Writers, on an fd open on the upper file or directory. */
/* The origin mark; id, unless NULL or "", the record of the lower file
 * copied (lower_id.h), which then goes in the same value (its version
 * 2: a layerfs older than it reads no origin there, and shows the
 * copy's upper inode number). */
int xp_set_origin(int fd, dev_t dev, uint64_t ino, const char *id);
int xp_set_string(int fd, const char *xattr, const char *value);
int xp_remove(int fd, const char *xattr);
/* Marks the upper directory dirfd (O_PATH is fine) as impure. */
int xp_set_impure(int dirfd);

/* Path of dirfd/name through /proc, for the l*xattr calls. */
void xp_proc_path(char *buf, size_t size, int dirfd, const char *name);
/* getxattr(2) of path, following its last component (a descriptor's
 * /proc link, to the file) or not (lgetxattr). */
ssize_t xp_get(const char *path, bool follow, const char *name, void *buf,
	       size_t size);

#endif
