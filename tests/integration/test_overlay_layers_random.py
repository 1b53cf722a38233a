#!/usr/bin/env python3
"""Layers written by kernel overlayfs, at random, read by layerfs.

A seeded random base layer (nested directories, regular files of varied
sizes, empty ones and a few larger sparse ones, symlinks, hard links,
varied modes and owners, user.* xattrs) is changed by K (3 to 5) more
layers, each the upper directory of a kernel overlayfs mount made with
`metacopy=on,redirect_dir=on` over all the layers so far, through which
a random sequence of operations ran: chmod, chown, utimes, user.* xattrs
set and removed, appends and overwrites (some far past the end, making
holes), truncations, creations, unlinks, mkdir, rmdir, renames of files
in their directory and across directories (metadata-only copies with a
relative or absolute `trusted.overlay.redirect`), renames of directories
(directory redirects), symlinks and hard links.  Such layers hold what
the kernel writes and layerfs must read: metadata-only copies, chains of
them and of their redirects, 0/0 whiteouts, opaque and redirected
directories.

test_read_only: kernel overlayfs mounted read-only over all the layers
(`metacopy=on,redirect_dir=on`) and layerfs mounted over the same layers
read-only (with and without `file_handles=1`) and with a fresh upper
layer, before any change, must show the same tree (lfstest.snapshot:
names, types, modes, owners, sizes, contents, symlink targets, user.*
xattrs and the mtimes of non-directories).

test_random_writes: layerfs with a fresh upper layer over the layers
and kernel overlayfs read-write over the same layers (its own fresh
upper layer, `metacopy=on,redirect_dir=on,index=on`: hard links stay
one file after a copy-up, as in layerfs) run the same random
operations, in four batches; every operation must have the same outcome
(success, or the same errno) on both, and after each batch the trees
must be the same (no mtimes: the two write at different times).  After
every second batch layerfs is unmounted and mounted again on the same
upper layer, and the trees compared again.  Odd seeds mount layerfs
with `whiteout=overlay`, even ones with its default upper layer.

LFS_SEED=N sets the seed (default a fixed one, so that `make test` is
deterministic), LFS_OVL_OPS=N the number of operations per layer and per
batch (default 100), LFS_OVL_DIR_RENAMES=0 leaves directory renames out
of the operations (default 1: in).  What the kernel wrote in the layers
(metadata-only copies, file and directory redirects, whiteouts, opaque
directories) is counted on stderr.  A failure prints the seed and how
to replay it, the operations run (layer by layer, with their outcomes)
on stderr, the paths that differ with both sides' entries and what each
layer holds at the path the file's data is looked for at (the kernel's
marks, following the redirects of files), and the directories of the
layers that carry a redirect; it says when every difference lies in
such a directory or is a file whose data is looked for through one (a
matter of directory redirects).
"""

import errno
import os
import random
import stat
import sys
import time

import lfstest
import overlay_util as ovl
from lfstest import LayerfsTestCase, snapshot

DEFAULT_SEED = 4242
DEFAULT_OPS = 100
BUILD_OPTS = "metacopy=on,redirect_dir=on"
KERNEL_RW_OPTS = "metacopy=on,redirect_dir=on,index=on"
BATCHES = 4

NAMES = ("a", "b", "c", "d", "e", "f", "g", "data", "lib", "etc", "bin",
         "x", "y", "zz", "long-name.txt")
OWNERS = ((0, 0), (1000, 1000), (5, 7), (65534, 65534), (0, 1000))
FILE_MODES = (0o644, 0o600, 0o755, 0o640, 0o444, 0o700, 0o4755, 0o2755,
              0o000)
DIR_MODES = (0o755, 0o700, 0o775, 0o555, 0o1777, 0o2775)
XATTR_NAMES = ("user.a", "user.mime", "user.k")
# Symlink targets: relative without "..", or absolute under a directory
# that does not exist.  No operation follows a symlink anyway.
LINK_TARGETS = ("a", "b/c", "data", "lib/x", "nowhere-never",
                "/nonexistent-lfs-ovl/f", "zz/long-name.txt")


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


def data_of(n, dseed):
    return random.Random(dseed).randbytes(n)


def join(d, name):
    return d + "/" + name if d else name


# ---- the base layer ----

