#include "name_list.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int name_list_push(struct name_list *l, const char *s)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		char **nn = realloc(l->names, nc * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		l->names = nn;
		l->cap = nc;
	}
	l->names[l->n] = strdup(s);
	if (!l->names[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

void name_list_sort(struct name_list *l)
{
	if (l->n > 1)
		qsort(l->names, l->n, sizeof(char *), cmp_names);
}

void name_list_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	l->n = l->cap = 0;
}

int fs_list_dir(int dirfd, struct name_list *out)
{
	*out = (struct name_list){ 0 };
	/* fdopendir needs a readable fd of its own. */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	int r = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (r = name_list_push(out, de->d_name)) < 0)
			break;
		errno = 0;
	}
	if (r == 0 && errno)
		r = -errno;
	closedir(d);
	if (r < 0) {
		name_list_free(out);
		return r;
	}
	name_list_sort(out);
	return 0;
}
