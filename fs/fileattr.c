/*
 * File attributes through the mount: the inode flags of lsattr/chattr
 * (FS_IOC_GETFLAGS/SETFLAGS) and the fsxattr of xfs_io
 * (FS_IOC_FSGETXATTR/FSSETXATTR).  The kernel's FUSE client turns its
 * fileattr calls into these ioctls, on regular files and directories
 * only, after its own checks: the caller owns the file, and only a
 * caller with CAP_LINUX_IMMUTABLE changes the immutable and append-only
 * flags.
 *
 * They are read from the layer holding the file and changed on its
 * upper copy, like any metadata; the upper filesystem then enforces
 * them (an immutable copy refuses writes, renames and removal).  A file
 * made immutable or append-only is copied with its data first: a
 * metadata-only copy would need its data written in later, which such a
 * file no longer allows.
 *
 * The FUSE client never puts these two flags on its inode, so what the
 * kernel refuses for them on its own (before any filesystem is asked)
 * reaches layerfs, which refuses it instead: the copy-up before a
 * change (copy_up.c, except copy_up_protected's appends and moves), and
 * the removal, rename or xattr change of such a file in any layer
 * (fileattr_protected).  Layerfs's own new names for a file the mount
 * already shows under them lift the flags for the moment
 * (fileattr_lift).
 *
 * A directory's immutable and append-only flags are not put on its
 * upper copy: there they would refuse the copy-ups of its children,
 * which the mount keeps making (an append to a file it holds), as
 * kernel overlayfs does.  They go into its protattr mark instead, and
 * layerfs refuses what they forbid (fileattr_dir_refuses and
 * fileattr_protected): an immutable directory takes no new name and
 * loses none, an append-only one takes new names but loses none, and
 * neither takes a change of its own attributes or xattrs.
 *
 * A file's or directory's two flags are read once and kept on its node
 * (fileattr_flags): lower layers never change, and layerfs makes every
 * change of the upper one.
 *
 * A file's flags are in a protattr mark on its upper copy too, written
 * before the flags themselves and kept while they are: a copy-up can set
 * them only once the copy has its name, and a lift takes them off for a
 * moment, so a crash at either instant leaves the copy without them.  A
 * lookup that meets the mark (read with the file's other marks, in the
 * one listxattr of an entry in an impure directory) puts back any of its
 * flags the file lacks (fileattr_mark_found).  A change of the flags
 * through the mount changes the mark with them, while the file carries
 * neither (set_file_attr).  The mark can be removed only then as well,
 * so it stays on a protected copy; with the flags, a crash leaves the
 * file as it was before the change or after it.
 */
#include "fileattr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "copy_up.h"
#include "creds.h"
#include "fault.h"
#include "node.h"
#include "node_reach.h"
#include "xattr_private.h"

/* The node's real file in `layer`, opened for an ioctl. */
static int open_for_ioctl(struct lfs *fs, struct node *n, int layer)
{
	int flags = O_RDONLY | O_NONBLOCK |
		    (node_is_dir(n) ? O_DIRECTORY : 0);
	return lfs_is_upper(fs, layer) ? node_open(fs, n, layer, flags)
				       : node_open_noatime(fs, n, layer,
							   flags);
}

/* FS_IOC_SETFLAGS is declared with a long argument, of which the kernel
 * reads an int: given a long's room, checkers such as valgrind do not
 * take the rest for uninitialised bytes. */
static int set_flags(int fd, int flags)
{
	union {
		int flags;
		long room;
	} v = { .room = 0 };
	v.flags = flags;
	return ioctl(fd, FS_IOC_SETFLAGS, &v) < 0 ? -errno : 0;
}

/* fsxattr's immutable and append-only xflags as FS_*_FL, and back. */
static unsigned protect_of_xflags(unsigned xflags)
{
	return (xflags & FS_XFLAG_IMMUTABLE ? FS_IMMUTABLE_FL : 0) |
	       (xflags & FS_XFLAG_APPEND ? FS_APPEND_FL : 0);
}

