#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy_up.h"
#include "creds.h"
#include "exec_prefetch.h"
#include "fileattr.h"
#include "index.h"
#include "inode.h"
#include "metacopy.h"
#include "node_reach.h"
#include "passthrough.h"
#include "privs_keep.h"
#include "shared_fd.h"
#include "uring.h"

static struct lfs_file *fh_of(struct fuse_file_info *fi)
{
	return (struct lfs_file *)(uintptr_t)fi->fh;
}

/* Every open handle, so unmount can close what the kernel never
 * released.  Striped by handle address: opens and releases of different
 * files take different locks. */
#define HANDLE_LISTS 32
static struct {
	pthread_mutex_t lock;
	struct lfs_file *head;
} handle_lists[HANDLE_LISTS] = {
	[0 ... HANDLE_LISTS - 1] = { PTHREAD_MUTEX_INITIALIZER, NULL }
};

static int handle_list_of(const struct lfs_file *h)
{
	return (int)(((uintptr_t)h >> 4) % HANDLE_LISTS);
}

static void handle_list(struct lfs_file *h)
{
	int i = handle_list_of(h);
	pthread_mutex_lock(&handle_lists[i].lock);
	h->prev = NULL;
	h->next = handle_lists[i].head;
	if (h->next)
		h->next->prev = h;
	handle_lists[i].head = h;
	pthread_mutex_unlock(&handle_lists[i].lock);
}

static void handle_unlist(struct lfs_file *h)
{
	int i = handle_list_of(h);
	pthread_mutex_lock(&handle_lists[i].lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		handle_lists[i].head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&handle_lists[i].lock);
}

static int handle_fd(struct lfs_file *h)
{
	return __atomic_load_n(&h->fd, __ATOMIC_ACQUIRE);
}

/* A new descriptor on the file of the first open handle of n that
 * wanted accepts, or -1.  Dup'ed under the list's lock: handle_free
 * unlists a handle before it closes the fd. */
static int dup_handle_fd_if(struct node *n,
			    bool (*wanted)(const struct lfs_file *h, int fd))
{
	int fd = -1;
	for (int i = 0; i < HANDLE_LISTS && fd < 0; i++) {
		pthread_mutex_lock(&handle_lists[i].lock);
		for (struct lfs_file *h = handle_lists[i].head; h && fd < 0;
		     h = h->next) {
			int hfd = h->node == n ? handle_fd(h) : -1;
			if (hfd >= 0 && (!wanted || wanted(h, hfd)))
				fd = fcntl(hfd, F_DUPFD_CLOEXEC, 0);
		}
		pthread_mutex_unlock(&handle_lists[i].lock);
	}
	return fd;
}

int file_dup_handle_fd(struct node *n)
{
	return dup_handle_fd_if(n, NULL);
}

static bool appends(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_APPEND);
}

/* A descriptor that takes writes at their offsets: one open for
 * writing without O_APPEND (a handle opened O_RDONLY|O_TRUNC counts as
 * writable, but its descriptor reads only). */
static bool writes_at_offsets(const struct lfs_file *h, int fd)
{
	if (!h->upper || !h->writable)
		return false;
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY && !(fl & O_APPEND);
}

