/*
 * The rules an archive member name must pass before anything is written
 * for it.  An image archive is untrusted: a member named "../x" or
 * "/etc/x", a symlink whose target climbs out of the layer, or a name
 * longer than the kernel takes is refused, with the reason, before the
 * first byte lands on disk.
 */
#ifndef LT_ENTRY_PATH_H
#define LT_ENTRY_PATH_H

#include <stdbool.h>
#include <stddef.h>

enum ep_verdict {
	EP_OK = 0,
	EP_EMPTY,         /* "" */
	EP_ABSOLUTE,      /* begins with '/' */
	EP_DOTDOT,        /* has a ".." component */
	EP_TOO_LONG,      /* PATH_MAX or more */
	EP_NAME_TOO_LONG, /* a component longer than NAME_MAX */
};

/* A short English reason for a verdict ("has a '..' component"). */
const char *ep_reason(enum ep_verdict v);

/*
 * Normalises member name RAW into OUT: leading "./" and repeated or
 * trailing slashes and "." components are dropped; "." and "./" become ""
 * (the layer root).  Anything that is not EP_OK leaves OUT undefined.
 */
enum ep_verdict ep_normalise(const char *raw, char *out, size_t outsize);

/*
 * Where a symlink at normalised path LINKPATH with target TARGET leads,
 * resolved by name alone from its own directory.  An absolute target is
 * resolved from the layer root, as the container sees it, so it stays
 * inside.
 */
enum ep_link {
	EP_LINK_INSIDE,
	/* Only its leading run of ".." climbs above the root.  In the
	 * container ".." at "/" stays at "/", so the same target with the
	 * excess ".." dropped means the same there, and stays inside the
	 * layer on the host. */
	EP_LINK_CLAMPED,
	/* A ".." after another component climbs above the root.  Not
	 * folded by name: that component may itself be a symlink. */
	EP_LINK_ESCAPES,
};

/* Classifies TARGET; for EP_LINK_CLAMPED *kept is the target to write
 * instead (a suffix of TARGET, or "."), otherwise TARGET. */
enum ep_link ep_symlink_clamp(const char *linkpath, const char *target,
			      const char **kept);

/*
 * Resolves a symlink target by name alone: TARGET relative to the
 * directory of LINKPATH (or to the root when absolute), into a normalised
 * path in OUT.  EP_DOTDOT when it climbs above the root.
 */
enum ep_verdict ep_resolve_link(const char *linkpath, const char *target,
				char *out, size_t outsize);

/* Copies S into BUF for a one-line message, eliding the middle of a
 * name too long for it ("aaaa...zzzz"). */
void ep_shorten(const char *s, char *buf, size_t size);

/* True when NAME (one component) may name a layer entry at all. */
bool ep_component_ok(const char *name);

#endif
