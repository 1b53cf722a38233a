/*
 * layertool fsck --work WORKDIR [UPPER LOWER...]: checks what a layerfs
 * mount keeps in its work directory against its layers, with the mount
 * down, and with --repair puts it right.
 *
 * The hard-link index (fs/index.h) keeps, for each lower file with
 * several names that was copied up, the copy (index/KEY, linked by its
 * upper names) and the link count the mount shows: its upper names and
 * its lower names not copied up.  The mount cannot keep both right
 * through a crash, nor know when an entry is no longer needed:
 *
 * - A link or an unlink through the mount changes the name and the count
 *   in two steps, in the order that never shows a count above the names
 *   (the name goes after the count is lowered, the count rises after the
 *   name is made), so a crash between them leaves the count one too low
 *   (index-count).  A count above the names is no fault: it counts lower
 *   names a higher layer hides, as the lower inode's own count does, and
 *   as kernel overlayfs shows it.
 * - The mount removes an entry when its count and upper names reach
 *   none, but a count that holds a lower name a higher layer hides
 *   never does, nor one the mount cannot trust (after a crash, under
 *   udba=reval): such an entry stays, holding its disk space, when no
 *   name needs it any more (index-orphan).  Only the lower layers'
 *   names tell; fsck walks the merged view once (index_links.h).
 *
 * Once no count is left low, it marks the counts checked, and takes
 * away a crash's mark (lib/workdir.h): mounts trust the counts again.
 *
 * An immutable or append-only flag an entry keeps is lifted for a
 * repair and put back, signals blocked and the flags recorded first
 * (flag_lift.h); the record a run killed meanwhile left is read before
 * anything else, and --repair puts the flag back (index-flags).
 *
 * It also reports what a crash left in work/ (the next mount removes it,
 * and so does --repair) and files in the index that are no entry.
 *
 * The layers are those the last mount recorded (lib/workdir.h), or
 * those given, which must be the same: a layer left out would make the
 * names it holds look gone, and entries they need look orphaned.
 *
 * The work directory's lock, the one each mount takes, is held all
 * along: fsck refuses a work directory in use, and a mount started
 * meanwhile refuses to start.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "flag_lift.h"
#include "fsutil.h"
#include "index_links.h"
#include "json_util.h"
#include "lf_common.h"
#include "name_list.h"
#include "rmtree.h"
#include "union.h"
#include "whiteout.h"
#include "workdir.h"
#include "xattr_policy.h"

static const char fsck_help[] =
	"usage: layertool fsck [--repair] [--json] --work WORKDIR "
	"[UPPER LOWER...]\n"
	"\n"
	"Checks the work directory of a layerfs mount that is down against\n"
	"its upper and lower layers: those its last mount used, which it\n"
	"records in WORKDIR/layers, or those given (top first), which must\n"
	"be the same.  Lists each problem with a code:\n"
	"\n"
	"  index-orphan     a hard-link index entry no name of the view\n"
	"                   reaches any more: disk space only\n"
	"  index-count      an entry's link count below its names (a crash\n"
	"                   between a link or unlink and its count), or none\n"
	"  index-stray      a file in the index that is no entry\n"
	"  index-foreign    an entry of a lower file on a filesystem no LOWER\n"
	"                   is on: the layers given are not the mount's\n"
	"  work-leftover    what a crash left in WORKDIR/work\n"
	"  index-flags      an entry's immutable or append-only flag, lifted\n"
	"                   by a repair that was killed (WORKDIR/fsck-lifted)\n"
	"\n"
	"  --work WORKDIR       the mount's work directory (required)\n"
	"  --repair             remove orphans, strays and leftovers, set the\n"
	"                       counts and put lost flags back (never an\n"
	"                       index-foreign entry, nor an index file\n"
	"                       layerfs does not make)\n"
	"  --json               one JSON document instead of lines\n"
	"  -h, --help           this text\n"
	"\n"
	"Once no count is left low, it marks the counts checked\n"
	"(WORKDIR/index-checked; a crash's WORKDIR/mounted goes): mounts then\n"
	"remove entries whose names all went, on their count.\n"
	"A work directory a mount is using is refused.  Exit status: 0 no\n"
	"problem left, 1 usage, 2 a layer or the work directory is unusable\n"
	"or in use, 3 a repair failed, 4 problems found and not repaired.\n";

struct finding {
	char *path, *code, *message;
	bool repaired;
};

struct fsck {
	const char *work_path;
	bool repair;
	int workdir_fd, work_fd;   /* work_fd: WORKDIR/work, -1 if none */
	struct ustack stack;       /* [upper, lower...] */
	char **names;              /* the layers, as given or recorded */
	struct workdir_layer *rec; /* the last mount's (lib/workdir.h) */
	size_t nrec;
	dev_t *lower_devs;         /* the lower layers' filesystems */
	/* Inodes of the non-directories in work/ that stay (the count of
	 * an entry's upper names leaves out its links there). */
	ino_t *work_inodes;
	size_t nwork;
	struct finding *v;
	size_t n, cap;
	size_t found, repaired, failed;
	/* Entries whose count is still below their names, or was not
	 * checked (index-foreign): the mount must not trust the counts. */
	size_t counts_left;
};

