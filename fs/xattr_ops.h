/* Extended attributes through the mount (xattr_ops.c). */
#ifndef LFS_XATTR_OPS_H
#define LFS_XATTR_OPS_H

#include "layerfs.h"

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/*
 * Whether an entry created in dir's upper directory pfd inherits a
 * default ACL there: a copy-up must not (it keeps the lower file's ACLs
 * exactly), and an entry made aside must get it all the same.  Learned
 * once per directory; an xattr change on it forgets it.
 */
bool xattr_dir_has_default_acl(struct node *dir, int pfd);

/* The default ACL itself (malloc'd) in *acl and *len, or *acl NULL when
 * the directory has none. */
int xattr_dir_default_acl(struct node *dir, int pfd, char **acl,
			  size_t *len);

#define XATTR_ACL_ACCESS "system.posix_acl_access"
#define XATTR_ACL_DEFAULT "system.posix_acl_default"

#endif
