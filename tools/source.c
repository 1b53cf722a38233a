#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "archive_stage.h"
#include "fsutil.h"
#include "json_util.h"
#include "lf_common.h"
#include "safe_path.h"
#include "store.h"

int source_parse_platform(const char *text, struct platform_parts *out,
			  char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	int n = sscanf(text, "%63[^/]/%63[^/]/%63[^/]", out->os, out->arch,
		       out->variant);
	if (n < 2 || strlen(text) != strlen(out->os) + 1 + strlen(out->arch) +
					      (n == 3 ? 1 + strlen(out->variant)
						      : 0)) {
		snprintf(err, errlen,
			 "--platform wants OS/ARCH[/VARIANT], not '%s'", text);
		return -EINVAL;
	}
	return 0;
}

void source_host_platform(const char **os, const char **arch,
			  const char **variant)
{
	struct utsname u;
	*os = "linux";
	*variant = NULL;
	*arch = "amd64";
	if (uname(&u) < 0)
		return;
	/* The kernel's machine names, as OCI (GOARCH) spells them. */
	static const struct {
		const char *machine, *arch, *variant;
	} map[] = {
		{ "x86_64", "amd64", NULL },   { "aarch64", "arm64", NULL },
		{ "armv7l", "arm", "v7" },     { "armv6l", "arm", "v6" },
		{ "i686", "386", NULL },       { "i386", "386", NULL },
		{ "ppc64le", "ppc64le", NULL }, { "s390x", "s390x", NULL },
		{ "riscv64", "riscv64", NULL }, { "mips64", "mips64", NULL },
		{ "loongarch64", "loong64", NULL },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(u.machine, map[i].machine) == 0) {
			*arch = map[i].arch;
			*variant = map[i].variant;
			return;
		}
}

int source_open_file(int rootfd, const char *path, char *err,
		     size_t errlen)
{
	/* The kind first, through O_PATH: a device's open would reach its
	 * driver (a tape rewinds, a watchdog arms) before it is refused. */
	int fd = sp_open_inside(rootfd, path, O_PATH);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 fd == -EXDEV ? "a symlink leads outside the image "
					"directory"
				      : strerror(-fd));
		return fd == -EXDEV ? -EINVAL : fd;
	}
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else
		r = sp_reopen(fd, O_RDONLY); /* that inode, no name again */
	close(fd);
	if (r >= 0)
		return r;
	if (r == -EINVAL)
		snprintf(err, errlen, "'%s' is not a regular file", path);
	else
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 strerror(-r));
	return r;
}

char *source_blob_path(const char *digest)
{
	enum digest_algo algo;
	const char *hex;
	if (digest_parse(digest, &algo, &hex) < 0)
		return NULL;
	char *out;
	if (asprintf(&out, "blobs/%s/%s",
		     algo == DIGEST_SHA512 ? "sha512" : "sha256", hex) < 0)
		return NULL;
	return out;
}

int source_read_blob(int rootfd, const char *path, const char *digest,
		     int64_t size, char **data, size_t *len, char *err,
		     size_t errlen)
{
	int fd = source_open_file(rootfd, path, err, errlen);
	if (fd < 0)
		return fd;
	char *buf;
	size_t n;
	/* Manifests and configs are small; a huge one is not an image. */
	int r = lf_read_fd(fd, 64u << 20, &buf, &n);
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path,
			 strerror(-r));
		return r;
	}
	if (size >= 0 && (uint64_t)size != n) {
		snprintf(err, errlen,
			 "'%s' has %zu bytes where %lld were announced", path,
			 n, (long long)size);
		free(buf);
		return -EINVAL;
	}
	if (digest) {
		enum digest_algo algo;
		if (digest_parse(digest, &algo, NULL) < 0) {
			snprintf(err, errlen, "malformed digest '%s'", digest);
			free(buf);
			return -EINVAL;
		}
		char got[DIGEST_STR_MAX];
		digest_buf(buf, n, algo, got);
		if (strcmp(got, digest) != 0) {
			snprintf(err, errlen,
				 "digest mismatch for '%s': expected %s, got %s",
				 path, digest, got);
			free(buf);
			return -EINVAL;
		}
	}
	*data = buf;
	*len = n;
	return 0;
}

