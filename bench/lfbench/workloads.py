"""The workloads: what each one runs, on which data, and how its result
is checked.

Every workload runs on a fresh mount with an empty upper layer (for
native, on the plain merged tree, or on a fresh copy of the part it
changes).  Each measurement is checked against what the native tree
gives, so a fast but wrong answer is reported as an error, not a number.
"""

import json
import os
import signal
import stat
import subprocess
import time

from . import dataset as D
from . import treegen, util
from .util import BenchError

SECONDS = "s"
IOPS = "IOPS"
MIBS = "MiB/s"
MIB = "MiB"


class Workload:
    name = ""
    title = ""
    group = ""
    unit = SECONDS
    better = "lower"
    cache = "warm"         # cold: caches dropped after the fresh mount
    kinds = ("native", "kernel", "fuse")
    # None: the pristine native tree; a list: a fresh scratch root with
    # copies of these paths.
    native_copy = None
    mounts_itself = False  # the workload mounts and unmounts on its own
    read_only = False      # mounted without an upper layer
    needs_root = False
    wants_stats = False    # layerfs mounted with -o stats=FILE
    timeout = 1800

    def layers(self, ds, impl):
        return ds.image_layers(impl.fmt)

    def native_root(self, ds):
        return ds.native

    def prepare_once(self, ds, ctx):
        """Untimed work done once before the repetitions."""

    def warmup(self, t, ds, ctx):
        """Untimed work on the fresh view before the measurement."""

    def measure(self, t, ds, ctx):
        """Returns (value, details); raises BenchError on a wrong result."""
        raise NotImplementedError

    def restore_native(self, ds):
        """Undoes a change made to the pristine native tree."""

    def describe(self):
        return self.title


def _sh(cmd, t, timeout):
    return util.timed(["bash", "-o", "pipefail", "-c", cmd], cwd=t.root,
                      timeout=timeout)


def _check(r, what):
    if r.returncode != 0:
        raise BenchError("%s failed (exit %d): %s" % (
            what, r.returncode, util.last_line(r.stderr)))


def _expect(got, want, what):
    if got != want:
        raise BenchError("%s: got %s, expected %s" % (what, got, want))


class StatWalk(Workload):
    group = "metadata"
    command = "find tree -printf '%y %s %m %U %G %T@\\n'"

    def __init__(self, cache):
        self.cache = cache
        self.name = "stat_walk_" + cache
        self.title = "stat walk of the tree, %s cache: `%s`" % (
            cache, self.command)

    def warmup(self, t, ds, ctx):
        if self.cache == "warm":
            _check(_sh(self.command + " > /dev/null", t, self.timeout)[1],
                   "find")

    def measure(self, t, ds, ctx):
        secs, r = _sh(self.command, t, self.timeout)
        _check(r, "find")
        _expect(util.count_lines(r.stdout), ds.manifest["tree_entries"],
                "entries found")
        return secs, {}


class FlatList(Workload):
    group = "metadata"
    cache = "cold"

    def __init__(self, long_format):
        self.long = long_format
        n = "100k"
        if long_format:
            self.name = "ls_l_%s_cold" % n
            self.cmd = "ls -l " + D.FLAT
        else:
            self.name = "readdir_%s_cold" % n
            self.cmd = "ls -f -1 " + D.FLAT
        self.title = "`%s` of the flat directory, cold cache" % self.cmd

    def measure(self, t, ds, ctx):
        secs, r = _sh(self.cmd, t, self.timeout)
        _check(r, "ls")
        # ls -l adds a "total" line; ls -f lists . and .. too.
        extra = 1 if self.long else 2
        _expect(util.count_lines(r.stdout) - extra,
                ds.manifest["flat_entries"], "entries listed")
        return secs, {}


class ReadAll(Workload):
    group = "data"
    # wc -c reads the stream as cat would; tar skips reading the files
    # when its output is /dev/null.
    cmd = "tar -C tree -cf - . | wc -c"

    def __init__(self, read_only=False):
        self.read_only = read_only
        self.name = "read_all_warm" + ("_ro" if read_only else "")
        self.title = "read every file, warm cache: `tar -cf - . | wc -c` " \
            "in the tree" + (", read-only mount (no upper layer)"
                             if read_only else "")

    def warmup(self, t, ds, ctx):
        _check(_sh(self.cmd, t, self.timeout)[1], "tar")

    def measure(self, t, ds, ctx):
        secs, r = _sh(self.cmd, t, self.timeout)
        _check(r, "tar")
        got = int(r.stdout.split()[0])
        if got < ds.manifest["tree_bytes"]:
            raise BenchError("tar stream of %d bytes is shorter than the "
                             "tree's %d bytes of data"
                             % (got, ds.manifest["tree_bytes"]))
        return secs, {"bytes": got}