def write_file(path, rng):
    """A regular file of a random kind: empty, small, medium or large
    and sparse (data at a few offsets of a file up to 2 MiB)."""
    kind = rng.choices(("empty", "small", "medium", "sparse"),
                       (2, 4, 3, 1))[0]
    with open(path, "wb") as f:
        if kind == "small":
            f.write(rng.randbytes(rng.randint(1, 100)))
        elif kind == "medium":
            f.write(rng.randbytes(rng.randint(1000, 40000)))
        elif kind == "sparse":
            size = rng.randint(300 << 10, 2 << 20)
            f.truncate(size)
            for _ in range(rng.randint(1, 3)):
                f.seek(rng.randrange(size))
                f.write(rng.randbytes(rng.randint(1, 5000)))


def gen_base(root, rng):
    dirs = [""]
    for _ in range(rng.randint(5, 9)):
        d = join(rng.choice(dirs), rng.choice(NAMES))
        if d in dirs:
            continue
        if os.path.lexists(os.path.join(root, d)):
            continue
        os.mkdir(os.path.join(root, d))
        dirs.append(d)
    files = []
    for _ in range(rng.randint(15, 25)):
        p = join(rng.choice(dirs), rng.choice(NAMES))
        full = os.path.join(root, p)
        if os.path.lexists(full):
            continue
        write_file(full, rng)
        os.chmod(full, rng.choice(FILE_MODES))
        os.chown(full, *rng.choice(OWNERS))
        files.append(p)
    for _ in range(rng.randint(3, 6)):
        p = join(rng.choice(dirs), rng.choice(NAMES))
        full = os.path.join(root, p)
        if not os.path.lexists(full):
            os.symlink(rng.choice(LINK_TARGETS), full)
            os.chown(full, *rng.choice(OWNERS), follow_symlinks=False)
    for _ in range(rng.randint(2, 4)):
        if not files:
            break
        src = rng.choice(files)
        p = join(rng.choice(dirs), rng.choice(NAMES))
        full = os.path.join(root, p)
        if not os.path.lexists(full):
            os.link(os.path.join(root, src), full)
    for p in files + dirs[1:]:
        if rng.random() < 0.25:
            os.setxattr(os.path.join(root, p), rng.choice(XATTR_NAMES),
                        rng.randbytes(rng.randint(0, 30)))
    # Modes and owners of the directories last (mkdir's umask apart).
    for d in dirs[1:]:
        full = os.path.join(root, d)
        os.chmod(full, rng.choice(DIR_MODES))
        os.chown(full, *rng.choice(OWNERS))
        os.utime(full, ns=(rng.randint(1, 1 << 31) * 10**9,) * 2)


# ---- the operations ----

def entries(root):
    """(relative path, kind) of every entry under root, sorted: "d"
    directories, "l" symlinks, "f" the rest (regular files)."""
    out = []

    def walk(d, rel):
        for e in sorted(os.scandir(d), key=lambda e: e.name):
            r = join(rel, e.name)
            if e.is_symlink():
                out.append((r, "l"))
            elif e.is_dir():
                out.append((r, "d"))
                walk(e.path, r)
            else:
                out.append((r, "f"))
    walk(root, "")
    return out


