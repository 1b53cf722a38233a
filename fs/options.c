#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_common.h"

#define DEFAULT_TIMEOUT 1000000.0
#define UDBA_REVAL_TIMEOUT 1.0
/* How long a worker watches for the next request (dev_spin.h, uring.c):
 * see bench/README.md for the measurements behind it. */
#define DEFAULT_SPIN_US 20
#define SPIN_US_MAX 1000

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int append_str(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	(*n)++;
	nv[*n] = NULL;
	return 0;
}

int lfs_split_colon_list(const char *s, char ***out, size_t *n)
{
	char **v = NULL;
	size_t count = 0;
	size_t len = strlen(s);
	char *cur = malloc(len + 1);
	if (!cur)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0;; i++) {
		char c = s[i];
		if (c == '\\' && (s[i + 1] == ':' || s[i + 1] == '\\' ||
				  s[i + 1] == ',')) {
			cur[k++] = s[++i];
			continue;
		}
		if (c == ':' || c == 0) {
			cur[k] = 0;
			if (append_str(&v, &count, cur) < 0) {
				free(cur);
				return -ENOMEM;
			}
			k = 0;
			if (c == 0)
				break;
			continue;
		}
		cur[k++] = c;
	}
	free(cur);
	*out = v;
	*n = count;
	return 0;
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int lfs_idmap_parse(const char *s, struct lfs_idmap *m, char *err,
		    size_t errlen)
{
	uint64_t nums[3];
	int k = 0;
	struct lfs_idmap out = { 0 };
	const char *p = s;

	/* Numbers separated by ':' or ','; empty fields (the leading ':'
	 * containers/storage emits) are skipped. */
	while (*p) {
		if (*p == ':' || *p == ',') {
			p++;
			continue;
		}
		const char *end = p;
		while (*end && *end != ':' && *end != ',')
			end++;
		char tok[32];
		size_t tl = (size_t)(end - p);
		if (tl >= sizeof(tok)) {
			free(out.v);
			return fail(err, errlen, "id mapping '%s': number too long",
				    s);
		}
		memcpy(tok, p, tl);
		tok[tl] = 0;
		uint64_t v;
		if (lf_parse_u64(tok, &v) < 0 || v > UINT32_MAX) {
			free(out.v);
			return fail(err, errlen,
				    "id mapping '%s': '%s' is not an id", s, tok);
		}
		nums[k++] = v;
		if (k == 3) {
			if (nums[2] == 0 || nums[0] + nums[2] - 1 > UINT32_MAX ||
			    nums[1] + nums[2] - 1 > UINT32_MAX) {
				free(out.v);
				return fail(err, errlen,
					    "id mapping '%s': bad range length",
					    s);
			}
			struct lfs_idmap_entry *nv =
				realloc(out.v, (out.n + 1) * sizeof(*nv));
			if (!nv) {
				free(out.v);
				return fail(err, errlen, "out of memory");
			}
			out.v = nv;
			out.v[out.n++] = (struct lfs_idmap_entry){
				.disk = (uint32_t)nums[0],
				.view = (uint32_t)nums[1],
				.len = (uint32_t)nums[2],
			};
			k = 0;
		}
		p = end;
	}
	if (k != 0 || out.n == 0) {
		free(out.v);
		return fail(err, errlen,
			    "id mapping '%s': expected DISK:VIEW:LENGTH "
			    "triples",
			    s);
	}
	/* Like the kernel's uid_map: overlapping ranges would make an id map
	 * two ways. */
	for (size_t i = 0; i < out.n; i++) {
		for (size_t j = i + 1; j < out.n; j++) {
			const struct lfs_idmap_entry *a = &out.v[i], *b = &out.v[j];
			bool disk = a->disk < (uint64_t)b->disk + b->len &&
				    b->disk < (uint64_t)a->disk + a->len;
			bool view = a->view < (uint64_t)b->view + b->len &&
				    b->view < (uint64_t)a->view + a->len;
			if (disk || view) {
				free(out.v);
				return fail(err, errlen,
					    "id mapping '%s': ranges overlap", s);
			}
		}
	}
	free(m->v);
	*m = out;
	return 0;
}

uint32_t lfs_idmap_to_disk(const struct lfs_idmap *m, uint32_t id,
			   uint32_t overflow)
{
	if (m->n == 0)
		return id;
	for (size_t i = 0; i < m->n; i++) {
		const struct lfs_idmap_entry *e = &m->v[i];
		if (id >= e->view && id - e->view < e->len)
			return e->disk + (id - e->view);
	}
	return overflow;
}

