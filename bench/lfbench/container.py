"""Container start: `/bin/true` in a busybox container, from the command
to its exit, for each launcher.

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
"""

import os
import subprocess
import time

from . import machine, util
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


class Launcher:
    name = ""
    description = ""

    def unavailable(self):
        return None

    def prepare(self):
        """Untimed set-up before each run."""

    def command(self):
        raise NotImplementedError

    def run(self):
        self.prepare()
        secs, r = util.timed(self.command(), timeout=300)
        self.after()
        if r.returncode != 0:
            raise BenchError("%s exited %d: %s" % (
                self.name, r.returncode, util.last_line(r.stderr)))
        return secs

    def after(self):
        """Untimed clean-up after each run."""

    def version(self):
        return None


_BWRAP_ARGS = ["--unshare-all", "--die-with-parent", "--proc", "/proc",
               "--dev", "/dev"]


class BwrapDir(Launcher):
    name = "bwrap-dir"
    description = "bwrap --unshare-all --bind ROOTFS / ... /bin/true"

    def __init__(self, rootfs):
        self.rootfs = rootfs

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

    def __init__(self, rootfs, scratch):
        self.rootfs = rootfs
        self.scratch = scratch

    def unavailable(self):
        for tool in ("bwrap", "fuse-overlayfs"):
            if not util.which(tool):
                return "%s is not installed" % tool
        return None

    def prepare(self):
        for d in ("upper", "work", "mnt"):
            util.fresh_dir(os.path.join(self.scratch, d))

    def run(self):
        """Mount, run, unmount and the daemon's exit are timed; finding the
        daemon's pid between them is not."""
        self.prepare()
        s = self.scratch
        mnt = os.path.join(s, "mnt")
        secs_m, r = util.timed([
            "fuse-overlayfs", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (
                self.rootfs, os.path.join(s, "upper"),
                os.path.join(s, "work")), mnt], timeout=120)
        if r.returncode != 0:
            raise BenchError("fuse-overlayfs exited %d: %s" % (
                r.returncode, util.last_line(r.stderr)))
        pid = util.find_daemon(("fuse-overlayfs",), mnt)
        try:
            secs_r, r = util.timed(["bwrap", "--bind", mnt, "/"] +
                                   _BWRAP_ARGS + ["/bin/true"], timeout=120)
        finally:
            um = ["umount", mnt] if util.is_root() else \
                ["fusermount3", "-u", mnt]
            secs_u, ru = util.timed(um, timeout=120)
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

    def __init__(self, binary, rootfs):
        self.binary = binary
        self.rootfs = rootfs

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


class LayerrunImage(LayerrunLower):
    """The form issue 9 sets a target for: an image directory made by
    `layertool import` from a tarball of the root file system (the import
    is done once, untimed, in the run's scratch directory)."""
    name = "layerrun"
    description = "layerrun run --rm IMAGE /bin/true (IMAGE from " \
        "layertool import of the busybox root)"

    def __init__(self, binary, layertool, rootfs, scratch):
        super().__init__(binary, rootfs)
        self.layertool = layertool
        self.image = os.path.join(scratch, "image")

    def unavailable(self):
        why = super().unavailable()
        if why:
            return why
        if not os.access(self.layertool, os.X_OK):
            return "%s is missing (run make)" % self.layertool
        util.rmtree(os.path.dirname(self.image))
        os.makedirs(os.path.dirname(self.image))
        tar = self.image + ".tar"
        util.run(["tar", "-C", self.rootfs, "-cf", tar, "."], timeout=300)
        r = util.run([self.layertool, "import", tar, self.image],
                     check=False, timeout=300)
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


def run_container_start(ds, build_dir, scratch, cache_root, reps):
    """Returns (Result, [launcher status dicts], notes)."""
    res = Result(ContainerStart())
    la = machine.loadavg()
    res.load = la[0] if la else None
    status = []
    notes = []
    if not os.path.isdir(ds.path("busybox")):
        why = "no busybox root file system (busybox-static missing)"
        for ln in LAUNCHER_NAMES:
            status.append({"name": ln, "runnable": False, "reason": why})
        return res, status, notes
    ready = []
    for ln in launchers(ds, build_dir, scratch, cache_root):
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
        progress("container_start: %s (%d reps)" % (ContainerStart.title,
                                                    reps))
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
    return res, status, notes