class Generator:
    """Draws operations on the paths of a view (the kernel's, the
    reference): existing names of the kind the operation wants, mostly,
    or new names in an existing directory."""

    def __init__(self, rng, dir_renames):
        self.rng = rng
        self.dir_renames = dir_renames
        self.view = []
        self.hot = []

    def dirs(self):
        return [""] + [p for p, k in self.view if k == "d"]

    def new_name(self, d=None):
        if d is None:
            d = self.rng.choice(self.dirs())
        return join(d, self.rng.choice(NAMES))

    def pick(self, kinds="fdl", new=0.05):
        rng = self.rng
        cands = [p for p, k in self.view if k in kinds]
        hot = [p for p in self.hot if p in cands]
        r = rng.random()
        if r < new or not cands:
            p = self.new_name()
        elif r < new + 0.2 and hot:
            p = rng.choice(hot)
        else:
            p = rng.choice(cands)
        self.hot = (self.hot + [p])[-5:]
        return p

    def op(self):
        rng = self.rng
        ops = {"chmod": 10, "chown": 7, "utime": 5, "setxattr": 7,
               "rmxattr": 2, "append": 5, "pwrite": 5, "truncate": 4,
               "create": 6, "unlink": 5, "mkdir": 4, "rmdir": 3,
               "rename": 12, "symlink": 3, "link": 4}
        if self.dir_renames:
            ops["rename_dir"] = 6
        kind = rng.choices(list(ops), list(ops.values()))[0]
        if kind == "chmod":
            p = self.pick()
            dirs = {q for q, k in self.view if k == "d"}
            return (kind, p, rng.choice(DIR_MODES if p in dirs
                                        else FILE_MODES))
        if kind == "chown":
            return (kind, self.pick()) + rng.choice(OWNERS)
        if kind == "utime":
            t = rng.randint(1, 1 << 31) * 10**9 + rng.randrange(10**9)
            return (kind, self.pick(), t, t + rng.randint(0, 10**9))
        if kind == "setxattr":
            return (kind, self.pick("fd"), rng.choice(XATTR_NAMES),
                    rng.randbytes(rng.randint(0, 40)))
        if kind == "rmxattr":
            return (kind, self.pick("fd"), rng.choice(XATTR_NAMES))
        if kind == "append":
            return (kind, self.pick("f"),
                    rng.choice((rng.randint(1, 3000), 70000)),
                    rng.randrange(1 << 30))
        if kind == "pwrite":
            off = rng.choice((0, rng.randint(0, 9000),
                              rng.randint(0, 1 << 20)))
            return (kind, self.pick("f"), off,
                    rng.choice((1, 100, 4096, 9000)), rng.randrange(1 << 30))
        if kind == "truncate":
            return (kind, self.pick("f"),
                    rng.choice((0, rng.randint(1, 9000),
                                rng.randint(100 << 10, 1500 << 10))))
        if kind == "create":
            return (kind, self.pick("f", new=0.6),
                    rng.choice((0o644, 0o600, 0o755)),
                    rng.choice((0, 10, 3000)), rng.randrange(1 << 30),
                    rng.random() < 0.5)
        if kind == "unlink":
            return (kind, self.pick("fl" if rng.random() < 0.9 else "d"))
        if kind == "mkdir":
            return (kind, self.pick("d", new=0.8), rng.choice(DIR_MODES))
        if kind == "rmdir":
            return (kind, self.pick("d"))
        if kind == "rename":
            # A file (or symlink): in its directory, to another one, or
            # over another name.
            src = self.pick("fl")
            if src in {q for q, k in self.view if k == "d"}:
                # A new name that is a directory: renames of directories
                # are rename_dir's alone (LFS_OVL_DIR_RENAMES=0).
                src = join(src, "never-made")
            r = rng.random()
            if r < 0.4:
                dst = self.new_name(os.path.dirname(src))
            elif r < 0.85:
                dst = self.new_name()
            else:
                dst = self.pick("fl")
            return ("rename", src, dst)
        if kind == "rename_dir":
            src = self.pick("d")
            r = rng.random()
            if r < 0.75:
                dst = self.new_name()
            elif r < 0.85:
                dst = self.new_name(src)   # into itself: EINVAL
            else:
                dst = self.pick("d")       # over another (empty or not)
            return ("rename", src, dst)
        if kind == "symlink":
            return (kind, rng.choice(LINK_TARGETS), self.pick(new=0.7))
        if kind == "link":
            return (kind, self.pick("fl"), self.pick("f", new=0.7))
        raise AssertionError(kind)


def apply(root, op):
    """Runs op under root: ("ok",), ("ok", what it returned), or ("err",
    the errno's name)."""
    try:
        r = _apply(root, op)
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, e.errno))
    return ("ok",) if r is None else ("ok", r)


