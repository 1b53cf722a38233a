"""Inode flags through the mount (lsattr/chattr's FS_IOC_GETFLAGS and
SETFLAGS, xfs_io's FS_IOC_FSGETXATTR): read from the layer holding the
file, changed on its upper copy, carried by copy-up.  The immutable and
append-only flags are held to what kernel overlayfs and a plain
directory do with them: an append-only lower file takes appends and
refuses overwrites, truncation and chmod; an immutable one refuses every
change until the flag is taken off; neither is removed or renamed.
Where kernel overlayfs is there, the tests that compare run each case
on it too, and it must agree.  Needs root (CAP_LINUX_IMMUTABLE) and a
filesystem with inode flags under the test directory."""

import errno
import fcntl
import mmap
import os
import stat
import struct
import subprocess
import sys
import threading
import time

import lfstest
from lfstest import LayerfsTestCase

FS_IOC_FSGETXATTR = 0x801C581F
FS_IMMUTABLE_FL = lfstest.FS_IMMUTABLE_FL
FS_APPEND_FL = lfstest.FS_APPEND_FL
FS_NODUMP_FL = lfstest.FS_NODUMP_FL
FS_IOC_GETFLAGS = lfstest.FS_IOC_GETFLAGS
FS_IOC_SETFLAGS = lfstest.FS_IOC_SETFLAGS
FS_XFLAG_IMMUTABLE = 0x8
FS_XFLAG_APPEND = 0x10
PROTECT = lfstest.FS_PROTECT_FL
get_flags = lfstest.inode_flags
change_flags = lfstest.change_inode_flags


def xflags(path):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        buf = fcntl.ioctl(fd, FS_IOC_FSGETXATTR, b"\0" * 28)
        return struct.unpack("I", buf[:4])[0]
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def race(seconds, background, one_round):
    """Calls one_round() over and over for `seconds` while
    background(stop) runs in another thread until the event stop is
    set."""
    stop = threading.Event()
    t = threading.Thread(target=background, args=(stop,))
    t.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            one_round()
    finally:
        stop.set()
        t.join(timeout=60)