class GrepR(Workload):
    group = "data"
    cmd = "grep -r -l %s %s" % (treegen.NEEDLE, D.DOC_SUBTREE)

    def __init__(self, read_only=False):
        self.read_only = read_only
        self.name = "grep_r_warm" + ("_ro" if read_only else "")
        self.title = "`grep -r` over the documentation subtree, warm " \
            "cache" + (", read-only mount" if read_only else "")

    def warmup(self, t, ds, ctx):
        _sh(self.cmd, t, self.timeout)

    def measure(self, t, ds, ctx):
        secs, r = _sh(self.cmd, t, self.timeout)
        if r.returncode not in (0, 1):
            _check(r, "grep")
        _expect(util.count_lines(r.stdout), ds.manifest["grep_matches"],
                "files matched")
        return secs, {}


class Untar(Workload):
    name = "untar_20k_sync"
    group = "write"
    native_copy = []
    title = "untar the 20k-file archive into the mount, then `sync`"

    def measure(self, t, ds, ctx):
        secs, r = _sh("tar -xf %s && sync" % ds.path("untar.tar"), t,
                      self.timeout)
        _check(r, "tar -x")
        files = sum(len(f) for _, _, f in os.walk(os.path.join(t.root, "u")))
        _expect(files, ds.manifest["untar"]["files"], "files extracted")
        return secs, {}


class Append(Workload):
    group = "copy-up"
    # The native case appends to the pristine file and truncates it back.

    def __init__(self, sparse):
        self.sparse = sparse
        self.rel = D.SPARSE if sparse else D.BIG
        self.name = "append_1b_sparse_1gib" if sparse else "append_1b_1gib"
        self.title = "append 1 byte to the %s lower file (copy-up)" % (
            "1 GiB sparse" if sparse else "1 GiB")

    def _size(self, ds):
        return ds.params["sparse_bytes" if self.sparse else "big_bytes"]

    def measure(self, t, ds, ctx):
        secs, r = _sh("printf x >> " + self.rel, t, self.timeout)
        _check(r, "append")
        _expect(os.stat(os.path.join(t.root, self.rel)).st_size,
                self._size(ds) + 1, "size after append")
        details = {}
        if t.upper:
            st = os.stat(os.path.join(t.upper, self.rel))
            details["upper_allocated"] = st.st_blocks * 512
            if self.sparse:
                # The lower file has 3 MiB of data: anything near that
                # means the copy kept the holes.
                details["holes_kept"] = st.st_blocks * 512 < \
                    4 * ds.manifest["sparse_allocated"]
        return secs, details

    def restore_native(self, ds):
        os.truncate(os.path.join(ds.native, self.rel), self._size(ds))


class MetaChange(Workload):
    group = "copy-up"
    native_copy = [D.META]

    def __init__(self, op):
        self.op = op
        self.name = "%s_10k" % op
        if op == "chown_r":
            self.cmd = "chown -R 4242:4242 " + D.META
            self.needs_root = True
        elif op == "chmod_r":
            self.cmd = "chmod -R g+w " + D.META
        else:
            self.cmd = "rm -rf " + D.META
        self.title = "`%s` of the 10k-file lower subtree" % self.cmd

    def measure(self, t, ds, ctx):
        secs, r = _sh(self.cmd, t, self.timeout)
        _check(r, self.op)
        top = os.path.join(t.root, D.META)
        if self.op == "rm_rf":
            if os.path.lexists(top) or "meta" in os.listdir(
                    os.path.join(t.root, "data")):
                raise BenchError("%s still visible after rm -rf" % D.META)
            return secs, {}
        seen = 0
        for dirpath, dirnames, filenames in os.walk(top):
            for n in filenames[:3]:
                st = os.lstat(os.path.join(dirpath, n))
                ok = st.st_uid == 4242 if self.op == "chown_r" else \
                    bool(st.st_mode & stat.S_IWGRP)
                if not ok:
                    raise BenchError("%s not changed by %s" % (
                        os.path.join(dirpath, n), self.op))
                seen += 1
        if seen == 0:
            raise BenchError("no file found under %s" % D.META)
        return secs, {}


