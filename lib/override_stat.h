/*
 * The override_stat record: a file's ownership, mode and type kept in an
 * xattr of the real file where the writer could not chown it or create
 * a device (rootless storage).  layerfs shows it (fs/override.c) and
 * layertool exports it as the file's real attributes (tools/).
 *
 * The value is "UID:GID:0MODE", optionally followed by ":TYPE" where
 * TYPE is dir, file, symlink, pipe, socket, block-MAJ-MIN or
 * char-MAJ-MIN: the grammar layerfs, fuse-overlayfs and
 * containers/storage (force_mask) share, so their storages read alike.
 */
#ifndef LF_OVERRIDE_STAT_H
#define LF_OVERRIDE_STAT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* containers/storage's name, which layerfs writes by default... */
#define OVERRIDE_STAT_CONTAINERS "user.containers.override_stat"
/* ...fuse-overlayfs's privileged one (xattr_permissions=1)... */
#define OVERRIDE_STAT_PRIVILEGED "security.fuseoverlayfs.override_stat"
/* ...and the one fuse-overlayfs writes as a user, read as a fallback. */
#define OVERRIDE_STAT_FUSE_USER "user.fuseoverlayfs.override_stat"

struct override_stat {
	uid_t uid;
	gid_t gid;
	mode_t mode; /* permission bits; with has_type also the file type */
	dev_t rdev;  /* with a block or character type */
	bool has_type;
};

/* Parses a value; a trailing NUL or newline is tolerated.  -EINVAL when
 * malformed (ids or numbers past 32 bits included). */
int override_stat_parse(const char *value, size_t len,
			struct override_stat *o);
/* Formats o (with its type when has_type); the length, or -ENAMETOOLONG
 * when buf is too small. */
int override_stat_format(char *buf, size_t size,
			 const struct override_stat *o);

#endif
