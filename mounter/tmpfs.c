#include "tmpfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy_tree.h"
#include "lf_common.h"
#include "mount_util.h"
#include "strfmt.h"

/* What podman and Docker give a --tmpfs without options. */
#define TMPFS_DEFAULT_ATTRS \
	(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/* Mount attributes by name: the bits each sets and clears. */
static const struct {
	const char *name;
	unsigned int set, clear;
} attr_opts[] = {
	{ "nosuid", MOUNT_ATTR_NOSUID, 0 },
	{ "suid", 0, MOUNT_ATTR_NOSUID },
	{ "nodev", MOUNT_ATTR_NODEV, 0 },
	{ "dev", 0, MOUNT_ATTR_NODEV },
	{ "noexec", MOUNT_ATTR_NOEXEC, 0 },
	{ "exec", 0, MOUNT_ATTR_NOEXEC },
	{ "noatime", MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME },
	{ "relatime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME },
	{ "strictatime", MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME },
};

/* tmpfs's own options, handed to the kernel as they are. */
static const char *const kernel_keys[] = {
	"size", "nr_blocks", "nr_inodes", "mode", "uid", "gid", "huge",
};

static bool is_kernel_option(const char *opt)
{
	const char *eq = strchr(opt, '=');
	if (!eq || !eq[1])
		return false;
	for (size_t i = 0; i < LF_ARRAY_SIZE(kernel_keys); i++)
		if (strlen(kernel_keys[i]) == (size_t)(eq - opt) &&
		    strncmp(opt, kernel_keys[i], (size_t)(eq - opt)) == 0)
			return true;
	return false;
}

static int append_opt(char **list, const char *opt)
{
	size_t old = *list ? strlen(*list) : 0;
	char *n = realloc(*list, old + strlen(opt) + 2);
	if (!n)
		return -ENOMEM;
	if (old)
		n[old++] = ',';
	strcpy(n + old, opt);
	*list = n;
	return 0;
}

/* One option of OPTS into V; -EINVAL for one we do not know. */
static int apply_opt(struct volume *v, const char *opt)
{
	if (strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0) {
		v->ro = opt[1] == 'o';
		return 0;
	}
	if (strcmp(opt, "tmpcopyup") == 0 || strcmp(opt, "notmpcopyup") == 0) {
		v->copy_up = opt[0] == 't';
		return 0;
	}
	for (size_t i = 0; i < LF_ARRAY_SIZE(attr_opts); i++) {
		if (strcmp(opt, attr_opts[i].name) == 0) {
			v->attrs = (v->attrs & ~attr_opts[i].clear) |
				   attr_opts[i].set;
			return 0;
		}
	}
	if (is_kernel_option(opt))
		return append_opt(&v->tmpfs_opts, opt);
	return -EINVAL;
}

int tmpfs_from(const char *what, const char *ctr, const char *opts,
	       struct volume *v, char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	v->kind = VOL_TMPFS;
	v->attrs = TMPFS_DEFAULT_ATTRS;
	v->copy_up = true;
	char *copy = strdup(opts ? opts : "");
	if (!copy)
		return -ENOMEM;
	int r = mount_target_parse(what, ctr, &v->ctr, err, errlen);
	char *save = NULL;
	for (char *o = strtok_r(copy, ",", &save); r == 0 && o;
	     o = strtok_r(NULL, ",", &save)) {
		r = apply_opt(v, o);
		if (r == -EINVAL)
			lr_fmt(err, errlen,
			       "%s: unknown option '%s' (ro, rw, [no]suid, "
			       "[no]dev, [no]exec, [no]tmpcopyup, size=, "
			       "nr_inodes=, mode=, uid=, gid=, ...)",
			       what, o);
	}
	free(copy);
	if (r < 0)
		volume_free(v);
	return r;
}

int tmpfs_parse(const char *spec, struct volume *v, char *err, size_t errlen)
{
	char *ctr = strdup(spec);
	if (!ctr)
		return -ENOMEM;
	char *opts = strchr(ctr, ':');
	if (opts)
		*opts++ = 0;
	char what[PATH_MAX + 16];
	lr_fmt(what, sizeof(what), "tmpfs '%s'", spec);
	int r = tmpfs_from(what, ctr, opts, v, err, errlen);
	free(ctr);
	return r;
}

int tmpfs_add_read_only_defaults(struct run_opts *o)
{
	static const struct {
		const char *path, *opts;
	} defaults[] = {
		{ "/run", NULL },
		{ "/tmp", "mode=1777" },
		{ "/var/tmp", "mode=1777" },
	};
	for (size_t i = 0; i < LF_ARRAY_SIZE(defaults); i++) {
		bool taken = false;
		for (size_t j = 0; j < o->nvols; j++)
			taken |= strcmp(o->vols[j].ctr, defaults[i].path) == 0;
		if (taken)
			continue;
		struct volume v = {
			.kind = VOL_TMPFS,
			.ctr = strdup(defaults[i].path),
			.attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
			.copy_up = true,
		};
		if (defaults[i].opts)
			v.tmpfs_opts = strdup(defaults[i].opts);
		if (!v.ctr || (defaults[i].opts && !v.tmpfs_opts) ||
		    volumes_push(o, &v) < 0) {
			volume_free(&v);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Hands each kernel option to the new tmpfs; says whether the mode or
 * owner of its root were among them. */
static int configure(int fs, const char *opts, bool *own_mode,
		     bool *own_owner, const char **bad)
{
	*own_mode = *own_owner = false;
	char *copy = strdup(opts ? opts : "");
	if (!copy)
		return -ENOMEM;
	int r = 0;
	char *save = NULL;
	for (char *o = strtok_r(copy, ",", &save); r == 0 && o;
	     o = strtok_r(NULL, ",", &save)) {
		char *val = strchr(o, '=');
		if (!val)
			continue; /* tmpfs_parse lets none through */
		*val++ = 0;
		*own_mode |= strcmp(o, "mode") == 0;
		*own_owner |= strcmp(o, "uid") == 0 || strcmp(o, "gid") == 0;
		if (fsconfig(fs, FSCONFIG_SET_STRING, o, val, 0) < 0) {
			r = -errno;
			/* Points into opts, which outlives this call. */
			*bad = opts + (o - copy);
		}
	}
	free(copy);
	return r;
}

/* tmpcopyup: the image's files at the target, then the owner and mode
 * of the target itself unless the options chose them. */
static int copy_up(int target, int mnt, bool own_mode, bool own_owner,
		   const char **failed)
{
	int src LF_AUTOCLOSE = openat(target, ".",
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int root LF_AUTOCLOSE = openat(mnt, ".",
				       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	*failed = ".";
	if (src < 0 || root < 0 || fstat(src, &st) < 0)
		return -errno;
	int r = copy_tree(src, root, failed);
	if (r < 0)
		return r;
	if (!own_owner)
		(void)fchown(root, st.st_uid, st.st_gid);
	if (!own_mode && fchmod(root, st.st_mode & 07777) < 0)
		return -errno;
	return 0;
}

int tmpfs_mount(int rootfd, const struct volume *v, char *err, size_t errlen)
{
	int target LF_AUTOCLOSE = mu_make_in_root(rootfd, v->ctr, false);
	struct stat st;
	int e = target < 0		   ? -target
		: fstat(target, &st) < 0 ? errno
		: !S_ISDIR(st.st_mode)   ? ENOTDIR
					   : 0;
	if (e) {
		lr_fmt(err, errlen, "tmpfs target '%s': %s", v->ctr,
		       strerror(e));
		return -e;
	}
	/* Before the copy-up, which would read the container's procfs. */
	if (mu_fs_is(target, PROC_SUPER_MAGIC)) {
		lr_fmt(err, errlen, "tmpfs target '%s': %s", v->ctr,
		       MU_IN_PROC_REASON);
		return -EPERM;
	}
	int fs LF_AUTOCLOSE = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0) {
		lr_fmt(err, errlen, "tmpfs on '%s': %s", v->ctr, strerror(errno));
		return -errno;
	}
	bool own_mode, own_owner;
	const char *bad = NULL;
	int r = configure(fs, v->tmpfs_opts, &own_mode, &own_owner, &bad);
	if (r == 0 && fsconfig(fs, FSCONFIG_SET_STRING, "source", "tmpfs", 0) < 0)
		r = -errno;
	if (r == 0 && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		r = -errno;
	if (r < 0) {
		lr_fmt(err, errlen, "tmpfs on '%s'%s%.*s: %s", v->ctr,
		       bad ? ", option " : "",
		       bad ? (int)strcspn(bad, ",") : 0, bad ? bad : "",
		       strerror(-r));
		return r;
	}
	int mnt LF_AUTOCLOSE = fsmount(fs, FSMOUNT_CLOEXEC, v->attrs);
	if (mnt < 0) {
		lr_fmt(err, errlen, "tmpfs on '%s': %s", v->ctr, strerror(errno));
		return -errno;
	}
	const char *failed = NULL;
	if (v->copy_up &&
	    (r = copy_up(target, mnt, own_mode, own_owner, &failed)) < 0) {
		lr_fmt(err, errlen,
		       "tmpfs on '%s': cannot copy the image's '%s' into it: %s",
		       v->ctr, failed ? failed : ".", strerror(-r));
		return r;
	}
	if ((v->ro && (r = mu_tree_restrict(mnt, true, false)) < 0) ||
	    (r = mu_attach(mnt, target)) < 0) {
		lr_fmt(err, errlen, "tmpfs on '%s': %s", v->ctr, strerror(-r));
		return r;
	}
	return 0;
}
