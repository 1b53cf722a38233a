#include "archive_stage.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decompress.h"
#include "entry_path.h"
#include "layer_stream.h"
#include "lf_common.h"
#include "safe_path.h"
#include "signals.h"
#include "strset.h"

/* An image archive open for reading: its decoded bytes (decompress.h)
 * fed to libarchive's tar reader. */
struct tar_in {
	struct archive *a;
	struct decompress *dc;
	char buf[65536];
};

static la_ssize_t read_decoded(struct archive *a, void *cd, const void **buf)
{
	struct tar_in *in = cd;
	*buf = in->buf;
	return decompress_archive_answer(
		a, in->dc, decompress_read(in->dc, in->buf, sizeof(in->buf)));
}

static void close_archive(struct tar_in *in)
{
	if (!in)
		return;
	if (in->a)
		archive_read_free(in->a);
	decompress_free(in->dc);
	free(in);
}

static int open_archive(int fd, struct tar_in **out, char *err,
			size_t errlen)
{
	if (lseek(fd, 0, SEEK_SET) < 0) {
		snprintf(err, errlen, "cannot rewind: %s", strerror(errno));
		return -errno;
	}
	struct tar_in *in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	int r = decompress_open(fd, NULL, NULL, &in->dc, err, errlen);
	if (r == -ENODATA) {
		snprintf(err, errlen, "not a tar archive: the file is empty");
		r = -EINVAL;
	}
	if (r == 0) {
		in->a = archive_read_new();
		if (!in->a)
			r = -ENOMEM;
	}
	if (r == 0) {
		archive_read_support_format_tar(in->a);
		if (archive_read_open(in->a, in, NULL, read_decoded, NULL) !=
		    ARCHIVE_OK)
			r = decompress_tar_failed(in->dc, in->a,
						  "not a tar archive", err,
						  errlen);
	}
	if (r < 0) {
		close_archive(in);
		return r == -ENOMEM || r == -EINTR || r == -EIO ? r : -EINVAL;
	}
	*out = in;
	return 0;
}

int archive_scan(int fd, struct archive_kind *kind, char *err, size_t errlen)
{
	kind->oci_layout = kind->docker = false;
	struct tar_in *in;
	int r = open_archive(fd, &in, err, errlen);
	if (r < 0)
		return r;
	struct archive *a = in->a;
	struct archive_entry *e;
	bool any = false;
	for (;;) {
		int hr = archive_read_next_header(a, &e);
		if (hr == ARCHIVE_EOF)
			break;
		if (!layer_header_usable(hr)) {
			r = decompress_tar_failed(
				in->dc, a,
				any ? "corrupt or truncated archive"
				    : "not a tar archive",
				err, errlen);
			break;
		}
		any = true;
		char path[PATH_MAX];
		if (ep_normalise(archive_entry_pathname(e), path,
				 sizeof(path)) == EP_OK &&
		    archive_entry_filetype(e) == AE_IFREG) {
			if (!strcmp(path, "oci-layout") ||
			    !strcmp(path, "index.json"))
				kind->oci_layout = true;
			if (!strcmp(path, "manifest.json"))
				kind->docker = true;
		}
		/* The layout marker settles it; skipping the rest of a big
		 * archive would only cost time. */
		if (kind->oci_layout)
			break;
	}
	close_archive(in);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	return r;
}

/* Creates the directories of PATH below dirfd (never through a symlink)
 * and returns an O_PATH fd of the last one. */
static int mkdirs(int dirfd, const char *path)
{
	int cur = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -errno;
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *c = strtok_r(buf, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
			int e = -errno;
			close(cur);
			return e;
		}
		int next = openat(cur, c,
				  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(cur);
		if (next < 0)
			return e == ELOOP ? -ENOTDIR : -e;
		cur = next;
	}
	return cur;
}

static int parent_of(int dirfd, const char *path, const char **last)
{
	const char *slash = strrchr(path, '/');
	*last = slash ? slash + 1 : path;
	if (!slash)
		return mkdirs(dirfd, "");
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	return mkdirs(dirfd, dir);
}

