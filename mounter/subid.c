#include "subid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_common.h"
#include "strfmt.h"

static int parse_ulong(const char *s, size_t n, unsigned long *out)
{
	if (n == 0 || n > 10)
		return -EINVAL;
	unsigned long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 0xffffffffUL)
		return -EINVAL;
	*out = v;
	return 0;
}

int subid_find_in(const char *text, size_t len, const char *user, uid_t uid,
		  unsigned long *start, unsigned long *count)
{
	char uidstr[16];
	lr_fmt(uidstr, sizeof(uidstr), "%u", (unsigned)uid);
	size_t pos = 0;
	while (pos < len) {
		const char *l = text + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) : len - pos;
		pos += n + 1;
		const char *c1 = memchr(l, ':', n);
		const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - l))
				    : NULL;
		if (!c2 || l[0] == '#')
			continue;
		size_t ol = (size_t)(c1 - l);
		bool match = (user && ol == strlen(user) &&
			      memcmp(l, user, ol) == 0) ||
			     (ol == strlen(uidstr) && memcmp(l, uidstr, ol) == 0);
		if (!match)
			continue;
		unsigned long s, c;
		size_t cl = n - (size_t)(c2 + 1 - l);
		while (cl > 0 && (c2[cl] == '\r' || c2[cl] == ' '))
			cl--;
		if (parse_ulong(c1 + 1, (size_t)(c2 - c1 - 1), &s) < 0 ||
		    parse_ulong(c2 + 1, cl, &c) < 0 || c == 0)
			continue;
		*start = s;
		*count = c;
		return 0;
	}
	return -ENOENT;
}

int subid_find(const char *path, const char *user, uid_t uid,
	       unsigned long *start, unsigned long *count)
{
	char *text;
	size_t len;
	int r = lf_read_file_at(AT_FDCWD, path, &text, &len);
	if (r < 0)
		return -ENOENT;
	r = subid_find_in(text, len, user, uid, start, count);
	free(text);
	return r;
}