static void note(struct fsck *f, const char *path, const char *code,
		 bool repaired, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void note(struct fsck *f, const char *path, const char *code,
		 bool repaired, const char *fmt, ...)
{
	f->found++;
	if (repaired)
		f->repaired++;
	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 16;
		struct finding *nv = realloc(f->v, nc * sizeof(*nv));
		if (!nv)
			return;
		f->v = nv;
		f->cap = nc;
	}
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->v[f->n++] = (struct finding){ strdup(path), strdup(code),
					 strdup(msg), repaired };
}

/* A repair that failed: one line now, exit 3 at the end. */
static void repair_failed(struct fsck *f, const char *path, const char *what,
			  int err)
{
	lf_err("cannot %s '%s/%s': %s", what, f->work_path, path,
	       strerror(err));
	f->failed++;
}

/* ---- work/ ---------------------------------------------------------- */

/* Links of inode ino in work/ (a crash leaves a few at most). */
static size_t work_links(const struct fsck *f, ino_t ino)
{
	size_t n = 0;
	for (size_t i = 0; i < f->nwork; i++)
		n += f->work_inodes[i] == ino;
	return n;
}

/* The inodes every whiteout a mount makes links (fs/whiteout_ops.c):
 * kept in work/ between mounts. */
static bool is_shared_whiteout(const char *name)
{
	return !strcmp(name, WH_SHARED_DOTWH) ||
	       !strcmp(name, WH_SHARED_CHARDEV);
}

/* Each other name in work/: a copy-up staged, a directory being
 * removed, a whiteout being made, which a crash stopped.  The mount
 * removes them when it starts; so does --repair, before the index is
 * looked at. */
