"""SIGKILL of the daemon in the middle of a copy-up: after a remount the
merged view shows the old content or the new, never a partial file, and
the staging leftovers are gone.  A crash at one chosen instruction is
injected (LFS_FAULT, fs/fault.h) where timing a kill from outside would
not find it: between a protected file's copy-up and its flags, and while
a file's flags are lifted."""

import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

import lfstest
from lfstest import LayerfsTestCase

SIZE = 256 << 20


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


class Crash(LayerfsTestCase):
    def big_lower(self):
        low = self.mkdirs("low")
        with open(os.path.join(low, "big"), "wb") as f:
            block = os.urandom(1 << 20)
            for i in range(SIZE >> 20):
                f.write(block[i % 7:] + block[:i % 7])
        with open(os.path.join(low, "small"), "w") as f:
            f.write("small\n")
        return low

    def kill_during(self, low, writer_script, seed):
        rnd = random.Random(seed)
        upper, work = self.mkdirs("u%d" % seed, "w%d" % seed)
        m = self.mount([low], upper, work, mnt=self.path("m%d" % seed))
        writer = subprocess.Popen([sys.executable, "-c", writer_script,
                                   m.path], stderr=subprocess.DEVNULL)
        # Somewhere inside the copy of 256 MiB.
        time.sleep(rnd.uniform(0.05, 0.6))
        m.kill()
        writer.wait(timeout=30)
        self._mounts.remove(m)
        m2 = self.mount([low], upper, work, mnt=self.path("r%d" % seed))
        self.assertEqual(os.listdir(os.path.join(work, "work")), [],
                         "staging leftovers were not cleaned")
        return m2

    def test_kill_during_data_copy_up(self):
        low = self.big_lower()
        old = digest(os.path.join(low, "big"))
        script = ("import sys\n"
                  "with open(sys.argv[1] + '/big', 'ab') as f:\n"
                  "    f.write(b'tail')\n")
        outcomes = set()
        for seed in range(3):
            m = self.kill_during(low, script, seed)
            p = os.path.join(m.path, "big")
            size = os.stat(p).st_size
            self.assertIn(size, (SIZE, SIZE + 4), "partial file (seed %d)"
                          % seed)
            if size == SIZE:
                self.assertEqual(digest(p), old)
                outcomes.add("old")
            else:
                with open(p, "rb") as f:
                    f.seek(SIZE)
                    self.assertEqual(f.read(), b"tail")
                outcomes.add("new")
            self.assertEqual(open(os.path.join(m.path, "small")).read(),
                             "small\n")
        sys.stderr.write("outcomes: %s\n" % sorted(outcomes))

    def test_kill_during_in_place_data_fill(self):
        # chmod first: a metadata-only copy; the write then fills the data
        # in place and removes the mark last.
        low = self.big_lower()
        old = digest(os.path.join(low, "big"))
        script = ("import os, sys\n"
                  "p = sys.argv[1] + '/big'\n"
                  "os.chmod(p, 0o600)\n"
                  "with open(p, 'r+b') as f:\n"
                  "    f.write(b'HEAD')\n")
        for seed in range(10, 12):
            m = self.kill_during(low, script, seed)
            p = os.path.join(m.path, "big")
            self.assertEqual(os.stat(p).st_size, SIZE)
            with open(p, "rb") as f:
                head = f.read(4)
            if head == b"HEAD":
                continue  # the new content, complete (checked by size)
            self.assertEqual(digest(p), old, "partial data (seed %d)" % seed)


class CrashAtPoint(LayerfsTestCase):
    """A mount whose daemon kills itself at a named point (LFS_FAULT)."""

    def crash_at(self, point, low, script, path, name, opts=()):
        """Mounts low (with opts) with LFS_FAULT=point, runs script
        (given the file's path in the mount) until the daemon kills
        itself there, and mounts the same layers again: that mount, and
        the upper."""
        upper, work = self.mkdirs(name + "-u", name + "-w")
        env = dict(os.environ, LFS_FAULT=point)
        m = self.mount([low], upper, work, opts=opts,
                       mnt=self.path(name + "-m"), env=env)
        client = subprocess.Popen(
            [sys.executable, "-c", script, os.path.join(m.path, path)],
            stderr=subprocess.PIPE)
        try:
            m.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("the daemon did not stop at %s: no such fault point "
                      "in this build" % point)
        finally:
            lfstest.force_unmount(m.path)
            client.wait(timeout=30)
        self._mounts.remove(m)
        self.assertEqual(m.proc.returncode, -signal.SIGKILL)
        return self.mount([low], upper, work, opts=opts,
                          mnt=self.path(name + "-r")), upper


