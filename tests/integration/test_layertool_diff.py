"""layertool diff: the changes made through a real layerfs mount, as A/C/D
lines with sizes and as JSON."""

import json
import os
import shutil
import tarfile

import lfstest
import layertool_util as lt

LOWER = {
    "etc/passwd": "root\n",
    "etc/group": "root\n",
    "usr/bin/tool": "t" * 1000,
    "usr/bin/gone": "g" * 10,
    "var/cache/a": "a",
    "var/cache/b": "bb",
    "src/dir/x": "x",
    "src/dir/y": "yy",
}


class TestDiff(lfstest.LayerfsTestCase):

    def setUp(self):
        super().setUp()
        self.require_root()

    def diff(self, args):
        """layertool diff ARGS, as (kind, size, path) in its order."""
        r = lt.run_layertool(["diff"] + list(args))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return [(k, int(n), p) for k, n, p in
                (line.split(None, 2)
                 for line in r.stdout.decode().splitlines())]

    def changed_upper(self, opts=()):
        low = self.layer("low", LOWER)
        m = self.mount_rw([low], opts=opts)
        p = lambda *a: os.path.join(m.path, *a)  # noqa: E731
        with open(p("etc", "passwd"), "a") as f:
            f.write("user\n")
        os.chmod(p("etc", "group"), 0o600)
        os.unlink(p("usr", "bin", "gone"))
        shutil.rmtree(p("var", "cache"))
        os.makedirs(p("var", "cache"))
        with open(p("var", "cache", "a"), "w") as f:
            f.write("new a")
        os.makedirs(p("home", "u"))
        with open(p("home", "u", "notes"), "w") as f:
            f.write("12345")
        os.rename(p("src", "dir"), p("moved"))
        m.unmount()
        return m.upper, low

    def expected(self):
        return [
            ("A", 0, "/home"),
            ("A", 0, "/home/u"),
            ("A", 5, "/home/u/notes"),
            ("A", 0, "/moved"),
            ("A", 1, "/moved/x"),
            ("A", 2, "/moved/y"),
            ("C", 0, "/etc"),
            ("C", 5, "/etc/group"),
            ("C", 10, "/etc/passwd"),
            ("C", 0, "/src"),
            ("D", 0, "/src/dir"),
            ("C", 0, "/usr"),
            ("C", 0, "/usr/bin"),
            ("D", 10, "/usr/bin/gone"),
            ("C", 0, "/var"),
            ("C", 0, "/var/cache"),
            ("C", 5, "/var/cache/a"),
            ("D", 2, "/var/cache/b"),
        ]

    def check_diff(self, upper, low):
        got = self.diff([upper, low])
        self.assertEqual(sorted(got, key=lambda c: c[2]),
                         sorted(self.expected(), key=lambda c: c[2]))
        self.assertEqual([c[2] for c in got], sorted(c[2] for c in got))
        r = lt.run_layertool(["diff", "--json", upper, low])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        doc = json.loads(r.stdout)
        self.assertEqual([(c["kind"], c["size"], c["path"])
                          for c in doc["changes"]], got)
        self.assertEqual((doc["added"], doc["changed"], doc["deleted"]),
                         (6, 9, 3))
        types = {c["path"]: c["type"] for c in doc["changes"]}
        self.assertEqual(types["/home"], "directory")
        self.assertEqual(types["/home/u/notes"], "file")

    def test_dotwh_upper(self):
        self.check_diff(*self.changed_upper())

    def test_overlay_whiteout_upper(self):
        self.check_diff(*self.changed_upper(("whiteout=overlay",)))

    def test_opaque_marks_on_the_upper_root(self):
        # As layerfs reads a layer's root: the opaque xattr there hides
        # nothing (kernel overlayfs ignores it, containers/storage sets
        # it); the .wh..wh..opq file there hides the layers below (an
        # OCI layer's ./.wh..wh..opq).  diff took the xattr for opaque
        # and listed every lower name as deleted.
        low = self.layer("rootlow", {"old": "o"})
        up = self.layer("rootup", {"new": "n"})
        os.setxattr(up, "trusted.overlay.opaque", b"y")
        view = sorted(os.listdir(self.mount([up, low]).path))
        self.assertEqual(view, ["new", "old"])
        self.assertEqual(self.diff([up, low]), [("A", 1, "/new")])
        os.removexattr(up, "trusted.overlay.opaque")
        with open(os.path.join(up, ".wh..wh..opq"), "w"):
            pass
        self.assertEqual(sorted(os.listdir(self.mount([up, low]).path)),
                         ["new"])
        self.assertEqual(self.diff([up, low]),
                         [("A", 1, "/new"), ("D", 1, "/old")])

    def test_hard_link_changed_through_another_name(self):
        # The mount shows every name of a lower hard link changed once
        # one name was (its index); the upper layer holds that one only.
        low = self.layer("low-hl", {"a/f": "data\n", "b/g": ("hardlink",
                                                              "a/f")})
        m = self.mount_rw([low])
        with open(os.path.join(m.path, "a", "f"), "a") as f:
            f.write("more\n")
        self.assertEqual(os.stat(os.path.join(m.path, "b", "g")).st_size, 10)
        m.unmount()
        plain = [("C", 0, "/a"), ("C", 10, "/a/f")]
        for args, want in (([], plain),
                           (["--work", m.work], plain + [("C", 10, "/b/g")])):
            self.assertEqual(self.diff(args + [m.upper, low]), want)

    def test_directory_renamed_inside_a_renamed_one(self):
        # Its content comes through its own redirect: every name listed.
        low = self.layer("low-nest", {"src/dir/sub/x": "x",
                                      "src/dir/y": "yy"})
        m = self.mount_rw([low])
        os.rename(os.path.join(m.path, "src", "dir"),
                  os.path.join(m.path, "moved"))
        os.rename(os.path.join(m.path, "moved", "sub"),
                  os.path.join(m.path, "moved", "sub2"))
        m.unmount()
        self.assertEqual(self.diff([m.upper, low]), [
            ("A", 0, "/moved"), ("A", 0, "/moved/sub2"),
            ("A", 1, "/moved/sub2/x"), ("A", 2, "/moved/y"),
            ("C", 0, "/src"), ("D", 0, "/src/dir")])

    def test_directory_renamed_over_a_lower_one(self):
        # The lower directory was emptied, then replaced by the rename:
        # what it held is deleted, what the renamed one shows added.
        low = self.layer("low-over", {"dst/a": "a", "dst/d": "d",
                                      "src/x": "x"})
        m = self.mount_rw([low])
        os.unlink(os.path.join(m.path, "dst", "a"))
        os.unlink(os.path.join(m.path, "dst", "d"))
        os.rename(os.path.join(m.path, "src"), os.path.join(m.path, "dst"))
        m.unmount()
        self.assertEqual(self.diff([m.upper, low]), [
            ("C", 0, "/dst"), ("D", 1, "/dst/a"), ("D", 1, "/dst/d"),
            ("A", 1, "/dst/x"), ("D", 0, "/src")])

    def test_kernel_xwhiteouts_in_a_lower_layer(self):
        # Linux 6.7's xwhiteouts: in a lower directory whose opaque
        # xattr is "x", an empty file with an overlay.whiteout xattr
        # hides its name below, for layerfs as for the kernel.  diff and
        # export took it for a file: a renamed directory gained it, and
        # a file made over it was "changed" rather than added.
        l1 = self.layer("xl1", {"d/f": "", "d/h": ""})
        l2 = self.layer("xl2", {"d/f": "old f", "d/g": "g", "d/h": "old h"})
        os.setxattr(os.path.join(l1, "d"), "trusted.overlay.opaque", b"x")
        os.setxattr(os.path.join(l1, "d", "f"), "trusted.overlay.whiteout",
                    b"")
        # A rename of the directory: its content comes from the layers.
        m = self.mount_rw([l1, l2])
        self.assertEqual(sorted(os.listdir(os.path.join(m.path, "d"))),
                         ["g", "h"])
        os.rename(os.path.join(m.path, "d"), os.path.join(m.path, "e"))
        m.unmount()
        self.assertEqual(self.diff([m.upper, l1, l2]), [
            ("D", 0, "/d"), ("A", 0, "/e"), ("A", 1, "/e/g"),
            ("A", 0, "/e/h")])
        out = self.path("x.tar")
        r = lt.run_layertool(["export", "--lower", l1 + ":" + l2, m.upper,
                              out])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        with tarfile.open(out) as t:
            self.assertEqual(
                sorted(n for n in t.getnames() if n.startswith("e/")),
                ["e/.wh..wh..opq", "e/g", "e/h"])
        # A file made over the whiteout is new.
        m = self.mount_rw([l1, l2], name="rw2")
        with open(os.path.join(m.path, "d", "f"), "w") as f:
            f.write("new")
        m.unmount()
        self.assertEqual(self.diff([m.upper, l1, l2]),
                         [("C", 0, "/d"), ("A", 3, "/d/f")])

    def test_usage(self):
        r = lt.run_layertool(["diff", self.tmp])
        self.assertEqual(r.returncode, 1)
        r = lt.run_layertool(["diff", self.tmp, self.path("missing")])
        self.assertEqual(r.returncode, 2)

