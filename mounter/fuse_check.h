/* Is /dev/fuse usable by this user?  Checked before a start, so that a
 * rootless user gets one line naming the fix instead of the raw error
 * layerfs would print from inside the container's namespaces. */
#ifndef LR_FUSE_CHECK_H
#define LR_FUSE_CHECK_H

#include <stddef.h>

/* 0, or -errno with a one-line diagnostic in ERR. */
int fuse_device_check(char *err, size_t errlen);

#endif
