"""Hostile layers: symlinks to host files, a directory swapped for a
symlink during copy-ups, 255-byte names, a 4096-deep tree, whiteouts and
opaque markers of the wrong type, marks planted in lower layers, a
directory with many entries.

The rule behind every test: nothing outside the layers is read or
written.  Host files (/etc/shadow, /etc/passwd) and a decoy directory
outside the layers are checksummed and stat'ed before and after; the
decoy's content never appears through the mount or in the upper layer.

What layerfs does with a 252..255-byte lower name deleted in the dotwh
format (".wh." + name would be longer than NAME_MAX): it writes a
kernel-overlay whiteout, a 0/0 character device under the name itself,
which it reads in every layer (README, "The layer model").
"""

import contextlib
import errno
import os
import sys
import stat
import subprocess
import threading
import time

import lfstest
from lfstest import LayerfsTestCase, errno_of, read, snapshot

HOST_FILES = ["/etc/shadow", "/etc/passwd", "/etc/hostname"]
MARK = b"OUTSIDE THE LAYERS\n"
BIG_DIR = int(os.environ.get("LFS_HOSTILE_BIG_DIR", "20000"))


def host_state():
    out = {}
    for p in HOST_FILES + ["/etc"]:
        if not os.path.exists(p):
            continue
        st = os.lstat(p)
        out[p] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_nlink,
                  st.st_mtime_ns, st.st_ctime_ns,
                  lfstest.file_digest(p) if stat.S_ISREG(st.st_mode) else "",
                  tuple(sorted(os.listxattr(p, follow_symlinks=False))))
    return out


def grep_tree(root, needle):
    """Paths under root whose content holds needle (symlinks not followed)."""
    hits = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            with open(p, "rb") as f:
                if needle in f.read():
                    hits.append(p)
    return hits


READER = """
import os, sys
try:
    fd = os.open(sys.argv[1], int(sys.argv[2]))
    try:
        os.read(fd, 4096) if sys.argv[3] == "r" else os.write(fd, b"w")
    finally:
        os.close(fd)
    print(0)
except OSError as e:
    print(e.errno)
"""


def access_in_child(path, flags=os.O_RDONLY, op="r", timeout=10):
    """The errno of opening path with flags and reading (op "r") or
    writing ("w") it, 0 if that worked, in a child process: None when it
    did not finish within timeout (left running: the caller frees it)."""
    child = subprocess.Popen([sys.executable, "-c", READER, path,
                              str(flags), op], stdout=subprocess.PIPE)
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, child
    return int(out.decode().strip() or -1), child