static int write_member(struct tar_in *in, int dirfd, const char *path,
			char *err, size_t errlen)
{
	struct archive *a = in->a;
	const char *last;
	int pfd = parent_of(dirfd, path, &last);
	if (pfd < 0) {
		snprintf(err, errlen, "entry '%s': %s", path, strerror(-pfd));
		return pfd;
	}
	unlinkat(pfd, last, 0);
	int fd = openat(pfd, last,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0644);
	close(pfd);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "entry '%s': %s", path, strerror(e));
		return -e;
	}
	char buf[65536];
	int r = 0;
	for (;;) {
		if (signals_interrupted()) {
			snprintf(err, errlen, "interrupted");
			r = -EINTR;
			break;
		}
		la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			r = decompress_tar_failed(
				in->dc, in->a, "corrupt or truncated archive",
				err, errlen);
			break;
		}
		r = lf_write_all(fd, buf, (size_t)n);
		if (r < 0) {
			snprintf(err, errlen, "entry '%s': %s", path,
				 strerror(-r));
			break;
		}
	}
	close(fd);
	return r;
}

/* A hard link or symlink member, made once the files are there. */
struct link_rec {
	char *path, *target;
	size_t order; /* in the archive: a later member of a name wins */
	enum {
		LINK_TODO,
		LINK_BUSY,
		LINK_DONE,
		LINK_FAILED,
		LINK_REPLACED, /* by a later member of its name */
	} state;
	unsigned hops; /* once done: links from here to the file */
};

/* As SYMLOOP_MAX: a longer chain of links to links is refused. */
#define MAX_LINK_CHAIN 40

