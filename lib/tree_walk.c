#include "tree_walk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A path that grows and shrinks by components as the walk goes.  A new
 * start (a second path set anew) goes after the old one, which comes
 * back when the walk climbs out: one buffer for every level. */
struct path_buf {
	char *buf;
	size_t len, cap;
	size_t start; /* the path is buf + start, up to len */
};

struct level {
	struct walk_dirs *dirs;  /* ops->groups sets */
	size_t path_len;         /* the paths of the level above */
	size_t lpath_len, lpath_start;
	void *data;              /* ops->level_size bytes */
};

struct tree_walk {
	const struct tree_walk_ops *ops;
	void *ctx;
	struct level **v;
	size_t n, cap;
	struct level *pending; /* to go into once step returns */
	bool failed;           /* the walk's own error, not a hook's */
	struct path_buf path, lpath;
};

static int path_reserve(struct path_buf *p, size_t more)
{
	if (p->len + more + 1 <= p->cap)
		return 0;
	size_t nc = p->cap ? p->cap : 256;
	while (nc < p->len + more + 1)
		nc *= 2;
	char *nb = realloc(p->buf, nc);
	if (!nb)
		return -ENOMEM;
	p->buf = nb;
	p->cap = nc;
	return 0;
}

/* Adds a component; "" at the start. */
static int path_push(struct path_buf *p, const char *name)
{
	size_t n = strlen(name);
	if (path_reserve(p, n + 1) < 0)
		return -ENOMEM;
	if (p->len > p->start)
		p->buf[p->len++] = '/';
	memcpy(p->buf + p->len, name, n + 1);
	p->len += n;
	return 0;
}

/* The path becomes S, kept after the old one (at the buffer's start for
 * the first). */
static int path_restart(struct path_buf *p, const char *s)
{
	size_t n = strlen(s);
	size_t start = p->buf ? p->len + 1 : 0;
	if (path_reserve(p, start - p->len + n) < 0)
		return -ENOMEM;
	memcpy(p->buf + start, s, n + 1);
	p->start = start;
	p->len = start + n;
	return 0;
}

static void path_cut(struct path_buf *p, size_t len, size_t start)
{
	p->len = len;
	p->start = start;
	p->buf[len] = 0;
}

static struct level *level_new(const struct tree_walk_ops *ops,
			       struct walk_dirs *dirs)
{
	struct level *l = calloc(1, sizeof(*l));
	if (l) {
		l->dirs = calloc(ops->groups, sizeof(*l->dirs));
		l->data = calloc(1, ops->level_size ? ops->level_size : 1);
	}
	if (!l || !l->dirs || !l->data) {
		if (l) {
			free(l->dirs);
			free(l->data);
			free(l);
		}
		for (size_t g = 0; g < ops->groups; g++)
			walk_dirs_free(&dirs[g]);
		return NULL;
	}
	for (size_t g = 0; g < ops->groups; g++) {
		l->dirs[g] = dirs[g];
		dirs[g] = (struct walk_dirs){ 0 };
	}
	return l;
}

static void level_free(const struct tree_walk_ops *ops, struct level *l)
{
	if (!l)
		return;
	if (ops->drop)
		ops->drop(l->data);
	for (size_t g = 0; g < ops->groups; g++)
		walk_dirs_free(&l->dirs[g]);
	free(l->dirs);
	free(l->data);
	free(l);
}

void *tree_walk_ctx(const struct tree_walk *w)
{
	return w->ctx;
}

struct walk_dirs *tree_walk_dirs(struct tree_walk *w, size_t group)
{
	return &w->v[w->n - 1]->dirs[group];
}

const char *tree_walk_path(const struct tree_walk *w)
{
	return w->path.buf + w->path.start;
}

const char *tree_walk_lpath(const struct tree_walk *w)
{
	return w->lpath.buf + w->lpath.start;
}

size_t tree_walk_depth(const struct tree_walk *w)
{
	return w->n - 1;
}

void tree_walk_failure(const struct tree_walk *w, int r, char *buf,
		       size_t size)
{
	if (r == -ESTALE)
		snprintf(buf, size, "'/%s' moved during the walk",
			 tree_walk_path(w));
	else
		snprintf(buf, size, "%s", strerror(-r));
}

int tree_walk_unreadable(char *buf, size_t size, const char *path, int r)
{
	if (r < 0 && r != -EINTR && !buf[0])
		snprintf(buf, size, "cannot read '/%s': %s", path,
			 strerror(-r));
	return r;
}

