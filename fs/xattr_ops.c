/*
 * Extended attributes through the mount.  Reads go to the layer holding
 * the node; changes copy up metadata only.  layerfs's and overlayfs's own
 * bookkeeping names are neither listed, read nor settable
 * (xattr_private.h).  POSIX ACLs are ordinary xattrs here
 * (system.posix_acl_*); with FUSE_CAP_POSIX_ACL the kernel enforces them.
 *
 * Most files carry no xattr at all, yet `ls -l` asks for two per file
 * (security.selinux, system.posix_acl_access) and the kernel asks for
 * security.capability before writes.  The first question about a node
 * is answered from one listxattr, and the node remembers whether it has
 * none (N_NOXATTR, every later question answered without a system call)
 * or some (N_HASXATTR, asked directly): lower files never change and
 * upper ones change only through the mount, which forgets both marks on
 * every change.
 */
#include "xattr_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "acl_ids.h"
#include "caps_killed.h"
#include "copy_up.h"
#include "creds.h"
#include "fileattr.h"
#include "inode.h"
#include "node.h"
#include "node_reach.h"
#include "override.h"
#include "privs_keep.h"
#include "xattr_private.h"

/*
 * How the real file is reached for reading xattrs.  Usually by name from
 * its parent's cached directory fd with getxattrat/listxattrat (Linux
 * 6.13): one syscall per question, no open and no /proc walk, which is
 * what `ls -l` pays per file.  Otherwise (an older kernel, the root, an
 * unlinked file still open, an index entry, a redirect) through an O_PATH
 * fd and its /proc path.
 */
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif
#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif

