#include "index_links.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "lf_common.h"
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

struct walk {
	struct index_links *x;
	size_t cap;
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

static bool redirected(int dirfd, const char *name)
{
	char *mark = xattr_redirect_mark_at(dirfd, name);
	free(mark);
	return mark != NULL;
}

/* The merged directory chain at PATH: its lower names of entries. */
static int walk_dir(struct walk *w, const struct uchain *chain,
		    const char *path)
{
	struct ulisting l;
	int r = union_list(chain, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		const struct uentry *e = &l.v[i];
		const struct ulink *link = &chain->v[e->link];
		char *cpath = fs_join(path, e->name);
		if (!cpath) {
			r = -ENOMEM;
			break;
		}
		if (S_ISDIR(e->st.st_mode)) {
			/* A renamed directory's content is read through its
			 * redirect by export itself. */
			if (link->layer == 0 && redirected(link->fd, e->name)) {
				free(cpath);
				continue;
			}
			struct uchain sub;
			r = union_child_chain(chain, e->name, &sub);
			if (r == 0)
				r = walk_dir(w, &sub, cpath);
			uchain_free(&sub);
		} else if (link->layer > 0) {
			const struct index_link *f =
				index_links_find(w->x, &e->st);
			if (f)
				r = add_name(w, cpath, (size_t)(f - w->x->v),
					     link->layer);
		}
		free(cpath);
	}
	ulisting_free(&l);
	return r;
}

int index_links_load(int work_fd, const struct ustack *stack,
		     struct index_links *x, char *err, size_t errlen)
{
	*x = (struct index_links){ .index_fd = -1 };
	if (work_fd < 0)
		return 0;
	x->index_fd = openat(work_fd, "index",
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x->index_fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return 0;
		snprintf(err, errlen,
			 "cannot open the work directory's index: %s",
			 strerror(e));
		return -e;
	}
	struct name_list keys;
	int r = fs_list_dir(x->index_fd, &keys);
	size_t cap = 0;
	for (size_t i = 0; r == 0 && i < keys.n; i++)
		r = consider(x, keys.names[i], &cap);
	name_list_free(&keys); /* (empty after a failed listing) */
	if (r == 0 && x->n) {
		qsort(x->v, x->n, sizeof(*x->v), cmp_links);
		struct walk w = { .x = x };
		struct uchain root;
		r = union_dir_chain(stack, 0, "", &root);
		if (r == 0)
			r = walk_dir(&w, &root, "");
		uchain_free(&root);
		if (r == 0 && x->nnames > 1)
			qsort(x->names, x->nnames, sizeof(*x->names),
			      cmp_names);
	}
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen,
				 "cannot read the work directory's index: %s",
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
