/*
 * Name lookup: from (directory, name) to a node, through the directory's
 * merged listing.  A lookup costs one hash probe in the listing and one
 * fstatat in the layer holding the name, whatever the number of layers;
 * the listing itself was built with one pass over each layer.
 */
#ifndef LFS_LOOKUP_H
#define LFS_LOOKUP_H

#include <sys/stat.h>

#include "layerfs.h"
#include "node.h"

/*
 * Finds name in dir.  On success *out is the child with one reference
 * (the caller drops it) and st its attributes as the mount shows them.
 * -ENOENT for a name that does not exist (or is a whiteout, or reserved).
 */
int lookup_child(struct lfs *fs, struct node *dir, const char *name,
		 struct node **out, struct stat *st);

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void op_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets);

/*
 * udba=reval: a name dir's listing no longer shows (its lower file went
 * behind the mount) may still have the node of that file, which no
 * lookup has replaced yet; a file made at the name is another and must
 * not be given it (the kernel, told the old node's inode is now of
 * another kind, would take it for corrupt: EIO to whoever holds it).
 * Unhashes such a node, keeping an open one's file.  The caller holds
 * dir's lock for writing.
 */
void lookup_forget_vanished(struct lfs *fs, struct node *dir,
			    const char *name);

/* Replies to a lookup-like request with n (adds the kernel's lookup). */
void lookup_reply_entry(fuse_req_t req, struct lfs *fs, struct node *n,
			const struct stat *st);

#endif