static unsigned xflags_of_protect(unsigned flags)
{
	return (flags & FS_IMMUTABLE_FL ? FS_XFLAG_IMMUTABLE : 0) |
	       (flags & FS_APPEND_FL ? FS_XFLAG_APPEND : 0);
}

/* The inode flags statx reports, as FS_*_FL. */
static unsigned flags_of(const struct statx *stx)
{
	uint64_t set = stx->stx_attributes & stx->stx_attributes_mask;
	return (set & STATX_ATTR_IMMUTABLE ? FS_IMMUTABLE_FL : 0) |
	       (set & STATX_ATTR_APPEND ? FS_APPEND_FL : 0) |
	       (set & STATX_ATTR_NODUMP ? FS_NODUMP_FL : 0);
}

/* The node's real file in a layer, as a directory and a name in it, or,
 * when no name reaches it there (the root, an orphan, an index entry),
 * as a descriptor on the file itself and the name "". */
struct real_at {
	int dfd;
	bool own; /* dfd is on the file itself, ours to close */
	char name[NAME_MAX + 1];
};

static int real_at_open(struct lfs *fs, struct node *n, int layer,
			struct real_at *at)
{
	at->own = !node_reached_by_name(fs, n, layer);
	at->name[0] = '\0';
	at->dfd = at->own ? node_open(fs, n, layer, O_PATH)
			  : node_parent_fd(fs, n, layer, at->name);
	return at->dfd < 0 ? at->dfd : 0;
}

static void real_at_close(struct lfs *fs, struct real_at *at)
{
	if (at->own)
		close(at->dfd);
	else
		node_parent_fd_done(fs, at->dfd);
}

static int real_flags(const struct real_at *at, unsigned *flags)
{
	struct statx stx;
	int how = AT_SYMLINK_NOFOLLOW | (at->own ? AT_EMPTY_PATH : 0);
	if (statx(at->dfd, at->name, how, 0, &stx) < 0)
		return -errno;
	*flags = flags_of(&stx);
	return 0;
}

int fileattr_carried(struct lfs *fs, struct node *n, int layer,
		     unsigned *flags)
{
	struct real_at at;
	*flags = 0;
	int r = real_at_open(fs, n, layer, &at);
	if (r < 0)
		return r;
	r = real_flags(&at, flags);
	real_at_close(fs, &at);
	return r;
}

/* ---- directories: the protattr mark ------------------------------ */

/* The flags the protattr mark of an upper directory or file holds: 'i'
 * and 'a', the letters of kernel overlayfs's mark of the same purpose. */
static unsigned mark_value_flags(const char *v, ssize_t len)
{
	unsigned flags = 0;
	for (ssize_t i = 0; i < len; i++)
		flags |= v[i] == 'i' ? FS_IMMUTABLE_FL
			 : v[i] == 'a' ? FS_APPEND_FL
				       : 0;
	return flags;
}

static unsigned mark_flags(const struct real_at *at)
{
	char path[64 + NAME_MAX], v[8];
	xp_proc_path(path, sizeof(path), at->dfd, at->name);
	return mark_value_flags(v, lgetxattr(path, XATTR_LFS_PROTATTR, v,
					     sizeof(v)));
}

/* The flags of the protattr mark of the upper file open as fd. */
static unsigned fd_mark_flags(int fd)
{
	char v[8];
	return mark_value_flags(v, fgetxattr(fd, XATTR_LFS_PROTATTR, v,
					     sizeof(v)));
}

int fileattr_mark(int fd, unsigned flags)
{
	char v[2];
	size_t len = 0;
	if (flags & FS_IMMUTABLE_FL)
		v[len++] = 'i';
	if (flags & FS_APPEND_FL)
		v[len++] = 'a';
	if (len)
		return fsetxattr(fd, XATTR_LFS_PROTATTR, v, len, 0) < 0 ? -errno
									 : 0;
	if (fremovexattr(fd, XATTR_LFS_PROTATTR) < 0 && errno != ENODATA)
		return -errno;
	return 0;
}

