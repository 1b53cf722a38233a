/*
 * layertool check LAYER...: validates a stack of layers at rest, top
 * first, before anyone mounts it.
 *
 * Errors (exit 5) make the stack unsafe or wrong to mount: reserved
 * `.wh.` names that are no valid whiteout, whiteouts or opaque markers of
 * the wrong type, opaque xattrs on non-directories, symlinks that climb
 * out of their layer.  Warnings (exit 4) are worth a look: whiteouts that
 * hide nothing, hold data or are hard links of a file, device files,
 * files hard-linked with something outside the layer, leftovers of aufs
 * or of an interrupted copy-up, and layerfs marks that only mean
 * something in an upper directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "commands.h"
#include "entry_path.h"
#include "fsutil.h"
#include "json_util.h"
#include "lf_common.h"
#include "tree_walk.h"
#include "union.h"
#include "whiteout.h"
#include "xattr_policy.h"

static const char check_help[] =
	"usage: layertool check [--json] LAYER...\n"
	"\n"
	"Validates a stack of layer directories, top first, and lists each\n"
	"problem with its severity, layer, path and a code:\n"
	"\n"
	"errors:   reserved-name, whiteout-not-file, opaque-marker-not-file,\n"
	"          opaque-on-non-directory, symlink-escape\n"
	"warnings: whiteout-hides-nothing, whiteout-has-data,\n"
	"          whiteout-hardlinked, device-file, hardlink-outside-layer,\n"
	"          leftover-work-file, upper-layer-mark\n"
	"\n"
	"  --json               one JSON document instead of lines\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 no problem, 1 usage, 2 a layer is unreadable,\n"
	"4 warnings only, 5 errors.\n";

enum severity { SEV_WARNING, SEV_ERROR };

struct problem {
	enum severity sev;
	size_t layer;
	char *path, *code, *message;
};

/*
 * A hard-linked inode of the layer being walked, with the names met.
 * Whiteouts and opaque markers count as names like any other, but are
 * told apart: layerfs and kernel overlayfs link every whiteout they make
 * to one shared inode (in the work directory), so an inode that only
 * markers name may have any number of links elsewhere; an inode that
 * markers and other files name is odd in itself.
 */
struct inode_rec {
	bool used;
	dev_t dev;
	ino_t ino;
	nlink_t nlink, seen;
	char *path;    /* the first name that is no marker, or NULL */
	char *marker;  /* the first marker name, or NULL */
};

struct checker {
	struct ustack stack;
	char **names;   /* layer paths as given */
	struct problem *v;
	size_t n, cap;
	size_t errors, warnings;
	/* Hard-linked files of the layer being walked. */
	struct inode_rec *inodes;
	size_t icap, in;
	size_t layer;
	char err[PATH_MAX + 100];
};

