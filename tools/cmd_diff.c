/*
 * layertool diff UPPER LOWER...: what a container changed, as `docker
 * diff` shows it: A (added), C (changed), D (deleted), with sizes.
 *
 * A path is "changed" when it existed in the lower layers before and the
 * upper layer holds it now (a copy, a metadata change, a directory with
 * changes inside); "deleted" when a whiteout or an opaque directory hides
 * what the lower layers showed.  A renamed directory is added at its new
 * name with all it shows, and deleted at the old one.  With --work, the
 * lower names of a hard link changed through another name (layerfs's
 * index) are changed too, as the mount shows them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "fsutil.h"
#include "index_links.h"
#include "json_util.h"
#include "lf_common.h"
#include "strset.h"
#include "tree_walk.h"
#include "union.h"
#include "whiteout.h"
#include "xattr_policy.h"

static const char diff_help[] =
	"usage: layertool diff [--json] [--work DIR] UPPER LOWER...\n"
	"\n"
	"Lists what the upper directory UPPER changed over the lower layers\n"
	"LOWER... (top first), one line per path: A added, C changed,\n"
	"D deleted, then the size in bytes (of the file now, or of what was\n"
	"deleted) and the path.\n"
	"\n"
	"  --json               one JSON document instead\n"
	"  --work DIR           the work directory the upper was mounted\n"
	"                       with: lower names of hard links changed\n"
	"                       through another name (its index) are C too\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 listed, 1 usage, 2 a layer is unreadable.\n";

struct change {
	char kind;
	char *path;
	mode_t type;
	int64_t size;
};

struct differ {
	struct ustack stack; /* [upper, lower...] */
	struct change *v;
	size_t n, cap;
	char err[PATH_MAX + 100];
};

static int record(struct differ *d, char kind, const char *path,
		  const struct stat *st)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		struct change *nv = realloc(d->v, d->cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		d->v = nv;
	}
	char *p;
	if (asprintf(&p, "/%s", path) < 0)
		return -ENOMEM;
	mode_t type = st->st_mode & S_IFMT;
	d->v[d->n++] = (struct change){
		.kind = kind,
		.path = p,
		.type = type,
		.size = (S_ISREG(type) || S_ISLNK(type)) ? st->st_size : 0,
	};
	return 0;
}

static const char *type_name(mode_t t)
{
	switch (t) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symlink";
	case S_IFCHR:
		return "char-device";
	case S_IFBLK:
		return "block-device";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	}
	return "unknown";
}

/* A directory of the upper layer (a chain's layer 0) that was renamed in
 * its turn: its redirect mark (*own: layerfs's), or NULL. */
static char *redirect_of(const struct walk_dir *dir, const char *name,
			 bool *own)
{
	return dir->tree == 0 ? xattr_redirect_mark_at(dir->fd, name, own)
			      : NULL;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct uentry *)a)->name,
		      ((const struct uentry *)b)->name);
}

static const struct uentry *find_entry(const struct ulisting *l,
				       const char *name)
{
	struct uentry key = { .name = (char *)name };
	return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_entry)
		    : NULL;
}

/*
 * The chain of the renamed upper directory NAME of DIR (at PATH), whose
 * redirect mark is MARK (OWN: layerfs's), relative to DIR_LPATH: into
 * *chain, and the lower path it names into *target.
 */
static int redirect_chain(struct differ *d, const struct walk_dir *dir,
			  const char *name, const char *mark, bool own,
			  const char *dir_lpath, const char *path,
			  struct walk_dirs *chain, char **target)
{
	*chain = (struct walk_dirs){ 0 };
	*target = xattr_redirect_target(mark, own, dir_lpath);
	if (!*target) {
		snprintf(d->err, sizeof(d->err),
			 "'/%s' has a malformed redirect mark", path);
		return -EINVAL;
	}
	int r = walk_dirs_open(chain, dir, name);
	if (r == 0)
		r = union_redirect_chain(&d->stack, chain, *target);
	if (r < 0) {
		free(*target);
		*target = NULL;
	}
	return r;
}

/* R of opening the directory at PATH to go into it, or of listing it: a
 * failure names it (the walk's own message would name only the top). */
static int entered(struct differ *d, const char *path, int r)
{
	return tree_walk_unreadable(d->err, sizeof(d->err), path, r);
}

