#include "index.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fault.h"
#include "fileattr.h"
#include "lf_common.h"
#include "lower_id.h"
#include "metacopy.h"
#include "node_reach.h"
#include "xattr_private.h"

/*
 * The index's special entries by the inode number the upper layer
 * gives them (composed, as a listing shows it): an open-addressing hash
 * read from the index directory at the first need, then kept up to date
 * by index_enter and retire_stale.  A slot whose entry was retired
 * keeps its number, with an empty key, so the slots after it are still
 * found.
 */
struct special_slot {
	uint64_t upper_ino; /* 0: empty */
	char key[INDEX_KEY_MAX];
};

struct index_state {
	/* The table's, and retire_stale's: the check that an entry is
	 * stale and its removal are one step, so a lookup never removes
	 * the entry a copy-up made for the new file meanwhile. */
	pthread_mutex_t lock;
	bool loaded;
	size_t cap, used; /* cap is 0 or a power of two */
	struct special_slot *slots;
};

int index_init(struct lfs *fs)
{
	struct index_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	fs->index = s;
	return 0;
}

void index_close(struct lfs *fs)
{
	struct index_state *s = fs->index;
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->slots);
	free(s);
	fs->index = NULL;
}

bool index_wanted(struct lfs *fs, const struct stat *lower)
{
	return fs->index_fd >= 0 && fs->upper_xattr &&
	       !S_ISDIR(lower->st_mode) && lower->st_nlink > 1;
}

void index_key(char *buf, size_t size, dev_t dev, uint64_t ino)
{
	snprintf(buf, size, "%llx-%llx", (unsigned long long)dev,
		 (unsigned long long)ino);
}

/* The lower inode a key names, as the inode number the view shows. */
static uint64_t key_origin(struct lfs *fs, const char *key)
{
	unsigned long long dev, ino;
	char end;
	if (sscanf(key, "%llx-%llx%c", &dev, &ino, &end) != 2)
		return 0;
	return lfs_compose_ino_dev(fs, (dev_t)dev, ino);
}

/* ---- the table of special entries --------------------------------- */

static struct special_slot *slot_of(struct index_state *s, uint64_t ino)
{
	size_t mask = s->cap - 1;
	for (size_t i = (size_t)(ino * 0x9e3779b97f4a7c15ull) & mask;;
	     i = (i + 1) & mask)
		if (s->slots[i].upper_ino == ino || !s->slots[i].upper_ino)
			return &s->slots[i];
}

static int table_put(struct index_state *s, uint64_t ino, const char *key)
{
	if ((s->used + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct special_slot *old = s->slots;
		size_t old_cap = s->cap;
		s->slots = calloc(cap, sizeof(*s->slots));
		if (!s->slots) {
			s->slots = old;
			return -ENOMEM;
		}
		s->cap = cap;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].upper_ino)
				*slot_of(s, old[i].upper_ino) = old[i];
		free(old);
	}
	struct special_slot *slot = slot_of(s, ino);
	if (!slot->upper_ino)
		s->used++;
	slot->upper_ino = ino;
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	return 0;
}

/* Whether name is an entry's key (and not its count or a stray file). */
static bool is_key(const char *name)
{
	return strlen(name) < INDEX_KEY_MAX && !strchr(name, '.');
}

/* One pass over the index directory, the first time it is needed.
 * Called with s->lock held. */
