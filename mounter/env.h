/* The command's environment: the image's, then -e, then the defaults
 * every container gets (PATH, HOSTNAME, HOME, TERM with a terminal). */
#ifndef LR_ENV_H
#define LR_ENV_H

#include <stdbool.h>
#include <stddef.h>

struct env {
	char **v; /* NULL-terminated "KEY=VALUE" */
	size_t n;
};

#define ENV_DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Sets "KEY=VALUE" (or "KEY", which takes the launcher's own value and
 * is skipped when unset), replacing an earlier KEY. */
int env_set(struct env *e, const char *kv);
/* Sets KEY only when it is not set yet. */
int env_default(struct env *e, const char *key, const char *value);
const char *env_get(const struct env *e, const char *key);
void env_free(struct env *e);

/*
 * Reads an --env-file as podman and Docker do: one KEY=VALUE (the value
 * verbatim, quotes and all) or KEY per line; blank lines and lines
 * starting with '#' are skipped.  Appends each entry to *v (n entries,
 * kept NULL-terminated).  0, or -errno with one line in err.
 */
int env_file_read(const char *path, char ***v, size_t *n, char *err,
		  size_t errlen);

#endif
