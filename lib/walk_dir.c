#include "walk_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/*
 * What fd is.  An inode's device and number never change, so what the
 * kernel has is enough: on FUSE a stat after a listing (which drops the
 * cached atime) would ask the daemon, and layerfs answers for a deep
 * directory by walking down to it again.
 */
static int identity(int fd, dev_t *dev, ino_t *ino)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO,
		  &stx) < 0)
		return -errno;
	*dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	*ino = stx.stx_ino;
	return 0;
}

int walk_dirs_add(struct walk_dirs *s, int fd, size_t tree,
		  const struct walk_dir *from)
{
	dev_t dev;
	ino_t ino;
	int r = identity(fd, &dev, &ino);
	if (r < 0) {
		close(fd);
		return r;
	}
	struct walk_dir *nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!nv) {
		close(fd);
		return -ENOMEM;
	}
	s->v = nv;
	s->v[s->n++] = (struct walk_dir){
		.fd = fd,
		.tree = tree,
		.dev = dev,
		.ino = ino,
		.by_name = from != NULL,
		.up_dev = from ? from->dev : 0,
		.up_ino = from ? from->ino : 0,
	};
	return 0;
}

int walk_dirs_open_root(struct walk_dirs *s, int fd, size_t tree)
{
	int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (own < 0)
		return -errno;
	return walk_dirs_add(s, own, tree, NULL);
}

int walk_dirs_open(struct walk_dirs *s, const struct walk_dir *from,
		   const char *name)
{
	int fd = openat(from->fd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return walk_dirs_add(s, fd, from->tree, from);
}

int walk_dirs_move(struct walk_dirs *s, struct walk_dirs *more)
{
	if (!more->n)
		return 0;
	struct walk_dir *nv = realloc(s->v, (s->n + more->n) * sizeof(*nv));
	if (!nv) {
		walk_dirs_free(more);
		return -ENOMEM;
	}
	s->v = nv;
	memcpy(s->v + s->n, more->v, more->n * sizeof(*nv));
	s->n += more->n;
	free(more->v);
	*more = (struct walk_dirs){ 0 };
	return 0;
}

void walk_dirs_free(struct walk_dirs *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].fd >= 0)
			close(s->v[i].fd);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* A directory of DOWN, open, whose ".." is U. */
static const struct walk_dir *child_of(const struct walk_dir *u,
				       const struct walk_dirs *down,
				       size_t ndown)
{
	for (size_t g = 0; g < ndown; g++)
		for (size_t i = 0; i < down[g].n; i++) {
			const struct walk_dir *d = &down[g].v[i];
			if (d->fd >= 0 && d->by_name && d->up_dev == u->dev &&
			    d->up_ino == u->ino)
				return d;
		}
	return NULL;
}

void walk_dirs_leave(struct walk_dirs *up, size_t nup,
		     const struct walk_dirs *down, size_t ndown)
{
	for (size_t g = 0; g < nup; g++)
		for (size_t i = 0; i < up[g].n; i++) {
			struct walk_dir *u = &up[g].v[i];
			if (u->fd >= 0 && child_of(u, down, ndown)) {
				close(u->fd);
				u->fd = -1;
			}
		}
}

int walk_dirs_back(struct walk_dirs *up, size_t nup,
		   const struct walk_dirs *down, size_t ndown)
{
	int first = 0;
	for (size_t g = 0; g < nup; g++)
		for (size_t i = 0; i < up[g].n; i++) {
			struct walk_dir *u = &up[g].v[i];
			if (u->fd >= 0)
				continue;
			const struct walk_dir *d = child_of(u, down, ndown);
			int fd = d ? openat(d->fd, "..",
					    O_RDONLY | O_DIRECTORY | O_CLOEXEC)
				   : -1;
			dev_t dev = 0;
			ino_t ino = 0;
			int r = !d	 ? -ESTALE
				: fd < 0 ? -errno
					 : identity(fd, &dev, &ino);
			if (r == 0 && (dev != u->dev || ino != u->ino))
				r = -ESTALE;
			if (r < 0) {
				if (fd >= 0)
					close(fd);
				if (!first)
					first = r;
				continue;
			}
			u->fd = fd;
		}
	return first;
}
