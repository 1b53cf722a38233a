/*
 * POSIX ACLs from libarchive's list into the kernel's binary xattr form
 * (include/uapi/linux/posix_acl_xattr.h): a little-endian version word,
 * then one (tag, permissions, id) record per entry, sorted by tag and,
 * within the named user and group entries, by id, as the kernel insists.
 */
#include "acl_xattr.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>

#define ACL_XATTR_VERSION 2
/* The kernel's tags, in the order it wants them. */
#define K_USER_OBJ 0x01
#define K_USER 0x02
#define K_GROUP_OBJ 0x04
#define K_GROUP 0x08
#define K_MASK 0x10
#define K_OTHER 0x20
#define K_UNDEFINED_ID UINT32_MAX

struct acl_record {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

static int kernel_tag(int tag)
{
	switch (tag) {
	case ARCHIVE_ENTRY_ACL_USER_OBJ: return K_USER_OBJ;
	case ARCHIVE_ENTRY_ACL_USER: return K_USER;
	case ARCHIVE_ENTRY_ACL_GROUP_OBJ: return K_GROUP_OBJ;
	case ARCHIVE_ENTRY_ACL_GROUP: return K_GROUP;
	case ARCHIVE_ENTRY_ACL_MASK: return K_MASK;
	case ARCHIVE_ENTRY_ACL_OTHER: return K_OTHER;
	default: return -1;
	}
}

static int by_tag_then_id(const void *pa, const void *pb)
{
	const struct acl_record *a = pa, *b = pb;
	if (a->tag != b->tag)
		return a->tag < b->tag ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* What the kernel's posix_acl_valid checks, so a bad list is refused
 * here with one reason rather than half applied: one owner, owning
 * group and other entry each, no id named twice, and a mask whenever a
 * user or group is named. */
static bool valid(const struct acl_record *r, size_t n)
{
	size_t owners = 0, groups = 0, others = 0, masks = 0, named = 0;
	for (size_t i = 0; i < n; i++) {
		switch (r[i].tag) {
		case K_USER_OBJ: owners++; break;
		case K_GROUP_OBJ: groups++; break;
		case K_OTHER: others++; break;
		case K_MASK: masks++; break;
		default: named++;
		}
		if (i > 0 && r[i].tag == r[i - 1].tag &&
		    (r[i].tag == K_USER || r[i].tag == K_GROUP) &&
		    r[i].id == r[i - 1].id)
			return false;
	}
	return owners == 1 && groups == 1 && others == 1 && masks <= 1 &&
	       (named == 0 || masks == 1);
}

int acl_xattr_from_entry(struct archive_entry *e, int type, char **out,
			 size_t *len)
{
	*out = NULL;
	*len = 0;
	int count = archive_entry_acl_reset(e, type);
	if (count <= 0)
		return 0;
	struct acl_record *r = calloc((size_t)count, sizeof(*r));
	if (!r)
		return -ENOMEM;
	size_t n = 0;
	int got_type, permset, tag, qual;
	const char *name;
	int res = 0;
	while (n < (size_t)count &&
	       archive_entry_acl_next(e, type, &got_type, &permset, &tag,
				      &qual, &name) == ARCHIVE_OK) {
		int k = kernel_tag(tag);
		if (k < 0 || (permset & ~7) != 0) {
			res = -EINVAL; /* NFSv4 flavours have no place here */
			break;
		}
		uint32_t id = K_UNDEFINED_ID;
		if (k == K_USER || k == K_GROUP) {
			if (qual < 0) {
				res = -EINVAL; /* a name without its id */
				break;
			}
			id = (uint32_t)qual;
		}
		r[n++] = (struct acl_record){ (uint16_t)k, (uint16_t)permset,
					      id };
	}
	if (res == 0) {
		qsort(r, n, sizeof(*r), by_tag_then_id);
		if (!valid(r, n))
			res = -EINVAL;
	}
	if (res == 0) {
		size_t size = 4 + n * 8;
		unsigned char *buf = malloc(size);
		if (!buf) {
			res = -ENOMEM;
		} else {
			uint32_t version = htole32(ACL_XATTR_VERSION);
			memcpy(buf, &version, 4);
			for (size_t i = 0; i < n; i++) {
				uint16_t tag16 = htole16(r[i].tag);
				uint16_t perm16 = htole16(r[i].perm);
				uint32_t id32 = htole32(r[i].id);
				memcpy(buf + 4 + i * 8, &tag16, 2);
				memcpy(buf + 6 + i * 8, &perm16, 2);
				memcpy(buf + 8 + i * 8, &id32, 4);
			}
			*out = (char *)buf;
			*len = size;
		}
	}
	free(r);
	return res;
}
