#include "exec_prefetch.h"

#include <sys/stat.h>

#include "copy_up.h"

/*
 * Chunks small enough for libfuse to splice them from the file through
 * its pipe (at most pipe-max-size, 1 MiB, without privilege): one copy,
 * page cache to page cache.  A larger store is read into a buffer first.
 */
#define STORE_CHUNK (256u << 10)

static void store_file(struct lfs *fs, fuse_ino_t ino, int fd, off_t size)
{
	for (off_t off = 0; off < size; off += STORE_CHUNK) {
		size_t len = (size_t)(size - off) < STORE_CHUNK
				     ? (size_t)(size - off)
				     : STORE_CHUNK;
		struct fuse_bufvec buf = FUSE_BUFVEC_INIT(len);
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = fd;
		buf.buf[0].pos = off;
		/* Best effort: the kernel reads what is not stored. */
		if (fuse_lowlevel_notify_store(fs->se, ino, off, &buf, 0) < 0)
			return;
	}
	lfs_stat_add(&fs->stats.exec_prefetches, 1);
	lfs_stat_add(&fs->stats.exec_prefetch_bytes, (uint64_t)size);
}

void exec_prefetch(struct lfs *fs, fuse_ino_t ino, struct node *n, int fd)
{
	/* Once per node: the kernel keeps the pages for the next runs,
	 * and reads again for itself any it has let go since. */
	if (atomic_fetch_or_explicit(&n->flags, N_PREFETCHED,
				     memory_order_acq_rel) &
	    N_PREFETCHED)
		return;
	struct stat st;
	/* Several links: another name's copy-up changes the data this
	 * inode's cache should show, and is not held off by this node. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_size <= 0 || (uint64_t)st.st_size > EXEC_PREFETCH_MAX)
		return;

	struct copy_up_hold hold;
	copy_up_hold_begin(n, &hold);
	/* Copied up (even as metadata only) before the hold: writers may
	 * have dirty pages in the cache, which the store would overwrite. */
	if (!lfs_is_upper(fs, node_layer(n)) &&
	    !(node_flags(n) & (N_METACOPY | N_UNHASHED))) {
		store_file(fs, ino, fd, st.st_size);
	}
	copy_up_hold_end(&hold);
}
