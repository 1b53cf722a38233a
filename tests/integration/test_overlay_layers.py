#!/usr/bin/env python3
"""Layers written by kernel overlayfs, stacked below a layerfs mount.

The upper directory of a kernel overlayfs mount made with metacopy=on
(containers-storage's default on some distributions) holds
metadata-only copies: files with the metadata, size included, and no
data, whose data is in the layers below, at their own path or at the one
their `trusted.overlay.redirect` names after a rename.  Stacked as a
lower layer of layerfs, such a layer must read as kernel overlayfs reads
it, never as empty files, through every way a file is read: opened,
copied up with its data, copied up as metadata only and read again after
a remount, and served without handles on a read-only mount.
"""

import errno
import os
import shutil
import stat
import unittest

import lfstest
import overlay_util as ovl
from lfstest import LayerfsTestCase, read, snapshot

BIG = os.urandom(200 * 1024)
SPARSE_AT = 512 * 1024


class KernelMetacopyLayers(LayerfsTestCase):

    def setUp(self):
        super().setUp()
        self.require_kernel_overlay()
        self.base = self.layer("base", {"small": "small\n",
                                        "d/f": "in d\n",
                                        "m": "moved later\n",
                                        "keep": "untouched\n"})
        with open(os.path.join(self.base, "big"), "wb") as f:
            f.write(BIG)
        with open(os.path.join(self.base, "sparse"), "wb") as f:
            f.truncate(2 * SPARSE_AT)
            f.seek(SPARSE_AT)
            f.write(b"data in the middle")
        # Layer k1: the kernel's metadata-only copies of the base, with
        # a relative redirect (renamed in its directory) and an absolute
        # one (moved to another directory).
        self.k1 = self.kernel_changes([self.base], "k1", self.change_k1)
        # Layer k2 over k1: copies of copies, one renamed again, so that
        # the data is two layers and two redirects down.
        self.k2 = self.kernel_changes([self.k1, self.base], "k2",
                                      self.change_k2)
        self.layers = [self.k2, self.k1, self.base]

    def kernel_changes(self, lower, name, change):
        upper, work, mnt = self.mkdirs(name, name + "-w", name + "-m")
        ovl.mount_overlay(mnt, lower, upper, work,
                          "metacopy=on,redirect_dir=on")
        try:
            change(mnt)
        finally:
            ovl.umount(mnt)
        return upper

    @staticmethod
    def change_k1(mnt):
        os.chmod(os.path.join(mnt, "big"), 0o600)
        os.chmod(os.path.join(mnt, "small"), 0o640)
        os.chmod(os.path.join(mnt, "sparse"), 0o600)
        os.chown(os.path.join(mnt, "d/f"), 5, 5)
        os.rename(os.path.join(mnt, "d/f"), os.path.join(mnt, "d/g"))
        os.chmod(os.path.join(mnt, "m"), 0o604)
        os.rename(os.path.join(mnt, "m"), os.path.join(mnt, "d/m2"))

    @staticmethod
    def change_k2(mnt):
        os.chmod(os.path.join(mnt, "small"), 0o600)
        os.rename(os.path.join(mnt, "d/g"), os.path.join(mnt, "d/h"))

    def kernel_view(self):
        """The three layers as kernel overlayfs shows them."""
        mnt = self.mkdirs("kview")
        ovl.mount_overlay(mnt, self.layers, extra="metacopy=on,redirect_dir=on")
        self.before_cleanup(lambda: ovl.umount(mnt))
        return mnt

    def assert_layers_are_what_this_tests(self):
        # The kernel made metadata-only copies and redirects: a file of
        # k1 holds no data, and d/h of k2 names d/g.
        big = os.path.join(self.k1, "big")
        self.assertEqual(os.getxattr(big, "trusted.overlay.metacopy"), b"")
        self.assertEqual(os.lstat(big).st_size, len(BIG))
        with open(big, "rb") as f:
            self.assertNotEqual(f.read(), BIG)
        self.assertEqual(os.getxattr(os.path.join(self.k2, "d/h"),
                                     "trusted.overlay.redirect"), b"g")

    def test_read_as_the_kernel_reads_them(self):
        self.assert_layers_are_what_this_tests()
        kview = self.kernel_view()
        want = snapshot(kview)
        for opts in ((), ("file_handles=1",)):
            with self.subTest(read_only=opts):
                m = self.mount(self.layers, opts=opts)
                self.assertEqual(snapshot(m.path), want)
                self.assertEqual(read(os.path.join(m.path, "d/h")), b"in d\n")
                st = os.stat(os.path.join(m.path, "big"))
                self.assertEqual((stat.S_IMODE(st.st_mode), st.st_size),
                                 (0o600, len(BIG)))
                # Blocks are the data's, as the kernel shows them.
                self.assertGreater(st.st_blocks * 512, len(BIG) // 2)
                self.assertEqual(os.listxattr(os.path.join(m.path, "big")),
                                 [])
        m = self.mount_rw(self.layers)
        self.assertEqual(snapshot(m.path), want)

    def test_copied_up_with_their_data(self):
        m = self.mount_rw(self.layers)
        j = lambda *a: os.path.join(m.path, *a)
        with open(j("small"), "a") as f:
            f.write("appended\n")
        with open(j("d/h"), "r+") as f:
            f.seek(0, os.SEEK_END)
            f.write("more\n")
        with open(j("d/m2"), "r+b") as f:
            f.write(b"M")
        self.assertEqual(read(j("small")), b"small\nappended\n")
        self.assertEqual(read(j("d/h")), b"in d\nmore\n")
        self.assertEqual(read(j("d/m2")), b"Moved later\n")
        # The copies are whole files, without the kernel's marks.
        for name, data in (("small", b"small\nappended\n"),
                           ("d/h", b"in d\nmore\n")):
            up = os.path.join(m.upper, name)
            self.assertEqual(read(up), data)
            self.assertEqual([n for n in os.listxattr(up)
                              if n.startswith("trusted.overlay.")], [])

    def test_metadata_only_copies_of_them_survive_a_remount(self):
        self.require_metacopy()
        m = self.mount_rw(self.layers)
        j = lambda *a: os.path.join(m.path, *a)
        os.chmod(j("big"), 0o644)
        os.chown(j("d/h"), 7, 7)
        os.chmod(j("sparse"), 0o644)
        os.rename(j("d/m2"), j("m3"))
        # Metadata only: no data was copied.
        self.assertEqual(os.stat(os.path.join(m.upper, "big")).st_blocks *
                         512 < len(BIG), True)
        expect = {"big": BIG, "d/h": b"in d\n", "m3": b"moved later\n"}
        for name, data in expect.items():
            self.assertEqual(read(j(name)), data, name)
        upper, work = m.upper, m.work
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount(self.layers, upper, work, mnt=self.path("again"))
        j = lambda *a: os.path.join(m.path, *a)
        for name, data in expect.items():
            self.assertEqual(read(j(name)), data, name)
        self.assertEqual(os.stat(j("d/h")).st_uid, 7)
        with open(j("sparse"), "rb") as f:
            f.seek(SPARSE_AT)
            self.assertEqual(f.read(18), b"data in the middle")
        # The data comes up on the first write, after the remount too.
        with open(j("big"), "r+b") as f:
            f.write(b"X")
        self.assertEqual(read(j("big")), b"X" + BIG[1:])
        self.assertEqual(read(os.path.join(upper, "big")), b"X" + BIG[1:])

    def test_marks_that_lead_nowhere_fail_the_read(self):
        # A metacopy whose data is in no layer below, one whose redirect
        # climbs out, one that names a path of the host the layers lack:
        # the open fails (ENOENT where no data is found, EIO for a
        # malformed redirect), nothing outside the layers is read, and
        # the rest of the view stands.
        marks = {"orphan": None, "climbs": b"/../../../../etc/passwd",
                 "host": b"/etc/passwd", "relative": b"../keep",
                 "dslash": b"//keep", "trail": b"/keep/"}
        top = self.layer("top", {name: "" for name in marks})
        for name, redirect in marks.items():
            p = os.path.join(top, name)
            os.truncate(p, 4096)
            os.setxattr(p, "trusted.overlay.metacopy", b"")
            if redirect:
                os.setxattr(p, "trusted.overlay.redirect", redirect)
        m = self.mount([top] + self.layers)
        for name, err in (("orphan", errno.ENOENT), ("climbs", errno.EIO),
                          ("host", errno.ENOENT), ("relative", errno.EIO),
                          ("dslash", errno.EIO), ("trail", errno.EIO)):
            with self.assertRaises(OSError) as cm:
                read(os.path.join(m.path, name))
            self.assertEqual(cm.exception.errno, err, name)
        self.assertEqual(read(os.path.join(m.path, "keep")), b"untouched\n")

    def test_marks_of_files_with_data_or_of_a_user_are_not_followed(self):
        # Only a file that can be the kernel's copy is looked at (its
        # directory marked impure, or no blocks for its size), and only
        # trusted.* marks count without `userxattr`: a file with its own
        # data shows it, as does one a user marked.
        top = self.layer("top", {"own": "own data\n", "user": ""})
        os.setxattr(os.path.join(top, "own"), "trusted.overlay.metacopy", b"")
        os.setxattr(os.path.join(top, "own"), "trusted.overlay.redirect",
                    b"/keep")
        os.truncate(os.path.join(top, "user"), 4096)
        os.setxattr(os.path.join(top, "user"), "user.overlay.metacopy", b"")
        m = self.mount([top] + self.layers)
        self.assertEqual(read(os.path.join(m.path, "own")), b"own data\n")
        self.assertEqual(read(os.path.join(m.path, "user")), bytes(4096))


    def test_user_marks_refused_with_userxattr_as_the_kernel_does(self):
        # With userxattr the kernel turns metacopy and redirects off: a
        # file marked user.overlay.metacopy is refused (EPERM), and a
        # redirect is not followed.  layerfs followed both, so a layer
        # anyone can write gave a file of its author's, mode 0644, the
        # data of a 0600 file of the layer below, and a directory of
        # theirs another directory's entries.
        self.require_root()
        low = self.layer("ux-low", {"secret": ("file", b"secret\n", 0o600),
                                    "d/inner": "inner"})
        top = self.layer("ux-top", {"f": ("file", b"", 0o644), "rd/own": ""})
        f = os.path.join(top, "f")
        os.truncate(f, 7)
        os.setxattr(f, "user.overlay.metacopy", b"")
        os.setxattr(f, "user.overlay.redirect", b"/secret")
        os.setxattr(os.path.join(top, "rd"), "user.overlay.redirect", b"/d")
        kmnt = self.mkdirs("ux-kmnt")
        ovl.mount_overlay(kmnt, [top, low], extra="userxattr")
        self.before_cleanup(lambda: ovl.umount(kmnt))
        m = self.mount([top, low], opts=("userxattr",))
        for root in (kmnt, m.path):
            with self.subTest(root=root):
                self.assertEqual(lfstest.errno_of(read,
                                                  os.path.join(root, "f")),
                                 errno.EPERM)
        self.assertNotIn("inner", os.listdir(os.path.join(m.path, "rd")))
        self.assertEqual(read(os.path.join(m.path, "secret")), b"secret\n")


class KernelDirRedirects(LayerfsTestCase):
    """Directories a kernel mount with redirect_dir=on renamed: the upper
    copy carries overlay.redirect, a name in the same parent or a path
    from the root, and its content from the layers below is found there,
    through chains of such renames across layers."""

    def setUp(self):
        super().setUp()
        self.require_kernel_overlay()
        base = self.layer("base", {
            "a/f1": "f1\n", "a/sub/f2": "f2\n", "b/x": "x\n",
            "c/c1/deep": "deep\n", "c/keep": "keep\n"})
        k1 = self.kernel_changes([base], "k1", self.change_k1)
        k2 = self.kernel_changes([k1, base], "k2", self.change_k2)
        self.layers = [k2, k1, base]

    def kernel_changes(self, lower, name, change):
        upper, work, mnt = self.mkdirs(name, name + "-w", name + "-m")
        ovl.mount_overlay(mnt, lower, upper, work,
                          "metacopy=on,redirect_dir=on")
        try:
            change(lambda *a: os.path.join(mnt, *a))
        finally:
            ovl.umount(mnt)
        return upper

    @staticmethod
    def change_k1(j):
        os.rename(j("a"), j("a2"))                # relative redirect
        os.rename(j("b"), j("c/b2"))              # absolute redirect
        lfstest.write(j("a2/new"), "new\n")
        os.chmod(j("a2/f1"), 0o600)               # a metacopy inside
        os.mkdir(j("a"))                          # the old name, anew
        lfstest.write(j("a/other"), "other\n")

    @staticmethod
    def change_k2(j):
        os.rename(j("a2"), j("a3"))               # a chain of two
        os.rename(j("c/b2"), j("b3"))             # absolute over absolute
        os.rename(j("c"), j("c_new"))             # the parent of b2 was c

    def kernel_view(self, name, upper=False):
        mnt = self.mkdirs(name)
        if upper:
            ovl.mount_overlay(mnt, self.layers, self.mkdirs(name + "-u"),
                              self.mkdirs(name + "-w"),
                              "metacopy=on,redirect_dir=on")
        else:
            ovl.mount_overlay(mnt, self.layers,
                              extra="metacopy=on,redirect_dir=on")
        self.before_cleanup(lambda: ovl.umount(mnt))
        return mnt

    def test_read_as_the_kernel_reads_them(self):
        self.assertEqual(os.getxattr(os.path.join(self.layers[0], "a3"),
                                     "trusted.overlay.redirect"), b"a2")
        want = snapshot(self.kernel_view("kview"))
        self.assertEqual(read(os.path.join(self.path("kview"), "a3/sub/f2")),
                         b"f2\n")
        for rw in (False, True):
            with self.subTest(rw=rw):
                m = (self.mount_rw(self.layers) if rw
                     else self.mount(self.layers))
                self.assertEqual(snapshot(m.path), want)

    def test_redirects_through_directories_renamed_below(self):
        # A file's redirect, and a directory's relative one reached through
        # an absolute one, are paths through directories a lower layer
        # renamed: they lead where those renames lead.
        base = self.layer("tb", {"g/b": "hello\n", "p/g/b": "deep\n"})
        k1 = self.kernel_changes([base], "t1", lambda j: (
            os.rename(j("g"), j("f")), os.rename(j("p/g"), j("p/f"))))
        k2 = self.kernel_changes([k1, base], "t2", lambda j: (
            os.rename(j("f/b"), j("x")), os.rename(j("p/f"), j("q"))))
        self.layers = [k2, k1, base]
        want = snapshot(self.kernel_view("tview"))
        self.assertEqual(read(os.path.join(self.path("tview"), "x")),
                         b"hello\n")
        self.assertEqual(read(os.path.join(self.path("tview"), "q/b")),
                         b"deep\n")
        m = self.mount(self.layers)
        self.assertEqual(snapshot(m.path), want)

    def test_redirects_that_climb_out_or_lead_nowhere(self):
        # Followed beneath the layers only: ".." is not followed, a path
        # the layers lack adds nothing; the directory shows its own.
        top = self.layer("top", {"climbs/own": "1\n", "host/own": "2\n",
                                 "dots/own": "3\n"})
        for name, value in (("climbs", b"/../../../../etc"),
                            ("host", b"/etc"), ("dots", b"..")):
            os.setxattr(os.path.join(top, name), "trusted.overlay.redirect",
                        value)
        m = self.mount([top] + self.layers)
        for name in ("climbs", "host", "dots"):
            self.assertEqual(os.listdir(os.path.join(m.path, name)), ["own"])
        self.assertEqual(read(os.path.join(m.path, "a3/f1")), b"f1\n")

    def test_redirects_with_empty_components_are_not_followed(self):
        # "//src" and "/src/" (an empty component, a trailing "/"), and
        # "/": the kernel refuses them (EINVAL on lookup), and layerfs
        # does not follow them: the directory merges at its own path.
        top = self.layer("mtop", {"dslash/own": "1\n", "trail/own": "2\n",
                                  "root/own": "3\n", "good/own": "4\n"})
        bottom = self.layer("mbottom", {"src/below": "b\n",
                                        "dslash/mine": "m\n"})
        for name, value in (("dslash", b"//src"), ("trail", b"/src/"),
                            ("root", b"/"), ("good", b"/src")):
            os.setxattr(os.path.join(top, name), "trusted.overlay.redirect",
                        value)
        kmnt = self.mkdirs("kmal")
        ovl.mount_overlay(kmnt, [top, bottom], extra="redirect_dir=follow")
        self.before_cleanup(lambda: ovl.umount(kmnt))
        for name in ("dslash", "trail", "root"):
            with self.assertRaises(OSError) as cm:
                os.listdir(os.path.join(kmnt, name))
            self.assertEqual(cm.exception.errno, errno.EINVAL, name)
        self.assertEqual(sorted(os.listdir(os.path.join(kmnt, "good"))),
                         ["below", "own"])
        m = self.mount([top, bottom])
        for name, want in (("dslash", ["mine", "own"]), ("trail", ["own"]),
                           ("root", ["own"]), ("good", ["below", "own"])):
            self.assertEqual(sorted(os.listdir(os.path.join(m.path, name))),
                             want, name)

    def test_changes_through_them_match_the_kernel(self):
        kmnt = self.kernel_view("krw", upper=True)
        m = self.mount_rw(self.layers)

        def change(j):
            with open(j("a3/sub/f2"), "a") as f:  # a copy-up in them
                f.write("more\n")
            os.chmod(j("a3/f1"), 0o640)
            os.rename(j("a3"), j("a4"))           # moved again
            lfstest.write(j("c_new/c1/newf"), "n\n")
            os.rename(j("c_new/c1"), j("c1_moved"))
            shutil.rmtree(j("b3"))
            os.mkdir(j("b3"))

        for root in (kmnt, m.path):
            change(lambda *a, root=root: os.path.join(root, *a))
        want = snapshot(kmnt)
        self.assertEqual(snapshot(m.path), want)
        upper, work = m.upper, m.work
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount(self.layers, upper, work, mnt=self.path("again"))
        self.assertEqual(snapshot(m.path), want)


class KernelXwhiteouts(LayerfsTestCase):
    """Linux 6.7's xwhiteouts: in a lower directory whose opaque mark is
    "x", an empty regular file carrying overlay.whiteout is a whiteout
    (a layer that must not hold 0/0 devices, such as one inside another
    overlay mount, has them).  The directory itself is not opaque."""

    def setUp(self):
        super().setUp()
        self.require_kernel_overlay()
        self.bottom = self.layer("bottom", {
            "d/gone": "hidden\n", "d/full": "below\n", "d/kept": "kept\n",
            "d/sub/f": "sub\n", "plain/gone": "shown\n"})
        self.top = self.layer("top", {
            "d/gone": "", "d/full": "above\n", "d/own": "own\n",
            "d/sub/f": "", "plain/gone": ""})
        d = os.path.join(self.top, "d")
        os.setxattr(d, "trusted.overlay.opaque", b"x")
        os.setxattr(os.path.join(d, "sub"), "trusted.overlay.opaque", b"x")
        for name in ("gone", "full", "sub/f"):
            os.setxattr(os.path.join(d, name), "trusted.overlay.whiteout",
                        b"")
        # Not an xwhiteout: its directory lacks the "x" mark.
        os.setxattr(os.path.join(self.top, "plain/gone"),
                    "trusted.overlay.whiteout", b"")

    def test_hidden_as_the_kernel_hides_them(self):
        kmnt = self.kernel_overlay([self.top, self.bottom], "k", upper=False)
        m = self.mount([self.top, self.bottom])
        for sub in ("d", "d/sub"):
            self.assertEqual(sorted(os.listdir(os.path.join(m.path, sub))),
                             sorted(os.listdir(os.path.join(kmnt, sub))), sub)
        self.assertEqual(snapshot(os.path.join(m.path, "d")),
                         snapshot(os.path.join(kmnt, "d")))
        self.assertEqual(sorted(os.listdir(os.path.join(m.path, "d"))),
                         ["full", "kept", "own", "sub"])
        self.assertEqual(read(os.path.join(m.path, "d/full")), b"above\n")
        with self.assertRaises(FileNotFoundError):
            os.lstat(os.path.join(m.path, "d/gone"))
        # Without the mark an empty file is a file, in a listing and a
        # lookup alike (the kernel lists it and then fails its lookup).
        self.assertEqual(read(os.path.join(m.path, "plain/gone")), b"")

    def test_names_free_for_new_files_and_removal(self):
        m = self.mount_rw([self.top, self.bottom])
        j = lambda *a: os.path.join(m.path, *a)
        self.assertNotIn("gone", os.listdir(j("d")))
        with open(j("d/gone"), "x") as f:
            f.write("new\n")
        self.assertEqual(read(j("d/gone")), b"new\n")
        self.assertEqual(sorted(os.listdir(j("d"))),
                         ["full", "gone", "kept", "own", "sub"])
        # The marks stay the kernel's: none is copied up.
        self.assertEqual([n for n in os.listxattr(os.path.join(m.upper, "d"))
                          if n.startswith("trusted.overlay.")], [])
        shutil.rmtree(j("d"))
        self.assertEqual(sorted(os.listdir(m.path)), ["plain"])
        upper, work = m.upper, m.work
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        m = self.mount([self.top, self.bottom], upper, work,
                       mnt=self.path("again"))
        self.assertEqual(sorted(os.listdir(m.path)), ["plain"])


class LayerRootOpaque(LayerfsTestCase):
    """An opaque mark on a lower layer's root.  Kernel overlayfs builds
    the root from every layer and never reads a layer root's marks, so
    the xattr there hides nothing (containers/storage sets it on a layer
    directory for a layer tar's ./.wh..wh..opq), in the root's listing
    and in a redirect's path alike.  The dotwh file there, which the
    kernel does not know, keeps the OCI image spec's meaning: the
    layers below contribute nothing (README, "The layer model")."""

    def setUp(self):
        super().setUp()
        self.require_kernel_overlay()
        self.bottom = self.layer("bottom", {"bf": "bottom\n",
                                            "a/f": "a's\n",
                                            "d/x": "x\n"})
        self.top = self.make_top("top", redirect=True)

    def make_top(self, name, redirect):
        top = self.layer(name, {"tf": "top\n", "moved/own": "own\n"})
        if redirect:
            # moved is a/, renamed by a kernel mount into this layer.
            os.setxattr(os.path.join(top, "moved"),
                        "trusted.overlay.redirect", b"/a")
        return top

    def middle(self, name, mark=None):
        mid = self.layer(name, {"mf": "middle\n", "d/y": "y\n"})
        if mark == "file":
            lfstest.write(os.path.join(mid, ".wh..wh..opq"), "")
        elif mark:
            os.setxattr(mid, mark[0], mark[1])
        return mid

    def kernel_view(self, layers, name, extra="redirect_dir=follow"):
        mnt = self.mkdirs(name)
        ovl.mount_overlay(mnt, layers, extra=extra)
        self.before_cleanup(lambda: ovl.umount(mnt))
        return snapshot(mnt)

    def test_opaque_xattr_on_a_layer_root_hides_nothing(self):
        # With userxattr the kernel follows no redirect (it refuses
        # redirect_dir=follow): that variant has none.
        marks = (("trusted.overlay.opaque", b"y", "redirect_dir=follow"),
                 ("user.overlay.opaque", b"y", "userxattr"))
        for attr, value, kopts in marks:
            with self.subTest(attr=attr):
                mid = self.middle("mid-" + attr, (attr, value))
                user = kopts == "userxattr"
                top = (self.make_top("top-" + attr, redirect=False)
                       if user else self.top)
                layers = [top, mid, self.bottom]
                opts = ("userxattr",) if user else ()
                want = self.kernel_view(layers, "k-" + attr, kopts)
                self.assertIn("bf", want)
                self.assertIn("d/x", want)
                if not user:
                    self.assertEqual(want["moved/f"], want["a/f"])
                m = self.mount(layers, opts=opts)
                self.assertEqual(snapshot(m.path), want)
                rw = self.mount_rw(layers, opts=opts, name="rw-" + attr)
                self.assertEqual(snapshot(rw.path), want)
                # Changes below the root reach the layers below it.
                os.unlink(os.path.join(rw.path, "d/x"))
                lfstest.write(os.path.join(rw.path, "bf"), "changed\n")
                self.assertEqual(sorted(os.listdir(
                    os.path.join(rw.path, "d"))), ["y"])
                self.assertEqual(read(os.path.join(rw.path, "bf")),
                                 b"changed\n")

    def test_opaque_file_on_a_dotwh_layer_root_hides_the_layers_below(self):
        # The layer tar's ./.wh..wh..opq: the view is that of the layers
        # above the bottom only, as the kernel shows them without it.
        mid = self.middle("mid", "file")
        want = self.kernel_view([self.top, self.middle("mid-clean")], "k")
        self.assertNotIn("bf", want)
        m = self.mount([self.top, mid, self.bottom])
        self.assertEqual(snapshot(m.path), want)


if __name__ == "__main__":
    lfstest.main()
