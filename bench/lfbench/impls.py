"""The implementations under test: how each is found, mounted, unmounted
and described.

Every union implementation runs with its own defaults; the only options
given are the layers.  FUSE daemons are started the way a user starts
them (they detach once the mount is ready), and their pid is found from
the process table for the memory measurement.
"""

import os
import subprocess

from . import util
from .util import BenchError


class Mounted:
    """A view of the data: a mount (or, for native, a plain directory)."""

    def __init__(self, impl, root, upper=None, pid=None, stats_file=None):
        self.impl = impl
        self.root = root
        self.upper = upper
        self.pid = pid
        # layerfs only: its statistics (node count), written on SIGUSR1.
        self.stats_file = stats_file


def dpkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout else None


class Impl:
    name = ""
    label = ""
    kind = ""          # native, kernel or fuse
    fmt = None         # whiteout format of the layers it is given
    package = None     # Debian package providing it
    daemon_names = ()

    def unavailable(self):
        """None when it can run here, else the reason."""
        return None

    def version(self):
        return dpkg_version(self.package) if self.package else None

    def options(self):
        return ""

    def mount(self, lowers, upper, work, mnt, stats_file=None):
        """Mounts; stats_file asks layerfs for its statistics file (the
        other implementations have none and ignore it)."""
        raise NotImplementedError

    def unmount(self, m):
        """Unmounts and waits for the daemon (if any) to exit."""
        cmd = ["umount", m.root] if util.is_root() else \
            [self.fusermount(), "-u", m.root]
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=300)
        except subprocess.TimeoutExpired:
            r = subprocess.CompletedProcess(cmd, 1, b"", b"timed out")
        if r.returncode != 0:
            util.force_unmount(m.root)
            if util.mounted_fstype(m.root) is not None:
                raise BenchError("cannot unmount %s: %s" % (
                    m.root, util.last_line(r.stderr)))
        if m.pid and not util.wait_pid_gone(m.pid, 60):
            raise BenchError("%s daemon %d did not exit after unmount"
                             % (self.name, m.pid))

    def fusermount(self):
        return "fusermount3"

    def _mount_cmd(self, args, mnt):
        r = util.run(args, check=False, timeout=300)
        if r.returncode != 0:
            raise BenchError("%s mount failed (exit %d): %s" % (
                self.name, r.returncode, util.last_line(r.stderr)))
        if util.mounted_fstype(mnt) is None:
            raise BenchError("%s exited 0 but nothing is mounted on %s"
                             % (self.name, mnt))
        return r

    def find_pid(self, mnt):
        if self.kind != "fuse":
            return None
        pid = util.find_daemon(self.daemon_names, mnt)
        if pid is None:
            raise BenchError("cannot find the %s daemon of %s"
                             % (self.name, mnt))
        return pid


class Native(Impl):
    name = "native"
    label = "native directories"
    kind = "native"

    def options(self):
        return "the merged tree as plain directories (the limit)"

    def version(self):
        return None


class KernelOverlay(Impl):
    name = "overlayfs"
    label = "kernel overlayfs"
    kind = "kernel"
    fmt = "overlay"

    def unavailable(self):
        if not util.is_root():
            return "mount -t overlay needs root"
        with open("/proc/filesystems") as f:
            if not any(x.split()[-1] == "overlay" for x in f):
                subprocess.run(["modprobe", "overlay"], capture_output=True)
        with open("/proc/filesystems") as f:
            if not any(x.split()[-1] == "overlay" for x in f):
                return "the kernel has no overlay filesystem"
        return None

    def version(self):
        return "kernel " + os.uname().release

    def options(self):
        return "kernel defaults (mount -t overlay -o lowerdir,upperdir," \
            "workdir)"

    def mount(self, lowers, upper, work, mnt, stats_file=None):
        cwd = None
        low = ":".join(lowers)
        # Mount options must fit in one page: deep stacks use paths
        # relative to their common parent.
        if len(low) > 3000:
            cwd = os.path.commonpath(lowers)
            low = ":".join(os.path.relpath(p, cwd) for p in lowers)
        opts = "lowerdir=" + low
        if upper:
            opts += ",upperdir=%s,workdir=%s" % (upper, work)
        r = util.run(["mount", "-t", "overlay", "overlay", "-o", opts, mnt],
                     check=False, cwd=cwd, timeout=300)
        if r.returncode != 0:
            raise BenchError("overlayfs mount failed: %s"
                             % util.last_line(r.stderr))
        return Mounted(self, mnt, upper)


