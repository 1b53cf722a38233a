"""layertool convert: whiteout formats converted in place.  There and back
is the identity; a converted layer reads the same through layerfs; a run
killed half way can be run again."""

import os
import signal
import stat
import subprocess
import time

import lfstest
import layertool_util as lt

# Every kind of marker, in the overlay format, nested too.
OVERLAY_TREE = {
    "gone": ("whiteout",),
    "etc/passwd-": ("whiteout",),
    "etc/keep": "keep",
    "opq": ("opaque",),
    "opq/new": "new",
    "opq/inner": ("opaque",),
    "opq/inner/x": ("whiteout",),
    "lib/deep/er/wh": ("whiteout",),
    "lib/deep/er/file": ("file", b"data", 0o600),
    "lnk": ("symlink", "etc/keep"),
}

DOTWH_TREE = {
    ".wh.gone": "",
    "etc/.wh.passwd-": "",
    "etc/keep": "keep",
    "opq/.wh..wh..opq": "",
    "opq/new": "new",
    "opq/inner/.wh..wh..opq": "",
    "opq/inner/.wh.x": "",
    "lib/deep/er/.wh.wh": "",
    "lib/deep/er/file": ("file", b"data", 0o600),
    "lnk": ("symlink", "etc/keep"),
}

# What the markers hide.
LOWER = {
    "gone": "gone",
    "etc/passwd-": "old",
    "opq/hidden": "hidden",
    "opq/inner/x": "x",
    "lib/deep/er/wh": "wh",
    "lib/deep/er/shown": "shown",
}


