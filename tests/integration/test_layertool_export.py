"""layertool export: an upper directory written by a real layerfs mount
becomes an OCI layer; imported again, the image shows exactly what the
mount showed.  Whiteouts of both formats, redirects, metadata-only
copies, hard links, xattrs and override_stat records each checked."""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile

import lfstest
import layertool_util as lt

BASE = {
    "bin/tool": ("file", b"#!/bin/sh\necho tool\n" * 100, 0o755),
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "usr/lib/b": "b",
    "usr/lib/c": "c",
    "opt/keep/x": "x",
    "opt/keep/deep/y": "y",
    "opt/drop/old": "old",
    "data/dir/a": "a",
    "data/dir/sub/b": "b" * 3000,
    "data/dir/link": ("symlink", "sub/b"),
    "data/other": "other",
}
TOP = {
    "data/dir/.wh.gone": "",
    "data/dir/top": "top",
}


def tar_names(path):
    with tarfile.open(path) as t:
        return [m.name for m in t.getmembers()]


def tar_entries(path):
    """Name, mode, size and link target of every member."""
    with tarfile.open(path) as t:
        return [(m.name, m.mode, m.size, m.linkname)
                for m in t.getmembers()]


class ExportTestBase(lfstest.LayerfsTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(lt.LAYERTOOL):
            self.fail("%s is missing: run make first" % lt.LAYERTOOL)
        self.require_root()

    def base_image(self):
        base = lt.tar_dir(self.layer("base", BASE), self.path("base.tar"))
        top = lt.tar_dir(self.layer("top", TOP), self.path("top.tar"))
        oci = lt.OciLayout(self.path("oci"))
        oci.add_image([(base, "gzip"), (top, "none")])
        img = self.path("img")
        r = lt.run_layertool(["import", oci.root, img])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return img, oci, [base, top]

    def export(self, args, code=0):
        r = lt.run_layertool(["export"] + list(args))
        self.assertEqual(r.returncode, code, r.stderr.decode())
        return r


class TestRoundTrip(ExportTestBase):
    """import -> mount -> change -> export -> import -> same tree."""

    def change(self, m):
        p = lambda *a: os.path.join(m.path, *a)  # noqa: E731
        os.makedirs(p("new"))
        with open(p("new", "file"), "w") as f:
            f.write("new file\n")
        os.setxattr(p("new", "file"), "user.test", b"kept")
        os.link(p("new", "file"), p("new", "file.link"))
        os.symlink("file", p("new", "sym"))
        with open(p("etc", "passwd"), "a") as f:
            f.write("user:x:1000:1000::/home/user:/bin/sh\n")
        os.unlink(p("usr", "lib", "b"))
        shutil.rmtree(p("opt", "keep"))
        shutil.rmtree(p("opt", "drop"))
        os.makedirs(p("opt", "drop"))
        with open(p("opt", "drop", "fresh"), "w") as f:
            f.write("fresh")
        os.rename(p("data", "dir"), p("moved"))
        os.unlink(p("moved", "a"))
        with open(p("moved", "added"), "w") as f:
            f.write("added")
        os.chmod(p("bin", "tool"), 0o700)
        os.chown(p("usr", "lib", "c"), 4321, 8765)
        # Metadata-only copies reached through a renamed directory, and
        # one renamed away from its data's path.
        os.chmod(p("moved", "sub", "b"), 0o600)
        os.chmod(p("data", "other"), 0o640)
        os.rename(p("data", "other"), p("new", "other"))

    def assert_marks(self, upper):
        self.assertEqual(os.getxattr(os.path.join(upper, "moved"),
                                     "user.layerfs.redirect"), b"/data/dir")
        # Empty: the data is at the file's own path below.
        self.assertEqual(os.getxattr(os.path.join(upper, "bin", "tool"),
                                     "user.layerfs.metacopy"), b"")
        self.assertEqual(os.getxattr(os.path.join(upper, "moved", "sub",
                                                  "b"),
                                     "user.layerfs.metacopy"), b"")
        self.assertEqual(os.getxattr(os.path.join(upper, "new", "other"),
                                     "user.layerfs.metacopy"), b"/data/other")

    def round_trip(self, opts=()):
        img, oci, blobs = self.base_image()
        lowers = lt.image_layers(img)
        m = self.mount_rw(lowers, opts=opts)
        self.change(m)
        want = lfstest.snapshot(m.path, xattrs=True)
        self.assertEqual(m.unmount(), 0)
        self.assert_marks(m.upper)

        # 1. export --image: the new image, as layerrun commit makes it.
        new = self.path("img2")
        r = self.export(["--image", img, "--out", new,
                         "--lower", ":".join(lowers), m.upper])
        with open(os.path.join(new, "config.json"), "rb") as f:
            cfg = f.read()
        self.assertEqual(r.stdout.decode().strip(),
                         "sha256:" + hashlib.sha256(cfg).hexdigest())
        cfg = json.loads(cfg)
        with open(os.path.join(new, "image.json")) as f:
            ix = json.load(f)
        self.assertEqual(len(ix["layers"]), 3)
        self.assertEqual(cfg["rootfs"]["diff_ids"],
                         [l["diff_id"] for l in ix["layers"]])
        self.assertEqual(cfg["history"][-1]["created_by"],
                         "layertool export")
        mnt = self.mount(lt.image_layers(new))
        self.assertEqual(lfstest.snapshot(mnt.path, xattrs=True), want)
        self.assertEqual(os.stat(os.path.join(mnt.path, "new", "file")).st_ino,
                         os.stat(os.path.join(mnt.path, "new",
                                              "file.link")).st_ino)
        mnt.unmount()

        # 2. export to a tarball, packed into an OCI layout with the base
        # layers and imported like any image.
        out = self.path("layer.tar")
        self.export(["--lower", ":".join(lowers), m.upper, out])
        self.assertEqual(lt.sha256_file(out), ix["layers"][2]["diff_id"])
        names = tar_names(out)
        self.assertIn("moved/.wh..wh..opq", names)
        self.assertIn("data/.wh.dir", names)
        self.assertIn("usr/lib/.wh.b", names)
        oci2 = lt.OciLayout(self.path("oci2"))
        oci2.add_image([(blobs[0], "gzip"), (blobs[1], "none"),
                        (out, "zstd")])
        img3 = self.path("img3")
        r = lt.run_layertool(["import", oci2.root, img3])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        mnt = self.mount(lt.image_layers(img3))
        self.assertEqual(lfstest.snapshot(mnt.path, xattrs=True), want)

    def test_symlink_climbing_above_the_root(self):
        """`ln -s ../../../../bin/sh /usr/bin/sh2` in a container is
        legal (".." at "/" stays at "/"): its commit used to fail, since
        import refused the target as leaving the layer."""
        img, _, _ = self.base_image()
        up = self.layer("upper", {
            "usr/bin/sh2": ("symlink", "../../../../bin/sh")})
        new = self.path("img2")
        self.export(["--image", img, "--out", new, up])
        layer = lt.image_layers(new)[0]
        self.assertEqual(os.readlink(os.path.join(layer, "usr", "bin",
                                                  "sh2")), "../../bin/sh")

    def test_image_config_that_is_no_object(self):
        # A config.json that parses but is no object gave memory never
        # written as its reason, after the new layer had gone into the
        # store.  Now: one line, and the store as it was.
        img, _, _ = self.base_image()
        with open(os.path.join(img, "config.json"), "w") as f:
            f.write("[1, 2]")
        store = os.path.join(os.path.dirname(img), ".layerstore")
        before = lt.store_entries(store)
        self.assertTrue(before)
        up = self.layer("upper", {"new": "x"})
        r = self.export(["--image", img, "--out", self.path("img2"), up],
                        code=2)
        err = r.stderr.decode()
        self.assertEqual(err, "layertool: image '%s': config.json: not a "
                         "JSON object\n" % img)
        self.assertEqual(lt.store_entries(store), before)
        self.assertFalse(os.path.lexists(self.path("img2")))

    def test_round_trip_dotwh_upper(self):
        self.require_metacopy()
        self.round_trip()

    def test_round_trip_overlay_whiteouts(self):
        self.require_metacopy()
        self.round_trip(opts=("whiteout=overlay",))

    def test_missing_lower_is_one_clear_error(self):
        img, _, _ = self.base_image()
        m = self.mount_rw(lt.image_layers(img))
        os.chmod(os.path.join(m.path, "usr", "lib", "c"), 0o600)
        os.rename(os.path.join(m.path, "data", "dir"),
                  os.path.join(m.path, "moved"))
        m.unmount()
        out = self.path("out.tar")
        r = self.export([m.upper, out], code=2)
        err = r.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        # The first mark in walk order (names sorted): /moved.
        self.assertIn("'/moved'", err)
        self.assertIn("--lower", err)
        self.assertEqual([n for n in os.listdir(self.tmp)
                          if n.startswith("out.tar")], [])

    def test_metacopy_data_that_is_a_fifo_is_refused(self):
        # The lower data of a metadata-only copy was opened blocking and
        # checked after: a fifo there blocked the export for good.
        for mark in ("user.overlay.metacopy", "user.layerfs.metacopy"):
            with self.subTest(mark=mark):
                low = self.mkdirs("low-" + mark)
                up = self.mkdirs("up-" + mark)
                os.mkfifo(os.path.join(low, "p"))
                with open(os.path.join(up, "p"), "w"):
                    pass
                os.setxattr(os.path.join(up, "p"), mark, b"")
                out = self.path("out-%s.tar" % mark)
                try:
                    r = lt.run_layertool(["export", "--lower", low, up,
                                          out], timeout=20)
                except subprocess.TimeoutExpired:
                    self.fail("export blocked on the fifo")
                err = r.stderr.decode()
                self.assertEqual(r.returncode, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("'/p' is not a regular file", err)
                self.assertFalse(os.path.lexists(out))

    def test_kernel_overlay_upper(self):
        """An upper written by kernel overlayfs (redirect_dir, metacopy)
        exports to the same tree the kernel showed."""
        self.require_kernel_overlay()
        img, _, _ = self.base_image()
        lowers = lt.image_layers(img)
        # The kernel reads only overlay-format whiteouts: give it the
        # image's layers converted (copies, the store stays as it is).
        klow = []
        for i, l in enumerate(lowers):
            d = self.path("klow%d" % i)
            subprocess.run(["cp", "-a", l, d], check=True)
            lt.run_layertool(["convert", "--to", "overlay", d], check=True)
            klow.append(d)
        up, work, mnt = self.mkdirs("kup", "kwork", "kmnt")
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            "lowerdir=%s,upperdir=%s,workdir=%s,"
                            "redirect_dir=on,metacopy=on,index=off"
                            % (":".join(klow), up, work), mnt],
                           capture_output=True)
        if r.returncode != 0:
            self.skipTest("kernel overlayfs refused redirect_dir/metacopy: "
                          + r.stderr.decode().strip())
        try:
            os.rename(os.path.join(mnt, "data", "dir"),
                      os.path.join(mnt, "moved"))
            os.chmod(os.path.join(mnt, "bin", "tool"), 0o700)
            os.unlink(os.path.join(mnt, "usr", "lib", "b"))
            want = lfstest.snapshot(mnt)
        finally:
            subprocess.run(["umount", mnt], check=True)
        names = []
        for dirpath, dirs, files in os.walk(up):
            for n in dirs + files:
                names += os.listxattr(os.path.join(dirpath, n),
                                      follow_symlinks=False)
        for mark in ("trusted.overlay.redirect", "trusted.overlay.metacopy"):
            if mark not in names:
                self.skipTest("the kernel wrote no %s mark" % mark)
        out = self.path("k.tar")
        self.export(["--lower", ":".join(klow), up, out])
        r = lt.run_layertool(["import", out, self.path("kimg")])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        m = self.mount(lt.image_layers(self.path("kimg")) + lowers)
        self.assertEqual(lfstest.snapshot(m.path), want)