class FuseOverlayfs(Impl):
    name = "fuse-overlayfs"
    label = "fuse-overlayfs"
    kind = "fuse"
    package = "fuse-overlayfs"
    daemon_names = ("fuse-overlayfs",)

    def __init__(self):
        # Character-device whiteouts and trusted.* xattrs need root;
        # fuse-overlayfs reads the .wh. form as well.
        self.fmt = "overlay" if util.is_root() else "dotwh"

    def unavailable(self):
        if not util.which("fuse-overlayfs"):
            return "fuse-overlayfs is not installed"
        return None

    def options(self):
        return "defaults (-o lowerdir,upperdir,workdir); layers in the " \
            "%s whiteout format" % self.fmt

    def mount(self, lowers, upper, work, mnt, stats_file=None):
        opts = "lowerdir=" + ":".join(lowers)
        if upper:
            opts += ",upperdir=%s,workdir=%s" % (upper, work)
        self._mount_cmd(["fuse-overlayfs", "-o", opts, mnt], mnt)
        return Mounted(self, mnt, upper, self.find_pid(mnt))


class UnionfsFuse(Impl):
    name = "unionfs-fuse"
    label = "unionfs-fuse"
    kind = "fuse"
    fmt = "unionfs"
    package = "unionfs-fuse"
    daemon_names = ("unionfs-fuse", "unionfs")

    def unavailable(self):
        if not util.which("unionfs-fuse"):
            return "unionfs-fuse is not installed"
        return None

    def fusermount(self):
        # Debian 12's unionfs-fuse is built on libfuse2.
        return "fusermount" if util.which("fusermount") else "fusermount3"

    def options(self):
        return "-o cow (copy-on-write), other defaults; layers with " \
            ".unionfs-fuse/*_HIDDEN~ whiteouts"

    def mount(self, lowers, upper, work, mnt, stats_file=None):
        branches = ([upper + "=RW"] if upper else []) + \
            [p + "=RO" for p in lowers]
        args = ["unionfs-fuse"]
        if upper:
            args += ["-o", "cow"]
        self._mount_cmd(args + [":".join(branches), mnt], mnt)
        return Mounted(self, mnt, upper, self.find_pid(mnt))


class Layerfs(Impl):
    name = "layerfs"
    label = "layerfs"
    kind = "fuse"
    fmt = "dotwh"
    daemon_names = ("layerfs",)

    def __init__(self, binary):
        self.binary = binary

    def unavailable(self):
        if not os.access(self.binary, os.X_OK):
            return "%s is missing (run make)" % self.binary
        return None

    def version(self):
        r = subprocess.run([self.binary, "-V"], capture_output=True,
                           text=True)
        v = (r.stdout or r.stderr).strip().splitlines()
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(
                                 __file__)))
        out = v[0] if v else "layerfs"
        if rev.returncode == 0:
            out += " (git %s)" % rev.stdout.strip()
        return out

    def options(self):
        return "defaults (-o lowerdir,upperdir,workdir); layers in the " \
            "OCI .wh. format"

    def mount(self, lowers, upper, work, mnt, stats_file=None):
        opts = "lowerdir=" + ":".join(lowers)
        if upper:
            opts += ",upperdir=%s,workdir=%s" % (upper, work)
        if stats_file:
            # Only names where the counters it always keeps are written.
            opts += ",stats=" + stats_file
        if os.environ.get("LFS_BENCH_OPTS"):
            opts += "," + os.environ["LFS_BENCH_OPTS"]
        self._mount_cmd([self.binary, "-o", opts, mnt], mnt)
        return Mounted(self, mnt, upper, self.find_pid(mnt), stats_file)


def all_impls(build_dir):
    return [Native(), KernelOverlay(), FuseOverlayfs(), UnionfsFuse(),
            Layerfs(os.path.join(build_dir, "layerfs"))]


IMPL_NAMES = ("native", "overlayfs", "fuse-overlayfs", "unionfs-fuse",
              "layerfs")
