/* Injected faults (fault.h). */
#include "fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void fault_point(const char *name)
{
	const char *want = getenv("LFS_FAULT");
	if (want && strcmp(want, name) == 0)
		raise(SIGKILL);
	want = getenv("LFS_FAULT_PAUSE");
	if (want && strcmp(want, name) == 0) {
		struct timespec second = { 1, 0 };
		nanosleep(&second, NULL);
	}
}
