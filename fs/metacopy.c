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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "node_reach.h"
#include "redirect.h"
#include "safe_path.h"
#include "xattr_private.h"

/* n's own path in the layers below, "/a/b": the path of its parent
 * there (a renamed ancestor's redirect decides it) and its name. */
char *metacopy_own_path(struct lfs *fs, struct node *n)
{
	pthread_rwlock_rdlock(&fs->ns_lock);
	char *p = node_lower_path(fs, n, lfs_below_upper(fs));
	pthread_rwlock_unlock(&fs->ns_lock);
	return p;
}

/*
 * Kernel overlayfs's own metadata-only copies (its metacopy=on), met
 * where a layer it wrote is a lower layer of this mount: the upper
 * directory of a kernel mount stacked as an image layer, or a
 * containers-storage layer made with metacopy.  Such a file holds the
 * metadata, its size included, and no data: the data is in the layers
 * below, at the file's own path or at the one its `overlay.redirect`
 * names (absolute from the layer's root, or another name in the same
 * directory); a chain of them may lead down several layers.  Read as it
 * stands, the file would show as zeros or nothing.  As the kernel does,
 * only trusted.* marks are believed (only a privileged writer makes
 * them); whatever they name is looked up beneath the layers' roots,
 * never outside them.  With `userxattr` the kernel turns metacopy off
 * and refuses a file marked user.overlay.metacopy (EPERM), and so does
 * layerfs: anyone may write user.* xattrs, and such a mark would let a
 * layer's author give a file of theirs, with a mode of their choosing,
 * the data of another layer's file they may not read.
 */
#define KMETA_TRUSTED "trusted.overlay.metacopy"
#define KMETA_USER "user.overlay.metacopy"

/* 1 when the file at path carries the kernel's metacopy mark, with its
 * redirect (or NULL) in *redirect; 0 when not; -errno.  follow: path is
 * a descriptor's /proc link, to be followed to the file. */
static int kernel_metacopy_at(struct lfs *fs, const char *path, bool follow,
			      char **redirect)
{
	*redirect = NULL;
	if (xp_get(path, follow, KMETA_TRUSTED, NULL, 0) < 0) {
		bool user_mark = fs->opt->userxattr &&
				 xp_get(path, follow, KMETA_USER, NULL, 0) >= 0;
		return user_mark ? -EPERM : 0;
	}
	int r = redirect_kernel_value(fs, path, follow, redirect);
	return r < 0 ? r : 1;
}

/* The data path a kernel redirect (redirect_kernel_value_ok) leads to
 * from the file at path ("/a/f"): an absolute one as it is, a relative
 * one (a name) in the same directory.  NULL when out of memory. */
static char *kernel_redirect_path(const char *path, const char *redirect)
{
	if (redirect[0] != '/') {
		const char *slash = strrchr(path, '/');
		size_t keep = slash ? (size_t)(slash - path) : 0;
		char *out = malloc(keep + strlen(redirect) + 2);
		if (out)
			sprintf(out, "%.*s/%s", (int)keep, path, redirect);
		return out;
	}
	return strdup(redirect);
}

bool metacopy_lower_suspect(bool dir_impure, const struct stat *st)
{
	/* The kernel marks a directory impure when it copies an entry up
	 * into it (with an origin), and a metacopy file has no data
	 * blocks: a file of an impure directory, or one whose blocks
	 * cannot hold its size (an xattr block of ext4 may count). */
	return S_ISREG(st->st_mode) && st->st_size > 0 &&
	       (dir_impure || (uint64_t)st->st_blocks * 512 <
				      (uint64_t)st->st_size);
}

int metacopy_probe_lower(struct lfs *fs, struct node *dir, struct node *n,
			 const char *name, int layer)
{
	int pfd = node_open(fs, dir, layer, O_PATH | O_DIRECTORY);
	if (pfd < 0)
		return pfd;
	char proc[64 + NAME_MAX];
	xp_proc_path(proc, sizeof(proc), pfd, name);
	/* Its redirect, read to refuse an unreadable one now, is followed
	 * by the search for the data. */
	char *redirect = NULL;
	int r = kernel_metacopy_at(fs, proc, false, &redirect);
	close(pfd);
	free(redirect);
	if (r <= 0)
		return r;
	/* Its own path in its layer: the search for the data starts at the
	 * file itself and follows it down (metacopy_open_data), as it does
	 * for a copy of it made through this mount, whose mark keeps that
	 * path. */
	struct node_ext *e = node_ext(n);
	char *path = NULL;
	if (e) {
		pthread_rwlock_rdlock(&fs->ns_lock);
		path = node_lower_path(fs, n, layer);
		pthread_rwlock_unlock(&fs->ns_lock);
	}
	if (!path)
		return -ENOMEM;
	free(e->datapath);
	e->datapath = path;
	node_set_flag(n, N_METACOPY);
	return 0;
}

/*
 * The data at path in a lower layer, which only a regular file can hold.
 * A hostile layer may put a fifo there, whose open would block the
 * daemon's thread for good (and the reader with it, beyond SIGKILL and
 * unmount), a device node the root daemon would read for the caller (a
 * disk), or a directory.  The file is first reached by O_PATH, which
 * opens no driver and waits for no writer, and only a regular one is
 * opened for real; the rest is EIO, as kernel overlayfs answers.
 */
