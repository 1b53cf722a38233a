#include "workdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The record is a few lines: anything longer is no record of ours. */
#define LAYERS_FILE_MAX (4u << 20)

int workdir_layers_format(const struct workdir_layer *v, size_t n,
			  char **out, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%c %llx %llx %s", v[i].kind, v[i].dev, v[i].ino,
			v[i].path);
		fputc(0, f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = size;
	return 0;
}

void workdir_layers_free(struct workdir_layer *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

/* One record, "K DEV INO PATH", NUL-ended in the buffer. */
static int parse_one(const char *rec, struct workdir_layer *l)
{
	char kind;
	unsigned long long dev, ino;
	int off = 0;
	if (sscanf(rec, "%c %llx %llx %n", &kind, &dev, &ino, &off) != 3 ||
	    !off || !strchr("uil", kind) || rec[off] != '/')
		return -EINVAL;
	*l = (struct workdir_layer){ kind, dev, ino, strdup(rec + off) };
	return l->path ? 0 : -ENOMEM;
}

int workdir_layers_read(int dirfd, struct workdir_layer **v, size_t *n)
{
	*v = NULL;
	*n = 0;
	int fd = openat(dirfd, WORKDIR_LAYERS,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > LAYERS_FILE_MAX) {
		close(fd);
		return -EINVAL;
	}
	size_t want = (size_t)st.st_size, len = 0;
	char *buf = malloc(want);
	ssize_t got = 1;
	while (buf && len < want && (got = read(fd, buf + len, want - len)) > 0)
		len += (size_t)got;
	int e = errno;
	close(fd);
	if (!buf)
		return -ENOMEM;
	int r = got < 0 ? -e : 0;
	/* (Shorter than its size: changed while read; no record then.) */
	if (r == 0 && (len != want || buf[len - 1]))
		r = -EINVAL;
	size_t cap = 0;
	for (size_t at = 0; r == 0 && at < len; at += strlen(buf + at) + 1) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct workdir_layer *nv = realloc(*v, nc * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			*v = nv;
			cap = nc;
		}
		r = parse_one(buf + at, &(*v)[*n]);
		if (r == 0)
			(*n)++;
	}
	/* The upper layer, maybe the init layer, then lower layers. */
	for (size_t i = 0; r == 0 && i < *n; i++) {
		char k = (*v)[i].kind;
		if (i == 0 ? k != 'u' : k == 'u' || (k == 'i' && i != 1))
			r = -EINVAL;
	}
	if (r == 0 && *n < 2)
		r = -EINVAL;
	free(buf);
	if (r < 0) {
		workdir_layers_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	return r;
}

bool workdir_layer_is(const struct workdir_layer *rec, int fd,
		      const char *path)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && (unsigned long long)st.st_dev == rec->dev &&
	    (unsigned long long)st.st_ino == rec->ino)
		return true;
	char *real = realpath(path, NULL);
	bool same = real && !strcmp(real, rec->path);
	free(real);
	return same;
}

bool workdir_mark_there(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool workdir_mark_make(int dirfd, const char *name)
{
	int fd = openat(dirfd, name,
			O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}
