#include "run_prepare.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "daemon.h"
#include "fuse_check.h"
#include "initlayer.h"
#include "lookup.h"
#include "lf_common.h"
#include "rmtree.h"
#include "runtime_dir.h"
#include "state.h"
#include "strfmt.h"
#include "userns_keeper.h"

static char *path_join(const char *a, const char *b)
{
	char *s;
	return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

static int resolve_layers(struct container *c, const struct run_opts *o)
{
	char err[1024];
	if (o->image) {
		int r = image_load(o->image, &c->img, err, sizeof(err));
		if (r < 0) {
			lf_err("%s", err);
			return r;
		}
		c->have_image = true;
		c->layers = c->img.layers;
		c->nlayers = c->img.nlayers;
		c->override_ownership = c->img.override_ownership;
		return 0;
	}
	c->layers = calloc(o->nlower + 1, sizeof(char *));
	if (!c->layers)
		return -ENOMEM;
	for (size_t i = 0; i < o->nlower; i++) {
		char *real = realpath(o->lower[i], NULL);
		struct stat st;
		if (!real || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
			lf_err("cannot use layer '%s': %s", o->lower[i],
			       real ? "not a directory" : strerror(errno));
			free(real);
			return -ENOENT;
		}
		c->layers[c->nlayers++] = real;
	}
	return 0;
}

static int strv_append(char ***v, size_t *n, char *const *add)
{
	for (size_t i = 0; add && add[i]; i++) {
		char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		if (!(nv[*n] = strdup(add[i])))
			return -ENOMEM;
		nv[++*n] = NULL;
	}
	return 0;
}

/* As Docker: ENTRYPOINT + (CMD ARGS or the image's Cmd); --entrypoint
 * replaces the image's entrypoint and drops its Cmd.  --entrypoint ""
 * is how podman and Docker reset it: no entrypoint at all (the image's
 * Cmd dropped all the same), never a program named "". */
static int resolve_command(struct container *c, const struct run_opts *o)
{
	size_t n = 0;
	const struct image_config *cfg = c->have_image ? &c->img.config : NULL;
	int r = 0;
	if (o->entrypoint) {
		char *ep[] = { o->entrypoint, NULL };
		if (*o->entrypoint)
			r = strv_append(&c->argv, &n, ep);
	} else if (cfg) {
		r = strv_append(&c->argv, &n, cfg->entrypoint);
	}
	if (r == 0 && o->argc)
		r = strv_append(&c->argv, &n, o->argv);
	else if (r == 0 && cfg && !o->entrypoint)
		r = strv_append(&c->argv, &n, cfg->cmd);
	if (r < 0)
		return r;
	if (n == 0) {
		lf_err("no command given, and %s",
		       o->entrypoint ? "--entrypoint \"\" leaves none"
		       : cfg	     ? "the image has neither Entrypoint nor Cmd"
				     : "--lower layers have no configuration");
		return -EINVAL;
	}
	return 0;
}

static int resolve_config(struct container *c, const struct run_opts *o)
{
	const struct image_config *cfg = c->have_image ? &c->img.config : NULL;
	int r = 0;
	for (size_t i = 0; cfg && cfg->env && cfg->env[i] && r == 0; i++)
		if (strchr(cfg->env[i], '='))
			r = env_set(&c->env, cfg->env[i]);
	for (size_t i = 0; i < o->nenv_file && r == 0; i++)
		r = env_set(&c->env, o->env_file[i]);
	for (size_t i = 0; i < o->nenv && r == 0; i++) {
		r = env_set(&c->env, o->env[i]);
		if (r == -EINVAL) {
			lf_err("-e '%s': expected KEY=VALUE or KEY", o->env[i]);
			return r;
		}
	}
	if (r < 0)
		return r;
	const char *user = o->user ? o->user : cfg ? cfg->user : NULL;
	const char *cwd = o->workdir ? o->workdir
				     : cfg ? cfg->working_dir : NULL;
	if ((user && *user && !(c->user = strdup(user))) ||
	    (cwd && *cwd && !(c->cwd = strdup(cwd))))
		return -ENOMEM;
	if (o->uts.share == NS_PRIVATE &&
	    !(c->hostname = strdup(o->hostname ? o->hostname : c->name)))
		return -ENOMEM;
	char err[256];
	if ((r = caps_resolve(o->cap_add, o->ncap_add, o->cap_drop,
			      o->ncap_drop, &c->caps, err, sizeof(err))) < 0) {
		lf_err("%s", err);
		return r;
	}
	c->no_new_privs = !o->allow_new_privs;
	c->seccomp = !o->seccomp_unconfined;
	return 0;
}

/* Opens the namespaces of the containers named by container:NAME. */
static int open_joins(struct container *c, const struct run_opts *o)
{
	const struct ns_choice *ns[] = { &o->net, &o->ipc, &o->uts };
	const char *kind[] = { "net", "ipc", "uts" };
	int *fds[] = { &c->join_net, &c->join_ipc, &c->join_uts };
	for (size_t i = 0; i < 3; i++) {
		if (ns[i]->share != NS_CONTAINER)
			continue;
		int dfd = state_dir_open(c->rootfd, ns[i]->container);
		struct lr_state st;
		char err[512];
		if (dfd < 0 || state_load(dfd, &st, err, sizeof(err)) < 0) {
			lf_err("--%s container:%s: no such container", kind[i],
			       ns[i]->container);
			if (dfd >= 0)
				close(dfd);
			return -ENOENT;
		}
		close(dfd);
		bool alive = strcmp(st.status, "running") == 0 &&
			     proc_is(st.pid, st.pid_start);
		pid_t pid = st.pid;
		if (userns_from_state(&st, &c->joined) < 0)
			memset(&c->joined, 0, sizeof(c->joined));
		lr_state_free(&st);
		if (!alive) {
			lf_err("--%s container:%s: that container is not "
			       "running",
			       kind[i], ns[i]->container);
			return -ESRCH;
		}
		char path[64];
		lr_fmt(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, kind[i]);
		*fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		lr_fmt(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		int ufd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fds[i] < 0 || ufd < 0) {
			lf_err("cannot open the namespaces of container %s: %s",
			       ns[i]->container, strerror(errno));
			if (ufd >= 0)
				close(ufd);
			return -errno;
		}
		/* Namespaces of one user namespace only: ours must be that
		 * one too, or we would hold no rights over them. */
		if (c->join_user >= 0) {
			struct stat a, b;
			fstat(c->join_user, &a);
			fstat(ufd, &b);
			close(ufd);
			if (a.st_ino != b.st_ino) {
				lf_err("the containers joined live in different "
				       "user namespaces");
				return -EINVAL;
			}
		} else {
			c->join_user = ufd;
		}
	}
	return 0;
}

static int resolve_namespaces(struct container *c, const struct run_opts *o)
{
	c->join_user = c->join_net = c->join_ipc = c->join_uts = -1;
	int r = open_joins(c, o);
	if (r < 0)
		return r;
	c->clone_flags = CLONE_NEWNS;
	if (o->pid.share == NS_PRIVATE)
		c->clone_flags |= CLONE_NEWPID;
	if (o->uts.share == NS_PRIVATE)
		c->clone_flags |= CLONE_NEWUTS;
	if (o->ipc.share == NS_PRIVATE)
		c->clone_flags |= CLONE_NEWIPC;
	if (o->net.share == NS_PRIVATE)
		c->clone_flags |= CLONE_NEWNET;
	if (c->join_user >= 0) {
		memset(&c->idmap, 0, sizeof(c->idmap));
		c->idmap.mode = USERNS_JOINED;
		return 0;
	}
	c->clone_flags |= CLONE_NEWUSER;
	char err[1024];
	if ((r = userns_plan(o->userns, &c->idmap, err, sizeof(err))) < 0)
		lf_err("%s", err);
	return r;
}

/* 1 when the directory was made now, 0 when it was there. */
static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0)
		return 1;
	return errno == EEXIST ? 0 : -errno;
}

