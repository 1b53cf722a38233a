"""Container start: `/bin/true` in a busybox container, from the command
to its exit, for each launcher; as whoever runs the bench
(container_start) and as an unprivileged user (container_start_rootless).

- bwrap-dir: bubblewrap on a plain directory (no layers: the limit);
- bwrap-fuse-overlayfs: fuse-overlayfs mounted on the layer, bubblewrap
  on the mount, then unmounted (what a rootless launcher without layerfs
  does); mount and unmount included;
- layerrun: `layerrun run --rm IMAGE /bin/true`, mount included, of the
  same root file system imported with `layertool import`;
- layerrun-lower: `layerrun run --rm --lower LAYER /bin/true` on the plain
  layer directory (no image to read);
- podman: `podman run --rm` of the same root file system imported as an
  image, with a private storage root, runc, cgroupfs and file events.

The rootless workload runs the same five as an unprivileged user
(rootless.py): bwrap and fuse-overlayfs in user namespaces, layerrun with
--userns auto, podman rootless with a private installation.
"""

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time

from . import machine, rootless, util
from .runner import Result
from .util import BenchError, progress

IMAGE = "localhost/lfbench-busybox"


class ContainerStart:
    name = "container_start"
    group = "container"
    unit = "s"
    better = "lower"
    cache = "warm"
    title = "start a busybox container running /bin/true and wait for it"
    # The meta key of the launchers' status, and the results' section.
    launchers_key = "launchers"
    heading = "Container start"
    intro = "`/bin/true` in a busybox container, from the launcher's " \
        "start to its exit, mount and unmount included where there is one."


class ContainerStartRootless(ContainerStart):
    name = "container_start_rootless"
    title = "start a busybox container running /bin/true and wait for " \
        "it, as an unprivileged user"
    launchers_key = "launchers_rootless"
    heading = "Container start, rootless"
    intro = "The same five launchers run as an unprivileged user " \
        "(`--rootless-user`): bwrap and fuse-overlayfs in user " \
        "namespaces, layerrun with `--userns auto`, podman rootless with " \
        "a private installation; each on the user's own copy of the " \
        "busybox root.  A rootless FUSE mount needs /dev/fuse open to all " \
        "(mode 0666): where it is not, the bench sets that mode for this " \
        "workload only and puts the old one back (the notes say so)."


WORKLOADS = (ContainerStart, ContainerStartRootless)
WORKLOAD_NAMES = tuple(w.name for w in WORKLOADS)


class Launcher:
    name = ""
    description = ""
    # A rootless.User to run as, or None (whoever runs the bench).
    user = None

    def kw(self):
        """Keywords of util.timed/util.run for the launcher's commands."""
        return self.user.kw() if self.user else {}

    def unavailable(self):
        return None

    def prepare(self):
        """Untimed set-up before each run."""

    def command(self):
        raise NotImplementedError

    def run(self):
        self.prepare()
        secs, r = util.timed(self.command(), timeout=300, **self.kw())
        self.after()
        if r.returncode != 0:
            raise BenchError("%s exited %d: %s" % (
                self.name, r.returncode, util.last_line(r.stderr)))
        return secs

    def after(self):
        """Untimed clean-up after each run."""

    def cleanup(self):
        """Untimed clean-up once the workload is over."""

    def version(self):
        return None


_BWRAP_ARGS = ["--unshare-all", "--die-with-parent", "--proc", "/proc",
               "--dev", "/dev"]


class BwrapDir(Launcher):
    name = "bwrap-dir"
    description = "bwrap --unshare-all --bind ROOTFS / ... /bin/true"

    def __init__(self, rootfs, user=None):
        self.rootfs = rootfs
        self.user = user

    def unavailable(self):
        return None if util.which("bwrap") else "bwrap is not installed"

    def command(self):
        return ["bwrap", "--bind", self.rootfs, "/"] + _BWRAP_ARGS + \
            ["/bin/true"]

    def version(self):
        from .impls import dpkg_version
        return dpkg_version("bubblewrap")


