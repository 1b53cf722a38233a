"""Names through the mount, checked against a plain directory.

Random sequences of namespace operations run on a mount and on a plain
copy of its view (the local filesystem, which POSIX describes), with
fixed seeds; after every step the two must agree on the operation's
result (errno included) and on the whole tree: names, types, data,
modes, link counts, link targets, user xattrs, and which names share an
inode.  Then once more after a remount.  They run with both whiteout
formats, and with the daemon and the operations as an unprivileged
user (a rootless mount: ownership in xattrs, no RENAME_WHITEOUT).

They found, each now a case of its own below:
- `ln a b && mv b c` failed with EIO, `ln a b && rm a` left `b`
  unreadable, and renaming onto one name of a lower hard link left the
  others counting the lost link (hard links: one node, several names);
- a directory renamed onto a merged directory emptied by deletes failed
  with ENOTEMPTY with `.wh.` whiteouts;
- RENAME_NOREPLACE onto a deleted lower name failed with EEXIST with
  overlay whiteouts;
- rename between two links of one symlink removed the source name from
  the view only;
- rootless, new files and directories ignored the caller's umask, and a
  directory already opaque could not be made opaque again (EACCES).
"""

import json
import os
import random
import shutil
import subprocess
import sys

import layerrun_util
import lfstest
from lfstest import (LayerfsTestCase, RENAME_EXCHANGE, RENAME_NOREPLACE,
                     read, renameat2, write)

UNPRIVILEGED = 65534


# ---- hard links: many names of few inodes ----

LINK_DIRS = ("", "d1/", "d2/")
LINK_NAMES = [d + n for d in LINK_DIRS for n in ("a", "b", "c", "e")]


def make_linked_lower(root, rnd):
    """Five files, three more names linked to some of them."""
    for d in LINK_DIRS:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    files = rnd.sample(LINK_NAMES, 5)
    for n in files:
        write(os.path.join(root, n), "L" + n + "\n")
    for n in rnd.sample([x for x in LINK_NAMES if x not in files], 3):
        os.link(os.path.join(root, rnd.choice(files)), os.path.join(root, n))


def link_view(root):
    return lfstest.names_view(root, LINK_NAMES)


def link_step(root, i, rnd):
    """One random operation on files; returns it with its errno."""
    a, b, kind = rnd.choice(LINK_NAMES), rnd.choice(LINK_NAMES), \
        rnd.randrange(8)
    pa, pb = os.path.join(root, a), os.path.join(root, b)
    try:
        if kind == 0:
            os.link(pa, pb)
        elif kind == 1:
            os.unlink(pa)
        elif kind == 2:
            os.rename(pa, pb)
        elif kind == 3:
            renameat2(pa, pb, RENAME_EXCHANGE)
        elif kind == 4:
            write(pa, "+%d" % i, "a")
        elif kind == 5:
            os.chmod(pa, 0o600 | (0o055 if i % 2 else 0))
        elif kind == 6:
            os.truncate(pa, 1)
        else:
            fd = os.open(pa, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, b"new%d" % i)
            os.close(fd)
        err = 0
    except OSError as e:
        err = e.errno
    return ("link", "unlink", "rename", "exchange", "append", "chmod",
            "truncate", "create")[kind], a, b, err


# ---- whole trees: directories, symlinks, whiteouts, opaque directories ----

TREE_PATHS = [p for p1 in "abc" for p in
              [p1] + [p1 + "/" + p2 for p2 in "abc"] +
              [p1 + "/" + p2 + "/" + p3 for p2 in "abc" for p3 in "ab"]]


