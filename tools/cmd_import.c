/*
 * layertool import SOURCE IMAGE_DIR: every layer unpacked into the store,
 * verified, then the image directory written.
 *
 * Nothing is published before everything is verified: layers are
 * unpacked under temporary names and renamed into the store only when
 * every blob digest and diff ID matched, and the image directory appears
 * last, in one rename.  Any failure removes the temporaries.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "fsutil.h"
#include "image_write.h"
#include "json_util.h"
#include "layer_stream.h"
#include "lf_common.h"
#include "progress.h"
#include "signals.h"
#include "source.h"
#include "store.h"

static const char import_help[] =
	"usage: layertool import [OPTIONS] SOURCE IMAGE_DIR\n"
	"\n"
	"Imports an image into the image directory IMAGE_DIR, each layer\n"
	"unpacked once into the layer store.  SOURCE is an OCI image layout\n"
	"directory, an OCI archive, a docker-archive (docker/podman save), or\n"
	"a plain rootfs tarball; gzip, zstd, xz, bzip2 and lz4 are recognised.\n"
	"\n"
	"  --store DIR          layer store (default: .layerstore beside\n"
	"                       IMAGE_DIR)\n"
	"  --platform OS/ARCH[/VARIANT]\n"
	"                       image to take from a multi-platform index\n"
	"                       (default: this machine's)\n"
	"  --ref NAME           image to take by tag or ref name when the\n"
	"                       source holds several\n"
	"  --ownership MODE     auto (default), native (chown as the archive\n"
	"                       says) or override_stat (record owners in\n"
	"                       user.containers.override_stat xattrs, for\n"
	"                       rootless use)\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 imported, 1 usage, 2 source unreadable, malformed,\n"
	"hostile or failing verification, 3 IMAGE_DIR exists or the store\n"
	"cannot be written, 130 interrupted.\n";

struct pending {
	char tmp[64];  /* temporary in the store, "" when reused */
	bool owner;    /* this entry owns tmp */
};

struct import {
	struct store store;
	struct image_source src;
	struct unpack_opts opts;
	struct image_layer_rec *recs;
	struct pending *pend;
	size_t n;
	struct progress progress;
	char err[600];
};

static int exit_for(int r)
{
	if (r == -EINTR)
		return LT_EXIT_INTERRUPTED;
	if (r == -ENOSPC || r == -EDQUOT || r == -EROFS || r == -EACCES ||
	    r == -EEXIST)
		return LT_EXIT_OUTPUT;
	return LT_EXIT_INPUT;
}

/* Another layer of this same import with the same store name. */
static ssize_t earlier_same(struct import *im, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (!strcmp(im->recs[j].store_name, im->recs[i].store_name))
			return (ssize_t)j;
	return -1;
}

static int open_blob(struct import *im, size_t i, int *fd)
{
	if (im->src.rootfs_fd >= 0) {
		if (lseek(im->src.rootfs_fd, 0, SEEK_SET) < 0)
			return -errno;
		*fd = dup(im->src.rootfs_fd);
		return *fd < 0 ? -errno : 0;
	}
	const struct source_layer *l = &im->src.layers[i];
	/* Symlinks inside the source are followed (legacy docker save
	 * links a layer several images share), never out of it. */
	char why[sizeof(im->err) - 32];
	*fd = source_open_file(im->src.rootfd, l->path, why, sizeof(why));
	if (*fd < 0) {
		snprintf(im->err, sizeof(im->err), "layer %zu: %s", i, why);
		return *fd;
	}
	struct stat st;
	if (l->size >= 0 && fstat(*fd, &st) == 0 && st.st_size != l->size) {
		snprintf(im->err, sizeof(im->err),
			 "layer %zu ('%s') has %lld bytes where the manifest "
			 "says %lld",
			 i, l->path, (long long)st.st_size,
			 (long long)l->size);
		close(*fd);
		return -EINVAL;
	}
	return 0;
}

static void warn_counts(const struct unpack_counts *c, size_t i)
{
	if (c->xattrs_failed)
		lf_warn("layer %zu: %u extended attributes not set (first: "
			"%s): this user may not set them, this filesystem "
			"does not take them, or they are ACLs that are "
			"malformed or meet a rootless import",
			i, c->xattrs_failed, c->first_failed_xattr);
	if (c->xattrs_dropped)
		lf_warn("layer %zu: %u overlay/layerfs bookkeeping attributes "
			"were not imported",
			i, c->xattrs_dropped);
}