static int open_data_in(struct lfs *fs, int layer, const char *path,
			int flags)
{
	int pfd = sp_open_beneath(fs->layers[layer].fd, path, O_PATH, 0);
	if (pfd < 0)
		return pfd;
	struct stat st;
	if (fstat(pfd, &st) < 0) {
		int e = errno;
		close(pfd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(pfd);
		return -EIO;
	}
	if (flags & O_PATH)
		return pfd;
	int fd = sp_reopen(pfd, flags);
	close(pfd);
	return fd;
}

/* The path of n in lower layer `layer` ("/a/f"), or with `name`, of that
 * name in n's parent's directory there.  malloc'd. */
static char *path_in_layer(struct lfs *fs, struct node *n, const char *name,
			   int layer)
{
	pthread_rwlock_rdlock(&fs->ns_lock);
	char *p = node_lower_path(fs, name ? n->parent : n, layer);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (!p || !name)
		return p;
	char *out = malloc(strlen(p) + strlen(name) + 2);
	if (out)
		sprintf(out, "%s%s%s", p, p[1] ? "/" : "", name);
	free(p);
	return out;
}

/*
 * A redirect met on a kernel metacopy in layer l, at `path` there: where
 * the search goes on.  Searching by the node, a name in its directory
 * stays by the node (*name, its directory taken in each layer);
 * otherwise it goes on at a path (*fixed) as layer *fixed_at has it: a
 * name, in its directory as layer l has it (l's redirects move it), a
 * path from the root, in the layers below l.  0 or -errno (EIO for a
 * malformed redirect).
 */
static int take_redirect(const char *redirect, const char *path, int l,
			 bool *by_node, char **name, char **fixed,
			 int *fixed_at)
{
	if (!redirect_kernel_value_ok(redirect))
		return -EIO;
	if (*by_node && redirect[0] != '/') {
		char *renamed = strdup(redirect);
		if (!renamed)
			return -ENOMEM;
		free(*name);
		*name = renamed;
		return 0;
	}
	char *next = kernel_redirect_path(path, redirect);
	if (!next)
		return -ENOMEM;
	*by_node = false;
	free(*fixed);
	*fixed = next;
	*fixed_at = redirect[0] == '/' ? l + 1 : l;
	return 0;
}

int metacopy_open_data(struct lfs *fs, struct node *n, int flags)
{
	struct node_ext *e = n->ext;
	const char *recorded = e ? e->datapath : NULL;
	if (!recorded)
		return -ENODATA;
	while (*recorded == '/')
		recorded++;
	/* Lower layers never change: once found, the data stays in its
	 * layer, and every getattr of the file (its st_blocks) and every
	 * open for reading go straight there. */
	int known = __atomic_load_n(&e->data_layer, __ATOMIC_RELAXED);
	if (known > 0 && known < fs->nlayers) {
		int fd = open_data_in(fs, known, recorded, flags);
		if (fd != -ENOENT && fd != -ENOTDIR)
			return fd;
	}
	/*
	 * Below the upper copy of a copy made through this mount, at the
	 * path its mark records; from the file itself for one of the
	 * kernel's in a lower layer, at its own path in each layer (the
	 * directories above it may be ones the kernel renamed) until a
	 * redirect of a kernel metacopy on the way names another: a path
	 * from the root, or a name in the same directory.  Every kernel
	 * metacopy on the way is stepped over.
	 */
	int layer = node_layer(n);
	bool by_node = !lfs_is_upper(fs, layer);
	char *name = NULL;  /* by_node: a name the file had in its parent */
	/* Otherwise the path a redirect gave, else the mark's, as it is in
	 * layer fixed_at: directories the kernel renamed lead it elsewhere
	 * further down (redirect_translate). */
	int first = by_node ? layer : layer + 1;
	char *fixed = by_node ? NULL : strdup(recorded);
	int fixed_at = first;
	int r = by_node || fixed ? -ENOENT : -ENOMEM;
	for (int l = first; r == -ENOENT && l < fs->nlayers; l++) {
		if (!by_node && fixed_at < l) {
			char *t = redirect_translate(fs, fixed, fixed_at, l);
			free(fixed);
			fixed = t;
			fixed_at = l;
			if (!fixed) {
				r = -ENOMEM;
				break;
			}
		}
		char *own = by_node ? path_in_layer(fs, n, name, l) : NULL;
		if (by_node && !own) {
			r = -ENOMEM;
			break;
		}
		const char *path = own ? own : fixed;
		while (*path == '/')
			path++;
		int fd = open_data_in(fs, l, path, flags);
		if (fd == -ENOENT || fd == -ENOTDIR) {
			free(own);
			continue;
		}
		char *redirect = NULL;
		int k = 0;
		if (fd >= 0) {
			/* A kernel metacopy file on the way holds no data
			 * either: the search goes on below it. */
			char proc[64];
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			k = kernel_metacopy_at(fs, proc, true, &redirect);
		}
		if (k == 0) {
			/* The data, or an error opening it.  Remembered
			 * where the recorded path reaches it. */
			if (fd >= 0 && strcmp(path, recorded) == 0)
				__atomic_store_n(&e->data_layer, l,
						 __ATOMIC_RELAXED);
			free(own);
			free(name);
			free(fixed);
			return fd;
		}
		close(fd);
		if (k > 0 && redirect)
			k = take_redirect(redirect, path, l, &by_node, &name,
					  &fixed, &fixed_at);
		free(redirect);
		free(own);
		if (k < 0) {
			r = k;
			break;
		}
	}
	free(name);
	free(fixed);
	return r;
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
