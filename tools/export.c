#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "entry_path.h"
#include "fsutil.h"
#include "index_links.h"
#include "lf_common.h"
#include "safe_path.h"
#include "tree_walk.h"
#include "whiteout.h"
#include "xattr_policy.h"

struct exp {
	struct tar_writer *w;
	bool have_lower;
	struct ustack stack; /* [upper, lower...] */
	struct index_links links; /* lower names of copied-up hard links */
	bool have_work;
	bool warned_index;
	struct export_counts *c;
	char *err;
	size_t errlen;
};

static char *join(const char *a, const char *b)
{
	return fs_join(a, b);
}

/* Which of the marks NAMES dirfd/name carries (index), with its value;
 * -1 when none. */
static int read_mark(int dirfd, const char *name, const char *const *names,
		     char **value)
{
	*value = NULL;
	for (int i = 0; i < 3; i++) {
		size_t len;
		int r = fs_xattr_get_at(dirfd, name, names[i], value, &len);
		if (r == 0)
			return i;
	}
	return -1;
}

static int need_lower(struct exp *ex, const char *path, const char *what)
{
	snprintf(ex->err, ex->errlen,
		 "'/%s' is %s whose content is in the lower layers: export "
		 "needs --lower",
		 path, what);
	return -EINVAL;
}

/*
 * FD, just opened (O_NONBLOCK) as the lower data of PATH, found at
 * LPATH: itself when it is a regular file, else closed and refused.
 * Opened without O_NONBLOCK, a fifo there blocked the export for good
 * waiting for a writer; a directory or a device holds no file data
 * either, and layerfs, which takes the data from the first lower layer
 * holding the path whatever it is, has none to show there.
 */
static int lower_data_checked(struct exp *ex, int fd, const char *lpath,
			      const char *path)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		snprintf(ex->err, ex->errlen,
			 "cannot read the lower data '/%s' of '/%s': %s", lpath,
			 path, strerror(e));
		return -e;
	}
	if (S_ISREG(st.st_mode))
		return fd;
	close(fd);
	snprintf(ex->err, ex->errlen,
		 "the lower data '/%s' of '/%s' is not a regular file", lpath,
		 path);
	return -EINVAL;
}

/* The data of a metadata-only copy: the first lower layer, top down,
 * holding the path (layerfs's own rule). */
static int lower_data(struct exp *ex, const char *lpath, const char *path)
{
	for (size_t l = 1; l < ex->stack.n; l++) {
		int fd = sp_open_beneath(ex->stack.fds[l], lpath,
					 O_RDONLY | O_NONBLOCK, 0);
		if (fd == -ENOENT || fd == -ENOTDIR)
			continue;
		if (fd < 0) {
			snprintf(ex->err, ex->errlen,
				 "cannot open the lower data '/%s' of '/%s': "
				 "%s",
				 lpath, path, strerror(-fd));
			return fd;
		}
		return lower_data_checked(ex, fd, lpath, path);
	}
	snprintf(ex->err, ex->errlen,
		 "the data of '/%s' ('/%s') is in none of the --lower layers",
		 path, lpath);
	return -ENOENT;
}

/* An upper file that is a link of layerfs's index and shows more names
 * than the upper layer holds (less the index's own link): names in the
 * lower layers that only --work can export. */
static bool index_link_lacks_names(int dirfd, const char *name,
				   const struct stat *st)
{
	uint64_t shown = 0;
	int r = st->st_nlink < 2 ? -ENODATA
				 : index_links_shown(dirfd, name, &shown);
	return r == -EINVAL || (r == 0 && shown + 1 > (uint64_t)st->st_nlink);
}

