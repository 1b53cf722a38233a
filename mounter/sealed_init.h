/*
 * The container's PID 1 (init/pid1.c) is embedded in layerrun and run
 * from a sealed memfd made once per container: /proc/1/exe then names a
 * file nobody can write, instead of the launcher's binary (which a
 * rootless user's container could otherwise overwrite, CVE-2019-5736).
 * The copy costs one memfd_create and a write of the small static
 * program (measured in docs/layerrun.md), no re-exec of layerrun.
 */
#ifndef LR_SEALED_INIT_H
#define LR_SEALED_INIT_H

#include <sys/types.h>

/* A sealed, executable memfd holding the init.  fd or -errno. */
int sealed_init_create(void);

/* Execs the init on MEMFD for the command PID; returns only on failure. */
int sealed_init_exec(int memfd, pid_t pid);

#endif
