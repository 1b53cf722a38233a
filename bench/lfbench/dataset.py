"""The benchmark's data, built once and cached under the cache directory,
keyed by its parameters.

Inside a dataset directory:

  base/            layer 0, shared by every implementation (it holds no
                   whiteouts): tree/ (the system tree), data/flat (the
                   flat directory), data/big (the large, sparse and fio
                   files), data/meta (the subtree for chown, chmod, rm)
  neutral/K        layers 1..4 without markers, K.json their plans
  layers/FMT/K     layers 1..4 in whiteout format FMT (built on demand)
  native/          the merged view, as plain directories
  stack/I          the layers of the scaling test (0 = bottom)
  deep-N/I         an N-layer image, each layer adding directories of
                   its own (0 = bottom; built on demand), and
                   deep-N/native, its merged view
  untar.tar        the archive of the untar workload
  lists/           path lists for the load helper
  busybox/         the root file system of the container-start test
  manifest.json    what every implementation must show (counts)
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess

from . import debootstrap, layering, treegen, whiteouts
from .util import BenchError, progress, run
from . import util

# Bumped whenever the generator changes what it writes.
GENERATOR_VERSION = 4

FULL = {
    "tree_files": 20000, "flat_entries": 100000, "big_bytes": 1 << 30,
    "sparse_bytes": 1 << 30, "fio_bytes": 256 << 20, "meta_files": 10000,
    "untar_files": 20000, "stacks": [1, 8, 32, 128, 500],
    "lookup_files": 10000, "seed": 1,
}
QUICK = {
    "tree_files": 600, "flat_entries": 2000, "big_bytes": 16 << 20,
    "sparse_bytes": 64 << 20, "fio_bytes": 8 << 20, "meta_files": 300,
    "untar_files": 400, "stacks": [1, 4, 16], "lookup_files": 400,
    "seed": 1,
}

TREE = "tree"
DOC_SUBTREE = "tree/usr/share/doc"
FLAT = "data/flat"
BIG = "data/big/large.bin"
SPARSE = "data/big/sparse.bin"
FIO = "data/big/fio.bin"
META = "data/meta"
LOOKUP_DIRS = 10


class Dataset:
    def __init__(self, root, params, kind, manifest):
        self.root = root
        self.params = params
        self.kind = kind
        self.manifest = manifest

    @property
    def base(self):
        return os.path.join(self.root, "base")

    @property
    def native(self):
        return os.path.join(self.root, "native")

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def image_layers(self, fmt):
        """The 5 layers of the image in format fmt, top first."""
        top = [self._format_layer(fmt, k) for k in (4, 3, 2, 1)]
        return top + [self.base]

    def stack_layers(self, n):
        """The n layers of a scaling stack, top first."""
        return [self.path("stack", str(i)) for i in range(n - 1, -1, -1)]

    def deep_layers(self, n):
        """The n layers of the image whose layers add directories of their
        own, top first, built the first time they are asked for."""
        d = self.path("deep-%d" % n)
        if not os.path.isdir(d):
            tmp = d + ".tmp"
            util.rmtree(tmp)
            _build_deep(tmp, n)
            os.rename(tmp, d)
        return [os.path.join(d, str(i)) for i in range(n - 1, -1, -1)]

    def deep_native(self, n):
        return self.path("deep-%d" % n, "native")

    def _format_layer(self, fmt, k):
        d = self.path("layers", fmt, str(k))
        if not os.path.isdir(d):
            if whiteouts.format_needs_root(fmt) and not util.is_root():
                raise BenchError("the %s whiteout format needs root" % fmt)
            with open(self.path("neutral", "%d.json" % k)) as f:
                plan = json.load(f)
            # The plan was written in the build directory, since renamed.
            plan["dir"] = self.path("neutral", str(k))
            tmp = d + ".tmp"
            util.rmtree(tmp)
            os.makedirs(os.path.dirname(d), exist_ok=True)
            layering.materialize(plan, fmt, tmp)
            os.rename(tmp, d)
        return d


def _key(params, kind):
    blob = json.dumps({"p": params, "k": kind, "v": GENERATOR_VERSION},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def open_dataset(cache_root, quick, kind="auto", mirror=None):
    """The cached dataset for these parameters, built when missing.

    kind: synthetic, debootstrap or auto (debootstrap when a Debian mirror
    answers, else synthetic; quick runs are always synthetic).
    Returns (Dataset, notes)."""
    params = dict(QUICK if quick else FULL)
    notes = []
    base_tree = None
    if kind == "auto":
        kind = "synthetic" if quick else "debootstrap"
        fallback = True
    else:
        fallback = False
    if kind == "debootstrap":
        base_tree, why = debootstrap.minbase_tree(
            cache_root, mirror or debootstrap.DEFAULT_MIRROR)
        if base_tree is None:
            if not fallback:
                raise BenchError(why)
            notes.append("dataset: synthetic tree (debootstrap not "
                         "possible: %s)" % why)
            kind = "synthetic"
        else:
            notes.append("dataset: Debian %s minbase from debootstrap"
                         % debootstrap.SUITE)
    else:
        notes.append("dataset: synthetic tree shaped like a Debian "
                     "minbase root")
    root = os.path.join(cache_root, "ds-%s-%s" % (kind, _key(params, kind)))
    if not os.path.exists(os.path.join(root, "manifest.json")):
        tmp = root + ".tmp"
        util.rmtree(tmp)
        os.makedirs(tmp)
        _build(tmp, params, kind, base_tree)
        os.rename(tmp, root)
    else:
        progress("dataset: cached in %s" % root)
    with open(os.path.join(root, "manifest.json")) as f:
        manifest = json.load(f)
    return Dataset(root, params, kind, manifest), notes


def _build(root, params, kind, base_tree):
    progress("dataset: building in %s" % root)
    seed = params["seed"]
    base = os.path.join(root, "base")
    os.makedirs(base)
    manifest = {"kind": kind, "params": params}
    if kind == "debootstrap":
        progress("dataset: copying the minbase tree")
        util.copy_tree(base_tree, os.path.join(base, TREE))
    else:
        progress("dataset: synthetic tree of %d files" % params["tree_files"])
        manifest["synthetic"] = treegen.gen_system_tree(
            os.path.join(base, TREE), params["tree_files"], seed)
    progress("dataset: %d-entry flat directory" % params["flat_entries"])
    treegen.gen_flat(os.path.join(base, FLAT), params["flat_entries"])
    progress("dataset: %d-file metadata subtree" % params["meta_files"])
    manifest["meta"] = treegen.gen_small_tree(
        os.path.join(base, META), params["meta_files"], 100, seed + 3,
        median=600, hi=4 << 10)
    progress("dataset: %d MiB file, %d MiB sparse file, %d MiB fio file" % (
        params["big_bytes"] >> 20, params["sparse_bytes"] >> 20,
        params["fio_bytes"] >> 20))
    os.makedirs(os.path.dirname(os.path.join(base, BIG)))
    treegen.gen_big_file(os.path.join(base, BIG), params["big_bytes"],
                         seed + 4)
    treegen.gen_sparse_file(os.path.join(base, SPARSE),
                            params["sparse_bytes"], seed + 5)
    treegen.gen_big_file(os.path.join(base, FIO), params["fio_bytes"],
                         seed + 6)

    progress("dataset: planning layers 1-4")
    tree_files = sum(1 for _ in _walk_files(os.path.join(base, TREE)))
    plans, view = layering.plan_layers(base, TREE,
                                       os.path.join(root, "neutral"),
                                       tree_files, seed + 8)
    manifest["layers"] = [{"whiteouts": len(p["whiteouts"]),
                           "opaques": len(p["opaques"]),
                           "rewritten": p["rewritten"],
                           "added": p["added"]} for p in plans]
    progress("dataset: native (flattened) tree")
    layering.flatten(base, plans, os.path.join(root, "native"), TREE, view)

    progress("dataset: scaling stacks up to %d layers" % max(params["stacks"]))
    _build_stacks(root, max(params["stacks"]), params["lookup_files"])
    progress("dataset: untar archive of %d files" % params["untar_files"])
    src = os.path.join(root, "untar-src")
    manifest["untar"] = treegen.gen_small_tree(
        os.path.join(src, "u"), params["untar_files"], 20, seed + 9)
    run(["tar", "-C", src, "-cf", os.path.join(root, "untar.tar"), "u"])
    shutil.rmtree(src)
    _build_busybox(os.path.join(root, "busybox"))
    _write_lists_and_manifest(root, manifest)


def _walk_files(top):
    for dirpath, dirnames, filenames in os.walk(top):
        for f in filenames:
            yield os.path.join(dirpath, f)


def _build_stacks(root, layers, files):
    """stack/0 holds `files` files in d/s0..s9; every layer above holds the
    same directories (so a lookup must look through each of them) and
    one file of its own."""
    for i in range(layers):
        top = os.path.join(root, "stack", str(i), "d")
        for s in range(LOOKUP_DIRS):
            os.makedirs(os.path.join(top, "s%d" % s))
        if i == 0:
            for n in range(files):
                p = os.path.join(top, "s%d" % (n % LOOKUP_DIRS),
                                 "f%05d" % n)
                with open(p, "w") as f:
                    f.write("bottom %d\n" % n)
        else:
            with open(os.path.join(top, "s%d" % (i % LOOKUP_DIRS),
                                   "layer%d" % i), "w") as f:
                f.write("layer %d\n" % i)


def _build_deep(root, n):
    """Layer i installs "package" i: files in directories that no other
    layer has (usr/share/doc/pkgI, usr/lib/pkgI, etc/pkgI), as an image
    built one package per step is.  Every seventh layer also changes the
    configuration of the package installed three layers below it, so
    some directories are held by two layers with others in between.
    native/ is the merged view, as plain directories."""
    def files_of(i):
        return {"usr/share/doc/pkg%d/copyright" % i: "copyright %d\n" % i,
                "usr/share/doc/pkg%d/changelog.gz" % i: "changes %d\n" % i,
                "usr/lib/pkg%d/libpkg%d.so" % (i, i): "lib %d\n" % i,
                "usr/lib/pkg%d/plugin.so" % i: "plugin %d\n" % i,
                "etc/pkg%d/pkg.conf" % i: "conf %d\n" % i}

    def write(top, rel, data):
        p = os.path.join(top, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(data)

    for i in range(n):
        for rel, data in files_of(i).items():
            write(os.path.join(root, str(i)), rel, data)
            write(os.path.join(root, "native"), rel, data)
        if i % 7 == 6:
            rel = "etc/pkg%d/pkg.conf" % (i - 3)
            data = "conf %d, changed by %d\n" % (i - 3, i)
            write(os.path.join(root, str(i)), rel, data)
            write(os.path.join(root, "native"), rel, data)


def busybox_binary():
    for b in (util.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if not b or not os.path.exists(b):
            continue
        try:
            r = subprocess.run(["file", "-L", b], capture_output=True,
                               text=True)
        except OSError:
            return b  # no file(1) to tell; busybox-static is the usual one
        if r.returncode != 0 or "static" in r.stdout:
            return b
    return None


def _build_busybox(rootfs):
    """A one-layer busybox root file system for the container-start test."""
    bb = busybox_binary()
    if bb is None:
        progress("dataset: busybox-static missing, no container image")
        return
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "run",
              "var/tmp"):
        os.makedirs(os.path.join(rootfs, d))
    shutil.copy2(bb, os.path.join(rootfs, "bin/busybox"))
    applets = run([bb, "--list"], timeout=30).stdout.decode().split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
    with open(os.path.join(rootfs, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(rootfs, "etc/group"), "w") as f:
        f.write("root:x:0:\n")


def _write_lists_and_manifest(root, manifest):
    native = os.path.join(root, "native")
    lists = os.path.join(root, "lists")
    os.makedirs(lists)
    entries = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(native, TREE)):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            entries.append(os.path.relpath(os.path.join(dirpath, n), native))
    with open(os.path.join(lists, "tree.list"), "w") as f:
        f.write("\n".join(entries) + "\n")
    files = manifest["params"]["lookup_files"]
    with open(os.path.join(lists, "lookup.list"), "w") as f:
        for n in range(files):
            f.write("d/s%d/f%05d\n" % (n % LOOKUP_DIRS, n))
    # What the walks must find: counted on the native tree with the same
    # commands the workloads run.
    manifest["tree_entries"] = len(entries) + 1
    grep = run(["grep", "-r", "-l", treegen.NEEDLE, DOC_SUBTREE],
               cwd=native, check=False)
    if grep.returncode not in (0, 1):
        raise BenchError("grep over the native tree failed: %s"
                         % util.last_line(grep.stderr))
    manifest["grep_matches"] = util.count_lines(grep.stdout)
    manifest["flat_entries"] = len(os.listdir(os.path.join(native, FLAT)))
    manifest["meta_entries"] = sum(
        len(d) + len(f) for _, d, f in os.walk(os.path.join(native, META)))
    # Data bytes of distinct inodes: tar stores a hard-linked file once.
    inodes = {}
    kinds = {"dirs": 0, "files": 0, "symlinks": 0, "other": 0}
    for rel in entries:
        st = os.lstat(os.path.join(native, rel))
        if stat.S_ISDIR(st.st_mode):
            kinds["dirs"] += 1
        elif stat.S_ISREG(st.st_mode):
            kinds["files"] += 1
            inodes[(st.st_dev, st.st_ino)] = st.st_size
        elif stat.S_ISLNK(st.st_mode):
            kinds["symlinks"] += 1
        else:
            kinds["other"] += 1
    manifest["tree_bytes"] = sum(inodes.values())
    manifest["tree_kinds"] = kinds
    st = os.stat(os.path.join(native, SPARSE))
    manifest["sparse_allocated"] = st.st_blocks * 512
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