class TestIndexedHardLinks(ExportTestBase):
    """A lower file with several names, changed through one of them: the
    mount shows every name as the copy (the index in the work
    directory), and so must the layer export writes with --work, also
    for names the upper directory never held."""

    LOWER = {
        "a/f": "shared data\n",
        "a/g": ("hardlink", "a/f"),
        "deep/er/h": ("hardlink", "a/f"),
        "moved/i": ("hardlink", "a/f"),
        "b/x": "x data\n",
        "b/y": ("hardlink", "b/x"),
        "s/l": ("symlink", "target"),
        "s/m": ("hardlink", "s/l"),
        "s/n": ("hardlink", "s/l"),
    }

    def check(self, change, expect_links, without_work="warns"):
        """without_work: what an export without --work gives: "warns"
        (other entries, and a warning), "silent" (other entries: no
        upper name is left to warn of) or "same" (no index involved)."""
        lower = self.layer("lower", self.LOWER)
        m = self.mount_rw([lower])
        change(m.path)
        want = lfstest.snapshot(m.path, inodes=True)
        m.unmount()
        out = self.path("out.tar")
        self.export(["--lower", lower, "--work", m.work, m.upper, out])
        with tarfile.open(out) as t:
            links = {i.name: i.linkname for i in t.getmembers()
                     if i.islnk()}
        self.assertEqual(links, expect_links)
        img = self.path("img")
        r = lt.run_layertool(["import", out, img])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        got_m = self.mount(lt.image_layers(img) + [lower])
        got = lfstest.snapshot(got_m.path, inodes=True)
        self.assertEqual(self.link_sets(got), self.link_sets(want))
        for snap in (got, want):
            for e in snap.values():
                del e["ino"]
        self.assertEqual(got, want)
        # Without the work directory: only the upper names (the other
        # names keep the lower file).
        out2 = self.path("plain.tar")
        r = self.export(["--lower", lower, m.upper, out2])
        if without_work == "same":
            self.assertEqual(tar_entries(out2), tar_entries(out))
        else:
            self.assertNotEqual(tar_entries(out2), tar_entries(out))
        # Where the upper layer holds a name of such a link, one warning
        # says what --work would have kept.
        err = r.stderr.decode()
        if without_work == "warns":
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn("without --work", err)
        else:
            self.assertEqual(err, "")

    @staticmethod
    def link_sets(snap):
        by_ino = {}
        for path, e in snap.items():
            if e["type"] != stat.S_IFDIR:
                by_ino.setdefault(e["ino"], []).append(path)
        return sorted(sorted(v) for v in by_ino.values() if len(v) > 1)

    def test_names_never_touched(self):
        def change(mnt):
            with open(os.path.join(mnt, "a", "f"), "a") as f:
                f.write("more\n")
            os.chmod(os.path.join(mnt, "b", "x"), 0o600)  # metadata only
            os.lchown(os.path.join(mnt, "s", "m"), 7, 7)
        # The first name in walk order (sorted) carries the data, upper
        # or lower ("s/l" is a lower name); "deep" and "moved" are
        # directories the upper layer does not hold.
        self.check(change, {
            "a/g": "a/f", "deep/er/h": "a/f", "moved/i": "a/f",
            "b/y": "b/x", "s/m": "s/l", "s/n": "s/l"})

    def test_every_upper_name_removed(self):
        def change(mnt):
            with open(os.path.join(mnt, "a", "f"), "a") as f:
                f.write("more\n")
            os.unlink(os.path.join(mnt, "a", "f"))
            os.unlink(os.path.join(mnt, "deep", "er", "h"))
        # The copy lives on in the index only: its first lower name in
        # walk order carries the data.
        self.check(change, {"moved/i": "a/g"}, without_work="silent")

    def test_name_under_a_renamed_directory(self):
        def change(mnt):
            os.rename(os.path.join(mnt, "moved"),
                      os.path.join(mnt, "renamed"))
            os.chmod(os.path.join(mnt, "a", "g"), 0o640)
        self.check(change, {"a/g": "a/f", "deep/er/h": "a/f",
                            "renamed/i": "a/f"})

    def test_lower_link_across_a_renamed_directory(self):
        # No copy-up: a renamed directory is written whole, its names of
        # the lower file anew, so the names outside go too, as links.
        def change(mnt):
            os.rename(os.path.join(mnt, "moved"),
                      os.path.join(mnt, "renamed"))
        self.check(change, {"a/g": "a/f", "deep/er/h": "a/f",
                            "renamed/i": "a/f"}, without_work="same")

    def test_lower_file_replaced_with_the_same_inode_number(self):
        # After the mount, the lower names of the copied-up file are
        # removed and a new file with two names gets its inode number:
        # the entry is the old file's, and the new one's names are not
        # links of its copy (the mount does not show them as such).
        lower = self.mkdirs("lower")
        b = os.path.join(lower, "b")
        os.mkdir(b)
        with open(os.path.join(b, "x"), "w") as f:
            f.write("old\n")
        os.link(os.path.join(b, "x"), os.path.join(b, "y"))
        old_ino = os.stat(os.path.join(b, "x")).st_ino
        m = self.mount_rw([lower])
        with open(os.path.join(m.path, "b", "x"), "a") as f:
            f.write("more\n")  # a copy with its data
        m.unmount()
        os.unlink(os.path.join(b, "x"))
        os.unlink(os.path.join(b, "y"))
        tries, found = [], None
        for i in range(4000):
            p = os.path.join(b, "t%d" % i)
            with open(p, "w") as f:
                f.write("new\n")
            if os.stat(p).st_ino == old_ino:
                found = p
                break
            tries.append(p)
        for p in tries:
            os.unlink(p)
        if not found:
            self.skipTest("the lower filesystem did not reuse the inode")
        os.rename(found, os.path.join(b, "n1"))
        os.link(os.path.join(b, "n1"), os.path.join(b, "n2"))
        out = self.path("out.tar")
        self.export(["--lower", lower, "--work", m.work, m.upper, out])
        self.assertEqual(sorted(tar_names(out)), ["b", "b/x"])
        # As the mount shows it.
        m2 = self.mount([lower], m.upper, m.work)
        self.assertEqual(sorted(os.listdir(os.path.join(m2.path, "b"))),
                         ["n1", "n2", "x"])
        with open(os.path.join(m2.path, "b", "n1")) as f:
            self.assertEqual(f.read(), "new\n")

    def test_needs_the_lower_layers(self):
        # A work directory an older layerfs mounted records no layers.
        lower = self.layer("lower", self.LOWER)
        m = self.mount_rw([lower])
        os.chmod(os.path.join(m.path, "b", "x"), 0o600)
        m.unmount()
        os.unlink(os.path.join(m.work, "layers"))
        r = self.export(["--work", m.work, m.upper, self.path("o.tar")],
                        code=2)
        err = r.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("--lower", err)

    def test_lower_layers_from_the_mounts_record(self):
        # The mount records its layers in the work directory: they are
        # the default for --lower, and what one given must be.
        top = self.layer("top", {"b/.wh.y": ""})
        lower = self.layer("lower", self.LOWER)
        m = self.mount_rw([top, lower])
        with open(os.path.join(m.path, "a", "f"), "a") as f:
            f.write("more\n")
        m.unmount()
        given, recorded = self.path("given.tar"), self.path("recorded.tar")
        self.export(["--reproducible", "--lower", top + ":" + lower,
                     "--work", m.work, m.upper, given])
        self.export(["--reproducible", "--work", m.work, m.upper, recorded])
        self.assertEqual(lt.sha256_file(given), lt.sha256_file(recorded))
        self.assertIn("a/g", tar_names(recorded))
        other = self.layer("other", {})
        for args in (["--lower", lower, "--work", m.work, m.upper],
                     ["--lower", other + ":" + lower, "--work", m.work,
                      m.upper],
                     ["--work", m.work, lower]):
            r = self.export(args + [self.path("no.tar")], code=2)
            err = r.stderr.decode().strip().splitlines()
            self.assertEqual(len(err), 1, err)
            self.assertIn("last mount of", err[0])
            self.assertFalse(os.path.exists(self.path("no.tar")))


