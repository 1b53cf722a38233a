/*
 * Metadata-only copies (metacopy): an upper file holding the metadata of
 * a lower file whose data stays below until the first write (copy_up.c
 * makes them and brings the data up).  Where the data is, how it is
 * opened, and how its path is kept as the file moves.
 *
 * The mark (user.layerfs.metacopy) is empty while the file keeps its
 * path: the data is then at the same path in the layers below, reached
 * through the redirects of renamed ancestors, as kernel overlayfs finds
 * it without a redirect.  Empty, the origin and metacopy marks fit in
 * the 96 bytes ext4 keeps for xattrs inside an inode; with a path in
 * it, every copy took a 4 KiB block.  A rename or a hard link writes
 * the path in before the file gets its new name (metacopy_pin); an index
 * entry, with several names, always has it written out.
 */
#include "metacopy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "safe_path.h"
#include "xattr_private.h"

/* n's own path in the layers below, "/a/b": the path of its parent
 * there (a renamed ancestor's redirect decides it) and its name. */
char *metacopy_own_path(struct lfs *fs, struct node *n)
{
	pthread_rwlock_rdlock(&fs->ns_lock);
	char *p = node_path(fs, n, true);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (!p)
		return NULL;
	char *abs = malloc(strlen(p) + 2);
	if (abs) {
		abs[0] = '/';
		strcpy(abs + 1, p);
	}
	free(p);
	return abs;
}

static int open_data_in(struct lfs *fs, int layer, const char *path,
			int flags)
{
	int fd = sp_open_beneath(fs->layers[layer].fd, path, flags, 0);
	if (fd == -EPERM && (flags & O_NOATIME))
		fd = sp_open_beneath(fs->layers[layer].fd, path,
				     flags & ~O_NOATIME, 0);
	return fd;
}

int metacopy_open_data(struct lfs *fs, struct node *n, int flags)
{
	struct node_ext *e = n->ext;
	const char *path = e ? e->datapath : NULL;
	if (!path)
		return -ENODATA;
	while (*path == '/')
		path++;
	/* Lower layers never change: once found, the data stays in its
	 * layer, and every getattr of the file (its st_blocks) and every
	 * open for reading go straight there. */
	int known = __atomic_load_n(&e->data_layer, __ATOMIC_RELAXED);
	if (known > 0 && known < fs->nlayers) {
		int fd = open_data_in(fs, known, path, flags);
		if (fd != -ENOENT && fd != -ENOTDIR)
			return fd;
	}
	int first = lfs_has_upper(fs) ? fs->upper + 1 : 0;
	for (int l = first; l < fs->nlayers; l++) {
		int fd = open_data_in(fs, l, path, flags);
		if (fd == -ENOENT || fd == -ENOTDIR)
			continue;
		if (fd >= 0)
			__atomic_store_n(&e->data_layer, l, __ATOMIC_RELAXED);
		return fd;
	}
	return -ENOENT;
}

int metacopy_resolve(struct lfs *fs, struct node *n, char **datapath)
{
	if ((*datapath)[0])
		return 0;
	free(*datapath);
	*datapath = metacopy_own_path(fs, n);
	return *datapath ? 0 : -ENOMEM;
}

/*
 * Writing a node's mark (metacopy_pin, before a rename or a link) and
 * removing it once the data is copied (metacopy_drop_mark) exclude each
 * other: a pin racing the end of a copy would put the mark back on a
 * file that has its data, and after a remount its reads would go to the
 * lower file again.  Striped by node.
 */
#define MARK_STRIPES 64
static pthread_mutex_t mark_locks[MARK_STRIPES] = {
	[0 ... MARK_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER
};

static pthread_mutex_t *mark_lock(const struct node *n)
{
	/* Nodes are malloc'd at least 16 bytes apart. */
	return &mark_locks[((uintptr_t)n >> 4) % MARK_STRIPES];
}

static int pin_locked(struct node *n, int dirfd, const char *name)
{
	if (!(node_flags(n) & N_METACOPY))
		return 0;
	/* Set before N_METACOPY, so in place once the flag is seen. */
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	const char *path = e ? e->datapath : NULL;
	if (!path)
		return -ENODATA;
	char proc[64 + NAME_MAX];
	int r;
	if (name) {
		xp_proc_path(proc, sizeof(proc), dirfd, name);
		r = lsetxattr(proc, XATTR_LFS_METACOPY, path, strlen(path), 0);
	} else {
		/* An O_PATH fd takes no fsetxattr; its /proc link leads to
		 * the file itself, never through a symlink of a layer. */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
		r = setxattr(proc, XATTR_LFS_METACOPY, path, strlen(path), 0);
	}
	return r < 0 ? -errno : 0;
}

int metacopy_pin(struct node *n, int dirfd, const char *name)
{
	if (!S_ISREG(n->mode))
		return 0;
	pthread_mutex_lock(mark_lock(n));
	int r = pin_locked(n, dirfd, name);
	pthread_mutex_unlock(mark_lock(n));
	return r;
}

int metacopy_drop_mark(struct node *n, int fd)
{
	pthread_mutex_lock(mark_lock(n));
	int r = xp_remove(fd, XATTR_LFS_METACOPY);
	if (r == 0)
		node_clear_flag(n, N_METACOPY);
	pthread_mutex_unlock(mark_lock(n));
	return r;
}

blkcnt_t metacopy_data_blocks(struct lfs *fs, struct node *n,
			      blkcnt_t fallback)
{
	struct node_ext *e = n->ext;
	if (!e)
		return fallback;
	/* Lower data never changes: one fstat per node, not one open and
	 * fstat per getattr (`ls -l` after `chown -R`). */
	int64_t known = __atomic_load_n(&e->data_blocks, __ATOMIC_RELAXED);
	if (known >= 0)
		return (blkcnt_t)known;
	int fd = metacopy_open_data(fs, n, O_PATH);
	if (fd < 0)
		return fallback;
	struct stat st;
	blkcnt_t blocks = fallback;
	if (fstat(fd, &st) == 0) {
		blocks = st.st_blocks;
		__atomic_store_n(&e->data_blocks, (int64_t)blocks,
				 __ATOMIC_RELAXED);
	}
	close(fd);
	return blocks;
}