def _apply(root, op):
    kind = op[0]
    p = os.path.join(root, op[1])
    if kind == "chmod":
        # (chmod of a symlink's own mode does not exist on Linux)
        if stat.S_ISLNK(os.lstat(p).st_mode):
            return "a symlink"
        os.chmod(p, op[2])
    elif kind == "chown":
        os.chown(p, op[2], op[3], follow_symlinks=False)
    elif kind == "utime":
        os.utime(p, ns=(op[2], op[3]), follow_symlinks=False)
    elif kind == "setxattr":
        os.setxattr(p, op[2], op[3], follow_symlinks=False)
    elif kind == "rmxattr":
        os.removexattr(p, op[2], follow_symlinks=False)
    elif kind in ("append", "pwrite", "truncate"):
        flags = os.O_WRONLY | os.O_NOFOLLOW
        if kind == "append":
            flags |= os.O_APPEND
        fd = os.open(p, flags)
        try:
            if kind == "append":
                os.write(fd, data_of(op[2], op[3]))
            elif kind == "pwrite":
                os.pwrite(fd, data_of(op[3], op[4]), op[2])
            else:
                os.ftruncate(fd, op[2])
            return os.fstat(fd).st_size
        finally:
            os.close(fd)
    elif kind == "create":
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | \
            (os.O_EXCL if op[5] else os.O_TRUNC)
        fd = os.open(p, flags, op[2])
        try:
            os.write(fd, data_of(op[3], op[4]))
        finally:
            os.close(fd)
    elif kind == "unlink":
        os.unlink(p)
    elif kind == "mkdir":
        os.mkdir(p, op[2])
    elif kind == "rmdir":
        os.rmdir(p)
    elif kind == "rename":
        os.rename(p, os.path.join(root, op[2]))
    elif kind == "symlink":
        os.symlink(op[1], os.path.join(root, op[2]))
    elif kind == "link":
        os.link(p, os.path.join(root, op[2]))
    else:
        raise AssertionError(kind)
    return None


def fmt_op(op):
    return "(%s)" % ", ".join(
        "0o%o" % v if i == 2 and op[0] in ("chmod", "mkdir", "create")
        else repr(v) for i, v in enumerate(op))


# ---- trees ----

def tree(root, times=False):
    """lfstest.snapshot of root with user xattrs (and the mtimes of
    non-directories, with times), the error in the entry of a file that
    cannot be read."""
    snap = snapshot(root, xattrs=True, times=times, tolerant=True)
    if times:
        # A merged directory's mtime is its upper layer's on both, but
        # the directories of a fresh upper layer are made when first
        # written: not compared.
        for e in snap.values():
            if e.get("type") == stat.S_IFDIR:
                e.pop("mtime", None)
    return snap


def layer_redirects(layers):
    """(layer, relative path, redirect) of every directory in the layers
    that carries trusted.overlay.redirect: the kernel renamed it."""
    out = []
    for layer in layers:
        for dirpath, dirnames, _ in os.walk(layer):
            for d in dirnames:
                full = os.path.join(dirpath, d)
                try:
                    r = os.getxattr(full, "trusted.overlay.redirect",
                                    follow_symlinks=False)
                except OSError:
                    continue
                out.append((os.path.basename(layer),
                            os.path.relpath(full, layer), r))
    return out


def overlay_marks(path):
    """The kernel's marks on one entry of a layer, as text."""
    out = []
    for name in ("metacopy", "redirect", "opaque", "origin", "impure"):
        try:
            v = os.getxattr(path, "trusted.overlay." + name,
                            follow_symlinks=False)
        except OSError:
            continue
        out.append(name if name in ("origin", "impure") or not v
                   else "%s=%r" % (name, v))
    return out


def data_path(layers, rel):
    """The layers' entries a file's data is looked for at, from the top
    (the path as it is in each layer, following the kernel's redirects
    of metadata-only copies, not those of directories): a list of
    (layer name, path, what is there)."""
    out = []
    for layer in layers:
        full = os.path.join(layer, rel)
        try:
            st = os.lstat(full)
        except OSError:
            out.append((os.path.basename(layer), rel, "-"))
            continue
        marks = overlay_marks(full)
        kind = "dir" if stat.S_ISDIR(st.st_mode) else \
            "whiteout" if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 else \
            "symlink" if stat.S_ISLNK(st.st_mode) else \
            "file (%d bytes, %d blocks)" % (st.st_size, st.st_blocks)
        out.append((os.path.basename(layer), rel,
                    " ".join([kind] + marks)))
        if not stat.S_ISREG(st.st_mode) or not any(
                m.startswith("metacopy") for m in marks):
            break
        try:
            r = os.fsdecode(os.getxattr(full, "trusted.overlay.redirect"))
        except OSError:
            continue
        rel = r.lstrip("/") if r.startswith("/") else \
            join(os.path.dirname(rel), r)
    return out


