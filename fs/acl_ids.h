/*
 * The ids named in POSIX ACLs (system.posix_acl_* xattr values), between
 * the layers and the view.
 *
 * With uidmapping=/gidmapping= the mount shows other ids than the layers
 * hold, and the kernel enforces an ACL with the ids the daemon gives it:
 * the named entries are translated like owners, disk to view when read,
 * view to disk when set.
 *
 * A daemon that is root of a user namespace (rootless) reads every id
 * translated into that namespace, and an entry for an id it does not
 * map (a lower layer made by the host's root, an image imported with one
 * id mapped) comes back as (uint32_t)-1, as does one outside the
 * mapping options' ranges here.  The FUSE client refuses a whole ACL
 * holding such an entry (EINVAL to getfacl, and to every permission
 * check of the file but its owner's), and the upper filesystem refuses
 * to write one, so a copy-up or a creation that would inherit it could
 * not carry it.  Such an entry is dropped where no caller of the mount
 * can gain by it: a named user entry always (the kernel serves no caller
 * whose fsuid the namespace does not map); a named group entry when
 * "other" grants nothing it does not (a caller holding the unmapped
 * group as a supplementary one, from the host, would otherwise fall to
 * "other" and gain).  An ACL with an entry that cannot be dropped stays
 * refused.
 */
#ifndef LFS_ACL_IDS_H
#define LFS_ACL_IDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "options.h"

/* An id no namespace or mapping gives a name. */
#define ACL_UNMAPPED_ID UINT32_MAX

/* Whether name is system.posix_acl_access or system.posix_acl_default. */
bool acl_is_acl_name(const char *name);

/*
 * Takes the droppable unmapped entries out of the ACL xattr value, in
 * place.  Returns its new length (len when nothing was dropped), or
 * -EINVAL when the value is not an ACL or keeps an unmapped entry.
 */
ssize_t acl_drop_unmapped(void *value, size_t len);

/*
 * Translates the named entries of the ACL xattr value in place, through
 * the uid and gid maps, to the view (to_view) or to the disk; an id
 * outside them becomes ACL_UNMAPPED_ID.  Returns the number of named
 * entries left unmapped, -EINVAL for a value that is not an ACL.
 */
int acl_map_ids(void *value, size_t len, const struct lfs_idmap *uids,
		const struct lfs_idmap *gids, bool to_view);

/* Whether acl_map_ids() would change anything under these maps. */
bool acl_ids_mapped(const struct lfs_idmap *uids,
		    const struct lfs_idmap *gids);

#endif
