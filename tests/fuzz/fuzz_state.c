/* Fuzz target: layerrun's container state files (mounter/state_format.c),
 * which `ps`, `exec`, `kill` and `rm` read back from a directory the
 * container's owner can write.  A parse either fails with a message or
 * gives a state that formats and parses back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lr_state st, again;
	char err[256];
	err[0] = 0;
	lr_state_init(&st);
	if (lr_state_parse((const char *)data, size, &st, err, sizeof(err)) < 0) {
		if (!err[0] || st.name || st.argv.n)
			abort(); /* a failure says why and leaves nothing */
		lr_state_free(&st);
		return 0;
	}
	size_t len1, len2;
	char *text1 = lr_state_format(&st, &len1);
	if (!text1)
		abort();
	lr_state_init(&again);
	if (lr_state_parse(text1, len1, &again, err, sizeof(err)) < 0)
		abort(); /* what we write, we read */
	char *text2 = lr_state_format(&again, &len2);
	if (!text2 || len1 != len2 || memcmp(text1, text2, len1) != 0)
		abort(); /* and it round-trips */
	free(text1);
	free(text2);
	lr_state_free(&st);
	lr_state_free(&again);
	return 0;
}
