#include "digest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const algo_names[] = { "sha256", "sha512" };
static const size_t algo_hexlen[] = { 64, 128 };

void digest_init(struct digest_ctx *c, enum digest_algo algo)
{
	c->algo = algo;
	c->bytes = 0;
	if (algo == DIGEST_SHA512)
		sha512_init(&c->u.s512);
	else
		sha256_init(&c->u.s256);
}

void digest_update(struct digest_ctx *c, const void *data, size_t len)
{
	c->bytes += len;
	if (c->algo == DIGEST_SHA512)
		sha512_update(&c->u.s512, len, data);
	else
		sha256_update(&c->u.s256, len, data);
}

void digest_final(struct digest_ctx *c, char out[DIGEST_STR_MAX])
{
	uint8_t raw[SHA512_DIGEST_SIZE];
	size_t n;
	if (c->algo == DIGEST_SHA512) {
		n = SHA512_DIGEST_SIZE;
		sha512_digest(&c->u.s512, n, raw);
	} else {
		n = SHA256_DIGEST_SIZE;
		sha256_digest(&c->u.s256, n, raw);
	}
	static const char hexdig[] = "0123456789abcdef";
	size_t off = (size_t)sprintf(out, "%s:", algo_names[c->algo]);
	for (size_t i = 0; i < n; i++) {
		out[off++] = hexdig[raw[i] >> 4];
		out[off++] = hexdig[raw[i] & 15];
	}
	out[off] = 0;
}

int digest_parse(const char *s, enum digest_algo *algo, const char **hex)
{
	const char *colon = strchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	size_t alen = (size_t)(colon - s);
	int found = -1;
	for (size_t i = 0; i < 2; i++)
		if (strlen(algo_names[i]) == alen &&
		    memcmp(s, algo_names[i], alen) == 0)
			found = (int)i;
	const char *h = colon + 1;
	size_t hlen = strlen(h);
	/* The OCI grammar: algorithm [a-z0-9]+ (separators allowed), the
	 * encoded part [a-zA-Z0-9=_-]+.  Anything outside that is malformed
	 * whatever the algorithm. */
	for (const char *p = s; p < colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '+' || *p == '.' || *p == '_' || *p == '-'))
			return -EINVAL;
	if (hlen == 0)
		return -EINVAL;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '=' || *p == '_' ||
		      *p == '-'))
			return -EINVAL;
	if (found < 0)
		return -ENOTSUP;
	if (hlen != algo_hexlen[found])
		return -EINVAL;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'f') || (*p >= '0' && *p <= '9')))
			return -EINVAL;
	if (algo)
		*algo = (enum digest_algo)found;
	if (hex)
		*hex = h;
	return 0;
}

int digest_fd(int fd, enum digest_algo algo, char out[DIGEST_STR_MAX],
	      uint64_t *size)
{
	struct digest_ctx c;
	digest_init(&c, algo);
	char buf[65536];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		digest_update(&c, buf, (size_t)r);
	}
	if (size)
		*size = c.bytes;
	digest_final(&c, out);
	return 0;
}

void digest_buf(const void *data, size_t len, enum digest_algo algo,
		char out[DIGEST_STR_MAX])
{
	struct digest_ctx c;
	digest_init(&c, algo);
	digest_update(&c, data, len);
	digest_final(&c, out);
}