/* Bumped at the end of every change of a file's or directory's flags and
 * of every lift, so that a reading that raced with one is not kept
 * (fileattr_flags). */
static unsigned flags_generation;

static int dir_flags_read(struct lfs *fs, struct node *dir, unsigned *flags)
{
	int layer = node_layer(dir);
	struct real_at at;
	int r = real_at_open(fs, dir, layer, &at);
	if (r < 0)
		return r;
	r = real_flags(&at, flags);
	/* Marks are trusted in the upper layer only. */
	if (r == 0 && lfs_is_upper(fs, layer) && fs->upper_xattr)
		*flags |= mark_flags(&at);
	real_at_close(fs, &at);
	return r;
}

/* n's two flags as they are on disk (FILEATTR_PROTECT bits). */
static int flags_read(struct lfs *fs, struct node *n, unsigned *flags)
{
	int r = node_is_dir(n) ? dir_flags_read(fs, n, flags)
			       : fileattr_carried(fs, n, node_layer(n), flags);
	*flags &= FILEATTR_PROTECT;
	return r;
}

/*
 * The flags kept on the node.  The bits and N_PROT_KNOWN change in one
 * step, so whoever sees the latter sees the bits that came with it.
 * While N_PROT_HELD is set, a lift or a change of the flags is under way
 * (flags_hold): the file may show none of them for the moment, and the
 * node holds them as they were before, which no one else changes or
 * forgets until the holder lets go.
 */
#define PROT_BITS (N_PROT_KNOWN | N_PROT_IMMUTABLE | N_PROT_APPEND)

static unsigned prot_bits(unsigned flags)
{
	return N_PROT_KNOWN | (flags & FS_IMMUTABLE_FL ? N_PROT_IMMUTABLE : 0) |
	       (flags & FS_APPEND_FL ? N_PROT_APPEND : 0);
}

static unsigned prot_flags(unsigned nf)
{
	return (nf & N_PROT_IMMUTABLE ? FS_IMMUTABLE_FL : 0) |
	       (nf & N_PROT_APPEND ? FS_APPEND_FL : 0);
}

/* Sets n's flag bits to `to` (0: forgotten), unless they are held, or
 * (only_unknown) already known.  Whether they were set. */
static bool prot_set(struct node *n, unsigned to, bool only_unknown)
{
	unsigned old = node_flags(n);
	do {
		if ((old & N_PROT_HELD) || (only_unknown && (old & N_PROT_KNOWN)))
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&n->flags, &old, (old & ~PROT_BITS) | to, memory_order_acq_rel,
		memory_order_acquire));
	return true;
}

void fileattr_forget(struct node *n)
{
	(void)prot_set(n, 0, false);
}

void fileattr_known(struct node *n, unsigned flags)
{
	(void)prot_set(n, prot_bits(flags), false);
}

/*
 * A lookup's putting back of the flags a protattr mark holds
 * (fileattr_mark_found) must not come in the middle of a lift or a
 * change of them: it would put back a flag a chattr just took off, or
 * one a lift took off for the moment, on which the change made past it
 * fails.  The lookup's node is not yet the one a holder holds (another
 * name of the file, found by its number after), and a lookup holds its
 * directory's lock, so it may not wait for a holder.  So the two keep
 * out of each other through two counters (each side raises its own,
 * then reads the other's; sequentially consistent, so at least one of
 * them sees the other): a putting back that sees a lift or change
 * under way anywhere leaves the file as it is, and a lift or change
 * that sees a putting back under way waits for it (a few system calls,
 * which wait for nothing), before it changes anything.  Both are rare:
 * protected files only.
 */