static int unpack_one(struct import *im, size_t i)
{
	struct image_layer_rec *rec = &im->recs[i];
	const char *want_diff = im->src.diff_ids ? im->src.diff_ids[i] : NULL;
	const char *want_blob =
		im->src.layers ? im->src.layers[i].digest : NULL;
	if (want_diff) {
		int r = store_layer_name(want_diff, im->opts.override_owner,
					 rec->store_name,
					 sizeof(rec->store_name));
		if (r < 0) {
			snprintf(im->err, sizeof(im->err),
				 "layer %zu: malformed diff ID '%s'", i,
				 want_diff);
			return -EINVAL;
		}
		snprintf(rec->diff_id, sizeof(rec->diff_id), "%s", want_diff);
		if (want_blob)
			snprintf(rec->digest, sizeof(rec->digest), "%s",
				 want_blob);
		rec->size = im->src.layers[i].size >= 0
				    ? (uint64_t)im->src.layers[i].size
				    : 0;
	}
	/* Stored already, by an earlier import or this one: the blob is
	 * still verified (hashed and decompressed), just not unpacked. */
	bool reuse = want_diff && (store_has(&im->store, rec->store_name) ||
				   earlier_same(im, i) >= 0);
	enum digest_algo balgo = DIGEST_SHA256, dalgo = DIGEST_SHA256;
	if (want_blob)
		digest_parse(want_blob, &balgo, NULL);
	if (want_diff)
		digest_parse(want_diff, &dalgo, NULL);
	int fd = -1;
	int r = open_blob(im, i, &fd);
	if (r < 0)
		return r;
	int dfd = -1;
	if (!reuse) {
		r = store_temp(&im->store, true, im->pend[i].tmp,
			       sizeof(im->pend[i].tmp));
		if (r < 0) {
			close(fd);
			snprintf(im->err, sizeof(im->err),
				 "cannot write to the layer store '%s': %s",
				 im->store.path, strerror(-r));
			return r;
		}
		im->pend[i].owner = true;
		dfd = openat(im->store.fd, im->pend[i].tmp,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			r = -errno;
			close(fd);
			return r;
		}
	}
	struct layer_digests dg;
	struct unpack_counts counts = { 0 };
	char why[400];
	progress_item(&im->progress, (unsigned)i + 1);
	r = layer_unpack(fd, balgo, dalgo, dfd, &im->opts, &im->progress, &dg,
			 &counts, why, sizeof(why));
	if (dfd >= 0)
		close(dfd);
	close(fd);
	if (r < 0) {
		snprintf(im->err, sizeof(im->err), "layer %zu: %s", i, why);
		return r;
	}
	/* A rootfs tarball has no diff ID: cut between two members, it
	 * would read as complete.  A layer verified by its diff ID may lack
	 * the end blocks, as Go's archive/tar accepts. */
	if (!want_diff && !dg.end_marker) {
		snprintf(im->err, sizeof(im->err),
			 "layer %zu: truncated tar: no end-of-archive marker",
			 i);
		return -EINVAL;
	}
	if (want_blob && strcmp(dg.blob, want_blob) != 0) {
		snprintf(im->err, sizeof(im->err),
			 "layer %zu: blob digest mismatch: expected %s, got %s",
			 i, want_blob, dg.blob);
		return -EINVAL;
	}
	if (want_diff && strcmp(dg.diff, want_diff) != 0) {
		snprintf(im->err, sizeof(im->err),
			 "layer %zu: diff ID mismatch: expected %s, got %s", i,
			 want_diff, dg.diff);
		return -EINVAL;
	}
	warn_counts(&counts, i);
	rec->size = dg.blob_size;
	if (!want_diff) {
		/* A rootfs tarball: its name is known only now. */
		snprintf(rec->diff_id, sizeof(rec->diff_id), "%s", dg.diff);
		store_layer_name(dg.diff, im->opts.override_owner,
				 rec->store_name, sizeof(rec->store_name));
		if (store_has(&im->store, rec->store_name)) {
			store_discard(&im->store, im->pend[i].tmp);
			im->pend[i].tmp[0] = 0;
			im->pend[i].owner = false;
		}
	}
	return 0;
}

