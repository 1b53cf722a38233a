#include "union.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "safe_path.h"
#include "strset.h"
#include "whiteout.h"

bool union_dir_is_opaque(int fd)
{
	return union_root_is_opaque(fd) || wh_fd_has_opaque_xattr(fd) > 0;
}

bool union_root_is_opaque(int fd)
{
	return faccessat(fd, WH_OPAQUE_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The xattr that makes an empty file of chain directory d a whiteout (a
 * kernel xwhiteout), or NULL.  Only a lower layer's directory holds
 * them, as for layerfs and the kernel: the stacks here are [upper,
 * lower...], or lower layers looked at from the second down. */
static const char *xwhiteout_attr(const struct walk_dir *d)
{
	return d->tree > 0 ? wh_fd_xwhiteout_attr(d->fd) : NULL;
}

/* Whether the entry NAME of chain directory d, whose lstat is ST, is a
 * whiteout itself (a 0/0 device, an xwhiteout under XATTR). */
static bool is_whiteout_entry(const struct walk_dir *d, const char *xattr,
			      const char *name, const struct stat *st)
{
	return wh_is_overlay_whiteout(st) ||
	       wh_is_xwhiteout(d->fd, name, st, xattr);
}

/* Whether NAME is whited out in chain directory d, in any format. */
static bool has_whiteout(const struct walk_dir *d, const char *xattr,
			 const char *name)
{
	struct stat st;
	if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    is_whiteout_entry(d, xattr, name, &st))
		return true;
	char wh[NAME_MAX + 1];
	if (wh_dotwh_name(wh, sizeof(wh), name) < 0)
		return false;
	return faccessat(d->fd, wh, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int union_child_chain(const struct walk_dirs *c, const char *name,
		      struct walk_dirs *out)
{
	*out = (struct walk_dirs){ 0 };
	for (size_t i = 0; i < c->n; i++) {
		int pfd = c->v[i].fd;
		const char *xattr = xwhiteout_attr(&c->v[i]);
		struct stat st;
		bool exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (exists && is_whiteout_entry(&c->v[i], xattr, name, &st))
			break;
		if (exists) {
			if (!S_ISDIR(st.st_mode))
				break;
			int r = walk_dirs_open(out, &c->v[i], name);
			if (r < 0) {
				walk_dirs_free(out);
				return r;
			}
			if (union_dir_is_opaque(out->v[out->n - 1].fd))
				break;
		}
		if (has_whiteout(&c->v[i], xattr, name))
			break;
	}
	return 0;
}

int union_dir_chain(const struct ustack *s, size_t from, const char *path,
		    struct walk_dirs *out)
{
	*out = (struct walk_dirs){ 0 };
	struct walk_dirs cur = { 0 };
	for (size_t l = from; l < s->n; l++) {
		int fd = openat(s->fds[l], ".",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int r = fd < 0 ? -errno : walk_dirs_add(&cur, fd, l, NULL);
		if (r < 0) {
			walk_dirs_free(&cur);
			return r;
		}
		if (union_root_is_opaque(cur.v[cur.n - 1].fd))
			break;
	}
	/* Any length: a renamed directory deep down names a deep target. */
	char *buf = strdup(path);
	if (!buf) {
		walk_dirs_free(&cur);
		return -ENOMEM;
	}
	char *save = NULL;
	for (char *comp = strtok_r(buf, "/", &save); comp && cur.n;
	     comp = strtok_r(NULL, "/", &save)) {
		if (!strcmp(comp, ".") || !strcmp(comp, ".."))
			continue;
		struct walk_dirs next;
		int r = union_child_chain(&cur, comp, &next);
		walk_dirs_free(&cur);
		if (r < 0) {
			free(buf);
			return r;
		}
		cur = next;
	}
	free(buf);
	*out = cur;
	return 0;
}

int union_redirect_chain(const struct ustack *s, struct walk_dirs *c,
			 const char *target)
{
	int r = 0;
	if (!union_dir_is_opaque(c->v[0].fd)) {
		struct walk_dirs below;
		r = union_dir_chain(s, 1, target, &below);
		if (r == 0)
			r = walk_dirs_move(c, &below);
	}
	if (r < 0)
		walk_dirs_free(c);
	return r;
}

void ulisting_free(struct ulisting *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int cmp_entries(const void *a, const void *b)
{
	return strcmp(((const struct uentry *)a)->name,
		      ((const struct uentry *)b)->name);
}

static int list_link(const struct walk_dirs *c, size_t i,
		     struct strset *decided, struct ulisting *out, size_t *cap)
{
	struct name_list names;
	int r = fs_list_dir(c->v[i].fd, &names);
	if (r < 0)
		return r;
	struct strset later; /* names this layer decides for those below */
	strset_init(&later);
	const char *xattr = xwhiteout_attr(&c->v[i]);
	for (size_t k = 0; k < names.n && r >= 0; k++) {
		const char *name = names.names[k];
		const char *target;
		enum wh_kind kind = wh_classify_name(name, &target);
		if (kind == WH_WHITEOUT) {
			r = strset_add(&later, target);
			continue;
		}
		if (kind != WH_NONE)
			continue;
		if (strset_has(decided, name))
			continue;
		struct stat st;
		if (fstatat(c->v[i].fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			r = -errno;
			break;
		}
		r = strset_add(&later, name);
		if (r < 0 || is_whiteout_entry(&c->v[i], xattr, name, &st))
			continue;
		if (out->n == *cap) {
			*cap = *cap ? *cap * 2 : 32;
			struct uentry *nv = realloc(out->v, *cap * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			out->v = nv;
		}
		out->v[out->n].name = strdup(name);
		if (!out->v[out->n].name) {
			r = -ENOMEM;
			break;
		}
		out->v[out->n].link = i;
		out->v[out->n].st = st;
		out->n++;
	}
	for (size_t k = 0; k < later.cap && r >= 0; k++)
		if (later.slots[k].key)
			r = strset_add(decided, later.slots[k].key);
	strset_free(&later);
	name_list_free(&names);
	return r < 0 ? r : 0;
}

int union_list(const struct walk_dirs *c, struct ulisting *out)
{
	out->v = NULL;
	out->n = 0;
	struct strset decided;
	strset_init(&decided);
	size_t cap = 0;
	int r = 0;
	for (size_t i = 0; i < c->n && r == 0; i++)
		r = list_link(c, i, &decided, out, &cap);
	strset_free(&decided);
	if (r < 0) {
		ulisting_free(out);
		return r;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_entries);
	return 0;
}

int union_lookup(const struct ustack *s, size_t from, const char *path,
		 size_t *layer, struct stat *st)
{
	/* Any length, as union_dir_chain. */
	char *dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	size_t plen = strlen(dir);
	while (plen > 0 && dir[plen - 1] == '/')
		dir[--plen] = 0;
	if (plen == 0) {
		free(dir);
		if (from >= s->n)
			return -ENOENT;
		*layer = from;
		return fstat(s->fds[from], st) < 0 ? -errno : 0;
	}
	char *slash = strrchr(dir, '/');
	const char *name = slash ? slash + 1 : dir;
	if (slash)
		*slash = 0;
	struct walk_dirs c;
	int r = union_dir_chain(s, from, slash ? dir : "", &c);
	if (r < 0) {
		free(dir);
		return r;
	}
	r = -ENOENT;
	for (size_t i = 0; i < c.n; i++) {
		const char *xattr = xwhiteout_attr(&c.v[i]);
		if (fstatat(c.v[i].fd, name, st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!is_whiteout_entry(&c.v[i], xattr, name, st)) {
				*layer = c.v[i].tree;
				r = 0;
			}
			break;
		}
		if (has_whiteout(&c.v[i], xattr, name))
			break;
	}
	walk_dirs_free(&c);
	free(dir);
	return r;
}
