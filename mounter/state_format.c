/*
 * Reading and writing the state file format described in state_format.h.
 * This file does nothing else, so it can be fuzzed on its own.
 */
#include "state_format.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER "layerrun-state"

void lr_state_init(struct lr_state *st)
{
	memset(st, 0, sizeof(*st));
	st->exit_code = -1;
	st->no_new_privs = true;
	st->seccomp = true;
}

void lr_strv_free(struct lr_strv *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int lr_strv_push(struct lr_strv *l, const char *s)
{
	char *copy = strdup(s);
	char **nv = copy ? realloc(l->v, (l->n + 2) * sizeof(*nv)) : NULL;
	if (!nv) {
		free(copy);
		return -ENOMEM;
	}
	nv[l->n++] = copy;
	nv[l->n] = NULL;
	l->v = nv;
	return 0;
}

void lr_state_free(struct lr_state *st)
{
	char **strs[] = { &st->name,   &st->status,  &st->image,
			  &st->upper,  &st->work,    &st->initdir,
			  &st->rootfs, &st->log,     &st->stats,
			  &st->userns, &st->workdir, &st->hostname,
			  &st->user };
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	struct lr_strv *lists[] = { &st->lower, &st->uidmap,  &st->gidmap,
				    &st->env,   &st->argv,    &st->cgroups,
				    &st->caps,  &st->ulimits };
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		lr_strv_free(lists[i]);
	lr_state_init(st);
}

/* ---- fields ---- */

enum ftype { F_STR, F_LIST, F_PID, F_ULL, F_INT, F_LL, F_UID, F_BOOL };

struct field {
	const char *key;
	enum ftype type;
	size_t off;
};

#define FLD(k, t, m) { k, t, offsetof(struct lr_state, m) }
static const struct field fields[] = {
	FLD("name", F_STR, name),
	FLD("status", F_STR, status),
	FLD("pid", F_PID, pid),
	FLD("pid_start", F_ULL, pid_start),
	FLD("monitor_pid", F_PID, monitor_pid),
	FLD("monitor_start", F_ULL, monitor_start),
	FLD("daemon_pid", F_PID, daemon_pid),
	FLD("daemon_start", F_ULL, daemon_start),
	FLD("exit_code", F_INT, exit_code),
	FLD("created", F_LL, created),
	FLD("finished", F_LL, finished),
	FLD("owner", F_UID, owner),
	FLD("image", F_STR, image),
	FLD("lower", F_LIST, lower),
	FLD("upper", F_STR, upper),
	FLD("upper_owned", F_BOOL, upper_owned),
	FLD("work", F_STR, work),
	FLD("initdir", F_STR, initdir),
	FLD("rootfs", F_STR, rootfs),
	FLD("log", F_STR, log),
	FLD("stats", F_STR, stats),
	FLD("userns", F_STR, userns),
	FLD("uidmap", F_LIST, uidmap),
	FLD("gidmap", F_LIST, gidmap),
	FLD("user", F_STR, user),
	FLD("workdir", F_STR, workdir),
	FLD("hostname", F_STR, hostname),
	FLD("env", F_LIST, env),
	FLD("arg", F_LIST, argv),
	FLD("cgroup", F_LIST, cgroups),
	FLD("cap", F_LIST, caps),
	FLD("ulimit", F_LIST, ulimits),
	FLD("no_new_privs", F_BOOL, no_new_privs),
	FLD("seccomp", F_BOOL, seccomp),
	FLD("autoremove", F_BOOL, autoremove),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* ---- writing ---- */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void putf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void put_escaped(struct buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '%')
			putf(b, "%%%02X", *p);
		else
			put(b, (const char *)p, 1);
	}
}

static void put_str(struct buf *b, const char *key, const char *val)
{
	if (!val)
		return;
	put(b, key, strlen(key));
	put(b, "=", 1);
	put_escaped(b, val);
	put(b, "\n", 1);
}

char *lr_state_format(const struct lr_state *st, size_t *len)
{
	struct buf b = { 0 };
	putf(&b, "%s %d\n", HEADER, LR_STATE_VERSION);
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		const char *base = (const char *)st + f->off;
		switch (f->type) {
		case F_STR:
			put_str(&b, f->key, *(char *const *)base);
			break;
		case F_LIST: {
			const struct lr_strv *l = (const struct lr_strv *)base;
			for (size_t j = 0; j < l->n; j++)
				put_str(&b, f->key, l->v[j]);
			break;
		}
		case F_PID:
			putf(&b, "%s=%d\n", f->key, (int)*(const pid_t *)base);
			break;
		case F_ULL:
			putf(&b, "%s=%llu\n", f->key,
			     *(const unsigned long long *)base);
			break;
		case F_INT:
			putf(&b, "%s=%d\n", f->key, *(const int *)base);
			break;
		case F_LL:
			putf(&b, "%s=%lld\n", f->key, *(const long long *)base);
			break;
		case F_UID:
			putf(&b, "%s=%u\n", f->key, (unsigned)*(const uid_t *)base);
			break;
		case F_BOOL:
			putf(&b, "%s=%d\n", f->key, *(const bool *)base ? 1 : 0);
			break;
		}
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	if (len)
		*len = b.len;
	return b.p;
}

