/*
 * Ownership and mode kept in an xattr, for daemons that may not chown.
 *
 * In a user namespace that maps a single id (rootless, no subuid range)
 * the daemon cannot give a file any owner but itself, nor create device
 * nodes.  Like fuse-overlayfs, layerfs then records what the container
 * asked for in an xattr of the real file and shows that instead:
 *
 *   user.containers.override_stat     (xattr_permissions=2, the default
 *                                      when chown is impossible)
 *   security.fuseoverlayfs.override_stat (xattr_permissions=1)
 *
 * The value's grammar (lib/override_stat.h) is fuse-overlayfs's and
 * containers/storage's (force_mask), so their storages read the same
 * under layerfs.  Only regular files and directories can carry user.*
 * xattrs, so a symlink shows its real owner.
 */
#ifndef LFS_OVERRIDE_H
#define LFS_OVERRIDE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "layerfs.h"
#include "node.h"
#include "override_stat.h"

/* Which xattr name the mount uses, or NULL when overrides are off. */
const char *override_xattr_name(const struct lfs *fs);

/* Applies n's override (if any) to st, which came from n's real inode. */
void override_present(struct lfs *fs, struct node *n, struct stat *st);

/* Copy-up: gives the staged dst the ownership of src (chown, or the
 * override xattr when the mount keeps ownership in xattrs). */
int override_copy_owner(struct lfs *fs, int src_fd, int dst_fd,
			const struct stat *st);

/* Records uid/gid/mode for the real file open as fd (O_PATH is fine). */
int override_store(struct lfs *fs, int fd, const struct override_stat *o);
/* Reads the override of the real file open as fd; -ENODATA if none. */
int override_load(struct lfs *fs, int fd, struct override_stat *o);

/*
 * The permission bits a file's real inode gets for the view's mode: the
 * same, when the daemon passes permission checks on its own files
 * whatever their mode (CAP_DAC_OVERRIDE: root, or root of the user
 * namespace it runs in), so that the upper filesystem keeps an access
 * ACL in step with them (a chmod rewrites its mask, a new ACL the
 * mode); else with the daemon's own access added, and an ACL then
 * follows those real bits.  type is the file's S_IFMT.  Never the
 * set-user-id and set-group-id bits, which only the view shows: on the
 * real file they would act for its real owner.
 */
mode_t override_real_mode(mode_t view, mode_t type);

/* After an access ACL was set (take) or removed on the real file open
 * as fd (O_PATH is fine): with take, the permission bits the upper
 * filesystem derived from it taken into the override; and the bits in
 * clear dropped from it. */
int override_take_acl_mode(struct lfs *fs, int fd, bool take, mode_t clear);

/* mknod that falls back to an empty regular file carrying the device
 * type in the override xattr when the daemon may not create devices. */
int override_mknod(struct lfs *fs, int dirfd, const char *name, mode_t mode,
		   dev_t rdev);

#endif
