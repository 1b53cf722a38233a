#include "image_read.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "json_util.h"
#include "lf_common.h"

static int read_doc(int dfd, const char *name, char **text, size_t *len,
		    const char *dir, char *err, size_t errlen)
{
	int r = lf_read_file_at(dfd, name, text, len);
	if (r < 0)
		snprintf(err, errlen, "image '%s': cannot read %s: %s", dir,
			 name, strerror(-r));
	return r;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int load_layers(int dfd, json_object *layers, struct image_index *ix,
		       char *err, size_t errlen)
{
	size_t n = json_object_array_length(layers);
	ix->layers = calloc(n ? n : 1, sizeof(*ix->layers));
	if (!ix->layers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *l = json_object_array_get_idx(layers, i);
		struct image_layer_rec *rec = &ix->layers[i];
		const char *diff = jstr(l, "diff_id"), *dig = jstr(l, "digest");
		const char *path = jstr(l, "path");
		int64_t size = 0;
		jint(l, "size", &size);
		if (!diff || !path || digest_parse(diff, NULL, NULL) < 0) {
			snprintf(err, errlen,
				 "image '%s': layer %zu has no valid diff_id "
				 "and path",
				 ix->dir, i);
			return -EINVAL;
		}
		snprintf(rec->diff_id, sizeof(rec->diff_id), "%s", diff);
		if (dig)
			snprintf(rec->digest, sizeof(rec->digest), "%s", dig);
		rec->size = size > 0 ? (uint64_t)size : 0;
		/* The store directory is what layers/N links to. */
		char target[PATH_MAX];
		ssize_t tn = readlinkat(dfd, path, target, sizeof(target) - 1);
		if (tn < 0) {
			snprintf(err, errlen, "image '%s': %s: %s", ix->dir,
				 path, strerror(errno));
			return -errno;
		}
		target[tn] = 0;
		const char *base = strrchr(target, '/');
		base = base ? base + 1 : target;
		if (strlen(base) >= sizeof(rec->store_name)) {
			snprintf(err, errlen,
				 "image '%s': %s does not link into a store",
				 ix->dir, path);
			return -EINVAL;
		}
		memcpy(rec->store_name, base, strlen(base) + 1);
	}
	ix->nlayers = n;
	return 0;
}

int image_index_load(const char *dir, struct image_index *ix, char *err,
		     size_t errlen)
{
	memset(ix, 0, sizeof(*ix));
	ix->dir = realpath(dir, NULL);
	if (!ix->dir) {
		int e = errno;
		snprintf(err, errlen, "image '%s': %s", dir, strerror(e));
		return -e;
	}
	int dfd = open(ix->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int e = errno;
		snprintf(err, errlen, "image '%s': %s", dir, strerror(e));
		image_index_free(ix);
		return -e;
	}
	char *text = NULL;
	size_t len;
	json_object *o = NULL;
	int r = read_doc(dfd, "image.json", &text, &len, dir, err, errlen);
	if (r == 0) {
		char jerr[200];
		r = json_parse(text, len, &o, jerr, sizeof(jerr));
		if (r < 0)
			snprintf(err, errlen, "image '%s': image.json: %s", dir,
				 jerr);
	}
	free(text);
	if (r == 0) {
		json_object *layers = jarr(o, "layers");
		const char *store = jstr(o, "store");
		if (!layers || !store) {
			snprintf(err, errlen,
				 "image '%s': image.json lacks layers or store",
				 dir);
			r = -EINVAL;
		} else {
			r = load_layers(dfd, layers, ix, err, errlen);
			if (r == 0 && store[0] == '/')
				ix->store = strdup(store);
			else if (r == 0)
				ix->store = fs_join(ix->dir, store);
			if (r == 0 && !ix->store)
				r = -ENOMEM;
		}
	}
	if (r == 0) {
		/* Canonical, so it compares with store_default_path(). */
		char *real = realpath(ix->store, NULL);
		if (real) {
			free(ix->store);
			ix->store = real;
		}
		const char *own = jstr(o, "ownership");
		ix->override_owner = own && !strcmp(own, "override_stat");
		json_object *plat = jobj(o, "platform");
		ix->os = dup_or_null(jstr(plat, "os"));
		ix->arch = dup_or_null(jstr(plat, "architecture"));
		ix->variant = dup_or_null(jstr(plat, "variant"));
		r = read_doc(dfd, "config.json", &ix->config, &ix->config_len,
			     dir, err, errlen);
	}
	json_object_put(o);
	close(dfd);
	if (r < 0)
		image_index_free(ix);
	return r;
}

void image_index_free(struct image_index *ix)
{
	free(ix->dir);
	free(ix->layers);
	free(ix->store);
	free(ix->os);
	free(ix->arch);
	free(ix->variant);
	free(ix->config);
	memset(ix, 0, sizeof(*ix));
}