/* ---- reading ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes %XX escapes; a NUL byte or a malformed escape is an error. */
static char *unescape(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			if (s[i] == 0) {
				free(out);
				errno = EINVAL;
				return NULL;
			}
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
		if (h < 0 || l < 0 || (h == 0 && l == 0)) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		out[o++] = (char)(h * 16 + l);
		i += 2;
	}
	out[o] = 0;
	return out;
}

static int parse_ll(const char *s, long long min, long long max,
		    long long *out)
{
	if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
		return -EINVAL;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_ull(const char *s, unsigned long long *out)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int set_field(struct lr_state *st, const struct field *f, char *val,
		     unsigned char *seen)
{
	char *base = (char *)st + f->off;
	long long v;
	unsigned long long u;
	if (f->type != F_LIST) {
		size_t idx = (size_t)(f - fields);
		if (seen[idx]) {
			free(val); /* ours on every path (a leak the fuzzer found) */
			return -EEXIST;
		}
		seen[idx] = 1;
	}
	switch (f->type) {
	case F_STR:
		*(char **)base = val;
		return 0;
	case F_LIST: {
		struct lr_strv *l = (struct lr_strv *)base;
		char **nv = realloc(l->v, (l->n + 2) * sizeof(*nv));
		if (!nv) {
			free(val);
			return -ENOMEM;
		}
		nv[l->n++] = val;
		nv[l->n] = NULL;
		l->v = nv;
		return 0;
	}
	case F_PID:
		if (parse_ll(val, 0, INT_MAX, &v) < 0)
			break;
		*(pid_t *)base = (pid_t)v;
		free(val);
		return 0;
	case F_ULL:
		if (parse_ull(val, &u) < 0)
			break;
		*(unsigned long long *)base = u;
		free(val);
		return 0;
	case F_INT:
		if (parse_ll(val, -1, 255, &v) < 0)
			break;
		*(int *)base = (int)v;
		free(val);
		return 0;
	case F_LL:
		if (parse_ll(val, 0, LLONG_MAX, &v) < 0)
			break;
		*(long long *)base = v;
		free(val);
		return 0;
	case F_UID:
		if (parse_ll(val, 0, UINT32_MAX - 1, &v) < 0)
			break;
		*(uid_t *)base = (uid_t)v;
		free(val);
		return 0;
	case F_BOOL:
		if (strcmp(val, "0") && strcmp(val, "1"))
			break;
		*(bool *)base = val[0] == '1';
		free(val);
		return 0;
	}
	free(val);
	return -EINVAL;
}

static int fail(char *err, size_t errlen, unsigned line, const char *fmt,
		const char *what)
{
	char msg[256];
	snprintf(msg, sizeof(msg), fmt, what);
	snprintf(err, errlen, "line %u: %s", line, msg);
	return -EINVAL;
}

int lr_state_parse(const char *text, size_t len, struct lr_state *st,
		   char *err, size_t errlen)
{
	lr_state_init(st);
	unsigned char seen[NFIELDS] = { 0 };
	size_t pos = 0;
	unsigned line = 0;
	int r = 0;
	char key[32];

	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		pos += n + (nl ? 1 : 0);
		line++;
		if (!nl) {
			r = fail(err, errlen, line, "%s", "no newline at the end");
			goto bad;
		}
		if (line == 1) {
			char want[32];
			int wl = snprintf(want, sizeof(want), "%s %d", HEADER,
					  LR_STATE_VERSION);
			if (n != (size_t)wl || memcmp(start, want, n) != 0) {
				r = fail(err, errlen, line, "%s",
					 "not a layerrun-state 1 file");
				goto bad;
			}
			continue;
		}
		const char *eq = memchr(start, '=', n);
		if (!eq || eq == start || (size_t)(eq - start) >= sizeof(key)) {
			r = fail(err, errlen, line, "%s", "expected key=value");
			goto bad;
		}
		size_t kl = (size_t)(eq - start);
		memcpy(key, start, kl);
		key[kl] = 0;
		const struct field *f = NULL;
		for (size_t i = 0; i < NFIELDS; i++)
			if (strcmp(fields[i].key, key) == 0)
				f = &fields[i];
		if (!f)
			continue; /* a newer launcher's field */
		char *val = unescape(eq + 1, n - kl - 1);
		if (!val) {
			r = fail(err, errlen, line, "bad escape in '%s'", key);
			goto bad;
		}
		int e = set_field(st, f, val, seen);
		if (e == -EEXIST) {
			r = fail(err, errlen, line, "'%s' given twice", key);
			goto bad;
		}
		if (e == -ENOMEM) {
			snprintf(err, errlen, "out of memory");
			r = -ENOMEM;
			goto bad;
		}
		if (e < 0) {
			r = fail(err, errlen, line, "bad value for '%s'", key);
			goto bad;
		}
	}
	if (line == 0) {
		snprintf(err, errlen, "empty state file");
		r = -EINVAL;
		goto bad;
	}
	if (!st->name || !st->status) {
		snprintf(err, errlen, "the state names no %s",
			 st->name ? "status" : "container");
		r = -EINVAL;
		goto bad;
	}
	return 0;
bad:
	lr_state_free(st);
	return r;
}
