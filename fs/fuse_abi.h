/*
 * The parts of the kernel's FUSE ABI (include/uapi/linux/fuse.h) that
 * libfuse 3.14's headers do not have: passthrough (7.40) and FUSE over
 * io_uring (7.42), plus the two message headers, which libfuse keeps
 * private.  Offsets are written out because the kernel's structs are not
 * in the headers this project builds against.
 */
#ifndef LFS_FUSE_ABI_H
#define LFS_FUSE_ABI_H

#include <stdint.h>
#include <sys/ioctl.h>

/* fuse_in_header and fuse_out_header (unchanged since 7.0). */
struct lfs_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};
struct lfs_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

#define LFS_FUSE_INIT 26
#define LFS_FUSE_CREATE 35
#define LFS_FUSE_TMPFILE 51 /* Linux 6.1; unknown to libfuse 3.14 */

/* The high word of the INIT flags (flags2). */
#define LFS_FLAGS2_PASSTHROUGH (1u << 5)  /* FUSE_PASSTHROUGH >> 32 */
#define LFS_FLAGS2_OVER_IO_URING (1u << 9) /* FUSE_OVER_IO_URING >> 32 */

/* fuse_init_in: major, minor, max_readahead, flags, flags2 */
#define LFS_INIT_IN_FLAGS2 16
/* fuse_init_out: max_write at 20, max_pages (16 bits) at 28, flags2 at
 * 32, max_stack_depth at 36 */
#define LFS_INIT_OUT_MAX_WRITE 20
#define LFS_INIT_OUT_MAX_PAGES 28
#define LFS_INIT_OUT_FLAGS2 32
#define LFS_INIT_OUT_STACK_DEPTH 36
#define LFS_INIT_OUT_MIN 40

/* fuse_open_out: fh, open_flags at 8, backing_id at 12 */
#define LFS_OPEN_OUT_SIZE 16
#define LFS_FOPEN_PASSTHROUGH (1u << 7)

struct lfs_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
/* A second descriptor on the connection of the one given (dev_spin.h). */
#define LFS_DEV_IOC_CLONE _IOR(229, 0, uint32_t)
#define LFS_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct lfs_backing_map)
#define LFS_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* ---- FUSE over io_uring ---- */

/* What the kernel writes for each request into the registered header
 * buffer; the reply's header goes back in in_out. */
struct lfs_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;  /* echoed in the commit */
	uint32_t payload_sz; /* bytes in the payload buffer, both ways */
	uint32_t padding;
	uint64_t reserved;
};
struct lfs_uring_req_header {
	char in_out[128]; /* fuse_in_header, then fuse_out_header */
	char op_in[128];  /* the opcode's own header (fuse_open_in, ...) */
	struct lfs_uring_ent_in_out ring_ent_in_out;
};

/* cmd_op of the IORING_OP_URING_CMD submissions on /dev/fuse. */
#define LFS_URING_CMD_REGISTER 1
#define LFS_URING_CMD_COMMIT_AND_FETCH 2

/* In the command area of a 128-byte submission entry. */
struct lfs_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

#endif
