/*
 * Where layerrun keeps its containers: `--root DIR` if given, else
 * $XDG_RUNTIME_DIR/layerrun, /run/layerrun for root, and otherwise a
 * private per-user directory ${TMPDIR:-/tmp}/layerrun-UID (as under
 * runuser or su, which leave XDG_RUNTIME_DIR unset or pointing at
 * another user's directory).
 */
#ifndef LR_RUNTIME_DIR_H
#define LR_RUNTIME_DIR_H

#include <stddef.h>

/*
 * Chooses, creates (mode 0700) and opens the state root.  *path gets a
 * malloc'd absolute path, *fd an O_DIRECTORY fd.  A directory that
 * another user owns or could write is refused: someone could plant
 * entries in it.  0 or -errno with one line in err.
 */
int runtime_root_open(const char *override, char **path, int *fd, char *err,
		      size_t errlen);

#endif