class BwrapFuseOverlayfs(Launcher):
    name = "bwrap-fuse-overlayfs"
    description = "fuse-overlayfs mount + bwrap on it + unmount"

    def __init__(self, rootfs, scratch, user=None):
        self.rootfs = rootfs
        self.scratch = scratch
        self.user = user

    def unavailable(self):
        tools = ("bwrap", "fuse-overlayfs")
        if self.user or not util.is_root():
            tools += ("fusermount3",)
        for tool in tools:
            if not util.which(tool):
                return "%s is not installed" % tool
        return None

    def prepare(self):
        for d in ("upper", "work", "mnt"):
            path = util.fresh_dir(os.path.join(self.scratch, d))
            if self.user:
                os.chown(path, self.user.uid, self.user.gid)

    def run(self):
        """Mount, run, unmount and the daemon's exit are timed; finding the
        daemon's pid between them is not."""
        self.prepare()
        s = self.scratch
        mnt = os.path.join(s, "mnt")
        secs_m, r = util.timed([
            "fuse-overlayfs", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (
                self.rootfs, os.path.join(s, "upper"),
                os.path.join(s, "work")), mnt], timeout=120, **self.kw())
        if r.returncode != 0:
            raise BenchError("fuse-overlayfs exited %d: %s" % (
                r.returncode, util.last_line(r.stderr)))
        pid = util.find_daemon(("fuse-overlayfs",), mnt)
        try:
            secs_r, r = util.timed(["bwrap", "--bind", mnt, "/"] +
                                   _BWRAP_ARGS + ["/bin/true"], timeout=120,
                                   **self.kw())
        finally:
            um = ["umount", mnt] if util.is_root() and not self.user else \
                ["fusermount3", "-u", mnt]
            secs_u, ru = util.timed(um, timeout=120, **self.kw())
            t0 = time.perf_counter()
            gone = pid is None or util.wait_pid_gone(pid, 60)
            secs_u += time.perf_counter() - t0
        if r.returncode != 0:
            raise BenchError("bwrap exited %d: %s" % (
                r.returncode, util.last_line(r.stderr)))
        if ru.returncode != 0 or not gone:
            util.force_unmount(mnt)
            raise BenchError("cannot unmount fuse-overlayfs: %s"
                             % util.last_line(ru.stderr))
        return secs_m + secs_r + secs_u

    def version(self):
        from .impls import dpkg_version
        return "fuse-overlayfs %s, bubblewrap %s" % (
            dpkg_version("fuse-overlayfs"), dpkg_version("bubblewrap"))


class LayerrunLower(Launcher):
    name = "layerrun-lower"
    description = "layerrun run --rm --lower LAYER /bin/true"

    def __init__(self, binary, rootfs, user=None):
        self.binary = binary
        self.rootfs = rootfs
        self.user = user

    def unavailable(self):
        if not os.access(self.binary, os.X_OK):
            return "%s is missing (run make)" % self.binary
        return None

    def command(self):
        return [self.binary, "run", "--rm", "--lower", self.rootfs,
                "/bin/true"]

    def version(self):
        r = subprocess.run([self.binary, "--version"], capture_output=True,
                           text=True)
        out = (r.stdout or r.stderr).strip().splitlines()
        return out[0] if r.returncode == 0 and out else None

    def cleanup(self):
        """Rootless, ends the keeper of the user's shared user namespace
        (layerrun's counterpart of podman's pause process), by the pid
        it recorded in the user's state root, as podman's is ended."""
        if self.user is None:
            return
        rec = os.path.join(self.user.tmp, "layerrun-%d" % self.user.uid,
                           ".userns")
        try:
            with open(rec) as f:
                pid = int(f.read().split()[0])
            with open("/proc/%d/comm" % pid) as f:
                comm = f.read().strip()
            mine = os.stat("/proc/%d" % pid).st_uid == self.user.uid
        except (OSError, ValueError, IndexError):
            return
        if comm == "layerrun-userns" and mine:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
            util.wait_pid_gone(pid, 10)