uint32_t lfs_idmap_to_view(const struct lfs_idmap *m, uint32_t id,
			   uint32_t overflow)
{
	if (m->n == 0)
		return id;
	for (size_t i = 0; i < m->n; i++) {
		const struct lfs_idmap_entry *e = &m->v[i];
		if (id >= e->disk && id - e->disk < e->len)
			return e->view + (id - e->disk);
	}
	return overflow;
}

static int parse_bool(const char *v, bool *out)
{
	if (!v || !strcmp(v, "1") || !strcmp(v, "on") || !strcmp(v, "yes") ||
	    !strcmp(v, "true")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "no") ||
	    !strcmp(v, "false")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int add_fuse_opt(struct lfs_options *o, const char *opt)
{
	size_t old = o->fuse_opts ? strlen(o->fuse_opts) : 0;
	char *n = realloc(o->fuse_opts, old + strlen(opt) + 2);
	if (!n)
		return -ENOMEM;
	if (old)
		n[old++] = ',';
	strcpy(n + old, opt);
	o->fuse_opts = n;
	return 0;
}

/* Generic mount options that the kernel (through libfuse) understands. */
static const char *const fuse_passthrough[] = {
	"allow_root", "default_permissions", "suid", "nosuid", "dev",
	"nodev", "exec", "noexec", "sync", "async", "dirsync",
	"auto_unmount",
};
static const char *const fuse_passthrough_valued[] = {
	"fsname=", "subtype=", "context=", "fscontext=", "defcontext=",
	"rootcontext=",
};

/*
 * The access-time options of mount(8).  libfuse knows only noatime, so
 * layerfs keeps the choice (the last one given wins, as with mount(8))
 * and applies it to the new mount itself (main.c).  "nolazytime" and
 * "lazytime" are accepted without effect: a FUSE superblock has no
 * inode times of its own to write back lazily.
 */
static int parse_atime(struct lfs_options *o, const char *key)
{
	static const struct {
		const char *name;
		int atime;     /* LFS_ATIME_*, or -1: unchanged */
		int nodiratime; /* 1, 0, or -1: unchanged */
	} table[] = {
		{ "atime", LFS_ATIME_RELATIME, -1 },
		{ "relatime", LFS_ATIME_RELATIME, -1 },
		{ "norelatime", LFS_ATIME_RELATIME, -1 },
		{ "nostrictatime", LFS_ATIME_RELATIME, -1 },
		{ "noatime", LFS_ATIME_NOATIME, -1 },
		{ "strictatime", LFS_ATIME_STRICTATIME, -1 },
		{ "diratime", -1, 0 },
		{ "nodiratime", -1, 1 },
		{ "lazytime", -1, -1 },
		{ "nolazytime", -1, -1 },
	};
	for (size_t i = 0; i < LF_ARRAY_SIZE(table); i++) {
		if (strcmp(key, table[i].name) != 0)
			continue;
		if (table[i].atime >= 0)
			o->atime = table[i].atime;
		if (table[i].nodiratime >= 0)
			o->nodiratime = table[i].nodiratime;
		return 1;
	}
	return 0;
}

/*
 * Options accepted for compatibility, with no effect on layerfs: either
 * what they ask for is what layerfs always does, or they only mean
 * something to mount(8) or to another implementation.  Documented in
 * --help and the README.
 */
static const char *const compat_noop[] = {
	"rw", "xino", "nfs_export", "uuid", "verity", "fast_ino",
	"ino32_t", "plugins", "threaded", "user", "users", "nouser",
	"auto", "noauto", "owner", "group", "nofail", "_netdev",
	"defaults", "comment", "clone_fd", "metacopy_layer",
};

static bool name_in(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

static bool valued_in(const char *opt, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(opt, list[i], strlen(list[i])) == 0)
			return true;
	return false;
}

static int parse_layers(struct lfs_options *o, const char *v, bool append,
			char *err, size_t errlen)
{
	char **dirs;
	size_t n;
	if (lfs_split_colon_list(v, &dirs, &n) < 0)
		return fail(err, errlen, "out of memory");
	if (append && n != 1) {
		free_strv(dirs);
		return fail(err, errlen,
			    "lowerdir+= takes one directory, got '%s'", v);
	}
	for (size_t i = 0; i < n; i++) {
		if (dirs[i][0] == 0) {
			free_strv(dirs);
			return fail(err, errlen,
				    "lowerdir '%s' has an empty entry "
				    "(data-only layers are not supported)",
				    v);
		}
	}
	if (!append) {
		free_strv(o->lower);
		o->lower = dirs;
		o->nlower = n;
		return 0;
	}
	int r = append_str(&o->lower, &o->nlower, dirs[0]);
	free_strv(dirs);
	return r < 0 ? fail(err, errlen, "out of memory") : 0;
}

static int set_str(char **dst, const char *v, const char *key, char *err,
		   size_t errlen)
{
	if (!v || !*v)
		return fail(err, errlen, "option '%s' needs a value", key);
	char *c = strdup(v);
	if (!c)
		return fail(err, errlen, "out of memory");
	free(*dst);
	*dst = c;
	return 0;
}

static int parse_id_opt(const char *key, const char *v, int64_t *out,
			char *err, size_t errlen)
{
	uint64_t n;
	if (!v || lf_parse_u64(v, &n) < 0 || n > UINT32_MAX - 1)
		return fail(err, errlen, "option '%s' needs a numeric id",
			    key);
	*out = (int64_t)n;
	return 0;
}

/* Handles one "key[=value]" item of a -o list. */
static int parse_one(struct lfs_options *o, char *item, char *err,
		     size_t errlen)
{
	if (item[0] == 0)
		return 0; /* ",," and trailing commas: skipped */
	char *eq = strchr(item, '=');
	char *key = item, *val = NULL;
	if (eq) {
		*eq = 0;
		val = eq + 1;
	}
	bool b;

#define BOOL_OPT(name, field)                                                  \
	if (strcmp(key, name) == 0) {                                          \
		if (parse_bool(val, &b) < 0)                                   \
			return fail(err, errlen,                               \
				    "option '%s' takes on/off, not '%s'", key, \
				    val);                                      \
		o->field = b;                                                  \
		return 0;                                                      \
	}

	if (strcmp(key, "lowerdir") == 0) {
		if (!val || !*val)
			return fail(err, errlen, "lowerdir= is empty");
		return parse_layers(o, val, false, err, errlen);
	}
	if (strcmp(key, "lowerdir+") == 0) {
		if (!val || !*val)
			return fail(err, errlen, "lowerdir+= is empty");
		return parse_layers(o, val, true, err, errlen);
	}
	if (strcmp(key, "upperdir") == 0)
		return set_str(&o->upper, val, key, err, errlen);
	if (strcmp(key, "workdir") == 0)
		return set_str(&o->work, val, key, err, errlen);
	if (strcmp(key, "initdir") == 0)
		return set_str(&o->init, val, key, err, errlen);
	if (strcmp(key, "stats") == 0)
		return set_str(&o->stats_file, val, key, err, errlen);
	if (strcmp(key, "whiteout") == 0) {
		if (!val || wh_format_parse(val, &o->whiteout) < 0)
			return fail(err, errlen,
				    "whiteout= must be 'dotwh' or 'overlay'");
		return 0;
	}
	if (strcmp(key, "volatile") == 0 && !val) {
		o->fsync = false;
		return 0;
	}
	BOOL_OPT("fsync", fsync)
	if (strcmp(key, "metacopy") == 0)
		o->metacopy_given = true;
	BOOL_OPT("metacopy", metacopy)
	BOOL_OPT("index", index)
	BOOL_OPT("userxattr", userxattr)
	BOOL_OPT("static_nlink", static_nlink)
	BOOL_OPT("noacl", noacl)
	BOOL_OPT("noxattrs", noxattrs)
	BOOL_OPT("writeback", writeback)
	BOOL_OPT("file_handles", file_handles)
	BOOL_OPT("passthrough", passthrough)
	BOOL_OPT("exec_prefetch", exec_prefetch)
	BOOL_OPT("io_uring", io_uring)
	if (strcmp(key, "io_uring_pin") == 0)
		o->io_uring_pin_given = true;
	BOOL_OPT("io_uring_pin", io_uring_pin)
	if (strcmp(key, "redirect_dir") == 0) {
		/* Kernel values: on, follow, nofollow, off. */
		if (!val || !strcmp(val, "on") || !strcmp(val, "follow"))
			o->redirect_dir = true;
		else if (!strcmp(val, "off") || !strcmp(val, "nofollow"))
			o->redirect_dir = false;
		else
			return fail(err, errlen,
				    "redirect_dir= must be on, follow, "
				    "nofollow or off");
		return 0;
	}
	if (strcmp(key, "threads") == 0) {
		uint64_t n;
		if (!val || lf_parse_u64(val, &n) < 0 || n > 1024)
			return fail(err, errlen,
				    "threads= needs a number from 0 to 1024");
		o->threads = (unsigned)n;
		return 0;
	}
	if (strcmp(key, "spin_us") == 0) {
		uint64_t n;
		if (!val || lf_parse_u64(val, &n) < 0 || n > SPIN_US_MAX)
			return fail(err, errlen,
				    "spin_us= needs a number of microseconds "
				    "from 0 to 1000");
		o->spin_us = (unsigned)n;
		return 0;
	}
	if (strcmp(key, "ready_fd") == 0) {
		uint64_t n;
		if (!val || lf_parse_u64(val, &n) < 0 || n < 3 || n > INT_MAX)
			return fail(err, errlen,
				    "ready_fd= needs an open descriptor "
				    "number from 3");
		o->ready_fd = (int)n;
		return 0;
	}
	if (strcmp(key, "dircache") == 0) {
		uint64_t n;
		if (!val || lf_parse_u64(val, &n) < 0 || n < 1 || n > 1u << 20)
			return fail(err, errlen,
				    "dircache= needs a size in MiB (1 or more)");
		o->dircache_mib = (unsigned)n;
		return 0;
	}
	if (strcmp(key, "timeout") == 0) {
		char *end;
		double t = val ? strtod(val, &end) : -1;
		/* Written so that NaN fails it too ("nan" is a number to
		 * strtod, and every comparison with it is false). */
		if (!val || !*val || *end || !(t >= 0 && t <= 1e10))
			return fail(err, errlen,
				    "timeout= needs a number of seconds");
		o->timeout = t;
		o->timeout_given = true;
		return 0;
	}
	if (strcmp(key, "udba") == 0) {
		/* aufs's name: "user's direct branch access". */
		if (val && !strcmp(val, "reval"))
			o->udba_reval = true;
		else if (val && !strcmp(val, "none"))
			o->udba_reval = false;
		else
			return fail(err, errlen,
				    "udba= must be 'none' or 'reval'");
		return 0;
	}
	if (strcmp(key, "xattr_permissions") == 0) {
		uint64_t n;
		if (!val || lf_parse_u64(val, &n) < 0 || n > 2)
			return fail(err, errlen,
				    "xattr_permissions= must be 0, 1 or 2");
		o->xattr_permissions = (int)n;
		return 0;
	}
	if (strcmp(key, "uidmapping") == 0)
		return lfs_idmap_parse(val ? val : "", &o->uidmap, err, errlen);
	if (strcmp(key, "gidmapping") == 0)
		return lfs_idmap_parse(val ? val : "", &o->gidmap, err, errlen);
	if (strcmp(key, "squash_to_uid") == 0)
		return parse_id_opt(key, val, &o->squash_uid, err, errlen);
	if (strcmp(key, "squash_to_gid") == 0)
		return parse_id_opt(key, val, &o->squash_gid, err, errlen);
	if (strcmp(key, "squash_to_root") == 0 && !val) {
		if (o->squash_uid < 0)
			o->squash_uid = 0;
		if (o->squash_gid < 0)
			o->squash_gid = 0;
		return 0;
	}
	if (strcmp(key, "debug") == 0 && !val) {
		o->debug = true;
		o->foreground = true;
		return 0;
	}
	if (strcmp(key, "ro") == 0 && !val) {
		o->read_only = true;
		return 0;
	}
	if (strcmp(key, "allow_other") == 0 && !val) {
		o->allow_other = true;
		return 0;
	}
	if (!val && parse_atime(o, key))
		return 0;
	if (strcmp(key, "max_read") == 0) {
		uint64_t n;
		/* The kernel takes any size; the daemon must announce the
		 * same one at INIT (ops.c), which libfuse checks. */
		if (!val || lf_parse_u64(val, &n) < 0 || n == 0 ||
		    n > UINT32_MAX)
			return fail(err, errlen,
				    "option 'max_read' needs a size in bytes");
		o->max_read = (uint32_t)n;
		*eq = '=';
		if (add_fuse_opt(o, item) < 0)
			return fail(err, errlen, "out of memory");
		return 0;
	}
	if (!val && name_in(key, compat_noop, LF_ARRAY_SIZE(compat_noop)))
		return 0;
	if (val && name_in(key, compat_noop, LF_ARRAY_SIZE(compat_noop)))
		return 0;
	if (strncmp(key, "x-", 2) == 0)
		return 0; /* fstab annotations for other tools */

	if (eq)
		*eq = '=';
	if ((!val && name_in(item, fuse_passthrough,
			     LF_ARRAY_SIZE(fuse_passthrough))) ||
	    (val && valued_in(item, fuse_passthrough_valued,
			      LF_ARRAY_SIZE(fuse_passthrough_valued)))) {
		if (add_fuse_opt(o, item) < 0)
			return fail(err, errlen, "out of memory");
		return 0;
	}
	return fail(err, errlen, "unknown option '%s' (see --help)", item);
#undef BOOL_OPT
}

/* Splits a -o argument on unescaped commas and parses each item. */
static int parse_opt_list(struct lfs_options *o, const char *s, char *err,
			  size_t errlen)
{
	size_t len = strlen(s);
	char *item = malloc(len + 1);
	if (!item)
		return fail(err, errlen, "out of memory");
	size_t k = 0;
	for (size_t i = 0;; i++) {
		char c = s[i];
		if (c == '\\' && s[i + 1] == ',') {
			/* Keep the escape for colon lists, drop it here. */
			item[k++] = '\\';
			item[k++] = ',';
			i++;
			continue;
		}
		if (c == ',' || c == 0) {
			item[k] = 0;
			if (parse_one(o, item, err, errlen) < 0) {
				free(item);
				return -1;
			}
			k = 0;
			if (c == 0)
				break;
			continue;
		}
		item[k++] = c;
	}
	free(item);
	return 0;
}

static void set_defaults(struct lfs_options *o)
{
	memset(o, 0, sizeof(*o));
	o->whiteout = WH_FORMAT_DOTWH;
	o->fsync = true;
	o->metacopy = true;
	o->redirect_dir = true;
	o->index = true;
	o->writeback = true;
	o->passthrough = true;
	o->exec_prefetch = true;
	o->io_uring = true;
	o->spin_us = DEFAULT_SPIN_US;
	o->timeout = DEFAULT_TIMEOUT;
	o->dircache_mib = 64;
	o->squash_uid = -1;
	o->squash_gid = -1;
	o->ready_fd = -1;
}

int lfs_options_parse(int argc, char **argv, struct lfs_options *o,
		      char *err, size_t errlen)
{
	const char *pos[2];
	int npos = 0;

	set_defaults(o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			o->show_help = true;
			return 0;
		}
		if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			o->show_version = true;
			return 0;
		}
		if (!strcmp(a, "-f")) {
			o->foreground = true;
		} else if (!strcmp(a, "-d") || !strcmp(a, "--debug")) {
			o->debug = true;
			o->foreground = true;
		} else if (!strcmp(a, "-s")) {
			o->singlethread = true;
		} else if (!strcmp(a, "-o")) {
			if (i + 1 >= argc)
				return fail(err, errlen,
					    "-o needs an option list");
			if (parse_opt_list(o, argv[++i], err, errlen) < 0)
				return -1;
		} else if (!strncmp(a, "-o", 2)) {
			if (parse_opt_list(o, a + 2, err, errlen) < 0)
				return -1;
		} else if (a[0] == '-' && a[1] != 0) {
			return fail(err, errlen, "unknown flag '%s' (see --help)",
				    a);
		} else {
			if (npos == 2)
				return fail(err, errlen,
					    "too many arguments: '%s'", a);
			pos[npos++] = a;
		}
	}
	if (npos == 0)
		return fail(err, errlen, "no mountpoint given (see --help)");
	const char *mnt = pos[npos - 1];
	o->mountpoint = strdup(mnt);
	if (npos == 2)
		o->source = strdup(pos[0]);
	if (!o->mountpoint || (npos == 2 && !o->source))
		return fail(err, errlen, "out of memory");
	if (o->nlower == 0)
		return fail(err, errlen,
			    "no lowerdir= given: at least one layer is needed");
	if (o->upper && !o->work)
		return fail(err, errlen, "upperdir= needs workdir= as well");
	if (o->work && !o->upper)
		return fail(err, errlen, "workdir= needs upperdir= as well");
	if (o->singlethread)
		o->threads = 1;
	/* Changes made behind the mount show once the kernel asks again. */
	if (o->udba_reval && !o->timeout_given)
		o->timeout = UDBA_REVAL_TIMEOUT;
	/*
	 * With udba=reval a copy-up always takes the data (copy_up.c): a
	 * metadata-only copy would keep reading a lower file that may
	 * change.  Asked for by name, metacopy=on cannot be given, and
	 * silently not giving it would hide that from the user (kernel
	 * overlayfs refuses conflicting options it was given explicitly
	 * too); the default gives way without a word.
	 */
	if (o->udba_reval && o->metacopy && o->metacopy_given)
		return fail(err, errlen,
			    "metacopy=on cannot be used with udba=reval "
			    "(a copy-up there always copies the data)");
	return 0;
}

