#include "sibling_program.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strfmt.h"

int lr_find_program(const char *name, char *buf, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			lr_fmt(buf, size, "%s/%s", self, name);
			if (access(buf, X_OK) == 0)
				return 0;
		}
	}
	const char *path = getenv("PATH");
	char dirs[4096];
	lr_fmt(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
	char *save;
	for (char *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		lr_fmt(buf, size, "%s/%s", d, name);
		/* Relative PATH entries would depend on the working dir. */
		if (d[0] == '/' && access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}