static int lifts_active, putbacks_active;

/* A wait for a lift or a putting back, which take a few system calls. */
static void pause_briefly(void)
{
	struct timespec pause = { 0, 20 * 1000 };
	nanosleep(&pause, NULL);
}

static void lift_begin(void)
{
	__atomic_add_fetch(&lifts_active, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&putbacks_active, __ATOMIC_SEQ_CST) > 0)
		pause_briefly();
}

static void lift_end(void)
{
	__atomic_sub_fetch(&lifts_active, 1, __ATOMIC_SEQ_CST);
}

/*
 * Holds n's flags for a lift or a change: waits while another holds
 * them (a lift or change takes a few system calls), then keeps `before`
 * on the node for the readers meanwhile.  Taken before ns_lock or a
 * directory's lock, never while holding one (a holder may take them);
 * readers never wait for it.
 */
static void flags_hold(struct node *n, unsigned before)
{
	unsigned old = node_flags(n);
	for (;;) {
		if (old & N_PROT_HELD) {
			pause_briefly();
			old = node_flags(n);
			continue;
		}
		unsigned to = (old & ~PROT_BITS) | N_PROT_HELD |
			      prot_bits(before);
		if (atomic_compare_exchange_weak_explicit(
			    &n->flags, &old, to, memory_order_acq_rel,
			    memory_order_acquire))
			break;
	}
	lift_begin();
}

/* While holding them: n's flags as read now (the file's own, which only
 * the holder changes). */
static void flags_held_are(struct node *n, unsigned flags)
{
	unsigned old = node_flags(n);
	while (!atomic_compare_exchange_weak_explicit(
		&n->flags, &old, (old & ~PROT_BITS) | N_PROT_HELD |
					 prot_bits(flags),
		memory_order_acq_rel, memory_order_acquire))
		;
}

/* Lets n's flags go: as they were held after a lift, forgotten after a
 * change (read again when next asked). */
static void flags_let_go(struct node *n, bool changed)
{
	__atomic_add_fetch(&flags_generation, 1, __ATOMIC_ACQ_REL);
	lift_end();
	node_clear_flag(n, N_PROT_HELD | (changed ? PROT_BITS : 0));
}

void fileattr_mark_found(struct lfs *fs, struct node *n, int dirfd,
			 const char *name)
{
	struct real_at at = { .dfd = dirfd, .own = false };
	snprintf(at.name, sizeof(at.name), "%s", name);
	unsigned flags, marked = mark_flags(&at) & FILEATTR_PROTECT;
	if (!marked || real_flags(&at, &flags) < 0)
		return;
	unsigned missing = marked & ~flags;
	/* The daemon keeps its capabilities as any caller (creds.h): no
	 * switch, which would change the ids of what the request makes
	 * after its lookup.  Not while a lift or change is under way: the
	 * mark and the flags were read in the middle of it (lift_begin);
	 * the next lookup puts them back. */
	if (missing && !fs->opt->read_only && fileattr_may_protect()) {
		__atomic_add_fetch(&putbacks_active, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&lifts_active, __ATOMIC_SEQ_CST) == 0 &&
		    real_flags(&at, &flags) == 0 && (missing = marked & ~flags) &&
		    mark_flags(&at) == marked) {
			int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK |
							     O_NOFOLLOW |
							     O_CLOEXEC);
			if (fd >= 0 && fileattr_apply(fd, missing) == 0)
				flags |= missing;
			if (fd >= 0)
				close(fd);
		}
		__atomic_sub_fetch(&putbacks_active, 1, __ATOMIC_SEQ_CST);
	}
	/* Where they could not be put back, layerfs refuses what they
	 * forbid, and shows them (get_attr): they are the file's. */
	fileattr_known(n, (flags | marked) & FILEATTR_PROTECT);
}

