/*
 * The ids of ACL xattr values (acl_ids.h).  The value is the kernel's
 * xattr form: a little-endian version (2), then entries of tag,
 * permissions and id, sorted by tag.
 */
#include "acl_ids.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "xattr_ops.h"

#define ACL_XATTR_VERSION 2
#define TAG_USER 0x02
#define TAG_GROUP 0x08
#define TAG_MASK 0x10
#define TAG_OTHER 0x20

struct acl_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

bool acl_is_acl_name(const char *name)
{
	return strcmp(name, XATTR_ACL_ACCESS) == 0 ||
	       strcmp(name, XATTR_ACL_DEFAULT) == 0;
}

/* The number of entries of a well-formed value, or -1. */
static ssize_t entry_count(const unsigned char *v, size_t len)
{
	uint32_t version;
	if (len < 4 || (len - 4) % sizeof(struct acl_entry) != 0)
		return -1;
	memcpy(&version, v, 4);
	if (le32toh(version) != ACL_XATTR_VERSION)
		return -1;
	return (ssize_t)((len - 4) / sizeof(struct acl_entry));
}

static struct acl_entry entry_at(const unsigned char *v, size_t i)
{
	struct acl_entry e;
	memcpy(&e, v + 4 + i * sizeof(e), sizeof(e));
	e.tag = le16toh(e.tag);
	e.perm = le16toh(e.perm);
	e.id = le32toh(e.id);
	return e;
}

static void entry_put(unsigned char *v, size_t i, struct acl_entry e)
{
	e.tag = htole16(e.tag);
	e.perm = htole16(e.perm);
	e.id = htole32(e.id);
	memcpy(v + 4 + i * sizeof(e), &e, sizeof(e));
}

ssize_t acl_drop_unmapped(void *value, size_t len)
{
	unsigned char *v = value;
	ssize_t count = entry_count(v, len);
	if (count < 0)
		return -EINVAL;
	/* What "other" grants, and the mask that limits a group entry. */
	unsigned other = 0, mask = 07;
	for (ssize_t i = 0; i < count; i++) {
		struct acl_entry e = entry_at(v, (size_t)i);
		if (e.tag == TAG_OTHER)
			other = e.perm;
		else if (e.tag == TAG_MASK)
			mask = e.perm;
	}
	size_t keep = 0;
	for (ssize_t i = 0; i < count; i++) {
		struct acl_entry e = entry_at(v, (size_t)i);
		bool named = e.tag == TAG_USER || e.tag == TAG_GROUP;
		if (named && e.id == ACL_UNMAPPED_ID) {
			/* A member of the group left without its entry gets
			 * "other": only if that is no more than it had. */
			if (e.tag == TAG_GROUP && (other & ~(e.perm & mask)))
				return -EINVAL;
			continue;
		}
		entry_put(v, keep++, e);
	}
	return (ssize_t)(4 + keep * sizeof(struct acl_entry));
}

int acl_map_ids(void *value, size_t len, const struct lfs_idmap *uids,
		const struct lfs_idmap *gids, bool to_view)
{
	unsigned char *v = value;
	ssize_t count = entry_count(v, len);
	if (count < 0)
		return -EINVAL;
	int unmapped = 0;
	for (ssize_t i = 0; i < count; i++) {
		struct acl_entry e = entry_at(v, (size_t)i);
		if (e.tag != TAG_USER && e.tag != TAG_GROUP)
			continue;
		const struct lfs_idmap *m = e.tag == TAG_USER ? uids : gids;
		if (e.id != ACL_UNMAPPED_ID)
			e.id = to_view ? lfs_idmap_to_view(m, e.id,
							   ACL_UNMAPPED_ID)
				       : lfs_idmap_to_disk(m, e.id,
							   ACL_UNMAPPED_ID);
		unmapped += e.id == ACL_UNMAPPED_ID;
		entry_put(v, (size_t)i, e);
	}
	return unmapped;
}

bool acl_ids_mapped(const struct lfs_idmap *uids,
		    const struct lfs_idmap *gids)
{
	return uids->n > 0 || gids->n > 0;
}
