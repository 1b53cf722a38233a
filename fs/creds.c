#include "creds.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static bool can_switch;
static bool writes_keep_setid;
static bool daemon_on_host;
static uid_t daemon_uid;
static gid_t daemon_gid;

static __thread bool thread_ready;
static __thread uid_t cur_uid;
static __thread gid_t cur_gid;
static __thread bool own_umask;
static __thread mode_t cur_umask;

/* The inode number procfs gives the initial user namespace (a fixed
 * value of the kernel's ABI, PROC_USER_INIT_INO). */
#define INITIAL_USERNS_INO 0xEFFFFFFDUL

/* A child namespace that maps every id (a root container's) looks the
 * same in uid_map: the namespace itself is compared. */
static bool in_initial_userns(void)
{
	struct stat st;
	return stat("/proc/self/ns/user", &st) == 0 &&
	       st.st_ino == INITIAL_USERNS_INO;
}

bool creds_daemon_capable_on_host(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	if (cap < 0 || cap >= 64 || syscall(SYS_capget, &hdr, data) != 0 ||
	    !(data[cap / 32].effective & (1u << (cap % 32))))
		return false;
	return in_initial_userns();
}

bool creds_daemon_on_host(void)
{
	return daemon_on_host;
}

bool creds_writes_keep_setid(void)
{
	return writes_keep_setid;
}

bool creds_init(void)
{
	daemon_uid = geteuid();
	daemon_gid = getegid();
	writes_keep_setid = creds_daemon_capable_on_host(CAP_FSETID);
	daemon_on_host = in_initial_userns();
	/* Keep capabilities when fsuid leaves 0. */
	if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) == 0)
		can_switch = true;
	/* Modes arrive already masked (or are masked per thread with ACLs):
	 * the daemon's own umask must not mask them again. */
	umask(0);
	return can_switch;
}

static void thread_init(void)
{
	if (thread_ready)
		return;
	thread_ready = true;
	cur_uid = daemon_uid;
	cur_gid = daemon_gid;
	cur_umask = 0;
}

bool creds_thread_umask_possible(void)
{
	/* The asking worker takes its own umask at once, as it would for
	 * its first request with ACLs on (creds_as_caller): a thread made
	 * only to ask cost the first request after the mount a thread's
	 * start and end. */
	if (!own_umask)
		own_umask = unshare(CLONE_FS) == 0;
	thread_init();
	return own_umask;
}

/* false where an id would not take (one the daemon's user namespace
 * does not map): setfsuid and setfsgid say so only by what they leave,
 * which a call with -1 reads back. */
static bool switch_ids(uid_t uid, gid_t gid)
{
	if (!can_switch)
		return true;
	thread_init();
	/* Order: group first, while our uid still lets us change it. */
	if (gid != cur_gid) {
		setfsgid(gid);
		cur_gid = (gid_t)setfsgid((gid_t)-1);
	}
	if (uid != cur_uid) {
		setfsuid(uid);
		cur_uid = (uid_t)setfsuid((uid_t)-1);
	}
	return cur_gid == gid && cur_uid == uid;
}

bool creds_caller_capable(fuse_req_t req, int cap)
{
	pid_t pid = fuse_req_ctx(req)->pid;
	char path[64];
	struct stat mine, theirs;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	if (pid <= 0 || stat("/proc/self/ns/user", &mine) < 0 ||
	    stat(path, &theirs) < 0 || mine.st_ino != theirs.st_ino ||
	    mine.st_dev != theirs.st_dev)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[256];
	unsigned long long eff = 0;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", &eff) == 1;
	fclose(f);
	return found && cap >= 0 && cap < 64 && (eff >> cap & 1);
}

bool creds_caller_capable_on_host(fuse_req_t req, int cap)
{
	/* A caller of this daemon's user namespace or below: in the
	 * initial one only if the daemon is. */
	return daemon_on_host && creds_caller_capable(req, cap);
}

uid_t creds_disk_uid(struct lfs *fs, uid_t view_uid)
{
	return lfs_idmap_to_disk(&fs->opt->uidmap, view_uid, fs->overflow_uid);
}

gid_t creds_disk_gid(struct lfs *fs, gid_t view_gid)
{
	return lfs_idmap_to_disk(&fs->opt->gidmap, view_gid, fs->overflow_gid);
}

uid_t creds_view_uid(struct lfs *fs, uid_t disk_uid)
{
	if (fs->opt->squash_uid >= 0)
		return (uid_t)fs->opt->squash_uid;
	return lfs_idmap_to_view(&fs->opt->uidmap, disk_uid, fs->overflow_uid);
}

gid_t creds_view_gid(struct lfs *fs, gid_t disk_gid)
{
	if (fs->opt->squash_gid >= 0)
		return (gid_t)fs->opt->squash_gid;
	return lfs_idmap_to_view(&fs->opt->gidmap, disk_gid, fs->overflow_gid);
}

int creds_as_caller(struct lfs *fs, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	/* A caller the mapping options leave out acts as the overflow id,
	 * as with fuse-overlayfs (podman makes a container's files as such
	 * a caller, then chowns them).  Where the daemon's own user
	 * namespace has no such id either, the switch does not take, and
	 * the entry would be the daemon's: refused instead. */
	if (!switch_ids(creds_disk_uid(fs, ctx->uid),
			creds_disk_gid(fs, ctx->gid))) {
		creds_as_daemon();
		return -EOVERFLOW;
	}
	if (fs->acl) {
		/* The kernel leaves the umask to us when ACLs are on, so
		 * that a default ACL can override it: give this thread its
		 * own umask and let the upper filesystem decide. */
		thread_init();
		if (!own_umask) {
			own_umask = unshare(CLONE_FS) == 0;
		}
		if (own_umask && ctx->umask != cur_umask) {
			umask(ctx->umask);
			cur_umask = ctx->umask;
		}
	}
	return 0;
}

void creds_as_daemon(void)
{
	switch_ids(daemon_uid, daemon_gid);
	if (own_umask && cur_umask != 0) {
		umask(0);
		cur_umask = 0;
	}
}

bool creds_caller_in_group(fuse_req_t req, gid_t gid)
{
	if (fuse_req_ctx(req)->gid == gid)
		return true;
	gid_t small[32], *list = small;
	int n = fuse_req_getgroups(req, 32, list);
	if (n > 32) {
		list = malloc((size_t)n * sizeof(*list));
		n = list ? fuse_req_getgroups(req, n, list) : -ENOMEM;
	}
	bool in = false;
	for (int i = 0; i < n && !in; i++)
		in = list[i] == gid;
	if (list != small)
		free(list);
	return in;
}
