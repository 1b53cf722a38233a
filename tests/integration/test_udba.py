"""udba=reval (fs/udba.h): changes made to the lower layers directly,
behind the mount, show through it once the kernel asks again, as with
unionfs-fuse; with timeout=0 at once.  Without the option the lower
layers are taken to be still (as kernel overlayfs takes them), which the
rest of the suite tests.
"""

import errno
import os
import random
import shutil
import stat
import struct
import subprocess
import sys
import threading
import time

import lfstest
from lfstest import LayerfsTestCase, read
from test_scale import read_stats


def read_at(dfd, name):
    fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "w") as f:
        f.write(data)


class InotifyOpens:
    """The names opened for real (IN_OPEN; an O_PATH open is not one)
    in a directory while the context is active; "" for the directory."""

    IN_OPEN = 0x20
    IN_NONBLOCK = os.O_NONBLOCK

    def __init__(self, directory):
        self.directory = directory

    def __enter__(self):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(self.IN_NONBLOCK)
        if self.fd < 0 or libc.inotify_add_watch(
                self.fd, os.fsencode(self.directory), self.IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), "inotify")
        return self

    def names(self):
        out = []
        while True:
            try:
                buf = os.read(self.fd, 4096)
            except BlockingIOError:
                return out
            i = 0
            while i < len(buf):
                _, mask, _, length = struct.unpack_from("iIII", buf, i)
                if mask & self.IN_OPEN:
                    out.append(os.fsdecode(
                        buf[i + 16:i + 16 + length].rstrip(b"\0")))
                i += 16 + length

    def __exit__(self, *exc):
        os.close(self.fd)