static void walk_failed(struct tree_walk *w, int r)
{
	struct differ *d = tree_walk_ctx(w);
	tree_walk_failure(w, r, d->err, sizeof(d->err));
}

/*
 * Everything a merged chain shows, as added: a level holds the chain (set
 * 0) and the chain of what the lower layers showed at its path before
 * (set 1, empty when nothing): what that showed and the chain does not
 * is deleted.  Its second path is the lower path the chain's lower part
 * comes from (a redirect below is relative to it).
 */
struct added_level {
	struct ulisting l, ol;
	size_t next;
};

static int added_enter(struct tree_walk *w, void *data)
{
	struct added_level *a = data;
	struct differ *d = tree_walk_ctx(w);
	const struct walk_dirs *old = tree_walk_dirs(w, 1);
	int r = entered(d, tree_walk_path(w),
			union_list(tree_walk_dirs(w, 0), &a->l));
	if (r == 0 && old->n)
		r = entered(d, tree_walk_path(w), union_list(old, &a->ol));
	for (size_t i = 0; r == 0 && i < a->ol.n; i++) {
		if (find_entry(&a->l, a->ol.v[i].name))
			continue;
		char *p = fs_join(tree_walk_path(w), a->ol.v[i].name);
		r = p ? record(d, 'D', p, &a->ol.v[i].st) : -ENOMEM;
		free(p);
	}
	return r;
}

static int added_step(struct tree_walk *w, void *data)
{
	struct added_level *a = data;
	struct differ *d = tree_walk_ctx(w);
	if (a->next == a->l.n)
		return 0;
	const struct uentry *e = &a->l.v[a->next++];
	const struct walk_dirs *chain = tree_walk_dirs(w, 0);
	char *p = fs_join(tree_walk_path(w), e->name);
	int r = p ? record(d, 'A', p, &e->st) : -ENOMEM;
	if (r < 0 || !S_ISDIR(e->st.st_mode)) {
		free(p);
		return r < 0 ? r : 1;
	}
	/* What was a directory here before, to tell what is gone. */
	struct walk_dirs sub[2] = { { 0 }, { 0 } };
	const struct uentry *oe = find_entry(&a->ol, e->name);
	if (oe && S_ISDIR(oe->st.st_mode))
		r = entered(d, p,
			    union_child_chain(tree_walk_dirs(w, 1), e->name,
					      &sub[1]));
	const struct walk_dir *dir = &chain->v[e->link];
	bool own = false;
	char *mark = r == 0 ? redirect_of(dir, e->name, &own) : NULL;
	char *target = NULL;
	if (r == 0 && mark)
		r = redirect_chain(d, dir, e->name, mark, own,
				   tree_walk_lpath(w), p, &sub[0], &target);
	else if (r == 0)
		r = union_child_chain(chain, e->name, &sub[0]);
	if (r == 0) {
		r = entered(d, p, tree_walk_down(w, e->name, sub, target, NULL));
	} else {
		entered(d, p, r);
		walk_dirs_free(&sub[0]);
		walk_dirs_free(&sub[1]);
	}
	free(target);
	free(mark);
	free(p);
	return r < 0 ? r : 1;
}

static void added_drop(void *data)
{
	struct added_level *a = data;
	ulisting_free(&a->ol);
	ulisting_free(&a->l);
}

static const struct tree_walk_ops added_ops = {
	.groups = 2,
	.level_size = sizeof(struct added_level),
	.enter = added_enter,
	.step = added_step,
	.drop = added_drop,
	.failed = walk_failed,
};

/*
 * A directory of the upper layer (set 0) compared with the chain of what
 * the lower layers showed at its path (set 1).
 */
struct walk_level {
	bool hidden; /* an opaque directory above hides the lower content */
	bool opaque; /* hidden, or this directory is opaque */
	struct ulisting below;
	struct name_list shown; /* the names the upper directory shows */
	size_t next;
};

