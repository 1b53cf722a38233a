/*
 * The docker-archive form (`docker save`, `podman save`): manifest.json
 * names a config file and the layer tars by path.  Where a path carries
 * the digest ("<hex>.json", "blobs/sha256/<hex>"), the file is checked
 * against it; the layers are always checked against the config's diff
 * IDs.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry_path.h"
#include "json_util.h"
#include "source.h"

/* The digest a path names, if it names one: malloc'd or NULL. */
static char *digest_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	char hex[65];
	if (strncmp(path, "blobs/sha256/", 13) == 0 && strlen(path) == 13 + 64) {
		memcpy(hex, path + 13, 64);
	} else if (strlen(base) == 64 + 5 && !strcmp(base + 64, ".json")) {
		memcpy(hex, base, 64);
	} else {
		return NULL;
	}
	hex[64] = 0;
	char *d;
	if (asprintf(&d, "sha256:%s", hex) < 0)
		return NULL;
	if (digest_parse(d, NULL, NULL) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

static bool has_tag(json_object *entry, const char *ref)
{
	json_object *tags = jarr(entry, "RepoTags");
	for (size_t i = 0; tags && i < json_object_array_length(tags); i++) {
		json_object *t = json_object_array_get_idx(tags, i);
		if (!json_object_is_type(t, json_type_string))
			continue;
		const char *s = json_object_get_string(t);
		size_t n = strlen(ref);
		/* "busybox" matches "busybox:latest" and
		 * "docker.io/library/busybox:latest" as docker load does. */
		if (!strcmp(s, ref))
			return true;
		if (!strchr(ref, ':') && strncmp(s, ref, n) == 0 &&
		    !strcmp(s + n, ":latest"))
			return true;
	}
	return false;
}

static int clean_path(const char *raw, char *out, size_t size, char *err,
		      size_t errlen, const char *what)
{
	enum ep_verdict v = ep_normalise(raw, out, size);
	if (v != EP_OK || !out[0]) {
		snprintf(err, errlen, "manifest.json: the %s path '%s' %s",
			 what, raw, v != EP_OK ? ep_reason(v) : "is empty");
		return -EINVAL;
	}
	return 0;
}

int source_docker_load(struct image_source *src,
		       const struct source_select *sel, char *err,
		       size_t errlen)
{
	char *data;
	size_t len;
	int r = source_read_blob(src->rootfd, "manifest.json", NULL, -1, &data,
				 &len, err, errlen);
	if (r < 0)
		return r;
	json_object *man;
	char jerr[200];
	r = json_parse(data, len, &man, jerr, sizeof(jerr));
	free(data);
	if (r < 0) {
		snprintf(err, errlen, "manifest.json: %s", jerr);
		return r;
	}
	if (!json_object_is_type(man, json_type_array) ||
	    json_object_array_length(man) == 0) {
		snprintf(err, errlen, "manifest.json lists no image");
		json_object_put(man);
		return -EINVAL;
	}
	size_t n = json_object_array_length(man);
	json_object *entry = NULL;
	if (sel->ref) {
		for (size_t i = 0; i < n && !entry; i++)
			if (has_tag(json_object_array_get_idx(man, i),
				    sel->ref))
				entry = json_object_array_get_idx(man, i);
		if (!entry) {
			snprintf(err, errlen, "no image tagged '%s' in the archive",
				 sel->ref);
			json_object_put(man);
			return -ENOENT;
		}
	} else if (n > 1) {
		snprintf(err, errlen,
			 "the archive holds %zu images; choose one with --ref",
			 n);
		json_object_put(man);
		return -EINVAL;
	} else {
		entry = json_object_array_get_idx(man, 0);
	}
	const char *config = jstr(entry, "Config");
	json_object *layers = jarr(entry, "Layers");
	if (!config || !layers) {
		snprintf(err, errlen, "manifest.json: an entry without Config "
				      "and Layers");
		json_object_put(man);
		return -EINVAL;
	}
	char path[PATH_MAX];
	r = clean_path(config, path, sizeof(path), err, errlen, "config");
	char *cdig = r == 0 ? digest_from_path(path) : NULL;
	if (r == 0)
		r = source_read_blob(src->rootfd, path, cdig, -1, &src->config,
				     &src->config_len, err, errlen);
	free(cdig);
	size_t nl = json_object_array_length(layers);
	if (r == 0) {
		src->layers = calloc(nl ? nl : 1, sizeof(*src->layers));
		if (!src->layers)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < nl; i++) {
		json_object *l = json_object_array_get_idx(layers, i);
		if (!json_object_is_type(l, json_type_string)) {
			snprintf(err, errlen,
				 "manifest.json: layer %zu is not a path", i);
			r = -EINVAL;
			break;
		}
		r = clean_path(json_object_get_string(l), path, sizeof(path),
			       err, errlen, "layer");
		if (r < 0)
			break;
		struct source_layer *sl = &src->layers[src->nlayers++];
		sl->path = strdup(path);
		sl->digest = digest_from_path(path);
		sl->size = -1;
	}
	json_object_put(man);
	if (r == 0)
		r = source_parse_config(src, err, errlen);
	return r;
}
