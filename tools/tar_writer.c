#include "tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "lf_common.h"
#include "signals.h"
#include "xattr_policy.h"

/* First archive path of each inode with several links. */
struct link_slot {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct tar_writer {
	struct archive *tar;  /* pax, unfiltered: its bytes are the diff ID */
	struct archive *comp; /* raw format + compression filter, or NULL */
	int fd;
	struct digest_ctx diff, blob;
	struct tw_opts o;
	struct link_slot *links;
	size_t lcap, ln;
	uint64_t entries;
	bool warned_socket;
	char buf[128 * 1024];
};

static la_ssize_t out_fd(struct archive *a, void *cd, const void *buf,
			 size_t n)
{
	struct tar_writer *w = cd;
	int r = lf_write_all(w->fd, buf, n);
	if (r < 0) {
		archive_set_error(a, -r, "%s", strerror(-r));
		return -1;
	}
	digest_update(&w->blob, buf, n);
	return (la_ssize_t)n;
}

static la_ssize_t out_tar(struct archive *a, void *cd, const void *buf,
			  size_t n)
{
	struct tar_writer *w = cd;
	digest_update(&w->diff, buf, n);
	if (!w->comp)
		return out_fd(a, cd, buf, n);
	la_ssize_t r = archive_write_data(w->comp, buf, n);
	if (r < 0 || (size_t)r != n) {
		archive_set_error(a, archive_errno(w->comp), "%s",
				  archive_error_string(w->comp));
		return -1;
	}
	return r;
}

static int open_compressor(struct tar_writer *w, char *err, size_t errlen)
{
	w->comp = archive_write_new();
	if (!w->comp)
		return -ENOMEM;
	archive_write_set_format_raw(w->comp);
	int r = w->o.compress == TW_GZIP ? archive_write_add_filter_gzip(w->comp)
					 : archive_write_add_filter_zstd(w->comp);
	if (r != ARCHIVE_OK) {
		snprintf(err, errlen, "compression unavailable: %s",
			 archive_error_string(w->comp));
		return -ENOTSUP;
	}
	if (w->o.compress == TW_GZIP)
		/* No timestamp in the gzip header: the same tar must give
		 * the same blob.  Older libarchives lack the option. */
		archive_write_set_filter_option(w->comp, "gzip", "timestamp",
						NULL);
	archive_write_set_bytes_per_block(w->comp, 0);
	if (archive_write_open2(w->comp, w, NULL, out_fd, NULL, NULL) !=
	    ARCHIVE_OK) {
		snprintf(err, errlen, "%s", archive_error_string(w->comp));
		return -EIO;
	}
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "layer.tar");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	r = archive_write_header(w->comp, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK) {
		snprintf(err, errlen, "%s", archive_error_string(w->comp));
		return -EIO;
	}
	return 0;
}

int tw_open(int fd, const struct tw_opts *o, struct tar_writer **out,
	    char *err, size_t errlen)
{
	struct tar_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->o = *o;
	digest_init(&w->diff, DIGEST_SHA256);
	digest_init(&w->blob, DIGEST_SHA256);
	int r = 0;
	if (o->compress != TW_NONE)
		r = open_compressor(w, err, errlen);
	if (r == 0) {
		w->tar = archive_write_new();
		if (!w->tar)
			r = -ENOMEM;
	}
	if (r == 0) {
		/* pax (interchange): a plain ustar header unless an entry
		 * needs a record (long or non-ASCII names, big ids, xattrs,
		 * an mtime with nanoseconds or outside ustar's range).  Not
		 * pax_restricted: that writes a sub-second mtime only when
		 * some other record already needs an extended header, so a
		 * plain file or directory lost its nanoseconds and a file
		 * with an xattr kept them. */
		archive_write_set_format_pax(w->tar);
		/* xattrs as SCHILY.xattr records only, which GNU tar, Go's
		 * archive/tar and the container tools read; libarchive would
		 * add LIBARCHIVE.xattr copies that GNU tar warns about. */
		archive_write_set_format_option(w->tar, "pax", "xattrheader",
						"SCHILY");
		if (archive_write_open2(w->tar, w, NULL, out_tar, NULL, NULL) !=
		    ARCHIVE_OK) {
			snprintf(err, errlen, "%s",
				 archive_error_string(w->tar));
			r = -EIO;
		}
	}
	if (r < 0) {
		tw_abort(w);
		return r;
	}
	*out = w;
	return 0;
}

