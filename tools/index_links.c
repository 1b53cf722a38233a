#include "index_links.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "lf_common.h"
#include "whiteout.h"
#include "xattr_policy.h"

/* index/KEY.nlink: the count of a special file's entry. */
#define NLINK_SUFFIX ".nlink"

void index_links_free(struct index_links *x)
{
	if (x->index_fd >= 0)
		close(x->index_fd);
	free(x->v);
	for (size_t i = 0; i < x->nnames; i++)
		free(x->names[i].path);
	free(x->names);
	*x = (struct index_links){ .index_fd = -1 };
}

static int cmp_links(const void *a, const void *b)
{
	const struct index_link *p = a, *q = b;
	if (p->dev != q->dev)
		return p->dev < q->dev ? -1 : 1;
	if (p->ino != q->ino)
		return p->ino < q->ino ? -1 : 1;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(((const struct index_name *)a)->path,
		      ((const struct index_name *)b)->path);
}

int index_links_shown(int dirfd, const char *name, uint64_t *shown)
{
	char *v = NULL;
	size_t len;
	int r = fs_xattr_get_at(dirfd, name, XATTR_LFS_NLINK, &v, &len);
	if (r < 0)
		return r;
	char buf[32];
	r = -EINVAL;
	if (len < sizeof(buf)) {
		memcpy(buf, v, len);
		buf[len] = 0;
		if (lf_parse_u64(buf, shown) == 0)
			r = 0;
	}
	free(v);
	return r;
}