class TestAcls(ExportTestBase):
    """POSIX ACLs travel with the layer, as their system.posix_acl_*
    xattr values (what container engines apply on unpacking): ACLs of
    lower files and directories changed through the mount, ones set
    through it, ones inherited from a default ACL, and a metadata-only
    copy's ACL."""

    RW_FOR = staticmethod(lambda uid: lfstest.acl_value([
        (lfstest.ACL_USER_OBJ, 6, None), (lfstest.ACL_USER, 6, uid),
        (lfstest.ACL_GROUP_OBJ, 4, None), (lfstest.ACL_MASK, 6, None),
        (lfstest.ACL_OTHER, 0, None)]))
    INHERIT = lfstest.acl_value([
        (lfstest.ACL_USER_OBJ, 7, None), (lfstest.ACL_USER, 7, 1234),
        (lfstest.ACL_GROUP_OBJ, 5, None), (lfstest.ACL_GROUP, 7, 77),
        (lfstest.ACL_MASK, 7, None), (lfstest.ACL_OTHER, 5, None)])

    def test_acls_survive_export_and_import(self):
        low = self.layer("low", {"etc/secret": "s", "etc/plain": "p",
                                 "etc/big": "b" * 5000, "share/": None,
                                 "share/old": "old"})
        acl = lfstest.ACL_XATTRS[0]
        os.setxattr(os.path.join(low, "etc", "secret"), acl,
                    self.RW_FOR(1000))
        os.setxattr(os.path.join(low, "etc", "big"), acl, self.RW_FOR(1001))
        os.setxattr(os.path.join(low, "share"), lfstest.ACL_XATTRS[1],
                    self.INHERIT)
        m = self.mount_rw([low])
        p = lambda *a: os.path.join(m.path, *a)  # noqa: E731
        # A lower file's ACL through a metadata-only copy: chmod changes
        # its mask.
        os.chmod(p("etc", "secret"), 0o640)
        # An ACL set through the mount on a lower file, one removed.
        os.setxattr(p("etc", "plain"), acl, self.RW_FOR(2000))
        os.removexattr(p("etc", "big"), acl)
        # Inherited in a lower directory with a default ACL.
        with open(p("share", "new"), "w") as f:
            f.write("new")
        os.mkdir(p("share", "sub"))
        os.chmod(p("share", "old"), 0o600)
        want = lfstest.snapshot(m.path, xattrs=True, acls=True)
        self.assertEqual(os.getxattr(p("share", "sub"),
                                     lfstest.ACL_XATTRS[1]), self.INHERIT)
        self.assertIn(acl, os.listxattr(p("share", "new")))
        self.assertNotIn(acl, os.listxattr(p("etc", "big")))
        self.assertEqual(m.unmount(), 0)

        out = self.path("layer.tar")
        self.export(["--lower", low, "--work", m.work, m.upper, out])
        with tarfile.open(out) as t:
            carried = {mb.name: sorted(k for k in mb.pax_headers
                                       if "posix_acl" in k)
                       for mb in t.getmembers()}
        access = "SCHILY.xattr." + acl
        default = "SCHILY.xattr." + lfstest.ACL_XATTRS[1]
        self.assertEqual(carried["etc/secret"], [access])
        self.assertEqual(carried["etc/plain"], [access])
        self.assertEqual(carried["etc/big"], [])
        self.assertEqual(carried["share/new"], [access])
        self.assertEqual(carried["share/sub"], [access, default])
        self.assertEqual(carried["share"], [default])

        img = self.path("img")
        r = lt.run_layertool(["import", out, img])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stderr, b"")
        mnt = self.mount(lt.image_layers(img) + [low])
        self.assertEqual(lfstest.snapshot(mnt.path, xattrs=True, acls=True),
                         want)


