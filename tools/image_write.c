#include "image_write.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "json_util.h"
#include "lf_common.h"
#include "rmtree.h"
#include "store.h"
#include "user_mode.h"

char *abs_path_of(const char *path)
{
	char *full = realpath(path, NULL);
	if (full)
		return full;
	/* Not there yet: resolve the parent, append the name. */
	char *a = strdup(path), *b = strdup(path);
	char *out = NULL;
	if (a && b) {
		char *base = basename(a);
		char *dir = realpath(dirname(b), NULL);
		if (dir && strcmp(base, "/") != 0 && strcmp(base, ".") != 0 &&
		    strcmp(base, "..") != 0) {
			if (asprintf(&out, "%s%s%s", dir,
				     strcmp(dir, "/") ? "/" : "", base) < 0)
				out = NULL;
		}
		free(dir);
	}
	free(a);
	free(b);
	return out;
}

int image_dir_check_free(const char *image_dir, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(image_dir, &st) < 0) {
		if (errno == ENOENT) {
			char *abs = abs_path_of(image_dir);
			if (!abs) {
				snprintf(err, errlen,
					 "cannot create '%s': its parent "
					 "directory does not exist",
					 image_dir);
				return -ENOENT;
			}
			free(abs);
			return 0;
		}
		snprintf(err, errlen, "cannot use '%s': %s", image_dir,
			 strerror(errno));
		return -errno;
	}
	if (S_ISDIR(st.st_mode)) {
		int fd = open(image_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct name_list l = { 0 };
		int r = fd < 0 ? -errno : fs_list_dir(fd, &l);
		if (fd >= 0)
			close(fd);
		size_t n = l.n;
		name_list_free(&l);
		if (r == 0 && n == 0)
			return 0;
	}
	snprintf(err, errlen, "'%s' already exists", image_dir);
	return -EEXIST;
}

/* "../.layerstore" when the store is the image's default one (so the
 * pair can be moved together), else the absolute path. */
static char *store_ref(const char *abs_image, const char *store)
{
	char *def = store_default_path(abs_image);
	char *out;
	if (def && strcmp(def, store) == 0)
		out = strdup("../" STORE_DEFAULT_NAME);
	else
		out = strdup(store);
	free(def);
	return out;
}

static json_object *layer_json(const struct image_layer_rec *l, size_t i)
{
	json_object *o = json_object_new_object();
	char path[32];
	snprintf(path, sizeof(path), "layers/%zu", i);
	json_object_object_add(o, "diff_id", json_object_new_string(l->diff_id));
	json_object_object_add(o, "digest",
			       l->digest[0] ? json_object_new_string(l->digest)
					    : NULL);
	json_object_object_add(o, "size",
			       json_object_new_int64((int64_t)l->size));
	json_object_object_add(o, "path", json_object_new_string(path));
	return o;
}

static char *index_json(const struct image_spec *spec, const char *sref,
			size_t *len)
{
	char cdig[DIGEST_STR_MAX];
	digest_buf(spec->config, spec->config_len, DIGEST_SHA256, cdig);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "schemaVersion", json_object_new_int(1));
	json_object_object_add(o, "config", json_object_new_string(cdig));
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < spec->nlayers; i++)
		json_object_array_add(arr, layer_json(&spec->layers[i], i));
	json_object_object_add(o, "layers", arr);
	json_object_object_add(o, "store", json_object_new_string(sref));
	json_object_object_add(o, "ownership",
			       json_object_new_string(spec->override_owner
							      ? "override_stat"
							      : "native"));
	json_object *plat = json_object_new_object();
	json_object_object_add(plat, "os",
			       json_object_new_string(spec->os ? spec->os
							       : "linux"));
	json_object_object_add(plat, "architecture",
			       json_object_new_string(spec->arch ? spec->arch
								 : ""));
	if (spec->variant && *spec->variant)
		json_object_object_add(plat, "variant",
				       json_object_new_string(spec->variant));
	json_object_object_add(o, "platform", plat);
	json_object_object_add(o, "source",
			       json_object_new_string(spec->source ? spec->source
								   : ""));
	char *text = json_text(o, len);
	json_object_put(o);
	return text;
}

static int fill(int dfd, const char *abs_image, const struct image_spec *spec,
		char *err, size_t errlen)
{
	int r = lf_write_file_atomic_at(dfd, "config.json", spec->config,
					spec->config_len, user_mode(0666));
	if (r < 0) {
		snprintf(err, errlen, "cannot write config.json: %s",
			 strerror(-r));
		return r;
	}
	if (mkdirat(dfd, "layers", user_mode(0777)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create layers/: %s",
			 strerror(errno));
		return r;
	}
	char *sref = store_ref(abs_image, spec->store);
	if (!sref)
		return -ENOMEM;
	bool relative = sref[0] != '/';
	for (size_t i = 0; i < spec->nlayers && r == 0; i++) {
		char target[PATH_MAX], link[64];
		if (relative)
			snprintf(target, sizeof(target), "../%s/%s", sref,
				 spec->layers[i].store_name);
		else
			snprintf(target, sizeof(target), "%s/%s", sref,
				 spec->layers[i].store_name);
		snprintf(link, sizeof(link), "layers/%zu", i);
		if (symlinkat(target, dfd, link) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot create %s: %s", link,
				 strerror(errno));
		}
	}
	size_t len = 0;
	char *text = r == 0 ? index_json(spec, sref, &len) : NULL;
	free(sref);
	if (r < 0)
		return r;
	if (!text)
		return -ENOMEM;
	r = lf_write_file_atomic_at(dfd, "image.json", text, len,
				    user_mode(0666));
	free(text);
	if (r < 0)
		snprintf(err, errlen, "cannot write image.json: %s",
			 strerror(-r));
	return r;
}

int image_write(const char *image_dir, const struct image_spec *spec,
		char *err, size_t errlen)
{
	char *abs = abs_path_of(image_dir);
	if (!abs) {
		snprintf(err, errlen, "cannot create '%s': %s", image_dir,
			 strerror(errno ? errno : ENOENT));
		return -ENOENT;
	}
	char *slash = strrchr(abs, '/');
	char parent[PATH_MAX], tmp[NAME_MAX + 1];
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - abs),
		 slash == abs ? "/" : abs);
	if (slash == abs)
		snprintf(parent, sizeof(parent), "/");
	snprintf(tmp, sizeof(tmp), ".%.200s.tmp-%ld", slash + 1,
		 (long)getpid());
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open '%s': %s", parent,
			 strerror(e));
		free(abs);
		return -e;
	}
	lf_rmtree_at(pfd, tmp);
	int r = 0;
	if (mkdirat(pfd, tmp, user_mode(0777)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create '%s/%s': %s", parent, tmp,
			 strerror(errno));
	}
	int dfd = -1;
	if (r == 0) {
		dfd = openat(pfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			r = -errno;
	}
	if (r == 0)
		r = fill(dfd, abs, spec, err, errlen);
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	if (dfd >= 0)
		close(dfd);
	/* rename(2) replaces an empty directory and nothing else. */
	if (r == 0 && renameat(pfd, tmp, pfd, slash + 1) < 0) {
		r = -errno;
		if (errno == ENOTEMPTY || errno == EEXIST)
			snprintf(err, errlen, "'%s' already exists", image_dir);
		else
			snprintf(err, errlen, "cannot create '%s': %s",
				 image_dir, strerror(errno));
	}
	if (r == 0)
		fsync(pfd);
	else
		lf_rmtree_at(pfd, tmp);
	close(pfd);
	free(abs);
	return r;
}