static size_t slot_of(const struct tar_writer *w, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ (uint64_t)ino;
	h *= 0xff51afd7ed558ccdull;
	size_t i = (size_t)(h >> 17) & (w->lcap - 1);
	while (w->links[i].path &&
	       !(w->links[i].dev == dev && w->links[i].ino == ino))
		i = (i + 1) & (w->lcap - 1);
	return i;
}

static const char *link_find(const struct tar_writer *w, dev_t dev, ino_t ino)
{
	if (!w->lcap)
		return NULL;
	return w->links[slot_of(w, dev, ino)].path;
}

static int link_add(struct tar_writer *w, dev_t dev, ino_t ino,
		    const char *path)
{
	if ((w->ln + 1) * 2 > w->lcap) {
		size_t nc = w->lcap ? w->lcap * 2 : 64;
		struct link_slot *old = w->links;
		size_t oc = w->lcap;
		w->links = calloc(nc, sizeof(*w->links));
		if (!w->links) {
			w->links = old;
			return -ENOMEM;
		}
		w->lcap = nc;
		for (size_t i = 0; i < oc; i++)
			if (old[i].path)
				w->links[slot_of(w, old[i].dev, old[i].ino)] =
					old[i];
		free(old);
	}
	size_t i = slot_of(w, dev, ino);
	w->links[i] = (struct link_slot){ dev, ino, strdup(path) };
	if (!w->links[i].path)
		return -ENOMEM;
	w->ln++;
	return 0;
}

static void set_time(struct tar_writer *w, struct archive_entry *e,
		     const struct stat *st)
{
	int64_t sec = st->st_mtim.tv_sec;
	long nsec = st->st_mtim.tv_nsec;
	if (w->o.reproducible && sec >= w->o.clamp) {
		sec = w->o.clamp;
		nsec = 0;
	}
	archive_entry_set_mtime(e, (time_t)sec, nsec);
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* xattrs into the entry; an override_stat record into its owner, mode
 * and maybe type, as containers/storage means it. */
static int take_xattrs(struct archive_entry *e, int dirfd, const char *name,
		       struct override_stat *ovr, bool *has_ovr)
{
	struct name_list names;
	int r = fs_xattr_names_at(dirfd, name, &names);
	if (r < 0)
		return r;
	*has_ovr = false;
	for (size_t k = 0; k < 3 && !*has_ovr; k++)
		for (size_t i = 0; i < names.n; i++)
			if (!strcmp(names.names[i], xattr_override_names[k]) &&
			    ovr_load_at(dirfd, name, ovr) == 0) {
				*has_ovr = true;
				break;
			}
	for (size_t i = 0; i < names.n && r == 0; i++) {
		const char *n = names.names[i];
		/* Of system.*, only POSIX ACLs mean the same on every
		 * filesystem; they travel as their binary xattr value. */
		if (xattr_is_private(n) ||
		    (has_prefix(n, "system.") && !xattr_is_posix_acl(n)))
			continue;
		if (!strcmp(n, xattr_override_names[1]) ||
		    !strcmp(n, xattr_override_names[2]))
			continue;
		char *v;
		size_t len;
		r = fs_xattr_get_at(dirfd, name, n, &v, &len);
		if (r == -ENODATA) {
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		archive_entry_xattr_add_entry(e, n, v, len);
		free(v);
	}
	name_list_free(&names);
	return r;
}

static int write_data(struct tar_writer *w, int fd, int64_t size,
		      const char *path, char *err, size_t errlen)
{
	int64_t done = 0;
	while (done < size) {
		if (signals_interrupted()) {
			snprintf(err, errlen, "interrupted");
			return -EINTR;
		}
		size_t want = sizeof(w->buf);
		if ((int64_t)want > size - done)
			want = (size_t)(size - done);
		ssize_t n = read(fd, w->buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			snprintf(err, errlen, "cannot read '%s': %s", path,
				 strerror(e));
			return -e;
		}
		if (n == 0)
			break;
		if (archive_write_data(w->tar, w->buf, (size_t)n) != n) {
			snprintf(err, errlen, "cannot write: %s",
				 archive_error_string(w->tar));
			return -EIO;
		}
		done += n;
	}
	if (done != size) {
		snprintf(err, errlen, "'%s' changed size while being exported",
			 path);
		return -EAGAIN;
	}
	return 0;
}

/* A run of data in a file with holes. */
struct extent {
	int64_t off, len;
};

/*
 * The data of the file open as fd, SIZE bytes long, as the filesystem
 * reports it (SEEK_DATA, SEEK_HOLE).  0 with *n 0 when the file has no
 * hole, or the filesystem cannot tell: it is written whole then.
 */
static int data_extents(int fd, int64_t size, struct extent **out,
			size_t *n)
{
	*out = NULL;
	*n = 0;
	off_t hole = lseek(fd, 0, SEEK_HOLE);
	if (hole < 0 || hole >= size) /* no hole, or no SEEK_HOLE here */
		return lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
	struct extent *x = NULL;
	size_t cap = 0;
	for (off_t pos = 0; pos < size;) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* a hole to the end */
		if (data < 0 || (hole = lseek(fd, data, SEEK_HOLE)) < 0) {
			int e = -errno;
			free(x);
			return e;
		}
		if (data >= size)
			break;
		if (hole > size)
			hole = size;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			struct extent *nx = realloc(x, cap * sizeof(*nx));
			if (!nx) {
				free(x);
				return -ENOMEM;
			}
			x = nx;
		}
		x[(*n)++] = (struct extent){ data, hole - data };
		pos = hole;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		int e = -errno;
		free(x);
		return e;
	}
	*out = x;
	/* A file that is all hole still needs a map: one empty extent at
	 * its end, as GNU tar writes it. */
	if (*n == 0) {
		*out = malloc(sizeof(**out));
		if (!*out)
			return -ENOMEM;
		(*out)[0] = (struct extent){ size, 0 };
		*n = 1;
	}
	return 0;
}