class FileAttr(LayerfsTestCase):

    def setUp(self):
        super().setUp()
        self.require_root()
        self.require_inode_flags()

    def mounts(self, opts=()):
        """A layer of files and a directory, mounted by layerfs (with
        opts) and by kernel overlayfs, each with its own upper layer."""
        low = self.layer("low", {"app": b"log\n", "imm": b"fixed\n",
                                 "plain": b"p\n", "dir/f": b"f"})
        change_flags(os.path.join(low, "app"), add=FS_APPEND_FL)
        change_flags(os.path.join(low, "imm"), add=FS_IMMUTABLE_FL)
        change_flags(os.path.join(low, "plain"), add=FS_NODUMP_FL)
        os.mkdir(os.path.join(low, "pdir"))
        change_flags(os.path.join(low, "pdir"), add=FS_IMMUTABLE_FL)
        return self.both(low, opts)

    def both(self, low, opts=(), name="rw"):
        """low mounted by layerfs (with opts) and by kernel overlayfs,
        each with its own upper layer: (what, mount, upper) each."""
        m = self.mount_rw([low], opts=opts, name=name)
        out = [("layerfs", m.path, m.upper)]
        kmnt = self.kernel_overlay([low], "k" + name)
        if kmnt:
            out.append(("kernel overlayfs", kmnt, self.path("k" + name +
                                                            "-kup")))
        return out

    def both_and_writeback(self, low, name):
        """both(), and a third mount: layerfs with the writeback cache
        (passthrough=0), the page cache between the kernel and layerfs."""
        mounts = self.both(low, name=name)
        wb = self.mount_rw([low], opts=("passthrough=0",), name=name + "wb")
        mounts.append(("layerfs, writeback cache", wb.path, wb.upper))
        return mounts

    def outcome(self, fn):
        try:
            fn()
            return "ok"
        except OSError as e:
            return errno.errorcode[e.errno]

    def test_flags_read_from_the_layer_holding_the_file(self):
        for what, root, _ in self.mounts():
            with self.subTest(what):
                j = lambda n: os.path.join(root, n)  # noqa: E731
                self.assertTrue(get_flags(j("app")) & FS_APPEND_FL)
                self.assertTrue(get_flags(j("imm")) & FS_IMMUTABLE_FL)
                self.assertTrue(get_flags(j("plain")) & FS_NODUMP_FL)
                self.assertFalse(get_flags(j("dir")) & PROTECT)
                self.assertTrue(xflags(j("imm")) & FS_XFLAG_IMMUTABLE)
                self.assertTrue(xflags(j("app")) & FS_XFLAG_APPEND)
                self.assertEqual(get_flags(j("plain")) & PROTECT, 0)

    def test_append_only_lower_file(self):
        """Appends go through (copying the file up), overwrites,
        truncation and chmod are refused, on both."""
        for what, root, upper in self.mounts():
            p = os.path.join(root, "app")

            def append():
                with open(p, "ab") as f:
                    f.write(b"more\n")

            def overwrite():
                with open(p, "r+b") as f:
                    f.write(b"X")

            got = (self.outcome(append), self.outcome(overwrite),
                   self.outcome(lambda: os.truncate(p, 0)),
                   self.outcome(lambda: os.chmod(p, 0o600)),
                   self.outcome(lambda: open(p, "wb").close()),
                   read(p), get_flags(p) & PROTECT)
            self.assertEqual(got, ("ok", "EPERM", "EPERM", "EPERM",
                                   "EPERM", b"log\nmore\n", FS_APPEND_FL),
                             what)
            if what == "layerfs":
                # On the upper copy itself (kernel overlayfs keeps it in
                # an xattr instead).
                self.assertTrue(get_flags(os.path.join(upper, "app"))
                                & FS_APPEND_FL)

    def test_refused_change_copies_nothing(self):
        """A change refused for the flags leaves no copy behind: with
        index=off a copy would break the file from its other name."""
        low = self.layer("low-hl", {"imm": b"fixed\n"})
        os.link(os.path.join(low, "imm"), os.path.join(low, "imm2"))
        change_flags(os.path.join(low, "imm"), add=FS_IMMUTABLE_FL)
        m = self.mount_rw([low], opts=("index=off",), name="hl")
        j = lambda n: os.path.join(m.path, n)  # noqa: E731
        for change in (lambda: os.chmod(j("imm"), 0o600),
                       lambda: open(j("imm"), "wb").close(),
                       lambda: os.truncate(j("imm"), 0),
                       lambda: os.setxattr(j("imm"), "user.x", b"1"),
                       lambda: os.link(j("imm"), j("imm3"))):
            self.assertEqual(self.outcome(change), "EPERM")
        self.assertEqual(os.listdir(m.upper), [])
        self.assertEqual(os.stat(j("imm")).st_nlink, 2)
        self.assertEqual(os.stat(j("imm")).st_ino, os.stat(j("imm2")).st_ino)

    def test_refused_change_copies_no_directory(self):
        """Nor are the directories of a protected file copied up for a
        change its flags refuse: the kernel refuses before it looks at
        them.  A directory copied up shows where the upper filesystem
        answers otherwise, as for the removal of a default ACL the
        directory lacks (the random differential test, seed 3501: a
        link of an immutable file copied its directory up)."""
        low = self.layer("low-dirs", {"d/imm": b"fixed\n", "e/app": b"l\n"})
        change_flags(os.path.join(low, "d", "imm"), add=FS_IMMUTABLE_FL)
        change_flags(os.path.join(low, "e", "app"), add=FS_APPEND_FL)
        for what, root, upper in self.both(low, name="dirs"):
            with self.subTest(what):
                j = lambda n: os.path.join(root, n)  # noqa: E731
                for change in (lambda: os.link(j("d/imm"), j("d/l")),
                               lambda: os.chmod(j("d/imm"), 0o600),
                               lambda: os.utime(j("d/imm"), (1, 1)),
                               lambda: os.setxattr(j("d/imm"), "user.x",
                                                   b"1"),
                               lambda: os.truncate(j("e/app"), 0),
                               lambda: os.link(j("e/app"), j("e/l"))):
                    self.assertEqual(self.outcome(change), "EPERM")
                self.assertEqual(os.listdir(upper), [])
                self.assertEqual(self.outcome(lambda: os.removexattr(
                    j("d"), "system.posix_acl_default")), "ENODATA")

    def test_touch_of_an_append_only_file(self):
        """An append-only file may be touched (both times set to the
        current time), where given times are refused; an immutable one
        may not.  layerfs refused the touch of a lower append-only file
        (a staged change) and, with the writeback cache, of an upper
        one: the FUSE client then sends the mtime it set itself as a
        given time (the random differential test, seed 3806)."""
        low = self.layer("low-touch", {"app": b"a\n", "imm": b"i\n",
                                       "up": b"u\n"})
        for name in ("app", "imm", "up"):
            os.utime(os.path.join(low, name), (5, 5))
        change_flags(os.path.join(low, "app"), add=FS_APPEND_FL)
        change_flags(os.path.join(low, "imm"), add=FS_IMMUTABLE_FL)
        mounts = self.both_and_writeback(low, name="touch")
        now_omit = (lfstest.UTIME_NOW, lfstest.UTIME_OMIT)
        for what, root, _ in mounts:
            with self.subTest(what):
                j = lambda n: os.path.join(root, n)  # noqa: E731
                change_flags(j("up"), add=FS_APPEND_FL)
                for name in ("app", "up"):
                    self.assertEqual(os.stat(j(name)).st_mtime, 5)
                    self.assertEqual(self.outcome(
                        lambda: os.utime(j(name), None)), "ok")
                    self.assertGreater(os.stat(j(name)).st_mtime, 5)
                    self.assertEqual(self.outcome(
                        lambda: os.utime(j(name), (1, 1))), "EPERM")
                    self.assertEqual(self.outcome(
                        lambda: lfstest.utimensat(j(name), now_omit)),
                        "EPERM")
                    self.assertTrue(get_flags(j(name)) & FS_APPEND_FL)
                self.assertEqual(self.outcome(
                    lambda: os.utime(j("imm"), None)), "EPERM")
                change_flags(j("up"), drop=FS_APPEND_FL)

    def test_write_through_a_descriptor_older_than_append_only(self):
        """A write through a descriptor opened before its file was made
        append-only is one the flag allows, as on a local filesystem.
        With the writeback cache the kernel writes back later the mtime
        it gave the file for it, which the flag refuses as a time given:
        the next close of a descriptor of the file failed with EPERM
        (the random differential test, seed 3860)."""
        low = self.layer("low-older", {"f": b"solo\n"})
        mounts = self.both_and_writeback(low, name="older")
        for what, root, _ in mounts:
            with self.subTest(what):
                p = os.path.join(root, "f")
                fd = os.open(p, os.O_RDWR)
                try:
                    change_flags(p, add=FS_APPEND_FL)
                    self.assertEqual(os.pwrite(fd, b"X", 1), 1)
                    self.assertEqual(read(p), b"sXlo\n")
                    self.assertEqual(read(p), b"sXlo\n")
                finally:
                    os.close(fd)
                self.assertTrue(get_flags(p) & FS_APPEND_FL)
                change_flags(p, drop=FS_APPEND_FL)

    def test_pages_written_before_the_file_became_immutable(self):
        """Data written through a descriptor before its file was made
        immutable is the file's.  With the writeback cache the kernel
        still held it when the flag came and wrote it back afterwards;
        the upper filesystem refused it, the next close of a descriptor
        of the file (here chattr's own) failed with EIO and the data was
        lost (the random differential test, seed 964627696)."""
        low = self.layer("low-immpages", {"f": b"old\n"})
        mounts = self.both_and_writeback(low, name="immpages")
        for what, root, upper in mounts:
            with self.subTest(what):
                p = os.path.join(root, "f")
                fd = os.open(p, os.O_RDWR)
                try:
                    self.assertEqual(os.pwrite(fd, b"new\n", 0), 4)
                    self.assertEqual(self.outcome(
                        lambda: change_flags(p, add=FS_IMMUTABLE_FL)), "ok")
                    self.assertEqual(self.outcome(
                        lambda: os.close(os.open(p, os.O_RDONLY))), "ok")
                finally:
                    os.close(fd)
                try:
                    self.assertEqual(read(p), b"new\n")
                    self.assertEqual(read(os.path.join(upper, "f")),
                                     b"new\n")
                    self.assertTrue(get_flags(p) & FS_IMMUTABLE_FL)
                finally:
                    change_flags(p, drop=FS_IMMUTABLE_FL)

    def test_pages_of_an_older_descriptor_beside_an_appending_one(self):
        """The kernel writes a file's dirty pages back through the
        writable descriptor of it opened last.  With the writeback
        cache an append-only file opened to append is served with
        direct I/O through an appending descriptor, and the pages a
        write through an older descriptor left were written back
        through it: at the end of the file, and the close failed with
        EPERM (CI's random differential seed 65548193, override stat).
        They must land at their offsets, as on a local filesystem."""
        low = self.layer("low-pages", {"f": b"solo\n"})
        mounts = self.both_and_writeback(low, name="pages")
        for what, root, _ in mounts:
            with self.subTest(what):
                p = os.path.join(root, "f")
                fd = os.open(p, os.O_RDWR)
                try:
                    change_flags(p, add=FS_APPEND_FL)
                    self.assertEqual(os.pwrite(fd, b"X", 1), 1)
                    app = os.open(p, os.O_WRONLY | os.O_APPEND)
                    try:
                        self.assertEqual(os.write(app, b"yy"), 2)
                    finally:
                        os.close(app)
                    self.assertEqual(read(p), b"sXlo\nyy")
                finally:
                    os.close(fd)
                self.assertEqual(read(p), b"sXlo\nyy")
                self.assertTrue(get_flags(p) & FS_APPEND_FL)
                change_flags(p, drop=FS_APPEND_FL)

    def test_mapped_pages_of_an_appending_page_cache_descriptor(self):
        """Without the writeback cache (writeback=0, passthrough=0) an
        append-only file opened to append gets a page-cache handle,
        whose descriptor keeps O_APPEND (the kernel refuses to take it
        off such a file).  The FUSE client, which does not know the
        flag, lets that descriptor be mapped shared and writable (a
        local filesystem refuses, EACCES), and writes the mapping's
        pages back through it: they landed at the end of the file.
        They must go at their offsets, through another descriptor open
        for writing, or fail; never be appended."""
        low = self.layer("low-mapped", {"f": b"solo\n", "g": b"solo\n"})
        m = self.mount_rw([low], opts=("passthrough=0", "writeback=0"),
                          name="mapped")
        for name, other in (("f", True), ("g", False)):
            with self.subTest(another_writer=other):
                p = os.path.join(m.path, name)
                fd = os.open(p, os.O_RDWR) if other else -1
                change_flags(p, add=FS_APPEND_FL)
                app = os.open(p, os.O_RDWR | os.O_APPEND)
                try:
                    with mmap.mmap(app, 5) as mp:
                        mp[1:2] = b"X"
                        try:
                            mp.flush()
                        except OSError as e:
                            self.assertFalse(other, e)
                finally:
                    os.close(app)
                    if fd >= 0:
                        os.close(fd)
                got = read(p)
                self.assertIn(got, (b"sXlo\n", b"solo\n"))
                if other:
                    self.assertEqual(got, b"sXlo\n")
                change_flags(p, drop=FS_APPEND_FL)

    def test_append_kills_capabilities_of_an_append_only_file(self):
        """A write takes a file's capabilities away, past the
        append-only flag, as on a local filesystem.  The FUSE client
        asks it of layerfs as a REMOVEXATTR, which the flag refused: an
        append to an append-only file with capabilities failed with
        EPERM while another descriptor held it open for writing (the
        random differential test, seed 17002).  A removal asked by a
        caller (setcap -r) is still refused for the flag."""
        cap = (b"\x01\x00\x00\x02\x00\x20\x00\x00" + bytes(12))
        low = self.layer("low-caps", {"f": b"solo\n", "g": b"g\n"})
        mounts = self.both_and_writeback(low, name="caps")
        for what, root, _ in mounts:
            with self.subTest(what):
                p = os.path.join(root, "f")
                q = os.path.join(root, "g")
                writer = os.open(p, os.O_WRONLY)
                try:
                    for path in (p, q):
                        os.setxattr(path, "security.capability", cap)
                        change_flags(path, add=FS_APPEND_FL)
                    self.assertEqual(self.outcome(lambda: os.removexattr(
                        q, "security.capability")), "EPERM")
                    self.assertEqual(os.getxattr(q, "security.capability"),
                                     cap)
                    app = os.open(p, os.O_WRONLY | os.O_APPEND)
                    try:
                        self.assertEqual(os.write(app, b"yy"), 2)
                    finally:
                        os.close(app)
                    # None left: a removal is the caller's, refused
                    # for the flag (seed 19303 answered ENODATA).
                    self.assertEqual(self.outcome(lambda: os.removexattr(
                        p, "security.capability")), "EPERM")
                finally:
                    os.close(writer)
                self.assertEqual(read(p), b"solo\nyy")
                self.assertNotIn("security.capability", os.listxattr(p))
                self.assertTrue(get_flags(p) & FS_APPEND_FL)
                for path in (p, q):
                    change_flags(path, drop=FS_APPEND_FL)

    def test_refused_changes_keep_capabilities_of_a_protected_file(self):
        """A truncate or chown that an append-only or immutable flag
        refuses leaves the file's capabilities, as on a local
        filesystem, where the flag refuses it before they are touched.
        The FUSE client asks their removal first, which layerfs makes
        past the flag while the file is open for writing (a write needs
        it, above); the refused change must put them back.  They were
        lost (the random differential test, seed 1577033549)."""
        cap = (b"\x01\x00\x00\x02\x00\x20\x00\x00" + bytes(12))
        low = self.layer("low-keep", {"f": b"solo\n"})
        mounts = self.both_and_writeback(low, name="keep")
        changes = (
            ("truncate", lambda p, fd: os.truncate(p, 0)),
            ("ftruncate", lambda p, fd: os.ftruncate(fd, 1)),
            ("chown", lambda p, fd: os.chown(p, 1, 1)),
        )
        for what, root, _ in mounts:
            p = os.path.join(root, "f")
            for flag in (FS_APPEND_FL, FS_IMMUTABLE_FL):
                for change, do in changes:
                    # Through a descriptor opened before it, an
                    # immutable flag refuses a truncation only where
                    # the upper filesystem does (ext4, not tmpfs).
                    if change == "ftruncate" and flag == FS_IMMUTABLE_FL:
                        continue
                    with self.subTest(what, flag=flag, change=change):
                        os.setxattr(p, "security.capability", cap)
                        writer = os.open(p, os.O_WRONLY)
                        change_flags(p, add=flag)
                        try:
                            self.assertEqual(self.outcome(
                                lambda: do(p, writer)), "EPERM")
                            self.assertEqual(os.getxattr(
                                p, "security.capability"), cap)
                        finally:
                            os.close(writer)
                            change_flags(p, drop=flag)
                        self.assertEqual(read(p), b"solo\n")
                        self.assertEqual(os.stat(p).st_uid, 0)
            # A write still takes them: the note of the removal ends
            # with the write, and a later refused change puts nothing
            # back.
            writer = os.open(p, os.O_WRONLY)
            change_flags(p, add=FS_APPEND_FL)
            try:
                app = os.open(p, os.O_WRONLY | os.O_APPEND)
                try:
                    self.assertEqual(os.write(app, b"z"), 1)
                finally:
                    os.close(app)
                self.assertEqual(self.outcome(lambda: os.truncate(p, 0)),
                                 "EPERM")
                self.assertNotIn("security.capability", os.listxattr(p))
            finally:
                os.close(writer)
                change_flags(p, drop=FS_APPEND_FL)
            self.assertEqual(read(p), b"solo\nz")

    def test_mapped_write_keeps_capabilities_of_an_append_only_file(self):
        """Pages written through a shared mapping leave a file's
        capabilities, as on a local filesystem.  Through the page cache
        (writeback cache, or none with writeback=0) layerfs writes them
        to the upper file, whose filesystem removes the capabilities for
        it; layerfs puts them back.  For a file made append-only after it
        was mapped (whose pages the flag lets through), putting them back
        was refused for the flag, and they were lost."""
        cap = (b"\x01\x00\x00\x02\x00\x20\x00\x00" + bytes(12))
        low = self.layer("low-mapcaps", {"f": b"solo\n"})
        mounts = self.both(low, name="mapcaps")
        for opts in (("passthrough=0",), ("passthrough=0", "writeback=0")):
            m = self.mount_rw([low], opts=opts, name="mapcaps-" + opts[-1])
            mounts.append(("layerfs, " + ",".join(opts), m.path, m.upper))
        for what, root, _ in mounts:
            with self.subTest(what):
                p = os.path.join(root, "f")
                os.setxattr(p, "security.capability", cap)
                fd = os.open(p, os.O_RDWR)
                try:
                    # Mapped before the flag, which refuses a shared
                    # writable mapping of its own (EACCES).
                    with mmap.mmap(fd, 5) as mp:
                        change_flags(p, add=FS_APPEND_FL)
                        mp[1:2] = b"X"
                        mp.flush()
                    os.fsync(fd)
                finally:
                    os.close(fd)
                try:
                    self.assertEqual(read(p), b"sXlo\n")
                    self.assertEqual(os.getxattr(p, "security.capability"),
                                     cap)
                finally:
                    change_flags(p, drop=FS_APPEND_FL)

    def test_rename_whiteout_refused_after_the_flags(self):
        """RENAME_WHITEOUT, which neither supports, is refused with
        EINVAL, but only once the kernel's own checks passed: the name
        of an immutable file, or in an append-only directory, is
        refused for the flag first (EPERM), as by kernel overlayfs (the
        random differential test, seed 6000)."""
        low = self.layer("low-rwo", {"imm": b"i\n", "plain": b"p\n",
                                     "adir/f": b"f\n"})
        change_flags(os.path.join(low, "imm"), add=FS_IMMUTABLE_FL)
        change_flags(os.path.join(low, "adir"), add=FS_APPEND_FL)
        rename_whiteout = 4
        for what, root, _ in self.both(low, name="rwo"):
            with self.subTest(what):
                j = lambda n: os.path.join(root, n)  # noqa: E731
                for src, dst, want in (("imm", "x", "EPERM"),
                                       ("adir/f", "y", "EPERM"),
                                       ("plain", "z", "EINVAL")):
                    self.assertEqual(self.outcome(
                        lambda: lfstest.renameat2(j(src), j(dst),
                                                  rename_whiteout)),
                        want, src)
                self.assertEqual(sorted(os.listdir(root)),
                                 ["adir", "imm", "plain"])

    def test_protected_name_left_by_a_rename_between_links(self):
        """With index=off, a rename of one name of a lower hard link
        over another changes nothing (POSIX), but the kernel moves its
        dentry as if it had: the name renamed over then reaches layerfs
        with no node of its own.  Its removal is still refused for the
        file's flag (it made a whiteout: found by the random
        differential test, seed 2486)."""
        low = self.layer("low-mvl", {"a": b"x\n"})
        for n in ("d", "g"):
            os.link(os.path.join(low, "a"), os.path.join(low, n))
        change_flags(os.path.join(low, "a"), add=FS_IMMUTABLE_FL)
        m = self.mount_rw([low], opts=("index=off",), name="mvl")
        j = lambda n: os.path.join(m.path, n)  # noqa: E731
        # Both names looked up: with index=off, a node each.
        self.assertEqual(os.stat(j("d")).st_ino, os.stat(j("g")).st_ino)
        os.rename(j("d"), j("g"))
        self.assertEqual(self.outcome(lambda: os.unlink(j("g"))), "EPERM")
        self.assertEqual(sorted(os.listdir(m.path)), ["a", "d", "g"])
        self.assertEqual(os.listdir(m.upper), [])

    def test_protected_hard_link_moved_with_its_directory(self):
        """A directory holding one name of a protected lower hard link
        renamed: moved, not changed, so allowed, also when it is copied
        whole (redirect_dir=off) and the name must become a link of the
        indexed copy.  Every name of the file stays refused removal,
        also the one only the index holds now."""
        low = self.layer("low-mv", {"d/imm": b"fixed\n", "other/": None})
        os.link(os.path.join(low, "d", "imm"), os.path.join(low, "imm2"))
        change_flags(os.path.join(low, "d", "imm"), add=FS_APPEND_FL)
        for opts in ((), ("redirect_dir=off",)):
            with self.subTest(opts=opts):
                m = self.mount_rw([low], opts=opts,
                                  name="mv%d" % len(opts))
                j = lambda n: os.path.join(m.path, n)  # noqa: E731
                with open(j("imm2"), "ab") as f:
                    f.write(b"more\n")   # copied up through the index
                os.rename(j("d"), j("moved"))
                self.assertEqual(read(j("moved/imm")), b"fixed\nmore\n")
                self.assertEqual(os.stat(j("moved/imm")).st_ino,
                                 os.stat(j("imm2")).st_ino)
                for name in ("moved/imm", "imm2"):
                    self.assertEqual(self.outcome(
                        lambda: os.unlink(j(name))), "EPERM", name)
                self.assertTrue(get_flags(j("moved/imm")) & FS_APPEND_FL)
                self.assertEqual(m.unmount(), 0)

    def test_set_id_bits_cleared_past_the_flags(self):
        """The kernel clears set-id bits past the flags: an append by a
        user other than the owner drops set-user-id, and so does a
        chown(-1, -1), while a real change of owner stays refused.  (The
        append failed with EIO, the bits refused to go, where layerfs
        clears them itself: with the writeback cache, and then with
        passthrough too once append-only files were kept off it.)"""
        self.require_tool("setpriv")
        low = self.layer("low-suid", {"app": b"log\n", "app2": b"x\n"})
        for n in ("app", "app2"):
            f = os.path.join(low, n)
            os.chmod(f, 0o4766)
            change_flags(f, add=FS_APPEND_FL)
        # With passthrough=0 (and with passthrough, for an append-only
        # file) the appends go through direct I/O, where layerfs clears
        # the bits itself.
        outs = [("layerfs" + " ".join(("",) + opts), self.mount_rw(
            [low], opts=opts, name="suid%d" % len(opts)).path)
            for opts in ((), ("passthrough=0",))]
        kmnt = self.kernel_overlay([low], "suid")
        if kmnt:
            outs.append(("kernel overlayfs", kmnt))
        for what, root in outs:
            with self.subTest(what):
                p = os.path.join(root, "app")
                r = subprocess.run(
                    ["setpriv", "--reuid=1000", "--regid=1000",
                     "--clear-groups", "sh", "-c", "echo more >> " + p],
                    capture_output=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr.decode())
                self.assertEqual(read(p), b"log\nmore\n")
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o766)
                q = os.path.join(root, "app2")
                os.chown(q, -1, -1)
                self.assertEqual(stat.S_IMODE(os.stat(q).st_mode), 0o766)
                self.assertEqual(self.outcome(lambda: os.chown(q, 5, 5)),
                                 "EPERM")
                self.assertTrue(get_flags(q) & FS_APPEND_FL)

    def test_append_with_the_writeback_cache(self):
        """Without passthrough (rootless mounts) the kernel's writeback
        cache writes pages back at their offsets, which an append-only
        file refuses: its appends go through direct I/O instead, and
        keep to the end of the file."""
        low = self.layer("low-wb", {"app": b"log\n"})
        change_flags(os.path.join(low, "app"), add=FS_APPEND_FL)
        m = self.mount_rw([low], opts=("passthrough=0",), name="wb")
        p = os.path.join(m.path, "app")
        for i in range(3):
            with open(p, "ab") as f:
                f.write(b"line %d\n" % i)
        with self.assertRaises(OSError) as cm:
            open(p, "r+b").close()   # writing without O_APPEND
        self.assertEqual(cm.exception.errno, errno.EPERM)
        self.assertEqual(read(p), b"log\nline 0\nline 1\nline 2\n")
        self.assertEqual(m.unmount(), 0)
        self.assertEqual(read(os.path.join(m.upper, "app")),
                         b"log\nline 0\nline 1\nline 2\n")
        self.assertTrue(get_flags(os.path.join(m.upper, "app"))
                        & FS_APPEND_FL)

    def test_fallocate_on_an_append_only_file(self):
        """Punching a hole is refused, allocating past the end is not,
        and neither breaks the file's later closes.  With the writeback
        cache the kernel sets the file's times itself before it asks for
        a fallocate, and writes them back at the next close, which an
        append-only file refused: every close then failed with EIO."""
        for what, root, _ in self.mounts(opts=("passthrough=0",)):
            with self.subTest(what):
                p = os.path.join(root, "app")
                fd = os.open(p, os.O_RDWR | os.O_APPEND)
                try:
                    punch = self.outcome(lambda: lfstest.fallocate(
                        fd, lfstest.FALLOC_FL_PUNCH_HOLE |
                        lfstest.FALLOC_FL_KEEP_SIZE, 0, 2))
                    grow = self.outcome(lambda: lfstest.fallocate(
                        fd, lfstest.FALLOC_FL_KEEP_SIZE, 0, 65536))
                    os.write(fd, b"more\n")
                finally:
                    os.close(fd)
                self.assertEqual((punch, grow), ("EPERM", "ok"))
                for _ in range(2):
                    self.assertEqual(read(p), b"log\nmore\n")
                self.assertTrue(get_flags(p) & FS_APPEND_FL)

    def test_shared_mapping_of_an_append_only_file(self):
        """A shared mapping of an append-only file open for appending
        is refused (through it the file could be rewritten in place):
        EACCES from the kernel, ENODEV from its FUSE client, which
        layerfs serves such a file to with direct I/O, passthrough or
        not.  A private mapping, and a shared one of a descriptor open
        for reading, are made; a reader open before an append reads it
        (tail -f)."""
        low = self.layer("low-map", {"app": b"log\n"})
        change_flags(os.path.join(low, "app"), add=FS_APPEND_FL)
        for opts in ((), ("passthrough=0",)):
            for what, root, _ in self.both(low, opts=opts,
                                           name="map%d" % len(opts)):
                with self.subTest(what=what, opts=opts):
                    p = os.path.join(root, "app")
                    reader = os.open(p, os.O_RDONLY)
                    fd = os.open(p, os.O_RDWR | os.O_APPEND)
                    try:
                        self.assertEqual(os.pread(reader, 100, 0), b"log\n")
                        for prot in (mmap.PROT_READ | mmap.PROT_WRITE,
                                     mmap.PROT_READ):
                            with self.assertRaises(OSError) as cm:
                                mmap.mmap(fd, 4, mmap.MAP_SHARED, prot)
                            self.assertIn(cm.exception.errno,
                                          (errno.EACCES, errno.ENODEV))
                        mmap.mmap(fd, 4, mmap.MAP_PRIVATE,
                                  mmap.PROT_READ | mmap.PROT_WRITE).close()
                        shared = mmap.mmap(reader, 4, mmap.MAP_SHARED,
                                           mmap.PROT_READ)
                        self.assertEqual(shared[:], b"log\n")
                        shared.close()
                        os.write(fd, b"more\n")
                        self.assertEqual(os.pread(reader, 100, 0),
                                         b"log\nmore\n")
                    finally:
                        os.close(fd)
                        os.close(reader)
                    self.assertEqual(read(p), b"log\nmore\n")

    def test_immutable_lower_file(self):
        """Every change is refused and the data stays; chattr -i (root)
        makes it writable through the mount, on its upper copy."""
        for what, root, upper in self.mounts():
            with self.subTest(what):
                p = os.path.join(root, "imm")
                got = [self.outcome(f) for f in (
                    lambda: open(p, "ab").close(),
                    lambda: os.chmod(p, 0o600),
                    lambda: os.chown(p, 5, 5),
                    lambda: os.utime(p, (1, 1)),
                    lambda: os.setxattr(p, "user.x", b"1"),
                    lambda: os.truncate(p, 0))]
                self.assertEqual(got, ["EPERM"] * 6)
                self.assertEqual(read(p), b"fixed\n")
                change_flags(p, drop=FS_IMMUTABLE_FL)
                with open(p, "ab") as f:
                    f.write(b"now\n")
                self.assertEqual(read(p), b"fixed\nnow\n")
                if what == "layerfs":
                    self.assertEqual(read(os.path.join(upper, "imm")),
                                     b"fixed\nnow\n")

    def test_protected_lower_entries_stay(self):
        """A lower file or empty directory that is immutable or
        append-only can be neither removed nor renamed, nor replaced by
        a rename; others around it can."""
        for what, root, upper in self.mounts():
            with self.subTest(what):
                j = lambda n: os.path.join(root, n)  # noqa: E731
                got = [self.outcome(f) for f in (
                    lambda: os.unlink(j("imm")),
                    lambda: os.unlink(j("app")),
                    lambda: os.rename(j("imm"), j("imm2")),
                    lambda: os.rename(j("plain"), j("app")),
                    lambda: os.rename(j("pdir"), j("pdir2")),
                    lambda: os.rmdir(j("pdir")))]
                self.assertEqual(got, ["EPERM"] * 6)
                self.assertEqual(sorted(os.listdir(root)),
                                 ["app", "dir", "imm", "pdir", "plain"])
                os.rename(j("plain"), j("plain2"))
                os.unlink(j("dir/f"))
                self.assertEqual(read(j("app")), b"log\n")

    def protected_dirs(self, name):
        """A layer with an immutable directory "imm" and an append-only
        one "app", each holding two files, a directory and an empty
        directory, and a file "outside" them."""
        spec = {"outside": b"o\n", "plain/x": b"x\n"}
        for d in ("imm", "app"):
            spec.update({d + "/f": b"a\n", d + "/g": b"a\n",
                         d + "/sub/": None, d + "/empty/": None})
        low = self.layer(name, spec)
        change_flags(os.path.join(low, "imm"), add=FS_IMMUTABLE_FL)
        change_flags(os.path.join(low, "app"), add=FS_APPEND_FL)
        return low

    def test_protected_lower_directories(self):
        """An immutable lower directory takes no new name and loses
        none; an append-only one takes new names and loses none; neither
        takes a new mode, owner, given time or xattr (the current time:
        append-only only).  What they hold can still change, which
        copies them up: their flags stay, and no change made in them
        before is refused after."""
        low = self.protected_dirs("low-pdirs")
        refused_by_both = ["unlink", "rmdir", "rename out",
                           "rename within", "chmod", "chown",
                           "utime given", "setxattr"]
        adds = ["create", "mkdir", "symlink", "mkfifo", "link in",
                "rename in", "tmpfile"]
        for what, root, _ in self.both(low, name="pdirs"):
            for d, flag in (("imm", FS_IMMUTABLE_FL), ("app", FS_APPEND_FL)):
                with self.subTest(what=what, dir=d):
                    p = os.path.join(root, d)
                    j = lambda n: os.path.join(p, n)  # noqa: E731

                    def append_child():
                        with open(j("f"), "ab") as f:
                            f.write(b"b\n")

                    def tmpfile():
                        os.close(os.open(p, os.O_TMPFILE | os.O_WRONLY,
                                         0o600))
                    outside = os.path.join(root, "outside")
                    ops = {
                        "append child": append_child,
                        "create": lambda: open(j("new"), "x").close(),
                        "mkdir": lambda: os.mkdir(j("d2")),
                        "symlink": lambda: os.symlink("t", j("sl")),
                        "mkfifo": lambda: os.mkfifo(j("fifo")),
                        "link in": lambda: os.link(outside, j("ln")),
                        "rename in": lambda: os.rename(outside, j("in")),
                        "unlink": lambda: os.unlink(j("g")),
                        "rmdir": lambda: os.rmdir(j("empty")),
                        "rename out": lambda: os.rename(
                            j("g"), os.path.join(root, "gone")),
                        "rename within": lambda: os.rename(j("g"), j("g2")),
                        "create in sub": lambda: open(j("sub/x"),
                                                      "x").close(),
                        "chmod": lambda: os.chmod(p, 0o700),
                        "chown": lambda: os.chown(p, 5, 5),
                        "utime given": lambda: os.utime(p, (1, 1)),
                        "utime now": lambda: os.utime(p, None),
                        "setxattr": lambda: os.setxattr(p, "user.x", b"1"),
                        "tmpfile": tmpfile,
                    }
                    got = {op: self.outcome(fn) for op, fn in ops.items()}
                    want = {op: "EPERM" if op in refused_by_both or
                            (flag == FS_IMMUTABLE_FL and
                             (op in adds or op == "utime now")) else "ok"
                            for op in ops}
                    self.assertEqual(got, want)
                    self.assertEqual(get_flags(p) & PROTECT, flag)
                    self.assertTrue(xflags(p) & (FS_XFLAG_IMMUTABLE
                                                 if d == "imm"
                                                 else FS_XFLAG_APPEND))
                    self.assertEqual(read(j("f")), b"a\nb\n")
                    self.assertTrue(os.path.exists(j("sub/x")))
                    added = sorted(["d2", "fifo", "in", "ln", "new", "sl"]
                                   if d == "app" else [])
                    self.assertEqual(sorted(os.listdir(p)), sorted(
                        ["empty", "f", "g", "sub"] + added))
                    self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o755)

    def test_directory_flags_kept_in_a_mark(self):
        """A protected directory's copy carries its flags in layerfs's
        protattr mark, not on itself (the upper filesystem would then
        refuse the copies of its children), and its no-dump flag on
        itself: kept across remount, taken
        off by chattr through the mount, set by it on upper directories
        the same way.  The mark is never shown, and one in a lower layer
        protects nothing."""
        low = self.protected_dirs("low-mark")
        os.setxattr(os.path.join(low, "plain"), "user.layerfs.protattr",
                    b"i")
        os.mkdir(os.path.join(low, "nodump"))
        change_flags(os.path.join(low, "nodump"), add=FS_NODUMP_FL)
        m = self.mount_rw([low], name="mark")
        upper, work = m.upper, m.work
        j = lambda n: os.path.join(m.path, n)  # noqa: E731
        up = lambda n: os.path.join(upper, n)  # noqa: E731
        with open(j("imm/f"), "ab") as f:
            f.write(b"b\n")
        self.assertEqual(get_flags(up("imm")) & PROTECT, 0)
        self.assertEqual(os.getxattr(up("imm"), "user.layerfs.protattr"),
                         b"i")
        self.assertNotIn("user.layerfs.protattr", os.listxattr(j("imm")))
        # The no-dump flag goes on the copy itself, as a file's does.
        os.chmod(j("nodump"), 0o700)
        self.assertTrue(get_flags(up("nodump")) & FS_NODUMP_FL)
        self.assertTrue(get_flags(j("nodump")) & FS_NODUMP_FL)
        # A lower mark is ignored: plain takes new names and keeps them.
        open(j("plain/new"), "x").close()
        self.assertEqual(get_flags(j("plain")) & PROTECT, 0)
        self.assertEqual(m.unmount(), 0)
        m = self.mount([low], upper, work)
        self.assertEqual(get_flags(j("imm")) & PROTECT, FS_IMMUTABLE_FL)
        self.assertEqual(self.outcome(lambda: open(j("imm/new"),
                                                   "x").close()), "EPERM")
        change_flags(j("imm"), drop=FS_IMMUTABLE_FL)
        self.assertNotIn("user.layerfs.protattr", os.listxattr(up("imm")))
        open(j("imm/new"), "x").close()
        os.unlink(j("imm/g"))
        # Set through the mount on a copied-up directory: its lower
        # files still copy up into it, nothing leaves it.
        change_flags(j("plain"), add=FS_APPEND_FL)
        self.assertEqual(get_flags(up("plain")) & PROTECT, 0)
        self.assertEqual(os.getxattr(up("plain"), "user.layerfs.protattr"),
                         b"a")
        with open(j("plain/x"), "ab") as f:
            f.write(b"y\n")
        self.assertEqual(read(j("plain/x")), b"x\ny\n")
        self.assertEqual(self.outcome(lambda: os.unlink(j("plain/x"))),
                         "EPERM")
        self.assertEqual(sorted(os.listdir(j("plain"))), ["new", "x"])

    def test_directory_flag_changes_race_readers(self):
        """chattr +a and -a of a directory, over and over, while other
        threads read its flags (which layerfs then keeps on its node):
        once chattr -a has returned, a name leaves the directory again,
        every time.  A reading begun before the change and kept after
        it would refuse that (two runs of three failed so, on a build
        that kept such readings)."""
        low = self.layer("low-race", {"d/x": b"x"})
        m = self.mount_rw([low], name="race")
        d = os.path.join(m.path, "d")
        stop = threading.Event()
        errors = []

        def reader():
            while not stop.is_set():
                try:
                    get_flags(d)
                except OSError as e:
                    errors.append(e)
        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        refused = 0
        try:
            for i in range(2000):
                name = os.path.join(d, "m%d" % i)
                open(name, "x").close()
                change_flags(d, add=FS_APPEND_FL)
                change_flags(d, drop=FS_APPEND_FL)
                if self.outcome(lambda: os.unlink(name)) != "ok":
                    refused += 1
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual((errors, refused), ([], 0))
        self.assertEqual(sorted(os.listdir(d)), ["x"])

    def test_flags_set_through_the_mount(self):
        """chattr of a lower file or directory copies it up and sets the
        flag there, where the upper filesystem enforces it: an
        immutable file cannot be written, renamed or removed until the
        flag goes; the no-dump flag of a directory is kept."""
        for what, root, upper in self.mounts():
            with self.subTest(what):
                j = lambda n: os.path.join(root, n)  # noqa: E731
                change_flags(j("plain"), add=FS_IMMUTABLE_FL)
                change_flags(j("dir"), add=FS_NODUMP_FL)
                self.assertTrue(get_flags(j("plain")) & FS_IMMUTABLE_FL)
                self.assertTrue(get_flags(j("dir")) & FS_NODUMP_FL)
                self.assertTrue(get_flags(os.path.join(upper, "dir"))
                                & FS_NODUMP_FL)
                got = [self.outcome(f) for f in (
                    lambda: open(j("plain"), "ab").close(),
                    lambda: os.rename(j("plain"), j("moved")),
                    lambda: os.unlink(j("plain")))]
                self.assertEqual(got, ["EPERM"] * 3)
                self.assertEqual(read(j("plain")), b"p\n")
                change_flags(j("plain"), drop=FS_IMMUTABLE_FL)
                os.unlink(j("plain"))
                self.assertFalse(os.path.lexists(j("plain")))

    def test_flags_changed_through_the_mount_survive_a_remount(self):
        """A protected file's flags are kept in a mark on its upper copy
        too, which a lookup puts back on the file should a crash have
        left it without them: a change of the flags through the mount
        changes the mark with them, so that what is taken off stays off
        after a remount, and what is put on stays on."""
        low = self.layer("low-remount", {"app": b"log\n", "imm": b"i\n",
                                         "plain": b"p\n"})
        change_flags(os.path.join(low, "app"), add=FS_APPEND_FL)
        change_flags(os.path.join(low, "imm"), add=FS_IMMUTABLE_FL)
        m = self.mount_rw([low], name="remount")
        j = lambda n: os.path.join(m.path, n)  # noqa: E731
        with open(j("app"), "ab") as f:        # copied up with its flag
            f.write(b"more\n")
        change_flags(j("app"), drop=FS_APPEND_FL)
        change_flags(j("imm"), drop=FS_IMMUTABLE_FL, add=FS_APPEND_FL)
        change_flags(j("plain"), add=FS_IMMUTABLE_FL)
        want = {"app": 0, "imm": FS_APPEND_FL, "plain": FS_IMMUTABLE_FL}
        m.unmount()
        self._mounts.remove(m)
        again = self.mount([low], m.upper, m.work,
                           mnt=self.path("remount-again"))
        for name, flags in sorted(want.items()):
            with self.subTest(name):
                p = os.path.join(again.path, name)
                self.assertEqual(get_flags(p) & PROTECT, flags)
                self.assertEqual(get_flags(os.path.join(m.upper, name))
                                 & PROTECT, flags)
        os.unlink(j("app").replace(m.path, again.path))

    def test_flag_change_races_a_lift(self):
        """A flag read through the mount while layerfs has a file's
        flags lifted for a change the kernel makes past them (here a
        chown(-1, -1) clearing its set-user-id bit) missed them, and a
        chattr -a then was undone when the lift put them back.  A race,
        run for three seconds: each round makes the file set-user-id
        and append-only again, then lifts its flags while another
        thread reads them, then takes the flag off; the flag must be
        read as set throughout, and be gone at the end, through the
        mount and on the upper copy.  (The kernel orders a chattr after
        a chown of the same file; the read it does not.)"""
        low = self.layer("low-race", {"f": b"x\n"})
        m = self.mount_rw([low], name="race")
        p = os.path.join(m.path, "f")
        # Odd while the file is append-only: a reading counts if the
        # file was so from before it began to after it ended.
        epoch = [0]
        counts = {"reads": 0, "missed": 0, "rounds": 0, "undone": 0}

        def reads(stop):
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
            try:
                while not stop.is_set():
                    began = epoch[0]
                    if not began % 2:
                        time.sleep(0)
                        continue
                    buf = fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 8)
                    if epoch[0] == began:
                        counts["reads"] += 1
                        if not struct.unpack("i", buf[:4])[0] & \
                                FS_APPEND_FL:
                            counts["missed"] += 1
            finally:
                os.close(fd)

        def one_round():
            os.chmod(p, 0o4766)
            change_flags(p, add=FS_APPEND_FL)
            epoch[0] += 1
            os.chown(p, -1, -1)
            epoch[0] += 1
            change_flags(p, drop=FS_APPEND_FL)
            counts["rounds"] += 1
            if get_flags(p) & PROTECT or \
                    get_flags(os.path.join(m.upper, "f")) & PROTECT:
                counts["undone"] += 1
                change_flags(p, drop=PROTECT)

        race(3, reads, one_round)
        rounds, undone = counts["rounds"], counts["undone"]
        sys.stderr.write("%d rounds, %d reads while append-only: %d "
                         "undone, %d missed\n" % (
                             rounds, counts["reads"], undone,
                             counts["missed"]))
        self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o766)
        self.assertEqual((undone, counts["missed"]), (0, 0),
                         "of %d rounds (%d reads while the flag was set), "
                         "chattr -a undone in %d, the flag read as "
                         "missing %d times" % (rounds, counts["reads"],
                                               undone, counts["missed"]))

    def test_lookup_of_another_name_races_a_flag_change(self):
        """A lookup that meets a protected file's protattr mark puts back
        the flags the mark holds and the file lacks (a crash may have
        left them off).  A chattr -a through the mount takes the flag
        off the file, then the mark, then sets the new flags: a lookup
        of another name of the file (a lower hard link, reached through
        its index entry) that read the mark before it went and the
        flags after they were lifted put the flag back, undoing the
        chattr (or making it fail, the mark then refused to go).  Run
        for three seconds: one thread takes the flag on and off by one
        name, another looks up the other name (timeout=0: each stat is
        a lookup); every chattr -a must stay done."""
        low = self.layer("low-name-race", {"f": b"x\n"})
        os.link(os.path.join(low, "f"), os.path.join(low, "g"))
        m = self.mount_rw([low], opts=("timeout=0",), name="name-race")
        f = os.path.join(m.path, "f")
        g = os.path.join(m.path, "g")
        change_flags(f, add=FS_APPEND_FL)      # copied up, indexed
        change_flags(f, drop=FS_APPEND_FL)
        self.assertEqual(os.stat(f).st_ino, os.stat(g).st_ino)
        lookups = [0]
        counts = {"rounds": 0, "undone": 0, "failed": 0}

        def looks(stop):
            while not stop.is_set():
                os.stat(g)
                lookups[0] += 1

        def one_round():
            change_flags(f, add=FS_APPEND_FL)
            try:
                change_flags(f, drop=FS_APPEND_FL)
            except OSError as e:
                self.assertEqual(e.errno, errno.EPERM)
                counts["failed"] += 1
            counts["rounds"] += 1
            if get_flags(f) & PROTECT:
                counts["undone"] += 1
                change_flags(f, drop=PROTECT)

        race(3, looks, one_round)
        rounds, undone, failed = (counts["rounds"], counts["undone"],
                                  counts["failed"])
        sys.stderr.write("%d rounds, %d lookups: %d undone, %d failed\n"
                         % (rounds, lookups[0], undone, failed))
        self.assertEqual((undone, failed), (0, 0),
                         "of %d rounds (%d lookups of the other name), "
                         "chattr -a undone in %d, refused in %d" % (
                             rounds, lookups[0], undone, failed))
        self.assertEqual(get_flags(os.path.join(m.upper, "f")) & PROTECT, 0)

    def test_other_flags_of_an_immutable_file_change(self):
        """Kernel overlayfs keeps a file's immutable flag in an xattr, so
        its other flags change while it stays immutable, which ext4
        itself refuses for an immutable file (layerfs refused it:
        found by the random differential test, seed 3000).  The file
        stays immutable throughout, lower or already copied up."""
        for what, root, upper in self.mounts():
            with self.subTest(what):
                j = lambda n: os.path.join(root, n)  # noqa: E731
                for name in ("imm", "imm"):   # lower, then copied up
                    change_flags(j(name), add=FS_APPEND_FL)
                    change_flags(j(name), add=FS_NODUMP_FL)
                    change_flags(j(name), drop=FS_APPEND_FL)
                    self.assertEqual(get_flags(j(name)) & (
                        FS_IMMUTABLE_FL | FS_APPEND_FL | FS_NODUMP_FL),
                        FS_IMMUTABLE_FL | FS_NODUMP_FL)
                    change_flags(j(name), drop=FS_NODUMP_FL)
                    self.assertEqual(self.outcome(
                        lambda: open(j(name), "ab").close()), "EPERM")
                    self.assertEqual(read(j(name)), b"fixed\n")
                self.assertTrue(os.path.lexists(os.path.join(upper, "imm")))

    def test_only_a_privileged_caller_protects(self):
        """The kernel asks CAP_LINUX_IMMUTABLE for the immutable and
        append-only flags, the owner alone for the others."""
        self.require_tool("setpriv")
        for what, root, _ in self.mounts():
            with self.subTest(what):
                p = os.path.join(root, "mine")
                with open(p, "w") as f:
                    f.write("x")
                os.chown(p, 1000, 1000)
                code = ("import fcntl, os, struct, sys\n"
                        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
                        "fl = struct.unpack('i', fcntl.ioctl(fd, %d, "
                        "b'\\0' * 4))[0]\n"
                        "for add in (%d, %d):\n"
                        "    try:\n"
                        "        fcntl.ioctl(fd, %d, struct.pack('i', "
                        "fl | add))\n"
                        "        print('ok')\n"
                        "    except OSError as e:\n"
                        "        print(e.errno)\n"
                        % (FS_IOC_GETFLAGS, FS_NODUMP_FL, FS_IMMUTABLE_FL,
                           FS_IOC_SETFLAGS))
                r = subprocess.run(["setpriv", "--reuid=1000",
                                    "--regid=1000", "--clear-groups",
                                    "python3", "-c", code, p],
                                   capture_output=True, timeout=60)
                self.assertEqual(r.stdout.decode().split(),
                                 ["ok", str(errno.EPERM)],
                                 r.stderr.decode())
                self.assertTrue(get_flags(p) & FS_NODUMP_FL)
                self.assertFalse(get_flags(p) & FS_IMMUTABLE_FL)

    def test_other_ioctls_are_refused(self):
        for what, root, _ in self.mounts():
            with self.subTest(what):
                fd = os.open(os.path.join(root, "dir", "f"), os.O_RDONLY)
                try:
                    with self.assertRaises(OSError) as cm:
                        fcntl.ioctl(fd, 0x8004667D, b"\0" * 4)  # FS_IOC_GETVERSION
                    self.assertIn(cm.exception.errno,
                                  (errno.ENOTTY, errno.EINVAL,
                                   errno.EOPNOTSUPP))
                finally:
                    os.close(fd)
                self.assertTrue(stat.S_ISREG(os.stat(os.path.join(
                    root, "dir", "f")).st_mode))


if __name__ == "__main__":
    lfstest.main()
