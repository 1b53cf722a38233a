#include "volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_common.h"
#include "mount_util.h"
#include "strfmt.h"
#include "tmpfs.h"

static int mount_one(int rootfd, const struct volume *v, char *err,
		     size_t errlen)
{
	int src LF_AUTOCLOSE = open(v->host, O_PATH | O_CLOEXEC);
	struct stat st;
	if (src < 0 || fstat(src, &st) < 0) {
		lr_fmt(err, errlen, "volume '%s': cannot open it: %s",
			 v->host, strerror(errno));
		return -errno;
	}
	bool dir = S_ISDIR(st.st_mode);
	int tree LF_AUTOCLOSE = mu_clone_tree(src, "", true);
	if (tree < 0) {
		lr_fmt(err, errlen, "volume '%s': cannot bind it: %s", v->host,
			 strerror(-tree));
		return tree;
	}
	int r = mu_tree_restrict(tree, v->ro, false);
	if (r < 0) {
		lr_fmt(err, errlen, "volume '%s': cannot make it read-only: %s",
			 v->host, strerror(-r));
		return r;
	}
	int target LF_AUTOCLOSE = mu_make_in_root(rootfd, v->ctr, !dir);
	if (target < 0) {
		lr_fmt(err, errlen, "volume target '%s': %s", v->ctr,
			 strerror(-target));
		return target;
	}
	if (mu_fs_is(target, PROC_SUPER_MAGIC)) {
		lr_fmt(err, errlen, "volume target '%s': %s", v->ctr,
		       MU_IN_PROC_REASON);
		return -EPERM;
	}
	struct stat tst;
	if (fstat(target, &tst) < 0)
		return -errno;
	if (S_ISDIR(tst.st_mode) != dir) {
		lr_fmt(err, errlen,
			 "volume '%s': the container's '%s' is %s",
			 v->host, v->ctr,
			 dir ? "not a directory" : "a directory");
		return -ENOTDIR;
	}
	if ((r = mu_attach(tree, target)) < 0) {
		lr_fmt(err, errlen, "volume '%s' on '%s': %s", v->host, v->ctr,
			 strerror(-r));
		return r;
	}
	return 0;
}

static size_t depth(const char *path)
{
	size_t n = 0;
	for (; *path; path++)
		n += *path == '/';
	return n;
}

int volumes_mount(int rootfd, const struct volume *vols, size_t n, char *err,
		  size_t errlen)
{
	/* Parents before what goes inside them (-v /data --tmpfs
	 * /data/cache, in whatever order given); the order given among
	 * equals. */
	size_t max = 0;
	for (size_t i = 0; i < n; i++)
		max = depth(vols[i].ctr) > max ? depth(vols[i].ctr) : max;
	for (size_t d = 1; d <= max; d++) {
		for (size_t i = 0; i < n; i++) {
			if (depth(vols[i].ctr) != d)
				continue;
			int r = vols[i].kind == VOL_TMPFS
					? tmpfs_mount(rootfd, &vols[i], err, errlen)
					: mount_one(rootfd, &vols[i], err, errlen);
			if (r < 0)
				return r;
		}
	}
	return 0;
}
