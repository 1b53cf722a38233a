/* Subordinate id ranges (/etc/subuid, /etc/subgid). */
#ifndef LR_SUBID_H
#define LR_SUBID_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Finds the first range of USER (by name) or UID (by number) in TEXT,
 * the content of an /etc/subuid-style file ("owner:start:count" lines,
 * '#' comments).  0 with *start and *count set, or -ENOENT.
 */
int subid_find_in(const char *text, size_t len, const char *user, uid_t uid,
		  unsigned long *start, unsigned long *count);

/* The same on a file; -ENOENT also when the file does not exist. */
int subid_find(const char *path, const char *user, uid_t uid,
	       unsigned long *start, unsigned long *count);

#endif
