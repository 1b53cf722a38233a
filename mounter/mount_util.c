#include "mount_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lf_common.h"
#include "name_list.h"
#include "strfmt.h"

/* How often a path is resolved again after EAGAIN: each try fails only
 * when a rename or mount lands during its own walk. */
#define IN_ROOT_TRIES 1000

int mu_open_in_root(int rootfd, const char *path, int flags)
{
	while (*path == '/')
		path++;
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	/* RESOLVE_IN_ROOT fails a ".." (from a symlink such as /var/run ->
	 * ../run) with EAGAIN when any rename or mount on the machine ran
	 * meanwhile, since it could not prove the step stayed inside;
	 * openat2(2) leaves the retry to the caller.  On a busy host it
	 * failed most such opens. */
	for (int tries = 1;; tries++) {
		int fd = (int)syscall(SYS_openat2, rootfd, *path ? path : ".",
				      &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno != EAGAIN || tries >= IN_ROOT_TRIES)
			return -errno;
	}
}

/* Symlinks followed while making a path, the kernel's own limit. */
#define MAX_LINK_HOPS 40

/*
 * BUF with its component NAME (a dangling symlink, NAME pointing into
 * BUF) replaced by the link's TARGET and REST appended: an absolute
 * target from the container's root, a relative one from the link's
 * directory, as the kernel resolves it.  0 or -ENAMETOOLONG.
 */
static int splice_link(char *buf, size_t size, const char *name,
		       const char *target, const char *rest)
{
	char out[PATH_MAX];
	int dir_len = target[0] == '/' ? 0 : (int)(name - buf);
	int n = snprintf(out, sizeof(out), "%.*s%s%s%s", dir_len, buf, target,
			 *rest ? "/" : "", rest);
	if (n < 0 || (size_t)n >= sizeof(out) || (size_t)n >= size)
		return -ENAMETOOLONG;
	memcpy(buf, out, (size_t)n + 1);
	return 0;
}

int mu_make_in_root(int rootfd, const char *path, bool file)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	int fd = mu_open_in_root(rootfd, buf, O_PATH);
	if (fd >= 0 || fd != -ENOENT)
		return fd;
	/* Walk from the root: each missing component is created in its
	 * parent, itself opened inside the root, so a symlink met on the
	 * way is followed as the container would and never leaves it.  A
	 * dangling symlink is made to point somewhere: what it names is
	 * made instead (runc and crun do the same), still inside the root. */
	int hops = 0;
	char *p = buf;
	while (*p == '/')
		p++;
	for (;;) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = 0;
		bool last = !slash || !slash[1];
		fd = mu_open_in_root(rootfd, buf, O_PATH);
		if (fd == -ENOENT) {
			char *name = strrchr(buf, '/');
			int parent;
			if (name && name != buf) {
				*name = 0;
				parent = mu_open_in_root(rootfd, buf,
							 O_PATH | O_DIRECTORY);
				*name++ = '/';
			} else {
				parent = mu_open_in_root(rootfd, "/",
							 O_PATH | O_DIRECTORY);
				name = name ? name + 1 : buf;
			}
			if (parent < 0)
				return parent;
			int r;
			if (last && file) {
				int f = openat(parent, name,
					       O_CREAT | O_EXCL | O_WRONLY |
						       O_NOFOLLOW | O_CLOEXEC,
					       0644);
				r = f < 0 ? -errno : 0;
				if (f >= 0)
					close(f);
			} else {
				r = mkdirat(parent, name, 0755) < 0 ? -errno : 0;
			}
			char target[PATH_MAX];
			ssize_t tlen = -1;
			/* EEXIST where the open found nothing: a dangling
			 * symlink (or a name made meanwhile, then opened). */
			if (r == -EEXIST)
				tlen = readlinkat(parent, name, target,
						  sizeof(target) - 1);
			close(parent);
			if (tlen >= 0) {
				target[tlen] = 0;
				if (tlen == 0 || ++hops > MAX_LINK_HOPS)
					return -ELOOP;
				r = splice_link(buf, sizeof(buf), name, target,
						slash ? slash + 1 : "");
				if (r < 0)
					return r;
				p = buf;
				while (*p == '/')
					p++;
				continue;
			}
			if (r < 0 && r != -EEXIST)
				return r;
			fd = mu_open_in_root(rootfd, buf, O_PATH);
		}
		if (fd < 0 || last)
			return fd;
		close(fd);
		*slash = '/';
		p = slash + 1;
	}
}

static void fd_path(int fd, char *buf, size_t size)
{
	lr_fmt(buf, size, "/proc/self/fd/%d", fd);
}

int mu_mount_fs(int targetfd, const char *type, const char *source,
		unsigned long flags, const char *data)
{
	char target[64];
	fd_path(targetfd, target, sizeof(target));
	return mount(source, target, type, flags, data) < 0 ? -errno : 0;
}

int mu_clone_tree(int dirfd, const char *path, bool recursive)
{
	unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
	if (recursive)
		flags |= AT_RECURSIVE;
	if (!*path)
		flags |= AT_EMPTY_PATH;
	int fd = open_tree(dirfd, path, flags);
	return fd < 0 ? -errno : fd;
}

int mu_tree_restrict(int treefd, bool ro, bool nosuid_nodev_noexec)
{
	struct mount_attr attr = { 0 };
	if (ro)
		attr.attr_set |= MOUNT_ATTR_RDONLY;
	if (nosuid_nodev_noexec)
		attr.attr_set |= MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
				 MOUNT_ATTR_NOEXEC;
	if (!attr.attr_set)
		return 0;
	return mount_setattr(treefd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
			     sizeof(attr)) < 0
		       ? -errno
		       : 0;
}

int mu_attach(int treefd, int targetfd)
{
	return move_mount(treefd, "", targetfd, "",
			  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0
		       ? -errno
		       : 0;
}

int mu_bind(int srcfd, int targetfd, bool recursive, bool ro)
{
	int tree = mu_clone_tree(srcfd, "", recursive);
	if (tree < 0)
		return tree;
	int r = mu_tree_restrict(tree, ro, false);
	if (r == 0)
		r = mu_attach(tree, targetfd);
	close(tree);
	return r;
}

bool mu_fs_is(int fd, unsigned long magic)
{
	struct statfs sf;
	return fstatfs(fd, &sf) == 0 && (unsigned long)sf.f_type == magic;
}

void mu_mountinfo_unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] &&
		    p[3]) {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 +
				      (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
}

int mu_mounts_below(const char *top, struct name_list *out)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	size_t toplen = strlen(top);
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	while (r == 0 && getline(&line, &cap, f) > 0) {
		/* id parent major:minor root MOUNT-POINT options ... */
		char *save, *point = strtok_r(line, " \n", &save);
		for (int i = 0; point && i < 4; i++)
			point = strtok_r(NULL, " \n", &save);
		if (!point)
			continue;
		mu_mountinfo_unescape(point);
		if (strncmp(point, top, toplen) == 0 && point[toplen] == '/' &&
		    point[toplen + 1])
			r = name_list_push(out, point + 1);
	}
	free(line);
	fclose(f);
	return r;
}