static void handle_free(struct lfs *fs, struct lfs_file *h)
{
	passthrough_detach(h);
	if (h->fd >= 0)
		close(h->fd);
	if (h->node->ext) {
		bool last = __atomic_sub_fetch(&h->node->ext->open_files, 1,
					       __ATOMIC_RELAXED) == 0;
		if (h->writable)
			__atomic_sub_fetch(&h->node->ext->write_files, 1,
					   __ATOMIC_RELAXED);
		/* The last open of an indexed file whose names all went. */
		if (last && (node_flags(h->node) & (N_HLINK | N_UNHASHED)) ==
				    (N_HLINK | N_UNHASHED))
			index_release_unused(fs, h->node);
	}
	node_unref(fs, h->node);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void file_handles_close_all(struct lfs *fs)
{
	for (int i = 0; i < HANDLE_LISTS; i++) {
		pthread_mutex_lock(&handle_lists[i].lock);
		struct lfs_file *h = handle_lists[i].head;
		handle_lists[i].head = NULL;
		pthread_mutex_unlock(&handle_lists[i].lock);
		while (h) {
			struct lfs_file *next = h->next;
			handle_free(fs, h);
			h = next;
		}
	}
}

int file_handle_new(struct lfs *fs, struct node *n, int fd, bool upper,
		    bool writable, struct fuse_file_info *fi)
{
	struct lfs_file *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->lazy_layer = -1;
	h->node = n;
	h->upper = upper;
	h->writable = writable;
	pthread_mutex_init(&h->lock, NULL);
	node_ref(n);
	struct node_ext *e = node_ext(n);
	if (e) {
		__atomic_add_fetch(&e->open_files, 1, __ATOMIC_RELAXED);
		if (writable)
			__atomic_add_fetch(&e->write_files, 1,
					   __ATOMIC_RELAXED);
	}
	handle_list(h);
	fi->fh = (uintptr_t)h;
	/* Page cache stays valid across opens: lower data never changes and
	 * upper data changes only through this mount.  With udba=reval a
	 * lower file's may: each open reads it again. */
	fi->keep_cache = upper || !fs->opt->udba_reval;
	return 0;
}

int file_upper_flags(struct lfs *fs, int flags)
{
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT);
	if (fs->writeback) {
		/* With the writeback cache the kernel reads pages of files
		 * opened write-only, and handles O_APPEND offsets itself. */
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags | O_NOFOLLOW | O_CLOEXEC;
}

int file_reply_open(struct lfs *fs, fuse_req_t req, struct fuse_file_info *fi,
		    const struct fuse_entry_param *created)
{
	struct lfs_file *h = fh_of(fi);
	enum open_mode mode = fs->passthrough ? passthrough_attach(fs, h)
					      : OPEN_CACHED;
	if (mode == OPEN_PASSTHROUGH) {
		/* The kernel takes only these flags with passthrough.  Not
		 * direct_io for O_DIRECT either: the backing file does direct
		 * I/O itself. */
		fi->direct_io = 0;
		fi->keep_cache = 0;
		fi->cache_readdir = 0;
		fi->nonseekable = 0;
		passthrough_reply_next(h);
	} else if (mode == OPEN_BUSY) {
		handle_unlist(h);
		handle_free(fs, h);
		return fuse_reply_err(req, ETXTBSY);
	}
	h->direct = fi->direct_io;
	/* Through the page cache the kernel places appends itself, and
	 * writes a shared mapping's pages back at their offsets: an
	 * O_APPEND descriptor would put those at the end of the file. */
	if (mode != OPEN_PASSTHROUGH && !h->direct && h->writable &&
	    h->fd >= 0) {
		int fl = fcntl(h->fd, F_GETFL);
		/* An append-only file's stays (EPERM): its pages written
		 * back go through another descriptor (op_write_buf). */
		if (fl >= 0 && (fl & O_APPEND))
			(void)fcntl(h->fd, F_SETFL, fl & ~O_APPEND);
	}
	int r = created ? fuse_reply_create(req, created, fi)
			: fuse_reply_open(req, fi);
	if (r == -ENOENT) {
		/* The open was interrupted: no RELEASE will come. */
		handle_unlist(h);
		handle_free(fs, h);
	}
	return r;
}

void file_reply_created(struct lfs *fs, fuse_req_t req,
			struct fuse_file_info *fi, struct node *n,
			const struct stat *st)
{
	struct fuse_entry_param e;
	inode_entry(fs, n, st, &e);
	node_lookup_inc(n);
	if (file_reply_open(fs, req, fi, &e) == -ENOENT)
		node_forget(fs, n, 1);
	node_unref(fs, n);
}

/*
 * Whether n is append-only where its opens could be passthrough.  Such a
 * file is served through the daemon instead, its writes by direct I/O:
 * the kernel checks a shared mapping of a passthrough file against the
 * flags of the FUSE inode, which carries none, so through one opened for
 * appending the file could be rewritten in place; a direct-I/O open
 * takes no shared mapping (ENODEV, where the kernel says EACCES).
 */
static bool kept_off_passthrough(struct lfs *fs, struct node *n)
{
	unsigned flags;
	return fs->passthrough && fileattr_flags(fs, n, &flags) == 0 &&
	       (flags & FS_APPEND_FL);
}

/* __FMODE_EXEC in an OPEN's flags: the kernel opens a program to run
 * it (execve, or the interpreter of one). */
#define OPEN_FOR_EXEC 0x20

/*
 * Whether a lower file opened for reading may wait for its first data
 * request to be opened for real.  Only for a daemon with every right on
 * the layers (root in the initial namespace, which passthrough needs as
 * well): opening then cannot fail for lack of permission, so open(2)
 * loses nothing it could have reported, and `tar` or `grep -r` over a
 * warm page cache never open the real files.  Not with udba=reval: a
 * lower file replaced behind the mount before the first read would be
 * the new one, where a descriptor holds the file it opened.
 */
static bool open_lazily(struct lfs *fs)
{
	return fs->passthrough && !fs->opt->udba_reval;
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	if (fs->no_open) {
		/* The kernel opens files by itself from now on (shared_fd.h). */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	struct node *n = node_from_ino(fs, ino);
	int acc = fi->flags & O_ACCMODE;
	bool writable = acc != O_RDONLY || (fi->flags & O_TRUNC);
	bool exec = (fi->flags & OPEN_FOR_EXEC) != 0;
	int fd, r = 0, layer = -1;
	bool upper, lazy = false, no_passthrough = false;

	node_ref(n);
	if (writable) {
		if (!lfs_has_upper(fs)) {
			r = -EROFS;
			goto out;
		}
		/* O_TRUNC discards the data: copy only the metadata.  An
		 * append is what an append-only file allows (fileattr.h). */
		bool trunc = (fi->flags & O_TRUNC) != 0;
		bool append = (fi->flags & O_APPEND) && !trunc;
		unsigned allow = append ? FS_APPEND_FL : 0;
		/* Refused for a program's lower data still open, before the
		 * copy-up: a failed open(2) truncates nothing. */
		r = passthrough_lower_drain(fs, n);
		if (r == 0)
			r = copy_up_protected(fs, n, trunc ? CU_TRUNC : CU_DATA,
					      allow);
		if (r < 0)
			goto out;
		/* The upper file refuses what its flags forbid, but not while
		 * they are lifted for a change the kernel makes past them
		 * (fileattr_lifted_change): the node's say first. */
		unsigned prot;
		if (fileattr_flags(fs, n, &prot) == 0 && (prot & ~allow)) {
			r = -EPERM;
			goto out;
		}
		fd = node_open(fs, n, fs->upper, file_upper_flags(fs, fi->flags));
		if (fd == -EPERM && append && fs->writeback) {
			/* An append-only file: the writeback cache would write
			 * its pages back at their offsets, which it refuses.
			 * Direct I/O leaves the appends the caller's own. */
			fd = node_open(fs, n, fs->upper,
				       (fi->flags & ~(O_CREAT | O_EXCL |
						      O_NOCTTY | O_DIRECT)) |
					       O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				fi->direct_io = 1;
		}
		if (fd >= 0 && append && kept_off_passthrough(fs, n)) {
			fi->direct_io = 1;
			no_passthrough = true;
		}
		upper = true;
		/* With atomic O_TRUNC the kernel sends no SETATTR for the
		 * truncation, and with it goes the set-id clearing it asks
		 * of one: a truncation by open(2) is a write. */
		if (fd >= 0 && trunc) {
			r = setattr_clear_setid_for_write(fs, req, ino, fd);
			if (r < 0) {
				close(fd);
				goto out;
			}
			r = 0;
		}
	} else if (node_flags(n) & N_METACOPY) {
		fd = metacopy_open_data(fs, n, O_RDONLY | O_NOATIME);
		upper = false;
	} else {
		layer = node_layer(n);
		upper = lfs_is_upper(fs, layer);
		int flags = fi->flags & ~(O_CREAT | O_EXCL | O_TRUNC |
					  O_DIRECT | O_NOCTTY);
		/* A program about to run is read from the lower file
		 * (passthrough.h): its backing file is registered now. */
		lazy = !upper && open_lazily(fs) && !exec;
		no_passthrough = upper && kept_off_passthrough(fs, n);
		if (lazy)
			fd = -1;
		else
			fd = upper ? node_open(fs, n, layer, flags)
				   : node_open_noatime(fs, n, layer, flags);
	}
	if (fd < 0 && !lazy) {
		r = fd;
		goto out;
	}
	r = file_handle_new(fs, n, fd, upper, writable, fi);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (lazy)
		fh_of(fi)->lazy_layer = layer;
	fh_of(fi)->exec = exec;
	fh_of(fi)->no_passthrough = no_passthrough;
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	/* Nothing to flush on close of a read-only open: no dirty pages, and
	 * POSIX locks are the kernel's (not passed to us).  Saves one round
	 * trip per file read (tar, grep -r). */
	if (!writable)
		fi->noflush = 1;
	if (exec && !upper && fd >= 0 && fi->keep_cache && !fs->passthrough &&
	    fs->opt->exec_prefetch)
		exec_prefetch(fs, ino, n, fd);
out:
	/* A file whose name went through the mount (unlink, rename onto
	 * it) between the kernel's lookup and this open was opened through
	 * the fd dir.c kept of it, as a local filesystem opens the removed
	 * file.  An ENOENT left means it went some other way (behind the
	 * mount, or no fd could be kept): ESTALE makes the kernel walk the
	 * path again (LOOKUP_REVAL), where open(O_CREAT) creates the name
	 * (ENOENT, which no open(O_CREAT) in an existing directory may
	 * answer, broke logging's WatchedFileHandler) and an open without
	 * O_CREAT gets ENOENT.  Not for a metadata-only copy whose data is
	 * missing below: that ENOENT is the answer. */
	if (r == -ENOENT && !(node_flags(n) & N_METACOPY))
		r = -ESTALE;
	node_unref(fs, n);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		file_reply_open(fs, req, fi, NULL);
}

/* A lazy handle's lower file, opened on first use (file.h). */
static int lower_fd(struct lfs *fs, struct lfs_file *h)
{
	int fd = handle_fd(h);
	if (fd >= 0)
		return fd;
	pthread_mutex_lock(&h->lock);
	fd = h->fd;
	if (fd < 0) {
		struct node *n = h->node;
		/* Copied up as metadata only meanwhile: the data stayed in
		 * the lower layer, found by its recorded path. */
		fd = (node_flags(n) & N_METACOPY)
			     ? metacopy_open_data(fs, n, O_RDONLY | O_NOATIME)
			     : node_open_noatime(fs, n, h->lazy_layer, O_RDONLY);
		if (fd >= 0)
			__atomic_store_n(&h->fd, fd, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&h->lock);
	return fd;
}

/*
 * A handle opened for reading before another one copied the file up
 * still reads the lower file; switch it to the upper copy so every reader
 * sees the writes, as on a local filesystem.
 */
static int current_fd(struct lfs *fs, struct lfs_file *h)
{
	if (h->upper || !lfs_has_upper(fs))
		return handle_fd(h);
	struct node *n = h->node;
	if (node_layer(n) != fs->upper || (node_flags(n) & N_METACOPY))
		return lower_fd(fs, h);
	pthread_mutex_lock(&h->lock);
	int err = 0;
	if (!h->upper) {
		int fd = node_open(fs, n, fs->upper, O_RDONLY);
		if (fd < 0) {
			err = fd; /* a lower fd, if any, still reads */
		} else if (h->fd < 0) {
			__atomic_store_n(&h->fd, fd, __ATOMIC_RELEASE);
			h->upper = true;
		} else {
			/* The old fd may be in use by a concurrent read: keep
			 * it open until release, dup2 swaps atomically. */
			if (dup2(fd, h->fd) >= 0)
				h->upper = true;
			close(fd);
		}
	}
	int fd = h->fd >= 0 ? h->fd : err;
	pthread_mutex_unlock(&h->lock);
	return fd;
}

/*
 * The fd a data request works on: its handle's, or with no handle (the
 * kernel opened the file by itself, on a read-only mount) the inode's
 * shared one, which *ref then holds until io_done.  A write needs a
 * handle opened for writing (or the writeback cache of one).
 */
static int io_fd(struct lfs *fs, fuse_ino_t ino, struct fuse_file_info *fi,
		 bool write, struct shared_fd **ref)
{
	*ref = NULL;
	struct lfs_file *h = fi ? fh_of(fi) : NULL;
	if (h) {
		if (write && !h->upper)
			return -EBADF;
		return write ? h->fd : current_fd(fs, h);
	}
	if (write)
		return -EROFS;
	int r = shared_fd_get(fs, node_from_ino(fs, ino), ref);
	return r < 0 ? r : (*ref)->fd;
}

static void io_done(struct shared_fd *ref)
{
	if (ref)
		shared_fd_put(ref);
}

/* pread until size bytes or the end of the file (a short read tells the
 * kernel the file ends there). */
static ssize_t read_fully(int fd, char *buf, size_t size, off_t off)
{
	size_t done = 0;
	while (done < size) {
		ssize_t n = pread(fd, buf + done, size - done,
				  off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return done ? (ssize_t)done : -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	struct shared_fd *ref;
	int fd = io_fd(fs, ino, fi, false, &ref);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	size_t cap;
	char *ring_buf = uring_reply_buffer(&cap);
	if (ring_buf && size <= cap) {
		/* Through io_uring: read into the reply's own buffer (no
		 * splice there, and no bounce buffer). */
		ssize_t r = read_fully(fd, ring_buf, size, off);
		int err = errno;
		io_done(ref);
		if (r < 0)
			fuse_reply_err(req, err);
		else
			fuse_reply_buf(req, ring_buf, (size_t)r);
		return;
	}
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
	io_done(ref);
}

/*
 * Copies in to out whole, or as much as the upper filesystem takes
 * (each copy goes on where the last stopped: fuse_buf_copy advances
 * both).  What stops short answers a write(2) with the count written,
 * as a local filesystem does; but the kernel reads no count in the
 * answer to a page write-back, only an error: there what is not
 * written must fail, else the pages are taken as written and fsync
 * succeeds with data lost (the upper layer full halfway).
 */
static ssize_t write_all(struct fuse_bufvec *out, struct fuse_bufvec *in,
			 bool writepage)
{
	size_t size = fuse_buf_size(in);
	ssize_t done = 0;
	while ((size_t)done < size) {
		ssize_t w = fuse_buf_copy(out, in, 0);
		if (w < 0 && (done == 0 || writepage))
			return w;
		if (w <= 0) /* an error after a part, or no progress */
			return writepage ? -EIO : done;
		done += w;
	}
	return done;
}

/* write_all, as fileattr_lifted_fd's change. */
struct pages_write {
	struct fuse_bufvec *out, *in;
	ssize_t written;
};

static int write_pages(int fd, void *arg)
{
	struct pages_write *w = arg;
	w->out->buf[0].fd = fd;
	w->written = write_all(w->out, w->in, true);
	return w->written < 0 ? (int)w->written : 0;
}

/*
 * Pages the kernel writes back to a file that became immutable after
 * they were written: with the writeback cache, write(2) returned once
 * they were in the kernel's cache, so the application was told they are
 * the file's, as a local filesystem would have them.  The upper
 * filesystem refuses them now (EPERM), and the kernel would report EIO
 * at the next close of any descriptor of the file and drop them.  They
 * are written past the flags, as the kernel's other changes past them
 * are (fileattr.h).  (A write through such an older descriptor made
 * after the flag, which a local filesystem refuses, is written too: the
 * FUSE client acknowledged it alike; README, limits.)
 */
static ssize_t write_pages_past_flags(struct lfs *fs, struct node *n,
				      struct fuse_bufvec *out,
				      struct fuse_bufvec *in, int fd)
{
	if (in->count != 1 || in->idx != 0 || in->off != 0)
		return -EPERM; /* not read again from where it began */
	struct pages_write w = { out, in, -EPERM };
	int r = fileattr_lifted_fd(fs, n, fd, write_pages, &w);
	return r < 0 ? r : w.written;
}

void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
		  off_t off, struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	struct shared_fd *ref;
	int fd = io_fd(fs, ino, fi, true, &ref);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	struct lfs_file *h = fi ? fh_of(fi) : NULL;
	struct node *n = node_from_ino(fs, ino);
	/* The kernel writes dirty pages back through the writable handle
	 * of the file opened last, which may be one whose descriptor
	 * appends: one answered with direct I/O (an append-only file
	 * opened to append, op_open), or a page-cache one of such a file,
	 * whose O_APPEND the kernel would not let go (file_reply_open).
	 * There the pages would land at the end of the file, not at their
	 * offsets.  They go through a descriptor of another handle: the
	 * one whose writes dirtied them is still open, as FUSE writes a
	 * file's pages back when it is closed.  With none, the
	 * append-only file refuses them as it would any write that does
	 * not append. */
	int page_fd = -1;
	if (fi && fi->writepage && h && appends(fd)) {
		page_fd = dup_handle_fd_if(n, writes_at_offsets);
		if (page_fd < 0) {
			io_done(ref);
			fuse_reply_err(req, EPERM);
			return;
		}
		fd = page_fd;
	}
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	/* A direct-I/O write never passed through the kernel's set-id
	 * clearing (file_remove_privs), which it leaves to us: the flag it
	 * sends for it (FUSE_WRITE_KILL_SUIDGID) is one libfuse 3.14 drops.
	 * Before the data, as the kernel does it: new content must never
	 * be runnable with the old bits.  Pages written back are not such
	 * a write, whichever handle they come through. */
	bool direct = h && h->direct && !fi->writepage;
	ssize_t r = 0;
	if (direct && fuse_buf_size(in) > 0)
		r = setattr_clear_setid_for_write(fs, req, ino, fd);
	/* The kernel writes back the times it gave the file for these
	 * pages later (setattr.c, times_written_back). */
	if (!direct && fs->writeback &&
	    !(node_flags(n) & N_TIMES_PENDING))
		node_set_flag(n, N_TIMES_PENDING);
	if (r >= 0) {
		/* Pages from the kernel's cache had their privileges
		 * cleared there, or never should (a mapping's): the
		 * upper filesystem must not clear the file's
		 * capabilities or set-id bits on our write
		 * (privs_keep.h). */
		struct privs_keep keep;
		privs_keep_begin(n, fd, !direct, &keep);
		struct fuse_bufvec start = *in;
		r = write_all(&out, in, fi && fi->writepage);
		if (r == -EPERM && fi && fi->writepage) {
			*in = start;
			out.idx = 0;
			out.off = 0;
			r = write_pages_past_flags(fs, n, &out, in, fd);
		}
		privs_keep_end(fs, fd, &keep);
	}
	if (page_fd >= 0)
		close(page_fd);
	io_done(ref);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	/* With nothing to report, ENOSYS tells the kernel never to send
	 * FLUSH again: one round trip less on every close().  Locks are the
	 * kernel's, and dirty pages reach us as WRITEs before FLUSH. */
	if (!lfs_has_upper(fs) || !fs->close_reports_errors) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* close() of a duplicate reports delayed write errors (NFS-style
	 * upper filesystems) the way the application's close would. */
	struct shared_fd *ref;
	int fd = io_fd(fs, ino, fi, false, &ref);
	int r = fd < 0 ? -fd : 0;
	if (fd >= 0) {
		int dfd = dup(fd);
		if (dfd < 0 || close(dfd) < 0)
			r = errno;
	}
	io_done(ref);
	fuse_reply_err(req, r);
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct lfs *fs = lfs_from_req(req);
	struct lfs_file *h = fh_of(fi);
	if (h) {
		handle_unlist(h);
		handle_free(fs, h);
	}
	fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	/* Lower files never change; volatile mounts skip syncs. */
	if (!fs->opt->fsync || !lfs_has_upper(fs) ||
	    node_layer(n) != fs->upper) {
		fuse_reply_err(req, 0);
		return;
	}
	struct shared_fd *ref;
	int fd = io_fd(fs, ino, fi, false, &ref);
	int r = fd < 0 ? -fd
		       : (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0;
	io_done(ref);
	fuse_reply_err(req, r);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	/* The kernel's FUSE client updated the file's times before asking,
	 * refused or not: their write-back must not fail (setattr.c). */
	if (fs->writeback)
		node_set_flag(node_from_ino(fs, ino), N_TIMES_PENDING);
	struct shared_fd *ref;
	int fd = io_fd(fs, ino, fi, true, &ref);
	int r = fd < 0 ? -fd
		       : fallocate(fd, mode, offset, length) < 0 ? errno : 0;
	io_done(ref);
	fuse_reply_err(req, r);
}

void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			off_t off_out, struct fuse_file_info *fi_out,
			size_t len, int flags)
{
	struct lfs *fs = lfs_from_req(req);
	struct shared_fd *ref_out, *ref_in = NULL;
	int out = io_fd(fs, ino_out, fi_out, true, &ref_out);
	int in = out < 0 ? out : io_fd(fs, ino_in, fi_in, false, &ref_in);
	ssize_t r;
	if (in < 0) {
		r = in;
	} else {
		loff_t in_off = off_in, out_off = off_out;
		r = copy_file_range(in, &in_off, out, &out_off, len,
				    (unsigned)flags);
		if (r < 0)
			r = -errno;
	}
	io_done(ref_in);
	io_done(ref_out);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

/*
 * Whether the kernel may hold data of the file that the daemon has not
 * seen: with the writeback cache, written pages stay dirty in the
 * kernel until it writes them back, and the kernel does not write them
 * back before it asks for SEEK_DATA or SEEK_HOLE (it does before a
 * copy_file_range).  The upper file would then show holes where the
 * file has data, and a sparse-aware copy (cp, tar --sparse) would lose
 * it.  Pages are dirtied only through a handle opened for writing (a
 * write, or a shared writable mapping, which keeps its handle), and
 * the kernel writes them all back before it releases the last one.
 */
static bool may_hold_unwritten_data(struct lfs *fs, fuse_ino_t ino)
{
	if (!fs->writeback)
		return false;
	struct node *n = node_from_ino(fs, ino);
	return n->ext &&
	       __atomic_load_n(&n->ext->write_files, __ATOMIC_RELAXED) > 0;
}

void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi)
{
	struct lfs *fs = lfs_from_req(req);
	if ((whence == SEEK_DATA || whence == SEEK_HOLE) &&
	    may_hold_unwritten_data(fs, ino)) {
		/* No answer from the upper file can be right, and the
		 * daemon cannot make the kernel write its pages back here
		 * (an invalidation would, but it waits on WRITE requests
		 * that may need the very worker answering this one).
		 * ENOSYS makes the kernel answer this and every later
		 * SEEK_DATA/SEEK_HOLE of the mount itself, from its own
		 * size: no holes reported, and never a wrong one. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	struct shared_fd *ref;
	int fd = io_fd(fs, ino, fi, false, &ref);
	off_t r = fd < 0 ? (errno = -fd, -1) : lseek(fd, off, whence);
	int e = errno;
	io_done(ref);
	if (r < 0)
		fuse_reply_err(req, e);
	else
		fuse_reply_lseek(req, r);
}
