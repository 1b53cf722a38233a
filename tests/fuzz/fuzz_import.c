/* Fuzz target: layertool import of a layer blob (tar, any compression)
 * and of an image archive, from bytes that may be anything.  Beyond not
 * crashing, nothing may be written outside the layer directory: the
 * scratch directory around it must hold exactly what it held before. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive_stage.h"
#include "fsutil.h"
#include "layer_stream.h"
#include "rmtree.h"
#include "unpack.h"

/* scratch/ holds "canary" and, during a run, "root" and "stage". */
static int scratch_fd = -1;
static char scratch[] = "/tmp/fuzz-import.XXXXXX";

static void remove_scratch(void)
{
	lf_rmtree_at(AT_FDCWD, scratch);
}

static void setup(void)
{
	if (!mkdtemp(scratch))
		abort();
	atexit(remove_scratch);
	scratch_fd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (scratch_fd < 0)
		abort();
	int fd = openat(scratch_fd, "canary", O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write(fd, "canary\n", 7) != 7)
		abort();
	close(fd);
}

/* Only the canary may be left in scratch/, unchanged. */
static void check_scratch(void)
{
	DIR *d = fdopendir(dup(scratch_fd));
	if (!d)
		abort();
	rewinddir(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "canary")) {
			fprintf(stderr, "written outside the layer: %s\n",
				e->d_name);
			abort();
		}
	}
	closedir(d);
	struct stat st;
	if (fstatat(scratch_fd, "canary", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size != 7 || st.st_nlink != 1) {
		fprintf(stderr, "the canary beside the layer changed\n");
		abort();
	}
}

static int fresh_dir(const char *name)
{
	if (mkdirat(scratch_fd, name, 0755) < 0)
		abort();
	int fd = openat(scratch_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		abort();
	return fd;
}

static void remove_dir(int fd, const char *name)
{
	close(fd);
	if (lf_rmtree_at(scratch_fd, name) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (scratch_fd < 0)
		setup();
	int blob = memfd_create("blob", MFD_CLOEXEC);
	if (blob < 0 || (size && write(blob, data, size) != (ssize_t)size) ||
	    lseek(blob, 0, SEEK_SET) < 0)
		abort();
	char err[512];

	/* A layer blob, the way import stores it (owners recorded or, as
	 * root, applied; devices always stand-in files, never nodes). */
	int root = fresh_dir("root");
	struct unpack_opts o = { .override_owner = (size & 1) != 0,
				 .device_standins = true };
	struct layer_digests dg;
	struct unpack_counts counts;
	layer_unpack(blob, DIGEST_SHA256, DIGEST_SHA256, root, &o, NULL, &dg,
		     &counts, err, sizeof(err));
	remove_dir(root, "root");
	check_scratch();

	/* An image archive: scanned, then staged. */
	if (lseek(blob, 0, SEEK_SET) < 0)
		abort();
	struct archive_kind kind;
	if (archive_scan(blob, &kind, err, sizeof(err)) == 0) {
		int stage = fresh_dir("stage");
		if (lseek(blob, 0, SEEK_SET) < 0)
			abort();
		archive_stage(blob, stage, err, sizeof(err));
		remove_dir(stage, "stage");
		check_scratch();
	}
	close(blob);
	return 0;
}
