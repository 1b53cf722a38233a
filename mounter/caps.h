/*
 * Capabilities: the set Docker gives a container by default, changed by
 * --cap-drop and --cap-add, as a bit mask.  libcap parses the names.
 */
#ifndef LR_CAPS_H
#define LR_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "state_format.h"

/* Docker's default set. */
uint64_t caps_default(void);

/*
 * DEFAULT minus DROP plus ADD; "ALL" in either list means every
 * capability.  Names are case-insensitive, with or without "CAP_".
 */
int caps_resolve(char *const *add, size_t nadd, char *const *drop,
		 size_t ndrop, uint64_t *out, char *err, size_t errlen);

/* Bit of one capability name, -EINVAL when unknown. */
int caps_parse_name(const char *name, int *cap);

/* Lowercase names without "cap_", for the state file, and back. */
int caps_to_names(uint64_t set, struct lr_strv *names);
int caps_from_names(const struct lr_strv *names, uint64_t *set);

/*
 * Drops everything outside KEEP from the bounding set and clears the
 * ambient and inheritable sets.  Needs CAP_SETPCAP.
 */
int caps_limit_bounding(uint64_t keep);
/* Sets the permitted and effective sets to KEEP (root in the container). */
int caps_set_process(uint64_t keep);

#endif
