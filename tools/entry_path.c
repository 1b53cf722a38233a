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

/* The next component of the path at *p (slashes skipped): its start in
 * *name and length in *n; false at the end. */
static bool next_component(const char **p, const char **name, size_t *n)
{
	while (**p == '/')
		(*p)++;
	if (!**p)
		return false;
	const char *end = strchr(*p, '/');
	*name = *p;
	*n = end ? (size_t)(end - *p) : strlen(*p);
	*p += *n;
	return true;
}

static bool is_dot(const char *c, size_t n)
{
	return n == 1 && c[0] == '.';
}

static bool is_dotdot(const char *c, size_t n)
{
	return n == 2 && c[0] == '.' && c[1] == '.';
}

/* The components of path, "." dropped, joined by single slashes into
 * out.  A ".." takes the component before it off where pop_dotdot, and
 * is refused where not or where there is none to take. */
static enum ep_verdict fold_components(const char *path, bool pop_dotdot,
				       char *out, size_t outsize)
{
	if (outsize == 0)
		return EP_TOO_LONG;
	size_t used = 0, n;
	const char *c;
	while (next_component(&path, &c, &n)) {
		if (is_dot(c, n))
			continue;
		if (is_dotdot(c, n)) {
			if (!pop_dotdot || used == 0)
				return EP_DOTDOT;
			while (used > 0 && out[used - 1] != '/')
				used--;
			if (used > 0)
				used--; /* the separator */
			continue;
		}
		if (n > NAME_MAX)
			return EP_NAME_TOO_LONG;
		/* The kernel refuses PATH_MAX with its NUL. */
		size_t need = used + (used ? 1 : 0) + n + 1;
		if (need > PATH_MAX || need > outsize)
			return EP_TOO_LONG;
		if (used)
			out[used++] = '/';
		memcpy(out + used, c, n);
		used += n;
	}
	out[used] = 0;
	return EP_OK;
}

enum ep_verdict ep_normalise(const char *raw, char *out, size_t outsize)
{
	if (raw == NULL || raw[0] == 0)
		return EP_EMPTY;
	if (raw[0] == '/')
		return EP_ABSOLUTE;
	return fold_components(raw, false, out, outsize);
}

/* Depth of the directory holding the link at LINKPATH: its components
 * but the last, the link itself. */
static long link_dir_depth(const char *linkpath)
{
	long depth = 0;
	const char *p = linkpath, *c = NULL;
	size_t n = 0;
	while (next_component(&p, &c, &n))
		if (!is_dot(c, n))
			depth++;
	if (depth > 0 && !is_dot(c, n))
		depth--;
	return depth;
}

enum ep_link ep_symlink_clamp(const char *linkpath, const char *target,
			      const char **kept)
{
	*kept = target;
	if (target[0] == '/')
		return EP_LINK_INSIDE;
	long depth = link_dir_depth(linkpath);
	/* The leading run of "." and "..", and how far it climbs. */
	const char *rest = target, *c;
	size_t n;
	long climb = 0;
	for (;;) {
		const char *p = rest;
		if (!next_component(&p, &c, &n) ||
		    !(is_dot(c, n) || is_dotdot(c, n)))
			break;
		climb += is_dotdot(c, n);
		rest = p;
	}
	long excess = climb > depth ? climb - depth : 0;
	if (excess > 0) {
		const char *p = target;
		for (long dropped = 0; dropped < excess;)
			if (next_component(&p, &c, &n) && is_dotdot(c, n))
				dropped++;
		while (*p == '/')
			p++;
		*kept = *p ? p : ".";
	}
	depth -= climb - excess;
	for (const char *p = rest; next_component(&p, &c, &n);) {
		if (is_dotdot(c, n)) {
			if (--depth < 0)
				return EP_LINK_ESCAPES;
		} else if (!is_dot(c, n)) {
			depth++;
		}
	}
	return excess > 0 ? EP_LINK_CLAMPED : EP_LINK_INSIDE;
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
	return fold_components(buf, true, out, outsize);
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
