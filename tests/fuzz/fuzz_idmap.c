/* Fuzz target: uid/gid mapping lists.  Accepted maps have no overlap, so
 * every mapped id maps to disk and back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	struct lfs_idmap m = { 0 };
	char err[256];
	if (lfs_idmap_parse(s, &m, err, sizeof(err)) == 0) {
		if (m.n == 0)
			abort();
		for (size_t i = 0; i < m.n; i++) {
			const struct lfs_idmap_entry *e = &m.v[i];
			if (e->len == 0)
				abort();
			uint32_t probes[3] = { e->view, e->view + e->len / 2,
					       e->view + e->len - 1 };
			for (int k = 0; k < 3; k++) {
				uint32_t disk = lfs_idmap_to_disk(&m, probes[k],
								  65534);
				if (disk != e->disk + (probes[k] - e->view))
					abort();
				if (lfs_idmap_to_view(&m, disk, 65534) !=
				    probes[k])
					abort();
			}
		}
	} else if (!err[0]) {
		abort();
	}
	free(m.v);
	free(s);
	return 0;
}
