/*
 * layertool export: an upper directory as an OCI layer tarball, or, with
 * --image, as a new image: the old image's layers plus this one, its
 * config extended with the diff ID and a history entry.  This is what
 * `layerrun commit` runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "export.h"
#include "fsutil.h"
#include "image_read.h"
#include "image_write.h"
#include "json_util.h"
#include "layer_stream.h"
#include "lf_common.h"
#include "signals.h"
#include "store.h"
#include "user_mode.h"
#include "workdir.h"

static const char export_help[] =
	"usage: layertool export [OPTIONS] UPPER_DIR OUT.tar\n"
	"       layertool export --image IMAGE_DIR --out NEW_IMAGE_DIR [OPTIONS]\n"
	"                        UPPER_DIR [OUT.tar]\n"
	"\n"
	"Writes the changes an upper directory holds as an OCI layer: both\n"
	"whiteout formats become .wh. entries, opaque directories\n"
	".wh..wh..opq, renamed directories (layerfs redirects) are written\n"
	"out in full and metadata-only copies with their lower data; hard\n"
	"links, owners, modes, times, xattrs and POSIX ACLs are kept.\n"
	"OUT.tar '-' is standard output.\n"
	"\n"
	"  --lower L1:L2:...    the lower layers the upper was mounted on, top\n"
	"                       first (needed for redirects and metadata-only\n"
	"                       copies; with --image the image's layers are\n"
	"                       the default)\n"
	"  --work DIR           the work directory the upper was mounted\n"
	"                       with: lower names of hard links copied up\n"
	"                       through its index become links of the copy;\n"
	"                       the layers its mount recorded there are the\n"
	"                       default for --lower, and what one given must\n"
	"                       be\n"
	"  --reproducible       sorted entries, times clamped to\n"
	"                       $SOURCE_DATE_EPOCH (0 when unset):\n"
	"                       the same tree gives the same digest\n"
	"  --compress MODE      none, gzip or zstd (default: from the name,\n"
	"                       .gz/.tgz or .zst, else none)\n"
	"  --image IMAGE_DIR    append the layer to this image ...\n"
	"  --out NEW_IMAGE_DIR  ... writing the result here (prints the new\n"
	"                       image's config digest)\n"
	"  --message TEXT       history comment of the new layer (--image)\n"
	"  --author TEXT        author of the new image (--image)\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 exported, 1 usage, 2 the upper or a lower layer is\n"
	"unreadable (or --lower is missing), 3 the output cannot be written,\n"
	"130 interrupted.\n";

struct export_args {
	const char *upper, *out, *lower, *work, *image, *new_image,
		*message, *author;
	bool reproducible;
	int compress; /* -1: by name */
};

struct lower_set {
	struct ustack s;
	char **paths; /* as given, for lower_from_record */
	bool given;
};

static void lower_close(struct lower_set *ls)
{
	for (size_t i = 0; i < ls->s.n; i++) {
		close(ls->s.fds[i]);
		free(ls->paths[i]);
	}
	free(ls->s.fds);
	free(ls->paths);
	ls->s.fds = NULL;
	ls->paths = NULL;
	ls->s.n = 0;
}

static int lower_add(struct lower_set *ls, const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		lf_err("cannot open lower layer '%s': %s", dir, strerror(e));
		return -e;
	}
	int *nf = realloc(ls->s.fds, (ls->s.n + 1) * sizeof(int));
	if (nf)
		ls->s.fds = nf;
	char **np = nf ? realloc(ls->paths, (ls->s.n + 1) * sizeof(char *))
		       : NULL;
	if (np)
		ls->paths = np;
	char *copy = np ? strdup(dir) : NULL;
	if (!copy) {
		close(fd);
		return -ENOMEM;
	}
	ls->paths[ls->s.n] = copy;
	ls->s.fds[ls->s.n++] = fd;
	ls->given = true;
	return 0;
}

