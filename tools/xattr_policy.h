/*
 * Which extended attributes travel with a layer and which are some
 * filesystem's private bookkeeping, plus the override_stat records that
 * carry ownership for rootless storage.
 *
 * Bookkeeping never leaves the upper directory it was written in: the
 * names layerfs hides (lib/private_xattr.h: layerfs's, kernel
 * overlayfs's and fuse-overlayfs's, in every namespace they use) and
 * layertool's own user.layertool.*.  An override_stat record is not
 * exported as an xattr either: it is what the owner and mode of the
 * entry really are.
 */
#ifndef LT_XATTR_POLICY_H
#define LT_XATTR_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "override_stat.h"

#define XATTR_LFS_METACOPY "user.layerfs.metacopy"
#define XATTR_LFS_REDIRECT "user.layerfs.redirect"
#define XATTR_LFS_NLINK "user.layerfs.nlink"
#define XATTR_LFS_LOWERID "user.layerfs.lowerid"
#define XATTR_LFS_PREFIX "user.layerfs."
/* layertool's own bookkeeping (convert keeps directory times there). */
#define XATTR_LAYERTOOL_PREFIX "user.layertool."

/* True for bookkeeping names that must not be exported or imported. */
bool xattr_is_private(const char *name);

/* The POSIX ACLs' xattrs, the only system.* names a layer carries
 * (others belong to one filesystem, such as NFSv4's ACLs). */
#define XATTR_ACL_ACCESS "system.posix_acl_access"
#define XATTR_ACL_DEFAULT "system.posix_acl_default"
bool xattr_is_posix_acl(const char *name);

/* The override_stat names, most specific first: containers/storage's
 * user.containers.override_stat, then fuse-overlayfs's two. */
extern const char *const xattr_override_names[3];

/* The marks of a renamed directory (its redirect) and of a
 * metadata-only copy, in layerfs's and kernel overlayfs's two forms. */
extern const char *const xattr_redirect_names[3];
extern const char *const xattr_metacopy_names[3];

/* The redirect mark of the directory dirfd/name (malloc'd), or NULL
 * when it has none; *own tells layerfs's mark from kernel overlayfs's. */
char *xattr_redirect_mark_at(int dirfd, const char *name, bool *own);
/* The lower path (normalised, no leading '/') a mark's value names: a
 * path from the layer's root, or else one relative to the directory's
 * own lower path dir_lpath.  NULL when it leaves the layer. */
char *xattr_lower_path(const char *value, const char *dir_lpath);
/*
 * The lower path a redirect mark names: layerfs stores paths from the
 * root (own), kernel overlayfs also a bare name, relative to dir_lpath.
 * NULL when malformed by the rules the mount follows
 * (lib/redirect_value.h): the mount does not follow such a redirect,
 * so neither does layertool.
 */
char *xattr_redirect_target(const char *value, bool own,
			    const char *dir_lpath);

/*
 * Reads the override record of dirfd/name, trying each name in
 * xattr_override_names.  -ENODATA when there is none.
 */
int ovr_load_at(int dirfd, const char *name, struct override_stat *o);

#endif
