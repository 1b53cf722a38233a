/* The override_stat record's grammar (override_stat.h). */
#include "override_stat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* Digits in BASE into a value that must fit 32 bits. */
static int take_number(const char **p, const char *end, unsigned base,
		       unsigned long long *out)
{
	const char *s = *p;
	unsigned long long v = 0;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (d >= base)
			return -EINVAL;
		v = v * base + d;
		if (v > 0xffffffffull)
			return -EINVAL;
	}
	if (s == *p)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static bool take_word(const char **p, const char *end, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(end - *p) < n || memcmp(*p, w, n) != 0)
		return false;
	*p += n;
	return true;
}

/* The types named by a word alone, in both directions. */
static const struct {
	const char *word;
	mode_t type;
} simple_types[] = {
	{ "dir", S_IFDIR },	  { "file", S_IFREG },
	{ "symlink", S_IFLNK },	  { "pipe", S_IFIFO },
	{ "socket", S_IFSOCK },
};
#define N_SIMPLE (sizeof(simple_types) / sizeof(simple_types[0]))

int override_stat_parse(const char *value, size_t len,
			struct override_stat *o)
{
	const char *p = value, *end = value + len;
	while (end > p && (end[-1] == 0 || end[-1] == '\n'))
		end--;
	memset(o, 0, sizeof(*o));
	unsigned long long uid, gid, mode;
	if (take_number(&p, end, 10, &uid) < 0 || !take_word(&p, end, ":") ||
	    take_number(&p, end, 10, &gid) < 0 || !take_word(&p, end, ":") ||
	    take_number(&p, end, 8, &mode) < 0)
		return -EINVAL;
	o->uid = (uid_t)uid;
	o->gid = (gid_t)gid;
	o->mode = (mode_t)mode & 07777;
	if (p == end)
		return 0;
	if (!take_word(&p, end, ":"))
		return -EINVAL;
	o->has_type = true;
	for (size_t i = 0; i < N_SIMPLE; i++)
		if (take_word(&p, end, simple_types[i].word)) {
			o->mode |= simple_types[i].type;
			return p == end ? 0 : -EINVAL;
		}
	mode_t type;
	if (take_word(&p, end, "block-"))
		type = S_IFBLK;
	else if (take_word(&p, end, "char-"))
		type = S_IFCHR;
	else
		return -EINVAL;
	unsigned long long maj, min;
	if (take_number(&p, end, 10, &maj) < 0 || !take_word(&p, end, "-") ||
	    take_number(&p, end, 10, &min) < 0 || p != end)
		return -EINVAL;
	o->mode |= type;
	o->rdev = makedev((unsigned)maj, (unsigned)min);
	return 0;
}

int override_stat_format(char *buf, size_t size,
			 const struct override_stat *o)
{
	int n = snprintf(buf, size, "%u:%u:0%o", (unsigned)o->uid,
			 (unsigned)o->gid, (unsigned)(o->mode & 07777));
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (!o->has_type)
		return n;
	mode_t type = o->mode & S_IFMT;
	if (type == S_IFBLK || type == S_IFCHR)
		n += snprintf(buf + n, size - (size_t)n, ":%s-%u-%u",
			      type == S_IFBLK ? "block" : "char",
			      major(o->rdev), minor(o->rdev));
	else
		for (size_t i = 0; i < N_SIMPLE; i++)
			if (simple_types[i].type == type) {
				n += snprintf(buf + n, size - (size_t)n, ":%s",
					      simple_types[i].word);
				break;
			}
	return (size_t)n < size ? n : -ENAMETOOLONG;
}