static void rfc3339_now(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The configuration a rootfs tarball lacks: a plain Linux image of one
 * layer, for this machine or for the --platform given (as `docker import
 * --platform` does: the tarball cannot say). */
static int make_rootfs_config(struct import *im, const char *source,
			      const struct platform_parts *platform)
{
	const char *os, *arch, *variant;
	source_host_platform(&os, &arch, &variant);
	if (platform) {
		os = platform->os;
		arch = platform->arch;
		variant = platform->variant[0] ? platform->variant : NULL;
	}
	char now[40];
	rfc3339_now(now, sizeof(now));
	json_object *c = json_object_new_object();
	json_object_object_add(c, "created", json_object_new_string(now));
	json_object_object_add(c, "architecture", json_object_new_string(arch));
	if (variant)
		json_object_object_add(c, "variant",
				       json_object_new_string(variant));
	json_object_object_add(c, "os", json_object_new_string(os));
	json_object *cfg = json_object_new_object();
	json_object *env = json_object_new_array();
	json_object_array_add(
		env, json_object_new_string("PATH=/usr/local/sbin:/usr/local/"
					    "bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	json_object_object_add(cfg, "Env", env);
	json_object_object_add(c, "config", cfg);
	json_object *rootfs = json_object_new_object();
	json_object_object_add(rootfs, "type", json_object_new_string("layers"));
	json_object *ids = json_object_new_array();
	json_object_array_add(ids, json_object_new_string(im->recs[0].diff_id));
	json_object_object_add(rootfs, "diff_ids", ids);
	json_object_object_add(c, "rootfs", rootfs);
	json_object *hist = json_object_new_array();
	json_object *h = json_object_new_object();
	json_object_object_add(h, "created", json_object_new_string(now));
	const char *base = strrchr(source, '/');
	char by[300];
	snprintf(by, sizeof(by), "layertool import %s", base ? base + 1 : source);
	json_object_object_add(h, "created_by", json_object_new_string(by));
	json_object_array_add(hist, h);
	json_object_object_add(c, "history", hist);
	im->src.config = json_text(c, &im->src.config_len);
	json_object_put(c);
	im->src.os = strdup(os);
	im->src.arch = strdup(arch);
	im->src.variant = variant ? strdup(variant) : NULL;
	return im->src.config ? 0 : -ENOMEM;
}

static int publish_all(struct import *im)
{
	for (size_t i = 0; i < im->n; i++) {
		if (!im->pend[i].owner)
			continue;
		int r = store_publish(&im->store, im->pend[i].tmp,
				      im->recs[i].store_name);
		if (r < 0) {
			snprintf(im->err, sizeof(im->err),
				 "cannot store layer %zu in '%s': %s", i,
				 im->store.path, strerror(-r));
			return r;
		}
		im->pend[i].owner = false;
	}
	return 0;
}

static void discard_all(struct import *im)
{
	for (size_t i = 0; i < im->n; i++)
		if (im->pend[i].owner)
			store_discard(&im->store, im->pend[i].tmp);
}

static int check_platform(struct import *im, const char *platform)
{
	const char *hos, *harch, *hvar;
	source_host_platform(&hos, &harch, &hvar);
	char want[200];
	snprintf(want, sizeof(want), "%s", platform ? platform : "");
	char *os = want, *arch = strchr(want, '/');
	if (arch)
		*arch++ = 0;
	char *slash = arch ? strchr(arch, '/') : NULL;
	if (slash)
		*slash = 0;
	if (!platform) {
		os = (char *)hos;
		arch = (char *)harch;
	}
	bool same = im->src.os && im->src.arch && !strcmp(im->src.os, os) &&
		    arch && !strcmp(im->src.arch, arch);
	if (same)
		return 0;
	if (platform) {
		snprintf(im->err, sizeof(im->err),
			 "the image is for %s/%s, not %s", im->src.os,
			 im->src.arch, platform);
		return -EINVAL;
	}
	lf_warn("the image is for %s/%s, this machine is %s/%s", im->src.os,
		im->src.arch, hos, harch);
	return 0;
}

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "platform", required_argument, NULL, 'p' },
		{ "ref", required_argument, NULL, 'r' },
		{ "ownership", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *store_arg = NULL, *ownership = "auto";
	struct source_select sel = { 0 };
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			store_arg = optarg;
			break;
		case 'p':
			sel.platform = optarg;
			break;
		case 'r':
			sel.ref = optarg;
			break;
		case 'o':
			ownership = optarg;
			break;
		case 'h':
			fputs(import_help, stdout);
			return LT_EXIT_OK;
		default:
			return usage_error("import", NULL);
		}
	}
	if (argc - optind != 2)
		return usage_error("import", "import wants SOURCE and IMAGE_DIR");
	if (strcmp(ownership, "auto") && strcmp(ownership, "native") &&
	    strcmp(ownership, "override_stat"))
		return usage_error("import",
				   "--ownership is auto, native or "
				   "override_stat, not '%s'",
				   ownership);
	struct platform_parts want;
	char perr[200];
	if (sel.platform &&
	    source_parse_platform(sel.platform, &want, perr, sizeof(perr)) < 0)
		return usage_error("import", "%s", perr);
	const char *source = argv[optind], *image_dir = argv[optind + 1];

	struct import *im = calloc(1, sizeof(*im));
	if (!im) {
		lf_err("out of memory");
		return LT_EXIT_OUTPUT;
	}
	im->store.fd = -1;
	int status = LT_EXIT_OK;
	int r = image_dir_check_free(image_dir, im->err, sizeof(im->err));
	if (r < 0) {
		lf_err("%s", im->err);
		free(im);
		return LT_EXIT_OUTPUT;
	}
	char *abs_image = abs_path_of(image_dir);
	char *store_path = store_arg ? strdup(store_arg)
				     : store_default_path(abs_image);
	r = store_open(store_path, &im->store, im->err, sizeof(im->err));
	free(store_path);
	if (r < 0) {
		lf_err("%s", im->err);
		free(abs_image);
		free(im);
		return LT_EXIT_OUTPUT;
	}
	if (!strcmp(ownership, "auto"))
		im->opts.override_owner = !fs_can_chown(im->store.fd);
	else
		im->opts.override_owner = !strcmp(ownership, "override_stat");
	im->opts.device_standins = im->opts.override_owner;

	signals_install();
	r = source_open(source, &im->store, &sel, &im->src, im->err,
			sizeof(im->err));
	if (r == 0 && im->src.config)
		r = check_platform(im, sel.platform);
	if (r == 0) {
		im->n = im->src.nlayers;
		im->recs = calloc(im->n ? im->n : 1, sizeof(*im->recs));
		im->pend = calloc(im->n ? im->n : 1, sizeof(*im->pend));
		if (!im->recs || !im->pend)
			r = -ENOMEM;
	}
	if (r == 0) {
		progress_init(&im->progress, "import", (unsigned)im->n);
		for (size_t i = 0; i < im->n && r == 0; i++)
			r = unpack_one(im, i);
		progress_done(&im->progress);
	}
	if (r == 0 && !im->src.config)
		r = make_rootfs_config(im, source,
				       sel.platform ? &want : NULL);
	if (r == 0 && signals_interrupted())
		r = -EINTR;
	if (r == 0)
		r = publish_all(im);
	if (r == 0) {
		char *src_abs = realpath(source, NULL);
		struct image_spec spec = {
			.config = im->src.config,
			.config_len = im->src.config_len,
			.layers = im->recs,
			.nlayers = im->n,
			.store = im->store.path,
			.override_owner = im->opts.override_owner,
			.os = im->src.os,
			.arch = im->src.arch,
			.variant = im->src.variant,
			.source = src_abs ? src_abs : source,
		};
		r = image_write(image_dir, &spec, im->err, sizeof(im->err));
		free(src_abs);
		if (r < 0)
			status = LT_EXIT_OUTPUT;
	}
	if (r < 0) {
		discard_all(im);
		if (r == -EINTR)
			snprintf(im->err, sizeof(im->err), "interrupted");
		if (!im->err[0])
			snprintf(im->err, sizeof(im->err), "%s",
				 strerror(-r));
		lf_err("cannot import '%s': %s", source, im->err);
		if (status == LT_EXIT_OK)
			status = exit_for(r);
	}
	source_close(&im->src, &im->store);
	if (status == LT_EXIT_OK)
		store_close(&im->store);
	else
		store_close_failed(&im->store);
	free(im->recs);
	free(im->pend);
	free(abs_image);
	free(im);
	return status;
}