static void table_load(struct lfs *fs, struct index_state *s)
{
	if (s->loaded)
		return;
	s->loaded = true;
	int fd = openat(fs->index_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		lf_warn("cannot list the hard-link index: %s", strerror(errno));
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		/* Regular files carry their own marks. */
		if (de->d_type == DT_REG || de->d_type == DT_DIR ||
		    !is_key(de->d_name))
			continue;
		struct stat st;
		if (fstatat(fs->index_fd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			table_put(s, lfs_compose_ino(fs, fs->upper, st.st_ino),
				  de->d_name);
	}
	closedir(d);
}

/* The key of the special entry the upper layer numbers upper_ino. */
static bool table_find(struct lfs *fs, uint64_t upper_ino, char *key)
{
	struct index_state *s = fs->index;
	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	table_load(fs, s);
	bool found = false;
	if (s->cap) {
		struct special_slot *slot = slot_of(s, upper_ino);
		if (slot->upper_ino && slot->key[0]) {
			memcpy(key, slot->key, INDEX_KEY_MAX);
			found = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

bool index_special_origin(struct lfs *fs, uint64_t upper_ino, uint64_t *ino)
{
	char key[INDEX_KEY_MAX];
	if (!table_find(fs, upper_ino, key))
		return false;
	uint64_t v = key_origin(fs, key);
	if (v)
		*ino = v;
	return v != 0;
}

/* ---- entering the index ------------------------------------------- */

static void count_name(char *buf, size_t size, const char *key)
{
	snprintf(buf, size, "%s" INDEX_NLINK_SUFFIX, key);
}

static int set_count_at(int dirfd, const char *name, uint64_t nlink)
{
	char path[64 + NAME_MAX], v[32];
	xp_proc_path(path, sizeof(path), dirfd, name);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)nlink);
	return lsetxattr(path, XATTR_LFS_NLINK, v, strlen(v), 0) < 0 ? -errno
								       : 0;
}

static int set_id_at(int dirfd, const char *name, const char *lower_id)
{
	char path[64 + NAME_MAX];
	xp_proc_path(path, sizeof(path), dirfd, name);
	return lsetxattr(path, XATTR_LFS_LOWERID, lower_id, strlen(lower_id),
			 0) < 0
		       ? -errno
		       : 0;
}

/* The identity recorded for entry key (a special file's on its count
 * file), into out[LOWER_ID_MAX]: "" for an entry made before the
 * record existed; -errno (-ENOENT: no entry). */
static int recorded_id(struct lfs *fs, const char *key, bool special,
		       char *out)
{
	char name[INDEX_KEY_MAX + sizeof(INDEX_NLINK_SUFFIX)], path[128];
	if (special)
		count_name(name, sizeof(name), key);
	else
		snprintf(name, sizeof(name), "%s", key);
	xp_proc_path(path, sizeof(path), fs->index_fd, name);
	ssize_t len = lgetxattr(path, XATTR_LFS_LOWERID, out, LOWER_ID_MAX - 1);
	if (len < 0 && errno != ENODATA)
		return -errno;
	out[len < 0 ? 0 : len] = 0;
	return 0;
}

/* A special file's entry KEY, whose upper inode number is upper_ino,
 * just left the index: its count file goes, and its names leave the
 * table.  Called with s->lock held. */
static void forget_special(struct lfs *fs, struct index_state *s,
			   const char *key, uint64_t upper_ino)
{
	char name[INDEX_KEY_MAX + sizeof(INDEX_NLINK_SUFFIX)];
	count_name(name, sizeof(name), key);
	unlinkat(fs->index_fd, name, 0);
	table_load(fs, s);
	if (s->cap) {
		struct special_slot *slot = slot_of(s, upper_ino);
		if (slot->upper_ino)
			slot->key[0] = 0;
	}
}

/* An index entry, for the nodes that present it (retire_stale). */
struct presenting {
	struct lfs *fs;
	const char *key;
};

static bool presents_entry(struct node *n, void *arg)
{
	const struct presenting *p = arg;
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	return node_layer(n) == p->fs->upper && e &&
	       strcmp(e->index_key, p->key) == 0;
}

/*
 * An entry recorded for another lower file than the one whose identity
 * is now_id: out of the index.  Its upper names, which link its inode,
 * stay as they are but for the entry's marks (origin, count and
 * record), so they are plain upper files: the lower file they were
 * copied from is gone (its inode number went to another), and they
 * must show their own inode number, not the one the new lower file
 * shows.  A special file's count file goes with it (its names then
 * leave the table).  Nodes presenting the entry take the upper inode's
 * number, as a copy-up of a hard link without an index gives it.
 *
 * In this order: the nodes first, while the entry is still there (a
 * lookup of another lower name that finds no entry joins the node
 * showing the lower file's number, which must not be the old copy's
 * then), every one of them (the new file's own node may come first
 * under that number); the record last, once the entry's link is gone
 * (a crash in between must leave an entry that is still found stale:
 * one without a record is kept, as one made before records were).
 */
static void retire_stale(struct lfs *fs, const char *key, const char *now_id)
{
	struct index_state *s = fs->index;
	char rec[LOWER_ID_MAX];
	struct stat entry;
	bool retired = false;
	struct node **moved = NULL;
	size_t nmoved = 0;
	pthread_mutex_lock(&s->lock);
	/* Checked again under the lock: another thread may have retired
	 * it and a copy-up of the new file made the entry anew. */
	if (fstatat(fs->index_fd, key, &entry, AT_SYMLINK_NOFOLLOW) == 0 &&
	    recorded_id(fs, key, !S_ISREG(entry.st_mode), rec) == 0 &&
	    rec[0] && strcmp(rec, now_id) != 0) {
		uint64_t origin = key_origin(fs, key);
		uint64_t own = lfs_compose_ino(fs, fs->upper, entry.st_ino);
		struct presenting p = { fs, key };
		struct node *same;
		while (origin && origin != own &&
		       (same = node_find_by_ino_if(fs, origin, presents_entry,
						   &p))) {
			node_clear_flag(same, N_HLINK | N_ORIGIN_SET);
			node_set_ino(fs, same, own);
			struct node **more =
				realloc(moved, (nmoved + 1) * sizeof(*moved));
			if (more) {
				moved = more;
				moved[nmoved++] = same;
			} else {
				node_unref(fs, same); /* (no notice then) */
			}
		}
		char path[128];
		xp_proc_path(path, sizeof(path), fs->index_fd, key);
		/* An immutable or append-only copy keeps its flags, but
		 * they would refuse this. */
		unsigned lifted;
		int lfd = fileattr_lift(NULL, fs->index_fd, key, &lifted);
		if (S_ISREG(entry.st_mode)) {
			/* The record goes through this once the link is. */
			int ofd = openat(fs->index_fd, key,
					 O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (ofd >= 0) {
				lremovexattr(path, XATTR_LFS_ORIGIN);
				lremovexattr(path, XATTR_LFS_NLINK);
				fault_point("index-retiring");
				retired = unlinkat(fs->index_fd, key, 0) == 0;
				fault_point("index-retired");
				char fdpath[64];
				snprintf(fdpath, sizeof(fdpath),
					 "/proc/self/fd/%d", ofd);
				if (retired)
					removexattr(fdpath, XATTR_LFS_LOWERID);
				close(ofd);
			}
		} else {
			/* The entry before its count file, which holds the
			 * record. */
			fault_point("index-retiring");
			retired = unlinkat(fs->index_fd, key, 0) == 0;
			fault_point("index-retired");
			if (retired)
				forget_special(fs, s, key, own);
		}
		fileattr_restore(NULL, lfd, lifted);
	}
	pthread_mutex_unlock(&s->lock);
	/* The kernel asks for their attributes again. */
	for (size_t i = 0; i < nmoved; i++) {
		if (fs->se)
			fuse_lowlevel_notify_inval_inode(
				fs->se, node_to_ino(fs, moved[i]), -1, 0);
		node_unref(fs, moved[i]);
	}
	free(moved);
	if (retired)
		lfs_stat_add(&fs->stats.index_stale, 1);
}

/* A special file's count: staged, then moved beside its entry. */
static int write_special_count(struct lfs *fs, const char *key,
			       uint64_t nlink, const char *lower_id)
{
	char tmp[64], name[INDEX_KEY_MAX + sizeof(INDEX_NLINK_SUFFIX)];
	lfs_tmp_name(fs, tmp, sizeof(tmp));
	int fd = openat(fs->work_fd, tmp,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0)
		return -errno;
	close(fd);
	int r = set_count_at(fs->work_fd, tmp, nlink);
	if (r == 0 && lower_id[0])
		r = set_id_at(fs->work_fd, tmp, lower_id);
	count_name(name, sizeof(name), key);
	if (r == 0 && renameat(fs->work_fd, tmp, fs->index_fd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(fs->work_fd, tmp, 0);
	return r;
}

void index_lower_id(struct lfs *fs, struct node *n, int layer, int fd,
		    char *out)
{
	out[0] = 0;
	int r;
	bool handles = fs->layers[layer].handles_kept;
	if (fd >= 0) {
		r = lower_id_at(fd, "", handles, out);
	} else if (node_reached_by_name(fs, n, layer)) {
		char name[NAME_MAX + 1];
		int dfd = node_parent_fd(fs, n, layer, name);
		if (dfd < 0)
			return;
		r = lower_id_at(dfd, name, handles, out);
		node_parent_fd_done(fs, dfd);
	} else {
		int ofd = node_open(fs, n, layer, O_PATH);
		if (ofd < 0)
			return;
		r = lower_id_at(ofd, "", handles, out);
		close(ofd);
	}
	if (r <= 0)
		out[0] = 0;
}

int index_enter(struct lfs *fs, const char *tmp, const char *key,
		const struct stat *lower, const char *lower_id)
{
	bool special = !S_ISREG(lower->st_mode);
	/* An entry already under this key that was made from another lower
	 * file (a lookup found no stale one: the name was looked up before
	 * the lower layer changed) is retired first; this copy is the
	 * file's own.  One that was made from this file is joined (EEXIST
	 * below). */
	char rec[LOWER_ID_MAX];
	if (lower_id[0] && recorded_id(fs, key, special, rec) == 0 && rec[0] &&
	    strcmp(rec, lower_id) != 0)
		retire_stale(fs, key, lower_id);
	int r = special ? write_special_count(fs, key, lower->st_nlink,
					      lower_id)
			: set_count_at(fs->work_fd, tmp, lower->st_nlink);
	if (r == 0 && !special && lower_id[0])
		r = set_id_at(fs->work_fd, tmp, lower_id);
	if (r < 0)
		return r;
	/* Into the index first, then a link at the name.  Never over an
	 * entry there: another name of the inode, with a node of its own
	 * (looked up before the entry existed), copied it up meanwhile,
	 * and this copy must join that one (EEXIST), not split from it. */
	if (renameat2(fs->work_fd, tmp, fs->index_fd, key, RENAME_NOREPLACE) <
	    0)
		return -errno;
	if (linkat(fs->index_fd, key, fs->work_fd, tmp, 0) < 0)
		return -errno;
	lfs_stat_add(&fs->stats.index_links, 1);
	struct stat st;
	if (special && fstatat(fs->index_fd, key, &st,
			       AT_SYMLINK_NOFOLLOW) == 0) {
		struct index_state *s = fs->index;
		pthread_mutex_lock(&s->lock);
		table_load(fs, s); /* (it may find the entry itself) */
		r = table_put(s, lfs_compose_ino(fs, fs->upper, st.st_ino),
			      key);
		pthread_mutex_unlock(&s->lock);
	}
	return r;
}

/* ---- lookups ------------------------------------------------------ */

void index_withdraw(struct lfs *fs, const char *key, int fd)
{
	struct stat mine, entry;
	if (fstat(fd, &mine) == 0 &&
	    fstatat(fs->index_fd, key, &entry, AT_SYMLINK_NOFOLLOW) == 0 &&
	    entry.st_ino == mine.st_ino && entry.st_dev == mine.st_dev &&
	    entry.st_nlink == 1)
		unlinkat(fs->index_fd, key, 0);
}

int index_attach(struct lfs *fs, struct node *n, const struct stat *lower,
		 struct stat *entry)
{
	if (fs->index_fd < 0 || !fs->upper_xattr)
		return -ENOENT;
	char key[INDEX_KEY_MAX];
	index_key(key, sizeof(key), lower->st_dev, lower->st_ino);
	struct stat st;
	if (fstatat(fs->index_fd, key, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    S_ISDIR(st.st_mode))
		return -ENOENT;
	/* The entry must be this lower file's: its record read, and the
	 * file's identity (one syscall; none for an entry without one). */
	char rec[LOWER_ID_MAX], now[LOWER_ID_MAX];
	bool special = !S_ISREG(st.st_mode);
	if (recorded_id(fs, key, special, rec) < 0)
		return -ENOENT;
	if (rec[0]) {
		index_lower_id(fs, n, node_layer(n), -1, now);
		/* (Nothing to compare when it cannot be read now: kept, as
		 * an entry without a record.) */
		if (now[0] && strcmp(rec, now) != 0) {
			retire_stale(fs, key, now);
			return -ESTALE;
		}
	}
	if ((st.st_mode & S_IFMT) != (lower->st_mode & S_IFMT))
		return -ENOENT;
	struct node_ext *e = node_ext(n);
	if (!e)
		return -ENOMEM;
	snprintf(e->index_key, sizeof(e->index_key), "%s", key);
	/* A special file's origin is its key. */
	unsigned marks = S_ISREG(st.st_mode) ? xp_marks_at(fs->index_fd, key)
					     : N_ORIGIN_SET;
	/* The index entry may itself hold only metadata (a hard link that
	 * was unlinked, or chmod'ed, before any write): its data is below. */
	if (marks & N_METACOPY) {
		char *datapath = NULL;
		if (xp_get_string_at(fs->index_fd, key, XATTR_LFS_METACOPY,
				     &datapath) == 0 &&
		    metacopy_resolve(fs, n, &datapath) == 0) {
			free(e->datapath);
			e->datapath = datapath;
			__atomic_store_n(&e->data_layer, -1, __ATOMIC_RELAXED);
			__atomic_store_n(&e->data_blocks, -1,
					 __ATOMIC_RELAXED);
			node_set_flag(n, N_METACOPY);
		}
	} else {
		/* Its data is the entry's, whatever the lower file was (a
		 * kernel metacopy: metacopy_probe_lower). */
		node_clear_flag(n, N_METACOPY);
	}
	node_set_flag(n, N_IDX_ALIAS | N_HLINK | (marks & N_ORIGIN_SET));
	node_set_layer(n, fs->upper);
	if (entry)
		*entry = st;
	/* A protected file's flags, which a crash may have left off it. */
	if (marks & XP_PROTATTR)
		fileattr_mark_found(fs, n, fs->index_fd, key);
	return 0;
}

/* A regular upper file: its own marks say whether it is an entry's link
 * (the nlink mark, which makes n count links by it: N_HLINK) and which
 * (its origin, which is the key). */
static bool mark_regular_link(int pfd, const char *name, struct node *n,
			      char *key)
{
	char path[64 + NAME_MAX];
	xp_proc_path(path, sizeof(path), pfd, name);
	if (lgetxattr(path, XATTR_LFS_NLINK, NULL, 0) <= 0)
		return false;
	node_set_flag(n, N_HLINK);
	dev_t dev;
	uint64_t ino;
	if (xp_read_origin_raw_at(pfd, name, &dev, &ino) < 0)
		return false;
	index_key(key, INDEX_KEY_MAX, dev, ino);
	return true;
}

void index_mark_link(struct lfs *fs, struct node *n, int pfd,
		     const char *name, const struct stat *st)
{
	if (fs->index_fd < 0 || S_ISDIR(st->st_mode))
		return;
	char key[INDEX_KEY_MAX];
	bool special = !S_ISREG(st->st_mode);
	if (special ? !table_find(fs,
				  lfs_compose_ino(fs, fs->upper, st->st_ino),
				  key)
		    : !mark_regular_link(pfd, name, n, key))
		return;
	struct stat entry;
	/* Only an entry that is this very inode: a stale mark (the entry
	 * removed by hand) leaves the node without a way to it. */
	if (fstatat(fs->index_fd, key, &entry, AT_SYMLINK_NOFOLLOW) < 0 ||
	    entry.st_ino != st->st_ino || entry.st_dev != st->st_dev)
		return;
	struct node_ext *e = node_ext(n);
	if (!e)
		return;
	snprintf(e->index_key, sizeof(e->index_key), "%s", key);
	if (special) {
		node_set_flag(n, N_HLINK | N_ORIGIN_SET);
		uint64_t origin = key_origin(fs, key);
		if (origin)
			n->ino = origin;
	}
}

/* ---- link counts -------------------------------------------------- */

/* What holds n's count: its upper file, or a special file's count file
 * (O_PATH, for the xattr calls through /proc). */
static int count_holder(struct lfs *fs, struct node *n)
{
	if (S_ISREG(n->mode))
		return node_open(fs, n, fs->upper, O_PATH);
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	if (!e || !e->index_key[0])
		return -ENODATA;
	char name[INDEX_KEY_MAX + sizeof(INDEX_NLINK_SUFFIX)];
	count_name(name, sizeof(name), e->index_key);
	int fd = openat(fs->index_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int index_nlink(struct lfs *fs, struct node *n, uint64_t *nlink)
{
	if (!(node_flags(n) & N_HLINK) || node_layer(n) != fs->upper)
		return -ENOENT;
	int fd = count_holder(fs, n);
	if (fd < 0)
		return fd;
	char path[64], v[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t len = getxattr(path, XATTR_LFS_NLINK, v, sizeof(v) - 1);
	close(fd);
	if (len <= 0)
		return -ENODATA;
	v[len] = 0;
	return lf_parse_u64(v, nlink);
}

int index_nlink_add(struct lfs *fs, struct node *n, int delta)
{
	uint64_t cur;
	int r = index_nlink(fs, n, &cur);
	if (r < 0)
		return r;
	int64_t nv = (int64_t)cur + delta;
	if (nv < 0)
		nv = 0;
	int fd = count_holder(fs, n);
	if (fd < 0)
		return fd;
	char path[64], v[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	snprintf(v, sizeof(v), "%lld", (long long)nv);
	r = setxattr(path, XATTR_LFS_NLINK, v, strlen(v), 0) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* ---- entries no name needs ---------------------------------------- */

void index_release_unused(struct lfs *fs, struct node *n)
{
	struct node_ext *e = __atomic_load_n(&n->ext, __ATOMIC_ACQUIRE);
	uint64_t count;
	if (!fs->index_counts_trusted || !e || !e->index_key[0] ||
	    __atomic_load_n(&e->open_files, __ATOMIC_RELAXED) > 0 ||
	    index_nlink(fs, n, &count) < 0 || count > 0)
		return;
	struct index_state *s = fs->index;
	char key[INDEX_KEY_MAX];
	snprintf(key, sizeof(key), "%s", e->index_key);
	struct stat st;
	bool released = false;
	/* Nothing can give the file a name now (the kernel links no inode
	 * it counts no link of), but a retirement may be at the entry: its
	 * lock, and the entry's upper names counted again under it. */
	pthread_mutex_lock(&s->lock);
	if (fstatat(fs->index_fd, key, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_nlink == 1 && !S_ISDIR(st.st_mode) &&
	    unlinkat(fs->index_fd, key, 0) == 0) {
		released = true;
		if (!S_ISREG(st.st_mode))
			forget_special(fs, s,
				       key, lfs_compose_ino(fs, fs->upper,
							    st.st_ino));
	}
	pthread_mutex_unlock(&s->lock);
	if (released)
		lfs_stat_add(&fs->stats.index_released, 1);
}