static int check_work(struct fsck *f)
{
	f->work_fd = openat(f->workdir_fd, WORKDIR_WORK,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (f->work_fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct name_list l;
	int r = fs_list_dir(f->work_fd, &l);
	if (r < 0)
		return r;
	size_t cap = 0;
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		char path[NAME_MAX + 8];
		snprintf(path, sizeof(path), "work/%s", l.names[i]);
		struct stat st;
		if (is_shared_whiteout(l.names[i]) ||
		    fstatat(f->work_fd, l.names[i], &st, AT_SYMLINK_NOFOLLOW) <
			    0)
			continue;
		bool removed = false;
		if (f->repair) {
			int e = lf_rmtree_at(f->work_fd, l.names[i]);
			if (e < 0)
				repair_failed(f, path, "remove", -e);
			removed = e == 0;
		}
		note(f, path, "work-leftover", removed,
		     "left by a crash in the middle of a change (the next "
		     "mount removes it)");
		if (removed || S_ISDIR(st.st_mode))
			continue;
		if (f->nwork == cap) {
			size_t nc = cap ? cap * 2 : 16;
			ino_t *nv = realloc(f->work_inodes, nc * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			f->work_inodes = nv;
			cap = nc;
		}
		f->work_inodes[f->nwork++] = st.st_ino;
	}
	name_list_free(&l);
	return r;
}

/* ---- the index ------------------------------------------------------ */

/*
 * A change the immutable or append-only flag of a regular file refuses
 * (EPERM) is made with the flags lifted: a copy-up keeps them on the
 * entry (fs/fileattr.c).  flag_lift.h keeps them from being lost in
 * between: signals blocked, and a record for a kill or a crash, which
 * the next run reads first (recover_lifted).
 */
static int remove_entry_name(struct fsck *f, int index_fd, const char *name)
{
	if (unlinkat(index_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EPERM)
		return -errno;
	struct flag_lift l;
	int r = flag_lift(f->workdir_fd, index_fd, name, &l);
	if (r <= 0)
		return r < 0 ? r : -EPERM;
	r = unlinkat(index_fd, name, 0) < 0 ? -errno : 0;
	/* (Put back also when it went: onto what other names it has.) */
	int e = flag_lift_end(&l);
	return r < 0 ? r : e;
}

/* The count file of a symlink's or a device's entry, gone: made again
 * as the mount makes it (fs/index.c, write_special_count), an empty file
 * of mode 0600, the index's owner's. */
static int make_count_file(int index_fd, const char *holder)
{
	int fd = openat(index_fd, holder,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	struct stat ist;
	if (fstat(index_fd, &ist) == 0 &&
	    fchown(fd, ist.st_uid, ist.st_gid) < 0 && errno != EPERM) {
		int e = -errno;
		close(fd);
		unlinkat(index_fd, holder, 0);
		return e;
	}
	close(fd);
	return 0;
}

static int set_count(struct fsck *f, int index_fd, const char *holder,
		     bool special, uint64_t count)
{
	char v[32];
	int len = snprintf(v, sizeof(v), "%llu", (unsigned long long)count);
	int r = fs_xattr_set_at(index_fd, holder, XATTR_LFS_NLINK, v,
				(size_t)len);
	if (r == -ENOENT && special) {
		r = make_count_file(index_fd, holder);
		if (r == 0)
			r = fs_xattr_set_at(index_fd, holder, XATTR_LFS_NLINK,
					    v, (size_t)len);
	}
	if (r != -EPERM)
		return r;
	struct flag_lift l;
	int lifted = flag_lift(f->workdir_fd, index_fd, holder, &l);
	if (lifted <= 0)
		return lifted < 0 ? lifted : r;
	r = fs_xattr_set_at(index_fd, holder, XATTR_LFS_NLINK, v, (size_t)len);
	int e = flag_lift_end(&l);
	return r < 0 ? r : e;
}

/* Whether NAME is one an index holds: KEY, or KEY.nlink. */
static bool index_name(const char *name)
{
	size_t len = strlen(name), slen = strlen(IL_NLINK_SUFFIX);
	if (len > slen && !strcmp(name + len - slen, IL_NLINK_SUFFIX))
		len -= slen;
	return index_links_key(name, len, NULL, NULL);
}

/* With --repair, removes the record of lifted flags (saying so when it
 * cannot); 0 or -errno.  Without, leaves it: 0. */
static int drop_lift_record(struct fsck *f)
{
	int e = f->repair ? flag_lift_record_drop(f->workdir_fd) : 0;
	if (e < 0)
		repair_failed(f, FLAG_LIFT_RECORD, "remove", -e);
	return e;
}

/*
 * The record of a --repair killed (or cut by a crash) with an entry's
 * immutable or append-only flag lifted (flag_lift.h), read before
 * anything else: the flag is off until put back.  --repair puts it back
 * and drops the record; a record with nothing missing any more (the
 * entry gone, or the flag on) is dropped without a word.
 */
static void recover_lifted(struct fsck *f)
{
	char name[NAME_MAX + 1], path[NAME_MAX + 8];
	unsigned long long ino;
	int flags;
	int r = flag_lift_record_read(f->workdir_fd, name, sizeof(name), &ino,
				      &flags);
	if (r == -ENOENT)
		return;
	if (r == 0 && !index_name(name))
		r = -EINVAL;
	if (r < 0 && r != -EINVAL) {
		repair_failed(f, FLAG_LIFT_RECORD, "read", -r);
		return;
	}
	if (r == -EINVAL) {
		/* Written in full before anything is lifted: one cut short
		 * (or not ours) lifted nothing. */
		int e = drop_lift_record(f);
		note(f, FLAG_LIFT_RECORD, "index-flags", f->repair && e == 0,
		     "a malformed record of flags a repair lifted (none was "
		     "lifted on its word)");
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", WORKDIR_INDEX, name);
	int index_fd = openat(f->workdir_fd, WORKDIR_INDEX,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int missing = 0;
	if (index_fd >= 0) {
		missing = flag_lift_missing(index_fd, name, ino, flags,
					    f->repair);
		close(index_fd);
	} else if (errno != ENOENT) {
		missing = -errno;
	}
	if (missing < 0) {
		repair_failed(f, path, "put back the flags of", -missing);
		return;
	}
	int e = drop_lift_record(f);
	if (missing)
		note(f, path, "index-flags", f->repair && e == 0,
		     "its %s flag is off: lifted by a repair that was killed "
		     "before it put it back (%s/%s)",
		     flags & FS_IMMUTABLE_FL && flags & FS_APPEND_FL
			     ? "immutable and append-only"
		     : flags & FS_IMMUTABLE_FL ? "immutable"
					       : "append-only",
		     f->work_path, FLAG_LIFT_RECORD);
}

static bool lower_dev_known(const struct fsck *f, dev_t dev)
{
	for (size_t i = 1; i < f->stack.n; i++)
		if (f->lower_devs[i] == dev)
			return true;
	return false;
}

/* One entry, whose lower names the walk counted. */
static void check_entry(struct fsck *f, int index_fd,
			const struct index_link *e)
{
	char path[sizeof(e->key) + 16], holder[sizeof(e->key) + 8];
	snprintf(path, sizeof(path), "index/%s", e->key);
	bool special = !S_ISREG(e->st.st_mode);
	/* A symlink's or a device's count is in a file beside it. */
	snprintf(holder, sizeof(holder), "%s%s", e->key,
		 special ? IL_NLINK_SUFFIX : "");
	if (!lower_dev_known(f, e->dev)) {
		f->counts_left++;
		note(f, path, "index-foreign", false,
		     "copy of a lower file on device %llx, where none of the "
		     "lower layers is: they are not the mount's (kept as it "
		     "is)",
		     (unsigned long long)e->dev);
		return;
	}
	size_t in_work = work_links(f, e->st.st_ino);
	uint64_t upper = (uint64_t)e->st.st_nlink > 1 + in_work
				 ? (uint64_t)e->st.st_nlink - 1 - in_work
				 : 0;
	uint64_t names = upper + e->lower_names;
	if (!names) {
		int r = 0;
		if (f->repair) {
			r = remove_entry_name(f, index_fd, e->key);
			if (r == 0 && special)
				r = remove_entry_name(f, index_fd, holder);
			if (r < 0)
				repair_failed(f, path, "remove", -r);
		}
		note(f, path, "index-orphan", f->repair && r == 0,
		     "no name of the view reaches it any more (its upper "
		     "names removed, its lower names hidden or gone)");
		return;
	}
	uint64_t shown = 0;
	int r = index_links_shown(index_fd, holder, &shown);
	if (r == 0 && shown >= names)
		return;
	char was[64];
	if (r == 0)
		snprintf(was, sizeof(was), "%llu", (unsigned long long)shown);
	else
		snprintf(was, sizeof(was), "%s",
			 r == -EINVAL ? "malformed" : "missing");
	int w = 0;
	if (f->repair) {
		w = set_count(f, index_fd, holder, special, names);
		if (w < 0)
			repair_failed(f, path, "set the link count of", -w);
	}
	if (!f->repair || w < 0)
		f->counts_left++;
	note(f, path, "index-count", f->repair && w == 0,
	     "link count %s, but the view has %llu names of it (%llu upper, "
	     "%zu lower)",
	     was, (unsigned long long)names, (unsigned long long)upper,
	     e->lower_names);
}

/* Names in the index that are no entry index_links took: a count file
 * whose entry is gone (a crash while a stale entry was retired), and
 * anything layerfs does not make, which is only reported. */
static int check_strays(struct fsck *f, int index_fd)
{
	struct name_list l;
	int r = fs_list_dir(index_fd, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n; i++) {
		const char *name = l.names[i];
		char path[NAME_MAX + 8];
		snprintf(path, sizeof(path), "index/%s", name);
		size_t len = strlen(name), slen = strlen(IL_NLINK_SUFFIX);
		struct stat st, entry;
		if (fstatat(index_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (index_links_key(name, len, NULL, NULL)) {
			if (S_ISDIR(st.st_mode))
				note(f, path, "index-stray", false,
				     "a directory, which layerfs never makes "
				     "in its index (kept as it is)");
			continue;
		}
		bool count = len > slen &&
			     !strcmp(name + len - slen, IL_NLINK_SUFFIX) &&
			     index_links_key(name, len - slen, NULL,
					     NULL) && S_ISREG(st.st_mode);
		if (!count) {
			note(f, path, "index-stray", false,
			     "not a name layerfs makes in its index (kept as "
			     "it is)");
			continue;
		}
		char key[IL_KEY_MAX];
		snprintf(key, sizeof(key), "%.*s", (int)(len - slen), name);
		if (fstatat(index_fd, key, &entry, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(entry.st_mode) && !S_ISDIR(entry.st_mode))
			continue; /* a special file's count */
		int e = 0;
		if (f->repair) {
			e = remove_entry_name(f, index_fd, name);
			if (e < 0)
				repair_failed(f, path, "remove", -e);
		}
		note(f, path, "index-stray", f->repair && e == 0,
		     "the link count of an entry that is not there");
	}
	name_list_free(&l);
	return 0;
}

/* ---- the command ---------------------------------------------------- */

static void print_text(const struct fsck *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct finding *p = &f->v[i];
		lf_print_line(stdout, "%s: %s: %s [%s]",
			      p->repaired ? "repaired" : "warning", p->path,
			      p->message, p->code);
	}
	printf("%zu problem%s, %zu repaired\n", f->found,
	       f->found == 1 ? "" : "s", f->repaired);
}

static void print_json(const struct fsck *f)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "work", json_object_new_string(f->work_path));
	json_object *layers = json_object_new_array();
	for (size_t i = 0; i < f->stack.n; i++)
		json_object_array_add(layers,
				      json_object_new_string(f->names[i]));
	json_object_object_add(o, "layers", layers);
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < f->n; i++) {
		const struct finding *p = &f->v[i];
		json_object *j = json_object_new_object();
		json_object_object_add(j, "path",
				       json_object_new_string(p->path ? p->path
								      : ""));
		json_object_object_add(j, "code",
				       json_object_new_string(p->code ? p->code
								      : ""));
		json_object_object_add(
			j, "message",
			json_object_new_string(p->message ? p->message : ""));
		json_object_object_add(j, "repaired",
				       json_object_new_boolean(p->repaired));
		json_object_array_add(arr, j);
	}
	json_object_object_add(o, "problems", arr);
	json_object_object_add(o, "found",
			       json_object_new_int64((int64_t)f->found));
	json_object_object_add(o, "repaired",
			       json_object_new_int64((int64_t)f->repaired));
	char *text = json_text(o, NULL);
	if (text)
		fputs(text, stdout);
	free(text);
	json_object_put(o);
}

/* Opens the work directory and takes its lock. */
static int open_workdir(struct fsck *f)
{
	f->workdir_fd = open(f->work_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->workdir_fd < 0) {
		lf_err("cannot open work directory '%s': %s", f->work_path,
		       strerror(errno));
		return LT_EXIT_INPUT;
	}
	if (flock(f->workdir_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			lf_err("work directory '%s' is in use by a layerfs "
			       "mount: unmount it first",
			       f->work_path);
		else
			lf_err("cannot lock work directory '%s': %s",
			       f->work_path, strerror(errno));
		return LT_EXIT_INPUT;
	}
	return LT_EXIT_OK;
}

/*
 * The layers the last mount used, from its record (lib/workdir.h):
 * what fsck checks against when none are given, and what those given
 * must be.  A record that cannot be read is no record, said once.
 */
static int read_record(struct fsck *f, bool needed)
{
	int r = workdir_layers_read(f->workdir_fd, &f->rec, &f->nrec);
	if (r == 0)
		return LT_EXIT_OK;
	struct stat st;
	if (r == -ENOENT && !needed && f->repair &&
	    (fstatat(f->workdir_fd, WORKDIR_INDEX, &st, AT_SYMLINK_NOFOLLOW) <
		     0 ||
	     !S_ISDIR(st.st_mode))) {
		/* Every mount since the record came writes it, and older
		 * ones made the index (but with index=off): without either
		 * this may be no work directory of layerfs, and --repair
		 * would empty its work/ of someone's files.  A check
		 * changes nothing, and goes on. */
		lf_err("'%s' may not be a layerfs work directory: it holds "
		       "neither the record of its mount's layers (%s) nor an "
		       "index; not repaired (check it without --repair)",
		       f->work_path, WORKDIR_LAYERS);
		return LT_EXIT_INPUT;
	}
	if (r == -ENOENT && !needed)
		return LT_EXIT_OK;
	if (r == -ENOENT)
		return usage_error("fsck",
				   "give UPPER and LOWER...: '%s' holds no "
				   "record of the layers its mount used (an "
				   "older layerfs mounted it)",
				   f->work_path);
	char why[128];
	snprintf(why, sizeof(why), "%s",
		 r == -EINVAL ? "it is malformed" : strerror(-r));
	if (needed) {
		lf_err("cannot read '%s/%s' (%s): give UPPER and LOWER...",
		       f->work_path, WORKDIR_LAYERS, why);
		return LT_EXIT_INPUT;
	}
	lf_warn("'%s/%s' is not read (%s): the layers given are not checked "
		"against the mount's",
		f->work_path, WORKDIR_LAYERS, why);
	return LT_EXIT_OK;
}

/* Opens the stack: the layers given, or the record's. */
static int open_layers(struct fsck *f)
{
	f->stack.fds = malloc(f->stack.n * sizeof(int));
	f->lower_devs = calloc(f->stack.n, sizeof(dev_t));
	if (!f->stack.fds || !f->lower_devs) {
		lf_err("out of memory");
		return LT_EXIT_OUTPUT;
	}
	for (size_t i = 0; i < f->stack.n; i++)
		f->stack.fds[i] = -1;
	for (size_t i = 0; i < f->stack.n; i++) {
		f->stack.fds[i] =
			open(f->names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct stat st;
		if (f->stack.fds[i] < 0 || fstat(f->stack.fds[i], &st) < 0) {
			lf_err("cannot open layer '%s': %s", f->names[i],
			       strerror(errno));
			return LT_EXIT_INPUT;
		}
		f->lower_devs[i] = st.st_dev;
	}
	return LT_EXIT_OK;
}

/* The layers given against the record: each the same directory (its
 * device and inode) or at the same path.  A layer left out would make
 * the names it holds look gone, and entries they need look orphaned. */
static int match_record(struct fsck *f)
{
	if (!f->rec)
		return LT_EXIT_OK;
	bool same = f->nrec == f->stack.n;
	size_t i = 0;
	for (; same && i < f->stack.n; i++)
		same = workdir_layer_is(&f->rec[i], f->stack.fds[i],
					f->names[i]);
	if (same)
		return LT_EXIT_OK;
	if (f->nrec != f->stack.n)
		lf_err("%zu layers given, but the last mount of '%s' used %zu "
		       "(%s/%s): give none to check against those",
		       f->stack.n, f->work_path, f->nrec, f->work_path,
		       WORKDIR_LAYERS);
	else
		lf_err("layer '%s' is not the one the last mount of '%s' used "
		       "there ('%s'): give no layers to check against those",
		       f->names[i - 1], f->work_path, f->rec[i - 1].path);
	return LT_EXIT_INPUT;
}

static int run(struct fsck *f, int nargs, char **args)
{
	int status = open_workdir(f);
	if (status == LT_EXIT_OK)
		status = read_record(f, nargs == 0);
	if (status != LT_EXIT_OK)
		return status;
	if (nargs) {
		f->stack.n = (size_t)nargs;
		f->names = args;
	} else {
		f->stack.n = f->nrec;
		f->names = calloc(f->nrec, sizeof(char *));
		if (!f->names) {
			lf_err("out of memory");
			return LT_EXIT_OUTPUT;
		}
		for (size_t i = 0; i < f->nrec; i++)
			f->names[i] = f->rec[i].path;
	}
	status = open_layers(f);
	if (status == LT_EXIT_OK && nargs)
		status = match_record(f);
	if (status != LT_EXIT_OK)
		return status;
	recover_lifted(f);
	int r = check_work(f);
	if (r < 0) {
		lf_err("cannot read '%s/work': %s", f->work_path, strerror(-r));
		return LT_EXIT_INPUT;
	}
	struct index_links x;
	char err[PATH_MAX + 100] = "";
	r = index_links_load(f->workdir_fd, &f->stack, IL_COUNT, &x, err,
			     sizeof(err));
	if (r < 0) {
		lf_err("%s", err);
		return LT_EXIT_INPUT;
	}
	for (size_t i = 0; i < x.n; i++)
		check_entry(f, x.index_fd, &x.v[i]);
	bool x_had_index = x.index_fd >= 0;
	if (x_had_index)
		r = check_strays(f, x.index_fd);
	index_links_free(&x);
	if (r < 0) {
		lf_err("cannot list '%s/index': %s", f->work_path, strerror(-r));
		return LT_EXIT_INPUT;
	}
	/* Every count checked and none left low: the next mount may trust
	 * them (workdir.h). */
	if (!f->counts_left && !f->failed && x_had_index) {
		if (workdir_mark_make(f->workdir_fd, WORKDIR_CHECKED))
			unlinkat(f->workdir_fd, WORKDIR_MOUNTED, 0);
	}
	return LT_EXIT_OK;
}

int cmd_fsck(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "work", required_argument, NULL, 'w' },
		{ "repair", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct fsck f = { .workdir_fd = -1, .work_fd = -1 };
	bool json = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'w') {
			f.work_path = optarg;
		} else if (ch == 'r') {
			f.repair = true;
		} else if (ch == 'j') {
			json = true;
		} else if (ch == 'h') {
			fputs(fsck_help, stdout);
			return LT_EXIT_OK;
		} else {
			return usage_error("fsck", NULL);
		}
	}
	if (!f.work_path)
		return usage_error("fsck", "fsck wants --work WORKDIR");
	int nargs = argc - optind;
	if (nargs == 1)
		return usage_error("fsck", "fsck wants UPPER and at least one "
					   "LOWER, or no layer");
	int status = run(&f, nargs, argv + optind);
	if (status == LT_EXIT_OK) {
		if (json)
			print_json(&f);
		else
			print_text(&f);
		status = f.failed		 ? LT_EXIT_OUTPUT
			 : f.found > f.repaired ? LT_EXIT_CHECK_WARN
						: LT_EXIT_OK;
	}
	for (size_t i = 0; f.stack.fds && i < f.stack.n; i++)
		if (f.stack.fds[i] >= 0)
			close(f.stack.fds[i]);
	if (f.work_fd >= 0)
		close(f.work_fd);
	if (f.workdir_fd >= 0)
		close(f.workdir_fd); /* (the lock goes with it) */
	free(f.stack.fds);
	free(f.lower_devs);
	if (f.rec && f.names != argv + optind)
		free(f.names);
	workdir_layers_free(f.rec, f.nrec);
	free(f.work_inodes);
	for (size_t i = 0; i < f.n; i++) {
		free(f.v[i].path);
		free(f.v[i].code);
		free(f.v[i].message);
	}
	free(f.v);
	return status;
}