static int lower_parse(struct lower_set *ls, const char *list)
{
	char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	int r = 0;
	char *save = NULL;
	for (char *p = strtok_r(copy, ":", &save); p && r == 0;
	     p = strtok_r(NULL, ":", &save))
		r = lower_add(ls, p);
	free(copy);
	if (r == 0 && ls->s.n == 0) {
		lf_err("--lower names no layer");
		r = -EINVAL;
	}
	return r;
}

/*
 * With --work, the stack the mount recorded there (lib/workdir.h): the
 * upper directory must be its upper layer, a --lower given its layers
 * below (the init layer first), and without --lower they are the lower
 * layers, also with --image (whose own layers lack a container's init
 * layer).  A work directory without a record (an older layerfs's) is
 * taken on the user's word, as before.
 */
static int lower_from_record(const struct export_args *a,
			     struct lower_set *ls)
{
	int wfd = open(a->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wfd < 0)
		return 0; /* (said when the export opens it) */
	struct workdir_layer *rec;
	size_t n;
	int r = workdir_layers_read(wfd, &rec, &n);
	close(wfd);
	if (r == -EINVAL)
		lf_warn("'%s/%s' is malformed: the layers are not checked "
			"against the mount's",
			a->work, WORKDIR_LAYERS);
	if (r < 0)
		return 0;
	int ufd = open(a->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool upper_ok = ufd >= 0 && workdir_layer_is(&rec[0], ufd, a->upper);
	if (ufd >= 0)
		close(ufd);
	if (ufd >= 0 && !upper_ok) {
		lf_err("'%s' is not the upper layer the last mount of '%s' "
		       "used ('%s')",
		       a->upper, a->work, rec[0].path);
		r = -EINVAL;
	}
	if (r == 0 && ls->given) {
		bool same = ls->s.n == n - 1;
		for (size_t i = 0; same && i < ls->s.n; i++)
			same = workdir_layer_is(&rec[i + 1], ls->s.fds[i],
						ls->paths[i]);
		if (!same) {
			lf_err("--lower is not the layers the last mount of "
			       "'%s' used (%s/%s): give none to use those",
			       a->work, a->work, WORKDIR_LAYERS);
			r = -EINVAL;
		}
	}
	bool add = !ls->given; /* (lower_add sets it) */
	for (size_t i = 1; r == 0 && add && i < n; i++)
		r = lower_add(ls, rec[i].path);
	workdir_layers_free(rec, n);
	return r;
}

static int compress_by_name(const char *out)
{
	size_t n = strlen(out);
	if ((n > 3 && !strcmp(out + n - 3, ".gz")) ||
	    (n > 4 && !strcmp(out + n - 4, ".tgz")))
		return TW_GZIP;
	if (n > 4 && !strcmp(out + n - 4, ".zst"))
		return TW_ZSTD;
	return TW_NONE;
}

static int64_t clamp_time(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	uint64_t v;
	if (s && lf_parse_u64(s, &v) == 0 && v < (uint64_t)INT64_MAX)
		return (int64_t)v;
	return 0;
}

/* Writes the layer of args->upper to fd; fills res. */
static int write_layer(const struct export_args *a, int fd,
		       const struct lower_set *ls, struct tw_result *res)
{
	int ufd = open(a->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0) {
		int e = errno;
		lf_err("cannot open upper directory '%s': %s", a->upper,
		       strerror(e));
		return -e;
	}
	int wfd = a->work ? open(a->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
			  : -1;
	if (a->work && wfd < 0) {
		int e = errno;
		lf_err("cannot open work directory '%s': %s", a->work,
		       strerror(e));
		close(ufd);
		return -e;
	}
	struct tw_opts o = {
		.reproducible = a->reproducible,
		.clamp = clamp_time(),
		.compress = a->compress,
	};
	char err[600] = "";
	struct tar_writer *w;
	int r = tw_open(fd, &o, &w, err, sizeof(err));
	if (r == 0) {
		struct export_counts c = { 0 };
		r = export_upper(ufd, ls->given ? &ls->s : NULL, wfd, w, &c,
				 err, sizeof(err));
		if (r == 0)
			r = tw_close(w, res, err, sizeof(err));
		else
			tw_abort(w);
	}
	close(ufd);
	if (wfd >= 0)
		close(wfd);
	if (r < 0)
		lf_err("cannot export '%s': %s", a->upper,
		       err[0] ? err : strerror(-r));
	return r;
}

static int exit_for(int r)
{
	if (r == -EINTR)
		return LT_EXIT_INTERRUPTED;
	if (r == -ENOSPC || r == -EDQUOT || r == -EROFS || r == -EEXIST ||
	    r == -EIO)
		return LT_EXIT_OUTPUT;
	return LT_EXIT_INPUT;
}

/* OUT.tar through a temporary beside it, renamed once complete. */
static int export_to_file(const struct export_args *a,
			  const struct lower_set *ls, struct tw_result *res)
{
	if (!strcmp(a->out, "-")) {
		if (isatty(STDOUT_FILENO)) {
			lf_err("refusing to write a tar archive to a terminal");
			return -EINVAL;
		}
		int r = write_layer(a, STDOUT_FILENO, ls, res);
		return r < 0 ? r : 0;
	}
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", a->out, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		lf_err("'%s': name too long", a->out);
		return -ENAMETOOLONG;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      user_mode(0666));
	if (fd < 0) {
		int e = errno;
		lf_err("cannot write '%s': %s", a->out, strerror(e));
		return -EIO;
	}
	int r = write_layer(a, fd, ls, res);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, a->out) < 0) {
		r = -errno;
		lf_err("cannot write '%s': %s", a->out, strerror(errno));
		r = -EIO;
	}
	if (r < 0)
		unlink(tmp);
	return r;
}