int fileattr_flags(struct lfs *fs, struct node *n, unsigned *flags)
{
	for (int tries = 0;; tries++) {
		unsigned nf = node_flags(n);
		if (nf & N_PROT_KNOWN) {
			*flags = prot_flags(nf);
			return 0;
		}
		unsigned gen = __atomic_load_n(&flags_generation,
					       __ATOMIC_ACQUIRE);
		int r = flags_read(fs, n, flags);
		if (r < 0)
			return r;
		/* Held or known meanwhile: the node's say is the one (what
		 * was read may be a lifted file's). */
		if (!prot_set(n, prot_bits(*flags), true)) {
			if (tries >= 3)
				return 0; /* (never: held means known) */
			continue;
		}
		/* A change or a lift since the reading began: what was read
		 * may be the file in the middle of it.  Forgotten, and read
		 * again (the change's own forgetting may have come before
		 * this). */
		if (__atomic_load_n(&flags_generation, __ATOMIC_ACQUIRE) == gen)
			return 0;
		fileattr_forget(n);
		if (tries >= 3)
			return 0;
	}
}

/* After a change of n's flags on disk, where they were not held. */
static void flags_changed(struct node *n)
{
	__atomic_add_fetch(&flags_generation, 1, __ATOMIC_ACQ_REL);
	fileattr_forget(n);
}

int fileattr_dir_refuses(struct lfs *fs, struct node *dir, bool removing)
{
	unsigned flags;
	/* An error here is the operation's to meet. */
	if (fileattr_flags(fs, dir, &flags) < 0)
		return 0;
	if ((flags & FS_IMMUTABLE_FL) || (removing && (flags & FS_APPEND_FL)))
		return -EPERM;
	return 0;
}

/* The immutable and append-only flags (FS_*_FL) that FS_IOC_SETFLAGS or
 * FS_IOC_FSSETXATTR with in would leave set. */
static unsigned protect_in(unsigned int cmd, const void *in)
{
	if (cmd == FS_IOC_SETFLAGS)
		return (unsigned)*(const int *)in & FILEATTR_PROTECT;
	return protect_of_xflags(((const struct fsxattr *)in)->fsx_xflags);
}

/* FS_IOC_SETFLAGS or FS_IOC_FSSETXATTR with in, on fd. */
static int set_attr_at(int fd, unsigned int cmd, const void *in)
{
	if (cmd == FS_IOC_SETFLAGS)
		return set_flags(fd, *(const int *)in);
	return ioctl(fd, cmd, in) < 0 ? -errno : 0;
}

/*
 * A directory's new flags on its upper copy: the immutable and
 * append-only ones in its mark (first, as kernel overlayfs does), the
 * others on the directory itself, which loses any of the two it carried
 * (put there by hand, or by an older layerfs).
 */
static int set_dir_attr(int fd, unsigned int cmd, const void *in)
{
	int flags = 0;
	struct fsxattr fsx;
	unsigned protect = protect_in(cmd, in);
	if (cmd == FS_IOC_SETFLAGS) {
		memcpy(&flags, in, sizeof(flags));
		flags &= ~(int)FILEATTR_PROTECT;
	} else {
		memcpy(&fsx, in, sizeof(fsx));
		fsx.fsx_xflags &= ~xflags_of_protect(FILEATTR_PROTECT);
	}
	int r = fileattr_mark(fd, protect);
	if (r == 0)
		r = set_attr_at(fd, cmd,
				cmd == FS_IOC_SETFLAGS ? (const void *)&flags
						       : (const void *)&fsx);
	return r;
}

/* Makes the directory holding n's upper copy impure, so that a lookup
 * there reads the protattr mark about to be written on it. */
static int impure_for_mark(struct lfs *fs, struct node *n)
{
	if (!node_reached_by_name(fs, n, fs->upper))
		return 0; /* an index entry: its marks are read anyway */
	char name[NAME_MAX + 1];
	int dfd = node_parent_fd(fs, n, fs->upper, name);
	if (dfd < 0)
		return dfd;
	int r = xp_set_impure(dfd);
	node_parent_fd_done(fs, dfd);
	return r;
}