class Fio(Workload):
    group = "data"

    def __init__(self, mode):
        self.mode = mode
        self.name = {"randread": "fio_randread_4k", "read": "fio_seqread",
                     "write": "fio_seqwrite"}[mode]
        self.unit = IOPS if mode == "randread" else MIBS
        self.better = "higher"
        if mode == "write":
            self.native_copy = []
        self.title = {
            "randread": "fio 4 KiB random reads of a lower file, warm",
            "read": "fio 1 MiB sequential reads of a lower file, warm",
            "write": "fio 1 MiB sequential writes of a new file, fsync at "
                     "the end"}[mode]

    def _args(self, ds):
        size = ds.params["fio_bytes"]
        args = ["fio", "--name=" + self.name, "--ioengine=psync",
                "--output-format=json", "--invalidate=0"]
        if self.mode == "randread":
            args += ["--filename=" + D.FIO, "--readonly", "--rw=randread",
                     "--bs=4k", "--size=%d" % size,
                     "--io_size=%d" % min(size, 64 << 20)]
        elif self.mode == "read":
            args += ["--filename=" + D.FIO, "--readonly", "--rw=read",
                     "--bs=1M", "--size=%d" % size]
        else:
            args += ["--filename=fio-write.bin", "--rw=write", "--bs=1M",
                     "--size=%d" % size, "--end_fsync=1"]
        return args

    def warmup(self, t, ds, ctx):
        if self.mode != "write":
            _check(_sh("cat %s > /dev/null" % D.FIO, t, self.timeout)[1],
                   "cat")

    def measure(self, t, ds, ctx):
        secs, r = util.timed(self._args(ds), cwd=t.root,
                             timeout=self.timeout)
        _check(r, "fio")
        try:
            job = json.loads(r.stdout)["jobs"][0]
        except (ValueError, KeyError, IndexError):
            raise BenchError("fio printed no JSON result")
        if job.get("error"):
            raise BenchError("fio job error %s" % job["error"])
        side = job["write" if self.mode == "write" else "read"]
        if self.mode == "randread":
            return side["iops"], {"seconds": secs}
        return side["bw_bytes"] / float(1 << 20), {"seconds": secs}


class Parallel(Workload):
    group = "parallel"

    def __init__(self, procs):
        self.procs = procs
        self.name = "parallel_statread_%dp" % procs
        self.title = "lstat and read every tree entry, split among %d " \
            "processes, warm" % procs

    def _run(self, t, ds, ctx, procs):
        secs, r = util.timed([ctx.walker, "-j", str(procs), "-r",
                              ds.path("lists", "tree.list"), t.root],
                             timeout=self.timeout)
        _check(r, "lfb-walk")
        return secs, r

    def warmup(self, t, ds, ctx):
        self._run(t, ds, ctx, 2)

    def measure(self, t, ds, ctx):
        secs, r = self._run(t, ds, ctx, self.procs)
        _expect(int(r.stdout.split()[1]), ds.manifest["tree_entries"] - 1,
                "entries walked")
        return secs, {}


class MountCycle(Workload):
    name = "mount_umount_5layers"
    group = "mount"
    kinds = ("kernel", "fuse")
    mounts_itself = True
    title = "mount the 5-layer image (empty upper), then unmount; the " \
        "daemon's exit included"

    def measure(self, t, ds, ctx):
        impl = t.impl
        up, work, mnt = ctx.fresh_mount_dirs()
        layers = ds.image_layers(impl.fmt)
        secs_m, m = _clocked(lambda: impl.mount(layers, up, work, mnt))
        pid = m.pid
        secs_u, _ = _clocked(lambda: impl.unmount(m))
        return secs_m + secs_u, {"mount": secs_m, "unmount": secs_u,
                                 "pid_seen": pid is not None}


