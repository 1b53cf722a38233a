/*
 * The container's user namespace and its id maps.
 *
 *   identity  (root's default) container ids are host ids: 0 0 4294967295
 *   single    (rootless without helper) the caller is root in the
 *             container and no other id exists; the child writes this
 *             map itself, no setuid helper needed
 *   subid     the caller is root, ids 1..N are the caller's subordinate
 *             range from /etc/subuid and /etc/subgid, written with
 *             newuidmap/newgidmap (root writes them directly)
 *   shared    (rootless) subid's maps in one namespace for all of the
 *             user's containers, kept by a process of its own, so that
 *             only its first start runs the helpers (userns_keeper.h);
 *             for root, subid
 *   auto      identity for root; shared when the helpers and ranges are
 *             there; else single
 */
#ifndef LR_USERNS_H
#define LR_USERNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "state_format.h"

enum userns_mode {
	USERNS_AUTO,
	USERNS_SINGLE,
	USERNS_SUBID,
	USERNS_SHARED, /* asked for; planned as SUBID with .shared */
	USERNS_IDENTITY,
	USERNS_JOINED, /* the namespace of another container */
};

struct idmap_line {
	unsigned long inside, outside, count;
};

struct idmap_plan {
	enum userns_mode mode; /* never AUTO once planned */
	struct idmap_line uid[2], gid[2];
	int nuid, ngid;
	bool self_map; /* the child writes its own map (single) */
	bool helper;   /* newuidmap/newgidmap write it (rootless subid) */
	bool shared;   /* to join the kept namespace (userns_keeper.h) */
	bool kept;     /* joined it: the maps are written already */
};

int userns_parse_mode(const char *s, enum userns_mode *out);
const char *userns_mode_name(enum userns_mode m);

/* Resolves AUTO and checks what the mode needs (helpers, ranges). */
int userns_plan(enum userns_mode want, struct idmap_plan *p, char *err,
		size_t errlen);

/* Writes PID's maps from the parent namespace (identity, subid). */
int userns_write_maps(pid_t pid, const struct idmap_plan *p, char *err,
		      size_t errlen);
/* In the child: writes its own single-id map (setgroups denied). */
int userns_map_self(const struct idmap_plan *p, char *err, size_t errlen);

/* Whether a container uid/gid exists in the plan's maps. */
bool userns_uid_mapped(const struct idmap_plan *p, unsigned long id);
bool userns_gid_mapped(const struct idmap_plan *p, unsigned long id);

/* Explains why clone(CLONE_NEWUSER) failed with E, naming the fix. */
void userns_explain_clone(int e, char *err, size_t errlen);

/* Records the maps in a state (uidmap/gidmap lines) and reads them back,
 * so rm and commit can make a namespace with the same maps. */
int userns_to_state(const struct idmap_plan *p, struct lr_state *st);
int userns_from_state(const struct lr_state *st, struct idmap_plan *p);

/*
 * Enters a new user namespace with the plan's maps, for the calling
 * process itself (before exec of a tool that must see the container's
 * owners: layertool export, a removal of an upper layer).  Uses a
 * helper child for newuidmap.  0 or -errno with err set.
 */
int userns_enter_like(const struct idmap_plan *p, char *err, size_t errlen);

#endif
