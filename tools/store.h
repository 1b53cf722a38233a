/*
 * The layer store (docs/image-format.md): one directory per layer, named
 * after its diff ID, shared by every image that uses the layer.
 *
 * A layer is unpacked under a temporary name and renamed to its final
 * name only once verified, so a store never shows a half-unpacked layer.
 * Each temporary is held locked by the process writing it, for as long
 * as it exists; one whose lock can be taken was left by a run that is
 * gone, and is removed the next time the store is opened.  The lock,
 * not a process id, tells: a store may be shared by processes of
 * several PID namespaces, where an id says nothing.
 *
 * The lock of a temporary NAME is flock(LOCK_EX) on the file
 * NAME.lock beside it, open for reading and writing; not on the
 * temporary, a directory, which opens for reading only: where flock is
 * emulated with fcntl locks (NFS), an exclusive lock needs a
 * descriptor open for writing, and one on a directory failed with
 * EBADF.  The lock file is made and locked before its temporary, and
 * removed after it, so a temporary never exists without it; a
 * temporary without one is an older layertool's, which locked the
 * temporary itself, and is judged by that lock.
 */
#ifndef LT_STORE_H
#define LT_STORE_H

#include <stdbool.h>
#include <stddef.h>

#define STORE_DEFAULT_NAME ".layerstore"
#define STORE_OVERRIDE_SUFFIX ".override_stat"
#define STORE_TMP_PREFIX ".tmp-"
#define STORE_LOCK_SUFFIX ".lock"

/* A temporary of this process, and the descriptor holding its lock (of
 * its lock file). */
struct store_temp_lock {
	char name[64];
	int fd;
};

struct store {
	char *path; /* absolute */
	int fd;
	bool created; /* this process made the store directory */
	struct store_temp_lock *locks;
	size_t nlocks;
};

/* Opens (creating it if needed) the store at PATH. */
int store_open(const char *path, struct store *s, char *err, size_t errlen);
void store_close(struct store *s);
/* Closes and, when this process created the store and a failure left it
 * empty, removes it again. */
void store_close_failed(struct store *s);

/* The default store of an image directory: dirname(IMAGE_DIR)/.layerstore,
 * from an absolute IMAGE_DIR.  malloc'd. */
char *store_default_path(const char *abs_image_dir);

/*
 * The directory name of a layer: "sha256-<hex>", with ".override_stat"
 * appended for a layer whose owners are recorded in xattrs (a rootless
 * import), which must not be mistaken for a layer with real owners.
 */
int store_layer_name(const char *diff_id, bool override_owner, char *buf,
		     size_t size);
bool store_has(const struct store *s, const char *name);

/* Makes a fresh temporary directory (or, with dir false, an empty
 * temporary file) in the store, locked until store_publish or
 * store_discard. */
int store_temp(struct store *s, bool dir, char *name, size_t size);
/* Renames the temporary TMP to NAME; when NAME appeared meanwhile (an
 * import running in parallel) TMP is dropped and that one kept. */
int store_publish(struct store *s, const char *tmp, const char *name);
void store_discard(struct store *s, const char *tmp);

#endif
