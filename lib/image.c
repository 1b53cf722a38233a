/*
 * Reading an image directory (docs/image-format.md) with json-c.
 *
 * The image directory is the user's own (written by layertool), so its
 * layers/N symlinks are followed; what is checked is that the documents
 * are well formed and every layer is a directory, so a launcher never
 * mounts half an image.
 */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_common.h"

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static json_object *member(json_object *o, const char *key, json_type type)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

static const char *member_str(json_object *o, const char *key)
{
	json_object *v = member(o, key, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

/* Parses dir/name as JSON; the whole text must be one document. */
static int load_json(int dirfd, const char *dir, const char *name,
		     json_object **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int r = lf_read_file_at(dirfd, name, &text, &len);
	if (r < 0)
		return fail(err, errlen, r, "image '%s': cannot read %s: %s",
			    dir, name, strerror(-r));
	json_tokener *tok = json_tokener_new();
	if (!tok) {
		free(text);
		return -ENOMEM;
	}
	json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	bool trailing = false;
	for (size_t i = end; o && i < len; i++)
		if (!strchr(" \t\r\n", text[i]))
			trailing = true;
	free(text);
	if (!o || je != json_tokener_success || trailing) {
		json_object_put(o);
		return fail(err, errlen, -EINVAL,
			    "image '%s': %s is not valid JSON", dir, name);
	}
	*out = o;
	return 0;
}

/* A NULL-terminated copy of a JSON array of strings; *out stays NULL when
 * the member is absent or null. */
static int string_list(json_object *parent, const char *key, char ***out,
		       bool empty_if_missing, const char *dir, char *err,
		       size_t errlen)
{
	*out = NULL;
	json_object *v;
	bool present = parent && json_object_object_get_ex(parent, key, &v) &&
		       !json_object_is_type(v, json_type_null);
	if (!present) {
		if (!empty_if_missing)
			return 0;
		*out = calloc(1, sizeof(char *));
		return *out ? 0 : -ENOMEM;
	}
	if (!json_object_is_type(v, json_type_array))
		return fail(err, errlen, -EINVAL,
			    "image '%s': config %s is not a list", dir, key);
	size_t n = json_object_array_length(v);
	char **list = calloc(n + 1, sizeof(char *));
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(v, i);
		if (!json_object_is_type(s, json_type_string)) {
			for (size_t j = 0; j < i; j++)
				free(list[j]);
			free(list);
			return fail(err, errlen, -EINVAL,
				    "image '%s': config %s holds a non-string",
				    dir, key);
		}
		list[i] = strdup(json_object_get_string(s));
		if (!list[i]) {
			for (size_t j = 0; j < i; j++)
				free(list[j]);
			free(list);
			return -ENOMEM;
		}
	}
	*out = list;
	return 0;
}

static int optional_string(json_object *o, const char *key, char **out)
{
	const char *s = member_str(o, key);
	*out = NULL;
	if (!s || !*s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int load_config(int dirfd, struct image *img, char *err, size_t errlen)
{
	json_object *root;
	int r = load_json(dirfd, img->dir, "config.json", &root, err, errlen);
	if (r < 0)
		return r;
	/* The runtime settings live under "config"; an image may lack it. */
	json_object *c = member(root, "config", json_type_object);
	struct image_config *ic = &img->config;
	r = string_list(c, "Env", &ic->env, true, img->dir, err, errlen);
	if (r == 0)
		r = string_list(c, "Entrypoint", &ic->entrypoint, false,
				img->dir, err, errlen);
	if (r == 0)
		r = string_list(c, "Cmd", &ic->cmd, false, img->dir, err,
				errlen);
	if (r == 0)
		r = optional_string(c, "WorkingDir", &ic->working_dir);
	if (r == 0)
		r = optional_string(c, "User", &ic->user);
	if (r == 0)
		r = optional_string(c, "StopSignal", &ic->stop_signal);
	json_object_put(root);
	return r;
}

static bool valid_digest(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* Accepts sha512 diff IDs too, which the image spec allows. */
static bool valid_diff_id(const char *s)
{
	if (valid_digest(s))
		return true;
	if (!s || strncmp(s, "sha512:", 7) != 0 || strlen(s) != 7 + 128)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int load_layers(int dirfd, json_object *index, struct image *img,
		       char *err, size_t errlen)
{
	json_object *layers = member(index, "layers", json_type_array);
	if (!layers)
		return fail(err, errlen, -EINVAL,
			    "image '%s': image.json has no layers list",
			    img->dir);
	size_t n = json_object_array_length(layers);
	img->layers = calloc(n + 1, sizeof(char *));
	img->diff_ids = calloc(n + 1, sizeof(char *));
	if (!img->layers || !img->diff_ids)
		return -ENOMEM;
	/* Set now so image_free releases a partly filled list. */
	img->nlayers = n;
	for (size_t i = 0; i < n; i++) {
		json_object *l = json_object_array_get_idx(layers, i);
		const char *path = member_str(l, "path");
		const char *diff = member_str(l, "diff_id");
		if (!path || !*path || path[0] == '/' || !valid_diff_id(diff))
			return fail(err, errlen, -EINVAL,
				    "image '%s': layer %zu in image.json needs "
				    "a relative path and a diff_id",
				    img->dir, i);
		char *abs = NULL;
		int fd = openat(dirfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			char proc[64];
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			abs = realpath(proc, NULL);
			close(fd);
		}
		if (!abs)
			return fail(err, errlen, errno ? -errno : -ENOENT,
				    "image '%s': layer %zu (%s) is not a "
				    "usable directory: %s",
				    img->dir, i, path,
				    strerror(errno ? errno : ENOENT));
		/* image.json lists bottom first; layerfs wants top first. */
		img->layers[n - 1 - i] = abs;
		img->diff_ids[n - 1 - i] = strdup(diff);
		if (!img->diff_ids[n - 1 - i])
			return -ENOMEM;
	}
	return 0;
}

int image_load(const char *dir, struct image *img, char *err, size_t errlen)
{
	memset(img, 0, sizeof(*img));
	if (err && errlen)
		err[0] = 0;
	img->dir = realpath(dir, NULL);
	if (!img->dir) {
		int e = errno;
		return fail(err, errlen, -e, "image '%s': %s", dir,
			    strerror(e));
	}
	int dirfd = open(img->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		int e = errno;
		image_free(img);
		return fail(err, errlen, -e, "image '%s': %s", dir,
			    strerror(e));
	}
	json_object *index = NULL;
	int r = load_json(dirfd, img->dir, "image.json", &index, err, errlen);
	if (r == -ENOENT)
		r = fail(err, errlen, -ENOENT,
			 "image '%s': no image.json (not an image directory, "
			 "or an unfinished import)",
			 img->dir);
	if (r == 0) {
		json_object *v = member(index, "schemaVersion", json_type_int);
		if (!v || json_object_get_int(v) != 1)
			r = fail(err, errlen, -EINVAL,
				 "image '%s': image.json has an unknown "
				 "schemaVersion",
				 img->dir);
	}
	if (r == 0) {
		const char *cfg = member_str(index, "config");
		if (!valid_digest(cfg))
			r = fail(err, errlen, -EINVAL,
				 "image '%s': image.json has no valid config "
				 "digest",
				 img->dir);
		else if (!(img->config_digest = strdup(cfg)))
			r = -ENOMEM;
	}
	if (r == 0) {
		const char *own = member_str(index, "ownership");
		if (own && strcmp(own, "native") &&
		    strcmp(own, "override_stat"))
			r = fail(err, errlen, -EINVAL,
				 "image '%s': unknown ownership '%s'",
				 img->dir, own);
		img->override_ownership = own && !strcmp(own, "override_stat");
	}
	if (r == 0)
		r = load_layers(dirfd, index, img, err, errlen);
	if (r == 0)
		r = load_config(dirfd, img, err, errlen);
	json_object_put(index);
	close(dirfd);
	if (r < 0) {
		if (r == -ENOMEM && err && errlen && !err[0])
			snprintf(err, errlen, "image '%s': out of memory", dir);
		image_free(img);
	}
	return r;
}

static void free_list(char **l)
{
	if (!l)
		return;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
}

void image_free(struct image *img)
{
	if (!img)
		return;
	free(img->dir);
	for (size_t i = 0; img->layers && i < img->nlayers; i++)
		free(img->layers[i]);
	free(img->layers);
	for (size_t i = 0; img->diff_ids && i < img->nlayers; i++)
		free(img->diff_ids[i]);
	free(img->diff_ids);
	free(img->config_digest);
	free_list(img->config.env);
	free_list(img->config.entrypoint);
	free_list(img->config.cmd);
	free(img->config.working_dir);
	free(img->config.user);
	free(img->config.stop_signal);
	memset(img, 0, sizeof(*img));
}