static void report(struct checker *c, enum severity sev, const char *path,
		   const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void report(struct checker *c, enum severity sev, const char *path,
		   const char *code, const char *fmt, ...)
{
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 32;
		struct problem *nv = realloc(c->v, nc * sizeof(*nv));
		if (!nv)
			return;
		c->v = nv;
		c->cap = nc;
	}
	char msg[PATH_MAX + 200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct problem *p = &c->v[c->n++];
	p->sev = sev;
	p->layer = c->layer;
	if (asprintf(&p->path, "/%s", path) < 0)
		p->path = NULL;
	p->code = strdup(code);
	p->message = strdup(msg);
	if (sev == SEV_ERROR)
		c->errors++;
	else
		c->warnings++;
}

static size_t inode_slot(const struct checker *c, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ (uint64_t)ino;
	h *= 0xff51afd7ed558ccdull;
	size_t i = (size_t)(h >> 17) & (c->icap - 1);
	while (c->inodes[i].used &&
	       !(c->inodes[i].dev == dev && c->inodes[i].ino == ino))
		i = (i + 1) & (c->icap - 1);
	return i;
}

static int inode_seen(struct checker *c, const struct stat *st,
		      const char *path, bool marker)
{
	if ((c->in + 1) * 2 > c->icap) {
		size_t nc = c->icap ? c->icap * 2 : 64, oc = c->icap;
		struct inode_rec *old = c->inodes;
		c->inodes = calloc(nc, sizeof(*c->inodes));
		if (!c->inodes) {
			c->inodes = old;
			return -ENOMEM;
		}
		c->icap = nc;
		for (size_t i = 0; i < oc; i++)
			if (old[i].used)
				c->inodes[inode_slot(c, old[i].dev,
						     old[i].ino)] = old[i];
		free(old);
	}
	size_t i = inode_slot(c, st->st_dev, st->st_ino);
	struct inode_rec *r = &c->inodes[i];
	if (!r->used) {
		*r = (struct inode_rec){ .used = true, .dev = st->st_dev,
					 .ino = st->st_ino,
					 .nlink = st->st_nlink };
		c->in++;
	}
	char **first = marker ? &r->marker : &r->path;
	if (!*first) {
		*first = strdup(path);
		if (!*first)
			return -ENOMEM;
	}
	r->seen++;
	return 0;
}

/* After a layer: files with more links than the layer holds, and
 * whiteouts that are hard links of a file. */
static void inode_finish(struct checker *c)
{
	for (size_t i = 0; i < c->icap; i++) {
		struct inode_rec *r = &c->inodes[i];
		if (!r->used)
			continue;
		if (r->path && r->marker)
			report(c, SEV_WARNING, r->marker, "whiteout-hardlinked",
			       "is a hard link of '/%s', which is no "
			       "whiteout: one inode is both a marker and a "
			       "file, and a change to either changes both",
			       r->path);
		if (r->path && r->seen < r->nlink)
			report(c, SEV_WARNING, r->path, "hardlink-outside-layer",
			       "has %lu links, %lu of them in this layer: it "
			       "shares its data with a file elsewhere",
			       (unsigned long)r->nlink, (unsigned long)r->seen);
		free(r->path);
		free(r->marker);
	}
	free(c->inodes);
	c->inodes = NULL;
	c->icap = c->in = 0;
}

static void check_hides(struct checker *c, const char *dir, const char *target,
			const char *path)
{
	char *t = fs_join(dir, target);
	if (!t)
		return;
	size_t layer;
	struct stat st;
	if (union_lookup(&c->stack, c->layer + 1, t, &layer, &st) == -ENOENT)
		report(c, SEV_WARNING, path, "whiteout-hides-nothing",
		       "whiteout of '%s', which no layer below holds", target);
	free(t);
}

/* "#<hex>-<hex>": a copy-up staging name of layerfs. */
static bool is_staging_name(const char *n)
{
	if (n[0] != '#')
		return false;
	const char *dash = strchr(n, '-');
	if (!dash || dash == n + 1 || !dash[1])
		return false;
	for (const char *p = n + 1; *p; p++)
		if (p != dash && !((*p >= '0' && *p <= '9') ||
				   (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static const char *type_word(mode_t m)
{
	return S_ISDIR(m)   ? "a directory"
	       : S_ISLNK(m) ? "a symlink"
	       : S_ISREG(m) ? "a file"
			    : "a special file";
}

static void check_xattrs(struct checker *c, int dfd, const char *name,
			 const struct stat *st, const char *path)
{
	if (S_ISLNK(st->st_mode))
		return;
	struct name_list x;
	if (fs_xattr_names_at(dfd, name, &x) < 0)
		return;
	for (size_t i = 0; i < x.n; i++) {
		const char *a = x.names[i];
		if (wh_is_opaque_xattr(a) && !S_ISDIR(st->st_mode))
			report(c, SEV_ERROR, path, "opaque-on-non-directory",
			       "is %s but carries %s", type_word(st->st_mode),
			       a);
		if (!strncmp(a, XATTR_LAYERTOOL_PREFIX,
			     strlen(XATTR_LAYERTOOL_PREFIX)))
			report(c, SEV_WARNING, path, "leftover-work-file",
			       "carries %s, left by an interrupted "
			       "'layertool convert' (run it again)",
			       a);
		if (!strcmp(a, XATTR_LFS_METACOPY))
			report(c, SEV_WARNING, path, "upper-layer-mark",
			       "is a layerfs metadata-only copy: as a lower "
			       "layer it reads as a hole-filled file; export "
			       "the upper directory to make a layer");
		if (!strcmp(a, XATTR_LFS_REDIRECT))
			report(c, SEV_WARNING, path, "upper-layer-mark",
			       "is a layerfs renamed directory: as a lower "
			       "layer it shows only its own entries; export "
			       "the upper directory to make a layer");
	}
	name_list_free(&x);
}

/* A device node of the layer, or a stand-in file (HOW says which). */
static void report_device(struct checker *c, const char *path, mode_t mode,
			  dev_t rdev, const char *how)
{
	report(c, SEV_WARNING, path, "device-file", "%s device %u:%u%s",
	       S_ISCHR(mode) ? "character" : "block", major(rdev),
	       minor(rdev), how);
}

/* NAME of the directory the walk is at. */
static int check_entry(struct checker *c, struct tree_walk *w,
		       const char *name)
{
	int dfd = tree_walk_dirs(w, 0)->v[0].fd;
	const char *dir = tree_walk_path(w);
	char *path = fs_join(dir, name);
	if (!path)
		return -ENOMEM;
	struct stat st;
	struct override_stat ovr;
	int r = 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		free(path);
		return errno == ENOENT ? 0 : -errno;
	}
	const char *target;
	enum wh_kind kind = wh_classify_name(name, &target);
	if (kind == WH_WHITEOUT) {
		if (!S_ISREG(st.st_mode))
			report(c, SEV_ERROR, path, "whiteout-not-file",
			       "is %s, but its name makes it a whiteout of "
			       "'%s'",
			       type_word(st.st_mode), target);
		else if (st.st_size > 0)
			report(c, SEV_WARNING, path, "whiteout-has-data",
			       "whiteout of '%s' holds %lld bytes", target,
			       (long long)st.st_size);
		check_hides(c, dir, target, path);
	} else if (kind == WH_OPAQUE) {
		if (!S_ISREG(st.st_mode))
			report(c, SEV_ERROR, path, "opaque-marker-not-file",
			       "is %s, but its name makes it an opaque marker",
			       type_word(st.st_mode));
	} else if (kind == WH_INTERNAL) {
		if (!strncmp(name, WH_META_PREFIX, strlen(WH_META_PREFIX)))
			report(c, SEV_WARNING, path, "leftover-work-file",
			       "aufs bookkeeping name, hidden by layerfs");
		else
			report(c, SEV_ERROR, path, "reserved-name",
			       "'%s' is a reserved name but no valid whiteout",
			       name);
	} else if (wh_is_overlay_whiteout(&st)) {
		check_hides(c, dir, name, path);
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		report_device(c, path, st.st_mode, st.st_rdev, "");
	} else if (S_ISREG(st.st_mode) && st.st_size == 0 &&
		   ovr_load_at(dfd, name, &ovr) == 0 && ovr.has_type &&
		   (S_ISCHR(ovr.mode) || S_ISBLK(ovr.mode))) {
		/* A rootless layer's device: an empty file whose override
		 * record names it (the mount shows the device). */
		report_device(c, path, ovr.mode, ovr.rdev,
			      " (an override_stat stand-in)");
	} else if (S_ISLNK(st.st_mode)) {
		char t[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, t, sizeof(t) - 1);
		if (n >= 0) {
			t[n] = 0;
			const char *kept;
			enum ep_link k = ep_symlink_clamp(path, t, &kept);
			if (k == EP_LINK_ESCAPES)
				report(c, SEV_ERROR, path, "symlink-escape",
				       "symlink to '%s' points outside the "
				       "layer",
				       t);
			else if (k == EP_LINK_CLAMPED)
				report(c, SEV_ERROR, path, "symlink-escape",
				       "symlink to '%s' points outside the "
				       "layer by its leading '..'s (import "
				       "would clamp it to '%s', the same "
				       "target in a container)",
				       t, kept);
		}
	}
	if (is_staging_name(name))
		report(c, SEV_WARNING, path, "leftover-work-file",
		       "looks like a layerfs copy-up left by a crash");
	/* Every name of a hard-linked inode counts, markers too (a file
	 * linked to a whiteout of this layer has that link here); reserved
	 * names that are no marker are reported above already. */
	bool marker = kind == WH_WHITEOUT || kind == WH_OPAQUE ||
		      wh_is_overlay_whiteout(&st);
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 &&
	    (kind == WH_NONE || marker))
		r = inode_seen(c, &st, path, marker);
	if (r == 0)
		check_xattrs(c, dfd, name, &st, path);
	if (r == 0 && S_ISDIR(st.st_mode)) {
		/* (The walk's path moves: dir is no longer valid.) */
		r = tree_walk_down_by_name(w, name, NULL);
		if (r < 0)
			snprintf(c->err, sizeof(c->err), "cannot open '/%s': %s",
				 path, strerror(-r));
	}
	free(path);
	return r;
}

static int check_enter(struct tree_walk *w, void *data)
{
	struct checker *c = tree_walk_ctx(w);
	int r = tree_walk_list(w, data);
	if (r < 0)
		snprintf(c->err, sizeof(c->err), "cannot list '/%s': %s",
			 tree_walk_path(w), strerror(-r));
	return r;
}

static int check_step(struct tree_walk *w, void *data)
{
	const char *name = tree_walk_next(data);
	int r = name ? check_entry(tree_walk_ctx(w), w, name) : 0;
	return r < 0 ? r : name != NULL;
}

static void check_failed(struct tree_walk *w, int r)
{
	struct checker *c = tree_walk_ctx(w);
	tree_walk_failure(w, r, c->err, sizeof(c->err));
}

static const struct tree_walk_ops check_ops = {
	.groups = 1,
	.level_size = sizeof(struct tree_walk_names),
	.enter = check_enter,
	.step = check_step,
	.drop = tree_walk_names_drop,
	.failed = check_failed,
};

/* The layer open as fd, at any depth. */
static int check_layer(struct checker *c, int fd)
{
	struct walk_dirs root = { 0 };
	int r = walk_dirs_open_root(&root, fd, 0);
	return r < 0 ? r : tree_walk_run(&check_ops, c, &root, "", NULL);
}

static void print_text(const struct checker *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct problem *p = &c->v[i];
		lf_print_line(stdout, "%s: %s: %s: %s [%s]",
			      p->sev == SEV_ERROR ? "error" : "warning",
			      c->names[p->layer], p->path, p->message,
			      p->code);
	}
	printf("%zu error%s, %zu warning%s in %zu layer%s\n", c->errors,
	       c->errors == 1 ? "" : "s", c->warnings,
	       c->warnings == 1 ? "" : "s", c->stack.n,
	       c->stack.n == 1 ? "" : "s");
}

static void print_json(const struct checker *c)
{
	json_object *o = json_object_new_object();
	json_object *layers = json_object_new_array();
	for (size_t i = 0; i < c->stack.n; i++)
		json_object_array_add(layers, json_object_new_string(c->names[i]));
	json_object_object_add(o, "layers", layers);
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < c->n; i++) {
		const struct problem *p = &c->v[i];
		json_object *j = json_object_new_object();
		json_object_object_add(
			j, "severity",
			json_object_new_string(p->sev == SEV_ERROR ? "error"
								   : "warning"));
		json_object_object_add(j, "layer",
				       json_object_new_int64((int64_t)p->layer));
		json_object_object_add(j, "path",
				       json_object_new_string(p->path ? p->path
								      : ""));
		json_object_object_add(j, "code", json_object_new_string(p->code));
		json_object_object_add(j, "message",
				       json_object_new_string(p->message));
		json_object_array_add(arr, j);
	}
	json_object_object_add(o, "problems", arr);
	json_object_object_add(o, "errors",
			       json_object_new_int64((int64_t)c->errors));
	json_object_object_add(o, "warnings",
			       json_object_new_int64((int64_t)c->warnings));
	char *text = json_text(o, NULL);
	if (text)
		fputs(text, stdout);
	free(text);
	json_object_put(o);
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'j') {
			json = true;
		} else if (ch == 'h') {
			fputs(check_help, stdout);
			return LT_EXIT_OK;
		} else {
			return usage_error("check", NULL);
		}
	}
	if (argc - optind < 1)
		return usage_error("check", "check wants at least one LAYER");
	struct checker c = { 0 };
	c.stack.n = (size_t)(argc - optind);
	c.names = argv + optind;
	c.stack.fds = calloc(c.stack.n, sizeof(int));
	if (!c.stack.fds)
		return LT_EXIT_OUTPUT;
	int status = LT_EXIT_OK;
	size_t opened = 0;
	for (; opened < c.stack.n; opened++) {
		c.stack.fds[opened] = open(c.names[opened],
					   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c.stack.fds[opened] < 0) {
			lf_err("cannot open layer '%s': %s", c.names[opened],
			       strerror(errno));
			status = LT_EXIT_INPUT;
			break;
		}
	}
	for (size_t l = 0; status == LT_EXIT_OK && l < c.stack.n; l++) {
		c.layer = l;
		int r = check_layer(&c, c.stack.fds[l]);
		inode_finish(&c);
		if (r < 0) {
			lf_err("cannot check layer '%s': %s", c.names[l],
			       c.err[0] ? c.err : strerror(-r));
			status = LT_EXIT_INPUT;
		}
	}
	if (status == LT_EXIT_OK) {
		if (json)
			print_json(&c);
		else
			print_text(&c);
		status = c.errors     ? LT_EXIT_CHECK_ERROR
			 : c.warnings ? LT_EXIT_CHECK_WARN
				      : LT_EXIT_OK;
	}
	for (size_t i = 0; i < opened; i++)
		close(c.stack.fds[i]);
	free(c.stack.fds);
	for (size_t i = 0; i < c.n; i++) {
		free(c.v[i].path);
		free(c.v[i].code);
		free(c.v[i].message);
	}
	free(c.v);
	return status;
}
