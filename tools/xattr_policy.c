#include "xattr_policy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "entry_path.h"
#include "fsutil.h"
#include "private_xattr.h"
#include "redirect_value.h"

const char *const xattr_redirect_names[3] = {
	XATTR_LFS_REDIRECT, "trusted.overlay.redirect", "user.overlay.redirect",
};
const char *const xattr_metacopy_names[3] = {
	XATTR_LFS_METACOPY, "trusted.overlay.metacopy", "user.overlay.metacopy",
};

char *xattr_redirect_mark_at(int dirfd, const char *name, bool *own)
{
	for (int i = 0; i < 3; i++) {
		char *mark = NULL;
		size_t len;
		if (fs_xattr_get_at(dirfd, name, xattr_redirect_names[i], &mark,
				    &len) == 0) {
			*own = i == 0;
			return mark;
		}
	}
	return NULL;
}

char *xattr_lower_path(const char *value, const char *dir_lpath)
{
	char *raw = value[0] == '/' ? strdup(value) : fs_join(dir_lpath, value);
	if (!raw)
		return NULL;
	char *out = malloc(PATH_MAX);
	if (out && ep_normalise(raw[0] == '/' ? raw + 1 : raw, out, PATH_MAX) !=
			   EP_OK) {
		free(out);
		out = NULL;
	}
	free(raw);
	return out;
}

char *xattr_redirect_target(const char *value, bool own,
			    const char *dir_lpath)
{
	if (!(own ? redirect_path_ok(value) : redirect_kernel_value_ok(value)))
		return NULL;
	return xattr_lower_path(value, dir_lpath);
}

const char *const xattr_override_names[3] = {
	OVERRIDE_STAT_CONTAINERS,
	OVERRIDE_STAT_FUSE_USER,
	OVERRIDE_STAT_PRIVILEGED,
};

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

bool xattr_is_private(const char *name)
{
	return lf_xattr_is_bookkeeping(name) ||
	       has_prefix(name, XATTR_LAYERTOOL_PREFIX);
}

bool xattr_is_posix_acl(const char *name)
{
	return strcmp(name, XATTR_ACL_ACCESS) == 0 ||
	       strcmp(name, XATTR_ACL_DEFAULT) == 0;
}

int ovr_load_at(int dirfd, const char *name, struct override_stat *o)
{
	for (size_t i = 0; i < 3; i++) {
		char *v;
		size_t len;
		int r = fs_xattr_get_at(dirfd, name, xattr_override_names[i],
					&v, &len);
		if (r == -ENODATA || r == -ENOTSUP || r == -EPERM)
			continue;
		if (r < 0)
			return r;
		r = override_stat_parse(v, len, o);
		free(v);
		return r;
	}
	return -ENODATA;
}
