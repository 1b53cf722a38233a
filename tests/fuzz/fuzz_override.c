/* Fuzz target: the override_stat xattr value (read from disk, so it may
 * be anything); what parses must format and parse back the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "override_stat.h"
#include "whiteout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct override_stat o, back;
	if (override_stat_parse((const char *)data, size, &o) == 0) {
		char buf[128];
		int n = override_stat_format(buf, sizeof(buf), &o);
		if (n < 0)
			abort();
		if (override_stat_parse(buf, (size_t)n, &back) != 0)
			abort();
		if (back.uid != o.uid || back.gid != o.gid ||
		    back.has_type != o.has_type ||
		    (back.mode & 07777) != (o.mode & 07777) ||
		    (o.has_type && back.mode != o.mode) ||
		    (o.has_type && (S_ISCHR(o.mode) || S_ISBLK(o.mode)) &&
		     back.rdev != o.rdev))
			abort();
	}
	/* Whiteout naming on the same bytes as a file name. */
	char name[256];
	size_t n = size < 255 ? size : 255;
	memcpy(name, data, n);
	name[n] = 0;
	const char *target = NULL;
	enum wh_kind k = wh_classify_name(name, &target);
	if (k == WH_WHITEOUT) {
		if (!wh_is_reserved(name) || !target || !target[0] ||
		    target != name + WH_PREFIX_LEN)
			abort();
	} else if (k == WH_NONE && wh_is_reserved(name)) {
		abort();
	}
	return 0;
}