class ProtectedCrash(CrashAtPoint):
    """The daemon killed (LFS_FAULT) where a file's immutable or
    append-only flags are not on its upper copy: after a remount the
    file shows them through the mount, refuses what they refuse, and
    its upper copy carries them again."""

    def setUp(self):
        super().setUp()
        self.require_root()
        self.require_inode_flags()

    def assert_protected(self, root, upper, name, flag, data):
        p = os.path.join(root, name)
        self.assertEqual(lfstest.read(p), data)
        self.assertTrue(lfstest.inode_flags(p) & flag,
                        "%s lost its flag through the mount" % name)
        # What the flag refuses, refused.
        with self.assertRaises(OSError) as cm:
            os.open(p, os.O_WRONLY | os.O_TRUNC)
        self.assertEqual(cm.exception.errno, errno.EPERM)
        with self.assertRaises(OSError) as cm:
            os.unlink(p)
        self.assertEqual(cm.exception.errno, errno.EPERM)
        self.assertTrue(lfstest.inode_flags(os.path.join(upper, name))
                        & flag, "%s lost its flag in the upper" % name)

    def test_kill_between_copy_up_and_flags(self):
        """A protected file's copy takes its name before its flags (a
        local filesystem links or renames no such file): killed in
        between, the copy was left without them, writable and removable
        through the mount after a remount."""
        low = self.layer("low", {"app": b"log\n", "imm": b"fixed\n",
                                 "hl": b"linked\n"})
        os.chmod(low, 0o755)
        # A lower hard link without an index: its copy breaks the link
        # and keeps no origin, the mark alone makes its directory
        # impure (where a lookup reads the marks).
        os.link(os.path.join(low, "hl"), os.path.join(low, "hl2"))
        for n in ("app", "hl"):
            lfstest.change_inode_flags(os.path.join(low, n),
                                       add=lfstest.FS_APPEND_FL)
        lfstest.change_inode_flags(os.path.join(low, "imm"),
                                   add=lfstest.FS_IMMUTABLE_FL)
        # An append copies an append-only file up; a change of another
        # flag, an immutable one.
        append = ("import sys\n"
                  "with open(sys.argv[1], 'ab') as f:\n"
                  "    f.write(b'more')\n")
        nodump = ("import sys\n"
                  "sys.path.insert(0, %r)\n"
                  "import lfstest\n"
                  "lfstest.change_inode_flags(sys.argv[1], add=0x40)\n"
                  % os.path.dirname(os.path.abspath(lfstest.__file__)))
        for name, script, flag, data, opts in (
                ("app", append, lfstest.FS_APPEND_FL, b"log\n", ()),
                ("imm", nodump, lfstest.FS_IMMUTABLE_FL, b"fixed\n", ()),
                ("hl", append, lfstest.FS_APPEND_FL, b"linked\n",
                 ("index=off",))):
            with self.subTest(name):
                m, upper = self.crash_at("protect-published", low, script,
                                         name, "cu-" + name, opts)
                self.assertTrue(os.path.exists(os.path.join(upper, name)),
                                "the copy was not published")
                self.assert_protected(m.path, upper, name, flag, data)
                m.unmount()
                self._mounts.remove(m)

    def test_kill_while_flags_are_lifted(self):
        """A change the kernel makes past the flags (a set-user-id bit
        cleared by chown(-1, -1)) is made with them lifted for the
        moment: killed then, the file was left without them."""
        low = self.layer("low-sid", {"app": b"log\n"})
        os.chmod(low, 0o755)
        f = os.path.join(low, "app")
        os.chmod(f, 0o4766)
        lfstest.change_inode_flags(f, add=lfstest.FS_APPEND_FL)
        chown = "import os, sys\nos.chown(sys.argv[1], -1, -1)\n"
        m, upper = self.crash_at("protect-lifted", low, chown, "app", "lift")
        self.assert_protected(m.path, upper, "app", lfstest.FS_APPEND_FL,
                              b"log\n")


def write_copy(path):
    with open(path, "wb") as f:
        f.write(b"copy\n")


