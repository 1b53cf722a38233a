#include "index_links.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "lf_common.h"
#include "lower_id.h"
#include "tree_walk.h"
#include "whiteout.h"
#include "workdir.h"
#include "xattr_policy.h"

void index_links_free(struct index_links *x)
{
	if (x->index_fd >= 0)
		close(x->index_fd);
	for (size_t i = 0; i < x->n; i++)
		free(x->v[i].lower_id);
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

bool index_links_key(const char *s, size_t len, unsigned long long *dev,
		     unsigned long long *ino)
{
	char buf[IL_KEY_MAX];
	unsigned long long d, i;
	char end;
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (strspn(buf, "0123456789abcdef-") != len ||
	    sscanf(buf, "%llx-%llx%c", &d, &i, &end) != 2)
		return false;
	if (dev)
		*dev = d;
	if (ino)
		*ino = i;
	return true;
}

/* Adds the entry KEY when the upper directory lacks some of its names,
 * or (every) when each entry is wanted. */
static int consider(struct index_links *x, const char *key, bool every,
		    size_t *cap)
{
	unsigned long long dev, ino;
	if (!index_links_key(key, strlen(key), &dev, &ino))
		return 0; /* a count file, or not the index's */
	struct stat st;
	if (fstatat(x->index_fd, key, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return 0;
	/* The count of a symlink's or a device's entry is beside it.
	 * Without a count, the walk decides: it costs time, never a name. */
	char cname[sizeof(x->v[0].key) + sizeof(IL_NLINK_SUFFIX)];
	snprintf(cname, sizeof(cname), "%s%s", key,
		 S_ISREG(st.st_mode) ? "" : IL_NLINK_SUFFIX);
	uint64_t shown;
	if (!every && index_links_shown(x->index_fd, cname, &shown) == 0 &&
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
	/* The record of the lower file (a special file's on its count). */
	char *id = NULL;
	size_t idlen;
	if (fs_xattr_get_at(x->index_fd, cname, XATTR_LFS_LOWERID, &id,
			    &idlen) == 0 &&
	    idlen > 0 && idlen < LOWER_ID_MAX) {
		l->lower_id = strndup(id, idlen);
		if (!l->lower_id) {
			free(id);
			return -ENOMEM;
		}
	}
	free(id);
	return 0;
}

const struct index_link *index_links_find(const struct index_links *x,
					  int dirfd, const char *name,
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
	/* Nor one recorded for another lower file (one unreadable now, or
	 * an entry without a record, it takes as it is). */
	char now[LOWER_ID_MAX];
	if (l && l->lower_id &&
	    lower_id_at(dirfd, name, lower_id_handles_kept(dirfd), now) > 0 &&
	    strcmp(now, l->lower_id) != 0)
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
	bool count;               /* IL_COUNT asked */
	bool list;                /* IL_INDEX asked: names are listed */
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
	char *err;                /* why the walk failed, when it can say */
	size_t errlen;
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
 * A directory of the merged view (its chain: set 0), whose second path
 * is its lower path; inside: under a renamed directory.  Its lower names
 * of index entries, and for IL_SHARED its lower files with several
 * names, by side.
 */
struct walk_level {
	bool inside;
	struct ulisting l;
	size_t next;
};

static int walk_enter(struct tree_walk *w, void *data)
{
	struct walk_level *l = data;
	return union_list(tree_walk_dirs(w, 0), &l->l);
}

/* A redirect mark the mount would not follow (xattr_redirect_target):
 * the walk stops, saying where. */
static int malformed_mark(struct walk *wk, const char *dir_path,
			  const char *name)
{
	snprintf(wk->err, wk->errlen, "'/%s%s%s' has a malformed redirect mark",
		 dir_path, dir_path[0] ? "/" : "", name);
	return -EINVAL;
}

/* The entry E of a directory of the merged view. */
static int walk_entry(struct tree_walk *w, struct walk_level *l,
		      const struct uentry *e)
{
	struct walk *wk = tree_walk_ctx(w);
	const struct walk_dirs *chain = tree_walk_dirs(w, 0);
	const struct walk_dir *dir = &chain->v[e->link];
	bool is_dir = S_ISDIR(e->st.st_mode);
	bool own = false;
	char *mark = is_dir && dir->tree == 0
			     ? xattr_redirect_mark_at(dir->fd, e->name, &own)
			     : NULL;
	int r = 0;
	void *child = NULL;
	if (mark && (wk->shared || wk->count)) {
		char *target = xattr_redirect_target(mark, own,
						     tree_walk_lpath(w));
		struct walk_dirs sub = { 0 };
		r = !target ? malformed_mark(wk, tree_walk_path(w), e->name)
			    : walk_dirs_open(&sub, dir, e->name);
		if (r == 0)
			r = union_redirect_chain(wk->stack, &sub, target);
		if (r == 0)
			r = tree_walk_down(w, e->name, &sub, target, &child);
		if (r == 0)
			((struct walk_level *)child)->inside = true;
		free(target);
	} else if (mark) {
		/* A renamed directory's content is read through its
		 * redirect by export and diff themselves. */
	} else if (is_dir) {
		struct walk_dirs sub;
		r = union_child_chain(chain, e->name, &sub);
		if (r == 0)
			r = tree_walk_down(w, e->name, &sub, NULL, &child);
		if (r == 0)
			((struct walk_level *)child)->inside = l->inside;
	} else if (dir->tree > 0) {
		const struct index_link *f =
			index_links_find(wk->x, dir->fd, e->name, &e->st);
		char *cpath = fs_join(tree_walk_path(w), e->name);
		if (f)
			wk->x->v[f - wk->x->v].lower_names++;
		if (!cpath)
			r = -ENOMEM;
		/* (Under a renamed directory, export writes it.) */
		else if (f && !l->inside && wk->list)
			r = add_name(wk, cpath, (size_t)(f - wk->x->v),
				     dir->tree);
		else if (!f && wk->shared && e->st.st_nlink > 1)
			r = l->inside ? add_inside(wk, &e->st)
				      : add_outside(wk, cpath, dir->tree,
						    &e->st);
		free(cpath);
	}
	free(mark);
	return r;
}

static int walk_step(struct tree_walk *w, void *data)
{
	struct walk_level *l = data;
	if (l->next == l->l.n)
		return 0;
	int r = walk_entry(w, l, &l->l.v[l->next++]);
	return r < 0 ? r : 1;
}

static void walk_drop(void *data)
{
	struct walk_level *l = data;
	ulisting_free(&l->l);
}

static const struct tree_walk_ops walk_ops = {
	.groups = 1,
	.level_size = sizeof(struct walk_level),
	.enter = walk_enter,
	.step = walk_step,
	.drop = walk_drop,
};

/* Whether an upper directory holds a renamed directory, at any depth:
 * a level is a directory's listing. */
static int redirect_enter(struct tree_walk *w, void *data)
{
	return tree_walk_list(w, data);
}

static int redirect_step(struct tree_walk *w, void *data)
{
	int dirfd = tree_walk_dirs(w, 0)->v[0].fd;
	const char *name;
	while ((name = tree_walk_next(data))) {
		struct stat st;
		if (wh_is_reserved(name) ||
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		bool own;
		char *mark = xattr_redirect_mark_at(dirfd, name, &own);
		if (mark) {
			free(mark);
			return TREE_WALK_STOP;
		}
		/* One that cannot be opened holds none we could read. */
		if (tree_walk_down_by_name(w, name, NULL) == 0)
			return 1;
	}
	return 0;
}

static const struct tree_walk_ops redirect_ops = {
	.groups = 1,
	.level_size = sizeof(struct tree_walk_names),
	.enter = redirect_enter,
	.step = redirect_step,
	.drop = tree_walk_names_drop,
};

/* 1 when the upper directory dirfd holds a renamed directory, at any
 * depth; 0 when not; -errno. */
static int upper_has_redirect(int dirfd)
{
	struct walk_dirs root = { 0 };
	int r = walk_dirs_open_root(&root, dirfd, 0);
	if (r == 0)
		r = tree_walk_run(&redirect_ops, NULL, &root, "", NULL);
	return r == TREE_WALK_STOP ? 1 : r;
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
	if (work_fd >= 0 && (what & (IL_INDEX | IL_COUNT))) {
		x->index_fd = openat(work_fd, WORKDIR_INDEX,
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
			r = consider(x, keys.names[i], what & IL_COUNT, &cap);
		name_list_free(&keys); /* (empty after a failed listing) */
		if (r == 0 && x->n > 1)
			qsort(x->v, x->n, sizeof(*x->v), cmp_links);
	}
	struct walk w = { .x = x, .stack = stack, .err = err,
			  .errlen = errlen, .count = what & IL_COUNT,
			  .list = what & IL_INDEX };
	if (r == 0 && (what & IL_SHARED) && stack->n > 1) {
		r = upper_has_redirect(stack->fds[0]);
		w.shared = r > 0;
		r = r < 0 ? r : 0;
	}
	if (r == 0 && (x->n || w.shared)) {
		struct walk_dirs root;
		r = union_dir_chain(stack, 0, "", &root);
		if (r == 0)
			r = tree_walk_run(&walk_ops, &w, &root, "", NULL);
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
