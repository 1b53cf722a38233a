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

const char *const xattr_redirect_names[3] = {
	XATTR_LFS_REDIRECT, "trusted.overlay.redirect", "user.overlay.redirect",
};
const char *const xattr_metacopy_names[3] = {
	XATTR_LFS_METACOPY, "trusted.overlay.metacopy", "user.overlay.metacopy",
};

char *xattr_redirect_mark_at(int dirfd, const char *name)
{
	for (int i = 0; i < 3; i++) {
		char *mark = NULL;
		size_t len;
		if (fs_xattr_get_at(dirfd, name, xattr_redirect_names[i], &mark,
				    &len) == 0)
			return mark;
	}
	return NULL;
}

char *xattr_redirect_target(const char *value, const char *dir_lpath)
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

const char *const xattr_override_names[3] = {
	XATTR_OVERRIDE_STAT,
	"user.fuseoverlayfs.override_stat",
	"security.fuseoverlayfs.override_stat",
};

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

bool xattr_is_private(const char *name)
{
	return has_prefix(name, XATTR_LFS_PREFIX) ||
	       has_prefix(name, XATTR_LAYERTOOL_PREFIX) ||
	       has_prefix(name, "trusted.overlay.") ||
	       has_prefix(name, "user.overlay.") ||
	       has_prefix(name, "user.fuseoverlayfs.") ||
	       has_prefix(name, "security.fuseoverlayfs.") ||
	       strcmp(name, XATTR_OVERRIDE_STAT) == 0;
}

bool xattr_is_posix_acl(const char *name)
{
	return strcmp(name, XATTR_ACL_ACCESS) == 0 ||
	       strcmp(name, XATTR_ACL_DEFAULT) == 0;
}

bool xattr_is_overlay_opaque(const char *name)
{
	return strcmp(name, "trusted.overlay.opaque") == 0 ||
	       strcmp(name, "user.overlay.opaque") == 0 ||
	       strcmp(name, "user.fuseoverlayfs.opaque") == 0;
}

/* Digits in BASE into a value that must fit 32 bits. */
static int take_number(const char **p, const char *end, unsigned base,
		       unsigned long long *out)
{
	const char *s = *p;
	unsigned long long v = 0;
	if (s == end)
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (d >= base)
			return -EINVAL;
		v = v * base + d;
		if (v > 0xffffffffull)
			return -EINVAL;
	}
	if (s == *p)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static bool take_word(const char **p, const char *end, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(end - *p) < n || memcmp(*p, w, n) != 0)
		return false;
	*p += n;
	return true;
}

int ovr_parse(const char *value, size_t len, struct ovr_stat *o)
{
	const char *p = value, *end = value + len;
	while (end > p && (end[-1] == 0 || end[-1] == '\n'))
		end--;
	memset(o, 0, sizeof(*o));
	unsigned long long uid, gid, mode;
	if (take_number(&p, end, 10, &uid) < 0 || !take_word(&p, end, ":") ||
	    take_number(&p, end, 10, &gid) < 0 || !take_word(&p, end, ":") ||
	    take_number(&p, end, 8, &mode) < 0)
		return -EINVAL;
	o->uid = (uid_t)uid;
	o->gid = (gid_t)gid;
	o->mode = (mode_t)mode & 07777;
	if (p == end)
		return 0;
	if (!take_word(&p, end, ":"))
		return -EINVAL;
	o->has_type = true;
	static const struct {
		const char *word;
		mode_t type;
	} simple[] = {
		{ "dir", S_IFDIR },	  { "file", S_IFREG },
		{ "symlink", S_IFLNK },	  { "pipe", S_IFIFO },
		{ "socket", S_IFSOCK },
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (take_word(&p, end, simple[i].word)) {
			o->mode |= simple[i].type;
			return p == end ? 0 : -EINVAL;
		}
	mode_t type;
	if (take_word(&p, end, "block-"))
		type = S_IFBLK;
	else if (take_word(&p, end, "char-"))
		type = S_IFCHR;
	else
		return -EINVAL;
	unsigned long long maj, min;
	if (take_number(&p, end, 10, &maj) < 0 || !take_word(&p, end, "-") ||
	    take_number(&p, end, 10, &min) < 0 || p != end)
		return -EINVAL;
	o->mode |= type;
	o->rdev = makedev((unsigned)maj, (unsigned)min);
	return 0;
}

int ovr_format(char *buf, size_t size, uid_t uid, gid_t gid, mode_t mode)
{
	int n = snprintf(buf, size, "%u:%u:0%o", (unsigned)uid, (unsigned)gid,
			 (unsigned)(mode & 07777));
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return n;
}

int ovr_load_at(int dirfd, const char *name, struct ovr_stat *o)
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
		r = ovr_parse(v, len, o);
		free(v);
		return r;
	}
	return -ENODATA;
}
