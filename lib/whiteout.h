/*
 * Whiteouts and opaque markers in the two on-disk formats layerfs reads:
 *
 *   dotwh   (aufs, OCI layers)   `.wh.NAME` hides NAME; `.wh..wh..opq`
 *                                makes its directory opaque.
 *   overlay (kernel overlayfs)   a 0/0 character device NAME hides NAME;
 *                                an `overlay.opaque` xattr of "y" makes a
 *                                directory opaque.
 *
 * Shared by the filesystem, the launcher and the tools so that all three
 * agree on exactly which names are special.
 */
#ifndef LF_WHITEOUT_H
#define LF_WHITEOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define WH_PREFIX ".wh."
#define WH_PREFIX_LEN 4
#define WH_OPAQUE_NAME ".wh..wh..opq"
/* aufs keeps its own bookkeeping under ".wh..wh." names (plnk, aufs, orph). */
#define WH_META_PREFIX ".wh..wh."

/* Opaque-directory xattrs, in the order they are checked
 * (wh_opaque_xattrs). */
#define XATTR_TRUSTED_OVL_OPAQUE "trusted.overlay.opaque"
#define XATTR_USER_OVL_OPAQUE "user.overlay.opaque"
#define XATTR_FUSE_OVL_OPAQUE "user.fuseoverlayfs.opaque"
#define WH_OPAQUE_XATTR_COUNT 3
/* Kernel overlayfs (Linux 6.7+): an empty regular file carrying one is an
 * "xwhiteout", in a directory whose opaque xattr of the same namespace is
 * "x". */
#define XATTR_TRUSTED_OVL_WHITEOUT "trusted.overlay.whiteout"
#define XATTR_USER_OVL_WHITEOUT "user.overlay.whiteout"

enum wh_format { WH_FORMAT_DOTWH = 0, WH_FORMAT_OVERLAY = 1 };

/* The inode in workdir/work that each whiteout a layerfs mount makes
 * links, one per format (fs/whiteout_ops.c); it stays between mounts. */
#define WH_SHARED_DOTWH "whiteout.dotwh"
#define WH_SHARED_CHARDEV "whiteout.chardev"

/* What a directory entry means for the union. */
enum wh_kind {
	WH_NONE = 0,   /* an ordinary entry */
	WH_WHITEOUT,   /* hides the name given by wh_classify's target */
	WH_OPAQUE,     /* `.wh..wh..opq`: the directory is opaque */
	WH_INTERNAL,   /* reserved bookkeeping name: hidden, hides nothing */
};

/* True when NAME starts with ".wh.": such names are never shown. */
static inline bool wh_is_reserved(const char *name)
{
	return name[0] == '.' && name[1] == 'w' && name[2] == 'h' &&
	       name[3] == '.';
}

/*
 * Classifies a directory entry by name alone.  For WH_WHITEOUT, *target
 * points into NAME at the hidden name.  `.wh.` alone (invalid per the OCI
 * spec) and names whose target would be "." or ".." are WH_INTERNAL.
 */
enum wh_kind wh_classify_name(const char *name, const char **target);

/* True for a kernel-overlay whiteout: a character device 0/0. */
static inline bool wh_is_overlay_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0;
}

/* Writes ".wh.NAME" into buf; -ENAMETOOLONG when it does not fit 255 bytes. */
int wh_dotwh_name(char *buf, size_t size, const char *name);

/* Creates a whiteout for NAME in dirfd in the given format; 0 or -errno.
 * Fails with -EEXIST if something is already there. */
int wh_create(int dirfd, const char *name, enum wh_format fmt);
/* The same, with ENTRY the whole entry name (".wh.NAME" for dotwh). */
int wh_create_entry(int dirfd, const char *entry, enum wh_format fmt);

/* Creates the opaque marker for the directory dirfd (file or xattr).
 * For the overlay format, `xattr_name` chooses trusted.* or user.*. */
int wh_make_opaque(int dirfd, enum wh_format fmt, const char *xattr_name);

/* The opaque-directory xattrs, in the order they are checked: the one
 * list layerfs and layertool read, convert removes and check knows. */
extern const char *const wh_opaque_xattrs[WH_OPAQUE_XATTR_COUNT];

/* True when NAME is one of wh_opaque_xattrs (whatever its value). */
bool wh_is_opaque_xattr(const char *name);

/* 1 when one of the opaque xattrs is set to "y" on the open fd, 0 when not,
 * -errno on failure other than "no such attribute / not supported". */
int wh_fd_has_opaque_xattr(int fd);

/* True when the xattr name list LIST (LEN bytes, as listxattr gives
 * it) holds NAME. */
bool wh_xattr_list_has(const char *list, ssize_t len, const char *name);

/* True when LIST (as for wh_xattr_list_has) holds one of the opaque
 * xattrs, whatever its value. */
bool wh_xattr_list_has_opaque(const char *list, ssize_t len);

/*
 * Which xattr makes an empty regular file an xwhiteout in the lower
 * directory dirfd, whose xattr names are LIST (LEN bytes): the
 * trusted.* one when trusted.overlay.opaque is "x", else the user.* one
 * when user.overlay.opaque is; NULL when neither.  layerfs and layertool
 * convert both decide by it, so that they agree on every file.
 */
const char *wh_dir_xwhiteout_attr(int dirfd, const char *list, ssize_t len);

/* wh_dir_xwhiteout_attr of the directory dirfd, its xattr names read
 * here (one flistxattr; a list past 4 KiB counts as none). */
const char *wh_fd_xwhiteout_attr(int dirfd);

/*
 * Whether NAME of the lower directory dirfd, whose lstat is ST, is an
 * xwhiteout there: an empty regular file carrying ATTR, the directory's
 * wh_dir_xwhiteout_attr (NULL: the directory holds none).  Read without
 * following NAME, never opening it.
 */
bool wh_is_xwhiteout(int dirfd, const char *name, const struct stat *st,
		     const char *attr);

/* Parses a format name ("dotwh" or "overlay"); -EINVAL otherwise. */
int wh_format_parse(const char *s, enum wh_format *out);
const char *wh_format_name(enum wh_format fmt);

#endif