def full_snapshot(root):
    """Everything convert could change: types, modes, owners, devices,
    content, every xattr (trusted.* included) and times (not of the
    root, whose entries are what changes)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            e = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
                 "mtime": st.st_mtime_ns}
            if stat.S_ISCHR(st.st_mode):
                e["rdev"] = st.st_rdev
            if stat.S_ISREG(st.st_mode):
                e["sha"] = lfstest.file_digest(p)
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            else:
                e["xattrs"] = {n: os.getxattr(p, n) for n in
                               sorted(os.listxattr(p))}
            out[os.path.relpath(p, root)] = e
    return out


def settle_times(root):
    """Fixed, distinct times on everything, so a lost time shows."""
    t = 1500000000
    for dirpath, dirs, files in os.walk(root, topdown=False):
        for name in sorted(dirs + files):
            t += 7
            os.utime(os.path.join(dirpath, name), (t, t),
                     follow_symlinks=False)


class TestConvert(lfstest.LayerfsTestCase):

    def setUp(self):
        super().setUp()
        self.require_root()  # 0/0 devices owned by others, trusted.*

    def convert(self, to, d, code=0):
        r = lt.run_layertool(["convert", "--to", to, d])
        self.assertEqual(r.returncode, code, r.stderr.decode())
        return r

    def odd_owner(self, d):
        # A whiteout with its own owner and mode must keep them.
        for rel in ("gone", ".wh.gone"):
            p = os.path.join(d, rel)
            if os.path.lexists(p):
                os.chown(p, 123, 456, follow_symlinks=False)

    def test_overlay_to_dotwh_and_back(self):
        d = self.layer("layer", OVERLAY_TREE)
        self.odd_owner(d)
        settle_times(d)
        before = full_snapshot(d)
        low = self.layer("lower", LOWER)
        view = lfstest.snapshot(self.mount([d, low]).path)

        r = self.convert("dotwh", d)
        self.assertIn(b"4 whiteouts, 2 opaque directories", r.stdout)
        mid = full_snapshot(d)
        for rel, e in mid.items():
            self.assertFalse(stat.S_ISCHR(e["mode"]), rel)
            self.assertNotIn("trusted.overlay.opaque", e.get("xattrs", {}))
        self.assertIn(".wh.gone", mid)
        self.assertEqual((mid[".wh.gone"]["uid"], mid[".wh.gone"]["gid"]),
                         (123, 456))
        self.assertIn("opq/inner/.wh..wh..opq", mid)
        self.assertEqual(mid["etc"]["mtime"], before["etc"]["mtime"])
        self.assertEqual(lfstest.snapshot(self.mount([d, low]).path), view)

        self.convert("overlay", d)
        self.assertEqual(full_snapshot(d), before)

    def test_dotwh_to_overlay_and_back(self):
        d = self.layer("layer", DOTWH_TREE)
        self.odd_owner(d)
        for rel in ("opq/.wh..wh..opq", "opq/inner/.wh..wh..opq"):
            os.chmod(os.path.join(d, rel), 0o644)
        settle_times(d)
        before = full_snapshot(d)
        low = self.layer("lower", LOWER)
        view = lfstest.snapshot(self.mount([d, low]).path)

        self.convert("overlay", d)
        mid = full_snapshot(d)
        self.assertTrue(stat.S_ISCHR(mid["gone"]["mode"]))
        self.assertEqual(mid["gone"]["rdev"], 0)
        self.assertEqual(mid["opq"]["xattrs"],
                         {"trusted.overlay.opaque": b"y"})
        self.assertFalse([r for r in mid if ".wh." in r], mid.keys())
        self.assertEqual(lfstest.snapshot(self.mount([d, low]).path), view)

        self.convert("dotwh", d)
        after = full_snapshot(d)
        # The opaque markers come back with the directory's times.
        for rel in ("opq/.wh..wh..opq", "opq/inner/.wh..wh..opq"):
            after[rel]["mtime"] = before[rel]["mtime"]
        self.assertEqual(after, before)

    def test_root_opaque_marker_converted_with_a_warning(self):
        # On a layer's root the two forms mean different things (the
        # file hides the layers below, the xattr nothing, as for kernel
        # overlayfs): converted as any marker, with one warning line.
        d = self.layer("rootopq", {"f": "f"})
        with open(os.path.join(d, ".wh..wh..opq"), "w"):
            pass
        r = self.convert("overlay", d)
        self.assertEqual(os.getxattr(d, "trusted.overlay.opaque"), b"y")
        err = r.stderr.decode().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("root's opaque marker", err[0])
        r = self.convert("dotwh", d)
        self.assertTrue(os.path.isfile(os.path.join(d, ".wh..wh..opq")))
        self.assertEqual(len(r.stderr.decode().strip().splitlines()), 1)
        # A marker below the root converts without a word.
        os.unlink(os.path.join(d, ".wh..wh..opq"))
        os.makedirs(os.path.join(d, "sub"))
        with open(os.path.join(d, "sub", ".wh..wh..opq"), "w"):
            pass
        self.assertEqual(self.convert("overlay", d).stderr, b"")

    def test_half_done_state_is_finished_by_a_rerun(self):
        d = self.layer("layer", OVERLAY_TREE)
        settle_times(d)
        before = full_snapshot(d)
        # What a run killed between its two steps leaves: the new marker
        # made, the old one still there.
        lfstest.write_tree(d, {".wh.gone": "", "opq/.wh..wh..opq": ""})
        low = self.layer("lower", LOWER)
        view = lfstest.snapshot(self.mount([d, low]).path)
        self.convert("dotwh", d)
        self.assertEqual(lfstest.snapshot(self.mount([d, low]).path), view)
        self.convert("overlay", d)
        after = full_snapshot(d)
        for rel in ("", "opq"):
            if rel in after:
                after[rel]["mtime"] = before[rel]["mtime"]
        self.assertEqual(after, before)

    def test_killed_run_can_be_run_again(self):
        d = self.mkdirs("big")
        spec = {}
        for i in range(40):
            spec["d%02d/" % i] = None
            for j in range(100):
                spec["d%02d/w%03d" % (i, j)] = ("whiteout",)
        lfstest.write_tree(d, spec)
        ref = self.path("ref")
        subprocess.run(["cp", "-a", d, ref], check=True)
        self.convert("dotwh", ref)
        want = full_snapshot(ref)

        p = subprocess.Popen([lt.LAYERTOOL, "convert", "--to", "dotwh", d],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline and p.poll() is None:
            if os.path.exists(os.path.join(d, "d00", ".wh.w050")):
                break
            time.sleep(0.0005)
        if p.poll() is not None:
            self.skipTest("convert finished before it could be killed")
        p.send_signal(signal.SIGKILL)
        p.wait()
        if full_snapshot(d) == want:
            self.skipTest("convert finished before the kill landed")
        self.convert("dotwh", d)
        self.assertEqual(full_snapshot(d), want)

    def test_kernel_xwhiteouts_to_dotwh(self):
        """Kernel 6.7+ whiteouts kept as empty files with an
        overlay.whiteout xattr (in a directory marked opaque=x)."""
        d = self.layer("layer", {"xw/gone": "", "xw/kept": "kept"})
        os.setxattr(os.path.join(d, "xw"), "trusted.overlay.opaque", b"x")
        os.setxattr(os.path.join(d, "xw", "gone"),
                    "trusted.overlay.whiteout", b"")
        low = self.layer("lower", {"xw/gone": "below", "xw/other": "o"})
        self.convert("dotwh", d)
        self.assertEqual(sorted(os.listdir(os.path.join(d, "xw"))),
                         [".wh.gone", "kept"])
        # "x" is not opaque: the lower directory still merges.
        m = self.mount([d, low])
        self.assertEqual(sorted(os.listdir(os.path.join(m.path, "xw"))),
                         ["kept", "other"])

    def test_marker_name_in_the_way_is_left_alone(self):
        """A `.wh.NAME` that is no whiteout file this command could have
        made (a symlink to a file outside the layer, a hard link of a
        file of the layer, a file with data) stops the conversion of the
        whiteout NAME with one line: before, the whiteout's mode and
        owner were given to the symlink's target (set-id bits included)
        or to the other file."""
        victim = self.path("victim")
        with open(victim, "w") as f:
            f.write("victim\n")
        os.chmod(victim, 0o755)
        for kind in ("symlink", "hardlink", "data"):
            with self.subTest(kind=kind):
                d = self.layer("layer-" + kind, {"foo": ("whiteout",),
                                                 "other": "other"})
                foo = os.path.join(d, "foo")
                os.chown(foo, 123, 456, follow_symlinks=False)
                os.chmod(foo, 0o6777)
                wh = os.path.join(d, ".wh.foo")
                if kind == "symlink":
                    os.symlink(victim, wh)
                elif kind == "hardlink":
                    os.link(os.path.join(d, "other"), wh)
                else:
                    with open(wh, "w") as f:
                        f.write("data")
                before = full_snapshot(d)
                victim_before = os.stat(victim)
                r = self.convert("dotwh", d, code=2)
                err = r.stderr.decode()
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("/.wh.foo", err)
                self.assertIn("refusing", err)
                self.assertEqual(full_snapshot(d), before)
                st = os.stat(victim)
                self.assertEqual((st.st_mode, st.st_uid, st.st_gid),
                                 (victim_before.st_mode,
                                  victim_before.st_uid,
                                  victim_before.st_gid))

    def test_opaque_marker_name_in_the_way_is_left_alone(self):
        d = self.layer("layer", {"opq/new": "new"})
        opq = os.path.join(d, "opq")
        os.setxattr(opq, "trusted.overlay.opaque", b"y")
        os.symlink(self.path("victim"), os.path.join(opq, ".wh..wh..opq"))
        r = self.convert("dotwh", d, code=2)
        err = r.stderr.decode()
        self.assertIn("/opq/.wh..wh..opq' is a symlink", err)
        self.assertEqual(os.getxattr(opq, "trusted.overlay.opaque"), b"y")

    def test_markers_that_are_no_files_stop_the_overlay_conversion(self):
        """To overlay too: a `.wh.NAME` that is no empty file, or a
        `.wh..wh..opq` that is no file, stops the conversion with one
        line and exit status 2, that entry and its directory as they
        were.  Before, a `.wh.NAME` symlink or directory was skipped
        with a warning, one with data became a whiteout (its data
        dropped), a symlink `.wh..wh..opq` silently made its directory
        opaque, and a directory one set the xattr and then failed with
        status 3.  (An empty one with other names converts: see
        test_whiteouts_layerfs_made_convert_to_overlay.)"""
        victim = self.path("victim")
        with open(victim, "w") as f:
            f.write("victim\n")
        cases = {
            "wh-symlink": (".wh.foo", "a symlink"),
            "wh-dir": (".wh.foo", "a directory"),
            "wh-data": (".wh.foo", "a file with data"),
            # A link of a file with data: the data stops it, not the
            # other name.
            "wh-hardlink": (".wh.foo", "a file with data"),
            "opq-symlink": (".wh..wh..opq", "a symlink"),
            "opq-dir": (".wh..wh..opq", "a directory"),
        }
        for what, (marker, kind) in cases.items():
            with self.subTest(what=what):
                d = self.layer("layer-" + what, {"sub/other": "other"})
                sub = os.path.join(d, "sub")
                m = os.path.join(sub, marker)
                if what.endswith("symlink"):
                    os.symlink(victim, m)
                elif what.endswith("dir"):
                    os.mkdir(m)
                elif what == "wh-data":
                    with open(m, "w") as f:
                        f.write("data")
                else:
                    os.link(os.path.join(sub, "other"), m)
                settle_times(d)
                before = full_snapshot(d)
                r = self.convert("overlay", d, code=2)
                err = r.stderr.decode()
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("'/sub/%s' is %s" % (marker, kind), err)
                self.assertIn("refusing", err)
                self.assertEqual(full_snapshot(d), before)
                self.assertEqual(os.listxattr(sub), [])
        # An empty .wh. file of one link still converts.
        d = self.layer("layer-ok", {"sub/.wh.foo": "",
                                    "sub/.wh..wh..opq": ""})
        self.convert("overlay", d)
        st = os.lstat(os.path.join(d, "sub", "foo"))
        self.assertTrue(stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
        self.assertEqual(os.getxattr(os.path.join(d, "sub"),
                                     "trusted.overlay.opaque"), b"y")

    def test_xwhiteouts_only_where_layerfs_takes_them(self):
        """An empty file with an overlay.whiteout xattr is a whiteout to
        layerfs (and the kernel) only in a directory whose opaque xattr
        of the same namespace is "x"; convert took every such file for
        one, and so changed what the mount showed."""
        d = self.layer("layer", {"plain/w": "", "ydir/w": "",
                                 "mixed/w": "", "ok/w": "", "ok/kept": "k",
                                 "userx/w": ""})
        p = lambda *a: os.path.join(d, *a)  # noqa: E731
        os.setxattr(p("ydir"), "trusted.overlay.opaque", b"y")
        os.setxattr(p("mixed"), "user.overlay.opaque", b"x")
        os.setxattr(p("ok"), "trusted.overlay.opaque", b"x")
        os.setxattr(p("userx"), "user.overlay.opaque", b"x")
        for sub_dir in ("plain", "ydir", "mixed", "ok"):
            os.setxattr(p(sub_dir, "w"), "trusted.overlay.whiteout", b"")
        os.setxattr(p("userx", "w"), "user.overlay.whiteout", b"")
        low = self.layer("lower", {"%s/w" % n: "below" for n in
                                   ("plain", "ydir", "mixed", "ok",
                                    "userx")})
        m = self.mount([d, low])
        before = lfstest.snapshot(m.path)
        m.unmount()
        self.convert("dotwh", d)
        for kept in ("plain", "ydir", "mixed"):
            names = os.listdir(p(kept))
            self.assertIn("w", names, kept)
            self.assertNotIn(".wh.w", names, kept)
        self.assertEqual(sorted(os.listdir(p("ok"))), [".wh.w", "kept"])
        self.assertEqual(os.listdir(p("userx")), [".wh.w"])
        m = self.mount([d, low])
        self.assertEqual(lfstest.snapshot(m.path), before)

    def test_whiteouts_layerfs_made_convert_to_overlay(self):
        """layerfs links every `.wh.` whiteout it makes to one inode
        (work/whiteout.dotwh).  Going to overlay a `.wh.` file is only
        removed, never written through, so convert takes one with other
        names; it refused every upper directory layerfs had written
        (exit status 2, "a file with other names")."""
        low = self.layer("lower", {"a": "a", "b": "b", "d/c": "c",
                                   "keep": "keep"})
        m = self.mount_rw([low])
        for rel in ("a", "b", "d/c"):
            os.unlink(os.path.join(m.path, rel))
        m.unmount()
        up = m.upper
        st = os.lstat(os.path.join(up, ".wh.a"))
        if not (stat.S_ISREG(st.st_mode) and st.st_nlink > 1):
            self.skipTest("this mount made no shared .wh. whiteouts")
        self.assertEqual(lt.run_layertool(["check", up, low]).returncode, 0)
        shared = os.path.join(m.work, "work", "whiteout.dotwh")
        shared_before = os.lstat(shared)
        view = lfstest.snapshot(self.mount([up, low]).path)

        r = self.convert("overlay", up)
        self.assertIn(b"3 whiteouts", r.stdout)
        for rel in ("a", "b", "d/c"):
            st = os.lstat(os.path.join(up, rel))
            self.assertTrue(stat.S_ISCHR(st.st_mode) and st.st_rdev == 0,
                            rel)
        self.assertFalse([n for n in os.listdir(up) if ".wh." in n])
        # The shared inode only lost names: nothing written through it.
        st = os.lstat(shared)
        self.assertEqual((st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns,
                          st.st_size, st.st_nlink),
                         (shared_before.st_mode, shared_before.st_uid,
                          shared_before.st_gid, shared_before.st_mtime_ns,
                          0, 1))
        self.assertEqual(lfstest.snapshot(self.mount([up, low]).path), view)

        # Back to dotwh: each whiteout a file of its own.
        self.convert("dotwh", up)
        for rel in (".wh.a", ".wh.b", "d/.wh.c"):
            self.assertEqual(os.lstat(os.path.join(up, rel)).st_nlink, 1)

    def test_shared_wh_file_is_not_written_through_to_dotwh(self):
        # To dotwh, a `.wh.NAME` already there is given the whiteout's
        # owner, mode and times: one with other names (layerfs's shared
        # whiteout inode) would pass them on, so it still stops the run.
        d = self.layer("layer", {"foo": ("whiteout",), "other": ""})
        os.link(os.path.join(d, "other"), os.path.join(d, ".wh.foo"))
        os.chmod(os.path.join(d, "foo"), 0o4755)
        before = full_snapshot(d)
        r = self.convert("dotwh", d, code=2)
        self.assertIn("'/.wh.foo' is a file with other names",
                      r.stderr.decode())
        self.assertEqual(full_snapshot(d), before)

    def test_opaque_directory_to_dotwh_as_a_user(self):
        """Without privilege, removing a trusted.* xattr is refused
        (EPERM) even where there is none: convert removed every opaque
        xattr name it knows, and so stopped at the first opaque
        directory a user converted (exit status 3).  It removes only
        those the directory has."""
        self.require_tool("setpriv")
        d = self.layer("layer", {"d/g": ("whiteout",), "d/keep": "k"})
        os.setxattr(os.path.join(d, "d"), "user.overlay.opaque", b"y")
        for dirpath, dirs, files in os.walk(d):
            for n in [dirpath] + [os.path.join(dirpath, f) for f in files]:
                os.lchown(n, 65534, 65534)
        settle_times(d)
        mtime = os.lstat(os.path.join(d, "d")).st_mtime_ns
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                            "--clear-groups", lt.LAYERTOOL, "convert",
                            "--to", "dotwh", d], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b"1 whiteouts, 1 opaque directories", r.stdout)
        self.assertEqual(sorted(os.listdir(os.path.join(d, "d"))),
                         [".wh..wh..opq", ".wh.g", "keep"])
        self.assertEqual(os.listxattr(os.path.join(d, "d")), [])
        self.assertEqual(os.lstat(os.path.join(d, "d")).st_mtime_ns, mtime)

    def test_whiteout_name_too_long_for_dotwh_is_refused_first(self):
        """A whiteout whose name leaves no room for the `.wh.` prefix
        (252 bytes or more) has no dotwh form.  Found half way, it
        stopped the run with exit status 3, what came before converted,
        and every run again there; it is now found before anything is
        changed, with one line naming it and exit status 2."""
        long_name = "x" * 252
        d = self.layer("layer", {"a/w": ("whiteout",),
                                 "z/" + long_name: ("whiteout",),
                                 "z/ok": ("whiteout",)})
        os.setxattr(os.path.join(d, "a"), "trusted.overlay.opaque", b"y")
        settle_times(d)
        before = full_snapshot(d)
        r = self.convert("dotwh", d, code=2)
        err = r.stderr.decode().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("'/z/%s'" % long_name, err[0])
        self.assertEqual(full_snapshot(d), before)
        # A name of 251 bytes has room, and a long file that is no
        # whiteout needs none.
        os.unlink(os.path.join(d, "z", long_name))
        with open(os.path.join(d, "z", long_name), "w"):
            pass
        os.mknod(os.path.join(d, "z", "y" * 251), stat.S_IFCHR,
                 os.makedev(0, 0))
        self.convert("dotwh", d)
        self.assertIn(".wh." + "y" * 251, os.listdir(os.path.join(d, "z")))

    def test_opaque_marker_of_a_resumed_run_gets_the_saved_times(self):
        # A run killed inside a directory left its times changed and the
        # original ones saved in an xattr: the rerun gives the
        # directory, and the `.wh..wh..opq` it makes, the saved ones,
        # not those the killed run left.
        d = self.layer("layer", {"opq/x": ("whiteout",), "opq/f": "f"})
        opq = os.path.join(d, "opq")
        os.setxattr(opq, "trusted.overlay.opaque", b"y")
        os.setxattr(opq, "user.layertool.convert-times",
                    b"1400000000.000000000 1400000001.000000000")
        os.utime(opq, (1600000000, 1600000000))
        self.convert("dotwh", d)
        marker = os.lstat(os.path.join(opq, ".wh..wh..opq"))
        self.assertEqual((marker.st_atime_ns, marker.st_mtime_ns),
                         (1400000000 * 10**9, 1400000001 * 10**9))
        st = os.lstat(opq)
        self.assertEqual((st.st_atime_ns, st.st_mtime_ns),
                         (1400000000 * 10**9, 1400000001 * 10**9))
        self.assertNotIn("user.layertool.convert-times", os.listxattr(opq))

    def test_bad_usage_and_missing_layer(self):
        r = lt.run_layertool(["convert", "--to", "aufs2", self.tmp])
        self.assertEqual(r.returncode, 1)
        r = lt.run_layertool(["convert", "--to", "dotwh",
                              self.path("missing")])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"No such file", r.stderr)

    def test_unreadable_directory_is_bad_input(self):
        """A directory of the layer its user cannot open stops the run
        with exit status 2, the input's, naming the directory (it gave
        3, as if the output could not be written)."""
        self.require_tool("setpriv")
        for to, tree in (("overlay", {"d/.wh.g": "", "d/sub/f": "x"}),
                         ("dotwh", {"d/g": ("whiteout",), "d/sub/f": "x"})):
            d = self.layer("layer-" + to, tree)
            for dirpath, dirs, files in os.walk(d):
                for n in [dirpath] + [os.path.join(dirpath, f)
                                      for f in files]:
                    os.lchown(n, 65534, 65534)
            os.chmod(os.path.join(d, "d", "sub"), 0)
            r = subprocess.run(["setpriv", "--reuid=65534",
                                "--regid=65534", "--clear-groups",
                                lt.LAYERTOOL, "convert", "--to", to, d],
                               capture_output=True)
            self.assertEqual(r.returncode, 2, (to, r.stderr.decode()))
            self.assertIn(b"'/d/sub': cannot open: Permission denied",
                          r.stderr)


if __name__ == "__main__":
    lfstest.main()