class TestExportFormat(ExportTestBase):

    def upper_tree(self):
        up = self.layer("upper", {
            "x": ("whiteout",),
            ".wh.y": "",
            ".wh..wh.plnk/": None,
            "o1": ("opaque",),
            "o1/in": "in",
            "o2/.wh..wh..opq": "",
            "o2/in": "in",
            # Whiteouts in and under opaque directories hide nothing:
            # left out.
            "o1/gone": ("whiteout",),
            "o2/.wh.gone": "",
            "o2/sub/.wh.deep": "",
            "o2/sub/kept": "k",
            "d/.wh.z": "",
            "d/f": "f",
            "d/g": ("hardlink", "d/f"),
            "d/s": ("symlink", "f"),
            "d/p": ("fifo",),
            "own/file": "o",
            "own/dev": "",
        })
        f = os.path.join(up, "d", "f")
        os.setxattr(f, "user.keep", b"yes")
        os.setxattr(f, "user.layerfs.origin", b"private")
        os.setxattr(f, "trusted.overlay.origin", b"private")
        os.setxattr(f, "user.fuseoverlayfs.foo", b"private")
        # Hidden by layerfs too (one list, lib/private_xattr.c): export
        # wrote these two.
        os.setxattr(f, "trusted.layerfs.foo", b"private")
        os.setxattr(f, "trusted.fuseoverlayfs.foo", b"private")
        os.setxattr(os.path.join(up, "own", "file"),
                    "user.containers.override_stat", b"1234:5678:0600")
        os.setxattr(os.path.join(up, "own", "dev"),
                    "user.containers.override_stat", b"0:0:0620:char-1-3")
        return up

    def test_opaque_xattr_on_the_root_hides_nothing(self):
        # containers/storage sets it on a layer directory whose tar held
        # ./.wh..wh..opq; kernel overlayfs and layerfs show the layers
        # below through it.  Export wrote it as the root's opaque
        # marker, which hides them all in the image, and left the
        # root's whiteouts out as hiding nothing.
        low = self.layer("low", {"etc/a": "hi", "b": "x"})
        up = self.layer("upper", {"b": ("whiteout",), "n": "n"})
        os.setxattr(up, "trusted.overlay.opaque", b"y")
        m = self.mount([up, low])
        shown = sorted(os.listdir(m.path))
        m.unmount()
        self.assertEqual(shown, ["etc", "n"])
        out = self.path("out.tar")
        self.export(["--lower", low, up, out])
        self.assertEqual(sorted(tar_names(out)), [".wh.b", "n"])

    def test_interrupted_between_entries(self):
        # SIGINT was looked at only while file data was copied: a tree
        # of empty files exported to the end, status 0, the archive
        # published.  strace delivers the signal at the 500th lstat.
        self.require_strace()
        up = self.layer("upper", {"f%04d" % i: "" for i in range(2000)})
        out = self.path("out.tar")
        r = subprocess.run(
            ["strace", "-f", "-qq", "-o", "/dev/null", "-e",
             "trace=%fstat", "-e", "inject=%fstat:signal=INT:when=500",
             lt.LAYERTOOL, "export", up, out],
            capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 130, r.stderr.decode())
        self.assertEqual(r.stderr.decode(),
                         "layertool: cannot export '%s': interrupted\n" % up)
        self.assertEqual([n for n in os.listdir(self.tmp)
                          if n.startswith("out.tar")], [])

    def test_entries_and_order(self):
        up = self.upper_tree()
        out = self.path("out.tar")
        self.export([up, out])
        with tarfile.open(out) as t:
            members = t.getmembers()
        names = [m.name for m in members]
        self.assertEqual(names, [
            ".wh.x", ".wh.y",
            "d", "d/.wh.z", "d/f", "d/g", "d/p", "d/s",
            "o1", "o1/.wh..wh..opq", "o1/in",
            "o2", "o2/.wh..wh..opq", "o2/in", "o2/sub", "o2/sub/kept",
            "own", "own/dev", "own/file"])
        by = {m.name: m for m in members}
        self.assertTrue(by[".wh.x"].isreg() and by[".wh.x"].size == 0)
        self.assertTrue(by["d/g"].islnk())
        self.assertEqual(by["d/g"].linkname, "d/f")
        self.assertTrue(by["d/s"].issym())
        self.assertTrue(by["d/p"].isfifo())
        xattrs = {k: v for k, v in by["d/f"].pax_headers.items()
                  if k.startswith("SCHILY.xattr.")}
        self.assertEqual(xattrs, {"SCHILY.xattr.user.keep": "yes"})
        # One record per xattr: no LIBARCHIVE.xattr copy (GNU tar warns).
        self.assertEqual([k for k in by["d/f"].pax_headers
                          if k.startswith("LIBARCHIVE.")], [])
        f = by["own/file"]
        self.assertEqual((f.uid, f.gid, f.mode), (1234, 5678, 0o600))
        self.assertNotIn("SCHILY.xattr.user.containers.override_stat",
                         f.pax_headers)
        dev = by["own/dev"]
        self.assertTrue(dev.ischr())
        self.assertEqual((dev.devmajor, dev.devminor, dev.mode),
                         (1, 3, 0o620))

    def test_reproducible(self):
        a = self.upper_tree()
        b = self.path("upper2")
        subprocess.run(["cp", "-a", a, b], check=True)
        for root in (a, b):
            for dirpath, dirs, files in os.walk(root):
                for n in dirs + files:
                    os.utime(os.path.join(dirpath, n),
                             (2000000000, 2000000000 + len(root)),
                             follow_symlinks=False)
        env = dict(os.environ, SOURCE_DATE_EPOCH="1600000000")
        outs = []
        for i, root in enumerate((a, b)):
            out = self.path("r%d.tar" % i)
            r = lt.run_layertool(["export", "--reproducible", root, out],
                                 env=env)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            outs.append(out)
        self.assertEqual(lt.sha256_file(outs[0]), lt.sha256_file(outs[1]))
        with tarfile.open(outs[0]) as t:
            self.assertEqual({m.mtime for m in t.getmembers()}, {1600000000})
        plain = [self.path("p0.tar"), self.path("p1.tar")]
        self.export([a, plain[0]])
        self.export([b, plain[1]])
        self.assertNotEqual(lt.sha256_file(plain[0]),
                            lt.sha256_file(plain[1]))

    def test_subsecond_times_survive_export_and_import(self):
        # Entries that need no pax record for anything else (a plain
        # file, a directory, a symlink, a fifo, hard links) keep their
        # nanoseconds too: a commit must not round every time it writes
        # down to the second.
        up = self.layer("upper", {
            "d/": None,
            "d/plain": "p",
            "d/xattr": "x",
            "d/link": ("symlink", "plain"),
            "d/fifo": ("fifo",),
            "d/h1": "h",
            "d/h2": ("hardlink", "d/h1"),
        })
        os.setxattr(os.path.join(up, "d", "xattr"), "user.k", b"v")
        for i, name in enumerate(["plain", "xattr", "link", "fifo", "h1",
                                  ""]):
            ns = 1600000000 * 10**9 + 123456789 + i * 1000
            os.utime(os.path.join(up, "d", name), ns=(ns, ns),
                     follow_symlinks=False)
        out = self.path("out.tar")
        self.export([up, out])
        img = self.path("img")
        r = lt.run_layertool(["import", out, img])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        got = lfstest.snapshot(lt.image_layers(img)[0], times=True)
        self.assertEqual(got, lfstest.snapshot(up, times=True))

    def test_whiteout_of_a_long_name_is_named(self):
        # An overlay-format upper can white out a name of 252 to 255
        # bytes; ".wh." and such a name do not fit in one name: the
        # error names the whiteout, not just the upper directory.
        long = "n" * 253
        up = self.layer("upper", {"d/ok": "ok", "d/" + long: ("whiteout",)})
        out = self.path("out.tar")
        r = self.export([up, out], code=2)
        err = r.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("/d/nnnn", err)
        self.assertIn("too long", err)
        self.assertFalse(os.path.exists(out))

    def test_compressed_and_stdout(self):
        up = self.upper_tree()
        ref = self.path("ref.tar")
        self.export([up, ref])
        gz, zst = self.path("out.tar.gz"), self.path("out.tar.zst")
        self.export([up, gz])
        self.export([up, zst])
        with open(gz, "rb") as f:
            self.assertEqual(f.read(2), b"\x1f\x8b")
        got = subprocess.run(["zstd", "-dc", zst], capture_output=True,
                             check=True).stdout
        with open(ref, "rb") as f:
            self.assertEqual(hashlib.sha256(got).hexdigest(),
                             hashlib.sha256(f.read()).hexdigest())
        r = subprocess.run(["gzip", "-dc", gz], capture_output=True,
                           check=True)
        self.assertEqual(hashlib.sha256(r.stdout).hexdigest(),
                         lt.sha256_file(ref).split(":")[1])
        r = lt.run_layertool(["export", up, "-"])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(hashlib.sha256(r.stdout).hexdigest(),
                         lt.sha256_file(ref).split(":")[1])

    def test_sparse_files_stay_sparse(self):
        """A file's holes (SEEK_DATA/SEEK_HOLE) become a sparse entry:
        a 1 GiB file with 4 KiB of data was written out in full."""
        up = self.mkdirs("upper")
        files = {"big": ((1 << 30), [(512 << 20, b"X" * 4096)]),
                 "tail": (10 << 20, [(0, b"head")]),
                 "all-hole": (5 << 20, []),
                 "dense": (10000, [(0, b"d" * 10000)])}
        for name, (size, chunks) in files.items():
            with open(os.path.join(up, name), "wb") as f:
                f.truncate(size)
                for off, data in chunks:
                    f.seek(off)
                    f.write(data)
        big = os.path.join(up, "big")
        with open(big, "rb") as f:
            if os.lseek(f.fileno(), 0, os.SEEK_HOLE) >= (1 << 30):
                self.skipTest("this filesystem reports no holes")
        out = self.path("out.tar")
        self.export([up, out])
        self.assertLess(os.path.getsize(out), 1 << 20)
        listing = subprocess.run(["tar", "-tvf", out], check=True,
                                 capture_output=True).stdout.decode()
        self.assertIn(" 1073741824 ", listing)
        ext = self.mkdirs("extracted")
        subprocess.run(["tar", "-C", ext, "-xf", out], check=True)
        img = self.path("img")
        r = lt.run_layertool(["import", out, img])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        layer = lt.image_layers(img)[0]
        for d in (ext, layer):
            for name, (size, chunks) in files.items():
                p = os.path.join(d, name)
                self.assertEqual(lfstest.file_digest(p),
                                 lfstest.file_digest(os.path.join(up,
                                                                  name)),
                                 p)
                if name != "dense":
                    # Holes came back as holes.
                    self.assertLess(os.stat(p).st_blocks * 512, 1 << 20, p)

    def test_outputs_keep_the_users_umask(self):
        """OUT.tar, image directories and the store are the user's files:
        they take the umask (OUT.tar was 0644 whatever it said); layer
        contents keep their recorded modes exactly."""
        up = self.layer("upper", {"f": ("file", b"f", 0o644),
                                  "x": ("file", b"x", 0o4755),
                                  "d/": None})
        os.chmod(os.path.join(up, "d"), 0o775)
        umask = lambda: os.umask(0o077)  # noqa: E731
        out = self.path("out.tar")
        r = lt.run_layertool(["export", up, out], preexec_fn=umask)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        img = self.path("img")
        r = lt.run_layertool(["import", out, img], preexec_fn=umask)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        mode = lambda p: stat.S_IMODE(os.lstat(p).st_mode)  # noqa: E731
        for p in (img, os.path.join(img, "layers"),
                  self.path(".layerstore")):
            self.assertEqual(mode(p), 0o700, p)
        for p in ("image.json", "config.json"):
            self.assertEqual(mode(os.path.join(img, p)), 0o600, p)
        layer = lt.image_layers(img)[0]
        self.assertEqual(mode(os.path.join(layer, "f")), 0o644)
        self.assertEqual(mode(os.path.join(layer, "x")), 0o4755)
        self.assertEqual(mode(os.path.join(layer, "d")), 0o775)
        self.assertEqual(mode(layer), 0o755)

    def test_unreadable_upper(self):
        r = self.export([self.path("nope"), self.path("o.tar")], code=2)
        self.assertIn(b"No such file", r.stderr)
        self.assertFalse(os.path.exists(self.path("o.tar")))


if __name__ == "__main__":
    lfstest.main()
