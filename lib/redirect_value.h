/*
 * Which redirect values are followed: the renamed-directory marks of
 * layerfs (user.layerfs.redirect) and of kernel overlayfs
 * (overlay.redirect), whose value can come from a hostile layer.
 *
 * Shared by the filesystem and the tools so that a directory layertool
 * exports or diffs through a redirect is one the mount merges through
 * it too, and a value the mount ignores stops layertool as well.
 */
#ifndef LF_REDIRECT_VALUE_H
#define LF_REDIRECT_VALUE_H

#include <stdbool.h>

/*
 * Whether a redirect's path from a layer's root is one to follow: "/"
 * and names one "/" apart, none empty, "." or "..".  Kernel overlayfs
 * refuses "//a" and "/a/" (EINVAL on lookup); layerfs's own redirects
 * are such paths too, and held to the same.
 */
bool redirect_path_ok(const char *v);

/* Whether a redirect kernel overlayfs wrote is one to follow: a name, or
 * a path from the layer's root (redirect_path_ok). */
bool redirect_kernel_value_ok(const char *v);

#endif