static void rfc3339(time_t t, char *buf, size_t size)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The old config with the new diff ID and history entry. */
static char *derive_config(const struct image_index *ix, const char *diff_id,
			   const struct export_args *a, size_t *len)
{
	json_object *cfg = NULL;
	char jerr[200] = "not a JSON object"; /* when the parse succeeds */
	if (json_parse(ix->config, ix->config_len, &cfg, jerr, sizeof(jerr)) <
		    0 ||
	    !json_object_is_type(cfg, json_type_object)) {
		lf_err("image '%s': config.json: %s", ix->dir, jerr);
		json_object_put(cfg);
		return NULL;
	}
	char now[40];
	rfc3339(a->reproducible ? (time_t)clamp_time() : time(NULL), now,
		sizeof(now));
	json_object *rootfs = jobj(cfg, "rootfs");
	if (!rootfs) {
		rootfs = json_object_new_object();
		json_object_object_add(rootfs, "type",
				       json_object_new_string("layers"));
		json_object_object_add(cfg, "rootfs", rootfs);
	}
	json_object *ids = jarr(rootfs, "diff_ids");
	if (!ids) {
		ids = json_object_new_array();
		json_object_object_add(rootfs, "diff_ids", ids);
	}
	json_object_array_add(ids, json_object_new_string(diff_id));
	json_object *hist = jarr(cfg, "history");
	if (!hist) {
		hist = json_object_new_array();
		json_object_object_add(cfg, "history", hist);
	}
	json_object *h = json_object_new_object();
	json_object_object_add(h, "created", json_object_new_string(now));
	json_object_object_add(h, "created_by",
			       json_object_new_string("layertool export"));
	if (a->author)
		json_object_object_add(h, "author",
				       json_object_new_string(a->author));
	if (a->message)
		json_object_object_add(h, "comment",
				       json_object_new_string(a->message));
	json_object_array_add(hist, h);
	json_object_object_add(cfg, "created", json_object_new_string(now));
	if (a->author)
		json_object_object_add(cfg, "author",
				       json_object_new_string(a->author));
	char *text = json_text(cfg, len);
	json_object_put(cfg);
	return text;
}

/* Unpacks the exported tar (open as fd) into the store unless a layer
 * with that diff ID is already there. */