/*
 * A file's new flags, and its protattr mark with them where that
 * changes: the mark cannot change while the file carries either flag,
 * so those are lifted first.  A crash leaves the old flags lifted under
 * the old mark, or none yet under the new one: either way a lookup puts
 * back what the mark says.
 */
static int set_file_attr_marked(int fd, unsigned int cmd, const void *in,
				unsigned marked)
{
	int now = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &now) < 0)
		return -errno;
	int r = 0;
	if (now & (int)FILEATTR_PROTECT)
		r = set_flags(fd, now & ~(int)FILEATTR_PROTECT);
	if (r == 0)
		r = fileattr_mark(fd, protect_in(cmd, in));
	if (r == 0) {
		r = set_attr_at(fd, cmd, in);
		if (r < 0)
			(void)fileattr_mark(fd, marked);
	}
	if (r < 0)
		(void)set_flags(fd, now);
	return r;
}

/*
 * A file's new flags on its upper copy.  ext4 refuses to change any other
 * flag of a file that is immutable and stays so; kernel overlayfs, which
 * keeps the flag in an xattr, makes the change, and so does layerfs, with
 * the flag lifted for the moment (put back if the change fails).
 */
static int set_file_attr(struct lfs *fs, struct node *n, int fd,
			 unsigned int cmd, const void *in)
{
	if (fs->upper_xattr) {
		unsigned marked = fd_mark_flags(fd);
		if (marked != protect_in(cmd, in)) {
			int r = marked ? 0 : impure_for_mark(fs, n);
			return r < 0 ? r
				     : set_file_attr_marked(fd, cmd, in, marked);
		}
	}
	int r = set_attr_at(fd, cmd, in);
	bool stays = protect_in(cmd, in) & FS_IMMUTABLE_FL;
	int now = 0;
	if (r != -EPERM || !stays || ioctl(fd, FS_IOC_GETFLAGS, &now) < 0 ||
	    !(now & FS_IMMUTABLE_FL) ||
	    set_flags(fd, now & ~FS_IMMUTABLE_FL) < 0)
		return r;
	r = set_attr_at(fd, cmd, in);
	if (r < 0)
		set_flags(fd, now);
	return r;
}

static bool in_initial_user_ns(void)
{
	FILE *f = fopen("/proc/self/uid_map", "re");
	unsigned long inner, outer, count;
	bool initial = f && fscanf(f, "%lu %lu %lu", &inner, &outer,
				   &count) == 3 &&
		       inner == 0 && outer == 0 && count == 4294967295ul;
	if (f)
		fclose(f);
	return initial;
}

bool fileattr_may_protect(void)
{
	static int known; /* 1 yes, -1 no, 0 not asked yet */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	if (k == 0) {
		struct __user_cap_header_struct hdr = {
			_LINUX_CAPABILITY_VERSION_3, 0
		};
		struct __user_cap_data_struct data[2] = { { 0 } };
		bool cap = syscall(SYS_capget, &hdr, data) == 0 &&
			   (data[CAP_LINUX_IMMUTABLE / 32].effective &
			    (1u << (CAP_LINUX_IMMUTABLE % 32)));
		k = cap && in_initial_user_ns() ? 1 : -1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k > 0;
}

int fileattr_protected(struct lfs *fs, struct node *n)
{
	unsigned flags;
	/* An error here is the operation's to meet. */
	if (fileattr_flags(fs, n, &flags) < 0)
		return 0;
	return flags & FILEATTR_PROTECT ? -EPERM : 0;
}

/* Lifts the flags of the regular file dirfd/name, whose node's flags the
 * caller holds (flags_hold), and says on the node what they were; n is
 * NULL for a file no node is known to present. */
static int lift_held(struct node *n, int dirfd, const char *name,
		     unsigned *lifted)
{
	struct statx stx;
	*lifted = 0;
	/* Opened only if it is a protected file (not a device's open). */
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, 0, &stx) < 0 ||
	    !S_ISREG(stx.stx_mode))
		return -1;
	if (n)
		flags_held_are(n, flags_of(&stx) & FILEATTR_PROTECT);
	if (!(flags_of(&stx) & FILEATTR_PROTECT))
		return -1;
	int fd = openat(dirfd, name,
			O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	int now = 0;
	if (fd < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &now) < 0) {
		close(fd);
		return -1;
	}
	if (n)
		flags_held_are(n, (unsigned)now & FILEATTR_PROTECT);
	if (!(now & (int)FILEATTR_PROTECT) ||
	    set_flags(fd, now & ~(int)FILEATTR_PROTECT) < 0) {
		close(fd);
		return -1;
	}
	*lifted = (unsigned)now & FILEATTR_PROTECT;
	fault_point("protect-lifted");
	return fd;
}

