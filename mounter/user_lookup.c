#include "user_lookup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_common.h"
#include "mount_util.h"
#include "strfmt.h"

/* Splits one colon-separated line into at most MAX fields in place. */
static int split(char *line, char **f, int max)
{
	int n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == ':') {
			*p = 0;
			f[n++] = p + 1;
		}
	return n;
}

static bool parse_id(const char *s, unsigned long *out)
{
	if (!*s)
		return false;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > 0xfffffffeUL || *s == '-' || *s == '+')
		return false;
	*out = v;
	return true;
}

/* Iterates over the lines of TEXT: FN returns true to stop. */
static bool each_line(const char *text, bool (*fn)(char *line, void *arg),
		      void *arg)
{
	const char *p = text;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n < 4096 && n > 0 && p[0] != '#') {
			char line[4096];
			memcpy(line, p, n);
			line[n] = 0;
			if (fn(line, arg))
				return true;
		}
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

struct pw_query {
	const char *name;
	uid_t uid;
	struct passwd_entry *out;
};

static bool pw_match(char *line, void *arg)
{
	struct pw_query *q = arg;
	char *f[7];
	if (split(line, f, 7) < 7)
		return false;
	unsigned long uid, gid;
	if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid))
		return false;
	if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->uid)
		return false;
	lr_fmt(q->out->name, sizeof(q->out->name), "%s", f[0]);
	q->out->uid = (uid_t)uid;
	q->out->gid = (gid_t)gid;
	lr_fmt(q->out->home, sizeof(q->out->home), "%s", f[5]);
	return true;
}

int passwd_find(const char *text, const char *name, uid_t uid,
		struct passwd_entry *out)
{
	struct pw_query q = { name, uid, out };
	return text && each_line(text, pw_match, &q) ? 0 : -ENOENT;
}

struct gr_query {
	const char *name;
	gid_t gid;
	const char *member;
	gid_t *gids;
	size_t n;
	bool oom;
};

static bool gr_match(char *line, void *arg)
{
	struct gr_query *q = arg;
	char *f[4];
	if (split(line, f, 4) < 4)
		return false;
	unsigned long gid;
	if (!parse_id(f[2], &gid))
		return false;
	if (q->name) {
		if (strcmp(f[0], q->name) != 0)
			return false;
		q->gid = (gid_t)gid;
		return true;
	}
	char *save;
	for (char *m = strtok_r(f[3], ",", &save); m;
	     m = strtok_r(NULL, ",", &save)) {
		if (strcmp(m, q->member) != 0)
			continue;
		gid_t *ng = realloc(q->gids, (q->n + 1) * sizeof(*ng));
		if (!ng) {
			q->oom = true;
			return true;
		}
		q->gids = ng;
		q->gids[q->n++] = (gid_t)gid;
		break;
	}
	return false;
}

int group_find_gid(const char *text, const char *name, gid_t *gid)
{
	struct gr_query q = { .name = name };
	if (!text || !each_line(text, gr_match, &q))
		return -ENOENT;
	*gid = q.gid;
	return 0;
}

int group_members_of(const char *text, const char *user, gid_t **gids,
		     size_t *n)
{
	struct gr_query q = { .member = user };
	if (text)
		each_line(text, gr_match, &q);
	if (q.oom) {
		free(q.gids);
		return -ENOMEM;
	}
	*gids = q.gids;
	*n = q.n;
	return 0;
}

static char *read_ctr_file(int rootfd, const char *path)
{
	/* Opened inside the container's root: symlinks in the image resolve
	 * as the container sees them and never reach the host.  Without
	 * blocking, and a regular file only: a fifo the container put there
	 * would hang `layerrun exec` on it. */
	int fd = mu_open_in_root(rootfd, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	struct stat st;
	char *text = NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    lf_read_fd(fd, 8u << 20, &text, NULL) < 0)
		text = NULL;
	close(fd);
	return text;
}

void ctr_user_free(struct ctr_user *u)
{
	free(u->groups);
	free(u->home);
	memset(u, 0, sizeof(*u));
}

int user_resolve(int rootfd, const char *spec, struct ctr_user *u, char *err,
		 size_t errlen)
{
	memset(u, 0, sizeof(*u));
	char *passwd = read_ctr_file(rootfd, "/etc/passwd");
	char *group = read_ctr_file(rootfd, "/etc/group");
	char user[256] = "0", grp[256] = "";
	if (spec && *spec) {
		const char *colon = strchr(spec, ':');
		size_t ul = colon ? (size_t)(colon - spec) : strlen(spec);
		lr_fmt(user, sizeof(user), "%.*s", (int)ul, spec);
		if (colon)
			lr_fmt(grp, sizeof(grp), "%s", colon + 1);
	}
	int r = 0;
	unsigned long id;
	struct passwd_entry pw;
	bool have_pw;
	if (parse_id(user, &id)) {
		u->uid = (uid_t)id;
		have_pw = passwd_find(passwd, NULL, u->uid, &pw) == 0;
		u->gid = have_pw ? pw.gid : 0;
	} else {
		have_pw = passwd_find(passwd, user, 0, &pw) == 0;
		if (!have_pw) {
			lr_fmt(err, errlen,
				 "user '%s' is not in the container's /etc/passwd",
				 user);
			r = -ENOENT;
			goto out;
		}
		u->uid = pw.uid;
		u->gid = pw.gid;
	}
	if (grp[0]) {
		gid_t g;
		if (parse_id(grp, &id)) {
			u->gid = (gid_t)id;
		} else if (group_find_gid(group, grp, &g) == 0) {
			u->gid = g;
		} else {
			lr_fmt(err, errlen,
				 "group '%s' is not in the container's /etc/group",
				 grp);
			r = -ENOENT;
			goto out;
		}
	}
	u->home = strdup(have_pw && pw.home[0] ? pw.home : "/");
	if (have_pw && !grp[0])
		r = group_members_of(group, pw.name, &u->groups, &u->ngroups);
	if (!u->home)
		r = -ENOMEM;
	if (r == -ENOMEM)
		lr_fmt(err, errlen, "out of memory");
out:
	free(passwd);
	free(group);
	if (r < 0)
		ctr_user_free(u);
	return r;
}
