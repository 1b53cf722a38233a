/*
 * What an image to import is made of, whatever form it came in: the
 * config's bytes and digest, and its layers' blobs with the digests they
 * must have.  source_open() recognises the form:
 *
 *   OCI image layout   directory with oci-layout and index.json
 *   docker-archive     `docker save`/`podman save` (manifest.json), as a
 *                      tar or unpacked
 *   OCI archive        a tar of an OCI image layout
 *   rootfs tarball     any other tar (compressed or not): one layer, and
 *                      a configuration made up for it
 *
 * An archive holding an image is first staged (its members written, with
 * the same path rules as layers) into a temporary directory of the store;
 * every blob read from it is then verified against its digest.
 */
#ifndef LT_SOURCE_H
#define LT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"

struct store;

struct source_layer {
	char *path;            /* blob, relative to the source root */
	char *digest;          /* expected blob digest, NULL if unknown */
	int64_t size;          /* expected blob size, -1 if unknown */
	char *media_type;      /* NULL if the source does not say */
};

struct image_source {
	char *kind;            /* "oci-layout", "docker-archive", ... */
	int rootfd;            /* the layout or staged archive; -1 for rootfs */
	char staged[64];       /* store temporary holding a staged archive */
	char *config;          /* bytes; NULL for a rootfs tarball */
	size_t config_len;
	struct source_layer *layers; /* bottom first */
	size_t nlayers;
	char **diff_ids;       /* from the config, same order */
	int rootfs_fd;         /* a rootfs tarball, else -1 */
	char *os, *arch, *variant;
};

struct source_select {
	const char *platform;  /* "os/arch[/variant]", NULL for this host */
	const char *ref;       /* tag or ref name, NULL for the only one */
};

/*
 * Opens SOURCE.  On failure returns -errno (-EINVAL for something that is
 * not a valid image) with the reason in err.
 */
int source_open(const char *source, struct store *store,
		const struct source_select *sel, struct image_source *out,
		char *err, size_t errlen);
void source_close(struct image_source *src, struct store *store);

/* Reads a whole small blob below rootfd and checks it against DIGEST
 * (and SIZE unless -1). */
int source_read_blob(int rootfd, const char *path, const char *digest,
		     int64_t size, char **data, size_t *len, char *err,
		     size_t errlen);

/* Opens PATH below rootfd for reading: a symlink may lead anywhere inside
 * the source, never out of it, and only a regular file is opened (a FIFO
 * would block the open, a device never end).  On failure writes one line
 * to err and returns -errno (-EINVAL for a symlink out or a file that is
 * not regular). */
int source_open_file(int rootfd, const char *path, char *err,
		     size_t errlen);

/* "blobs/sha256/<hex>" for a digest, malloc'd; NULL when malformed. */
char *source_blob_path(const char *digest);

/* Fills diff_ids, os/arch/variant from the config bytes and checks the
 * layer count against them. */
int source_parse_config(struct image_source *src, char *err, size_t errlen);

/* The readers of each form (source_oci.c, source_docker.c). */
int source_oci_load(struct image_source *src, const struct source_select *sel,
		    char *err, size_t errlen);
int source_docker_load(struct image_source *src,
		       const struct source_select *sel, char *err,
		       size_t errlen);

/* A --platform value, OS/ARCH[/VARIANT]: its parts (variant "" when
 * none), or -EINVAL with the message in err. */
struct platform_parts {
	char os[64], arch[64], variant[64];
};
int source_parse_platform(const char *text, struct platform_parts *out,
			  char *err, size_t errlen);

/* The host platform as OCI names it ("linux", "amd64", variant or NULL). */
void source_host_platform(const char **os, const char **arch,
			  const char **variant);

#endif
