"""The merged read-only view: names, types, contents, whiteouts in both
formats, opaque directories, inode numbers, many layers."""

import errno
import json
import os
import stat
import subprocess
import sys

import lfstest
from lfstest import LayerfsTestCase


def write_file(path, data):
    with open(path, "w") as f:
        f.write(data)


class ReadView(LayerfsTestCase):
    def stack(self):
        low = self.layer("low", {
            "etc/hosts": "base hosts\n",
            "etc/motd": "motd from low\n",
            "gone/file": "deleted later",
            "gone2/": None,
            "opq/old": "hidden by opaque",
            "opq2/old": "hidden by xattr opaque",
            "bin/sh": ("file", "#!/bin/sh\n", 0o755),
            "link": ("symlink", "etc/hosts"),
            "evil": ("symlink", "/etc/shadow"),
            "fifo": ("fifo",),
            "merged/a": "a from low",
            "merged/sub/deep": "deep",
            "hl1": "shared inode",
        })
        os.link(os.path.join(low, "hl1"), os.path.join(low, "hl2"))
        mid = self.layer("mid", {
            "etc/motd": "motd from mid\n",
            ".wh.gone": "",
            "gone2": ("whiteout",),
            "opq/.wh..wh..opq": "",
            "opq/new": "new",
            "opq2": ("opaque",),
            "opq2/new": "new2",
            "merged/b": "b from mid",
            "merged/.wh.a": "",
        })
        top = self.layer("top", {
            "merged/c": "c from top",
            "merged/sub/": None,
            "usr/bin/tool": ("file", "tool", 0o700),
        })
        return [top, mid, low]

    def test_merge_names_and_contents(self):
        m = self.mount(self.stack())
        p = m.path
        self.assertEqual(sorted(os.listdir(p)),
                         ["bin", "etc", "evil", "fifo", "hl1", "hl2", "link",
                          "merged", "opq", "opq2", "usr"])
        self.assertEqual(open(os.path.join(p, "etc/motd")).read(),
                         "motd from mid\n")
        self.assertEqual(open(os.path.join(p, "etc/hosts")).read(),
                         "base hosts\n")
        self.assertEqual(sorted(os.listdir(os.path.join(p, "merged"))),
                         ["b", "c", "sub"])
        self.assertEqual(os.listdir(os.path.join(p, "merged/sub")), ["deep"])
        st = os.stat(os.path.join(p, "usr/bin/tool"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        self.assertEqual(st.st_size, 4)
        self.assertEqual(os.stat(os.path.join(p, "bin/sh")).st_mode & 0o777,
                         0o755)

    def test_whiteouts_and_opaque_both_formats(self):
        p = self.mount(self.stack()).path
        for gone in ("gone", "gone2", "merged/a", "opq/old", "opq2/old"):
            self.assertFalse(os.path.lexists(os.path.join(p, gone)), gone)
        self.assertEqual(os.listdir(os.path.join(p, "opq")), ["new"])
        self.assertEqual(os.listdir(os.path.join(p, "opq2")), ["new"])
        # Reserved names never appear, even by explicit lookup.
        for name in (".wh.gone", "merged/.wh.a", "opq/.wh..wh..opq"):
            self.assertFalse(os.path.lexists(os.path.join(p, name)), name)

    def test_symlinks_are_shown_not_followed(self):
        p = self.mount(self.stack()).path
        self.assertEqual(os.readlink(os.path.join(p, "evil")), "/etc/shadow")
        self.assertTrue(os.path.islink(os.path.join(p, "link")))
        self.assertEqual(os.readlink(os.path.join(p, "link")), "etc/hosts")
        self.assertTrue(stat.S_ISFIFO(os.lstat(os.path.join(p, "fifo")).st_mode))

    def test_inodes_unique_stable_and_match_readdir(self):
        m = self.mount(self.stack())
        seen = {}
        for dirpath, dirnames, filenames in os.walk(m.path):
            with os.scandir(dirpath) as it:
                for e in it:
                    st = os.lstat(e.path)
                    self.assertEqual(e.inode(), st.st_ino, e.path)
                    seen.setdefault(st.st_ino, []).append(e.path)
        for ino, paths in seen.items():
            if len(paths) > 1:
                names = sorted(os.path.basename(x) for x in paths)
                self.assertEqual(names, ["hl1", "hl2"], paths)
        first = os.stat(os.path.join(m.path, "merged/sub/deep")).st_ino
        # Drop the kernel's caches: the number must come back the same.
        subprocess.run(["sh", "-c", "echo 2 > /proc/sys/vm/drop_caches"],
                       capture_output=True)
        self.assertEqual(os.stat(os.path.join(m.path, "merged/sub/deep")).st_ino,
                         first)

    def test_hard_links_share_inode(self):
        p = self.mount(self.stack()).path
        a, b = os.stat(os.path.join(p, "hl1")), os.stat(os.path.join(p, "hl2"))
        self.assertEqual(a.st_ino, b.st_ino)
        self.assertEqual(a.st_nlink, 2)

    def test_read_only_without_upper(self):
        p = self.mount(self.stack()).path
        for fn in (lambda: open(os.path.join(p, "new"), "w"),
                   lambda: os.mkdir(os.path.join(p, "d")),
                   lambda: os.unlink(os.path.join(p, "etc/motd")),
                   lambda: os.chmod(os.path.join(p, "etc/motd"), 0o600),
                   lambda: open(os.path.join(p, "etc/motd"), "a")):
            with self.assertRaises(OSError) as cm:
                fn()
            self.assertEqual(cm.exception.errno, errno.EROFS)

    def test_file_data_without_handles(self):
        # Read-only mounts let the kernel open files by itself: every data
        # request is served from one fd per inode.  The same answers with
        # file_handles=1 (an OPEN and a RELEASE per open file).
        big = os.urandom(3 << 20)
        low = self.layer("datalow", {"f%03d" % i: "file %d\n" % i * (i + 1)
                                     for i in range(300)})
        with open(os.path.join(low, "big"), "wb") as f:
            f.write(big)
        with open(os.path.join(low, "sparse"), "wb") as f:
            f.seek(8 << 20)
            f.write(b"island")
            f.truncate(16 << 20)
        for opts in ((), ("file_handles=1",)):
            p = self.mount([low], opts=opts).path
            for i in range(300):
                with open(os.path.join(p, "f%03d" % i)) as f:
                    self.assertEqual(f.read(), "file %d\n" % i * (i + 1))
            # Many opens of one inode at once, reads interleaved.
            fs = [open(os.path.join(p, "big"), "rb") for _ in range(8)]
            for k, f in enumerate(fs):
                f.seek(k * 4096)
            for k, f in enumerate(fs):
                self.assertEqual(f.read(4096), big[k * 4096:(k + 1) * 4096])
            for f in fs:
                f.close()
            # mmap, and holes found through the mount.
            import mmap
            with open(os.path.join(p, "big"), "rb") as f:
                with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
                    self.assertEqual(m[-100:], big[-100:])
            fd = os.open(os.path.join(p, "sparse"), os.O_RDONLY)
            try:
                self.assertEqual(os.lseek(fd, 0, os.SEEK_DATA), 8 << 20)
                self.assertEqual(os.pread(fd, 6, 8 << 20), b"island")
            finally:
                os.close(fd)
            # Reading through dd with O_DIRECT bypasses the page cache.
            r = subprocess.run(["dd", "if=" + os.path.join(p, "big"),
                                "iflag=direct", "bs=1M", "status=none"],
                               capture_output=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, big)

    def test_xattrs_shown_private_hidden(self):
        low = self.layer("x", {"f": "x", "d/": None})
        os.setxattr(os.path.join(low, "f"), "user.color", b"blue")
        os.setxattr(os.path.join(low, "f"), "user.overlay.origin", b"zz")
        os.setxattr(os.path.join(low, "f"), "user.layerfs.metacopy", b"/x")
        p = self.mount([low]).path
        f = os.path.join(p, "f")
        self.assertEqual(os.getxattr(f, "user.color"), b"blue")
        names = os.listxattr(f)
        self.assertIn("user.color", names)
        self.assertNotIn("user.overlay.origin", names)
        self.assertNotIn("user.layerfs.metacopy", names)
        with self.assertRaises(OSError) as cm:
            os.getxattr(f, "user.layerfs.metacopy")
        self.assertEqual(cm.exception.errno, errno.ENODATA)
        # A metacopy mark in a lower layer is not trusted: the file reads
        # as itself.
        self.assertEqual(open(f).read(), "x")

    def test_trusted_xattrs_listed_to_the_privileged_only(self):
        """trusted.* names are listed only to a caller with CAP_SYS_ADMIN,
        as a local filesystem and kernel overlayfs list them: the daemon
        sees them all, and listed them to anyone (a user, or root in a
        container without CAP_SYS_ADMIN)."""
        self.require_root()
        self.require_tool("setpriv")
        low = self.layer("trusted", {"f": "x"})
        f = os.path.join(low, "f")
        os.setxattr(f, "trusted.t", b"1")
        os.setxattr(f, "user.u", b"2")
        os.chmod(low, 0o755)
        roots = [("layerfs", self.mount([low]).path)]
        # (Without an upper layer the kernel wants two.)
        kmnt = self.kernel_overlay([self.layer("trusted-top", {}), low],
                                   "trusted", upper=False)
        if kmnt:
            roots.append(("kernel overlayfs", kmnt))
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
            else sys.executable
        listing = "import os, sys; print(sorted(os.listxattr(sys.argv[1])))"
        callers = (("root", []),
                   ("a user", ["--reuid=65534", "--regid=65534",
                               "--clear-groups"]),
                   ("root without CAP_SYS_ADMIN",
                    ["--inh-caps=-all", "--bounding-set=-sys_admin"]))
        want = {"root": "['trusted.t', 'user.u']"}
        for what, root in roots:
            for who, opts in callers:
                with self.subTest(what=what, who=who):
                    r = subprocess.run(
                        ["setpriv"] + opts + [python, "-c", listing,
                                              os.path.join(root, "f")],
                        capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stdout.strip(),
                                     want.get(who, "['user.u']"))

    def test_xattrs_of_every_kind_of_node(self):
        """xattrs are read by name from the parent directory where the
        kernel allows it, and through the file itself otherwise (the
        root, an unlinked file still open): both give the same answers."""
        low = self.layer("xk", {"a/b/c/f": "deep", "g": "g"})
        os.setxattr(low, "user.where", b"root")
        os.setxattr(os.path.join(low, "a/b/c/f"), "user.where", b"deep")
        os.setxattr(os.path.join(low, "g"), "user.where", b"g" * 3000)
        os.symlink("g", os.path.join(low, "ln"))
        ro = self.mount([low]).path
        self.assertEqual(os.getxattr(ro, "user.where"), b"root")
        self.assertIn("user.where", os.listxattr(ro))
        # With an upper layer the root is the upper directory.
        p = self.mount_rw([low]).path
        os.setxattr(p, "user.top", b"up")
        self.assertEqual(os.getxattr(p, "user.top"), b"up")
        self.assertIn("user.top", os.listxattr(p))
        f = os.path.join(p, "a/b/c/f")
        self.assertEqual(os.getxattr(f, "user.where"), b"deep")
        self.assertEqual(os.listxattr(f), ["user.where"])
        # The link itself carries none; through it the target's show.
        self.assertEqual(os.listxattr(os.path.join(p, "ln"),
                                      follow_symlinks=False), [])
        self.assertEqual(os.getxattr(os.path.join(p, "ln"), "user.where"),
                         b"g" * 3000)
        with self.assertRaises(OSError) as cm:
            os.getxattr(os.path.join(p, "ln"), "user.where",
                        follow_symlinks=False)
        self.assertEqual(cm.exception.errno, errno.ENODATA)
        # An unlinked file that is still open keeps its xattrs.
        fd = os.open(os.path.join(p, "g"), os.O_RDWR)
        try:
            os.setxattr(fd, "user.kept", b"yes")
            os.unlink(os.path.join(p, "g"))
            self.assertEqual(os.getxattr(fd, "user.kept"), b"yes")
            self.assertEqual(sorted(os.listxattr(fd)),
                             ["user.kept", "user.where"])
        finally:
            os.close(fd)
        with self.assertRaises(OSError) as cm:
            os.getxattr(f, "user.nothing")
        self.assertEqual(cm.exception.errno, errno.ENODATA)

    def test_xattr_answers_follow_changes(self):
        """The daemon remembers whether a file carries xattrs at all;
        every change through the mount makes it ask the file again."""
        low = self.layer("xc", {"f": "f", "g": "g"})
        os.setxattr(os.path.join(low, "g"), "user.a", b"1")
        p = self.mount_rw([low]).path
        f, g = os.path.join(p, "f"), os.path.join(p, "g")

        def absent(path, name):
            with self.assertRaises(OSError) as cm:
                os.getxattr(path, name)
            self.assertEqual(cm.exception.errno, errno.ENODATA,
                             (path, name))

        absent(f, "user.x")
        absent(g, "user.b")
        self.assertEqual(os.getxattr(g, "user.a"), b"1")
        os.setxattr(f, "user.x", b"new")
        self.assertEqual(os.getxattr(f, "user.x"), b"new")
        self.assertEqual(os.listxattr(f), ["user.x"])
        os.removexattr(g, "user.a")
        absent(g, "user.a")
        self.assertEqual(os.listxattr(g), [])
        os.setxattr(g, "user.c", b"c")
        self.assertEqual(os.getxattr(g, "user.c"), b"c")
        absent(g, "user.a")
        os.removexattr(f, "user.x")
        absent(f, "user.x")

    def test_statfs(self):
        p = self.mount(self.stack()).path
        sv = os.statvfs(p)
        self.assertEqual(sv.f_namemax, 255)
        self.assertGreater(sv.f_blocks, 0)

    def test_many_layers(self):
        for count in (1, 2, 64, 500):
            with self.subTest(layers=count):
                layers = []
                for i in range(count):
                    layers.append(self.layer("L%d-%d" % (count, i), {
                        "shared/f%d" % i: str(i),
                        "top%d" % i: "t",
                    }))
                # Lowest layer holds one more file; the top whites out one.
                with open(os.path.join(layers[-1], "bottom"), "w") as f:
                    f.write("bottom")
                if count > 1:
                    open(os.path.join(layers[0], ".wh.top%d" % (count - 1)),
                         "w").close()
                m = self.mount(layers, mnt=self.path("m%d" % count))
                names = os.listdir(os.path.join(m.path, "shared"))
                self.assertEqual(len(names), count)
                self.assertEqual(open(os.path.join(m.path, "bottom")).read(),
                                 "bottom")
                tops = [n for n in os.listdir(m.path) if n.startswith("top")]
                self.assertEqual(len(tops), count - 1 if count > 1 else 1)
                m.unmount()
                self._mounts.remove(m)

    def test_directory_loads_open_only_layers_that_hold_it(self):
        # Twenty layers: a directory of its own in each, one in all of
        # them, one whited out under two layers that hold it (layers
        # below the whiteout hold it again), and one in three layers far
        # apart.  Listing every directory must open each directory in the
        # layers that take part in its merge, and try no layer the
        # parent's listing showed without it.
        self.require_unchanging_layers("tries every layer for a directory")
        count = 20
        layers = []
        for i in range(count):
            spec = {"own%d/f" % i: "o", "shared/s%d" % i: "s"}
            if i < 2 or i > 4:
                spec["wh/w%d" % i] = "w"
            if i in (3, 11, 19):
                spec["apart/a%d" % i] = "a"
            layers.append(self.layer("D%d" % i, spec))
        open(os.path.join(layers[4], ".wh.wh"), "w").close()
        stats = self.path("dirload-stats.json")
        m = self.mount(layers, opts=("stats=" + stats,))
        seen = {}
        for top, dirs, files in os.walk(m.path):
            seen[os.path.relpath(top, m.path)] = sorted(files)
        self.assertEqual(seen["shared"], sorted("s%d" % i
                                                 for i in range(count)))
        self.assertEqual(seen["wh"], ["w0", "w1"])
        self.assertEqual(seen["apart"], ["a11", "a19", "a3"])
        for i in range(count):
            self.assertEqual(seen["own%d" % i], ["f"])
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        with open(stats) as f:
            doc = json.load(f)
        # root and shared: every layer; own<i>: one; wh: two; apart:
        # three.
        self.assertEqual(doc["dir_load_layers"],
                         count + count + count + 2 + 3)
        self.assertEqual(doc["dir_load_misses"], 0)

    def test_inodes_unique_across_filesystems(self):
        self.require_root()
        t = self.mkdirs("tmpfs")
        r = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", t],
                           capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot mount tmpfs")
        self.before_cleanup(lambda: subprocess.run(["umount", "-l", t]))
        # Small inode numbers on both: tmpfs counts from 2, and so do the
        # files a fresh ext4 directory gets near each other.
        a = os.path.join(t, "a")
        os.makedirs(a)
        b = self.layer("b", {})
        for i in range(300):
            write_file(os.path.join(a, "ta%d" % i), "a")
            write_file(os.path.join(b, "tb%d" % i), "b")
        m = self.mount([a, b])
        inos = {}
        for name in os.listdir(m.path):
            ino = os.lstat(os.path.join(m.path, name)).st_ino
            self.assertNotIn(ino, inos, "%s and %s share inode %d"
                             % (name, inos.get(ino), ino))
            inos[ino] = name
        self.assertEqual(len(inos), 600)

    def test_whiteout_beside_its_own_directory(self):
        # A layer holding both "d" and ".wh.d": d shows with this layer's
        # content, nothing of the layers below.  Many names, so that the
        # directory listing returns both orders.
        top = self.layer("wt", {"d%03d/top" % i: "t" for i in range(40)})
        mid = self.layer("wm", {"d%03d/mid" % i: "m" for i in range(40)})
        for i in range(40):
            open(os.path.join(mid, ".wh.d%03d" % i), "w").close()
        low = self.layer("wl", {"d%03d/low" % i: "l" for i in range(40)})
        p = self.mount([top, mid, low]).path
        for i in range(40):
            self.assertEqual(sorted(os.listdir(os.path.join(p, "d%03d" % i))),
                             ["mid", "top"], i)

    def test_symlinked_directory_in_lower_is_not_followed(self):
        outside = self.layer("outside", {"secret": "host data"})
        low = self.layer("low2", {"d/x": "x"})
        os.symlink(outside, os.path.join(low, "escape"))
        top = self.layer("top2", {"escape/y": "y"})
        p = self.mount([top, low]).path
        # The top layer's directory wins; the lower symlink is not merged
        # into it and nothing from outside shows.
        self.assertEqual(os.listdir(os.path.join(p, "escape")), ["y"])
        self.assertFalse(os.path.exists(os.path.join(p, "escape/secret")))


if __name__ == "__main__":
    lfstest.main()
