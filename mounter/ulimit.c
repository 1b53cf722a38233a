#include "ulimit.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lf_common.h"
#include "strfmt.h"

static const struct {
	const char *name;
	int resource;
} resources[] = {
	{ "as", RLIMIT_AS },
	{ "core", RLIMIT_CORE },
	{ "cpu", RLIMIT_CPU },
	{ "data", RLIMIT_DATA },
	{ "fsize", RLIMIT_FSIZE },
	{ "locks", RLIMIT_LOCKS },
	{ "memlock", RLIMIT_MEMLOCK },
	{ "msgqueue", RLIMIT_MSGQUEUE },
	{ "nice", RLIMIT_NICE },
	{ "nofile", RLIMIT_NOFILE },
	{ "nproc", RLIMIT_NPROC },
	{ "rss", RLIMIT_RSS },
	{ "rtprio", RLIMIT_RTPRIO },
	{ "rttime", RLIMIT_RTTIME },
	{ "sigpending", RLIMIT_SIGPENDING },
	{ "stack", RLIMIT_STACK },
};

/* A limit: digits, or -1 / unlimited for none. */
static int parse_value(const char *s, size_t len, rlim_t *out)
{
	if ((len == 2 && strncmp(s, "-1", 2) == 0) ||
	    (len == 9 && strncmp(s, "unlimited", 9) == 0)) {
		*out = RLIM_INFINITY;
		return 0;
	}
	if (len == 0 || strspn(s, "0123456789") < len)
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || (size_t)(end - s) != len || v >= RLIM_INFINITY)
		return -EINVAL;
	*out = (rlim_t)v;
	return 0;
}

int ulimit_parse(const char *spec, struct ulimit *out, char *err,
		 size_t errlen)
{
	struct ulimit u = { .resource = -1 };
	const char *eq = strchr(spec, '=');
	for (size_t i = 0; eq && i < LF_ARRAY_SIZE(resources); i++)
		if (strlen(resources[i].name) == (size_t)(eq - spec) &&
		    strncmp(spec, resources[i].name, (size_t)(eq - spec)) == 0)
			u.resource = resources[i].resource;
	if (u.resource < 0) {
		lr_fmt(err, errlen,
		       "--ulimit '%s': expected NAME=SOFT[:HARD], NAME one of "
		       "nofile, nproc, core, memlock, stack, fsize, cpu, as, "
		       "data, locks, msgqueue, nice, rss, rtprio, rttime, "
		       "sigpending",
		       spec);
		return -EINVAL;
	}
	const char *soft = eq + 1, *colon = strchr(soft, ':');
	size_t soft_len = colon ? (size_t)(colon - soft) : strlen(soft);
	int r = parse_value(soft, soft_len, &u.limit.rlim_cur);
	u.limit.rlim_max = u.limit.rlim_cur;
	if (r == 0 && colon)
		r = parse_value(colon + 1, strlen(colon + 1), &u.limit.rlim_max);
	if (r == 0 && u.limit.rlim_cur > u.limit.rlim_max)
		r = -ERANGE;
	if (r < 0) {
		lr_fmt(err, errlen,
		       r == -ERANGE ? "--ulimit '%s': the soft limit is above "
				      "the hard one"
				    : "--ulimit '%s': limits are numbers, -1 or "
				      "unlimited",
		       spec);
		return -EINVAL;
	}
	if (out)
		*out = u;
	return 0;
}

int ulimits_apply(char *const *specs, size_t n, enum ulimit_which which,
		  char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		struct ulimit u;
		int r = ulimit_parse(specs[i], &u, err, errlen);
		if (r < 0)
			return r;
		if ((u.resource == RLIMIT_NOFILE) != (which == ULIMIT_NOFILE))
			continue;
		if (setrlimit(u.resource, &u.limit) == 0)
			continue;
		r = -errno;
		struct rlimit now;
		if (r == -EPERM && getrlimit(u.resource, &now) == 0 &&
		    now.rlim_max != RLIM_INFINITY)
			lr_fmt(err, errlen,
			       "--ulimit '%s': above the hard limit layerrun "
			       "was started with (%llu)",
			       specs[i], (unsigned long long)now.rlim_max);
		else
			lr_fmt(err, errlen, "--ulimit '%s': %s", specs[i],
			       strerror(-r));
		return r;
	}
	return 0;
}
