/*
 * Injected faults, for the crash tests: a crash at one chosen
 * instruction cannot be had by timing a kill from outside.  With
 * LFS_FAULT=NAME in its environment the daemon kills itself (SIGKILL, as
 * a crash or a power cut would stop it) when it reaches the point of that
 * name.  With LFS_FAULT_PAUSE=NAME[,NAME...] the thread that reaches
 * one of them sleeps a second there instead, for a test to make another
 * request in that window.  Points are put only where a crash or a
 * request in between would leave the upper layer or the nodes in a
 * state worth a test.  The environment is read once, at the first point
 * reached: a point then costs two comparisons of a pointer with NULL.
 *
 *   protect-published  a copy-up of an immutable or append-only file,
 *                      the copy at its name, its flags not yet set
 *   protect-lifted     a file's immutable or append-only flags lifted
 *                      for a change layerfs makes past them
 *   index-retiring     an index entry found to record another lower
 *                      file than the one at its number, being taken out
 *                      of the index: its link is still there
 *   index-retired      the same, its link just removed
 *   index-uncounted    a name of an indexed hard link being removed:
 *                      the entry's link count lowered, the name still
 *                      there (layertool fsck puts the count right)
 *   tree-file-copied   a rename copying a directory's whole tree up
 *                      (redirect_dir=off) has just copied one file
 *   copy-up-source-open  a copy-up of a lower file's data, the file
 *                      held and its lower file just opened
 *   unlink-waited      an unlink, done waiting for a copy-up of its file
 *                      under way, nothing changed yet
 */
#ifndef LFS_FAULT_H
#define LFS_FAULT_H

void fault_point(const char *name);

#endif