class Hostile(LayerfsTestCase):
    def setUp(self):
        super().setUp()
        self.require_root()  # host files, trusted.* xattrs, mknod
        self.host_before = host_state()
        self.decoy = self.layer("decoy", {"f%d" % i: MARK for i in range(8)})
        self.decoy_before = snapshot(self.decoy, times=True)

    def tearDown(self):
        try:
            self.assertEqual(host_state(), self.host_before,
                             "a host file changed")
            self.assertEqual(snapshot(self.decoy, times=True),
                             self.decoy_before,
                             "the decoy outside the layers changed")
        finally:
            super().tearDown()

    def assert_no_mark(self, *roots):
        for r in roots:
            self.assertEqual(grep_tree(r, MARK), [],
                             "content from outside the layers in %s" % r)

    def test_symlinks_to_host_files(self):
        low = self.layer("low", {
            "abs": ("symlink", "/etc/shadow"),
            "rel": ("symlink", "../../../../../../../../etc/shadow"),
            "dec": ("symlink", os.path.join(self.decoy, "f0")),
            "dir/up": ("symlink", "../../../../../../../../etc"),
            "keep": "keep\n"})
        m = self.mount_rw([low])
        mnt = m.path
        allowed = {0, errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP,
                   errno.ELOOP, errno.EXDEV}
        for name in ("abs", "rel", "dec"):
            p = os.path.join(mnt, name)
            # Operations on the link itself reach the daemon.
            for what, fn in (
                    ("lchown", lambda: os.chown(p, 1234, 1234,
                                                follow_symlinks=False)),
                    ("lutimes", lambda: os.utime(p, (5, 5),
                                                 follow_symlinks=False)),
                    ("lsetxattr", lambda: os.setxattr(
                        p, "trusted.hostile", b"x", follow_symlinks=False)),
                    ("open O_NOFOLLOW|O_WRONLY", lambda: os.open(
                        p, os.O_WRONLY | os.O_NOFOLLOW)),
                    ("open O_PATH|O_NOFOLLOW", lambda: os.close(os.open(
                        p, os.O_PATH | os.O_NOFOLLOW))),
                    ("link", lambda: os.link(p, p + ".hl",
                                             follow_symlinks=False)),
                    ("rename", lambda: os.rename(p + ".hl", p + ".mv"))):
                e = errno_of(fn)
                self.assertIn(e, allowed | {errno.ENOENT},
                              "%s %s: %s" % (what, name, os.strerror(e)))
            # The copied-up link is a link with the same target.
            up = os.path.join(m.upper, name)
            if os.path.lexists(up):
                self.assertTrue(os.path.islink(up), "%s copied as data" % name)
                self.assertEqual(os.readlink(up), os.readlink(
                    os.path.join(low, name)))
            self.assertEqual(os.readlink(p), os.readlink(
                os.path.join(low, name)))
            st = os.lstat(p)
            self.assertTrue(stat.S_ISLNK(st.st_mode))
        # Renaming and deleting the links copies nothing but links.
        os.rename(os.path.join(mnt, "abs"), os.path.join(mnt, "abs2"))
        os.unlink(os.path.join(mnt, "rel"))
        os.rename(os.path.join(mnt, "dir"), os.path.join(mnt, "dir2"))
        self.assertTrue(os.path.islink(os.path.join(mnt, "dir2", "up")))
        # Through the mount, a truncate with O_NOFOLLOW is refused.
        self.assertEqual(errno_of(os.open, os.path.join(mnt, "dec"),
                                  os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW),
                         errno.ELOOP)
        self.assert_no_mark(m.upper, m.work, mnt)

    def test_lower_symlink_under_a_merged_directory(self):
        # The top layer's "etc" is a directory; below it, "etc" is a
        # symlink to the host's /etc and "data" one to the decoy.  A
        # non-directory below ends the merge: nothing of /etc shows, and
        # changes under etc/ never reach the host.
        top = self.layer("top", {"etc/mine": "mine\n", "data/own": "own\n"})
        low = self.layer("low", {"etc": ("symlink", "/etc"),
                                 "data": ("symlink", self.decoy)})
        m = self.mount_rw([top, low])
        mnt = m.path
        for rel in ("etc", "data"):  # else the writes below would follow
            st = os.lstat(os.path.join(mnt, rel))
            self.assertTrue(stat.S_ISDIR(st.st_mode), rel)
        self.assertEqual(os.listdir(os.path.join(mnt, "etc")), ["mine"])
        self.assertEqual(os.listdir(os.path.join(mnt, "data")), ["own"])
        for rel in ("etc/shadow", "etc/passwd", "data/f1"):
            self.assertEqual(errno_of(os.stat, os.path.join(mnt, rel)),
                             errno.ENOENT, rel)
        with open(os.path.join(mnt, "etc", "passwd"), "w") as f:
            f.write("not the host's\n")
        with open(os.path.join(mnt, "data", "f1"), "w") as f:
            f.write("not the decoy's\n")
        os.chmod(os.path.join(mnt, "etc"), 0o700)
        os.mkdir(os.path.join(mnt, "etc", "sub"))
        subprocess.run(["rm", "-rf", os.path.join(mnt, "data")], check=True)
        self.assertEqual(open(os.path.join(m.upper, "etc", "passwd")).read(),
                         "not the host's\n")
        self.assert_no_mark(m.upper, mnt)

    def test_planted_marks_in_lower_layers_are_ignored(self):
        # layerfs's own marks (metacopy, redirect, origin) are trusted only
        # in the upper layer; planted in a lower layer they must not make
        # it read the host's files.  The kernel's metacopy mark on a file
        # with data of its own is no metacopy either (test_overlay_layers
        # has the files that can be one).
        low = self.layer("low", {"meta": "own data\n", "redir/own": "o\n"})
        for name, value in (("user.layerfs.metacopy", b"/etc/shadow"),
                            ("user.layerfs.origin", b"/etc/shadow"),
                            ("trusted.overlay.metacopy", b""),
                            ("trusted.overlay.redirect", b"/etc")):
            os.setxattr(os.path.join(low, "meta"), name, value)
        for name, value in (("user.layerfs.redirect", b"/../../../../etc"),
                            ("trusted.overlay.redirect", b"/etc")):
            os.setxattr(os.path.join(low, "redir"), name, value)
        m = self.mount_rw([low])
        self.assertEqual(open(os.path.join(m.path, "meta")).read(),
                         "own data\n")
        self.assertEqual(os.listdir(os.path.join(m.path, "redir")), ["own"])
        os.chmod(os.path.join(m.path, "meta"), 0o600)
        with open(os.path.join(m.path, "meta"), "a") as f:
            f.write("more\n")
        self.assertEqual(open(os.path.join(m.path, "meta")).read(),
                         "own data\nmore\n")
        os.rename(os.path.join(m.path, "redir"), os.path.join(m.path, "r2"))
        self.assertEqual(os.listdir(os.path.join(m.path, "r2")), ["own"])
        names = [n for n in os.listxattr(os.path.join(m.path, "meta"))
                 if "layerfs" in n]
        self.assertEqual(names, [], "private marks shown")

    def test_directory_swapped_for_a_symlink_during_copy_ups(self):
        # A racer swaps lower directory d for a symlink to the decoy and
        # back while a client copies up d's files through a directory fd
        # (so the kernel never resolves "d" itself: every step is the
        # daemon's).  Copy-ups either see the real d or fail; none reads
        # or writes the decoy.
        files = {"d/f%d" % i: ("real %d\n" % i) for i in range(200)}
        low = self.layer("low", files)
        m = self.mount_rw([low])
        d = os.path.join(low, "d")
        real = os.path.join(low, "d.real")
        dfd = os.open(os.path.join(m.path, "d"), os.O_DIRECTORY)
        stop = threading.Event()
        swaps = [0]

        def racer():
            link = os.path.join(low, "d.link")
            while not stop.is_set():
                os.rename(d, real)
                os.symlink(self.decoy, link)
                os.rename(link, d)
                time.sleep(0.0005)
                os.rename(d, link)
                os.unlink(link)
                os.rename(real, d)
                swaps[0] += 1
        t = threading.Thread(target=racer)
        results = {}
        refused = {}  # errno -> count
        pending = ["f%d" % i for i in range(200)]

        def append(name):
            fd = os.open(name, os.O_WRONLY | os.O_APPEND, dir_fd=dfd)
            try:
                os.write(fd, b"appended\n")
            finally:
                os.close(fd)
        try:
            t.start()
            end = time.monotonic() + 2
            while pending and time.monotonic() < end:
                name = pending.pop(0)
                try:
                    append(name)
                    results[name] = 0
                except OSError as e:
                    refused[e.errno] = refused.get(e.errno, 0) + 1
                    pending.append(name)
        finally:
            stop.set()
            t.join()
        try:
            # With d back in place, the refused ones copy up now (once
            # the kernel forgets the failed lookups it cached).
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")
            for name in pending:
                append(name)
                results[name] = 0
        finally:
            os.close(dfd)
        bad = {errno.errorcode.get(e, e): n for e, n in refused.items()
               if e not in (errno.ENOENT, errno.ENOTDIR, errno.EIO,
                            errno.ESTALE, errno.ELOOP)}
        self.assertEqual(bad, {}, "refused with unexpected errors")
        self.assert_no_mark(m.upper, m.work, m.path)
        for i in range(200):
            name = "f%d" % i
            self.assertEqual(open(os.path.join(m.upper, "d", name)).read(),
                             "real %d\nappended\n" % i, name)
        self.assertGreater(swaps[0], 0)
        sys.stderr.write("swap race: %d swaps, 200 copy-ups: %d during the "
                         "race, %d after; refusals %s\n"
                         % (swaps[0], len(results) - len(pending),
                            len(pending), {errno.errorcode.get(e, e): n
                                           for e, n in refused.items()}))

    def test_names_of_255_bytes(self):
        names = {n: ("x" * n) for n in (251, 252, 255)}
        spec = {v: "len %d\n" % n for n, v in names.items()}
        spec["d/" + "y" * 255] = "in d\n"
        low = self.layer("low", spec)
        m = self.mount_rw([low])
        mnt = m.path
        for n, name in names.items():
            self.assertEqual(open(os.path.join(mnt, name)).read(),
                             "len %d\n" % n)
            os.unlink(os.path.join(mnt, name))
            self.assertFalse(os.path.lexists(os.path.join(mnt, name)))
            up = os.path.join(m.upper, name)
            if n + 4 <= 255:
                self.assertTrue(os.path.exists(os.path.join(
                    m.upper, ".wh." + name)), n)
            else:
                # Too long for ".wh.": a 0/0 character device instead.
                st = os.lstat(up)
                self.assertTrue(stat.S_ISCHR(st.st_mode) and
                                st.st_rdev == 0, n)
        # A rename away from a long lower name also needs its whiteout.
        os.rename(os.path.join(mnt, "d", "y" * 255),
                  os.path.join(mnt, "d", "short"))
        self.assertEqual(os.listdir(os.path.join(mnt, "d")), ["short"])
        # A 256-byte name is refused, never cut.
        self.assertEqual(errno_of(open, os.path.join(mnt, "z" * 256), "w"),
                         errno.ENAMETOOLONG)
        m.unmount()
        self._mounts.remove(m)
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        self.assertEqual(sorted(os.listdir(m2.path)), ["d"])
        self.assertEqual(os.listdir(os.path.join(m2.path, "d")), ["short"])

    def test_tree_4096_deep(self):
        depth = 4096
        low = self.deep_tree("low", depth)
        m = self.mount_rw([low])
        fd = lfstest.walk_down(m.path, depth)
        try:
            with open(os.open("leaf", os.O_RDONLY, dir_fd=fd)) as f:
                self.assertEqual(f.read(), "deep\n")
            # A write copies up 4096 parents.
            with open(os.open("leaf", os.O_WRONLY | os.O_APPEND,
                              dir_fd=fd), "w") as f:
                f.write("written\n")
            os.mkdir("new", dir_fd=fd)
        finally:
            os.close(fd)
        ufd = lfstest.walk_down(m.upper, depth)
        try:
            with open(os.open("leaf", os.O_RDONLY, dir_fd=ufd)) as f:
                self.assertEqual(f.read(), "deep\nwritten\n")
        finally:
            os.close(ufd)
        # The lower layer is untouched.
        lfd = lfstest.walk_down(low, depth)
        try:
            with open(os.open("leaf", os.O_RDONLY, dir_fd=lfd)) as f:
                self.assertEqual(f.read(), "deep\n")
            self.assertEqual(os.listdir(lfd), ["leaf"])
        finally:
            os.close(lfd)
        self.assertEqual(m.unmount(), 0)

    def test_tree_deeper_than_a_thread_stack(self):
        # Depth has no limit in a layer; copy-up must not recurse once per
        # level (a worker thread's stack ends between 8192 and 16384
        # levels; with ASan before 4096).
        depth = 20000
        low = self.deep_tree("low", depth)
        m = self.mount_rw([low])
        fd = lfstest.walk_down(m.path, depth)
        try:
            e = errno_of(lambda: os.close(os.open(
                "leaf", os.O_WRONLY | os.O_APPEND, dir_fd=fd)))
        finally:
            os.close(fd)
        self.assertIsNone(m.proc.poll(), "the daemon died at depth %d"
                          % depth)
        self.assertIn(e, (0, errno.ENAMETOOLONG, errno.ELOOP, errno.EMLINK),
                      os.strerror(e))

    def test_whiteout_and_opaque_markers_of_the_wrong_type(self):
        top = self.layer("top", {
            ".wh.foo/": None,                # a whiteout that is a directory
            ".wh.foo/inside": "inside\n",
            ".wh.bar": ("symlink", "/etc/shadow"),  # one that is a symlink
            "dir/.wh..wh..opq/": None,       # an opaque marker directory
            "file": "top file\n",            # opaque xattr on a file
            "sub/.wh..wh..opq": ("symlink", "/etc"),
        })
        os.setxattr(os.path.join(top, "file"), "trusted.overlay.opaque",
                    b"y")
        low = self.layer("low", {"foo": "foo\n", "bar": "bar\n",
                                 "dir/below": "below\n",
                                 "file/x": "under a file\n",
                                 "sub/below": "below\n"})
        m = self.mount_rw([top, low])
        view = snapshot(m.path)
        self.assertFalse([k for k in view if ".wh." in k],
                         "markers shown: %s" % sorted(view))
        self.assertEqual(open(os.path.join(m.path, "file")).read(),
                         "top file\n")
        self.assertTrue(os.path.isfile(os.path.join(m.path, "file")))
        # Whatever layerfs makes of them, the view is stable and usable.
        self.assertEqual(snapshot(m.path), view)
        for rel in ("foo", "bar", "dir/below", "sub/below"):
            p = os.path.join(m.path, rel)
            if os.path.exists(p):
                with open(p, "a") as f:
                    f.write("changed\n")
                os.unlink(p)
            self.assertFalse(os.path.lexists(p))
        subprocess.run(["rm", "-rf", os.path.join(m.path, "dir")],
                       check=True)
        self.assert_no_mark(m.upper, m.path)
        sys.stderr.write("wrong-type markers, view: %s\n" % sorted(view))

    def access_or_free(self, m, path, flags=os.O_RDONLY, op="r",
                       fifos=()):
        """access_in_child; when it hangs, the mount goes (its daemon
        killed, its connection aborted), a writer frees a daemon thread
        stuck on one of the fifos, and the test fails."""
        e, child = access_in_child(path, flags, op)
        if e is not None:
            return e
        for fifo in fifos:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))
        m.kill()
        child.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)
        self.fail("%s (flags %#o, %s) hung" % (path, flags, op))

    def metacopy_over_special_files(self):
        """A top layer of kernel metadata-only copies whose data, at
        their redirect or at their own path below, is a fifo, a device
        node (/dev/urandom's) or a directory: the layers and the fifos."""
        top = self.layer("top", {"d/viafifo": "", "d/viadev": "",
                                 "d/viadir": "", "d/ownfifo": "",
                                 "d/owndev": ""})
        bottom = self.layer("bottom", {"dir/f": "in a directory\n",
                                       "keep": "keep\n", "d/": None})
        fifos = [os.path.join(bottom, p) for p in ("pipe", "d/ownfifo")]
        for fifo in fifos:
            os.mkfifo(fifo)
        for dev in ("rnd", "d/owndev"):
            os.mknod(os.path.join(bottom, dev), stat.S_IFCHR | 0o666,
                     os.makedev(1, 9))
        redirects = {"viafifo": b"/pipe", "viadev": b"/rnd",
                     "viadir": b"/dir"}
        for name in ("viafifo", "viadev", "viadir", "ownfifo", "owndev"):
            p = os.path.join(top, "d", name)
            os.truncate(p, 16)
            os.setxattr(p, "trusted.overlay.metacopy", b"")
            if name in redirects:
                os.setxattr(p, "trusted.overlay.redirect", redirects[name])
        os.setxattr(os.path.join(top, "d"), "trusted.overlay.impure", b"y")
        return top, bottom, fifos

    def test_metacopy_data_that_is_no_regular_file(self):
        self.require_metacopy()
        # Read, the data would be a fifo's (the open blocked for good,
        # the reader unkillable, the mount stuck), a device's (read by
        # the root daemon: a layer could show a disk) or a directory's.
        # Only a regular file holds data: the rest fails with EIO, as
        # kernel overlayfs answers, whether the file is read, copied up
        # with its data, or copied up as metadata first.
        import overlay_util as ovl
        top, bottom, fifos = self.metacopy_over_special_files()
        names = ("viafifo", "viadev", "viadir", "ownfifo", "owndev")
        if lfstest.kernel_overlay_available():
            kmnt = self.mkdirs("kmnt")
            ovl.mount_overlay(kmnt, [top, bottom],
                              extra="metacopy=on,redirect_dir=follow")
            self.before_cleanup(lambda: ovl.umount(kmnt))
            for name in names:
                e, _ = access_in_child(os.path.join(kmnt, "d", name))
                self.assertEqual(e, errno.EIO, "kernel: " + name)
        ro = self.mount([top, bottom])
        rw = self.mount_rw([top, bottom])
        for m in (ro, rw):
            for name in names:
                p = os.path.join(m.path, "d", name)
                st = os.stat(p)
                self.assertTrue(stat.S_ISREG(st.st_mode), name)
                self.assertEqual(self.access_or_free(m, p, fifos=fifos),
                                 errno.EIO, name)
            self.assertEqual(read(os.path.join(m.path, "keep")), b"keep\n")
        for name in names:
            p = os.path.join(rw.path, "d", name)
            self.assertEqual(self.access_or_free(
                rw, p, os.O_WRONLY | os.O_APPEND, "w", fifos), errno.EIO,
                name)
            os.chmod(p, 0o600)  # a copy of the metadata only
            self.assertEqual(self.access_or_free(rw, p, fifos=fifos),
                             errno.EIO, name)
            self.assertEqual(self.access_or_free(
                rw, p, os.O_WRONLY | os.O_APPEND, "w", fifos), errno.EIO,
                name)
        self.assertEqual(rw.unmount(), 0)

    def test_metacopy_data_swapped_for_a_fifo_with_udba(self):
        self.require_metacopy()
        # With udba=reval the host may change a lower layer: the data of
        # a file chmod'ed through an earlier mount (a copy of its
        # metadata only; this mode makes none itself) replaced by a fifo
        # or a device node reads as EIO.
        low = self.layer("low", {"f": "data\n", "g": "data\n"})
        m = self.mount_rw([low])
        for name in ("f", "g"):
            os.chmod(os.path.join(m.path, name), 0o600)
            self.assertIn("user.layerfs.metacopy",
                          os.listxattr(os.path.join(m.upper, name)))
        upper, work = m.upper, m.work
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([low], upper, work, opts=("udba=reval", "timeout=0"),
                       mnt=self.path("udba"))
        for name in ("f", "g"):
            os.stat(os.path.join(m.path, name))  # the data's layer noted
        fifo = os.path.join(low, "f")
        os.unlink(fifo)
        os.mkfifo(fifo)
        os.unlink(os.path.join(low, "g"))
        os.mknod(os.path.join(low, "g"), stat.S_IFCHR | 0o666,
                 os.makedev(1, 9))
        for name in ("f", "g"):
            self.assertEqual(self.access_or_free(
                m, os.path.join(m.path, name), fifos=[fifo]), errno.EIO,
                name)
        self.assertEqual(m.unmount(), 0)

    def test_malformed_redirect_of_our_own_is_not_followed(self):
        # A directory renamed through the mount records where its lower
        # content is (user.layerfs.redirect, "/src").  Changed in the
        # upper layer to "//src", "/src/" or "/x/../src", as the kernel's
        # redirects can be malformed: not followed either (the listing
        # failed with EXDEV, or followed it), the directory merges at its
        # own path.  layertool holds the mark to the same rule: its diff
        # and export of that upper stop with one line naming the mark,
        # where they followed "/src/" and "/x/../src" to "src".
        low = self.layer("low", {"src/below": "b\n"})
        for i, bad in enumerate((b"//src", b"/src/", b"/x/../src")):
            m = self.mount_rw([low], name="rw%d" % i)
            os.rename(os.path.join(m.path, "src"),
                      os.path.join(m.path, "dst"))
            lfstest.write(os.path.join(m.path, "dst", "new"), "n\n")
            up = os.path.join(m.upper, "dst")
            self.assertEqual(os.getxattr(up, "user.layerfs.redirect"),
                             b"/src")
            upper, work = m.upper, m.work
            self.assertEqual(m.unmount(), 0)
            self._mounts.remove(m)
            os.setxattr(up, "user.layerfs.redirect", bad)
            m = self.mount([low], upper, work, mnt=self.path("again%d" % i))
            self.assertEqual(sorted(os.listdir(os.path.join(m.path, "dst"))),
                             ["new"], bad)
            self.assertEqual(m.unmount(), 0)
            self._mounts.remove(m)
            out = self.path("export%d.tar" % i)
            for args in (["diff", upper, low],
                         ["export", "--lower", low, upper, out]):
                r = subprocess.run([lfstest.LAYERTOOL] + args,
                                   capture_output=True, text=True,
                                   timeout=60)
                self.assertNotEqual(r.returncode, 0, (bad, args, r.stdout))
                self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
                self.assertIn("'/dst' has a malformed redirect mark",
                              r.stderr)
            self.assertFalse(os.path.lexists(out))

    def test_directory_with_many_entries(self):
        low = self.mkdirs("low")
        big = os.path.join(low, "big")
        os.mkdir(big)
        for i in range(BIG_DIR):
            open(os.path.join(big, "e%07d" % i), "w").close()
        m = self.mount_rw([low])
        d = os.path.join(m.path, "big")
        names = os.listdir(d)
        self.assertEqual(len(names), BIG_DIR)
        self.assertEqual(len(set(names)), BIG_DIR)
        for i in (0, BIG_DIR // 2, BIG_DIR - 1):
            os.unlink(os.path.join(d, "e%07d" % i))
        open(os.path.join(d, "added"), "w").close()
        names = set(os.listdir(d))
        self.assertEqual(len(names), BIG_DIR - 2)
        self.assertIn("added", names)
        self.assertNotIn("e%07d" % (BIG_DIR // 2), names)


if __name__ == "__main__":
    lfstest.main()