class LayerrunImage(LayerrunLower):
    """The form issue 9 sets a target for: an image directory made by
    `layertool import` from a tarball of the root file system (the import
    is done once, untimed, in the run's scratch directory)."""
    name = "layerrun"
    description = "layerrun run --rm IMAGE /bin/true (IMAGE from " \
        "layertool import of the busybox root)"

    def __init__(self, binary, layertool, rootfs, scratch, user=None):
        super().__init__(binary, rootfs, user)
        self.layertool = layertool
        self.image = os.path.join(scratch, "image")

    def unavailable(self):
        why = super().unavailable()
        if why:
            return why
        if not os.access(self.layertool, os.X_OK):
            return "%s is missing (run make)" % self.layertool
        top = util.fresh_dir(os.path.dirname(self.image))
        tar = self.image + ".tar"
        if self.user:
            # The user's copy of the root is the user's: the archive says
            # root, as an image's would; the unprivileged import keeps
            # the owners in override_stat xattrs.
            os.chown(top, self.user.uid, self.user.gid)
            util.run(["tar", "--numeric-owner", "--owner=0", "--group=0",
                      "-C", self.rootfs, "-cf", tar, "."], timeout=300,
                     **self.kw())
        else:
            util.run(["tar", "-C", self.rootfs, "-cf", tar, "."],
                     timeout=300)
        r = util.run([self.layertool, "import", tar, self.image],
                     check=False, timeout=300, **self.kw())
        if r.returncode != 0:
            return "layertool import failed (exit %d): %s" % (
                r.returncode, util.last_line(r.stderr))
        return None

    def command(self):
        return [self.binary, "run", "--rm", self.image, "/bin/true"]


class Podman(Launcher):
    name = "podman"
    description = "podman run --rm --network none (runc, cgroupfs, " \
        "private storage)"

    def __init__(self, rootfs, store):
        self.rootfs = rootfs
        self.store = store
        self.notes = []

    def globals(self):
        s = self.store
        return ["podman", "--root", os.path.join(s, "root"),
                "--runroot", os.path.join(s, "runroot"),
                "--tmpdir", os.path.join(s, "tmp"),
                "--runtime", "runc", "--cgroup-manager", "cgroupfs",
                "--events-backend", "file", "--storage-driver", "overlay"]

    def unavailable(self):
        if not util.which("podman"):
            return "podman is not installed"
        if not util.which("runc"):
            return "runc is not installed (Debian 12's crun refuses " \
                "cgroup v1 hybrid hosts)"
        if not util.is_root():
            return "podman with a private storage root needs root here"
        os.makedirs(os.path.join(self.store, "tmp"), exist_ok=True)
        r = subprocess.run(self.globals() + ["image", "exists", IMAGE],
                           capture_output=True)
        if r.returncode != 0:
            progress("container: podman import of the busybox root")
            tar = subprocess.Popen(["tar", "-C", self.rootfs, "-c", "."],
                                   stdout=subprocess.PIPE)
            r = subprocess.run(self.globals() + ["import", "-", IMAGE],
                               stdin=tar.stdout, capture_output=True,
                               timeout=300)
            tar.stdout.close()
            tar.wait()
            if r.returncode != 0:
                return "podman import failed: %s" % util.last_line(r.stderr)
        return None

    def command(self):
        args = self.globals() + ["run", "--rm", "--network", "none"]
        if not util.have_cap(util.CAP_SYS_RESOURCE):
            # runc cannot raise the hard limits podman asks for by default
            # without CAP_SYS_RESOURCE.
            args += ["--ulimit", "nofile=1024:1024",
                     "--ulimit", "nproc=4096:4096"]
            note = "podman: --ulimit nofile=1024:1024 --ulimit " \
                "nproc=4096:4096 (no CAP_SYS_RESOURCE to raise limits)"
            if note not in self.notes:
                self.notes.append(note)
        return args + [IMAGE, "/bin/true"]

    def version(self):
        from .impls import dpkg_version
        return "podman %s, runc %s, conmon %s" % (
            dpkg_version("podman"), dpkg_version("runc"),
            dpkg_version("conmon"))