static int store_layer(struct store *st, int fd, const struct tw_result *res,
		       bool override_owner, char *name, size_t namesize)
{
	int r = store_layer_name(res->diff_id, override_owner, name, namesize);
	if (r < 0 || store_has(st, name))
		return r;
	char tmp[64], err[500];
	r = store_temp(st, true, tmp, sizeof(tmp));
	if (r < 0) {
		lf_err("cannot write to the layer store '%s': %s", st->path,
		       strerror(-r));
		return -EIO;
	}
	int dfd = openat(st->fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		store_discard(st, tmp);
		return r;
	}
	struct unpack_opts o = { .override_owner = override_owner,
				 .device_standins = override_owner };
	struct layer_digests dg;
	r = lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
	if (r == 0)
		r = layer_unpack(fd, DIGEST_SHA256, DIGEST_SHA256, dfd, &o, NULL,
				 &dg, NULL, err, sizeof(err));
	close(dfd);
	if (r == 0 && strcmp(dg.diff, res->diff_id) != 0) {
		snprintf(err, sizeof(err), "the layer changed while stored");
		r = -EIO;
	}
	if (r == 0)
		r = store_publish(st, tmp, name);
	if (r < 0) {
		store_discard(st, tmp);
		lf_err("cannot store the new layer in '%s': %s", st->path,
		       err[0] ? err : strerror(-r));
	}
	return r;
}

