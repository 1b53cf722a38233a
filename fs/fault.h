/*
 * Injected faults, for the crash tests: a crash at one chosen
 * instruction cannot be had by timing a kill from outside.  With
 * LFS_FAULT=NAME in its environment the daemon kills itself (SIGKILL, as
 * a crash or a power cut would stop it) when it reaches the point of that
 * name.  Points are put only where a crash would leave the upper layer in
 * a state worth a test; each costs one getenv when reached.
 *
 *   protect-published  a copy-up of an immutable or append-only file,
 *                      the copy at its name, its flags not yet set
 *   protect-lifted     a file's immutable or append-only flags lifted
 *                      for a change layerfs makes past them
 */
#ifndef LFS_FAULT_H
#define LFS_FAULT_H

void fault_point(const char *name);

#endif
