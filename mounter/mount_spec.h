/*
 * --mount, podman's and Docker's long form of -v and --tmpfs:
 * type=bind,source=HOST,target=CTR[,readonly] and
 * type=tmpfs,target=CTR[,tmpfs-size=N][,tmpfs-mode=M][,readonly]
 * [,notmpcopyup], turned into the volume those would make.
 */
#ifndef LR_MOUNT_SPEC_H
#define LR_MOUNT_SPEC_H

#include <stddef.h>

#include "run_opts.h"

int mount_spec_parse(const char *spec, struct volume *v, char *err,
		     size_t errlen);

#endif
