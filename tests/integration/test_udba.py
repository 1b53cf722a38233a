"""udba=reval (fs/udba.h): changes made to the lower layers directly,
behind the mount, show through it once the kernel asks again, as with
unionfs-fuse; with timeout=0 at once.  Without the option the lower
layers are taken to be still (as kernel overlayfs takes them), which the
rest of the suite tests.
"""

import errno
import os
import shutil
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


if __name__ == "__main__":
    lfstest.main()