static int walk_enter(struct tree_walk *w, void *data)
{
	struct walk_level *l = data;
	struct differ *d = tree_walk_ctx(w);
	int dfd = tree_walk_dirs(w, 0)->v[0].fd;
	const char *path = tree_walk_path(w);
	struct name_list names = { 0 };
	int r = union_list(tree_walk_dirs(w, 1), &l->below);
	if (r == 0)
		r = fs_list_dir(dfd, &names);
	if (r < 0) {
		snprintf(d->err, sizeof(d->err), "cannot list '/%s': %s", path,
			 strerror(-r));
		return r;
	}
	l->opaque = l->hidden || (*path ? union_dir_is_opaque(dfd)
					 : union_root_is_opaque(dfd));
	/* Names the upper directory shows; the rest of `below` is gone if
	 * whited out or hidden by opacity. */
	struct strset shown, whited;
	strset_init(&shown);
	strset_init(&whited);
	for (size_t i = 0; i < names.n && r == 0; i++) {
		const char *n = names.names[i], *t;
		struct stat st;
		enum wh_kind k = wh_classify_name(n, &t);
		if (k == WH_WHITEOUT) {
			strset_add(&whited, t);
		} else if (k == WH_NONE &&
			   fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (wh_is_overlay_whiteout(&st)) {
				strset_add(&whited, n);
			} else {
				strset_add(&shown, n);
				r = name_list_push(&l->shown, n);
			}
		}
	}
	for (size_t i = 0; i < l->below.n && r == 0; i++) {
		const char *n = l->below.v[i].name;
		if (strset_has(&shown, n) ||
		    !(l->opaque || strset_has(&whited, n)))
			continue;
		char *p = fs_join(path, n);
		r = p ? record(d, 'D', p, &l->below.v[i].st) : -ENOMEM;
		free(p);
	}
	strset_free(&shown);
	strset_free(&whited);
	name_list_free(&names);
	return r;
}

