#include "gzip_decode.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum gz_state {
	GZ_MEMBER,  /* inside a member */
	GZ_BETWEEN, /* a member ended: another, padding or the end */
	GZ_PADDING, /* zero bytes only, to the end */
	GZ_END,
};

struct gz_decoder {
	z_stream z;
	gz_pull_fn pull;
	void *ctx;
	enum gz_state state;
	bool input_end;
	char why[200];
};

bool gz_is_gzip(const void *buf, size_t n)
{
	const unsigned char *b = buf;
	return n >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8;
}

int gz_decoder_new(gz_pull_fn pull, void *ctx, struct gz_decoder **out)
{
	struct gz_decoder *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	/* 16 + 15: a gzip wrapper (header, CRC-32 and length checked) around
	 * a window of up to 32 KiB. */
	if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
		free(g);
		return -ENOMEM;
	}
	g->pull = pull;
	g->ctx = ctx;
	*out = g;
	return 0;
}

void gz_decoder_free(struct gz_decoder *g)
{
	if (!g)
		return;
	inflateEnd(&g->z);
	free(g);
}

const char *gz_decoder_error(const struct gz_decoder *g)
{
	return g->why;
}

static ssize_t corrupt(struct gz_decoder *g, const char *fmt, const char *s)
{
	snprintf(g->why, sizeof(g->why), fmt, s);
	return -EINVAL;
}

/* More input when what was pulled is used up. */
static int refill(struct gz_decoder *g)
{
	if (g->z.avail_in > 0 || g->input_end)
		return 0;
	const void *buf;
	ssize_t n = g->pull(g->ctx, &buf);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		g->input_end = true;
		return 0;
	}
	g->z.next_in = (Bytef *)buf;
	g->z.avail_in = (uInt)n;
	return 0;
}

/* zlib's words for a damaged member, in ours. */
static ssize_t inflate_failed(struct gz_decoder *g, int zr)
{
	if (zr == Z_MEM_ERROR)
		return -ENOMEM;
	const char *m = g->z.msg ? g->z.msg : "invalid data";
	if (!strcmp(m, "incorrect data check"))
		m = "CRC mismatch";
	else if (!strcmp(m, "incorrect length check"))
		m = "length mismatch";
	return corrupt(g, "corrupt gzip data: %s", m);
}

/* After a member: another one, or zero bytes to the end. */
static ssize_t after_member(struct gz_decoder *g)
{
	if (g->z.avail_in == 0) {
		if (g->input_end)
			g->state = GZ_END;
		return 0;
	}
	if (g->state == GZ_BETWEEN && g->z.next_in[0] == 0x1f) {
		if (inflateReset(&g->z) != Z_OK)
			return corrupt(g, "%s", "gzip decoder failed");
		g->state = GZ_MEMBER;
		return 0;
	}
	while (g->z.avail_in > 0 && g->z.next_in[0] == 0) {
		g->z.next_in++;
		g->z.avail_in--;
	}
	if (g->z.avail_in > 0)
		return corrupt(g, "corrupt gzip data: %s",
			       "other data after the last member");
	g->state = GZ_PADDING;
	return 0;
}

ssize_t gz_decoder_read(struct gz_decoder *g, void *buf, size_t size)
{
	if (size > UINT_MAX)
		size = UINT_MAX;
	size_t got = 0;
	while (got == 0 && g->state != GZ_END) {
		int r = refill(g);
		if (r < 0)
			return r;
		if (g->state != GZ_MEMBER) {
			ssize_t n = after_member(g);
			if (n < 0)
				return n;
			continue;
		}
		if (g->z.avail_in == 0)
			return corrupt(g, "%s",
				       "truncated gzip data: the input ends "
				       "inside a member");
		g->z.next_out = (Bytef *)buf;
		g->z.avail_out = (uInt)size;
		int zr = inflate(&g->z, Z_NO_FLUSH);
		got = size - g->z.avail_out;
		if (zr == Z_STREAM_END)
			g->state = GZ_BETWEEN;
		else if (zr == Z_BUF_ERROR && got == 0 && g->z.avail_in > 0)
			return corrupt(g, "%s", "corrupt gzip data");
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return inflate_failed(g, zr);
	}
	return (ssize_t)got;
}
