#include "caps.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include "strfmt.h"

static const int docker_default[] = {
	CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,     CAP_FOWNER,
	CAP_MKNOD,  CAP_NET_RAW,      CAP_SETGID,     CAP_SETUID,
	CAP_SETFCAP, CAP_SETPCAP,     CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
	CAP_KILL,   CAP_AUDIT_WRITE,
};

static int last_cap(void)
{
	int n = (int)cap_max_bits() - 1;
	return n > 63 ? 63 : n;
}

uint64_t caps_default(void)
{
	uint64_t s = 0;
	for (size_t i = 0; i < sizeof(docker_default) / sizeof(int); i++)
		s |= 1ULL << docker_default[i];
	return s;
}

int caps_parse_name(const char *name, int *cap)
{
	char buf[64] = "cap_";
	const char *n = name;
	if (strncasecmp(n, "cap_", 4) == 0)
		n += 4;
	if (strlen(n) + 5 > sizeof(buf) || !*n)
		return -EINVAL;
	for (size_t i = 0; n[i]; i++)
		buf[4 + i] = (char)tolower((unsigned char)n[i]);
	buf[4 + strlen(n)] = 0;
	cap_value_t v;
	if (cap_from_name(buf, &v) < 0 || v < 0 || v > last_cap())
		return -EINVAL;
	*cap = v;
	return 0;
}

static int apply(char *const *names, size_t n, uint64_t *set, bool add,
		 char *err, size_t errlen)
{
	uint64_t all = (last_cap() >= 63) ? ~0ULL : ((1ULL << (last_cap() + 1)) - 1);
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(names[i], "ALL") == 0) {
			*set = add ? all : 0;
			continue;
		}
		int c;
		if (caps_parse_name(names[i], &c) < 0) {
			lr_fmt(err, errlen, "--cap-%s: unknown capability '%s'",
				 add ? "add" : "drop", names[i]);
			return -EINVAL;
		}
		if (add)
			*set |= 1ULL << c;
		else
			*set &= ~(1ULL << c);
	}
	return 0;
}

int caps_resolve(char *const *add, size_t nadd, char *const *drop,
		 size_t ndrop, uint64_t *out, char *err, size_t errlen)
{
	uint64_t s = caps_default();
	int r = apply(drop, ndrop, &s, false, err, errlen);
	if (r == 0)
		r = apply(add, nadd, &s, true, err, errlen);
	if (r == 0)
		*out = s;
	return r;
}

int caps_to_names(uint64_t set, struct lr_strv *names)
{
	for (int c = 0; c <= last_cap(); c++) {
		if (!(set & (1ULL << c)))
			continue;
		char *n = cap_to_name(c);
		if (!n)
			return -ENOMEM;
		int r = lr_strv_push(names, strncmp(n, "cap_", 4) == 0 ? n + 4 : n);
		cap_free(n);
		if (r < 0)
			return r;
	}
	return 0;
}

int caps_from_names(const struct lr_strv *names, uint64_t *set)
{
	*set = 0;
	for (size_t i = 0; i < names->n; i++) {
		int c;
		if (caps_parse_name(names->v[i], &c) < 0)
			return -EINVAL;
		*set |= 1ULL << c;
	}
	return 0;
}

int caps_limit_bounding(uint64_t keep)
{
	for (int c = 0; c <= last_cap(); c++) {
		if (keep & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	return 0;
}

int caps_set_process(uint64_t keep)
{
	cap_t c = cap_init(); /* everything clear, inheritable included */
	if (!c)
		return -ENOMEM;
	cap_value_t list[64];
	int n = 0;
	for (int i = 0; i <= last_cap(); i++)
		if (keep & (1ULL << i))
			list[n++] = i;
	int r = 0;
	if (n && (cap_set_flag(c, CAP_PERMITTED, n, list, CAP_SET) < 0 ||
		  cap_set_flag(c, CAP_EFFECTIVE, n, list, CAP_SET) < 0))
		r = -EINVAL;
	if (r == 0 && cap_set_proc(c) < 0)
		r = -errno;
	cap_free(c);
	return r;
}
