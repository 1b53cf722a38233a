/*
 * POSIX ACLs between a tar member and the kernel's xattr form.
 *
 * Linux keeps an ACL as the binary xattr system.posix_acl_access (or
 * _default); layertool exports that value as it is, an xattr like any
 * other, which is what container engines apply when they unpack a layer.
 * GNU tar --acls and bsdtar write ACLs as text instead (SCHILY.acl.*),
 * which libarchive parses into the entry's ACL list: those are turned
 * into the same binary value here, so both kinds of archive import.
 */
#ifndef LT_ACL_XATTR_H
#define LT_ACL_XATTR_H

#include <stddef.h>

#include <archive_entry.h>

/*
 * The binary xattr value of e's POSIX.1e ACL of type (ARCHIVE_ENTRY_ACL_
 * TYPE_ACCESS or _DEFAULT), in *out (malloc'd) and *len.  0 with *out
 * NULL when the entry has no such ACL (an access ACL that the mode
 * alone says is none), -EINVAL when an entry names no numeric id or the
 * list is not a valid ACL, -ENOMEM.
 */
int acl_xattr_from_entry(struct archive_entry *e, int type, char **out,
			 size_t *len);

#endif