class Udba(LayerfsTestCase):
    def setUp(self):
        super().setUp()
        self.low = self.layer("low", {"d/a": "a\n", "d/b": "b\n",
                                      "d/sub/s": "s\n", "e/x": "x\n",
                                      "f": "f\n"})
        self.top = self.layer("top", {"keep": "k\n"})
        self.stats = self.path("stats.json")
        self.m = self.mount_rw([self.top, self.low], opts=(
            "udba=reval", "timeout=0", "stats=" + self.stats))
        self.mnt = self.m.path

    def at(self, *parts):
        return os.path.join(self.mnt, *parts)

    def test_files_added_edited_replaced_removed(self):
        d = self.at("d")
        self.assertEqual(sorted(os.listdir(d)), ["a", "b", "sub"])
        with self.assertRaises(FileNotFoundError):
            os.stat(self.at("d", "c"))
        write(os.path.join(self.low, "d", "c"), "new\n")
        self.assertEqual(read(self.at("d", "c")), b"new\n")
        self.assertEqual(sorted(os.listdir(d)), ["a", "b", "c", "sub"])
        # Edited in place: same inode, other size and data.
        self.assertEqual(read(self.at("d", "a")), b"a\n")
        write(os.path.join(self.low, "d", "a"), "edited, longer\n")
        self.assertEqual(read(self.at("d", "a")), b"edited, longer\n")
        self.assertEqual(os.stat(self.at("d", "a")).st_size, 15)
        # Replaced by a rename (as editors and sed -i save): a reader
        # opened before keeps the old file, as on any filesystem.
        held = open(self.at("d", "b"), "rb")
        self.addCleanup(held.close)
        tmp = os.path.join(self.low, "d", ".b.tmp")
        write(tmp, "replaced\n")
        os.rename(tmp, os.path.join(self.low, "d", "b"))
        self.assertEqual(read(self.at("d", "b")), b"replaced\n")
        self.assertEqual(held.read(), b"b\n")
        # Removed.
        os.unlink(os.path.join(self.low, "d", "c"))
        with self.assertRaises(FileNotFoundError):
            os.stat(self.at("d", "c"))
        self.assertEqual(sorted(os.listdir(d)), ["a", "b", "sub"])
        # A file that became a directory.
        os.unlink(os.path.join(self.low, "f"))
        os.mkdir(os.path.join(self.low, "f"))
        write(os.path.join(self.low, "f", "in"), "in\n")
        self.assertTrue(os.path.isdir(self.at("f")))
        self.assertEqual(read(self.at("f", "in")), b"in\n")
        self.assertGreater(read_stats(self, self.m.pid, self.stats)
                           ["udba_reloads"], 0)

    def test_layers_merge_and_hide_as_they_change(self):
        self.assertEqual(sorted(os.listdir(self.at("d"))), ["a", "b", "sub"])
        # The top layer gains d: it merges, and its whiteout hides a.
        os.mkdir(os.path.join(self.top, "d"))
        write(os.path.join(self.top, "d", "t"), "t\n")
        write(os.path.join(self.top, "d", ".wh.a"), "")
        self.assertEqual(sorted(os.listdir(self.at("d"))), ["b", "sub", "t"])
        with self.assertRaises(FileNotFoundError):
            os.stat(self.at("d", "a"))
        # An opaque marker stops the layer below.
        write(os.path.join(self.top, "d", ".wh..wh..opq"), "")
        self.assertEqual(os.listdir(self.at("d")), ["t"])
        os.unlink(os.path.join(self.top, "d", ".wh..wh..opq"))
        os.unlink(os.path.join(self.top, "d", ".wh.a"))
        self.assertEqual(sorted(os.listdir(self.at("d"))),
                         ["a", "b", "sub", "t"])
        # A whole directory whited out, then back.
        write(os.path.join(self.top, ".wh.e"), "")
        self.assertFalse(os.path.exists(self.at("e")))
        os.unlink(os.path.join(self.top, ".wh.e"))
        self.assertEqual(read(self.at("e", "x")), b"x\n")

    def test_directory_removed_and_made_again(self):
        # Its children are reached through fds the daemon caches for
        # the directory: a new directory at the path is another one.
        self.assertEqual(read(self.at("d", "sub", "s")), b"s\n")
        shutil.rmtree(os.path.join(self.low, "d", "sub"))
        with self.assertRaises(FileNotFoundError):
            os.stat(self.at("d", "sub", "s"))
        os.mkdir(os.path.join(self.low, "d", "sub"))
        write(os.path.join(self.low, "d", "sub", "s2"), "s2\n")
        self.assertEqual(os.listdir(self.at("d", "sub")), ["s2"])
        self.assertEqual(read(self.at("d", "sub", "s2")), b"s2\n")

    def test_kind_changed_and_back(self):
        # While d is a symlink the kernel must not be told its inode is
        # one (it would call the inode corrupt and refuse it for good:
        # EIO, the hostile test's racer found it): the old node answers
        # ESTALE, and d is usable again once it is back.
        dfd = os.open(self.at("d"), os.O_DIRECTORY)
        self.addCleanup(os.close, dfd)
        low_d = os.path.join(self.low, "d")

        def swap(to_link):
            if to_link:
                os.rename(low_d, low_d + ".real")
                os.symlink("e", low_d)
            else:
                os.unlink(low_d)
                os.rename(low_d + ".real", low_d)
        swap(True)
        with self.assertRaises(OSError) as cm:
            os.fstat(dfd)
        self.assertEqual(cm.exception.errno, errno.ESTALE)
        swap(False)
        os.fstat(dfd)
        self.assertEqual(read_at(dfd, "a"), b"a\n")
        # Looked up while a symlink, the name is another file's: the
        # symlink gets a node of its own, and so does d when it is
        # back; the descriptor held the old one, now stale, as a
        # descriptor on an NFS directory removed on the server.
        swap(True)
        self.assertEqual(os.readlink(self.at("d")), "e")
        swap(False)
        self.assertEqual(read(self.at("d", "a")), b"a\n")
        with self.assertRaises(OSError) as cm:
            os.fstat(dfd)
        self.assertIn(cm.exception.errno, (errno.ENOENT, errno.ESTALE))

    def test_changes_through_the_mount_see_the_new_lower(self):
        # A copy-up copies what the lower layer holds now.
        write(os.path.join(self.low, "d", "a"), "now\n")
        with open(self.at("d", "a"), "a") as f:
            f.write("more\n")
        self.assertEqual(read(self.at("d", "a")), b"now\nmore\n")
        # A name a lower layer gained is taken: no create over it.
        write(os.path.join(self.low, "d", "n"), "lower\n")
        with self.assertRaises(FileExistsError):
            os.open(self.at("d", "n"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        # Removing it leaves a whiteout, so the lower file stays hidden.
        os.unlink(self.at("d", "n"))
        self.assertFalse(os.path.exists(self.at("d", "n")))
        self.assertTrue(os.path.exists(os.path.join(self.low, "d", "n")))
        # The upper layer is the mount's: its files stay as written.
        self.assertEqual(read(self.at("keep")), b"k\n")


class UdbaXattrOnlyChange(LayerfsTestCase):
    def test_xattr_only_change_shows_with_the_directory(self):
        # The documented limit: a listing is checked by its directory's
        # inode, mtime and ctime, which an xattr set on an entry does
        # not move.  An xwhiteout dropped in by its xattr alone shows
        # once the directory changes (here a touch), or after a
        # remount.
        self.require_root()  # trusted.overlay.*
        l1 = self.layer("l1", {"d/f": ""})
        l2 = self.layer("l2", {"d/f": "below\n"})
        os.setxattr(os.path.join(l1, "d"), "trusted.overlay.opaque", b"x")
        m = self.mount_rw([l1, l2], opts=("udba=reval", "timeout=0"))
        d = os.path.join(m.path, "d")
        self.assertEqual(os.listdir(d), ["f"])
        self.assertEqual(read(os.path.join(d, "f")), b"")
        os.setxattr(os.path.join(l1, "d", "f"), "trusted.overlay.whiteout",
                    b"")
        self.assertEqual(os.listdir(d), ["f"])
        self.assertEqual(read(os.path.join(d, "f")), b"")
        os.utime(os.path.join(l1, "d"))
        self.assertEqual(os.listdir(d), [])
        self.assertFalse(os.path.exists(os.path.join(d, "f")))


class UdbaDefaultTimeout(LayerfsTestCase):
    def test_change_shows_within_the_default_second(self):
        low = self.layer("low", {"d/a": "a\n"})
        m = self.mount_rw([low], opts=("udba=reval",))
        d = os.path.join(m.path, "d")
        self.assertEqual(os.listdir(d), ["a"])
        write(os.path.join(low, "d", "b"), "b\n")
        deadline = time.monotonic() + 10
        while "b" not in os.listdir(d):
            self.assertLess(time.monotonic(), deadline,
                            "a new lower file never showed")
            time.sleep(0.1)
        self.assertEqual(read(os.path.join(d, "b")), b"b\n")

    def test_file_swapped_for_a_fifo_never_holds_the_daemon(self):
        # Within the second the kernel keeps a file's entry, the host
        # puts a fifo in its place: the open the kernel then sends for
        # the file it knows made the daemon open the fifo, and wait in
        # it for a writer for good (found by review).  The open now
        # finds the other kind and answers ESTALE.
        low = self.layer("low", {"d/a": "a\n"})
        m = self.mount_rw([low], opts=("udba=reval",))
        a = os.path.join(m.path, "d", "a")
        self.assertEqual(os.stat(a).st_size, 2)
        lower = os.path.join(low, "d", "a")
        os.unlink(lower)
        os.mkfifo(lower)
        reader = subprocess.Popen(
            [sys.executable, "-c", "import sys; open(sys.argv[1]).read()",
             a], stderr=subprocess.DEVNULL)
        try:
            reader.wait(timeout=3)
        except subprocess.TimeoutExpired:
            # Waiting on the mount's fifo, in the kernel: killable.
            # Waiting for the daemon's answer: not, until it comes.
            reader.kill()
        try:
            reader.wait(timeout=3)
            stuck = False
        except subprocess.TimeoutExpired:
            stuck = True
        try:
            # A writer opens only where a reader waits: the daemon.
            fd = os.open(lower, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            self.assertEqual(e.errno, errno.ENXIO)
            self.assertFalse(stuck)
        else:
            os.close(fd)  # lets the daemon's open, and the reader, end
            reader.wait(timeout=10)
            self.fail("the daemon waited in the lower fifo for a writer")
        self.assertTrue(stat.S_ISFIFO(os.stat(a).st_mode))

    def test_file_swapped_for_a_device_opens_no_driver(self):
        # The same swap with a device node: the daemon opened it (as
        # root, for a caller who may not open it) and only then saw its
        # kind; an open can arm a watchdog or rewind a tape (found by
        # review).  The kind is now read through O_PATH, which opens no
        # driver; inotify reports every real open of the node.
        self.require_root()
        low = self.layer("low", {"d/a": "a\n"})
        m = self.mount_rw([low], opts=("udba=reval",))
        a = os.path.join(m.path, "d", "a")
        self.assertEqual(read(a), b"a\n")
        ldir = os.path.join(low, "d")
        os.mknod(os.path.join(ldir, "dev"), stat.S_IFCHR | 0o600,
                 os.makedev(1, 3))  # /dev/null's numbers: harmless
        with InotifyOpens(ldir) as opens:
            os.rename(os.path.join(ldir, "dev"), os.path.join(ldir, "a"))
            try:
                with open(a, "rb") as f:
                    f.read()
            except OSError:
                pass  # ESTALE, then the device on a nodev mount
            # (The directory's own opens, re-reading it, have no name.)
            self.assertNotIn("a", opens.names(),
                             "the daemon opened the swapped-in device")
        self.assertTrue(stat.S_ISCHR(os.stat(a).st_mode))

    def test_new_name_found_at_once(self):
        # No negative entry is cached, and a name the listing lacks has
        # the directory stamped again at once: a file made in a lower
        # layer can be opened right away, as with unionfs-fuse.
        low = self.layer("low", {"d/a": "a\n"})
        m = self.mount_rw([low], opts=("udba=reval",))
        d = os.path.join(m.path, "d")
        self.assertEqual(os.listdir(d), ["a"])
        for i in range(20):
            name = "n%d" % i
            with self.assertRaises(FileNotFoundError):
                os.stat(os.path.join(d, name))
            write(os.path.join(low, "d", name), name)
            self.assertEqual(read(os.path.join(d, name)), name.encode())

    def test_bad_value_refused(self):
        low = self.layer("low", {"f": "x"})
        up, work, mnt = self.mkdirs("up", "work", "mnt")
        r = self.run_cmd([lfstest.LAYERFS, "-o",
                          "lowerdir=%s,upperdir=%s,workdir=%s,udba=notify"
                          % (low, up, work), mnt], check=False)
        self.assertEqual(r.returncode, 1)
        err = r.stderr.decode().strip()
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("udba= must be 'none' or 'reval'", err)
        self.assertIsNone(lfstest.mounted_fstype(mnt))


class UdbaCopyUpTakesData(LayerfsTestCase):
    """A file copied up or renamed through the mount belongs to the upper
    layer: with udba=reval it takes the lower data it has then, as
    metacopy=off and unionfs-fuse do.  A metadata-only copy (chmod's,
    or the one a rename makes) kept reading a lower file that changes,
    cut to or padded to the size it had copied."""

    def setUp(self):
        super().setUp()
        self.low = self.layer("low", {"script.sh": "echo a\n", "f": "old\n",
                                      "d/f": "first\n", "g": "gg\n"})

    def mount_reval(self, *opts):
        self.m = self.mount_rw([self.low], opts=("udba=reval",) + opts)
        return self.m.path

    def assert_copy_has_data(self, name, data):
        up = os.path.join(self.m.upper, name)
        self.assertEqual(read(up), data)
        self.assertNotIn("user.layerfs.metacopy", os.listxattr(up))

    def test_chmod_copies_the_data(self):
        mnt = self.mount_reval("timeout=0")
        p = os.path.join(mnt, "script.sh")
        os.chmod(p, 0o755)
        # Rewritten longer on the host: the view showed the old size
        # and the first 7 bytes of the new data.
        write(os.path.join(self.low, "script.sh"), "echo longer than that\n")
        self.assertEqual((os.stat(p).st_size, read(p)), (7, b"echo a\n"))
        # Shortened: stat said 7 and a read gave 1 byte.
        write(os.path.join(self.low, "script.sh"), "x")
        self.assertEqual((os.stat(p).st_size, read(p)), (7, b"echo a\n"))
        self.assertEqual(os.stat(p).st_mode & 0o777, 0o755)
        self.assert_copy_has_data("script.sh", b"echo a\n")

    def test_rename_copies_the_data(self):
        mnt = self.mount_reval("timeout=0")
        os.rename(os.path.join(mnt, "f"), os.path.join(mnt, "f.orig"))
        orig = os.path.join(mnt, "f.orig")
        # Edited on the host: showed through f.orig, cut to 4 bytes.
        write(os.path.join(self.low, "f"), "edited on the host\n")
        self.assertEqual(read(orig), b"old\n")
        # The old name stays whited out over the lower file.
        self.assertFalse(os.path.exists(os.path.join(mnt, "f")))
        # Removed on the host: f.orig was listed, and ENOENT to open.
        os.unlink(os.path.join(self.low, "f"))
        self.assertIn("f.orig", os.listdir(mnt))
        self.assertEqual(read(orig), b"old\n")
        self.assert_copy_has_data("f.orig", b"old\n")

    def test_rename_right_after_the_lower_file_is_replaced(self):
        # The default second: the listing of d read, the host replaces
        # d/f (a rename over it, as editors save), and d/f is renamed
        # through the mount before the listing is due.  The rename
        # copies what the name holds now; the new name must read at
        # once.
        mnt = self.mount_reval()
        d = os.path.join(mnt, "d")
        self.assertEqual(os.listdir(d), ["f"])
        tmp = os.path.join(self.low, "d", ".f.tmp")
        write(tmp, "second\n")
        os.rename(tmp, os.path.join(self.low, "d", "f"))
        os.rename(os.path.join(d, "f"), os.path.join(d, "f2"))
        self.assert_copy_has_data(os.path.join("d", "f2"), b"second\n")
        # Before any listing (READDIRPLUS would hand the kernel the node
        # the daemon has at f2): the kernel moved the old inode it held
        # at f to f2, where the rename moved a node for the new file.
        # The old one answered ENOENT until the entry expired; ESTALE
        # makes the kernel look f2 up again.
        self.assertEqual(os.stat(os.path.join(d, "f2")).st_size, 7)
        self.assertEqual(read(os.path.join(d, "f2")), b"second\n")
        self.assertEqual(os.listdir(d), ["f2"])

    def test_metadata_only_copies_already_made_keep_working(self):
        # One made by a mount without udba=reval reads its data from
        # below, and a write through the udba=reval mount copies it in.
        self.require_metacopy()  # of the mount without udba=reval
        m = self.mount_rw([self.low])
        os.chmod(os.path.join(m.path, "g"), 0o600)
        self.assertIn("user.layerfs.metacopy",
                      os.listxattr(os.path.join(m.upper, "g")))
        m.unmount()
        m2 = self.mount(
            [self.low], m.upper, m.work, opts=("udba=reval", "timeout=0"))
        p = os.path.join(m2.path, "g")
        self.assertEqual(read(p), b"gg\n")
        self.assertEqual(os.stat(p).st_mode & 0o777, 0o600)
        with open(p, "a") as f:
            f.write("more\n")
        self.assertEqual(read(p), b"gg\nmore\n")
        self.assertNotIn("user.layerfs.metacopy",
                         os.listxattr(os.path.join(m.upper, "g")))


class UdbaIndexKnowsItsLowerFile(LayerfsTestCase):
    """The hard-link index finds a copied-up lower inode by its number
    (fs/index.h).  With udba=reval a lower file may be removed and
    another one made that gets the freed inode number: the entry of the
    first must not serve the second, which is a file of its own."""

    def reuse_ino(self, d, ino, make):
        """Makes files in the lower directory d with make(path) until one
        gets inode number ino (the filesystem hands a freed number out
        again, usually at once); the others are removed.  The name, or
        skipTest when the number does not come back."""
        tries = []
        try:
            for i in range(4000):
                p = os.path.join(d, "try%d" % i)
                make(p)
                if os.lstat(p).st_ino == ino:
                    return p
                tries.append(p)
        finally:
            for p in tries:
                os.unlink(p)
        self.skipTest("the lower filesystem did not reuse inode %d" % ino)

    def check_reused(self, kind, remount, protect=False):
        low = self.mkdirs("low")
        os.mkdir(os.path.join(low, "d"))
        d = os.path.join(low, "d")
        if kind == "file":
            write(os.path.join(d, "x"), "old\n")
            os.chmod(os.path.join(d, "x"), 0o644)
        else:
            os.symlink("old-target", os.path.join(d, "x"))
        os.link(os.path.join(d, "x"), os.path.join(d, "y"),
                follow_symlinks=False)
        m = self.mount_rw([low], opts=("udba=reval", "timeout=0",
                                       "stats=" + self.path("stats.json")))
        upper, work = m.upper, m.work
        x = os.path.join(m.path, "d", "x")
        old_ino = os.lstat(os.path.join(d, "x")).st_ino
        # Copied up, through the index, by one of its names.
        if kind == "file":
            os.chmod(x, 0o600)
        else:
            os.utime(x, (1000, 1000), follow_symlinks=False)
        self.assertTrue(os.listdir(os.path.join(work, "index")))
        self.assertEqual(os.lstat(os.path.join(m.path, "d", "y")).st_ino,
                         os.lstat(x).st_ino)
        if protect:
            # The copy made immutable: its entry must still go.
            self.before_cleanup(lambda: lfstest.unprotect_tree(upper))
            lfstest.change_inode_flags(x, add=lfstest.FS_IMMUTABLE_FL)
        if remount:
            m.unmount()
        # Behind the mount: both lower names gone, and a new file with
        # two names that has the old one's inode number.
        os.unlink(os.path.join(d, "x"))
        os.unlink(os.path.join(d, "y"))
        if kind == "file":
            def make(p):
                write(p, "new file\n")
                os.chmod(p, 0o640)
        else:
            def make(p):
                os.symlink("new-target", p)
        p = self.reuse_ino(d, old_ino, make)
        os.rename(p, os.path.join(d, "n1"))
        os.link(os.path.join(d, "n1"), os.path.join(d, "n2"),
                follow_symlinks=False)
        stats = self.path("stats.json")
        if remount:
            m = self.mount([low], upper, work,
                           opts=("udba=reval", "timeout=0",
                                 "stats=" + stats))
        n1 = os.path.join(m.path, "d", "n1")
        n2 = os.path.join(m.path, "d", "n2")
        x = os.path.join(m.path, "d", "x")
        if kind == "file":
            self.assertEqual(read(n1), b"new file\n")
            self.assertEqual(os.stat(n1).st_mode & 0o777, 0o640)
            self.assertEqual(os.stat(n1).st_size, 9)
            # The old copy stays what it was.
            self.assertEqual(read(x), b"old\n")
            self.assertEqual(os.stat(x).st_mode & 0o777, 0o600)
        else:
            self.assertEqual(os.readlink(n1), "new-target")
            self.assertEqual(os.readlink(x), "old-target")
        # The new file's two names are one file, and not the old copy.
        self.assertEqual(os.lstat(n1).st_ino, os.lstat(n2).st_ino)
        self.assertNotEqual(os.lstat(n1).st_ino, os.lstat(x).st_ino)
        self.assertEqual(os.lstat(n1).st_nlink, 2)
        # A change through one of its names copies it up on its own,
        # and the other name sees it.
        if kind == "file":
            os.chmod(n1, 0o604)
            self.assertEqual(os.stat(n2).st_mode & 0o777, 0o604)
            self.assertEqual(read(n2), b"new file\n")
            self.assertEqual(read(x), b"old\n")
        else:
            os.utime(n1, (2000, 2000), follow_symlinks=False)
            self.assertEqual(os.lstat(n2).st_mtime, 2000)
            self.assertEqual(os.readlink(n2), "new-target")
            self.assertEqual(os.readlink(x), "old-target")
        self.assertEqual(os.lstat(n1).st_ino, os.lstat(n2).st_ino)
        self.assertNotEqual(os.lstat(n1).st_ino, os.lstat(x).st_ino)
        # The index holds the new file's entry only; the old copy's name
        # is a plain upper file now.
        index = os.path.join(work, "index")
        key = "%x-%x" % (os.lstat(d).st_dev, old_ino)
        self.assertEqual(sorted(os.listdir(index)),
                         [key] if kind == "file" else [key, key + ".nlink"])
        if kind == "file":
            self.assertNotIn("user.layerfs.origin",
                             os.listxattr(os.path.join(upper, "d", "x")))
        if protect:
            self.assertTrue(lfstest.inode_flags(x) & lfstest.FS_IMMUTABLE_FL)
        self.assertEqual(read_stats(self, m.pid, stats)["index_stale"], 1)

    def test_new_file_with_a_reused_inode_number_is_not_the_old_copy(self):
        self.check_reused("file", remount=False)

    def test_same_across_a_remount(self):
        self.check_reused("file", remount=True)

    def test_old_copy_immutable(self):
        self.check_reused("file", remount=False, protect=True)

    def test_symlink_with_a_reused_inode_number(self):
        self.check_reused("symlink", remount=False)

    def test_symlink_across_a_remount(self):
        self.check_reused("symlink", remount=True)

    def test_second_name_made_after_the_lookup(self):
        # The new file is looked up with one name (no index then), and
        # gets its second before a change through the mount copies it
        # up: the copy-up meets the old entry, which it must not join.
        low = self.mkdirs("low")
        d = os.path.join(low, "d")
        os.mkdir(d)
        write(os.path.join(d, "x"), "old\n")
        os.link(os.path.join(d, "x"), os.path.join(d, "y"))
        m = self.mount_rw([low], opts=("udba=reval", "timeout=0"))
        old_ino = os.stat(os.path.join(d, "x")).st_ino
        os.chmod(os.path.join(m.path, "d", "x"), 0o600)
        os.unlink(os.path.join(d, "x"))
        os.unlink(os.path.join(d, "y"))

        def make(p):
            write(p, "new file\n")
            os.chmod(p, 0o640)
        os.rename(self.reuse_ino(d, old_ino, make), os.path.join(d, "n1"))
        n1 = os.path.join(m.path, "d", "n1")
        self.assertEqual(read(n1), b"new file\n")
        os.link(os.path.join(d, "n1"), os.path.join(d, "n2"))
        os.chmod(n1, 0o604)
        n2 = os.path.join(m.path, "d", "n2")
        self.assertEqual(os.stat(n2).st_mode & 0o777, 0o604)
        self.assertEqual(read(n2), b"new file\n")
        self.assertEqual(read(os.path.join(m.path, "d", "x")), b"old\n")
        self.assertEqual(os.stat(n1).st_ino, os.stat(n2).st_ino)

    def test_fuse_lower_recorded_by_birth_time(self):
        # A FUSE filesystem's handle holds its daemon's node id, which
        # may change while the file stays (the kernel forgot the inode):
        # a FUSE lower file is known by its birth time, or not at all.
        low = self.layer("low", {"x": "data\n"})
        os.link(os.path.join(low, "x"), os.path.join(low, "y"))
        fuse_low = self.mount([low])  # read-only: a FUSE lower layer
        self.assertEqual(os.stat(os.path.join(fuse_low.path, "y")).st_nlink,
                         2)
        m = self.mount_rw([fuse_low.path], opts=("udba=reval", "timeout=0"))
        os.chmod(os.path.join(m.path, "x"), 0o600)
        self.assertEqual(os.stat(os.path.join(m.path, "y")).st_mode & 0o777,
                         0o600)
        (entry,) = os.listdir(os.path.join(m.work, "index"))
        entry = os.path.join(m.work, "index", entry)
        if "user.layerfs.lowerid" in os.listxattr(entry):
            self.assertTrue(
                os.getxattr(entry, "user.layerfs.lowerid").startswith(b"b"))

    def test_entry_without_a_record_still_serves_its_lower_names(self):
        # An entry made before entries recorded their lower file is
        # trusted as it was: a lower name of its inode is its hard link.
        low = self.layer("low", {"x": "data\n"})
        os.link(os.path.join(low, "x"), os.path.join(low, "y"))
        m = self.mount_rw([low], opts=("udba=reval", "timeout=0"))
        os.chmod(os.path.join(m.path, "x"), 0o600)
        m.unmount()
        key = "%x-%x" % (os.stat(low).st_dev,
                         os.stat(os.path.join(low, "x")).st_ino)
        entry = os.path.join(m.work, "index", key)
        self.assertIn("user.layerfs.lowerid", os.listxattr(entry))
        os.removexattr(entry, "user.layerfs.lowerid")
        m2 = self.mount([low], m.upper, m.work,
                        opts=("udba=reval", "timeout=0"))
        y = os.path.join(m2.path, "y")
        self.assertEqual(os.stat(y).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(y).st_ino,
                         os.stat(os.path.join(m2.path, "x")).st_ino)
        self.assertEqual(os.listdir(os.path.join(m.work, "index")), [key])


class UdbaOriginKnowsItsLowerFile(LayerfsTestCase):
    """A copied-up file with one link shows its lower file's inode
    number (its origin mark).  With udba=reval the lower file may be
    removed and another one made elsewhere that gets the freed number:
    the copy must not go on showing it, or two files share one st_ino
    (fs/udba.h, udba_origin_holds)."""

    reuse_ino = UdbaIndexKnowsItsLowerFile.reuse_ino

    def check_origin(self, remount, rename=False):
        low = self.mkdirs("low")
        d = os.path.join(low, "d")
        e = os.path.join(low, "e")
        os.mkdir(d)
        os.mkdir(e)
        write(os.path.join(d, "x"), "old\n")
        write(os.path.join(d, "k"), "kept\n")
        m = self.mount_rw([low], opts=("udba=reval", "timeout=0"))
        upper, work = m.upper, m.work
        x = os.path.join(m.path, "d", "x")
        k = os.path.join(m.path, "d", "k")
        old_ino = os.lstat(os.path.join(d, "x")).st_ino
        k_ino = os.lstat(os.path.join(d, "k")).st_ino
        os.chmod(x, 0o600)
        os.chmod(k, 0o600)
        self.assertEqual(os.lstat(x).st_ino, old_ino)
        if rename:
            os.rename(k, os.path.join(m.path, "d", "k2"))
            k = os.path.join(m.path, "d", "k2")
        if remount:
            m.unmount()
        # Behind the mount: the copied file's lower file removed, and a
        # new one in another directory that gets its inode number.
        os.unlink(os.path.join(d, "x"))

        def make(p):
            write(p, "new file\n")
        p = self.reuse_ino(e, old_ino, make)
        os.rename(p, os.path.join(e, "n"))
        if remount:
            m = self.mount([low], upper, work,
                           opts=("udba=reval", "timeout=0"))
        n = os.path.join(m.path, "e", "n")
        x = os.path.join(m.path, "d", "x")
        k = os.path.join(m.path, "d", "k2" if rename else "k")
        self.assertEqual(read(n), b"new file\n")
        self.assertEqual(read(x), b"old\n")
        self.assertEqual(os.lstat(n).st_ino, old_ino)
        self.assertNotEqual(os.lstat(x).st_ino, os.lstat(n).st_ino)
        self.assertEqual(os.stat(x).st_mode & 0o777, 0o600)
        # A copy whose lower file is still there keeps its number: at
        # its path, or (renamed through the mount) found by its handle,
        # which a daemon running as root may open.
        if not rename or os.geteuid() == 0:
            self.assertEqual(os.lstat(k).st_ino, k_ino)
        x_ino = os.lstat(x).st_ino
        # For good: the copy's origin mark is taken off; the other
        # copy keeps its own.
        self.assertNotIn("user.layerfs.origin",
                         os.listxattr(os.path.join(upper, "d", "x")))
        self.assertIn("user.layerfs.origin",
                      os.listxattr(os.path.join(upper, "d",
                                                "k2" if rename else "k")))
        # The same after a remount, and the copy keeps its new number.
        m.unmount()
        m = self.mount([low], upper, work, opts=("udba=reval", "timeout=0"))
        n = os.path.join(m.path, "e", "n")
        x = os.path.join(m.path, "d", "x")
        self.assertNotEqual(os.lstat(x).st_ino, os.lstat(n).st_ino)
        self.assertEqual(os.lstat(x).st_ino, x_ino)
        self.assertEqual(os.lstat(n).st_ino, old_ino)
        ents = {de.name: de.inode() for de in os.scandir(os.path.join(m.path, "d"))}
        self.assertEqual(ents["x"], x_ino)
        if not rename or os.geteuid() == 0:
            k = os.path.join(m.path, "d", "k2" if rename else "k")
            self.assertEqual(os.lstat(k).st_ino, k_ino)
            self.assertEqual(ents["k2" if rename else "k"], k_ino)

    def test_copy_of_a_removed_lower_file(self):
        self.check_origin(remount=False)

    def test_copy_of_a_removed_lower_file_across_a_remount(self):
        self.check_origin(remount=True)

    def test_renamed_copy_of_a_removed_lower_file(self):
        self.check_origin(remount=False, rename=True)

    def test_renamed_copy_across_a_remount(self):
        self.check_origin(remount=True, rename=True)


class UdbaUnderChange(LayerfsTestCase):
    """Threads change the lower layers directly while others use the
    mount, copy-ups and whiteouts included; the daemon must answer every
    request (errors only those a local filesystem changed under its
    user gives: a name gone, or of another kind), and once the changes
    stop the mount must show what kernel overlayfs shows of the same
    layers, the mount's upper layer read as the top one.

    LFS_UDBA_RACE_SECONDS sets how long the threads run (default 5),
    LFS_SEED replays a run."""

    DIRS = ["d0", "d1", "d2"]
    NAMES = ["f0", "f1", "f2", "f3", "f4", "s"]
    # What a union whose lower layers change under it may answer.
    EXPECTED = {errno.ENOENT, errno.ESTALE, errno.ENOTDIR, errno.EISDIR,
                errno.EEXIST, errno.ENOTEMPTY}

    def setUp(self):
        super().setUp()
        # Root for 0/0 whiteouts and trusted.*; the kernel is the oracle.
        self.require_kernel_overlay()
        spec = {}
        for d in self.DIRS:
            for n in self.NAMES[:3]:
                spec["%s/%s" % (d, n)] = "low %s/%s\n" % (d, n)
        self.low = self.layer("low", spec)
        self.top = self.layer("top", {"%s/f3" % d: "top\n"
                                      for d in self.DIRS})
        seed = int(os.environ.get("LFS_SEED", str(int(time.time()))))
        sys.stderr.write("seed %d (replay with LFS_SEED=%d)\n" % (seed, seed))
        self.seed = seed
        self.errors = []
        self.lock = threading.Lock()

    def pick(self, rnd):
        return rnd.choice(self.DIRS), rnd.choice(self.NAMES)

    def change_lower(self, rnd, stop):
        """One thread's changes to the layers, as a user editing the
        host's directories would make them (their own errors are of no
        interest)."""
        while not stop.is_set():
            layer = rnd.choice((self.low, self.top))
            d, n = self.pick(rnd)
            p = os.path.join(layer, d, n)
            op = rnd.randrange(9)
            try:
                if op == 0:
                    write(p, "edit %d\n" % rnd.randrange(1000))
                elif op == 1:
                    tmp = os.path.join(layer, d, ".tmp%d" % rnd.randrange(99))
                    write(tmp, "renamed %d\n" % rnd.randrange(1000))
                    os.rename(tmp, p)
                elif op == 2:
                    os.unlink(p)
                elif op == 3:
                    os.mkdir(p)
                    write(os.path.join(p, "in"), "in\n")
                elif op == 4:
                    shutil.rmtree(p)
                elif op == 5 and layer == self.top:
                    os.mknod(p, stat.S_IFCHR, os.makedev(0, 0))
                elif op == 6 and layer == self.top:
                    dpath = os.path.join(layer, d)
                    if rnd.randrange(2):
                        os.setxattr(dpath, "trusted.overlay.opaque", b"y")
                    else:
                        os.removexattr(dpath, "trusted.overlay.opaque")
                elif op == 7:
                    shutil.rmtree(os.path.join(layer, d))
                    os.mkdir(os.path.join(layer, d))
                elif op == 8:
                    os.makedirs(os.path.join(layer, d), exist_ok=True)
            except OSError:
                pass

    def use_mount(self, rnd, stop):
        mnt = self.m.path
        while not stop.is_set():
            d, n = self.pick(rnd)
            p = os.path.join(mnt, d, n)
            op = rnd.randrange(10)
            try:
                if op == 0:
                    os.listdir(os.path.join(mnt, d))
                elif op == 1:
                    os.lstat(p)
                elif op == 2:
                    read(p)
                elif op == 3:
                    with open(p, "a") as f:  # a copy-up
                        f.write("appended\n")
                elif op == 4:
                    fd = os.open(os.path.join(mnt, d, "m%d" %
                                              rnd.randrange(4)),
                                 os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                    os.close(fd)
                elif op == 5:
                    os.unlink(p)
                elif op == 6:
                    os.mkdir(p)
                elif op == 7:
                    for _ in os.walk(os.path.join(mnt, d)):
                        pass
                elif op == 8:
                    os.chmod(p, rnd.choice((0o600, 0o644, 0o755)))
                elif op == 9:
                    d2, n2 = self.pick(rnd)
                    os.rename(p, os.path.join(mnt, d2, n2))
            except OSError as e:
                if e.errno not in self.EXPECTED:
                    with self.lock:
                        self.errors.append("op %d on %s: %s" % (op, p, e))
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                with self.lock:
                    self.errors.append("op %d on %s: %r" % (op, p, e))

    def mount_for_race(self, timeout):
        # The kernel's whiteout format, so that the upper layer is one
        # kernel overlayfs reads too.
        self.m = self.mount_rw([self.top, self.low], opts=(
            "udba=reval", "whiteout=overlay",
            # Copy-ups and renames in a form kernel overlayfs reads
            # (layerfs's own marks for metadata-only copies and
            # redirected directories are not the kernel's).
            "metacopy=off", "redirect_dir=off") + timeout)

    def test_mount_survives_and_converges(self):
        self.mount_for_race(("timeout=0",))
        self.race_and_compare(settle=0)

    def test_converges_within_the_timeout(self):
        # The default second: listings checked once due, the kernel's
        # entries and attributes kept meanwhile.
        self.mount_for_race(())
        self.race_and_compare(settle=1.5)

    def race_and_compare(self, settle):
        seconds = float(os.environ.get("LFS_UDBA_RACE_SECONDS", "5"))
        stop = threading.Event()
        threads = [threading.Thread(target=self.change_lower,
                                    args=(random.Random(self.seed + i), stop))
                   for i in range(2)]
        threads += [threading.Thread(target=self.use_mount,
                                     args=(random.Random(self.seed + 10 + i),
                                           stop))
                    for i in range(3)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "a thread hung on the mount")
        if self.m.proc.poll() is not None:
            self.fail("the daemon died: %s" % self.m.stderr())
        self.assertEqual(self.errors[:10], [])
        time.sleep(settle)
        kmnt = self.kernel_overlay([self.m.upper, self.top, self.low],
                                   "oracle", upper=False)
        want = lfstest.snapshot(kmnt)
        got = lfstest.snapshot(self.m.path)
        diff = {k: (got.get(k), want.get(k))
                for k in set(got) | set(want) if got.get(k) != want.get(k)}
        self.assertEqual(diff, {}, "the mount and kernel overlayfs differ "
                         "(mount, kernel); the layers there, top first:\n" +
                         self.describe_layers(sorted(diff)[:3]))

    def describe_layers(self, paths):
        """What each layer holds along paths, to tell the two views'
        difference from the layers' own."""
        out = []
        for rel in paths:
            parts = rel.split(os.sep)
            for i in range(1, len(parts) + 1):
                sub = os.path.join(*parts[:i])
                for name, root in (("upper", self.m.upper),
                                   ("top", self.top), ("low", self.low)):
                    p = os.path.join(root, sub)
                    try:
                        st = os.lstat(p)
                    except OSError as e:
                        out.append("%s %s: %s" % (name, sub, e.strerror))
                        continue
                    what = stat.filemode(st.st_mode)
                    if stat.S_ISDIR(st.st_mode):
                        what += " %s %s" % (sorted(os.listdir(p)), {
                            a: os.getxattr(p, a) for a in os.listxattr(p)})
                    out.append("%s %s: %s" % (name, sub, what))
        return "\n".join(out)


if __name__ == "__main__":
    lfstest.main()