void lfs_options_free(struct lfs_options *o)
{
	free_strv(o->lower);
	free(o->upper);
	free(o->work);
	free(o->init);
	free(o->source);
	free(o->mountpoint);
	free(o->stats_file);
	free(o->uidmap.v);
	free(o->gidmap.v);
	free(o->fuse_opts);
	memset(o, 0, sizeof(*o));
}

int lfs_premounted_fd(const char *mountpoint)
{
	int fd = -1, end = 0;
	if (sscanf(mountpoint, "/dev/fd/%d%n", &fd, &end) == 1 && fd >= 0 &&
	    mountpoint[end] == 0)
		return fd;
	return -1;
}

void lfs_print_help(const char *prog)
{
	printf(
"usage: %s [-f] [-d] -o lowerdir=A:B[,upperdir=U,workdir=W][,OPTS] MOUNTPOINT\n"
"       %s SOURCE MOUNTPOINT -o OPTS      (the mount.fuse3 / fstab form)\n"
"\n"
"A union filesystem: merges read-only layer directories (top first, as\n"
"kernel overlayfs) with an optional read-write upper layer.\n"
"\n"
"Flags:\n"
"  -f                 stay in the foreground (default: daemonize once the\n"
"                     mount is ready, with stdin/stdout/stderr detached)\n"
"  -d, --debug        foreground, and print every FUSE request\n"
"  -s                 serve requests with a single thread\n"
"  -o ready_fd=N      for launchers that keep the daemon as their child: no\n"
"                     fork; a new session at once, stdin/stdout/stderr\n"
"                     detached and one byte written to descriptor N once\n"
"                     the mount is ready (N closes without it on failure)\n"
"  -h, --help         this text;   -V, --version  the version\n"
"\n"
"Layers:\n"
"  lowerdir=A:B:C     read-only layers, top first; '\\:' escapes a colon\n"
"  lowerdir+=D        append one more (bottom) layer\n"
"  upperdir=U         read-write layer; every change lands here\n"
"  workdir=W          scratch directory on the same filesystem as U\n"
"  initdir=I          read-only init layer placed between U and A\n"
"  Without upperdir the mount is read-only.\n"
"\n"
"Upper layer format:\n"
"  whiteout=dotwh     write '.wh.NAME' whiteouts and '.wh..wh..opq' (default;\n"
"                     the upper directory is then an OCI layer changeset)\n"
"  whiteout=overlay   write 0/0 character devices and overlay.opaque xattrs\n"
"  userxattr          with whiteout=overlay: user.overlay.opaque, not trusted.*\n"
"  Both formats are always read, in every layer.\n"
"\n"
"Copy-on-write:\n"
"  metacopy=on|off    chmod/chown/utimes/xattr on a lower file copy only its\n"
"                     metadata; data follows on the first write (default on;\n"
"                     off with udba=reval, where on is refused)\n"
"  redirect_dir=on|off  rename any directory without copying its subtree\n"
"                     (default on; also accepts follow/nofollow)\n"
"  index=on|off       keep lower hard links shared across copy-up (default on)\n"
"  fsync=0|1          fsync copy-ups before publishing them, and pass\n"
"                     fsync(2) through (default 1)\n"
"  volatile           same as fsync=0\n"
"  stats=FILE         write copy-on-write counters as JSON to FILE on SIGUSR1\n"
"                     and at unmount\n"
"\n"
"Ownership (fuse-overlayfs compatible):\n"
"  uidmapping=DISK:VIEW:LEN[:DISK:VIEW:LEN...]  show ids DISK..DISK+LEN-1\n"
"  gidmapping=...     of the layers as VIEW..VIEW+LEN-1 and store them back\n"
"                     (fuse-overlayfs order); unmapped ids show as the\n"
"                     overflow id (65534)\n"
"  squash_to_uid=N, squash_to_gid=N, squash_to_root\n"
"                     show every file as owned by N (or 0); chown is a no-op\n"
"  xattr_permissions=0|1|2  keep ownership and mode set through the mount in an\n"
"                     xattr (1: security.fuseoverlayfs.override_stat,\n"
"                     2: user.containers.override_stat) instead of chown\n"
"\n"
"Caching and threads:\n"
"  timeout=SECONDS    kernel entry/attribute cache timeout (default 1000000,\n"
"                     1 with udba=reval)\n"
"  udba=none|reval    none (default): the lower layers must not change while\n"
"                     mounted; reval: changes made to them directly show\n"
"                     through the mount within the timeout\n"
"  threads=N          at most this many worker threads (default: 4 per\n"
"                     CPU; more than half the CPUs only while requests block)\n"
"  spin_us=N          after an answer, a worker watches for the next request\n"
"                     this many microseconds before it sleeps, while a CPU\n"
"                     is spare (default 20; 0: never)\n"
"  dircache=MIB       memory for merged directory listings; least recently\n"
"                     used ones are dropped and read again (default 64)\n"
"  writeback=0|1      kernel writeback cache (default 1; off where\n"
"                     passthrough is used)\n"
"  passthrough=0|1    reads and writes of upper files go straight to them\n"
"                     (Linux 6.9+, root; default 1)\n"
"  exec_prefetch=0|1  without passthrough, a program run from a lower layer\n"
"                     (up to 8 MiB) is put in the page cache with its open,\n"
"                     instead of read fault by fault (default 1)\n"
"  io_uring=0|1       take requests through per-CPU io_uring queues when the\n"
"                     kernel allows it (Linux 6.14+, fuse module parameter\n"
"                     enable_uring=Y; default 1)\n"
"  io_uring_pin=0|1   bind each ring's workers to its CPU, so that a request\n"
"                     is answered on the CPU that sent it (default: where\n"
"                     the workers may also yield their CPU, SCHED_IDLE and\n"
"                     back, as root can; without that, a lone process\n"
"                     moves between CPUs at every request)\n"
"  file_handles=0|1   read-only mounts: 0 lets the kernel open files by\n"
"                     itself, served from one fd per inode (default); 1\n"
"                     asks for OPEN and RELEASE per open file.  Mounts\n"
"                     with an upper layer always use handles\n"
"  static_nlink       directories always report st_nlink 1\n"
"  noacl              do not enable POSIX ACLs\n"
"  noxattrs=1         refuse extended attributes (ENOTSUP)\n"
"\n"
"Generic mount options passed to the kernel: ro, allow_other, allow_root,\n"
"default_permissions, suid, nosuid, dev, nodev, exec, noexec, sync, async,\n"
"dirsync, auto_unmount, fsname=, subtype=, max_read=, context=, fscontext=,\n"
"defcontext=, rootcontext=, atime, relatime, norelatime, nostrictatime,\n"
"noatime, strictatime, diratime, nodiratime.\n"
"Of the access times the last one given wins; atime, norelatime and\n"
"nostrictatime mean the kernel's default, relatime.\n"
"\n"
"Accepted for compatibility, without effect: rw, xino=, nfs_export=, uuid=,\n"
"verity=, fast_ino=, ino32_t, plugins=, threaded=, clone_fd, metacopy_layer,\n"
"debug (= -d), user, users, nouser, auto, noauto, owner, group, nofail,\n"
"_netdev, defaults, comment=, lazytime, nolazytime, x-* (fstab notes).\n"
"layerfs always gives unique, stable inode numbers (what xino asks for).\n"
"\n"
"Exit status: 0 mounted (or the daemon ended cleanly), 1 bad usage or\n"
"option, 2 a layer, upperdir, workdir or mountpoint is unusable, 3 the\n"
"mount was refused, 4 the daemon failed after mounting.\n",
		prog, prog);
}
