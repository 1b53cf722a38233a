/*
 * The OCI image layout: index.json, possibly nested indexes, one manifest
 * per platform, blobs named by digest.  Every document read on the way is
 * checked against the digest and size its descriptor gives.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "source.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"
#define ANNOT_REF "org.opencontainers.image.ref.name"
#define MAX_INDEX_DEPTH 4

struct want {
	const char *os, *arch, *variant;
	const char *ref;
};

struct found {
	char *digest;
	int64_t size;
	size_t count;      /* distinct manifests that matched */
	char seen[512];    /* platforms on offer, for the error */
	/* Indexes walked so far, each with whether a reference had matched
	 * above it: a second walk finds nothing new.  Without this, N
	 * entries naming one sub-index at each of the levels read it N^4
	 * times, hours for a few KB of hostile JSON. */
	struct walked {
		char *digest;
		bool ref_matched;
	} *walked;
	size_t nwalked;
};

/* Whether the index was walked already with this ref_matched; if not,
 * remembers it.  -ENOMEM when it cannot. */
static int walked_before(struct found *f, const char *digest,
			 bool ref_matched)
{
	for (size_t i = 0; i < f->nwalked; i++)
		if (f->walked[i].ref_matched == ref_matched &&
		    !strcmp(f->walked[i].digest, digest))
			return 1;
	struct walked *nw =
		realloc(f->walked, (f->nwalked + 1) * sizeof(*nw));
	if (!nw)
		return -ENOMEM;
	f->walked = nw;
	nw[f->nwalked].digest = strdup(digest);
	if (!nw[f->nwalked].digest)
		return -ENOMEM;
	nw[f->nwalked++].ref_matched = ref_matched;
	return 0;
}

static void found_free(struct found *f)
{
	free(f->digest);
	for (size_t i = 0; i < f->nwalked; i++)
		free(f->walked[i].digest);
	free(f->walked);
}

static bool is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

static void note_platform(struct found *f, json_object *plat)
{
	const char *os = jstr(plat, "os"), *arch = jstr(plat, "architecture"),
		   *var = jstr(plat, "variant");
	char one[96];
	snprintf(one, sizeof(one), "%s/%s%s%s", os ? os : "?",
		 arch ? arch : "?", var ? "/" : "", var ? var : "");
	if (strstr(f->seen, one))
		return;
	size_t n = strlen(f->seen);
	snprintf(f->seen + n, sizeof(f->seen) - n, "%s%s", n ? ", " : "", one);
}

static bool platform_matches(json_object *plat, const struct want *w)
{
	if (!plat)
		return true;
	const char *os = jstr(plat, "os"), *arch = jstr(plat, "architecture"),
		   *var = jstr(plat, "variant");
	if (!os || !arch || strcmp(os, w->os) || strcmp(arch, w->arch))
		return false;
	return !w->variant || !var || !strcmp(var, w->variant);
}

static bool is_attestation(json_object *desc)
{
	const char *t = jstr(jobj(desc, "annotations"),
			     "vnd.docker.reference.type");
	return t && !strcmp(t, "attestation-manifest");
}

static int walk_index(int rootfd, json_object *index, const struct want *w,
		      bool ref_matched, int depth, struct found *f, char *err,
		      size_t errlen);

static int read_doc(int rootfd, const char *digest, int64_t size,
		    json_object **out, char *err, size_t errlen)
{
	char *path = source_blob_path(digest);
	if (!path) {
		snprintf(err, errlen, "malformed digest '%s'", digest);
		return -EINVAL;
	}
	char *data;
	size_t len;
	int r = source_read_blob(rootfd, path, digest, size, &data, &len, err,
				 errlen);
	if (r == 0) {
		char jerr[200];
		r = json_parse(data, len, out, jerr, sizeof(jerr));
		if (r < 0)
			snprintf(err, errlen, "%s: %s", path, jerr);
		free(data);
	}
	free(path);
	return r;
}

static int visit(int rootfd, json_object *desc, const struct want *w,
		 bool ref_matched, int depth, struct found *f, char *err,
		 size_t errlen)
{
	const char *digest = jstr(desc, "digest");
	const char *mt = jstr(desc, "mediaType");
	int64_t size = -1;
	if (!digest || !jint(desc, "size", &size) || size < 0) {
		snprintf(err, errlen,
			 "index entry without a valid digest and size");
		return -EINVAL;
	}
	if (w->ref && !ref_matched) {
		const char *ref = jstr(jobj(desc, "annotations"), ANNOT_REF);
		if (ref && !strcmp(ref, w->ref))
			ref_matched = true;
		else if (!is_index_type(mt))
			return 0;
	}
	if (is_attestation(desc))
		return 0;
	if (is_index_type(mt)) {
		if (depth >= MAX_INDEX_DEPTH) {
			snprintf(err, errlen, "indexes nested too deep");
			return -EINVAL;
		}
		int r = walked_before(f, digest, ref_matched);
		if (r != 0) {
			if (r < 0)
				snprintf(err, errlen, "%s", strerror(-r));
			return r < 0 ? r : 0;
		}
		json_object *sub;
		r = read_doc(rootfd, digest, size, &sub, err, errlen);
		if (r < 0)
			return r;
		r = walk_index(rootfd, sub, w, ref_matched, depth + 1, f, err,
			       errlen);
		json_object_put(sub);
		return r;
	}
	json_object *plat = jobj(desc, "platform");
	if (plat)
		note_platform(f, plat);
	if (!platform_matches(plat, w))
		return 0;
	if (f->digest && !strcmp(f->digest, digest))
		return 0;
	f->count++;
	if (!f->digest) {
		f->digest = strdup(digest);
		f->size = size;
	}
	return 0;
}

