#include "lower_id.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#define FUSE_MAGIC 0x65735546

/* The birth time, where neither a handle is given: one statx. */
static int birth_id(int dirfd, const char *name, int flags, char *out)
{
	struct statx stx;
	if (statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW, STATX_BTIME,
		  &stx) < 0)
		return -errno;
	if (!(stx.stx_mask & STATX_BTIME))
		return 0;
	return snprintf(out, LOWER_ID_MAX, "b%lld.%u",
			(long long)stx.stx_btime.tv_sec,
			stx.stx_btime.tv_nsec);
}

bool lower_id_handles_kept(int fd)
{
	struct statfs sfs;
	return fstatfs(fd, &sfs) < 0 || (long)sfs.f_type != FUSE_MAGIC;
}

int lower_id_at(int dirfd, const char *name, bool handles, char *out)
{
	int flags = name[0] ? 0 : AT_EMPTY_PATH;
	if (!handles)
		return birth_id(dirfd, name, flags, out);
	union {
		struct file_handle fh;
		char room[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	int mount_id;
	/* Without AT_SYMLINK_FOLLOW: a symlink's own handle. */
	if (name_to_handle_at(dirfd, name, &h.fh, &mount_id, flags) < 0) {
		/* EOPNOTSUPP: the filesystem has no handles (EOVERFLOW
		 * cannot be: the room is the largest there is). */
		if (errno != EOPNOTSUPP)
			return -errno;
		return birth_id(dirfd, name, flags, out);
	}
	int len = snprintf(out, LOWER_ID_MAX, "h%x:", (unsigned)h.fh.handle_type);
	for (unsigned i = 0; i < h.fh.handle_bytes && len + 3 <= LOWER_ID_MAX;
	     i++)
		len += snprintf(out + len, LOWER_ID_MAX - len, "%02x",
				(unsigned char)h.fh.f_handle[i]);
	return len;
}
