"""Hard links through the mount, checked against a plain directory.

An inode with several names has one node in the daemon, known under one
of its names; every other name must keep reaching the same file when
that one is unlinked, renamed or replaced, in the upper layer and in
lower layers (through the index).  Three bugs of this kind were found by
the sequences below: `ln a b && mv b c` failed with EIO, `ln a b && rm a`
left `b` unreadable (ENOENT, then the data of the next file named `a`),
and renaming onto one name of a lower hard link left the others counting
the lost link.

The random sequences run the same operations on the mount and on a plain
copy of the lower layer (the local filesystem, as POSIX says), with fixed
seeds, and compare after every step: each operation's result (errno
included), and for every name its data, link count and mode, and which
names share an inode; then again after a remount.
"""

import os
import random
import subprocess

import lfstest
from lfstest import LayerfsTestCase, RENAME_EXCHANGE, read, renameat2, write

DIRS = ("", "d1/", "d2/")
NAMES = [d + n for d in DIRS for n in ("a", "b", "c", "e")]
SEEDS = range(12)
STEPS = 60


def make_lower(root, rnd):
    """Five files, three more names linked to some of them."""
    for d in DIRS:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    files = rnd.sample(NAMES, 5)
    for n in files:
        write(os.path.join(root, n), "L" + n + "\n")
    for n in rnd.sample([x for x in NAMES if x not in files], 3):
        os.link(os.path.join(root, rnd.choice(files)), os.path.join(root, n))


def view(root):
    """Per name: data, link count, mode; and the names of each inode."""
    names, inodes = {}, {}
    for n in NAMES:
        p = os.path.join(root, n)
        try:
            st = os.lstat(p)
            names[n] = (read(p), st.st_nlink, st.st_mode)
        except FileNotFoundError:
            continue
        inodes.setdefault(st.st_ino, []).append(n)
    return names, sorted(sorted(v) for v in inodes.values())


def step(root, i, rnd):
    """One random operation; returns it with its errno (0 on success)."""
    a, b, kind = rnd.choice(NAMES), rnd.choice(NAMES), rnd.randrange(8)
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

    def test_random_sequences_match_a_plain_directory(self):
        for seed in SEEDS:
            with self.subTest(seed=seed):
                self.run_sequence(seed)

    def run_sequence(self, seed):
        tag = "s%d" % seed
        low = self.mkdirs(tag + "-low")
        make_lower(low, random.Random(seed))
        ref = self.path(tag + "-ref")
        subprocess.run(["cp", "-a", low, ref], check=True)
        m = self.mount_rw([low], name=tag)
        mine, theirs = random.Random(seed + 1000), random.Random(seed + 1000)
        done = []
        for i in range(STEPS):
            got = step(m.path, i, mine)
            want = step(ref, i, theirs)
            done.append(got)
            self.assertEqual(got, want, "seed %d step %d, after %s"
                             % (seed, i, done[-6:-1]))
            self.assertEqual(view(m.path), view(ref),
                             "seed %d step %d %s, after %s"
                             % (seed, i, got, done[-6:-1]))
        m.unmount()
        self._mounts.remove(m)
        again = self.mount([low], m.upper, m.work, mnt=self.path(tag + "-again"))
        self.assertEqual(view(again.path), view(ref),
                         "seed %d after a remount" % seed)
        again.unmount()
        self._mounts.remove(again)


if __name__ == "__main__":
    lfstest.main()
