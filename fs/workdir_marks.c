#include "workdir_marks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_common.h"
#include "workdir.h"

/*
 * The marks of workdir.h.  A mount removes an index entry on its count
 * (index_release_unused) only where index-checked says the counts are
 * not low: a crash between a link or unlink and its count leaves one
 * too low, and the entry's removal would take the copy from a lower
 * name that still shows it.  Without the mark, an index with entries
 * is reported at each mount until layertool fsck checks it.
 */
static bool index_has_entries(struct lfs *fs)
{
	int fd = openat(fs->index_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	struct dirent *e;
	bool any = false;
	while (!any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return any;
}

static void mark_mounted(struct lfs *fs, const char *path)
{
	bool checked = false, udba = fs->opt->udba_reval;
	int wfd = fs->workdir_fd;
	if (fs->index_fd >= 0) {
		checked = workdir_mark_there(wfd, WORKDIR_CHECKED);
		if (checked &&
		    (udba || workdir_mark_there(wfd, WORKDIR_MOUNTED))) {
			unlinkat(wfd, WORKDIR_CHECKED, 0);
			checked = false;
		}
		/* An empty index has no count to doubt. */
		if (!checked && !udba && !index_has_entries(fs))
			checked = workdir_mark_make(wfd, WORKDIR_CHECKED);
		else if (!checked && !udba)
			lf_warn("the link counts of the hard-link index of "
				"workdir '%s' are unchecked (a mount of it "
				"ended without an unmount or ran with "
				"udba=reval, or an older layerfs made them): "
				"one may be too low, and entries stay until "
				"'layertool fsck --work %s' checks them",
				path, path);
	}
	fs->mounted_mark = workdir_mark_make(wfd, WORKDIR_MOUNTED);
	fs->index_counts_trusted = checked && fs->mounted_mark;
}

/* ---- the layers ---------------------------------------------------- */

/* This mount's stack as the record gives it, the paths read back from
 * the open roots (absolute, as this daemon sees them). */
static int record_of(struct lfs *fs, struct workdir_layer *v)
{
	for (int i = 0; i < fs->nlayers; i++) {
		struct layer *l = &fs->layers[i];
		char proc[64], path[PATH_MAX];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", l->fd);
		ssize_t len = readlink(proc, path, sizeof(path) - 1);
		struct stat st;
		if (len <= 0 || path[0] != '/' || fstat(l->fd, &st) < 0)
			return -1;
		path[len] = 0;
		v[i] = (struct workdir_layer){
			l->kind == LAYER_UPPER  ? 'u'
			: l->kind == LAYER_INIT ? 'i'
						: 'l',
			(unsigned long long)st.st_dev,
			(unsigned long long)st.st_ino, strdup(path)
		};
		if (!v[i].path)
			return -1;
	}
	return 0;
}

/* workdir/layers, written when it says otherwise (staged in work/, then
 * renamed: never half a record). */
static void record_layers(struct lfs *fs, const char *path)
{
	struct workdir_layer *v = calloc((size_t)fs->nlayers, sizeof(*v));
	char *text = NULL, *old = NULL;
	size_t len = 0;
	if (!v || record_of(fs, v) < 0 ||
	    workdir_layers_format(v, (size_t)fs->nlayers, &text, &len) < 0)
		goto out;
	int fd = openat(fs->workdir_fd, WORKDIR_LAYERS,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		old = malloc(len + 1);
		ssize_t got = old ? read(fd, old, len + 1) : -1;
		close(fd);
		if (got == (ssize_t)len && !memcmp(old, text, len))
			goto out;
	}
	char tmp[64];
	lfs_tmp_name(fs, tmp, sizeof(tmp));
	fd = openat(fs->work_fd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto failed;
	bool written = write(fd, text, len) == (ssize_t)len;
	close(fd);
	if (written &&
	    renameat(fs->work_fd, tmp, fs->workdir_fd, WORKDIR_LAYERS) == 0)
		goto out;
	unlinkat(fs->work_fd, tmp, 0);
failed:
	lf_warn("cannot record the layers in '%s/%s': %s", path,
		WORKDIR_LAYERS, strerror(errno));
out:
	if (v)
		workdir_layers_free(v, (size_t)fs->nlayers);
	free(text);
	free(old);
}

void workdir_marks_open(struct lfs *fs, const char *path)
{
	mark_mounted(fs, path);
	record_layers(fs, path);
}

void workdir_marks_close(struct lfs *fs)
{
	/* An end without this, the next mount takes for a crash. */
	if (fs->mounted_mark)
		unlinkat(fs->workdir_fd, WORKDIR_MOUNTED, 0);
	fs->mounted_mark = false;
}
