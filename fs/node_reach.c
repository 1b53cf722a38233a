/*
 * How a node is reached on disk in one layer: by its parent's directory
 * fd and its name, through a redirect, through the fd kept of a removed
 * name, or in the index; and the marks that keep a request by name from
 * falling between a rename on disk and the move of its nodes.  The node
 * table itself is node.c.
 */
#include "node_reach.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dirfd_cache.h"
#include "redirect.h"
#include "safe_path.h"

/* A node that lost its name while still open, or linked under another
 * name, is reached through its orphan fd (dir.c keeps one). */
static int orphan_fd(struct node *n)
{
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (!(node_flags(n) & N_UNHASHED) || !e)
		return -1;
	return __atomic_load_n(&e->orphan_fd, __ATOMIC_ACQUIRE);
}

/* A lower hard link whose inode was copied up lives in the index. */
static bool in_index_only(struct lfs *fs, struct node *n, int layer)
{
	return layer == fs->upper && (node_flags(n) & N_IDX_ALIAS) && n->ext;
}

/*
 * Where a redirected directory is found in a layer below the upper one,
 * a path from the root as it is in layer *origin: the deepest kernel
 * redirect above that layer, else this mount's own redirect, else NULL
 * (by its name).
 */
static const char *redirect_from(struct lfs *fs, struct node *n, int layer,
				 int *origin)
{
	/* Any node may get its extras meanwhile (node_ext publishes them):
	 * read once, with acquire; the redirects in them change under
	 * ns_lock, which callers hold. */
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (lfs_is_upper(fs, layer) || !e)
		return NULL;
	for (uint16_t i = e->nlredirs; i-- > 0;)
		if (e->lredirs[i].layer < layer) {
			*origin = e->lredirs[i].layer + 1;
			return e->lredirs[i].value;
		}
	if (!(node_flags(n) & N_REDIRECT) || !e->redirect)
		return NULL;
	*origin = lfs_below_upper(fs);
	return e->redirect;
}

static const char *redirect_below(struct lfs *fs, struct node *n, int layer)
{
	int origin;
	return redirect_from(fs, n, layer, &origin);
}

/* An absolute redirect's path in `layer`: it names the path in the
 * layer below the one holding it, and directories kernel overlayfs
 * renamed on the way lead it elsewhere further down. */
static char *redirect_at(struct lfs *fs, struct node *n, int layer)
{
	int origin = 0;
	const char *r = redirect_from(fs, n, layer, &origin);
	return r ? redirect_translate(fs, r, origin, layer) : NULL;
}

char *node_lower_path(struct lfs *fs, struct node *n, int layer)
{
	/* Up to the root, or to an ancestor whose redirect gives the path
	 * from the layer's root: the length first, then the names from the
	 * end (a hostile tree may be thousands of levels deep). */
	char *prefix = NULL;
	struct node *top = NULL; /* that ancestor, or NULL for the root */
	size_t total = 0;
	for (struct node *p = n; !(node_flags(p) & N_ROOT); p = p->parent) {
		if (redirect_below(fs, p, layer)) {
			prefix = redirect_at(fs, p, layer);
			if (!prefix)
				return NULL;
			top = p;
			break;
		}
		total += p->namelen + 1u;
	}
	if (!prefix && !total)
		return strdup("/"); /* the root */
	size_t head = prefix ? strlen(prefix) + 1 : 0; /* "/" and prefix */
	char *buf = malloc(head + total + 1);
	if (!buf) {
		free(prefix);
		return NULL;
	}
	size_t pos = head + total;
	buf[pos] = 0;
	for (struct node *p = n; p != top && !(node_flags(p) & N_ROOT);
	     p = p->parent) {
		pos -= p->namelen;
		memcpy(buf + pos, node_name(p), p->namelen);
		buf[--pos] = '/';
	}
	if (prefix) {
		buf[0] = '/';
		memcpy(buf + 1, prefix, head - 1);
	}
	free(prefix);
	return buf;
}

