#include "redirect_value.h"

#include <limits.h>
#include <string.h>

static bool dot_or_dotdot(const char *c, size_t len)
{
	return (len == 1 && c[0] == '.') ||
	       (len == 2 && c[0] == '.' && c[1] == '.');
}

bool redirect_path_ok(const char *v)
{
	if (v[0] != '/')
		return false;
	for (const char *c = v; *c == '/';) {
		c++;
		size_t len = strcspn(c, "/");
		if (len == 0 || len > NAME_MAX || dot_or_dotdot(c, len))
			return false;
		c += len;
	}
	return true;
}

bool redirect_kernel_value_ok(const char *v)
{
	if (v[0] == '/')
		return redirect_path_ok(v);
	size_t len = strlen(v);
	return len && len <= NAME_MAX && !strchr(v, '/') &&
	       !dot_or_dotdot(v, len);
}
