#include "env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t keylen(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : strlen(kv);
}

static ssize_t find(const struct env *e, const char *key, size_t kl)
{
	for (size_t i = 0; i < e->n; i++)
		if (keylen(e->v[i]) == kl && strncmp(e->v[i], key, kl) == 0)
			return (ssize_t)i;
	return -1;
}

static int put(struct env *e, char *owned)
{
	if (!owned)
		return -ENOMEM;
	ssize_t i = find(e, owned, keylen(owned));
	if (i >= 0) {
		free(e->v[i]);
		e->v[i] = owned;
		return 0;
	}
	char **nv = realloc(e->v, (e->n + 2) * sizeof(*nv));
	if (!nv) {
		free(owned);
		return -ENOMEM;
	}
	e->v = nv;
	e->v[e->n++] = owned;
	e->v[e->n] = NULL;
	return 0;
}

int env_set(struct env *e, const char *kv)
{
	size_t kl = keylen(kv);
	if (kl == 0)
		return -EINVAL;
	if (kv[kl] == '=')
		return put(e, strdup(kv));
	const char *host = getenv(kv);
	if (!host)
		return 0;
	char *s;
	if (asprintf(&s, "%s=%s", kv, host) < 0)
		return -ENOMEM;
	return put(e, s);
}

int env_default(struct env *e, const char *key, const char *value)
{
	if (find(e, key, strlen(key)) >= 0)
		return 0;
	char *s;
	if (asprintf(&s, "%s=%s", key, value) < 0)
		return -ENOMEM;
	return put(e, s);
}

const char *env_get(const struct env *e, const char *key)
{
	ssize_t i = find(e, key, strlen(key));
	return i >= 0 ? e->v[i] + strlen(key) + 1 : NULL;
}

static int append(char ***v, size_t *n, const char *s)
{
	char *copy = strdup(s);
	char **nv = copy ? realloc(*v, (*n + 2) * sizeof(*nv)) : NULL;
	if (!nv) {
		free(copy);
		return -ENOMEM;
	}
	*v = nv;
	nv[(*n)++] = copy;
	nv[*n] = NULL;
	return 0;
}

int env_file_read(const char *path, char ***v, size_t *n, char *err,
		  size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "--env-file '%s': %s", path,
			 strerror(errno));
		return -errno;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int r = 0;
	for (unsigned lineno = 1; r == 0 && (len = getline(&line, &cap, f)) >= 0;
	     lineno++) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		const char *kv = line + strspn(line, " \t");
		if (!*kv || *kv == '#')
			continue;
		size_t kl = keylen(kv);
		if (kl == 0 || strcspn(kv, " \t") < kl) {
			snprintf(err, errlen,
				 "--env-file '%s' line %u: expected KEY=VALUE "
				 "or KEY, without blanks in KEY",
				 path, lineno);
			r = -EINVAL;
		} else if ((r = append(v, n, kv)) < 0) {
			snprintf(err, errlen, "out of memory");
		}
	}
	if (r == 0 && ferror(f)) {
		r = -EIO;
		snprintf(err, errlen, "--env-file '%s': cannot read it", path);
	}
	free(line);
	fclose(f);
	return r;
}

void env_free(struct env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}