static int walk_index(int rootfd, json_object *index, const struct want *w,
		      bool ref_matched, int depth, struct found *f, char *err,
		      size_t errlen)
{
	json_object *m = jarr(index, "manifests");
	if (!m) {
		snprintf(err, errlen, "index without a manifests list");
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(m); i++) {
		int r = visit(rootfd, json_object_array_get_idx(m, i), w,
			      ref_matched, depth, f, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool layer_type_ok(const char *mt)
{
	static const char *const ok[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.diff.tar.zstd",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	};
	if (!mt)
		return true; /* older producers leave it out */
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(mt, ok[i]))
			return true;
	return false;
}

static int load_manifest(struct image_source *src, json_object *man,
			 char *err, size_t errlen)
{
	json_object *cfg = jobj(man, "config");
	json_object *layers = jarr(man, "layers");
	const char *cdig = jstr(cfg, "digest");
	int64_t csize = -1;
	if (!cfg || !layers || !cdig || !jint(cfg, "size", &csize)) {
		snprintf(err, errlen,
			 "manifest without a config and layers list");
		return -EINVAL;
	}
	const char *cmt = jstr(cfg, "mediaType");
	if (cmt && strcmp(cmt, "application/vnd.oci.image.config.v1+json") &&
	    strcmp(cmt, "application/vnd.docker.container.image.v1+json")) {
		snprintf(err, errlen,
			 "not a container image (config media type '%s')",
			 cmt);
		return -EINVAL;
	}
	char *path = source_blob_path(cdig);
	if (!path) {
		snprintf(err, errlen, "malformed config digest '%s'", cdig);
		return -EINVAL;
	}
	int r = source_read_blob(src->rootfd, path, cdig, csize, &src->config,
				 &src->config_len, err, errlen);
	free(path);
	if (r < 0)
		return r;
	size_t n = json_object_array_length(layers);
	src->layers = calloc(n ? n : 1, sizeof(*src->layers));
	if (!src->layers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(layers, i);
		const char *dig = jstr(d, "digest"), *mt = jstr(d, "mediaType");
		int64_t size = -1;
		if (!dig || !jint(d, "size", &size) || size < 0) {
			snprintf(err, errlen,
				 "layer %zu has no valid digest and size", i);
			return -EINVAL;
		}
		if (!layer_type_ok(mt)) {
			snprintf(err, errlen,
				 "layer %zu has media type '%s', which is not "
				 "a tar layer this tool can read",
				 i, mt);
			return -EINVAL;
		}
		struct source_layer *l = &src->layers[src->nlayers++];
		l->path = source_blob_path(dig);
		if (!l->path) {
			snprintf(err, errlen, "layer %zu: malformed digest '%s'",
				 i, dig);
			return -EINVAL;
		}
		l->digest = strdup(dig);
		l->size = size;
		l->media_type = mt ? strdup(mt) : NULL;
	}
	return source_parse_config(src, err, errlen);
}

int source_oci_load(struct image_source *src, const struct source_select *sel,
		    char *err, size_t errlen)
{
	struct want w = { .ref = sel->ref };
	struct platform_parts p;
	if (sel->platform) {
		int r = source_parse_platform(sel->platform, &p, err, errlen);
		if (r < 0)
			return r;
		w.os = p.os;
		w.arch = p.arch;
		w.variant = p.variant[0] ? p.variant : NULL;
	} else {
		source_host_platform(&w.os, &w.arch, &w.variant);
	}
	char *data;
	size_t len;
	int r = source_read_blob(src->rootfd, "index.json", NULL, -1, &data,
				 &len, err, errlen);
	if (r < 0)
		return r;
	json_object *index;
	char jerr[200];
	r = json_parse(data, len, &index, jerr, sizeof(jerr));
	free(data);
	if (r < 0) {
		snprintf(err, errlen, "index.json: %s", jerr);
		return r;
	}
	struct found f = { 0 };
	r = walk_index(src->rootfd, index, &w, false, 0, &f, err, errlen);
	json_object_put(index);
	if (r == 0 && f.count == 0) {
		if (w.ref)
			snprintf(err, errlen, "no image named '%s' for %s/%s",
				 w.ref, w.os, w.arch);
		else
			snprintf(err, errlen,
				 "no image for platform %s/%s%s%s%s%s", w.os,
				 w.arch, f.seen[0] ? " (the index has " : "",
				 f.seen, f.seen[0] ? ")" : "",
				 f.seen[0] ? "; choose one with --platform"
					   : "");
		r = -ENOENT;
	}
	if (r == 0 && f.count > 1) {
		snprintf(err, errlen,
			 "the index holds %zu images for %s/%s; choose one "
			 "with --ref",
			 f.count, w.os, w.arch);
		r = -EINVAL;
	}
	json_object *man = NULL;
	if (r == 0)
		r = read_doc(src->rootfd, f.digest, f.size, &man, err, errlen);
	found_free(&f);
	if (r < 0)
		return r;
	const char *mt = jstr(man, "mediaType");
	if (mt && strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST)) {
		snprintf(err, errlen, "unsupported manifest type '%s'", mt);
		json_object_put(man);
		return -EINVAL;
	}
	r = load_manifest(src, man, err, errlen);
	json_object_put(man);
	return r;
}
