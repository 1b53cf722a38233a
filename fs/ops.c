/*
 * The FUSE operation table and the kernel feature negotiation.
 */
#include "ops.h"

#include "creds.h"
#include "dir.h"
#include "file.h"
#include "fileattr.h"
#include "inode.h"
#include "lookup.h"
#include "passthrough.h"
#include "readdir.h"
#include "xattr_ops.h"

static void want(struct fuse_conn_info *conn, unsigned cap)
{
	if (conn->capable & cap)
		conn->want |= cap;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct lfs *fs = userdata;

	want(conn, FUSE_CAP_ASYNC_READ);
	want(conn, FUSE_CAP_PARALLEL_DIROPS);
	if (fs->opt->udba_reval) {
		/* Lower layers may change behind the mount: no kernel cache
		 * that only this mount's own changes would invalidate, and
		 * cached pages dropped when a file's mtime moves. */
		conn->want &= ~FUSE_CAP_CACHE_SYMLINKS;
		want(conn, FUSE_CAP_AUTO_INVAL_DATA);
	} else {
		want(conn, FUSE_CAP_CACHE_SYMLINKS);
	}
	want(conn, FUSE_CAP_SPLICE_WRITE);
	want(conn, FUSE_CAP_SPLICE_MOVE);
	want(conn, FUSE_CAP_READDIRPLUS);
	want(conn, FUSE_CAP_READDIRPLUS_AUTO);
	want(conn, FUSE_CAP_ASYNC_DIO);
	/* Locks stay in the kernel (see file.h); set-id bits are cleared by
	 * the kernel through setattr. */
	conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS |
			FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_EXPORT_SUPPORT);
	/* Nor splice for requests (libfuse's default with write_buf): they
	 * are read into a buffer of max_write (1 MiB) plus a page, more
	 * than a pipe may hold at the default fs.pipe-max-size, so libfuse
	 * never spliced one in, yet each worker made and grew a pipe for
	 * it at its first read. */
	conn->want &= ~FUSE_CAP_SPLICE_READ;

	/* Passthrough excludes the writeback cache (passthrough.h). */
	fs->passthrough = fs->opt->passthrough && lfs_has_upper(fs) &&
			  passthrough_possible();
	if (!fs->passthrough && fs->opt->writeback && lfs_has_upper(fs) &&
	    (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		fs->writeback = true;
	}
	if (!fs->opt->noacl && !fs->opt->noxattrs &&
	    (conn->capable & FUSE_CAP_POSIX_ACL)) {
		/* With ACLs the kernel may leave the umask to us (a default
		 * ACL replaces it): creds.c applies it per request, where a
		 * worker can have a umask of its own.  Where it cannot, the
		 * kernel applies it, before a default ACL too (a mode then
		 * narrower than a local filesystem's, never wider). */
		conn->want |= FUSE_CAP_POSIX_ACL;
		if (creds_thread_umask_possible())
			conn->want |= FUSE_CAP_DONT_MASK;
		fs->acl = true;
	}
	/* Zero-message opendir: readdir needs no handle (readdir.c). */
	fs->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) &&
			 !fs->opt->udba_reval;
	/* Zero-message open on read-only mounts (shared_fd.h says why not
	 * with an upper layer). */
	fs->no_open = !fs->opt->file_handles && !lfs_has_upper(fs) &&
		      !fs->opt->udba_reval &&
		      (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT);
	if (fs->no_open)
		conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	else
		want(conn, FUSE_CAP_ATOMIC_O_TRUNC);
	/* Large requests: 1 MiB (256 pages) per read and write. */
	conn->max_write = 1u << 20;
	/* What max_read= gave the kernel; libfuse refuses INIT otherwise. */
	if (fs->opt->max_read)
		conn->max_read = fs->opt->max_read;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	atomic_store_explicit(&fs->settled, true, memory_order_release);
}

static void op_destroy(void *userdata)
{
	(void)userdata;
}

const struct fuse_lowlevel_ops lfs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write_buf = op_write_buf,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.create = op_create,
	.fallocate = op_fallocate,
	.copy_file_range = op_copy_file_range,
	.lseek = op_lseek,
	.ioctl = op_ioctl,
};
