#include "run_opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "lf_common.h"
#include "mount_spec.h"
#include "state.h"
#include "strfmt.h"
#include "tmpfs.h"
#include "ulimit.h"

enum {
	OPT_HOSTNAME = 256,
	OPT_NAME,
	OPT_RM,
	OPT_LOWER,
	OPT_UPPER,
	OPT_NET,
	OPT_PID,
	OPT_IPC,
	OPT_UTS,
	OPT_USERNS,
	OPT_DNS,
	OPT_ADD_HOST,
	OPT_CAP_ADD,
	OPT_CAP_DROP,
	OPT_CPUS,
	OPT_PIDS,
	OPT_CPUSET,
	OPT_NO_PIVOT,
	OPT_NEW_PRIVS,
	OPT_SECURITY_OPT,
	OPT_TMPFS,
	OPT_READ_ONLY,
	OPT_READ_ONLY_TMPFS,
	OPT_ENTRYPOINT,
	OPT_ENV_FILE,
	OPT_MOUNT,
	OPT_SHM_SIZE,
	OPT_ULIMIT,
};

static const struct option long_opts[] = {
	{ "env", required_argument, NULL, 'e' },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "detach", no_argument, NULL, 'd' },
	{ "interactive", no_argument, NULL, 'i' },
	{ "tty", no_argument, NULL, 't' },
	{ "volume", required_argument, NULL, 'v' },
	{ "memory", required_argument, NULL, 'm' },
	{ "help", no_argument, NULL, 'h' },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "rm", no_argument, NULL, OPT_RM },
	{ "lower", required_argument, NULL, OPT_LOWER },
	{ "upper", required_argument, NULL, OPT_UPPER },
	{ "net", required_argument, NULL, OPT_NET },
	{ "network", required_argument, NULL, OPT_NET },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "ipc", required_argument, NULL, OPT_IPC },
	{ "uts", required_argument, NULL, OPT_UTS },
	{ "userns", required_argument, NULL, OPT_USERNS },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "add-host", required_argument, NULL, OPT_ADD_HOST },
	{ "cap-add", required_argument, NULL, OPT_CAP_ADD },
	{ "cap-drop", required_argument, NULL, OPT_CAP_DROP },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "pids-limit", required_argument, NULL, OPT_PIDS },
	{ "cpuset-cpus", required_argument, NULL, OPT_CPUSET },
	{ "no-pivot", no_argument, NULL, OPT_NO_PIVOT },
	{ "allow-new-privs", no_argument, NULL, OPT_NEW_PRIVS },
	{ "security-opt", required_argument, NULL, OPT_SECURITY_OPT },
	{ "tmpfs", required_argument, NULL, OPT_TMPFS },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	/* Bare or =true/=false, as podman's boolean flags. */
	{ "read-only-tmpfs", optional_argument, NULL, OPT_READ_ONLY_TMPFS },
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
	{ "env-file", required_argument, NULL, OPT_ENV_FILE },
	{ "mount", required_argument, NULL, OPT_MOUNT },
	{ "shm-size", required_argument, NULL, OPT_SHM_SIZE },
	{ "ulimit", required_argument, NULL, OPT_ULIMIT },
	{ 0 },
};

/*
 * podman's and Docker's --security-opt spellings that mean something
 * here.  layerrun loads no security module profile, so turning labels
 * or AppArmor off is what it does already.
 */
static int parse_security_opt(const char *v, struct run_opts *o, char *err,
			      size_t errlen)
{
	if (strcmp(v, "seccomp=unconfined") == 0) {
		o->seccomp_unconfined = true;
		free(o->seccomp_profile);
		o->seccomp_profile = NULL;
	} else if (strncmp(v, "seccomp=", 8) == 0 && v[8]) {
		o->seccomp_unconfined = false;
		free(o->seccomp_profile);
		if (!(o->seccomp_profile = strdup(v + 8)))
			return -ENOMEM;
	} else if (strcmp(v, "no-new-privileges") == 0 ||
		   strcmp(v, "no-new-privileges=true") == 0) {
		o->allow_new_privs = false;
	} else if (strcmp(v, "no-new-privileges=false") == 0) {
		o->allow_new_privs = true;
	} else if (strcmp(v, "label=disable") != 0 &&
		   strcmp(v, "apparmor=unconfined") != 0) {
		lr_fmt(err, errlen,
		       "--security-opt %s: unknown (seccomp=unconfined, "
		       "seccomp=PROFILE, no-new-privileges[=true|false], "
		       "label=disable, apparmor=unconfined)",
		       v);
		return -EINVAL;
	}
	return 0;
}

