/* Injected faults (fault.h). */
#include "fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *kill_at, *pause_at;
static pthread_once_t read_once = PTHREAD_ONCE_INIT;

/* Read once: some points are on paths every copy-up takes. */
static void read_environment(void)
{
	kill_at = getenv("LFS_FAULT");
	pause_at = getenv("LFS_FAULT_PAUSE");
}

/* Whether the comma-separated list names the point. */
static bool listed(const char *list, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = list; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, name, len) == 0 &&
		    (p[len] == ',' || p[len] == '\0'))
			return true;
	}
	return false;
}

void fault_point(const char *name)
{
	pthread_once(&read_once, read_environment);
	if (kill_at && strcmp(kill_at, name) == 0)
		raise(SIGKILL);
	if (pause_at && listed(pause_at, name)) {
		struct timespec second = { 1, 0 };
		nanosleep(&second, NULL);
	}
}