def make_tree_layers(top, rnd, dotwh=True):
    """Three lower layers (top first): files, directories and symlinks,
    and in the upper two whiteouts and opaque directories."""
    layers = [os.path.join(top, "l%d" % i) for i in range(3)]

    def place(root, p):
        full = os.path.join(root, p)
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
        except OSError:
            return None  # a file or symlink on the way
        if os.path.lexists(full) or os.path.islink(os.path.dirname(full)):
            return None
        return full

    for layer, count in zip(reversed(layers), (14, 6, 4)):
        os.makedirs(layer)
        for p in rnd.sample(TREE_PATHS, count):
            full = place(layer, p)
            kind = rnd.randrange(4)
            if full is None:
                continue
            if kind == 0:
                os.mkdir(full)
            elif kind == 1:
                os.symlink("../x" + p.replace("/", "_"), full)
            else:
                write(full, "L%s %s\n" % (os.path.basename(layer), p))
    for layer in layers[:2]:
        for p in rnd.sample(TREE_PATHS, 3):
            full = place(layer, p)
            if full is not None:
                d, n = os.path.split(full)
                write(os.path.join(d, ".wh." + n), "")
        for p in rnd.sample(TREE_PATHS, 2):
            full = os.path.join(layer, p)
            if os.path.isdir(full) and not os.path.islink(full):
                write(os.path.join(full, ".wh..wh..opq"), "")
    return layers


