#include "initlayer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lf_common.h"
#include "safe_path.h"
#include "strfmt.h"
#include "whiteout.h"

#define OVERRIDE_XATTR "user.containers.override_stat"

struct text {
	char *p;
	size_t len;
};

static void add(struct text *t, const char *s)
{
	size_t n = strlen(s);
	char *np = realloc(t->p, t->len + n + 1);
	if (!np)
		return;
	memcpy(np + t->len, s, n + 1);
	t->p = np;
	t->len += n;
}

char *initlayer_resolv_conf(const char *host, char *const *dns, size_t ndns)
{
	struct text t = { calloc(1, 1), 0 };
	if (!t.p)
		return NULL;
	for (size_t i = 0; i < ndns; i++) {
		add(&t, "nameserver ");
		add(&t, dns[i]);
		add(&t, "\n");
	}
	const char *p = host ? host : "";
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
		bool ns = strncmp(p, "nameserver", 10) == 0 &&
			  (p[10] == ' ' || p[10] == '\t');
		if (!(ns && ndns)) {
			char *line = strndup(p, n);
			if (line)
				add(&t, line);
			free(line);
			if (!nl)
				add(&t, "\n");
		}
		p += n;
	}
	return t.p;
}

/* One of the host's own files (trusted paths; /etc/resolv.conf is often
 * a symlink), at most 1 MiB. */
static char *read_host(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0 || len >= (1u << 20))
			break;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = 0;
	return buf;
}

static int write_file(int dirfd, const char *name, const char *content)
{
	return lf_replace_runtime_file_at(dirfd, name, content, strlen(content),
				       0644);
}

/* Gives DIRFD/NAME the owner, mode and override_stat record of the first
 * layer, top down, that has NAME as a directory. */
static void copy_dir_attrs(int dirfd, const char *name,
			   const struct initlayer_spec *s)
{
	for (size_t i = 0; i < s->nlowers; i++) {
		int lfd = open(s->lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (lfd < 0)
			continue;
		int src = sp_open_beneath(lfd, name, O_RDONLY | O_DIRECTORY, 0);
		close(lfd);
		if (src < 0)
			continue;
		struct stat st;
		int dst = openat(dirfd, name, O_RDONLY | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC);
		if (dst >= 0 && fstat(src, &st) == 0) {
			/* Not being allowed to chown (rootless) is fine:
			 * the owner then shows as the container's root. */
			if (fchown(dst, st.st_uid, st.st_gid) < 0 &&
			    errno != EPERM && errno != EINVAL)
				lf_warn("init layer: cannot chown /%s: %s", name,
					strerror(errno));
			fchmod(dst, st.st_mode & 07777);
			char rec[64];
			ssize_t n = fgetxattr(src, OVERRIDE_XATTR, rec,
					      sizeof(rec));
			if (n > 0)
				fsetxattr(dst, OVERRIDE_XATTR, rec, (size_t)n, 0);
		}
		if (dst >= 0)
			close(dst);
		close(src);
		return;
	}
}

/*
 * Marks in HAS which of the root directories NAMES the image shows: for
 * each name the first layer, top down, that says anything of it decides
 * (a directory: shown; anything else, or a whiteout of either format:
 * not), and an opaque root ends the search.
 */
static void image_root_dirs(const struct initlayer_spec *s,
			    const char *const *names, size_t n, bool *has)
{
	bool decided[8] = { false };
	if (n > LF_ARRAY_SIZE(decided))
		return;
	size_t open_names = n;
	for (size_t i = 0; i < s->nlowers && open_names; i++) {
		int lfd LF_AUTOCLOSE = open(s->lowers[i], O_RDONLY |
					    O_DIRECTORY | O_CLOEXEC);
		if (lfd < 0)
			return; /* unreadable: keep the mount points */
		for (size_t k = 0; k < n; k++) {
			if (decided[k])
				continue;
			struct stat st;
			char wh[64];
			bool known = fstatat(lfd, names[k], &st,
					     AT_SYMLINK_NOFOLLOW) == 0;
			if (known)
				has[k] = S_ISDIR(st.st_mode);
			else if (wh_dotwh_name(wh, sizeof(wh), names[k]) == 0 &&
				 faccessat(lfd, wh, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				known = true;
			if (known) {
				decided[k] = true;
				open_names--;
			}
		}
		if (faccessat(lfd, WH_OPAQUE_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
		    wh_fd_has_opaque_xattr(lfd) == 1)
			return;
	}
}

int initlayer_write(const char *dir, const struct initlayer_spec *s,
		    char *err, size_t errlen)
{
	int dfd LF_AUTOCLOSE =
		open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		lr_fmt(err, errlen, "cannot open the init layer '%s': %s", dir,
			 strerror(errno));
		return -errno;
	}
	/* The mount points only where the image lacks them: each directory
	 * is made and removed again with every container. */
	static const char *const dirs[] = { "etc", "proc", "sys", "dev" };
	bool has[LF_ARRAY_SIZE(dirs)] = { false };
	image_root_dirs(s, dirs + 1, LF_ARRAY_SIZE(dirs) - 1, has + 1);
	for (size_t i = 0; i < LF_ARRAY_SIZE(dirs); i++) {
		if (has[i])
			continue;
		if (mkdirat(dfd, dirs[i], 0755) < 0 && errno != EEXIST) {
			lr_fmt(err, errlen, "cannot write the init layer: %s",
				 strerror(errno));
			return -errno;
		}
		copy_dir_attrs(dfd, dirs[i], s);
	}
	int etc LF_AUTOCLOSE = openat(dfd, "etc", O_RDONLY | O_DIRECTORY |
							  O_NOFOLLOW | O_CLOEXEC);
	if (etc < 0)
		return -errno;

	struct text hosts = { calloc(1, 1), 0 };
	char *hostfile = s->host_net ? read_host("/etc/hosts") : NULL;
	if (hostfile) {
		add(&hosts, hostfile);
		if (hosts.len && hosts.p[hosts.len - 1] != '\n')
			add(&hosts, "\n");
	} else {
		add(&hosts, "127.0.0.1\tlocalhost\n"
			    "::1\tlocalhost ip6-localhost ip6-loopback\n");
		if (s->hostname) {
			add(&hosts, "127.0.1.1\t");
			add(&hosts, s->hostname);
			add(&hosts, "\n");
		}
	}
	free(hostfile);
	for (size_t i = 0; i < s->nhosts; i++) {
		add(&hosts, s->hosts[i].addr);
		add(&hosts, "\t");
		add(&hosts, s->hosts[i].name);
		add(&hosts, "\n");
	}
	char *resolv_host = read_host("/etc/resolv.conf");
	char *resolv = initlayer_resolv_conf(resolv_host, s->dns, s->ndns);
	free(resolv_host);
	char hostname[128];
	if (s->hostname) {
		lr_fmt(hostname, sizeof(hostname), "%s\n", s->hostname);
	} else {
		if (gethostname(hostname, sizeof(hostname) - 2) < 0)
			lr_fmt(hostname, sizeof(hostname), "localhost");
		hostname[sizeof(hostname) - 2] = 0;
		strcat(hostname, "\n");
	}
	int r = -ENOMEM;
	if (hosts.p && resolv) {
		r = write_file(etc, "hosts", hosts.p);
		if (r == 0)
			r = write_file(etc, "resolv.conf", resolv);
		if (r == 0)
			r = write_file(etc, "hostname", hostname);
	}
	free(hosts.p);
	free(resolv);
	if (r < 0)
		lr_fmt(err, errlen, "cannot write the init layer: %s",
			 strerror(-r));
	return r;
}