static int link_to(int dirfd, const char *path, const char *target)
{
	const char *tlast, *last;
	int tp = sp_open_parent(dirfd, target, &tlast);
	if (tp < 0)
		return tp;
	struct stat st;
	int r = 0;
	if (fstatat(tp, tlast, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -ENOENT;
	int pfd = r == 0 ? parent_of(dirfd, path, &last) : -1;
	if (r == 0 && pfd < 0)
		r = pfd;
	if (r == 0) {
		unlinkat(pfd, last, 0);
		if (linkat(tp, tlast, pfd, last, 0) < 0)
			r = -errno;
	}
	if (pfd >= 0)
		close(pfd);
	close(tp);
	return r;
}

static int by_path_then_order(const void *a, const void *b)
{
	const struct link_rec *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The last link member named PATH in links (sorted), or NULL. */
static struct link_rec *find_link(struct link_rec *links, size_t n,
				  const char *path)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* the first record after every PATH */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(links[mid].path, path) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && !strcmp(links[lo - 1].path, path) ? &links[lo - 1]
							   : NULL;
}

/* Makes l, after the link its target names if that is one, and gives
 * the number of links from l to the file (0: it leads to none, or
 * through more than MAX_LINK_CHAIN).  Each link is made once, so a
 * chain of n costs n links, not n rounds over all of them (a hostile
 * chain of 40k took minutes that way). */
static unsigned resolve_one(int dirfd, struct link_rec *links, size_t n,
			    struct link_rec *l, unsigned depth)
{
	if (l->state == LINK_DONE)
		return l->hops;
	if (l->state != LINK_TODO || depth >= MAX_LINK_CHAIN)
		return 0; /* a cycle, or too long from where it started */
	l->state = LINK_BUSY;
	struct link_rec *t = find_link(links, n, l->target);
	if (t && t->state == LINK_REPLACED)
		t = NULL; /* a file member came after it: that is the target */
	unsigned below = t ? resolve_one(dirfd, links, n, t, depth + 1) : 0;
	bool ok = (!t || below) && below < MAX_LINK_CHAIN &&
		  link_to(dirfd, l->path, l->target) == 0;
	l->hops = below + 1;
	l->state = ok ? LINK_DONE : LINK_FAILED;
	return ok ? l->hops : 0;
}

/* Links last, when their targets exist.  FILES maps each regular
 * member's path to its place in the archive. */
static int resolve_links(int dirfd, struct link_rec *links, size_t n,
			 const struct strset *files, char *err, size_t errlen)
{
	if (n > 1) /* links is NULL when there are none */
		qsort(links, n, sizeof(*links), by_path_then_order);
	/* Of several members of one name, the last is the one kept: a link
	 * is made after every file, so a file that came after it wins. */
	for (size_t i = 0; i < n; i++) {
		const char *f = strset_value(files, links[i].path);
		if ((i + 1 < n && !strcmp(links[i].path, links[i + 1].path)) ||
		    (f && strtoull(f, NULL, 10) > links[i].order))
			links[i].state = LINK_REPLACED;
	}
	for (size_t i = 0; i < n; i++)
		if (links[i].state != LINK_REPLACED &&
		    !resolve_one(dirfd, links, n, &links[i], 0)) {
			snprintf(err, errlen,
				 "link '%s' does not lead to a file of the "
				 "archive in %d links or fewer",
				 links[i].path, MAX_LINK_CHAIN);
			return -EINVAL;
		}
	return 0;
}

int archive_stage(int fd, int dirfd, char *err, size_t errlen)
{
	struct tar_in *in;
	int r = open_archive(fd, &in, err, errlen);
	if (r < 0)
		return r;
	struct archive *a = in->a;
	struct link_rec *links = NULL;
	size_t nlinks = 0, cap = 0, member = 0;
	struct strset files; /* regular members: path -> member */
	strset_init(&files);
	struct archive_entry *e;
	for (;;) {
		int hr = archive_read_next_header(a, &e);
		if (hr == ARCHIVE_EOF)
			break;
		if (!layer_header_usable(hr)) {
			r = decompress_tar_failed(
				in->dc, a, "corrupt or truncated archive", err,
				errlen);
			break;
		}
		const char *raw = archive_entry_pathname(e);
		char path[PATH_MAX];
		enum ep_verdict v = ep_normalise(raw, path, sizeof(path));
		if (v != EP_OK) {
			char shown[160];
			ep_shorten(raw ? raw : "", shown, sizeof(shown));
			snprintf(err, errlen, "entry '%s' %s", shown,
				 ep_reason(v));
			r = -EINVAL;
			break;
		}
		if (!path[0])
			continue;
		const char *hl = archive_entry_hardlink(e);
		mode_t type = archive_entry_filetype(e);
		const char *sl = archive_entry_symlink(e);
		if (!hl && type == AE_IFLNK && (!sl || !*sl)) {
			/* A corrupt or hostile archive (found by fuzz_import);
			 * unpacking says the same. */
			snprintf(err, errlen, "symlink '%s' has no target",
				 path);
			r = -EINVAL;
			break;
		}
		if (hl || type == AE_IFLNK) {
			char target[PATH_MAX];
			v = hl ? ep_normalise(hl, target, sizeof(target))
			       : ep_resolve_link(path, sl, target,
						 sizeof(target));
			if (v != EP_OK) {
				snprintf(err, errlen,
					 "link '%s' points outside the "
					 "archive",
					 path);
				r = -EINVAL;
				break;
			}
			if (nlinks == cap) {
				cap = cap ? cap * 2 : 16;
				struct link_rec *nl =
					realloc(links, cap * sizeof(*nl));
				if (!nl) {
					r = -ENOMEM;
					break;
				}
				links = nl;
			}
			char *lp = strdup(path), *lt = strdup(target);
			if (!lp || !lt) {
				free(lp);
				free(lt);
				r = -ENOMEM;
				break;
			}
			links[nlinks] = (struct link_rec){
				.path = lp, .target = lt, .order = member
			};
			nlinks++;
		} else if (type == AE_IFDIR) {
			int d = mkdirs(dirfd, path);
			if (d < 0) {
				snprintf(err, errlen, "entry '%s': %s", path,
					 strerror(-d));
				r = d;
				break;
			}
			close(d);
		} else if (type == AE_IFREG &&
			   archive_entry_sparse_count(e) > 0) {
			/* Its holes would be written out as zeros here, before
			 * any digest is checked: a few KB of archive could fill
			 * the disk.  No image tool writes blobs as sparse
			 * members. */
			snprintf(err, errlen,
				 "entry '%s' is a sparse file, which no blob of "
				 "an image archive is",
				 path);
			r = -EINVAL;
			break;
		} else if (type == AE_IFREG) {
			r = write_member(in, dirfd, path, err, errlen);
			char at[24];
			snprintf(at, sizeof(at), "%zu", member);
			if (r == 0 && strset_put(&files, path, at) < 0) {
				snprintf(err, errlen, "out of memory");
				r = -ENOMEM;
			}
			if (r < 0)
				break;
		}
		member++;
	}
	/* The compressed stream goes on past the end-of-archive blocks
	 * (the record padding, gzip's CRC and length): read to its end, to
	 * know it whole. */
	while (r == 0) {
		ssize_t n = decompress_read(in->dc, in->buf, sizeof(in->buf));
		if (n == 0)
			break;
		if (n < 0)
			r = decompress_failed(in->dc, n, err, errlen);
	}
	close_archive(in);
	if (r == 0)
		r = resolve_links(dirfd, links, nlinks, &files, err, errlen);
	for (size_t i = 0; i < nlinks; i++) {
		free(links[i].path);
		free(links[i].target);
	}
	free(links);
	strset_free(&files);
	return r;
}