def layer_stats(layer):
    """What the kernel wrote in a layer: counts of metadata-only copies,
    files and directories with a redirect, whiteouts and opaque
    directories."""
    n = dict.fromkeys(("metacopy", "file redirect", "dir redirect",
                       "whiteout", "opaque"), 0)
    for dirpath, dirnames, filenames in os.walk(layer):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                n["whiteout"] += 1
            if stat.S_ISLNK(st.st_mode):
                continue
            marks = overlay_marks(full)
            isdir = stat.S_ISDIR(st.st_mode)
            for m in marks:
                if m.startswith("metacopy"):
                    n["metacopy"] += 1
                elif m.startswith("redirect"):
                    n["dir redirect" if isdir else "file redirect"] += 1
                elif m.startswith("opaque"):
                    n["opaque"] += 1
    return n


class OverlayLayersRandom(LayerfsTestCase):

    def setUp(self):
        super().setUp()
        self.require_kernel_overlay()
        self.seed = env_int("LFS_SEED", DEFAULT_SEED)
        self.nops = env_int("LFS_OVL_OPS", DEFAULT_OPS)
        self.dir_renames = os.environ.get("LFS_OVL_DIR_RENAMES", "1") != "0"
        print("\n%s: LFS_SEED=%d LFS_OVL_OPS=%d LFS_OVL_DIR_RENAMES=%d"
              % (self._testMethodName, self.seed, self.nops,
                 self.dir_renames), file=sys.stderr, flush=True)
        self.log = []
        self.lfs_opts = ()
        self.started = time.monotonic()
        rng = random.Random(self.seed)
        base = self.mkdirs("base")
        gen_base(base, rng)
        self.layers = [base]   # top first
        gen = Generator(random.Random(self.seed * 7919 + 1),
                        self.dir_renames)
        for k in range(1, rng.randint(3, 5) + 1):
            self.layers.insert(0, self.kernel_layer("k%d" % k, gen))
        total = {}
        for layer in self.layers[:-1]:
            for key, v in layer_stats(layer).items():
                total[key] = total.get(key, 0) + v
        print("%d kernel layers: %s" % (
            len(self.layers) - 1,
            ", ".join("%d %s" % (v, k) for k, v in total.items())),
            file=sys.stderr)
        if not self.dir_renames:
            self.assertEqual(total["dir redirect"], 0)

    def kernel_layer(self, name, gen):
        """A layer: the upper directory of a kernel mount over the
        layers so far, after random operations through it."""
        upper, work, mnt = self.mkdirs(name, name + "-w", name + "-m")
        try:
            ovl.mount_overlay(mnt, self.layers, upper, work, BUILD_OPTS)
        except Exception as e:
            self.skipTest("kernel overlayfs refuses %s: %s" % (
                BUILD_OPTS, (getattr(e, "stderr", b"") or b"").decode(
                    errors="replace").strip()))
        try:
            for i in range(self.nops):
                gen.view = entries(mnt)
                op = gen.op()
                self.log.append((name, i, op, apply(mnt, op), None))
        finally:
            ovl.umount(mnt)
        return upper

    def kernel_mount(self, name, upper=True):
        mnt = self.mkdirs(name)
        if upper:
            ku, kw = self.mkdirs(name + "-up", name + "-w")
            ovl.mount_overlay(mnt, self.layers, ku, kw, KERNEL_RW_OPTS)
        else:
            ovl.mount_overlay(mnt, self.layers, extra=BUILD_OPTS)
        self.before_cleanup(lambda: ovl.umount(mnt))
        return mnt

    def report(self, what, lfs_tree=None, k_tree=None):
        """Fails with the seed, the paths that differ and whether the
        kernel's directory redirects explain them; the operations go to
        stderr."""
        lines = ["seed %d (LFS_SEED=%d LFS_OVL_OPS=%d LFS_OVL_DIR_RENAMES=%d"
                 " python3 %s -v %s.%s), layerfs -o %s: %s"
                 % (self.seed, self.seed, self.nops, self.dir_renames,
                    os.path.basename(__file__), type(self).__name__,
                    self._testMethodName,
                    ",".join(self.lfs_opts) or "defaults", what)]
        redirects = layer_redirects(self.layers)
        if lfs_tree is not None:
            diff = [p for p in sorted(set(lfs_tree) | set(k_tree))
                    if lfs_tree.get(p) != k_tree.get(p)]
            lines.append("%d paths differ:" % len(diff))
            renamed = sorted({r for _, r, _ in redirects})
            in_renamed = lambda q: any(q == r or q.startswith(r + "/")
                                       for r in renamed)
            under = []
            for n, p in enumerate(diff):
                chain = data_path(self.layers, p)
                if n < 25:
                    lines.append("  %s\n    layerfs: %s\n    kernel:  %s"
                                 "\n    in the layers: %s"
                                 % (p, lfs_tree.get(p), k_tree.get(p),
                                    "; ".join("%s:%s %s" % c
                                              for c in chain)))
                # In a renamed directory, or a copy whose data is
                # looked for through one.
                if any(in_renamed(c[1]) for c in chain):
                    under.append(p)
            if diff and len(under) == len(diff):
                lines.append("every difference lies in a directory the "
                             "kernel renamed or is a copy whose data is "
                             "looked for through one (directory "
                             "redirects)")
            elif under:
                lines.append("%d of %d differences lie in a directory the "
                             "kernel renamed or are copies whose data is "
                             "looked for through one"
                             % (len(under), len(diff)))
        lines.append("directories with a redirect in the layers: %s"
                     % ("; ".join("%s:%s -> %r" % r for r in redirects)
                        or "none"))
        print("\noperations (layer, index, operation -> outcome):",
              file=sys.stderr)
        for name, i, op, out, kout in self.log:
            extra = "" if kout is None else " (kernel: %s)" % (kout,)
            print("  %s #%d %s -> %s%s" % (name, i, fmt_op(op), out,
                                           extra), file=sys.stderr)
        self.fail("\n".join(lines))

    def compare(self, lfs, kmnt, what, times=False):
        a, b = tree(lfs, times), tree(kmnt, times)
        if a != b:
            self.report(what, a, b)

    def test_read_only(self):
        kmnt = self.kernel_mount("kview", upper=False)
        for opts in ((), ("file_handles=1",)):
            m = self.mount(self.layers, opts=opts)
            self.lfs_opts = opts
            self.compare(m.path, kmnt, "read-only", times=True)
        m = self.mount_rw(self.layers)
        self.lfs_opts = ("upperdir",)
        self.compare(m.path, kmnt, "with a fresh upper layer, before any "
                     "change", times=True)
        print("%s: %.1f s" % (self._testMethodName,
                              time.monotonic() - self.started),
              file=sys.stderr)

    def test_random_writes(self):
        kmnt = self.kernel_mount("krw")
        # Odd seeds: an upper layer in the kernel's format.
        opts = ("whiteout=overlay",) if self.seed % 2 else ()
        self.lfs_opts = ("upperdir",) + opts
        m = self.mount_rw(self.layers, opts=opts, name="lfs")
        upper, work = m.upper, m.work
        self.compare(m.path, kmnt, "with a fresh upper layer, before any "
                     "change")
        gen = Generator(random.Random(self.seed * 104729 + 7),
                        self.dir_renames)
        for batch in range(BATCHES):
            name = "rw%d" % batch
            for i in range(self.nops):
                gen.view = entries(kmnt)
                op = gen.op()
                mine = apply(m.path, op)
                theirs = apply(kmnt, op)
                self.log.append((name, i, op, mine,
                                 None if mine == theirs else theirs))
                if mine != theirs:
                    self.report("batch %d, operation #%d %s: layerfs %s, "
                                "kernel %s" % (batch, i, fmt_op(op), mine,
                                               theirs),
                                tree(m.path), tree(kmnt))
            self.compare(m.path, kmnt, "after batch %d" % batch)
            if batch % 2 == 1:
                self.assertEqual(m.unmount(), 0)
                self._mounts.remove(m)
                m = self.mount(self.layers, upper, work, opts=opts,
                               mnt=self.path("lfs-again%d" % batch))
                self.compare(m.path, kmnt, "after batch %d and a remount"
                             % batch)
        print("%s: %.1f s" % (self._testMethodName,
                              time.monotonic() - self.started),
              file=sys.stderr)


if __name__ == "__main__":
    lfstest.main()