static int add_regular(struct exp *ex, int dirfd, const char *name,
		       const struct stat *st, const char *path,
		       const char *lpath, bool upper)
{
	char *mark = NULL;
	int kind = upper ? read_mark(dirfd, name, xattr_metacopy_names, &mark)
			 : -1;
	int data = -1;
	int r = 0;
	if (kind >= 0) {
		if (!ex->have_lower) {
			free(mark);
			return need_lower(ex, path, "a metadata-only copy");
		}
		/* Both keep the data at the file's own lower path unless it
		 * was renamed: then layerfs names it in its mark, overlayfs
		 * in a redirect. */
		char *redir = NULL, *target;
		if (kind == 0 && mark[0])
			target = xattr_lower_path(mark, "");
		else if (kind == 0)
			target = join(lpath, name);
		else if (read_mark(dirfd, name, xattr_redirect_names,
				   &redir) > 0)
			target = xattr_redirect_target(redir, false, lpath);
		else
			target = join(lpath, name);
		free(redir);
		if (!target) {
			snprintf(ex->err, ex->errlen,
				 "'/%s' has a malformed metacopy mark", path);
			free(mark);
			return -EINVAL;
		}
		data = lower_data(ex, target, path);
		free(target);
		if (data < 0) {
			free(mark);
			return data;
		}
		ex->c->metacopy++;
	}
	free(mark);
	if (upper && !ex->have_work && !ex->warned_index &&
	    index_link_lacks_names(dirfd, name, st)) {
		lf_warn("'/%s' is a hard link copied up through the index of "
			"the mount's work directory: without --work, its "
			"names in the lower layers keep the lower file",
			path);
		ex->warned_index = true;
	}
	r = tw_add(ex->w, path, dirfd, name, st, data, ex->err, ex->errlen);
	if (data >= 0)
		close(data);
	ex->c->files++;
	return r;
}

/*
 * A lower name of a hard link copied up through the index, as the mount
 * shows it: the copy, a hard link of its upper names.  data_fd is the
 * lower file itself when the copy holds metadata only.
 */
static int add_indexed(struct exp *ex, const char *path,
		       const struct index_link *l, int data_fd)
{
	struct stat st = l->st;
	/* The entry's count leaves the lower names out; they are links
	 * all the same, and the first one written carries the data. */
	if (st.st_nlink < 2)
		st.st_nlink = 2;
	ex->c->files++;
	return tw_add(ex->w, path, ex->links.index_fd, l->key, &st, data_fd,
		      ex->err, ex->errlen);
}

static int add_marker(struct exp *ex, const char *dirpath, const char *name,
		      const struct stat *st)
{
	char *p = join(dirpath, name);
	if (!p)
		return -ENOMEM;
	int r = tw_add_marker(ex->w, p, st, ex->err, ex->errlen);
	free(p);
	return r;
}

static void walk_failed(struct tree_walk *w, int r)
{
	struct exp *ex = tree_walk_ctx(w);
	tree_walk_failure(w, r, ex->err, ex->errlen);
}