static int walk_step(struct tree_walk *w, void *data)
{
	struct walk_level *l = data;
	struct differ *d = tree_walk_ctx(w);
	if (l->next == l->shown.n)
		return 0;
	const char *n = l->shown.names[l->next++];
	const struct walk_dir *upper = &tree_walk_dirs(w, 0)->v[0];
	struct stat st;
	if (fstatat(upper->fd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 1;
	const struct uentry *old = find_entry(&l->below, n);
	char *p = fs_join(tree_walk_path(w), n);
	int r = p ? record(d, old ? 'C' : 'A', p, &st) : -ENOMEM;
	if (r < 0 || !S_ISDIR(st.st_mode)) {
		free(p);
		return r < 0 ? r : 1;
	}
	/* What the lower layers showed here, when a directory. */
	struct walk_dirs sub[2] = { { 0 }, { 0 } };
	if (old && S_ISDIR(old->st.st_mode))
		r = entered(d, p,
			    union_child_chain(tree_walk_dirs(w, 1), n, &sub[1]));
	bool own = false;
	char *mark = r == 0 ? xattr_redirect_mark_at(upper->fd, n, &own)
			    : NULL;
	if (r == 0 && mark) {
		/* A directory renamed onto a name the lower layers showed
		 * a directory at: what that held is gone. */
		char *target;
		r = redirect_chain(d, upper, n, mark, own, tree_walk_lpath(w),
				   p, &sub[0], &target);
		if (r == 0)
			r = tree_walk_run(&added_ops, d, sub, p, target);
		else
			walk_dirs_free(&sub[1]);
		free(target);
	} else if (r == 0) {
		void *child = NULL;
		r = entered(d, p, walk_dirs_open(&sub[0], upper, n));
		if (r == 0)
			r = tree_walk_down(w, n, sub, NULL, &child);
		else
			walk_dirs_free(&sub[1]);
		if (r == 0)
			((struct walk_level *)child)->hidden = l->opaque;
	} else {
		walk_dirs_free(&sub[1]);
	}
	free(mark);
	free(p);
	return r < 0 ? r : 1;
}

static void walk_drop(void *data)
{
	struct walk_level *l = data;
	name_list_free(&l->shown);
	ulisting_free(&l->below);
}

static const struct tree_walk_ops walk_ops = {
	.groups = 2,
	.level_size = sizeof(struct walk_level),
	.enter = walk_enter,
	.step = walk_step,
	.drop = walk_drop,
	.failed = walk_failed,
};

/* Compares the upper layer with the lower ones, at any depth. */
static int compare(struct differ *d)
{
	struct walk_dirs root[2] = { { 0 }, { 0 } };
	int r = walk_dirs_open_root(&root[0], d->stack.fds[0], 0);
	if (r == 0)
		r = union_dir_chain(&d->stack, 1, "", &root[1]);
	if (r < 0) {
		walk_dirs_free(&root[0]);
		return r;
	}
	return tree_walk_run(&walk_ops, d, root, "", NULL);
}

/* The lower names of hard links changed through another name, which
 * the mount shows changed though the upper layer does not hold them;
 * those under a renamed directory were added with it. */
static int indexed_changes(struct differ *d, int work_fd)
{
	struct index_links x;
	int r = index_links_load(work_fd, &d->stack, IL_INDEX, &x, d->err,
				 sizeof(d->err));
	for (size_t i = 0; r == 0 && i < x.nnames; i++)
		r = record(d, 'C', x.names[i].path, &x.v[x.names[i].entry].st);
	index_links_free(&x);
	return r;
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->path,
		      ((const struct change *)b)->path);
}

static void print_text(const struct differ *d)
{
	for (size_t i = 0; i < d->n; i++)
		lf_print_line(stdout, "%c %12" PRId64 " %s", d->v[i].kind,
			      d->v[i].size, d->v[i].path);
}

static void print_json(const struct differ *d)
{
	json_object *o = json_object_new_object();
	json_object *arr = json_object_new_array();
	int64_t counts[3] = { 0 };
	for (size_t i = 0; i < d->n; i++) {
		json_object *c = json_object_new_object();
		char k[2] = { d->v[i].kind, 0 };
		json_object_object_add(c, "kind", json_object_new_string(k));
		json_object_object_add(c, "path",
				       json_object_new_string(d->v[i].path));
		json_object_object_add(
			c, "type", json_object_new_string(type_name(d->v[i].type)));
		json_object_object_add(c, "size",
				       json_object_new_int64(d->v[i].size));
		json_object_array_add(arr, c);
		counts[d->v[i].kind == 'A' ? 0 : d->v[i].kind == 'C' ? 1 : 2]++;
	}
	json_object_object_add(o, "changes", arr);
	json_object_object_add(o, "added", json_object_new_int64(counts[0]));
	json_object_object_add(o, "changed", json_object_new_int64(counts[1]));
	json_object_object_add(o, "deleted", json_object_new_int64(counts[2]));
	char *text = json_text(o, NULL);
	if (text)
		fputs(text, stdout);
	free(text);
	json_object_put(o);
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "work", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	const char *work = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 'w') {
			work = optarg;
		} else if (c == 'h') {
			fputs(diff_help, stdout);
			return LT_EXIT_OK;
		} else {
			return usage_error("diff", NULL);
		}
	}
	if (argc - optind < 2)
		return usage_error("diff", "diff wants UPPER and at least one "
					   "LOWER");
	struct differ d = { 0 };
	d.stack.n = (size_t)(argc - optind);
	d.stack.fds = calloc(d.stack.n, sizeof(int));
	if (!d.stack.fds)
		return LT_EXIT_OUTPUT;
	int status = LT_EXIT_OK;
	size_t opened = 0;
	for (; opened < d.stack.n; opened++) {
		const char *p = argv[optind + (int)opened];
		d.stack.fds[opened] =
			open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d.stack.fds[opened] < 0) {
			lf_err("cannot open layer '%s': %s", p, strerror(errno));
			status = LT_EXIT_INPUT;
			break;
		}
	}
	int wfd = -1;
	if (status == LT_EXIT_OK && work) {
		wfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (wfd < 0) {
			lf_err("cannot open work directory '%s': %s", work,
			       strerror(errno));
			status = LT_EXIT_INPUT;
		}
	}
	if (status == LT_EXIT_OK) {
		int r = compare(&d);
		if (r == 0 && wfd >= 0)
			r = indexed_changes(&d, wfd);
		if (r < 0) {
			lf_err("cannot compare '%s': %s", argv[optind],
			       d.err[0] ? d.err : strerror(-r));
			status = LT_EXIT_INPUT;
		}
	}
	if (status == LT_EXIT_OK) {
		if (d.n > 1)
			qsort(d.v, d.n, sizeof(*d.v), cmp_change);
		if (json)
			print_json(&d);
		else
			print_text(&d);
	}
	if (wfd >= 0)
		close(wfd);
	for (size_t i = 0; i < opened; i++)
		close(d.stack.fds[i]);
	free(d.stack.fds);
	for (size_t i = 0; i < d.n; i++)
		free(d.v[i].path);
	free(d.v);
	return status;
}
