#include "redirect.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerfs.h"
#include "node.h"
#include "whiteout.h"

/* True when the open directory fd is opaque in either format. */
static bool dir_is_opaque(int fd)
{
	if (faccessat(fd, WH_OPAQUE_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
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

int redirect_lower_chain(struct lfs *fs, const char *path, int from,
			 uint16_t *out, uint16_t max, uint16_t *n)
{
	*n = 0;
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	/* Split into components. */
	size_t depth = 0;
	char *comps[PATH_MAX / 2];
	for (char *tok = strtok(copy, "/"); tok; tok = strtok(NULL, "/")) {
		if (!strcmp(tok, ".") || !strcmp(tok, "..") ||
		    depth == sizeof(comps) / sizeof(comps[0])) {
			free(copy);
			return -EINVAL;
		}
		comps[depth++] = tok;
	}
	if (depth == 0) {
		free(copy);
		return -EINVAL;
	}
	/* closed[k]: the prefix of k components is hidden in the layers
	 * below the one that closed it. */
	bool *closed = calloc(depth + 1, sizeof(bool));
	if (!closed) {
		free(copy);
		return -ENOMEM;
	}
	int r = 0;
	for (int l = from; l < fs->nlayers && *n < max; l++) {
		bool stop = false;
		for (size_t k = 0; k <= depth; k++)
			if (closed[k])
				stop = true;
		if (stop)
			break;
		bool now_closed[PATH_MAX / 2 + 1] = { false };
		int fd = openat(fs->layers[l].fd, ".",
				O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		if (dir_is_opaque(fd))
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
			int nfd = openat(fd, c,
					 O_PATH | O_DIRECTORY | O_NOFOLLOW |
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
		for (size_t k = 0; k <= depth; k++)
			if (now_closed[k])
				closed[k] = true;
	}
	free(closed);
	free(copy);
	return r;
}

int redirect_lower_chain_in(struct lfs *fs, struct node *parent,
			    const char *name, const uint16_t *layers,
			    uint16_t nlayers, uint16_t *out, uint16_t *n)
{
	*n = 0;
	for (uint16_t i = 0; i < nlayers; i++) {
		int pfd = node_open(fs, parent, layers[i], O_PATH | O_DIRECTORY);
		if (pfd == -ENOENT || pfd == -ENOTDIR)
			continue; /* the parent has nothing here */
		if (pfd < 0)
			return pfd;
		struct stat st;
		bool found = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		bool hidden = has_whiteout(pfd, name, found ? &st : NULL);
		bool stop = hidden || (found && !S_ISDIR(st.st_mode));
		if (found && S_ISDIR(st.st_mode)) {
			out[(*n)++] = layers[i];
			int dfd = openat(pfd, name,
					 O_PATH | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);
			if (dfd >= 0) {
				stop = stop || dir_is_opaque(dfd);
				close(dfd);
			}
		}
		close(pfd);
		if (stop)
			break;
	}
	return 0;
}

static bool dot_or_dotdot(const char *c, size_t len)
{
	return (len == 1 && c[0] == '.') ||
	       (len == 2 && c[0] == '.' && c[1] == '.');
}

bool redirect_kernel_value_ok(const char *v)
{
	if (v[0] != '/')
		return v[0] && !strchr(v, '/') && !dot_or_dotdot(v, strlen(v)) &&
		       strlen(v) <= NAME_MAX;
	bool any = false;
	for (const char *c = v; *c;) {
		while (*c == '/')
			c++;
		size_t len = strcspn(c, "/");
		if (*c && dot_or_dotdot(c, len))
			return false;
		any = any || len > 0;
		c += len;
	}
	return any;
}