struct xattr_at_args {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

/* 1: the *xattrat calls work, -1: they do not, 0: not yet known. */
static atomic_int xattrat_state;

static bool xattrat_usable(void)
{
	int st = atomic_load_explicit(&xattrat_state, memory_order_relaxed);
	if (st == 0) {
		/* A seccomp filter may answer EPERM for a syscall it does
		 * not know: both mean "use the old way". */
		long r = syscall(SYS_listxattrat, AT_FDCWD, "/",
				 AT_SYMLINK_NOFOLLOW, NULL, (size_t)0);
		st = r < 0 && (errno == ENOSYS || errno == EPERM) ? -1 : 1;
		atomic_store(&xattrat_state, st);
	}
	return st > 0;
}

struct real_file {
	struct lfs *fs;
	int dfd;                  /* parent directory, or -1 */
	char name[NAME_MAX + 1];  /* with dfd */
	int fd;                   /* O_PATH on the file, or -1 */
	char path[64];            /* with fd: /proc/self/fd/N */
};

static int real_path_open(struct lfs *fs, struct node *n, int layer,
			  struct real_file *rf)
{
	rf->fs = fs;
	rf->dfd = -1;
	rf->fd = node_open(fs, n, layer, O_PATH);
	if (rf->fd < 0)
		return rf->fd;
	snprintf(rf->path, sizeof(rf->path), "/proc/self/fd/%d", rf->fd);
	return 0;
}

static int real_file_open(struct lfs *fs, struct node *n, int layer,
			  struct real_file *rf)
{
	if (!xattrat_usable() || !node_reached_by_name(fs, n, layer))
		return real_path_open(fs, n, layer, rf);
	rf->fs = fs;
	rf->fd = -1;
	rf->dfd = node_parent_fd(fs, n, layer, rf->name);
	/* Its name went since node_reached_by_name looked (a rename onto
	 * it): getxattr(2) of a path that always named a file got ENOENT. */
	if (node_name_went(n, layer, rf->dfd))
		return real_path_open(fs, n, layer, rf);
	return rf->dfd < 0 ? rf->dfd : 0;
}

static void real_file_close(struct real_file *rf)
{
	if (rf->dfd >= 0)
		node_parent_fd_done(rf->fs, rf->dfd);
	if (rf->fd >= 0)
		close(rf->fd);
	rf->dfd = rf->fd = -1;
}

/* Whether a request that reached rf by n's name and found nothing there
 * raced an unlink or a rename onto the name through the mount, not yet
 * done with n: rf is closed, for real_path_open, which reaches the file
 * through the fd dir.c kept (an fgetxattr(2) of the open file got
 * ENOENT). */
static bool real_file_by_name_went(struct node *n, int layer,
				   struct real_file *rf)
{
	if (rf->dfd < 0 || !node_name_went(n, layer, -ENOENT))
		return false;
	real_file_close(rf);
	return true;
}

static ssize_t real_getxattr(struct real_file *rf, const char *name,
			     void *buf, size_t size)
{
	if (rf->fd >= 0)
		return getxattr(rf->path, name, buf, size);
	struct xattr_at_args a = { .value = (uintptr_t)buf,
				   .size = (uint32_t)size };
	return syscall(SYS_getxattrat, rf->dfd, rf->name, AT_SYMLINK_NOFOLLOW,
		       name, &a, sizeof(a));
}

static ssize_t real_listxattr(struct real_file *rf, char *list, size_t size)
{
	if (rf->fd >= 0)
		return listxattr(rf->path, list, size);
	return syscall(SYS_listxattrat, rf->dfd, rf->name, AT_SYMLINK_NOFOLLOW,
		       list, size);
}

/* Counts the changes of xattrs through the mount, so that what a
 * reading raced with is not kept. */
static unsigned xattr_generation;

/* Takes the names drop() picks out of a NUL-separated list, in place;
 * returns the new length. */
static ssize_t drop_names(char *list, ssize_t len,
			  bool (*drop)(const char *name))
{
	ssize_t keep = 0;
	for (ssize_t i = 0; i < len;) {
		size_t l = strlen(list + i) + 1;
		if (!drop(list + i)) {
			memmove(list + keep, list + i, l);
			keep += (ssize_t)l;
		}
		i += (ssize_t)l;
	}
	return keep;
}

/* The lock of n's capabilities, for reading them or the names. */
static pthread_mutex_t *read_lock(struct node *n)
{
	return caps_change_lock(n, XATTR_CAPS);
}

/*
 * The visible names of the real file (private ones filtered out), as a
 * malloc'd NUL-separated list.  Learns N_NOXATTR when there are none,
 * N_HASXATTR when there are some, unless a change came meanwhile.
 * Under the node's capabilities lock (read_lock): not in the middle of
 * a page-cache write, whose pwrite removes the capabilities it then
 * puts back (privs_keep.h).
 */
static ssize_t visible_names(struct node *n, struct real_file *rf,
			     char **out)
{
	*out = NULL;
	unsigned gen = __atomic_load_n(&xattr_generation, __ATOMIC_ACQUIRE);
	ssize_t len = real_listxattr(rf, NULL, 0);
	if (len < 0)
		return errno == ENOTSUP ? 0 : -errno;
	char *list = NULL;
	if (len > 0) {
		list = malloc((size_t)len);
		if (!list)
			return -ENOMEM;
		len = real_listxattr(rf, list, (size_t)len);
		if (len < 0) {
			int e = errno;
			free(list);
			return -e;
		}
	}
	ssize_t keep = drop_names(list, len, xp_is_private);
	/* Not for a lower file that may change behind the mount (udba.h). */
	if (!rf->fs->opt->udba_reval || lfs_is_upper(rf->fs, node_layer(n)))
		node_set_flag(n, keep == 0 ? N_NOXATTR : N_HASXATTR);
	/* The change's own forgetting may have come before this. */
	if (__atomic_load_n(&xattr_generation, __ATOMIC_ACQUIRE) != gen)
		node_clear_flag(n, N_NOXATTR | N_HASXATTR);
	*out = list;
	return keep;
}

bool xattr_dir_has_default_acl(struct node *dir, int pfd)
{
	unsigned f = node_flags(dir);
	if (f & N_DEFACL_KNOWN)
		return f & N_DEFACL;
	/* By path: pfd may be an O_PATH descriptor. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	ssize_t r = getxattr(proc, XATTR_ACL_DEFAULT, NULL, 0);
	bool has = r > 0 || (r < 0 && errno != ENODATA && errno != ENOTSUP);
	node_set_flag(dir, N_DEFACL_KNOWN | (has ? N_DEFACL : 0));
	return has;
}

int xattr_dir_default_acl(struct node *dir, int pfd, char **acl,
			  size_t *len)
{
	*acl = NULL;
	if (!xattr_dir_has_default_acl(dir, pfd))
		return 0;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	ssize_t n = getxattr(proc, XATTR_ACL_DEFAULT, NULL, 0);
	if (n > 0) {
		*acl = malloc((size_t)n);
		if (!*acl)
			return -ENOMEM;
		n = getxattr(proc, XATTR_ACL_DEFAULT, *acl, (size_t)n);
	}
	if (n <= 0) {
		int e = n < 0 ? errno : 0;
		free(*acl);
		*acl = NULL;
		return e == ENODATA || e == ENOTSUP ? 0 : -e;
	}
	/* Rootless, to be written again by the daemon: without the ids
	 * it cannot name. */
	if (!creds_daemon_on_host() && (n = acl_drop_unmapped(*acl, n)) < 0) {
		free(*acl);
		*acl = NULL;
		return (int)n;
	}
	*len = (size_t)n;
	return 0;
}

/*
 * An ACL as the view shows it: its ids through the mapping options, and
 * without the entries for ids a rootless daemon's namespace or those
 * options do not map, which the FUSE client would refuse with the whole
 * ACL (acl_ids.h).  Read whole whatever the caller's size: dropping
 * entries shortens it.  Returns its length (*value malloc'd) or -errno.
 */
static ssize_t real_get_acl(struct real_file *rf, const char *name,
			    char **value)
{
	*value = NULL;
	for (int tries = 0; tries < 4; tries++) {
		ssize_t len = real_getxattr(rf, name, NULL, 0);
		if (len < 0)
			return -errno;
		char *v = malloc(len > 0 ? (size_t)len : 1);
		if (!v)
			return -ENOMEM;
		ssize_t got = real_getxattr(rf, name, v, (size_t)len);
		if (got < 0) {
			int e = errno;
			free(v);
			if (e == ERANGE)
				continue; /* grew in between */
			return -e;
		}
		const struct lfs_options *o = rf->fs->opt;
		int m = acl_map_ids(v, (size_t)got, &o->uidmap, &o->gidmap,
				    true);
		if (m > 0)
			got = acl_drop_unmapped(v, (size_t)got);
		else if (m < 0)
			got = m;
		if (got < 0) {
			free(v);
			return got;
		}
		*value = v;
		return got;
	}
	return -ERANGE;
}

/* The value of name for a caller that asked with size (0: only its
 * length); *buf malloc'd.  Returns its length or -errno. */
static ssize_t real_get_value(struct real_file *rf, const char *name,
			      size_t size, char **buf)
{
	const struct lfs_options *o = rf->fs->opt;
	if (acl_is_acl_name(name) &&
	    (!creds_daemon_on_host() || acl_ids_mapped(&o->uidmap, &o->gidmap))) {
		ssize_t len = real_get_acl(rf, name, buf);
		return len >= 0 && size > 0 && (size_t)len > size ? -ERANGE
								    : len;
	}
	*buf = NULL;
	if (size > 0 && !(*buf = malloc(size)))
		return -ENOMEM;
	ssize_t len = real_getxattr(rf, name, *buf, size);
	return len < 0 ? -errno : len;
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size)
{
	struct lfs *fs = lfs_from_req(req);
	if (fs->opt->noxattrs) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	struct node *n = node_from_ino(fs, ino);
	if (xp_is_private(name) || (node_flags(n) & N_NOXATTR)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	struct real_file rf;
	char *buf = NULL;
	ssize_t len = -1;
	node_ref(n);
	/* Capabilities, or the names, read between a page-cache write's
	 * pwrite and its putting them back would be missing: a writer
	 * asking before its write(2) would not have them removed, or the
	 * node would be known to have no xattr at all (privs_keep.h).
	 * Taken before the real file is open, which holds ns_lock: the
	 * lock's other holders take ns_lock after it (setattr.c). */
	pthread_mutex_t *lock = strcmp(name, XATTR_CAPS) == 0 ||
					!(node_flags(n) & N_HASXATTR)
				? read_lock(n)
				: NULL;
	privs_lock(lock);
	int err = -real_file_open(fs, n, node_layer(n), &rf);
again:
	if (err == 0 && !(node_flags(n) & N_HASXATTR)) {
		/* Not known yet: most files carry no xattr at all, and one
		 * listxattr says so (visible_names learns which), where a
		 * getxattr answering ENODATA would still leave it open.
		 * `ls -l` asks two names of every file it lists. */
		char *list;
		ssize_t ll = visible_names(n, &rf, &list);
		if (ll >= 0 && !xp_list_has(list, ll, name))
			err = ENODATA;
		free(list);
	}
	if (err == 0) {
		len = real_get_value(&rf, name, size, &buf);
		err = len < 0 ? (int)-len : 0;
	}
	if (err == ENOENT && real_file_by_name_went(n, node_layer(n), &rf)) {
		err = -real_path_open(fs, n, node_layer(n), &rf);
		goto again;
	}
	privs_unlock(lock);
	if (err == 0 && size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if (err == 0)
		fuse_reply_buf(req, buf, (size_t)len);
	real_file_close(&rf);
	node_unref(fs, n);
	free(buf);
	if (err)
		fuse_reply_err(req, err);
}

/*
 * Takes the trusted.* names out of a list for a caller without
 * CAP_SYS_ADMIN: the upper filesystem lists them to the daemon, but to
 * such a caller neither a local filesystem nor kernel overlayfs does
 * (nor may it read them).  The caller is asked about only for a list
 * that holds one.  Returns the new length.
 */
static bool is_trusted(const char *name)
{
	return strncmp(name, "trusted.", 8) == 0;
}

static ssize_t hide_trusted(fuse_req_t req, char *list, ssize_t len)
{
	bool any = false;
	for (ssize_t i = 0; i < len && !any; i += (ssize_t)strlen(list + i) + 1)
		any = is_trusted(list + i);
	if (!any || creds_caller_capable(req, CAP_SYS_ADMIN))
		return len;
	return drop_names(list, len, is_trusted);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct lfs *fs = lfs_from_req(req);
	if (fs->opt->noxattrs) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	struct node *n = node_from_ino(fs, ino);
	if (node_flags(n) & N_NOXATTR) {
		if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	struct real_file rf;
	char *list = NULL;
	node_ref(n);
	/* Taken before the real file is open (op_getxattr). */
	pthread_mutex_t *lock = read_lock(n);
	privs_lock(lock);
	ssize_t len = real_file_open(fs, n, node_layer(n), &rf);
	if (len == 0)
		len = visible_names(n, &rf, &list);
	if (len == -ENOENT && real_file_by_name_went(n, node_layer(n), &rf)) {
		len = real_path_open(fs, n, node_layer(n), &rf);
		if (len == 0)
			len = visible_names(n, &rf, &list);
	}
	privs_unlock(lock);
	if (len > 0)
		len = hide_trusted(req, list, len);
	real_file_close(&rf);
	node_unref(fs, n);
	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if ((size_t)len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, (size_t)len);
	free(list);
}

/* Whether a lower file lacks the xattr name: removing it then fails
 * before any copy-up, as on kernel overlayfs (a copy would change
 * nothing the view shows, but with index=off it would break the file's
 * hard links). */
static bool lower_lacks(struct lfs *fs, struct node *n, const char *name)
{
	int layer = node_layer(n);
	if (lfs_is_upper(fs, layer))
		return false;
	struct real_file rf = { .fd = -1, .dfd = -1 };
	if (real_path_open(fs, n, layer, &rf) < 0)
		return false; /* the copy-up will say what is wrong */
	bool lacks = getxattr(rf.path, name, NULL, 0) < 0 && errno == ENODATA;
	real_file_close(&rf);
	return lacks;
}

/* remove_absent: a removal, which fails with ENODATA when the lower
 * entry lacks the name, before anything is copied up. */
static int change_prepare(struct lfs *fs, struct node *n, const char *name,
			  bool remove_absent)
{
	if (fs->opt->noxattrs)
		return -ENOTSUP;
	if (!lfs_has_upper(fs) || fs->opt->read_only)
		return -EROFS;
	if (xp_is_private(name))
		return -EPERM;
	/* The kernel refuses a change of an immutable or append-only file
	 * before it looks for the name (fileattr.h).  A regular file's
	 * copy-up and its upper filesystem refuse the rest; a directory's
	 * flags are layerfs's to enforce (its mark). */
	bool absent = remove_absent && lower_lacks(fs, n, name);
	int r = absent || node_is_dir(n) ? fileattr_protected(fs, n) : 0;
	if (r == 0 && absent)
		r = -ENODATA;
	if (r == 0)
		r = copy_up(fs, n, CU_META);
	creds_as_daemon();
	return r;
}

/*
 * Whether this change drops the set-group-id bit of n: a change of its
 * access ACL by a caller outside its group without CAP_FSETID.  The
 * kernel drops it when it sets one on a local filesystem
 * (posix_acl_update_mode), and kernel overlayfs on a removal too,
 * copying the entry up for it, so that the removal of an ACL a lower
 * entry lacks is made on its copy, where it succeeds.  The FUSE client
 * leaves it to the daemon, whose own setxattr keeps the bit.
 */
static bool acl_kills_sgid(struct lfs *fs, fuse_req_t req, struct node *n,
			   const char *name)
{
	struct stat st;
	return strcmp(name, XATTR_ACL_ACCESS) == 0 &&
	       inode_stat(fs, n, &st) == 0 &&
	       (st.st_mode & S_ISGID) &&
	       !creds_caller_in_group(req, st.st_gid) &&
	       !creds_caller_capable(req, CAP_FSETID);
}

/* Drops that bit from the upper copy at path. */
static int drop_sgid_at(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !(st.st_mode & S_ISGID))
		return 0;
	return chmod(path, st.st_mode & 07777 & ~S_ISGID) < 0 ? -errno : 0;
}

/* An ACL set through the mount with the ids the layers hold, in *copy
 * when they differ (*value pointed there); EINVAL for an id outside the
 * mapping options' ranges, which the layers could not name. */
static int acl_to_disk(struct lfs *fs, const char *name, const char **value,
		       size_t size, char **copy)
{
	const struct lfs_options *o = fs->opt;
	*copy = NULL;
	if (!acl_is_acl_name(name) || !acl_ids_mapped(&o->uidmap, &o->gidmap))
		return 0;
	if (!(*copy = malloc(size ? size : 1)))
		return -ENOMEM;
	memcpy(*copy, *value, size);
	if (acl_map_ids(*copy, size, &o->uidmap, &o->gidmap, false) != 0)
		return -EINVAL;
	*value = *copy;
	return 0;
}

/*
 * Whether this is the kernel killing the capabilities of an append-only
 * or immutable file on a write.  It removes them past those flags on a
 * local filesystem (its killpriv asks no flags), but the FUSE client asks
 * it of us as a REMOVEXATTR, which the upper file's flags refuse, and the
 * write failed with EPERM.  A `setcap -r` is refused for the flags; the
 * kernel asks the killing only of a file open for writing, and a
 * removal of capabilities from a protected file held open for writing
 * is told from it by nothing.  The FUSE client asks it before a
 * truncate or chown too, which the flags then refuse: caps_killed.h
 * puts the capabilities back.
 */
static bool kills_caps_of_protected(struct lfs *fs, struct node *n,
				    const char *name)
{
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	return strcmp(name, XATTR_CAPS) == 0 && S_ISREG(n->mode) && e &&
	       __atomic_load_n(&e->write_files, __ATOMIC_RELAXED) > 0 &&
	       fileattr_protected(fs, n) < 0;
}

/* The value of capabilities removed, for caps_killed_note. */
struct removed_caps {
	ssize_t len;
	char value[XATTR_CAPS_MAX];
};

/* fileattr_lifted_change: the capabilities of the file open as fd,
 * saved in *arg (a struct removed_caps). */
static int remove_caps(int dirfd, const char *name, int fd, void *arg)
{
	(void)dirfd;
	(void)name;
	struct removed_caps *saved = arg;
	if (fd < 0)
		return -EPERM;
	saved->len = fgetxattr(fd, XATTR_CAPS, saved->value,
			       sizeof(saved->value));
	if (saved->len < 0)
		return -errno;
	return fremovexattr(fd, XATTR_CAPS) < 0 ? -errno : 0;
}

static void change_xattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags,
			 bool remove)
{
	struct lfs *fs = lfs_from_req(req);
	struct node *n = node_from_ino(fs, ino);
	struct real_file rf = { .fd = -1, .dfd = -1 };
	node_ref(n);
	bool kill_sgid = acl_kills_sgid(fs, req, n, name);
	int r = change_prepare(fs, n, name, remove && !kill_sgid);
	if (r == 0)
		r = real_path_open(fs, n, fs->upper, &rf);
	/* Capabilities change between page-cache writes (privs_keep.h). */
	pthread_mutex_t *caps_lock = caps_change_lock(n, name);
	privs_lock(caps_lock);
	char *disk_acl = NULL;
	if (r == 0 && !remove)
		r = acl_to_disk(fs, name, &value, size, &disk_acl);
	if (r == 0) {
		int rr = remove ? removexattr(rf.path, name)
				: setxattr(rf.path, name, value, size, flags);
		r = rr < 0 ? -errno : 0;
	}
	if (r == -EPERM && remove && kills_caps_of_protected(fs, n, name)) {
		struct removed_caps saved;
		r = fileattr_lifted_change(fs, n, remove_caps, &saved);
		/* None to remove: not the kernel's killing, which asks only
		 * for capabilities it saw; the flag refuses it first. */
		if (r == -ENODATA)
			r = -EPERM;
		/* Put back if the change it was for is refused. */
		if (r == 0)
			caps_killed_note(n, fuse_req_ctx(req)->pid,
					 saved.value, saved.len);
	} else if (r == 0 && caps_lock) {
		caps_killed_forget(n);
	}
	free(disk_acl);
	if (r == 0 && kill_sgid) {
		/* Not between a page-cache write's saving of the set-id bits
		 * and its putting them back (privs_keep.h).  (An ACL's name:
		 * caps_lock is not held.) */
		pthread_mutex_t *lock = mode_change_lock(n);
		privs_lock(lock);
		r = drop_sgid_at(rf.path);
		privs_unlock(lock);
	}
	/* The mode the upper filesystem derived from a new access ACL,
	 * and the bit it dropped, go into the override, which the view
	 * shows. */
	if (r == 0 && override_xattr_name(fs) && (!remove || kill_sgid) &&
	    strcmp(name, XATTR_ACL_ACCESS) == 0)
		r = override_take_acl_mode(fs, rf.fd, !remove,
					   kill_sgid ? S_ISGID : 0);
	/* Whatever happened, the file's xattrs must be asked again (and
	 * whether a directory hands down a default ACL, copy_up.c). */
	__atomic_add_fetch(&xattr_generation, 1, __ATOMIC_ACQ_REL);
	node_clear_flag(n, N_NOXATTR | N_HASXATTR | N_DEFACL_KNOWN | N_DEFACL);
	privs_unlock(caps_lock);
	real_file_close(&rf);
	node_unref(fs, n);
	fuse_reply_err(req, -r);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	change_xattr(req, ino, name, value, size, flags, false);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	change_xattr(req, ino, name, NULL, 0, 0, true);
}