int source_parse_config(struct image_source *src, char *err, size_t errlen)
{
	json_object *cfg;
	char jerr[200];
	int r = json_parse(src->config, src->config_len, &cfg, jerr,
			   sizeof(jerr));
	if (r < 0) {
		snprintf(err, errlen, "image configuration: %s", jerr);
		return r;
	}
	json_object *rootfs = jobj(cfg, "rootfs");
	json_object *ids = jarr(rootfs, "diff_ids");
	const char *type = jstr(rootfs, "type");
	if (!ids || !type || strcmp(type, "layers") != 0) {
		snprintf(err, errlen,
			 "image configuration has no rootfs.diff_ids");
		json_object_put(cfg);
		return -EINVAL;
	}
	size_t n = json_object_array_length(ids);
	if (n != src->nlayers) {
		snprintf(err, errlen,
			 "the manifest lists %zu layers but the "
			 "configuration %zu diff IDs",
			 src->nlayers, n);
		json_object_put(cfg);
		return -EINVAL;
	}
	src->diff_ids = calloc(n + 1, sizeof(char *));
	if (!src->diff_ids) {
		json_object_put(cfg);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(ids, i);
		const char *s = json_object_is_type(d, json_type_string)
					? json_object_get_string(d)
					: NULL;
		if (!s || digest_parse(s, NULL, NULL) < 0) {
			snprintf(err, errlen,
				 "diff ID %zu of the configuration is not a "
				 "valid digest",
				 i);
			json_object_put(cfg);
			return -EINVAL;
		}
		src->diff_ids[i] = strdup(s);
	}
	const char *os = jstr(cfg, "os"), *arch = jstr(cfg, "architecture"),
		   *variant = jstr(cfg, "variant");
	src->os = strdup(os ? os : "linux");
	src->arch = strdup(arch ? arch : "");
	src->variant = variant ? strdup(variant) : NULL;
	json_object_put(cfg);
	return 0;
}

static bool has_file(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

static int load_dir(struct image_source *src, const struct source_select *sel,
		    char *err, size_t errlen)
{
	if (has_file(src->rootfd, "index.json")) {
		free(src->kind);
		src->kind = strdup(src->staged[0] ? "oci-archive" : "oci-layout");
		return source_oci_load(src, sel, err, errlen);
	}
	if (has_file(src->rootfd, "manifest.json")) {
		free(src->kind);
		src->kind = strdup("docker-archive");
		return source_docker_load(src, sel, err, errlen);
	}
	snprintf(err, errlen,
		 "not an image: neither index.json (OCI layout) nor "
		 "manifest.json (docker-archive)");
	return -EINVAL;
}

int source_open(const char *source, struct store *store,
		const struct source_select *sel, struct image_source *out,
		char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->rootfd = -1;
	out->rootfs_fd = -1;
	/* The user names the source: a symlink there is the user's choice.
	 * Its kind first, through O_PATH: a FIFO's open would wait for a
	 * writer for ever, a device's reach its driver. */
	int pfd = open(source, O_PATH | O_CLOEXEC);
	struct stat st;
	if (pfd < 0 || fstat(pfd, &st) < 0) {
		int e = errno;
		if (pfd >= 0)
			close(pfd);
		snprintf(err, errlen, "cannot open '%s': %s", source,
			 strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		close(pfd);
		snprintf(err, errlen, "'%s' is neither a file nor a directory",
			 source);
		return -EINVAL;
	}
	/* That inode, not the name again. */
	int fd = sp_reopen(pfd, S_ISDIR(st.st_mode) ? O_RDONLY | O_DIRECTORY
						    : O_RDONLY);
	close(pfd);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", source,
			 strerror(-fd));
		return fd;
	}
	if (S_ISDIR(st.st_mode)) {
		out->rootfd = fd;
		return load_dir(out, sel, err, errlen);
	}
	struct archive_kind kind;
	char why[300];
	int r = archive_scan(fd, &kind, why, sizeof(why));
	if (r < 0) {
		close(fd);
		snprintf(err, errlen, "'%s': %s", source, why);
		return r;
	}
	if (!kind.oci_layout && !kind.docker) {
		out->kind = strdup("rootfs");
		out->rootfs_fd = fd;
		out->nlayers = 1;
		return 0;
	}
	r = store_temp(store, true, out->staged, sizeof(out->staged));
	if (r < 0) {
		close(fd);
		snprintf(err, errlen, "cannot stage '%s': %s", source,
			 strerror(-r));
		return r;
	}
	out->rootfd = openat(store->fd, out->staged,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (out->rootfd < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = archive_stage(fd, out->rootfd, why, sizeof(why));
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "'%s': %s", source, why);
		return r;
	}
	return load_dir(out, sel, err, errlen);
}

void source_close(struct image_source *src, struct store *store)
{
	if (src->rootfd >= 0)
		close(src->rootfd);
	if (src->rootfs_fd >= 0)
		close(src->rootfs_fd);
	if (src->staged[0] && store)
		store_discard(store, src->staged);
	for (size_t i = 0; i < src->nlayers && src->layers; i++) {
		free(src->layers[i].path);
		free(src->layers[i].digest);
		free(src->layers[i].media_type);
	}
	free(src->layers);
	if (src->diff_ids)
		for (size_t i = 0; src->diff_ids[i]; i++)
			free(src->diff_ids[i]);
	free(src->diff_ids);
	free(src->config);
	free(src->kind);
	free(src->os);
	free(src->arch);
	free(src->variant);
	memset(src, 0, sizeof(*src));
	src->rootfd = src->rootfs_fd = -1;
}
