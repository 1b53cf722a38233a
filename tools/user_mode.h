/*
 * The modes of what layertool makes for its user: an exported OUT.tar,
 * image directories and their files, the layer store.  The user's umask
 * applies to them, as to any program's files.  Layer contents take their
 * modes from the archive or the layer exactly, which is why main()
 * clears the process's umask; user_mode_init() keeps the user's first.
 */
#ifndef LT_USER_MODE_H
#define LT_USER_MODE_H

#include <sys/types.h>

/* Takes the process's umask over and clears it.  Once, in main(). */
void user_mode_init(void);

/* MODE (0666 for a file, 0777 for a directory) less the user's umask. */
mode_t user_mode(mode_t mode);

#endif