class PodmanRootless(Podman):
    """Rootless podman with a private installation: its configuration,
    storage, runroot, HOME, XDG_RUNTIME_DIR and TMPDIR all in one base
    directory of the user's under /tmp, made when the workload starts
    and removed at its end.  The base has a short path on purpose:
    conmon's unix sockets live below it, and a socket path longer than
    107 bytes made every run wait out conmon's 20 s timeout."""
    description = "podman run --rm --network none, rootless (runc, " \
        "cgroupfs, native overlay, private installation)"

    def __init__(self, rootfs, user):
        super().__init__(rootfs, None)
        self.user = user
        self.base = None
        self.cleanup_notes = []

    def _path(self, *parts):
        return os.path.join(self.base, *parts)

    def env(self):
        return self.user.env(
            CONTAINERS_CONF=self._path("containers.conf"),
            CONTAINERS_STORAGE_CONF=self._path("storage.conf"),
            CONTAINERS_REGISTRIES_CONF=self._path("registries.conf"),
            HOME=self.base, XDG_RUNTIME_DIR=self._path("xdg"),
            TMPDIR=self.base)

    def kw(self):
        return self.user.kw(env=self.env(), cwd=self.base)

    def globals(self):
        return ["podman"]

    def _set_up(self):
        self.base = tempfile.mkdtemp(prefix="lfb-", dir="/tmp")
        u = self.user
        for d in ("storage", "run", "xdg", "tmp", "net"):
            os.mkdir(self._path(d), 0o700)
        files = {
            "containers.conf":
                '[containers]\nnetns = "none"\n'
                'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
                'events_logger = "file"\ntmp_dir = "%s"\n'
                '[network]\nnetwork_config_dir = "%s"\n' % (
                    self._path("tmp"), self._path("net")),
            # rootless_storage_path: the graph root of a rootless podman.
            "storage.conf":
                '[storage]\ndriver = "overlay"\ngraphroot = "%s"\n'
                'runroot = "%s"\nrootless_storage_path = "%s"\n' % (
                    self._path("storage"), self._path("run"),
                    self._path("storage")),
            "registries.conf": "unqualified-search-registries = []\n"}
        for name, text in files.items():
            with open(self._path(name), "w") as f:
                f.write(text)
        u.chown_tree(self.base)

    def unavailable(self):
        for tool, pkg in (("podman", "podman"), ("runc", "runc"),
                          ("newuidmap", "uidmap"), ("newgidmap", "uidmap")):
            if not util.which(tool):
                return "%s is not installed (%s)" % (tool, pkg)
        if not rootless.has_subid_ranges(self.user.pw):
            return "user %s has no subordinate uid and gid ranges of " \
                "%d ids" % (self.user.name, rootless.SUBID_COUNT)
        self._set_up()
        progress("container_start_rootless: podman import of the busybox "
                 "root, as %s" % self.user.name)
        tar = subprocess.Popen(["tar", "--numeric-owner", "--owner=0",
                                "--group=0", "-C", self.rootfs, "-c", "."],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, **self.kw())
        try:
            r = util.run(["podman", "import", "-", IMAGE], check=False,
                         stdin=tar.stdout, timeout=300, **self.kw())
        finally:
            tar.stdout.close()
            tar.wait()
        if r.returncode != 0:
            return "podman import failed: %s" % util.last_line(r.stderr)
        return self._check_storage()

    def _check_storage(self):
        """Native overlay, as configured: containers/storage would fall
        back to fuse-overlayfs where the kernel refuses it."""
        r = util.run(["podman", "info", "--format", "json"], check=False,
                     timeout=120, **self.kw())
        if r.returncode != 0:
            return "podman info failed: %s" % util.last_line(r.stderr)
        try:
            store = json.loads(r.stdout)["store"]
        except (ValueError, KeyError, TypeError):
            return "podman info: no storage description"
        driver = store.get("graphDriverName")
        program = (store.get("graphOptions") or {}).get(
            "overlay.mount_program")
        if isinstance(program, dict):
            program = program.get("Executable", program)
        if driver != "overlay" or program:
            return "podman's storage is %s%s, not native overlay" % (
                driver, " with %s" % program if program else "")
        return None

    def command(self):
        return ["podman", "run", "--rm", "--network", "none", IMAGE,
                "/bin/true"]

    def pause_pid(self):
        for d in (self._path("tmp"), self._path("xdg", "libpod", "tmp")):
            try:
                with open(os.path.join(d, "pause.pid")) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                continue
        return None

    def cleanup(self):
        """Removes the containers and the image, ends the pause process
        (by the pid it wrote) and what else of the user's still names the
        base directory, and removes the base directory."""
        if self.base is None:
            return
        try:
            util.run(["podman", "system", "reset", "-f"], check=False,
                     timeout=120, **self.kw())
        except BenchError as e:
            progress("container_start_rootless: %s" % e)
        # The pause process holds podman's user namespace; a container
        # whose podman was interrupted can leave its `runc init` there.
        # Both were started by this installation: ended by pid.
        pid = self.pause_pid()
        pids = []
        try:
            if pid and os.stat("/proc/%d" % pid).st_uid == self.user.uid:
                pids = [pid] + [p for p in _in_user_ns(pid) if p != pid]
        except OSError:
            pass
        for p in pids:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
        for p in pids:
            util.wait_pid_gone(p, 10)
        if len(pids) > 1:
            self.cleanup_notes.append(
                "podman (rootless): ended %d process(es) left in its user "
                "namespace" % (len(pids) - 1))
        self.user.end_leftovers([self.base], self.cleanup_notes)
        util.rmtree(self.base)   # force-unmounts what is left below it
        self.base = None