/* A lower name dirfd/name of an index entry, at PATH. */
static int lower_indexed(struct exp *ex, const char *path,
			 const struct index_link *l, int dirfd,
			 const char *name)
{
	int data = -1;
	if (l->metacopy) {
		data = openat(dirfd, name,
			      O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (data < 0) {
			int e = errno;
			snprintf(ex->err, ex->errlen,
				 "cannot open the lower data of '/%s': %s",
				 path, strerror(e));
			return -e;
		}
		data = lower_data_checked(ex, data, path, path);
		if (data < 0)
			return data;
	}
	int r = add_indexed(ex, path, l, data);
	if (data >= 0)
		close(data);
	return r;
}

/*
 * A renamed directory's whole merged content, below an opaque marker: a
 * level is a merged directory (its chain: set 0), whose second path is
 * its lower path.  The top level is the renamed directory itself.
 */
struct content_level {
	struct ulisting l;
	size_t next;
};

static int content_enter(struct tree_walk *w, void *data)
{
	struct content_level *c = data;
	struct exp *ex = tree_walk_ctx(w);
	const struct walk_dirs *chain = tree_walk_dirs(w, 0);
	const char *path = tree_walk_path(w);
	int r = 0;
	if (tree_walk_depth(w) == 0) {
		struct stat st;
		if (fstat(chain->v[0].fd, &st) < 0)
			return -errno;
		r = add_marker(ex, path, WH_OPAQUE_NAME, &st);
		if (r < 0)
			return r;
		ex->c->opaque++;
	}
	r = union_list(chain, &c->l);
	if (r < 0)
		snprintf(ex->err, ex->errlen, "cannot list '/%s': %s", path,
			 strerror(-r));
	return r;
}

/* R of opening the directory at PATH to go into it: a failure names it
 * (the walk's own message would name only the top of the export). */
static int entered(struct exp *ex, const char *path, int r)
{
	return tree_walk_unreadable(ex->err, ex->errlen, path, r);
}

/* The directory E of the merged directory the walk is at (at PATH): its
 * entries in the upper layer may be redirected anew, the rest follow
 * the chain. */
static int content_child(struct tree_walk *w, const struct uentry *e,
			 const char *path)
{
	struct exp *ex = tree_walk_ctx(w);
	const struct walk_dir *dir = &tree_walk_dirs(w, 0)->v[e->link];
	int r = tw_add(ex->w, path, dir->fd, e->name, &e->st, -1, ex->err,
		       ex->errlen);
	if (r < 0)
		return r;
	ex->c->dirs++;
	char *mark = NULL;
	struct walk_dirs sub = { 0 };
	int kind = dir->tree == 0 ? read_mark(dir->fd, e->name,
					      xattr_redirect_names, &mark)
				  : -1;
	if (kind >= 0) {
		char *target = xattr_redirect_target(mark, kind == 0,
						     tree_walk_lpath(w));
		free(mark);
		if (!target) {
			snprintf(ex->err, ex->errlen,
				 "'/%s' has a malformed redirect mark", path);
			return -EINVAL;
		}
		r = walk_dirs_open(&sub, dir, e->name);
		if (r == 0)
			r = union_redirect_chain(&ex->stack, &sub, target);
		if (r == 0)
			r = tree_walk_down(w, e->name, &sub, target, NULL);
		free(target);
		return entered(ex, path, r);
	}
	r = union_child_chain(tree_walk_dirs(w, 0), e->name, &sub);
	return entered(ex, path,
		       r < 0 ? r : tree_walk_down(w, e->name, &sub, NULL, NULL));
}

static int content_step(struct tree_walk *w, void *data)
{
	struct content_level *c = data;
	struct exp *ex = tree_walk_ctx(w);
	if (c->next == c->l.n)
		return 0;
	const struct uentry *e = &c->l.v[c->next++];
	const struct walk_dir *dir = &tree_walk_dirs(w, 0)->v[e->link];
	const struct index_link *idx;
	char *cpath = join(tree_walk_path(w), e->name);
	int r;
	if (!cpath)
		r = -ENOMEM;
	else if (S_ISDIR(e->st.st_mode))
		r = content_child(w, e, cpath);
	else if (dir->tree > 0 && (idx = index_links_find(&ex->links, dir->fd,
							  e->name, &e->st)))
		r = lower_indexed(ex, cpath, idx, dir->fd, e->name);
	else if (S_ISREG(e->st.st_mode))
		r = add_regular(ex, dir->fd, e->name, &e->st, cpath,
				tree_walk_lpath(w), dir->tree == 0);
	else
		r = tw_add(ex->w, cpath, dir->fd, e->name, &e->st, -1, ex->err,
			   ex->errlen);
	free(cpath);
	return r < 0 ? r : 1;
}

static void content_drop(void *data)
{
	struct content_level *c = data;
	ulisting_free(&c->l);
}

static const struct tree_walk_ops content_ops = {
	.groups = 1,
	.level_size = sizeof(struct content_level),
	.enter = content_enter,
	.step = content_step,
	.drop = content_drop,
	.failed = walk_failed,
};

/* The renamed directory NAME of DIR, at PATH: its whole merged content,
 * that of the directory TARGET its redirect names in the lower layers
 * under it. */
static int materialise(struct exp *ex, const struct walk_dir *dir,
		       const char *name, const char *path, const char *target)
{
	struct walk_dirs chain = { 0 };
	int r = walk_dirs_open(&chain, dir, name);
	if (r == 0)
		r = union_redirect_chain(&ex->stack, &chain, target);
	if (r < 0)
		return r;
	ex->c->materialised++;
	return tree_walk_run(&content_ops, ex, &chain, path, target);
}

struct wh_rec {
	const char *target;
	struct stat st;
};

static int cmp_wh(const void *a, const void *b)
{
	return strcmp(((const struct wh_rec *)a)->target,
		      ((const struct wh_rec *)b)->target);
}

/*
 * Opaque marker and whiteouts of one upper directory, in order.  below
 * says whether the lower layers may show names at PATH (no opaque
 * directory above it); *merged whether they still do below it.  Where
 * they cannot, a whiteout hides nothing and is left out.
 */
static int upper_markers(struct exp *ex, int dfd, const char *path,
			 const struct name_list *names, bool below,
			 bool *merged)
{
	struct stat dst;
	if (fstat(dfd, &dst) < 0)
		return -errno;
	/* The xattr on the layer's root hides nothing (README, "The layer
	 * model"), as for kernel overlayfs: written as the root's
	 * `.wh..wh..opq`, it would hide every lower layer in the image. */
	bool opaque = path[0] && wh_fd_has_opaque_xattr(dfd) > 0;
	struct stat mst = dst;
	if (fstatat(dfd, WH_OPAQUE_NAME, &mst, AT_SYMLINK_NOFOLLOW) == 0)
		opaque = true;
	int r = 0;
	if (opaque) {
		r = add_marker(ex, path, WH_OPAQUE_NAME, &mst);
		ex->c->opaque++;
	}
	*merged = below && !opaque;
	if (!*merged)
		return r;
	struct wh_rec *whs = calloc(names->n ? names->n : 1, sizeof(*whs));
	if (!whs)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < names->n && r == 0; i++) {
		const char *name = names->names[i], *target;
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		enum wh_kind k = wh_classify_name(name, &target);
		if (k == WH_WHITEOUT)
			whs[n++] = (struct wh_rec){ target, st };
		else if (k == WH_NONE && wh_is_overlay_whiteout(&st))
			whs[n++] = (struct wh_rec){ name, st };
	}
	if (n > 1)
		qsort(whs, n, sizeof(*whs), cmp_wh);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (i > 0 && !strcmp(whs[i].target, whs[i - 1].target))
			continue;
		char wh[NAME_MAX + 1];
		r = wh_dotwh_name(wh, sizeof(wh), whs[i].target);
		if (r < 0) {
			/* A 0/0 device can white out a name of up to 255
			 * bytes; ".wh." and more than 251 fit in no name. */
			char shown[160];
			ep_shorten(whs[i].target, shown, sizeof(shown));
			snprintf(ex->err, ex->errlen,
				 "'/%s%s%s' is whited out, but a .wh. entry "
				 "for a name of %zu bytes would be too long "
				 "(at most %d)",
				 path, path[0] ? "/" : "", shown,
				 strlen(whs[i].target), NAME_MAX - WH_PREFIX_LEN);
		}
		if (r == 0)
			r = add_marker(ex, path, wh, &whs[i].st);
		ex->c->whiteouts++;
	}
	free(whs);
	return r;
}

