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

static int redirected(struct differ *d, int dfd, const char *path,
		      const char *value, const char *dir_lpath,
		      const struct uchain *old);

/* A directory of the upper layer (chain link 0) that was renamed in its
 * turn: its redirect mark, or NULL. */
static char *redirect_of(const struct ulink *link, const char *name)
{
	return link->layer == 0 ? xattr_redirect_mark_at(link->fd, name)
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
 * Everything a merged chain shows, as added; lpath is the lower path the
 * chain's lower part comes from (a redirect below is relative to it).
 * old is the chain of what the lower layers showed at PATH before (empty
 * when nothing): what it showed and the chain does not is deleted.
 */
static int all_added(struct differ *d, struct uchain *chain, const char *path,
		     const char *lpath, const struct uchain *old)
{
	struct ulisting l, ol = { 0 };
	int r = union_list(chain, &l);
	if (r < 0)
		return r;
	if (old->n && (r = union_list(old, &ol)) < 0) {
		ulisting_free(&l);
		return r;
	}
	for (size_t i = 0; r == 0 && i < ol.n; i++) {
		if (find_entry(&l, ol.v[i].name))
			continue;
		char *p = fs_join(path, ol.v[i].name);
		r = p ? record(d, 'D', p, &ol.v[i].st) : -ENOMEM;
		free(p);
	}
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		const struct uentry *e = &l.v[i];
		char *p = fs_join(path, e->name), *lp = fs_join(lpath, e->name);
		r = p && lp ? record(d, 'A', p, &e->st) : -ENOMEM;
		char *mark = r == 0 && S_ISDIR(e->st.st_mode)
				     ? redirect_of(&chain->v[e->link], e->name)
				     : NULL;
		/* What was a directory here before, to tell what is gone. */
		const struct uentry *oe = find_entry(&ol, e->name);
		struct uchain osub = { 0 };
		if (r == 0 && oe && S_ISDIR(oe->st.st_mode) &&
		    S_ISDIR(e->st.st_mode))
			r = union_child_chain(old, e->name, &osub);
		if (r == 0 && mark) {
			int cfd = openat(chain->v[e->link].fd, e->name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);
			r = cfd < 0 ? -errno
				    : redirected(d, cfd, p, mark, lpath, &osub);
			if (cfd >= 0)
				close(cfd);
		} else if (r == 0 && S_ISDIR(e->st.st_mode)) {
			struct uchain sub;
			r = union_child_chain(chain, e->name, &sub);
			if (r == 0)
				r = all_added(d, &sub, p, lp, &osub);
			uchain_free(&sub);
		}
		uchain_free(&osub);
		free(mark);
		free(p);
		free(lp);
	}
	ulisting_free(&ol);
	ulisting_free(&l);
	return r;
}

static int redirected(struct differ *d, int dfd, const char *path,
		      const char *value, const char *dir_lpath,
		      const struct uchain *old)
{
	char *target = xattr_redirect_target(value, dir_lpath);
	if (!target) {
		snprintf(d->err, sizeof(d->err),
			 "'/%s' has a malformed redirect mark", path);
		return -EINVAL;
	}
	struct uchain chain;
	int fd = dup(dfd);
	int r = fd < 0 ? -errno
		       : union_redirect_chain(&d->stack, fd, target, &chain);
	if (r == 0) {
		r = all_added(d, &chain, path, target, old);
		uchain_free(&chain);
	}
	free(target);
	return r;
}

/* Compares the upper directory dfd at PATH with the lower chain of the
 * same path; `hidden` when an opaque directory here or above hides the
 * lower content. */
static int walk(struct differ *d, int dfd, const char *path,
		const char *lpath, struct uchain *lower, bool hidden)
{
	struct ulisting below = { 0 };
	int r = union_list(lower, &below);
	if (r < 0) {
		snprintf(d->err, sizeof(d->err), "cannot list '/%s': %s", path,
			 strerror(-r));
		return r;
	}
	bool opaque = hidden || union_dir_is_opaque(dfd);
	struct name_list names;
	r = fs_list_dir(dfd, &names);
	if (r < 0) {
		ulisting_free(&below);
		snprintf(d->err, sizeof(d->err), "cannot list '/%s': %s", path,
			 strerror(-r));
		return r;
	}
	/* Names the upper directory shows; the rest of `below` is gone if
	 * whited out or hidden by opacity. */
	struct strset shown, whited;
	strset_init(&shown);
	strset_init(&whited);
	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.names[i], *t;
		struct stat st;
		enum wh_kind k = wh_classify_name(n, &t);
		if (k == WH_WHITEOUT)
			strset_add(&whited, t);
		else if (k == WH_NONE &&
			 fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (wh_is_overlay_whiteout(&st))
				strset_add(&whited, n);
			else
				strset_add(&shown, n);
		}
	}
	for (size_t i = 0; i < below.n && r == 0; i++) {
		const char *n = below.v[i].name;
		if (strset_has(&shown, n) ||
		    !(opaque || strset_has(&whited, n)))
			continue;
		char *p = fs_join(path, n);
		r = p ? record(d, 'D', p, &below.v[i].st) : -ENOMEM;
		free(p);
	}
	for (size_t i = 0; i < names.n && r == 0; i++) {
		const char *n = names.names[i];
		if (!strset_has(&shown, n))
			continue;
		struct stat st;
		if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		const struct uentry *old = find_entry(&below, n);
		char *p = fs_join(path, n), *lp = fs_join(lpath, n);
		if (!p || !lp) {
			free(p);
			free(lp);
			r = -ENOMEM;
			break;
		}
		r = record(d, old ? 'C' : 'A', p, &st);
		char *mark = S_ISDIR(st.st_mode)
				     ? xattr_redirect_mark_at(dfd, n)
				     : NULL;
		int cfd = -1;
		if (r == 0 && S_ISDIR(st.st_mode)) {
			cfd = openat(dfd, n,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
			if (cfd < 0)
				r = -errno;
		}
		if (r == 0 && mark) {
			/* A directory renamed onto a name the lower layers
			 * showed a directory at: what that held is gone. */
			struct uchain osub = { 0 };
			if (old && S_ISDIR(old->st.st_mode))
				r = union_child_chain(lower, n, &osub);
			if (r == 0)
				r = redirected(d, cfd, p, mark, lpath, &osub);
			uchain_free(&osub);
		} else if (r == 0 && cfd >= 0) {
			struct uchain sub = { 0 };
			if (old && S_ISDIR(old->st.st_mode))
				r = union_child_chain(lower, n, &sub);
			if (r == 0)
				r = walk(d, cfd, p, lp, &sub, opaque);
			uchain_free(&sub);
		}
		if (cfd >= 0)
			close(cfd);
		free(mark);
		free(p);
		free(lp);
	}
	strset_free(&shown);
	strset_free(&whited);
	name_list_free(&names);
	ulisting_free(&below);
	return r;
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
		printf("%c %12" PRId64 " %s\n", d->v[i].kind, d->v[i].size,
		       d->v[i].path);
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
		struct uchain lower;
		int r = union_dir_chain(&d.stack, 1, "", &lower);
		if (r == 0)
			r = walk(&d, d.stack.fds[0], "", "", &lower, false);
		uchain_free(&lower);
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