/* Gives libarchive LEN bytes of a hole: the pax writer counts them off
 * its sparse map and writes nothing. */
static int skip_hole(struct tar_writer *w, int64_t len, char *err,
		     size_t errlen)
{
	static const char zeros[64 * 1024];
	while (len > 0) {
		size_t n = len < (int64_t)sizeof(zeros) ? (size_t)len
							: sizeof(zeros);
		if (archive_write_data(w->tar, zeros, n) != (la_ssize_t)n) {
			snprintf(err, errlen, "cannot write: %s",
				 archive_error_string(w->tar));
			return -EIO;
		}
		len -= (int64_t)n;
	}
	return 0;
}

/*
 * The data of a file with holes: each extent read where it is, the
 * holes before it counted off.  A hole at the end needs nothing: the
 * entry's size says where the file ends.
 */
static int write_sparse(struct tar_writer *w, int fd, const struct extent *x,
			size_t n, const char *path, char *err, size_t errlen)
{
	int64_t at = 0;
	for (size_t i = 0; i < n; i++) {
		int r = skip_hole(w, x[i].off - at, err, errlen);
		if (r == 0 && lseek(fd, x[i].off, SEEK_SET) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot read '%s': %s", path,
				 strerror(errno));
		}
		if (r == 0)
			r = write_data(w, fd, x[i].len, path, err, errlen);
		if (r < 0)
			return r;
		at = x[i].off + x[i].len;
	}
	return 0;
}

static int header(struct tar_writer *w, struct archive_entry *e,
		  char *err, size_t errlen)
{
	int r = archive_write_header(w->tar, e);
	if (r < ARCHIVE_WARN) {
		int en = archive_errno(w->tar);
		snprintf(err, errlen, "cannot write entry '%s': %s",
			 archive_entry_pathname(e),
			 archive_error_string(w->tar));
		return en > 0 ? -en : -EIO;
	}
	w->entries++;
	return 0;
}

