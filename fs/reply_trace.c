/* Error replies, traced to stderr (reply_trace.h). */
#include "reply_trace.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_MAX_LINES 256

static bool tracing;
static atomic_uint lines_written;

/* The request a worker serves: libfuse's workers and the ring workers
 * answer a request on the thread that received it. */
static _Thread_local struct lfs_in_header serving;

/* The names of the opcodes of <linux/fuse.h>, by number. */
static const char *const opcode_names[] = {
	[1] = "LOOKUP", [2] = "FORGET", [3] = "GETATTR", [4] = "SETATTR",
	[5] = "READLINK", [6] = "SYMLINK", [8] = "MKNOD", [9] = "MKDIR",
	[10] = "UNLINK", [11] = "RMDIR", [12] = "RENAME", [13] = "LINK",
	[14] = "OPEN", [15] = "READ", [16] = "WRITE", [17] = "STATFS",
	[18] = "RELEASE", [20] = "FSYNC", [21] = "SETXATTR",
	[22] = "GETXATTR", [23] = "LISTXATTR", [24] = "REMOVEXATTR",
	[25] = "FLUSH", [26] = "INIT", [27] = "OPENDIR", [28] = "READDIR",
	[29] = "RELEASEDIR", [30] = "FSYNCDIR", [31] = "GETLK",
	[32] = "SETLK", [33] = "SETLKW", [34] = "ACCESS", [35] = "CREATE",
	[36] = "INTERRUPT", [37] = "BMAP", [38] = "DESTROY", [39] = "IOCTL",
	[40] = "POLL", [41] = "NOTIFY_REPLY", [42] = "BATCH_FORGET",
	[43] = "FALLOCATE", [44] = "READDIRPLUS", [45] = "RENAME2",
	[46] = "LSEEK", [47] = "COPY_FILE_RANGE", [48] = "SETUPMAPPING",
	[49] = "REMOVEMAPPING", [50] = "SYNCFS", [51] = "TMPFILE",
	[52] = "STATX",
};

void reply_trace_init(void)
{
	const char *v = getenv("LFS_TRACE_ERRORS");
	tracing = v && *v && strcmp(v, "0") != 0;
}

void reply_trace_request(const struct lfs_in_header *in)
{
	if (tracing)
		serving = *in;
}

static bool routine(int err)
{
	switch (err) {
	case ENOENT: case ENODATA: case ENOSYS: case ERANGE: case ENOTTY:
	case EOPNOTSUPP: case EINTR:
		return true;
	}
	return false;
}

static const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);
	return name ? name : "an unknown errno";
}

void reply_trace_reply(const struct lfs_out_header *out)
{
	if (!tracing || out->error >= 0 || routine(-out->error))
		return;
	unsigned n = atomic_fetch_add(&lines_written, 1);
	if (n > TRACE_MAX_LINES)
		return;
	if (n == TRACE_MAX_LINES) {
		fprintf(stderr, "layerfs: more error replies, not traced\n");
		return;
	}
	if (out->unique != serving.unique) {
		fprintf(stderr, "layerfs: request %llu answered %s (%s)\n",
			(unsigned long long)out->unique,
			errno_name(-out->error), strerror(-out->error));
		return;
	}
	uint32_t op = serving.opcode;
	const char *name = op < sizeof(opcode_names) / sizeof(*opcode_names)
				   ? opcode_names[op] : NULL;
	char unknown[24];
	if (!name) {
		snprintf(unknown, sizeof(unknown), "opcode %u", op);
		name = unknown;
	}
	fprintf(stderr, "layerfs: %s of node %llu for pid %u answered %s (%s)\n",
		name, (unsigned long long)serving.nodeid, serving.pid,
		errno_name(-out->error), strerror(-out->error));
}
