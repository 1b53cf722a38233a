/*
 * POSIX ACLs naming ids the daemon's user namespace does not map.
 *
 * A daemon that is root of a user namespace (rootless) reads the
 * system.posix_acl_* xattrs of the layers with every id translated into
 * that namespace; an entry for an id it does not map (a lower layer made
 * by the host's root, an image imported with one id mapped) comes back
 * as (uint32_t)-1.  The FUSE client refuses a whole ACL holding such an
 * entry (EINVAL to getfacl, and to every permission check of the file
 * but its owner's), and the upper filesystem refuses to write one, so a
 * copy-up or a creation that would inherit it could not carry it.
 *
 * Such an entry is dropped where no caller of the mount can lose by it:
 * a named user entry always (the kernel serves no caller whose fsuid the
 * namespace does not map); a named group entry when "other" grants
 * nothing it does not (a caller holding the unmapped group as a
 * supplementary one, from the host, would otherwise fall to "other" and
 * gain).  An ACL with an entry that cannot be dropped stays refused.
 */
#ifndef LFS_ACL_UNMAPPED_H
#define LFS_ACL_UNMAPPED_H

#include <stdbool.h>
#include <sys/types.h>

/* Whether name is system.posix_acl_access or system.posix_acl_default. */
bool acl_is_acl_name(const char *name);

/*
 * Takes the droppable unmapped entries out of the ACL xattr value, in
 * place.  Returns its new length (len when nothing was dropped), or
 * -EINVAL when the value is not an ACL or keeps an unmapped entry.
 */
ssize_t acl_drop_unmapped(void *value, size_t len);

#endif
