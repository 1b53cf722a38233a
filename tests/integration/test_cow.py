"""Copy-on-write: what lands in the upper layer, and what must not."""

import contextlib
import errno
import fcntl
import json
import mmap
import os
import shutil
import signal
import stat
import subprocess
import threading
import time

import layerrun_util as lru
import lfstest
import rootless_ns
from lfstest import (LayerfsTestCase, RENAME_EXCHANGE, read, renameat2,
                     snapshot, write)

SEEK_DATA, SEEK_HOLE = 3, 4
MiB = 1 << 20


def tree_files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


def xattr(path, name):
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def copy_by_extents(fd):
    """The file's bytes as a sparse-aware copy sees them: the data
    extents SEEK_DATA and SEEK_HOLE report, zeros in between."""
    size = os.fstat(fd).st_size
    out = bytearray(size)
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break   # only a hole is left
            raise
        end = os.lseek(fd, start, SEEK_HOLE)
        out[start:end] = os.pread(fd, end - start, start)
        pos = end
    return bytes(out)


def drop_dentries():
    """Makes the kernel forget its cached entries (root only), so the
    next access to a name is a fresh lookup."""
    if os.geteuid() == 0:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")


class CopyOnWrite(LayerfsTestCase):
    def lower(self):
        low = self.layer("low", {
            "etc/conf": "setting=1\n",
            "big/data.bin": os.urandom(3 * MiB),
            "tree/a/1": "1", "tree/a/2": "2", "tree/b/3": "3",
            "exec": ("file", "#!/bin/sh\n", 0o4755),
            "link": ("symlink", "etc/conf"),
        })
        # A sparse file: 64 MiB with two small data islands.
        with open(os.path.join(low, "sparse"), "wb") as f:
            f.seek(10 * MiB)
            f.write(b"island one")
            f.seek(60 * MiB)
            f.write(b"island two")
            f.truncate(64 * MiB)
        os.setxattr(os.path.join(low, "etc/conf"), "user.tag", b"lower")
        os.utime(os.path.join(low, "etc/conf"), (1111111111, 1222222222))
        return low

    def test_read_never_copies(self):
        low = self.lower()
        m = self.mount_rw([low])
        for dirpath, dirnames, filenames in os.walk(m.path):
            for n in filenames:
                p = os.path.join(dirpath, n)
                if os.path.isfile(p):
                    read(p)
        with open(os.path.join(m.path, "etc/conf"), "r+b") as f:
            # Opening for writing copies; opening read-write and not
            # writing still copies by POSIX semantics: check read-only.
            pass
        before = tree_files(m.upper)
        read(os.path.join(m.path, "big/data.bin"))
        os.stat(os.path.join(m.path, "tree/a/1"))
        os.listdir(os.path.join(m.path, "tree"))
        self.assertEqual(tree_files(m.upper), before)
        self.assertNotIn("big", before)

    def test_copy_up_keeps_everything(self):
        low = self.lower()
        os.chown(os.path.join(low, "etc/conf"), 1234, 5678)
        m = self.mount_rw([low])
        p = os.path.join(m.path, "etc/conf")
        write(p, "setting=2\n", "a")
        up = os.path.join(m.upper, "etc/conf")
        st = os.stat(up)
        self.assertEqual(read(up), b"setting=1\nsetting=2\n")
        self.assertEqual((st.st_uid, st.st_gid), (1234, 5678))
        self.assertEqual(xattr(up, "user.tag"), b"lower")
        self.assertEqual(os.stat(p).st_mode, os.stat(os.path.join(low, "etc/conf")).st_mode)
        # The parent came up first, with the lower directory's attributes.
        self.assertEqual(os.stat(os.path.join(m.upper, "etc")).st_mode,
                         os.stat(os.path.join(low, "etc")).st_mode)
        # Lower untouched.
        self.assertEqual(read(os.path.join(low, "etc/conf")), b"setting=1\n")

    def test_setuid_and_capability_survive_metadata_copy(self):
        low = self.lower()
        cap = bytes.fromhex("0100000200200000000000000000000000000000")
        try:
            os.setxattr(os.path.join(low, "exec"), "security.capability", cap)
        except OSError:
            self.skipTest("cannot set security.capability here")
        m = self.mount_rw([low])
        os.utime(os.path.join(m.path, "exec"), (5, 6))
        up = os.path.join(m.upper, "exec")
        self.assertEqual(stat.S_IMODE(os.stat(up).st_mode), 0o4755)
        self.assertEqual(xattr(up, "security.capability"), cap)

    def test_xattrs_of_a_symlink_and_a_directory_are_copied_up(self):
        """A symlink is read through an O_PATH fd, a directory through an
        open one: both keep their xattrs when copied up."""
        low = self.lower()
        os.symlink("etc/conf", os.path.join(low, "ln"))
        try:
            os.setxattr(os.path.join(low, "ln"), "trusted.mark", b"link",
                        follow_symlinks=False)
        except OSError:
            self.skipTest("cannot set trusted.* on a symlink (needs root)")
        os.setxattr(os.path.join(low, "etc"), "user.dir", b"d")
        m = self.mount_rw([low])
        os.chown(os.path.join(m.path, "ln"), 4242, 4242,
                 follow_symlinks=False)
        os.chmod(os.path.join(m.path, "etc"), 0o700)
        self.assertEqual(xattr(os.path.join(m.upper, "ln"), "trusted.mark"),
                         b"link")
        self.assertEqual(os.lstat(os.path.join(m.upper, "ln")).st_uid, 4242)
        self.assertEqual(xattr(os.path.join(m.upper, "etc"), "user.dir"),
                         b"d")

    def test_holes_are_kept(self):
        low = self.lower()
        m = self.mount_rw([low])
        p = os.path.join(m.path, "sparse")
        write(p, b"tail", "ab")
        up = os.path.join(m.upper, "sparse")
        st = os.stat(up)
        self.assertEqual(st.st_size, 64 * MiB + 4)
        # Far less than 64 MiB allocated, and the holes are still holes.
        self.assertLess(st.st_blocks * 512, 4 * MiB)
        fd = os.open(up, os.O_RDONLY)
        try:
            self.assertEqual(os.lseek(fd, 0, SEEK_DATA) // MiB, 10)
            self.assertGreaterEqual(os.lseek(fd, 10 * MiB, SEEK_HOLE),
                                    10 * MiB + 10)
        finally:
            os.close(fd)
        with open(p, "rb") as f:
            f.seek(10 * MiB)
            self.assertEqual(f.read(10), b"island one")
            f.seek(60 * MiB)
            self.assertEqual(f.read(10), b"island two")
            f.seek(64 * MiB)
            self.assertEqual(f.read(), b"tail")
        # SEEK_DATA/SEEK_HOLE through the mount too.
        fd = os.open(p, os.O_RDONLY)
        try:
            self.assertEqual(os.lseek(fd, 0, SEEK_DATA) // MiB, 10)
        finally:
            os.close(fd)

    def test_holes_with_the_writeback_cache(self):
        # With the writeback cache (passthrough=0, as rootless mounts
        # have) written pages stay in the kernel, which asks the daemon
        # for SEEK_DATA/SEEK_HOLE without writing them back first.  A
        # copy that follows the holes (cp, tar --sparse) must still get
        # every byte, and holes must still be reported while nothing is
        # being written.
        low = self.lower()
        m = self.mount_rw([low], opts=["passthrough=0"])
        with open(os.path.join(m.path, "sparse"), "rb") as f:
            self.assertEqual(os.lseek(f.fileno(), 0, SEEK_DATA) // MiB, 10)
        p = os.path.join(m.path, "new")
        wfd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.pwrite(wfd, b"head", 0)
            os.pwrite(wfd, b"tail", 1 * MiB)
            os.pwrite(wfd, b"more", 3 * MiB)
            want = b"head" + bytes(MiB - 4) + b"tail" + \
                bytes(2 * MiB - 4) + b"more"
            rfd = os.open(p, os.O_RDONLY)
            try:
                self.assertEqual(os.fstat(rfd).st_size, len(want))
                self.assertEqual(copy_by_extents(rfd), want)
            finally:
                os.close(rfd)
        finally:
            os.close(wfd)
        self.assertEqual(read(p), want)

    def test_metadata_only_copy_up(self):
        self.require_metacopy()
        low = self.lower()
        m = self.mount_rw([low])
        p = os.path.join(m.path, "big/data.bin")
        os.chmod(p, 0o600)
        os.chown(p, 42, 43)
        os.setxattr(p, "user.note", b"meta")
        os.utime(p, (100, 200))
        up = os.path.join(m.upper, "big/data.bin")
        st = os.stat(up)
        self.assertEqual(st.st_size, 3 * MiB)
        self.assertNoData(up)
        # Empty: the data is at the file's own path below.
        self.assertEqual(xattr(up, "user.layerfs.metacopy"), b"")
        vst = os.stat(p)
        self.assertEqual(stat.S_IMODE(vst.st_mode), 0o600)
        self.assertEqual((vst.st_uid, vst.st_gid), (42, 43))
        self.assertEqual(vst.st_mtime, 200)
        self.assertGreater(vst.st_blocks, 0)  # the data's, from below
        self.assertEqual(read(p), read(os.path.join(low, "big/data.bin")))
        # The first write brings the data up, in place, and drops the mark.
        with open(p, "r+b") as f:
            f.seek(1000)
            f.write(b"XYZ")
        self.assertIsNone(xattr(up, "user.layerfs.metacopy"))
        expect = bytearray(read(os.path.join(low, "big/data.bin")))
        expect[1000:1003] = b"XYZ"
        self.assertEqual(read(p), bytes(expect))
        self.assertEqual(read(up), bytes(expect))
        self.assertEqual(os.stat(p).st_uid, 42)

    def test_metadata_only_copy_keeps_its_data_when_moved(self):
        """The mark of a metadata-only copy is empty while the file keeps
        its path (the data is at the same path below, through renamed
        directories too); a rename or a hard link writes the path in,
        and every name reads the lower data, after a remount as well."""
        self.require_metacopy()
        data = {"d/%s" % n: os.urandom(5000) for n in ("a", "b", "c", "e")}
        low = self.layer("low-mc", dict(data, **{"x/keep": "k"}))
        m = self.mount_rw([low], opts=("index=on",))
        p = lambda rel: os.path.join(m.path, rel)  # noqa: E731
        for n in ("a", "b", "c", "e"):
            os.chmod(p("d/" + n), 0o640)
            self.assertEqual(xattr(os.path.join(m.upper, "d", n),
                                   "user.layerfs.metacopy"), b"")
        os.rename(p("d/b"), p("x/b"))
        os.link(p("d/c"), p("x/c"))
        os.rename(p("d"), p("moved"))
        os.rename(p("moved/e"), p("moved/e2"))
        want = {"moved/a": data["d/a"], "x/b": data["d/b"],
                "x/c": data["d/c"], "moved/c": data["d/c"],
                "moved/e2": data["d/e"]}
        marks = {"moved/a": b"", "x/b": b"/d/b", "x/c": b"/d/c",
                 "moved/c": b"/d/c", "moved/e2": b"/d/e"}
        for rel, mark in marks.items():
            self.assertEqual(xattr(os.path.join(m.upper, rel),
                                   "user.layerfs.metacopy"), mark, rel)
        for rel, content in want.items():
            self.assertEqual(read(p(rel)), content, rel)
        self.assertEqual(m.unmount(), 0)
        m = self.mount_rw([low], opts=("index=on",))  # the same upper
        for rel, content in want.items():
            self.assertEqual(read(p(rel)), content, rel + " after remount")
        # The first write brings the right data up under the new name.
        with open(p("moved/a"), "r+b") as f:
            f.write(b"W")
        self.assertEqual(read(p("moved/a")), b"W" + data["d/a"][1:])
        self.assertIsNone(xattr(os.path.join(m.upper, "moved/a"),
                                "user.layerfs.metacopy"))

    def test_upper_without_marks_stacks_as_a_lower_layer(self):
        """An upper directory written with metacopy=off and
        redirect_dir=off holds no user.layerfs.* mark that a lower layer
        would need (marks are ignored there): stacked as is under a new
        upper layer it shows what the mount showed, renamed files and
        directories, whiteouts and changed modes included, and a second
        round of renames on top of it stacks as well."""
        low = self.layer("low-stack", {"f": "lower f\n", "g": "lower g\n",
                                       "gone": "x", "d/a": "a\n",
                                       "d/sub/b": "b\n", "e/keep": "k\n"})
        opts = ("metacopy=off", "redirect_dir=off")
        m = self.mount_rw([low], opts=opts, name="s0")
        p = lambda rel: os.path.join(m.path, rel)  # noqa: E731
        os.rename(p("f"), p("f2"))
        os.link(p("g"), p("g2"))
        os.chmod(p("g"), 0o600)
        os.unlink(p("gone"))
        os.rename(p("d"), p("e/d2"))
        upper0 = m.upper
        for dirpath, dirnames, filenames in os.walk(upper0):
            for n in dirnames + filenames:
                q = os.path.join(dirpath, n)
                for mark in ("metacopy", "redirect"):
                    self.assertIsNone(xattr(q, "user.layerfs." + mark), q)
        want = snapshot(m.path)
        self.assertEqual(m.unmount(), 0)

        m = self.mount_rw([upper0, low], opts=opts, name="s1")
        self.assertEqual(snapshot(m.path), want)
        self.assertEqual(stat.S_IMODE(os.stat(p("g")).st_mode), 0o600)
        os.rename(p("f2"), p("f"))
        os.rename(p("e/d2"), p("d"))
        want = snapshot(m.path)
        upper1 = m.upper
        self.assertEqual(m.unmount(), 0)

        m = self.mount_rw([upper1, upper0, low], opts=opts, name="s2")
        self.assertEqual(snapshot(m.path), want)
        self.assertEqual(read(p("f")), b"lower f\n")
        self.assertEqual(read(p("d/sub/b")), b"b\n")
        self.assertFalse(os.path.lexists(p("gone")))
        self.assertFalse(os.path.lexists(p("e/d2")))

    def assertNoData(self, path):
        """No byte of data in the file: only a hole (the blocks a
        filesystem may still charge hold the xattrs)."""
        fd = os.open(path, os.O_RDONLY)
        try:
            with self.assertRaises(OSError) as cm:
                os.lseek(fd, 0, SEEK_DATA)
            self.assertEqual(cm.exception.errno, errno.ENXIO, path)
        finally:
            os.close(fd)

    def test_chown_recursive_costs_no_data(self):
        self.require_metacopy()
        files = {"t/d%d/f%d" % (i % 10, i): os.urandom(1 * MiB)
                 for i in range(40)}
        low = self.layer("low2", files)
        stats = self.path("chown-stats.json")
        m = self.mount_rw([low], opts=("stats=" + stats,))
        self.run_cmd(["chown", "-R", "7:7", os.path.join(m.path, "t")])
        self.run_cmd(["chmod", "-R", "go-rwx", os.path.join(m.path, "t")])
        used = 0
        for dirpath, _, filenames in os.walk(m.upper):
            for n in filenames:
                p = os.path.join(dirpath, n)
                self.assertNoData(p)
                used += os.lstat(p).st_blocks * 512
        # A few KiB of metadata per file, whatever the file's size.
        self.assertLess(used, 40 * 16 * 1024, "chown -R copied file data")
        for rel, data in list(files.items())[:10]:
            p = os.path.join(m.path, rel)
            self.assertEqual(read(p), data)
            self.assertEqual(os.stat(p).st_uid, 7)
        m.unmount()
        s = json.load(open(stats))
        self.assertEqual(s["copyups"], 0)
        self.assertEqual(s["copyup_bytes"], 0)
        self.assertEqual(s["meta_copyups"], len(files))

    def test_copied_modes_match_a_plain_filesystem(self):
        """Every mode, through every kind of copy-up, ends as the same
        change leaves it on a plain directory.  A copy is created with its
        permission bits, its set-id and sticky bits set after its owner;
        a metadata-only copy of a file without xattrs takes its
        attributes from one stat of the lower file."""
        self.require_root()
        modes = (0o644, 0o400, 0o000, 0o750, 0o4755, 0o2755, 0o2644,
                 0o1644, 0o6711)
        changes = {
            "chown": lambda p: os.chown(p, 4242, 4343),  # uid and gid
            "chown_uid": lambda p: os.chown(p, 4242, -1),
            "chmod": lambda p: os.chmod(p, 0o640),
            "utime": lambda p: os.utime(p, (7, 8)),
            "truncate": lambda p: os.truncate(p, 0),
            "append": lambda p: write(p, "more", "a"),
        }
        spec = {"%s/m%o" % (c, mode): ("file", "data %o\n" % mode, mode)
                for c in changes for mode in modes}
        low = self.layer("modes", spec)
        plain = self.layer("modes-plain", spec)
        for rel in spec:
            for root in (low, plain):
                os.utime(os.path.join(root, rel), (100, 200))
        m = self.mount_rw([low])
        for rel in spec:
            change = changes[rel.split("/")[0]]
            # The kernel asks for security.capability before a chown:
            # the file is then known to carry no xattrs.
            change(os.path.join(m.path, rel))
            change(os.path.join(plain, rel))
        for rel in spec:
            # Writes set the time to now, on each side its own.
            kept_time = rel.split("/")[0] not in ("truncate", "append")
            want = os.stat(os.path.join(plain, rel))
            for where in (m.path, m.upper):
                got = os.stat(os.path.join(where, rel))
                self.assertEqual(
                    (oct(got.st_mode), got.st_uid, got.st_gid, got.st_size,
                     got.st_mtime_ns if kept_time else 0),
                    (oct(want.st_mode), want.st_uid, want.st_gid,
                     want.st_size, want.st_mtime_ns if kept_time else 0),
                    (where, rel))
            self.assertEqual(read(os.path.join(m.path, rel)),
                             read(os.path.join(plain, rel)), rel)

    def test_truncating_open_clears_set_id_bits(self):
        """open(O_TRUNC) by an unprivileged caller is a write: set-user-id
        goes, and set-group-id when the file is group-executable or the
        caller is of neither its primary nor a supplementary group of
        the file's.  With atomic O_TRUNC the kernel sends no SETATTR,
        and drops the mode change it asks of one: the daemon clears
        them.  Upper files and lower ones (copied up by the open)."""
        self.require_root()
        self.require_tool("setpriv", "sh")
        cases = {  # name: (mode, caller's groups, mode after)
            "suid": (0o4755, "65534", 0o755),
            "sgid-exec": (0o2775, "65534", 0o775),
            "sgid-member": (0o2745, "65534,7", 0o2745),
            "sgid-other": (0o2745, "65534", 0o745),
            "root": (0o4755, None, 0o4755),
        }
        low = self.layer("low-trunc", {"l-" + n: "data" for n in cases})
        for n, (mode, _, _) in cases.items():
            os.chown(os.path.join(low, "l-" + n), 65534, 7)
            os.chmod(os.path.join(low, "l-" + n), mode)
        for opts in ((), ("passthrough=off",),
                     ("passthrough=off", "writeback=on")):
            with self.subTest(opts=opts):
                m = self.mount_rw([low], opts=opts + ("suid",),
                                  name="tr%d" % len(opts))
                for n, (mode, groups, want) in cases.items():
                    p = os.path.join(m.path, n)
                    write(p, b"data", "wb")
                    os.chown(p, 65534, 7)
                    os.chmod(p, mode)
                    for name in (n, "l-" + n):
                        q = os.path.join(m.path, name)
                        cmd = ["sh", "-c", ': > "$1"', "sh", q]
                        if groups:
                            cmd = ["setpriv", "--reuid=65534",
                                   "--regid=65534", "--groups=" + groups
                                   ] + cmd
                        r = self.run_cmd(cmd, check=False)
                        self.assertEqual(r.returncode, 0, r.stderr)
                        self.assertEqual(os.stat(q).st_size, 0)
                        for f in (q, os.path.join(m.upper, name)):
                            self.assertEqual(
                                stat.S_IMODE(os.stat(f).st_mode), want,
                                (opts, name, f))
                m.unmount()

    def test_writes_clear_set_id_bits(self):
        """A write by an unprivileged owner clears set-user-id (and
        set-group-id on a group-executable file) on every write path,
        direct I/O included: the kernel leaves that one to the daemon.
        The kernel's cached mode goes too, or exec would still honour
        the bit; root's write keeps the bits, unless root lacks
        CAP_FSETID (a container that dropped it): the daemon took every
        root for privileged."""
        self.require_root()
        self.require_tool("setpriv", "dd")
        low = self.layer("low-sid", {"keep": b"k"})
        prog_src = "/usr/bin/id"

        def as_user(uid, args):
            return self.run_cmd(["setpriv", "--reuid=%d" % uid,
                                 "--regid=%d" % uid, "--clear-groups"]
                                + args, check=False)

        def dd(path, direct, uid=None, src="/dev/zero"):
            args = ["dd", "if=" + src, "of=" + path, "bs=4096",
                    "count=1", "conv=notrunc"]
            if direct:
                args.append("oflag=direct")
            if uid == "root without CAP_FSETID":
                r = self.run_cmd(["setpriv", "--inh-caps=-all",
                                  "--bounding-set=-fsetid"] + args,
                                 check=False)
            elif uid is not None:
                r = as_user(uid, args)
            else:
                r = self.run_cmd(args, check=False)
            self.assertEqual(r.returncode, 0, r.stderr)

        for opts in ((), ("passthrough=off",),
                     ("passthrough=off", "writeback=on")):
            with self.subTest(opts=opts):
                m = self.mount_rw([low], opts=opts + ("suid",),
                                  name="sid%d" % len(opts))
                cases = {"direct": (0o4755, True, 65534, 0o755),
                         "buffered": (0o4755, False, 65534, 0o755),
                         "sgid": (0o2775, True, 65534, 0o775),
                         "root": (0o4755, True, None, 0o4755),
                         "nofsetid": (0o4755, True,
                                      "root without CAP_FSETID", 0o755)}
                for name, (mode, direct, uid, want) in cases.items():
                    p = os.path.join(m.path, name)
                    write(p, b"x" * 8192, "wb")
                    os.chown(p, 65534, 65534)
                    os.chmod(p, mode)
                    dd(p, direct, uid)
                    for q in (p, os.path.join(m.upper, name)):
                        self.assertEqual(stat.S_IMODE(os.stat(q).st_mode),
                                         want, (name, q))
                # A set-user-id program rewritten in place by its owner
                # no longer runs as its owner.
                prog = os.path.join(m.path, "prog")
                with open(prog_src, "rb") as f:
                    body = f.read()
                write(prog, body, "wb")
                os.chown(prog, 65534, 65534)
                os.chmod(prog, 0o4755)
                self.assertIn("euid=65534",
                              as_user(1000, [prog]).stdout.decode())
                head = self.path("prog-head")
                write(head, body[:4096], "wb")
                dd(prog, True, 65534, src=head)
                out = as_user(1000, [prog])
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertNotIn("euid=", out.stdout.decode())
                m.unmount()

    def test_copy_up_on_an_upper_without_o_tmpfile(self):
        """Where the upper filesystem cannot make unnamed files (here a
        fuse-overlayfs mount), copies are built in the workdir and
        renamed into place, and nothing stays there."""
        self.require_tool("fuse-overlayfs")
        outer = self.mkdirs("outer")
        olow, oup, owork = self.mkdirs("outer-low", "outer-up",
                                       "outer-work")
        self.run_cmd(["fuse-overlayfs", "-o",
                      "lowerdir=%s,upperdir=%s,workdir=%s"
                      % (olow, oup, owork), outer])
        self.before_cleanup(lambda: self.run_cmd(
            ["fusermount3", "-u", outer], check=False))
        up = os.path.join(outer, "up")
        work = os.path.join(outer, "work")
        os.makedirs(up)
        os.makedirs(work)
        try:
            os.close(os.open(up, os.O_TMPFILE | os.O_RDWR, 0o600))
            self.skipTest("fuse-overlayfs makes unnamed files now")
        except OSError as e:
            self.assertEqual(e.errno, errno.EOPNOTSUPP)
        data = os.urandom(20000)
        low = self.layer("low-nt", {"d/f": data, "d/g": "g", "d/h": "h"})
        m = self.mount([low], up, work)
        with open(os.path.join(m.path, "d/f"), "ab") as f:
            f.write(b"+")
        os.chmod(os.path.join(m.path, "d/g"), 0o600)
        os.link(os.path.join(m.path, "d/h"), os.path.join(m.path, "h2"))
        self.assertEqual(read(os.path.join(up, "d/f")), data + b"+")
        self.assertEqual(read(os.path.join(m.path, "d/f")), data + b"+")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(up, "d/g"))
                                      .st_mode), 0o600)
        self.assertEqual(read(os.path.join(m.path, "d/g")), b"g")
        self.assertEqual(read(os.path.join(m.path, "h2")), b"h")
        self.assertEqual(os.listdir(os.path.join(work, "work")), [])
        self.assertEqual(m.unmount(), 0)

    def test_copy_up_inherits_no_default_acl(self):
        """A copy keeps the lower file's ACLs exactly: the default ACL of
        its directory (copied up with it) must not give the copy an
        access ACL the lower file never had, for a metadata and for a
        data copy-up."""
        self.require_tool("setfacl", "getfacl")
        low = self.layer("low-dacl", {"d/plain": b"p", "d/data": b"d"})
        self.run_cmd(["setfacl", "-d", "-m", "u:4321:rwx",
                      os.path.join(low, "d")])
        m = self.mount_rw([low])
        os.chmod(os.path.join(m.path, "d/plain"), 0o600)
        with open(os.path.join(m.path, "d/data"), "ab") as f:
            f.write(b"+")
        self.assertIn("default:user:4321:rwx", self.run_cmd(
            ["getfacl", "-cn", os.path.join(m.upper, "d")]).stdout.decode())
        for n, mode in (("plain", 0o600), ("data", 0o644)):
            for p in (os.path.join(m.path, "d", n),
                      os.path.join(m.upper, "d", n)):
                acl = self.run_cmd(["getfacl", "-cn", p]).stdout.decode()
                self.assertNotIn("4321", acl, p)
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), mode, p)

    def test_entry_made_over_a_whiteout_inherits_the_default_acl(self):
        """With whiteout=overlay, an entry made where a lower one was
        removed is built in workdir and swapped in over the 0/0 device:
        it must get the default ACL of its directory all the same (the
        kernel's overlayfs and a plain directory give it), masked by the
        mode it was made with, the umask ignored; a directory gets the
        default ACL too."""
        self.require_tool("setfacl", "getfacl")
        low = self.layer("low-wh-dacl", {"d/f": b"f", "d/sub/x": b"x",
                                         "d/p": b"p"})
        self.run_cmd(["setfacl", "-d", "-m", "u:4321:rwx,g:77:r-x",
                      os.path.join(low, "d")])
        for opts in ((), ("whiteout=overlay",)):
            with self.subTest(opts=opts):
                m = self.mount_rw([low], opts=opts,
                                  name="wh-dacl-%d" % len(opts))
                d = os.path.join(m.path, "d")
                os.unlink(os.path.join(d, "f"))
                shutil.rmtree(os.path.join(d, "sub"))
                os.unlink(os.path.join(d, "p"))
                old = os.umask(0o077)
                try:
                    fd = os.open(os.path.join(d, "f"),
                                 os.O_CREAT | os.O_WRONLY, 0o640)
                    os.close(fd)
                    os.mkdir(os.path.join(d, "sub"), 0o750)
                    os.mkfifo(os.path.join(d, "p"), 0o644)
                finally:
                    os.umask(old)
                want = {"f": ("user:4321:rwx\t#effective:r--", 0o640),
                        "sub": ("user:4321:rwx\t#effective:r-x", 0o750),
                        "p": ("user:4321:rwx\t#effective:r--", 0o644)}
                for n, (entry, mode) in want.items():
                    p = os.path.join(d, n)
                    acl = self.run_cmd(["getfacl", "-n", p]).stdout.decode()
                    self.assertIn(entry, acl, (n, acl))
                    self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), mode,
                                     n)
                sub = self.run_cmd(["getfacl", "-n", os.path.join(
                    d, "sub")]).stdout.decode()
                self.assertIn("default:user:4321:rwx", sub)
                # No staging directory left behind.
                self.assertEqual([n for n in os.listdir(os.path.join(
                    m.work, "work")) if n.startswith("#")], [])
                self.assertEqual(m.unmount(), 0)

    def test_access_acl_by_a_non_member_drops_set_group_id(self):
        """Setting an access ACL drops the set-group-id bit when the
        caller (not root) is outside the file's group, as the kernel
        does on a local filesystem; a member keeps it.  Files and
        directories, lower and upper."""
        self.require_root()
        self.require_tool("setpriv")
        low = self.layer("low-acl-sgid", {"f": b"f", "d/": None, "g": b"g"})
        for n in ("f", "d", "g"):
            os.chown(os.path.join(low, n), 1000, 7)
            os.chmod(os.path.join(low, n), 0o2775)
        m = self.mount_rw([low], name="acl-sgid")
        acl = lfstest.acl_value([
            (lfstest.ACL_USER_OBJ, 7, None), (lfstest.ACL_USER, 5, 4321),
            (lfstest.ACL_GROUP_OBJ, 7, None), (lfstest.ACL_MASK, 7, None),
            (lfstest.ACL_OTHER, 5, None)])
        with open(self.path("acl.bin"), "wb") as f:
            f.write(acl)
        code = ("import os, sys\n"
                "os.setxattr(sys.argv[1], 'system.posix_acl_access', "
                "open(sys.argv[2], 'rb').read())\n")
        for name, groups, keeps in (("f", "1000", False),
                                    ("d", "1000", False),
                                    ("g", "1000,7", True)):
            p = os.path.join(m.path, name)
            r = subprocess.run(["setpriv", "--reuid=1000", "--regid=1000",
                                "--groups=" + groups, "python3", "-c", code,
                                p, self.path("acl.bin")],
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            mode = stat.S_IMODE(os.stat(p).st_mode)
            self.assertEqual(bool(mode & stat.S_ISGID), keeps, (name, oct(mode)))
            self.assertEqual(mode & 0o777, 0o775, name)

    def test_access_acl_removed_by_a_non_member_drops_set_group_id(self):
        """Removing the access ACL drops the set-group-id bit too when
        the caller (not root) is outside the group, as kernel overlayfs
        does: it copies the entry up for that, so the removal of an ACL
        a lower entry lacks succeeds on the copy.  A member's removal of
        an absent ACL fails (ENODATA) and copies nothing up."""
        self.require_root()
        self.require_tool("setpriv", "setfacl")
        low = self.layer("low-acl-rm", {"f": b"f", "d/": None, "h": b"h",
                                        "g": b"g"})
        self.run_cmd(["setfacl", "-m", "u:4321:rwx", os.path.join(low, "h")])
        for n in ("f", "d", "h", "g"):
            os.chown(os.path.join(low, n), 1000, 7)
            os.chmod(os.path.join(low, n), 0o2775)
        m = self.mount_rw([low], name="acl-rm")
        code = ("import errno, os, sys\n"
                "try:\n"
                "    os.removexattr(sys.argv[1], 'system.posix_acl_access')\n"
                "    print('ok')\n"
                "except OSError as e:\n"
                "    print(errno.errorcode[e.errno])\n")
        for name, groups, want, keeps in (("f", "1000", "ok", False),
                                          ("d", "1000", "ok", False),
                                          ("h", "1000", "ok", False),
                                          ("g", "1000,7", "ENODATA", True)):
            p = os.path.join(m.path, name)
            r = subprocess.run(["setpriv", "--reuid=1000", "--regid=1000",
                                "--groups=" + groups, "python3", "-c", code,
                                p], capture_output=True, timeout=60)
            self.assertEqual(r.stdout.decode().strip(), want,
                             (name, r.stderr.decode()))
            mode = stat.S_IMODE(os.stat(p).st_mode)
            self.assertEqual(bool(mode & stat.S_ISGID), keeps, (name, oct(mode)))
            self.assertEqual(mode & 0o777, 0o775, name)
            self.assertEqual(os.path.lexists(os.path.join(m.upper, name)),
                             not keeps, name)
        self.assertNotIn("system.posix_acl_access",
                         os.listxattr(os.path.join(m.path, "h")))

    def test_root_without_fsetid_is_no_member_of_the_group(self):
        """Root that dropped CAP_FSETID (a container can) is held to a
        user's rules where set-group-id bits are concerned: an access ACL
        it sets on a file of a group it is not in drops the bit, as on
        kernel overlayfs.  The daemon took every root for privileged."""
        self.require_root()
        self.require_tool("setpriv", "setfacl")
        low = self.layer("low-nofsetid", {"f": b"f"})
        os.chown(os.path.join(low, "f"), 1000, 7)
        os.chmod(os.path.join(low, "f"), 0o2775)
        roots = [("layerfs", self.mount_rw([low], name="nofsetid").path),
                 ("kernel overlayfs", self.kernel_overlay([low], "nofsetid"))]
        roots = [(what, root) for what, root in roots if root]
        for what, root in roots:
            with self.subTest(what):
                p = os.path.join(root, "f")
                self.run_cmd(["setpriv", "--inh-caps=-all",
                              "--bounding-set=-fsetid", "--clear-groups",
                              "setfacl", "-m", "u:4321:r", p])
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o0775)

    def test_reader_and_mapping_made_before_copy_up_see_its_writes(self):
        """A descriptor and a mapping of a lower file, made before an
        open for writing copies it up, read what is written after, in
        both modes of serving upper files (kernel overlayfs leaves the
        mapping on the lower data)."""
        low = self.layer("low-early", {"f": b"old" * 2000})
        for opts in (("passthrough=0",), ()):
            with self.subTest(opts=opts):
                m = self.mount_rw([low], opts=opts,
                                  name="early%d" % len(opts))
                p = os.path.join(m.path, "f")
                reader = os.open(p, os.O_RDONLY)
                mp = mmap.mmap(reader, 0, prot=mmap.PROT_READ)
                try:
                    self.assertEqual(mp[:3], b"old")
                    fd = os.open(p, os.O_WRONLY)
                    try:
                        os.pwrite(fd, b"NEW", 0)
                        os.pwrite(fd, b"END", 5997)
                    finally:
                        os.close(fd)
                    self.assertEqual(os.pread(reader, 3, 0), b"NEW")
                    self.assertEqual(os.pread(reader, 3, 5997), b"END")
                    self.assertEqual(mp[:3], b"NEW")
                    self.assertEqual(mp[5997:6000], b"END")
                finally:
                    mp.close()
                    os.close(reader)
                self.assertEqual(m.unmount(), 0)
                self._mounts.remove(m)
                with open(os.path.join(m.upper, "f"), "rb") as f:
                    self.assertEqual(f.read(3), b"NEW")
                with open(os.path.join(low, "f"), "rb") as f:
                    self.assertEqual(f.read(3), b"old")

    def test_mapping_of_an_append_descriptor_writes_in_place(self):
        """A shared mapping of a descriptor opened with O_APPEND writes
        its pages back where they are, also when the file is served
        through the page cache (a reader opened it while it was lower,
        so passthrough cannot take it): the daemon's descriptor must
        not append them (the file doubled in size)."""
        low = self.layer("low-mapapp", {"d": b"a" * 1045})
        m = self.mount_rw([low], name="mapapp")
        p = os.path.join(m.path, "d")
        reader = os.open(p, os.O_RDONLY)
        fd = os.open(p, os.O_RDWR | os.O_APPEND)
        try:
            os.write(fd, b"b" * 1003)
            mp = mmap.mmap(fd, 2048, mmap.MAP_SHARED,
                           mmap.PROT_READ | mmap.PROT_WRITE)
            mp[10:110] = b"m" * 100
            mp.flush()
            mp.close()
        finally:
            os.close(fd)
            os.close(reader)
        want = b"a" * 10 + b"m" * 100 + b"a" * 935 + b"b" * 1003
        with open(p, "rb") as f:
            self.assertEqual(f.read(), want)
        self.assertEqual(m.unmount(), 0)
        with open(os.path.join(m.upper, "d"), "rb") as f:
            self.assertEqual(f.read(), want)

    def test_mapped_writes_keep_file_capabilities(self):
        """A write through a shared mapping keeps the file's
        capabilities (security.capability), as on a local filesystem and
        kernel overlayfs; a write(2) drops them.  Served through the
        page cache (the writeback cache, or a page-cache handle with
        passthrough), the daemon's own write of those pages made the
        upper filesystem drop them (the random differential test, seed
        3003, writeback cache)."""
        cap = bytes.fromhex("0100000200200000000000000000000000000000")
        low = self.layer("low-mapcap", {"f": b"a" * 5000})
        try:
            os.setxattr(os.path.join(low, "f"), "security.capability", cap)
        except OSError as e:
            self.skipTest("cannot set security.capability here: %s" % e)
        for opts in (("passthrough=0",), ()):
            with self.subTest(opts=opts):
                m = self.mount_rw([low], opts=opts,
                                  name="mapcap%d" % len(opts))
                p = os.path.join(m.path, "f")
                # A reader first, so that with passthrough the file is
                # served through the page cache too.
                reader = os.open(p, os.O_RDONLY)
                fd = os.open(p, os.O_RDWR)
                try:
                    mp = mmap.mmap(fd, 4096, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE)
                    mp[10:20] = b"m" * 10
                    mp.flush()
                    mp.close()
                    os.fsync(fd)
                finally:
                    os.close(fd)
                    os.close(reader)
                self.assertEqual(read(p)[:30], b"a" * 10 + b"m" * 10 +
                                 b"a" * 10)
                self.assertEqual(os.getxattr(p, "security.capability"), cap)
                self.assertEqual(m.unmount(), 0)
                self._mounts.remove(m)
                up = os.path.join(m.upper, "f")
                self.assertEqual(os.getxattr(up, "security.capability"),
                                 cap)
                m = self.mount([low], m.upper, m.work, opts=opts,
                               mnt=self.path("mapcap-again%d" % len(opts)))
                with open(os.path.join(m.path, "f"), "r+b") as f:
                    f.write(b"w")
                with self.assertRaises(OSError) as cm:
                    os.getxattr(os.path.join(m.path, "f"),
                                "security.capability")
                self.assertEqual(cm.exception.errno, errno.ENODATA)
                self.assertEqual(m.unmount(), 0)
                self._mounts.remove(m)

    def test_data_copy_up_keeps_file_capabilities(self):
        """A file copied up metadata-only (a chown) and given
        capabilities keeps them when its data follows: an open for
        writing, or a copy_file_range that copies nothing, writes
        nothing of the caller's, so nothing clears them, as on kernel
        overlayfs.  The daemon writing the lower data into the upper
        copy made the upper filesystem drop them (the random
        differential test, seed 1823670226, writeback cache).  A
        write(2) drops them after."""
        cap = bytes.fromhex("0100000200200000000000000000000000000000")
        low = self.layer("low-datacap", {"f": b"a" * 5000, "g": b"c" * 9,
                                         "src": b"s" * 10})
        for opts in (("passthrough=0",), ()):
            with self.subTest(opts=opts):
                m = self.mount_rw([low], opts=opts,
                                  name="datacap%d" % len(opts))
                for name in ("f", "g"):
                    p = os.path.join(m.path, name)
                    os.chown(p, 7, 7)
                    try:
                        os.setxattr(p, "security.capability", cap)
                    except OSError as e:
                        self.skipTest("cannot set security.capability "
                                      "here: %s" % e)
                f, g = (os.path.join(m.path, n) for n in ("f", "g"))
                os.close(os.open(f, os.O_WRONLY))
                src = os.open(os.path.join(m.path, "src"), os.O_RDONLY)
                dst = os.open(g, os.O_WRONLY)
                try:
                    self.assertEqual(os.copy_file_range(src, dst, 100, 50),
                                     0)
                finally:
                    os.close(dst)
                    os.close(src)
                for p, data in ((f, b"a" * 5000), (g, b"c" * 9)):
                    self.assertEqual(os.getxattr(p, "security.capability"),
                                     cap)
                    self.assertEqual(read(p), data)
                    self.assertEqual(os.getxattr(
                        os.path.join(m.upper, os.path.basename(p)),
                        "security.capability"), cap)
                with open(f, "r+b") as fh:
                    fh.write(b"w")
                with self.assertRaises(OSError) as cm:
                    os.getxattr(f, "security.capability")
                self.assertEqual(cm.exception.errno, errno.ENODATA)
                self.assertEqual(read(f), b"w" + b"a" * 4999)

    def test_change_lands_with_the_copy_up(self):
        """chmod and chown of a lower file are made on the staged copy,
        with the side effects the real calls have: chmod rewrites an
        ACL's mask, chown clears set-id bits.  Later changes go to the
        published file."""
        self.require_metacopy()
        self.require_tool("setfacl", "getfacl")
        low = self.layer("low3", {"f": b"acl", "s": b"suid"})
        os.chmod(os.path.join(low, "s"), 0o4755)
        self.run_cmd(["setfacl", "-m", "u:1234:rwx", os.path.join(low, "f")])
        stats = self.path("staged-stats.json")
        m = self.mount_rw([low], opts=("stats=" + stats,))
        f, s = os.path.join(m.path, "f"), os.path.join(m.path, "s")
        os.chmod(f, 0o640)
        os.chown(s, 7, 8)
        for p in (f, os.path.join(m.upper, "f")):
            acl = self.run_cmd(["getfacl", "-cn", p]).stdout.decode()
            self.assertIn("user:1234:rwx", acl)
            self.assertIn("mask::r--", acl, p)
            self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o640)
        for p in (s, os.path.join(m.upper, "s")):
            st = os.stat(p)
            self.assertEqual((st.st_uid, st.st_gid), (7, 8))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o755, p)
        os.utime(f, (100, 200))
        os.chown(f, 9, 9)
        st = os.stat(os.path.join(m.upper, "f"))
        self.assertEqual((st.st_mtime, st.st_uid), (200, 9))
        self.assertEqual(read(f), b"acl")
        low_s = os.stat(os.path.join(low, "s"))
        self.assertEqual((stat.S_IMODE(low_s.st_mode), low_s.st_uid),
                         (0o4755, 0))
        m.unmount()
        self.assertEqual(json.load(open(stats))["meta_copyups"], 2)

    def test_truncate_and_open_flags(self):
        low = self.lower()
        m = self.mount_rw([low])
        p = os.path.join(m.path, "big/data.bin")
        with open(p, "wb") as f:  # O_TRUNC: no data needs copying
            f.write(b"short")
        self.assertEqual(read(p), b"short")
        self.assertEqual(os.stat(os.path.join(m.upper, "big/data.bin")).st_size,
                         5)
        with self.assertRaises(FileExistsError):
            os.open(os.path.join(m.path, "etc/conf"),
                    os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        fd = os.open(os.path.join(m.path, "etc/conf"), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"appended\n")
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"again\n")  # O_APPEND ignores the seek
        os.close(fd)
        self.assertEqual(read(os.path.join(m.path, "etc/conf")),
                         b"setting=1\nappended\nagain\n")
        os.truncate(os.path.join(m.path, "tree/a/1"), 0)
        self.assertEqual(read(os.path.join(m.path, "tree/a/1")), b"")
        os.truncate(os.path.join(m.path, "tree/a/2"), 5)
        self.assertEqual(read(os.path.join(m.path, "tree/a/2")), b"2\0\0\0\0")

    def test_fallocate_copy_file_range_and_locks(self):
        low = self.lower()
        m = self.mount_rw([low])
        p = os.path.join(m.path, "newfile")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        os.posix_fallocate(fd, 0, 1 * MiB)
        self.assertEqual(os.fstat(fd).st_size, MiB)
        src = os.open(os.path.join(m.path, "big/data.bin"), os.O_RDONLY)
        n = os.copy_file_range(src, fd, 4096, 0, 0)
        self.assertEqual(n, 4096)
        os.close(src)
        self.assertEqual(read(p)[:4096],
                         read(os.path.join(low, "big/data.bin"))[:4096])
        # flock and POSIX locks, seen by another process.
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = subprocess.run(["flock", "-n", p, "true"], capture_output=True)
        self.assertNotEqual(r.returncode, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
        child = os.fork()
        if child == 0:
            fd2 = os.open(p, os.O_RDWR)
            try:
                fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
                os._exit(1)
            except OSError:
                os._exit(0)
        _, status = os.waitpid(child, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        os.close(fd)

    def test_utimens_now_and_omit(self):
        low = self.lower()
        m = self.mount_rw([low])
        p = os.path.join(m.path, "etc/conf")
        before = os.stat(p)
        self.run_cmd(["touch", "-a", p])  # atime now, mtime omitted
        st = os.stat(p)
        self.assertEqual(st.st_mtime_ns, before.st_mtime_ns)
        self.assertGreater(st.st_atime, time.time() - 60)
        self.run_cmd(["touch", "-m", "-d", "@1500000000", p])
        st2 = os.stat(p)
        self.assertEqual(st2.st_mtime, 1500000000)
        self.assertEqual(st2.st_atime_ns, st.st_atime_ns)

    def test_acls(self):
        self.require_tool("setfacl", "getfacl")
        low = self.lower()
        m = self.mount_rw([low])
        p = os.path.join(m.path, "etc/conf")
        self.run_cmd(["setfacl", "-m", "u:4321:r", p])
        out = self.run_cmd(["getfacl", "-cn", p]).stdout.decode()
        self.assertIn("user:4321:r--", out)
        d = os.path.join(m.path, "acldir")
        os.mkdir(d)
        self.run_cmd(["setfacl", "-d", "-m", "u:4321:rwx", d])
        write(os.path.join(d, "child"), "x")
        out = self.run_cmd(["getfacl", "-cn", os.path.join(d, "child")]).stdout
        self.assertIn(b"user:4321:rwx", out)  # inherited default ACL
        if os.geteuid() == 0:
            # Enforced by the kernel: user 4321 may read, 4322 may not.
            r1 = subprocess.run(["setpriv", "--reuid=4321", "--regid=4321",
                                 "--clear-groups", "cat", p],
                                capture_output=True)
            os.chmod(p, 0o600)
            self.run_cmd(["setfacl", "-m", "u:4321:r", p])
            r2 = subprocess.run(["setpriv", "--reuid=4322", "--regid=4322",
                                 "--clear-groups", "cat", p],
                                capture_output=True)
            self.assertEqual(r1.returncode, 0, r1.stderr)
            self.assertNotEqual(r2.returncode, 0)

    def test_new_files_belong_to_the_caller(self):
        self.require_root()
        low = self.layer("lowp", {"pub/": None, "sg/": None})
        os.chmod(os.path.join(low, "pub"), 0o1777)
        os.chown(os.path.join(low, "sg"), 0, 3333)
        os.chmod(os.path.join(low, "sg"), 0o2777)
        m = self.mount_rw([low])
        self.run_cmd(["setpriv", "--reuid=2001", "--regid=2002",
                      "--clear-groups", "sh", "-c",
                      "umask 022; echo x > %s/pub/mine; mkdir %s/sg/sub; "
                      "echo y > %s/sg/f" % ((m.path,) * 3)])
        st = os.stat(os.path.join(m.upper, "pub/mine"))
        self.assertEqual((st.st_uid, st.st_gid), (2001, 2002))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o644)
        st = os.stat(os.path.join(m.upper, "sg/f"))
        self.assertEqual((st.st_uid, st.st_gid), (2001, 3333))
        st = os.stat(os.path.join(m.upper, "sg/sub"))
        self.assertEqual(st.st_gid, 3333)
        self.assertTrue(st.st_mode & stat.S_ISGID)
        # Sticky directory: another user may not remove it.
        r = subprocess.run(["setpriv", "--reuid=2003", "--regid=2003",
                            "--clear-groups", "rm", "-f",
                            os.path.join(m.path, "pub/mine")],
                           capture_output=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(os.path.exists(os.path.join(m.path, "pub/mine")))

    def test_set_group_id_directory_over_whiteouts(self):
        # A name deleted from a lower layer holds a whiteout, and with
        # whiteout=overlay a new entry there is made in workdir and
        # swapped in.  It must come out as one made where no whiteout
        # was: the directory's group, the caller's umask, set-id bits as
        # the kernel leaves them (set-group-id stripped from a
        # group-executable file of a caller outside the group, kept for
        # root).
        self.require_root()
        for whiteout in ("overlay", "dotwh"):
            low = self.layer("sgw-" + whiteout,
                             {"sg/f": "f", "sg/d/": None})
            os.chown(os.path.join(low, "sg"), 0, 3333)
            os.chmod(os.path.join(low, "sg"), 0o2777)
            m = self.mount_rw([low], opts=("whiteout=" + whiteout,),
                              name="sgw-" + whiteout)
            sg = os.path.join(m.path, "sg")
            os.unlink(os.path.join(sg, "f"))
            os.rmdir(os.path.join(sg, "d"))
            make = ("umask 027; "
                    "python3 -c 'import os, sys\n"
                    "for n in sys.argv[1:3]: "
                    "os.close(os.open(n, os.O_CREAT | os.O_WRONLY, 0o6777))\n"
                    "for n in sys.argv[3:]: os.mkdir(n, 0o777)' "
                    "%s/f %s/g %s/d %s/e" % ((sg,) * 4))
            self.run_cmd(["sh", "-c", make])
            for name, mode in (("f", 0o6750), ("d", 0o2750)):
                got = os.stat(os.path.join(sg, name))
                fresh = os.stat(os.path.join(sg, "g" if name == "f"
                                             else "e"))
                self.assertEqual((oct(got.st_mode), got.st_gid),
                                 (oct(fresh.st_mode), fresh.st_gid),
                                 "%s over a whiteout (%s)" % (name, whiteout))
                self.assertEqual((stat.S_IMODE(got.st_mode), got.st_gid),
                                 (mode, 3333), name)
            for name in ("f", "g"):
                os.unlink(os.path.join(sg, name))
            for name in ("d", "e"):
                os.rmdir(os.path.join(sg, name))
            self.run_cmd(["setpriv", "--reuid=2001", "--regid=2002",
                          "--clear-groups", "sh", "-c",
                          make.replace("umask 027", "umask 022")])
            for name, mode in (("f", 0o4755), ("g", 0o4755),
                               ("d", 0o2755), ("e", 0o2755)):
                st = os.stat(os.path.join(sg, name))
                self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid),
                                 (mode, 3333), "%s (%s)" % (name, whiteout))

    def test_reserved_names_refused_everywhere(self):
        low = self.lower()
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        ops = [
            lambda: os.open(j(".wh.x"), os.O_CREAT | os.O_WRONLY, 0o644),
            lambda: os.mkdir(j(".wh.d")),
            lambda: os.mkfifo(j(".wh.f")),
            lambda: os.symlink("x", j(".wh.s")),
            lambda: os.link(j("etc/conf"), j(".wh.l")),
            lambda: os.rename(j("etc/conf"), j(".wh.conf")),
            lambda: os.mkdir(j(".wh..wh..opq")),
            # The kernel's whiteout, a 0/0 character device: it would
            # hide the lower etc/conf from the next mount on.
            lambda: os.mknod(j("etc/conf2"), 0o644 | stat.S_IFCHR, 0),
        ]
        for op in ops:
            with self.assertRaises(OSError) as cm:
                op()
            self.assertEqual(cm.exception.errno, errno.EPERM)
        self.assertEqual([n for n in tree_files(m.upper)
                          if os.path.basename(n).startswith(".wh.")], [])
        self.assertTrue(os.path.exists(j("etc/conf")))
        self.assertFalse(os.path.lexists(j("etc/conf2")))
        if os.geteuid() == 0:
            # Other devices are made as asked.
            os.mknod(j("null2"), 0o644 | stat.S_IFCHR, os.makedev(1, 3))
            self.assertEqual(os.lstat(j("null2")).st_rdev,
                             os.makedev(1, 3))

    def test_whiteout_rules(self):
        low = self.lower()
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        # No whiteout for a name that only ever existed in the upper layer.
        write(j("tmpfile"), "t")
        os.unlink(j("tmpfile"))
        os.mkdir(j("tmpdir"))
        os.rmdir(j("tmpdir"))
        self.assertNotIn(".wh.tmpfile", os.listdir(m.upper))
        self.assertNotIn(".wh.tmpdir", os.listdir(m.upper))
        # rmdir of a merged directory checks the merged view.
        with self.assertRaises(OSError) as cm:
            os.rmdir(j("tree"))
        self.assertEqual(cm.exception.errno, errno.ENOTEMPTY)
        self.run_cmd(["rm", "-rf", j("tree")])
        self.assertEqual(os.listdir(m.upper).count(".wh.tree"), 1)
        # Recreated: opaque, and no whiteout is ever left inside it.
        os.makedirs(j("tree/a"))
        write(j("tree/a/new"), "n")
        os.unlink(j("tree/a/new"))
        self.assertEqual(os.listdir(j("tree")), ["a"])
        self.assertIn(".wh..wh..opq", os.listdir(os.path.join(m.upper, "tree")))
        self.assertEqual(os.listdir(os.path.join(m.upper, "tree/a")), [])
        self.assertNotIn(".wh.tree", os.listdir(m.upper))

    def test_whiteouts_share_one_inode(self):
        # As kernel overlayfs: every whiteout is a link to one inode in
        # the workdir, so deleting a name allocates no inode.
        low = self.lower()
        m = self.mount_rw([low])
        os.unlink(os.path.join(m.path, "etc/conf"))
        os.unlink(os.path.join(m.path, "tree/a/1"))
        os.unlink(os.path.join(m.path, "exec"))
        sts = [os.lstat(os.path.join(m.upper, p))
               for p in ("etc/.wh.conf", "tree/a/.wh.1", ".wh.exec")]
        for st in sts:
            self.assertTrue(stat.S_ISREG(st.st_mode))
            self.assertEqual((st.st_size, stat.S_IMODE(st.st_mode)), (0, 0))
        self.assertEqual(len({(st.st_dev, st.st_ino) for st in sts}), 1)
        self.assertGreaterEqual(sts[0].st_nlink, 4)  # + the workdir's own
        for p in ("etc/conf", "tree/a/1", "exec"):
            self.assertFalse(os.path.lexists(os.path.join(m.path, p)))
        # A remount starts a new shared inode; the old links still hide.
        m.unmount()
        m2 = self.mount([low], m.upper, m.work)
        os.unlink(os.path.join(m2.path, "tree/b/3"))
        self.assertFalse(os.path.lexists(os.path.join(m2.path, "etc/conf")))
        self.assertFalse(os.path.lexists(os.path.join(m2.path, "tree/b/3")))
        self.assertTrue(os.path.exists(os.path.join(m2.path, "tree/a/2")))

    def test_full_shared_whiteout_is_renewed(self):
        low = self.layer("lowmany", {"a": "a", "b": "b"})
        m = self.mount_rw([low])
        os.unlink(os.path.join(m.path, "a"))
        shared = os.path.join(m.upper, ".wh.a")
        # Fill the shared inode's link count from outside the mount.
        spare = self.mkdirs("links")
        full = False
        for i in range(70000):
            try:
                os.link(shared, os.path.join(spare, str(i)))
            except OSError as e:
                if e.errno != errno.EMLINK:
                    raise
                full = True
                break
        if not full:
            self.skipTest("the upper filesystem allows more than 70000 "
                          "links to one inode")
        os.unlink(os.path.join(m.path, "b"))
        self.assertFalse(os.path.lexists(os.path.join(m.path, "b")))
        st = os.lstat(os.path.join(m.upper, ".wh.b"))
        self.assertNotEqual(st.st_ino, os.lstat(shared).st_ino)
        self.assertEqual((st.st_size, stat.S_IMODE(st.st_mode)), (0, 0))

    def test_overlay_whiteout_format(self):
        self.require_root()
        low = self.lower()
        m = self.mount_rw([low], opts=("whiteout=overlay",))
        os.unlink(os.path.join(m.path, "etc/conf"))
        self.run_cmd(["rm", "-rf", os.path.join(m.path, "tree")])
        os.mkdir(os.path.join(m.path, "tree"))
        st = os.lstat(os.path.join(m.upper, "etc/conf"))
        self.assertTrue(stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
        # The device whiteouts are links to one inode too.
        os.unlink(os.path.join(m.path, "exec"))
        st2 = os.lstat(os.path.join(m.upper, "exec"))
        self.assertTrue(stat.S_ISCHR(st2.st_mode) and st2.st_rdev == 0)
        self.assertEqual(st.st_ino, st2.st_ino)
        self.assertEqual(xattr(os.path.join(m.upper, "tree"),
                               "trusted.overlay.opaque"), b"y")
        self.assertEqual(os.listdir(os.path.join(m.path, "tree")), [])
        self.assertFalse(os.path.exists(os.path.join(m.path, "etc/conf")))

    def test_long_names_use_device_whiteouts(self):
        self.require_root()
        name = "n" * 253  # ".wh." + 253 bytes does not fit in 255
        low = self.layer("lowlong", {name: "long"})
        m = self.mount_rw([low])
        os.unlink(os.path.join(m.path, name))
        self.assertFalse(os.path.exists(os.path.join(m.path, name)))
        st = os.lstat(os.path.join(m.upper, name))
        self.assertTrue(stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
        write(os.path.join(m.path, name), "again")
        self.assertEqual(read(os.path.join(m.path, name)), b"again")

    def test_directory_rename_by_redirect(self):
        low = self.lower()
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        write(j("tree/a/added"), "upper file in a merged dir")
        os.rename(j("tree"), j("renamed"))  # no EXDEV
        os.rename(j("renamed/a"), j("a-moved"))
        self.assertFalse(os.path.exists(j("tree")))
        self.assertEqual(sorted(os.listdir(j("renamed"))), ["b"])
        self.assertEqual(sorted(os.listdir(j("a-moved"))),
                         ["1", "2", "added"])
        self.assertEqual(read(j("a-moved/1")), b"1")
        self.assertEqual(xattr(os.path.join(m.upper, "renamed"),
                               "user.layerfs.redirect"), b"/tree")
        # Nothing was copied but the directories themselves: the upper
        # "renamed" holds only the whiteout of the "a" moved out of it.
        self.assertEqual(sorted(tree_files(os.path.join(m.upper, "renamed"))),
                         [".wh.a"])
        view = snapshot(m.path, inodes=True)
        m.unmount()
        self._mounts.remove(m)
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        self.assertEqual(snapshot(m2.path, inodes=True), view)

    def test_hard_links_survive_copy_up(self):
        low = self.layer("lowh", {"a": "shared", "dir/": None})
        os.link(os.path.join(low, "a"), os.path.join(low, "dir/b"))
        os.link(os.path.join(low, "a"), os.path.join(low, "c"))
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        ino = os.stat(j("a")).st_ino
        write(j("dir/b"), "written through b")
        for n in ("a", "dir/b", "c"):
            st = os.stat(j(n))
            self.assertEqual(st.st_ino, ino, n)
            self.assertEqual(st.st_nlink, 3, n)
            self.assertEqual(read(j(n)), b"written through b", n)
        os.unlink(j("c"))
        self.assertEqual(os.stat(j("a")).st_nlink, 2)
        # Across a remount, through the index.
        m.unmount()
        self._mounts.remove(m)
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        j = lambda *a: os.path.join(m2.path, *a)
        self.assertEqual(read(j("a")), b"written through b")
        self.assertEqual(os.stat(j("a")).st_ino, os.stat(j("dir/b")).st_ino)
        self.assertEqual(os.stat(j("a")).st_nlink, 2)
        self.assertFalse(os.path.exists(j("c")))
        write(j("a"), "again through a")
        self.assertEqual(read(j("dir/b")), b"again through a")

    def test_link_count_skewed_by_a_crash_hides_no_name(self):
        # An unlink lowers an indexed hard link's count mark just before
        # it removes the name: a crash between the two leaves the mark
        # one too low.  Made here by hand, as that crash would leave it.
        # The count shown then read 0 for the last name, and link(2) of
        # it failed with ENOENT (found by review).
        for keep in ("a", "b"):
            with self.subTest(last_name=keep):
                tag = "skew-" + keep
                low = self.layer(tag, {"a": "data\n"})
                os.link(os.path.join(low, "a"), os.path.join(low, "b"))
                m = self.mount_rw([low], name=tag)
                os.chmod(os.path.join(m.path, "a"), 0o640)  # into the index
                gone = "b" if keep == "a" else "a"
                os.unlink(os.path.join(m.path, gone))
                self.assertEqual(os.stat(os.path.join(m.path, keep)).st_nlink, 1)
                self.assertEqual(m.unmount(), 0)
                self._mounts.remove(m)
                entries = [e for e in os.listdir(os.path.join(m.work, "index"))
                           if not e.endswith(".nlink")]
                self.assertEqual(len(entries), 1)
                entry = os.path.join(m.work, "index", entries[0])
                # "a" is an upper name of the entry; "b" is still only the
                # lower name, served by the entry.
                self.assertEqual(os.stat(entry).st_nlink, 2 if keep == "a" else 1)
                os.setxattr(entry, "user.layerfs.nlink", b"0")
                m = self.mount([low], m.upper, m.work,
                               mnt=self.path(tag + "-again"))
                j = lambda *a: os.path.join(m.path, *a)
                self.assertEqual(os.stat(j(keep)).st_nlink, 1)
                os.link(j(keep), j("c"))
                self.assertEqual(os.stat(j(keep)).st_nlink, 2)
                self.assertEqual(os.stat(j("c")).st_ino, os.stat(j(keep)).st_ino)
                self.assertEqual(read(j("c")), b"data\n")
                os.unlink(j(keep))
                self.assertEqual(os.stat(j("c")).st_nlink, 1)

    def test_index_entry_goes_with_the_last_name(self):
        """An indexed hard link whose names all went leaves the index,
        as kernel overlayfs cleans up an index entry when its inode's
        last name goes: a data copy gives its space back.  A descriptor
        still open keeps it until its close."""
        self.require_unchanging_layers("keeps the entries: a count may "
                                       "miss links made behind the mount")
        low = self.layer("release", {"a": "x" * 100000,
                                     "s": ("symlink", "target")})
        os.link(os.path.join(low, "a"), os.path.join(low, "b"))
        os.link(os.path.join(low, "s"), os.path.join(low, "t"),
                follow_symlinks=False)
        m = self.mount_rw([low], name="release")
        j = lambda *a: os.path.join(m.path, *a)
        index = os.path.join(m.work, "index")
        with open(j("a"), "a") as f:
            f.write("more")  # a copy with its data
        os.lchown(j("s"), 7, 7)  # a symlink's entry, with its count file
        self.assertEqual(len(os.listdir(index)), 3)
        fd = os.open(j("b"), os.O_RDONLY)
        try:
            os.unlink(j("a"))
            os.unlink(j("b"))
            self.assertEqual(len(os.listdir(index)), 3)
            self.assertEqual(os.pread(fd, 4, 100000), b"more")
        finally:
            os.close(fd)
        # (The kernel sends the release after close returns.)
        deadline = time.time() + 10
        while len(os.listdir(index)) > 2 and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(os.listdir(index)), 2)
        os.unlink(j("s"))
        self.assertEqual(len(os.listdir(index)), 2)
        os.unlink(j("t"))
        self.assertEqual(os.listdir(index), [])
        self.assertEqual(os.listdir(m.path), [])
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], m.upper, m.work, mnt=self.path("release-2"))
        self.assertEqual(os.listdir(m.path), [])

    def test_index_entry_counting_hidden_names_stays(self):
        # The count an entry starts with is the lower inode's, which
        # counts a name a higher layer hides: the mount cannot tell that
        # name from one still shown, and keeps the entry (layertool fsck
        # finds it unused: test_layertool_fsck).
        low = self.layer("hidden-low", {"a": "a\n"})
        for n in ("b", "c"):
            os.link(os.path.join(low, "a"), os.path.join(low, n))
        top = self.layer("hidden-top", {".wh.c": ""})
        m = self.mount_rw([top, low], name="hidden")
        j = lambda *a: os.path.join(m.path, *a)
        os.chmod(j("a"), 0o600)
        self.assertEqual(os.stat(j("b")).st_nlink, 3)
        os.unlink(j("a"))
        os.unlink(j("b"))
        self.assertEqual(len(os.listdir(os.path.join(m.work, "index"))), 1)

    def test_listings_the_kernel_keeps_follow_new_numbers(self):
        """The kernel keeps listings itself (OPENDIR is answered ENOSYS):
        a listing read before a change must not show inode numbers the
        change replaced.  A directory moved to another parent kept the
        old parent's number for "..", and a copy-up that breaks a lower
        hard link (index=off) left the entry with the lower number
        (found by review; kernel overlayfs shows the new ones)."""
        low = self.layer("moved-listing", {"a/c/f": "f\n", "b/": None,
                                           "d/x": "x\n"})
        os.link(os.path.join(low, "d", "x"), os.path.join(low, "d", "y"))
        for opts in ((), ("index=off",)):
            with self.subTest(opts=opts):
                m = self.mount_rw([low], opts=opts,
                                  name="ml" + "".join(opts))
                j = lambda *a: os.path.join(m.path, *a)  # noqa: E731
                self.assertEqual(lfstest.getdents(j("a", "c"))[".."],
                                 os.lstat(j("a")).st_ino)
                os.rename(j("a", "c"), j("b", "c"))
                self.assertEqual(lfstest.getdents(j("b", "c"))[".."],
                                 os.lstat(j("b")).st_ino)
                os.rename(j("b", "c"), j("c"))
                self.assertEqual(lfstest.getdents(j("c"))[".."],
                                 os.lstat(m.path).st_ino)
                before = lfstest.getdents(j("d"))
                self.assertEqual(before["x"], os.lstat(j("d", "x")).st_ino)
                os.chmod(j("d", "x"), 0o600)
                after = lfstest.getdents(j("d"))
                for name in ("x", "y"):
                    self.assertEqual(after[name],
                                     os.lstat(j("d", name)).st_ino, name)

    def test_index_name_linked_in_another_directory_keeps_its_marks(self):
        """A name of an indexed hard link that gets its upper link from
        the index entry (the entry copied up through another name, in an
        earlier mount) carries the entry's marks: its directory must be
        marked to have them read.  It was not: after a remount the name
        showed another inode number, and a metadata-only copy's name
        read zeros (found by review)."""
        low = self.layer("idxmarks", {"d/a": "ORIGDATA", "e/": None})
        os.link(os.path.join(low, "d", "a"), os.path.join(low, "e", "b"))
        m = self.mount_rw([low])
        upper, work = m.upper, m.work
        os.chmod(os.path.join(m.path, "d", "a"), 0o640)  # metadata only
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        for step in range(2):
            m = self.mount([low], upper, work, mnt=self.path("im%d" % step))
            a = os.path.join(m.path, "d", "a")
            b = os.path.join(m.path, "e", "b")
            if step == 0:
                os.chmod(b, 0o600)  # the name linked from the index
            self.assertEqual(os.lstat(a).st_ino, os.lstat(b).st_ino)
            self.assertEqual(read(b), b"ORIGDATA")
            self.assertEqual(read(a), b"ORIGDATA")
            self.assertEqual(stat.S_IMODE(os.lstat(a).st_mode), 0o600)
            self.assertEqual(m.unmount(), 0)
            self._mounts.remove(m)

    def test_two_names_of_a_hard_link_copied_up_at_once(self):
        """Two names of one lower hard link, in two directories, opened
        for writing at the same moment: both copy-ups make an index
        entry, and the second replaced the first's, so the two names
        became two files for good, each losing the other's writes
        (found by review: 8 pairs in 400).  The second now joins the
        first's entry."""
        pairs = 200
        spec = {"d1/f%03d" % i: "base\n" for i in range(pairs)}
        spec["d2/"] = None
        low = self.layer("racelinks", spec)
        for i in range(pairs):
            os.link(os.path.join(low, "d1", "f%03d" % i),
                    os.path.join(low, "d2", "f%03d" % i))
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)  # noqa: E731
        # Each name looked up for the first time by its open, both at
        # once: two nodes of one inode may come out of the two lookups.
        for i in range(pairs):
            start = threading.Barrier(2)
            def append(name, data):
                start.wait()
                fd = os.open(name, os.O_WRONLY | os.O_APPEND)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
            ts = [threading.Thread(target=append,
                                   args=(j(d, "f%03d" % i), tag))
                  for d, tag in (("d1", b"A"), ("d2", b"B"))]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        def check():
            for i in range(pairs):
                a, b = j("d1", "f%03d" % i), j("d2", "f%03d" % i)
                self.assertEqual(read(a), read(b), i)
                self.assertIn(read(a), (b"base\nAB", b"base\nBA"), i)
                self.assertEqual(os.lstat(a).st_ino, os.lstat(b).st_ino, i)
                self.assertEqual(os.lstat(a).st_nlink, 2, i)
        check()
        upper, work = m.upper, m.work
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], upper, work, mnt=self.path("racelinks2"))
        check()

    def test_marks_read_past_a_long_list_of_xattrs(self):
        """A file's marks are read from its list of xattr names, which
        tmpfs, XFS and btrfs let grow far past a page, and a copy-up
        copies whole: with more than 4 KiB of names a metadata-only
        copy's mark went unread after a remount, and the file read zeros
        (found by review)."""
        self.require_root()
        t = self.mkdirs("xattrfs")
        r = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", t],
                           capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % r.stderr.decode())
        self.before_cleanup(lambda: subprocess.run(["umount", "-l", t]))
        low, upper, work = (os.path.join(t, d) for d in ("l", "u", "w"))
        for d in (low, upper, work):
            os.makedirs(d)
        with open(os.path.join(low, "f"), "w") as f:
            f.write("the data\n")
        for i in range(60):
            os.setxattr(os.path.join(low, "f"),
                        "user.%s%02d" % ("n" * 90, i), b"v")
        for step in range(2):
            m = self.mount([low], upper, work,
                           mnt=self.path("longx%d" % step))
            p = os.path.join(m.path, "f")
            if step == 0:
                os.chmod(p, 0o640)  # metadata only
            self.assertEqual(read(p), b"the data\n")
            self.assertEqual(stat.S_IMODE(os.lstat(p).st_mode), 0o640)
            self.assertEqual(m.unmount(), 0)
            self._mounts.remove(m)

    def test_hard_links_without_an_index(self):
        # index=off, as kernel overlayfs's default: a copy-up breaks a
        # lower hard link.  The copy is a file of its own and must not
        # show the inode number its other names still show (tar and
        # cp -a would take it for a link of them), after a remount too.
        # Links made through the mount stay one inode, also once the
        # kernel forgot its entries, and a metadata-only copy linked
        # through the mount reads its data under the new name.
        low = self.layer("noidx", {"a": "same\n", "x": "data of x\n",
                                   "p": "p\n"})
        os.link(os.path.join(low, "a"), os.path.join(low, "b"))
        os.link(os.path.join(low, "p"), os.path.join(low, "q"))
        m = self.mount_rw([low], opts=["index=off"])
        j = lambda *a: os.path.join(m.path, *a)
        # What the kernel cached before the copy-up is not what it
        # shows after.
        self.assertEqual(os.lstat(j("p")).st_nlink, 2)
        fd = os.open(j("p"), os.O_WRONLY)
        try:
            st = os.fstat(fd)
            self.assertEqual(st.st_nlink, 1)
            self.assertNotEqual(st.st_ino, os.lstat(j("q")).st_ino)
            self.assertEqual(os.lstat(j("p")).st_ino, st.st_ino)
        finally:
            os.close(fd)
        write(j("a"), "changed\n", "a")
        sa, sb = os.lstat(j("a")), os.lstat(j("b"))
        self.assertNotEqual(sa.st_ino, sb.st_ino)
        self.assertEqual((sa.st_nlink, sb.st_nlink), (1, 2))
        self.assertEqual(read(j("b")), b"same\n")
        self.assertEqual(read(j("a")), b"same\nchanged\n")
        dino = {e.name: e.inode() for e in os.scandir(m.path)}
        self.assertEqual((dino["a"], dino["b"]), (sa.st_ino, sb.st_ino))

        os.chown(j("x"), 4242, 4242)   # metadata only
        os.link(j("x"), j("y"))
        os.link(j("a"), j("c"))
        fd = os.open(j("c"), os.O_RDONLY)
        try:
            os.unlink(j("c"))   # the open name goes, "a" stays
            drop_dentries()
            self.assertEqual(read(j("y")), b"data of x\n")
            self.assertEqual(os.lstat(j("y")).st_ino, os.lstat(j("x")).st_ino)
            write(j("a"), "again\n", "a")
            self.assertEqual(os.fstat(fd).st_size, os.lstat(j("a")).st_size)
            self.assertEqual(os.fstat(fd).st_ino, os.lstat(j("a")).st_ino)
        finally:
            os.close(fd)

        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], m.upper, m.work, opts=["index=off"],
                       mnt=self.path("noidx-again"))
        j = lambda *a: os.path.join(m.path, *a)
        sa, sb = os.lstat(j("a")), os.lstat(j("b"))
        self.assertNotEqual(sa.st_ino, sb.st_ino)
        self.assertEqual((sa.st_nlink, sb.st_nlink), (1, 2))
        self.assertEqual(read(j("y")), b"data of x\n")
        self.assertEqual(os.lstat(j("y")).st_ino, os.lstat(j("x")).st_ino)

    def test_rename_between_names_of_a_link_without_an_index(self):
        # With index=off each name of a lower hard link is an inode of
        # its own to the kernel, so a rename of one over another reaches
        # layerfs, which changes nothing (POSIX: two names of one file),
        # while the kernel moves the source's entry onto the target name
        # (or swaps the two).  A copy-up through one name afterwards
        # must not show through the other (the random differential
        # test, seed 2801: the other name took the copy's inode).
        for flags in (0, RENAME_EXCHANGE):
            with self.subTest(flags=flags):
                low = self.layer("mvl%d" % flags, {"g": "shared\n"})
                os.link(os.path.join(low, "g"), os.path.join(low, "e"))
                m = self.mount_rw([low], opts=["index=off"],
                                  name="mvl%d" % flags)
                j = lambda *a: os.path.join(m.path, *a)  # noqa: E731
                ino = os.lstat(j("g")).st_ino
                self.assertEqual(os.lstat(j("e")).st_ino, ino)
                renameat2(j("g"), j("e"), flags)
                self.assertEqual(os.lstat(j("e")).st_ino, ino)
                write(j("g"), "changed\n", "a")   # breaks the link
                self.assertEqual(read(j("g")), b"shared\nchanged\n")
                self.assertEqual(read(j("e")), b"shared\n")
                sg, se = os.lstat(j("g")), os.lstat(j("e"))
                self.assertNotEqual(sg.st_ino, se.st_ino)
                self.assertEqual(se.st_ino, ino)
                self.assertEqual((sg.st_nlink, se.st_nlink), (1, 2))
                self.assertEqual(os.listdir(m.upper), ["g"])
                self.assertEqual(sorted(os.listdir(m.path)), ["e", "g"])
                write(j("e"), "other\n", "a")
                self.assertEqual(read(j("e")), b"shared\nother\n")
                self.assertEqual(read(j("g")), b"shared\nchanged\n")
                self.assertEqual(m.unmount(), 0)
                self._mounts.remove(m)

    def test_link_of_a_copied_up_symlink_is_one_inode(self):
        # A symlink cannot carry the origin mark that keeps a copied-up
        # file's lower inode number, so once the daemon read the
        # directory again (here: its subtree copied by a rename with
        # redirect_dir=off), a name made by link(2) showed the upper
        # inode's number while the first name kept the lower one: two
        # inodes, in stat and in readdir.
        low = self.layer("lnsym", {"d/s": ("symlink", "target"),
                                   "d/f": "f\n"})
        opts = ["redirect_dir=off"]
        m = self.mount_rw([low], opts=opts)
        j = lambda *a: os.path.join(m.path, *a)
        os.chown(j("d/s"), 4242, 4242, follow_symlinks=False)
        os.link(j("d/s"), j("d/s2"), follow_symlinks=False)
        os.chown(j("d/f"), 4242, 4242)
        os.link(j("d/f"), j("d/f2"))

        def check(when, d):
            drop_dentries()
            for a, b in (("s", "s2"), ("f", "f2")):
                sa, sb = os.lstat(j(d, a)), os.lstat(j(d, b))
                self.assertEqual((sa.st_ino, sa.st_nlink),
                                 (sb.st_ino, 2), "%s %s" % (a, when))
                dino = {e.name: e.inode() for e in os.scandir(j(d))}
                self.assertEqual((dino[a], dino[b]),
                                 (sa.st_ino, sa.st_ino), "%s %s" % (a, when))
            self.assertEqual(os.readlink(j(d, "s2")), "target")

        # Held open, the first names' inodes outlive the kernel's
        # forgetting of their entries.
        held = [os.open(j("d", n), os.O_PATH | os.O_NOFOLLOW)
                for n in ("s", "f")]
        try:
            check("at once", "d")
            os.rename(j("d"), j("e"))
            check("once renamed", "e")
        finally:
            for fd in held:
                os.close(fd)
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], m.upper, m.work, opts=opts,
                       mnt=self.path("lnsym-again"))
        j = lambda *a: os.path.join(m.path, *a)
        check("after a remount", "e")

    def test_unnamed_files_of_o_tmpfile(self):
        # open(O_TMPFILE) in a lower directory: an unnamed file, which
        # link(2) through /proc names; one closed unnamed leaves
        # nothing; O_EXCL makes it unlinkable, as on a local filesystem.
        for opts in ((), ("passthrough=0",)):
            with self.subTest(opts=opts):
                tag = "tmpf%d" % len(opts)
                low = self.layer(tag, {"d/x": "low\n"})
                m = self.mount_rw([low], opts=opts, name=tag)
                j = lambda *a: os.path.join(m.path, *a)
                fd = os.open(j("d"), os.O_TMPFILE | os.O_RDWR, 0o640)
                try:
                    os.write(fd, b"unnamed")
                    st = os.fstat(fd)
                    self.assertEqual((st.st_nlink, stat.S_IMODE(st.st_mode),
                                      st.st_size), (0, 0o640, 7))
                    self.assertEqual(os.listdir(j("d")), ["x"])
                    lfstest.linkat("/proc/self/fd/%d" % fd, j("d/named"),
                                   True)
                    self.assertEqual(os.fstat(fd).st_nlink, 1)
                    os.write(fd, b" and named")
                    drop_dentries()   # looked up afresh: one inode
                    self.assertEqual(os.lstat(j("d/named")).st_ino,
                                     os.fstat(fd).st_ino)
                    self.assertEqual(read(j("d/named")),
                                     b"unnamed and named")
                finally:
                    os.close(fd)
                fd = os.open(j("d"), os.O_TMPFILE | os.O_WRONLY, 0o600)
                os.write(fd, b"gone")
                os.close(fd)
                fd = os.open(j("d"), os.O_TMPFILE | os.O_WRONLY | os.O_EXCL,
                             0o600)
                try:
                    with self.assertRaises(OSError) as cm:
                        lfstest.linkat("/proc/self/fd/%d" % fd,
                                       j("d/excl"), True)
                    self.assertEqual(cm.exception.errno, errno.ENOENT)
                finally:
                    os.close(fd)
                self.assertEqual(sorted(os.listdir(j("d"))), ["named", "x"])
                self.assertEqual(m.unmount(), 0)
                self._mounts.remove(m)
                # Nothing of the unnamed ones left in either directory.
                self.assertEqual(sorted(tree_files(m.upper)), ["d", "d/named"])
                # (The mark of counts known right, lib/workdir.h.)
                self.assertEqual(
                    sorted(tree_files(m.work)),
                    ["index", "layers", "work"]
                    if "udba=reval" in lfstest.EXTRA_OPTS
                    else ["index", "index-checked", "layers", "work"])
                m = self.mount([low], m.upper, m.work, opts=opts,
                               mnt=self.path(tag + "-again"))
                self.assertEqual(read(os.path.join(m.path, "d/named")),
                                 b"unnamed and named")

    def test_removing_a_missing_xattr_copies_nothing(self):
        # As on kernel overlayfs, removing an xattr a lower file does
        # not have fails before any copy-up; with index=off a copy would
        # have broken the file's hard links.
        for opts in ((), ("index=off",)):
            with self.subTest(opts=opts):
                tag = "rx%d" % len(opts)
                low = self.layer(tag, {"a": "a\n", "t": "t\n"})
                os.link(os.path.join(low, "a"), os.path.join(low, "b"))
                os.setxattr(os.path.join(low, "t"), "user.there", b"1")
                m = self.mount_rw([low], opts=opts, name=tag)
                j = lambda *a: os.path.join(m.path, *a)
                ino = os.lstat(j("a")).st_ino
                for name in ("a", "t"):
                    with self.assertRaises(OSError) as cm:
                        os.removexattr(j(name), "user.missing")
                    self.assertEqual(cm.exception.errno, errno.ENODATA)
                self.assertEqual(os.listdir(m.upper), [])
                st = os.lstat(j("a"))
                self.assertEqual((st.st_ino, st.st_nlink), (ino, 2))
                # One that is there is removed, by a copy-up.
                os.removexattr(j("t"), "user.there")
                self.assertNotIn("user.there", os.listxattr(j("t")))
                self.assertEqual(os.listdir(m.upper), ["t"])

    def test_unlink_one_lower_hard_link_keeps_the_other(self):
        # Reported against layerfs: the remaining name read as zeros.
        low = self.layer("lowu", {"etc/hello": "hi\n"})
        os.link(os.path.join(low, "etc/hello"), os.path.join(low, "etc/hello2"))
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        os.unlink(j("etc/hello2"))
        self.assertEqual(read(j("etc/hello")), b"hi\n")
        self.assertEqual(os.stat(j("etc/hello")).st_nlink, 1)
        if os.geteuid() == 0:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")  # the kernel forgets: a fresh lookup
        self.assertEqual(read(j("etc/hello")), b"hi\n")
        self.assertEqual(os.stat(j("etc/hello")).st_nlink, 1)
        write(j("etc/hello"), "more\n", "a")
        m.unmount()
        self._mounts.remove(m)
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        p = os.path.join(m2.path, "etc/hello")
        self.assertEqual(read(p), b"hi\nmore\n")
        self.assertEqual(os.stat(p).st_nlink, 1)
        self.assertEqual(os.listdir(os.path.join(m2.path, "etc")), ["hello"])

    def test_copied_up_directory_reloads_only_where_it_exists(self):
        # p is in four layers, p/d in the lower two.  Once d is copied up,
        # loading its listing again must open the upper layer and d's own
        # layers, not the two in between where d never was.
        self.require_root()  # the kernel is made to forget d
        self.require_unchanging_layers("tries every layer for a directory")
        layers = [self.layer("cgap%d" % i, dict(
            {"p/own%d" % i: "x"}, **({"p/d/f%d" % i: "f"} if i >= 2 else {})))
            for i in range(4)]
        stats = self.path("cgap-stats.json")
        m = self.mount_rw(layers, opts=("stats=" + stats,))
        j = lambda *a: os.path.join(m.path, *a)
        self.assertEqual(sorted(os.listdir(j("p/d"))), ["f2", "f3"])
        write(j("p/d/new"), "n")  # copies d up
        keep_p = os.open(j("p"), os.O_RDONLY | os.O_DIRECTORY)
        try:
            nodes = self.daemon_nodes(m, stats)
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")
            # The kernel's FORGETs reach the daemon on their own time,
            # in batches: the next lookup of d must come after they freed
            # its node, so wait until the count has dropped and settled.
            deadline = time.monotonic() + 10
            last = None
            while time.monotonic() < deadline:
                now = self.daemon_nodes(m, stats)
                if now < nodes and now == last:
                    break
                last = now
                time.sleep(0.1)
            self.assertEqual(sorted(os.listdir(j("p/d"))),
                             ["f2", "f3", "new"])
        finally:
            os.close(keep_p)
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        with open(stats) as f:
            doc = json.load(f)
        # root, p, d, and d once more after the kernel forgot it.
        self.assertGreaterEqual(doc["dir_loads"], 4, doc)
        self.assertEqual(doc["dir_load_misses"], 0, doc)

    def daemon_nodes(self, m, stats):
        """The daemon's node count, from the statistics SIGUSR1 asks
        for."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(stats)
        os.kill(m.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError, ValueError):
                with open(stats) as f:
                    return json.load(f)["nodes"]
            time.sleep(0.02)
        self.fail("no statistics after SIGUSR1")

    def test_names_of_one_inode_stay_apart(self):
        # One inode, two lower names; the kernel learns "b" first, so the
        # daemon's node is known under "b".  Removing or renaming "a"
        # must not disturb "b" (it read as EIO, and mv gave ENOENT).
        low = self.layer("lowa", {"a": "one\n", "other": "x"})
        os.link(os.path.join(low, "a"), os.path.join(low, "b"))
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        self.assertEqual(read(j("b")), b"one\n")
        os.rename(j("a"), j("moved"))
        self.assertEqual(read(j("b")), b"one\n")
        self.assertEqual(read(j("moved")), b"one\n")
        self.assertEqual(os.stat(j("b")).st_ino, os.stat(j("moved")).st_ino)
        write(j("moved"), "two\n", "a")
        self.assertEqual(read(j("b")), b"one\ntwo\n")
        os.unlink(j("moved"))
        self.assertEqual(read(j("b")), b"one\ntwo\n")
        self.assertEqual(os.stat(j("b")).st_nlink, 1)
        os.chmod(j("b"), 0o600)
        self.assertEqual(sorted(os.listdir(m.path)), ["b", "other"])
        m.unmount()
        self._mounts.remove(m)
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        self.assertEqual(sorted(os.listdir(m2.path)), ["b", "other"])
        st = os.stat(os.path.join(m2.path, "b"))
        self.assertEqual((st.st_nlink, st.st_mode & 0o777), (1, 0o600))
        self.assertEqual(read(os.path.join(m2.path, "b")), b"one\ntwo\n")

    def test_directory_copied_whole_keeps_its_hard_links(self):
        # redirect_dir=off copies a renamed directory's subtree and makes
        # it opaque.  A lower hard link inside, whose node goes by a name
        # outside (it was copied up through that one), got no upper name
        # there: once opaque, the directory lost it.
        for opts in (("redirect_dir=off",),
                     ("redirect_dir=off", "metacopy=off")):
            with self.subTest(opts=opts):
                tag = "tl%d" % len(opts)
                low = self.layer(tag, {"d/sub/a": "data\n", "d/k": "k",
                                       "top/x": "x"})
                os.link(os.path.join(low, "d/sub/a"),
                        os.path.join(low, "top/b"))
                m = self.mount_rw([low], opts=opts, name=tag)
                j = lambda *a: os.path.join(m.path, *a)
                write(j("top/b"), "more\n", "a")   # the node is "top/b"
                os.chmod(j("top/b"), 0o640)
                os.rename(j("d"), j("moved"))
                self.assertEqual(sorted(os.listdir(j("moved/sub"))), ["a"])
                self.assertEqual(read(j("moved/sub/a")), b"data\nmore\n")
                st, sb = os.lstat(j("moved/sub/a")), os.lstat(j("top/b"))
                self.assertEqual((st.st_ino, st.st_nlink,
                                  stat.S_IMODE(st.st_mode)),
                                 (sb.st_ino, 2, 0o640))
                self.assertFalse(os.path.lexists(j("d")))
                # What the upper layer holds, read again.
                self.assertEqual(m.unmount(), 0)
                self._mounts.remove(m)
                m = self.mount([low], m.upper, m.work, opts=opts,
                               mnt=self.path(tag + "-again"))
                j = lambda *a: os.path.join(m.path, *a)
                self.assertEqual(read(j("moved/sub/a")), b"data\nmore\n")
                self.assertEqual(os.lstat(j("moved/sub/a")).st_ino,
                                 os.lstat(j("top/b")).st_ino)
                self.assertEqual(os.lstat(j("top/b")).st_nlink, 2)

    def test_directory_copied_whole_drops_its_whiteouts(self):
        # redirect_dir=off: a renamed directory copied whole is opaque,
        # and its whiteouts (of either format) hide nothing any more.
        # They stayed in the upper layer, and export wrote them into the
        # layer, which `layertool check` then warned about.
        for fmt in ("dotwh", "overlay"):
            with self.subTest(whiteout=fmt):
                tag = "wd" + fmt
                low = self.layer(tag, {"d/g": "g", "d/h": "h",
                                       "d/e/g": "eg", "d/e/k": "k"})
                m = self.mount_rw([low], name=tag,
                                  opts=("redirect_dir=off",
                                        "whiteout=" + fmt))
                j = lambda *a: os.path.join(m.path, *a)
                os.unlink(j("d/g"))
                os.unlink(j("d/e/g"))
                os.rename(j("d"), j("moved"))
                want = lfstest.snapshot(m.path)
                self.assertEqual(sorted(want), ["moved", "moved/e",
                                                "moved/e/k", "moved/h"])
                self.assertEqual(m.unmount(), 0)
                self._mounts.remove(m)
                left = [os.path.join(dp, n)
                        for dp, ds, fs in os.walk(os.path.join(m.upper,
                                                               "moved"))
                        for n in ds + fs
                        if n.startswith(".wh.") and n != ".wh..wh..opq" or
                        stat.S_ISCHR(os.lstat(os.path.join(dp, n)).st_mode)]
                self.assertEqual(left, [])
                m = self.mount([low], m.upper, m.work,
                               opts=("redirect_dir=off", "whiteout=" + fmt),
                               mnt=self.path(tag + "-again"))
                self.assertEqual(lfstest.snapshot(m.path), want)

    def test_directory_copied_whole_keeps_metadata_copies_and_times(self):
        # redirect_dir=off with metadata-only copy-up (the default): a
        # file chmod'ed before its directory was renamed had an upper
        # copy without data, whose data the lower layers hold at its old
        # path.  The copy of the tree skipped it (already upper), so
        # after a remount it read ENOENT.  And the copy left every
        # directory of the tree, and a copy-up any parent, with the time
        # of the copy; kernel overlayfs puts the parent's times back.
        tag = "mc"
        low = self.layer(tag, {"d/f": "data\n", "d/s/g": "g\n", "p/x": "x"})
        old = (1577836800, 1577836800)   # 2020-01-01
        for d in ("d/s", "d", "p"):
            os.utime(os.path.join(low, d), old)
        opts = ("redirect_dir=off",)
        m = self.mount_rw([low], opts=opts, name=tag)
        j = lambda *a: os.path.join(m.path, *a)
        os.chmod(j("d/f"), 0o600)
        os.chmod(j("p/x"), 0o600)
        os.rename(j("d"), j("e"))
        self.assertEqual(read(j("e/f")), b"data\n")
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], m.upper, m.work, opts=opts,
                       mnt=self.path(tag + "-again"))
        j = lambda *a: os.path.join(m.path, *a)
        self.assertEqual(read(j("e/f")), b"data\n")
        self.assertEqual(stat.S_IMODE(os.stat(j("e/f")).st_mode), 0o600)
        for d in ("e", "e/s", "p"):
            self.assertEqual(os.stat(j(d)).st_mtime, old[1], d)

    def test_directory_copied_whole_while_its_entries_go(self):
        # redirect_dir=off: a directory of the tree removed by another
        # process while the copy was in it cannot turn opaque (ENOENT),
        # and the rename failed with ENOENT though its source was there.
        # What is gone needs no copy.  A race: three rounds, each with
        # the removal going on through the copy of the whole tree.
        files = {}
        for i in range(200):
            files["d/s%d/t/f" % i] = "x"
        low = self.layer("gone", files)
        for rnd in range(3):
            m = self.mount_rw([low], opts=("redirect_dir=off",),
                              name="gone%d" % rnd)
            j = lambda *a: os.path.join(m.path, *a)

            def remove():
                for i in range(199, -1, -1):
                    shutil.rmtree(j("d/s%d" % i), ignore_errors=True)
            th = threading.Thread(target=remove)
            th.start()
            try:
                os.rename(j("d"), j("e"))
            finally:
                th.join()
            self.assertFalse(os.path.lexists(j("d")))
            # (A removal the rename overtook stopped where it was.)
            want = lfstest.snapshot(m.path)
            # Remounted, the same: what was copied is whole and opaque.
            self.assertEqual(m.unmount(), 0)
            self._mounts.remove(m)
            m = self.mount([low], m.upper, m.work, opts=("redirect_dir=off",),
                           mnt=self.path("gone%d-again" % rnd))
            self.assertEqual(lfstest.snapshot(m.path), want)

    def test_file_removed_right_after_a_whole_tree_copy_took_it(self):
        # redirect_dir=off: the rename copying d's tree up copies f, and
        # an unlink of f waiting for that copy goes on before the walk
        # looks at f again.  The walk took the name it had lost for a
        # hard link's and failed the rename with EIO.  The walk pauses
        # after each file it copies (LFS_FAULT_PAUSE), so the unlink
        # comes at that point every time.
        low = self.layer("lost", {"d/t/f": "x", "d/t/g": "y"})
        env = dict(os.environ, LFS_FAULT_PAUSE="tree-file-copied")
        upper, work = self.mkdirs("lost-upper", "lost-work")
        m = self.mount([low], upper, work, opts=("redirect_dir=off",),
                       env=env)
        j = lambda *a: os.path.join(m.path, *a)  # noqa: E731
        up_t = os.path.join(upper, "d", "t")
        result = {}

        def rename():
            result["r"] = lfstest.errno_of(os.rename, j("d"), j("e"))
        th = threading.Thread(target=rename)
        th.start()
        try:
            # The walk's first file is up: remove it while it pauses.
            deadline = time.time() + 10
            while time.time() < deadline and not (
                    os.path.exists(os.path.join(up_t, "f")) or
                    os.path.exists(os.path.join(up_t, "g"))):
                time.sleep(0.01)
            first = "f" if os.path.exists(os.path.join(up_t, "f")) else "g"
            other = "g" if first == "f" else "f"
            os.unlink(j("d", "t", first))
        finally:
            th.join(timeout=30)
        self.assertEqual(result.get("r"), 0,
                         "the rename failed: %s" % os.strerror(
                             result.get("r") or 0))
        self.assertFalse(os.path.lexists(j("d")))
        self.assertEqual(sorted(os.listdir(j("e", "t"))), [other])
        # Remounted, the same: the removed file stays removed.
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], upper, work, opts=("redirect_dir=off",),
                       mnt=self.path("lost-again"))
        self.assertEqual(sorted(os.listdir(os.path.join(m.path, "e", "t"))),
                         [other])
        self.assertFalse(os.path.lexists(os.path.join(m.path, "d")))

    def race_removal_with_a_copy(self, m, unlink, change, rmdir):
        """On mount m, an unlink of `unlink`, past its wait for copy-ups
        of the file and paused, then `change()` in another thread, whose
        copy-up of the file opens the lower file and pauses; once the
        unlink is done, `rmdir` is removed.  The copy then goes on with
        its parent's upper directory gone.  Returns change()'s errno (0
        for success)."""
        j = lambda *a: os.path.join(m.path, *a)  # noqa: E731
        # Its entry cached: the change's path walk takes no lock of the
        # directory the unlink holds.
        os.stat(j(unlink))
        result = {}

        def run_change():
            result["r"] = lfstest.errno_of(change)
        remover = threading.Thread(target=os.unlink, args=(j(unlink),))
        changer = threading.Thread(target=run_change)
        remover.start()
        # The unlink is past its wait, paused (however slow the daemon
        # is to get there).  The change starts a moment later, so that
        # its own pause ends after the unlink's: the rmdir comes in
        # between.
        lfstest.wait_paused(m.pid)
        time.sleep(0.3)
        changer.start()
        try:
            remover.join(timeout=30)
            os.rmdir(j(rmdir))
        finally:
            remover.join(timeout=30)
            changer.join(timeout=60)
        return result.get("r")

    def test_file_and_its_directory_removed_while_its_copy_waited(self):
        # An open for writing copies d/f up while f is unlinked and d
        # removed (pauses through LFS_FAULT_PAUSE put each step where
        # it must be).  The copy, staged as an unnamed file in d's
        # removed upper directory, met ext4's EPERM, and the open failed
        # with it: the file is gone, which is ENOENT.
        low = self.layer("cutoff", {"d/f": "x", "g": "y"})
        env = dict(os.environ,
                   LFS_FAULT_PAUSE="unlink-waited,copy-up-source-open")
        upper, work = self.mkdirs("cutoff-upper", "cutoff-work")
        m = self.mount([low], upper, work, env=env)
        j = lambda *a: os.path.join(m.path, *a)  # noqa: E731
        r = self.race_removal_with_a_copy(
            m, "d/f", lambda: os.close(os.open(j("d", "f"), os.O_WRONLY)),
            "d")
        self.assertEqual(r, errno.ENOENT, os.strerror(r or 0))
        self.assertEqual(os.listdir(m.path), ["g"])
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], upper, work, mnt=self.path("cutoff-again"))
        self.assertEqual(os.listdir(m.path), ["g"])

    def test_directory_removed_while_a_whole_tree_copy_waited_in_it(self):
        # redirect_dir=off: the rename copying d's tree up copies t/f
        # while f is unlinked and t removed.  The copy of f met ext4's
        # EPERM in the removed t, and the rename failed with EPERM (seen
        # in the race of test_directory_copied_whole_while_its_entries_go).
        # What is gone needs no copy: the rename goes on.
        low = self.layer("cuttree", {"d/t/f": "x", "d/u": "y"})
        env = dict(os.environ,
                   LFS_FAULT_PAUSE="unlink-waited,copy-up-source-open")
        upper, work = self.mkdirs("cuttree-upper", "cuttree-work")
        m = self.mount([low], upper, work, opts=("redirect_dir=off",),
                       env=env)
        j = lambda *a: os.path.join(m.path, *a)  # noqa: E731
        r = self.race_removal_with_a_copy(
            m, "d/t/f", lambda: os.rename(j("d"), j("e")), "d/t")
        self.assertEqual(r, 0, "the rename failed: %s" % os.strerror(r or 0))
        self.assertFalse(os.path.lexists(j("d")))
        self.assertEqual(sorted(os.listdir(j("e"))), ["u"])
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], upper, work, opts=("redirect_dir=off",),
                       mnt=self.path("cuttree-again"))
        self.assertEqual(sorted(os.listdir(os.path.join(m.path, "e"))),
                         ["u"])
        self.assertFalse(os.path.lexists(os.path.join(m.path, "d")))

    def test_copied_up_hard_links_after_a_remount(self):
        # A lower file with two names, copied up through one of them,
        # then the mount is made again: the upper name the daemon meets
        # first must lead its lower name to the index entry.  The rename
        # of the lower name failed with EIO; once the upper name was
        # removed, the lower name read ENOENT (or the old lower data)
        # though stat showed the new size.
        for opts in ((), ("metacopy=off",)):
            with self.subTest(opts=opts):
                self.check_hard_links_after_remount(opts)

    def check_hard_links_after_remount(self, opts):
        tag = "hr%d" % len(opts)
        low = self.layer(tag, {"a": "data\n", "b": "four"})
        os.link(os.path.join(low, "a"), os.path.join(low, "a2"))
        os.link(os.path.join(low, "b"), os.path.join(low, "b2"))
        m = self.mount_rw([low], opts=opts, name=tag)
        upper, work = m.upper, m.work
        j = lambda *a: os.path.join(m.path, *a)
        os.stat(j("a2"))  # the daemon knows the file as "a2"
        os.chmod(j("a"), 0o600)  # copied up under "a2"
        os.rename(j("b"), j("g"))  # b's file copied up, now "g"
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], upper, work, opts=opts,
                       mnt=self.path(tag + "-again"))
        j = lambda *a: os.path.join(m.path, *a)
        # The upper name first, then the lower one.
        self.assertEqual(os.stat(j("a2")).st_nlink, 2)
        os.rename(j("a"), j("x"))
        write(j("g"), "more\n", "a")
        self.assertEqual(os.stat(j("b2")).st_ino, os.stat(j("g")).st_ino)
        os.unlink(j("g"))
        expect = {"a2": (b"data\n", 2, 0o600), "x": (b"data\n", 2, 0o600),
                  "b2": (b"fourmore\n", 1, 0o644)}

        def check(root, when):
            self.assertEqual(sorted(os.listdir(root)), sorted(expect), when)
            for n, (data, nlink, mode) in expect.items():
                p = os.path.join(root, n)
                st = os.stat(p)
                self.assertEqual(
                    (read(p), st.st_nlink, st.st_mode & 0o777),
                    (data, nlink, mode), "%s %s" % (when, n))
            self.assertEqual(os.stat(os.path.join(root, "a2")).st_ino,
                             os.stat(os.path.join(root, "x")).st_ino, when)

        check(m.path, "mounted")
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], upper, work, opts=opts,
                       mnt=self.path(tag + "-third"))
        check(m.path, "remounted")

    def test_hard_linked_symlinks_and_fifos_stay_one_inode(self):
        # Names of one symlink (or fifo) are one inode, as kernel
        # overlayfs keeps them with index=on: a change through one name
        # shows through the others, lower ones stay together across a
        # copy-up (through the index), and all of it across a remount.
        # Each name used to be a node of its own once listed, and a
        # copy-up split the lower ones.
        self.require_root()  # chown -h
        low = self.layer("lsym", {"d/": None})
        lp = lambda *a: os.path.join(low, *a)
        os.symlink("target", lp("s"))
        for n in ("s2", "d/s3"):
            os.link(lp("s"), lp(n), follow_symlinks=False)
        os.mkfifo(lp("f"), 0o644)
        os.link(lp("f"), lp("d/f2"))
        m = self.mount_rw([low], name="lsym")
        upper, work = m.upper, m.work
        j = lambda *a: os.path.join(m.path, *a)
        os.listdir(m.path)  # every name looked up
        os.listdir(j("d"))
        os.chown(j("s2"), 5, 6, follow_symlinks=False)
        os.chmod(j("d/f2"), 0o600)
        os.unlink(j("d/s3"))
        os.symlink("t", j("u"))
        os.link(j("u"), j("u2"), follow_symlinks=False)
        os.listdir(m.path)
        os.link(j("u"), j("d/u3"), follow_symlinks=False)
        os.chown(j("u"), 7, 8, follow_symlinks=False)
        os.rename(j("s"), j("d/moved"))
        expect = {
            "d/moved": ("target", 2, 5), "s2": ("target", 2, 5),
            "u": ("t", 3, 7), "u2": ("t", 3, 7), "d/u3": ("t", 3, 7),
        }

        def check(root, when):
            p = lambda *a: os.path.join(root, *a)
            for n, (target, nlink, uid) in expect.items():
                st = os.lstat(p(n))
                self.assertEqual((os.readlink(p(n)), st.st_nlink,
                                  st.st_uid), (target, nlink, uid),
                                 "%s %s" % (when, n))
            for names in (("d/moved", "s2"), ("u", "u2", "d/u3"),
                          ("f", "d/f2")):
                inos = {os.lstat(p(n)).st_ino for n in names}
                self.assertEqual(len(inos), 1, "%s %s" % (when, names))
                # A listing gives each name the inode number stat gives.
                for n in names:
                    parent, base = os.path.split(p(n))
                    listed = {e.name: e.inode() for e in os.scandir(parent)}
                    self.assertEqual(listed[base], os.lstat(p(n)).st_ino,
                                     "%s %s listed" % (when, n))
            for n in ("f", "d/f2"):
                st = os.lstat(p(n))
                self.assertEqual((stat.S_IFMT(st.st_mode),
                                  st.st_mode & 0o777, st.st_nlink),
                                 (stat.S_IFIFO, 0o600, 2),
                                 "%s %s" % (when, n))
            self.assertEqual(sorted(os.listdir(root)),
                             ["d", "f", "s2", "u", "u2"], when)
            self.assertEqual(sorted(os.listdir(p("d"))),
                             ["f2", "moved", "u3"], when)

        check(m.path, "mounted")
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], upper, work, mnt=self.path("lsym-again"))
        check(m.path, "remounted")
        # Lower names met after the remount still join the copied-up
        # inode; removing one counts down through the others.
        os.unlink(os.path.join(m.path, "s2"))
        st = os.lstat(os.path.join(m.path, "d/moved"))
        self.assertEqual((st.st_nlink, st.st_uid), (1, 5))

    def test_other_name_of_a_large_file_after_an_unlink(self):
        # One node serves a file's names.  The unlink of the name it
        # was known by keeps an fd of the file for the kernel's other
        # names of it; not for an upper file over 64 KiB nobody has
        # open (its space goes back at once), and that rule took in one
        # with other names: a stat of the other name failed with
        # ENOENT (the random differential test, seed 1488996195).
        big = b"x" * (256 << 10)
        low = self.layer("bigl", {"lower": big.decode()})
        m = self.mount_rw([low], name="bigl")
        j = lambda *a: os.path.join(m.path, *a)  # noqa: E731
        write(j("made"), big.decode())
        write(j("lower"), "+", "a")  # copied up
        for name in ("made", "lower"):
            with self.subTest(name=name):
                os.link(j(name), j(name + ".2"))
                self.assertEqual(os.stat(j(name + ".2")).st_nlink, 2)
                os.unlink(j(name))
                st = os.lstat(j(name + ".2"))
                self.assertEqual(st.st_nlink, 1)
                self.assertEqual(len(read(j(name + ".2"))),
                                 len(big) + (name == "lower"))

    def test_same_mtime_set_again_changes_the_ctime(self):
        # As on a local filesystem, utimensat(2) of the mtime alone
        # changes an upper file's ctime even when the mtime is its own.
        # The daemon compared it with the file's mtime first, for the
        # writeback cache's write-backs, and answered without a change.
        # Root: the mount has passthrough, so no writeback cache.
        self.require_root()
        m = self.mount_rw([self.layer("ctl", {"f": "x"})], name="ctl")
        p = os.path.join(m.path, "made")
        write(p, "x")
        before = os.stat(p)
        time.sleep(0.05)
        stamp = "@%d.%09d" % divmod(before.st_mtime_ns, 10**9)
        subprocess.run(["touch", "-m", "-d", stamp, p], check=True)
        after = os.stat(p)
        self.assertEqual(after.st_mtime_ns, before.st_mtime_ns)
        self.assertGreater(after.st_ctime_ns, before.st_ctime_ns)
        self.assertEqual(after.st_ctime_ns,
                         os.stat(os.path.join(m.upper, "made")).st_ctime_ns)

    def test_names_made_by_link_can_be_renamed(self):
        # `ln a b && mv b c` failed with EIO: the daemon knew the inode
        # under "a" and took "b" for a lower name needing the index.
        low = self.layer("lowl", {"f": "lower\n", "d/": None})
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        write(j("a"), "upper\n")
        os.link(j("a"), j("b"))
        os.rename(j("b"), j("c"))
        os.link(j("f"), j("f.hl"))  # copies f up
        os.rename(j("f.hl"), j("d/f.hl2"))
        renameat2(j("c"), j("d/f.hl2"), RENAME_EXCHANGE)
        write(j("c"), "+\n", "a")
        write(j("d/f.hl2"), "+\n", "a")
        os.unlink(j("a"))
        expect = {"c": (b"lower\n+\n", 2), "f": (b"lower\n+\n", 2),
                  "d/f.hl2": (b"upper\n+\n", 1)}

        def check(root, when):
            for n, (data, nlink) in expect.items():
                p = os.path.join(root, n)
                self.assertEqual((read(p), os.stat(p).st_nlink),
                                 (data, nlink), "%s %s" % (when, n))
            self.assertEqual(os.stat(os.path.join(root, "c")).st_ino,
                             os.stat(os.path.join(root, "f")).st_ino, when)
            self.assertEqual(sorted(os.listdir(root)), ["c", "d", "f"])
            self.assertEqual(os.listdir(os.path.join(root, "d")),
                             ["f.hl2"])

        check(m.path, "mounted")
        m.unmount()
        self._mounts.remove(m)
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        check(m2.path, "remounted")

    def test_inode_numbers_kept(self):
        low = self.lower()
        m = self.mount_rw([low])
        j = lambda *a: os.path.join(m.path, *a)
        before = {p: os.lstat(j(p)).st_ino
                  for p in ("etc", "etc/conf", "tree/a", "big/data.bin")}
        write(j("etc/conf"), "x", "a")
        os.chmod(j("big/data.bin"), 0o600)
        write(j("tree/a/new"), "n")
        write(j("created"), "c")
        created = os.stat(j("created")).st_ino
        for p, ino in before.items():
            self.assertEqual(os.lstat(j(p)).st_ino, ino, p)
        m.unmount()
        self._mounts.remove(m)
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        for p, ino in before.items():
            self.assertEqual(os.lstat(os.path.join(m2.path, p)).st_ino, ino,
                             "after remount: " + p)
        self.assertEqual(os.stat(os.path.join(m2.path, "created")).st_ino,
                         created)

    def test_init_layer(self):
        low = self.lower()
        init = self.layer("init", {"etc/hosts": "127.0.0.1 container\n",
                                   "etc/hostname": "box\n"})
        upper, work = self.mkdirs("iu", "iw")
        m = self.mount([low], upper, work, opts=("initdir=" + init,))
        j = lambda *a: os.path.join(m.path, *a)
        self.assertEqual(read(j("etc/hosts")), b"127.0.0.1 container\n")
        self.assertEqual(read(j("etc/conf")), b"setting=1\n")
        write(j("etc/hostname"), "renamed\n")
        write(j("etc/new"), "n")
        os.unlink(j("etc/hosts"))
        self.assertEqual(read(os.path.join(init, "etc/hostname")), b"box\n")
        self.assertTrue(os.path.exists(os.path.join(init, "etc/hosts")))
        self.assertEqual(sorted(os.listdir(os.path.join(upper, "etc"))),
                         [".wh.hosts", "hostname", "new"])
        # A commit of the upper layer alone never carries the init files.
        self.assertFalse(os.path.exists(os.path.join(upper, "etc/conf")))

    def test_stats_file(self):
        self.require_metacopy()
        low = self.lower()
        stats = self.path("stats.json")
        m = self.mount_rw([low], opts=("stats=" + stats,))
        write(os.path.join(m.path, "etc/conf"), "x", "a")
        os.chmod(os.path.join(m.path, "big/data.bin"), 0o600)
        os.unlink(os.path.join(m.path, "tree/a/1"))
        os.kill(m.pid, signal.SIGUSR1)
        deadline = time.time() + 10
        while not os.path.exists(stats) and time.time() < deadline:
            time.sleep(0.05)
        s = json.load(open(stats))
        self.assertEqual(s["copyups"], 1)
        self.assertEqual(s["copyup_bytes"] + s["copyup_reflinked"], 10)
        self.assertEqual(s["meta_copyups"], 1)
        self.assertEqual(s["whiteouts"], 1)
        self.assertGreaterEqual(s["dir_copyups"], 3)
        self.assertEqual(len(s["layers"]), 2)
        os.unlink(stats)
        m.unmount()
        self.assertTrue(os.path.exists(stats), "no stats at unmount")

    def test_removing_lower_files_copies_nothing(self):
        # With the writeback cache the kernel writes its cached times back
        # after each unlink; that must not copy the file up first.
        spec = {"tree/d%d/f%d" % (d, f): "x" for d in range(5)
                for f in range(40)}
        low = self.layer("lowrm", spec)
        stats = self.path("rmstats.json")
        m = self.mount_rw([low], opts=("stats=" + stats,))
        subprocess.run(["rm", "-rf", os.path.join(m.path, "tree")],
                       check=True)
        self.assertFalse(os.path.exists(os.path.join(m.path, "tree")))
        m.unmount()
        self._mounts.remove(m)
        s = json.load(open(stats))
        self.assertEqual((s["copyups"], s["meta_copyups"]), (0, 0), s)
        self.assertEqual(os.listdir(m.upper), [".wh.tree"])
        self.assertEqual(len(os.listdir(os.path.join(low, "tree/d0"))), 40)

    def scratch_fs(self, fstype, size_mb, mkfs):
        """A loop-mounted filesystem under the test directory."""
        self.require_root()
        self.require_tool(mkfs[0])
        img = self.path(fstype + ".img")
        with open(img, "wb") as f:
            f.truncate(size_mb << 20)
        r = subprocess.run(mkfs + [img], capture_output=True)
        if r.returncode != 0:
            self.skipTest("%s failed: %s" % (mkfs[0], r.stderr.decode()[:200]))
        mnt = self.mkdirs(fstype + "-mnt")
        r = subprocess.run(["mount", "-o", "loop", img, mnt],
                           capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot loop-mount %s: %s"
                          % (fstype, r.stderr.decode()[:200]))
        self.before_cleanup(lambda: subprocess.run(["umount", mnt]))
        return mnt

    def test_copy_up_by_reflink(self):
        xfs = self.scratch_fs("xfs", 300, ["mkfs.xfs", "-q", "-m",
                                            "reflink=1"])
        low = os.path.join(xfs, "low")
        os.makedirs(low)
        data = os.urandom(8 * MiB)
        with open(os.path.join(low, "file"), "wb") as f:
            f.write(data)
        up, wk = os.path.join(xfs, "up"), os.path.join(xfs, "wk")
        os.makedirs(up)
        os.makedirs(wk)
        stats = self.path("reflink-stats.json")
        with open(os.path.join(low, "cut"), "wb") as f:
            f.write(data)
        m = self.mount([low], up, wk, opts=("stats=" + stats,))
        with open(os.path.join(m.path, "file"), "ab") as f:
            f.write(b"!")
        self.assertEqual(read(os.path.join(m.path, "file")), data + b"!")
        # A clone takes the whole file: one for a truncation is cut to
        # what the truncation keeps.
        os.truncate(os.path.join(m.path, "cut"), 4096)
        self.assertEqual(read(os.path.join(m.path, "cut")), data[:4096])
        self.assertEqual(os.stat(os.path.join(up, "cut")).st_size, 4096)
        m.unmount()
        s = json.load(open(stats))
        self.assertEqual(s["copyup_reflinked"], 8 * MiB + 4096)
        self.assertEqual(s["copyup_bytes"], 0)

    def test_truncation_copies_only_what_it_keeps(self):
        """A truncation of a lower file copies the data it keeps, not the
        whole file (kernel overlayfs copies it all): `truncate -s 5000`
        of an 8 MiB file costs 5000 bytes, for a file copied up by it
        and for a metadata-only copy (chmod first) that gets its data;
        one that grows the file copies it whole."""
        self.require_metacopy()
        data = os.urandom(8 * MiB)
        low = self.layer("cut", {"a": data, "b": data, "c": data})
        stats = self.path("cut-stats.json")
        m = self.mount_rw([low], opts=("stats=" + stats,), name="cut")
        j = lambda *a: os.path.join(m.path, *a)
        os.truncate(j("a"), 5000)
        os.chmod(j("b"), 0o600)  # a metadata-only copy
        os.truncate(j("b"), 5000)
        os.truncate(j("c"), 8 * MiB + 10)
        for name in ("a", "b"):
            self.assertEqual(os.stat(j(name)).st_size, 5000)
            self.assertEqual(read(j(name)), data[:5000], name)
        self.assertEqual(read(j("c")), data + bytes(10))
        self.assertEqual(os.stat(j("b")).st_mode & 0o777, 0o600)
        want = {n: read(j(n)) for n in ("a", "b", "c")}
        m.unmount()
        self._mounts.remove(m)
        s = json.load(open(stats))
        self.assertEqual(s["copyup_bytes"] + s["copyup_reflinked"],
                         2 * 5000 + 8 * MiB)
        # Whole after a remount: no metadata-only mark left on b.
        upper = m.upper
        m = self.mount([low], upper, m.work, mnt=self.path("cut-again"))
        for name, content in want.items():
            self.assertEqual(read(os.path.join(m.path, name)), content)
        self.assertNotIn("user.layerfs.metacopy",
                         os.listxattr(os.path.join(upper, "b")))

    def test_enospc_while_a_metadata_only_copy_gets_its_data(self):
        """A metadata-only copy whose data does not fit in the upper
        layer: the write fails with ENOSPC, the file keeps its times and
        shows the lower data, and the upper layer gets back the space
        the copy took (it kept it, and the file's new mtime showed after
        a remount; found by review)."""
        self.require_metacopy()
        self.require_root()
        low = self.layer("meta-enospc", {})
        big = os.path.join(low, "big")
        with open(big, "wb") as f:
            f.write(os.urandom(1 << 20) * 3)
        os.utime(big, (1000000000, 1000000000))
        small = self.mkdirs("meta-small")
        self.run_cmd(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                      small])
        self.before_cleanup(lambda: subprocess.run(["umount", "-l", small]))
        upper, work = os.path.join(small, "u"), os.path.join(small, "w")
        os.makedirs(upper)
        os.makedirs(work)
        m = self.mount([low], upper, work, mnt=self.path("meta-enospc-m"))
        p = os.path.join(m.path, "big")
        os.chmod(p, 0o640)  # metadata only: no data in the upper file
        with self.assertRaises(OSError) as cm:
            with open(p, "ab") as f:
                f.write(b"!")
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        with open(big, "rb") as f:
            want = f.read()
        self.assertEqual(read(p), want)
        self.assertEqual(os.lstat(p).st_mtime, 1000000000)
        self.assertLess(os.lstat(os.path.join(upper, "big")).st_blocks * 512,
                        64 << 10)
        # The space is there for other files.
        with open(os.path.join(m.path, "other"), "wb") as f:
            f.write(b"x" * (1 << 20))
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], upper, work, mnt=self.path("meta-enospc-m2"))
        p = os.path.join(m.path, "big")
        self.assertEqual(os.lstat(p).st_mtime, 1000000000)
        self.assertEqual(read(p), want)

    def test_enospc_during_copy_up(self):
        self.require_root()
        low = self.lower()
        small = self.mkdirs("small")
        self.run_cmd(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small])
        self.before_cleanup(lambda: subprocess.run(["umount", "-l", small]))
        os.makedirs(os.path.join(small, "u"))
        os.makedirs(os.path.join(small, "w"))
        m = self.mount([low], os.path.join(small, "u"),
                       os.path.join(small, "w"))
        p = os.path.join(m.path, "big/data.bin")
        with self.assertRaises(OSError) as cm:
            with open(p, "ab") as f:
                f.write(b"!")
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        # The merged view still shows the old, complete file, and nothing
        # partial is left in upper or work.
        self.assertEqual(read(p), read(os.path.join(low, "big/data.bin")))
        self.assertFalse(os.path.exists(os.path.join(small, "u/big/data.bin")))
        self.assertEqual(os.listdir(os.path.join(small, "w/work")), [])
        # Small changes still work.
        write(os.path.join(m.path, "etc/conf"), "ok", "a")


class RootlessCopyUp(LayerfsTestCase):
    """Copy-up by a daemon that is root of a user namespace mapping a
    subordinate id range (rootless_ns), as rootless podman runs it."""

    def rootless_dirs(self, tag, *owned):
        """Upper, work and mount directories for a daemon run as the
        rootless test user (rootless_ns.ID_BASE), which owns them, the
        test's directory and the paths in owned too."""
        base = rootless_ns.ID_BASE
        dirs = tuple(self.mkdirs(tag + "-up", tag + "-work", tag + "-mnt"))
        for d in (self.tmp,) + owned + dirs:
            os.chown(d, base, base)
        return dirs

    def test_set_user_id_kept_by_a_rootless_daemon(self):
        """The kernel lets a write keep a set-user-id bit only to a
        writer with CAP_FSETID in the initial user namespace, which a
        rootless daemon never has: its own writes (the data following a
        metadata-only copy-up, the pages of a shared mapping) made the
        upper filesystem drop the bit where nothing of the caller's
        should (the random differential test's rootless configuration,
        seed 5).  A write(2) or an open with O_TRUNC through the mount
        drops it, as the kernel does for any caller there."""
        self.require_root()
        base = rootless_ns.ID_BASE
        low = self.layer("low-setuid", {n: b"x" * 9000 for n in "abcd"})
        for n in "abcd":
            p = os.path.join(low, n)
            os.chown(p, base + 1, base)
            os.chmod(p, 0o4755)
        up, work, mnt = self.rootless_dirs("su", low)

        def body(ns):
            m = lfstest.start_layerfs(mnt, [low], up, work)
            try:
                # a: metadata first (a rename), then its data for an
                # open for writing.
                os.rename(os.path.join(mnt, "a"), os.path.join(mnt, "a2"))
                os.close(os.open(os.path.join(mnt, "a2"), os.O_RDWR))
                # b: written through a shared mapping.
                fd = os.open(os.path.join(mnt, "b"), os.O_RDWR)
                try:
                    mp = mmap.mmap(fd, 4096, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE)
                    mp[0:4] = b"mmap"
                    mp.flush()
                    mp.close()
                    os.fsync(fd)
                finally:
                    os.close(fd)
                # c: written by write(2); d: truncated by open(2).
                with open(os.path.join(mnt, "c"), "r+b") as f:
                    f.write(b"w")
                os.close(os.open(os.path.join(mnt, "d"),
                                 os.O_WRONLY | os.O_TRUNC))
                want = {"a2": 0o4755, "b": 0o4755, "c": 0o755, "d": 0o755}
                for n, mode in want.items():
                    self.assertEqual(stat.S_IMODE(os.stat(os.path.join(
                        up, n)).st_mode), mode, "upper " + n)
            finally:
                self.assertEqual(m.unmount(), 0)
            # What the upper layer holds, as the next mount shows it.
            m = lfstest.start_layerfs(mnt, [low], up, work)
            try:
                for n, mode in want.items():
                    self.assertEqual(stat.S_IMODE(os.stat(os.path.join(
                        mnt, n)).st_mode), mode, n)
                self.assertEqual(read(os.path.join(mnt, "b"))[:5], b"mmapx")
            finally:
                m.unmount()
        with lru.fuse_open_to_all():
            rootless_ns.run(body)

    def test_truncating_open_clears_set_user_id_kept_in_the_override(self):
        """Rootless without an id range (one id mapped, modes in the
        override_stat xattr): an open with O_TRUNC must clear the
        set-user-id bit the xattr holds, as the kernel clears it for
        root of a user namespace, which lacks CAP_FSETID on the host.
        The kernel leaves that clearing to the daemon (atomic O_TRUNC),
        which took root of the namespace for a holder of it (the random
        differential test's one-id configuration, seed 8)."""
        self.require_root()
        low = self.layer("low-ovr-setuid", {"lower": b"x" * 100})
        os.chmod(os.path.join(low, "lower"), 0o4755)
        up, work, mnt = self.rootless_dirs("os", low,
                                           os.path.join(low, "lower"))
        opts = ("xattr_permissions=2",)

        def body(ns):
            m = lfstest.start_layerfs(mnt, [low], up, work, opts)
            try:
                upper = os.path.join(mnt, "upper")
                with open(upper, "wb") as f:
                    f.write(b"y" * 100)
                os.chmod(upper, 0o4755)
                for n in ("lower", "upper"):
                    os.close(os.open(os.path.join(mnt, n),
                                     os.O_WRONLY | os.O_TRUNC))
            finally:
                self.assertEqual(m.unmount(), 0)
            m = lfstest.start_layerfs(mnt, [low], up, work, opts)
            try:
                for n in ("lower", "upper"):
                    st = os.stat(os.path.join(mnt, n))
                    self.assertEqual((stat.S_IMODE(st.st_mode), st.st_size),
                                     (0o755, 0), n)
            finally:
                m.unmount()
        with lru.fuse_open_to_all():
            rootless_ns.run(body, ids=1)

    def test_device_copied_up_as_a_placeholder_takes_a_chmod(self):
        """Rootless without CAP_MKNOD, a lower device is copied up as a
        regular file whose override record carries the device (as
        fuse-overlayfs does).  A chmod of it was made on the placeholder
        itself, not in the record: it answered success and the view kept
        the old mode (found by review)."""
        self.require_root()
        low = self.layer("low-dev", {})
        dev = os.path.join(low, "zero")
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 5))
        up, work, mnt = self.rootless_dirs("dv", low, dev)
        opts = ("xattr_permissions=2",)

        def body(ns):
            m = lfstest.start_layerfs(mnt, [low], up, work, opts)
            try:
                p = os.path.join(mnt, "zero")
                os.chmod(p, 0o600)   # copies it up as the placeholder
                os.chmod(p, 0o640)   # and changes the record
                st = os.lstat(p)
                self.assertTrue(stat.S_ISCHR(st.st_mode))
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
            finally:
                self.assertEqual(m.unmount(), 0)
            m = lfstest.start_layerfs(mnt, [low], up, work, opts)
            try:
                st = os.lstat(os.path.join(mnt, "zero"))
                self.assertEqual((stat.S_ISCHR(st.st_mode),
                                  stat.S_IMODE(st.st_mode)), (True, 0o640))
            finally:
                m.unmount()
        with lru.fuse_open_to_all():
            rootless_ns.run(body, ids=1)

    def test_acl_naming_unmapped_ids(self):
        """A rootless daemon reads an ACL entry for an id its namespace
        does not map (here host ids below the range) as -1, which the
        FUSE client refuses with the whole ACL: getfacl and every
        non-owner's permission check of the file failed with EINVAL, and
        a copy-up or a creation inheriting the ACL could not write it.
        Such entries are left out where no caller can gain by it, and
        the file stays refused where one could."""
        self.require_root()
        self.require_tool("setfacl", "getfacl")
        base = rootless_ns.ID_BASE
        user = base + 1000  # uid 1000 in the namespace
        low = self.layer("low-acl-ids", {"a": b"for 1000\n", "b": b"b\n",
                                         "d/w": b"w\n"})
        self.run_cmd(["setfacl", "-m", "u:5000:rw,u:%d:r,g:6000:r,o::-"
                      % user, os.path.join(low, "a")])
        # group 6000 may not read, "other" may: unsafe to drop.
        self.run_cmd(["setfacl", "-m", "g:6000:-,o::r",
                      os.path.join(low, "b")])
        self.run_cmd(["setfacl", "-d", "-m", "u:5000:rwx,u:%d:rx" % user,
                      os.path.join(low, "d")])
        up, work, mnt = self.rootless_dirs("ai")
        for root, dirs, files in os.walk(low):
            for n in [root] + [os.path.join(root, f) for f in files]:
                os.chown(n, base, base)

        def getfacl(path):
            return subprocess.run(
                ["getfacl", "-n", "--omit-header", path], check=True,
                capture_output=True, text=True).stdout.split()

        def body(ns):
            m = lfstest.start_layerfs(mnt, [low], up, work,
                                      ("whiteout=overlay",))
            try:
                a = os.path.join(mnt, "a")
                want = ["user::rw-", "user:1000:r--", "group::r--",
                        "mask::rw-", "other::---"]
                self.assertEqual(getfacl(a), want)
                # The named entry lets 1000 read; nobody else may.
                for uid, ok in ((1000, True), (1001, False)):
                    r = subprocess.run(["cat", a], user=uid, group=uid,
                                       extra_groups=[], capture_output=True)
                    self.assertEqual(r.returncode == 0, ok, r.stderr)
                # A metadata copy-up carries what can be written.
                os.chown(a, 0, 0)
                self.assertEqual(getfacl(a), want)
                self.assertEqual(getfacl(os.path.join(up, "a")), want)
                # Removing a lower file leaves a 0/0 whiteout in the
                # copied-up d; a new file there is made aside in workdir
                # under d's default ACL, without the unmapped entry.
                w = os.path.join(mnt, "d", "w")
                os.unlink(w)
                with open(w, "w") as f:
                    f.write("new\n")
                self.assertIn("user:1000:r-x", getfacl(w))
                self.assertNotIn("default:user:5000:rwx",
                                 getfacl(os.path.join(mnt, "d")))
                # b: a member of host group 6000 would read it without
                # its entry, so it stays refused and is not copied up.
                b = os.path.join(mnt, "b")
                with self.assertRaises(OSError) as cm:
                    os.getxattr(b, "system.posix_acl_access")
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                with self.assertRaises(OSError) as cm:
                    os.chown(b, 0, 0)
                self.assertEqual(cm.exception.errno, errno.EPERM)
                self.assertFalse(os.path.lexists(os.path.join(up, "b")))
            finally:
                self.assertEqual(m.unmount(), 0)
        with lru.fuse_open_to_all():
            rootless_ns.run(body)


if __name__ == "__main__":
    lfstest.main()