static void restore_held(int fd, unsigned lifted)
{
	if (fd < 0)
		return;
	fileattr_apply(fd, lifted);
	close(fd);
}

int fileattr_lifted_change(struct lfs *fs, struct node *n,
			   int (*change)(int dirfd, const char *name, int fd,
					 void *arg),
			   void *arg)
{
	if (!node_reached_by_name(fs, n, fs->upper))
		return -EPERM;
	/* Known on the node before they are lifted: an open meanwhile is
	 * refused for them from there (op_open), not let through by the
	 * file for a moment without them; a flag read answers with them
	 * (get_attr), and a change of them waits (set_attr). */
	unsigned known;
	int r = fileattr_flags(fs, n, &known);
	if (r < 0)
		return r; /* unreachable (removed meanwhile): so is the file */
	flags_hold(n, known);
	char name[NAME_MAX + 1];
	int dfd = node_parent_fd(fs, n, fs->upper, name);
	if (dfd < 0) {
		flags_let_go(n, false);
		return dfd;
	}
	unsigned lifted;
	int lfd = lift_held(n, dfd, name, &lifted);
	r = change(dfd, name, lfd, arg);
	restore_held(lfd, lifted);
	node_parent_fd_done(fs, dfd);
	flags_let_go(n, false);
	return r;
}

int fileattr_lifted_fd(struct lfs *fs, struct node *n, int fd,
		       int (*change)(int fd, void *arg), void *arg)
{
	unsigned known;
	(void)fileattr_flags(fs, n, &known);
	int now = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &now) < 0 ||
	    !(now & (int)FILEATTR_PROTECT))
		return change(fd, arg);
	flags_hold(n, (unsigned)now & FILEATTR_PROTECT);
	/* Read again once held: a change of them may have come between. */
	if (ioctl(fd, FS_IOC_GETFLAGS, &now) < 0 ||
	    !(now & (int)FILEATTR_PROTECT)) {
		flags_let_go(n, true);
		return change(fd, arg);
	}
	flags_held_are(n, (unsigned)now & FILEATTR_PROTECT);
	int r = set_flags(fd, now & ~(int)FILEATTR_PROTECT);
	if (r < 0) {
		flags_let_go(n, false);
		return r;
	}
	fault_point("protect-lifted");
	r = change(fd, arg);
	(void)fileattr_apply(fd, (unsigned)now & FILEATTR_PROTECT);
	flags_let_go(n, false);
	return r;
}

int fileattr_lift(struct node *n, int dirfd, const char *name,
		  unsigned *lifted)
{
	struct statx stx;
	*lifted = 0;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, 0, &stx) < 0 ||
	    !S_ISREG(stx.stx_mode) || !(flags_of(&stx) & FILEATTR_PROTECT))
		return -1;
	if (n)
		flags_hold(n, flags_of(&stx) & FILEATTR_PROTECT);
	else
		lift_begin();
	int fd = lift_held(n, dirfd, name, lifted);
	if (fd < 0 && n)
		flags_let_go(n, false);
	else if (fd < 0)
		lift_end();
	return fd;
}

