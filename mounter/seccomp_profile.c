#include "seccomp_profile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "caps.h"
#include "json_util.h"
#include "lf_common.h"
#include "strfmt.h"

/* "SCMP_ACT_ERRNO" and errnoRet into a libseccomp action; false for an
 * action this launcher cannot carry out (SCMP_ACT_NOTIFY: no agent). */
static bool parse_action(json_object *o, const char *action_key,
			 const char *errno_key, uint32_t *out)
{
	const char *name = jstr(o, action_key);
	int64_t ret;
	if (!jint(o, errno_key, &ret))
		ret = EPERM;
	if (!name)
		return false;
	if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
		*out = SCMP_ACT_ALLOW;
	else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
		*out = SCMP_ACT_ERRNO((uint16_t)ret);
	else if (strcmp(name, "SCMP_ACT_KILL") == 0 ||
		 strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
		*out = SCMP_ACT_KILL;
	else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
		*out = SCMP_ACT_KILL_PROCESS;
	else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
		*out = SCMP_ACT_TRAP;
	else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
		*out = SCMP_ACT_TRACE((uint16_t)ret);
	else if (strcmp(name, "SCMP_ACT_LOG") == 0)
		*out = SCMP_ACT_LOG;
	else
		return false;
	return true;
}

static bool parse_op(const char *name, enum scmp_compare *out)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
		{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
		{ "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
		{ "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
		{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};
	for (size_t i = 0; name && i < LF_ARRAY_SIZE(ops); i++) {
		if (strcmp(name, ops[i].name) == 0) {
			*out = ops[i].op;
			return true;
		}
	}
	return false;
}

/* This machine's architecture as the profiles' includes name it (Go's
 * names). */
static const char *native_arch_name(void)
{
	switch (seccomp_arch_native()) {
	case SCMP_ARCH_X86_64: return "amd64";
	case SCMP_ARCH_X86: return "386";
	case SCMP_ARCH_AARCH64: return "arm64";
	case SCMP_ARCH_ARM: return "arm";
	case SCMP_ARCH_PPC64LE: return "ppc64le";
	case SCMP_ARCH_S390X: return "s390x";
	case SCMP_ARCH_RISCV64: return "riscv64";
	default: return "";
	}
}

static bool list_has(json_object *list, const char *s)
{
	size_t n = list ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n; i++) {
		const char *v =
			json_object_get_string(json_object_array_get_idx(list, i));
		if (v && strcmp(v, s) == 0)
			return true;
	}
	return false;
}

/* How many of LIST's capability names CAPS holds; *total gets LIST's
 * length. */
static size_t caps_held(json_object *list, uint64_t caps, size_t *total)
{
	size_t n = list ? json_object_array_length(list) : 0, held = 0;
	for (size_t i = 0; i < n; i++) {
		int cap;
		const char *name =
			json_object_get_string(json_object_array_get_idx(list, i));
		if (name && caps_parse_name(name, &cap) == 0 &&
		    (caps & (1ULL << cap)))
			held++;
	}
	*total = n;
	return held;
}

/* True when the running kernel is at least "MAJOR.MINOR". */
static bool kernel_at_least(const char *min)
{
	struct utsname u;
	unsigned want_major = 0, want_minor = 0, major = 0, minor = 0;
	if (uname(&u) < 0 || sscanf(min, "%u.%u", &want_major, &want_minor) < 1)
		return false;
	sscanf(u.release, "%u.%u", &major, &minor);
	return major > want_major || (major == want_major && minor >= want_minor);
}

/* Whether an entry of "syscalls" applies to this container. */
static bool entry_applies(json_object *e, uint64_t caps)
{
	json_object *inc = jobj(e, "includes");
	json_object *exc = jobj(e, "excludes");
	const char *arch = native_arch_name();
	size_t total;
	if (inc) {
		json_object *arches = jarr(inc, "arches");
		const char *min = jstr(inc, "minKernel");
		if (caps_held(jarr(inc, "caps"), caps,
			      &total) < total ||
		    (arches && json_object_array_length(arches) &&
		     !list_has(arches, arch)) ||
		    (min && !kernel_at_least(min)))
			return false;
	}
	if (exc) {
		if (caps_held(jarr(exc, "caps"), caps,
			      &total) > 0 ||
		    list_has(jarr(exc, "arches"), arch))
			return false;
	}
	return true;
}

struct compiler {
	scmp_filter_ctx ctx;
	uint32_t default_action;
	char *err;
	size_t errlen;
};

/* The rules of one name.  libseccomp takes one condition per argument
 * in a rule: conditions sharing an argument become rules of their own
 * (either matching applies the action), as runc does. */
static int add_rules(struct compiler *c, const char *name, uint32_t action,
		     const struct scmp_arg_cmp *conds, unsigned n)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return 0; /* newer than this libseccomp: as Docker, skipped */
	bool shared = false;
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			shared |= conds[i].arg == conds[j].arg;
	int r = 0;
	if (!shared)
		r = seccomp_rule_add_array(c->ctx, action, nr, n, conds);
	for (unsigned i = 0; shared && r == 0 && i < n; i++)
		r = seccomp_rule_add_array(c->ctx, action, nr, 1, &conds[i]);
	if (r < 0)
		lr_fmt(c->err, c->errlen, "rule for '%s': %s", name,
		       strerror(-r));
	return r;
}

static int add_entry(struct compiler *c, json_object *e, uint64_t caps,
		     size_t index)
{
	if (!entry_applies(e, caps))
		return 0;
	const char *act = jstr(e, "action");
	uint32_t action;
	if (!parse_action(e, "action", "errnoRet", &action)) {
		lr_fmt(c->err, c->errlen, "syscalls[%zu]: action '%s' %s",
		       index, act ? act : "", act ? "is not supported" : "");
		return -EINVAL;
	}
	if (action == c->default_action)
		return 0; /* libseccomp refuses a rule that changes nothing */
	struct scmp_arg_cmp conds[6];
	json_object *args = jarr(e, "args");
	size_t nargs = args ? json_object_array_length(args) : 0;
	if (nargs > LF_ARRAY_SIZE(conds)) {
		lr_fmt(c->err, c->errlen, "syscalls[%zu]: more than 6 args",
		       index);
		return -EINVAL;
	}
	for (size_t i = 0; i < nargs; i++) {
		json_object *a = json_object_array_get_idx(args, i);
		int64_t idx;
		uint64_t value = 0, value_two = 0;
		enum scmp_compare op;
		if (!jint(a, "index", &idx) || idx < 0 || idx > 5 ||
		    !parse_op(jstr(a, "op"), &op)) {
			lr_fmt(c->err, c->errlen,
			       "syscalls[%zu]: args[%zu] needs an index 0-5 "
			       "and an op SCMP_CMP_...",
			       index, i);
			return -EINVAL;
		}
		(void)juint(a, "value", &value);
		(void)juint(a, "valueTwo", &value_two);
		conds[i] = SCMP_CMP((unsigned)idx, op, value, value_two);
	}
	json_object *names = jarr(e, "names");
	const char *one = jstr(e, "name");
	size_t n = names ? json_object_array_length(names) : 0;
	int r = one ? add_rules(c, one, action, conds, (unsigned)nargs) : 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *name =
			json_object_get_string(json_object_array_get_idx(names, i));
		r = name ? add_rules(c, name, action, conds, (unsigned)nargs)
			 : -EINVAL;
	}
	return r;
}