def _in_user_ns(pid):
    """Pids of the processes in the user namespace of process pid."""
    try:
        ns = os.readlink("/proc/%d/ns/user" % pid)
    except OSError:
        return []
    if ns == os.readlink("/proc/self/ns/user"):
        return []   # never the bench's own namespace
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.readlink("/proc/%s/ns/user" % p) == ns:
                    out.append(int(p))
            except OSError:
                continue
    return out


LAUNCHER_NAMES = ("bwrap-dir", "bwrap-fuse-overlayfs", "layerrun",
                  "layerrun-lower", "podman")


def launchers(ds, build_dir, scratch, cache_root):
    rootfs = ds.path("busybox")
    return [BwrapDir(rootfs),
            BwrapFuseOverlayfs(rootfs, os.path.join(scratch, "ctr")),
            LayerrunImage(os.path.join(build_dir, "layerrun"),
                          os.path.join(build_dir, "layertool"), rootfs,
                          os.path.join(scratch, "ctr-image")),
            LayerrunLower(os.path.join(build_dir, "layerrun"), rootfs),
            Podman(rootfs, os.path.join(cache_root, "podman"))]


def rootless_launchers(build_dir, rootfs, user):
    """The five, as user, on user's copy of the busybox root."""
    return [BwrapDir(rootfs, user),
            BwrapFuseOverlayfs(rootfs, os.path.join(user.base, "ctr"), user),
            LayerrunImage(os.path.join(build_dir, "layerrun"),
                          os.path.join(build_dir, "layertool"), rootfs,
                          os.path.join(user.base, "ctr-image"), user),
            LayerrunLower(os.path.join(build_dir, "layerrun"), rootfs, user),
            PodmanRootless(rootfs, user)]


def _new_result(wl):
    res = Result(wl())
    la = machine.loadavg()
    res.load = la[0] if la else None
    return res


def _none_runnable(res, why):
    progress("%s: not runnable: %s" % (res.workload.name, why))
    status = []
    for ln in LAUNCHER_NAMES:
        status.append({"name": ln, "runnable": False, "reason": why})
        res.skipped[ln] = why
    return status


