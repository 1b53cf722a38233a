#include "mount_spec.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "strfmt.h"
#include "tmpfs.h"

struct fields {
	const char *type, *source, *target, *size, *mode;
	bool ro, copy_up_set, copy_up;
};

static bool is(const char *key, const char *a, const char *b)
{
	return strcmp(key, a) == 0 || (b && strcmp(key, b) == 0);
}

/* "readonly", "readonly=true|false" (and ro); -EINVAL for other values. */
static int flag_value(const char *val, bool *out)
{
	if (!val || strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
		*out = true;
	else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* KEY=VALUE of the spec into F; -EINVAL for one we do not know. */
static int take_value(struct fields *f, const char *key, const char *val)
{
	if (is(key, "type", NULL))
		f->type = val;
	else if (is(key, "source", "src"))
		f->source = val;
	else if (is(key, "target", "destination") || is(key, "dst", NULL))
		f->target = val;
	else if (is(key, "tmpfs-size", NULL))
		f->size = val;
	else if (is(key, "tmpfs-mode", NULL))
		f->mode = val;
	/* What layerrun's binds are; the other propagations are not
	 * offered. */
	else if (!is(key, "bind-propagation", NULL) ||
		 !is(val, "rprivate", "private"))
		return -EINVAL;
	return 0;
}

/* One KEY[=VALUE] of the spec; -EINVAL with the message written. */
static int take(struct fields *f, char *kv, const char *spec, char *err,
		size_t errlen)
{
	char *val = strchr(kv, '=');
	if (val)
		*val++ = 0;
	int r;
	if (is(kv, "readonly", "ro")) {
		r = flag_value(val, &f->ro);
	} else if (!val && is(kv, "tmpcopyup", "notmpcopyup")) {
		f->copy_up_set = true;
		f->copy_up = kv[0] == 't';
		r = 0;
	} else {
		r = val ? take_value(f, kv, val) : -EINVAL;
	}
	if (r < 0)
		lr_fmt(err, errlen,
		       "mount '%s': unknown or unsupported '%s%s%s' (type=, "
		       "source=, target=, readonly, tmpfs-size=, tmpfs-mode=, "
		       "[no]tmpcopyup)",
		       spec, kv, val ? "=" : "", val ? val : "");
	return r;
}

static int as_tmpfs(const char *what, const struct fields *f,
		    struct volume *v, char *err, size_t errlen)
{
	char opts[256];
	int n = lr_fmt(opts, sizeof(opts), "%s%s%s%s%s%s",
		       f->size ? ",size=" : "", f->size ? f->size : "",
		       f->mode ? ",mode=" : "", f->mode ? f->mode : "",
		       f->ro ? ",ro" : "",
		       !f->copy_up_set ? ""
		       : f->copy_up	 ? ",tmpcopyup"
					 : ",notmpcopyup");
	if (n < 0 || (size_t)n >= sizeof(opts)) {
		lr_fmt(err, errlen, "%s: options too long", what);
		return -EINVAL;
	}
	return tmpfs_from(what, f->target, opts, v, err, errlen);
}

int mount_spec_parse(const char *spec, struct volume *v, char *err,
		     size_t errlen)
{
	memset(v, 0, sizeof(*v));
	char *copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	struct fields f = { 0 };
	int r = 0;
	char *save = NULL;
	for (char *kv = strtok_r(copy, ",", &save); r == 0 && kv;
	     kv = strtok_r(NULL, ",", &save))
		r = take(&f, kv, spec, err, errlen);
	char what[PATH_MAX + 16];
	lr_fmt(what, sizeof(what), "mount '%s'", spec);
	bool bind = f.type && strcmp(f.type, "bind") == 0;
	bool tmpfs = f.type && strcmp(f.type, "tmpfs") == 0;
	if (r < 0) {
		/* the message is written */
	} else if (!bind && !tmpfs) {
		lr_fmt(err, errlen,
		       "%s: type=bind or type=tmpfs (no named volumes)", what);
		r = -EINVAL;
	} else if (!f.target || (bind != !!f.source)) {
		lr_fmt(err, errlen, "%s: %s", what,
		       !f.target ? "no target=" :
		       bind ? "no source=" : "a tmpfs takes no source=");
		r = -EINVAL;
	} else if (bind && (f.size || f.mode || f.copy_up_set)) {
		lr_fmt(err, errlen, "%s: tmpfs options on a bind", what);
		r = -EINVAL;
	} else {
		r = bind ? volume_bind(what, f.source, f.target, f.ro, v, err,
				       errlen)
			 : as_tmpfs(what, &f, v, err, errlen);
	}
	free(copy);
	return r;
}