int tree_walk_down(struct tree_walk *w, const char *name,
		   struct walk_dirs *dirs, const char *lpath, void **level)
{
	struct level *l = w->pending ? NULL : level_new(w->ops, dirs);
	if (!l) {
		if (w->pending)
			for (size_t g = 0; g < w->ops->groups; g++)
				walk_dirs_free(&dirs[g]);
		return w->pending ? -EBUSY : -ENOMEM;
	}
	/* The paths of this level, to come back to. */
	l->path_len = w->path.len;
	l->lpath_len = w->lpath.len;
	l->lpath_start = w->lpath.start;
	int r = path_push(&w->path, name);
	if (r == 0)
		r = lpath ? path_restart(&w->lpath, lpath)
			  : path_push(&w->lpath, name);
	if (r < 0) {
		path_cut(&w->path, l->path_len, 0);
		path_cut(&w->lpath, l->lpath_len, l->lpath_start);
		level_free(w->ops, l);
		return r;
	}
	w->pending = l;
	if (level)
		*level = l->data;
	return 0;
}

int tree_walk_down_by_name(struct tree_walk *w, const char *name,
			   void **level)
{
	size_t groups = w->ops->groups;
	struct walk_dirs *dirs = calloc(groups, sizeof(*dirs));
	if (!dirs)
		return -ENOMEM;
	int r = 0;
	for (size_t g = 0; g < groups; g++) {
		const struct walk_dirs *up = tree_walk_dirs(w, g);
		for (size_t i = 0; r == 0 && i < up->n; i++)
			r = walk_dirs_open(&dirs[g], &up->v[i], name);
	}
	if (r < 0)
		for (size_t g = 0; g < groups; g++)
			walk_dirs_free(&dirs[g]);
	else
		r = tree_walk_down(w, name, dirs, NULL, level);
	free(dirs);
	return r;
}

static int push(struct tree_walk *w, struct level *l)
{
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 16;
		struct level **nv = realloc(w->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		w->v = nv;
		w->cap = nc;
	}
	if (w->n > 0)
		walk_dirs_leave(w->v[w->n - 1]->dirs, w->ops->groups, l->dirs,
				w->ops->groups);
	w->v[w->n++] = l;
	return 0;
}

/* Back up from the current level, which is done. */
static int pop(struct tree_walk *w)
{
	struct level *l = w->v[w->n - 1];
	int r = 0;
	if (w->n > 1)
		r = walk_dirs_back(w->v[w->n - 2]->dirs, w->ops->groups,
				   l->dirs, w->ops->groups);
	if (r < 0)
		return r; /* the path still names where it failed */
	w->n--;
	path_cut(&w->path, l->path_len, 0);
	path_cut(&w->lpath, l->lpath_len, l->lpath_start);
	level_free(w->ops, l);
	return 0;
}

static int walk(struct tree_walk *w)
{
	int r = 0;
	bool entered = false;
	while (w->n > 0) {
		struct level *l = w->v[w->n - 1];
		if (!entered) {
			entered = true;
			r = w->ops->enter ? w->ops->enter(w, l->data) : 0;
			if (r < 0)
				return r;
		}
		r = w->ops->step(w, l->data);
		if (r < 0 || r == TREE_WALK_STOP)
			return r;
		if (w->pending) {
			struct level *c = w->pending;
			w->pending = NULL;
			if ((r = push(w, c)) < 0) {
				level_free(w->ops, c);
				w->failed = true;
				return r;
			}
			entered = false;
			continue;
		}
		if (r > 0)
			continue;
		if (w->ops->leave && (r = w->ops->leave(w, l->data)) < 0)
			return r;
		if ((r = pop(w)) < 0) {
			w->failed = true;
			return r;
		}
	}
	return 0;
}

int tree_walk_run(const struct tree_walk_ops *ops, void *ctx,
		  struct walk_dirs *root, const char *path, const char *lpath)
{
	struct tree_walk w = { .ops = ops, .ctx = ctx };
	struct level *l = level_new(ops, root);
	int r = !l ? -ENOMEM
		   : path_restart(&w.path, path) < 0 ||
			     path_restart(&w.lpath, lpath ? lpath : path) < 0
		       ? -ENOMEM
		       : push(&w, l);
	if (r < 0)
		level_free(ops, l);
	else
		r = walk(&w);
	if (r < 0 && w.failed && ops->failed)
		ops->failed(&w, r);
	level_free(ops, w.pending);
	while (w.n > 0)
		level_free(ops, w.v[--w.n]);
	free(w.v);
	free(w.path.buf);
	free(w.lpath.buf);
	return r;
}

int tree_walk_list(struct tree_walk *w, struct tree_walk_names *l)
{
	l->next = 0;
	return fs_list_dir(tree_walk_dirs(w, 0)->v[0].fd, &l->names);
}

const char *tree_walk_next(struct tree_walk_names *l)
{
	return l->next < l->names.n ? l->names.names[l->next++] : NULL;
}

void tree_walk_names_drop(void *level)
{
	struct tree_walk_names *l = level;
	name_list_free(&l->names);
}