class TestUnreadable(lfstest.LayerfsTestCase):
    """A directory the caller cannot read stops export and diff with a
    line that names it (it named only the top of the export)."""

    def setUp(self):
        super().setUp()
        self.require_root()
        self.top = self.mkdirs("unreadable")
        os.chown(self.top, 4242, 4242)
        os.chmod(os.path.dirname(self.top), 0o755)

    def tree(self, name, files):
        root = os.path.join(self.top, name)
        for rel, data in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)),
                        exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(data)
        for d, _, fs in os.walk(root):
            os.chown(d, 4242, 4242)
            for f in fs:
                os.chown(os.path.join(d, f), 4242, 4242)
        return root

    def as_user(self, args):
        return lt.run_layertool(args, user=4242, group=4242,
                                extra_groups=[], cwd=self.top)

    def refused(self, args, status, *words):
        r = self.as_user(args)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, status, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        for w in words:
            self.assertIn(w, err)

    def test_export_and_diff_name_the_directory(self):
        up = self.tree("up", {"a/sec/f": "x", "a/g": "y"})
        low = self.tree("low", {"b/h": "h", "a/l": "l"})
        os.chmod(os.path.join(up, "a", "sec"), 0)
        out = os.path.join(self.top, "o.tar")
        self.refused(["export", up, out], 2, "'/a/sec'",
                     "Permission denied")
        self.assertFalse(os.path.exists(out))
        self.refused(["export", "--lower", low, up, out], 2, "'/a/sec'",
                     "Permission denied")
        self.refused(["diff", up, low], 2, "'/a/sec'", "Permission denied")
        # A lower directory that cannot be read, under a changed one.
        os.chmod(os.path.join(up, "a", "sec"), 0o755)
        os.chmod(os.path.join(low, "a"), 0)
        self.refused(["diff", up, low], 2, "'/a'", "Permission denied")


if __name__ == "__main__":
    lfstest.main()