def _clocked(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


class DaemonRss(Workload):
    name = "daemon_rss_after_walks"
    group = "memory"
    unit = MIB
    kinds = ("fuse",)
    wants_stats = True
    title = "FUSE daemon peak RSS (VmHWM) after a stat walk of the whole " \
        "mount and a read of every tree file"

    def measure(self, t, ds, ctx):
        if not t.pid:
            raise BenchError("no daemon pid")
        at_mount = util.vm_kib(t.pid, "VmRSS")
        secs, r = _sh("find . -printf '%s\\n' | wc -l && "
                      "tar -C tree -cf - . | wc -c > /dev/null", t,
                      self.timeout)
        _check(r, "walks")
        entries = int(r.stdout.split()[0])
        after_walk = util.vm_kib(t.pid, "VmRSS")
        details = {"entries": entries, "rss_at_mount_kib": at_mount,
                   "rss_after_walks_kib": after_walk,
                   # What each node the kernel holds costs the daemon.
                   "bytes_per_entry": (after_walk - at_mount) * 1024.0 /
                   max(entries, 1)}
        if t.stats_file:
            details["nodes_after_walks"] = _layerfs_nodes(t)
        if ctx.can_drop:
            # The kernel forgets its inodes; a daemon that honours the
            # forgets frees its nodes (how much goes back to the system
            # is up to its allocator).
            util.drop_caches()
            details["rss_after_drop_kib"] = util.settled_rss_kib(t.pid)
            if t.stats_file:
                details["nodes_after_drop"] = _layerfs_nodes(t)
        return util.vm_kib(t.pid, "VmHWM") / 1024.0, details


def _layerfs_nodes(t):
    """The node count layerfs writes to its statistics file on SIGUSR1."""
    def version():
        try:
            st = os.stat(t.stats_file)
            return st.st_ino, st.st_mtime_ns
        except FileNotFoundError:
            return None
    before = version()
    os.kill(t.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if version() not in (before, None):
                with open(t.stats_file) as f:
                    return json.load(f)["nodes"]
        except (FileNotFoundError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    raise BenchError("layerfs wrote no statistics to %s after SIGUSR1"
                     % t.stats_file)


class Lookup(Workload):
    group = "scaling"

    def __init__(self, nlayers, nfiles):
        self.n = nlayers
        self.name = "lookup_10k_%dlayers" % nlayers
        self.title = "lstat %d files of the bottom layer of a %d-layer " \
            "stack, fresh mount" % (nfiles, nlayers)

    def layers(self, ds, impl):
        return ds.stack_layers(self.n)

    def native_root(self, ds):
        return ds.path("stack", "0")

    def prepare_once(self, ds, ctx):
        # The layer directories themselves are cached, so the time is the
        # union's own lookup cost.
        for layer in ds.stack_layers(self.n):
            util.run(["find", layer, "-printf", "%s\n"],
                     stdout=subprocess.DEVNULL)

    def measure(self, t, ds, ctx):
        secs, r = util.timed([ctx.walker, "-j", "1",
                              ds.path("lists", "lookup.list"), t.root],
                             timeout=self.timeout)
        _check(r, "lfb-walk")
        _expect(int(r.stdout.split()[1]), ds.params["lookup_files"],
                "files found")
        return secs, {}


class DeepImageWalk(Workload):
    """A many-layer image where each layer adds directories of its own:
    what a union pays for the layers a directory is absent from."""
    group = "metadata"
    command = "find . -printf '%y %s %m %U %G %T@\\n'"

    def __init__(self, nlayers):
        self.n = nlayers
        self.name = "deep_image_walk"
        self.title = "stat walk of a %d-layer image whose every layer adds " \
            "directories of its own, fresh mount: `%s`" % (nlayers,
                                                          self.command)

    def layers(self, ds, impl):
        return ds.deep_layers(self.n)

    def native_root(self, ds):
        return ds.deep_native(self.n)

    def prepare_once(self, ds, ctx):
        # Built if missing; the layer directories are then cached, so the
        # time is the union's own.
        for layer in ds.deep_layers(self.n):
            util.run(["find", layer, "-printf", "%s\n"],
                     stdout=subprocess.DEVNULL)
        # find prints "." and every entry below it.
        self.entries = 1 + sum(len(d) + len(f) for _, d, f in
                               os.walk(ds.deep_native(self.n)))

    def measure(self, t, ds, ctx):
        secs, r = _sh(self.command, t, self.timeout)
        _check(r, "find")
        _expect(util.count_lines(r.stdout), self.entries, "entries found")
        return secs, {}


def all_workloads(ds_params):
    wl = [StatWalk("cold"), StatWalk("warm"), FlatList(False), FlatList(True),
          ReadAll(), GrepR(), ReadAll(True), GrepR(True), Untar(), Append(False), Append(True),
          MetaChange("chown_r"), MetaChange("chmod_r"), MetaChange("rm_rf"),
          Fio("randread"), Fio("read"), Fio("write")]
    wl += [Parallel(p) for p in (1, 2, 4, 8)]
    wl += [DeepImageWalk(min(128, max(ds_params["stacks"])))]
    wl += [MountCycle(), DaemonRss()]
    wl += [Lookup(n, ds_params["lookup_files"]) for n in ds_params["stacks"]]
    return wl


# For --only and the documentation, before a dataset is opened.
def workload_names(stacks=None):
    stacks = stacks or D.FULL["stacks"]
    return [w.name for w in all_workloads(dict(D.FULL, stacks=stacks))]
