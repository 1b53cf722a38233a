#include "entry_path.h"

#include <limits.h>
#include <string.h>

const char *ep_reason(enum ep_verdict v)
{
	switch (v) {
	case EP_OK:
		return "valid";
	case EP_EMPTY:
		return "has an empty name";
	case EP_ABSOLUTE:
		return "has an absolute path";
	case EP_DOTDOT:
		return "has a '..' component";
	case EP_TOO_LONG:
		return "has a path longer than the limit";
	case EP_NAME_TOO_LONG:
		return "has a name component longer than 255 bytes";
	}
	return "is invalid";
}

enum ep_verdict ep_normalise(const char *raw, char *out, size_t outsize)
{
	if (raw == NULL || raw[0] == 0)
		return EP_EMPTY;
	if (raw[0] == '/')
		return EP_ABSOLUTE;
	size_t used = 0;
	const char *p = raw;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return EP_DOTDOT;
		if (!(n == 1 && p[0] == '.')) {
			if (n > NAME_MAX)
				return EP_NAME_TOO_LONG;
			/* The kernel refuses PATH_MAX with its NUL. */
			if (used + (used ? 1 : 0) + n + 1 > PATH_MAX)
				return EP_TOO_LONG;
			if (used + (used ? 1 : 0) + n + 1 > outsize)
				return EP_TOO_LONG;
			if (used)
				out[used++] = '/';
			memcpy(out + used, p, n);
			used += n;
		}
		p += n;
	}
	if (outsize == 0)
		return EP_TOO_LONG;
	out[used] = 0;
	return EP_OK;
}

bool ep_symlink_stays_inside(const char *linkpath, const char *target)
{
	if (target[0] == '/')
		return true;
	/* Depth of the directory holding the link. */
	long depth = 0;
	for (const char *p = linkpath; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchr(p, '/');
		if (!end)
			break; /* the last component is the link itself */
		if (!(end - p == 1 && p[0] == '.'))
			depth++;
		p = end;
	}
	for (const char *p = target; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (!(n == 1 && p[0] == '.')) {
			depth++;
		}
		p += n;
	}
	return true;
}

bool ep_component_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > NAME_MAX)
		return false;
	if (strchr(name, '/'))
		return false;
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

enum ep_verdict ep_resolve_link(const char *linkpath, const char *target,
				char *out, size_t outsize)
{
	char buf[2 * PATH_MAX + 2];
	size_t used = 0;
	if (target[0] != '/') {
		const char *slash = strrchr(linkpath, '/');
		size_t n = slash ? (size_t)(slash - linkpath) : 0;
		if (n >= PATH_MAX)
			return EP_TOO_LONG;
		memcpy(buf, linkpath, n);
		used = n;
	}
	size_t tn = strlen(target);
	if (tn >= PATH_MAX)
		return EP_TOO_LONG;
	buf[used++] = '/';
	memcpy(buf + used, target, tn + 1);
	/* Now fold "." and ".." over the components. */
	size_t o = 0;
	const char *p = buf;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (o == 0)
				return EP_DOTDOT;
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the separator */
		} else if (!(n == 1 && p[0] == '.')) {
			if (n > NAME_MAX)
				return EP_NAME_TOO_LONG;
			if (o + n + 2 > outsize || o + n + 2 > PATH_MAX)
				return EP_TOO_LONG;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	if (outsize == 0)
		return EP_TOO_LONG;
	out[o] = 0;
	return EP_OK;
}

void ep_shorten(const char *s, char *buf, size_t size)
{
	size_t n = strlen(s);
	if (size == 0)
		return;
	if (n < size) {
		memcpy(buf, s, n + 1);
		return;
	}
	if (size < 8) {
		buf[0] = 0;
		return;
	}
	size_t keep = (size - 4) / 2;
	memcpy(buf, s, keep);
	memcpy(buf + keep, "...", 3);
	memcpy(buf + keep + 3, s + n - keep, keep);
	buf[keep * 2 + 3] = 0;
}
