#include "private_xattr.h"

#include <string.h>

static const char *const bookkeeping_prefixes[] = {
	"user.layerfs.",
	"trusted.layerfs.",
	"trusted.overlay.",
	"user.overlay.",
	"user.fuseoverlayfs.",
	"security.fuseoverlayfs.",
	"trusted.fuseoverlayfs.",
	"user.containers.override_",
};

bool lf_xattr_is_bookkeeping(const char *name)
{
	for (size_t i = 0; i < sizeof(bookkeeping_prefixes) /
				       sizeof(bookkeeping_prefixes[0]);
	     i++)
		if (strncmp(name, bookkeeping_prefixes[i],
			    strlen(bookkeeping_prefixes[i])) == 0)
			return true;
	return false;
}