/*
 * The upper layer: a level is a directory of it (set 0: the upper
 * directory, none when only the lower layers hold it, on the way to
 * lower names of copied-up hard links), its entries merged in name
 * order with the names that lead to such lower names.
 */
struct upper_level {
	/* An opaque directory above: the lower layers show nothing here
	 * (see upper_markers). */
	bool cut;
	bool merged; /* the lower layers still show names below */
	struct name_list names;
	char **lower;
	size_t nlower;
	size_t i, k; /* the next of names and of lower */
};

static int upper_enter(struct tree_walk *w, void *data)
{
	struct upper_level *u = data;
	struct exp *ex = tree_walk_ctx(w);
	const struct walk_dirs *dirs = tree_walk_dirs(w, 0);
	const char *path = tree_walk_path(w);
	int dfd = dirs->n ? dirs->v[0].fd : -1;
	int r = dfd >= 0 ? fs_list_dir(dfd, &u->names) : 0;
	if (r < 0) {
		snprintf(ex->err, ex->errlen, "cannot list '/%s': %s", path,
			 strerror(-r));
		return r;
	}
	u->merged = !u->cut;
	if (dfd >= 0)
		r = upper_markers(ex, dfd, path, &u->names, !u->cut,
				  &u->merged);
	if (r == 0)
		r = index_links_children(&ex->links, path, &u->lower,
					 &u->nlower);
	return r;
}

