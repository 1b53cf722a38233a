/*
 * The container's user: "-u UID[:GID]" or a name as the image's User
 * says it ("name", "name:group", "uid:gid"), looked up in the
 * container's own /etc/passwd and /etc/group (never the host's NSS).
 */
#ifndef LR_USER_LOOKUP_H
#define LR_USER_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ctr_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups from /etc/group */
	size_t ngroups;
	char *home;    /* from /etc/passwd, or "/" */
};

struct passwd_entry {
	char name[256];
	uid_t uid;
	gid_t gid;
	char home[1024];
};

/* Finds a passwd line by NAME, or by UID when NAME is NULL, in TEXT. */
int passwd_find(const char *text, const char *name, uid_t uid,
		struct passwd_entry *out);
/* Finds a group's gid by NAME in TEXT. */
int group_find_gid(const char *text, const char *name, gid_t *gid);
/* Collects the gids of groups listing USER as a member. */
int group_members_of(const char *text, const char *user, gid_t **gids,
		     size_t *n);

/*
 * Resolves SPEC (NULL: root) with the container's files, read below
 * ROOTFD (the container's root).  One line in err on failure.
 */
int user_resolve(int rootfd, const char *spec, struct ctr_user *u, char *err,
		 size_t errlen);
void ctr_user_free(struct ctr_user *u);

#endif
