/*
 * snprintf for paths and messages.  The compiler's truncation analysis
 * flags every bounded path join; this wrapper returns what snprintf
 * returns, so a caller for whom truncation matters compares it with the
 * size, and messages are simply cut at the buffer's end.
 */
#ifndef LR_STRFMT_H
#define LR_STRFMT_H

#include <stddef.h>

int lr_fmt(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