/* NAME of the upper directory the walk is at, at cpath. */
static int upper_entry(struct tree_walk *w, const struct upper_level *u,
		       const char *name, const char *cpath)
{
	struct exp *ex = tree_walk_ctx(w);
	const struct walk_dir *dir = &tree_walk_dirs(w, 0)->v[0];
	const char *lpath = tree_walk_lpath(w);
	struct stat st;
	if (fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (wh_is_overlay_whiteout(&st))
		return 0;
	if (S_ISREG(st.st_mode))
		return add_regular(ex, dir->fd, name, &st, cpath, lpath, true);
	if (!S_ISDIR(st.st_mode))
		return tw_add(ex->w, cpath, dir->fd, name, &st, -1, ex->err,
			      ex->errlen);
	int r = tw_add(ex->w, cpath, dir->fd, name, &st, -1, ex->err,
		       ex->errlen);
	ex->c->dirs++;
	char *mark = NULL;
	int kind = r < 0 ? -1
			 : read_mark(dir->fd, name, xattr_redirect_names, &mark);
	if (kind < 0) {
		struct walk_dirs sub = { 0 };
		void *child = NULL;
		if (r == 0)
			r = entered(ex, cpath, walk_dirs_open(&sub, dir, name));
		if (r == 0)
			r = tree_walk_down(w, name, &sub, NULL, &child);
		if (r == 0)
			((struct upper_level *)child)->cut = !u->merged;
		return r;
	}
	char *target = xattr_redirect_target(mark, kind == 0, lpath);
	free(mark);
	if (!ex->have_lower) {
		r = need_lower(ex, cpath, "a renamed directory");
	} else if (!target) {
		snprintf(ex->err, ex->errlen,
			 "'/%s' has a malformed redirect mark", cpath);
		r = -EINVAL;
	} else {
		r = materialise(ex, dir, name, cpath, target);
	}
	free(target);
	return r;
}

/* The directory PATH of lower layer LAYER, open. */
static int open_lower_dir(struct exp *ex, size_t layer, const char *path)
{
	int fd = sp_open_beneath(ex->stack.fds[layer], path[0] ? path : ".",
				 O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		snprintf(ex->err, ex->errlen, "cannot open the lower "
			 "directory '/%s': %s", path, strerror(-fd));
	return fd;
}

/*
 * NAME of the directory the walk is at, absent from the upper layer,
 * that leads to lower names of copied-up hard links: such a name itself,
 * or a directory of the lower layers on the way to one, written with
 * the lower layer's attributes (the merge below it goes on).
 */
static int lower_entry(struct tree_walk *w, const char *name,
		       const char *cpath)
{
	struct exp *ex = tree_walk_ctx(w);
	const struct index_name *in = index_links_name(&ex->links, cpath);
	size_t layer = in ? in->layer : 0;
	struct stat st;
	int r = in ? 0 : union_lookup(&ex->stack, 1, cpath, &layer, &st);
	if (r == 0 && !in && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	if (r < 0) {
		snprintf(ex->err, ex->errlen, "'/%s' changed in the lower "
			 "layers during the export: %s", cpath, strerror(-r));
		return r;
	}
	int pfd = open_lower_dir(ex, layer, tree_walk_path(w));
	if (pfd < 0)
		return pfd;
	if (in && in->entry == INDEX_NAME_SHARED) {
		/* The lower file, unchanged: a link of its copy written
		 * with a renamed directory (IL_SHARED). */
		r = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno
			: tw_add(ex->w, cpath, pfd, name, &st, -1, ex->err,
				 ex->errlen);
		ex->c->files++;
	} else if (in) {
		r = lower_indexed(ex, cpath, &ex->links.v[in->entry], pfd,
				  name);
	} else {
		r = tw_add(ex->w, cpath, pfd, name, &st, -1, ex->err,
			   ex->errlen);
		ex->c->dirs++;
		/* No upper directory there: the level holds none. */
		struct walk_dirs none = { 0 };
		if (r == 0)
			r = tree_walk_down(w, name, &none, NULL, NULL);
	}
	close(pfd);
	return r;
}

static int upper_step(struct tree_walk *w, void *data)
{
	struct upper_level *u = data;
	while (u->i < u->names.n || u->k < u->nlower) {
		int c = u->i == u->names.n   ? 1
			: u->k == u->nlower ? -1
					    : strcmp(u->names.names[u->i],
						     u->lower[u->k]);
		const char *name = c <= 0 ? u->names.names[u->i]
					  : u->lower[u->k];
		/* The same name in both: an upper directory, below which the
		 * lower names are met again. */
		if (c <= 0)
			u->i++;
		if (c >= 0)
			u->k++;
		if (c <= 0 && wh_is_reserved(name))
			continue;
		char *cpath = join(tree_walk_path(w), name);
		int r = !cpath ? -ENOMEM
			: c <= 0 ? upper_entry(w, u, name, cpath)
				 : lower_entry(w, name, cpath);
		free(cpath);
		return r < 0 ? r : 1;
	}
	return 0;
}

static void upper_drop(void *data)
{
	struct upper_level *u = data;
	for (size_t n = 0; n < u->nlower; n++)
		free(u->lower[n]);
	free(u->lower);
	name_list_free(&u->names);
}

static const struct tree_walk_ops upper_ops = {
	.groups = 1,
	.level_size = sizeof(struct upper_level),
	.enter = upper_enter,
	.step = upper_step,
	.drop = upper_drop,
	.failed = walk_failed,
};

int export_upper(int upper_fd, const struct ustack *lower, int work_fd,
		 struct tar_writer *w, struct export_counts *counts,
		 char *err, size_t errlen)
{
	struct exp ex = {
		.w = w,
		.have_lower = lower != NULL,
		.links = { .index_fd = -1 },
		.have_work = work_fd >= 0,
		.c = counts,
		.err = err,
		.errlen = errlen,
	};
	size_t nl = lower ? lower->n : 0;
	ex.stack.fds = calloc(nl + 1, sizeof(int));
	if (!ex.stack.fds)
		return -ENOMEM;
	ex.stack.fds[0] = upper_fd;
	for (size_t i = 0; i < nl; i++)
		ex.stack.fds[i + 1] = lower->fds[i];
	ex.stack.n = nl + 1;
	err[0] = 0;
	int r = index_links_load(work_fd, &ex.stack, IL_INDEX | IL_SHARED,
				 &ex.links, err, errlen);
	if (r == 0 && ex.links.n && !ex.have_lower) {
		snprintf(err, errlen,
			 "the work directory's index holds hard links with "
			 "names in the lower layers only: export needs "
			 "--lower");
		r = -EINVAL;
	}
	struct walk_dirs root = { 0 };
	if (r == 0)
		r = walk_dirs_open_root(&root, upper_fd, 0);
	if (r == 0)
		r = tree_walk_run(&upper_ops, &ex, &root, "", NULL);
	index_links_free(&ex.links);
	free(ex.stack.fds);
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}