int tw_add(struct tar_writer *w, const char *path, int dirfd,
	   const char *name, const struct stat *st, int data_fd, char *err,
	   size_t errlen)
{
	/* Looked at per entry too, not only while file data is copied: a
	 * tree of small files or none ended its export as if no signal had
	 * come, with status 0 and the archive published. */
	if (signals_interrupted()) {
		snprintf(err, errlen, "interrupted");
		return -EINTR;
	}
	mode_t type = st->st_mode & S_IFMT;
	if (S_ISSOCK(st->st_mode)) {
		if (!w->warned_socket)
			lf_warn("'%s' is a socket, which a layer cannot "
				"carry: left out",
				path);
		w->warned_socket = true;
		return 0;
	}
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, path);
	uid_t uid = st->st_uid;
	gid_t gid = st->st_gid;
	mode_t perm = st->st_mode & 07777;
	dev_t rdev = st->st_rdev;
	struct override_stat ovr;
	bool has_ovr = false;
	int r = take_xattrs(e, dirfd, name, &ovr, &has_ovr);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the attributes of '%s': %s",
			 path, strerror(-r));
		archive_entry_free(e);
		return r;
	}
	bool no_data = false;
	if (has_ovr) {
		uid = ovr.uid;
		gid = ovr.gid;
		perm = ovr.mode & 07777;
		mode_t otype = ovr.mode & S_IFMT;
		/* A stand-in regular file for a node rootless storage
		 * could not create. */
		if (ovr.has_type && S_ISREG(type) &&
		    (S_ISCHR(otype) || S_ISBLK(otype) || S_ISFIFO(otype))) {
			type = otype;
			rdev = ovr.rdev;
			no_data = true;
		}
	}
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	/* No atime: in the pax format it would give every entry an
	 * extended header, for a time that only says when export (or
	 * something else) last read the file; container tools leave it
	 * out of layers too. */
	set_time(w, e, st);
	const char *first = NULL;
	/* Names sharing an inode share it in the layer too, metadata-only
	 * copies included (layerfs links them through its index). */
	if (!S_ISDIR(type) && st->st_nlink > 1 && !no_data) {
		first = link_find(w, st->st_dev, st->st_ino);
		if (!first)
			r = link_add(w, st->st_dev, st->st_ino, path);
	}
	int fd = -1;
	int64_t size = 0;
	struct extent *extents = NULL;
	size_t nextents = 0;
	if (r == 0 && first) {
		archive_entry_set_hardlink(e, first);
		archive_entry_set_size(e, 0);
	} else if (r == 0 && S_ISREG(type)) {
		/* O_NONBLOCK: a fifo put there since the walk looked
		 * would block the open; whatever is there must still be
		 * the file the walk saw. */
		fd = data_fd >= 0 ? dup(data_fd)
				  : openat(dirfd, name,
					   O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
						   O_CLOEXEC);
		struct stat dst;
		if (fd < 0 || fstat(fd, &dst) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot read '%s': %s", path,
				 strerror(errno));
		} else if (data_fd < 0 &&
			   (!S_ISREG(dst.st_mode) || dst.st_dev != st->st_dev ||
			    dst.st_ino != st->st_ino)) {
			r = -EAGAIN;
			snprintf(err, errlen,
				 "'%s' was replaced while being exported",
				 path);
		} else {
			size = dst.st_size;
			archive_entry_set_size(e, size);
			/* Holes stay holes: a sparse entry (GNU.sparse pax
			 * records) carries only the data. */
			r = data_extents(fd, size, &extents, &nextents);
			if (r < 0)
				snprintf(err, errlen, "cannot read '%s': %s",
					 path, strerror(-r));
			for (size_t i = 0; i < nextents; i++)
				archive_entry_sparse_add_entry(
					e, extents[i].off, extents[i].len);
		}
	} else if (r == 0 && S_ISLNK(type)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot read link '%s': %s", path,
				 strerror(errno));
		} else {
			target[n] = 0;
			archive_entry_set_symlink(e, target);
		}
	} else if (r == 0 && (S_ISCHR(type) || S_ISBLK(type))) {
		archive_entry_set_rdev(e, rdev);
	}
	if (r == 0)
		r = header(w, e, err, errlen);
	if (r == 0 && fd >= 0)
		r = nextents ? write_sparse(w, fd, extents, nextents, path, err,
					    errlen)
			     : write_data(w, fd, size, path, err, errlen);
	if (fd >= 0)
		close(fd);
	free(extents);
	archive_entry_free(e);
	return r;
}

int tw_add_marker(struct tar_writer *w, const char *path,
		  const struct stat *st, char *err, size_t errlen)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_size(e, 0);
	set_time(w, e, st);
	int r = header(w, e, err, errlen);
	archive_entry_free(e);
	return r;
}

static void free_writer(struct tar_writer *w)
{
	for (size_t i = 0; i < w->lcap; i++)
		free(w->links[i].path);
	free(w->links);
	free(w);
}

int tw_close(struct tar_writer *w, struct tw_result *res, char *err,
	     size_t errlen)
{
	int r = 0;
	if (archive_write_close(w->tar) != ARCHIVE_OK) {
		snprintf(err, errlen, "cannot finish the archive: %s",
			 archive_error_string(w->tar));
		r = -EIO;
	}
	if (r == 0 && w->comp && archive_write_close(w->comp) != ARCHIVE_OK) {
		snprintf(err, errlen, "cannot finish the compression: %s",
			 archive_error_string(w->comp));
		r = -EIO;
	}
	archive_write_free(w->tar);
	if (w->comp)
		archive_write_free(w->comp);
	if (r == 0) {
		res->tar_size = w->diff.bytes;
		res->size = w->blob.bytes;
		res->entries = w->entries;
		digest_final(&w->diff, res->diff_id);
		digest_final(&w->blob, res->digest);
	}
	free_writer(w);
	return r;
}

void tw_abort(struct tar_writer *w)
{
	if (!w)
		return;
	if (w->tar)
		archive_write_free(w->tar);
	if (w->comp)
		archive_write_free(w->comp);
	free_writer(w);
}