int node_add_lower_redirect(struct lfs *fs, struct node *n, int layer,
			    char *value)
{
	struct node_ext *e = node_ext(n);
	if (!e) {
		free(value);
		return -ENOMEM;
	}
	int r = 0;
	pthread_rwlock_wrlock(&fs->ns_lock);
	uint16_t i = 0;
	while (i < e->nlredirs && e->lredirs[i].layer < layer)
		i++;
	if (i < e->nlredirs && e->lredirs[i].layer == layer) {
		/* Read again with the listing: the same, lower layers being
		 * still. */
		free(e->lredirs[i].value);
		e->lredirs[i].value = value;
	} else {
		struct lower_redirect *v = realloc(
			e->lredirs, (e->nlredirs + 1u) * sizeof(*v));
		if (!v) {
			free(value);
			r = -ENOMEM;
		} else {
			memmove(v + i + 1, v + i,
				(e->nlredirs - i) * sizeof(*v));
			v[i] = (struct lower_redirect){ (uint16_t)layer, value };
			e->lredirs = v;
			e->nlredirs++;
		}
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	return r;
}

bool node_below_lower_redirect(struct node *n)
{
	for (struct node *p = n; p && !(node_flags(p) & N_ROOT); p = p->parent) {
		struct node_ext *e = __atomic_load_n(&p->ext, __ATOMIC_ACQUIRE);
		if (e && e->nlredirs)
			return true;
	}
	return false;
}

/*
 * A node removed from its name (unlink, or a rename onto the name) that
 * kept no fd to its inode has nothing left to reach by name: the name
 * now holds another file, a whiteout, or nothing.  The kernel may still
 * send requests for it (a stat or an open racing the removal): they
 * find the file gone, as they would a moment later.
 */
static bool name_lost(struct node *n)
{
	return node_flags(n) & N_UNHASHED;
}

/* What reaching n by its lost name answers.  udba=reval: a file whose
 * name another took behind the mount answers ESTALE, on which the
 * kernel looks the name it holds up again (as after a rename through
 * the mount right after the replacement moved its entry); ENOENT would
 * say the name is gone. */
static int lost_name_error(struct node *n)
{
	return (node_flags(n) & N_REPLACED) ? -ESTALE : -ENOENT;
}

/*
 * Whether st, found at n's name, is the 0/0 device of an overlay-format
 * whiteout that took the place of n: a rename or unlink has changed the
 * upper layer and not yet n's name (ns_lock is held only for the latter,
 * so that the disk work never stalls lookups).  n is then gone from that
 * name, as with `.wh.` whiteouts, where the name is simply empty.
 */
static bool whiteout_in_place(const struct node *n, const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0 &&
	       !S_ISCHR(n->mode);
}

/*
 * node_open and dirfd_acquire call each other up the path while the
 * parent's fd is not cached: ns_lock is read-locked once, by the
 * outermost call, not once per level (a deep tree would nest the lock
 * hundreds of times).
 */
static __thread unsigned ns_read_depth;

/* node_names_moving's marks, and the requests waiting for them to go. */
static pthread_mutex_t moving_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t moving_done = PTHREAD_COND_INITIALIZER;

/* A wait for one rename, which has its locks already and needs only
 * ns_lock, never held here: milliseconds at worst.  The limit only
 * keeps a mistake from hanging a request; then it goes on by name, as
 * before the marks. */
#define MOVING_WAIT_MAX_SECONDS 2

void node_names_moving(struct lfs *fs, struct node *a, struct node *b)
{
	bool ma = a && !node_is_dir(a), mb = b && !node_is_dir(b);
	if (!ma && !mb)
		return;
	pthread_rwlock_wrlock(&fs->ns_lock);
	if (ma)
		node_set_flag(a, N_MOVING);
	if (mb)
		node_set_flag(b, N_MOVING);
	pthread_rwlock_unlock(&fs->ns_lock);
}

void node_names_moved(struct node *a, struct node *b)
{
	bool ma = a && (node_flags(a) & N_MOVING),
	     mb = b && (node_flags(b) & N_MOVING);
	if (!ma && !mb)
		return;
	if (ma)
		node_clear_flag(a, N_MOVING);
	if (mb)
		node_clear_flag(b, N_MOVING);
	pthread_mutex_lock(&moving_lock);
	pthread_cond_broadcast(&moving_done);
	pthread_mutex_unlock(&moving_lock);
}

/* Whether a request that reads n's name in `layer` under ns_lock, just
 * taken, must let it go and wait for a rename (node.h): only the upper
 * layer's names move, and a request nested in another's hold of the
 * lock cannot let it go (a directory's, which no mark concerns). */
static bool must_await_move(struct lfs *fs, struct node *n, int layer,
			    unsigned depth)
{
	return (node_flags(n) & N_MOVING) && lfs_is_upper(fs, layer) &&
	       depth == 0;
}

/* Waits, holding no ns_lock, until n's rename has moved its node. */
static void await_move(struct node *n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += MOVING_WAIT_MAX_SECONDS;
	pthread_mutex_lock(&moving_lock);
	while ((node_flags(n) & N_MOVING) &&
	       pthread_cond_timedwait(&moving_done, &moving_lock, &until) !=
		       ETIMEDOUT)
		;
	pthread_mutex_unlock(&moving_lock);
}

int node_parent_fd(struct lfs *fs, struct node *n, int layer, char *name)
{
	/* Only the root has no parent. */
	if (node_flags(n) & N_ROOT)
		return -EINVAL;
	/* The name and the parent are read under ns_lock, held until the
	 * caller's *at() call is done (node_parent_fd_done), so a concurrent
	 * rename cannot move either meanwhile. */
	for (;;) {
		if (name_lost(n))
			return lost_name_error(n);
		unsigned depth = ns_read_depth;
		pthread_rwlock_rdlock(&fs->ns_lock);
		if (!must_await_move(fs, n, layer, depth))
			break;
		pthread_rwlock_unlock(&fs->ns_lock);
		await_move(n);
	}
	memcpy(name, node_name(n), n->namelen + 1u);
	int fd = dirfd_acquire(fs, n->parent, layer);
	if (fd < 0)
		pthread_rwlock_unlock(&fs->ns_lock);
	return fd;
}

void node_parent_fd_done(struct lfs *fs, int fd)
{
	dirfd_release(fd);
	pthread_rwlock_unlock(&fs->ns_lock);
}

/* An open of a file that was not a fifo or a device when n was made,
 * which with udba=reval the host may have swapped for one: the open
 * would wait for a writer for good, or open a driver. */
static bool kind_may_have_changed(struct lfs *fs, struct node *n, int layer,
				  int flags)
{
	mode_t kind = n->mode & S_IFMT;
	return fs->opt->udba_reval && !lfs_is_upper(fs, layer) &&
	       !(flags & O_PATH) && kind != S_IFIFO && kind != S_IFCHR &&
	       kind != S_IFBLK;
}

/* Its kind checked first through an O_PATH descriptor, which opens no
 * driver and waits for no writer (ESTALE for another kind, as udba.h
 * answers one), then that same inode opened with the caller's flags. */
static int open_same_kind(struct node *n, int pfd, int flags)
{
	int path_fd = openat(pfd, node_name(n), O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (path_fd < 0)
		return -errno;
	struct stat st;
	int r;
	if (fstat(path_fd, &st) < 0)
		r = -errno;
	else if ((st.st_mode & S_IFMT) != (n->mode & S_IFMT))
		r = -ESTALE;
	else
		r = sp_reopen(path_fd, flags);
	close(path_fd);
	return r;
}

/* n in its parent's directory pfd: one openat that never follows a
 * symlink.  Under ns_lock. */
static int open_in_parent(struct lfs *fs, struct node *n, int layer, int pfd,
			  int flags)
{
	const char *name = node_name(n);
	int fd;
	if (kind_may_have_changed(fs, n, layer, flags))
		fd = open_same_kind(n, pfd, flags);
	else if ((fd = openat(pfd, name, flags | O_NOFOLLOW | O_CLOEXEC)) < 0)
		fd = -errno;
	/* A whiteout device refuses the open (mode 0, no driver). */
	struct stat st;
	if ((fd == -ENXIO || fd == -EACCES) &&
	    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    whiteout_in_place(n, &st))
		fd = -ENOENT;
	return fd;
}

static void ns_read_lock(struct lfs *fs)
{
	if (ns_read_depth++ == 0)
		pthread_rwlock_rdlock(&fs->ns_lock);
}

static void ns_read_unlock(struct lfs *fs)
{
	if (--ns_read_depth == 0)
		pthread_rwlock_unlock(&fs->ns_lock);
}

/*
 * The fd dir.c kept of n when a removal of its name through the mount
 * (unlink, rename onto it) began, if r, what reaching n in `layer` by
 * its name answered, says that the name went: after n was unhashed (the
 * lost name's error), or before (ENOENT, the name already gone from the
 * disk).  Else -1.
 */
static int removed_fd(struct node *n, int layer, int r)
{
	bool went = (node_flags(n) & N_UNHASHED)
			    ? r == -ENOENT || r == -ESTALE
			    : r == -ENOENT && layer == node_layer(n);
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	return went && e ? __atomic_load_n(&e->orphan_fd, __ATOMIC_ACQUIRE)
			 : -1;
}

int node_open(struct lfs *fs, struct node *n, int layer, int flags)
{
	int fd;
again:;
	/* Unlinked while open: the file itself, before its index entry,
	 * which went with its last link. */
	int ofd = orphan_fd(n);
	if (ofd >= 0)
		return sp_reopen(ofd, flags);
	if (in_index_only(fs, n, layer)) {
		fd = openat(fs->index_fd, n->ext->index_key,
			    flags | O_NOFOLLOW | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	if (node_flags(n) & N_ROOT) {
		fd = openat(fs->layers[layer].fd, ".", flags | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	if (name_lost(n))
		return lost_name_error(n);
	unsigned depth = ns_read_depth;
	ns_read_lock(fs);
	if (must_await_move(fs, n, layer, depth)) {
		/* Once moved, a replaced file is unhashed: above. */
		ns_read_unlock(fs);
		await_move(n);
		goto again;
	}
	if (redirect_below(fs, n, layer)) {
		char *path = redirect_at(fs, n, layer);
		fd = path ? sp_open_beneath(fs->layers[layer].fd, path, flags, 0)
			  : -ENOMEM;
		free(path);
	} else {
		/* The parent's directory fd (usually cached), then n in it. */
		int pfd = dirfd_acquire(fs, n->parent, layer);
		fd = pfd < 0 ? pfd : open_in_parent(fs, n, layer, pfd, flags);
		if (pfd >= 0)
			dirfd_release(pfd);
	}
	ns_read_unlock(fs);
	int kept = removed_fd(n, layer, fd);
	return kept >= 0 ? sp_reopen(kept, flags) : fd;
}

/* Whether node_open reaches n in `layer` without its parent's fd. */
static bool opens_alone(struct lfs *fs, struct node *n, int layer)
{
	return in_index_only(fs, n, layer) || (node_flags(n) & N_ROOT) ||
	       orphan_fd(n) >= 0 || name_lost(n) || redirect_below(fs, n, layer);
}

/* The directory below[0] in layer, whose ancestors up to the directory
 * open as base are below[1..depth-1] (the nearest first): one openat
 * where it is base's child, else one open of the path of their names,
 * which follows no symlink (the walk by components would have stopped
 * at one with ENOTDIR, as this says too).  Under ns_lock. */
static int open_names_below(struct lfs *fs, int base, struct node **below,
			    size_t depth, int layer)
{
	if (depth == 1)
		return open_in_parent(fs, below[0], layer, base,
				      O_PATH | O_DIRECTORY);
	size_t len = 0;
	for (size_t i = 0; i < depth; i++)
		len += below[i]->namelen + 1u;
	char stack_path[512];
	char *path = len <= sizeof(stack_path) ? stack_path : malloc(len);
	if (!path)
		return -ENOMEM;
	char *p = path;
	for (size_t i = depth; i-- > 0;) {
		memcpy(p, node_name(below[i]), below[i]->namelen);
		p += below[i]->namelen;
		*p++ = i ? '/' : 0;
	}
	int fd = sp_open_beneath(base, path, O_PATH | O_DIRECTORY, 0);
	if (path != stack_path)
		free(path);
	return fd == -ELOOP ? -ENOTDIR : fd;
}

/* node_walk_to_dir's one try, from the cache's state at.  A retry
 * looks for dir in the cache first: another worker may have opened it
 * meanwhile (the first try comes straight from a miss). */
static int walk_to_dir(struct lfs *fs, struct node *dir, int layer,
		       struct dirfd_stamp at, bool retry)
{
	ns_read_lock(fs);
	int fd = retry ? dirfd_find(dir, layer) : -1;
	/* Going up a tree: from a cached subdirectory (dirfd_cache.h). */
	if (fd < 0 && !opens_alone(fs, dir, layer))
		fd = dirfd_climb(fs, dir, layer, at);
	if (fd >= 0) {
		ns_read_unlock(fs);
		return fd;
	}
	/* Up to the nearest ancestor that is cached or opens alone (most
	 * often the parent: a few levels fit on the stack)... */
	struct node *near[32];
	size_t depth = 0, cap = sizeof(near) / sizeof(near[0]);
	struct node **below = near;
	fd = -ENOMEM;
	for (struct node *p = dir;; p = p->parent) {
		if (p != dir && (fd = dirfd_find(p, layer)) >= 0)
			break;
		if (opens_alone(fs, p, layer)) {
			fd = node_open(fs, p, layer, O_PATH | O_DIRECTORY);
			if (fd >= 0)
				fd = dirfd_keep(fs, p, layer, fd, at);
			break;
		}
		if (depth == cap) {
			struct node **b = malloc(2 * cap * sizeof(*b));
			if (!b) {
				fd = -ENOMEM;
				break;
			}
			memcpy(b, below, cap * sizeof(*b));
			if (below != near)
				free(below);
			below = b;
			cap *= 2;
		}
		below[depth++] = p;
	}
	/* ...then the names below it, in one open; only dir is kept. */
	if (fd >= 0 && depth > 0) {
		int base = fd;
		fd = open_names_below(fs, base, below, depth, layer);
		dirfd_release(base);
		if (fd >= 0)
			fd = dirfd_keep(fs, dir, layer, fd, at);
	}
	if (below != near)
		free(below);
	ns_read_unlock(fs);
	return fd;
}

/* Walks again after a rename moved a directory meanwhile (see
 * dirfd_cache.h): a few times, not waiting for renames to end, which
 * may need what the caller holds (a directory's lock, its listing). */
#define WALK_TRIES 8

int node_walk_to_dir(struct lfs *fs, struct node *dir, int layer)
{
	/* Cached, most often. */
	ns_read_lock(fs);
	int cached = dirfd_find(dir, layer);
	ns_read_unlock(fs);
	if (cached >= 0)
		return cached;
	for (int tries = 1;; tries++) {
		struct dirfd_stamp at = dirfd_stamp();
		int fd = walk_to_dir(fs, dir, layer, at, tries > 1);
		if (dirfd_unmoved_since(at) || tries == WALK_TRIES)
			return fd;
		if (fd >= 0)
			dirfd_release(fd);
		sched_yield();
	}
}

int node_open_noatime(struct lfs *fs, struct node *n, int layer, int flags)
{
	int fd = node_open(fs, n, layer, flags | O_NOATIME);
	if (fd == -EPERM)
		fd = node_open(fs, n, layer, flags & ~O_NOATIME);
	return fd;
}

bool node_reached_by_name(struct lfs *fs, struct node *n, int layer)
{
	return !(node_flags(n) & N_ROOT) && orphan_fd(n) < 0 &&
	       !in_index_only(fs, n, layer) && !redirect_below(fs, n, layer);
}

bool node_name_went(struct node *n, int layer, int r)
{
	return removed_fd(n, layer, r) >= 0;
}

int node_lstat(struct lfs *fs, struct node *n, int layer, struct stat *st)
{
	if (node_flags(n) & N_ROOT)
		return fstat(fs->layers[layer].fd, st) < 0 ? -errno : 0;
	int ofd = orphan_fd(n);
	if (ofd >= 0)
		return fstat(ofd, st) < 0 ? -errno : 0;
	if (in_index_only(fs, n, layer))
		return fstatat(fs->index_fd, n->ext->index_key, st,
			       AT_SYMLINK_NOFOLLOW) < 0
			       ? -errno
			       : 0;
	if (redirect_below(fs, n, layer)) {
		int fd = node_open(fs, n, layer, O_PATH);
		if (fd < 0)
			return fd;
		int r = fstat(fd, st) < 0 ? -errno : 0;
		close(fd);
		return r;
	}
	char name[NAME_MAX + 1];
	int dfd = node_parent_fd(fs, n, layer, name);
	int r = dfd;
	if (dfd >= 0) {
		r = fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno
								    : 0;
		node_parent_fd_done(fs, dfd);
		if (r == 0 && whiteout_in_place(n, st))
			r = -ENOENT;
	}
	/* The name went while this looked (a lookup's stat of a name being
	 * replaced, an fstat(2) of the open file racing its unlink, got
	 * ENOENT): the file is stat'ed as node_open opens it. */
	int kept = removed_fd(n, layer, r);
	if (kept >= 0)
		r = fstat(kept, st) < 0 ? -errno : 0;
	return r;
}
