/* The help texts of layerrun and its commands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const char main_text[] =
"usage: layerrun [--root DIR] COMMAND [OPTIONS] ...\n"
"\n"
"Runs containers on layerfs: image layers merged by the FUSE union\n"
"filesystem, no kernel overlayfs, as root or as an unprivileged user.\n"
"\n"
"Commands:\n"
"  run [OPTIONS] IMAGE_DIR [CMD ARG...]   start a container of an image\n"
"  run [OPTIONS] --lower A:B:C CMD [ARG...]  ... of plain layer directories\n"
"  exec [OPTIONS] NAME CMD [ARG...]       run a command in a running container\n"
"  ps [-q]                                list containers\n"
"  kill NAME [SIGNAL]                     signal a container (default TERM)\n"
"  logs [-f] NAME                         output of a detached container\n"
"  rm [-f] [--keep] NAME...               remove containers\n"
"  commit [-m MSG] [--author A] NAME OUT  the upper layer as a new image\n"
"                                         (or a layer tarball for --lower)\n"
"\n"
"Global options:\n"
"  --root DIR     keep containers in DIR (default: $XDG_RUNTIME_DIR/layerrun,\n"
"                 /run/layerrun for root, else ${TMPDIR:-/tmp}/layerrun-UID)\n"
"  -h, --help     this text; `layerrun COMMAND --help` for a command\n"
"  -V, --version  the version\n"
"\n"
"Exit status: run and exec return the command's status (128+N when\n"
"signal N killed it), 125 when layerrun itself failed, 126 when the\n"
"command cannot be executed, 127 when it was not found.  The other\n"
"commands return 0 on success, 1 on failure, 2 on bad usage; commit\n"
"returns layertool's status.\n";

static const char run_text[] =
"usage: layerrun run [OPTIONS] IMAGE_DIR [CMD ARG...]\n"
"       layerrun run [OPTIONS] --lower TOP:...:BOTTOM CMD [ARG...]\n"
"\n"
"Starts a container: layerfs merges the layers with a writable upper\n"
"layer and an init layer (/etc/hosts, /etc/hostname, /etc/resolv.conf),\n"
"new namespaces isolate it, and CMD runs under a minimal init as PID 1.\n"
"\n"
"Layers and state:\n"
"  --lower A:B:C         plain layer directories, top first (no IMAGE_DIR)\n"
"  --upper DIR           keep the writable layer in DIR (default: a fresh\n"
"                        one in the container's state directory)\n"
"  --name NAME           the container's name (default: lr-XXXXXXXX)\n"
"  --rm                  remove the container when it exits\n"
"\n"
"Process:\n"
"  -e, --env K=V|K       set a variable (K alone: take ours)\n"
"  --env-file FILE       variables from FILE (K=V or K lines, # comments);\n"
"                        -e overrides them\n"
"  -w, --workdir DIR     working directory (made when missing)\n"
"  -u, --user U[:G]      user and group, by number or by the container's\n"
"                        /etc/passwd and /etc/group names\n"
"  --entrypoint PROG     replaces the image's Entrypoint (and its Cmd);\n"
"                        \"\" removes it\n"
"  -i, --interactive     keep standard input attached\n"
"  -t, --tty             a pseudo-terminal (with -i: a usable shell)\n"
"  -d, --detach          run in the background, output to its log\n"
"                        (layerrun logs NAME); prints the name;\n"
"                        not with -i or -t\n"
"\n"
"Namespaces (all new by default):\n"
"  --net none|host|container:NAME   none: a new one with loopback up\n"
"  --pid private|host\n"
"  --ipc private|host|container:NAME\n"
"  --uts private|host|container:NAME\n"
"  --hostname NAME       (default: the container's name)\n"
"  --userns auto|single|subid|shared  id maps: single maps only you (to\n"
"                        root); subid adds your /etc/subuid range\n"
"                        (newuidmap); shared: subid's maps in one user\n"
"                        namespace kept for all your containers; auto:\n"
"                        root keeps host ids, others shared when\n"
"                        possible, else single\n"
"  --dns IP              nameserver for /etc/resolv.conf (repeatable)\n"
"  --add-host NAME:IP    a line for /etc/hosts (repeatable)\n"
"\n"
"Files:\n"
"  -v, --volume HOST:CTR[:ro]  bind a file or directory (recursive);\n"
"                        CTR is made in the container when missing\n"
"  --tmpfs CTR[:OPTS]    a new tmpfs holding a copy of the image's CTR\n"
"                        (default rw,nosuid,nodev,noexec; ro, exec, size=,\n"
"                        mode=, uid=, gid=, notmpcopyup ...)\n"
"  --mount type=bind,source=HOST,target=CTR[,readonly]\n"
"  --mount type=tmpfs,target=CTR[,tmpfs-size=N,tmpfs-mode=M]  podman's\n"
"                        long form of -v and --tmpfs\n"
"  --read-only           the root read-only; writable tmpfs on /run, /tmp\n"
"                        and /var/tmp (--read-only-tmpfs=false: none)\n"
"\n"
"Security:\n"
"  --cap-add CAP, --cap-drop CAP  change the default capability set\n"
"                        (Docker's); ALL for every capability\n"
"  --allow-new-privs     do not set no_new_privs (set-id programs work)\n"
"  --security-opt OPT    seccomp=unconfined (no seccomp filter),\n"
"                        seccomp=PROFILE (Docker's and podman's JSON),\n"
"                        no-new-privileges[=true|false]; label=disable\n"
"                        and apparmor=unconfined change nothing\n"
"  --no-pivot            chroot instead of pivot_root (for an initramfs\n"
"                        root; CAP_SYS_CHROOT is then dropped)\n"
"\n"
"Limits (memory, CPU and pids by cgroup v2 where delegated, else v1):\n"
"  -m, --memory SIZE     memory and swap together (k, m, g suffixes)\n"
"  --cpus N              CPU time, e.g. 0.5 or 2\n"
"  --pids-limit N        processes (-1: no limit)\n"
"  --cpuset-cpus LIST    CPUs allowed, e.g. 0-1,3\n""  --ulimit NAME=SOFT[:HARD]  a resource limit (nofile, nproc, core, ...;\n"
"                        -1 or unlimited), never above layerrun's own\n"
"  --shm-size SIZE       /dev/shm's size (default 64m)\n"

"\n"
"Exit status: the command's (128+N when signal N killed it); 125 when\n"
"layerrun failed to start it, 126 cannot execute, 127 not found.\n";

static const char exec_text[] =
"usage: layerrun exec [OPTIONS] NAME CMD [ARG...]\n"
"\n"
"Runs CMD in a running container: in all its namespaces, its root and\n"
"cgroups, with its environment, user, capabilities and working\n"
"directory unless told otherwise.\n"
"\n"
"  -i, --interactive     keep standard input attached\n"
"  -t, --tty             a pseudo-terminal\n"
"  -e, --env K=V|K       add a variable\n"
"  --env-file FILE       variables from FILE; -e overrides them\n"
"  -w, --workdir DIR     working directory\n"
"  -u, --user U[:G]      another user\n"
"\n"
"Exit status: CMD's (128+N for signal N); 125 layerrun failed, 126, 127.\n";

static const char ps_text[] =
"usage: layerrun ps [-q]\n"
"\n"
"Lists the containers: name, status (running, exited(CODE), or exited(?)\n"
"when it ended unseen; such a stale entry is corrected and its cgroups\n"
"removed; broken when it runs but its layerfs has ended, killed or\n"
"crashed, so that its files cannot be reached: rm -f it), init pid, age,\n"
"image and command.  -q prints names only.\n";

static const char kill_text[] =
"usage: layerrun kill NAME [SIGNAL]\n"
"\n"
"Sends SIGNAL (default TERM; a name such as HUP or SIGHUP, RTMIN+N,\n"
"RTMAX-N, or a number) to the container's init, which forwards it to\n"
"the command (KILL ends the container).\n";

static const char logs_text[] =
"usage: layerrun logs [-f] NAME\n"
"\n"
"Prints what a container started with -d wrote; -f keeps following\n"
"until it exits.\n";

static const char rm_text[] =
"usage: layerrun rm [-f] [--keep] NAME...\n"
"\n"
"Removes stopped containers: state, init layer, work directory, cgroups\n"
"and the upper layer layerrun made (a --upper DIR of yours is never\n"
"removed).  -f kills a running container first.  --keep moves a default\n"
"upper layer to ROOT/NAME.kept/upper and prints that path.\n";

static const char commit_text[] =
"usage: layerrun commit [-m MESSAGE] [--author AUTHOR] NAME OUT\n"
"\n"
"Writes the container's changes (its upper layer; the init layer and\n"
"volume contents are never in it) with layertool export:\n"
"  container of an image   OUT is a new image directory: the image's\n"
"                          layers plus this one (layertool export --image)\n"
"  --lower container       OUT is an OCI layer tarball\n"
"Exit status: layertool's.\n";

void usage_main(void)
{
	fputs(main_text, stdout);
}

void usage_command(const char *cmd)
{
	const struct {
		const char *name, *text;
	} texts[] = {
		{ "run", run_text },   { "exec", exec_text }, { "ps", ps_text },
		{ "kill", kill_text }, { "logs", logs_text }, { "rm", rm_text },
		{ "commit", commit_text },
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcmp(texts[i].name, cmd) == 0) {
			fputs(texts[i].text, stdout);
			return;
		}
	usage_main();
}
