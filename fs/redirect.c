#include "redirect.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layerfs.h"
#include "xattr_private.h"
#include "whiteout.h"

/* True when the open directory fd holds a dotwh opaque marker. */
static bool dir_has_opaque_file(int fd)
{
	return faccessat(fd, WH_OPAQUE_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* True when the open directory fd is opaque in either format. */
static bool dir_is_opaque(int fd)
{
	if (dir_has_opaque_file(fd))
		return true;
	int rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return false;
	bool o = wh_fd_has_opaque_xattr(rfd) > 0;
	close(rfd);
	return o;
}

/* Is NAME whited out inside the directory fd (either format)? */
static bool has_whiteout(int fd, const char *name, const struct stat *st)
{
	if (st && wh_is_overlay_whiteout(st))
		return true;
	char wh[NAME_MAX + 1];
	if (wh_dotwh_name(wh, sizeof(wh), name) < 0)
		return false;
	return faccessat(fd, wh, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The path without its leading slashes. */
static const char *skip_slashes(const char *p)
{
	while (*p == '/')
		p++;
	return p;
}

/* Splits path into at most max components; -EINVAL for "." or "..",
 * too many, or none. */
static int split(char *copy, char **comps, size_t max, size_t *depth)
{
	*depth = 0;
	for (char *tok = strtok(copy, "/"); tok; tok = strtok(NULL, "/")) {
		if (!strcmp(tok, ".") || !strcmp(tok, "..") || *depth == max)
			return -EINVAL;
		comps[(*depth)++] = tok;
	}
	return *depth ? 0 : -EINVAL;
}

/* Layer l's part of a chain: whether the path shows there as a
 * directory (appended to out), and which of its prefixes close there
 * (a whiteout, not a directory, opaque). */
static int chain_step(struct lfs *fs, int l, char **comps, size_t depth,
		      bool *now_closed, uint16_t *out, uint16_t *n)
{
	int fd = openat(fs->layers[l].fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The layer's root: only the dotwh file closes it, as the listing
	 * of the root has it (dirload.c, load_layers). */
	if (dir_has_opaque_file(fd))
		now_closed[0] = true;
	for (size_t k = 1; k <= depth; k++) {
		const char *c = comps[k - 1];
		struct stat st;
		if (fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (has_whiteout(fd, c, NULL))
				now_closed[k] = true;
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			/* A whiteout or a file: the name ends here. */
			now_closed[k] = true;
			break;
		}
		if (has_whiteout(fd, c, NULL))
			now_closed[k] = true;
		int nfd = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
		close(fd);
		fd = nfd;
		if (fd < 0)
			break;
		if (k == depth)
			out[(*n)++] = (uint16_t)l;
		if (dir_is_opaque(fd))
			now_closed[k] = true;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

int redirect_lower_chain(struct lfs *fs, const char *path, int from,
			 uint16_t *out, uint16_t max, uint16_t *n)
{
	*n = 0;
	char *cur = strdup(skip_slashes(path)), *copy = NULL;
	char *comps[PATH_MAX / 2];
	size_t depth = 0;
	/* closed[k]: the prefix of k components is hidden in the layers
	 * below the one that closed it; NULL: cur is to be split. */
	bool *closed = NULL;
	int r = cur ? 0 : -ENOMEM;
	for (int l = from; r == 0 && l < fs->nlayers && *n < max; l++) {
		if (!closed) {
			free(copy);
			copy = strdup(cur);
			r = copy ? split(copy, comps,
					 sizeof(comps) / sizeof(comps[0]), &depth)
				 : -ENOMEM;
			closed = r == 0 ? calloc(depth + 1, sizeof(bool)) : NULL;
			if (r == 0 && !closed)
				r = -ENOMEM;
			if (r < 0)
				break;
		}
		bool stop = false;
		for (size_t k = 0; k <= depth; k++)
			stop = stop || closed[k];
		if (stop)
			break;
		bool now_closed[PATH_MAX / 2 + 1] = { false };
		r = chain_step(fs, l, comps, depth, now_closed, out, n);
		for (size_t k = 0; k <= depth; k++)
			closed[k] = closed[k] || now_closed[k];
		/* Below this layer the path goes where the directories on it
		 * that kernel overlayfs renamed here lead; from there on, what
		 * closed the old path concerns it no more. */
		char *next = r == 0 ? redirect_translate(fs, cur, l, l + 1) : NULL;
		if (r == 0 && !next)
			r = -ENOMEM;
		if (next && strcmp(next, cur) != 0) {
			free(cur);
			cur = next;
			free(closed);
			closed = NULL;
		} else {
			free(next);
		}
	}
	free(closed);
	free(copy);
	free(cur);
	return r;
}

int redirect_kernel_value(struct lfs *fs, const char *path, bool follow,
			  char **value)
{
	/* Only a privileged writer makes trusted.* marks.  With
	 * `userxattr` the kernel follows no redirect (it refuses
	 * redirect_dir=follow then): user.overlay.redirect is never
	 * followed, or a layer's author could show another layer's
	 * directory, or a file's data, under a name of theirs. */
	(void)fs;
	*value = NULL;
	char buf[PATH_MAX];
	ssize_t len = xp_get(path, follow, "trusted.overlay.redirect", buf,
			     sizeof(buf) - 1);
	if (len < 0 && errno == ENODATA)
		return 0;
	if (len <= 0)
		return -EIO; /* empty, longer than a path, unreadable */
	buf[len] = 0;
	*value = strdup(buf);
	return *value ? 1 : -ENOMEM;
}

int redirect_kernel_dir(struct lfs *fs, int fd, char **value)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int r = redirect_kernel_value(fs, proc, true, value);
	if (r > 0 && !redirect_kernel_value_ok(*value)) {
		free(*value);
		*value = NULL;
		r = 0;
	}
	/* One that cannot be read is not followed either. */
	return r == -EIO ? 0 : r;
}

/* Appends a component to out (of len bytes, cap allocated). */
static bool append(char **out, size_t *len, size_t *cap, const char *add)
{
	size_t need = *len + strlen(add) + 2;
	if (need > *cap) {
		char *o = realloc(*out, *cap = need * 2);
		if (!o)
			return false;
		*out = o;
	}
	if (*len)
		(*out)[(*len)++] = '/';
	strcpy(*out + *len, add);
	*len += strlen(add);
	return true;
}

void redirect_note_kernel_layer(struct lfs *fs, int layer)
{
	if (!__atomic_load_n(&fs->layers[layer].kernel_marks, __ATOMIC_RELAXED))
		__atomic_store_n(&fs->layers[layer].kernel_marks, true,
				 __ATOMIC_RELAXED);
}

void redirect_probe_layer(struct lfs *fs, int layer)
{
	char proc[64], list[4096];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fs->layers[layer].fd);
	ssize_t len = listxattr(proc, list, sizeof(list));
	if ((len < 0 && errno == ERANGE) ||
	    (len > 0 && xp_kernel_marked(list, len, fs->opt->userxattr)))
		redirect_note_kernel_layer(fs, layer);
}

/* One layer's step of redirect_translate: where the kernel never wrote,
 * nothing to follow, and no walk. */
static char *translate_one(struct lfs *fs, const char *path, int l)
{
	if (!__atomic_load_n(&fs->layers[l].kernel_marks, __ATOMIC_RELAXED))
		return strdup(path);
	size_t cap = strlen(path) + 2, len = 0;
	char *out = malloc(cap), *copy = strdup(path);
	int fd = openat(fs->layers[l].fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	bool ok = out && copy;
	if (ok)
		out[0] = 0;
	char *save = NULL;
	for (char *c = ok ? strtok_r(copy, "/", &save) : NULL; ok && c;
	     c = strtok_r(NULL, "/", &save)) {
		char *redirect = NULL;
		if (fd >= 0) {
			int nfd = openat(fd, c, O_PATH | O_DIRECTORY |
							O_NOFOLLOW | O_CLOEXEC);
			close(fd);
			fd = nfd;
			if (fd >= 0 && redirect_kernel_dir(fs, fd, &redirect) < 0)
				ok = false;
		}
		/* The component, or where the kernel moved it from: a path
		 * from the root replaces what came before, a name takes its
		 * place in the same parent. */
		if (redirect && redirect[0] == '/')
			len = 0;
		ok = ok && append(&out, &len, &cap,
				  redirect ? skip_slashes(redirect) : c);
		free(redirect);
	}
	if (fd >= 0)
		close(fd);
	free(copy);
	if (!ok) {
		free(out);
		return NULL;
	}
	return out;
}

char *redirect_translate(struct lfs *fs, const char *path, int from, int to)
{
	char *cur = strdup(skip_slashes(path));
	for (int l = from; cur && l < to; l++) {
		char *next = translate_one(fs, cur, l);
		free(cur);
		cur = next;
	}
	return cur;
}
