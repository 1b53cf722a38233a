/*
 * Content digests as OCI writes them: "sha256:<64 lowercase hex>" (and
 * sha512, which the image spec also registers).  The hashing itself is
 * nettle's, the library libarchive already links.
 */
#ifndef LT_DIGEST_H
#define LT_DIGEST_H

#include <nettle/sha2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum digest_algo { DIGEST_SHA256 = 0, DIGEST_SHA512 = 1 };

/* "sha512:" + 128 hex + NUL */
#define DIGEST_STR_MAX (7 + 128 + 1)

struct digest_ctx {
	enum digest_algo algo;
	union {
		struct sha256_ctx s256;
		struct sha512_ctx s512;
	} u;
	uint64_t bytes; /* how much was hashed */
};

void digest_init(struct digest_ctx *c, enum digest_algo algo);
void digest_update(struct digest_ctx *c, const void *data, size_t len);
/* Writes "algo:hex" into out (DIGEST_STR_MAX bytes). */
void digest_final(struct digest_ctx *c, char out[DIGEST_STR_MAX]);

/*
 * Checks that S is a well-formed digest of a supported algorithm
 * ("sha256:" and 64 lowercase hex digits, or sha512 with 128) and tells
 * which.  The hex part is what names a blob on disk, so anything else
 * (upper case, "../", other algorithms) is refused: -EINVAL, or
 * -ENOTSUP for a well-formed digest of an algorithm we do not know.
 */
int digest_parse(const char *s, enum digest_algo *algo, const char **hex);

/* Hashes the whole file open as fd from its current offset. */
int digest_fd(int fd, enum digest_algo algo, char out[DIGEST_STR_MAX],
	      uint64_t *size);
/* Hashes a buffer. */
void digest_buf(const void *data, size_t len, enum digest_algo algo,
		char out[DIGEST_STR_MAX]);

#endif