void fileattr_restore(struct node *n, int fd, unsigned lifted)
{
	if (fd < 0)
		return;
	restore_held(fd, lifted);
	if (n)
		flags_let_go(n, false);
	else
		lift_end();
}

int fileattr_apply(int fd, unsigned flags)
{
	int now = 0;
	int r = ioctl(fd, FS_IOC_GETFLAGS, &now) < 0 ? -errno : 0;
	if (r == 0)
		r = set_flags(fd, now | (int)flags);
	return r == -ENOTTY || r == -EOPNOTSUPP ? 0 : r;
}

static void get_attr(fuse_req_t req, struct lfs *fs, struct node *n,
		     unsigned int cmd, size_t size)
{
	union {
		int flags;
		struct fsxattr fsx;
	} v = { 0 };
	int fd = open_for_ioctl(fs, n, node_layer(n));
	int r = fd < 0 ? fd : ioctl(fd, cmd, &v) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	/* A directory's, from its mark too; a file's as the node has
	 * them too: while they are lifted for a change past them, those
	 * taken (fileattr_lift), and those a lookup found in its mark and
	 * could not put back (fileattr_mark_found). */
	unsigned f;
	if (r == 0 && fileattr_flags(fs, n, &f) == 0) {
		if (cmd == FS_IOC_GETFLAGS)
			v.flags |= (int)f;
		else
			v.fsx.fsx_xflags |= xflags_of_protect(f);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_ioctl(req, 0, &v, size);
}

static void set_attr(fuse_req_t req, struct lfs *fs, struct node *n,
		     unsigned int cmd, const void *in)
{
	bool protects = protect_in(cmd, in) != 0;
	int r = 0;
	if (!lfs_has_upper(fs) || fs->opt->read_only)
		r = -EROFS;
	if (r == 0)
		r = copy_up_protected(fs, n,
				      protects && !node_is_dir(n) ? CU_DATA
								  : CU_META,
				      FILEATTR_PROTECT);
	creds_as_daemon();
	/* Not in the middle of a lift, whose putting back would undo the
	 * change; readers meanwhile are answered with the flags before. */
	unsigned before = 0;
	bool held = r == 0;
	if (held) {
		(void)fileattr_flags(fs, n, &before);
		flags_hold(n, before);
		if (flags_read(fs, n, &before) == 0)
			flags_held_are(n, before);
	}
	int fd = r < 0 ? r : open_for_ioctl(fs, n, fs->upper);
	if (fd < 0)
		r = fd;
	else if (node_is_dir(n) && fs->upper_xattr)
		r = set_dir_attr(fd, cmd, in);
	else
		r = set_file_attr(fs, n, fd, cmd, in);
	if (fd >= 0)
		close(fd);
	if (held)
		flags_let_go(n, true);
	else
		flags_changed(n);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	      size_t in_bufsz, size_t out_bufsz)
{
	(void)arg;
	(void)fi;
	struct lfs *fs = lfs_from_req(req);
	size_t size = cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_SETFLAGS
			      ? sizeof(int)
		      : cmd == FS_IOC_FSGETXATTR || cmd == FS_IOC_FSSETXATTR
			      ? sizeof(struct fsxattr)
			      : 0;
	bool get = cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_FSGETXATTR;
	if (size == 0 || (flags & FUSE_IOCTL_COMPAT) ||
	    (get ? out_bufsz < size : in_bufsz < size)) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	struct node *n = node_from_ino(fs, ino);
	node_ref(n);
	if (get)
		get_attr(req, fs, n, cmd, size);
	else
		set_attr(req, fs, n, cmd, in_buf);
	node_unref(fs, n);
}