/* Where layerfs mounts the container's root, in the container's first
 * mount namespace, for the child to take it into its own (ctr_child.c):
 * one directory for every container, since each mounts on it in a
 * namespace of its own.  Not a valid container name. */
#define MOUNT_POINT ".mnt"

/* The state directory and the layers' directories in it. */
/* Recorded as soon as the directory exists: a launcher killed while it
 * prepares (a slow --tmpfs copy, a Ctrl-C) leaves a container that ps
 * lists and rm removes, not a directory that holds its name for ever.
 * The full state follows once the preparation is done. */
static int save_first_state(struct container *c, const struct run_opts *o)
{
	struct lr_state st;
	lr_state_init(&st);
	st.name = strdup(c->name);
	st.status = strdup("created");
	st.owner = geteuid();
	st.created = (long long)time(NULL);
	st.autoremove = o->rm;
	st.monitor_pid = getpid();
	st.monitor_start = proc_start_time(st.monitor_pid);
	int r = st.name && st.status ? 0 : -ENOMEM;
	if (r == 0) {
		state_lock(c->dirfd);
		r = state_save(c->dirfd, &st);
		state_unlock(c->dirfd);
	}
	lr_state_free(&st);
	return r;
}

static int make_dirs(struct container *c, const struct run_opts *o,
		     const char *root_override)
{
	char err[1024];
	int r = runtime_root_open(root_override, &c->root, &c->rootfd, err,
				  sizeof(err));
	if (r < 0) {
		lf_err("%s", err);
		return r;
	}
	for (int tries = 0;; tries++) {
		if (o->name)
			lr_fmt(c->name, sizeof(c->name), "%s", o->name);
		else if (state_name_generate(c->name, sizeof(c->name)) < 0)
			return -EIO;
		c->dirfd = state_dir_create(c->rootfd, c->name);
		if (c->dirfd >= 0)
			break;
		/* The name of an --rm container that ended after its
		 * launcher was killed is free: looking it up removes it. */
		if (c->dirfd == -EEXIST && o->name && tries == 0 &&
		    ctr_gone(c->root, c->rootfd, c->name))
			continue;
		if (c->dirfd != -EEXIST || o->name || tries > 10) {
			if (c->dirfd == -EEXIST)
				lf_err("a container named '%s' exists already "
				       "(layerrun rm %s)",
				       c->name, c->name);
			else
				lf_err("cannot create the container's state in "
				       "'%s': %s",
				       c->root, strerror(-c->dirfd));
			c->name[0] = 0;
			return c->dirfd;
		}
	}
	r = save_first_state(c, o);
	if (r < 0) {
		lf_err("cannot record the container's state in '%s': %s",
		       c->root, strerror(-r));
		return r;
	}
	if (!(c->dir = path_join(c->root, c->name)) ||
	    !(c->initdir = path_join(c->dir, "init")) ||
	    !(c->mnt = path_join(c->root, MOUNT_POINT)) ||
	    !(c->stats = path_join(c->dir, "stats.json")) ||
	    (o->detach && !(c->log = path_join(c->dir, "log"))))
		return -ENOMEM;
	/* Made here: the upper layer's root is new, with nothing of its
	 * own to keep. */
	bool fresh_upper = true;
	if (o->upper) {
		int made = make_dir(o->upper);
		if (made < 0 || !(c->upper = realpath(o->upper, NULL))) {
			lf_err("cannot use --upper '%s': %s", o->upper,
			       strerror(made < 0 ? -made : errno));
			return made < 0 ? made : -errno;
		}
		fresh_upper = made == 1;
		c->upper_made = fresh_upper;
	} else {
		c->upper_owned = true;
		if (!(c->upper = path_join(c->dir, "upper")))
			return -ENOMEM;
	}
	/* layerfs wants workdir on the upper layer's file system: in the
	 * state directory when that is it, else beside --upper. */
	struct stat us, ds;
	if (make_dir(c->upper) < 0 || stat(c->upper, &us) < 0 ||
	    fstat(c->dirfd, &ds) < 0) {
		lf_err("cannot create the upper layer '%s': %s", c->upper,
		       strerror(errno));
		return -errno;
	}
	/* The upper layer's root is the container's "/": give a fresh one
	 * the mode of the image's root, not the 0700 it was made with
	 * (which would lock every other user of the container out).  An
	 * --upper that was there keeps its own, as a container's "/" keeps
	 * what was done to it. */
	struct stat ls;
	if (fresh_upper && c->nlayers && stat(c->layers[0], &ls) == 0 &&
	    chmod(c->upper, ls.st_mode & 07777) < 0) {
		lf_err("cannot set the mode of '%s': %s", c->upper,
		       strerror(errno));
		return -errno;
	}
	if (us.st_dev == ds.st_dev) {
		c->work = path_join(c->dir, "work");
	} else {
		char *slash = strrchr(c->upper, '/');
		if (asprintf(&c->work, "%.*s/.%s.layerrun-work",
			     (int)(slash - c->upper), c->upper, slash + 1) < 0)
			c->work = NULL;
	}
	if (!c->work)
		return -ENOMEM;
	const char *dirs[] = { c->work, c->initdir, c->mnt };
	for (size_t i = 0; i < LF_ARRAY_SIZE(dirs); i++)
		if (make_dir(dirs[i]) < 0) {
			lf_err("cannot create '%s': %s", dirs[i], strerror(errno));
			return -errno;
		}
	if (c->log) {
		c->log_fd = openat(c->dirfd, "log",
				   O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
					   O_CLOEXEC,
				   0600);
		if (c->log_fd < 0) {
			lf_err("cannot create the log '%s': %s", c->log,
			       strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* --security-opt seccomp=PROFILE, for the capabilities the command
 * keeps; kept in the container's directory for exec. */
static int compile_seccomp(struct container *c, const struct run_opts *o)
{
	if (!c->seccomp || !o->seccomp_profile)
		return 0;
	char err[512];
	int r = seccomp_profile_compile(o->seccomp_profile, c->caps,
					&c->seccomp_prog, err, sizeof(err));
	if (r < 0) {
		lf_err("%s", err);
		return r == -ENOMEM ? -EINVAL : r; /* the line is printed */
	}
	r = seccomp_prog_save(c->dirfd, &c->seccomp_prog);
	if (r < 0)
		lf_err("cannot keep the compiled seccomp profile: %s",
		       strerror(-r));
	return r == -ENOMEM ? -EIO : r;
}

static int write_init_layer(struct container *c, const struct run_opts *o)
{
	struct initlayer_spec s = {
		.hostname = c->hostname,
		.host_net = o->net.share == NS_HOST,
		.dns = o->dns,
		.ndns = o->ndns,
		.hosts = o->hosts,
		.nhosts = o->nhosts,
		.lowers = c->layers,
		.nlowers = c->nlayers,
	};
	char err[1024];
	int r = initlayer_write(c->initdir, &s, err, sizeof(err));
	if (r < 0)
		lf_err("%s", err);
	return r;
}

static int make_cgroups(struct container *c, const struct run_opts *o)
{
	/* The leaf is unique per start: two state roots may both have a
	 * container of this name. */
	unsigned char rnd[4] = { 0 };
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	char leaf[LR_NAME_MAX + 16];
	lr_fmt(leaf, sizeof(leaf), "%s.%02x%02x%02x%02x", c->name, rnd[0],
		 rnd[1], rnd[2], rnd[3]);
	char err[1024];
	int r = cgroup_setup(leaf, &o->limits, &c->cg, err, sizeof(err));
	if (r < 0)
		lf_err("%s", err);
	return r;
}

/*
 * A rootless start with a subordinate range joins the user's kept user
 * namespace instead of mapping a new one (userns_keeper.h), the running
 * one or one started now.  After the cgroups: in a delegated scope the
 * launcher has left the scope for its own leaf (cgroup.c, v2_vacate),
 * and a keeper or daemon forked before that would be a process in the
 * scope, where v2 then gives the containers no controller.
 */
static int join_kept_userns(struct container *c)
{
	if (!c->idmap.shared || c->join_user >= 0)
		return 0;
	char err[1024];
	int fd = userns_keeper_join(c->rootfd, &c->idmap, true, err,
				    sizeof(err));
	if (fd < 0) {
		lf_err("%s", err);
		return fd;
	}
	c->join_user = fd;
	c->idmap.kept = true;
	c->clone_flags &= ~CLONE_NEWUSER;
	return 0;
}

int run_prepare(struct container *c, const struct run_opts *o,
		const char *root_override)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->rootfd = c->dirfd = c->log_fd = c->pty_master = -1;
	c->daemon_ready = c->mount_fd = -1;
	c->join_user = c->join_net = c->join_ipc = c->join_uts = -1;
	char err[512];
	int r = fuse_device_check(err, sizeof(err));
	if (r < 0) {
		lf_err("%s", err);
		return r;
	}
	r = resolve_layers(c, o);
	if (r == 0)
		r = resolve_command(c, o);
	if (r == 0)
		r = make_dirs(c, o, root_override);
	if (r == 0)
		r = resolve_config(c, o);
	if (r == 0)
		r = resolve_namespaces(c, o);
	/* Root's layerfs starts as soon as its directories exist: its
	 * start, on another CPU, overlaps the rest of the preparation
	 * and the clone, and the container's child, which waits for its
	 * mount, mostly finds it served. */
	if (r == 0 && daemon_starts_early(c))
		r = daemon_start_early(c);
	if (r == 0)
		r = compile_seccomp(c, o);
	if (r == 0)
		r = write_init_layer(c, o);
	if (r == 0)
		r = make_cgroups(c, o);
	if (r == 0 && c->idmap.shared) {
		/* In the kept namespace, which exists before the clone,
		 * layerfs starts now, as root's above. */
		r = join_kept_userns(c);
		if (r == 0 && c->idmap.kept)
			r = daemon_start_early(c);
		for (size_t i = 0; r < 0 && i < c->cg.n; i++)
			cgroup_remove_dir(c->cg.dirs[i]);
	}
	if (r == -ENOMEM)
		lf_err("out of memory");
	if (r < 0 && c->daemon_pid > 0) {
		daemon_abandon(c);
		while (waitpid(c->daemon_pid, NULL, 0) < 0 && errno == EINTR)
			;
		c->daemon_pid = 0;
	}
	if (r < 0 && c->dirfd >= 0) {
		/* Nothing started: leave nothing behind but a user's --upper. */
		if (c->work && !c->upper_owned && strncmp(c->work, c->dir,
							  strlen(c->dir)) != 0)
			lf_rmtree_at(AT_FDCWD, c->work);
		lf_rmtree_at(c->rootfd, c->name);
		if (c->upper_made)
			rmdir(c->upper); /* only if nothing went in */
	}
	return r;
}

void container_free(struct container *c)
{
	seccomp_prog_free(&c->seccomp_prog);
	if (c->have_image)
		image_free(&c->img);
	else if (c->layers) {
		for (size_t i = 0; i < c->nlayers; i++)
			free(c->layers[i]);
		free(c->layers);
	}
	char *strs[] = { c->root,  c->dir,   c->upper, c->work,
			 c->initdir, c->mnt, c->log,   c->stats,
			 c->user,  c->cwd,   c->hostname };
	for (size_t i = 0; i < LF_ARRAY_SIZE(strs); i++)
		free(strs[i]);
	for (size_t i = 0; c->argv && c->argv[i]; i++)
		free(c->argv[i]);
	free(c->argv);
	env_free(&c->env);
	cgroup_set_free(&c->cg);
	int fds[] = { c->rootfd,     c->dirfd,    c->log_fd,
		      c->pty_master, c->join_user, c->join_net,
		      c->join_ipc,   c->join_uts,  c->daemon_ready,
		      c->mount_fd };
	for (size_t i = 0; i < LF_ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	memset(c, 0, sizeof(*c));
}

int container_to_state(const struct container *c, struct lr_state *st)
{
	lr_state_init(st);
	int r = 0;
#define DUP(field, val)                                                        \
	do {                                                                   \
		const char *v_ = (val);                                        \
		if (v_ && !(st->field = strdup(v_)))                           \
			r = -ENOMEM;                                           \
	} while (0)
	DUP(name, c->name);
	DUP(status, "created");
	DUP(image, c->have_image ? c->img.dir : NULL);
	DUP(upper, c->upper);
	DUP(work, c->work);
	DUP(initdir, c->initdir);
	DUP(rootfs, c->mnt);
	DUP(log, c->log);
	DUP(stats, c->stats);
	/* A joined namespace is recorded as the other container's, so rm
	 * and commit can make one with the same maps. */
	const struct idmap_plan *maps =
		c->idmap.mode == USERNS_JOINED ? &c->joined : &c->idmap;
	DUP(userns, maps->nuid ? userns_mode_name(maps->mode) : "joined");
	DUP(user, c->user);
	DUP(workdir, c->cwd);
	DUP(hostname, c->hostname);
#undef DUP
	st->upper_owned = c->upper_owned;
	/* The launcher until the container runs: while it lives, a ps
	 * meanwhile takes the container for starting, not ended. */
	st->monitor_pid = getpid();
	st->monitor_start = proc_start_time(st->monitor_pid);
	/* Root's layerfs starts while the container is prepared. */
	st->daemon_pid = c->daemon_pid;
	st->daemon_start = c->daemon_start;
	st->owner = geteuid();
	st->created = (long long)time(NULL);
	st->no_new_privs = c->no_new_privs;
	st->seccomp = c->seccomp;
	st->autoremove = c->o->rm;
	for (size_t i = 0; r == 0 && i < c->nlayers; i++)
		r = lr_strv_push(&st->lower, c->layers[i]);
	for (size_t i = 0; r == 0 && i < c->o->nulimits; i++)
		r = lr_strv_push(&st->ulimits, c->o->ulimits[i]);
	for (size_t i = 0; r == 0 && i < c->env.n; i++)
		r = lr_strv_push(&st->env, c->env.v[i]);
	for (size_t i = 0; r == 0 && c->argv[i]; i++)
		r = lr_strv_push(&st->argv, c->argv[i]);
	for (size_t i = 0; r == 0 && i < c->cg.n; i++)
		r = lr_strv_push(&st->cgroups, c->cg.dirs[i]);
	if (r == 0)
		r = caps_to_names(c->caps, &st->caps);
	if (r == 0 && maps->nuid)
		r = userns_to_state(maps, st);
	if (r < 0)
		lr_state_free(st);
	return r;
}
