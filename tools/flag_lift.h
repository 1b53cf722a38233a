/*
 * An immutable or append-only flag lifted for one change and put back,
 * for layertool fsck --repair (an index entry keeps the flags of the
 * file it copies, fs/fileattr.c).
 *
 * Between the lift and the put-back the file is without its flag: a
 * signal or a kill there would lose it for good.  So the catchable
 * signals are blocked all along (one that comes is delivered after the
 * flag is back), and, for SIGKILL, a crash or a power cut, the file and
 * its flags are written to a record in the work directory
 * (WORKDIR/fsck-lifted, fsynced, with its directory) before the flag
 * is lifted, and removed once it is back.  The next fsck reads the
 * record first (flag_lift_record_read): --repair puts the flag back.
 *
 * The record is one line, "NAME INO FLAGS": NAME in the index, INO its
 * inode number (another file made under the name since is left alone),
 * FLAGS its flags in hex.  It is written in full before anything is
 * lifted: one cut short lifted nothing.  A record there already (one
 * the last run could not act on) is never overwritten: nothing more is
 * lifted then (-EEXIST).
 */
#ifndef LT_FLAG_LIFT_H
#define LT_FLAG_LIFT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define FLAG_LIFT_RECORD "fsck-lifted"

struct flag_lift {
	int fd;          /* the file lifted; -1: nothing lifted */
	int saved;       /* its flags before */
	int workdir_fd;  /* where the record is */
	sigset_t mask;   /* the signal mask before */
};

/*
 * Lifts the immutable and append-only flags of dirfd/NAME (a regular
 * file; never through a symlink), recording them first in the work
 * directory workdir_fd.  1 lifted (flag_lift_end puts them back), 0
 * nothing to lift (no such flag, or not a file that has flags), -errno
 * (the record cannot be written: nothing lifted).
 */
int flag_lift(int workdir_fd, int dirfd, const char *name,
	      struct flag_lift *l);

/* Puts back what flag_lift lifted (onto the inode, also when NAME was
 * removed meanwhile), removes the record and unblocks the signals.  0,
 * or -errno when the flags could not be put back (the record stays). */
int flag_lift_end(struct flag_lift *l);

/* The record in workdir_fd: 0, -ENOENT (none), -EINVAL (malformed: cut
 * short, nothing was lifted on its word), -errno.  NAME holds no '/'. */
int flag_lift_record_read(int workdir_fd, char *name, size_t size,
			  unsigned long long *ino, int *flags);

/* What the record says of dirfd/NAME: 1 its inode INO lacks one of the
 * FLAGS lifted (put back when PUT_BACK), 0 nothing is missing (NAME
 * gone, another inode there, or the flags on it), -errno. */
int flag_lift_missing(int dirfd, const char *name, unsigned long long ino,
		      int flags, bool put_back);

/* Removes the record (and syncs the work directory).  0 or -errno. */
int flag_lift_record_drop(int workdir_fd);

#endif