/* Adds the entry KEY when the upper directory lacks some of its names. */
static int consider(struct index_links *x, const char *key, size_t *cap)
{
	unsigned long long dev, ino;
	char end;
	if (strlen(key) >= sizeof(x->v[0].key) ||
	    sscanf(key, "%llx-%llx%c", &dev, &ino, &end) != 2)
		return 0; /* a count file, or not the index's */
	struct stat st;
	if (fstatat(x->index_fd, key, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return 0;
	/* The count of a symlink's or a device's entry is beside it.
	 * Without a count, the walk decides: it costs time, never a name. */
	char cname[sizeof(x->v[0].key) + sizeof(NLINK_SUFFIX)];
	snprintf(cname, sizeof(cname), "%s%s", key,
		 S_ISREG(st.st_mode) ? "" : NLINK_SUFFIX);
	uint64_t shown;
	if (index_links_shown(x->index_fd, cname, &shown) == 0 &&
	    shown + 1 <= (uint64_t)st.st_nlink)
		return 0;
	if (x->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct index_link *nv = realloc(x->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		x->v = nv;
		*cap = nc;
	}
	struct index_link *l = &x->v[x->n++];
	*l = (struct index_link){ .dev = (dev_t)dev, .ino = (ino_t)ino,
				  .st = st };
	snprintf(l->key, sizeof(l->key), "%s", key);
	char *mark = NULL;
	size_t len;
	l->metacopy = S_ISREG(st.st_mode) &&
		      fs_xattr_get_at(x->index_fd, key, XATTR_LFS_METACOPY,
				      &mark, &len) == 0;
	free(mark);
	return 0;
}

const struct index_link *index_links_find(const struct index_links *x,
					  const struct stat *lower)
{
	if (!x->n || S_ISDIR(lower->st_mode) || lower->st_nlink < 2)
		return NULL;
	struct index_link k = { .dev = lower->st_dev, .ino = lower->st_ino };
	const struct index_link *l =
		bsearch(&k, x->v, x->n, sizeof(*x->v), cmp_links);
	/* layerfs takes an entry of another type for no link of it. */
	if (l && (l->st.st_mode & S_IFMT) != (lower->st_mode & S_IFMT))
		return NULL;
	return l;
}

/* A lower inode. */
struct devino {
	dev_t dev;
	ino_t ino;
};

static int cmp_devino(const void *a, const void *b)
{
	const struct devino *p = a, *q = b;
	if (p->dev != q->dev)
		return p->dev < q->dev ? -1 : 1;
	return p->ino < q->ino ? -1 : p->ino > q->ino;
}

struct walk {
	struct index_links *x;
	const struct ustack *stack;
	bool shared;              /* IL_SHARED asked */
	size_t cap;
	/* IL_SHARED: lower inodes with a name under a renamed directory,
	 * and the names outside one that may share them. */
	struct devino *inside;
	size_t ninside, insidecap;
	struct outside_name {
		char *path;
		size_t layer;
		struct devino ino;
	} *outside;
	size_t noutside, outsidecap;
};

static int add_name(struct walk *w, const char *path, size_t entry,
		    size_t layer)
{
	struct index_links *x = w->x;
	if (x->nnames == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 16;
		struct index_name *nv = realloc(x->names, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		x->names = nv;
		w->cap = nc;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	x->names[x->nnames++] = (struct index_name){ p, entry, layer };
	return 0;
}

static int add_inside(struct walk *w, const struct stat *st)
{
	if (w->ninside == w->insidecap) {
		size_t nc = w->insidecap ? w->insidecap * 2 : 16;
		struct devino *nv = realloc(w->inside, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		w->inside = nv;
		w->insidecap = nc;
	}
	w->inside[w->ninside++] = (struct devino){ st->st_dev, st->st_ino };
	return 0;
}

static int add_outside(struct walk *w, const char *path, size_t layer,
		       const struct stat *st)
{
	if (w->noutside == w->outsidecap) {
		size_t nc = w->outsidecap ? w->outsidecap * 2 : 16;
		struct outside_name *nv = realloc(w->outside,
						  nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		w->outside = nv;
		w->outsidecap = nc;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	w->outside[w->noutside++] = (struct outside_name){
		p, layer, { st->st_dev, st->st_ino }
	};
	return 0;
}

/*
 * The merged directory chain at PATH (lower path LPATH; inside: under a
 * renamed directory): its lower names of index entries, and for
 * IL_SHARED its lower files with several names, by side.
 */
static int walk_dir(struct walk *w, const struct uchain *chain,
		    const char *path, const char *lpath, bool inside)
{
	struct ulisting l;
	int r = union_list(chain, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		const struct uentry *e = &l.v[i];
		const struct ulink *link = &chain->v[e->link];
		char *cpath = fs_join(path, e->name);
		char *clpath = fs_join(lpath, e->name);
		char *mark = cpath && clpath && S_ISDIR(e->st.st_mode) &&
					     link->layer == 0
				     ? xattr_redirect_mark_at(link->fd, e->name)
				     : NULL;
		if (!cpath || !clpath) {
			r = -ENOMEM;
		} else if (mark && w->shared) {
			char *target = xattr_redirect_target(mark, lpath);
			int fd = target ? openat(link->fd, e->name,
						 O_RDONLY | O_DIRECTORY |
							 O_NOFOLLOW | O_CLOEXEC)
					: -1;
			struct uchain sub;
			r = !target ? -EINVAL
			    : fd < 0 ? -errno
				     : union_redirect_chain(w->stack, fd, target,
							    &sub);
			if (r == 0) {
				r = walk_dir(w, &sub, cpath, target, true);
				uchain_free(&sub);
			}
			free(target);
		} else if (mark) {
			/* A renamed directory's content is read through its
			 * redirect by export and diff themselves. */
		} else if (S_ISDIR(e->st.st_mode)) {
			struct uchain sub;
			r = union_child_chain(chain, e->name, &sub);
			if (r == 0)
				r = walk_dir(w, &sub, cpath, clpath, inside);
			uchain_free(&sub);
		} else if (link->layer > 0) {
			const struct index_link *f =
				index_links_find(w->x, &e->st);
			/* (Under a renamed directory, export writes it.) */
			if (f && !inside)
				r = add_name(w, cpath, (size_t)(f - w->x->v),
					     link->layer);
			else if (!f && w->shared && e->st.st_nlink > 1)
				r = inside ? add_inside(w, &e->st)
					   : add_outside(w, cpath, link->layer,
							 &e->st);
		}
		free(mark);
		free(cpath);
		free(clpath);
	}
	ulisting_free(&l);
	return r;
}

/* Whether the upper directory dirfd holds a renamed directory, at any
 * depth. */
static int upper_has_redirect(int dirfd)
{
	struct name_list names;
	int r = fs_list_dir(dirfd, &names);
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		const char *name = names.names[i];
		struct stat st;
		if (wh_is_reserved(name) ||
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		char *mark = xattr_redirect_mark_at(dirfd, name);
		if (mark) {
			free(mark);
			r = 1;
			break;
		}
		int fd = openat(dirfd, name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
		if (fd < 0)
			continue;
		r = upper_has_redirect(fd);
		close(fd);
	}
	name_list_free(&names);
	return r;
}

/* IL_SHARED: the names outside renamed directories whose inode has a
 * name inside one. */
static int shared_names(struct walk *w)
{
	if (w->ninside > 1)
		qsort(w->inside, w->ninside, sizeof(*w->inside), cmp_devino);
	int r = 0;
	for (size_t i = 0; r == 0 && i < w->noutside; i++)
		if (w->ninside &&
		    bsearch(&w->outside[i].ino, w->inside, w->ninside,
			    sizeof(*w->inside), cmp_devino))
			r = add_name(w, w->outside[i].path, INDEX_NAME_SHARED,
				     w->outside[i].layer);
	return r;
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->noutside; i++)
		free(w->outside[i].path);
	free(w->outside);
	free(w->inside);
}

int index_links_load(int work_fd, const struct ustack *stack, int what,
		     struct index_links *x, char *err, size_t errlen)
{
	*x = (struct index_links){ .index_fd = -1 };
	int r = 0;
	if (work_fd >= 0 && (what & IL_INDEX)) {
		x->index_fd = openat(work_fd, "index",
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
		if (x->index_fd < 0 && errno != ENOENT) {
			int e = errno;
			snprintf(err, errlen,
				 "cannot open the work directory's index: %s",
				 strerror(e));
			return -e;
		}
	}
	if (x->index_fd >= 0) {
		struct name_list keys;
		r = fs_list_dir(x->index_fd, &keys);
		size_t cap = 0;
		for (size_t i = 0; r == 0 && i < keys.n; i++)
			r = consider(x, keys.names[i], &cap);
		name_list_free(&keys); /* (empty after a failed listing) */
		if (r == 0 && x->n > 1)
			qsort(x->v, x->n, sizeof(*x->v), cmp_links);
	}
	struct walk w = { .x = x, .stack = stack };
	if (r == 0 && (what & IL_SHARED) && stack->n > 1) {
		r = upper_has_redirect(stack->fds[0]);
		w.shared = r > 0;
		r = r < 0 ? r : 0;
	}
	if (r == 0 && (x->n || w.shared)) {
		struct uchain root;
		r = union_dir_chain(stack, 0, "", &root);
		if (r == 0)
			r = walk_dir(&w, &root, "", "", false);
		uchain_free(&root);
		if (r == 0 && w.shared)
			r = shared_names(&w);
		if (r == 0 && x->nnames > 1)
			qsort(x->names, x->nnames, sizeof(*x->names),
			      cmp_names);
	}
	walk_free(&w);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen,
				 "cannot read the lower names of hard "
				 "links: %s",
				 strerror(-r));
		index_links_free(x);
	}
	return r;
}

/* The first name at or after KEY (by path). */
static size_t lower_bound(const struct index_links *x, const char *key)
{
	size_t lo = 0, hi = x->nnames;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(x->names[mid].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct index_name *index_links_name(const struct index_links *x,
					  const char *path)
{
	size_t i = lower_bound(x, path);
	return i < x->nnames && !strcmp(x->names[i].path, path)
		       ? &x->names[i]
		       : NULL;
}

static int cmp_strs(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int index_links_children(const struct index_links *x, const char *dir,
			 char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!x->nnames)
		return 0;
	char *prefix = dir[0] ? fs_join(dir, "") : strdup("");
	if (!prefix)
		return -ENOMEM;
	size_t plen = strlen(prefix), cap = 0;
	int r = 0;
	/* Paths sharing a prefix are neighbours in sorted order. */
	for (size_t i = lower_bound(x, prefix);
	     r == 0 && i < x->nnames &&
	     !strncmp(x->names[i].path, prefix, plen);
	     i++) {
		const char *rest = x->names[i].path + plen;
		size_t len = strcspn(rest, "/");
		if (*n && !strncmp((*out)[*n - 1], rest, len) &&
		    !(*out)[*n - 1][len])
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			char **nv = realloc(*out, nc * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			*out = nv;
			cap = nc;
		}
		if (!((*out)[*n] = strndup(rest, len)))
			r = -ENOMEM;
		else
			(*n)++;
	}
	free(prefix);
	if (r == 0 && *n > 1) {
		/* "a-b" sorts before "a/x": the components need sorting, and
		 * repeats may remain apart. */
		qsort(*out, *n, sizeof(**out), cmp_strs);
		size_t k = 0;
		for (size_t i = 0; i < *n; i++) {
			if (k && !strcmp((*out)[k - 1], (*out)[i]))
				free((*out)[i]);
			else
				(*out)[k++] = (*out)[i];
		}
		*n = k;
	}
	if (r < 0) {
		for (size_t i = 0; i < *n; i++)
			free((*out)[i]);
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return r;
}
