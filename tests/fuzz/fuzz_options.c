/* Fuzz target: the command line (argv items separated by NUL bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	char *argv[64];
	int argc = 0;
	argv[argc++] = "layerfs";
	for (char *p = buf; p < buf + size && argc < 63; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	struct lfs_options o;
	char err[256];
	if (lfs_options_parse(argc, argv, &o, err, sizeof(err)) == 0 &&
	    !o.show_help && !o.show_version) {
		/* A successful parse is complete and consistent. */
		if (o.nlower == 0 || !o.mountpoint || (!o.upper != !o.work))
			abort();
		for (size_t i = 0; i < o.nlower; i++)
			if (!o.lower[i] || !o.lower[i][0])
				abort();
	} else if (!o.show_help && !o.show_version && !err[0]) {
		abort(); /* a refusal always says why */
	}
	lfs_options_free(&o);
	free(buf);
	return 0;
}
