/*
 * Finding the project's other programs (layerfs, layertool): next to
 * layerrun's own binary first, so an unpacked build tree or a DESTDIR
 * install uses its own copies, then in PATH.
 */
#ifndef LR_SIBLING_PROGRAM_H
#define LR_SIBLING_PROGRAM_H

#include <stddef.h>

/* The absolute path of program `name` in buf; 0, or -ENOENT. */
int lr_find_program(const char *name, char *buf, size_t size);

#endif
