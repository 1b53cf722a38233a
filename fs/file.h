/*
 * Open files.  A handle holds an fd on the real file: the upper copy when
 * opened for writing (copied up first), otherwise the file in whatever
 * layer holds it (never copied: opening for reading costs nothing; a
 * lower file is opened only when a request first needs its data).
 * Reads and writes splice between that fd and the FUSE channel.
 *
 * Locks (flock and POSIX) are left to the kernel: layerfs does not ask for
 * FUSE_CAP_POSIX_LOCKS/FLOCK_LOCKS, so the kernel applies them to the
 * merged inode itself, which is exact for a filesystem that only this
 * mount changes.
 */
#ifndef LFS_FILE_H
#define LFS_FILE_H

#include "layerfs.h"
#include "node.h"

struct lfs_file {
	int fd;        /* -1 until first use when lazy_layer >= 0 */
	/* A lower file opened for reading by a root daemon: the real file is
	 * opened on the first request that needs it (file.c), which with a
	 * warm page cache is none. */
	int lazy_layer;
	struct node *node;
	bool upper;    /* fd is the upper copy */
	bool writable;
	bool exec;     /* opened by the kernel to run the program */
	/* Answered with FOPEN_DIRECT_IO: the kernel sends this handle's
	 * writes without clearing set-id bits itself (file.c). */
	bool direct;
	/* Never passthrough unless the node already is (passthrough.h):
	 * an append-only file (file.c, kept_off_passthrough). */
	bool no_passthrough;
	bool mode_counted;  /* counted as passthrough or cached */
	int32_t backing_id; /* > 0: opened in passthrough mode */
	pthread_mutex_t lock; /* guards fd when it is switched to upper */
	/* Every open handle is listed: at unmount the kernel may drop the
	 * RELEASE of a file closed just before, and the daemon closes what
	 * is left itself. */
	struct lfs_file *prev, *next;
};

/* Wraps fd in a handle for n (takes a reference on n) and fills fi. */
int file_handle_new(struct lfs *fs, struct node *n, int fd, bool upper,
		    bool writable, struct fuse_file_info *fi);

/* Closes and frees the handles the kernel never released (at exit). */
void file_handles_close_all(struct lfs *fs);

/* A new descriptor on the file an open handle of n reads (the first
 * found), or -1 when none has one. */
int file_dup_handle_fd(struct node *n);

/* Flags for opening the upper copy, adjusted for the writeback cache. */
int file_upper_flags(struct lfs *fs, int flags);

/* Sends the reply to OPEN (CREATED NULL) or CREATE for the handle in fi,
 * choosing its passthrough mode first; frees the handle when the open
 * was interrupted meanwhile. */
int file_reply_open(struct lfs *fs, fuse_req_t req, struct fuse_file_info *fi,
		    const struct fuse_entry_param *created);

/* Answers a CREATE with the new file n (attributes st) and its open
 * handle in fi; takes over the caller's reference on n. */
void file_reply_created(struct lfs *fs, fuse_req_t req,
			struct fuse_file_info *fi, struct node *n,
			const struct stat *st);

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
		  off_t off, struct fuse_file_info *fi);
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi);
void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			off_t off_out, struct fuse_file_info *fi_out,
			size_t len, int flags);
void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi);

#endif
