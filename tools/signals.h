/*
 * Ctrl-C and termination during a long import or export: the handler only
 * sets a flag; the loops that write check it, stop, and remove what they
 * had half-written, so an interrupted run leaves nothing behind.
 */
#ifndef LT_SIGNALS_H
#define LT_SIGNALS_H

#include <stdbool.h>

void signals_install(void);
/* True once SIGINT, SIGTERM or SIGHUP arrived. */
bool signals_interrupted(void);

#endif
