/*
 * Dropping ACL entries for unmapped ids (acl_unmapped.h).  The value is
 * the kernel's xattr form: a little-endian version (2), then entries of
 * tag, permissions and id, sorted by tag.
 */
#include "acl_unmapped.h"

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "xattr_ops.h"

#define ACL_XATTR_VERSION 2
#define TAG_USER 0x02
#define TAG_GROUP 0x08
#define TAG_MASK 0x10
#define TAG_OTHER 0x20
#define UNMAPPED_ID 0xffffffffu

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

static struct acl_entry entry_at(const unsigned char *v, size_t i)
{
	struct acl_entry e;
	memcpy(&e, v + 4 + i * sizeof(e), sizeof(e));
	e.tag = le16toh(e.tag);
	e.perm = le16toh(e.perm);
	e.id = le32toh(e.id);
	return e;
}

ssize_t acl_drop_unmapped(void *value, size_t len)
{
	unsigned char *v = value;
	uint32_t version;
	if (len < 4 || (len - 4) % sizeof(struct acl_entry) != 0)
		return -EINVAL;
	memcpy(&version, v, 4);
	if (le32toh(version) != ACL_XATTR_VERSION)
		return -EINVAL;
	size_t count = (len - 4) / sizeof(struct acl_entry);
	/* What "other" grants, and the mask that limits a group entry. */
	unsigned other = 0, mask = 07;
	for (size_t i = 0; i < count; i++) {
		struct acl_entry e = entry_at(v, i);
		if (e.tag == TAG_OTHER)
			other = e.perm;
		else if (e.tag == TAG_MASK)
			mask = e.perm;
	}
	size_t keep = 0;
	for (size_t i = 0; i < count; i++) {
		struct acl_entry e = entry_at(v, i);
		bool named = e.tag == TAG_USER || e.tag == TAG_GROUP;
		if (named && e.id == UNMAPPED_ID) {
			/* A member of the group left without its entry gets
			 * "other": only if that is no more than it had. */
			if (e.tag == TAG_GROUP && (other & ~(e.perm & mask)))
				return -EINVAL;
			continue;
		}
		if (keep != i)
			memmove(v + 4 + keep * sizeof(e), v + 4 + i * sizeof(e),
				sizeof(e));
		keep++;
	}
	return (ssize_t)(4 + keep * sizeof(struct acl_entry));
}