def tree_view(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if os.path.islink(p):
                v = ["l", os.readlink(p)]
            elif os.path.isdir(p):
                v = ["d", st.st_mode]
            else:
                v = ["f", read(p).decode(), st.st_mode, st.st_nlink]
            try:
                names = os.listxattr(p, follow_symlinks=False)
            except OSError:
                names = []
            v.append(sorted([k, os.getxattr(p, k, follow_symlinks=False)
                             .decode()] for k in names
                            if k.startswith("user.")))
            out[os.path.relpath(p, root)] = v
    return out


def tree_step(root, i, rnd):
    a, b, kind = rnd.choice(TREE_PATHS), rnd.choice(TREE_PATHS), \
        rnd.randrange(14)
    pa, pb = os.path.join(root, a), os.path.join(root, b)
    names = ("mkdir", "rmdir", "rename", "exchange", "noreplace", "link",
             "unlink", "create", "append", "truncate", "symlink", "chmod",
             "setxattr", "removexattr")
    try:
        if kind == 0:
            os.mkdir(pa)
        elif kind == 1:
            os.rmdir(pa)
        elif kind == 2:
            os.rename(pa, pb)
        elif kind == 3:
            renameat2(pa, pb, RENAME_EXCHANGE)
        elif kind == 4:
            renameat2(pa, pb, RENAME_NOREPLACE)
        elif kind == 5:
            os.link(pa, pb)
        elif kind == 6:
            os.unlink(pa)
        elif kind in (7, 8):
            flags = os.O_WRONLY | os.O_NOFOLLOW | \
                (os.O_CREAT | os.O_TRUNC if kind == 7 else os.O_APPEND)
            fd = os.open(pa, flags, 0o644)
            os.write(fd, b"%s%d" % (b"c" if kind == 7 else b"+", i))
            os.close(fd)
        elif kind == 9:
            os.truncate(pa, 2)
        elif kind == 10:
            os.symlink("t%d" % i, pa)
        elif kind == 11:
            if not os.path.islink(pa):
                os.chmod(pa, 0o700 if i % 2 else 0o755)
        elif kind == 12:
            os.setxattr(pa, "user.k%d" % (i % 3), b"v%d" % i,
                        follow_symlinks=False)
        else:
            os.removexattr(pa, "user.k%d" % (i % 3), follow_symlinks=False)
        err = 0
    except OSError as e:
        err = e.errno
    return [names[kind], a, b, err]


def tree_sequence(top, seed, steps, opts=(), export=False):
    """Runs one seeded sequence under top; returns None or what differed.
    Runs as whoever calls it (the unprivileged worker too).  With export,
    the upper layer is then exported (layertool export) and extracted
    by GNU tar over the same lower layers: that view must be the same
    too."""
    rnd = random.Random(seed)
    layers = make_tree_layers(top, rnd)
    upper, work, mnt, ref = (os.path.join(top, n)
                             for n in ("u", "w", "m", "ref"))
    for d in (upper, work, mnt):
        os.makedirs(d)
    m = lfstest.start_layerfs(mnt, layers, upper, work, opts)
    try:
        subprocess.run(["cp", "-a", mnt, ref], check=True)
        mine, theirs = random.Random(seed + 99), random.Random(seed + 99)
        done = []
        for i in range(steps):
            got, want = tree_step(mnt, i, mine), tree_step(ref, i, theirs)
            done.append(got)
            if got != want:
                return "seed %d step %d: %s, the plain directory %s " \
                    "(after %s)" % (seed, i, got, want, done[-6:-1])
            a, b = tree_view(mnt), tree_view(ref)
            if a != b:
                return "seed %d step %d %s: %s (after %s)" % (
                    seed, i, got, first_differences(a, b), done[-6:-1])
        m.unmount()
        m = lfstest.start_layerfs(mnt, layers, upper, work, opts)
        a, b = tree_view(mnt), tree_view(ref)
        if a != b:
            return "seed %d after a remount: %s" % (
                seed, first_differences(a, b))
        if not export:
            return None
        m.unmount()
        layer = os.path.join(top, "exported")
        os.makedirs(layer)
        tarball = os.path.join(top, "layer.tar")
        subprocess.run([layertool(), "export",
                        "--lower", ":".join(layers), upper, tarball],
                       check=True, capture_output=True)
        subprocess.run(["tar", "--xattrs", "--xattrs-include=user.*", "-xpf",
                        tarball, "-C", layer], check=True)
        m = lfstest.start_layerfs(mnt, [layer] + layers)
        a = tree_view(mnt)
        if a != b:
            return "seed %d exported: %s" % (seed, first_differences(a, b))
        return None
    finally:
        m.unmount()


def layertool():
    """The build's layertool; a sanitizer build (LFS_BUILD) has only the
    daemon, so the default build's then."""
    if os.path.exists(lfstest.LAYERTOOL):
        return lfstest.LAYERTOOL
    return os.path.join(lfstest.ROOT, "build", "layertool")


def first_differences(a, b):
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return ["%s: mount %s, plain %s" % (k, a.get(k), b.get(k))
            for k in keys[:4]]


def worker(top, seeds, steps, opts):
    """Entry of the unprivileged run: prints the differences as JSON."""
    os.umask(0o022)
    found = []
    for seed in seeds:
        d = os.path.join(top, "s%d" % seed)
        os.makedirs(d)
        r = tree_sequence(d, seed, steps, opts)
        if r:
            found.append(r)
    print(json.dumps(found))


class HardLinks(LayerfsTestCase):
    def test_link_then_unlink_the_first_name(self):
        low = self.layer("low", {"f": "lower\n"})
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        write(j("a"), "x\n")
        os.link(j("a"), j("b"))
        self.assertEqual(os.stat(j("b")).st_nlink, 2)  # the kernel knows b
        os.unlink(j("a"))
        self.assertEqual(read(j("b")), b"x\n")
        self.assertEqual(os.stat(j("b")).st_nlink, 1)
        write(j("a"), "another file\n")
        self.assertEqual(read(j("b")), b"x\n")
        write(j("b"), "more\n", "a")
        self.assertEqual(read(j("b")), b"x\nmore\n")
        # The same with a lower file copied up by the link.
        os.link(j("f"), j("g"))
        self.assertEqual(os.stat(j("g")).st_nlink, 2)
        os.unlink(j("f"))
        self.assertEqual(read(j("g")), b"lower\n")
        os.chmod(j("g"), 0o600)
        self.assertEqual(os.stat(j("g")).st_mode & 0o777, 0o600)

    def test_rename_onto_a_name_of_another_inode(self):
        # "a" and "b" are one inode, "c" another; renaming c onto a must
        # leave b with its own data and one link.
        low = self.layer("low", {"x": "x\n"})
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        write(j("a"), "ab\n")
        os.link(j("a"), j("b"))
        write(j("c"), "c\n")
        for n in ("a", "b", "c"):
            os.stat(j(n))
        os.rename(j("c"), j("a"))
        self.assertEqual((read(j("a")), os.stat(j("a")).st_nlink),
                         (b"c\n", 1))
        self.assertEqual((read(j("b")), os.stat(j("b")).st_nlink),
                         (b"ab\n", 1))

    def test_rename_onto_a_lower_hard_link(self):
        low = self.layer("low", {"d/c": "lower\n", "new": "new\n"})
        os.link(os.path.join(low, "d/c"), os.path.join(low, "d/e"))
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        self.assertEqual(os.stat(j("d/e")).st_nlink, 2)
        os.rename(j("new"), j("d/c"))
        self.assertEqual(read(j("d/c")), b"new\n")
        self.assertEqual((read(j("d/e")), os.stat(j("d/e")).st_nlink),
                         (b"lower\n", 1))
        m.unmount()
        self._mounts.remove(m)
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        p = os.path.join(m2.path, "d/e")
        self.assertEqual((read(p), os.stat(p).st_nlink), (b"lower\n", 1))

    def test_rename_between_two_links_of_a_symlink(self):
        # POSIX: nothing happens.  Symlinks have a node per name.
        low = self.layer("low", {"x": "x"})
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        os.symlink("target", j("s1"))
        os.link(j("s1"), j("s2"))
        os.rename(j("s1"), j("s2"))
        self.assertEqual(sorted(os.listdir(m.path)), ["s1", "s2", "x"])
        self.assertEqual(os.lstat(j("s1")).st_nlink, 2)

    def test_random_sequences_match_a_plain_directory(self):
        for seed in range(12):
            with self.subTest(seed=seed):
                self.run_link_sequence(seed)

    def run_link_sequence(self, seed):
        tag = "s%d" % seed
        low = self.mkdirs(tag + "-low")
        make_linked_lower(low, random.Random(seed))
        ref = self.path(tag + "-ref")
        subprocess.run(["cp", "-a", low, ref], check=True)
        m = self.mount_rw([low], name=tag)
        mine, theirs = random.Random(seed + 1000), random.Random(seed + 1000)
        done = []
        for i in range(60):
            got = link_step(m.path, i, mine)
            want = link_step(ref, i, theirs)
            done.append(got)
            self.assertEqual(got, want, "seed %d step %d, after %s"
                             % (seed, i, done[-6:-1]))
            self.assertEqual(link_view(m.path), link_view(ref),
                             "seed %d step %d %s, after %s"
                             % (seed, i, got, done[-6:-1]))
        m.unmount()
        self._mounts.remove(m)
        again = self.mount([low], m.upper, m.work,
                           mnt=self.path(tag + "-again"))
        self.assertEqual(link_view(again.path), link_view(ref),
                         "seed %d after a remount" % seed)
        again.unmount()
        self._mounts.remove(again)


class Trees(LayerfsTestCase):
    SEEDS = range(40)
    STEPS = 80

    def sequences(self, opts, seeds=None, export=False):
        for seed in seeds or self.SEEDS:
            with self.subTest(seed=seed):
                top = self.mkdirs("s%d" % seed)
                found = tree_sequence(top, seed, self.STEPS, opts, export)
                if found:
                    self.fail(found)

    def test_random_sequences_dotwh(self):
        self.sequences(())

    def test_random_sequences_exported(self):
        # The upper layer as an OCI layer: redirected directories in
        # full, metadata-only copies with their data, hard links.
        self.require_root()  # owners kept by tar -p
        self.require_tool("tar")
        if not os.path.exists(layertool()):
            self.skipTest("layertool is not built")
        self.sequences(("whiteout=overlay",), seeds=range(100, 115),
                       export=True)

    def test_random_sequences_overlay_whiteouts(self):
        self.require_root()  # trusted.overlay.* for the opaque xattr
        self.sequences(("whiteout=overlay",))

    def test_random_sequences_rootless(self):
        self.require_root()  # to become the unprivileged user
        self.require_tool("setpriv", "fusermount3")
        top = self.mkdirs("rootless")
        os.chown(top, UNPRIVILEGED, UNPRIVILEGED)
        here = os.path.dirname(os.path.abspath(__file__))
        code = ("import sys; sys.path.insert(0, %r); import test_namespace;"
                " test_namespace.worker(%r, range(%d), %d, ())"
                % (here, top, len(self.SEEDS), self.STEPS))
        with layerrun_util.fuse_open_to_all():
            r = subprocess.run(
                ["setpriv", "--reuid=%d" % UNPRIVILEGED,
                 "--regid=%d" % UNPRIVILEGED, "--clear-groups", "--",
                 sys.executable, "-c", code],
                capture_output=True, timeout=600, cwd=top,
                env=dict(os.environ, HOME=top))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        found = json.loads(r.stdout)
        self.assertEqual(found, [], "\n".join(found))

    def in_each_format(self, spec, check):
        """check(mount, join) on a fresh mount over a layer made from
        spec, once per whiteout format of the upper layer (subtests)."""
        for fmt in ("dotwh", "overlay"):
            if fmt == "overlay" and not lfstest.is_root():
                continue  # trusted.overlay.opaque
            with self.subTest(whiteout=fmt):
                low = self.layer("low-" + fmt, spec)
                m = self.mount_rw([low], opts=("whiteout=" + fmt,),
                                  name=fmt)
                check(m, lambda *a: os.path.join(m.path, *a))

    def test_directory_renamed_onto_one_emptied_by_deletes(self):
        def check(m, j):
            os.unlink(j("D/x"))
            os.unlink(j("D/y"))
            os.mkdir(j("N"))
            write(j("N/n"), "n")
            os.rename(j("N"), j("D"))
            self.assertEqual(os.listdir(j("D")), ["n"])
            self.assertEqual(sorted(os.listdir(m.path)), ["D"])
        self.in_each_format({"D/x": "x", "D/y": "y"}, check)

    def test_noreplace_onto_a_deleted_lower_name(self):
        def check(m, j):
            os.unlink(j("y"))
            renameat2(j("x"), j("y"), RENAME_NOREPLACE)
            self.assertEqual(os.listdir(m.path), ["y"])
            self.assertEqual(read(j("y")), b"x")
        self.in_each_format({"x": "x", "y": "y"}, check)

    # What every script of run_unprivileged runs first: TOP/low mounted
    # on TOP/m, with an upper and a work directory beside it, and
    # unmounted at the end.
    ROOTLESS_MOUNT = r"""
set -e
mkdir u w m
layerfs -o lowerdir=$1/low,upperdir=$PWD/u,workdir=$PWD/w $PWD/m
trap 'fusermount3 -u m' EXIT
"""

    def run_unprivileged(self, script, top):
        """SCRIPT as the unprivileged user, in TOP, after ROOTLESS_MOUNT,
        with layerfs in PATH and /dev/fuse open to all; it must
        succeed."""
        with layerrun_util.fuse_open_to_all():
            r = subprocess.run(
                ["setpriv", "--reuid=%d" % UNPRIVILEGED,
                 "--regid=%d" % UNPRIVILEGED, "--clear-groups", "--",
                 "sh", "-c", self.ROOTLESS_MOUNT + script, "sh", top],
                capture_output=True, timeout=60, cwd=top,
                env=dict(os.environ, HOME=top,
                         PATH=os.path.dirname(lfstest.LAYERFS) + ":" +
                         os.environ.get("PATH", "")))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        return r

    def test_rootless_umask_and_opaque_again(self):
        self.require_root()
        self.require_tool("setpriv", "fusermount3")
        top = self.mkdirs("rl")
        low = self.layer("rl/low", {"X/f": "f", "Y/g": "g"})
        for d in ("rl", "rl/low", "rl/low/X", "rl/low/Y"):
            os.chown(self.path(d), UNPRIVILEGED, UNPRIVILEGED)
        script = r"""
umask 022; mkdir m/d; : > m/f
umask 077; mkdir m/pd; : > m/pf
stat -c '%n %a' m/d m/f m/pd m/pf
rm -rf m/X m/Y; mkdir m/X; mv m/X m/Y; ls -A m/Y | wc -l
"""
        r = self.run_unprivileged(script, top)
        self.assertEqual(r.stdout.decode().split("\n"),
                         ["m/d 755", "m/f 644", "m/pd 700", "m/pf 600", "0",
                          ""])

    def test_rootless_directory_made_without_owner_read(self):
        """mkdir(d, 0) as an unprivileged user: the rootless daemon
        opened the new directory for reading (to record its owner and
        mode in the xattr) before it had its real mode, and without
        CAP_DAC_OVERRIDE that failed: the directory was removed again
        and mkdir returned EACCES (CPython's test_pkgutil and
        test_pydoc make such directories).  A directory made where a
        lower one was removed (made opaque) too."""
        self.require_root()
        self.require_tool("setpriv", "fusermount3")
        top = self.mkdirs("rl0")
        self.layer("rl0/low", {"X/f": "f", "P/q": "q"})
        for d in ("rl0", "rl0/low", "rl0/low/X", "rl0/low/P"):
            os.chown(self.path(d), UNPRIVILEGED, UNPRIVILEGED)
        script = r"""
umask 022
mkdir -m 0 m/d0; mkdir -m 300 m/d300; mkdir -m 0 m/P/d0
rm -rf m/X; mkdir -m 0 m/X
stat -c '%n %a' m/d0 m/d300 m/P/d0 m/X
chmod 700 m/X; ls -A m/X | wc -l
rmdir m/d0 m/d300 m/P/d0 m/X
"""
        r = self.run_unprivileged(script, top)
        self.assertEqual(r.stdout.decode().split("\n"),
                         ["m/d0 0", "m/d300 300", "m/P/d0 0", "m/X 0", "0",
                          ""])

    def test_rootless_copy_up_of_a_read_only_directory(self):
        """A lower directory of the user's with mode 0555, rootless
        (the daemon without CAP_DAC_OVERRIDE): its copy took the real
        mode 0555, so the daemon could not write its origin xattr nor
        rename it into place (a directory moved to another parent needs
        write permission on itself); chmod, and any change below it,
        failed with EACCES.  The copy keeps rwx for the daemon, as
        setattr gives it, and the view the lower mode."""
        self.require_root()
        self.require_tool("setpriv", "fusermount3")
        top = self.mkdirs("rlro")
        low = self.layer("rlro/low", {"R/f": "f", "R/S/g": "g"})
        for d in ("rlro", "rlro/low", "rlro/low/R", "rlro/low/R/f",
                  "rlro/low/R/S", "rlro/low/R/S/g"):
            os.chown(self.path(d), UNPRIVILEGED, UNPRIVILEGED)
        os.chmod(os.path.join(low, "R", "S"), 0o555)
        os.chmod(os.path.join(low, "R"), 0o500)
        script = r"""
touch -d @1000000000 m/R/S
stat -c '%n %a %Y' m/R m/R/S
chmod 755 m/R/S; echo h > m/R/S/h
chmod 700 m/R; mv m/R/S m/T
stat -c '%n %a' m/R m/T
ls m/T
"""
        r = self.run_unprivileged(script, top)
        r_mtime = int(os.stat(os.path.join(low, "R")).st_mtime)
        self.assertEqual(r.stdout.decode().split("\n"),
                         ["m/R 500 %d" % r_mtime, "m/R/S 555 1000000000",
                          "m/R 700", "m/T 755", "g", "h", ""])


if __name__ == "__main__":
    lfstest.main()