int volumes_push(struct run_opts *o, struct volume *v)
{
	struct volume *nv = realloc(o->vols, (o->nvols + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	o->vols = nv;
	nv[o->nvols++] = *v;
	return 0;
}

static int push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

int ctr_path_normalize(const char *in, char *out, size_t size)
{
	if (in[0] != '/')
		return -EINVAL;
	size_t o = 0;
	const char *p = in;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EXDEV;
		if (!(n == 1 && p[0] == '.')) {
			if (o + n + 2 > size)
				return -ENAMETOOLONG;
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	if (o == 0) {
		if (size < 2)
			return -ENAMETOOLONG;
		out[o++] = '/';
	}
	out[o] = 0;
	return 0;
}

int volume_parse(const char *spec, struct volume *v, char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	char *copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	char *host = copy, *ctr = strchr(copy, ':'), *mode = NULL;
	if (!ctr || !ctr[1]) {
		lr_fmt(err, errlen, "volume '%s': expected HOST:CONTAINER[:ro]",
			 spec);
		free(copy);
		return -EINVAL;
	}
	*ctr++ = 0;
	if ((mode = strchr(ctr, ':')))
		*mode++ = 0;
	if (mode && strcmp(mode, "ro") && strcmp(mode, "rw")) {
		lr_fmt(err, errlen, "volume '%s': unknown mode '%s' (ro or rw)",
			 spec, mode);
		free(copy);
		return -EINVAL;
	}
	char what[PATH_MAX + 16];
	lr_fmt(what, sizeof(what), "volume '%s'", spec);
	int r = volume_bind(what, host, ctr, mode && strcmp(mode, "ro") == 0, v,
			    err, errlen);
	free(copy);
	return r;
}

int volume_bind(const char *what, const char *host, const char *ctr,
		bool ro, struct volume *v, char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	int r = mount_target_parse(what, ctr, &v->ctr, err, errlen);
	if (r < 0)
		return r;
	char *real = realpath(host, NULL);
	if (!real) {
		lr_fmt(err, errlen, "%s: cannot use '%s': %s", what, host,
		       strerror(errno));
		volume_free(v);
		return -ENOENT;
	}
	v->kind = VOL_BIND;
	v->host = real;
	v->ro = ro;
	return 0;
}

int mount_target_parse(const char *what, const char *ctr, char **out,
		       char *err, size_t errlen)
{
	char norm[PATH_MAX];
	int r = ctr_path_normalize(ctr, norm, sizeof(norm));
	if (r == -EXDEV || r == -EINVAL || (r == 0 && strcmp(norm, "/") == 0)) {
		lr_fmt(err, errlen,
			 "%s: the container path must be absolute, "
			 "without '..', and not '/'",
			 what);
		return -EINVAL;
	}
	if (r == 0 && (strcmp(norm, "/proc") == 0 ||
		       strncmp(norm, "/proc/", 6) == 0)) {
		lr_fmt(err, errlen, "%s: nothing may be mounted over /proc",
		       what);
		return -EINVAL;
	}
	if (r < 0) {
		lr_fmt(err, errlen, "%s: %s", what, strerror(-r));
		return r;
	}
	*out = strdup(norm);
	return *out ? 0 : -ENOMEM;
}

void volume_free(struct volume *v)
{
	free(v->host);
	free(v->ctr);
	free(v->tmpfs_opts);
	memset(v, 0, sizeof(*v));
}

static int parse_ns(const char *what, const char *val, bool none_ok,
		    bool container_ok, struct ns_choice *ns, char *err,
		    size_t errlen)
{
	free(ns->container);
	ns->container = NULL;
	if (strcmp(val, "host") == 0) {
		ns->share = NS_HOST;
	} else if (strcmp(val, "private") == 0 ||
		   (none_ok && strcmp(val, "none") == 0)) {
		ns->share = NS_PRIVATE;
	} else if (container_ok && strncmp(val, "container:", 10) == 0 &&
		   state_name_valid(val + 10)) {
		ns->share = NS_CONTAINER;
		ns->container = strdup(val + 10);
	} else {
		lr_fmt(err, errlen, "--%s: unknown value '%s' (%s)", what, val,
			 none_ok ? "none, host or container:NAME"
			 : container_ok ? "private, host or container:NAME"
					: "private or host");
		return -EINVAL;
	}
	return 0;
}

static int parse_add_host(const char *s, struct run_opts *o, char *err,
			  size_t errlen)
{
	const char *colon = strchr(s, ':');
	unsigned char addr[16];
	if (!colon || colon == s ||
	    (inet_pton(AF_INET, colon + 1, addr) != 1 &&
	     inet_pton(AF_INET6, colon + 1, addr) != 1) ||
	    strpbrk(s, " \t\n")) {
		lr_fmt(err, errlen, "--add-host '%s': expected NAME:ADDRESS",
			 s);
		return -EINVAL;
	}
	struct add_host *nh = realloc(o->hosts, (o->nhosts + 1) * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	o->hosts = nh;
	nh[o->nhosts].name = strndup(s, (size_t)(colon - s));
	nh[o->nhosts].addr = strdup(colon + 1);
	o->nhosts++;
	return 0;
}

static int parse_limit(int opt, const char *val, struct run_opts *o,
		       char *err, size_t errlen)
{
	int r;
	switch (opt) {
	case 'm':
		r = cg_parse_size(val, &o->limits.memory);
		if (r == 0 && o->limits.memory < (6u << 20))
			r = -ERANGE;
		if (r < 0)
			lr_fmt(err, errlen,
				 "--memory '%s': expected a size of at least 6m "
				 "(k, m, g suffixes)",
				 val);
		return r;
	case OPT_CPUS:
		r = cg_parse_cpus(val, &o->limits.cpu_quota,
				  &o->limits.cpu_period);
		if (r < 0)
			lr_fmt(err, errlen,
				 "--cpus '%s': expected a number of CPUs such as "
				 "0.5 or 2 (at least 0.01)",
				 val);
		return r;
	case OPT_PIDS: {
		char *end;
		errno = 0;
		long long v = strtoll(val, &end, 10);
		if (errno || *end || !*val || v < -1 || v == 0) {
			lr_fmt(err, errlen,
				 "--pids-limit '%s': expected a positive number "
				 "or -1 (no limit)",
				 val);
			return -EINVAL;
		}
		o->limits.pids = v;
		return 0;
	}
	case OPT_CPUSET:
		if (!cg_cpuset_valid(val)) {
			lr_fmt(err, errlen,
				 "--cpuset-cpus '%s': expected a list such as "
				 "0-2,4",
				 val);
			return -EINVAL;
		}
		free(o->limits.cpuset_cpus);
		o->limits.cpuset_cpus = strdup(val);
		return 0;
	}
	return -EINVAL;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int set_str(char **dst, const char *val)
{
	free(*dst);
	*dst = strdup(val);
	return *dst ? 0 : -ENOMEM;
}

int run_opts_parse(int argc, char **argv, struct run_opts *o, char *err,
		   size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->userns = USERNS_AUTO;
	o->read_only_tmpfs = true;
	optind = 0;
	opterr = 0;
	int c, r = 0;
	while (r == 0 &&
	       (c = getopt_long(argc, argv, "+:e:w:u:ditv:m:h", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 'e':
			r = push(&o->env, &o->nenv, optarg);
			break;
		case 'w':
			if (optarg[0] != '/') {
				lr_fmt(err, errlen,
					 "-w '%s': the working directory must be "
					 "an absolute path",
					 optarg);
				r = -EINVAL;
			} else {
				r = set_str(&o->workdir, optarg);
			}
			break;
		case 'u':
			r = set_str(&o->user, optarg);
			break;
		case 'd':
			o->detach = true;
			break;
		case 'i':
			o->interactive = true;
			break;
		case 't':
			o->tty = true;
			break;
		case 'h':
			o->help = true;
			return 0;
		case 'v':
		case OPT_TMPFS:
		case OPT_MOUNT: {
			struct volume v;
			r = c == 'v'	       ? volume_parse(optarg, &v, err, errlen)
			    : c == OPT_TMPFS ? tmpfs_parse(optarg, &v, err, errlen)
					     : mount_spec_parse(optarg, &v, err,
								errlen);
			if (r == 0 && (r = volumes_push(o, &v)) < 0)
				volume_free(&v);
			break;
		}
		case 'm':
		case OPT_CPUS:
		case OPT_PIDS:
		case OPT_CPUSET:
			r = parse_limit(c, optarg, o, err, errlen);
			break;
		case OPT_HOSTNAME:
			if (!*optarg || strlen(optarg) > 64 ||
			    strpbrk(optarg, " \t\n/")) {
				lr_fmt(err, errlen,
					 "--hostname '%s': 1 to 64 characters, "
					 "no spaces or '/'",
					 optarg);
				r = -EINVAL;
			} else {
				r = set_str(&o->hostname, optarg);
			}
			break;
		case OPT_NAME:
			if (!state_name_valid(optarg)) {
				lr_fmt(err, errlen,
					 "--name '%s': 1 to 64 letters, digits, "
					 "'_', '.' or '-', starting with a letter "
					 "or digit",
					 optarg);
				r = -EINVAL;
			} else if (state_name_is_kept(optarg)) {
				lr_fmt(err, errlen,
					 "--name '%s': names ending in '.kept' "
					 "are those of kept upper layers (rm "
					 "--keep)",
					 optarg);
				r = -EINVAL;
			} else {
				r = set_str(&o->name, optarg);
			}
			break;
		case OPT_RM:
			o->rm = true;
			break;
		case OPT_LOWER: {
			/* A second --lower replaces the first. */
			free_strv(o->lower, o->nlower);
			o->lower = NULL;
			o->nlower = 0;
			char *copy = strdup(optarg);
			if (!copy) {
				r = -ENOMEM;
				break;
			}
			char *save;
			for (char *t = strtok_r(copy, ":", &save); t && r == 0;
			     t = strtok_r(NULL, ":", &save))
				r = push(&o->lower, &o->nlower, t);
			free(copy);
			if (r == 0 && o->nlower == 0) {
				lr_fmt(err, errlen, "--lower: no layer given");
				r = -EINVAL;
			}
			break;
		}
		case OPT_UPPER:
			r = set_str(&o->upper, optarg);
			break;
		case OPT_NET:
			r = parse_ns("net", optarg, true, true, &o->net, err,
				     errlen);
			break;
		case OPT_PID:
			r = parse_ns("pid", optarg, false, false, &o->pid, err,
				     errlen);
			break;
		case OPT_IPC:
			r = parse_ns("ipc", optarg, false, true, &o->ipc, err,
				     errlen);
			break;
		case OPT_UTS:
			r = parse_ns("uts", optarg, false, true, &o->uts, err,
				     errlen);
			break;
		case OPT_USERNS:
			if (userns_parse_mode(optarg, &o->userns) < 0) {
				lr_fmt(err, errlen,
					 "--userns: unknown mode '%s' (auto, "
					 "single, subid or shared)",
					 optarg);
				r = -EINVAL;
			}
			break;
		case OPT_DNS: {
			unsigned char a[16];
			if (inet_pton(AF_INET, optarg, a) != 1 &&
			    inet_pton(AF_INET6, optarg, a) != 1) {
				lr_fmt(err, errlen,
					 "--dns '%s': not an IP address", optarg);
				r = -EINVAL;
			} else {
				r = push(&o->dns, &o->ndns, optarg);
			}
			break;
		}
		case OPT_ADD_HOST:
			r = parse_add_host(optarg, o, err, errlen);
			break;
		case OPT_CAP_ADD:
			r = push(&o->cap_add, &o->ncap_add, optarg);
			break;
		case OPT_CAP_DROP:
			r = push(&o->cap_drop, &o->ncap_drop, optarg);
			break;
		case OPT_NO_PIVOT:
			o->no_pivot = true;
			break;
		case OPT_NEW_PRIVS:
			o->allow_new_privs = true;
			break;
		case OPT_SECURITY_OPT:
			r = parse_security_opt(optarg, o, err, errlen);
			break;
		case OPT_READ_ONLY:
			o->read_only = true;
			break;
		case OPT_READ_ONLY_TMPFS:
			if (!optarg || strcmp(optarg, "true") == 0) {
				o->read_only_tmpfs = true;
			} else if (strcmp(optarg, "false") == 0) {
				o->read_only_tmpfs = false;
			} else {
				lr_fmt(err, errlen,
				       "--read-only-tmpfs: true or false, not '%s'",
				       optarg);
				r = -EINVAL;
			}
			break;
		case OPT_ENTRYPOINT:
			r = set_str(&o->entrypoint, optarg);
			break;
		case OPT_SHM_SIZE:
			if (cg_parse_size(optarg, &o->shm_size) < 0 ||
			    o->shm_size == 0) {
				lr_fmt(err, errlen,
				       "--shm-size '%s': expected a size (k, m, "
				       "g suffixes)",
				       optarg);
				r = -EINVAL;
			}
			break;
		case OPT_ULIMIT:
			r = ulimit_parse(optarg, NULL, err, errlen);
			if (r == 0)
				r = push(&o->ulimits, &o->nulimits, optarg);
			break;
		case OPT_ENV_FILE:
			r = env_file_read(optarg, &o->env_file, &o->nenv_file,
					  err, errlen);
			break;
		case ':':
			lr_fmt(err, errlen, "option '%s' needs a value",
				 argv[optind - 1]);
			r = -EINVAL;
			break;
		default:
			lr_fmt(err, errlen, "unknown option '%s'",
				 argv[optind - 1]);
			r = -EINVAL;
			break;
		}
	}
	if (r == -ENOMEM)
		lr_fmt(err, errlen, "out of memory");
	if (r < 0)
		return r;
	int i = optind;
	if (!o->lower) {
		if (i >= argc) {
			lr_fmt(err, errlen,
				 "no image given (IMAGE_DIR, or --lower "
				 "LAYER[:LAYER...])");
			return -EINVAL;
		}
		if ((r = set_str(&o->image, argv[i++])) < 0)
			return r;
	}
	for (; i < argc; i++)
		if ((r = push(&o->argv, &o->argc, argv[i])) < 0)
			return r;
	if (o->detach && (o->interactive || o->tty)) {
		lr_fmt(err, errlen,
			 "-d cannot be combined with -i or -t: a detached "
			 "container's output goes to its log (layerrun logs)");
		return -EINVAL;
	}
	if (o->read_only && o->read_only_tmpfs &&
	    (r = tmpfs_add_read_only_defaults(o)) < 0) {
		lr_fmt(err, errlen, "out of memory");
		return r;
	}
	if (o->hostname && o->uts.share != NS_PRIVATE) {
		lr_fmt(err, errlen,
			 "--hostname needs a private UTS namespace (not --uts "
			 "host or container:)");
		return -EINVAL;
	}
	return 0;
}

void run_opts_free(struct run_opts *o)
{
	free(o->image);
	free_strv(o->lower, o->nlower);
	free(o->upper);
	free_strv(o->env, o->nenv);
	free_strv(o->env_file, o->nenv_file);
	free_strv(o->ulimits, o->nulimits);
	free(o->workdir);
	free(o->user);
	free(o->hostname);
	free(o->name);
	free(o->entrypoint);
	free(o->seccomp_profile);
	free(o->net.container);
	free(o->pid.container);
	free(o->ipc.container);
	free(o->uts.container);
	for (size_t i = 0; i < o->nvols; i++)
		volume_free(&o->vols[i]);
	free(o->vols);
	free_strv(o->dns, o->ndns);
	for (size_t i = 0; i < o->nhosts; i++) {
		free(o->hosts[i].name);
		free(o->hosts[i].addr);
	}
	free(o->hosts);
	free_strv(o->cap_add, o->ncap_add);
	free_strv(o->cap_drop, o->ncap_drop);
	free(o->limits.cpuset_cpus);
	free_strv(o->argv, o->argc);
	memset(o, 0, sizeof(*o));
}