/* libseccomp's token of a profile's "SCMP_ARCH_X86_64" (0: unknown). */
static uint32_t arch_token(const char *scmp_name)
{
	const char *prefix = "SCMP_ARCH_";
	char name[32];
	if (!scmp_name || strncmp(scmp_name, prefix, strlen(prefix)) != 0)
		return 0;
	lr_fmt(name, sizeof(name), "%s", scmp_name + strlen(prefix));
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return seccomp_arch_resolve_name(name);
}

/* The ABIs to filter: archMap's entry for this machine, or the
 * architectures list; the native one always. */
static void add_arches(struct compiler *c, json_object *root)
{
	json_object *map = jarr(root, "archMap");
	json_object *list = jarr(root, "architectures");
	size_t n = map ? json_object_array_length(map) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(map, i);
		if (arch_token(jstr(e, "architecture")) ==
		    seccomp_arch_native())
			list = jarr(e, "subArchitectures");
	}
	n = list ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t token = arch_token(
			json_object_get_string(json_object_array_get_idx(list, i)));
		if (token)
			(void)seccomp_arch_add(c->ctx, token); /* or EEXIST */
	}
}

/* The compiled program, read back from the memfd libseccomp wrote it to. */
static int export_prog(scmp_filter_ctx ctx, struct seccomp_prog *out)
{
	int fd LF_AUTOCLOSE = memfd_create("seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = seccomp_export_bpf(ctx, fd);
	struct stat st;
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return -errno;
	out->len = (size_t)st.st_size / sizeof(struct sock_filter);
	out->insns = malloc((size_t)st.st_size + 1);
	if (!out->insns)
		return -ENOMEM;
	if (pread(fd, out->insns, (size_t)st.st_size, 0) != st.st_size) {
		seccomp_prog_free(out);
		return -EIO;
	}
	return 0;
}

int seccomp_profile_compile(const char *path, uint64_t caps,
			    struct seccomp_prog *out, char *err,
			    size_t errlen)
{
	memset(out, 0, sizeof(*out));
	char detail[256] = "";
	struct compiler c = { .err = detail, .errlen = sizeof(detail) };
	json_object *root = json_object_from_file(path);
	int r = 0;
	if (!root || !json_object_is_type(root, json_type_object)) {
		const char *why = root ? "not a JSON object"
				       : json_util_get_last_err();
		lr_fmt(detail, sizeof(detail), "%s", why ? why : "unreadable");
		r = -EINVAL;
	} else if (!parse_action(root, "defaultAction", "defaultErrnoRet",
				 &c.default_action)) {
		lr_fmt(detail, sizeof(detail),
		       "no defaultAction this launcher can carry out");
		r = -EINVAL;
	} else if (!(c.ctx = seccomp_init(c.default_action))) {
		r = -ENOMEM;
	}
	if (r == 0) {
		/* no_new_privs stays as --allow-new-privs says. */
		seccomp_attr_set(c.ctx, SCMP_FLTATR_CTL_NNP, 0);
		add_arches(&c, root);
		json_object *calls = jarr(root, "syscalls");
		size_t n = calls ? json_object_array_length(calls) : 0;
		for (size_t i = 0; r == 0 && i < n; i++)
			r = add_entry(&c, json_object_array_get_idx(calls, i),
				      caps, i);
	}
	if (r == 0 && (r = export_prog(c.ctx, out)) < 0)
		lr_fmt(detail, sizeof(detail), "cannot compile it: %s",
		       strerror(-r));
	/* json-c's messages end with a newline: one line only. */
	detail[strcspn(detail, "\n")] = 0;
	if (r < 0)
		lr_fmt(err, errlen, "seccomp profile '%s': %s", path,
		       *detail ? detail : strerror(-r));
	if (c.ctx)
		seccomp_release(c.ctx);
	if (root)
		json_object_put(root);
	return r;
}

int seccomp_prog_save(int dirfd, const struct seccomp_prog *p)
{
	int fd LF_AUTOCLOSE = openat(dirfd, SECCOMP_PROG_FILE,
				     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				     0600);
	size_t size = p->len * sizeof(*p->insns);
	if (fd < 0)
		return -errno;
	return write(fd, p->insns, size) == (ssize_t)size ? 0 : -EIO;
}

int seccomp_prog_load(int dirfd, struct seccomp_prog *p)
{
	memset(p, 0, sizeof(*p));
	int fd LF_AUTOCLOSE = openat(dirfd, SECCOMP_PROG_FILE,
				     O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0 || st.st_size % sizeof(struct sock_filter) ||
	    st.st_size > 65536 * (off_t)sizeof(struct sock_filter))
		return -EINVAL;
	if (!(p->insns = malloc((size_t)st.st_size)))
		return -ENOMEM;
	p->len = (size_t)st.st_size / sizeof(struct sock_filter);
	if (pread(fd, p->insns, (size_t)st.st_size, 0) != st.st_size) {
		seccomp_prog_free(p);
		return -EIO;
	}
	return 0;
}

void seccomp_prog_free(struct seccomp_prog *p)
{
	free(p->insns);
	p->insns = NULL;
	p->len = 0;
}