static int export_image(const struct export_args *a, struct lower_set *ls)
{
	char err[600];
	int r = image_dir_check_free(a->new_image, err, sizeof(err));
	if (r < 0) {
		lf_err("%s", err);
		return LT_EXIT_OUTPUT;
	}
	struct image_index ix;
	r = image_index_load(a->image, &ix, err, sizeof(err));
	if (r < 0) {
		lf_err("%s", err);
		return LT_EXIT_INPUT;
	}
	/* The image's own layers are what the upper was mounted on. */
	char path[PATH_MAX];
	for (size_t i = ix.nlayers; !ls->given && r == 0 && i-- > 0;) {
		snprintf(path, sizeof(path), "%s/layers/%zu", ix.dir, i);
		r = lower_add(ls, path);
	}
	if (r == 0 && !ix.nlayers)
		ls->given = true;
	if (r < 0) {
		image_index_free(&ix);
		return LT_EXIT_INPUT;
	}
	struct store st = { .fd = -1 };
	r = store_open(ix.store, &st, err, sizeof(err));
	if (r < 0) {
		lf_err("%s", err);
		image_index_free(&ix);
		return LT_EXIT_OUTPUT;
	}
	/* The tar goes to OUT.tar when asked for, else to a temporary in
	 * the store that is unpacked and dropped. */
	struct tw_result res;
	int fd = -1;
	char tmp[64] = "";
	if (a->out) {
		r = export_to_file(a, ls, &res);
		if (r == 0) {
			fd = open(a->out, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				r = -errno;
		}
	} else {
		r = store_temp(&st, false, tmp, sizeof(tmp));
		if (r == 0) {
			fd = openat(st.fd, tmp, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				r = -errno;
		}
		if (r == 0)
			r = write_layer(a, fd, ls, &res);
	}
	/* The new config before the layer goes into the store, so that an
	 * image whose config cannot take it leaves nothing in the store
	 * (an OUT.tar asked for is written by then). */
	size_t clen = 0;
	char *config = NULL;
	if (r == 0) {
		config = derive_config(&ix, res.diff_id, a, &clen);
		if (!config)
			r = -EINVAL;
	}
	struct image_layer_rec *recs = NULL;
	if (r == 0) {
		recs = calloc(ix.nlayers + 1, sizeof(*recs));
		if (!recs)
			r = -ENOMEM;
	}
	if (r == 0) {
		if (ix.nlayers)
			memcpy(recs, ix.layers,
			       ix.nlayers * sizeof(*recs));
		struct image_layer_rec *nr = &recs[ix.nlayers];
		snprintf(nr->diff_id, sizeof(nr->diff_id), "%s", res.diff_id);
		nr->size = res.tar_size;
		r = store_layer(&st, fd, &res, ix.override_owner,
				nr->store_name, sizeof(nr->store_name));
	}
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		store_discard(&st, tmp);
	int status = r < 0 ? exit_for(r) : LT_EXIT_OK;
	if (r == 0) {
		char source[PATH_MAX + 64];
		char *up = realpath(a->upper, NULL);
		snprintf(source, sizeof(source), "export of %s",
			 up ? up : a->upper);
		free(up);
		struct image_spec spec = {
			.config = config,
			.config_len = clen,
			.layers = recs,
			.nlayers = ix.nlayers + 1,
			.store = st.path,
			.override_owner = ix.override_owner,
			.os = ix.os,
			.arch = ix.arch,
			.variant = ix.variant,
			.source = source,
		};
		r = image_write(a->new_image, &spec, err, sizeof(err));
		if (r < 0) {
			lf_err("%s", err);
			status = LT_EXIT_OUTPUT;
		} else {
			char cdig[DIGEST_STR_MAX];
			digest_buf(config, clen, DIGEST_SHA256, cdig);
			printf("%s\n", cdig);
		}
	}
	free(config);
	free(recs);
	store_close(&st);
	image_index_free(&ix);
	return status;
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lower", required_argument, NULL, 'l' },
		{ "work", required_argument, NULL, 'w' },
		{ "reproducible", no_argument, NULL, 'R' },
		{ "compress", required_argument, NULL, 'c' },
		{ "image", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "message", required_argument, NULL, 'm' },
		{ "author", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct export_args a = { .compress = -1 };
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			a.lower = optarg;
			break;
		case 'w':
			a.work = optarg;
			break;
		case 'R':
			a.reproducible = true;
			break;
		case 'c':
			if (!strcmp(optarg, "none"))
				a.compress = TW_NONE;
			else if (!strcmp(optarg, "gzip"))
				a.compress = TW_GZIP;
			else if (!strcmp(optarg, "zstd"))
				a.compress = TW_ZSTD;
			else
				return usage_error("export",
						   "--compress is none, gzip "
						   "or zstd, not '%s'",
						   optarg);
			break;
		case 'i':
			a.image = optarg;
			break;
		case 'o':
			a.new_image = optarg;
			break;
		case 'm':
			a.message = optarg;
			break;
		case 'a':
			a.author = optarg;
			break;
		case 'h':
			fputs(export_help, stdout);
			return LT_EXIT_OK;
		default:
			return usage_error("export", NULL);
		}
	}
	int npos = argc - optind;
	if (!a.image != !a.new_image)
		return usage_error("export", "--image and --out go together");
	if (a.image ? (npos < 1 || npos > 2) : npos != 2)
		return usage_error("export",
				   a.image ? "export --image wants UPPER_DIR "
					     "[OUT.tar]"
					   : "export wants UPPER_DIR and "
					     "OUT.tar");
	if (!a.image && (a.message || a.author))
		return usage_error("export",
				   "--message and --author need --image");
	a.upper = argv[optind];
	a.out = npos == 2 ? argv[optind + 1] : NULL;
	if (a.image && a.out && !strcmp(a.out, "-"))
		return usage_error("export",
				   "with --image, OUT.tar cannot be '-'");
	if (a.compress < 0)
		a.compress = a.out ? compress_by_name(a.out) : TW_NONE;
	signals_install();
	struct lower_set ls = { 0 };
	if ((a.lower && lower_parse(&ls, a.lower) < 0) ||
	    (a.work && lower_from_record(&a, &ls) < 0)) {
		lower_close(&ls);
		return LT_EXIT_INPUT;
	}
	int status;
	if (a.image) {
		status = export_image(&a, &ls);
	} else {
		struct tw_result res;
		int r = export_to_file(&a, &ls, &res);
		status = r < 0 ? exit_for(r) : LT_EXIT_OK;
	}
	lower_close(&ls);
	if (signals_interrupted() && status != LT_EXIT_OK)
		status = LT_EXIT_INTERRUPTED;
	return status;
}
