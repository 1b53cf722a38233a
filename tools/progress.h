/*
 * The one progress line of a long import or export: layers done, bytes
 * and rate, redrawn in place a few times a second.  Only on a terminal;
 * when stderr is a pipe or a file, nothing is printed.
 */
#ifndef LT_PROGRESS_H
#define LT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool enabled;
	const char *verb;  /* "import", "export" */
	unsigned item, items;
	uint64_t bytes;    /* of the whole run */
	uint64_t start_ns, last_ns;
};

void progress_init(struct progress *p, const char *verb, unsigned items);
void progress_item(struct progress *p, unsigned item);
void progress_add(struct progress *p, uint64_t bytes);
/* Clears the line. */
void progress_done(struct progress *p);

/* "12.3 MiB": a size for people.  buf of 32 bytes. */
const char *human_size(uint64_t bytes, char buf[32]);

#endif