class IndexRetireCrash(CrashAtPoint):
    """An index entry whose record names another lower file than the
    one now at its inode number (fs/index.c, retire_stale) is taken out
    of the index; killed in the middle of that, the entry must not be
    left to serve the new file's names."""

    def stale_entry(self, low, tag, copy_up, suffix=""):
        """Copies up d/x of low, a lower file with several names, by
        copy_up(its path) through a first mount, then makes the record
        of its index entry (a special file's is on its count file:
        suffix ".nlink") another file's, as a lower file given the old
        one's inode number between the mounts has.  The upper and work
        directories, those crash_at uses for tag."""
        d = os.path.join(low, "d")
        upper, work = self.mkdirs(tag + "-u", tag + "-w")
        m = self.mount([low], upper, work, mnt=self.path(tag + "-first"))
        copy_up(os.path.join(m.path, "d", "x"))   # copied up, indexed
        m.unmount()
        self._mounts.remove(m)
        key = "%x-%x" % (os.lstat(d).st_dev, os.lstat(d + "/x").st_ino)
        self.assertIn(key + suffix, os.listdir(os.path.join(work, "index")))
        os.setxattr(os.path.join(work, "index", key + suffix),
                    "user.layerfs.lowerid", b"b1.1")
        return upper, work

    def test_kill_while_a_stale_entry_is_retired(self):
        """The entry lost its record before its link: killed in between,
        it stayed in the index as an entry without a record, which the
        index keeps serving (an entry made before records existed), and
        after a remount the new file's names showed the old copy."""
        low = self.layer("low-retire", {"d/x": b"old\n"})
        d = os.path.join(low, "d")
        os.link(os.path.join(d, "x"), os.path.join(d, "y"))
        self.stale_entry(low, "retire", write_copy)
        stat = "import os, sys\nos.stat(sys.argv[1])\n"
        again, upper = self.crash_at("index-retiring", low, stat,
                                     "d/y", "retire")
        y = os.path.join(again.path, "d", "y")
        x = os.path.join(again.path, "d", "x")
        self.assertEqual(lfstest.read(y), b"old\n",
                         "a name of the new lower file shows the old copy")
        self.assertEqual(lfstest.read(x), b"copy\n")
        self.assertNotEqual(os.lstat(y).st_ino, os.lstat(x).st_ino)
    def test_kill_while_a_stale_symlink_entry_is_retired(self):
        """A special file's record is on its entry's count file, which
        went first: killed before the entry followed, the entry was left
        without a count file (never attached, never retired), and a
        copy-up of the new file then failed (EEXIST) after writing its
        own count file beside the old entry, whose copy its names showed
        from then on."""
        low = self.layer("low-retire-sl", {"d/.keep": b""})
        d = os.path.join(low, "d")
        os.symlink("target", os.path.join(d, "x"))
        os.link(os.path.join(d, "x"), os.path.join(d, "y"),
                follow_symlinks=False)
        os.utime(os.path.join(d, "x"), (500, 500), follow_symlinks=False)
        self.stale_entry(low, "retire-sl", lambda p: os.utime(
            p, (1000, 1000), follow_symlinks=False), suffix=".nlink")
        stat = "import os, sys\nos.lstat(sys.argv[1])\n"
        again, upper = self.crash_at("index-retiring", low, stat,
                                     "d/y", "retire-sl")
        y = os.path.join(again.path, "d", "y")
        x = os.path.join(again.path, "d", "x")
        self.assertEqual(os.lstat(y).st_mtime, 500)
        os.utime(y, (2000, 2000), follow_symlinks=False)
        self.assertEqual(os.lstat(y).st_mtime, 2000)
        self.assertEqual(os.lstat(x).st_mtime, 1000)
        again.unmount()
        self._mounts.remove(again)
        third = self.mount([low], upper, self.path("retire-sl-w"),
                           mnt=self.path("retire-sl-3"))
        self.assertEqual(
            os.lstat(os.path.join(third.path, "d", "y")).st_mtime, 2000)
        self.assertEqual(
            os.lstat(os.path.join(third.path, "d", "x")).st_mtime, 1000)

    def test_lookup_of_another_name_while_an_entry_is_retired(self):
        """The nodes presenting a retired entry (the old copy's) took
        their own inode number only after the entry was gone: a lookup
        of another lower name in between found no entry, and joined the
        node showing the lower file's number, the old copy's.  The
        retiring lookup paused (LFS_FAULT_PAUSE) just after the entry's
        link is removed, while another name is looked up."""
        low = self.layer("low-retire2", {"d/x": b"old\n", "e/.keep": b""})
        d = os.path.join(low, "d")
        os.link(os.path.join(d, "x"), os.path.join(d, "y"))
        # (In another directory: the kernel looks up one name at a
        # time in a directory.)
        os.link(os.path.join(d, "x"), os.path.join(low, "e", "z"))
        upper, work = self.stale_entry(low, "retire2", write_copy)
        env = dict(os.environ, LFS_FAULT_PAUSE="index-retired")
        m = self.mount([low], upper, work, mnt=self.path("retire2-m"),
                       env=env)
        j = lambda n: os.path.join(m.path, "d", n)  # noqa: E731
        x_ino = os.lstat(j("x")).st_ino             # the old copy's node
        t = threading.Thread(target=os.lstat, args=(j("y"),))
        t.start()                                   # retires, pauses
        lfstest.wait_paused(m.pid)
        z = os.path.join(m.path, "e", "z")
        z_ino = os.lstat(z).st_ino
        t.join(timeout=30)
        self.assertEqual(lfstest.read(z), b"old\n",
                         "another name of the lower file shows the old copy")
        self.assertEqual(lfstest.read(j("y")), b"old\n")
        self.assertEqual(lfstest.read(j("x")), b"copy\n")
        self.assertEqual(z_ino, os.lstat(j("y")).st_ino)
        self.assertNotEqual(z_ino, os.lstat(j("x")).st_ino)
        self.assertNotEqual(os.lstat(j("x")).st_ino, x_ino)


if __name__ == "__main__":
    lfstest.main()