def _run_launchers(wl, res, lns, reps):
    """Checks each launcher (a warm-up run), then times the runnable ones
    for reps repetitions, the order rotating.  Returns ([launcher status
    dicts], notes)."""
    status = []
    notes = []
    ready = []
    for ln in lns:
        try:
            why = ln.unavailable()
        except (OSError, subprocess.SubprocessError, BenchError) as e:
            why = str(e)
        if why is None:
            try:
                ln.run()   # warm-up, and a check that it works at all
            except BenchError as e:
                why = "fails here: %s" % e
        st = {"name": ln.name, "runnable": why is None, "reason": why,
              "description": ln.description}
        try:
            st["version"] = ln.version()
        except (OSError, subprocess.SubprocessError, IndexError):
            st["version"] = None
        status.append(st)
        if why is None:
            ready.append(ln)
            res.runs[ln.name] = []
            res.details[ln.name] = []
        else:
            res.skipped[ln.name] = why
            progress("container: %s not runnable: %s" % (ln.name, why))
    if ready:
        progress("%s: %s (%d reps)" % (wl.name, wl.title, reps))
    for rep in range(reps):
        k = rep % max(1, len(ready))
        for ln in ready[k:] + ready[:k]:
            if ln.name in res.errors:
                continue
            try:
                secs = ln.run()
            except BenchError as e:
                res.errors[ln.name] = str(e)
                continue
            res.runs[ln.name].append(secs)
            res.details[ln.name].append({})
            progress("    %-21s rep %d/%d %.1f ms" % (
                ln.name, rep + 1, reps, secs * 1000))
    for ln in ready:
        notes.extend(getattr(ln, "notes", []))
    return status, notes


def run_container_start(ds, build_dir, scratch, cache_root, reps):
    """Returns (Result, [launcher status dicts], notes)."""
    res = _new_result(ContainerStart)
    if not os.path.isdir(ds.path("busybox")):
        return res, _none_runnable(
            res, "no busybox root file system (busybox-static missing)"), []
    status, notes = _run_launchers(
        ContainerStart, res, launchers(ds, build_dir, scratch, cache_root),
        reps)
    return res, status, notes


def run_container_start_rootless(ds, build_dir, scratch, reps, user_name,
                                 may_create):
    """The five launchers as the unprivileged user user_name (created
    when missing if may_create).  Returns (Result, [launcher status
    dicts], notes)."""
    wl = ContainerStartRootless
    res = _new_result(wl)
    if not util.is_root():
        return res, _none_runnable(
            res, "the bench does not run as root: container_start is "
            "already the rootless start"), []
    if not os.path.isdir(ds.path("busybox")):
        return res, _none_runnable(
            res, "no busybox root file system (busybox-static missing)"), []
    pw, why, notes = rootless.ensure_user(user_name, may_create)
    if pw is None:
        return res, _none_runnable(res, why), notes
    user = None
    try:
        with rootless.fuse_open_to_all(notes):
            user = rootless.make_user_scratch(pw, scratch)
            # The user's own copy: it reads (and owns) every file.
            rootfs = os.path.join(user.base, "busybox")
            util.copy_tree(ds.path("busybox"), rootfs)
            user.chown_tree(rootfs)
            lns = rootless_launchers(build_dir, rootfs, user)
            try:
                status, more = _run_launchers(wl, res, lns, reps)
                notes += more
            finally:
                for ln in lns:
                    try:
                        ln.cleanup()
                    except BenchError as e:
                        notes.append("%s: clean-up: %s" % (ln.name, e))
                    notes.extend(getattr(ln, "cleanup_notes", []))
    finally:
        if user is not None:
            user.end_leftovers([user.base], notes)
            user.remove()
    notes.append("container_start_rootless ran as user %s (uid %d), its "
                 "files in a directory of its own, removed after"
                 % (pw.pw_name, pw.pw_uid))
    return res, status, notes
